//! `dcos-marathon`: keeps N instances of every app alive. A framework like
//! any other: it talks to the master only through the scheduler API (the
//! SDK in `dcos_api::client`), keeps its state in the store, and serves the
//! Marathon REST API v2 (default port 8080).
//!
//! | module | owns |
//! |---|---|
//! | [`app`] | the AppDefinition wire shape, defaults, ids, validation (422) |
//! | [`planner`] | pure: deployment plans, the rolling step, backoff delays |
//! | [`pod`] | the PodDefinition, its validation, its LAUNCH_GROUP and status (pure) |
//! | [`matcher`] | pure: does an instance fit an offer (resources, ports, roles, constraints) |
//! | [`health`] | Marathon-side health checks (HTTP, HTTPS, TCP): results, the grace/failure state machine, the probe |
//! | [`action`] | pure: the one action type (API changes, scheduler decisions) and `plan` |
//! | [`commit`] | a plan's writes to the store: one fenced transaction, or staged under a marker; recovery |
//! | [`state`] | the books (apps, instances, deployments, queue) and the decisions on them, clock passed in |
//! | [`history`] | pure: group versions (one small key per group and version), bounded |
//! | [`subscriptions`] | HTTP callback event subscribers: one ordered, bounded queue each |
//! | [`runtime`] | I/O: plan → commit → apply, loading, the scheduler loop, leader election |
//! | [`pods_api`] | `/v2/pods`: pods in, PodStatus out (on the app machinery) |
//! | [`api`] | the Marathon v2 HTTP API (axum), SSE events, proxying to the leader |
//!
//! See `README.md` for the pipeline and the words.

pub mod action;
pub mod api;
pub mod app;
pub mod commit;
pub mod health;
pub mod history;
pub mod matcher;
pub mod planner;
pub mod pod;
pub mod pods_api;
pub mod runtime;
pub mod state;
pub mod subscriptions;

use clap::Args;

/// Flags of `dcos daemon marathon`.
#[derive(Debug, Clone, Args)]
pub struct MarathonFlags {
    /// The master(s): `http://host:5050`, comma-separated for several.
    #[arg(long, default_value = "http://127.0.0.1:5050")]
    pub master: String,
    /// Address to serve the Marathon API on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// The host name other Marathons and clients reach this one at (real
    /// Marathon's `--hostname`); defaults to the listen address's host, or
    /// the machine's host name when listening on all interfaces.
    #[arg(long)]
    pub hostname: Option<String>,
    /// The store (comma-separated URLs); defaults to the masters, which
    /// serve the store API under `/store/v1`.
    #[arg(long)]
    pub store: Option<String>,
    /// The Mesos role to register with.
    #[arg(long, default_value = "*")]
    pub mesos_role: String,
    /// The framework name. A second Marathon on the same cluster needs
    /// its own (e.g. `marathon-user`), besides its own `--listen` and
    /// `--store-namespace`.
    #[arg(long, default_value = "marathon")]
    pub framework_name: String,
    /// Keep all state (apps, instances, the framework id, the leader
    /// election…) under this store prefix, e.g. `/tenants/marathon-user`:
    /// what lets a second Marathon ("Marathon on Marathon") share the
    /// store with the first. Default: none (keys under `/marathon`).
    #[arg(long, value_parser = parse_store_namespace)]
    pub store_namespace: Option<String>,
    /// Seconds a leader's lease lives without renewal.
    #[arg(long, default_value_t = 3.0)]
    pub leader_ttl: f64,
    /// Versions kept per group (real Marathon's `--zk_max_versions`); the
    /// oldest are pruned.
    #[arg(long, default_value_t = crate::history::DEFAULT_MAX_VERSIONS)]
    pub max_versions: usize,
}

/// `--store-namespace`: see [`dcos_store::namespace::check_namespace`].
pub fn parse_store_namespace(s: &str) -> Result<String, String> {
    dcos_store::namespace::check_namespace(s)?;
    Ok(s.to_owned())
}

/// Runs Marathon until SIGINT/SIGTERM.
pub async fn run(flags: MarathonFlags) -> anyhow::Result<()> {
    runtime::run(flags).await
}
