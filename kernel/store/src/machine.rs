//! The KV state machine: a pure, deterministic function from
//! `(state, Command)` to `(state', Applied)`. No clock, no randomness, no I/O:
//! every replica applies the same log and reaches the same state.
//!
//! The machine keeps the live key space in memory (reads never touch disk),
//! the leases and their keys, the global revision, and a bounded history of
//! recent revisions for watchers. Durability is the caller's business: it
//! asks [`KvMachine::take_dirty`] which rows changed and persists them.
//!
//! Revisions follow etcd: the store revision grows by exactly one for every
//! command that changes at least one key, and every such revision has one
//! [`WatchBatch`] in the history. Revisions are therefore contiguous, which
//! lets a watcher detect a gap.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ops::Bound;

use serde::{Deserialize, Serialize};

use crate::error::KvError;
use crate::types::*;

/// How much watch history a machine keeps (whichever bound is hit first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryLimit {
    pub revisions: usize,
    pub bytes: usize,
}

impl Default for HistoryLimit {
    fn default() -> Self {
        HistoryLimit {
            revisions: 20_000,
            bytes: 64 * 1024 * 1024,
        }
    }
}

/// A lease as the machine knows it: its keys and its time to live. When it
/// expires is not replicated state: the leader decides and commits a revoke.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseState {
    pub ttl: u64,
    pub keys: BTreeSet<String>,
}

/// The complete replicated KV state. Serialised whole into snapshots.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvMachine {
    kvs: BTreeMap<String, KeyValue>,
    leases: BTreeMap<u64, LeaseState>,
    revision: u64,
    next_lease_id: u64,
    /// Every revision `<= compacted` has left the history.
    compacted: u64,
    history: VecDeque<WatchBatch>,
    history_bytes: usize,
    history_limit: HistoryLimit,
    #[serde(skip)]
    dirty: Dirty,
}

/// Rows changed since the last [`KvMachine::take_dirty`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dirty {
    pub keys: BTreeSet<String>,
    pub leases: BTreeSet<u64>,
    pub batches: Vec<WatchBatch>,
    pub compacted_changed: bool,
}

impl Dirty {
    /// Adds later changes to these.
    pub fn merge(&mut self, later: Dirty) {
        self.keys.extend(later.keys);
        self.leases.extend(later.leases);
        self.batches.extend(later.batches);
        self.compacted_changed |= later.compacted_changed;
    }

    /// Rows to write (keys, leases and history batches).
    pub fn len(&self) -> usize {
        self.keys.len() + self.leases.len() + self.batches.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0 && !self.compacted_changed
    }
}

impl KvMachine {
    pub fn new(history_limit: HistoryLimit) -> Self {
        KvMachine {
            history_limit,
            next_lease_id: 1,
            ..Default::default()
        }
    }

    /// Rebuilds a machine from persisted rows (the SQLite state machine).
    pub fn from_parts(
        kvs: Vec<KeyValue>,
        lease_ttls: Vec<(u64, u64)>,
        revision: u64,
        next_lease_id: u64,
        compacted: u64,
        history: Vec<WatchBatch>,
        history_limit: HistoryLimit,
    ) -> Self {
        let mut leases: BTreeMap<u64, LeaseState> = lease_ttls
            .into_iter()
            .map(|(id, ttl)| {
                (
                    id,
                    LeaseState {
                        ttl,
                        keys: BTreeSet::new(),
                    },
                )
            })
            .collect();
        for kv in &kvs {
            if let Some(l) = kv.lease.and_then(|id| leases.get_mut(&id)) {
                l.keys.insert(kv.key.clone());
            }
        }
        let history_bytes = history.iter().map(batch_bytes).sum();
        KvMachine {
            kvs: kvs.into_iter().map(|kv| (kv.key.clone(), kv)).collect(),
            leases,
            revision,
            next_lease_id: next_lease_id.max(1),
            compacted,
            history: history.into(),
            history_bytes,
            history_limit,
            dirty: Dirty::default(),
        }
    }

    pub fn revision(&self) -> u64 {
        self.revision
    }

    pub fn next_lease_id(&self) -> u64 {
        self.next_lease_id
    }

    pub fn compacted(&self) -> u64 {
        self.compacted
    }

    pub fn len(&self) -> usize {
        self.kvs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.kvs.is_empty()
    }

    pub fn get(&self, key: &str) -> Option<&KeyValue> {
        self.kvs.get(key)
    }

    pub fn lease(&self, id: u64) -> Option<&LeaseState> {
        self.leases.get(&id)
    }

    pub fn leases(&self) -> impl Iterator<Item = (u64, &LeaseState)> {
        self.leases.iter().map(|(id, l)| (*id, l))
    }

    pub fn history(&self) -> &VecDeque<WatchBatch> {
        &self.history
    }

    /// The rows changed since the last call, for the persistence layer.
    pub fn take_dirty(&mut self) -> Dirty {
        std::mem::take(&mut self.dirty)
    }

    /// Answers a range read from the current state.
    pub fn range(&self, req: &RangeRequest) -> RangeResponse {
        let mut kvs = Vec::new();
        let mut count = 0u64;
        let mut more = false;
        let matches = |k: &str| {
            if req.prefix {
                k.starts_with(&req.key)
            } else {
                k == req.key
            }
        };
        let lower = match &req.start_after {
            Some(after) if after.as_str() >= req.key.as_str() => Bound::Excluded(after.clone()),
            _ => Bound::Included(req.key.clone()),
        };
        for (k, kv) in self.kvs.range((lower, Bound::Unbounded)) {
            if !matches(k) {
                break;
            }
            count += 1;
            if req.count_only {
                continue;
            }
            if req.limit > 0 && kvs.len() as u64 >= req.limit {
                more = true;
                continue;
            }
            kvs.push(kv.clone());
        }
        RangeResponse {
            revision: self.revision,
            kvs,
            more,
            count,
        }
    }

    /// Batches with revision in `(after, revision]`, or `Compacted` if part
    /// of that range has left the history.
    pub fn history_after(&self, after: u64) -> Result<Vec<WatchBatch>, KvError> {
        if after >= self.revision {
            return Ok(Vec::new());
        }
        if after < self.compacted {
            return Err(KvError::Compacted {
                requested: after + 1,
                compact_revision: self.compacted,
            });
        }
        let skip = self
            .history
            .partition_point(|batch| batch.revision <= after);
        Ok(self.history.iter().skip(skip).cloned().collect())
    }

    /// Applies one command. Validation that needs no state happened at the
    /// API; what depends on state (CAS, leases) is decided here.
    pub fn apply(&mut self, cmd: &Command) -> Applied {
        match cmd {
            Command::Put(req) => {
                if let Err(e) = self.check_cas(&req.key, req.expect_mod_revision) {
                    return Applied::Rejected(e);
                }
                if let Err(e) = self.check_lease(req.lease) {
                    return Applied::Rejected(e);
                }
                let mut tx = Tx::new(self);
                let resp = tx.put(req);
                tx.commit();
                Applied::Put(resp)
            }
            Command::Delete(req) => {
                if !req.prefix && !self.kvs.contains_key(&req.key) {
                    return Applied::Rejected(KvError::KeyNotFound {
                        key: req.key.clone(),
                    });
                }
                if let Err(e) = self.check_cas(&req.key, req.expect_mod_revision) {
                    return Applied::Rejected(e);
                }
                let mut tx = Tx::new(self);
                let resp = tx.delete(req);
                tx.commit();
                Applied::Delete(resp)
            }
            Command::Txn(req) => {
                let succeeded = req.compare.iter().all(|c| self.compare(c));
                let ops = if succeeded {
                    &req.success
                } else {
                    &req.failure
                };
                for op in ops {
                    if let TxnOp::Put(put) = op {
                        if let Err(e) = self.check_lease(put.lease) {
                            return Applied::Rejected(e);
                        }
                    }
                }
                let mut tx = Tx::new(self);
                let mut responses = Vec::with_capacity(ops.len());
                for op in ops {
                    responses.push(match op {
                        TxnOp::Put(put) => TxnOpResponse::Put(tx.put(put)),
                        TxnOp::Delete(del) => TxnOpResponse::Delete(tx.delete(del)),
                        TxnOp::Get(range) => TxnOpResponse::Get(tx.machine.range(range)),
                    });
                }
                let revision = tx.commit();
                for r in &mut responses {
                    match r {
                        TxnOpResponse::Put(p) => p.revision = revision,
                        TxnOpResponse::Delete(d) => d.revision = revision,
                        TxnOpResponse::Get(g) => g.revision = revision,
                    }
                }
                Applied::Txn(TxnResponse {
                    revision,
                    succeeded,
                    responses,
                })
            }
            Command::LeaseGrant(req) => {
                let id = match req.id {
                    Some(id) if self.leases.contains_key(&id) => {
                        return Applied::Rejected(KvError::LeaseExists { id })
                    }
                    Some(id) => id,
                    None => {
                        let mut id = self.next_lease_id;
                        while self.leases.contains_key(&id) {
                            id += 1;
                        }
                        id
                    }
                };
                self.next_lease_id = self.next_lease_id.max(id + 1);
                self.leases.insert(
                    id,
                    LeaseState {
                        ttl: req.ttl,
                        keys: BTreeSet::new(),
                    },
                );
                self.dirty.leases.insert(id);
                Applied::LeaseGranted(Lease { id, ttl: req.ttl })
            }
            Command::Batch(cmds) => Applied::Batch(cmds.iter().map(|c| self.apply(c)).collect()),
            Command::LeaseRevoke { id } => {
                let Some(lease) = self.leases.remove(id) else {
                    return Applied::Rejected(KvError::LeaseNotFound { id: *id });
                };
                self.dirty.leases.insert(*id);
                let mut tx = Tx::new(self);
                let mut deleted = 0;
                for key in &lease.keys {
                    deleted += tx
                        .delete(&DeleteRequest {
                            key: key.clone(),
                            ..Default::default()
                        })
                        .deleted;
                }
                let revision = tx.commit();
                Applied::LeaseRevoked(LeaseRevokeResponse { revision, deleted })
            }
        }
    }

    /// Compare-and-set: the key's mod revision must be `expected` (0: absent).
    fn check_cas(&self, key: &str, expected: Option<u64>) -> Result<(), KvError> {
        let Some(expected) = expected else {
            return Ok(());
        };
        let actual = self.kvs.get(key).map_or(0, |kv| kv.mod_revision);
        if actual != expected {
            return Err(KvError::CasFailed {
                key: key.to_string(),
                expected,
                actual,
            });
        }
        Ok(())
    }

    fn check_lease(&self, lease: Option<u64>) -> Result<(), KvError> {
        match lease {
            Some(id) if !self.leases.contains_key(&id) => Err(KvError::LeaseNotFound { id }),
            _ => Ok(()),
        }
    }

    fn compare(&self, c: &Compare) -> bool {
        use std::cmp::Ordering;
        let kv = self.kvs.get(&c.key);
        let ord = match &c.target {
            CompareTarget::Version(v) => kv.map_or(0, |kv| kv.version).cmp(v),
            CompareTarget::CreateRevision(v) => kv.map_or(0, |kv| kv.create_revision).cmp(v),
            CompareTarget::ModRevision(v) => kv.map_or(0, |kv| kv.mod_revision).cmp(v),
            CompareTarget::Lease(v) => kv.and_then(|kv| kv.lease).unwrap_or(0).cmp(v),
            CompareTarget::Value(v) => match kv {
                // etcd: a value comparison against a missing key is false.
                None => return false,
                Some(kv) => kv.value.as_slice().cmp(v.as_slice()),
            },
        };
        match c.result {
            CompareResult::Equal => ord == Ordering::Equal,
            CompareResult::NotEqual => ord != Ordering::Equal,
            CompareResult::Greater => ord == Ordering::Greater,
            CompareResult::Less => ord == Ordering::Less,
        }
    }

    fn push_history(&mut self, batch: WatchBatch) {
        self.history_bytes += batch_bytes(&batch);
        self.dirty.batches.push(batch.clone());
        self.history.push_back(batch);
        while self.history.len() > self.history_limit.revisions
            || (self.history_bytes > self.history_limit.bytes && self.history.len() > 1)
        {
            let Some(old) = self.history.pop_front() else {
                break;
            };
            self.history_bytes -= batch_bytes(&old);
            self.compacted = old.revision;
            self.dirty.compacted_changed = true;
        }
    }
}

/// Approximate memory held by a batch, for the history's byte bound.
fn batch_bytes(batch: &WatchBatch) -> usize {
    batch
        .events
        .iter()
        .map(|e| {
            64 + e.kv.key.len()
                + e.kv.value.len()
                + e.prev_kv
                    .as_ref()
                    .map_or(0, |p| p.key.len() + p.value.len())
        })
        .sum()
}

/// The changes of one command: all at the same new revision, recorded as
/// one watch batch when committed.
struct Tx<'a> {
    machine: &'a mut KvMachine,
    revision: u64,
    events: Vec<Event>,
}

impl<'a> Tx<'a> {
    fn new(machine: &'a mut KvMachine) -> Self {
        let revision = machine.revision + 1;
        Tx {
            machine,
            revision,
            events: Vec::new(),
        }
    }

    fn put(&mut self, req: &PutRequest) -> PutResponse {
        let m = &mut *self.machine;
        let prev = m.kvs.get(&req.key).cloned();
        let kv = KeyValue {
            key: req.key.clone(),
            value: req.value.clone(),
            create_revision: prev.as_ref().map_or(self.revision, |p| p.create_revision),
            mod_revision: self.revision,
            version: prev.as_ref().map_or(1, |p| p.version + 1),
            lease: req.lease,
        };
        if let Some(old) = prev.as_ref().and_then(|p| p.lease) {
            if Some(old) != req.lease {
                if let Some(l) = m.leases.get_mut(&old) {
                    l.keys.remove(&req.key);
                }
            }
        }
        if let Some(l) = req.lease.and_then(|id| m.leases.get_mut(&id)) {
            l.keys.insert(req.key.clone());
        }
        m.kvs.insert(req.key.clone(), kv.clone());
        m.dirty.keys.insert(req.key.clone());
        self.events.push(Event {
            kind: EventKind::Put,
            kv,
            prev_kv: prev.clone(),
        });
        PutResponse {
            revision: self.revision,
            prev_kv: prev,
        }
    }

    fn delete(&mut self, req: &DeleteRequest) -> DeleteResponse {
        let m = &mut *self.machine;
        let keys: Vec<String> = if req.prefix {
            m.kvs
                .range(req.key.clone()..)
                .take_while(|(k, _)| k.starts_with(&req.key))
                .map(|(k, _)| k.clone())
                .collect()
        } else if m.kvs.contains_key(&req.key) {
            vec![req.key.clone()]
        } else {
            Vec::new()
        };
        let mut prev_kvs = Vec::with_capacity(keys.len());
        for key in keys {
            let Some(prev) = m.kvs.remove(&key) else {
                continue;
            };
            if let Some(l) = prev.lease.and_then(|id| m.leases.get_mut(&id)) {
                l.keys.remove(&key);
            }
            m.dirty.keys.insert(key.clone());
            self.events.push(Event {
                kind: EventKind::Delete,
                kv: KeyValue {
                    key,
                    value: Vec::new(),
                    create_revision: 0,
                    mod_revision: self.revision,
                    version: 0,
                    lease: None,
                },
                prev_kv: Some(prev.clone()),
            });
            prev_kvs.push(prev);
        }
        DeleteResponse {
            revision: self.revision,
            deleted: prev_kvs.len() as u64,
            prev_kvs,
        }
    }

    /// Records the revision if anything changed; returns the store revision
    /// after the command.
    fn commit(self) -> u64 {
        if self.events.is_empty() {
            return self.machine.revision;
        }
        self.machine.revision = self.revision;
        self.machine.push_history(WatchBatch {
            revision: self.revision,
            events: self.events,
        });
        self.revision
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &str, value: &str) -> Command {
        Command::Put(PutRequest {
            key: key.into(),
            value: value.as_bytes().to_vec(),
            ..Default::default()
        })
    }

    #[test]
    fn revisions_versions_and_history_are_contiguous() {
        let mut m = KvMachine::new(HistoryLimit::default());
        m.apply(&put("/a", "1"));
        m.apply(&put("/a", "2"));
        m.apply(&put("/b", "1"));
        let a = m.get("/a").unwrap();
        assert_eq!((a.create_revision, a.mod_revision, a.version), (1, 2, 2));
        assert_eq!(m.revision(), 3);
        let revs: Vec<u64> = m
            .history_after(0)
            .unwrap()
            .iter()
            .map(|b| b.revision)
            .collect();
        assert_eq!(revs, vec![1, 2, 3]);
        assert_eq!(m.history_after(2).unwrap().len(), 1);
    }

    #[test]
    fn failed_commands_change_nothing() {
        let mut m = KvMachine::new(HistoryLimit::default());
        m.apply(&put("/a", "1"));
        m.take_dirty();
        let before = m.clone();
        let cas = Command::Put(PutRequest {
            key: "/a".into(),
            value: b"x".to_vec(),
            expect_mod_revision: Some(7),
            ..Default::default()
        });
        assert!(matches!(
            m.apply(&cas),
            Applied::Rejected(KvError::CasFailed { actual: 1, .. })
        ));
        let del = Command::Delete(DeleteRequest {
            key: "/missing".into(),
            ..Default::default()
        });
        assert!(matches!(
            m.apply(&del),
            Applied::Rejected(KvError::KeyNotFound { .. })
        ));
        let leased = Command::Put(PutRequest {
            key: "/b".into(),
            lease: Some(9),
            ..Default::default()
        });
        assert!(matches!(
            m.apply(&leased),
            Applied::Rejected(KvError::LeaseNotFound { id: 9 })
        ));
        m.take_dirty();
        assert_eq!(m, before);
    }

    #[test]
    fn history_is_bounded_and_reports_compaction() {
        let mut m = KvMachine::new(HistoryLimit {
            revisions: 3,
            bytes: usize::MAX,
        });
        for i in 0..5 {
            m.apply(&put("/k", &i.to_string()));
        }
        assert_eq!(m.compacted(), 2);
        assert!(matches!(
            m.history_after(1),
            Err(KvError::Compacted {
                compact_revision: 2,
                ..
            })
        ));
        assert_eq!(m.history_after(2).unwrap().len(), 3);
    }

    #[test]
    fn lease_revoke_deletes_its_keys_in_one_revision() {
        let mut m = KvMachine::new(HistoryLimit::default());
        let Applied::LeaseGranted(lease) =
            m.apply(&Command::LeaseGrant(LeaseGrantRequest { ttl: 5, id: None }))
        else {
            panic!("grant failed")
        };
        for key in ["/l/1", "/l/2"] {
            m.apply(&Command::Put(PutRequest {
                key: key.into(),
                lease: Some(lease.id),
                ..Default::default()
            }));
        }
        let rev = m.revision();
        let Applied::LeaseRevoked(r) = m.apply(&Command::LeaseRevoke { id: lease.id }) else {
            panic!("revoke failed")
        };
        assert_eq!((r.deleted, r.revision), (2, rev + 1));
        assert!(m.is_empty());
        assert_eq!(m.history_after(rev).unwrap()[0].events.len(), 2);
    }

    #[test]
    fn a_batch_answers_each_command_on_its_own() {
        let mut m = KvMachine::new(HistoryLimit::default());
        let cas = Command::Put(PutRequest {
            key: "/a".into(),
            expect_mod_revision: Some(0),
            ..Default::default()
        });
        let Applied::Batch(answers) =
            m.apply(&Command::Batch(vec![put("/a", "1"), cas, put("/b", "2")]))
        else {
            panic!("a batch answers with a batch")
        };
        assert!(matches!(
            answers[0],
            Applied::Put(PutResponse { revision: 1, .. })
        ));
        assert!(matches!(
            answers[1],
            Applied::Rejected(KvError::CasFailed { actual: 1, .. })
        ));
        assert!(matches!(
            answers[2],
            Applied::Put(PutResponse { revision: 2, .. })
        ));
        assert_eq!(
            m.history_after(0).unwrap().len(),
            2,
            "one history batch per revision"
        );
    }

    #[test]
    fn range_pages_in_key_order() {
        let mut m = KvMachine::new(HistoryLimit::default());
        for k in ["/p/c", "/p/a", "/p/b", "/q"] {
            m.apply(&put(k, "v"));
        }
        let mut req = RangeRequest {
            key: "/p/".into(),
            prefix: true,
            limit: 2,
            ..Default::default()
        };
        let page = m.range(&req);
        assert_eq!(
            page.kvs
                .iter()
                .map(|kv| kv.key.as_str())
                .collect::<Vec<_>>(),
            ["/p/a", "/p/b"]
        );
        assert!(page.more);
        assert_eq!(page.count, 3);
        req.start_after = Some("/p/b".into());
        let page = m.range(&req);
        assert_eq!(page.kvs.len(), 1);
        assert!(!page.more);
    }
}
