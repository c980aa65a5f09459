//! `dcos-packaging`: the cluster's package manager, as DC/OS' Cosmos over
//! Universe repositories was. A package is a versioned, configurable
//! service definition; installing one renders its Marathon template with
//! the user's options and creates the app through Marathon's HTTP API.
//! It never launches anything itself.
//!
//! Pipeline (see README.md): repositories ([`catalog`], in the store) →
//! their content ([`fetch`] → [`universe`]) → options and rendering
//! ([`render`]) → Marathon ([`marathon`]) → the Cosmos API ([`api`],
//! errors in [`error`]).
//!
//! [`run`] serves it as `dcos daemon cosmos`; [`builtin`] is the catalog
//! compiled into the binary.

pub mod api;
pub mod artifacts;
pub mod builtin;
pub mod bundle;
pub mod catalog;
pub mod error;
pub mod fetch;
pub mod marathon;
pub mod mesos;
pub mod render;
pub mod universe;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use crate::catalog::{Catalog, Repository};

/// Flags of `dcos daemon cosmos`.
#[derive(Debug, Clone, Args)]
pub struct CosmosFlags {
    /// Address to serve the Cosmos API on.
    #[arg(long, default_value = "127.0.0.1:7070")]
    pub listen: String,
    /// Marathon (comma-separated URLs; any of them, a standby proxies).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub marathon: String,
    /// The master(s), whose store keeps the repository list.
    #[arg(long, default_value = "http://127.0.0.1:5050")]
    pub master: String,
    /// The store (comma-separated URLs); defaults to the masters.
    #[arg(long)]
    pub store: Option<String>,
    /// Where the built-in catalog is unpacked (and served from as the
    /// first repository, `Universe`, until the list is changed).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// More default repositories, `NAME=URI`, after the built-in one.
    #[arg(long = "repository", value_name = "NAME=URI")]
    pub repositories: Vec<String>,
    /// How agents reach this instance (`http://host:port`), for the
    /// artifact URLs tasks fetch; defaults to `http://<--listen>`.
    #[arg(long)]
    pub advertise: Option<String>,
    /// Seconds a repository's content is cached before it is read again.
    #[arg(long, default_value_t = 30)]
    pub cache_secs: u64,
}

fn split(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The name of the built-in repository.
pub const BUILTIN_NAME: &str = "Universe";

/// Runs the Cosmos API until SIGINT/SIGTERM.
pub async fn run(flags: CosmosFlags) -> anyhow::Result<()> {
    let masters = split(&flags.master);
    let store_urls = flags
        .store
        .as_deref()
        .map(split)
        .unwrap_or_else(|| masters.clone());
    let mut defaults = Vec::new();
    if let Some(dir) = &flags.data_dir {
        let catalog = dir.join("catalog");
        builtin::unpack(&catalog).with_context(|| {
            format!(
                "cannot unpack the built-in catalog into {}",
                catalog.display()
            )
        })?;
        defaults.push(Repository {
            name: BUILTIN_NAME.into(),
            uri: format!("file://{}", catalog.display()),
        });
    }
    for r in &flags.repositories {
        let (name, uri) = r
            .split_once('=')
            .with_context(|| format!("--repository {r:?}: expected NAME=URI"))?;
        defaults.push(Repository {
            name: name.into(),
            uri: uri.into(),
        });
    }
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .build()?;
    let kv: Arc<dyn dcos_store::Kv> = Arc::new(dcos_store::Client::new(store_urls));
    let listener = tokio::net::TcpListener::bind(&flags.listen)
        .await
        .with_context(|| format!("cannot listen on {}", flags.listen))?;
    let local = listener.local_addr()?;
    let advertise = match &flags.advertise {
        Some(a) => a.clone(),
        None if local.ip().is_unspecified() => anyhow::bail!(
            "--listen {} is every address: say which one agents reach with --advertise http://HOST:PORT",
            flags.listen
        ),
        None => format!("http://{local}"),
    };
    // Without a data dir (tests, trials) the blobs live as long as the process.
    let scratch;
    let artifacts_dir = match &flags.data_dir {
        Some(d) => d.join("artifacts"),
        None => {
            scratch = tempfile::tempdir()?;
            scratch.path().join("artifacts")
        }
    };
    let artifacts =
        artifacts::Artifacts::new(artifacts_dir.clone(), kv.clone(), http.clone(), advertise)
            .with_context(|| {
                format!(
                    "cannot create the artifact store in {}",
                    artifacts_dir.display()
                )
            })?;
    let cosmos = Arc::new(api::Cosmos {
        catalog: Catalog::new(
            kv,
            defaults,
            http.clone(),
            Duration::from_secs(flags.cache_secs),
        ),
        marathon: marathon::Marathon::new(split(&flags.marathon), http.clone()),
        artifacts,
        masters,
        http,
    });
    println!("dcos cosmos listening on {local}");
    axum::serve(listener, api::router(cosmos))
        .with_graceful_shutdown(shutdown())
        .await?;
    Ok(())
}

async fn shutdown() {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
