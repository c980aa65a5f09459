//! The master's HTTP server: `axum::serve` with two changes that matter at
//! 10,000 agents, each holding a long-lived HTTP/1 connection.
//!
//! - Every connection shares the one router (an `Arc` clone).
//!   `axum::serve(listener, router)` rebuilds the route table per
//!   connection (`Router::with_state` in its `IncomingStream` service),
//!   ~17 KiB per connection.
//! - hyper's read buffer is capped at its minimum, 8 KiB. Its adaptive
//!   strategy doubles the buffer whenever a read fills it and never gives
//!   it back, so after a registration each idle agent connection kept
//!   16 KiB. Bodies still stream through in 8 KiB reads; only a request
//!   head (request line and headers) must fit.
//!
//! Graceful shutdown as `axum::serve`'s: stop accepting, let open
//! connections finish (at most [`DRAIN`]).

use std::future::Future;
use std::time::Duration;

use axum::extract::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// How long open connections (event streams) get to finish at shutdown.
pub const DRAIN: Duration = Duration::from_secs(5);

/// Serves `app` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().max_buf_size(8 * 1024);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: back off
                    // instead of spinning (as axum::serve does).
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        // Small request/response pairs (Raft RPCs, KV calls): no Nagle delay.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        let service = TowerToHyperService::new(
            app.clone()
                .map_request(|req: Request<Incoming>| req.map(axum::body::Body::new)),
        );
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(tcp), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::trace!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::debug!("connections still open after the drain period; closing them");
    }
    Ok(())
}
