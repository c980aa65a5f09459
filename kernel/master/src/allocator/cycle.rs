//! One allocation cycle over a [`Snapshot`], in Mesos' two stages:
//!
//! 1. **Guarantees.** For each agent, roles with an unsatisfied quota
//!    guarantee (in DRF order) get the agent's reservations for them plus
//!    unreserved resources chopped to what their guarantee still lacks
//!    (and within their limit); unreserved scalars they have no guarantee
//!    for come along only if the headroom for others' guarantees allows.
//! 2. **Fair share.** For each agent, every role in hierarchical DRF order,
//!    every framework of the role in DRF order, gets the agent's
//!    reservations for the role and what is left unreserved, chopped to the
//!    role's quota limit; unreserved resources are held back when taking
//!    them would leave less unallocated than the unsatisfied guarantees of
//!    other roles need.
//!
//! Shares are updated after every allocation, so the next agent goes to
//! whoever is lowest now. Offers that match an unexpired filter or are
//! smaller than the minimum allocatable size are skipped, and the agent
//! goes to the next framework in order. Agents are visited in an order
//! shuffled by a seed derived from the snapshot: fair across cycles,
//! deterministic for one snapshot, independent of the input's order.
//!
//! Owns the per-cycle working state (agents' leftovers, frameworks' shares,
//! headroom); role arithmetic is in `roles`, quantity vectors in `qty`.

use std::borrow::Cow;
use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use dcos_api::resources::{from_fixed_point, Resources};
use dcos_api::v1::{AgentId, DiskSourceType, Resource, Scalar, ValueType};

use super::qty::{self, Names, Qty};
use super::roles::Roles;
use super::{AgentSlot, Allocation, Snapshot};

/// Runs one cycle.
pub(super) fn run(snapshot: &Snapshot) -> Vec<Allocation> {
    let mut cycle = Cycle::build(snapshot);
    cycle.guarantee_stage();
    cycle.fair_stage();
    cycle.out
}

/// An active agent's resources not yet given out in this cycle.
struct AgentWork<'a> {
    slot: &'a AgentSlot,
    /// Borrowed from the snapshot until partly given out (most agents are
    /// given out whole, and `Resource` is large: cloning costs).
    unreserved: Cow<'a, Resources>,
    /// `unreserved.is_empty()`, kept here because this is checked for
    /// every agent and role, and `unreserved` points into the snapshot,
    /// which is cold in cache by the time an agent is visited.
    no_unreserved: bool,
    unreserved_q: Qty,
    reserved: Vec<Reserved>,
    /// Whether some framework has an unexpired filter for this agent (most
    /// agents have none: the filter maps are then not hashed into).
    filtered: bool,
    /// The latest offer made from this agent in this cycle (index in
    /// `Cycle::out`); earlier ones are linked through `Cycle::out_links`.
    last_offer: Option<usize>,
    /// Index in `Cycle::shapes` while `unreserved` is borrowed (untouched).
    shape: Option<usize>,
}

/// Free resources that several agents have in common (same machine type,
/// untouched). Offers of a shape are cloned from one allocated copy per
/// role: cloning a copy that is hot in cache is much cheaper than
/// `Resources::allocate` on each agent's own (cold) resources.
struct Shape<'a> {
    resources: &'a Resources,
    q: Qty,
    /// How many agents have it; a shape of one is not worth a copy.
    agents: usize,
    /// Allocated copies by role, shared by the offers made from them.
    allocated: Vec<(usize, Arc<Resources>)>,
}

/// An agent's unallocated resources reserved for one role.
struct Reserved {
    role: usize,
    resources: Resources,
    q: Qty,
}

impl AgentWork<'_> {
    fn is_empty(&self) -> bool {
        self.no_unreserved && self.reserved.iter().all(|g| g.resources.is_empty())
    }
}

/// A framework subscribed to (and not suppressing) a role.
struct Member {
    fw: usize,
    /// What the framework holds in this role.
    alloc: Qty,
    /// Minimum allocatable sets for this framework in this role.
    min: Vec<Vec<(usize, i64)>>,
}

/// How much of an agent's unreserved resources an offer takes.
enum Take {
    Nothing,
    All,
    Part(Resources),
}

/// Which stage is asking.
#[derive(Clone, Copy, PartialEq)]
enum Stage {
    Guarantee,
    Fair,
}

struct Cycle<'a> {
    snapshot: &'a Snapshot,
    names: Names,
    roles: Roles,
    /// Per role: its members.
    members: Vec<Vec<Member>>,
    /// Per role: member indices in DRF order, `None` when stale.
    member_order: Vec<Option<Vec<usize>>>,
    /// Role DRF order, `None` when stale.
    role_order: Option<Vec<usize>>,
    /// Per framework: unexpired filters by agent, resources unallocated.
    filters: Vec<HashMap<&'a AgentId, Vec<Resources>>>,
    /// Active agents in visiting order.
    agents: Vec<AgentWork<'a>>,
    /// Unreserved, unallocated resources on active agents.
    headroom: Qty,
    /// What unsatisfied guarantees still need.
    required: Qty,
    any_guarantee: bool,
    out: Vec<Allocation>,
    /// Per offer in `out`: its framework and role, and the agent's
    /// previous offer, so a second grant to the same framework and role on
    /// an agent is merged into the first.
    out_links: Vec<(usize, usize, Option<usize>)>,
    shapes: Vec<Shape<'a>>,
}

impl<'a> Cycle<'a> {
    fn build(s: &'a Snapshot) -> Self {
        let mut names = Names::default();
        for a in &s.agents {
            names.intern_all(&a.total);
            names.intern_all(&a.available);
        }
        for f in &s.frameworks {
            for r in f.allocated.values() {
                names.intern_all(r);
            }
            for set in f.min_allocatable.values().flatten() {
                for name in set.quantities.keys() {
                    names.intern(name, None);
                }
            }
        }
        for c in s.roles.values() {
            for name in c.guarantee.keys().chain(c.limit.keys()) {
                names.intern(name, Some(ValueType::Scalar));
            }
        }
        for set in &s.min_allocatable {
            for name in set.quantities.keys() {
                names.intern(name, None);
            }
        }

        let mut roles = Roles::default();
        for name in s.roles.keys() {
            roles.intern(name, &names);
        }
        for f in &s.frameworks {
            for name in f.roles.iter().chain(f.allocated.keys()) {
                roles.intern(name, &names);
            }
        }
        roles.configure(&s.roles, &names);

        // Filters, before agents so each agent knows whether it has any.
        let filters: Vec<HashMap<&AgentId, Vec<Resources>>> = s
            .frameworks
            .iter()
            .map(|f| {
                let mut by_agent: HashMap<&AgentId, Vec<Resources>> = HashMap::new();
                for filter in f.filters.iter().filter(|x| x.until > s.now) {
                    by_agent
                        .entry(&filter.agent_id)
                        .or_default()
                        .push(filter.resources.unallocate());
                }
                by_agent
            })
            .collect();
        let filtered: HashSet<&AgentId> = filters.iter().flat_map(HashMap::keys).copied().collect();

        // Agents: totals, reservations (quota consumption), headroom.
        let mut totals = names.zero();
        let mut headroom = names.zero();
        let mut agents = Vec::with_capacity(s.agents.len());
        let mut shapes: Vec<Shape<'a>> = Vec::new();
        // Shapes to compare the next agent with, most recent first.
        let mut recent: Vec<usize> = Vec::with_capacity(RECENT_SHAPES + 1);
        for a in &s.agents {
            names.add_qty(&mut totals, &a.total);
            let mut reserved: Vec<Reserved> = Vec::new();
            let unreserved = if a.available.iter().any(|r| r.is_reserved()) {
                for r in a.available.iter().filter(|r| r.is_reserved()) {
                    let name = r.reservation_role();
                    let role = roles.intern(name, &names);
                    if reserved.iter().all(|g| g.role != role) {
                        let resources = a
                            .available
                            .filter(|x| x.is_reserved() && x.reservation_role() == name);
                        let q = names.qty(&resources);
                        roles.add_consumption(role, &q, false);
                        reserved.push(Reserved { role, resources, q });
                    }
                }
                Cow::Owned(a.available.unreserved())
            } else {
                Cow::Borrowed(&*a.available)
            };
            if !a.active {
                continue;
            }
            let shape = match unreserved {
                Cow::Borrowed(free) => Some(
                    match recent
                        .iter()
                        .copied()
                        .find(|&k| same_entries(shapes[k].resources, free))
                    {
                        Some(k) => {
                            shapes[k].agents += 1;
                            k
                        }
                        None => {
                            shapes.push(Shape {
                                resources: free,
                                q: names.qty(free),
                                agents: 1,
                                allocated: Vec::new(),
                            });
                            recent.insert(0, shapes.len() - 1);
                            recent.truncate(RECENT_SHAPES);
                            shapes.len() - 1
                        }
                    },
                ),
                Cow::Owned(_) => None,
            };
            let unreserved_q = match shape {
                Some(k) => shapes[k].q.clone(),
                None => names.qty(&unreserved),
            };
            qty::add(&mut headroom, &unreserved_q);
            agents.push(AgentWork {
                slot: a,
                no_unreserved: unreserved.is_empty(),
                unreserved,
                unreserved_q,
                reserved,
                filtered: !filtered.is_empty() && filtered.contains(&a.id),
                last_offer: None,
                shape,
            });
        }
        roles.set_totals(&totals, &names);
        // Reservation roles interned above got default config; apply again
        // so a configured role first seen as a reservation is covered.
        roles.configure(&s.roles, &names);

        // Frameworks: allocations (shares, consumption), memberships.
        let mut members: Vec<Vec<Member>> = Vec::new();
        members.resize_with(roles.list.len(), Vec::new);
        let default_min = names.min_sets(&s.min_allocatable);
        for (fw, f) in s.frameworks.iter().enumerate() {
            for (name, res) in &f.allocated {
                let role = roles.get(name).expect("interned above");
                roles.add_allocation(role, &names.qty(res));
            }
            if !f.active {
                continue;
            }
            for name in &f.roles {
                let role = roles.get(name).expect("interned above");
                if f.suppressed_roles.contains(name) || members[role].iter().any(|m| m.fw == fw) {
                    continue;
                }
                members[role].push(Member {
                    fw,
                    alloc: f
                        .allocated
                        .get(name)
                        .map_or_else(|| names.zero(), |r| names.qty(r)),
                    min: f
                        .min_allocatable
                        .get(name)
                        .map_or_else(|| default_min.clone(), |sets| names.min_sets(sets)),
                });
            }
        }

        order_agents(s, &mut agents);
        let agents_len = agents.len();
        let any_guarantee = roles.list.iter().any(|r| r.guarantee.is_some());
        let required = roles.required_headroom();
        let member_order = vec![None; roles.list.len()];
        Cycle {
            snapshot: s,
            names,
            roles,
            members,
            member_order,
            role_order: None,
            filters,
            agents,
            headroom,
            required,
            any_guarantee,
            out: Vec::with_capacity(agents_len),
            out_links: Vec::with_capacity(agents_len),
            shapes,
        }
    }

    /// Stage 1: roles below their guarantee first.
    fn guarantee_stage(&mut self) {
        let wanting = |c: &Self, r: usize| {
            c.roles.list[r].guarantee.is_some()
                && !c.members[r].is_empty()
                && !qty::is_zero(&c.roles.unsatisfied(r))
        };
        if !(0..self.roles.list.len()).any(|r| wanting(self, r)) {
            return;
        }
        for a in 0..self.agents.len() {
            if self.agents[a].is_empty() {
                continue;
            }
            let order = self.role_order();
            'roles: for r in order {
                if !wanting(self, r) || !self.allocatable_here(a, r) {
                    continue;
                }
                for m in self.member_order(r) {
                    if self.try_allocate(a, r, m, Stage::Guarantee) {
                        if self.agents[a].is_empty() {
                            break 'roles;
                        }
                        if qty::is_zero(&self.roles.unsatisfied(r)) {
                            break;
                        }
                    }
                }
            }
        }
    }

    /// Stage 2: everything left, by DRF.
    fn fair_stage(&mut self) {
        for a in 0..self.agents.len() {
            if self.agents[a].is_empty() {
                continue;
            }
            let order = self.role_order();
            'roles: for r in order {
                if self.members[r].is_empty() || !self.allocatable_here(a, r) {
                    continue;
                }
                for m in self.member_order(r) {
                    if self.try_allocate(a, r, m, Stage::Fair) && self.agents[a].is_empty() {
                        break 'roles;
                    }
                }
            }
        }
    }

    fn role_order(&mut self) -> Vec<usize> {
        if self.role_order.is_none() {
            self.role_order = Some(self.roles.drf_order());
        }
        self.role_order.clone().unwrap_or_default()
    }

    fn member_order(&mut self, role: usize) -> Vec<usize> {
        if self.member_order[role].is_none() {
            let fws = &self.snapshot.frameworks;
            let mut keyed: Vec<(f64, &str, usize)> = self.members[role]
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    (
                        self.roles.dominant_share(&m.alloc),
                        fws[m.fw].id.as_str(),
                        i,
                    )
                })
                .collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(b.1)));
            self.member_order[role] = Some(keyed.into_iter().map(|k| k.2).collect());
        }
        self.member_order[role].clone().unwrap_or_default()
    }

    /// Whether agent `a` has anything role `r` could be offered.
    fn allocatable_here(&self, a: usize, r: usize) -> bool {
        let agent = &self.agents[a];
        let lineage = &self.roles.list[r].ancestors_or_self;
        !agent.no_unreserved
            || agent
                .reserved
                .iter()
                .any(|g| !g.resources.is_empty() && lineage.contains(&g.role))
    }

    /// Offers agent `a`'s resources to member `m` of role `r` if the stage's
    /// rules, the framework's filters and the minimum size allow; returns
    /// whether something was allocated.
    fn try_allocate(&mut self, a: usize, r: usize, m: usize, stage: Stage) -> bool {
        let agent = &self.agents[a];
        let role = &self.roles.list[r];
        let groups: Vec<usize> = (0..agent.reserved.len())
            .filter(|&g| {
                !agent.reserved[g].resources.is_empty()
                    && role.ancestors_or_self.contains(&agent.reserved[g].role)
            })
            .collect();
        let mut q_res = self.names.zero();
        for &g in &groups {
            qty::add(&mut q_res, &agent.reserved[g].q);
        }

        let (take, q_unres) = if agent.no_unreserved {
            (Take::Nothing, self.names.zero())
        } else {
            self.unreserved_share(a, r, stage, !groups.is_empty())
        };
        let mut total = q_res;
        qty::add(&mut total, &q_unres);
        if qty::is_zero(&total) {
            return false;
        }
        if !qty::allocatable(&total, &self.members[r][m].min) {
            return false;
        }
        let fw = self.members[r][m].fw;
        if let Some(filters) = agent
            .filtered
            .then(|| self.filters[fw].get(&agent.slot.id))
            .flatten()
        {
            let mut offered = Resources::new();
            for &g in &groups {
                offered += &agent.reserved[g].resources;
            }
            match &take {
                Take::Nothing => {}
                Take::All => offered += agent.unreserved.as_ref(),
                Take::Part(p) => offered += p,
            }
            if filters.iter().any(|f| f.contains(&offered)) {
                return false;
            }
        }
        self.commit(a, r, m, &groups, take, &q_unres, &total);
        true
    }

    /// What of agent `a`'s unreserved resources role `r` may take in this
    /// stage, with its quantities.
    fn unreserved_share(
        &self,
        a: usize,
        r: usize,
        stage: Stage,
        has_reservations: bool,
    ) -> (Take, Qty) {
        let agent = &self.agents[a];
        let limited = self.roles.has_limit(r);
        let nothing = || (Take::Nothing, self.names.zero());
        match stage {
            Stage::Fair => {
                let (take, q) = if limited {
                    self.shrink(agent, &self.roles.limit_left(r))
                } else {
                    (Take::All, agent.unreserved_q.clone())
                };
                if self.headroom_allows(r, &q) {
                    (take, q)
                } else {
                    nothing()
                }
            }
            Stage::Guarantee => {
                let guarantee = self.roles.list[r].guarantee.as_deref().unwrap_or(&[]);
                let unsatisfied = self.roles.unsatisfied(r);
                let limit = self.roles.limit_left(r);
                let caps = |others: bool| -> Vec<Option<i64>> {
                    (0..self.names.len())
                        .map(|i| {
                            let guaranteed = guarantee.get(i).copied().flatten().is_some();
                            if guaranteed {
                                Some(limit[i].map_or(unsatisfied[i], |l| l.min(unsatisfied[i])))
                            } else if self.names.is_scalar(i) {
                                if others {
                                    limit[i]
                                } else {
                                    Some(0)
                                }
                            } else {
                                limit[i]
                            }
                        })
                        .collect()
                };
                let progress =
                    |q: &Qty| q.iter().zip(guarantee).any(|(x, g)| g.is_some() && *x > 0);
                let (take, q) = self.shrink(agent, &caps(true));
                if !progress(&q) && !has_reservations {
                    return nothing();
                }
                if self.headroom_allows(r, &q) {
                    return (take, q);
                }
                let (take, q) = self.shrink(agent, &caps(false));
                if progress(&q) {
                    (take, q)
                } else {
                    nothing()
                }
            }
        }
    }

    /// Whether giving `q` unreserved to role `r` leaves enough unallocated
    /// for the unsatisfied guarantees. The part of `q` that fills `r`'s own
    /// (top-most) unsatisfied guarantee is neutral: it lowers the headroom
    /// and the requirement alike.
    fn headroom_allows(&self, r: usize, q: &[i64]) -> bool {
        if !self.any_guarantee {
            return true;
        }
        let own = self.roles.list[r]
            .top_guarantee
            .map(|t| self.roles.unsatisfied(t));
        q.iter().enumerate().all(|(i, &x)| {
            let fill = own.as_ref().map_or(0, |u| x.min(u[i]));
            x == fill || self.headroom[i] - x >= self.required[i] - fill
        })
    }

    /// The part of `agent`'s unreserved resources within `caps` (per
    /// name, `None` = uncapped): divisible scalars are chopped, other
    /// resources are taken whole or not at all.
    fn shrink(&self, agent: &AgentWork<'_>, caps: &[Option<i64>]) -> (Take, Qty) {
        // `unreserved_q` is the per-name sum of the entries' amounts, so
        // everything fits when each sum is within its cap; checking that
        // first spares reading the resources themselves (cold in cache).
        let fits = caps
            .iter()
            .zip(&agent.unreserved_q)
            .all(|(cap, q)| cap.is_none_or(|c| *q <= c));
        if fits {
            return (Take::All, agent.unreserved_q.clone());
        }
        let resources: &Resources = &agent.unreserved;
        let mut q = self.names.zero();
        let mut left = caps.to_vec();
        let mut part: Vec<Resource> = Vec::new();
        for res in resources {
            let i = self.names.get(&res.name).expect("interned");
            let amount = qty::amount(res);
            match left[i] {
                None => {
                    q[i] += amount;
                    part.push(res.clone());
                }
                Some(l) if amount <= l => {
                    left[i] = Some(l - amount);
                    q[i] += amount;
                    part.push(res.clone());
                }
                Some(l) => {
                    if l > 0 && divisible(res) {
                        let mut cut = res.clone();
                        cut.scalar = Some(Scalar::new(from_fixed_point(l)));
                        left[i] = Some(0);
                        q[i] += l;
                        part.push(cut);
                    }
                }
            }
        }
        if part.is_empty() {
            (Take::Nothing, q)
        } else {
            (Take::Part(Resources::from(part)), q)
        }
    }

    /// Records the allocation and updates leftovers, shares, consumption
    /// and headroom.
    #[allow(clippy::too_many_arguments)]
    fn commit(
        &mut self,
        a: usize,
        r: usize,
        m: usize,
        groups: &[usize],
        take: Take,
        q_unres: &[i64],
        total: &[i64],
    ) {
        let role_name = self.roles.list[r].name.clone();
        let agent = &mut self.agents[a];
        // The whole of the snapshot's `available`: untouched unreserved
        // resources and no reservations on the agent.
        let whole = matches!(take, Take::All)
            && matches!(agent.unreserved, Cow::Borrowed(_))
            && agent.reserved.is_empty()
            && agent.last_offer.is_none();
        let mut resources = Resources::new();
        for &g in groups {
            let group = &mut agent.reserved[g];
            let reserved = std::mem::take(&mut group.resources);
            extend(&mut resources, reserved.allocate(&role_name));
            self.roles.add_consumption(group.role, &group.q, true);
            group.q.iter_mut().for_each(|x| *x = 0);
        }
        // Set when the offer is exactly a shape's shared allocated copy.
        let mut shared_copy: Option<Arc<Resources>> = None;
        match take {
            Take::Nothing => {}
            Take::All => {
                let all = std::mem::take(&mut agent.unreserved);
                let shared = match (&all, agent.shape.take()) {
                    (Cow::Borrowed(_), Some(k)) if self.shapes[k].agents > 1 => Some(k),
                    _ => None,
                };
                match shared {
                    Some(k) => {
                        let copies = &mut self.shapes[k].allocated;
                        let copy = match copies.iter().find(|(role, _)| *role == r) {
                            Some((_, copy)) => Arc::clone(copy),
                            None => {
                                let copy = Arc::new(all.allocate(&role_name));
                                copies.push((r, Arc::clone(&copy)));
                                copy
                            }
                        };
                        if resources.is_empty() {
                            shared_copy = Some(copy);
                        } else {
                            resources += &*copy;
                        }
                    }
                    None => extend(&mut resources, all.allocate(&role_name)),
                }
                agent.unreserved_q.iter_mut().for_each(|x| *x = 0);
                agent.no_unreserved = true;
            }
            Take::Part(p) => {
                agent.shape = None;
                extend(&mut resources, p.allocate(&role_name));
                *agent.unreserved.to_mut() -= &p;
                qty::sub(&mut agent.unreserved_q, q_unres);
                agent.no_unreserved = agent.unreserved.is_empty();
            }
        }
        let resources = shared_copy.unwrap_or_else(|| Arc::new(resources));
        qty::sub(&mut self.headroom, q_unres);
        self.roles.add_allocation(r, total);
        if self.any_guarantee {
            self.required = self.roles.required_headroom();
        }
        let member = &mut self.members[r][m];
        qty::add(&mut member.alloc, total);
        self.member_order[r] = None;
        self.role_order = None;

        let fw = member.fw;
        let mut merged = None;
        let mut at = agent.last_offer;
        while let Some(i) = at {
            let (f, role, prev) = self.out_links[i];
            if f == fw && role == r {
                merged = Some(i);
                break;
            }
            at = prev;
        }
        match merged {
            Some(i) => *Arc::make_mut(&mut self.out[i].resources) += &*resources,
            None => {
                self.out_links.push((fw, r, agent.last_offer));
                agent.last_offer = Some(self.out.len());
                self.out.push(Allocation {
                    framework_id: self.snapshot.frameworks[fw].id.clone(),
                    role: role_name,
                    agent_id: agent.slot.id.clone(),
                    resources,
                    whole: whole.then(|| Arc::clone(&agent.slot.available)),
                });
            }
        }
    }
}

/// How many recently seen shapes each agent is compared with.
const RECENT_SHAPES: usize = 8;

/// Whether two collections hold the same entries in the same order,
/// comparing amounts first (where different shapes usually differ).
fn same_entries(a: &Resources, b: &Resources) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.scalar == y.scalar && x.ranges == y.ranges && x == y)
}

/// `into += more`, without re-adding when `into` is empty (the usual
/// case: one part per offer).
fn extend(into: &mut Resources, more: Resources) {
    if into.is_empty() {
        *into = more;
    } else {
        *into += &more;
    }
}

/// Whether a resource may be cut into a smaller amount (Mesos never
/// splits shared resources, persistent volumes or MOUNT/BLOCK/RAW disks).
fn divisible(r: &Resource) -> bool {
    r.kind == ValueType::Scalar
        && r.shared.is_none()
        && !r.is_persistent_volume()
        && !matches!(
            r.disk
                .as_ref()
                .and_then(|d| d.source.as_ref())
                .map(|s| s.kind),
            Some(DiskSourceType::Mount | DiskSourceType::Block | DiskSourceType::Raw)
        )
}

/// Shuffles agents by a seed derived from the snapshot (its clock and
/// size), so successive cycles start on different agents while one
/// snapshot always gives the same order, whatever the input order.
fn order_agents<'a>(s: &Snapshot, agents: &mut [AgentWork<'a>]) {
    let mut h = DefaultHasher::new();
    s.now.hash(&mut h);
    s.agents.len().hash(&mut h);
    s.frameworks.len().hash(&mut h);
    let seed = h.finish();
    agents.sort_by_cached_key(|a| {
        let slot: &'a AgentSlot = a.slot;
        let mut h = DefaultHasher::new();
        seed.hash(&mut h);
        slot.id.hash(&mut h);
        (h.finish(), slot.id.as_str())
    });
}
