//! [`MemStore`]: the KV semantics without Raft or disk, for harness tests
//! of the components that use the store (and as the reference the
//! conformance suite checks the replicated store against). It applies the
//! same [`KvMachine`] commands as the replicated store, and expires leases
//! with the same [`LeaseClock`] on tokio time, so paused-time tests work.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::KvError;
use crate::kv::{self, answer, Kv, WatchStream};
use crate::leases::{LeaseClock, LEASE_TICK};
use crate::machine::{HistoryLimit, KvMachine};
use crate::shared::SharedMachine;
use crate::types::*;

#[derive(Debug, Clone)]
pub struct MemStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    shared: Arc<SharedMachine>,
    clock: Mutex<LeaseClock>,
    stop: CancellationToken,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl MemStore {
    /// A new empty store. Must be called inside a tokio runtime: it starts
    /// the lease expiry task, which ends when the last handle is dropped.
    pub fn new() -> Self {
        Self::with_history(HistoryLimit::default())
    }

    pub fn with_history(limit: HistoryLimit) -> Self {
        let inner = Arc::new(Inner {
            shared: SharedMachine::new(KvMachine::new(limit)),
            clock: Mutex::new(LeaseClock::default()),
            stop: CancellationToken::new(),
        });
        let weak = Arc::downgrade(&inner);
        let stop = inner.stop.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(LEASE_TICK) => {}
                }
                let Some(inner) = weak.upgrade() else { return };
                let expired = {
                    let mut clock = inner.clock.lock().unwrap_or_else(|e| e.into_inner());
                    inner.shared.read(|m| clock.sync(m, Instant::now()));
                    clock.expired(Instant::now())
                };
                for id in expired {
                    inner.apply(&Command::LeaseRevoke { id });
                }
            }
        });
        MemStore { inner }
    }
}

impl Default for MemStore {
    fn default() -> Self {
        Self::new()
    }
}

impl Inner {
    fn apply(&self, cmd: &Command) -> Applied {
        let (applied, _) = self.shared.write(|m| m.apply(cmd));
        if let Applied::LeaseGranted(l) = &applied {
            let mut clock = self.clock.lock().unwrap_or_else(|e| e.into_inner());
            clock.keepalive(l.id, l.ttl, Instant::now());
        }
        applied
    }
}

#[async_trait]
impl Kv for MemStore {
    async fn range(&self, req: RangeRequest) -> Result<RangeResponse, KvError> {
        kv::validate_range(&req)?;
        Ok(self.inner.shared.read(|m| m.range(&req)))
    }

    async fn put(&self, req: PutRequest) -> Result<PutResponse, KvError> {
        kv::validate_put(&req)?;
        answer::put(self.inner.apply(&Command::Put(req)))
    }

    async fn delete(&self, req: DeleteRequest) -> Result<DeleteResponse, KvError> {
        kv::validate_delete(&req)?;
        answer::delete(self.inner.apply(&Command::Delete(req)))
    }

    async fn txn(&self, req: TxnRequest) -> Result<TxnResponse, KvError> {
        kv::validate_txn(&req)?;
        answer::txn(self.inner.apply(&Command::Txn(req)))
    }

    async fn watch(&self, req: WatchRequest) -> Result<WatchStream, KvError> {
        kv::validate_watch(&req)?;
        self.inner.shared.watch(req)
    }

    async fn lease_grant(&self, req: LeaseGrantRequest) -> Result<Lease, KvError> {
        kv::validate_lease_grant(&req)?;
        answer::lease_granted(self.inner.apply(&Command::LeaseGrant(req)))
    }

    async fn lease_keepalive(&self, id: u64) -> Result<Lease, KvError> {
        let ttl = self
            .inner
            .shared
            .read(|m| m.lease(id).map(|l| l.ttl))
            .ok_or(KvError::LeaseNotFound { id })?;
        let mut clock = self.inner.clock.lock().unwrap_or_else(|e| e.into_inner());
        clock.keepalive(id, ttl, Instant::now());
        Ok(Lease { id, ttl })
    }

    async fn lease_revoke(&self, id: u64) -> Result<LeaseRevokeResponse, KvError> {
        answer::lease_revoked(self.inner.apply(&Command::LeaseRevoke { id }))
    }
}
