//! The master's operator API, `/api/v1` (`mesos/v1/master/master.proto`,
//! plus the `quota` and `maintenance` protos it uses): the [`Call`]s an
//! operator sends, the synchronous [`Response`]s, and the [`Event`] stream
//! a SUBSCRIBE call opens.
//!
//! Payloads are grouped like the proto nests them: [`call`] holds
//! `Call.Foo` messages, [`response`] holds `Response.Foo` messages, and the
//! event payloads and shared messages (`VersionInfo`, `Flag`, `Role`, quota,
//! maintenance) sit at this level.
//!
//! Owns parsing and emitting; [`Call::response_type`] says which response a
//! call gets. Computing the responses belongs to the master. The agent's
//! operator API (GET_CONTAINERS, nested containers, attach) is not here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::v1::{
    AgentId, FrameworkId, FrameworkInfo, MachineId, Resource, ResourceProviderId, Scalar,
    TaskState, TaskStatus, TimeInfo, Unavailability,
};

/// Errors from parsing operator API messages.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// The body is not valid JSON for the message, names an unknown type,
    /// or lacks the field its type requires.
    #[error("malformed operator {what}: {source}")]
    Malformed {
        /// `call`, `response` or `event`.
        what: &'static str,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
}

proto_union! {
    /// An operator API call, by `type`.
    pub enum Call / CallType / CallWireIn / CallWireOut [serde] {
        extras {}
        /// Is the master healthy?
        GetHealth(GET_HEALTH = 1),
        /// The master's flags.
        GetFlags(GET_FLAGS = 2),
        /// The master's version.
        GetVersion(GET_VERSION = 3),
        /// A metrics snapshot.
        GetMetrics(GET_METRICS = 4) => get_metrics: call::GetMetrics [optional],
        /// The glog verbosity.
        GetLoggingLevel(GET_LOGGING_LEVEL = 5),
        /// Change the glog verbosity for a while.
        SetLoggingLevel(SET_LOGGING_LEVEL = 6) => set_logging_level: call::SetLoggingLevel,
        /// List a directory.
        ListFiles(LIST_FILES = 7) => list_files: call::ListFiles,
        /// Read part of a file.
        ReadFile(READ_FILE = 8) => read_file: call::ReadFile,
        /// Tasks, executors, frameworks and agents at once.
        GetState(GET_STATE = 9),
        /// Registered and recovered agents.
        GetAgents(GET_AGENTS = 10),
        /// Frameworks.
        GetFrameworks(GET_FRAMEWORKS = 11),
        /// Executors.
        GetExecutors(GET_EXECUTORS = 12),
        /// Operations.
        GetOperations(GET_OPERATIONS = 33),
        /// Tasks.
        GetTasks(GET_TASKS = 13),
        /// Roles.
        GetRoles(GET_ROLES = 14),
        /// Role weights.
        GetWeights(GET_WEIGHTS = 15),
        /// Change role weights.
        UpdateWeights(UPDATE_WEIGHTS = 16) => update_weights: call::UpdateWeights,
        /// The leading master's info.
        GetMaster(GET_MASTER = 17),
        /// Open the event stream.
        Subscribe(SUBSCRIBE = 18),
        /// Dynamically reserve resources on an agent.
        ReserveResources(RESERVE_RESOURCES = 19) => reserve_resources: call::ReserveResources,
        /// Release dynamic reservations on an agent.
        UnreserveResources(UNRESERVE_RESOURCES = 20) => unreserve_resources: call::UnreserveResources,
        /// Create persistent volumes.
        CreateVolumes(CREATE_VOLUMES = 21) => create_volumes: call::CreateVolumes,
        /// Destroy persistent volumes.
        DestroyVolumes(DESTROY_VOLUMES = 22) => destroy_volumes: call::DestroyVolumes,
        /// Grow a persistent volume.
        GrowVolume(GROW_VOLUME = 34) => grow_volume: call::GrowVolume,
        /// Shrink a persistent volume.
        ShrinkVolume(SHRINK_VOLUME = 35) => shrink_volume: call::ShrinkVolume,
        /// Maintenance status.
        GetMaintenanceStatus(GET_MAINTENANCE_STATUS = 23),
        /// Maintenance schedule.
        GetMaintenanceSchedule(GET_MAINTENANCE_SCHEDULE = 24),
        /// Replace the maintenance schedule.
        UpdateMaintenanceSchedule(UPDATE_MAINTENANCE_SCHEDULE = 25)
            => update_maintenance_schedule: call::UpdateMaintenanceSchedule,
        /// Bring machines down.
        StartMaintenance(START_MAINTENANCE = 26) => start_maintenance: call::StartMaintenance,
        /// Bring machines back up.
        StopMaintenance(STOP_MAINTENANCE = 27) => stop_maintenance: call::StopMaintenance,
        /// Drain an agent: kill its tasks, stop offering it.
        DrainAgent(DRAIN_AGENT = 37) => drain_agent: call::DrainAgent,
        /// Stop offering an agent's resources.
        DeactivateAgent(DEACTIVATE_AGENT = 38) => deactivate_agent: call::DeactivateAgent,
        /// Offer a deactivated or drained agent again.
        ReactivateAgent(REACTIVATE_AGENT = 39) => reactivate_agent: call::ReactivateAgent,
        /// Quotas.
        GetQuota(GET_QUOTA = 28),
        /// Set guarantees and limits for roles.
        UpdateQuota(UPDATE_QUOTA = 36) => update_quota: call::UpdateQuota,
        /// Deprecated: set a role's guarantee.
        SetQuota(SET_QUOTA = 29) => set_quota: call::SetQuota,
        /// Deprecated: remove a role's quota.
        RemoveQuota(REMOVE_QUOTA = 30) => remove_quota: call::RemoveQuota,
        /// Tear a framework down.
        Teardown(TEARDOWN = 31) => teardown: call::Teardown,
        /// Assert that an unreachable agent is gone for good.
        MarkAgentGone(MARK_AGENT_GONE = 32) => mark_agent_gone: call::MarkAgentGone,
    }
}

impl Call {
    /// Parses a JSON request body.
    pub fn from_json(body: &[u8]) -> Result<Self, OperatorError> {
        serde_json::from_slice(body).map_err(|source| OperatorError::Malformed {
            what: "call",
            source,
        })
    }

    /// The JSON encoding.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("operator calls have only string map keys")
    }

    /// The response type of a 200 reply, or `None` for calls answered
    /// with an empty 200/202 (mutations) or a stream (SUBSCRIBE).
    pub fn response_type(&self) -> Option<ResponseType> {
        use CallType as C;
        use ResponseType as R;
        Some(match self.kind() {
            C::GetHealth => R::GetHealth,
            C::GetFlags => R::GetFlags,
            C::GetVersion => R::GetVersion,
            C::GetMetrics => R::GetMetrics,
            C::GetLoggingLevel => R::GetLoggingLevel,
            C::ListFiles => R::ListFiles,
            C::ReadFile => R::ReadFile,
            C::GetState => R::GetState,
            C::GetAgents => R::GetAgents,
            C::GetFrameworks => R::GetFrameworks,
            C::GetExecutors => R::GetExecutors,
            C::GetOperations => R::GetOperations,
            C::GetTasks => R::GetTasks,
            C::GetRoles => R::GetRoles,
            C::GetWeights => R::GetWeights,
            C::GetMaster => R::GetMaster,
            C::GetMaintenanceStatus => R::GetMaintenanceStatus,
            C::GetMaintenanceSchedule => R::GetMaintenanceSchedule,
            C::GetQuota => R::GetQuota,
            C::SetLoggingLevel
            | C::UpdateWeights
            | C::Subscribe
            | C::ReserveResources
            | C::UnreserveResources
            | C::CreateVolumes
            | C::DestroyVolumes
            | C::GrowVolume
            | C::ShrinkVolume
            | C::UpdateMaintenanceSchedule
            | C::StartMaintenance
            | C::StopMaintenance
            | C::DrainAgent
            | C::DeactivateAgent
            | C::ReactivateAgent
            | C::UpdateQuota
            | C::SetQuota
            | C::RemoveQuota
            | C::Teardown
            | C::MarkAgentGone => return None,
        })
    }
}

/// `Call.Foo` payloads.
pub mod call {
    use super::*;
    use crate::v1::DurationInfo;

    /// `Call.GetMetrics`.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
    pub struct GetMetrics {
        /// Reply within this long, leaving out slow metrics.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub timeout: Option<DurationInfo>,
    }

    /// `Call.SetLoggingLevel`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    pub struct SetLoggingLevel {
        /// glog verbosity.
        pub level: u32,
        /// How long before reverting.
        pub duration: DurationInfo,
    }

    /// `Call.ListFiles`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct ListFiles {
        /// A virtual path (`/master/log`, a sandbox, …).
        pub path: String,
    }

    /// `Call.ReadFile`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct ReadFile {
        /// A virtual path.
        pub path: String,
        /// Where to start.
        pub offset: u64,
        /// At most this many bytes (capped at 16 pages).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub length: Option<u64>,
    }

    /// `Call.UpdateWeights`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub struct UpdateWeights {
        /// New weights.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub weight_infos: Vec<WeightInfo>,
    }

    /// `Call.ReserveResources`.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct ReserveResources {
        /// The agent.
        pub agent_id: AgentId,
        /// Resources to re-reserve from, if not unreserved ones.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub source: Vec<Resource>,
        /// Resources with the reservation to make.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub resources: Vec<Resource>,
    }

    /// `Call.UnreserveResources`.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct UnreserveResources {
        /// The agent.
        pub agent_id: AgentId,
        /// Reserved resources to release.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub resources: Vec<Resource>,
    }

    /// `Call.CreateVolumes`.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct CreateVolumes {
        /// The agent.
        pub agent_id: AgentId,
        /// Volumes (reserved disk with persistence).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub volumes: Vec<Resource>,
    }

    /// `Call.DestroyVolumes`.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct DestroyVolumes {
        /// The agent.
        pub agent_id: AgentId,
        /// Volumes to destroy.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub volumes: Vec<Resource>,
    }

    /// `Call.GrowVolume`.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct GrowVolume {
        /// Set for agent-local volumes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub agent_id: Option<AgentId>,
        /// The volume.
        pub volume: Resource,
        /// Disk to add.
        pub addition: Resource,
    }

    /// `Call.ShrinkVolume`.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct ShrinkVolume {
        /// Set for agent-local volumes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub agent_id: Option<AgentId>,
        /// The volume.
        pub volume: Resource,
        /// MB to remove.
        pub subtract: Scalar,
    }

    /// `Call.UpdateMaintenanceSchedule`.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct UpdateMaintenanceSchedule {
        /// The new schedule.
        pub schedule: Schedule,
    }

    /// `Call.StartMaintenance`.
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
    pub struct StartMaintenance {
        /// Machines to bring down.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub machines: Vec<MachineId>,
    }

    /// `Call.StopMaintenance`.
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
    pub struct StopMaintenance {
        /// Machines to bring up.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub machines: Vec<MachineId>,
    }

    /// `Call.DrainAgent`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct DrainAgent {
        /// The agent.
        pub agent_id: AgentId,
        /// Cap on task kill grace periods.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub max_grace_period: Option<DurationInfo>,
        /// Mark the agent gone once drained (default false).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub mark_gone: Option<bool>,
    }

    /// `Call.DeactivateAgent`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct DeactivateAgent {
        /// The agent.
        pub agent_id: AgentId,
    }

    /// `Call.ReactivateAgent`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct ReactivateAgent {
        /// The agent.
        pub agent_id: AgentId,
    }

    /// `Call.UpdateQuota`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub struct UpdateQuota {
        /// Skip the capacity check.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub force: Option<bool>,
        /// New configurations, one per role.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub quota_configs: Vec<QuotaConfig>,
    }

    /// `Call.SetQuota` (deprecated).
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct SetQuota {
        /// The request.
        pub quota_request: QuotaRequest,
    }

    /// `Call.RemoveQuota` (deprecated).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct RemoveQuota {
        /// The role.
        pub role: String,
    }

    /// `Call.Teardown`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Teardown {
        /// The framework.
        pub framework_id: FrameworkId,
    }

    /// `Call.MarkAgentGone`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct MarkAgentGone {
        /// The agent.
        pub agent_id: AgentId,
    }
}

proto_union! {
    /// A synchronous reply to an operator [`Call`], by `type`.
    pub enum Response / ResponseType / ResponseWireIn / ResponseWireOut [serde] {
        extras {}
        /// Reply to GET_HEALTH.
        GetHealth(GET_HEALTH = 1) => get_health: response::GetHealth,
        /// Reply to GET_FLAGS.
        GetFlags(GET_FLAGS = 2) => get_flags: response::GetFlags,
        /// Reply to GET_VERSION.
        GetVersion(GET_VERSION = 3) => get_version: response::GetVersion,
        /// Reply to GET_METRICS.
        GetMetrics(GET_METRICS = 4) => get_metrics: response::GetMetrics,
        /// Reply to GET_LOGGING_LEVEL.
        GetLoggingLevel(GET_LOGGING_LEVEL = 5) => get_logging_level: response::GetLoggingLevel,
        /// Reply to LIST_FILES.
        ListFiles(LIST_FILES = 6) => list_files: response::ListFiles,
        /// Reply to READ_FILE.
        ReadFile(READ_FILE = 7) => read_file: response::ReadFile,
        /// Reply to GET_STATE.
        GetState(GET_STATE = 8) => get_state: response::GetState,
        /// Reply to GET_AGENTS.
        GetAgents(GET_AGENTS = 9) => get_agents: response::GetAgents,
        /// Reply to GET_FRAMEWORKS.
        GetFrameworks(GET_FRAMEWORKS = 10) => get_frameworks: response::GetFrameworks,
        /// Reply to GET_EXECUTORS.
        GetExecutors(GET_EXECUTORS = 11) => get_executors: response::GetExecutors,
        /// Reply to GET_OPERATIONS.
        GetOperations(GET_OPERATIONS = 19) => get_operations: response::GetOperations,
        /// Reply to GET_TASKS.
        GetTasks(GET_TASKS = 12) => get_tasks: response::GetTasks,
        /// Reply to GET_ROLES.
        GetRoles(GET_ROLES = 13) => get_roles: response::GetRoles,
        /// Reply to GET_WEIGHTS.
        GetWeights(GET_WEIGHTS = 14) => get_weights: response::GetWeights,
        /// Reply to GET_MASTER.
        GetMaster(GET_MASTER = 15) => get_master: response::GetMaster,
        /// Reply to GET_MAINTENANCE_STATUS.
        GetMaintenanceStatus(GET_MAINTENANCE_STATUS = 16)
            => get_maintenance_status: response::GetMaintenanceStatus,
        /// Reply to GET_MAINTENANCE_SCHEDULE.
        GetMaintenanceSchedule(GET_MAINTENANCE_SCHEDULE = 17)
            => get_maintenance_schedule: response::GetMaintenanceSchedule,
        /// Reply to GET_QUOTA.
        GetQuota(GET_QUOTA = 18) => get_quota: response::GetQuota,
    }
}

impl Response {
    /// Parses a JSON response body.
    pub fn from_json(body: &[u8]) -> Result<Self, OperatorError> {
        serde_json::from_slice(body).map_err(|source| OperatorError::Malformed {
            what: "response",
            source,
        })
    }

    /// The JSON encoding.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("operator responses have only string map keys")
    }
}

/// `Response.Foo` payloads.
pub mod response {
    use super::*;
    use crate::v1::{
        AgentCapability, AgentInfo, Base64Bytes, DrainInfo, ExecutorInfo, InverseOffer, MasterInfo,
        Offer, OperationRecord, Task,
    };

    /// `Response.GetHealth`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    pub struct GetHealth {
        /// Whether the master is healthy.
        pub healthy: bool,
    }

    /// `Response.GetFlags`.
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
    pub struct GetFlags {
        /// The flags.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub flags: Vec<Flag>,
    }

    /// `Response.GetVersion`.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct GetVersion {
        /// Version and build information.
        pub version_info: VersionInfo,
    }

    /// `Response.GetMetrics`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub struct GetMetrics {
        /// The metrics.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub metrics: Vec<Metric>,
    }

    /// `Response.GetLoggingLevel`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    pub struct GetLoggingLevel {
        /// glog verbosity.
        pub level: u32,
    }

    /// `Response.ListFiles`.
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
    pub struct ListFiles {
        /// Directory entries.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub file_infos: Vec<FileInfo>,
    }

    /// `Response.ReadFile`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct ReadFile {
        /// Total file size in bytes.
        pub size: u64,
        /// The bytes read (base64 on the wire).
        pub data: Base64Bytes,
    }

    /// `Response.GetState`: the cluster snapshot, also sent as the first
    /// event of an operator subscription.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub struct GetState {
        /// Tasks.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub get_tasks: Option<GetTasks>,
        /// Executors.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub get_executors: Option<GetExecutors>,
        /// Frameworks.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub get_frameworks: Option<GetFrameworks>,
        /// Agents.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub get_agents: Option<GetAgents>,
    }

    /// `Response.GetAgents`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub struct GetAgents {
        /// Registered agents.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub agents: Vec<Agent>,
        /// Agents recovered from the registry but not yet reregistered.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub recovered_agents: Vec<AgentInfo>,
    }

    /// `Response.GetAgents.Agent`.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Agent {
        /// The agent's info.
        pub agent_info: AgentInfo,
        /// Connected and offering.
        pub active: bool,
        /// Deactivated by the operator (or draining).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub deactivated: Option<bool>,
        /// Agent version.
        pub version: String,
        /// libprocess PID, `slave(1)@ip:port`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub pid: Option<String>,
        /// First registration.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub registered_time: Option<TimeInfo>,
        /// Latest reregistration.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub reregistered_time: Option<TimeInfo>,
        /// Total resources, including oversubscribed ones.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub total_resources: Vec<Resource>,
        /// Resources allocated to frameworks.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub allocated_resources: Vec<Resource>,
        /// Resources currently offered.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub offered_resources: Vec<Resource>,
        /// Agent capabilities.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub capabilities: Vec<AgentCapability>,
        /// Local resource providers.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub resource_providers: Vec<AgentResourceProvider>,
        /// Draining state, when draining.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub drain_info: Option<DrainInfo>,
        /// When draining is expected to start (maintenance).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub estimated_drain_start_time: Option<TimeInfo>,
    }

    /// `Response.GetAgents.Agent.ResourceProvider`.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct AgentResourceProvider {
        /// The provider.
        pub resource_provider_info: ResourceProviderInfo,
        /// Its resources.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub total_resources: Vec<Resource>,
    }

    /// `Response.GetFrameworks`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub struct GetFrameworks {
        /// Subscribed (possibly disconnected) frameworks.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub frameworks: Vec<Framework>,
        /// Torn-down frameworks.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub completed_frameworks: Vec<Framework>,
        /// Deprecated; always empty since Mesos 1.2.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub recovered_frameworks: Vec<FrameworkInfo>,
    }

    /// `Response.GetFrameworks.Framework`.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Framework {
        /// The framework's info.
        pub framework_info: FrameworkInfo,
        /// Receiving offers.
        pub active: bool,
        /// Has a live scheduler connection.
        pub connected: bool,
        /// Known from agents after master failover, not yet resubscribed.
        pub recovered: bool,
        /// First subscription.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub registered_time: Option<TimeInfo>,
        /// Latest resubscription.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub reregistered_time: Option<TimeInfo>,
        /// When it disconnected or was removed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub unregistered_time: Option<TimeInfo>,
        /// Outstanding offers.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub offers: Vec<Offer>,
        /// Outstanding inverse offers.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub inverse_offers: Vec<InverseOffer>,
        /// Resources used by its tasks and executors.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub allocated_resources: Vec<Resource>,
        /// Resources in its outstanding offers.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub offered_resources: Vec<Resource>,
    }

    /// `Response.GetExecutors`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub struct GetExecutors {
        /// Known executors.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub executors: Vec<Executor>,
        /// Deprecated; always empty since Mesos 1.3.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub orphan_executors: Vec<Executor>,
    }

    /// `Response.GetExecutors.Executor`.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Executor {
        /// The executor's info.
        pub executor_info: ExecutorInfo,
        /// Where it runs.
        pub agent_id: AgentId,
    }

    /// `Response.GetOperations`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub struct GetOperations {
        /// Known operations.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub operations: Vec<OperationRecord>,
    }

    /// `Response.GetTasks`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub struct GetTasks {
        /// Waiting in the master (e.g. authorization).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub pending_tasks: Vec<Task>,
        /// Sent to agents: staging, running, or terminal but unacknowledged.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub tasks: Vec<Task>,
        /// On unreachable agents.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub unreachable_tasks: Vec<Task>,
        /// Terminal and acknowledged.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub completed_tasks: Vec<Task>,
        /// Deprecated; always empty since Mesos 1.3.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub orphan_tasks: Vec<Task>,
    }

    /// `Response.GetRoles`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub struct GetRoles {
        /// Known roles.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub roles: Vec<Role>,
    }

    /// `Response.GetWeights`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub struct GetWeights {
        /// Weights.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub weight_infos: Vec<WeightInfo>,
    }

    /// `Response.GetMaster`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub struct GetMaster {
        /// The leading master.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub master_info: Option<MasterInfo>,
        /// Process start, seconds since the epoch.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub start_time: Option<f64>,
        /// Election, seconds since the epoch.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub elected_time: Option<f64>,
    }

    /// `Response.GetMaintenanceStatus`.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct GetMaintenanceStatus {
        /// The status.
        pub status: ClusterStatus,
    }

    /// `Response.GetMaintenanceSchedule`.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct GetMaintenanceSchedule {
        /// The schedule.
        pub schedule: Schedule,
    }

    /// `Response.GetQuota`.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct GetQuota {
        /// The quotas.
        pub status: QuotaStatus,
    }
}

proto_union! {
    /// An event on an operator SUBSCRIBE stream.
    pub enum Event / EventType / EventWireIn / EventWireOut [serde] {
        extras {}
        /// First event: the full state snapshot.
        Subscribed(SUBSCRIBED = 1) => subscribed: Subscribed,
        /// A task became known.
        TaskAdded(TASK_ADDED = 2) => task_added: TaskAdded,
        /// A task changed state.
        TaskUpdated(TASK_UPDATED = 3) => task_updated: TaskUpdated,
        /// An agent (re)registered.
        AgentAdded(AGENT_ADDED = 4) => agent_added: AgentAdded,
        /// An agent was removed.
        AgentRemoved(AGENT_REMOVED = 5) => agent_removed: AgentRemoved,
        /// A framework subscribed.
        FrameworkAdded(FRAMEWORK_ADDED = 6) => framework_added: FrameworkAdded,
        /// A framework resubscribed or changed.
        FrameworkUpdated(FRAMEWORK_UPDATED = 7) => framework_updated: FrameworkUpdated,
        /// A framework was removed.
        FrameworkRemoved(FRAMEWORK_REMOVED = 8) => framework_removed: FrameworkRemoved,
        /// Keep-alive.
        Heartbeat(HEARTBEAT = 9),
    }
}

impl Event {
    /// Parses one event (one RecordIO record).
    pub fn from_json(record: &[u8]) -> Result<Self, OperatorError> {
        serde_json::from_slice(record).map_err(|source| OperatorError::Malformed {
            what: "event",
            source,
        })
    }

    /// The JSON encoding, ready for RecordIO framing.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("operator events have only string map keys")
    }
}

/// `Event.Subscribed`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Subscribed {
    /// The cluster snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get_state: Option<response::GetState>,
    /// Set when the master sends heartbeats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_interval_seconds: Option<f64>,
}

/// `Event.TaskAdded`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskAdded {
    /// The task.
    pub task: crate::v1::Task,
}

/// `Event.TaskUpdated`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskUpdated {
    /// The task's framework.
    pub framework_id: FrameworkId,
    /// Latest status acknowledged by the scheduler.
    pub status: TaskStatus,
    /// Latest state according to the agent (may be newer than `status`).
    pub state: TaskState,
}

/// `Event.AgentAdded`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentAdded {
    /// The agent.
    pub agent: response::Agent,
}

/// `Event.AgentRemoved`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentRemoved {
    /// The agent.
    pub agent_id: AgentId,
}

/// `Event.FrameworkAdded`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameworkAdded {
    /// The framework.
    pub framework: response::Framework,
}

/// `Event.FrameworkUpdated`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameworkUpdated {
    /// The framework.
    pub framework: response::Framework,
}

/// `Event.FrameworkRemoved`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameworkRemoved {
    /// The framework.
    pub framework_info: FrameworkInfo,
}

/// `VersionInfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionInfo {
    /// Version string, e.g. `1.11.0`.
    pub version: String,
    /// Build date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_date: Option<String>,
    /// Build time, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_time: Option<f64>,
    /// Who built it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_user: Option<String>,
    /// Git commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_sha: Option<String>,
    /// Git branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_branch: Option<String>,
    /// Git tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_tag: Option<String>,
}

/// `Flag`: a command-line flag and its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flag {
    /// Flag name without dashes.
    pub name: String,
    /// Its value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// `Metric`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// Name, e.g. `master/uptime_secs`.
    pub name: String,
    /// Value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

/// `Role`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Role {
    /// Role name.
    pub name: String,
    /// DRF weight (default 1.0).
    pub weight: f64,
    /// Frameworks subscribed to the role.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub frameworks: Vec<FrameworkId>,
    /// Resources allocated to the role.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
}

/// `WeightInfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeightInfo {
    /// Weight.
    pub weight: f64,
    /// Role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// `FileInfo`: one entry of a LIST_FILES reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInfo {
    /// Absolute path.
    pub path: String,
    /// Hard links.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nlink: Option<i32>,
    /// Size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Modification time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtime: Option<TimeInfo>,
    /// Mode bits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
    /// Owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<String>,
}

/// `ResourceProviderInfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceProviderInfo {
    /// Set once registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<ResourceProviderId>,
    /// Attributes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<crate::v1::Attribute>,
    /// Implementation, e.g. `org.apache.mesos.rp.local.storage`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Instance name.
    pub name: String,
    /// Reservations applied to its resources by default.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub default_reservations: Vec<crate::v1::ReservationInfo>,
    /// Storage (CSI plugin) settings, passed through unparsed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<serde_json::Value>,
}

/// `quota.QuotaConfig`: guarantees and limits for one role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuotaConfig {
    /// The role.
    pub role: String,
    /// Guaranteed amounts by resource name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub guarantees: BTreeMap<String, Scalar>,
    /// Upper limits by resource name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub limits: BTreeMap<String, Scalar>,
}

/// `quota.QuotaRequest` (deprecated SET_QUOTA).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuotaRequest {
    /// Skip the capacity check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force: Option<bool>,
    /// The role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Guaranteed resources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guarantee: Vec<Resource>,
}

/// `quota.QuotaInfo` (deprecated form in GET_QUOTA).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuotaInfo {
    /// The role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Who set it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// Guaranteed resources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guarantee: Vec<Resource>,
}

/// `quota.QuotaStatus`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QuotaStatus {
    /// Deprecated guarantee-only form.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub infos: Vec<QuotaInfo>,
    /// Current configurations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub configs: Vec<QuotaConfig>,
}

/// `maintenance.Window`: machines unavailable together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// The machines.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub machine_ids: Vec<MachineId>,
    /// When.
    pub unavailability: Unavailability,
}

/// `maintenance.Schedule`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// Windows; a machine appears in at most one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<Window>,
}

wire_enum! {
    /// `allocator.InverseOfferStatus.Status`.
    pub enum InverseOfferStatusKind {
        /// No answer yet.
        Unknown(UNKNOWN = 1),
        /// The framework accepted.
        Accept(ACCEPT = 2),
        /// The framework declined.
        Decline(DECLINE = 3),
    }
    unknown => Unknown
}

/// `allocator.InverseOfferStatus`: a framework's answer to an inverse offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InverseOfferStatus {
    /// The answer.
    pub status: InverseOfferStatusKind,
    /// The framework.
    pub framework_id: FrameworkId,
    /// When it answered.
    pub timestamp: TimeInfo,
}

/// `maintenance.ClusterStatus.DrainingMachine`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrainingMachine {
    /// The machine.
    pub id: MachineId,
    /// Frameworks' answers so far.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub statuses: Vec<InverseOfferStatus>,
}

/// `maintenance.ClusterStatus`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterStatus {
    /// Machines being drained.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub draining_machines: Vec<DrainingMachine>,
    /// Machines that are down.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub down_machines: Vec<MachineId>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::{AgentInfo, DurationInfo, Task, TaskId};
    use serde_json::json;

    #[test]
    fn simple_calls_parse_and_name_their_response() {
        for (json, kind, response) in [
            (
                r#"{"type":"GET_HEALTH"}"#,
                CallType::GetHealth,
                Some(ResponseType::GetHealth),
            ),
            (
                r#"{"type":"GET_VERSION"}"#,
                CallType::GetVersion,
                Some(ResponseType::GetVersion),
            ),
            (
                r#"{"type":"GET_FLAGS"}"#,
                CallType::GetFlags,
                Some(ResponseType::GetFlags),
            ),
            (
                r#"{"type":"GET_STATE"}"#,
                CallType::GetState,
                Some(ResponseType::GetState),
            ),
            (
                r#"{"type":"GET_AGENTS"}"#,
                CallType::GetAgents,
                Some(ResponseType::GetAgents),
            ),
            (
                r#"{"type":"GET_FRAMEWORKS"}"#,
                CallType::GetFrameworks,
                Some(ResponseType::GetFrameworks),
            ),
            (
                r#"{"type":"GET_TASKS"}"#,
                CallType::GetTasks,
                Some(ResponseType::GetTasks),
            ),
            (
                r#"{"type":"GET_ROLES"}"#,
                CallType::GetRoles,
                Some(ResponseType::GetRoles),
            ),
            (
                r#"{"type":"GET_METRICS"}"#,
                CallType::GetMetrics,
                Some(ResponseType::GetMetrics),
            ),
            (
                r#"{"type":"GET_MASTER"}"#,
                CallType::GetMaster,
                Some(ResponseType::GetMaster),
            ),
            (r#"{"type":"SUBSCRIBE"}"#, CallType::Subscribe, None),
        ] {
            let call = Call::from_json(json.as_bytes()).unwrap();
            assert_eq!(call.kind(), kind);
            assert_eq!(call.response_type(), response, "{json}");
            assert_eq!(Call::from_json(&call.to_json()).unwrap(), call);
        }
    }

    #[test]
    fn mutating_calls() {
        let teardown =
            Call::from_json(br#"{"type":"TEARDOWN","teardown":{"framework_id":{"value":"f"}}}"#)
                .unwrap();
        assert_eq!(
            teardown,
            Call::Teardown(call::Teardown {
                framework_id: FrameworkId::new("f")
            })
        );
        let gone = Call::from_json(
            br#"{"type":"MARK_AGENT_GONE","mark_agent_gone":{"agent_id":{"value":"a"}}}"#,
        )
        .unwrap();
        assert_eq!(gone.response_type(), None);
        let drain = Call::from_json(
            br#"{"type":"DRAIN_AGENT","drain_agent":{"agent_id":{"value":"a"},
                "max_grace_period":{"nanoseconds":1000000000},"mark_gone":true}}"#,
        )
        .unwrap();
        let Call::DrainAgent(d) = &drain else {
            panic!("not a drain");
        };
        assert_eq!(
            d.max_grace_period,
            Some(DurationInfo {
                nanoseconds: 1_000_000_000
            })
        );
        assert_eq!(Call::from_json(&drain.to_json()).unwrap(), drain);

        let quota = Call::from_json(
            br#"{"type":"UPDATE_QUOTA","update_quota":{"force":false,"quota_configs":[
                {"role":"dev","guarantees":{"cpus":{"value":1}},"limits":{"cpus":{"value":10}}}]}}"#,
        )
        .unwrap();
        let Call::UpdateQuota(q) = &quota else {
            panic!("not a quota update");
        };
        assert_eq!(q.quota_configs[0].limits["cpus"].value, 10.0);

        let err = Call::from_json(br#"{"type":"TEARDOWN"}"#).unwrap_err();
        assert!(err.to_string().contains("`teardown`"), "{err}");
        let err = Call::from_json(br#"{"type":"GET_EVERYTHING"}"#).unwrap_err();
        assert!(err.to_string().contains("GET_EVERYTHING"), "{err}");
    }

    #[test]
    fn responses_round_trip() {
        let health = Response::GetHealth(response::GetHealth { healthy: true });
        assert_eq!(
            serde_json::to_value(&health).unwrap(),
            json!({"type":"GET_HEALTH","get_health":{"healthy":true}})
        );
        let version = Response::GetVersion(response::GetVersion {
            version_info: VersionInfo {
                version: "1.11.0".into(),
                build_date: None,
                build_time: None,
                build_user: None,
                git_sha: Some("abc".into()),
                git_branch: None,
                git_tag: None,
            },
        });
        assert_eq!(Response::from_json(&version.to_json()).unwrap(), version);

        let master = Response::from_json(
            br#"{"type":"GET_MASTER","get_master":{"master_info":{"id":"m","ip":0,"port":5050},
                "start_time":1.5,"elected_time":2.5}}"#,
        )
        .unwrap();
        let Response::GetMaster(m) = &master else {
            panic!("not get_master");
        };
        assert_eq!(m.elected_time, Some(2.5));

        let state = Response::GetState(response::GetState {
            get_tasks: Some(response::GetTasks::default()),
            get_executors: Some(response::GetExecutors::default()),
            get_frameworks: Some(response::GetFrameworks::default()),
            get_agents: Some(response::GetAgents {
                agents: vec![response::Agent {
                    agent_info: AgentInfo {
                        hostname: "h".into(),
                        port: None,
                        resources: vec![Resource::scalar("cpus", 4.0)],
                        attributes: Vec::new(),
                        id: Some(AgentId::new("m-S0")),
                        domain: None,
                    },
                    active: true,
                    deactivated: Some(false),
                    version: "1.11.0".into(),
                    pid: None,
                    registered_time: Some(TimeInfo { nanoseconds: 1 }),
                    reregistered_time: None,
                    total_resources: vec![Resource::scalar("cpus", 4.0)],
                    allocated_resources: Vec::new(),
                    offered_resources: Vec::new(),
                    capabilities: Vec::new(),
                    resource_providers: Vec::new(),
                    drain_info: None,
                    estimated_drain_start_time: None,
                }],
                recovered_agents: Vec::new(),
            }),
        });
        let json = serde_json::to_value(&state).unwrap();
        assert_eq!(json["get_state"]["get_tasks"], json!({}));
        assert_eq!(Response::from_json(&state.to_json()).unwrap(), state);

        let roles = Response::from_json(
            br#"{"type":"GET_ROLES","get_roles":{"roles":[{"name":"*","weight":1.0,
                "frameworks":[{"value":"f"}]}]}}"#,
        )
        .unwrap();
        assert_eq!(roles.kind(), ResponseType::GetRoles);
    }

    #[test]
    fn event_stream_types() {
        let task = Task {
            name: "t".into(),
            task_id: TaskId::new("t"),
            framework_id: FrameworkId::new("f"),
            executor_id: None,
            agent_id: AgentId::new("a"),
            state: TaskState::Staging,
            resources: Vec::new(),
            statuses: Vec::new(),
            status_update_state: None,
            status_update_uuid: None,
            labels: None,
            discovery: None,
            container: None,
            health_check: None,
            kill_policy: None,
            user: None,
            limits: BTreeMap::new(),
        };
        let events = vec![
            Event::Subscribed(Subscribed {
                get_state: Some(response::GetState::default()),
                heartbeat_interval_seconds: Some(15.0),
            }),
            Event::TaskAdded(TaskAdded { task }),
            Event::TaskUpdated(TaskUpdated {
                framework_id: FrameworkId::new("f"),
                status: TaskStatus::new(TaskId::new("t"), TaskState::Running),
                state: TaskState::Running,
            }),
            Event::AgentRemoved(AgentRemoved {
                agent_id: AgentId::new("a"),
            }),
            Event::FrameworkRemoved(FrameworkRemoved {
                framework_info: FrameworkInfo::new("u", "n"),
            }),
            Event::Heartbeat,
        ];
        for e in events {
            assert_eq!(Event::from_json(&e.to_json()).unwrap(), e);
        }
        let json = serde_json::to_value(Event::AgentRemoved(AgentRemoved {
            agent_id: AgentId::new("a"),
        }))
        .unwrap();
        assert_eq!(
            json,
            json!({"type":"AGENT_REMOVED","agent_removed":{"agent_id":{"value":"a"}}})
        );
    }
}
