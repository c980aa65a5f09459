//! The allocator: hierarchical DRF by role (weights, quota guarantees and
//! limits), then DRF among the frameworks of each role, honouring offer
//! filters (`refuse_seconds`), suppression and minimum allocatable
//! resources. A pure function over a [`Snapshot`]: no I/O, no clock (the
//! caller passes `now`), so it is tested and benchmarked without a master.
//!
//! The master builds a snapshot when capacity or demand changes (batched
//! over a few ms), calls [`allocate`], and turns each [`Allocation`] into
//! an offer.

mod cycle;
mod qty;
mod roles;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use dcos_api::resources::Resources;
use dcos_api::v1::{AgentId, FrameworkId, ResourceQuantities};

/// Everything the allocator looks at.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The caller's clock (filters expire against it).
    pub now: Instant,
    /// Agents that may be offered (registered, reachable). Draining or
    /// deactivated agents are listed with `active: false`.
    pub agents: Vec<AgentSlot>,
    /// Subscribed frameworks.
    pub frameworks: Vec<FrameworkSlot>,
    /// Per-role configuration; roles not listed have weight 1 and no quota.
    pub roles: BTreeMap<String, RoleConfig>,
    /// Cluster-wide minimum offer size (Mesos `--min_allocatable_resources`,
    /// default `cpus:0.01|mem:32`): an agent's leftover is offered only if
    /// it holds at least one of these quantity sets. Empty: anything.
    pub min_allocatable: Vec<ResourceQuantities>,
}

/// One agent as the allocator sees it.
#[derive(Debug, Clone)]
pub struct AgentSlot {
    /// The agent.
    pub id: AgentId,
    /// Total resources of the agent (shared with the master's books: a
    /// snapshot copies no resources).
    pub total: Arc<Resources>,
    /// What is neither used by tasks nor currently offered.
    pub available: Arc<Resources>,
    /// False when draining or deactivated: nothing is offered from it.
    pub active: bool,
}

/// One framework as the allocator sees it.
#[derive(Debug, Clone)]
pub struct FrameworkSlot {
    /// The framework.
    pub id: FrameworkId,
    /// Roles it subscribed with.
    pub roles: Vec<String>,
    /// Roles for which it sent SUPPRESS (no offers until REVIVE).
    pub suppressed_roles: BTreeSet<String>,
    /// What it holds now per role: resources of its tasks plus outstanding
    /// offers. This is what DRF shares are computed from.
    pub allocated: BTreeMap<String, Resources>,
    /// Active DECLINE/ACCEPT filters.
    pub filters: Vec<OfferFilter>,
    /// Per-role minimum allocatable resources (`FrameworkInfo.offer_filters`);
    /// overrides the cluster-wide minimum for that role when present.
    pub min_allocatable: BTreeMap<String, Vec<ResourceQuantities>>,
    /// False while disconnected (failover pending): gets no offers.
    pub active: bool,
}

/// "Do not offer me these resources on this agent until `until`"
/// (Filters.refuse_seconds). Matches when the resources that would be
/// offered are contained in `resources` (Mesos' semantics).
#[derive(Debug, Clone)]
pub struct OfferFilter {
    /// Agent the filter is for.
    pub agent_id: AgentId,
    /// Resources that were refused.
    pub resources: Resources,
    /// Expiry.
    pub until: Instant,
}

/// Weight and quota of a role.
#[derive(Debug, Clone)]
pub struct RoleConfig {
    /// DRF weight (default 1.0): a role with weight 2 gets twice the share.
    pub weight: f64,
    /// Quota guarantee: resources the role gets before others get more
    /// than their fair share (scalar quantities by name).
    pub guarantee: BTreeMap<String, f64>,
    /// Quota limit: the role never holds more than this (absent names are
    /// unlimited).
    pub limit: BTreeMap<String, f64>,
}

impl Default for RoleConfig {
    fn default() -> Self {
        Self {
            weight: 1.0,
            guarantee: BTreeMap::new(),
            limit: BTreeMap::new(),
        }
    }
}

/// One offer to make: these resources of this agent to this framework,
/// allocated to this role (`Resource.allocation_info.role` set).
#[derive(Debug, Clone)]
pub struct Allocation {
    /// Receiver.
    pub framework_id: FrameworkId,
    /// Role the resources are allocated to.
    pub role: String,
    /// Source agent.
    pub agent_id: AgentId,
    /// The resources, with `allocation_info.role` set (shared by offers of
    /// agents of the same shape: most of a cycle's offers are copies).
    pub resources: Arc<Resources>,
    /// The snapshot's `available` of the agent when this offer takes all
    /// of it (no reservations, nothing given to others): the master then
    /// moves the agent's books whole instead of subtracting resource by
    /// resource, after checking (by pointer) that they did not change.
    pub whole: Option<Arc<Resources>>,
}

/// One allocation cycle: decides which framework gets which agent's
/// available resources. Deterministic for a given snapshot.
pub fn allocate(snapshot: &Snapshot) -> Vec<Allocation> {
    cycle::run(snapshot)
}
