//! Harness for Chronos processes (`dcos daemon chronos`): start one on an
//! ephemeral port against a master (whose store it uses), wait for its
//! ready line, kill -9 it; small HTTP helpers for its two APIs.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::{dcos_bin, free_port, spawn_until_listening, wait_until};

/// One `dcos daemon chronos` process.
#[derive(Debug)]
pub struct Chronos {
    pub port: u16,
    pub masters: String,
    pub extra: Vec<String>,
    child: Option<Child>,
    http: reqwest::Client,
}

impl Chronos {
    /// Starts Chronos against `masters` (comma-separated URLs) and waits
    /// until it serves.
    pub fn start(masters: &str, extra: &[&str]) -> Chronos {
        let mut c = Chronos {
            port: free_port(),
            masters: masters.to_owned(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            child: None,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("http client"),
        };
        c.spawn();
        c
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new(dcos_bin());
        cmd.args(["daemon", "chronos", "--master", &self.masters, "--listen"])
            .arg(self.addr())
            .args(&self.extra)
            .env(
                "DCOS_LOG",
                std::env::var("DCOS_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stderr(Stdio::inherit());
        self.child = Some(spawn_until_listening(
            &mut cmd,
            &format!("chronos on port {}", self.port),
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

    /// Whether this process leads (its `/v1/metrics` says so).
    pub async fn is_leader(&self) -> bool {
        self.get("/v1/metrics")
            .await
            .map(|(_, v)| v["leader"] == true)
            .unwrap_or(false)
    }

    /// Waits until this process leads.
    pub async fn wait_leader(&self, timeout: Duration) {
        wait_until(timeout, "chronos leads", || self.is_leader()).await;
    }

    /// GET, JSON answer (Null when not JSON).
    pub async fn get(&self, path: &str) -> reqwest::Result<(u16, Value)> {
        let r = self
            .http
            .get(format!("{}{path}", self.url()))
            .send()
            .await?;
        let status = r.status().as_u16();
        let text = r.text().await?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    /// A request with a JSON body; answers status and body (JSON, or the
    /// text as a JSON string).
    pub async fn send(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, format!("{}{path}", self.url()));
        if let Some(b) = body {
            req = req.json(b);
        }
        let r = req.send().await.expect("request");
        let status = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

impl Drop for Chronos {
    fn drop(&mut self) {
        self.kill9();
    }
}
