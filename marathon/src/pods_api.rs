//! `/v2/pods`: Marathon's pod API on top of the app machinery. A pod is
//! stored and deployed as a run spec ([`crate::pod::PodDefinition::run_spec`]),
//! so creating, replacing, scaling and deleting one is a change of the
//! books like an app's ([`crate::api::apply`]); this module only parses the
//! paths (`{id}::status`, `::versions[/{v}]`, `::instances[/{iid}]`),
//! checks the bodies and renders pods and their status.
//!
//! | request | answer |
//! |---|---|
//! | `POST /v2/pods` | 201, the pod, `Marathon-Deployment-Id`; 409 if it exists |
//! | `GET /v2/pods`, `GET /v2/pods/::status` | every pod; every PodStatus |
//! | `GET|PUT|DELETE /v2/pods/{id}` | the pod; upsert (200/201, `force`); 202 |
//! | `GET /v2/pods/{id}::status` | its PodStatus (STABLE, DEGRADED or TERMINAL, as Marathon) |
//! | `GET /v2/pods/{id}::versions[/{v}]` | versions, newest first; the pod at `v` |
//! | `DELETE /v2/pods/{id}::instances[/{iid}]` | kills (body: ids); they are replaced |

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use dcos_store::Kv;
use serde_json::{json, Value};

use crate::api::{apply, body_json, flag, kill, query, ApiError, Result};
use crate::app::{canonical_id, AppDefinition, Invalid, ID_PATTERN};
use crate::pod::{self, PodDefinition};
use crate::runtime::{now, Shared};
use crate::state::{self, Books};

/// The routes under `/v2/pods`.
pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/v2/pods", get(list).post(create))
        .route("/v2/pods/{*rest}", any(pod_route))
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("Pod '{id}' does not exist"))
}

fn pod_of<'a>(books: &'a Books, id: &str) -> Result<&'a AppDefinition> {
    books
        .apps
        .get(id)
        .filter(|a| a.pod.is_some())
        .ok_or_else(|| not_found(id))
}

fn with_deployment(mut resp: Response, change: &state::Change) -> Response {
    if let Some(d) = &change.deployment {
        if let Ok(v) = HeaderValue::from_str(&d.id) {
            resp.headers_mut().insert("Marathon-Deployment-Id", v);
        }
    }
    resp
}

fn status_of(books: &Books, spec: &AppDefinition, t: f64) -> Value {
    let instances: Vec<&state::Instance> = books.instances_of(&spec.id).collect();
    // Deleted pods are gone from the books, so only a pod being stopped
    // by a deployment it is still in can be terminating.
    let terminating = books.deployments_of(&spec.id).iter().any(|d| {
        d.steps
            .iter()
            .flatten()
            .any(|(id, action)| id == &spec.id && action == "StopPod")
    });
    pod::status_json(spec, &instances, terminating, t)
}

async fn list(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let books = shared.books.lock();
    Json(Value::Array(
        books
            .apps
            .values()
            .filter(|a| a.pod.is_some())
            .map(pod::render)
            .collect(),
    ))
}

fn parse(value: Value, id: Option<&str>) -> Result<PodDefinition> {
    let mut value = value;
    if let (Some(id), Some(obj)) = (id, value.as_object_mut()) {
        let given = obj.get("id").and_then(Value::as_str).unwrap_or_default();
        if given.is_empty() {
            obj.insert("id".into(), json!(id));
        } else if canonical_id(given, "/").as_deref() != Some(id) {
            return Err(
                Invalid::at("/id", "the pod id in the body does not match the path").into(),
            );
        }
    }
    Ok(PodDefinition::from_value(value, "/")?)
}

async fn create(
    State(shared): State<Arc<Shared>>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response> {
    let force = flag(&query(&raw), "force");
    let pod = parse(body_json(&body).await?, None)?;
    if shared.books.lock().apps.contains_key(&pod.id) {
        return Err(ApiError::Conflict(format!(
            "A pod with id [{}] already exists.",
            pod.id
        )));
    }
    let change = apply(
        &shared,
        vec![pod.run_spec()],
        vec![],
        BTreeSet::new(),
        force,
        vec![],
    )
    .await?;
    let body = {
        let books = shared.books.lock();
        pod_of(&books, &pod.id).map(pod::render)?
    };
    let mut resp = with_deployment((StatusCode::CREATED, Json(body)).into_response(), &change);
    if let Ok(v) = HeaderValue::from_str(&format!("/v2/pods{}", pod.id)) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// Splits `a/b::status` into (`/a/b`, `::status`), a plain id into (id, "").
fn split(rest: &str) -> (String, &str) {
    let rest = rest.trim_start_matches('/');
    match rest.find("::") {
        Some(i) => (format!("/{}", rest[..i].trim_end_matches('/')), &rest[i..]),
        None => (format!("/{}", rest.trim_end_matches('/')), ""),
    }
}

async fn pod_route(
    State(shared): State<Arc<Shared>>,
    Path(rest): Path<String>,
    method: Method,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response> {
    let q = query(&raw);
    let force = flag(&q, "force");
    let (id, sub) = split(&rest);
    if id == "/" && sub == "::status" {
        let t = now();
        let books = shared.books.lock();
        let all: Vec<Value> = books
            .apps
            .values()
            .filter(|a| a.pod.is_some())
            .map(|a| status_of(&books, a, t))
            .collect();
        return Ok(Json(Value::Array(all)).into_response());
    }
    let id = canonical_id(&id, "/").filter(|i| i != "/").ok_or_else(|| {
        ApiError::from(Invalid::at(
            "/id",
            format!("must fully match regular expression '{ID_PATTERN}'"),
        ))
    })?;
    match (sub, &method) {
        ("::status", &Method::GET) => {
            let books = shared.books.lock();
            let spec = pod_of(&books, &id)?;
            Ok(Json(status_of(&books, spec, now())).into_response())
        }
        ("::versions", &Method::GET) => {
            let books = shared.books.lock();
            pod_of(&books, &id)?;
            let mut v = books.versions.get(&id).cloned().unwrap_or_default();
            v.reverse();
            Ok(Json(v).into_response())
        }
        (s, &Method::GET) if s.starts_with("::versions/") => {
            let version = &s["::versions/".len()..];
            let kv = shared
                .store
                .get(&state::version_key(&id, version))
                .await?
                .ok_or_else(|| {
                    ApiError::NotFound(format!("Pod '{id}' does not exist in version {version}"))
                })?;
            let spec: AppDefinition = serde_json::from_slice(&kv.value)
                .ok()
                .filter(|a: &AppDefinition| a.pod.is_some())
                .ok_or_else(|| not_found(&id))?;
            Ok(Json(pod::render(&spec)).into_response())
        }
        (s, &Method::DELETE) if s == "::instances" || s.starts_with("::instances/") => {
            let ids: Vec<String> = match s.strip_prefix("::instances/") {
                Some(one) => vec![one.to_owned()],
                None => serde_json::from_slice(&body).map_err(|e| {
                    ApiError::BadJson(format!("expected an array of instance ids: {e}"))
                })?,
            };
            let (views, known) = {
                let books = shared.books.lock();
                let spec = pod_of(&books, &id)?;
                let pod = spec.pod.as_deref().expect("a pod");
                let t = now();
                let mut views = Vec::new();
                let mut known = Vec::new();
                for iid in &ids {
                    if let Some(inst) = books.instances.get(iid).filter(|i| i.app_id == id) {
                        views.push(pod::instance_json(pod, inst, t));
                        known.push(iid.clone());
                    }
                }
                (views, known)
            };
            if known.is_empty() {
                return Err(ApiError::NotFound(format!(
                    "Pod '{id}' has no instance {}",
                    ids.join(", ")
                )));
            }
            kill(&shared, &known).await?;
            if s == "::instances" {
                Ok(Json(views).into_response())
            } else {
                Ok(Json(views.into_iter().next().unwrap_or_default()).into_response())
            }
        }
        ("", &Method::GET) => {
            let books = shared.books.lock();
            Ok(Json(pod::render(pod_of(&books, &id)?)).into_response())
        }
        ("", &Method::PUT) => {
            let pod = parse(body_json(&body).await?, Some(&id))?;
            let existed = {
                let books = shared.books.lock();
                match books.apps.get(&id) {
                    Some(a) if a.pod.is_none() => {
                        return Err(ApiError::Conflict(format!(
                            "An app with id [{id}] already exists."
                        )))
                    }
                    other => other.is_some(),
                }
            };
            let change = apply(
                &shared,
                vec![pod.run_spec()],
                vec![],
                BTreeSet::new(),
                force,
                vec![],
            )
            .await;
            let change = match change {
                Err(ApiError::Change(state::ChangeError::NoChange)) => {
                    let books = shared.books.lock();
                    return Ok(Json(pod::render(pod_of(&books, &id)?)).into_response());
                }
                other => other?,
            };
            let body = {
                let books = shared.books.lock();
                pod_of(&books, &id).map(pod::render)?
            };
            let status = if existed {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            Ok(with_deployment(
                (status, Json(body)).into_response(),
                &change,
            ))
        }
        ("", &Method::DELETE) => {
            pod_of(&shared.books.lock(), &id)?;
            let change = apply(&shared, vec![], vec![id], BTreeSet::new(), force, vec![]).await?;
            let body = json!({"deploymentId": change.deployment.as_ref().map(|d| d.id.clone()), "version": change.version});
            Ok(with_deployment(
                (StatusCode::ACCEPTED, Json(body)).into_response(),
                &change,
            ))
        }
        _ => Err(ApiError::NotFound(format!(
            "no {method} on /v2/pods{id}{sub}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::split;
    use std::sync::Arc;

    use axum::body::Body;
    use axum::extract::Request;
    use axum::http::StatusCode;
    use http_body_util::BodyExt;
    use serde_json::{json, Value};
    use tower::ServiceExt;

    use crate::api::tests::shared;
    use crate::pod::PodDefinition;
    use crate::runtime::Shared;

    async fn call(s: &Arc<Shared>, method: &str, uri: &str, body: &str) -> (StatusCode, Value) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json")
            .body(Body::from(body.to_owned()))
            .unwrap();
        let resp = crate::api::router(s.clone()).oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    #[tokio::test]
    async fn pods_are_served_beside_apps_not_as_apps() {
        let s = shared();
        let pod = PodDefinition::from_value(
            json!({"id": "/g/p", "containers": [{"name": "c", "resources": {"cpus": 0.1, "mem": 16},
                   "exec": {"command": {"shell": "sleep 100"}}}], "scaling": {"kind": "fixed", "instances": 3}}),
            "/",
        )
        .unwrap();
        {
            let mut books = s.books.lock();
            books
                .change(
                    vec![pod.run_spec()],
                    vec![],
                    &Default::default(),
                    false,
                    "d1".into(),
                    1000.0,
                )
                .unwrap();
            books.drive(1000.0);
        }
        // Clients probe pod support with HEAD.
        let (st, _) = call(&s, "HEAD", "/v2/pods", "").await;
        assert_eq!(st, StatusCode::OK);
        let (st, list) = call(&s, "GET", "/v2/pods", "").await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(list[0]["id"], "/g/p");
        assert_eq!(list[0]["scaling"], json!({"kind": "fixed", "instances": 3}));
        assert_eq!(list[0]["scheduling"]["backoff"]["maxLaunchDelay"], 3600.0);
        let (st, one) = call(&s, "GET", "/v2/pods/g/p", "").await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(one["containers"][0]["name"], "c");
        let (st, status) = call(&s, "GET", "/v2/pods/g/p::status", "").await;
        assert_eq!(st, StatusCode::OK);
        // Nothing launched yet: DEGRADED, as Marathon says.
        assert_eq!(status["status"], "DEGRADED");
        assert_eq!(status["instances"], json!([]));
        let (_, all) = call(&s, "GET", "/v2/pods/::status", "").await;
        assert_eq!(all[0]["id"], "/g/p");
        let (_, queue) = call(&s, "GET", "/v2/queue", "").await;
        assert_eq!(queue["queue"][0]["pod"]["id"], "/g/p", "{queue}");
        assert_eq!(queue["queue"][0]["count"], 3);
        let (_, group) = call(&s, "GET", "/v2/groups/g", "").await;
        assert_eq!(group["pods"][0]["id"], "/g/p");
        assert_eq!(group["apps"], json!([]));
        let (_, apps) = call(&s, "GET", "/v2/apps", "").await;
        assert_eq!(apps["apps"], json!([]));
        let (st, _) = call(&s, "GET", "/v2/apps/g/p", "").await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        let (_, deployments) = call(&s, "GET", "/v2/deployments", "").await;
        assert_eq!(deployments[0]["affectedPods"], json!(["/g/p"]));
        // Refusals before anything is written.
        let (st, body) = call(&s, "GET", "/v2/pods/nope", "").await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        assert_eq!(body["message"], "Pod '/nope' does not exist");
        let (st, _) = call(&s, "POST", "/v2/pods", &one.to_string()).await;
        assert_eq!(st, StatusCode::CONFLICT);
        let (st, _) = call(&s, "POST", "/v2/pods", "{").await;
        assert_eq!(st, StatusCode::BAD_REQUEST);
        let (st, body) = call(
            &s,
            "PUT",
            "/v2/pods/g/p",
            r#"{"id": "/g/other", "containers": []}"#,
        )
        .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["details"][0]["path"], "/id");
        let (st, _) = call(&s, "DELETE", "/v2/pods/g/p::instances/g_p.instance-x", "").await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        let (st, _) = call(&s, "PUT", "/v2/apps/g/p", r#"{"cmd": "x"}"#).await;
        assert_eq!(st, StatusCode::CONFLICT);
        // The pod is in a running deployment: a new version waits for
        // `force`.
        let mut changed = one.clone();
        changed["environment"] = json!({"A": "1"});
        let (st, body) = call(&s, "PUT", "/v2/pods/g/p", &changed.to_string()).await;
        assert_eq!(st, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["deployments"][0]["id"], "d1");
    }

    #[test]
    fn paths_split_at_the_double_colon() {
        assert_eq!(split("a/b::status"), ("/a/b".into(), "::status"));
        assert_eq!(split("a::versions/2020"), ("/a".into(), "::versions/2020"));
        assert_eq!(split("::status"), ("/".into(), "::status"));
        assert_eq!(split("a/b"), ("/a/b".into(), ""));
        assert_eq!(
            split("a::instances/a.instance-1"),
            ("/a".into(), "::instances/a.instance-1")
        );
    }
}
