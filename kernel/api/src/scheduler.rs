//! The scheduler API, `/api/v1/scheduler` (`mesos/v1/scheduler/scheduler.proto`):
//! the [`Call`]s a framework sends, the [`Event`]s the master streams back,
//! and the synchronous [`Response`].
//!
//! Owns parsing and emitting those messages, including the places where the
//! Mesos docs and the proto disagree (the docs are what many clients were
//! written from):
//!
//! * `revive.role` / `suppress.role` (singular, docs) are accepted as well
//!   as `roles[]` (proto);
//! * an ERROR event with `message` at the top level (docs) is accepted as
//!   well as `error.message` (proto).
//!
//! Output is always the proto form. Unknown call or event types, and calls
//! missing the field their type names, fail to parse with a
//! [`SchedulerError`] whose message says what was wrong — a server answers
//! it with 400. This module does not own what the master *does* with a call.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::v1::{
    self, AgentId, Base64Bytes, ExecutorId, Filters, FrameworkId, FrameworkInfo, InverseOffer,
    KillPolicy, MasterInfo, Offer, OfferId, OfferOperation, OperationId, OperationStatus,
    ResourceProviderId, TaskId, TaskStatus,
};

/// Errors from parsing or checking scheduler API messages.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// The body is not valid JSON for the message, names an unknown type,
    /// or lacks the field its type requires.
    #[error("malformed scheduler {what}: {source}")]
    Malformed {
        /// `call`, `event` or `response`.
        what: &'static str,
        /// The parse error, which names the offending field or value.
        #[source]
        source: serde_json::Error,
    },
    /// A call other than SUBSCRIBE lacks `framework_id`.
    #[error("{0} call is missing `framework_id`")]
    MissingFrameworkId(CallType),
    /// A SUBSCRIBE call's `framework_id` disagrees with `framework_info.id`.
    #[error("SUBSCRIBE call's framework_id {call} does not match framework_info.id {info}")]
    FrameworkIdMismatch {
        /// `Call.framework_id`.
        call: String,
        /// `Call.subscribe.framework_info.id` (empty when unset).
        info: String,
    },
}

proto_union! {
    /// What a scheduler [`Call`] asks for, by `type`.
    pub enum CallBody / CallType / CallWireIn / CallWireOut {
        extras { framework_id: FrameworkId }
        /// Open the event stream; `framework_info.id` set means failover.
        Subscribe(SUBSCRIBE = 1) => subscribe: Subscribe,
        /// Kill all tasks and remove the framework.
        Teardown(TEARDOWN = 2),
        /// Accept offers, applying operations in order.
        Accept(ACCEPT = 3) => accept: Accept,
        /// Decline offers.
        Decline(DECLINE = 4) => decline: Decline,
        /// Accept inverse offers (maintenance).
        AcceptInverseOffers(ACCEPT_INVERSE_OFFERS = 13) => accept_inverse_offers: AcceptInverseOffers,
        /// Decline inverse offers (maintenance).
        DeclineInverseOffers(DECLINE_INVERSE_OFFERS = 14) => decline_inverse_offers: DeclineInverseOffers,
        /// Clear filters and unsuppress roles (all roles when empty).
        Revive(REVIVE = 5) => revive: Revive [optional],
        /// Kill a task.
        Kill(KILL = 6) => kill: Kill,
        /// Shut down a custom executor.
        Shutdown(SHUTDOWN = 7) => shutdown: Shutdown,
        /// Acknowledge a status update that carried a `uuid`.
        Acknowledge(ACKNOWLEDGE = 8) => acknowledge: Acknowledge,
        /// Acknowledge an operation status update.
        AcknowledgeOperationStatus(ACKNOWLEDGE_OPERATION_STATUS = 15)
            => acknowledge_operation_status: AcknowledgeOperationStatus,
        /// Ask for the latest status of tasks (all known tasks when empty).
        Reconcile(RECONCILE = 9) => reconcile: Reconcile [optional],
        /// Ask for the latest status of operations.
        ReconcileOperations(RECONCILE_OPERATIONS = 16)
            => reconcile_operations: ReconcileOperations [optional],
        /// Send bytes to an executor (best effort).
        Message(MESSAGE = 10) => message: Message,
        /// Request resources (ignored by the built-in allocator).
        Request(REQUEST = 11) => request: Request,
        /// Stop offers for roles (all roles when empty).
        Suppress(SUPPRESS = 12) => suppress: Suppress [optional],
        /// Change FrameworkInfo, suppressed roles or constraints; answered 200.
        UpdateFramework(UPDATE_FRAMEWORK = 17) => update_framework: UpdateFramework,
    }
}

/// A scheduler call: `{"framework_id": …, "type": …, "<type>": {…}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// Required on every call but SUBSCRIBE (see [`Call::validate`]).
    pub framework_id: Option<FrameworkId>,
    /// What the call asks for.
    pub body: CallBody,
}

impl Call {
    /// A call from an already-subscribed framework.
    pub fn new(framework_id: FrameworkId, body: CallBody) -> Self {
        Self {
            framework_id: Some(framework_id),
            body,
        }
    }

    /// A first SUBSCRIBE (no framework ID yet).
    pub fn subscribe(framework_info: FrameworkInfo) -> Self {
        Self {
            framework_id: framework_info.id.clone(),
            body: CallBody::Subscribe(Subscribe {
                framework_info,
                suppressed_roles: Vec::new(),
                offer_constraints: None,
            }),
        }
    }

    /// The `type` tag.
    pub fn kind(&self) -> CallType {
        self.body.kind()
    }

    /// Parses a JSON request body.
    pub fn from_json(body: &[u8]) -> Result<Self, SchedulerError> {
        serde_json::from_slice(body).map_err(|source| SchedulerError::Malformed {
            what: "call",
            source,
        })
    }

    /// The JSON encoding (proto form).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("scheduler calls have only string map keys")
    }

    /// The structural rules the master checks before anything else:
    /// every call but SUBSCRIBE names its framework, and a SUBSCRIBE that
    /// names one agrees with its `framework_info.id`.
    pub fn validate(&self) -> Result<(), SchedulerError> {
        match (&self.body, &self.framework_id) {
            (CallBody::Subscribe(s), Some(id)) => match &s.framework_info.id {
                Some(info_id) if info_id == id => Ok(()),
                other => Err(SchedulerError::FrameworkIdMismatch {
                    call: id.value.clone(),
                    info: other.as_ref().map(|i| i.value.clone()).unwrap_or_default(),
                }),
            },
            (CallBody::Subscribe(_), None) => Ok(()),
            (_, None) => Err(SchedulerError::MissingFrameworkId(self.kind())),
            (_, Some(_)) => Ok(()),
        }
    }
}

impl Serialize for Call {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.body.to_wire(self.framework_id.as_ref()).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Call {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut wire = CallWireIn::deserialize(d)?;
        let framework_id = wire.framework_id.take();
        let body = wire.into_body().map_err(serde::de::Error::custom)?;
        Ok(Self { framework_id, body })
    }
}

/// `Call.Subscribe`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscribe {
    /// Who the framework is; `id` set means re-subscribe.
    pub framework_info: FrameworkInfo,
    /// Roles to start out suppressed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suppressed_roles: Vec<String>,
    /// Attribute constraints on offers, per role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer_constraints: Option<OfferConstraints>,
}

/// `Call.UpdateFramework`: same fields as [`Subscribe`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateFramework {
    /// The new FrameworkInfo (its `id` must be set).
    pub framework_info: FrameworkInfo,
    /// Roles to keep suppressed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suppressed_roles: Vec<String>,
    /// Attribute constraints on offers, per role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer_constraints: Option<OfferConstraints>,
}

/// `Call.Accept`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Accept {
    /// Offers being accepted (all on one agent).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offer_ids: Vec<OfferId>,
    /// Operations, applied in order; unused resources count as declined.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operations: Vec<OfferOperation>,
    /// Refusal for the unused resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Filters>,
}

/// `Call.Decline`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Decline {
    /// Offers being declined.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offer_ids: Vec<OfferId>,
    /// How long to refuse them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Filters>,
}

/// `Call.AcceptInverseOffers`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AcceptInverseOffers {
    /// Inverse offers being accepted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inverse_offer_ids: Vec<OfferId>,
    /// Filters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Filters>,
}

/// `Call.DeclineInverseOffers`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeclineInverseOffers {
    /// Inverse offers being declined.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inverse_offer_ids: Vec<OfferId>,
    /// Filters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Filters>,
}

/// The proto's `roles[]` plus the docs' singular `role`, merged.
#[derive(Deserialize)]
struct RolesWire {
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    role: Option<String>,
}

impl RolesWire {
    fn merged(self) -> Vec<String> {
        let mut roles = self.roles;
        if let Some(role) = self.role {
            if !roles.contains(&role) {
                roles.push(role);
            }
        }
        roles
    }
}

/// `Call.Revive`. Input accepts the docs' `{"role": "r"}` too.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "RolesWire")]
pub struct Revive {
    /// Roles to revive; empty means all of the framework's roles.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
}

impl From<RolesWire> for Revive {
    fn from(w: RolesWire) -> Self {
        Self { roles: w.merged() }
    }
}

/// `Call.Suppress`. Input accepts the docs' `{"role": "r"}` too.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "RolesWire")]
pub struct Suppress {
    /// Roles to suppress; empty means all of the framework's roles.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
}

impl From<RolesWire> for Suppress {
    fn from(w: RolesWire) -> Self {
        Self { roles: w.merged() }
    }
}

/// `Call.Kill`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kill {
    /// The task; unknown tasks produce TASK_LOST.
    pub task_id: TaskId,
    /// Its agent, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
    /// Overrides the task's kill policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_policy: Option<KillPolicy>,
}

/// `Call.Shutdown`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shutdown {
    /// The executor.
    pub executor_id: ExecutorId,
    /// Its agent.
    pub agent_id: AgentId,
}

/// `Call.Acknowledge`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Acknowledge {
    /// Agent that sent the update.
    pub agent_id: AgentId,
    /// The task.
    pub task_id: TaskId,
    /// `TaskStatus.uuid` of the update.
    pub uuid: Base64Bytes,
}

/// `Call.AcknowledgeOperationStatus`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AcknowledgeOperationStatus {
    /// Agent, for agent-local resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
    /// Resource provider, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_provider_id: Option<ResourceProviderId>,
    /// `OperationStatus.uuid.value` of the update.
    pub uuid: Base64Bytes,
    /// The operation.
    pub operation_id: OperationId,
}

/// `Call.Reconcile`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reconcile {
    /// Tasks to reconcile; empty means implicit reconciliation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<ReconcileTask>,
}

/// `Call.Reconcile.Task`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReconcileTask {
    /// The task.
    pub task_id: TaskId,
    /// Its agent, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
}

/// `Call.ReconcileOperations`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReconcileOperations {
    /// Operations; empty means all known operations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operations: Vec<ReconcileOperation>,
}

/// `Call.ReconcileOperations.Operation`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReconcileOperation {
    /// The operation.
    pub operation_id: OperationId,
    /// Its agent, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
    /// Its resource provider, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_provider_id: Option<ResourceProviderId>,
}

/// `Call.Message` and `Event.Message`: opaque bytes between a scheduler and
/// an executor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// The executor's agent.
    pub agent_id: AgentId,
    /// The executor.
    pub executor_id: ExecutorId,
    /// The payload (base64 on the wire).
    pub data: Base64Bytes,
}

/// `Call.Request`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// The requests.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requests: Vec<v1::Request>,
}

/// `OfferConstraints`: per-role attribute constraints on offered agents.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferConstraints {
    /// Constraints by role.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub role_constraints: BTreeMap<String, RoleConstraints>,
}

/// `OfferConstraints.RoleConstraints`: an agent qualifies if it satisfies
/// every constraint of at least one group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleConstraints {
    /// Alternative groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<ConstraintGroup>,
}

/// `OfferConstraints.RoleConstraints.Group`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConstraintGroup {
    /// All must hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attribute_constraints: Vec<AttributeConstraint>,
}

/// `AttributeConstraint`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeConstraint {
    /// Which attribute.
    pub selector: AttributeSelector,
    /// What must hold of it.
    pub predicate: AttributePredicate,
}

wire_enum! {
    /// `AttributeConstraint.Selector.PseudoattributeType`.
    pub enum PseudoattributeType {
        /// Not set / unknown.
        Unknown(UNKNOWN = 0),
        /// The agent's hostname.
        Hostname(HOSTNAME = 1),
        /// The agent's fault-domain region.
        Region(REGION = 2),
        /// The agent's fault-domain zone.
        Zone(ZONE = 3),
    }
    unknown => Unknown
}

/// `AttributeConstraint.Selector` (a oneof: set exactly one field).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeSelector {
    /// A pseudo-attribute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pseudoattribute_type: Option<PseudoattributeType>,
    /// A named agent attribute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute_name: Option<String>,
}

/// `AttributeConstraint.Predicate` (a oneof: set exactly one field).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributePredicate {
    /// The attribute exists (`{}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exists: Option<Empty>,
    /// The attribute does not exist (`{}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_exists: Option<Empty>,
    /// Text equals `value`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_equals: Option<TextValue>,
    /// Text differs from `value`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_not_equals: Option<TextValue>,
    /// Text matches `regex`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_matches: Option<TextRegex>,
    /// Text does not match `regex`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_not_matches: Option<TextRegex>,
}

/// An empty message, `{}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// `{"value": …}` of a text predicate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextValue {
    /// The text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// `{"regex": …}` of a regex predicate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextRegex {
    /// The regular expression (RE2 syntax in Mesos).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
}

proto_union! {
    /// A scheduler event, streamed by the master in RecordIO records.
    pub enum Event / EventType / EventWireIn / EventWireOut {
        extras {}
        /// First event of a subscription.
        Subscribed(SUBSCRIBED = 1) => subscribed: Subscribed,
        /// New offers.
        Offers(OFFERS = 2) => offers: Offers,
        /// Resources wanted back (maintenance).
        InverseOffers(INVERSE_OFFERS = 9) => inverse_offers: InverseOffers,
        /// An offer is no longer valid.
        Rescind(RESCIND = 3) => rescind: Rescind,
        /// An inverse offer is no longer valid.
        RescindInverseOffer(RESCIND_INVERSE_OFFER = 10) => rescind_inverse_offer: RescindInverseOffer,
        /// A task status update.
        Update(UPDATE = 4) => update: Update,
        /// An operation status update.
        UpdateOperationStatus(UPDATE_OPERATION_STATUS = 11)
            => update_operation_status: UpdateOperationStatus,
        /// Bytes from an executor.
        Message(MESSAGE = 5) => message: Message,
        /// An agent or executor failed.
        Failure(FAILURE = 6) => failure: Failure,
        /// Unrecoverable error; the scheduler should abort.
        Error(ERROR = 7) => error: Error,
        /// Keep-alive.
        Heartbeat(HEARTBEAT = 8),
    }
}

impl Event {
    /// Parses one event (one RecordIO record).
    pub fn from_json(record: &[u8]) -> Result<Self, SchedulerError> {
        serde_json::from_slice(record).map_err(|source| SchedulerError::Malformed {
            what: "event",
            source,
        })
    }

    /// The JSON encoding (proto form), ready for RecordIO framing.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("scheduler events have only string map keys")
    }
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_wire().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Event {
    /// Like the generated wire form, except that `message` may be a string:
    /// the docs' shape of an ERROR event.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;

        #[derive(Deserialize)]
        struct In {
            #[serde(rename = "type", default)]
            kind: Option<EventType>,
            #[serde(default)]
            subscribed: Option<Subscribed>,
            #[serde(default)]
            offers: Option<Offers>,
            #[serde(default)]
            inverse_offers: Option<InverseOffers>,
            #[serde(default)]
            rescind: Option<Rescind>,
            #[serde(default)]
            rescind_inverse_offer: Option<RescindInverseOffer>,
            #[serde(default)]
            update: Option<Update>,
            #[serde(default)]
            update_operation_status: Option<UpdateOperationStatus>,
            #[serde(default)]
            message: Option<serde_json::Value>,
            #[serde(default)]
            failure: Option<Failure>,
            #[serde(default)]
            error: Option<Error>,
        }

        let i = In::deserialize(d)?;
        let mut error = i.error;
        let message = match i.message {
            Some(serde_json::Value::String(text)) => {
                if error.is_none() {
                    error = Some(Error { message: text });
                }
                None
            }
            Some(value) => Some(
                serde_json::from_value::<Message>(value)
                    .map_err(|e| D::Error::custom(format!("invalid `message` field: {e}")))?,
            ),
            None => None,
        };
        EventWireIn {
            kind: i.kind,
            subscribed: i.subscribed,
            offers: i.offers,
            inverse_offers: i.inverse_offers,
            rescind: i.rescind,
            rescind_inverse_offer: i.rescind_inverse_offer,
            update: i.update,
            update_operation_status: i.update_operation_status,
            message,
            failure: i.failure,
            error,
        }
        .into_body()
        .map_err(D::Error::custom)
    }
}

/// `Event.Subscribed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscribed {
    /// The framework's (possibly new) ID.
    pub framework_id: FrameworkId,
    /// Set when the master sends heartbeats (15 s by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_interval_seconds: Option<f64>,
    /// The leading master (since 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_info: Option<MasterInfo>,
}

/// `Event.Offers`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Offers {
    /// The offers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offers: Vec<Offer>,
}

/// `Event.InverseOffers`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InverseOffers {
    /// The inverse offers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inverse_offers: Vec<InverseOffer>,
}

/// `Event.Rescind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rescind {
    /// The offer withdrawn.
    pub offer_id: OfferId,
}

/// `Event.RescindInverseOffer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RescindInverseOffer {
    /// The inverse offer withdrawn.
    pub inverse_offer_id: OfferId,
}

/// `Event.Update`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Update {
    /// The status; acknowledge it if `uuid` is set.
    pub status: TaskStatus,
}

/// `Event.UpdateOperationStatus`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateOperationStatus {
    /// The status; acknowledge it if `uuid` is set.
    pub status: OperationStatus,
}

/// `Event.Failure`: an agent was lost, or an executor exited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
    /// Set when only an executor failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor_id: Option<ExecutorId>,
    /// The executor's wait status, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<i32>,
}

/// `Event.Error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Error {
    /// What went wrong.
    pub message: String,
}

proto_union! {
    /// A synchronous (200) reply to a scheduler call.
    pub enum Response / ResponseType / ResponseWireIn / ResponseWireOut [serde] {
        extras {}
        /// Reply to RECONCILE_OPERATIONS.
        ReconcileOperations(RECONCILE_OPERATIONS = 1) => reconcile_operations: ReconcileOperationsResponse,
    }
}

/// `Response.ReconcileOperations`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReconcileOperationsResponse {
    /// Latest known status of each operation asked about.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operation_statuses: Vec<OperationStatus>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::{Operation, TaskState, ValueType};
    use serde_json::json;

    fn round_trip_call(json: &str) -> Call {
        let call = Call::from_json(json.as_bytes()).unwrap();
        let again = Call::from_json(&call.to_json()).unwrap();
        assert_eq!(again, call);
        call
    }

    #[test]
    fn subscribe_call_from_the_docs() {
        let call = round_trip_call(
            r#"{
              "type"       : "SUBSCRIBE",
              "subscribe"  : {
                "framework_info"  : {
                  "user" :  "foo",
                  "name" :  "Example HTTP Framework",
                  "roles": ["test"],
                  "capabilities" : [{"type": "MULTI_ROLE"}]
                }
              }
            }"#,
        );
        call.validate().unwrap();
        let CallBody::Subscribe(s) = &call.body else {
            panic!("not a subscribe: {call:?}");
        };
        assert_eq!(s.framework_info.effective_roles(), vec!["test".to_owned()]);
        let out = serde_json::to_value(&call).unwrap();
        assert_eq!(out["type"], "SUBSCRIBE");
        assert!(out.get("framework_id").is_none());
    }

    #[test]
    fn accept_with_launch_from_the_docs() {
        let call = round_trip_call(
            r#"{
              "framework_id"   : {"value" : "12220-3440-12532-2345"},
              "type"           : "ACCEPT",
              "accept"         : {
                "offer_ids"    : [{"value" : "12220-3440-12532-O12"}],
                "operations"   : [
                  {
                    "type"         : "LAUNCH",
                    "launch"       : {
                      "task_infos" : [
                        {
                          "name"        : "My Task",
                          "task_id"     : {"value" : "12220-3440-12532-my-task"},
                          "agent_id"    : {"value" : "12220-3440-12532-S1233"},
                          "executor"    : {"command"     : {"shell": true, "value": "sleep 1000"},
                                           "executor_id" : {"value" : "12214-23523-my-executor"}},
                          "resources"   : [
                            {
                              "allocation_info": {"role": "engineering"},
                              "name"  : "cpus",
                              "role"  : "engineering",
                              "type"  : "SCALAR",
                              "scalar": {"value": 1.0}
                            },
                            {
                              "allocation_info": {"role": "engineering"},
                              "name"  : "mem",
                              "role"  : "engineering",
                              "type"  : "SCALAR",
                              "scalar": {"value": 128.0}
                            }
                          ]
                        }
                      ]
                    }
                  }
                ],
                "filters"      : {"refuse_seconds" : 5.0}
              }
            }"#,
        );
        call.validate().unwrap();
        let CallBody::Accept(accept) = &call.body else {
            panic!("not an accept: {call:?}");
        };
        assert_eq!(accept.offer_ids[0].as_str(), "12220-3440-12532-O12");
        let Operation::Launch(launch) = &accept.operations[0].operation else {
            panic!("not a launch");
        };
        let task = &launch.task_infos[0];
        assert_eq!(task.resources[1].name, "mem");
        assert_eq!(task.resources[1].kind, ValueType::Scalar);
        assert!(task.validate_shape(false).is_ok());
        assert_eq!(
            Filters::effective_refuse_seconds(accept.filters.as_ref()),
            5.0
        );
    }

    #[test]
    fn reconcile_call_from_the_docs() {
        let call = round_trip_call(
            r#"{
              "framework_id"  : {"value" : "12220-3440-12532-2345"},
              "type"          : "RECONCILE",
              "reconcile"     : {
                "tasks"       : [
                  { "task_id"  : { "value" : "312325" },
                    "agent_id" : { "value" : "123535" } }
                ]
              }
            }"#,
        );
        let CallBody::Reconcile(r) = &call.body else {
            panic!("not a reconcile");
        };
        assert_eq!(r.tasks[0].task_id.as_str(), "312325");

        let implicit =
            Call::from_json(br#"{"framework_id":{"value":"f"},"type":"RECONCILE","reconcile":{}}"#)
                .unwrap();
        assert_eq!(implicit.body, CallBody::Reconcile(Reconcile::default()));
    }

    #[test]
    fn revive_accepts_singular_role_and_emits_roles() {
        let call = Call::from_json(
            br#"{"framework_id":{"value":"f"},"type":"REVIVE","revive":{"role":"eng"}}"#,
        )
        .unwrap();
        assert_eq!(
            call.body,
            CallBody::Revive(Revive {
                roles: vec!["eng".into()]
            })
        );
        assert_eq!(
            serde_json::to_value(&call).unwrap(),
            json!({"framework_id":{"value":"f"},"type":"REVIVE","revive":{"roles":["eng"]}})
        );

        let proto = Call::from_json(
            br#"{"framework_id":{"value":"f"},"type":"SUPPRESS","suppress":{"roles":["a","b"]}}"#,
        )
        .unwrap();
        assert_eq!(
            proto.body,
            CallBody::Suppress(Suppress {
                roles: vec!["a".into(), "b".into()]
            })
        );

        let bare = Call::from_json(br#"{"framework_id":{"value":"f"},"type":"REVIVE"}"#).unwrap();
        assert_eq!(bare.body, CallBody::Revive(Revive::default()));
    }

    #[test]
    fn unknown_and_incomplete_calls_are_rejected_clearly() {
        let err = Call::from_json(br#"{"type":"FROBNICATE"}"#).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("FROBNICATE"), "{text}");
        assert!(matches!(err, SchedulerError::Malformed { .. }));

        let err = Call::from_json(br#"{"framework_id":{"value":"f"},"type":"ACCEPT"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`accept`"), "{err}");

        let err = Call::from_json(br#"{"framework_id":{"value":"f"}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`type`"), "{err}");

        let err = Call::from_json(b"not json").unwrap_err();
        assert!(matches!(err, SchedulerError::Malformed { .. }));
    }

    #[test]
    fn validation_rules() {
        let teardown = Call {
            framework_id: None,
            body: CallBody::Teardown,
        };
        assert!(matches!(
            teardown.validate(),
            Err(SchedulerError::MissingFrameworkId(CallType::Teardown))
        ));
        let mut info = FrameworkInfo::new("u", "n");
        info.id = Some(FrameworkId::new("a"));
        let mut sub = Call::subscribe(info);
        assert!(sub.validate().is_ok());
        sub.framework_id = Some(FrameworkId::new("b"));
        assert!(matches!(
            sub.validate(),
            Err(SchedulerError::FrameworkIdMismatch { .. })
        ));
    }

    #[test]
    fn offers_event_from_the_docs() {
        let json = r#"{
          "type"   : "OFFERS",
          "offers" : {
            "offers" : [
              {
                "allocation_info": { "role": "engineering" },
                "id"             : {"value": "12214-23523-O235235"},
                "framework_id"   : {"value": "12124-235325-32425"},
                "agent_id"       : {"value": "12325-23523-S23523"},
                "hostname"       : "agent.host",
                "resources"      : [
                  {
                    "allocation_info": { "role": "engineering" },
                    "name"   : "cpus",
                    "type"   : "SCALAR",
                    "scalar" : {"value" : 2},
                    "role"   : "*"
                  }
                ],
                "attributes"     : [
                  {
                    "name"   : "os",
                    "type"   : "TEXT",
                    "text"   : {"value" : "ubuntu16.04"}
                  }
                ],
                "executor_ids"   : [
                  {"value" : "12214-23523-my-executor"}
                ]
              }
            ]
          }
        }"#;
        let event = Event::from_json(json.as_bytes()).unwrap();
        let Event::Offers(offers) = &event else {
            panic!("not offers: {event:?}");
        };
        let offer = &offers.offers[0];
        assert_eq!(offer.hostname, "agent.host");
        assert_eq!(offer.resources[0].scalar.unwrap().value, 2.0);
        assert_eq!(Event::from_json(&event.to_json()).unwrap(), event);
    }

    #[test]
    fn update_event_from_the_docs() {
        let json = r#"{
          "type"   : "UPDATE",
          "update" : {
            "status" : {
              "executor_id" : {"value" : "12214-23523-my-executor"},
              "healthy"     : true,
              "source"      : "SOURCE_EXECUTOR",
              "reason"      : "REASON_COMMAND_EXECUTOR_FAILED",
              "state"       : "TASK_FAILED",
              "task_id"     : {"value" : "12344-my-task"},
              "agent_id"    : {"value" : "12325-23523-S23523"},
              "uuid"        : "adfadfadbhgvjayd23r2uahj",
              "timestamp"   : 1432222222.212
            }
          }
        }"#;
        let event = Event::from_json(json.as_bytes()).unwrap();
        let Event::Update(update) = &event else {
            panic!("not an update: {event:?}");
        };
        let status = &update.status;
        assert_eq!(status.state, TaskState::Failed);
        assert!(status.state.is_terminal());
        assert!(status.needs_acknowledgement());
        assert_eq!(
            status.uuid.as_ref().unwrap().to_base64(),
            "adfadfadbhgvjayd23r2uahj"
        );
        let out = serde_json::to_value(&event).unwrap();
        assert_eq!(out["update"]["status"]["uuid"], "adfadfadbhgvjayd23r2uahj");
        assert_eq!(Event::from_json(&event.to_json()).unwrap(), event);
    }

    #[test]
    fn subscribed_and_heartbeat_events() {
        let sub = Event::from_json(
            br#"{"type":"SUBSCRIBED","subscribed":{"framework_id":{"value":"12220-3440-12532-2345"},
                 "heartbeat_interval_seconds":15}}"#,
        )
        .unwrap();
        let Event::Subscribed(s) = &sub else {
            panic!("not subscribed");
        };
        assert_eq!(s.heartbeat_interval_seconds, Some(15.0));
        assert_eq!(
            Event::Heartbeat.to_json(),
            br#"{"type":"HEARTBEAT"}"#.to_vec()
        );
    }

    #[test]
    fn error_event_in_both_shapes() {
        let doc = Event::from_json(br#"{"type":"ERROR","message":"Framework is banned"}"#).unwrap();
        let proto =
            Event::from_json(br#"{"type":"ERROR","error":{"message":"Framework is banned"}}"#)
                .unwrap();
        assert_eq!(doc, proto);
        assert_eq!(
            serde_json::to_value(&doc).unwrap(),
            json!({"type":"ERROR","error":{"message":"Framework is banned"}})
        );
    }

    #[test]
    fn message_event_needs_an_object() {
        let ok = Event::from_json(
            br#"{"type":"MESSAGE","message":{"agent_id":{"value":"a"},
                 "executor_id":{"value":"e"},"data":"aGk="}}"#,
        )
        .unwrap();
        let Event::Message(m) = &ok else {
            panic!("not a message");
        };
        assert_eq!(m.data.as_bytes(), b"hi");
        let err = Event::from_json(br#"{"type":"MESSAGE","message":"hi"}"#).unwrap_err();
        assert!(err.to_string().contains("`message`"), "{err}");
    }

    #[test]
    fn acknowledge_uuid_is_base64() {
        let call = round_trip_call(
            r#"{"framework_id":{"value":"f"},"type":"ACKNOWLEDGE","acknowledge":{
                "agent_id":{"value":"a"},"task_id":{"value":"t"},"uuid":"jhadf73jhakdlfha723adf"}}"#,
        );
        let CallBody::Acknowledge(a) = &call.body else {
            panic!("not an acknowledge");
        };
        assert_eq!(a.uuid.len(), 16);
    }

    #[test]
    fn update_framework_with_offer_constraints() {
        let call = round_trip_call(
            r#"{"framework_id":{"value":"f"},"type":"UPDATE_FRAMEWORK","update_framework":{
                "framework_info":{"user":"u","name":"n","id":{"value":"f"}},
                "suppressed_roles":["r"],
                "offer_constraints":{"role_constraints":{"r":{"groups":[{"attribute_constraints":[
                  {"selector":{"attribute_name":"rack"},"predicate":{"text_equals":{"value":"r1"}}},
                  {"selector":{"pseudoattribute_type":"HOSTNAME"},"predicate":{"exists":{}}}
                ]}]}}}}}"#,
        );
        assert_eq!(call.kind(), CallType::UpdateFramework);
    }

    #[test]
    fn response_round_trip() {
        let r = Response::ReconcileOperations(ReconcileOperationsResponse::default());
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(
            json,
            r#"{"type":"RECONCILE_OPERATIONS","reconcile_operations":{}}"#
        );
        assert_eq!(serde_json::from_str::<Response>(&json).unwrap(), r);
    }
}
