//! Agent inputs: (re-)registration, heartbeats, status updates, executor
//! messages, resource changes, a closed stream, missed heartbeats, and the
//! operator's MARK_AGENT_GONE / DRAIN / DEACTIVATE / REACTIVATE.

use std::collections::{BTreeSet, HashSet};

use dcos_api::agent::{self, Register};
use dcos_api::operator;
use dcos_api::resources::Resources;
use dcos_api::scheduler;
use dcos_api::v1::{
    AgentId, Base64Bytes, DrainConfig, DrainInfo, DrainState, ExecutorId, FrameworkId, Reason,
    Resource, Task, TaskState, TaskStatus, TimeInfo,
};

use super::{new_framework, Agent, AgentState, Clock, Effect, Record, State, StateError, StreamId};

impl State {
    /// `POST /agent/v1/subscribe`: registers a new agent, or re-registers
    /// a known one (reconciling the tasks it lists against ours). Returns
    /// the agent id; the effects start with the REGISTERED event.
    pub fn register_agent(
        &mut self,
        reg: Register,
        stream: StreamId,
        clock: Clock,
    ) -> Result<(AgentId, Vec<Effect>), StateError> {
        let mut effects = Vec::new();
        if reg.agent_info.hostname.is_empty() {
            return Err(StateError::Invalid(
                "agent_info.hostname must not be empty".into(),
            ));
        }
        let total = Resources::try_from_vec(reg.agent_info.resources.clone())
            .map_err(|e| StateError::Invalid(format!("invalid agent resources: {e}")))?;
        let id = match reg.agent_id.clone() {
            Some(id) => {
                if let Some(agent) = self.agents.get(&id) {
                    if agent.state == AgentState::Gone {
                        return Err(StateError::AgentGone(id));
                    }
                }
                id
            }
            None => self.new_agent_id(),
        };
        let reregistering = self.agents.contains_key(&id);
        let mut info = reg.agent_info.clone();
        info.id = Some(id.clone());

        if let Some(agent) = self.agents.get_mut(&id) {
            // Re-registration: a new stream replaces the old one.
            if let Some(old) = agent.stream.replace(stream.clone()) {
                effects.push(Effect::CloseStream(old));
            }
            let was_unreachable = agent.state == AgentState::Unreachable;
            agent.offer_url = super::offers::agent_url(&reg.endpoint, &info.hostname, info.port());
            agent.info = info;
            agent.endpoint = reg.endpoint.clone();
            agent.version = reg.version.clone();
            agent.set_total(total);
            agent.state = AgentState::Active;
            agent.recovered = false;
            agent.last_heard = clock.now;
            agent.reregistered_time = Some(clock.unix);
            agent.unreachable_time = None;
            self.counters.agent_reregistrations += 1;
            let _ = was_unreachable;
        } else {
            let agent = Agent::new(
                id.clone(),
                info,
                reg.endpoint.clone(),
                reg.version.clone(),
                total,
                AgentState::Active,
                Some(stream),
                clock.now,
                clock.unix,
            );
            self.agents.insert(id.clone(), agent);
            if reg.agent_id.is_some() {
                self.counters.agent_reregistrations += 1;
            } else {
                self.counters.agent_registrations += 1;
            }
        }

        effects.insert(
            0,
            Effect::ToAgent(
                id.clone(),
                agent::Event::Registered {
                    agent_id: id.clone(),
                    master_info: self.master_info.clone(),
                    heartbeat_interval_seconds: 0.0, // filled in by the runtime
                },
            ),
        );
        if reregistering || reg.agent_id.is_some() {
            effects.extend(self.reconcile_agent_tasks(&id, &reg, clock));
        }
        let agent = &self.agents[&id];
        effects.push(Effect::Persist(Record::Agent(agent.record())));
        if self.operator_events {
            effects.push(Effect::Operator(operator::Event::AgentAdded(
                operator::AgentAdded {
                    agent: crate::views::operator_agent(agent),
                },
            )));
        }
        if agent.drain.is_some() {
            effects.push(Effect::ToAgent(
                id.clone(),
                agent::Event::Drain {
                    max_grace_period_seconds: drain_grace(agent.drain.as_ref()),
                },
            ));
        }
        effects.push(Effect::Allocate);
        Ok((id, effects))
    }

    /// Compares the tasks a re-registering agent lists with ours: adopts
    /// the ones we did not know (master failover), brings unreachable ones
    /// back, and reports the ones it no longer has as dropped/lost.
    fn reconcile_agent_tasks(
        &mut self,
        agent_id: &AgentId,
        reg: &Register,
        clock: Clock,
    ) -> Vec<Effect> {
        let mut effects = Vec::new();
        // Frameworks a fresh master may not know yet.
        for info in &reg.frameworks {
            let Some(fid) = info.id.clone() else { continue };
            if !self.frameworks.contains_key(&fid) && !self.removed_frameworks.contains(&fid) {
                let mut fw = new_framework(fid.clone(), info.clone(), clock.unix);
                fw.recovered = true;
                fw.failover_deadline = Some(
                    clock.now
                        + self.config.reregister_window
                        + super::secs(info.failover_timeout()),
                );
                self.frameworks.insert(fid, fw);
            }
        }
        for executor in &reg.executors {
            if let Some(fid) = executor.framework_id.clone() {
                self.add_executor(agent_id, &fid, executor.clone());
            }
        }

        let listed: HashSet<(FrameworkId, dcos_api::v1::TaskId)> = reg
            .tasks
            .iter()
            .map(|t| (t.framework_id.clone(), t.task_id.clone()))
            .collect();
        // Tasks we know on this agent that it does not list.
        let known: Vec<(FrameworkId, dcos_api::v1::TaskId)> = self.agents[agent_id]
            .tasks
            .iter()
            .filter(|k| !listed.contains(*k))
            .cloned()
            .collect();
        for (fid, tid) in known {
            let state = self
                .frameworks
                .get(&fid)
                .and_then(|f| f.tasks.get(&tid))
                .map(|t| t.state);
            match state {
                Some(s) if !s.is_terminal() && s != TaskState::Staging => {
                    let status = self.master_status(
                        &tid,
                        Some(agent_id),
                        TaskState::Dropped,
                        Reason::AgentReregistered,
                        "Task was not found on the re-registered agent",
                        true,
                        clock,
                    );
                    effects.extend(self.apply_master_status(&fid, status));
                }
                _ => {}
            }
        }
        for listed_task in &reg.tasks {
            effects.extend(self.adopt_task(agent_id, listed_task.clone(), clock));
        }
        // Executors it lists without a live task hold nothing any more.
        let frameworks: BTreeSet<FrameworkId> = self.agents[agent_id]
            .executors
            .iter()
            .map(|(f, _)| f.clone())
            .collect();
        for fid in frameworks {
            self.release_idle_executors(agent_id, &fid);
        }
        effects
    }

    /// Takes in a task a re-registering agent reports.
    fn adopt_task(&mut self, agent_id: &AgentId, mut task: Task, clock: Clock) -> Vec<Effect> {
        let mut effects = Vec::new();
        let fid = task.framework_id.clone();
        if self.removed_frameworks.contains(&fid) {
            effects.push(Effect::ToAgent(
                agent_id.clone(),
                agent::Event::ShutdownFramework { framework_id: fid },
            ));
            return effects;
        }
        if !self.frameworks.contains_key(&fid) {
            // Its framework is unknown: keep it, so the framework sees it
            // when it re-subscribes (Mesos' "orphan" tasks).
            let mut info = dcos_api::v1::FrameworkInfo::new("", "");
            info.id = Some(fid.clone());
            let mut fw = new_framework(fid.clone(), info, clock.unix);
            fw.recovered = true;
            fw.failover_deadline = Some(clock.now + self.config.reregister_window);
            self.frameworks.insert(fid.clone(), fw);
        }
        task.agent_id = agent_id.clone();
        let latest = task.statuses.last().cloned();
        let existing = self.frameworks[&fid]
            .tasks
            .get(&task.task_id)
            .map(|t| t.state);
        match existing {
            None => {
                self.add_task(task.clone());
                if self.operator_events {
                    effects.push(Effect::Operator(operator::Event::TaskAdded(
                        operator::TaskAdded { task },
                    )));
                }
            }
            Some(previous) if previous != task.state && !previous.is_terminal() => {
                // E.g. UNREACHABLE → RUNNING: tell the framework where it is.
                let mut status = latest.unwrap_or_else(|| {
                    let mut s = TaskStatus::new(task.task_id.clone(), task.state);
                    s.agent_id = Some(agent_id.clone());
                    s
                });
                status.state = task.state;
                status.uuid = None;
                status.reason = Some(Reason::AgentReregistered);
                status.timestamp = Some(clock.unix);
                self.record_status(&fid, &status);
                effects.extend(self.forward_status(&fid, status));
            }
            Some(_) => {}
        }
        effects
    }

    /// Records a master-made status and forwards it.
    pub(crate) fn apply_master_status(
        &mut self,
        framework_id: &FrameworkId,
        status: TaskStatus,
    ) -> Vec<Effect> {
        self.record_status(framework_id, &status);
        self.forward_status(framework_id, status)
    }

    /// The UPDATE event (and operator TASK_UPDATED) for a recorded status.
    pub(crate) fn forward_status(
        &mut self,
        framework_id: &FrameworkId,
        status: TaskStatus,
    ) -> Vec<Effect> {
        let mut effects = Vec::new();
        let Some(fw) = self.frameworks.get(framework_id) else {
            return effects;
        };
        if self.operator_events {
            let state = fw
                .tasks
                .get(&status.task_id)
                .map(|t| t.state)
                .unwrap_or(status.state);
            effects.push(Effect::Operator(operator::Event::TaskUpdated(
                operator::TaskUpdated {
                    framework_id: framework_id.clone(),
                    status: status.clone(),
                    state,
                },
            )));
        }
        if fw.connected() {
            effects.push(State::update_event(fw, status));
        }
        effects
    }

    /// Checks that a call comes from the agent's current stream.
    fn check_agent(
        &mut self,
        agent_id: &AgentId,
        stream: &str,
        clock: Clock,
    ) -> Result<&mut Agent, StateError> {
        let agent = self
            .agents
            .get_mut(agent_id)
            .ok_or_else(|| StateError::AgentNotFound(agent_id.clone()))?;
        if agent.stream.as_deref() != Some(stream) {
            return Err(StateError::AgentStreamMismatch(agent_id.clone()));
        }
        agent.last_heard = clock.now;
        Ok(agent)
    }

    /// `POST /agent/v1/call`.
    pub fn agent_call(
        &mut self,
        call: agent::Call,
        stream: &str,
        clock: Clock,
    ) -> Result<Vec<Effect>, StateError> {
        self.check_agent(call.agent_id(), stream, clock)?;
        match call {
            agent::Call::Heartbeat { .. } => Ok(Vec::new()),
            agent::Call::Update {
                agent_id,
                framework_id,
                status,
            } => self.agent_update(agent_id, framework_id, status),
            agent::Call::Message {
                agent_id,
                framework_id,
                executor_id,
                data,
            } => Ok(self.executor_message(agent_id, framework_id, executor_id, data)),
            agent::Call::UpdateResources {
                agent_id,
                resources,
            } => self.update_agent_resources(&agent_id, resources),
        }
    }

    fn agent_update(
        &mut self,
        agent_id: AgentId,
        framework_id: FrameworkId,
        mut status: TaskStatus,
    ) -> Result<Vec<Effect>, StateError> {
        if status.uuid.as_ref().is_none_or(|u| u.is_empty()) {
            self.counters.invalid_status_updates += 1;
            return Err(StateError::Invalid(
                "status updates from agents must carry a uuid".into(),
            ));
        }
        status.agent_id.get_or_insert_with(|| agent_id.clone());
        if self.removed_frameworks.contains(&framework_id) {
            self.counters.invalid_status_updates += 1;
            return Ok(vec![Effect::ToAgent(
                agent_id,
                agent::Event::ShutdownFramework { framework_id },
            )]);
        }
        if !self.frameworks.contains_key(&framework_id) {
            // Not known (yet): the agent retries until the framework is back.
            self.counters.invalid_status_updates += 1;
            return Ok(Vec::new());
        }
        self.counters.valid_status_updates += 1;
        let known = self.record_status(&framework_id, &status).is_some();
        if !known {
            tracing::debug!(task = %status.task_id, "status update for a task the master does not know");
        }
        Ok(self.forward_status(&framework_id, status))
    }

    fn executor_message(
        &mut self,
        agent_id: AgentId,
        framework_id: FrameworkId,
        executor_id: ExecutorId,
        data: Base64Bytes,
    ) -> Vec<Effect> {
        match self.frameworks.get(&framework_id) {
            Some(fw) if fw.connected() => {
                self.counters.executor_to_framework_messages += 1;
                vec![Effect::ToFramework(
                    framework_id,
                    scheduler::Event::Message(scheduler::Message {
                        agent_id,
                        executor_id,
                        data,
                    }),
                )]
            }
            _ => Vec::new(),
        }
    }

    fn update_agent_resources(
        &mut self,
        agent_id: &AgentId,
        resources: Vec<Resource>,
    ) -> Result<Vec<Effect>, StateError> {
        let total = Resources::try_from_vec(resources.clone())
            .map_err(|e| StateError::Invalid(format!("invalid agent resources: {e}")))?;
        let mut effects = Vec::new();
        // Outstanding offers may no longer fit: take them back.
        let offers: Vec<_> = self.agents[agent_id].offers.iter().cloned().collect();
        for offer in offers {
            effects.extend(self.remove_offer(&offer, true));
        }
        let agent = self.agents.get_mut(agent_id).expect("checked");
        agent.set_total(total);
        agent.info.resources = resources;
        effects.push(Effect::Persist(Record::Agent(agent.record())));
        effects.push(Effect::Allocate);
        Ok(effects)
    }

    /// The agent's stream closed. It stays registered (no offers) until it
    /// comes back or its heartbeat timeout passes.
    pub fn agent_stream_closed(
        &mut self,
        agent_id: &AgentId,
        stream: &str,
        clock: Clock,
    ) -> Vec<Effect> {
        let _ = clock;
        let Some(agent) = self.agents.get_mut(agent_id) else {
            return Vec::new();
        };
        if agent.stream.as_deref() != Some(stream) {
            return Vec::new();
        }
        agent.stream = None;
        if agent.state == AgentState::Active {
            agent.state = AgentState::Disconnected;
        }
        let offers: Vec<_> = agent.offers.iter().cloned().collect();
        let mut effects = Vec::new();
        for offer in offers {
            effects.extend(self.remove_offer(&offer, true));
        }
        effects
    }

    /// Missed heartbeats: its tasks become TASK_UNREACHABLE (TASK_LOST for
    /// frameworks that are not partition-aware), its offers are rescinded.
    pub fn mark_unreachable(&mut self, agent_id: &AgentId, clock: Clock) -> Vec<Effect> {
        let mut effects = Vec::new();
        let Some(agent) = self.agents.get_mut(agent_id) else {
            return effects;
        };
        tracing::warn!(agent = %agent_id, "agent missed its heartbeats; marking it unreachable");
        agent.state = AgentState::Unreachable;
        agent.unreachable_time = Some(clock.unix);
        if let Some(stream) = agent.stream.take() {
            effects.push(Effect::CloseStream(stream));
        }
        self.counters.agents_unreachable += 1;
        let offers: Vec<_> = agent.offers.iter().cloned().collect();
        let tasks: Vec<_> = agent.tasks.iter().cloned().collect();
        let record = agent.record();
        for offer in offers {
            effects.extend(self.remove_offer(&offer, true));
        }
        for (fid, tid) in tasks {
            let live = self
                .frameworks
                .get(&fid)
                .and_then(|f| f.tasks.get(&tid))
                .is_some_and(|t| !t.state.is_terminal());
            if !live {
                continue;
            }
            let mut status = self.master_status(
                &tid,
                Some(agent_id),
                TaskState::Unreachable,
                Reason::AgentRemoved,
                format!("Agent {agent_id} is unreachable"),
                true,
                clock,
            );
            status.unreachable_time = Some(TimeInfo::from_secs_f64(clock.unix));
            effects.extend(self.apply_master_status(&fid, status));
        }
        effects.push(Effect::Persist(Record::Agent(record)));
        if self.operator_events {
            effects.push(Effect::Operator(operator::Event::AgentRemoved(
                operator::AgentRemoved {
                    agent_id: agent_id.clone(),
                },
            )));
        }
        effects
    }

    /// MARK_AGENT_GONE: its tasks become TASK_GONE_BY_OPERATOR (TASK_LOST
    /// for frameworks that are not partition-aware) and it is told to shut
    /// down; it may never come back with this id.
    pub fn mark_agent_gone(
        &mut self,
        agent_id: &AgentId,
        clock: Clock,
    ) -> Result<Vec<Effect>, StateError> {
        let agent = self
            .agents
            .get_mut(agent_id)
            .ok_or_else(|| StateError::AgentNotFound(agent_id.clone()))?;
        let mut effects = Vec::new();
        if agent.state == AgentState::Gone {
            return Ok(effects);
        }
        agent.state = AgentState::Gone;
        if let Some(stream) = agent.stream.take() {
            effects.push(Effect::ToAgentStream(
                stream.clone(),
                agent::Event::Shutdown {
                    message: "the operator marked this agent gone".into(),
                },
            ));
            effects.push(Effect::CloseStream(stream));
        }
        self.counters.agent_removals += 1;
        let offers: Vec<_> = agent.offers.iter().cloned().collect();
        let tasks: Vec<_> = agent.tasks.iter().cloned().collect();
        let record = agent.record();
        for offer in offers {
            effects.extend(self.remove_offer(&offer, true));
        }
        for (fid, tid) in tasks {
            let live = self
                .frameworks
                .get(&fid)
                .and_then(|f| f.tasks.get(&tid))
                .is_some_and(|t| !t.state.is_terminal());
            if live {
                let status = self.master_status(
                    &tid,
                    Some(agent_id),
                    TaskState::GoneByOperator,
                    Reason::AgentRemovedByOperator,
                    format!("Agent {agent_id} was marked gone by the operator"),
                    true,
                    clock,
                );
                effects.extend(self.apply_master_status(&fid, status));
            }
            self.complete_task(&fid, &tid);
        }
        effects.push(Effect::Persist(Record::Agent(record)));
        if self.operator_events {
            effects.push(Effect::Operator(operator::Event::AgentRemoved(
                operator::AgentRemoved {
                    agent_id: agent_id.clone(),
                },
            )));
        }
        Ok(effects)
    }

    /// DRAIN_AGENT: the agent becomes DRAINING (deactivated, its offers
    /// rescinded) and is told to kill every task (`Event::Drain`, again
    /// whenever it re-registers). Once none of its tasks is left (each
    /// terminal and acknowledged, see [`State::check_drained`]) it is
    /// DRAINED, and with `mark_gone` then marked gone. Draining an agent
    /// that is already draining or drained only replaces the config.
    pub fn drain_agent(
        &mut self,
        agent_id: &AgentId,
        config: DrainConfig,
        clock: Clock,
    ) -> Result<Vec<Effect>, StateError> {
        let agent = self
            .agents
            .get_mut(agent_id)
            .ok_or_else(|| StateError::AgentNotFound(agent_id.clone()))?;
        if agent.state == AgentState::Gone {
            return Err(StateError::AgentGone(agent_id.clone()));
        }
        if config.max_grace_period.is_some_and(|d| d.nanoseconds < 0) {
            return Err(StateError::Invalid(
                "DrainConfig.max_grace_period must not be negative".into(),
            ));
        }
        let state = match agent.drain {
            Some(DrainInfo {
                state: DrainState::Drained,
                ..
            }) => DrainState::Drained,
            _ => DrainState::Draining,
        };
        agent.drain = Some(DrainInfo { state, config });
        agent.deactivated = true;
        let mut effects = vec![Effect::ToAgent(
            agent_id.clone(),
            agent::Event::Drain {
                max_grace_period_seconds: drain_grace(agent.drain.as_ref()),
            },
        )];
        let offers: Vec<_> = agent.offers.iter().cloned().collect();
        let record = agent.record();
        for offer in offers {
            effects.extend(self.remove_offer(&offer, true));
        }
        effects.push(Effect::Persist(Record::Agent(record)));
        effects.extend(self.check_drained(agent_id, clock));
        Ok(effects)
    }

    /// A DRAINING agent none of whose tasks is left (all terminal and
    /// acknowledged) becomes DRAINED, and is marked gone if its drain
    /// config says so. Called after whatever removes a task from an agent.
    pub(crate) fn check_drained(&mut self, agent_id: &AgentId, clock: Clock) -> Vec<Effect> {
        let Some(agent) = self.agents.get_mut(agent_id) else {
            return Vec::new();
        };
        let Some(drain) = agent.drain.as_mut() else {
            return Vec::new();
        };
        if drain.state != DrainState::Draining || !agent.tasks.is_empty() {
            return Vec::new();
        }
        drain.state = DrainState::Drained;
        let mark_gone = drain.config.mark_gone.unwrap_or(false);
        tracing::info!(agent = %agent_id, mark_gone, "agent drained");
        let mut effects = vec![Effect::Persist(Record::Agent(agent.record()))];
        if mark_gone {
            effects.extend(self.mark_agent_gone(agent_id, clock).unwrap_or_default());
        }
        effects
    }

    /// DEACTIVATE_AGENT (`active = false`) and REACTIVATE_AGENT (`true`).
    pub fn set_agent_active(
        &mut self,
        agent_id: &AgentId,
        active: bool,
    ) -> Result<Vec<Effect>, StateError> {
        let agent = self
            .agents
            .get_mut(agent_id)
            .ok_or_else(|| StateError::AgentNotFound(agent_id.clone()))?;
        if agent.state == AgentState::Gone {
            return Err(StateError::AgentGone(agent_id.clone()));
        }
        agent.deactivated = !active;
        if active {
            agent.drain = None;
        }
        let offers: Vec<_> = if active {
            Vec::new()
        } else {
            agent.offers.iter().cloned().collect()
        };
        let record = agent.record();
        let mut effects = Vec::new();
        for offer in offers {
            effects.extend(self.remove_offer(&offer, true));
        }
        effects.push(Effect::Persist(Record::Agent(record)));
        effects.push(Effect::Allocate);
        Ok(effects)
    }
}

fn drain_grace(drain: Option<&DrainInfo>) -> Option<f64> {
    drain
        .and_then(|d| d.config.max_grace_period)
        .map(|d| d.to_duration().as_secs_f64())
}
