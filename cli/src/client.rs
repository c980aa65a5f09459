//! The attached cluster and how the CLI talks to it: clusters live in
//! `$DCOS_DIR/clusters/<id>/dcos.toml` (`DCOS_DIR` defaults to
//! `~/.dcos`, as for the DC/OS CLI), the attached one is marked by an
//! `attached` file beside it, and every request goes through the
//! cluster's gateway with `Authorization: token=<t>`.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Errors scripts can tell apart by exit code (see [`ApiError::exit_code`]).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// no cluster attached
    #[error(
        "no cluster is attached: run `dcos cluster setup <url>` (or `dcos cluster attach <name>`)"
    )]
    NoCluster,
    /// 401
    #[error("the cluster at {0} did not accept your login (expired or invalid token): run `dcos cluster setup {0}` again")]
    Unauthorized(String),
    /// 404
    #[error("not found: {0}")]
    NotFound(String),
    /// other HTTP error
    #[error("{method} {path} failed with {status}: {message}")]
    Http {
        method: String,
        path: String,
        status: u16,
        message: String,
    },
    /// transport
    #[error("cannot reach the cluster at {url}: {message} (is it running? `dcos status` on the master shows its health)")]
    Unreachable { url: String, message: String },
}

impl ApiError {
    /// 3: not logged in or no cluster; 4: not found; 1: anything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            ApiError::NoCluster | ApiError::Unauthorized(_) => 3,
            ApiError::NotFound(_) => 4,
            _ => 1,
        }
    }
}

/// The whole-request timeout unless `core.timeout` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The DC/OS CLI's per-cluster config file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterToml {
    pub core: Core,
    #[serde(default)]
    pub cluster: ClusterName,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Core {
    /// Empty after `dcos config unset core.dcos_url`.
    #[serde(default)]
    pub dcos_url: String,
    /// Empty after `dcos auth logout`.
    #[serde(default)]
    pub dcos_acs_token: String,
    #[serde(default)]
    pub ssl_verify: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ClusterName {
    pub name: String,
}

/// One configured cluster.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub id: String,
    pub dir: PathBuf,
    pub config: ClusterToml,
    pub attached: bool,
}

/// `$DCOS_DIR`, else `~/.dcos`.
pub fn dcos_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("DCOS_DIR") {
        return PathBuf::from(d);
    }
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".dcos")
}

pub fn clusters_dir() -> PathBuf {
    dcos_dir().join("clusters")
}

/// Every configured cluster, sorted by name.
pub fn clusters() -> anyhow::Result<Vec<Cluster>> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(clusters_dir()) else {
        return Ok(out);
    };
    for e in entries.flatten() {
        let dir = e.path();
        let Ok(text) = std::fs::read_to_string(dir.join("dcos.toml")) else {
            continue;
        };
        let config: ClusterToml = toml::from_str(&text)
            .map_err(|err| anyhow::anyhow!("{}: {err}", dir.join("dcos.toml").display()))?;
        out.push(Cluster {
            id: e.file_name().to_string_lossy().into_owned(),
            attached: dir.join("attached").exists(),
            dir,
            config,
        });
    }
    out.sort_by(|a, b| a.config.cluster.name.cmp(&b.config.cluster.name));
    Ok(out)
}

/// The attached cluster (or the only one).
pub fn attached() -> anyhow::Result<Cluster> {
    let all = clusters()?;
    if all.len() == 1 {
        return Ok(all.into_iter().next().ok_or(ApiError::NoCluster)?);
    }
    Ok(all
        .into_iter()
        .find(|c| c.attached)
        .ok_or(ApiError::NoCluster)?)
}

/// A client of the attached cluster's gateway.
#[derive(Debug, Clone)]
pub struct Api {
    pub base: String,
    token: String,
    http: reqwest::Client,
    timeout: Duration,
    /// Path prefixes sent elsewhere than the gateway (`marathon.url`,
    /// `job.url`, `core.mesos_master_url`, `package.cosmos_url`):
    /// `(prefix, url that replaces base + prefix)`.
    routes: Vec<(String, String)>,
}

impl Api {
    pub fn new(base: &str, token: &str) -> Api {
        Api {
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
            http: reqwest::Client::builder()
                .timeout(DEFAULT_TIMEOUT)
                .build()
                .unwrap_or_default(),
            timeout: DEFAULT_TIMEOUT,
            routes: Vec::new(),
        }
    }

    /// The same client with another whole-request timeout (calls that
    /// wait for downloads); never shorter than the configured one.
    pub fn with_timeout(&self, timeout: Duration) -> Api {
        let timeout = timeout.max(self.timeout);
        Api {
            http: reqwest::Client::builder()
                .timeout(timeout)
                .build()
                .unwrap_or_default(),
            timeout,
            ..self.clone()
        }
    }

    /// The URL a path goes to: the gateway, unless the config sends its
    /// prefix elsewhere.
    pub fn url_for(&self, path: &str) -> String {
        for (prefix, url) in &self.routes {
            if let Some(rest) = path.strip_prefix(prefix.as_str()) {
                if rest.is_empty() || rest.starts_with(['/', '?']) {
                    return format!("{}{rest}", url.trim_end_matches('/'));
                }
            }
        }
        format!("{}{path}", self.base)
    }

    /// Sends `body` as is and returns the status and the JSON answer
    /// whatever the status (callers that act on error details, such as
    /// an upload's offset); only an unreachable cluster is an error.
    pub async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<(u16, Value), ApiError> {
        let resp = self
            .http
            .request(method, self.url_for(path))
            .header("Authorization", format!("token={}", self.token))
            .header("Content-Type", content_type)
            .body(body)
            .send()
            .await
            .map_err(|e| ApiError::Unreachable {
                url: self.base.clone(),
                message: e.to_string(),
            })?;
        let status = resp.status().as_u16();
        if status == 401 {
            return Err(ApiError::Unauthorized(self.base.clone()));
        }
        let text = resp.text().await.unwrap_or_default();
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    /// The attached cluster's client, as its config (with `DCOS_*`
    /// overrides, [`crate::config::effective`]) says.
    pub fn attached() -> anyhow::Result<Api> {
        let cfg = crate::config::effective()?;
        let url = cfg
            .get("core.dcos_url")
            .ok_or(ApiError::NoCluster)?
            .to_string();
        let mut api = Api::new(&url, cfg.get("core.dcos_acs_token").unwrap_or(""));
        if let Some(t) = cfg.get("core.timeout") {
            let secs: u64 = t
                .parse()
                .map_err(|_| anyhow::anyhow!("core.timeout {t:?} is not a whole number of seconds: `dcos config set core.timeout 60`"))?;
            api = api.with_timeout(Duration::from_secs(secs));
            api.timeout = Duration::from_secs(secs);
        }
        for (key, prefixes) in [
            ("marathon.url", &["/service/marathon"][..]),
            ("job.url", &["/service/metronome"][..]),
            ("core.mesos_master_url", &["/mesos"][..]),
            ("package.cosmos_url", &["/package", "/cosmos"][..]),
        ] {
            if let Some(u) = cfg.get(key) {
                for p in prefixes {
                    // Cosmos keeps its paths; the others are mounted at the URL.
                    let target = if key == "package.cosmos_url" {
                        format!("{}{p}", u.trim_end_matches('/'))
                    } else {
                        u.to_string()
                    };
                    api.routes.push((p.to_string(), target));
                }
            }
        }
        Ok(api)
    }

    /// Sends a request; non-2xx answers become [`ApiError`]s.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<reqwest::Response, ApiError> {
        self.raw_with_headers(method, path, body, &[]).await
    }

    /// As [`Self::raw`], with more headers (a `Content-Type` given here
    /// replaces `application/json`: Cosmos' versioned media types).
    pub async fn raw_with_headers(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, String)],
    ) -> Result<reqwest::Response, ApiError> {
        let url = self.url_for(path);
        let mut req = self
            .http
            .request(method.clone(), &url)
            .header("Authorization", format!("token={}", self.token));
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        if let Some(b) = body {
            if !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            {
                req = req.header("Content-Type", "application/json");
            }
            req = req.body(b.to_string());
        }
        let resp = req.send().await.map_err(|e| ApiError::Unreachable {
            url: self.base.clone(),
            message: e.to_string(),
        })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let text = resp.text().await.unwrap_or_default();
        let mut message = error_message(&text);
        if status.as_u16() == 409 && message.contains("force=true") {
            message.push_str(" (the dcos command takes --force)");
        }
        Err(match status.as_u16() {
            401 => ApiError::Unauthorized(self.base.clone()),
            404 => ApiError::NotFound(if message.is_empty() {
                path.to_string()
            } else {
                message
            }),
            code => ApiError::Http {
                method: method.to_string(),
                path: path.to_string(),
                status: code,
                message,
            },
        })
    }

    /// A JSON request; an empty body answers `null`.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ApiError> {
        let resp = self.raw(method, path, body).await?;
        let text = resp.text().await.unwrap_or_default();
        Ok(
            serde_json::from_str(&text).unwrap_or(if text.trim().is_empty() {
                Value::Null
            } else {
                Value::String(text)
            }),
        )
    }

    pub async fn get(&self, path: &str) -> Result<Value, ApiError> {
        self.send(Method::GET, path, None).await
    }

    /// As [`Self::send`], also returning one response header (Marathon's
    /// `Marathon-Deployment-Id` for pods, whose answer is the definition).
    pub async fn send_with_header(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        header: &str,
    ) -> Result<(Value, Option<String>), ApiError> {
        let resp = self.raw(method, path, body).await?;
        let value = resp
            .headers()
            .get(header)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = resp.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(if text.trim().is_empty() {
            Value::Null
        } else {
            Value::String(text)
        });
        Ok((body, value))
    }
}

/// The human part of an error body: Marathon's `message`, DC/OS's
/// `description`, Metronome's `message`/`details`, else the text.
pub fn error_message(text: &str) -> String {
    match serde_json::from_str::<Value>(text) {
        Ok(v) => {
            let mut m = v["description"]
                .as_str()
                .or_else(|| v["message"].as_str())
                .map(str::to_string)
                .unwrap_or_else(|| text.trim().to_string());
            if let Some(d) = v.get("details").filter(|d| !d.is_null()) {
                m.push_str(&format!(" {d}"));
            }
            // Cosmos: a schema mismatch lists every offending path.
            for e in v["data"]["errors"].as_array().into_iter().flatten() {
                let msg = e["message"]
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| e.to_string());
                match e["instance"]["pointer"].as_str() {
                    Some(p) if !p.is_empty() => m.push_str(&format!("\n  {p}: {msg}")),
                    _ => m.push_str(&format!("\n  {msg}")),
                }
            }
            m
        }
        Err(_) => text.trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_from_the_apis() {
        assert_eq!(
            error_message(r#"{"title":"Forbidden","description":"wrong token","code":"X"}"#),
            "wrong token"
        );
        assert_eq!(
            error_message(r#"{"message":"App '/x' does not exist"}"#),
            "App '/x' does not exist"
        );
        assert_eq!(error_message("plain"), "plain");
        assert_eq!(
            error_message(
                r#"{"type":"JsonSchemaMismatch","message":"Options JSON failed validation","data":{"errors":[{"instance":{"pointer":"/a"},"message":"0 is less than 1"}]}}"#
            ),
            "Options JSON failed validation\n  /a: 0 is less than 1"
        );
    }

    #[test]
    fn exit_codes() {
        assert_eq!(ApiError::NoCluster.exit_code(), 3);
        assert_eq!(ApiError::Unauthorized("u".into()).exit_code(), 3);
        assert_eq!(ApiError::NotFound("x".into()).exit_code(), 4);
        assert!(ApiError::Unauthorized("http://gw".into())
            .to_string()
            .contains("run `dcos cluster setup http://gw` again"));
    }
}
