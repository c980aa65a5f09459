//! Read-only views of the books in the shapes clients read: the operator
//! API's `Agent`/`Framework`/`GetState` messages, and the Mesos 1.x legacy
//! JSON of `/master/state`, `/master/state-summary`, `/master/slaves`,
//! `/master/frameworks`, `/master/tasks` and `/metrics/snapshot`.
//! Converted here, in one place, from the domain types of [`crate::state`].

use std::collections::BTreeMap;

use dcos_api::operator::{self, response};
use dcos_api::resources::Resources;
use dcos_api::v1::{FrameworkId, Task, TaskState, TimeInfo, ValueType};
use serde_json::{json, Map, Value};

use crate::state::{Agent, AgentState, Framework, State};

/// The operator API's view of an agent.
pub fn operator_agent(a: &Agent) -> response::Agent {
    let mut info = a.info.clone();
    info.id = Some(a.id.clone());
    response::Agent {
        agent_info: info,
        active: a.state == AgentState::Active,
        deactivated: Some(a.deactivated),
        version: a.version.clone(),
        pid: Some(pid(a)),
        registered_time: Some(TimeInfo::from_secs_f64(a.registered_time)),
        reregistered_time: a.reregistered_time.map(TimeInfo::from_secs_f64),
        total_resources: a.total.clone().into_vec(),
        allocated_resources: a.used.clone().into_vec(),
        offered_resources: a.offered.clone().into_vec(),
        capabilities: Vec::new(),
        resource_providers: Vec::new(),
        drain_info: a.drain,
        estimated_drain_start_time: None,
    }
}

/// The operator API's view of a framework.
pub fn operator_framework(f: &Framework) -> response::Framework {
    response::Framework {
        framework_info: f.info.clone(),
        active: f.connected(),
        connected: f.connected(),
        recovered: f.recovered,
        registered_time: Some(TimeInfo::from_secs_f64(f.registered_time)),
        reregistered_time: f.reregistered_time.map(TimeInfo::from_secs_f64),
        unregistered_time: f.unregistered_time.map(TimeInfo::from_secs_f64),
        offers: Vec::new(), // filled in by `get_frameworks`, which sees the offers
        inverse_offers: Vec::new(),
        allocated_resources: f.used.clone().into_vec(),
        offered_resources: f.offered.clone().into_vec(),
    }
}

/// GET_AGENTS.
pub fn get_agents(s: &State) -> response::GetAgents {
    response::GetAgents {
        agents: s
            .agents
            .values()
            .filter(|a| a.state != AgentState::Gone)
            .map(operator_agent)
            .collect(),
        recovered_agents: Vec::new(),
    }
}

/// GET_FRAMEWORKS.
pub fn get_frameworks(s: &State) -> response::GetFrameworks {
    let mut frameworks: Vec<response::Framework> =
        s.frameworks.values().map(operator_framework).collect();
    for fw in &mut frameworks {
        let id = fw.framework_info.id.clone();
        fw.offers = s
            .frameworks
            .get(id.as_ref().expect("registered frameworks have ids"))
            .map(|f| f.offers.iter().filter_map(|o| s.offer_as_sent(o)).collect())
            .unwrap_or_default();
    }
    response::GetFrameworks {
        frameworks,
        completed_frameworks: s
            .completed_frameworks
            .iter()
            .map(operator_framework)
            .collect(),
        recovered_frameworks: Vec::new(),
    }
}

/// GET_TASKS.
pub fn get_tasks(s: &State) -> response::GetTasks {
    let mut out = response::GetTasks::default();
    for fw in s.frameworks.values() {
        for task in fw.tasks.values() {
            if task.state == TaskState::Unreachable {
                out.unreachable_tasks.push(task.clone());
            } else if task.state.is_terminal() {
                out.completed_tasks.push(task.clone());
            } else {
                out.tasks.push(task.clone());
            }
        }
        out.completed_tasks
            .extend(fw.completed_tasks.iter().cloned());
    }
    for fw in &s.completed_frameworks {
        out.completed_tasks
            .extend(fw.completed_tasks.iter().cloned());
    }
    out
}

/// GET_EXECUTORS.
pub fn get_executors(s: &State) -> response::GetExecutors {
    response::GetExecutors {
        executors: s
            .agents
            .values()
            .flat_map(|a| {
                a.executors.iter().map(|(_, e)| response::Executor {
                    executor_info: e.clone(),
                    agent_id: a.id.clone(),
                })
            })
            .collect(),
        orphan_executors: Vec::new(),
    }
}

/// GET_STATE.
pub fn get_state(s: &State) -> response::GetState {
    response::GetState {
        get_tasks: Some(get_tasks(s)),
        get_executors: Some(get_executors(s)),
        get_frameworks: Some(get_frameworks(s)),
        get_agents: Some(get_agents(s)),
    }
}

/// GET_ROLES (without quota: [`operator::Role`] has no field for it; see
/// [`get_roles_json`]).
pub fn get_roles(s: &State) -> response::GetRoles {
    response::GetRoles {
        roles: s
            .roles()
            .into_iter()
            .map(|(name, (frameworks, resources))| operator::Role {
                weight: s.weight(&name),
                name,
                frameworks,
                resources: resources.into_vec(),
            })
            .collect(),
    }
}

/// What a role and its descendants hold (used plus offered), by name.
fn consumed(
    roles: &BTreeMap<String, (Vec<FrameworkId>, Resources)>,
    role: &str,
) -> BTreeMap<String, f64> {
    let prefix = format!("{role}/");
    let mut out: BTreeMap<String, f64> = BTreeMap::new();
    for (name, (_, res)) in roles {
        if name == role || name.starts_with(&prefix) {
            for (k, v) in res.quantities() {
                *out.entry(k).or_default() += v;
            }
        }
    }
    out
}

/// A role's quota as Mesos 1.9+ shows it: `{role, guarantee, limit,
/// consumed}`, each a map of resource name to `scalar(v)`.
fn role_quota(
    s: &State,
    roles: &BTreeMap<String, (Vec<FrameworkId>, Resources)>,
    role: &str,
    scalar: fn(f64) -> Value,
) -> Option<Value> {
    let q = s.quotas.get(role)?;
    let map = |m: &BTreeMap<String, f64>| -> Map<String, Value> {
        m.iter().map(|(k, v)| (k.clone(), scalar(*v))).collect()
    };
    Some(json!({
        "role": role,
        "guarantee": map(&q.guarantees),
        "limit": map(&q.limits),
        "consumed": map(&consumed(roles, role)),
    }))
}

/// GET_ROLES as JSON, with each role's `quota` (v1 `Role.quota`:
/// guarantee/limit/consumed as maps of `Value.Scalar`).
pub fn get_roles_json(s: &State) -> Value {
    let roles = s.roles();
    let mut v: Value =
        serde_json::from_slice(&operator::Response::GetRoles(get_roles(s)).to_json())
            .unwrap_or(Value::Null);
    if let Some(list) = v
        .pointer_mut("/get_roles/roles")
        .and_then(Value::as_array_mut)
    {
        for role in list {
            let name = role["name"].as_str().unwrap_or_default().to_owned();
            if let Some(q) = role_quota(s, &roles, &name, |x| json!({ "value": x })) {
                role["quota"] = q;
            }
        }
    }
    v
}

/// `/master/roles`: `{"roles":[{name, weight, quota?, frameworks,
/// resources, allocated, offered}]}` (quantities as plain numbers).
pub fn legacy_roles(s: &State) -> Value {
    let roles = s.roles();
    let list: Vec<Value> = roles
        .iter()
        .map(|(name, (frameworks, resources))| {
            let mut offered = Resources::new();
            for f in frameworks.iter().filter_map(|f| s.frameworks.get(f)) {
                if let Some(r) = crate::state::by_allocation_role(&f.offered, &f.roles).get(name) {
                    offered += r;
                }
            }
            let mut v = json!({
                "name": name,
                "weight": s.weight(name),
                "frameworks": frameworks.iter().map(|f| f.value.clone()).collect::<Vec<_>>(),
                "resources": model_resources(&resources.unallocate()),
                "allocated": model_resources(&resources.unallocate()),
                "offered": model_resources(&offered.unallocate()),
            });
            if let Some(q) = role_quota(s, &roles, name, |x| json!(x)) {
                v["quota"] = q;
            }
            v
        })
        .collect();
    json!({ "roles": list })
}

/// Mesos' `libprocess` pid of an agent, `slave(1)@host:port`.
fn pid(a: &Agent) -> String {
    let hostport = a
        .endpoint
        .split_once("://")
        .map(|(_, r)| r)
        .unwrap_or(&a.endpoint)
        .trim_end_matches('/');
    format!("slave(1)@{hostport}")
}

/// Mesos' JSON model of resources: `{"cpus": 1.5, "mem": 128, "disk": 0,
/// "gpus": 0, "ports": "[31000-31005]"}`.
pub fn model_resources(r: &Resources) -> Value {
    let mut out = Map::new();
    for name in ["cpus", "disk", "gpus", "mem"] {
        out.insert(name.into(), json!(0.0));
    }
    for (name, rs) in r.by_name() {
        let first = rs.iter().next().expect("by_name groups are non-empty");
        match first.kind {
            ValueType::Scalar => {
                let total: f64 = rs.quantities().values().sum();
                out.insert(name, json!(total));
            }
            ValueType::Ranges => {
                let ranges = rs.ranges(&name).unwrap_or_default();
                let text = ranges
                    .range
                    .iter()
                    .map(|x| format!("{}-{}", x.begin, x.end))
                    .collect::<Vec<_>>()
                    .join(", ");
                out.insert(name, json!(format!("[{text}]")));
            }
            ValueType::Set => {
                let set = rs.set(&name).unwrap_or_default();
                out.insert(name, json!(format!("{{{}}}", set.item.join(", "))));
            }
            ValueType::Text => {}
        }
    }
    Value::Object(out)
}

fn full(r: &Resources) -> Value {
    serde_json::to_value(r.as_slice()).unwrap_or(Value::Null)
}

fn attributes(a: &Agent) -> Value {
    let mut out = Map::new();
    for attr in &a.info.attributes {
        let v = match attr.kind {
            ValueType::Scalar => json!(attr.scalar.map(|s| s.value).unwrap_or_default()),
            ValueType::Text => json!(attr
                .text
                .as_ref()
                .map(|t| t.value.clone())
                .unwrap_or_default()),
            ValueType::Ranges => json!(attr
                .ranges
                .as_ref()
                .map(|r| format!(
                    "[{}]",
                    r.range
                        .iter()
                        .map(|x| format!("{}-{}", x.begin, x.end))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
                .unwrap_or_default()),
            ValueType::Set => json!(attr
                .set
                .as_ref()
                .map(|s| format!("{{{}}}", s.item.join(", ")))
                .unwrap_or_default()),
        };
        out.insert(attr.name.clone(), v);
    }
    Value::Object(out)
}

/// One agent in `/master/state` and `/master/slaves`.
pub fn legacy_agent(a: &Agent) -> Value {
    let reserved: BTreeMap<String, Value> = a
        .total
        .filter(|r| r.is_reserved())
        .by_role()
        .iter()
        .map(|(role, r)| (role.clone(), model_resources(r)))
        .collect();
    json!({
        "id": a.id.value,
        "pid": pid(a),
        "hostname": a.info.hostname,
        "port": a.info.port(),
        "registered_time": a.registered_time,
        "reregistered_time": a.reregistered_time,
        "resources": model_resources(&a.total),
        "used_resources": model_resources(&a.used),
        "offered_resources": model_resources(&a.offered),
        "reserved_resources": reserved,
        "unreserved_resources": model_resources(&a.total.unreserved()),
        "attributes": attributes(a),
        "active": a.state == AgentState::Active,
        "deactivated": a.deactivated,
        "version": a.version,
        "capabilities": ["MULTI_ROLE", "HIERARCHICAL_ROLE", "RESERVATION_REFINEMENT"],
        "reserved_resources_full": {},
        "unreserved_resources_full": full(&a.total.unreserved()),
        "used_resources_full": full(&a.used),
        "offered_resources_full": full(&a.offered),
        "domain": a.info.domain,
        "drain_info": a.drain,
    })
}

/// One task in the legacy JSON.
pub fn legacy_task(t: &Task) -> Value {
    let resources: Resources = t.resources.clone().into();
    let role = t
        .resources
        .iter()
        .find_map(|r| r.allocation_role())
        .unwrap_or("*");
    let statuses: Vec<Value> = t
        .statuses
        .iter()
        .map(|s| {
            json!({
                "state": s.state,
                "timestamp": s.timestamp.unwrap_or_default(),
                "healthy": s.healthy,
                "container_status": s.container_status,
            })
        })
        .collect();
    let mut v = json!({
        "id": t.task_id.value,
        "name": t.name,
        "framework_id": t.framework_id.value,
        "executor_id": t.executor_id.as_ref().map(|e| e.value.clone()).unwrap_or_default(),
        "slave_id": t.agent_id.value,
        "agent_id": t.agent_id.value,
        "state": t.state,
        "resources": model_resources(&resources.unallocate()),
        "role": role,
    });
    let obj = v.as_object_mut().expect("an object");
    obj.insert("statuses".into(), Value::Array(statuses));
    if let Some(l) = &t.labels {
        obj.insert("labels".into(), json!(l.labels));
    }
    if let Some(d) = &t.discovery {
        obj.insert("discovery".into(), json!(d));
    }
    if let Some(c) = &t.container {
        obj.insert("container".into(), json!(c));
    }
    if let Some(h) = &t.health_check {
        obj.insert("health_check".into(), json!(h));
    }
    if let Some(u) = &t.user {
        obj.insert("user".into(), json!(u));
    }
    v
}

/// One framework in `/master/state` and `/master/frameworks`.
pub fn legacy_framework(s: &State, f: &Framework, completed: bool) -> Value {
    let mut v = legacy_framework_head(s, f, completed);
    // Moved in, not through `json!` (which would deep-copy every task).
    let o = v.as_object_mut().expect("an object");
    for (key, kind) in TASK_LISTS {
        let list = framework_tasks(f, kind).map(legacy_task).collect();
        o.insert(key.into(), Value::Array(list));
    }
    v
}

/// Which of a framework's tasks a legacy list holds.
#[derive(Clone, Copy)]
enum TaskList {
    Live,
    Unreachable,
    Completed,
}

/// The task lists of a legacy framework object, in order.
const TASK_LISTS: [(&str, TaskList); 3] = [
    ("tasks", TaskList::Live),
    ("unreachable_tasks", TaskList::Unreachable),
    ("completed_tasks", TaskList::Completed),
];

fn framework_tasks(f: &Framework, kind: TaskList) -> impl Iterator<Item = &Task> {
    let completed = matches!(kind, TaskList::Completed).then_some(f.completed_tasks.iter());
    completed
        .into_iter()
        .flatten()
        .chain(f.tasks.values().filter(move |t| {
            let unreachable = t.state == TaskState::Unreachable;
            match kind {
                TaskList::Live => !unreachable && !t.state.is_terminal(),
                TaskList::Unreachable => unreachable,
                TaskList::Completed => !unreachable && t.state.is_terminal(),
            }
        }))
}

/// A legacy framework object without its task lists.
fn legacy_framework_head(s: &State, f: &Framework, completed: bool) -> Value {
    let offers: Vec<Value> = f
        .offers
        .iter()
        .filter_map(|o| s.offers.get(o))
        .map(|r| {
            json!({
                "id": r.id.value,
                "framework_id": r.framework_id.value,
                "slave_id": r.agent_id.value,
                "resources": model_resources(&r.resources.unallocate()),
            })
        })
        .collect();
    let executors: Vec<Value> = s
        .agents
        .values()
        .flat_map(|a| {
            a.executors
                .iter()
                .filter(|(fid, _)| *fid == f.id)
                .map(|(_, e)| {
                    let mut v = serde_json::to_value(e).unwrap_or(Value::Null);
                    if let Some(o) = v.as_object_mut() {
                        o.insert("slave_id".into(), json!(a.id.value));
                    }
                    v
                })
        })
        .collect();
    let used = &f.used;
    let mut v = json!({
        "id": f.id.value,
        "name": f.info.name,
        "pid": Value::Null,
        "hostname": f.info.hostname.clone().unwrap_or_default(),
        "webui_url": f.info.webui_url.clone().unwrap_or_default(),
        "user": f.info.user,
        "principal": f.info.principal,
        "role": f.roles.first().cloned().unwrap_or_else(|| "*".into()),
        "roles": f.roles,
        "capabilities": f.info.capabilities.iter().filter_map(|c| c.kind).collect::<Vec<_>>(),
        "failover_timeout": f.info.failover_timeout(),
        "checkpoint": f.info.checkpoint(),
        "active": !completed && f.connected(),
        "connected": !completed && f.connected(),
        "recovered": f.recovered,
        "registered_time": f.registered_time,
        "reregistered_time": f.reregistered_time,
        "unregistered_time": f.unregistered_time.unwrap_or_default(),
        "labels": f.info.labels.as_ref().map(|l| l.labels.clone()).unwrap_or_default(),
        "resources": model_resources(&(used + &f.offered).unallocate()),
        "used_resources": model_resources(&used.unallocate()),
        "offered_resources": model_resources(&f.offered.unallocate()),
    });
    let o = v.as_object_mut().expect("an object");
    o.insert("offers".into(), Value::Array(offers));
    o.insert("executors".into(), Value::Array(executors));
    v
}

/// Fixed facts about this master for the legacy JSON.
#[derive(Debug, Clone)]
pub struct MasterFacts {
    /// `host:port` it serves on.
    pub addr: String,
    /// Process start (Unix seconds).
    pub start_time: f64,
    /// When it became the leader (Unix seconds).
    pub elected_time: f64,
    /// `--flag` values, as strings.
    pub flags: BTreeMap<String, String>,
}

/// `/master/state`.
pub fn legacy_state(s: &State, facts: &MasterFacts) -> Value {
    let mut v = legacy_state_head(s, facts);
    // Moved in, not through `json!` (which would deep-copy them).
    let o = v.as_object_mut().expect("an object");
    o.insert(
        "slaves".into(),
        Value::Array(listed_agents(s).map(legacy_agent).collect()),
    );
    o.insert(
        "frameworks".into(),
        Value::Array(
            s.frameworks
                .values()
                .map(|f| legacy_framework(s, f, false))
                .collect(),
        ),
    );
    o.insert(
        "completed_frameworks".into(),
        Value::Array(
            s.completed_frameworks
                .iter()
                .map(|f| legacy_framework(s, f, true))
                .collect(),
        ),
    );
    v
}

/// `/master/state` as JSON text, written element by element: the same
/// document as [`legacy_state`] without its `Value` tree (at 100,000
/// tasks the tree cost ~650 MiB and most of the time).
pub fn legacy_state_json(s: &State, facts: &MasterFacts) -> serde_json::Result<Vec<u8>> {
    use serde::ser::{SerializeMap, Serializer};
    let mut out = Vec::with_capacity(1 << 20);
    let mut ser = serde_json::Serializer::new(&mut out);
    let head = legacy_state_head(s, facts);
    let head = head.as_object().expect("an object");
    let mut map = ser.serialize_map(None)?;
    for (k, v) in head {
        map.serialize_entry(k, v)?;
    }
    map.serialize_entry("slaves", &Lazy(|| listed_agents(s).map(legacy_agent)))?;
    map.serialize_entry(
        "frameworks",
        &Lazy(|| s.frameworks.values().map(|f| FrameworkJson(s, f, false))),
    )?;
    map.serialize_entry(
        "completed_frameworks",
        &Lazy(|| {
            s.completed_frameworks
                .iter()
                .map(|f| FrameworkJson(s, f, true))
        }),
    )?;
    map.end()?;
    Ok(out)
}

/// A JSON array of what the iterator yields, made while it is written.
struct Lazy<F>(F);

impl<F, I> serde::Serialize for Lazy<F>
where
    F: Fn() -> I,
    I: Iterator,
    I::Item: serde::Serialize,
{
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        ser.collect_seq((self.0)())
    }
}

/// [`legacy_framework`], its tasks written one by one.
struct FrameworkJson<'a>(&'a State, &'a Framework, bool);

impl serde::Serialize for FrameworkJson<'_> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let FrameworkJson(s, f, completed) = *self;
        let head = legacy_framework_head(s, f, completed);
        let mut map = ser.serialize_map(None)?;
        for (k, v) in head.as_object().into_iter().flatten() {
            map.serialize_entry(k, v)?;
        }
        for (key, kind) in TASK_LISTS {
            map.serialize_entry(key, &Lazy(|| framework_tasks(f, kind).map(legacy_task)))?;
        }
        map.end()
    }
}

/// Agents listed in `/master/state` (neither gone nor unreachable).
fn listed_agents(s: &State) -> impl Iterator<Item = &Agent> {
    s.agents
        .values()
        .filter(|a| a.state != AgentState::Gone && a.state != AgentState::Unreachable)
}

/// `/master/state` without its big arrays.
fn legacy_state_head(s: &State, facts: &MasterFacts) -> Value {
    let (host, _) = facts.addr.rsplit_once(':').unwrap_or((&facts.addr, ""));
    let count = |st: AgentState| s.agents.values().filter(|a| a.state == st).count();
    json!({
        "version": crate::MESOS_VERSION,
        "git_sha": Value::Null,
        "build_date": Value::Null,
        "start_time": facts.start_time,
        "elected_time": facts.elected_time,
        "id": s.master_id,
        "pid": format!("master@{}", facts.addr),
        "hostname": host,
        "activated_slaves": count(AgentState::Active),
        "deactivated_slaves": s.agents.values().filter(|a| a.deactivated && a.state != AgentState::Gone).count(),
        "unreachable_slaves": count(AgentState::Unreachable),
        "leader": format!("master@{}", facts.addr),
        "leader_info": s.master_info,
        "cluster": Value::Null,
        "log_dir": Value::Null,
        "flags": facts.flags,
        "recovered_slaves": [],
        "orphan_tasks": [],
        "unregistered_frameworks": [],
    })
}

/// `/master/state-summary`.
pub fn legacy_state_summary(s: &State, facts: &MasterFacts) -> Value {
    let (host, _) = facts.addr.rsplit_once(':').unwrap_or((&facts.addr, ""));
    let count_states = |tasks: &mut dyn Iterator<Item = &Task>| {
        let mut m: BTreeMap<&'static str, u64> = BTreeMap::new();
        for name in [
            "TASK_STAGING",
            "TASK_STARTING",
            "TASK_RUNNING",
            "TASK_KILLING",
            "TASK_FINISHED",
            "TASK_KILLED",
            "TASK_FAILED",
            "TASK_LOST",
            "TASK_ERROR",
            "TASK_UNREACHABLE",
        ] {
            m.insert(name, 0);
        }
        for t in tasks {
            *m.entry(t.state.as_str()).or_default() += 1;
        }
        m
    };
    let slaves: Vec<Value> = s
        .agents
        .values()
        .filter(|a| a.state != AgentState::Gone && a.state != AgentState::Unreachable)
        .map(|a| {
            let mut v = legacy_agent(a);
            let tasks: Vec<&Task> = a
                .tasks
                .iter()
                .filter_map(|(f, t)| s.frameworks.get(f).and_then(|f| f.tasks.get(t)))
                .collect();
            let counts = count_states(&mut tasks.into_iter());
            let ids: Vec<&str> = {
                let mut ids: Vec<&str> = a.tasks.iter().map(|(f, _)| f.as_str()).collect();
                ids.sort();
                ids.dedup();
                ids
            };
            if let Some(o) = v.as_object_mut() {
                for (k, n) in counts {
                    o.insert(k.into(), json!(n));
                }
                o.insert("framework_ids".into(), json!(ids));
            }
            v
        })
        .collect();
    let frameworks: Vec<Value> = s
        .frameworks
        .values()
        .map(|f| {
            let counts = count_states(&mut f.tasks.values());
            let mut agents: Vec<&str> = f.tasks.values().map(|t| t.agent_id.as_str()).collect();
            agents.sort();
            agents.dedup();
            let mut v = json!({
                "id": f.id.value,
                "name": f.info.name,
                "pid": Value::Null,
                "used_resources": model_resources(&f.used.unallocate()),
                "offered_resources": model_resources(&f.offered.unallocate()),
                "capabilities": f.info.capabilities.iter().filter_map(|c| c.kind).collect::<Vec<_>>(),
                "hostname": f.info.hostname.clone().unwrap_or_default(),
                "webui_url": f.info.webui_url.clone().unwrap_or_default(),
                "active": f.connected(),
                "connected": f.connected(),
                "recovered": f.recovered,
                "role": f.roles.first().cloned().unwrap_or_else(|| "*".into()),
                "roles": f.roles,
                "slave_ids": agents,
            });
            if let Some(o) = v.as_object_mut() {
                for (k, n) in counts {
                    o.insert(k.into(), json!(n));
                }
            }
            v
        })
        .collect();
    let mut v = json!({ "hostname": host, "cluster": Value::Null });
    v["slaves"] = Value::Array(slaves);
    v["frameworks"] = Value::Array(frameworks);
    v
}

/// `/master/tasks`.
pub fn legacy_tasks(s: &State) -> Value {
    let mut tasks = Vec::new();
    for f in s.frameworks.values() {
        tasks.extend(f.tasks.values().map(legacy_task));
        tasks.extend(f.completed_tasks.iter().map(legacy_task));
    }
    let mut v = json!({});
    v["tasks"] = Value::Array(tasks);
    v
}

/// `/metrics/snapshot` (the `master/*` part).
pub fn metrics(s: &State, uptime_secs: f64) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    let mut put = |k: &str, v: f64| {
        m.insert(format!("master/{k}"), v);
    };
    put("elected", 1.0);
    put("uptime_secs", uptime_secs);
    let agents = |st: AgentState| s.agents.values().filter(|a| a.state == st).count() as f64;
    put("slaves_active", agents(AgentState::Active));
    put("slaves_connected", agents(AgentState::Active));
    put("slaves_disconnected", agents(AgentState::Disconnected));
    put(
        "slaves_inactive",
        s.agents.values().filter(|a| a.deactivated).count() as f64,
    );
    put("slaves_unreachable", agents(AgentState::Unreachable));
    put("slave_registrations", s.counters.agent_registrations as f64);
    put(
        "slave_reregistrations",
        s.counters.agent_reregistrations as f64,
    );
    put("slave_removals", s.counters.agent_removals as f64);
    put(
        "slave_unreachable_completed",
        s.counters.agents_unreachable as f64,
    );
    let fws = s.frameworks.values();
    let connected = fws.clone().filter(|f| f.connected()).count() as f64;
    put("frameworks_active", connected);
    put("frameworks_connected", connected);
    put(
        "frameworks_disconnected",
        s.frameworks.len() as f64 - connected,
    );
    put("frameworks_inactive", s.frameworks.len() as f64 - connected);
    put("outstanding_offers", s.offers.len() as f64);
    let counts = s.task_state_counts();
    for st in [
        TaskState::Staging,
        TaskState::Starting,
        TaskState::Running,
        TaskState::Killing,
        TaskState::Unreachable,
    ] {
        let name = st.as_str().to_ascii_lowercase();
        put(
            &name.replacen("task_", "tasks_", 1),
            *counts.get(&st).unwrap_or(&0) as f64,
        );
    }
    for st in [
        TaskState::Finished,
        TaskState::Failed,
        TaskState::Killed,
        TaskState::Lost,
        TaskState::Error,
        TaskState::Dropped,
        TaskState::Gone,
        TaskState::GoneByOperator,
    ] {
        let name = st.as_str().to_ascii_lowercase();
        let n = s.counters.terminal.get(st.as_str()).copied().unwrap_or(0);
        put(&name.replacen("task_", "tasks_", 1), n as f64);
    }
    put(
        "valid_status_updates",
        s.counters.valid_status_updates as f64,
    );
    put(
        "invalid_status_updates",
        s.counters.invalid_status_updates as f64,
    );
    put(
        "valid_framework_to_executor_messages",
        s.counters.framework_to_executor_messages as f64,
    );
    put(
        "valid_executor_to_framework_messages",
        s.counters.executor_to_framework_messages as f64,
    );
    put("messages_launch_tasks", s.counters.tasks_launched as f64);
    put("messages_decline_offers", s.counters.offers_declined as f64);
    put("offers_sent", s.counters.offers_sent as f64);
    put("offers_accepted", s.counters.offers_accepted as f64);
    put("offers_declined", s.counters.offers_declined as f64);
    put("offers_rescinded", s.counters.offers_rescinded as f64);
    put("frameworks_removed", s.counters.frameworks_removed as f64);
    // Resource totals of reachable agents.
    let mut total = Resources::new();
    let mut used = Resources::new();
    for a in s.agents.values().filter(|a| a.state == AgentState::Active) {
        total += &a.total;
        used += &a.used;
    }
    let tq = total.quantities();
    let uq = used.quantities();
    for name in ["cpus", "mem", "disk", "gpus"] {
        let t = tq.get(name).copied().unwrap_or(0.0);
        let u = uq.get(name).copied().unwrap_or(0.0);
        put(&format!("{name}_total"), t);
        put(&format!("{name}_used"), u);
        put(
            &format!("{name}_percent"),
            if t > 0.0 { u / t } else { 0.0 },
        );
    }
    m
}
