//! Starting executor processes: the [`Launcher`] trait (the one spawn
//! effect of the agent, faked in unit tests) and [`ProcessLauncher`], which
//! starts `<current exe> daemon executor` with the `MESOS_*` environment,
//! the sandbox as working directory and `stdout`/`stderr` files there.
//! The executor puts itself in a new session (`setsid`) first thing, so it
//! outlives the agent.
//!
//! Also owns watching a process the agent did not start (after an agent
//! restart): by pid plus its start time, against pid reuse.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;

/// Errors starting an executor.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The sandbox's stdout/stderr could not be opened, or spawn failed.
    #[error("failed to start executor: {0}")]
    Io(#[from] std::io::Error),
}

/// What to start.
#[derive(Debug, Clone)]
pub struct ExecutorSpec {
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Variables added to the agent's environment.
    pub env: BTreeMap<String, String>,
    /// The sandbox: working directory, holds `stdout` and `stderr`.
    pub directory: PathBuf,
}

/// A started executor.
pub struct Launched {
    /// Its pid.
    pub pid: u32,
    /// Its start time, for [`watch_pid`] after an agent restart.
    pub start_time: Option<u64>,
    /// Resolves when the process has exited (and was reaped).
    pub exited: BoxFuture<'static, ()>,
}

/// Starts executor processes.
pub trait Launcher: Send + Sync + 'static {
    /// Starts one.
    fn launch(&self, spec: &ExecutorSpec) -> Result<Launched, LaunchError>;
}

/// The real launcher.
#[derive(Debug, Default)]
pub struct ProcessLauncher;

impl Launcher for ProcessLauncher {
    fn launch(&self, spec: &ExecutorSpec) -> Result<Launched, LaunchError> {
        let open = |name: &str| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(spec.directory.join(name))
        };
        let mut child = tokio::process::Command::new(&spec.program)
            .args(&spec.args)
            .envs(&spec.env)
            .current_dir(&spec.directory)
            .stdin(Stdio::null())
            .stdout(open("stdout")?)
            .stderr(open("stderr")?)
            .kill_on_drop(false)
            .spawn()?;
        let pid = child.id().unwrap_or(0);
        Ok(Launched {
            pid,
            start_time: process_start_time(pid),
            exited: async move {
                let _ = child.wait().await;
            }
            .boxed(),
        })
    }
}

/// Field 22 of `/proc/<pid>/stat` (start time in clock ticks since boot),
/// or `None` if the process does not exist or is a zombie.
pub fn process_start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: skip past the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state).
    if fields.first() == Some(&"Z") || fields.first() == Some(&"X") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// Whether `pid` is alive and still the process that started at
/// `start_time` (when known).
pub fn is_alive(pid: u32, start_time: Option<u64>) -> bool {
    match (process_start_time(pid), start_time) {
        (Some(now), Some(then)) => now == then,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// Resolves when `pid` is gone (polls every `every`).
pub async fn watch_pid(pid: u32, start_time: Option<u64>, every: Duration) {
    while is_alive(pid, start_time) {
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_of_self_and_of_nothing() {
        let me = std::process::id();
        let t = process_start_time(me).unwrap();
        assert!(is_alive(me, Some(t)));
        assert!(!is_alive(me, Some(t + 1)));
        assert!(!is_alive(u32::MAX - 1, None));
    }

    #[tokio::test]
    async fn launches_with_env_and_sandbox_files() {
        let dir = tempfile::tempdir().unwrap();
        let spec = ExecutorSpec {
            program: "sh".into(),
            args: vec!["-c".into(), "echo $MESOS_X; echo err >&2".into()],
            env: [("MESOS_X".to_owned(), "hello".to_owned())].into(),
            directory: dir.path().to_owned(),
        };
        let launched = ProcessLauncher.launch(&spec).unwrap();
        assert!(launched.pid > 0);
        launched.exited.await;
        let out = std::fs::read_to_string(dir.path().join("stdout")).unwrap();
        assert_eq!(out, "hello\n");
        let err = std::fs::read_to_string(dir.path().join("stderr")).unwrap();
        assert_eq!(err, "err\n");
    }
}
