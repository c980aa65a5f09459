//! Container start-to-exit latency of `/bin/true`, side by side in one
//! run: our containerizer's runtime API (libcontainer in this process,
//! which is single-threaded like the agent's container supervisor, then
//! waitpid and cleanup) against `crun run` and `runc run` of the same
//! bundle. No scheduling: the bundle (busybox image, overlay rootfs) is
//! made once.
//!
//! `cargo run --release -p dcos-containerizer --example container_latency -- [runs]`
//! (as root). Prints one JSON line. Debian's `crun` refuses this host's
//! hybrid cgroup layout, so it runs inside `unshare -m` with the unified
//! hierarchy unmounted (the way the probe ran it); its figure
//! includes that `unshare`+`sh`, so `crun-bare` (crun's own time, from
//! inside the same shell) is reported too.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use dcos_containerizer::bundle::{self, BundleRequest, TaskCommand};
use dcos_containerizer::runtime::{self, Supervise};
use dcos_containerizer::{build, import, store::ImageStore};

fn stats(mut v: Vec<Duration>) -> serde_json::Value {
    v.sort();
    let ms = |d: Duration| (d.as_secs_f64() * 1e5).round() / 100.0;
    let p = |q: f64| ms(v[((v.len() as f64 - 1.0) * q).round() as usize]);
    serde_json::json!({"runs": v.len(), "p50_ms": p(0.5), "p90_ms": p(0.9), "min_ms": ms(v[0])})
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let dir = tempfile::tempdir()?;
    let layer = build::busybox_layer(Path::new("/bin/busybox"), "bench")?;
    let config = build::config_json(
        "amd64",
        &[],
        &["/bin/true"],
        &["PATH=/bin"],
        std::slice::from_ref(&layer),
    );
    let tarball = dir.path().join("image.tar");
    std::fs::write(
        &tarball,
        build::docker_save(&["bench/busybox:1"], &config, &[layer]),
    )?;
    let store = ImageStore::open(dir.path().join("images"))?;
    let image = import::import(&store, &tarball, None)?.remove(0);
    let sandbox = dir.path().join("sandbox");
    std::fs::create_dir(&sandbox)?;
    let cgroups_path = "/dcos-bench/true".to_owned();
    let req = BundleRequest {
        container_id: "bench",
        layers: image.layers.iter().map(|l| store.layer_path(l)).collect(),
        config: &image.config,
        command: Some(TaskCommand {
            shell: false,
            value: Some("/bin/true".into()),
            arguments: vec![],
        }),
        env: BTreeMap::new(),
        sandbox: &sandbox,
        volumes: vec![],
        cgroups_path: cgroups_path.clone(),
        hostname: None,
        no_network: false,
    };
    let b = bundle::prepare(&dir.path().join("provisioner"), &req)?;
    // runc wants an absolute, non-symlinked rootfs path.
    let spec_path = b.dir.join("config.json");
    let mut spec: serde_json::Value = serde_json::from_slice(&std::fs::read(&spec_path)?)?;
    spec["root"]["path"] = serde_json::json!(b.rootfs_dir().canonicalize()?);
    std::fs::write(&spec_path, serde_json::to_vec(&spec)?)?;
    let state_root = dir.path().join("runtime");

    let mut ours = Vec::new();
    let mut crun = Vec::new();
    let mut crun_bare = Vec::new();
    let mut runc = Vec::new();
    let have = |tool: &str| {
        Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let (has_crun, has_runc) = (have("crun"), have("runc"));
    for i in 0..runs {
        // Interleaved, so drift on the machine hits every runtime alike.
        let s = Supervise {
            id: format!("bench-{i}"),
            bundle: b.dir.clone(),
            state_root: state_root.clone(),
            stdout: sandbox.join("stdout"),
            stderr: sandbox.join("stderr"),
            cgroups_path: cgroups_path.clone(),
            grace_ms: 1000,
        };
        let t = Instant::now();
        let started = runtime::start(&s)?;
        let raw = runtime::wait_raw(started.pid);
        runtime::cleanup(&s.state_root, &s.id, &s.cgroups_path);
        ours.push(t.elapsed());
        assert_eq!(raw, 0, "our container exited with {raw}");

        if has_crun {
            let script = format!(
                "umount /sys/fs/cgroup/unified 2>/dev/null; s=$(date +%s%N); crun run --bundle {} crun-{i} >/dev/null; e=$(date +%s%N); echo $((e-s))",
                b.dir.display()
            );
            let t = Instant::now();
            let out = Command::new("unshare")
                .args(["-m", "--propagation", "private", "sh", "-c", &script])
                .output()?;
            crun.push(t.elapsed());
            assert!(
                out.status.success(),
                "crun: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let ns: u64 = String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .unwrap_or(0);
            crun_bare.push(Duration::from_nanos(ns));
        }
        if has_runc {
            let t = Instant::now();
            let out = Command::new("runc")
                .args(["run", "--bundle"])
                .arg(&b.dir)
                .arg(format!("runc-{i}"))
                .output()?;
            runc.push(t.elapsed());
            assert!(
                out.status.success(),
                "runc: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    b.destroy()?;
    runtime::cleanup(&state_root, "none", &cgroups_path);
    for hierarchy in std::fs::read_dir("/sys/fs/cgroup")?.flatten() {
        let _ = std::fs::remove_dir(hierarchy.path().join("dcos-bench/true"));
        let _ = std::fs::remove_dir(hierarchy.path().join("dcos-bench"));
    }
    let mut out = serde_json::json!({"bench": "container-true", "ours_libcontainer": stats(ours)});
    if !crun.is_empty() {
        out["crun_in_unshare"] = stats(crun);
        out["crun_bare"] = stats(crun_bare);
    }
    if !runc.is_empty() {
        out["runc"] = stats(runc);
    }
    println!("{out}");
    Ok(())
}
