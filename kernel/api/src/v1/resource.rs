//! `Resource` and its nested messages (reservations, disk, allocation).
//!
//! Owns the JSON shape of a single resource and the conversion between the
//! two reservation formats Mesos speaks:
//!
//! * *pre-refinement*: `role` (`"*"` = unreserved) plus an optional
//!   `reservation` for dynamic reservations — what frameworks without the
//!   `RESERVATION_REFINEMENT` capability send and expect;
//! * *post-refinement*: a `reservations` stack, empty = unreserved.
//!
//! Arithmetic over collections of resources lives in [`crate::resources`].

use serde::{Deserialize, Serialize};

use super::container::Volume;
use super::ids::ResourceProviderId;
use super::values::{Labels, Range, Ranges, Scalar, Set, ValueType};

/// The role meaning "unreserved" in the pre-refinement format.
pub const UNRESERVED_ROLE: &str = "*";

/// `Resource`: one named, typed amount (`cpus:4`, `ports:[31000-32000]`).
///
/// Rarely set fields (`provider_id`, the pre-refinement `reservation`,
/// `disk`) are boxed: `DiskInfo` alone is about a kilobyte, and the master
/// clones, moves and drops millions of resources (every offer, every
/// allocation cycle), nearly all of which leave those fields empty. Boxing
/// does not change the JSON (serde is transparent for `Box`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    /// Set when the resource comes from a resource provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<Box<ResourceProviderId>>,
    /// `cpus`, `mem` (MB), `disk` (MB), `ports`, `gpus`, …
    pub name: String,
    /// Which value field is set.
    #[serde(rename = "type")]
    pub kind: ValueType,
    /// Set when `kind` is SCALAR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scalar: Option<Scalar>,
    /// Set when `kind` is RANGES.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranges: Option<Ranges>,
    /// Set when `kind` is SET.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<Set>,
    /// Deprecated pre-refinement role; `"*"` (the proto default) means
    /// unreserved. Must not be set together with `reservations`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The role this resource is allocated to (offers, tasks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation_info: Option<AllocationInfo>,
    /// Deprecated pre-refinement dynamic reservation (principal, labels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation: Option<Box<ReservationInfo>>,
    /// Post-refinement reservation stack; the last entry is current.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reservations: Vec<ReservationInfo>,
    /// Disk details (persistent volumes, disk sources).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<Box<DiskInfo>>,
    /// Present (as `{}`) when the resource is revocable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocable: Option<RevocableInfo>,
    /// Present (as `{}`) when the resource is shared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared: Option<SharedInfo>,
}

/// `Resource.AllocationInfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AllocationInfo {
    /// The role the resource is allocated to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

wire_enum! {
    /// `Resource.ReservationInfo.Type`.
    pub enum ReservationType {
        /// Not set / a newer value this crate does not know.
        Unknown(UNKNOWN = 0),
        /// Set by the operator with `--resources` on the agent.
        Static(STATIC = 1),
        /// Made through RESERVE (framework) or `/reserve` (operator).
        Dynamic(DYNAMIC = 2),
    }
    unknown => Unknown
}

/// `Resource.ReservationInfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ReservationInfo {
    /// STATIC or DYNAMIC; unset in the pre-refinement `reservation` field.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ReservationType>,
    /// The role reserved for; unset in the pre-refinement field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Who made the reservation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// Free-form metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
}

impl ReservationInfo {
    /// A static reservation for `role`.
    pub fn static_for(role: impl Into<String>) -> Self {
        Self {
            kind: Some(ReservationType::Static),
            role: Some(role.into()),
            ..Self::default()
        }
    }

    /// A dynamic reservation for `role`.
    pub fn dynamic_for(role: impl Into<String>, principal: Option<String>) -> Self {
        Self {
            kind: Some(ReservationType::Dynamic),
            role: Some(role.into()),
            principal,
            labels: None,
        }
    }
}

/// `Resource.DiskInfo`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DiskInfo {
    /// Set for persistent volumes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistence: Option<Persistence>,
    /// Where the disk is mounted in the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<Volume>,
    /// Where the disk comes from (root, path, mount, block, raw).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<DiskSource>,
}

/// `Resource.DiskInfo.Persistence`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Persistence {
    /// Volume ID, unique per role per agent.
    pub id: String,
    /// Principal that created the volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
}

wire_enum! {
    /// `Resource.DiskInfo.Source.Type`.
    pub enum DiskSourceType {
        /// Not set / unknown.
        Unknown(UNKNOWN = 0),
        /// A directory that can be shared and carved up.
        Path(PATH = 1),
        /// A dedicated mounted filesystem; used whole.
        Mount(MOUNT = 2),
        /// A raw block device; used whole.
        Block(BLOCK = 3),
        /// Unformatted storage from a resource provider; used whole.
        Raw(RAW = 4),
    }
    unknown => Unknown
}

/// `Resource.DiskInfo.Source.Path` / `.Mount`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DiskRoot {
    /// Path of the folder or mount point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
}

/// `Resource.DiskInfo.Source`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiskSource {
    /// Kind of disk.
    #[serde(rename = "type")]
    pub kind: DiskSourceType,
    /// For PATH disks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<DiskRoot>,
    /// For MOUNT disks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount: Option<DiskRoot>,
    /// CSI volume ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// CSI volume metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Labels>,
    /// Disk profile name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

/// `Resource.RevocableInfo`: an empty marker message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RevocableInfo {}

/// `Resource.SharedInfo`: an empty marker message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SharedInfo {}

impl Resource {
    fn bare(name: impl Into<String>, kind: ValueType) -> Self {
        Self {
            provider_id: None,
            name: name.into(),
            kind,
            scalar: None,
            ranges: None,
            set: None,
            role: None,
            allocation_info: None,
            reservation: None,
            reservations: Vec::new(),
            disk: None,
            revocable: None,
            shared: None,
        }
    }

    /// An unreserved SCALAR resource.
    pub fn scalar(name: impl Into<String>, value: f64) -> Self {
        Self {
            scalar: Some(Scalar::new(value)),
            ..Self::bare(name, ValueType::Scalar)
        }
    }

    /// An unreserved RANGES resource from inclusive `(begin, end)` pairs.
    pub fn ranges(name: impl Into<String>, ranges: impl IntoIterator<Item = (u64, u64)>) -> Self {
        Self {
            ranges: Some(Ranges {
                range: ranges.into_iter().map(|(b, e)| Range::new(b, e)).collect(),
            }),
            ..Self::bare(name, ValueType::Ranges)
        }
    }

    /// An unreserved SET resource.
    pub fn set<S: Into<String>>(
        name: impl Into<String>,
        items: impl IntoIterator<Item = S>,
    ) -> Self {
        Self {
            set: Some(Set {
                item: items.into_iter().map(Into::into).collect(),
            }),
            ..Self::bare(name, ValueType::Set)
        }
    }

    /// Pushes a reservation onto the (post-refinement) stack.
    pub fn reserved(mut self, reservation: ReservationInfo) -> Self {
        self.reservations.push(reservation);
        self
    }

    /// Marks the resource as allocated to `role`.
    pub fn allocated_to(mut self, role: impl Into<String>) -> Self {
        self.allocation_info = Some(AllocationInfo {
            role: Some(role.into()),
        });
        self
    }

    /// The role the resource is reserved for, or `"*"` when unreserved,
    /// whichever format it is in.
    pub fn reservation_role(&self) -> &str {
        if let Some(last) = self.reservations.last() {
            return last.role.as_deref().unwrap_or(UNRESERVED_ROLE);
        }
        self.role.as_deref().unwrap_or(UNRESERVED_ROLE)
    }

    /// Whether the resource is reserved (in either format).
    pub fn is_reserved(&self) -> bool {
        self.reservation_role() != UNRESERVED_ROLE
    }

    /// Whether the resource is a persistent volume.
    pub fn is_persistent_volume(&self) -> bool {
        self.disk.as_ref().is_some_and(|d| d.persistence.is_some())
    }

    /// The role this resource is allocated to, if any.
    pub fn allocation_role(&self) -> Option<&str> {
        self.allocation_info.as_ref()?.role.as_deref()
    }

    /// Converts a pre-refinement resource (`role` + `reservation`) to the
    /// post-refinement `reservations` stack. Already-converted resources are
    /// returned unchanged.
    pub fn into_post_refinement(mut self) -> Self {
        if !self.reservations.is_empty() {
            self.role = None;
            self.reservation = None;
            return self;
        }
        let role = self.role.take();
        let reservation = self.reservation.take();
        match role.as_deref() {
            None | Some(UNRESERVED_ROLE) => {}
            Some(role) => {
                let info = match reservation.map(|r| *r) {
                    Some(r) => ReservationInfo {
                        kind: Some(ReservationType::Dynamic),
                        role: Some(role.to_owned()),
                        principal: r.principal,
                        labels: r.labels,
                    },
                    None => ReservationInfo::static_for(role),
                };
                self.reservations.push(info);
            }
        }
        self
    }

    /// Converts to the pre-refinement format for frameworks without
    /// `RESERVATION_REFINEMENT`. Returns `None` when the resource has a
    /// refined reservation (more than one entry), which that format cannot
    /// express; Mesos does not offer such resources to those frameworks.
    pub fn to_pre_refinement(&self) -> Option<Self> {
        if self.reservations.len() > 1 {
            return None;
        }
        let mut out = self.clone();
        match out.reservations.pop() {
            None => {
                out.role = Some(out.role.unwrap_or_else(|| UNRESERVED_ROLE.to_owned()));
            }
            Some(r) => {
                out.role = r.role.clone();
                out.reservation = match r.kind {
                    Some(ReservationType::Dynamic) => Some(Box::new(ReservationInfo {
                        kind: None,
                        role: None,
                        principal: r.principal,
                        labels: r.labels,
                    })),
                    _ => None,
                };
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_style_offer_resource_parses() {
        let json = r#"{
            "allocation_info": {"role": "engineering"},
            "name": "cpus", "type": "SCALAR", "scalar": {"value": 2}, "role": "*"
        }"#;
        let r: Resource = serde_json::from_str(json).unwrap();
        assert_eq!(r.name, "cpus");
        assert_eq!(r.scalar.unwrap().value, 2.0);
        assert!(!r.is_reserved());
        assert_eq!(r.allocation_role(), Some("engineering"));
    }

    #[test]
    fn ranges_use_singular_field_names() {
        let r = Resource::ranges("ports", [(31000, 32000)]);
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(
            json,
            r#"{"name":"ports","type":"RANGES","ranges":{"range":[{"begin":31000,"end":32000}]}}"#
        );
    }

    #[test]
    fn reservation_formats_convert_both_ways() {
        let mut pre = Resource::scalar("cpus", 1.0);
        pre.role = Some("eng".into());
        pre.reservation = Some(Box::new(ReservationInfo {
            principal: Some("ops".into()),
            ..ReservationInfo::default()
        }));
        let post = pre.clone().into_post_refinement();
        assert_eq!(post.role, None);
        assert_eq!(post.reservations.len(), 1);
        assert_eq!(post.reservations[0].kind, Some(ReservationType::Dynamic));
        assert_eq!(post.reservation_role(), "eng");
        assert_eq!(post.to_pre_refinement().unwrap(), pre);

        let unreserved = Resource::scalar("mem", 1.0);
        let pre_unreserved = unreserved.to_pre_refinement().unwrap();
        assert_eq!(pre_unreserved.role.as_deref(), Some("*"));
        assert_eq!(pre_unreserved.into_post_refinement(), unreserved);
    }

    #[test]
    fn resource_stays_small() {
        // Guards the boxing of rare fields: the master holds, clones and
        // drops one of these per resource of every agent, task and offer.
        assert!(
            std::mem::size_of::<Resource>() <= 256,
            "{}",
            std::mem::size_of::<Resource>()
        );
    }

    #[test]
    fn boxed_fields_keep_their_json_shape() {
        let json = r#"{"provider_id":{"value":"rp"},"name":"disk","type":"SCALAR","scalar":{"value":5.0},"role":"eng","reservation":{"principal":"ops"},"disk":{"persistence":{"id":"v1"}}}"#;
        let r: Resource = serde_json::from_str(json).unwrap();
        assert_eq!(r.provider_id.as_deref().map(|p| p.as_str()), Some("rp"));
        assert!(r.is_persistent_volume());
        assert_eq!(serde_json::to_string(&r).unwrap(), json);
    }

    #[test]
    fn marker_messages_are_empty_objects() {
        let mut r = Resource::scalar("cpus", 1.0);
        r.revocable = Some(RevocableInfo {});
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["revocable"], serde_json::json!({}));
    }
}
