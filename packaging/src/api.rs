//! The Cosmos HTTP API: `POST /package/<call>` and
//! `/package/repository/<call>`, `POST /cosmos/service/<call>` (also
//! served at `/service/<call>`), `GET /capabilities`; and the artifact
//! store's `GET /artifacts/<key>/<name>` (agents' fetchers),
//! `GET /cosmos/artifacts`, `PUT /cosmos/artifacts/uploads/<sha256>`,
//! `POST /cosmos/artifacts/add` (plain JSON, [`crate::artifacts`]).
//!
//! Every call is checked as Cosmos checked it: the `Accept` header must
//! name a response media type (and version) the call serves, the
//! `Content-Type` must be the call's request type, the body must decode;
//! all that is wrong is reported at once (`multiple_errors`), 400 with
//! the error media type. Handlers are parse → catalog/render/Marathon →
//! one JSON answer in the negotiated version.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::artifacts::{self, Artifacts};
use crate::catalog::{Catalog, Found};
use crate::error::CosmosError;
use crate::marathon::{Installed, Kind, Marathon};
use crate::render::{self, labels};
use crate::universe::Package;

/// What the handlers share.
pub struct Cosmos {
    /// Repositories and packages.
    pub catalog: Catalog,
    /// Where installs go.
    pub marathon: Marathon,
    /// The files packages' tasks fetch.
    pub artifacts: Artifacts,
    /// The masters' URLs (`cluster.masters` in templates).
    pub masters: Vec<String>,
    /// For calls to the masters.
    pub http: reqwest::Client,
}

impl Cosmos {
    /// After a framework package's app is deleted: once its tasks are gone
    /// (at most 30 s), its framework is torn down at the master, which
    /// stops what it launched. Failures are logged: the app is gone either
    /// way, and an operator can `dcos service shutdown` the framework.
    async fn teardown_framework(&self, id: &str, kind: Kind, name: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            match self.marathon.get(id, kind).await {
                Ok(None) => break,
                _ => tokio::time::sleep(std::time::Duration::from_millis(250)).await,
            }
        }
        match crate::mesos::teardown_named(&self.http, &self.masters, name).await {
            Ok(ids) => tracing::info!(framework = %name, ?ids, "framework torn down"),
            Err(e) => tracing::warn!(framework = %name, error = %e, "framework not torn down"),
        }
    }

    /// What a template sees beside the options: `resource` (artifact URLs
    /// in the cluster's store) and `cluster`.
    pub fn context(&self, pkg: &Package) -> Map<String, Value> {
        let mut extra = Map::new();
        if let Some(r) = self.artifacts.localize(pkg.resource.as_ref()) {
            extra.insert("resource".into(), r);
        }
        extra.insert(
            "cluster".into(),
            json!({ "masters": self.masters.join(",") }),
        );
        extra
    }
}

/// `application/vnd.dcos.<kind>+json;charset=utf-8;version=v<version>`.
pub fn media_type(kind: &str, version: u32) -> String {
    format!("application/vnd.dcos.{kind}+json;charset=utf-8;version=v{version}")
}

/// One call's media types: its request type (v1), and the response
/// types it serves, preferred first.
struct Call {
    request: Option<&'static str>,
    responses: &'static [(&'static str, u32)],
}

/// A parsed media type: `type/subtype`, its version and q.
#[derive(Debug, Clone, PartialEq)]
struct Media {
    essence: String,
    version: Option<String>,
    q: f32,
    text: String,
}

fn parse_media(value: &str) -> Vec<Media> {
    value
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|one| {
            let mut parts = one.split(';');
            let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let mut version = None;
            let mut q = 1.0;
            for p in parts {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                match k.trim().to_ascii_lowercase().as_str() {
                    "version" => version = Some(v.trim().to_ascii_lowercase()),
                    "q" => q = v.trim().parse().unwrap_or(1.0),
                    _ => {}
                }
            }
            Media {
                essence,
                version,
                q,
                text: one.trim().to_string(),
            }
        })
        .collect()
}

fn compatible(given: &Media, kind: &str, version: u32) -> bool {
    given.essence == format!("application/vnd.dcos.{kind}+json")
        && given.version.as_deref() == Some(&format!("v{version}"))
}

fn issue(kind: &str, message: String) -> CosmosError {
    CosmosError::bad(kind, message, None)
}

/// The response version the `Accept` header picks.
fn negotiate(headers: &HeaderMap, call: &Call) -> Result<(&'static str, u32), CosmosError> {
    let Some(accept) = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.trim().is_empty())
    else {
        return Err(issue(
            "not_present",
            "Item header 'Accept' not present but required".into(),
        ));
    };
    let mut given = parse_media(accept);
    given.retain(|m| m.q > 0.0);
    given.sort_by(|a, b| b.q.partial_cmp(&a.q).unwrap_or(std::cmp::Ordering::Equal));
    for g in &given {
        if let Some(r) = call
            .responses
            .iter()
            .find(|(kind, version)| compatible(g, kind, *version))
        {
            return Ok(*r);
        }
    }
    let specified: Vec<&str> = given.iter().map(|m| m.text.as_str()).collect();
    let available: Vec<String> = call
        .responses
        .iter()
        .map(|(k, v)| media_type(k, *v))
        .collect();
    Err(issue(
        "not_valid",
        format!(
            "Item header 'Accept' deemed invalid by rule: Media type was [{}] but should be one of [{}]",
            specified.join(", "),
            available.join(", ")
        ),
    ))
}

/// Checks the headers and decodes the body of a call, Cosmos' way.
fn decode<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: &Bytes,
    call: &Call,
) -> Result<(T, (&'static str, u32)), CosmosError> {
    let mut errors = Vec::new();
    let response = negotiate(headers, call).map_err(|e| errors.push(e)).ok();
    if let Some(kind) = call.request {
        match headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
        {
            None => errors.push(issue(
                "not_present",
                "Item header 'Content-Type' not present but required".into(),
            )),
            Some(ct) => {
                let ok = parse_media(ct)
                    .first()
                    .is_some_and(|m| compatible(m, kind, 1));
                if !ok {
                    errors.push(issue(
                        "not_valid",
                        format!(
                            "Item header 'Content-Type' deemed invalid by rule: should match one of {}",
                            media_type(kind, 1)
                        ),
                    ));
                }
            }
        }
    }
    let text = if body.iter().all(u8::is_ascii_whitespace) {
        if call.request.is_some() {
            errors.push(issue(
                "not_present",
                "Item body not present but required".into(),
            ));
            None
        } else {
            Some(&b"{}"[..])
        }
    } else {
        Some(&body[..])
    };
    let value = text.and_then(|t| match serde_json::from_slice::<T>(t) {
        Ok(v) => Some(v),
        Err(e) => {
            errors.push(issue(
                "not_parsed",
                format!("Item 'body' unable to be parsed: {e}"),
            ));
            None
        }
    });
    match (errors.len(), value, response) {
        (0, Some(v), Some(r)) => Ok((v, r)),
        (1, ..) => Err(errors.remove(0)),
        _ => {
            let details: Vec<Value> = errors.iter().map(CosmosError::body).collect();
            Err(CosmosError::bad(
                "multiple_errors",
                "Multiple errors while processing request",
                Some(json!({ "errors": details })),
            ))
        }
    }
}

fn reply(status: StatusCode, (kind, version): (&str, u32), body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, media_type(kind, version))],
        body.to_string(),
    )
        .into_response()
}

type Shared = State<Arc<Cosmos>>;

/// The router of the Cosmos API.
pub fn router(cosmos: Arc<Cosmos>) -> Router {
    Router::new()
        .route("/capabilities", get(capabilities))
        .route("/package/search", post(search))
        .route("/package/describe", post(describe))
        .route("/package/list-versions", post(list_versions))
        .route("/package/render", post(render_call))
        .route("/package/install", post(install))
        .route("/package/uninstall", post(uninstall))
        .route("/package/list", post(list))
        .route("/package/update", post(service_update))
        .route("/package/repository/list", post(repository_list))
        .route("/package/repository/add", post(repository_add))
        .route("/package/repository/delete", post(repository_delete))
        .route("/cosmos/service/describe", post(service_describe))
        .route("/cosmos/service/update", post(service_update))
        .route("/service/describe", post(service_describe))
        .route("/service/update", post(service_update))
        .route("/artifacts/{key}/{name}", get(artifact_get))
        .route("/cosmos/artifacts", get(artifact_list))
        .route(
            "/cosmos/artifacts/uploads/{sha256}",
            put(artifact_upload).layer(DefaultBodyLimit::max(UPLOAD_CHUNK_LIMIT)),
        )
        .route("/cosmos/artifacts/add", post(artifact_add))
        .with_state(cosmos)
}

async fn capabilities() -> Response {
    reply(
        StatusCode::OK,
        ("capabilities", 1),
        json!({"capabilities": [
            {"name": "PACKAGE_MANAGEMENT"},
            {"name": "METRONOME"},
            {"name": "LOGGING"},
            {"name": "LOGGING_V2"},
        ]}),
    )
}

fn versions_map(found: &Found) -> Value {
    Value::Object(
        found
            .versions
            .iter()
            .map(|(v, r)| (v.clone(), Value::String(r.to_string())))
            .collect(),
    )
}

#[derive(Debug, Deserialize)]
struct SearchRequest {
    #[serde(default)]
    query: Option<String>,
}

async fn search(
    State(c): Shared,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, CosmosError> {
    const CALL: Call = Call {
        request: Some("package.search-request"),
        responses: &[("package.search-response", 1)],
    };
    let (req, rt) = decode::<SearchRequest>(&headers, &body, &CALL)?;
    let found = c.catalog.search(req.query.as_deref()).await?;
    let packages: Vec<Value> = found
        .iter()
        .map(|f| {
            let p = &f.package;
            let mut v = json!({
                "name": p.name,
                "currentVersion": p.version,
                "versions": versions_map(f),
                "description": p.description,
                "framework": p.framework,
                "tags": p.tags,
                "selected": p.selected,
            });
            if let Some(images) = p.images() {
                v["images"] = images.clone();
            }
            v
        })
        .collect();
    Ok(reply(StatusCode::OK, rt, json!({ "packages": packages })))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeRequest {
    package_name: String,
    #[serde(default)]
    package_version: Option<String>,
}

/// A v2 describe response: the package's fields at the top level.
fn v2_describe(p: &Package) -> Value {
    let mut v = serde_json::to_value(p).unwrap_or(Value::Null);
    if let Value::Object(o) = &mut v {
        for k in [
            "releaseVersion",
            "upgradesFrom",
            "downgradesTo",
            "lastUpdated",
            "hasKnownIssues",
        ] {
            o.remove(k);
        }
    }
    v
}

async fn describe(
    State(c): Shared,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, CosmosError> {
    const CALL: Call = Call {
        request: Some("package.describe-request"),
        responses: &[
            ("package.describe-response", 3),
            ("package.describe-response", 2),
        ],
    };
    let (req, rt) = decode::<DescribeRequest>(&headers, &body, &CALL)?;
    let found = c
        .catalog
        .resolve(&req.package_name, req.package_version.as_deref())
        .await?;
    let body = match rt.1 {
        3 => json!({ "package": found.package }),
        _ => v2_describe(&found.package),
    };
    Ok(reply(StatusCode::OK, rt, body))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListVersionsRequest {
    package_name: String,
    #[serde(default)]
    include_package_versions: bool,
}

async fn list_versions(
    State(c): Shared,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, CosmosError> {
    const CALL: Call = Call {
        request: Some("package.list-versions-request"),
        responses: &[("package.list-versions-response", 1)],
    };
    let (req, rt) = decode::<ListVersionsRequest>(&headers, &body, &CALL)?;
    let mut found = c.catalog.resolve(&req.package_name, None).await?;
    if !req.include_package_versions {
        found.versions.truncate(1);
    }
    Ok(reply(
        StatusCode::OK,
        rt,
        json!({ "results": versions_map(&found) }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RenderRequest {
    package_name: String,
    #[serde(default)]
    package_version: Option<String>,
    #[serde(default)]
    options: Option<Map<String, Value>>,
    #[serde(default)]
    app_id: Option<String>,
}

fn normalize_id(id: &str) -> String {
    format!("/{}", id.trim_matches('/'))
}

async fn render_call(
    State(c): Shared,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, CosmosError> {
    const CALL: Call = Call {
        request: Some("package.render-request"),
        responses: &[("package.render-response", 1)],
    };
    let (req, rt) = decode::<RenderRequest>(&headers, &body, &CALL)?;
    let (_, json) = rendered(&c, &req).await?;
    Ok(reply(StatusCode::OK, rt, json!({ "marathonJson": json })))
}

/// The package a render or install request names, and its Marathon JSON.
async fn rendered(
    c: &Cosmos,
    req: &RenderRequest,
) -> Result<(Found, Map<String, Value>), CosmosError> {
    let found = c
        .catalog
        .resolve(&req.package_name, req.package_version.as_deref())
        .await?;
    let app_id = req.app_id.as_deref().map(normalize_id);
    let json = render::render_with(
        &found.package,
        c.context(&found.package),
        &found.repository.uri,
        req.options.as_ref(),
        app_id.as_deref(),
    )?;
    Ok((found, json))
}

async fn install(
    State(c): Shared,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, CosmosError> {
    const CALL: Call = Call {
        request: Some("package.install-request"),
        responses: &[
            ("package.install-response", 2),
            ("package.install-response", 1),
        ],
    };
    let (req, rt) = decode::<RenderRequest>(&headers, &body, &CALL)?;
    // Everything is checked before Marathon is asked: one create, so a
    // failure leaves nothing behind.
    let (found, spec) = rendered(&c, &req).await?;
    let id = spec
        .get("id")
        .and_then(Value::as_str)
        .map(normalize_id)
        .ok_or_else(|| {
            CosmosError::bad(
                "MarathonTemplateMustBeJsonObject",
                "the rendered Marathon JSON has no id",
                None,
            )
        })?;
    // The artifacts its tasks fetch are in the cluster before the app is.
    c.artifacts
        .ensure(found.package.resource.as_ref(), &spec)
        .await?;
    c.marathon.create(&spec).await?;
    tracing::info!(package = %found.package.name, version = %found.package.version, app = %id, "installed");
    let p = &found.package;
    let mut body = json!({
        "packageName": p.name,
        "packageVersion": p.version,
        "appId": id,
    });
    if rt.1 == 2 {
        if let Some(n) = &p.post_install_notes {
            body["postInstallNotes"] = Value::String(n.clone());
        }
        if let Some(cli) = p.cli() {
            body["cli"] = cli.clone();
        }
    }
    Ok(reply(StatusCode::OK, rt, body))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UninstallRequest {
    package_name: String,
    #[serde(default)]
    app_id: Option<String>,
    #[serde(default)]
    all: Option<bool>,
}

fn metadata_of(i: &Installed) -> Value {
    i.label(labels::METADATA)
        .and_then(render::decode_label)
        .unwrap_or_else(|| {
            json!({
                "name": i.label(labels::NAME),
                "version": i.label(labels::VERSION),
            })
        })
}

async fn uninstall(
    State(c): Shared,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, CosmosError> {
    const CALL: Call = Call {
        request: Some("package.uninstall-request"),
        responses: &[("package.uninstall-response", 1)],
    };
    let (req, rt) = decode::<UninstallRequest>(&headers, &body, &CALL)?;
    let mut matching: Vec<Installed> = c
        .marathon
        .installed()
        .await?
        .into_iter()
        .filter(|i| i.label(labels::NAME) == Some(req.package_name.as_str()))
        .collect();
    if let Some(id) = &req.app_id {
        let id = normalize_id(id);
        matching.retain(|i| i.id == id);
        if matching.is_empty() {
            return Err(CosmosError::bad(
                "UninstallNonExistentAppForPackage",
                format!(
                    "Package [{}] with id [{id}] is not installed",
                    req.package_name
                ),
                Some(json!({"packageName": req.package_name, "appId": id})),
            ));
        }
    }
    if matching.is_empty() {
        return Err(CosmosError::bad(
            "PackageNotInstalled",
            format!("Package [{}] is not installed", req.package_name),
            Some(json!({"packageName": req.package_name})),
        ));
    }
    if matching.len() > 1 && !req.all.unwrap_or(false) {
        let ids: Vec<&str> = matching.iter().map(|i| i.id.as_str()).collect();
        return Err(CosmosError::bad(
            "AmbiguousAppId",
            format!(
                "Multiple apps named [{}] are installed: [{}]",
                req.package_name,
                ids.join(", ")
            ),
            Some(json!({"packageName": req.package_name, "appIds": ids})),
        ));
    }
    let mut results = Vec::new();
    for i in &matching {
        c.marathon.remove(&i.id, i.kind).await?;
        if i.label(labels::IS_FRAMEWORK) == Some("true") {
            if let Some(name) = i.label(labels::FRAMEWORK_NAME) {
                c.teardown_framework(&i.id, i.kind, name).await;
            }
        }
        let meta = metadata_of(i);
        results.push(json!({
            "packageName": req.package_name,
            "appId": i.id,
            "packageVersion": i.label(labels::VERSION),
            "postUninstallNotes": meta.get("postUninstallNotes"),
        }));
    }
    Ok(reply(StatusCode::OK, rt, json!({ "results": results })))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListRequest {
    #[serde(default)]
    package_name: Option<String>,
    #[serde(default)]
    app_id: Option<String>,
}

async fn list(State(c): Shared, headers: HeaderMap, body: Bytes) -> Result<Response, CosmosError> {
    const CALL: Call = Call {
        request: Some("package.list-request"),
        responses: &[("package.list-response", 1)],
    };
    let (req, rt) = decode::<ListRequest>(&headers, &body, &CALL)?;
    let app_id = req.app_id.as_deref().map(normalize_id);
    let packages: Vec<Value> = c
        .marathon
        .installed()
        .await?
        .iter()
        .filter(|i| {
            req.package_name
                .as_deref()
                .is_none_or(|n| i.label(labels::NAME) == Some(n))
                && app_id.as_deref().is_none_or(|a| i.id == a)
        })
        .map(|i| {
            let mut meta = metadata_of(i);
            let images = meta.as_object_mut().and_then(|m| m.remove("images"));
            let mut info = json!({ "packageDefinition": meta });
            if let Some(images) = images {
                info["resourceDefinition"] = json!({ "images": images });
            }
            json!({ "appId": i.id, "packageInformation": info })
        })
        .collect();
    Ok(reply(StatusCode::OK, rt, json!({ "packages": packages })))
}

#[derive(Debug, Deserialize)]
struct RepositoryListRequest {}

async fn repository_list(
    State(c): Shared,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, CosmosError> {
    const CALL: Call = Call {
        request: Some("package.repository.list-request"),
        responses: &[("package.repository.list-response", 1)],
    };
    let (_req, rt) = decode::<RepositoryListRequest>(&headers, &body, &CALL)?;
    let (list, _) = c.catalog.repositories().await?;
    Ok(reply(StatusCode::OK, rt, json!({ "repositories": list })))
}

#[derive(Debug, Deserialize)]
struct RepositoryAddRequest {
    name: String,
    uri: String,
    #[serde(default)]
    index: Option<i64>,
}

async fn repository_add(
    State(c): Shared,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, CosmosError> {
    const CALL: Call = Call {
        request: Some("package.repository.add-request"),
        responses: &[("package.repository.add-response", 1)],
    };
    let (req, rt) = decode::<RepositoryAddRequest>(&headers, &body, &CALL)?;
    crate::fetch::location(&req.uri)?;
    let list = c.catalog.add(&req.name, &req.uri, req.index).await?;
    Ok(reply(StatusCode::OK, rt, json!({ "repositories": list })))
}

#[derive(Debug, Deserialize)]
struct RepositoryDeleteRequest {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    uri: Option<String>,
}

async fn repository_delete(
    State(c): Shared,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, CosmosError> {
    const CALL: Call = Call {
        request: Some("package.repository.delete-request"),
        responses: &[("package.repository.delete-response", 1)],
    };
    let (req, rt) = decode::<RepositoryDeleteRequest>(&headers, &body, &CALL)?;
    let list = c
        .catalog
        .delete(req.name.as_deref(), req.uri.as_deref())
        .await?;
    Ok(reply(StatusCode::OK, rt, json!({ "repositories": list })))
}

/// An installed package's app or pod, by id.
async fn installed_by_id(c: &Cosmos, app_id: &str) -> Result<Installed, CosmosError> {
    let id = normalize_id(app_id);
    c.marathon
        .installed()
        .await?
        .into_iter()
        .find(|i| i.id == id)
        .ok_or_else(|| {
            CosmosError::bad(
                "MarathonAppNotFound",
                format!("Unable to locate service with marathon appId: '{id}'"),
                Some(json!({ "appId": id })),
            )
        })
}

fn user_options(i: &Installed) -> Map<String, Value> {
    i.label(labels::OPTIONS)
        .and_then(render::decode_label)
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServiceDescribeRequest {
    app_id: String,
}

async fn service_describe(
    State(c): Shared,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, CosmosError> {
    const CALL: Call = Call {
        request: Some("service.describe-request"),
        responses: &[("service.describe-response", 1)],
    };
    let (req, rt) = decode::<ServiceDescribeRequest>(&headers, &body, &CALL)?;
    let installed = installed_by_id(&c, &req.app_id).await?;
    let name = installed.label(labels::NAME).unwrap_or_default();
    let version = installed.label(labels::VERSION).unwrap_or_default();
    let found = c.catalog.resolve(name, Some(version)).await?;
    let user = user_options(&installed);
    let resolved = render::resolve_options(&found.package, Some(&user))?;
    let current = found
        .versions
        .iter()
        .position(|(v, _)| v == version)
        .unwrap_or(0);
    let upgrades: Vec<&str> = found.versions[..current]
        .iter()
        .map(|(v, _)| v.as_str())
        .collect();
    let downgrades: Vec<&str> = found.versions[current + 1..]
        .iter()
        .map(|(v, _)| v.as_str())
        .collect();
    Ok(reply(
        StatusCode::OK,
        rt,
        json!({
            "package": found.package,
            "upgradesTo": upgrades,
            "downgradesTo": downgrades,
            "resolvedOptions": resolved,
            "userProvidedOptions": user,
        }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServiceUpdateRequest {
    app_id: String,
    #[serde(default)]
    package_version: Option<String>,
    #[serde(default)]
    options: Option<Map<String, Value>>,
    #[serde(default)]
    replace: bool,
}

/// Whether `from` may move to `to` by the 4.0 rules (`upgradesFrom` of
/// the target, `downgradesTo` of the current; packages without them may
/// move freely).
fn may_move(from: &Package, to: &Package) -> bool {
    if from.version == to.version {
        return true;
    }
    let listed = |list: &Option<Vec<String>>, v: &str| {
        list.as_ref()
            .is_none_or(|l| l.iter().any(|x| x == "*" || x == v))
    };
    if to.release_version > from.release_version {
        listed(&to.upgrades_from, &from.version)
    } else {
        listed(&from.downgrades_to, &to.version)
    }
}

async fn service_update(
    State(c): Shared,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, CosmosError> {
    const CALL: Call = Call {
        request: Some("service.update-request"),
        responses: &[("service.update-response", 1)],
    };
    let (req, rt) = decode::<ServiceUpdateRequest>(&headers, &body, &CALL)?;
    let installed = installed_by_id(&c, &req.app_id).await?;
    let name = installed
        .label(labels::NAME)
        .unwrap_or_default()
        .to_string();
    let current_version = installed
        .label(labels::VERSION)
        .unwrap_or_default()
        .to_string();
    let current = c.catalog.resolve(&name, Some(&current_version)).await?;
    let target = match &req.package_version {
        Some(v) => c.catalog.resolve(&name, Some(v)).await?,
        None => current.clone(),
    };
    if !may_move(&current.package, &target.package) {
        return Err(CosmosError::bad(
            "VersionUpgradeNotSupported",
            format!(
                "Package [{name}] cannot move from version [{current_version}] to [{}]: not in its upgradesFrom/downgradesTo",
                target.package.version
            ),
            None,
        ));
    }
    let mut options = if req.replace {
        Map::new()
    } else {
        user_options(&installed)
    };
    if let Some(o) = &req.options {
        render::merge(&mut options, o);
    }
    let spec = render::render_with(
        &target.package,
        c.context(&target.package),
        &target.repository.uri,
        Some(&options),
        Some(&installed.id),
    )?;
    if Kind::of(&spec) != installed.kind {
        return Err(CosmosError::bad(
            "AppIdChanged",
            "the new version changes the service between an app and a pod; uninstall and install it",
            None,
        ));
    }
    c.artifacts
        .ensure(target.package.resource.as_ref(), &spec)
        .await?;
    let answer = c
        .marathon
        .replace(&installed.id, installed.kind, &spec)
        .await?;
    let resolved = render::resolve_options(&target.package, Some(&options))?;
    Ok(reply(
        StatusCode::OK,
        rt,
        json!({
            "package": target.package,
            "resolvedOptions": resolved,
            "marathonDeploymentId": answer.get("deploymentId").cloned().unwrap_or(Value::Null),
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    const INSTALL: Call = Call {
        request: Some("package.install-request"),
        responses: &[
            ("package.install-response", 2),
            ("package.install-response", 1),
        ],
    };

    #[test]
    fn accept_picks_the_highest_q_version_served() {
        let h = headers(&[(
            "accept",
            "application/vnd.dcos.package.install-response+json;charset=utf-8;version=v1;q=0.9,application/vnd.dcos.package.install-response+json;charset=utf-8;version=v2;q=0.1",
        )]);
        assert_eq!(
            negotiate(&h, &INSTALL).unwrap(),
            ("package.install-response", 1)
        );
        let h = headers(&[(
            "accept",
            "application/vnd.dcos.package.install-response+json;charset=utf-8;version=v9",
        )]);
        let e = negotiate(&h, &INSTALL).unwrap_err();
        assert_eq!(e.kind, "not_valid");
        assert_eq!(
            e.message,
            "Item header 'Accept' deemed invalid by rule: Media type was [application/vnd.dcos.package.install-response+json;charset=utf-8;version=v9] but should be one of [application/vnd.dcos.package.install-response+json;charset=utf-8;version=v2, application/vnd.dcos.package.install-response+json;charset=utf-8;version=v1]"
        );
    }

    #[test]
    fn everything_wrong_is_reported_at_once() {
        let e = decode::<RenderRequest>(&HeaderMap::new(), &Bytes::new(), &INSTALL).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.kind, "multiple_errors");
        let errors = e.data.unwrap()["errors"].clone();
        let messages: Vec<&str> = errors
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["message"].as_str().unwrap())
            .collect();
        assert_eq!(
            messages,
            vec![
                "Item header 'Accept' not present but required",
                "Item header 'Content-Type' not present but required",
                "Item body not present but required"
            ]
        );
        let h = headers(&[
            (
                "accept",
                "application/vnd.dcos.package.install-response+json;charset=utf-8;version=v2",
            ),
            ("content-type", "application/json"),
        ]);
        let e = decode::<RenderRequest>(&h, &Bytes::from_static(b"{\"packageName\":1}"), &INSTALL)
            .unwrap_err();
        assert_eq!(e.kind, "multiple_errors");
        let h = headers(&[
            (
                "accept",
                "application/vnd.dcos.package.install-response+json;charset=utf-8;version=v2",
            ),
            (
                "content-type",
                "application/vnd.dcos.package.install-request+json;charset=utf-8;version=v1",
            ),
        ]);
        let e = decode::<RenderRequest>(&h, &Bytes::from_static(b"{}"), &INSTALL).unwrap_err();
        assert_eq!(e.kind, "not_parsed");
        assert!(e.message.contains("packageName"), "{}", e.message);
        let (r, rt) = decode::<RenderRequest>(
            &h,
            &Bytes::from_static(b"{\"packageName\":\"kafka\",\"options\":{\"a\":1}}"),
            &INSTALL,
        )
        .unwrap();
        assert_eq!((r.package_name.as_str(), rt.1), ("kafka", 2));
    }
}

/// The largest upload chunk accepted (the CLI sends 16 MiB; the gateway
/// forwards at most 64 MiB).
pub const UPLOAD_CHUNK_LIMIT: usize = 48 << 20;

fn plain_json(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn artifact_get(
    State(c): Shared,
    axum::extract::Path((key, _name)): axum::extract::Path<(String, String)>,
) -> Response {
    c.artifacts.serve(&key).await
}

async fn artifact_list(State(c): Shared) -> Result<Response, CosmosError> {
    let records = c.artifacts.list().await?;
    Ok(plain_json(StatusCode::OK, artifacts::list_body(&records)))
}

#[derive(Debug, Deserialize)]
struct UploadQuery {
    offset: u64,
    total: u64,
}

async fn artifact_upload(
    State(c): Shared,
    axum::extract::Path(sha256): axum::extract::Path<String>,
    query: Result<axum::extract::Query<UploadQuery>, axum::extract::rejection::QueryRejection>,
    body: Bytes,
) -> Result<Response, CosmosError> {
    let Ok(axum::extract::Query(q)) = query else {
        return Err(CosmosError::bad(
            "InvalidUpload",
            "an upload chunk needs ?offset=<byte>&total=<size>",
            None,
        ));
    };
    let answer = c
        .artifacts
        .upload(&sha256, q.offset, q.total, &body)
        .await?;
    Ok(plain_json(StatusCode::OK, answer))
}

#[derive(Debug, Deserialize)]
struct AddRequest {
    url: String,
    sha256: String,
}

async fn artifact_add(State(c): Shared, body: Bytes) -> Result<Response, CosmosError> {
    let req: AddRequest = serde_json::from_slice(&body).map_err(|e| {
        CosmosError::bad(
            "not_parsed",
            format!("expected {{\"url\": …, \"sha256\": …}}: {e}"),
            None,
        )
    })?;
    let record = c
        .artifacts
        .add(&req.url, &req.sha256.to_ascii_lowercase())
        .await?;
    Ok(plain_json(StatusCode::OK, json!(record)))
}
