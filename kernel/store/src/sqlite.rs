//! Durable Raft storage in one SQLite file per node (sqlx, WAL mode):
//! the log and vote ([`SqliteLogStore`]) and the KV state machine with its
//! snapshots ([`SqliteStateMachine`]).
//!
//! One writer connection serves both the log and the state machine, so
//! their transactions queue in order instead of contending for SQLite's
//! write lock (whose busy handler sleeps for milliseconds); reads go through
//! a separate reader pool (WAL readers never block the writer). The writer
//! is a connection behind a fair mutex ([`Writer`]), not a pool of one: a
//! pool pings the connection's thread every time a connection comes back,
//! two more thread hops per log append.
//!
//! Durability: log writes commit with `synchronous=FULL`, so an appended
//! entry is on disk before Raft counts it. State machine batches commit with
//! `synchronous=NORMAL` on the same WAL file: they become durable with the
//! next log commit's fsync (the WAL is one sequential file), and if a power
//! loss takes the last few, they are re-applied from the log, which still
//! holds them (the log is purged only behind a persisted snapshot).
//!
//! Checkpoints (copying the WAL into the database file) run on a connection
//! of their own every [`CHECKPOINT_EVERY`] (`PASSIVE`: never waiting for the
//! writer), not inside whichever commit crossed SQLite's auto-checkpoint
//! threshold: that commit used to carry a 4 MB copy and an extra fsync.
//!
//! The state machine's rows are written in batches, at most every
//! [`FLUSH_EVERY`]: only the rows that changed (keys, leases, watch history)
//! and one metadata row holding the applied log id, in one transaction:
//! group commit, not a write per key. What was applied after the last flush
//! is re-applied from the log on restart.

use std::fmt::Debug;
use std::io::Cursor;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage, RaftStateMachine, Snapshot};
use openraft::{
    Entry, EntryPayload, LogId, OptionalSend, RaftLogReader, RaftSnapshotBuilder, SnapshotMeta,
    StorageError, StorageIOError, StoredMembership, Vote,
};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection, Row, Sqlite, SqlitePool};
use tokio::sync::{Mutex, MutexGuard};

use crate::machine::{Dirty, HistoryLimit, KvMachine};
use crate::raft::{NodeId, TypeConfig};
use crate::shared::SharedMachine;
use crate::types::{Applied, KeyValue, WatchBatch};

type SResult<T> = Result<T, StorageError<NodeId>>;
type Membership = StoredMembership<NodeId, openraft::BasicNode>;

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS raft_log (idx INTEGER PRIMARY KEY, entry BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS raft_meta (name TEXT PRIMARY KEY, value BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS sm_kv (key TEXT PRIMARY KEY, value BLOB NOT NULL, \
        create_rev INTEGER NOT NULL, mod_rev INTEGER NOT NULL, version INTEGER NOT NULL, lease INTEGER)",
    "CREATE TABLE IF NOT EXISTS sm_lease (id INTEGER PRIMARY KEY, ttl INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS sm_history (rev INTEGER PRIMARY KEY, batch BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS sm_meta (name TEXT PRIMARY KEY, value BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS sm_snapshot (id INTEGER PRIMARY KEY CHECK (id = 1), \
        meta BLOB NOT NULL, data BLOB NOT NULL)",
];

/// Opens (creating if needed) the node's database and returns its log
/// store and state machine, the machine already loaded into memory.
pub async fn open(
    path: &Path,
    history: HistoryLimit,
) -> Result<(SqliteLogStore, SqliteStateMachine), sqlx::Error> {
    let base = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(Duration::from_secs(30));
    let mut conn = base
        .clone()
        .synchronous(SqliteSynchronous::Full)
        .pragma("wal_autocheckpoint", "0")
        .connect()
        .await?;
    for stmt in SCHEMA {
        sqlx::query(stmt).execute(&mut conn).await?;
    }
    let writer = Writer::new(conn);
    let reader = SqlitePoolOptions::new()
        .max_connections(4)
        .min_connections(1)
        .test_before_acquire(false)
        .connect_with(base.clone().read_only(true))
        .await?;
    let checkpointer = SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .test_before_acquire(false)
        .connect_with(base.synchronous(SqliteSynchronous::Full))
        .await?;
    let sm = SqliteStateMachine::load(writer.clone(), reader.clone(), history).await?;
    let log = SqliteLogStore {
        writer,
        reader,
        recent: Arc::default(),
    };
    tokio::spawn(checkpoints(Arc::downgrade(&log.recent), checkpointer));
    Ok((log, sm))
}

/// How often the WAL is checkpointed into the database file.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// Checkpoints the WAL every [`CHECKPOINT_EVERY`] until the log store (whose
/// cache `alive` points at) is gone.
async fn checkpoints<T>(alive: std::sync::Weak<T>, pool: SqlitePool) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if alive.strong_count() == 0 {
            break;
        }
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            tracing::warn!(error = %e, "WAL checkpoint failed; will retry");
        }
    }
    pool.close().await;
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, rmp_serde::encode::Error> {
    rmp_serde::to_vec_named(v)
}

fn decode<T: DeserializeOwned>(b: &[u8]) -> Result<T, rmp_serde::decode::Error> {
    rmp_serde::from_slice(b)
}

fn read_err(e: impl std::error::Error + 'static) -> StorageError<NodeId> {
    StorageIOError::read(&e).into()
}

fn write_err(e: impl std::error::Error + 'static) -> StorageError<NodeId> {
    StorageIOError::write(&e).into()
}

async fn meta_get<T: DeserializeOwned>(
    pool: &SqlitePool,
    table: &str,
    name: &str,
) -> Result<Option<T>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT value FROM {table} WHERE name = ?"))
        .bind(name)
        .fetch_optional(pool)
        .await?;
    match row {
        None => Ok(None),
        Some(row) => {
            let bytes: Vec<u8> = row.get(0);
            decode(&bytes)
                .map(Some)
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))
        }
    }
}

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Rows per INSERT when appending (well under SQLite's variable limit).
const APPEND_ROWS_PER_STATEMENT: usize = 256;

/// The one writer connection (`synchronous=FULL` between transactions),
/// shared by the log and the state machine; tokio's mutex is fair, so their
/// transactions run in the order they asked.
#[derive(Debug, Clone)]
pub struct Writer {
    conn: Arc<Mutex<SqliteConnection>>,
    /// Set when the connection could not be put back to `synchronous=FULL`:
    /// from then on every write fails rather than run without fsync.
    broken: Arc<std::sync::atomic::AtomicBool>,
}

impl Writer {
    fn new(conn: SqliteConnection) -> Self {
        Writer {
            conn: Arc::new(Mutex::new(conn)),
            broken: Arc::default(),
        }
    }

    /// The connection, for one statement or transaction.
    async fn lock(&self) -> Result<MutexGuard<'_, SqliteConnection>, sqlx::Error> {
        let conn = self.conn.lock().await;
        if self.broken.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(sqlx::Error::WorkerCrashed);
        }
        Ok(conn)
    }

    /// The connection for a state machine transaction, which needs no fsync
    /// of its own (see the module docs); give it back with [`Self::restore`].
    async fn relaxed(&self) -> Result<MutexGuard<'_, SqliteConnection>, sqlx::Error> {
        let mut conn = self.lock().await?;
        sqlx::query("PRAGMA synchronous = NORMAL")
            .execute(&mut *conn)
            .await?;
        Ok(conn)
    }

    /// Puts the connection back to `synchronous=FULL` whatever happened; if
    /// that fails the writer is marked broken, so a log write never runs
    /// without fsync.
    async fn restore(
        &self,
        mut conn: MutexGuard<'_, SqliteConnection>,
        result: Result<(), sqlx::Error>,
    ) -> Result<(), sqlx::Error> {
        if let Err(e) = sqlx::query("PRAGMA synchronous = FULL")
            .execute(&mut *conn)
            .await
        {
            self.broken.store(true, std::sync::atomic::Ordering::SeqCst);
            return result.and(Err(e));
        }
        result
    }
}

/// The Raft log and vote.
#[derive(Debug, Clone)]
pub struct SqliteLogStore {
    writer: Writer,
    reader: SqlitePool,
    /// The last entries written, so that replication (which reads what was
    /// just appended) does not go back to SQLite. Always equal to the rows
    /// of the same indexes: updated only after the database changed.
    recent: Arc<std::sync::Mutex<std::collections::VecDeque<Entry<TypeConfig>>>>,
}

/// Entries kept in [`SqliteLogStore::recent`].
const RECENT_ENTRIES: usize = 1024;

impl SqliteLogStore {
    fn recent(&self) -> std::sync::MutexGuard<'_, std::collections::VecDeque<Entry<TypeConfig>>> {
        self.recent.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Entries `[start, end)` if the cache holds all of them.
    fn cached(&self, start: u64, end: u64) -> Option<Vec<Entry<TypeConfig>>> {
        let recent = self.recent();
        let first = recent.front()?.log_id.index;
        let last = recent.back()?.log_id.index;
        if start < first || end > last + 1 || start >= end {
            return None;
        }
        let from = (start - first) as usize;
        let to = (end - first) as usize;
        Some(recent.range(from..to).cloned().collect())
    }

    async fn put_meta<T: Serialize>(&self, name: &str, v: &T) -> SResult<()> {
        let bytes = encode(v).map_err(write_err)?;
        let mut conn = self.writer.lock().await.map_err(write_err)?;
        sqlx::query("INSERT OR REPLACE INTO raft_meta (name, value) VALUES (?, ?)")
            .bind(name)
            .bind(bytes)
            .execute(&mut *conn)
            .await
            .map_err(write_err)?;
        Ok(())
    }

    async fn get_meta<T: DeserializeOwned>(&self, name: &str) -> SResult<Option<T>> {
        meta_get(&self.reader, "raft_meta", name)
            .await
            .map_err(read_err)
    }
}

impl RaftLogReader<TypeConfig> for SqliteLogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> SResult<Vec<Entry<TypeConfig>>> {
        let start = match range.start_bound() {
            Bound::Included(x) => *x,
            Bound::Excluded(x) => x.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(x) => x.saturating_add(1),
            Bound::Excluded(x) => *x,
            Bound::Unbounded => u64::MAX,
        };
        if let Some(entries) = self.cached(start, end) {
            return Ok(entries);
        }
        let rows =
            sqlx::query("SELECT entry FROM raft_log WHERE idx >= ? AND idx < ? ORDER BY idx")
                .bind(i64_of(start))
                .bind(i64_of(end))
                .fetch_all(&self.reader)
                .await
                .map_err(read_err)?;
        rows.iter()
            .map(|row| decode::<Entry<TypeConfig>>(row.get::<&[u8], _>(0)).map_err(read_err))
            .collect()
    }
}

impl RaftLogStorage<TypeConfig> for SqliteLogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> SResult<LogState<TypeConfig>> {
        let last_purged: Option<LogId<NodeId>> = self.get_meta("last_purged").await?;
        let last = sqlx::query("SELECT entry FROM raft_log ORDER BY idx DESC LIMIT 1")
            .fetch_optional(&self.reader)
            .await
            .map_err(read_err)?;
        let last_log_id = match last {
            Some(row) => Some(
                decode::<Entry<TypeConfig>>(row.get::<&[u8], _>(0))
                    .map_err(read_err)?
                    .log_id,
            ),
            None => last_purged,
        };
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> SResult<()> {
        self.put_meta("vote", vote).await
    }

    async fn read_vote(&mut self) -> SResult<Option<Vote<NodeId>>> {
        self.get_meta("vote").await
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> SResult<()>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry<TypeConfig>> = entries.into_iter().collect();
        let mut encoded = Vec::with_capacity(entries.len());
        for entry in &entries {
            encoded.push((entry.log_id.index, encode(entry).map_err(write_err)?));
        }
        let result: Result<(), sqlx::Error> = async {
            let mut conn = self.writer.lock().await?;
            // One statement per chunk of entries, one transaction (and one
            // fsync) per append. A single statement is its own transaction:
            // no BEGIN/COMMIT round trips on the common path.
            if encoded.len() <= APPEND_ROWS_PER_STATEMENT {
                let mut insert = sqlx::QueryBuilder::<Sqlite>::new(
                    "INSERT OR REPLACE INTO raft_log (idx, entry) ",
                );
                insert.push_values(&encoded, |mut row, (idx, bytes)| {
                    row.push_bind(i64_of(*idx)).push_bind(bytes.as_slice());
                });
                insert.build().execute(&mut *conn).await?;
                return Ok(());
            }
            let mut tx = conn.begin().await?;
            for chunk in encoded.chunks(APPEND_ROWS_PER_STATEMENT) {
                let mut insert = sqlx::QueryBuilder::<Sqlite>::new(
                    "INSERT OR REPLACE INTO raft_log (idx, entry) ",
                );
                insert.push_values(chunk, |mut row, (idx, bytes)| {
                    row.push_bind(i64_of(*idx)).push_bind(bytes.as_slice());
                });
                insert.build().execute(&mut *tx).await?;
            }
            tx.commit().await
        }
        .await;
        match result {
            Ok(()) => {
                {
                    let mut recent = self.recent();
                    for entry in entries {
                        // Keep the cache contiguous: an append that does not
                        // follow it (after a truncate) starts it again.
                        let follows = recent
                            .back()
                            .is_none_or(|last| last.log_id.index + 1 == entry.log_id.index);
                        if !follows {
                            recent.clear();
                        }
                        recent.push_back(entry);
                    }
                    while recent.len() > RECENT_ENTRIES {
                        recent.pop_front();
                    }
                }
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(write_err(e))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> SResult<()> {
        // Forget first: between the two steps a reader must not find in the
        // cache what the database no longer has.
        self.recent().retain(|e| e.log_id.index < log_id.index);
        let mut conn = self.writer.lock().await.map_err(write_err)?;
        sqlx::query("DELETE FROM raft_log WHERE idx >= ?")
            .bind(i64_of(log_id.index))
            .execute(&mut *conn)
            .await
            .map_err(write_err)?;
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> SResult<()> {
        let bytes = encode(&log_id).map_err(write_err)?;
        let result: Result<(), sqlx::Error> = async {
            let mut conn = self.writer.lock().await?;
            let mut tx = conn.begin().await?;
            sqlx::query("INSERT OR REPLACE INTO raft_meta (name, value) VALUES ('last_purged', ?)")
                .bind(bytes)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM raft_log WHERE idx <= ?")
                .bind(i64_of(log_id.index))
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        }
        .await;
        self.recent().retain(|e| e.log_id.index > log_id.index);
        result.map_err(write_err)
    }
}

/// The state machine's own metadata, one row.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct SmMeta {
    applied: Option<LogId<NodeId>>,
    membership: Membership,
    revision: u64,
    next_lease_id: u64,
    compacted: u64,
}

/// The KV state machine: in memory for reads, persisted row by row.
#[derive(Debug)]
pub struct SqliteStateMachine {
    writer: Writer,
    reader: SqlitePool,
    shared: Arc<SharedMachine>,
    applied: Option<LogId<NodeId>>,
    membership: Membership,
    /// Rows changed since the last flush.
    pending: Dirty,
    /// The applied log id the SQLite rows correspond to.
    flushed: Option<LogId<NodeId>>,
    last_flush: std::time::Instant,
}

/// State machine rows are written in batches (like etcd's backend commit
/// interval): at most this long after a change...
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// ...or once this many rows changed.
pub const FLUSH_EVERY_ROWS: usize = 4096;

impl SqliteStateMachine {
    async fn load(
        writer: Writer,
        pool: SqlitePool,
        history: HistoryLimit,
    ) -> Result<Self, sqlx::Error> {
        let meta: SmMeta = meta_get(&pool, "sm_meta", "state")
            .await?
            .unwrap_or_default();
        let kvs = sqlx::query("SELECT key, value, create_rev, mod_rev, version, lease FROM sm_kv")
            .fetch_all(&pool)
            .await?
            .iter()
            .map(|r| KeyValue {
                key: r.get(0),
                value: r.get(1),
                create_revision: r.get::<i64, _>(2) as u64,
                mod_revision: r.get::<i64, _>(3) as u64,
                version: r.get::<i64, _>(4) as u64,
                lease: r.get::<Option<i64>, _>(5).map(|l| l as u64),
            })
            .collect();
        let leases = sqlx::query("SELECT id, ttl FROM sm_lease")
            .fetch_all(&pool)
            .await?
            .iter()
            .map(|r| (r.get::<i64, _>(0) as u64, r.get::<i64, _>(1) as u64))
            .collect();
        let mut batches = Vec::new();
        for row in sqlx::query("SELECT batch FROM sm_history ORDER BY rev")
            .fetch_all(&pool)
            .await?
        {
            let batch: WatchBatch =
                decode(row.get::<&[u8], _>(0)).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
            batches.push(batch);
        }
        let machine = KvMachine::from_parts(
            kvs,
            leases,
            meta.revision,
            meta.next_lease_id,
            meta.compacted,
            batches,
            history,
        );
        Ok(SqliteStateMachine {
            writer,
            reader: pool,
            shared: SharedMachine::new(machine),
            applied: meta.applied,
            membership: meta.membership,
            pending: Dirty::default(),
            flushed: meta.applied,
            last_flush: std::time::Instant::now(),
        })
    }

    /// The in-memory state, shared with readers and watchers.
    pub fn shared(&self) -> Arc<SharedMachine> {
        Arc::clone(&self.shared)
    }

    fn meta(&self) -> SmMeta {
        let (revision, next_lease_id, compacted) = self
            .shared
            .read(|m| (m.revision(), m.next_lease_id(), m.compacted()));
        SmMeta {
            applied: self.applied,
            membership: self.membership.clone(),
            revision,
            next_lease_id,
            compacted,
        }
    }

    /// Writes the rows changed since the last flush, with the applied log
    /// id they correspond to, in one transaction. Entries applied after the
    /// last flush are re-applied from the log after a restart (the log is
    /// never purged past a flush: a snapshot flushes first).
    async fn flush(&mut self) -> SResult<()> {
        if self.pending.is_empty() && self.flushed == self.applied {
            self.last_flush = std::time::Instant::now();
            return Ok(());
        }
        let (rows, leases) = self.shared.read(|m| {
            let rows: Vec<(String, Option<KeyValue>)> = self
                .pending
                .keys
                .iter()
                .map(|k| (k.clone(), m.get(k).cloned()))
                .collect();
            let leases: Vec<(u64, Option<u64>)> = self
                .pending
                .leases
                .iter()
                .map(|id| (*id, m.lease(*id).map(|l| l.ttl)))
                .collect();
            (rows, leases)
        });
        let meta = self.meta();
        let meta_bytes = encode(&meta).map_err(write_err)?;
        let mut history_rows = Vec::with_capacity(self.pending.batches.len());
        for b in &self.pending.batches {
            history_rows.push((b.revision, encode(b).map_err(write_err)?));
        }
        let mut conn = self.writer.relaxed().await.map_err(write_err)?;
        let result: Result<(), sqlx::Error> = async {
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            sqlx::query("INSERT OR REPLACE INTO sm_meta (name, value) VALUES ('state', ?)")
                .bind(&meta_bytes)
                .execute(&mut *tx)
                .await?;
            let upserts: Vec<&KeyValue> = rows.iter().filter_map(|(_, kv)| kv.as_ref()).collect();
            let deletes: Vec<&str> = rows
                .iter()
                .filter(|(_, kv)| kv.is_none())
                .map(|(k, _)| k.as_str())
                .collect();
            upsert_kvs(&mut tx, &upserts).await?;
            delete_kvs(&mut tx, &deletes).await?;
            for (id, ttl) in &leases {
                match ttl {
                    Some(ttl) => {
                        sqlx::query("INSERT OR REPLACE INTO sm_lease (id, ttl) VALUES (?, ?)")
                            .bind(i64_of(*id))
                            .bind(i64_of(*ttl))
                            .execute(&mut *tx)
                            .await?;
                    }
                    None => {
                        sqlx::query("DELETE FROM sm_lease WHERE id = ?")
                            .bind(i64_of(*id))
                            .execute(&mut *tx)
                            .await?;
                    }
                }
            }
            insert_history(&mut tx, &history_rows).await?;
            if self.pending.compacted_changed {
                sqlx::query("DELETE FROM sm_history WHERE rev <= ?")
                    .bind(i64_of(meta.compacted))
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await
        }
        .await;
        self.writer
            .restore(conn, result)
            .await
            .map_err(|e| StorageError::from(StorageIOError::write_state_machine(&e)))?;
        self.pending = Dirty::default();
        self.flushed = self.applied;
        self.last_flush = std::time::Instant::now();
        Ok(())
    }

    /// Writes every row of the in-memory state (after a snapshot install).
    async fn persist_all(
        &self,
        snapshot: Option<(&[u8], &[u8])>,
    ) -> Result<(), StorageError<NodeId>> {
        let (kvs, leases, history) = self.shared.read(|m| {
            let kvs: Vec<KeyValue> = m
                .range(&crate::types::RangeRequest {
                    key: String::new(),
                    prefix: true,
                    ..Default::default()
                })
                .kvs;
            let leases: Vec<(u64, u64)> = m.leases().map(|(id, l)| (id, l.ttl)).collect();
            (kvs, leases, m.history().iter().cloned().collect::<Vec<_>>())
        });
        let meta = encode(&self.meta()).map_err(write_err)?;
        let mut history_rows = Vec::with_capacity(history.len());
        for b in &history {
            history_rows.push((b.revision, encode(b).map_err(write_err)?));
        }
        let mut conn = self.writer.relaxed().await.map_err(write_err)?;
        let result: Result<(), sqlx::Error> = async {
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            for table in ["sm_kv", "sm_lease", "sm_history"] {
                sqlx::query(&format!("DELETE FROM {table}"))
                    .execute(&mut *tx)
                    .await?;
            }
            upsert_kvs(&mut tx, &kvs.iter().collect::<Vec<_>>()).await?;
            for (id, ttl) in &leases {
                sqlx::query("INSERT INTO sm_lease (id, ttl) VALUES (?, ?)")
                    .bind(i64_of(*id))
                    .bind(i64_of(*ttl))
                    .execute(&mut *tx)
                    .await?;
            }
            insert_history(&mut tx, &history_rows).await?;
            sqlx::query("INSERT OR REPLACE INTO sm_meta (name, value) VALUES ('state', ?)")
                .bind(&meta)
                .execute(&mut *tx)
                .await?;
            if let Some((smeta, data)) = snapshot {
                save_snapshot(&mut tx, smeta, data).await?;
            }
            tx.commit().await
        }
        .await;
        self.writer.restore(conn, result).await.map_err(write_err)
    }
}

/// Rows per multi-row statement of the state machine (6 variables a row,
/// well under SQLite's limit). Few statements, because each is a round trip
/// to sqlx's connection thread.
const SM_ROWS_PER_STATEMENT: usize = 400;

async fn upsert_kvs(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    kvs: &[&KeyValue],
) -> Result<(), sqlx::Error> {
    for chunk in kvs.chunks(SM_ROWS_PER_STATEMENT) {
        let mut q = sqlx::QueryBuilder::<Sqlite>::new(
            "INSERT OR REPLACE INTO sm_kv (key, value, create_rev, mod_rev, version, lease) ",
        );
        q.push_values(chunk, |mut row, kv| {
            row.push_bind(kv.key.as_str())
                .push_bind(kv.value.as_slice())
                .push_bind(i64_of(kv.create_revision))
                .push_bind(i64_of(kv.mod_revision))
                .push_bind(i64_of(kv.version))
                .push_bind(kv.lease.map(i64_of));
        });
        q.build().execute(&mut **tx).await?;
    }
    Ok(())
}

async fn delete_kvs(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    keys: &[&str],
) -> Result<(), sqlx::Error> {
    for chunk in keys.chunks(SM_ROWS_PER_STATEMENT) {
        let mut q = sqlx::QueryBuilder::<Sqlite>::new("DELETE FROM sm_kv WHERE key IN (");
        let mut sep = q.separated(", ");
        for key in chunk {
            sep.push_bind(*key);
        }
        q.push(")");
        q.build().execute(&mut **tx).await?;
    }
    Ok(())
}

async fn insert_history(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    rows: &[(u64, Vec<u8>)],
) -> Result<(), sqlx::Error> {
    for chunk in rows.chunks(SM_ROWS_PER_STATEMENT) {
        let mut q =
            sqlx::QueryBuilder::<Sqlite>::new("INSERT OR REPLACE INTO sm_history (rev, batch) ");
        q.push_values(chunk, |mut row, (rev, bytes)| {
            row.push_bind(i64_of(*rev)).push_bind(bytes.as_slice());
        });
        q.build().execute(&mut **tx).await?;
    }
    Ok(())
}

async fn save_snapshot(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    meta: &[u8],
    data: &[u8],
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT OR REPLACE INTO sm_snapshot (id, meta, data) VALUES (1, ?, ?)")
        .bind(meta)
        .bind(data)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl RaftStateMachine<TypeConfig> for SqliteStateMachine {
    type SnapshotBuilder = SqliteSnapshotBuilder;

    async fn applied_state(&mut self) -> SResult<(Option<LogId<NodeId>>, Membership)> {
        Ok((self.applied, self.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> SResult<Vec<Applied>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry<TypeConfig>> = entries.into_iter().collect();
        let mut applied = self.applied;
        let mut membership = self.membership.clone();
        let (results, dirty) = self.shared.write(|m| {
            entries
                .iter()
                .map(|e| {
                    applied = Some(e.log_id);
                    match &e.payload {
                        EntryPayload::Blank => Applied::None,
                        EntryPayload::Normal(cmd) => m.apply(cmd),
                        EntryPayload::Membership(mem) => {
                            membership = StoredMembership::new(Some(e.log_id), mem.clone());
                            Applied::None
                        }
                    }
                })
                .collect::<Vec<_>>()
        });
        self.applied = applied;
        self.membership = membership;

        self.pending.merge(dirty);
        if self.pending.len() >= FLUSH_EVERY_ROWS || self.last_flush.elapsed() >= FLUSH_EVERY {
            self.flush().await?;
        }
        Ok(results)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        // The snapshot lets the log be purged: the rows must be on disk first.
        let flush_error = self.flush().await.err().map(|e| e.to_string());
        SqliteSnapshotBuilder {
            flush_error,
            writer: self.writer.clone(),
            machine: self.shared.read(|m| m.clone()),
            applied: self.applied,
            membership: self.membership.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> SResult<Box<Cursor<Vec<u8>>>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, openraft::BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> SResult<()> {
        let data = snapshot.into_inner();
        let machine: KvMachine = decode(&data).map_err(|e| {
            StorageError::from(StorageIOError::read_snapshot(Some(meta.signature()), &e))
        })?;
        self.shared.replace(machine);
        self.pending = Dirty::default();
        self.applied = meta.last_log_id;
        self.flushed = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        let meta_bytes = encode(meta).map_err(write_err)?;
        self.persist_all(Some((&meta_bytes, &data))).await
    }

    async fn get_current_snapshot(&mut self) -> SResult<Option<Snapshot<TypeConfig>>> {
        let row = sqlx::query("SELECT meta, data FROM sm_snapshot WHERE id = 1")
            .fetch_optional(&self.reader)
            .await
            .map_err(read_err)?;
        let Some(row) = row else { return Ok(None) };
        let meta: SnapshotMeta<NodeId, openraft::BasicNode> =
            decode(row.get::<&[u8], _>(0)).map_err(read_err)?;
        let data: Vec<u8> = row.get(1);
        Ok(Some(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        }))
    }
}

/// Serialises a consistent copy of the machine taken when the builder was
/// made, off the apply path.
#[derive(Debug)]
pub struct SqliteSnapshotBuilder {
    flush_error: Option<String>,
    writer: Writer,
    machine: KvMachine,
    applied: Option<LogId<NodeId>>,
    membership: Membership,
}

impl RaftSnapshotBuilder<TypeConfig> for SqliteSnapshotBuilder {
    async fn build_snapshot(&mut self) -> SResult<Snapshot<TypeConfig>> {
        if let Some(e) = &self.flush_error {
            return Err(write_err(std::io::Error::other(format!(
                "state machine rows could not be flushed before the snapshot: {e}"
            ))));
        }
        let data = encode(&self.machine).map_err(write_err)?;
        let snapshot_id = match self.applied {
            Some(id) => format!(
                "{}-{}-{:08x}",
                id.leader_id.term,
                id.index,
                rand::random::<u32>()
            ),
            None => format!("0-0-{:08x}", rand::random::<u32>()),
        };
        let meta = SnapshotMeta {
            last_log_id: self.applied,
            last_membership: self.membership.clone(),
            snapshot_id,
        };
        let meta_bytes = encode(&meta).map_err(write_err)?;
        let result: Result<(), sqlx::Error> = async {
            let mut conn = self.writer.lock().await?;
            let mut tx = conn.begin().await?;
            save_snapshot(&mut tx, &meta_bytes, &data).await?;
            tx.commit().await
        }
        .await;
        result.map_err(write_err)?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}
