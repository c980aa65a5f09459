//! `FrameworkInfo`: who a scheduler is, which roles it uses and which
//! capabilities it has — plus `OfferFilters`, its per-role offer shape.
//!
//! Owns the JSON shape, the proto defaults, and [`FrameworkInfo::effective_roles`]
//! which resolves the `role` / `roles` + `MULTI_ROLE` duality once for
//! everyone. Validation of a subscribing framework belongs to the master.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ids::FrameworkId;
use super::resource::UNRESERVED_ROLE;
use super::values::{Labels, Scalar};

/// `FrameworkInfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameworkInfo {
    /// Unix user tasks run as (unless overridden by `CommandInfo.user`).
    pub user: String,
    /// Name shown in UIs.
    pub name: String,
    /// Set when re-subscribing (failover).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<FrameworkId>,
    /// Seconds the master waits for a disconnected scheduler before tearing
    /// the framework down (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover_timeout: Option<f64>,
    /// Agents checkpoint this framework's tasks (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<bool>,
    /// Deprecated single role (default `"*"`); see `roles`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Roles, for `MULTI_ROLE` frameworks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Host the scheduler runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Authentication principal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// The scheduler's web UI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webui_url: Option<String>,
    /// Advertised capabilities.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<FrameworkCapability>,
    /// Free-form metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
    /// Per-role minimum offer shapes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub offer_filters: BTreeMap<String, OfferFilters>,
}

impl FrameworkInfo {
    /// Default for `failover_timeout`.
    pub const DEFAULT_FAILOVER_TIMEOUT: f64 = 0.0;

    /// A framework with only the required fields.
    pub fn new(user: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            name: name.into(),
            id: None,
            failover_timeout: None,
            checkpoint: None,
            role: None,
            roles: Vec::new(),
            hostname: None,
            principal: None,
            webui_url: None,
            capabilities: Vec::new(),
            labels: None,
            offer_filters: BTreeMap::new(),
        }
    }

    /// `failover_timeout` in seconds, with the proto default (0) applied.
    pub fn failover_timeout(&self) -> f64 {
        self.failover_timeout
            .unwrap_or(Self::DEFAULT_FAILOVER_TIMEOUT)
    }

    /// `checkpoint`, with the proto default (false) applied.
    pub fn checkpoint(&self) -> bool {
        self.checkpoint.unwrap_or(false)
    }

    /// Whether the framework advertises `capability`.
    pub fn has_capability(&self, capability: FrameworkCapabilityType) -> bool {
        self.capabilities.iter().any(|c| c.kind == Some(capability))
    }

    /// The roles the framework subscribes with: `roles` for `MULTI_ROLE`
    /// frameworks, otherwise the single `role` (default `"*"`).
    pub fn effective_roles(&self) -> Vec<String> {
        if self.has_capability(FrameworkCapabilityType::MultiRole) {
            self.roles.clone()
        } else {
            vec![self
                .role
                .clone()
                .unwrap_or_else(|| UNRESERVED_ROLE.to_owned())]
        }
    }
}

wire_enum! {
    /// `FrameworkInfo.Capability.Type`.
    pub enum FrameworkCapabilityType {
        /// Not set / a capability newer than this crate.
        Unknown(UNKNOWN = 0),
        /// Receive revocable resources.
        RevocableResources(REVOCABLE_RESOURCES = 1),
        /// Can receive TASK_KILLING.
        TaskKillingState(TASK_KILLING_STATE = 2),
        /// Aware of GPUs; may be offered GPU agents.
        GpuResources(GPU_RESOURCES = 3),
        /// Receive shared resources.
        SharedResources(SHARED_RESOURCES = 4),
        /// Handles TASK_UNREACHABLE/DROPPED/GONE/… instead of TASK_LOST.
        PartitionAware(PARTITION_AWARE = 5),
        /// Uses `roles` and `Offer.allocation_info`.
        MultiRole(MULTI_ROLE = 6),
        /// Uses the post-refinement `reservations` format.
        ReservationRefinement(RESERVATION_REFINEMENT = 7),
        /// Accepts offers from remote regions.
        RegionAware(REGION_AWARE = 8),
    }
    unknown => Unknown
}

/// `FrameworkInfo.Capability`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FrameworkCapability {
    /// The capability; optional in the proto (MESOS-4997).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<FrameworkCapabilityType>,
}

impl From<FrameworkCapabilityType> for FrameworkCapability {
    fn from(kind: FrameworkCapabilityType) -> Self {
        Self { kind: Some(kind) }
    }
}

/// `OfferFilters`: lets a framework say which offer shapes it wants.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OfferFilters {
    /// Offers must contain at least one of these quantity sets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_allocatable_resources: Option<MinAllocatableResources>,
}

/// `OfferFilters.MinAllocatableResources`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MinAllocatableResources {
    /// Alternatives; any one suffices. Empty means anything is allocatable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quantities: Vec<ResourceQuantities>,
}

/// `OfferFilters.ResourceQuantities`: `{"quantities": {"cpus": {"value": 1}}}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourceQuantities {
    /// Scalar amount per resource name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub quantities: BTreeMap<String, Scalar>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_roles() {
        let f: FrameworkInfo = serde_json::from_str(r#"{"user":"foo","name":"fw"}"#).unwrap();
        assert_eq!(f.failover_timeout(), 0.0);
        assert!(!f.checkpoint());
        assert_eq!(f.effective_roles(), vec!["*".to_owned()]);

        let multi: FrameworkInfo = serde_json::from_str(
            r#"{"user":"foo","name":"fw","roles":["a","b"],
                "capabilities":[{"type":"MULTI_ROLE"},{"type":"FUTURE_THING"}]}"#,
        )
        .unwrap();
        assert_eq!(
            multi.effective_roles(),
            vec!["a".to_owned(), "b".to_owned()]
        );
        assert_eq!(
            multi.capabilities[1].kind,
            Some(FrameworkCapabilityType::Unknown)
        );
    }

    #[test]
    fn offer_filters_shape() {
        let json = r#"{"user":"u","name":"n","offer_filters":{"eng":{"min_allocatable_resources":
            {"quantities":[{"quantities":{"cpus":{"value":1.0},"mem":{"value":256.0}}}]}}}}"#;
        let f: FrameworkInfo = serde_json::from_str(json).unwrap();
        let q = &f.offer_filters["eng"]
            .min_allocatable_resources
            .as_ref()
            .unwrap()
            .quantities[0];
        assert_eq!(q.quantities["mem"].value, 256.0);
        let back: FrameworkInfo =
            serde_json::from_str(&serde_json::to_string(&f).unwrap()).unwrap();
        assert_eq!(back, f);
    }
}
