//! `dcos package bundle build|import|list`: packages' artifacts carried
//! to a cluster without a way out. `build` asks the attached cluster what
//! the packages fetch (their `resource.json` via `/package/describe`),
//! downloads it here and writes one bundle file
//! ([`dcos_packaging::bundle`]); `import` uploads a bundle's blobs to the
//! cluster's artifact store in resumable 16 MiB chunks through the
//! gateway, then names each by its URL; `list` shows the store.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::Subcommand;
use futures::StreamExt;
use reqwest::Method;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::client::{Api, ApiError};
use crate::output;
use dcos_packaging::artifacts::{self, BUILTIN_DCOS};
use dcos_packaging::bundle;

/// The size of one upload request.
const CHUNK: u64 = 16 << 20;

#[derive(Debug, Subcommand)]
pub enum BundleCmd {
    /// Downloads the artifacts of PACKAGES (`NAME` or `NAME@VERSION`) and
    /// writes them into one bundle file.
    Build {
        /// Packages whose artifacts go in.
        packages: Vec<String>,
        /// The bundle file to write.
        #[arg(short = 'o', long)]
        output: PathBuf,
        /// An artifact from a local file instead of its URL (URLs that
        /// cannot be downloaded, such as `bundle:…`).
        #[arg(long = "artifact", value_name = "URL=FILE")]
        artifacts: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Uploads a bundle's artifacts into the cluster's artifact store.
    Import {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// The artifacts in the cluster's artifact store.
    List {
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(api: &Api, cmd: BundleCmd) -> anyhow::Result<()> {
    match cmd {
        BundleCmd::Build {
            packages,
            output: out,
            artifacts,
            json,
        } => build(api, &packages, &out, &artifacts, json).await,
        BundleCmd::Import { file, json } => import(api, &file, json).await,
        BundleCmd::List { json } => {
            let v = api.get("/cosmos/artifacts").await?;
            if json {
                return output::json(&v);
            }
            let rows = v["artifacts"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| {
                    vec![
                        a["url"].as_str().unwrap_or("").to_string(),
                        a["sha256"]
                            .as_str()
                            .unwrap_or("")
                            .chars()
                            .take(12)
                            .collect(),
                        human(a["size"].as_u64().unwrap_or(0)),
                        a["holders"].as_array().map_or(0, Vec::len).to_string(),
                    ]
                })
                .collect();
            output::table(&["URL", "SHA256", "SIZE", "HOLDERS"], rows);
            Ok(())
        }
    }
}

fn human(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}

async fn build(
    api: &Api,
    packages: &[String],
    out: &Path,
    given: &[String],
    json_out: bool,
) -> anyhow::Result<()> {
    let mut local: BTreeMap<String, PathBuf> = BTreeMap::new();
    for g in given {
        let (url, file) = g
            .split_once('=')
            .with_context(|| format!("--artifact {g:?}: expected URL=FILE"))?;
        anyhow::ensure!(
            Path::new(file).is_file(),
            "--artifact {url}: {file} is not a file"
        );
        local.insert(url.to_string(), PathBuf::from(file));
    }
    let mut wanted = Vec::new();
    for p in packages {
        let (name, version) = match p.split_once('@') {
            Some((n, v)) => (n, Some(v)),
            None => (p.as_str(), None),
        };
        let v = crate::package::describe_package(api, name, version).await?;
        let found = artifacts::wanted(v["package"].get("resource"))
            .map_err(|e| anyhow::anyhow!("{name}: {}", e.message))?;
        wanted.extend(found.into_iter().filter(|w| w.url != BUILTIN_DCOS));
    }
    let missing: Vec<&str> = wanted
        .iter()
        .filter(|w| {
            !local.contains_key(&w.url)
                && !w.url.starts_with("http://")
                && !w.url.starts_with("https://")
                && !w.url.starts_with("file://")
        })
        .map(|w| w.url.as_str())
        .collect();
    anyhow::ensure!(
        missing.is_empty(),
        "these artifacts cannot be downloaded; give each as --artifact URL=FILE: {}",
        missing.join(", ")
    );
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let work = tempfile::tempdir_in(parent)
        .with_context(|| format!("cannot write in {}", parent.display()))?;
    let progress = dcos_installer::progress::Progress::new(json_out);
    for (i, w) in wanted.iter().enumerate() {
        if local.contains_key(&w.url) {
            continue;
        }
        let file = if let Some(path) = w.url.strip_prefix("file://") {
            PathBuf::from(path)
        } else {
            let dest = work.path().join(format!("{i}"));
            let step = progress.begin(format!("downloading {}", w.url));
            let started = Instant::now();
            let size = match download(&w.url, &dest).await {
                Ok(s) => s,
                Err(e) => {
                    step.fail("failed");
                    return Err(e);
                }
            };
            step.done(&format!(
                "{} in {:.1} s",
                human(size),
                started.elapsed().as_secs_f64()
            ));
            dest
        };
        if let Some(expected) = &w.sha256 {
            let f = file.clone();
            let (actual, _) = tokio::task::spawn_blocking(move || bundle::hash_file(&f)).await??;
            anyhow::ensure!(
                &actual == expected,
                "{} has sha256 {actual}, but its package's resource.json says {expected}: not bundled",
                w.url
            );
        }
        local.insert(w.url.clone(), file);
    }
    for w in &wanted {
        if let (Some(expected), Some(path)) = (&w.sha256, local.get(&w.url)) {
            let path = path.clone();
            let (actual, _) =
                tokio::task::spawn_blocking(move || bundle::hash_file(&path)).await??;
            anyhow::ensure!(
                &actual == expected,
                "{} has sha256 {actual}, but its package's resource.json says {expected}: not bundled",
                w.url
            );
        }
    }
    let step = progress.begin(format!("writing {}", out.display()));
    let (out_path, files) = (out.to_path_buf(), local.clone());
    let manifest = tokio::task::spawn_blocking(move || bundle::write(&out_path, &files)).await??;
    let total: u64 = manifest.artifacts.iter().map(|a| a.size).sum();
    step.done(&format!(
        "{} artifacts, {}",
        manifest.artifacts.len(),
        human(total)
    ));
    if json_out {
        return output::json(&json!(manifest));
    }
    Ok(())
}

async fn download(url: &str, dest: &Path) -> anyhow::Result<u64> {
    let resp = reqwest::get(url)
        .await
        .with_context(|| format!("cannot download {url}"))?;
    anyhow::ensure!(
        resp.status().is_success(),
        "downloading {url} answered {}",
        resp.status()
    );
    let mut f = tokio::fs::File::create(dest).await?;
    let mut size = 0u64;
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.with_context(|| format!("the download of {url} broke off"))?;
        size += chunk.len() as u64;
        f.write_all(&chunk).await?;
    }
    f.flush().await?;
    Ok(size)
}

async fn import(api: &Api, file: &Path, json_out: bool) -> anyhow::Result<()> {
    let path = file.to_path_buf();
    let (manifest, located) = tokio::task::spawn_blocking(move || bundle::index(&path)).await??;
    let progress = dcos_installer::progress::Progress::new(json_out);
    let api = api.with_timeout(std::time::Duration::from_secs(300));
    for blob in &located {
        let names: Vec<&str> = manifest
            .artifacts
            .iter()
            .filter(|a| a.sha256 == blob.sha256)
            .map(|a| a.url.as_str())
            .collect();
        let label = names
            .first()
            .map_or_else(|| blob.sha256.clone(), |n| artifacts::file_name(n));
        let step = progress.begin(format!("uploading {label} ({})", human(blob.size)));
        match upload(&api, file, blob).await {
            Ok(()) => step.done("in the cluster"),
            Err(e) => {
                step.fail("failed");
                return Err(e);
            }
        }
    }
    let mut added = Vec::new();
    for a in &manifest.artifacts {
        let body = serde_json::to_vec(&json!({"url": a.url, "sha256": a.sha256}))?;
        let (status, v) = api
            .exchange(
                Method::POST,
                "/cosmos/artifacts/add",
                body,
                "application/json",
            )
            .await?;
        anyhow::ensure!(
            status == 200,
            "naming {} failed: {}",
            a.url,
            v["message"].as_str().unwrap_or(&v.to_string())
        );
        added.push(v);
    }
    if json_out {
        return output::json(&json!({ "artifacts": added }));
    }
    println!(
        "Imported {} artifacts from {}",
        manifest.artifacts.len(),
        file.display()
    );
    Ok(())
}

/// Uploads one blob, resuming wherever the cluster says the upload stands.
async fn upload(api: &Api, file: &Path, blob: &bundle::Located) -> anyhow::Result<()> {
    let mut offset = 0u64;
    let mut conflicts = 0;
    loop {
        let len = CHUNK.min(blob.size - offset) as usize;
        let (f, at) = (file.to_path_buf(), blob.offset + offset);
        let chunk = tokio::task::spawn_blocking(move || bundle::read_at(&f, at, len)).await??;
        if offset == 0 && len as u64 == blob.size {
            // A blob of one chunk: check it here (a damaged file says so
            // before it is sent).
            let actual = format!("{:x}", Sha256::digest(&chunk));
            anyhow::ensure!(
                actual == blob.sha256,
                "{} is damaged: blob {} has sha256 {actual}",
                file.display(),
                blob.sha256
            );
        }
        let path = format!(
            "/cosmos/artifacts/uploads/{}?offset={offset}&total={}",
            blob.sha256, blob.size
        );
        let (status, v) = api
            .exchange(Method::PUT, &path, chunk, "application/octet-stream")
            .await
            .map_err(|e: ApiError| anyhow::anyhow!(e))?;
        match status {
            200 if v["complete"] == json!(true) => return Ok(()),
            200 => offset = v["offset"].as_u64().unwrap_or(offset + len as u64),
            409 if conflicts < 3 => {
                conflicts += 1;
                offset = v["data"]["offset"].as_u64().unwrap_or(0);
            }
            _ => anyhow::bail!(
                "uploading blob {} failed ({status}): {}",
                blob.sha256,
                v["message"].as_str().unwrap_or(&v.to_string())
            ),
        }
    }
}
