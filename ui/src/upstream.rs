//! The backends behind the gateway and how to find the right one:
//!
//! - the **leading master**, asked of any master with `/master/redirect`
//!   (a 307 to `//host:port`), cached, and forgotten when it stops
//!   answering or answers as a follower (307/503);
//! - **Marathon**: the configured instances in order; a standby proxies to
//!   its leader anyway, so any live one will do; a dead one is skipped;
//! - **Chronos** (which also serves the Metronome v1 API);
//! - **services**: a Marathon app whose `env` or `labels` carry
//!   `DCOS_SERVICE_NAME=<name>` → one of its running tasks' `host:ports[0]`,
//!   from `/v2/apps?embed=apps.tasks`, cached for [`SERVICE_TTL`];
//! - **agents**: agent id → its HTTP endpoint, from the leader's
//!   `/master/slaves` (`pid` `slave(1)@host:port`), cached for
//!   [`AGENT_TTL`].
//!
//! All HTTP to backends goes through one pooled hyper client ([`Http`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// How long a service name → task lookup is trusted.
pub const SERVICE_TTL: Duration = Duration::from_secs(2);
/// How long the agent id → endpoint table is trusted.
pub const AGENT_TTL: Duration = Duration::from_secs(5);
/// How long a small JSON call to a backend (discovery, health) may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// The pooled HTTP/1 client to backends (bodies are buffered requests,
/// streamed responses).
pub type Http = Client<HttpConnector, Full<Bytes>>;

pub fn http_client() -> Http {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(2)));
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(64)
        .build(connector)
}

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// No master answered `/master/redirect` with a leader.
    #[error("no leading Mesos master is known: none of {0} named one")]
    NoLeader(String),
    /// `--marathon` was not given.
    #[error("no Marathon is configured (--marathon)")]
    NoMarathon,
    /// `--chronos` was not given.
    #[error("no Chronos/Metronome is configured (--chronos)")]
    NoChronos,
    /// `--cosmos` was not given.
    #[error("no Cosmos (package manager) is configured (--cosmos)")]
    NoCosmos,
    /// No running task of an app labelled `DCOS_SERVICE_NAME=<name>`.
    #[error("no running service named {0:?} (a Marathon app with DCOS_SERVICE_NAME={0} and a running task)")]
    UnknownService(String),
    /// The leader does not list the agent.
    #[error("agent {0} is not known to the leading master")]
    UnknownAgent(String),
    /// A backend call failed (connection, timeout, bad answer).
    #[error("{0}")]
    Backend(String),
}

/// A URL base: `http://host:port` without a trailing slash.
pub fn base_url(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    if url.contains("://") {
        url.to_string()
    } else {
        format!("http://{url}")
    }
}

/// GETs `url` and parses its JSON (any 2xx).
pub async fn get_json(http: &Http, url: &str) -> Result<Value, UpstreamError> {
    let (status, body) = get(http, url).await?;
    if !status.is_success() {
        return Err(UpstreamError::Backend(format!("GET {url}: {status}")));
    }
    serde_json::from_slice(&body).map_err(|e| UpstreamError::Backend(format!("GET {url}: {e}")))
}

/// GETs `url` (following nothing), within [`PROBE_TIMEOUT`].
pub async fn get(http: &Http, url: &str) -> Result<(StatusCode, Bytes), UpstreamError> {
    let (status, _, body) = get_with_headers(http, url).await?;
    Ok((status, body))
}

async fn get_with_headers(
    http: &Http,
    url: &str,
) -> Result<(StatusCode, hyper::HeaderMap, Bytes), UpstreamError> {
    let req = Request::get(url)
        .body(Full::new(Bytes::new()))
        .map_err(|e| UpstreamError::Backend(format!("GET {url}: {e}")))?;
    let call = async {
        let resp = http
            .request(req)
            .await
            .map_err(|e| UpstreamError::Backend(format!("GET {url}: {e}")))?;
        let (parts, body) = resp.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| UpstreamError::Backend(format!("GET {url}: {e}")))?
            .to_bytes();
        Ok((parts.status, parts.headers, body))
    };
    tokio::time::timeout(PROBE_TIMEOUT, call)
        .await
        .map_err(|_| UpstreamError::Backend(format!("GET {url}: timed out")))?
}

#[derive(Debug)]
struct Cached<T> {
    at: Instant,
    value: T,
}

/// The backends and what the gateway has learned about them.
#[derive(Debug)]
pub struct Upstreams {
    pub http: Http,
    masters: Vec<String>,
    leader: Mutex<Option<String>>,
    marathons: Vec<String>,
    marathon_current: AtomicUsize,
    chronos: Vec<String>,
    chronos_current: AtomicUsize,
    cosmos: Vec<String>,
    cosmos_current: AtomicUsize,
    services: Mutex<Option<Cached<HashMap<String, String>>>>,
    agents: Mutex<Option<Cached<HashMap<String, String>>>>,
}

impl Upstreams {
    pub fn new(
        masters: &[String],
        marathons: &[String],
        chronos: &[String],
        cosmos: &[String],
    ) -> Arc<Upstreams> {
        Arc::new(Upstreams {
            http: http_client(),
            masters: masters.iter().map(|m| base_url(m)).collect(),
            leader: Mutex::new(None),
            marathons: marathons.iter().map(|m| base_url(m)).collect(),
            marathon_current: AtomicUsize::new(0),
            chronos: chronos.iter().map(|m| base_url(m)).collect(),
            chronos_current: AtomicUsize::new(0),
            cosmos: cosmos.iter().map(|m| base_url(m)).collect(),
            cosmos_current: AtomicUsize::new(0),
            services: Mutex::new(None),
            agents: Mutex::new(None),
        })
    }

    pub fn masters(&self) -> &[String] {
        &self.masters
    }

    pub fn marathons(&self) -> &[String] {
        &self.marathons
    }

    pub fn chronos_all(&self) -> &[String] {
        &self.chronos
    }

    pub fn cosmos_all(&self) -> &[String] {
        &self.cosmos
    }

    /// The leading master's base URL (cached).
    pub async fn leader(&self) -> Result<String, UpstreamError> {
        if let Some(l) = self
            .leader
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            return Ok(l);
        }
        let found = self.find_leader().await?;
        *self.leader.lock().unwrap_or_else(|e| e.into_inner()) = Some(found.clone());
        Ok(found)
    }

    /// Forgets `stale` as the leader (it failed or said it is not).
    pub fn forget_leader(&self, stale: &str) {
        let mut l = self.leader.lock().unwrap_or_else(|e| e.into_inner());
        if l.as_deref() == Some(stale) {
            tracing::info!(master = stale, "forgetting the cached leading master");
            *l = None;
        }
        // The agent table came from it too.
        *self.agents.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Asks the masters, the previously cached leader last, which one
    /// leads. A master that is down is skipped; a 307 names the leader.
    async fn find_leader(&self) -> Result<String, UpstreamError> {
        for m in &self.masters {
            let url = format!("{m}/master/redirect");
            let Ok((status, headers, _)) = get_with_headers(&self.http, &url).await else {
                continue;
            };
            if status != StatusCode::TEMPORARY_REDIRECT {
                continue;
            }
            let Some(loc) = headers
                .get(hyper::header::LOCATION)
                .and_then(|v| v.to_str().ok())
            else {
                continue;
            };
            // `//host:port` (Mesos' form) or a full URL.
            let leader = match loc.strip_prefix("//") {
                Some(hostport) => format!("http://{}", hostport.trim_end_matches('/')),
                None => base_url(loc),
            };
            // The named leader must answer, or it is a stale answer from
            // before a failover.
            if get(&self.http, &format!("{leader}/master/health"))
                .await
                .map(|(s, _)| s.is_success())
                .unwrap_or(false)
            {
                return Ok(leader);
            }
        }
        Err(UpstreamError::NoLeader(self.masters.join(", ")))
    }

    fn pick(list: &[String], current: &AtomicUsize) -> Option<String> {
        if list.is_empty() {
            return None;
        }
        Some(list[current.load(Ordering::Relaxed) % list.len()].clone())
    }

    fn rotate(list: &[String], current: &AtomicUsize, failed: &str) {
        let i = current.load(Ordering::Relaxed);
        if !list.is_empty() && list[i % list.len()] == failed {
            let _ = current.compare_exchange(i, i + 1, Ordering::Relaxed, Ordering::Relaxed);
        }
    }

    /// The Marathon to talk to.
    pub fn marathon(&self) -> Result<String, UpstreamError> {
        Self::pick(&self.marathons, &self.marathon_current).ok_or(UpstreamError::NoMarathon)
    }

    /// `failed` did not answer: try the next one from now on.
    pub fn marathon_failed(&self, failed: &str) {
        Self::rotate(&self.marathons, &self.marathon_current, failed);
        *self.services.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    pub fn chronos(&self) -> Result<String, UpstreamError> {
        Self::pick(&self.chronos, &self.chronos_current).ok_or(UpstreamError::NoChronos)
    }

    pub fn chronos_failed(&self, failed: &str) {
        Self::rotate(&self.chronos, &self.chronos_current, failed);
    }

    /// The Cosmos to talk to.
    pub fn cosmos(&self) -> Result<String, UpstreamError> {
        Self::pick(&self.cosmos, &self.cosmos_current).ok_or(UpstreamError::NoCosmos)
    }

    /// `failed` did not answer: try the next one from now on.
    pub fn cosmos_failed(&self, failed: &str) {
        Self::rotate(&self.cosmos, &self.cosmos_current, failed);
    }

    /// The base URL of a running task of the service `name`.
    pub async fn service(&self, name: &str) -> Result<String, UpstreamError> {
        {
            let cached = self.services.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(c) = cached.as_ref().filter(|c| c.at.elapsed() < SERVICE_TTL) {
                return c
                    .value
                    .get(name)
                    .cloned()
                    .ok_or_else(|| UpstreamError::UnknownService(name.to_string()));
            }
        }
        let marathon = self.marathon()?;
        let apps = match get_json(&self.http, &format!("{marathon}/v2/apps?embed=apps.tasks")).await
        {
            Ok(v) => v,
            Err(e) => {
                self.marathon_failed(&marathon);
                return Err(e);
            }
        };
        let table = service_table(&apps);
        let found = table.get(name).cloned();
        *self.services.lock().unwrap_or_else(|e| e.into_inner()) = Some(Cached {
            at: Instant::now(),
            value: table,
        });
        found.ok_or_else(|| UpstreamError::UnknownService(name.to_string()))
    }

    /// Forgets the agent table (an agent stopped answering: it may have
    /// moved or been replaced).
    pub fn forget_agents(&self) {
        *self.agents.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Forgets the service table (a task stopped answering).
    pub fn forget_services(&self) {
        *self.services.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// The service names Marathon knows, with their task's URL (for `/`).
    pub async fn services(&self) -> Result<HashMap<String, String>, UpstreamError> {
        let marathon = self.marathon()?;
        let apps = get_json(&self.http, &format!("{marathon}/v2/apps?embed=apps.tasks")).await?;
        Ok(service_table(&apps))
    }

    /// The base URL of agent `id`'s HTTP endpoint.
    pub async fn agent(&self, id: &str) -> Result<String, UpstreamError> {
        {
            let cached = self.agents.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(url) = cached
                .as_ref()
                .filter(|c| c.at.elapsed() < AGENT_TTL)
                .and_then(|c| c.value.get(id))
            {
                return Ok(url.clone());
            }
        }
        let leader = self.leader().await?;
        let slaves = match get_json(&self.http, &format!("{leader}/master/slaves")).await {
            Ok(v) => v,
            Err(e) => {
                self.forget_leader(&leader);
                return Err(e);
            }
        };
        let table = agent_table(&slaves);
        let found = table.get(id).cloned();
        *self.agents.lock().unwrap_or_else(|e| e.into_inner()) = Some(Cached {
            at: Instant::now(),
            value: table,
        });
        found.ok_or_else(|| UpstreamError::UnknownAgent(id.to_string()))
    }
}

/// `DCOS_SERVICE_NAME` → `http://host:port` of the app's first running
/// task, from a `/v2/apps?embed=apps.tasks` answer.
pub fn service_table(apps: &Value) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for app in apps["apps"].as_array().into_iter().flatten() {
        let name = app["labels"]["DCOS_SERVICE_NAME"]
            .as_str()
            .or_else(|| app["env"]["DCOS_SERVICE_NAME"].as_str());
        let Some(name) = name.filter(|n| !n.is_empty()) else {
            continue;
        };
        let port_index = app["labels"]["DCOS_SERVICE_PORT_INDEX"]
            .as_str()
            .and_then(|s| s.parse::<usize>().ok())
            .unwrap_or(0);
        let task = app["tasks"].as_array().into_iter().flatten().find(|t| {
            t["state"] == "TASK_RUNNING"
                && t["host"].as_str().is_some()
                && t["ports"][port_index].as_u64().is_some()
        });
        if let Some(t) = task {
            let host = t["host"].as_str().unwrap_or_default();
            let port = t["ports"][port_index].as_u64().unwrap_or_default();
            out.insert(name.to_string(), format!("http://{host}:{port}"));
        }
    }
    out
}

/// Agent id → `http://host:port`, from a `/master/slaves` answer (`pid`
/// is `slave(1)@host:port`; `hostname` and `port` otherwise).
pub fn agent_table(slaves: &Value) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for a in slaves["slaves"].as_array().into_iter().flatten() {
        let Some(id) = a["id"].as_str() else { continue };
        let hostport = a["pid"]
            .as_str()
            .and_then(|p| p.split_once('@').map(|(_, hp)| hp.to_string()))
            .or_else(|| {
                Some(format!(
                    "{}:{}",
                    a["hostname"].as_str()?,
                    a["port"].as_u64()?
                ))
            });
        if let Some(hp) = hostport {
            out.insert(id.to_string(), format!("http://{hp}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn services_are_found_by_label_or_env_on_a_running_task() {
        let apps = json!({"apps": [
            {"id": "/web", "labels": {"DCOS_SERVICE_NAME": "web"}, "env": {},
             "tasks": [{"state": "TASK_STAGING", "host": "10.0.0.1", "ports": [1]},
                       {"state": "TASK_RUNNING", "host": "10.0.0.2", "ports": [31001, 31002]}]},
            {"id": "/api", "labels": {"DCOS_SERVICE_NAME": "api", "DCOS_SERVICE_PORT_INDEX": "1"},
             "tasks": [{"state": "TASK_RUNNING", "host": "h", "ports": [1, 2]}]},
            {"id": "/byenv", "env": {"DCOS_SERVICE_NAME": "envsvc"},
             "tasks": [{"state": "TASK_RUNNING", "host": "h2", "ports": [7]}]},
            {"id": "/plain", "tasks": [{"state": "TASK_RUNNING", "host": "h3", "ports": [8]}]},
            {"id": "/down", "labels": {"DCOS_SERVICE_NAME": "down"}, "tasks": []}
        ]});
        let t = service_table(&apps);
        assert_eq!(t["web"], "http://10.0.0.2:31001");
        assert_eq!(t["api"], "http://h:2");
        assert_eq!(t["envsvc"], "http://h2:7");
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn agents_are_found_by_pid_or_hostname_and_port() {
        let slaves = json!({"slaves": [
            {"id": "a1", "pid": "slave(1)@127.0.0.1:5051", "hostname": "x", "port": 1},
            {"id": "a2", "hostname": "10.0.0.9", "port": 5052}
        ]});
        let t = agent_table(&slaves);
        assert_eq!(t["a1"], "http://127.0.0.1:5051");
        assert_eq!(t["a2"], "http://10.0.0.9:5052");
    }

    #[test]
    fn base_urls_are_normalised() {
        assert_eq!(base_url("127.0.0.1:5050"), "http://127.0.0.1:5050");
        assert_eq!(base_url("http://h:1/"), "http://h:1");
    }

    #[test]
    fn a_failed_backend_rotates_to_the_next_once() {
        let list = vec!["a".to_string(), "b".to_string()];
        let cur = AtomicUsize::new(0);
        assert_eq!(Upstreams::pick(&list, &cur).unwrap(), "a");
        Upstreams::rotate(&list, &cur, "a");
        // A second report about the same failure does not skip "b".
        Upstreams::rotate(&list, &cur, "a");
        assert_eq!(Upstreams::pick(&list, &cur).unwrap(), "b");
    }
}
