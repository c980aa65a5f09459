//! Master URLs: from a configured base URL to the scheduler endpoint, and
//! from a `307`'s `Location` to the leader's base URL.
//!
//! Masters redirect in three shapes, all handled by [`MasterUrl::follow`]:
//! Mesos' protocol-relative `//host:5050/api/v1/scheduler` (the path of the
//! request that was redirected), `/master/redirect`'s bare `//host:5050`,
//! and absolute `http://host:5050/…` from proxies. Pure; no I/O.

use std::fmt;

use reqwest::Url;

use super::ClientError;

/// The path of the scheduler API under a master's base URL.
pub const SCHEDULER_PATH: &str = "/api/v1/scheduler";

/// A master's base URL (`http://host:5050`, or with a path prefix when a
/// gateway is in front: `http://dcos/mesos`), never with a trailing `/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MasterUrl {
    base: Url,
}

impl MasterUrl {
    /// Parses a configured master: a URL, or a bare `host:port` (meaning
    /// `http://host:port`). Query and fragment are dropped.
    pub fn parse(text: &str) -> Result<Self, ClientError> {
        let full = if text.contains("://") {
            text.to_owned()
        } else {
            format!("http://{text}")
        };
        let url = Url::parse(&full).map_err(|e| ClientError::InvalidMasterUrl {
            url: text.to_owned(),
            reason: e.to_string(),
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ClientError::InvalidMasterUrl {
                url: text.to_owned(),
                reason: "the scheme must be http or https".to_owned(),
            });
        }
        if url.cannot_be_a_base() || url.host_str().is_none() {
            return Err(ClientError::InvalidMasterUrl {
                url: text.to_owned(),
                reason: "no host".to_owned(),
            });
        }
        Ok(Self::from_url(url))
    }

    /// The base of any URL: its scheme, host, port and path, minus a
    /// trailing scheduler path and trailing slashes.
    fn from_url(mut url: Url) -> Self {
        url.set_query(None);
        url.set_fragment(None);
        let path = url.path().trim_end_matches('/');
        let path = path.strip_suffix(SCHEDULER_PATH).unwrap_or(path);
        let path = path.trim_end_matches('/').to_owned();
        url.set_path(&path);
        Self { base: url }
    }

    /// The URL to POST scheduler calls to.
    pub fn scheduler_endpoint(&self) -> Url {
        let mut url = self.base.clone();
        let path = format!("{}{SCHEDULER_PATH}", self.base.path().trim_end_matches('/'));
        url.set_path(&path);
        url
    }

    /// The master a `307` from this master's scheduler endpoint points to.
    /// `location` may be absolute, protocol-relative or path-absolute.
    pub fn follow(&self, location: &str) -> Result<Self, String> {
        let target = self
            .scheduler_endpoint()
            .join(location.trim())
            .map_err(|e| format!("Location {location:?} is not a URL: {e}"))?;
        if target.host_str().is_none() {
            return Err(format!("Location {location:?} names no host"));
        }
        Ok(Self::from_url(target))
    }
}

/// A redirect's `Location` header, empty when missing or not text.
pub(crate) fn location(headers: &reqwest::header::HeaderMap) -> &str {
    headers
        .get(reqwest::header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .unwrap_or_default()
}

impl fmt::Display for MasterUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `Url` always has a path; print the root one as nothing.
        let s = self.base.as_str();
        f.write_str(s.strip_suffix('/').unwrap_or(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(text: &str) -> MasterUrl {
        MasterUrl::parse(text).unwrap()
    }

    #[test]
    fn parses_configured_masters() {
        assert_eq!(m("http://m1:5050").to_string(), "http://m1:5050");
        assert_eq!(m("m1:5050").to_string(), "http://m1:5050");
        assert_eq!(m("http://m1:5050/").to_string(), "http://m1:5050");
        assert_eq!(m("http://dcos/mesos/").to_string(), "http://dcos/mesos");
        assert_eq!(
            m("http://m1:5050/api/v1/scheduler").to_string(),
            "http://m1:5050"
        );
        assert!(MasterUrl::parse("http://").is_err());
        assert!(MasterUrl::parse("ftp://m1:5050").is_err());
    }

    #[test]
    fn builds_the_scheduler_endpoint() {
        assert_eq!(
            m("m1:5050").scheduler_endpoint().as_str(),
            "http://m1:5050/api/v1/scheduler"
        );
        assert_eq!(
            m("http://dcos/mesos").scheduler_endpoint().as_str(),
            "http://dcos/mesos/api/v1/scheduler"
        );
    }

    #[test]
    fn follows_every_location_shape() {
        let here = m("http://m1:5050");
        // What a Mesos follower sends for the scheduler API.
        assert_eq!(
            here.follow("//m2:5050/api/v1/scheduler")
                .unwrap()
                .to_string(),
            "http://m2:5050"
        );
        // What /master/redirect sends.
        assert_eq!(
            here.follow("//m3:5050").unwrap().to_string(),
            "http://m3:5050"
        );
        // Absolute, from a proxy, with a prefix.
        assert_eq!(
            here.follow("http://gw/mesos/api/v1/scheduler?x=1")
                .unwrap()
                .to_string(),
            "http://gw/mesos"
        );
        // The legacy `/master/api/v1/scheduler` alias keeps its prefix.
        assert_eq!(
            here.follow("//m2:5050/master/api/v1/scheduler")
                .unwrap()
                .scheduler_endpoint()
                .as_str(),
            "http://m2:5050/master/api/v1/scheduler"
        );
        // Path-absolute stays on the same host.
        assert_eq!(
            m("http://gw/mesos")
                .follow("/other/api/v1/scheduler")
                .unwrap()
                .to_string(),
            "http://gw/other"
        );
        assert!(here.follow("http://").is_err());
    }
}
