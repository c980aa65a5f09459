//! Containers with real processes, as root: a master, an agent, Marathon,
//! Debian's `docker-registry` on loopback, and images built here from
//! Debian's static busybox (no internet).
//!
//! * a Marathon app from a registry image runs in its own container: the
//!   image's root filesystem (a marker in `/etc/os-release`), pid 1 in its
//!   own pid namespace, the sandbox at `/mnt/mesos/sandbox`; its overlay
//!   rootfs and cgroups are gone after the app is deleted; a nested exec
//!   (`dcos_cli::task_exec::exec`) runs inside it;
//! * an over-limit process is OOM-killed: TASK_FAILED with
//!   REASON_CONTAINER_LIMITATION_MEMORY;
//! * an image imported with `dcos image import` from a `docker save`
//!   tarball runs with no registry (its name points at Docker Hub, which
//!   this machine cannot reach); `container.type: DOCKER` runs natively;
//!   Metronome jobs with `docker.image` and `ucr.image` run in it too;
//! * three instances pull one image at once (one verified layer stored),
//!   and survive a kill -9 and restart of the agent, which then still
//!   kills and cleans them up;
//! * bad input: a missing image, a registry that is down, a corrupted
//!   layer, a manifest list without linux/amd64 → TASK_FAILED with
//!   REASON_CONTAINER_LAUNCH_FAILED and a message saying exactly that;
//!   the corrupted layer never appears in the store.

use std::path::Path;
use std::time::Duration;

use dcos_tests::chronos::Chronos;
use dcos_tests::containers::{
    can_run_containers, first_failure, import_image, master_tasks, sandbox_of, wait_for,
    ContainerReaper, Registry, TestImage,
};
use dcos_tests::marathon::Marathon;
use dcos_tests::{free_port, wait_until, Agent, Master};
use serde_json::{json, Value};

async fn cluster(root: &Path) -> (Master, Agent, Marathon) {
    let master = Master::start(&root.join("master"), None, &[]);
    let agent = Agent::start(
        &root.join("agent"),
        &master.url(),
        &[
            "--resources",
            "cpus:4;mem:4096;disk:1000;ports:[33000-33099]",
        ],
    );
    let marathon = Marathon::start(&master.url(), &[]);
    wait_until(Duration::from_secs(30), "Marathon is elected", || {
        marathon.is_leader()
    })
    .await;
    (master, agent, marathon)
}

fn unique(what: &str) -> String {
    format!("{what}-{}-{}", std::process::id(), free_port())
}

async fn add_app(marathon: &Marathon, app: Value) {
    let (status, body) = marathon.send("POST", "/v2/apps", &app.to_string()).await;
    assert_eq!(status, 201, "{body}");
}

/// The id of the app's first task, once it has one.
async fn first_task(marathon: &Marathon, app: &str) -> String {
    wait_for(Duration::from_secs(60), "the app has a task", || async {
        marathon.app(app).await["tasks"][0]["id"]
            .as_str()
            .map(str::to_owned)
    })
    .await
}

/// Waits until the task's sandbox `stdout` contains every one of `needles`.
async fn wait_stdout(agent_dir: &Path, task: &str, needles: &[&str]) -> String {
    let mut out = String::new();
    let done = wait_until_ok(Duration::from_secs(60), || {
        out = sandbox_of(agent_dir, task)
            .and_then(|s| std::fs::read_to_string(s.join("stdout")).ok())
            .unwrap_or_default();
        needles.iter().all(|n| out.contains(n))
    })
    .await;
    let stderr = sandbox_of(agent_dir, task)
        .and_then(|s| std::fs::read_to_string(s.join("stderr")).ok())
        .unwrap_or_default();
    assert!(
        done,
        "stdout of {task} never had {needles:?}:\n{out}\nstderr:\n{stderr}"
    );
    out
}

async fn wait_until_ok(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < timeout {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cond()
}

fn overlay_mounts_under(dir: &Path) -> Vec<String> {
    let needle = dir.display().to_string();
    std::fs::read_to_string("/proc/self/mounts")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("overlay ") && l.contains(&needle))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marathon_app_from_a_registry_image_runs_in_its_own_container() {
    if !can_run_containers("marathon_app_from_a_registry_image_runs_in_its_own_container") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let _reaper = ContainerReaper(tmp.path().join("agent"));
    let registry = Registry::start(&tmp.path().join("registry")).await;
    let marker = unique("marker");
    registry
        .push("test/busybox", "1", &TestImage::busybox(&marker, "amd64"))
        .await;
    let (master, _agent, marathon) = cluster(tmp.path()).await;
    let agent_dir = tmp.path().join("agent");
    let image = format!("{}/test/busybox:1", registry.host());
    add_app(
        &marathon,
        json!({
            "id": "/ctr", "cpus": 0.1, "mem": 32, "instances": 1, "portDefinitions": [],
            "cmd": "cat /etc/os-release; echo pid=$$; echo sandbox=$MESOS_SANDBOX; echo image_var=$IMAGE_VAR; ls /mnt/mesos/sandbox; ps; sleep 1000",
            "container": {"type": "MESOS", "docker": {"image": image}},
        }),
    )
    .await;
    let task = first_task(&marathon, "/ctr").await;
    let out = wait_stdout(
        &agent_dir,
        &task,
        &[
            &format!("MARKER={marker}"),
            "pid=1\n",
            "sandbox=/mnt/mesos/sandbox\n",
            "image_var=from-image\n",
            "stderr\n",
        ],
    )
    .await;
    // The host's /etc/os-release is not what the task saw.
    assert!(!std::fs::read_to_string("/etc/os-release")
        .unwrap()
        .contains(&marker));
    // Its own pid namespace: `ps` lists only the container's processes.
    let ps_lines = out
        .lines()
        .skip_while(|l| !l.starts_with("PID"))
        .skip(1)
        .count();
    assert!(
        ps_lines <= 3,
        "ps inside the container saw {ps_lines} processes:\n{out}"
    );
    wait_until(Duration::from_secs(30), "the task is running", || async {
        marathon.settled("/ctr", 1).await
    })
    .await;
    // Nested exec: a command run inside the running container sees its
    // root filesystem and pid namespace (sh is pid 1, the sleep is there).
    let out = dcos_cli::task_exec::exec(
        &master.url(),
        &task,
        &[
            "/bin/sh".into(),
            "-c".into(),
            "cat /etc/os-release; ps -o pid,args; exit 3".into(),
        ],
    )
    .await
    .unwrap();
    assert_eq!(out.exit_code, 3, "{out:?}");
    assert!(out.stdout.contains(&format!("MARKER={marker}")), "{out:?}");
    assert!(out.stdout.contains("sleep 1000"), "{out:?}");
    let missing = dcos_cli::task_exec::exec(&master.url(), "no-such-task", &["true".into()]).await;
    assert!(missing
        .unwrap_err()
        .to_string()
        .contains("task no-such-task is not running"));
    // The rootfs is an overlay of the stored layer.
    let provisioner = agent_dir.join("provisioner/containers");
    assert_eq!(
        overlay_mounts_under(&provisioner).len(),
        1,
        "one overlay rootfs"
    );

    // Deleting the app kills the container and removes its rootfs.
    let (status, _) = marathon.send("DELETE", "/v2/apps/ctr", "").await;
    assert_eq!(status, 200);
    wait_until(
        Duration::from_secs(30),
        "the container is cleaned up",
        || {
            let p = provisioner.clone();
            async move {
                overlay_mounts_under(&p).is_empty()
                    && std::fs::read_dir(&p)
                        .map(|d| d.count() == 0)
                        .unwrap_or(true)
            }
        },
    )
    .await;
    let url = master.url();
    let state = wait_for(Duration::from_secs(30), "the task is terminal", || async {
        dcos_tests::containers::master_tasks(&url)
            .await
            .into_iter()
            .find(|t| t["name"] == "/ctr" && t["state"] != "TASK_RUNNING")
            .map(|t| t["state"].clone())
    })
    .await;
    assert_eq!(state, "TASK_KILLED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_over_limit_container_is_oom_killed_and_reported() {
    if !can_run_containers("an_over_limit_container_is_oom_killed_and_reported") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let _reaper = ContainerReaper(tmp.path().join("agent"));
    let registry = Registry::start(&tmp.path().join("registry")).await;
    registry
        .push(
            "test/busybox",
            "1",
            &TestImage::busybox(&unique("m"), "amd64"),
        )
        .await;
    let (master, _agent, marathon) = cluster(tmp.path()).await;
    let url = master.url();
    // mem 32 (+ the executor's 32 MB): a 256 MB buffer cannot fit.
    add_app(
        &marathon,
        json!({
            "id": "/hog", "cpus": 0.1, "mem": 32, "instances": 1, "portDefinitions": [],
            "cmd": "echo started; dd if=/dev/zero of=/dev/null bs=256M count=1; sleep 1000",
            "container": {"type": "MESOS", "docker": {"image": format!("{}/test/busybox:1", registry.host())}},
        }),
    )
    .await;
    let failure = wait_for(Duration::from_secs(60), "the task fails", || {
        first_failure(&url, "/hog")
    })
    .await;
    assert_eq!(
        failure["reason"], "REASON_CONTAINER_LIMITATION_MEMORY",
        "{failure}"
    );
    assert_eq!(failure["source"], "SOURCE_AGENT", "{failure}");
    assert!(
        failure["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Memory limit exceeded"),
        "{failure}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_imported_from_docker_save_runs_without_a_registry() {
    if !can_run_containers("an_image_imported_from_docker_save_runs_without_a_registry") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let _reaper = ContainerReaper(tmp.path().join("agent"));
    let marker = unique("imported");
    let agent_dir = tmp.path().join("agent");
    let out = import_image(
        tmp.path(),
        &agent_dir,
        &TestImage::busybox(&marker, "amd64").docker_save("airgap/busybox:7"),
    );
    assert!(
        out.contains("imported registry-1.docker.io/airgap/busybox:7"),
        "{out}"
    );
    let (_master, _agent, marathon) = cluster(tmp.path()).await;
    // MESOS with the image, and DOCKER (no Docker engine here: native).
    for (id, kind) in [("/airgap-mesos", "MESOS"), ("/airgap-docker", "DOCKER")] {
        add_app(
            &marathon,
            json!({
                "id": id, "cpus": 0.1, "mem": 32, "instances": 1, "portDefinitions": [],
                "cmd": "cat /etc/os-release; echo pid=$$; sleep 1000",
                "container": {"type": kind, "docker": {"image": "airgap/busybox:7"}},
            }),
        )
        .await;
        let task = first_task(&marathon, id).await;
        wait_stdout(&agent_dir, &task, &[&format!("MARKER={marker}"), "pid=1\n"]).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_images_fail_their_tasks_with_precise_messages() {
    if !can_run_containers("bad_images_fail_their_tasks_with_precise_messages") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let _reaper = ContainerReaper(tmp.path().join("agent"));
    let registry = Registry::start(&tmp.path().join("registry")).await;
    let host = registry.host();
    // A corrupted layer: pushed intact, then changed on the registry's disk.
    let corrupt = TestImage::busybox(&unique("corrupt"), "amd64");
    registry.push("test/corrupt", "1", &corrupt).await;
    let file = registry.blob_file(&corrupt.layer_digest());
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&file, bytes).unwrap();
    // Only an arm64 variant.
    registry
        .push_index_of(
            "test/arm",
            "1",
            &TestImage::busybox(&unique("arm"), "arm64"),
            "arm64",
        )
        .await;
    let down = format!("127.0.0.1:{}", free_port());

    let (master, _agent, marathon) = cluster(tmp.path()).await;
    let url = master.url();
    let cases = [
        ("/missing", format!("{host}/test/missing:1"), format!("image '{host}/test/missing:1' was not found in registry {host}")),
        ("/down", format!("{down}/test/busybox:1"), format!("registry {down} is unreachable")),
        ("/corrupt", format!("{host}/test/corrupt:1"), format!("digest mismatch for layer {}", corrupt.layer_digest())),
        ("/arm", format!("{host}/test/arm:1"), format!("image '{host}/test/arm:1' has no linux/amd64 variant (it is built for linux/arm64)")),
    ];
    for (id, image, _) in &cases {
        add_app(
            &marathon,
            json!({
                "id": id, "cpus": 0.1, "mem": 32, "instances": 1, "portDefinitions": [],
                "cmd": "echo should-not-run; sleep 1000",
                "container": {"type": "MESOS", "docker": {"image": image}},
            }),
        )
        .await;
    }
    for (id, _, expected) in &cases {
        let failure = wait_for(Duration::from_secs(60), &format!("{id} fails"), || {
            first_failure(&url, id)
        })
        .await;
        assert_eq!(
            failure["reason"], "REASON_CONTAINER_LAUNCH_FAILED",
            "{id}: {failure}"
        );
        let message = failure["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(expected.as_str()),
            "{id}: expected '{expected}' in '{message}'"
        );
    }
    // The corrupted layer never reached the store; nothing half-written is left.
    let store = tmp.path().join("agent/images");
    assert!(!store
        .join("layers/sha256")
        .join(corrupt.layer_digest().hex())
        .exists());
    let leftovers: Vec<_> = std::fs::read_dir(store.join("tmp"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(leftovers.is_empty(), "staging not cleaned: {leftovers:?}");
    // And no task ever ran its command.
    let agent_dir = tmp.path().join("agent");
    for t in dcos_tests::containers::master_tasks(&master.url()).await {
        if let Some(s) = t["id"].as_str().and_then(|id| sandbox_of(&agent_dir, id)) {
            let out = std::fs::read_to_string(s.join("stdout")).unwrap_or_default();
            assert!(!out.contains("should-not-run"), "{out}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_survive_an_agent_restart_and_share_one_pull() {
    if !can_run_containers("containers_survive_an_agent_restart_and_share_one_pull") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let _reaper = ContainerReaper(tmp.path().join("agent"));
    let registry = Registry::start(&tmp.path().join("registry")).await;
    let image = TestImage::busybox(&unique("restart"), "amd64");
    registry.push("test/busybox", "1", &image).await;
    let (master, mut agent, marathon) = cluster(tmp.path()).await;
    let agent_dir = tmp.path().join("agent");
    // Three instances on one agent pull the same image at the same time.
    add_app(
        &marathon,
        json!({
            "id": "/survivor", "cpus": 0.1, "mem": 32, "instances": 3, "portDefinitions": [],
            "cmd": "echo started-once; sleep 1000",
            "container": {"type": "MESOS", "docker": {"image": format!("{}/test/busybox:1", registry.host())}},
        }),
    )
    .await;
    wait_until(Duration::from_secs(60), "three containers run", || {
        marathon.settled("/survivor", 3)
    })
    .await;
    let tasks: Vec<String> = marathon.app("/survivor").await["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    for t in &tasks {
        wait_stdout(&agent_dir, t, &["started-once\n"]).await;
    }
    // One verified layer in the store, nothing left in staging.
    let layers: Vec<_> = std::fs::read_dir(agent_dir.join("images/layers/sha256"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(layers, vec![image.layer_digest().hex().to_owned()]);
    assert_eq!(
        std::fs::read_dir(agent_dir.join("images/tmp"))
            .unwrap()
            .count(),
        0
    );

    agent.kill9();
    agent.restart();
    // The same containers keep running: nothing restarted, no new task.
    // (A window for a wrong restart to show: its output would say
    // "started-once" twice; executors re-subscribe within 2 s.)
    tokio::time::sleep(Duration::from_secs(3)).await;
    wait_until(Duration::from_secs(30), "the app is still settled", || {
        marathon.settled("/survivor", 3)
    })
    .await;
    let after: Vec<String> = marathon.app("/survivor").await["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(after.len(), 3);
    for t in &tasks {
        assert!(after.contains(t), "task {t} was replaced");
        let out =
            std::fs::read_to_string(sandbox_of(&agent_dir, t).unwrap().join("stdout")).unwrap();
        assert_eq!(
            out.matches("started-once").count(),
            1,
            "{t} restarted: {out}"
        );
    }
    // The re-attached agent still kills and cleans them up.
    let (status, _) = marathon.send("DELETE", "/v2/apps/survivor", "").await;
    assert_eq!(status, 200);
    let provisioner = agent_dir.join("provisioner/containers");
    wait_until(
        Duration::from_secs(30),
        "the containers are cleaned up",
        || {
            let p = provisioner.clone();
            async move {
                overlay_mounts_under(&p).is_empty()
                    && std::fs::read_dir(&p)
                        .map(|d| d.count() == 0)
                        .unwrap_or(true)
            }
        },
    )
    .await;
    let _ = master;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metronome_jobs_with_docker_and_ucr_images_run_in_containers() {
    if !can_run_containers("metronome_jobs_with_docker_and_ucr_images_run_in_containers") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let _reaper = ContainerReaper(tmp.path().join("agent"));
    let marker = unique("job");
    let agent_dir = tmp.path().join("agent");
    import_image(
        tmp.path(),
        &agent_dir,
        &TestImage::busybox(&marker, "amd64").docker_save("jobs/busybox:1"),
    );
    let (master, _agent, _marathon) = cluster(tmp.path()).await;
    let chronos = Chronos::start(&master.url(), &[]);
    chronos.wait_leader(Duration::from_secs(30)).await;
    let cmd = "cat /etc/os-release; echo pid=$$";
    for (id, container) in [
        ("docker-job", json!({"docker": {"image": "jobs/busybox:1"}})),
        (
            "ucr-job",
            json!({"ucr": {"image": {"id": "jobs/busybox:1", "kind": "docker"}}}),
        ),
    ] {
        let mut run = json!({"cmd": cmd, "cpus": 0.1, "mem": 32, "disk": 0});
        run.as_object_mut()
            .unwrap()
            .extend(container.as_object().unwrap().clone());
        let (status, body) = chronos
            .send("POST", "/v1/jobs", Some(&json!({"id": id, "run": run})))
            .await;
        assert_eq!(status, 201, "{body}");
        let (status, body) = chronos
            .send("POST", &format!("/v1/jobs/{id}/runs"), Some(&json!({})))
            .await;
        assert_eq!(status, 201, "{body}");
        let task = wait_for(Duration::from_secs(60), "the job's task", || async {
            master_tasks(&master.url())
                .await
                .into_iter()
                .find(|t| t["name"] == id)
                .and_then(|t| t["task_id"]["value"].as_str().map(str::to_owned))
        })
        .await;
        wait_stdout(&agent_dir, &task, &[&format!("MARKER={marker}"), "pid=1\n"]).await;
    }
}
