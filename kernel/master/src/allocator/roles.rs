//! The role tree of one cycle: weights, quota guarantees and limits,
//! allocations and quota consumption per role, and the hierarchical DRF
//! order of roles.
//!
//! Role `a/b` is a child of `a`: its allocation counts towards `a`'s share
//! and quota consumption, siblings are ordered by their subtree's weighted
//! dominant share, and a role that has both frameworks and children
//! competes with its children through a "self" leaf (like Mesos' virtual
//! `.` node). It does not own frameworks or agents (see `cycle`).

use std::collections::{BTreeMap, HashMap};

use dcos_api::v1::UNRESERVED_ROLE;

use super::qty::{self, Names, Qty};
use super::RoleConfig;

/// One role (or an ancestor path of one).
#[derive(Debug)]
pub(super) struct Role {
    pub(super) name: String,
    pub(super) children: Vec<usize>,
    /// Self first, then parent, grandparent, …
    pub(super) ancestors_or_self: Vec<usize>,
    pub(super) weight: f64,
    /// Quota guarantee, `None` per name when not guaranteed; `None` overall
    /// when the role has no guarantee.
    pub(super) guarantee: Option<Vec<Option<i64>>>,
    /// Quota limit per name, `None` = unlimited.
    pub(super) limit: Option<Vec<Option<i64>>>,
    /// Allocated to this role itself (not its children).
    pub(super) own: Qty,
    /// Allocated to this role and its descendants.
    pub(super) subtree: Qty,
    /// Quota consumption: `subtree` plus unallocated reservations for
    /// this role and its descendants.
    pub(super) consumed: Qty,
    /// The highest ancestor-or-self with a guarantee (its guarantee
    /// includes this role's, as in Mesos).
    pub(super) top_guarantee: Option<usize>,
}

/// All roles of the snapshot.
#[derive(Debug, Default)]
pub(super) struct Roles {
    pub(super) list: Vec<Role>,
    index: HashMap<String, usize>,
    top: Vec<usize>,
    /// Cluster totals per name, as f64 for shares (0 = not shared on).
    totals: Vec<f64>,
}

impl Roles {
    /// Index of `name`, creating it and its ancestors.
    pub(super) fn intern(&mut self, name: &str, names: &Names) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let parent = match name.rsplit_once('/') {
            Some((p, _)) if !p.is_empty() && name != UNRESERVED_ROLE => Some(self.intern(p, names)),
            _ => None,
        };
        let i = self.list.len();
        let mut ancestors_or_self = vec![i];
        if let Some(p) = parent {
            ancestors_or_self.extend_from_slice(&self.list[p].ancestors_or_self);
            self.list[p].children.push(i);
        } else {
            self.top.push(i);
        }
        self.list.push(Role {
            name: name.to_owned(),
            children: Vec::new(),
            ancestors_or_self,
            weight: 1.0,
            guarantee: None,
            limit: None,
            own: names.zero(),
            subtree: names.zero(),
            consumed: names.zero(),
            top_guarantee: None,
        });
        self.index.insert(name.to_owned(), i);
        i
    }

    /// Index of an existing role.
    pub(super) fn get(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// Applies weights and quota (after every role is interned).
    pub(super) fn configure(&mut self, config: &BTreeMap<String, RoleConfig>, names: &Names) {
        for (name, c) in config {
            let Some(i) = self.get(name) else { continue };
            let role = &mut self.list[i];
            role.weight = if c.weight.is_finite() && c.weight > 0.0 {
                c.weight
            } else {
                1.0
            };
            if !c.guarantee.is_empty() {
                role.guarantee = Some(names.optional(&c.guarantee));
            }
            if !c.limit.is_empty() {
                role.limit = Some(names.optional(&c.limit));
            }
        }
        for i in 0..self.list.len() {
            self.list[i].top_guarantee = self.list[i]
                .ancestors_or_self
                .iter()
                .rev()
                .copied()
                .find(|&a| self.list[a].guarantee.is_some());
        }
    }

    /// Sets the share denominators: the cluster's total of each scalar.
    pub(super) fn set_totals(&mut self, totals: &[i64], names: &Names) {
        self.totals = totals
            .iter()
            .enumerate()
            .map(|(i, t)| {
                if names.is_scalar(i) && *t > 0 {
                    *t as f64
                } else {
                    0.0
                }
            })
            .collect();
    }

    /// Dominant share of `q` over the cluster totals.
    pub(super) fn dominant_share(&self, q: &[i64]) -> f64 {
        q.iter()
            .zip(&self.totals)
            .filter(|(_, t)| **t > 0.0)
            .map(|(a, t)| *a as f64 / t)
            .fold(0.0, f64::max)
    }

    /// Records an allocation of `q` to `role`.
    pub(super) fn add_allocation(&mut self, role: usize, q: &[i64]) {
        qty::add(&mut self.list[role].own, q);
        for k in 0..self.list[role].ancestors_or_self.len() {
            let a = self.list[role].ancestors_or_self[k];
            qty::add(&mut self.list[a].subtree, q);
            qty::add(&mut self.list[a].consumed, q);
        }
    }

    /// Adds `q` to the consumption of `role` and its ancestors (an
    /// unallocated reservation), or removes it when `remove`.
    pub(super) fn add_consumption(&mut self, role: usize, q: &[i64], remove: bool) {
        for k in 0..self.list[role].ancestors_or_self.len() {
            let a = self.list[role].ancestors_or_self[k];
            if remove {
                qty::sub(&mut self.list[a].consumed, q);
            } else {
                qty::add(&mut self.list[a].consumed, q);
            }
        }
    }

    /// What `role` may still take of each name before it or an ancestor
    /// hits its limit; `None` = unlimited.
    pub(super) fn limit_left(&self, role: usize) -> Vec<Option<i64>> {
        let mut left: Vec<Option<i64>> = vec![None; self.totals.len()];
        for &a in &self.list[role].ancestors_or_self {
            let r = &self.list[a];
            let Some(limit) = &r.limit else { continue };
            for (i, l) in limit.iter().enumerate() {
                if let Some(l) = l {
                    let room = (l - r.consumed[i]).max(0);
                    left[i] = Some(left[i].map_or(room, |x: i64| x.min(room)));
                }
            }
        }
        left
    }

    /// Whether any ancestor-or-self of `role` has a limit.
    pub(super) fn has_limit(&self, role: usize) -> bool {
        self.list[role]
            .ancestors_or_self
            .iter()
            .any(|&a| self.list[a].limit.is_some())
    }

    /// The guarantee of `role` not yet met by its consumption (zero for
    /// names without a guarantee).
    pub(super) fn unsatisfied(&self, role: usize) -> Qty {
        let r = &self.list[role];
        match &r.guarantee {
            None => vec![0; r.consumed.len()],
            Some(g) => g
                .iter()
                .zip(&r.consumed)
                .map(|(g, c)| g.map_or(0, |g| (g - c).max(0)))
                .collect(),
        }
    }

    /// Headroom the cluster must keep unallocated for unsatisfied
    /// guarantees: the sum over top-most guaranteed roles.
    pub(super) fn required_headroom(&self) -> Qty {
        let mut out = vec![0; self.totals.len()];
        for (i, r) in self.list.iter().enumerate() {
            if r.top_guarantee == Some(i) {
                qty::add(&mut out, &self.unsatisfied(i));
            }
        }
        out
    }

    /// Roles in hierarchical DRF order: lowest weighted dominant share
    /// first, ties by name.
    pub(super) fn drf_order(&self) -> Vec<usize> {
        let mut out = Vec::with_capacity(self.list.len());
        self.expand(&self.top, None, &mut out);
        out
    }

    fn expand(&self, children: &[usize], own: Option<usize>, out: &mut Vec<usize>) {
        // (share, name, role, is the "self" leaf)
        let mut items: Vec<(f64, &str, usize, bool)> = children
            .iter()
            .map(|&c| {
                let r = &self.list[c];
                (
                    self.dominant_share(&r.subtree) / r.weight,
                    r.name.as_str(),
                    c,
                    false,
                )
            })
            .collect();
        if let Some(o) = own {
            let r = &self.list[o];
            items.push((self.dominant_share(&r.own), r.name.as_str(), o, true));
        }
        items.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(b.1)));
        for (_, _, role, is_self) in items {
            let r = &self.list[role];
            if is_self || r.children.is_empty() {
                out.push(role);
            } else {
                self.expand(&r.children, Some(role), out);
            }
        }
    }
}
