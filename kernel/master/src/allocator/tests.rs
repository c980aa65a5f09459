//! Tests of the allocator as a pure function: DRF fairness (the DRF
//! paper's example, simulated over cycles), weights, quota guarantees,
//! limits and headroom, filters, suppression, reservations, minimum
//! allocatable sizes, inactive agents and frameworks; then property tests
//! for its safety invariants.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use dcos_api::resources::Resources;
use dcos_api::v1::{AgentId, FrameworkId, ResourceQuantities, Scalar};
use proptest::prelude::*;

use super::*;

fn res(text: &str) -> Resources {
    Resources::parse(text, "*").unwrap()
}

fn agent(id: &str, text: &str) -> AgentSlot {
    AgentSlot {
        id: AgentId::new(id),
        total: res(text).into(),
        available: res(text).into(),
        active: true,
    }
}

fn framework(id: &str, roles: &[&str]) -> FrameworkSlot {
    FrameworkSlot {
        id: FrameworkId::new(id),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        suppressed_roles: BTreeSet::new(),
        allocated: BTreeMap::new(),
        filters: Vec::new(),
        min_allocatable: BTreeMap::new(),
        active: true,
    }
}

fn quantities(pairs: &[(&str, f64)]) -> ResourceQuantities {
    ResourceQuantities {
        quantities: pairs
            .iter()
            .map(|(n, v)| (n.to_string(), Scalar::new(*v)))
            .collect(),
    }
}

/// Mesos' default `--min_allocatable_resources=cpus:0.01|mem:32`.
fn mesos_min() -> Vec<ResourceQuantities> {
    vec![quantities(&[("cpus", 0.01)]), quantities(&[("mem", 32.0)])]
}

fn snapshot(agents: Vec<AgentSlot>, frameworks: Vec<FrameworkSlot>) -> Snapshot {
    Snapshot {
        now: Instant::now(),
        agents,
        frameworks,
        roles: BTreeMap::new(),
        min_allocatable: mesos_min(),
    }
}

fn role(weight: f64, guarantee: &[(&str, f64)], limit: &[(&str, f64)]) -> RoleConfig {
    let map = |p: &[(&str, f64)]| p.iter().map(|(n, v)| (n.to_string(), *v)).collect();
    RoleConfig {
        weight,
        guarantee: map(guarantee),
        limit: map(limit),
    }
}

fn agents(n: usize, text: &str) -> Vec<AgentSlot> {
    (0..n).map(|i| agent(&format!("a{i:03}"), text)).collect()
}

/// Number of offers per framework.
fn offers_per_framework(allocs: &[Allocation]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for a in allocs {
        *out.entry(a.framework_id.value.clone()).or_default() += 1;
    }
    out
}

/// Sum of a scalar per framework.
fn scalar_per_framework(allocs: &[Allocation], name: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for a in allocs {
        *out.entry(a.framework_id.value.clone()).or_default() +=
            a.resources.scalar(name).unwrap_or(0.0);
    }
    out
}

/// Plays the master and the frameworks for `cycles` cycles: each framework
/// launches one task of its shape from each offer that fits it and lets
/// the rest go back (declined without a filter). Returns tasks per
/// framework.
fn simulate(
    s: &mut Snapshot,
    shapes: &BTreeMap<&str, Resources>,
    cycles: usize,
) -> BTreeMap<String, usize> {
    let mut tasks = BTreeMap::new();
    for _ in 0..cycles {
        let allocs = allocate(s);
        for a in allocs {
            let shape = &shapes[a.framework_id.as_str()];
            if !a.resources.unallocate().contains(shape) {
                continue;
            }
            let agent = s.agents.iter_mut().find(|x| x.id == a.agent_id).unwrap();
            agent.available = agent.available.checked_sub(shape).unwrap().into();
            let fw = s
                .frameworks
                .iter_mut()
                .find(|f| f.id == a.framework_id)
                .unwrap();
            *fw.allocated.entry(a.role.clone()).or_default() += &shape.allocate(&a.role);
            *tasks.entry(a.framework_id.value.clone()).or_default() += 1;
        }
        s.now += Duration::from_secs(1);
    }
    tasks
}

#[test]
fn drf_paper_example_converges_to_equal_dominant_shares() {
    // Ghodsi et al.: 9 CPUs, 18 GB; A runs <1 CPU, 4 GB> tasks, B runs
    // <3 CPUs, 1 GB> tasks. DRF gives A three tasks and B two: both end
    // with a dominant share of 2/3.
    let mut s = snapshot(
        vec![agent("big", "cpus:9;mem:18432")],
        vec![framework("A", &["a"]), framework("B", &["b"])],
    );
    let shapes = BTreeMap::from([("A", res("cpus:1;mem:4096")), ("B", res("cpus:3;mem:1024"))]);
    let tasks = simulate(&mut s, &shapes, 20);
    assert_eq!(tasks.get("A"), Some(&3), "{tasks:?}");
    assert_eq!(tasks.get("B"), Some(&2), "{tasks:?}");

    // The same split when the frameworks share one role (DRF among the
    // frameworks of a role).
    let mut s = snapshot(
        vec![agent("big", "cpus:9;mem:18432")],
        vec![framework("A", &["r"]), framework("B", &["r"])],
    );
    let tasks = simulate(&mut s, &shapes, 20);
    assert_eq!((tasks["A"], tasks["B"]), (3, 2), "{tasks:?}");
}

#[test]
fn drf_over_many_agents_spreads_each_cycle() {
    let s = snapshot(
        agents(10, "cpus:2;mem:2048"),
        vec![framework("A", &["a"]), framework("B", &["b"])],
    );
    let allocs = allocate(&s);
    assert_eq!(
        offers_per_framework(&allocs),
        BTreeMap::from([("A".into(), 5), ("B".into(), 5)])
    );
    for a in &allocs {
        assert!(
            a.resources
                .iter()
                .all(|r| r.allocation_role() == Some("a") || r.allocation_role() == Some("b")),
            "allocation_info.role is set"
        );
        assert_eq!(a.resources.allocated_to(&a.role), *a.resources);
        let agent = s.agents.iter().find(|x| x.id == a.agent_id).unwrap();
        assert_eq!(
            a.resources,
            Arc::new(agent.available.allocate(&a.role)),
            "whole agent"
        );
    }
}

#[test]
fn weight_two_gets_twice_the_share() {
    let mut s = snapshot(
        agents(30, "cpus:1;mem:1024"),
        vec![framework("A", &["heavy"]), framework("B", &["light"])],
    );
    s.roles.insert("heavy".into(), role(2.0, &[], &[]));
    let got = offers_per_framework(&allocate(&s));
    assert_eq!(got["A"], 20, "{got:?}");
    assert_eq!(got["B"], 10, "{got:?}");
}

#[test]
fn hierarchical_roles_count_towards_their_parent() {
    // eng/web already holds 3 cpus, so eng as a whole is ahead of ops:
    // ops is served first even though eng/api has nothing yet.
    let mut web = framework("W", &["eng/web"]);
    web.allocated
        .insert("eng/web".into(), res("cpus:3;mem:1536").allocate("eng/web"));
    web.active = false;
    let mut s = snapshot(
        agents(3, "cpus:1;mem:512"),
        vec![
            framework("API", &["eng/api"]),
            framework("OPS", &["ops"]),
            web,
        ],
    );
    s.agents.push(AgentSlot {
        available: Resources::new().into(),
        ..agent("busy", "cpus:3;mem:1536")
    });
    let got = offers_per_framework(&allocate(&s));
    assert_eq!(got.get("OPS"), Some(&3), "{got:?}");
    assert_eq!(got.get("API"), None, "{got:?}");
}

#[test]
fn quota_guarantee_is_served_before_fair_share() {
    // q already holds 2 cpus (more than o), so plain DRF would serve o
    // first; its guarantee of 5 cpus puts it first for 3 more.
    let mut q = framework("Q", &["q"]);
    q.allocated
        .insert("q".into(), res("cpus:2;mem:64").allocate("q"));
    let mut s = snapshot(agents(4, "cpus:1;mem:256"), vec![q, framework("O", &["o"])]);
    s.agents.push(AgentSlot {
        available: Resources::new().into(),
        ..agent("busy", "cpus:2;mem:64")
    });
    s.roles.insert("q".into(), role(1.0, &[("cpus", 5.0)], &[]));
    let got = offers_per_framework(&allocate(&s));
    assert_eq!(got["Q"], 3, "{got:?}");
    assert_eq!(got["O"], 1, "{got:?}");
}

#[test]
fn quota_guarantee_chops_an_agent_to_what_is_missing() {
    let mut s = snapshot(
        vec![agent("big", "cpus:8;mem:8192")],
        vec![framework("Q", &["q"]), framework("O", &["o"])],
    );
    s.roles.insert("q".into(), role(1.0, &[("cpus", 2.0)], &[]));
    let allocs = allocate(&s);
    let cpus = scalar_per_framework(&allocs, "cpus");
    assert_eq!(cpus["Q"], 2.0, "{allocs:?}");
    // Mesos hands the guaranteed role the resources it has no quota for
    // (here all the memory) when headroom allows; O gets the rest.
    assert_eq!(scalar_per_framework(&allocs, "mem")["Q"], 8192.0);
    assert_eq!(cpus["O"], 6.0);
}

#[test]
fn quota_limit_is_never_exceeded() {
    let mut s = snapshot(
        agents(4, "cpus:1;mem:100"),
        vec![framework("L", &["l"]), framework("O", &["o"])],
    );
    s.roles
        .insert("l".into(), role(10.0, &[], &[("cpus", 2.5)]));
    let allocs = allocate(&s);
    let cpus = scalar_per_framework(&allocs, "cpus");
    assert_eq!(cpus["L"], 2.5, "{allocs:?}");
    assert_eq!(cpus["O"], 1.5, "{allocs:?}");

    // Already at the limit: no more cpus (memory, which has no limit,
    // is still offered, as in Mesos).
    s.frameworks[0]
        .allocated
        .insert("l".into(), res("cpus:2.5").allocate("l"));
    let allocs = allocate(&s);
    assert_eq!(scalar_per_framework(&allocs, "cpus").get("L"), Some(&0.0));
    assert!(scalar_per_framework(&allocs, "mem")["L"] > 0.0);

    // A parent's limit binds its children.
    let mut s = snapshot(agents(4, "cpus:1;mem:100"), vec![framework("C", &["p/c"])]);
    s.roles.insert("p".into(), role(1.0, &[], &[("cpus", 1.0)]));
    let allocs = allocate(&s);
    assert_eq!(scalar_per_framework(&allocs, "cpus")["C"], 1.0);
}

#[test]
fn headroom_is_held_back_for_unsatisfied_guarantees() {
    // q has a 4-cpu guarantee but no framework to use it yet: b may take
    // only what leaves 4 cpus unallocated.
    let mut s = snapshot(agents(10, "cpus:1;mem:1024"), vec![framework("B", &["b"])]);
    s.roles.insert("q".into(), role(1.0, &[("cpus", 4.0)], &[]));
    assert_eq!(offers_per_framework(&allocate(&s))["B"], 6);

    // The same when q's framework suppresses offers.
    let mut q = framework("Q", &["q"]);
    q.suppressed_roles.insert("q".into());
    s.frameworks.push(q);
    assert_eq!(offers_per_framework(&allocate(&s))["B"], 6);

    // Reservations count towards the guarantee: with 4 cpus reserved for
    // q, nothing else needs holding back.
    s.agents.push(agent("reserved", "cpus(q):4"));
    assert_eq!(offers_per_framework(&allocate(&s))["B"], 10);
}

#[test]
fn filters_hold_until_they_expire() {
    let mut s = snapshot(agents(2, "cpus:1;mem:1024"), vec![framework("A", &["a"])]);
    let refused = s.agents[0].available.allocate("a");
    s.frameworks[0].filters.push(OfferFilter {
        agent_id: AgentId::new("a000"),
        resources: refused.clone(),
        until: s.now + Duration::from_secs(5),
    });
    let allocs = allocate(&s);
    assert_eq!(allocs.len(), 1);
    assert_eq!(allocs[0].agent_id.as_str(), "a001");

    // Another framework gets the filtered agent.
    s.frameworks.push(framework("B", &["b"]));
    let allocs = allocate(&s);
    let on_a0: Vec<_> = allocs
        .iter()
        .filter(|a| a.agent_id.as_str() == "a000")
        .map(|a| a.framework_id.as_str())
        .collect();
    assert_eq!(on_a0, vec!["B"]);
    s.frameworks.pop();

    // More than was refused is offered again (the agent freed resources).
    s.agents[0].available = res("cpus:2;mem:1024").into();
    s.agents[0].total = res("cpus:2;mem:1024").into();
    assert_eq!(allocate(&s).len(), 2);
    s.agents[0].available = res("cpus:1;mem:1024").into();

    // Expired.
    s.now += Duration::from_secs(5);
    assert_eq!(allocate(&s).len(), 2);
}

#[test]
fn suppressed_roles_get_nothing() {
    let mut a = framework("A", &["x", "y"]);
    a.suppressed_roles.insert("x".into());
    let s = snapshot(agents(4, "cpus:1;mem:128"), vec![a]);
    let allocs = allocate(&s);
    assert_eq!(allocs.len(), 4);
    assert!(allocs.iter().all(|a| a.role == "y"));
}

#[test]
fn reservations_go_only_to_their_role_and_its_children() {
    let mut a = framework("A", &["r1"]);
    a.allocated
        .insert("r1".into(), res("cpus:1").allocate("r1"));
    let s = snapshot(
        vec![agent("mixed", "cpus(r1):2;cpus:2;mem:1024")],
        vec![a, framework("B", &["r2"])],
    );
    let allocs = allocate(&s);
    assert_eq!(allocs.len(), 2, "{allocs:?}");
    for alloc in &allocs {
        let reserved = alloc.resources.reserved(None);
        match alloc.framework_id.as_str() {
            "A" => assert_eq!(reserved.unallocate(), res("cpus(r1):2")),
            _ => {
                assert!(reserved.is_empty());
                assert_eq!(alloc.resources.unallocate(), res("cpus:2;mem:1024"));
            }
        }
    }

    // Reserved for eng: offered to eng/web, allocated to eng/web.
    let s = snapshot(
        vec![agent("eng", "cpus(eng):2;mem(eng):512")],
        vec![framework("W", &["eng/web"]), framework("O", &["other"])],
    );
    let allocs = allocate(&s);
    assert_eq!(allocs.len(), 1);
    assert_eq!(allocs[0].framework_id.as_str(), "W");
    assert_eq!(allocs[0].role, "eng/web");
    assert_eq!(
        allocs[0].resources,
        Arc::new(res("cpus(eng):2;mem(eng):512").allocate("eng/web"))
    );
}

#[test]
fn minimum_allocatable_sizes() {
    // 16 MB and no cpus is below cpus:0.01|mem:32.
    let mut s = snapshot(vec![agent("tiny", "mem:16")], vec![framework("A", &["a"])]);
    assert!(allocate(&s).is_empty());
    // The framework's own (empty) minimum for the role overrides it.
    s.frameworks[0].min_allocatable.insert("a".into(), vec![]);
    assert_eq!(allocate(&s).len(), 1);
    // So does an empty cluster-wide list.
    s.frameworks[0].min_allocatable.clear();
    s.min_allocatable.clear();
    assert_eq!(allocate(&s).len(), 1);

    // A framework wanting 2 cpus at least is skipped; the agent goes to
    // the next one in DRF order.
    let mut big = framework("A", &["a"]);
    big.min_allocatable
        .insert("a".into(), vec![quantities(&[("cpus", 2.0)])]);
    let s = snapshot(
        vec![agent("small", "cpus:1;mem:1024")],
        vec![big, framework("B", &["b"])],
    );
    let allocs = allocate(&s);
    assert_eq!(allocs.len(), 1);
    assert_eq!(allocs[0].framework_id.as_str(), "B");
}

#[test]
fn inactive_agents_and_frameworks_get_nothing() {
    let mut s = snapshot(
        agents(2, "cpus:1;mem:128"),
        vec![framework("A", &["a"]), framework("B", &["b"])],
    );
    s.agents[0].active = false;
    s.frameworks[0].active = false;
    let allocs = allocate(&s);
    assert_eq!(allocs.len(), 1);
    assert_eq!(allocs[0].agent_id.as_str(), "a001");
    assert_eq!(allocs[0].framework_id.as_str(), "B");
}

#[test]
fn output_is_deterministic_and_independent_of_input_order() {
    let mut s = snapshot(
        agents(50, "cpus:2;mem:2048;ports:[31000-31100]"),
        vec![
            framework("A", &["a"]),
            framework("B", &["a"]),
            framework("C", &["b"]),
        ],
    );
    s.roles
        .insert("b".into(), role(2.0, &[("cpus", 10.0)], &[]));
    let first = format!("{:?}", allocate(&s));
    assert_eq!(first, format!("{:?}", allocate(&s)));
    s.agents.reverse();
    s.frameworks.reverse();
    assert_eq!(first, format!("{:?}", allocate(&s)));
}

// ---- property tests ------------------------------------------------------

const ROLES: [&str; 4] = ["a", "b", "c", "a/x"];

/// Half cpus, mem, reservation (role, half cpus), ports, active.
type AgentGen = (u32, u32, Option<(usize, u32)>, bool, bool);

fn arb_agent() -> impl Strategy<Value = AgentGen> {
    (
        0u32..16,                                   // half cpus
        0u32..4096,                                 // mem
        proptest::option::of((0usize..4, 1u32..8)), // reserved (role, half cpus)
        any::<bool>(),                              // ports
        proptest::bool::weighted(0.9),              // active
    )
}

#[derive(Debug, Clone)]
struct FwGen {
    roles: Vec<usize>,
    suppressed: Vec<usize>,
    allocated: Vec<(usize, u32)>,
    filters: Vec<(usize, bool, i64)>,
    active: bool,
    min_override: Option<u32>,
}

fn arb_framework() -> impl Strategy<Value = FwGen> {
    (
        proptest::collection::vec(0usize..4, 1..3),
        proptest::collection::vec(0usize..4, 0..2),
        proptest::collection::vec((0usize..4, 0u32..8), 0..3),
        proptest::collection::vec((0usize..12, any::<bool>(), -3i64..3), 0..4),
        proptest::bool::weighted(0.9),
        proptest::option::of(0u32..4),
    )
        .prop_map(
            |(roles, suppressed, allocated, filters, active, min_override)| FwGen {
                roles,
                suppressed,
                allocated,
                filters,
                active,
                min_override,
            },
        )
}

type RoleGen = (u32, Option<u32>, Option<u32>);

fn arb_snapshot() -> impl Strategy<Value = Snapshot> {
    (
        proptest::collection::vec(arb_agent(), 1..12),
        proptest::collection::vec(arb_framework(), 1..5),
        proptest::collection::vec(
            (
                1u32..4,
                proptest::option::of(0u32..12),
                proptest::option::of(0u32..12),
            ),
            4,
        ),
        any::<bool>(),
    )
        .prop_map(|(agent_gens, fw_gens, role_gens, mesos_default)| {
            build(agent_gens, fw_gens, role_gens, mesos_default)
        })
}

fn build(
    agent_gens: Vec<AgentGen>,
    fw_gens: Vec<FwGen>,
    role_gens: Vec<RoleGen>,
    mesos_default: bool,
) -> Snapshot {
    let now = Instant::now() + Duration::from_secs(10);
    let agents: Vec<AgentSlot> = agent_gens
        .into_iter()
        .enumerate()
        .map(|(i, (cpus, mem, reserved, ports, active))| {
            let mut text = format!("cpus:{};mem:{mem}", f64::from(cpus) / 2.0);
            if let Some((role, half)) = reserved {
                text += &format!(";cpus({}):{}", ROLES[role], f64::from(half) / 2.0);
            }
            if ports {
                text += ";ports:[31000-31009]";
            }
            AgentSlot {
                active,
                ..agent(&format!("ag{i}"), &text)
            }
        })
        .collect();
    let frameworks = fw_gens
        .into_iter()
        .enumerate()
        .map(|(i, g)| {
            let mut f = framework(&format!("fw{i}"), &[]);
            f.roles = g.roles.iter().map(|r| ROLES[*r].to_string()).collect();
            f.suppressed_roles = g.suppressed.iter().map(|r| ROLES[*r].to_string()).collect();
            for (r, cpus) in g.allocated {
                let name = ROLES[r];
                *f.allocated.entry(name.to_string()).or_default() +=
                    &res(&format!("cpus:{cpus};mem:100")).allocate(name);
            }
            for (a, whole, secs) in g.filters {
                let Some(target) = agents.get(a) else {
                    continue;
                };
                let resources = if whole {
                    (*target.available).clone()
                } else {
                    target.available.filter(|r| r.name == "cpus")
                };
                let until = if secs >= 0 {
                    now + Duration::from_secs(secs as u64)
                } else {
                    now - Duration::from_secs((-secs) as u64)
                };
                f.filters.push(OfferFilter {
                    agent_id: target.id.clone(),
                    resources,
                    until,
                });
            }
            f.active = g.active;
            if let Some(m) = g.min_override {
                for r in &f.roles {
                    f.min_allocatable
                        .insert(r.clone(), vec![quantities(&[("cpus", f64::from(m))])]);
                }
            }
            f
        })
        .collect();
    let roles = ROLES
        .iter()
        .zip(role_gens)
        .map(|(name, (weight, guarantee, limit))| {
            let g: Vec<(&str, f64)> = guarantee
                .map(|g| ("cpus", f64::from(g)))
                .into_iter()
                .collect();
            let l: Vec<(&str, f64)> = limit.map(|l| ("cpus", f64::from(l))).into_iter().collect();
            (name.to_string(), role(f64::from(weight), &g, &l))
        })
        .collect();
    Snapshot {
        now,
        agents,
        frameworks,
        roles,
        min_allocatable: if mesos_default {
            mesos_min()
        } else {
            Vec::new()
        },
    }
}

/// Whether `role` is `ancestor` or below it.
fn within(role: &str, ancestor: &str) -> bool {
    role == ancestor || role.starts_with(&format!("{ancestor}/"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn never_more_than_available_nor_twice(s in arb_snapshot()) {
        let allocs = allocate(&s);
        for agent in &s.agents {
            let mine: Vec<&Allocation> =
                allocs.iter().filter(|a| a.agent_id == agent.id).collect();
            prop_assert!(agent.active || mine.is_empty());
            let mut sum = Resources::new();
            let mut counted: BTreeMap<String, f64> = BTreeMap::new();
            for a in &mine {
                prop_assert_eq!(&a.resources.allocated_to(&a.role), &*a.resources);
                let plain = a.resources.unallocate();
                prop_assert!(agent.available.contains(&plain));
                for (k, v) in plain.quantities() {
                    *counted.entry(k).or_default() += v;
                }
                sum += &plain;
            }
            prop_assert!(agent.available.contains(&sum));
            let have = agent.available.quantities();
            for (k, v) in counted {
                prop_assert!(v <= have.get(&k).copied().unwrap_or(0.0) + 1e-9, "{} twice", k);
            }
            // At most one offer per framework and role from an agent.
            let keys: BTreeSet<_> = mine.iter().map(|a| (&a.framework_id, &a.role)).collect();
            prop_assert_eq!(keys.len(), mine.len());
        }
        for a in &allocs {
            let f = s.frameworks.iter().find(|f| f.id == a.framework_id).unwrap();
            prop_assert!(f.active);
            prop_assert!(f.roles.contains(&a.role));
            prop_assert!(!f.suppressed_roles.contains(&a.role));
        }
    }

    #[test]
    fn never_exceeds_a_quota_limit(s in arb_snapshot()) {
        let allocs = allocate(&s);
        for (name, config) in &s.roles {
            let Some(limit) = config.limit.get("cpus") else { continue };
            // Consumption before: allocations plus unallocated reservations.
            let mut before = 0.0;
            for f in &s.frameworks {
                for (r, held) in &f.allocated {
                    if within(r, name) {
                        before += held.cpus().unwrap_or(0.0);
                    }
                }
            }
            for a in &s.agents {
                for r in a.available.reserved(None).iter() {
                    if within(r.reservation_role(), name) {
                        before += r.scalar.map_or(0.0, |x| x.value);
                    }
                }
            }
            let added: f64 = allocs
                .iter()
                .filter(|a| within(&a.role, name))
                .map(|a| a.resources.unreserved().cpus().unwrap_or(0.0))
                .sum();
            prop_assert!(
                added <= (limit - before).max(0.0) + 1e-6,
                "role {} limit {} before {} added {}", name, limit, before, added
            );
        }
    }

    #[test]
    fn deterministic_whatever_the_input_order(s in arb_snapshot()) {
        let first = format!("{:?}", allocate(&s));
        prop_assert_eq!(&first, &format!("{:?}", allocate(&s)));
        let mut reversed = s.clone();
        reversed.agents.reverse();
        reversed.frameworks.reverse();
        prop_assert_eq!(&first, &format!("{:?}", allocate(&reversed)));
    }
}
