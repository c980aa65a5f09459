//! Tasks and executors: `TaskInfo` (what to launch), `ExecutorInfo`,
//! checks and health checks, kill policy, service discovery, and what comes
//! back — `TaskState`, `TaskStatus` (with every `Reason`) and the master's
//! `Task` record.
//!
//! Owns JSON shapes, proto numbers and defaults, and the terminal-state rule.
//! State *transitions* belong to the master and agent.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::command::CommandInfo;
use super::container::{ContainerInfo, ContainerStatus, NetworkProtocol};
use super::encoding::Base64Bytes;
use super::ids::{AgentId, ExecutorId, FrameworkId, TaskId};
use super::resource::Resource;
use super::values::{DurationInfo, Labels, Scalar, TimeInfo};

/// `TaskInfo`: a task to launch. Exactly one of `executor` and `command`
/// should be set (see [`TaskInfo::validate_shape`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskInfo {
    /// Human-readable name.
    pub name: String,
    /// Framework-chosen ID.
    pub task_id: TaskId,
    /// Agent from the offer.
    pub agent_id: AgentId,
    /// Resources from the offer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
    /// Custom executor to run the task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor: Option<ExecutorInfo>,
    /// Command for the built-in command executor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandInfo>,
    /// Container to run the command in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerInfo>,
    /// Health check (command executor implements it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    /// General, non-killing check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<CheckInfo>,
    /// Grace period between SIGTERM and SIGKILL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_policy: Option<KillPolicy>,
    /// Opaque bytes for the executor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Base64Bytes>,
    /// Free-form metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
    /// Service discovery information.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<DiscoveryInfo>,
    /// Fail the task if still running after this long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_time: Option<DurationInfo>,
    /// Resource limits (`{"cpus": {"value": "Infinity"}}`); limits may
    /// exceed the requested resources.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub limits: BTreeMap<String, Scalar>,
}

/// Why a [`TaskInfo`] has the wrong shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskShapeError {
    /// Neither `executor` nor `command` was set.
    #[error("task {0} sets neither `executor` nor `command`")]
    NoExecutorOrCommand(String),
    /// Both `executor` and `command` were set.
    #[error("task {0} sets both `executor` and `command`")]
    BothExecutorAndCommand(String),
}

impl TaskInfo {
    /// A command task with only the required fields set.
    pub fn command(
        name: impl Into<String>,
        task_id: TaskId,
        agent_id: AgentId,
        command: CommandInfo,
    ) -> Self {
        Self {
            name: name.into(),
            task_id,
            agent_id,
            resources: Vec::new(),
            executor: None,
            command: Some(command),
            container: None,
            health_check: None,
            check: None,
            kill_policy: None,
            data: None,
            labels: None,
            discovery: None,
            max_completion_time: None,
            limits: BTreeMap::new(),
        }
    }

    /// Checks the `executor` XOR `command` rule. Tasks in a task group take
    /// their executor from `LaunchGroup.executor` and are exempt; pass
    /// `in_group = true` for them.
    pub fn validate_shape(&self, in_group: bool) -> Result<(), TaskShapeError> {
        match (&self.executor, &self.command) {
            (Some(_), Some(_)) => Err(TaskShapeError::BothExecutorAndCommand(
                self.task_id.value.clone(),
            )),
            (None, None) if !in_group => Err(TaskShapeError::NoExecutorOrCommand(
                self.task_id.value.clone(),
            )),
            _ => Ok(()),
        }
    }
}

/// `TaskGroupInfo`: tasks delivered to one executor atomically.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskGroupInfo {
    /// The tasks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<TaskInfo>,
}

wire_enum! {
    /// `ExecutorInfo.Type`.
    pub enum ExecutorType {
        /// Not set: inferred from `command` (CUSTOM) or its absence (DEFAULT).
        Unknown(UNKNOWN = 0),
        /// The built-in default executor (task groups).
        Default(DEFAULT = 1),
        /// A framework-provided executor; `command` must be set.
        Custom(CUSTOM = 2),
    }
    unknown => Unknown
}

/// `ExecutorInfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutorInfo {
    /// DEFAULT or CUSTOM; required for LAUNCH_GROUP.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ExecutorType>,
    /// Framework-chosen ID.
    pub executor_id: ExecutorId,
    /// Owning framework.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework_id: Option<FrameworkId>,
    /// How to start a CUSTOM executor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandInfo>,
    /// Container for the executor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerInfo>,
    /// Resources for the executor itself.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
    /// Human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Deprecated since 1.0; use labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Opaque bytes for the executor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Base64Bytes>,
    /// Service discovery information.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<DiscoveryInfo>,
    /// How long the agent waits on shutdown before destroying the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shutdown_grace_period: Option<DurationInfo>,
    /// Free-form metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
}

impl ExecutorInfo {
    /// An executor with only the ID set.
    pub fn new(executor_id: ExecutorId) -> Self {
        Self {
            kind: None,
            executor_id,
            framework_id: None,
            command: None,
            container: None,
            resources: Vec::new(),
            name: None,
            source: None,
            data: None,
            discovery: None,
            shutdown_grace_period: None,
            labels: None,
        }
    }

    /// The type, inferring it from `command` as Mesos does when unset.
    pub fn effective_kind(&self) -> ExecutorType {
        match self.kind {
            Some(k) if k != ExecutorType::Unknown => k,
            _ if self.command.is_some() => ExecutorType::Custom,
            _ => ExecutorType::Default,
        }
    }
}

wire_enum! {
    /// `HealthCheck.Type` and `CheckInfo.Type`.
    pub enum CheckType {
        /// Not set / unknown.
        Unknown(UNKNOWN = 0),
        /// Run a command; exit 0 is healthy.
        Command(COMMAND = 1),
        /// HTTP GET; 200–399 is healthy.
        Http(HTTP = 2),
        /// TCP connect.
        Tcp(TCP = 3),
    }
    unknown => Unknown
}

/// `HealthCheck`. Unset numeric fields take the proto defaults, available
/// through the same-named methods (as prost does).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HealthCheck {
    /// Seconds to wait after the task starts (default 15).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_seconds: Option<f64>,
    /// Seconds between checks (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_seconds: Option<f64>,
    /// Seconds before a check counts as failed (default 20; 0 = none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<f64>,
    /// Failures in a row before the task is killed (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive_failures: Option<u32>,
    /// Seconds after launch during which failures are ignored (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_period_seconds: Option<f64>,
    /// COMMAND, HTTP or TCP.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<CheckType>,
    /// For COMMAND checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandInfo>,
    /// For HTTP checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpCheckInfo>,
    /// For TCP checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpCheckInfo>,
}

impl HealthCheck {
    /// Default `delay_seconds`.
    pub const DEFAULT_DELAY_SECONDS: f64 = 15.0;
    /// Default `interval_seconds`.
    pub const DEFAULT_INTERVAL_SECONDS: f64 = 10.0;
    /// Default `timeout_seconds`.
    pub const DEFAULT_TIMEOUT_SECONDS: f64 = 20.0;
    /// Default `consecutive_failures`.
    pub const DEFAULT_CONSECUTIVE_FAILURES: u32 = 3;
    /// Default `grace_period_seconds`.
    pub const DEFAULT_GRACE_PERIOD_SECONDS: f64 = 10.0;

    /// `delay_seconds` with the default applied.
    pub fn delay_seconds(&self) -> f64 {
        self.delay_seconds.unwrap_or(Self::DEFAULT_DELAY_SECONDS)
    }

    /// `interval_seconds` with the default applied.
    pub fn interval_seconds(&self) -> f64 {
        self.interval_seconds
            .unwrap_or(Self::DEFAULT_INTERVAL_SECONDS)
    }

    /// `timeout_seconds` with the default applied.
    pub fn timeout_seconds(&self) -> f64 {
        self.timeout_seconds
            .unwrap_or(Self::DEFAULT_TIMEOUT_SECONDS)
    }

    /// `consecutive_failures` with the default applied.
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
            .unwrap_or(Self::DEFAULT_CONSECUTIVE_FAILURES)
    }

    /// `grace_period_seconds` with the default applied.
    pub fn grace_period_seconds(&self) -> f64 {
        self.grace_period_seconds
            .unwrap_or(Self::DEFAULT_GRACE_PERIOD_SECONDS)
    }

    /// The check type: `type` if set, else inferred from which field is set.
    pub fn effective_kind(&self) -> CheckType {
        match self.kind {
            Some(k) if k != CheckType::Unknown => k,
            _ if self.command.is_some() => CheckType::Command,
            _ if self.http.is_some() => CheckType::Http,
            _ if self.tcp.is_some() => CheckType::Tcp,
            _ => CheckType::Unknown,
        }
    }
}

/// `HealthCheck.HTTPCheckInfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpCheckInfo {
    /// IPv4 (default) or IPv6.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<NetworkProtocol>,
    /// `http` or `https`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    /// Port to GET.
    pub port: u32,
    /// Path to GET.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Statuses a custom executor treats as healthy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub statuses: Vec<u32>,
}

/// `HealthCheck.TCPCheckInfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpCheckInfo {
    /// IPv4 (default) or IPv6.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<NetworkProtocol>,
    /// Port expected to be open.
    pub port: u32,
}

/// `CheckInfo`: a general check whose result is reported, not acted on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckInfo {
    /// COMMAND, HTTP or TCP.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<CheckType>,
    /// For COMMAND checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CheckCommand>,
    /// For HTTP checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<CheckHttp>,
    /// For TCP checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<CheckTcp>,
    /// Seconds to wait after the task starts (default 15).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_seconds: Option<f64>,
    /// Seconds between checks (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_seconds: Option<f64>,
    /// Seconds before a check is abandoned (default 20; 0 = none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<f64>,
}

impl CheckInfo {
    /// `delay_seconds` with the default (15) applied.
    pub fn delay_seconds(&self) -> f64 {
        self.delay_seconds
            .unwrap_or(HealthCheck::DEFAULT_DELAY_SECONDS)
    }

    /// `interval_seconds` with the default (10) applied.
    pub fn interval_seconds(&self) -> f64 {
        self.interval_seconds
            .unwrap_or(HealthCheck::DEFAULT_INTERVAL_SECONDS)
    }

    /// `timeout_seconds` with the default (20) applied.
    pub fn timeout_seconds(&self) -> f64 {
        self.timeout_seconds
            .unwrap_or(HealthCheck::DEFAULT_TIMEOUT_SECONDS)
    }
}

/// `CheckInfo.Command`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckCommand {
    /// The command to run.
    pub command: CommandInfo,
}

/// `CheckInfo.Http`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckHttp {
    /// Port to GET.
    pub port: u32,
    /// Path to GET.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// `CheckInfo.Tcp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckTcp {
    /// Port to connect to.
    pub port: u32,
}

/// `CheckStatusInfo`: the latest result of a [`CheckInfo`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckStatusInfo {
    /// Which check this is a result of.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<CheckType>,
    /// COMMAND result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CheckStatusCommand>,
    /// HTTP result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<CheckStatusHttp>,
    /// TCP result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<CheckStatusTcp>,
}

/// `CheckStatusInfo.Command`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckStatusCommand {
    /// Exit code; unset when the check timed out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
}

/// `CheckStatusInfo.Http`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckStatusHttp {
    /// HTTP status; unset when the check timed out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u32>,
}

/// `CheckStatusInfo.Tcp`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckStatusTcp {
    /// Whether the connection succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub succeeded: Option<bool>,
}

/// `KillPolicy`: how long to wait between graceful and forcible kill.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KillPolicy {
    /// The grace period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_period: Option<DurationInfo>,
}

wire_enum! {
    /// `DiscoveryInfo.Visibility`.
    pub enum Visibility {
        /// Within the framework.
        Framework(FRAMEWORK = 0),
        /// Within the cluster.
        Cluster(CLUSTER = 1),
        /// Everywhere.
        External(EXTERNAL = 2),
    }
}

/// `DiscoveryInfo`: read by Mesos-DNS and other discovery systems.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscoveryInfo {
    /// Who may discover the service.
    pub visibility: Visibility,
    /// Service name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// PROD, QA, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Location.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Named ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Ports>,
    /// Metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
}

/// `Ports`: `{"ports": [...]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ports {
    /// The ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
}

/// `Port`: a named port for service discovery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Port {
    /// Port number.
    pub number: u32,
    /// Service name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `tcp`, `udp`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Overrides `DiscoveryInfo.visibility` for this port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<Visibility>,
    /// Metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
}

wire_enum! {
    /// `TaskState`. Proto numbers are not in lifecycle order.
    pub enum TaskState {
        /// Initial state, set by the master. Executors must not send it.
        Staging(TASK_STAGING = 6),
        /// The executor is launching the task.
        Starting(TASK_STARTING = 0),
        /// Running.
        Running(TASK_RUNNING = 1),
        /// Being killed (only for TASK_KILLING_STATE frameworks).
        Killing(TASK_KILLING = 8),
        /// Terminal: finished successfully.
        Finished(TASK_FINISHED = 2),
        /// Terminal: failed.
        Failed(TASK_FAILED = 3),
        /// Terminal: killed.
        Killed(TASK_KILLED = 4),
        /// Terminal: the task description was invalid.
        Error(TASK_ERROR = 7),
        /// Terminal (for non-PARTITION_AWARE frameworks): lost.
        Lost(TASK_LOST = 5),
        /// Terminal: dropped before launch by a transient error.
        Dropped(TASK_DROPPED = 9),
        /// The agent is unreachable; the task may still run.
        Unreachable(TASK_UNREACHABLE = 10),
        /// Terminal: the task is gone (agent restarted, …).
        Gone(TASK_GONE = 11),
        /// Terminal as asserted by the operator (MARK_AGENT_GONE).
        GoneByOperator(TASK_GONE_BY_OPERATOR = 12),
        /// The master does not know the task.
        Unknown(TASK_UNKNOWN = 13),
    }
}

impl TaskState {
    /// Mesos' `isTerminalState`: FINISHED, FAILED, KILLED, ERROR, LOST,
    /// DROPPED, GONE and GONE_BY_OPERATOR.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Finished
                | TaskState::Failed
                | TaskState::Killed
                | TaskState::Error
                | TaskState::Lost
                | TaskState::Dropped
                | TaskState::Gone
                | TaskState::GoneByOperator
        )
    }

    /// States only sent to PARTITION_AWARE frameworks; others get
    /// TASK_LOST instead.
    pub fn requires_partition_awareness(self) -> bool {
        matches!(
            self,
            TaskState::Dropped
                | TaskState::Unreachable
                | TaskState::Gone
                | TaskState::GoneByOperator
                | TaskState::Unknown
        )
    }
}

wire_enum! {
    /// `TaskStatus.Source`.
    pub enum Source {
        /// Generated by the master.
        Master(SOURCE_MASTER = 0),
        /// Generated by the agent.
        Agent(SOURCE_AGENT = 1),
        /// Generated by the executor.
        Executor(SOURCE_EXECUTOR = 2),
    }
}

wire_enum! {
    /// `TaskStatus.Reason`: why a status update happened
    /// (docs/task-state-reasons.md).
    pub enum Reason {
        /// The command executor failed (unused).
        CommandExecutorFailed(REASON_COMMAND_EXECUTOR_FAILED = 0),
        /// The container failed to launch.
        ContainerLaunchFailed(REASON_CONTAINER_LAUNCH_FAILED = 21),
        /// A container resource limit was hit.
        ContainerLimitation(REASON_CONTAINER_LIMITATION = 19),
        /// The disk limit was hit.
        ContainerLimitationDisk(REASON_CONTAINER_LIMITATION_DISK = 20),
        /// The memory limit was hit (OOM).
        ContainerLimitationMemory(REASON_CONTAINER_LIMITATION_MEMORY = 8),
        /// Preempted (revocable resources).
        ContainerPreempted(REASON_CONTAINER_PREEMPTED = 17),
        /// Updating the container's resources failed.
        ContainerUpdateFailed(REASON_CONTAINER_UPDATE_FAILED = 22),
        /// `max_completion_time` elapsed.
        MaxCompletionTimeReached(REASON_MAX_COMPLETION_TIME_REACHED = 33),
        /// The executor did not subscribe in time.
        ExecutorRegistrationTimeout(REASON_EXECUTOR_REGISTRATION_TIMEOUT = 23),
        /// The executor did not resubscribe in time after agent recovery.
        ExecutorReregistrationTimeout(REASON_EXECUTOR_REREGISTRATION_TIMEOUT = 24),
        /// The executor terminated.
        ExecutorTerminated(REASON_EXECUTOR_TERMINATED = 1),
        /// No longer used.
        ExecutorUnregistered(REASON_EXECUTOR_UNREGISTERED = 2),
        /// The framework was removed.
        FrameworkRemoved(REASON_FRAMEWORK_REMOVED = 3),
        /// Garbage collection failed.
        GcError(REASON_GC_ERROR = 4),
        /// The framework ID was invalid.
        InvalidFrameworkid(REASON_INVALID_FRAMEWORKID = 5),
        /// The offers were invalid.
        InvalidOffers(REASON_INVALID_OFFERS = 6),
        /// The I/O switchboard exited.
        IoSwitchboardExited(REASON_IO_SWITCHBOARD_EXITED = 27),
        /// The agent lost its master.
        MasterDisconnected(REASON_MASTER_DISCONNECTED = 7),
        /// Sent in reply to reconciliation.
        Reconciliation(REASON_RECONCILIATION = 9),
        /// The resources were unknown.
        ResourcesUnknown(REASON_RESOURCES_UNKNOWN = 18),
        /// The agent disconnected from the master.
        AgentDisconnected(REASON_AGENT_DISCONNECTED = 10),
        /// The agent is draining.
        AgentDraining(REASON_AGENT_DRAINING = 34),
        /// The agent was removed.
        AgentRemoved(REASON_AGENT_REMOVED = 11),
        /// The operator removed the agent (MARK_AGENT_GONE).
        AgentRemovedByOperator(REASON_AGENT_REMOVED_BY_OPERATOR = 31),
        /// The agent reregistered.
        AgentReregistered(REASON_AGENT_REREGISTERED = 32),
        /// The agent restarted.
        AgentRestarted(REASON_AGENT_RESTARTED = 12),
        /// The agent is unknown.
        AgentUnknown(REASON_AGENT_UNKNOWN = 13),
        /// Killed while being launched.
        TaskKilledDuringLaunch(REASON_TASK_KILLED_DURING_LAUNCH = 30),
        /// A check result changed.
        TaskCheckStatusUpdated(REASON_TASK_CHECK_STATUS_UPDATED = 28),
        /// A health check result changed.
        TaskHealthCheckStatusUpdated(REASON_TASK_HEALTH_CHECK_STATUS_UPDATED = 29),
        /// The task group was invalid.
        TaskGroupInvalid(REASON_TASK_GROUP_INVALID = 25),
        /// The task group was not authorized.
        TaskGroupUnauthorized(REASON_TASK_GROUP_UNAUTHORIZED = 26),
        /// The task was invalid.
        TaskInvalid(REASON_TASK_INVALID = 14),
        /// The task was not authorized.
        TaskUnauthorized(REASON_TASK_UNAUTHORIZED = 15),
        /// The task is unknown.
        TaskUnknown(REASON_TASK_UNKNOWN = 16),
    }
}

/// `TaskResourceLimitation`: which resource limit killed a task.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskResourceLimitation {
    /// The violated resources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
}

/// `TaskStatus`: a status update about one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskStatus {
    /// The task.
    pub task_id: TaskId,
    /// Its new state.
    pub state: TaskState,
    /// Human-readable explanation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Who generated the update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// Opaque bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Base64Bytes>,
    /// The agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
    /// The executor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor_id: Option<ExecutorId>,
    /// Seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<f64>,
    /// Set on reliably delivered updates; the scheduler must ACKNOWLEDGE
    /// exactly these. 16 raw UUID bytes, base64 on the wire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<Base64Bytes>,
    /// Health check verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy: Option<bool>,
    /// Latest general check result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_status: Option<CheckStatusInfo>,
    /// Metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
    /// Container details such as its IP addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_status: Option<ContainerStatus>,
    /// When the agent became unreachable (master clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreachable_time: Option<TimeInfo>,
    /// Details of a resource limitation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limitation: Option<TaskResourceLimitation>,
}

impl TaskStatus {
    /// A status with only the required fields set.
    pub fn new(task_id: TaskId, state: TaskState) -> Self {
        Self {
            task_id,
            state,
            message: None,
            source: None,
            reason: None,
            data: None,
            agent_id: None,
            executor_id: None,
            timestamp: None,
            uuid: None,
            healthy: None,
            check_status: None,
            labels: None,
            container_status: None,
            unreachable_time: None,
            limitation: None,
        }
    }

    /// Whether the scheduler must acknowledge this update.
    pub fn needs_acknowledgement(&self) -> bool {
        self.uuid.is_some()
    }
}

/// `Task`: the master's and agent's record of a launched task, as in
/// GET_TASKS, GET_STATE and TASK_ADDED.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// Name from the TaskInfo.
    pub name: String,
    /// The task.
    pub task_id: TaskId,
    /// Owning framework.
    pub framework_id: FrameworkId,
    /// The executor, if not the command executor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor_id: Option<ExecutorId>,
    /// The agent.
    pub agent_id: AgentId,
    /// Latest known state.
    pub state: TaskState,
    /// Resources used.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
    /// Status history.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub statuses: Vec<TaskStatus>,
    /// State of the latest update forwarded to the framework.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_update_state: Option<TaskState>,
    /// UUID of the latest update forwarded to the framework.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_update_uuid: Option<Base64Bytes>,
    /// Metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
    /// Service discovery information.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<DiscoveryInfo>,
    /// Container information.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerInfo>,
    /// Health check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    /// Kill policy in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_policy: Option<KillPolicy>,
    /// User the task runs as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Resource limits.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub limits: BTreeMap<String, Scalar>,
}

impl Task {
    /// The master's record for a task it just accepted from `framework_id`,
    /// in TASK_STAGING, as Mesos' `protobuf::createTask` builds it.
    pub fn from_task_info(info: &TaskInfo, framework_id: FrameworkId) -> Self {
        Self {
            name: info.name.clone(),
            task_id: info.task_id.clone(),
            framework_id,
            executor_id: info.executor.as_ref().map(|e| e.executor_id.clone()),
            agent_id: info.agent_id.clone(),
            state: TaskState::Staging,
            resources: info.resources.clone(),
            statuses: Vec::new(),
            status_update_state: None,
            status_update_uuid: None,
            labels: info.labels.clone(),
            discovery: info.discovery.clone(),
            container: info.container.clone(),
            health_check: info.health_check.clone(),
            kill_policy: info.kill_policy,
            user: info.command.as_ref().and_then(|c| c.user.clone()),
            limits: info.limits.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_states_match_the_reference() {
        use TaskState::*;
        let terminal = [
            Finished,
            Failed,
            Killed,
            Error,
            Lost,
            Dropped,
            Gone,
            GoneByOperator,
        ];
        for s in TaskState::ALL {
            assert_eq!(s.is_terminal(), terminal.contains(s), "{s}");
        }
    }

    #[test]
    fn task_state_numbers() {
        assert_eq!(TaskState::Staging.number(), 6);
        assert_eq!(TaskState::Starting.number(), 0);
        assert_eq!(TaskState::from_number(12), Some(TaskState::GoneByOperator));
        assert_eq!(TaskState::from_number(14), None);
        for s in TaskState::ALL {
            assert_eq!(TaskState::from_number(s.number()), Some(*s));
            assert_eq!(s.as_str().parse::<TaskState>().unwrap(), *s);
        }
    }

    #[test]
    fn every_reason_round_trips() {
        assert_eq!(Reason::ALL.len(), 35);
        for r in Reason::ALL {
            let json = serde_json::to_string(r).unwrap();
            assert_eq!(serde_json::from_str::<Reason>(&json).unwrap(), *r);
            assert_eq!(Reason::from_number(r.number()), Some(*r));
        }
    }

    #[test]
    fn health_check_defaults() {
        let hc: HealthCheck =
            serde_json::from_str(r#"{"type":"HTTP","http":{"port":8080,"path":"/health"}}"#)
                .unwrap();
        assert_eq!(hc.delay_seconds(), 15.0);
        assert_eq!(hc.interval_seconds(), 10.0);
        assert_eq!(hc.timeout_seconds(), 20.0);
        assert_eq!(hc.consecutive_failures(), 3);
        assert_eq!(hc.grace_period_seconds(), 10.0);
        assert_eq!(hc.effective_kind(), CheckType::Http);
        let tcp: HealthCheck = serde_json::from_str(r#"{"tcp":{"port":1}}"#).unwrap();
        assert_eq!(tcp.effective_kind(), CheckType::Tcp);
    }

    #[test]
    fn task_info_shape_and_limits() {
        let json = r#"{"name":"t","task_id":{"value":"t1"},"agent_id":{"value":"a1"},
            "command":{"value":"true"},"limits":{"cpus":{"value":"Infinity"},"mem":{"value":512}}}"#;
        let t: TaskInfo = serde_json::from_str(json).unwrap();
        assert!(t.validate_shape(false).is_ok());
        assert!(t.limits["cpus"].value.is_infinite());
        let mut both = t.clone();
        both.executor = Some(ExecutorInfo::new(ExecutorId::new("e")));
        assert!(matches!(
            both.validate_shape(false),
            Err(TaskShapeError::BothExecutorAndCommand(_))
        ));
        let task = Task::from_task_info(&t, FrameworkId::new("f"));
        assert_eq!(task.state, TaskState::Staging);
    }

    #[test]
    fn executor_kind_inference() {
        let mut e = ExecutorInfo::new(ExecutorId::new("e"));
        assert_eq!(e.effective_kind(), ExecutorType::Default);
        e.command = Some(CommandInfo::shell("./run"));
        assert_eq!(e.effective_kind(), ExecutorType::Custom);
    }
}
