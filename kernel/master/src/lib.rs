//! `dcos-master`: the Mesos-compatible master. It keeps the agent and
//! framework registries (durable in the store), runs the DRF allocator,
//! makes offers, tracks task state re-learned from agents, and serves the
//! scheduler API (`/api/v1/scheduler`), the operator API (`/api/v1`), the
//! agent protocol (`/agent/v1`, see [`dcos_api::agent`]) and the legacy
//! endpoints (`/master/state`, `/metrics/snapshot`, ...). It never runs
//! tasks.

pub mod allocator;

use std::sync::Arc;

use axum::Router;
use clap::Args;
use dcos_store::StoreNode;

/// Master flags (`dcos daemon master ...`), next to the store's own.
#[derive(Debug, Clone, Args)]
pub struct MasterFlags {
    /// Seconds between agent heartbeats.
    #[arg(long, default_value_t = 15.0)]
    pub agent_ping_timeout: f64,
    /// Missed heartbeats before an agent is marked unreachable.
    #[arg(long, default_value_t = 5)]
    pub max_agent_ping_timeouts: u32,
}

/// A running master.
#[derive(Debug)]
pub struct Master {
    node: Arc<StoreNode>,
    flags: MasterFlags,
}

impl Master {
    /// Starts the master on a store node (which may not be the leader yet).
    pub async fn start(node: Arc<StoreNode>, flags: MasterFlags) -> anyhow::Result<Arc<Master>> {
        Ok(Arc::new(Master { node, flags }))
    }

    /// The store node under this master.
    pub fn node(&self) -> &Arc<StoreNode> {
        &self.node
    }

    /// The flags it runs with.
    pub fn flags(&self) -> &MasterFlags {
        &self.flags
    }
}

/// The master's HTTP routes (merged with the store's by `dcos daemon master`).
pub fn router(master: Arc<Master>) -> Router {
    let _ = master;
    Router::new()
}
