//! Harness for container tests: a real `docker-registry` (Debian's
//! package) on a loopback port with its config written here, a plain-HTTP
//! push of images built in the test (monolithic blob upload, then the
//! manifest), and the agent-side facts tests look at (sandboxes, the
//! image store, task statuses from the master's operator API).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use dcos_containerizer::build;
use dcos_containerizer::image::{DOCKER_MANIFEST, OCI_INDEX};
use dcos_containerizer::store::Digest;
use serde_json::{json, Value};

use crate::{free_port, wait_until};

/// The registry binary of Debian's `docker-registry` package.
pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";
/// Debian's `busybox-static`.
pub const BUSYBOX: &str = "/bin/busybox";

/// Whether this machine can run the container tests (root, busybox-static,
/// docker-registry); records a skip (`dcos_skip`) and returns false if not.
pub fn can_run_containers(test: &str) -> bool {
    if !dcos_skip::is_root() {
        dcos_skip::skip(&format!("{test}: containers need root"));
        return false;
    }
    for (path, package) in [
        (BUSYBOX, "busybox-static"),
        (REGISTRY_BIN, "docker-registry"),
    ] {
        if !Path::new(path).exists() {
            dcos_skip::skip(&format!(
                "{test}: {path} missing (apt-get install {package})"
            ));
            return false;
        }
    }
    true
}

/// An image built in the test: one busybox layer, its config and manifest.
#[derive(Debug, Clone)]
pub struct TestImage {
    pub layer: Vec<u8>,
    pub config: Vec<u8>,
    pub manifest: Vec<u8>,
}

impl TestImage {
    /// busybox with `/etc/os-release` holding `marker`; no entrypoint,
    /// cmd `/bin/sh`, for `architecture`.
    pub fn busybox(marker: &str, architecture: &str) -> TestImage {
        let layer = build::busybox_layer(Path::new(BUSYBOX), marker).expect("read /bin/busybox");
        let config = build::config_json(
            architecture,
            &[],
            &["/bin/sh"],
            &["PATH=/bin", "IMAGE_VAR=from-image"],
            std::slice::from_ref(&layer),
        );
        let manifest = build::manifest_json(&config, std::slice::from_ref(&layer));
        TestImage {
            layer,
            config,
            manifest,
        }
    }

    /// The layer's digest.
    pub fn layer_digest(&self) -> Digest {
        Digest::of(&self.layer)
    }

    /// This image as a `docker save` tarball tagged `tag`.
    pub fn docker_save(&self, tag: &str) -> Vec<u8> {
        build::docker_save(&[tag], &self.config, std::slice::from_ref(&self.layer))
    }
}

/// One `docker-registry serve` process.
#[derive(Debug)]
pub struct Registry {
    pub port: u16,
    pub dir: PathBuf,
    child: Option<Child>,
}

impl Registry {
    /// Writes a config (filesystem storage under `dir`, loopback port) and
    /// starts the registry; waits until `/v2/` answers.
    pub async fn start(dir: &Path) -> Registry {
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let port = free_port();
        let config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.join("data").display()
        );
        std::fs::write(dir.join("config.yml"), config).unwrap();
        // It logs every 404 as an error: keep that out of the test output.
        let log = std::fs::File::create(dir.join("registry.log")).unwrap();
        let child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(dir.join("config.yml"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn docker-registry");
        let r = Registry {
            port,
            dir: dir.to_owned(),
            child: Some(child),
        };
        let url = format!("{}/v2/", r.url());
        wait_until(Duration::from_secs(30), "the registry answers /v2/", || {
            let url = url.clone();
            async move {
                reqwest::get(&url)
                    .await
                    .is_ok_and(|r| r.status().is_success())
            }
        })
        .await;
        r
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:<port>`, the registry part of image names.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Monolithic upload of one blob (POST an upload, PUT its bytes).
    pub async fn push_blob(&self, repo: &str, bytes: &[u8]) {
        let http = reqwest::Client::new();
        let resp = http
            .post(format!("{}/v2/{repo}/blobs/uploads/", self.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 202, "start upload");
        let location = resp.headers()["location"].to_str().unwrap().to_owned();
        let location = if location.starts_with("http") {
            location
        } else {
            format!("{}{location}", self.url())
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        let resp = http
            .put(format!("{location}{sep}digest={}", Digest::of(bytes)))
            .header("content-type", "application/octet-stream")
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 201, "finish upload");
    }

    /// PUT a manifest (or index) of `media_type` under `reference`.
    pub async fn put_manifest(&self, repo: &str, reference: &str, media_type: &str, bytes: &[u8]) {
        let resp = reqwest::Client::new()
            .put(format!("{}/v2/{repo}/manifests/{reference}", self.url()))
            .header("content-type", media_type)
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        assert_eq!(status, 201, "put manifest: {body}");
    }

    /// Pushes the layer, the config and the manifest under `repo:tag`.
    pub async fn push(&self, repo: &str, tag: &str, image: &TestImage) {
        self.push_blob(repo, &image.layer).await;
        self.push_blob(repo, &image.config).await;
        self.put_manifest(repo, tag, DOCKER_MANIFEST, &image.manifest)
            .await;
    }

    /// Pushes `image` (built for another architecture) by digest and an
    /// OCI index listing only it under `repo:tag`.
    pub async fn push_index_of(&self, repo: &str, tag: &str, image: &TestImage, arch: &str) {
        self.push_blob(repo, &image.layer).await;
        self.push_blob(repo, &image.config).await;
        let digest = Digest::of(&image.manifest).to_string();
        self.put_manifest(repo, &digest, DOCKER_MANIFEST, &image.manifest)
            .await;
        let index = build::index_json(&[(&image.manifest, arch)]);
        self.put_manifest(repo, tag, OCI_INDEX, &index).await;
    }

    /// The file the registry serves a blob from (to corrupt it).
    pub fn blob_file(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.dir
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The `runs/latest` sandbox of `task_id` under an agent's work dir.
pub fn sandbox_of(agent_dir: &Path, task_id: &str) -> Option<PathBuf> {
    let slaves = std::fs::read_dir(agent_dir.join("slaves")).ok()?;
    for agent in slaves.flatten() {
        let Ok(fws) = std::fs::read_dir(agent.path().join("frameworks")) else {
            continue;
        };
        for fw in fws.flatten() {
            let run = fw
                .path()
                .join("executors")
                .join(task_id)
                .join("runs/latest");
            if run.exists() {
                return Some(run);
            }
        }
    }
    None
}

/// Every task (active and completed) the master knows, from the operator
/// API's GET_TASKS, with full statuses.
pub async fn master_tasks(master_url: &str) -> Vec<Value> {
    let resp = reqwest::Client::new()
        .post(format!("{master_url}/api/v1"))
        .header("content-type", "application/json")
        .body(json!({"type": "GET_TASKS"}).to_string())
        .send()
        .await;
    let Ok(resp) = resp else { return Vec::new() };
    let v: Value = resp.json().await.unwrap_or(Value::Null);
    let t = &v["get_tasks"];
    ["tasks", "completed_tasks"]
        .iter()
        .flat_map(|k| t[*k].as_array().cloned().unwrap_or_default())
        .collect()
}

/// The first terminal status of a task whose name is `app_name` (Marathon
/// names tasks after the app id), from the master.
pub async fn first_failure(master_url: &str, app_name: &str) -> Option<Value> {
    master_tasks(master_url)
        .await
        .into_iter()
        .filter(|t| t["name"] == app_name)
        .flat_map(|t| t["statuses"].as_array().cloned().unwrap_or_default())
        .find(|s| s["state"] == "TASK_FAILED")
}

/// Polls `f` every 50 ms until it returns `Some`; panics after `timeout`.
pub async fn wait_for<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Removes what containers of an agent work dir leave when a test ends
/// with them running (the harness kills agents and executors with -9,
/// which cannot reach processes inside containers): kills every process
/// in their cgroups, unmounts their root filesystems, removes their
/// cgroup dirs. Declare it before the cluster so it drops after.
#[derive(Debug)]
pub struct ContainerReaper(pub PathBuf);

impl Drop for ContainerReaper {
    fn drop(&mut self) {
        let Ok(entries) = std::fs::read_dir(self.0.join("provisioner/containers")) else {
            return;
        };
        let hierarchies: Vec<PathBuf> = std::fs::read_dir("/sys/fs/cgroup")
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        for e in entries.flatten() {
            let id = e.file_name();
            for _ in 0..50 {
                let mut any = false;
                for h in &hierarchies {
                    let procs =
                        std::fs::read_to_string(h.join("dcos").join(&id).join("cgroup.procs"))
                            .unwrap_or_default();
                    for pid in procs.split_whitespace() {
                        any = true;
                        let _ = Command::new("kill").args(["-9", pid]).status();
                    }
                }
                if !any {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = Command::new("umount")
                .arg("-l")
                .arg(e.path().join("rootfs"))
                .status();
            for h in &hierarchies {
                let _ = std::fs::remove_dir(h.join("dcos").join(&id));
            }
        }
    }
}

/// Writes `tarball` (a `docker save` archive) into `dir` and imports it
/// into the image store of the agent whose work dir is `agent_dir` with
/// `dcos image import`, asserting success; the command's stdout.
pub fn import_image(dir: &Path, agent_dir: &Path, tarball: &[u8]) -> String {
    let file = dir.join("image.tar");
    std::fs::write(&file, tarball).expect("write the image tarball");
    let out = Command::new(crate::dcos_bin())
        .args(["image", "import"])
        .arg(&file)
        .arg("--work-dir")
        .arg(agent_dir)
        .output()
        .expect("run dcos image import");
    assert!(
        out.status.success(),
        "dcos image import failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
