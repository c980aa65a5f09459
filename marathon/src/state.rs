//! Marathon's books and the decisions made on them (pure, clock passed in
//! as Unix seconds): apps and their versions, instances (one Mesos task
//! each), deployments, the launch queue with backoff. Every change returns
//! the store writes ([`Write`]) and the events it causes, for the runtime
//! to carry out; nothing here does I/O.
//!
//! Words: an **app** is a definition (latest version); an **instance** is
//! one launched task of it; a **deployment** moves apps to new definitions
//! through a [`Plan`] of steps; the **launch queue** is how many instances
//! each app still wants, and until when it is **backed off**.

use std::collections::{BTreeMap, BTreeSet};

use dcos_api::v1::{
    AgentId, CheckType, CommandInfo, DurationInfo, Environment, HealthCheck, HttpCheckInfo,
    KillPolicy, LaunchGroup, Offer, OfferId, TaskId, TaskInfo, TaskState, TaskStatus, TcpCheckInfo,
    Uri,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::app::{AppDefinition, HealthCheckDef, Unreachable};
use crate::health::{self, Health, Outcome, Probe};
use crate::history;
use crate::matcher::{self, NoMatch, Placement};
use crate::planner::{self, Bounds, InstanceView, Plan};

/// Store key prefix of everything Marathon keeps.
pub const PREFIX: &str = "/marathon";

/// Store key of an app's current definition.
pub fn app_key(id: &str) -> String {
    format!("{PREFIX}/apps{id}")
}
/// Store key of a pod's current definition (its run spec).
pub fn pod_key(id: &str) -> String {
    format!("{PREFIX}/pods{id}")
}
/// Store key of a run spec: an app's or a pod's.
pub fn spec_key(spec: &AppDefinition) -> String {
    if spec.pod.is_some() {
        pod_key(&spec.id)
    } else {
        app_key(&spec.id)
    }
}
/// Store key of one stored version of an app or pod.
pub fn version_key(id: &str, version: &str) -> String {
    format!("{PREFIX}/versions{id}@{version}")
}
/// Store key of an instance.
pub fn instance_key(task_id: &str) -> String {
    format!("{PREFIX}/instances/{task_id}")
}
/// Store key of a deployment.
pub fn deployment_key(id: &str) -> String {
    format!("{PREFIX}/deployments/{id}")
}
/// Store key of an app's backoff.
pub fn delay_key(app_id: &str) -> String {
    format!("{PREFIX}/delays{app_id}")
}
/// Store key of the framework id.
pub const FRAMEWORK_ID_KEY: &str = "/marathon/framework-id";
/// Store key of the leader election.
pub const LEADER_KEY: &str = "/marathon/leader";

/// One store write: put a JSON value, or delete.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Put `value` at `key`.
    Put(String, Vec<u8>),
    /// Delete `key`.
    Delete(String),
}

impl Write {
    /// The key written.
    pub fn key(&self) -> &str {
        match self {
            Write::Put(k, _) | Write::Delete(k) => k,
        }
    }

    fn put<T: Serialize>(key: String, value: &T) -> Self {
        Write::Put(key, serde_json::to_vec(value).unwrap_or_default())
    }
}

/// An event for `/v2/events`: its `eventType` and body.
#[derive(Debug, Clone, PartialEq)]
pub struct BusEvent {
    /// `eventType`.
    pub kind: &'static str,
    /// The whole JSON body, `eventType` and `timestamp` included.
    pub body: Value,
}

/// ISO 8601 of Unix seconds, as Marathon writes timestamps.
pub fn iso(ts: f64) -> String {
    let ms = (ts * 1000.0) as i64;
    // No format string: this runs for every task of a listing.
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn event(kind: &'static str, now: f64, mut body: Value) -> BusEvent {
    if let Some(o) = body.as_object_mut() {
        o.insert("eventType".into(), json!(kind));
        o.insert("timestamp".into(), json!(iso(now)));
    }
    BusEvent { kind, body }
}

/// One launched task of an app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Instance {
    /// The Mesos task id (`<app_id with _>.<uuid>`).
    pub task_id: String,
    /// The app.
    pub app_id: String,
    /// The app version it was launched from.
    pub version: String,
    /// The config version (`lastConfigChangeAt`) it runs: instances of an
    /// older one are replaced by a rolling restart.
    pub config_version: String,
    /// Its agent.
    pub agent_id: String,
    /// Where (for constraints and the API).
    pub placement: Placement,
    /// Host ports.
    pub ports: Vec<u32>,
    /// Latest Mesos state (`TASK_STAGING` until the first update).
    pub state: TaskState,
    /// Latest health from the agent's health check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy: Option<bool>,
    /// Launch time (Unix seconds).
    pub staged_at: f64,
    /// First TASK_RUNNING (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<f64>,
    /// Launch order, for killSelection.
    pub seq: u64,
    /// A KILL was sent at this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub killing_since: Option<f64>,
    /// Passed the app's readiness check (not persisted: a new leader
    /// probes again).
    #[serde(skip)]
    pub ready: bool,
    /// A pod instance's containers, one Mesos task each
    /// (`<task_id>.<name>`); empty for an app's instance.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<crate::pod::ContainerState>,
    /// The health checks of the version it runs (`None`: a record from
    /// before they were kept here; the app's current ones apply).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_checks: Option<Vec<HealthCheckDef>>,
    /// When its task went TASK_UNREACHABLE (Unix seconds): kept in the
    /// store, so `unreachableStrategy` timings survive a failover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreachable_since: Option<f64>,
    /// Unreachable for longer than `inactiveAfterSeconds` (Marathon's
    /// *UnreachableInactive*): no longer counts, a replacement is launched.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unreachable_inactive: bool,
    /// Marathon-side health check results and probe schedule, by index in
    /// the health checks (not persisted: a new leader probes afresh, as
    /// Marathon's does).
    #[serde(skip)]
    pub probes: Vec<ProbeSlot>,
}

/// One Marathon-side check of one instance: its result and schedule.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProbeSlot {
    /// The result so far (`None` before the first recorded probe).
    pub health: Option<Health>,
    /// Next probe not before (Unix seconds).
    pub next_at: f64,
    /// A probe is running.
    pub in_flight: bool,
}

impl Instance {
    /// Counts towards the app: not terminal, and not unreachable for
    /// longer than `inactiveAfterSeconds` (an unreachable instance still
    /// counts until then, so nothing replaces it yet).
    pub fn is_alive(&self) -> bool {
        !self.state.is_terminal() && !self.unreachable_inactive
    }

    /// The health checks that apply: those of its version, or for an
    /// older record the app's.
    pub fn checks<'a>(&'a self, app_checks: &'a [HealthCheckDef]) -> &'a [HealthCheckDef] {
        self.health_checks.as_deref().unwrap_or(app_checks)
    }

    /// Check `index`'s verdict: the agent's for the Mesos check, the
    /// leader's probes for the others; `None` before the first result.
    pub fn check_alive(&self, index: usize, check: &HealthCheckDef) -> Option<bool> {
        if check.is_mesos() {
            self.healthy
        } else {
            self.probes
                .get(index)
                .and_then(|p| p.health.as_ref())
                .map(Health::alive)
        }
    }

    /// Healthy in the rolling-step sense: running and passing ALL its
    /// health checks (the agent's and Marathon's).
    pub fn is_healthy(&self, app_checks: &[HealthCheckDef]) -> bool {
        self.state == TaskState::Running
            && self
                .checks(app_checks)
                .iter()
                .enumerate()
                .all(|(i, c)| self.check_alive(i, c) == Some(true))
    }

    /// Failing at least one health check (`tasksUnhealthy`).
    pub fn is_unhealthy(&self, app_checks: &[HealthCheckDef]) -> bool {
        self.checks(app_checks)
            .iter()
            .enumerate()
            .any(|(i, c)| self.check_alive(i, c) == Some(false))
    }

    /// Healthy, and ready if the app has readiness checks: what a
    /// deployment waits for.
    pub fn is_up(&self, app: &AppDefinition) -> bool {
        let healthy = match app.pod.as_deref() {
            Some(pod) => self.is_pod_healthy(pod.has_health_checks()),
            None => self.is_healthy(&app.health_checks),
        };
        healthy && (app.readiness_checks.is_empty() || self.ready)
    }

    /// A pod instance's health in the rolling-step sense: running and, if
    /// any container has a health check (a Mesos check, the agent's
    /// verdict), every checked container reported healthy
    /// ([`crate::pod::aggregate`]). Pods have no Marathon-side probes.
    pub fn is_pod_healthy(&self, has_checks: bool) -> bool {
        self.state == TaskState::Running && (!has_checks || self.healthy == Some(true))
    }
}

/// Marathon's instance condition for a task state (`instance_changed_event`).
pub fn condition(state: TaskState) -> &'static str {
    match state {
        TaskState::Staging => "Staging",
        TaskState::Starting => "Starting",
        TaskState::Running => "Running",
        TaskState::Killing => "Killing",
        TaskState::Finished => "Finished",
        TaskState::Failed => "Failed",
        TaskState::Killed => "Killed",
        TaskState::Error => "Error",
        TaskState::Lost | TaskState::Gone => "Gone",
        TaskState::Dropped => "Dropped",
        TaskState::Unreachable => "Unreachable",
        TaskState::GoneByOperator => "GoneByOperator",
        TaskState::Unknown => "Unknown",
    }
}

/// The app id a task id belongs to.
pub fn app_of_task(task_id: &str) -> Option<String> {
    let (app, _) = task_id.rsplit_once('.')?;
    Some(format!("/{}", app.replace('_', "/")))
}

/// A deployment in progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    /// Its id (a UUID).
    pub id: String,
    /// The version of the change it carries out.
    pub version: String,
    /// The steps, as app ids per step and what happens to each.
    pub steps: Vec<Vec<(String, String)>>,
    /// The step being worked on (0-based).
    pub current_step: usize,
    /// The definitions before, for rollback (`None`: the app did not exist).
    pub original: BTreeMap<String, Option<AppDefinition>>,
    /// Why it is not progressing, when it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<String>,
}

impl Deployment {
    /// A deployment for `plan`.
    pub fn new(
        id: String,
        version: String,
        plan: &Plan,
        original: BTreeMap<String, Option<AppDefinition>>,
    ) -> Self {
        Deployment {
            id,
            version,
            steps: plan
                .steps
                .iter()
                .map(|s| {
                    s.actions
                        .iter()
                        .map(|a| (a.app.clone(), format!("{:?}", a.action)))
                        .collect()
                })
                .collect(),
            current_step: 0,
            original,
            waiting: None,
        }
    }

    /// Every app it touches.
    pub fn affected_apps(&self) -> BTreeSet<String> {
        self.steps
            .iter()
            .flatten()
            .map(|(a, _)| a.clone())
            .collect()
    }

    /// The apps (`pods = false`) or the pods it touches.
    pub fn affected_ids(&self, pods: bool) -> BTreeSet<String> {
        self.steps
            .iter()
            .flatten()
            .filter(|(_, action)| action.ends_with("Pod") == pods)
            .map(|(a, _)| a.clone())
            .collect()
    }

    /// The API shape (`/v2/deployments`).
    pub fn to_json(&self) -> Value {
        let steps: Vec<Value> = self
            .steps
            .iter()
            .map(|s| json!({"actions": s.iter().map(|(id, action)| action_json(id, action, None)).collect::<Vec<_>>()}))
            .collect();
        let current: Vec<Value> = self
            .steps
            .get(self.current_step)
            .map(|s| {
                s.iter()
                    .map(|(id, action)| action_json(id, action, Some(json!([]))))
                    .collect()
            })
            .unwrap_or_default();
        let v = json!({
            "id": self.id,
            "version": self.version,
            "affectedApps": self.affected_ids(false),
            "affectedPods": self.affected_ids(true),
            "steps": steps,
            "currentActions": current,
            "currentStep": (self.current_step + 1).min(self.steps.len().max(1)),
            "totalSteps": self.steps.len(),
        });
        // `waitingFor` is only in `GET /v2/deployments/{id}`: the
        // listing keeps Marathon's exact shape for strict clients.
        v
    }

    /// The `plan` of deployment events.
    pub fn plan_json(&self, target: &BTreeMap<String, AppDefinition>) -> Value {
        let original: Vec<&AppDefinition> = self.original.values().flatten().collect();
        let targets: Vec<&AppDefinition> = self
            .affected_apps()
            .iter()
            .filter_map(|a| target.get(a))
            .collect();
        json!({
            "id": self.id,
            "version": self.version,
            "original": {"id": "/", "apps": original, "groups": [], "dependencies": [], "version": self.version},
            "target": {"id": "/", "apps": targets, "groups": [], "dependencies": [], "version": self.version},
            "steps": self.to_json()["steps"],
        })
    }
}

/// One deployment action: `{"action", "app"}`, or `{"action", "pod"}` for
/// a pod's (`StartPod`, `ScalePod`, `RestartPod`, `StopPod`).
fn action_json(id: &str, action: &str, readiness: Option<Value>) -> Value {
    let key = if action.ends_with("Pod") {
        "pod"
    } else {
        "app"
    };
    let mut v = json!({"action": action, key: id});
    if let Some(r) = readiness {
        v["readinessCheckResults"] = r;
    }
    v
}

/// Backoff of an app's launches.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delay {
    /// Failures in a row.
    pub failures: u32,
    /// No launch before this (Unix seconds).
    pub until: f64,
}

/// The last failed task of an app (`lastTaskFailure`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskFailure {
    /// The app.
    pub app_id: String,
    /// Its host.
    pub host: String,
    /// The Mesos message.
    pub message: String,
    /// `TASK_FAILED`, …
    pub state: String,
    /// The task.
    pub task_id: String,
    /// When.
    pub timestamp: String,
    /// The app version.
    pub version: String,
    /// The agent.
    pub slave_id: String,
}

/// What one app still wants launched, and why it is not happening.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Wanted {
    /// Instances to launch.
    pub count: usize,
    /// When it came to be wanted (Unix seconds).
    pub since: f64,
    /// Why the last offers did not fit, by reason.
    pub unmatched: BTreeMap<String, u64>,
}

/// A kill to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Kill {
    /// The task.
    pub task_id: String,
    /// Its agent.
    pub agent_id: String,
    /// SIGTERM → SIGKILL grace.
    pub grace_seconds: Option<f64>,
}

/// What [`Books::drive`] decided.
#[derive(Debug, Default)]
pub struct Drive {
    /// Kills to send.
    pub kills: Vec<Kill>,
    /// Store writes.
    pub writes: Vec<Write>,
    /// Events.
    pub events: Vec<BusEvent>,
}

/// What [`Books::match_offers`] decided.
#[derive(Debug, Default)]
pub struct Matched {
    /// One ACCEPT per offer that got tasks.
    pub accepts: Vec<(OfferId, Vec<TaskInfo>)>,
    /// Pod instances (one LAUNCH_GROUP each) per offer; an offer here may
    /// be in `accepts` too (one ACCEPT carries both).
    pub groups: Vec<(OfferId, Vec<LaunchGroup>)>,
    /// Offers none of which was used.
    pub declines: Vec<OfferId>,
    /// Store writes (the new instances), to commit before the ACCEPTs.
    pub writes: Vec<Write>,
}

/// Everything Marathon knows.
#[derive(Debug, Default, Clone)]
pub struct Books {
    /// Apps by id (latest version).
    pub apps: BTreeMap<String, AppDefinition>,
    /// Stored versions per app, oldest first.
    pub versions: BTreeMap<String, Vec<String>>,
    /// Explicitly created (possibly empty) groups.
    pub groups: BTreeSet<String>,
    /// Instances by task id (change through [`Books::insert_instance`]
    /// and [`Books::remove_instance`], which keep the per-app index).
    pub instances: BTreeMap<String, Instance>,
    /// Task ids per app.
    by_app: BTreeMap<String, BTreeSet<String>>,
    /// Deployments by id.
    pub deployments: BTreeMap<String, Deployment>,
    /// Backoffs by app id.
    pub delays: BTreeMap<String, Delay>,
    /// Last failures by app id.
    pub failures: BTreeMap<String, TaskFailure>,
    /// The launch queue, as of the last [`Books::drive`].
    pub queue: BTreeMap<String, Wanted>,
    /// Next instance sequence number.
    pub next_seq: u64,
    /// Stored versions per group, oldest first (see [`crate::history`]).
    pub group_versions: BTreeMap<String, Vec<String>>,
    /// Versions a group keeps (`None`: [`history::DEFAULT_MAX_VERSIONS`]).
    pub max_versions: Option<usize>,
}

/// Why a change request is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChangeError {
    /// An app in the change is in a running deployment (409).
    #[error("App is locked by one or more deployments. Override with the option '?force=true'")]
    Locked(Vec<String>),
    /// POST of an existing id (409).
    #[error("An app with id [{0}] already exists.")]
    Exists(String),
    /// Unknown app, group, task or deployment (404).
    #[error("{0}")]
    NotFound(String),
    /// The apps after the change would not be a valid tree (an app where
    /// a group is, cyclic dependencies; 422).
    #[error(transparent)]
    Invalid(crate::app::Invalid),
    /// Nothing to do (a plan without steps).
    #[error("no change")]
    NoChange,
}

/// The outcome of a change: a deployment (maybe empty) and what to write.
#[derive(Debug)]
pub struct Change {
    /// The deployment created (`None` when nothing needs to move).
    pub deployment: Option<Deployment>,
    /// The version of the change.
    pub version: String,
    /// Writes.
    pub writes: Vec<Write>,
    /// Events.
    pub events: Vec<BusEvent>,
}

impl Books {
    /// Instances of an app (any state).
    pub fn instances_of<'a>(&'a self, app_id: &str) -> impl Iterator<Item = &'a Instance> + 'a {
        self.by_app
            .get(app_id)
            .into_iter()
            .flatten()
            .filter_map(|id| self.instances.get(id))
    }

    /// Records an instance.
    pub fn insert_instance(&mut self, inst: Instance) {
        self.by_app
            .entry(inst.app_id.clone())
            .or_default()
            .insert(inst.task_id.clone());
        self.instances.insert(inst.task_id.clone(), inst);
    }

    /// Forgets an instance.
    pub fn remove_instance(&mut self, task_id: &str) -> Option<Instance> {
        let inst = self.instances.remove(task_id)?;
        if let Some(ids) = self.by_app.get_mut(&inst.app_id) {
            ids.remove(task_id);
            if ids.is_empty() {
                self.by_app.remove(&inst.app_id);
            }
        }
        Some(inst)
    }

    /// Deployments touching `app_id`.
    pub fn deployments_of(&self, app_id: &str) -> Vec<&Deployment> {
        self.deployments
            .values()
            .filter(|d| d.affected_apps().contains(app_id))
            .collect()
    }

    /// Plans and records a change of the app set: `target` replaces the
    /// apps it names; `removed` are deleted. Refuses when a touched app is
    /// in a deployment, unless `force` (which cancels those deployments).
    pub fn change(
        &mut self,
        mut target: Vec<AppDefinition>,
        removed: Vec<String>,
        restart: &BTreeSet<String>,
        force: bool,
        deployment_id: String,
        now: f64,
    ) -> Result<Change, ChangeError> {
        let version = iso(now);
        let mut current = self.apps.clone();
        let mut next = self.apps.clone();
        for id in &removed {
            if next.remove(id).is_none() {
                return Err(ChangeError::NotFound(format!("App '{id}' does not exist")));
            }
        }
        for app in &mut target {
            let old = self.apps.get(&app.id);
            let config_change =
                restart.contains(&app.id) || old.is_none_or(|o| o.needs_restart_for(app));
            app.version = Some(version.clone());
            let prev = old.and_then(|o| o.version_info.clone()).unwrap_or_default();
            app.version_info = Some(crate::app::VersionInfo {
                last_config_change_at: if config_change {
                    Some(version.clone())
                } else {
                    prev.last_config_change_at.or(Some(version.clone()))
                },
                last_scaling_at: Some(version.clone()),
            });
            next.insert(app.id.clone(), app.clone());
        }
        if let Some(invalid) =
            crate::app::tree_violations(&next, &self.groups, target.iter().map(|a| a.id.as_str()))
        {
            return Err(ChangeError::Invalid(invalid));
        }
        // A restart request arrives as the same definition with a forced
        // new config version; the plan must see it as a restart.
        let plan = planner::plan(&current, &next);
        let affected = plan.affected_apps();
        let locked: Vec<String> = self
            .deployments
            .values()
            .filter(|d| d.affected_apps().iter().any(|a| affected.contains(a)))
            .map(|d| d.id.clone())
            .collect();
        if !locked.is_empty() && !force {
            return Err(ChangeError::Locked(locked));
        }
        let mut writes = Vec::new();
        let mut events = Vec::new();
        for id in &locked {
            if let Some(d) = self.deployments.remove(id) {
                writes.push(Write::Delete(deployment_key(&d.id)));
                events.push(event(
                    "deployment_failed",
                    now,
                    json!({"id": d.id, "plan": d.plan_json(&self.apps)}),
                ));
            }
        }
        for app in &target {
            writes.push(Write::put(spec_key(app), app));
            writes.push(Write::put(version_key(&app.id, &version), app));
            self.versions
                .entry(app.id.clone())
                .or_default()
                .push(version.clone());
            // A new version resets the backoff.
            if self.delays.remove(&app.id).is_some() {
                writes.push(Write::Delete(delay_key(&app.id)));
            }
            events.push(if app.pod.is_some() {
                let kind = if self.apps.contains_key(&app.id) {
                    "pod_updated_event"
                } else {
                    "pod_created_event"
                };
                event(
                    kind,
                    now,
                    json!({"clientIp": "", "uri": format!("/v2/pods{}", app.id)}),
                )
            } else {
                event(
                    "api_post_event",
                    now,
                    json!({"clientIp": "", "uri": format!("/v2/apps{}", app.id), "appDefinition": app}),
                )
            });
        }
        for id in &removed {
            if current.get(id).is_some_and(|s| s.pod.is_some()) {
                events.push(event(
                    "pod_deleted_event",
                    now,
                    json!({"clientIp": "", "uri": format!("/v2/pods{id}")}),
                ));
            }
            writes.push(Write::Delete(match current.get(id) {
                Some(spec) => spec_key(spec),
                None => app_key(id),
            }));
            writes.push(Write::Delete(delay_key(id)));
            self.delays.remove(id);
        }
        let deployment = if plan.steps.is_empty() {
            None
        } else {
            let original = affected
                .iter()
                .map(|a| (a.clone(), current.remove(a)))
                .collect();
            let mut d = Deployment::new(deployment_id, version.clone(), &plan, original);
            // Pods' actions are Marathon's `…Pod` ones.
            for (id, action) in d.steps.iter_mut().flatten() {
                let is_pod = next
                    .get(id)
                    .or(current.get(id))
                    .is_some_and(|s| s.pod.is_some())
                    || d.original
                        .get(id)
                        .is_some_and(|o| o.as_ref().is_some_and(|s| s.pod.is_some()));
                if is_pod {
                    *action = action.replace("Application", "Pod");
                }
            }
            writes.push(Write::put(deployment_key(&d.id), &d));
            events.push(event("deployment_info", now, json!({"plan": d.plan_json(&next), "currentStep": d.to_json()["currentActions"].clone()})));
            self.deployments.insert(d.id.clone(), d.clone());
            Some(d)
        };
        self.apps = next;
        // Every enclosing group gets this version, in the same commit.
        let touched = target
            .iter()
            .map(|a| a.id.as_str())
            .chain(removed.iter().map(String::as_str));
        let max = self.max_versions.unwrap_or(history::DEFAULT_MAX_VERSIONS);
        writes.extend(history::record(
            &mut self.group_versions,
            &self.apps,
            touched.clone(),
            &version,
            max,
        ));
        writes.extend(history::prune_app_versions(
            &mut self.versions,
            &self.group_versions,
            touched,
            max,
        ));
        Ok(Change {
            deployment,
            version,
            writes,
            events,
        })
    }

    /// Applies a status update; returns writes, events and, for a task we
    /// do not know, a kill.
    pub fn apply_update(
        &mut self,
        status: &TaskStatus,
        now: f64,
    ) -> (Vec<Write>, Vec<BusEvent>, Option<Kill>) {
        if !self.instances.contains_key(&status.task_id.value) {
            if let Some(agg) = self.pod_update(status, now) {
                let id = agg.task_id.value.clone();
                let (mut writes, events, kill) = self.apply_update(&agg, now);
                // A container changed even when the instance did not.
                if let Some(inst) = self.instances.get(&id) {
                    writes.push(Write::put(instance_key(&id), inst));
                }
                return (writes, events, kill);
            }
        }
        let task_id = status.task_id.value.clone();
        let mut writes = Vec::new();
        let mut events = Vec::new();
        let Some(inst) = self.instances.get_mut(&task_id) else {
            let kill = (!status.state.is_terminal()).then(|| Kill {
                task_id: task_id.clone(),
                agent_id: status
                    .agent_id
                    .as_ref()
                    .map(|a| a.value.clone())
                    .unwrap_or_default(),
                grace_seconds: None,
            });
            if !status.state.is_terminal() {
                events.push(event(
                    "unknown_instance_terminated_event",
                    now,
                    json!({"instanceId": task_id}),
                ));
            }
            return (writes, events, kill);
        };
        let old_state = inst.state;
        let old_health = inst.healthy;
        inst.state = status.state;
        if let Some(h) = status.healthy {
            inst.healthy = Some(h);
            // The agent's verdicts as a result record too (when, why),
            // kept in memory like the probes'.
            let app_checks = self
                .apps
                .get(&inst.app_id)
                .map(|a| a.health_checks.as_slice())
                .unwrap_or_default();
            let checks = inst.health_checks.as_deref().unwrap_or(app_checks);
            if let Some(m) = checks.iter().position(HealthCheckDef::is_mesos) {
                inst.probes.resize_with(checks.len(), ProbeSlot::default);
                let health = inst.probes[m].health.get_or_insert_with(Health::default);
                let cause = status
                    .message
                    .clone()
                    .unwrap_or_else(|| "Mesos health check failed".to_owned());
                health.observe(h, now, cause);
            }
        } else if !inst.containers.is_empty() {
            // A pod instance's health is its containers' (maybe unknown).
            inst.healthy = None;
        }
        if status.state == TaskState::Running && inst.started_at.is_none() {
            inst.started_at = Some(now);
        }
        if status.state == TaskState::Unreachable {
            // The master's time if it says (a reconciliation answer
            // repeats it), else now; the first one counts.
            let since = status
                .unreachable_time
                .map(|t| t.nanoseconds as f64 / 1e9)
                .unwrap_or(now);
            inst.unreachable_since.get_or_insert(since);
        } else {
            // Back (TASK_RUNNING after its agent re-registered): it counts
            // again; a replacement launched meanwhile is now a surplus.
            inst.unreachable_since = None;
            inst.unreachable_inactive = false;
        }
        let inst = inst.clone();
        if old_state != status.state {
            events.push(event(
                "status_update_event",
                now,
                json!({
                    "slaveId": inst.agent_id, "taskId": inst.task_id, "taskStatus": status.state.as_str(),
                    "message": status.message.clone().unwrap_or_default(), "appId": inst.app_id,
                    "host": inst.placement.hostname, "ports": inst.ports, "version": inst.version,
                    "ipAddresses": [{"ipAddress": "127.0.0.1", "protocol": "IPv4"}],
                }),
            ));
            events.push(event(
                "instance_changed_event",
                now,
                json!({"instanceId": inst.task_id, "condition": condition(status.state), "runSpecId": inst.app_id,
                       "agentId": inst.agent_id, "host": inst.placement.hostname, "runSpecVersion": inst.version}),
            ));
        }
        if old_health != inst.healthy {
            if let Some(alive) = inst.healthy {
                events.push(event(
                    "health_status_changed_event",
                    now,
                    json!({"appId": inst.app_id, "taskId": inst.task_id, "instanceId": inst.task_id, "version": inst.version, "alive": alive}),
                ));
            }
        }
        // TASK_UNKNOWN: the master has never heard of it (an answer to
        // reconciliation): gone, as a terminal state.
        if status.state.is_terminal() || status.state == TaskState::Unknown {
            self.remove_instance(&task_id);
            writes.push(Write::Delete(instance_key(&task_id)));
            let failed = matches!(
                status.state,
                TaskState::Failed | TaskState::Finished | TaskState::Error
            );
            if failed && inst.killing_since.is_none() {
                if let Some(app) = self.apps.get(&inst.app_id) {
                    let failures = self
                        .delays
                        .get(&inst.app_id)
                        .map(|d| d.failures)
                        .unwrap_or(0)
                        + 1;
                    let delay = Delay {
                        failures,
                        until: now + planner::backoff_delay(app, failures).as_secs_f64(),
                    };
                    self.delays.insert(inst.app_id.clone(), delay);
                    writes.push(Write::put(delay_key(&inst.app_id), &delay));
                }
            }
            if status.state != TaskState::Killed || inst.killing_since.is_none() {
                self.failures.insert(
                    inst.app_id.clone(),
                    TaskFailure {
                        app_id: inst.app_id.clone(),
                        host: inst.placement.hostname.clone(),
                        message: status.message.clone().unwrap_or_default(),
                        state: status.state.as_str().to_owned(),
                        task_id: task_id.clone(),
                        timestamp: iso(now),
                        version: inst.version.clone(),
                        slave_id: inst.agent_id.clone(),
                    },
                );
            }
        } else if old_state != status.state || old_health != inst.healthy {
            writes.push(Write::put(instance_key(&task_id), &inst));
        }
        (writes, events, None)
    }

    /// Marks instances as being killed (by the API); returns the kills.
    /// An unreachable instance cannot confirm its death: it is expunged
    /// at once (as Marathon does), and the kill is sent in case it comes
    /// back.
    pub fn kill_instances(&mut self, task_ids: &[String], now: f64) -> (Vec<Kill>, Vec<Write>) {
        let mut kills = Vec::new();
        let mut writes = Vec::new();
        for id in task_ids {
            if self
                .instances
                .get(id)
                .is_some_and(|i| i.state == TaskState::Unreachable)
            {
                let (kill, write) = self.expunge(id);
                kills.extend(kill);
                writes.extend(write);
                continue;
            }
            if let Some(inst) = self.instances.get_mut(id) {
                inst.killing_since = Some(now);
                let grace = self
                    .apps
                    .get(&inst.app_id)
                    .and_then(|a| a.task_kill_grace_period_seconds);
                kills.extend(Self::task_ids(inst).into_iter().map(|task_id| Kill {
                    task_id,
                    agent_id: inst.agent_id.clone(),
                    grace_seconds: grace,
                }));
                writes.push(Write::put(instance_key(id), &*inst));
            }
        }
        (kills, writes)
    }

    /// The Mesos tasks of an instance: its own, or its containers' that
    /// are not over yet.
    pub fn task_ids(inst: &Instance) -> Vec<String> {
        if inst.containers.is_empty() {
            return vec![inst.task_id.clone()];
        }
        inst.containers
            .iter()
            .filter(|c| !c.state.is_terminal())
            .map(|c| crate::pod::task_id(&inst.task_id, &c.name))
            .collect()
    }

    /// A status update of a pod container, folded into its instance: the
    /// container's state is recorded and the update is restated for the
    /// instance with the state and health of all its containers
    /// ([`crate::pod::aggregate`]). `None`: not a task of a pod instance.
    fn pod_update(&mut self, status: &TaskStatus, now: f64) -> Option<TaskStatus> {
        let (inst_id, name) = crate::pod::split_task_id(&status.task_id.value)?;
        let inst = self.instances.get_mut(inst_id)?;
        let pod = self.apps.get(&inst.app_id).and_then(|a| a.pod.as_deref());
        let checked: Vec<&str> = pod
            .map(|p| {
                p.containers
                    .iter()
                    .filter(|c| c.health_check.is_some())
                    .map(|c| c.name.as_str())
                    .collect()
            })
            .unwrap_or_default();
        let c = inst.containers.iter_mut().find(|c| c.name == name)?;
        if c.state != status.state {
            c.since = now;
        }
        c.state = status.state;
        if status.healthy.is_some() {
            c.healthy = status.healthy;
        }
        if status.message.is_some() {
            c.message = status.message.clone();
        }
        let (state, healthy) = crate::pod::aggregate(&inst.containers, &checked);
        let mut agg = status.clone();
        agg.task_id = TaskId::new(inst_id.to_owned());
        agg.state = state;
        agg.healthy = healthy;
        Some(agg)
    }

    /// Forgets an (unreachable) instance: removed from the books and the
    /// store; a kill of each of its tasks (a pod instance's containers)
    /// in case it comes back.
    fn expunge(&mut self, task_id: &str) -> (Vec<Kill>, Option<Write>) {
        match self.remove_instance(task_id) {
            Some(inst) => (
                Self::task_ids(&inst)
                    .into_iter()
                    .map(|task_id| Kill {
                        task_id,
                        agent_id: inst.agent_id.clone(),
                        grace_seconds: None,
                    })
                    .collect(),
                Some(Write::Delete(instance_key(task_id))),
            ),
            None => (Vec::new(), None),
        }
    }

    /// `unreachableStrategy` at `now`: unreachable instances become
    /// inactive after `inactiveAfterSeconds` (a replacement is launched)
    /// and are expunged after `expungeAfterSeconds`; never when disabled.
    fn age_unreachable(&mut self, now: f64, out: &mut Drive) {
        let mut expunge = Vec::new();
        for inst in self.instances.values_mut() {
            let (TaskState::Unreachable, Some(since)) = (inst.state, inst.unreachable_since) else {
                continue;
            };
            let (inactive_after, expunge_after) =
                match self.apps.get(&inst.app_id).map(AppDefinition::unreachable) {
                    Some(Unreachable::Enabled {
                        inactive_after,
                        expunge_after,
                    }) => (inactive_after, expunge_after),
                    Some(Unreachable::Disabled) => continue,
                    // Its app is gone: nothing waits for it any more.
                    None => (0.0, 0.0),
                };
            if now >= since + expunge_after {
                expunge.push(inst.task_id.clone());
            } else if !inst.unreachable_inactive && now >= since + inactive_after {
                inst.unreachable_inactive = true;
                out.writes
                    .push(Write::put(instance_key(&inst.task_id), &*inst));
                out.events.push(event(
                    "instance_changed_event",
                    now,
                    json!({"instanceId": inst.task_id, "condition": "UnreachableInactive", "runSpecId": inst.app_id,
                           "agentId": inst.agent_id, "host": inst.placement.hostname, "runSpecVersion": inst.version}),
                ));
            }
        }
        for id in expunge {
            let (kill, write) = self.expunge(&id);
            out.kills.extend(kill);
            out.writes.extend(write);
        }
    }

    /// The app ids a deployment lets act right now: those in steps up to
    /// the current one. Apps in no deployment always act.
    fn gated(&self) -> BTreeSet<String> {
        let mut gated = BTreeSet::new();
        for d in self.deployments.values() {
            for (i, step) in d.steps.iter().enumerate() {
                if i > d.current_step {
                    gated.extend(step.iter().map(|(a, _)| a.clone()));
                }
            }
        }
        gated
    }

    /// Whether an app has converged on its definition (or is gone).
    pub fn converged(&self, app_id: &str) -> bool {
        let insts: Vec<&Instance> = self.instances_of(app_id).filter(|i| i.is_alive()).collect();
        let Some(app) = self.apps.get(app_id) else {
            return insts.is_empty();
        };
        let cv = config_version(app);
        insts.len() == app.instance_count()
            && insts
                .iter()
                .all(|i| i.config_version == cv && i.killing_since.is_none() && i.is_up(app))
    }

    /// One round of supervision: for every app its rolling step (kills
    /// and the launch queue), deployments advanced, kills re-sent for
    /// instances that did not die, unknown apps' instances killed.
    pub fn drive(&mut self, now: f64) -> Drive {
        let mut out = Drive::default();
        self.age_unreachable(now, &mut out);
        let gated = self.gated();
        let mut queue = BTreeMap::new();
        let mut to_kill = Vec::new();
        let app_ids: BTreeSet<String> = self
            .apps
            .keys()
            .cloned()
            .chain(self.by_app.keys().cloned())
            .collect();
        for app_id in app_ids {
            if gated.contains(&app_id) {
                continue;
            }
            let insts: Vec<&Instance> = self
                .instances_of(&app_id)
                .filter(|i| i.is_alive())
                .collect();
            let Some(app) = self.apps.get(&app_id) else {
                to_kill.extend(
                    insts
                        .iter()
                        .filter(|i| i.killing_since.is_none())
                        .map(|i| i.task_id.clone()),
                );
                continue;
            };
            let cv = config_version(app);
            let views: Vec<InstanceView> = insts
                .iter()
                .map(|i| InstanceView {
                    id: i.task_id.clone(),
                    current: i.config_version == cv,
                    healthy: i.is_up(app),
                    killing: i.killing_since.is_some(),
                    seq: i.seq,
                })
                .collect();
            let n = app.instance_count();
            let us = app.upgrade_strategy;
            let bounds = Bounds::of(n, us.minimum_health_capacity, us.maximum_over_capacity);
            let step =
                planner::rolling_step(n, bounds, app.kill_selection == "OLDEST_FIRST", &views);
            to_kill.extend(step.kill);
            if step.launch > 0 {
                let prev = self.queue.get(&app_id);
                queue.insert(
                    app_id.clone(),
                    Wanted {
                        count: step.launch,
                        since: prev.map(|w| w.since).unwrap_or(now),
                        unmatched: prev.map(|w| w.unmatched.clone()).unwrap_or_default(),
                    },
                );
            }
        }
        self.queue = queue;
        let (kills, writes) = self.kill_instances(&to_kill, now);
        out.kills.extend(kills);
        out.writes.extend(writes);
        // Re-send kills that got no terminal update within 10 s.
        for inst in self.instances.values_mut() {
            if let Some(since) = inst.killing_since {
                if now - since > 10.0 {
                    inst.killing_since = Some(now);
                    out.kills
                        .extend(Self::task_ids(inst).into_iter().map(|task_id| Kill {
                            task_id,
                            agent_id: inst.agent_id.clone(),
                            grace_seconds: None,
                        }));
                }
            }
        }
        // Advance deployments.
        let ids: Vec<String> = self.deployments.keys().cloned().collect();
        for id in ids {
            loop {
                let d = &self.deployments[&id];
                let Some(step) = d.steps.get(d.current_step) else {
                    let d = self.deployments.remove(&id).expect("present");
                    out.writes.push(Write::Delete(deployment_key(&id)));
                    out.events.push(event(
                        "deployment_success",
                        now,
                        json!({"id": id, "plan": d.plan_json(&self.apps)}),
                    ));
                    break;
                };
                let done = step.iter().all(|(app, _)| self.converged(app));
                let waiting = if done {
                    None
                } else {
                    self.why_waiting(step, now)
                };
                let d = self.deployments.get_mut(&id).expect("present");
                if !done {
                    if d.waiting != waiting {
                        d.waiting = waiting;
                        out.writes.push(Write::put(deployment_key(&id), &*d));
                    }
                    break;
                }
                d.current_step += 1;
                d.waiting = None;
                out.writes.push(Write::put(deployment_key(&id), &*d));
                let plan = d.plan_json(&self.apps);
                out.events.push(event(
                    "deployment_step_success",
                    now,
                    json!({"plan": plan, "currentStep": d.current_step}),
                ));
            }
        }
        out
    }

    /// Why the apps of a step have not converged, in words.
    fn why_waiting(&self, step: &[(String, String)], now: f64) -> Option<String> {
        let mut reasons = Vec::new();
        for (app_id, _) in step {
            if let Some(d) = self.delays.get(app_id).filter(|d| d.until > now) {
                reasons.push(format!(
                    "{app_id}: launch backed off for {:.1} s after {} failures",
                    d.until - now,
                    d.failures
                ));
            }
            if let Some(w) = self.queue.get(app_id) {
                if let Some((why, n)) = w.unmatched.iter().max_by_key(|(_, n)| **n) {
                    reasons.push(format!(
                        "{app_id}: {} to launch; offers declined: {why} ({n}×)",
                        w.count
                    ));
                } else {
                    reasons.push(format!(
                        "{app_id}: {} to launch; waiting for offers",
                        w.count
                    ));
                }
            }
            let Some(app) = self.apps.get(app_id) else {
                continue;
            };
            let unreachable = self
                .instances_of(app_id)
                .filter(|i| i.state == TaskState::Unreachable && !i.unreachable_inactive)
                .count();
            if unreachable > 0 {
                reasons.push(format!(
                    "{app_id}: {unreachable} instances unreachable (replaced once inactive, see unreachableStrategy)"
                ));
            }
            let pod_checks = app.pod.as_ref().is_some_and(|p| p.has_health_checks());
            if !app.health_checks.is_empty() || pod_checks {
                let unhealthy = self
                    .instances_of(app_id)
                    .filter(|i| {
                        i.state == TaskState::Running
                            && !(if pod_checks {
                                i.is_pod_healthy(true)
                            } else {
                                i.is_healthy(&app.health_checks)
                            })
                    })
                    .count();
                if unhealthy > 0 {
                    reasons.push(format!(
                        "{app_id}: {unhealthy} instances running but not healthy yet"
                    ));
                }
            }
        }
        (!reasons.is_empty()).then(|| reasons.join("; "))
    }

    /// Readiness probes due: `(task id, url, timeout, ready codes)` for
    /// running, healthy, not-yet-ready instances of the current version of
    /// apps with readiness checks.
    pub fn readiness_probes(&self) -> Vec<(String, String, f64, Vec<u16>)> {
        let mut out = Vec::new();
        for app in self
            .apps
            .values()
            .filter(|a| !a.readiness_checks.is_empty())
        {
            let check = &app.readiness_checks[0];
            let port_name = check
                .get("portName")
                .and_then(Value::as_str)
                .unwrap_or("http-api");
            let index = app
                .port_defs()
                .iter()
                .position(|p| p.name.as_deref() == Some(port_name))
                .unwrap_or(0);
            let path = check.get("path").and_then(Value::as_str).unwrap_or("/");
            let scheme = if check.get("protocol").and_then(Value::as_str) == Some("HTTPS") {
                "https"
            } else {
                "http"
            };
            let timeout = check
                .get("timeoutSeconds")
                .and_then(Value::as_f64)
                .unwrap_or(10.0);
            let codes: Vec<u16> = check
                .get("httpStatusCodesForReady")
                .and_then(Value::as_array)
                .map(|c| {
                    c.iter()
                        .filter_map(|v| v.as_u64())
                        .map(|v| v as u16)
                        .collect()
                })
                .unwrap_or_else(|| vec![200]);
            let cv = config_version(app);
            for i in self.instances_of(&app.id) {
                if i.ready || i.config_version != cv || !i.is_healthy(&app.health_checks) {
                    continue;
                }
                if let Some(port) = i.ports.get(index) {
                    out.push((
                        i.task_id.clone(),
                        format!("{scheme}://{}:{port}{path}", i.placement.hostname),
                        timeout,
                        codes.clone(),
                    ));
                }
            }
        }
        out
    }

    /// Whether anything waits for offers right now (not backed off).
    pub fn wants_offers(&self, now: f64) -> bool {
        self.queue
            .keys()
            .any(|app| self.delays.get(app).is_none_or(|d| d.until <= now))
    }

    /// Places queued launches on `offers`; builds the TaskInfos and the
    /// new instances (recorded in the books at once).
    pub fn match_offers(&mut self, offers: &[Offer], framework_role: &str, now: f64) -> Matched {
        let mut out = Matched::default();
        let ready: Vec<String> = self
            .queue
            .iter()
            .filter(|(app, w)| w.count > 0 && self.delays.get(*app).is_none_or(|d| d.until <= now))
            .map(|(a, _)| a.clone())
            .collect();
        let _ = framework_role;
        for offer in offers {
            let agent = Placement::of_offer(offer);
            let mut left = offer.resources.clone();
            let mut tasks = Vec::new();
            let mut groups = Vec::new();
            for app_id in &ready {
                let Some(app) = self.apps.get(app_id).cloned() else {
                    continue;
                };
                loop {
                    let want = self.queue.get(app_id).map(|w| w.count).unwrap_or(0);
                    if want == 0 {
                        break;
                    }
                    // Only constraints look at where the others run.
                    let others: Vec<Placement> = if app.constraints.is_empty() {
                        Vec::new()
                    } else {
                        self.instances_of(app_id)
                            .filter(|i| i.is_alive())
                            .map(|i| i.placement.clone())
                            .collect()
                    };
                    let refs: Vec<&Placement> = others.iter().collect();
                    if let Some(pod) = app.pod.as_deref() {
                        match crate::pod::claim(&app, pod, &agent, &refs, &mut left) {
                            Ok(claim) => {
                                let mut inst = self.new_instance(
                                    &app,
                                    offer,
                                    &agent,
                                    claim.ports.clone(),
                                    now,
                                );
                                inst.task_id = crate::pod::new_instance_id(&app.id);
                                inst.containers = pod
                                    .containers
                                    .iter()
                                    .map(|c| crate::pod::ContainerState {
                                        name: c.name.clone(),
                                        state: TaskState::Staging,
                                        healthy: None,
                                        since: now,
                                        message: None,
                                    })
                                    .collect();
                                groups.push(crate::pod::launch_group(&app, pod, &inst, claim));
                                out.writes
                                    .push(Write::put(instance_key(&inst.task_id), &inst));
                                self.insert_instance(inst);
                                if let Some(w) = self.queue.get_mut(app_id) {
                                    w.count -= 1;
                                }
                            }
                            Err(why) => {
                                if let Some(w) = self.queue.get_mut(app_id) {
                                    *w.unmatched.entry(why.to_string()).or_default() += 1;
                                }
                                break;
                            }
                        }
                        continue;
                    }
                    match matcher::claim(&app, &agent, &refs, &mut left) {
                        Ok(claim) => {
                            let inst =
                                self.new_instance(&app, offer, &agent, claim.ports.clone(), now);
                            tasks.push(task_info(&app, &inst, claim.resources));
                            out.writes
                                .push(Write::put(instance_key(&inst.task_id), &inst));
                            self.insert_instance(inst);
                            if let Some(w) = self.queue.get_mut(app_id) {
                                w.count -= 1;
                            }
                        }
                        Err(why) => {
                            let key = match &why {
                                NoMatch::Constraint(_) => why.to_string(),
                                _ => why.to_string(),
                            };
                            if let Some(w) = self.queue.get_mut(app_id) {
                                *w.unmatched.entry(key).or_default() += 1;
                            }
                            break;
                        }
                    }
                }
            }
            if tasks.is_empty() && groups.is_empty() {
                out.declines.push(offer.id.clone());
            }
            if !tasks.is_empty() {
                out.accepts.push((offer.id.clone(), tasks));
            }
            if !groups.is_empty() {
                out.groups.push((offer.id.clone(), groups));
            }
        }
        self.queue.retain(|_, w| w.count > 0);
        out
    }

    fn new_instance(
        &mut self,
        app: &AppDefinition,
        offer: &Offer,
        agent: &Placement,
        ports: Vec<u32>,
        now: f64,
    ) -> Instance {
        let seq = self.next_seq;
        self.next_seq += 1;
        let task_id = format!(
            "{}.{}",
            app.id.trim_start_matches('/').replace('/', "_"),
            uuid::Uuid::new_v4()
        );
        Instance {
            task_id,
            app_id: app.id.clone(),
            version: app.version.clone().unwrap_or_default(),
            config_version: config_version(app),
            agent_id: offer.agent_id.value.clone(),
            placement: agent.clone(),
            ports,
            state: TaskState::Staging,
            healthy: None,
            staged_at: now,
            started_at: None,
            seq,
            killing_since: None,
            ready: false,
            containers: Vec::new(),
            health_checks: Some(app.health_checks.clone()),
            unreachable_since: None,
            unreachable_inactive: false,
            probes: Vec::new(),
        }
    }

    /// Marathon-side health probes due at `now` (marked in flight): for
    /// every running instance not being killed, each HTTP/HTTPS/TCP check
    /// of its version whose `intervalSeconds` has passed since the last
    /// probe and which has no probe running.
    pub fn due_probes(&mut self, now: f64) -> Vec<Probe> {
        let mut out = Vec::new();
        for inst in self.instances.values_mut() {
            if inst.state != TaskState::Running || inst.killing_since.is_some() {
                continue;
            }
            let app_checks = self
                .apps
                .get(&inst.app_id)
                .map(|a| a.health_checks.as_slice())
                .unwrap_or_default();
            // Borrowed, not cloned: this runs for every instance every tick.
            let Instance {
                health_checks,
                probes,
                placement,
                ports,
                task_id,
                ..
            } = inst;
            let checks = health_checks.as_deref().unwrap_or(app_checks);
            if checks.iter().all(HealthCheckDef::is_mesos) {
                continue;
            }
            probes.resize_with(checks.len(), ProbeSlot::default);
            for (index, check) in checks.iter().enumerate() {
                let slot = &mut probes[index];
                if slot.in_flight || slot.next_at > now {
                    continue;
                }
                let Some(target) = health::target(check, &placement.hostname, ports) else {
                    continue;
                };
                slot.in_flight = true;
                slot.next_at = now + check.interval_seconds.max(0.1);
                out.push(Probe {
                    task_id: task_id.clone(),
                    index,
                    target,
                    timeout: std::time::Duration::from_secs_f64(
                        check.timeout_seconds.clamp(0.1, 3600.0),
                    ),
                });
            }
        }
        out
    }

    /// Folds a probe's outcome into the instance's result (see
    /// [`Health::record`]); returns the events (`failed_health_check_event`,
    /// `health_status_changed_event`, `unhealthy_instance_kill_event`),
    /// and the kill with its writes when the instance failed too often.
    pub fn apply_probe(
        &mut self,
        task_id: &str,
        index: usize,
        outcome: Outcome,
        now: f64,
    ) -> (Vec<Write>, Vec<BusEvent>, Vec<Kill>) {
        let mut events = Vec::new();
        let Some(inst) = self.instances.get_mut(task_id) else {
            return (Vec::new(), events, Vec::new());
        };
        let app_checks = self
            .apps
            .get(&inst.app_id)
            .map(|a| a.health_checks.as_slice())
            .unwrap_or_default();
        let Some(check) = inst.checks(app_checks).get(index).cloned() else {
            return (Vec::new(), events, Vec::new());
        };
        let Some(slot) = inst.probes.get_mut(index) else {
            return (Vec::new(), events, Vec::new());
        };
        slot.in_flight = false;
        if inst.state != TaskState::Running || inst.killing_since.is_some() {
            return (Vec::new(), events, Vec::new());
        }
        let running_since = inst.started_at.unwrap_or(inst.staged_at);
        let health = slot.health.get_or_insert_with(Health::default);
        let verdict = health.record(outcome, now, running_since, &check);
        let cause = health.last_failure_cause.clone().unwrap_or_default();
        if verdict.failed {
            events.push(event(
                "failed_health_check_event",
                now,
                json!({"appId": inst.app_id, "taskId": inst.task_id, "instanceId": inst.task_id,
                       "version": inst.version, "healthCheck": check}),
            ));
        }
        if let Some(alive) = verdict.changed {
            events.push(event(
                "health_status_changed_event",
                now,
                json!({"appId": inst.app_id, "taskId": inst.task_id, "instanceId": inst.task_id,
                       "version": inst.version, "alive": alive}),
            ));
        }
        if !verdict.kill {
            return (Vec::new(), events, Vec::new());
        }
        events.push(event(
            "unhealthy_instance_kill_event",
            now,
            json!({"appId": inst.app_id, "taskId": inst.task_id, "instanceId": inst.task_id,
                   "version": inst.version, "reason": cause, "host": inst.placement.hostname,
                   "slaveId": inst.agent_id}),
        ));
        // The kill is the failure users look for (Marathon #3423).
        self.failures.insert(
            inst.app_id.clone(),
            TaskFailure {
                app_id: inst.app_id.clone(),
                host: inst.placement.hostname.clone(),
                message: format!("Failed health check: {cause}"),
                state: TaskState::Killed.as_str().to_owned(),
                task_id: inst.task_id.clone(),
                timestamp: iso(now),
                version: inst.version.clone(),
                slave_id: inst.agent_id.clone(),
            },
        );
        let (kills, writes) = self.kill_instances(&[task_id.to_owned()], now);
        (writes, events, kills)
    }
}

/// The config version instances must run (`versionInfo.lastConfigChangeAt`).
pub fn config_version(app: &AppDefinition) -> String {
    app.version_info
        .as_ref()
        .and_then(|v| v.last_config_change_at.clone())
        .or_else(|| app.version.clone())
        .unwrap_or_default()
}

/// The Mesos task for an instance: command or argv, environment with
/// Marathon's variables (`PORT0`, `PORTS`, `MARATHON_APP_ID`, …), fetch
/// URIs, the app's Mesos health check (MESOS_* or COMMAND; HTTP, HTTPS and
/// TCP are probed by the leader instead) as the task's, and the kill grace
/// period.
pub fn task_info(
    app: &AppDefinition,
    inst: &Instance,
    resources: Vec<dcos_api::v1::Resource>,
) -> TaskInfo {
    let container = app.container.as_ref().and_then(container_info);
    let mut command = match (&app.cmd, &app.args) {
        (Some(cmd), _) => CommandInfo::shell(cmd.clone()),
        // With an image, `args` are the arguments of its entrypoint.
        (None, Some(args)) if container.is_some() => CommandInfo {
            shell: Some(false),
            arguments: args.clone(),
            ..CommandInfo::default()
        },
        (None, Some(args)) => CommandInfo {
            shell: Some(false),
            value: args.first().cloned(),
            arguments: args.clone(),
            ..CommandInfo::default()
        },
        (None, None) => CommandInfo {
            shell: Some(false),
            ..CommandInfo::default()
        },
    };
    let mut env: Vec<(String, String)> = app
        .env
        .iter()
        .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
        .collect();
    for (i, p) in inst.ports.iter().enumerate() {
        env.push((format!("PORT{i}"), p.to_string()));
        if let Some(def) = app.port_defs().get(i) {
            if def.port != 0 {
                env.push((format!("PORT_{}", def.port), p.to_string()));
            }
        }
    }
    if let Some(p) = inst.ports.first() {
        env.push(("PORT".into(), p.to_string()));
    }
    env.push((
        "PORTS".into(),
        inst.ports
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(","),
    ));
    env.push(("HOST".into(), inst.placement.hostname.clone()));
    env.push(("MARATHON_APP_ID".into(), app.id.clone()));
    env.push(("MARATHON_APP_VERSION".into(), inst.version.clone()));
    env.push(("MESOS_TASK_ID".into(), inst.task_id.clone()));
    command.environment = Some(Environment::from_pairs(env));
    command.uris = app
        .fetch
        .iter()
        .map(|f| Uri {
            value: f.uri.clone(),
            executable: Some(f.executable),
            extract: Some(f.extract),
            cache: Some(f.cache),
            output_file: f.dest_path.clone(),
        })
        .collect();
    command.user = app.user.clone();
    let mut task = TaskInfo::command(
        app.id.clone(),
        TaskId::new(inst.task_id.clone()),
        AgentId::new(inst.agent_id.clone()),
        command,
    );
    task.resources = resources;
    task.container = container;
    task.health_check = app
        .health_checks
        .iter()
        .find(|hc| hc.is_mesos())
        .and_then(|hc| mesos_health_check(hc, &inst.ports));
    task.kill_policy = app.task_kill_grace_period_seconds.map(|g| KillPolicy {
        grace_period: Some(DurationInfo::from_duration(
            std::time::Duration::from_secs_f64(g.max(0.0)),
        )),
    });
    task.labels = Some(
        app.labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    );
    task
}

/// An app's `container` as the task's Mesos `ContainerInfo`, when it names
/// an image: `{"type": "DOCKER", "docker": {"image": …, "network": …,
/// "forcePullImage": …}}` becomes a DOCKER container, `{"type": "MESOS",
/// "docker": {"image": …}}` (Marathon's UCR spelling) or `"mesos":
/// {"image": …}` a MESOS container with a Docker image; `volumes`
/// (`containerPath`, `hostPath`, `mode`) carry over. A container without
/// an image (a MESOS container for volumes only) carries its volumes.
pub fn container_info(c: &Value) -> Option<dcos_api::v1::ContainerInfo> {
    use dcos_api::v1::{ContainerInfo, DockerNetwork, Image, MesosInfo, Volume, VolumeMode};
    let kind = c.get("type").and_then(Value::as_str).unwrap_or("DOCKER");
    let docker = c.get("docker");
    let image = docker
        .and_then(|d| d.get("image"))
        .or_else(|| c.get("mesos").and_then(|m| m.get("image")))
        .and_then(|i| {
            i.as_str().map(str::to_owned).or_else(|| {
                // Mesos' own shape: {"type": "DOCKER", "docker": {"name": …}}
                i.get("docker")
                    .and_then(|d| d.get("name"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
        });
    let force_pull = docker
        .and_then(|d| d.get("forcePullImage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut info = match (kind, image) {
        ("DOCKER", Some(image)) => {
            let mut info = ContainerInfo::docker(image);
            if let Some(d) = info.docker.as_mut() {
                d.force_pull_image = Some(force_pull);
                d.network = match docker
                    .and_then(|d| d.get("network"))
                    .and_then(Value::as_str)
                {
                    Some("NONE") => Some(DockerNetwork::None),
                    Some("BRIDGE") => Some(DockerNetwork::Bridge),
                    Some("USER") => Some(DockerNetwork::User),
                    _ => Some(DockerNetwork::Host),
                };
            }
            info
        }
        ("MESOS", image) => {
            let mut info = ContainerInfo::mesos();
            info.mesos = image.map(|name| MesosInfo {
                image: Some(Image {
                    cached: Some(!force_pull),
                    ..Image::docker(name)
                }),
            });
            info
        }
        _ => return None,
    };
    info.volumes = c
        .get("volumes")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter_map(|v| {
                    Some(Volume {
                        mode: if v.get("mode").and_then(Value::as_str) == Some("RO") {
                            VolumeMode::Ro
                        } else {
                            VolumeMode::Rw
                        },
                        container_path: v.get("containerPath")?.as_str()?.to_owned(),
                        host_path: v.get("hostPath").and_then(Value::as_str).map(str::to_owned),
                        image: None,
                        source: None,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Some(info)
}

/// A MESOS_HTTP/MESOS_HTTPS/MESOS_TCP/COMMAND health check as the
/// agent's Mesos health check (`delaySeconds` before the first check, the
/// grace period and failure count carry over, as in Marathon). Given a legacy HTTP/HTTPS/TCP check it builds the same check;
/// [`task_info`] does not: those are probed by the leader.
pub fn mesos_health_check(hc: &crate::app::HealthCheckDef, ports: &[u32]) -> Option<HealthCheck> {
    let port = hc.effective_port(ports);
    let mut check = HealthCheck {
        delay_seconds: Some(hc.delay_seconds),
        interval_seconds: Some(hc.interval_seconds),
        timeout_seconds: Some(hc.timeout_seconds),
        consecutive_failures: Some(if hc.max_consecutive_failures == 0 {
            u32::MAX
        } else {
            hc.max_consecutive_failures
        }),
        grace_period_seconds: Some(hc.grace_period_seconds),
        ..HealthCheck::default()
    };
    match hc.protocol.as_str() {
        "HTTP" | "HTTPS" | "MESOS_HTTP" | "MESOS_HTTPS" => {
            check.kind = Some(CheckType::Http);
            check.http = Some(HttpCheckInfo {
                scheme: Some(
                    if hc.protocol.ends_with('S') {
                        "https"
                    } else {
                        "http"
                    }
                    .to_owned(),
                ),
                port: port?,
                path: Some(hc.path.clone().unwrap_or_else(|| "/".to_owned())),
                ..HttpCheckInfo::default()
            });
        }
        "TCP" | "MESOS_TCP" => {
            check.kind = Some(CheckType::Tcp);
            check.tcp = Some(TcpCheckInfo {
                port: port?,
                ..TcpCheckInfo::default()
            });
        }
        _ => {
            check.kind = Some(CheckType::Command);
            let cmd = hc
                .command
                .as_ref()
                .and_then(|c| c.get("value"))
                .and_then(Value::as_str)?;
            check.command = Some(CommandInfo::shell(cmd));
        }
    }
    Some(check)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dcos_api::v1::{FrameworkId, Resource};

    fn app(json: Value) -> AppDefinition {
        let mut a = AppDefinition::from_value(json).unwrap();
        a.normalize("/");
        a.validate().unwrap();
        a
    }

    fn offer(n: u32) -> Offer {
        serde_json::from_value(json!({
            "id": {"value": format!("o{n}")}, "framework_id": {"value": "f"},
            "agent_id": {"value": format!("a{n}")}, "hostname": format!("h{n}"),
            "resources": [],
        }))
        .map(|mut o: Offer| {
            o.resources = vec![
                Resource::scalar("cpus", 4.0),
                Resource::scalar("mem", 1024.0),
                Resource::ranges("ports", [(31000, 31100)]),
            ];
            o.framework_id = FrameworkId::new("f");
            o
        })
        .unwrap()
    }

    fn update(books: &mut Books, task: &str, state: TaskState, healthy: Option<bool>, now: f64) {
        let mut s = TaskStatus::new(TaskId::new(task), state);
        s.healthy = healthy;
        books.apply_update(&s, now);
    }

    #[test]
    fn app_containers_become_task_containers() {
        use dcos_api::v1::{ContainerType, DockerNetwork, VolumeMode};
        let docker = container_info(&json!({"type": "DOCKER",
            "docker": {"image": "127.0.0.1:5000/app:1", "network": "NONE", "forcePullImage": true},
            "volumes": [{"containerPath": "/data", "hostPath": "/srv", "mode": "RO"}]}))
        .unwrap();
        assert_eq!(docker.kind, ContainerType::Docker);
        let d = docker.docker.as_ref().unwrap();
        assert_eq!(d.image, "127.0.0.1:5000/app:1");
        assert_eq!(d.network(), DockerNetwork::None);
        assert_eq!(d.force_pull_image, Some(true));
        assert_eq!(docker.volumes[0].mode, VolumeMode::Ro);
        assert_eq!(docker.volumes[0].host_path.as_deref(), Some("/srv"));

        let ucr =
            container_info(&json!({"type": "MESOS", "docker": {"image": "busybox"}})).unwrap();
        assert_eq!(ucr.kind, ContainerType::Mesos);
        let image = ucr.mesos.unwrap().image.unwrap();
        assert_eq!(image.docker.as_ref().unwrap().name, "busybox");
        assert!(image.cached());
        let mesos = container_info(&json!({"type": "MESOS", "mesos": {"image": "x/y:2"}})).unwrap();
        assert_eq!(
            mesos.mesos.unwrap().image.unwrap().docker.unwrap().name,
            "x/y:2"
        );

        let a = app(
            json!({"id": "/img", "args": ["-c", "true"], "cpus": 0.1, "mem": 16,
            "container": {"type": "MESOS", "docker": {"image": "busybox"}}}),
        );
        let inst = Instance {
            task_id: "img.1".into(),
            app_id: "/img".into(),
            version: "v".into(),
            config_version: "v".into(),
            agent_id: "a1".into(),
            placement: Placement {
                hostname: "h".into(),
                attributes: BTreeMap::new(),
                region: None,
                zone: None,
            },
            ports: vec![],
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
        let t = task_info(&a, &inst, vec![]);
        let cmd = t.command.unwrap();
        assert_eq!(cmd.value, None);
        assert_eq!(cmd.arguments, ["-c", "true"]);
        assert_eq!(t.container.unwrap().kind, ContainerType::Mesos);
    }

    #[test]
    fn create_launch_run_and_complete_the_deployment() {
        let mut b = Books::default();
        let a =
            app(json!({"id": "/web", "cmd": "sleep 100", "instances": 3, "cpus": 0.1, "mem": 16}));
        let c = b
            .change(
                vec![a],
                vec![],
                &BTreeSet::new(),
                false,
                "d1".into(),
                1000.0,
            )
            .unwrap();
        assert!(c.deployment.is_some());
        assert!(c
            .writes
            .iter()
            .any(|w| matches!(w, Write::Put(k, _) if k == "/marathon/apps/web")));
        let d = b.drive(1000.0);
        assert!(d.kills.is_empty());
        assert_eq!(b.queue["/web"].count, 3);
        let m = b.match_offers(&[offer(1)], "*", 1000.0);
        assert_eq!(m.accepts.len(), 1);
        assert_eq!(m.accepts[0].1.len(), 3);
        let env = m.accepts[0].1[0]
            .command
            .as_ref()
            .unwrap()
            .environment
            .as_ref()
            .unwrap();
        assert!(env.variables.iter().any(|v| v.name == "PORT0"));
        assert!(b.queue.is_empty());
        // A second lock on the same app: 409 unless forced.
        let again = app(json!({"id": "/web", "cmd": "sleep 200"}));
        assert!(matches!(
            b.change(
                vec![again],
                vec![],
                &BTreeSet::new(),
                false,
                "d2".into(),
                1001.0
            ),
            Err(ChangeError::Locked(_))
        ));
        let ids: Vec<String> = b.instances.keys().cloned().collect();
        for id in &ids {
            update(&mut b, id, TaskState::Running, None, 1002.0);
        }
        let d = b.drive(1002.0);
        assert!(b.deployments.is_empty());
        assert!(d.events.iter().any(|e| e.kind == "deployment_success"));
    }

    #[test]
    fn failures_back_off_and_are_replaced() {
        let mut b = Books::default();
        let a = app(
            json!({"id": "/f", "cmd": "exit 1", "backoffSeconds": 2, "backoffFactor": 2, "cpus": 0.1, "mem": 16}),
        );
        b.change(vec![a], vec![], &BTreeSet::new(), false, "d".into(), 0.0)
            .unwrap();
        b.drive(0.0);
        b.match_offers(&[offer(1)], "*", 0.0);
        let id = b.instances.keys().next().unwrap().clone();
        update(&mut b, &id, TaskState::Failed, None, 1.0);
        assert_eq!(
            b.delays["/f"],
            Delay {
                failures: 1,
                until: 3.0
            }
        );
        assert_eq!(b.failures["/f"].state, "TASK_FAILED");
        b.drive(1.5);
        assert!(!b.wants_offers(1.5), "backed off");
        assert!(b.match_offers(&[offer(2)], "*", 1.5).accepts.is_empty());
        assert!(b.wants_offers(3.0));
        assert_eq!(b.match_offers(&[offer(2)], "*", 3.0).accepts.len(), 1);
        let waiting = b.deployments.values().next().unwrap().waiting.clone();
        assert!(waiting.unwrap().contains("backed off"));
    }

    #[test]
    fn unknown_tasks_are_killed_and_removed_apps_stop() {
        let mut b = Books::default();
        let (_, _, kill) = b.apply_update(
            &TaskStatus::new(TaskId::new("x.1"), TaskState::Running),
            0.0,
        );
        assert_eq!(kill.unwrap().task_id, "x.1");
        let a = app(json!({"id": "/g/s", "cmd": "sleep 9", "cpus": 0.1, "mem": 16}));
        b.change(vec![a], vec![], &BTreeSet::new(), false, "d".into(), 0.0)
            .unwrap();
        b.drive(0.0);
        b.match_offers(&[offer(1)], "*", 0.0);
        let id = b.instances.keys().next().unwrap().clone();
        assert_eq!(app_of_task(&id).as_deref(), Some("/g/s"));
        update(&mut b, &id, TaskState::Running, None, 1.0);
        b.drive(1.0);
        b.change(
            vec![],
            vec!["/g/s".into()],
            &BTreeSet::new(),
            false,
            "d2".into(),
            2.0,
        )
        .unwrap();
        let d = b.drive(2.0);
        assert_eq!(d.kills.len(), 1);
        update(&mut b, &id, TaskState::Killed, None, 3.0);
        b.drive(3.0);
        assert!(b.deployments.is_empty());
        assert!(!b.delays.contains_key("/g/s"), "a kill is not a failure");
    }

    #[test]
    fn timestamps_are_marathon_iso() {
        assert_eq!(iso(1_000_000_000.5), "2001-09-09T01:46:40.500Z");
    }

    /// Deploys `a` on offer 1 and runs its instances at `t`.
    fn deployed(a: AppDefinition, t: f64) -> (Books, Vec<String>) {
        let mut b = Books::default();
        b.change(vec![a], vec![], &BTreeSet::new(), false, "d".into(), t)
            .unwrap();
        b.drive(t);
        b.match_offers(&[offer(1)], "*", t);
        let ids: Vec<String> = b.instances.keys().cloned().collect();
        for id in &ids {
            update(&mut b, id, TaskState::Running, None, t);
        }
        b.drive(t);
        assert!(b.deployments.is_empty());
        (b, ids)
    }

    #[test]
    fn unreachable_instances_are_replaced_after_inactive_and_expunged_after_expunge() {
        let a = app(
            json!({"id": "/u", "cmd": "sleep 100", "cpus": 0.1, "mem": 16,
            "unreachableStrategy": {"inactiveAfterSeconds": 3, "expungeAfterSeconds": 30}}),
        );
        let (mut b, ids) = deployed(a, 0.0);
        let old = ids[0].clone();
        let (w, e, _) = b.apply_update(
            &TaskStatus::new(TaskId::new(old.as_str()), TaskState::Unreachable),
            10.0,
        );
        assert!(e.iter().any(|e| e.body["condition"] == "Unreachable"));
        // The unreachable time is in the instance key (survives failover).
        let Write::Put(_, v) = &w[0] else {
            panic!("{w:?}")
        };
        let stored: Instance = serde_json::from_slice(v).unwrap();
        assert_eq!(stored.unreachable_since, Some(10.0));
        // Still counts: nothing launched before inactiveAfterSeconds.
        b.drive(12.9);
        assert!(b.queue.is_empty());
        let d = b.drive(13.0);
        assert!(d
            .events
            .iter()
            .any(|e| e.body["condition"] == "UnreachableInactive"));
        assert!(b.instances[&old].unreachable_inactive);
        assert_eq!(b.queue["/u"].count, 1);
        b.match_offers(&[offer(2)], "*", 13.0);
        let new = b.instances.keys().find(|k| **k != old).unwrap().clone();
        update(&mut b, &new, TaskState::Running, None, 14.0);
        assert!(b.drive(14.0).kills.is_empty());
        // The old task comes back: a surplus; YOUNGEST_FIRST kills the new.
        update(&mut b, &old, TaskState::Running, None, 15.0);
        assert_eq!(b.instances[&old].unreachable_since, None);
        let d = b.drive(15.0);
        assert_eq!(
            d.kills
                .iter()
                .map(|k| k.task_id.as_str())
                .collect::<Vec<_>>(),
            [new.as_str()]
        );
        update(&mut b, &new, TaskState::Killed, None, 16.0);
        // Unreachable again, for good: expunged after 30 s, with a kill.
        update(&mut b, &old, TaskState::Unreachable, None, 20.0);
        b.drive(23.0);
        b.match_offers(&[offer(2)], "*", 23.0);
        let d = b.drive(49.9);
        assert!(d.kills.is_empty());
        let d = b.drive(50.0);
        assert_eq!(d.kills[0].task_id, old);
        assert!(d.writes.contains(&Write::Delete(instance_key(&old))));
        assert!(!b.instances.contains_key(&old));
        assert_eq!(b.instances_of("/u").count(), 1);

        // The app deleted while its instance is unreachable (and no
        // longer counted): expunged, not left behind.
        let last = b.instances.keys().next().unwrap().clone();
        update(&mut b, &last, TaskState::Running, None, 51.0);
        update(&mut b, &last, TaskState::Unreachable, None, 52.0);
        b.drive(56.0);
        assert!(b.instances[&last].unreachable_inactive);
        b.change(
            vec![],
            vec!["/u".into()],
            &BTreeSet::new(),
            true,
            "d9".into(),
            57.0,
        )
        .unwrap();
        let d = b.drive(57.0);
        assert_eq!(d.kills[0].task_id, last);
        assert!(b.instances.is_empty());
        b.drive(57.1);
        assert!(b.deployments.is_empty());
    }

    #[test]
    fn disabled_unreachable_strategy_never_replaces_and_default_replaces_at_once() {
        let a = app(
            json!({"id": "/d", "cmd": "sleep 100", "cpus": 0.1, "mem": 16,
            "unreachableStrategy": "disabled"}),
        );
        let (mut b, ids) = deployed(a, 0.0);
        update(&mut b, &ids[0], TaskState::Unreachable, None, 1.0);
        let d = b.drive(1e6);
        assert!(d.kills.is_empty() && b.queue.is_empty());
        assert!(b.instances.contains_key(&ids[0]));
        // A deployment waiting on it says so.
        let mut more = b.apps["/d"].clone();
        more.instances = 2;
        b.change(
            vec![more],
            vec![],
            &BTreeSet::new(),
            false,
            "d2".into(),
            1e6,
        )
        .unwrap();
        b.drive(1e6);
        let waiting = b.deployments["d2"].waiting.clone().unwrap_or_default();
        assert!(waiting.contains("1 instances unreachable"), "{waiting}");

        let a = app(json!({"id": "/z", "cmd": "sleep 100", "cpus": 0.1, "mem": 16}));
        let (mut b, ids) = deployed(a, 0.0);
        update(&mut b, &ids[0], TaskState::Unreachable, None, 1.0);
        let d = b.drive(1.0);
        assert_eq!(d.kills[0].task_id, ids[0], "(0, 0): expunged at once");
        assert_eq!(b.queue["/z"].count, 1);
    }

    #[test]
    fn marathon_side_checks_are_probed_and_all_checks_decide_health() {
        let a = app(
            json!({"id": "/p", "cmd": "x", "cpus": 0.1, "mem": 16, "healthChecks": [
            {"protocol": "HTTP", "path": "/ok", "gracePeriodSeconds": 0, "intervalSeconds": 1,
             "timeoutSeconds": 1, "maxConsecutiveFailures": 2},
            {"protocol": "COMMAND", "command": {"value": "true"}}]}),
        );
        // Only the COMMAND check goes to the agent.
        let mut b = Books::default();
        b.change(vec![a], vec![], &BTreeSet::new(), false, "d".into(), 0.0)
            .unwrap();
        b.drive(0.0);
        let m = b.match_offers(&[offer(1)], "*", 0.0);
        let hc = m.accepts[0].1[0].health_check.clone().unwrap();
        assert_eq!(hc.effective_kind(), CheckType::Command);
        let id = b.instances.keys().next().unwrap().clone();
        assert!(b.due_probes(0.5).is_empty(), "not running yet");
        update(&mut b, &id, TaskState::Running, Some(true), 1.0);
        let p = b.due_probes(1.0);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].index, 0);
        assert!(
            matches!(&p[0].target, health::Target::Http { url, .. } if url == "http://h1:31000/ok")
        );
        assert!(b.due_probes(1.5).is_empty(), "in flight");
        let (_, e, k) = b.apply_probe(&id, 0, Outcome::Healthy, 1.2);
        assert!(k.is_empty());
        assert_eq!(e[0].kind, "health_status_changed_event");
        assert!(b.instances[&id].is_healthy(&[]));
        b.drive(1.2);
        assert!(b.deployments.is_empty(), "healthy by both checks");
        // The agent says unhealthy: not healthy, whatever the probe says.
        update(&mut b, &id, TaskState::Running, Some(false), 1.5);
        assert!(!b.instances[&id].is_healthy(&[]));
        // … and its verdicts are recorded with their times.
        let agent = b.instances[&id].probes[1].health.clone().unwrap();
        assert_eq!(
            (
                agent.first_success,
                agent.last_failure,
                agent.consecutive_failures
            ),
            (Some(1.0), Some(1.5), 1)
        );
        update(&mut b, &id, TaskState::Running, Some(true), 1.6);
        // Failures: the third in a row (more than 2) kills.
        let mut kinds = Vec::new();
        let mut kills = Vec::new();
        for t in [2.0, 3.0, 4.0] {
            assert_eq!(b.due_probes(t).len(), 1);
            let (_, e, k) = b.apply_probe(
                &id,
                0,
                Outcome::Unhealthy("500 Internal Server Error".into()),
                t,
            );
            kinds.extend(e.into_iter().map(|e| e.kind));
            kills.extend(k);
        }
        assert_eq!(
            kinds,
            [
                "failed_health_check_event",
                "health_status_changed_event",
                "failed_health_check_event",
                "failed_health_check_event",
                "unhealthy_instance_kill_event"
            ]
        );
        assert_eq!(kills.len(), 1);
        assert!(b.instances[&id].killing_since.is_some());
        assert_eq!(
            b.failures["/p"].message,
            "Failed health check: 500 Internal Server Error"
        );
        assert!(
            b.due_probes(10.0).is_empty(),
            "no probes while being killed"
        );
    }

    #[test]
    fn health_checks_become_mesos_checks() {
        let a = app(
            json!({"id": "/h", "cmd": "x", "healthChecks": [{"protocol": "HTTP", "path": "/health", "maxConsecutiveFailures": 2, "gracePeriodSeconds": 5, "intervalSeconds": 1}]}),
        );
        let hc = mesos_health_check(&a.health_checks[0], &[31005]).unwrap();
        assert_eq!(hc.effective_kind(), CheckType::Http);
        assert_eq!(hc.http.as_ref().unwrap().port, 31005);
        assert_eq!(hc.consecutive_failures, Some(2));
        assert_eq!(hc.grace_period_seconds, Some(5.0));
        assert_eq!(hc.delay_seconds, Some(15.0), "Marathon's default delay");
    }
}
