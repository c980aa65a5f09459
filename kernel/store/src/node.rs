//! [`StoreNode`]: one member of the replicated store. It owns the Raft
//! instance (SQLite log and state machine), answers the [`Kv`] calls
//! (writes through the log, linearizable reads through the leader's read
//! index, stale reads and watches from local state), expires leases while it
//! leads, and handles membership (bootstrap, join, remove).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use openraft::error::{CheckIsLeaderError, ClientWriteError, RaftError};
use openraft::{BasicNode, ChangeMembers, Config, ServerState, SnapshotPolicy};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::KvError;
use crate::kv::{self, answer, Kv, WatchStream};
use crate::leases::{LeaseClock, LEASE_TICK};
use crate::machine::HistoryLimit;
use crate::raft::{HttpNetwork, NodeId, Raft};
use crate::shared::SharedMachine;
use crate::sqlite;
use crate::types::*;

/// How long a write waits for a quorum before answering 503.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Where the node keeps `store.db` and its `node-id`.
    pub data_dir: PathBuf,
    /// `host:port` other nodes and clients reach this node's HTTP API at.
    pub advertise: String,
    /// A fixed node id; otherwise one is chosen at first start and kept.
    pub node_id: Option<NodeId>,
    pub history: HistoryLimit,
    pub heartbeat_ms: u64,
    pub election_timeout_ms: (u64, u64),
    /// Log entries between snapshots; the log is purged behind a snapshot.
    pub snapshot_every: u64,
}

impl NodeConfig {
    pub fn new(data_dir: impl Into<PathBuf>, advertise: impl Into<String>) -> Self {
        NodeConfig {
            data_dir: data_dir.into(),
            advertise: advertise.into(),
            node_id: None,
            history: HistoryLimit::default(),
            heartbeat_ms: 150,
            election_timeout_ms: (750, 1500),
            snapshot_every: 10_000,
        }
    }
}

pub struct StoreNode {
    id: NodeId,
    addr: String,
    raft: Raft,
    proposals: mpsc::Sender<Proposal>,
    shared: Arc<SharedMachine>,
    leases: Mutex<LeaseClock>,
    stop: CancellationToken,
    /// Replication streams ([`crate::stream`]) this node is answering.
    streams: std::sync::atomic::AtomicU64,
}

/// Most commands in one batched log entry.
const MAX_BATCH: usize = 256;
/// Most value bytes in one batched log entry.
const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;

type Proposal = (Command, oneshot::Sender<Result<Applied, KvError>>);

fn command_bytes(cmd: &Command) -> usize {
    match cmd {
        Command::Put(p) => p.key.len() + p.value.len(),
        Command::Txn(t) => t
            .success
            .iter()
            .chain(&t.failure)
            .map(|op| match op {
                TxnOp::Put(p) => p.key.len() + p.value.len(),
                _ => 64,
            })
            .sum(),
        _ => 64,
    }
}

/// Group commit above Raft: openraft 0.9 writes (and fsyncs) the log once
/// per proposal and waits for it before taking the next, so concurrent
/// writes are gathered here while the previous batch is in flight and
/// proposed as one [`Command::Batch`] entry: one fsync for all of them.
/// A lone write is proposed as itself, so an idle store adds no delay.
async fn propose_batches(raft: Raft, mut queue: mpsc::Receiver<Proposal>) {
    while let Some(first) = queue.recv().await {
        let mut bytes = command_bytes(&first.0);
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
            match queue.try_recv() {
                Ok(p) => {
                    bytes += command_bytes(&p.0);
                    batch.push(p);
                }
                Err(_) => break,
            }
        }
        if batch.len() == 1 {
            let (cmd, reply) = batch.pop().expect("one proposal");
            let answer = raft
                .client_write(cmd)
                .await
                .map(|r| r.data)
                .map_err(map_write_err);
            let _ = reply.send(answer);
            continue;
        }
        let (cmds, replies): (Vec<Command>, Vec<_>) = batch.into_iter().unzip();
        match raft.client_write(Command::Batch(cmds)).await {
            Ok(resp) => match resp.data {
                Applied::Batch(answers) if answers.len() == replies.len() => {
                    for (reply, answer) in replies.into_iter().zip(answers) {
                        let _ = reply.send(Ok(answer));
                    }
                }
                other => {
                    let err = KvError::internal(format!("unexpected answer to a batch: {other:?}"));
                    for reply in replies {
                        let _ = reply.send(Err(err.clone()));
                    }
                }
            },
            Err(e) => {
                let err = map_write_err(e);
                for reply in replies {
                    let _ = reply.send(Err(err.clone()));
                }
            }
        }
    }
}

/// See [`StoreNode::stream_served`].
pub(crate) struct StreamGuard(Arc<StoreNode>);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0
            .streams
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl std::fmt::Debug for StoreNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreNode")
            .field("id", &self.id)
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// Reads the node id kept in the data dir, or writes a new one.
fn node_id(dir: &Path, fixed: Option<NodeId>) -> std::io::Result<NodeId> {
    let path = dir.join("node-id");
    match std::fs::read_to_string(&path) {
        Ok(s) => {
            let stored: NodeId = s.trim().parse().map_err(|_| {
                std::io::Error::other(format!("{} does not hold a node id", path.display()))
            })?;
            if let Some(f) = fixed.filter(|f| *f != stored) {
                return Err(std::io::Error::other(format!(
                    "data dir {} belongs to node {stored}, not {f}",
                    dir.display()
                )));
            }
            Ok(stored)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Random ids never collide in practice and need no coordinator.
            let id = fixed.unwrap_or_else(|| rand::random::<u32>() as u64 + 1);
            let tmp = dir.join("node-id.tmp");
            std::fs::write(&tmp, format!("{id}\n"))?;
            std::fs::rename(&tmp, &path)?;
            Ok(id)
        }
        Err(e) => Err(e),
    }
}

fn map_write_err(e: RaftError<NodeId, ClientWriteError<NodeId, BasicNode>>) -> KvError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => KvError::NotLeader {
            leader_addr: f.leader_node.map(|n| n.addr),
        },
        RaftError::APIError(ClientWriteError::ChangeMembershipError(c)) => {
            KvError::invalid(c.to_string())
        }
        RaftError::Fatal(f) => KvError::unavailable(f),
    }
}

fn map_read_err(e: RaftError<NodeId, CheckIsLeaderError<NodeId, BasicNode>>) -> KvError {
    match e {
        RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)) => KvError::NotLeader {
            leader_addr: f.leader_node.map(|n| n.addr),
        },
        RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(q)) => KvError::unavailable(q),
        RaftError::Fatal(f) => KvError::unavailable(f),
    }
}

impl StoreNode {
    /// Opens the node's storage and starts Raft. The node still needs its
    /// HTTP API served (see [`crate::http::router`]) and then
    /// [`StoreNode::bootstrap`] or [`StoreNode::join`].
    pub async fn start(cfg: NodeConfig) -> anyhow::Result<Arc<StoreNode>> {
        std::fs::create_dir_all(&cfg.data_dir)?;
        let id = node_id(&cfg.data_dir, cfg.node_id)?;
        let (log, sm) = sqlite::open(&cfg.data_dir.join("store.db"), cfg.history).await?;
        let shared = sm.shared();
        let config = Config {
            cluster_name: "dcos-store".into(),
            heartbeat_interval: cfg.heartbeat_ms,
            election_timeout_min: cfg.election_timeout_ms.0,
            election_timeout_max: cfg.election_timeout_ms.1,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(cfg.snapshot_every),
            max_in_snapshot_log_to_keep: cfg.snapshot_every.min(1_000),
            // A chunk of a large snapshot takes a while on a loaded machine.
            install_snapshot_timeout: 10_000,
            ..Default::default()
        }
        .validate()?;
        let raft = Raft::new(id, Arc::new(config), HttpNetwork::new(), log, sm).await?;
        let (proposals, queue) = mpsc::channel(MAX_BATCH * 4);
        tokio::spawn(propose_batches(raft.clone(), queue));
        let node = Arc::new(StoreNode {
            id,
            addr: cfg.advertise,
            raft,
            proposals,
            shared,
            leases: Mutex::new(LeaseClock::default()),
            stop: CancellationToken::new(),
            streams: std::sync::atomic::AtomicU64::new(0),
        });
        tokio::spawn(Arc::clone(&node).expire_leases());
        Ok(node)
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    pub fn shared(&self) -> &Arc<SharedMachine> {
        &self.shared
    }

    /// Makes this node a one-node cluster, unless it already has state (a
    /// restart) in which case it carries on with the membership it has.
    pub async fn bootstrap(&self) -> anyhow::Result<()> {
        if self.raft.is_initialized().await? {
            return Ok(());
        }
        let members = BTreeMap::from([(
            self.id,
            BasicNode {
                addr: self.addr.clone(),
            },
        )]);
        self.raft.initialize(members).await?;
        // A one-node cluster elects itself within an election timeout plus
        // an fsync; the margin is for machines busy with parallel tests.
        self.wait_for_leader(Duration::from_secs(30)).await
    }

    /// Waits until this node knows a leader.
    pub async fn wait_for_leader(&self, timeout: Duration) -> anyhow::Result<()> {
        self.raft
            .wait(Some(timeout))
            .metrics(|m| m.current_leader.is_some(), "a leader is known")
            .await?;
        Ok(())
    }

    /// Asks the cluster at `seed` (any member's base URL) to add this node,
    /// retrying until it is a member.
    pub async fn join(&self, seed: &str, learner: bool) -> anyhow::Result<()> {
        let client = crate::client::Client::new([seed.to_string()]);
        let req = JoinRequest {
            id: self.id,
            addr: self.addr.clone(),
            learner,
        };
        let mut delay = Duration::from_millis(200);
        loop {
            match client.join(&req).await {
                Ok(_) => return Ok(()),
                Err(e) => {
                    tracing::warn!(error = %e, seed, "joining the store cluster failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Leader side of a join: add as learner (waiting until it caught up),
    /// then promote to voter.
    pub async fn add_member(&self, req: &JoinRequest) -> Result<Vec<Member>, KvError> {
        self.ensure_leader()?;
        let already_voter = self.members().iter().any(|m| m.id == req.id && m.voter);
        if !already_voter {
            let node = BasicNode {
                addr: req.addr.clone(),
            };
            self.raft
                .add_learner(req.id, node, true)
                .await
                .map_err(map_write_err)?;
            if !req.learner {
                self.raft
                    .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([req.id])), false)
                    .await
                    .map_err(map_write_err)?;
            }
        }
        Ok(self.members())
    }

    /// Removes a member (voter or learner) from the cluster.
    pub async fn remove_member(&self, id: NodeId) -> Result<Vec<Member>, KvError> {
        self.ensure_leader()?;
        let members = self.members();
        let Some(member) = members.iter().find(|m| m.id == id) else {
            return Err(KvError::invalid(format!("node {id} is not a member")));
        };
        if member.voter {
            if members.iter().filter(|m| m.voter).count() == 1 {
                return Err(KvError::invalid("cannot remove the last voting member"));
            }
            self.raft
                .change_membership(ChangeMembers::RemoveVoters(BTreeSet::from([id])), false)
                .await
                .map_err(map_write_err)?;
        } else {
            self.raft
                .change_membership(ChangeMembers::RemoveNodes(BTreeSet::from([id])), false)
                .await
                .map_err(map_write_err)?;
        }
        Ok(self.members())
    }

    pub fn members(&self) -> Vec<Member> {
        let metrics = self.raft.metrics().borrow().clone();
        let membership = metrics.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        membership
            .nodes()
            .map(|(id, node)| Member {
                id: *id,
                addr: node.addr.clone(),
                voter: voters.contains(id),
            })
            .collect()
    }

    pub fn status(&self) -> Status {
        let m = self.raft.metrics().borrow().clone();
        let leader_addr = m.current_leader.and_then(|l| {
            m.membership_config
                .membership()
                .get_node(&l)
                .map(|n| n.addr.clone())
        });
        Status {
            id: self.id,
            addr: self.addr.clone(),
            state: format!("{:?}", m.state),
            leader: m.current_leader,
            leader_addr,
            term: m.current_term,
            revision: self.shared.read(|s| s.revision()),
            last_log_index: m.last_log_index,
            last_applied_index: m.last_applied.map(|l| l.index),
            snapshot_index: m.snapshot.map(|l| l.index),
            purged_index: m.purged.map(|l| l.index),
            members: self.members(),
            replication_streams: self.streams.load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// Counts a replication stream this node answers while the guard lives.
    pub(crate) fn stream_served(self: &Arc<Self>) -> StreamGuard {
        self.streams
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        StreamGuard(Arc::clone(self))
    }

    fn is_leader(&self) -> bool {
        let m = self.raft.metrics().borrow().clone();
        m.state == ServerState::Leader && m.current_leader == Some(self.id)
    }

    fn ensure_leader(&self) -> Result<(), KvError> {
        if self.is_leader() {
            return Ok(());
        }
        Err(KvError::NotLeader {
            leader_addr: self.status().leader_addr,
        })
    }

    /// Proposes a command through the batcher and waits for its answer.
    async fn propose(&self, cmd: Command) -> Result<Applied, KvError> {
        kv::validate_command(&cmd)?;
        let (tx, rx) = oneshot::channel();
        self.proposals
            .send((cmd, tx))
            .await
            .map_err(|_| KvError::unavailable("the store is shutting down"))?;
        match tokio::time::timeout(WRITE_TIMEOUT, rx).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(KvError::unavailable("the store is shutting down")),
            Err(_) => Err(KvError::unavailable(
                "no quorum answered within 10 s; the write may still be applied",
            )),
        }
    }

    /// While leading, revokes leases whose TTL passed without keep-alive.
    async fn expire_leases(self: Arc<Self>) {
        let mut leading = false;
        loop {
            tokio::select! {
                _ = self.stop.cancelled() => return,
                _ = tokio::time::sleep(LEASE_TICK) => {}
            }
            let now_leading = self.is_leader();
            let expired = {
                let mut clock = self.leases.lock().unwrap_or_else(|e| e.into_inner());
                if now_leading != leading {
                    // Gained or lost leadership: every lease gets a fresh TTL.
                    clock.reset();
                    leading = now_leading;
                }
                if !leading {
                    continue;
                }
                self.shared.read(|m| clock.sync(m, Instant::now()));
                clock.expired(Instant::now())
            };
            for id in expired {
                match self.propose(Command::LeaseRevoke { id }).await {
                    Ok(_) | Err(KvError::LeaseNotFound { .. }) => {
                        tracing::debug!(lease = id, "lease expired and revoked")
                    }
                    Err(e) => {
                        tracing::warn!(lease = id, error = %e, "could not revoke expired lease")
                    }
                }
            }
        }
    }

    /// Stops Raft and the node's tasks.
    pub async fn shutdown(&self) {
        self.stop.cancel();
        let _ = self.raft.shutdown().await;
    }
}

#[async_trait]
impl Kv for StoreNode {
    async fn range(&self, req: RangeRequest) -> Result<RangeResponse, KvError> {
        kv::validate_range(&req)?;
        if !req.serializable {
            self.raft
                .ensure_linearizable()
                .await
                .map_err(map_read_err)?;
        }
        Ok(self.shared.read(|m| m.range(&req)))
    }

    async fn put(&self, req: PutRequest) -> Result<PutResponse, KvError> {
        answer::put(self.propose(Command::Put(req)).await?)
    }

    async fn delete(&self, req: DeleteRequest) -> Result<DeleteResponse, KvError> {
        answer::delete(self.propose(Command::Delete(req)).await?)
    }

    async fn txn(&self, req: TxnRequest) -> Result<TxnResponse, KvError> {
        answer::txn(self.propose(Command::Txn(req)).await?)
    }

    async fn watch(&self, req: WatchRequest) -> Result<WatchStream, KvError> {
        kv::validate_watch(&req)?;
        self.shared.watch(req)
    }

    async fn lease_grant(&self, req: LeaseGrantRequest) -> Result<Lease, KvError> {
        let lease = answer::lease_granted(self.propose(Command::LeaseGrant(req)).await?)?;
        let mut clock = self.leases.lock().unwrap_or_else(|e| e.into_inner());
        clock.keepalive(lease.id, lease.ttl, Instant::now());
        Ok(lease)
    }

    async fn lease_keepalive(&self, id: u64) -> Result<Lease, KvError> {
        self.ensure_leader()?;
        let ttl = self
            .shared
            .read(|m| m.lease(id).map(|l| l.ttl))
            .ok_or(KvError::LeaseNotFound { id })?;
        let mut clock = self.leases.lock().unwrap_or_else(|e| e.into_inner());
        clock.keepalive(id, ttl, Instant::now());
        Ok(Lease { id, ttl })
    }

    async fn lease_revoke(&self, id: u64) -> Result<LeaseRevokeResponse, KvError> {
        answer::lease_revoked(self.propose(Command::LeaseRevoke { id }).await?)
    }
}
