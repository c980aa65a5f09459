//! Who the machines are: `MasterInfo`, `AgentInfo`, fault domains,
//! maintenance machine IDs and unavailability, and agent draining.
//!
//! Owns JSON shapes and proto defaults (agent port 5051, master port 5050).

use serde::{Deserialize, Serialize};

use super::ids::AgentId;
use super::resource::Resource;
use super::values::{Address, Attribute, DurationInfo, TimeInfo};

/// `MasterInfo`. In ZooKeeper-era Mesos this JSON is what contenders
/// publish; here it is what SUBSCRIBED and GET_MASTER report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MasterInfo {
    /// The master's random UUID.
    pub id: String,
    /// Deprecated packed IPv4 address, network order.
    pub ip: u32,
    /// Deprecated port (default 5050).
    pub port: u32,
    /// libprocess PID, `master@ip:port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<String>,
    /// Deprecated hostname; use `address.hostname`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Running version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Full address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    /// Fault domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<DomainInfo>,
    /// Master capabilities.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<MasterCapability>,
}

impl MasterInfo {
    /// Default master port.
    pub const DEFAULT_PORT: u32 = 5050;

    /// Packs a dotted IPv4 address the way `MasterInfo.ip` expects
    /// (network byte order read as a little-endian `u32`, as Mesos does on
    /// x86). Returns 0 for anything that is not IPv4.
    pub fn pack_ip(ip: &str) -> u32 {
        ip.parse::<std::net::Ipv4Addr>()
            .map(|a| u32::from_le_bytes(a.octets()))
            .unwrap_or(0)
    }
}

wire_enum! {
    /// `MasterInfo.Capability.Type`.
    pub enum MasterCapabilityType {
        /// Not set / unknown.
        Unknown(UNKNOWN = 0),
        /// Handles agents whose state changes on reregistration.
        AgentUpdate(AGENT_UPDATE = 1),
        /// Supports DRAIN_AGENT.
        AgentDraining(AGENT_DRAINING = 2),
        /// Supports quota limits (UPDATE_QUOTA).
        QuotaV2(QUOTA_V2 = 3),
    }
    unknown => Unknown
}

/// `MasterInfo.Capability`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MasterCapability {
    /// The capability.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<MasterCapabilityType>,
}

/// `AgentInfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentInfo {
    /// Hostname.
    pub hostname: String,
    /// Port (default 5051).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
    /// Configured resources (excluding dynamic reservations and volumes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
    /// Attributes (`rack:r1`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<Attribute>,
    /// Set once registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<AgentId>,
    /// Fault domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<DomainInfo>,
}

impl AgentInfo {
    /// Default agent port.
    pub const DEFAULT_PORT: i32 = 5051;

    /// `port`, with the proto default applied.
    pub fn port(&self) -> i32 {
        self.port.unwrap_or(Self::DEFAULT_PORT)
    }
}

wire_enum! {
    /// `AgentInfo.Capability.Type`.
    pub enum AgentCapabilityType {
        /// Not set / unknown.
        Unknown(UNKNOWN = 0),
        /// Can run tasks of MULTI_ROLE frameworks.
        MultiRole(MULTI_ROLE = 1),
        /// Understands hierarchical roles (`a/b`).
        HierarchicalRole(HIERARCHICAL_ROLE = 2),
        /// Understands refined reservations.
        ReservationRefinement(RESERVATION_REFINEMENT = 3),
        /// Hosts resource providers and sends operation feedback.
        ResourceProvider(RESOURCE_PROVIDER = 4),
        /// Can grow/shrink persistent volumes.
        ResizeVolume(RESIZE_VOLUME = 5),
        /// Sends operation feedback for the agent's own resources.
        AgentOperationFeedback(AGENT_OPERATION_FEEDBACK = 6),
        /// Supports draining.
        AgentDraining(AGENT_DRAINING = 7),
        /// Supports task resource limits.
        TaskResourceLimits(TASK_RESOURCE_LIMITS = 8),
    }
    unknown => Unknown
}

/// `AgentInfo.Capability`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AgentCapability {
    /// The capability.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<AgentCapabilityType>,
}

/// `DomainInfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DomainInfo {
    /// Region and zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault_domain: Option<FaultDomain>,
}

/// `DomainInfo.FaultDomain`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FaultDomain {
    /// Region (`{"name": …}`).
    pub region: NamedDomain,
    /// Zone (`{"name": …}`).
    pub zone: NamedDomain,
}

/// `RegionInfo` / `ZoneInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NamedDomain {
    /// Region or zone name.
    pub name: String,
}

/// `MachineID`: hostname and/or IP of a machine (maintenance).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MachineId {
    /// Hostname (case-insensitive match).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
}

/// `Unavailability`: a maintenance window starting at `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Unavailability {
    /// Start.
    pub start: TimeInfo,
    /// Length; unset means forever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<DurationInfo>,
}

wire_enum! {
    /// `DrainState`.
    pub enum DrainState {
        /// Not set / unknown.
        Unknown(UNKNOWN = 0),
        /// Tasks are being killed.
        Draining(DRAINING = 1),
        /// All tasks and operations are terminal and acknowledged.
        Drained(DRAINED = 2),
    }
    unknown => Unknown
}

/// `DrainConfig`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrainConfig {
    /// Upper bound on task kill grace periods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_grace_period: Option<DurationInfo>,
    /// Mark the agent gone when drained (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mark_gone: Option<bool>,
}

/// `DrainInfo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrainInfo {
    /// Current state.
    pub state: DrainState,
    /// The configuration used.
    pub config: DrainConfig,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_info_defaults() {
        let a: AgentInfo = serde_json::from_str(r#"{"hostname":"h1"}"#).unwrap();
        assert_eq!(a.port(), 5051);
    }

    #[test]
    fn master_info_round_trip() {
        let json = r#"{"id":"abc","ip":16777343,"port":5050,"hostname":"localhost",
            "address":{"hostname":"localhost","ip":"127.0.0.1","port":5050},
            "capabilities":[{"type":"AGENT_UPDATE"}]}"#;
        let m: MasterInfo = serde_json::from_str(json).unwrap();
        assert_eq!(m.ip, MasterInfo::pack_ip("127.0.0.1"));
        let back: MasterInfo = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(back, m);
    }
}
