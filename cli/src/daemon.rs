//! `dcos daemon <component>`: the servers. Each parses its flags, starts
//! its library, serves until SIGINT/SIGTERM and shuts down gracefully.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use dcos_store::{NodeConfig, StoreNode};

#[derive(Debug, Subcommand)]
pub enum Daemon {
    /// A master: a replicated store member (Raft over SQLite, HTTP API under
    /// /store/) and the Mesos-compatible master on the same port.
    Master(MasterArgs),
    /// An agent: runs tasks for the master (default port 5051).
    Agent(dcos_agent::AgentFlags),
    /// A whole cluster on this machine: a master, an agent, Marathon and
    /// Chronos as child processes, data under one directory. Ctrl-C stops
    /// them all (tasks keep running under their executors and are
    /// recovered at the next start).
    Local(LocalArgs),
    /// Marathon: keeps N instances of every app alive (Marathon REST v2,
    /// default port 8080).
    Marathon(dcos_marathon::MarathonFlags),
    /// Chronos: scheduled and dependent jobs (Chronos v1 and Metronome v1
    /// APIs, default port 4400).
    Chronos(dcos_chronos::ChronosFlags),
    /// Cosmos: the package manager (Universe repositories, the Cosmos
    /// API; installs through Marathon; default port 7070).
    Cosmos(dcos_packaging::CosmosFlags),
    /// The node supervisor `dcos install` starts where systemd does not
    /// run: keeps the components in `<data-dir>/config.toml` running.
    Supervisor(SupervisorArgs),
    /// The gateway: the cluster's one front door (DC/OS Admin Router paths,
    /// login and tokens, node join; default port 80).
    Gateway(dcos_gateway::GatewayArgs),
    /// The per-task command executor (started by the agent).
    #[command(hide = true)]
    Executor(dcos_agent::executor::ExecutorFlags),
}

#[derive(Debug, Args)]
pub struct MasterArgs {
    /// Directory for the node's SQLite file and id.
    #[arg(long, env = "DCOS_DATA_DIR", default_value = "/var/lib/dcos/master")]
    pub data_dir: PathBuf,
    /// Address to listen on (`host:port`; port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:5050")]
    pub listen: String,
    /// Address other nodes reach this one at; defaults to the listen address.
    #[arg(long)]
    pub advertise: Option<String>,
    /// URL of any member of an existing cluster to join. Without it, the
    /// first start makes a new one-node cluster.
    #[arg(long)]
    pub join: Option<String>,
    /// Join as a non-voting learner.
    #[arg(long, requires = "join")]
    pub learner: bool,
    /// Fix this node's id (otherwise chosen at first start and kept).
    #[arg(long)]
    pub node_id: Option<u64>,
    /// Log entries between snapshots (the log is compacted behind them).
    #[arg(long, default_value_t = 10_000)]
    pub snapshot_every: u64,
    #[command(flatten)]
    pub master: dcos_master::MasterFlags,
}

#[derive(Debug, Args)]
pub struct SupervisorArgs {
    /// The data dir `dcos install` wrote config.toml to.
    #[arg(long, env = "DCOS_DATA_DIR", default_value = "/var/lib/dcos")]
    pub data_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct LocalArgs {
    /// Everything lives here: `<dir>/master` and `<dir>/agent`.
    #[arg(long, default_value = "./data")]
    pub data_dir: PathBuf,
    /// The master's address (the agent listens on the next port).
    #[arg(long, default_value = "127.0.0.1:5050")]
    pub listen: String,
    /// Agent resources in Mesos syntax; detected from the machine if absent.
    #[arg(long)]
    pub resources: Option<String>,
    /// Marathon's address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub marathon_listen: String,
    /// Chronos' address (Chronos v1 and Metronome v1 APIs).
    #[arg(long, default_value = "127.0.0.1:4400")]
    pub chronos_listen: String,
}

pub async fn run(daemon: Daemon) -> anyhow::Result<()> {
    match daemon {
        Daemon::Master(args) => master(args).await,
        Daemon::Agent(flags) => {
            raise_fd_limit();
            dcos_agent::run(flags, shutdown_signal()).await
        }
        Daemon::Local(args) => local(args).await,
        Daemon::Marathon(flags) => dcos_marathon::run(flags).await,
        Daemon::Chronos(flags) => dcos_chronos::run(flags).await,
        Daemon::Cosmos(flags) => dcos_packaging::run(flags).await,
        Daemon::Supervisor(args) => Ok(dcos_installer::supervisor::run(&args.data_dir).await?),
        Daemon::Gateway(args) => {
            raise_fd_limit();
            dcos_gateway::run(args).await
        }
        Daemon::Executor(flags) => dcos_agent::executor::run(flags).await,
    }
}

async fn master(args: MasterArgs) -> anyhow::Result<()> {
    raise_fd_limit();
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}: is another process using the port?",
                args.listen
            )
        })?;
    let local = listener.local_addr()?;
    let advertise = match args.advertise {
        Some(a) => a,
        None if local.ip().is_unspecified() => {
            anyhow::bail!(
                "listening on {local}: give --advertise with an address other nodes can reach"
            )
        }
        None => local.to_string(),
    };
    let mut cfg = NodeConfig::new(&args.data_dir, advertise.clone());
    cfg.node_id = args.node_id;
    cfg.snapshot_every = args.snapshot_every;
    let node = StoreNode::start(cfg)
        .await
        .with_context(|| format!("cannot open the store in {}", args.data_dir.display()))?;

    let master = dcos_master::Master::start(Arc::clone(&node), args.master.clone()).await?;
    let app = dcos_store::http::router(Arc::clone(&node)).merge(dcos_master::router(master));
    let shutdown = shutdown_signal();
    let server = tokio::spawn(crate::serve::serve(listener, app, shutdown));

    let initialized = node.raft().is_initialized().await?;
    match (&args.join, initialized) {
        (_, true) => tracing::info!(id = node.id(), "restarting with existing state"),
        (Some(seed), false) => {
            tracing::info!(id = node.id(), seed = %seed, "joining the cluster");
            node.join(seed, args.learner).await?;
        }
        (None, false) => {
            tracing::info!(id = node.id(), "starting a new one-node cluster");
            node.bootstrap().await?;
        }
    }
    // One line on stdout that scripts and tests wait for.
    println!("dcos master {} listening on http://{advertise}", node.id());

    let served = server.await;
    node.shutdown().await;
    served??;
    Ok(())
}

/// `dcos daemon local`: starts `dcos daemon master`, then the agent,
/// Marathon and Chronos as children, passes their output through, and
/// stops them all on SIGINT/SIGTERM or when one exits.
async fn local(args: LocalArgs) -> anyhow::Result<()> {
    use tokio::process::{Child, Command};

    let exe = std::env::current_exe().context("locating the dcos binary")?;
    let (host, port) = args
        .listen
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
        .context("--listen must be host:port")?;
    let master_url = format!("http://{host}:{port}");
    let agent_listen = format!("{host}:{}", port + 1);

    let mut master = Command::new(&exe);
    master
        .args(["daemon", "master", "--listen", &args.listen, "--data-dir"])
        .arg(args.data_dir.join("master"));
    let mut agent = Command::new(&exe);
    agent
        .args([
            "daemon",
            "agent",
            "--master",
            &master_url,
            "--listen",
            &agent_listen,
        ])
        .arg("--work-dir")
        .arg(std::path::absolute(args.data_dir.join("agent"))?);
    if let Some(r) = &args.resources {
        agent.args(["--resources", r]);
    }
    let mut marathon = Command::new(&exe);
    marathon
        .args(["daemon", "marathon", "--master", &master_url])
        .args(["--listen", &args.marathon_listen]);
    let mut chronos = Command::new(&exe);
    chronos
        .args(["daemon", "chronos", "--master", &master_url])
        .args(["--listen", &args.chronos_listen]);

    // The master first: the others need its store.
    let mut children: Vec<(&str, Child)> = Vec::new();
    for (name, cmd, ready) in [
        ("master", &mut master, Some("listening on")),
        ("agent", &mut agent, None),
        ("marathon", &mut marathon, Some("listening on")),
        ("chronos", &mut chronos, Some("listening on")),
    ] {
        let child = spawn_passing_output(name, cmd, ready).await?;
        children.push((name, child));
    }
    println!(
        "local cluster: master {master_url}, agent http://{agent_listen}, marathon http://{}, chronos http://{} (Ctrl-C stops them all)",
        args.marathon_listen, args.chronos_listen
    );
    let exited = futures::future::select_all(
        children
            .iter_mut()
            .map(|(name, child)| Box::pin(async move { (*name, child.wait().await) })),
    );
    let result = tokio::select! {
        _ = shutdown_signal() => Ok(()),
        ((name, status), _, _) = exited => Err(anyhow::anyhow!("the {name} exited: {}", status?)),
    };
    // Stop in reverse order: frameworks, agent, then the master.
    for (_, child) in children.iter_mut().rev() {
        if let Some(pid) = child.id() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), child.wait()).await;
    }
    result
}

/// Starts a component, copies its stdout to ours, and (with `ready`)
/// waits for the line that says it is serving.
async fn spawn_passing_output(
    name: &str,
    cmd: &mut tokio::process::Command,
    ready: Option<&str>,
) -> anyhow::Result<tokio::process::Child> {
    use tokio::io::{AsyncBufReadExt, BufReader};

    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting the {name}"))?;
    let mut lines = BufReader::new(child.stdout.take().context("child stdout")?).lines();
    if let Some(ready) = ready {
        loop {
            match lines.next_line().await? {
                Some(line) => {
                    println!("{line}");
                    if line.contains(ready) {
                        break;
                    }
                }
                None => anyhow::bail!("the {name} exited before it was ready (see its log above)"),
            }
        }
    }
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            println!("{line}");
        }
    });
    Ok(child)
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(_) => {
                        let _ = ctrl_c.await;
                        return;
                    }
                };
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = ctrl_c.await;
        }
        tracing::info!("shutting down");
    }
}

/// Thousands of agents mean thousands of connections: raise the soft
/// file-descriptor limit to the hard one.
fn raise_fd_limit() {
    use rlimit::Resource;
    if let Ok((soft, hard)) = Resource::NOFILE.get() {
        if soft < hard {
            if let Err(e) = Resource::NOFILE.set(hard, hard) {
                tracing::warn!(error = %e, "could not raise the open-file limit");
            }
        }
    }
}
