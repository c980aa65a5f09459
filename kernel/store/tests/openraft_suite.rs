//! openraft's own storage conformance suite against our SQLite log store and
//! state machine.

use dcos_store::machine::HistoryLimit;
use dcos_store::raft::TypeConfig;
use dcos_store::sqlite::{self, SqliteLogStore, SqliteStateMachine};
use openraft::testing::{StoreBuilder, Suite};
use openraft::StorageError;

struct Builder;

impl StoreBuilder<TypeConfig, SqliteLogStore, SqliteStateMachine, tempfile::TempDir> for Builder {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, SqliteLogStore, SqliteStateMachine), StorageError<u64>> {
        let dir = tempfile::tempdir().expect("temp dir");
        let (log, sm) = sqlite::open(&dir.path().join("store.db"), HistoryLimit::default())
            .await
            .expect("open sqlite store");
        Ok((dir, log, sm))
    }
}

#[test]
fn openraft_storage_suite_passes_on_sqlite() -> Result<(), StorageError<u64>> {
    Suite::test_all(Builder)
}
