//! `dcos marathon app|group|pod|deployment|task …`: Marathon's REST API v2
//! through the gateway (`/service/marathon/v2/…`).

use std::path::PathBuf;
use std::time::Duration;

use clap::Subcommand;
use reqwest::Method;
use serde_json::{json, Value};

use crate::client::Api;
use crate::output::{self, read_json};

const M: &str = "/service/marathon/v2";

#[derive(Debug, Subcommand)]
pub enum MarathonCmd {
    #[command(subcommand)]
    App(AppCmd),
    #[command(subcommand)]
    Group(GroupCmd),
    #[command(subcommand)]
    Pod(PodCmd),
    #[command(subcommand)]
    Deployment(DeploymentCmd),
    #[command(subcommand)]
    Task(TaskCmd),
}

#[derive(Debug, Subcommand)]
pub enum AppCmd {
    /// Add an app from a JSON file (or stdin).
    Add {
        file: Option<PathBuf>,
        /// Wait for the deployment, showing instances coming up.
        #[arg(long)]
        wait: bool,
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    List {
        #[arg(long)]
        json: bool,
    },
    Show {
        id: String,
    },
    /// Update an app: `key=value` pairs (values are JSON, or strings), or
    /// a JSON object on stdin.
    Update {
        id: String,
        properties: Vec<String>,
        #[arg(long)]
        force: bool,
        #[arg(long)]
        wait: bool,
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    Remove {
        id: String,
        #[arg(long)]
        force: bool,
    },
    Restart {
        id: String,
        #[arg(long)]
        force: bool,
    },
    /// Scale an app up (default 1 instance).
    Start {
        id: String,
        instances: Option<u32>,
        #[arg(long)]
        force: bool,
    },
    /// Scale an app to 0 instances.
    Stop {
        id: String,
        #[arg(long)]
        force: bool,
    },
    /// Kill an app's tasks (Marathon replaces them unless --scale).
    Kill {
        id: String,
        #[arg(long)]
        scale: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum GroupCmd {
    List {
        #[arg(long)]
        json: bool,
    },
    Show {
        id: String,
    },
    Add {
        file: Option<PathBuf>,
    },
    Update {
        id: String,
        properties: Vec<String>,
        #[arg(long)]
        force: bool,
    },
    Remove {
        id: String,
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum PodCmd {
    /// Add a pod from a JSON file (or stdin).
    Add {
        file: Option<PathBuf>,
        /// Wait for the deployment.
        #[arg(long)]
        wait: bool,
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// Pods with their status and instances.
    List {
        #[arg(long)]
        json: bool,
    },
    /// A pod's status (`::status`): its instances and their containers.
    Show { id: String },
    /// Replace a pod's definition from a JSON file (or stdin).
    Update {
        id: String,
        file: Option<PathBuf>,
        #[arg(long)]
        force: bool,
        #[arg(long)]
        wait: bool,
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    Remove {
        id: String,
        #[arg(long)]
        force: bool,
    },
    /// Kill instances of a pod (Marathon replaces them).
    Kill { id: String, instances: Vec<String> },
}

#[derive(Debug, Subcommand)]
pub enum DeploymentCmd {
    List {
        app: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Wait until a deployment finishes.
    Watch {
        id: String,
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// Roll a deployment back (a new deployment that undoes it).
    Rollback { id: String },
    /// Stop a deployment where it is.
    Stop { id: String },
}

#[derive(Debug, Subcommand)]
pub enum TaskCmd {
    List {
        app: Option<String>,
        #[arg(long)]
        json: bool,
    },
    Show {
        id: String,
    },
    Kill {
        ids: Vec<String>,
        #[arg(long)]
        scale: bool,
        #[arg(long)]
        wipe: bool,
    },
}

fn pod_path(id: &str) -> String {
    format!("{M}/pods/{}", id.trim_start_matches('/'))
}

fn app_path(id: &str) -> String {
    format!("{M}/apps/{}", id.trim_start_matches('/'))
}

/// `key=value` pairs as a JSON object; values parse as JSON where they can.
pub fn properties(pairs: &[String]) -> anyhow::Result<Value> {
    let mut obj = serde_json::Map::new();
    for p in pairs {
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("{p:?} is not key=value"))?;
        let v = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_string()));
        obj.insert(k.to_string(), v);
    }
    Ok(Value::Object(obj))
}

fn body_or_stdin(pairs: &[String]) -> anyhow::Result<Value> {
    if pairs.is_empty() {
        read_json(None)
    } else {
        properties(pairs)
    }
}

fn force(path: String, force: bool) -> String {
    if force {
        format!("{path}?force=true")
    } else {
        path
    }
}

pub async fn run(cmd: MarathonCmd) -> anyhow::Result<()> {
    let api = Api::attached()?;
    match cmd {
        MarathonCmd::App(c) => app(&api, c).await,
        MarathonCmd::Group(c) => group(&api, c).await,
        MarathonCmd::Pod(c) => pod(&api, c).await,
        MarathonCmd::Deployment(c) => deployment(&api, c).await,
        MarathonCmd::Task(c) => task(&api, c).await,
    }
}

fn deployment_id(v: &Value) -> Option<String> {
    v["deploymentId"]
        .as_str()
        .or_else(|| v["deployments"][0]["id"].as_str())
        .map(str::to_string)
}

fn report_deployment(v: &Value) {
    match deployment_id(v) {
        Some(d) => println!("created deployment {d}"),
        None => output::print_value(v),
    }
}

pub fn app_rows(apps: &[Value]) -> Vec<Vec<String>> {
    apps.iter()
        .map(|a| {
            vec![
                a["id"].as_str().unwrap_or("").to_string(),
                a["mem"].to_string(),
                a["cpus"].to_string(),
                format!(
                    "{}/{}",
                    a["tasksRunning"].as_u64().unwrap_or(0),
                    a["instances"].as_u64().unwrap_or(0)
                ),
                if a["healthChecks"]
                    .as_array()
                    .map(|h| h.is_empty())
                    .unwrap_or(true)
                {
                    "-".to_string()
                } else {
                    format!(
                        "{}/{}",
                        a["tasksHealthy"].as_u64().unwrap_or(0),
                        a["instances"].as_u64().unwrap_or(0)
                    )
                },
                if a["deployments"]
                    .as_array()
                    .map(|d| d.is_empty())
                    .unwrap_or(true)
                {
                    "-".to_string()
                } else {
                    "deploying".to_string()
                },
                a["cmd"].as_str().unwrap_or("").to_string(),
            ]
        })
        .collect()
}

/// One row per pod: id, status, instances running/wanted, containers.
pub fn pod_rows(statuses: &[Value]) -> Vec<Vec<String>> {
    statuses
        .iter()
        .map(|s| {
            let instances = s["instances"].as_array().map(Vec::len).unwrap_or(0);
            let stable = s["instances"]
                .as_array()
                .map(|i| i.iter().filter(|i| i["status"] == "STABLE").count())
                .unwrap_or(0);
            let containers: Vec<&str> = s["spec"]["containers"]
                .as_array()
                .map(|c| c.iter().filter_map(|c| c["name"].as_str()).collect())
                .unwrap_or_default();
            vec![
                s["id"].as_str().unwrap_or("").to_string(),
                s["status"].as_str().unwrap_or("").to_string(),
                format!(
                    "{stable}/{}",
                    s["spec"]["scaling"]["instances"]
                        .as_u64()
                        .unwrap_or(instances as u64)
                ),
                containers.join(","),
            ]
        })
        .collect()
}

async fn pod(api: &Api, cmd: PodCmd) -> anyhow::Result<()> {
    match cmd {
        PodCmd::Add {
            file,
            wait,
            timeout,
        } => {
            let body = read_json(file.as_deref())?;
            if !body["id"].is_string() {
                anyhow::bail!("the pod definition needs an \"id\"");
            }
            let (v, deployment) = api
                .send_with_header(
                    Method::POST,
                    &format!("{M}/pods"),
                    Some(&body),
                    "Marathon-Deployment-Id",
                )
                .await?;
            finish_pod_change(api, &v, deployment, wait, timeout).await
        }
        PodCmd::List { json } => {
            let v = api.get(&format!("{M}/pods/::status")).await?;
            let statuses = v.as_array().cloned().unwrap_or_default();
            if json {
                return output::json(&statuses);
            }
            output::table(
                &["ID", "STATUS", "STABLE", "CONTAINERS"],
                pod_rows(&statuses),
            );
            Ok(())
        }
        PodCmd::Show { id } => output::json(&api.get(&format!("{}::status", pod_path(&id))).await?),
        PodCmd::Update {
            id,
            file,
            force: f,
            wait,
            timeout,
        } => {
            let body = read_json(file.as_deref())?;
            let (v, deployment) = api
                .send_with_header(
                    Method::PUT,
                    &force(pod_path(&id), f),
                    Some(&body),
                    "Marathon-Deployment-Id",
                )
                .await?;
            finish_pod_change(api, &v, deployment, wait, timeout).await
        }
        PodCmd::Remove { id, force: f } => {
            api.send(Method::DELETE, &force(pod_path(&id), f), None)
                .await?;
            println!("removed {id}");
            Ok(())
        }
        PodCmd::Kill { id, instances } => {
            if instances.is_empty() {
                anyhow::bail!(
                    "name the instances to kill (`dcos marathon pod show {id}` lists them)"
                );
            }
            let v = api
                .send(
                    Method::DELETE,
                    &format!("{}::instances", pod_path(&id)),
                    Some(&json!(instances)),
                )
                .await?;
            let killed = v.as_array().map(Vec::len).unwrap_or(0);
            println!("killed {killed} instance(s) of {id}; Marathon replaces them");
            Ok(())
        }
    }
}

/// Pods answer with the definition; the deployment is in a header.
async fn finish_pod_change(
    api: &Api,
    v: &Value,
    deployment: Option<String>,
    wait: bool,
    timeout: u64,
) -> anyhow::Result<()> {
    match &deployment {
        Some(d) => println!("created deployment {d}"),
        None => output::print_value(v),
    }
    if let (true, Some(d)) = (wait, deployment) {
        wait_deployment(api, &d, None, timeout).await?;
    }
    Ok(())
}

async fn app(api: &Api, cmd: AppCmd) -> anyhow::Result<()> {
    match cmd {
        AppCmd::Add {
            file,
            wait,
            timeout,
        } => {
            let body = read_json(file.as_deref())?;
            let id = body["id"]
                .as_str()
                .ok_or_else(|| anyhow::anyhow!("the app definition needs an \"id\""))?
                .to_string();
            let v = api
                .send(Method::POST, &format!("{M}/apps"), Some(&body))
                .await?;
            report_deployment(&v);
            if wait {
                if let Some(d) = deployment_id(&v) {
                    wait_deployment(api, &d, Some(&id), timeout).await?;
                }
            }
            Ok(())
        }
        AppCmd::List { json } => {
            let v = api.get(&format!("{M}/apps")).await?;
            let apps = v["apps"].as_array().cloned().unwrap_or_default();
            if json {
                return output::json(&apps);
            }
            output::table(
                &["ID", "MEM", "CPUS", "TASKS", "HEALTH", "DEPLOYMENT", "CMD"],
                app_rows(&apps),
            );
            Ok(())
        }
        AppCmd::Show { id } => {
            let v = api.get(&app_path(&id)).await?;
            output::json(&v["app"])
        }
        AppCmd::Update {
            id,
            properties,
            force: f,
            wait,
            timeout,
        } => {
            let body = body_or_stdin(&properties)?;
            let v = api
                .send(Method::PUT, &force(app_path(&id), f), Some(&body))
                .await?;
            report_deployment(&v);
            if wait {
                if let Some(d) = deployment_id(&v) {
                    wait_deployment(api, &d, Some(&id), timeout).await?;
                }
            }
            Ok(())
        }
        AppCmd::Remove { id, force: f } => {
            api.send(Method::DELETE, &force(app_path(&id), f), None)
                .await?;
            println!("removed {id}");
            Ok(())
        }
        AppCmd::Restart { id, force: f } => {
            let v = api
                .send(
                    Method::POST,
                    &force(format!("{}/restart", app_path(&id)), f),
                    None,
                )
                .await?;
            report_deployment(&v);
            Ok(())
        }
        AppCmd::Start {
            id,
            instances,
            force: f,
        } => {
            let body = json!({"instances": instances.unwrap_or(1)});
            let v = api
                .send(Method::PUT, &force(app_path(&id), f), Some(&body))
                .await?;
            report_deployment(&v);
            Ok(())
        }
        AppCmd::Stop { id, force: f } => {
            let v = api
                .send(
                    Method::PUT,
                    &force(app_path(&id), f),
                    Some(&json!({"instances": 0})),
                )
                .await?;
            report_deployment(&v);
            Ok(())
        }
        AppCmd::Kill { id, scale } => {
            let v = api
                .send(
                    Method::DELETE,
                    &format!("{}/tasks?scale={scale}", app_path(&id)),
                    None,
                )
                .await?;
            let n = v["tasks"].as_array().map(Vec::len).unwrap_or(0);
            if n > 0 || deployment_id(&v).is_none() {
                println!("killed {n} task(s)");
            } else {
                report_deployment(&v);
            }
            Ok(())
        }
    }
}

/// Polls `/v2/deployments` until `id` is gone, showing the app's running
/// instances.
async fn wait_deployment(
    api: &Api,
    id: &str,
    app: Option<&str>,
    timeout: u64,
) -> anyhow::Result<()> {
    let progress = dcos_installer::progress::Progress::new(false);
    let step = progress.begin(format!("deployment {id}"));
    let start = std::time::Instant::now();
    let mut last = String::new();
    loop {
        let deps = api.get(&format!("{M}/deployments")).await?;
        let pending = deps
            .as_array()
            .map(|d| d.iter().any(|x| x["id"] == id))
            .unwrap_or(false);
        if let Some(app) = app {
            if let Ok(a) = api.get(&app_path(app)).await {
                let a = &a["app"];
                let line = format!(
                    "{}/{} instances running",
                    a["tasksRunning"].as_u64().unwrap_or(0),
                    a["instances"].as_u64().unwrap_or(0)
                );
                if line != last {
                    progress.line(&format!("  {app}: {line}"));
                    last = line;
                }
            }
        }
        if !pending {
            step.done("finished");
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(timeout) {
            step.fail("still running");
            anyhow::bail!(
                "deployment {id} did not finish within {timeout} s: `dcos marathon deployment list` shows where it is, `dcos marathon deployment stop {id}` stops it"
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn group(api: &Api, cmd: GroupCmd) -> anyhow::Result<()> {
    let gpath = |id: &str| format!("{M}/groups/{}", id.trim_start_matches('/'));
    match cmd {
        GroupCmd::List { json } => {
            let v = api.get(&format!("{M}/groups")).await?;
            let mut rows = Vec::new();
            let mut flat = Vec::new();
            let mut stack = vec![v];
            while let Some(g) = stack.pop() {
                rows.push(vec![
                    g["id"].as_str().unwrap_or("").to_string(),
                    g["apps"].as_array().map(Vec::len).unwrap_or(0).to_string(),
                ]);
                if let Some(gs) = g["groups"].as_array() {
                    stack.extend(gs.iter().rev().cloned());
                }
                flat.push(
                    json!({"id": g["id"], "apps": g["apps"].as_array().map(Vec::len).unwrap_or(0)}),
                );
            }
            if json {
                return output::json(&flat);
            }
            output::table(&["ID", "APPS"], rows);
            Ok(())
        }
        GroupCmd::Show { id } => output::json(&api.get(&gpath(&id)).await?),
        GroupCmd::Add { file } => {
            let body = read_json(file.as_deref())?;
            let v = api
                .send(Method::POST, &format!("{M}/groups"), Some(&body))
                .await?;
            report_deployment(&v);
            Ok(())
        }
        GroupCmd::Update {
            id,
            properties,
            force: f,
        } => {
            let body = body_or_stdin(&properties)?;
            let v = api
                .send(Method::PUT, &force(gpath(&id), f), Some(&body))
                .await?;
            report_deployment(&v);
            Ok(())
        }
        GroupCmd::Remove { id, force: f } => {
            let v = api
                .send(Method::DELETE, &force(gpath(&id), f), None)
                .await?;
            report_deployment(&v);
            Ok(())
        }
    }
}

async fn deployment(api: &Api, cmd: DeploymentCmd) -> anyhow::Result<()> {
    match cmd {
        DeploymentCmd::List { app, json } => {
            let v = api.get(&format!("{M}/deployments")).await?;
            let mut deps = v.as_array().cloned().unwrap_or_default();
            if let Some(app) = app {
                let app = format!("/{}", app.trim_start_matches('/'));
                deps.retain(|d| {
                    d["affectedApps"]
                        .as_array()
                        .map(|a| a.iter().any(|x| x == &Value::String(app.clone())))
                        .unwrap_or(false)
                });
            }
            if json {
                return output::json(&deps);
            }
            let rows = deps
                .iter()
                .map(|d| {
                    vec![
                        d["id"].as_str().unwrap_or("").to_string(),
                        output::comma_list(&d["affectedApps"]),
                        format!("{}/{}", d["currentStep"], d["totalSteps"]),
                        d["version"].as_str().unwrap_or("").to_string(),
                    ]
                })
                .collect();
            output::table(&["ID", "APPS", "STEP", "VERSION"], rows);
            Ok(())
        }
        DeploymentCmd::Watch { id, timeout } => wait_deployment(api, &id, None, timeout).await,
        DeploymentCmd::Rollback { id } => {
            let v = api
                .send(Method::DELETE, &format!("{M}/deployments/{id}"), None)
                .await?;
            report_deployment(&v);
            Ok(())
        }
        DeploymentCmd::Stop { id } => {
            api.send(
                Method::DELETE,
                &format!("{M}/deployments/{id}?force=true"),
                None,
            )
            .await?;
            println!("stopped deployment {id}");
            Ok(())
        }
    }
}

async fn task(api: &Api, cmd: TaskCmd) -> anyhow::Result<()> {
    match cmd {
        TaskCmd::List { app, json } => {
            let v = api.get(&format!("{M}/tasks")).await?;
            let mut tasks = v["tasks"].as_array().cloned().unwrap_or_default();
            if let Some(app) = app {
                let app = format!("/{}", app.trim_start_matches('/'));
                tasks.retain(|t| t["appId"] == Value::String(app.clone()));
            }
            if json {
                return output::json(&tasks);
            }
            let rows = tasks
                .iter()
                .map(|t| {
                    vec![
                        t["appId"].as_str().unwrap_or("").to_string(),
                        t["state"].as_str().unwrap_or("").to_string(),
                        t["host"].as_str().unwrap_or("").to_string(),
                        t["ports"].to_string(),
                        t["id"].as_str().unwrap_or("").to_string(),
                    ]
                })
                .collect();
            output::table(&["APP", "STATE", "HOST", "PORTS", "ID"], rows);
            Ok(())
        }
        TaskCmd::Show { id } => {
            let v = api.get(&format!("{M}/tasks")).await?;
            let t = v["tasks"]
                .as_array()
                .and_then(|ts| ts.iter().find(|t| t["id"] == Value::String(id.clone())))
                .cloned()
                .ok_or_else(|| crate::client::ApiError::NotFound(format!("task {id}")))?;
            output::json(&t)
        }
        TaskCmd::Kill { ids, scale, wipe } => {
            let v = api
                .send(
                    Method::POST,
                    &format!("{M}/tasks/delete?scale={scale}&wipe={wipe}"),
                    Some(&json!({"ids": ids})),
                )
                .await?;
            if scale {
                report_deployment(&v);
            } else {
                println!(
                    "killed {} task(s)",
                    v["tasks"].as_array().map(Vec::len).unwrap_or(0)
                );
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_value_properties_parse_as_json() {
        let v = properties(&[
            "instances=3".into(),
            "cmd=sleep 10".into(),
            "env={\"A\":\"b\"}".into(),
        ])
        .unwrap();
        assert_eq!(
            v,
            json!({"instances": 3, "cmd": "sleep 10", "env": {"A": "b"}})
        );
        assert!(properties(&["oops".into()]).is_err());
    }

    #[test]
    fn app_table_rows() {
        let apps = vec![
            json!({"id": "/web", "mem": 64.0, "cpus": 0.1, "instances": 2, "tasksRunning": 1, "tasksHealthy": 0, "healthChecks": [], "deployments": [{"id": "d"}], "cmd": "python3 -m http.server"}),
        ];
        assert_eq!(
            app_rows(&apps),
            vec![vec![
                "/web",
                "64.0",
                "0.1",
                "1/2",
                "-",
                "deploying",
                "python3 -m http.server"
            ]]
        );
    }
}
