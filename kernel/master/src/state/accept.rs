//! ACCEPT: validating the offers and each task against what was offered,
//! then launching (task TASK_STAGING, RunTask/RunTaskGroup to the agent).
//! Bad offers drop every task of the call (TASK_DROPPED, or TASK_LOST for
//! frameworks that are not partition-aware, reason REASON_INVALID_OFFERS);
//! a bad task gets TASK_ERROR (REASON_TASK_INVALID, or
//! REASON_TASK_GROUP_INVALID for the whole group) and the others go on.
//! Whatever the operations leave unused goes back, filtered for
//! `refuse_seconds`.

use std::collections::HashSet;

use dcos_api::agent;
use dcos_api::operator;
use dcos_api::resources::{self, Resources};
use dcos_api::scheduler;
use dcos_api::v1::{
    AgentId, ExecutorInfo, ExecutorType, FrameworkId, Operation, Reason, Task, TaskId, TaskInfo,
    TaskState,
};

use super::{Agent, Clock, Effect, Framework, State};

/// Checks one task against the framework, the offers' agent and what is
/// left of the offered resources (allocated to `role`). Returns the task's
/// resources in allocated form (plus its executor's when the executor is
/// new on the agent), to be subtracted from what is left.
pub fn validate_task(
    task: &TaskInfo,
    in_group: bool,
    fw: &Framework,
    agent: &Agent,
    role: &str,
    seen: &HashSet<TaskId>,
    remaining: &Resources,
) -> Result<Resources, String> {
    let id = task.task_id.as_str();
    if id.is_empty() {
        return Err("Task ID must not be empty".into());
    }
    if id.contains('/') || id.contains('\0') || id == "." || id == ".." {
        return Err(format!("TaskID '{id}' contains invalid characters"));
    }
    if seen.contains(&task.task_id)
        || fw
            .tasks
            .get(&task.task_id)
            .is_some_and(|t| !t.state.is_terminal())
    {
        return Err(format!("Task has duplicate ID: {id}"));
    }
    if task.agent_id != agent.id {
        return Err(format!(
            "Task uses agent ID {} which does not match the offered agent {}",
            task.agent_id, agent.id
        ));
    }
    task.validate_shape(in_group).map_err(|e| e.to_string())?;
    if in_group && task.executor.is_some() {
        return Err(format!("Task {id} in a task group must not set 'executor'"));
    }
    let mut needed = allocated(&task.resources, role)?;
    if let Some(executor) = &task.executor {
        if executor.framework_id.as_ref().is_some_and(|f| *f != fw.id) {
            return Err(format!(
                "ExecutorInfo has an invalid FrameworkID (actual: {}, expected: {})",
                executor
                    .framework_id
                    .as_ref()
                    .map(|f| f.as_str())
                    .unwrap_or(""),
                fw.id
            ));
        }
        if !executor_running(agent, &fw.id, executor) {
            needed += &allocated(&executor.resources, role)?;
        }
    }
    if needed.is_empty() && task.executor.is_none() && !in_group {
        return Err("Task uses no resources".into());
    }
    if !remaining.contains(&needed) {
        return Err(format!(
            "Task uses more resources {} than available {}",
            needed.unallocate(),
            remaining.unallocate()
        ));
    }
    Ok(needed)
}

/// The resources, validated, in allocated form (`allocation_info.role`
/// set to `role` where the framework left it out).
fn allocated(resources: &[dcos_api::v1::Resource], role: &str) -> Result<Resources, String> {
    let mut out = Resources::new();
    for r in resources {
        resources::validate(r).map_err(|e| e.to_string())?;
        let mut r = r.clone();
        if r.allocation_info.is_none() {
            r = r.allocated_to(role);
        }
        out.push(r);
    }
    Ok(out)
}

fn executor_running(agent: &Agent, framework_id: &FrameworkId, executor: &ExecutorInfo) -> bool {
    agent
        .executors
        .iter()
        .any(|(f, e)| f == framework_id && e.executor_id == executor.executor_id)
}

impl State {
    /// ACCEPT (see the module docs).
    pub fn accept(
        &mut self,
        framework_id: &FrameworkId,
        accept: scheduler::Accept,
        clock: Clock,
    ) -> Vec<Effect> {
        let mut effects = Vec::new();
        let tasks_of = |op: &Operation| -> Vec<TaskId> {
            match op {
                Operation::Launch(l) => l.task_infos.iter().map(|t| t.task_id.clone()).collect(),
                Operation::LaunchGroup(g) => g
                    .task_group
                    .tasks
                    .iter()
                    .map(|t| t.task_id.clone())
                    .collect(),
                _ => Vec::new(),
            }
        };

        // 1. The offers: exist, are this framework's, once each, one agent.
        let mut error = None;
        let mut seen = HashSet::new();
        let mut agent_id: Option<AgentId> = None;
        if accept.offer_ids.is_empty() {
            error = Some("No offers specified".to_string());
        }
        for offer_id in &accept.offer_ids {
            if !seen.insert(offer_id.clone()) {
                error.get_or_insert_with(|| format!("Duplicate offer {offer_id} in the same call"));
                continue;
            }
            match self.offers.get(offer_id) {
                None => {
                    error.get_or_insert_with(|| format!("Offer {offer_id} is no longer valid"));
                }
                Some(rec) if rec.framework_id != *framework_id => {
                    error.get_or_insert_with(|| format!("Offer {offer_id} has invalid framework"));
                }
                Some(rec) => match &agent_id {
                    None => agent_id = Some(rec.agent_id.clone()),
                    Some(a) if *a != rec.agent_id => {
                        error.get_or_insert_with(|| {
                            "Aggregated offers must belong to one single agent".to_string()
                        });
                    }
                    Some(_) => {}
                },
            }
        }
        // Every valid offer of this framework named here is used up.
        let mut offered = Resources::new();
        for offer_id in &seen {
            let ours = self
                .offers
                .get(offer_id)
                .is_some_and(|r| r.framework_id == *framework_id);
            if ours {
                offered += &*self.offers[offer_id].resources;
                effects.extend(self.remove_offer(offer_id, false));
            }
        }
        if error.is_none() {
            let usable = agent_id
                .as_ref()
                .and_then(|a| self.agents.get(a))
                .is_some_and(|a| a.state == super::AgentState::Active);
            if !usable {
                error = Some("The offers' agent is no longer available".into());
            }
        }
        if let Some(error) = error {
            for op in &accept.operations {
                for task_id in tasks_of(&op.operation) {
                    let status = self.master_status(
                        &task_id,
                        agent_id.as_ref(),
                        TaskState::Dropped,
                        Reason::InvalidOffers,
                        format!("Task launched with invalid offers: {error}"),
                        true,
                        clock,
                    );
                    if let Some(fw) = self.frameworks.get(framework_id) {
                        effects.push(State::update_event(fw, status));
                    }
                }
            }
            effects.push(Effect::Allocate);
            return effects;
        }
        let agent_id = agent_id.expect("no error means one agent");
        self.counters.offers_accepted += seen.len() as u64;
        let role = offered
            .iter()
            .find_map(|r| r.allocation_role().map(str::to_owned))
            .or_else(|| {
                self.frameworks
                    .get(framework_id)
                    .and_then(|f| f.roles.first().cloned())
            })
            .unwrap_or_else(|| dcos_api::v1::UNRESERVED_ROLE.to_owned());

        // 2. The operations, in order, against what is left.
        let mut remaining = offered;
        let mut launched: HashSet<TaskId> = HashSet::new();
        for op in accept.operations {
            match op.operation {
                Operation::Launch(launch) => {
                    for task in launch.task_infos {
                        let checked = {
                            let fw = &self.frameworks[framework_id];
                            let agent = &self.agents[&agent_id];
                            validate_task(&task, false, fw, agent, &role, &launched, &remaining)
                        };
                        match checked {
                            Err(message) => {
                                effects.extend(self.task_error(
                                    framework_id,
                                    &task.task_id,
                                    &agent_id,
                                    Reason::TaskInvalid,
                                    message,
                                    clock,
                                ));
                            }
                            Ok(needed) => {
                                remaining -= &needed;
                                launched.insert(task.task_id.clone());
                                effects.extend(self.launch(framework_id, &role, task, None));
                            }
                        }
                    }
                }
                Operation::LaunchGroup(group) => {
                    let ids: Vec<TaskId> = group
                        .task_group
                        .tasks
                        .iter()
                        .map(|t| t.task_id.clone())
                        .collect();
                    let checked = self.validate_group(
                        framework_id,
                        &agent_id,
                        &role,
                        &group.executor,
                        &group.task_group.tasks,
                        &launched,
                        &remaining,
                    );
                    match checked {
                        Err(message) => {
                            for id in ids {
                                effects.extend(self.task_error(
                                    framework_id,
                                    &id,
                                    &agent_id,
                                    Reason::TaskGroupInvalid,
                                    message.clone(),
                                    clock,
                                ));
                            }
                        }
                        Ok(needed) => {
                            remaining -= &needed;
                            launched.extend(ids);
                            effects.extend(self.launch_group(
                                framework_id,
                                &agent_id,
                                &role,
                                group.executor,
                                group.task_group,
                            ));
                        }
                    }
                }
                other => {
                    tracing::warn!(
                        framework = %framework_id,
                        operation = %other.kind(),
                        "offer operation not supported by this master; ignored"
                    );
                }
            }
        }

        // 3. What is left goes back, filtered.
        let leftover = remaining.unallocate();
        self.add_filter(framework_id, &agent_id, leftover, accept.filters, clock);
        effects.push(Effect::Allocate);
        effects
    }

    #[allow(clippy::too_many_arguments)]
    fn validate_group(
        &self,
        framework_id: &FrameworkId,
        agent_id: &AgentId,
        role: &str,
        executor: &ExecutorInfo,
        tasks: &[TaskInfo],
        launched: &HashSet<TaskId>,
        remaining: &Resources,
    ) -> Result<Resources, String> {
        let fw = &self.frameworks[framework_id];
        let agent = &self.agents[agent_id];
        if tasks.is_empty() {
            return Err("Task group must not be empty".into());
        }
        if executor.effective_kind() != ExecutorType::Default {
            return Err("The executor of a task group must be of type DEFAULT".into());
        }
        if executor
            .framework_id
            .as_ref()
            .is_some_and(|f| f != framework_id)
        {
            return Err("ExecutorInfo has an invalid FrameworkID".into());
        }
        let mut seen = launched.clone();
        let mut needed = Resources::new();
        if !executor_running(agent, framework_id, executor) {
            needed += &allocated(&executor.resources, role)?;
        }
        for task in tasks {
            let left = remaining - &needed;
            // Tasks in a group need no own resources check here beyond
            // containment of the sum, done below.
            let own = validate_task(task, true, fw, agent, role, &seen, &left)?;
            needed += &own;
            seen.insert(task.task_id.clone());
        }
        if !remaining.contains(&needed) {
            return Err(format!(
                "Task group uses more resources {} than available {}",
                needed.unallocate(),
                remaining.unallocate()
            ));
        }
        Ok(needed)
    }

    fn task_error(
        &mut self,
        framework_id: &FrameworkId,
        task_id: &TaskId,
        agent_id: &AgentId,
        reason: Reason,
        message: String,
        clock: Clock,
    ) -> Vec<Effect> {
        let status = self.master_status(
            task_id,
            Some(agent_id),
            TaskState::Error,
            reason,
            message,
            true,
            clock,
        );
        *self
            .counters
            .terminal
            .entry(TaskState::Error.as_str())
            .or_default() += 1;
        match self.frameworks.get(framework_id) {
            Some(fw) => vec![State::update_event(fw, status)],
            None => Vec::new(),
        }
    }

    /// Records a valid task (TASK_STAGING) and sends it to its agent.
    fn launch(
        &mut self,
        framework_id: &FrameworkId,
        role: &str,
        mut task: TaskInfo,
        group_executor: Option<&ExecutorInfo>,
    ) -> Vec<Effect> {
        let mut effects = Vec::new();
        task.resources = allocated(&task.resources, role)
            .map(Resources::into_vec)
            .unwrap_or_default();
        let agent_id = task.agent_id.clone();
        if let Some(executor) = task.executor.as_mut() {
            executor.framework_id = Some(framework_id.clone());
            executor.resources = allocated(&executor.resources, role)
                .map(Resources::into_vec)
                .unwrap_or_default();
            let executor = executor.clone();
            self.note_executor(&agent_id, framework_id, executor);
        }
        let mut record = Task::from_task_info(&task, framework_id.clone());
        if let Some(executor) = group_executor {
            record.executor_id = Some(executor.executor_id.clone());
        }
        if record.user.is_none() {
            record.user = self
                .frameworks
                .get(framework_id)
                .map(|f| f.info.user.clone());
        }
        self.add_task(record.clone());
        self.counters.tasks_launched += 1;
        if self.operator_events {
            effects.push(Effect::Operator(operator::Event::TaskAdded(
                operator::TaskAdded { task: record },
            )));
        }
        if group_executor.is_none() {
            let framework = self.frameworks[framework_id].info.clone();
            effects.push(Effect::ToAgent(
                agent_id,
                agent::Event::RunTask { framework, task },
            ));
        }
        effects
    }

    fn launch_group(
        &mut self,
        framework_id: &FrameworkId,
        agent_id: &AgentId,
        role: &str,
        mut executor: ExecutorInfo,
        mut group: dcos_api::v1::TaskGroupInfo,
    ) -> Vec<Effect> {
        let mut effects = Vec::new();
        executor.framework_id = Some(framework_id.clone());
        executor.kind = Some(ExecutorType::Default);
        executor.resources = allocated(&executor.resources, role)
            .map(Resources::into_vec)
            .unwrap_or_default();
        self.note_executor(agent_id, framework_id, executor.clone());
        for task in &mut group.tasks {
            task.resources = allocated(&task.resources, role)
                .map(Resources::into_vec)
                .unwrap_or_default();
            effects.extend(self.launch(framework_id, role, task.clone(), Some(&executor)));
        }
        let framework = self.frameworks[framework_id].info.clone();
        effects.push(Effect::ToAgent(
            agent_id.clone(),
            agent::Event::RunTaskGroup {
                framework,
                executor,
                task_group: group,
            },
        ));
        effects
    }

    fn note_executor(&mut self, agent_id: &AgentId, framework_id: &FrameworkId, e: ExecutorInfo) {
        self.add_executor(agent_id, framework_id, e);
    }
}
