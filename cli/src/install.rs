//! `dcos install`, `dcos uninstall`, `dcos status`: thin commands over
//! `dcos-installer`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use dcos_installer::{InstallOptions, Ports, Role};

use crate::output;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    /// A master (store, Mesos master, Marathon, Chronos, gateway).
    Master,
    /// An agent joining existing masters (needs --join and --token).
    Agent,
}

fn default_data_dir() -> PathBuf {
    if nix::unistd::geteuid().is_root() {
        PathBuf::from("/var/lib/dcos")
    } else {
        std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(".dcos/node"))
            .unwrap_or_else(|| PathBuf::from("./dcos-data"))
    }
}

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// What this machine runs; without it, a master AND an agent (a
    /// complete one-machine cluster).
    #[arg(long, value_enum)]
    pub role: Option<RoleArg>,
    /// The gateway URL of the cluster to join (`--role agent`, or an
    /// additional `--role master`).
    #[arg(long, requires = "token")]
    pub join: Option<String>,
    /// The cluster's join token (`dcos cluster join-token` on a master).
    #[arg(long)]
    pub token: Option<String>,
    /// Where everything lives (default /var/lib/dcos as root).
    #[arg(long, env = "DCOS_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The address the components listen on and advertise.
    #[arg(long, default_value = "127.0.0.1")]
    pub ip: String,
    #[arg(long, default_value_t = 5050)]
    pub master_port: u16,
    #[arg(long, default_value_t = 5051)]
    pub agent_port: u16,
    #[arg(long, default_value_t = 8080)]
    pub marathon_port: u16,
    #[arg(long, default_value_t = 4400)]
    pub chronos_port: u16,
    /// Cosmos, the package manager.
    #[arg(long, default_value_t = 7070)]
    pub cosmos_port: u16,
    #[arg(long, default_value_t = 80)]
    pub gateway_port: u16,
    /// Agent resources in Mesos syntax (detected when absent).
    #[arg(long)]
    pub resources: Option<String>,
    /// Seconds to wait for each component to become healthy.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct UninstallArgs {
    #[arg(long, env = "DCOS_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Also delete the data dir (state, secrets, logs).
    #[arg(long)]
    pub purge: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[arg(long, env = "DCOS_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

pub async fn install(args: InstallArgs) -> anyhow::Result<()> {
    let role = match (args.role, &args.join) {
        (None, Some(_)) => anyhow::bail!(
            "--join needs --role agent (a new agent) or --role master (an additional master)"
        ),
        (None, None) => Role::MasterAgent,
        (Some(RoleArg::Master), _) => Role::Master,
        (Some(RoleArg::Agent), _) => Role::Agent,
    };
    let opts = InstallOptions {
        role,
        join: args.join,
        token: args.token,
        data_dir: args.data_dir.unwrap_or_else(default_data_dir),
        ip: args.ip,
        ports: Ports {
            master: args.master_port,
            agent: args.agent_port,
            marathon: args.marathon_port,
            chronos: args.chronos_port,
            cosmos: args.cosmos_port,
            gateway: args.gateway_port,
        },
        binary: std::env::current_exe()?,
        resources: args.resources,
        timeout: Duration::from_secs(args.timeout),
        quiet: args.json,
    };
    let done = dcos_installer::install(opts).await?;
    if args.json {
        return output::json(&done);
    }
    println!(
        "dcos is running: cluster {} ({})",
        done.cluster_id, done.role
    );
    println!("cluster URL: {}", done.gateway);
    if done.admin_credentials.is_none() && done.role == "master" {
        println!(
            "log in with the users of the cluster (the first master's admin-credentials file)"
        );
    }
    if let Some(c) = &done.admin_credentials {
        println!("admin credentials: {} (readable by root only)", c.display());
        println!(
            "next: dcos cluster setup {} --username admin --password \"$(sed -n 's/^password: //p' {})\"",
            done.gateway,
            c.display()
        );
    }
    Ok(())
}

pub async fn uninstall(args: UninstallArgs) -> anyhow::Result<()> {
    let dir = args.data_dir.unwrap_or_else(default_data_dir);
    let done = dcos_installer::uninstall(&dir, args.purge).await?;
    if args.json {
        return output::json(&done);
    }
    println!(
        "stopped {} process(es), removed {} cgroup(s){}; {}",
        done.stopped_processes,
        done.removed_cgroups.len(),
        if done.removed_units.is_empty() {
            String::new()
        } else {
            format!(" and units {}", done.removed_units.join(", "))
        },
        if done.purged {
            format!("deleted {}", dir.display())
        } else {
            format!("data kept in {} (--purge deletes it)", dir.display())
        }
    );
    Ok(())
}

/// Exit code 0 when every component is healthy, 1 otherwise.
pub async fn status(args: StatusArgs) -> anyhow::Result<()> {
    let dir = args.data_dir.unwrap_or_else(default_data_dir);
    let st = dcos_installer::status(&dir).await?;
    if args.json {
        output::json(&st)?;
    } else {
        println!(
            "cluster {} ({}), {}, gateway {}",
            st.cluster_id, st.role, st.supervision, st.gateway
        );
        output::table(
            &["COMPONENT", "HEALTH", "PID", "URL"],
            st.components
                .iter()
                .map(|c| {
                    vec![
                        c.name.clone(),
                        c.health.clone(),
                        c.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                        c.url.clone(),
                    ]
                })
                .collect(),
        );
    }
    if !st.all_healthy() {
        return Err(crate::Exit::Quiet(1).into());
    }
    Ok(())
}
