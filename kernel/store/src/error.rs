//! The one error type of the KV API. It is serialisable so that the HTTP
//! server sends it as `{"error": "<code>", "message": "...", ...details}`
//! and the client turns that body back into the same variant.

use serde::{Deserialize, Serialize};

/// Everything a KV call can answer besides success. The messages are what
/// the user reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum KvError {
    /// The compared revision is not the key's current one.
    #[error("compare-and-set failed on {key:?}: expected mod_revision {expected}, found {actual}")]
    CasFailed {
        key: String,
        expected: u64,
        actual: u64,
    },
    #[error("key {key:?} not found")]
    KeyNotFound { key: String },
    #[error("lease {id} not found (expired or revoked)")]
    LeaseNotFound { id: u64 },
    #[error("lease {id} already exists")]
    LeaseExists { id: u64 },
    /// A watch asked for history that was compacted away: re-read, then
    /// watch from the revision the read returned.
    #[error("revision {requested} is compacted (oldest watchable revision is {})", compact_revision + 1)]
    Compacted {
        requested: u64,
        compact_revision: u64,
    },
    #[error("invalid request: {reason}")]
    InvalidArgument { reason: String },
    #[error("value of {size} bytes is larger than the limit of {limit} bytes")]
    ValueTooLarge { size: usize, limit: usize },
    /// This node is not the leader; `leader_addr` is where to go instead.
    #[error("not the leader{}", leader_addr.as_ref().map(|a| format!("; the leader is at {a}")).unwrap_or_else(|| "; no leader is elected yet".into()))]
    NotLeader { leader_addr: Option<String> },
    #[error("store unavailable: {reason}")]
    Unavailable { reason: String },
    #[error("internal store error: {reason}")]
    Internal { reason: String },
}

impl KvError {
    pub fn invalid(reason: impl Into<String>) -> Self {
        KvError::InvalidArgument {
            reason: reason.into(),
        }
    }

    pub fn unavailable(reason: impl std::fmt::Display) -> Self {
        KvError::Unavailable {
            reason: reason.to_string(),
        }
    }

    pub fn internal(reason: impl std::fmt::Display) -> Self {
        KvError::Internal {
            reason: reason.to_string(),
        }
    }

    /// The HTTP status the API answers this error with.
    pub fn status_code(&self) -> u16 {
        match self {
            KvError::CasFailed { .. } | KvError::LeaseExists { .. } => 409,
            KvError::KeyNotFound { .. } | KvError::LeaseNotFound { .. } => 404,
            KvError::Compacted { .. } => 410,
            KvError::InvalidArgument { .. } => 400,
            KvError::ValueTooLarge { .. } => 413,
            KvError::NotLeader {
                leader_addr: Some(_),
            } => 307,
            KvError::NotLeader { leader_addr: None } | KvError::Unavailable { .. } => 503,
            KvError::Internal { .. } => 500,
        }
    }

    /// The short code that names the error on the wire.
    pub fn code(&self) -> &'static str {
        match self {
            KvError::CasFailed { .. } => "cas_failed",
            KvError::KeyNotFound { .. } => "key_not_found",
            KvError::LeaseNotFound { .. } => "lease_not_found",
            KvError::LeaseExists { .. } => "lease_exists",
            KvError::Compacted { .. } => "compacted",
            KvError::InvalidArgument { .. } => "invalid_argument",
            KvError::ValueTooLarge { .. } => "value_too_large",
            KvError::NotLeader { .. } => "not_leader",
            KvError::Unavailable { .. } => "unavailable",
            KvError::Internal { .. } => "internal",
        }
    }

    /// The JSON body of the HTTP answer: the variant's fields, its code and
    /// the human message.
    pub fn to_body(&self) -> serde_json::Value {
        let mut body = serde_json::to_value(self).unwrap_or_else(|_| serde_json::json!({}));
        if let Some(map) = body.as_object_mut() {
            map.insert("error".into(), self.code().into());
            map.insert("message".into(), self.to_string().into());
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_round_trips_through_json() {
        let err = KvError::CasFailed {
            key: "/a".into(),
            expected: 3,
            actual: 5,
        };
        let body = err.to_body();
        assert_eq!(body["error"], "cas_failed");
        assert!(body["message"]
            .as_str()
            .unwrap()
            .contains("expected mod_revision 3"));
        let back: KvError = serde_json::from_value(body).unwrap();
        assert_eq!(back, err);
    }
}
