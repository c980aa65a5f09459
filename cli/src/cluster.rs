//! `dcos cluster setup|list|attach|rename|remove|join-token`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::client::{self, Api, ApiError, ClusterName, ClusterToml, Core};
use crate::output;

#[derive(Debug, Subcommand)]
pub enum ClusterCmd {
    /// Log in to a cluster (through its gateway) and attach to it.
    Setup(SetupArgs),
    /// The configured clusters (`*` marks the attached one).
    List {
        #[arg(long)]
        json: bool,
        /// Only the attached cluster.
        #[arg(long)]
        attached: bool,
        /// Only the names, one per line.
        #[arg(long)]
        names: bool,
    },
    /// Make a configured cluster the one commands talk to.
    Attach { name: String },
    /// Give a configured cluster another name.
    Rename { name: String, new_name: String },
    /// Forget a configured cluster.
    Remove {
        name: Option<String>,
        /// Forget every cluster.
        #[arg(long, conflicts_with_all = ["name", "unavailable"])]
        all: bool,
        /// Forget every cluster whose gateway does not answer.
        #[arg(long, conflicts_with = "name")]
        unavailable: bool,
    },
    /// Print this master's join token (read from its data dir).
    JoinToken {
        #[arg(long, env = "DCOS_DATA_DIR", default_value = "/var/lib/dcos")]
        data_dir: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct SetupArgs {
    /// The cluster's URL (its gateway), e.g. http://10.0.0.1
    pub url: String,
    #[command(flatten)]
    pub who: crate::auth::Credentials,
    /// The name to list the cluster under (default: its id).
    #[arg(long)]
    pub name: Option<String>,
}

pub async fn run(cmd: ClusterCmd) -> anyhow::Result<()> {
    match cmd {
        ClusterCmd::Setup(a) => setup(a).await,
        ClusterCmd::List {
            json,
            attached,
            names,
        } => list(json, attached, names),
        ClusterCmd::Attach { name } => attach(&name),
        ClusterCmd::Rename { name, new_name } => rename(&name, &new_name),
        ClusterCmd::Remove {
            name,
            all,
            unavailable,
        } => {
            if unavailable {
                remove_unavailable().await
            } else {
                remove(name.as_deref(), all)
            }
        }
        ClusterCmd::JoinToken { data_dir } => {
            let path = dcos_installer::Layout::new(&data_dir).join_token();
            let token = std::fs::read_to_string(&path).map_err(|e| {
                anyhow::anyhow!(
                    "cannot read {}: {e} (run this on a master, as root, with the --data-dir it was installed with)",
                    path.display()
                )
            })?;
            println!("{}", token.trim());
            Ok(())
        }
    }
}

fn prompt(what: &str) -> anyhow::Result<String> {
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "no {what} given: pass --{what} or set DCOS_{}",
            what.to_uppercase()
        );
    }
    eprint!("{what}: ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim().to_string())
}

async fn setup(a: SetupArgs) -> anyhow::Result<()> {
    let url = a.url.trim_end_matches('/').to_string();
    let url = if url.contains("://") {
        url
    } else {
        format!("http://{url}")
    };
    let http = reqwest::Client::new();
    let unreachable = |e: reqwest::Error| ApiError::Unreachable {
        url: url.clone(),
        message: e.to_string(),
    };
    let version = http
        .get(format!("{url}/dcos-metadata/dcos-version.json"))
        .send()
        .await
        .map_err(unreachable)?;
    if !version.status().is_success() {
        anyhow::bail!(
            "{url} does not look like a dcos cluster (GET /dcos-metadata/dcos-version.json answered {}): check the URL",
            version.status()
        );
    }
    let version: Value = version.json().await.unwrap_or_default();
    let offered: Value = http
        .get(format!("{url}/acs/api/v1/auth/providers"))
        .send()
        .await
        .map_err(unreachable)?
        .json()
        .await
        .unwrap_or_default();
    anyhow::ensure!(
        offered.get(&a.who.provider).is_some(),
        "{url} has no login provider {:?}; it offers: {}",
        a.who.provider,
        offered
            .as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>().join(", "))
            .unwrap_or_default()
    );
    let username = match a.who.username {
        Some(u) => u,
        None => prompt("username")?,
    };
    let password = crate::auth::password(a.who.password, a.who.password_file.as_ref())?;
    let login = http
        .post(format!("{url}/acs/api/v1/auth/login"))
        .json(&json!({"uid": username, "password": password}))
        .send()
        .await
        .map_err(unreachable)?;
    let status = login.status();
    let body = login.text().await.unwrap_or_default();
    if status.as_u16() == 401 {
        anyhow::bail!(
            "login to {url} failed: {} (the first admin's password is in <data-dir>/admin-credentials on the master)",
            client::error_message(&body)
        );
    }
    if !status.is_success() {
        anyhow::bail!(
            "login to {url} failed with {status}: {}",
            client::error_message(&body)
        );
    }
    let token = serde_json::from_str::<Value>(&body)?["token"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("login answer has no token: {body}"))?
        .to_string();
    let api = Api::new(&url, &token);
    let meta = api.get("/metadata").await?;
    let id = meta["CLUSTER_ID"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("/metadata has no CLUSTER_ID: {meta}"))?
        .to_string();
    let dir = client::clusters_dir().join(&id);
    std::fs::create_dir_all(&dir)?;
    let cfg = ClusterToml {
        core: Core {
            dcos_url: url.clone(),
            dcos_acs_token: token,
            ssl_verify: Some("false".into()),
        },
        cluster: ClusterName {
            name: a.name.unwrap_or_else(|| id.clone()),
        },
    };
    dcos_installer::config::write_private(&dir.join("dcos.toml"), &toml::to_string_pretty(&cfg)?)?;
    set_attached(&id)?;
    println!(
        "logged in to {url} as {username}; attached to cluster {id} (dcos {})",
        version["version"].as_str().unwrap_or("?")
    );
    Ok(())
}

fn set_attached(id: &str) -> anyhow::Result<()> {
    for c in client::clusters()? {
        let marker = c.dir.join("attached");
        if c.id == id {
            std::fs::write(marker, "")?;
        } else if marker.exists() {
            std::fs::remove_file(marker)?;
        }
    }
    Ok(())
}

fn find(name: &str) -> anyhow::Result<client::Cluster> {
    let all = client::clusters()?;
    all.into_iter()
        .find(|c| c.id == name || c.config.cluster.name == name || c.id.starts_with(name))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no cluster named {name}: `dcos cluster list` shows the configured ones"
            )
        })
}

pub fn cluster_rows(all: &[client::Cluster]) -> Vec<Vec<String>> {
    all.iter()
        .map(|c| {
            vec![
                format!(
                    "{}{}",
                    c.config.cluster.name,
                    if c.attached { "*" } else { "" }
                ),
                c.id.clone(),
                c.config.core.dcos_url.clone(),
            ]
        })
        .collect()
}

fn list(as_json: bool, only_attached: bool, names: bool) -> anyhow::Result<()> {
    let mut all = client::clusters()?;
    if only_attached {
        let attached = client::attached()?;
        all.retain(|c| c.id == attached.id);
    }
    if names {
        for c in &all {
            println!("{}", c.config.cluster.name);
        }
        return Ok(());
    }
    if as_json {
        let v: Vec<Value> = all
            .iter()
            .map(|c| {
                json!({"name": c.config.cluster.name, "cluster_id": c.id, "url": c.config.core.dcos_url, "attached": c.attached})
            })
            .collect();
        return output::json(&v);
    }
    if all.is_empty() {
        anyhow::bail!("no clusters configured: run `dcos cluster setup <url>`");
    }
    output::table(&["NAME", "CLUSTER ID", "URL"], cluster_rows(&all));
    Ok(())
}

fn attach(name: &str) -> anyhow::Result<()> {
    let c = find(name)?;
    set_attached(&c.id)?;
    println!(
        "attached to {} ({})",
        c.config.cluster.name, c.config.core.dcos_url
    );
    Ok(())
}

fn remove(name: Option<&str>, all: bool) -> anyhow::Result<()> {
    let targets = if all {
        client::clusters()?
    } else {
        let name = name.ok_or_else(|| anyhow::anyhow!("name a cluster, or pass --all"))?;
        vec![find(name)?]
    };
    for c in targets {
        std::fs::remove_dir_all(&c.dir)?;
        println!("removed {}", c.config.cluster.name);
    }
    Ok(())
}

fn rename(name: &str, new_name: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        !new_name.trim().is_empty(),
        "the new name must not be empty"
    );
    let all = client::clusters()?;
    anyhow::ensure!(
        !all.iter().any(|c| c.config.cluster.name == new_name),
        "a cluster is already named {new_name}"
    );
    let c = find(name)?;
    let path = c.dir.join("dcos.toml");
    let mut table: toml::Table = std::fs::read_to_string(&path)?.parse()?;
    let section = table
        .entry("cluster")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if let Some(t) = section.as_table_mut() {
        t.insert("name".into(), toml::Value::String(new_name.into()));
    }
    dcos_installer::config::write_private(&path, &toml::to_string_pretty(&table)?)?;
    println!("renamed {} to {new_name}", c.config.cluster.name);
    Ok(())
}

/// Forgets the clusters whose gateway does not answer within 5 s.
async fn remove_unavailable() -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()?;
    for c in client::clusters()? {
        let url = format!("{}/dcos-metadata/dcos-version.json", c.config.core.dcos_url);
        let up = http
            .get(&url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if !up {
            std::fs::remove_dir_all(&c.dir)?;
            println!("removed {} (unavailable)", c.config.cluster.name);
        }
    }
    Ok(())
}
