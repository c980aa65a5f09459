//! The master's books, as a pure state machine: agents, frameworks, their
//! tasks and the outstanding offers. Every input (a scheduler call, an
//! agent call, a stream closing, a clock tick, an allocation plan) is a
//! method that takes the caller's [`Clock`] and returns the [`Effect`]s the
//! runtime must carry out (send an event on a stream, persist a registry
//! record, publish an operator event, run the allocator). No I/O, no clock
//! reads, no randomness here: the tests drive it directly and assert on
//! the effects.
//!
//! What it does not own: HTTP (see [`crate::http`]), connections and
//! timers (see [`crate::runtime`]), and the choice of who gets which
//! resources (see [`crate::allocator`]).

mod accept;
mod agents;
mod frameworks;
mod offers;
mod roles;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dcos_api::agent;
use dcos_api::operator;
use dcos_api::resources::Resources;
use dcos_api::scheduler;
use dcos_api::v1::{
    AgentId, AgentInfo, Base64Bytes, DrainInfo, ExecutorId, ExecutorInfo, FrameworkCapabilityType,
    FrameworkId, FrameworkInfo, MasterInfo, OfferId, Reason, Source, Task, TaskId, TaskState,
    TaskStatus, UNRESERVED_ROLE,
};
use serde::{Deserialize, Serialize};

use crate::allocator::OfferFilter;

/// Hasher of the offer maps: offer ids are made by the master (nothing a
/// client can choose), so a fast non-DoS-resistant hash is safe, and a
/// cycle at 10,000 agents inserts 20,000 of them under the lock.
pub type OfferIdHasher = foldhash::fast::RandomState;

pub use accept::validate_task;
pub use frameworks::validate_framework_info;
pub use roles::{Quota, QuotaRecord, WeightRecord};

/// Identifies one subscription stream (framework or agent), as in the
/// `Mesos-Stream-Id` header.
pub type StreamId = String;

/// Most completed tasks kept per framework (Mesos' default).
pub const MAX_COMPLETED_TASKS: usize = 1000;
/// Most completed frameworks kept (Mesos' default).
pub const MAX_COMPLETED_FRAMEWORKS: usize = 50;
/// Most status entries kept per task (the latest ones).
pub const MAX_STATUSES_PER_TASK: usize = 8;

/// The caller's clock, passed into every input.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// Monotonic time, for deadlines.
    pub now: Instant,
    /// Seconds since the Unix epoch, for timestamps on the wire.
    pub unix: f64,
}

/// Errors a call can fail with; each maps to one HTTP status in
/// [`crate::http`]. The messages follow Mesos' where Mesos has one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StateError {
    /// The framework id is unknown.
    #[error("Framework {0} cannot be found")]
    FrameworkNotFound(FrameworkId),
    /// The framework exists but has no subscription stream.
    #[error("Framework {0} is not subscribed")]
    NotSubscribed(FrameworkId),
    /// The request's `Mesos-Stream-Id` is not the framework's current one.
    #[error(
        "The stream ID '{stream}' included in this request didn't match the stream ID currently associated with framework ID {framework}"
    )]
    StreamMismatch {
        /// The stream id the request carried.
        stream: String,
        /// The framework.
        framework: FrameworkId,
    },
    /// The framework was torn down or timed out; it may not come back.
    #[error("Framework {0} has been removed")]
    FrameworkRemoved(FrameworkId),
    /// A call whose content is invalid (bad FrameworkInfo, bad uuid, …).
    #[error("{0}")]
    Invalid(String),
    /// The agent id is unknown.
    #[error("Agent {0} is not registered")]
    AgentNotFound(AgentId),
    /// The agent's call came on a stream that is not its current one.
    #[error("Agent {0} is not subscribed on this stream")]
    AgentStreamMismatch(AgentId),
    /// The agent was marked gone; it must not come back with this id.
    #[error("Agent {0} has been marked gone")]
    AgentGone(AgentId),
    /// A quota request the cluster cannot satisfy (legacy `POST /quota`
    /// without `force`).
    #[error("Sanity check for set quota request failed: {0}")]
    QuotaConflict(String),
}

/// What the runtime must do after an input.
// Effects live for one dispatch and are moved once: boxing the big
// variants would only add allocations.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Send a scheduler event on the framework's current stream (dropped
    /// when it has none).
    ToFramework(FrameworkId, scheduler::Event),
    /// Send an event on the agent's current stream (dropped when none).
    ToAgent(AgentId, agent::Event),
    /// Send a scheduler event on one particular stream (e.g. the ERROR to
    /// the stream a failover replaces).
    ToFrameworkStream(StreamId, scheduler::Event),
    /// Send an agent event on one particular stream (e.g. the SHUTDOWN
    /// before the stream is closed).
    ToAgentStream(StreamId, agent::Event),
    /// Close a subscription stream (replaced, torn down, refused).
    CloseStream(StreamId),
    /// Write a registry record to the store.
    Persist(Record),
    /// Publish an event to operator API subscribers.
    Operator(operator::Event),
    /// Capacity or demand changed: run an allocation cycle soon.
    Allocate,
}

/// A registry record, persisted under `/mesos/` so a new leader knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Record {
    /// `/mesos/frameworks/<id>`.
    Framework(FrameworkRecord),
    /// `/mesos/agents/<id>`.
    Agent(AgentRecord),
    /// `/mesos/weights/<role>`.
    Weight(WeightRecord),
    /// `/mesos/quotas/<role>`.
    Quota(QuotaRecord),
}

/// The durable part of a framework.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameworkRecord {
    /// Its info, with `id` set.
    pub info: FrameworkInfo,
    /// When it first subscribed (Unix seconds).
    pub registered_time: f64,
    /// Torn down or timed out: refuse re-subscription.
    pub removed: bool,
}

/// The durable part of an agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentRecord {
    /// Its info, with `id` set.
    pub info: AgentInfo,
    /// Base URL of its HTTP server.
    pub endpoint: String,
    /// Software version.
    pub version: String,
    /// Last known health.
    pub state: AgentState,
    /// Deactivated by the operator (no offers).
    pub deactivated: bool,
    /// Draining (no offers, tasks being killed).
    pub drain: Option<DrainInfo>,
    /// When it first registered (Unix seconds).
    pub registered_time: f64,
}

/// An agent's health as the master sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    /// Connected and heartbeating.
    Active,
    /// Its stream closed (or a new leader has not heard from it yet);
    /// becomes unreachable if it does not come back within the timeout.
    Disconnected,
    /// Missed heartbeats for the whole timeout; its tasks were reported
    /// unreachable/lost. It may re-register.
    Unreachable,
    /// Marked gone by the operator; never comes back with this id.
    Gone,
}

/// One agent.
#[derive(Debug, Clone)]
pub struct Agent {
    /// Its id.
    pub id: AgentId,
    /// Hostname, port, resources, attributes (as it registered).
    pub info: AgentInfo,
    /// Base URL of its HTTP server.
    pub endpoint: String,
    /// `Offer.url` (from `endpoint`), made once for all its offers.
    pub offer_url: dcos_api::v1::Url,
    /// Software version.
    pub version: String,
    /// Total resources (unallocated form). Changed only through
    /// [`Agent::set_total`], which keeps the cached copies in step.
    pub total: Resources,
    /// Resources of its non-terminal tasks and their executors
    /// (unallocated form). Changed only through [`Agent::add_used`] and
    /// [`Agent::sub_used`].
    pub used: Resources,
    /// Resources in outstanding offers (unallocated form). Changed only
    /// through [`Agent::add_offered`] and [`Agent::sub_offered`].
    pub offered: Resources,
    /// `total`, shared with allocation snapshots (no copy per cycle).
    total_shared: Arc<Resources>,
    /// `total - used - offered`, kept up to date by every change (an
    /// allocation cycle reads it for every agent: computing it there cost
    /// two subtractions per agent per cycle).
    available: Arc<Resources>,
    /// `available` must be recomputed (set between a change's two halves).
    dirty: bool,
    /// Health.
    pub state: AgentState,
    /// Deactivated by the operator.
    pub deactivated: bool,
    /// Draining.
    pub drain: Option<DrainInfo>,
    /// Its current subscription stream.
    pub stream: Option<StreamId>,
    /// Known from the registry after a master failover and not
    /// re-registered since: its tasks are not known yet (Mesos' "recovered"
    /// agents).
    pub recovered: bool,
    /// When it was last heard from.
    pub last_heard: Instant,
    /// First registration (Unix seconds).
    pub registered_time: f64,
    /// Last re-registration (Unix seconds).
    pub reregistered_time: Option<f64>,
    /// When it became unreachable (Unix seconds).
    pub unreachable_time: Option<f64>,
    /// Tasks on it, by framework.
    pub tasks: HashSet<(FrameworkId, TaskId)>,
    /// Executors known to run on it, by framework (their resources are
    /// in `used`).
    pub executors: Vec<(FrameworkId, ExecutorInfo)>,
    /// Outstanding offers of its resources.
    pub offers: BTreeSet<OfferId>,
}

impl Agent {
    /// A new agent with nothing used or offered.
    #[allow(clippy::too_many_arguments)]
    fn new(
        id: AgentId,
        info: AgentInfo,
        endpoint: String,
        version: String,
        total: Resources,
        state: AgentState,
        stream: Option<StreamId>,
        last_heard: Instant,
        registered_time: f64,
    ) -> Self {
        // Two copies: `available` changes with every offer and task, and a
        // shared one would be copied at its first change (in an
        // allocation cycle, for a new agent).
        let shared = Arc::new(total.clone());
        let available = Arc::new(total.clone());
        Agent {
            offer_url: offers::agent_url(&endpoint, &info.hostname, info.port()),
            id,
            info,
            endpoint,
            version,
            total,
            used: Resources::new(),
            offered: Resources::new(),
            total_shared: shared,
            available,
            dirty: false,
            state,
            deactivated: false,
            drain: None,
            stream,
            recovered: false,
            last_heard,
            registered_time,
            reregistered_time: None,
            unreachable_time: None,
            tasks: HashSet::new(),
            executors: Vec::new(),
            offers: BTreeSet::new(),
        }
    }

    /// What is neither used by tasks nor offered.
    pub fn available(&self) -> &Resources {
        &self.available
    }

    /// The total and the available resources, shared (for snapshots).
    pub(crate) fn shared_resources(&self) -> (Arc<Resources>, Arc<Resources>) {
        (Arc::clone(&self.total_shared), Arc::clone(&self.available))
    }

    /// Replaces the total (registration, UPDATE_RESOURCES).
    pub(crate) fn set_total(&mut self, total: Resources) {
        self.total_shared = Arc::new(total.clone());
        self.total = total;
        self.recompute_available();
    }

    /// Tasks or executors now hold `r` (unallocated form).
    pub(crate) fn add_used(&mut self, r: &Resources) {
        self.take_available(r);
        self.used += r;
        self.check_available();
    }

    /// Tasks or executors released `r` (unallocated form).
    pub(crate) fn sub_used(&mut self, r: &Resources) {
        let held = self.used.contains(r);
        self.used -= r;
        self.return_available(r, held);
    }

    /// An offer now holds `r` (unallocated form).
    pub(crate) fn add_offered(&mut self, r: &Resources) {
        self.take_available(r);
        self.offered += r;
        self.check_available();
    }

    /// Whether `available` is still the very `Arc` a snapshot took.
    pub(crate) fn available_is(&self, snapshot: &Arc<Resources>) -> bool {
        Arc::ptr_eq(&self.available, snapshot)
    }

    /// An offer now holds everything available (the allocator gave the
    /// agent whole): moved, not subtracted resource by resource.
    pub(crate) fn offer_all_available(&mut self) {
        let all = std::mem::replace(&mut self.available, Arc::new(Resources::new()));
        if self.offered.is_empty() {
            self.offered = Arc::try_unwrap(all).unwrap_or_else(|shared| (*shared).clone());
        } else {
            self.offered += &*all;
        }
        self.check_available();
    }

    /// An offer holding `r` (unallocated form) is gone.
    pub(crate) fn sub_offered(&mut self, r: &Resources) {
        let held = self.offered.contains(r);
        self.offered -= r;
        self.return_available(r, held);
    }

    /// `available -= r`: exact when `r` is available (always, for offers);
    /// otherwise (tasks of a re-registering agent beyond what it has
    /// free) recomputed after the caller's change.
    fn take_available(&mut self, r: &Resources) {
        let available = Arc::make_mut(&mut self.available);
        if available.contains(r) {
            *available -= r;
        } else {
            *available = Resources::new();
            self.dirty = true;
        }
    }

    fn return_available(&mut self, r: &Resources, held: bool) {
        if held && !self.dirty {
            *Arc::make_mut(&mut self.available) += r;
        } else {
            self.recompute_available();
        }
        self.check_available();
    }

    fn recompute_available(&mut self) {
        self.available = Arc::new(&(&self.total - &self.used) - &self.offered);
        self.dirty = false;
    }

    /// Debug builds check the incremental `available` against the sum.
    fn check_available(&mut self) {
        if self.dirty {
            self.recompute_available();
        }
        #[cfg(debug_assertions)]
        {
            let expected = &(&self.total - &self.used) - &self.offered;
            debug_assert!(
                expected == *self.available,
                "agent {}: available {:?} drifted from total - used - offered {:?}",
                self.id,
                self.available,
                expected
            );
        }
    }

    /// Whether it may be offered: connected, not deactivated, not draining.
    pub fn offerable(&self) -> bool {
        self.state == AgentState::Active && !self.deactivated && self.drain.is_none()
    }

    /// Its durable record.
    pub fn record(&self) -> AgentRecord {
        let mut info = self.info.clone();
        info.id = Some(self.id.clone());
        AgentRecord {
            info,
            endpoint: self.endpoint.clone(),
            version: self.version.clone(),
            state: self.state,
            deactivated: self.deactivated,
            drain: self.drain,
            registered_time: self.registered_time,
        }
    }
}

/// One framework.
#[derive(Debug, Clone)]
pub struct Framework {
    /// Its id.
    pub id: FrameworkId,
    /// Its info, with `id` set.
    pub info: FrameworkInfo,
    /// `info.effective_roles()`, resolved once.
    pub roles: Vec<String>,
    /// Its subscription stream, while connected.
    pub stream: Option<StreamId>,
    /// Known from the store after a master failover, not re-subscribed yet.
    pub recovered: bool,
    /// When a disconnected framework is removed.
    pub failover_deadline: Option<Instant>,
    /// Roles it suppressed.
    pub suppressed: BTreeSet<String>,
    /// Its DECLINE/ACCEPT filters.
    pub filters: Vec<OfferFilter>,
    /// Its outstanding offers (hashed: a framework may hold one per agent,
    /// 10,000 and more, and offer ids share a long prefix).
    pub offers: HashSet<OfferId, OfferIdHasher>,
    /// Live tasks (and terminal ones until their update is acknowledged).
    pub tasks: HashMap<TaskId, Task>,
    /// The latest completed tasks.
    pub completed_tasks: VecDeque<Task>,
    /// Resources of its non-terminal tasks and their executors
    /// (allocated form).
    pub used: Resources,
    /// Resources in its outstanding offers (allocated form).
    pub offered: Resources,
    /// First subscription (Unix seconds).
    pub registered_time: f64,
    /// Last re-subscription (Unix seconds).
    pub reregistered_time: Option<f64>,
    /// Last disconnection (Unix seconds).
    pub unregistered_time: Option<f64>,
}

impl Framework {
    /// Whether it advertises PARTITION_AWARE.
    pub fn partition_aware(&self) -> bool {
        self.info
            .has_capability(FrameworkCapabilityType::PartitionAware)
    }

    /// Connected and getting offers.
    pub fn connected(&self) -> bool {
        self.stream.is_some()
    }

    /// Its durable record.
    pub fn record(&self, removed: bool) -> FrameworkRecord {
        FrameworkRecord {
            info: self.info.clone(),
            registered_time: self.registered_time,
            removed,
        }
    }

    /// The state a framework may see: TASK_LOST in place of the
    /// partition-aware states for frameworks without the capability.
    pub fn visible_state(&self, state: TaskState) -> TaskState {
        if !self.partition_aware() && state.requires_partition_awareness() {
            TaskState::Lost
        } else {
            state
        }
    }
}

/// An outstanding offer: what the books need of it. The offer as sent is
/// rebuilt from this and its agent when a view asks
/// ([`State::offer_as_sent`]), so making one copies its fields once.
#[derive(Debug, Clone)]
pub struct OfferRec {
    /// Its id.
    pub id: OfferId,
    /// Who it was made to.
    pub framework_id: FrameworkId,
    /// Whose resources it holds.
    pub agent_id: AgentId,
    /// The role its resources are allocated to.
    pub role: String,
    /// Its resources (allocated form; shared with the allocation it came
    /// from, and with other offers of agents of the same shape).
    pub resources: Arc<Resources>,
}

/// Counters for `/metrics/snapshot` (gauges are computed when read).
#[derive(Debug, Clone, Default)]
pub struct Counters {
    /// Terminal transitions per state.
    pub terminal: BTreeMap<&'static str, u64>,
    /// Agent registrations.
    pub agent_registrations: u64,
    /// Agent re-registrations.
    pub agent_reregistrations: u64,
    /// Agents marked unreachable.
    pub agents_unreachable: u64,
    /// Agents removed (gone).
    pub agent_removals: u64,
    /// Status updates from agents that were valid.
    pub valid_status_updates: u64,
    /// Status updates from agents that were not.
    pub invalid_status_updates: u64,
    /// Offers made.
    pub offers_sent: u64,
    /// Offers declined.
    pub offers_declined: u64,
    /// Offers accepted.
    pub offers_accepted: u64,
    /// Offers rescinded.
    pub offers_rescinded: u64,
    /// Tasks launched.
    pub tasks_launched: u64,
    /// Framework-to-executor messages delivered.
    pub framework_to_executor_messages: u64,
    /// Executor-to-framework messages delivered.
    pub executor_to_framework_messages: u64,
    /// Frameworks removed.
    pub frameworks_removed: u64,
}

/// Tunables the core needs.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// No heartbeat for this long: the agent is unreachable.
    pub agent_timeout: Duration,
    /// After a leader change, how long frameworks and agents get to come
    /// back before timeouts apply and reconciliation answers TASK_LOST for
    /// unknown tasks.
    pub reregister_window: Duration,
}

/// The master's books.
#[derive(Debug)]
pub struct State {
    /// This master's id (a UUID).
    pub master_id: String,
    /// `MasterInfo` sent in SUBSCRIBED and REGISTERED.
    pub master_info: MasterInfo,
    /// Tunables.
    pub config: Config,
    next_agent: u64,
    next_framework: u64,
    next_offer: u64,
    next_uuid: u64,
    uuid_prefix: [u8; 8],
    /// Agents by id.
    pub agents: BTreeMap<AgentId, Agent>,
    /// Registered frameworks by id.
    pub frameworks: BTreeMap<FrameworkId, Framework>,
    /// The latest removed frameworks.
    pub completed_frameworks: VecDeque<Framework>,
    /// Ids of every removed framework (refused on re-subscription).
    pub removed_frameworks: HashSet<FrameworkId>,
    /// Outstanding offers.
    pub offers: HashMap<OfferId, OfferRec, OfferIdHasher>,
    /// Counters.
    pub counters: Counters,
    /// Whether to build operator events (only when someone listens).
    pub operator_events: bool,
    /// Until then, unknown tasks are not reported lost (agents are still
    /// re-registering after a leader change).
    pub recovering_until: Instant,
    /// Role weights the operator set (roles not listed weigh 1).
    pub weights: BTreeMap<String, f64>,
    /// Role quotas the operator set.
    pub quotas: BTreeMap<String, Quota>,
}

impl State {
    /// Fresh books for a master that just became the leader, with the
    /// registries recovered from the store.
    pub fn new(
        master_info: MasterInfo,
        config: Config,
        records: Vec<Record>,
        clock: Clock,
    ) -> State {
        let master_id = master_info.id.clone();
        let mut uuid_prefix = [0u8; 8];
        for (i, b) in master_id
            .bytes()
            .filter(|b| b.is_ascii_hexdigit())
            .enumerate()
        {
            uuid_prefix[i % 8] = uuid_prefix[i % 8].wrapping_mul(31).wrapping_add(b);
        }
        let mut state = State {
            master_id,
            master_info,
            config,
            next_agent: 0,
            next_framework: 0,
            next_offer: 0,
            next_uuid: 0,
            uuid_prefix,
            agents: BTreeMap::new(),
            frameworks: BTreeMap::new(),
            completed_frameworks: VecDeque::new(),
            removed_frameworks: HashSet::new(),
            offers: HashMap::default(),
            counters: Counters::default(),
            operator_events: false,
            recovering_until: clock.now + config.reregister_window,
            weights: BTreeMap::new(),
            quotas: BTreeMap::new(),
        };
        for record in records {
            state.recover(record, clock);
        }
        if state.agents.is_empty() {
            // Nothing to wait for.
            state.recovering_until = clock.now;
        }
        state
    }

    fn recover(&mut self, record: Record, clock: Clock) {
        match record {
            Record::Framework(r) => {
                let Some(id) = r.info.id.clone() else { return };
                if r.removed {
                    self.removed_frameworks.insert(id);
                    return;
                }
                let deadline =
                    clock.now + self.config.reregister_window + secs(r.info.failover_timeout());
                let mut fw = new_framework(id.clone(), r.info, r.registered_time);
                fw.recovered = true;
                fw.failover_deadline = Some(deadline);
                self.frameworks.insert(id, fw);
            }
            Record::Agent(r) => {
                let Some(id) = r.info.id.clone() else { return };
                let state = match r.state {
                    AgentState::Active | AgentState::Disconnected => AgentState::Disconnected,
                    other => other,
                };
                let total: Resources = r.info.resources.clone().into();
                let mut agent = Agent::new(
                    id.clone(),
                    r.info,
                    r.endpoint,
                    r.version,
                    total,
                    state,
                    None,
                    // A full timeout from the election to come back.
                    clock.now + self.config.reregister_window,
                    r.registered_time,
                );
                agent.deactivated = r.deactivated;
                agent.drain = r.drain;
                agent.recovered = true;
                self.agents.insert(id, agent);
            }
            other @ (Record::Weight(_) | Record::Quota(_)) => self.recover_role_record(other),
        }
    }

    /// A fresh status-update uuid (16 bytes, unique for this master).
    pub(crate) fn new_uuid(&mut self) -> Base64Bytes {
        self.next_uuid += 1;
        let mut bytes = Vec::with_capacity(16);
        bytes.extend_from_slice(&self.uuid_prefix);
        bytes.extend_from_slice(&self.next_uuid.to_be_bytes());
        Base64Bytes::new(bytes)
    }

    pub(crate) fn new_agent_id(&mut self) -> AgentId {
        let id = AgentId::for_master(&self.master_id, self.next_agent);
        self.next_agent += 1;
        id
    }

    pub(crate) fn new_framework_id(&mut self) -> FrameworkId {
        let id = FrameworkId::for_master(&self.master_id, self.next_framework);
        self.next_framework += 1;
        id
    }

    /// Whether the master is still in its re-registration window.
    pub fn recovering(&self, clock: Clock) -> bool {
        clock.now < self.recovering_until
    }

    /// A status update the master makes up (source MASTER).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn master_status(
        &mut self,
        task_id: &TaskId,
        agent_id: Option<&AgentId>,
        state: TaskState,
        reason: Reason,
        message: impl Into<String>,
        with_uuid: bool,
        clock: Clock,
    ) -> TaskStatus {
        let mut status = TaskStatus::new(task_id.clone(), state);
        status.source = Some(Source::Master);
        status.reason = Some(reason);
        status.message = Some(message.into());
        status.agent_id = agent_id.cloned();
        status.timestamp = Some(clock.unix);
        if with_uuid {
            status.uuid = Some(self.new_uuid());
        }
        status
    }

    /// The event for `status`, as the framework may see it.
    pub(crate) fn update_event(fw: &Framework, mut status: TaskStatus) -> Effect {
        status.state = fw.visible_state(status.state);
        Effect::ToFramework(
            fw.id.clone(),
            scheduler::Event::Update(scheduler::Update { status }),
        )
    }

    /// Records `status` on the task (if known) and returns the previous
    /// state. Frees the task's resources when it turns terminal.
    pub(crate) fn record_status(
        &mut self,
        framework_id: &FrameworkId,
        status: &TaskStatus,
    ) -> Option<TaskState> {
        let fw = self.frameworks.get_mut(framework_id)?;
        let task = fw.tasks.get_mut(&status.task_id)?;
        let previous = task.state;
        task.state = status.state;
        if status.uuid.is_some() {
            task.status_update_state = Some(status.state);
            task.status_update_uuid = status.uuid.clone();
        }
        let mut kept = status.clone();
        kept.data = None;
        task.statuses.push(kept);
        if task.statuses.len() > MAX_STATUSES_PER_TASK {
            let extra = task.statuses.len() - MAX_STATUSES_PER_TASK;
            task.statuses.drain(..extra);
        }
        if !previous.is_terminal() && status.state.is_terminal() {
            let resources: Resources = task.resources.clone().into();
            let agent_id = task.agent_id.clone();
            let has_executor = task.executor_id.is_some();
            fw.used -= &resources;
            if let Some(agent) = self.agents.get_mut(&agent_id) {
                agent.sub_used(&resources.unallocate());
            }
            *self
                .counters
                .terminal
                .entry(status.state.as_str())
                .or_default() += 1;
            if has_executor {
                self.release_idle_executors(&agent_id, framework_id);
            }
        }
        Some(previous)
    }

    /// Adds a task (non-terminal) to its framework and agent.
    pub(crate) fn add_task(&mut self, task: Task) {
        let resources: Resources = task.resources.clone().into();
        let terminal = task.state.is_terminal();
        if let Some(agent) = self.agents.get_mut(&task.agent_id) {
            agent
                .tasks
                .insert((task.framework_id.clone(), task.task_id.clone()));
            if !terminal {
                agent.add_used(&resources.unallocate());
            }
        }
        if let Some(fw) = self.frameworks.get_mut(&task.framework_id) {
            if !terminal {
                fw.used += &resources;
            }
            if let Some(old) = fw.tasks.insert(task.task_id.clone(), task) {
                // A terminal, unacknowledged task with the same id.
                push_completed(fw, old);
            }
        }
    }

    /// Moves a task to its framework's completed list (freeing resources
    /// if it was not terminal yet).
    pub(crate) fn complete_task(&mut self, framework_id: &FrameworkId, task_id: &TaskId) {
        let Some(fw) = self.frameworks.get_mut(framework_id) else {
            return;
        };
        let Some(task) = fw.tasks.remove(task_id) else {
            return;
        };
        let was_live = !task.state.is_terminal();
        if was_live {
            let resources: Resources = task.resources.clone().into();
            fw.used -= &resources;
            if let Some(agent) = self.agents.get_mut(&task.agent_id) {
                agent.sub_used(&resources.unallocate());
            }
        }
        let agent_id = task.agent_id.clone();
        let has_executor = task.executor_id.is_some();
        push_completed(fw, task);
        if let Some(agent) = self.agents.get_mut(&agent_id) {
            agent.tasks.remove(&(framework_id.clone(), task_id.clone()));
        }
        if was_live && has_executor {
            self.release_idle_executors(&agent_id, framework_id);
        }
    }

    /// Notes an executor running on an agent (if new there) and counts its
    /// resources (allocated form) as used by the agent and the framework,
    /// as Mesos does until the executor ends.
    pub(crate) fn add_executor(
        &mut self,
        agent_id: &AgentId,
        framework_id: &FrameworkId,
        executor: ExecutorInfo,
    ) {
        let Some(agent) = self.agents.get_mut(agent_id) else {
            return;
        };
        let known = agent
            .executors
            .iter()
            .any(|(f, e)| f == framework_id && e.executor_id == executor.executor_id);
        if known {
            return;
        }
        let resources: Resources = executor.resources.clone().into();
        agent.add_used(&resources.unallocate());
        if let Some(fw) = self.frameworks.get_mut(framework_id) {
            fw.used += &resources;
        }
        agent.executors.push((framework_id.clone(), executor));
    }

    /// Forgets the executors of `framework_id` on `agent_id` that no live
    /// task runs under any more, releasing their resources. (The agent
    /// protocol has no executor-exit message; a custom executor is taken
    /// to end with its last task.)
    pub(crate) fn release_idle_executors(
        &mut self,
        agent_id: &AgentId,
        framework_id: &FrameworkId,
    ) {
        let Some(agent) = self.agents.get(agent_id) else {
            return;
        };
        if !agent.executors.iter().any(|(f, _)| f == framework_id) {
            return;
        }
        let fw = self.frameworks.get(framework_id);
        let busy: HashSet<&ExecutorId> = agent
            .tasks
            .iter()
            .filter(|(f, _)| f == framework_id)
            .filter_map(|(_, t)| fw.and_then(|fw| fw.tasks.get(t)))
            .filter(|t| !t.state.is_terminal())
            .filter_map(|t| t.executor_id.as_ref())
            .collect();
        let idle: Vec<usize> = agent
            .executors
            .iter()
            .enumerate()
            .filter(|(_, (f, e))| f == framework_id && !busy.contains(&e.executor_id))
            .map(|(i, _)| i)
            .collect();
        if idle.is_empty() {
            return;
        }
        let agent = self.agents.get_mut(agent_id).expect("looked up above");
        let mut freed = Resources::new();
        for i in idle.into_iter().rev() {
            let (_, e) = agent.executors.swap_remove(i);
            freed += &Resources::from(e.resources);
        }
        agent.sub_used(&freed.unallocate());
        if let Some(fw) = self.frameworks.get_mut(framework_id) {
            fw.used -= &freed;
        }
    }

    /// Withdraws an offer: its resources go back to the agent's pool.
    /// With `notify`, the framework gets a RESCIND event.
    pub(crate) fn remove_offer(&mut self, offer_id: &OfferId, notify: bool) -> Vec<Effect> {
        let Some(rec) = self.offers.remove(offer_id) else {
            return Vec::new();
        };
        let unallocated = rec.resources.unallocate();
        if let Some(agent) = self.agents.get_mut(&rec.agent_id) {
            agent.sub_offered(&unallocated);
            agent.offers.remove(offer_id);
        }
        let mut effects = vec![Effect::Allocate];
        if let Some(fw) = self.frameworks.get_mut(&rec.framework_id) {
            fw.offered -= &*rec.resources;
            fw.offers.remove(offer_id);
            if notify && fw.connected() {
                self.counters.offers_rescinded += 1;
                effects.push(Effect::ToFramework(
                    fw.id.clone(),
                    scheduler::Event::Rescind(scheduler::Rescind {
                        offer_id: offer_id.clone(),
                    }),
                ));
            }
        }
        effects
    }

    /// Periodic checks: agents that stopped heartbeating become
    /// unreachable; disconnected frameworks whose failover timeout passed
    /// are removed; expired filters are dropped (and trigger allocation).
    pub fn tick(&mut self, clock: Clock) -> Vec<Effect> {
        let mut effects = Vec::new();
        let timeout = self.config.agent_timeout;
        let silent: Vec<AgentId> = self
            .agents
            .values()
            .filter(|a| {
                matches!(a.state, AgentState::Active | AgentState::Disconnected)
                    && clock.now.saturating_duration_since(a.last_heard) > timeout
            })
            .map(|a| a.id.clone())
            .collect();
        for id in silent {
            effects.extend(self.mark_unreachable(&id, clock));
        }
        let expired: Vec<FrameworkId> = self
            .frameworks
            .values()
            .filter(|f| f.stream.is_none() && f.failover_deadline.is_some_and(|d| clock.now >= d))
            .map(|f| f.id.clone())
            .collect();
        for id in expired {
            effects.extend(self.remove_framework(&id, clock));
        }
        let mut any_expired = false;
        for fw in self.frameworks.values_mut() {
            let before = fw.filters.len();
            fw.filters.retain(|f| f.until > clock.now);
            any_expired |= fw.filters.len() != before;
        }
        if any_expired {
            effects.push(Effect::Allocate);
        }
        effects
    }

    /// Live tasks per state (for metrics and summaries).
    pub fn task_state_counts(&self) -> BTreeMap<TaskState, u64> {
        let mut counts = BTreeMap::new();
        for fw in self.frameworks.values() {
            for task in fw.tasks.values() {
                *counts.entry(task.state).or_default() += 1;
            }
        }
        counts
    }

    /// Every role with a framework, an allocation, a weight other than 1
    /// or a quota (the roles Mesos' `/roles` lists), with its frameworks
    /// and allocated resources (used plus offered).
    pub fn roles(&self) -> BTreeMap<String, (Vec<FrameworkId>, Resources)> {
        let mut roles: BTreeMap<String, (Vec<FrameworkId>, Resources)> = BTreeMap::new();
        for (role, weight) in &self.weights {
            if *weight != 1.0 {
                roles.entry(role.clone()).or_default();
            }
        }
        for role in self.quotas.keys() {
            roles.entry(role.clone()).or_default();
        }
        for fw in self.frameworks.values() {
            for role in &fw.roles {
                roles.entry(role.clone()).or_default().0.push(fw.id.clone());
            }
            for (role, res) in by_allocation_role(&(&fw.used + &fw.offered), &fw.roles) {
                roles.entry(role).or_default().1 += &res;
            }
        }
        roles
    }
}

/// Groups allocated resources by their allocation role (resources without
/// one count for the framework's first role).
pub fn by_allocation_role(resources: &Resources, roles: &[String]) -> BTreeMap<String, Resources> {
    let default_role = roles
        .first()
        .cloned()
        .unwrap_or_else(|| UNRESERVED_ROLE.to_owned());
    let mut out: BTreeMap<String, Resources> = BTreeMap::new();
    for r in resources.iter() {
        let role = r
            .allocation_role()
            .map(str::to_owned)
            .unwrap_or_else(|| default_role.clone());
        out.entry(role).or_default().push(r.clone());
    }
    out
}

pub(crate) fn new_framework(id: FrameworkId, mut info: FrameworkInfo, now_unix: f64) -> Framework {
    info.id = Some(id.clone());
    Framework {
        roles: info.effective_roles(),
        id,
        info,
        stream: None,
        recovered: false,
        failover_deadline: None,
        suppressed: BTreeSet::new(),
        filters: Vec::new(),
        offers: HashSet::default(),
        tasks: HashMap::new(),
        completed_tasks: VecDeque::new(),
        used: Resources::new(),
        offered: Resources::new(),
        registered_time: now_unix,
        reregistered_time: None,
        unregistered_time: None,
    }
}

fn push_completed(fw: &mut Framework, task: Task) {
    fw.completed_tasks.push_back(task);
    while fw.completed_tasks.len() > MAX_COMPLETED_TASKS {
        fw.completed_tasks.pop_front();
    }
}

/// Seconds (possibly fractional or huge) as a Duration, saturating.
pub(crate) fn secs(s: f64) -> Duration {
    if s.is_finite() && s > 0.0 {
        Duration::try_from_secs_f64(s.min(1e12)).unwrap_or(Duration::MAX)
    } else {
        Duration::ZERO
    }
}
