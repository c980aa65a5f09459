//! Framework inputs: SUBSCRIBE (new or failover), a closed stream, and
//! every scheduler call but ACCEPT (see `accept.rs`): TEARDOWN, DECLINE,
//! REVIVE, SUPPRESS, KILL, SHUTDOWN, ACKNOWLEDGE, RECONCILE, MESSAGE,
//! UPDATE_FRAMEWORK; and the removal of a framework (teardown or failover
//! timeout).

use dcos_api::agent;
use dcos_api::operator;
use dcos_api::resources::Resources;
use dcos_api::scheduler::{self, CallBody};
use dcos_api::v1::{
    AgentId, Filters, FrameworkId, FrameworkInfo, OfferId, Reason, TaskId, TaskState, TimeInfo,
    UNRESERVED_ROLE,
};

use super::{
    new_framework, secs, AgentState, Clock, Effect, Record, State, StateError, StreamId,
    MAX_COMPLETED_FRAMEWORKS,
};
use crate::allocator::OfferFilter;

/// Checks a subscribing FrameworkInfo (Mesos' `validateFrameworkInfo`,
/// the parts that matter here).
pub fn validate_framework_info(info: &FrameworkInfo) -> Result<(), StateError> {
    if info.name.is_empty() {
        return Err(StateError::Invalid("FrameworkInfo.name must be set".into()));
    }
    let multi = info.has_capability(dcos_api::v1::FrameworkCapabilityType::MultiRole);
    if multi && info.role.is_some() {
        return Err(StateError::Invalid(
            "'FrameworkInfo.role' must not be set when the MULTI_ROLE capability is present".into(),
        ));
    }
    if !multi && !info.roles.is_empty() {
        return Err(StateError::Invalid(
            "'FrameworkInfo.roles' must not be set without the MULTI_ROLE capability".into(),
        ));
    }
    for role in info.effective_roles() {
        validate_role(&role)?;
    }
    if info
        .failover_timeout
        .is_some_and(|t| !t.is_finite() || t < 0.0)
    {
        return Err(StateError::Invalid(
            "FrameworkInfo.failover_timeout must be a non-negative number".into(),
        ));
    }
    Ok(())
}

/// Mesos' role rules: a path of `/`-separated components, none empty,
/// `.` or `..`, none starting with `-`; no whitespace, control
/// characters or backslashes; `*` only as the whole role.
pub(crate) fn validate_role(role: &str) -> Result<(), StateError> {
    let bad = role.is_empty()
        || role
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == ".." || c.starts_with('-'))
        || role
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '\\');
    if bad || (role.contains('*') && role != UNRESERVED_ROLE) {
        return Err(StateError::Invalid(format!("Role '{role}' is invalid")));
    }
    Ok(())
}

impl State {
    /// SUBSCRIBE: a new framework, or a known one failing over (it keeps
    /// its tasks; the old stream, if any, gets an ERROR and is closed).
    /// The effects start with SUBSCRIBED.
    pub fn subscribe(
        &mut self,
        subscribe: scheduler::Subscribe,
        stream: StreamId,
        heartbeat_interval: f64,
        clock: Clock,
    ) -> Result<(FrameworkId, Vec<Effect>), StateError> {
        let info = subscribe.framework_info;
        validate_framework_info(&info)?;
        let mut effects = Vec::new();
        let id = match &info.id {
            Some(id) if self.removed_frameworks.contains(id) => {
                return Err(StateError::FrameworkRemoved(id.clone()))
            }
            Some(id) => id.clone(),
            None => self.new_framework_id(),
        };
        let added;
        if let Some(fw) = self.frameworks.get_mut(&id) {
            added = fw.recovered;
            if let Some(old) = fw.stream.replace(stream.clone()) {
                effects.push(Effect::ToFrameworkStream(
                    old.clone(),
                    scheduler::Event::Error(scheduler::Error {
                        message: "Framework failed over".into(),
                    }),
                ));
                effects.push(Effect::CloseStream(old));
            }
            let mut info = info;
            info.id = Some(id.clone());
            fw.roles = info.effective_roles();
            fw.info = info;
            fw.recovered = false;
            fw.failover_deadline = None;
            fw.reregistered_time = Some(clock.unix);
            fw.suppressed = subscribe.suppressed_roles.iter().cloned().collect();
            // Outstanding offers went to the old scheduler instance.
            let offers: Vec<OfferId> = fw.offers.iter().cloned().collect();
            for offer in offers {
                effects.extend(self.remove_offer(&offer, false));
            }
        } else {
            added = true;
            let mut fw = new_framework(id.clone(), info, clock.unix);
            fw.stream = Some(stream);
            fw.suppressed = subscribe.suppressed_roles.iter().cloned().collect();
            self.frameworks.insert(id.clone(), fw);
        }
        let fw = &self.frameworks[&id];
        effects.insert(
            0,
            Effect::ToFramework(
                id.clone(),
                scheduler::Event::Subscribed(scheduler::Subscribed {
                    framework_id: id.clone(),
                    heartbeat_interval_seconds: Some(heartbeat_interval),
                    master_info: Some(self.master_info.clone()),
                }),
            ),
        );
        effects.push(Effect::Persist(Record::Framework(fw.record(false))));
        if self.operator_events {
            let framework = crate::views::operator_framework(fw);
            effects.push(Effect::Operator(if added {
                operator::Event::FrameworkAdded(operator::FrameworkAdded { framework })
            } else {
                operator::Event::FrameworkUpdated(operator::FrameworkUpdated { framework })
            }));
        }
        effects.push(Effect::Allocate);
        Ok((id, effects))
    }

    /// The framework's stream closed: it gets no offers (outstanding ones
    /// are withdrawn) and its failover timeout starts.
    pub fn framework_stream_closed(
        &mut self,
        framework_id: &FrameworkId,
        stream: &str,
        clock: Clock,
    ) -> Vec<Effect> {
        let Some(fw) = self.frameworks.get_mut(framework_id) else {
            return Vec::new();
        };
        if fw.stream.as_deref() != Some(stream) {
            return Vec::new();
        }
        fw.stream = None;
        fw.unregistered_time = Some(clock.unix);
        fw.failover_deadline = Some(clock.now + secs(fw.info.failover_timeout()));
        let offers: Vec<OfferId> = fw.offers.iter().cloned().collect();
        let mut effects = Vec::new();
        for offer in offers {
            effects.extend(self.remove_offer(&offer, false));
        }
        if self.operator_events {
            let framework = crate::views::operator_framework(&self.frameworks[framework_id]);
            effects.push(Effect::Operator(operator::Event::FrameworkUpdated(
                operator::FrameworkUpdated { framework },
            )));
        }
        effects
    }

    /// Checks that a call comes on the framework's current stream.
    pub fn check_framework_stream(
        &self,
        framework_id: &FrameworkId,
        stream: Option<&str>,
    ) -> Result<(), StateError> {
        let fw = self
            .frameworks
            .get(framework_id)
            .ok_or_else(|| StateError::FrameworkNotFound(framework_id.clone()))?;
        let current = fw
            .stream
            .as_deref()
            .ok_or_else(|| StateError::NotSubscribed(framework_id.clone()))?;
        match stream {
            Some(s) if s == current => Ok(()),
            other => Err(StateError::StreamMismatch {
                stream: other.unwrap_or_default().to_owned(),
                framework: framework_id.clone(),
            }),
        }
    }

    /// Every scheduler call but SUBSCRIBE, from a checked stream.
    pub fn scheduler_call(
        &mut self,
        framework_id: &FrameworkId,
        body: CallBody,
        clock: Clock,
    ) -> Result<Vec<Effect>, StateError> {
        let kind = body.kind();
        match body {
            CallBody::Subscribe(_) => {
                Err(StateError::Invalid("SUBSCRIBE is not handled here".into()))
            }
            CallBody::Teardown => Ok(self.remove_framework(framework_id, clock)),
            CallBody::Accept(accept) => Ok(self.accept(framework_id, accept, clock)),
            CallBody::Decline(decline) => {
                Ok(self.decline(framework_id, &decline.offer_ids, decline.filters, clock))
            }
            CallBody::Revive(revive) => Ok(self.revive(framework_id, &revive.roles)),
            CallBody::Suppress(suppress) => Ok(self.suppress(framework_id, &suppress.roles)),
            CallBody::Kill(kill) => Ok(self.kill(framework_id, kill, clock)),
            CallBody::Shutdown(shutdown) => Ok(self.shutdown_executor(framework_id, shutdown)),
            CallBody::Acknowledge(ack) => self.acknowledge(framework_id, ack, clock),
            CallBody::Reconcile(reconcile) => {
                Ok(self.reconcile(framework_id, &reconcile.tasks, clock))
            }
            CallBody::Message(message) => Ok(self.framework_message(framework_id, message)),
            CallBody::UpdateFramework(update) => self.update_framework(framework_id, update),
            CallBody::Request(_) => Ok(Vec::new()), // ignored, as Mesos' allocator does
            CallBody::AcceptInverseOffers(_)
            | CallBody::DeclineInverseOffers(_)
            | CallBody::AcknowledgeOperationStatus(_)
            | CallBody::ReconcileOperations(_) => Err(StateError::Invalid(format!(
                "{kind} is not supported by this master"
            ))),
        }
    }

    /// Removes a framework (TEARDOWN, or failover timeout): agents shut it
    /// down, its tasks are completed as killed, its offers withdrawn, and
    /// it may never re-subscribe.
    pub fn remove_framework(&mut self, framework_id: &FrameworkId, clock: Clock) -> Vec<Effect> {
        let mut effects = Vec::new();
        let Some(fw) = self.frameworks.get(framework_id) else {
            return effects;
        };
        tracing::info!(framework = %framework_id, "removing framework");
        let offers: Vec<OfferId> = fw.offers.iter().cloned().collect();
        let tasks: Vec<(TaskId, AgentId)> = fw
            .tasks
            .values()
            .map(|t| (t.task_id.clone(), t.agent_id.clone()))
            .collect();
        let stream = fw.stream.clone();
        for offer in offers {
            effects.extend(self.remove_offer(&offer, false));
        }
        let mut agents: Vec<AgentId> = tasks.iter().map(|(_, a)| a.clone()).collect();
        agents.extend(
            self.agents
                .values()
                .filter(|a| a.executors.iter().any(|(f, _)| f == framework_id))
                .map(|a| a.id.clone()),
        );
        agents.sort();
        agents.dedup();
        for agent_id in &agents {
            effects.push(Effect::ToAgent(
                agent_id.clone(),
                agent::Event::ShutdownFramework {
                    framework_id: framework_id.clone(),
                },
            ));
        }
        let task_agents: Vec<AgentId> = tasks.iter().map(|(_, a)| a.clone()).collect();
        for (task_id, agent_id) in tasks {
            let status = self.master_status(
                &task_id,
                Some(&agent_id),
                TaskState::Killed,
                Reason::FrameworkRemoved,
                "Framework removed",
                false,
                clock,
            );
            let live = self.record_status(framework_id, &status);
            if live.is_some() && self.operator_events {
                effects.push(Effect::Operator(operator::Event::TaskUpdated(
                    operator::TaskUpdated {
                        framework_id: framework_id.clone(),
                        state: TaskState::Killed,
                        status,
                    },
                )));
            }
            self.complete_task(framework_id, &task_id);
        }
        // Every task is terminal now: its executors hold nothing more.
        for agent_id in &agents {
            self.release_idle_executors(agent_id, framework_id);
        }
        for agent_id in task_agents {
            effects.extend(self.check_drained(&agent_id, clock));
        }
        let mut fw = self.frameworks.remove(framework_id).expect("checked above");
        fw.stream = None;
        fw.unregistered_time = Some(clock.unix);
        self.removed_frameworks.insert(framework_id.clone());
        self.counters.frameworks_removed += 1;
        if let Some(stream) = stream {
            effects.push(Effect::CloseStream(stream));
        }
        effects.push(Effect::Persist(Record::Framework(fw.record(true))));
        if self.operator_events {
            effects.push(Effect::Operator(operator::Event::FrameworkRemoved(
                operator::FrameworkRemoved {
                    framework_info: fw.info.clone(),
                },
            )));
        }
        self.completed_frameworks.push_back(fw);
        while self.completed_frameworks.len() > MAX_COMPLETED_FRAMEWORKS {
            self.completed_frameworks.pop_front();
        }
        effects.push(Effect::Allocate);
        effects
    }

    /// Adds a filter refusing `resources` (unallocated) of `agent_id`.
    pub(crate) fn add_filter(
        &mut self,
        framework_id: &FrameworkId,
        agent_id: &AgentId,
        resources: Resources,
        filters: Option<Filters>,
        clock: Clock,
    ) {
        let refuse = Filters::effective_refuse_seconds(filters.as_ref());
        if refuse <= 0.0 || resources.is_empty() {
            return;
        }
        if let Some(fw) = self.frameworks.get_mut(framework_id) {
            fw.filters.push(OfferFilter {
                agent_id: agent_id.clone(),
                resources,
                until: clock.now + secs(refuse),
            });
        }
    }

    /// DECLINE: the offers' resources go back, filtered for this framework
    /// for `refuse_seconds` (default 5).
    pub fn decline(
        &mut self,
        framework_id: &FrameworkId,
        offer_ids: &[OfferId],
        filters: Option<Filters>,
        clock: Clock,
    ) -> Vec<Effect> {
        let mut effects = Vec::new();
        for offer_id in offer_ids {
            let Some(rec) = self.offers.get(offer_id) else {
                continue;
            };
            if rec.framework_id != *framework_id {
                continue;
            }
            let agent_id = rec.agent_id.clone();
            let resources = (*rec.resources).clone();
            self.counters.offers_declined += 1;
            effects.extend(self.remove_offer(offer_id, false));
            self.add_filter(framework_id, &agent_id, resources, filters, clock);
        }
        effects.push(Effect::Allocate);
        effects
    }

    /// REVIVE: clears filters and unsuppresses `roles` (all when empty).
    pub fn revive(&mut self, framework_id: &FrameworkId, roles: &[String]) -> Vec<Effect> {
        if let Some(fw) = self.frameworks.get_mut(framework_id) {
            if roles.is_empty() {
                fw.suppressed.clear();
                fw.filters.clear();
            } else {
                for role in roles {
                    fw.suppressed.remove(role);
                }
                // Filters are per agent, not per role: clear them all, so
                // the revived roles surely see offers again.
                fw.filters.clear();
            }
        }
        vec![Effect::Allocate]
    }

    /// SUPPRESS: no offers for `roles` (all when empty) until REVIVE.
    pub fn suppress(&mut self, framework_id: &FrameworkId, roles: &[String]) -> Vec<Effect> {
        if let Some(fw) = self.frameworks.get_mut(framework_id) {
            if roles.is_empty() {
                fw.suppressed = fw.roles.iter().cloned().collect();
            } else {
                fw.suppressed.extend(roles.iter().cloned());
            }
        }
        Vec::new()
    }

    /// KILL: forwarded to the task's agent; an unknown task is answered by
    /// reconciliation (TASK_LOST or the partition-aware equivalent).
    pub fn kill(
        &mut self,
        framework_id: &FrameworkId,
        kill: scheduler::Kill,
        clock: Clock,
    ) -> Vec<Effect> {
        let task = self
            .frameworks
            .get(framework_id)
            .and_then(|f| f.tasks.get(&kill.task_id))
            .map(|t| (t.agent_id.clone(), t.state));
        match task {
            None => self.reconcile(
                framework_id,
                &[scheduler::ReconcileTask {
                    task_id: kill.task_id,
                    agent_id: kill.agent_id,
                }],
                clock,
            ),
            Some((_, state)) if state.is_terminal() => Vec::new(),
            Some((agent_id, _)) => {
                let connected = self
                    .agents
                    .get(&agent_id)
                    .is_some_and(|a| a.stream.is_some());
                if !connected {
                    return Vec::new();
                }
                vec![Effect::ToAgent(
                    agent_id,
                    agent::Event::KillTask {
                        framework_id: framework_id.clone(),
                        task_id: kill.task_id,
                        kill_policy: kill.kill_policy,
                    },
                )]
            }
        }
    }

    /// SHUTDOWN of an executor: kills its tasks on its agent.
    fn shutdown_executor(
        &mut self,
        framework_id: &FrameworkId,
        shutdown: scheduler::Shutdown,
    ) -> Vec<Effect> {
        let Some(fw) = self.frameworks.get(framework_id) else {
            return Vec::new();
        };
        fw.tasks
            .values()
            .filter(|t| {
                t.agent_id == shutdown.agent_id
                    && t.executor_id.as_ref() == Some(&shutdown.executor_id)
                    && !t.state.is_terminal()
            })
            .map(|t| {
                Effect::ToAgent(
                    shutdown.agent_id.clone(),
                    agent::Event::KillTask {
                        framework_id: framework_id.clone(),
                        task_id: t.task_id.clone(),
                        kill_policy: None,
                    },
                )
            })
            .collect()
    }

    /// ACKNOWLEDGE: forwarded to the agent; a terminal task whose latest
    /// update is acknowledged leaves the live set.
    pub fn acknowledge(
        &mut self,
        framework_id: &FrameworkId,
        ack: scheduler::Acknowledge,
        clock: Clock,
    ) -> Result<Vec<Effect>, StateError> {
        if ack.uuid.len() != 16 {
            return Err(StateError::Invalid(format!(
                "Failed to validate scheduler::Call: Not a valid UUID ({} bytes)",
                ack.uuid.len()
            )));
        }
        let mut done = false;
        if let Some(task) = self
            .frameworks
            .get(framework_id)
            .and_then(|f| f.tasks.get(&ack.task_id))
        {
            done = task.state.is_terminal()
                && task.status_update_uuid.as_ref() == Some(&ack.uuid)
                && task.status_update_state.is_some_and(|s| s.is_terminal());
        }
        let mut effects = Vec::new();
        let connected = self
            .agents
            .get(&ack.agent_id)
            .is_some_and(|a| a.stream.is_some());
        if connected {
            effects.push(Effect::ToAgent(
                ack.agent_id.clone(),
                agent::Event::Acknowledge {
                    framework_id: framework_id.clone(),
                    task_id: ack.task_id.clone(),
                    uuid: ack.uuid,
                },
            ));
        }
        if done {
            self.complete_task(framework_id, &ack.task_id);
            effects.extend(self.check_drained(&ack.agent_id, clock));
        }
        Ok(effects)
    }

    /// RECONCILE: the latest state of each listed task (all live tasks when
    /// the list is empty), without uuid, reason REASON_RECONCILIATION.
    pub fn reconcile(
        &mut self,
        framework_id: &FrameworkId,
        tasks: &[scheduler::ReconcileTask],
        clock: Clock,
    ) -> Vec<Effect> {
        let Some(fw) = self.frameworks.get(framework_id) else {
            return Vec::new();
        };
        let mut statuses = Vec::new();
        if tasks.is_empty() {
            for task in fw.tasks.values().filter(|t| !t.state.is_terminal()) {
                statuses.push(latest_status(task, clock));
            }
        } else {
            let recovering = self.recovering(clock);
            for wanted in tasks {
                if let Some(task) = fw.tasks.get(&wanted.task_id) {
                    statuses.push(latest_status(task, clock));
                    continue;
                }
                let agent = wanted.agent_id.as_ref().and_then(|a| self.agents.get(a));
                if agent.is_some_and(|a| a.recovered && a.state == AgentState::Disconnected) {
                    // Its agent has not re-registered since the failover:
                    // no answer yet (Mesos answers nothing either); the
                    // framework's next reconciliation gets one.
                    continue;
                }
                let (state, message) = match agent.map(|a| a.state) {
                    Some(AgentState::Active) | Some(AgentState::Disconnected) => (
                        TaskState::Gone,
                        "Reconciliation: Task is unknown to the agent",
                    ),
                    Some(AgentState::Unreachable) => (
                        TaskState::Unreachable,
                        "Reconciliation: Task is unreachable",
                    ),
                    Some(AgentState::Gone) => {
                        (TaskState::GoneByOperator, "Reconciliation: Task is gone")
                    }
                    None if recovering => continue,
                    None => (TaskState::Unknown, "Reconciliation: Task is unknown"),
                };
                let mut status = dcos_api::v1::TaskStatus::new(wanted.task_id.clone(), state);
                status.source = Some(dcos_api::v1::Source::Master);
                status.reason = Some(Reason::Reconciliation);
                status.message = Some(message.into());
                status.agent_id = wanted.agent_id.clone();
                status.timestamp = Some(clock.unix);
                if state == TaskState::Unreachable {
                    status.unreachable_time = agent
                        .and_then(|a| a.unreachable_time)
                        .map(TimeInfo::from_secs_f64);
                }
                statuses.push(status);
            }
        }
        if !fw.connected() {
            return Vec::new();
        }
        statuses
            .into_iter()
            .map(|s| State::update_event(fw, s))
            .collect()
    }

    /// MESSAGE: best-effort delivery to an executor.
    fn framework_message(
        &mut self,
        framework_id: &FrameworkId,
        message: scheduler::Message,
    ) -> Vec<Effect> {
        let connected = self
            .agents
            .get(&message.agent_id)
            .is_some_and(|a| a.stream.is_some());
        if !connected {
            return Vec::new();
        }
        self.counters.framework_to_executor_messages += 1;
        vec![Effect::ToAgent(
            message.agent_id,
            agent::Event::FrameworkMessage {
                framework_id: framework_id.clone(),
                executor_id: message.executor_id,
                data: message.data,
            },
        )]
    }

    /// UPDATE_FRAMEWORK: a new FrameworkInfo and suppressed roles.
    fn update_framework(
        &mut self,
        framework_id: &FrameworkId,
        update: scheduler::UpdateFramework,
    ) -> Result<Vec<Effect>, StateError> {
        let mut info = update.framework_info;
        if info.id.as_ref() != Some(framework_id) {
            return Err(StateError::Invalid(
                "'framework_info.id' must be set and match the call's 'framework_id'".into(),
            ));
        }
        validate_framework_info(&info)?;
        let fw = self
            .frameworks
            .get_mut(framework_id)
            .ok_or_else(|| StateError::FrameworkNotFound(framework_id.clone()))?;
        if info.user != fw.info.user {
            return Err(StateError::Invalid(
                "Updating 'FrameworkInfo.user' is unsupported".into(),
            ));
        }
        info.id = Some(framework_id.clone());
        fw.roles = info.effective_roles();
        fw.info = info;
        fw.suppressed = update.suppressed_roles.into_iter().collect();
        let mut effects = vec![Effect::Persist(Record::Framework(fw.record(false)))];
        if self.operator_events {
            effects.push(Effect::Operator(operator::Event::FrameworkUpdated(
                operator::FrameworkUpdated {
                    framework: crate::views::operator_framework(fw),
                },
            )));
        }
        // Offers for roles it no longer has must go.
        let stale: Vec<OfferId> = fw
            .offers
            .iter()
            .filter(|o| {
                self.offers
                    .get(*o)
                    .is_some_and(|rec| !fw.roles.contains(&rec.role))
            })
            .cloned()
            .collect();
        for offer in stale {
            effects.extend(self.remove_offer(&offer, true));
        }
        effects.push(Effect::Allocate);
        Ok(effects)
    }
}

/// The latest known status of a task, as a reconciliation answer.
fn latest_status(task: &dcos_api::v1::Task, clock: Clock) -> dcos_api::v1::TaskStatus {
    let mut status = task.statuses.last().cloned().unwrap_or_else(|| {
        let mut s = dcos_api::v1::TaskStatus::new(task.task_id.clone(), task.state);
        s.source = Some(dcos_api::v1::Source::Master);
        s
    });
    status.state = task.state;
    status.uuid = None;
    status.reason = Some(Reason::Reconciliation);
    status.message = Some("Reconciliation: Latest task state".into());
    status.agent_id = Some(task.agent_id.clone());
    status.timestamp = Some(clock.unix);
    status
}

#[cfg(test)]
mod role_tests {
    use super::validate_role;

    #[test]
    fn roles_follow_mesos_rules_in_every_path_component() {
        for good in ["*", "dev", "team/web", "a.b/c-d", "x_1"] {
            assert!(validate_role(good).is_ok(), "{good}");
        }
        for bad in [
            "", ".", "..", "../x", "a/../b", "a/./b", "a/..", "-a", "a/-b", "/a", "a/", "a//b",
            "a b", "a\\b", "a*", "*/x",
        ] {
            assert!(validate_role(bad).is_err(), "{bad:?} accepted");
        }
    }
}
