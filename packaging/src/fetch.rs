//! Where a repository comes from: a local folder or file (a plain path
//! or `file://`), or an `http(s)://` URL; each holding either the source
//! layout (a folder, or a zip archive of one) or the index JSON.
//!
//! Owns reading and recognising a repository's bytes; the format itself
//! is [`crate::universe`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::universe::{self, FormatError, Index};

/// The largest repository body read (index JSON or zip).
pub const MAX_REPOSITORY_BYTES: usize = 256 << 20;

/// What an HTTP repository is asked for: the index content types Cosmos
/// asked for, newest first, then a plain JSON or zip body.
pub const ACCEPT: &str = "application/vnd.dcos.universe.repo+json;charset=utf-8;version=v5,\
application/vnd.dcos.universe.repo+json;charset=utf-8;version=v4;q=0.9,\
application/vnd.dcos.universe.repo+json;charset=utf-8;version=v3;q=0.8,\
application/json;q=0.5,application/zip;q=0.4";

/// Why a repository could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FetchError {
    /// The URI is not one this catalog reads.
    #[error("repository URI {uri:?} is not supported: {why}")]
    Unsupported {
        /// The URI.
        uri: String,
        /// Why.
        why: String,
    },
    /// It could not be reached or read.
    #[error("could not read repository {uri}: {cause}")]
    Connection {
        /// The URI.
        uri: String,
        /// The cause.
        cause: String,
    },
    /// What it holds is not a repository.
    #[error("repository {uri} is not a valid Universe repository: {cause}")]
    Format {
        /// The URI.
        uri: String,
        /// The cause.
        cause: FormatError,
    },
}

/// The kind of location a URI names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A local path.
    File(PathBuf),
    /// An HTTP(S) URL.
    Http(String),
}

/// Classifies a repository URI.
pub fn location(uri: &str) -> Result<Location, FetchError> {
    let unsupported = |why: &str| FetchError::Unsupported {
        uri: uri.to_string(),
        why: why.to_string(),
    };
    if let Some(path) = uri.strip_prefix("file://") {
        if !path.starts_with('/') {
            return Err(unsupported(
                "a file:// URI needs an absolute path (file:///srv/universe)",
            ));
        }
        return Ok(Location::File(PathBuf::from(path)));
    }
    if uri.starts_with("http://") || uri.starts_with("https://") {
        return reqwest::Url::parse(uri)
            .map(|_| Location::Http(uri.to_string()))
            .map_err(|e| unsupported(&e.to_string()));
    }
    if uri.starts_with('/') {
        return Ok(Location::File(PathBuf::from(uri)));
    }
    Err(unsupported(
        "use an http(s):// URL, a file:// URI or an absolute path",
    ))
}

/// Reads the repository at `uri`.
pub async fn load(uri: &str, http: &reqwest::Client) -> Result<Index, FetchError> {
    let format = |cause: FormatError| FetchError::Format {
        uri: uri.to_string(),
        cause,
    };
    let connection = |cause: String| FetchError::Connection {
        uri: uri.to_string(),
        cause,
    };
    match location(uri)? {
        Location::File(path) => {
            let owned = uri.to_string();
            tokio::task::spawn_blocking(move || load_path(&owned, &path))
                .await
                .map_err(|e| connection(e.to_string()))?
        }
        Location::Http(url) => {
            let resp = http
                .get(&url)
                .header(reqwest::header::ACCEPT, ACCEPT)
                .timeout(Duration::from_secs(60))
                .send()
                .await
                .map_err(|e| connection(error_chain(&e)))?;
            let status = resp.status();
            if !status.is_success() {
                return Err(connection(format!("GET {url} answered {status}")));
            }
            if resp
                .content_length()
                .is_some_and(|n| n as usize > MAX_REPOSITORY_BYTES)
            {
                return Err(connection(format!(
                    "the body is larger than {MAX_REPOSITORY_BYTES} bytes"
                )));
            }
            let body = resp
                .bytes()
                .await
                .map_err(|e| connection(error_chain(&e)))?;
            if body.len() > MAX_REPOSITORY_BYTES {
                return Err(connection(format!(
                    "the body is larger than {MAX_REPOSITORY_BYTES} bytes"
                )));
            }
            if is_zip(&body) {
                let owned = uri.to_string();
                tokio::task::spawn_blocking(move || load_zip(&owned, &body))
                    .await
                    .map_err(|e| connection(e.to_string()))?
            } else {
                universe::parse_index(&body).map_err(format)
            }
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

fn is_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04")
}

fn load_path(uri: &str, path: &Path) -> Result<Index, FetchError> {
    let format = |cause: FormatError| FetchError::Format {
        uri: uri.to_string(),
        cause,
    };
    let meta = std::fs::metadata(path).map_err(|e| FetchError::Connection {
        uri: uri.to_string(),
        cause: format!("{}: {e}", path.display()),
    })?;
    if meta.is_dir() {
        return universe::read_source_layout(path).map_err(format);
    }
    let bytes = std::fs::read(path).map_err(|e| FetchError::Connection {
        uri: uri.to_string(),
        cause: format!("{}: {e}", path.display()),
    })?;
    if is_zip(&bytes) {
        load_zip(uri, &bytes)
    } else {
        universe::parse_index(&bytes).map_err(format)
    }
}

/// Unpacks a zip archive of a source layout into a temporary folder (no
/// entry may leave it) and reads it.
fn load_zip(uri: &str, bytes: &[u8]) -> Result<Index, FetchError> {
    let format = |message: String| FetchError::Format {
        uri: uri.to_string(),
        cause: FormatError::Invalid {
            place: "zip archive".into(),
            message,
        },
    };
    let dir = tempfile::tempdir().map_err(|e| FetchError::Connection {
        uri: uri.to_string(),
        cause: format!("cannot make a temporary folder: {e}"),
    })?;
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| format(e.to_string()))?;
    let mut total: u64 = 0;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| format(e.to_string()))?;
        let Some(rel) = entry.enclosed_name() else {
            return Err(format(format!(
                "entry {:?} points outside the archive",
                entry.name()
            )));
        };
        total += entry.size();
        if total > (MAX_REPOSITORY_BYTES as u64) * 4 {
            return Err(format("the archive unpacks to more than 1 GiB".into()));
        }
        let out = dir.path().join(rel);
        if entry.is_dir() {
            std::fs::create_dir_all(&out).map_err(|e| format(e.to_string()))?;
            continue;
        }
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format(e.to_string()))?;
        }
        let mut f = std::fs::File::create(&out).map_err(|e| format(e.to_string()))?;
        std::io::copy(&mut entry, &mut f).map_err(|e| format(e.to_string()))?;
    }
    universe::read_source_layout(dir.path()).map_err(|cause| FetchError::Format {
        uri: uri.to_string(),
        cause,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn fixture(root: &Path) {
        let d = root.join("universe-abc/repo/packages/R/redis/0");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("package.json"),
            r#"{"packagingVersion":"2.0","name":"redis","version":"7","maintainer":"m","description":"d"}"#,
        )
        .unwrap();
    }

    fn zip_of(root: &Path) -> Vec<u8> {
        let mut buf = std::io::Cursor::new(Vec::new());
        {
            let mut z = zip::ZipWriter::new(&mut buf);
            let opts = zip::write::SimpleFileOptions::default();
            let rel = "universe-abc/repo/packages/R/redis/0/package.json";
            z.start_file(rel, opts).unwrap();
            z.write_all(&std::fs::read(root.join(rel)).unwrap())
                .unwrap();
            z.finish().unwrap();
        }
        buf.into_inner()
    }

    #[tokio::test]
    async fn folders_zips_and_index_files_load() {
        let dir = tempfile::tempdir().unwrap();
        fixture(dir.path());
        let http = reqwest::Client::new();
        let src = dir.path().join("universe-abc");
        let a = load(&format!("file://{}", src.display()), &http)
            .await
            .unwrap();
        assert_eq!(a.releases("redis").unwrap()[0].version, "7");
        let zip = dir.path().join("repo.zip");
        std::fs::write(&zip, zip_of(dir.path())).unwrap();
        let b = load(zip.to_str().unwrap(), &http).await.unwrap();
        assert_eq!(a, b);
        let json = dir.path().join("repo.json");
        std::fs::write(&json, a.to_json().to_string()).unwrap();
        let c = load(&format!("file://{}", json.display()), &http)
            .await
            .unwrap();
        assert_eq!(a, c);
    }

    #[tokio::test]
    async fn unreadable_repositories_say_why() {
        let http = reqwest::Client::new();
        let e = load("ftp://x/y", &http).await.unwrap_err();
        assert!(matches!(e, FetchError::Unsupported { .. }), "{e}");
        let e = load("relative/path", &http).await.unwrap_err();
        assert!(matches!(e, FetchError::Unsupported { .. }), "{e}");
        let e = load("/nonexistent/universe", &http).await.unwrap_err();
        assert!(matches!(e, FetchError::Connection { .. }), "{e}");
        // A port bound but not listening: refuses, and no other test can take it.
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let port = sock.local_addr().unwrap().port();
        let e = load(&format!("http://127.0.0.1:{port}/repo.json"), &http)
            .await
            .unwrap_err();
        assert!(matches!(e, FetchError::Connection { .. }), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("garbage.json");
        std::fs::write(&garbage, "not json at all").unwrap();
        let e = load(garbage.to_str().unwrap(), &http).await.unwrap_err();
        assert!(
            e.to_string().contains("not a valid Universe repository")
                && e.to_string().contains("not JSON"),
            "{e}"
        );
    }
}
