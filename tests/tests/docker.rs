//! The Docker containerizer, as root: the test starts its own `dockerd`
//! (Debian's `docker.io`; data, exec root and socket in a temp dir, no
//! bridge, no iptables), loads an image built here from Debian's static
//! busybox with the Engine API's image load (a `docker save` tarball; no
//! internet), and runs a Marathon app with `container.type: DOCKER` on an
//! agent started with `--containerizers=docker,mesos --docker-socket`:
//!
//! * the container `mesos-<container id>` exists in that engine, with the
//!   task's memory limit, host network and the sandbox bind-mounted;
//! * the task's output reaches the sandbox's `stdout`; it sees the
//!   image's marker file and `MESOS_SANDBOX=/mnt/mesos/sandbox`;
//! * the container survives a kill -9 and restart of the agent (its
//!   executor owns it), then a kill stops it (TASK_KILLED) and it is
//!   removed from the engine;
//! * an image the engine cannot pull fails the task with
//!   REASON_CONTAINER_LAUNCH_FAILED and the engine's reason;
//! * a container whose executor was killed -9 is removed by the agent;
//! * an over-limit container is OOM-killed: TASK_FAILED with
//!   REASON_CONTAINER_LIMITATION_MEMORY;
//! * the same app on an agent whose Docker socket answers nothing runs on
//!   the native containerizer.
//!
//! dockerd is stopped, and everything it left is killed and unmounted,
//! when the test ends, passing or not.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bollard::query_parameters::{ImportImageOptions, ListContainersOptions};
use bollard::Docker;
use dcos_tests::containers::{
    can_run_containers, first_failure, master_tasks, sandbox_of, wait_for, ContainerReaper,
    TestImage,
};
use dcos_tests::marathon::Marathon;
use dcos_tests::{free_port, wait_until, Agent, Master};
use futures::StreamExt;
use serde_json::{json, Value};

const DOCKERD: &str = "/usr/sbin/dockerd";

/// A `dockerd` of this test's own; stopped and cleaned up on drop.
struct Dockerd {
    dir: PathBuf,
    child: Option<Child>,
}

impl Dockerd {
    fn socket(&self) -> PathBuf {
        self.dir.join("docker.sock")
    }

    async fn start(dir: &Path) -> (Dockerd, Docker) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("daemon.json"), "{}").unwrap();
        let log = std::fs::File::create(dir.join("dockerd.log")).unwrap();
        let child = Command::new(DOCKERD)
            .arg("--config-file")
            .arg(dir.join("daemon.json"))
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("docker.pid"))
            .arg("--host")
            .arg(format!("unix://{}", dir.join("docker.sock").display()))
            .args([
                "--bridge=none",
                "--iptables=false",
                "--ip-masq=false",
                "--ip6tables=false",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn dockerd");
        let d = Dockerd {
            dir: dir.to_owned(),
            child: Some(child),
        };
        let sock = d.socket();
        let mut client = None;
        for _ in 0..600 {
            if sock.exists() {
                if let Ok(c) = Docker::connect_with_unix(
                    sock.to_str().unwrap(),
                    60,
                    &bollard::ClientVersion {
                        major_version: 1,
                        minor_version: 41,
                    },
                ) {
                    if c.ping().await.is_ok() {
                        client = Some(c);
                        break;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let Some(client) = client else {
            let log = std::fs::read_to_string(dir.join("dockerd.log")).unwrap_or_default();
            panic!("dockerd did not answer /_ping within 60 s:\n{log}");
        };
        (d, client)
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            let start = std::time::Instant::now();
            while start.elapsed() < Duration::from_secs(20) {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        // Shims and containers it may have left: every process whose
        // command line names our directory, then mounts under it.
        let needle = self.dir.display().to_string();
        if let Ok(entries) = std::fs::read_dir("/proc") {
            for e in entries.flatten() {
                let pid = e.file_name().to_string_lossy().into_owned();
                if pid.parse::<u32>().is_err() || pid == std::process::id().to_string() {
                    continue;
                }
                let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
                if String::from_utf8_lossy(&cmdline).contains(&needle) {
                    let _ = Command::new("kill").args(["-9", &pid]).status();
                }
            }
        }
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        let mut points: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .filter(|p| p.starts_with(&needle))
            .collect();
        points.reverse();
        for p in points {
            let _ = Command::new("umount").arg("-l").arg(p).status();
        }
    }
}

fn unique(what: &str) -> String {
    format!("{what}-{}-{}", std::process::id(), free_port())
}

async fn cluster(root: &Path, extra: &[&str]) -> (Master, Agent, Marathon) {
    let master = Master::start(&root.join("master"), None, &[]);
    let mut flags = vec![
        "--resources",
        "cpus:4;mem:4096;disk:1000;ports:[33100-33199]",
    ];
    flags.extend_from_slice(extra);
    let agent = Agent::start(&root.join("agent"), &master.url(), &flags);
    let marathon = Marathon::start(&master.url(), &[]);
    wait_until(Duration::from_secs(30), "Marathon is elected", || {
        marathon.is_leader()
    })
    .await;
    (master, agent, marathon)
}

fn app(id: &str, image: &str) -> Value {
    json!({
        "id": id, "cpus": 0.2, "mem": 48, "instances": 1, "portDefinitions": [],
        "taskKillGracePeriodSeconds": 1,
        "cmd": "cat /etc/os-release; echo sandbox=$MESOS_SANDBOX; echo pid=$$; \
                ls /mnt/mesos/sandbox/stdout && echo sees-sandbox; exec sleep 1000",
        "container": {"type": "DOCKER", "docker": {"image": image}},
    })
}

async fn add_app(marathon: &Marathon, app: Value) {
    let (status, body) = marathon.send("POST", "/v2/apps", &app.to_string()).await;
    assert_eq!(status, 201, "{body}");
}

async fn first_task(marathon: &Marathon, app: &str) -> String {
    wait_for(Duration::from_secs(60), "the app has a task", || async {
        marathon.app(app).await["tasks"][0]["id"]
            .as_str()
            .map(str::to_owned)
    })
    .await
}

async fn wait_stdout(agent_dir: &Path, task: &str, needles: &[&str]) -> String {
    let start = std::time::Instant::now();
    loop {
        let sandbox = sandbox_of(agent_dir, task);
        let read = |f: &str| {
            sandbox
                .as_ref()
                .and_then(|s| std::fs::read_to_string(s.join(f)).ok())
                .unwrap_or_default()
        };
        let out = read("stdout");
        if needles.iter().all(|n| out.contains(n)) {
            return out;
        }
        if start.elapsed() > Duration::from_secs(90) {
            panic!(
                "stdout of {task} never had {needles:?}:\n{out}\nstderr:\n{}",
                read("stderr")
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn task_state(master: &Master, task: &str) -> Option<String> {
    master_tasks(&master.url())
        .await
        .into_iter()
        .find(|t| t["task_id"]["value"] == task)
        .and_then(|t| t["state"].as_str().map(str::to_owned))
}

/// The engine's containers (all states) named `mesos-*`.
async fn mesos_containers(docker: &Docker) -> Vec<bollard::models::ContainerSummary> {
    docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_iter()
        .filter(|c| {
            c.names
                .iter()
                .flatten()
                .any(|n| n.trim_start_matches('/').starts_with("mesos-"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_apps_run_on_the_engine_and_natively_without_one() {
    if !can_run_containers("docker_apps_run_on_the_engine_and_natively_without_one") {
        return;
    }
    if !Path::new(DOCKERD).exists() {
        dcos_skip::skip(&format!("{DOCKERD} missing (apt-get install docker.io)"));
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let marker = unique("docker");
    let image = "dcos-test/busybox:1";
    let tarball = TestImage::busybox(&marker, "amd64").docker_save(image);

    // On the engine.
    {
        let (_dockerd, docker) = Dockerd::start(&tmp.path().join("d")).await;
        let mut load = docker.import_image(
            ImportImageOptions::default(),
            bollard::body_full(tarball.clone().into()),
            None,
        );
        while let Some(r) = load.next().await {
            r.expect("docker load");
        }
        docker
            .inspect_image(image)
            .await
            .expect("the image is loaded");

        let root = tmp.path().join("on-docker");
        let agent_dir = root.join("agent");
        let _reaper = ContainerReaper(agent_dir.clone());
        let sock = tmp.path().join("d/docker.sock").display().to_string();
        let (master, mut agent, marathon) = cluster(
            &root,
            &["--containerizers=docker,mesos", "--docker-socket", &sock],
        )
        .await;
        add_app(&marathon, app("/on-docker", image)).await;
        let task = first_task(&marathon, "/on-docker").await;
        let out = wait_stdout(
            &agent_dir,
            &task,
            &[
                &format!("MARKER={marker}"),
                "sandbox=/mnt/mesos/sandbox",
                "sees-sandbox",
            ],
        )
        .await;
        assert!(out.contains("pid=1\n"), "{out}");

        // The container is in our engine, with the task's limits.
        let containers = mesos_containers(&docker).await;
        assert_eq!(containers.len(), 1, "{containers:?}");
        let c = &containers[0];
        let name = c.names.as_ref().unwrap()[0]
            .trim_start_matches('/')
            .to_owned();
        let sandbox = sandbox_of(&agent_dir, &task)
            .unwrap()
            .canonicalize()
            .unwrap();
        let container_id = sandbox.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(name, format!("mesos-{container_id}"));
        let info = docker.inspect_container(&name, None).await.unwrap();
        assert_eq!(info.state.as_ref().unwrap().running, Some(true));
        let host = info.host_config.unwrap();
        assert_eq!(host.memory, Some(48 << 20));
        assert_eq!(host.network_mode.as_deref(), Some("host"));
        assert_eq!(
            host.binds,
            Some(vec![format!("{}:/mnt/mesos/sandbox", sandbox.display())])
        );

        // The container survives an agent restart and is still managed.
        agent.restart();
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(
            task_state(&master, &task).await.as_deref(),
            Some("TASK_RUNNING")
        );
        assert_eq!(mesos_containers(&docker).await.len(), 1);

        // A kill stops it; it is removed.
        let (status, body) = marathon.send("DELETE", "/v2/apps/on-docker", "").await;
        assert!(status < 300, "{status} {body}");
        wait_for(Duration::from_secs(60), "TASK_KILLED", || async {
            (task_state(&master, &task).await.as_deref() == Some("TASK_KILLED")).then_some(())
        })
        .await;
        wait_for(
            Duration::from_secs(30),
            "the container is removed",
            || async { mesos_containers(&docker).await.is_empty().then_some(()) },
        )
        .await;

        // Over its memory limit: OOM-killed by the engine, reported.
        add_app(
            &marathon,
            json!({
                "id": "/hog", "cpus": 0.1, "mem": 32, "instances": 1, "portDefinitions": [],
                "cmd": "echo started; dd if=/dev/zero of=/dev/null bs=256M count=1; sleep 1000",
                "container": {"type": "DOCKER", "docker": {"image": image}},
            }),
        )
        .await;
        let url = master.url();
        let mut failure = None;
        for _ in 0..600 {
            failure = first_failure(&url, "/hog").await;
            if failure.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let Some(failure) = failure else {
            let hog = master_tasks(&url)
                .await
                .into_iter()
                .filter(|t| t["name"] == "hog" || t["name"] == "/hog")
                .collect::<Vec<_>>();
            let out = hog
                .first()
                .and_then(|t| t["task_id"]["value"].as_str())
                .and_then(|t| sandbox_of(&agent_dir, t))
                .map(|s| {
                    format!(
                        "{}\n{}",
                        std::fs::read_to_string(s.join("stdout")).unwrap_or_default(),
                        std::fs::read_to_string(s.join("stderr")).unwrap_or_default()
                    )
                })
                .unwrap_or_default();
            panic!(
                "the hog never failed: {hog:?}\n{out}\n{:?}",
                mesos_containers(&docker).await
            );
        };
        assert_eq!(
            failure["reason"], "REASON_CONTAINER_LIMITATION_MEMORY",
            "{failure}"
        );
        assert!(
            failure["message"]
                .as_str()
                .unwrap_or_default()
                .contains("Memory limit exceeded"),
            "{failure}"
        );
        let (status, body) = marathon.send("DELETE", "/v2/apps/hog?force=true", "").await;
        assert!(status < 300, "{status} {body}");

        // Its executor killed -9: the task fails and the agent removes the
        // container the executor could not.
        add_app(&marathon, app("/orphan", image)).await;
        let task = first_task(&marathon, "/orphan").await;
        wait_stdout(&agent_dir, &task, &["sees-sandbox"]).await;
        let pid = wait_for(Duration::from_secs(30), "the executor pid", || async {
            master_tasks(&url)
                .await
                .into_iter()
                .find(|t| t["task_id"]["value"] == task.as_str())
                .and_then(|t| {
                    t["statuses"]
                        .as_array()?
                        .iter()
                        .find_map(|s| s["container_status"]["executor_pid"].as_u64())
                })
        })
        .await;
        let with_task = |cs: Vec<bollard::models::ContainerSummary>| {
            cs.into_iter()
                .filter(|c| c.labels.as_ref().and_then(|l| l.get("io.dcos.task_id")) == Some(&task))
                .count()
        };
        assert_eq!(with_task(mesos_containers(&docker).await), 1);
        Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap();
        wait_for(Duration::from_secs(60), "the orphan fails", || async {
            (task_state(&master, &task).await.as_deref() == Some("TASK_FAILED")).then_some(())
        })
        .await;
        wait_for(
            Duration::from_secs(30),
            "the orphan's container is removed",
            || async { (with_task(mesos_containers(&docker).await) == 0).then_some(()) },
        )
        .await;
        let (status, body) = marathon
            .send("DELETE", "/v2/apps/orphan?force=true", "")
            .await;
        assert!(status < 300, "{status} {body}");

        // An image the engine cannot pull: TASK_FAILED, launch failed, why.
        let missing = format!("127.0.0.1:{}/nope/missing:1", free_port());
        add_app(&marathon, app("/missing", &missing)).await;
        let failure = wait_for(Duration::from_secs(60), "the pull fails", || {
            first_failure(&url, "/missing")
        })
        .await;
        assert_eq!(
            failure["reason"], "REASON_CONTAINER_LAUNCH_FAILED",
            "{failure}"
        );
        let message = failure["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&format!("Failed to pull the docker image '{missing}'")),
            "{failure}"
        );
        let (status, body) = marathon
            .send("DELETE", "/v2/apps/missing?force=true", "")
            .await;
        assert!(status < 300, "{status} {body}");
    }

    // No engine answers: the same app runs natively (image imported into
    // the agent's own store from the same tarball).
    let root = tmp.path().join("native");
    let agent_dir = root.join("agent");
    let _reaper = ContainerReaper(agent_dir.clone());
    dcos_tests::containers::import_image(tmp.path(), &agent_dir, &tarball);
    let nowhere = tmp.path().join("no-docker.sock").display().to_string();
    let (_master, _agent, marathon) = cluster(
        &root,
        &["--containerizers=docker,mesos", "--docker-socket", &nowhere],
    )
    .await;
    add_app(&marathon, app("/native", image)).await;
    let task = first_task(&marathon, "/native").await;
    wait_stdout(
        &agent_dir,
        &task,
        &[&format!("MARKER={marker}"), "pid=1\n", "sees-sandbox"],
    )
    .await;
}
