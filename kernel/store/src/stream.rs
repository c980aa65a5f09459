//! The Raft replication stream: AppendEntries over one long-lived
//! connection per replication peer instead of one HTTP request each.
//!
//! A leader's replication task sends its follower one AppendEntries at a
//! time and waits for the answer, thousands of times a second under load.
//! As HTTP requests each of them went through the client's connection task
//! (a task hop each way), a request head, a response head and a timeout
//! timer. Here the first append of a peer still goes as `POST
//! /store/raft/append` (one-off peers, as openraft's leadership checks use,
//! never pay for a stream); from the second on, the peer upgrades
//! `GET /store/raft/stream` (`Upgrade: dcos-raft-stream`, answered `101`) and
//! then writes and reads frames on the upgraded connection from its own task:
//!
//! ```text
//! frame = u32 big-endian length ‖ MessagePack body
//! leader → follower: AppendEntriesRequest
//! follower → leader: Result<AppendEntriesResponse, RaftError>  (as the HTTP body)
//! ```
//!
//! One request is in flight per connection, answered in order. Any error or
//! timeout drops the connection (a late answer must never be read as the
//! next one's); the next call opens a new one. Votes and snapshots stay on
//! plain HTTP: rare, and snapshots are large.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufStream};

use crate::node::StoreNode;

/// The `Upgrade` token of the replication stream.
pub const PROTOCOL: &str = "dcos-raft-stream";
/// Largest frame either side accepts (the HTTP route's body limit).
pub const MAX_FRAME: usize = 64 * 1024 * 1024;

/// Writes one frame and flushes it (one `write` for small frames).
pub async fn write_frame<W: AsyncWrite + Unpin>(io: &mut W, body: &[u8]) -> std::io::Result<()> {
    let len = u32::try_from(body.len())
        .ok()
        .filter(|&n| n as usize <= MAX_FRAME)
        .ok_or_else(|| std::io::Error::other(format!("frame of {} bytes too large", body.len())))?;
    io.write_all(&len.to_be_bytes()).await?;
    io.write_all(body).await?;
    io.flush().await
}

/// Reads one frame; `None` at a clean end of stream before a frame.
pub async fn read_frame<R: AsyncRead + Unpin>(io: &mut R) -> std::io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match io.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(std::io::Error::other(format!(
            "frame of {len} bytes is over the {MAX_FRAME}-byte limit"
        )));
    }
    let mut body = vec![0u8; len];
    io.read_exact(&mut body).await?;
    Ok(Some(body))
}

/// `GET /store/raft/stream`: switches the connection to the replication
/// stream and serves AppendEntries on it until the leader closes it.
pub async fn serve(State(node): State<Arc<StoreNode>>, mut req: Request) -> Response {
    let asked = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case(PROTOCOL));
    if !asked {
        let body = serde_json::json!({
            "error": "invalid_request",
            "message": format!("this route only upgrades to `Upgrade: {PROTOCOL}`"),
        });
        return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    }
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        match upgrade.await {
            Ok(io) => {
                let _counted = node.stream_served();
                if let Err(e) = answer_appends(&node, BufStream::new(TokioIo::new(io))).await {
                    tracing::debug!(error = %e, "raft stream ended");
                }
            }
            Err(e) => tracing::debug!(error = %e, "raft stream upgrade failed"),
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, PROTOCOL)
        .body(Body::empty())
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

async fn answer_appends<S: AsyncRead + AsyncWrite + Unpin>(
    node: &StoreNode,
    mut io: S,
) -> std::io::Result<()> {
    while let Some(frame) = read_frame(&mut io).await? {
        // A frame that does not decode ends the stream: the sender is not
        // speaking this protocol, and nothing after it can be trusted.
        let req = rmp_serde::from_slice(&frame)
            .map_err(|e| std::io::Error::other(format!("malformed AppendEntries frame: {e}")))?;
        let answer = node.raft().append_entries(req).await;
        let body = rmp_serde::to_vec_named(&answer).map_err(std::io::Error::other)?;
        write_frame(&mut io, &body).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_and_oversized_ones_are_refused() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        write_frame(&mut a, b"hello").await.unwrap();
        write_frame(&mut a, b"").await.unwrap();
        assert_eq!(read_frame(&mut b).await.unwrap().unwrap(), b"hello");
        assert_eq!(read_frame(&mut b).await.unwrap().unwrap(), b"");
        drop(a);
        assert!(read_frame(&mut b).await.unwrap().is_none());

        let (mut a, mut b) = tokio::io::duplex(64);
        a.write_all(&(MAX_FRAME as u32 + 1).to_be_bytes())
            .await
            .unwrap();
        let err = read_frame(&mut b).await.unwrap_err();
        assert!(err.to_string().contains("over the"), "{err}");
    }
}
