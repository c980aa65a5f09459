//! Pulling from a Docker / OCI distribution registry (API v2) over HTTP(S)
//! with reqwest: manifest (a manifest list or OCI index is resolved to
//! linux/amd64), config, then each layer not already stored, streamed to
//! staging while hashed, verified, unpacked, renamed into place.
//!
//! Authentication follows the registry's `WWW-Authenticate` challenge:
//! `Bearer` (token service, with basic credentials when given) or
//! `Basic`. Loopback registries are spoken to over plain HTTP (Docker
//! treats them as insecure); every other registry over HTTPS.
//!
//! Owns the wire protocol; storing is [`crate::store`]'s.

use std::io::Write;

use crate::image::{
    AnyManifest, ImageConfig, ImageError, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX,
    OCI_MANIFEST,
};
use crate::reference::ImageRef;
use crate::store::{Digest, ImageStore, StoreError, StoredImage};

/// Errors of pulling. The messages are what a task's TASK_FAILED says.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// Nothing answers at the registry's address.
    #[error("registry {registry} is unreachable: {message}")]
    Unreachable {
        /// Host and port.
        registry: String,
        /// The connection error.
        message: String,
    },
    /// The registry has no such repository or tag.
    #[error("image '{image}' was not found in registry {registry}")]
    NotFound {
        /// The image.
        image: String,
        /// Host and port.
        registry: String,
    },
    /// Credentials missing or refused.
    #[error("registry {registry} refused access to '{image}': {message}")]
    Unauthorized {
        /// The image.
        image: String,
        /// Host and port.
        registry: String,
        /// What the registry said.
        message: String,
    },
    /// Any other registry answer.
    #[error("registry {registry} answered {status} for {url}: {message}")]
    Registry {
        /// Host and port.
        registry: String,
        /// The URL asked.
        url: String,
        /// HTTP status.
        status: u16,
        /// The body (shortened).
        message: String,
    },
    /// The image JSON is invalid or for another platform.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// Storing failed, including digest mismatches.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Basic credentials for a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password or token.
    pub password: String,
}

/// A registry client for one image.
struct Client {
    http: reqwest::Client,
    image: ImageRef,
    base: String,
    credentials: Option<Credentials>,
    /// The `Authorization` header that worked.
    auth: Option<String>,
}

/// Pulls `image` into `store` (reusing stored layers) and records it.
pub async fn pull(
    store: &ImageStore,
    image: &ImageRef,
    credentials: Option<Credentials>,
) -> Result<StoredImage, PullError> {
    let scheme = if image.is_loopback_registry() {
        "http"
    } else {
        "https"
    };
    let mut client = Client {
        http: reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| PullError::Unreachable {
                registry: image.registry.clone(),
                message: e.to_string(),
            })?,
        base: format!("{scheme}://{}/v2/{}", image.registry, image.repository),
        image: image.clone(),
        credentials,
        auth: None,
    };
    let name = image.to_string();
    let (mut bytes, mut content_type) = client.manifest(image.manifest_reference()).await?;
    let mut manifest_digest = Digest::of(&bytes);
    if let Some(pinned) = &image.digest {
        check(&manifest_digest, pinned, "manifest")?;
    }
    let manifest = loop {
        match AnyManifest::parse(&bytes, &content_type)? {
            AnyManifest::Image(m) => break m,
            AnyManifest::Index(index) => {
                let chosen = index.pick(&name)?.digest.clone();
                (bytes, content_type) = client.manifest(chosen.as_str()).await?;
                manifest_digest = Digest::of(&bytes);
                check(&manifest_digest, chosen.as_str(), "manifest")?;
            }
        }
    };
    let config_digest = manifest.config.digest.clone();
    let config_bytes = match store.read_blob(&config_digest) {
        Some(b) => b,
        None => {
            let b = client.blob_bytes(&config_digest).await?;
            store.put_blob(&b, &config_digest, "image config")?;
            b
        }
    };
    let config = ImageConfig::parse(&config_bytes, config_digest)?;
    config.check_platform(&name)?;
    for layer in &manifest.layers {
        if store.has_layer(&layer.digest) {
            continue;
        }
        let lock = store.lock(&layer.digest)?;
        if store.has_layer(&layer.digest) {
            continue; // another pull finished it while we waited
        }
        let mut staged = store.stage()?;
        client.blob_to(&layer.digest, &mut staged).await?;
        store.commit_layer(staged, &layer.digest, &lock)?;
    }
    store.put_blob(&bytes, &manifest_digest, "manifest")?;
    let stored = StoredImage {
        name,
        manifest_digest,
        config,
        layers: manifest.layers.iter().map(|l| l.digest.clone()).collect(),
    };
    store.put_image(&stored)?;
    Ok(stored)
}

fn check(actual: &Digest, expected: &str, what: &str) -> Result<(), StoreError> {
    if actual.as_str() != expected {
        return Err(StoreError::DigestMismatch {
            what: what.to_owned(),
            expected: expected.to_owned(),
            actual: actual.to_string(),
        });
    }
    Ok(())
}

/// `key="value"` pairs of a challenge.
fn challenge_params(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq]
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = &rest[eq + 1..];
        let (value, tail) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (&quoted[..end], &quoted[end + 1..]),
                None => (quoted, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        out.push((key, value.to_owned()));
        rest = tail;
    }
    out
}

impl Client {
    fn unreachable(&self, e: &reqwest::Error) -> PullError {
        let mut message = e.to_string();
        let mut src = std::error::Error::source(e);
        while let Some(s) = src {
            message = format!("{message}: {s}");
            src = s.source();
        }
        PullError::Unreachable {
            registry: self.image.registry.clone(),
            message,
        }
    }

    /// GET `url` with the current authorization; on 401 answers the
    /// challenge once and retries.
    async fn get(
        &mut self,
        url: &str,
        accept: Option<&str>,
    ) -> Result<reqwest::Response, PullError> {
        for attempt in 0..2 {
            let mut req = self.http.get(url);
            if let Some(a) = accept {
                req = req.header("Accept", a);
            }
            if let Some(auth) = &self.auth {
                req = req.header("Authorization", auth);
            }
            let resp = req.send().await.map_err(|e| self.unreachable(&e))?;
            if resp.status() != reqwest::StatusCode::UNAUTHORIZED || attempt == 1 {
                return Ok(resp);
            }
            let challenge = resp
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            self.authenticate(&challenge).await?;
        }
        unreachable!("the loop returns on its second attempt")
    }

    async fn authenticate(&mut self, challenge: &str) -> Result<(), PullError> {
        use base64::Engine as _;
        let denied = |message: String| PullError::Unauthorized {
            image: self.image.to_string(),
            registry: self.image.registry.clone(),
            message,
        };
        let (scheme, params) = challenge.split_once(' ').unwrap_or((challenge, ""));
        let basic = self.credentials.as_ref().map(|c| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD
                    .encode(format!("{}:{}", c.username, c.password))
            )
        });
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => {
                self.auth = Some(basic.ok_or_else(|| denied("credentials required".into()))?);
                Ok(())
            }
            "bearer" => {
                let params = challenge_params(params);
                let get = |k: &str| {
                    params
                        .iter()
                        .find(|(key, _)| key == k)
                        .map(|(_, v)| v.clone())
                };
                let realm = get("realm")
                    .ok_or_else(|| denied("a Bearer challenge without realm".into()))?;
                let mut query = Vec::new();
                if let Some(s) = get("service") {
                    query.push(("service", s));
                }
                query.push((
                    "scope",
                    get("scope")
                        .unwrap_or_else(|| format!("repository:{}:pull", self.image.repository)),
                ));
                let mut req = self.http.get(&realm).query(&query);
                if let Some(b) = &basic {
                    req = req.header("Authorization", b);
                }
                let resp = req.send().await.map_err(|e| self.unreachable(&e))?;
                if !resp.status().is_success() {
                    return Err(denied(format!(
                        "the token service at {realm} answered {}",
                        resp.status()
                    )));
                }
                let body: serde_json::Value = resp
                    .json()
                    .await
                    .map_err(|e| denied(format!("the token service's answer: {e}")))?;
                let token = body
                    .get("token")
                    .or_else(|| body.get("access_token"))
                    .and_then(|t| t.as_str())
                    .ok_or_else(|| denied("the token service returned no token".into()))?;
                self.auth = Some(format!("Bearer {token}"));
                Ok(())
            }
            _ => Err(denied(format!(
                "unsupported authentication challenge '{challenge}'"
            ))),
        }
    }

    async fn fail(&self, url: &str, resp: reqwest::Response) -> PullError {
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        let message: String = body.chars().take(300).collect();
        match status {
            401 | 403 => PullError::Unauthorized {
                image: self.image.to_string(),
                registry: self.image.registry.clone(),
                message,
            },
            404 => PullError::NotFound {
                image: self.image.to_string(),
                registry: self.image.registry.clone(),
            },
            _ => PullError::Registry {
                registry: self.image.registry.clone(),
                url: url.to_owned(),
                status,
                message,
            },
        }
    }

    async fn manifest(&mut self, reference: &str) -> Result<(Vec<u8>, String), PullError> {
        let url = format!("{}/manifests/{reference}", self.base);
        let accept = [
            OCI_INDEX,
            DOCKER_MANIFEST_LIST,
            OCI_MANIFEST,
            DOCKER_MANIFEST,
        ]
        .join(", ");
        let resp = self.get(&url, Some(&accept)).await?;
        if !resp.status().is_success() {
            return Err(self.fail(&url, resp).await);
        }
        let ctype = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = resp.bytes().await.map_err(|e| self.unreachable(&e))?;
        Ok((bytes.to_vec(), ctype))
    }

    async fn blob_response(&mut self, digest: &Digest) -> Result<reqwest::Response, PullError> {
        let url = format!("{}/blobs/{digest}", self.base);
        let resp = self.get(&url, None).await?;
        if !resp.status().is_success() {
            return Err(self.fail(&url, resp).await);
        }
        Ok(resp)
    }

    async fn blob_bytes(&mut self, digest: &Digest) -> Result<Vec<u8>, PullError> {
        let resp = self.blob_response(digest).await?;
        Ok(resp
            .bytes()
            .await
            .map_err(|e| self.unreachable(&e))?
            .to_vec())
    }

    async fn blob_to(&mut self, digest: &Digest, out: &mut impl Write) -> Result<(), PullError> {
        let mut resp = self.blob_response(digest).await?;
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.unreachable(&e))? {
            out.write_all(&chunk).map_err(|source| StoreError::Io {
                what: format!("staging layer {digest}"),
                source,
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_challenges() {
        let p = challenge_params(
            r#"realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
        );
        assert_eq!(
            p[0],
            ("realm".into(), "https://auth.docker.io/token".into())
        );
        assert_eq!(p[1], ("service".into(), "registry.docker.io".into()));
        assert_eq!(p[2].1, "repository:library/busybox:pull");
    }
}
