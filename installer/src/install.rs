//! `dcos install`, `dcos status` and `dcos uninstall`: the node's
//! lifecycle.
//!
//! Install: read or make the config (joining an existing cluster asks its
//! gateway for the masters and the cluster secret), run the preflight
//! checks, write the secrets once, hand the components to systemd or our
//! supervisor, and wait until each is healthy. Every step looks at what
//! is already there first, so a second run on the same data dir repairs
//! and never duplicates.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::components::{components, port_uses, Component};
use crate::config::{ensure_file, ConfigError, Layout, NodeConfig, Ports, Role, Secrets};
use crate::mounts;
use crate::preflight::{self, Outcome};
use crate::process;
use crate::progress::Progress;
use crate::supervisor;
use crate::systemd;

/// What `dcos install` was asked for.
#[derive(Debug, Clone)]
pub struct InstallOptions {
    pub role: Role,
    /// A gateway URL of the cluster to join (`--role agent`, or an
    /// additional `--role master`).
    pub join: Option<String>,
    pub token: Option<String>,
    pub data_dir: PathBuf,
    pub ip: String,
    pub ports: Ports,
    /// The `dcos` binary the components run.
    pub binary: PathBuf,
    pub resources: Option<String>,
    /// How long to wait for each component to become healthy.
    pub timeout: Duration,
    pub quiet: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// preflight failed
    #[error("preflight checks failed:\n  {}", .0.join("\n  "))]
    Preflight(Vec<String>),
    /// usage
    #[error("{0}")]
    Usage(String),
    /// join transport
    #[error("cannot reach the cluster at {url} to join it: {message} (check the URL, and that this machine can reach it)")]
    JoinUnreachable { url: String, message: String },
    /// join refused
    #[error("the cluster at {url} refused to let this node join: {message}")]
    JoinRefused { url: String, message: String },
    /// unhealthy
    #[error("the {component} did not become healthy within {seconds} s ({url}); the end of {log}:\n{tail}")]
    Unhealthy {
        component: String,
        url: String,
        seconds: u64,
        log: String,
        tail: String,
    },
    /// supervision
    #[error("cannot start the {what}: {source}")]
    Start {
        what: &'static str,
        source: std::io::Error,
    },
    /// nothing installed
    #[error("nothing is installed in {0} (no config.toml there; pass the --data-dir you installed with)")]
    NotInstalled(PathBuf),
    /// unmount
    #[error("cannot unmount what the node mounted under its data dir: {}", .0.join("; "))]
    Unmount(Vec<String>),
}

/// The join API's answer (`POST /install/v1/join`).
#[derive(Debug, Clone, Deserialize)]
pub struct JoinAnswer {
    pub cluster_id: String,
    pub masters: Vec<String>,
    #[serde(default)]
    pub marathon: Vec<String>,
    #[serde(default)]
    pub chronos: Vec<String>,
    pub gateway: String,
    pub secret: String,
}

/// What an install produced.
#[derive(Debug, Clone, Serialize)]
pub struct Installed {
    pub cluster_id: String,
    pub role: String,
    pub gateway: String,
    /// The admin credentials file (masters of a new cluster only).
    pub admin_credentials: Option<PathBuf>,
    pub supervision: String,
    pub components: Vec<String>,
}

fn url_of(ip: &str, port: u16) -> String {
    format!("http://{ip}:{port}")
}

/// Asks a cluster's gateway to let this node join.
pub async fn join(
    gateway: &str,
    token: &str,
    role: Role,
    hostname: &str,
) -> Result<JoinAnswer, InstallError> {
    let url = format!("{}/install/v1/join", gateway.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    let role = if role == Role::Agent {
        "agent"
    } else {
        "master"
    };
    let unreachable = |e: reqwest::Error| InstallError::JoinUnreachable {
        url: gateway.to_string(),
        message: e.to_string(),
    };
    let resp = client
        .post(&url)
        .json(&serde_json::json!({"token": token, "role": role, "hostname": hostname}))
        .send()
        .await
        .map_err(unreachable)?;
    let status = resp.status();
    let body = resp.text().await.map_err(unreachable)?;
    if !status.is_success() {
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let message = v["description"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("{status}: {body}"));
        return Err(InstallError::JoinRefused {
            url: gateway.to_string(),
            message,
        });
    }
    serde_json::from_str(&body).map_err(|e| InstallError::JoinRefused {
        url: gateway.to_string(),
        message: format!("unexpected answer ({e}): {body}"),
    })
}

/// The config for a fresh node (before any file is written).
async fn new_config(
    opts: &InstallOptions,
    layout: &Layout,
) -> Result<(NodeConfig, Option<Secrets>), InstallError> {
    let ip = &opts.ip;
    let p = &opts.ports;
    let me_master = url_of(ip, p.master);
    let me_marathon = url_of(ip, p.marathon);
    let me_chronos = url_of(ip, p.chronos);
    let me_gateway = url_of(ip, p.gateway);
    let short = |id: &str| format!("dcos-{}", &id[..8.min(id.len())]);
    match (&opts.join, opts.role) {
        (None, Role::Agent) => Err(InstallError::Usage(
            "--role agent needs --join <gateway URL> and --token <join token> (print the token on a master with `dcos cluster join-token`)".into(),
        )),
        (None, role) => {
            let secrets = Secrets::generate(&mut rand::rng());
            let cfg = NodeConfig {
                role,
                cluster_id: secrets.cluster_id.clone(),
                ip: ip.clone(),
                binary: opts.binary.clone(),
                ports: p.clone(),
                masters: vec![me_master],
                marathons: vec![me_marathon],
                chronoses: vec![me_chronos],
                gateway: me_gateway,
                store_join: None,
                cgroups_root: short(&secrets.cluster_id),
                resources: opts.resources.clone(),
            };
            Ok((cfg, Some(secrets)))
        }
        (Some(gw), role) => {
            let token = opts.token.as_deref().ok_or_else(|| {
                InstallError::Usage(
                    "--join needs --token <join token> (print it on a master with `dcos cluster join-token`)".into(),
                )
            })?;
            let hostname = nix::unistd::gethostname()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_default();
            let answer = join(gw, token, role, &hostname).await?;
            std::fs::create_dir_all(layout.secrets()).map_err(|source| ConfigError::Io {
                action: "create",
                path: layout.secrets(),
                source,
            })?;
            ensure_file(&layout.cluster_secret(), &answer.secret)?;
            ensure_file(&layout.cluster_id(), &answer.cluster_id)?;
            let mut cfg = NodeConfig {
                role,
                cluster_id: answer.cluster_id.clone(),
                ip: ip.clone(),
                binary: opts.binary.clone(),
                ports: p.clone(),
                masters: answer.masters.clone(),
                marathons: answer.marathon.clone(),
                chronoses: answer.chronos.clone(),
                gateway: answer.gateway.clone(),
                store_join: None,
                cgroups_root: format!("{}-{}", short(&answer.cluster_id), p.agent),
                resources: opts.resources.clone(),
            };
            let mut secrets = None;
            if role.runs_master() {
                cfg.store_join = answer.masters.first().cloned();
                cfg.masters.push(me_master);
                cfg.marathons.push(me_marathon);
                cfg.chronoses.insert(0, me_chronos);
                cfg.gateway = me_gateway;
                let mut s = Secrets::generate(&mut rand::rng());
                s.cluster_id = answer.cluster_id;
                s.cluster_secret = answer.secret;
                s.join_token = token.to_string();
                secrets = Some(s);
            }
            Ok((cfg, secrets))
        }
    }
}

/// The settings given now that differ from an existing installation's
/// (which is kept: a re-run repairs, it does not reconfigure), so the user
/// is told instead of silently ignored.
pub fn ignored_settings(opts: &InstallOptions, cfg: &NodeConfig) -> Vec<String> {
    let mut out = Vec::new();
    if opts.role != cfg.role {
        out.push(format!(
            "--role {} differs from the installed {}",
            opts.role, cfg.role
        ));
    }
    if opts.ip != cfg.ip {
        out.push(format!(
            "--ip {} differs from the installed {}",
            opts.ip, cfg.ip
        ));
    }
    let ports = [
        ("master", opts.ports.master, cfg.ports.master),
        ("agent", opts.ports.agent, cfg.ports.agent),
        ("marathon", opts.ports.marathon, cfg.ports.marathon),
        ("chronos", opts.ports.chronos, cfg.ports.chronos),
        ("cosmos", opts.ports.cosmos, cfg.ports.cosmos),
        ("gateway", opts.ports.gateway, cfg.ports.gateway),
    ];
    for (name, given, installed) in ports {
        if given != installed {
            out.push(format!(
                "--{name}-port {given} differs from the installed {installed}"
            ));
        }
    }
    if opts.resources.is_some() && opts.resources != cfg.resources {
        out.push(format!(
            "--resources {} differs from the installed {}",
            opts.resources.as_deref().unwrap_or(""),
            cfg.resources.as_deref().unwrap_or("(detected)")
        ));
    }
    out
}

/// Whether a supervisor runs this data dir.
pub fn supervisor_pid(layout: &Layout) -> Option<i32> {
    process::read_pidfile(&layout.pidfile("supervisor"))
        .filter(|&pid| process::is_ours(pid, &layout.root))
}

/// `dcos install`.
pub async fn install(opts: InstallOptions) -> Result<Installed, InstallError> {
    let progress = Progress::new(opts.quiet);
    let data_dir = std::path::absolute(&opts.data_dir).map_err(|source| ConfigError::Io {
        action: "resolve",
        path: opts.data_dir.clone(),
        source,
    })?;
    let layout = Layout::new(&data_dir);
    let use_systemd = systemd::available();

    // 1. Config: the one already there wins (idempotence).
    let existing = NodeConfig::load(&layout.config())?;
    let (cfg, fresh_secrets, is_new) = match existing {
        Some(cfg) => {
            progress.line(&format!(
                "using the existing configuration in {} (cluster {})",
                layout.config().display(),
                cfg.cluster_id
            ));
            for d in ignored_settings(&opts, &cfg) {
                progress.line(&format!(
                    "warning: {d}; the existing configuration wins (`dcos uninstall --purge` \
                     first to install with new settings)"
                ));
            }
            (cfg, None, false)
        }
        None => {
            let step = progress.begin(match &opts.join {
                Some(j) => format!("joining the cluster at {j}"),
                None => "generating the configuration".to_string(),
            });
            match new_config(&opts, &layout).await {
                Ok((cfg, s)) => {
                    step.done(&format!("cluster {}", cfg.cluster_id));
                    (cfg, s, true)
                }
                Err(e) => {
                    step.fail("refused");
                    return Err(e);
                }
            }
        }
    };
    let comps = components(&cfg, &layout);

    // 2. Preflight. Ports held by our own running components are fine.
    let running_sup = if use_systemd {
        None
    } else {
        supervisor_pid(&layout)
    };
    if running_sup.is_none() && !use_systemd {
        for c in &comps {
            process::stop_from_pidfile(&layout.pidfile(c.name), &data_dir, supervisor::STOP_GRACE)
                .await;
        }
    }
    let ports = if running_sup.is_some() || (use_systemd && !is_new) {
        Vec::new()
    } else {
        port_uses(&cfg)
    };
    let checks = preflight::run(&data_dir, &cfg.ip, &ports, cfg.role.runs_agent());
    let mut failures = Vec::new();
    for c in &checks {
        match &c.outcome {
            Outcome::Pass(m) => progress.line(&format!("✓ {}: {m}", c.name)),
            Outcome::Warn(m) => progress.line(&format!("! {}: {m}", c.name)),
            Outcome::Fail(m) => {
                progress.line(&format!("✗ {}: {m}", c.name));
                failures.push(m.clone());
            }
        }
    }
    if !failures.is_empty() {
        if is_new {
            // Leave no half-made install behind a failed preflight.
            let _ = std::fs::remove_dir_all(layout.secrets());
        }
        return Err(InstallError::Preflight(failures));
    }

    // 3. Files: secrets once, then the config.
    for dir in [layout.logs(), layout.run()] {
        std::fs::create_dir_all(&dir).map_err(|source| ConfigError::Io {
            action: "create",
            path: dir.clone(),
            source,
        })?;
    }
    let admin_credentials = if cfg.role.runs_master() {
        let fresh = match fresh_secrets {
            Some(s) => s,
            None => Secrets::generate(&mut rand::rng()),
        };
        let first_master = cfg.store_join.is_none();
        Secrets::ensure(&layout, fresh, first_master)?;
        first_master.then(|| layout.admin_credentials())
    } else {
        None
    };
    if is_new {
        cfg.save(&layout.config())?;
    }

    // 4. Supervision.
    let supervision = if use_systemd {
        let step = progress.begin("installing systemd units");
        systemd::install(&comps, |n| layout.log(n)).map_err(|source| InstallError::Start {
            what: "systemd units",
            source,
        })?;
        step.done("dcos-*.service enabled");
        "systemd".to_string()
    } else {
        let pid = match running_sup {
            Some(pid) => {
                progress.line(&format!("the supervisor already runs (pid {pid})"));
                pid
            }
            None => {
                let step = progress.begin("starting the supervisor");
                let pid = spawn_supervisor(&cfg.binary, &layout)?;
                step.done(&format!("pid {pid}, logs in {}", layout.logs().display()));
                pid
            }
        };
        format!("supervisor (pid {pid})")
    };

    // 5. Wait for health, in start order.
    for c in &comps {
        let step = progress.begin(format!("waiting for the {}", c.name));
        if supervisor::wait_healthy(&c.health_url, opts.timeout).await {
            step.done(&format!("healthy at {}", c.health_url));
        } else {
            step.fail("not healthy");
            return Err(unhealthy(c, &layout, opts.timeout));
        }
    }
    if cfg.role.runs_agent() {
        let step = progress.begin("waiting for the agent to register");
        let needle = format!("{}:{}", cfg.ip, cfg.ports.agent);
        if wait_registered(&cfg.masters, &needle, opts.timeout).await {
            step.done("registered with the master");
        } else {
            step.fail("not registered");
            let agent = comps.iter().find(|c| c.name == "agent");
            if let Some(a) = agent {
                return Err(unhealthy(a, &layout, opts.timeout));
            }
        }
    }
    Ok(Installed {
        cluster_id: cfg.cluster_id.clone(),
        role: cfg.role.to_string(),
        gateway: cfg.gateway.clone(),
        admin_credentials,
        supervision,
        components: comps.iter().map(|c| c.name.to_string()).collect(),
    })
}

fn unhealthy(c: &Component, layout: &Layout, timeout: Duration) -> InstallError {
    let log = layout.log(c.name);
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(15)..].join("\n");
    InstallError::Unhealthy {
        component: c.name.to_string(),
        url: c.health_url.clone(),
        seconds: timeout.as_secs(),
        log: log.display().to_string(),
        tail,
    }
}

/// Polls the masters' `/master/state` until an agent listening on
/// `needle` (`ip:port`) is in it.
async fn wait_registered(masters: &[String], needle: &str, timeout: Duration) -> bool {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap_or_default();
    let start = std::time::Instant::now();
    while start.elapsed() < timeout {
        for m in masters {
            if let Ok(r) = client.get(format!("{m}/master/slaves")).send().await {
                if let Ok(text) = r.text().await {
                    if text.contains(needle) {
                        return true;
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// Starts `dcos daemon supervisor` detached (it calls setsid itself),
/// its output in `logs/supervisor.log`.
fn spawn_supervisor(binary: &Path, layout: &Layout) -> Result<i32, InstallError> {
    let start = |source| InstallError::Start {
        what: "supervisor",
        source,
    };
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(layout.log("supervisor"))
        .map_err(start)?;
    let child = std::process::Command::new(binary)
        .args(["daemon", "supervisor", "--data-dir"])
        .arg(&layout.root)
        .env(process::NODE_ENV, &layout.root)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().map_err(start)?)
        .stderr(log)
        .spawn()
        .map_err(start)?;
    Ok(child.id() as i32)
}

/// One component's state for `dcos status`.
#[derive(Debug, Clone, Serialize)]
pub struct ComponentStatus {
    pub name: String,
    pub pid: Option<i32>,
    /// `healthy`, `unhealthy` (running, not answering) or `stopped`.
    pub health: String,
    pub url: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct NodeStatus {
    pub data_dir: PathBuf,
    pub cluster_id: String,
    pub role: String,
    pub gateway: String,
    pub supervision: String,
    pub components: Vec<ComponentStatus>,
}

impl NodeStatus {
    pub fn all_healthy(&self) -> bool {
        self.components.iter().all(|c| c.health == "healthy")
    }
}

/// `dcos status`.
pub async fn status(data_dir: &Path) -> Result<NodeStatus, InstallError> {
    let data_dir = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    let layout = Layout::new(&data_dir);
    let cfg = NodeConfig::load(&layout.config())?
        .ok_or_else(|| InstallError::NotInstalled(data_dir.clone()))?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap_or_default();
    let supervision = if systemd::available() && systemd::unit_path("master").exists() {
        "systemd".to_string()
    } else {
        match supervisor_pid(&layout) {
            Some(pid) => format!("supervisor (pid {pid})"),
            None => "stopped".to_string(),
        }
    };
    let mut out = Vec::new();
    for c in components(&cfg, &layout) {
        let pid = process::read_pidfile(&layout.pidfile(c.name))
            .filter(|&p| process::is_ours(p, &data_dir));
        let healthy = supervisor::healthy(&client, &c.health_url).await;
        let health = match (healthy, pid) {
            (true, _) => "healthy",
            (false, Some(_)) => "unhealthy",
            (false, None) => "stopped",
        };
        out.push(ComponentStatus {
            name: c.name.to_string(),
            pid,
            health: health.to_string(),
            url: c.health_url.clone(),
        });
    }
    Ok(NodeStatus {
        data_dir,
        cluster_id: cfg.cluster_id,
        role: cfg.role.to_string(),
        gateway: cfg.gateway,
        supervision,
        components: out,
    })
}

/// What `dcos uninstall` did.
#[derive(Debug, Clone, Serialize)]
pub struct Uninstalled {
    pub stopped_processes: usize,
    pub removed_cgroups: Vec<PathBuf>,
    pub removed_units: Vec<String>,
    /// Mount points under the data dir that were unmounted (containers'
    /// root file systems and their bind mounts), detached ones included.
    pub unmounted: Vec<PathBuf>,
    pub purged: bool,
}

/// `dcos uninstall`: stops exactly what the node started — its units or
/// its supervisor (which stops the components), the components its
/// pidfiles name, the processes in its cgroups and those carrying its
/// [`process::NODE_ENV`] marker (executors and tasks) — never this
/// process nor its ancestors; removes its cgroups, unmounts what it
/// mounted under the data dir, and with `purge` deletes the data dir.
pub async fn uninstall(data_dir: &Path, purge: bool) -> Result<Uninstalled, InstallError> {
    let data_dir = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    let layout = Layout::new(&data_dir);
    let cfg = NodeConfig::load(&layout.config())?
        .ok_or_else(|| InstallError::NotInstalled(data_dir.clone()))?;
    let comps = components(&cfg, &layout);
    let names: Vec<&str> = comps.iter().map(|c| c.name).collect();
    let mut removed_units = Vec::new();
    if systemd::available() {
        for n in &names {
            if systemd::unit_path(n).exists() {
                removed_units.push(systemd::unit_name(n));
            }
        }
        systemd::uninstall(&names).map_err(|source| InstallError::Start {
            what: "systemctl",
            source,
        })?;
    }
    // The supervisor stops its components in reverse order.
    let mut stopped = 0;
    if let Some(pid) = supervisor_pid(&layout) {
        process::terminate(pid, Duration::from_secs(30)).await;
        stopped += 1;
    }
    let _ = std::fs::remove_file(layout.pidfile("supervisor"));
    for c in &comps {
        process::stop_from_pidfile(&layout.pidfile(c.name), &data_dir, Duration::from_secs(5))
            .await;
    }
    // Executors and tasks (they outlive the agent on purpose): in our
    // cgroups, or marked; then our cgroups.
    let cgroups = process::cgroup_dirs(&cfg.cgroups_root);
    let spared = process::self_and_ancestors();
    for _ in 0..50 {
        let mut pids = process::processes_of(&data_dir);
        for dir in &cgroups {
            pids.extend(process::cgroup_pids(dir));
        }
        pids.sort_unstable();
        pids.dedup();
        pids.retain(|&p| !spared.contains(&p) && process::alive(p));
        if pids.is_empty() {
            break;
        }
        stopped += pids.len();
        process::kill_all(&pids, Duration::from_secs(5)).await;
    }
    let mut removed_cgroups = Vec::new();
    for dir in cgroups {
        let mut ok = false;
        for _ in 0..50 {
            if process::remove_cgroup_tree(&dir).is_ok() {
                ok = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if ok {
            removed_cgroups.push(dir);
        } else {
            tracing::warn!(cgroup = %dir.display(), "could not remove the cgroup");
        }
    }
    // Containers' root file systems (and the bind mounts in them) stay
    // mounted when their executor was killed.
    let unmounted = match mounts::unmount_under(&data_dir) {
        Ok(u) => u.unmounted.into_iter().chain(u.detached).collect(),
        Err(failed) => {
            return Err(InstallError::Unmount(
                failed
                    .iter()
                    .map(|(p, e)| format!("{}: {e}", p.display()))
                    .collect(),
            ))
        }
    };
    if purge {
        std::fs::remove_dir_all(&data_dir).map_err(|source| ConfigError::Io {
            action: "remove",
            path: data_dir.clone(),
            source,
        })?;
    } else {
        let _ = std::fs::remove_dir_all(layout.run());
    }
    Ok(Uninstalled {
        stopped_processes: stopped,
        removed_cgroups,
        removed_units,
        unmounted,
        purged: purge,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(cfg: &NodeConfig) -> InstallOptions {
        InstallOptions {
            role: cfg.role,
            join: None,
            token: None,
            data_dir: PathBuf::from("/d"),
            ip: cfg.ip.clone(),
            ports: cfg.ports.clone(),
            binary: cfg.binary.clone(),
            resources: None,
            timeout: Duration::from_secs(1),
            quiet: true,
        }
    }

    #[test]
    fn a_rerun_with_other_settings_is_told_they_are_ignored() {
        let cfg = NodeConfig {
            role: Role::MasterAgent,
            cluster_id: "c".into(),
            ip: "127.0.0.1".into(),
            binary: PathBuf::from("/bin/dcos"),
            ports: Ports::default(),
            masters: vec![],
            marathons: vec![],
            chronoses: vec![],
            gateway: "http://127.0.0.1:80".into(),
            store_join: None,
            cgroups_root: "dcos-x".into(),
            resources: None,
        };
        assert!(ignored_settings(&opts(&cfg), &cfg).is_empty());
        let mut o = opts(&cfg);
        o.ip = "10.0.0.2".into();
        o.ports.marathon = 18080;
        o.resources = Some("cpus:2".into());
        let d = ignored_settings(&o, &cfg);
        assert_eq!(d.len(), 3, "{d:?}");
        assert!(d[0].contains("--ip 10.0.0.2 differs from the installed 127.0.0.1"));
        assert!(d[1].contains("--marathon-port 18080 differs from the installed 8080"));
        assert!(d[2].contains("--resources cpus:2"));
    }
}
