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
//! lines; `skip=N` (with `cursor=BEG`) skips the first N lines. With
//! `Accept: text/event-stream` (`dcos task log --follow`) the answer is
//! an SSE stream: those lines, then each new line as the task writes it
//! (the file is read again every 500 ms), one `data:` event per line.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap};
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

/// Where a task's log file is: the agent's base URL and the file's path.
#[derive(Debug, Clone)]
pub struct LogFile {
    pub agent: String,
    pub path: String,
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl LogFile {
    /// Finds `file` of `task`'s sandbox.
    pub async fn locate(up: &Upstreams, task: &str, file: &str) -> Result<LogFile, GatewayError> {
        if file.contains("..") || file.starts_with('/') {
            return Err(GatewayError::BadRequest(format!(
                "{file:?} is not a file name in the sandbox"
            )));
        }
        let agent_id = agent_of(up, task).await?;
        let agent = up.agent(&agent_id).await?;
        let state = get_json(&up.http, &format!("{agent}/state")).await?;
        let dir = sandbox_of(&state, task).ok_or_else(|| {
            GatewayError::NotFound(format!("agent {agent_id} has no sandbox for task {task}"))
        })?;
        Ok(LogFile {
            agent,
            path: format!("{dir}/{file}"),
        })
    }

    /// The file's size now.
    pub async fn size(&self, up: &Upstreams) -> Result<u64, GatewayError> {
        let url = format!(
            "{}/files/read?path={}&offset=-1",
            self.agent,
            encode(&self.path)
        );
        Ok(get_json(&up.http, &url).await?["offset"]
            .as_u64()
            .unwrap_or(0))
    }

    /// Up to `length` bytes from `offset`.
    pub async fn read(
        &self,
        up: &Upstreams,
        offset: u64,
        length: u64,
    ) -> Result<String, GatewayError> {
        let url = format!(
            "{}/files/read?path={}&offset={offset}&length={length}",
            self.agent,
            encode(&self.path)
        );
        Ok(get_json(&up.http, &url).await?["data"]
            .as_str()
            .unwrap_or_default()
            .to_string())
    }
}

fn cursor_and_skip(q: &HashMap<String, String>) -> Result<(bool, i64), GatewayError> {
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
    Ok((cursor_end, skip))
}

/// The selected lines of the file's tail, and the size they end at.
async fn read_log(
    up: &Upstreams,
    log: &LogFile,
    q: &HashMap<String, String>,
) -> Result<(String, u64), GatewayError> {
    let (cursor_end, skip) = cursor_and_skip(q)?;
    let size = log.size(up).await?;
    let start = size.saturating_sub(MAX_BYTES);
    let data = log.read(up, start, size - start).await?;
    Ok((
        select_lines(&data, cursor_end, skip),
        start + data.len() as u64,
    ))
}

/// How often a followed log is read again.
pub const FOLLOW_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// `Accept: text/event-stream`: the selected lines, then every new line
/// as it is written, one SSE event each (`data: <line>`).
fn follow(gw: Arc<Gateway>, log: LogFile, first: String, from: u64) -> Response {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use futures::StreamExt;

    let initial: Vec<Result<Event, std::convert::Infallible>> = first
        .lines()
        .map(|l| Ok(Event::default().data(l)))
        .collect();
    // State: read offset, the unfinished last line.
    let rest = futures::stream::unfold(
        (gw, log, from, String::new()),
        |(gw, log, mut offset, mut partial)| async move {
            loop {
                tokio::time::sleep(FOLLOW_EVERY).await;
                let Ok(chunk) = log.read(&gw.upstreams, offset, MAX_BYTES).await else {
                    // The task (or agent) is gone: end the stream.
                    return None;
                };
                if chunk.is_empty() {
                    continue;
                }
                offset += chunk.len() as u64;
                partial.push_str(&chunk);
                let Some(end) = partial.rfind('\n') else {
                    continue;
                };
                let complete: String = partial.drain(..=end).collect();
                let events: Vec<Result<Event, std::convert::Infallible>> = complete
                    .lines()
                    .map(|l| Ok(Event::default().data(l)))
                    .collect();
                return Some((futures::stream::iter(events), (gw, log, offset, partial)));
            }
        },
    )
    .flatten();
    Sse::new(futures::stream::iter(initial).chain(rest))
        .keep_alive(KeepAlive::default())
        .into_response()
}

async fn serve(
    gw: Arc<Gateway>,
    headers: &HeaderMap,
    task: &str,
    file: &str,
    q: &HashMap<String, String>,
) -> Response {
    let result = async {
        let log = LogFile::locate(&gw.upstreams, task, file).await?;
        let (text, end) = read_log(&gw.upstreams, &log, q).await?;
        Ok::<_, GatewayError>((log, text, end))
    }
    .await;
    let (log, text, end) = match result {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let wants_stream = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"));
    if wants_stream {
        follow(gw, log, text, end)
    } else {
        self::text(text)
    }
}

fn text(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

/// `GET /system/v1/logs/v2/task/{task}` (stdout).
pub async fn task_stdout(
    State(gw): State<Arc<Gateway>>,
    Path(task): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    serve(gw, &headers, &task, "stdout", &q).await
}

/// `GET /system/v1/logs/v2/task/{task}/file/{file}`.
pub async fn task_file(
    State(gw): State<Arc<Gateway>>,
    Path((task, file)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    serve(gw, &headers, &task, &file, &q).await
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
