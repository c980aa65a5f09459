//! `dcos-bench chronos-load`: creates N Metronome jobs, each with the cron
//! schedule `* * * * *` (every minute), lets them fire for M minutes, then
//! deletes their schedules and reads every job's history back from
//! Chronos. Prints one JSON line: scheduled minutes that have no run
//! (missed) or more than one task (doubled), and the start delay (task
//! RUNNING minus scheduled time) p50/p99/max.
//!
//! Hollow agents finish a task after its `hollow_duration_seconds` label;
//! jobs carry that label and Chronos copies job labels to tasks.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use serde_json::{json, Value};

/// Flags of `chronos-load`.
#[derive(Debug, Args)]
pub struct ChronosArgs {
    /// Chronos base URL.
    #[arg(long)]
    chronos: String,
    /// Jobs to create.
    #[arg(long, default_value_t = 1000)]
    jobs: usize,
    /// Whole minutes to let them fire.
    #[arg(long, default_value_t = 10)]
    minutes: u64,
    /// Seconds each (hollow) task runs.
    #[arg(long, default_value_t = 1.0)]
    task_seconds: f64,
    /// Chronos' pid, for its peak RSS.
    #[arg(long)]
    chronos_pid: Option<u32>,
    /// A label printed with the result.
    #[arg(long, default_value = "")]
    label: String,
}

/// Milliseconds since the epoch of `2025-01-01T00:00:00.000Z` (the only
/// format Chronos prints).
fn parse_ms(s: &str) -> Option<i64> {
    let n = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse().ok() };
    let (y, m, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
    let (hh, mm, ss) = (n(11..13)?, n(14..16)?, n(17..19)?);
    let ms = n(20..23).unwrap_or(0);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + hh) * 60 + mm) * 60_000 + ss * 1000 + ms)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn pct(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[(((sorted.len() - 1) as f64) * p).round() as usize]
}

/// Runs the benchmark.
pub async fn load(args: ChronosArgs) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let base = args.chronos.trim_end_matches('/').to_owned();
    for i in 0..args.jobs {
        let job = json!({
            "id": format!("bench-{i:05}"),
            "labels": {"hollow_duration_seconds": args.task_seconds.to_string()},
            "run": {"cmd": "true", "cpus": 0.01, "mem": 8, "disk": 0},
            "schedules": [{"id": "every-minute", "cron": "* * * * *", "startingDeadlineSeconds": 60}],
        });
        let r = http
            .post(format!("{base}/v1/jobs"))
            .json(&job)
            .send()
            .await?;
        if r.status().as_u16() != 201 {
            bail!("creating job {i}: {} {}", r.status(), r.text().await?);
        }
    }
    let created = now_ms();
    // The window: whole minutes strictly after all jobs exist.
    let first = (created / 60_000 + 1) * 60_000;
    let last = first + (args.minutes as i64 - 1) * 60_000;
    eprintln!("{} jobs created; window {first}..={last} (ms)", args.jobs);
    let end = last + 20_000;
    while now_ms() < end {
        tokio::time::sleep(Duration::from_millis((end - now_ms()).clamp(0, 5000) as u64)).await;
    }
    // Read every job's history.
    let jobs: Vec<Value> = http
        .get(format!("{base}/v1/jobs?embed=history&embed=activeRuns"))
        .send()
        .await?
        .json()
        .await
        .context("reading jobs")?;
    let mut missed = 0u64;
    let mut doubled = 0u64;
    let mut not_finished = 0u64;
    let mut delays = Vec::new();
    let mut runs_in_window = 0u64;
    for job in &jobs {
        let h = &job["history"];
        let mut per_minute: BTreeMap<i64, Vec<&Value>> = BTreeMap::new();
        for r in h["successfulFinishedRuns"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(h["failedFinishedRuns"].as_array().into_iter().flatten())
            .chain(job["activeRuns"].as_array().into_iter().flatten())
        {
            let Some(at) = r["scheduledAt"].as_str().and_then(parse_ms) else {
                continue;
            };
            per_minute.entry(at).or_default().push(r);
        }
        let mut t = first;
        while t <= last {
            match per_minute.get(&t).map(Vec::as_slice) {
                None => missed += 1,
                Some([r]) => {
                    runs_in_window += 1;
                    if r["missed"] == true {
                        missed += 1;
                    } else if r["finishedAt"].is_null() {
                        not_finished += 1;
                    }
                    if r["tasks"].as_array().map(Vec::len).unwrap_or(0) > 1 {
                        doubled += 1;
                    }
                    if let Some(s) = r["startedAt"].as_str().and_then(parse_ms) {
                        delays.push(s - t);
                    }
                }
                Some(_) => doubled += 1,
            }
            t += 60_000;
        }
    }
    delays.sort_unstable();
    let out = json!({
        "bench": "chronos-load",
        "label": args.label,
        "jobs": args.jobs,
        "minutes": args.minutes,
        "scheduled": args.jobs as u64 * args.minutes,
        "runs": runs_in_window,
        "missed": missed,
        "doubled": doubled,
        "not_finished": not_finished,
        "start_delay_ms_p50": pct(&delays, 0.5),
        "start_delay_ms_p99": pct(&delays, 0.99),
        "start_delay_ms_max": delays.last().copied().unwrap_or(0),
        "chronos_peak_rss_mib": args.chronos_pid.and_then(peak_rss_mib),
    });
    println!("{out}");
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_chronos_instants() {
        assert_eq!(super::parse_ms("1970-01-01T00:00:01.500Z"), Some(1500));
        assert_eq!(
            super::parse_ms("2024-02-29T12:00:00.000Z"),
            Some(1_709_208_000_000)
        );
    }
}
