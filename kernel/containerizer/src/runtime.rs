//! Running a bundle with youki's `libcontainer`, and supervising it.
//!
//! libcontainer creates the container with a raw `clone3`, so it must be
//! called from a process that is otherwise idle: the per-task executor
//! does not call it itself (its runtime is busy with the agent
//! connection) but starts a *supervisor*, a fresh `dcos daemon executor`
//! process with `DCOS_CONTAINER_SUPERVISE=<supervise.json>` in its
//! environment, which calls [`supervise`]. The supervisor creates and
//! starts the container (stdout/stderr appended to the sandbox's files),
//! `waitpid`s its init process (a direct child: libcontainer clones it
//! with `CLONE_PARENT`), tells its caller that the container runs (after
//! `start` returned, so libcontainer's state holds the pid and
//! `running`: a `task exec` from then on finds it), forwards SIGTERM to
//! it and sends SIGKILL after
//! the grace period, writes the raw wait status to `exit_status` in the
//! bundle, cleans up, and exits.
//!
//! The container joins the cgroup the agent prepared for the task (its
//! limits and OOM accounting are the agent's), so libcontainer's own
//! `delete` (which kills everything in the cgroup, the executor
//! included) is never called: [`cleanup`] removes the runtime state and
//! the cgroup directories libcontainer created, and leaves the agent's.
//!
//! Owns the libcontainer calls, waiting, signals and cleanup.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

/// The environment variable that makes an executor process a supervisor.
pub const SUPERVISE_ENV: &str = "DCOS_CONTAINER_SUPERVISE";

/// Errors of running a container.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A file operation failed.
    #[error("container runtime: {what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// libcontainer refused or failed.
    #[error("container runtime (libcontainer): {0}")]
    Libcontainer(String),
    /// The supervisor's instructions are unreadable.
    #[error("container runtime: {path}: {message}")]
    BadInstructions {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
}

/// What a supervisor runs (written to `supervise.json` in the bundle).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Supervise {
    /// The container id (libcontainer's id).
    pub id: String,
    /// The bundle directory.
    pub bundle: PathBuf,
    /// libcontainer's state root.
    pub state_root: PathBuf,
    /// Files the container's stdout and stderr are appended to.
    pub stdout: PathBuf,
    /// See `stdout`.
    pub stderr: PathBuf,
    /// `linux.cgroupsPath` (for cleanup).
    pub cgroups_path: String,
    /// SIGTERM → SIGKILL grace, in milliseconds.
    pub grace_ms: u64,
}

impl Supervise {
    /// Where it is kept in its bundle.
    pub fn path(bundle: &Path) -> PathBuf {
        bundle.join("supervise.json")
    }

    /// Writes it into the bundle.
    pub fn write(&self) -> Result<PathBuf, RuntimeError> {
        let path = Self::path(&self.bundle);
        let bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        fs::write(&path, bytes).map_err(|source| RuntimeError::Io {
            what: format!("writing {}", path.display()),
            source,
        })?;
        Ok(path)
    }

    /// Reads it.
    pub fn read(path: &Path) -> Result<Self, RuntimeError> {
        let bytes = fs::read(path).map_err(|source| RuntimeError::Io {
            what: format!("reading {}", path.display()),
            source,
        })?;
        serde_json::from_slice(&bytes).map_err(|e| RuntimeError::BadInstructions {
            path: path.to_owned(),
            message: e.to_string(),
        })
    }

    /// The file the raw wait status is written to.
    pub fn exit_status_path(&self) -> PathBuf {
        self.bundle.join("exit_status")
    }
}

/// A created and started container.
#[derive(Debug)]
pub struct Started {
    /// Its init process (in the host's pid namespace).
    pub pid: Pid,
}

fn append(path: &Path) -> Result<File, RuntimeError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| RuntimeError::Io {
            what: format!("opening {}", path.display()),
            source,
        })
}

/// Creates and starts the container (call from an idle process).
pub fn start(s: &Supervise) -> Result<Started, RuntimeError> {
    use libcontainer::container::builder::ContainerBuilder;
    use libcontainer::syscall::syscall::SyscallType;
    fs::create_dir_all(&s.state_root).map_err(|source| RuntimeError::Io {
        what: format!("creating {}", s.state_root.display()),
        source,
    })?;
    // A leftover from a crashed run would make the id "already exist".
    let _ = fs::remove_dir_all(s.state_root.join(&s.id));
    let lc = |e: libcontainer::error::LibcontainerError| RuntimeError::Libcontainer(e.to_string());
    let stdin = File::open("/dev/null").map_err(|source| RuntimeError::Io {
        what: "opening /dev/null".into(),
        source,
    })?;
    let mut container = ContainerBuilder::new(s.id.clone(), SyscallType::default())
        .with_root_path(&s.state_root)
        .map_err(lc)?
        .with_stdin(stdin)
        .with_stdout(append(&s.stdout)?)
        .with_stderr(append(&s.stderr)?)
        .validate_id()
        .map_err(lc)?
        .as_init(&s.bundle)
        .with_systemd(false)
        .with_detach(true)
        .build()
        .map_err(lc)?;
    container.start().map_err(lc)?;
    let pid = container
        .pid()
        .ok_or_else(|| RuntimeError::Libcontainer("the started container has no pid".into()))?;
    Ok(Started { pid })
}

/// Waits for `pid` (a child); returns the raw wait status.
pub fn wait_raw(pid: Pid) -> i32 {
    loop {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, code)) => return (code & 0xff) << 8,
            Ok(WaitStatus::Signaled(_, sig, core)) => {
                return sig as i32 | if core { 0x80 } else { 0 };
            }
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return 0xff << 8,
        }
    }
}

/// The supervisor's main: start, call `on_started` with the init
/// process's pid once the container runs, wait (forwarding SIGTERM,
/// escalating to SIGKILL after the grace period), record the status,
/// clean up. Returns the exit code the supervisor should exit with.
pub async fn supervise(
    instructions: &Path,
    on_started: impl FnOnce(Pid),
) -> Result<i32, RuntimeError> {
    use tokio::signal::unix::{signal, SignalKind};
    let s = Supervise::read(instructions)?;
    let mut sigterm = signal(SignalKind::terminate()).map_err(|source| RuntimeError::Io {
        what: "installing a SIGTERM handler".into(),
        source,
    })?;
    let started = match start(&s) {
        Ok(st) => st,
        Err(e) => {
            cleanup(&s.state_root, &s.id, &s.cgroups_path);
            return Err(e);
        }
    };
    let pid = started.pid;
    on_started(pid);
    let mut waiter = tokio::task::spawn_blocking(move || wait_raw(pid));
    let mut deadline: Option<tokio::time::Instant> = None;
    let raw = loop {
        tokio::select! {
            r = &mut waiter => break r.unwrap_or(0xff << 8),
            _ = sigterm.recv() => {
                let _ = kill(pid, Signal::SIGTERM);
                deadline.get_or_insert_with(|| tokio::time::Instant::now() + Duration::from_millis(s.grace_ms));
            }
            _ = async { match deadline { Some(d) => tokio::time::sleep_until(d).await, None => std::future::pending().await } } => {
                let _ = kill(pid, Signal::SIGKILL);
                deadline = None;
            }
        }
    };
    let _ = fs::write(s.exit_status_path(), raw.to_string());
    cleanup(&s.state_root, &s.id, &s.cgroups_path);
    let code = if raw & 0x7f == 0 {
        (raw >> 8) & 0xff
    } else {
        128 + (raw & 0x7f)
    };
    Ok(code)
}

/// Removes libcontainer's state for `id` and every cgroup directory at
/// `cgroups_path` that is empty (the ones the agent's executor is still in
/// stay, for the agent to destroy).
pub fn cleanup(state_root: &Path, id: &str, cgroups_path: &str) {
    let _ = fs::remove_dir_all(state_root.join(id));
    let rel = cgroups_path.trim_start_matches('/');
    if rel.is_empty() {
        return;
    }
    let Ok(mounts) = fs::read_to_string("/proc/self/mounts") else {
        return;
    };
    for line in mounts.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() > 2 && (f[2] == "cgroup" || f[2] == "cgroup2") {
            let dir = Path::new(f[1]).join(rel);
            if dir.is_dir() {
                // Fails (EBUSY) while processes are in it: that is fine.
                let _ = fs::remove_dir(&dir);
            }
        }
    }
}

/// The environment variable that makes an executor process run one
/// command inside a running container (nested exec) and exit with its
/// status.
pub const EXEC_ENV: &str = "DCOS_CONTAINER_EXEC";

/// A command to run inside a running container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exec {
    /// libcontainer's state root of the running container.
    pub state_root: PathBuf,
    /// The running container's id.
    pub id: String,
    /// argv.
    pub args: Vec<String>,
}

/// Runs `e.args` in the container's namespaces and cgroup (libcontainer's
/// tenant container), with this process's stdout and stderr, and waits;
/// returns the raw wait status. Call from an idle process.
pub fn exec(e: &Exec) -> Result<i32, RuntimeError> {
    use libcontainer::container::builder::ContainerBuilder;
    use libcontainer::syscall::syscall::SyscallType;
    use std::os::fd::AsFd;
    if !e.state_root.join(&e.id).is_dir() {
        return Err(RuntimeError::Libcontainer(format!(
            "container {} is not running",
            e.id
        )));
    }
    let lc = |e: libcontainer::error::LibcontainerError| RuntimeError::Libcontainer(e.to_string());
    let dup = |fd: std::os::fd::BorrowedFd<'_>| {
        fd.try_clone_to_owned().map_err(|source| RuntimeError::Io {
            what: "duplicating an output descriptor".into(),
            source,
        })
    };
    let stdin = File::open("/dev/null").map_err(|source| RuntimeError::Io {
        what: "opening /dev/null".into(),
        source,
    })?;
    let pid = ContainerBuilder::new(e.id.clone(), SyscallType::default())
        .with_root_path(&e.state_root)
        .map_err(lc)?
        .with_stdin(stdin)
        .with_stdout(dup(std::io::stdout().as_fd())?)
        .with_stderr(dup(std::io::stderr().as_fd())?)
        .as_tenant()
        .with_container_args(e.args.clone())
        .with_detach(true)
        .build()
        .map_err(lc)?;
    Ok(wait_raw(pid))
}
