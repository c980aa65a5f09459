//! `dcos task`, `dcos node` and `dcos service`: the kernel's view of the
//! cluster through the gateway (`/mesos/master/…` on the leading master,
//! `/agent/<id>/…` for sandboxes and their files).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{json, Value};

use crate::client::{Api, ApiError};
use crate::output;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct TaskArgs {
    #[command(subcommand)]
    pub cmd: Option<TaskCmd>,
    #[command(flatten)]
    pub list: ListArgs,
}

#[derive(Debug, Args, Clone)]
pub struct ListArgs {
    /// Only tasks whose id or name contains this.
    pub filter: Option<String>,
    /// Finished tasks too.
    #[arg(long, alias = "completed")]
    pub all: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum TaskCmd {
    /// The cluster's tasks.
    List(ListArgs),
    /// A task's sandbox file (stdout by default).
    Log {
        task: String,
        /// `stdout`, `stderr`, or any file in the sandbox.
        #[arg(default_value = "stdout")]
        file: String,
        #[arg(long)]
        follow: bool,
        #[arg(long, default_value_t = 10)]
        lines: usize,
        /// Finished tasks too.
        #[arg(long, alias = "completed")]
        all: bool,
    },
    /// Runs a command inside a running task's container (its mount, pid,
    /// ipc and uts namespaces); prints its output and exits with its exit
    /// code. No TTY: `-it` is not supported.
    Exec {
        task: String,
        /// The command and its arguments.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        cmd: Vec<String>,
        /// `{"exit_code", "stdout", "stderr"}` instead of the raw output.
        #[arg(long)]
        json: bool,
    },
    /// The files in a task's sandbox.
    Ls {
        task: String,
        #[arg(default_value = ".")]
        path: String,
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run_task(args: TaskArgs) -> anyhow::Result<()> {
    let api = Api::attached()?;
    match args.cmd {
        None => list(&api, args.list).await,
        Some(TaskCmd::List(l)) => list(&api, l).await,
        Some(TaskCmd::Log {
            task,
            file,
            follow,
            lines,
            all,
        }) => log(&api, &task, &file, follow, lines, all).await,
        Some(TaskCmd::Exec { task, cmd, json }) => exec(&api, &task, &cmd, json).await,
        Some(TaskCmd::Ls {
            task,
            path,
            all,
            json,
        }) => ls(&api, &task, &path, all, json).await,
    }
}

/// Every task of the master's state (`completed` adds finished ones).
async fn tasks(api: &Api, completed: bool) -> Result<Vec<Value>, ApiError> {
    let state = api.get("/mesos/master/state").await?;
    let mut out = Vec::new();
    for fw in state["frameworks"].as_array().into_iter().flatten() {
        out.extend(fw["tasks"].as_array().into_iter().flatten().cloned());
        if completed {
            out.extend(
                fw["completed_tasks"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .cloned(),
            );
        }
    }
    if completed {
        for fw in state["completed_frameworks"]
            .as_array()
            .into_iter()
            .flatten()
        {
            out.extend(
                fw["completed_tasks"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .cloned(),
            );
        }
    }
    Ok(out)
}

pub fn task_rows(tasks: &[Value], agents: &Value) -> Vec<Vec<String>> {
    let host = |id: &str| {
        agents["slaves"]
            .as_array()
            .and_then(|s| s.iter().find(|a| a["id"] == id))
            .and_then(|a| a["hostname"].as_str())
            .unwrap_or("")
            .to_string()
    };
    tasks
        .iter()
        .map(|t| {
            vec![
                t["name"].as_str().unwrap_or("").to_string(),
                host(t["slave_id"].as_str().unwrap_or("")),
                t["user"].as_str().unwrap_or("").to_string(),
                state_letter(t["state"].as_str().unwrap_or("")).to_string(),
                t["id"].as_str().unwrap_or("").to_string(),
                t["slave_id"].as_str().unwrap_or("").to_string(),
            ]
        })
        .collect()
}

/// The DC/OS CLI's one-letter task states.
pub fn state_letter(state: &str) -> &'static str {
    match state {
        "TASK_RUNNING" => "R",
        "TASK_STAGING" | "TASK_STARTING" => "S",
        "TASK_FINISHED" => "F",
        "TASK_FAILED" => "E",
        "TASK_KILLED" | "TASK_KILLING" => "K",
        "TASK_LOST" | "TASK_UNREACHABLE" | "TASK_GONE" | "TASK_DROPPED" => "L",
        _ => "?",
    }
}

async fn list(api: &Api, l: ListArgs) -> anyhow::Result<()> {
    let mut ts = tasks(api, l.all).await?;
    if let Some(f) = &l.filter {
        ts.retain(|t| {
            t["id"].as_str().unwrap_or("").contains(f.as_str())
                || t["name"].as_str().unwrap_or("").contains(f.as_str())
        });
    }
    if l.json {
        return output::json(&ts);
    }
    let agents = api.get("/mesos/master/slaves").await?;
    output::table(
        &["NAME", "HOST", "USER", "STATE", "ID", "AGENT ID"],
        task_rows(&ts, &agents),
    );
    Ok(())
}

/// The one task `query` names (exact id first, then id or name containing it).
async fn find_task(api: &Api, query: &str, completed: bool) -> anyhow::Result<Value> {
    let ts = tasks(api, true).await?;
    if let Some(t) = ts.iter().find(|t| t["id"] == query) {
        return Ok(t.clone());
    }
    let running = |t: &&Value| {
        completed
            || matches!(
                t["state"].as_str(),
                Some("TASK_RUNNING" | "TASK_STAGING" | "TASK_STARTING" | "TASK_KILLING")
            )
    };
    let matches: Vec<&Value> = ts
        .iter()
        .filter(|t| {
            t["id"].as_str().unwrap_or("").contains(query)
                || t["name"].as_str().unwrap_or("").contains(query)
        })
        .filter(running)
        .collect();
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(ApiError::NotFound(format!(
            "no {}task matches {query:?} (`dcos task{}` lists them)",
            if completed { "" } else { "running " },
            if completed { " --all" } else { "" }
        ))
        .into()),
        many => anyhow::bail!(
            "{query:?} matches {} tasks: {} (give a full task id)",
            many.len(),
            many.iter()
                .filter_map(|t| t["id"].as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The agent and sandbox directory of a task.
/// `dcos task exec`: the agent's `POST /tasks/<id>/exec`, through the
/// gateway's `/agent/<id>/` route.
async fn exec(api: &Api, query: &str, cmd: &[String], as_json: bool) -> anyhow::Result<()> {
    let task = find_task(api, query, false).await?;
    let task_id = task["id"].as_str().unwrap_or_default();
    let agent = task["slave_id"].as_str().unwrap_or_default();
    let out: crate::task_exec::ExecOutput = serde_json::from_value(
        api.send(
            Method::POST,
            &format!("/agent/{agent}/tasks/{task_id}/exec"),
            Some(&json!({ "cmd": cmd })),
        )
        .await?,
    )?;
    if as_json {
        output::json(&out)?;
    } else {
        std::io::stdout().write_all(out.stdout.as_bytes())?;
        std::io::stderr().write_all(out.stderr.as_bytes())?;
    }
    match u8::try_from(out.exit_code) {
        Ok(0) => Ok(()),
        Ok(code) => Err(crate::Exit::Quiet(code).into()),
        Err(_) => Err(crate::Exit::Quiet(1).into()),
    }
}

async fn sandbox(api: &Api, task: &Value) -> anyhow::Result<(String, String)> {
    let agent = task["slave_id"].as_str().unwrap_or("").to_string();
    let task_id = task["id"].as_str().unwrap_or("");
    let executor = task["executor_id"].as_str().unwrap_or("");
    let state = api.get(&format!("/agent/{agent}/state")).await?;
    for key in ["frameworks", "completed_frameworks"] {
        for fw in state[key].as_array().into_iter().flatten() {
            for ekey in ["executors", "completed_executors"] {
                for e in fw[ekey].as_array().into_iter().flatten() {
                    if (!executor.is_empty() && e["id"] == executor) || e["source"] == task_id {
                        if let Some(d) = e["directory"].as_str() {
                            return Ok((agent, d.to_string()));
                        }
                    }
                }
            }
        }
    }
    anyhow::bail!("the agent {agent} no longer has the sandbox of task {task_id} (it may have been garbage-collected)")
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

async fn read_chunk(
    api: &Api,
    agent: &str,
    path: &str,
    offset: i64,
    length: Option<u64>,
) -> anyhow::Result<(u64, String)> {
    let mut url = format!(
        "/agent/{agent}/files/read?path={}&offset={offset}",
        enc(path)
    );
    if let Some(l) = length {
        url.push_str(&format!("&length={l}"));
    }
    let v = api.get(&url).await.map_err(|e| match e {
        ApiError::NotFound(_) => {
            anyhow::anyhow!("no file {path} in the sandbox (`dcos task ls` shows the files)")
        }
        other => other.into(),
    })?;
    Ok((
        v["offset"].as_u64().unwrap_or(0),
        v["data"].as_str().unwrap_or("").to_string(),
    ))
}

/// The last `n` lines of `text`.
pub fn last_lines(text: &str, n: usize) -> &str {
    if n == 0 {
        return "";
    }
    let trimmed = text.strip_suffix('\n').unwrap_or(text);
    let mut idx = trimmed.len();
    for _ in 0..n {
        match trimmed[..idx].rfind('\n') {
            Some(i) => idx = i,
            None => return text,
        }
    }
    &text[idx + 1..]
}

async fn log(
    api: &Api,
    query: &str,
    file: &str,
    follow: bool,
    lines: usize,
    completed: bool,
) -> anyhow::Result<()> {
    let task = find_task(api, query, completed).await?;
    let (agent, dir) = sandbox(api, &task).await?;
    let path = format!("{dir}/{file}");
    let (size, _) = read_chunk(api, &agent, &path, -1, None).await?;
    const WINDOW: u64 = 1 << 20;
    let start = size.saturating_sub(WINDOW);
    let (_, data) = read_chunk(api, &agent, &path, start as i64, Some(size - start)).await?;
    let mut out = std::io::stdout();
    out.write_all(last_lines(&data, lines).as_bytes())?;
    out.flush()?;
    let mut pos = size;
    if !follow {
        return Ok(());
    }
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (size, _) = read_chunk(api, &agent, &path, -1, None).await?;
        if size > pos {
            let (_, data) = read_chunk(api, &agent, &path, pos as i64, Some(size - pos)).await?;
            out.write_all(data.as_bytes())?;
            out.flush()?;
            pos = size;
        }
    }
}

async fn ls(api: &Api, query: &str, path: &str, completed: bool, json: bool) -> anyhow::Result<()> {
    let task = find_task(api, query, completed).await?;
    let (agent, dir) = sandbox(api, &task).await?;
    let full = if path == "." {
        dir
    } else {
        format!("{dir}/{}", path.trim_start_matches('/'))
    };
    let v = api
        .get(&format!("/agent/{agent}/files/browse?path={}", enc(&full)))
        .await?;
    if json {
        return output::json(&v);
    }
    let names: Vec<String> = v
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["path"].as_str())
        .map(|p| p.rsplit('/').next().unwrap_or(p).to_string())
        .collect();
    println!("{}", names.join("  "));
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum NodeCmd {
    /// The cluster's agents.
    List {
        #[arg(long)]
        json: bool,
    },
    /// A component's log on this machine (`<data-dir>/logs/<component>.log`).
    Log {
        /// master, agent, marathon, chronos, gateway or supervisor.
        #[arg(long, default_value = "master")]
        component: String,
        #[arg(long, env = "DCOS_DATA_DIR", default_value = "/var/lib/dcos")]
        data_dir: PathBuf,
        #[arg(long, default_value_t = 10)]
        lines: usize,
        #[arg(long)]
        follow: bool,
    },
}

pub fn node_rows(slaves: &Value) -> Vec<Vec<String>> {
    slaves["slaves"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            let pid = a["pid"].as_str().unwrap_or("");
            let ip = pid
                .split('@')
                .nth(1)
                .and_then(|h| h.split(':').next())
                .unwrap_or("");
            vec![
                a["hostname"].as_str().unwrap_or("").to_string(),
                ip.to_string(),
                a["id"].as_str().unwrap_or("").to_string(),
                "agent".to_string(),
                if a["active"].as_bool().unwrap_or(true) {
                    "active"
                } else {
                    "inactive"
                }
                .to_string(),
            ]
        })
        .collect()
}

pub async fn run_node(cmd: NodeCmd) -> anyhow::Result<()> {
    match cmd {
        NodeCmd::List { json } => {
            let api = Api::attached()?;
            let v = api.get("/mesos/master/slaves").await?;
            if json {
                return output::json(&v["slaves"]);
            }
            output::table(&["HOSTNAME", "IP", "ID", "TYPE", "STATUS"], node_rows(&v));
            Ok(())
        }
        NodeCmd::Log {
            component,
            data_dir,
            lines,
            follow,
        } => {
            let path = dcos_installer::Layout::new(&data_dir).log(&component);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                anyhow::anyhow!(
                    "cannot read {}: {e} (run this on the node, with the --data-dir it was installed with)",
                    path.display()
                )
            })?;
            print!("{}", last_lines(&text, lines));
            let mut pos = text.len() as u64;
            if !follow {
                return Ok(());
            }
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let bytes = std::fs::read(&path)?;
                if bytes.len() as u64 > pos {
                    std::io::stdout().write_all(&bytes[pos as usize..])?;
                    std::io::stdout().flush()?;
                    pos = bytes.len() as u64;
                }
            }
        }
    }
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ServiceArgs {
    #[command(subcommand)]
    pub cmd: Option<ServiceCmd>,
    /// Inactive frameworks too.
    #[arg(long)]
    pub inactive: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ServiceCmd {
    /// The registered frameworks.
    List {
        #[arg(long)]
        inactive: bool,
        #[arg(long)]
        json: bool,
    },
    /// The log of a service that runs as a Marathon app (its task's stdout).
    Log {
        service: String,
        #[arg(default_value = "stdout")]
        file: String,
        #[arg(long)]
        follow: bool,
        #[arg(long, default_value_t = 10)]
        lines: usize,
    },
    /// Tear a framework down (its tasks are killed).
    Shutdown { id: String },
}

pub fn service_rows(frameworks: &[Value]) -> Vec<Vec<String>> {
    frameworks
        .iter()
        .map(|f| {
            vec![
                f["name"].as_str().unwrap_or("").to_string(),
                f["hostname"].as_str().unwrap_or("").to_string(),
                f["active"].as_bool().unwrap_or(false).to_string(),
                f["tasks"].as_array().map(Vec::len).unwrap_or(0).to_string(),
                f["resources"]["cpus"].as_f64().unwrap_or(0.0).to_string(),
                f["resources"]["mem"].as_f64().unwrap_or(0.0).to_string(),
                f["id"].as_str().unwrap_or("").to_string(),
            ]
        })
        .collect()
}

pub async fn run_service(args: ServiceArgs) -> anyhow::Result<()> {
    let api = Api::attached()?;
    let (inactive, json) = (args.inactive, args.json);
    match args.cmd {
        None => service_list(&api, inactive, json).await,
        Some(ServiceCmd::List { inactive, json }) => service_list(&api, inactive, json).await,
        Some(ServiceCmd::Log {
            service,
            file,
            follow,
            lines,
        }) => {
            // A service is a Marathon app carrying DCOS_SERVICE_NAME (or
            // named so): its task holds the log.
            let apps = api.get("/service/marathon/v2/apps").await?;
            let app = apps["apps"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|a| {
                    a["labels"]["DCOS_SERVICE_NAME"] == service.as_str()
                        || a["env"]["DCOS_SERVICE_NAME"] == service.as_str()
                        || a["id"].as_str().map(|i| i.trim_start_matches('/')) == Some(&service)
                })
                .ok_or_else(|| {
                    ApiError::NotFound(format!(
                        "no service {service} runs as a Marathon app (marathon and chronos themselves are node components: `dcos node log --component marathon` on a master)"
                    ))
                })?;
            let app_id = app["id"].as_str().unwrap_or("").trim_start_matches('/');
            let t = api
                .get(&format!("/service/marathon/v2/apps/{app_id}/tasks"))
                .await?;
            let task_id = t["tasks"][0]["id"]
                .as_str()
                .ok_or_else(|| anyhow::anyhow!("service {service} has no running task"))?
                .to_string();
            log(&api, &task_id, &file, follow, lines, false).await
        }
        Some(ServiceCmd::Shutdown { id }) => {
            api.send(
                Method::POST,
                "/mesos/api/v1",
                Some(&json!({"type": "TEARDOWN", "teardown": {"framework_id": {"value": id}}})),
            )
            .await?;
            println!("shut down framework {id}");
            Ok(())
        }
    }
}

async fn service_list(api: &Api, inactive: bool, as_json: bool) -> anyhow::Result<()> {
    let v = api.get("/mesos/master/frameworks").await?;
    let mut fws = v["frameworks"].as_array().cloned().unwrap_or_default();
    if !inactive {
        fws.retain(|f| f["active"].as_bool().unwrap_or(true));
    }
    if as_json {
        return output::json(&fws);
    }
    output::table(
        &["NAME", "HOST", "ACTIVE", "TASKS", "CPU", "MEM", "ID"],
        service_rows(&fws),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_lines_of_a_log() {
        assert_eq!(last_lines("a\nb\nc\n", 2), "b\nc\n");
        assert_eq!(last_lines("a\nb\nc", 1), "c");
        assert_eq!(last_lines("a\n", 5), "a\n");
        assert_eq!(last_lines("", 3), "");
        assert_eq!(last_lines("a\nb", 0), "");
        assert_eq!(last_lines("", 0), "");
    }

    #[test]
    fn task_rows_join_agent_hostnames() {
        let tasks = vec![
            json!({"name": "web", "id": "web.1", "slave_id": "a1", "state": "TASK_RUNNING", "user": "root"}),
        ];
        let agents = json!({"slaves": [{"id": "a1", "hostname": "host-1"}]});
        assert_eq!(
            task_rows(&tasks, &agents),
            vec![vec!["web", "host-1", "root", "R", "web.1", "a1"]]
        );
    }

    #[test]
    fn node_rows_show_the_ip() {
        let v = json!({"slaves": [{"id": "a1", "hostname": "h", "pid": "slave(1)@10.0.0.5:5051", "active": true}]});
        assert_eq!(
            node_rows(&v),
            vec![vec!["h", "10.0.0.5", "a1", "agent", "active"]]
        );
    }
}
