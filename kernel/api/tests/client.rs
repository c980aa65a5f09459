//! The scheduler client SDK against a mock master (axum, on loopback):
//! subscribe, stream, calls with the stream ID, resubscription with the same
//! framework ID, leader redirects, the heartbeat watchdog, backoff on 503,
//! error handling and acknowledgements. Intervals are tens of milliseconds;
//! every wait is for a condition, bounded by a timeout.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use dcos_api::client::testing::{LaunchPlan, TaskLauncher, TaskSpec, WaitError};
use dcos_api::client::{
    ClientError, CloseReason, Disconnect, MasterUrl, Scheduler, SchedulerConfig, SchedulerEvent,
};
use dcos_api::recordio;
use dcos_api::scheduler::{self, Call, CallBody, CallType, Event};
use dcos_api::v1::{
    AgentId, Base64Bytes, Filters, FrameworkId, FrameworkInfo, Offer, OfferId, Operation, Resource,
    TaskId, TaskState, TaskStatus,
};
use tokio::sync::{mpsc, watch};

const WAIT: Duration = Duration::from_secs(3);

/// A call as the mock master received it.
#[derive(Debug, Clone)]
struct Received {
    stream_id: Option<String>,
    call: Call,
}

/// A scripted master: answers SUBSCRIBE with a RecordIO stream, records
/// every call, and can redirect, refuse, go silent or drop streams.
struct MockMaster {
    addr: SocketAddr,
    state: Arc<MockState>,
    server: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct MockState {
    framework_id: String,
    heartbeat_seconds: f64,
    /// Every call, SUBSCRIBE included, in order.
    received: Mutex<Vec<Received>>,
    /// Bumped on every received call, to wait on.
    changed: watch::Sender<u64>,
    /// Answer everything with a 307 to this `Location`.
    redirect_to: Mutex<Option<String>>,
    /// Answer this many SUBSCRIBEs with 503 first.
    unavailable: AtomicU32,
    /// Answer SUBSCRIBE with this status and text.
    refuse_subscribe: Mutex<Option<(StatusCode, String)>>,
    /// Answer other calls with this status and text.
    reject_calls: Mutex<Option<(StatusCode, String)>>,
    /// Whether open streams get HEARTBEATs.
    heartbeats: AtomicBool,
    /// Open event streams by number; removing one ends it.
    streams: Mutex<HashMap<u64, mpsc::UnboundedSender<Bytes>>>,
    next_stream: AtomicU64,
}

impl MockMaster {
    async fn start(framework_id: &str, heartbeat_seconds: f64) -> Self {
        let state = Arc::new(MockState {
            framework_id: framework_id.to_owned(),
            heartbeat_seconds,
            heartbeats: AtomicBool::new(true),
            ..MockState::default()
        });
        let app = Router::new()
            .route("/api/v1/scheduler", post(scheduler_api))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            addr,
            state,
            server,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn master_url(&self) -> MasterUrl {
        MasterUrl::parse(&self.url()).unwrap()
    }

    /// Sends an event on every open stream.
    fn push(&self, event: &Event) {
        let frame = recordio::encode(&event.to_json());
        for tx in self.state.streams.lock().unwrap().values() {
            let _ = tx.send(frame.clone());
        }
    }

    /// Sends raw bytes on every open stream.
    fn push_raw(&self, bytes: &'static [u8]) {
        for tx in self.state.streams.lock().unwrap().values() {
            let _ = tx.send(Bytes::from_static(bytes));
        }
    }

    /// Ends every open stream (a clean end of the chunked body).
    fn drop_streams(&self) {
        self.state.streams.lock().unwrap().clear();
    }

    fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    fn calls_of(&self, kind: CallType) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.call.kind() == kind)
            .collect()
    }

    /// Waits until `kind` has been received `n` times; returns them all.
    async fn wait_calls(&self, kind: CallType, n: usize) -> Vec<Received> {
        let mut changed = self.state.changed.subscribe();
        tokio::time::timeout(WAIT, async {
            loop {
                let calls = self.calls_of(kind);
                if calls.len() >= n {
                    return calls;
                }
                changed.changed().await.unwrap();
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{n} {kind} calls not received; got {:?}", self.received()))
    }
}

impl Drop for MockMaster {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn scheduler_api(
    State(state): State<Arc<MockState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let call = match Call::from_json(&body) {
        Ok(call) => call,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let stream_id = headers
        .get("Mesos-Stream-Id")
        .map(|v| v.to_str().unwrap().to_owned());
    state.received.lock().unwrap().push(Received {
        stream_id: stream_id.clone(),
        call: call.clone(),
    });
    state.changed.send_modify(|n| *n += 1);

    if let Some(location) = state.redirect_to.lock().unwrap().clone() {
        return (StatusCode::TEMPORARY_REDIRECT, [("Location", location)]).into_response();
    }
    if call.kind() != CallType::Subscribe {
        if let Some((status, text)) = state.reject_calls.lock().unwrap().clone() {
            return (status, text).into_response();
        }
        let current = format!("stream-{}", state.next_stream.load(Ordering::SeqCst));
        if stream_id.as_deref() != Some(current.as_str()) {
            return (
                StatusCode::BAD_REQUEST,
                format!("stream id {stream_id:?} does not match {current}"),
            )
                .into_response();
        }
        return StatusCode::ACCEPTED.into_response();
    }
    if stream_id.is_some() {
        return (StatusCode::BAD_REQUEST, "SUBSCRIBE with a stream id").into_response();
    }
    if state
        .unavailable
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return (StatusCode::SERVICE_UNAVAILABLE, "No leader elected").into_response();
    }
    if let Some((status, text)) = state.refuse_subscribe.lock().unwrap().clone() {
        return (status, text).into_response();
    }

    let number = state.next_stream.fetch_add(1, Ordering::SeqCst) + 1;
    let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
    let subscribed = Event::Subscribed(scheduler::Subscribed {
        framework_id: call
            .framework_id
            .clone()
            .unwrap_or_else(|| FrameworkId::new(state.framework_id.clone())),
        heartbeat_interval_seconds: Some(state.heartbeat_seconds),
        master_info: None,
    });
    tx.send(recordio::encode(&subscribed.to_json())).unwrap();
    state.streams.lock().unwrap().insert(number, tx);
    let beat = state.clone();
    tokio::spawn(async move {
        let frame = recordio::encode(&Event::Heartbeat.to_json());
        loop {
            tokio::time::sleep(Duration::from_secs_f64(beat.heartbeat_seconds)).await;
            let streams = beat.streams.lock().unwrap();
            let Some(tx) = streams.get(&number) else {
                return;
            };
            if beat.heartbeats.load(Ordering::SeqCst) {
                let _ = tx.send(frame.clone());
            }
        }
    });
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    (
        StatusCode::OK,
        [
            ("Content-Type", "application/json".to_owned()),
            ("Mesos-Stream-Id", format!("stream-{number}")),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

fn config(masters: Vec<String>) -> SchedulerConfig {
    let mut framework = FrameworkInfo::new("root", "sdk-test");
    framework.failover_timeout = Some(60.0);
    let mut config = SchedulerConfig::new(masters, framework);
    config.heartbeat_grace = 3;
    config.backoff_min = Duration::from_millis(10);
    config.backoff_max = Duration::from_millis(100);
    config.request_timeout = Duration::from_secs(2);
    config
}

/// Receives events until one matches; panics on timeout or close.
async fn expect<T>(
    scheduler: &mut Scheduler,
    what: &str,
    mut matches: impl FnMut(&SchedulerEvent) -> Option<T>,
) -> T {
    let mut seen = Vec::new();
    let found = tokio::time::timeout(WAIT, async {
        while let Some(event) = scheduler.recv().await {
            if let Some(found) = matches(&event) {
                return Some(found);
            }
            seen.push(event);
        }
        None
    })
    .await;
    match found {
        Ok(Some(found)) => found,
        _ => panic!("no {what}; saw {seen:#?}"),
    }
}

async fn connected(scheduler: &mut Scheduler) -> (FrameworkId, MasterUrl) {
    expect(scheduler, "Connected", |e| match e {
        SchedulerEvent::Connected {
            framework_id,
            master,
            ..
        } => Some((framework_id.clone(), master.clone())),
        _ => None,
    })
    .await
}

async fn disconnected(scheduler: &mut Scheduler) -> Disconnect {
    expect(scheduler, "Disconnected", |e| match e {
        SchedulerEvent::Disconnected { reason } => Some(reason.clone()),
        _ => None,
    })
    .await
}

async fn closed(scheduler: &mut Scheduler) -> CloseReason {
    expect(scheduler, "Closed", |e| match e {
        SchedulerEvent::Closed { reason } => Some(reason.clone()),
        _ => None,
    })
    .await
}

fn offer(id: &str, agent: &str, cpus: f64, mem: f64) -> Offer {
    Offer {
        id: OfferId::new(id),
        framework_id: FrameworkId::new("fw-1"),
        agent_id: AgentId::new(agent),
        hostname: "agent.local".into(),
        url: None,
        domain: None,
        resources: vec![Resource::scalar("cpus", cpus), Resource::scalar("mem", mem)],
        attributes: Vec::new(),
        executor_ids: Vec::new(),
        unavailability: None,
        allocation_info: None,
    }
}

fn update(task: &str, agent: &str, state: TaskState, uuid: Option<&[u8]>) -> Event {
    let mut status = TaskStatus::new(TaskId::new(task), state);
    status.agent_id = Some(AgentId::new(agent));
    status.uuid = uuid.map(|u| Base64Bytes::new(u.to_vec()));
    Event::Update(scheduler::Update { status })
}

#[tokio::test]
async fn subscribes_streams_events_and_calls_carry_the_stream_id() {
    let master = MockMaster::start("fw-1", 1.0).await;
    let mut scheduler = Scheduler::start(config(vec![master.url()])).unwrap();
    let handle = scheduler.handle();
    assert!(matches!(
        handle.revive(vec![]).await,
        Err(ClientError::NotConnected)
    ));

    let event = expect(&mut scheduler, "Connected", |e| {
        matches!(e, SchedulerEvent::Connected { .. }).then(|| e.clone())
    })
    .await;
    let SchedulerEvent::Connected {
        framework_id,
        master: at,
        heartbeat_interval,
        ..
    } = event
    else {
        unreachable!()
    };
    assert_eq!(framework_id.as_str(), "fw-1");
    assert_eq!(at, master.master_url());
    assert_eq!(heartbeat_interval, Some(Duration::from_secs(1)));
    assert_eq!(handle.framework_id(), Some(FrameworkId::new("fw-1")));
    assert!(handle.is_connected());

    let subscribe = &master.calls_of(CallType::Subscribe)[0];
    assert_eq!(subscribe.stream_id, None);
    assert_eq!(subscribe.call.framework_id, None);

    master.push(&Event::Offers(scheduler::Offers {
        offers: vec![offer("o-1", "a-1", 2.0, 256.0)],
    }));
    let offers = expect(&mut scheduler, "OFFERS", |e| match e {
        SchedulerEvent::Event(Event::Offers(o)) => Some(o.clone()),
        _ => None,
    })
    .await;
    assert_eq!(offers.offers[0].id.as_str(), "o-1");

    handle
        .decline(vec![OfferId::new("o-1")], Some(Filters::refuse(30.0)))
        .await
        .unwrap();
    handle.revive(vec!["web".into()]).await.unwrap();
    handle.suppress(vec![]).await.unwrap();
    handle
        .kill(TaskId::new("t-1"), Some(AgentId::new("a-1")), None)
        .await
        .unwrap();
    handle.reconcile(vec![]).await.unwrap();
    handle
        .message(AgentId::new("a-1"), "exec-1".into(), &b"hi"[..])
        .await
        .unwrap();

    let calls: Vec<_> = master
        .received()
        .into_iter()
        .filter(|r| r.call.kind() != CallType::Subscribe)
        .collect();
    let kinds: Vec<_> = calls.iter().map(|r| r.call.kind()).collect();
    assert_eq!(
        kinds,
        vec![
            CallType::Decline,
            CallType::Revive,
            CallType::Suppress,
            CallType::Kill,
            CallType::Reconcile,
            CallType::Message
        ]
    );
    for r in &calls {
        assert_eq!(r.stream_id.as_deref(), Some("stream-1"));
        assert_eq!(r.call.framework_id, Some(FrameworkId::new("fw-1")));
    }
    let CallBody::Decline(decline) = &calls[0].call.body else {
        unreachable!()
    };
    assert_eq!(decline.filters, Some(Filters::refuse(30.0)));
    let CallBody::Reconcile(reconcile) = &calls[4].call.body else {
        unreachable!()
    };
    assert!(reconcile.tasks.is_empty(), "implicit reconciliation");
    scheduler.stop().await;
}

#[tokio::test]
async fn resubscribes_with_the_same_framework_id_after_the_stream_drops() {
    let master = MockMaster::start("fw-1", 1.0).await;
    let mut scheduler = Scheduler::start(config(vec![master.url()])).unwrap();
    let handle = scheduler.handle();
    connected(&mut scheduler).await;

    master.drop_streams();
    let reason = disconnected(&mut scheduler).await;
    assert_eq!(
        reason,
        Disconnect::StreamEnded {
            master: master.master_url()
        }
    );
    let (framework_id, _) = connected(&mut scheduler).await;
    assert_eq!(framework_id.as_str(), "fw-1");

    let subscribes = master.calls_of(CallType::Subscribe);
    assert_eq!(subscribes.len(), 2);
    let again = &subscribes[1].call;
    assert_eq!(again.framework_id, Some(FrameworkId::new("fw-1")));
    let CallBody::Subscribe(s) = &again.body else {
        unreachable!()
    };
    assert_eq!(s.framework_info.id, Some(FrameworkId::new("fw-1")));
    assert_eq!(s.framework_info.failover_timeout, Some(60.0));
    again.validate().unwrap();

    // Calls now ride the new stream.
    handle.revive(vec![]).await.unwrap();
    let revive = master.wait_calls(CallType::Revive, 1).await;
    assert_eq!(revive[0].stream_id.as_deref(), Some("stream-2"));
    scheduler.stop().await;
}

#[tokio::test]
async fn follows_redirects_to_the_leader_and_back() {
    let follower = MockMaster::start("fw-1", 1.0).await;
    let leader = MockMaster::start("fw-1", 1.0).await;
    // What a Mesos follower sends: protocol-relative, with the request path.
    *follower.state.redirect_to.lock().unwrap() =
        Some(format!("//{}/api/v1/scheduler", leader.addr));
    let mut scheduler = Scheduler::start(config(vec![follower.url()])).unwrap();
    let handle = scheduler.handle();
    let (_, at) = connected(&mut scheduler).await;
    assert_eq!(at, leader.master_url());
    assert_eq!(handle.master(), Some(leader.master_url()));

    handle.revive(vec![]).await.unwrap();
    assert_eq!(leader.calls_of(CallType::Revive).len(), 1);
    assert!(follower.calls_of(CallType::Revive).is_empty());

    // Leadership moves back; the old leader answers like /master/redirect.
    *follower.state.redirect_to.lock().unwrap() = None;
    *leader.state.redirect_to.lock().unwrap() = Some(format!("http://{}", follower.addr));
    let err = handle.revive(vec![]).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::NotLeader { location, .. } if location.contains(&follower.addr.to_string())),
        "{err}"
    );
    let reason = disconnected(&mut scheduler).await;
    assert_eq!(
        reason,
        Disconnect::LeaderChanged {
            master: leader.master_url()
        }
    );
    let (framework_id, at) = connected(&mut scheduler).await;
    assert_eq!(at, follower.master_url());
    assert_eq!(framework_id.as_str(), "fw-1");
    let resubscribe = follower.calls_of(CallType::Subscribe).pop().unwrap();
    assert_eq!(
        resubscribe.call.framework_id,
        Some(FrameworkId::new("fw-1"))
    );
    handle.revive(vec![]).await.unwrap();
    assert_eq!(follower.calls_of(CallType::Revive).len(), 1);
    scheduler.stop().await;
}

#[tokio::test]
async fn reconnects_after_missed_heartbeats() {
    let master = MockMaster::start("fw-1", 0.05).await;
    let mut cfg = config(vec![master.url()]);
    cfg.heartbeat_grace = 6;
    let mut scheduler = Scheduler::start(cfg).unwrap();
    connected(&mut scheduler).await;
    // Heartbeats flowing keep the session up well past the grace.
    master.wait_calls(CallType::Subscribe, 1).await;
    let mut changed = master.state.changed.subscribe();
    let quiet = tokio::time::timeout(Duration::from_millis(600), changed.changed()).await;
    assert!(quiet.is_err(), "resubscribed while heartbeats flowed");

    master.state.heartbeats.store(false, Ordering::SeqCst);
    let reason = disconnected(&mut scheduler).await;
    assert_eq!(
        reason,
        Disconnect::HeartbeatTimeout {
            master: master.master_url(),
            silence: Duration::from_millis(300)
        }
    );
    master.state.heartbeats.store(true, Ordering::SeqCst);
    let (framework_id, _) = connected(&mut scheduler).await;
    assert_eq!(framework_id.as_str(), "fw-1");
    let subscribes = master.calls_of(CallType::Subscribe);
    assert_eq!(subscribes.len(), 2);
    assert_eq!(
        subscribes[1].call.framework_id,
        Some(FrameworkId::new("fw-1"))
    );
    scheduler.stop().await;
}

#[tokio::test]
async fn retries_503_and_dead_masters_with_backoff() {
    // The first master refuses connections; the second has no leader for
    // three attempts.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let master = MockMaster::start("fw-1", 1.0).await;
    master.state.unavailable.store(3, Ordering::SeqCst);
    let mut scheduler =
        Scheduler::start(config(vec![format!("http://{dead}"), master.url()])).unwrap();
    let (_, at) = connected(&mut scheduler).await;
    assert_eq!(at, master.master_url());
    assert_eq!(master.calls_of(CallType::Subscribe).len(), 4);
    scheduler.stop().await;
}

#[tokio::test]
async fn gives_up_after_max_attempts() {
    let master = MockMaster::start("fw-1", 1.0).await;
    master.state.unavailable.store(100, Ordering::SeqCst);
    let mut cfg = config(vec![master.url()]);
    cfg.max_attempts = Some(3);
    let mut scheduler = Scheduler::start(cfg).unwrap();
    let handle = scheduler.handle();
    let reason = closed(&mut scheduler).await;
    let CloseReason::GaveUp { attempts, last } = reason else {
        panic!("{reason:?}")
    };
    assert_eq!(attempts, 3);
    assert!(
        matches!(&last, Disconnect::Unavailable { status: 503, message, .. } if message == "No leader elected"),
        "{last:?}"
    );
    assert!(scheduler.recv().await.is_none());
    assert!(matches!(
        handle.wait_connected(WAIT).await,
        Err(ClientError::Closed)
    ));
}

#[tokio::test]
async fn call_errors_carry_the_status_and_the_masters_text() {
    let master = MockMaster::start("fw-1", 1.0).await;
    let scheduler = Scheduler::start(config(vec![master.url()])).unwrap();
    let handle = scheduler.handle();
    handle.wait_connected(WAIT).await.unwrap();
    *master.state.reject_calls.lock().unwrap() = Some((
        StatusCode::BAD_REQUEST,
        "Failed to validate scheduler::Call: Offer o-9 is no longer valid".into(),
    ));
    let err = handle
        .launch(OfferId::new("o-9"), Vec::new(), None)
        .await
        .unwrap_err();
    match &err {
        ClientError::Rejected {
            call,
            status,
            message,
            ..
        } => {
            assert_eq!(*call, CallType::Accept);
            assert_eq!(*status, 400);
            assert!(
                message.contains("Offer o-9 is no longer valid"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("400"), "{err}");
    // The session is unaffected.
    assert!(handle.is_connected());
    drop(scheduler);
}

#[tokio::test]
async fn an_error_event_closes_the_client_for_good() {
    let master = MockMaster::start("fw-1", 1.0).await;
    let mut scheduler = Scheduler::start(config(vec![master.url()])).unwrap();
    let handle = scheduler.handle();
    connected(&mut scheduler).await;
    master.push(&Event::Error(scheduler::Error {
        message: "Framework has been removed".into(),
    }));
    let error = expect(&mut scheduler, "ERROR", |e| match e {
        SchedulerEvent::Event(Event::Error(e)) => Some(e.message.clone()),
        _ => None,
    })
    .await;
    assert_eq!(error, "Framework has been removed");
    let reason = closed(&mut scheduler).await;
    assert_eq!(
        reason,
        CloseReason::Error("Framework has been removed".into())
    );
    assert!(scheduler.recv().await.is_none());
    assert!(matches!(
        handle.revive(vec![]).await,
        Err(ClientError::Closed)
    ));
    assert_eq!(master.calls_of(CallType::Subscribe).len(), 1);
}

#[tokio::test]
async fn a_refused_subscribe_closes_with_the_masters_text() {
    let master = MockMaster::start("fw-1", 1.0).await;
    *master.state.refuse_subscribe.lock().unwrap() = Some((
        StatusCode::BAD_REQUEST,
        "Invalid FrameworkInfo: 'name' is empty".into(),
    ));
    let mut scheduler = Scheduler::start(config(vec![master.url()])).unwrap();
    let reason = closed(&mut scheduler).await;
    assert_eq!(
        reason,
        CloseReason::Refused {
            master: master.master_url(),
            status: 400,
            message: "Invalid FrameworkInfo: 'name' is empty".into()
        }
    );
}

#[tokio::test]
async fn acknowledges_explicitly_and_automatically() {
    let master = MockMaster::start("fw-1", 1.0).await;
    let mut scheduler = Scheduler::start(config(vec![master.url()])).unwrap();
    let handle = scheduler.handle();
    connected(&mut scheduler).await;
    master.push(&update(
        "t-1",
        "a-1",
        TaskState::Running,
        Some(b"0123456789abcdef"),
    ));
    let status = expect(&mut scheduler, "UPDATE", |e| match e {
        SchedulerEvent::Event(Event::Update(u)) => Some(u.status.clone()),
        _ => None,
    })
    .await;
    assert!(handle.acknowledge_status(&status).await.unwrap());
    let no_uuid = TaskStatus::new(TaskId::new("t-1"), TaskState::Running);
    assert!(!handle.acknowledge_status(&no_uuid).await.unwrap());
    let acks = master.wait_calls(CallType::Acknowledge, 1).await;
    let CallBody::Acknowledge(ack) = &acks[0].call.body else {
        unreachable!()
    };
    assert_eq!(ack.task_id.as_str(), "t-1");
    assert_eq!(ack.agent_id.as_str(), "a-1");
    assert_eq!(ack.uuid.as_bytes(), b"0123456789abcdef");
    scheduler.stop().await;

    let mut cfg = config(vec![master.url()]);
    cfg.auto_acknowledge = true;
    let mut scheduler = Scheduler::start(cfg).unwrap();
    connected(&mut scheduler).await;
    master.push(&update(
        "t-2",
        "a-1",
        TaskState::Finished,
        Some(b"fedcba9876543210"),
    ));
    // A reconciliation answer has no uuid and is not acknowledged.
    master.push(&update("t-3", "a-1", TaskState::Running, None));
    expect(&mut scheduler, "UPDATE t-3", |e| match e {
        SchedulerEvent::Event(Event::Update(u)) if u.status.task_id.as_str() == "t-3" => Some(()),
        _ => None,
    })
    .await;
    let acks = master.wait_calls(CallType::Acknowledge, 2).await;
    assert_eq!(acks.len(), 2);
    let CallBody::Acknowledge(ack) = &acks[1].call.body else {
        unreachable!()
    };
    assert_eq!(ack.task_id.as_str(), "t-2");
    assert_eq!(ack.uuid.as_bytes(), b"fedcba9876543210");
    assert_eq!(acks[1].stream_id.as_deref(), Some("stream-2"));
    scheduler.stop().await;
}

#[tokio::test]
async fn teardown_stops_the_client() {
    let master = MockMaster::start("fw-1", 1.0).await;
    let mut scheduler = Scheduler::start(config(vec![master.url()])).unwrap();
    let handle = scheduler.handle();
    connected(&mut scheduler).await;
    handle.teardown().await.unwrap();
    let reason = closed(&mut scheduler).await;
    assert_eq!(reason, CloseReason::TornDown);
    assert_eq!(master.calls_of(CallType::Teardown).len(), 1);
    assert_eq!(master.calls_of(CallType::Subscribe).len(), 1);
}

#[tokio::test]
async fn invalid_configurations_are_refused() {
    let framework = FrameworkInfo::new("root", "x");
    let none: Vec<String> = Vec::new();
    assert!(matches!(
        Scheduler::start(SchedulerConfig::new(none, framework.clone())),
        Err(ClientError::InvalidConfig(_))
    ));
    assert!(matches!(
        Scheduler::start(SchedulerConfig::new(["http://"], framework)),
        Err(ClientError::InvalidMasterUrl { .. })
    ));
}

#[tokio::test]
async fn task_launcher_packs_offers_records_updates_and_acknowledges() {
    let master = MockMaster::start("fw-1", 1.0).await;
    let scheduler = Scheduler::start(config(vec![master.url()])).unwrap();
    let mut plan = LaunchPlan::new(TaskSpec::command("sleep 10", 0.5, 128.0), 3);
    plan.refuse_seconds = 30.0;
    let launcher = TaskLauncher::start(scheduler, plan);
    launcher
        .wait_until("subscribed", WAIT, |s| s.subscriptions == 1)
        .await
        .unwrap();

    // Room for two tasks, and an offer too small for any.
    master.push(&Event::Offers(scheduler::Offers {
        offers: vec![
            offer("o-1", "a-1", 1.0, 300.0),
            offer("o-2", "a-2", 0.1, 64.0),
        ],
    }));
    let accepts = master.wait_calls(CallType::Accept, 1).await;
    let CallBody::Accept(accept) = &accepts[0].call.body else {
        unreachable!()
    };
    assert_eq!(accept.offer_ids, vec![OfferId::new("o-1")]);
    assert_eq!(accept.filters, Some(Filters::refuse(30.0)));
    let Operation::Launch(launch) = &accept.operations[0].operation else {
        panic!("not a launch")
    };
    let ids: Vec<_> = launch
        .task_infos
        .iter()
        .map(|t| t.task_id.as_str())
        .collect();
    assert_eq!(ids, vec!["task-0", "task-1"]);
    for task in &launch.task_infos {
        assert_eq!(task.agent_id.as_str(), "a-1");
        assert_eq!(
            task.command.as_ref().unwrap().value.as_deref(),
            Some("sleep 10")
        );
        let amounts: Vec<_> = task
            .resources
            .iter()
            .map(|r| (r.name.as_str(), r.scalar.unwrap().value))
            .collect();
        assert_eq!(amounts, vec![("cpus", 0.5), ("mem", 128.0)]);
        task.validate_shape(false).unwrap();
    }
    let declines = master.wait_calls(CallType::Decline, 1).await;
    let CallBody::Decline(decline) = &declines[0].call.body else {
        unreachable!()
    };
    assert_eq!(decline.offer_ids, vec![OfferId::new("o-2")]);
    assert_eq!(decline.filters, Some(Filters::refuse(30.0)));
    assert_eq!(launcher.snapshot().pending, 1);
    assert!(master.calls_of(CallType::Suppress).is_empty());

    // The last task goes into the next offer; then offers are suppressed.
    master.push(&Event::Offers(scheduler::Offers {
        offers: vec![offer("o-3", "a-2", 4.0, 1024.0)],
    }));
    let accepts = master.wait_calls(CallType::Accept, 2).await;
    let CallBody::Accept(accept) = &accepts[1].call.body else {
        unreachable!()
    };
    let Operation::Launch(launch) = &accept.operations[0].operation else {
        panic!("not a launch")
    };
    assert_eq!(launch.task_infos.len(), 1);
    assert_eq!(launch.task_infos[0].task_id.as_str(), "task-2");
    master.wait_calls(CallType::Suppress, 1).await;

    // Updates are recorded in order and acknowledged.
    let task0 = TaskId::new("task-0");
    let states = [
        TaskState::Staging,
        TaskState::Starting,
        TaskState::Running,
        TaskState::Finished,
    ];
    for (n, state) in states.iter().enumerate() {
        let uuid = [n as u8; 16];
        master.push(&update("task-0", "a-1", *state, Some(&uuid)));
    }
    let finished = launcher
        .wait_for(&task0, TaskState::Finished, WAIT)
        .await
        .unwrap();
    assert_eq!(finished.state, TaskState::Finished);
    let history = launcher.history(&task0).unwrap();
    assert_eq!(history.states(), states.to_vec());
    assert!(history.launched.unwrap() <= history.statuses[0].received);
    assert!(history
        .statuses
        .windows(2)
        .all(|w| w[0].received <= w[1].received));
    let running = launcher
        .wait_for(&task0, TaskState::Running, WAIT)
        .await
        .unwrap();
    assert_eq!(running.status.uuid.unwrap().as_bytes(), &[2u8; 16]);
    let acks = master.wait_calls(CallType::Acknowledge, 4).await;
    let mut uuids: Vec<_> = acks
        .iter()
        .map(|r| match &r.call.body {
            CallBody::Acknowledge(a) => a.uuid.as_bytes()[0],
            other => panic!("{other:?}"),
        })
        .collect();
    uuids.sort_unstable();
    assert_eq!(uuids, vec![0, 1, 2, 3]);
    assert_eq!(launcher.snapshot().count_in(TaskState::Finished), 1);
    assert_eq!(launcher.histories().len(), 3);

    // A wait that cannot succeed says what it saw.
    let err = launcher
        .wait_for(
            &TaskId::new("task-1"),
            TaskState::Running,
            Duration::from_millis(50),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, WaitError::Timeout { .. }), "{err}");

    // After a resubscription, the live tasks are reconciled explicitly.
    master.drop_streams();
    let reconciles = master.wait_calls(CallType::Reconcile, 1).await;
    let CallBody::Reconcile(reconcile) = &reconciles[0].call.body else {
        unreachable!()
    };
    let mut ids: Vec<_> = reconcile.tasks.iter().map(|t| t.task_id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, vec!["task-1", "task-2"]);
    assert_eq!(
        master.calls_of(CallType::Subscribe)[1].call.framework_id,
        Some(FrameworkId::new("fw-1"))
    );

    // More work revives offers.
    master.wait_calls(CallType::Suppress, 2).await;
    launcher.launch_more(1);
    master.wait_calls(CallType::Revive, 1).await;
    assert!(launcher.snapshot().call_errors.is_empty());
    launcher.stop().await;
}

#[tokio::test]
async fn skips_unknown_events_but_resubscribes_on_broken_framing() {
    let master = MockMaster::start("fw-1", 1.0).await;
    let mut scheduler = Scheduler::start(config(vec![master.url()])).unwrap();
    connected(&mut scheduler).await;

    // An event type from a newer master is skipped; the stream stays up.
    master.push_raw(b"26\n{\"type\":\"FROM_THE_FUTURE\"}");
    master.push(&Event::Rescind(scheduler::Rescind {
        offer_id: OfferId::new("o-1"),
    }));
    expect(&mut scheduler, "RESCIND", |e| {
        matches!(e, SchedulerEvent::Event(Event::Rescind(_))).then_some(())
    })
    .await;
    assert_eq!(master.calls_of(CallType::Subscribe).len(), 1);

    // A record cut off by the end of the stream.
    master.push_raw(b"40\n{\"type\":");
    master.drop_streams();
    let reason = disconnected(&mut scheduler).await;
    assert!(
        matches!(&reason, Disconnect::Protocol { message, .. } if message.contains("inside a record")),
        "{reason:?}"
    );
    connected(&mut scheduler).await;

    // A length prefix that is not a number.
    master.push_raw(b"x\n");
    let reason = disconnected(&mut scheduler).await;
    assert!(
        matches!(&reason, Disconnect::Protocol { message, .. } if message.contains("length prefix")),
        "{reason:?}"
    );
    let (framework_id, _) = connected(&mut scheduler).await;
    assert_eq!(framework_id.as_str(), "fw-1");
    assert_eq!(master.calls_of(CallType::Subscribe).len(), 3);
    scheduler.stop().await;
}
