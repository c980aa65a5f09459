//! Offers and what frameworks do with them: `Offer`, `Offer.Operation`
//! (LAUNCH, LAUNCH_GROUP, RESERVE, …), `InverseOffer`, `Filters`, resource
//! `Request`s, and operation feedback (`OperationStatus`).
//!
//! Owns JSON shapes and the `Filters` defaults (refuse 5 s, capped at a
//! year). Applying operations to an agent's resources belongs to the master.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::encoding::Base64Bytes;
use super::ids::{AgentId, ExecutorId, FrameworkId, OfferId, OperationId, ResourceProviderId};
use super::node::{DomainInfo, Unavailability};
use super::resource::{AllocationInfo, DiskSourceType, Resource};
use super::task::{ExecutorInfo, TaskGroupInfo, TaskInfo};
use super::values::{Attribute, Scalar, Url};

/// `Offer`: resources on one agent, allocated to one of the framework's
/// roles until accepted, declined or rescinded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Offer {
    /// Offer ID (`<master>-O<n>`).
    pub id: OfferId,
    /// The framework offered to.
    pub framework_id: FrameworkId,
    /// The agent the resources are on.
    pub agent_id: AgentId,
    /// The agent's hostname.
    pub hostname: String,
    /// How to reach the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<Url>,
    /// The agent's fault domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<DomainInfo>,
    /// Offered resources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
    /// The agent's attributes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<Attribute>,
    /// The framework's executors already running on the agent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub executor_ids: Vec<ExecutorId>,
    /// Planned maintenance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailability: Option<Unavailability>,
    /// The role this offer is allocated to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation_info: Option<AllocationInfo>,
}

proto_union! {
    /// The body of an `Offer.Operation`, by `type`.
    pub enum Operation / OperationType / OperationWireIn / OperationWireOut {
        extras { id: OperationId }
        /// Launch tasks (each with its own executor or command).
        Launch(LAUNCH = 1) => launch: Launch,
        /// Launch a task group atomically on one executor.
        LaunchGroup(LAUNCH_GROUP = 6) => launch_group: LaunchGroup,
        /// Dynamically reserve resources.
        Reserve(RESERVE = 2) => reserve: Reserve,
        /// Remove dynamic reservations.
        Unreserve(UNRESERVE = 3) => unreserve: Unreserve,
        /// Create persistent volumes.
        Create(CREATE = 4) => create: Create,
        /// Destroy persistent volumes.
        Destroy(DESTROY = 5) => destroy: Destroy,
        /// Grow a persistent volume.
        GrowVolume(GROW_VOLUME = 11) => grow_volume: GrowVolume,
        /// Shrink a persistent volume.
        ShrinkVolume(SHRINK_VOLUME = 12) => shrink_volume: ShrinkVolume,
        /// Turn a RAW disk into a MOUNT or BLOCK disk.
        CreateDisk(CREATE_DISK = 13) => create_disk: CreateDisk,
        /// Turn a MOUNT or BLOCK disk back into RAW.
        DestroyDisk(DESTROY_DISK = 14) => destroy_disk: DestroyDisk,
    }
}

/// `Offer.Operation`: one step of an ACCEPT call.
#[derive(Debug, Clone, PartialEq)]
pub struct OfferOperation {
    /// Set to receive UPDATE_OPERATION_STATUS feedback.
    pub id: Option<OperationId>,
    /// What to do.
    pub operation: Operation,
}

impl OfferOperation {
    /// An operation without feedback.
    pub fn new(operation: Operation) -> Self {
        Self {
            id: None,
            operation,
        }
    }

    /// LAUNCH of the given tasks.
    pub fn launch(task_infos: Vec<TaskInfo>) -> Self {
        Self::new(Operation::Launch(Launch { task_infos }))
    }

    /// The `type` tag.
    pub fn kind(&self) -> OperationType {
        self.operation.kind()
    }
}

impl From<Operation> for OfferOperation {
    fn from(operation: Operation) -> Self {
        Self::new(operation)
    }
}

impl Serialize for OfferOperation {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.operation.to_wire(self.id.as_ref()).serialize(s)
    }
}

impl<'de> Deserialize<'de> for OfferOperation {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut wire = OperationWireIn::deserialize(d)?;
        let id = wire.id.take();
        let operation = wire.into_body().map_err(serde::de::Error::custom)?;
        Ok(Self { id, operation })
    }
}

/// `Offer.Operation.Launch`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Launch {
    /// Tasks to launch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub task_infos: Vec<TaskInfo>,
}

/// `Offer.Operation.LaunchGroup`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaunchGroup {
    /// The executor that runs the group (usually DEFAULT).
    pub executor: ExecutorInfo,
    /// The tasks.
    pub task_group: TaskGroupInfo,
}

/// `Offer.Operation.Reserve`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reserve {
    /// Resources to reserve from (for re-reservations).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source: Vec<Resource>,
    /// Resources with the new reservation pushed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
}

/// `Offer.Operation.Unreserve`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Unreserve {
    /// Reserved resources to release.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
}

/// `Offer.Operation.Create`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Create {
    /// Disk resources with `disk.persistence` set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Resource>,
}

/// `Offer.Operation.Destroy`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Destroy {
    /// Persistent volumes to destroy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Resource>,
}

/// `Offer.Operation.GrowVolume`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrowVolume {
    /// The volume.
    pub volume: Resource,
    /// Disk to add to it.
    pub addition: Resource,
}

/// `Offer.Operation.ShrinkVolume`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShrinkVolume {
    /// The volume.
    pub volume: Resource,
    /// MB to remove.
    pub subtract: Scalar,
}

/// `Offer.Operation.CreateDisk`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateDisk {
    /// A RAW disk.
    pub source: Resource,
    /// MOUNT or BLOCK.
    pub target_type: DiskSourceType,
    /// Profile for the new disk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_profile: Option<String>,
}

/// `Offer.Operation.DestroyDisk`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DestroyDisk {
    /// A MOUNT, BLOCK or RAW disk.
    pub source: Resource,
}

/// `InverseOffer`: a request to give resources back (maintenance).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InverseOffer {
    /// Same ID space as offers.
    pub id: OfferId,
    /// How to reach the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<Url>,
    /// The framework asked.
    pub framework_id: FrameworkId,
    /// The agent, if only one agent's resources are wanted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
    /// When the resources become unavailable.
    pub unavailability: Unavailability,
    /// The resources wanted; empty means all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
}

/// `Filters`: how long declined or unused resources stay away.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Filters {
    /// Seconds to refuse (default 5, capped at 365 days; negative means
    /// default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refuse_seconds: Option<f64>,
}

impl Filters {
    /// Default `refuse_seconds`.
    pub const DEFAULT_REFUSE_SECONDS: f64 = 5.0;
    /// Cap on `refuse_seconds` (365 days).
    pub const MAX_REFUSE_SECONDS: f64 = 31_536_000.0;

    /// Refuse for `secs` seconds.
    pub fn refuse(secs: f64) -> Self {
        Self {
            refuse_seconds: Some(secs),
        }
    }

    /// The refusal the master applies: default when unset, negative or
    /// NaN; capped at [`Self::MAX_REFUSE_SECONDS`].
    pub fn effective_refuse_seconds(filters: Option<&Filters>) -> f64 {
        match filters.and_then(|f| f.refuse_seconds) {
            Some(s) if s >= 0.0 => s.min(Self::MAX_REFUSE_SECONDS),
            _ => Self::DEFAULT_REFUSE_SECONDS,
        }
    }
}

/// `Request`: a resource request (ignored by the built-in allocator).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Restrict to this agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
    /// The resources wanted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
}

/// `UUID`: 16 raw bytes, `{"value": "<base64>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Uuid {
    /// The bytes.
    pub value: Base64Bytes,
}

wire_enum! {
    /// `OperationState`.
    pub enum OperationState {
        /// Default when unset.
        Unsupported(OPERATION_UNSUPPORTED = 0),
        /// Initial state.
        Pending(OPERATION_PENDING = 1),
        /// Terminal: applied.
        Finished(OPERATION_FINISHED = 2),
        /// Terminal: failed to apply.
        Failed(OPERATION_FAILED = 3),
        /// Terminal: invalid.
        Error(OPERATION_ERROR = 4),
        /// Terminal: dropped by a transient error.
        Dropped(OPERATION_DROPPED = 5),
        /// The agent is unreachable.
        Unreachable(OPERATION_UNREACHABLE = 6),
        /// The operator asserted the agent is gone.
        GoneByOperator(OPERATION_GONE_BY_OPERATOR = 7),
        /// The agent has not reregistered since master failover.
        Recovering(OPERATION_RECOVERING = 8),
        /// The master does not know the operation.
        Unknown(OPERATION_UNKNOWN = 9),
    }
}

impl OperationState {
    /// FINISHED, FAILED, ERROR, DROPPED and GONE_BY_OPERATOR.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            OperationState::Finished
                | OperationState::Failed
                | OperationState::Error
                | OperationState::Dropped
                | OperationState::GoneByOperator
        )
    }
}

/// `OperationStatus`: feedback about an operation that had an `id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationStatus {
    /// The framework's operation ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<OperationId>,
    /// New state.
    pub state: OperationState,
    /// Explanation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Resources after the operation (FINISHED only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub converted_resources: Vec<Resource>,
    /// Set when the update must be acknowledged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<Uuid>,
    /// Agent of an agent-local resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
    /// Resource provider, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_provider_id: Option<ResourceProviderId>,
}

/// `Operation`: the master's record of an operation (GET_OPERATIONS).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationRecord {
    /// Owning framework (unset for operator-initiated operations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework_id: Option<FrameworkId>,
    /// Agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
    /// The operation as requested.
    pub info: OfferOperation,
    /// Latest status.
    pub latest_status: OperationStatus,
    /// All statuses, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub statuses: Vec<OperationStatus>,
    /// Internal UUID.
    pub uuid: Uuid,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_defaults_and_cap() {
        assert_eq!(Filters::effective_refuse_seconds(None), 5.0);
        assert_eq!(
            Filters::effective_refuse_seconds(Some(&Filters::refuse(-1.0))),
            5.0
        );
        assert_eq!(
            Filters::effective_refuse_seconds(Some(&Filters::refuse(1e12))),
            31_536_000.0
        );
        assert_eq!(
            Filters::effective_refuse_seconds(Some(&Filters::refuse(0.0))),
            0.0
        );
    }

    #[test]
    fn operation_with_id_round_trips() {
        let json = r#"{"type":"RESERVE","id":{"value":"op1"},
            "reserve":{"resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":1.0},
              "reservations":[{"type":"DYNAMIC","role":"eng","principal":"p"}]}]}}"#;
        let op: OfferOperation = serde_json::from_str(json).unwrap();
        assert_eq!(op.id, Some(OperationId::new("op1")));
        assert_eq!(op.kind(), OperationType::Reserve);
        let out = serde_json::to_value(&op).unwrap();
        assert_eq!(out["type"], "RESERVE");
        assert_eq!(out["id"]["value"], "op1");
        assert!(out.get("launch").is_none());
        let back: OfferOperation = serde_json::from_value(out).unwrap();
        assert_eq!(back, op);
    }

    #[test]
    fn operation_missing_its_body_is_an_error() {
        let err = serde_json::from_str::<OfferOperation>(r#"{"type":"LAUNCH"}"#).unwrap_err();
        assert!(err.to_string().contains("`launch`"), "{err}");
        let err = serde_json::from_str::<OfferOperation>(r#"{"type":"EXPLODE"}"#).unwrap_err();
        assert!(err.to_string().contains("EXPLODE"), "{err}");
    }
}
