//! Image references: `[REGISTRY[:PORT]/]REPOSITORY[:TAG|@DIGEST]`, parsed
//! the way Docker does (the first component is a registry when it has a
//! `.` or a `:`, or is `localhost`; otherwise the image is on Docker Hub,
//! under `library/` when it has one component).
//!
//! Owns parsing and the canonical name; no I/O.

use std::fmt;

/// Docker Hub's registry host.
pub const DOCKER_HUB: &str = "registry-1.docker.io";

/// Errors of parsing a reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// Empty, or a component that is not a valid name.
    #[error("'{0}' is not a valid image reference")]
    Invalid(String),
}

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    /// Registry host and port (`DOCKER_HUB` when not given).
    pub registry: String,
    /// Repository path (`library/busybox`).
    pub repository: String,
    /// Tag (`latest` when neither tag nor digest is given).
    pub tag: Option<String>,
    /// `sha256:…` digest, when pinned.
    pub digest: Option<String>,
}

impl ImageRef {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<Self, ReferenceError> {
        let bad = || ReferenceError::Invalid(text.to_owned());
        let text = text.trim();
        if text.is_empty() || text.contains(char::is_whitespace) || text.contains("://") {
            return Err(bad());
        }
        let (rest, digest) = match text.split_once('@') {
            Some((r, d)) => {
                let hex = d.strip_prefix("sha256:").ok_or_else(bad)?;
                if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(bad());
                }
                (r, Some(d.to_ascii_lowercase()))
            }
            None => (text, None),
        };
        // A tag is after the last ':' that comes after the last '/'.
        let slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match rest[slash..].rfind(':') {
            Some(i) => (&rest[..slash + i], Some(rest[slash + i + 1..].to_owned())),
            None => (rest, None),
        };
        let (registry, repository) = match name.split_once('/') {
            Some((first, repo))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_owned(), repo.to_owned())
            }
            _ if !name.contains('/') => (DOCKER_HUB.to_owned(), format!("library/{name}")),
            _ => (DOCKER_HUB.to_owned(), name.to_owned()),
        };
        let valid_component = |c: &str| {
            !c.is_empty()
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        };
        if !repository.split('/').all(valid_component) {
            return Err(bad());
        }
        if let Some(t) = &tag {
            if t.is_empty()
                || t.len() > 128
                || !t
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            {
                return Err(bad());
            }
        }
        let tag = match (&tag, &digest) {
            (None, None) => Some("latest".to_owned()),
            _ => tag,
        };
        Ok(Self {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// What to ask the registry's manifest endpoint for: the digest if
    /// pinned, else the tag.
    pub fn manifest_reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }

    /// Whether the registry is on this machine (spoken to over plain HTTP,
    /// as Docker treats loopback registries as insecure).
    pub fn is_loopback_registry(&self) -> bool {
        let host = self
            .registry
            .rsplit_once(':')
            .map(|(h, _)| h)
            .unwrap_or(&self.registry);
        host == "localhost" || host.starts_with("127.") || host == "[::1]"
    }
}

impl fmt::Display for ImageRef {
    /// The canonical name: `registry/repository[:tag][@digest]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_names() {
        let r = ImageRef::parse("busybox").unwrap();
        assert_eq!(r.registry, DOCKER_HUB);
        assert_eq!(r.repository, "library/busybox");
        assert_eq!(r.tag.as_deref(), Some("latest"));
        let r = ImageRef::parse("mesosphere/marathon:1.4").unwrap();
        assert_eq!(r.repository, "mesosphere/marathon");
        assert_eq!(r.tag.as_deref(), Some("1.4"));
    }

    #[test]
    fn registry_with_port_tag_and_digest() {
        let d = format!("sha256:{}", "a".repeat(64));
        let r = ImageRef::parse(&format!("127.0.0.1:5000/team/app:v1@{d}")).unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "team/app");
        assert_eq!(r.tag.as_deref(), Some("v1"));
        assert_eq!(r.digest.as_deref(), Some(d.as_str()));
        assert_eq!(r.manifest_reference(), d);
        assert!(r.is_loopback_registry());
        let r = ImageRef::parse("localhost/app").unwrap();
        assert_eq!(r.registry, "localhost");
        assert_eq!(r.to_string(), "localhost/app:latest");
    }

    #[test]
    fn rejects_bad_references() {
        for bad in ["", "UPPER/case", "a b", "x@sha256:12", "http://x/y", "x:"] {
            assert!(ImageRef::parse(bad).is_err(), "{bad}");
        }
    }
}
