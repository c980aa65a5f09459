//! The I/O around the books: loading them from the store (many small keys
//! under `/marathon/`), carrying actions out (plan → fenced commit →
//! apply: [`Shared::act`]), the leader election, and the leader's
//! scheduler loop (offers, status updates, kills, revive/suppress,
//! reconciliation) built on the SDK in `dcos_api::client`.
//!
//! Decisions are not made here: [`crate::action`] and
//! [`crate::state::Books`] decide, this module carries the decisions out.
//! Status updates are acknowledged only after what they changed is
//! committed.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dcos_api::client::{Scheduler, SchedulerConfig, SchedulerEvent, SchedulerHandle};
use dcos_api::scheduler::{Event, ReconcileTask};
use dcos_api::v1::{
    AgentId, DurationInfo, Filters, FrameworkCapability, FrameworkCapabilityType, FrameworkId,
    FrameworkInfo, KillPolicy, OfferOperation, TaskId, TaskStatus,
};
use dcos_store::{Client, Kv, KvError, Namespaced};
use futures::{FutureExt, StreamExt};
use tokio::sync::{broadcast, watch, Notify};
use tokio_util::sync::CancellationToken;

use crate::action::{self, Action, Effects};
use crate::commit::{self, CommitError, Committed};
use crate::health::{self, Outcome, Probe};
use crate::state::{self, Books, BusEvent, ChangeError, Kill, Write};
use crate::MarathonFlags;

/// Unix seconds now (the runtime's clock; cores get it passed in).
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

/// Who leads, as this process sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LeaderInfo {
    /// This process leads and its books are loaded.
    pub elected: bool,
    /// The leader's `host:port`, if known.
    pub leader: Option<String>,
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    /// Offers received.
    pub offers: AtomicU64,
    /// Offers declined.
    pub declined: AtomicU64,
    /// Tasks launched.
    pub launched: AtomicU64,
    /// Status updates received.
    pub updates: AtomicU64,
    /// Kills sent.
    pub kills: AtomicU64,
    /// `/v2/events` readers dropped for not keeping up.
    pub sse_dropped: AtomicU64,
}

/// One bus event as `/v2/events` sends it.
#[derive(Debug)]
pub struct SseFrame {
    /// `event:`.
    pub kind: &'static str,
    /// `data:` (one line of JSON).
    pub data: String,
}

/// What the API and the scheduler loop share.
#[derive(Debug)]
pub struct Shared {
    /// The books.
    pub books: Mutex<Books>,
    /// The event bus (callback subscribers, tests).
    pub events: broadcast::Sender<BusEvent>,
    /// The event bus serialized once for `/v2/events` readers (each has
    /// its own bounded queue: `api::events`).
    pub sse: broadcast::Sender<Arc<SseFrame>>,
    /// Wakes the scheduler loop after a change.
    pub wake: Notify,
    /// The store: the cluster's, or the part of it under
    /// `--store-namespace`. Every key Marathon reads or writes (the leader
    /// election's too) goes through it.
    pub store: Arc<dyn Kv>,
    /// Who this Marathon is, for `/v2/info`.
    pub identity: Identity,
    /// Leadership.
    pub leader: watch::Sender<LeaderInfo>,
    /// This process's `host:port`.
    pub me: String,
    /// The scheduler handle while leading and subscribed.
    pub handle: Mutex<Option<SchedulerHandle>>,
    /// The framework id, once known.
    pub framework_id: Mutex<Option<String>>,
    /// Counters.
    pub counters: Counters,
    /// Held from planning an action to applying it (and around every
    /// other commit): one change at a time, so a plan is never made from
    /// books another change is about to replace, and writes to one key
    /// land in order. Readers take only `books`.
    pub order: tokio::sync::Mutex<()>,
    /// The `create_revision` of the election key this leader was elected
    /// at: every commit compares it (`None`: unfenced, single-process
    /// tests).
    pub fence: Mutex<Option<u64>>,
    /// A commit's outcome is unknown (the store failed or timed out):
    /// reload the books from the store before the next action.
    pub stale: AtomicBool,
    /// A staged change is committed but not applied: recover first.
    pub roll_forward_due: AtomicBool,
    /// A commit found another leader's fence: step down.
    pub deposed: Notify,
    /// `DELETE /v2/leader`: give leadership up.
    pub abdicate: Notify,
    /// HTTP callback event subscribers (delivering while leading).
    pub callbacks: Arc<crate::subscriptions::Callbacks>,
}

/// Why an action was not carried out.
#[derive(Debug, thiserror::Error)]
pub enum ActError {
    /// Planning refused it.
    #[error(transparent)]
    Refused(#[from] ChangeError),
    /// The commit failed: the books are unchanged.
    #[error(transparent)]
    Commit(#[from] CommitError),
}

impl From<KvError> for ActError {
    fn from(e: KvError) -> Self {
        ActError::Commit(CommitError::Store(e))
    }
}

/// The framework name and store namespace this Marathon runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// `--framework-name`.
    pub framework_name: String,
    /// `--store-namespace`, if any.
    pub store_namespace: Option<String>,
}

impl Default for Identity {
    fn default() -> Self {
        Identity {
            framework_name: "marathon".into(),
            store_namespace: None,
        }
    }
}

impl Shared {
    /// Fresh, not leading.
    pub fn new(store: Arc<dyn Kv>, me: String) -> Arc<Self> {
        Self::with_identity(store, me, Identity::default())
    }

    /// Fresh, not leading, with a framework name and store namespace.
    pub fn with_identity(store: Arc<dyn Kv>, me: String, identity: Identity) -> Arc<Self> {
        Arc::new(Shared {
            books: Mutex::new(Books::default()),
            events: broadcast::channel(16384).0,
            sse: broadcast::channel(1024).0,
            wake: Notify::new(),
            store,
            identity,
            leader: watch::Sender::new(LeaderInfo::default()),
            me,
            handle: Mutex::new(None),
            framework_id: Mutex::new(None),
            counters: Counters::default(),
            order: tokio::sync::Mutex::new(()),
            fence: Mutex::new(None),
            stale: AtomicBool::new(false),
            roll_forward_due: AtomicBool::new(false),
            deposed: Notify::new(),
            abdicate: Notify::new(),
            callbacks: Arc::default(),
        })
    }

    /// Publishes events to `/v2/events` subscribers.
    pub fn publish(&self, events: Vec<BusEvent>) {
        for e in events {
            if self.sse.receiver_count() > 0 {
                // Serialized once, shared by every `/v2/events` reader.
                let _ = self.sse.send(Arc::new(SseFrame {
                    kind: e.kind,
                    data: e.body.to_string(),
                }));
            }
            let _ = self.events.send(e);
        }
    }

    /// Commits writes that change no books (the framework id, event
    /// subscriptions): fenced, atomic, in order with every action.
    pub async fn commit(&self, writes: Vec<Write>) -> Result<(), CommitError> {
        let _order = self.order.lock().await;
        self.write(writes).await
    }

    /// Commits `writes` (the caller holds `order`): finishes an earlier
    /// committed change first, and notes a failure (see [`Shared::failed`]).
    async fn write(&self, writes: Vec<Write>) -> Result<(), CommitError> {
        if writes.is_empty() {
            return Ok(());
        }
        let fence = *self.fence.lock();
        if self.roll_forward_due.load(Ordering::SeqCst) {
            commit::recover(&*self.store, fence)
                .await
                .map_err(|e| self.failed(e))?;
            self.roll_forward_due.store(false, Ordering::SeqCst);
        }
        match commit::commit(&*self.store, fence, writes).await {
            Ok(Committed::Done) => Ok(()),
            Ok(Committed::RollForwardDue) => {
                self.roll_forward_due.store(true, Ordering::SeqCst);
                Ok(())
            }
            Err(e) => Err(self.failed(e)),
        }
    }

    /// A failed commit: deposed → step down; otherwise the outcome is
    /// unknown (a timed-out write may have landed) → reload the books
    /// before the next action.
    fn failed(&self, e: CommitError) -> CommitError {
        match &e {
            CommitError::Deposed => {
                tracing::warn!("another Marathon leads now: stepping down");
                self.deposed.notify_waiters();
            }
            CommitError::Store(_) | CommitError::Corrupt { .. } => {
                tracing::warn!(error = %e, "commit failed; the books are reloaded before the next change");
                self.stale.store(true, Ordering::SeqCst);
            }
        }
        e
    }

    /// Reloads stale books from the store (the caller holds `order`).
    async fn refresh(&self) -> Result<(), CommitError> {
        if !self.stale.load(Ordering::SeqCst) {
            return Ok(());
        }
        let fence = *self.fence.lock();
        commit::recover(&*self.store, fence).await?;
        self.roll_forward_due.store(false, Ordering::SeqCst);
        let (mut books, _) = load(&*self.store).await?;
        let mut current = self.books.lock();
        books.max_versions = current.max_versions;
        *current = books;
        self.stale.store(false, Ordering::SeqCst);
        tracing::info!("books reloaded from the store");
        Ok(())
    }

    /// Carries an action out: plans it against the books, commits its
    /// writes (one fenced commit), and only then replaces the books,
    /// publishes its events and sends its kills. On any error the books
    /// are unchanged.
    pub async fn act(&self, action: Action) -> Result<Effects, ActError> {
        let _order = self.order.lock().await;
        self.refresh().await?;
        let t = now();
        let plan = {
            let books = self.books.lock();
            action::plan(&books, action, t)?
        };
        let mut effects = plan.effects;
        self.write(std::mem::take(&mut effects.writes)).await?;
        *self.books.lock() = plan.books;
        self.publish(std::mem::take(&mut effects.events));
        self.send_kills(std::mem::take(&mut effects.kills));
        self.wake.notify_one();
        Ok(effects)
    }

    /// The scheduler loop's way: carries an action out on the books in
    /// place (no copy of 10,000 instances per event batch), then commits.
    /// If the commit fails the loop ends: the leader gives its books up
    /// and a new term reloads them from the store, so decisions never go
    /// on from books ahead of the store.
    pub async fn decide(&self, action: Action) -> Result<Effects, ActError> {
        let _order = self.order.lock().await;
        self.refresh().await?;
        let mut effects = self.books.lock().act(action, now())?;
        self.write(std::mem::take(&mut effects.writes)).await?;
        self.publish(std::mem::take(&mut effects.events));
        self.send_kills(std::mem::take(&mut effects.kills));
        Ok(effects)
    }

    /// Sends kills through the scheduler (if subscribed).
    pub fn send_kills(&self, kills: Vec<Kill>) {
        if kills.is_empty() {
            return;
        }
        let Some(handle) = self.handle.lock().clone() else {
            return;
        };
        self.counters
            .kills
            .fetch_add(kills.len() as u64, Ordering::Relaxed);
        tokio::spawn(async move {
            let calls = kills.into_iter().map(|k| {
                let handle = handle.clone();
                async move {
                    let policy = k.grace_seconds.map(|g| KillPolicy {
                        grace_period: Some(DurationInfo::from_duration(Duration::from_secs_f64(
                            g.max(0.0),
                        ))),
                    });
                    let agent = (!k.agent_id.is_empty()).then(|| AgentId::new(k.agent_id));
                    if let Err(e) = handle.kill(TaskId::new(k.task_id), agent, policy).await {
                        tracing::warn!(error = %e, "kill failed");
                    }
                }
            });
            futures::stream::iter(calls)
                .buffer_unordered(64)
                .collect::<Vec<()>>()
                .await;
        });
    }
}

/// Loads the books from the store.
pub async fn load(store: &dyn Kv) -> Result<(Books, Option<String>), KvError> {
    let mut books = Books::default();
    // Every record is checked as the API checks a request: a bad one (hand
    // written, from an older version, corrupted) is reported and skipped,
    // never a panic later (and after every restart).
    let skip = |key: &str, why: &dyn std::fmt::Display| {
        tracing::error!(key, %why, "skipping an invalid record in the store");
    };
    for prefix in ["apps", "pods"] {
        for kv in crate::commit::range_all(store, &format!("{}/{prefix}/", state::PREFIX)).await? {
            match serde_json::from_slice::<crate::app::AppDefinition>(&kv.value) {
                Ok(app) => match stored_spec_violations(&app) {
                    None => {
                        books.apps.insert(app.id.clone(), app);
                    }
                    Some(why) => skip(&kv.key, &why),
                },
                Err(e) => skip(&kv.key, &e),
            }
        }
    }
    for kv in crate::commit::range_all(store, &format!("{}/versions/", state::PREFIX)).await? {
        let rest = &kv.key[format!("{}/versions", state::PREFIX).len()..];
        if let Some((id, version)) = rest.rsplit_once('@') {
            books
                .versions
                .entry(id.to_owned())
                .or_default()
                .push(version.to_owned());
        }
    }
    for kv in crate::commit::range_all(store, &format!("{}/instances/", state::PREFIX)).await? {
        match serde_json::from_slice::<state::Instance>(&kv.value) {
            Ok(inst) => {
                let checks = inst.health_checks.as_deref().unwrap_or_default();
                let probe = crate::app::AppDefinition {
                    health_checks: checks.to_vec(),
                    ..crate::app::AppDefinition::from_value(serde_json::json!({"id": "/i"}))
                        .expect("a minimal app parses")
                };
                let bad = probe.limit_violations("");
                if !books.apps.contains_key(&inst.app_id) {
                    skip(&kv.key, &format!("its app {} is not loaded", inst.app_id));
                } else if let Some((path, e)) = bad.first() {
                    skip(&kv.key, &format!("{path}: {e}"));
                } else if inst.seq == u64::MAX {
                    skip(&kv.key, &"seq out of range");
                } else {
                    books.next_seq = books.next_seq.max(inst.seq + 1);
                    books.insert_instance(inst);
                }
            }
            Err(e) => skip(&kv.key, &e),
        }
    }
    for kv in crate::commit::range_all(store, &format!("{}/deployments/", state::PREFIX)).await? {
        match serde_json::from_slice::<state::Deployment>(&kv.value) {
            Ok(d) => {
                books.deployments.insert(d.id.clone(), d);
            }
            Err(e) => skip(&kv.key, &e),
        }
    }
    for kv in crate::commit::range_all(store, &format!("{}/delays/", state::PREFIX)).await? {
        match serde_json::from_slice::<state::Delay>(&kv.value) {
            Ok(d) => {
                let id = kv.key[format!("{}/delays", state::PREFIX).len()..].to_owned();
                books.delays.insert(id, d);
            }
            Err(e) => skip(&kv.key, &e),
        }
    }
    for kv in crate::commit::range_all(store, &crate::history::group_versions_prefix()).await? {
        if let Some((group, version)) = crate::history::parse_group_version_key(&kv.key) {
            books.group_versions.entry(group).or_default().push(version);
        }
    }
    for versions in books.group_versions.values_mut() {
        versions.sort();
    }
    for kv in crate::commit::range_all(store, &format!("{}/groups/", state::PREFIX)).await? {
        let id = &kv.key[format!("{}/groups", state::PREFIX).len()..];
        match crate::app::canonical_id(id, "/") {
            Some(c) if c == id && crate::app::id_limit_violation(id, MAX_ID_LEN).is_none() => {
                books.groups.insert(id.to_owned());
            }
            _ => skip(&kv.key, &"not a valid group id"),
        }
    }
    let framework_id = store
        .get(state::FRAMEWORK_ID_KEY)
        .await?
        .map(|kv| String::from_utf8_lossy(&kv.value).into_owned());
    Ok((books, framework_id))
}

use crate::app::MAX_ID_LEN;

/// Why a stored app or pod run spec is not one the API would have taken
/// (`None`: it is).
pub fn stored_spec_violations(spec: &crate::app::AppDefinition) -> Option<String> {
    let result = match &spec.pod {
        None => spec.validate(),
        Some(pod) => pod.validate().and_then(|()| {
            let v = spec.limit_violations("");
            match v.first() {
                None => Ok(()),
                Some((path, e)) => Err(crate::app::Invalid::at(path.clone(), e.clone())),
            }
        }),
    };
    result.err().map(|e| e.to_string())
}

/// The stored event subscriptions (callback URLs).
pub async fn load_subscriptions(store: &dyn Kv) -> Result<Vec<String>, KvError> {
    Ok(
        crate::commit::range_all(store, &crate::subscriptions::subscriptions_prefix())
            .await?
            .into_iter()
            .map(|kv| String::from_utf8_lossy(&kv.value).into_owned())
            .collect(),
    )
}

/// Runs Marathon: serves the API at once (standbys proxy to the leader),
/// campaigns, and runs the scheduler while leading. Stops on Ctrl-C or
/// SIGTERM.
pub async fn run(flags: MarathonFlags) -> anyhow::Result<()> {
    let masters: Vec<String> = flags
        .master
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    let store_urls: Vec<String> = match &flags.store {
        Some(s) => s.split(',').map(|s| s.trim().to_owned()).collect(),
        None => masters.clone(),
    };
    let client: Arc<dyn Kv> =
        Arc::new(Client::new(store_urls).with_retry_for(Duration::from_secs(30)));
    // The one store handle of this process: the books, the framework id,
    // the subscriptions and both elections below all go through it, so a
    // namespace covers every key.
    let store: Arc<dyn Kv> = match &flags.store_namespace {
        Some(ns) => Arc::new(Namespaced::new(client, ns)?),
        None => client,
    };
    let listener = tokio::net::TcpListener::bind(&flags.listen).await?;
    let addr = listener.local_addr()?;
    let me = advertised(flags.hostname.as_deref(), addr);
    let shared = Shared::with_identity(
        store,
        me.clone(),
        Identity {
            framework_name: flags.framework_name.clone(),
            store_namespace: flags.store_namespace.clone(),
        },
    );
    let shutdown = CancellationToken::new();
    let app = crate::api::router(shared.clone());
    let serve_cancel = shutdown.clone();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(async move { serve_cancel.cancelled().await })
        .await
    });
    println!("dcos marathon listening on {addr} (advertised as {me})");
    let leader_task = tokio::spawn(lead(
        shared.clone(),
        flags.clone(),
        masters,
        shutdown.clone(),
    ));
    let follow_task = tokio::spawn(follow_leader(shared.clone(), shutdown.clone()));
    wait_for_signal().await;
    shutdown.cancel();
    let _ = leader_task.await;
    follow_task.abort();
    let _ = server.await;
    Ok(())
}

/// `host:port` other Marathons proxy to and `/v2/leader` reports: the
/// `--hostname` if given, else the bound host (the machine's host name
/// when bound to all interfaces, which peers could not dial).
fn advertised(hostname: Option<&str>, addr: std::net::SocketAddr) -> String {
    let host = match hostname {
        Some(h) => h.to_owned(),
        None if addr.ip().is_unspecified() => nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| addr.ip().to_string()),
        None => addr.ip().to_string(),
    };
    format!("{host}:{}", addr.port())
}

async fn wait_for_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}

/// Keeps `leader` current for standbys (who to proxy to).
async fn follow_leader(shared: Arc<Shared>, shutdown: CancellationToken) {
    let election = dcos_store::election::Election::new(
        shared.store.clone(),
        state::LEADER_KEY,
        shared.me.clone(),
        Duration::from_secs(3),
    );
    loop {
        if !shared.leader.borrow().elected {
            if let Ok(leader) = election.leader().await {
                shared.leader.send_if_modified(|l| {
                    let changed = l.leader != leader;
                    l.leader = leader;
                    changed && !l.elected
                });
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(300)) => {}
        }
    }
}

/// Campaign, lead until leadership is lost, repeat.
async fn lead(
    shared: Arc<Shared>,
    flags: MarathonFlags,
    masters: Vec<String>,
    shutdown: CancellationToken,
) {
    let election = dcos_store::election::Election::new(
        shared.store.clone(),
        state::LEADER_KEY,
        shared.me.clone(),
        Duration::from_secs_f64(flags.leader_ttl.max(1.0)),
    );
    loop {
        let leadership = tokio::select! {
            _ = shutdown.cancelled() => return,
            l = election.campaign() => l,
        };
        let leadership = match leadership {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "campaign failed; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        tracing::info!(me = %shared.me, "elected Marathon leader");
        let fence = Some(leadership.revision());
        *shared.fence.lock() = fence;
        let (mut books, framework_id, callbacks) = loop {
            let loaded = async {
                // What an earlier leader committed but did not apply.
                commit::recover(&*shared.store, fence).await?;
                let (books, framework_id) = load(&shared.store).await?;
                let callbacks = load_subscriptions(&shared.store).await?;
                Ok::<_, CommitError>((books, framework_id, callbacks))
            };
            match loaded.await {
                Ok(x) => break x,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot load state; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        };
        books.max_versions = Some(flags.max_versions);
        *shared.books.lock() = books;
        shared.stale.store(false, Ordering::SeqCst);
        shared.roll_forward_due.store(false, Ordering::SeqCst);
        *shared.framework_id.lock() = framework_id.clone();
        let stop = shutdown.child_token();
        shared
            .callbacks
            .start(callbacks, shared.events.subscribe(), stop.clone());
        shared.leader.send_replace(LeaderInfo {
            elected: true,
            leader: Some(shared.me.clone()),
        });
        let mut abdicated = false;
        let result = tokio::select! {
            _ = leadership.lost() => { tracing::warn!("lost leadership"); Ok(()) }
            _ = shared.abdicate.notified() => { abdicated = true; Ok(()) }
            _ = shared.deposed.notified() => { tracing::warn!("deposed"); Ok(()) }
            r = drive_loop(&shared, &flags, &masters, framework_id, stop.clone()) => r,
        };
        stop.cancel();
        shared.callbacks.stop();
        if let Err(e) = result {
            tracing::error!(error = %e, "scheduler loop ended");
        }
        *shared.handle.lock() = None;
        shared.leader.send_replace(LeaderInfo::default());
        {
            // No change of the old term lands after this.
            let _order = shared.order.lock().await;
            *shared.fence.lock() = None;
            *shared.books.lock() = Books::default();
        }
        if shutdown.is_cancelled() {
            // Hand over at once on a clean stop.
            leadership.resign().await;
            return;
        }
        if abdicated {
            tracing::info!("abdicated");
            leadership.resign().await;
            // Let a standby win the next round.
            tokio::time::sleep(Duration::from_secs(2)).await;
            continue;
        }
        drop(leadership);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The leader's loop: subscribe, then react to events, changes and ticks.
async fn drive_loop(
    shared: &Arc<Shared>,
    flags: &MarathonFlags,
    masters: &[String],
    framework_id: Option<String>,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let user = std::env::var("USER").unwrap_or_else(|_| "root".to_owned());
    let mut info = FrameworkInfo::new(user, flags.framework_name.clone());
    info.id = framework_id.map(FrameworkId::new);
    info.failover_timeout = Some(7.0 * 24.0 * 3600.0);
    info.checkpoint = Some(true);
    info.role = Some(flags.mesos_role.clone());
    info.webui_url = Some(format!("http://{}", shared.me));
    // TASK_UNREACHABLE (not TASK_LOST) for tasks on a lost agent, so
    // `unreachableStrategy` decides when they are replaced.
    info.capabilities = vec![FrameworkCapability::from(
        FrameworkCapabilityType::PartitionAware,
    )];
    let mut scheduler = Scheduler::start(SchedulerConfig::new(masters.iter().cloned(), info))?;
    let handle = scheduler.handle();
    let mut suppressed: Option<bool> = None;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_reconcile = now();
    let mut last_probe = 0.0;
    let mut last_health = 0.0;
    // Marathon-side health probes: owned by this loop (dropping it, on
    // lost leadership, aborts them), at most PROBES_AT_ONCE at a time.
    let mut probes: tokio::task::JoinSet<(Probe, Outcome)> = tokio::task::JoinSet::new();
    let probe_permits = Arc::new(tokio::sync::Semaphore::new(PROBES_AT_ONCE));
    let http = health::client();
    loop {
        let mut events = Vec::new();
        let mut probed = Vec::new();
        tokio::select! {
            _ = stop.cancelled() => break,
            Some(done) = probes.join_next(), if !probes.is_empty() => {
                probed.extend(done.ok());
                while let Some(done) = probes.try_join_next() {
                    probed.extend(done.ok());
                }
            }
            ev = scheduler.recv() => match ev {
                None => anyhow::bail!("the scheduler client stopped"),
                Some(ev) => {
                    events.push(ev);
                    // Take whatever else is already there, to batch commits.
                    while events.len() < 4096 {
                        match scheduler.recv().now_or_never() {
                            Some(Some(ev)) => events.push(ev),
                            _ => break,
                        }
                    }
                }
            },
            _ = shared.wake.notified() => {}
            _ = tick.tick() => {}
        }
        let mut updates: Vec<TaskStatus> = Vec::new();
        for ev in events {
            match ev {
                SchedulerEvent::Connected { framework_id, .. } => {
                    tracing::info!(%framework_id, "subscribed");
                    *shared.framework_id.lock() = Some(framework_id.value.clone());
                    *shared.handle.lock() = Some(handle.clone());
                    shared
                        .commit(vec![Write::Put(
                            state::FRAMEWORK_ID_KEY.to_owned(),
                            framework_id.value.into_bytes(),
                        )])
                        .await?;
                    suppressed = None;
                    reconcile(shared, &handle).await;
                    last_reconcile = now();
                }
                SchedulerEvent::Disconnected { reason } => {
                    tracing::warn!(%reason, "disconnected from the master");
                }
                SchedulerEvent::Closed { reason } => anyhow::bail!("scheduler closed: {reason}"),
                SchedulerEvent::Event(Event::Offers(offers)) => {
                    on_offers(shared, &handle, offers.offers).await?;
                }
                SchedulerEvent::Event(Event::Update(u)) => updates.push(u.status),
                SchedulerEvent::Event(_) => {}
            }
        }
        if !updates.is_empty() {
            on_updates(shared, &handle, updates).await?;
        }
        if !probed.is_empty() {
            on_probed(shared, probed).await?;
        }
        shared.decide(Action::Drive).await?;
        let t = now();
        let wants = shared.books.lock().wants_offers(t);
        if handle.is_connected() && suppressed != Some(!wants) {
            let r = if wants {
                handle.revive(Vec::new()).await
            } else {
                handle.suppress(Vec::new()).await
            };
            match r {
                Ok(()) => suppressed = Some(!wants),
                Err(e) => tracing::warn!(error = %e, "revive/suppress failed"),
            }
        }
        if t - last_probe >= 1.0 {
            last_probe = t;
            probe_readiness(shared);
        }
        // Every instance is looked at: not on every event batch.
        let due = if t - last_health >= 0.1 {
            last_health = t;
            let _order = shared.order.lock().await;
            shared.books.lock().due_probes(t)
        } else {
            Vec::new()
        };
        for p in due {
            let http = http.clone();
            let permits = probe_permits.clone();
            probes.spawn(async move {
                let _permit = permits.acquire_owned().await;
                let outcome = health::probe(&http, &p).await;
                (p, outcome)
            });
        }
        if handle.is_connected() && t - last_reconcile > 60.0 {
            last_reconcile = t;
            reconcile(shared, &handle).await;
        }
    }
    scheduler.stop().await;
    Ok(())
}

/// Marathon-side health probes running at once (Marathon throttled its
/// own to 256 after #3317).
const PROBES_AT_ONCE: usize = 256;

/// Folds finished health probes into the books; kills what failed too
/// often.
async fn on_probed(shared: &Shared, probed: Vec<(Probe, Outcome)>) -> Result<(), ActError> {
    shared.decide(Action::Probed(probed)).await?;
    Ok(())
}

/// Probes readiness of the instances that need it (once a second, in
/// the background); a ready instance lets its deployment go on.
fn probe_readiness(shared: &Arc<Shared>) {
    let probes = shared.books.lock().readiness_probes();
    if probes.is_empty() {
        return;
    }
    let shared = shared.clone();
    tokio::spawn(async move {
        let http = reqwest::Client::new();
        for (task_id, url, timeout, codes) in probes {
            let resp = http
                .get(&url)
                .timeout(Duration::from_secs_f64(timeout.max(0.1)))
                .send()
                .await;
            if resp.is_ok_and(|r| codes.contains(&r.status().as_u16())) {
                // Not stored, but a change of the books all the same.
                let _order = shared.order.lock().await;
                if let Some(i) = shared.books.lock().instances.get_mut(&task_id) {
                    i.ready = true;
                }
                shared.wake.notify_one();
            }
        }
    });
}

/// Explicit reconciliation of every instance we know, then implicit (so
/// tasks we do not know are reported, and killed).
async fn reconcile(shared: &Shared, handle: &SchedulerHandle) {
    let tasks: Vec<ReconcileTask> = shared
        .books
        .lock()
        .instances
        .values()
        .flat_map(|i| {
            Books::task_ids(i).into_iter().map(|t| ReconcileTask {
                task_id: TaskId::new(t),
                agent_id: Some(AgentId::new(i.agent_id.clone())),
            })
        })
        .collect();
    for chunk in tasks.chunks(5000) {
        if let Err(e) = handle.reconcile(chunk.to_vec()).await {
            tracing::warn!(error = %e, "explicit reconcile failed");
        }
    }
    if let Err(e) = handle.reconcile(Vec::new()).await {
        tracing::warn!(error = %e, "implicit reconcile failed");
    }
}

async fn on_offers(
    shared: &Shared,
    handle: &SchedulerHandle,
    offers: Vec<dcos_api::v1::Offer>,
) -> anyhow::Result<()> {
    shared
        .counters
        .offers
        .fetch_add(offers.len() as u64, Ordering::Relaxed);
    // The instances are durable before the master hears of them, so a
    // failover never forgets (and duplicates) a launched task.
    let matched = shared
        .decide(Action::Offers(offers))
        .await?
        .launch
        .unwrap_or_default();
    let wants = shared.books.lock().wants_offers(now());
    let launched: usize = matched.accepts.iter().map(|(_, t)| t.len()).sum::<usize>()
        + matched
            .groups
            .iter()
            .flat_map(|(_, g)| g.iter().map(|g| g.task_group.tasks.len()))
            .sum::<usize>();
    shared
        .counters
        .launched
        .fetch_add(launched as u64, Ordering::Relaxed);
    let filters = Some(Filters::refuse(if wants { 1.0 } else { 30.0 }));
    // One ACCEPT per offer: its tasks (LAUNCH) and pod instances
    // (a LAUNCH_GROUP each).
    let mut per_offer: Vec<(dcos_api::v1::OfferId, Vec<OfferOperation>)> = matched
        .accepts
        .into_iter()
        .map(|(offer, tasks)| (offer, vec![OfferOperation::launch(tasks)]))
        .collect();
    for (offer, groups) in matched.groups {
        let ops = groups
            .into_iter()
            .map(|g| OfferOperation::new(dcos_api::v1::Operation::LaunchGroup(g)));
        match per_offer.iter_mut().find(|(o, _)| *o == offer) {
            Some((_, existing)) => existing.extend(ops),
            None => per_offer.push((offer, ops.collect())),
        }
    }
    let calls = per_offer
        .into_iter()
        .map(|(offer, ops)| handle.accept(vec![offer], ops, filters));
    let results: Vec<_> = futures::stream::iter(calls)
        .buffer_unordered(64)
        .collect()
        .await;
    for r in results {
        if let Err(e) = r {
            tracing::warn!(error = %e, "accept failed");
        }
    }
    if !matched.declines.is_empty() {
        shared
            .counters
            .declined
            .fetch_add(matched.declines.len() as u64, Ordering::Relaxed);
        if let Err(e) = handle.decline(matched.declines, filters).await {
            tracing::warn!(error = %e, "decline failed");
        }
    }
    Ok(())
}

async fn on_updates(
    shared: &Shared,
    handle: &SchedulerHandle,
    updates: Vec<TaskStatus>,
) -> anyhow::Result<()> {
    shared
        .counters
        .updates
        .fetch_add(updates.len() as u64, Ordering::Relaxed);
    shared.decide(Action::Updates(updates.clone())).await?;
    let acks: Vec<_> = updates
        .iter()
        .filter(|s| s.needs_acknowledgement())
        .map(|s| handle.acknowledge_status(s))
        .collect();
    let acks: Vec<_> = futures::stream::iter(acks)
        .buffer_unordered(64)
        .collect()
        .await;
    for r in acks {
        if let Err(e) = r {
            tracing::warn!(error = %e, "acknowledge failed");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn advertises_the_hostname_flag_or_a_dialable_host() {
        let bound: std::net::SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert_eq!(super::advertised(None, bound), "127.0.0.1:8080");
        assert_eq!(super::advertised(Some("m1"), bound), "m1:8080");
        let any: std::net::SocketAddr = "0.0.0.0:8080".parse().unwrap();
        assert!(!super::advertised(None, any).starts_with("0.0.0.0:"));
    }
}
