//! `dcos-cli`: the one `dcos` binary. It carries every component as
//! `dcos daemon <component>` and the user command tree (`dcos store ...`
//! for now; the DC/OS tree grows with the components).
//!
//! - [`daemon`]: the servers (`dcos daemon master`).
//! - [`store`]: `dcos store ...`, the store's command-line client.
//! - [`output`]: tables for people, `--json` for scripts.
//! - [`serve`]: the master's HTTP server (axum on hyper, tuned for many connections).

pub mod daemon;
pub mod image;
pub mod output;
pub mod serve;
pub mod store;
pub mod task_exec;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "dcos",
    version,
    about = "A datacenter operating system: one computer out of many machines"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a component's server (master, ...).
    #[command(subcommand)]
    Daemon(daemon::Daemon),
    /// Read and write the replicated store (the masters' key-value state).
    Store(store::StoreArgs),
    /// An agent's container image store: import, pull, list, remove, gc.
    Image(image::ImageArgs),
}

/// Runs the command line; exit code 0 on success, 1 on a runtime error,
/// 2 on a usage error (clap's).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("DCOS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn,sqlx=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Daemon(d) => daemon::run(d).await,
            Command::Store(s) => store::run(s).await,
            Command::Image(i) => image::run(i).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
