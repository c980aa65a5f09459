//! `dcos-bench`: load generators for the benchmarks in BENCHMARKS.md. Not a
//! test: it measures and prints. The scripts beside it start the servers.
//!
//! `dcos-bench kv-put --target dcos|etcd --endpoint URL --clients N --ops M`
//! sends M puts split over N clients, each client one keep-alive HTTP
//! connection sending its puts one after another, and prints one JSON line:
//! ops/s over the wall time, and p50/p99 of the per-put latency.
//!
//! `dcos-bench kernel-launch --master URL --tasks N ...`: see [`kernel`].
//!
//! `dcos-bench chronos-load --chronos URL --jobs N --minutes M`: see [`chronos`].
//!
//! `dcos-bench gateway-latency --direct URL --via URL --token T`: see [`gateway`].
//!
//! `dcos-bench dashboard-pages --gateway URL --webdriver URL`: see [`dashboard`].

mod chronos;
mod cosmos;
mod dashboard;
mod gateway;
mod kernel;

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Sequential or concurrent puts against a KV HTTP API.
    KvPut {
        #[arg(long, value_enum)]
        target: Target,
        /// Base URL of the server to send to (the leader, for both).
        #[arg(long)]
        endpoint: String,
        #[arg(long, default_value_t = 1)]
        clients: usize,
        #[arg(long, default_value_t = 2000)]
        ops: usize,
        /// Value size in bytes.
        #[arg(long, default_value_t = 64)]
        value_bytes: usize,
        /// A label printed with the result.
        #[arg(long, default_value = "")]
        label: String,
    },
    /// Launch N tasks through a framework on our SDK and measure the kernel.
    KernelLaunch(kernel::LaunchArgs),
    /// N Metronome jobs every minute for M minutes: missed, doubled, delay.
    ChronosLoad(chronos::ChronosArgs),
    /// The gateway's added latency: the same GET direct and through it.
    GatewayLatency(gateway::GatewayArgs),
    /// `package search` and `render` latency of the Cosmos API with a
    /// generated index of N packages.
    CosmosCatalog(cosmos::CosmosArgs),
    /// The dashboard's pages on a loaded cluster, timed in Chromium.
    DashboardPages(dashboard::DashboardArgs),
    /// Puts straight into an in-process one-node store (no HTTP): what the
    /// Raft and SQLite path alone costs.
    StoreInproc {
        #[arg(long, default_value_t = 1)]
        clients: usize,
        #[arg(long, default_value_t = 2000)]
        ops: usize,
        #[arg(long, default_value_t = 64)]
        value_bytes: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Target {
    /// Our store: POST /store/v1/kv/put {key, value(base64)}.
    Dcos,
    /// etcd v3 JSON gateway: POST /v3/kv/put {key(base64), value(base64)}.
    Etcd,
}

fn body(target: Target, key: &str, value: &str) -> Vec<u8> {
    let json = match target {
        Target::Dcos => serde_json::json!({ "key": key, "value": value }),
        Target::Etcd => serde_json::json!({ "key": STANDARD.encode(key), "value": value }),
    };
    serde_json::to_vec(&json).unwrap_or_default()
}

async fn client_loop(
    target: Target,
    url: String,
    client_id: usize,
    ops: usize,
    value: String,
) -> anyhow::Result<Vec<Duration>> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .tcp_nodelay(true)
        .build()?;
    let mut lat = Vec::with_capacity(ops);
    for i in 0..ops {
        let key = format!("/bench/{client_id:03}/{i:08}");
        let payload = body(target, &key, &value);
        let start = Instant::now();
        // A keep-alive connection the server closed is retried (up to 3
        // times) on a new one; the retry counts in the latency.
        let mut attempt = 0;
        let resp = loop {
            match http
                .post(&url)
                .header("content-type", "application/json")
                .body(payload.clone())
                .send()
                .await
            {
                Ok(r) => break r,
                Err(e) if attempt < 3 => {
                    attempt += 1;
                    eprintln!("retrying a put to {url} after: {e}");
                }
                Err(e) => return Err(e).with_context(|| format!("put to {url}")),
            }
        };
        let status = resp.status();
        let _ = resp.bytes().await?;
        lat.push(start.elapsed());
        if !status.is_success() {
            bail!("{url} answered {status}");
        }
    }
    Ok(lat)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Cmd::KernelLaunch(args) => kernel::launch(args).await?,
        Cmd::ChronosLoad(args) => chronos::load(args).await?,
        Cmd::GatewayLatency(args) => gateway::latency(args).await?,
        Cmd::CosmosCatalog(args) => cosmos::catalog(args).await?,
        Cmd::DashboardPages(args) => dashboard::pages(args).await?,
        Cmd::StoreInproc {
            clients,
            ops,
            value_bytes,
        } => store_inproc(clients, ops, value_bytes).await?,
        Cmd::KvPut {
            target,
            endpoint,
            clients,
            ops,
            value_bytes,
            label,
        } => {
            let path = match target {
                Target::Dcos => "/store/v1/kv/put",
                Target::Etcd => "/v3/kv/put",
            };
            let url = format!("{}{path}", endpoint.trim_end_matches('/'));
            let value = STANDARD.encode(vec![b'v'; value_bytes]);
            // Warm-up: connections and first-write costs are not measured.
            client_loop(target, url.clone(), 999, 50, value.clone()).await?;
            let per_client = ops / clients.max(1);
            let start = Instant::now();
            let mut tasks = Vec::new();
            for c in 0..clients {
                tasks.push(tokio::spawn(client_loop(
                    target,
                    url.clone(),
                    c,
                    per_client,
                    value.clone(),
                )));
            }
            let mut all = Vec::new();
            for t in tasks {
                all.extend(t.await??);
            }
            let wall = start.elapsed().as_secs_f64();
            all.sort();
            let result = serde_json::json!({
                "label": label,
                "target": format!("{target:?}").to_lowercase(),
                "clients": clients,
                "ops": all.len(),
                "ops_per_sec": (all.len() as f64 / wall).round(),
                "p50_ms": (percentile(&all, 0.50) * 1000.0).round() / 1000.0,
                "p99_ms": (percentile(&all, 0.99) * 1000.0).round() / 1000.0,
            });
            println!("{result}");
        }
    }
    Ok(())
}

async fn store_inproc(clients: usize, ops: usize, value_bytes: usize) -> anyhow::Result<()> {
    use dcos_store::types::PutRequest;
    use dcos_store::{Kv, NodeConfig, StoreNode};
    use std::sync::Arc;
    let dir = tempfile::tempdir()?;
    let node = StoreNode::start(NodeConfig::new(dir.path(), "127.0.0.1:1")).await?;
    node.bootstrap().await?;
    let per_client = ops / clients.max(1);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let node = Arc::clone(&node);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per_client);
            for i in 0..per_client {
                let t = Instant::now();
                node.put(PutRequest {
                    key: format!("/bench/{c:03}/{i:08}"),
                    value: vec![b'v'; value_bytes],
                    ..Default::default()
                })
                .await?;
                lat.push(t.elapsed());
            }
            Ok::<_, dcos_store::KvError>(lat)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let wall = start.elapsed().as_secs_f64();
    all.sort();
    println!(
        "{}",
        serde_json::json!({
            "target": "dcos-inproc",
            "clients": clients,
            "ops": all.len(),
            "ops_per_sec": (all.len() as f64 / wall).round(),
            "p50_ms": (percentile(&all, 0.50) * 1000.0).round() / 1000.0,
            "p99_ms": (percentile(&all, 0.99) * 1000.0).round() / 1000.0,
        })
    );
    node.shutdown().await;
    Ok(())
}
