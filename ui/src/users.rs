//! Users, kept in the replicated store under `/acs/users/<uid>` as JSON
//! `{"uid","description","password_hash"}` (argon2id PHC string), so every
//! gateway on every master sees the same accounts and the gateway itself
//! holds no state. Reached through the [`Kv`] trait: the store's HTTP
//! client in production, `MemStore` in unit tests.

use std::sync::Arc;

use dcos_store::types::{DeleteRequest, PutRequest, RangeRequest};
use dcos_store::{Kv, KvError};
use serde::{Deserialize, Serialize};

use crate::auth::{self, AuthError};

/// The store prefix of user records.
pub const PREFIX: &str = "/acs/users/";

/// A stored user (the hash never leaves the gateway: see [`UserView`]).
#[derive(Clone, Serialize, Deserialize)]
pub struct UserRecord {
    pub uid: String,
    #[serde(default)]
    pub description: String,
    pub password_hash: String,
}

impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("uid", &self.uid)
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

/// A user as the users API shows it (DC/OS IAM's user object).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    pub uid: String,
    pub description: String,
    pub url: String,
    pub is_remote: bool,
    pub is_service: bool,
}

impl From<&UserRecord> for UserView {
    fn from(u: &UserRecord) -> Self {
        UserView {
            uid: u.uid.clone(),
            description: u.description.clone(),
            url: format!("/acs/api/v1/users/{}", u.uid),
            is_remote: false,
            is_service: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// The store did not answer (or refused) the read or write.
    #[error("the user store is unavailable: {0}")]
    Store(#[from] KvError),
    /// A stored record is not valid JSON.
    #[error("the stored record of user {uid} is corrupt: {reason}")]
    Corrupt { uid: String, reason: String },
    /// `uid` is empty or has characters outside `[A-Za-z0-9@._-]`.
    #[error("invalid uid {0:?}: use letters, digits, '@', '.', '_' and '-' (1 to 96 characters)")]
    InvalidUid(String),
    /// An empty password.
    #[error("the password must not be empty")]
    EmptyPassword,
    #[error("user {0} not found")]
    NotFound(String),
    /// Creating a user whose uid is taken.
    #[error("user {0} already exists")]
    Exists(String),
    #[error(transparent)]
    Auth(#[from] AuthError),
}

/// Checks a uid: DC/OS allows `[a-zA-Z0-9@._-]`, which also keeps store
/// keys and URLs plain.
pub fn validate_uid(uid: &str) -> Result<(), UserError> {
    let ok = !uid.is_empty()
        && uid.len() <= 96
        && uid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '@' | '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(UserError::InvalidUid(uid.to_string()))
    }
}

/// The user accounts.
#[derive(Clone)]
pub struct Users {
    store: Arc<dyn Kv>,
}

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Users")
    }
}

impl Users {
    pub fn new(store: Arc<dyn Kv>) -> Users {
        Users { store }
    }

    fn key(uid: &str) -> String {
        format!("{PREFIX}{uid}")
    }

    fn decode(uid: &str, value: &[u8]) -> Result<UserRecord, UserError> {
        serde_json::from_slice(value).map_err(|e| UserError::Corrupt {
            uid: uid.to_string(),
            reason: e.to_string(),
        })
    }

    pub async fn get(&self, uid: &str) -> Result<Option<UserRecord>, UserError> {
        validate_uid(uid)?;
        match self.store.get(&Self::key(uid)).await? {
            Some(kv) => Ok(Some(Self::decode(uid, &kv.value)?)),
            None => Ok(None),
        }
    }

    /// Every user, by uid.
    pub async fn list(&self) -> Result<Vec<UserRecord>, UserError> {
        let mut out = Vec::new();
        let mut start_after = None;
        loop {
            let page = self
                .store
                .range(RangeRequest {
                    key: PREFIX.to_string(),
                    prefix: true,
                    limit: 500,
                    start_after: start_after.clone(),
                    ..Default::default()
                })
                .await?;
            for kv in &page.kvs {
                let uid = kv.key.trim_start_matches(PREFIX);
                out.push(Self::decode(uid, &kv.value)?);
            }
            if !page.more || page.kvs.is_empty() {
                return Ok(out);
            }
            start_after = page.kvs.last().map(|kv| kv.key.clone());
        }
    }

    /// Creates or replaces a user (the password is hashed here). Returns
    /// whether the user is new.
    pub async fn put(
        &self,
        uid: &str,
        password: &str,
        description: &str,
    ) -> Result<bool, UserError> {
        validate_uid(uid)?;
        if password.is_empty() {
            return Err(UserError::EmptyPassword);
        }
        let record = UserRecord {
            uid: uid.to_string(),
            description: description.to_string(),
            password_hash: auth::hash_password(password)?,
        };
        let resp = self
            .store
            .put(PutRequest {
                key: Self::key(uid),
                value: serde_json::to_vec(&record).unwrap_or_default(),
                lease: None,
                expect_mod_revision: None,
            })
            .await?;
        Ok(resp.prev_kv.is_none())
    }

    /// Creates a user, atomically: a compare-and-set on the key's absence,
    /// so two concurrent creations of one uid make one user and the other
    /// gets [`UserError::Exists`] (a read-then-write would let the second
    /// silently replace the first's password).
    pub async fn create(
        &self,
        uid: &str,
        password: &str,
        description: &str,
    ) -> Result<(), UserError> {
        validate_uid(uid)?;
        if password.is_empty() {
            return Err(UserError::EmptyPassword);
        }
        let record = UserRecord {
            uid: uid.to_string(),
            description: description.to_string(),
            password_hash: auth::hash_password(password)?,
        };
        match self
            .store
            .put(PutRequest {
                key: Self::key(uid),
                value: serde_json::to_vec(&record).unwrap_or_default(),
                lease: None,
                expect_mod_revision: Some(0),
            })
            .await
        {
            Ok(_) => Ok(()),
            Err(KvError::CasFailed { .. }) => Err(UserError::Exists(uid.to_string())),
            Err(e) => Err(e.into()),
        }
    }

    /// Changes only the description of an existing user (the hash stays).
    pub async fn set_description(
        &self,
        mut user: UserRecord,
        description: &str,
    ) -> Result<(), UserError> {
        user.description = description.to_string();
        self.store
            .put(PutRequest {
                key: Self::key(&user.uid),
                value: serde_json::to_vec(&user).unwrap_or_default(),
                lease: None,
                expect_mod_revision: None,
            })
            .await?;
        Ok(())
    }

    /// Creates the user only if no user exists at all (the admin from the
    /// credentials file at first start). Returns whether it was created.
    pub async fn ensure_first(&self, uid: &str, password: &str) -> Result<bool, UserError> {
        if !self.list().await?.is_empty() {
            return Ok(false);
        }
        validate_uid(uid)?;
        if password.is_empty() {
            return Err(UserError::EmptyPassword);
        }
        let record = UserRecord {
            uid: uid.to_string(),
            description: "cluster administrator".to_string(),
            password_hash: auth::hash_password(password)?,
        };
        // Compare-and-set on absence: two gateways starting together make
        // one record, not two versions.
        match self
            .store
            .put(PutRequest {
                key: Self::key(uid),
                value: serde_json::to_vec(&record).unwrap_or_default(),
                lease: None,
                expect_mod_revision: Some(0),
            })
            .await
        {
            Ok(_) => Ok(true),
            Err(KvError::CasFailed { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn delete(&self, uid: &str) -> Result<(), UserError> {
        validate_uid(uid)?;
        let resp = self
            .store
            .delete(DeleteRequest {
                key: Self::key(uid),
                prefix: false,
                expect_mod_revision: None,
            })
            .await;
        let resp = match resp {
            Err(KvError::KeyNotFound { .. }) => return Err(UserError::NotFound(uid.to_string())),
            other => other?,
        };
        if resp.deleted == 0 {
            return Err(UserError::NotFound(uid.to_string()));
        }
        Ok(())
    }

    /// The user if `password` is theirs; `InvalidCredentials` for an
    /// unknown uid and a wrong password alike.
    pub async fn check(&self, uid: &str, password: &str) -> Result<UserRecord, UserError> {
        let user = match self.get(uid).await {
            Ok(Some(u)) => u,
            Ok(None) | Err(UserError::InvalidUid(_)) => {
                // Spend the same time as a real check, so timing does not
                // tell which uids exist.
                let _ = auth::verify_password(password, DUMMY_HASH);
                return Err(AuthError::InvalidCredentials.into());
            }
            Err(e) => return Err(e),
        };
        if auth::verify_password(password, &user.password_hash) {
            Ok(user)
        } else {
            Err(AuthError::InvalidCredentials.into())
        }
    }
}

/// An argon2id hash (default parameters) of a random password nobody knows.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Yb3PHOtZ8rm1mJYbTKsfymZQMhG7HAsHZPJAYBDM4jE";

#[cfg(test)]
mod tests {
    use super::*;
    use dcos_store::MemStore;

    fn users() -> Users {
        Users::new(Arc::new(MemStore::new()))
    }

    #[tokio::test]
    async fn put_check_list_delete() {
        let u = users();
        assert!(u.put("alice", "pw1", "Alice").await.unwrap());
        assert!(!u.put("alice", "pw2", "Alice").await.unwrap());
        assert_eq!(u.check("alice", "pw2").await.unwrap().uid, "alice");
        assert!(matches!(
            u.check("alice", "pw1").await,
            Err(UserError::Auth(AuthError::InvalidCredentials))
        ));
        assert!(matches!(
            u.check("nobody", "pw").await,
            Err(UserError::Auth(AuthError::InvalidCredentials))
        ));
        u.put("bob", "pw", "").await.unwrap();
        let uids: Vec<String> = u.list().await.unwrap().into_iter().map(|r| r.uid).collect();
        assert_eq!(uids, ["alice", "bob"]);
        u.delete("alice").await.unwrap();
        assert!(matches!(
            u.delete("alice").await,
            Err(UserError::NotFound(_))
        ));
        assert!(u.get("alice").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn concurrent_creations_of_one_uid_make_one_user() {
        let u = Arc::new(users());
        let (a, b) = tokio::join!(u.create("bob", "first", ""), u.create("bob", "second", ""));
        let winner = match (a, b) {
            (Ok(()), Err(UserError::Exists(_))) => "first",
            (Err(UserError::Exists(_)), Ok(())) => "second",
            other => panic!("expected one creation and one Exists, got {other:?}"),
        };
        assert_eq!(u.check("bob", winner).await.unwrap().uid, "bob");
        assert!(matches!(
            u.create("bob", "third", "").await,
            Err(UserError::Exists(_))
        ));
        assert_eq!(u.check("bob", winner).await.unwrap().uid, "bob");
    }

    #[tokio::test]
    async fn the_stored_record_holds_a_hash_not_the_password() {
        let store = Arc::new(MemStore::new());
        let u = Users::new(store.clone());
        u.put("alice", "hunter2-secret", "").await.unwrap();
        let kv = store.get("/acs/users/alice").await.unwrap().unwrap();
        let text = String::from_utf8(kv.value).unwrap();
        assert!(!text.contains("hunter2-secret"), "{text}");
        assert!(text.contains("$argon2id$"), "{text}");
    }

    #[tokio::test]
    async fn the_first_user_is_made_only_when_there_is_none() {
        let u = users();
        assert!(u.ensure_first("admin", "pw").await.unwrap());
        assert!(!u.ensure_first("admin", "other").await.unwrap());
        assert!(u.check("admin", "pw").await.is_ok());
        u.delete("admin").await.unwrap();
        u.put("carol", "pw", "").await.unwrap();
        assert!(!u.ensure_first("admin", "pw").await.unwrap());
    }

    #[tokio::test]
    async fn bad_uids_and_empty_passwords_are_refused() {
        let u = users();
        for bad in ["", "a/b", "a b", "ü", &"x".repeat(97)] {
            assert!(
                matches!(u.put(bad, "pw", "").await, Err(UserError::InvalidUid(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(
            u.put("ok", "", "").await,
            Err(UserError::EmptyPassword)
        ));
    }

    #[test]
    fn the_dummy_hash_parses() {
        assert!(argon2::password_hash::PasswordHash::new(DUMMY_HASH).is_ok());
    }
}
