//! The executor API, `/api/v1/executor` on the agent
//! (`mesos/v1/executor/executor.proto`): the [`Call`]s an executor sends,
//! the [`Event`]s the agent streams back, and the environment the agent
//! starts an executor with ([`ExecutorEnvironment`]).
//!
//! Owns parsing and emitting those messages and the `MESOS_*` variable
//! names and value formats. Launching executors and enforcing the
//! registration timeout belong to the agent.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::v1::{
    AgentInfo, Base64Bytes, ContainerId, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo,
    KillPolicy, TaskGroupInfo, TaskId, TaskInfo, TaskStatus,
};

/// Errors from parsing executor API messages or environments.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    /// The body is not valid JSON for the message, names an unknown type,
    /// or lacks a required field (including either ID of a call).
    #[error("malformed executor {what}: {source}")]
    Malformed {
        /// `call` or `event`.
        what: &'static str,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A required environment variable is not set.
    #[error("environment variable {0} is not set")]
    MissingEnv(&'static str),
    /// An environment variable has a value of the wrong form.
    #[error("environment variable {name} has invalid value {value:?}")]
    InvalidEnv {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
    },
}

proto_union! {
    /// What an executor [`Call`] does, by `type`.
    pub enum CallBody / CallType / CallWireIn / CallWireOut {
        extras { executor_id: ExecutorId, framework_id: FrameworkId }
        /// Open the event stream, resending anything unacknowledged.
        Subscribe(SUBSCRIBE = 1) => subscribe: Subscribe [optional],
        /// A task status update.
        Update(UPDATE = 2) => update: Update,
        /// Bytes for the scheduler (best effort).
        Message(MESSAGE = 3) => message: Message,
        /// Keep-alive.
        Heartbeat(HEARTBEAT = 4),
    }
}

/// An executor call; both IDs are required by the proto.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The calling executor.
    pub executor_id: ExecutorId,
    /// Its framework.
    pub framework_id: FrameworkId,
    /// What the call does.
    pub body: CallBody,
}

impl Call {
    /// The `type` tag.
    pub fn kind(&self) -> CallType {
        self.body.kind()
    }

    /// Parses a JSON request body.
    pub fn from_json(body: &[u8]) -> Result<Self, ExecutorError> {
        serde_json::from_slice(body).map_err(|source| ExecutorError::Malformed {
            what: "call",
            source,
        })
    }

    /// The JSON encoding.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("executor calls have only string map keys")
    }
}

impl Serialize for Call {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.body
            .to_wire(Some(&self.executor_id), Some(&self.framework_id))
            .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Call {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let mut wire = CallWireIn::deserialize(d)?;
        let executor_id = wire
            .executor_id
            .take()
            .ok_or_else(|| D::Error::missing_field("executor_id"))?;
        let framework_id = wire
            .framework_id
            .take()
            .ok_or_else(|| D::Error::missing_field("framework_id"))?;
        let body = wire.into_body().map_err(D::Error::custom)?;
        Ok(Self {
            executor_id,
            framework_id,
            body,
        })
    }
}

/// `Call.Subscribe`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Subscribe {
    /// Tasks launched but not yet acknowledged (on resubscribe).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unacknowledged_tasks: Vec<TaskInfo>,
    /// Updates sent but not yet acknowledged (on resubscribe).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unacknowledged_updates: Vec<Update>,
}

/// `Call.Update`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Update {
    /// The status; `uuid` must be a fresh RFC 4122 UUID.
    pub status: TaskStatus,
}

/// `Call.Message` and `Event.Message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The payload (base64 on the wire).
    pub data: Base64Bytes,
}

proto_union! {
    /// An event the agent streams to an executor.
    pub enum Event / EventType / EventWireIn / EventWireOut [serde] {
        extras {}
        /// First event of a subscription.
        Subscribed(SUBSCRIBED = 1) => subscribed: Subscribed,
        /// Launch a task; answer with TASK_RUNNING once it runs.
        Launch(LAUNCH = 2) => launch: Launch,
        /// Launch a task group atomically.
        LaunchGroup(LAUNCH_GROUP = 8) => launch_group: LaunchGroup,
        /// Kill a task; answer with a terminal update.
        Kill(KILL = 3) => kill: Kill,
        /// The scheduler acknowledged an update.
        Acknowledged(ACKNOWLEDGED = 4) => acknowledged: Acknowledged,
        /// Bytes from the scheduler.
        Message(MESSAGE = 5) => message: Message,
        /// The executor sent an invalid call.
        Error(ERROR = 6) => error: Error,
        /// Kill all tasks and exit within the shutdown grace period.
        Shutdown(SHUTDOWN = 7),
        /// Keep-alive.
        Heartbeat(HEARTBEAT = 9),
    }
}

impl Event {
    /// Parses one event (one RecordIO record).
    pub fn from_json(record: &[u8]) -> Result<Self, ExecutorError> {
        serde_json::from_slice(record).map_err(|source| ExecutorError::Malformed {
            what: "event",
            source,
        })
    }

    /// The JSON encoding, ready for RecordIO framing.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("executor events have only string map keys")
    }
}

/// `Event.Subscribed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscribed {
    /// The executor's own info.
    pub executor_info: ExecutorInfo,
    /// Its framework (with `id` set).
    pub framework_info: FrameworkInfo,
    /// The agent (its `id` is the agent ID).
    pub agent_info: AgentInfo,
    /// The executor's container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_id: Option<ContainerId>,
}

/// `Event.Launch`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Launch {
    /// The task.
    pub task: TaskInfo,
}

/// `Event.LaunchGroup`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaunchGroup {
    /// The tasks.
    pub task_group: TaskGroupInfo,
}

/// `Event.Kill`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kill {
    /// The task.
    pub task_id: TaskId,
    /// Overrides the task's kill policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_policy: Option<KillPolicy>,
}

/// `Event.Acknowledged`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledged {
    /// The task.
    pub task_id: TaskId,
    /// The acknowledged update's `uuid`.
    pub uuid: Base64Bytes,
}

/// `Event.Error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Error {
    /// What was wrong with the call.
    pub message: String,
}

/// Default `MESOS_RECOVERY_TIMEOUT` (15 minutes).
pub const DEFAULT_RECOVERY_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// The environment the agent starts an executor with.
///
/// [`ExecutorEnvironment::to_vars`] is what the agent sets;
/// [`ExecutorEnvironment::from_lookup`] is what an executor reads (pass
/// `|k| std::env::var(k).ok()` at the edge; tests pass a map).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutorEnvironment {
    /// `MESOS_FRAMEWORK_ID`.
    pub framework_id: FrameworkId,
    /// `MESOS_EXECUTOR_ID`.
    pub executor_id: ExecutorId,
    /// `MESOS_DIRECTORY`: the sandbox path on the host.
    pub directory: String,
    /// `MESOS_SANDBOX`: the sandbox path as the executor sees it.
    pub sandbox: String,
    /// `MESOS_AGENT_ENDPOINT`: `ip:port` of the agent.
    pub agent_endpoint: String,
    /// `MESOS_CHECKPOINT`: `1` when the framework checkpoints.
    pub checkpoint: bool,
    /// `MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD`.
    pub shutdown_grace_period: Duration,
    /// `MESOS_EXECUTOR_AUTHENTICATION_TOKEN`, when executor auth is on.
    pub authentication_token: Option<String>,
    /// `MESOS_RECOVERY_TIMEOUT` (only with checkpointing).
    pub recovery_timeout: Option<Duration>,
    /// `MESOS_SUBSCRIPTION_BACKOFF_MAX` (only with checkpointing).
    pub subscription_backoff_max: Option<Duration>,
}

impl ExecutorEnvironment {
    /// The variables to set, by name.
    pub fn to_vars(&self) -> BTreeMap<&'static str, String> {
        let mut vars = BTreeMap::new();
        vars.insert("MESOS_FRAMEWORK_ID", self.framework_id.value.clone());
        vars.insert("MESOS_EXECUTOR_ID", self.executor_id.value.clone());
        vars.insert("MESOS_DIRECTORY", self.directory.clone());
        vars.insert("MESOS_SANDBOX", self.sandbox.clone());
        vars.insert("MESOS_AGENT_ENDPOINT", self.agent_endpoint.clone());
        vars.insert(
            "MESOS_CHECKPOINT",
            if self.checkpoint { "1" } else { "0" }.to_owned(),
        );
        vars.insert(
            "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD",
            format_duration(self.shutdown_grace_period),
        );
        if let Some(token) = &self.authentication_token {
            vars.insert("MESOS_EXECUTOR_AUTHENTICATION_TOKEN", token.clone());
        }
        if let Some(t) = self.recovery_timeout {
            vars.insert("MESOS_RECOVERY_TIMEOUT", format_duration(t));
        }
        if let Some(t) = self.subscription_backoff_max {
            vars.insert("MESOS_SUBSCRIPTION_BACKOFF_MAX", format_duration(t));
        }
        vars
    }

    /// Reads the environment through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ExecutorError> {
        let required = |name: &'static str| lookup(name).ok_or(ExecutorError::MissingEnv(name));
        let duration = |name: &'static str| -> Result<Option<Duration>, ExecutorError> {
            lookup(name)
                .map(|v| {
                    parse_duration(&v).ok_or(ExecutorError::InvalidEnv {
                        name,
                        value: v.clone(),
                    })
                })
                .transpose()
        };
        let checkpoint = match lookup("MESOS_CHECKPOINT").as_deref() {
            None | Some("0") | Some("false") => false,
            Some("1") | Some("true") => true,
            Some(other) => {
                return Err(ExecutorError::InvalidEnv {
                    name: "MESOS_CHECKPOINT",
                    value: other.to_owned(),
                })
            }
        };
        Ok(Self {
            framework_id: FrameworkId::new(required("MESOS_FRAMEWORK_ID")?),
            executor_id: ExecutorId::new(required("MESOS_EXECUTOR_ID")?),
            directory: required("MESOS_DIRECTORY")?,
            sandbox: lookup("MESOS_SANDBOX")
                .or_else(|| lookup("MESOS_DIRECTORY"))
                .ok_or(ExecutorError::MissingEnv("MESOS_SANDBOX"))?,
            agent_endpoint: required("MESOS_AGENT_ENDPOINT")?,
            checkpoint,
            shutdown_grace_period: duration("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD")?
                .unwrap_or(Duration::from_secs(5)),
            authentication_token: lookup("MESOS_EXECUTOR_AUTHENTICATION_TOKEN"),
            recovery_timeout: duration("MESOS_RECOVERY_TIMEOUT")?,
            subscription_backoff_max: duration("MESOS_SUBSCRIPTION_BACKOFF_MAX")?,
        })
    }
}

/// Units of Mesos' (stout's) duration syntax, largest first.
const DURATION_UNITS: &[(&str, u128)] = &[
    ("weeks", 7 * 24 * 3_600_000_000_000),
    ("days", 24 * 3_600_000_000_000),
    ("hrs", 3_600_000_000_000),
    ("mins", 60_000_000_000),
    ("secs", 1_000_000_000),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("ns", 1),
];

/// Formats a duration the way Mesos flags and variables write them
/// (`15mins`, `5secs`, `250ms`): the largest unit that divides it exactly.
pub fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0ns".to_owned();
    }
    for (unit, size) in DURATION_UNITS {
        if nanos.is_multiple_of(*size) {
            return format!("{}{unit}", nanos / size);
        }
    }
    format!("{nanos}ns")
}

/// Parses Mesos' duration syntax: a decimal number followed by one of
/// `ns us ms secs mins hrs days weeks` (e.g. `15mins`, `0.5secs`).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    let size = DURATION_UNITS
        .iter()
        .find(|(u, _)| *u == unit.trim())
        .map(|(_, s)| *s)?;
    let nanos = value * size as f64;
    (nanos.is_finite() && nanos >= 0.0 && nanos < u64::MAX as f64)
        .then(|| Duration::from_nanos(nanos.round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::TaskState;

    #[test]
    fn update_call_round_trip() {
        let json = br#"{"executor_id":{"value":"e"},"framework_id":{"value":"f"},"type":"UPDATE",
            "update":{"status":{"task_id":{"value":"t"},"state":"TASK_RUNNING",
            "source":"SOURCE_EXECUTOR","uuid":"AAECAwQFBgcICQoLDA0ODw=="}}}"#;
        let call = Call::from_json(json).unwrap();
        let CallBody::Update(u) = &call.body else {
            panic!("not an update");
        };
        assert_eq!(u.status.state, TaskState::Running);
        assert_eq!(u.status.uuid.as_ref().unwrap().len(), 16);
        assert_eq!(Call::from_json(&call.to_json()).unwrap(), call);
    }

    #[test]
    fn subscribe_body_is_optional_but_ids_are_not() {
        let call = Call::from_json(
            br#"{"executor_id":{"value":"e"},"framework_id":{"value":"f"},"type":"SUBSCRIBE"}"#,
        )
        .unwrap();
        assert_eq!(call.body, CallBody::Subscribe(Subscribe::default()));
        let err =
            Call::from_json(br#"{"framework_id":{"value":"f"},"type":"HEARTBEAT"}"#).unwrap_err();
        assert!(err.to_string().contains("`executor_id`"), "{err}");
        let err = Call::from_json(
            br#"{"executor_id":{"value":"e"},"framework_id":{"value":"f"},"type":"NOPE"}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("NOPE"), "{err}");
    }

    #[test]
    fn events_round_trip() {
        let launch = Event::from_json(
            br#"{"type":"LAUNCH","launch":{"task":{"name":"t","task_id":{"value":"t"},
                "agent_id":{"value":"a"},"command":{"value":"true"}}}}"#,
        )
        .unwrap();
        assert_eq!(launch.kind(), EventType::Launch);
        assert_eq!(Event::from_json(&launch.to_json()).unwrap(), launch);

        let ack = Event::Acknowledged(Acknowledged {
            task_id: TaskId::new("t"),
            uuid: Base64Bytes::from(vec![1u8; 16]),
        });
        assert_eq!(Event::from_json(&ack.to_json()).unwrap(), ack);
        assert_eq!(
            Event::Shutdown.to_json(),
            br#"{"type":"SHUTDOWN"}"#.to_vec()
        );
    }

    #[test]
    fn environment_round_trip() {
        let env = ExecutorEnvironment {
            framework_id: FrameworkId::new("f"),
            executor_id: ExecutorId::new("e"),
            directory: "/var/lib/mesos/slaves/a/frameworks/f/executors/e/runs/c".into(),
            sandbox: "/mnt/mesos/sandbox".into(),
            agent_endpoint: "10.0.0.1:5051".into(),
            checkpoint: true,
            shutdown_grace_period: Duration::from_secs(5),
            authentication_token: None,
            recovery_timeout: Some(DEFAULT_RECOVERY_TIMEOUT),
            subscription_backoff_max: Some(Duration::from_secs(2)),
        };
        let vars = env.to_vars();
        assert_eq!(vars["MESOS_RECOVERY_TIMEOUT"], "15mins");
        assert_eq!(vars["MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"], "5secs");
        assert_eq!(vars["MESOS_CHECKPOINT"], "1");
        let back = ExecutorEnvironment::from_lookup(|k| vars.get(k).cloned()).unwrap();
        assert_eq!(back, env);

        let err = ExecutorEnvironment::from_lookup(|_| None).unwrap_err();
        assert!(matches!(
            err,
            ExecutorError::MissingEnv("MESOS_FRAMEWORK_ID")
        ));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15mins"), Some(Duration::from_secs(900)));
        assert_eq!(parse_duration("0.5secs"), Some(Duration::from_millis(500)));
        assert_eq!(
            parse_duration("3days"),
            Some(Duration::from_secs(3 * 86400))
        );
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("xsecs"), None);
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format_duration(Duration::from_secs(7200)), "2hrs");
    }
}
