//! Pods: several containers scheduled together on one agent, sharing the
//! agent's network and the pod's volumes, living and dying together.
//!
//! Owns the PodDefinition wire shape (`/v2/pods`), its validation into
//! Marathon's 422, and the pure translations a pod needs on top of the app
//! machinery: a pod becomes a *run spec* (an [`AppDefinition`] whose `pod`
//! is set) so deployments, rolling upgrades, the launch queue, backoff,
//! constraints and the store treat it like an app; here are what differs —
//! claiming an offer for the executor and every container ([`claim`]),
//! the LAUNCH_GROUP of one instance ([`launch_group`]), the state of an
//! instance from its containers' tasks ([`aggregate`]), and the PodStatus
//! views. No I/O.

use std::collections::BTreeMap;

use dcos_api::v1::{
    AgentId, CommandInfo, DurationInfo, Environment, ExecutorId, ExecutorInfo, ExecutorType,
    KillPolicy, LaunchGroup, Resource, TaskGroupInfo, TaskId, TaskInfo, TaskState,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::app::{
    at_least, canonical_id, valid_segment, AppDefinition, HealthCheckDef, Invalid, ParseError,
    Violation, CONSTRAINT_OPERATORS, ID_PATTERN,
};
use crate::matcher::{self, NoMatch, Placement};
use crate::state::{iso, Instance};

/// `resources` of a container or of the executor.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodResources {
    /// CPUs.
    #[serde(default = "default_cpus")]
    pub cpus: f64,
    /// MiB.
    #[serde(default = "default_mem")]
    pub mem: f64,
    /// Disk MiB.
    #[serde(default)]
    pub disk: f64,
    /// GPUs.
    #[serde(default)]
    pub gpus: f64,
}

fn default_cpus() -> f64 {
    1.0
}
fn default_mem() -> f64 {
    128.0
}

/// Marathon's default `executorResources`.
pub fn default_executor_resources() -> PodResources {
    PodResources {
        cpus: 0.1,
        mem: 32.0,
        disk: 10.0,
        gpus: 0.0,
    }
}

/// `containers[].exec.command`: a shell line or an argv.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PodCommand {
    /// Run through `/bin/sh -c`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<String>,
    /// Run directly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argv: Option<Vec<String>>,
}

/// `containers[].exec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PodExec {
    /// The command.
    #[serde(default)]
    pub command: PodCommand,
}

/// `containers[].image`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodImage {
    /// `DOCKER` (the only kind the agent provisions).
    #[serde(default = "docker")]
    pub kind: String,
    /// The image reference.
    #[serde(default)]
    pub id: String,
    /// Pull even when cached.
    #[serde(default)]
    pub force_pull: bool,
}

fn docker() -> String {
    "DOCKER".to_owned()
}

/// `containers[].endpoints[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    /// Name (`ENDPOINT_<NAME>`, health checks refer to it).
    #[serde(default)]
    pub name: String,
    /// Port inside the container (informative with host networking).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_port: Option<u32>,
    /// Host port; 0 = any port of the offer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_port: Option<u32>,
    /// `["tcp"]`, `["udp"]`, `["tcp", "udp"]` (a single string is accepted).
    #[serde(default = "tcp", deserialize_with = "strings")]
    pub protocol: Vec<String>,
    /// Free-form metadata.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

fn tcp() -> Vec<String> {
    vec!["tcp".to_owned()]
}

fn strings<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

/// `healthCheck.http`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpCheck {
    /// The endpoint to probe.
    #[serde(default)]
    pub endpoint: String,
    /// Path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `HTTP` or `HTTPS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
}

/// `healthCheck.tcp`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TcpCheck {
    /// The endpoint to connect to.
    #[serde(default)]
    pub endpoint: String,
}

/// `healthCheck.exec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecCheck {
    /// The command.
    #[serde(default)]
    pub command: PodCommand,
}

/// `containers[].healthCheck`: exactly one of `http`, `tcp`, `exec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodHealthCheck {
    /// HTTP GET on an endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpCheck>,
    /// TCP connect to an endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpCheck>,
    /// A command in the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecCheck>,
    /// Failures ignored for this long after the start.
    #[serde(default = "grace", serialize_with = "whole_seconds")]
    pub grace_period_seconds: f64,
    /// Between checks.
    #[serde(default = "interval", serialize_with = "whole_seconds")]
    pub interval_seconds: f64,
    /// Failures in a row that kill the container (0 = never).
    #[serde(default = "max_failures")]
    pub max_consecutive_failures: u32,
    /// Before a check counts as failed.
    #[serde(default = "timeout", serialize_with = "whole_seconds")]
    pub timeout_seconds: f64,
    /// Before the first check.
    #[serde(default = "delay", serialize_with = "whole_seconds")]
    pub delay_seconds: f64,
}

/// Seconds as Marathon writes them: integers (the RAML's type), unless a
/// fraction was given.
fn whole_seconds<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        s.serialize_i64(*v as i64)
    } else {
        s.serialize_f64(*v)
    }
}

fn grace() -> f64 {
    300.0
}
fn interval() -> f64 {
    60.0
}
fn max_failures() -> u32 {
    3
}
fn timeout() -> f64 {
    20.0
}
fn delay() -> f64 {
    2.0
}

/// `containers[].volumeMounts[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeMount {
    /// A volume of the pod.
    #[serde(default)]
    pub name: String,
    /// Where in the container.
    #[serde(default)]
    pub mount_path: String,
    /// Mount read-only.
    #[serde(default)]
    pub read_only: bool,
}

/// One container of a pod (one Mesos task of each instance).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodContainer {
    /// Unique in the pod, DNS-like; the last part of its task ids.
    #[serde(default)]
    pub name: String,
    /// What to run (optional with an image: its entrypoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<PodExec>,
    /// Required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<PodResources>,
    /// A Docker image to run in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<PodImage>,
    /// Ports.
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
    /// Its health check (the task's Mesos health check).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<PodHealthCheck>,
    /// Environment on top of the pod's.
    #[serde(default, alias = "env", skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, Value>,
    /// User to run as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Free-form metadata.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Volumes of the pod mounted here.
    #[serde(default)]
    pub volume_mounts: Vec<VolumeMount>,
}

/// `volumes[]`: ephemeral (`{name}`) or a host path (`{name, host}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodVolume {
    /// Name, for `volumeMounts`.
    #[serde(default)]
    pub name: String,
    /// Host path; absent for an ephemeral volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// `scaling`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Scaling {
    /// `fixed`.
    #[serde(default = "fixed")]
    pub kind: String,
    /// Instances.
    #[serde(default = "one_instance")]
    pub instances: i64,
    /// Upper bound (kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_instances: Option<i64>,
}

fn fixed() -> String {
    "fixed".to_owned()
}
fn one_instance() -> i64 {
    1
}

/// `scheduling.backoff` (Marathon's pod defaults: 1 s, × 1.15, ≤ 3600 s).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Backoff {
    /// First delay (s).
    #[serde(default = "one")]
    pub backoff: f64,
    /// Multiplier per failure.
    #[serde(default = "factor")]
    pub backoff_factor: f64,
    /// Ceiling (s).
    #[serde(default = "max_delay")]
    pub max_launch_delay: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            backoff: 1.0,
            backoff_factor: 1.15,
            max_launch_delay: 3600.0,
        }
    }
}

fn one() -> f64 {
    1.0
}
fn factor() -> f64 {
    1.15
}
fn max_delay() -> f64 {
    3600.0
}

/// `scheduling.placement.constraints[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodConstraint {
    /// `hostname` or an attribute.
    #[serde(default)]
    pub field_name: String,
    /// UNIQUE, CLUSTER, …
    #[serde(default)]
    pub operator: String,
    /// The operator's argument.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// `scheduling.placement`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PodPlacement {
    /// Constraints.
    #[serde(default)]
    pub constraints: Vec<PodConstraint>,
    /// Roles whose resources may be used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_resource_roles: Option<Vec<String>>,
}

/// `scheduling`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PodScheduling {
    /// Launch backoff.
    #[serde(default)]
    pub backoff: Backoff,
    /// Rolling upgrade bounds.
    #[serde(default)]
    pub upgrade: crate::app::UpgradeStrategy,
    /// Where instances may go.
    #[serde(default)]
    pub placement: PodPlacement,
    /// YOUNGEST_FIRST or OLDEST_FIRST.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_selection: Option<String>,
    /// As the app's (`"disabled"` or `{inactiveAfterSeconds,
    /// expungeAfterSeconds}`), for the pod's instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreachable_strategy: Option<Value>,
}

/// A pod, as `/v2/pods` takes it. Inside a run spec it is kept without
/// `scaling` and `version` (those live in the run spec, so a scale is not
/// a config change); [`render`] puts them back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodDefinition {
    /// Absolute path id.
    #[serde(default)]
    pub id: String,
    /// Free-form metadata.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Environment of every container (`env` accepted too).
    #[serde(default, alias = "env")]
    pub environment: BTreeMap<String, Value>,
    /// User to run as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The containers.
    #[serde(default)]
    pub containers: Vec<PodContainer>,
    /// Volumes for `volumeMounts`.
    #[serde(default)]
    pub volumes: Vec<PodVolume>,
    /// `[{"mode": "host"}]` (the only mode supported).
    #[serde(default)]
    pub networks: Vec<Value>,
    /// Instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scaling: Option<Scaling>,
    /// Backoff, upgrade, placement, kill selection.
    #[serde(default)]
    pub scheduling: PodScheduling,
    /// What the executor takes on top of the containers.
    #[serde(default = "default_executor_resources")]
    pub executor_resources: PodResources,
    /// Set by the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

#[derive(Default)]
struct Violations(Vec<Violation>);

impl Violations {
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

/// Whether a container or endpoint name is DNS-like (a label of lowercase
/// letters, digits and dashes, ≤ 63).
fn dns_name(s: &str) -> bool {
    s.len() <= 63 && !s.contains('.') && valid_segment(s)
}

impl PodDefinition {
    /// Parses a request body: broken JSON is a 400, a field of the wrong
    /// type a 422.
    pub fn parse(body: &[u8], base: &str) -> Result<Self, ParseError> {
        let value: Value = serde_json::from_slice(body).map_err(ParseError::Json)?;
        Self::from_value(value, base)
    }

    /// Builds from parsed JSON, makes the id absolute (against `base`) and
    /// validates.
    pub fn from_value(value: Value, base: &str) -> Result<Self, ParseError> {
        if !value.is_object() {
            return Err(ParseError::Invalid(Invalid::at("/", "expected an object")));
        }
        let mut pod: PodDefinition = serde_json::from_value(value)
            .map_err(|e| ParseError::Invalid(Invalid::at("/", e.to_string())))?;
        if let Some(id) = canonical_id(&pod.id, base) {
            if !pod.id.is_empty() {
                pod.id = id;
            }
        }
        pod.validate().map_err(ParseError::Invalid)?;
        Ok(pod)
    }

    /// Every rule, all violations at once.
    pub fn validate(&self) -> Result<(), Invalid> {
        let mut c = Violations::default();
        if self.id.is_empty() || self.id == "/" {
            c.fail("/id", "error.path.missing");
        } else if !self.id.starts_with('/')
            || self
                .id
                .split('/')
                .skip(1)
                .any(|s| s == "." || s == ".." || !valid_segment(s))
        {
            c.fail(
                "/id",
                format!("must fully match regular expression '{ID_PATTERN}'"),
            );
        }
        if self.containers.is_empty() {
            c.fail("/containers", "must not be empty");
        }
        let mut names = std::collections::BTreeSet::new();
        let mut endpoint_names = std::collections::BTreeSet::new();
        let mut host_ports = std::collections::BTreeSet::new();
        let volumes: std::collections::BTreeSet<&str> =
            self.volumes.iter().map(|v| v.name.as_str()).collect();
        for (i, ct) in self.containers.iter().enumerate() {
            let p = |f: &str| format!("/containers({i})/{f}");
            if !dns_name(&ct.name) {
                c.fail(p("name"), "must be a DNS label: lowercase letters, digits and dashes, not starting or ending with a dash, at most 63 characters");
            } else if !names.insert(ct.name.as_str()) {
                c.fail("/containers", "container names are not unique");
            }
            match &ct.resources {
                None => c.fail(p("resources"), "error.path.missing"),
                Some(r) => check_resources(&mut c, &p("resources"), r, 0.001),
            }
            match ct.exec.as_ref().map(|e| &e.command) {
                Some(cmd) if cmd.shell.is_some() && cmd.argv.is_some() => {
                    c.fail(p("exec/command"), "exactly one of shell or argv")
                }
                Some(cmd) if cmd.shell.is_none() && cmd.argv.as_ref().is_none_or(Vec::is_empty) => {
                    c.fail(p("exec/command"), "exactly one of shell or argv")
                }
                None if ct.image.is_none() => c.fail(
                    p("exec"),
                    "a container needs a command (exec.command) or an image",
                ),
                _ => {}
            }
            if let Some(img) = &ct.image {
                if img.kind != "DOCKER" {
                    c.fail(p("image/kind"), "only DOCKER images are supported");
                }
                if img.id.is_empty() {
                    c.fail(p("image/id"), "error.path.missing");
                }
            }
            for (j, e) in ct.endpoints.iter().enumerate() {
                let ep = |f: &str| format!("/containers({i})/endpoints({j})/{f}");
                if !dns_name(&e.name) {
                    c.fail(ep("name"), "must be a DNS label");
                } else if !endpoint_names.insert(e.name.as_str()) {
                    c.fail(ep("name"), "endpoint names are not unique in the pod");
                }
                if let Some(hp) = e.host_port {
                    if hp > 65535 {
                        c.fail(ep("hostPort"), "must be between 0 and 65535");
                    } else if hp != 0 && !host_ports.insert(hp) {
                        c.fail(ep("hostPort"), "host ports are not unique in the pod");
                    }
                }
                if e.container_port.is_some_and(|p| p == 0 || p > 65535) {
                    c.fail(ep("containerPort"), "must be between 1 and 65535");
                }
                if e.protocol
                    .iter()
                    .any(|p| !matches!(p.as_str(), "tcp" | "udp"))
                {
                    c.fail(ep("protocol"), "must be tcp and/or udp");
                }
            }
            if let Some(hc) = &ct.health_check {
                let hp = |f: &str| format!("/containers({i})/healthCheck{f}");
                let kinds = [hc.http.is_some(), hc.tcp.is_some(), hc.exec.is_some()];
                if kinds.iter().filter(|k| **k).count() != 1 {
                    c.fail(hp(""), "exactly one of http, tcp or exec");
                }
                let endpoint = hc
                    .http
                    .as_ref()
                    .map(|h| h.endpoint.as_str())
                    .or(hc.tcp.as_ref().map(|t| t.endpoint.as_str()));
                if let Some(name) = endpoint {
                    if !ct.endpoints.iter().any(|e| e.name == name) {
                        c.fail(
                            hp(if hc.http.is_some() {
                                "/http/endpoint"
                            } else {
                                "/tcp/endpoint"
                            }),
                            format!("no endpoint named '{name}' in this container"),
                        );
                    }
                }
                if let Some(h) = &hc.http {
                    if h.scheme
                        .as_deref()
                        .is_some_and(|s| s != "HTTP" && s != "HTTPS")
                    {
                        c.fail(hp("/http/scheme"), "must be HTTP or HTTPS");
                    }
                }
                if let Some(e) = &hc.exec {
                    if e.command.shell.is_none()
                        && e.command.argv.as_ref().is_none_or(Vec::is_empty)
                    {
                        c.fail(hp("/exec/command"), "exactly one of shell or argv");
                    }
                }
                for (f, v) in [
                    ("gracePeriodSeconds", hc.grace_period_seconds),
                    ("intervalSeconds", hc.interval_seconds),
                    ("timeoutSeconds", hc.timeout_seconds),
                    ("delaySeconds", hc.delay_seconds),
                ] {
                    if !at_least(v, 0.0) {
                        c.fail(
                            hp(&format!("/{f}")),
                            "got a negative value, expected 0 or more",
                        );
                    } else if let Some(e) =
                        crate::app::out_of_range(v, 0.0, crate::app::MAX_SECONDS)
                    {
                        c.fail(hp(&format!("/{f}")), e);
                    }
                }
            }
            for (j, m) in ct.volume_mounts.iter().enumerate() {
                if !volumes.contains(m.name.as_str()) {
                    c.fail(
                        format!("/containers({i})/volumeMounts({j})/name"),
                        format!("no volume named '{}' in the pod", m.name),
                    );
                }
                if m.mount_path.is_empty() {
                    c.fail(
                        format!("/containers({i})/volumeMounts({j})/mountPath"),
                        "error.path.missing",
                    );
                }
                let ephemeral = self
                    .volumes
                    .iter()
                    .any(|v| v.name == m.name && v.host.is_none());
                if ephemeral && ct.image.is_none() && m.mount_path.starts_with('/') {
                    c.fail(
                        format!("/containers({i})/volumeMounts({j})/mountPath"),
                        "a container without an image has no root file system of its own: \
                         mount an ephemeral volume at a relative path (it appears in the sandbox)",
                    );
                }
            }
        }
        let mut vnames = std::collections::BTreeSet::new();
        for (i, v) in self.volumes.iter().enumerate() {
            if !dns_name(&v.name) {
                c.fail(format!("/volumes({i})/name"), "must be a DNS label");
            } else if !vnames.insert(v.name.as_str()) {
                c.fail("/volumes", "volume names are not unique");
            }
            if v.host.as_deref().is_some_and(|h| !h.starts_with('/')) {
                c.fail(format!("/volumes({i})/host"), "must be an absolute path");
            }
        }
        for (i, n) in self.networks.iter().enumerate() {
            let mode = n.get("mode").and_then(Value::as_str).unwrap_or("host");
            if mode != "host" {
                c.fail(
                    format!("/networks({i})/mode"),
                    format!("network mode '{mode}' is not supported: only host networking"),
                );
            }
        }
        if self.networks.len() > 1 {
            c.fail("/networks", "at most one host network");
        }
        if let Some(s) = &self.scaling {
            if s.kind != "fixed" {
                c.fail("/scaling/kind", "only fixed scaling is supported");
            }
            if s.instances < 0 {
                c.fail(
                    "/scaling/instances",
                    format!("got {}, expected 0 or more", s.instances),
                );
            }
            if s.max_instances.is_some_and(|m| m < s.instances) {
                c.fail("/scaling/maxInstances", "must be at least instances");
            }
        }
        let s = &self.scheduling;
        if !at_least(s.backoff.backoff, 0.0) {
            c.fail(
                "/scheduling/backoff/backoff",
                "got a negative value, expected 0 or more",
            );
        }
        if !at_least(s.backoff.backoff_factor, 0.0) {
            c.fail(
                "/scheduling/backoff/backoffFactor",
                "got a negative value, expected 0 or more",
            );
        }
        if !at_least(s.backoff.max_launch_delay, 0.0) {
            c.fail(
                "/scheduling/backoff/maxLaunchDelay",
                "got a negative value, expected 0 or more",
            );
        }
        if let Some(u) = &s.unreachable_strategy {
            let path = "/scheduling/unreachableStrategy";
            for (path, error) in crate::app::unreachable_violations(u, path) {
                c.fail(path, error);
            }
        }
        if !(0.0..=1.0).contains(&s.upgrade.minimum_health_capacity) {
            c.fail(
                "/scheduling/upgrade/minimumHealthCapacity",
                "is greater than 1 or less than 0",
            );
        }
        if !(0.0..=1.0).contains(&s.upgrade.maximum_over_capacity) {
            c.fail(
                "/scheduling/upgrade/maximumOverCapacity",
                "is greater than 1 or less than 0",
            );
        }
        for (i, con) in s.placement.constraints.iter().enumerate() {
            let path = format!("/scheduling/placement/constraints({i})");
            if !CONSTRAINT_OPERATORS.contains(&con.operator.as_str()) {
                c.fail(
                    format!("{path}/operator"),
                    format!("must be one of {}", CONSTRAINT_OPERATORS.join(", ")),
                );
            } else if let Err(e) = crate::matcher::Constraint::parse(&constraint_parts(con)) {
                c.fail(path, e.to_string());
            }
        }
        if let Some(k) = &s.kill_selection {
            if !matches!(k.as_str(), "YOUNGEST_FIRST" | "OLDEST_FIRST") {
                c.fail(
                    "/scheduling/killSelection",
                    "must be one of YOUNGEST_FIRST, OLDEST_FIRST",
                );
            }
        }
        check_resources(&mut c, "/executorResources", &self.executor_resources, 0.0);
        if c.0.is_empty() {
            // The bounds every run spec has (`AppDefinition::limit_violations`),
            // at the pod's paths.
            for (path, error) in self.run_spec().limit_violations("") {
                let path = match path.as_str() {
                    "/instances" => "/scaling/instances",
                    "/backoffSeconds" => "/scheduling/backoff/backoff",
                    "/backoffFactor" => "/scheduling/backoff/backoffFactor",
                    "/maxLaunchDelaySeconds" => "/scheduling/backoff/maxLaunchDelay",
                    "/cpus" | "/mem" | "/disk" | "/gpus" => "/containers",
                    other => other,
                };
                c.fail(path, error);
            }
        }
        if c.0.is_empty() {
            Ok(())
        } else {
            Err(Invalid(c.0))
        }
    }

    /// Whether any container has a health check.
    pub fn has_health_checks(&self) -> bool {
        self.containers.iter().any(|c| c.health_check.is_some())
    }

    /// The run spec the app machinery schedules: totals of the containers
    /// and the executor, the scheduling policy in app terms, and the pod
    /// itself (without `scaling` and `version`).
    pub fn run_spec(&self) -> AppDefinition {
        let mut app =
            AppDefinition::from_value(json!({"id": self.id})).expect("a minimal app always parses");
        let total = self.total_resources();
        app.instances = self.scaling.as_ref().map(|s| s.instances).unwrap_or(1);
        app.cpus = total.cpus;
        app.mem = total.mem;
        app.disk = total.disk;
        app.gpus = total.gpus;
        app.port_definitions = Some(Vec::new());
        app.labels = self.labels.clone();
        let s = &self.scheduling;
        app.backoff_seconds = s.backoff.backoff;
        app.backoff_factor = s.backoff.backoff_factor;
        app.max_launch_delay_seconds = s.backoff.max_launch_delay;
        app.upgrade_strategy = s.upgrade;
        app.constraints = s
            .placement
            .constraints
            .iter()
            .map(constraint_parts)
            .collect();
        app.accepted_resource_roles = s.placement.accepted_resource_roles.clone();
        if let Some(k) = &s.kill_selection {
            app.kill_selection = k.clone();
        }
        if let Some(u) = &s.unreachable_strategy {
            app.unreachable_strategy = u.clone();
        }
        let mut pod = self.clone();
        pod.scaling = None;
        pod.version = None;
        app.pod = Some(Box::new(pod));
        app
    }

    /// Containers plus executor.
    pub fn total_resources(&self) -> PodResources {
        let mut t = self.executor_resources;
        for r in self.containers.iter().filter_map(|c| c.resources) {
            t.cpus += r.cpus;
            t.mem += r.mem;
            t.disk += r.disk;
            t.gpus += r.gpus;
        }
        t
    }
}

fn check_resources(c: &mut Violations, path: &str, r: &PodResources, min_cpus: f64) {
    if !at_least(r.cpus, min_cpus) {
        c.fail(
            format!("{path}/cpus"),
            format!("got {}, expected {min_cpus} or more", r.cpus),
        );
    }
    for (name, v) in [("mem", r.mem), ("disk", r.disk), ("gpus", r.gpus)] {
        if !at_least(v, 0.0) {
            c.fail(
                format!("{path}/{name}"),
                format!("got {v}, expected 0.0 or more"),
            );
        }
    }
}

fn constraint_parts(c: &PodConstraint) -> Vec<String> {
    let mut parts = vec![c.field_name.clone(), c.operator.clone()];
    parts.extend(c.value.clone());
    parts
}

/// The pod of a run spec as the API shows it: with `scaling` and
/// `version` from the run spec.
pub fn render(spec: &AppDefinition) -> Value {
    let Some(pod) = spec.pod.as_deref() else {
        return Value::Null;
    };
    let mut pod = pod.clone();
    pod.scaling = Some(Scaling {
        kind: fixed(),
        instances: spec.instances,
        max_instances: None,
    });
    pod.version = spec.version.clone();
    serde_json::to_value(pod).unwrap_or_default()
}

/// `<pod id with _>.instance-<uuid>`, as Marathon names pod instances.
pub fn new_instance_id(pod_id: &str) -> String {
    format!(
        "{}.instance-{}",
        pod_id.trim_start_matches('/').replace('/', "_"),
        uuid::Uuid::new_v4()
    )
}

/// The task id of a container of an instance.
pub fn task_id(instance_id: &str, container: &str) -> String {
    format!("{instance_id}.{container}")
}

/// The instance id and container name of a pod task id.
pub fn split_task_id(task_id: &str) -> Option<(&str, &str)> {
    let (inst, name) = task_id.rsplit_once('.')?;
    inst.contains(".instance-").then_some((inst, name))
}

/// The state of one container of a pod instance (one Mesos task).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerState {
    /// The container's name.
    pub name: String,
    /// Latest Mesos state of its task.
    pub state: TaskState,
    /// Latest health, when it has a health check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy: Option<bool>,
    /// When `state` last changed (Unix seconds).
    pub since: f64,
    /// The last message about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// What claiming an offer for one pod instance took.
#[derive(Debug, Clone, PartialEq)]
pub struct PodClaim {
    /// The executor's resources.
    pub executor: Vec<Resource>,
    /// Each container's resources, in order.
    pub containers: Vec<Vec<Resource>>,
    /// Host ports of every endpoint, containers in order, endpoints in order.
    pub ports: Vec<u32>,
}

/// Fits one instance of the pod into `left` (what remains of an offer on
/// `agent`): the constraints, then the executor, every container and every
/// endpoint's host port (0 = any offered port). All or nothing: on error
/// `left` is untouched.
pub fn claim(
    spec: &AppDefinition,
    pod: &PodDefinition,
    agent: &Placement,
    others: &[&Placement],
    left: &mut [Resource],
) -> Result<PodClaim, NoMatch> {
    matcher::constraints_allow(spec, agent, others)?;
    let mut trial = left.to_vec();
    let part = |r: PodResources, ports: Vec<crate::app::PortDefinition>, fixed: bool| {
        let mut a = spec.clone();
        a.constraints = Vec::new();
        a.cpus = r.cpus;
        a.mem = r.mem;
        a.disk = r.disk;
        a.gpus = r.gpus;
        a.port_definitions = Some(ports);
        a.require_ports = fixed;
        a.pod = None;
        a
    };
    let none = PodResources {
        cpus: 0.0,
        mem: 0.0,
        disk: 0.0,
        gpus: 0.0,
    };
    let executor = matcher::claim(
        &part(pod.executor_resources, Vec::new(), false),
        agent,
        &[],
        &mut trial,
    )?
    .resources;
    let mut containers = Vec::new();
    let mut ports = Vec::new();
    for c in &pod.containers {
        let mut taken = matcher::claim(
            &part(c.resources.unwrap_or(none), Vec::new(), false),
            agent,
            &[],
            &mut trial,
        )?
        .resources;
        for e in &c.endpoints {
            let port = e.host_port.unwrap_or(0);
            let def = crate::app::PortDefinition {
                port,
                protocol: "tcp".into(),
                name: None,
                labels: BTreeMap::new(),
            };
            let got = matcher::claim(&part(none, vec![def], port != 0), agent, &[], &mut trial)?;
            taken.extend(got.resources);
            ports.extend(got.ports);
        }
        containers.push(taken);
    }
    left.clone_from_slice(&trial);
    Ok(PodClaim {
        executor,
        containers,
        ports,
    })
}

/// The environment variable name of an endpoint (`ENDPOINT_<NAME>`).
fn env_name(prefix: &str, name: &str) -> String {
    let up: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("{prefix}_{up}")
}

/// The LAUNCH_GROUP of one instance: a DEFAULT executor with
/// `executorResources`, one task per container (`<instance id>.<name>`)
/// with its command, environment (the pod's, the container's, then
/// Marathon's: `ENDPOINT_<NAME>`/`PORT_<NAME>` of every endpoint of the
/// pod, `HOST`, `MARATHON_APP_ID`, …), image, volumes and health check.
pub fn launch_group(
    spec: &AppDefinition,
    pod: &PodDefinition,
    inst: &Instance,
    claim: PodClaim,
) -> LaunchGroup {
    let mut executor = ExecutorInfo::new(ExecutorId::new(format!("instance-{}", inst.task_id)));
    executor.kind = Some(ExecutorType::Default);
    executor.name = Some(format!("pod {}", pod.id));
    executor.resources = claim.executor;
    // Host port of every endpoint, by name.
    let mut by_name = Vec::new();
    let mut ports = inst.ports.iter();
    for c in &pod.containers {
        for e in &c.endpoints {
            by_name.push((e.name.clone(), ports.next().copied().unwrap_or(0)));
        }
    }
    let mut tasks = Vec::new();
    for (ct, resources) in pod.containers.iter().zip(claim.containers) {
        let cmd = ct.exec.as_ref().map(|e| &e.command);
        let mut command = match cmd {
            Some(PodCommand {
                shell: Some(sh), ..
            }) => CommandInfo::shell(sh.clone()),
            Some(PodCommand {
                argv: Some(argv), ..
            }) if ct.image.is_none() => CommandInfo {
                shell: Some(false),
                value: argv.first().cloned(),
                arguments: argv.clone(),
                ..CommandInfo::default()
            },
            Some(PodCommand {
                argv: Some(argv), ..
            }) => CommandInfo {
                shell: Some(false),
                arguments: argv.clone(),
                ..CommandInfo::default()
            },
            _ => CommandInfo {
                shell: Some(false),
                ..CommandInfo::default()
            },
        };
        let mut env: Vec<(String, String)> = pod
            .environment
            .iter()
            .chain(ct.environment.iter())
            .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
            .collect();
        for (name, port) in &by_name {
            env.push((env_name("ENDPOINT", name), port.to_string()));
            env.push((env_name("PORT", name), port.to_string()));
        }
        env.push(("HOST".into(), inst.placement.hostname.clone()));
        env.push(("MARATHON_APP_ID".into(), pod.id.clone()));
        env.push(("MARATHON_APP_VERSION".into(), inst.version.clone()));
        env.push(("MARATHON_CONTAINER_ID".into(), ct.name.clone()));
        let tid = task_id(&inst.task_id, &ct.name);
        env.push(("MESOS_TASK_ID".into(), tid.clone()));
        // Later entries win, so a container's own variables override.
        let mut seen = std::collections::BTreeMap::new();
        for (k, v) in env {
            seen.insert(k, v);
        }
        command.environment = Some(Environment::from_pairs(seen));
        command.user = ct.user.clone().or_else(|| pod.user.clone());
        let mut task = TaskInfo::command(
            ct.name.clone(),
            TaskId::new(tid),
            AgentId::new(inst.agent_id.clone()),
            command,
        );
        task.resources = resources;
        task.container = container_of(pod, ct);
        task.health_check = ct.health_check.as_ref().and_then(|hc| {
            let endpoint = hc
                .http
                .as_ref()
                .map(|h| h.endpoint.as_str())
                .or(hc.tcp.as_ref().map(|t| t.endpoint.as_str()));
            let port = endpoint.and_then(|n| by_name.iter().find(|(e, _)| e == n).map(|(_, p)| *p));
            let def = HealthCheckDef {
                protocol: match (&hc.http, &hc.tcp) {
                    (Some(h), _) if h.scheme.as_deref() == Some("HTTPS") => "MESOS_HTTPS",
                    (Some(_), _) => "MESOS_HTTP",
                    (None, Some(_)) => "MESOS_TCP",
                    _ => "COMMAND",
                }
                .to_owned(),
                path: hc.http.as_ref().and_then(|h| h.path.clone()),
                port_index: None,
                port,
                command: hc.exec.as_ref().map(|e| {
                    let line = e
                        .command
                        .shell
                        .clone()
                        .or_else(|| e.command.argv.as_ref().map(|a| a.join(" ")))
                        .unwrap_or_default();
                    json!({"value": line})
                }),
                grace_period_seconds: hc.grace_period_seconds,
                interval_seconds: hc.interval_seconds,
                timeout_seconds: hc.timeout_seconds,
                max_consecutive_failures: hc.max_consecutive_failures,
                delay_seconds: hc.delay_seconds,
                ignore_http1xx: false,
            };
            let mut check = crate::state::mesos_health_check(&def, &[])?;
            check.delay_seconds = Some(hc.delay_seconds);
            Some(check)
        });
        task.kill_policy = spec.task_kill_grace_period_seconds.map(|g| KillPolicy {
            grace_period: Some(DurationInfo::from_duration(
                std::time::Duration::from_secs_f64(g.max(0.0)),
            )),
        });
        task.labels = Some(
            pod.labels
                .iter()
                .chain(ct.labels.iter())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        );
        tasks.push(task);
    }
    LaunchGroup {
        executor,
        task_group: TaskGroupInfo { tasks },
    }
}

/// A container's image and volume mounts as its Mesos `ContainerInfo`
/// (host volumes by path; ephemeral ones as a sandbox path of the
/// executor, `volumes/<name>`).
fn container_of(pod: &PodDefinition, ct: &PodContainer) -> Option<dcos_api::v1::ContainerInfo> {
    use dcos_api::v1::{
        SandboxPath, SandboxPathType, Volume, VolumeMode, VolumeSource, VolumeSourceType,
    };
    if ct.image.is_none() && ct.volume_mounts.is_empty() {
        return None;
    }
    let mut c = json!({"type": "MESOS"});
    if let Some(img) = &ct.image {
        c["docker"] = json!({"image": img.id, "forcePullImage": img.force_pull});
    }
    let mut info = crate::state::container_info(&c)?;
    for m in &ct.volume_mounts {
        let Some(v) = pod.volumes.iter().find(|v| v.name == m.name) else {
            continue;
        };
        let mode = if m.read_only {
            VolumeMode::Ro
        } else {
            VolumeMode::Rw
        };
        info.volumes.push(match &v.host {
            Some(host) => Volume {
                mode,
                container_path: m.mount_path.clone(),
                host_path: Some(host.clone()),
                image: None,
                source: None,
            },
            None => Volume {
                mode,
                container_path: m.mount_path.clone(),
                host_path: None,
                image: None,
                source: Some(VolumeSource {
                    kind: Some(VolumeSourceType::SandboxPath),
                    docker_volume: None,
                    host_path: None,
                    sandbox_path: Some(SandboxPath {
                        kind: Some(SandboxPathType::Parent),
                        path: format!("volumes/{}", v.name),
                    }),
                    secret: None,
                    csi_volume: None,
                }),
            },
        });
    }
    Some(info)
}

/// An instance's state and health from its containers': terminal when
/// every container is (FINISHED only if all finished, else the failure);
/// KILLING while a container ended unsuccessfully and the agent kills its
/// siblings; otherwise the least advanced container's state. Healthy when
/// every container with a check reports healthy.
pub fn aggregate(containers: &[ContainerState], checked: &[&str]) -> (TaskState, Option<bool>) {
    let failed = |s: TaskState| s.is_terminal() && s != TaskState::Finished;
    let state = if containers.iter().all(|c| c.state.is_terminal()) {
        containers
            .iter()
            .map(|c| c.state)
            .filter(|s| failed(*s))
            .max_by_key(|s| match s {
                TaskState::Failed | TaskState::Error => 2,
                TaskState::Killed => 0,
                _ => 1,
            })
            .unwrap_or(TaskState::Finished)
    } else if containers.iter().any(|c| failed(c.state)) {
        TaskState::Killing
    } else {
        let rank = |s: TaskState| match s {
            TaskState::Unreachable => 0,
            TaskState::Staging => 1,
            TaskState::Starting => 2,
            TaskState::Killing => 3,
            _ => 4,
        };
        containers
            .iter()
            .map(|c| c.state)
            .filter(|s| !s.is_terminal())
            .min_by_key(|s| rank(*s))
            .unwrap_or(TaskState::Running)
    };
    let health: Vec<Option<bool>> = containers
        .iter()
        .filter(|c| checked.contains(&c.name.as_str()))
        .map(|c| c.healthy)
        .collect();
    let healthy = if health.is_empty() {
        None
    } else if health.contains(&Some(false)) {
        Some(false)
    } else if health.iter().all(|h| *h == Some(true)) {
        Some(true)
    } else {
        None
    };
    (state, healthy)
}

/// `PodInstanceState` of an instance and why, as Marathon derives it:
/// STAGING until running, TERMINAL once killed or ending, DEGRADED when
/// unreachable or a container with a health check is not (yet) reported
/// healthy, else STABLE.
pub fn instance_status(inst: &Instance, has_checks: bool) -> (&'static str, Option<&'static str>) {
    if inst.killing_since.is_some() || inst.state.is_terminal() || inst.state == TaskState::Killing
    {
        ("TERMINAL", None)
    } else if inst.state == TaskState::Unreachable {
        ("DEGRADED", Some("pod instance has become unreachable"))
    } else if matches!(inst.state, TaskState::Staging | TaskState::Starting) {
        ("STAGING", None)
    } else if inst.is_pod_healthy(has_checks) {
        ("STABLE", None)
    } else {
        ("DEGRADED", Some("at least one container is not healthy"))
    }
}

/// The PodInstanceStatus of an instance.
pub fn instance_json(pod: &PodDefinition, inst: &Instance, now: f64) -> Value {
    let has_checks = pod.has_health_checks();
    let mut ports = inst.ports.iter();
    let containers: Vec<Value> = pod
        .containers
        .iter()
        .map(|ct| {
            let st = inst.containers.iter().find(|c| c.name == ct.name);
            let state = st.map(|s| s.state).unwrap_or(TaskState::Staging);
            let active = !state.is_terminal();
            let healthy = st.and_then(|s| s.healthy);
            let endpoints: Vec<Value> = ct
                .endpoints
                .iter()
                .map(|e| {
                    let mut v = json!({"name": e.name, "allocatedHostPort": ports.next()});
                    let probed = ct.health_check.as_ref().is_some_and(|hc| {
                        hc.http.as_ref().map(|h| &h.endpoint) == Some(&e.name)
                            || hc.tcp.as_ref().map(|t| &t.endpoint) == Some(&e.name)
                    });
                    if let (true, Some(h)) = (probed, healthy) {
                        v["healthy"] = json!(h);
                    }
                    v
                })
                .collect();
            let since = st.map(|s| s.since).unwrap_or(inst.staged_at);
            let mut v = json!({
                "name": ct.name,
                "status": state.as_str(),
                "statusSince": iso(since),
                "containerId": task_id(&inst.task_id, &ct.name),
                "endpoints": if active { endpoints } else { Vec::new() },
                "conditions": [],
                "lastUpdated": iso(now),
                "lastChanged": iso(since),
            });
            if active {
                v["resources"] = json!(ct.resources);
            }
            if let Some(m) = st.and_then(|s| s.message.as_ref()) {
                v["message"] = json!(m);
            }
            // Marathon's `healthy` condition: once the task ran, for a
            // container with a check; unreported counts as unhealthy.
            let ran = !matches!(state, TaskState::Staging | TaskState::Starting);
            if ran && ct.health_check.is_some() {
                let reason = if healthy.is_some() {
                    "health-reported-by-mesos"
                } else {
                    "health-unreported-by-mesos"
                };
                v["conditions"] = json!([{"name": "healthy", "value": healthy.unwrap_or(false).to_string(),
                    "reason": reason, "lastChanged": iso(since), "lastUpdated": iso(since)}]);
            }
            v
        })
        .collect();
    let changed = inst
        .containers
        .iter()
        .map(|c| c.since)
        .fold(inst.staged_at, f64::max);
    let (status, message) = instance_status(inst, has_checks);
    let mut v = json!({
        "id": inst.task_id,
        "status": status,
        "statusSince": iso(changed),
        "agentHostname": inst.placement.hostname,
        "agentId": inst.agent_id,
        "resources": pod.total_resources(),
        "networks": [],
        "containers": containers,
        "specReference": format!("/v2/pods{}::versions/{}", pod.id, inst.version),
        "lastUpdated": iso(changed),
        "lastChanged": iso(changed),
    });
    if let Some(m) = message {
        v["message"] = json!(m);
    }
    v
}

/// The PodStatus of a pod, as Marathon derives it: TERMINAL while a
/// deployment deletes it, STABLE when at least as many instances as wanted
/// are STABLE (so a pod scaled to 0 is STABLE), else DEGRADED.
pub fn status_json(
    spec: &AppDefinition,
    instances: &[&Instance],
    terminating: bool,
    now: f64,
) -> Value {
    let Some(pod) = spec.pod.as_deref() else {
        return Value::Null;
    };
    let has_checks = pod.has_health_checks();
    let stable = instances
        .iter()
        .filter(|i| instance_status(i, has_checks).0 == "STABLE")
        .count();
    let status = if terminating {
        "TERMINAL"
    } else if stable >= spec.instance_count() {
        "STABLE"
    } else {
        "DEGRADED"
    };
    let views: Vec<Value> = instances
        .iter()
        .map(|i| instance_json(pod, i, now))
        .collect();
    let since = instances
        .iter()
        .flat_map(|i| i.containers.iter().map(|c| c.since).chain([i.staged_at]))
        .fold(f64::NEG_INFINITY, f64::max);
    let since = if since.is_finite() { since } else { now };
    json!({
        "id": spec.id,
        "spec": render(spec),
        "status": status,
        "statusSince": iso(since),
        "instances": views,
        "terminationHistory": [],
        "lastUpdated": iso(now),
        "lastChanged": iso(since),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(v: Value) -> Result<PodDefinition, Vec<String>> {
        PodDefinition::from_value(v, "/").map_err(|e| match e {
            ParseError::Invalid(i) => i.0.into_iter().map(|v| v.path).collect(),
            ParseError::Json(e) => vec![e.to_string()],
        })
    }

    fn web() -> Value {
        json!({
            "id": "/web/pod",
            "environment": {"A": "1"},
            "containers": [
                {"name": "srv", "resources": {"cpus": 0.2, "mem": 64},
                 "exec": {"command": {"shell": "python3 -m http.server $ENDPOINT_HTTP"}},
                 "endpoints": [{"name": "http", "hostPort": 0}],
                 "healthCheck": {"http": {"endpoint": "http", "path": "/"}, "intervalSeconds": 1},
                 "environment": {"A": "2"}},
                {"name": "side", "resources": {"cpus": 0.1, "mem": 16},
                 "exec": {"command": {"shell": "sleep 1000"}}}
            ],
            "scaling": {"kind": "fixed", "instances": 2},
            "scheduling": {"placement": {"constraints": [{"fieldName": "hostname", "operator": "UNIQUE"}]}}
        })
    }

    #[test]
    fn validation_names_each_bad_field() {
        assert!(pod(web()).is_ok());
        let mut bad = web();
        bad["containers"][1]["name"] = json!("srv");
        assert_eq!(pod(bad).unwrap_err(), vec!["/containers"]);
        let mut bad = web();
        bad["containers"][1]
            .as_object_mut()
            .unwrap()
            .remove("resources");
        assert_eq!(pod(bad).unwrap_err(), vec!["/containers(1)/resources"]);
        let mut bad = web();
        bad["id"] = json!("/Bad_Id");
        assert_eq!(pod(bad).unwrap_err(), vec!["/id"]);
        let mut bad = web();
        bad["networks"] = json!([{"mode": "container", "name": "dcos"}]);
        assert_eq!(pod(bad).unwrap_err(), vec!["/networks(0)/mode"]);
        let mut bad = web();
        bad["containers"][0]["healthCheck"]["http"]["endpoint"] = json!("nope");
        assert_eq!(
            pod(bad).unwrap_err(),
            vec!["/containers(0)/healthCheck/http/endpoint"]
        );
        let mut bad = web();
        bad["containers"] = json!([]);
        assert_eq!(pod(bad).unwrap_err(), vec!["/containers"]);
        // An ephemeral volume in a container without an image: relative only.
        let mut shared = web();
        shared["volumes"] = json!([{"name": "shared"}]);
        shared["containers"][1]["volumeMounts"] = json!([{"name": "shared", "mountPath": "data"}]);
        assert!(pod(shared.clone()).is_ok());
        shared["containers"][1]["volumeMounts"][0]["mountPath"] = json!("/data");
        assert_eq!(
            pod(shared).unwrap_err(),
            vec!["/containers(1)/volumeMounts(0)/mountPath"]
        );
        assert!(matches!(
            PodDefinition::parse(b"{", "/"),
            Err(ParseError::Json(_))
        ));
    }

    #[test]
    fn health_check_seconds_render_as_integers_unless_fractional() {
        let mut v = web();
        v["containers"][0]["healthCheck"]["timeoutSeconds"] = json!(0.5);
        let p = pod(v).unwrap();
        let hc = serde_json::to_value(&p.containers[0]).unwrap()["healthCheck"].clone();
        assert_eq!(hc["intervalSeconds"], json!(1));
        assert_eq!(hc["gracePeriodSeconds"], json!(300));
        assert!(hc["intervalSeconds"].is_i64(), "{hc}");
        assert_eq!(hc["timeoutSeconds"], json!(0.5));
    }

    #[test]
    fn run_spec_totals_and_scheduling() {
        let p = pod(web()).unwrap();
        let spec = p.run_spec();
        assert_eq!(spec.id, "/web/pod");
        assert_eq!(spec.instances, 2);
        assert!((spec.cpus - 0.4).abs() < 1e-9);
        assert!((spec.mem - 112.0).abs() < 1e-9);
        assert!((spec.disk - 10.0).abs() < 1e-9);
        assert_eq!(spec.constraints, vec![vec!["hostname", "UNIQUE"]]);
        // A scale is not a config change.
        let mut more = spec.clone();
        more.instances = 5;
        assert!(!spec.needs_restart_for(&more));
        let rendered = render(&spec);
        assert_eq!(rendered["scaling"]["instances"], 2);
        assert_eq!(rendered["executorResources"]["mem"], 32.0);
    }

    #[test]
    fn one_instance_is_one_launch_group() {
        use dcos_api::v1::{Range, Ranges, Scalar, ValueType};
        let p = pod(web()).unwrap();
        let spec = p.run_spec();
        let mut left = vec![
            Resource::scalar("cpus", 4.0),
            Resource::scalar("mem", 4096.0),
            Resource::scalar("disk", 1000.0),
            Resource {
                name: "ports".into(),
                kind: ValueType::Ranges,
                ranges: Some(Ranges {
                    range: vec![Range::new(31000, 31010)],
                }),
                ..Resource::scalar("ports", 0.0)
            },
        ];
        let agent = Placement {
            hostname: "h1".into(),
            ..Placement::default()
        };
        let claim = claim(&spec, &p, &agent, &[], &mut left).unwrap();
        assert_eq!(claim.ports, vec![31000]);
        assert_eq!(claim.containers.len(), 2);
        let cpus_left = left.iter().find(|r| r.name == "cpus").unwrap().scalar;
        assert_eq!(cpus_left, Some(Scalar::new(3.6)));
        let inst = Instance {
            task_id: "web_pod.instance-1".into(),
            app_id: "/web/pod".into(),
            version: "v1".into(),
            config_version: "v1".into(),
            agent_id: "a1".into(),
            placement: agent.clone(),
            ports: claim.ports.clone(),
            state: TaskState::Staging,
            healthy: None,
            staged_at: 0.0,
            started_at: None,
            seq: 0,
            killing_since: None,
            ready: false,
            containers: Vec::new(),
            health_checks: None,
            unreachable_since: None,
            unreachable_inactive: false,
            probes: Vec::new(),
        };
        let g = launch_group(&spec, &p, &inst, claim);
        assert_eq!(g.executor.kind, Some(ExecutorType::Default));
        assert_eq!(g.executor.executor_id.value, "instance-web_pod.instance-1");
        let ids: Vec<&str> = g
            .task_group
            .tasks
            .iter()
            .map(|t| t.task_id.value.as_str())
            .collect();
        assert_eq!(
            ids,
            vec!["web_pod.instance-1.srv", "web_pod.instance-1.side"]
        );
        let srv = &g.task_group.tasks[0];
        let env = srv.command.as_ref().unwrap().environment.as_ref().unwrap();
        let get = |k: &str| {
            env.variables
                .iter()
                .find(|v| v.name == k)
                .and_then(|v| v.value.clone())
        };
        assert_eq!(get("ENDPOINT_HTTP").as_deref(), Some("31000"));
        assert_eq!(get("PORT_HTTP").as_deref(), Some("31000"));
        assert_eq!(get("A").as_deref(), Some("2"));
        let hc = srv.health_check.as_ref().unwrap();
        assert_eq!(hc.http.as_ref().unwrap().port, 31000);
        assert!(g.task_group.tasks[1].health_check.is_none());
        // Too small an offer: nothing taken.
        let mut tiny = vec![
            Resource::scalar("cpus", 0.3),
            Resource::scalar("mem", 4096.0),
        ];
        let before = tiny.clone();
        assert!(super::claim(&spec, &p, &agent, &[], &mut tiny).is_err());
        assert_eq!(tiny, before);
    }

    #[test]
    fn images_and_volumes_become_the_containers_of_the_tasks() {
        use dcos_api::v1::{ContainerType, SandboxPathType, VolumeMode};
        let p = pod(json!({
            "id": "/v",
            "volumes": [{"name": "scratch"}, {"name": "logs", "host": "/var/log"}],
            "containers": [{"name": "app", "resources": {"cpus": 0.1, "mem": 16},
                "image": {"kind": "DOCKER", "id": "busybox:1", "forcePull": true},
                "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"},
                                 {"name": "logs", "mountPath": "/logs", "readOnly": true}]},
                {"name": "plain", "resources": {"cpus": 0.1, "mem": 16},
                 "exec": {"command": {"argv": ["sleep", "9"]}}}]
        }))
        .unwrap();
        let info = container_of(&p, &p.containers[0]).unwrap();
        assert_eq!(info.kind, ContainerType::Mesos);
        let image = info.mesos.as_ref().unwrap().image.as_ref().unwrap();
        assert_eq!(image.docker.as_ref().unwrap().name, "busybox:1");
        assert!(!image.cached());
        let scratch = &info.volumes[0];
        assert_eq!(scratch.container_path, "/scratch");
        let src = scratch
            .source
            .as_ref()
            .unwrap()
            .sandbox_path
            .as_ref()
            .unwrap();
        assert_eq!(src.kind, Some(SandboxPathType::Parent));
        assert_eq!(src.path, "volumes/scratch");
        assert_eq!(info.volumes[1].host_path.as_deref(), Some("/var/log"));
        assert_eq!(info.volumes[1].mode, VolumeMode::Ro);
        assert!(container_of(&p, &p.containers[1]).is_none());
        // A bad mount or image is a 422 at its path.
        let bad = pod(
            json!({"id": "/v", "containers": [{"name": "a", "resources": {},
            "image": {"kind": "APPC", "id": "x"}, "volumeMounts": [{"name": "nope", "mountPath": "/x"}]}]}),
        );
        assert_eq!(
            bad.unwrap_err(),
            vec![
                "/containers(0)/image/kind",
                "/containers(0)/volumeMounts(0)/name"
            ]
        );
    }

    #[test]
    fn instance_state_follows_its_containers() {
        let c = |name: &str, state, healthy| ContainerState {
            name: name.into(),
            state,
            healthy,
            since: 0.0,
            message: None,
        };
        use TaskState::*;
        let checked = ["srv"];
        assert_eq!(
            aggregate(
                &[c("srv", Running, None), c("side", Staging, None)],
                &checked
            ),
            (Staging, None)
        );
        assert_eq!(
            aggregate(
                &[c("srv", Running, Some(true)), c("side", Running, None)],
                &checked
            ),
            (Running, Some(true))
        );
        assert_eq!(
            aggregate(
                &[c("srv", Failed, None), c("side", Running, None)],
                &checked
            )
            .0,
            Killing
        );
        assert_eq!(
            aggregate(&[c("srv", Failed, None), c("side", Killed, None)], &checked).0,
            Failed
        );
        assert_eq!(
            aggregate(
                &[c("srv", Finished, None), c("side", Finished, None)],
                &checked
            )
            .0,
            Finished
        );
        assert_eq!(
            aggregate(&[c("srv", Finished, None), c("side", Running, None)], &[]).0,
            Running
        );
    }

    #[test]
    fn books_launch_a_group_per_instance_and_replace_a_failed_one() {
        use crate::state::{Books, Write};
        use dcos_api::v1::{FrameworkId, Offer, TaskId, TaskStatus};
        let offer = |n: u32| {
            let mut o: Offer = serde_json::from_value(json!({
                "id": {"value": format!("o{n}")}, "framework_id": {"value": "f"},
                "agent_id": {"value": format!("a{n}")}, "hostname": format!("h{n}"),
                "resources": [],
            }))
            .unwrap();
            o.resources = vec![
                Resource::scalar("cpus", 4.0),
                Resource::scalar("mem", 1024.0),
                Resource::scalar("disk", 100.0),
                Resource::ranges("ports", [(31000, 31100)]),
            ];
            o.framework_id = FrameworkId::new("f");
            o
        };
        let update = |b: &mut Books, task: &str, state: TaskState, healthy: Option<bool>| {
            let mut s = TaskStatus::new(TaskId::new(task), state);
            s.healthy = healthy;
            b.apply_update(&s, 1001.0)
        };
        let mut b = Books::default();
        let spec = pod(web()).unwrap().run_spec();
        let c = b
            .change(
                vec![spec],
                vec![],
                &Default::default(),
                false,
                "d1".into(),
                1000.0,
            )
            .unwrap();
        assert!(c
            .writes
            .iter()
            .any(|w| matches!(w, Write::Put(k, _) if k == "/marathon/pods/web/pod")));
        assert!(c
            .events
            .iter()
            .any(|e| e.kind == "pod_created_event" && e.body["uri"] == "/v2/pods/web/pod"));
        let d = c.deployment.unwrap().to_json();
        assert_eq!(d["affectedPods"], json!(["/web/pod"]));
        assert_eq!(d["affectedApps"], json!([]));
        assert_eq!(
            d["steps"][0]["actions"][0],
            json!({"action": "StartPod", "pod": "/web/pod"})
        );
        b.drive(1000.0);
        assert_eq!(b.queue["/web/pod"].count, 2);
        // UNIQUE hostname: one instance per agent.
        let m = b.match_offers(&[offer(1), offer(2)], "*", 1000.0);
        assert!(m.accepts.is_empty());
        assert_eq!(m.groups.len(), 2);
        assert_eq!(m.groups[0].1[0].task_group.tasks.len(), 2);
        let ids: Vec<String> = b.instances.keys().cloned().collect();
        assert_eq!(ids.len(), 2);
        let (first, second) = (&ids[0], &ids[1]);
        for id in &ids {
            update(&mut b, &format!("{id}.srv"), TaskState::Running, Some(true));
            update(&mut b, &format!("{id}.side"), TaskState::Running, None);
        }
        assert!(b
            .instances
            .values()
            .all(|i| i.state == TaskState::Running && i.healthy == Some(true)));
        assert!(b.converged("/web/pod"));
        b.drive(1001.0);
        assert!(b.deployments.is_empty());
        let spec = b.apps["/web/pod"].clone();
        let insts: Vec<&Instance> = b.instances_of("/web/pod").collect();
        let status = status_json(&spec, &insts, false, 1001.0);
        assert_eq!(status["status"], "STABLE");
        assert_eq!(
            status["instances"][0]["containers"][0]["status"],
            "TASK_RUNNING"
        );
        // The server fails: the instance waits for its sidecar, then goes
        // and is replaced after the backoff.
        update(&mut b, &format!("{first}.srv"), TaskState::Failed, None);
        assert_eq!(b.instances[first].state, TaskState::Killing);
        let (writes, _, _) = update(&mut b, &format!("{first}.side"), TaskState::Killed, None);
        assert!(!b.instances.contains_key(first));
        assert!(writes.contains(&Write::Delete(crate::state::instance_key(first))));
        assert_eq!(b.delays["/web/pod"].failures, 1);
        b.drive(1001.0);
        assert_eq!(b.queue["/web/pod"].count, 1);
        // Killing an instance kills each of its containers' tasks.
        let (kills, _) = b.kill_instances(std::slice::from_ref(second), 1002.0);
        let mut killed: Vec<String> = kills.into_iter().map(|k| k.task_id).collect();
        killed.sort();
        assert_eq!(
            killed,
            vec![format!("{second}.side"), format!("{second}.srv")]
        );
    }
    #[test]
    fn a_pod_instance_unreachable_is_aged_by_its_strategy_and_never_probed() {
        use crate::state::{Books, Write};
        use dcos_api::v1::{FrameworkId, Offer, TaskId, TaskStatus};
        let offer = |n: u32| {
            let mut o: Offer = serde_json::from_value(json!({
                "id": {"value": format!("o{n}")}, "framework_id": {"value": "f"},
                "agent_id": {"value": format!("a{n}")}, "hostname": format!("h{n}"),
                "resources": [],
            }))
            .unwrap();
            o.resources = vec![
                Resource::scalar("cpus", 4.0),
                Resource::scalar("mem", 1024.0),
                Resource::scalar("disk", 100.0),
                Resource::ranges("ports", [(31000, 31100)]),
            ];
            o.framework_id = FrameworkId::new("f");
            o
        };
        let update = |b: &mut Books, task: &str, state: TaskState, healthy: Option<bool>, now| {
            let mut s = TaskStatus::new(TaskId::new(task), state);
            s.healthy = healthy;
            b.apply_update(&s, now)
        };
        // The strategy is validated as an app's, under scheduling.
        let mut bad = web();
        bad["scheduling"]["unreachableStrategy"] =
            json!({"inactiveAfterSeconds": 9, "expungeAfterSeconds": 1});
        assert_eq!(
            pod(bad).unwrap_err(),
            vec!["/scheduling/unreachableStrategy/inactiveAfterSeconds"]
        );
        let mut v = web();
        v["scaling"]["instances"] = json!(1);
        v["scheduling"]["unreachableStrategy"] =
            json!({"inactiveAfterSeconds": 5, "expungeAfterSeconds": 20});
        let mut b = Books::default();
        b.change(
            vec![pod(v).unwrap().run_spec()],
            vec![],
            &Default::default(),
            false,
            "d1".into(),
            0.0,
        )
        .unwrap();
        b.drive(0.0);
        b.match_offers(&[offer(1)], "*", 0.0);
        let id = b.instances.keys().next().unwrap().clone();
        update(
            &mut b,
            &format!("{id}.srv"),
            TaskState::Running,
            Some(true),
            1.0,
        );
        update(&mut b, &format!("{id}.side"), TaskState::Running, None, 1.0);
        assert!(b.instances[&id].is_up(&b.apps["/web/pod"]));
        // A container's check is a Mesos check: the leader probes nothing.
        assert!(b.due_probes(2.0).is_empty());
        assert!(b.due_probes(30.0).is_empty());
        b.drive(2.0);
        assert!(b.deployments.is_empty());
        // The agent is lost: unreachable from its first container's
        // update, still counted until inactiveAfterSeconds.
        update(
            &mut b,
            &format!("{id}.srv"),
            TaskState::Unreachable,
            None,
            10.0,
        );
        assert_eq!(b.instances[&id].state, TaskState::Unreachable);
        assert_eq!(b.instances[&id].unreachable_since, Some(10.0));
        update(
            &mut b,
            &format!("{id}.side"),
            TaskState::Unreachable,
            None,
            10.5,
        );
        assert_eq!(b.instances[&id].unreachable_since, Some(10.0));
        b.drive(14.9);
        assert!(b.queue.is_empty());
        let d = b.drive(15.0);
        assert!(d
            .events
            .iter()
            .any(|e| e.body["condition"] == "UnreachableInactive"));
        assert_eq!(b.queue["/web/pod"].count, 1);
        // Expunged after expungeAfterSeconds: each container killed.
        let d = b.drive(30.0);
        let mut killed: Vec<String> = d.kills.into_iter().map(|k| k.task_id).collect();
        killed.sort();
        assert_eq!(killed, vec![format!("{id}.side"), format!("{id}.srv")]);
        assert!(d
            .writes
            .contains(&Write::Delete(crate::state::instance_key(&id))));
        assert!(!b.instances.contains_key(&id));
    }
}
