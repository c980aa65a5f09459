//! How a plan's writes reach the store: fenced, and all or nothing.
//!
//! Owns the leader's transactions and the `/marathon/staged/` and
//! `/marathon/committed/` keys with their recovery. It does not decide what
//! to write ([`crate::state`]) nor when ([`crate::runtime`]).
//!
//! **Fence.** Every transaction also compares the election key's
//! `create_revision` with the one this leader was elected at (as Chronos'
//! store does), so a deposed leader that has not noticed yet writes
//! nothing ([`CommitError::Deposed`]).
//!
//! **One transaction** when the writes fit the store's limits: at most
//! [`MAX_TXN_OPS`] compares and operations (the fence is one) and at most
//! [`MAX_VALUE_BYTES`] of values. Nearly every change does.
//!
//! **A marker** for a change that does not fit (a group of many apps, a
//! batch of thousands of launches):
//!
//! 1. *stage*: its writes, in chunks of ≤ [`CHUNK_BYTES`], at
//!    `/marathon/staged/<id>/<n>` (one fenced transaction each, in
//!    parallel). Nothing reads them but recovery.
//! 2. *commit*: one fenced put of the marker `/marathon/committed/<id>`
//!    (`{"chunks": n}`). The change is committed exactly when this
//!    succeeds.
//! 3. *apply*: the writes to their keys (fenced transactions within the
//!    limits, in parallel: the keys are distinct), then delete the chunks,
//!    then the marker.
//!
//! [`recover`] rolls a marked change forward (step 3 again: it only puts
//! final values, so repeating it is harmless) and an unmarked one back
//! (deletes its chunks). A new leader recovers before it loads its books;
//! the leader recovers before its next commit when step 3 failed. So
//! nothing commits between a marker and its roll-forward, and a crash at
//! any point leaves all of a change or none of it.

use std::collections::{HashMap, HashSet};

use dcos_store::types::{
    Compare, CompareResult, CompareTarget, DeleteRequest, PutRequest, RangeRequest, TxnOp,
    TxnRequest, MAX_TXN_OPS, MAX_VALUE_BYTES,
};
use dcos_store::{Kv, KvError};
use serde::{Deserialize, Serialize};

use crate::state::{Write, LEADER_KEY, PREFIX};

/// Why a commit did not happen.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The store failed or timed out: retry once it is back. (A timeout
    /// may hide a write that landed: the leader reloads its books before
    /// its next change.)
    #[error("store: {0}")]
    Store(#[from] KvError),
    /// Another Marathon holds the election key now: nothing was written.
    #[error("not the leader any more: another Marathon was elected")]
    Deposed,
    /// A staged chunk does not decode (recovery cannot roll it forward).
    #[error("staged change {key} is corrupt: {error}")]
    Corrupt {
        /// The chunk's key.
        key: String,
        /// The decode error.
        error: String,
    },
}

/// Where staged chunks live: `<STAGED><id>/<n>`.
pub fn staged_prefix() -> String {
    format!("{PREFIX}/staged/")
}

/// Where commit markers live: `<COMMITTED><id>`.
pub fn committed_prefix() -> String {
    format!("{PREFIX}/committed/")
}

/// Writes one transaction carries beside the fence compare.
pub const TXN_WRITES: usize = MAX_TXN_OPS - 1;

/// Encoded bytes of one staged chunk (a value of its own; below the
/// store's per-transaction value limit).
pub const CHUNK_BYTES: usize = 768 * 1024;

/// Did the whole change land?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Committed {
    /// Committed and applied.
    Done,
    /// Committed (its marker is stored) but not yet applied: call
    /// [`recover`] before the next commit.
    RollForwardDue,
}

/// One write in a staged chunk. Values are text: every value Marathon
/// writes is JSON, an id or a URL.
#[derive(Debug, Serialize, Deserialize)]
struct Staged {
    key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    chunks: usize,
}

fn fence(rev: Option<u64>) -> Vec<Compare> {
    rev.map(|rev| Compare {
        key: LEADER_KEY.into(),
        target: CompareTarget::CreateRevision(rev),
        result: CompareResult::Equal,
    })
    .into_iter()
    .collect()
}

async fn txn(kv: &dyn Kv, rev: Option<u64>, success: Vec<TxnOp>) -> Result<(), CommitError> {
    let resp = kv
        .txn(TxnRequest {
            compare: fence(rev),
            success,
            failure: vec![],
        })
        .await?;
    if resp.succeeded {
        Ok(())
    } else {
        Err(CommitError::Deposed)
    }
}

async fn all(
    calls: impl IntoIterator<Item = impl std::future::Future<Output = Result<(), CommitError>>>,
) -> Result<(), CommitError> {
    for r in futures::future::join_all(calls).await {
        r?;
    }
    Ok(())
}

fn put(key: String, value: Vec<u8>) -> TxnOp {
    TxnOp::Put(PutRequest {
        key,
        value,
        ..PutRequest::default()
    })
}

fn delete(key: String, prefix: bool) -> TxnOp {
    TxnOp::Delete(DeleteRequest {
        key,
        prefix,
        ..DeleteRequest::default()
    })
}

/// The last write of every key, in order (the store refuses two writes
/// to one key in a transaction; only the last one matters).
pub fn last_per_key(writes: Vec<Write>) -> Vec<Write> {
    let mut last: HashMap<&str, usize> = HashMap::new();
    for (i, w) in writes.iter().enumerate() {
        last.insert(w.key(), i);
    }
    let keep: HashSet<usize> = last.into_values().collect();
    writes
        .into_iter()
        .enumerate()
        .filter(|(i, _)| keep.contains(i))
        .map(|(_, w)| w)
        .collect()
}

/// Transactions within the store's limits, in order.
fn batches(writes: Vec<Write>) -> Vec<Vec<TxnOp>> {
    let mut out: Vec<Vec<TxnOp>> = Vec::new();
    let mut bytes = 0;
    for w in writes {
        let size = match &w {
            Write::Put(_, v) => v.len(),
            Write::Delete(_) => 0,
        };
        match out.last() {
            Some(b) if b.len() < TXN_WRITES && bytes + size <= MAX_VALUE_BYTES => {}
            _ => {
                out.push(Vec::new());
                bytes = 0;
            }
        }
        bytes += size;
        out.last_mut().expect("a batch").push(match w {
            Write::Put(key, value) => put(key, value),
            Write::Delete(key) => delete(key, false),
        });
    }
    out
}

/// The staged chunks of `writes`, each ≤ [`CHUNK_BYTES`] encoded (a
/// single larger write gets a chunk of its own).
fn chunks(writes: &[Write]) -> Result<Vec<Vec<u8>>, CommitError> {
    let mut out = Vec::new();
    let mut chunk: Vec<u8> = Vec::new();
    for w in writes {
        let staged = match w {
            Write::Put(key, value) => Staged {
                key: key.clone(),
                value: Some(String::from_utf8(value.clone()).map_err(|_| {
                    KvError::invalid(format!("value of {key} is not text; cannot stage it"))
                })?),
            },
            Write::Delete(key) => Staged {
                key: key.clone(),
                value: None,
            },
        };
        let encoded = serde_json::to_vec(&staged).unwrap_or_default();
        if !chunk.is_empty() && chunk.len() + 1 + encoded.len() + 1 > CHUNK_BYTES {
            chunk.push(b']');
            out.push(std::mem::take(&mut chunk));
        }
        chunk.push(if chunk.is_empty() { b'[' } else { b',' });
        chunk.extend(encoded);
    }
    if !chunk.is_empty() {
        chunk.push(b']');
        out.push(chunk);
    }
    Ok(out)
}

/// Commits `writes` atomically, fenced on the election at `rev` (`None`:
/// unfenced, for single-process tests). On an error nothing of the change
/// is visible (a staged change without its marker is rolled back).
pub async fn commit(
    kv: &dyn Kv,
    rev: Option<u64>,
    writes: Vec<Write>,
) -> Result<Committed, CommitError> {
    let writes = last_per_key(writes);
    if writes.is_empty() {
        return Ok(Committed::Done);
    }
    let mut batches = batches(writes.clone());
    if batches.len() == 1 {
        txn(kv, rev, batches.pop().expect("one batch")).await?;
        return Ok(Committed::Done);
    }
    let id = uuid::Uuid::new_v4().to_string();
    let chunks = chunks(&writes)?;
    let n = chunks.len();
    let staged = format!("{}{id}/", staged_prefix());
    let marked = async {
        all(chunks
            .into_iter()
            .enumerate()
            .map(|(i, c)| txn(kv, rev, vec![put(format!("{staged}{i}"), c)])))
        .await?;
        let marker = serde_json::to_vec(&Marker { chunks: n }).unwrap_or_default();
        txn(
            kv,
            rev,
            vec![put(format!("{}{id}", committed_prefix()), marker)],
        )
        .await
    };
    if let Err(e) = marked.await {
        // Best effort: recovery deletes what is left.
        let _ = txn(kv, rev, vec![delete(staged, true)]).await;
        return Err(e);
    }
    match apply(kv, rev, &id, batches).await {
        Ok(()) => Ok(Committed::Done),
        Err(e) => {
            tracing::warn!(error = %e, %id, "committed change not applied yet; recovery rolls it forward");
            Ok(Committed::RollForwardDue)
        }
    }
}

/// Step 3: the writes to their keys, then the chunks and the marker away.
async fn apply(
    kv: &dyn Kv,
    rev: Option<u64>,
    id: &str,
    batches: Vec<Vec<TxnOp>>,
) -> Result<(), CommitError> {
    all(batches.into_iter().map(|b| txn(kv, rev, b))).await?;
    txn(
        kv,
        rev,
        vec![delete(format!("{}{id}/", staged_prefix()), true)],
    )
    .await?;
    txn(
        kv,
        rev,
        vec![delete(format!("{}{id}", committed_prefix()), false)],
    )
    .await
}

/// Every key-value under `prefix`, read in pages of 1,000.
pub(crate) async fn range_all(
    kv: &dyn Kv,
    prefix: &str,
) -> Result<Vec<dcos_store::types::KeyValue>, KvError> {
    let mut out = Vec::new();
    let mut start_after = None;
    loop {
        let resp = kv
            .range(RangeRequest {
                key: prefix.to_owned(),
                prefix: true,
                limit: 1000,
                start_after: start_after.clone(),
                ..RangeRequest::default()
            })
            .await?;
        start_after = resp.kvs.last().map(|kv| kv.key.clone());
        out.extend(resp.kvs);
        if !resp.more || start_after.is_none() {
            return Ok(out);
        }
    }
}

/// Finishes what a crash or a store failure interrupted: rolls every
/// marked change forward (oldest marker first), deletes the chunks of
/// unmarked ones. Run with no commit in flight.
pub async fn recover(kv: &dyn Kv, rev: Option<u64>) -> Result<(), CommitError> {
    let mut markers = range_all(kv, &committed_prefix()).await?;
    markers.sort_by_key(|m| m.mod_revision);
    let mut staged = range_all(kv, &staged_prefix()).await?;
    for m in &markers {
        let id = &m.key[committed_prefix().len()..];
        let prefix = format!("{}{id}/", staged_prefix());
        let mut writes = Vec::new();
        let mut mine: Vec<_> = staged
            .iter()
            .filter(|s| s.key.starts_with(&prefix))
            .collect();
        mine.sort_by_key(|s| s.key[prefix.len()..].parse::<usize>().unwrap_or(usize::MAX));
        for chunk in mine {
            let items: Vec<Staged> =
                serde_json::from_slice(&chunk.value).map_err(|e| CommitError::Corrupt {
                    key: chunk.key.clone(),
                    error: e.to_string(),
                })?;
            writes.extend(items.into_iter().map(|s| match s.value {
                Some(v) => Write::Put(s.key, v.into_bytes()),
                None => Write::Delete(s.key),
            }));
        }
        tracing::info!(%id, writes = writes.len(), "rolling a committed change forward");
        apply(kv, rev, id, batches(last_per_key(writes))).await?;
        staged.retain(|s| !s.key.starts_with(&prefix));
    }
    let orphans: HashSet<&str> = staged
        .iter()
        .filter_map(|s| s.key[staged_prefix().len()..].split('/').next())
        .collect();
    for id in orphans {
        tracing::info!(%id, "rolling an uncommitted change back");
        txn(
            kv,
            rev,
            vec![delete(format!("{}{id}/", staged_prefix()), true)],
        )
        .await?;
    }
    Ok(())
}

/// A store that fails on demand, for tests here and in `api`.
#[cfg(test)]
pub(crate) mod faulty {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use async_trait::async_trait;
    use dcos_store::kv::WatchStream;
    use dcos_store::types::*;
    use dcos_store::{Kv, KvError, MemStore};

    /// A [`MemStore`] whose transactions fail (unapplied) while `down`,
    /// or from the `fail_from`-th one on (1-based; 0: never).
    #[derive(Default)]
    pub(crate) struct Faulty {
        pub inner: MemStore,
        pub down: AtomicBool,
        pub fail_from: AtomicUsize,
        pub txns: AtomicUsize,
    }

    impl Faulty {
        fn check(&self) -> Result<(), KvError> {
            let n = self.txns.fetch_add(1, Ordering::SeqCst) + 1;
            let from = self.fail_from.load(Ordering::SeqCst);
            if self.down.load(Ordering::SeqCst) || (from > 0 && n >= from) {
                return Err(KvError::Unavailable {
                    reason: "injected".into(),
                });
            }
            Ok(())
        }
    }

    #[async_trait]
    impl Kv for Faulty {
        async fn range(&self, req: RangeRequest) -> Result<RangeResponse, KvError> {
            self.inner.range(req).await
        }
        async fn put(&self, req: PutRequest) -> Result<PutResponse, KvError> {
            self.check()?;
            self.inner.put(req).await
        }
        async fn delete(&self, req: DeleteRequest) -> Result<DeleteResponse, KvError> {
            self.check()?;
            self.inner.delete(req).await
        }
        async fn txn(&self, req: TxnRequest) -> Result<TxnResponse, KvError> {
            self.check()?;
            self.inner.txn(req).await
        }
        async fn watch(&self, req: WatchRequest) -> Result<WatchStream, KvError> {
            self.inner.watch(req).await
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
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::faulty::Faulty;
    use super::*;
    use dcos_store::MemStore;

    async fn count(kv: &dyn Kv, prefix: &str) -> usize {
        range_all(kv, prefix).await.unwrap().len()
    }

    /// More writes than one transaction carries (and than the old batches
    /// of 100), with values big enough to need several chunks.
    fn big_change() -> Vec<Write> {
        (0..300)
            .map(|i| {
                Write::Put(
                    format!("{PREFIX}/apps/g/app-{i:03}"),
                    format!(
                        "{{\"id\":\"/g/app-{i:03}\",\"cmd\":\"{}\"}}",
                        "x".repeat(4000)
                    )
                    .into_bytes(),
                )
            })
            .collect()
    }

    async fn elect(kv: &dyn Kv, who: &str) -> u64 {
        kv.put(PutRequest {
            key: LEADER_KEY.into(),
            value: who.as_bytes().to_vec(),
            ..PutRequest::default()
        })
        .await
        .unwrap();
        kv.get(LEADER_KEY).await.unwrap().unwrap().create_revision
    }

    #[tokio::test]
    async fn small_and_large_changes_land_whole_and_leave_no_journal() {
        let kv = MemStore::new();
        let small = vec![
            Write::Put(format!("{PREFIX}/apps/a"), b"{}".to_vec()),
            Write::Put(format!("{PREFIX}/apps/a"), b"{\"v\":2}".to_vec()),
        ];
        assert_eq!(commit(&kv, None, small).await.unwrap(), Committed::Done);
        let a = kv.get(&format!("{PREFIX}/apps/a")).await.unwrap().unwrap();
        assert_eq!(a.value, b"{\"v\":2}", "the last write of a key wins");
        assert!(chunks(&big_change()).unwrap().len() > 1);
        assert_eq!(
            commit(&kv, None, big_change()).await.unwrap(),
            Committed::Done
        );
        assert_eq!(count(&kv, &format!("{PREFIX}/apps/g/")).await, 300);
        assert_eq!(count(&kv, &staged_prefix()).await, 0);
        assert_eq!(count(&kv, &committed_prefix()).await, 0);
    }

    /// A crash (the store failing from then on) at every transaction of a
    /// large change: after recovery, all 300 keys or none, and no journal.
    #[tokio::test]
    async fn a_large_change_is_all_or_nothing_wherever_it_fails() {
        let total = {
            let kv = Faulty::default();
            commit(&kv, None, big_change()).await.unwrap();
            kv.txns.load(Ordering::SeqCst)
        };
        assert!(total > 3, "staged, marked, applied, cleaned: {total}");
        let mut outcomes = std::collections::BTreeSet::new();
        for k in 1..=total {
            let kv = Faulty::default();
            kv.fail_from.store(k, Ordering::SeqCst);
            let r = commit(&kv, None, big_change()).await;
            // The store comes back; the next leader recovers.
            kv.fail_from.store(0, Ordering::SeqCst);
            recover(&kv, None).await.unwrap();
            let n = count(&kv, &format!("{PREFIX}/apps/g/")).await;
            assert!(n == 0 || n == 300, "failing at txn {k}: {n} of 300 keys");
            assert_eq!(r.is_ok(), n == 300, "failing at txn {k}: answered {r:?}");
            assert_eq!(count(&kv, &staged_prefix()).await, 0);
            assert_eq!(count(&kv, &committed_prefix()).await, 0);
            outcomes.insert(n);
        }
        assert_eq!(outcomes.len(), 2, "both none and all happened");
    }

    /// A leader whose fence no longer holds (another one took the key)
    /// writes nothing, small change or large.
    #[tokio::test]
    async fn a_deposed_leader_writes_nothing() {
        let kv = MemStore::new();
        let old = elect(&kv, "old").await;
        kv.delete(DeleteRequest {
            key: LEADER_KEY.into(),
            ..DeleteRequest::default()
        })
        .await
        .unwrap();
        let new = elect(&kv, "new").await;
        assert_ne!(old, new);
        let small = vec![Write::Put(format!("{PREFIX}/apps/a"), b"{}".to_vec())];
        assert!(matches!(
            commit(&kv, Some(old), small.clone()).await,
            Err(CommitError::Deposed)
        ));
        assert!(matches!(
            commit(&kv, Some(old), big_change()).await,
            Err(CommitError::Deposed)
        ));
        assert!(matches!(
            recover(&kv, Some(old)).await,
            Ok(()) | Err(CommitError::Deposed)
        ));
        let everything = range_all(&kv, "/").await.unwrap();
        assert_eq!(
            everything
                .iter()
                .map(|kv| kv.key.as_str())
                .collect::<Vec<_>>(),
            [LEADER_KEY],
            "only the new leader's key"
        );
        commit(&kv, Some(new), small).await.unwrap();
        assert!(kv.get(&format!("{PREFIX}/apps/a")).await.unwrap().is_some());
    }
}
