//! Offline bundles: the artifacts of some packages in one file, carried
//! to a cluster without a way out (as air-gapped DC/OS used a local
//! Universe). A bundle is an uncompressed tar: `bundle.json` first
//! (`{"version": 1, "artifacts": [{url, sha256, size}]}`), then each
//! artifact once as `blobs/<sha256>`. Uncompressed so an importer can
//! seek to any blob and resume an upload where it stopped.
//!
//! Owns the format (write, index, check); moving bytes to a cluster is
//! the CLI's (`dcos package bundle build|import`).

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The manifest's name in the tar.
pub const MANIFEST: &str = "bundle.json";

/// One artifact of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The URL packages name it by.
    pub url: String,
    /// Its content's sha256 (lowercase hex).
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
}

/// `bundle.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    pub artifacts: Vec<Entry>,
}

/// Where a blob's bytes are in a bundle file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub sha256: String,
    pub offset: u64,
    pub size: u64,
}

/// The sha256 and size of a file.
pub fn hash_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut f = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((format!("{:x}", hasher.finalize()), size))
}

/// Writes a bundle of `files` (URL → a local file holding its content) to
/// `out`; each file's sha256 is computed here. Returns the manifest.
pub fn write(out: &Path, files: &BTreeMap<String, PathBuf>) -> std::io::Result<Manifest> {
    let mut artifacts = Vec::new();
    let mut blobs: BTreeMap<String, &PathBuf> = BTreeMap::new();
    for (url, path) in files {
        let (sha256, size) = hash_file(path)?;
        artifacts.push(Entry {
            url: url.clone(),
            sha256: sha256.clone(),
            size,
        });
        blobs.insert(sha256, path);
    }
    let manifest = Manifest {
        version: 1,
        artifacts,
    };
    let tmp = out.with_extension("partial");
    {
        let file = std::fs::File::create(&tmp)?;
        let mut tar = tar::Builder::new(std::io::BufWriter::new(file));
        let json = serde_json::to_vec_pretty(&manifest).map_err(std::io::Error::other)?;
        let mut header = tar::Header::new_gnu();
        header.set_size(json.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, MANIFEST, json.as_slice())?;
        for (sha, path) in blobs {
            let mut f = std::fs::File::open(path)?;
            let mut header = tar::Header::new_gnu();
            header.set_size(f.metadata()?.len());
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, format!("blobs/{sha}"), &mut f)?;
        }
        tar.into_inner()?
            .into_inner()
            .map_err(|e| e.into_error())?
            .sync_all()?;
    }
    std::fs::rename(&tmp, out)?;
    Ok(manifest)
}

/// Reads a bundle's manifest and where each of its blobs is, checking
/// that every artifact's blob is there with its size.
pub fn index(path: &Path) -> anyhow::Result<(Manifest, Vec<Located>)> {
    use anyhow::Context;
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut archive = tar::Archive::new(file);
    let mut manifest: Option<Manifest> = None;
    let mut located = Vec::new();
    for entry in archive
        .entries()
        .with_context(|| format!("{} is not a bundle (not a tar file)", path.display()))?
    {
        let mut entry = entry.with_context(|| format!("{} is damaged", path.display()))?;
        let name = entry.path()?.to_string_lossy().into_owned();
        if name == MANIFEST {
            let mut text = String::new();
            entry.read_to_string(&mut text)?;
            manifest = Some(
                serde_json::from_str(&text)
                    .with_context(|| format!("{}: bundle.json cannot be read", path.display()))?,
            );
        } else if let Some(sha) = name.strip_prefix("blobs/") {
            located.push(Located {
                sha256: sha.to_string(),
                offset: entry.raw_file_position(),
                size: entry.size(),
            });
        }
    }
    let manifest = manifest
        .with_context(|| format!("{} is not a bundle: it has no {MANIFEST}", path.display()))?;
    anyhow::ensure!(
        manifest.version == 1,
        "{}: bundle version {} is newer than this dcos reads (1)",
        path.display(),
        manifest.version
    );
    for a in &manifest.artifacts {
        let found = located.iter().find(|l| l.sha256 == a.sha256);
        anyhow::ensure!(
            found.is_some_and(|l| l.size == a.size),
            "{}: the artifact {} (sha256 {}) is missing from the bundle or has the wrong size",
            path.display(),
            a.url,
            a.sha256
        );
    }
    Ok((manifest, located))
}

/// Reads `len` bytes at `offset` of a bundle file.
pub fn read_at(path: &Path, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
    let mut f = std::fs::File::open(path)?;
    f.seek(SeekFrom::Start(offset))?;
    let mut buf = vec![0u8; len];
    f.read_exact(&mut buf)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_round_trips_and_blobs_are_found_where_the_index_says() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::write(&a, b"first artifact").unwrap();
        std::fs::write(&b, vec![7u8; 5000]).unwrap();
        let files = BTreeMap::from([
            ("http://x/a.deb".to_string(), a.clone()),
            ("bundle:b".to_string(), b.clone()),
            // The same content under two names is stored once.
            ("http://mirror/a.deb".to_string(), a.clone()),
        ]);
        let out = dir.path().join("x.bundle");
        let m = write(&out, &files).unwrap();
        assert_eq!(m.artifacts.len(), 3);
        let (read, located) = index(&out).unwrap();
        assert_eq!(read, m);
        assert_eq!(located.len(), 2);
        for l in &located {
            let bytes = read_at(&out, l.offset, l.size as usize).unwrap();
            assert_eq!(format!("{:x}", Sha256::digest(&bytes)), l.sha256);
        }
    }

    #[test]
    fn a_file_that_is_not_a_bundle_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x");
        std::fs::write(&f, b"hello").unwrap();
        let e = index(&f).unwrap_err().to_string();
        assert!(e.contains("not a bundle") || e.contains("damaged"), "{e}");
    }
}
