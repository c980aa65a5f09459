//! `dcos install` as a user meets it: the built binary installs a node
//! into a temp data dir on free ports (our supervisor, since CI has no
//! systemd), the `dcos` CLI drives it through the gateway (apps, logs,
//! jobs, `dcos task exec` into a container of an imported image), and `dcos
//! uninstall` leaves nothing behind. Needs root (cgroups, namespaces).

use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use dcos_tests::install::{cgroups_named, processes_naming, run, Netns, Node};
use dcos_tests::{require_tool, wait_until};
use serde_json::Value;

fn is_root() -> bool {
    let root = dcos_skip::is_root();
    if !root {
        dcos_skip::skip("the install tests need root");
    }
    root
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn write(node: &Node, name: &str, v: &Value) -> String {
    let p = node.tmp().join(name);
    std::fs::write(&p, v.to_string()).unwrap();
    p.display().to_string()
}

/// After `dcos uninstall`: no process names the data dir, no cgroup of the
/// node is left, no unit file.
fn assert_nothing_left(node: &Node, cgroups_root: &str) {
    let start = Instant::now();
    loop {
        let left = processes_naming(&node.dir);
        if left.is_empty() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "processes left after uninstall: {left:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        cgroups_named(cgroups_root),
        Vec::<std::path::PathBuf>::new()
    );
    for c in ["master", "agent", "marathon", "chronos", "gateway"] {
        assert!(!std::path::Path::new(&format!("/etc/systemd/system/dcos-{c}.service")).exists());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn end_to_end_as_a_new_user() {
    if !is_root() {
        return;
    }
    let node = Node::new("127.0.0.1", None);
    let started = Instant::now();
    let r = node.install(&["--resources", "ports:[32100-32199]"]);
    assert!(r.ok(), "install failed:\n{}\n{}", r.stdout, r.stderr);
    eprintln!("dcos install: healthy after {:?}", started.elapsed());
    assert!(
        r.stdout
            .contains(&format!("cluster URL: {}", node.gateway())),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("admin-credentials"), "{}", r.stdout);
    let cgroups_root = node.cgroups_root().expect("cgroups root in config.toml");

    // dcos status: every component healthy (table and JSON).
    let d = node.dir.display().to_string();
    let status = json(&node.dcos_ok(&["status", "--data-dir", &d, "--json"]));
    let comps = status["components"].as_array().unwrap();
    assert_eq!(comps.len(), 6, "{status}");
    assert!(comps.iter().all(|c| c["health"] == "healthy"), "{status}");

    // Log in and attach, as a new user would.
    node.setup();
    let list = node.dcos_ok(&["cluster", "list"]);
    assert!(list.contains(&node.gateway()), "{list}");

    // A small HTTP server as a Marathon app, waited for.
    let app = serde_json::json!({
        "id": "/web",
        "cmd": "echo hello-from-web; exec python3 -m http.server $PORT0",
        "cpus": 0.1, "mem": 64, "instances": 1,
        "portDefinitions": [{"port": 0}],
        "env": {"DCOS_SERVICE_NAME": "web"}
    });
    let file = write(&node, "web.json", &app);
    let out = node.dcos_ok(&["marathon", "app", "add", &file, "--wait"]);
    assert!(out.contains("created deployment"), "{out}");
    let apps = json(&node.dcos_ok(&["marathon", "app", "list", "--json"]));
    assert_eq!(apps[0]["tasksRunning"], 1, "{apps}");

    // A pod of two containers, added and waited for with the CLI.
    let pod = serde_json::json!({
        "id": "/duo",
        "scaling": {"kind": "fixed", "instances": 1},
        "containers": [
            {"name": "main", "resources": {"cpus": 0.1, "mem": 32},
             "exec": {"command": {"shell": "sleep 3600"}}},
            {"name": "side", "resources": {"cpus": 0.1, "mem": 32},
             "exec": {"command": {"shell": "sleep 3600"}}}
        ]
    });
    let file = write(&node, "duo.json", &pod);
    let out = node.dcos_ok(&["marathon", "pod", "add", &file, "--wait"]);
    assert!(out.contains("created deployment"), "{out}");
    let pods = json(&node.dcos_ok(&["marathon", "pod", "list", "--json"]));
    assert_eq!(pods[0]["status"], "STABLE", "{pods}");
    let containers = &pods[0]["instances"][0]["containers"];
    assert_eq!(containers.as_array().map(Vec::len), Some(2), "{pods}");
    assert!(
        containers
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] == "TASK_RUNNING"),
        "{pods}"
    );
    let table = node.dcos_ok(&["marathon", "pod", "list"]);
    assert!(
        table.contains("/duo") && table.contains("main,side"),
        "{table}"
    );
    node.dcos_ok(&["marathon", "pod", "remove", "/duo"]);

    // It answers through the gateway at /service/web/ (python's
    // http.server serves the sandbox, so its own stdout file is there).
    let http = reqwest::Client::new();
    let token = node.token();
    let url = format!("{}/service/web/stdout", node.gateway());
    let mut body = String::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        let r = http
            .get(&url)
            .header("Authorization", format!("token={token}"))
            .send()
            .await;
        if let Ok(r) = r {
            if r.status().is_success() {
                body = r.text().await.unwrap_or_default();
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        body.contains("hello-from-web"),
        "through the gateway: {body:?}"
    );
    // The service's root: http.server's listing of its sandbox.
    let root = http
        .get(format!("{}/service/web/", node.gateway()))
        .header("Authorization", format!("token={token}"))
        .send()
        .await
        .unwrap();
    assert!(root.status().is_success(), "{}", root.status());
    let listing = root.text().await.unwrap();
    assert!(listing.contains("stdout"), "{listing}");
    // Without a token the gateway refuses.
    let anon = http.get(&url).send().await.unwrap();
    assert_eq!(anon.status(), 401);

    // dcos task log shows its output.
    let tasks = json(&node.dcos_ok(&["task", "--json"]));
    assert!(
        tasks
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "/web"),
        "{tasks}"
    );
    let log = node.dcos_ok(&["task", "log", "web", "--lines", "20"]);
    assert!(log.contains("hello-from-web"), "{log}");
    // --follow: python's http.server logs each request to stderr; a
    // request made after the follow started shows up in it.
    {
        use std::io::{BufRead, BufReader};
        let mut follow = node
            .command(&dcos_tests::dcos_bin())
            .args(["task", "log", "web", "stderr", "--follow", "--lines", "0"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = follow.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        tokio::time::sleep(Duration::from_millis(700)).await;
        let marker = format!("/service/web/followed-{}", std::process::id());
        let _ = http
            .get(format!("{}{marker}", node.gateway()))
            .header("Authorization", format!("token={token}"))
            .send()
            .await;
        let want = format!("followed-{}", std::process::id());
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = false;
        while Instant::now() < deadline && !seen {
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
                seen = line.contains(&want);
            }
        }
        let _ = follow.kill();
        let _ = follow.wait();
        assert!(seen, "dcos task log --follow did not show the new request");
    }
    let ls = node.dcos_ok(&["task", "ls", "web"]);
    assert!(ls.contains("stdout") && ls.contains("stderr"), "{ls}");

    // dcos task exec: a command inside a task's container (an image
    // imported into this node's agent with `dcos image import`), through
    // the gateway; the command's exit code is the CLI's.
    if dcos_tests::containers::can_run_containers("end_to_end_as_a_new_user: task exec") {
        let marker = format!("e2e-{}", std::process::id());
        let tarball = node.tmp().join("busybox.tar");
        std::fs::write(
            &tarball,
            dcos_tests::containers::TestImage::busybox(&marker, "amd64")
                .docker_save("e2e/busybox:1"),
        )
        .unwrap();
        let agent_dir = node.dir.join("agent");
        node.dcos_ok(&[
            "image",
            "import",
            tarball.to_str().unwrap(),
            "--work-dir",
            agent_dir.to_str().unwrap(),
        ]);
        let app = serde_json::json!({
            "id": "/boxed", "cmd": "sleep 1000", "cpus": 0.1, "mem": 32, "instances": 1,
            "portDefinitions": [],
            "container": {"type": "MESOS", "docker": {"image": "e2e/busybox:1"}},
        });
        let file = write(&node, "boxed.json", &app);
        node.dcos_ok(&["marathon", "app", "add", &file, "--wait"]);
        let out = node.dcos_ok(&["task", "exec", "boxed", "cat", "/etc/os-release"]);
        assert!(out.contains(&format!("MARKER={marker}")), "{out}");
        let r = node.dcos(&["task", "exec", "boxed", "sh", "-c", "echo in; exit 3"]);
        assert_eq!(r.code, Some(3), "{r:?}");
        assert!(r.stdout.contains("in"), "{r:?}");
        node.dcos_ok(&["marathon", "app", "remove", "/boxed"]);
        wait_until(Duration::from_secs(30), "the boxed task is gone", || {
            let tasks = node.dcos(&["task", "--json"]).stdout;
            std::future::ready(!tasks.contains("boxed"))
        })
        .await;
    }

    // A job: add, run, and its history shows the run.
    let job = serde_json::json!({"id": "hello", "run": {"cmd": "echo job-ran", "cpus": 0.1, "mem": 32, "disk": 0}});
    let file = write(&node, "job.json", &job);
    node.dcos_ok(&["job", "add", &file]);
    let ran = node.dcos_ok(&["job", "run", "hello"]);
    let run_id = ran.split_whitespace().nth(1).unwrap().to_string();
    let mut history = String::new();
    for _ in 0..200 {
        history = node.dcos_ok(&["job", "history", "hello"]);
        if history.contains(&run_id) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        history.contains(&run_id) && history.contains("success"),
        "{history}"
    );
    let jobs = node.dcos_ok(&["job", "list"]);
    assert!(jobs.contains("hello"), "{jobs}");

    // A wrong token makes the CLI say what to do, with exit code 3.
    let cfg = std::fs::read_dir(node.dcos_dir.join("clusters"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("dcos.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, text.replace(&token, "forged")).unwrap();
    let r = node.dcos(&["marathon", "app", "list"]);
    assert_eq!(r.code, Some(3), "{r:?}");
    assert!(r.stderr.contains("run `dcos cluster setup"), "{}", r.stderr);

    // Uninstall: nothing left behind (the app's task included), data kept.
    let r = node.uninstall();
    assert!(r.ok(), "{r:?}");
    assert_nothing_left(&node, &cgroups_root);
    assert!(
        node.dir.join("config.toml").exists(),
        "data kept without --purge"
    );
    let d = node.dir.display().to_string();
    assert!(node.dcos(&["uninstall", "--data-dir", &d, "--purge"]).ok());
    assert!(!node.dir.exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn supervisor_brings_back_a_killed_marathon_with_its_apps() {
    if !is_root() {
        return;
    }
    let node = Node::new("127.0.0.1", None);
    let r = node.install(&["--resources", "ports:[32300-32399]"]);
    assert!(r.ok(), "install failed:\n{}\n{}", r.stdout, r.stderr);
    node.setup();
    let app = serde_json::json!({"id": "/sleeper", "cmd": "sleep 600", "cpus": 0.1, "mem": 32, "instances": 2});
    let file = write(&node, "sleeper.json", &app);
    node.dcos_ok(&["marathon", "app", "add", &file, "--wait"]);

    let pidfile = node.dir.join("run/marathon.pid");
    let old: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(run(Command::new("kill").args(["-9", &old.to_string()])).ok());
    let killed = Instant::now();

    // Back within seconds: a new pid that answers, with the app and both
    // instances still there.
    let marathon = format!("http://127.0.0.1:{}", node.ports.marathon);
    let http = reqwest::Client::new();
    // Typically ~3 s (Marathon's leader lease of the killed process runs
    // out first); generous for a loaded CI box.
    wait_until(
        Duration::from_secs(30),
        "Marathon answers again with its app",
        || {
            let (http, marathon) = (http.clone(), marathon.clone());
            async move {
                match http.get(format!("{marathon}/v2/apps/sleeper")).send().await {
                    Ok(r) if r.status().is_success() => {
                        let v: Value = r.json().await.unwrap_or_default();
                        v["app"]["tasksRunning"] == 2
                    }
                    _ => false,
                }
            }
        },
    )
    .await;
    let back = killed.elapsed();
    eprintln!("Marathon back with its app after {back:?}");
    let new: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_ne!(old, new);
    let apps = json(&node.dcos_ok(&["marathon", "app", "list", "--json"]));
    assert_eq!(apps.as_array().unwrap().len(), 1, "{apps}");
    let d = node.dir.display().to_string();
    let status = json(&node.dcos_ok(&["status", "--data-dir", &d, "--json"]));
    assert!(
        status["components"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["health"] == "healthy"),
        "{status}"
    );

    let root = node.cgroups_root().unwrap();
    assert!(node.uninstall().ok());
    assert_nothing_left(&node, &root);
}

#[tokio::test(flavor = "multi_thread")]
async fn install_twice_busy_port_wrong_join_token_and_private_credentials() {
    if !is_root() {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let node = Node::new("127.0.0.1", None);
    let r = node.install(&["--resources", "ports:[32400-32499]"]);
    assert!(r.ok(), "install failed:\n{}\n{}", r.stdout, r.stderr);

    // The admin credentials and secrets are 0600.
    for f in [
        "admin-credentials",
        "secrets/cluster-secret",
        "secrets/join-token",
        "config.toml",
    ] {
        let mode = std::fs::metadata(node.dir.join(f))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
    let read = |f: &str| std::fs::read_to_string(node.dir.join(f)).unwrap();
    let secrets = (
        read("admin-credentials"),
        read("secrets/cluster-secret"),
        read("secrets/join-token"),
    );
    let pids = |node: &Node| -> Vec<String> {
        let mut v: Vec<String> = [
            "supervisor",
            "master",
            "agent",
            "marathon",
            "chronos",
            "gateway",
        ]
        .iter()
        .map(|c| std::fs::read_to_string(node.dir.join(format!("run/{c}.pid"))).unwrap_or_default())
        .collect();
        v.sort();
        v
    };
    let before = pids(&node);
    let supervisors = |node: &Node| {
        processes_naming(&node.dir)
            .iter()
            .filter(|p| p.contains("daemon supervisor"))
            .count()
    };
    assert_eq!(supervisors(&node), 1);

    // Again on the same data dir: same secrets, same processes, healthy.
    let r = node.install(&[]);
    assert!(r.ok(), "second install failed:\n{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("using the existing configuration"),
        "{}",
        r.stderr
    );
    assert_eq!(
        secrets,
        (
            read("admin-credentials"),
            read("secrets/cluster-secret"),
            read("secrets/join-token")
        )
    );
    assert_eq!(before, pids(&node));
    assert_eq!(supervisors(&node), 1);
    let daemons = processes_naming(&node.dir)
        .iter()
        .filter(|p| p.contains("daemon marathon"))
        .count();
    assert_eq!(daemons, 1, "one Marathon, not two");

    // A supervisor killed -9 (its components orphaned): install repairs it,
    // with one of each component again.
    let sup: i32 = read("run/supervisor.pid").trim().parse().unwrap();
    assert!(run(Command::new("kill").args(["-9", &sup.to_string()])).ok());
    let r = node.install(&[]);
    assert!(r.ok(), "repair install failed:\n{}\n{}", r.stdout, r.stderr);
    assert_eq!(supervisors(&node), 1);
    for c in ["master", "agent", "marathon", "chronos", "gateway"] {
        let n = processes_naming(&node.dir)
            .iter()
            .filter(|p| p.contains(&format!("daemon {c} ")))
            .count();
        assert_eq!(n, 1, "one {c} after the repair");
    }
    assert_eq!(
        secrets,
        (
            read("admin-credentials"),
            read("secrets/cluster-secret"),
            read("secrets/join-token")
        )
    );

    // The join token on this master, and a wrong one refused.
    let d = node.dir.display().to_string();
    let token = node.dcos_ok(&["cluster", "join-token", "--data-dir", &d]);
    assert_eq!(token.trim(), secrets.2.trim());
    let agent = Node::new("127.0.0.1", None);
    let gw = node.gateway();
    let r = agent.install(&["--role", "agent", "--join", &gw, "--token", "not-the-token"]);
    assert!(!r.ok());
    assert!(r.stderr.contains("join token is wrong"), "{}", r.stderr);
    assert!(
        !agent.dir.join("config.toml").exists(),
        "a refused join leaves no config"
    );

    // A busy port fails naming the port and the component.
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let mut other = Node::new("127.0.0.1", None);
    other.ports.marathon = port;
    let r = other.install(&[]);
    assert!(!r.ok());
    assert!(
        r.stderr.contains(&format!("port {port} (marathon)")),
        "{}",
        r.stderr
    );
    assert!(
        processes_naming(&other.dir).is_empty(),
        "nothing started after a failed preflight"
    );

    let root = node.cgroups_root().unwrap();
    assert!(node.uninstall().ok());
    assert_nothing_left(&node, &root);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hosts_an_agent_joins_with_the_install_sh_one_liner() {
    if !is_root() || !require_tool("ip") || !require_tool("curl") {
        return;
    }
    let net = Netns::pair();
    let master = Node::new(&net.ips[0], Some(&net.names[0]));
    let r = master.install(&["--role", "master"]);
    assert!(r.ok(), "master install failed:\n{}\n{}", r.stdout, r.stderr);
    let d = master.dir.display().to_string();
    let token = master.dcos_ok(&["cluster", "join-token", "--data-dir", &d]);
    let token = token.trim();

    // The other host joins with the one-liner, binary fetched from the gateway.
    let agent = Node::new(&net.ips[1], Some(&net.names[1]));
    let bin_dir = agent.tmp().join("bin");
    let flags = agent.install_flags().join(" ");
    let line = format!(
        "curl -fsSL {}/install.sh | bash -s -- --role agent --token {token} {flags} --resources 'ports:[32500-32599]'",
        master.gateway()
    );
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &net.names[1], "bash", "-c", &line])
        .env("DCOS_BIN_DIR", &bin_dir);
    let r = run(&mut cmd);
    assert!(r.ok(), "join failed:\n{}\n{}", r.stdout, r.stderr);
    assert!(bin_dir.join("dcos").exists());

    // A task lands on the joined agent (the master host has none).
    master.setup();
    let app = serde_json::json!({"id": "/remote", "cmd": "sleep 600", "cpus": 0.1, "mem": 32, "instances": 1});
    let file = write(&master, "remote.json", &app);
    master.dcos_ok(&["marathon", "app", "add", &file, "--wait"]);
    let nodes = json(&master.dcos_ok(&["node", "list", "--json"]));
    let joined = nodes
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["pid"].as_str().unwrap_or("").contains(&net.ips[1]))
        .unwrap_or_else(|| panic!("the joined agent is not listed: {nodes}"));
    let tasks = json(&master.dcos_ok(&["task", "--json"]));
    let task = tasks
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "/remote")
        .expect("task");
    assert_eq!(task["slave_id"], joined["id"], "{tasks}");
    assert_eq!(task["state"], "TASK_RUNNING");

    // Uninstall the agent with the binary it downloaded, then the master.
    let ad = agent.dir.display().to_string();
    let r = run(agent
        .command(&bin_dir.join("dcos"))
        .args(["uninstall", "--data-dir", &ad]));
    assert!(r.ok(), "{r:?}");
    assert!(master.uninstall().ok());
    assert!(processes_naming(&agent.dir).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_additional_master_joins_the_store_and_shares_the_users() {
    if !is_root() {
        return;
    }
    let first = Node::new("127.0.0.1", None);
    let r = first.install(&["--role", "master"]);
    assert!(r.ok(), "first master:\n{}\n{}", r.stdout, r.stderr);
    let d = first.dir.display().to_string();
    let token = first.dcos_ok(&["cluster", "join-token", "--data-dir", &d]);

    let second = Node::new("127.0.0.1", None);
    let gw = first.gateway();
    let r = second.install(&["--role", "master", "--join", &gw, "--token", token.trim()]);
    assert!(r.ok(), "second master:\n{}\n{}", r.stdout, r.stderr);
    assert!(
        !second.dir.join("admin-credentials").exists(),
        "only the first master seeds the admin"
    );
    let read = |n: &Node, f: &str| std::fs::read_to_string(n.dir.join(f)).unwrap();
    assert_eq!(
        read(&first, "secrets/cluster-id"),
        read(&second, "secrets/cluster-id")
    );

    // Two voters in one store.
    let m = format!("http://127.0.0.1:{}", first.ports.master);
    let members = json(&first.dcos_ok(&["store", "--master", &m, "members", "--json"]));
    let voters = members
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["voter"] == true)
        .count();
    assert_eq!(voters, 2, "{members}");

    // The first master's admin logs in through the second's gateway.
    let gw2 = second.gateway();
    let pw = first.admin_password();
    second.dcos_ok(&[
        "cluster",
        "setup",
        &gw2,
        "--username",
        "admin",
        "--password",
        &pw,
    ]);
    let apps = json(&second.dcos_ok(&["marathon", "app", "list", "--json"]));
    assert_eq!(apps, serde_json::json!([]));

    assert!(second.uninstall().ok());
    assert!(first.uninstall().ok());
    assert!(processes_naming(&second.dir).is_empty() && processes_naming(&first.dir).is_empty());
}

/// Issue 17: `sudo dcos uninstall --data-dir D` stopped every process
/// naming D — its own `sudo` (exit 137) and an operator's `tail -f
/// D/logs/…` among them — and `--purge` failed on the containers' root
/// file systems still mounted under D. It stops what the node started,
/// unmounts what is mounted under D (a tmpfs standing in for a
/// container's overlay rootfs: no image is run here) and leaves the
/// rest alone.
#[tokio::test(flavor = "multi_thread")]
async fn uninstall_under_sudo_spares_an_operators_tail_and_unmounts_the_data_dir() {
    if !is_root() || !require_tool("sudo") {
        return;
    }
    let node = Node::new("127.0.0.1", None);
    let r = node.install(&["--resources", "ports:[32600-32699]"]);
    assert!(r.ok(), "install failed:\n{}\n{}", r.stdout, r.stderr);
    let cgroups_root = node.cgroups_root().expect("cgroups root in the config");
    let d = node.dir.display().to_string();
    let sudo_uninstall = |extra: &[&str]| {
        run(node
            .command(std::path::Path::new("sudo"))
            .arg(dcos_tests::dcos_bin())
            .args(["uninstall", "--data-dir", &d])
            .args(extra))
    };

    let mut tail = Command::new("tail")
        .arg("-f")
        .arg(node.dir.join("logs/master.log"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("tail");
    let r = sudo_uninstall(&[]);
    assert!(r.ok(), "sudo dcos uninstall: {r:?}");
    assert!(
        tail.try_wait().unwrap().is_none(),
        "the operator's tail was stopped"
    );
    // Nothing of the node is left but the tail.
    let tail_pid = format!("{}: ", tail.id());
    wait_until(
        Duration::from_secs(10),
        "the node's processes to go",
        || {
            let left: Vec<String> = processes_naming(&node.dir)
                .into_iter()
                .filter(|p| !p.starts_with(&tail_pid))
                .collect();
            async move { left.is_empty() }
        },
    )
    .await;
    assert_eq!(
        cgroups_named(&cgroups_root),
        Vec::<std::path::PathBuf>::new()
    );
    // A container's root file system left mounted (a tmpfs stands in for
    // the overlay): --purge unmounts it and deletes the dir.
    let rootfs = node.dir.join("agent/provisioner/containers/c1/rootfs");
    std::fs::create_dir_all(&rootfs).unwrap();
    let m = run(Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&rootfs));
    assert!(m.ok(), "mount: {m:?}");
    let r = sudo_uninstall(&["--purge"]);
    assert!(r.ok(), "sudo dcos uninstall --purge: {r:?}");
    assert!(!node.dir.exists(), "--purge left {d}");
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mountinfo.contains(&d), "{mountinfo}");
    assert!(
        tail.try_wait().unwrap().is_none(),
        "the operator's tail was stopped"
    );
    let _ = tail.kill();
    let _ = tail.wait();
}

/// Issue 17, with a real container: `dcos uninstall --purge` while a
/// task of an imported image runs failed with "Device or resource busy"
/// on its overlay root file system under the agent's provisioner dir.
#[tokio::test(flavor = "multi_thread")]
async fn uninstall_purge_with_a_container_running_unmounts_its_root_file_system() {
    if !is_root()
        || !dcos_tests::containers::can_run_containers(
            "uninstall_purge_with_a_container_running_unmounts_its_root_file_system",
        )
    {
        return;
    }
    let node = Node::new("127.0.0.1", None);
    let r = node.install(&["--resources", "ports:[32700-32799]"]);
    assert!(r.ok(), "install failed:\n{}\n{}", r.stdout, r.stderr);
    node.setup();
    let tarball = node.tmp().join("busybox.tar");
    std::fs::write(
        &tarball,
        dcos_tests::containers::TestImage::busybox("purge", "amd64").docker_save("purge/busybox:1"),
    )
    .unwrap();
    let agent_dir = node.dir.join("agent");
    node.dcos_ok(&[
        "image",
        "import",
        tarball.to_str().unwrap(),
        "--work-dir",
        agent_dir.to_str().unwrap(),
    ]);
    let app = serde_json::json!({
        "id": "/boxed", "cmd": "sleep 1000", "cpus": 0.1, "mem": 32, "instances": 1,
        "portDefinitions": [],
        "container": {"type": "MESOS", "docker": {"image": "purge/busybox:1"}},
    });
    let file = write(&node, "boxed.json", &app);
    node.dcos_ok(&["marathon", "app", "add", &file, "--wait"]);
    let provisioner = node.dir.join("agent/provisioner");
    let mounted_under = |dir: &std::path::Path| {
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        info.lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|p| std::path::Path::new(p).starts_with(dir))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    wait_until(
        Duration::from_secs(30),
        "the container's rootfs is mounted",
        || std::future::ready(!mounted_under(&provisioner).is_empty()),
    )
    .await;
    eprintln!("mounted before uninstall: {:?}", mounted_under(&node.dir));

    let d = node.dir.display().to_string();
    let r = node.dcos(&["uninstall", "--data-dir", &d, "--purge"]);
    assert!(r.ok(), "dcos uninstall --purge: {r:?}");
    assert!(!node.dir.exists(), "--purge left {d}");
    assert_eq!(mounted_under(&node.dir), Vec::<String>::new());
}
