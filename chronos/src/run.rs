//! Runs, their tasks, and a job's history counters: the records the
//! scheduler core writes and the APIs read.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a run is (Metronome's run statuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunStatus {
    /// Recorded, waiting for an offer (also between retries).
    Initial,
    /// A task was sent to an agent.
    Starting,
    /// Its task is running.
    Active,
    /// Finished successfully.
    Success,
    /// Failed (after its retries), was missed, or was stopped.
    Failed,
}

impl RunStatus {
    /// SUCCESS or FAILED.
    pub fn is_done(self) -> bool {
        matches!(self, RunStatus::Success | RunStatus::Failed)
    }

    /// The Metronome spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Initial => "INITIAL",
            RunStatus::Starting => "STARTING",
            RunStatus::Active => "ACTIVE",
            RunStatus::Success => "SUCCESS",
            RunStatus::Failed => "FAILED",
        }
    }
}

/// Why a run exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Trigger {
    /// A schedule fired at `at`.
    Schedule {
        /// The schedule.
        schedule_id: String,
        /// The scheduled time (the run is keyed by it).
        at: DateTime<Utc>,
    },
    /// Someone asked (Chronos `PUT /job/{name}`, Metronome `POST runs`).
    Manual,
    /// All parents succeeded in cycle `cycle`.
    Parents {
        /// The child's cycle number.
        cycle: u64,
    },
}

/// One task launched for a run (a run has several when it retries).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// Mesos task id: `ct:<run id>:<attempt>:<job>`.
    pub task_id: String,
    /// The agent it was launched on.
    pub agent_id: Option<String>,
    /// When the launch was recorded (before ACCEPT).
    pub launched_at: DateTime<Utc>,
    /// When it was reported running.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub completed_at: Option<DateTime<Utc>>,
    /// The last Mesos state (`TASK_RUNNING` …).
    pub state: String,
}

/// One run of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// Its id, unique within the job. Scheduled runs: the scheduled time
    /// (`20250101T000000Z`), which makes "one run per scheduled time" a
    /// store constraint.
    pub id: String,
    /// The job.
    pub job: String,
    /// Where it is.
    pub status: RunStatus,
    /// Why it exists.
    pub trigger: Trigger,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// When it ended.
    #[serde(default)]
    pub completed_at: Option<DateTime<Utc>>,
    /// Its tasks, oldest first.
    #[serde(default)]
    pub attempts: Vec<Attempt>,
    /// Failed tasks retried so far.
    #[serde(default)]
    pub retries: u32,
    /// Never started: its starting deadline passed, or FORBID skipped it.
    #[serde(default)]
    pub missed: bool,
    /// Why it failed, when not a plain task failure.
    #[serde(default)]
    pub reason: Option<String>,
    /// Extra arguments (Chronos `PUT /job/{name}?arguments=`).
    #[serde(default)]
    pub args: Vec<String>,
    /// A kill was sent because it ran past its max completion time (or was
    /// stopped): its task's end fails the run, with no retry.
    #[serde(default)]
    pub killing: bool,
}

impl Run {
    /// The task id of attempt `n`.
    pub fn task_id(&self, n: usize) -> String {
        format!("ct:{}:{}:{}", self.id, n, self.job)
    }

    /// The current attempt, if one was launched and has not ended.
    pub fn live_attempt(&self) -> Option<&Attempt> {
        self.attempts.last().filter(|a| a.completed_at.is_none())
    }

    /// The scheduled time, for scheduled runs.
    pub fn scheduled_at(&self) -> Option<DateTime<Utc>> {
        match &self.trigger {
            Trigger::Schedule { at, .. } => Some(*at),
            _ => None,
        }
    }
}

/// Splits a task id into (run id, attempt, job).
pub fn parse_task_id(task_id: &str) -> Option<(String, usize, String)> {
    let mut parts = task_id.splitn(4, ':');
    if parts.next()? != "ct" {
        return None;
    }
    let run = parts.next()?.to_owned();
    let n = parts.next()?.parse().ok()?;
    let job = parts.next()?.to_owned();
    Some((run, n, job))
}

/// The id of a run scheduled at `at`.
pub fn scheduled_run_id(at: DateTime<Utc>) -> String {
    if at.timestamp_subsec_millis() == 0 {
        at.format("%Y%m%dT%H%M%SZ").to_string()
    } else {
        at.format("%Y%m%dT%H%M%S%3fZ").to_string()
    }
}

/// A job's counters (Chronos status fields, Metronome historySummary).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// Successful runs.
    pub success_count: u64,
    /// Failed runs (missed ones included).
    pub failure_count: u64,
    /// Of the failures, runs that never started.
    #[serde(default)]
    pub missed_count: u64,
    /// Failures since the last success.
    pub errors_since_last_success: u64,
    /// Last success.
    pub last_success_at: Option<DateTime<Utc>>,
    /// Last failure.
    pub last_failure_at: Option<DateTime<Utc>>,
}

impl History {
    /// Counts a finished run.
    pub fn record(&mut self, run: &Run, at: DateTime<Utc>) {
        match run.status {
            RunStatus::Success => {
                self.success_count += 1;
                self.errors_since_last_success = 0;
                self.last_success_at = Some(at);
            }
            RunStatus::Failed => {
                self.failure_count += 1;
                self.errors_since_last_success += 1;
                self.last_failure_at = Some(at);
                if run.missed {
                    self.missed_count += 1;
                }
            }
            _ => {}
        }
    }
}

/// A dependent job's progress in its current cycle: which parents have
/// succeeded since it last ran.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Cycles completed so far (the next child run is cycle `cycle + 1`).
    pub cycle: u64,
    /// Parents done in the current cycle.
    pub done: BTreeSet<String>,
}
