//! Tokens and passwords: the DC/OS IAM shapes on our own keys.
//!
//! - A token is a JWT signed HS256 with the cluster secret, with the claims
//!   `uid` and `exp` (seconds since the epoch), as DC/OS's open IAM issues
//!   them; the default lifetime is 5 days ([`DEFAULT_TOKEN_LIFETIME`]).
//! - Passwords are stored as argon2id PHC strings (`$argon2id$v=19$…`),
//!   never in clear, and verified in constant time by `argon2`.
//! - Internal components (the installer, the CLI on a master) do not use
//!   the admin password: they hold the cluster secret and mint a token for
//!   a service account with [`service_token`].
//!
//! This module never logs a token, a password or the secret; its errors
//! say what was wrong without repeating the credential.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// DC/OS's default token lifetime: 5 days.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(5 * 24 * 3600);

/// The claims of a gateway token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user (or service account) the token speaks for.
    pub uid: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header (or cookie) came with the request.
    #[error("this request needs a token: send `Authorization: token=<token>` (log in with POST /acs/api/v1/auth/login)")]
    Missing,
    /// The header is not `token=<t>` or `Bearer <t>`.
    #[error("the Authorization header must be `token=<token>` or `Bearer <token>`")]
    BadScheme,
    /// The token's `exp` is in the past.
    #[error("the token has expired: log in again")]
    Expired,
    /// Bad signature, bad shape, wrong algorithm, missing claims.
    #[error("the token is not valid: {0}")]
    Invalid(String),
    /// Wrong uid or password at login.
    #[error("the uid or the password is wrong")]
    InvalidCredentials,
    /// The password could not be hashed (argon2 parameters).
    #[error("could not hash the password: {0}")]
    Hash(String),
}

impl AuthError {
    /// The DC/OS IAM error code (`code` in the JSON body).
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::InvalidCredentials => "ERR_INVALID_CREDENTIALS",
            AuthError::Missing | AuthError::BadScheme => "ERR_MISSING_AUTH_TOKEN",
            AuthError::Expired | AuthError::Invalid(_) => "ERR_INVALID_AUTH_TOKEN",
            AuthError::Hash(_) => "ERR_INTERNAL",
        }
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Signs and checks tokens with the cluster secret.
#[derive(Clone)]
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    lifetime: Duration,
}

impl std::fmt::Debug for Tokens {
    // Never print the keys.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

impl Tokens {
    pub fn new(secret: &[u8], lifetime: Duration) -> Tokens {
        Tokens {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            lifetime,
        }
    }

    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// A token for `uid`, valid for the configured lifetime from now.
    pub fn issue(&self, uid: &str) -> String {
        self.issue_until(uid, now_secs() + self.lifetime.as_secs())
    }

    /// A token for `uid` expiring at `exp` (seconds since the epoch).
    pub fn issue_until(&self, uid: &str, exp: u64) -> String {
        let claims = Claims {
            uid: uid.to_string(),
            exp,
        };
        // HS256 over a serde struct cannot fail.
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .unwrap_or_default()
    }

    /// Checks signature, algorithm (HS256 only) and expiry (no leeway).
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let mut v = Validation::new(Algorithm::HS256);
        v.leeway = 0;
        v.set_required_spec_claims(&["exp"]);
        match jsonwebtoken::decode::<Claims>(token, &self.decoding, &v) {
            Ok(data) => Ok(data.claims),
            Err(e) => match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => Err(AuthError::Expired),
                kind => Err(AuthError::Invalid(format!("{kind:?}"))),
            },
        }
    }

    /// The token of an `Authorization` header value: `token=<t>` (DC/OS)
    /// or `Bearer <t>`.
    pub fn verify_header(&self, value: &str) -> Result<Claims, AuthError> {
        let value = value.trim();
        let token = if let Some(t) = value.strip_prefix("token=") {
            t
        } else if value.len() > 7 && value[..7].eq_ignore_ascii_case("bearer ") {
            &value[7..]
        } else {
            return Err(AuthError::BadScheme);
        };
        self.verify(token.trim())
    }
}

/// The uid of the service account component `component` acts as.
pub fn service_uid(component: &str) -> String {
    format!("dcos_{component}")
}

/// A token for the service account of `component` (e.g. `installer`),
/// minted from the cluster secret, so internal callers never need a
/// user's password. Valid for [`DEFAULT_TOKEN_LIFETIME`].
pub fn service_token(secret: &[u8], component: &str) -> String {
    Tokens::new(secret, DEFAULT_TOKEN_LIFETIME).issue(&service_uid(component))
}

/// An argon2id PHC string for `password`, with a fresh random salt.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| AuthError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// Whether `password` matches the PHC string `hash` (false for a
/// malformed hash).
pub fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Constant-time equality for the join token (no early exit on the first
/// differing byte; the length is not secret).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        Tokens::new(b"cluster-secret", DEFAULT_TOKEN_LIFETIME)
    }

    #[test]
    fn a_token_round_trips_with_uid_and_exp() {
        let t = tokens();
        let token = t.issue("alice");
        let claims = t.verify(&token).unwrap();
        assert_eq!(claims.uid, "alice");
        let left = claims.exp - now_secs();
        assert!(
            (5 * 24 * 3600 - 5..=5 * 24 * 3600).contains(&left),
            "{left}"
        );
    }

    #[test]
    fn both_header_schemes_are_accepted_and_others_refused() {
        let t = tokens();
        let token = t.issue("bob");
        assert_eq!(
            t.verify_header(&format!("token={token}")).unwrap().uid,
            "bob"
        );
        assert_eq!(
            t.verify_header(&format!("Bearer {token}")).unwrap().uid,
            "bob"
        );
        assert_eq!(
            t.verify_header(&format!("bearer {token}")).unwrap().uid,
            "bob"
        );
        assert!(matches!(
            t.verify_header(&format!("Basic {token}")),
            Err(AuthError::BadScheme)
        ));
        assert!(matches!(t.verify_header(&token), Err(AuthError::BadScheme)));
    }

    #[test]
    fn expired_forged_and_garbage_tokens_are_refused() {
        let t = tokens();
        let expired = t.issue_until("alice", now_secs() - 1);
        assert!(matches!(t.verify(&expired), Err(AuthError::Expired)));

        let forged = Tokens::new(b"another-secret", DEFAULT_TOKEN_LIFETIME).issue("alice");
        assert!(matches!(t.verify(&forged), Err(AuthError::Invalid(_))));

        // Same claims, signature of another token: tampering.
        let good = t.issue("alice");
        let other = t.issue_until("mallory", now_secs() + 3600);
        let (head_body, _) = other.rsplit_once('.').unwrap();
        let (_, sig) = good.rsplit_once('.').unwrap();
        assert!(t.verify(&format!("{head_body}.{sig}")).is_err());

        assert!(t.verify("not.a.jwt").is_err());
        assert!(t.verify("").is_err());
    }

    #[test]
    fn alg_none_is_refused() {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = b64.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let body = b64.encode(format!(r#"{{"uid":"root","exp":{}}}"#, now_secs() + 3600));
        assert!(tokens().verify(&format!("{header}.{body}.")).is_err());
    }

    #[test]
    fn service_tokens_verify_with_the_secret_only() {
        let token = service_token(b"s3cret", "installer");
        let t = Tokens::new(b"s3cret", DEFAULT_TOKEN_LIFETIME);
        assert_eq!(t.verify(&token).unwrap().uid, "dcos_installer");
        assert!(Tokens::new(b"other", DEFAULT_TOKEN_LIFETIME)
            .verify(&token)
            .is_err());
    }

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(!h.contains("correct horse"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("correct horse", "not a hash"));
        // A fresh salt every time.
        assert_ne!(h, hash_password("correct horse").unwrap());
    }

    #[test]
    fn constant_time_eq_compares_contents_and_length() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
