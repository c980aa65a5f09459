//! The HTTP surface of the gateway.
//!
//! Public (no token): `POST /acs/api/v1/auth/login` (answers the token and
//! sets it as DC/OS' UI cookie `dcos-acs-auth-cookie`, HttpOnly),
//! `POST /acs/api/v1/auth/logout` (clears the cookies),
//! `GET /acs/api/v1/auth/providers` (how users log in, DC/OS' shape),
//! `GET /dcos-metadata/dcos-version.json`, `GET /install.sh`,
//! `GET /install/v1/binary`, `POST /install/v1/join`, and the dashboard's
//! shell and assets ([`crate::dashboard`]: `/`, `/assets/…`, the UI's own
//! routes), which hold no data.
//!
//! Everything else, unknown paths included, first passes [`require_token`]
//! (`Authorization: token=<jwt>` or `Bearer <jwt>`, or the cookie), then:
//! `/metadata`, `/system/health/v1`, `/acs/api/v1/users[/<uid>]`,
//! `/system/v1/logs/…` and the proxied prefixes of [`route_of`], the
//! routing table.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::{AuthError, Claims};
use crate::error::GatewayError;
use crate::proxy::{self, Outgoing, Target};
use crate::{join, logs, upstream, Gateway};

/// The cookie DC/OS' UI keeps the token in (HttpOnly: scripts never see it).
pub const AUTH_COOKIE: &str = "dcos-acs-auth-cookie";
/// DC/OS' companion cookie the UI reads to say who is logged in: base64
/// of `{"uid","description","is_remote"}`; not secret, not a credential.
pub const INFO_COOKIE: &str = "dcos-acs-info-cookie";

/// Which backend a proxied path goes to, and the path on that backend.
/// `None` for paths that are not proxied.
pub fn route_of(path: &str) -> Option<(Target, String)> {
    fn rest(after: &str) -> String {
        if after.is_empty() {
            "/".to_string()
        } else {
            after.to_string()
        }
    }
    // `/<prefix>` or `/<prefix>/…` → the part after the prefix.
    fn under<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
        let after = path.strip_prefix(prefix)?;
        (after.is_empty() || after.starts_with('/')).then_some(after)
    }
    // `/<prefix>/<segment>[/…]` → (segment, the rest).
    fn segment<'a>(path: &'a str, prefix: &str) -> Option<(&'a str, &'a str)> {
        let after = path.strip_prefix(prefix)?.strip_prefix('/')?;
        let (seg, tail) = match after.find('/') {
            Some(i) => (&after[..i], &after[i..]),
            None => (after, ""),
        };
        (!seg.is_empty()).then_some((seg, tail))
    }
    if let Some(after) = under(path, "/mesos") {
        return Some((Target::Mesos, rest(after)));
    }
    if let Some(after) = under(path, "/marathon") {
        return Some((Target::Marathon, rest(after)));
    }
    if let Some((name, tail)) = segment(path, "/service") {
        let target = match name {
            "marathon" => Target::Marathon,
            "chronos" | "metronome" => Target::Chronos,
            other => Target::Service(other.to_string()),
        };
        return Some((target, rest(tail)));
    }
    if path.starts_with("/package/") || under(path, "/cosmos").is_some() || path == "/capabilities"
    {
        return Some((Target::Cosmos, path.to_string()));
    }
    for prefix in ["/agent", "/slave"] {
        if let Some((id, tail)) = segment(path, prefix) {
            return Some((Target::Agent(id.to_string()), rest(tail)));
        }
    }
    None
}

/// The whole gateway.
pub fn router(gw: Arc<Gateway>) -> Router {
    let public = Router::new()
        .route("/acs/api/v1/auth/login", post(login))
        .route("/acs/api/v1/auth/logout", post(logout))
        .route("/acs/api/v1/auth/providers", get(providers))
        .route("/dcos-metadata/dcos-version.json", get(version))
        .route("/install.sh", get(join::script))
        .route("/install/v1/binary", get(join::binary))
        .route("/install/v1/join", post(join::join))
        .merge(crate::dashboard::routes());
    let protected = Router::new()
        .route("/metadata", get(metadata))
        .route("/system/health/v1", get(health))
        .route("/acs/api/v1/users", get(list_users))
        .route(
            "/acs/api/v1/users/{uid}",
            get(get_user)
                .put(put_user)
                .patch(patch_user)
                .delete(delete_user),
        )
        .route("/system/v1/logs/v2/task/{task}", get(logs::task_stdout))
        .route(
            "/system/v1/logs/v2/task/{task}/file/{file}",
            get(logs::task_file),
        )
        // `{*rest}` matches no empty tail: the bare prefix and the one
        // with a trailing slash are routes of their own.
        .route("/mesos", any(proxied))
        .route("/mesos/", any(proxied))
        .route("/mesos/{*rest}", any(proxied))
        .route("/marathon", any(proxied))
        .route("/marathon/", any(proxied))
        .route("/marathon/{*rest}", any(proxied))
        .route("/service/{name}", any(proxied))
        .route("/service/{name}/", any(proxied))
        .route("/service/{name}/{*rest}", any(proxied))
        .route("/package/{*rest}", any(proxied))
        .route("/cosmos/{*rest}", any(proxied))
        .route("/capabilities", any(proxied))
        .route("/agent/{id}", any(proxied))
        .route("/agent/{id}/", any(proxied))
        .route("/agent/{id}/{*rest}", any(proxied))
        .route("/slave/{id}", any(proxied))
        .route("/slave/{id}/", any(proxied))
        .route("/slave/{id}/{*rest}", any(proxied))
        .fallback(not_found)
        // `layer`, not `route_layer`: unknown paths need a token too, so a
        // caller without one learns nothing about what exists.
        .layer(middleware::from_fn_with_state(
            Arc::clone(&gw),
            require_token,
        ));
    public.merge(protected).with_state(gw)
}

/// The token check in front of every protected route.
pub async fn require_token(
    State(gw): State<Arc<Gateway>>,
    mut req: Request,
    next: Next,
) -> Response {
    let result = match req.headers().get(header::AUTHORIZATION) {
        Some(v) => v
            .to_str()
            .map_err(|_| AuthError::BadScheme)
            .and_then(|v| gw.tokens.verify_header(v)),
        None => match cookie(req.headers(), AUTH_COOKIE) {
            Some(t) => gw.tokens.verify(&t),
            None => Err(AuthError::Missing),
        },
    };
    match result {
        Ok(claims) => {
            req.extensions_mut().insert(claims);
            next.run(req).await
        }
        Err(e) => GatewayError::Auth(e).into_response(),
    }
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

async fn not_found(req: Request) -> Response {
    GatewayError::NotFound(format!("no route for {}", req.uri().path())).into_response()
}

#[derive(Deserialize)]
struct LoginRequest {
    uid: String,
    password: String,
}

/// `POST /acs/api/v1/auth/login` `{"uid","password"}` → `{"token"}`.
async fn login(State(gw): State<Arc<Gateway>>, body: Bytes) -> Response {
    let req: LoginRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(_) => {
            return GatewayError::BadRequest(
                "the login request must be JSON {\"uid\": …, \"password\": …}".into(),
            )
            .into_response()
        }
    };
    match gw.users.check(&req.uid, &req.password).await {
        Ok(user) => {
            tracing::info!(uid = %user.uid, "login");
            let token = gw.tokens.issue(&user.uid);
            let max_age = gw.tokens.lifetime().as_secs();
            let info = base64::engine::general_purpose::STANDARD.encode(
                json!({"uid": user.uid, "description": user.description, "is_remote": false})
                    .to_string(),
            );
            let cookies = [
                format!(
                    "{AUTH_COOKIE}={token}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict"
                ),
                format!("{INFO_COOKIE}={info}; Path=/; Max-Age={max_age}; SameSite=Strict"),
            ];
            let mut resp = Json(json!({ "token": token })).into_response();
            for c in cookies {
                if let Ok(v) = header::HeaderValue::from_str(&c) {
                    resp.headers_mut().append(header::SET_COOKIE, v);
                }
            }
            resp
        }
        Err(e) => {
            let e = GatewayError::from(e);
            if matches!(e, GatewayError::Auth(AuthError::InvalidCredentials)) {
                tracing::info!(uid = %req.uid, "login refused: wrong uid or password");
            }
            e.into_response()
        }
    }
}

/// `POST /acs/api/v1/auth/logout`: expires both cookies (tokens are not
/// revoked: there is no server-side session; one lives until its `exp`).
async fn logout() -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    for name in [AUTH_COOKIE, INFO_COOKIE] {
        let c = format!("{name}=; Path=/; Max-Age=0; SameSite=Strict");
        if let Ok(v) = header::HeaderValue::from_str(&c) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

/// `GET /acs/api/v1/auth/providers`: the one way to log in here, the
/// gateway's users with a password (DC/OS' `dcos-users` provider).
async fn providers() -> Response {
    axum::Json(serde_json::json!({
        "dcos-users": {
            "authentication-type": "dcos-uid-password",
            "description": "Default DC/OS login provider",
            "client-method": "dcos-usercredential-post-receive-authtoken",
            "config": {"start_flow_url": "/acs/api/v1/auth/login"}
        }
    }))
    .into_response()
}

/// `GET /dcos-metadata/dcos-version.json`.
async fn version(State(gw): State<Arc<Gateway>>) -> Response {
    let binary = gw.binary.clone();
    let id = gw
        .bootstrap_id
        .get_or_init(|| async move {
            tokio::task::spawn_blocking(move || file_sha256(&binary))
                .await
                .ok()
                .flatten()
                .unwrap_or_default()
        })
        .await;
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "dcos-variant": "open",
        "dcos-image-commit": option_env!("DCOS_IMAGE_COMMIT").unwrap_or("unknown"),
        "bootstrap-id": id,
    }))
    .into_response()
}

fn file_sha256(path: &std::path::Path) -> Option<String> {
    use sha2::Digest;
    use std::io::Read;
    let mut f = std::fs::File::open(path).ok()?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Some(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// `GET /metadata`.
async fn metadata(State(gw): State<Arc<Gateway>>) -> Response {
    Json(json!({
        "CLUSTER_ID": gw.cluster.id,
        "PUBLIC_IPV4": gw.cluster.public_ip,
    }))
    .into_response()
}

/// `GET /system/health/v1`: one unit per backend instance, probed now;
/// `health` 0 is healthy, 1 unhealthy (DC/OS' convention). Each master
/// is two units: the master (its `/master/health`, which says why when it
/// is not) and its replicated store, asked itself (`/store/v1/status`:
/// healthy while it knows a leader).
async fn health(State(gw): State<Arc<Gateway>>) -> Response {
    let up = &gw.upstreams;
    let http = &up.http;
    let unit = |id: String, name: &str, ok: bool, description: String| json!({"id": id, "name": name, "health": if ok { 0 } else { 1 }, "description": description});
    let mut checks: Vec<futures::future::BoxFuture<'_, Value>> = Vec::new();
    for m in up.masters() {
        checks.push(Box::pin(async move {
            let (ok, why) = probe(http, &format!("{m}/master/health")).await;
            let description = match why {
                None => "the resource kernel's master".to_string(),
                Some(why) => format!("the resource kernel's master: {why}"),
            };
            unit(
                format!("dcos-mesos-master@{}", host_of(m)),
                "Mesos Master",
                ok,
                description,
            )
        }));
        checks.push(Box::pin(async move {
            let (ok, description) = store_health(http, m).await;
            unit(
                format!("dcos-store@{}", host_of(m)),
                "Replicated Store",
                ok,
                description,
            )
        }));
    }
    for (urls, id, name, path, description) in [
        (
            up.marathons(),
            "dcos-marathon",
            "Marathon",
            "/ping",
            "keeps services running",
        ),
        (
            up.chronos_all(),
            "dcos-metronome",
            "Chronos/Metronome",
            "/ping",
            "runs scheduled jobs",
        ),
        (
            up.cosmos_all(),
            "dcos-cosmos",
            "Cosmos",
            "/capabilities",
            "installs packages from the catalog",
        ),
    ] {
        for b in urls {
            checks.push(Box::pin(async move {
                let (ok, why) = probe(http, &format!("{b}{path}")).await;
                let description = match why {
                    None => description.to_string(),
                    Some(why) => format!("{description}: {why}"),
                };
                unit(format!("{id}@{}", host_of(b)), name, ok, description)
            }));
        }
    }
    let mut units = futures::future::join_all(checks).await;
    let leader = up.leader().await;
    units.push(json!({
        "id": "dcos-mesos-leader",
        "name": "Leading Mesos Master",
        "health": if leader.is_ok() { 0 } else { 1 },
        "description": match &leader {
            Ok(l) => format!("the leading master is {l}"),
            Err(e) => e.to_string(),
        },
    }));
    units.push(json!({
        "id": "dcos-gateway",
        "name": "Gateway",
        "health": 0,
        "description": "this gateway (it is answering)",
    }));
    Json(json!({ "units": units })).into_response()
}

/// GETs a health URL: healthy on a 2xx; otherwise why (the status and
/// the start of the body, or the transport error).
async fn probe(http: &upstream::Http, url: &str) -> (bool, Option<String>) {
    match upstream::get(http, url).await {
        Ok((s, _)) if s.is_success() => (true, None),
        Ok((s, body)) => {
            let text = String::from_utf8_lossy(&body);
            let text: String = text.trim().chars().take(300).collect();
            (
                false,
                Some(if text.is_empty() {
                    s.to_string()
                } else {
                    format!("{s}: {text}")
                }),
            )
        }
        Err(e) => (false, Some(e.to_string())),
    }
}

/// The store member at `master` (the store shares the master's port), as
/// its `/store/v1/status` describes it: healthy while it knows a leader.
async fn store_health(http: &upstream::Http, master: &str) -> (bool, String) {
    let status = match upstream::get_json(http, &format!("{master}/store/v1/status")).await {
        Ok(v) => v,
        Err(e) => return (false, format!("the replicated store does not answer: {e}")),
    };
    let member = format!(
        "member {} ({}, term {}, revision {})",
        status["id"],
        status["state"].as_str().unwrap_or("?"),
        status["term"],
        status["revision"]
    );
    match status["leader_addr"].as_str() {
        Some(leader) if !status["leader"].is_null() => (
            true,
            format!("the replicated store: {member}, leader {leader}"),
        ),
        _ => (
            false,
            format!("the replicated store has no leader: {member}"),
        ),
    }
}

fn host_of(url: &str) -> &str {
    url.split_once("://").map(|(_, r)| r).unwrap_or(url)
}

/// Every proxied prefix: look the path up in [`route_of`] and forward.
async fn proxied(State(gw): State<Arc<Gateway>>, req: Request) -> Response {
    let Some((target, path)) = route_of(req.uri().path()) else {
        return GatewayError::NotFound(format!("no route for {}", req.uri().path()))
            .into_response();
    };
    // `/service/<name>` → `/service/<name>/`, as Admin Router does, so a
    // service's relative links resolve under its prefix.
    if matches!(target, Target::Service(_)) && !req.uri().path().ends_with('/') && path == "/" {
        let location = match req.uri().query() {
            Some(q) => format!("{}/?{q}", req.uri().path()),
            None => format!("{}/", req.uri().path()),
        };
        return (
            StatusCode::TEMPORARY_REDIRECT,
            [(header::LOCATION, location)],
        )
            .into_response();
    }
    let path_and_query = match req.uri().query() {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    let client = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, proxy::MAX_REQUEST_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                Json(json!({"title": "Payload Too Large", "code": "ERR_BODY_TOO_LARGE",
                            "description": format!("request bodies are limited to {} MiB", proxy::MAX_REQUEST_BODY >> 20)})),
            )
                .into_response()
        }
    };
    proxy::forward(
        &gw.upstreams,
        &target,
        Outgoing {
            method: parts.method,
            path_and_query,
            headers: parts.headers,
            body,
            client,
        },
    )
    .await
}

#[derive(Deserialize)]
struct PutUser {
    password: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

fn parse_put(body: &Bytes) -> Result<PutUser, GatewayError> {
    serde_json::from_slice(body).map_err(|e| {
        GatewayError::BadRequest(format!(
            "the body must be JSON {{\"password\": …, \"description\": …}}: {e}"
        ))
    })
}

/// `GET /acs/api/v1/users` → `{"array": [users]}`.
async fn list_users(State(gw): State<Arc<Gateway>>) -> Response {
    match gw.users.list().await {
        Ok(list) => {
            let array: Vec<crate::users::UserView> = list.iter().map(Into::into).collect();
            Json(json!({ "array": array })).into_response()
        }
        Err(e) => GatewayError::from(e).into_response(),
    }
}

async fn get_user(State(gw): State<Arc<Gateway>>, Path(uid): Path<String>) -> Response {
    match gw.users.get(&uid).await {
        Ok(Some(u)) => Json(crate::users::UserView::from(&u)).into_response(),
        Ok(None) => GatewayError::UnknownUser(uid).into_response(),
        Err(e) => GatewayError::from(e).into_response(),
    }
}

/// `PUT /acs/api/v1/users/<uid>` `{"password","description"}`: creates a
/// user (201); 409 if it exists (change it with PATCH).
async fn put_user(
    State(gw): State<Arc<Gateway>>,
    Path(uid): Path<String>,
    axum::Extension(who): axum::Extension<Claims>,
    body: Bytes,
) -> Response {
    let req = match parse_put(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let Some(password) = req.password else {
        return GatewayError::BadRequest("a new user needs a password".into()).into_response();
    };
    match gw
        .users
        .create(&uid, &password, req.description.as_deref().unwrap_or(""))
        .await
    {
        Ok(_) => {
            tracing::info!(uid = %uid, by = %who.uid, "user created");
            StatusCode::CREATED.into_response()
        }
        Err(e) => GatewayError::from(e).into_response(),
    }
}

/// `PATCH /acs/api/v1/users/<uid>`: a new password and/or description.
async fn patch_user(
    State(gw): State<Arc<Gateway>>,
    Path(uid): Path<String>,
    axum::Extension(who): axum::Extension<Claims>,
    body: Bytes,
) -> Response {
    let req = match parse_put(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let existing = match gw.users.get(&uid).await {
        Ok(Some(u)) => u,
        Ok(None) => return GatewayError::UnknownUser(uid).into_response(),
        Err(e) => return GatewayError::from(e).into_response(),
    };
    let description = req.description.unwrap_or(existing.description.clone());
    let result = match req.password {
        Some(p) => gw.users.put(&uid, &p, &description).await.map(|_| ()),
        None => gw.users.set_description(existing, &description).await,
    };
    match result {
        Ok(()) => {
            tracing::info!(uid = %uid, by = %who.uid, "user changed");
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => GatewayError::from(e).into_response(),
    }
}

async fn delete_user(
    State(gw): State<Arc<Gateway>>,
    Path(uid): Path<String>,
    axum::Extension(who): axum::Extension<Claims>,
) -> Response {
    match gw.users.delete(&uid).await {
        Ok(()) => {
            tracing::info!(uid = %uid, by = %who.uid, "user removed");
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => GatewayError::from(e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_routing_table() {
        let t = |p: &str| route_of(p);
        assert_eq!(t("/mesos"), Some((Target::Mesos, "/".into())));
        assert_eq!(
            t("/mesos/master/state"),
            Some((Target::Mesos, "/master/state".into()))
        );
        assert_eq!(t("/mesosphere"), None);
        assert_eq!(
            t("/marathon/v2/apps"),
            Some((Target::Marathon, "/v2/apps".into()))
        );
        assert_eq!(
            t("/service/marathon/v2/apps"),
            Some((Target::Marathon, "/v2/apps".into()))
        );
        assert_eq!(
            t("/service/metronome/v1/jobs"),
            Some((Target::Chronos, "/v1/jobs".into()))
        );
        assert_eq!(
            t("/package/install"),
            Some((Target::Cosmos, "/package/install".into()))
        );
        assert_eq!(
            t("/cosmos/service/update"),
            Some((Target::Cosmos, "/cosmos/service/update".into()))
        );
        assert_eq!(
            t("/capabilities"),
            Some((Target::Cosmos, "/capabilities".into()))
        );
        assert_eq!(t("/packages"), None);
        assert_eq!(
            t("/service/chronos/v1/scheduler/jobs"),
            Some((Target::Chronos, "/v1/scheduler/jobs".into()))
        );
        assert_eq!(
            t("/service/web/index.html"),
            Some((Target::Service("web".into()), "/index.html".into()))
        );
        assert_eq!(
            t("/service/web"),
            Some((Target::Service("web".into()), "/".into()))
        );
        assert_eq!(t("/service/"), None);
        assert_eq!(
            t("/agent/a-1/files/read"),
            Some((Target::Agent("a-1".into()), "/files/read".into()))
        );
        assert_eq!(
            t("/slave/a-1/state"),
            Some((Target::Agent("a-1".into()), "/state".into()))
        );
        assert_eq!(t("/metadata"), None);
    }

    #[test]
    fn cookies_are_found_by_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; dcos-acs-auth-cookie=tok; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&h, AUTH_COOKIE).as_deref(), Some("tok"));
        assert_eq!(cookie(&h, "c"), None);
    }
}
