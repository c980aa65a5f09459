//! The store's HTTP API (axum), served by every master process under
//! `/store/`:
//!
//! | route | body | answer |
//! |---|---|---|
//! | `POST /store/v1/kv/range` | [`RangeRequest`] | [`RangeResponse`] |
//! | `POST /store/v1/kv/get` | `{key, serializable?}` | [`KeyValue`], or 404 |
//! | `POST /store/v1/kv/put` | [`PutRequest`] | [`PutResponse`] (409 on CAS conflict) |
//! | `POST /store/v1/kv/delete` | [`DeleteRequest`] | [`DeleteResponse`] |
//! | `POST /store/v1/kv/txn` | [`TxnRequest`] | [`TxnResponse`] |
//! | `POST /store/v1/watch` | [`WatchRequest`] | NDJSON stream of [`WatchBatch`] |
//! | `POST /store/v1/lease/{grant,keepalive,revoke}` | lease requests | [`Lease`] / [`LeaseRevokeResponse`] |
//! | `GET /store/v1/status` | – | [`Status`] |
//! | `GET/POST /store/v1/members`, `DELETE /store/v1/members/{id}` | [`JoinRequest`] | `[Member]` |
//! | `POST /store/raft/{append,vote,snapshot}` | MessagePack | Raft RPCs between nodes |
//! | `GET /store/raft/stream` (`Upgrade`) | frames | the replication stream ([`crate::stream`]) |
//!
//! Errors are `{"error": code, "message": text, ...}` with the status of
//! [`KvError::status_code`]. A follower answers writes and linearizable
//! reads with `307` and a `Location` on the leader (the same path), or `503`
//! while no leader is elected.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::KvError;
use crate::kv::Kv;
use crate::node::StoreNode;
use crate::raft::MSGPACK;
use crate::types::*;

/// Largest request body: a 1 MiB value in base64 plus room for the rest.
/// Larger bodies are refused with 413 before they are parsed.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// An API error on the wire.
#[derive(Debug)]
pub struct ApiError(pub KvError);

impl From<KvError> for ApiError {
    fn from(e: KvError) -> Self {
        ApiError(e)
    }
}

/// Marks a 307 answer with the leader's address; [`complete_redirects`]
/// turns it into a `Location` on the same path.
#[derive(Debug, Clone)]
struct LeaderAddr(String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (status, Json(self.0.to_body())).into_response();
        if let KvError::NotLeader {
            leader_addr: Some(addr),
        } = &self.0
        {
            resp.extensions_mut().insert(LeaderAddr(addr.clone()));
        }
        resp
    }
}

async fn complete_redirects(req: Request, next: Next) -> Response {
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let mut resp = next.run(req).await;
    if let Some(LeaderAddr(addr)) = resp.extensions().get::<LeaderAddr>().cloned() {
        if let Ok(v) = HeaderValue::from_str(&format!("http://{addr}{path}")) {
            resp.headers_mut().insert(header::LOCATION, v);
        }
    }
    resp
}

/// JSON body extractor whose every rejection is a JSON [`KvError`].
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError(KvError::ValueTooLarge {
                    size: MAX_BODY_BYTES + 1,
                    limit: MAX_BODY_BYTES,
                })
            } else {
                ApiError(KvError::invalid(format!(
                    "could not read the request body: {rejection}"
                )))
            }
        })?;
        serde_json::from_slice(&bytes)
            .map(ApiJson)
            .map_err(|e| ApiError(KvError::invalid(format!("malformed JSON body: {e}"))))
    }
}

type ApiResult<T> = Result<Json<T>, ApiError>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GetRequest {
    key: String,
    #[serde(default)]
    serializable: bool,
}

/// The KV routes over any [`Kv`] implementation.
pub fn kv_router<K: Kv + 'static>(kv: Arc<K>) -> Router {
    Router::new()
        .route("/store/v1/kv/range", post(range::<K>))
        .route("/store/v1/kv/get", post(get_key::<K>))
        .route("/store/v1/kv/put", post(put::<K>))
        .route("/store/v1/kv/delete", post(delete_keys::<K>))
        .route("/store/v1/kv/txn", post(txn::<K>))
        .route("/store/v1/watch", post(watch::<K>))
        .route("/store/v1/lease/grant", post(lease_grant::<K>))
        .route("/store/v1/lease/keepalive", post(lease_keepalive::<K>))
        .route("/store/v1/lease/revoke", post(lease_revoke::<K>))
        .with_state(kv)
        .layer(middleware::from_fn(complete_redirects))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// Every store route of a node: the KV API, membership, status and Raft.
pub fn router(node: Arc<StoreNode>) -> Router {
    let cluster = Router::new()
        .route("/store/v1/status", get(status))
        .route("/store/v1/members", get(members).post(add_member))
        .route("/store/v1/members/{id}", delete(remove_member))
        .route("/store/raft/append", post(raft_append))
        .route("/store/raft/vote", post(raft_vote))
        .route("/store/raft/snapshot", post(raft_snapshot))
        .route("/store/raft/stream", get(crate::stream::serve))
        .with_state(Arc::clone(&node))
        .layer(middleware::from_fn(complete_redirects))
        .layer(DefaultBodyLimit::max(64 * 1024 * 1024));
    kv_router(node).merge(cluster)
}

async fn range<K: Kv>(
    State(kv): State<Arc<K>>,
    ApiJson(req): ApiJson<RangeRequest>,
) -> ApiResult<RangeResponse> {
    Ok(Json(kv.range(req).await?))
}

async fn get_key<K: Kv>(
    State(kv): State<Arc<K>>,
    ApiJson(req): ApiJson<GetRequest>,
) -> ApiResult<KeyValue> {
    let resp = kv
        .range(RangeRequest {
            key: req.key.clone(),
            serializable: req.serializable,
            ..Default::default()
        })
        .await?;
    match resp.kvs.into_iter().next() {
        Some(kv) => Ok(Json(kv)),
        None => Err(KvError::KeyNotFound { key: req.key }.into()),
    }
}

async fn put<K: Kv>(
    State(kv): State<Arc<K>>,
    ApiJson(req): ApiJson<PutRequest>,
) -> ApiResult<PutResponse> {
    Ok(Json(kv.put(req).await?))
}

async fn delete_keys<K: Kv>(
    State(kv): State<Arc<K>>,
    ApiJson(req): ApiJson<DeleteRequest>,
) -> ApiResult<DeleteResponse> {
    Ok(Json(kv.delete(req).await?))
}

async fn txn<K: Kv>(
    State(kv): State<Arc<K>>,
    ApiJson(req): ApiJson<TxnRequest>,
) -> ApiResult<TxnResponse> {
    Ok(Json(kv.txn(req).await?))
}

async fn lease_grant<K: Kv>(
    State(kv): State<Arc<K>>,
    ApiJson(req): ApiJson<LeaseGrantRequest>,
) -> ApiResult<Lease> {
    Ok(Json(kv.lease_grant(req).await?))
}

async fn lease_keepalive<K: Kv>(
    State(kv): State<Arc<K>>,
    ApiJson(req): ApiJson<LeaseIdRequest>,
) -> ApiResult<Lease> {
    Ok(Json(kv.lease_keepalive(req.id).await?))
}

async fn lease_revoke<K: Kv>(
    State(kv): State<Arc<K>>,
    ApiJson(req): ApiJson<LeaseIdRequest>,
) -> ApiResult<LeaseRevokeResponse> {
    Ok(Json(kv.lease_revoke(req.id).await?))
}

/// One line of a watch stream: a batch, or the error that ended it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum WatchLine {
    Batch(WatchBatch),
    Error(serde_json::Value),
}

async fn watch<K: Kv>(
    State(kv): State<Arc<K>>,
    ApiJson(req): ApiJson<WatchRequest>,
) -> Result<Response, ApiError> {
    let stream = kv.watch(req).await?;
    let lines = stream.map(|item| {
        let mut line = match item {
            Ok(batch) => serde_json::to_vec(&batch),
            Err(e) => serde_json::to_vec(&e.to_body()),
        }
        .unwrap_or_default();
        line.push(b'\n');
        Ok::<_, std::convert::Infallible>(Bytes::from(line))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(lines),
    )
        .into_response())
}

async fn status(State(node): State<Arc<StoreNode>>) -> Json<Status> {
    Json(node.status())
}

async fn members(State(node): State<Arc<StoreNode>>) -> Json<Vec<Member>> {
    Json(node.members())
}

async fn add_member(
    State(node): State<Arc<StoreNode>>,
    ApiJson(req): ApiJson<JoinRequest>,
) -> ApiResult<Vec<Member>> {
    if req.id == 0 {
        return Err(KvError::invalid("node id 0 is not allowed").into());
    }
    if req.addr.parse::<std::net::SocketAddr>().is_err() && !req.addr.contains(':') {
        return Err(KvError::invalid(format!("address {:?} is not host:port", req.addr)).into());
    }
    Ok(Json(node.add_member(&req).await?))
}

async fn remove_member(
    State(node): State<Arc<StoreNode>>,
    Path(id): Path<String>,
) -> ApiResult<Vec<Member>> {
    let id: u64 = id
        .parse()
        .map_err(|_| KvError::invalid(format!("{id:?} is not a node id")))?;
    Ok(Json(node.remove_member(id).await?))
}

fn msgpack<T: Serialize>(v: &T) -> Response {
    match rmp_serde::to_vec_named(v) {
        Ok(bytes) => ([(header::CONTENT_TYPE, MSGPACK)], bytes).into_response(),
        Err(e) => ApiError(KvError::internal(e)).into_response(),
    }
}

fn from_msgpack<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    rmp_serde::from_slice(body)
        .map_err(|e| ApiError(KvError::invalid(format!("malformed Raft message: {e}"))))
}

async fn raft_append(
    State(node): State<Arc<StoreNode>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req = from_msgpack(&body)?;
    Ok(msgpack(&node.raft().append_entries(req).await))
}

async fn raft_vote(State(node): State<Arc<StoreNode>>, body: Bytes) -> Result<Response, ApiError> {
    let req = from_msgpack(&body)?;
    Ok(msgpack(&node.raft().vote(req).await))
}

async fn raft_snapshot(
    State(node): State<Arc<StoreNode>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req = from_msgpack(&body)?;
    Ok(msgpack(&node.raft().install_snapshot(req).await))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::MemStore;
    use tower::ServiceExt;

    async fn call(
        router: &Router,
        path: &str,
        body: impl Into<Body>,
    ) -> (StatusCode, serde_json::Value) {
        let req = axum::http::Request::post(path)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.into())
            .unwrap();
        let resp = router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        )
    }

    #[tokio::test]
    async fn bad_input_gets_precise_json_errors_and_changes_nothing() {
        let store = Arc::new(MemStore::new());
        let router = kv_router(Arc::clone(&store));
        let (s, _) = call(
            &router,
            "/store/v1/kv/put",
            r#"{"key":"/a","value":"aGk="}"#,
        )
        .await;
        assert_eq!(s, StatusCode::OK);

        let (s, body) = call(&router, "/store/v1/kv/put", r#"{"key":"/a","value":"#).await;
        assert_eq!(
            (s, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_argument"))
        );

        let (s, body) = call(
            &router,
            "/store/v1/kv/put",
            r#"{"key":"/a","value":"aGk=","colour":1}"#,
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert!(body["message"]
            .as_str()
            .unwrap()
            .contains("unknown field `colour`"));

        let (s, body) = call(
            &router,
            "/store/v1/kv/put",
            r#"{"key":"/a","value":"not base64!"}"#,
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert!(body["message"].as_str().unwrap().contains("base64"));

        let big = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            vec![7u8; MAX_VALUE_BYTES + 1],
        );
        let (s, body) = call(
            &router,
            "/store/v1/kv/put",
            format!(r#"{{"key":"/a","value":"{big}"}}"#),
        )
        .await;
        assert_eq!(
            (s, body["error"].as_str()),
            (StatusCode::PAYLOAD_TOO_LARGE, Some("value_too_large"))
        );

        let huge = vec![b' '; MAX_BODY_BYTES + 10];
        let (s, body) = call(&router, "/store/v1/kv/put", huge).await;
        assert_eq!(
            (s, body["error"].as_str()),
            (StatusCode::PAYLOAD_TOO_LARGE, Some("value_too_large"))
        );

        let (s, body) = call(
            &router,
            "/store/v1/kv/put",
            r#"{"key":"/a","value":"","expect_mod_revision":99}"#,
        )
        .await;
        assert_eq!(
            (s, body["error"].as_str()),
            (StatusCode::CONFLICT, Some("cas_failed"))
        );
        assert_eq!(body["actual"], 1);

        let (s, body) = call(&router, "/store/v1/kv/get", r#"{"key":"/nope"}"#).await;
        assert_eq!(
            (s, body["error"].as_str()),
            (StatusCode::NOT_FOUND, Some("key_not_found"))
        );

        let (s, body) = call(&router, "/store/v1/kv/put", r#"{"key":"","value":""}"#).await;
        assert_eq!(
            (s, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_argument"))
        );

        let (s, _) = call(
            &router,
            "/store/v1/kv/txn",
            r#"{"compare":[{"key":"/a","target":{"bogus":1}}]}"#,
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);

        // Nothing of the above changed the stored value.
        let (s, body) = call(&router, "/store/v1/kv/get", r#"{"key":"/a"}"#).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(
            (body["value"].as_str(), body["version"].as_u64()),
            (Some("aGk="), Some(1))
        );
        assert_eq!(
            store
                .range(RangeRequest {
                    key: "/".into(),
                    prefix: true,
                    ..Default::default()
                })
                .await
                .unwrap()
                .revision,
            1
        );
    }
}
