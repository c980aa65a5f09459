//! The fetcher: brings a task's `CommandInfo.uris` into its sandbox before
//! the executor starts, as Mesos' fetcher does: `http(s)://` through
//! reqwest, `file://` and absolute paths by copy; `executable` makes the
//! file executable (and wins over `extract`); `extract` unpacks `.tar`,
//! `.tar.gz`/`.tgz`, `.gz` and `.zip` into the sandbox (the archive stays);
//! `output_file` renames; `cache` keeps a copy under
//! `<work_dir>/fetch_cache`, keyed by the URI, and reuses it.
//!
//! Owns download, copy, cache and extraction; reporting a failure is the
//! agent's (TASK_FAILED, REASON_CONTAINER_LAUNCH_FAILED).

use std::hash::{Hash, Hasher};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use dcos_api::v1::Uri;

/// Errors fetching one URI.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The URI scheme is not one we fetch.
    #[error("unsupported URI '{0}'")]
    Unsupported(String),
    /// The `output_file` or URI names no usable file name.
    #[error("no file name for URI '{0}'")]
    NoFileName(String),
    /// The HTTP request failed or answered an error status.
    #[error("downloading '{uri}': {message}")]
    Http {
        /// The URI.
        uri: String,
        /// What failed.
        message: String,
    },
    /// Reading, writing or extracting failed.
    #[error("'{uri}': {source}")]
    Io {
        /// The URI.
        uri: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Fetches URIs into sandboxes.
#[derive(Debug, Clone)]
pub struct Fetcher {
    cache_dir: PathBuf,
    http: reqwest::Client,
}

impl Fetcher {
    /// A fetcher caching under `cache_dir`.
    pub fn new(cache_dir: PathBuf) -> Self {
        Self {
            cache_dir,
            http: reqwest::Client::new(),
        }
    }

    /// Fetches every URI into `sandbox`, in order; stops at the first failure.
    pub async fn fetch_all(&self, uris: &[Uri], sandbox: &Path) -> Result<(), FetchError> {
        for uri in uris {
            self.fetch(uri, sandbox).await?;
        }
        Ok(())
    }

    async fn fetch(&self, uri: &Uri, sandbox: &Path) -> Result<(), FetchError> {
        let name = file_name(uri)?;
        let dest = sandbox.join(&name);
        let io = |source| FetchError::Io {
            uri: uri.value.clone(),
            source,
        };
        let cached = uri
            .cache()
            .then(|| self.cache_dir.join(cache_key(&uri.value)));
        match &cached {
            Some(c) if c.exists() => {
                tokio::fs::copy(c, &dest).await.map_err(io)?;
            }
            _ => {
                self.download(&uri.value, &dest).await?;
                if let Some(c) = &cached {
                    tokio::fs::create_dir_all(&self.cache_dir)
                        .await
                        .map_err(io)?;
                    let tmp = c.with_extension("tmp");
                    tokio::fs::copy(&dest, &tmp).await.map_err(io)?;
                    tokio::fs::rename(&tmp, c).await.map_err(io)?;
                }
            }
        }
        if uri.executable() {
            std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o755)).map_err(io)?;
        } else if uri.extract() {
            let (dest, sandbox) = (dest.clone(), sandbox.to_owned());
            tokio::task::spawn_blocking(move || extract(&dest, &sandbox))
                .await
                .map_err(|e| io(std::io::Error::other(e)))?
                .map_err(io)?;
        }
        Ok(())
    }

    async fn download(&self, value: &str, dest: &Path) -> Result<(), FetchError> {
        let io = |source| FetchError::Io {
            uri: value.to_owned(),
            source,
        };
        if value.starts_with("http://") || value.starts_with("https://") {
            let http = |e: reqwest::Error| FetchError::Http {
                uri: value.to_owned(),
                message: e.to_string(),
            };
            let resp = self
                .http
                .get(value)
                .send()
                .await
                .map_err(http)?
                .error_for_status()
                .map_err(http)?;
            let body = resp.bytes().await.map_err(http)?;
            tokio::fs::write(dest, &body).await.map_err(io)?;
            Ok(())
        } else if let Some(path) = value
            .strip_prefix("file://")
            .or_else(|| value.starts_with('/').then_some(value))
        {
            tokio::fs::copy(path, dest).await.map_err(io)?;
            Ok(())
        } else {
            Err(FetchError::Unsupported(value.to_owned()))
        }
    }
}

/// The sandbox file name: `output_file`, else the URI's last path segment.
fn file_name(uri: &Uri) -> Result<String, FetchError> {
    let name = match &uri.output_file {
        Some(f) => f.clone(),
        None => {
            let path = uri.value.split(['?', '#']).next().unwrap_or("");
            path.rsplit('/').next().unwrap_or("").to_owned()
        }
    };
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return Err(FetchError::NoFileName(uri.value.clone()));
    }
    Ok(name)
}

fn cache_key(uri: &str) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    uri.hash(&mut h);
    format!("{:016x}", h.finish())
}

/// Unpacks a known archive into `into`; other files are left as they are.
fn extract(archive: &Path, into: &Path) -> std::io::Result<()> {
    let name = archive
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let open = || std::fs::File::open(archive);
    if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        tar::Archive::new(flate2::read::GzDecoder::new(open()?)).unpack(into)
    } else if name.ends_with(".tar") {
        tar::Archive::new(open()?).unpack(into)
    } else if name.ends_with(".zip") {
        let mut zip = zip::ZipArchive::new(open()?).map_err(std::io::Error::other)?;
        zip.extract(into).map_err(std::io::Error::other)
    } else if let Some(stem) = name.strip_suffix(".gz") {
        let mut out = std::fs::File::create(into.join(stem))?;
        std::io::copy(&mut flate2::read::GzDecoder::new(open()?), &mut out)?;
        Ok(())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(value: &str) -> Uri {
        Uri {
            value: value.into(),
            ..Uri::default()
        }
    }

    #[tokio::test]
    async fn copies_extracts_and_marks_executable() {
        let src = tempfile::tempdir().unwrap();
        let sandbox = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        // A tar.gz holding one file.
        let tgz = src.path().join("bundle.tgz");
        {
            let enc = flate2::write::GzEncoder::new(
                std::fs::File::create(&tgz).unwrap(),
                flate2::Compression::fast(),
            );
            let mut b = tar::Builder::new(enc);
            let data = b"inside\n";
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, "inner.txt", &data[..]).unwrap();
            b.into_inner().unwrap().finish().unwrap();
        }
        let script = src.path().join("run.sh");
        std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();

        let f = Fetcher::new(cache.path().join("c"));
        let mut exe = uri(script.to_str().unwrap());
        exe.executable = Some(true);
        let mut renamed = uri(&format!("file://{}", script.display()));
        renamed.output_file = Some("other.sh".into());
        renamed.extract = Some(false);
        renamed.cache = Some(true);
        f.fetch_all(
            &[uri(tgz.to_str().unwrap()), exe, renamed.clone()],
            sandbox.path(),
        )
        .await
        .unwrap();
        let s = sandbox.path();
        assert_eq!(
            std::fs::read_to_string(s.join("inner.txt")).unwrap(),
            "inside\n"
        );
        assert!(s.join("bundle.tgz").exists());
        let mode = std::fs::metadata(s.join("run.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111);
        assert!(s.join("other.sh").exists());
        // Cached: works after the source is gone.
        std::fs::remove_file(&script).unwrap();
        let again = tempfile::tempdir().unwrap();
        f.fetch_all(&[renamed], again.path()).await.unwrap();
        assert!(again.path().join("other.sh").exists());
    }

    #[tokio::test]
    async fn failures_name_the_uri() {
        let sandbox = tempfile::tempdir().unwrap();
        let f = Fetcher::new(sandbox.path().join("cache"));
        let err = f
            .fetch_all(&[uri("/does/not/exist.txt")], sandbox.path())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("/does/not/exist.txt"), "{err}");
        let err = f
            .fetch_all(&[uri("ftp://x/y")], sandbox.path())
            .await
            .unwrap_err();
        assert!(matches!(err, FetchError::Unsupported(_)));
    }
}
