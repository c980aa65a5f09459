//! Harness for Marathon processes (`dcos daemon marathon`): start one
//! against a master (the master also serves the store), wait for its
//! ready line, kill -9 and restart it, and small JSON helpers for its API.

use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::{dcos_bin, free_port, spawn_until_listening};

/// One `dcos daemon marathon` process.
#[derive(Debug)]
pub struct Marathon {
    pub port: u16,
    pub master: String,
    pub extra: Vec<String>,
    child: Option<Child>,
}

impl Marathon {
    /// Starts Marathon against `master` (comma-separated URLs) and waits
    /// until it serves its API.
    pub fn start(master: &str, extra: &[&str]) -> Marathon {
        let mut m = Marathon {
            port: free_port(),
            master: master.to_string(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            child: None,
        };
        m.spawn();
        m
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new(dcos_bin());
        cmd.args(["daemon", "marathon", "--master", &self.master, "--listen"])
            .arg(self.addr())
            .args(&self.extra)
            .env("DCOS_LOG", "warn")
            .stderr(Stdio::inherit());
        self.child = Some(spawn_until_listening(
            &mut cmd,
            &format!("marathon on port {}", self.port),
        ));
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// kill -9.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// GET a JSON document (`Value::Null` on any error).
    pub async fn get(&self, path: &str) -> Value {
        json_of(
            reqwest::Client::new()
                .get(format!("{}{path}", self.url()))
                .send()
                .await,
        )
        .await
        .1
    }

    /// Sends a JSON body; returns the status and the JSON answer.
    pub async fn send(&self, method: &str, path: &str, body: &str) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let resp = reqwest::Client::new()
            .request(method, format!("{}{path}", self.url()))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await;
        json_of(resp).await
    }

    /// Whether this process says it is the elected leader.
    pub async fn is_leader(&self) -> bool {
        self.get("/v2/info").await["elected"] == true
    }

    /// The app (`/v2/apps/{id}` → `app`), `Null` if unknown.
    pub async fn app(&self, id: &str) -> Value {
        self.get(&format!("/v2/apps{id}")).await["app"].clone()
    }

    /// Whether the app has no deployment and `n` healthy (or, without
    /// health checks, running) tasks of its current version.
    pub async fn settled(&self, id: &str, n: usize) -> bool {
        let app = self.app(id).await;
        let Some(tasks) = app["tasks"].as_array() else {
            return false;
        };
        let has_checks = app["healthChecks"]
            .as_array()
            .is_some_and(|h| !h.is_empty());
        let config = app["versionInfo"]["lastConfigChangeAt"]
            .as_str()
            .unwrap_or_default();
        let _ = config;
        app["deployments"].as_array().is_some_and(|d| d.is_empty())
            && tasks.len() == n
            && tasks.iter().all(|t| {
                t["state"] == "TASK_RUNNING"
                    && (!has_checks || t["healthCheckResults"][0]["alive"] == true)
            })
    }
}

async fn json_of(resp: reqwest::Result<reqwest::Response>) -> (u16, Value) {
    match resp {
        Ok(r) => {
            let status = r.status().as_u16();
            let body = r.bytes().await.unwrap_or_default();
            (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
        }
        Err(_) => (0, Value::Null),
    }
}

impl Drop for Marathon {
    fn drop(&mut self) {
        self.kill9();
    }
}
