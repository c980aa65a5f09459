//! `dcos auth login|logout|list-providers`: a new token for the attached
//! cluster (kept as `core.dcos_acs_token` in its `dcos.toml`), forgetting
//! it, and the login providers the cluster offers (DC/OS'
//! `/acs/api/v1/auth/providers`).

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{json, Value};

use crate::client::{self, Api};
use crate::output;

#[derive(Debug, Subcommand)]
pub enum AuthCmd {
    /// Logs in to the attached cluster again (a new token).
    Login(LoginArgs),
    /// Forgets the attached cluster's token.
    Logout,
    /// The ways the attached cluster lets users log in.
    ListProviders {
        #[arg(long)]
        json: bool,
    },
}

/// Who logs in: the flags `cluster setup` and `auth login` share.
#[derive(Debug, Args)]
pub struct Credentials {
    #[arg(long, env = "DCOS_USERNAME")]
    pub username: Option<String>,
    #[arg(
        long,
        env = "DCOS_PASSWORD",
        hide_env_values = true,
        conflicts_with = "password_file"
    )]
    pub password: Option<String>,
    /// A file whose first line is the password.
    #[arg(long)]
    pub password_file: Option<PathBuf>,
    /// The login provider (`dcos auth list-providers`).
    #[arg(long, default_value = "dcos-users")]
    pub provider: String,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    #[command(flatten)]
    pub who: Credentials,
}

/// The password from the flags, a file, or a prompt.
pub fn password(given: Option<String>, file: Option<&PathBuf>) -> anyhow::Result<String> {
    if let Some(p) = given {
        return Ok(p);
    }
    if let Some(f) = file {
        let text = std::fs::read_to_string(f)
            .map_err(|e| anyhow::anyhow!("cannot read the password file {}: {e}", f.display()))?;
        let line = text.lines().next().unwrap_or("").to_string();
        anyhow::ensure!(
            !line.is_empty(),
            "the password file {} is empty",
            f.display()
        );
        return Ok(line);
    }
    if std::io::stdin().is_terminal() {
        return Ok(rpassword::prompt_password("password: ")?);
    }
    anyhow::bail!("no password given: pass --password, --password-file or set DCOS_PASSWORD")
}

/// POST /acs/api/v1/auth/login at `url`; the token.
pub async fn login(url: &str, uid: &str, password: &str) -> anyhow::Result<String> {
    let api = Api::new(url, "");
    let body = serde_json::to_vec(&json!({"uid": uid, "password": password}))?;
    let (status, v) = api
        .exchange(Method::POST, "/acs/api/v1/auth/login", body, "application/json")
        .await
        .map_err(|e| match e {
            client::ApiError::Unauthorized(_) => anyhow::anyhow!(
                "login to {url} failed: wrong username or password (the first admin's password is in <data-dir>/admin-credentials on the master)"
            ),
            other => other.into(),
        })?;
    anyhow::ensure!(
        status == 200,
        "login to {url} failed with {status}: {}",
        v["description"]
            .as_str()
            .or(v["message"].as_str())
            .unwrap_or(&v.to_string())
    );
    v["token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("the login answer has no token: {v}"))
}

async fn providers(url: &str) -> anyhow::Result<Value> {
    let api = Api::new(url, "");
    Ok(api.get("/acs/api/v1/auth/providers").await?)
}

fn set_token(c: &client::Cluster, token: &str) -> anyhow::Result<()> {
    let path = c.dir.join("dcos.toml");
    let text = std::fs::read_to_string(&path)?;
    let mut table: toml::Table = text.parse()?;
    let core = table
        .entry("core")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let Some(core) = core.as_table_mut() else {
        anyhow::bail!("{}: [core] is not a section", path.display());
    };
    if token.is_empty() {
        core.remove("dcos_acs_token");
    } else {
        core.insert("dcos_acs_token".into(), toml::Value::String(token.into()));
    }
    dcos_installer::config::write_private(&path, &toml::to_string_pretty(&table)?)?;
    Ok(())
}

pub async fn run(cmd: AuthCmd) -> anyhow::Result<()> {
    match cmd {
        AuthCmd::ListProviders { json } => {
            let c = crate::config::selected()?;
            let v = providers(&c.config.core.dcos_url).await?;
            if json {
                return output::json(&v);
            }
            let rows = v
                .as_object()
                .into_iter()
                .flatten()
                .map(|(id, p)| {
                    vec![
                        id.clone(),
                        p["authentication-type"].as_str().unwrap_or("").to_string(),
                        p["description"].as_str().unwrap_or("").to_string(),
                    ]
                })
                .collect();
            output::table(&["PROVIDER ID", "AUTHENTICATION TYPE", "DESCRIPTION"], rows);
            Ok(())
        }
        AuthCmd::Login(a) => {
            let c = crate::config::selected()?;
            let url = c.config.core.dcos_url.clone();
            let offered = providers(&url).await?;
            let a = a.who;
            anyhow::ensure!(
                offered.get(&a.provider).is_some(),
                "{url} has no login provider {:?} (`dcos auth list-providers` shows them)",
                a.provider
            );
            let username = match a.username {
                Some(u) => u,
                None if std::io::stdin().is_terminal() => {
                    use std::io::{BufRead, Write};
                    print!("username: ");
                    std::io::stdout().flush()?;
                    let mut line = String::new();
                    std::io::stdin().lock().read_line(&mut line)?;
                    line.trim().to_string()
                }
                None => anyhow::bail!("no username given: pass --username or set DCOS_USERNAME"),
            };
            let pw = password(a.password, a.password_file.as_ref())?;
            let token = login(&url, &username, &pw).await?;
            set_token(&c, &token)?;
            println!("Login successful!");
            Ok(())
        }
        AuthCmd::Logout => {
            let c = crate::config::selected()?;
            set_token(&c, "")?;
            println!("Logged out of {}", c.config.cluster.name);
            Ok(())
        }
    }
}
