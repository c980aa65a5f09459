//! `dcos-chronos`: a distributed cron with job dependencies. A framework
//! like any other: it talks to the master only through the scheduler API
//! (the SDK in `dcos_api::client`), keeps its state in the store, and serves
//! the Chronos v1 and Metronome v1 APIs (default port 4400).
//!
//! The pipeline (see README.md): API ([`api`]) → validate ([`job`],
//! [`graph`]) → [`actions`] → store ([`store`]) → scheduler core ([`core`],
//! with [`schedule`] arithmetic) → run record ([`run`]) → launch and status
//! updates ([`framework`]) → history.
//!
//! Modules:
//! - [`schedule`]: ISO 8601 and cron schedules, time zones, the DST rule.
//! - [`job`]: the job model both APIs share, and its validation.
//! - [`graph`]: the dependency graph (cycles, unknown parents, dot, csv).
//! - [`run`]: runs, tasks, history counters, parent progress.
//! - [`core`]: the pure scheduler core: (books, event, now) → plan.
//! - [`store`]: the records under `/chronos/` and atomic plan commits.
//! - [`framework`]: the engine and the leader's Mesos framework loop.
//! - [`actions`]: what the APIs may ask of the engine.
//! - [`api`]: Chronos and Metronome HTTP APIs.

pub mod actions;
pub mod api;
pub mod core;
pub mod framework;
pub mod graph;
pub mod job;
pub mod run;
pub mod schedule;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use dcos_store::{Client, Election, Kv, Namespaced};

use crate::framework::{Engine, FrameworkConfig};
use crate::store::{Store, LEADER_KEY};

/// Flags of `dcos daemon chronos`.
#[derive(Debug, Clone, Args)]
pub struct ChronosFlags {
    /// The master(s): `http://host:5050`, comma-separated for several.
    #[arg(long, default_value = "http://127.0.0.1:5050")]
    pub master: String,
    /// Address to serve the Chronos and Metronome APIs on.
    #[arg(long, default_value = "127.0.0.1:4400")]
    pub listen: String,
    /// The store (comma-separated URLs); defaults to the masters, which
    /// serve it under `/store/v1`.
    #[arg(long)]
    pub store: Option<String>,
    /// The URL other Chronos processes redirect to (default: from
    /// `--listen`).
    #[arg(long)]
    pub advertise: Option<String>,
    /// Finished runs kept per job.
    #[arg(long, default_value_t = 100)]
    pub history_count: usize,
    /// Leader lease, in seconds.
    #[arg(long, default_value_t = 3)]
    pub leader_ttl: u64,
    /// Framework name. A second Chronos on the same cluster needs its own
    /// (e.g. `chronos-user`), besides its own `--listen` and
    /// `--store-namespace`.
    #[arg(long, default_value = "chronos")]
    pub framework_name: String,
    /// Keep all state (jobs, runs, the framework id, the leader
    /// election…) under this store prefix, e.g. `/tenants/chronos-user`:
    /// what lets a second Chronos share the store with the first.
    /// Default: none (keys under `/chronos/`).
    #[arg(long, value_parser = parse_store_namespace)]
    pub store_namespace: Option<String>,
}

/// `--store-namespace`: see [`dcos_store::namespace::check_namespace`].
pub fn parse_store_namespace(s: &str) -> Result<String, String> {
    dcos_store::namespace::check_namespace(s)?;
    Ok(s.to_owned())
}

fn split(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Runs Chronos until SIGINT/SIGTERM: serves the APIs at once (a standby
/// redirects to the leader), campaigns for leadership, and while leading
/// runs the framework.
pub async fn run(flags: ChronosFlags) -> anyhow::Result<()> {
    let masters = split(&flags.master);
    let store_urls = flags
        .store
        .as_deref()
        .map(split)
        .unwrap_or_else(|| masters.clone());
    let listener = tokio::net::TcpListener::bind(&flags.listen)
        .await
        .with_context(|| format!("cannot listen on {}", flags.listen))?;
    let local = listener.local_addr()?;
    let me = flags
        .advertise
        .clone()
        .unwrap_or_else(|| format!("http://{local}"));
    let client: Arc<dyn Kv> = Arc::new(Client::new(store_urls));
    // The one store handle of this process: the election (and so the
    // fence of every write) and the records go through it, so a namespace
    // covers every key.
    let kv: Arc<dyn Kv> = match &flags.store_namespace {
        Some(ns) => Arc::new(Namespaced::new(client, ns)?),
        None => client,
    };
    let election = Election::new(
        Arc::clone(&kv),
        LEADER_KEY,
        me.clone(),
        Duration::from_secs(flags.leader_ttl.max(1)),
    );
    let engine = Engine::new(flags.history_count);
    let app = api::router(api::AppState {
        engine: engine.clone(),
        election: Some(election.clone()),
        me: me.clone(),
    });
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    println!("dcos chronos listening on {local} (advertised as {me})");
    let config = FrameworkConfig {
        masters,
        name: flags.framework_name.clone(),
        webui_url: me.clone(),
    };
    let leading = async {
        loop {
            let leadership = match election.campaign().await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "campaign failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            tracing::info!(%me, "leading");
            let store = Store::new(Arc::clone(&kv), Some(leadership.revision()));
            if let Err(e) = engine.take_over(store).await {
                tracing::warn!(error = %e, "could not load state; resigning");
                leadership.resign().await;
                continue;
            }
            if let Err(e) = framework::lead(engine.clone(), config.clone(), &leadership).await {
                tracing::warn!(error = %e, "leadership ended");
            }
            engine.step_down().await;
            leadership.resign().await;
        }
    };
    tokio::select! {
        () = leading => Ok(()),
        r = server => r?.context("HTTP server failed"),
        () = shutdown() => Ok(()),
    }
}

async fn shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
