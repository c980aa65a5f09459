//! The master ↔ agent protocol (ours: Mesos used libprocess messages, which
//! no third-party client speaks, so we are free to make it plain HTTP/JSON).
//!
//! The agent always opens the connections, so agents behind NAT work:
//!
//! | direction | HTTP | body | answer |
//! |---|---|---|---|
//! | agent → master | `POST /agent/v1/subscribe` | [`Register`] | `200`, a chunked RecordIO stream of [`Event`] (first [`Event::Registered`]), header `Mesos-Stream-Id` |
//! | agent → master | `POST /agent/v1/call` | [`Call`] (with `Mesos-Stream-Id`) | `202` empty; `400`/`403`/`404` with a text error |
//!
//! A master that is not the leader answers `307` with `Location` pointing at
//! the leader's same path, or `503` when there is no leader; the agent
//! follows and re-subscribes there.
//!
//! ## Life of an agent connection
//!
//! 1. The agent subscribes with [`Register`]. Without `agent_id` it is a new
//!    agent and the master assigns `<master-id>-S<n>`; with `agent_id` (after
//!    an agent restart, or a master failover) it re-registers and lists every
//!    task it still has in `tasks`, with their latest state. The master
//!    reconciles: tasks it knew on that agent but the agent does not list
//!    go `TASK_LOST`/`TASK_DROPPED`; tasks the agent lists and the master did
//!    not know (master failover) are adopted.
//! 2. The master answers [`Event::Registered`] with the agent id and the
//!    heartbeat interval. The agent sends [`Call::Heartbeat`] every interval;
//!    the master sends [`Event::Heartbeat`] on the stream at the same
//!    interval. A master that hears nothing for `agent_ping_timeout ×
//!    max_agent_ping_timeouts` marks the agent unreachable; an agent that
//!    reads nothing for 5 intervals drops the stream and re-subscribes.
//! 3. Launches and kills arrive as [`Event::RunTask`], [`Event::RunTaskGroup`],
//!    [`Event::KillTask`]. Status updates go up as [`Call::Update`], each with
//!    a fresh `status.uuid`; the master forwards them to the framework, and
//!    when the framework ACKNOWLEDGEs, the master sends
//!    [`Event::Acknowledge`] down. The agent keeps every unacknowledged
//!    update checkpointed and re-sends the oldest one per task (Mesos'
//!    stream-per-task ordering) until it is acknowledged.
//!
//! Status updates that the master itself makes up (TASK_LOST when an agent
//! is unreachable, TASK_ERROR for a bad launch) never travel here.

use serde::{Deserialize, Serialize};

use crate::v1::{
    AgentId, AgentInfo, Base64Bytes, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo,
    KillPolicy, MasterInfo, Resource, Task, TaskGroupInfo, TaskId, TaskInfo, TaskStatus,
};

/// Path of the agent subscription stream on the master.
pub const SUBSCRIBE_PATH: &str = "/agent/v1/subscribe";
/// Path of agent calls on the master.
pub const CALL_PATH: &str = "/agent/v1/call";
/// Header carrying the stream id, as on `/api/v1/scheduler`.
pub const STREAM_ID_HEADER: &str = "Mesos-Stream-Id";

/// Body of `POST /agent/v1/subscribe`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Register {
    /// Set when re-registering (agent restart or master failover).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
    /// Hostname, port, total resources, attributes.
    pub agent_info: AgentInfo,
    /// Base URL of the agent's own HTTP server (`http://host:5051`), where
    /// `/files`, `/state` and `/api/v1` live. Used as the `pid` in state.
    pub endpoint: String,
    /// Agent software version.
    #[serde(default)]
    pub version: String,
    /// Every task the agent still has, with its latest state (re-registration).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<Task>,
    /// Executors running those tasks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub executors: Vec<ExecutorInfo>,
    /// Frameworks of those tasks, so a fresh master can show them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub frameworks: Vec<FrameworkInfo>,
}

/// Events on the agent's subscription stream, RecordIO-framed JSON,
/// tagged by `type`. Launches are big and heartbeats small; events are
/// short-lived wire messages, so no boxing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Event {
    /// First event: who the agent is now and how often to heartbeat.
    Registered {
        /// The agent's id (new or confirmed).
        agent_id: AgentId,
        /// The master answering.
        master_info: MasterInfo,
        /// Seconds between heartbeats, both ways.
        heartbeat_interval_seconds: f64,
    },
    /// Keep-alive from the master.
    Heartbeat,
    /// Launch one task (a command task, or a task with its own executor).
    RunTask {
        /// The framework, as subscribed (user, role, checkpoint, …).
        framework: FrameworkInfo,
        /// The task, already validated against the offer.
        task: TaskInfo,
    },
    /// Launch a task group with its executor (LAUNCH_GROUP).
    RunTaskGroup {
        /// The framework.
        framework: FrameworkInfo,
        /// The default executor of the group.
        executor: ExecutorInfo,
        /// The tasks.
        task_group: TaskGroupInfo,
    },
    /// Kill a task (scheduler KILL, framework teardown, drain).
    KillTask {
        /// Owner.
        framework_id: FrameworkId,
        /// The task.
        task_id: TaskId,
        /// Overrides the task's kill policy (grace period), if set.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        kill_policy: Option<KillPolicy>,
    },
    /// The framework acknowledged the update with `uuid`.
    Acknowledge {
        /// Owner.
        framework_id: FrameworkId,
        /// The task.
        task_id: TaskId,
        /// `TaskStatus.uuid` of the acknowledged update.
        uuid: Base64Bytes,
    },
    /// Kill every task of a framework and forget it (teardown, failover
    /// timeout expired).
    ShutdownFramework {
        /// The framework.
        framework_id: FrameworkId,
    },
    /// A scheduler MESSAGE for one of the framework's executors.
    FrameworkMessage {
        /// Owner.
        framework_id: FrameworkId,
        /// Destination executor.
        executor_id: ExecutorId,
        /// Opaque payload.
        data: Base64Bytes,
    },
    /// Drain: kill every task (with at most this grace period) and stop
    /// accepting new ones until the operator reactivates the agent.
    Drain {
        /// Upper bound on kill grace periods, in seconds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_grace_period_seconds: Option<f64>,
    },
    /// The agent was removed (MARK_AGENT_GONE) or refused: kill everything
    /// and stop; do not re-register with this id.
    Shutdown {
        /// Why, for the agent's log.
        message: String,
    },
}

/// Calls from the agent, `POST /agent/v1/call`, tagged by `type`.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Call {
    /// Still alive.
    Heartbeat {
        /// Sender.
        agent_id: AgentId,
    },
    /// A reliable status update; `status.uuid` is set and the master
    /// answers with [`Event::Acknowledge`] once the framework acknowledged.
    Update {
        /// Sender.
        agent_id: AgentId,
        /// Owner of the task.
        framework_id: FrameworkId,
        /// The update (with `uuid`, `agent_id`, `timestamp`, `source`).
        status: TaskStatus,
    },
    /// An executor's MESSAGE for its framework.
    Message {
        /// Sender.
        agent_id: AgentId,
        /// Destination framework.
        framework_id: FrameworkId,
        /// Sending executor.
        executor_id: ExecutorId,
        /// Opaque payload.
        data: Base64Bytes,
    },
    /// The agent's total resources changed (rarely; e.g. after a restart
    /// with new `--resources`, which Mesos refuses but we accept when the
    /// running tasks still fit).
    UpdateResources {
        /// Sender.
        agent_id: AgentId,
        /// New total.
        resources: Vec<Resource>,
    },
}

impl Call {
    /// The sending agent.
    pub fn agent_id(&self) -> &AgentId {
        match self {
            Call::Heartbeat { agent_id }
            | Call::Update { agent_id, .. }
            | Call::Message { agent_id, .. }
            | Call::UpdateResources { agent_id, .. } => agent_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::TaskState;

    #[test]
    fn events_are_tagged_by_type() {
        let e = Event::KillTask {
            framework_id: "f".into(),
            task_id: "t".into(),
            kill_policy: None,
        };
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["type"], "KILL_TASK");
        assert_eq!(json["task_id"]["value"], "t");
        let back: Event = serde_json::from_value(json).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn update_round_trips() {
        let call = Call::Update {
            agent_id: "a".into(),
            framework_id: "f".into(),
            status: TaskStatus::new("t".into(), TaskState::Running),
        };
        let text = serde_json::to_string(&call).unwrap();
        assert!(text.contains("\"type\":\"UPDATE\""));
        let back: Call = serde_json::from_str(&text).unwrap();
        assert_eq!(back.agent_id().as_str(), "a");
    }
}
