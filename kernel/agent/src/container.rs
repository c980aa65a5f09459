//! The executor's side of the native containerizer: a task whose
//! `ContainerInfo` names an image (`MESOS` with `mesos.image`, or `DOCKER`
//! with `docker.image` when no Docker engine serves it, see
//! [`crate::docker`]) is provisioned from the agent's image
//! store (pulled when missing), assembled into an OCI bundle and run by a
//! supervisor process (see [`dcos_containerizer::runtime`]) that the
//! executor treats as its task process.
//!
//! Everything that goes wrong before the task's own command runs becomes
//! a message for TASK_FAILED with REASON_CONTAINER_LAUNCH_FAILED that
//! says exactly what failed (missing image, registry down, digest
//! mismatch, wrong architecture, …).
//!
//! Owns mapping `TaskInfo` onto the containerizer and the supervisor's
//! outcome onto an exit status; not the task's lifecycle.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use dcos_api::v1::{ContainerType, ImageType, TaskInfo, VolumeMode, VolumeSourceType};
use dcos_containerizer::bundle::{self, Bundle, BundleRequest, TaskCommand, VolumeMount};
use dcos_containerizer::registry::Credentials;
use dcos_containerizer::runtime::{self, Supervise, SUPERVISE_ENV};
use dcos_containerizer::store::ImageStore;

/// How long provisioning an image may take.
pub const PULL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// The line a supervisor prints on its stdout, with the init process's
/// pid, once the container runs.
const STARTED_PREFIX: &str = "started ";

/// How long creating and starting a provisioned container may take.
const START_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The file a supervisor writes when the container could not start.
pub const START_ERROR_FILE: &str = "start_error";

/// Where the agent keeps images and bundles (from the executor's
/// environment, set by the agent).
#[derive(Debug, Clone)]
pub struct ContainerEnv {
    /// `DCOS_IMAGE_STORE`.
    pub image_store: PathBuf,
    /// `DCOS_PROVISIONER_DIR`.
    pub provisioner: PathBuf,
    /// `DCOS_CGROUPS_PARENT`.
    pub cgroups_parent: String,
    /// `DCOS_CONTAINER_ID`.
    pub container_id: String,
    /// `DCOS_PARENT_SANDBOX`: the task group's shared sandbox (tasks of a
    /// LAUNCH_GROUP only), where `PARENT` sandbox-path volumes live.
    pub parent_sandbox: Option<PathBuf>,
}

impl ContainerEnv {
    /// Reads the variables; `None` when the agent set none.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Option<Self> {
        Some(Self {
            image_store: get("DCOS_IMAGE_STORE")?.into(),
            provisioner: get("DCOS_PROVISIONER_DIR")?.into(),
            cgroups_parent: get("DCOS_CGROUPS_PARENT").unwrap_or_else(|| "dcos".into()),
            container_id: get("DCOS_CONTAINER_ID")?,
            parent_sandbox: get("DCOS_PARENT_SANDBOX").map(PathBuf::from),
        })
    }
}

/// What image a task asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRequest {
    /// The Docker-type image name.
    pub name: String,
    /// Pull even when stored.
    pub force_pull: bool,
    /// Registry credentials.
    pub credentials: Option<Credentials>,
    /// Own network namespace (Docker `NONE` network).
    pub no_network: bool,
}

/// The image a task's container names, `Ok(None)` for a plain command
/// task, or why the container cannot be run here.
pub fn image_request(task: &TaskInfo) -> Result<Option<ImageRequest>, String> {
    let Some(c) = &task.container else {
        return Ok(None);
    };
    match c.kind {
        ContainerType::Mesos => {
            let Some(image) = c.mesos.as_ref().and_then(|m| m.image.as_ref()) else {
                return Ok(None);
            };
            match (image.kind, &image.docker) {
                (ImageType::Docker, Some(d)) => Ok(Some(ImageRequest {
                    name: d.name.clone(),
                    force_pull: !image.cached(),
                    credentials: d.credential.as_ref().map(|c| Credentials {
                        username: c.principal.clone(),
                        password: c.secret.clone().unwrap_or_default(),
                    }),
                    no_network: false,
                })),
                (ImageType::Appc, _) => {
                    Err("APPC images are not supported by this agent; use a Docker image".into())
                }
                _ => Err("container.mesos.image has type DOCKER but no docker.name".into()),
            }
        }
        ContainerType::Docker => {
            let Some(d) = &c.docker else {
                return Err("a DOCKER container needs container.docker.image".into());
            };
            Ok(Some(ImageRequest {
                name: d.image.clone(),
                force_pull: d.force_pull_image.unwrap_or(false),
                credentials: None,
                no_network: d.network() == dcos_api::v1::DockerNetwork::None,
            }))
        }
    }
}

/// Where a `SANDBOX_PATH` volume's files live (created if missing): under
/// the task's own sandbox (`SELF`) or the task group's shared one
/// (`PARENT`, the way a pod's ephemeral volumes are shared).
pub fn sandbox_volume_source(
    v: &dcos_api::v1::Volume,
    sandbox: &Path,
    parent: Option<&Path>,
) -> Result<PathBuf, String> {
    let sp = v.source.as_ref().and_then(|s| s.sandbox_path.as_ref());
    let p = sp.map(|s| s.path.clone()).unwrap_or_default();
    if p.split('/').any(|c| c == "..") {
        return Err(format!(
            "volume {}: sandbox path '{p}' leaves the sandbox",
            v.container_path
        ));
    }
    let base = match sp.and_then(|s| s.kind) {
        Some(dcos_api::v1::SandboxPathType::Parent) => parent.ok_or_else(|| {
            format!(
                "volume {}: a PARENT sandbox path needs a task group (LAUNCH_GROUP)",
                v.container_path
            )
        })?,
        _ => sandbox,
    };
    let dir = base.join(p.trim_start_matches('/'));
    std::fs::create_dir_all(&dir).map_err(|e| format!("volume {}: {e}", v.container_path))?;
    Ok(dir)
}

/// For a task without an image of its own (it sees the host's file
/// system): its `SANDBOX_PATH` volumes as symlinks at their (relative)
/// container paths in its sandbox, as Mesos' `volume/sandbox_path`
/// isolator does for containers without a root file system. Other volume
/// kinds are left to containers with an image.
pub fn link_sandbox_volumes(
    task: &TaskInfo,
    sandbox: &Path,
    parent: Option<&Path>,
) -> Result<(), String> {
    let Some(c) = &task.container else {
        return Ok(());
    };
    for v in &c.volumes {
        let is_sandbox_path = v
            .source
            .as_ref()
            .is_some_and(|s| s.kind == Some(VolumeSourceType::SandboxPath));
        if !is_sandbox_path {
            continue;
        }
        let cp = v.container_path.trim_end_matches('/');
        if cp.is_empty() || cp.starts_with('/') || cp.split('/').any(|c| c == "..") {
            return Err(format!(
                "volume {}: without a container image the task has no root file system of its own, \
                 so the container path must be relative (it appears under the sandbox)",
                v.container_path
            ));
        }
        let source = sandbox_volume_source(v, sandbox, parent)?;
        let link = sandbox.join(cp);
        if let Some(dir) = link.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("volume {cp}: {e}"))?;
        }
        match std::fs::read_link(&link) {
            Ok(existing) if existing == source => continue,
            _ => {}
        }
        std::os::unix::fs::symlink(&source, &link)
            .map_err(|e| format!("volume {cp}: cannot link {}: {e}", link.display()))?;
    }
    Ok(())
}

/// The task's volumes as mounts (relative container paths are under the
/// sandbox, as in Mesos).
pub fn volume_mounts(
    task: &TaskInfo,
    sandbox: &Path,
    parent: Option<&Path>,
) -> Result<Vec<VolumeMount>, String> {
    let Some(c) = &task.container else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for v in &c.volumes {
        let host_path = if let Some(h) = &v.host_path {
            PathBuf::from(h)
        } else if let Some(src) = &v.source {
            match src.kind {
                Some(VolumeSourceType::HostPath) => match &src.host_path {
                    Some(h) => PathBuf::from(&h.path),
                    None => {
                        return Err(format!(
                            "volume {}: HOST_PATH without host_path",
                            v.container_path
                        ))
                    }
                },
                Some(VolumeSourceType::SandboxPath) => sandbox_volume_source(v, sandbox, parent)?,
                other => {
                    return Err(format!(
                        "volume {}: source type {other:?} is not supported by this agent",
                        v.container_path
                    ))
                }
            }
        } else {
            return Err(format!(
                "volume {}: no host path or source",
                v.container_path
            ));
        };
        let container_path = if v.container_path.starts_with('/') {
            v.container_path.clone()
        } else {
            format!("{}/{}", bundle::SANDBOX_IN_CONTAINER, v.container_path)
        };
        out.push(VolumeMount {
            host_path,
            container_path,
            read_only: v.mode == VolumeMode::Ro,
        });
    }
    Ok(out)
}

/// A provisioned container, ready for (or run by) a supervisor.
#[derive(Debug)]
pub struct Prepared {
    /// The bundle.
    pub bundle: Bundle,
    /// The supervisor's instructions.
    pub supervise: Supervise,
    store: ImageStore,
    container_id: String,
}

/// Provisions the image and builds the bundle. The error is the message
/// of the task's TASK_FAILED.
pub async fn prepare(
    env: &ContainerEnv,
    task: &TaskInfo,
    req: &ImageRequest,
    sandbox: &Path,
    task_env: BTreeMap<String, String>,
    grace: std::time::Duration,
) -> Result<Prepared, String> {
    let fail = |e: &dyn std::fmt::Display| format!("Failed to provision image '{}': {e}", req.name);
    let store = ImageStore::open(&env.image_store).map_err(|e| fail(&e))?;
    // A registry that accepts connections but never answers must not hold
    // the task (and its KILL) forever.
    let image = tokio::time::timeout(
        PULL_TIMEOUT,
        dcos_containerizer::provide(&store, &req.name, req.force_pull, req.credentials.clone()),
    )
    .await
    .map_err(|_| fail(&format!("the pull did not finish within {PULL_TIMEOUT:?}")))?
    .map_err(|e| fail(&e))?;
    store
        .retain(&env.container_id, &image.layers)
        .map_err(|e| fail(&e))?;
    let command = task.command.as_ref().and_then(|c| {
        if c.is_shell() {
            c.value.clone().map(|v| TaskCommand {
                shell: true,
                value: Some(v),
                arguments: vec![],
            })
        } else if c.value.is_some() || !c.arguments.is_empty() {
            Some(TaskCommand {
                shell: false,
                value: c.value.clone(),
                arguments: c.arguments.clone(),
            })
        } else {
            None
        }
    });
    let cgroups_path = format!(
        "/{}/{}",
        env.cgroups_parent.trim_matches('/'),
        env.container_id
    );
    let volumes = volume_mounts(task, sandbox, env.parent_sandbox.as_deref())
        .map_err(|e| format!("Failed to prepare the container: {e}"))?;
    let request = BundleRequest {
        container_id: &env.container_id,
        layers: image.layers.iter().map(|l| store.layer_path(l)).collect(),
        config: &image.config,
        command,
        env: task_env,
        sandbox,
        volumes,
        cgroups_path: cgroups_path.clone(),
        hostname: task.container.as_ref().and_then(|c| c.hostname.clone()),
        no_network: req.no_network,
    };
    let built = bundle::prepare(&env.provisioner.join("containers"), &request);
    let bundle = match built {
        Ok(b) => b,
        Err(e) => {
            store.release(&env.container_id);
            return Err(format!(
                "Failed to prepare the container for image '{}': {e}",
                req.name
            ));
        }
    };
    let supervise = Supervise {
        id: env.container_id.clone(),
        bundle: bundle.dir.clone(),
        state_root: env.provisioner.join("runtime"),
        stdout: sandbox.join("stdout"),
        stderr: sandbox.join("stderr"),
        cgroups_path,
        grace_ms: grace.as_millis() as u64,
    };
    let prepared = Prepared {
        bundle,
        supervise,
        store,
        container_id: env.container_id.clone(),
    };
    if let Err(e) = prepared.supervise.write() {
        prepared.cleanup();
        return Err(format!("Failed to prepare the container: {e}"));
    }
    Ok(prepared)
}

impl Prepared {
    /// Starts the supervisor (this executor program, re-run with
    /// `DCOS_CONTAINER_SUPERVISE`), in its own process group, and waits
    /// until it says the container runs. Returns the supervisor and
    /// whether the container started; when it did not, the supervisor
    /// exits and [`Prepared::start_error`] says why.
    pub async fn spawn_supervisor(&self) -> std::io::Result<(tokio::process::Child, bool)> {
        use tokio::io::AsyncBufReadExt;
        let exe = std::env::current_exe()?;
        let mut child = tokio::process::Command::new(exe)
            .args(["daemon", "executor"])
            .env(SUPERVISE_ENV, Supervise::path(&self.bundle.dir))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .process_group(0)
            .kill_on_drop(false)
            .spawn()?;
        let Some(stdout) = child.stdout.take() else {
            return Ok((child, false));
        };
        let mut line = String::new();
        let read = tokio::time::timeout(
            START_TIMEOUT,
            tokio::io::BufReader::new(stdout).read_line(&mut line),
        )
        .await;
        let started = match read {
            Ok(Ok(_)) => line.starts_with(STARTED_PREFIX),
            Ok(Err(_)) => false,
            Err(_) => {
                // A start that hangs is a failed start: the supervisor
                // is killed and its exit reported as the task's.
                let _ = std::fs::write(
                    self.bundle.dir.join(START_ERROR_FILE),
                    format!("the container did not start within {START_TIMEOUT:?}"),
                );
                let _ = child.start_kill();
                false
            }
        };
        Ok((child, started))
    }

    /// Why the container could not start, if it could not.
    pub fn start_error(&self) -> Option<String> {
        std::fs::read_to_string(self.bundle.dir.join(START_ERROR_FILE)).ok()
    }

    /// The container's own wait status, if the supervisor recorded one.
    pub fn exit_status(&self) -> Option<std::process::ExitStatus> {
        use std::os::unix::process::ExitStatusExt;
        let raw: i32 = std::fs::read_to_string(self.supervise.exit_status_path())
            .ok()?
            .trim()
            .parse()
            .ok()?;
        Some(std::process::ExitStatus::from_raw(raw))
    }

    /// Removes the bundle, the runtime state and the layer hold.
    pub fn cleanup(&self) {
        let s = &self.supervise;
        runtime::cleanup(&s.state_root, &s.id, &s.cgroups_path);
        if let Err(e) = self.bundle.destroy() {
            tracing::warn!("container {}: {e}", self.container_id);
        }
        self.store.release(&self.container_id);
    }
}

/// A nested exec's main, when this process was started for one: runs the
/// command inside the container (output on this process's stdout and
/// stderr) and exits with its status (126 if it could not be started).
pub fn exec_if_asked() {
    let Some(json) = std::env::var_os(runtime::EXEC_ENV) else {
        return;
    };
    let code = match serde_json::from_str::<runtime::Exec>(&json.to_string_lossy()) {
        Ok(e) => match runtime::exec(&e) {
            Ok(raw) if raw & 0x7f == 0 => (raw >> 8) & 0xff,
            Ok(raw) => 128 + (raw & 0x7f),
            Err(e) => {
                eprintln!("{e}");
                126
            }
        },
        Err(e) => {
            eprintln!("bad {}: {e}", runtime::EXEC_ENV);
            126
        }
    };
    std::process::exit(code);
}

/// The supervisor's main, when this process was started as one: runs the
/// container and exits with its status (a start failure is written to
/// the bundle's `start_error` for the executor to report).
pub async fn supervise_if_asked() {
    let Some(path) = std::env::var_os(SUPERVISE_ENV) else {
        return;
    };
    let path = PathBuf::from(path);
    let code = match runtime::supervise(&path, |pid| {
        use std::io::Write;
        // The executor reports TASK_RUNNING on this line (and only then).
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{STARTED_PREFIX}{pid}");
        let _ = out.flush();
    })
    .await
    {
        Ok(code) => code,
        Err(e) => {
            if let Some(dir) = path.parent() {
                let _ = std::fs::write(dir.join(START_ERROR_FILE), e.to_string());
            }
            eprintln!("container supervisor: {e}");
            125
        }
    };
    std::process::exit(code);
}

/// What an executor that was killed left of its container (the bundle
/// and its overlay mount, runtime state, libcontainer's cgroup dirs, the
/// layer hold); run by the agent after the container's cgroup was
/// destroyed. Does nothing for a container without a bundle.
pub fn cleanup_leftovers(c: &crate::agent::ContainerConfig, container_id: &str) {
    if c.provisioner.as_os_str().is_empty() {
        return;
    }
    let bundle_dir = c.provisioner.join("containers").join(container_id);
    if !bundle_dir.exists() {
        return;
    }
    let cgroups_path = format!("/{}/{container_id}", c.cgroups_parent.trim_matches('/'));
    runtime::cleanup(&c.provisioner.join("runtime"), container_id, &cgroups_path);
    if let Err(e) = bundle::destroy_dir(&bundle_dir) {
        tracing::warn!("container {container_id}: {e}");
    }
    if let Ok(store) = ImageStore::open(&c.image_store) {
        store.release(container_id);
    }
}

/// Errors of a nested exec (the agent answers them as JSON).
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// No such task on this agent (404).
    #[error("task {0} is not on this agent")]
    UnknownTask(String),
    /// The task is not running in a container (409).
    #[error("task {0} is not running in a container")]
    NotContainerized(String),
    /// The request is malformed (400).
    #[error("{0}")]
    BadRequest(String),
    /// The helper process could not be run (500).
    #[error("exec helper: {0}")]
    Helper(String),
}

/// What a nested exec printed and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExecOutput {
    /// The command's exit code (128 + signal when killed; 126 when it
    /// could not be started in the container).
    pub exit_code: i32,
    /// Its standard output (lossy UTF-8).
    pub stdout: String,
    /// Its standard error (lossy UTF-8).
    pub stderr: String,
}

/// Runs `args` inside the running container `container_id` through a
/// helper process (`<executor program> daemon executor` with
/// `DCOS_CONTAINER_EXEC`: libcontainer clones from an idle process), and
/// collects its output; killed after `timeout`.
pub async fn exec(
    program: &(PathBuf, Vec<String>),
    provisioner: &Path,
    task_id: &str,
    container_id: &str,
    args: Vec<String>,
    timeout: std::time::Duration,
) -> Result<ExecOutput, ExecError> {
    if args.is_empty() {
        return Err(ExecError::BadRequest("cmd must name a program".into()));
    }
    let state_root = provisioner.join("runtime");
    if !state_root.join(container_id).is_dir() {
        return Err(ExecError::NotContainerized(task_id.to_owned()));
    }
    let spec = runtime::Exec {
        state_root,
        id: container_id.to_owned(),
        args,
    };
    let json = serde_json::to_string(&spec).map_err(|e| ExecError::Helper(e.to_string()))?;
    let child = tokio::process::Command::new(&program.0)
        .args(&program.1)
        .env(runtime::EXEC_ENV, json)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| ExecError::Helper(e.to_string()))?;
    let out = tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .map_err(|_| ExecError::Helper(format!("the command did not finish within {timeout:?}")))?
        .map_err(|e| ExecError::Helper(e.to_string()))?;
    use std::os::unix::process::ExitStatusExt;
    let exit_code = out
        .status
        .code()
        .unwrap_or_else(|| 128 + out.status.signal().unwrap_or(0));
    Ok(ExecOutput {
        exit_code,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use dcos_api::v1::{AgentId, CommandInfo, ContainerInfo, Image, MesosInfo, TaskId, Volume};

    fn task(container: Option<ContainerInfo>) -> TaskInfo {
        let mut t = TaskInfo::command(
            "t",
            TaskId::new("t1"),
            AgentId::new("a"),
            CommandInfo::shell("true"),
        );
        t.container = container;
        t
    }

    #[test]
    fn images_from_mesos_and_docker_containers() {
        assert_eq!(image_request(&task(None)).unwrap(), None);
        assert_eq!(
            image_request(&task(Some(ContainerInfo::mesos()))).unwrap(),
            None
        );
        let mut mesos = ContainerInfo::mesos();
        mesos.mesos = Some(MesosInfo {
            image: Some(Image::docker("127.0.0.1:5000/app:1")),
        });
        let r = image_request(&task(Some(mesos))).unwrap().unwrap();
        assert_eq!(r.name, "127.0.0.1:5000/app:1");
        assert!(!r.force_pull);
        let r = image_request(&task(Some(ContainerInfo::docker("busybox"))))
            .unwrap()
            .unwrap();
        assert_eq!(r.name, "busybox");
    }

    fn sandbox_volume(container_path: &str, kind: dcos_api::v1::SandboxPathType) -> Volume {
        Volume {
            mode: VolumeMode::Rw,
            container_path: container_path.into(),
            host_path: None,
            image: None,
            source: Some(dcos_api::v1::VolumeSource {
                kind: Some(VolumeSourceType::SandboxPath),
                docker_volume: None,
                host_path: None,
                sandbox_path: Some(dcos_api::v1::SandboxPath {
                    kind: Some(kind),
                    path: "volumes/shared".into(),
                }),
                secret: None,
                csi_volume: None,
            }),
        }
    }

    #[test]
    fn parent_sandbox_volumes_are_shared_by_the_tasks_of_a_group() {
        use dcos_api::v1::SandboxPathType::{Parent, SelfSandbox};
        let root = tempfile::tempdir().unwrap();
        let (a, b, group) = (
            root.path().join("a"),
            root.path().join("b"),
            root.path().join("g"),
        );
        let mut c = ContainerInfo::mesos();
        c.volumes = vec![
            sandbox_volume("data", Parent),
            sandbox_volume("own", SelfSandbox),
        ];
        let t = task(Some(c.clone()));
        link_sandbox_volumes(&t, &a, Some(&group)).unwrap();
        link_sandbox_volumes(&t, &b, Some(&group)).unwrap();
        // Again (a relaunch after an agent restart): the links stay.
        link_sandbox_volumes(&t, &a, Some(&group)).unwrap();
        std::fs::write(a.join("data/x"), "hi").unwrap();
        assert_eq!(std::fs::read_to_string(b.join("data/x")).unwrap(), "hi");
        assert_eq!(
            std::fs::read_link(a.join("data")).unwrap(),
            group.join("volumes/shared")
        );
        // SELF stays each task's own.
        assert_eq!(
            std::fs::read_link(a.join("own")).unwrap(),
            a.join("volumes/shared")
        );
        // With an image, PARENT resolves to the group's sandbox too.
        let m = volume_mounts(&t, &a, Some(&group)).unwrap();
        assert_eq!(m[0].host_path, group.join("volumes/shared"));
        // Outside a group, or an absolute path without an image: refused.
        let err = link_sandbox_volumes(&t, &a, None).unwrap_err();
        assert!(err.contains("needs a task group"), "{err}");
        let mut abs = ContainerInfo::mesos();
        abs.volumes = vec![sandbox_volume("/data", Parent)];
        let err = link_sandbox_volumes(&task(Some(abs)), &a, Some(&group)).unwrap_err();
        assert!(err.contains("must be relative"), "{err}");
    }

    #[test]
    fn volumes_map_host_and_relative_paths() {
        let mut c = ContainerInfo::mesos();
        c.volumes = vec![
            Volume {
                mode: VolumeMode::Ro,
                container_path: "/data".into(),
                host_path: Some("/srv".into()),
                image: None,
                source: None,
            },
            Volume {
                mode: VolumeMode::Rw,
                container_path: "cache".into(),
                host_path: Some("/var/cache".into()),
                image: None,
                source: None,
            },
        ];
        let m = volume_mounts(&task(Some(c)), Path::new("/sb"), None).unwrap();
        assert_eq!(
            m[0],
            VolumeMount {
                host_path: "/srv".into(),
                container_path: "/data".into(),
                read_only: true
            }
        );
        assert_eq!(m[1].container_path, "/mnt/mesos/sandbox/cache");
        assert!(!m[1].read_only);
    }
}
