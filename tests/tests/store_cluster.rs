//! The replicated store as real processes: three `dcos daemon master`
//! processes on loopback, kill -9 of the leader while a client writes, a
//! watch that must see every revision exactly once across the failover, and
//! the killed node catching up from its SQLite file.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dcos_store::types::{PutRequest, RangeRequest, WatchRequest};
use dcos_store::{Client, Kv, KvError};
use dcos_tests::{cluster, wait_until};
use futures::StreamExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_kill9_loses_no_acknowledged_write_and_watch_sees_each_revision_once() {
    let root = tempfile::tempdir().unwrap();
    // Snapshot often, so the restarted node may have to catch up through a
    // snapshot rather than the log.
    let mut masters = cluster(root.path(), 3, &["--snapshot-every", "100"]).await;
    let urls: Vec<String> = masters.iter().map(|m| m.url()).collect();
    let client = Client::new(urls.clone());

    // A watch opened before anything happens, from the first revision.
    let mut watch = client
        .watch(WatchRequest {
            key: "/w/".into(),
            prefix: true,
            start_revision: 1,
            prev_kv: false,
        })
        .await
        .unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::<(u64, String)>::new()));
    let watcher = {
        let seen = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Some(batch) = watch.next().await {
                let batch = batch.expect("watch failed");
                let mut seen = seen.lock().unwrap();
                for e in batch.events {
                    seen.push((batch.revision, e.kv.key));
                }
            }
        })
    };

    // A writer that records what was acknowledged.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(std::sync::Mutex::new(BTreeMap::<String, u64>::new()));
    let writer = {
        let (client, stop, acked) = (client.clone(), Arc::clone(&stop), Arc::clone(&acked));
        tokio::spawn(async move {
            let mut i = 0u64;
            let mut unknown = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let key = format!("/w/{i:06}");
                match client
                    .put(PutRequest {
                        key: key.clone(),
                        value: i.to_string().into_bytes(),
                        ..Default::default()
                    })
                    .await
                {
                    Ok(r) => {
                        acked.lock().unwrap().insert(key, r.revision);
                    }
                    Err(KvError::Unavailable { .. }) => unknown += 1,
                    Err(e) => panic!("unexpected write error: {e}"),
                }
                i += 1;
            }
            unknown
        })
    };

    let acked_len = || acked.lock().unwrap().len();
    wait_until(
        Duration::from_secs(60),
        "300 writes are acknowledged",
        || async { acked_len() >= 300 },
    )
    .await;

    // The followers answer the leader's appends on replication streams.
    let status = masters[0].status().await;
    let leader_addr = status.leader_addr.expect("a leader");
    for m in masters.iter().filter(|m| m.addr() != leader_addr) {
        let s = m.status().await;
        assert!(
            s.replication_streams >= 1,
            "a stream from the leader: {s:?}"
        );
    }

    // kill -9 the leader.
    let leader = masters
        .iter()
        .position(|m| m.addr() == leader_addr)
        .unwrap();
    let before_kill = acked_len();
    masters[leader].kill9();
    let survivor = (leader + 1) % 3;
    wait_until(Duration::from_secs(30), "a new leader is elected", || async {
        let s = masters[survivor].client().with_retry_for(Duration::from_secs(1)).status().await;
        matches!(s, Ok(s) if s.leader_addr.is_some() && s.leader_addr.as_deref() != Some(leader_addr.as_str()))
    })
    .await;
    wait_until(
        Duration::from_secs(60),
        "300 more writes are acknowledged",
        || async { acked_len() >= before_kill + 300 },
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    let unknown = writer.await.unwrap();
    let acked = acked.lock().unwrap().clone();
    eprintln!(
        "acknowledged {} writes, {unknown} with unknown outcome",
        acked.len()
    );

    // Every acknowledged write is readable (linearizable reads).
    let all = client
        .range(RangeRequest {
            key: "/w/".into(),
            prefix: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let stored: BTreeMap<String, u64> = all
        .kvs
        .iter()
        .map(|kv| (kv.key.clone(), kv.mod_revision))
        .collect();
    for (key, rev) in &acked {
        assert_eq!(
            stored.get(key),
            Some(rev),
            "acknowledged write {key} at revision {rev} is lost"
        );
    }

    // The killed node restarts from its SQLite file and catches up.
    masters[leader].restart();
    let target = all.revision;
    let restarted = masters[leader].client();
    wait_until(
        Duration::from_secs(60),
        "the restarted node catches up",
        || async {
            restarted
                .status()
                .await
                .map(|s| s.revision >= target)
                .unwrap_or(false)
        },
    )
    .await;
    let local = restarted
        .range(RangeRequest {
            key: "/w/".into(),
            prefix: true,
            serializable: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(local.kvs, all.kvs, "the restarted node holds the same data");
    // The old leader's streams died with it; the restarted node (a
    // follower now) answers the new leader's.
    wait_until(
        Duration::from_secs(30),
        "the restarted node answers the new leader on a stream",
        || async {
            let s = restarted.status().await;
            matches!(s, Ok(s) if s.replication_streams >= 1)
        },
    )
    .await;
    let s = masters[survivor].status().await;
    assert!(
        s.purged_index.is_some_and(|p| p >= 100),
        "the log was compacted behind a snapshot: {s:?}"
    );

    // The watch saw every stored write exactly once, in revision order.
    wait_until(
        Duration::from_secs(30),
        "the watch delivered every write",
        || async { seen.lock().unwrap().last().map(|(r, _)| *r) >= Some(target) },
    )
    .await;
    watcher.abort();
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.windows(2).all(|w| w[0].0 < w[1].0),
        "watch revisions strictly increase (no repeats)"
    );
    let watched: BTreeMap<String, u64> = seen.iter().map(|(r, k)| (k.clone(), *r)).collect();
    assert_eq!(watched.len(), seen.len(), "no key delivered twice");
    assert_eq!(
        watched, stored,
        "the watch saw exactly what is stored, at the stored revisions"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_to_a_real_master_get_json_errors_and_it_keeps_serving() {
    let root = tempfile::tempdir().unwrap();
    let masters = cluster(root.path(), 1, &[]).await;
    let m = &masters[0];
    let client = m.client();
    client
        .put(PutRequest {
            key: "/keep".into(),
            value: b"safe".to_vec(),
            ..Default::default()
        })
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "/store/v1/kv/put",
            b"{not json".to_vec(),
            400,
            "invalid_argument",
        ),
        (
            "/store/v1/kv/put",
            br#"{"key":"/keep","value":"c2FmZQ==","extra":1}"#.to_vec(),
            400,
            "invalid_argument",
        ),
        (
            "/store/v1/kv/put",
            br#"{"key":"/keep","value":"eA==","expect_mod_revision":999}"#.to_vec(),
            409,
            "cas_failed",
        ),
        (
            "/store/v1/kv/get",
            br#"{"key":"/missing"}"#.to_vec(),
            404,
            "key_not_found",
        ),
        (
            "/store/v1/kv/delete",
            br#"{"key":"/missing"}"#.to_vec(),
            404,
            "key_not_found",
        ),
        (
            "/store/v1/lease/keepalive",
            br#"{"id":424242}"#.to_vec(),
            404,
            "lease_not_found",
        ),
        (
            "/store/v1/watch",
            br#"{"key":"/","prefix":true,"start_revision":1,"bogus":true}"#.to_vec(),
            400,
            "invalid_argument",
        ),
        (
            "/store/v1/members",
            br#"{"id":0,"addr":"x"}"#.to_vec(),
            400,
            "invalid_argument",
        ),
        (
            "/store/raft/append",
            b"\xff\xfe garbage".to_vec(),
            400,
            "invalid_argument",
        ),
        ("/store/raft/vote", Vec::new(), 400, "invalid_argument"),
    ];
    for (path, body, status, code) in cases {
        let resp = http
            .post(format!("{}{path}", m.url()))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), status, "{path}");
        let json: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(json["error"], code, "{path}: {json}");
        assert!(
            json["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{path} has a message"
        );
    }
    // 1 MiB + 1 value: 413 with a JSON body.
    let big = format!(
        r#"{{"key":"/keep","value":"{}"}}"#,
        base64_of(&vec![b'x'; 1024 * 1024 + 1])
    );
    let resp = http
        .post(format!("{}/store/v1/kv/put", m.url()))
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 413);
    let json: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(json["error"], "value_too_large");

    let kv = client.get("/keep").await.unwrap().unwrap();
    assert_eq!(
        (kv.value.as_slice(), kv.version),
        (&b"safe"[..], 1),
        "nothing stored changed"
    );
}

fn base64_of(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_nodes_survive_two_failures_and_dead_members_can_be_removed() {
    let root = tempfile::tempdir().unwrap();
    let mut masters = cluster(root.path(), 5, &[]).await;
    let client = Client::new(masters.iter().map(|m| m.url()));
    let put = |key: &'static str| PutRequest {
        key: key.into(),
        value: b"v".to_vec(),
        ..Default::default()
    };
    client.put(put("/five/before")).await.unwrap();

    // Kill the leader and one more: three of five is still a quorum.
    let leader_addr = masters[0].status().await.leader_addr.unwrap();
    let leader = masters
        .iter()
        .position(|m| m.addr() == leader_addr)
        .unwrap();
    let other = (leader + 1) % 5;
    let dead_ids: Vec<u64> = {
        let members = client.members().await.unwrap();
        [leader, other]
            .iter()
            .map(|i| {
                members
                    .iter()
                    .find(|m| m.addr == masters[*i].addr())
                    .unwrap()
                    .id
            })
            .collect()
    };
    masters[leader].kill9();
    masters[other].kill9();
    // A write sent on a connection the kill broke has an unknown outcome
    // (the client says so rather than retry it); writing the same value
    // again is safe.
    let mut attempts = 0;
    loop {
        match client.put(put("/five/after")).await {
            Ok(_) => break,
            Err(KvError::Unavailable { .. }) if attempts < 20 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("write after losing two of five: {e}"),
        }
    }
    assert!(client.get("/five/before").await.unwrap().is_some());

    // Remove the dead members through the API; the cluster is now three.
    for id in dead_ids {
        client.remove_member(id).await.unwrap();
    }
    let members = client.members().await.unwrap();
    assert_eq!(members.len(), 3, "{members:?}");
    assert!(members.iter().all(|m| m.voter));
    client.put(put("/five/three")).await.unwrap();

    // Removing the last voters is refused with a clear error.
    let survivor = (0..5).find(|i| ![leader, other].contains(i)).unwrap();
    let s = masters[survivor].status().await;
    assert!(s.members.len() == 3);
    let bad = client.remove_member(123_456_789).await.unwrap_err();
    assert!(matches!(bad, KvError::InvalidArgument { .. }), "{bad}");
}

/// Issue 17: a master whose store lost its quorum says so. Of three,
/// two are killed: the survivor's `/health` turns 503 with the reason
/// (no leader, or leading without a quorum) and GET_HEALTH says
/// unhealthy; one restarted member brings the quorum and health back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_without_a_store_quorum_is_unhealthy_and_says_why() {
    let root = tempfile::tempdir().unwrap();
    let mut masters = cluster(root.path(), 3, &[]).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let survivor = masters[0].url();
    let health = |url: String| {
        let http = http.clone();
        async move {
            let r = http.get(format!("{url}/health")).send().await.ok()?;
            Some((r.status().as_u16(), r.text().await.unwrap_or_default()))
        }
    };
    assert_eq!(health(survivor.clone()).await.map(|h| h.0), Some(200));

    masters[1].kill9();
    masters[2].kill9();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    wait_until(Duration::from_secs(20), "the survivor is unhealthy", || {
        let (seen, h) = (seen.clone(), health(survivor.clone()));
        async move {
            match h.await {
                Some((503, why)) => {
                    *seen.lock().unwrap() = why;
                    true
                }
                _ => false,
            }
        }
    })
    .await;
    let why = seen.lock().unwrap().clone();
    eprintln!("the survivor says: {why}");
    assert!(why.contains("replicated store"), "{why}");
    let op: serde_json::Value = http
        .post(format!("{survivor}/api/v1"))
        .header("Content-Type", "application/json")
        .body(r#"{"type":"GET_HEALTH"}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(op["get_health"]["healthy"], false, "{op}");

    masters[1].restart();
    wait_until(
        Duration::from_secs(30),
        "health is back with a quorum",
        || {
            let h = health(survivor.clone());
            async move { h.await.is_some_and(|h| h.0 == 200) }
        },
    )
    .await;
}
