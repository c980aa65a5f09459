//! Store namespaces keep components apart: two namespaces over one store
//! do not see each other's keys (reads, prefix reads, pagination, prefix
//! deletes, transactions, watches), while a caller without a namespace
//! sees both, each under its prefix.

use std::sync::Arc;

use dcos_store::conformance::next_batch;
use dcos_store::types::*;
use dcos_store::{Kv, MemStore, Namespaced};

fn put(key: &str, value: &str) -> PutRequest {
    PutRequest {
        key: key.into(),
        value: value.as_bytes().to_vec(),
        ..Default::default()
    }
}

fn prefix(key: &str) -> RangeRequest {
    RangeRequest {
        key: key.into(),
        prefix: true,
        ..Default::default()
    }
}

async fn keys(kv: &impl Kv, p: &str) -> Vec<String> {
    kv.range(prefix(p))
        .await
        .unwrap()
        .kvs
        .into_iter()
        .map(|kv| kv.key)
        .collect()
}

#[tokio::test]
async fn two_namespaces_do_not_see_each_other_and_a_plain_caller_sees_both() {
    let store: Arc<dyn Kv> = Arc::new(MemStore::new());
    let a = Namespaced::new(Arc::clone(&store), "/tenants/marathon").unwrap();
    let b = Namespaced::new(Arc::clone(&store), "/tenants/marathon-user").unwrap();

    // The same keys in both, and one of b's own.
    for (kv, who) in [(&a, "a"), (&b, "b")] {
        kv.put(put("/marathon/framework-id", who)).await.unwrap();
        kv.put(put("/marathon/apps/web", who)).await.unwrap();
    }
    b.put(put("/marathon/apps/only-b", "b")).await.unwrap();

    // Single keys: each reads its own value.
    let got = a.get("/marathon/framework-id").await.unwrap().unwrap();
    assert_eq!(
        (got.key.as_str(), got.value.as_slice()),
        ("/marathon/framework-id", &b"a"[..])
    );
    assert_eq!(
        b.get("/marathon/framework-id")
            .await
            .unwrap()
            .unwrap()
            .value,
        b"b"
    );
    assert!(a.get("/marathon/apps/only-b").await.unwrap().is_none());

    // Prefix reads, including "every key" (the empty prefix): namespace
    // "/tenants/marathon" is a string prefix of "/tenants/marathon-user",
    // and still does not see its keys.
    assert_eq!(
        keys(&a, "").await,
        ["/marathon/apps/web", "/marathon/framework-id"]
    );
    assert_eq!(
        keys(&b, "/marathon/apps/").await,
        ["/marathon/apps/only-b", "/marathon/apps/web"]
    );
    let count = a
        .range(RangeRequest {
            count_only: true,
            ..prefix("/")
        })
        .await
        .unwrap();
    assert_eq!(count.count, 2);

    // Pagination with start_after stays inside the namespace.
    let page = b
        .range(RangeRequest {
            limit: 1,
            start_after: Some("/marathon/apps/only-b".into()),
            ..prefix("/marathon/")
        })
        .await
        .unwrap();
    assert_eq!(page.kvs[0].key, "/marathon/apps/web");
    assert!(page.more);

    // The caller without a namespace sees both, under their prefixes.
    assert_eq!(
        keys(&store, "/tenants/").await,
        [
            "/tenants/marathon-user/marathon/apps/only-b",
            "/tenants/marathon-user/marathon/apps/web",
            "/tenants/marathon-user/marathon/framework-id",
            "/tenants/marathon/marathon/apps/web",
            "/tenants/marathon/marathon/framework-id",
        ]
    );

    // A transaction compares and writes in its own namespace only.
    let resp = a
        .txn(TxnRequest {
            compare: vec![Compare {
                key: "/marathon/apps/only-b".into(),
                target: CompareTarget::CreateRevision(0),
                result: CompareResult::Equal,
            }],
            success: vec![
                TxnOp::Put(put("/marathon/apps/only-b", "a too")),
                TxnOp::Get(prefix("/marathon/apps/")),
            ],
            failure: vec![],
        })
        .await
        .unwrap();
    assert!(resp.succeeded, "b's key is absent in a");
    match &resp.responses[1] {
        TxnOpResponse::Get(g) => assert_eq!(
            g.kvs.iter().map(|kv| kv.key.as_str()).collect::<Vec<_>>(),
            ["/marathon/apps/only-b", "/marathon/apps/web"]
        ),
        other => panic!("expected a get, got {other:?}"),
    }
    assert_eq!(
        b.get("/marathon/apps/only-b").await.unwrap().unwrap().value,
        b"b"
    );

    // A prefix delete takes only the namespace's keys.
    let deleted = a
        .delete(DeleteRequest {
            key: "/marathon/apps/".into(),
            prefix: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(deleted.deleted, 2);
    let mut gone: Vec<_> = deleted.prev_kvs.iter().map(|kv| kv.key.as_str()).collect();
    gone.sort_unstable();
    assert_eq!(gone, ["/marathon/apps/only-b", "/marathon/apps/web"]);
    assert_eq!(
        keys(&b, "/marathon/apps/").await,
        ["/marathon/apps/only-b", "/marathon/apps/web"]
    );
    assert_eq!(keys(&a, "").await, ["/marathon/framework-id"]);
}

#[tokio::test]
async fn a_namespace_watches_only_its_own_keys() {
    let store: Arc<dyn Kv> = Arc::new(MemStore::new());
    let a = Namespaced::new(Arc::clone(&store), "/tenants/a").unwrap();
    let b = Namespaced::new(Arc::clone(&store), "/tenants/ab").unwrap();
    a.put(put("/leader", "a1")).await.unwrap();
    let watch = |kv: &Namespaced, key: &str, prefix: bool| {
        let kv = kv.clone();
        let key = key.to_string();
        async move {
            kv.watch(WatchRequest {
                key,
                prefix,
                start_revision: 0,
                prev_kv: true,
            })
            .await
            .unwrap()
        }
    };
    let mut all_a = watch(&a, "", true).await;
    let mut leader_a = watch(&a, "/leader", false).await;
    let mut all_store = store
        .watch(WatchRequest {
            key: "/tenants/".into(),
            prefix: true,
            ..Default::default()
        })
        .await
        .unwrap();

    // b's writes (including its own "/leader") come first; a's watches
    // must skip them and deliver a's change, keys and prev_kv stripped.
    b.put(put("/leader", "b1")).await.unwrap();
    b.put(put("/x", "b")).await.unwrap();
    let mine = a.put(put("/leader", "a2")).await.unwrap();
    for w in [&mut all_a, &mut leader_a] {
        let batch = next_batch(w).await;
        assert_eq!(batch.revision, mine.revision);
        assert_eq!(batch.events.len(), 1);
        let e = &batch.events[0];
        assert_eq!(
            (e.kv.key.as_str(), e.kv.value.as_slice()),
            ("/leader", &b"a2"[..])
        );
        let prev = e.prev_kv.as_ref().unwrap();
        assert_eq!(
            (prev.key.as_str(), prev.value.as_slice()),
            ("/leader", &b"a1"[..])
        );
    }
    // A delete, seen as a's key.
    let del = a
        .delete(DeleteRequest {
            key: "/leader".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let batch = next_batch(&mut all_a).await;
    assert_eq!(batch.revision, del.revision);
    assert_eq!(batch.events[0].kind, EventKind::Delete);
    assert_eq!(batch.events[0].kv.key, "/leader");

    // The plain watcher saw all four writes, with the full keys.
    let mut seen = Vec::new();
    while seen.len() < 4 {
        for e in next_batch(&mut all_store).await.events {
            seen.push(e.kv.key);
        }
    }
    assert_eq!(
        seen,
        [
            "/tenants/ab/leader",
            "/tenants/ab/x",
            "/tenants/a/leader",
            "/tenants/a/leader"
        ]
    );

    // Resuming from a revision replays only the namespace's history.
    let mut replay = a
        .watch(WatchRequest {
            key: "/".into(),
            prefix: true,
            start_revision: 1,
            prev_kv: false,
        })
        .await
        .unwrap();
    let mut replayed = Vec::new();
    while replayed.len() < 3 {
        for e in next_batch(&mut replay).await.events {
            replayed.push((e.kind, e.kv.key));
        }
    }
    assert_eq!(
        replayed,
        [
            (EventKind::Put, "/leader".to_string()),
            (EventKind::Put, "/leader".to_string()),
            (EventKind::Delete, "/leader".to_string()),
        ]
    );
}

#[tokio::test]
async fn an_election_in_a_namespace_is_its_own() {
    use std::time::Duration;
    let store: Arc<dyn Kv> = Arc::new(MemStore::new());
    let a = Namespaced::new(Arc::clone(&store), "/tenants/a").unwrap();
    let b = Namespaced::new(Arc::clone(&store), "/tenants/b").unwrap();
    let ea = dcos_store::Election::new(a, "/marathon/leader", "a:8080", Duration::from_secs(3));
    let eb = dcos_store::Election::new(b, "/marathon/leader", "b:8081", Duration::from_secs(3));
    // Both lead at once: one election key each.
    let la = ea.campaign().await.unwrap();
    let lb = tokio::time::timeout(Duration::from_secs(5), eb.campaign())
        .await
        .expect("b is not blocked by a's leadership")
        .unwrap();
    assert_eq!(ea.leader().await.unwrap().as_deref(), Some("a:8080"));
    assert_eq!(eb.leader().await.unwrap().as_deref(), Some("b:8081"));
    assert_eq!(
        keys(&store, "/tenants/").await,
        ["/tenants/a/marathon/leader", "/tenants/b/marathon/leader"]
    );
    la.resign().await;
    lb.resign().await;
}
