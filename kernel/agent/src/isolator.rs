//! Container isolation: the [`Isolator`] trait (every cgroup effect of the
//! agent goes through it, so the agent's logic is tested with a recording
//! fake) and its implementations: [`CgroupsIsolator`] (cgroups v1 or v2
//! through `cgroups-rs`) and [`NoIsolation`] (a plain process group, for
//! machines where the agent may not manage cgroups).
//!
//! A container's cgroup is `dcos/<container-id>` under each hierarchy
//! (v1: `cpu` and `memory`; v2: the unified tree). Limits follow Mesos'
//! `cgroups/cpu` and `cgroups/mem` isolators: `cpu.shares = 1024 × cpus`,
//! a CFS quota of `cpus × 100 ms` per 100 ms, and a memory hard limit of
//! the task's `mem` plus the command executor's own 32 MB (Mesos adds
//! the same overhead to command tasks).
//!
//! Owns cgroup paths, limits, OOM detection and destruction; it does not
//! decide when to kill or what to report.

use std::path::PathBuf;
use std::time::Duration;

use cgroups_rs::cgroup_builder::CgroupBuilder;
use cgroups_rs::cpu::CpuController;
use cgroups_rs::memory::MemController;
use cgroups_rs::{Cgroup, CgroupPid, Hierarchy};

/// Memory the command executor itself needs inside the container, in MB.
pub const EXECUTOR_MEM_MB: f64 = 32.0;
/// CFS period, in microseconds.
const CFS_PERIOD_US: u64 = 100_000;
/// Smallest CFS quota the kernel accepts, in microseconds.
const MIN_CFS_QUOTA_US: i64 = 1_000;

/// Errors of isolation.
#[derive(Debug, thiserror::Error)]
pub enum IsolatorError {
    /// A cgroup operation failed.
    #[error("cgroup {container}: {message}")]
    Cgroup {
        /// The container.
        container: String,
        /// What failed.
        message: String,
    },
}

/// What the container may use.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Limits {
    /// CPU shares and quota, from the task's `cpus`.
    pub cpus: Option<f64>,
    /// Memory hard limit in MB, from the task's `mem`.
    pub mem_mb: Option<f64>,
}

/// The container hit its memory limit and the kernel OOM-killed in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLimitation {
    /// The hard limit, in bytes.
    pub limit_bytes: u64,
    /// The highest usage seen, in bytes.
    pub max_usage_bytes: u64,
}

/// Every isolation effect the agent has.
pub trait Isolator: Send + Sync + 'static {
    /// Short name for logs and `/state` (`cgroups/v1`, `cgroups/v2`, `none`).
    fn name(&self) -> &'static str;
    /// Creates the container's cgroups with `limits`, before any process.
    fn prepare(&self, container: &str, limits: &Limits) -> Result<(), IsolatorError>;
    /// Moves `pid` (the executor; its task inherits) into the container.
    fn isolate(&self, container: &str, pid: u32) -> Result<(), IsolatorError>;
    /// Whether the kernel OOM-killed inside the container.
    fn memory_limitation(&self, container: &str) -> Option<MemoryLimitation>;
    /// Kills every process left in the container and removes its cgroups.
    fn destroy(&self, container: &str) -> Result<(), IsolatorError>;
}

/// No cgroups: processes run unconfined; kills go to process groups.
#[derive(Debug, Default)]
pub struct NoIsolation;

impl Isolator for NoIsolation {
    fn name(&self) -> &'static str {
        "none"
    }
    fn prepare(&self, _: &str, _: &Limits) -> Result<(), IsolatorError> {
        Ok(())
    }
    fn isolate(&self, _: &str, _: u32) -> Result<(), IsolatorError> {
        Ok(())
    }
    fn memory_limitation(&self, _: &str) -> Option<MemoryLimitation> {
        None
    }
    fn destroy(&self, _: &str) -> Result<(), IsolatorError> {
        Ok(())
    }
}

/// cgroups v1 (`cpu`, `memory`) or v2 (unified), as the machine has.
#[derive(Debug)]
pub struct CgroupsIsolator {
    v2: bool,
    /// Parent of every container cgroup, relative to the hierarchy roots.
    parent: String,
}

impl CgroupsIsolator {
    /// Uses the machine's hierarchy if the agent can create cgroups there.
    pub fn detect(parent: &str) -> Option<Self> {
        let v2 = cgroups_rs::hierarchies::is_cgroup2_unified_mode();
        let isolator = Self {
            v2,
            parent: parent.to_owned(),
        };
        // Probe: create and remove a cgroup.
        let probe = format!("probe-{}", std::process::id());
        let cg = CgroupBuilder::new(&isolator.path(&probe))
            .set_specified_controllers(isolator.controllers())
            .build(isolator.hierarchy())
            .ok()?;
        let ok = cg.exists();
        let _ = cg.delete();
        ok.then_some(isolator)
    }

    fn hierarchy(&self) -> Box<dyn Hierarchy> {
        cgroups_rs::hierarchies::auto()
    }

    fn controllers(&self) -> Vec<String> {
        vec!["cpu".to_owned(), "memory".to_owned()]
    }

    fn path(&self, container: &str) -> String {
        format!("{}/{container}", self.parent)
    }

    fn load(&self, container: &str) -> Cgroup {
        Cgroup::load_with_specified_controllers(
            self.hierarchy(),
            self.path(container),
            self.controllers(),
        )
    }

    fn err(container: &str, e: impl std::fmt::Display) -> IsolatorError {
        IsolatorError::Cgroup {
            container: container.to_owned(),
            message: e.to_string(),
        }
    }

    fn v2_file(&self, container: &str, file: &str) -> PathBuf {
        self.hierarchy()
            .root()
            .join(self.path(container))
            .join(file)
    }
}

/// `cpu.shares` for `cpus` (Mesos: 1024 per CPU, at least 2).
pub fn cpu_shares(cpus: f64) -> u64 {
    ((cpus * 1024.0).round() as u64).max(2)
}

/// The v2 `cpu.weight` equivalent of v1 shares (the kernel's and runc's
/// conversion).
pub fn shares_to_weight(shares: u64) -> u64 {
    1 + (shares.saturating_sub(2) * 9999) / 262_142
}

/// The memory hard limit in bytes for a task with `mem_mb`.
pub fn memory_limit_bytes(mem_mb: f64) -> i64 {
    ((mem_mb + EXECUTOR_MEM_MB) * 1024.0 * 1024.0) as i64
}

impl Isolator for CgroupsIsolator {
    fn name(&self) -> &'static str {
        if self.v2 {
            "cgroups/v2"
        } else {
            "cgroups/v1"
        }
    }

    fn prepare(&self, container: &str, limits: &Limits) -> Result<(), IsolatorError> {
        let cg = CgroupBuilder::new(&self.path(container))
            .set_specified_controllers(self.controllers())
            .build(self.hierarchy())
            .map_err(|e| Self::err(container, e))?;
        if let Some(cpus) = limits.cpus {
            if let Some(cpu) = cg.controller_of::<CpuController>() {
                let shares = cpu_shares(cpus);
                let value = if self.v2 {
                    shares_to_weight(shares)
                } else {
                    shares
                };
                cpu.set_shares(value).map_err(|e| Self::err(container, e))?;
                let quota = ((cpus * CFS_PERIOD_US as f64) as i64).max(MIN_CFS_QUOTA_US);
                cpu.set_cfs_quota_and_period(Some(quota), Some(CFS_PERIOD_US))
                    .map_err(|e| Self::err(container, e))?;
            }
        }
        if let Some(mem) = limits.mem_mb {
            let mc = cg
                .controller_of::<MemController>()
                .ok_or_else(|| Self::err(container, "no memory controller"))?;
            mc.set_limit(memory_limit_bytes(mem))
                .map_err(|e| Self::err(container, e))?;
        }
        Ok(())
    }

    fn isolate(&self, container: &str, pid: u32) -> Result<(), IsolatorError> {
        self.load(container)
            .add_task_by_tgid(CgroupPid::from(pid as u64))
            .map_err(|e| Self::err(container, e))
    }

    fn memory_limitation(&self, container: &str) -> Option<MemoryLimitation> {
        let cg = self.load(container);
        if !cg.exists() {
            return None;
        }
        let mc = cg.controller_of::<MemController>()?;
        let stat = mc.memory_stat();
        let oom_kills = if self.v2 {
            let events = std::fs::read_to_string(self.v2_file(container, "memory.events")).ok()?;
            parse_memory_events_oom_kill(&events)
        } else {
            stat.oom_control.oom_kill
        };
        (oom_kills > 0).then_some(MemoryLimitation {
            limit_bytes: stat.limit_in_bytes.max(0) as u64,
            max_usage_bytes: stat.max_usage_in_bytes.max(stat.usage_in_bytes),
        })
    }

    fn destroy(&self, container: &str) -> Result<(), IsolatorError> {
        let cg = self.load(container);
        if !cg.exists() {
            return Ok(());
        }
        if self.v2 {
            let _ = cg.kill();
        }
        // Without a freezer a fork can race one pass; repeat until empty.
        for _ in 0..100 {
            let procs = cg.procs();
            if procs.is_empty() {
                break;
            }
            for p in procs {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(p.pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // Remove each controller's directory on its own (cgroups-rs'
        // `delete` stops at the first controller that is already gone), and
        // retry while the kernel still accounts exiting processes.
        let dirs: Vec<PathBuf> = if self.v2 {
            vec![self.hierarchy().root().join(self.path(container))]
        } else {
            cg.subsystems()
                .iter()
                .map(|s| s.to_controller().path().to_owned())
                .collect()
        };
        for dir in dirs {
            let mut result = Ok(());
            for _ in 0..50 {
                result = match std::fs::remove_dir(&dir) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    other => other,
                };
                if result.is_ok() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            result.map_err(|e| Self::err(container, format!("removing {}: {e}", dir.display())))?;
        }
        Ok(())
    }
}

/// The `oom_kill` counter of a v2 `memory.events` file.
pub fn parse_memory_events_oom_kill(text: &str) -> u64 {
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .find(|(k, _)| *k == "oom_kill")
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
pub mod fake {
    //! A recording isolator for unit tests.
    use super::*;
    use std::sync::Mutex;

    /// One recorded call.
    #[derive(Debug, Clone, PartialEq)]
    pub enum Op {
        Prepare(String, Limits),
        Isolate(String, u32),
        Destroy(String),
    }

    /// Records every call; reports OOM for containers in `oom`.
    #[derive(Debug, Default)]
    pub struct Recording {
        pub ops: Mutex<Vec<Op>>,
        pub oom: Mutex<Vec<String>>,
    }

    impl Isolator for Recording {
        fn name(&self) -> &'static str {
            "recording"
        }
        fn prepare(&self, c: &str, l: &Limits) -> Result<(), IsolatorError> {
            self.ops.lock().unwrap().push(Op::Prepare(c.into(), *l));
            Ok(())
        }
        fn isolate(&self, c: &str, pid: u32) -> Result<(), IsolatorError> {
            self.ops.lock().unwrap().push(Op::Isolate(c.into(), pid));
            Ok(())
        }
        fn memory_limitation(&self, c: &str) -> Option<MemoryLimitation> {
            self.oom
                .lock()
                .unwrap()
                .iter()
                .any(|x| x == c)
                .then_some(MemoryLimitation {
                    limit_bytes: 96 << 20,
                    max_usage_bytes: 96 << 20,
                })
        }
        fn destroy(&self, c: &str) -> Result<(), IsolatorError> {
            self.ops.lock().unwrap().push(Op::Destroy(c.into()));
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_follow_mesos() {
        assert_eq!(cpu_shares(0.5), 512);
        assert_eq!(cpu_shares(0.0), 2);
        assert_eq!(cpu_shares(4.0), 4096);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(memory_limit_bytes(64.0), 96 * 1024 * 1024);
    }

    #[test]
    fn parses_v2_memory_events() {
        let text = "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n";
        assert_eq!(parse_memory_events_oom_kill(text), 1);
        assert_eq!(parse_memory_events_oom_kill("oom 0\n"), 0);
    }
}
