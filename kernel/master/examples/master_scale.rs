//! Micro-benchmark of the master's core (no HTTP, no store) at the
//! benchmark size: N agents, one framework launching M short tasks.
//! Each round runs one allocation cycle (snapshot → DRF → offers), ACCEPTs
//! every offer with up to 10 tasks, reports them TASK_RUNNING, and finishes
//! and acknowledges the previous round's tasks. Prints core launches/s,
//! allocation-cycle p50/p99, status updates/s, `/master/state` build and
//! encode time and size, and peak RSS.
//!
//! `cargo run -p dcos-master --example master_scale -- [agents] [tasks] [tasks per offer]`
//! (defaults 10000, 100000 and 10; use a release build for real figures).

use std::time::{Duration, Instant};

use dcos_api::agent::{self, Register};
use dcos_api::recordio;
use dcos_api::resources::Resources;
use dcos_api::scheduler::{self, Accept, Acknowledge, Subscribe};
use dcos_api::v1::{
    AgentId, AgentInfo, Base64Bytes, CommandInfo, Filters, FrameworkId, FrameworkInfo, MasterInfo,
    OfferOperation, TaskId, TaskInfo, TaskState, TaskStatus,
};
use dcos_master::state::{Clock, Config, Effect, State};
use dcos_master::views::{legacy_state, MasterFacts};

/// The `dcos` binary's allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn clock(t0: Instant) -> Clock {
    let now = Instant::now();
    Clock {
        now,
        unix: 1_700_000_000.0 + (now - t0).as_secs_f64(),
    }
}

fn pct(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let agents: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let tasks: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let per_offer: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let t0 = Instant::now();
    let info = MasterInfo {
        id: "bench".into(),
        ip: 0,
        port: 5050,
        pid: None,
        hostname: None,
        version: None,
        address: None,
        domain: None,
        capabilities: Vec::new(),
    };
    let config = Config {
        agent_timeout: Duration::from_secs(3600),
        reregister_window: Duration::from_secs(0),
    };
    let mut s = State::new(info, config, Vec::new(), clock(t0));

    let started = Instant::now();
    let mut ids: Vec<(AgentId, String)> = Vec::with_capacity(agents);
    for i in 0..agents {
        let stream = format!("agent-{i}");
        let reg = Register {
            agent_id: None,
            agent_info: AgentInfo {
                hostname: format!("10.0.{}.{}", i / 250, i % 250),
                port: Some(5051),
                resources: Resources::parse("cpus:8;mem:32768;disk:100000", "*")
                    .expect("valid")
                    .into_vec(),
                attributes: Vec::new(),
                id: None,
                domain: None,
            },
            endpoint: format!("http://10.0.{}.{}:5051", i / 250, i % 250),
            version: "bench".into(),
            tasks: Vec::new(),
            executors: Vec::new(),
            frameworks: Vec::new(),
        };
        let (id, _) = s
            .register_agent(reg, stream.clone(), clock(t0))
            .expect("registers");
        ids.push((id, stream));
    }
    let stream_of: std::collections::HashMap<AgentId, String> = ids.iter().cloned().collect();
    println!(
        "registered {agents} agents in {:.0} ms",
        started.elapsed().as_secs_f64() * 1e3
    );

    let sub = Subscribe {
        framework_info: FrameworkInfo::new("bench", "bench"),
        suppressed_roles: Vec::new(),
        offer_constraints: None,
    };
    let (fw, _) = s
        .subscribe(sub, "fw".into(), 15.0, clock(t0))
        .expect("subscribes");

    let mut alloc_ms = Vec::new();
    let mut phases: Vec<[f64; 4]> = Vec::new();
    let mut accept_time = Duration::ZERO;
    let mut update_time = Duration::ZERO;
    let mut updates = 0usize;
    let mut launched = 0usize;
    let mut previous: Vec<(AgentId, TaskId)> = Vec::new();
    let mut uuid = 0u64;
    let mut next_uuid = || {
        uuid += 1;
        let mut b = vec![9u8; 8];
        b.extend_from_slice(&uuid.to_be_bytes());
        Base64Bytes::new(b)
    };
    let mut update = |s: &mut State, fw: &FrameworkId, agent: &AgentId, task: &TaskId, st| {
        let mut status = TaskStatus::new(task.clone(), st);
        status.uuid = Some(next_uuid());
        let call = agent::Call::Update {
            agent_id: agent.clone(),
            framework_id: fw.clone(),
            status: status.clone(),
        };
        s.agent_call(call, &stream_of[agent], clock(t0))
            .expect("update");
        status.uuid.expect("set")
    };
    let wall = Instant::now();
    while launched < tasks {
        let c0 = Instant::now();
        let snapshot = s.allocation_snapshot(clock(t0), Vec::new());
        let c1 = Instant::now();
        let plan = dcos_master::allocator::allocate(&snapshot);
        drop(snapshot);
        let c2 = Instant::now();
        let effects = s.apply_allocations(plan, clock(t0));
        let c3 = Instant::now();
        // What `dispatch` does with each OFFERS event: encode it.
        let encoded: usize = effects
            .iter()
            .map(|e| match e {
                Effect::ToFramework(_, ev) => recordio::encode(&ev.to_json()).len(),
                _ => 0,
            })
            .sum();
        let c4 = Instant::now();
        alloc_ms.push(c0.elapsed().as_secs_f64() * 1e3);
        let ms = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1e3;
        phases.push([ms(c0, c1), ms(c1, c2), ms(c2, c3), ms(c3, c4)]);
        let _ = encoded;
        let offers: Vec<_> = effects
            .into_iter()
            .filter_map(|e| match e {
                Effect::ToFramework(_, scheduler::Event::Offers(o)) => Some(o.offers),
                _ => None,
            })
            .flatten()
            .collect();
        assert!(!offers.is_empty(), "no offers with {launched} launched");
        let mut this_round = Vec::new();
        let a0 = Instant::now();
        for offer in offers {
            let n = (tasks - launched).min(per_offer);
            let infos: Vec<TaskInfo> = (0..n)
                .map(|k| {
                    let id = TaskId::new(format!("t{}", launched + k));
                    let mut t = TaskInfo::command(
                        id.as_str(),
                        id.clone(),
                        offer.agent_id.clone(),
                        CommandInfo::shell("true"),
                    );
                    t.resources = Resources::parse("cpus:0.1;mem:32", "*")
                        .expect("valid")
                        .into_vec();
                    this_round.push((offer.agent_id.clone(), id));
                    t
                })
                .collect();
            launched += n;
            let accept = Accept {
                offer_ids: vec![offer.id.clone()],
                operations: vec![OfferOperation::launch(infos)],
                // What is left is offered again next cycle (as the
                // benchmark's framework asks).
                filters: Some(Filters::refuse(0.0)),
            };
            s.scheduler_call(&fw, scheduler::CallBody::Accept(accept), clock(t0))
                .expect("accept");
        }
        accept_time += a0.elapsed();
        let u0 = Instant::now();
        for (agent, task) in &this_round {
            update(&mut s, &fw, agent, task, TaskState::Running);
            updates += 1;
        }
        for (agent, task) in previous.drain(..) {
            let uuid = update(&mut s, &fw, &agent, &task, TaskState::Finished);
            updates += 1;
            let ack = Acknowledge {
                agent_id: agent.clone(),
                task_id: task,
                uuid,
            };
            s.scheduler_call(&fw, scheduler::CallBody::Acknowledge(ack), clock(t0))
                .expect("ack");
        }
        update_time += u0.elapsed();
        previous = this_round;
    }
    let wall = wall.elapsed();
    alloc_ms.sort_by(|a, b| a.total_cmp(b));
    println!(
        "launched {launched} tasks in {:.2} s wall; ACCEPT handling {:.0} launches/s",
        wall.as_secs_f64(),
        launched as f64 / accept_time.as_secs_f64()
    );
    println!(
        "allocation cycles: {} runs, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        alloc_ms.len(),
        pct(&alloc_ms, 0.5),
        pct(&alloc_ms, 0.99),
        alloc_ms.last().copied().unwrap_or(0.0)
    );
    for (i, p) in phases.iter().take(3).enumerate() {
        println!(
            "  cycle {i}: snapshot {:.1} ms, allocate {:.1} ms, apply {:.1} ms, encode OFFERS {:.1} ms",
            p[0], p[1], p[2], p[3]
        );
    }
    println!(
        "status updates (+acks): {:.0}/s",
        updates as f64 / update_time.as_secs_f64()
    );
    println!("peak RSS before /master/state {:.0} MiB", peak_rss_mib());
    let facts = MasterFacts {
        addr: "127.0.0.1:5050".into(),
        start_time: 0.0,
        elected_time: 0.0,
        flags: Default::default(),
    };
    let p0 = Instant::now();
    let n = s
        .agents
        .values()
        .map(dcos_master::views::legacy_agent)
        .count();
    let agents_ms = p0.elapsed().as_secs_f64() * 1e3;
    let p0 = Instant::now();
    let n2 = s.frameworks[&fw]
        .tasks
        .values()
        .map(dcos_master::views::legacy_task)
        .count();
    println!(
        "  of which {n} agents {agents_ms:.0} ms, {n2} tasks {:.0} ms",
        p0.elapsed().as_secs_f64() * 1e3
    );
    let b0 = Instant::now();
    let value = legacy_state(&s, &facts);
    let built = b0.elapsed();
    let e0 = Instant::now();
    let bytes = serde_json::to_vec(&value).expect("encodes");
    println!(
        "/master/state: build {:.0} ms (under the lock), encode {:.0} ms (outside it), {:.1} MiB, {} live + completed tasks kept",
        built.as_secs_f64() * 1e3,
        e0.elapsed().as_secs_f64() * 1e3,
        bytes.len() as f64 / (1024.0 * 1024.0),
        s.frameworks[&fw].tasks.len() + s.frameworks[&fw].completed_tasks.len()
    );
    println!("peak RSS {:.0} MiB", peak_rss_mib());
}
