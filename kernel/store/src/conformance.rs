//! The KV conformance suite: the semantics every [`Kv`] implementation must
//! have (revisions, compare-and-set, transactions, pagination, watch resume,
//! leases, validation). It runs against the in-memory store, the replicated
//! SQLite-backed node, and the HTTP client talking to a node, so they cannot
//! drift apart.
//!
//! Each check works under its own key prefix, so the suite can run against
//! a store that already holds data. Checks panic with a message on failure.

use std::time::Duration;

use futures::StreamExt;

use crate::error::KvError;
use crate::kv::{Kv, WatchStream};
use crate::types::*;

/// Runs every check against `kv`, under keys starting with `root`.
pub async fn run_all<K: Kv>(kv: &K, root: &str) {
    revisions_and_versions(kv, &format!("{root}/rev/")).await;
    compare_and_set(kv, &format!("{root}/cas/")).await;
    deletes(kv, &format!("{root}/del/")).await;
    pagination(kv, &format!("{root}/page/")).await;
    transactions(kv, &format!("{root}/txn/")).await;
    watch_resume(kv, &format!("{root}/watch/")).await;
    leases(kv, &format!("{root}/lease/")).await;
    validation(kv, &format!("{root}/bad/")).await;
    concurrent_writes(kv, &format!("{root}/conc/")).await;
}

fn put_req(key: &str, value: &str) -> PutRequest {
    PutRequest {
        key: key.into(),
        value: value.as_bytes().to_vec(),
        ..Default::default()
    }
}

async fn get(kv: &impl Kv, key: &str) -> Option<KeyValue> {
    kv.get(key).await.expect("get failed")
}

pub async fn revisions_and_versions(kv: &impl Kv, p: &str) {
    let a = format!("{p}a");
    let r1 = kv.put(put_req(&a, "1")).await.unwrap();
    assert!(r1.prev_kv.is_none(), "first put has no previous value");
    let r2 = kv.put(put_req(&a, "2")).await.unwrap();
    assert!(r2.revision > r1.revision, "revisions grow");
    assert_eq!(
        r2.prev_kv.as_ref().map(|p| p.value.as_slice()),
        Some(&b"1"[..])
    );
    let got = get(kv, &a).await.unwrap();
    assert_eq!(got.value, b"2");
    assert_eq!(got.version, 2);
    assert_eq!(got.create_revision, r1.revision);
    assert_eq!(got.mod_revision, r2.revision);
    // A delete and a re-create starts the version again.
    kv.delete(DeleteRequest {
        key: a.clone(),
        ..Default::default()
    })
    .await
    .unwrap();
    let r3 = kv.put(put_req(&a, "3")).await.unwrap();
    let got = get(kv, &a).await.unwrap();
    assert_eq!((got.version, got.create_revision), (1, r3.revision));
    assert!(get(kv, &format!("{p}missing")).await.is_none());
}

pub async fn compare_and_set(kv: &impl Kv, p: &str) {
    let k = format!("{p}k");
    // Create only if absent.
    let mut req = put_req(&k, "v1");
    req.expect_mod_revision = Some(0);
    let r1 = kv.put(req.clone()).await.unwrap();
    let err = kv.put(req).await.unwrap_err();
    assert_eq!(
        err,
        KvError::CasFailed {
            key: k.clone(),
            expected: 0,
            actual: r1.revision
        }
    );
    // Update on the current revision succeeds, on a stale one fails.
    let mut upd = put_req(&k, "v2");
    upd.expect_mod_revision = Some(r1.revision);
    let r2 = kv.put(upd.clone()).await.unwrap();
    upd.value = b"v3".to_vec();
    let err = kv.put(upd).await.unwrap_err();
    assert!(matches!(err, KvError::CasFailed { actual, .. } if actual == r2.revision));
    assert_eq!(
        get(kv, &k).await.unwrap().value,
        b"v2",
        "a failed CAS changes nothing"
    );
    // Compare-and-delete.
    let err = kv
        .delete(DeleteRequest {
            key: k.clone(),
            expect_mod_revision: Some(r1.revision),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(err, KvError::CasFailed { .. }));
    kv.delete(DeleteRequest {
        key: k.clone(),
        expect_mod_revision: Some(r2.revision),
        ..Default::default()
    })
    .await
    .unwrap();
    assert!(get(kv, &k).await.is_none());
}

pub async fn deletes(kv: &impl Kv, p: &str) {
    for i in 0..5 {
        kv.put(put_req(&format!("{p}d/{i}"), "x")).await.unwrap();
    }
    kv.put(put_req(&format!("{p}keep"), "x")).await.unwrap();
    let err = kv
        .delete(DeleteRequest {
            key: format!("{p}nope"),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(err, KvError::KeyNotFound { .. }));
    let resp = kv
        .delete(DeleteRequest {
            key: format!("{p}d/"),
            prefix: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(resp.deleted, 5);
    assert_eq!(resp.prev_kvs.len(), 5);
    let left = kv
        .range(RangeRequest {
            key: p.into(),
            prefix: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(left.count, 1, "a prefix delete takes only its prefix");
}

pub async fn pagination(kv: &impl Kv, p: &str) {
    for i in 0..25 {
        kv.put(put_req(&format!("{p}{i:03}"), &i.to_string()))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = kv
            .range(RangeRequest {
                key: p.into(),
                prefix: true,
                limit: 10,
                start_after: after.clone(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(page.kvs.len() <= 10);
        seen.extend(page.kvs.iter().map(|kv| kv.key.clone()));
        after = page.kvs.last().map(|kv| kv.key.clone());
        if !page.more {
            break;
        }
    }
    let expected: Vec<String> = (0..25).map(|i| format!("{p}{i:03}")).collect();
    assert_eq!(seen, expected, "pages cover every key once, in order");
    let count = kv
        .range(RangeRequest {
            key: p.into(),
            prefix: true,
            count_only: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((count.count, count.kvs.len()), (25, 0));
}

pub async fn transactions(kv: &impl Kv, p: &str) {
    let (a, b) = (format!("{p}a"), format!("{p}b"));
    let ra = kv.put(put_req(&a, "1")).await.unwrap();
    // Success branch: both writes at one revision.
    let resp = kv
        .txn(TxnRequest {
            compare: vec![Compare {
                key: a.clone(),
                target: CompareTarget::ModRevision(ra.revision),
                result: CompareResult::Equal,
            }],
            success: vec![
                TxnOp::Put(put_req(&a, "2")),
                TxnOp::Put(put_req(&b, "2")),
                TxnOp::Get(RangeRequest {
                    key: a.clone(),
                    ..Default::default()
                }),
            ],
            failure: vec![],
        })
        .await
        .unwrap();
    assert!(resp.succeeded);
    assert_eq!(resp.responses.len(), 3);
    let (ga, gb) = (get(kv, &a).await.unwrap(), get(kv, &b).await.unwrap());
    assert_eq!(
        ga.mod_revision, gb.mod_revision,
        "one transaction, one revision"
    );
    assert_eq!(ga.mod_revision, resp.revision);
    match &resp.responses[2] {
        TxnOpResponse::Get(g) => assert_eq!(g.kvs[0].value, b"2", "a get sees earlier ops"),
        other => panic!("expected a get response, got {other:?}"),
    }
    // Failure branch: compare on a stale revision takes the other branch.
    let resp = kv
        .txn(TxnRequest {
            compare: vec![Compare {
                key: a.clone(),
                target: CompareTarget::ModRevision(ra.revision),
                result: CompareResult::Equal,
            }],
            success: vec![TxnOp::Delete(DeleteRequest {
                key: a.clone(),
                ..Default::default()
            })],
            failure: vec![TxnOp::Get(RangeRequest {
                key: b.clone(),
                ..Default::default()
            })],
        })
        .await
        .unwrap();
    assert!(!resp.succeeded);
    assert!(
        get(kv, &a).await.is_some(),
        "the success branch did not run"
    );
    // Comparisons on value, version and absence.
    let resp = kv
        .txn(TxnRequest {
            compare: vec![
                Compare {
                    key: a.clone(),
                    target: CompareTarget::Value(b"2".to_vec()),
                    result: CompareResult::Equal,
                },
                Compare {
                    key: a.clone(),
                    target: CompareTarget::Version(1),
                    result: CompareResult::Greater,
                },
                Compare {
                    key: format!("{p}absent"),
                    target: CompareTarget::CreateRevision(0),
                    result: CompareResult::Equal,
                },
            ],
            success: vec![TxnOp::Put(put_req(&format!("{p}absent"), "now"))],
            failure: vec![],
        })
        .await
        .unwrap();
    assert!(resp.succeeded);
    // A rejected transaction (unknown lease) changes nothing.
    let before = get(kv, &b).await.unwrap();
    let mut leased = put_req(&b, "never");
    leased.lease = Some(987_654_321);
    let err = kv
        .txn(TxnRequest {
            compare: vec![],
            success: vec![TxnOp::Put(put_req(&a, "never")), TxnOp::Put(leased)],
            failure: vec![],
        })
        .await
        .unwrap_err();
    assert!(matches!(err, KvError::LeaseNotFound { .. }));
    assert_eq!(get(kv, &b).await.unwrap(), before);
    assert_eq!(get(kv, &a).await.unwrap().value, b"2");
}

/// Next non-empty batch (empty ones are progress notifications).
pub async fn next_batch(stream: &mut WatchStream) -> WatchBatch {
    loop {
        let item = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("no watch event within 10 s")
            .expect("watch stream ended")
            .expect("watch stream failed");
        if !item.events.is_empty() {
            return item;
        }
    }
}

pub async fn watch_resume(kv: &impl Kv, p: &str) {
    let first = kv.put(put_req(&format!("{p}0"), "0")).await.unwrap();
    for i in 1..4 {
        kv.put(put_req(&format!("{p}{i}"), &i.to_string()))
            .await
            .unwrap();
    }
    // Other keys' changes are not delivered.
    kv.put(put_req(
        &format!("{}-elsewhere", p.trim_end_matches('/')),
        "x",
    ))
    .await
    .unwrap();

    let mut w = kv
        .watch(WatchRequest {
            key: p.into(),
            prefix: true,
            start_revision: first.revision,
            prev_kv: false,
        })
        .await
        .unwrap();
    let b0 = next_batch(&mut w).await;
    let b1 = next_batch(&mut w).await;
    assert_eq!(b0.revision, first.revision);
    assert!(b1.revision > b0.revision);
    drop(w);

    // Live changes after the first watch was dropped.
    kv.put(put_req(&format!("{p}4"), "4")).await.unwrap();
    kv.delete(DeleteRequest {
        key: format!("{p}0"),
        ..Default::default()
    })
    .await
    .unwrap();

    // Resume after the last delivered revision: no repeat, no gap.
    let mut w = kv
        .watch(WatchRequest {
            key: p.into(),
            prefix: true,
            start_revision: b1.revision + 1,
            prev_kv: true,
        })
        .await
        .unwrap();
    let mut keys = Vec::new();
    let mut last = b1.revision;
    while keys.len() < 4 {
        let b = next_batch(&mut w).await;
        assert!(b.revision > last, "batches arrive in revision order");
        last = b.revision;
        for e in b.events {
            keys.push((e.kind, e.kv.key.clone(), e.prev_kv.is_some()));
        }
    }
    assert_eq!(
        keys,
        vec![
            (EventKind::Put, format!("{p}2"), false),
            (EventKind::Put, format!("{p}3"), false),
            (EventKind::Put, format!("{p}4"), false),
            (EventKind::Delete, format!("{p}0"), true),
        ]
    );
    // A live event reaches an open watch.
    let live = kv.put(put_req(&format!("{p}5"), "5")).await.unwrap();
    let b = next_batch(&mut w).await;
    assert_eq!(b.revision, live.revision);
    assert_eq!(b.events[0].kv.value, b"5");
}

pub async fn leases(kv: &impl Kv, p: &str) {
    let lease = kv
        .lease_grant(LeaseGrantRequest { ttl: 1, id: None })
        .await
        .unwrap();
    assert_eq!(lease.ttl, 1);
    let k = format!("{p}ephemeral");
    let mut req = put_req(&k, "alive");
    req.lease = Some(lease.id);
    kv.put(req).await.unwrap();
    assert_eq!(get(kv, &k).await.unwrap().lease, Some(lease.id));

    // Kept alive past its TTL, the key stays.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        kv.lease_keepalive(lease.id).await.unwrap();
    }
    assert!(
        get(kv, &k).await.is_some(),
        "a kept-alive lease keeps its keys"
    );

    // Left alone, it expires and takes its key with it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while get(kv, &k).await.is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "lease did not expire"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(matches!(
        kv.lease_keepalive(lease.id).await,
        Err(KvError::LeaseNotFound { .. })
    ));

    // Revoke deletes at once; a put on an unknown lease is refused.
    let l2 = kv
        .lease_grant(LeaseGrantRequest { ttl: 60, id: None })
        .await
        .unwrap();
    let mut req = put_req(&format!("{p}r"), "x");
    req.lease = Some(l2.id);
    kv.put(req.clone()).await.unwrap();
    let revoked = kv.lease_revoke(l2.id).await.unwrap();
    assert_eq!(revoked.deleted, 1);
    assert!(get(kv, &format!("{p}r")).await.is_none());
    assert!(matches!(
        kv.put(req).await,
        Err(KvError::LeaseNotFound { .. })
    ));
    assert!(matches!(
        kv.lease_revoke(l2.id).await,
        Err(KvError::LeaseNotFound { .. })
    ));
}

pub async fn validation(kv: &impl Kv, p: &str) {
    let k = format!("{p}k");
    kv.put(put_req(&k, "kept")).await.unwrap();
    let big = PutRequest {
        key: k.clone(),
        value: vec![0u8; MAX_VALUE_BYTES + 1],
        ..Default::default()
    };
    assert!(matches!(
        kv.put(big).await,
        Err(KvError::ValueTooLarge { .. })
    ));
    assert!(matches!(
        kv.put(put_req("", "x")).await,
        Err(KvError::InvalidArgument { .. })
    ));
    let long_key = format!("{p}{}", "x".repeat(MAX_KEY_BYTES));
    assert!(matches!(
        kv.put(put_req(&long_key, "x")).await,
        Err(KvError::InvalidArgument { .. })
    ));
    assert!(matches!(
        kv.delete(DeleteRequest {
            key: String::new(),
            prefix: true,
            ..Default::default()
        })
        .await,
        Err(KvError::InvalidArgument { .. })
    ));
    assert!(matches!(
        kv.lease_grant(LeaseGrantRequest { ttl: 0, id: None }).await,
        Err(KvError::InvalidArgument { .. })
    ));
    let dup = TxnRequest {
        compare: vec![],
        success: vec![TxnOp::Put(put_req(&k, "a")), TxnOp::Put(put_req(&k, "b"))],
        failure: vec![],
    };
    assert!(matches!(
        kv.txn(dup).await,
        Err(KvError::InvalidArgument { .. })
    ));
    let got = get(kv, &k).await.unwrap();
    assert_eq!(
        (got.value.as_slice(), got.version),
        (&b"kept"[..], 1),
        "bad input changed nothing"
    );
}

/// Concurrent writers (which the replicated node batches into shared log
/// entries) each get their own answer: distinct revisions, and of several
/// racing creates of one key exactly one wins.
pub async fn concurrent_writes<K: Kv>(kv: &K, p: &str) {
    let puts = (0..32).map(|i| kv.put(put_req(&format!("{p}k{i:02}"), &i.to_string())));
    let answers = futures::future::join_all(puts).await;
    let mut revisions: Vec<u64> = answers.into_iter().map(|a| a.unwrap().revision).collect();
    revisions.sort_unstable();
    revisions.dedup();
    assert_eq!(
        revisions.len(),
        32,
        "every concurrent put has its own revision"
    );

    let racers = (0..16).map(|i| {
        let mut req = put_req(&format!("{p}race"), &i.to_string());
        req.expect_mod_revision = Some(0);
        kv.put(req)
    });
    let results = futures::future::join_all(racers).await;
    let won = results.iter().filter(|r| r.is_ok()).count();
    let lost = results
        .iter()
        .filter(|r| matches!(r, Err(KvError::CasFailed { .. })))
        .count();
    assert_eq!(
        (won, lost),
        (1, 15),
        "exactly one create-if-absent wins: {results:?}"
    );
}
