//! [`SchedulerHandle`]: the calls a subscribed framework makes. Each POSTs
//! one [`Call`] to the master of the current session with its
//! `Mesos-Stream-Id`, and maps the answer: `202`/`200` is success, `307`
//! means that master lost leadership (the handle tells the session task to
//! resubscribe), anything else is [`ClientError::Rejected`] with the
//! master's error text. Calls are never queued or retried here: while the
//! SDK is reconnecting they fail with [`ClientError::NotConnected`], and
//! the framework decides (offers are void after a reconnect anyway).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::StatusCode;

use super::{ClientError, MasterUrl, Session, Shared};
use crate::scheduler::{
    Accept, Acknowledge, Call, CallBody, Decline, Kill, Message, Reconcile, ReconcileOperation,
    ReconcileOperations, ReconcileOperationsResponse, ReconcileTask, Response, Revive, Shutdown,
    Suppress, UpdateFramework,
};
use crate::v1::{
    AgentId, Base64Bytes, ExecutorId, Filters, FrameworkId, FrameworkInfo, KillPolicy, OfferId,
    OfferOperation, TaskId, TaskInfo, TaskStatus,
};

/// The header naming the subscription a call belongs to.
pub(crate) const STREAM_ID_HEADER: &str = "Mesos-Stream-Id";

/// Longest error text kept from a master's answer.
const MAX_ERROR_TEXT: usize = 4096;

/// Makes scheduler calls on the current subscription. Cheap to clone; all
/// clones share the session of the [`super::Scheduler`] that made them.
#[derive(Debug, Clone)]
pub struct SchedulerHandle {
    shared: Arc<Shared>,
}

impl SchedulerHandle {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// The framework's ID once the master has assigned one (it survives
    /// disconnects).
    pub fn framework_id(&self) -> Option<FrameworkId> {
        self.shared.framework.lock().unwrap().id.clone()
    }

    /// The master of the current session, if subscribed.
    pub fn master(&self) -> Option<MasterUrl> {
        self.shared
            .session
            .borrow()
            .as_ref()
            .map(|s| s.master.clone())
    }

    /// Whether a subscription is up right now.
    pub fn is_connected(&self) -> bool {
        self.shared.session.borrow().is_some()
    }

    /// Whether [`SchedulerConfig::auto_acknowledge`](super::SchedulerConfig::auto_acknowledge) is on.
    pub fn auto_acknowledge(&self) -> bool {
        self.shared.config.auto_acknowledge
    }

    /// Waits until subscribed (returns at once if already), at most
    /// `timeout`. Fails with [`ClientError::Closed`] if the SDK stops.
    pub async fn wait_connected(&self, timeout: Duration) -> Result<FrameworkId, ClientError> {
        let mut session = self.shared.session.subscribe();
        let mut closed = self.shared.closed.subscribe();
        let wait = async {
            tokio::select! {
                s = session.wait_for(Option::is_some) => match s {
                    Ok(s) => Ok(s.as_ref().map(|s| s.framework_id.clone()).unwrap_or_default()),
                    Err(_) => Err(ClientError::Closed),
                },
                _ = closed.wait_for(|c| *c) => Err(ClientError::Closed),
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .map_err(|_| ClientError::Timeout(timeout))?
    }

    /// Sends any call and returns the master's synchronous [`Response`],
    /// if it sent one (only RECONCILE_OPERATIONS does).
    pub async fn call(&self, body: CallBody) -> Result<Option<Response>, ClientError> {
        let session = self.session()?;
        let kind = body.kind();
        let master = session.master.clone();
        let call = Call::new(session.framework_id.clone(), body);
        let mut request = self
            .shared
            .http
            .post(master.scheduler_endpoint())
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json")
            .timeout(self.shared.config.request_timeout)
            .body(call.to_json());
        if let Some(id) = &session.stream_id {
            request = request.header(STREAM_ID_HEADER, id);
        }
        let transport = |source| ClientError::Transport {
            call: kind,
            master: master.clone(),
            source,
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        if status.is_redirection() {
            let location = super::leader::location(response.headers()).to_owned();
            tracing::info!(%master, %location, call = %kind, "master is no longer the leader; resubscribing");
            self.shared.drop_session.send_replace(session.generation);
            return Err(ClientError::NotLeader { master, location });
        }
        let body = response.bytes().await.map_err(transport)?;
        if !status.is_success() {
            return Err(ClientError::Rejected {
                call: kind,
                master,
                status: status.as_u16(),
                message: error_text(&body),
            });
        }
        if status == StatusCode::OK && !body.iter().all(u8::is_ascii_whitespace) {
            return serde_json::from_slice(&body).map(Some).map_err(|source| {
                ClientError::Malformed {
                    master,
                    source: crate::scheduler::SchedulerError::Malformed {
                        what: "response",
                        source,
                    },
                }
            });
        }
        Ok(None)
    }

    /// ACCEPT: applies `operations` to the offers (all on one agent);
    /// whatever they leave unused is declined with `filters`.
    pub async fn accept(
        &self,
        offer_ids: Vec<OfferId>,
        operations: Vec<OfferOperation>,
        filters: Option<Filters>,
    ) -> Result<(), ClientError> {
        self.send(CallBody::Accept(Accept {
            offer_ids,
            operations,
            filters,
        }))
        .await
    }

    /// ACCEPT with one LAUNCH of `tasks` on one offer.
    pub async fn launch(
        &self,
        offer_id: OfferId,
        tasks: Vec<TaskInfo>,
        filters: Option<Filters>,
    ) -> Result<(), ClientError> {
        self.accept(vec![offer_id], vec![OfferOperation::launch(tasks)], filters)
            .await
    }

    /// DECLINE: gives the offers back, refused for `filters.refuse_seconds`
    /// (5 s when unset).
    pub async fn decline(
        &self,
        offer_ids: Vec<OfferId>,
        filters: Option<Filters>,
    ) -> Result<(), ClientError> {
        self.send(CallBody::Decline(Decline { offer_ids, filters }))
            .await
    }

    /// REVIVE: clears filters and resumes offers for `roles` (all of the
    /// framework's roles when empty).
    pub async fn revive(&self, roles: Vec<String>) -> Result<(), ClientError> {
        self.send(CallBody::Revive(Revive { roles })).await
    }

    /// SUPPRESS: stops offers for `roles` (all when empty) until REVIVE.
    pub async fn suppress(&self, roles: Vec<String>) -> Result<(), ClientError> {
        self.send(CallBody::Suppress(Suppress { roles })).await
    }

    /// KILL: kills a task, optionally overriding its kill policy.
    pub async fn kill(
        &self,
        task_id: TaskId,
        agent_id: Option<AgentId>,
        kill_policy: Option<KillPolicy>,
    ) -> Result<(), ClientError> {
        self.send(CallBody::Kill(Kill {
            task_id,
            agent_id,
            kill_policy,
        }))
        .await
    }

    /// ACKNOWLEDGE: tells the agent (through the master) that the update
    /// with `uuid` has been handled, so it stops retrying it.
    pub async fn acknowledge(
        &self,
        agent_id: AgentId,
        task_id: TaskId,
        uuid: Base64Bytes,
    ) -> Result<(), ClientError> {
        self.send(CallBody::Acknowledge(Acknowledge {
            agent_id,
            task_id,
            uuid,
        }))
        .await
    }

    /// Acknowledges `status` if it needs it (it has a `uuid` and an
    /// agent); returns whether it sent an ACKNOWLEDGE.
    pub async fn acknowledge_status(&self, status: &TaskStatus) -> Result<bool, ClientError> {
        let (Some(uuid), Some(agent_id)) = (&status.uuid, &status.agent_id) else {
            return Ok(false);
        };
        self.acknowledge(agent_id.clone(), status.task_id.clone(), uuid.clone())
            .await?;
        Ok(true)
    }

    /// RECONCILE: asks for the latest status of `tasks`, answered as UPDATE
    /// events without a `uuid`; empty asks for every task the master knows
    /// (implicit reconciliation).
    pub async fn reconcile(&self, tasks: Vec<ReconcileTask>) -> Result<(), ClientError> {
        self.send(CallBody::Reconcile(Reconcile { tasks })).await
    }

    /// RECONCILE_OPERATIONS: the latest status of offer operations (all
    /// known ones when empty), answered synchronously.
    pub async fn reconcile_operations(
        &self,
        operations: Vec<ReconcileOperation>,
    ) -> Result<ReconcileOperationsResponse, ClientError> {
        match self
            .call(CallBody::ReconcileOperations(ReconcileOperations {
                operations,
            }))
            .await?
        {
            Some(Response::ReconcileOperations(r)) => Ok(r),
            None => Ok(ReconcileOperationsResponse::default()),
        }
    }

    /// MESSAGE: best-effort bytes to an executor.
    pub async fn message(
        &self,
        agent_id: AgentId,
        executor_id: ExecutorId,
        data: impl Into<Bytes>,
    ) -> Result<(), ClientError> {
        self.send(CallBody::Message(Message {
            agent_id,
            executor_id,
            data: Base64Bytes::new(data),
        }))
        .await
    }

    /// SHUTDOWN: stops a custom executor.
    pub async fn shutdown(
        &self,
        executor_id: ExecutorId,
        agent_id: AgentId,
    ) -> Result<(), ClientError> {
        self.send(CallBody::Shutdown(Shutdown {
            executor_id,
            agent_id,
        }))
        .await
    }

    /// UPDATE_FRAMEWORK: replaces the FrameworkInfo (its `id` is filled in)
    /// and the suppressed roles; later resubscriptions send the new info.
    pub async fn update_framework(
        &self,
        mut framework_info: FrameworkInfo,
        suppressed_roles: Vec<String>,
    ) -> Result<(), ClientError> {
        let session = self.session()?;
        framework_info.id = Some(session.framework_id.clone());
        self.send(CallBody::UpdateFramework(UpdateFramework {
            framework_info: framework_info.clone(),
            suppressed_roles,
            offer_constraints: None,
        }))
        .await?;
        *self.shared.framework.lock().unwrap() = framework_info;
        Ok(())
    }

    /// TEARDOWN: kills every task and removes the framework; on success the
    /// SDK stops with [`super::CloseReason::TornDown`].
    pub async fn teardown(&self) -> Result<(), ClientError> {
        self.send(CallBody::Teardown).await?;
        self.shared.torn_down.store(true, Ordering::SeqCst);
        self.shared.cancel.cancel();
        Ok(())
    }

    async fn send(&self, body: CallBody) -> Result<(), ClientError> {
        self.call(body).await.map(drop)
    }

    fn session(&self) -> Result<Session, ClientError> {
        if *self.shared.closed.borrow() {
            return Err(ClientError::Closed);
        }
        self.shared
            .session
            .borrow()
            .clone()
            .ok_or(ClientError::NotConnected)
    }
}

/// A master's error body as text, bounded.
pub(crate) fn error_text(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX_ERROR_TEXT)]);
    text.trim().to_owned()
}
