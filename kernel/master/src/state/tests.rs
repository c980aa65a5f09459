//! The core without I/O: inputs in, effects out.

use std::time::{Duration, Instant};

use dcos_api::agent::{self, Register};
use dcos_api::resources::Resources;
use dcos_api::scheduler;
use dcos_api::v1::{
    AgentId, AgentInfo, CommandInfo, FrameworkCapability, FrameworkCapabilityType, FrameworkId,
    FrameworkInfo, MasterInfo, OfferOperation, Reason, TaskId, TaskInfo, TaskState, TaskStatus,
};

use super::*;
use crate::allocator::Allocation;

fn clock(t0: Instant, ms: u64) -> Clock {
    Clock {
        now: t0 + Duration::from_millis(ms),
        unix: 1_700_000_000.0 + ms as f64 / 1000.0,
    }
}

fn state(t0: Instant) -> State {
    let info = MasterInfo {
        id: "m".into(),
        ip: 0,
        port: 5050,
        pid: None,
        hostname: None,
        version: None,
        address: None,
        domain: None,
        capabilities: Vec::new(),
    };
    State::new(
        info,
        Config {
            agent_timeout: Duration::from_secs(1),
            reregister_window: Duration::from_secs(1),
        },
        Vec::new(),
        clock(t0, 0),
    )
}

fn reg() -> Register {
    Register {
        agent_id: None,
        agent_info: AgentInfo {
            hostname: "h".into(),
            port: None,
            resources: Resources::parse("cpus:4;mem:1024", "*").unwrap().into_vec(),
            attributes: Vec::new(),
            id: None,
            domain: None,
        },
        endpoint: "http://h:5051".into(),
        version: String::new(),
        tasks: Vec::new(),
        executors: Vec::new(),
        frameworks: Vec::new(),
    }
}

fn subscribe(s: &mut State, info: FrameworkInfo, t0: Instant) -> FrameworkId {
    let sub = scheduler::Subscribe {
        framework_info: info,
        suppressed_roles: Vec::new(),
        offer_constraints: None,
    };
    let (id, effects) = s.subscribe(sub, "fs".into(), 15.0, clock(t0, 0)).unwrap();
    assert!(matches!(
        &effects[0],
        Effect::ToFramework(_, scheduler::Event::Subscribed(_))
    ));
    id
}

/// One agent, one framework, one offer of everything.
fn setup(partition_aware: bool) -> (State, Instant, AgentId, FrameworkId, dcos_api::v1::Offer) {
    let t0 = Instant::now();
    let mut s = state(t0);
    let (agent, _) = s.register_agent(reg(), "as".into(), clock(t0, 0)).unwrap();
    let mut info = FrameworkInfo::new("u", "f");
    if partition_aware {
        info.capabilities = vec![FrameworkCapability::from(
            FrameworkCapabilityType::PartitionAware,
        )];
    }
    let fw = subscribe(&mut s, info, t0);
    let effects = s.apply_allocations(
        vec![Allocation {
            framework_id: fw.clone(),
            role: "*".into(),
            agent_id: agent.clone(),
            resources: Resources::parse("cpus:4;mem:1024", "*")
                .unwrap()
                .allocate("*")
                .into(),
            whole: None,
        }],
        clock(t0, 0),
    );
    let offer = match &effects[..] {
        [Effect::ToFramework(_, scheduler::Event::Offers(o))] => o.offers[0].clone(),
        other => panic!("expected one OFFERS event, got {other:?}"),
    };
    (s, t0, agent, fw, offer)
}

fn task(id: &str, agent: &AgentId, res: &str) -> TaskInfo {
    let mut t = TaskInfo::command(id, TaskId::new(id), agent.clone(), CommandInfo::shell("x"));
    t.resources = Resources::parse(res, "*").unwrap().into_vec();
    t
}

fn accept(offer: &dcos_api::v1::Offer, tasks: Vec<TaskInfo>) -> scheduler::Accept {
    scheduler::Accept {
        offer_ids: vec![offer.id.clone()],
        operations: vec![OfferOperation::launch(tasks)],
        filters: None,
    }
}

fn updates(effects: &[Effect]) -> Vec<TaskStatus> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::ToFramework(_, scheduler::Event::Update(u)) => Some(u.status.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn ids_follow_the_mesos_formats() {
    let (s, _, agent, fw, offer) = setup(false);
    assert_eq!(agent.as_str(), "m-S0");
    assert_eq!(fw.as_str(), "m-0000");
    assert_eq!(offer.id.as_str(), "m-O0");
    assert_eq!(s.agents[&agent].offered.cpus(), Some(4.0));
    assert!(s.agents[&agent].available().is_empty());
}

#[test]
fn accept_launches_valid_tasks_and_returns_the_rest_filtered() {
    let (mut s, t0, agent, fw, offer) = setup(false);
    let effects = s.accept(
        &fw,
        accept(&offer, vec![task("a", &agent, "cpus:1;mem:100")]),
        clock(t0, 1),
    );
    let runs: Vec<_> = effects
        .iter()
        .filter(|e| matches!(e, Effect::ToAgent(_, agent::Event::RunTask { .. })))
        .collect();
    assert_eq!(runs.len(), 1);
    assert!(updates(&effects).is_empty());
    assert!(s.offers.is_empty());
    let a = &s.agents[&agent];
    assert_eq!(a.used.cpus(), Some(1.0));
    assert!(a.offered.is_empty());
    // The unused remainder is filtered for the default 5 s.
    let f = &s.frameworks[&fw].filters[0];
    assert_eq!(f.resources.cpus(), Some(3.0));
    assert_eq!(f.until, clock(t0, 1).now + Duration::from_secs(5));
    assert_eq!(
        s.frameworks[&fw].tasks[&TaskId::new("a")].state,
        TaskState::Staging
    );
}

#[test]
fn accept_rejects_bad_tasks_individually() {
    let (mut s, t0, agent, fw, offer) = setup(false);
    let mut both = task("both", &agent, "cpus:1");
    both.executor = Some(dcos_api::v1::ExecutorInfo::new("e".into()));
    let tasks = vec![
        task("ok", &agent, "cpus:3;mem:100"),
        task("over", &agent, "cpus:2"), // only 1 cpu left after "ok"
        task("ok", &agent, "cpus:0.5"),
        task("elsewhere", &AgentId::new("other"), "cpus:0.5"),
        both,
    ];
    let effects = s.accept(&fw, accept(&offer, tasks), clock(t0, 1));
    let u = updates(&effects);
    let got: Vec<_> = u
        .iter()
        .map(|s| (s.task_id.as_str(), s.state, s.reason))
        .collect();
    assert_eq!(
        got,
        vec![
            ("over", TaskState::Error, Some(Reason::TaskInvalid)),
            ("ok", TaskState::Error, Some(Reason::TaskInvalid)),
            ("elsewhere", TaskState::Error, Some(Reason::TaskInvalid)),
            ("both", TaskState::Error, Some(Reason::TaskInvalid)),
        ]
    );
    assert!(u
        .iter()
        .all(|s| s.uuid.is_some() && s.source == Some(dcos_api::v1::Source::Master)));
    assert_eq!(s.agents[&agent].used.cpus(), Some(3.0));
}

#[test]
fn invalid_offers_drop_every_task() {
    let (mut s, t0, agent, fw, offer) = setup(false);
    s.accept(
        &fw,
        accept(&offer, vec![task("a", &agent, "cpus:1")]),
        clock(t0, 1),
    );
    // Used twice.
    let effects = s.accept(
        &fw,
        accept(&offer, vec![task("b", &agent, "cpus:1")]),
        clock(t0, 2),
    );
    let u = updates(&effects);
    assert_eq!(u.len(), 1);
    // Not partition-aware: TASK_DROPPED is shown as TASK_LOST.
    assert_eq!(u[0].state, TaskState::Lost);
    assert_eq!(u[0].reason, Some(Reason::InvalidOffers));
    assert!(!s.frameworks[&fw].tasks.contains_key(&TaskId::new("b")));
    // Another framework's offer.
    let other = subscribe(&mut s, FrameworkInfo::new("u", "g"), t0);
    let effects = s.accept(
        &other,
        accept(&offer, vec![task("c", &agent, "cpus:1")]),
        clock(t0, 3),
    );
    assert_eq!(updates(&effects)[0].reason, Some(Reason::InvalidOffers));
}

#[test]
fn status_updates_move_tasks_and_free_resources_when_terminal() {
    let (mut s, t0, agent, fw, offer) = setup(false);
    s.accept(
        &fw,
        accept(&offer, vec![task("a", &agent, "cpus:1")]),
        clock(t0, 1),
    );
    let mut st = TaskStatus::new(TaskId::new("a"), TaskState::Running);
    st.uuid = Some(dcos_api::v1::Base64Bytes::new(vec![1u8; 16]));
    let call = agent::Call::Update {
        agent_id: agent.clone(),
        framework_id: fw.clone(),
        status: st.clone(),
    };
    let effects = s.agent_call(call, "as", clock(t0, 2)).unwrap();
    assert_eq!(updates(&effects)[0].uuid, st.uuid);
    let mut done = st.clone();
    done.state = TaskState::Finished;
    done.uuid = Some(dcos_api::v1::Base64Bytes::new(vec![2u8; 16]));
    s.agent_call(
        agent::Call::Update {
            agent_id: agent.clone(),
            framework_id: fw.clone(),
            status: done.clone(),
        },
        "as",
        clock(t0, 3),
    )
    .unwrap();
    assert!(s.agents[&agent].used.is_empty());
    // Still listed until the terminal update is acknowledged.
    assert!(s.frameworks[&fw].tasks.contains_key(&TaskId::new("a")));
    let effects = s
        .acknowledge(
            &fw,
            scheduler::Acknowledge {
                agent_id: agent.clone(),
                task_id: TaskId::new("a"),
                uuid: done.uuid.clone().unwrap(),
            },
            clock(t0, 3),
        )
        .unwrap();
    assert!(matches!(
        &effects[0],
        Effect::ToAgent(_, agent::Event::Acknowledge { .. })
    ));
    assert!(s.frameworks[&fw].tasks.is_empty());
    assert_eq!(s.frameworks[&fw].completed_tasks.len(), 1);
    // Updates from a stale stream are refused.
    assert_eq!(
        s.agent_call(
            agent::Call::Heartbeat {
                agent_id: agent.clone()
            },
            "old",
            clock(t0, 4)
        ),
        Err(StateError::AgentStreamMismatch(agent))
    );
}

#[test]
fn silent_agents_become_unreachable_and_their_offers_are_rescinded() {
    let (mut s, t0, agent, fw, offer) = setup(true);
    // Launch one task, keep the rest offered.
    let mut acc = accept(&offer, vec![task("a", &agent, "cpus:1")]);
    acc.filters = Some(dcos_api::v1::Filters::refuse(0.0));
    s.accept(&fw, acc, clock(t0, 1));
    let effects = s.apply_allocations(
        vec![Allocation {
            framework_id: fw.clone(),
            role: "*".into(),
            agent_id: agent.clone(),
            resources: Resources::parse("cpus:3;mem:1024", "*")
                .unwrap()
                .allocate("*")
                .into(),
            whole: None,
        }],
        clock(t0, 2),
    );
    assert_eq!(effects.len(), 1);
    assert!(s.tick(clock(t0, 900)).is_empty());
    let effects = s.tick(clock(t0, 1100));
    assert!(effects
        .iter()
        .any(|e| matches!(e, Effect::ToFramework(_, scheduler::Event::Rescind(_)))));
    let u = updates(&effects);
    assert_eq!(u[0].state, TaskState::Unreachable);
    assert_eq!(u[0].reason, Some(Reason::AgentRemoved));
    assert_eq!(s.agents[&agent].state, AgentState::Unreachable);
    assert!(s.offers.is_empty());
    // A non-partition-aware framework would have seen TASK_LOST.
    assert_eq!(
        s.frameworks[&fw].visible_state(TaskState::Unreachable),
        TaskState::Unreachable
    );
}

#[test]
fn disconnected_framework_is_removed_after_its_failover_timeout() {
    let (mut s, t0, agent, fw, offer) = setup(false);
    s.accept(
        &fw,
        accept(&offer, vec![task("a", &agent, "cpus:1")]),
        clock(t0, 1),
    );
    // failover_timeout 0 (default): removed at the next tick.
    let effects = s.framework_stream_closed(&fw, "fs", clock(t0, 2));
    assert!(effects.iter().all(|e| !matches!(e, Effect::ToAgent(..))));
    let effects = s.tick(clock(t0, 3));
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::ToAgent(_, agent::Event::ShutdownFramework { .. })
    )));
    assert!(s.frameworks.is_empty());
    assert!(s.agents[&agent].used.is_empty());
    let sub = scheduler::Subscribe {
        framework_info: {
            let mut i = FrameworkInfo::new("u", "f");
            i.id = Some(fw.clone());
            i
        },
        suppressed_roles: Vec::new(),
        offer_constraints: None,
    };
    assert_eq!(
        s.subscribe(sub, "fs2".into(), 15.0, clock(t0, 4))
            .unwrap_err(),
        StateError::FrameworkRemoved(fw)
    );
}

#[test]
fn failover_keeps_tasks_and_replaces_the_stream() {
    let (mut s, t0, agent, fw, offer) = setup(false);
    s.accept(
        &fw,
        accept(&offer, vec![task("a", &agent, "cpus:1")]),
        clock(t0, 1),
    );
    let mut info = s.frameworks[&fw].info.clone();
    info.failover_timeout = Some(60.0);
    info.id = Some(fw.clone());
    let sub = scheduler::Subscribe {
        framework_info: info,
        suppressed_roles: Vec::new(),
        offer_constraints: None,
    };
    let (id, effects) = s.subscribe(sub, "fs2".into(), 15.0, clock(t0, 2)).unwrap();
    assert_eq!(id, fw);
    assert!(effects.contains(&Effect::CloseStream("fs".into())));
    assert_eq!(
        s.check_framework_stream(&fw, Some("fs")).unwrap_err().to_string(),
        format!("The stream ID 'fs' included in this request didn't match the stream ID currently associated with framework ID {fw}")
    );
    assert!(s.frameworks[&fw].tasks.contains_key(&TaskId::new("a")));
}

#[test]
fn registry_records_recover_agents_and_frameworks() {
    let (s, t0, agent, fw, _) = setup(false);
    let records = vec![
        Record::Agent(s.agents[&agent].record()),
        Record::Framework(s.frameworks[&fw].record(false)),
    ];
    let json = serde_json::to_string(&records).unwrap();
    let back: Vec<Record> = serde_json::from_str(&json).unwrap();
    let mut info = s.master_info.clone();
    info.id = "m2".into();
    let s2 = State::new(info, s.config, back, clock(t0, 10));
    assert_eq!(s2.agents[&agent].state, AgentState::Disconnected);
    assert!(s2.frameworks[&fw].recovered);
    assert!(s2.recovering(clock(t0, 10)));
    // New ids come from the new master id.
    let mut s2 = s2;
    assert_eq!(s2.new_framework_id().as_str(), "m2-0000");
}

#[test]
fn reconciling_tasks_of_a_recovered_agent_waits_for_it_to_reregister() {
    // After a failover the new master knows the agent from the registry
    // but not its tasks. Asked about one, it must not answer TASK_GONE
    // (which would make the framework give up a running task): it answers
    // nothing until the agent re-registers or is marked unreachable.
    let (s, t0, agent, fw, _) = setup(false);
    let records = vec![
        Record::Agent(s.agents[&agent].record()),
        Record::Framework(s.frameworks[&fw].record(false)),
    ];
    let mut info = s.master_info.clone();
    info.id = "m2".into();
    let mut s2 = State::new(info, s.config, records, clock(t0, 10));
    let mut framework_info = s.frameworks[&fw].info.clone();
    framework_info.id = Some(fw.clone());
    let sub = scheduler::Subscribe {
        framework_info,
        suppressed_roles: Vec::new(),
        offer_constraints: None,
    };
    s2.subscribe(sub, "fs2".into(), 15.0, clock(t0, 20))
        .unwrap();
    let reconcile = |task: &str| {
        scheduler::CallBody::Reconcile(scheduler::Reconcile {
            tasks: vec![scheduler::ReconcileTask {
                task_id: TaskId::from(task),
                agent_id: Some(agent.clone()),
            }],
        })
    };
    // Long after the re-registration window: still no answer.
    let effects = s2
        .scheduler_call(&fw, reconcile("t1"), clock(t0, 600_000))
        .unwrap();
    assert!(updates(&effects).is_empty(), "{:?}", updates(&effects));
}

fn weight(role: &str, w: f64) -> dcos_api::operator::WeightInfo {
    dcos_api::operator::WeightInfo {
        weight: w,
        role: Some(role.into()),
    }
}

fn quota_config(
    role: &str,
    guarantees: &[(&str, f64)],
    limits: &[(&str, f64)],
) -> dcos_api::operator::QuotaConfig {
    let map = |v: &[(&str, f64)]| {
        v.iter()
            .map(|(k, x)| (k.to_string(), dcos_api::v1::Scalar { value: *x }))
            .collect()
    };
    dcos_api::operator::QuotaConfig {
        role: role.into(),
        guarantees: map(guarantees),
        limits: map(limits),
    }
}

#[test]
fn weights_and_quota_reach_the_allocation_snapshot_and_the_registry() {
    let t0 = Instant::now();
    let mut s = state(t0);
    s.register_agent(reg(), "as".into(), clock(t0, 0)).unwrap();
    let effects = s
        .update_weights(vec![weight("dev", 3.0), weight("ops", 0.5)])
        .unwrap();
    assert!(
        effects.contains(&Effect::Persist(Record::Weight(WeightRecord {
            role: "dev".into(),
            weight: 3.0
        })))
    );
    assert!(effects.contains(&Effect::Allocate));
    s.update_quota(
        vec![quota_config("dev", &[("cpus", 2.0)], &[("cpus", 3.0)])],
        false,
    )
    .unwrap();
    let snap = s.allocation_snapshot(clock(t0, 1), Vec::new());
    assert_eq!(snap.roles["dev"].weight, 3.0);
    assert_eq!(snap.roles["dev"].guarantee["cpus"], 2.0);
    assert_eq!(snap.roles["dev"].limit["cpus"], 3.0);
    assert_eq!(snap.roles["ops"].weight, 0.5);
    assert!(snap.roles["ops"].guarantee.is_empty());

    // Shown as configured roles even without frameworks.
    let roles = s.roles();
    assert!(roles.contains_key("dev") && roles.contains_key("ops"));

    // An empty config removes the quota.
    let effects = s
        .update_quota(vec![quota_config("dev", &[], &[])], false)
        .unwrap();
    assert!(
        effects.contains(&Effect::Persist(Record::Quota(QuotaRecord {
            role: "dev".into(),
            quota: Quota::default()
        })))
    );
    assert!(s.quotas.is_empty());
}

#[test]
fn bad_weights_and_quotas_are_rejected_whole() {
    let t0 = Instant::now();
    let mut s = state(t0);
    s.register_agent(reg(), "as".into(), clock(t0, 0)).unwrap();
    for bad in [
        vec![weight("dev", -1.0)],
        vec![weight("dev", 0.0)],
        vec![weight("dev", f64::NAN)],
        vec![weight("ok", 2.0), weight("bad role", 2.0)],
        vec![weight("/x", 2.0)],
    ] {
        assert!(matches!(s.update_weights(bad), Err(StateError::Invalid(_))));
    }
    assert!(s.weights.is_empty(), "all or nothing");
    for (bad, force) in [
        (quota_config("*", &[("cpus", 1.0)], &[]), true),
        (quota_config("dev", &[("cpus", -1.0)], &[]), true),
        (
            quota_config("dev", &[("cpus", 2.0)], &[("cpus", 1.0)]),
            true,
        ),
        (quota_config("dev", &[("cpus", 100.0)], &[]), false),
        (quota_config("a//b", &[("cpus", 1.0)], &[]), true),
    ] {
        assert!(
            matches!(
                s.update_quota(vec![bad.clone()], force),
                Err(StateError::Invalid(_))
            ),
            "{bad:?}"
        );
    }
    // More than the cluster has is fine with `force`.
    s.update_quota(vec![quota_config("dev", &[("cpus", 100.0)], &[])], true)
        .unwrap();

    // The legacy request: scalars only, once per role, capacity → conflict.
    let ports = dcos_api::operator::QuotaRequest {
        force: None,
        role: Some("web".into()),
        guarantee: Resources::parse("ports:[1-2]", "*").unwrap().into_vec(),
    };
    assert!(matches!(s.set_quota(ports), Err(StateError::Invalid(_))));
    let too_big = dcos_api::operator::QuotaRequest {
        force: None,
        role: Some("web".into()),
        guarantee: vec![dcos_api::v1::Resource::scalar("cpus", 1.0)],
    };
    assert!(matches!(
        s.set_quota(too_big.clone()),
        Err(StateError::QuotaConflict(_))
    ));
    s.remove_quota("dev").unwrap();
    s.set_quota(too_big.clone()).unwrap();
    assert_eq!(s.quotas["web"].limits["cpus"], 1.0, "limit = guarantee");
    assert!(matches!(s.set_quota(too_big), Err(StateError::Invalid(_))));
    assert!(matches!(
        s.remove_quota("nobody"),
        Err(StateError::Invalid(_))
    ));
}

#[test]
fn weight_and_quota_records_are_recovered() {
    let t0 = Instant::now();
    let records = vec![
        Record::Weight(WeightRecord {
            role: "dev".into(),
            weight: 2.0,
        }),
        Record::Quota(QuotaRecord {
            role: "dev".into(),
            quota: Quota {
                guarantees: [("cpus".to_string(), 1.0)].into(),
                limits: Default::default(),
            },
        }),
        Record::Quota(QuotaRecord {
            role: "gone".into(),
            quota: Quota::default(),
        }),
    ];
    let s = State::new(
        state(t0).master_info.clone(),
        state(t0).config,
        records,
        clock(t0, 0),
    );
    assert_eq!(s.weight("dev"), 2.0);
    assert_eq!(s.weight("other"), 1.0);
    assert_eq!(s.quotas["dev"].guarantees["cpus"], 1.0);
    assert!(!s.quotas.contains_key("gone"));
}

/// Launches task `id` with `res` from `offer`, reports it TASK_RUNNING.
fn run_task(
    s: &mut State,
    t0: Instant,
    fw: &FrameworkId,
    offer: &dcos_api::v1::Offer,
    id: &str,
    res: &str,
) {
    let agent = offer.agent_id.clone();
    s.accept(fw, accept(offer, vec![task(id, &agent, res)]), clock(t0, 1));
    let mut running = TaskStatus::new(TaskId::new(id), TaskState::Running);
    running.uuid = Some(dcos_api::v1::Base64Bytes::new(vec![1; 16]));
    s.agent_call(
        agent::Call::Update {
            agent_id: agent,
            framework_id: fw.clone(),
            status: running,
        },
        "as",
        clock(t0, 2),
    )
    .unwrap();
}

/// The agent reports `id` killed and the framework acknowledges it.
fn kill_and_ack(
    s: &mut State,
    t0: Instant,
    fw: &FrameworkId,
    agent: &AgentId,
    id: &str,
) -> Vec<Effect> {
    let mut killed = TaskStatus::new(TaskId::new(id), TaskState::Killed);
    killed.uuid = Some(dcos_api::v1::Base64Bytes::new(vec![2; 16]));
    s.agent_call(
        agent::Call::Update {
            agent_id: agent.clone(),
            framework_id: fw.clone(),
            status: killed.clone(),
        },
        "as",
        clock(t0, 3),
    )
    .unwrap();
    s.acknowledge(
        fw,
        scheduler::Acknowledge {
            agent_id: agent.clone(),
            task_id: TaskId::new(id),
            uuid: killed.uuid.unwrap(),
        },
        clock(t0, 4),
    )
    .unwrap()
}

fn drain_state(s: &State, agent: &AgentId) -> Option<dcos_api::v1::DrainState> {
    s.agents[agent].drain.map(|d| d.state)
}

#[test]
fn drained_once_every_task_is_terminal_and_acknowledged_then_gone() {
    let (mut s, t0, agent, fw, offer) = setup(true);
    run_task(&mut s, t0, &fw, &offer, "a", "cpus:1;mem:64");
    let config = dcos_api::v1::DrainConfig {
        max_grace_period: Some(dcos_api::v1::DurationInfo::from_duration(
            Duration::from_secs(2),
        )),
        mark_gone: Some(true),
    };
    let effects = s.drain_agent(&agent, config, clock(t0, 2)).unwrap();
    assert!(effects.contains(&Effect::ToAgent(
        agent.clone(),
        agent::Event::Drain {
            max_grace_period_seconds: Some(2.0)
        }
    )));
    assert_eq!(
        drain_state(&s, &agent),
        Some(dcos_api::v1::DrainState::Draining)
    );
    assert!(!s.agents[&agent].offerable());
    let snap = s.allocation_snapshot(clock(t0, 2), Vec::new());
    assert!(snap.agents.iter().all(|a| !a.active));

    let effects = kill_and_ack(&mut s, t0, &fw, &agent, "a");
    // DRAINED, then gone: the agent is told to shut down.
    assert!(effects
        .iter()
        .any(|e| matches!(e, Effect::ToAgentStream(_, agent::Event::Shutdown { .. }))));
    assert_eq!(
        drain_state(&s, &agent),
        Some(dcos_api::v1::DrainState::Drained)
    );
    assert_eq!(s.agents[&agent].state, AgentState::Gone);
}

#[test]
fn draining_an_idle_agent_drains_it_at_once_and_reactivation_clears_it() {
    let (mut s, t0, agent, _fw, _offer) = setup(false);
    let effects = s
        .drain_agent(&agent, dcos_api::v1::DrainConfig::default(), clock(t0, 1))
        .unwrap();
    assert!(effects
        .iter()
        .any(|e| matches!(e, Effect::ToFramework(_, scheduler::Event::Rescind(_)))));
    assert_eq!(
        drain_state(&s, &agent),
        Some(dcos_api::v1::DrainState::Drained)
    );
    assert_eq!(
        s.agents[&agent].state,
        AgentState::Active,
        "not marked gone"
    );
    s.set_agent_active(&agent, true).unwrap();
    assert!(s.agents[&agent].drain.is_none() && s.agents[&agent].offerable());
    let bad = dcos_api::v1::DrainConfig {
        max_grace_period: Some(dcos_api::v1::DurationInfo { nanoseconds: -1 }),
        mark_gone: None,
    };
    assert!(matches!(
        s.drain_agent(&agent, bad, clock(t0, 2)),
        Err(StateError::Invalid(_))
    ));
}

fn executor(id: &str, res: &str) -> dcos_api::v1::ExecutorInfo {
    let mut e = dcos_api::v1::ExecutorInfo::new(dcos_api::v1::ExecutorId::new(id));
    e.resources = Resources::parse(res, "*").unwrap().into_vec();
    e
}

fn status(
    s: &mut State,
    t0: Instant,
    fw: &FrameworkId,
    agent: &AgentId,
    id: &str,
    state: TaskState,
    n: u8,
) {
    let mut st = TaskStatus::new(TaskId::new(id), state);
    st.uuid = Some(dcos_api::v1::Base64Bytes::new(vec![n; 16]));
    s.agent_call(
        agent::Call::Update {
            agent_id: agent.clone(),
            framework_id: fw.clone(),
            status: st,
        },
        "as",
        clock(t0, 5),
    )
    .unwrap();
}

fn cpus(r: &Resources) -> f64 {
    r.quantities().get("cpus").copied().unwrap_or(0.0)
}

#[test]
fn custom_executor_resources_are_used_until_its_last_task_ends() {
    let (mut s, t0, agent, fw, offer) = setup(false);
    let mut tasks = Vec::new();
    for id in ["a", "b"] {
        let mut t = task(id, &agent, "cpus:1;mem:64");
        let mut e = executor("ex", "cpus:0.5;mem:32");
        e.command = t.command.take();
        t.executor = Some(e);
        tasks.push(t);
    }
    let effects = s.accept(&fw, accept(&offer, tasks), clock(t0, 1));
    assert!(updates(&effects).is_empty(), "{effects:?}");
    // Two tasks, one executor counted once.
    assert_eq!(cpus(&s.agents[&agent].used), 2.5);
    assert_eq!(cpus(&s.frameworks[&fw].used), 2.5);
    assert_eq!(s.agents[&agent].executors.len(), 1);

    status(&mut s, t0, &fw, &agent, "a", TaskState::Finished, 1);
    assert_eq!(cpus(&s.agents[&agent].used), 1.5, "executor still runs b");
    status(&mut s, t0, &fw, &agent, "b", TaskState::Killed, 2);
    assert!(
        s.agents[&agent].used.is_empty(),
        "{:?}",
        s.agents[&agent].used
    );
    assert!(s.frameworks[&fw].used.is_empty());
    assert!(s.agents[&agent].executors.is_empty());
}

#[test]
fn task_group_executor_resources_are_counted_and_released() {
    let (mut s, t0, agent, fw, offer) = setup(false);
    let mut e = executor("group", "cpus:0.25;mem:32");
    e.kind = Some(dcos_api::v1::ExecutorType::Default);
    let group = dcos_api::v1::OfferOperation::new(dcos_api::v1::Operation::LaunchGroup(
        dcos_api::v1::LaunchGroup {
            executor: e,
            task_group: dcos_api::v1::TaskGroupInfo {
                tasks: vec![task("g1", &agent, "cpus:1;mem:64")],
            },
        },
    ));
    let call = scheduler::Accept {
        offer_ids: vec![offer.id.clone()],
        operations: vec![group],
        filters: None,
    };
    let effects = s.accept(&fw, call, clock(t0, 1));
    assert!(updates(&effects).is_empty(), "{effects:?}");
    assert_eq!(cpus(&s.agents[&agent].used), 1.25);
    status(&mut s, t0, &fw, &agent, "g1", TaskState::Failed, 1);
    assert!(s.agents[&agent].used.is_empty());
    assert!(s.frameworks[&fw].used.is_empty());
}

#[test]
fn streamed_master_state_is_the_same_document_as_the_tree() {
    let (mut s, t0, agent, fw, offer) = setup(false);
    s.accept(
        &fw,
        accept(
            &offer,
            vec![task("a", &agent, "cpus:1"), task("b", &agent, "cpus:1")],
        ),
        clock(t0, 1),
    );
    let mut done = TaskStatus::new(TaskId::new("b"), TaskState::Finished);
    done.uuid = Some(dcos_api::v1::Base64Bytes::new(vec![2u8; 16]));
    let call = agent::Call::Update {
        agent_id: agent.clone(),
        framework_id: fw.clone(),
        status: done,
    };
    s.agent_call(call, "as", clock(t0, 2)).unwrap();
    let facts = crate::views::MasterFacts {
        addr: "127.0.0.1:5050".into(),
        start_time: 1.0,
        elected_time: 2.0,
        flags: Default::default(),
    };
    let tree = crate::views::legacy_state(&s, &facts);
    let text = crate::views::legacy_state_json(&s, &facts).unwrap();
    let streamed: serde_json::Value = serde_json::from_slice(&text).unwrap();
    assert_eq!(streamed, tree);
    let fw_json = &streamed["frameworks"][0];
    assert_eq!(fw_json["tasks"].as_array().unwrap().len(), 1);
    assert_eq!(fw_json["completed_tasks"].as_array().unwrap().len(), 1);
}

/// An allocation of an agent's whole `available` moves the books whole;
/// when the agent changed between snapshot and apply, it is checked
/// resource by resource like any other (and dropped if it no longer fits).
#[test]
fn whole_agent_offers_move_the_books_unless_the_agent_changed() {
    let t0 = Instant::now();
    let mut s = state(t0);
    let (agent, _) = s.register_agent(reg(), "as".into(), clock(t0, 0)).unwrap();
    let fw = subscribe(&mut s, FrameworkInfo::new("u", "f"), t0);

    let snapshot = s.allocation_snapshot(clock(t0, 0), Vec::new());
    let plan = crate::allocator::allocate(&snapshot);
    drop(snapshot);
    assert!(
        plan[0].whole.is_some(),
        "one framework takes the agent whole"
    );
    let effects = s.apply_allocations(plan, clock(t0, 0));
    assert_eq!(effects.len(), 1);
    let a = &s.agents[&agent];
    assert!(a.available().is_empty());
    assert_eq!(a.offered, a.total);

    // Decline it, plan again, then change the agent before applying: the
    // whole-agent shortcut must not apply to the changed books.
    let offer_ids: Vec<_> = s.frameworks[&fw].offers.iter().cloned().collect();
    s.decline(
        &fw,
        &offer_ids,
        Some(dcos_api::v1::Filters {
            refuse_seconds: Some(0.0),
        }),
        clock(t0, 1),
    );
    let snapshot = s.allocation_snapshot(clock(t0, 2), Vec::new());
    let plan = crate::allocator::allocate(&snapshot);
    drop(snapshot);
    assert!(plan[0].whole.is_some());
    let half = Resources::parse("cpus:2;mem:512", "*").unwrap();
    s.agents.get_mut(&agent).unwrap().add_used(&half);
    let effects = s.apply_allocations(plan, clock(t0, 2));
    assert!(effects.is_empty(), "the stale whole-agent offer is dropped");
    let a = &s.agents[&agent];
    assert!(a.offered.is_empty());
    assert_eq!(*a.available(), &a.total - &half);
}
