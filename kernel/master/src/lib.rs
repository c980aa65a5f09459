//! `dcos-master`: the Mesos-compatible master. It keeps the agent and
//! framework registries (durable in the store), runs the DRF allocator,
//! makes offers, tracks task state re-learned from agents, and serves the
//! scheduler API (`/api/v1/scheduler`), the operator API (`/api/v1`), the
//! agent protocol (`/agent/v1`, see [`dcos_api::agent`]) and the legacy
//! endpoints (`/master/state`, `/metrics/snapshot`, ...). It never runs
//! tasks.
//!
//! # Map
//!
//! | module | owns |
//! |---|---|
//! | [`state`] | the books as a pure state machine: inputs in, [`state::Effect`]s out |
//! | [`allocator`] | DRF over a snapshot (pure) |
//! | [`runtime`] | the lock around the books, streams, leadership, registry writes, timers, allocation loop |
//! | [`health`] | whether the master is healthy: its store has a leader and (leading) a quorum |
//! | [`http`] | routes, request parsing, the one [`http::ApiError`], redirects to the leader |
//! | [`views`] | operator API and legacy JSON shapes of the books |
//!
//! Only the store's Raft leader acts as master; other nodes redirect.

pub mod allocator;
pub mod health;
pub mod http;
pub mod runtime;
pub mod state;
pub mod views;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use clap::Args;

pub use runtime::Master;

/// The Mesos version this master reports (`/version`, `/master/state`):
/// clients gate features on it.
pub const MESOS_VERSION: &str = "1.11.0";

/// Master flags (`dcos daemon master ...`), next to the store's own.
#[derive(Debug, Clone, Args)]
pub struct MasterFlags {
    /// Seconds between agent heartbeats.
    #[arg(long, default_value_t = 15.0)]
    pub agent_ping_timeout: f64,
    /// Missed heartbeats before an agent is marked unreachable.
    #[arg(long, default_value_t = 5)]
    pub max_agent_ping_timeouts: u32,
    /// Seconds between HEARTBEAT events on scheduler and operator streams.
    #[arg(long, default_value_t = 15.0)]
    pub framework_heartbeat_interval: f64,
}

impl Default for MasterFlags {
    fn default() -> Self {
        MasterFlags {
            agent_ping_timeout: 15.0,
            max_agent_ping_timeouts: 5,
            framework_heartbeat_interval: 15.0,
        }
    }
}

impl MasterFlags {
    /// The flags as `/master/flags` and GET_FLAGS show them.
    pub fn as_map(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (
                "agent_ping_timeout".into(),
                format!("{}secs", self.agent_ping_timeout),
            ),
            (
                "max_agent_ping_timeouts".into(),
                self.max_agent_ping_timeouts.to_string(),
            ),
            (
                "framework_heartbeat_interval".into(),
                format!("{}secs", self.framework_heartbeat_interval),
            ),
            ("allocation_interval".into(), "1secs".into()),
            ("allocator".into(), "hierarchical".into()),
            ("registry".into(), "replicated_store".into()),
        ])
    }
}

/// The master's HTTP routes (merged with the store's by `dcos daemon master`).
pub fn router(master: Arc<Master>) -> Router {
    http::router(master)
}
