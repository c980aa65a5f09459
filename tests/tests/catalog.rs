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
    let v = json(&node.dcos_ok(&["marathon", "app", "show", app, "--json"]));
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

#[test]
fn builtin_packages_install_from_the_artifact_store_and_serve_their_protocols() {
    if !dcos_skip::is_root() {
        dcos_skip::skip("the catalog tests install a cluster, which needs root");
        return;
    }
    let tansu = tansu_tarball();
    if !tansu.exists() {
        dcos_skip::skip(
            "the kafka package's software is not built: run packaging/bundles/tansu.sh",
        );
        return;
    }
    let node = Node::new("127.0.0.1", None);
    let r = node.install(&[
        "--resources",
        "cpus:8;mem:8192;disk:20000;ports:[32400-32499]",
    ]);
    assert!(r.ok(), "install failed:\n{}\n{}", r.stdout, r.stderr);
    node.setup();

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

    // kill -9 the broker: Marathon starts a new one on the same data.
    let before = task_ids(&node, "/kafka");
    let broker = format!("{}/kafka/tansu.bin", data.display());
    assert!(kill_9(&broker) >= 1, "no broker process {broker}");
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

    node.dcos_ok(&["package", "uninstall", "kafka"]);
    wait(30, "the kafka app gone", || {
        task_ids_or_none(&node, "/kafka").is_none()
    });
    let installed = json(&node.dcos_ok(&["package", "list", "--json"]));
    assert_eq!(installed, json!([]), "{installed}");
}

fn task_ids_or_none(node: &Node, app: &str) -> Option<Vec<String>> {
    let r = node.dcos(&["marathon", "app", "show", app, "--json"]);
    r.ok().then(|| task_ids(node, app))
}
