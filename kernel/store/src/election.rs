//! Leader election over the store, for components that run several copies
//! and want one to act (Marathon, Chronos): the ZooKeeper "leader latch" of
//! Mesos frameworks, built from a lease and a transaction.
//!
//! A candidate grants itself a lease and creates the election key bound to
//! it, only if the key does not exist (`create_revision == 0`). Whoever
//! created the key leads until its lease ends: it resigns (the lease is
//! revoked and the key goes with it), or it stops renewing and the store's
//! leader expires the lease. The others watch the key and try again when it
//! is deleted. The key's value is the leader's `me` (its advertised URL), so
//! standbys know where to redirect or proxy.
//!
//! A leader steps down by itself, without asking the store, once it has not
//! been able to renew its lease for two thirds of the TTL: by then the
//! store may be about to hand leadership to someone else, and two leaders
//! acting at once is worse than none for a moment.
//!
//! What it does not own: what a leader does, and fencing of its writes
//! (components that need it compare on the election key's `create_revision`,
//! which [`Leadership::revision`] gives them).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::error::KvError;
use crate::kv::Kv;
use crate::types::*;

/// One candidate in the election on one key.
#[derive(Clone)]
pub struct Election {
    kv: Arc<dyn Kv>,
    key: String,
    me: String,
    ttl: Duration,
}

impl std::fmt::Debug for Election {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Election")
            .field("key", &self.key)
            .field("me", &self.me)
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl Election {
    /// `me` is what the others read as the leader (e.g. our advertised
    /// URL); `ttl` is rounded up to whole seconds, at least one.
    pub fn new(
        kv: impl Kv + 'static,
        key: impl Into<String>,
        me: impl Into<String>,
        ttl: Duration,
    ) -> Self {
        Election {
            kv: Arc::new(kv),
            key: key.into(),
            me: me.into(),
            ttl,
        }
    }

    fn ttl_secs(&self) -> u64 {
        self.ttl.as_secs_f64().ceil().max(1.0) as u64
    }

    /// The current leader's `me`, if there is one.
    pub async fn leader(&self) -> Result<Option<String>, KvError> {
        Ok(self
            .kv
            .get(&self.key)
            .await?
            .map(|kv| String::from_utf8_lossy(&kv.value).into_owned()))
    }

    /// Waits until this candidate leads, then keeps the lease alive in the
    /// background until the [`Leadership`] is lost, resigned or dropped.
    pub async fn campaign(&self) -> Result<Leadership, KvError> {
        loop {
            let lease = self
                .kv
                .lease_grant(LeaseGrantRequest {
                    ttl: self.ttl_secs(),
                    id: None,
                })
                .await?;
            let granted_at = Instant::now();
            let resp = self
                .kv
                .txn(TxnRequest {
                    compare: vec![Compare {
                        key: self.key.clone(),
                        target: CompareTarget::CreateRevision(0),
                        result: CompareResult::Equal,
                    }],
                    success: vec![TxnOp::Put(PutRequest {
                        key: self.key.clone(),
                        value: self.me.clone().into_bytes(),
                        lease: Some(lease.id),
                        expect_mod_revision: None,
                    })],
                    failure: vec![],
                })
                .await;
            let resp = match resp {
                Ok(r) => r,
                Err(e) => {
                    let _ = self.kv.lease_revoke(lease.id).await;
                    return Err(e);
                }
            };
            if resp.succeeded {
                tracing::info!(key = %self.key, me = %self.me, "elected leader");
                return Ok(Leadership::start(
                    self.clone(),
                    lease.id,
                    resp.revision,
                    granted_at,
                ));
            }
            // Someone else leads: we do not need our lease while we wait.
            let _ = self.kv.lease_revoke(lease.id).await;
            self.wait_for_vacancy(resp.revision).await?;
        }
    }

    /// Returns once the key is gone (or was already gone at `revision`).
    async fn wait_for_vacancy(&self, revision: u64) -> Result<(), KvError> {
        let mut watch = self
            .kv
            .watch(WatchRequest {
                key: self.key.clone(),
                prefix: false,
                start_revision: revision + 1,
                prev_kv: false,
            })
            .await?;
        // The key may have gone between the transaction and the watch.
        if self.kv.get(&self.key).await?.is_none() {
            return Ok(());
        }
        while let Some(batch) = watch.next().await {
            let batch = batch?;
            if batch
                .events
                .iter()
                .any(|e| e.kind == EventKind::Delete && e.kv.key == self.key)
            {
                return Ok(());
            }
        }
        Err(KvError::Unavailable {
            reason: "the election watch ended before the key was released".into(),
        })
    }
}

/// Being the leader. Leadership ends when [`Leadership::lost`] resolves;
/// dropping it stops renewing (the lease then expires after its TTL),
/// [`Leadership::resign`] hands over at once.
#[derive(Debug)]
pub struct Leadership {
    election: Election,
    lease: u64,
    revision: u64,
    leading: watch::Receiver<bool>,
    renew: JoinHandle<()>,
}

impl Leadership {
    fn start(election: Election, lease: u64, revision: u64, granted_at: Instant) -> Self {
        let (tx, rx) = watch::channel(true);
        let renew = tokio::spawn(renew(election.clone(), lease, revision, granted_at, tx));
        Leadership {
            election,
            lease,
            revision,
            leading: rx,
            renew,
        }
    }

    /// The store revision at which we became leader (the election key's
    /// `create_revision`), usable to fence writes.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Whether we still lead, as far as we know.
    pub fn is_leader(&self) -> bool {
        *self.leading.borrow()
    }

    /// Resolves when leadership is lost: the lease could not be renewed in
    /// time or the key was deleted or taken over.
    pub async fn lost(&self) {
        let mut rx = self.leading.clone();
        let _ = rx.wait_for(|leading| !leading).await;
    }

    /// Gives leadership up now: the key is deleted with the lease, so a
    /// standby takes over without waiting for the TTL.
    pub async fn resign(self) {
        self.renew.abort();
        let _ = self.election.kv.lease_revoke(self.lease).await;
        tracing::info!(key = %self.election.key, "resigned leadership");
    }
}

impl Drop for Leadership {
    fn drop(&mut self) {
        self.renew.abort();
    }
}

/// Renews the lease every third of the TTL and watches the key; flips
/// `leading` to false when either says leadership is gone.
async fn renew(
    election: Election,
    lease: u64,
    revision: u64,
    granted_at: Instant,
    leading: watch::Sender<bool>,
) {
    let ttl = Duration::from_secs(election.ttl_secs());
    let give_up_after = ttl * 2 / 3;
    let mut last_renewed = granted_at;
    let mut key_watch = election
        .kv
        .watch(WatchRequest {
            key: election.key.clone(),
            prefix: false,
            start_revision: revision + 1,
            prev_kv: false,
        })
        .await
        .ok();
    let mut tick = tokio::time::interval(ttl / 3);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let reason = loop {
        let deadline = last_renewed + give_up_after;
        tokio::select! {
            _ = tick.tick() => {
                let sent = Instant::now();
                match tokio::time::timeout_at(deadline, election.kv.lease_keepalive(lease)).await {
                    Ok(Ok(_)) => last_renewed = sent,
                    Ok(Err(KvError::LeaseNotFound { .. })) => break "the lease expired",
                    Ok(Err(e)) => tracing::warn!(error = %e, "could not renew the leadership lease"),
                    Err(_) => break "the lease could not be renewed in time",
                }
            }
            _ = tokio::time::sleep_until(deadline) => break "the lease could not be renewed in time",
            batch = async {
                match key_watch.as_mut() {
                    Some(w) => w.next().await,
                    None => std::future::pending().await,
                }
            } => match batch {
                Some(Ok(b)) if b.events.iter().any(|e| e.kv.key == election.key) => {
                    break "the election key was deleted or overwritten";
                }
                Some(Ok(_)) => {}
                // The client's watches reconnect by themselves; a watch that
                // ends for good leaves the lease renewal to decide.
                Some(Err(_)) | None => key_watch = None,
            },
        }
    };
    tracing::warn!(key = %election.key, reason, "lost leadership");
    let _ = leading.send(false);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemStore;

    #[tokio::test]
    async fn one_leader_at_a_time_and_handover_on_resign() {
        let store = MemStore::new();
        let a = Election::new(
            store.clone(),
            "/svc/leader",
            "http://a",
            Duration::from_secs(3),
        );
        let b = Election::new(
            store.clone(),
            "/svc/leader",
            "http://b",
            Duration::from_secs(3),
        );
        let la = a.campaign().await.unwrap();
        assert!(la.is_leader());
        assert_eq!(b.leader().await.unwrap().as_deref(), Some("http://a"));

        let waiting = tokio::spawn(async move { b.campaign().await.map(|l| (l, b)) });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!waiting.is_finished(), "b must wait while a leads");

        la.resign().await;
        let (lb, b) = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("b takes over after a resigns")
            .unwrap()
            .unwrap();
        assert!(lb.is_leader());
        assert_eq!(b.leader().await.unwrap().as_deref(), Some("http://b"));
    }

    #[tokio::test]
    async fn leadership_is_lost_when_the_key_is_deleted_and_expires_when_dropped() {
        let store = MemStore::new();
        let a = Election::new(
            store.clone(),
            "/svc/leader",
            "http://a",
            Duration::from_secs(1),
        );
        let la = a.campaign().await.unwrap();
        store
            .delete(DeleteRequest {
                key: "/svc/leader".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(5), la.lost())
            .await
            .expect("the leader notices the deleted key");
        assert!(!la.is_leader());

        // A leader that stops renewing (dropped) loses the key after its TTL.
        let la = a.campaign().await.unwrap();
        drop(la);
        let b = Election::new(
            store.clone(),
            "/svc/leader",
            "http://b",
            Duration::from_secs(1),
        );
        let lb = tokio::time::timeout(Duration::from_secs(10), b.campaign())
            .await
            .expect("the abandoned lease expires")
            .unwrap();
        assert!(lb.is_leader());
    }
}
