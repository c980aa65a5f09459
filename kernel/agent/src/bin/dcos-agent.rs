//! A standalone agent binary with the same command shape as `dcos`
//! (`dcos-agent daemon agent ...`, `dcos-agent daemon executor`), so the
//! agent's integration tests run real agent and executor processes
//! without building the whole CLI. Production uses `dcos daemon agent`.

use clap::{Parser, Subcommand};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    top: Top,
}

#[derive(Subcommand)]
enum Top {
    /// Run a server.
    #[command(subcommand)]
    Daemon(Daemon),
}

#[derive(Subcommand)]
enum Daemon {
    /// The agent.
    Agent(Box<dcos_agent::AgentFlags>),
    /// The per-task command executor.
    Executor(dcos_agent::executor::ExecutorFlags),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let Top::Daemon(d) = Cli::parse().top;
    match d {
        Daemon::Agent(flags) => {
            dcos_agent::run(*flags, async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
        }
        Daemon::Executor(flags) => dcos_agent::executor::run(flags).await,
    }
}
