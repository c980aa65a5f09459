//! Handler tests: the router over an engine on an in-memory store, driven
//! with `tower::ServiceExt::oneshot` (no socket, no master).

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use dcos_store::MemStore;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

use super::{router, AppState};
use crate::framework::Engine;
use crate::store::Store;

async fn app() -> (axum::Router, Arc<Engine>) {
    let engine = Engine::new(10);
    engine
        .take_over(Store::new(Arc::new(MemStore::new()), None))
        .await
        .unwrap();
    let app = router(AppState {
        engine: engine.clone(),
        election: None,
        me: "http://127.0.0.1:4400".into(),
    });
    (app, engine)
}

async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, String) {
    let mut req = Request::builder().method(method).uri(uri);
    let body = match body {
        Some(b) => {
            req = req.header("content-type", "application/json");
            Body::from(b.to_string())
        }
        None => Body::empty(),
    };
    let resp = app.clone().oneshot(req.body(body).unwrap()).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

fn job(name: &str) -> Value {
    json!({"name": name, "command": "echo hi", "schedule": "R/2099-01-01T00:00:00Z/P1D",
           "owner": "o@example.com", "disabled": false, "cpus": 0.1, "mem": 32})
}

#[tokio::test]
async fn chronos_add_get_search_delete() {
    let (app, _) = app().await;
    assert_eq!(
        call(&app, "POST", "/v1/scheduler/iso8601", Some(job("a")))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let mut b = job("b");
    b.as_object_mut().unwrap().remove("schedule");
    b["parents"] = json!(["a"]);
    assert_eq!(
        call(&app, "POST", "/v1/scheduler/dependency", Some(b))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let (s, body) = call(&app, "GET", "/v1/scheduler/job/a", None).await;
    assert_eq!(s, StatusCode::OK);
    let a: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(a["schedule"], "R/2099-01-01T00:00:00Z/P1D");
    assert_eq!(a["retries"], 2);
    assert_eq!(a["successCount"], 0);
    let (_, found) = call(&app, "GET", "/v1/scheduler/jobs/search?name=B", None).await;
    let found: Value = serde_json::from_str(&found).unwrap();
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert_eq!(found[0]["parents"], json!(["a"]));
    let (_, csv) = call(&app, "GET", "/v1/scheduler/graph/csv", None).await;
    assert_eq!(csv, "node,a,fresh,idle\nnode,b,fresh,idle\nlink,a,b\n");
    let (_, summary) = call(&app, "GET", "/v1/scheduler/jobs/summary", None).await;
    assert!(summary.contains("\"name\":\"b\""), "{summary}");
    // A parent with children cannot go first.
    let (s, msg) = call(&app, "DELETE", "/v1/scheduler/job/a", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{msg}");
    assert_eq!(
        call(&app, "DELETE", "/v1/scheduler/job/b", None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(&app, "DELETE", "/v1/scheduler/job/a", None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(&app, "GET", "/v1/scheduler/job/a", None).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn chronos_errors_are_plain_400s_and_change_nothing() {
    let (app, engine) = app().await;
    let mut bad = job("x");
    bad["schedule"] = json!("R/2025-01-01T00:00:00Z/P");
    let (s, msg) = call(&app, "POST", "/v1/scheduler/iso8601", Some(bad)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(msg.contains("invalid ISO 8601 period 'P'"), "{msg}");
    let (s, msg) = call(
        &app,
        "POST",
        "/v1/scheduler/iso8601",
        Some(json!({"name": 1})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(msg.starts_with("invalid job JSON"), "{msg}");
    assert!(engine.books.lock().await.as_ref().unwrap().jobs.is_empty());
    assert_eq!(
        call(&app, "PUT", "/v1/scheduler/job/none", None).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn metronome_jobs_schedules_and_runs() {
    let (app, engine) = app().await;
    let spec = json!({"id": "prod.backup", "description": "d", "labels": {"a": "b"},
                      "run": {"cmd": "backup", "cpus": 0.5, "mem": 64, "disk": 0}});
    let (s, body) = call(&app, "POST", "/v1/jobs", Some(spec.clone())).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let created: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(created["run"]["cmd"], "backup");
    assert!(created.get("schedules").is_none(), "only JobSpec fields");
    assert_eq!(
        call(&app, "POST", "/v1/jobs", Some(spec)).await.0,
        StatusCode::CONFLICT
    );
    let sched = json!({"id": "daily", "cron": "0 3 * * *", "timezone": "Europe/Berlin"});
    let (s, body) = call(&app, "POST", "/v1/jobs/prod.backup/schedules", Some(sched)).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let sched: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(sched["concurrencyPolicy"], "ALLOW");
    assert_eq!(sched["startingDeadlineSeconds"], 900);
    let next = sched["nextRunAt"].as_str().unwrap();
    assert!(
        next.ends_with(":00:00.000Z") && (next.contains("T02:") || next.contains("T01:")),
        "{next}"
    );
    let (_, list) = call(
        &app,
        "GET",
        "/v1/jobs?embed=activeRuns&embed=historySummary&embed=schedules",
        None,
    )
    .await;
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list[0]["activeRuns"], json!([]));
    assert_eq!(list[0]["historySummary"]["successCount"], 0);
    assert_eq!(list[0]["schedules"][0]["id"], "daily");
    let (s, run) = call(&app, "POST", "/v1/jobs/prod.backup/runs", None).await;
    assert_eq!(s, StatusCode::CREATED);
    let run: Value = serde_json::from_str(&run).unwrap();
    assert_eq!(run["status"], "INITIAL");
    let id = run["id"].as_str().unwrap();
    let (s, _) = call(
        &app,
        "GET",
        &format!("/v1/jobs/prod.backup/runs/{id}"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    // Deleting with an active run: 409 unless asked to stop it.
    assert_eq!(
        call(&app, "DELETE", "/v1/jobs/prod.backup", None).await.0,
        StatusCode::CONFLICT
    );
    let (s, _) = call(
        &app,
        "POST",
        &format!("/v1/jobs/prod.backup/runs/{id}/actions/stop"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let books = engine.books.lock().await;
    let r = books
        .as_ref()
        .unwrap()
        .run("prod.backup", id)
        .unwrap()
        .clone();
    drop(books);
    assert_eq!(r.status, crate::run::RunStatus::Failed);
    assert_eq!(
        call(&app, "DELETE", "/v1/jobs/prod.backup/schedules/daily", None)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        call(&app, "DELETE", "/v1/jobs/prod.backup", None).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn metronome_errors_are_422_with_paths() {
    let (app, _) = app().await;
    let spec = json!({"id": "Bad Id", "run": {"cpus": 0.0, "mem": 64},
                      "schedules": [{"id": "s", "cron": "* * * * * *"}]});
    let (s, body) = call(&app, "POST", "/v1/jobs", Some(spec)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let err: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(err["message"], "Object is not valid");
    let paths: Vec<&str> = err["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        vec!["/schedules/0/cron"],
        "schedules are checked first: {err}"
    );
    let spec = json!({"id": "Bad Id", "run": {"cpus": 0.0, "mem": 64}});
    let (_, body) = call(&app, "POST", "/v1/jobs", Some(spec)).await;
    let err: Value = serde_json::from_str(&body).unwrap();
    let paths: Vec<&str> = err["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, vec!["/id", "/run", "/run/cpus"], "{err}");
    let (s, body) = call(
        &app,
        "POST",
        "/v1/jobs",
        Some(json!({"id": "x", "run": {"cmd": "a"}, "dependencies": [{"id": "ghost"}]})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("ghost"), "{body}");
    let (_, jobs) = call(&app, "GET", "/v1/jobs", None).await;
    assert_eq!(jobs, "[]");
}

#[tokio::test]
async fn a_standby_without_a_leader_answers_503_but_serves_ping() {
    let engine = Engine::new(10);
    let app = router(AppState {
        engine,
        election: None,
        me: "http://127.0.0.1:4400".into(),
    });
    assert_eq!(
        call(&app, "GET", "/v1/jobs", None).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        call(&app, "GET", "/ping", None).await,
        (StatusCode::OK, "pong".into())
    );
}

/// The hostile-input probe's requests (issue 20): each is refused with a
/// precise error, nothing is stored, and the server keeps serving.
#[tokio::test]
async fn edge_numbers_from_the_probe_are_refused_and_nothing_is_stored() {
    let (app, _) = app().await;
    let mut j = job("overflow");
    j["schedule"] = json!("R/2020-01-01T00:00:00Z/PT9223372036854775807S");
    let (status, body) = call(&app, "POST", "/v1/scheduler/iso8601", Some(j)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("too long"), "{body}");
    let mut j = job("minus");
    j["schedule"] = json!("R-1/2020-01-01T00:00:00Z/PT1S");
    let (status, body) = call(&app, "POST", "/v1/scheduler/iso8601", Some(j)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let huge = json!({"id": "huge", "run": {"cmd": "true", "cpus": 0.1, "mem": 32, "disk": 0,
                      "maxLaunchDelay": 10_000_000_000_000_000u64}});
    let (status, body) = call(&app, "POST", "/v1/jobs", Some(huge)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("/run/maxLaunchDelay"), "{body}");
    let big = json!({"id": "big", "run": {"cmd": "true", "cpus": 1e308, "mem": 1e308, "disk": 0}});
    let (status, body) = call(&app, "POST", "/v1/jobs", Some(big)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body.contains("/run/cpus") && body.contains("/run/mem"),
        "{body}"
    );
    let (status, body) = call(&app, "GET", "/v1/jobs", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), json!([]));
}
