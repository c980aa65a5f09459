//! The KV conformance suite against every implementation: the in-memory
//! store, a replicated SQLite-backed node, and the HTTP client talking to a
//! node over a real socket.

use std::sync::Arc;

use dcos_store::{conformance, Client, MemStore, NodeConfig, StoreNode};

#[tokio::test]
async fn in_memory_store() {
    let store = MemStore::new();
    conformance::run_all(&store, "/mem").await;
}

async fn start_node(dir: &std::path::Path) -> (Arc<StoreNode>, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let node = StoreNode::start(NodeConfig::new(dir, addr.clone()))
        .await
        .unwrap();
    let app = dcos_store::http::router(Arc::clone(&node));
    tokio::spawn(async move { axum::serve(listener, app).await });
    node.bootstrap().await.unwrap();
    (node, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_node_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let (node, _) = start_node(dir.path()).await;
    conformance::run_all(node.as_ref(), "/node").await;
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_client_against_sqlite_node() {
    let dir = tempfile::tempdir().unwrap();
    let (node, addr) = start_node(dir.path()).await;
    let client = Client::new([addr]);
    conformance::run_all(&client, "/http").await;
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_survives_a_restart_from_the_sqlite_file() {
    use dcos_store::types::PutRequest;
    use dcos_store::Kv;
    let dir = tempfile::tempdir().unwrap();
    let rev = {
        let (node, _) = start_node(dir.path()).await;
        for i in 0..50 {
            node.put(PutRequest {
                key: format!("/r/{i}"),
                value: vec![i as u8],
                ..Default::default()
            })
            .await
            .unwrap();
        }
        node.delete(dcos_store::types::DeleteRequest {
            key: "/r/1".into(),
            prefix: true,
            ..Default::default()
        })
        .await
        .unwrap();
        // Let the state machine's batched row flush run (it does on the
        // next apply after 100 ms), so the restart reads rows, not only log.
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        node.put(PutRequest {
            key: "/r/last".into(),
            value: vec![1],
            ..Default::default()
        })
        .await
        .unwrap();
        let rev = node.shared().read(|m| m.revision());
        node.shutdown().await;
        rev
    };
    let (node, _) = start_node(dir.path()).await;
    let kv = node.get("/r/49").await.unwrap().unwrap();
    assert_eq!(kv.value, vec![49]);
    assert!(
        node.get("/r/15").await.unwrap().is_none(),
        "deleted keys stay deleted"
    );
    let left = node
        .range(dcos_store::types::RangeRequest {
            key: "/r/".into(),
            prefix: true,
            count_only: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(left.count, 50 - 11 + 1);
    assert_eq!(node.shared().read(|m| m.revision()), rev);
    // The watch history came back too.
    let hist = node.shared().read(|m| m.history_after(0).unwrap().len());
    assert_eq!(hist as u64, rev);
    node.shutdown().await;
}

/// The suite through a namespace, three times at once on one store: two
/// namespaces and a caller without one, all under the same root. Each
/// check counts the keys under its prefix, so a namespace that leaked
/// into another (or into the plain keyspace) fails it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaced_over_mem_store() {
    use dcos_store::{Kv, Namespaced};
    let store: Arc<dyn Kv> = Arc::new(MemStore::new());
    let a = Namespaced::new(Arc::clone(&store), "/tenants/a").unwrap();
    let b = Namespaced::new(Arc::clone(&store), "/tenants/a-b").unwrap();
    tokio::join!(
        conformance::run_all(&a, "/mem"),
        conformance::run_all(&b, "/mem"),
        conformance::run_all(&store, "/mem"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaced_http_client_against_sqlite_node() {
    use dcos_store::Namespaced;
    let dir = tempfile::tempdir().unwrap();
    let (node, addr) = start_node(dir.path()).await;
    let ns = Namespaced::new(Arc::new(Client::new([addr])), "/tenants/http").unwrap();
    conformance::run_all(&ns, "/http").await;
    node.shutdown().await;
}
