//! Cosmos' only way to run anything: Marathon's HTTP API, as a
//! third-party client uses it. Apps (`/v2/apps`), pods (`/v2/pods`, a
//! rendered template with `containers`) and groups (`/v2/groups`, a
//! template with `apps`/`groups`); installations are the apps and pods
//! labelled `DCOS_PACKAGE_NAME` (a group's apps all carry the labels and
//! `DCOS_PACKAGE_GROUP`, and count as one installation), so the list is
//! always what Marathon runs.
//!
//! Owns the requests and turning Marathon's answers into
//! [`MarathonError`]s; not what a package is.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::render::labels;

/// What Marathon answered when it did not do what was asked.
#[derive(Debug, Clone, thiserror::Error)]
pub enum MarathonError {
    /// No Marathon answered.
    #[error("Marathon is unavailable: {0}")]
    Unavailable(String),
    /// An app or pod with that id exists.
    #[error("Package is already installed")]
    AlreadyExists,
    /// No app or pod with that id.
    #[error("Unable to locate service with marathon appId: '{0}'")]
    NotFound(String),
    /// Marathon refused the request (its message and details).
    #[error("{message}")]
    Refused {
        /// Marathon's status.
        status: u16,
        /// Its message.
        message: String,
        /// Its `details` (422 validation errors), if any.
        details: Option<Value>,
    },
}

/// Whether a run spec is an app or a pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `/v2/apps`.
    App,
    /// `/v2/pods`.
    Pod,
    /// `/v2/groups`.
    Group,
}

impl Kind {
    /// What a rendered template is: a pod has `containers`, a group
    /// `apps` or `groups` and no command of its own.
    pub fn of(spec: &Map<String, Value>) -> Kind {
        if spec.contains_key("containers") {
            Kind::Pod
        } else if (spec.contains_key("apps") || spec.contains_key("groups"))
            && !["cmd", "args", "container"]
                .iter()
                .any(|k| spec.contains_key(*k))
        {
            Kind::Group
        } else {
            Kind::App
        }
    }

    fn path(self) -> &'static str {
        match self {
            Kind::App => "/v2/apps",
            Kind::Pod => "/v2/pods",
            Kind::Group => "/v2/groups",
        }
    }
}

/// An installed package: an app or pod with the package labels.
#[derive(Debug, Clone)]
pub struct Installed {
    /// The app or pod id (`/kafka`).
    pub id: String,
    /// App or pod.
    pub kind: Kind,
    /// Its labels.
    pub labels: Map<String, Value>,
}

impl Installed {
    /// A label's value.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).and_then(Value::as_str)
    }
}

/// A Marathon client over one or more Marathon URLs (any of them: a
/// standby proxies to the leader).
#[derive(Debug, Clone)]
pub struct Marathon {
    urls: Vec<String>,
    http: reqwest::Client,
}

impl Marathon {
    /// A client for these Marathon base URLs (`http://host:8080`).
    pub fn new(urls: Vec<String>, http: reqwest::Client) -> Self {
        Marathon { urls, http }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), MarathonError> {
        let mut last = String::from("no Marathon URL configured");
        for base in &self.urls {
            let url = format!("{}{path_and_query}", base.trim_end_matches('/'));
            let mut req = self
                .http
                .request(method.clone(), &url)
                .timeout(Duration::from_secs(30));
            if let Some(b) = body {
                req = req.json(b);
            }
            match req.send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let bytes = resp.bytes().await.unwrap_or_default();
                    if status == 503 || status == 502 {
                        last = format!("{url} answered {status}");
                        continue;
                    }
                    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                    return Ok((status, value));
                }
                Err(e) => {
                    last = format!("{url}: {e}");
                    // A request that may have reached Marathon is not
                    // sent again (it may have acted on it).
                    if !e.is_connect() {
                        return Err(MarathonError::Unavailable(last));
                    }
                }
            }
        }
        Err(MarathonError::Unavailable(last))
    }

    fn refused(status: u16, body: &Value) -> MarathonError {
        let message = body
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| format!("Marathon answered {status}"));
        MarathonError::Refused {
            status,
            message,
            details: body.get("details").cloned(),
        }
    }

    /// Creates the app or pod; returns Marathon's answer.
    pub async fn create(&self, spec: &Map<String, Value>) -> Result<Value, MarathonError> {
        let kind = Kind::of(spec);
        let (status, body) = self
            .send(
                reqwest::Method::POST,
                kind.path(),
                Some(&Value::Object(spec.clone())),
            )
            .await?;
        match status {
            200..=299 => Ok(body),
            409 => Err(MarathonError::AlreadyExists),
            _ => Err(Self::refused(status, &body)),
        }
    }

    /// Replaces an installed app or pod with `spec` (`force`, as Cosmos'
    /// service update).
    pub async fn replace(
        &self,
        id: &str,
        kind: Kind,
        spec: &Map<String, Value>,
    ) -> Result<Value, MarathonError> {
        let path = format!("{}/{}?force=true", kind.path(), id.trim_start_matches('/'));
        let (status, body) = self
            .send(
                reqwest::Method::PUT,
                &path,
                Some(&Value::Object(spec.clone())),
            )
            .await?;
        match status {
            200..=299 => Ok(body),
            404 => Err(MarathonError::NotFound(id.to_string())),
            _ => Err(Self::refused(status, &body)),
        }
    }

    /// Removes an app or pod (`force`, so a running deployment does not
    /// block an uninstall).
    pub async fn remove(&self, id: &str, kind: Kind) -> Result<(), MarathonError> {
        let path = format!("{}/{}?force=true", kind.path(), id.trim_start_matches('/'));
        let (status, body) = self.send(reqwest::Method::DELETE, &path, None).await?;
        match status {
            200..=299 => Ok(()),
            404 => Err(MarathonError::NotFound(id.to_string())),
            _ => Err(Self::refused(status, &body)),
        }
    }

    /// One app or pod, if it exists.
    pub async fn get(&self, id: &str, kind: Kind) -> Result<Option<Value>, MarathonError> {
        let path = format!("{}/{}", kind.path(), id.trim_start_matches('/'));
        let (status, body) = self.send(reqwest::Method::GET, &path, None).await?;
        match status {
            200..=299 => Ok(Some(match kind {
                Kind::App => body.get("app").cloned().unwrap_or(body),
                Kind::Pod | Kind::Group => body,
            })),
            404 => Ok(None),
            _ => Err(Self::refused(status, &body)),
        }
    }

    /// Every installed package: apps and pods labelled
    /// `DCOS_PACKAGE_NAME`, in id order.
    pub async fn installed(&self) -> Result<Vec<Installed>, MarathonError> {
        let mut out = Vec::new();
        let (status, body) = self
            .send(
                reqwest::Method::GET,
                &format!("/v2/apps?label={}", labels::NAME),
                None,
            )
            .await?;
        if !(200..300).contains(&status) {
            return Err(Self::refused(status, &body));
        }
        for app in body
            .get("apps")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(mut i) = installed_of(app, Kind::App) else {
                continue;
            };
            // The apps of a package group are one installation: the group.
            if let Some(group) = i.label(labels::GROUP).map(str::to_owned) {
                if out.iter().any(|o: &Installed| o.id == group) {
                    continue;
                }
                i.id = group;
                i.kind = Kind::Group;
            }
            out.push(i);
        }
        let (status, body) = self.send(reqwest::Method::GET, "/v2/pods", None).await?;
        if (200..300).contains(&status) {
            for pod in body.as_array().into_iter().flatten() {
                if let Some(i) = installed_of(pod, Kind::Pod) {
                    out.push(i);
                }
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }
}

fn installed_of(spec: &Value, kind: Kind) -> Option<Installed> {
    let labels = spec.get("labels")?.as_object()?.clone();
    labels.get(labels::NAME)?.as_str()?;
    Some(Installed {
        id: spec.get("id")?.as_str()?.to_string(),
        kind,
        labels,
    })
}
