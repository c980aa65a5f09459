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

pub mod executor {
    //! The per-task command executor (`dcos daemon executor`, started by
    //! the agent, not by people): runs one task's command, speaks the Mesos
    //! executor HTTP API to the agent, and outlives agent restarts.

    use clap::Args;

    /// Executor flags; everything else comes from the `MESOS_*` environment.
    #[derive(Debug, Clone, Args)]
    pub struct ExecutorFlags {}

    /// Runs the executor until its task is done.
    pub async fn run(flags: ExecutorFlags) -> anyhow::Result<()> {
        let _ = flags;
        anyhow::bail!("the command executor is not implemented yet")
    }
}
