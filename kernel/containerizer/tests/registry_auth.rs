//! The registry client's authentication against a small registry served
//! here (axum on a loopback port): a Bearer challenge answered through a
//! token service that takes basic credentials, and a plain Basic
//! challenge; wrong or missing credentials give precise errors.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use dcos_containerizer::build;
use dcos_containerizer::reference::ImageRef;
use dcos_containerizer::registry::{pull, Credentials, PullError};
use dcos_containerizer::store::{Digest, ImageStore};

struct Served {
    port: u16,
    manifest: Vec<u8>,
    blobs: Vec<Vec<u8>>,
}

fn basic(user: &str, pass: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

fn authorization(h: &HeaderMap) -> &str {
    h.get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// `bearer/…` repositories want a token; `basic/…` ones basic auth.
fn challenge(s: &Served, repo: &str, h: &HeaderMap) -> Option<Response> {
    let ok = if repo.starts_with("bearer/") {
        authorization(h) == "Bearer tok-123"
    } else {
        authorization(h) == basic("alice", "s3cret")
    };
    if ok {
        return None;
    }
    let header = if repo.starts_with("bearer/") {
        format!(
            "Bearer realm=\"http://127.0.0.1:{}/token\",service=\"test\",scope=\"repository:{repo}:pull\"",
            s.port
        )
    } else {
        "Basic realm=\"test\"".to_owned()
    };
    Some(
        (
            StatusCode::UNAUTHORIZED,
            [("www-authenticate", header)],
            "{}",
        )
            .into_response(),
    )
}

async fn manifest(
    State(s): State<Arc<Served>>,
    Path((ns, name, _r)): Path<(String, String, String)>,
    h: HeaderMap,
) -> Response {
    if let Some(denied) = challenge(&s, &format!("{ns}/{name}"), &h) {
        return denied;
    }
    (
        [("content-type", dcos_containerizer::image::DOCKER_MANIFEST)],
        s.manifest.clone(),
    )
        .into_response()
}

async fn blob(
    State(s): State<Arc<Served>>,
    Path((ns, name, digest)): Path<(String, String, String)>,
    h: HeaderMap,
) -> Response {
    if let Some(denied) = challenge(&s, &format!("{ns}/{name}"), &h) {
        return denied;
    }
    match s.blobs.iter().find(|b| Digest::of(b).as_str() == digest) {
        Some(b) => b.clone().into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn token(h: HeaderMap) -> Response {
    if authorization(&h) == basic("alice", "s3cret") {
        Json(serde_json::json!({"token": "tok-123"})).into_response()
    } else {
        StatusCode::UNAUTHORIZED.into_response()
    }
}

async fn serve() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let layer = build::layer_tar(&[build::Entry::File(
        "etc/marker".into(),
        b"auth".to_vec(),
        0o644,
    )]);
    let config = build::config_json(
        "amd64",
        &[],
        &["/bin/sh"],
        &[],
        std::slice::from_ref(&layer),
    );
    let served = Arc::new(Served {
        port,
        manifest: build::manifest_json(&config, std::slice::from_ref(&layer)),
        blobs: vec![layer, config],
    });
    let app = Router::new()
        .route("/v2/{ns}/{name}/manifests/{r}", get(manifest))
        .route("/v2/{ns}/{name}/blobs/{d}", get(blob))
        .route("/token", get(token))
        .with_state(served);
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

fn alice() -> Option<Credentials> {
    Some(Credentials {
        username: "alice".into(),
        password: "s3cret".into(),
    })
}

#[tokio::test]
async fn bearer_and_basic_challenges_are_answered() {
    let port = serve().await;
    for repo in ["bearer/app", "basic/app"] {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        let image = ImageRef::parse(&format!("127.0.0.1:{port}/{repo}:1")).unwrap();
        let stored = pull(&store, &image, alice()).await.unwrap();
        let marker = store.layer_path(&stored.layers[0]).join("etc/marker");
        assert_eq!(std::fs::read(marker).unwrap(), b"auth", "{repo}");
    }
}

#[tokio::test]
async fn missing_or_wrong_credentials_are_refused_precisely() {
    let port = serve().await;
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let bearer = ImageRef::parse(&format!("127.0.0.1:{port}/bearer/app:1")).unwrap();
    let wrong = Some(Credentials {
        username: "alice".into(),
        password: "nope".into(),
    });
    let err = pull(&store, &bearer, wrong).await.unwrap_err();
    assert!(matches!(err, PullError::Unauthorized { .. }), "{err}");
    assert!(
        err.to_string().contains(&format!(
            "the token service at http://127.0.0.1:{port}/token answered 401"
        )),
        "{err}"
    );
    let basic_repo = ImageRef::parse(&format!("127.0.0.1:{port}/basic/app:1")).unwrap();
    let err = pull(&store, &basic_repo, None).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("registry 127.0.0.1:{port} refused access to '127.0.0.1:{port}/basic/app:1': credentials required")
    );
}
