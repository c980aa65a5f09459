//! `dcos task exec`'s library: run a command inside a running task's
//! container. [`exec`] finds the task's agent through the master's
//! `/master/state` (the task's `slave_id` → that agent's `pid`,
//! `slave(1)@host:port`) and asks the agent (`POST
//! /tasks/{task}/exec`), which runs the command in the container's
//! namespaces and cgroup and returns its output and exit code. Not
//! interactive: no TTY, no stdin (`-it` is not supported yet).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What the command printed and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecOutput {
    /// Exit code (128 + signal when killed; 126 when it could not start).
    pub exit_code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs `cmd` (argv) inside the container of task `task_id`, found
/// through the master at `master_url`.
pub async fn exec(master_url: &str, task_id: &str, cmd: &[String]) -> anyhow::Result<ExecOutput> {
    let http = reqwest::Client::new();
    let state: Value = http
        .get(format!("{}/master/state", master_url.trim_end_matches('/')))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let agent_id = state["frameworks"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|f| f["tasks"].as_array().cloned().unwrap_or_default())
        .find(|t| t["id"] == task_id)
        .and_then(|t| t["slave_id"].as_str().map(str::to_owned))
        .ok_or_else(|| anyhow::anyhow!("task {task_id} is not running in the cluster"))?;
    let agent = state["slaves"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["id"] == agent_id.as_str())
        .and_then(|a| a["pid"].as_str())
        .and_then(|pid| pid.split_once('@').map(|(_, hostport)| hostport.to_owned()))
        .ok_or_else(|| anyhow::anyhow!("agent {agent_id} of task {task_id} is unknown"))?;
    let resp = http
        .post(format!("http://{agent}/tasks/{task_id}/exec"))
        .json(&serde_json::json!({ "cmd": cmd }))
        .send()
        .await?;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let message = body["message"].as_str().unwrap_or("no message");
        anyhow::bail!("agent {agent} answered {status}: {message}");
    }
    Ok(serde_json::from_value(body)?)
}
