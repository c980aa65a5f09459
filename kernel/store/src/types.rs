//! The store's data model and its wire shapes: keys, values, revisions,
//! events, the requests and answers of the KV API, and the replicated
//! [`Command`] that the Raft log carries.
//!
//! These types are both the JSON of the HTTP API (our own API, so requests
//! reject unknown fields) and the payload of log entries (MessagePack).
//! Values are bytes; on the JSON wire they are base64, as in etcd's gateway.

use serde::{Deserialize, Serialize};

/// Largest value accepted by a put (1 MiB), as etcd's default request limit.
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;
/// Largest key accepted (bytes of UTF-8).
pub const MAX_KEY_BYTES: usize = 4096;
/// Largest number of operations in one transaction.
pub const MAX_TXN_OPS: usize = 128;

/// Bytes that travel as base64 in JSON and as `bin` in MessagePack.
pub mod b64 {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&STANDARD.encode(v))
        } else {
            serde_bytes::serialize(v, s)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            STANDARD
                .decode(s.as_bytes())
                .map_err(|e| serde::de::Error::custom(format!("value is not valid base64: {e}")))
        } else {
            serde_bytes::deserialize(d)
        }
    }
}

/// One stored key with its value and revisions (etcd's `mvccpb.KeyValue`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValue {
    pub key: String,
    #[serde(with = "b64")]
    pub value: Vec<u8>,
    /// Revision of the last creation of this key.
    pub create_revision: u64,
    /// Revision of the last change of this key.
    pub mod_revision: u64,
    /// Number of changes since creation (1 after the first put).
    pub version: u64,
    /// Lease the key is bound to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<u64>,
}

/// What happened to a key at one revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventKind {
    Put,
    Delete,
}

/// One change seen by watchers. For a delete, `kv` holds the key, an empty
/// value and the deleting revision as `mod_revision`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    #[serde(rename = "type")]
    pub kind: EventKind,
    pub kv: KeyValue,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_kv: Option<KeyValue>,
}

/// Every event of one revision: a revision's events always travel together,
/// so a watcher that resumes at `revision + 1` neither misses nor repeats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchBatch {
    pub revision: u64,
    pub events: Vec<Event>,
}

/// A comparison inside a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Compare {
    pub key: String,
    pub target: CompareTarget,
    #[serde(default)]
    pub result: CompareResult,
}

/// What a [`Compare`] looks at. A missing key has version, revisions and
/// lease 0 and no value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum CompareTarget {
    Version(u64),
    CreateRevision(u64),
    ModRevision(u64),
    Lease(u64),
    #[serde(with = "b64")]
    Value(Vec<u8>),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CompareResult {
    #[default]
    Equal,
    NotEqual,
    Greater,
    Less,
}

/// One operation of a transaction branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum TxnOp {
    Put(PutRequest),
    Delete(DeleteRequest),
    Get(RangeRequest),
}

/// What one [`TxnOp`] answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxnOpResponse {
    Put(PutResponse),
    Delete(DeleteResponse),
    Get(RangeResponse),
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutRequest {
    pub key: String,
    #[serde(with = "b64")]
    pub value: Vec<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<u64>,
    /// Compare-and-set: apply only if the key's `mod_revision` equals this
    /// (0 means "only if the key does not exist").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_mod_revision: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutResponse {
    pub revision: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_kv: Option<KeyValue>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteRequest {
    pub key: String,
    /// Delete every key that starts with `key`.
    #[serde(default)]
    pub prefix: bool,
    /// Compare-and-delete on a single key's `mod_revision`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_mod_revision: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteResponse {
    pub revision: u64,
    pub deleted: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prev_kvs: Vec<KeyValue>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeRequest {
    /// The key, or with `prefix` the prefix, to read.
    pub key: String,
    #[serde(default)]
    pub prefix: bool,
    /// Page size; 0 means no limit.
    #[serde(default)]
    pub limit: u64,
    /// Pagination: only keys strictly after this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_after: Option<String>,
    /// Only count, do not return the key-values.
    #[serde(default)]
    pub count_only: bool,
    /// Serve from this node's state without the leader's read index: may be
    /// stale, but works on followers and without a quorum.
    #[serde(default)]
    pub serializable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeResponse {
    /// The store revision the answer reflects.
    pub revision: u64,
    pub kvs: Vec<KeyValue>,
    /// Whether more keys follow the page.
    pub more: bool,
    /// Number of keys matched (not limited by the page size).
    pub count: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TxnRequest {
    #[serde(default)]
    pub compare: Vec<Compare>,
    #[serde(default)]
    pub success: Vec<TxnOp>,
    #[serde(default)]
    pub failure: Vec<TxnOp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnResponse {
    pub revision: u64,
    pub succeeded: bool,
    pub responses: Vec<TxnOpResponse>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchRequest {
    /// The key, or with `prefix` the prefix, to watch.
    pub key: String,
    #[serde(default)]
    pub prefix: bool,
    /// First revision to deliver; 0 means "changes after now".
    #[serde(default)]
    pub start_revision: u64,
    /// Include each changed key's previous value.
    #[serde(default)]
    pub prev_kv: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseGrantRequest {
    /// Time to live in seconds (at least 1).
    pub ttl: u64,
    /// Ask for a specific id; otherwise the store picks one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub id: u64,
    pub ttl: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseIdRequest {
    pub id: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRevokeResponse {
    pub revision: u64,
    /// Keys deleted with the lease.
    pub deleted: u64,
}

/// A change to the replicated state: the application payload of a Raft log
/// entry. Applying one is deterministic (no clock, no randomness).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    Put(PutRequest),
    Delete(DeleteRequest),
    Txn(TxnRequest),
    LeaseGrant(LeaseGrantRequest),
    /// Revoke a lease and delete its keys; also how the leader expires one.
    LeaseRevoke {
        id: u64,
    },
    /// Several independent commands in one log entry, applied in order,
    /// each with its own answer (and revision). The node batches concurrent
    /// writes this way so that they share one fsync.
    Batch(Vec<Command>),
}

/// What applying a [`Command`] answered. Failures of preconditions are
/// answers, not storage errors: every replica computes the same one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Applied {
    /// Log entries without a command (blank, membership).
    None,
    Put(PutResponse),
    Delete(DeleteResponse),
    Txn(TxnResponse),
    LeaseGranted(Lease),
    LeaseRevoked(LeaseRevokeResponse),
    Rejected(crate::error::KvError),
    /// The answers of a [`Command::Batch`], in order.
    Batch(Vec<Applied>),
}

/// A member of the store's Raft group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub id: u64,
    /// `host:port` of the member's HTTP API.
    pub addr: String,
    pub voter: bool,
}

/// `GET /store/v1/status`: how this node sees the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub id: u64,
    pub addr: String,
    /// Leader, Follower, Candidate, Learner or Shutdown.
    pub state: String,
    pub leader: Option<u64>,
    pub leader_addr: Option<String>,
    pub term: u64,
    /// The store revision applied on this node.
    pub revision: u64,
    pub last_log_index: Option<u64>,
    pub last_applied_index: Option<u64>,
    /// Last log index covered by this node's latest snapshot.
    pub snapshot_index: Option<u64>,
    /// Log entries up to here have been deleted (compacted behind a snapshot).
    pub purged_index: Option<u64>,
    pub members: Vec<Member>,
    /// Replication streams this node answers (a follower: one per leader
    /// connection; appends after a peer's first travel on it).
    #[serde(default)]
    pub replication_streams: u64,
}

/// `POST /store/v1/members`: add a node (it becomes a voter once caught up).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    pub id: u64,
    pub addr: String,
    /// Join as a non-voting learner only.
    #[serde(default)]
    pub learner: bool,
}
