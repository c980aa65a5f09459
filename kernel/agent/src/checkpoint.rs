//! The agent's checkpoint: what must survive an agent restart (its id, the
//! frameworks it runs for, every task record with its pending status
//! updates and executor pid), in one SQLite file
//! `<work_dir>/meta/agent.db` (WAL, `synchronous=FULL`).
//!
//! Writes are group-committed: callers enqueue puts and deletes in order
//! and get a receipt; one writer task drains everything queued, commits it
//! in one transaction (one fsync for the whole batch) and then resolves
//! every receipt of the batch. A receipt resolved means durable.
//!
//! Owns the file format and batching; what the records mean belongs to
//! [`crate::state`].

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use tokio::sync::{mpsc, oneshot};

/// Errors of the checkpoint file.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The database could not be opened, read or written.
    #[error("checkpoint database: {0}")]
    Sqlite(#[from] sqlx::Error),
    /// The checkpoint directory could not be created.
    #[error("checkpoint directory: {0}")]
    Io(#[from] std::io::Error),
    /// The writer task is gone (the agent is shutting down).
    #[error("checkpoint writer stopped")]
    WriterStopped,
}

/// One change: `Some(value)` puts, `None` deletes.
type Op = (String, Option<String>);

struct Batch {
    ops: Vec<Op>,
    done: Option<oneshot::Sender<Result<(), String>>>,
}

/// Handle to the checkpoint; cheap to clone.
#[derive(Clone)]
pub struct Checkpoint {
    tx: mpsc::UnboundedSender<Batch>,
}

/// Resolves once the writes enqueued with it are durable.
pub struct Receipt(oneshot::Receiver<Result<(), String>>);

impl Receipt {
    /// Waits until durable.
    pub async fn durable(self) -> Result<(), CheckpointError> {
        match self.0.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(CheckpointError::Sqlite(sqlx::Error::Protocol(e))),
            Err(_) => Err(CheckpointError::WriterStopped),
        }
    }
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)";

impl Checkpoint {
    /// Opens (creating) `<meta_dir>/agent.db`, returns the handle and every
    /// stored key/value.
    pub async fn open(
        meta_dir: &Path,
    ) -> Result<(Checkpoint, BTreeMap<String, String>), CheckpointError> {
        std::fs::create_dir_all(meta_dir)?;
        let options = SqliteConnectOptions::new()
            .filename(meta_dir.join("agent.db"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(30));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .connect_with(options)
            .await?;
        sqlx::query(SCHEMA).execute(&pool).await?;
        let rows = sqlx::query("SELECT key, value FROM kv")
            .fetch_all(&pool)
            .await?;
        let mut all = BTreeMap::new();
        for row in rows {
            all.insert(row.try_get::<String, _>(0)?, row.try_get::<String, _>(1)?);
        }
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(writer(pool, rx));
        Ok((Checkpoint { tx }, all))
    }

    /// Enqueues `ops` (applied in order, after everything enqueued before).
    pub fn write(&self, ops: Vec<(String, Option<String>)>) -> Receipt {
        let (done, rx) = oneshot::channel();
        let _ = self.tx.send(Batch {
            ops,
            done: Some(done),
        });
        Receipt(rx)
    }

    /// Enqueues one put.
    pub fn put(&self, key: impl Into<String>, value: String) -> Receipt {
        self.write(vec![(key.into(), Some(value))])
    }

    /// Enqueues one delete.
    pub fn delete(&self, key: impl Into<String>) -> Receipt {
        self.write(vec![(key.into(), None)])
    }
}

/// The writer: drains the queue, commits everything in one transaction.
async fn writer(pool: SqlitePool, mut rx: mpsc::UnboundedReceiver<Batch>) {
    while let Some(first) = rx.recv().await {
        let mut batches = vec![first];
        while let Ok(more) = rx.try_recv() {
            batches.push(more);
        }
        // Last write per key wins; keep order of first appearance.
        let mut merged: BTreeMap<String, Option<String>> = BTreeMap::new();
        for b in &mut batches {
            for (k, v) in b.ops.drain(..) {
                merged.insert(k, v);
            }
        }
        let result = commit(&pool, merged).await.map_err(|e| e.to_string());
        if let Err(e) = &result {
            tracing::error!("checkpoint commit failed: {e}");
        }
        for b in batches {
            if let Some(done) = b.done {
                let _ = done.send(result.clone());
            }
        }
    }
}

async fn commit(
    pool: &SqlitePool,
    ops: BTreeMap<String, Option<String>>,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    for (key, value) in ops {
        match value {
            Some(v) => {
                sqlx::query("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)")
                    .bind(key)
                    .bind(v)
                    .execute(&mut *tx)
                    .await?;
            }
            None => {
                sqlx::query("DELETE FROM kv WHERE key = ?")
                    .bind(key)
                    .execute(&mut *tx)
                    .await?;
            }
        }
    }
    tx.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_survive_reopen_and_batch() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (cp, all) = Checkpoint::open(dir.path()).await.unwrap();
            assert!(all.is_empty());
            let receipts: Vec<_> = (0..100)
                .map(|i| cp.put(format!("k{i}"), format!("v{i}")))
                .collect();
            let del = cp.delete("k5");
            for r in receipts {
                r.durable().await.unwrap();
            }
            del.durable().await.unwrap();
        }
        let (_cp, all) = Checkpoint::open(dir.path()).await.unwrap();
        assert_eq!(all.len(), 99);
        assert_eq!(all["k7"], "v7");
        assert!(!all.contains_key("k5"));
    }
}
