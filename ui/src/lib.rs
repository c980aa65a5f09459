//! `dcos-gateway`: the one front door of a cluster, like DC/OS's Admin
//! Router. It routes the DC/OS paths (`/mesos/`, `/marathon/`,
//! `/service/<name>/`, `/agent/<id>/`, `/system/…`) to the backends,
//! follows their leaders so clients never see a failover, checks a login
//! token on every API request, serves the dashboard, and lets new
//! machines join the cluster.
//! It holds no state of its own: users live in the replicated store, the
//! secrets in files the installer wrote.
//!
//! | module | owns |
//! |---|---|
//! | [`auth`] | JWTs (HS256, cluster secret), argon2 passwords, service tokens |
//! | [`users`] | user accounts in the store (`/acs/users/<uid>`) |
//! | [`upstream`] | the backends: leading master, Marathon, Chronos, services, agents |
//! | [`proxy`] | forwarding one request: headers, streaming, retry after failover |
//! | [`routes`] | the HTTP surface: public routes, the token check, the routing table |
//! | [`dashboard`] | the browser UI at `/` (built from `ui/web/`, embedded) |
//! | [`join`] | `/install.sh`, `/install/v1/binary`, `/install/v1/join` |
//! | [`logs`] | `/system/v1/logs/…`: task logs read from the agents' sandboxes |
//! | [`error`] | [`error::GatewayError`], DC/OS IAM's error JSON |
//!
//! See `README.md` for the pipeline and the words.

pub mod auth;
pub mod dashboard;
pub mod error;
pub mod join;
pub mod logs;
pub mod proxy;
pub mod routes;
pub mod upstream;
pub mod users;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

/// Flags of `dcos daemon gateway`.
#[derive(Debug, Clone, Args)]
pub struct GatewayArgs {
    /// Address to serve on (`host:port`; port 0 picks a free one).
    #[arg(long, default_value = "0.0.0.0:80")]
    pub listen: String,
    /// The node's data directory: secrets default to
    /// `<dir>/secrets/{cluster-secret,join-token,cluster-id}` and the admin
    /// credentials to `<dir>/admin-credentials`.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// A master (`http://host:5050`); repeat (or separate with commas) for
    /// several. `/mesos/` goes to the leading one; users are kept in the
    /// store they serve.
    #[arg(long = "master", value_delimiter = ',', required = true)]
    pub masters: Vec<String>,
    /// A Marathon; repeat for several (standbys proxy to the leader).
    #[arg(long = "marathon", value_delimiter = ',')]
    pub marathons: Vec<String>,
    /// Chronos (serves `/service/chronos/` and `/service/metronome/`).
    #[arg(long = "chronos", value_delimiter = ',')]
    pub chronos: Vec<String>,
    /// Cosmos, the package manager (serves `/package/`, `/cosmos/` and
    /// `/capabilities`); repeat for several.
    #[arg(long = "cosmos", value_delimiter = ',')]
    pub cosmos: Vec<String>,
    /// The cluster secret (HS256 signing key of tokens).
    #[arg(long)]
    pub secret_file: Option<PathBuf>,
    /// `uid: <u>` and `password: <p>` lines: the user created at start if
    /// the store holds none.
    #[arg(long)]
    pub admin_credentials: Option<PathBuf>,
    /// The token new nodes must present to join.
    #[arg(long)]
    pub join_token_file: Option<PathBuf>,
    /// The `dcos` binary served to joining nodes (default: this one).
    #[arg(long)]
    pub binary: Option<PathBuf>,
    /// Lifetime of login tokens in seconds (DC/OS: 5 days).
    #[arg(long, default_value_t = auth::DEFAULT_TOKEN_LIFETIME.as_secs())]
    pub token_lifetime_secs: u64,
    /// The address `/metadata` reports as PUBLIC_IPV4 (default: the listen
    /// address, or the first master's host when listening on all).
    #[arg(long)]
    pub public_ip: Option<String>,
}

/// What the gateway knows about its cluster (from the installer's files).
#[derive(Clone)]
pub struct ClusterInfo {
    pub id: String,
    /// The cluster secret, surrounding whitespace trimmed.
    pub secret: String,
    /// `None`: this gateway does not admit new nodes.
    pub join_token: Option<String>,
    pub public_ip: String,
}

impl std::fmt::Debug for ClusterInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterInfo")
            .field("id", &self.id)
            .field("public_ip", &self.public_ip)
            .finish_non_exhaustive()
    }
}

/// Everything the handlers share.
#[derive(Debug)]
pub struct Gateway {
    pub tokens: auth::Tokens,
    pub users: users::Users,
    pub upstreams: Arc<upstream::Upstreams>,
    pub cluster: ClusterInfo,
    /// The binary served at `/install/v1/binary`.
    pub binary: PathBuf,
    /// The binary's SHA-256, computed once (DC/OS' "bootstrap id").
    pub bootstrap_id: tokio::sync::OnceCell<String>,
}

/// Reads a secret file, trimmed of surrounding whitespace (a trailing
/// newline is not part of the secret). Warns (naming the file, never the
/// contents) when others may read it.
pub fn read_secret(path: &Path) -> std::io::Result<String> {
    use std::os::unix::fs::PermissionsExt;
    let text = std::fs::read_to_string(path)?;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{mode:o}"),
                "a secret file is readable by other users: chmod 600 it"
            );
        }
    }
    Ok(text.trim().to_string())
}

/// The `uid:` and `password:` of an admin credentials file.
pub fn parse_credentials(text: &str) -> Option<(String, String)> {
    let mut uid = None;
    let mut password = None;
    for line in text.lines() {
        if let Some((k, v)) = line.split_once(':') {
            match k.trim() {
                "uid" => uid = Some(v.trim().to_string()),
                "password" => password = Some(v.trim().to_string()),
                _ => {}
            }
        }
    }
    Some((uid?, password?))
}

/// A stable cluster id derived from the secret (when the installer wrote
/// no `cluster-id` file): a UUID-shaped SHA-256 prefix.
pub fn cluster_id_from_secret(secret: &str) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(format!("dcos-cluster-id:{secret}").as_bytes());
    let h: String = d.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn default_file(
    args_path: &Option<PathBuf>,
    data_dir: &Option<PathBuf>,
    rel: &str,
) -> Option<PathBuf> {
    args_path
        .clone()
        .or_else(|| data_dir.as_ref().map(|d| d.join(rel)))
}

fn public_ip(args: &GatewayArgs, bound: SocketAddr) -> String {
    if let Some(ip) = &args.public_ip {
        return ip.clone();
    }
    if !bound.ip().is_unspecified() {
        return bound.ip().to_string();
    }
    args.masters
        .first()
        .map(|m| upstream::base_url(m))
        .and_then(|u| {
            let hostport = u.split_once("://").map(|(_, r)| r.to_string())?;
            let host = hostport.rsplit_once(':').map(|(h, _)| h.to_string())?;
            Some(host)
        })
        .unwrap_or_else(|| "127.0.0.1".to_string())
}

/// Runs the gateway until SIGINT/SIGTERM.
pub async fn run(args: GatewayArgs) -> anyhow::Result<()> {
    let secret_path = default_file(&args.secret_file, &args.data_dir, "secrets/cluster-secret")
        .context("give --secret-file (or --data-dir with secrets/cluster-secret)")?;
    let secret = read_secret(&secret_path)
        .with_context(|| format!("cannot read the cluster secret {}", secret_path.display()))?;
    anyhow::ensure!(
        !secret.is_empty(),
        "the cluster secret {} is empty",
        secret_path.display()
    );
    let join_token = match default_file(&args.join_token_file, &args.data_dir, "secrets/join-token")
    {
        Some(p) if p.exists() || args.join_token_file.is_some() => Some(
            read_secret(&p)
                .with_context(|| format!("cannot read the join token {}", p.display()))?,
        ),
        _ => None,
    };
    let cluster_id = args
        .data_dir
        .as_ref()
        .map(|d| d.join("secrets/cluster-id"))
        .and_then(|p| read_secret(&p).ok())
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| cluster_id_from_secret(&secret));
    let binary = match &args.binary {
        Some(b) => b.clone(),
        None => std::env::current_exe().context("locating the dcos binary")?,
    };

    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}: is another process using the port?",
                args.listen
            )
        })?;
    let bound = listener.local_addr()?;

    let store = dcos_store::Client::new(args.masters.iter().map(|m| upstream::base_url(m)))
        .with_retry_for(Duration::from_secs(30));
    let users = users::Users::new(Arc::new(store));
    if let Some(path) = default_file(&args.admin_credentials, &args.data_dir, "admin-credentials") {
        if path.exists() || args.admin_credentials.is_some() {
            let text =
                read_secret(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let (uid, password) = parse_credentials(&text).with_context(|| {
                format!(
                    "{} must have two lines, `uid: <u>` and `password: <p>`",
                    path.display()
                )
            })?;
            if users
                .ensure_first(&uid, &password)
                .await
                .context("creating the first user in the store")?
            {
                tracing::info!(uid = %uid, "created the first user from the admin credentials");
            }
        }
    }

    let gw = Arc::new(Gateway {
        tokens: auth::Tokens::new(
            secret.as_bytes(),
            Duration::from_secs(args.token_lifetime_secs),
        ),
        users,
        upstreams: upstream::Upstreams::new(
            &args.masters,
            &args.marathons,
            &args.chronos,
            &args.cosmos,
        ),
        cluster: ClusterInfo {
            id: cluster_id,
            secret,
            join_token,
            public_ip: public_ip(&args, bound),
        },
        binary,
        bootstrap_id: tokio::sync::OnceCell::new(),
    });
    let app = routes::router(Arc::clone(&gw));

    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    println!("dcos gateway listening on http://{bound}");
    // Open event streams would hold a graceful shutdown forever: they get
    // DRAIN to finish.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let mut graceful = stop_rx.clone();
    let mut drained = stop_rx;
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let _ = graceful.wait_for(|stop| *stop).await;
    });
    tokio::select! {
        served = std::future::IntoFuture::into_future(server) => served.context("serving")?,
        _ = async {
            let _ = drained.wait_for(|stop| *stop).await;
            tokio::time::sleep(DRAIN).await;
        } => {}
    }
    Ok(())
}

/// How long open connections (event streams) get to finish at shutdown.
pub const DRAIN: Duration = Duration::from_secs(5);

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = ctrl_c.await;
        }
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_files_parse() {
        assert_eq!(
            parse_credentials("uid: admin\npassword: p:w d\n"),
            Some(("admin".into(), "p:w d".into()))
        );
        assert_eq!(parse_credentials("uid: admin\n"), None);
    }

    #[test]
    fn cluster_ids_are_stable_and_uuid_shaped() {
        let a = cluster_id_from_secret("s");
        assert_eq!(a, cluster_id_from_secret("s"));
        assert_ne!(a, cluster_id_from_secret("t"));
        assert_eq!(a.len(), 36);
        assert_eq!(a.matches('-').count(), 4);
    }
}
