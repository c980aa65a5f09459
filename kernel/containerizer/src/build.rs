//! Building small images without a registry or Docker: a layer tar from
//! host files (for example Debian's static `/bin/busybox` with its applet
//! symlinks), an image config, a manifest, and a `docker save` tarball of
//! them. Tests and benchmarks use it to make images on a machine with no
//! internet; the bytes are exactly what Docker would write, so the same
//! image can be pushed to a registry blob by blob.
//!
//! Owns image creation; no registry I/O.

use std::path::Path;

use serde_json::json;

use crate::image::{DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST};
use crate::store::Digest;

/// The busybox applets linked in [`busybox_layer`].
pub const APPLETS: &[&str] = &[
    "sh", "cat", "echo", "ls", "sleep", "true", "false", "id", "ps", "env", "head", "tail", "dd",
    "mkdir", "rm", "test", "grep", "wc", "readlink", "hostname", "kill", "pwd",
];

/// One file in a layer.
#[derive(Debug, Clone)]
pub enum Entry {
    /// A directory.
    Dir(String),
    /// A regular file with its mode.
    File(String, Vec<u8>, u32),
    /// A symlink `path -> target`.
    Symlink(String, String),
}

/// A tar of `entries` (uid/gid 0, mtime 0): one uncompressed layer.
pub fn layer_tar(entries: &[Entry]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_ustar();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        let result = match e {
            Entry::Dir(p) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, p, std::io::empty())
            }
            Entry::File(p, data, mode) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*mode);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, p, &data[..])
            }
            Entry::Symlink(p, target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, p, target)
            }
        };
        result.expect("writing to a Vec cannot fail");
    }
    b.into_inner().expect("writing to a Vec cannot fail")
}

/// A root filesystem layer: `busybox` (read from `busybox_path`) at
/// `/bin/busybox`, symlinks for [`APPLETS`], `/etc/os-release` holding
/// `marker`, `/etc/passwd` and `/etc/group` with root, and empty
/// `/tmp`, `/proc`, `/sys`, `/dev`.
pub fn busybox_layer(busybox_path: &Path, marker: &str) -> std::io::Result<Vec<u8>> {
    let busybox = std::fs::read(busybox_path)?;
    let mut entries = vec![
        Entry::Dir("bin".into()),
        Entry::Dir("etc".into()),
        Entry::Dir("tmp".into()),
        Entry::Dir("proc".into()),
        Entry::Dir("sys".into()),
        Entry::Dir("dev".into()),
        Entry::File("bin/busybox".into(), busybox, 0o755),
        Entry::File(
            "etc/os-release".into(),
            format!("NAME=\"dcos test image\"\nID=dcos-test\nMARKER={marker}\n").into_bytes(),
            0o644,
        ),
        Entry::File(
            "etc/passwd".into(),
            b"root:x:0:0:root:/root:/bin/sh\n".to_vec(),
            0o644,
        ),
        Entry::File("etc/group".into(), b"root:x:0:\n".to_vec(), 0o644),
    ];
    for a in APPLETS {
        entries.push(Entry::Symlink(format!("bin/{a}"), "busybox".into()));
    }
    Ok(layer_tar(&entries))
}

/// An image config JSON for `layers` (uncompressed tars).
pub fn config_json(
    architecture: &str,
    entrypoint: &[&str],
    cmd: &[&str],
    env: &[&str],
    layers: &[Vec<u8>],
) -> Vec<u8> {
    let diff_ids: Vec<String> = layers.iter().map(|l| Digest::of(l).to_string()).collect();
    serde_json::to_vec(&json!({
        "architecture": architecture,
        "os": "linux",
        "config": {
            "Entrypoint": if entrypoint.is_empty() { serde_json::Value::Null } else { json!(entrypoint) },
            "Cmd": if cmd.is_empty() { serde_json::Value::Null } else { json!(cmd) },
            "Env": env,
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .expect("JSON")
}

/// A Docker v2 schema 2 manifest for `config` and uncompressed `layers`.
pub fn manifest_json(config: &[u8], layers: &[Vec<u8>]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "digest": Digest::of(config).to_string(),
            "size": config.len(),
        },
        "layers": layers.iter().map(|l| json!({
            "mediaType": "application/vnd.docker.image.rootfs.diff.tar",
            "digest": Digest::of(l).to_string(),
            "size": l.len(),
        })).collect::<Vec<_>>(),
    }))
    .expect("JSON")
}

/// An OCI index with one entry per `(manifest, architecture)`.
pub fn index_json(manifests: &[(&[u8], &str)]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": manifests.iter().map(|(m, arch)| json!({
            "mediaType": OCI_MANIFEST,
            "digest": Digest::of(m).to_string(),
            "size": m.len(),
            "platform": {"architecture": arch, "os": "linux"},
        })).collect::<Vec<_>>(),
    }))
    .expect("JSON")
}

/// A `docker save` tarball of one image tagged `tags`.
pub fn docker_save(tags: &[&str], config: &[u8], layers: &[Vec<u8>]) -> Vec<u8> {
    let config_name = format!("{}.json", Digest::of(config).hex());
    let layer_names: Vec<String> = layers
        .iter()
        .map(|l| format!("{}/layer.tar", Digest::of(l).hex()))
        .collect();
    let manifest = serde_json::to_vec(&json!([{
        "Config": config_name,
        "RepoTags": tags,
        "Layers": layer_names,
    }]))
    .expect("JSON");
    let mut entries = vec![
        Entry::File("manifest.json".into(), manifest, 0o644),
        Entry::File(config_name, config.to_vec(), 0o644),
    ];
    for (l, name) in layers.iter().zip(&layer_names) {
        entries.push(Entry::Dir(name.trim_end_matches("/layer.tar").to_owned()));
        entries.push(Entry::File(name.clone(), l.clone(), 0o644));
    }
    layer_tar(&entries)
}
