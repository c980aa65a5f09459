//! As root: a busybox image built here, imported from a `docker save`
//! tarball, assembled into a bundle and run with libcontainer: the
//! process sees the image's root filesystem, is pid 1, and writes its
//! output into the sandbox's files. One test in this file, so the
//! process is otherwise idle when libcontainer clones.

use std::collections::BTreeMap;
use std::path::Path;

use dcos_containerizer::bundle::{self, BundleRequest, TaskCommand};
use dcos_containerizer::runtime::{self, Supervise};
use dcos_containerizer::{build, import, store::ImageStore};

#[test]
fn busybox_from_docker_save_runs_in_its_own_rootfs_and_pid_namespace() {
    if !nix::unistd::Uid::effective().is_root() || !Path::new("/bin/busybox").exists() {
        dcos_skip::skip("needs root and /bin/busybox (Debian busybox-static)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let marker = format!("marker-{}", std::process::id());
    let layer = build::busybox_layer(Path::new("/bin/busybox"), &marker).unwrap();
    let config = build::config_json(
        "amd64",
        &[],
        &["/bin/sh"],
        &["PATH=/bin"],
        std::slice::from_ref(&layer),
    );
    let tarball = dir.path().join("image.tar");
    std::fs::write(
        &tarball,
        build::docker_save(&["local/busybox:1"], &config, &[layer]),
    )
    .unwrap();

    let store = ImageStore::open(dir.path().join("images")).unwrap();
    let images = import::import(&store, &tarball, None).unwrap();
    assert_eq!(images[0].name, "registry-1.docker.io/local/busybox:1");
    let image = store.image("registry-1.docker.io/local/busybox:1").unwrap();

    let sandbox = dir.path().join("sandbox");
    std::fs::create_dir(&sandbox).unwrap();
    let id = format!("t{}", std::process::id());
    let cgroups_path = format!("/dcos-test/{id}");
    let req = BundleRequest {
        container_id: &id,
        layers: image.layers.iter().map(|l| store.layer_path(l)).collect(),
        config: &image.config,
        command: Some(TaskCommand {
            shell: true,
            value: Some("cat /etc/os-release; echo pid=$$; echo sandbox=$MESOS_SANDBOX; pwd; echo hi > $MESOS_SANDBOX/written".into()),
            arguments: vec![],
        }),
        env: BTreeMap::new(),
        sandbox: &sandbox,
        volumes: vec![],
        cgroups_path: cgroups_path.clone(),
        hostname: None,
        no_network: false,
    };
    let b = bundle::prepare(&dir.path().join("provisioner"), &req).unwrap();
    let s = Supervise {
        id: id.clone(),
        bundle: b.dir.clone(),
        state_root: dir.path().join("runtime"),
        stdout: sandbox.join("stdout"),
        stderr: sandbox.join("stderr"),
        cgroups_path: cgroups_path.clone(),
        grace_ms: 1000,
    };
    let started = runtime::start(&s).unwrap();
    let raw = runtime::wait_raw(started.pid);
    runtime::cleanup(&s.state_root, &id, &cgroups_path);
    let out = std::fs::read_to_string(sandbox.join("stdout")).unwrap();
    let err = std::fs::read_to_string(sandbox.join("stderr")).unwrap_or_default();
    assert_eq!(raw, 0, "stdout: {out}\nstderr: {err}");
    assert!(out.contains(&marker), "{out}");
    assert!(out.contains("pid=1\n"), "{out}");
    assert!(
        out.contains("sandbox=/mnt/mesos/sandbox\n/mnt/mesos/sandbox\n"),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(sandbox.join("written")).unwrap(),
        "hi\n"
    );
    b.destroy().unwrap();
    assert!(!b.dir.exists());
    assert!(!Path::new("/sys/fs/cgroup/devices/dcos-test")
        .join(&id)
        .exists());
    // libcontainer made the parent in every hierarchy; the kernel may
    // still hold a just-emptied cgroup for a moment.
    for h in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let parent = h.path().join("dcos-test");
        for _ in 0..50 {
            if !parent.exists() || std::fs::remove_dir(&parent).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}
