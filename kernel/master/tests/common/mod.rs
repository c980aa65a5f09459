//! Test harness: a real store node with the master on an ephemeral port, a
//! fake agent speaking `dcos_api::agent`, and a raw HTTP scheduler client.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use dcos_api::agent;
use dcos_api::recordio::Decoder;
use dcos_api::resources::Resources;
use dcos_api::scheduler::{self, CallBody};
use dcos_api::v1::{
    AgentId, AgentInfo, Base64Bytes, FrameworkId, FrameworkInfo, TaskId, TaskState, TaskStatus,
};
use dcos_master::{Master, MasterFlags};
use dcos_store::{NodeConfig, StoreNode};
use futures::StreamExt;
use reqwest::StatusCode;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How long any awaited condition may take.
pub const WAIT: Duration = Duration::from_secs(10);

pub struct Cluster {
    pub node: Arc<StoreNode>,
    pub master: Arc<Master>,
    pub base: String,
    pub dir: tempfile::TempDir,
    server: JoinHandle<()>,
}

impl Cluster {
    pub async fn start(flags: MasterFlags) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir, flags).await
    }

    pub async fn start_in(dir: tempfile::TempDir, flags: MasterFlags) -> Cluster {
        Self::start_at(dir, "127.0.0.1:0", flags).await
    }

    /// Starts on `bind` (a fixed address lets a restarted node keep its
    /// Raft membership address).
    pub async fn start_at(dir: tempfile::TempDir, bind: &str, flags: MasterFlags) -> Cluster {
        let listener = tokio::net::TcpListener::bind(bind).await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let node = StoreNode::start(NodeConfig::new(dir.path(), addr.clone()))
            .await
            .unwrap();
        let master = Master::start(Arc::clone(&node), flags).await.unwrap();
        let app = dcos_store::http::router(Arc::clone(&node))
            .merge(dcos_master::router(Arc::clone(&master)));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        node.bootstrap().await.unwrap();
        let deadline = tokio::time::Instant::now() + WAIT;
        while !master.is_active() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "master never became active"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Cluster {
            node,
            master,
            base: format!("http://{addr}"),
            dir,
            server,
        }
    }

    pub async fn stop(self) -> tempfile::TempDir {
        self.server.abort();
        // Wait until the aborted server task is dropped with its listener:
        // a restart binds the same address right after.
        let _ = self.server.await;
        self.node.shutdown().await;
        drop(self.master);
        self.dir
    }

    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        reqwest::get(format!("{}{path}", self.base))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Spawns a reader that decodes RecordIO JSON records into `T`s.
fn read_stream<T: serde::de::DeserializeOwned + Send + 'static>(
    resp: reqwest::Response,
    parse: fn(&[u8]) -> Option<T>,
) -> (mpsc::UnboundedReceiver<T>, JoinHandle<()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let handle = tokio::spawn(async move {
        let mut body = resp.bytes_stream();
        let mut decoder = Decoder::default();
        while let Some(Ok(chunk)) = body.next().await {
            let Ok(records) = decoder.decode(&chunk) else {
                return;
            };
            for r in records {
                let event = parse(&r).expect("every record parses");
                if tx.send(event).is_err() {
                    return;
                }
            }
        }
    });
    (rx, handle)
}

// ---------------------------------------------------------------- agent

pub struct FakeAgent {
    pub id: AgentId,
    pub stream: String,
    pub base: String,
    events: mpsc::UnboundedReceiver<agent::Event>,
    reader: JoinHandle<()>,
    heartbeat: Option<JoinHandle<()>>,
    next_uuid: u64,
}

pub fn register(resources: &str) -> agent::Register {
    let mut info = AgentInfo {
        hostname: "127.0.0.1".into(),
        port: Some(5051),
        resources: Resources::parse(resources, "*").unwrap().into_vec(),
        attributes: Vec::new(),
        id: None,
        domain: None,
    };
    info.attributes.clear();
    agent::Register {
        agent_id: None,
        agent_info: info,
        endpoint: "http://127.0.0.1:5051".into(),
        version: "test".into(),
        tasks: Vec::new(),
        executors: Vec::new(),
        frameworks: Vec::new(),
    }
}

impl FakeAgent {
    pub async fn connect(base: &str, reg: agent::Register) -> FakeAgent {
        let resp = client()
            .post(format!("{base}{}", agent::SUBSCRIBE_PATH))
            .json(&reg)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "agent subscribe");
        let stream = resp.headers()[agent::STREAM_ID_HEADER]
            .to_str()
            .unwrap()
            .to_owned();
        let (mut events, reader) =
            read_stream(resp, |b| serde_json::from_slice::<agent::Event>(b).ok());
        let first = tokio::time::timeout(WAIT, events.recv())
            .await
            .unwrap()
            .unwrap();
        let agent::Event::Registered { agent_id, .. } = first else {
            panic!("first event is not REGISTERED: {first:?}")
        };
        FakeAgent {
            id: agent_id,
            stream,
            base: base.to_owned(),
            events,
            reader,
            heartbeat: None,
            next_uuid: 0,
        }
    }

    /// Heartbeats every `every` until dropped or killed.
    pub fn keep_alive(&mut self, every: Duration) {
        let url = format!("{}{}", self.base, agent::CALL_PATH);
        let stream = self.stream.clone();
        let call = agent::Call::Heartbeat {
            agent_id: self.id.clone(),
        };
        self.heartbeat = Some(tokio::spawn(async move {
            let c = client();
            loop {
                let _ = c
                    .post(&url)
                    .header(agent::STREAM_ID_HEADER, &stream)
                    .json(&call)
                    .send()
                    .await;
                tokio::time::sleep(every).await;
            }
        }));
    }

    /// Stops heartbeating and drops the stream (kill -9).
    pub fn kill(&mut self) {
        self.reader.abort();
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
    }

    pub async fn call(&self, call: &agent::Call) -> (StatusCode, String) {
        let resp = client()
            .post(format!("{}{}", self.base, agent::CALL_PATH))
            .header(agent::STREAM_ID_HEADER, &self.stream)
            .json(call)
            .send()
            .await
            .unwrap();
        (resp.status(), resp.text().await.unwrap())
    }

    /// The next event that is not a heartbeat.
    pub async fn next(&mut self) -> agent::Event {
        loop {
            let e = tokio::time::timeout(WAIT, self.events.recv())
                .await
                .expect("agent event in time")
                .expect("agent stream open");
            if e != agent::Event::Heartbeat {
                return e;
            }
        }
    }

    /// Sends a status update for `task` and returns its uuid.
    pub async fn update(
        &mut self,
        framework_id: &FrameworkId,
        task: &TaskId,
        state: TaskState,
    ) -> Base64Bytes {
        self.next_uuid += 1;
        let mut uuid = vec![7u8; 8];
        uuid.extend_from_slice(&self.next_uuid.to_be_bytes());
        let uuid = Base64Bytes::new(uuid);
        let mut status = TaskStatus::new(task.clone(), state);
        status.uuid = Some(uuid.clone());
        status.agent_id = Some(self.id.clone());
        status.source = Some(dcos_api::v1::Source::Executor);
        let (code, text) = self
            .call(&agent::Call::Update {
                agent_id: self.id.clone(),
                framework_id: framework_id.clone(),
                status,
            })
            .await;
        assert_eq!(code, StatusCode::ACCEPTED, "{text}");
        uuid
    }
}

impl Drop for FakeAgent {
    fn drop(&mut self) {
        self.kill();
    }
}

// ---------------------------------------------------------------- scheduler

pub struct Sched {
    pub base: String,
    pub id: FrameworkId,
    pub stream: String,
    pub heartbeat_interval: Option<f64>,
    events: mpsc::UnboundedReceiver<scheduler::Event>,
    reader: JoinHandle<()>,
}

pub fn framework(name: &str) -> FrameworkInfo {
    FrameworkInfo::new("root", name)
}

impl Sched {
    pub async fn subscribe(base: &str, info: FrameworkInfo) -> Sched {
        let resp = client()
            .post(format!("{base}/api/v1/scheduler"))
            .header("Content-Type", "application/json")
            .body(scheduler::Call::subscribe(info).to_json())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "subscribe");
        assert_eq!(resp.headers()["content-type"], "application/json");
        let stream = resp.headers()["mesos-stream-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let (mut events, reader) = read_stream(resp, |b| scheduler::Event::from_json(b).ok());
        let first = tokio::time::timeout(WAIT, events.recv())
            .await
            .unwrap()
            .unwrap();
        let scheduler::Event::Subscribed(s) = first else {
            panic!("first event is not SUBSCRIBED: {first:?}")
        };
        Sched {
            base: base.to_owned(),
            id: s.framework_id,
            stream,
            heartbeat_interval: s.heartbeat_interval_seconds,
            events,
            reader,
        }
    }

    /// Closes the stream (the scheduler process dies).
    pub fn disconnect(&mut self) {
        self.reader.abort();
    }

    pub async fn call(&self, body: CallBody) -> (StatusCode, String) {
        self.raw(
            &scheduler::Call::new(self.id.clone(), body).to_json(),
            Some(&self.stream),
        )
        .await
    }

    pub async fn raw(&self, body: &[u8], stream: Option<&str>) -> (StatusCode, String) {
        let mut req = client()
            .post(format!("{}/api/v1/scheduler", self.base))
            .header("Content-Type", "application/json")
            .body(body.to_vec());
        if let Some(s) = stream {
            req = req.header("Mesos-Stream-Id", s);
        }
        let resp = req.send().await.unwrap();
        (resp.status(), resp.text().await.unwrap())
    }

    /// The next event that is not a heartbeat.
    pub async fn next(&mut self) -> scheduler::Event {
        loop {
            let e = tokio::time::timeout(WAIT, self.events.recv())
                .await
                .expect("scheduler event in time")
                .expect("scheduler stream open");
            if e != scheduler::Event::Heartbeat {
                return e;
            }
        }
    }

    /// Waits for an event `pick` accepts, skipping others.
    pub async fn wait_for<T>(&mut self, pick: impl Fn(&scheduler::Event) -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let e = tokio::time::timeout(left, self.events.recv())
                .await
                .expect("expected event in time")
                .expect("scheduler stream open");
            if let Some(t) = pick(&e) {
                return t;
            }
        }
    }

    pub async fn offers(&mut self) -> Vec<dcos_api::v1::Offer> {
        self.wait_for(|e| match e {
            scheduler::Event::Offers(o) => Some(o.offers.clone()),
            _ => None,
        })
        .await
    }

    pub async fn update(&mut self) -> TaskStatus {
        self.wait_for(|e| match e {
            scheduler::Event::Update(u) => Some(u.status.clone()),
            _ => None,
        })
        .await
    }

    /// Asserts no event but heartbeats arrives within `d`.
    pub async fn quiet_for(&mut self, d: Duration) {
        let deadline = tokio::time::Instant::now() + d;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.events.recv()).await {
                Err(_) => return,
                Ok(Some(scheduler::Event::Heartbeat)) => {}
                Ok(other) => panic!("unexpected event {other:?}"),
            }
        }
    }

    /// Whether the master closed the stream.
    pub async fn closed(&mut self) -> bool {
        loop {
            match tokio::time::timeout(WAIT, self.events.recv()).await {
                Ok(None) => return true,
                Ok(Some(_)) => {}
                Err(_) => return false,
            }
        }
    }
}

impl Drop for Sched {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// A command task using `resources` of `offer`.
pub fn task(id: &str, offer: &dcos_api::v1::Offer, resources: &str) -> dcos_api::v1::TaskInfo {
    let mut t = dcos_api::v1::TaskInfo::command(
        id,
        TaskId::new(id),
        offer.agent_id.clone(),
        dcos_api::v1::CommandInfo::shell("sleep 1000"),
    );
    t.resources = Resources::parse(resources, "*").unwrap().into_vec();
    t
}

pub fn launch(offers: &[&dcos_api::v1::Offer], tasks: Vec<dcos_api::v1::TaskInfo>) -> CallBody {
    CallBody::Accept(scheduler::Accept {
        offer_ids: offers.iter().map(|o| o.id.clone()).collect(),
        operations: vec![dcos_api::v1::OfferOperation::launch(tasks)],
        filters: None,
    })
}
