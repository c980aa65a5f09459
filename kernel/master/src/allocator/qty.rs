//! Dense, fixed-point resource quantities for the allocator's hot loop.
//!
//! Owns the per-cycle index of resource names ([`Names`]) and the
//! quantity vectors ([`Qty`]) that shares, quota consumption, headroom and
//! minimum-allocatable checks are computed on, so the cycle never builds
//! `BTreeMap<String, f64>`s per agent and framework. Amounts are Mesos'
//! fixed point (thousandths), so comparisons are exact. It does not own
//! resource arithmetic on real [`Resources`] (that is `dcos_api::resources`).

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};

use dcos_api::resources::{fixed_point, Resources};
use dcos_api::v1::{ResourceQuantities, ValueType};

/// Up to this many names, [`Names::get`] scans instead of hashing.
const LINEAR: usize = 16;

/// Quantities indexed by [`Names`] position, in thousandths.
pub(super) type Qty = Vec<i64>;

/// The resource names seen in one snapshot, each with a dense index.
#[derive(Debug, Default)]
pub(super) struct Names {
    /// Names in index order: looked up by a linear scan while there are
    /// few (faster than hashing for the usual handful).
    list: Vec<String>,
    /// Where the last lookup found its name: agents list their resources
    /// in the same order, so the next name is usually the next one.
    hint: Cell<usize>,
    index: HashMap<String, usize>,
    /// Whether the name is a SCALAR somewhere (only those count in shares).
    scalar: Vec<bool>,
}

impl Names {
    /// Registers `name` (idempotent) and returns its index.
    pub(super) fn intern(&mut self, name: &str, kind: Option<ValueType>) -> usize {
        let i = match self.get(name) {
            Some(i) => i,
            None => {
                let i = self.scalar.len();
                self.list.push(name.to_owned());
                self.index.insert(name.to_owned(), i);
                self.scalar.push(false);
                i
            }
        };
        if kind == Some(ValueType::Scalar) {
            self.scalar[i] = true;
        }
        i
    }

    /// Registers every name of `resources`.
    pub(super) fn intern_all(&mut self, resources: &Resources) {
        for r in resources {
            self.intern(&r.name, Some(r.kind));
        }
    }

    /// How many names there are (the length of every [`Qty`]).
    pub(super) fn len(&self) -> usize {
        self.scalar.len()
    }

    /// Whether name `i` is a scalar.
    pub(super) fn is_scalar(&self, i: usize) -> bool {
        self.scalar[i]
    }

    /// Index of a registered name.
    pub(super) fn get(&self, name: &str) -> Option<usize> {
        let next = self.hint.get() + 1;
        if self.list.get(next).is_some_and(|n| n == name) {
            self.hint.set(next);
            return Some(next);
        }
        let found = if self.list.len() <= LINEAR {
            self.list.iter().position(|n| n == name)
        } else {
            self.index.get(name).copied()
        };
        if let Some(i) = found {
            self.hint.set(i);
        }
        found
    }

    /// A zero vector.
    pub(super) fn zero(&self) -> Qty {
        vec![0; self.len()]
    }

    /// The quantities of `resources`, with the same counting as
    /// [`Resources::quantities`] (scalars sum, ranges and sets count their
    /// members), written without allocating a map per call because the
    /// cycle does this for every agent.
    pub(super) fn qty(&self, resources: &Resources) -> Qty {
        let mut q = self.zero();
        self.add_qty(&mut q, resources);
        q
    }

    /// Adds the quantities of `resources` to `q`.
    pub(super) fn add_qty(&self, q: &mut Qty, resources: &Resources) {
        for r in resources {
            if let Some(i) = self.get(&r.name) {
                q[i] = q[i].saturating_add(amount(r));
            }
        }
    }

    /// A sparse `name -> amount` map (quota) as a vector; absent names are
    /// `None`. Names must have been interned.
    pub(super) fn optional(&self, map: &BTreeMap<String, f64>) -> Vec<Option<i64>> {
        let mut out = vec![None; self.len()];
        for (name, v) in map {
            if let Some(i) = self.get(name) {
                out[i] = Some(fixed_point(*v).max(0));
            }
        }
        out
    }

    /// Minimum-allocatable sets as sparse `(index, amount)` lists.
    pub(super) fn min_sets(&self, sets: &[ResourceQuantities]) -> Vec<Vec<(usize, i64)>> {
        sets.iter()
            .map(|set| {
                set.quantities
                    .iter()
                    .filter_map(|(name, s)| Some((self.get(name)?, fixed_point(s.value))))
                    .collect()
            })
            .collect()
    }
}

/// One resource's quantity in thousandths.
pub(super) fn amount(r: &dcos_api::v1::Resource) -> i64 {
    match r.kind {
        ValueType::Scalar => fixed_point(r.scalar.unwrap_or_default().value),
        // Entries of a `Resources` are normalized (sorted, disjoint), so
        // the count is a plain sum; `Ranges::count` would re-normalize.
        ValueType::Ranges => r.ranges.as_ref().map_or(0, |x| {
            let n = x.range.iter().fold(0u64, |n, r| {
                n.saturating_add(r.end.saturating_sub(r.begin).saturating_add(1))
            });
            i64::try_from(n)
                .unwrap_or(i64::MAX / 1000)
                .saturating_mul(1000)
        }),
        ValueType::Set => r
            .set
            .as_ref()
            .map(|s| s.item.len() as i64 * 1000)
            .unwrap_or(0),
        ValueType::Text => 0,
    }
}

/// `a += b`.
pub(super) fn add(a: &mut [i64], b: &[i64]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x = x.saturating_add(*y);
    }
}

/// `a -= b`, not below zero.
pub(super) fn sub(a: &mut [i64], b: &[i64]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x = x.saturating_sub(*y).max(0);
    }
}

/// Whether every amount is zero.
pub(super) fn is_zero(a: &[i64]) -> bool {
    a.iter().all(|x| *x == 0)
}

/// Whether `have` satisfies one of the minimum sets; an empty list of
/// sets means anything non-empty does.
pub(super) fn allocatable(have: &[i64], sets: &[Vec<(usize, i64)>]) -> bool {
    if sets.is_empty() {
        return !is_zero(have);
    }
    sets.iter()
        .any(|set| set.iter().all(|(i, min)| have[*i] >= *min))
}
