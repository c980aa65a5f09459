//! What the agent knows about each task, and the status-update stream of
//! each task: a pure core with no I/O and no clock of its own (callers pass
//! `now`).
//!
//! A task's updates form an ordered stream: every update is appended to
//! `pending`; only the oldest (`pending[0]`) is ever in flight to the
//! master; it is re-sent with a doubling backoff until the master's
//! `Acknowledge` for its uuid arrives, then the next one goes. A task is
//! *complete* once its state is terminal and nothing is pending; the agent
//! then forgets it (and its checkpoint record).
//!
//! Owns [`TaskRecord`] (also the checkpoint format of a task) and the
//! retry schedule; sending, checkpointing and launching belong to
//! [`crate::agent`].

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use dcos_api::v1::{
    Base64Bytes, ExecutorId, ExecutorInfo, FrameworkId, Task, TaskId, TaskInfo, TaskState,
    TaskStatus,
};
use serde::{Deserialize, Serialize};

/// Longest pause between two re-sends of one update.
pub const MAX_RETRY_BACKOFF: Duration = Duration::from_secs(600);

/// Acknowledged uuids remembered per task, to drop re-sent duplicates.
const MAX_ACKNOWLEDGED: usize = 32;

/// Checkpoint key of the agent id.
pub const AGENT_ID_KEY: &str = "agent_id";

/// Checkpoint key of a framework.
pub fn framework_key(framework_id: &FrameworkId) -> String {
    format!("framework/{}", framework_id.value)
}

/// Checkpoint key of a task.
pub fn task_key(framework_id: &FrameworkId, task_id: &TaskId) -> String {
    format!("task/{}/{}", framework_id.value, task_id.value)
}

/// When the front update goes out again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Next send.
    pub next: Instant,
    /// Pause after that send.
    pub backoff: Duration,
}

/// The task group (LAUNCH_GROUP) a task was launched in. Each task of a
/// group runs in its own container under its own executor process (keyed
/// by the task id, like a command task); the group's executor id is what
/// the task is reported under (status updates, `/state`, re-registration).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// Names this launch (a UUID): several groups may share one executor id.
    pub id: String,
    /// The group's (DEFAULT) executor.
    pub executor: ExecutorInfo,
    /// Every task of the group, in launch order.
    pub tasks: Vec<TaskId>,
}

/// One task on this agent (also its checkpoint record).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskRecord {
    /// Owner.
    pub framework_id: FrameworkId,
    /// What was launched.
    pub info: TaskInfo,
    /// The executor running it (the task id for command tasks).
    pub executor_id: ExecutorId,
    /// The container (a UUID; also the cgroup and `runs/` name).
    pub container_id: String,
    /// The sandbox on the host.
    pub directory: PathBuf,
    /// The executor process, once started.
    #[serde(default)]
    pub executor_pid: Option<u32>,
    /// Its start time (`/proc/<pid>/stat` field 22), against pid reuse.
    #[serde(default)]
    pub executor_start_time: Option<u64>,
    /// Latest state reported (by the executor or the agent).
    pub state: TaskState,
    /// Latest status reported.
    #[serde(default)]
    pub latest: Option<TaskStatus>,
    /// Updates not yet acknowledged by the framework, oldest first.
    #[serde(default)]
    pub pending: VecDeque<TaskStatus>,
    /// The latest acknowledged uuids (an executor that lost the agent
    /// re-sends updates the framework already acknowledged).
    #[serde(default)]
    pub acknowledged: VecDeque<Base64Bytes>,
    /// Retry schedule of `pending[0]` (not checkpointed: after a restart
    /// everything pending is sent at once).
    #[serde(skip)]
    pub retry: Option<Retry>,
    /// The task group it belongs to, if launched by LAUNCH_GROUP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<Group>,
}

/// What an acknowledgement did.
#[derive(Debug, Clone, PartialEq)]
pub enum AckOutcome {
    /// The front update was acknowledged; `next` is the one to send now.
    Acked {
        /// The new front, if any.
        next: Option<Box<TaskStatus>>,
    },
    /// The uuid is not the front update's (duplicate or out of order).
    Ignored,
}

impl TaskRecord {
    /// A freshly launched task, `TASK_STAGING`, nothing pending.
    pub fn new(
        framework_id: FrameworkId,
        info: TaskInfo,
        executor_id: ExecutorId,
        container_id: String,
        directory: PathBuf,
    ) -> Self {
        Self {
            framework_id,
            info,
            executor_id,
            container_id,
            directory,
            executor_pid: None,
            executor_start_time: None,
            state: TaskState::Staging,
            latest: None,
            pending: VecDeque::new(),
            acknowledged: VecDeque::new(),
            retry: None,
            group: None,
        }
    }

    /// The executor id the outside world sees: the group's for a task of a
    /// task group, else the executor's own.
    pub fn reported_executor_id(&self) -> &ExecutorId {
        self.group
            .as_ref()
            .map(|g| &g.executor.executor_id)
            .unwrap_or(&self.executor_id)
    }

    /// Checkpoint key.
    pub fn key(&self) -> String {
        task_key(&self.framework_id, &self.info.task_id)
    }

    /// Whether an update with this uuid was already recorded (pending or
    /// acknowledged).
    pub fn is_known(&self, uuid: &Base64Bytes) -> bool {
        self.pending.iter().any(|s| s.uuid.as_ref() == Some(uuid))
            || self.acknowledged.contains(uuid)
    }

    /// Appends an update to the stream. Returns true when it is the new
    /// front (send it now). Updates after a terminal one are dropped
    /// (returns false and records nothing).
    pub fn push_update(&mut self, status: TaskStatus, now: Instant, base: Duration) -> bool {
        if self.state.is_terminal() {
            return false;
        }
        self.state = status.state;
        self.latest = Some(status.clone());
        self.pending.push_back(status);
        if self.pending.len() == 1 {
            self.retry = Some(Retry {
                next: now + base,
                backoff: base,
            });
            true
        } else {
            false
        }
    }

    /// The framework acknowledged `uuid`.
    pub fn acknowledge(&mut self, uuid: &Base64Bytes, now: Instant, base: Duration) -> AckOutcome {
        match self.pending.front() {
            Some(front) if front.uuid.as_ref() == Some(uuid) => {
                self.pending.pop_front();
                self.acknowledged.push_back(uuid.clone());
                if self.acknowledged.len() > MAX_ACKNOWLEDGED {
                    self.acknowledged.pop_front();
                }
                let next = self.pending.front().cloned().map(Box::new);
                self.retry = next.as_ref().map(|_| Retry {
                    next: now + base,
                    backoff: base,
                });
                AckOutcome::Acked { next }
            }
            _ => AckOutcome::Ignored,
        }
    }

    /// The front update if its retry is due at `now` (and reschedules it
    /// with a doubled backoff, capped at [`MAX_RETRY_BACKOFF`]).
    pub fn due(&mut self, now: Instant, base: Duration) -> Option<TaskStatus> {
        let front = self.pending.front()?;
        let retry = self.retry.get_or_insert(Retry {
            next: now,
            backoff: base,
        });
        if retry.next > now {
            return None;
        }
        retry.backoff = (retry.backoff * 2).min(MAX_RETRY_BACKOFF);
        retry.next = now + retry.backoff;
        Some(front.clone())
    }

    /// Sends the front again at once (after re-registering).
    pub fn front_now(&mut self, now: Instant, base: Duration) -> Option<TaskStatus> {
        let front = self.pending.front()?.clone();
        self.retry = Some(Retry {
            next: now + base,
            backoff: base,
        });
        Some(front)
    }

    /// Terminal and fully acknowledged: the agent can forget it.
    pub fn is_complete(&self) -> bool {
        self.state.is_terminal() && self.pending.is_empty()
    }

    /// The master's view of this task (for `Register.tasks`): `state` is
    /// the latest state, `statuses` holds the latest status, and
    /// `status_update_state`/`status_update_uuid` name the oldest update
    /// not yet acknowledged (the one the master will receive next).
    pub fn to_task(&self) -> Task {
        let mut task = Task::from_task_info(&self.info, self.framework_id.clone());
        task.executor_id = Some(self.reported_executor_id().clone());
        task.state = self.state;
        task.statuses = self.latest.iter().cloned().collect();
        if let Some(front) = self.pending.front() {
            task.status_update_state = Some(front.state);
            task.status_update_uuid = front.uuid.clone();
        }
        task
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dcos_api::v1::{AgentId, CommandInfo};

    fn record() -> TaskRecord {
        let info = TaskInfo::command(
            "t",
            TaskId::new("t"),
            AgentId::new("a"),
            CommandInfo::shell("true"),
        );
        TaskRecord::new(
            FrameworkId::new("f"),
            info,
            ExecutorId::new("t"),
            "c".into(),
            PathBuf::from("/tmp/x"),
        )
    }

    fn status(state: TaskState, id: u8) -> TaskStatus {
        let mut s = TaskStatus::new(TaskId::new("t"), state);
        s.uuid = Some(Base64Bytes::from(vec![id; 16]));
        s
    }

    #[test]
    fn updates_go_out_one_at_a_time_in_order() {
        let base = Duration::from_secs(10);
        let t0 = Instant::now();
        let mut r = record();
        assert!(r.push_update(status(TaskState::Starting, 1), t0, base));
        assert!(!r.push_update(status(TaskState::Running, 2), t0, base));
        assert!(!r.push_update(status(TaskState::Finished, 3), t0, base));
        assert_eq!(r.state, TaskState::Finished);
        // A late update after the terminal one is dropped.
        assert!(!r.push_update(status(TaskState::Running, 4), t0, base));
        assert_eq!(r.pending.len(), 3);

        // Acknowledging anything but the front does nothing.
        let wrong = Base64Bytes::from(vec![2u8; 16]);
        assert_eq!(r.acknowledge(&wrong, t0, base), AckOutcome::Ignored);
        let one = Base64Bytes::from(vec![1u8; 16]);
        match r.acknowledge(&one, t0, base) {
            AckOutcome::Acked { next: Some(n) } => assert_eq!(n.state, TaskState::Running),
            other => panic!("{other:?}"),
        }
        assert_eq!(r.acknowledge(&one, t0, base), AckOutcome::Ignored);
        r.acknowledge(&wrong, t0, base);
        assert!(!r.is_complete());
        let three = Base64Bytes::from(vec![3u8; 16]);
        assert_eq!(
            r.acknowledge(&three, t0, base),
            AckOutcome::Acked { next: None }
        );
        assert!(r.is_complete());
        assert!(r.is_known(&one) && r.is_known(&three));
    }

    #[test]
    fn retries_back_off_doubling_and_capped() {
        let base = Duration::from_secs(10);
        let t0 = Instant::now();
        let mut r = record();
        r.push_update(status(TaskState::Running, 1), t0, base);
        assert!(r.due(t0 + Duration::from_secs(9), base).is_none());
        assert!(r.due(t0 + Duration::from_secs(10), base).is_some());
        // Next after 20 s more, then 40 s.
        let t1 = t0 + Duration::from_secs(10);
        assert!(r.due(t1 + Duration::from_secs(19), base).is_none());
        assert!(r.due(t1 + Duration::from_secs(20), base).is_some());
        let mut t = t1 + Duration::from_secs(20);
        for _ in 0..20 {
            t += MAX_RETRY_BACKOFF;
            assert!(r.due(t, base).is_some());
        }
        assert_eq!(r.retry.unwrap().backoff, MAX_RETRY_BACKOFF);
    }

    #[test]
    fn register_view_names_the_oldest_pending_update() {
        let base = Duration::from_secs(10);
        let t0 = Instant::now();
        let mut r = record();
        r.push_update(status(TaskState::Starting, 1), t0, base);
        r.push_update(status(TaskState::Running, 2), t0, base);
        let task = r.to_task();
        assert_eq!(task.state, TaskState::Running);
        assert_eq!(task.status_update_state, Some(TaskState::Starting));
        assert_eq!(task.statuses.len(), 1);
        assert_eq!(task.executor_id, Some(ExecutorId::new("t")));
        // The record round-trips through its checkpoint form.
        let json = serde_json::to_string(&r).unwrap();
        let back: TaskRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back.pending.len(), 2);
        assert!(back.retry.is_none());
        assert!(back.group.is_none());
    }

    #[test]
    fn a_task_of_a_group_is_reported_under_the_groups_executor() {
        let mut r = record();
        r.group = Some(Group {
            id: "g".into(),
            executor: ExecutorInfo::new(ExecutorId::new("ex")),
            tasks: vec![TaskId::new("t"), TaskId::new("u")],
        });
        assert_eq!(r.reported_executor_id(), &ExecutorId::new("ex"));
        assert_eq!(r.to_task().executor_id, Some(ExecutorId::new("ex")));
        // The process still subscribes as the task's own executor.
        assert_eq!(r.executor_id, ExecutorId::new("t"));
        // The group survives the checkpoint.
        let back: TaskRecord = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back.group, r.group);
    }
}
