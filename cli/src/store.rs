//! `dcos store ...`: read and write the replicated store from the shell,
//! through [`dcos_store::Client`] (which follows the leader).

use clap::{Args, Subcommand};
use dcos_store::types::*;
use dcos_store::{Client, Kv, KvError};
use futures::StreamExt;

use crate::output;

#[derive(Debug, Args)]
pub struct StoreArgs {
    /// Any master's URL; several may be given, comma-separated.
    #[arg(
        long,
        env = "DCOS_MASTER_URL",
        default_value = "http://127.0.0.1:5050",
        value_delimiter = ','
    )]
    pub master: Vec<String>,
    /// How long to keep trying unreachable or leaderless masters.
    #[arg(long, env = "DCOS_STORE_RETRY_SECS", default_value_t = 10)]
    pub retry_secs: u64,
    /// Print JSON for scripts instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: StoreCommand,
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Show how each member sees the cluster: leader, term, revision.
    Status,
    /// List the cluster's members.
    Members,
    /// Remove a member by id.
    RemoveMember { id: u64 },
    /// Read a key, or every key under a prefix.
    Get {
        key: String,
        #[arg(long)]
        prefix: bool,
    },
    /// Write a key.
    Put {
        key: String,
        value: String,
        /// Only if the key's mod revision is this (0: only if absent).
        #[arg(long)]
        expect_mod_revision: Option<u64>,
    },
    /// Delete a key, or every key under a prefix.
    Delete {
        key: String,
        #[arg(long)]
        prefix: bool,
    },
    /// Print changes under a prefix as they happen (Ctrl-C to stop).
    Watch {
        prefix: String,
        /// Start at this revision (default: changes from now on).
        #[arg(long, default_value_t = 0)]
        from: u64,
    },
}

pub async fn run(args: StoreArgs) -> anyhow::Result<()> {
    let client = Client::new(args.master.clone())
        .with_retry_for(std::time::Duration::from_secs(args.retry_secs));
    let json = args.json;
    let masters = args.master.join(",");
    // Only a connection problem gets the "is a master running" hint; a CAS
    // conflict or a missing key is reported as it is.
    let hint = |e: KvError| -> anyhow::Error {
        match e {
            KvError::Unavailable { .. } | KvError::NotLeader { .. } => anyhow::Error::new(e)
                .context(format!(
                    "is a master running at {masters}? (set --master or DCOS_MASTER_URL)"
                )),
            other => anyhow::Error::new(other),
        }
    };
    match args.command {
        StoreCommand::Status => {
            let status = client.status().await.map_err(hint)?;
            if json {
                return output::json(&status);
            }
            output::table(
                &["NODE", "ADDRESS", "STATE", "LEADER", "TERM", "REVISION"],
                vec![vec![
                    status.id.to_string(),
                    status.addr,
                    status.state,
                    status.leader_addr.unwrap_or_else(|| "none".into()),
                    status.term.to_string(),
                    status.revision.to_string(),
                ]],
            );
        }
        StoreCommand::Members => {
            let members = client.members().await.map_err(hint)?;
            if json {
                return output::json(&members);
            }
            output::table(
                &["ID", "ADDRESS", "ROLE"],
                members
                    .into_iter()
                    .map(|m| {
                        vec![
                            m.id.to_string(),
                            m.addr,
                            if m.voter { "voter" } else { "learner" }.into(),
                        ]
                    })
                    .collect(),
            );
        }
        StoreCommand::RemoveMember { id } => {
            let members = client.remove_member(id).await?;
            if json {
                return output::json(&members);
            }
            println!("removed node {id}; {} members remain", members.len());
        }
        StoreCommand::Get { key, prefix } => {
            let resp = client
                .range(RangeRequest {
                    key: key.clone(),
                    prefix,
                    ..Default::default()
                })
                .await
                .map_err(hint)?;
            if json {
                return output::json(&resp);
            }
            if resp.kvs.is_empty() {
                anyhow::bail!("no key {key:?}{}", if prefix { " prefix" } else { "" });
            }
            output::table(
                &["KEY", "VALUE", "MOD REVISION", "VERSION"],
                resp.kvs
                    .iter()
                    .map(|kv| {
                        vec![
                            kv.key.clone(),
                            output::text_or_base64(&kv.value),
                            kv.mod_revision.to_string(),
                            kv.version.to_string(),
                        ]
                    })
                    .collect(),
            );
        }
        StoreCommand::Put {
            key,
            value,
            expect_mod_revision,
        } => {
            let resp = client
                .put(PutRequest {
                    key,
                    value: value.into_bytes(),
                    lease: None,
                    expect_mod_revision,
                })
                .await
                .map_err(hint)?;
            if json {
                return output::json(&resp);
            }
            println!("ok, revision {}", resp.revision);
        }
        StoreCommand::Delete { key, prefix } => {
            let resp = client
                .delete(DeleteRequest {
                    key,
                    prefix,
                    expect_mod_revision: None,
                })
                .await
                .map_err(hint)?;
            if json {
                return output::json(&resp);
            }
            println!(
                "deleted {} key(s), revision {}",
                resp.deleted, resp.revision
            );
        }
        StoreCommand::Watch { prefix, from } => {
            let mut stream = client
                .watch(WatchRequest {
                    key: prefix,
                    prefix: true,
                    start_revision: from,
                    prev_kv: false,
                })
                .await
                .map_err(hint)?;
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                for e in &batch.events {
                    if json {
                        println!("{}", serde_json::to_string(e)?);
                    } else {
                        println!(
                            "{:>8} {:?} {} {}",
                            batch.revision,
                            e.kind,
                            e.kv.key,
                            output::text_or_base64(&e.kv.value)
                        );
                    }
                }
            }
        }
    }
    Ok(())
}
