//! `/system/v1/logs/v2/task/<task-id>[/file/<file>]`: a task's log file
//! (`stdout` unless named) as plain text, as DC/OS' log service serves it
//! to `dcos task log`.
//!
//! ```text
//! leader /master/tasks ─ task id → agent id
//! agent  /state        ─ task id → executor sandbox directory
//! agent  /files/read   ─ <directory>/<file>, the tail (at most MAX_BYTES)
//! ```
//!
//! Query: `skip=-N` (with `cursor=END`, the default) answers the last N
//! lines; `skip=N` (with `cursor=BEG`) skips the first N lines.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::error::GatewayError;
use crate::upstream::{get_json, Upstreams};
use crate::Gateway;

/// How much of the end of a log file is read at most (4 MiB).
pub const MAX_BYTES: u64 = 4 << 20;

/// The agent id of a task, from the leader's `/master/tasks`.
async fn agent_of(up: &Upstreams, task: &str) -> Result<String, GatewayError> {
    let leader = up.leader().await?;
    let tasks = get_json(&up.http, &format!("{leader}/master/tasks")).await?;
    tasks["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["id"] == task)
        .and_then(|t| t["slave_id"].as_str().map(str::to_string))
        .ok_or_else(|| GatewayError::NotFound(format!("task {task} is not known to the master")))
}

/// The sandbox directory of the executor that ran `task`, from an agent's
/// `/state`.
pub fn sandbox_of(state: &Value, task: &str) -> Option<String> {
    let has_task = |e: &Value| {
        ["tasks", "completed_tasks", "queued_tasks"]
            .iter()
            .any(|k| {
                e[*k]
                    .as_array()
                    .is_some_and(|ts| ts.iter().any(|t| t["id"] == task))
            })
            || e["id"] == task
    };
    for fw_key in ["frameworks", "completed_frameworks"] {
        for fw in state[fw_key].as_array().into_iter().flatten() {
            for ex_key in ["executors", "completed_executors"] {
                for e in fw[ex_key].as_array().into_iter().flatten() {
                    if has_task(e) {
                        if let Some(d) = e["directory"].as_str() {
                            return Some(d.to_string());
                        }
                    }
                }
            }
        }
    }
    None
}

/// The lines of `text` that `cursor`/`skip` select.
pub fn select_lines(text: &str, cursor_end: bool, skip: i64) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let picked: &[&str] = if cursor_end {
        let n = if skip < 0 {
            skip.unsigned_abs() as usize
        } else {
            lines.len()
        };
        &lines[lines.len().saturating_sub(n)..]
    } else {
        let s = (skip.max(0) as usize).min(lines.len());
        &lines[s..]
    };
    let mut out = picked.join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

async fn read_log(
    gw: &Gateway,
    task: &str,
    file: &str,
    q: &HashMap<String, String>,
) -> Result<String, GatewayError> {
    if file.contains("..") || file.starts_with('/') {
        return Err(GatewayError::BadRequest(format!(
            "{file:?} is not a file name in the sandbox"
        )));
    }
    let up = &gw.upstreams;
    let agent_id = agent_of(up, task).await?;
    let agent = up.agent(&agent_id).await?;
    let state = get_json(&up.http, &format!("{agent}/state")).await?;
    let dir = sandbox_of(&state, task).ok_or_else(|| {
        GatewayError::NotFound(format!("agent {agent_id} has no sandbox for task {task}"))
    })?;
    let path = format!("{dir}/{file}");
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    let size = get_json(
        &up.http,
        &format!("{agent}/files/read?path={}&offset=-1", enc(&path)),
    )
    .await?["offset"]
        .as_u64()
        .unwrap_or(0);
    let start = size.saturating_sub(MAX_BYTES);
    let page = get_json(
        &up.http,
        &format!(
            "{agent}/files/read?path={}&offset={start}&length={}",
            enc(&path),
            size - start
        ),
    )
    .await?;
    let data = page["data"].as_str().unwrap_or_default();
    let cursor_end = q.get("cursor").map(|c| c != "BEG").unwrap_or(true);
    let skip = q
        .get("skip")
        .map(|s| {
            s.parse::<i64>().map_err(|_| {
                GatewayError::BadRequest(format!("skip must be an integer, not {s:?}"))
            })
        })
        .transpose()?
        .unwrap_or(0);
    Ok(select_lines(data, cursor_end, skip))
}

fn text(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

/// `GET /system/v1/logs/v2/task/{task}` (stdout).
pub async fn task_stdout(
    State(gw): State<Arc<Gateway>>,
    Path(task): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    match read_log(&gw, &task, "stdout", &q).await {
        Ok(t) => text(t),
        Err(e) => e.into_response(),
    }
}

/// `GET /system/v1/logs/v2/task/{task}/file/{file}`.
pub async fn task_file(
    State(gw): State<Arc<Gateway>>,
    Path((task, file)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    match read_log(&gw, &task, &file, &q).await {
        Ok(t) => text(t),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_sandbox_is_found_among_running_and_completed_executors() {
        let state = json!({"frameworks": [{"executors": [
            {"id": "e1", "directory": "/w/1", "tasks": [{"id": "t1"}]}],
            "completed_executors": [
            {"id": "e2", "directory": "/w/2", "completed_tasks": [{"id": "t2"}]}]}]});
        assert_eq!(sandbox_of(&state, "t1").as_deref(), Some("/w/1"));
        assert_eq!(sandbox_of(&state, "t2").as_deref(), Some("/w/2"));
        assert_eq!(sandbox_of(&state, "t3"), None);
    }

    #[test]
    fn lines_are_selected_from_the_end_or_the_start() {
        let t = "a\nb\nc\n";
        assert_eq!(select_lines(t, true, -2), "b\nc\n");
        assert_eq!(select_lines(t, true, 0), "a\nb\nc\n");
        assert_eq!(select_lines(t, false, 1), "b\nc\n");
        assert_eq!(select_lines(t, true, -10), "a\nb\nc\n");
        assert_eq!(select_lines("", true, -1), "");
    }
}
