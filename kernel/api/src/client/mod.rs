//! The scheduler client SDK: what Marathon, Chronos, the test frameworks
//! and the benchmarks use to talk to a master's `/api/v1/scheduler`.
//!
//! [`Scheduler::start`] spawns one background task that owns the
//! subscription: it POSTs SUBSCRIBE, reads the chunked RecordIO event
//! stream, remembers the framework ID and the `Mesos-Stream-Id`, follows
//! `307` redirects to the leading master, retries `503`s and transport
//! errors with exponential backoff and jitter, resubscribes with the same
//! framework ID after every disconnect (failover), and drops a stream on
//! which nothing (not even a HEARTBEAT) arrived for `heartbeat_interval ×
//! heartbeat_grace`. Events come out of [`Scheduler::recv`] as
//! [`SchedulerEvent`]s; calls go in through a cloneable [`SchedulerHandle`]
//! that always targets the master of the current session.
//!
//! | file | owns |
//! |---|---|
//! | `mod.rs` | configuration, the events and errors the SDK surfaces, [`Scheduler`] |
//! | `session.rs` | the background task: subscribe, stream, watchdog, reconnect |
//! | `handle.rs` | [`SchedulerHandle`]: one method per scheduler call |
//! | `leader.rs` | master URLs: endpoint paths and `Location` resolution (pure) |
//! | `backoff.rs` | the retry delay schedule (pure) |
//! | [`testing`] | [`testing::TaskLauncher`], a small framework for tests and benchmarks |
//!
//! What it does not own: the wire types (they are [`crate::scheduler`] and
//! [`crate::v1`]), any policy about offers (that is the framework's), and
//! TLS or authentication (plain HTTP; a gateway in front may add them).
//!
//! # Example
//!
//! ```no_run
//! use dcos_api::client::{Scheduler, SchedulerConfig, SchedulerEvent};
//! use dcos_api::scheduler::Event;
//! use dcos_api::v1::{Filters, FrameworkInfo};
//!
//! # async fn run() -> Result<(), dcos_api::client::ClientError> {
//! let config = SchedulerConfig::new(["http://m1:5050", "http://m2:5050"], FrameworkInfo::new("root", "demo"));
//! let mut scheduler = Scheduler::start(config)?;
//! let handle = scheduler.handle();
//! while let Some(event) = scheduler.recv().await {
//!     match event {
//!         SchedulerEvent::Connected { framework_id, .. } => println!("subscribed as {framework_id}"),
//!         SchedulerEvent::Event(Event::Offers(offers)) => {
//!             let ids = offers.offers.iter().map(|o| o.id.clone()).collect();
//!             handle.decline(ids, Some(Filters::refuse(60.0))).await?;
//!         }
//!         SchedulerEvent::Event(Event::Update(update)) => {
//!             // Record the update durably first, then:
//!             handle.acknowledge_status(&update.status).await?;
//!         }
//!         SchedulerEvent::Closed { reason } => eprintln!("giving up: {reason}"),
//!         _ => {}
//!     }
//! }
//! # Ok(()) }
//! ```

mod backoff;
mod handle;
mod leader;
mod session;
pub mod testing;

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::scheduler::{CallType, Event, SchedulerError};
use crate::v1::{FrameworkId, FrameworkInfo, MasterInfo};

pub use backoff::Backoff;
pub use handle::SchedulerHandle;
pub use leader::MasterUrl;

/// How to reach the masters and how patient to be with them.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Master base URLs (`http://host:5050`, or a gateway prefix such as
    /// `http://dcos/mesos`; a bare `host:port` means `http://`), tried in
    /// turn. Any of them may be a follower: it redirects to the leader.
    pub masters: Vec<String>,
    /// Who the framework is. Set `id` to fail over an existing framework;
    /// otherwise the SDK fills it in from the first SUBSCRIBED and keeps it
    /// for every resubscription.
    pub framework: FrameworkInfo,
    /// Roles to subscribe suppressed (`Subscribe.suppressed_roles`).
    pub suppressed_roles: Vec<String>,
    /// Heartbeat intervals without any byte on the stream after which the
    /// connection counts as dead and is replaced. Mesos' advice is "about
    /// 5 missed heartbeats".
    pub heartbeat_grace: u32,
    /// First retry delay.
    pub backoff_min: Duration,
    /// Largest retry delay.
    pub backoff_max: Duration,
    /// Timeout for each call, and for a SUBSCRIBE to produce its response
    /// headers and its SUBSCRIBED event.
    pub request_timeout: Duration,
    /// Redirects followed within one connection attempt.
    pub max_redirects: u32,
    /// Consecutive failed connection attempts after which the SDK gives up
    /// ([`CloseReason::GaveUp`]); `None` retries forever, as a long-running
    /// framework should.
    pub max_attempts: Option<u32>,
    /// Acknowledge every status update that carries a `uuid` as soon as it
    /// has been queued for [`Scheduler::recv`]. Off by default: a framework
    /// that must persist an update before the agent forgets it (Marathon)
    /// acknowledges itself, after persisting.
    pub auto_acknowledge: bool,
    /// Events buffered for [`Scheduler::recv`]; when full, the stream is not
    /// read (TCP pushes back on the master).
    pub event_buffer: usize,
}

impl SchedulerConfig {
    /// Defaults: grace 5 heartbeats, backoff 250 ms to 30 s, 10 s request
    /// timeout, 8 redirects, retry forever, no auto-acknowledgement.
    pub fn new<S: Into<String>>(
        masters: impl IntoIterator<Item = S>,
        framework: FrameworkInfo,
    ) -> Self {
        Self {
            masters: masters.into_iter().map(Into::into).collect(),
            framework,
            suppressed_roles: Vec::new(),
            heartbeat_grace: 5,
            backoff_min: Duration::from_millis(250),
            backoff_max: Duration::from_secs(30),
            request_timeout: Duration::from_secs(10),
            max_redirects: 8,
            max_attempts: None,
            auto_acknowledge: false,
            event_buffer: 1024,
        }
    }
}

/// What the SDK tells the framework, in order.
#[derive(Debug, Clone)]
pub enum SchedulerEvent {
    /// A subscription is up (first subscribe or resubscribe). Calls made
    /// from now on go to `master`. Replaces the SUBSCRIBED event.
    Connected {
        /// The framework's ID (the same one on every resubscription).
        framework_id: FrameworkId,
        /// The master that answered.
        master: MasterUrl,
        /// The master's heartbeat interval, if it sends heartbeats.
        heartbeat_interval: Option<Duration>,
        /// The leading master, as it describes itself.
        master_info: Option<MasterInfo>,
    },
    /// The subscription was lost; the SDK is reconnecting. Offers from the
    /// lost subscription are void; reconcile after the next `Connected`.
    Disconnected {
        /// Why.
        reason: Disconnect,
    },
    /// An event from the master. HEARTBEAT and SUBSCRIBED are consumed by
    /// the SDK and not forwarded; ERROR is forwarded and then followed by
    /// [`SchedulerEvent::Closed`].
    Event(Event),
    /// The SDK stopped for good; no more events follow.
    Closed {
        /// Why.
        reason: CloseReason,
    },
}

/// Why a subscription ended or a connection attempt failed (the SDK
/// retries after all of these).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Disconnect {
    /// The master closed the event stream.
    #[error("master {master} closed the event stream")]
    StreamEnded {
        /// The master.
        master: MasterUrl,
    },
    /// Nothing arrived for the heartbeat interval times the grace.
    #[error("no event from master {master} for {silence:?} (missed heartbeats)")]
    HeartbeatTimeout {
        /// The master.
        master: MasterUrl,
        /// How long the stream was silent.
        silence: Duration,
    },
    /// A transport error: refused connection, reset, timeout.
    #[error("connection to {master} failed: {message}")]
    Transport {
        /// The master.
        master: MasterUrl,
        /// The error, as text.
        message: String,
    },
    /// The master answered with a status worth retrying (503: no leader
    /// elected yet; 5xx; 404, 408, 429).
    #[error("master {master} answered {status}: {message}")]
    Unavailable {
        /// The master.
        master: MasterUrl,
        /// The HTTP status.
        status: u16,
        /// The response body.
        message: String,
    },
    /// The stream broke its framing, or its first event was not SUBSCRIBED.
    #[error("protocol error on the stream from {master}: {message}")]
    Protocol {
        /// The master.
        master: MasterUrl,
        /// What was wrong.
        message: String,
    },
    /// More redirects in one attempt than `max_redirects`, or a `Location`
    /// that is not a URL.
    #[error("bad redirect from {master}: {message}")]
    Redirect {
        /// The master that redirected last.
        master: MasterUrl,
        /// What was wrong.
        message: String,
    },
    /// A call found that the session's master is no longer the leader.
    #[error("master {master} is no longer the leader")]
    LeaderChanged {
        /// The former leader.
        master: MasterUrl,
    },
}

/// Why the SDK stopped.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CloseReason {
    /// The master sent an ERROR event (e.g. "Framework has been removed"):
    /// resubscribing would not help.
    #[error("master sent ERROR: {0}")]
    Error(String),
    /// The master refused the SUBSCRIBE with a client error (400, 401, 403,
    /// …), e.g. an invalid FrameworkInfo.
    #[error("master {master} refused SUBSCRIBE with {status}: {message}")]
    Refused {
        /// The master.
        master: MasterUrl,
        /// The HTTP status.
        status: u16,
        /// The master's error text.
        message: String,
    },
    /// The framework tore itself down ([`SchedulerHandle::teardown`]).
    #[error("the framework was torn down")]
    TornDown,
    /// `max_attempts` consecutive connection attempts failed.
    #[error("gave up after {attempts} failed attempts; last: {last}")]
    GaveUp {
        /// How many.
        attempts: u32,
        /// The last failure.
        last: Disconnect,
    },
}

/// Errors from the SDK's calls.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// There is no subscription right now (not yet, or reconnecting).
    #[error("not subscribed to a master")]
    NotConnected,
    /// The SDK has stopped (see [`SchedulerEvent::Closed`]).
    #[error("the scheduler client has stopped")]
    Closed,
    /// No subscription came up within the time given.
    #[error("not subscribed within {0:?}")]
    Timeout(Duration),
    /// The master answered a call with an error status; `message` is its
    /// error text (Mesos answers 400 with a plain-text reason).
    #[error("master {master} answered {call} with {status}: {message}")]
    Rejected {
        /// The call.
        call: CallType,
        /// The master.
        master: MasterUrl,
        /// The HTTP status.
        status: u16,
        /// The response body.
        message: String,
    },
    /// The master is no longer the leader (`307`); the SDK resubscribes,
    /// retry the call after the next `Connected`.
    #[error("master {master} is no longer the leader (redirects to {location})")]
    NotLeader {
        /// The former leader.
        master: MasterUrl,
        /// Its `Location` header.
        location: String,
    },
    /// The call did not get an answer (connection or timeout).
    #[error("{call} call to {master} failed: {source}")]
    Transport {
        /// The call.
        call: CallType,
        /// The master.
        master: MasterUrl,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The master's 200 body is not a scheduler `Response`.
    #[error("malformed response from {master}: {source}")]
    Malformed {
        /// The master.
        master: MasterUrl,
        /// The parse error.
        #[source]
        source: SchedulerError,
    },
    /// A master URL in the configuration is not a URL.
    #[error("invalid master URL {url:?}: {reason}")]
    InvalidMasterUrl {
        /// The text given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The configuration cannot work (no masters, zero grace, …).
    #[error("invalid scheduler configuration: {0}")]
    InvalidConfig(&'static str),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
}

/// The subscription the calls ride on.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) master: MasterUrl,
    pub(crate) stream_id: Option<String>,
    pub(crate) framework_id: FrameworkId,
    /// Counts subscriptions from 1, so a stale "drop it" request cannot
    /// hit a newer session.
    pub(crate) generation: u64,
}

/// What the background task and the handles share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) http: reqwest::Client,
    pub(crate) config: SchedulerConfig,
    /// `None` while not subscribed; `Some` from SUBSCRIBED to disconnect.
    pub(crate) session: watch::Sender<Option<Session>>,
    /// Set once the task has stopped.
    pub(crate) closed: watch::Sender<bool>,
    /// The FrameworkInfo the next SUBSCRIBE sends (its `id` filled in from
    /// SUBSCRIBED, replaced by UPDATE_FRAMEWORK).
    pub(crate) framework: Mutex<FrameworkInfo>,
    /// The generation of a session a call found stale (`307`): the task
    /// drops that session's stream and resubscribes.
    pub(crate) drop_session: watch::Sender<u64>,
    /// Set by a successful TEARDOWN, before it cancels the task.
    pub(crate) torn_down: AtomicBool,
    /// Stops the task (dropping the [`Scheduler`], [`Scheduler::stop`], or
    /// TEARDOWN).
    pub(crate) cancel: CancellationToken,
}

/// A running scheduler client: owns the background task (dropping the
/// `Scheduler` stops it) and the event stream.
#[derive(Debug)]
pub struct Scheduler {
    handle: SchedulerHandle,
    events: mpsc::Receiver<SchedulerEvent>,
    task: Option<JoinHandle<()>>,
    cancel: CancellationToken,
    _stop_on_drop: DropGuard,
}

impl Scheduler {
    /// Checks the configuration and starts subscribing in the background.
    /// Must be called inside a tokio runtime.
    pub fn start(config: SchedulerConfig) -> Result<Self, ClientError> {
        if config.masters.is_empty() {
            return Err(ClientError::InvalidConfig("no master URLs"));
        }
        if config.heartbeat_grace == 0 {
            return Err(ClientError::InvalidConfig(
                "heartbeat_grace must be at least 1",
            ));
        }
        if config.event_buffer == 0 {
            return Err(ClientError::InvalidConfig(
                "event_buffer must be at least 1",
            ));
        }
        let masters = config
            .masters
            .iter()
            .map(|m| MasterUrl::parse(m))
            .collect::<Result<Vec<_>, _>>()?;
        // No client-wide timeout: it would cut the event stream. Calls set
        // their own; keepalive notices dead peers when heartbeats are off.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .tcp_keepalive(Duration::from_secs(30))
            .tcp_nodelay(true)
            .connect_timeout(config.request_timeout)
            .build()
            .map_err(ClientError::HttpClient)?;
        let (events_tx, events) = mpsc::channel(config.event_buffer);
        let cancel = CancellationToken::new();
        let shared = Arc::new(Shared {
            http,
            framework: Mutex::new(config.framework.clone()),
            config,
            session: watch::Sender::new(None),
            closed: watch::Sender::new(false),
            drop_session: watch::Sender::new(0),
            torn_down: AtomicBool::new(false),
            cancel: cancel.clone(),
        });
        let task = tokio::spawn(session::run(shared.clone(), masters, events_tx));
        Ok(Self {
            handle: SchedulerHandle::new(shared),
            events,
            task: Some(task),
            _stop_on_drop: cancel.clone().drop_guard(),
            cancel,
        })
    }

    /// A handle for making calls; clone it freely.
    pub fn handle(&self) -> SchedulerHandle {
        self.handle.clone()
    }

    /// The next event; `None` after [`SchedulerEvent::Closed`] or
    /// [`Scheduler::stop`].
    pub async fn recv(&mut self) -> Option<SchedulerEvent> {
        self.events.recv().await
    }

    /// Stops the background task and waits for it. The framework stays
    /// registered with the master until its failover timeout; call
    /// [`SchedulerHandle::teardown`] first to remove it.
    pub async fn stop(mut self) {
        self.cancel.cancel();
        if let Some(task) = self.task.take() {
            if let Err(e) = task.await {
                tracing::warn!(error = %e, "scheduler client task failed");
            }
        }
    }
}
