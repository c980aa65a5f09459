//! Store namespaces: [`Namespaced`] gives a component its own keyspace
//! inside the shared store, so that a second copy of a framework (a
//! "Marathon on Marathon", a second Chronos) keeps its state beside the
//! first one's instead of on top of it.
//!
//! `Namespaced` is a [`Kv`] over any other `Kv`. Every key a caller gives
//! (reads, writes, deletes, transaction compares and operations, watches,
//! `start_after`, prefixes) gets the namespace in front; every key in an
//! answer (range key-values, `prev_kv(s)`, transaction answers, watch
//! events and their `prev_kv`, the key of a `cas_failed` or
//! `key_not_found` error) has it taken off. The component sees exactly the
//! keyspace it would see alone.
//!
//! This module owns the namespace's rules ([`check_namespace`]) and the
//! translation. Rules that follow from it:
//!
//! - Inside a namespace every key starts with `/` (all of Marathon's and
//!   Chronos' do): namespace `/a` must not be able to write `b/x`, which
//!   is key `/x` of namespace `/ab`. An empty prefix (every key) means every
//!   key of the namespace.
//! - A key's length counts the namespace: a key that fits alone but not
//!   with the namespace in front is refused with the limit that applies
//!   inside the namespace.
//! - Bad input gets the store's own errors first, checked on the key the
//!   caller gave, so it reads as it would without a namespace.
//! - Leases, revisions and watch progress are the store's: leases pass
//!   through (a lease revoked in one namespace deletes only the keys bound
//!   to it, which are that caller's), and revisions count every write of
//!   the store, so a namespace sees gaps between its own revisions.
//! - Namespaces nest: `/t/a/b` is inside `/t/a`. Two components must be
//!   given namespaces neither of which is inside the other.
//!
//! What it does not own: which namespace a component gets (its
//! `--store-namespace` flag), or access control (any store client can read
//! any namespace: this separates state, it does not protect it).

use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;

use crate::error::KvError;
use crate::kv::{self, Kv, WatchStream};
use crate::types::*;

/// Longest namespace accepted (bytes), so that keys keep most of
/// [`MAX_KEY_BYTES`].
pub const MAX_NAMESPACE_BYTES: usize = 256;

/// The top-level prefixes the cluster's own components write outside any
/// namespace (the master's registry, the default Marathon and Chronos,
/// Cosmos, the gateway's users). A namespace under one of them would put a
/// second component's keys inside the first one's prefix, where its reads
/// (e.g. the master's registry load of `/mesos/`) would meet them.
pub const RESERVED_ROOTS: &[&str] = &["/mesos", "/marathon", "/chronos", "/cosmos", "/acs"];

/// Checks a namespace: it starts with `/`, does not end with `/`, has no
/// empty segment (`//`), no NUL, is at most [`MAX_NAMESPACE_BYTES`] long,
/// and is not one of the [`RESERVED_ROOTS`] or under one (by segments:
/// `/marathon/x` is under `/marathon`, `/marathon-user` is not, as the
/// components only ever read `<root>/…`). The error says which rule
/// failed, for flag parsers to show as is.
pub fn check_namespace(ns: &str) -> Result<(), String> {
    if !ns.starts_with('/') {
        return Err(format!(
            "store namespace {ns:?} must start with '/' (e.g. /tenants/marathon-user)"
        ));
    }
    if ns.ends_with('/') {
        return Err(format!(
            "store namespace {ns:?} must not end with '/' (e.g. /tenants/marathon-user)"
        ));
    }
    if ns.contains("//") {
        return Err(format!(
            "store namespace {ns:?} must not have an empty segment ('//')"
        ));
    }
    if ns.contains('\0') {
        return Err("store namespace must not contain NUL characters".into());
    }
    if ns.len() > MAX_NAMESPACE_BYTES {
        return Err(format!(
            "store namespace of {} bytes is longer than the limit of {MAX_NAMESPACE_BYTES} bytes",
            ns.len()
        ));
    }
    let under = |root: &str| {
        ns.strip_prefix(root)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    if let Some(root) = RESERVED_ROOTS.iter().find(|r| under(r)) {
        return Err(format!(
            "store namespace {ns:?} is under {root}, which the cluster's own components use \
             outside any namespace; choose another (e.g. /tenants/<name>)"
        ));
    }
    Ok(())
}

/// A [`Kv`] that confines its caller to the keys under one namespace (see
/// the module's documentation).
#[derive(Clone)]
pub struct Namespaced {
    inner: Arc<dyn Kv>,
    ns: Arc<str>,
}

impl std::fmt::Debug for Namespaced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespaced")
            .field("namespace", &self.ns)
            .finish()
    }
}

impl Namespaced {
    /// `inner` seen through `namespace` (checked by [`check_namespace`]).
    pub fn new(inner: Arc<dyn Kv>, namespace: &str) -> Result<Self, KvError> {
        check_namespace(namespace).map_err(KvError::invalid)?;
        Ok(Namespaced {
            inner,
            ns: namespace.into(),
        })
    }

    /// The namespace, e.g. `/tenants/marathon-user`.
    pub fn namespace(&self) -> &str {
        &self.ns
    }

    /// The store's key for the caller's `key` (one key, not a prefix).
    /// The caller's request has passed the store's validation already.
    fn key_in(&self, key: &str) -> Result<String, KvError> {
        if !key.starts_with('/') {
            return Err(KvError::invalid(format!(
                "key {key:?} does not start with '/': inside store namespace {} every key does",
                self.ns
            )));
        }
        let limit = MAX_KEY_BYTES - self.ns.len();
        if key.len() > limit {
            return Err(KvError::invalid(format!(
                "key of {} bytes is longer than the limit of {limit} bytes inside store \
                 namespace {} (the store's {MAX_KEY_BYTES} less the namespace's {})",
                key.len(),
                self.ns,
                self.ns.len()
            )));
        }
        Ok(format!("{}{key}", self.ns))
    }

    /// The store's key for the caller's `key`, or its prefix when `prefix`:
    /// the empty prefix is every key of the namespace.
    fn key_or_prefix_in(&self, key: &str, prefix: bool) -> Result<String, KvError> {
        if prefix && key.is_empty() {
            return Ok(format!("{}/", self.ns));
        }
        self.key_in(key)
    }

    /// The caller's key for a key of the store.
    fn key_out(&self, key: String) -> Result<String, KvError> {
        match key.strip_prefix(&*self.ns) {
            Some(rest) if rest.starts_with('/') => Ok(rest.to_owned()),
            _ => Err(KvError::internal(format!(
                "the store answered with key {key:?}, outside namespace {}",
                self.ns
            ))),
        }
    }

    fn kv_out(&self, mut kv: KeyValue) -> Result<KeyValue, KvError> {
        kv.key = self.key_out(kv.key)?;
        Ok(kv)
    }

    fn range_in(&self, mut req: RangeRequest) -> Result<RangeRequest, KvError> {
        req.key = self.key_or_prefix_in(&req.key, req.prefix)?;
        // Order-preserving: every key of the namespace is `ns + k`, so
        // "after ns + s" is "after s" for any s.
        req.start_after = req.start_after.map(|s| format!("{}{s}", self.ns));
        Ok(req)
    }

    fn range_out(&self, mut resp: RangeResponse) -> Result<RangeResponse, KvError> {
        resp.kvs = resp
            .kvs
            .into_iter()
            .map(|kv| self.kv_out(kv))
            .collect::<Result<_, _>>()?;
        Ok(resp)
    }

    fn put_in(&self, mut req: PutRequest) -> Result<PutRequest, KvError> {
        req.key = self.key_in(&req.key)?;
        Ok(req)
    }

    fn put_out(&self, mut resp: PutResponse) -> Result<PutResponse, KvError> {
        resp.prev_kv = resp.prev_kv.map(|kv| self.kv_out(kv)).transpose()?;
        Ok(resp)
    }

    fn delete_in(&self, mut req: DeleteRequest) -> Result<DeleteRequest, KvError> {
        // A prefix delete has a non-empty prefix (the store's validation
        // refused the empty one), so it stays inside the namespace.
        req.key = self.key_in(&req.key)?;
        Ok(req)
    }

    fn delete_out(&self, mut resp: DeleteResponse) -> Result<DeleteResponse, KvError> {
        resp.prev_kvs = resp
            .prev_kvs
            .into_iter()
            .map(|kv| self.kv_out(kv))
            .collect::<Result<_, _>>()?;
        Ok(resp)
    }

    fn op_in(&self, op: TxnOp) -> Result<TxnOp, KvError> {
        Ok(match op {
            TxnOp::Put(p) => TxnOp::Put(self.put_in(p)?),
            TxnOp::Delete(d) => TxnOp::Delete(self.delete_in(d)?),
            TxnOp::Get(g) => TxnOp::Get(self.range_in(g)?),
        })
    }

    fn op_out(&self, resp: TxnOpResponse) -> Result<TxnOpResponse, KvError> {
        Ok(match resp {
            TxnOpResponse::Put(p) => TxnOpResponse::Put(self.put_out(p)?),
            TxnOpResponse::Delete(d) => TxnOpResponse::Delete(self.delete_out(d)?),
            TxnOpResponse::Get(g) => TxnOpResponse::Get(self.range_out(g)?),
        })
    }

    fn txn_in(&self, req: TxnRequest) -> Result<TxnRequest, KvError> {
        let ops = |ops: Vec<TxnOp>| {
            ops.into_iter()
                .map(|op| self.op_in(op))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(TxnRequest {
            compare: req
                .compare
                .into_iter()
                .map(|mut c| {
                    c.key = self.key_in(&c.key)?;
                    Ok::<_, KvError>(c)
                })
                .collect::<Result<_, _>>()?,
            success: ops(req.success)?,
            failure: ops(req.failure)?,
        })
    }

    fn txn_out(&self, mut resp: TxnResponse) -> Result<TxnResponse, KvError> {
        resp.responses = resp
            .responses
            .into_iter()
            .map(|r| self.op_out(r))
            .collect::<Result<_, _>>()?;
        Ok(resp)
    }

    fn event_out(&self, mut e: Event) -> Result<Event, KvError> {
        e.kv = self.kv_out(e.kv)?;
        e.prev_kv = e.prev_kv.map(|kv| self.kv_out(kv)).transpose()?;
        Ok(e)
    }

    /// The store's errors that name a key name it as the caller knows it.
    fn err_out(&self, e: KvError) -> KvError {
        let strip = |key: String| match key.strip_prefix(&*self.ns) {
            Some(rest) if rest.starts_with('/') => rest.to_owned(),
            _ => key,
        };
        match e {
            KvError::CasFailed {
                key,
                expected,
                actual,
            } => KvError::CasFailed {
                key: strip(key),
                expected,
                actual,
            },
            KvError::KeyNotFound { key } => KvError::KeyNotFound { key: strip(key) },
            other => other,
        }
    }
}

#[async_trait]
impl Kv for Namespaced {
    async fn range(&self, req: RangeRequest) -> Result<RangeResponse, KvError> {
        kv::validate_range(&req)?;
        let req = self.range_in(req)?;
        let resp = self.inner.range(req).await.map_err(|e| self.err_out(e))?;
        self.range_out(resp)
    }

    async fn put(&self, req: PutRequest) -> Result<PutResponse, KvError> {
        kv::validate_put(&req)?;
        let req = self.put_in(req)?;
        let resp = self.inner.put(req).await.map_err(|e| self.err_out(e))?;
        self.put_out(resp)
    }

    async fn delete(&self, req: DeleteRequest) -> Result<DeleteResponse, KvError> {
        kv::validate_delete(&req)?;
        let req = self.delete_in(req)?;
        let resp = self.inner.delete(req).await.map_err(|e| self.err_out(e))?;
        self.delete_out(resp)
    }

    async fn txn(&self, req: TxnRequest) -> Result<TxnResponse, KvError> {
        kv::validate_txn(&req)?;
        let req = self.txn_in(req)?;
        let resp = self.inner.txn(req).await.map_err(|e| self.err_out(e))?;
        self.txn_out(resp)
    }

    async fn watch(&self, mut req: WatchRequest) -> Result<WatchStream, KvError> {
        kv::validate_watch(&req)?;
        req.key = self.key_or_prefix_in(&req.key, req.prefix)?;
        let stream = self.inner.watch(req).await.map_err(|e| self.err_out(e))?;
        let this = self.clone();
        Ok(Box::pin(stream.map(move |batch| {
            let mut batch = batch.map_err(|e| this.err_out(e))?;
            batch.events = batch
                .events
                .into_iter()
                .map(|e| this.event_out(e))
                .collect::<Result<_, _>>()?;
            Ok(batch)
        })))
    }

    async fn lease_grant(&self, req: LeaseGrantRequest) -> Result<Lease, KvError> {
        self.inner.lease_grant(req).await
    }

    async fn lease_keepalive(&self, id: u64) -> Result<Lease, KvError> {
        self.inner.lease_keepalive(id).await
    }

    async fn lease_revoke(&self, id: u64) -> Result<LeaseRevokeResponse, KvError> {
        self.inner.lease_revoke(id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemStore;

    fn ns(name: &str) -> (Arc<dyn Kv>, Namespaced) {
        let store: Arc<dyn Kv> = Arc::new(MemStore::new());
        let n = Namespaced::new(Arc::clone(&store), name).unwrap();
        (store, n)
    }

    fn put(key: &str) -> PutRequest {
        PutRequest {
            key: key.into(),
            value: b"v".to_vec(),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn namespaces_are_checked() {
        for good in [
            "/tenants/marathon-user",
            "/t",
            "/a/b/c",
            "/marathon-user",
            "/mesosphere",
        ] {
            assert_eq!(check_namespace(good), Ok(()), "{good}");
        }
        for (bad, says) in [
            ("", "must start with '/'"),
            ("tenants/a", "must start with '/'"),
            ("/", "must not end with '/'"),
            ("/tenants/a/", "must not end with '/'"),
            ("/tenants//a", "empty segment"),
            ("/tenants/a\0b", "NUL"),
            ("/marathon", "under /marathon"),
            ("/marathon/second", "under /marathon"),
            ("/mesos/x", "under /mesos"),
            ("/chronos", "under /chronos"),
        ] {
            let err = check_namespace(bad).unwrap_err();
            assert!(err.contains(says), "{bad:?}: {err}");
        }
        let long = format!("/{}", "x".repeat(MAX_NAMESPACE_BYTES));
        assert!(check_namespace(&long).unwrap_err().contains("limit of 256"));
        let store: Arc<dyn Kv> = Arc::new(MemStore::new());
        assert!(matches!(
            Namespaced::new(store, "nope"),
            Err(KvError::InvalidArgument { .. })
        ));
    }

    #[tokio::test]
    async fn keys_are_prefixed_in_and_stripped_out() {
        let (store, n) = ns("/tenants/a");
        n.put(put("/marathon/apps/x")).await.unwrap();
        let under = store.get("/tenants/a/marathon/apps/x").await.unwrap();
        assert!(under.is_some(), "stored under the namespace");
        assert_eq!(
            n.get("/marathon/apps/x").await.unwrap().unwrap().key,
            "/marathon/apps/x"
        );
        let again = n.put(put("/marathon/apps/x")).await.unwrap();
        assert_eq!(again.prev_kv.unwrap().key, "/marathon/apps/x");
        // Errors that name a key name the caller's.
        let mut cas = put("/marathon/apps/x");
        cas.expect_mod_revision = Some(0);
        match n.put(cas).await.unwrap_err() {
            KvError::CasFailed { key, .. } => assert_eq!(key, "/marathon/apps/x"),
            other => panic!("{other:?}"),
        }
        match n
            .delete(DeleteRequest {
                key: "/nope".into(),
                ..Default::default()
            })
            .await
            .unwrap_err()
        {
            KvError::KeyNotFound { key } => assert_eq!(key, "/nope"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn keys_must_start_with_a_slash_and_fit_with_the_namespace() {
        let (store, n) = ns("/tenants/a");
        let err = n.put(put("x")).await.unwrap_err();
        assert!(
            matches!(&err, KvError::InvalidArgument { reason } if reason.contains("does not start with '/'")),
            "{err}"
        );
        // Fits alone, not with the 10 bytes of the namespace in front.
        let key = format!("/{}", "k".repeat(MAX_KEY_BYTES - 1));
        store.put(put(&key)).await.unwrap();
        let err = n.put(put(&key)).await.unwrap_err();
        let KvError::InvalidArgument { reason } = &err else {
            panic!("{err:?}")
        };
        assert!(
            reason.contains("4096 bytes is longer than the limit of 4086 bytes inside store namespace /tenants/a"),
            "{reason}"
        );
        // The same check in every kind of request, transactions included.
        assert!(n.get(&key).await.is_err());
        let txn = TxnRequest {
            compare: vec![Compare {
                key: key.clone(),
                target: CompareTarget::Version(0),
                result: CompareResult::Equal,
            }],
            ..Default::default()
        };
        assert!(matches!(
            n.txn(txn).await,
            Err(KvError::InvalidArgument { .. })
        ));
        let fits = format!("/{}", "k".repeat(MAX_KEY_BYTES - 11));
        n.put(put(&fits)).await.unwrap();
        // Too long alone: the store's own error, as without a namespace.
        let err = n
            .put(put(&format!("/{}", "k".repeat(MAX_KEY_BYTES))))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            kv::validate_key(&format!("/{}", "k".repeat(MAX_KEY_BYTES))).unwrap_err()
        );
    }
}
