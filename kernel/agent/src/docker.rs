//! The Docker containerizer, driven from the per-task executor: a task
//! with `container.type: DOCKER` runs as the Docker container
//! `mesos-<container id>` through the Docker Engine API (bollard) when the
//! agent names a reachable engine (`DCOS_DOCKER_SOCKET`, from
//! `--containerizers=docker,...` and `--docker-socket`). Otherwise the
//! executor falls back to the native containerizer.
//!
//! Lifecycle: pull when the image is missing (or `force_pull_image`),
//! create (cpus → `CpuShares` and `NanoCpus`, mem → `Memory`, the task's
//! environment plus `MESOS_SANDBOX`, the sandbox bind-mounted at
//! `/mnt/mesos/sandbox` and used as working directory, host network unless
//! `NONE`; a shell command runs as `/bin/sh -c <cmd>`, otherwise the
//! value and arguments are the image entrypoint's arguments, as in Mesos),
//! start, logs appended to the sandbox's `stdout`/`stderr`, wait, inspect
//! (exit code, `OOMKilled`), remove. Kill is `stop` with the grace period.
//!
//! The executor process owns the container, so it survives agent
//! restarts with the executor.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, EventsOptions, KillContainerOptions, LogsOptions,
    RemoveContainerOptions, StopContainerOptions,
};
use bollard::{ClientVersion, Docker};
use dcos_api::resources::Resources;
use dcos_api::v1::{ContainerType, DockerNetwork, TaskInfo};
use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;

/// Where the sandbox is mounted inside the container (Mesos' path).
pub const SANDBOX_IN_CONTAINER: &str = "/mnt/mesos/sandbox";

/// Docker 20.10 speaks up to 1.41; newer engines accept it too.
const API_VERSION: ClientVersion = ClientVersion {
    major_version: 1,
    minor_version: 41,
};

/// The container's name for a Mesos container id.
pub fn container_name(container_id: &str) -> String {
    format!("mesos-{container_id}")
}

/// A client for the engine at `socket`, if it answers `/_ping` quickly.
pub async fn connect(socket: &Path) -> Option<Docker> {
    let path = socket.to_str()?;
    let docker = Docker::connect_with_unix(path, 120, &API_VERSION).ok()?;
    match tokio::time::timeout(Duration::from_secs(3), docker.ping()).await {
        Ok(Ok(_)) => Some(docker),
        Ok(Err(e)) => {
            tracing::info!("docker engine at {path} does not answer: {e}");
            None
        }
        Err(_) => None,
    }
}

/// The engine for a DOCKER task, when the agent configured a reachable one.
pub async fn engine_for(task: &TaskInfo) -> Option<Docker> {
    let c = task.container.as_ref()?;
    if c.kind != ContainerType::Docker || c.docker.is_none() {
        return None;
    }
    let socket = std::env::var("DCOS_DOCKER_SOCKET").ok()?;
    connect(Path::new(&socket)).await
}

/// Removes the container of a Mesos container id whose executor is
/// gone, if the engine has it.
pub async fn remove_leftover(socket: &Path, container_id: &str) {
    let Some(docker) = connect(socket).await else {
        return;
    };
    let name = container_name(container_id);
    match docker.remove_container(&name, Some(remove_opts())).await {
        Ok(()) => tracing::info!("removed docker container {name} of a terminated executor"),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => {}
        Err(e) => tracing::warn!("docker rm -f {name}: {e}"),
    }
}

/// The reference with `:latest` when it names no tag or digest (a pull
/// without a tag would fetch every tag).
pub fn with_tag(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    if last.contains(':') || last.contains('@') {
        image.to_owned()
    } else {
        format!("{image}:latest")
    }
}

/// How a container ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerExit {
    /// The engine lost track of it.
    Lost(String),
    /// It ran and exited with this code; `oom` when the kernel killed it
    /// for its memory limit.
    Exited { code: i64, oom: bool },
}

/// A running (or starting) container, driven by a background task.
pub struct DockerTask {
    docker: Docker,
    name: String,
    exit: Option<oneshot::Receiver<DockerExit>>,
}

/// What `create` gets from a task.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub image: String,
    pub force_pull: bool,
    pub body: ContainerCreateBody,
}

/// The container's configuration for a task (pure).
pub fn spec(
    task: &TaskInfo,
    sandbox: &Path,
    vars: std::collections::BTreeMap<String, String>,
) -> Result<Spec, String> {
    let Some(d) = task.container.as_ref().and_then(|c| c.docker.as_ref()) else {
        return Err("a DOCKER container needs container.docker.image".into());
    };
    let mut env: Vec<String> = vars
        .into_iter()
        .filter(|(k, _)| k != "MESOS_SANDBOX")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    env.push(format!("MESOS_SANDBOX={SANDBOX_IN_CONTAINER}"));
    let (entrypoint, cmd) = match &task.command {
        Some(c) if c.is_shell() => match &c.value {
            Some(v) => (
                Some(vec!["/bin/sh".to_owned(), "-c".to_owned()]),
                Some(vec![v.clone()]),
            ),
            None => (None, None),
        },
        Some(c) => {
            let mut args: Vec<String> = c.value.iter().cloned().collect();
            args.extend(c.arguments.iter().cloned());
            (None, (!args.is_empty()).then_some(args))
        }
        None => (None, None),
    };
    let res = Resources::try_from_vec(task.resources.clone()).ok();
    let cpus = res.as_ref().and_then(|r| r.cpus());
    let mem = res.as_ref().and_then(|r| r.mem());
    let network = match d.network() {
        DockerNetwork::None => "none",
        _ => "host",
    };
    let host_config = HostConfig {
        binds: Some(vec![format!(
            "{}:{SANDBOX_IN_CONTAINER}",
            sandbox.display()
        )]),
        network_mode: Some(network.to_owned()),
        cpu_shares: cpus.map(|c| ((c * 1024.0) as i64).max(2)),
        nano_cpus: cpus.map(|c| (c * 1e9) as i64),
        memory: mem.map(|m| ((m * 1024.0 * 1024.0) as i64).max(4 << 20)),
        privileged: d.privileged,
        ..Default::default()
    };
    Ok(Spec {
        image: d.image.clone(),
        force_pull: d.force_pull_image.unwrap_or(false),
        body: ContainerCreateBody {
            image: Some(d.image.clone()),
            env: Some(env),
            entrypoint,
            cmd,
            working_dir: Some(SANDBOX_IN_CONTAINER.to_owned()),
            labels: Some(
                [("io.dcos.task_id".to_owned(), task.task_id.value.clone())]
                    .into_iter()
                    .collect(),
            ),
            host_config: Some(host_config),
            ..Default::default()
        },
    })
}

impl DockerTask {
    /// Pulls the image when needed, creates and starts the container,
    /// then follows it in the background; `Err` says what failed.
    pub async fn start(
        docker: Docker,
        container_id: &str,
        spec: Spec,
        sandbox: PathBuf,
    ) -> Result<Self, String> {
        let name = container_name(container_id);
        let (oom_watch, oom_seen) = create_and_start(&docker, &name, spec).await?;
        let (tx, rx) = oneshot::channel();
        let d = docker.clone();
        let n = name.clone();
        tokio::spawn(async move {
            let exit = follow(&d, &n, &sandbox, oom_watch, oom_seen).await;
            let _ = tx.send(exit);
        });
        Ok(Self {
            docker,
            name,
            exit: Some(rx),
        })
    }

    /// Waits for the container to end (pending once it was reported).
    pub async fn wait(&mut self) -> DockerExit {
        match self.exit.as_mut() {
            Some(rx) => {
                let r = rx
                    .await
                    .unwrap_or_else(|_| DockerExit::Lost("the docker driver went away".into()));
                self.exit = None;
                r
            }
            None => futures::future::pending().await,
        }
    }

    /// `docker stop -t <grace>` in the background.
    pub fn stop(&self, grace: Duration) {
        let d = self.docker.clone();
        let n = self.name.clone();
        let t = grace.as_secs().max(1) as i32;
        tokio::spawn(async move {
            let opts = StopContainerOptions {
                t: Some(t),
                ..Default::default()
            };
            if let Err(e) = d.stop_container(&n, Some(opts)).await {
                tracing::info!("docker stop {n}: {e}");
            }
        });
    }

    /// `docker kill`, waited for.
    pub async fn kill_now(&self) {
        let opts = KillContainerOptions {
            signal: "SIGKILL".into(),
        };
        let _ = self.docker.kill_container(&self.name, Some(opts)).await;
    }

    /// `docker kill` in the background.
    pub fn kill(&self) {
        let d = self.docker.clone();
        let n = self.name.clone();
        tokio::spawn(async move {
            let opts = KillContainerOptions {
                signal: "SIGKILL".into(),
            };
            let _ = d.kill_container(&n, Some(opts)).await;
        });
    }
}

fn remove_opts() -> RemoveContainerOptions {
    RemoveContainerOptions {
        force: true,
        v: true,
        ..Default::default()
    }
}

type OomWatch = (
    tokio::task::JoinHandle<()>,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
);

async fn create_and_start(docker: &Docker, name: &str, spec: Spec) -> Result<OomWatch, String> {
    // A leftover of an earlier attempt with the same id.
    let _ = docker.remove_container(name, Some(remove_opts())).await;
    if spec.force_pull || docker.inspect_image(&spec.image).await.is_err() {
        let opts = CreateImageOptions {
            from_image: Some(with_tag(&spec.image)),
            ..Default::default()
        };
        let mut pull = docker.create_image(Some(opts), None, None);
        while let Some(r) = pull.next().await {
            if let Err(e) = r {
                return Err(format!(
                    "Failed to pull the docker image '{}': {e}",
                    spec.image
                ));
            }
        }
    }
    let opts = CreateContainerOptions {
        name: Some(name.to_owned()),
        ..Default::default()
    };
    if let Err(e) = docker.create_container(Some(opts), spec.body).await {
        return Err(format!("Failed to create docker container {name}: {e}"));
    }
    // The kernel's OOM killer may hit any process in the container (not
    // only its pid 1): like the native containerizer, treat that as the
    // memory limitation and end the container.
    let oom_seen = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let oom_watch = tokio::spawn(watch_oom(docker.clone(), name.to_owned(), oom_seen.clone()));
    if let Err(e) = docker.start_container(name, None).await {
        oom_watch.abort();
        let _ = docker.remove_container(name, Some(remove_opts())).await;
        return Err(format!("Failed to start docker container {name}: {e}"));
    }
    Ok((oom_watch, oom_seen))
}

/// Copies the logs, waits for the exit, inspects and removes.
async fn follow(
    docker: &Docker,
    name: &str,
    sandbox: &Path,
    oom_watch: tokio::task::JoinHandle<()>,
    oom_seen: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> DockerExit {
    let logs = tokio::spawn(copy_logs(
        docker.clone(),
        name.to_owned(),
        sandbox.to_owned(),
    ));
    let mut wait = docker.wait_container(name, None);
    // An error here is a non-zero exit code too; inspect tells which.
    let _ = wait.next().await;
    let _ = tokio::time::timeout(Duration::from_secs(5), logs).await;
    oom_watch.abort();
    let oom_seen = oom_seen.load(std::sync::atomic::Ordering::SeqCst);
    let exit = match docker.inspect_container(name, None).await {
        Ok(i) => {
            let state = i.state.unwrap_or_default();
            DockerExit::Exited {
                code: state.exit_code.unwrap_or(-1),
                oom: oom_seen || state.oom_killed.unwrap_or(false),
            }
        }
        Err(e) => DockerExit::Lost(format!("Failed to inspect docker container {name}: {e}")),
    };
    if let Err(e) = docker.remove_container(name, Some(remove_opts())).await {
        tracing::warn!("docker rm {name}: {e}");
    }
    exit
}

/// Waits for the engine's `oom` event of the container; then records it
/// and kills the container.
async fn watch_oom(
    docker: Docker,
    name: String,
    seen: std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs().saturating_sub(1))
        .unwrap_or(0);
    let filters = [
        ("container".to_owned(), vec![name.clone()]),
        ("event".to_owned(), vec!["oom".to_owned()]),
    ]
    .into_iter()
    .collect();
    let opts = EventsOptions {
        since: Some(since.to_string()),
        filters: Some(filters),
        ..Default::default()
    };
    let mut events = docker.events(Some(opts));
    while let Some(e) = events.next().await {
        match e {
            Ok(ev) if ev.action.as_deref() == Some("oom") => {
                seen.store(true, std::sync::atomic::Ordering::SeqCst);
                let opts = KillContainerOptions {
                    signal: "SIGKILL".into(),
                };
                let _ = docker.kill_container(&name, Some(opts)).await;
                return;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::info!("docker events for {name}: {e}");
                return;
            }
        }
    }
}

/// Appends the container's output to the sandbox's `stdout`/`stderr`.
async fn copy_logs(docker: Docker, name: String, sandbox: PathBuf) {
    let open = |f: &str| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(sandbox.join(f))
            .map(tokio::fs::File::from_std)
    };
    let (Ok(mut out), Ok(mut err)) = (open("stdout"), open("stderr")) else {
        return;
    };
    let opts = LogsOptions {
        follow: true,
        stdout: true,
        stderr: true,
        ..Default::default()
    };
    let mut logs = docker.logs(&name, Some(opts));
    while let Some(Ok(chunk)) = logs.next().await {
        use bollard::container::LogOutput;
        let _ = match chunk {
            LogOutput::StdErr { message } => err.write_all(&message).await,
            LogOutput::StdOut { message } | LogOutput::Console { message } => {
                out.write_all(&message).await
            }
            LogOutput::StdIn { .. } => Ok(()),
        };
    }
    let _ = out.flush().await;
    let _ = err.flush().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use dcos_api::v1::{AgentId, CommandInfo, ContainerInfo, Resource, TaskId};

    fn task(cmd: CommandInfo) -> TaskInfo {
        let mut t = TaskInfo::command("t", TaskId::new("t1"), AgentId::new("a"), cmd);
        t.container = Some(ContainerInfo::docker("busybox:1"));
        t.resources = vec![Resource::scalar("cpus", 0.5), Resource::scalar("mem", 64.0)];
        t
    }

    #[test]
    fn shell_commands_run_with_sh_c_and_limits_apply() {
        let t = task(CommandInfo::shell("echo hi"));
        let vars = [("A".to_owned(), "1".to_owned())].into_iter().collect();
        let s = spec(&t, Path::new("/sb"), vars).unwrap();
        assert_eq!(s.image, "busybox:1");
        assert_eq!(
            s.body.entrypoint,
            Some(vec!["/bin/sh".to_owned(), "-c".to_owned()])
        );
        assert_eq!(s.body.cmd, Some(vec!["echo hi".to_owned()]));
        let env = s.body.env.unwrap();
        assert!(env.contains(&"A=1".to_owned()));
        assert!(env.contains(&"MESOS_SANDBOX=/mnt/mesos/sandbox".to_owned()));
        let h = s.body.host_config.unwrap();
        assert_eq!(h.cpu_shares, Some(512));
        assert_eq!(h.nano_cpus, Some(500_000_000));
        assert_eq!(h.memory, Some(64 << 20));
        assert_eq!(h.network_mode.as_deref(), Some("host"));
        assert_eq!(h.binds, Some(vec!["/sb:/mnt/mesos/sandbox".to_owned()]));
    }

    #[test]
    fn argv_commands_keep_the_image_entrypoint() {
        let mut c = CommandInfo::shell("");
        c.shell = Some(false);
        c.value = None;
        c.arguments = vec!["-x".into(), "y".into()];
        let s = spec(&task(c), Path::new("/sb"), Default::default()).unwrap();
        assert_eq!(s.body.entrypoint, None);
        assert_eq!(s.body.cmd, Some(vec!["-x".to_owned(), "y".to_owned()]));
        assert_eq!(container_name("c1"), "mesos-c1");
        assert_eq!(with_tag("busybox"), "busybox:latest");
        assert_eq!(with_tag("127.0.0.1:5000/a/b"), "127.0.0.1:5000/a/b:latest");
        assert_eq!(with_tag("127.0.0.1:5000/a/b:2"), "127.0.0.1:5000/a/b:2");
        assert_eq!(with_tag("b@sha256:00"), "b@sha256:00");
    }
}
