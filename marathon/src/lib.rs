//! `dcos-marathon`: keeps N instances of every app alive. A framework like
//! any other: it talks to the master only through the scheduler API (the
//! SDK in `dcos_api::client`), keeps its state in the store, and serves the
//! Marathon REST API v2 (default port 8080).

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
}

/// Runs Marathon until SIGINT/SIGTERM.
pub async fn run(flags: MarathonFlags) -> anyhow::Result<()> {
    anyhow::bail!(
        "dcos daemon marathon (master {}) is being built; not available in this build",
        flags.master
    )
}
