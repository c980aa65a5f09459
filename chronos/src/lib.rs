//! `dcos-chronos`: a distributed cron with job dependencies. A framework
//! like any other: it talks to the master only through the scheduler API
//! (the SDK in `dcos_api::client`), keeps its state in the store, and serves
//! the Chronos v1 and Metronome v1 APIs (default port 4400).

pub mod core;
pub mod graph;
pub mod job;
pub mod run;
pub mod schedule;
pub mod store;

use clap::Args;

/// Flags of `dcos daemon chronos`.
#[derive(Debug, Clone, Args)]
pub struct ChronosFlags {
    /// The master(s): `http://host:5050`, comma-separated for several.
    #[arg(long, default_value = "http://127.0.0.1:5050")]
    pub master: String,
    /// Address to serve the Chronos and Metronome APIs on.
    #[arg(long, default_value = "127.0.0.1:4400")]
    pub listen: String,
}

/// Runs Chronos until SIGINT/SIGTERM.
pub async fn run(flags: ChronosFlags) -> anyhow::Result<()> {
    anyhow::bail!(
        "dcos daemon chronos (master {}) is being built; not available in this build",
        flags.master
    )
}
