//! The image store of one agent: content-addressed blobs and unpacked
//! layers, shared by every container, under one directory (by default
//! `<agent work dir>/images`):
//!
//! ```text
//! blobs/sha256/<hex>          verified manifests and image configs
//! layers/sha256/<hex>/        one unpacked layer (overlayfs whiteouts)
//! images/<sha256(name)>.json  an image: name, manifest digest, config, layers
//! in-use/<container>          the layers a running container stands on
//! locks/<hex>.lock            per-digest flock: one writer per digest
//! tmp/                        staging; nothing here is ever used
//! ```
//!
//! Every write goes to `tmp/` first, is digest-verified, and is then
//! renamed into place, so a layer directory that exists is complete: a
//! crash or a corrupted download leaves at most garbage in `tmp/`, which
//! [`ImageStore::open`] clears. Writers of one digest take its lock
//! (`flock`, so concurrent pulls in different executor processes are
//! safe) and re-check before doing the work.
//!
//! Owns the on-disk layout, verification, unpacking and garbage
//! collection; knows nothing of registries or tarball formats.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::image::ImageConfig;

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file operation failed.
    #[error("image store: {what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: io::Error,
    },
    /// Content did not hash to the digest it was fetched or listed under.
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        /// Which blob or layer.
        what: String,
        /// The digest it should have.
        expected: String,
        /// The digest it has.
        actual: String,
    },
    /// A digest that is not `sha256:<64 hex>`.
    #[error("unsupported digest '{0}' (only sha256 is supported)")]
    BadDigest(String),
    /// A layer archive could not be unpacked.
    #[error("layer {digest}: not a valid tar archive: {message}")]
    BadLayer {
        /// The layer.
        digest: String,
        /// What was wrong.
        message: String,
    },
    /// The image is not in the store.
    #[error("image '{0}' is not in the image store")]
    NotFound(String),
    /// A stored record could not be read.
    #[error("image store record {path}: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> StoreError {
    let what = what.into();
    move |source| StoreError::Io { what, source }
}

/// A `sha256:<hex>` digest.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(String);

impl Digest {
    /// Parses `sha256:<64 lowercase hex>`.
    pub fn parse(text: &str) -> Result<Self, StoreError> {
        let hex = text
            .strip_prefix("sha256:")
            .ok_or_else(|| StoreError::BadDigest(text.to_owned()))?;
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StoreError::BadDigest(text.to_owned()));
        }
        Ok(Self(format!("sha256:{}", hex.to_ascii_lowercase())))
    }

    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(format!("sha256:{}", hex::encode(Sha256::digest(bytes))))
    }

    /// The hex part.
    pub fn hex(&self) -> &str {
        &self.0["sha256:".len()..]
    }

    /// The whole `sha256:<hex>`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Digest {
    type Error = StoreError;
    fn try_from(s: String) -> Result<Self, StoreError> {
        Self::parse(&s)
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> String {
        d.0
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An image in the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredImage {
    /// The canonical reference it was stored under.
    pub name: String,
    /// The manifest's digest (for imports: of the tarball's manifest entry).
    pub manifest_digest: Digest,
    /// What to run.
    pub config: ImageConfig,
    /// Layers, bottom first (digests of the layer blobs as stored).
    pub layers: Vec<Digest>,
}

/// A temporary file that hashes what is written to it; becomes a verified
/// blob or layer only through [`ImageStore::commit_blob`] /
/// [`ImageStore::commit_layer`].
#[derive(Debug)]
pub struct Staged {
    path: PathBuf,
    file: File,
    hasher: Sha256,
    len: u64,
}

impl Staged {
    /// The digest of everything written so far.
    pub fn digest(&self) -> Digest {
        Digest(format!(
            "sha256:{}",
            hex::encode(self.hasher.clone().finalize())
        ))
    }

    /// Bytes written.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Write for Staged {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// A held per-digest lock (released on drop).
#[derive(Debug)]
pub struct DigestLock {
    _flock: nix::fcntl::Flock<File>,
}

/// The store.
#[derive(Debug, Clone)]
pub struct ImageStore {
    root: PathBuf,
}

impl ImageStore {
    /// Opens (creating) the store at `root` and clears stale staging files.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let root = root.into();
        for d in [
            "blobs/sha256",
            "layers/sha256",
            "images",
            "in-use",
            "locks",
            "tmp",
        ] {
            fs::create_dir_all(root.join(d)).map_err(io_err(format!("creating {d}")))?;
        }
        let store = Self { root };
        store.clear_stale_tmp();
        Ok(store)
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Removes staging entries no live process is writing (each staging
    /// name carries its writer's pid).
    fn clear_stale_tmp(&self) {
        let Ok(entries) = fs::read_dir(self.root.join("tmp")) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let pid: Option<i32> = name.split('-').next().and_then(|p| p.parse().ok());
            let alive = pid.is_some_and(|p| Path::new(&format!("/proc/{p}")).exists());
            if !alive {
                let _ = fs::remove_dir_all(e.path()).or_else(|_| fs::remove_file(e.path()));
            }
        }
    }

    fn tmp_path(&self, kind: &str) -> PathBuf {
        use std::sync::atomic::{AtomicU64, Ordering};
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        self.root
            .join("tmp")
            .join(format!("{}-{n}-{nanos}.{kind}", std::process::id()))
    }

    /// Takes the lock of `digest` (blocks while another writer holds it).
    pub fn lock(&self, digest: &Digest) -> Result<DigestLock, StoreError> {
        let path = self
            .root
            .join("locks")
            .join(format!("{}.lock", digest.hex()));
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err(format!("opening {}", path.display())))?;
        let flock = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive).map_err(
            |(_, e)| StoreError::Io {
                what: format!("locking {}", path.display()),
                source: e.into(),
            },
        )?;
        Ok(DigestLock { _flock: flock })
    }

    /// A new staging file.
    pub fn stage(&self) -> Result<Staged, StoreError> {
        let path = self.tmp_path("blob");
        let file = File::create(&path).map_err(io_err("creating a staging file"))?;
        Ok(Staged {
            path,
            file,
            hasher: Sha256::new(),
            len: 0,
        })
    }

    /// Path of a verified blob.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    /// Path of an unpacked layer.
    pub fn layer_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("layers/sha256").join(digest.hex())
    }

    /// Whether the layer is unpacked (then it is complete).
    pub fn has_layer(&self, digest: &Digest) -> bool {
        self.layer_path(digest).is_dir()
    }

    /// A verified blob's bytes, if stored.
    pub fn read_blob(&self, digest: &Digest) -> Option<Vec<u8>> {
        fs::read(self.blob_path(digest)).ok()
    }

    fn verify(staged: &Staged, expected: &Digest, what: &str) -> Result<(), StoreError> {
        let actual = staged.digest();
        if &actual != expected {
            return Err(StoreError::DigestMismatch {
                what: what.to_owned(),
                expected: expected.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(())
    }

    /// Stores small bytes (a manifest or config) under their digest,
    /// checking it equals `expected`.
    pub fn put_blob(&self, bytes: &[u8], expected: &Digest, what: &str) -> Result<(), StoreError> {
        let mut staged = self.stage()?;
        staged
            .write_all(bytes)
            .map_err(io_err("writing a staging file"))?;
        self.commit_blob(staged, expected, what)
    }

    /// Verifies `staged` against `expected` and renames it into `blobs/`.
    pub fn commit_blob(
        &self,
        mut staged: Staged,
        expected: &Digest,
        what: &str,
    ) -> Result<(), StoreError> {
        Self::verify(&staged, expected, what)?;
        staged.flush().map_err(io_err("flushing a blob"))?;
        staged.file.sync_all().map_err(io_err("syncing a blob"))?;
        fs::rename(&staged.path, self.blob_path(expected))
            .map_err(io_err(format!("storing blob {expected}")))?;
        Ok(())
    }

    /// Verifies a downloaded layer blob against `expected`, unpacks it into
    /// staging (gzip or plain tar), then renames it into `layers/`. The
    /// caller holds the digest's lock (`_held`); if another writer finished
    /// first, theirs is kept.
    pub fn commit_layer(
        &self,
        staged: Staged,
        expected: &Digest,
        _held: &DigestLock,
    ) -> Result<(), StoreError> {
        Self::verify(&staged, expected, &format!("layer {expected}"))?;
        if self.has_layer(expected) {
            return Ok(());
        }
        let dir = self.tmp_path("layer");
        let result = (|| {
            fs::create_dir(&dir).map_err(io_err("creating a staging layer"))?;
            let file = File::open(&staged.path).map_err(io_err("reopening a layer"))?;
            unpack_layer(file, &dir).map_err(|message| StoreError::BadLayer {
                digest: expected.to_string(),
                message,
            })?;
            fs::rename(&dir, self.layer_path(expected))
                .map_err(io_err(format!("storing layer {expected}")))
        })();
        if result.is_err() {
            let _ = fs::remove_dir_all(&dir);
        }
        result
    }

    fn record_path(&self, name: &str) -> PathBuf {
        self.root
            .join("images")
            .join(format!("{}.json", Digest::of(name.as_bytes()).hex()))
    }

    /// Records an image whose layers and config are stored.
    pub fn put_image(&self, image: &StoredImage) -> Result<(), StoreError> {
        let path = self.tmp_path("image");
        let bytes = serde_json::to_vec_pretty(image).map_err(|e| StoreError::Corrupt {
            path: path.clone(),
            message: e.to_string(),
        })?;
        fs::write(&path, bytes).map_err(io_err("writing an image record"))?;
        fs::rename(&path, self.record_path(&image.name))
            .map_err(io_err(format!("recording image {}", image.name)))
    }

    /// The image stored under `name` (a canonical reference).
    pub fn image(&self, name: &str) -> Result<StoredImage, StoreError> {
        let path = self.record_path(name);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::NotFound(name.to_owned()))
            }
            Err(e) => return Err(io_err(format!("reading {}", path.display()))(e)),
        };
        let image: StoredImage =
            serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
                path: path.clone(),
                message: e.to_string(),
            })?;
        // An image whose layers were collected is not usable.
        if image.layers.iter().all(|l| self.has_layer(l)) {
            Ok(image)
        } else {
            Err(StoreError::NotFound(name.to_owned()))
        }
    }

    /// Every stored image.
    pub fn images(&self) -> Vec<StoredImage> {
        let Ok(entries) = fs::read_dir(self.root.join("images")) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| fs::read(e.path()).ok())
            .filter_map(|b| serde_json::from_slice(&b).ok())
            .collect()
    }

    /// Removes an image's record (its layers go at the next [`gc`](Self::gc)).
    pub fn remove_image(&self, name: &str) -> Result<(), StoreError> {
        match fs::remove_file(self.record_path(name)) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(StoreError::NotFound(name.to_owned()))
            }
            other => other.map_err(io_err(format!("removing image {name}"))),
        }
    }

    /// Marks `layers` as used by `container` until [`release`](Self::release).
    pub fn retain(&self, container: &str, layers: &[Digest]) -> Result<(), StoreError> {
        let list: Vec<&str> = layers.iter().map(Digest::as_str).collect();
        let bytes = serde_json::to_vec(&list).unwrap_or_default();
        fs::write(self.root.join("in-use").join(container), bytes)
            .map_err(io_err(format!("marking the layers of {container} in use")))
    }

    /// Releases what `container` used.
    pub fn release(&self, container: &str) {
        let _ = fs::remove_file(self.root.join("in-use").join(container));
    }

    /// Removes layers and blobs no stored image and no running container
    /// references; returns the removed layer digests.
    pub fn gc(&self) -> Result<Vec<Digest>, StoreError> {
        let mut keep: BTreeSet<String> = BTreeSet::new();
        for image in self.images() {
            keep.insert(image.manifest_digest.hex().to_owned());
            keep.insert(image.config.digest.hex().to_owned());
            keep.extend(image.layers.iter().map(|l| l.hex().to_owned()));
        }
        if let Ok(entries) = fs::read_dir(self.root.join("in-use")) {
            for e in entries.flatten() {
                let list: Vec<String> = fs::read(e.path())
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok())
                    .unwrap_or_default();
                keep.extend(
                    list.iter()
                        .filter_map(|d| d.strip_prefix("sha256:"))
                        .map(str::to_owned),
                );
            }
        }
        let mut removed = Vec::new();
        for (dir, is_layer) in [("layers/sha256", true), ("blobs/sha256", false)] {
            let Ok(entries) = fs::read_dir(self.root.join(dir)) else {
                continue;
            };
            for e in entries.flatten() {
                let hex = e.file_name().to_string_lossy().into_owned();
                if keep.contains(&hex) {
                    continue;
                }
                let Ok(digest) = Digest::parse(&format!("sha256:{hex}")) else {
                    continue;
                };
                let _lock = self.lock(&digest)?;
                if is_layer {
                    // Rename first so a reader never sees a half-removed layer.
                    let doomed = self.tmp_path("gc");
                    fs::rename(e.path(), &doomed)
                        .map_err(io_err(format!("collecting layer {digest}")))?;
                    let _ = fs::remove_dir_all(&doomed);
                    removed.push(digest);
                } else {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
        Ok(removed)
    }
}

/// Hashes a whole reader (for tarball members whose digest must be
/// checked before use).
pub fn digest_reader(mut r: impl Read) -> io::Result<Digest> {
    let mut h = Sha256::new();
    io::copy(&mut r, &mut h)?;
    Ok(Digest(format!("sha256:{}", hex::encode(h.finalize()))))
}

/// Unpacks one layer tar (gzip-compressed or not) into `dir`, turning
/// Docker whiteouts into overlayfs ones: `.wh.<name>` becomes a 0/0
/// character device `<name>`, `.wh..wh..opq` marks its directory opaque
/// (`trusted.overlay.opaque=y`).
pub fn unpack_layer(file: File, dir: &Path) -> Result<(), String> {
    let mut reader = io::BufReader::new(file);
    let gz = {
        use io::BufRead;
        let head = reader.fill_buf().map_err(|e| e.to_string())?;
        head.starts_with(&[0x1f, 0x8b])
    };
    let input: Box<dyn Read> = if gz {
        Box::new(flate2::read::GzDecoder::new(reader))
    } else {
        Box::new(reader)
    };
    let mut archive = tar::Archive::new(input);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(true);
    archive.set_unpack_xattrs(true);
    archive.set_overwrite(true);
    archive.set_preserve_mtime(true);
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        let path = entry.path().map_err(|e| e.to_string())?.into_owned();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some(hidden) = name.strip_prefix(".wh.") {
            let parent = safe_join(dir, path.parent().unwrap_or(Path::new("")))?;
            fs::create_dir_all(&parent).map_err(|e| e.to_string())?;
            if hidden == ".wh..opq" {
                xattr_set(&parent, "trusted.overlay.opaque", b"y")?;
            } else {
                let target = parent.join(hidden);
                let _ = fs::remove_file(&target);
                nix::sys::stat::mknod(
                    &target,
                    nix::sys::stat::SFlag::S_IFCHR,
                    nix::sys::stat::Mode::empty(),
                    0,
                )
                .map_err(|e| format!("whiteout {}: {e}", target.display()))?;
            }
            continue;
        }
        entry.unpack_in(dir).map_err(|e| {
            let cause = std::error::Error::source(&e)
                .map(|c| format!(": {c}"))
                .unwrap_or_default();
            format!("{}: {e}{cause}", path.display())
        })?;
    }
    Ok(())
}

/// `dir/rel`, refusing `..` and absolute components.
fn safe_join(dir: &Path, rel: &Path) -> Result<PathBuf, String> {
    let mut out = dir.to_owned();
    for c in rel.components() {
        match c {
            std::path::Component::Normal(p) => out.push(p),
            std::path::Component::CurDir | std::path::Component::RootDir => {}
            _ => return Err(format!("path {} leaves the layer", rel.display())),
        }
    }
    Ok(out)
}

fn xattr_set(path: &Path, name: &str, value: &[u8]) -> Result<(), String> {
    // `setfattr` would be a dependency on a tool; the tar crate's xattr
    // support writes through the same syscall when unpacking.
    xattr::set(path, name, value).map_err(|e| format!("{}: {name}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            h.set_cksum();
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn digest_parse_and_of() {
        let d = Digest::of(b"abc");
        assert_eq!(
            d.as_str(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(Digest::parse("md5:00").is_err());
        assert_eq!(
            Digest::parse(&d.as_str().to_uppercase().replace("SHA256", "sha256")).unwrap(),
            d
        );
    }

    #[test]
    fn corrupted_layer_is_never_stored() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        let good = tar_of(&[("etc/marker", b"hello")]);
        let expected = Digest::of(&good);
        let mut bad = good.clone();
        bad[600] ^= 0xff;
        let mut staged = store.stage().unwrap();
        staged.write_all(&bad).unwrap();
        let lock = store.lock(&expected).unwrap();
        let err = store.commit_layer(staged, &expected, &lock).unwrap_err();
        assert!(matches!(err, StoreError::DigestMismatch { .. }), "{err}");
        assert!(!store.has_layer(&expected));
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);

        let mut staged = store.stage().unwrap();
        staged.write_all(&good).unwrap();
        store.commit_layer(staged, &expected, &lock).unwrap();
        let marker = store.layer_path(&expected).join("etc/marker");
        assert_eq!(fs::read(marker).unwrap(), b"hello");
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn gc_keeps_referenced_and_in_use_layers() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        let mut digests = Vec::new();
        for i in 0..3u8 {
            let t = tar_of(&[("f", &[i][..])]);
            let d = Digest::of(&t);
            let mut s = store.stage().unwrap();
            s.write_all(&t).unwrap();
            let lock = store.lock(&d).unwrap();
            store.commit_layer(s, &d, &lock).unwrap();
            digests.push(d);
        }
        let config = ImageConfig::default();
        store
            .put_image(&StoredImage {
                name: "x".into(),
                manifest_digest: Digest::of(b"m"),
                config,
                layers: vec![digests[0].clone()],
            })
            .unwrap();
        store.retain("c1", &digests[1..2]).unwrap();
        let removed = store.gc().unwrap();
        assert_eq!(removed, vec![digests[2].clone()]);
        store.release("c1");
        assert_eq!(store.gc().unwrap(), vec![digests[1].clone()]);
        assert!(store.image("x").is_ok());
        store.remove_image("x").unwrap();
        assert_eq!(store.gc().unwrap(), vec![digests[0].clone()]);
        assert!(matches!(store.image("x"), Err(StoreError::NotFound(_))));
    }
}
