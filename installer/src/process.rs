//! Processes and cgroups of an installed node, as the OS sees them:
//! pidfiles, "is this pid one of ours" (its command line names our data
//! dir), SIGTERM-then-SIGKILL, finding the executors and tasks the agent
//! started (their `MESOS_*` environment points into our agent work dir)
//! and removing our cgroup subtree.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::config::ConfigError;

pub fn read_pidfile(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

pub fn write_pidfile(path: &Path, pid: i32) -> Result<(), ConfigError> {
    let io = |action| {
        move |source| ConfigError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io("create"))?;
    }
    std::fs::write(path, format!("{pid}\n")).map_err(io("write"))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).map_err(io("chmod"))
}

pub fn alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    // A zombie is not alive for our purposes.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.trim_start().starts_with('Z'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

fn cmdline(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

/// The environment variable every component (and so every executor and
/// task the agent starts) carries: the node's data dir.
pub const NODE_ENV: &str = "DCOS_NODE_DIR";

fn environ_names(pid: i32, data_dir: &Path) -> bool {
    let needle = format!("{NODE_ENV}={}", data_dir.display());
    std::fs::read(format!("/proc/{pid}/environ"))
        .map(|env| {
            env.split(|b| *b == 0)
                .map(String::from_utf8_lossy)
                .any(|kv| {
                    kv == needle.as_str()
                        || (kv.starts_with("MESOS_") && kv.contains(&*data_dir.to_string_lossy()))
                })
        })
        .unwrap_or(false)
}

/// Whether `pid` is alive and a process of the node in `data_dir` (its
/// command line names the dir, or its environment carries [`NODE_ENV`]).
pub fn is_ours(pid: i32, data_dir: &Path) -> bool {
    alive(pid)
        && (cmdline(pid).contains(&*data_dir.to_string_lossy()) || environ_names(pid, data_dir))
}

/// SIGTERM, then SIGKILL after `grace`; returns when the process is gone
/// (or is no longer ours to wait for).
pub async fn terminate(pid: i32, grace: Duration) {
    if pid <= 0 {
        return;
    }
    let p = Pid::from_raw(pid);
    let _ = kill(p, Signal::SIGTERM);
    let start = Instant::now();
    while alive(pid) {
        if start.elapsed() > grace {
            let _ = kill(p, Signal::SIGKILL);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let start = Instant::now();
    while alive(pid) && start.elapsed() < Duration::from_secs(2) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Stops the process a pidfile names if it is still ours, and removes the
/// pidfile.
pub async fn stop_from_pidfile(pidfile: &Path, data_dir: &Path, grace: Duration) {
    if let Some(pid) = read_pidfile(pidfile) {
        if is_ours(pid, data_dir) {
            tracing::info!(pid, pidfile = %pidfile.display(), "stopping a left-over process");
            terminate(pid, grace).await;
        }
    }
    let _ = std::fs::remove_file(pidfile);
}

/// Every process (but us) whose command line names `data_dir`, or whose
/// environment carries [`NODE_ENV`] or `MESOS_*` paths under it
/// (executors and their tasks).
pub fn processes_of(data_dir: &Path) -> Vec<i32> {
    let needle = data_dir.to_string_lossy().into_owned();
    let me = std::process::id() as i32;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me || !alive(pid) {
            continue;
        }
        let ours_by_cmd = {
            let c = cmdline(pid);
            c.contains(&format!("{needle}/")) || c.contains(&format!("{needle} "))
        };
        if ours_by_cmd || environ_names(pid, data_dir) {
            out.push(pid);
        }
    }
    out
}

/// The directories of cgroup `name` (a top-level group, e.g. the
/// agent's `--cgroups-root`) in every mounted hierarchy.
pub fn cgroup_dirs(name: &str) -> Vec<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let mut out = Vec::new();
    for line in mounts.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() >= 3 && (f[2] == "cgroup" || f[2] == "cgroup2") {
            let dir = Path::new(f[1]).join(name);
            if dir.is_dir() {
                out.push(dir);
            }
        }
    }
    out
}

/// Pids in a cgroup subtree.
pub fn cgroup_pids(dir: &Path) -> Vec<i32> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        if let Ok(text) = std::fs::read_to_string(d.join("cgroup.procs")) {
            out.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
        }
        if let Ok(entries) = std::fs::read_dir(&d) {
            for e in entries.flatten() {
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    stack.push(e.path());
                }
            }
        }
    }
    out
}

/// Removes a cgroup subtree, deepest first (cgroup dirs are removed with
/// rmdir; their control files go with them).
pub fn remove_cgroup_tree(dir: &Path) -> std::io::Result<()> {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                remove_cgroup_tree(&e.path())?;
            }
        }
    }
    match std::fs::remove_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Kills (SIGKILL) everything in `pids` and waits until they are gone.
pub async fn kill_all(pids: &[i32], timeout: Duration) {
    for &pid in pids {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
    let start = Instant::now();
    while pids.iter().any(|&p| alive(p)) && start.elapsed() < timeout {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pidfiles_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("run/x.pid");
        write_pidfile(&p, 42).unwrap();
        assert_eq!(read_pidfile(&p), Some(42));
        assert!(alive(std::process::id() as i32));
        assert!(!alive(0));
    }

    #[tokio::test]
    async fn finds_and_kills_a_process_naming_the_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("marker");
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg("sleep 60; : \"$0\"")
            .arg(&marker)
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        // Between fork and exec the child still shows our command line.
        let start = Instant::now();
        while !is_ours(pid, dir.path()) && start.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(is_ours(pid, dir.path()));
        assert!(processes_of(dir.path()).contains(&pid));
        terminate(pid, Duration::from_secs(5)).await;
        let _ = child.wait();
        assert!(!alive(pid));
    }
}
