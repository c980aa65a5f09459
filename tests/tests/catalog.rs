//! The built-in catalog's packages on a cluster from `dcos install` (real
//! processes, as root): each installed with `dcos package install NAME
//! --yes`, its software brought into the cluster's artifact store (from
//! the Debian archive, or from an offline bundle for Kafka) and fetched by
//! the agent, then a real client talks to it; `uninstall` removes it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use dcos_tests::install::Node;
use serde_json::{json, Value};

/// The kafka package's software, packed by `packaging/bundles/tansu.sh`.
const TANSU_URL: &str = "bundle:tansu-0.6.0-x86_64-linux-gnu.tar.gz";

fn tansu_tarball() -> PathBuf {
    dcos_tests::workspace_root().join("target/bundles/tansu-0.6.0-x86_64-linux-gnu.tar.gz")
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn write(node: &Node, name: &str, v: &Value) -> String {
    let p = node.tmp().join(name);
    std::fs::write(&p, v.to_string()).unwrap();
    p.display().to_string()
}

/// `host:port` of the installed package's first task.
fn endpoint(node: &Node, package: &str) -> String {
    let ends = json(&node.dcos_ok(&["package", "endpoints", package, "--json"]));
    ends[0]["address"][0]
        .as_str()
        .unwrap_or_else(|| panic!("no endpoint for {package}: {ends}"))
        .to_string()
}

/// The ids of the app's running tasks.
fn task_ids(node: &Node, app: &str) -> Vec<String> {
    let v = json(&node.dcos_ok(&["marathon", "app", "show", app]));
    let app = if v.get("app").is_some() {
        &v["app"]
    } else {
        &v
    };
    app["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["state"] == "TASK_RUNNING")
        .filter_map(|t| t["id"].as_str().map(str::to_string))
        .collect()
}

fn python(script: &str, args: &[&str]) -> String {
    let py = dcos_tests::test_python("kafka").expect("the test venv with kafka-python");
    let out = Command::new(py)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "python {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const KAFKA_CLIENT: &str = r#"
import sys
from kafka import KafkaProducer, KafkaConsumer, KafkaAdminClient
from kafka.admin import NewTopic
boot, topic, n, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
if mode == "produce":
    admin = KafkaAdminClient(bootstrap_servers=boot, request_timeout_ms=30000)
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    admin.close()
    p = KafkaProducer(bootstrap_servers=boot, acks="all")
    for i in range(n):
        p.send(topic, ("message %d" % i).encode())
    p.flush()
    p.close()
    print("produced", n)
else:
    c = KafkaConsumer(topic, bootstrap_servers=boot, auto_offset_reset="earliest",
                      group_id=sys.argv[5], consumer_timeout_ms=30000)
    got = []
    for m in c:
        got.append(m.value.decode())
        if len(got) == n:
            break
    c.close()
    want = ["message %d" % i for i in range(n)]
    assert got == want, (len(got), got[:3])
    print("consumed", len(got))
"#;

/// Waits until `f` holds (at most `secs`), polling every 500 ms.
fn wait(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("{what} within {secs} s");
}

/// Kills (SIGKILL) every process whose command line contains `needle`;
/// how many.
fn kill_9(needle: &str) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline)
            .replace('\0', " ")
            .contains(needle)
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            n += 1;
        }
    }
    n
}

fn world_readable_dir(under: &Path, name: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let d = under.join(name);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    d
}

fn cluster(ports: &str) -> Option<Node> {
    if !dcos_skip::is_root() {
        dcos_skip::skip("the catalog tests install a cluster, which needs root");
        return None;
    }
    let node = Node::new("127.0.0.1", None);
    let resources = format!("cpus:8;mem:8192;disk:20000;ports:[{ports}]");
    let r = node.install(&["--resources", &resources]);
    assert!(r.ok(), "install failed:\n{}\n{}", r.stdout, r.stderr);
    node.setup();
    Some(node)
}

fn run_ok(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Sends a ZooKeeper four-letter word, returns the answer.
fn four_letter(address: &str, word: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(address).unwrap();
    s.write_all(word.as_bytes()).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
}

const MEMCACHED_CLIENT: &str = r#"
import sys
from pymemcache.client.base import Client
host, port = sys.argv[1].rsplit(":", 1)
c = Client((host, int(port)), connect_timeout=5, timeout=5)
assert c.set("greeting", b"hello from memcached")
print(c.get("greeting").decode())
"#;

#[test]
fn debian_packages_install_from_the_archive_and_answer_their_clients() {
    for tool in ["redis-cli", "psql"] {
        let there = Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !there {
            dcos_skip::skip(&format!(
                "{tool} (a test client) is missing: apt-get install redis-tools postgresql-client"
            ));
            return;
        }
    }
    let Some(node) = cluster("32500-32599") else {
        return;
    };
    let names = ["nginx", "redis", "postgresql", "memcached", "zookeeper"];
    let options = json!({
        "nginx": {"index_html": "<h1>served by the catalog's nginx</h1>"},
        "redis": {"password": "s3cret\"quoted$"},
        "postgresql": {"password": "pg pass", "database": "shop"},
    });
    for name in names {
        let own = json!({ name: options.get(name).cloned().unwrap_or(json!({})) });
        let file = write(&node, &format!("{name}.json"), &own);
        let started = Instant::now();
        node.dcos_ok(&["package", "install", name, "--yes", "--options", &file]);
        eprintln!(
            "{name}: installed and healthy in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }

    let nginx = endpoint(&node, "nginx");
    let page = run_ok("curl", &["-sf", &format!("http://{nginx}/")]);
    assert!(page.contains("served by the catalog's nginx"), "{page}");

    let redis = endpoint(&node, "redis");
    let (host, port) = redis.rsplit_once(':').unwrap();
    let pong = run_ok(
        "redis-cli",
        &[
            "-h",
            host,
            "-p",
            port,
            "--no-auth-warning",
            "-a",
            "s3cret\"quoted$",
            "PING",
        ],
    );
    assert_eq!(pong.trim(), "PONG");
    let denied = run_ok("redis-cli", &["-h", host, "-p", port, "PING"]);
    assert!(denied.contains("NOAUTH"), "{denied}");

    let pg = endpoint(&node, "postgresql");
    let url = format!("postgresql://postgres:pg%20pass@{pg}/shop");
    let mut one = String::new();
    // The health check passes once the port answers; a fresh server may
    // still say "starting up" for a moment.
    wait(60, "psql select 1", || {
        let out = Command::new("psql")
            .args([url.as_str(), "-tAc", "select 1"])
            .output()
            .unwrap();
        one = String::from_utf8_lossy(&out.stdout).into_owned();
        out.status.success()
    });
    assert_eq!(one.trim(), "1");

    let mc = endpoint(&node, "memcached");
    let got = python(MEMCACHED_CLIENT, &[&mc]);
    assert_eq!(got.trim(), "hello from memcached");

    let zk = endpoint(&node, "zookeeper");
    assert_eq!(four_letter(&zk, "ruok"), "imok");
    let srvr = four_letter(&zk, "srvr");
    assert!(srvr.contains("Mode: standalone"), "{srvr}");

    // Their software came through the artifact store, from the Debian
    // archive, each file checked against its pinned sha256.
    let store = json(&node.dcos_ok(&["package", "bundle", "list", "--json"]));
    let artifacts = store["artifacts"].as_array().unwrap();
    assert!(
        artifacts.iter().all(|a| a["url"]
            .as_str()
            .unwrap()
            .starts_with("http://deb.debian.org/")),
        "{store}"
    );
    assert!(artifacts.len() >= 20, "{}", artifacts.len());

    for name in names {
        node.dcos_ok(&["package", "uninstall", name]);
    }
    let installed = json(&node.dcos_ok(&["package", "list", "--json"]));
    assert_eq!(installed, json!([]), "{installed}");
    wait(30, "every package's app gone", || {
        names
            .iter()
            .all(|n| task_ids_or_none(&node, &format!("/{n}")).is_none())
    });
}

#[test]
fn kafka_installs_from_an_offline_bundle_and_keeps_messages_across_a_broker_kill() {
    let tansu = tansu_tarball();
    if !tansu.exists() {
        dcos_skip::skip(
            "the kafka package's software is not built: run packaging/bundles/tansu.sh",
        );
        return;
    }
    let Some(node) = cluster("32400-32499") else {
        return;
    };

    // Kafka: its software is not downloadable, so without a bundle the
    // install is refused, with what to do, and nothing is left behind.
    let refused = node.dcos(&["package", "install", "kafka", "--yes"]);
    assert!(!refused.ok());
    assert!(
        refused.stderr.contains("dcos package bundle import"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        task_ids_or_none(&node, "/kafka"),
        None,
        "no app after a refused install"
    );

    // The offline bundle: built here, imported through the gateway.
    let bundle = node.tmp().join("kafka.bundle");
    let given = format!("{TANSU_URL}={}", tansu.display());
    node.dcos_ok(&[
        "package",
        "bundle",
        "build",
        "kafka",
        "-o",
        bundle.to_str().unwrap(),
        "--artifact",
        &given,
    ]);
    let imported = node.dcos_ok(&["package", "bundle", "import", bundle.to_str().unwrap()]);
    assert!(imported.contains("Imported 1 artifacts"), "{imported}");
    let listed = json(&node.dcos_ok(&["package", "bundle", "list", "--json"]));
    assert_eq!(listed["artifacts"][0]["url"], TANSU_URL, "{listed}");

    let data = world_readable_dir(node.tmp(), "kafka-data");
    let opts = write(
        &node,
        "kafka.json",
        &json!({"kafka": {"data_dir": data.display().to_string()}}),
    );
    node.dcos_ok(&["package", "install", "kafka", "--yes", "--options", &opts]);
    let boot = endpoint(&node, "kafka");
    let out = python(KAFKA_CLIENT, &[&boot, "orders", "1000", "produce"]);
    assert!(out.contains("produced 1000"), "{out}");
    let out = python(KAFKA_CLIENT, &[&boot, "orders", "1000", "consume", "g1"]);
    assert!(out.contains("consumed 1000"), "{out}");
    eprintln!("kafka at {boot}: produced and consumed 1000");

    // kill -9 the broker: Marathon starts a new one on the same data.
    let before = task_ids(&node, "/kafka");
    let broker = format!("{}/kafka/tansu.bin", data.display());
    assert!(kill_9(&broker) >= 1, "no broker process {broker}");
    let killed = Instant::now();
    wait(120, "a new kafka task running", || {
        let now = task_ids(&node, "/kafka");
        !now.is_empty() && now != before
    });
    let boot = endpoint(&node, "kafka");
    let mut last = String::new();
    wait(60, "the restarted broker serving the 1000 messages", || {
        let py = dcos_tests::test_python("kafka").unwrap();
        let out = Command::new(py)
            .arg("-c")
            .arg(KAFKA_CLIENT)
            .args([&boot, "orders", "1000", "consume", "g2"])
            .output()
            .unwrap();
        last = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out.status.success()
    });
    assert!(last.contains("consumed 1000"), "{last}");
    eprintln!(
        "kafka at {boot} after kill -9: consumed 1000 again, {:.1} s after the kill",
        killed.elapsed().as_secs_f64()
    );

    node.dcos_ok(&["package", "uninstall", "kafka"]);
    wait(30, "the kafka app gone", || {
        task_ids_or_none(&node, "/kafka").is_none()
    });
    let installed = json(&node.dcos_ok(&["package", "list", "--json"]));
    assert_eq!(installed, json!([]), "{installed}");
}

fn task_ids_or_none(node: &Node, app: &str) -> Option<Vec<String>> {
    let r = node.dcos(&["marathon", "app", "show", app]);
    r.ok().then(|| task_ids(node, app))
}

/// An authenticated request through the gateway.
async fn gateway(
    node: &Node,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .request(method, format!("{}{path}", node.gateway()))
        .header("Authorization", format!("token={}", node.token()));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn await_true<F, Fut>(secs: u64, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("{what} within {secs} s");
}

#[tokio::test(flavor = "multi_thread")]
async fn marathon_and_chronos_run_on_marathon_with_their_own_state() {
    let Some(node) = cluster("32600-32699") else {
        return;
    };
    // A second Marathon: the cluster's own binary, from the artifact store.
    node.dcos_ok(&["package", "install", "marathon", "--yes"]);
    let inner =
        json!({"id": "/inner", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 1});
    let (status, body) = gateway(
        &node,
        reqwest::Method::POST,
        "/service/marathon-user/v2/apps",
        Some(inner),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    await_true(60, "the inner Marathon's app running", || async {
        let (_, v) = gateway(
            &node,
            reqwest::Method::GET,
            "/service/marathon-user/v2/apps/inner",
            None,
        )
        .await;
        v["app"]["tasksRunning"] == 1
    })
    .await;
    // Its state is its own: the cluster's Marathon does not see /inner,
    // the inner one sees only /inner.
    let (_, outer) = gateway(
        &node,
        reqwest::Method::GET,
        "/service/marathon/v2/apps",
        None,
    )
    .await;
    let outer_ids: Vec<&str> = outer["apps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["id"].as_str())
        .collect();
    assert_eq!(outer_ids, ["/marathon-user"], "{outer}");
    let (_, inner_apps) = gateway(
        &node,
        reqwest::Method::GET,
        "/service/marathon-user/v2/apps",
        None,
    )
    .await;
    assert_eq!(
        inner_apps["apps"].as_array().unwrap().len(),
        1,
        "{inner_apps}"
    );
    let (_, frameworks) = gateway(
        &node,
        reqwest::Method::GET,
        "/mesos/master/frameworks",
        None,
    )
    .await;
    let names: Vec<&str> = frameworks["frameworks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert!(
        names.contains(&"marathon-user") && names.contains(&"marathon"),
        "{names:?}"
    );

    // A second Chronos: a Metronome job created and run through it.
    node.dcos_ok(&["package", "install", "chronos", "--yes"]);
    let job = json!({"id": "hello", "run": {"cmd": "echo hello from the second chronos", "cpus": 0.1, "mem": 16, "disk": 0}});
    let (status, body) = gateway(
        &node,
        reqwest::Method::POST,
        "/service/chronos-user/v1/jobs",
        Some(job),
    )
    .await;
    assert!(status == 201 || status == 200, "{status} {body}");
    let (status, body) = gateway(
        &node,
        reqwest::Method::POST,
        "/service/chronos-user/v1/jobs/hello/runs",
        Some(json!({})),
    )
    .await;
    assert!(status == 201 || status == 200, "{status} {body}");
    await_true(90, "the job's run finished", || async {
        let (_, v) = gateway(
            &node,
            reqwest::Method::GET,
            "/service/chronos-user/v1/jobs/hello?embed=history",
            None,
        )
        .await;
        v["history"]["successCount"].as_u64().unwrap_or(0) >= 1
    })
    .await;
    // The cluster's Chronos does not have it.
    let (status, _) = gateway(
        &node,
        reqwest::Method::GET,
        "/service/metronome/v1/jobs/hello",
        None,
    )
    .await;
    assert_eq!(status, 404);

    // Uninstall tears the frameworks down: what they launched stops.
    node.dcos_ok(&["package", "uninstall", "marathon"]);
    node.dcos_ok(&["package", "uninstall", "chronos"]);
    await_true(
        60,
        "the second Marathon's framework and task gone",
        || async {
            let (_, f) = gateway(
                &node,
                reqwest::Method::GET,
                "/mesos/master/frameworks",
                None,
            )
            .await;
            let active: Vec<&str> = f["frameworks"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|f| f["name"].as_str())
                .collect();
            let (_, t) = gateway(&node, reqwest::Method::GET, "/mesos/master/tasks", None).await;
            let running_inner = t["tasks"].as_array().unwrap().iter().any(|t| {
                t["state"] == "TASK_RUNNING" && t["id"].as_str().unwrap_or("").starts_with("inner")
            });
            !active.contains(&"marathon-user")
                && !active.contains(&"chronos-user")
                && !running_inner
        },
    )
    .await;
    let installed = json(&node.dcos_ok(&["package", "list", "--json"]));
    assert_eq!(installed, json!([]), "{installed}");
}
