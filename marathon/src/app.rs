//! The AppDefinition: Marathon's wire shape of an app (what `POST
//! /v2/apps` takes and what the store keeps), its defaults, path ids, and
//! validation into Marathon's 422 `{message, details:[{path, errors}]}`.
//!
//! Owns parsing and checking only; what an app *does* (instances, health,
//! deployments) is in [`crate::planner`] and [`crate::runtime`]. Unknown
//! input fields are tolerated (real clients send fields we do not model;
//! `readinessChecks` and `unreachableStrategy` are stored as given and
//! read through [`AppDefinition::unreachable`]; `container` is stored and
//! becomes the task's `ContainerInfo`, see [`crate::state::container_info`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Marathon's id segment rule, as its error message states it.
pub const ID_PATTERN: &str =
    "^(([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])\\.)*([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])|(\\.|\\.\\.)$";

/// Longest app, pod or group id, in bytes (`/` included). A task id is the
/// id without its leading `/` plus `.` and a 36-character UUID, and the
/// agent makes it a directory name in the sandbox, where a name has at
/// most 255 bytes: 200 leaves that margin (a pod's task id adds
/// `instance-` and a container name of ≤ 63 bytes, for its task's own
/// sandbox directory under the executor's, checked at [`MAX_POD_ID_LEN`]).
pub const MAX_ID_LEN: usize = 200;
/// Longest pod id: its task ids are `<id>.instance-<uuid>.<container>`.
pub const MAX_POD_ID_LEN: usize = 255 - 1 - 9 - 36 - 1 - 63;
/// Most path segments in an id (`/a/b/c` has 3). Groups nest this deep at
/// most, so every walk of the group tree is bounded by it.
pub const MAX_ID_DEPTH: usize = 32;
/// Most instances of one app or pod.
pub const MAX_INSTANCES: i64 = 100_000;
/// Largest duration in seconds (backoff, delays, grace periods, health
/// check timings, unreachable timings): ≈ 31 years, far inside what a
/// `std::time::Duration` and a Mesos `DurationInfo` (i64 nanoseconds) hold.
pub const MAX_SECONDS: f64 = 1e9;
/// Largest `backoffFactor`.
pub const MAX_BACKOFF_FACTOR: f64 = 1e3;
/// Largest cpus, mem (MiB), disk (MiB) or gpus of an instance.
pub const MAX_RESOURCE: f64 = 1e9;
/// Longest label key, in bytes.
pub const MAX_LABEL_KEY_BYTES: usize = 255;
/// Most bytes of all labels of an app (keys and values), and of its
/// `env`, its `cmd`, its `args`.
pub const MAX_FIELD_BYTES: usize = 64 * 1024;
/// Most bytes of a whole app as stored (serialized JSON). The store takes
/// at most 1 MiB a value and a transaction; an app is written twice in a
/// change (its key and its version) and a deployment keeps the original
/// besides: 128 KiB keeps a change of one app well inside one transaction.
pub const MAX_APP_BYTES: usize = 128 * 1024;

/// `None` if `min ≤ v ≤ max`, else Marathon's message (`got 1.0e308,
/// expected 1e9 or less`); NaN fails.
pub fn out_of_range(v: f64, min: f64, max: f64) -> Option<String> {
    if v > max {
        Some(format!("got {v:?}, expected {max:?} or less"))
    } else if v >= min {
        None
    } else {
        Some(format!("got {v:?}, expected {min:?} or more"))
    }
}

/// The violations of an absolute id's length and depth (`path` is where
/// it is, `/id` mostly).
pub fn id_limit_violation(id: &str, max_len: usize) -> Option<String> {
    let depth = id.split('/').filter(|s| !s.is_empty()).count();
    if id.len() > max_len {
        Some(format!(
            "got an id of {} characters, expected {max_len} or less",
            id.len()
        ))
    } else if depth > MAX_ID_DEPTH {
        Some(format!(
            "got an id of {depth} path segments, expected {MAX_ID_DEPTH} or less"
        ))
    } else {
        None
    }
}

/// The constraint operators Marathon knows.
pub const CONSTRAINT_OPERATORS: &[&str] = &[
    "UNIQUE", "CLUSTER", "GROUP_BY", "LIKE", "UNLIKE", "MAX_PER", "IS",
];

/// One port an app asks for (`0` = any port the offer has).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortDefinition {
    /// The port; 0 asks for a dynamic one.
    #[serde(default)]
    pub port: u32,
    /// `tcp`, `udp` or `udp,tcp`.
    #[serde(default = "default_protocol")]
    pub protocol: String,
    /// Name, for readiness checks and service discovery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Free-form metadata.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

fn default_protocol() -> String {
    "tcp".to_owned()
}

/// `fetch[]`: a URI for the agent's fetcher.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FetchUri {
    /// What to fetch.
    pub uri: String,
    /// chmod +x.
    #[serde(default)]
    pub executable: bool,
    /// Extract archives.
    #[serde(default = "yes")]
    pub extract: bool,
    /// Use the fetcher cache.
    #[serde(default)]
    pub cache: bool,
    /// Name in the sandbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dest_path: Option<String>,
}

fn yes() -> bool {
    true
}

/// `healthChecks[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheckDef {
    /// HTTP (default), HTTPS, TCP, COMMAND, MESOS_HTTP, MESOS_HTTPS, MESOS_TCP.
    #[serde(default = "default_hc_protocol")]
    pub protocol: String,
    /// HTTP path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Which of the task's ports to check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_index: Option<u32>,
    /// A fixed port to check instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    /// For COMMAND checks: `{"value": "..."}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Value>,
    /// Failures ignored for this long after the task starts.
    #[serde(default = "default_grace")]
    pub grace_period_seconds: f64,
    /// Time between checks.
    #[serde(default = "default_interval")]
    pub interval_seconds: f64,
    /// Time before a check counts as failed.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: f64,
    /// Failures in a row after which the task is killed (0 = never).
    #[serde(default = "default_max_failures")]
    pub max_consecutive_failures: u32,
    /// For MESOS_* checks: delay before the first check.
    #[serde(default = "default_delay")]
    pub delay_seconds: f64,
    /// Treat 1xx as healthy.
    #[serde(default)]
    pub ignore_http1xx: bool,
}

fn default_hc_protocol() -> String {
    "HTTP".to_owned()
}
fn default_grace() -> f64 {
    300.0
}
fn default_interval() -> f64 {
    60.0
}
fn default_timeout() -> f64 {
    20.0
}
fn default_max_failures() -> u32 {
    3
}
fn default_delay() -> f64 {
    15.0
}

impl HealthCheckDef {
    /// Run by the agent as the task's Mesos health check (MESOS_HTTP,
    /// MESOS_HTTPS, MESOS_TCP, COMMAND); the others (HTTP, HTTPS, TCP) are
    /// probed by the Marathon leader itself.
    pub fn is_mesos(&self) -> bool {
        self.protocol.starts_with("MESOS_") || self.protocol == "COMMAND"
    }

    /// The port to check on an instance with `ports`: `port` if given,
    /// else the `portIndex`-th (default first) host port.
    pub fn effective_port(&self, ports: &[u32]) -> Option<u32> {
        self.port
            .or_else(|| ports.get(self.port_index.unwrap_or(0) as usize).copied())
    }
}

/// `unreachableStrategy`, parsed: what happens to an instance whose agent
/// is unreachable.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Unreachable {
    /// `"disabled"`: never replaced nor expunged; waits for the agent.
    Disabled,
    /// Replaced after `inactive_after` seconds, forgotten (and killed in
    /// case it comes back) after `expunge_after`.
    Enabled {
        /// `inactiveAfterSeconds`.
        inactive_after: f64,
        /// `expungeAfterSeconds`.
        expunge_after: f64,
    },
}

/// The health-check protocols Marathon accepts.
pub const HEALTH_PROTOCOLS: &[&str] = &[
    "HTTP",
    "HTTPS",
    "TCP",
    "COMMAND",
    "MESOS_HTTP",
    "MESOS_HTTPS",
    "MESOS_TCP",
];

/// `upgradeStrategy`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeStrategy {
    /// Fraction of `instances` kept healthy during an upgrade.
    #[serde(default = "one")]
    pub minimum_health_capacity: f64,
    /// Fraction of `instances` allowed on top during an upgrade.
    #[serde(default = "one")]
    pub maximum_over_capacity: f64,
}

impl Default for UpgradeStrategy {
    fn default() -> Self {
        Self {
            minimum_health_capacity: 1.0,
            maximum_over_capacity: 1.0,
        }
    }
}

fn one() -> f64 {
    1.0
}

/// `versionInfo`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    /// Last change of anything that needs a restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_config_change_at: Option<String>,
    /// Last change of the instance count only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scaling_at: Option<String>,
}

/// An app, as Marathon's API and our store hold it. After
/// [`AppDefinition::normalize`] every defaulted field is filled in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppDefinition {
    /// Absolute path id (`/group/app`).
    #[serde(default)]
    pub id: String,
    /// Shell command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<String>,
    /// argv, instead of `cmd`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,
    /// User to run as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Environment: `"v"` or `{"secret": ...}`.
    #[serde(default)]
    pub env: BTreeMap<String, Value>,
    /// Wanted instance count (signed, so a negative one can be refused).
    #[serde(default = "default_instances")]
    pub instances: i64,
    /// CPUs per instance.
    #[serde(default = "default_cpus")]
    pub cpus: f64,
    /// MiB per instance.
    #[serde(default = "default_mem")]
    pub mem: f64,
    /// Disk MiB per instance.
    #[serde(default)]
    pub disk: f64,
    /// GPUs per instance.
    #[serde(default)]
    pub gpus: f64,
    /// Custom executor (empty: the command executor).
    #[serde(default)]
    pub executor: String,
    /// `[[field, OP, value?]]`.
    #[serde(default)]
    pub constraints: Vec<Vec<String>>,
    /// Deprecated URIs, turned into `fetch`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uris: Vec<String>,
    /// Files for the fetcher.
    #[serde(default)]
    pub fetch: Vec<FetchUri>,
    /// Artifacts that must be there before launching (kept, unused).
    #[serde(default)]
    pub store_urls: Vec<String>,
    /// Deprecated: ports; turned into `portDefinitions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<u32>>,
    /// Ports each instance needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_definitions: Option<Vec<PortDefinition>>,
    /// Use the `portDefinitions` numbers exactly.
    #[serde(default)]
    pub require_ports: bool,
    /// First launch delay after a failure.
    #[serde(default = "one")]
    pub backoff_seconds: f64,
    /// Delay multiplier per failure.
    #[serde(default = "default_backoff_factor")]
    pub backoff_factor: f64,
    /// Delay ceiling.
    #[serde(default = "default_max_launch_delay")]
    pub max_launch_delay_seconds: f64,
    /// Docker/Mesos container: accepted and stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<Value>,
    /// Health checks.
    #[serde(default)]
    pub health_checks: Vec<HealthCheckDef>,
    /// Readiness checks: accepted and stored.
    #[serde(default)]
    pub readiness_checks: Vec<Value>,
    /// Apps that must be deployed before this one.
    #[serde(default)]
    pub dependencies: Vec<String>,
    /// Rolling upgrade bounds.
    #[serde(default)]
    pub upgrade_strategy: UpgradeStrategy,
    /// Free-form metadata.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Roles whose resources may be used (`*` = unreserved).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_resource_roles: Option<Vec<String>>,
    /// YOUNGEST_FIRST (default) or OLDEST_FIRST.
    #[serde(default = "default_kill_selection")]
    pub kill_selection: String,
    /// SIGTERM → SIGKILL grace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_kill_grace_period_seconds: Option<f64>,
    /// `"disabled"` or `{inactiveAfterSeconds, expungeAfterSeconds}`.
    #[serde(default = "default_unreachable")]
    pub unreachable_strategy: Value,
    /// Set by the server: when this version was stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Set by the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_info: Option<VersionInfo>,
    /// Set when this run spec is a pod ([`crate::pod`]): its instances
    /// are task groups of these containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<Box<crate::pod::PodDefinition>>,
}

fn default_instances() -> i64 {
    1
}
fn default_cpus() -> f64 {
    1.0
}
fn default_mem() -> f64 {
    128.0
}
fn default_backoff_factor() -> f64 {
    1.15
}
fn default_max_launch_delay() -> f64 {
    300.0
}
fn default_kill_selection() -> String {
    "YOUNGEST_FIRST".to_owned()
}
fn default_unreachable() -> Value {
    serde_json::json!({"inactiveAfterSeconds": 0, "expungeAfterSeconds": 0})
}

/// One entry of a 422 answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// JSON pointer of the bad field (`/instances`, `/constraints(0)`).
    pub path: String,
    /// What is wrong with it.
    pub errors: Vec<String>,
}

/// Why an app (or group) was refused; rendered as Marathon's 422 body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Object is not valid: {}", .0.iter().map(|v| format!("{} {}", v.path, v.errors.join("; "))).collect::<Vec<_>>().join(", "))]
pub struct Invalid(pub Vec<Violation>);

impl Invalid {
    /// One violation at `path`.
    pub fn at(path: impl Into<String>, error: impl Into<String>) -> Self {
        Invalid(vec![Violation {
            path: path.into(),
            errors: vec![error.into()],
        }])
    }
}

/// Collects violations while checking.
#[derive(Default)]
struct Checker(Vec<Violation>);

impl Checker {
    fn fail(&mut self, path: impl Into<String>, error: impl Into<String>) {
        let path = path.into();
        let error = error.into();
        match self.0.iter_mut().find(|v| v.path == path) {
            Some(v) => v.errors.push(error),
            None => self.0.push(Violation {
                path,
                errors: vec![error],
            }),
        }
    }
}

/// `v >= min`, false for NaN.
pub fn at_least(v: f64, min: f64) -> bool {
    v >= min
}

/// Whether one path segment matches [`ID_PATTERN`].
pub fn valid_segment(s: &str) -> bool {
    if s == "." || s == ".." {
        return true;
    }
    !s.is_empty()
        && s.split('.').all(|part| {
            let b = part.as_bytes();
            !b.is_empty()
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        })
}

/// Makes `id` absolute against `base` (`/` for top-level requests),
/// resolving `.` and `..`; `None` if it climbs above the root or has an
/// invalid segment.
pub fn canonical_id(id: &str, base: &str) -> Option<String> {
    let mut parts: Vec<&str> = if id.starts_with('/') {
        Vec::new()
    } else {
        base.split('/').filter(|s| !s.is_empty()).collect()
    };
    for seg in id.split('/').filter(|s| !s.is_empty()) {
        if !valid_segment(seg) {
            return None;
        }
        match seg {
            "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    Some(format!("/{}", parts.join("/")))
}

/// Whether `id` is `group` or lies under it (everything is under `/`).
pub fn under(id: &str, group: &str) -> bool {
    group == "/" || id == group || id.starts_with(&format!("{group}/"))
}

/// The parent group of an absolute id (`/a/b` → `/a`, `/a` → `/`).
pub fn parent_of(id: &str) -> String {
    match id.rfind('/') {
        Some(0) | None => "/".to_owned(),
        Some(i) => id[..i].to_owned(),
    }
}

impl AppDefinition {
    /// Parses a request body: broken JSON is `Err(None)` (a 400), a field of
    /// the wrong type is a 422.
    pub fn parse(body: &[u8]) -> Result<Self, ParseError> {
        let value: Value = serde_json::from_slice(body).map_err(ParseError::Json)?;
        Self::from_value(value)
    }

    /// Builds from an already-parsed JSON object.
    pub fn from_value(value: Value) -> Result<Self, ParseError> {
        if !value.is_object() {
            return Err(ParseError::Invalid(Invalid::at("/", "expected an object")));
        }
        serde_json::from_value(value)
            .map_err(|e| ParseError::Invalid(Invalid::at("/", e.to_string())))
    }

    /// Fills in what Marathon derives: the absolute id (against `base`),
    /// `portDefinitions` from `ports` (or one dynamic port), `fetch` from
    /// `uris`. Call before [`AppDefinition::validate`].
    pub fn normalize(&mut self, base: &str) {
        if let Some(id) = canonical_id(&self.id, base) {
            self.id = id;
        }
        if self.port_definitions.is_none() {
            let defs = match self.ports.take() {
                Some(ports) => ports
                    .into_iter()
                    .map(|port| PortDefinition {
                        port,
                        protocol: default_protocol(),
                        name: None,
                        labels: BTreeMap::new(),
                    })
                    .collect(),
                None => vec![PortDefinition {
                    port: 0,
                    protocol: default_protocol(),
                    name: None,
                    labels: BTreeMap::new(),
                }],
            };
            self.port_definitions = Some(defs);
        }
        self.ports = None;
        for uri in std::mem::take(&mut self.uris) {
            let extract = [
                ".tgz", ".tar.gz", ".tbz2", ".tar.bz2", ".txz", ".tar.xz", ".zip",
            ]
            .iter()
            .any(|s| uri.ends_with(s));
            self.fetch.push(FetchUri {
                uri,
                executable: false,
                extract,
                cache: false,
                dest_path: None,
            });
        }
    }

    /// The ports to allocate, in order.
    pub fn port_defs(&self) -> &[PortDefinition] {
        self.port_definitions.as_deref().unwrap_or_default()
    }

    /// Checks every rule; all violations at once.
    pub fn validate(&self) -> Result<(), Invalid> {
        let mut c = Checker::default();
        self.check_into(&mut c, "");
        if c.0.is_empty() {
            Ok(())
        } else {
            Err(Invalid(c.0))
        }
    }

    fn check_into(&self, c: &mut Checker, prefix: &str) {
        let p = |field: &str| format!("{prefix}/{field}");
        if self.id.is_empty() || self.id == "/" {
            c.fail(p("id"), "An app needs an id");
        } else if !self.id.starts_with('/')
            || self
                .id
                .split('/')
                .skip(1)
                .any(|s| s == "." || s == ".." || !valid_segment(s))
        {
            c.fail(
                p("id"),
                format!("must fully match regular expression '{ID_PATTERN}'"),
            );
        }
        if self.cmd.is_some() && self.args.is_some() {
            c.fail(
                p("cmd"),
                "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'.",
            );
        }
        if self.cmd.is_none() && self.args.is_none() && self.container.is_none() {
            c.fail(
                p("cmd"),
                "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'.",
            );
        }
        if self.instances < 0 {
            c.fail(
                p("instances"),
                "got ".to_owned() + &self.instances.to_string() + ", expected 0 or more",
            );
        }
        if !at_least(self.cpus, 0.001) {
            c.fail(
                p("cpus"),
                format!("got {}, expected 0.001 or more", self.cpus),
            );
        }
        for (name, v) in [("mem", self.mem), ("disk", self.disk), ("gpus", self.gpus)] {
            if !at_least(v, 0.0) {
                c.fail(p(name), format!("got {v}, expected 0.0 or more"));
            }
        }
        if !at_least(self.backoff_seconds, 0.0) {
            c.fail(
                p("backoffSeconds"),
                "got a negative value, expected 0 or more",
            );
        }
        if !at_least(self.backoff_factor, 1.0) {
            c.fail(
                p("backoffFactor"),
                "got a value below 1, expected 1 or more",
            );
        }
        if !at_least(self.max_launch_delay_seconds, 0.0) {
            c.fail(
                p("maxLaunchDelaySeconds"),
                "got a negative value, expected 0 or more",
            );
        }
        let us = self.upgrade_strategy;
        if !(0.0..=1.0).contains(&us.minimum_health_capacity) {
            c.fail(
                p("upgradeStrategy/minimumHealthCapacity"),
                "is greater than 1 or less than 0",
            );
        }
        if !(0.0..=1.0).contains(&us.maximum_over_capacity) {
            c.fail(
                p("upgradeStrategy/maximumOverCapacity"),
                "is greater than 1 or less than 0",
            );
        }
        for (i, con) in self.constraints.iter().enumerate() {
            if let Err(e) = crate::matcher::Constraint::parse(con) {
                c.fail(p(&format!("constraints({i})")), e.to_string());
            }
        }
        if !matches!(
            self.kill_selection.as_str(),
            "YOUNGEST_FIRST" | "OLDEST_FIRST"
        ) {
            c.fail(
                p("killSelection"),
                "must be one of YOUNGEST_FIRST, OLDEST_FIRST",
            );
        }
        // Mesos runs one health check per task (Marathon says the same
        // for MESOS_HTTP/MESOS_HTTPS/MESOS_TCP; COMMAND is a Mesos check
        // too, so it counts here).
        if self.health_checks.iter().filter(|hc| hc.is_mesos()).count() > 1 {
            c.fail(
                p(""),
                "AppDefinition can contain at most one Mesos health check",
            );
        }
        for (i, hc) in self.health_checks.iter().enumerate() {
            let hp = p(&format!("healthChecks({i})"));
            if !HEALTH_PROTOCOLS.contains(&hc.protocol.as_str()) {
                c.fail(
                    format!("{hp}/protocol"),
                    format!("must be one of {}", HEALTH_PROTOCOLS.join(", ")),
                );
            }
            if hc.protocol.ends_with("COMMAND") && hc.command.is_none() {
                c.fail(
                    format!("{hp}/command"),
                    "COMMAND health checks need a command",
                );
            }
            for (field, v, min) in [
                ("gracePeriodSeconds", hc.grace_period_seconds, 0.0),
                ("intervalSeconds", hc.interval_seconds, 0.0),
                ("timeoutSeconds", hc.timeout_seconds, 0.0),
                ("delaySeconds", hc.delay_seconds, 0.0),
            ] {
                if !at_least(v, min) {
                    c.fail(
                        format!("{hp}/{field}"),
                        format!("got {v}, expected {min} or more"),
                    );
                }
            }
            if hc.port.is_some() && hc.port_index.is_some() {
                c.fail(
                    hp.clone(),
                    "HealthCheck must specify either a port or a portIndex",
                );
            }
            if !hc.protocol.ends_with("COMMAND") && hc.port.is_none() {
                let idx = hc.port_index.unwrap_or(0) as usize;
                if idx >= self.port_defs().len() {
                    c.fail(format!("{hp}/portIndex"), "Health check port indices must address an element of the ports array or container port mappings.");
                }
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, pd) in self.port_defs().iter().enumerate() {
            if pd.port > 65535 {
                c.fail(
                    p(&format!("portDefinitions({i})/port")),
                    "must be between 0 and 65535",
                );
            }
            if pd.port != 0 && !seen.insert(pd.port) {
                c.fail(p("portDefinitions"), "Ports must be unique.");
            }
        }
        if self.require_ports && self.port_defs().iter().any(|d| d.port == 0) {
            c.fail(
                p("requirePorts"),
                "requirePorts needs every port to be given (no 0)",
            );
        }
        for (i, dep) in self.dependencies.iter().enumerate() {
            if canonical_id(dep, &parent_of(&self.id)).is_none() {
                c.fail(
                    p(&format!("dependencies({i})")),
                    format!("must fully match regular expression '{ID_PATTERN}'"),
                );
            }
        }
        for (path, error) in
            unreachable_violations(&self.unreachable_strategy, &p("unreachableStrategy"))
        {
            c.fail(path, error);
        }
        if let Some(g) = self.task_kill_grace_period_seconds {
            if !at_least(g, 0.0) {
                c.fail(
                    p("taskKillGracePeriodSeconds"),
                    "got a negative value, expected 0 or more",
                );
            }
        }
        if self.cmd.as_deref() == Some("") {
            c.fail(p("cmd"), "must not be empty");
        }
        for (path, error) in self.limit_violations(prefix) {
            c.fail(path, error);
        }
    }

    /// What the code can represent and the store can hold (see the
    /// `MAX_*` constants): upper bounds of ids, counts, resources,
    /// durations and sizes, for an app and a pod's run spec alike. Checked
    /// on every definition the API takes and every one read back from the
    /// store, before it becomes a `Duration`, a count or a store value.
    pub fn limit_violations(&self, prefix: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let p = |field: &str| format!("{prefix}/{field}");
        let max_id = if self.pod.is_some() {
            MAX_POD_ID_LEN
        } else {
            MAX_ID_LEN
        };
        if let Some(e) = id_limit_violation(&self.id, max_id) {
            out.push((p("id"), e));
        }
        if self.instances > MAX_INSTANCES {
            out.push((
                p("instances"),
                format!("got {}, expected {MAX_INSTANCES} or less", self.instances),
            ));
        }
        for (name, v) in [
            ("cpus", self.cpus),
            ("mem", self.mem),
            ("disk", self.disk),
            ("gpus", self.gpus),
        ] {
            if v > MAX_RESOURCE {
                out.push((
                    p(name),
                    format!("got {v:?}, expected {MAX_RESOURCE:?} or less"),
                ));
            }
        }
        let mut seconds = vec![
            ("backoffSeconds".to_owned(), self.backoff_seconds),
            (
                "maxLaunchDelaySeconds".to_owned(),
                self.max_launch_delay_seconds,
            ),
        ];
        if let Some(g) = self.task_kill_grace_period_seconds {
            seconds.push(("taskKillGracePeriodSeconds".to_owned(), g));
        }
        for (i, hc) in self.health_checks.iter().enumerate() {
            for (field, v) in [
                ("gracePeriodSeconds", hc.grace_period_seconds),
                ("intervalSeconds", hc.interval_seconds),
                ("timeoutSeconds", hc.timeout_seconds),
                ("delaySeconds", hc.delay_seconds),
            ] {
                seconds.push((format!("healthChecks({i})/{field}"), v));
            }
        }
        for (field, v) in seconds {
            if v > MAX_SECONDS {
                out.push((
                    p(&field),
                    format!("got {v:?}, expected {MAX_SECONDS:?} or less"),
                ));
            }
        }
        if self.backoff_factor > MAX_BACKOFF_FACTOR {
            out.push((
                p("backoffFactor"),
                format!(
                    "got {:?}, expected {MAX_BACKOFF_FACTOR:?} or less",
                    self.backoff_factor
                ),
            ));
        }
        if let Some(k) = self.labels.keys().find(|k| k.len() > MAX_LABEL_KEY_BYTES) {
            out.push((
                p("labels"),
                format!(
                    "got a label key of {} bytes, expected {MAX_LABEL_KEY_BYTES} or less",
                    k.len()
                ),
            ));
        }
        let labels: usize = self.labels.iter().map(|(k, v)| k.len() + v.len()).sum();
        let env: usize = self
            .env
            .iter()
            .map(|(k, v)| k.len() + v.as_str().map_or_else(|| v.to_string().len(), str::len))
            .sum();
        let cmd = self.cmd.as_deref().map_or(0, str::len);
        let args: usize = self.args.iter().flatten().map(String::len).sum();
        for (field, n) in [
            ("labels", labels),
            ("env", env),
            ("cmd", cmd),
            ("args", args),
        ] {
            if n > MAX_FIELD_BYTES {
                out.push((
                    p(field),
                    format!("got {n} bytes, expected {MAX_FIELD_BYTES} or less"),
                ));
            }
        }
        if out.is_empty() {
            let n = serde_json::to_vec(self).map_or(usize::MAX, |v| v.len());
            if n > MAX_APP_BYTES {
                out.push((
                    p(""),
                    format!(
                        "the definition has {n} bytes as JSON, expected {MAX_APP_BYTES} or less"
                    ),
                ));
            }
        }
        out
    }

    /// The parsed `unreachableStrategy` (validation keeps it well-formed;
    /// a missing field is 0, Marathon's default since 1.5.1).
    pub fn unreachable(&self) -> Unreachable {
        match &self.unreachable_strategy {
            Value::Object(o) => {
                let secs = |f: &str| o.get(f).and_then(Value::as_f64).unwrap_or(0.0).max(0.0);
                Unreachable::Enabled {
                    inactive_after: secs("inactiveAfterSeconds"),
                    expunge_after: secs("expungeAfterSeconds"),
                }
            }
            _ => Unreachable::Disabled,
        }
    }

    /// Wanted instances as a count (validation keeps it non-negative).
    pub fn instance_count(&self) -> usize {
        self.instances.max(0) as usize
    }

    /// Whether going from `self` to `other` needs new tasks (anything but
    /// the instance count, version and labels-free bookkeeping changed).
    pub fn needs_restart_for(&self, other: &AppDefinition) -> bool {
        let strip = |a: &AppDefinition| {
            let mut a = a.clone();
            a.instances = 0;
            a.version = None;
            a.version_info = None;
            a
        };
        strip(self) != strip(other)
    }

    /// Absolute ids of the dependencies.
    pub fn dependency_ids(&self) -> Vec<String> {
        let base = parent_of(&self.id);
        self.dependencies
            .iter()
            .filter_map(|d| canonical_id(d, &base))
            .collect()
    }
}

/// Why a request body is not an app.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// Not JSON at all (400).
    #[error("Invalid JSON: {0}")]
    Json(serde_json::Error),
    /// JSON, but not a valid app (422).
    #[error(transparent)]
    Invalid(Invalid),
}

/// Validates a group body (`{id, apps, groups, dependencies}`) recursively
/// and flattens it into normalized apps.
pub fn flatten_group(
    value: &Value,
    base: &str,
    prefix: &str,
) -> Result<Vec<AppDefinition>, Invalid> {
    let mut c = Checker::default();
    let mut apps = Vec::new();
    flatten_into(value, base, prefix, &mut c, &mut apps);
    if c.0.is_empty() {
        Ok(apps)
    } else {
        Err(Invalid(c.0))
    }
}

fn flatten_into(
    value: &Value,
    base: &str,
    prefix: &str,
    c: &mut Checker,
    out: &mut Vec<AppDefinition>,
) {
    let Some(obj) = value.as_object() else {
        c.fail(format!("{prefix}/"), "expected an object");
        return;
    };
    let raw_id = obj.get("id").and_then(Value::as_str).unwrap_or("");
    let Some(id) = canonical_id(raw_id, base) else {
        c.fail(
            format!("{prefix}/id"),
            format!("must fully match regular expression '{ID_PATTERN}'"),
        );
        return;
    };
    // A nested group is a child of its parent (Marathon's `childOf`), so
    // the nesting (and this recursion) is bounded by the id depth limit.
    if !prefix.is_empty() && parent_of(&id) != base {
        c.fail(
            format!("{prefix}/id"),
            format!("Identifier is not child of {base}. Hint: use relative paths."),
        );
        return;
    }
    if let Some(e) = id_limit_violation(&id, MAX_ID_LEN) {
        c.fail(format!("{prefix}/id"), e);
        return;
    }
    for field in ["apps", "groups"] {
        if obj
            .get(field)
            .is_some_and(|v| !v.is_array() && !v.is_null())
        {
            c.fail(format!("{prefix}/{field}"), "expected an array");
        }
    }
    if let Some(apps) = obj.get("apps").and_then(Value::as_array) {
        for (i, a) in apps.iter().enumerate() {
            let ap = format!("{prefix}/apps({i})");
            match AppDefinition::from_value(a.clone()) {
                Ok(mut app) => {
                    app.normalize(&id);
                    if canonical_id(&app.id, "/").is_some() && parent_of(&app.id) != id {
                        c.fail(
                            format!("{ap}/id"),
                            format!("Identifier is not child of {id}. Hint: use relative paths."),
                        );
                    }
                    app.check_into(c, &ap);
                    out.push(app);
                }
                Err(ParseError::Invalid(inv)) => {
                    for v in inv.0 {
                        for e in v.errors {
                            c.fail(format!("{ap}{}", v.path.trim_end_matches('/')), e);
                        }
                    }
                }
                Err(ParseError::Json(e)) => c.fail(ap, e.to_string()),
            }
        }
    }
    if let Some(groups) = obj.get("groups").and_then(Value::as_array) {
        for (i, g) in groups.iter().enumerate() {
            flatten_into(g, &id, &format!("{prefix}/groups({i})"), c, out);
        }
    }
}

/// Whether the app set `apps` (after a change of the apps `changed`, with
/// the explicit `groups`) is a tree Marathon accepts: no app is another's
/// group or an explicit group's id or ancestor (Marathon's "Groups and
/// Applications may not have the same identifier"), and the dependencies
/// have no cycle. Iterative: nothing here recurses on client input.
pub fn tree_violations<'a>(
    apps: &BTreeMap<String, AppDefinition>,
    groups: &std::collections::BTreeSet<String>,
    changed: impl IntoIterator<Item = &'a str>,
) -> Option<Invalid> {
    let clash = |x: &str| {
        Invalid::at(
            "/id",
            format!("Groups and Applications may not have the same identifier: {x}"),
        )
    };
    for id in changed {
        let mut a = parent_of(id);
        while a != "/" {
            if apps.contains_key(&a) {
                return Some(clash(&a));
            }
            a = parent_of(&a);
        }
        let below = format!("{id}/");
        if groups.contains(id)
            || apps
                .range(below.clone()..)
                .next()
                .is_some_and(|(k, _)| k.starts_with(&below))
            || groups
                .range(below.clone()..)
                .next()
                .is_some_and(|g| g.starts_with(&below))
        {
            return Some(clash(id));
        }
    }
    // Dependencies: an app's names an app, or a group (all apps under it).
    let index: BTreeMap<&str, usize> = apps
        .keys()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i))
        .collect();
    let keys: Vec<&str> = apps.keys().map(String::as_str).collect();
    let mut edges: Vec<Vec<usize>> = vec![Vec::new(); keys.len()];
    for (i, app) in apps.values().enumerate() {
        for dep in app.dependency_ids() {
            if let Some(&j) = index.get(dep.as_str()) {
                edges[i].push(j);
            }
            let below = format!("{dep}/");
            for (k, &j) in index.range(below.as_str()..) {
                if !k.starts_with(&below) {
                    break;
                }
                edges[i].push(j);
            }
        }
    }
    // Kahn: what is left after peeling off apps nobody waits for is cyclic.
    let mut indegree = vec![0usize; keys.len()];
    for e in &edges {
        for &j in e {
            indegree[j] += 1;
        }
    }
    let mut ready: Vec<usize> = (0..keys.len()).filter(|&i| indegree[i] == 0).collect();
    let mut seen = 0;
    while let Some(i) = ready.pop() {
        seen += 1;
        for &j in &edges[i] {
            indegree[j] -= 1;
            if indegree[j] == 0 {
                ready.push(j);
            }
        }
    }
    (seen < keys.len()).then(|| Invalid::at("/", "Dependency graph has cyclic dependencies."))
}

/// The violations of an `unreachableStrategy` (an app's, or a pod's under
/// `scheduling`) at `path`: `"disabled"` or `{inactiveAfterSeconds,
/// expungeAfterSeconds}`, integers ≥ 0, inactive ≤ expunge.
pub fn unreachable_violations(strategy: &Value, path: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut fail = |path: String, error: &str| out.push((path, error.to_owned()));
    match strategy {
        Value::String(s) if s == "disabled" => {}
        Value::Object(o) => {
            let mut secs = [0.0; 2];
            for (i, field) in ["inactiveAfterSeconds", "expungeAfterSeconds"]
                .into_iter()
                .enumerate()
            {
                match o.get(field) {
                    None => {}
                    Some(v) => match v.as_i64() {
                        Some(n) if n as f64 > MAX_SECONDS => fail(
                            format!("{path}/{field}"),
                            &format!("got {n}, expected {} or less", MAX_SECONDS as i64),
                        ),
                        Some(n) if n >= 0 => secs[i] = n as f64,
                        Some(n) => fail(
                            format!("{path}/{field}"),
                            &format!("got {n}, expected 0 or more"),
                        ),
                        None => fail(
                            format!("{path}/{field}"),
                            "expected an integer number of seconds",
                        ),
                    },
                }
            }
            // Marathon's words (an accord bound on the durations).
            if secs[0] > secs[1] {
                let s = |n: f64| {
                    if n == 1.0 {
                        "1 second".to_owned()
                    } else {
                        format!("{n} seconds")
                    }
                };
                fail(
                    format!("{path}/inactiveAfterSeconds"),
                    &format!("got {}, expected {} or less", s(secs[0]), s(secs[1])),
                );
            }
        }
        _ => fail(
            path.to_owned(),
            "must be \"disabled\" or {inactiveAfterSeconds, expungeAfterSeconds}",
        ),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(json: &str) -> Result<AppDefinition, ParseError> {
        let mut a = AppDefinition::parse(json.as_bytes())?;
        a.normalize("/");
        a.validate().map_err(ParseError::Invalid)?;
        Ok(a)
    }

    fn paths(e: ParseError) -> Vec<String> {
        match e {
            ParseError::Invalid(i) => i.0.into_iter().map(|v| v.path).collect(),
            ParseError::Json(e) => panic!("expected 422, got 400 {e}"),
        }
    }

    #[test]
    fn defaults_and_normalization() {
        let a =
            app(r#"{"id": "web/api", "cmd": "sleep 1", "uris": ["http://x/a.tgz"], "extra": 1}"#)
                .unwrap();
        assert_eq!(a.id, "/web/api");
        assert_eq!(a.instances, 1);
        assert_eq!(a.cpus, 1.0);
        assert_eq!(a.mem, 128.0);
        assert_eq!(a.backoff_factor, 1.15);
        assert_eq!(a.port_defs().len(), 1);
        assert_eq!(a.port_defs()[0].port, 0);
        assert!(a.fetch[0].extract);
        assert_eq!(a.upgrade_strategy, UpgradeStrategy::default());
    }

    #[test]
    fn bad_input_gets_marathon_style_paths() {
        assert!(matches!(
            AppDefinition::parse(b"{\"id\": "),
            Err(ParseError::Json(_))
        ));
        assert_eq!(
            paths(app(r#"{"id": "/a", "cmd": "x", "instances": -1}"#).unwrap_err()),
            ["/instances"]
        );
        assert_eq!(
            paths(app(r#"{"id": "/A_b", "cmd": "x"}"#).unwrap_err()),
            ["/id"]
        );
        assert_eq!(
            paths(app(r#"{"id": "/a", "cmd": "x", "args": ["y"]}"#).unwrap_err()),
            ["/cmd"]
        );
        assert_eq!(
            paths(
                app(r#"{"id": "/a", "cmd": "x", "constraints": [["hostname", "SOMETIMES"]]}"#)
                    .unwrap_err()
            ),
            ["/constraints(0)"]
        );
        assert_eq!(
            paths(app(r#"{"id": "/a", "cmd": "x", "instances": "many"}"#).unwrap_err()),
            ["/"]
        );
        assert_eq!(
            paths(
                app(r#"{"id": "/a", "cmd": "x", "upgradeStrategy": {"minimumHealthCapacity": 2}}"#)
                    .unwrap_err()
            ),
            ["/upgradeStrategy/minimumHealthCapacity"]
        );
    }

    #[test]
    fn health_checks_and_unreachable_strategy_validate_as_marathon() {
        let ok = app(
            r#"{"id": "/a", "cmd": "x", "healthChecks": [{"protocol": "HTTP"}, {"protocol": "TCP"},
                {"protocol": "MESOS_HTTP"}, {"protocol": "HTTPS", "ignoreHttp1xx": true}]}"#,
        )
        .unwrap();
        assert!(ok.health_checks[3].ignore_http1xx);
        assert_eq!(ok.health_checks[0].grace_period_seconds, 300.0);
        assert_eq!(ok.health_checks[0].interval_seconds, 60.0);
        assert_eq!(ok.health_checks[0].timeout_seconds, 20.0);
        assert_eq!(ok.health_checks[0].max_consecutive_failures, 3);
        let two = app(
            r#"{"id": "/a", "cmd": "x", "healthChecks": [{"protocol": "MESOS_TCP"},
            {"protocol": "COMMAND", "command": {"value": "true"}}]}"#,
        )
        .unwrap_err();
        let ParseError::Invalid(inv) = two else {
            panic!("expected 422")
        };
        assert_eq!(inv.0[0].path, "/");
        assert_eq!(
            inv.0[0].errors,
            ["AppDefinition can contain at most one Mesos health check"]
        );
        assert_eq!(
            paths(
                app(r#"{"id": "/a", "cmd": "x", "healthChecks": [{"port": 80, "portIndex": 0}]}"#)
                    .unwrap_err()
            ),
            ["/healthChecks(0)"]
        );
        assert_eq!(
            paths(
                app(r#"{"id": "/a", "cmd": "x", "healthChecks": [{"intervalSeconds": -1}]}"#)
                    .unwrap_err()
            ),
            ["/healthChecks(0)/intervalSeconds"]
        );

        let a = app(r#"{"id": "/a", "cmd": "x", "unreachableStrategy": {"inactiveAfterSeconds": 3, "expungeAfterSeconds": 30}}"#).unwrap();
        assert_eq!(
            a.unreachable(),
            Unreachable::Enabled {
                inactive_after: 3.0,
                expunge_after: 30.0
            }
        );
        let a = app(r#"{"id": "/a", "cmd": "x"}"#).unwrap();
        assert_eq!(
            a.unreachable(),
            Unreachable::Enabled {
                inactive_after: 0.0,
                expunge_after: 0.0
            }
        );
        let a = app(r#"{"id": "/a", "cmd": "x", "unreachableStrategy": "disabled"}"#).unwrap();
        assert_eq!(a.unreachable(), Unreachable::Disabled);
        let err = app(r#"{"id": "/a", "cmd": "x", "unreachableStrategy": {"inactiveAfterSeconds": 5, "expungeAfterSeconds": 1}}"#).unwrap_err();
        let ParseError::Invalid(inv) = err else {
            panic!("expected 422")
        };
        assert_eq!(inv.0[0].path, "/unreachableStrategy/inactiveAfterSeconds");
        assert_eq!(
            inv.0[0].errors,
            ["got 5 seconds, expected 1 second or less"]
        );
        assert_eq!(
            paths(app(r#"{"id": "/a", "cmd": "x", "unreachableStrategy": {"inactiveAfterSeconds": -1, "expungeAfterSeconds": 1}}"#).unwrap_err()),
            ["/unreachableStrategy/inactiveAfterSeconds"]
        );
        assert_eq!(
            paths(
                app(r#"{"id": "/a", "cmd": "x", "unreachableStrategy": "sometimes"}"#).unwrap_err()
            ),
            ["/unreachableStrategy"]
        );
    }

    #[test]
    fn ids_resolve_relative_to_their_group() {
        assert_eq!(canonical_id("b", "/a").as_deref(), Some("/a/b"));
        assert_eq!(canonical_id("../c", "/a/b").as_deref(), Some("/a/c"));
        assert_eq!(canonical_id("/x/y", "/a").as_deref(), Some("/x/y"));
        assert_eq!(canonical_id("Bad", "/"), None);
        assert_eq!(canonical_id("..", "/"), None);
        assert_eq!(parent_of("/a/b"), "/a");
        assert_eq!(parent_of("/a"), "/");
    }

    #[test]
    fn groups_flatten_with_nested_ids() {
        let g: Value = serde_json::json!({"id": "/prod", "groups": [{"id": "db", "apps": [{"id": "pg", "cmd": "x"}]}],
            "apps": [{"id": "web", "cmd": "y", "dependencies": ["db/pg"]}]});
        let apps = flatten_group(&g, "/", "").unwrap();
        let ids: Vec<_> = apps.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["/prod/web", "/prod/db/pg"]);
        assert_eq!(apps[0].dependency_ids(), ["/prod/db/pg"]);
        let bad = serde_json::json!({"id": "/prod", "apps": [{"id": "web", "cmd": "y", "instances": -2}]});
        let err = flatten_group(&bad, "/", "").unwrap_err();
        assert_eq!(err.0[0].path, "/apps(0)/instances");
    }

    #[test]
    fn restart_needed_only_for_config_changes() {
        let a = app(r#"{"id": "/a", "cmd": "x"}"#).unwrap();
        let mut b = a.clone();
        b.instances = 5;
        assert!(!a.needs_restart_for(&b));
        b.cmd = Some("y".into());
        assert!(a.needs_restart_for(&b));
    }
}
