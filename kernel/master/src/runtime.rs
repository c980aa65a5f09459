//! The runtime around the pure core: it owns the books behind one lock,
//! the open subscription streams (frameworks, agents, operators), and the
//! background loops — leadership (load the registries when this node
//! becomes the store's leader, drop everything when it stops), the
//! registry writer, the health/failover ticker and the allocation loop
//! (woken by demand changes with a 5 ms debounce, and every second).
//! It carries out the [`Effect`]s the core returns.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use dcos_api::agent;
use dcos_api::operator;
use dcos_api::recordio;
use dcos_api::scheduler;
use dcos_api::v1::{
    Address, FrameworkId, MasterCapability, MasterCapabilityType, MasterInfo, ResourceQuantities,
    Scalar,
};
use dcos_store::types::{
    Compare, CompareResult, CompareTarget, PutRequest, RangeRequest, TxnOp, TxnRequest,
};
use dcos_store::{Kv, StoreNode};
use futures::Stream;
use openraft::ServerState;
use tokio::sync::{broadcast, mpsc, Notify};

use crate::state::{Clock, Config, Effect, Record, State, StreamId};
use crate::MasterFlags;

/// Registry keys live under this prefix.
pub const REGISTRY_PREFIX: &str = "/mesos/";
/// The fence of the registry: written by each newly elected master; every
/// registry write compares its `mod_revision` with the one this master
/// wrote, so a deposed master (one whose store node lost the lead but has
/// not noticed) writes nothing.
pub const LEADER_KEY: &str = "/mesos/leader";
/// Events buffered per stream before a slow reader is disconnected.
const STREAM_BUFFER: usize = 65_536;
/// Allocation cycles kept for the timing percentiles.
const ALLOCATION_SAMPLES: usize = 1_000;

/// Who a stream belongs to.
#[derive(Debug, Clone)]
pub(crate) enum Owner {
    Framework(FrameworkId),
    Agent(dcos_api::v1::AgentId),
}

/// The books plus the open streams, under one lock.
pub(crate) struct Core {
    /// `Some` while this node is the leader and has loaded the registries.
    pub state: Option<State>,
    /// When it became the leader (Unix seconds).
    pub elected_time: f64,
    /// The `mod_revision` of [`LEADER_KEY`] this master wrote when elected.
    fence: Option<u64>,
    streams: HashMap<StreamId, mpsc::Sender<Frame>>,
}

/// A running master.
pub struct Master {
    node: Arc<StoreNode>,
    flags: MasterFlags,
    core: Mutex<Core>,
    operator_tx: broadcast::Sender<Bytes>,
    alloc_wake: Notify,
    persist_tx: mpsc::UnboundedSender<Record>,
    start_time: f64,
    started: Instant,
    alloc_ms: Mutex<VecDeque<f64>>,
    /// Serializes operator configuration changes (weights, quota), which
    /// are answered only once their registry records are in the store.
    config_writes: tokio::sync::Mutex<()>,
}

/// Why a configuration change failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    /// This node is not the active master.
    #[error("Not the active master")]
    Inactive,
    /// The change was refused.
    #[error(transparent)]
    Refused(#[from] crate::state::StateError),
    /// The store did not take the registry record.
    #[error("Failed to persist the change in the registry: {0}")]
    Store(String),
}

impl std::fmt::Debug for Master {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Master")
            .field("node", &self.node.id())
            .field("flags", &self.flags)
            .finish()
    }
}

/// Now, for the core.
pub(crate) fn clock() -> Clock {
    Clock {
        now: Instant::now(),
        unix: unix_now(),
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

/// A random UUID (v4 layout) as text.
pub(crate) fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl Master {
    /// Starts the master on a store node (which may not be the leader yet):
    /// its background loops run as long as the returned handle lives.
    pub async fn start(node: Arc<StoreNode>, flags: MasterFlags) -> anyhow::Result<Arc<Master>> {
        anyhow::ensure!(
            flags.agent_ping_timeout > 0.0 && flags.max_agent_ping_timeouts > 0,
            "--agent_ping_timeout and --max_agent_ping_timeouts must be positive"
        );
        anyhow::ensure!(
            flags.framework_heartbeat_interval > 0.0,
            "--framework_heartbeat_interval must be positive"
        );
        let (persist_tx, persist_rx) = mpsc::unbounded_channel();
        let (operator_tx, _) = broadcast::channel(16_384);
        let master = Arc::new(Master {
            node,
            flags,
            core: Mutex::new(Core {
                state: None,
                elected_time: 0.0,
                fence: None,
                streams: HashMap::new(),
            }),
            operator_tx,
            alloc_wake: Notify::new(),
            persist_tx,
            start_time: unix_now(),
            started: Instant::now(),
            alloc_ms: Mutex::new(VecDeque::new()),
            config_writes: tokio::sync::Mutex::new(()),
        });
        tokio::spawn(leadership_loop(Arc::downgrade(&master)));
        tokio::spawn(persist_loop(Arc::downgrade(&master), persist_rx));
        tokio::spawn(tick_loop(Arc::downgrade(&master)));
        tokio::spawn(allocation_loop(Arc::downgrade(&master)));
        Ok(master)
    }

    /// The store node under this master.
    pub fn node(&self) -> &Arc<StoreNode> {
        &self.node
    }

    /// The flags it runs with.
    pub fn flags(&self) -> &MasterFlags {
        &self.flags
    }

    /// Whether this node is the active master (leader, registries loaded).
    pub fn is_active(&self) -> bool {
        self.lock().state.is_some()
    }

    /// Process start time (Unix seconds).
    pub fn start_time(&self) -> f64 {
        self.start_time
    }

    /// Seconds since the process started.
    pub fn uptime_secs(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Agents must be heard from this often (seconds).
    pub fn agent_heartbeat_interval(&self) -> f64 {
        self.flags.agent_ping_timeout
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The leader's `host:port`, if known and not this node.
    pub(crate) fn leader_addr(&self) -> Option<String> {
        self.node.status().leader_addr
    }

    fn is_store_leader(&self) -> bool {
        let rx = self.node.raft().metrics();
        let m = rx.borrow();
        m.state == ServerState::Leader && m.current_leader == Some(self.node.id())
    }

    fn config(&self) -> Config {
        let timeout = Duration::from_secs_f64(
            self.flags.agent_ping_timeout * f64::from(self.flags.max_agent_ping_timeouts),
        );
        Config {
            agent_timeout: timeout,
            reregister_window: timeout,
        }
    }

    fn master_info(&self, id: String) -> MasterInfo {
        let addr = self.node.addr().to_owned();
        let (host, port) = addr.rsplit_once(':').unwrap_or((&addr, "5050"));
        let port: u32 = port.parse().unwrap_or(MasterInfo::DEFAULT_PORT);
        MasterInfo {
            id,
            ip: MasterInfo::pack_ip(host),
            port,
            pid: Some(format!("master@{addr}")),
            hostname: Some(host.to_owned()),
            version: Some(crate::MESOS_VERSION.to_owned()),
            address: Some(Address {
                hostname: Some(host.to_owned()),
                ip: host.parse::<std::net::IpAddr>().ok().map(|i| i.to_string()),
                port: port as i32,
            }),
            domain: None,
            capabilities: vec![
                MasterCapability {
                    kind: Some(MasterCapabilityType::AgentUpdate),
                },
                MasterCapability {
                    kind: Some(MasterCapabilityType::AgentDraining),
                },
            ],
        }
    }

    /// Runs `f` on the books (when active) and carries out its effects.
    pub(crate) fn with_state<T>(
        &self,
        f: impl FnOnce(&mut State, Clock) -> (T, Vec<Effect>),
    ) -> Option<T> {
        let mut core = self.lock();
        let state = core.state.as_mut()?;
        let (out, effects) = f(state, clock());
        self.dispatch(&mut core, effects);
        Some(out)
    }

    /// An operator configuration change (weights, quota): applied to the
    /// books, and answered once its registry records are durable in the
    /// store (as Mesos answers after the registrar's write), in one
    /// transaction fenced by [`LEADER_KEY`]. Changes are serialized, so
    /// records of the same key are written in order. If the write fails
    /// or the fence is gone, the books (now ahead of the store) are
    /// dropped: a master still leading reloads them from the store.
    pub(crate) async fn change_config(
        &self,
        f: impl FnOnce(&mut State, Clock) -> Result<Vec<Effect>, crate::state::StateError>,
    ) -> Result<(), ConfigError> {
        let _one_at_a_time = self.config_writes.lock().await;
        let (records, fence) = {
            let mut core = self.lock();
            let fence = core.fence.ok_or(ConfigError::Inactive)?;
            let state = core.state.as_mut().ok_or(ConfigError::Inactive)?;
            let effects = f(state, clock())?;
            let (records, rest): (Vec<Effect>, Vec<Effect>) = effects
                .into_iter()
                .partition(|e| matches!(e, Effect::Persist(_)));
            self.dispatch(&mut core, rest);
            (records, fence)
        };
        let mut puts = Vec::new();
        for effect in records {
            let Effect::Persist(record) = effect else {
                continue;
            };
            let (key, value) =
                encode_record(&record).map_err(|e| ConfigError::Store(e.to_string()))?;
            puts.push(TxnOp::Put(PutRequest {
                key,
                value,
                ..Default::default()
            }));
        }
        // One transaction per MAX_TXN_OPS − 1 records (a weights call
        // for hundreds of roles), each fenced.
        let mut failure = None;
        for chunk in puts.chunks(dcos_store::types::MAX_TXN_OPS - 1) {
            let written = self
                .node
                .txn(TxnRequest {
                    compare: vec![Compare {
                        key: LEADER_KEY.to_owned(),
                        target: CompareTarget::ModRevision(fence),
                        result: CompareResult::Equal,
                    }],
                    success: chunk.to_vec(),
                    failure: Vec::new(),
                })
                .await;
            match written {
                Ok(r) if r.succeeded => {}
                Ok(_) => failure = Some(ConfigError::Inactive),
                Err(e) => failure = Some(ConfigError::Store(e.to_string())),
            }
            if failure.is_some() {
                break;
            }
        }
        let Some(failure) = failure else {
            return Ok(());
        };
        tracing::warn!(error = %failure, "a configuration change was not written: dropping the books to reload them from the store");
        let mut core = self.lock();
        core.state = None;
        core.fence = None;
        core.streams.clear();
        Err(failure)
    }

    /// Registers a stream's sender (before the effects that use it run).
    pub(crate) fn open_stream(&self, core: &mut Core) -> (StreamId, mpsc::Receiver<Frame>) {
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let id = new_uuid();
        core.streams.insert(id.clone(), tx);
        (id, rx)
    }

    pub(crate) fn dispatch(&self, core: &mut Core, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::ToFramework(id, event) => {
                    let stream = core
                        .state
                        .as_ref()
                        .and_then(|s| s.frameworks.get(&id))
                        .and_then(|f| f.stream.clone());
                    if let Some(stream) = stream {
                        send(core, &stream, Frame::Scheduler(Box::new(event)));
                    }
                }
                Effect::ToAgent(id, mut event) => {
                    let stream = core
                        .state
                        .as_ref()
                        .and_then(|s| s.agents.get(&id))
                        .and_then(|a| a.stream.clone());
                    if let agent::Event::Registered {
                        heartbeat_interval_seconds,
                        ..
                    } = &mut event
                    {
                        *heartbeat_interval_seconds = self.flags.agent_ping_timeout;
                    }
                    if let Some(stream) = stream {
                        send(core, &stream, Frame::Agent(Box::new(event)));
                    }
                }
                Effect::ToFrameworkStream(stream, event) => {
                    send(core, &stream, Frame::Scheduler(Box::new(event)));
                }
                Effect::ToAgentStream(stream, event) => {
                    send(core, &stream, Frame::Agent(Box::new(event)));
                }
                Effect::CloseStream(stream) => {
                    core.streams.remove(&stream);
                }
                Effect::Persist(record) => {
                    let _ = self.persist_tx.send(record);
                }
                Effect::Operator(event) => {
                    if self.operator_tx.receiver_count() == 0 {
                        if let Some(s) = core.state.as_mut() {
                            s.operator_events = false;
                        }
                    } else {
                        let _ = self.operator_tx.send(recordio::encode(&event.to_json()));
                    }
                }
                Effect::Allocate => self.alloc_wake.notify_one(),
            }
        }
    }

    /// A stream's body was dropped (client gone, or closed by us).
    pub(crate) fn stream_closed(&self, owner: &Owner, stream: &str) {
        let mut core = self.lock();
        core.streams.remove(stream);
        let clock = clock();
        let effects = match (core.state.as_mut(), owner) {
            (Some(state), Owner::Framework(id)) => state.framework_stream_closed(id, stream, clock),
            (Some(state), Owner::Agent(id)) => state.agent_stream_closed(id, stream, clock),
            (None, _) => Vec::new(),
        };
        self.dispatch(&mut core, effects);
    }

    /// A subscription to the operator event stream, with the SUBSCRIBED
    /// snapshot first.
    pub(crate) fn operator_subscribe(&self) -> Option<(Bytes, broadcast::Receiver<Bytes>)> {
        let mut core = self.lock();
        let state = core.state.as_mut()?;
        state.operator_events = true;
        let rx = self.operator_tx.subscribe();
        let first = operator::Event::Subscribed(operator::Subscribed {
            get_state: Some(crate::views::get_state(state)),
            heartbeat_interval_seconds: Some(self.flags.framework_heartbeat_interval),
        });
        Some((recordio::encode(&first.to_json()), rx))
    }

    /// Allocation cycle timings: (count, p50 ms, p99 ms, max ms).
    pub fn allocation_timings(&self) -> (usize, f64, f64, f64) {
        let samples = self.alloc_ms.lock().unwrap_or_else(|e| e.into_inner());
        if samples.is_empty() {
            return (0, 0.0, 0.0, 0.0);
        }
        let mut sorted: Vec<f64> = samples.iter().copied().collect();
        sorted.sort_by(|a, b| a.total_cmp(b));
        let pick = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
        (
            sorted.len(),
            pick(0.5),
            pick(0.99),
            sorted[sorted.len() - 1],
        )
    }

    /// One allocation cycle: snapshot under the lock, plan outside it,
    /// apply (checked) under the lock again.
    ///
    /// The recorded run time is the cycle's own work (snapshot, plan, and
    /// the offers in the books, queued as OFFERS events), not the time spent
    /// waiting for the lock, nor encoding the events (each stream's task
    /// does that): Mesos' `allocation_run_ms` times the allocation run inside the
    /// allocator actor, which never waits for the master.
    pub async fn allocate_once(&self) {
        let (snapshot, started) = {
            let mut core = self.lock();
            let started = Instant::now();
            let Some(state) = core.state.as_mut() else {
                return;
            };
            if !state.has_demand() {
                return;
            }
            (
                state.allocation_snapshot(clock(), min_allocatable()),
                started,
            )
        };
        let plan = crate::allocator::allocate(&snapshot);
        drop(snapshot);
        let planned = started.elapsed();
        let applied = {
            let mut core = self.lock();
            let applying = Instant::now();
            let Some(state) = core.state.as_mut() else {
                return;
            };
            let effects = state.apply_allocations(plan, clock());
            self.dispatch(&mut core, effects);
            applying.elapsed()
        };
        let ms = (planned + applied).as_secs_f64() * 1000.0;
        let mut samples = self.alloc_ms.lock().unwrap_or_else(|e| e.into_inner());
        samples.push_back(ms);
        while samples.len() > ALLOCATION_SAMPLES {
            samples.pop_front();
        }
    }
}

/// Mesos' default `--min_allocatable_resources=cpus:0.01|mem:32`.
fn min_allocatable() -> Vec<ResourceQuantities> {
    let one = |name: &str, v: f64| ResourceQuantities {
        quantities: [(name.to_owned(), Scalar { value: v })]
            .into_iter()
            .collect(),
    };
    vec![one("cpus", 0.01), one("mem", 32.0)]
}

/// What goes down a stream. Events are encoded by the stream's own task,
/// outside the master's lock (an OFFERS event of 10,000 offers takes tens
/// of milliseconds to encode); the channel keeps them in order.
#[derive(Debug)]
pub(crate) enum Frame {
    /// A scheduler event for a framework's stream.
    Scheduler(Box<scheduler::Event>),
    /// An event of our agent protocol.
    Agent(Box<agent::Event>),
}

impl Frame {
    /// The RecordIO record.
    fn encode(self) -> Bytes {
        match self {
            Frame::Scheduler(event) => recordio::encode(&event.to_json()),
            Frame::Agent(event) => {
                recordio::encode(&serde_json::to_vec(&event).unwrap_or_default())
            }
        }
    }
}

fn send(core: &mut Core, stream: &str, frame: Frame) {
    let Some(tx) = core.streams.get(stream) else {
        return;
    };
    if let Err(e) = tx.try_send(frame) {
        if matches!(e, mpsc::error::TrySendError::Full(_)) {
            tracing::warn!(
                stream,
                "subscriber is not reading its stream; disconnecting it"
            );
        }
        core.streams.remove(stream);
    }
}

/// Tells the master when a stream's body is dropped.
pub(crate) struct StreamGuard {
    pub master: Weak<Master>,
    pub owner: Owner,
    pub stream: StreamId,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        if let Some(master) = self.master.upgrade() {
            master.stream_closed(&self.owner, &self.stream);
        }
    }
}

/// A RecordIO event stream: the events sent on `rx`, with `heartbeat`
/// every `interval` when idle; ends when the sender is dropped.
pub(crate) fn event_stream(
    rx: mpsc::Receiver<Frame>,
    heartbeat: Bytes,
    interval: Duration,
    guard: Option<StreamGuard>,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
    let tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    futures::stream::unfold((rx, tick, guard), move |(mut rx, mut tick, guard)| {
        let heartbeat = heartbeat.clone();
        async move {
            tokio::select! {
                biased;
                msg = rx.recv() => msg.map(|b| (Ok(coalesce(b, &mut rx)), (rx, tick, guard))),
                _ = tick.tick() => Some((Ok(heartbeat), (rx, tick, guard))),
            }
        }
    })
}

/// Bytes of queued frames joined into one body chunk.
const COALESCE_BYTES: usize = 256 * 1024;

/// `first` plus the frames already queued behind it (up to
/// [`COALESCE_BYTES`]), as one chunk: one socket write for a burst of
/// events (800 RUN_TASKs to one agent, thousands of UPDATEs to a busy
/// scheduler) instead of one write each.
fn coalesce(first: Frame, rx: &mut mpsc::Receiver<Frame>) -> Bytes {
    let first = first.encode();
    if first.len() >= COALESCE_BYTES {
        return first;
    }
    let Ok(second) = rx.try_recv() else {
        return first;
    };
    let second = second.encode();
    let mut buf = bytes::BytesMut::with_capacity((first.len() + second.len()) * 4);
    buf.extend_from_slice(&first);
    buf.extend_from_slice(&second);
    while buf.len() < COALESCE_BYTES {
        match rx.try_recv() {
            Ok(next) => buf.extend_from_slice(&next.encode()),
            Err(_) => break,
        }
    }
    buf.freeze()
}

/// The operator event stream: SUBSCRIBED, then broadcast events and
/// heartbeats; ends if the subscriber falls too far behind.
pub(crate) fn operator_stream(
    first: Bytes,
    rx: broadcast::Receiver<Bytes>,
    interval: Duration,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
    let heartbeat = recordio::encode(&operator::Event::Heartbeat.to_json());
    let tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    let head = futures::stream::once(async move { Ok(first) });
    let rest = futures::stream::unfold((rx, tick), move |(mut rx, mut tick)| {
        let heartbeat = heartbeat.clone();
        async move {
            tokio::select! {
                msg = rx.recv() => match msg {
                    Ok(b) => Some((Ok(b), (rx, tick))),
                    Err(_) => None,
                },
                _ = tick.tick() => Some((Ok(heartbeat), (rx, tick))),
            }
        }
    });
    futures::StreamExt::chain(head, rest)
}

/// The scheduler HEARTBEAT frame.
pub(crate) fn scheduler_heartbeat() -> Bytes {
    recordio::encode(&scheduler::Event::Heartbeat.to_json())
}

/// The agent HEARTBEAT frame.
pub(crate) fn agent_heartbeat() -> Bytes {
    recordio::encode(&serde_json::to_vec(&agent::Event::Heartbeat).unwrap_or_default())
}

/// Watches Raft: loads the registries on gaining leadership, drops the
/// books and every stream on losing it.
async fn leadership_loop(master: Weak<Master>) {
    // One receiver for the whole loop: a receiver cloned from Raft's own
    // never has the current value marked seen, so waiting on a fresh clone
    // each time returned at once and spun a core.
    let Some(mut metrics) = master.upgrade().map(|m| m.node.raft().metrics()) else {
        return;
    };
    loop {
        metrics.borrow_and_update();
        let Some(m) = master.upgrade() else { return };
        let leading = m.is_store_leader();
        let active = m.is_active();
        if leading && !active {
            let id = new_uuid();
            match take_the_fence(&m.node, &id).await {
                Err(e) => {
                    tracing::warn!(error = %e, "could not take the registry's fence; retrying")
                }
                Ok(fence) => match load_registry(&m.node).await {
                    Ok(records) => {
                        tracing::info!(master_id = %id, agents_and_frameworks = records.len(), fence, "elected: this node is the active master");
                        let state = State::new(m.master_info(id), m.config(), records, clock());
                        let mut core = m.lock();
                        if m.is_store_leader() {
                            core.state = Some(state);
                            core.elected_time = unix_now();
                            core.fence = Some(fence);
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "could not load the registry; retrying"),
                },
            }
        } else if !leading && active {
            tracing::warn!("no longer the store leader: closing every stream");
            let mut core = m.lock();
            core.state = None;
            core.fence = None;
            core.streams.clear();
        }
        drop(m);
        let _ = tokio::time::timeout(Duration::from_millis(200), metrics.changed()).await;
    }
}

/// Writes [`LEADER_KEY`] (this master's id and when), returning its new
/// `mod_revision`: from now on only this master's registry writes match.
async fn take_the_fence(node: &StoreNode, master_id: &str) -> anyhow::Result<u64> {
    let value = serde_json::to_vec(&serde_json::json!({
        "master_id": master_id,
        "node_id": node.id(),
        "elected": unix_now(),
    }))?;
    let put = node
        .put(PutRequest {
            key: LEADER_KEY.to_owned(),
            value,
            ..Default::default()
        })
        .await?;
    Ok(put.revision)
}

async fn load_registry(node: &StoreNode) -> anyhow::Result<Vec<Record>> {
    let mut records = Vec::new();
    let mut start_after = None;
    loop {
        let page = node
            .range(RangeRequest {
                key: REGISTRY_PREFIX.to_owned(),
                prefix: true,
                limit: 5_000,
                start_after: start_after.clone(),
                ..Default::default()
            })
            .await?;
        for kv in page.kvs.iter().filter(|kv| kv.key != LEADER_KEY) {
            match serde_json::from_slice::<Record>(&kv.value) {
                Ok(r) => records.push(r),
                Err(e) => {
                    tracing::warn!(key = %kv.key, error = %e, "unreadable registry record; skipped")
                }
            }
        }
        if !page.more {
            return Ok(records);
        }
        start_after = page.kvs.last().map(|kv| kv.key.clone());
    }
}

/// The store key of a registry record.
pub fn registry_key(record: &Record) -> String {
    match record {
        Record::Framework(f) => format!(
            "{REGISTRY_PREFIX}frameworks/{}",
            f.info.id.as_ref().map(|i| i.as_str()).unwrap_or("")
        ),
        Record::Agent(a) => format!(
            "{REGISTRY_PREFIX}agents/{}",
            a.info.id.as_ref().map(|i| i.as_str()).unwrap_or("")
        ),
        Record::Weight(w) => format!("{REGISTRY_PREFIX}weights/{}", w.role),
        Record::Quota(q) => format!("{REGISTRY_PREFIX}quotas/{}", q.role),
    }
}

/// A registry record's store key and JSON value.
fn encode_record(record: &Record) -> serde_json::Result<(String, Vec<u8>)> {
    Ok((registry_key(record), serde_json::to_vec(record)?))
}

/// Writes registry records (group commit): takes every record queued so
/// far, keeps the latest per key (later records supersede earlier ones of
/// the same agent or framework), and writes them as multi-key store
/// transactions of up to [`dcos_store::types::MAX_TXN_OPS`] − 1 puts
/// (plus the fence compare) — one
/// Raft entry and one fsync per batch rather than per record. A burst of
/// 10,000 agent registrations becomes ~80 writes. Batches are written in
/// order, so each key's last write wins.
async fn persist_loop(master: Weak<Master>, mut rx: mpsc::UnboundedReceiver<Record>) {
    let mut queued: Vec<Record> = Vec::new();
    while rx.recv_many(&mut queued, 100_000).await > 0 {
        let Some(m) = master.upgrade() else { return };
        // Only the master that holds the fence writes; a deposed one drops
        // what it queued (its successor loaded the registry from the store).
        let Some(fence) = m.lock().fence else {
            tracing::warn!(
                records = queued.len(),
                "not the active master: registry records not written"
            );
            queued.clear();
            continue;
        };
        let mut latest: HashMap<String, Vec<u8>> = HashMap::with_capacity(queued.len());
        let mut order: Vec<String> = Vec::with_capacity(queued.len());
        for record in queued.drain(..) {
            match encode_record(&record) {
                Ok((key, value)) => {
                    if latest.insert(key.clone(), value).is_none() {
                        order.push(key);
                    }
                }
                Err(e) => {
                    tracing::error!(key = registry_key(&record), error = %e, "cannot encode registry record")
                }
            }
        }
        // One operation of each transaction is the fence compare.
        for keys in order.chunks(dcos_store::types::MAX_TXN_OPS - 1) {
            let puts: Vec<TxnOp> = keys
                .iter()
                .map(|key| {
                    TxnOp::Put(PutRequest {
                        key: key.clone(),
                        value: latest.remove(key).unwrap_or_default(),
                        ..Default::default()
                    })
                })
                .collect();
            let request = TxnRequest {
                compare: vec![Compare {
                    key: LEADER_KEY.to_owned(),
                    target: CompareTarget::ModRevision(fence),
                    result: CompareResult::Equal,
                }],
                success: puts,
                failure: Vec::new(),
            };
            match m.node.txn(request).await {
                Ok(r) if !r.succeeded => {
                    tracing::warn!(
                        records = keys.len(),
                        "deposed: another master holds the registry's fence; not written, dropping the books"
                    );
                    // Memory is ahead of the store: reload it (if this
                    // node still leads) rather than act on it.
                    let mut core = m.lock();
                    core.state = None;
                    core.fence = None;
                    core.streams.clear();
                    break;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(records = keys.len(), error = %e, "could not persist registry records")
                }
            }
        }
    }
}

/// Agent health, framework failover timeouts, filter expiry.
async fn tick_loop(master: Weak<Master>) {
    let period = {
        let Some(m) = master.upgrade() else { return };
        let t = m.flags.agent_ping_timeout / 4.0;
        Duration::from_secs_f64(t.clamp(0.01, 0.1))
    };
    loop {
        tokio::time::sleep(period).await;
        let Some(m) = master.upgrade() else { return };
        m.with_state(|s, c| ((), s.tick(c)));
    }
}

/// Allocation: 5 ms after a change, and at least every second.
async fn allocation_loop(master: Weak<Master>) {
    loop {
        let wake = {
            let Some(m) = master.upgrade() else { return };
            tokio::select! {
                _ = m.alloc_wake.notified() => true,
                _ = tokio::time::sleep(Duration::from_secs(1)) => false,
            }
        };
        if wake {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let Some(m) = master.upgrade() else { return };
        m.allocate_once().await;
    }
}
