//! Image import without a registry: a `docker save` tarball (its
//! `manifest.json`, config and `layer.tar` members) or an OCI image
//! layout (`oci-layout`, `index.json`, `blobs/`), as a directory or a tar
//! of one. Every layer is checked against its digest (the config's
//! `rootfs.diff_ids` for docker save, the manifest's descriptors for OCI)
//! before it is stored.
//!
//! Owns reading those formats; storing is [`crate::store`]'s.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::image::{AnyManifest, ImageConfig, ImageError};
use crate::reference::{ImageRef, ReferenceError};
use crate::store::{Digest, ImageStore, StoreError, StoredImage};

/// Errors of importing.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Reading the input failed.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Neither a docker save tarball nor an OCI layout.
    #[error("{0} is neither a `docker save` tarball nor an OCI image layout")]
    UnknownFormat(PathBuf),
    /// A member the format requires is missing or malformed.
    #[error("{path}: {message}")]
    Malformed {
        /// The archive.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The archive names no image and no name was given.
    #[error("{0} names no image: give one with --name")]
    Unnamed(PathBuf),
    /// A name in the archive, or the one given, is not a reference.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// Storing failed (including digest mismatches).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The image JSON is invalid, or for another platform.
    #[error(transparent)]
    Image(#[from] ImageError),
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SaveEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// Imports every image in `input` (a file or directory) into `store`;
/// `name` names (or renames) the image when there is one. Returns the
/// stored images.
pub fn import(
    store: &ImageStore,
    input: &Path,
    name: Option<&str>,
) -> Result<Vec<StoredImage>, ImportError> {
    let io_err = |source| ImportError::Io {
        path: input.to_owned(),
        source,
    };
    let meta = fs::metadata(input).map_err(io_err)?;
    // A tarball is unpacked into staging first (random access to members).
    let (dir, _cleanup) = if meta.is_dir() {
        (input.to_owned(), None)
    } else {
        let stage = store.root().join("tmp").join(format!(
            "{}-import-{}",
            std::process::id(),
            Digest::of(input.display().to_string().as_bytes()).hex()
        ));
        let _ = fs::remove_dir_all(&stage);
        fs::create_dir_all(&stage).map_err(io_err)?;
        let guard = RemoveOnDrop(stage.clone());
        let file = File::open(input).map_err(io_err)?;
        let mut archive = tar::Archive::new(io::BufReader::new(file));
        archive.unpack(&stage).map_err(|e| ImportError::Malformed {
            path: input.to_owned(),
            message: format!("not a readable tar archive: {e}"),
        })?;
        (stage, Some(guard))
    };
    if dir.join("manifest.json").is_file() {
        import_docker_save(store, input, &dir, name)
    } else if dir.join("oci-layout").is_file() && dir.join("index.json").is_file() {
        import_oci_layout(store, input, &dir, name)
    } else {
        Err(ImportError::UnknownFormat(input.to_owned()))
    }
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn member(input: &Path, dir: &Path, rel: &str) -> Result<PathBuf, ImportError> {
    if rel.split('/').any(|c| c == "..") || rel.starts_with('/') {
        return Err(ImportError::Malformed {
            path: input.to_owned(),
            message: format!("member '{rel}' leaves the archive"),
        });
    }
    let p = dir.join(rel);
    if p.is_file() {
        Ok(p)
    } else {
        Err(ImportError::Malformed {
            path: input.to_owned(),
            message: format!("member '{rel}' is missing"),
        })
    }
}

fn read(path: &Path) -> Result<Vec<u8>, ImportError> {
    fs::read(path).map_err(|source| ImportError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Stores one layer file: `expected` is the digest of its bytes as they
/// are (a docker save `layer.tar` is hashed uncompressed, which is what
/// `diff_ids` lists).
fn store_layer(store: &ImageStore, path: &Path, expected: &Digest) -> Result<(), ImportError> {
    let lock = store.lock(expected)?;
    if store.has_layer(expected) {
        return Ok(());
    }
    let mut staged = store.stage()?;
    let mut file = File::open(path).map_err(|source| ImportError::Io {
        path: path.to_owned(),
        source,
    })?;
    io::copy(&mut file, &mut staged).map_err(|source| ImportError::Io {
        path: path.to_owned(),
        source,
    })?;
    store.commit_layer(staged, expected, &lock)?;
    Ok(())
}

fn import_docker_save(
    store: &ImageStore,
    input: &Path,
    dir: &Path,
    name: Option<&str>,
) -> Result<Vec<StoredImage>, ImportError> {
    let manifest_bytes = read(&dir.join("manifest.json"))?;
    let entries: Vec<SaveEntry> =
        serde_json::from_slice(&manifest_bytes).map_err(|e| ImportError::Malformed {
            path: input.to_owned(),
            message: format!("manifest.json: {e}"),
        })?;
    if entries.is_empty() {
        return Err(ImportError::Malformed {
            path: input.to_owned(),
            message: "manifest.json lists no image".into(),
        });
    }
    let mut out = Vec::new();
    for entry in &entries {
        let config_bytes = read(&member(input, dir, &entry.config)?)?;
        let config_digest = Digest::of(&config_bytes);
        let config = ImageConfig::parse(&config_bytes, config_digest.clone())?;
        let names: Vec<String> = match (name, &entry.repo_tags) {
            (Some(n), _) => vec![ImageRef::parse(n)?.to_string()],
            (None, Some(tags)) if !tags.is_empty() => tags
                .iter()
                .map(|t| ImageRef::parse(t).map(|r| r.to_string()))
                .collect::<Result<_, _>>()?,
            _ => return Err(ImportError::Unnamed(input.to_owned())),
        };
        config.check_platform(&names[0])?;
        if config.diff_ids.len() != entry.layers.len() {
            return Err(ImportError::Malformed {
                path: input.to_owned(),
                message: format!(
                    "the config lists {} layers, manifest.json {}",
                    config.diff_ids.len(),
                    entry.layers.len()
                ),
            });
        }
        for (rel, diff_id) in entry.layers.iter().zip(&config.diff_ids) {
            let path = member(input, dir, rel)?;
            store_layer(store, &path, diff_id)?;
        }
        store.put_blob(&config_bytes, &config_digest, "image config")?;
        let entry_json = serde_json::to_vec(&serde_json::json!({
            "Config": entry.config, "Layers": entry.layers,
        }))
        .unwrap_or_default();
        for n in names {
            let image = StoredImage {
                name: n,
                manifest_digest: Digest::of(&entry_json),
                config: config.clone(),
                layers: config.diff_ids.clone(),
            };
            store.put_image(&image)?;
            out.push(image);
        }
    }
    Ok(out)
}

#[derive(Deserialize)]
struct OciIndexFile {
    manifests: Vec<OciIndexEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OciIndexEntry {
    digest: Digest,
    #[serde(default)]
    annotations: std::collections::BTreeMap<String, String>,
}

fn import_oci_layout(
    store: &ImageStore,
    input: &Path,
    dir: &Path,
    name: Option<&str>,
) -> Result<Vec<StoredImage>, ImportError> {
    let index: OciIndexFile =
        serde_json::from_slice(&read(&dir.join("index.json"))?).map_err(|e| {
            ImportError::Malformed {
                path: input.to_owned(),
                message: format!("index.json: {e}"),
            }
        })?;
    let blob = |d: &Digest| -> Result<Vec<u8>, ImportError> {
        let bytes = read(&member(input, dir, &format!("blobs/sha256/{}", d.hex()))?)?;
        let actual = Digest::of(&bytes);
        if &actual != d {
            return Err(StoreError::DigestMismatch {
                what: format!("blob {d}"),
                expected: d.to_string(),
                actual: actual.to_string(),
            }
            .into());
        }
        Ok(bytes)
    };
    let mut out = Vec::new();
    for entry in &index.manifests {
        let annotated = entry
            .annotations
            .get("io.containerd.image.name")
            .or_else(|| entry.annotations.get("org.opencontainers.image.ref.name"))
            .filter(|n| n.contains('/') || n.contains(':'));
        let image_name = match (name, annotated) {
            (Some(n), _) => ImageRef::parse(n)?.to_string(),
            (None, Some(n)) => ImageRef::parse(n)?.to_string(),
            (None, None) => return Err(ImportError::Unnamed(input.to_owned())),
        };
        let mut manifest_digest = entry.digest.clone();
        let mut bytes = blob(&manifest_digest)?;
        let manifest = loop {
            match AnyManifest::parse(&bytes, "")? {
                AnyManifest::Image(m) => break m,
                AnyManifest::Index(i) => {
                    manifest_digest = i.pick(&image_name)?.digest.clone();
                    bytes = blob(&manifest_digest)?;
                }
            }
        };
        let config_bytes = blob(&manifest.config.digest)?;
        let config = ImageConfig::parse(&config_bytes, manifest.config.digest.clone())?;
        config.check_platform(&image_name)?;
        for layer in &manifest.layers {
            let path = member(input, dir, &format!("blobs/sha256/{}", layer.digest.hex()))?;
            store_layer(store, &path, &layer.digest)?;
        }
        store.put_blob(&config_bytes, &manifest.config.digest, "image config")?;
        store.put_blob(&bytes, &manifest_digest, "manifest")?;
        let image = StoredImage {
            name: image_name,
            manifest_digest,
            config,
            layers: manifest.layers.iter().map(|l| l.digest.clone()).collect(),
        };
        store.put_image(&image)?;
        out.push(image);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build;

    fn image() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let layer = build::layer_tar(&[build::Entry::File(
            "etc/marker".into(),
            b"oci".to_vec(),
            0o644,
        )]);
        let config = build::config_json(
            "amd64",
            &["/bin/sh"],
            &[],
            &[],
            std::slice::from_ref(&layer),
        );
        let manifest = build::manifest_json(&config, std::slice::from_ref(&layer));
        (layer, config, manifest)
    }

    fn layout(dir: &Path, blobs: &[&[u8]], index: serde_json::Value) {
        fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        fs::write(dir.join("index.json"), index.to_string()).unwrap();
        for b in blobs {
            fs::write(dir.join("blobs/sha256").join(Digest::of(b).hex()), b).unwrap();
        }
    }

    #[test]
    fn oci_layouts_import_with_their_ref_name_or_a_given_one() {
        let (layer, config, manifest) = image();
        let dir = tempfile::tempdir().unwrap();
        let oci = dir.path().join("layout");
        let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
            "mediaType": crate::image::OCI_MANIFEST, "digest": Digest::of(&manifest).to_string(),
            "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": "registry.local/team/app:3"}}]});
        layout(&oci, &[&layer, &config, &manifest], index);
        let store = ImageStore::open(dir.path().join("store")).unwrap();
        let images = import(&store, &oci, None).unwrap();
        assert_eq!(images[0].name, "registry.local/team/app:3");
        let stored = store.image("registry.local/team/app:3").unwrap();
        assert_eq!(stored.config.entrypoint, ["/bin/sh"]);
        let marker = store.layer_path(&stored.layers[0]).join("etc/marker");
        assert_eq!(fs::read(marker).unwrap(), b"oci");
        let renamed = import(&store, &oci, Some("other/app:1")).unwrap();
        assert_eq!(renamed[0].name, "registry-1.docker.io/other/app:1");
    }

    #[test]
    fn a_corrupted_blob_or_diff_id_is_refused_and_nothing_is_stored() {
        let (layer, config, manifest) = image();
        let dir = tempfile::tempdir().unwrap();
        let oci = dir.path().join("layout");
        let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
            "digest": Digest::of(&manifest).to_string(), "size": manifest.len()}]});
        layout(&oci, &[&layer, &config, &manifest], index);
        let mut bad = layer.clone();
        bad[600] ^= 1;
        fs::write(
            oci.join("blobs/sha256").join(Digest::of(&layer).hex()),
            &bad,
        )
        .unwrap();
        let store = ImageStore::open(dir.path().join("store")).unwrap();
        let err = import(&store, &oci, Some("x/y:1")).unwrap_err();
        assert!(
            err.to_string().starts_with("digest mismatch for layer"),
            "{err}"
        );
        assert!(!store.has_layer(&Digest::of(&layer)));

        // docker save whose layer.tar does not match the config's diff_id.
        let mut save = build::docker_save(&["x/y:2"], &config, &[bad]);
        let tar_path = dir.path().join("save.tar");
        fs::write(&tar_path, &save).unwrap();
        let err = import(&store, &tar_path, None).unwrap_err();
        assert!(
            err.to_string().starts_with("digest mismatch for layer"),
            "{err}"
        );
        assert_eq!(
            fs::read_dir(dir.path().join("store/tmp")).unwrap().count(),
            0
        );
        save.truncate(100);
        fs::write(&tar_path, &save).unwrap();
        assert!(import(&store, &tar_path, None).is_err());
        assert!(matches!(store.image("x/y:2"), Err(StoreError::NotFound(_))));
    }
}
