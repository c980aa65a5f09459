//! Benchmark of one allocation cycle: 10,000 agents, 10 frameworks in 3
//! roles (one with a quota guarantee and limit, one weighted), half the
//! agents partly used, some reservations and filters. Prints p50/p99 of
//! `allocate` over 50 runs, in wall-clock time and (on Linux) in CPU time
//! of the calling thread, which other load on the machine does not inflate.
//!
//! `cargo run --release -p dcos-master --example allocator_cycle`

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use dcos_api::resources::Resources;
use dcos_api::v1::{AgentId, FrameworkId, Resource, ResourceQuantities, Scalar};
use dcos_master::allocator::{
    allocate, AgentSlot, FrameworkSlot, OfferFilter, RoleConfig, Snapshot,
};

/// The `dcos` binary's allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const AGENTS: usize = 10_000;
const RUNS: usize = 50;

fn main() {
    let mut snapshot = build();
    let mut times = Vec::with_capacity(RUNS);
    let mut cpu = Vec::with_capacity(RUNS);
    let mut offers = 0;
    for _ in 0..RUNS {
        let cpu_start = thread_cpu();
        let start = Instant::now();
        let allocs = allocate(&snapshot);
        times.push(start.elapsed());
        if let (Some(a), Some(b)) = (cpu_start, thread_cpu()) {
            cpu.push(b.saturating_sub(a));
        }
        offers = allocs.len();
        // Vary the seed as the master's clock would.
        snapshot.now += Duration::from_millis(5);
    }
    println!(
        "allocate: {AGENTS} agents, {} frameworks, {} roles, {offers} offers per cycle \
         (Resource is {} bytes)",
        snapshot.frameworks.len(),
        3,
        std::mem::size_of::<Resource>()
    );
    report("wall", &mut times);
    if !cpu.is_empty() {
        report("cpu ", &mut cpu);
    }
}

fn report(what: &str, times: &mut [Duration]) {
    times.sort();
    let pct = |p: f64| times[((times.len() as f64 * p).ceil() as usize).min(times.len()) - 1];
    println!(
        "{what}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} runs)",
        ms(pct(0.50)),
        ms(pct(0.99)),
        ms(times[times.len() - 1]),
        times.len()
    );
}

/// CPU time of this thread so far (Linux: `/proc/thread-self/schedstat`,
/// whose first field is nanoseconds on a CPU).
fn thread_cpu() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn res(text: &str) -> Resources {
    Resources::parse(text, "*").unwrap()
}

fn build() -> Snapshot {
    let now = Instant::now() + Duration::from_secs(3600);
    let total = res("cpus:16;mem:65536;disk:100000;ports:[31000-32000]");
    let used = res("cpus:6;mem:20000;ports:[31000-31010]");
    let reserved = res("cpus(analytics):4;mem(analytics):8192");
    let agents: Vec<AgentSlot> = (0..AGENTS)
        .map(|i| {
            let total = if i % 10 == 0 {
                &total + &reserved
            } else {
                total.clone()
            };
            let available = if i % 2 == 0 {
                &total - &used
            } else {
                total.clone()
            };
            AgentSlot {
                id: AgentId::new(format!("agent-{i:05}")),
                total: total.into(),
                available: available.into(),
                active: i % 100 != 99,
            }
        })
        .collect();

    let roles = ["web", "batch", "analytics"];
    let frameworks: Vec<FrameworkSlot> = (0..10)
        .map(|i| {
            let role = roles[i % 3];
            let held = res(&format!("cpus:{};mem:{}", 100 * (i + 1), 100_000 * (i + 1)));
            let filters = (0..20)
                .map(|k| OfferFilter {
                    agent_id: AgentId::new(format!("agent-{:05}", (i * 997 + k * 31) % AGENTS)),
                    resources: total.allocate(role),
                    until: now + Duration::from_secs(5),
                })
                .collect();
            FrameworkSlot {
                id: FrameworkId::new(format!("framework-{i}")),
                roles: vec![role.to_owned()],
                suppressed_roles: BTreeSet::new(),
                allocated: BTreeMap::from([(role.to_owned(), held.allocate(role))]),
                filters,
                min_allocatable: BTreeMap::new(),
                active: true,
            }
        })
        .collect();

    let map = |pairs: &[(&str, f64)]| -> BTreeMap<String, f64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    };
    let roles = BTreeMap::from([
        (
            "analytics".to_owned(),
            RoleConfig {
                weight: 1.0,
                guarantee: map(&[("cpus", 20_000.0), ("mem", 40_000_000.0)]),
                limit: map(&[("cpus", 60_000.0)]),
            },
        ),
        (
            "web".to_owned(),
            RoleConfig {
                weight: 2.0,
                ..RoleConfig::default()
            },
        ),
    ]);
    let min = |name: &str, v: f64| ResourceQuantities {
        quantities: BTreeMap::from([(name.to_owned(), Scalar::new(v))]),
    };
    Snapshot {
        now,
        agents,
        frameworks,
        roles,
        min_allocatable: vec![min("cpus", 0.01), min("mem", 32.0)],
    }
}
