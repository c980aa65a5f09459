//! `dcos-bench gateway-latency`: what the gateway adds to a request. The
//! same GET goes to a backend directly and through the gateway, from
//! `--concurrency` clients (each one keep-alive connection sending its
//! requests one after another); the two are measured in alternating
//! rounds so that machine noise hits both alike. Prints one JSON line
//! with p50/p99 of both and of the difference.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;

use crate::percentile;

#[derive(Debug, Args)]
pub struct GatewayArgs {
    /// The backend URL, straight (e.g. `http://127.0.0.1:5050/master/health`).
    #[arg(long)]
    pub direct: String,
    /// The same resource through the gateway
    /// (e.g. `http://127.0.0.1:8000/mesos/master/health`).
    #[arg(long)]
    pub via: String,
    /// A gateway token (`Authorization: token=<t>`), sent on both paths.
    #[arg(long, env = "DCOS_BENCH_TOKEN", hide_env_values = true)]
    pub token: String,
    /// Requests per path.
    #[arg(long, default_value_t = 5000)]
    pub requests: usize,
    /// Concurrent clients per path.
    #[arg(long, default_value_t = 1)]
    pub concurrency: usize,
    /// Alternating rounds (direct, via, direct, via, …).
    #[arg(long, default_value_t = 10)]
    pub rounds: usize,
    /// A label printed with the result.
    #[arg(long, default_value = "")]
    pub label: String,
}

async fn client(url: String, token: String, n: usize) -> anyhow::Result<Vec<Duration>> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .tcp_nodelay(true)
        .build()?;
    let mut lat = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        let resp = http
            .get(&url)
            .header("Authorization", format!("token={token}"))
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        let status = resp.status();
        let _ = resp.bytes().await?;
        lat.push(start.elapsed());
        if !status.is_success() {
            bail!("{url} answered {status}");
        }
    }
    Ok(lat)
}

/// `n` requests to `url` from `clients` concurrent clients.
async fn round(url: &str, token: &str, n: usize, clients: usize) -> anyhow::Result<Vec<Duration>> {
    let per = (n / clients.max(1)).max(1);
    let tasks: Vec<_> = (0..clients.max(1))
        .map(|_| tokio::spawn(client(url.to_string(), token.to_string(), per)))
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    Ok(all)
}

pub async fn latency(a: GatewayArgs) -> anyhow::Result<()> {
    // Warm-up: connections, caches (the leader lookup), page faults.
    round(&a.direct, &a.token, 200, a.concurrency).await?;
    round(&a.via, &a.token, 200, a.concurrency).await?;
    let per_round = (a.requests / a.rounds.max(1)).max(1);
    let (mut direct, mut via) = (Vec::new(), Vec::new());
    for _ in 0..a.rounds.max(1) {
        direct.extend(round(&a.direct, &a.token, per_round, a.concurrency).await?);
        via.extend(round(&a.via, &a.token, per_round, a.concurrency).await?);
    }
    direct.sort();
    via.sort();
    let ms = |v: f64| (v * 1000.0).round() / 1000.0;
    let (d50, d99) = (percentile(&direct, 0.50), percentile(&direct, 0.99));
    let (v50, v99) = (percentile(&via, 0.50), percentile(&via, 0.99));
    println!(
        "{}",
        serde_json::json!({
            "label": a.label,
            "concurrency": a.concurrency,
            "requests_per_path": direct.len(),
            "direct_p50_ms": ms(d50),
            "direct_p99_ms": ms(d99),
            "gateway_p50_ms": ms(v50),
            "gateway_p99_ms": ms(v99),
            "added_p50_ms": ms(v50 - d50),
            "added_p99_ms": ms(v99 - d99),
        })
    );
    Ok(())
}
