//! Image JSON: manifests, manifest lists / OCI indexes, and the image
//! config (what to run: entrypoint, cmd, env, working dir, user), in both
//! the Docker v2 schema 2 and the OCI spellings (they share field names).
//!
//! Owns parsing and the platform choice; no I/O.

use serde::{Deserialize, Serialize};

use crate::store::Digest;

/// Docker's manifest list media type.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker's image manifest media type.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// OCI's image index media type.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI's image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// The one platform this agent runs.
pub const PLATFORM: (&str, &str) = ("linux", "amd64");

/// Errors of image JSON.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// Not the JSON shape expected.
    #[error("invalid {what}: {message}")]
    Invalid {
        /// Manifest, index or config.
        what: &'static str,
        /// The parser's message.
        message: String,
    },
    /// No entry for linux/amd64.
    #[error("image '{image}' has no linux/amd64 variant (it is built for {available})")]
    WrongArchitecture {
        /// The image.
        image: String,
        /// The platforms it has.
        available: String,
    },
}

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type.
    #[serde(default)]
    pub media_type: String,
    /// Content digest.
    pub digest: Digest,
    /// Size in bytes.
    #[serde(default)]
    pub size: u64,
    /// For index entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

/// An index entry's platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// `amd64`, `arm64`, …
    pub architecture: String,
    /// `linux`, …
    pub os: String,
    /// `v8`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// An image manifest (Docker v2 schema 2 or OCI).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// 2.
    pub schema_version: u32,
    /// Media type (optional in OCI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The image config blob.
    pub config: Descriptor,
    /// Layer blobs, bottom first.
    pub layers: Vec<Descriptor>,
}

/// A manifest list or OCI index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// 2.
    pub schema_version: u32,
    /// Media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// One manifest per platform.
    pub manifests: Vec<Descriptor>,
}

/// A manifest or an index, told apart by media type or shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnyManifest {
    /// One image.
    Image(Manifest),
    /// One image per platform.
    Index(Index),
}

impl AnyManifest {
    /// Parses `bytes` (served with `content_type`, which may be empty).
    pub fn parse(bytes: &[u8], content_type: &str) -> Result<Self, ImageError> {
        let v: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| ImageError::Invalid {
                what: "manifest",
                message: e.to_string(),
            })?;
        let media = v
            .get("mediaType")
            .and_then(|m| m.as_str())
            .unwrap_or(content_type);
        let is_index = media.contains("manifest.list")
            || media.contains("image.index")
            || v.get("manifests").is_some();
        if is_index {
            serde_json::from_value(v)
                .map(AnyManifest::Index)
                .map_err(|e| ImageError::Invalid {
                    what: "manifest list",
                    message: e.to_string(),
                })
        } else {
            if v.get("schemaVersion").and_then(|s| s.as_u64()) == Some(1) {
                return Err(ImageError::Invalid {
                    what: "manifest",
                    message: "schema version 1 manifests are not supported".into(),
                });
            }
            serde_json::from_value(v)
                .map(AnyManifest::Image)
                .map_err(|e| ImageError::Invalid {
                    what: "manifest",
                    message: e.to_string(),
                })
        }
    }
}

impl Index {
    /// The linux/amd64 entry, or [`ImageError::WrongArchitecture`].
    pub fn pick(&self, image: &str) -> Result<&Descriptor, ImageError> {
        self.manifests
            .iter()
            .find(|d| {
                d.platform
                    .as_ref()
                    .is_some_and(|p| p.os == PLATFORM.0 && p.architecture == PLATFORM.1)
            })
            .ok_or_else(|| ImageError::WrongArchitecture {
                image: image.to_owned(),
                available: platforms(self.manifests.iter().filter_map(|d| d.platform.as_ref())),
            })
    }
}

fn platforms<'a>(ps: impl Iterator<Item = &'a Platform>) -> String {
    let list: Vec<String> = ps
        .map(|p| match &p.variant {
            Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
            None => format!("{}/{}", p.os, p.architecture),
        })
        .collect();
    if list.is_empty() {
        "no platform".into()
    } else {
        list.join(", ")
    }
}

/// What the image says to run, kept in the store's image record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// The config blob's digest (the image ID).
    pub digest: Digest,
    /// `amd64`, …
    pub architecture: String,
    /// `linux`, …
    pub os: String,
    /// `Entrypoint`.
    pub entrypoint: Vec<String>,
    /// `Cmd`.
    pub cmd: Vec<String>,
    /// `Env`, `NAME=value`.
    pub env: Vec<String>,
    /// `WorkingDir` (empty: not set).
    pub working_dir: String,
    /// `User` (`name`, `uid`, `uid:gid`, `name:group`; empty: root).
    pub user: String,
    /// `rootfs.diff_ids`: digests of the uncompressed layers.
    pub diff_ids: Vec<Digest>,
}

impl Default for Digest {
    fn default() -> Self {
        Digest::of(b"")
    }
}

#[derive(Deserialize)]
struct RawConfig {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
    #[serde(default)]
    config: Option<RawRunConfig>,
    #[serde(default)]
    rootfs: Option<RawRootfs>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct RawRunConfig {
    #[serde(default)]
    entrypoint: Option<Vec<String>>,
    #[serde(default)]
    cmd: Option<Vec<String>>,
    #[serde(default)]
    env: Option<Vec<String>>,
    #[serde(default)]
    working_dir: Option<String>,
    #[serde(default)]
    user: Option<String>,
}

#[derive(Deserialize)]
struct RawRootfs {
    #[serde(default)]
    diff_ids: Vec<Digest>,
}

impl ImageConfig {
    /// Parses a config blob whose digest is `digest`.
    pub fn parse(bytes: &[u8], digest: Digest) -> Result<Self, ImageError> {
        let raw: RawConfig = serde_json::from_slice(bytes).map_err(|e| ImageError::Invalid {
            what: "image config",
            message: e.to_string(),
        })?;
        let c = raw.config.unwrap_or_default();
        Ok(Self {
            digest,
            architecture: raw.architecture,
            os: raw.os,
            entrypoint: c.entrypoint.unwrap_or_default(),
            cmd: c.cmd.unwrap_or_default(),
            env: c.env.unwrap_or_default(),
            working_dir: c.working_dir.unwrap_or_default(),
            user: c.user.unwrap_or_default(),
            diff_ids: raw.rootfs.map(|r| r.diff_ids).unwrap_or_default(),
        })
    }

    /// Fails unless the image is for linux/amd64 (an empty field is taken
    /// as the default, as Docker does for old images).
    pub fn check_platform(&self, image: &str) -> Result<(), ImageError> {
        let os_ok = self.os.is_empty() || self.os == PLATFORM.0;
        let arch_ok = self.architecture.is_empty() || self.architecture == PLATFORM.1;
        if os_ok && arch_ok {
            Ok(())
        } else {
            Err(ImageError::WrongArchitecture {
                image: image.to_owned(),
                available: format!("{}/{}", self.os, self.architecture),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_picks_linux_amd64_or_says_what_there_is() {
        let d = Digest::of(b"x");
        let index = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[
               {{"mediaType":"{OCI_MANIFEST}","digest":"{d}","size":1,"platform":{{"architecture":"arm64","os":"linux","variant":"v8"}}}}]}}"#
        );
        let AnyManifest::Index(i) = AnyManifest::parse(index.as_bytes(), "").unwrap() else {
            panic!("not an index")
        };
        let err = i.pick("img").unwrap_err();
        assert_eq!(
            err.to_string(),
            "image 'img' has no linux/amd64 variant (it is built for linux/arm64/v8)"
        );
    }

    #[test]
    fn config_fields() {
        let c = br#"{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/bin/sh"],"Cmd":["-c","x"],"Env":["PATH=/bin"],"WorkingDir":"/w","User":"1000:1000"},"rootfs":{"type":"layers","diff_ids":[]}}"#;
        let cfg = ImageConfig::parse(c, Digest::of(c)).unwrap();
        assert_eq!(cfg.entrypoint, ["/bin/sh"]);
        assert_eq!(cfg.cmd, ["-c", "x"]);
        assert_eq!(cfg.user, "1000:1000");
        assert!(cfg.check_platform("i").is_ok());
        let arm = br#"{"architecture":"arm64","os":"linux"}"#;
        let cfg = ImageConfig::parse(arm, Digest::of(arm)).unwrap();
        assert!(matches!(
            cfg.check_platform("i"),
            Err(ImageError::WrongArchitecture { .. })
        ));
    }
}
