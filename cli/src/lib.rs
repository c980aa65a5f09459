//! `dcos-cli`: the one `dcos` binary. It carries every component as
//! `dcos daemon <component>`, the node lifecycle (`dcos install`,
//! `status`, `uninstall`) and the DC/OS user command tree, which talks to
//! the attached cluster through its gateway.
//!
//! - [`daemon`]: the servers (`dcos daemon master`, `… supervisor`).
//! - [`install`]: `dcos install|uninstall|status` over `dcos-installer`.
//! - [`client`]: the attached cluster (`$DCOS_DIR/clusters/<id>/dcos.toml`) and its gateway client.
//! - [`cluster`]: `dcos cluster setup|list|attach|rename|remove|join-token`.
//! - [`auth`]: `dcos auth login|logout|list-providers`; [`config`]: `dcos config set|show|unset|keys` and the `DCOS_*` overrides.
//! - [`marathon`]: `dcos marathon app|group|deployment|task`.
//! - [`job`]: `dcos job …` (Metronome v1).
//! - [`package`]: `dcos package …` (the Cosmos API); [`bundle`]: `dcos package bundle …`.
//! - [`task`]: `dcos task`, `dcos node`, `dcos service`.
//! - [`security`]: `dcos security org users`.
//! - [`store`]: `dcos store ...`, the store's command-line client.
//! - [`output`]: tables for people, `--json` for scripts.
//! - [`serve`]: the master's HTTP server (axum on hyper, tuned for many connections).
//!
//! Exit codes: 0 success; 1 a runtime error; 2 a usage error; 3 not
//! logged in (no cluster attached, or the token was refused); 4 not
//! found.

pub mod auth;
pub mod bundle;
pub mod client;
pub mod cluster;
pub mod config;
pub mod daemon;
pub mod image;
pub mod install;
pub mod job;
pub mod marathon;
pub mod output;
pub mod package;
pub mod security;
pub mod serve;
pub mod store;
pub mod task;
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
    /// Install this machine as a node: preflight, config, start every
    /// component under supervision and wait until healthy.
    Install(install::InstallArgs),
    /// Stop every component, task and cgroup of this node (data kept
    /// unless --purge).
    Uninstall(install::UninstallArgs),
    /// This node's components and their health (exit code 1 if any is not healthy).
    Status(install::StatusArgs),
    /// Connect to clusters: setup (log in), list, attach, rename, remove, join-token.
    #[command(subcommand)]
    Cluster(cluster::ClusterCmd),
    /// Log in to the attached cluster, log out, list its login providers.
    #[command(subcommand)]
    Auth(auth::AuthCmd),
    /// The attached cluster's settings: set, show, unset, keys.
    #[command(subcommand)]
    Config(config::ConfigCmd),
    /// Marathon: apps, groups, deployments, tasks.
    #[command(subcommand)]
    Marathon(marathon::MarathonCmd),
    /// Jobs (Metronome v1): add, run, history, schedules.
    #[command(subcommand)]
    Job(job::JobCmd),
    /// The package catalog: search, describe, install, uninstall, list,
    /// update, repositories.
    #[command(subcommand)]
    Package(package::PackageCmd),
    /// The cluster's tasks, their logs and sandboxes.
    Task(task::TaskArgs),
    /// The cluster's nodes and component logs.
    #[command(subcommand)]
    Node(task::NodeCmd),
    /// The registered frameworks (services).
    Service(task::ServiceArgs),
    /// Users who may log in.
    #[command(subcommand)]
    Security(security::SecurityCmd),
    /// Shell completions: `dcos completion bash > /etc/bash_completion.d/dcos`.
    Completion { shell: clap_complete::Shell },
    /// An agent's container image store: import, pull, list, remove, gc.
    Image(image::ImageArgs),
}

/// An error already reported (or a plain status): exit with this code.
#[derive(Debug, thiserror::Error)]
pub enum Exit {
    #[error("exit {0}")]
    Quiet(u8),
}

/// The exit code for an error (see the crate docs).
pub fn exit_code(e: &anyhow::Error) -> u8 {
    if let Some(Exit::Quiet(c)) = e.downcast_ref::<Exit>() {
        return *c;
    }
    if let Some(a) = e.downcast_ref::<client::ApiError>() {
        return a.exit_code();
    }
    1
}

/// Runs the command line; exit codes as in the crate docs.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("DCOS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn,sqlx=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
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
            Command::Install(a) => install::install(a).await,
            Command::Uninstall(a) => install::uninstall(a).await,
            Command::Status(a) => install::status(a).await,
            Command::Cluster(c) => cluster::run(c).await,
            Command::Auth(c) => auth::run(c).await,
            Command::Config(c) => config::run(c).await,
            Command::Marathon(c) => marathon::run(c).await,
            Command::Job(c) => job::run(c).await,
            Command::Package(c) => package::run(c).await,
            Command::Task(a) => task::run_task(a).await,
            Command::Node(c) => task::run_node(c).await,
            Command::Service(a) => task::run_service(a).await,
            Command::Security(c) => security::run(c).await,
            Command::Completion { shell } => {
                use clap::CommandFactory;
                clap_complete::generate(shell, &mut Cli::command(), "dcos", &mut std::io::stdout());
                Ok(())
            }
            Command::Image(i) => image::run(i).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let code = exit_code(&e);
            if !matches!(e.downcast_ref::<Exit>(), Some(Exit::Quiet(_))) {
                eprintln!("error: {e:#}");
            }
            ExitCode::from(code)
        }
    }
}
