//! The store's Raft wiring: the openraft type configuration and the network
//! that carries Raft RPCs between nodes: HTTP POST with MessagePack bodies to
//! `/store/raft/*` (served by [`crate::http`]), and for a replication peer's
//! appends after its first, the replication stream of [`crate::stream`].

use std::io::Cursor;
use std::time::{Duration, Instant};

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use serde::{de::DeserializeOwned, Serialize};
use tokio::io::BufStream;

use crate::types::{Applied, Command};

pub type NodeId = u64;

openraft::declare_raft_types!(
    /// The store's Raft types: log entries carry [`Command`]s, applying one
    /// answers [`Applied`]; nodes are addressed by their HTTP `host:port`.
    pub TypeConfig:
        D = Command,
        R = Applied,
        NodeId = NodeId,
        Node = BasicNode,
        SnapshotData = Cursor<Vec<u8>>,
);

pub type Raft = openraft::Raft<TypeConfig>;

pub const MSGPACK: &str = "application/msgpack";

/// Makes a connection handle per peer; all share one HTTP connection pool.
#[derive(Debug, Clone)]
pub struct HttpNetwork {
    client: reqwest::Client,
    /// Appends use the replication stream ([`crate::stream`]); off with
    /// `DCOS_STORE_NO_STREAM=1` (every append an HTTP request, as before
    /// the stream existed: kept to measure what the stream buys).
    streams: bool,
}

impl HttpNetwork {
    pub fn new() -> Self {
        let client = reqwest::Client::builder()
            .pool_idle_timeout(std::time::Duration::from_secs(60))
            .tcp_nodelay(true)
            .build()
            .unwrap_or_default();
        HttpNetwork {
            client,
            streams: std::env::var_os("DCOS_STORE_NO_STREAM").is_none(),
        }
    }
}

impl Default for HttpNetwork {
    fn default() -> Self {
        Self::new()
    }
}

impl RaftNetworkFactory<TypeConfig> for HttpNetwork {
    type Network = HttpPeer;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Self::Network {
        HttpPeer {
            client: self.client.clone(),
            target,
            base: format!("http://{}/store/raft", node.addr),
            stream: tokio::sync::Mutex::new(None),
            appends: 0,
            streams: self.streams,
            stream_retry_at: None,
        }
    }
}

/// After a failed stream upgrade, how long a peer sticks to HTTP requests.
const STREAM_RETRY: Duration = Duration::from_secs(5);

pub struct HttpPeer {
    client: reqwest::Client,
    target: NodeId,
    base: String,
    /// The replication stream, once this peer has appended more than once.
    /// (In a mutex only because openraft wants the network `Sync`; one
    /// task uses it at a time.)
    stream: tokio::sync::Mutex<Option<BufStream<reqwest::Upgraded>>>,
    appends: u64,
    streams: bool,
    stream_retry_at: Option<Instant>,
}

impl std::fmt::Debug for HttpPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpPeer")
            .field("target", &self.target)
            .field("base", &self.base)
            .field("appends", &self.appends)
            .finish()
    }
}

fn decode_answer<Resp, E>(
    target: NodeId,
    bytes: &[u8],
) -> Result<Resp, RPCError<NodeId, BasicNode, E>>
where
    Resp: DeserializeOwned,
    E: std::error::Error + DeserializeOwned,
{
    let result: Result<Resp, E> =
        rmp_serde::from_slice(bytes).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
    result.map_err(|e| RPCError::RemoteError(RemoteError::new(target, e)))
}

impl HttpPeer {
    /// Upgrades a new connection to the replication stream.
    async fn open_stream(&self, ttl: Duration) -> Result<BufStream<reqwest::Upgraded>, String> {
        let resp = self
            .client
            .get(format!("{}/stream", self.base))
            .header(reqwest::header::CONNECTION, "upgrade")
            .header(reqwest::header::UPGRADE, crate::stream::PROTOCOL)
            .timeout(ttl)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if resp.status() != reqwest::StatusCode::SWITCHING_PROTOCOLS {
            return Err(format!(
                "peer answered {} to the stream upgrade",
                resp.status()
            ));
        }
        let io = resp.upgrade().await.map_err(|e| e.to_string())?;
        Ok(BufStream::new(io))
    }

    /// One AppendEntries on the stream; on any failure the stream is gone.
    async fn stream_append(
        &mut self,
        body: &[u8],
        ttl: Duration,
    ) -> Result<Vec<u8>, std::io::Error> {
        let stream = self.stream.get_mut();
        let Some(io) = stream.as_mut() else {
            return Err(std::io::Error::other("no stream"));
        };
        let exchange = async {
            crate::stream::write_frame(io, body).await?;
            crate::stream::read_frame(io)
                .await?
                .ok_or_else(|| std::io::Error::other("peer closed the replication stream"))
        };
        let result = match tokio::time::timeout(ttl, exchange).await {
            Ok(r) => r,
            Err(_) => Err(std::io::Error::other("replication stream timed out")),
        };
        if result.is_err() {
            *stream = None;
        }
        result
    }

    async fn call<Req, Resp, E>(
        &self,
        path: &str,
        req: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<NodeId, BasicNode, E>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let body =
            rmp_serde::to_vec_named(req).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let resp = self
            .client
            .post(format!("{}/{path}", self.base))
            .header(reqwest::header::CONTENT_TYPE, MSGPACK)
            .timeout(option.hard_ttl())
            .body(body)
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() {
                    RPCError::Unreachable(Unreachable::new(&e))
                } else {
                    RPCError::Network(NetworkError::new(&e))
                }
            })?;
        if !resp.status().is_success() {
            let status = resp.status();
            let text = resp.text().await.unwrap_or_default();
            let err = std::io::Error::other(format!("peer answered {status}: {text}"));
            return Err(RPCError::Network(NetworkError::new(&err)));
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        decode_answer(self.target, &bytes)
    }
}

impl HttpPeer {
    async fn append(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.appends += 1;
        let may_open = self.streams && self.stream_retry_at.is_none_or(|at| Instant::now() >= at);
        if self.stream.get_mut().is_none() && self.appends > 1 && may_open {
            match self.open_stream(option.hard_ttl()).await {
                Ok(io) => {
                    *self.stream.get_mut() = Some(io);
                    self.stream_retry_at = None;
                }
                Err(e) => {
                    tracing::debug!(target = self.target, error = %e, "no replication stream; appending over HTTP");
                    self.stream_retry_at = Some(Instant::now() + STREAM_RETRY);
                }
            }
        }
        if self.stream.get_mut().is_none() {
            return self.call("append", &rpc, &option).await;
        }
        let body =
            rmp_serde::to_vec_named(&rpc).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        match self.stream_append(&body, option.hard_ttl()).await {
            Ok(answer) => decode_answer(self.target, &answer),
            Err(e) => Err(RPCError::Network(NetworkError::new(&e))),
        }
    }
}

impl RaftNetwork<TypeConfig> for HttpPeer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.append(rpc, option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.call("snapshot", &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.call("vote", &rpc, &option).await
    }
}
