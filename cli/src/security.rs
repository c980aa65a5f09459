//! `dcos security org users list|create|delete`: the gateway's users API
//! (`/acs/api/v1/users`).

use clap::Subcommand;
use reqwest::Method;
use serde_json::{json, Value};

use crate::client::Api;
use crate::output;

#[derive(Debug, Subcommand)]
pub enum SecurityCmd {
    #[command(subcommand)]
    Org(OrgCmd),
}

#[derive(Debug, Subcommand)]
pub enum OrgCmd {
    #[command(subcommand)]
    Users(UsersCmd),
}

#[derive(Debug, Subcommand)]
pub enum UsersCmd {
    List {
        #[arg(long)]
        json: bool,
    },
    Create {
        uid: String,
        #[arg(long, env = "DCOS_NEW_USER_PASSWORD", hide_env_values = true)]
        password: String,
        #[arg(long, default_value = "")]
        description: String,
    },
    Delete {
        uid: String,
    },
}

/// The users of a `GET /acs/api/v1/users` answer (`{"array": [...]}` as
/// DC/OS answers, or a bare list).
pub fn users(v: &Value) -> Vec<Value> {
    v["array"]
        .as_array()
        .or_else(|| v.as_array())
        .cloned()
        .unwrap_or_default()
}

pub async fn run(cmd: SecurityCmd) -> anyhow::Result<()> {
    let api = Api::attached()?;
    let SecurityCmd::Org(OrgCmd::Users(cmd)) = cmd;
    match cmd {
        UsersCmd::List { json } => {
            let list = users(&api.get("/acs/api/v1/users").await?);
            if json {
                return output::json(&list);
            }
            let rows = list
                .iter()
                .map(|u| {
                    vec![
                        u["uid"].as_str().unwrap_or("").to_string(),
                        u["description"].as_str().unwrap_or("").to_string(),
                    ]
                })
                .collect();
            output::table(&["UID", "DESCRIPTION"], rows);
            Ok(())
        }
        UsersCmd::Create {
            uid,
            password,
            description,
        } => {
            api.send(
                Method::PUT,
                &format!("/acs/api/v1/users/{uid}"),
                Some(&json!({"password": password, "description": description})),
            )
            .await?;
            println!("created user {uid}");
            Ok(())
        }
        UsersCmd::Delete { uid } => {
            api.send(Method::DELETE, &format!("/acs/api/v1/users/{uid}"), None)
                .await?;
            println!("deleted user {uid}");
            Ok(())
        }
    }
}
