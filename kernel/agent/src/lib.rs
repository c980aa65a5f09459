//! `dcos-agent`: runs tasks for the master. It registers (agent-initiated
//! connection, see [`dcos_api::agent`]), offers the machine's resources,
//! runs each task through a per-task executor process inside cgroups,
//! keeps sandboxes, fetches URIs, checkpoints and retries status updates,
//! recovers after its own restart, and serves `/files`. It never decides
//! placement.
//!
//! Modules:
//! - [`agent`]: the core — master events and executor calls in; launches,
//!   kills, checkpoints and status updates out.
//! - [`state`]: task records and the per-task status-update stream (pure).
//! - [`checkpoint`]: the SQLite checkpoint with group commit.
//! - [`master`]: the connection to the master (subscribe, redirects,
//!   backoff, heartbeats, calls).
//! - [`http`]: the agent's HTTP server; [`files`]: sandbox-confined files.
//! - [`container`]: the executor's side of the native containerizer
//!   (image tasks run in OCI containers through `dcos-containerizer`).
//! - [`isolator`]: cgroups (v1/v2) behind a trait; [`launcher`]: executor
//!   processes behind a trait; [`fetcher`]: `CommandInfo.uris`;
//!   [`health`]: task health checks (run by the executor).
//! - [`detect`]: resources and attributes; [`executor`]: the command
//!   executor process (`dcos daemon executor`).
//! - [`hollow`]: `--hollow N`, one process simulating N agents with a fake
//!   executor, for scale tests and benchmarks.

pub mod agent;
pub mod checkpoint;
pub mod container;
pub mod detect;
pub mod docker;
pub mod executor;
pub mod fetcher;
pub mod files;
pub mod gc;
pub mod health;
pub mod hollow;
pub mod http;
pub mod isolator;
pub mod launcher;
pub mod master;
pub mod state;

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use dcos_api::v1::AgentInfo;

use crate::agent::{Agent, Config};
use crate::checkpoint::Checkpoint;
use crate::isolator::{CgroupsIsolator, Isolator, NoIsolation};
use crate::launcher::ProcessLauncher;

/// Agent flags (`dcos daemon agent ...`). Mesos' underscore spellings are
/// accepted as aliases.
#[derive(Debug, Clone, Args)]
pub struct AgentFlags {
    /// The master(s) to register with: a URL, or a comma-separated list
    /// tried in turn (any master will do; followers redirect to the leader).
    #[arg(long, env = "DCOS_MASTER")]
    pub master: String,
    /// Simulate this many agents in this one process, with a fake executor
    /// (tasks RUNNING at once; finished after their
    /// `hollow_duration_seconds` label, or when killed). For scale tests.
    #[arg(long)]
    pub hollow: Option<usize>,
    /// Address to listen on for `/files`, `/state` and the executor API.
    #[arg(long, default_value = "127.0.0.1:5051")]
    pub listen: String,
    /// Where sandboxes and checkpoints live.
    #[arg(
        long,
        alias = "work_dir",
        env = "DCOS_WORK_DIR",
        default_value = "/var/lib/dcos/agent"
    )]
    pub work_dir: std::path::PathBuf,
    /// Resources in Mesos syntax (`cpus:4;mem:8192;disk:10000;ports:[31000-32000]`);
    /// what is not given is detected from the machine.
    #[arg(long)]
    pub resources: Option<String>,
    /// Attributes (`rack:r1;zone:a`).
    #[arg(long)]
    pub attributes: Option<String>,
    /// Hostname to report (default: the machine's).
    #[arg(long)]
    pub hostname: Option<String>,
    /// URL the master and UI use to reach this agent's HTTP server
    /// (default: `http://<listen address>`).
    #[arg(long)]
    pub advertise: Option<String>,
    /// `auto` (cgroups when the agent may create them, else none),
    /// `cgroups` (required; Mesos' `cgroups/cpu,cgroups/mem` also works),
    /// or `none` (`posix/cpu,posix/mem`).
    #[arg(long, default_value = "auto")]
    pub isolation: String,
    /// Parent cgroup of every container.
    #[arg(long, alias = "cgroups_root", default_value = "dcos")]
    pub cgroups_root: String,
    /// First re-send interval of an unacknowledged status update (doubles
    /// per attempt, up to 10 minutes), in Mesos duration syntax.
    #[arg(long, alias = "status_update_retry_interval", default_value = "10secs")]
    pub status_update_retry_interval: String,
    /// How long executors keep their tasks while the agent is away.
    #[arg(long, alias = "recovery_timeout", default_value = "15mins")]
    pub recovery_timeout: String,
    /// How long the sandbox of a finished container is kept after it was
    /// last written to (Mesos' `--gc_delay`).
    #[arg(long, alias = "gc_delay", default_value = "1weeks")]
    pub gc_delay: String,
    /// Containerizer flags (boxed: they are seldom given).
    #[command(flatten)]
    pub containers: Box<ContainerFlags>,
}

/// The containerizers' flags.
#[derive(Debug, Clone, Args)]
pub struct ContainerFlags {
    /// Containerizers, in order of preference: `mesos` (the native one:
    /// OCI images run with libcontainer) and `docker`. DOCKER containers
    /// run natively when no Docker engine serves them.
    #[arg(long, default_value = "mesos")]
    pub containerizers: String,
    /// The image store (default `<work_dir>/images`).
    #[arg(long, alias = "image_store_dir")]
    pub image_store_dir: Option<std::path::PathBuf>,
    /// The Docker engine's socket, used for DOCKER containers when
    /// `--containerizers` includes `docker` and the engine answers.
    #[arg(long, alias = "docker_socket", default_value = "/var/run/docker.sock")]
    pub docker_socket: std::path::PathBuf,
}

/// The `--containerizers` list, checked.
fn containerizers(flags: &AgentFlags) -> anyhow::Result<Vec<String>> {
    let list: Vec<String> = flags
        .containers
        .containerizers
        .split(',')
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .collect();
    for c in &list {
        if c != "mesos" && c != "docker" {
            anyhow::bail!("--containerizers: unknown containerizer '{c}' (known: mesos, docker)");
        }
    }
    if !list.iter().any(|c| c == "mesos") {
        anyhow::bail!(
            "--containerizers={}: the mesos containerizer is required (it runs command tasks)",
            flags.containers.containerizers
        );
    }
    Ok(list)
}

fn duration_flag(name: &str, value: &str) -> anyhow::Result<Duration> {
    dcos_api::executor::parse_duration(value)
        .with_context(|| format!("--{name}: '{value}' is not a duration like 10secs"))
}

fn isolator(flags: &AgentFlags) -> anyhow::Result<Arc<dyn Isolator>> {
    let want = flags.isolation.as_str();
    if want == "none" || want.starts_with("posix") {
        return Ok(Arc::new(NoIsolation));
    }
    match CgroupsIsolator::detect(&flags.cgroups_root) {
        Some(c) => Ok(Arc::new(c)),
        None if want == "auto" => {
            tracing::warn!("cgroups are not available to this agent; running tasks without limits");
            Ok(Arc::new(NoIsolation))
        }
        None => anyhow::bail!("--isolation={want}: cannot create cgroups on this machine"),
    }
}

/// How long an agent asked to stop (`shutdown` resolved: SIGTERM or
/// SIGINT in `dcos daemon agent`; or the master's SHUTDOWN) may take to
/// exit, whatever state its master and executors are in. Within it,
/// in-flight HTTP requests finish and the executors' event streams are
/// closed (they re-subscribe to the next agent, as after a crash); then
/// [`run`] returns, and a deadline armed when the stop began ends the
/// process if anything still holds it (a blocking task the runtime waits
/// for). Everything acknowledged is already in the checkpoint, and the
/// tasks keep running: stopping an agent loses nothing.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// Part of [`SHUTDOWN_GRACE`] the HTTP server gets to finish its requests
/// (the rest is for returning and dropping the runtime).
const SERVER_DRAIN: Duration = Duration::from_secs(2);

/// Ends the process `grace` from now, from a thread of its own (a wedged
/// runtime cannot hold it back). The process is exiting anyway; this
/// bounds how long that may take.
fn arm_exit_deadline(grace: Duration) {
    let spawned = std::thread::Builder::new()
        .name("agent-exit-deadline".into())
        .spawn(move || {
            std::thread::sleep(grace);
            tracing::warn!(
                "the agent did not stop within {grace:?} of being asked to; exiting now"
            );
            std::process::exit(0);
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot arm the shutdown deadline: {e}");
    }
}

/// Runs an agent until `shutdown` resolves (or the master shuts it down).
///
/// It owns the process: once stopping, it arms a deadline after which the
/// process exits ([`SHUTDOWN_GRACE`]). Call it only from a binary.
pub async fn run(
    flags: AgentFlags,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    if let Some(count) = flags.hollow {
        let resources = match flags.resources.as_deref() {
            Some(text) => dcos_api::resources::Resources::parse(text, "*")
                .map_err(|e| anyhow::anyhow!("--resources: {e}"))?,
            None => dcos_api::resources::Resources::parse("cpus:8;mem:16384;disk:100000", "*")
                .map_err(|e| anyhow::anyhow!("{e}"))?,
        };
        let cfg = hollow::HollowConfig {
            master: flags
                .master
                .split(',')
                .next()
                .unwrap_or_default()
                .trim_end_matches('/')
                .to_owned(),
            count,
            resources,
            hostname: flags.hostname.clone().unwrap_or_else(|| "hollow".into()),
            senders: 64,
        };
        return hollow::run(cfg, shutdown).await;
    }
    std::fs::create_dir_all(&flags.work_dir)
        .with_context(|| format!("creating {}", flags.work_dir.display()))?;
    let work_dir = flags.work_dir.canonicalize()?;
    let retry_interval = duration_flag(
        "status_update_retry_interval",
        &flags.status_update_retry_interval,
    )?;
    let recovery_timeout = duration_flag("recovery_timeout", &flags.recovery_timeout)?;
    let gc_delay = duration_flag("gc_delay", &flags.gc_delay)?;
    let resources = detect::resources(flags.resources.as_deref(), &work_dir)?;
    let attributes = detect::attributes(flags.attributes.as_deref())?;
    let isolator = isolator(&flags)?;
    let containerizers = containerizers(&flags)?;
    let docker_socket = containerizers
        .iter()
        .any(|c| c == "docker")
        .then(|| flags.containers.docker_socket.clone());
    if let Some(sock) = &docker_socket {
        tracing::info!(
            "--containerizers includes docker: DOCKER containers run on the engine at {} when it answers, natively otherwise",
            sock.display()
        );
    }
    let image_store = flags
        .containers
        .image_store_dir
        .clone()
        .unwrap_or_else(|| work_dir.join("images"));
    let provisioner = work_dir.join("provisioner");
    dcos_containerizer::store::ImageStore::open(&image_store)
        .with_context(|| format!("opening the image store at {}", image_store.display()))?;

    let listener = tokio::net::TcpListener::bind(&flags.listen)
        .await
        .with_context(|| format!("listening on {}", flags.listen))?;
    let local = listener.local_addr()?;
    let hostname = match &flags.hostname {
        Some(h) => h.clone(),
        None => nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "localhost".into()),
    };
    let reach_ip = if local.ip().is_unspecified() {
        "127.0.0.1".to_owned()
    } else {
        local.ip().to_string()
    };
    let executor_endpoint = format!("{reach_ip}:{}", local.port());
    let endpoint = flags
        .advertise
        .clone()
        .unwrap_or_else(|| format!("http://{executor_endpoint}"));

    let (checkpoint, stored) = Checkpoint::open(&work_dir.join("meta")).await?;
    let exe = std::env::current_exe().context("locating the executor binary")?;
    let cfg = Config {
        work_dir,
        agent_info: AgentInfo {
            hostname,
            port: Some(i32::from(local.port())),
            resources,
            attributes,
            id: None,
            domain: None,
        },
        endpoint: endpoint.clone(),
        executor_endpoint,
        retry_interval,
        recovery_timeout,
        gc_delay,
        executor_command: (exe, vec!["daemon".into(), "executor".into()]),
        containers: agent::ContainerConfig {
            provisioner,
            image_store,
            cgroups_parent: flags.cgroups_root.clone(),
            docker_socket,
        },
    };
    let (agent, outbox) = Agent::new(cfg, checkpoint, stored, isolator, Arc::new(ProcessLauncher));
    agent.recover();
    agent.collect_garbage();

    let stop = agent.stop.clone();
    tokio::spawn({
        let stop = stop.clone();
        async move {
            shutdown.await;
            stop.cancel();
        }
    });
    tokio::spawn({
        let stop = stop.clone();
        async move {
            stop.cancelled().await;
            tracing::info!("agent stopping (within {SHUTDOWN_GRACE:?})");
            arm_exit_deadline(SHUTDOWN_GRACE);
        }
    });
    let mut server = {
        let stop = stop.clone();
        let app = http::router(agent.clone());
        tokio::spawn(async move {
            axum::serve(listener, app.into_make_service())
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
        })
    };
    tokio::spawn({
        let agent = agent.clone();
        let stop = stop.clone();
        async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tick.tick() => agent.retry_due(std::time::Instant::now()),
                }
            }
        }
    });
    let listen_url = endpoint;
    master::run(
        agent.clone(),
        flags.master.clone(),
        outbox,
        move |id, master| {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(
                out,
                "dcos agent {id} registered with {master} (listening on {listen_url})"
            );
            let _ = out.flush();
        },
    )
    .await;
    stop.cancel();
    // Executor streams end on `stop`; a request still running after the
    // drain time (a long `/files` download, an exec) is cut off.
    tokio::select! {
        _ = &mut server => {}
        _ = tokio::time::sleep(SERVER_DRAIN) => {
            tracing::warn!("HTTP requests still running after {SERVER_DRAIN:?}; closing them");
            server.abort();
        }
    }
    Ok(())
}
