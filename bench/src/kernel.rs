//! `dcos-bench kernel-launch`: a framework on our scheduler SDK that
//! launches N tasks as fast as offers allow and measures the kernel:
//! launches per second (first ACCEPT to the N-th TASK_RUNNING), ACCEPT to
//! RUNNING per task, the master's allocation-cycle p50/p99 and peak RSS,
//! `/master/state` latency at that size, and (with a real agent) the
//! agent's per-task memory overhead. Prints one JSON object.
//!
//! The servers are started by the scripts beside it (`kernel-hollow.sh`,
//! `kernel-real.sh`), which pass their pids.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use dcos_api::client::{Scheduler, SchedulerConfig, SchedulerEvent};
use dcos_api::scheduler::Event;
use dcos_api::v1::{
    CommandInfo, Filters, FrameworkInfo, Label, Labels, Offer, OfferOperation, Resource, TaskId,
    TaskInfo, TaskState,
};
use serde_json::json;
use tokio::sync::Semaphore;

/// Flags of `kernel-launch`.
#[derive(Debug, Args)]
pub struct LaunchArgs {
    /// Master base URL.
    #[arg(long)]
    master: String,
    /// Tasks to launch.
    #[arg(long, default_value_t = 1000)]
    tasks: usize,
    /// Wait for this many active agents before starting.
    #[arg(long, default_value_t = 1)]
    agents: usize,
    /// Shell command of every task.
    #[arg(long, default_value = "sleep 3600")]
    command: String,
    #[arg(long, default_value_t = 0.01)]
    cpus: f64,
    #[arg(long, default_value_t = 8.0)]
    mem: f64,
    /// Hollow agents finish a task after this many seconds (label
    /// `hollow_duration_seconds`); absent: tasks run until the end.
    #[arg(long)]
    hollow_duration: Option<f64>,
    /// At most this many tasks per offer (0: as many as fit).
    #[arg(long, default_value_t = 0)]
    per_offer: usize,
    /// ACCEPT calls in flight.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// pid of the master, for its RSS.
    #[arg(long)]
    master_pid: Option<u32>,
    /// pid of a real agent, for its RSS and its executors'.
    #[arg(long)]
    agent_pid: Option<u32>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout_secs: u64,
    /// Printed with the result.
    #[arg(long, default_value = "")]
    label: String,
}

fn scalar(offer: &Offer, name: &str) -> f64 {
    offer
        .resources
        .iter()
        .filter(|r| r.name == name && r.reservations.is_empty())
        .filter_map(|r| r.scalar.map(|s| s.value))
        .sum()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// `VmHWM` and `VmRSS` of a process, in MiB.
fn rss_mib(pid: u32) -> Option<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .map(|kib| kib / 1024.0)
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

/// `Pss` of a process in MiB: its private memory plus its share of pages
/// shared with others (the executors all map the same `dcos` binary, so
/// RSS would count that binary once per executor).
fn pss_mib(pid: u32) -> Option<f64> {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    rollup
        .lines()
        .find(|l| l.starts_with("Pss:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map(|kib| kib / 1024.0)
}

/// Total RSS and PSS (MiB) and count of `dcos daemon executor` processes.
fn executors_rss() -> (f64, f64, usize) {
    let mut pss = 0.0;
    let mut total = 0.0;
    let mut count = 0;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return (0.0, 0.0, 0);
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains("daemon executor") {
            if let Some((_, rss)) = rss_mib(pid) {
                total += rss;
                pss += pss_mib(pid).unwrap_or(rss);
                count += 1;
            }
        }
    }
    (total, pss, count)
}

async fn metrics(http: &reqwest::Client, master: &str) -> anyhow::Result<serde_json::Value> {
    Ok(http
        .get(format!("{master}/metrics/snapshot"))
        .send()
        .await?
        .json()
        .await?)
}

/// Runs the benchmark and prints its JSON line.
pub async fn launch(args: LaunchArgs) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(args.timeout_secs);
    eprintln!("waiting for {} active agents ...", args.agents);
    loop {
        if let Ok(m) = metrics(&http, &args.master).await {
            let active = m["master/slaves_active"].as_f64().unwrap_or(0.0) as usize;
            if active >= args.agents {
                break;
            }
        }
        if Instant::now() > deadline {
            bail!("fewer than {} agents registered in time", args.agents);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let agent_rss_before = args.agent_pid.and_then(rss_mib).map(|r| r.1);

    let mut info = FrameworkInfo::new("root", "dcos-bench");
    info.failover_timeout = Some(0.0);
    let mut config = SchedulerConfig::new([args.master.clone()], info);
    config.auto_acknowledge = true;
    config.event_buffer = 65_536;
    let mut scheduler = Scheduler::start(config)?;
    let handle = scheduler.handle();
    let calls = Arc::new(Semaphore::new(args.concurrency.max(1)));

    let mut next = 0usize;
    let mut launched: HashMap<TaskId, Instant> = HashMap::with_capacity(args.tasks);
    let mut to_running: Vec<Duration> = Vec::with_capacity(args.tasks);
    let mut running = 0usize;
    let mut failed = 0usize;
    let mut first_accept: Option<Instant> = None;
    let mut last_running = Instant::now();
    let mut suppressed = false;
    let labels = args.hollow_duration.map(|d| Labels {
        labels: vec![Label {
            key: "hollow_duration_seconds".into(),
            value: Some(d.to_string()),
        }],
    });

    while running + failed < args.tasks {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = match tokio::time::timeout(left, scheduler.recv()).await {
            Ok(Some(e)) => e,
            Ok(None) => bail!("the scheduler stopped"),
            Err(_) => bail!(
                "timed out: {running} of {} tasks running, {failed} failed",
                args.tasks
            ),
        };
        match event {
            SchedulerEvent::Event(Event::Offers(offers)) => {
                let mut unused = Vec::new();
                for offer in offers.offers {
                    let role = offer
                        .resources
                        .first()
                        .and_then(|r| r.allocation_role())
                        .unwrap_or("*")
                        .to_string();
                    let fit = (scalar(&offer, "cpus") / args.cpus)
                        .min(scalar(&offer, "mem") / args.mem)
                        .floor() as usize;
                    let mut n = fit.min(args.tasks - next);
                    if args.per_offer > 0 {
                        n = n.min(args.per_offer);
                    }
                    if n == 0 {
                        unused.push(offer.id);
                        continue;
                    }
                    let now = Instant::now();
                    first_accept.get_or_insert(now);
                    let tasks: Vec<TaskInfo> = (0..n)
                        .map(|_| {
                            let id = TaskId::new(format!("bench-{next}"));
                            next += 1;
                            launched.insert(id.clone(), now);
                            let mut t = TaskInfo::command(
                                id.value.clone(),
                                id,
                                offer.agent_id.clone(),
                                CommandInfo::shell(args.command.clone()),
                            );
                            t.resources = vec![
                                Resource::scalar("cpus", args.cpus).allocated_to(role.clone()),
                                Resource::scalar("mem", args.mem).allocated_to(role.clone()),
                            ];
                            t.labels = labels.clone();
                            t
                        })
                        .collect();
                    let permit = Arc::clone(&calls).acquire_owned().await?;
                    let h = handle.clone();
                    let id = offer.id;
                    tokio::spawn(async move {
                        if let Err(e) = h
                            .accept(
                                vec![id],
                                vec![OfferOperation::launch(tasks)],
                                Some(Filters::refuse(1.0)),
                            )
                            .await
                        {
                            eprintln!("accept failed: {e}");
                        }
                        drop(permit);
                    });
                }
                if !unused.is_empty() {
                    let h = handle.clone();
                    tokio::spawn(async move {
                        let _ = h.decline(unused, Some(Filters::refuse(3600.0))).await;
                    });
                }
                if next == args.tasks && !suppressed {
                    suppressed = true;
                    let h = handle.clone();
                    tokio::spawn(async move {
                        let _ = h.suppress(Vec::new()).await;
                    });
                }
            }
            SchedulerEvent::Event(Event::Update(update)) => {
                let status = update.status;
                match status.state {
                    TaskState::Running => {
                        if let Some(at) = launched.remove(&status.task_id) {
                            let now = Instant::now();
                            to_running.push(now - at);
                            running += 1;
                            last_running = now;
                            if running.is_multiple_of(10_000) {
                                eprintln!("{running} running ...");
                            }
                        }
                    }
                    s if s.is_terminal() && launched.remove(&status.task_id).is_some() => {
                        failed += 1;
                        if failed <= 5 {
                            eprintln!(
                                "{} ended {:?} before running: {:?}",
                                status.task_id, s, status.message
                            );
                        }
                    }
                    _ => {}
                }
            }
            SchedulerEvent::Closed { reason } => bail!("scheduler closed: {reason:?}"),
            _ => {}
        }
    }
    let first = first_accept.context("no offer was ever accepted")?;
    let wall = last_running.duration_since(first);
    to_running.sort();

    // The kernel at this size: allocation timings, RSS, state latency.
    let m = metrics(&http, &args.master).await?;
    let mut state_ms = Vec::new();
    let mut state_bytes = 0usize;
    for _ in 0..5 {
        let t = Instant::now();
        let body = http
            .get(format!("{}/master/state", args.master))
            .send()
            .await?
            .bytes()
            .await?;
        state_ms.push(t.elapsed());
        state_bytes = body.len();
    }
    state_ms.sort();
    let master_rss = args.master_pid.and_then(rss_mib);
    let agent_rss_after = args.agent_pid.and_then(rss_mib).map(|r| r.1);
    let (exec_rss, exec_pss, exec_count) = if args.agent_pid.is_some() {
        executors_rss()
    } else {
        (0.0, 0.0, 0)
    };
    let per_task_agent = match (agent_rss_before, agent_rss_after) {
        (Some(b), Some(a)) if running > 0 => Some((a - b) / running as f64),
        _ => None,
    };
    let out = json!({
        "bench": "kernel-launch",
        "label": args.label,
        "tasks": args.tasks,
        "running": running,
        "failed_before_running": failed,
        "agents": m["master/slaves_active"],
        "wall_secs": wall.as_secs_f64(),
        "launches_per_sec": running as f64 / wall.as_secs_f64().max(1e-9),
        "accept_to_running_ms": {
            "p50": percentile(&to_running, 0.5),
            "p99": percentile(&to_running, 0.99),
            "max": percentile(&to_running, 1.0),
        },
        "allocation_run_ms": {
            "p50": m["allocator/allocation_run_ms/p50"],
            "p99": m["allocator/allocation_run_ms/p99"],
            "max": m["allocator/allocation_run_ms/max"],
            "runs": m["allocator/allocation_runs"],
        },
        "master_rss_mib": master_rss.map(|r| json!({"peak": r.0, "now": r.1})),
        "master_state": {
            "p50_ms": percentile(&state_ms, 0.5),
            "max_ms": percentile(&state_ms, 1.0),
            "bytes": state_bytes,
        },
        "agent_rss_mib": agent_rss_after,
        "agent_rss_per_task_mib": per_task_agent,
        "executors": exec_count,
        "executor_rss_per_task_mib": (exec_count > 0).then(|| exec_rss / exec_count as f64),
        "executor_pss_per_task_mib": (exec_count > 0).then(|| exec_pss / exec_count as f64),
    });
    println!("{out}");
    let _ = handle.teardown().await;
    scheduler.stop().await;
    Ok(())
}
