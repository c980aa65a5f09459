//! An OCI bundle for one container: its root filesystem assembled from
//! the image's layers (overlayfs: the layers as read-only lower dirs, a
//! per-container upper dir; where overlayfs cannot be mounted, a copy of
//! the layers with their whiteouts applied) and its `config.json`, the
//! OCI runtime spec made from the image config and the task.
//!
//! The command follows Mesos and Docker: a shell command runs as
//! `/bin/sh -c <value>`; an argv command without a value runs the image's
//! entrypoint with the task's arguments (or else the image's cmd); with a
//! value, that program replaces the entrypoint. The environment is the
//! image's, then `MESOS_SANDBOX`, then the task's. The working directory
//! is the image's, else the sandbox. The user is the image's `User`
//! (names resolved in the image's `/etc/passwd` and `/etc/group`).
//!
//! Layout, under the provisioner directory:
//! `<container>/{config.json, rootfs/, upper/, work/, supervise.json}`.
//!
//! Owns rootfs assembly, the spec and unmounting; running is
//! [`crate::runtime`]'s.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::image::ImageConfig;

/// Where the sandbox appears inside a container (Mesos' path).
pub const SANDBOX_IN_CONTAINER: &str = "/mnt/mesos/sandbox";
/// Docker's default `PATH`, for images that set none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Errors of building a bundle.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// A file operation failed.
    #[error("container bundle: {what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Nothing to run: no command and no entrypoint/cmd in the image.
    #[error("the task has no command and the image has no entrypoint or cmd")]
    NoCommand,
    /// The image's user does not exist in the image.
    #[error("user '{0}' of the image is not in its /etc/passwd")]
    UnknownUser(String),
    /// A volume is not usable.
    #[error("volume {container_path}: {message}")]
    Volume {
        /// Its path in the container.
        container_path: String,
        /// What is wrong.
        message: String,
    },
    /// The spec could not be written.
    #[error("OCI spec: {0}")]
    Spec(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BundleError {
    let what = what.into();
    move |source| BundleError::Io { what, source }
}

/// What the task asks to run (from its `CommandInfo`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskCommand {
    /// `shell` (Mesos' default is true when a value is given).
    pub shell: bool,
    /// `value`.
    pub value: Option<String>,
    /// `arguments` (argv, `arguments[0]` is argv0 when `value` is set).
    pub arguments: Vec<String>,
}

/// A mount into the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeMount {
    /// Host path (must exist).
    pub host_path: PathBuf,
    /// Absolute path in the container.
    pub container_path: String,
    /// Read-only.
    pub read_only: bool,
}

/// Everything a bundle is made from.
#[derive(Debug, Clone)]
pub struct BundleRequest<'a> {
    /// The container id (names the bundle directory).
    pub container_id: &'a str,
    /// Unpacked layer directories, bottom first.
    pub layers: Vec<PathBuf>,
    /// The image config.
    pub config: &'a ImageConfig,
    /// The task's command, if any.
    pub command: Option<TaskCommand>,
    /// The task's environment (overrides the image's).
    pub env: BTreeMap<String, String>,
    /// The sandbox on the host.
    pub sandbox: &'a Path,
    /// Extra mounts (volumes).
    pub volumes: Vec<VolumeMount>,
    /// `linux.cgroupsPath`.
    pub cgroups_path: String,
    /// Hostname (default: the host's).
    pub hostname: Option<String>,
    /// Own network namespace with only loopback (default: the host's network).
    pub no_network: bool,
}

/// How the root filesystem was assembled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RootfsKind {
    /// An overlayfs mount at `rootfs/`.
    Overlay,
    /// A copy of the layers in `rootfs/`.
    Copy,
}

/// A prepared bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bundle {
    /// The bundle directory (holds `config.json`).
    pub dir: PathBuf,
    /// How `rootfs/` was made.
    pub rootfs: RootfsKind,
    /// The argv the container runs.
    pub args: Vec<String>,
}

impl Bundle {
    /// The root filesystem.
    pub fn rootfs_dir(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    /// Unmounts the rootfs (if an overlay) and removes the bundle.
    pub fn destroy(&self) -> Result<(), BundleError> {
        destroy_dir(&self.dir)
    }
}

/// Unmounts `dir/rootfs` if it is a mount point and removes `dir`.
pub fn destroy_dir(dir: &Path) -> Result<(), BundleError> {
    let rootfs = dir.join("rootfs");
    if rootfs.exists() {
        // Detach: a process that is still exiting may hold it for a moment.
        let _ = nix::mount::umount2(&rootfs, nix::mount::MntFlags::MNT_DETACH);
    }
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(io(format!("removing {}", dir.display()))(e))
        }
        _ => Ok(()),
    }
}

/// The argv to run (see the module comment).
pub fn command_line(
    config: &ImageConfig,
    command: Option<&TaskCommand>,
) -> Result<Vec<String>, BundleError> {
    let args = match command {
        Some(c) if c.shell => vec![
            "/bin/sh".to_owned(),
            "-c".to_owned(),
            c.value.clone().unwrap_or_default(),
        ],
        Some(TaskCommand {
            value: Some(v),
            arguments,
            ..
        }) => std::iter::once(v.clone())
            .chain(arguments.iter().skip(1).cloned())
            .collect(),
        Some(TaskCommand { arguments, .. }) if !arguments.is_empty() => {
            config.entrypoint.iter().chain(arguments).cloned().collect()
        }
        _ => config
            .entrypoint
            .iter()
            .chain(&config.cmd)
            .cloned()
            .collect(),
    };
    if args.is_empty() {
        return Err(BundleError::NoCommand);
    }
    Ok(args)
}

/// The environment: the image's, `MESOS_SANDBOX`, the task's; `PATH`
/// defaulted.
pub fn environment(config: &ImageConfig, task: &BTreeMap<String, String>) -> Vec<String> {
    fn set(vars: &mut Vec<(String, String)>, k: &str, v: &str) {
        match vars.iter_mut().find(|(n, _)| n == k) {
            Some(e) => e.1 = v.to_owned(),
            None => vars.push((k.to_owned(), v.to_owned())),
        }
    }
    let mut vars: Vec<(String, String)> = Vec::new();
    for e in &config.env {
        let (k, v) = e.split_once('=').unwrap_or((e, ""));
        set(&mut vars, k, v);
    }
    set(&mut vars, "MESOS_SANDBOX", SANDBOX_IN_CONTAINER);
    for (k, v) in task {
        // The host's sandbox path means nothing inside the container.
        if k == "MESOS_SANDBOX" || k == "MESOS_DIRECTORY" {
            continue;
        }
        set(&mut vars, k, v);
    }
    if !vars.iter().any(|(k, _)| k == "PATH") {
        set(&mut vars, "PATH", DEFAULT_PATH);
    }
    vars.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
}

/// Resolves Docker's `User` (`name`, `uid`, `uid:gid`, `name:group`)
/// against the image's `/etc/passwd` and `/etc/group`.
pub fn resolve_user(spec: &str, rootfs: &Path) -> Result<(u32, u32), BundleError> {
    if spec.is_empty() {
        return Ok((0, 0));
    }
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = fs::read_to_string(rootfs.join("etc/passwd")).unwrap_or_default();
    let (uid, primary_gid) = match user.parse::<u32>() {
        Ok(uid) => {
            let gid = passwd
                .lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|f| f.len() > 3 && f[2] == user)
                .and_then(|f| f[3].parse().ok())
                .unwrap_or(0);
            (uid, gid)
        }
        Err(_) => passwd
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.len() > 3 && f[0] == user)
            .and_then(|f| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
            .ok_or_else(|| BundleError::UnknownUser(user.to_owned()))?,
    };
    let gid = match group {
        None => primary_gid,
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => fs::read_to_string(rootfs.join("etc/group"))
                .unwrap_or_default()
                .lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|f| f.len() > 2 && f[0] == g)
                .and_then(|f| f[2].parse().ok())
                .ok_or_else(|| BundleError::UnknownUser(spec.to_owned()))?,
        },
    };
    Ok((uid, gid))
}

/// Builds the bundle under `provisioner_dir/<container>`.
pub fn prepare(provisioner_dir: &Path, req: &BundleRequest<'_>) -> Result<Bundle, BundleError> {
    let dir = provisioner_dir.join(req.container_id);
    let _ = destroy_dir(&dir);
    let rootfs = dir.join("rootfs");
    for d in [&rootfs, &dir.join("upper"), &dir.join("work")] {
        fs::create_dir_all(d).map_err(io(format!("creating {}", d.display())))?;
    }
    let kind = match mount_overlay(&dir, &req.layers) {
        Ok(()) => RootfsKind::Overlay,
        Err(e) => {
            tracing::info!("overlayfs not available ({e}); copying the layers");
            for layer in &req.layers {
                copy_layer(layer, &rootfs)?;
            }
            RootfsKind::Copy
        }
    };
    let bundle = Bundle {
        dir: dir.clone(),
        rootfs: kind,
        args: command_line(req.config, req.command.as_ref())?,
    };
    let result = write_spec(&bundle, req);
    if result.is_err() {
        let _ = bundle.destroy();
    }
    result.map(|()| bundle)
}

fn mount_overlay(dir: &Path, layers: &[PathBuf]) -> Result<(), String> {
    if layers.is_empty() {
        return Err("the image has no layers".into());
    }
    // overlayfs lists lower dirs top first.
    let lower: Vec<String> = layers
        .iter()
        .rev()
        .map(|l| l.display().to_string())
        .collect();
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        dir.join("upper").display(),
        dir.join("work").display()
    );
    nix::mount::mount(
        Some("overlay"),
        &dir.join("rootfs"),
        Some("overlay"),
        nix::mount::MsFlags::empty(),
        Some(data.as_str()),
    )
    .map_err(|e| e.to_string())
}

/// Copies one unpacked layer onto `dst`, applying overlayfs whiteouts
/// (a 0/0 character device deletes; an opaque directory replaces).
fn copy_layer(src: &Path, dst: &Path) -> Result<(), BundleError> {
    for entry in fs::read_dir(src).map_err(io(format!("reading {}", src.display())))? {
        let entry = entry.map_err(io("reading a layer"))?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let meta = fs::symlink_metadata(&from).map_err(io(format!("{}", from.display())))?;
        let ft = meta.file_type();
        if ft.is_char_device() && meta.rdev() == 0 {
            let _ = fs::remove_dir_all(&to).or_else(|_| fs::remove_file(&to));
            continue;
        }
        if ft.is_dir() {
            let opaque = xattr::get(&from, "trusted.overlay.opaque")
                .ok()
                .flatten()
                .is_some_and(|v| v == b"y");
            let existing = fs::symlink_metadata(&to).ok();
            if opaque || existing.as_ref().is_some_and(|m| !m.is_dir()) {
                let _ = fs::remove_dir_all(&to).or_else(|_| fs::remove_file(&to));
            }
            if !to.exists() {
                fs::create_dir(&to).map_err(io(format!("creating {}", to.display())))?;
            }
            copy_layer(&from, &to)?;
        } else {
            let _ = fs::remove_dir_all(&to).or_else(|_| fs::remove_file(&to));
            if ft.is_symlink() {
                let target = fs::read_link(&from).map_err(io(format!("{}", from.display())))?;
                std::os::unix::fs::symlink(target, &to).map_err(io(format!("{}", to.display())))?;
            } else if ft.is_file() {
                fs::copy(&from, &to).map_err(io(format!("copying {}", from.display())))?;
            } else {
                // Devices, fifos, sockets: recreate the node.
                let kind = nix::sys::stat::SFlag::from_bits_truncate(meta.mode() & libc_s_ifmt());
                nix::sys::stat::mknod(
                    &to,
                    kind,
                    nix::sys::stat::Mode::from_bits_truncate(meta.mode() & 0o7777),
                    meta.rdev(),
                )
                .map_err(|e| BundleError::Io {
                    what: format!("mknod {}", to.display()),
                    source: e.into(),
                })?;
            }
        }
        if !ft.is_symlink() {
            let _ = fs::set_permissions(&to, fs::Permissions::from_mode(meta.mode() & 0o7777));
        }
        let _ = std::os::unix::fs::lchown(&to, Some(meta.uid()), Some(meta.gid()));
    }
    Ok(())
}

const fn libc_s_ifmt() -> u32 {
    0o170_000
}

fn host_hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".into())
}

fn bind(source: &Path, destination: &str, read_only: bool) -> Value {
    json!({
        "destination": destination,
        "type": "bind",
        "source": source,
        "options": ["rbind", "rprivate", if read_only { "ro" } else { "rw" }],
    })
}

fn write_spec(bundle: &Bundle, req: &BundleRequest<'_>) -> Result<(), BundleError> {
    let (uid, gid) = resolve_user(&req.config.user, &bundle.rootfs_dir())?;
    let mut spec = serde_json::to_value(oci_spec::runtime::Spec::default())
        .map_err(|e| BundleError::Spec(e.to_string()))?;
    let cwd = if req.config.working_dir.is_empty() {
        SANDBOX_IN_CONTAINER.to_owned()
    } else {
        req.config.working_dir.clone()
    };
    spec["hostname"] = json!(req.hostname.clone().unwrap_or_else(host_hostname));
    spec["root"] = json!({"path": "rootfs", "readonly": false});
    spec["process"]["terminal"] = json!(false);
    spec["process"]["args"] = json!(bundle.args);
    spec["process"]["env"] = json!(environment(req.config, &req.env));
    spec["process"]["cwd"] = json!(cwd);
    spec["process"]["user"] = json!({"uid": uid, "gid": gid});
    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
    ];
    if req.no_network {
        namespaces.push(json!({"type": "network"}));
    }
    spec["linux"]["namespaces"] = json!(namespaces);
    spec["linux"]["cgroupsPath"] = json!(req.cgroups_path);
    let mounts = spec["mounts"]
        .as_array_mut()
        .ok_or_else(|| BundleError::Spec("no default mounts".into()))?;
    if !req.no_network {
        // Host networking: the host's name resolution, as Mesos does.
        for f in ["/etc/resolv.conf", "/etc/hosts"] {
            if Path::new(f).is_file() {
                mounts.push(bind(Path::new(f), f, true));
            }
        }
    }
    mounts.push(bind(req.sandbox, SANDBOX_IN_CONTAINER, false));
    for v in &req.volumes {
        if !v.container_path.starts_with('/') {
            return Err(BundleError::Volume {
                container_path: v.container_path.clone(),
                message: "must be absolute here (relative paths are resolved against the sandbox by the caller)".into(),
            });
        }
        if !v.host_path.exists() {
            return Err(BundleError::Volume {
                container_path: v.container_path.clone(),
                message: format!("host path {} does not exist", v.host_path.display()),
            });
        }
        mounts.push(bind(&v.host_path, &v.container_path, v.read_only));
    }
    let spec: oci_spec::runtime::Spec =
        serde_json::from_value(spec).map_err(|e| BundleError::Spec(e.to_string()))?;
    spec.save(bundle.dir.join("config.json"))
        .map_err(|e| BundleError::Spec(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(entrypoint: &[&str], cmd: &[&str]) -> ImageConfig {
        ImageConfig {
            entrypoint: entrypoint.iter().map(|s| s.to_string()).collect(),
            cmd: cmd.iter().map(|s| s.to_string()).collect(),
            env: vec!["PATH=/bin".into(), "A=image".into()],
            ..ImageConfig::default()
        }
    }

    #[test]
    fn command_lines_follow_docker_and_mesos() {
        let c = cfg(&["/entry"], &["default"]);
        assert_eq!(command_line(&c, None).unwrap(), ["/entry", "default"]);
        let shell = TaskCommand {
            shell: true,
            value: Some("echo hi".into()),
            arguments: vec![],
        };
        assert_eq!(
            command_line(&c, Some(&shell)).unwrap(),
            ["/bin/sh", "-c", "echo hi"]
        );
        let args = TaskCommand {
            shell: false,
            value: None,
            arguments: vec!["x".into(), "y".into()],
        };
        assert_eq!(command_line(&c, Some(&args)).unwrap(), ["/entry", "x", "y"]);
        let value = TaskCommand {
            shell: false,
            value: Some("/bin/prog".into()),
            arguments: vec!["prog".into(), "1".into()],
        };
        assert_eq!(command_line(&c, Some(&value)).unwrap(), ["/bin/prog", "1"]);
        assert!(matches!(
            command_line(&cfg(&[], &[]), None),
            Err(BundleError::NoCommand)
        ));
    }

    #[test]
    fn environment_layers_image_sandbox_task() {
        let c = cfg(&[], &[]);
        let task: BTreeMap<String, String> = [
            ("A".to_owned(), "task".to_owned()),
            ("MESOS_SANDBOX".to_owned(), "/host/path".to_owned()),
        ]
        .into();
        let env = environment(&c, &task);
        assert_eq!(
            env,
            ["PATH=/bin", "A=task", "MESOS_SANDBOX=/mnt/mesos/sandbox"]
        );
        let env = environment(&ImageConfig::default(), &BTreeMap::new());
        assert!(env.contains(&format!("PATH={DEFAULT_PATH}")));
    }

    #[test]
    fn users_resolve_in_the_image() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("etc")).unwrap();
        fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n",
        )
        .unwrap();
        fs::write(dir.path().join("etc/group"), "root:x:0:\nstaff:x:50:\n").unwrap();
        assert_eq!(resolve_user("", dir.path()).unwrap(), (0, 0));
        assert_eq!(resolve_user("app", dir.path()).unwrap(), (1000, 1001));
        assert_eq!(resolve_user("app:staff", dir.path()).unwrap(), (1000, 50));
        assert_eq!(resolve_user("42:7", dir.path()).unwrap(), (42, 7));
        assert!(matches!(
            resolve_user("nobody", dir.path()),
            Err(BundleError::UnknownUser(_))
        ));
    }
}
