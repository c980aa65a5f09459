//! Where Chronos keeps its state in the replicated store: many small keys
//! under `/chronos/`, one per job, run, cursor, progress and history record.
//!
//! ```text
//! /chronos/jobs/<job>              Job
//! /chronos/runs/<job>/<run>        Run          (created with create_revision == 0)
//! /chronos/cursor/<job>            last scheduled time recorded
//! /chronos/progress/<job>          Progress of a dependent job
//! /chronos/history/<job>           History counters
//! /chronos/framework-id            the Mesos framework id
//! /chronos/leader                  the election key
//! ```
//!
//! Every write of a leader is fenced: its transaction also compares the
//! election key's `create_revision` with the one it was elected at, so a
//! deposed leader that has not noticed yet cannot write.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use dcos_store::types::*;
use dcos_store::{Kv, KvError};
use serde::de::DeserializeOwned;

use crate::core::{Books, Plan};
use crate::job::Job;

/// The prefix of everything.
pub const PREFIX: &str = "/chronos/";
/// The election key.
pub const LEADER_KEY: &str = "/chronos/leader";
const FRAMEWORK_ID: &str = "/chronos/framework-id";

/// Store failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store said no.
    #[error(transparent)]
    Kv(#[from] KvError),
    /// A record did not decode.
    #[error("record {key} is corrupt: {error}")]
    Corrupt {
        /// The key.
        key: String,
        /// The decode error.
        error: String,
    },
    /// A compare failed: someone else wrote first (another leader, or a
    /// run that already exists). Reload and plan again.
    #[error("conflict: the store changed underneath (lost leadership, or the record exists)")]
    Conflict,
}

fn job_key(id: &str) -> String {
    format!("/chronos/jobs/{id}")
}
fn run_key(job: &str, run: &str) -> String {
    format!("/chronos/runs/{job}/{run}")
}
fn cursor_key(job: &str) -> String {
    format!("/chronos/cursor/{job}")
}
fn progress_key(job: &str) -> String {
    format!("/chronos/progress/{job}")
}
fn history_key(job: &str) -> String {
    format!("/chronos/history/{job}")
}

fn put(key: String, value: &impl serde::Serialize) -> TxnOp {
    TxnOp::Put(PutRequest {
        key,
        value: serde_json::to_vec(value).unwrap_or_default(),
        lease: None,
        expect_mod_revision: None,
    })
}

fn decode<T: DeserializeOwned>(kv: &KeyValue) -> Result<T, StoreError> {
    serde_json::from_slice(&kv.value).map_err(|e| StoreError::Corrupt {
        key: kv.key.clone(),
        error: e.to_string(),
    })
}

/// Chronos' view of the store.
#[derive(Clone)]
pub struct Store {
    kv: Arc<dyn Kv>,
    /// `create_revision` of the election key while we lead; `None` writes
    /// unfenced (single-process tests).
    fence: Option<u64>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("fence", &self.fence).finish()
    }
}

impl Store {
    /// A store over `kv`, fenced on the election at `fence`.
    pub fn new(kv: Arc<dyn Kv>, fence: Option<u64>) -> Self {
        Store { kv, fence }
    }

    fn fence(&self) -> Vec<Compare> {
        self.fence
            .map(|rev| Compare {
                key: LEADER_KEY.into(),
                target: CompareTarget::CreateRevision(rev),
                result: CompareResult::Equal,
            })
            .into_iter()
            .collect()
    }

    async fn txn(&self, mut compare: Vec<Compare>, success: Vec<TxnOp>) -> Result<(), StoreError> {
        compare.extend(self.fence());
        let resp = self
            .kv
            .txn(TxnRequest {
                compare,
                success,
                failure: vec![],
            })
            .await?;
        if resp.succeeded {
            Ok(())
        } else {
            Err(StoreError::Conflict)
        }
    }

    /// Reads every record into books.
    pub async fn load(&self, retention: usize) -> Result<Books, StoreError> {
        let mut books = Books::new(retention);
        let mut start_after = None;
        let mut kvs = Vec::new();
        loop {
            let page = self
                .kv
                .range(RangeRequest {
                    key: PREFIX.into(),
                    prefix: true,
                    limit: 1000,
                    start_after: start_after.clone(),
                    count_only: false,
                    serializable: false,
                })
                .await?;
            start_after = page.kvs.last().map(|kv| kv.key.clone());
            let more = page.more;
            kvs.extend(page.kvs);
            if !more || start_after.is_none() {
                break;
            }
        }
        let mut plan = Plan::default();
        for kv in &kvs {
            let rest = &kv.key[PREFIX.len()..];
            let (kind, name) = rest.split_once('/').unwrap_or((rest, ""));
            match kind {
                "jobs" => books.put_job(decode::<Job>(kv)?),
                "runs" => plan.create.push(decode(kv)?),
                "cursor" => plan
                    .cursors
                    .push((name.to_owned(), decode::<DateTime<Utc>>(kv)?)),
                "progress" => plan.progress.push((name.to_owned(), decode(kv)?)),
                "history" => plan.history.push((name.to_owned(), decode(kv)?)),
                _ => {}
            }
        }
        books.apply(&plan);
        Ok(books)
    }

    /// Writes a plan atomically: fails with [`StoreError::Conflict`] if a
    /// run it creates exists already (or we no longer lead).
    pub async fn commit(&self, plan: &Plan) -> Result<(), StoreError> {
        let mut compare = Vec::new();
        let mut ops = Vec::new();
        for run in &plan.create {
            let key = run_key(&run.job, &run.id);
            compare.push(Compare {
                key: key.clone(),
                target: CompareTarget::CreateRevision(0),
                result: CompareResult::Equal,
            });
            ops.push(put(key, run));
        }
        for run in &plan.update {
            ops.push(put(run_key(&run.job, &run.id), run));
        }
        for (job, run) in &plan.delete {
            ops.push(TxnOp::Delete(DeleteRequest {
                key: run_key(job, run),
                prefix: false,
                expect_mod_revision: None,
            }));
        }
        for (job, at) in &plan.cursors {
            ops.push(put(cursor_key(job), at));
        }
        for (job, p) in &plan.progress {
            ops.push(put(progress_key(job), p));
        }
        for (job, h) in &plan.history {
            ops.push(put(history_key(job), h));
        }
        if ops.is_empty() {
            return Ok(());
        }
        self.txn(compare, ops).await
    }

    /// Creates or replaces a job.
    pub async fn put_job(&self, job: &Job) -> Result<(), StoreError> {
        self.txn(vec![], vec![put(job_key(&job.id), job)]).await
    }

    /// Deletes a job and all its records.
    pub async fn delete_job(&self, id: &str) -> Result<(), StoreError> {
        let del = |key: String, prefix: bool| {
            TxnOp::Delete(DeleteRequest {
                key,
                prefix,
                expect_mod_revision: None,
            })
        };
        self.txn(
            vec![],
            vec![
                del(job_key(id), false),
                del(format!("/chronos/runs/{id}/"), true),
                del(cursor_key(id), false),
                del(progress_key(id), false),
                del(history_key(id), false),
            ],
        )
        .await
    }

    /// The framework id of an earlier leader, to fail over to.
    pub async fn framework_id(&self) -> Result<Option<String>, StoreError> {
        Ok(self
            .kv
            .get(FRAMEWORK_ID)
            .await?
            .map(|kv| String::from_utf8_lossy(&kv.value).into_owned()))
    }

    /// Remembers the framework id.
    pub async fn set_framework_id(&self, id: &str) -> Result<(), StoreError> {
        self.txn(
            vec![],
            vec![TxnOp::Put(PutRequest {
                key: FRAMEWORK_ID.into(),
                value: id.as_bytes().to_vec(),
                lease: None,
                expect_mod_revision: None,
            })],
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{tick, trigger};
    use crate::job::tests::{every, job};
    use dcos_store::MemStore;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[tokio::test]
    async fn plans_round_trip_and_runs_are_created_once() {
        let kv: Arc<dyn Kv> = Arc::new(MemStore::new());
        let store = Store::new(kv.clone(), None);
        let mut j = job("a");
        every(&mut j, "R/2025-01-01T00:00:00Z/PT1S");
        store.put_job(&j).await.unwrap();
        let books = store.load(10).await.unwrap();
        let plans = tick(&books, t("2025-01-01T00:00:01Z"));
        store.commit(&plans[0]).await.unwrap();
        // A second leader planning from the same old books conflicts.
        assert!(matches!(
            store.commit(&plans[0]).await,
            Err(StoreError::Conflict)
        ));
        let books = store.load(10).await.unwrap();
        assert_eq!(books.runs["a"].len(), 2);
        assert_eq!(books.cursors["a"], t("2025-01-01T00:00:01Z"));
        assert!(tick(&books, t("2025-01-01T00:00:01Z")).is_empty());
        let p = trigger(&books, "a", "m1".into(), vec![], t("2025-01-01T00:00:01Z")).unwrap();
        store.commit(&p).await.unwrap();
        store.delete_job("a").await.unwrap();
        let books = store.load(10).await.unwrap();
        assert!(books.jobs.is_empty() && books.runs.is_empty() && books.cursors.is_empty());
    }

    #[tokio::test]
    async fn writes_are_fenced_on_the_election() {
        let kv: Arc<dyn Kv> = Arc::new(MemStore::new());
        let put = kv
            .put(PutRequest {
                key: LEADER_KEY.into(),
                value: b"me".to_vec(),
                lease: None,
                expect_mod_revision: None,
            })
            .await
            .unwrap();
        let leader = Store::new(kv.clone(), Some(put.revision));
        leader.put_job(&job("x")).await.unwrap();
        let stale = Store::new(kv.clone(), Some(put.revision - 1));
        assert!(matches!(
            stale.put_job(&job("y")).await,
            Err(StoreError::Conflict)
        ));
    }

    /// Two Chronos in their own store namespaces (`--store-namespace`):
    /// each leads its own election, its writes are fenced on its own
    /// election key, and each loads only its own jobs.
    #[tokio::test]
    async fn two_namespaces_have_their_own_jobs_and_fences() {
        use std::time::Duration;
        let kv: Arc<dyn Kv> = Arc::new(MemStore::new());
        let mut stores = Vec::new();
        let mut leaderships = Vec::new();
        for (ns, name) in [("/tenants/chronos", "a"), ("/tenants/chronos-user", "b")] {
            let inner: Arc<dyn Kv> = Arc::new(dcos_store::Namespaced::new(kv.clone(), ns).unwrap());
            let election =
                dcos_store::Election::new(inner.clone(), LEADER_KEY, name, Duration::from_secs(3));
            let leadership = election.campaign().await.unwrap();
            let store = Store::new(inner, Some(leadership.revision()));
            store.put_job(&job(name)).await.unwrap();
            store.set_framework_id(name).await.unwrap();
            stores.push(store);
            leaderships.push(leadership);
        }
        for (store, name) in stores.iter().zip(["a", "b"]) {
            let books = store.load(10).await.unwrap();
            assert_eq!(books.jobs.keys().collect::<Vec<_>>(), [name]);
            assert_eq!(store.framework_id().await.unwrap().as_deref(), Some(name));
        }
        // A fence on b's election revision fails in a's namespace.
        let inner_a: Arc<dyn Kv> =
            Arc::new(dcos_store::Namespaced::new(kv.clone(), "/tenants/chronos").unwrap());
        let wrong = Store::new(inner_a, Some(leaderships[1].revision()));
        assert!(matches!(
            wrong.put_job(&job("c")).await,
            Err(StoreError::Conflict)
        ));
        let plain = kv
            .range(RangeRequest {
                key: "/tenants/".into(),
                prefix: true,
                count_only: true,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(plain.count, 6, "job, framework id, leader key in each");
        assert!(kv.get(LEADER_KEY).await.unwrap().is_none());
        for l in leaderships {
            l.resign().await;
        }
    }
}
