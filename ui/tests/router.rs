//! The gateway's router driven with `tower::ServiceExt::oneshot` (no
//! listening socket for the gateway), in front of a small echo backend on
//! a real loopback port that plays master, Marathon and Chronos: every
//! route's token check, the public routes, the routing table end to end,
//! the headers a backend sees, the users API, the join API, and the
//! dashboard's shell and assets (public) beside the login cookie.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use dcos_gateway::auth::{self, Tokens};
use dcos_gateway::upstream::Upstreams;
use dcos_gateway::users::Users;
use dcos_gateway::{ClusterInfo, Gateway};
use dcos_store::MemStore;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

const SECRET: &str = "test-cluster-secret";
const JOIN: &str = "join-token-123";

/// An echo server: answers every request with what it received, and
/// plays a leading master for `/master/redirect`.
async fn echo_backend(name: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let echo = move |req: Request| async move {
        let headers: serde_json::Map<String, Value> = req
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap_or_default())))
            .collect();
        let method = req.method().to_string();
        let uri = req.uri().to_string();
        let body = req.into_body().collect().await.unwrap().to_bytes();
        Json(json!({
            "backend": name,
            "method": method,
            "uri": uri,
            "headers": headers,
            "body": String::from_utf8_lossy(&body),
        }))
        .into_response()
    };
    let app = Router::new()
        .route(
            "/master/redirect",
            get(move || async move {
                (
                    StatusCode::TEMPORARY_REDIRECT,
                    [(header::LOCATION, format!("//{addr}"))],
                )
                    .into_response()
            }),
        )
        .route("/master/health", get(|| async { StatusCode::OK }))
        .route(
            "/store/v1/status",
            get(move || async move {
                Json(
                    json!({"id": 1, "addr": addr.to_string(), "state": "Leader", "leader": 1,
                    "leader_addr": addr.to_string(), "term": 3, "revision": 42}),
                )
            }),
        )
        .route("/ping", get(|| async { "pong" }))
        .fallback(echo);
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

struct Fixture {
    app: Router,
    tokens: Tokens,
    master: String,
    marathon: String,
    chronos: String,
}

async fn fixture() -> Fixture {
    fixture_with_master(echo_backend("master").await).await
}

async fn fixture_with_master(master: String) -> Fixture {
    let marathon = echo_backend("marathon").await;
    let chronos = echo_backend("chronos").await;
    let cosmos = echo_backend("cosmos").await;
    let users = Users::new(Arc::new(MemStore::new()));
    users.ensure_first("admin", "admin-pw").await.unwrap();
    let tokens = Tokens::new(SECRET.as_bytes(), auth::DEFAULT_TOKEN_LIFETIME);
    let exe = std::env::current_exe().unwrap();
    let gw = Arc::new(Gateway {
        tokens: tokens.clone(),
        users,
        upstreams: Upstreams::new(
            std::slice::from_ref(&master),
            std::slice::from_ref(&marathon),
            std::slice::from_ref(&chronos),
            std::slice::from_ref(&cosmos),
        ),
        cluster: ClusterInfo {
            id: "cluster-1".into(),
            secret: SECRET.into(),
            join_token: Some(JOIN.into()),
            public_ip: "127.0.0.1".into(),
        },
        binary: exe,
        bootstrap_id: Default::default(),
    });
    Fixture {
        app: dcos_gateway::routes::router(gw),
        tokens,
        master,
        marathon,
        chronos,
    }
}

impl Fixture {
    async fn call(&self, req: axum::http::Request<Body>) -> (StatusCode, HeaderMap, Vec<u8>) {
        let mut req = req;
        req.extensions_mut()
            .insert(ConnectInfo::<SocketAddr>("10.1.2.3:5555".parse().unwrap()));
        let resp: Response =
            tokio::time::timeout(Duration::from_secs(10), self.app.clone().oneshot(req))
                .await
                .expect("answer within 10 s")
                .unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        (status, headers, body)
    }

    async fn json(
        &self,
        method: Method,
        path: &str,
        auth: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut b = axum::http::Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "gw.example:8000");
        if let Some(a) = auth {
            b = b.header(header::AUTHORIZATION, a);
        }
        let body = match body {
            Some(v) => {
                b = b.header(header::CONTENT_TYPE, "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        let (status, _, bytes) = self.call(b.body(body).unwrap()).await;
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    fn auth(&self) -> String {
        format!("token={}", self.tokens.issue("admin"))
    }
}

const PROTECTED: &[(&str, &str)] = &[
    ("GET", "/metadata"),
    ("GET", "/system/health/v1"),
    ("GET", "/acs/api/v1/users"),
    ("GET", "/acs/api/v1/users/admin"),
    ("PUT", "/acs/api/v1/users/eve"),
    ("DELETE", "/acs/api/v1/users/admin"),
    ("GET", "/mesos/master/state"),
    ("POST", "/mesos/api/v1"),
    ("GET", "/marathon/v2/apps"),
    ("GET", "/service/marathon/v2/apps"),
    ("GET", "/service/chronos/v1/scheduler/jobs"),
    ("GET", "/service/metronome/v1/jobs"),
    ("POST", "/package/search"),
    ("POST", "/cosmos/service/update"),
    ("GET", "/capabilities"),
    ("GET", "/service/web/"),
    ("GET", "/agent/a1/files/read?path=/x"),
    ("GET", "/slave/a1/state"),
    ("GET", "/system/v1/logs/v2/task/t1"),
    ("GET", "/system/v1/logs/v2/task/t1/file/stderr"),
    ("GET", "/no/such/route"),
    // Not one of the dashboard's own routes: a path outside them stays
    // as closed as any unknown one.
    ("GET", "/servicesx"),
    ("GET", "/assetsx/a.js"),
];

#[tokio::test]
async fn every_protected_route_answers_401_without_a_valid_token() {
    let f = fixture().await;
    let expired = format!(
        "token={}",
        f.tokens.issue_until("admin", 1_000_000_000) // 2001
    );
    let forged = format!(
        "token={}",
        Tokens::new(b"not-the-secret", auth::DEFAULT_TOKEN_LIFETIME).issue("admin")
    );
    let wrong_scheme = format!("Basic {}", f.tokens.issue("admin"));
    for (method, path) in PROTECTED {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        for (auth, code) in [
            (None, "ERR_MISSING_AUTH_TOKEN"),
            (Some(expired.as_str()), "ERR_INVALID_AUTH_TOKEN"),
            (Some(forged.as_str()), "ERR_INVALID_AUTH_TOKEN"),
            (Some(wrong_scheme.as_str()), "ERR_MISSING_AUTH_TOKEN"),
            (Some("token=garbage"), "ERR_INVALID_AUTH_TOKEN"),
        ] {
            let (status, body) = f.json(method.clone(), path, auth, None).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path} {auth:?}");
            assert_eq!(body["code"], code, "{method} {path}: {body}");
            assert!(body["title"].is_string() && body["description"].is_string());
        }
    }
}

#[tokio::test]
async fn a_valid_token_opens_every_protected_route() {
    let f = fixture().await;
    let bearer = format!("Bearer {}", f.tokens.issue("admin"));
    for (auth, path) in [(f.auth(), "/metadata"), (bearer, "/metadata")] {
        let (status, body) = f.json(Method::GET, path, Some(&auth), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body,
            json!({"CLUSTER_ID": "cluster-1", "PUBLIC_IPV4": "127.0.0.1"})
        );
    }
    // The UI's cookie works too.
    let req = axum::http::Request::get("/metadata")
        .header(
            header::COOKIE,
            format!("a=b; dcos-acs-auth-cookie={}", f.tokens.issue("admin")),
        )
        .body(Body::empty())
        .unwrap();
    assert_eq!(f.call(req).await.0, StatusCode::OK);
    // An unknown path with a token is a plain 404.
    let (status, body) = f
        .json(Method::GET, "/no/such/route", Some(&f.auth()), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], "ERR_NOT_FOUND");
}

#[tokio::test]
async fn the_routing_table_reaches_the_right_backend_with_the_right_path() {
    let f = fixture().await;
    let auth = f.auth();
    for (path, backend, uri) in [
        (
            "/mesos/master/state?jsonp=x",
            "master",
            "/master/state?jsonp=x",
        ),
        ("/mesos", "master", "/"),
        ("/mesos/", "master", "/"),
        ("/marathon/", "marathon", "/"),
        (
            "/marathon/v2/apps?embed=apps.tasks",
            "marathon",
            "/v2/apps?embed=apps.tasks",
        ),
        ("/service/marathon/v2/info", "marathon", "/v2/info"),
        (
            "/service/chronos/v1/scheduler/jobs",
            "chronos",
            "/v1/scheduler/jobs",
        ),
        (
            "/service/metronome/v1/jobs/a%2Fb",
            "chronos",
            "/v1/jobs/a%2Fb",
        ),
        (
            "/package/repository/list",
            "cosmos",
            "/package/repository/list",
        ),
        (
            "/cosmos/service/describe",
            "cosmos",
            "/cosmos/service/describe",
        ),
        ("/capabilities", "cosmos", "/capabilities"),
    ] {
        let (status, body) = f.json(Method::GET, path, Some(&auth), None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert_eq!(body["backend"], backend, "{path}");
        assert_eq!(body["uri"], uri, "{path}");
    }
    let _ = (&f.master, &f.marathon, &f.chronos);
}

#[tokio::test]
async fn backends_see_forwarded_headers_but_never_the_token() {
    let f = fixture().await;
    let req = axum::http::Request::post("/marathon/v2/apps")
        .header(header::AUTHORIZATION, f.auth())
        .header(header::HOST, "gw.example:8000")
        .header(header::CONNECTION, "keep-alive, x-hop")
        .header("x-hop", "1")
        .header("x-custom", "kept")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"id":"/a"}"#))
        .unwrap();
    let (status, _, bytes) = f.call(req).await;
    assert_eq!(status, StatusCode::OK);
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    let h = &body["headers"];
    assert_eq!(body["method"], "POST");
    assert_eq!(body["body"], r#"{"id":"/a"}"#);
    assert!(h.get("authorization").is_none(), "{h}");
    assert!(h.get("x-hop").is_none(), "{h}");
    assert_eq!(h["x-custom"], "kept");
    assert_eq!(h["x-forwarded-for"], "10.1.2.3");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-forwarded-host"], "gw.example:8000");
    assert!(
        !h["host"].as_str().unwrap().contains("gw.example"),
        "the backend's Host is its own: {h}"
    );
}

#[tokio::test]
async fn a_service_without_its_trailing_slash_is_redirected() {
    let f = fixture().await;
    let req = axum::http::Request::get("/service/web?x=1")
        .header(header::AUTHORIZATION, f.auth())
        .body(Body::empty())
        .unwrap();
    let (status, headers, _) = f.call(req).await;
    assert_eq!(status, StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(headers[header::LOCATION], "/service/web/?x=1");
}

#[tokio::test]
async fn unknown_services_and_agents_are_404() {
    let f = fixture().await;
    // The echo "Marathon" answers /v2/apps with no `apps`: nothing to find.
    let (status, body) = f
        .json(Method::GET, "/service/web/", Some(&f.auth()), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(
        body["description"]
            .as_str()
            .unwrap()
            .contains("DCOS_SERVICE_NAME=web"),
        "{body}"
    );
    let (status, _) = f
        .json(Method::GET, "/agent/nope/state", Some(&f.auth()), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn login_gives_a_token_for_the_right_password_only() {
    let f = fixture().await;
    let (status, body) = f
        .json(
            Method::POST,
            "/acs/api/v1/auth/login",
            None,
            Some(json!({"uid": "admin", "password": "admin-pw"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let token = body["token"].as_str().unwrap();
    assert_eq!(f.tokens.verify(token).unwrap().uid, "admin");
    for (uid, pw) in [("admin", "wrong"), ("nobody", "admin-pw"), ("", "")] {
        let (status, body) = f
            .json(
                Method::POST,
                "/acs/api/v1/auth/login",
                None,
                Some(json!({"uid": uid, "password": pw})),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["code"], "ERR_INVALID_CREDENTIALS");
    }
    let (status, _) = f
        .json(
            Method::POST,
            "/acs/api/v1/auth/login",
            None,
            Some(json!({"x": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn users_can_be_added_changed_and_removed() {
    let f = fixture().await;
    let auth = f.auth();
    let login = |uid: &'static str, pw: &'static str| {
        let f = &f;
        async move {
            f.json(
                Method::POST,
                "/acs/api/v1/auth/login",
                None,
                Some(json!({"uid": uid, "password": pw})),
            )
            .await
            .0
        }
    };
    let (status, _) = f
        .json(
            Method::PUT,
            "/acs/api/v1/users/bob",
            Some(&auth),
            Some(json!({"password": "bob-pw", "description": "Bob"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = f
        .json(
            Method::PUT,
            "/acs/api/v1/users/bob",
            Some(&auth),
            Some(json!({"password": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["code"], "ERR_USER_EXISTS");
    assert_eq!(login("bob", "bob-pw").await, StatusCode::OK);

    let (_, body) = f
        .json(Method::GET, "/acs/api/v1/users", Some(&auth), None)
        .await;
    let uids: Vec<&str> = body["array"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["uid"].as_str().unwrap())
        .collect();
    assert_eq!(uids, ["admin", "bob"]);
    assert!(
        !body.to_string().contains("argon2"),
        "no hashes out: {body}"
    );

    let (status, _) = f
        .json(
            Method::PATCH,
            "/acs/api/v1/users/bob",
            Some(&auth),
            Some(json!({"password": "new-pw"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(login("bob", "bob-pw").await, StatusCode::UNAUTHORIZED);
    assert_eq!(login("bob", "new-pw").await, StatusCode::OK);
    let (_, body) = f
        .json(Method::GET, "/acs/api/v1/users/bob", Some(&auth), None)
        .await;
    assert_eq!(body["description"], "Bob");

    let (status, _) = f
        .json(Method::DELETE, "/acs/api/v1/users/bob", Some(&auth), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(login("bob", "new-pw").await, StatusCode::UNAUTHORIZED);
    let (status, body) = f
        .json(Method::DELETE, "/acs/api/v1/users/bob", Some(&auth), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], "ERR_UNKNOWN_USER_ID");
    let (status, _) = f
        .json(
            Method::PUT,
            "/acs/api/v1/users/bad%20uid",
            Some(&auth),
            Some(json!({"password": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_public_routes_need_no_token() {
    let f = fixture().await;
    let (status, body) = f
        .json(Method::GET, "/dcos-metadata/dcos-version.json", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["dcos-variant"], "open");
    assert_eq!(body["bootstrap-id"].as_str().unwrap().len(), 64, "{body}");
    assert!(body["version"].is_string() && body["dcos-image-commit"].is_string());

    let req = axum::http::Request::get("/install.sh")
        .header(header::HOST, "10.0.0.1:8000")
        .body(Body::empty())
        .unwrap();
    let (status, _, script) = f.call(req).await;
    assert_eq!(status, StatusCode::OK);
    let script = String::from_utf8(script).unwrap();
    assert!(script.starts_with("#!/usr/bin/env bash"));
    assert!(script.contains("GATEWAY='http://10.0.0.1:8000'"));
    assert!(!script.contains("@GATEWAY@"));
    // A Host header that would inject into the script is refused.
    let req = axum::http::Request::get("/install.sh")
        .header(header::HOST, "x';rm -rf /;'")
        .body(Body::empty())
        .unwrap();
    assert_eq!(f.call(req).await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn joining_needs_the_join_token() {
    let f = fixture().await;
    for token in [Some("wrong"), Some("join-token-12"), None] {
        let mut b = axum::http::Request::get("/install/v1/binary");
        if let Some(t) = token {
            b = b.header("x-join-token", t);
        }
        let (status, _, body) = f.call(b.body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{token:?}");
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["code"], "ERR_INVALID_JOIN_TOKEN");
        assert_eq!(body["title"], "Forbidden");
        assert!(body["description"]
            .as_str()
            .unwrap()
            .contains("dcos cluster join-token"));
    }
    let req = axum::http::Request::get("/install/v1/binary")
        .header("x-join-token", JOIN)
        .body(Body::empty())
        .unwrap();
    let (status, headers, body) = f.call(req).await;
    assert_eq!(status, StatusCode::OK);
    let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    assert_eq!(body.len(), exe.len());
    assert!(body == exe, "the served binary is this file");
    assert_eq!(headers[header::CONTENT_LENGTH], exe.len().to_string());

    let (status, body) = f
        .json(
            Method::POST,
            "/install/v1/join",
            None,
            Some(json!({"token": "nope", "role": "agent", "hostname": "h2"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["code"], "ERR_INVALID_JOIN_TOKEN");
    assert!(!body.to_string().contains(SECRET));

    let (status, body) = f
        .json(
            Method::POST,
            "/install/v1/join",
            None,
            Some(json!({"token": JOIN, "role": "agent", "hostname": "h2"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["cluster_id"], "cluster-1");
    assert_eq!(body["masters"], json!([f.master]));
    assert_eq!(body["marathon"], json!([f.marathon]));
    assert_eq!(body["chronos"], json!([f.chronos]));
    assert_eq!(body["gateway"], "http://gw.example:8000");
    assert_eq!(body["secret"], SECRET);

    let (status, _) = f
        .json(
            Method::POST,
            "/install/v1/join",
            None,
            Some(json!({"token": JOIN, "role": "king", "hostname": "h2"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn health_lists_every_backend() {
    let f = fixture().await;
    let (status, body) = f
        .json(Method::GET, "/system/health/v1", Some(&f.auth()), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let units = body["units"].as_array().unwrap();
    assert_eq!(units.len(), 7, "{body}");
    assert!(units.iter().all(|u| u["health"] == 0), "{body}");
    assert!(units.iter().any(|u| u["name"] == "Cosmos"), "{body}");
    assert!(units
        .iter()
        .any(|u| u["name"] == "Marathon" && u["id"].as_str().unwrap().contains("127.0.0.1")));
    let store = units
        .iter()
        .find(|u| u["name"] == "Replicated Store")
        .expect("a store unit");
    assert!(
        store["description"]
            .as_str()
            .unwrap()
            .contains("leader 127.0.0.1"),
        "{store}"
    );
}

/// A master whose store lost its leader (as a real one answers then).
async fn leaderless_master() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route(
            "/master/health",
            get(|| async {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the replicated store has no leader (node 2 is Candidate, term 7)",
                )
            }),
        )
        .route(
            "/store/v1/status",
            get(move || async move {
                Json(
                    json!({"id": 2, "addr": addr.to_string(), "state": "Candidate",
                    "leader": null, "leader_addr": null, "term": 7, "revision": 12}),
                )
            }),
        )
        .route(
            "/master/redirect",
            get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "No leader elected") }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// Issue 17: the health page said "master and replicated store" from the
/// master's (always healthy) answer. It asks the store itself and shows
/// each unhealthy unit's reason.
#[tokio::test]
async fn health_reports_a_store_without_a_leader_and_why() {
    let f = fixture_with_master(leaderless_master().await).await;
    let (status, body) = f
        .json(Method::GET, "/system/health/v1", Some(&f.auth()), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let unit = |name: &str| {
        body["units"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["name"] == name)
            .unwrap_or_else(|| panic!("no {name} unit: {body}"))
            .clone()
    };
    let store = unit("Replicated Store");
    assert_eq!(store["health"], 1, "{store}");
    let text = store["description"].as_str().unwrap();
    assert!(
        text.contains("no leader") && text.contains("Candidate"),
        "{text}"
    );
    let master = unit("Mesos Master");
    assert_eq!(master["health"], 1, "{master}");
    assert!(
        master["description"].as_str().unwrap().contains("503")
            && master["description"]
                .as_str()
                .unwrap()
                .contains("no leader"),
        "{master}"
    );
    assert_eq!(unit("Leading Mesos Master")["health"], 1);
    assert_eq!(unit("Marathon")["health"], 0);
}

fn header_of(h: &HeaderMap, name: header::HeaderName) -> &str {
    h.get(&name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} header in {h:?}"))
}

#[tokio::test]
async fn the_dashboard_shell_and_assets_need_no_token_and_hold_no_data() {
    let f = fixture().await;
    let get = |path: &str, gzip: bool| {
        let mut b = axum::http::Request::get(path);
        if gzip {
            b = b.header(header::ACCEPT_ENCODING, "gzip, br");
        }
        b.body(Body::empty()).unwrap()
    };
    // `/` and every client route answer the same shell, never cached
    // without revalidation.
    let (status, headers, shell) = f.call(get("/", false)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(header_of(&headers, header::CONTENT_TYPE).starts_with("text/html"));
    assert_eq!(header_of(&headers, header::CACHE_CONTROL), "no-cache");
    let csp = header_of(&headers, header::CONTENT_SECURITY_POLICY);
    assert!(csp.contains("default-src 'self'"), "{csp}");
    // Package icons over https, nothing else from elsewhere.
    assert!(csp.contains("img-src 'self' data: https:;"), "{csp}");
    assert!(csp.contains("connect-src 'self';"), "{csp}");
    let html = String::from_utf8(shell.clone()).unwrap();
    assert!(html.contains("<div id=\"app\">"), "{html}");
    assert!(
        !html.contains("cluster-1"),
        "the shell holds no cluster data"
    );
    for path in [
        "/services",
        "/services/apps/a/b",
        "/jobs/j.1",
        "/nodes",
        "/tasks/t.1/logs",
        "/overview",
        "/catalog",
        "/catalog/hello-world",
    ] {
        let (status, _, body) = f.call(get(path, false)).await;
        assert_eq!((status, &body), (StatusCode::OK, &shell), "{path}");
    }
    // Revalidation by ETag.
    let etag = header_of(&headers, header::ETAG).to_string();
    let req = axum::http::Request::get("/")
        .header(header::IF_NONE_MATCH, &etag)
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = f.call(req).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());

    // The hashed assets the shell loads: cached for a year, gzip when asked.
    let script = html
        .split("src=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a script in the shell")
        .to_string();
    assert!(script.starts_with("/assets/"), "{script}");
    let (status, headers, plain) = f.call(get(&script, false)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(header_of(&headers, header::CONTENT_TYPE).contains("javascript"));
    assert!(header_of(&headers, header::CACHE_CONTROL).contains("immutable"));
    assert!(headers.get(header::CONTENT_ENCODING).is_none());
    let (status, headers, gz) = f.call(get(&script, true)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header_of(&headers, header::CONTENT_ENCODING), "gzip");
    assert!(
        gz.len() < plain.len() / 2,
        "{} vs {}",
        gz.len(),
        plain.len()
    );
    let (status, _, _) = f.call(get("/assets/no-such-file.js", false)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = f.call(get(&format!("{script}.gz"), false)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the .gz are not addressable");
}

#[tokio::test]
async fn login_sets_the_ui_cookie_and_logout_clears_it() {
    let f = fixture().await;
    let req = axum::http::Request::post("/acs/api/v1/auth/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"uid": "admin", "password": "admin-pw"}).to_string(),
        ))
        .unwrap();
    let (status, headers, body) = f.call(req).await;
    assert_eq!(status, StatusCode::OK);
    let token = serde_json::from_slice::<Value>(&body).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let cookies: Vec<&str> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    let auth_cookie = cookies
        .iter()
        .find(|c| c.starts_with("dcos-acs-auth-cookie="))
        .expect("the auth cookie");
    assert!(auth_cookie.starts_with(&format!("dcos-acs-auth-cookie={token};")));
    assert!(auth_cookie.contains("HttpOnly") && auth_cookie.contains("SameSite=Strict"));
    assert!(auth_cookie.contains("Path=/"));
    let info = cookies
        .iter()
        .find(|c| c.starts_with("dcos-acs-info-cookie="))
        .expect("the info cookie");
    assert!(!info.contains("HttpOnly"), "the UI reads who is logged in");
    use base64::Engine;
    let value = info["dcos-acs-info-cookie=".len()..]
        .split(';')
        .next()
        .unwrap();
    let who: Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(value)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(who["uid"], "admin");
    assert!(!info.contains(&token));
    // The cookie as the browser sends it back opens the API.
    let req = axum::http::Request::get("/metadata")
        .header(header::COOKIE, format!("dcos-acs-auth-cookie={token}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(f.call(req).await.0, StatusCode::OK);
    // A wrong password sets nothing.
    let req = axum::http::Request::post("/acs/api/v1/auth/login")
        .body(Body::from(
            json!({"uid": "admin", "password": "nope"}).to_string(),
        ))
        .unwrap();
    let (status, headers, _) = f.call(req).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(headers.get(header::SET_COOKIE).is_none());
    // Logout (no token needed) expires both.
    let req = axum::http::Request::post("/acs/api/v1/auth/logout")
        .body(Body::empty())
        .unwrap();
    let (status, headers, _) = f.call(req).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let cleared: Vec<&str> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(cleared.len(), 2, "{cleared:?}");
    assert!(cleared.iter().all(|c| c.contains("Max-Age=0")
        && (c.starts_with("dcos-acs-auth-cookie=;") || c.starts_with("dcos-acs-info-cookie=;"))));
}
