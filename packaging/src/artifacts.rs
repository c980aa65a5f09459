//! The cluster's artifact store: the files packages' tasks fetch at start
//! (`resource.json` `assets.uris`), kept by their sha256 in a blob
//! directory of the masters and served over HTTP to the agents' fetchers,
//! so a package's software reaches agents from inside the cluster.
//!
//! - An artifact is named by the URL `resource.json` gives; its record in
//!   the store (`/cosmos/artifacts/<key>`, key = the first 32 hex digits
//!   of sha256(URL)) says which content (sha256, size) that URL stands
//!   for and which Cosmos instances hold the blob.
//! - It comes in once: at install, from its URL when the cluster has a way
//!   out (`http(s)://`, `file://`; `builtin:dcos` is this cluster's own
//!   binary), or before that from an offline bundle (`dcos package bundle
//!   import`: chunked uploads, then a record per URL). Where
//!   `assets.contentHash` gives a sha256 it must match, whichever way the
//!   content came.
//! - Rendering points the template's `resource.assets.uris` at this
//!   store: `<advertise>/artifacts/<key>/<file name>` (the fetcher keeps
//!   the file name). A Cosmos asked for a blob it lacks copies it from a
//!   holder first.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::error::CosmosError;

/// Where the records live in the store.
pub const PREFIX: &str = "/cosmos/artifacts/";
/// The URL naming this cluster's own `dcos` binary.
pub const BUILTIN_DCOS: &str = "builtin:dcos";
/// The largest artifact accepted (4 GiB).
pub const MAX_SIZE: u64 = 4 << 30;

/// What a URL stands for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The URL `resource.json` names.
    pub url: String,
    /// The content's sha256 (lowercase hex).
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
    /// Cosmos instances (`http://host:port`) holding the blob.
    #[serde(default)]
    pub holders: Vec<String>,
}

/// One artifact a package's `resource.json` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// Its name in `assets.uris`.
    pub name: String,
    /// Its URL there.
    pub url: String,
    /// The sha256 `assets.contentHash` gives, if any.
    pub sha256: Option<String>,
}

/// The store key of a URL's record.
pub fn key(url: &str) -> String {
    let hex = format!("{:x}", Sha256::digest(url.as_bytes()));
    hex[..32].to_string()
}

/// The file name a URL's artifact is served (and fetched) as: its last
/// path segment, reduced to characters safe in a path.
pub fn file_name(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let last = path
        .rsplit(['/', ':'])
        .find(|s| !s.is_empty())
        .unwrap_or("artifact");
    let safe: String = last
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._+~-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    match safe.trim_start_matches('.') {
        "" => "artifact".into(),
        s => s.to_string(),
    }
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// The artifacts a package's resource asks for (`assets.uris`), with the
/// sha256 `assets.contentHash.<name>` gives.
pub fn wanted(resource: Option<&Value>) -> Result<Vec<Wanted>, CosmosError> {
    let Some(assets) = resource.and_then(|r| r.get("assets")) else {
        return Ok(Vec::new());
    };
    let hashes = assets.get("contentHash").and_then(Value::as_object);
    let mut out = Vec::new();
    for (name, url) in assets
        .get("uris")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let Some(url) = url.as_str() else {
            return Err(CosmosError::bad(
                "InvalidResource",
                format!("resource.json assets.uris.{name} must be a string URL"),
                None,
            ));
        };
        let sha256 = match hashes.and_then(|h| h.get(name)) {
            None => None,
            Some(list) => {
                let found = list.as_array().and_then(|l| {
                    l.iter()
                        .find(|h| h.get("algo").and_then(Value::as_str) == Some("sha256"))
                });
                let value = found.and_then(|h| h.get("value")).and_then(Value::as_str);
                match value {
                    Some(v) if is_hex64(&v.to_ascii_lowercase()) => Some(v.to_ascii_lowercase()),
                    _ => {
                        return Err(CosmosError::bad(
                            "InvalidResource",
                            format!(
                                "resource.json assets.contentHash.{name} must be a list holding {{\"algo\": \"sha256\", \"value\": <64 hex digits>}}"
                            ),
                            None,
                        ))
                    }
                }
            }
        };
        out.push(Wanted {
            name: name.clone(),
            url: url.to_string(),
            sha256,
        });
    }
    Ok(out)
}

/// The artifact store of one Cosmos instance.
pub struct Artifacts {
    /// `blobs/<sha256>`, `tmp/`, `uploads/`.
    root: PathBuf,
    kv: Arc<dyn dcos_store::Kv>,
    http: reqwest::Client,
    /// How agents reach this instance (`http://host:port`).
    advertise: String,
    /// One download per URL at a time.
    busy: tokio::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Artifacts {
    /// A store under `root`, reached by agents at `advertise`.
    pub fn new(
        root: PathBuf,
        kv: Arc<dyn dcos_store::Kv>,
        http: reqwest::Client,
        advertise: String,
    ) -> std::io::Result<Self> {
        for d in ["blobs", "tmp", "uploads"] {
            std::fs::create_dir_all(root.join(d))?;
        }
        Ok(Artifacts {
            root,
            kv,
            http,
            advertise: advertise.trim_end_matches('/').to_string(),
            busy: Default::default(),
        })
    }

    fn blob(&self, sha256: &str) -> PathBuf {
        self.root.join("blobs").join(sha256)
    }

    /// The URL agents fetch `url`'s artifact from.
    pub fn link(&self, url: &str) -> String {
        format!(
            "{}/artifacts/{}/{}",
            self.advertise,
            key(url),
            file_name(url)
        )
    }

    /// `resource` with its `assets.uris` pointing at this store (what
    /// templates render).
    pub fn localize(&self, resource: Option<&Value>) -> Option<Value> {
        let mut r = resource?.clone();
        if let Some(uris) = r
            .get_mut("assets")
            .and_then(|a| a.get_mut("uris"))
            .and_then(Value::as_object_mut)
        {
            for v in uris.values_mut() {
                if let Some(url) = v.as_str() {
                    *v = Value::String(self.link(url));
                }
            }
        }
        Some(r)
    }

    async fn record(&self, url: &str) -> Result<Option<(Record, u64)>, CosmosError> {
        let found = self
            .kv
            .get(&format!("{PREFIX}{}", key(url)))
            .await
            .map_err(store_error)?;
        match found {
            None => Ok(None),
            Some(kv) => {
                let r: Record = serde_json::from_slice(&kv.value).map_err(|e| {
                    CosmosError::bad(
                        "ArtifactRecordCorrupt",
                        format!("the artifact record of {url} cannot be read: {e}"),
                        None,
                    )
                    .with_status(StatusCode::INTERNAL_SERVER_ERROR)
                })?;
                Ok(Some((r, kv.mod_revision)))
            }
        }
    }

    /// Every record (for `dcos package bundle list`).
    pub async fn list(&self) -> Result<Vec<Record>, CosmosError> {
        let resp = self
            .kv
            .range(dcos_store::types::RangeRequest {
                key: PREFIX.into(),
                prefix: true,
                ..Default::default()
            })
            .await
            .map_err(store_error)?;
        Ok(resp
            .kvs
            .iter()
            .filter_map(|kv| serde_json::from_slice(&kv.value).ok())
            .collect())
    }

    /// Writes (or extends the holders of) `url`'s record, saying this
    /// instance holds `sha256`. A URL already standing for other content
    /// is refused: the content of a name never changes.
    pub async fn remember(
        &self,
        url: &str,
        sha256: &str,
        size: u64,
    ) -> Result<Record, CosmosError> {
        loop {
            let (mut record, revision) = match self.record(url).await? {
                Some((r, rev)) => (r, rev),
                None => (
                    Record {
                        url: url.to_string(),
                        sha256: sha256.to_string(),
                        size,
                        holders: Vec::new(),
                    },
                    0,
                ),
            };
            if record.sha256 != sha256 {
                return Err(mismatch(
                    url,
                    &record.sha256,
                    sha256,
                    "the artifact store already holds",
                ));
            }
            if record.holders.contains(&self.advertise) && revision != 0 {
                return Ok(record);
            }
            record.holders.push(self.advertise.clone());
            let put = self
                .kv
                .put(dcos_store::types::PutRequest {
                    key: format!("{PREFIX}{}", key(url)),
                    value: serde_json::to_vec(&record).unwrap_or_default(),
                    lease: None,
                    expect_mod_revision: Some(revision),
                })
                .await;
            match put {
                Ok(_) => return Ok(record),
                Err(dcos_store::KvError::CasFailed { .. }) => continue,
                Err(e) => return Err(store_error(e)),
            }
        }
    }

    /// Makes sure every artifact of `resource` that the rendered `app`
    /// uses (its link appears in it) is in the store with the content its
    /// contentHash names, bringing in those that are not (from their URL).
    /// Nothing is installed before this succeeded.
    pub async fn ensure(
        &self,
        resource: Option<&Value>,
        app: &Map<String, Value>,
    ) -> Result<Vec<Record>, CosmosError> {
        let text = serde_json::to_string(app).unwrap_or_default();
        let wanted: Vec<Wanted> = wanted(resource)?
            .into_iter()
            .filter(|w| text.contains(&self.link(&w.url)))
            .collect();
        // At most four at a time, in order.
        let mut out = Vec::with_capacity(wanted.len());
        for batch in wanted.chunks(4) {
            let done = futures::future::join_all(batch.iter().map(|w| self.ensure_one(w))).await;
            for r in done {
                out.push(r?);
            }
        }
        Ok(out)
    }

    async fn ensure_one(&self, w: &Wanted) -> Result<Record, CosmosError> {
        let lock = {
            let mut busy = self.busy.lock().await;
            busy.entry(w.url.clone()).or_default().clone()
        };
        let _held = lock.lock().await;
        if let Some((r, _)) = self.record(&w.url).await? {
            if let Some(expected) = &w.sha256 {
                if &r.sha256 != expected {
                    return Err(mismatch(
                        &w.url,
                        expected,
                        &r.sha256,
                        "resource.json asks for",
                    ));
                }
            }
            return Ok(r);
        }
        let (sha256, size) = self.bring_in(&w.url, w.sha256.as_deref()).await?;
        self.remember(&w.url, &sha256, size).await
    }

    /// Copies `url`'s content into a blob, checking `expected`.
    async fn bring_in(
        &self,
        url: &str,
        expected: Option<&str>,
    ) -> Result<(String, u64), CosmosError> {
        let tmp = tempfile::NamedTempFile::new_in(self.root.join("tmp")).map_err(io_error)?;
        let (sha256, size) = if url == BUILTIN_DCOS {
            let exe = std::env::current_exe().map_err(io_error)?;
            copy_hashing(&exe, tmp.path()).await?
        } else if let Some(path) = url.strip_prefix("file://") {
            copy_hashing(Path::new(path), tmp.path())
                .await
                .map_err(|e| unavailable(url, &format!("cannot read {path}: {}", e.message)))?
        } else if url.starts_with("http://") || url.starts_with("https://") {
            tracing::info!(%url, "bringing an artifact into the cluster");
            self.download(url, tmp.path()).await?
        } else {
            return Err(unavailable(
                url,
                "it has no location the cluster can read; import a bundle that holds it",
            ));
        };
        if let Some(e) = expected {
            if e != sha256 {
                return Err(mismatch(url, e, &sha256, "resource.json asks for"));
            }
        }
        tmp.persist(self.blob(&sha256))
            .map_err(|e| io_error(e.error))?;
        Ok((sha256, size))
    }

    async fn download(&self, url: &str, into: &Path) -> Result<(String, u64), CosmosError> {
        let resp = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| unavailable(url, &format!("cannot download it: {e}")))?;
        if !resp.status().is_success() {
            return Err(unavailable(
                url,
                &format!("downloading it answered {}", resp.status()),
            ));
        }
        let mut file = tokio::fs::File::create(into).await.map_err(io_error)?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut body = resp.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk =
                chunk.map_err(|e| unavailable(url, &format!("the download broke off: {e}")))?;
            size += chunk.len() as u64;
            if size > MAX_SIZE {
                return Err(unavailable(url, "it is larger than 4 GiB"));
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await.map_err(io_error)?;
        }
        file.sync_all().await.map_err(io_error)?;
        Ok((format!("{:x}", hasher.finalize()), size))
    }

    /// `GET /artifacts/<key>/<name>`: the blob, copied from a holder first
    /// when this instance lacks it.
    pub async fn serve(&self, key_hex: &str) -> Response {
        let record = match self.kv.get(&format!("{PREFIX}{key_hex}")).await {
            Ok(Some(kv)) => serde_json::from_slice::<Record>(&kv.value).ok(),
            Ok(None) => None,
            Err(e) => return store_error(e).into_response(),
        };
        let Some(record) = record else {
            return CosmosError::bad(
                "ArtifactNotFound",
                format!("no artifact {key_hex} in the cluster's artifact store"),
                None,
            )
            .with_status(StatusCode::NOT_FOUND)
            .into_response();
        };
        if !is_hex64(&record.sha256) {
            // A record written by hand or by an older version: never a path.
            return CosmosError::bad(
                "ArtifactRecordCorrupt",
                format!("the record of artifact {key_hex} names no sha256"),
                None,
            )
            .with_status(StatusCode::INTERNAL_SERVER_ERROR)
            .into_response();
        }
        let path = self.blob(&record.sha256);
        if !path.exists() {
            if let Err(e) = self.copy_from_holders(&record).await {
                return e.into_response();
            }
        }
        match tokio::fs::File::open(&path).await {
            Ok(f) => (
                [
                    (header::CONTENT_TYPE, "application/octet-stream".to_string()),
                    (header::CONTENT_LENGTH, record.size.to_string()),
                    (header::ETAG, format!("\"sha256:{}\"", record.sha256)),
                ],
                Body::from_stream(tokio_util::io::ReaderStream::with_capacity(f, 256 * 1024)),
            )
                .into_response(),
            Err(e) => io_error(e).into_response(),
        }
    }

    async fn copy_from_holders(&self, record: &Record) -> Result<(), CosmosError> {
        let mut last = String::from("no instance holds it");
        for holder in record.holders.iter().filter(|h| **h != self.advertise) {
            let url = format!(
                "{holder}/artifacts/{}/{}",
                key(&record.url),
                file_name(&record.url)
            );
            let tmp = tempfile::NamedTempFile::new_in(self.root.join("tmp")).map_err(io_error)?;
            match self.download(&url, tmp.path()).await {
                Ok((sha, _)) if sha == record.sha256 => {
                    tmp.persist(self.blob(&sha))
                        .map_err(|e| io_error(e.error))?;
                    self.remember(&record.url, &sha, record.size).await?;
                    return Ok(());
                }
                Ok((sha, _)) => last = format!("{holder} sent content with sha256 {sha}"),
                Err(e) => last = e.message,
            }
        }
        Err(CosmosError::bad(
            "ArtifactUnavailable",
            format!(
                "the artifact {} is not on this master and could not be copied: {last}",
                record.url
            ),
            None,
        )
        .with_status(StatusCode::SERVICE_UNAVAILABLE))
    }

    /// `PUT /cosmos/artifacts/uploads/<sha256>?offset=N&total=T`: one
    /// chunk of a blob. The chunk must start where the upload stands (else
    /// 409 with the offset to resume from); the last one completes it,
    /// and its sha256 must be the name.
    pub async fn upload(
        &self,
        sha256: &str,
        offset: u64,
        total: u64,
        chunk: &[u8],
    ) -> Result<Value, CosmosError> {
        if !is_hex64(sha256) {
            return Err(CosmosError::bad(
                "InvalidUpload",
                "an upload is named by its sha256 (64 lowercase hex digits)",
                None,
            ));
        }
        if total > MAX_SIZE {
            return Err(CosmosError::bad(
                "InvalidUpload",
                "an artifact is at most 4 GiB",
                None,
            ));
        }
        if self.blob(sha256).exists() {
            return Ok(json!({"sha256": sha256, "offset": total, "complete": true}));
        }
        let part = self.root.join("uploads").join(sha256);
        let have = tokio::fs::metadata(&part)
            .await
            .map(|m| m.len())
            .unwrap_or(0);
        if offset != have || offset + chunk.len() as u64 > total {
            return Err(CosmosError::bad(
                "UploadOffsetMismatch",
                format!("the upload of {sha256} stands at byte {have} of {total}; send from there"),
                Some(json!({"offset": have})),
            )
            .with_status(StatusCode::CONFLICT));
        }
        let mut f = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&part)
            .await
            .map_err(io_error)?;
        f.write_all(chunk).await.map_err(io_error)?;
        f.sync_all().await.map_err(io_error)?;
        let now = offset + chunk.len() as u64;
        if now < total {
            return Ok(json!({"sha256": sha256, "offset": now, "complete": false}));
        }
        let tmp = self.root.join("tmp").join(format!("{sha256}.check"));
        let (actual, _) = copy_hashing(&part, &tmp).await?;
        let _ = tokio::fs::remove_file(&part).await;
        if actual != sha256 {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(mismatch(
                "the uploaded file",
                sha256,
                &actual,
                "the upload was named",
            ));
        }
        tokio::fs::rename(&tmp, self.blob(sha256))
            .await
            .map_err(io_error)?;
        Ok(json!({"sha256": sha256, "offset": total, "complete": true}))
    }

    /// `POST /cosmos/artifacts/add {url, sha256}`: names an uploaded blob
    /// by the URL packages use for it.
    pub async fn add(&self, url: &str, sha256: &str) -> Result<Record, CosmosError> {
        if !is_hex64(sha256) {
            return Err(CosmosError::bad(
                "InvalidUpload",
                "an artifact is named by its sha256 (64 lowercase hex digits)",
                None,
            ));
        }
        if url == BUILTIN_DCOS || url.trim().is_empty() {
            return Err(CosmosError::bad(
                "InvalidUpload",
                format!("{url:?} cannot be named by an upload: builtin:dcos is always this cluster's own binary"),
                None,
            ));
        }
        let meta = tokio::fs::metadata(self.blob(sha256)).await.map_err(|_| {
            CosmosError::bad(
                "ArtifactNotUploaded",
                format!("no blob {sha256} was uploaded to this instance; upload it first"),
                None,
            )
        })?;
        self.remember(url, sha256, meta.len()).await
    }
}

async fn copy_hashing(from: &Path, to: &Path) -> Result<(String, u64), CosmosError> {
    let (from, to) = (from.to_path_buf(), to.to_path_buf());
    tokio::task::spawn_blocking(move || -> std::io::Result<(String, u64)> {
        use std::io::{Read, Write};
        let mut src = std::fs::File::open(&from)?;
        let mut dst = std::fs::File::create(&to)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut size = 0u64;
        loop {
            let n = src.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            dst.write_all(&buf[..n])?;
            size += n as u64;
        }
        dst.sync_all()?;
        Ok((format!("{:x}", hasher.finalize()), size))
    })
    .await
    .map_err(|e| io_error(std::io::Error::other(e)))?
    .map_err(io_error)
}

fn mismatch(url: &str, expected: &str, actual: &str, what: &str) -> CosmosError {
    CosmosError::bad(
        "ArtifactHashMismatch",
        format!("the artifact {url} has sha256 {actual}, but {what} {expected}"),
        Some(json!({"url": url, "expected": expected, "actual": actual})),
    )
}

fn unavailable(url: &str, why: &str) -> CosmosError {
    CosmosError::bad(
        "ArtifactUnavailable",
        format!(
            "the artifact {url} is not in the cluster's artifact store and {why}; on a cluster without a way out, build a bundle elsewhere (`dcos package bundle build`) and import it (`dcos package bundle import FILE`)"
        ),
        Some(json!({"url": url})),
    )
    .with_status(StatusCode::BAD_GATEWAY)
}

fn io_error(e: std::io::Error) -> CosmosError {
    CosmosError::bad(
        "ArtifactStoreError",
        format!("the artifact store failed: {e}"),
        None,
    )
    .with_status(StatusCode::INTERNAL_SERVER_ERROR)
}

fn store_error(e: dcos_store::KvError) -> CosmosError {
    CosmosError::bad("StoreUnavailable", format!("the store failed: {e}"), None)
        .with_status(StatusCode::SERVICE_UNAVAILABLE)
}

/// `{"artifacts": [...]}` for the list call.
pub fn list_body(records: &[Record]) -> Value {
    let mut out = Map::new();
    out.insert(
        "artifacts".into(),
        Value::Array(records.iter().map(|r| json!(r)).collect()),
    );
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(dir: &Path) -> Artifacts {
        Artifacts::new(
            dir.to_path_buf(),
            Arc::new(dcos_store::MemStore::new()),
            reqwest::Client::new(),
            "http://10.0.0.1:7070".into(),
        )
        .unwrap()
    }

    #[test]
    fn file_names_keep_debian_names_and_drop_unsafe_characters() {
        assert_eq!(
            file_name("http://deb.debian.org/debian/pool/main/r/redis/redis-server_7.0.15-1~deb12u10_amd64.deb"),
            "redis-server_7.0.15-1~deb12u10_amd64.deb"
        );
        assert_eq!(file_name("bundle:tansu-0.6.0.tar.gz"), "tansu-0.6.0.tar.gz");
        assert_eq!(file_name("builtin:dcos"), "dcos");
        assert_eq!(file_name("http://x/a%20b?x=1"), "a_20b");
        assert_eq!(file_name("http://x/.."), "artifact");
    }

    #[test]
    fn wanted_reads_uris_and_sha256_and_refuses_bad_hashes() {
        let sha = "ab".repeat(32);
        let r = json!({"assets": {"uris": {"a": "http://x/a.deb", "b": "bundle:b"},
            "contentHash": {"a": [{"algo": "sha256", "value": sha}]}}});
        let w = wanted(Some(&r)).unwrap();
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].sha256.as_deref(), Some(sha.as_str()));
        assert_eq!(w[1].sha256, None);
        let bad = json!({"assets": {"uris": {"a": "http://x/a"}, "contentHash": {"a": [{"algo": "sha256", "value": "xyz"}]}}});
        assert_eq!(wanted(Some(&bad)).unwrap_err().kind, "InvalidResource");
    }

    #[tokio::test]
    async fn a_file_comes_in_once_and_a_wrong_hash_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let a = store(&dir.path().join("store"));
        let src = dir.path().join("thing.tar.gz");
        std::fs::write(&src, b"hello").unwrap();
        let sha = format!("{:x}", Sha256::digest(b"hello"));
        let url = format!("file://{}", src.display());
        let wrong = json!({"assets": {"uris": {"t": url}, "contentHash": {"t": [{"algo": "sha256", "value": "0".repeat(64)}]}}});
        let uses = |r: &Value| {
            let mut app = Map::new();
            app.insert(
                "fetch".into(),
                json!([{"uri": a.localize(Some(r)).unwrap()["assets"]["uris"]}]),
            );
            app
        };
        let e = a.ensure(Some(&wrong), &uses(&wrong)).await.unwrap_err();
        assert_eq!(e.kind, "ArtifactHashMismatch");
        assert!(a.list().await.unwrap().is_empty(), "nothing recorded");
        let right = json!({"assets": {"uris": {"t": url}, "contentHash": {"t": [{"algo": "sha256", "value": sha}]}}});
        let got = a.ensure(Some(&right), &uses(&right)).await.unwrap();
        assert_eq!(got[0].sha256, sha);
        assert_eq!(got[0].holders, vec!["http://10.0.0.1:7070".to_string()]);
        // The source may go away now: the store has it.
        std::fs::remove_file(&src).unwrap();
        a.ensure(Some(&right), &uses(&right)).await.unwrap();
        // An asset the app does not use is not brought in.
        let unused = json!({"assets": {"uris": {"x": "bundle:never"}}});
        assert!(a
            .ensure(Some(&unused), &Map::new())
            .await
            .unwrap()
            .is_empty());
        let local = a.localize(Some(&right)).unwrap();
        assert_eq!(
            local["assets"]["uris"]["t"],
            format!("http://10.0.0.1:7070/artifacts/{}/thing.tar.gz", key(&url))
        );
        // A bundle-only URL that nobody imported says what to do.
        let missing = json!({"assets": {"uris": {"b": "bundle:b.tar"}}});
        let e = a.ensure(Some(&missing), &uses(&missing)).await.unwrap_err();
        assert_eq!(e.kind, "ArtifactUnavailable");
        assert!(
            e.message.contains("dcos package bundle import"),
            "{}",
            e.message
        );
    }

    #[tokio::test]
    async fn chunked_uploads_resume_and_check_their_name() {
        let dir = tempfile::tempdir().unwrap();
        let a = store(dir.path());
        // A name that is not a sha256 never becomes a path.
        for bad in ["../../etc/passwd", "", "ABC"] {
            assert_eq!(
                a.add("bundle:x", bad).await.unwrap_err().kind,
                "InvalidUpload"
            );
        }
        let data = b"0123456789";
        let sha = format!("{:x}", Sha256::digest(data));
        let r = a.upload(&sha, 0, 10, &data[..4]).await.unwrap();
        assert_eq!(r["offset"], 4);
        let e = a.upload(&sha, 0, 10, &data[..4]).await.unwrap_err();
        assert_eq!(
            (e.status, e.data.clone()),
            (StatusCode::CONFLICT, Some(json!({"offset": 4})))
        );
        let r = a.upload(&sha, 4, 10, &data[4..]).await.unwrap();
        assert_eq!(r["complete"], true);
        assert_eq!(
            a.add(BUILTIN_DCOS, &sha).await.unwrap_err().kind,
            "InvalidUpload"
        );
        let rec = a.add("bundle:digits", &sha).await.unwrap();
        assert_eq!(rec.size, 10);
        // Another content under the same URL is refused.
        let other = format!("{:x}", Sha256::digest(b"x"));
        a.upload(&other, 0, 1, b"x").await.unwrap();
        assert_eq!(
            a.add("bundle:digits", &other).await.unwrap_err().kind,
            "ArtifactHashMismatch"
        );
        // A lying name is refused and leaves no blob.
        let liar = "1".repeat(64);
        let e = a.upload(&liar, 0, 3, b"abc").await.unwrap_err();
        assert_eq!(e.kind, "ArtifactHashMismatch");
        assert!(!a.blob(&liar).exists());
    }

    #[tokio::test]
    async fn a_record_whose_sha256_is_a_path_is_never_served() {
        let dir = tempfile::tempdir().unwrap();
        let a = store(dir.path());
        std::fs::write(dir.path().join("secret"), b"do not serve").unwrap();
        let forged = Record {
            url: "bundle:forged".into(),
            sha256: "../secret".into(),
            size: 12,
            holders: vec![],
        };
        a.kv.put(dcos_store::types::PutRequest {
            key: format!("{PREFIX}{}", key("bundle:forged")),
            value: serde_json::to_vec(&forged).unwrap(),
            ..Default::default()
        })
        .await
        .unwrap();
        let resp = a.serve(&key("bundle:forged")).await;
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
