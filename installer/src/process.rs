//! Processes, cgroups and mounts of an installed node, as the OS sees
//! them: pidfiles, "is this pid one of ours", SIGTERM-then-SIGKILL, the
//! processes and cgroups an uninstall stops, and the mounts it undoes.
//!
//! "Ours" is decided by what the node itself recorded or set, never by a
//! path appearing somewhere: a pid from our pidfiles, a pid in the
//! agent's cgroup subtree, or a process carrying the [`NODE_ENV`] marker
//! every component is started with (and every executor and task inherits).
//! An operator's `tail -f <data dir>/logs/…`, or the `sudo` that runs
//! `dcos uninstall --data-dir <data dir>`, names the dir but is none of
//! these, and is left alone.

use std::os::unix::ffi::OsStrExt;
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

/// The environment variable every component (and so every executor and
/// task the agent starts) carries: the node's data dir.
pub const NODE_ENV: &str = "DCOS_NODE_DIR";

/// Whether the environment of `pid` carries `DCOS_NODE_DIR=<data_dir>`
/// (the same path, compared by components: `/srv/dcos/` is `/srv/dcos`).
fn carries_marker(pid: i32, data_dir: &Path) -> bool {
    let prefix = format!("{NODE_ENV}=");
    std::fs::read(format!("/proc/{pid}/environ"))
        .map(|env| {
            env.split(|b| *b == 0).any(|kv| {
                kv.strip_prefix(prefix.as_bytes())
                    .is_some_and(|v| Path::new(std::ffi::OsStr::from_bytes(v)) == data_dir)
            })
        })
        .unwrap_or(false)
}

/// Whether `pid` runs one of our `dcos daemon <component>` command lines
/// for `data_dir` (an argument is the dir or a path under it). A
/// supervisor started before the marker existed is recognised this way.
fn runs_our_daemon(pid: i32, data_dir: &Path) -> bool {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let args: Vec<&[u8]> = raw.split(|b| *b == 0).collect();
    args.get(1) == Some(&&b"daemon"[..])
        && args
            .iter()
            .skip(2)
            .any(|a| Path::new(std::ffi::OsStr::from_bytes(a)).starts_with(data_dir))
}

/// Whether `pid` is alive and a process of the node in `data_dir`: it
/// carries the [`NODE_ENV`] marker, or runs one of our daemons there.
/// Guards a pidfile against pid reuse.
pub fn is_ours(pid: i32, data_dir: &Path) -> bool {
    alive(pid) && (carries_marker(pid, data_dir) || runs_our_daemon(pid, data_dir))
}

/// The parent of `pid` (field 4 of `/proc/<pid>/stat`).
fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// This process and its ancestors: never stopped by an uninstall (its
/// `sudo`, its shell, a task's shell it was typed in).
pub fn self_and_ancestors() -> Vec<i32> {
    let mut out = vec![std::process::id() as i32];
    while let Some(parent) = parent_of(*out.last().unwrap_or(&0)) {
        if parent <= 0 || out.contains(&parent) {
            break;
        }
        out.push(parent);
    }
    out
}

/// Every live process (but us and our ancestors) carrying the
/// [`NODE_ENV`] marker of `data_dir`: the components, and the executors
/// and tasks the agent started (they inherit the agent's environment),
/// also when the agent ran them without cgroups.
pub fn processes_of(data_dir: &Path) -> Vec<i32> {
    let spared = self_and_ancestors();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| !spared.contains(&pid) && alive(pid) && carries_marker(pid, data_dir))
        .collect()
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

    /// Waits until `pid` has exec'd (between fork and exec a child
    /// still shows our command line and environment).
    async fn execd(pid: i32, program: &str) {
        let start = Instant::now();
        while !std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .unwrap_or_default()
            .starts_with(program)
        {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "{program} did not start"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn ours_is_the_marker_not_a_mention_of_the_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        // Ours: started with the marker (as every component, executor and task).
        let mut marked = std::process::Command::new("sleep")
            .arg("60")
            .env(NODE_ENV, dir.path())
            .spawn()
            .unwrap();
        // Not ours: an operator's process naming the dir.
        let mut naming = std::process::Command::new("sleep")
            .arg("60")
            .arg(dir.path().join("logs/agent.log"))
            .env_remove(NODE_ENV)
            .spawn()
            .unwrap();
        let (m, n) = (marked.id() as i32, naming.id() as i32);
        execd(m, "sleep").await;
        execd(n, "sleep").await;
        assert!(is_ours(m, dir.path()));
        assert!(!is_ours(n, dir.path()));
        // The same dir spelled with a trailing slash is; another dir is not.
        assert!(is_ours(m, &dir.path().join("")));
        assert!(!is_ours(m, &dir.path().join("sub")));
        assert!(!is_ours(m, dir.path().parent().unwrap()));
        let found = processes_of(dir.path());
        assert!(found.contains(&m), "{found:?}");
        assert!(!found.contains(&n), "{found:?}");
        terminate(m, Duration::from_secs(5)).await;
        let _ = marked.wait();
        assert!(!alive(m));
        let _ = naming.kill();
        let _ = naming.wait();
    }

    #[test]
    fn we_and_our_ancestors_are_spared() {
        let chain = self_and_ancestors();
        assert_eq!(chain[0], std::process::id() as i32);
        assert_eq!(chain.get(1).copied(), parent_of(chain[0]));
        assert!(chain.len() >= 2, "{chain:?}");
    }
}
