//! Resource arithmetic: a [`Resources`] collection with add, subtract,
//! contains and filters, following Mesos' `Resources` semantics; the agent
//! `--resources` flag syntax (`cpus:4;mem:8192;ports:[31000-32000]`); and
//! the primitive operations on scalars (fixed point), ranges and sets.
//!
//! Semantics, as in Mesos:
//! * entries with the same name, type, reservations, allocation, disk,
//!   revocability, sharedness and provider merge into one;
//! * shared resources, persistent volumes and MOUNT/BLOCK/RAW disks are
//!   *atomic*: never merged or split, only added or removed whole;
//! * scalars have three decimal digits of precision (fixed point), so
//!   `0.1 + 0.2 == 0.3`;
//! * `-` saturates (Mesos drops what would go negative); use
//!   [`Resources::checked_sub`] to insist on containment;
//! * everything is kept in the post-refinement reservation format; convert
//!   with [`crate::v1::Resource::to_pre_refinement`] for old frameworks.
//!
//! The collection does not own the allocator's or the agent's bookkeeping;
//! it is the arithmetic they share.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::{Add, AddAssign, Sub, SubAssign};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::v1::{
    AllocationInfo, DiskSourceType, Range, Ranges, ReservationInfo, Resource, Scalar, Set,
    ValueType, UNRESERVED_ROLE,
};

/// Errors from resource validation, parsing and checked arithmetic.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ResourcesError {
    /// A resource is malformed (wrong value field for its type, negative
    /// amount, inverted range, …).
    #[error("invalid resource {name:?}: {reason}")]
    Invalid {
        /// The resource's name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The `--resources` text could not be parsed.
    #[error("cannot parse resources {input:?}: {reason}")]
    Parse {
        /// The offending part of the input.
        input: String,
        /// Why.
        reason: String,
    },
    /// [`Resources::checked_sub`] was asked to remove what is not there.
    #[error("resources {missing} are not contained")]
    NotContained {
        /// What is missing, in flag syntax.
        missing: String,
    },
}

/// Fixed-point scale: Mesos keeps three decimal digits.
pub const SCALAR_SCALE: f64 = 1000.0;

/// A scalar amount in Mesos' fixed point (thousandths).
pub fn fixed_point(value: f64) -> i64 {
    (value * SCALAR_SCALE).round() as i64
}

/// Back from fixed point.
pub fn from_fixed_point(fixed: i64) -> f64 {
    fixed as f64 / SCALAR_SCALE
}

/// Takes `needs` (fixed-point amounts by name) out of `left`, splitting
/// offered scalar resources so each piece keeps its role, reservation and
/// allocation. Leaves `left` untouched and returns `None` if they do not
/// all fit. Revocable, shared and disk-sourced resources are not used.
pub fn carve_scalars(left: &mut [Resource], needs: &[(&str, i64)]) -> Option<Vec<Resource>> {
    let mut trial = left.to_vec();
    let mut taken = Vec::new();
    for &(name, amount) in needs {
        let mut need = amount;
        for r in trial.iter_mut().filter(|r| {
            r.name == name
                && r.kind == ValueType::Scalar
                && r.revocable.is_none()
                && r.shared.is_none()
                && r.disk.is_none()
        }) {
            let have = r.scalar.map(|s| fixed_point(s.value)).unwrap_or(0);
            let take = have.min(need);
            if take <= 0 {
                continue;
            }
            let mut piece = r.clone();
            piece.scalar = Some(Scalar::new(from_fixed_point(take)));
            taken.push(piece);
            r.scalar = Some(Scalar::new(from_fixed_point(have - take)));
            need -= take;
            if need == 0 {
                break;
            }
        }
        if need > 0 {
            return None;
        }
    }
    left.clone_from_slice(&trial);
    Some(taken)
}

/// Rounds to the precision Mesos keeps.
pub fn round_scalar(value: f64) -> f64 {
    from_fixed_point(fixed_point(value))
}

impl Scalar {
    /// `self + other` in fixed point.
    pub fn fixed_add(self, other: Scalar) -> Scalar {
        Scalar::new(from_fixed_point(
            fixed_point(self.value).saturating_add(fixed_point(other.value)),
        ))
    }

    /// `self - other` in fixed point, not below zero.
    pub fn saturating_sub(self, other: Scalar) -> Scalar {
        let d = fixed_point(self.value).saturating_sub(fixed_point(other.value));
        Scalar::new(from_fixed_point(d.max(0)))
    }
}

impl Ranges {
    /// From inclusive `(begin, end)` pairs, normalized.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (u64, u64)>) -> Self {
        Ranges {
            range: pairs.into_iter().map(|(b, e)| Range::new(b, e)).collect(),
        }
        .normalized()
    }

    /// Sorted, with overlapping and adjacent ranges merged, inverted ranges
    /// dropped.
    pub fn normalized(&self) -> Ranges {
        let mut ranges: Vec<Range> = self
            .range
            .iter()
            .copied()
            .filter(|r| r.begin <= r.end)
            .collect();
        ranges.sort_unstable();
        let mut out: Vec<Range> = Vec::with_capacity(ranges.len());
        for r in ranges {
            match out.last_mut() {
                Some(last) if r.begin <= last.end.saturating_add(1) => {
                    last.end = last.end.max(r.end);
                }
                _ => out.push(r),
            }
        }
        Ranges { range: out }
    }

    /// Whether no value is in any range.
    pub fn is_empty(&self) -> bool {
        self.range.iter().all(|r| r.begin > r.end)
    }

    /// How many values the ranges hold (saturating).
    pub fn count(&self) -> u64 {
        self.normalized().range.iter().fold(0u64, |n, r| {
            n.saturating_add((r.end - r.begin).saturating_add(1))
        })
    }

    /// Whether `value` is in one of the ranges.
    pub fn contains_value(&self, value: u64) -> bool {
        self.range
            .iter()
            .any(|r| r.begin <= value && value <= r.end)
    }

    /// Whether every value of `other` is in `self`.
    pub fn contains(&self, other: &Ranges) -> bool {
        let mine = self.normalized();
        other.normalized().range.iter().all(|o| {
            mine.range
                .iter()
                .any(|m| m.begin <= o.begin && o.end <= m.end)
        })
    }

    /// The values in either.
    pub fn union(&self, other: &Ranges) -> Ranges {
        Ranges {
            range: self.range.iter().chain(&other.range).copied().collect(),
        }
        .normalized()
    }

    /// The values in `self` but not in `other`; ranges are split as needed.
    pub fn difference(&self, other: &Ranges) -> Ranges {
        let minus = other.normalized();
        let mut out = Vec::new();
        for r in self.normalized().range {
            let mut pieces = vec![r];
            for m in &minus.range {
                pieces = pieces
                    .into_iter()
                    .flat_map(|p| {
                        let mut keep = Vec::with_capacity(2);
                        if m.end < p.begin || p.end < m.begin {
                            keep.push(p);
                        } else {
                            if p.begin < m.begin {
                                keep.push(Range::new(p.begin, m.begin - 1));
                            }
                            if m.end < p.end {
                                keep.push(Range::new(m.end + 1, p.end));
                            }
                        }
                        keep
                    })
                    .collect();
            }
            out.extend(pieces);
        }
        Ranges { range: out }.normalized()
    }

    /// The lowest `n` values, or `None` if there are fewer than `n`
    /// (how an executor picks ports out of an offer).
    pub fn take_first(&self, n: u64) -> Option<Ranges> {
        let mut left = n;
        let mut out = Vec::new();
        for r in self.normalized().range {
            if left == 0 {
                break;
            }
            let size = (r.end - r.begin).saturating_add(1);
            if size >= left {
                out.push(Range::new(r.begin, r.begin + (left - 1)));
                left = 0;
            } else {
                out.push(r);
                left -= size;
            }
        }
        (left == 0).then_some(Ranges { range: out })
    }
}

impl Set {
    /// Sorted and deduplicated.
    pub fn normalized(&self) -> Set {
        let mut item = self.item.clone();
        item.sort_unstable();
        item.dedup();
        Set { item }
    }

    /// The members of either.
    pub fn union(&self, other: &Set) -> Set {
        Set {
            item: self.item.iter().chain(&other.item).cloned().collect(),
        }
        .normalized()
    }

    /// The members of `self` not in `other`.
    pub fn difference(&self, other: &Set) -> Set {
        Set {
            item: self
                .item
                .iter()
                .filter(|i| !other.item.contains(i))
                .cloned()
                .collect(),
        }
        .normalized()
    }

    /// Whether every member of `other` is in `self`.
    pub fn contains(&self, other: &Set) -> bool {
        other.item.iter().all(|i| self.item.contains(i))
    }
}

/// Checks one resource the way Mesos' `Resources::validate` does.
pub fn validate(resource: &Resource) -> Result<(), ResourcesError> {
    let invalid = |reason: &str| {
        Err(ResourcesError::Invalid {
            name: resource.name.clone(),
            reason: reason.to_owned(),
        })
    };
    if resource.name.is_empty() {
        return invalid("empty name");
    }
    let fields = (
        resource.scalar.is_some(),
        resource.ranges.is_some(),
        resource.set.is_some(),
    );
    match resource.kind {
        ValueType::Scalar => {
            if fields != (true, false, false) {
                return invalid("a SCALAR resource must set `scalar` only");
            }
            let v = resource.scalar.map(|s| s.value).unwrap_or_default();
            if !v.is_finite() || v < 0.0 {
                return invalid("scalar value must be finite and not negative");
            }
        }
        ValueType::Ranges => {
            if fields != (false, true, false) {
                return invalid("a RANGES resource must set `ranges` only");
            }
            if let Some(r) = resource
                .ranges
                .iter()
                .flat_map(|r| &r.range)
                .find(|r| r.begin > r.end)
            {
                return invalid(&format!("range [{}-{}] is inverted", r.begin, r.end));
            }
        }
        ValueType::Set => {
            if fields != (false, false, true) {
                return invalid("a SET resource must set `set` only");
            }
        }
        ValueType::Text => return invalid("TEXT is not a resource type"),
    }
    if resource.disk.is_some() && resource.name != "disk" {
        return invalid("only `disk` resources may carry disk info");
    }
    if resource.is_persistent_volume() && !resource.is_reserved() && resource.shared.is_none() {
        return invalid("persistent volumes must be reserved");
    }
    Ok(())
}

/// Whether a (normalized) resource holds nothing.
fn is_empty(r: &Resource) -> bool {
    match r.kind {
        ValueType::Scalar => r.scalar.map(|s| s.value == 0.0).unwrap_or(true),
        ValueType::Ranges => r.ranges.as_ref().map(Ranges::is_empty).unwrap_or(true),
        ValueType::Set => r.set.as_ref().map(|s| s.item.is_empty()).unwrap_or(true),
        ValueType::Text => true,
    }
}

/// Resources that Mesos never merges or splits.
fn is_atomic(r: &Resource) -> bool {
    if r.shared.is_some() || r.is_persistent_volume() {
        return true;
    }
    matches!(
        r.disk
            .as_ref()
            .and_then(|d| d.source.as_ref())
            .map(|s| s.kind),
        Some(DiskSourceType::Mount | DiskSourceType::Block | DiskSourceType::Raw)
    )
}

/// Same identity except for the amount.
fn same_key(a: &Resource, b: &Resource) -> bool {
    a.name == b.name
        && a.kind == b.kind
        && a.provider_id == b.provider_id
        && a.reservations == b.reservations
        && a.allocation_info == b.allocation_info
        && a.disk == b.disk
        && a.revocable == b.revocable
        && a.shared == b.shared
}

/// Post-refinement format, scalar rounded, ranges and sets normalized.
fn normalize(r: Resource) -> Resource {
    let mut r = r.into_post_refinement();
    if let Some(s) = &mut r.scalar {
        s.value = round_scalar(s.value);
    }
    if let Some(ranges) = &r.ranges {
        r.ranges = Some(ranges.normalized());
    }
    if let Some(set) = &r.set {
        r.set = Some(set.normalized());
    }
    r
}

/// Whether `have` holds at least `want` (same key assumed).
fn value_contains(have: &Resource, want: &Resource) -> bool {
    match want.kind {
        ValueType::Scalar => {
            fixed_point(have.scalar.unwrap_or_default().value)
                >= fixed_point(want.scalar.unwrap_or_default().value)
        }
        ValueType::Ranges => have
            .ranges
            .as_ref()
            .is_some_and(|h| want.ranges.as_ref().is_none_or(|w| h.contains(w))),
        ValueType::Set => have
            .set
            .as_ref()
            .is_some_and(|h| want.set.as_ref().is_none_or(|w| h.contains(w))),
        ValueType::Text => false,
    }
}

/// A collection of resources, kept normalized (see the module docs).
///
/// Equality is multiset equality of the normalized entries, so order does
/// not matter.
#[derive(Debug, Clone, Default)]
pub struct Resources {
    items: Vec<Resource>,
}

impl Resources {
    /// Nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Validates every resource, then collects them.
    pub fn try_from_vec(resources: Vec<Resource>) -> Result<Self, ResourcesError> {
        resources.iter().try_for_each(validate)?;
        Ok(resources.into_iter().collect())
    }

    /// Adds one resource. Like Mesos, invalid and empty resources are
    /// ignored; call [`validate`] first where input is untrusted.
    pub fn push(&mut self, resource: Resource) {
        if validate(&resource).is_err() {
            return;
        }
        let r = normalize(resource);
        if is_empty(&r) {
            return;
        }
        self.push_normalized(r);
    }

    /// [`Resources::push`] for an entry that is already valid, normalized
    /// and not empty, such as an entry of another `Resources`: skips the
    /// checks and the copy that normalizing makes.
    fn push_normalized(&mut self, r: Resource) {
        if !self.merge_normalized(&r) {
            self.items.push(r);
        }
    }

    /// Adds `r` (normalized) to an item of the same key, if there is one
    /// (atomic resources never merge). Taking `r` by reference lets
    /// `+= &Resources` clone only what is new: merging is the common case
    /// (a framework's offered total grows by one offer per agent).
    fn merge_normalized(&mut self, r: &Resource) -> bool {
        if is_atomic(r) {
            return false;
        }
        let Some(existing) = self
            .items
            .iter_mut()
            .find(|e| !is_atomic(e) && same_key(e, r))
        else {
            return false;
        };
        match r.kind {
            ValueType::Scalar => {
                let sum = existing
                    .scalar
                    .unwrap_or_default()
                    .fixed_add(r.scalar.unwrap_or_default());
                existing.scalar = Some(sum);
            }
            ValueType::Ranges => {
                let sum = existing
                    .ranges
                    .clone()
                    .unwrap_or_default()
                    .union(r.ranges.as_ref().unwrap_or(&Default::default()));
                existing.ranges = Some(sum);
            }
            ValueType::Set => {
                let sum = existing
                    .set
                    .clone()
                    .unwrap_or_default()
                    .union(r.set.as_ref().unwrap_or(&Default::default()));
                existing.set = Some(sum);
            }
            ValueType::Text => {}
        }
        true
    }

    /// Removes one resource, saturating: what is not there is ignored, and
    /// amounts never go below zero.
    pub fn remove(&mut self, resource: &Resource) {
        if validate(resource).is_err() {
            return;
        }
        let r = normalize(resource.clone());
        if is_empty(&r) {
            return;
        }
        self.remove_normalized(&r);
    }

    /// [`Resources::remove`] for an entry that is already valid,
    /// normalized and not empty (see [`Resources::push_normalized`]).
    fn remove_normalized(&mut self, r: &Resource) {
        if is_atomic(r) {
            if let Some(i) = self.items.iter().position(|e| e == r) {
                self.items.remove(i);
            }
            return;
        }
        let Some(i) = self
            .items
            .iter()
            .position(|e| !is_atomic(e) && same_key(e, r))
        else {
            return;
        };
        let existing = &mut self.items[i];
        match r.kind {
            ValueType::Scalar => {
                let left = existing
                    .scalar
                    .unwrap_or_default()
                    .saturating_sub(r.scalar.unwrap_or_default());
                existing.scalar = Some(left);
            }
            ValueType::Ranges => {
                let left = existing
                    .ranges
                    .clone()
                    .unwrap_or_default()
                    .difference(r.ranges.as_ref().unwrap_or(&Ranges::default()));
                existing.ranges = Some(left);
            }
            ValueType::Set => {
                let left = existing
                    .set
                    .clone()
                    .unwrap_or_default()
                    .difference(r.set.as_ref().unwrap_or(&Set::default()));
                existing.set = Some(left);
            }
            ValueType::Text => {}
        }
        if is_empty(existing) {
            self.items.remove(i);
        }
    }

    /// Whether `resource` is within this collection.
    pub fn contains_resource(&self, resource: &Resource) -> bool {
        if validate(resource).is_err() {
            return false;
        }
        let r = normalize(resource.clone());
        if is_empty(&r) {
            return true;
        }
        self.contains_normalized(&r)
    }

    /// [`Resources::contains_resource`] for an entry that is already
    /// valid, normalized and not empty (see [`Resources::push_normalized`]).
    fn contains_normalized(&self, r: &Resource) -> bool {
        if is_atomic(r) {
            return self.items.contains(r);
        }
        self.items
            .iter()
            .any(|e| !is_atomic(e) && same_key(e, r) && value_contains(e, r))
    }

    /// Whether every resource of `other` is within this collection
    /// (counting atomic resources with multiplicity).
    pub fn contains(&self, other: &Resources) -> bool {
        // Non-atomic entries of a normalized collection have distinct keys,
        // so each is checked against a different entry of `self`; only
        // atomic entries (which may repeat) need the multiset bookkeeping.
        if !other.items.iter().any(is_atomic) {
            return other.items.iter().all(|r| self.contains_normalized(r));
        }
        let mut left = self.clone();
        for r in &other.items {
            if !left.contains_normalized(r) {
                return false;
            }
            left.remove_normalized(r);
        }
        true
    }

    /// `self - other`, or an error naming what is missing when `other` is
    /// not contained.
    pub fn checked_sub(&self, other: &Resources) -> Result<Resources, ResourcesError> {
        if self.contains(other) {
            Ok(self - other)
        } else {
            let missing = other - self;
            Err(ResourcesError::NotContained {
                missing: missing.to_string(),
            })
        }
    }

    /// Whether there is nothing.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Number of distinct entries (not a quantity).
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// The entries.
    pub fn iter(&self) -> std::slice::Iter<'_, Resource> {
        self.items.iter()
    }

    /// The entries, as wire resources.
    pub fn as_slice(&self) -> &[Resource] {
        &self.items
    }

    /// The entries, as wire resources.
    pub fn into_vec(self) -> Vec<Resource> {
        self.items
    }

    /// The entries that satisfy `keep`.
    pub fn filter(&self, keep: impl Fn(&Resource) -> bool) -> Resources {
        Resources {
            items: self.items.iter().filter(|r| keep(r)).cloned().collect(),
        }
    }

    /// Unreserved entries.
    pub fn unreserved(&self) -> Resources {
        self.filter(|r| !r.is_reserved())
    }

    /// Entries reserved for `role` (any role when `None`).
    pub fn reserved(&self, role: Option<&str>) -> Resources {
        self.filter(|r| r.is_reserved() && role.is_none_or(|role| r.reservation_role() == role))
    }

    /// Revocable entries.
    pub fn revocable(&self) -> Resources {
        self.filter(|r| r.revocable.is_some())
    }

    /// Non-revocable entries.
    pub fn non_revocable(&self) -> Resources {
        self.filter(|r| r.revocable.is_none())
    }

    /// Shared entries.
    pub fn shared(&self) -> Resources {
        self.filter(|r| r.shared.is_some())
    }

    /// Persistent volumes.
    pub fn persistent_volumes(&self) -> Resources {
        self.filter(Resource::is_persistent_volume)
    }

    /// Entries allocated to `role`.
    pub fn allocated_to(&self, role: &str) -> Resources {
        self.filter(|r| r.allocation_role() == Some(role))
    }

    /// The same resources, all allocated to `role` (as the master does
    /// before offering them).
    pub fn allocate(&self, role: &str) -> Resources {
        self.with_allocation(Some(AllocationInfo {
            role: Some(role.to_owned()),
        }))
    }

    /// The same resources with allocation info removed.
    pub fn unallocate(&self) -> Resources {
        self.with_allocation(None)
    }

    /// Every entry with `allocation_info` set to `info`.
    fn with_allocation(&self, info: Option<AllocationInfo>) -> Resources {
        let set = |r: &Resource| {
            let mut r = r.clone();
            r.allocation_info.clone_from(&info);
            r
        };
        // When every entry has the same allocation (the usual case: none,
        // or one role), the entries differ in something else, so they stay
        // distinct, valid and normalized with another common allocation:
        // no re-normalizing or merging needed. The master does this for
        // every offer.
        let uniform = self
            .items
            .windows(2)
            .all(|w| w[0].allocation_info == w[1].allocation_info);
        if uniform {
            Resources {
                items: self.items.iter().map(set).collect(),
            }
        } else {
            let mut out = Resources::new();
            for r in &self.items {
                out.push_normalized(set(r));
            }
            out
        }
    }

    /// The same amounts with every reservation removed (Mesos'
    /// `toUnreserved`).
    pub fn to_unreserved(&self) -> Resources {
        self.iter()
            .cloned()
            .map(|mut r| {
                r.reservations.clear();
                r
            })
            .collect()
    }

    /// Entries grouped by the role they are reserved for (`"*"` for
    /// unreserved).
    pub fn by_role(&self) -> BTreeMap<String, Resources> {
        let mut out: BTreeMap<String, Resources> = BTreeMap::new();
        for r in &self.items {
            out.entry(r.reservation_role().to_owned())
                .or_default()
                .push(r.clone());
        }
        out
    }

    /// Entries grouped by name.
    pub fn by_name(&self) -> BTreeMap<String, Resources> {
        let mut out: BTreeMap<String, Resources> = BTreeMap::new();
        for r in &self.items {
            out.entry(r.name.clone()).or_default().push(r.clone());
        }
        out
    }

    /// Total amount per name, ignoring roles and reservations: scalars sum,
    /// ranges and sets count their members (Mesos' `ResourceQuantities`).
    pub fn quantities(&self) -> BTreeMap<String, f64> {
        let mut fixed: BTreeMap<String, i64> = BTreeMap::new();
        for r in &self.items {
            let amount = match r.kind {
                ValueType::Scalar => fixed_point(r.scalar.unwrap_or_default().value),
                // Entries are normalized (sorted, disjoint): a plain sum,
                // where `Ranges::count` would normalize a copy first.
                ValueType::Ranges => r
                    .ranges
                    .as_ref()
                    .map(|x| {
                        let n = x.range.iter().fold(0u64, |n, r| {
                            n.saturating_add((r.end - r.begin).saturating_add(1))
                        });
                        i64::try_from(n).unwrap_or(i64::MAX / 1000) * 1000
                    })
                    .unwrap_or(0),
                ValueType::Set => r
                    .set
                    .as_ref()
                    .map(|s| s.item.len() as i64 * 1000)
                    .unwrap_or(0),
                ValueType::Text => 0,
            };
            let e = fixed.entry(r.name.clone()).or_default();
            *e = e.saturating_add(amount);
        }
        fixed
            .into_iter()
            .map(|(k, v)| (k, from_fixed_point(v)))
            .collect()
    }

    /// Sum of the SCALAR resources called `name`, across roles.
    pub fn scalar(&self, name: &str) -> Option<f64> {
        let mut found = false;
        let total = self
            .items
            .iter()
            .filter(|r| r.name == name && r.kind == ValueType::Scalar)
            .inspect(|_| found = true)
            .fold(0i64, |t, r| {
                t.saturating_add(fixed_point(r.scalar.unwrap_or_default().value))
            });
        found.then(|| from_fixed_point(total))
    }

    /// Union of the RANGES resources called `name`, across roles.
    pub fn ranges(&self, name: &str) -> Option<Ranges> {
        self.items
            .iter()
            .filter(|r| r.name == name && r.kind == ValueType::Ranges)
            .filter_map(|r| r.ranges.as_ref())
            .fold(None, |acc: Option<Ranges>, r| {
                Some(acc.map_or_else(|| r.clone(), |a| a.union(r)))
            })
    }

    /// Union of the SET resources called `name`, across roles.
    pub fn set(&self, name: &str) -> Option<Set> {
        self.items
            .iter()
            .filter(|r| r.name == name && r.kind == ValueType::Set)
            .filter_map(|r| r.set.as_ref())
            .fold(None, |acc: Option<Set>, s| {
                Some(acc.map_or_else(|| s.clone(), |a| a.union(s)))
            })
    }

    /// Total `cpus`.
    pub fn cpus(&self) -> Option<f64> {
        self.scalar("cpus")
    }

    /// Total `mem`, in MB.
    pub fn mem(&self) -> Option<f64> {
        self.scalar("mem")
    }

    /// Total `disk`, in MB.
    pub fn disk(&self) -> Option<f64> {
        self.scalar("disk")
    }

    /// Total `gpus`.
    pub fn gpus(&self) -> Option<f64> {
        self.scalar("gpus")
    }

    /// All `ports`.
    pub fn ports(&self) -> Option<Ranges> {
        self.ranges("ports")
    }

    /// Parses the agent `--resources` syntax, e.g.
    /// `cpus:4;mem:8192;disk(ops):10000;ports:[31000-32000];zones:{a,b}`.
    /// Resources without a `(role)` get `default_role` (`"*"` = unreserved);
    /// a role other than `"*"` becomes a STATIC reservation. Input starting
    /// with `[` is read as a JSON array of resources instead, which the
    /// agent flag also accepts.
    pub fn parse(text: &str, default_role: &str) -> Result<Resources, ResourcesError> {
        let trimmed = text.trim();
        if trimmed.starts_with('[') {
            let list: Vec<Resource> =
                serde_json::from_str(trimmed).map_err(|e| ResourcesError::Parse {
                    input: text.to_owned(),
                    reason: e.to_string(),
                })?;
            return Resources::try_from_vec(list);
        }
        let mut out = Resources::new();
        for token in trimmed.split(';').map(str::trim).filter(|t| !t.is_empty()) {
            let resource = parse_one(token, default_role)?;
            validate(&resource)?;
            out.push(resource);
        }
        Ok(out)
    }
}

fn parse_one(token: &str, default_role: &str) -> Result<Resource, ResourcesError> {
    let fail = |reason: &str| ResourcesError::Parse {
        input: token.to_owned(),
        reason: reason.to_owned(),
    };
    let (head, value) = token
        .split_once(':')
        .ok_or_else(|| fail("expected `name:value`"))?;
    let head = head.trim();
    let value = value.trim();
    let (name, role) = match head.split_once('(') {
        Some((name, rest)) => {
            let role = rest
                .strip_suffix(')')
                .ok_or_else(|| fail("unclosed `(` in role"))?
                .trim();
            if role.is_empty() {
                return Err(fail("empty role"));
            }
            (name.trim(), role)
        }
        None => (head, default_role),
    };
    if name.is_empty() {
        return Err(fail("empty resource name"));
    }
    let mut resource = if let Some(inner) = value.strip_prefix('[') {
        let inner = inner
            .strip_suffix(']')
            .ok_or_else(|| fail("unclosed `[` in ranges"))?;
        let mut pairs = Vec::new();
        for part in inner.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (b, e) = part.split_once('-').unwrap_or((part, part));
            let b: u64 = b
                .trim()
                .parse()
                .map_err(|_| fail(&format!("bad range bound in `{part}`")))?;
            let e: u64 = e
                .trim()
                .parse()
                .map_err(|_| fail(&format!("bad range bound in `{part}`")))?;
            if b > e {
                return Err(fail(&format!("inverted range `{part}`")));
            }
            pairs.push((b, e));
        }
        Resource::ranges(name, pairs)
    } else if let Some(inner) = value.strip_prefix('{') {
        let inner = inner
            .strip_suffix('}')
            .ok_or_else(|| fail("unclosed `{` in set"))?;
        Resource::set(
            name,
            inner.split(',').map(str::trim).filter(|i| !i.is_empty()),
        )
    } else {
        let v: f64 = value
            .parse()
            .map_err(|_| fail(&format!("`{value}` is not a number")))?;
        if !v.is_finite() || v < 0.0 {
            return Err(fail("scalar must be finite and not negative"));
        }
        Resource::scalar(name, v)
    };
    if role != UNRESERVED_ROLE {
        resource
            .reservations
            .push(ReservationInfo::static_for(role));
    }
    Ok(resource)
}

/// One resource in flag syntax: `name(role):value`. The role is shown only
/// when reserved; disk, revocable and shared details are not shown.
pub struct FlagSyntax<'a>(pub &'a Resource);

impl fmt::Display for FlagSyntax<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.0;
        f.write_str(&r.name)?;
        if r.is_reserved() {
            write!(f, "({})", r.reservation_role())?;
        }
        f.write_str(":")?;
        match r.kind {
            ValueType::Scalar => write!(f, "{}", round_scalar(r.scalar.unwrap_or_default().value)),
            ValueType::Ranges => {
                f.write_str("[")?;
                for (i, range) in r.ranges.iter().flat_map(|x| &x.range).enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}-{}", range.begin, range.end)?;
                }
                f.write_str("]")
            }
            ValueType::Set => {
                f.write_str("{")?;
                for (i, item) in r.set.iter().flat_map(|x| &x.item).enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(item)?;
                }
                f.write_str("}")
            }
            ValueType::Text => Ok(()),
        }
    }
}

impl fmt::Display for Resources {
    /// Flag syntax, `;`-separated: `cpus:4;mem:8192;ports:[31000-32000]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.items.iter().enumerate() {
            if i > 0 {
                f.write_str(";")?;
            }
            write!(f, "{}", FlagSyntax(r))?;
        }
        Ok(())
    }
}

impl PartialEq for Resources {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.contains(other) && other.contains(self)
    }
}

impl FromIterator<Resource> for Resources {
    fn from_iter<T: IntoIterator<Item = Resource>>(iter: T) -> Self {
        let mut out = Resources::new();
        for r in iter {
            out.push(r);
        }
        out
    }
}

impl From<Vec<Resource>> for Resources {
    fn from(v: Vec<Resource>) -> Self {
        v.into_iter().collect()
    }
}

impl From<Resource> for Resources {
    fn from(r: Resource) -> Self {
        std::iter::once(r).collect()
    }
}

impl<'a> IntoIterator for &'a Resources {
    type Item = &'a Resource;
    type IntoIter = std::slice::Iter<'a, Resource>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

impl IntoIterator for Resources {
    type Item = Resource;
    type IntoIter = std::vec::IntoIter<Resource>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

impl AddAssign<&Resources> for Resources {
    fn add_assign(&mut self, rhs: &Resources) {
        for r in &rhs.items {
            if !self.merge_normalized(r) {
                self.items.push(r.clone());
            }
        }
    }
}

impl AddAssign<Resource> for Resources {
    fn add_assign(&mut self, rhs: Resource) {
        self.push(rhs);
    }
}

impl Add<&Resources> for &Resources {
    type Output = Resources;

    fn add(self, rhs: &Resources) -> Resources {
        let mut out = self.clone();
        out += rhs;
        out
    }
}

impl Add for Resources {
    type Output = Resources;

    fn add(mut self, rhs: Resources) -> Resources {
        self += &rhs;
        self
    }
}

impl SubAssign<&Resources> for Resources {
    /// Saturating: see [`Resources::remove`].
    fn sub_assign(&mut self, rhs: &Resources) {
        for r in &rhs.items {
            self.remove_normalized(r);
        }
    }
}

impl SubAssign<&Resource> for Resources {
    fn sub_assign(&mut self, rhs: &Resource) {
        self.remove(rhs);
    }
}

impl Sub<&Resources> for &Resources {
    type Output = Resources;

    fn sub(self, rhs: &Resources) -> Resources {
        let mut out = self.clone();
        out -= rhs;
        out
    }
}

impl Sub for Resources {
    type Output = Resources;

    fn sub(mut self, rhs: Resources) -> Resources {
        self -= &rhs;
        self
    }
}

impl Serialize for Resources {
    /// As the JSON array of (post-refinement) resources.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.items.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Resources {
    /// From a JSON array of resources; rejects invalid ones.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let list = Vec::<Resource>::deserialize(d)?;
        Resources::try_from_vec(list).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::{DiskInfo, Persistence, RevocableInfo, SharedInfo};
    use proptest::prelude::*;

    fn parse(text: &str) -> Resources {
        Resources::parse(text, "*").unwrap()
    }

    #[test]
    fn scalar_precision_like_mesos() {
        let a = parse("cpus:0.1");
        let b = parse("cpus:0.2");
        assert_eq!((&a + &b).cpus(), Some(0.3));
        assert_eq!(&a + &b, parse("cpus:0.3"));
        assert_eq!(parse("cpus:0.0001").cpus(), None, "rounds to zero, dropped");
        assert_eq!(parse("mem:1.23456").mem(), Some(1.235));
        let mut x = parse("cpus:1");
        for _ in 0..10 {
            x -= &parse("cpus:0.1");
        }
        assert!(x.is_empty(), "{x}");
    }

    #[test]
    fn parses_flag_syntax() {
        let r = parse("cpus:4;mem:8192;disk:10000;ports:[31000-32000]");
        assert_eq!(r.cpus(), Some(4.0));
        assert_eq!(r.mem(), Some(8192.0));
        assert_eq!(r.disk(), Some(10000.0));
        assert_eq!(r.ports(), Some(Ranges::from_pairs([(31000, 32000)])));
        assert_eq!(
            r.to_string(),
            "cpus:4;mem:8192;disk:10000;ports:[31000-32000]"
        );

        let roles = parse("cpus(eng):2; cpus:1; zones:{b, a}; ports(eng):[1-5, 10]");
        assert_eq!(roles.cpus(), Some(3.0));
        assert_eq!(roles.reserved(Some("eng")).cpus(), Some(2.0));
        assert_eq!(roles.unreserved().cpus(), Some(1.0));
        assert_eq!(roles.set("zones").unwrap().item, vec!["a", "b"]);
        assert_eq!(roles.ports().unwrap().count(), 6);
        assert_eq!(Resources::parse(&roles.to_string(), "*").unwrap(), roles);

        let defaulted = Resources::parse("cpus:1", "ops").unwrap();
        assert_eq!(defaulted.iter().next().unwrap().reservation_role(), "ops");

        let json = Resources::parse(
            r#"[{"name":"cpus","type":"SCALAR","scalar":{"value":2}}]"#,
            "*",
        )
        .unwrap();
        assert_eq!(json.cpus(), Some(2.0));
    }

    #[test]
    fn rejects_bad_flag_syntax() {
        for bad in [
            "cpus",
            "cpus:x",
            "cpus:-1",
            "cpus(:1",
            "cpus():1",
            ":1",
            "ports:[5-1]",
            "ports:[1-2",
            "ports:[a-b]",
            "zones:{a",
            "cpus:inf",
        ] {
            assert!(
                matches!(
                    Resources::parse(bad, "*"),
                    Err(ResourcesError::Parse { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn ranges_merge_split_subtract_contain() {
        let r = Ranges::from_pairs([(10, 20), (1, 5), (6, 8), (30, 30)]);
        assert_eq!(r, Ranges::from_pairs([(1, 8), (10, 20), (30, 30)]));
        assert_eq!(r.count(), 8 + 11 + 1);
        let cut = r.difference(&Ranges::from_pairs([(3, 4), (15, 15), (30, 40)]));
        assert_eq!(
            cut,
            Ranges::from_pairs([(1, 2), (5, 8), (10, 14), (16, 20)])
        );
        assert!(r.contains(&Ranges::from_pairs([(2, 3), (12, 18)])));
        assert!(!r.contains(&Ranges::from_pairs([(8, 10)])));
        assert!(r.contains_value(30) && !r.contains_value(9));
        assert_eq!(
            r.take_first(10),
            Some(Ranges::from_pairs([(1, 8), (10, 11)]))
        );
        assert_eq!(r.take_first(100), None);
        let max = Ranges::from_pairs([(u64::MAX - 1, u64::MAX), (0, 0)]);
        assert_eq!(max.count(), 3);
        assert_eq!(
            Ranges::from_pairs([(0, u64::MAX)]).count(),
            u64::MAX,
            "saturates"
        );

        let ports = parse("ports:[31000-32000]");
        let used = parse("ports:[31005-31010]");
        let left = &ports - &used;
        assert_eq!(
            left.ports(),
            Some(Ranges::from_pairs([(31000, 31004), (31011, 32000)]))
        );
        assert!(ports.contains(&used));
        assert!(!left.contains(&used));
    }

    #[test]
    fn sets_union_and_difference() {
        let a = parse("zones:{a,b}");
        let b = parse("zones:{b,c}");
        assert_eq!((&a + &b).set("zones").unwrap().item, vec!["a", "b", "c"]);
        assert_eq!((&a - &b).set("zones").unwrap().item, vec!["a"]);
        assert!(!a.contains(&b));
        assert!((&a + &b).contains(&b));
    }

    #[test]
    fn checked_sub_names_what_is_missing() {
        let have = parse("cpus:1;mem:100");
        assert_eq!(
            have.checked_sub(&parse("cpus:0.5")).unwrap(),
            parse("cpus:0.5;mem:100")
        );
        let err = have.checked_sub(&parse("cpus:2;disk:5")).unwrap_err();
        assert_eq!(
            err,
            ResourcesError::NotContained {
                missing: "cpus:1;disk:5".into()
            }
        );
        assert_eq!(&have - &parse("cpus:2"), parse("mem:100"), "saturates");
    }

    #[test]
    fn roles_and_revocability_do_not_mix() {
        let reserved = parse("cpus(eng):1");
        let unreserved = parse("cpus:1");
        assert!(!unreserved.contains(&reserved));
        assert!(!reserved.contains(&unreserved));
        assert_eq!((&reserved + &unreserved).len(), 2);
        let mut revocable = Resource::scalar("cpus", 1.0);
        revocable.revocable = Some(RevocableInfo {});
        assert!(!unreserved.contains(&Resources::from(revocable.clone())));
        assert_eq!(Resources::from(revocable).revocable().cpus(), Some(1.0));
        assert_eq!(reserved.to_unreserved(), unreserved);
        assert_eq!(
            reserved.by_role().keys().cloned().collect::<Vec<_>>(),
            vec!["eng".to_owned()]
        );
    }

    #[test]
    fn pre_refinement_input_is_normalized() {
        let mut pre = Resource::scalar("cpus", 1.0);
        pre.role = Some("eng".into());
        assert_eq!(Resources::from(pre), parse("cpus(eng):1"));
        let mut star = Resource::scalar("cpus", 1.0);
        star.role = Some("*".into());
        assert_eq!(Resources::from(star), parse("cpus:1"));
    }

    fn volume(id: &str, size: f64) -> Resource {
        let mut r = Resource::scalar("disk", size).reserved(ReservationInfo::static_for("eng"));
        r.disk = Some(Box::new(DiskInfo {
            persistence: Some(Persistence {
                id: id.into(),
                principal: None,
            }),
            volume: None,
            source: None,
        }));
        r
    }

    #[test]
    fn persistent_volumes_are_atomic() {
        let v = Resources::from(volume("v1", 100.0));
        let both = &v + &v;
        assert_eq!(both.len(), 2, "volumes never merge");
        assert!(!v.contains(&Resources::from(volume("v1", 50.0))));
        assert!(both.contains(&v));
        assert!(!v.contains(&both), "multiplicity counts");
        assert_eq!(&both - &v, v);
        assert_eq!(&v - &Resources::from(volume("v1", 50.0)), v);
        let mut shared = volume("s", 10.0);
        shared.shared = Some(SharedInfo {});
        let s = Resources::from(shared);
        assert_eq!((&s + &s).shared().len(), 2);
    }

    #[test]
    fn allocation_and_quantities() {
        let r = parse("cpus:1;cpus(eng):2;ports:[1-10];zones:{a,b}");
        let offered = r.allocate("eng");
        assert_eq!(offered.allocated_to("eng").len(), r.len());
        assert!(!r.contains(&offered), "allocation is part of identity");
        assert_eq!(offered.unallocate(), r);
        let q = r.quantities();
        assert_eq!(q["cpus"], 3.0);
        assert_eq!(q["ports"], 10.0);
        assert_eq!(q["zones"], 2.0);
    }

    #[test]
    fn validation() {
        let mut bad = Resource::scalar("cpus", -1.0);
        assert!(validate(&bad).is_err());
        bad.scalar = None;
        assert!(validate(&bad).is_err());
        assert!(Resources::try_from_vec(vec![Resource::ranges("ports", [(5, 1)])]).is_err());
        assert!(serde_json::from_str::<Resources>(
            r#"[{"name":"cpus","type":"SCALAR","scalar":{"value":-3}}]"#
        )
        .is_err());
        let unreserved_volume = {
            let mut v = volume("v", 1.0);
            v.reservations.clear();
            v
        };
        assert!(validate(&unreserved_volume).is_err());
    }

    #[test]
    fn serde_round_trip() {
        let r = parse("cpus(eng):1.5;ports:[1-2]");
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<Resources>(&json).unwrap(), r);
    }

    // ---- property tests -------------------------------------------------

    /// Resources whose ranges lie in `[port_base, port_base + 1000)` and
    /// whose set items start with `tag`, so two generators with different
    /// parameters produce disjoint ranges and sets.
    fn resources(port_base: u64, tag: &'static str) -> impl Strategy<Value = Resources> {
        let role = prop_oneof![Just("*"), Just("eng"), Just("ops")];
        let scalar = (
            prop_oneof![Just("cpus"), Just("mem"), Just("disk")],
            role.clone(),
            0u32..100_000,
        )
            .prop_map(|(name, role, milli)| {
                with_role(Resource::scalar(name, f64::from(milli) / 1000.0), role)
            });
        let ranges = (
            role.clone(),
            proptest::collection::vec((0u64..1000, 0u64..20), 1..4),
        )
            .prop_map(move |(role, pairs)| {
                let pairs = pairs
                    .into_iter()
                    .map(|(b, len)| (port_base + b, port_base + (b + len).min(999)));
                with_role(Resource::ranges("ports", pairs), role)
            });
        let set =
            (role, proptest::collection::vec(0u8..10, 1..4)).prop_map(move |(role, items)| {
                with_role(
                    Resource::set("zones", items.into_iter().map(|i| format!("{tag}{i}"))),
                    role,
                )
            });
        let vol = prop_oneof![Just("v1"), Just("v2")].prop_map(|id| volume(id, 10.0));
        proptest::collection::vec(
            prop_oneof![4 => scalar, 2 => ranges, 2 => set, 1 => vol],
            0..8,
        )
        .prop_map(Resources::from)
    }

    fn with_role(r: Resource, role: &str) -> Resource {
        if role == "*" {
            r
        } else {
            r.reserved(ReservationInfo::static_for(role))
        }
    }

    fn no_negative(r: &Resources) -> bool {
        r.iter().all(|x| x.scalar.is_none_or(|s| s.value >= 0.0))
    }

    proptest! {
        #[test]
        fn add_then_subtract_is_identity(a in resources(0, "a"), b in resources(1000, "b")) {
            prop_assert_eq!(&(&a + &b) - &b, a);
        }

        #[test]
        fn contains_itself_and_its_parts(a in resources(0, "a"), b in resources(0, "a")) {
            prop_assert!(a.contains(&a));
            let sum = &a + &b;
            prop_assert!(sum.contains(&a));
            prop_assert!(sum.contains(&b));
            prop_assert!(Resources::new().contains(&Resources::new()));
            prop_assert!(a.contains(&Resources::new()));
        }

        #[test]
        fn subtract_never_goes_negative(a in resources(0, "a"), b in resources(0, "a")) {
            let diff = &a - &b;
            prop_assert!(no_negative(&diff));
            prop_assert!(a.contains(&diff));
            prop_assert_eq!(a.checked_sub(&b).is_ok(), a.contains(&b));
            if let Ok(exact) = a.checked_sub(&b) {
                prop_assert_eq!(&exact + &b, a);
            }
        }

        #[test]
        fn flag_syntax_round_trips(a in resources(0, "a")) {
            let plain = a.filter(|r| r.disk.is_none());
            let text = plain.to_string();
            prop_assert_eq!(Resources::parse(&text, "*").unwrap(), plain);
        }
    }
}
