//! The [`Kv`] trait: the one interface every component uses to reach the
//! store, whatever is behind it (the replicated node in-process, the HTTP
//! client, or the in-memory store of harness tests). The conformance suite in
//! [`crate::conformance`] holds every implementation to the same semantics.
//!
//! Also the request validation shared by every implementation, so bad input
//! gets the same precise error wherever it enters.

use std::pin::Pin;

use async_trait::async_trait;
use futures::Stream;

use crate::error::KvError;
use crate::types::*;

/// A stream of watch batches, in revision order, each delivered once.
pub type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchBatch, KvError>> + Send>>;

#[async_trait]
pub trait Kv: Send + Sync {
    /// Reads one key (linearizable). `Ok(None)` when it does not exist.
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, KvError> {
        let resp = self
            .range(RangeRequest {
                key: key.to_string(),
                ..Default::default()
            })
            .await?;
        Ok(resp.kvs.into_iter().next())
    }
    /// Reads a key or a prefix, paginated.
    async fn range(&self, req: RangeRequest) -> Result<RangeResponse, KvError>;
    async fn put(&self, req: PutRequest) -> Result<PutResponse, KvError>;
    async fn delete(&self, req: DeleteRequest) -> Result<DeleteResponse, KvError>;
    async fn txn(&self, req: TxnRequest) -> Result<TxnResponse, KvError>;
    /// Streams changes from `start_revision` (or from now when 0).
    async fn watch(&self, req: WatchRequest) -> Result<WatchStream, KvError>;
    async fn lease_grant(&self, req: LeaseGrantRequest) -> Result<Lease, KvError>;
    /// Restarts the lease's time to live.
    async fn lease_keepalive(&self, id: u64) -> Result<Lease, KvError>;
    async fn lease_revoke(&self, id: u64) -> Result<LeaseRevokeResponse, KvError>;
}

/// A shared handle is a store too, so one client can serve several users
/// (an [`crate::Election`] and the component's own reads, say).
#[async_trait]
impl<K: Kv + ?Sized> Kv for std::sync::Arc<K> {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, KvError> {
        (**self).get(key).await
    }
    async fn range(&self, req: RangeRequest) -> Result<RangeResponse, KvError> {
        (**self).range(req).await
    }
    async fn put(&self, req: PutRequest) -> Result<PutResponse, KvError> {
        (**self).put(req).await
    }
    async fn delete(&self, req: DeleteRequest) -> Result<DeleteResponse, KvError> {
        (**self).delete(req).await
    }
    async fn txn(&self, req: TxnRequest) -> Result<TxnResponse, KvError> {
        (**self).txn(req).await
    }
    async fn watch(&self, req: WatchRequest) -> Result<WatchStream, KvError> {
        (**self).watch(req).await
    }
    async fn lease_grant(&self, req: LeaseGrantRequest) -> Result<Lease, KvError> {
        (**self).lease_grant(req).await
    }
    async fn lease_keepalive(&self, id: u64) -> Result<Lease, KvError> {
        (**self).lease_keepalive(id).await
    }
    async fn lease_revoke(&self, id: u64) -> Result<LeaseRevokeResponse, KvError> {
        (**self).lease_revoke(id).await
    }
}

/// So that structures holding an `Arc<dyn Kv>` can derive `Debug`.
impl std::fmt::Debug for dyn Kv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("dyn Kv")
    }
}

pub fn validate_key(key: &str) -> Result<(), KvError> {
    if key.is_empty() {
        return Err(KvError::invalid("key must not be empty"));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(KvError::invalid(format!(
            "key of {} bytes is longer than the limit of {MAX_KEY_BYTES} bytes",
            key.len()
        )));
    }
    if key.contains('\0') {
        return Err(KvError::invalid("key must not contain NUL characters"));
    }
    Ok(())
}

fn validate_prefix(key: &str, prefix: bool) -> Result<(), KvError> {
    if prefix && key.is_empty() {
        // An empty prefix means "every key": allowed for reads and watches.
        return Ok(());
    }
    validate_key(key)
}

pub fn validate_put(req: &PutRequest) -> Result<(), KvError> {
    validate_key(&req.key)?;
    if req.value.len() > MAX_VALUE_BYTES {
        return Err(KvError::ValueTooLarge {
            size: req.value.len(),
            limit: MAX_VALUE_BYTES,
        });
    }
    Ok(())
}

pub fn validate_delete(req: &DeleteRequest) -> Result<(), KvError> {
    if req.prefix && req.key.is_empty() {
        return Err(KvError::invalid(
            "refusing to delete every key: give a non-empty prefix",
        ));
    }
    if req.prefix && req.expect_mod_revision.is_some() {
        return Err(KvError::invalid(
            "expect_mod_revision applies to one key, not to a prefix delete",
        ));
    }
    validate_key(&req.key)
}

pub fn validate_range(req: &RangeRequest) -> Result<(), KvError> {
    validate_prefix(&req.key, req.prefix)
}

pub fn validate_watch(req: &WatchRequest) -> Result<(), KvError> {
    validate_prefix(&req.key, req.prefix)
}

pub fn validate_txn(req: &TxnRequest) -> Result<(), KvError> {
    let ops = req.compare.len() + req.success.len() + req.failure.len();
    if ops > MAX_TXN_OPS {
        return Err(KvError::invalid(format!(
            "transaction has {ops} compares and operations; the limit is {MAX_TXN_OPS}"
        )));
    }
    for c in &req.compare {
        validate_key(&c.key)?;
    }
    for branch in [&req.success, &req.failure] {
        let mut written = std::collections::BTreeSet::new();
        let mut total = 0usize;
        for op in branch {
            match op {
                TxnOp::Put(p) => {
                    if p.expect_mod_revision.is_some() {
                        return Err(KvError::invalid(
                            "use a compare instead of expect_mod_revision inside a transaction",
                        ));
                    }
                    validate_put(p)?;
                    total += p.value.len();
                    if !written.insert(p.key.clone()) {
                        return Err(KvError::invalid(format!(
                            "key {:?} is written twice in one transaction",
                            p.key
                        )));
                    }
                }
                TxnOp::Delete(d) => {
                    if d.expect_mod_revision.is_some() {
                        return Err(KvError::invalid(
                            "use a compare instead of expect_mod_revision inside a transaction",
                        ));
                    }
                    validate_delete(d)?;
                    if !d.prefix && !written.insert(d.key.clone()) {
                        return Err(KvError::invalid(format!(
                            "key {:?} is written twice in one transaction",
                            d.key
                        )));
                    }
                }
                TxnOp::Get(g) => validate_range(g)?,
            }
        }
        if total > MAX_VALUE_BYTES {
            return Err(KvError::ValueTooLarge {
                size: total,
                limit: MAX_VALUE_BYTES,
            });
        }
    }
    Ok(())
}

pub fn validate_lease_grant(req: &LeaseGrantRequest) -> Result<(), KvError> {
    if req.ttl == 0 {
        return Err(KvError::invalid("lease ttl must be at least 1 second"));
    }
    if req.ttl > 365 * 24 * 3600 {
        return Err(KvError::invalid("lease ttl must be at most one year"));
    }
    if req.id == Some(0) {
        return Err(KvError::invalid("lease id 0 is reserved for \"no lease\""));
    }
    Ok(())
}

/// Validates a command before it is proposed, so a bad one never reaches
/// the log.
pub fn validate_command(cmd: &Command) -> Result<(), KvError> {
    match cmd {
        Command::Put(p) => validate_put(p),
        Command::Delete(d) => validate_delete(d),
        Command::Txn(t) => validate_txn(t),
        Command::LeaseGrant(g) => validate_lease_grant(g),
        Command::LeaseRevoke { .. } => Ok(()),
        Command::Batch(cmds) => {
            for c in cmds {
                if matches!(c, Command::Batch(_)) {
                    return Err(KvError::invalid("a batch cannot hold another batch"));
                }
                validate_command(c)?;
            }
            Ok(())
        }
    }
}

/// Converts the machine's answer to a command into the API's result.
pub(crate) mod answer {
    use super::*;

    fn unexpected(applied: Applied) -> KvError {
        KvError::internal(format!(
            "unexpected answer from the state machine: {applied:?}"
        ))
    }

    pub fn put(a: Applied) -> Result<PutResponse, KvError> {
        match a {
            Applied::Put(r) => Ok(r),
            Applied::Rejected(e) => Err(e),
            other => Err(unexpected(other)),
        }
    }
    pub fn delete(a: Applied) -> Result<DeleteResponse, KvError> {
        match a {
            Applied::Delete(r) => Ok(r),
            Applied::Rejected(e) => Err(e),
            other => Err(unexpected(other)),
        }
    }
    pub fn txn(a: Applied) -> Result<TxnResponse, KvError> {
        match a {
            Applied::Txn(r) => Ok(r),
            Applied::Rejected(e) => Err(e),
            other => Err(unexpected(other)),
        }
    }
    pub fn lease_granted(a: Applied) -> Result<Lease, KvError> {
        match a {
            Applied::LeaseGranted(r) => Ok(r),
            Applied::Rejected(e) => Err(e),
            other => Err(unexpected(other)),
        }
    }
    pub fn lease_revoked(a: Applied) -> Result<LeaseRevokeResponse, KvError> {
        match a {
            Applied::LeaseRevoked(r) => Ok(r),
            Applied::Rejected(e) => Err(e),
            other => Err(unexpected(other)),
        }
    }
}
