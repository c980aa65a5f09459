//! Sandbox garbage collection, as Mesos' `--gc_delay`: the run directories
//! of containers that are over (`slaves/*/frameworks/*/executors/*/runs/*`)
//! are removed once nothing has been written to them for the delay, and an
//! executor directory goes with its last run. Directories of tasks the
//! agent still holds (and a task group's shared sandbox while any of its
//! tasks does) are never touched, whatever their age.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// When a run directory was last written to: the newest modification time
/// of the directory and the files directly in it (a task's `stdout` and
/// `stderr` keep changing while it runs).
fn last_written(dir: &Path) -> Option<SystemTime> {
    let mut newest = std::fs::symlink_metadata(dir).ok()?.modified().ok()?;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        if let Ok(m) = entry.metadata() {
            if let Ok(t) = m.modified() {
                newest = newest.max(t);
            }
        }
    }
    Some(newest)
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect()
}

/// Removes the run directories under `work_dir/slaves` that are not in
/// `live` and were last written more than `delay` before `now`; returns
/// what it removed.
pub fn sweep(
    work_dir: &Path,
    live: &HashSet<PathBuf>,
    delay: Duration,
    now: SystemTime,
) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    for agent in subdirs(&work_dir.join("slaves")) {
        for framework in subdirs(&agent.join("frameworks")) {
            for executor in subdirs(&framework.join("executors")) {
                let runs = executor.join("runs");
                for run in subdirs(&runs) {
                    if live.contains(&run) {
                        continue;
                    }
                    let old = last_written(&run)
                        .and_then(|t| now.duration_since(t).ok())
                        .is_some_and(|age| age >= delay);
                    if !old {
                        continue;
                    }
                    match std::fs::remove_dir_all(&run) {
                        Ok(()) => removed.push(run),
                        Err(e) => tracing::warn!("gc: cannot remove {}: {e}", run.display()),
                    }
                }
                if subdirs(&runs).is_empty() && !live.iter().any(|l| l.starts_with(&executor)) {
                    // Only the `latest` link (or nothing) is left.
                    let _ = std::fs::remove_dir_all(&executor);
                }
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(root: &Path, executor: &str, container: &str) -> PathBuf {
        let dir = root.join(format!(
            "slaves/a/frameworks/f/executors/{executor}/runs/{container}"
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("stdout"), "x").unwrap();
        dir
    }

    #[test]
    fn only_old_directories_of_finished_containers_go() {
        let root = tempfile::tempdir().unwrap();
        let done = run(root.path(), "done", "c1");
        let live = run(root.path(), "live", "c2");
        let group = run(root.path(), "group", "g1");
        let fresh = run(root.path(), "fresh", "c3");
        std::os::unix::fs::symlink("c1", done.parent().unwrap().join("latest")).unwrap();
        let keep: HashSet<PathBuf> = [live.clone(), group.clone()].into();
        let delay = Duration::from_secs(3600);

        // Nothing is old yet.
        assert!(sweep(root.path(), &keep, delay, SystemTime::now()).is_empty());

        // Two hours later: everything not live goes, the executor of the
        // finished one with it (its `latest` link included).
        let later = SystemTime::now() + Duration::from_secs(7200);
        let mut removed = sweep(root.path(), &keep, delay, later);
        removed.sort();
        let mut expected = vec![done.clone(), fresh.clone()];
        expected.sort();
        assert_eq!(removed, expected);
        assert!(!done.parent().unwrap().parent().unwrap().exists());
        assert!(live.join("stdout").exists() && group.exists());
    }
}
