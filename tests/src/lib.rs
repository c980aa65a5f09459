//! Harness for the multi-process tests: find the built `dcos` binary, start
//! `dcos daemon master` processes on ephemeral loopback ports with temp data
//! dirs, wait for them to be ready, kill -9 and restart them.
//!
//! Tests that need a system tool call [`require_tool`]: outside CI a missing
//! tool skips the test with a message; under `CI=true` it fails it, so CI
//! never passes by skipping.

pub mod chronos;
pub mod containers;
pub mod gateway;
pub mod install;
pub mod marathon;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use dcos_store::types::Status;
use dcos_store::Client;

/// The `dcos` binary built alongside the tests (`target/<profile>/dcos`).
pub fn dcos_bin() -> PathBuf {
    if let Ok(p) = std::env::var("DCOS_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<test> -> target/<profile>/dcos
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("dcos");
    assert!(
        bin.exists(),
        "{} not found: build it first with `cargo build -p dcos-cli` (or run `cargo test --workspace`)",
        bin.display()
    );
    bin
}

/// Whether a missing tool may skip a test (not under CI).
pub fn require_tool(tool: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if found {
        return true;
    }
    dcos_skip::skip(&format!("{tool} is not installed"));
    false
}

/// A free loopback port (bound then released; the OS does not hand it out
/// again at once).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// One `dcos daemon master` process.
#[derive(Debug)]
pub struct Master {
    pub dir: PathBuf,
    pub port: u16,
    pub join: Option<String>,
    pub extra: Vec<String>,
    child: Option<Child>,
}

impl Master {
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts a master and waits until it prints its ready line.
    pub fn start(dir: &Path, join: Option<String>, extra: &[&str]) -> Master {
        let mut m = Master {
            dir: dir.to_path_buf(),
            port: free_port(),
            join,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            child: None,
        };
        m.spawn();
        m
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new(dcos_bin());
        cmd.args(["daemon", "master", "--listen", &self.addr(), "--data-dir"])
            .arg(&self.dir)
            .args(&self.extra)
            .env("DCOS_LOG", "warn")
            .stderr(Stdio::inherit());
        if let Some(j) = &self.join {
            cmd.args(["--join", j]);
        }
        self.child = Some(spawn_until_listening(
            &mut cmd,
            &format!("master on port {}", self.port),
        ));
    }

    /// kill -9: no goodbye, no flush beyond what was fsynced.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the process again on the same port and data dir.
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    pub fn client(&self) -> Client {
        Client::new([self.url()])
    }

    pub async fn status(&self) -> Status {
        self.client()
            .with_retry_for(Duration::from_secs(5))
            .status()
            .await
            .expect("status")
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// One `dcos daemon agent` process registered with a master.
#[derive(Debug)]
pub struct Agent {
    pub dir: PathBuf,
    pub port: u16,
    pub master: String,
    pub extra: Vec<String>,
    /// Agent id from the ready line (same across restarts).
    pub id: String,
    child: Option<Child>,
}

impl Agent {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts an agent and waits until it says it registered.
    pub fn start(dir: &Path, master: &str, extra: &[&str]) -> Agent {
        let mut a = Agent {
            dir: dir.to_path_buf(),
            port: free_port(),
            master: master.to_string(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            id: String::new(),
            child: None,
        };
        a.spawn();
        a
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new(dcos_bin());
        cmd.args(["daemon", "agent", "--master", &self.master, "--listen"])
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--work-dir")
            .arg(&self.dir)
            .args(&self.extra)
            .env("DCOS_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("spawn dcos daemon agent");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // "dcos agent <id> registered with <master> ..."
                if line.contains("registered") {
                    let id = line.split_whitespace().nth(2).unwrap_or_default();
                    let _ = tx.send(id.to_string());
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(id) => self.id = id,
            Err(_) => {
                let _ = child.kill();
                panic!("agent on port {} did not register within 60 s", self.port);
            }
        }
        self.child = Some(child);
    }

    /// kill -9 the agent process only (its executors and tasks live on).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the agent again on the same port and work dir.
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// The agent process's pid (to SIGSTOP it: a partition without
    /// killing anything).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGTERM and wait: a graceful stop.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            let _ = c.wait();
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill9();
        kill_processes_under(&self.dir);
    }
}

/// kill -9 every process whose environment mentions `dir` (the executors
/// and tasks of an agent's work dir: they outlive the agent on purpose).
pub fn kill_processes_under(dir: &Path) {
    let needle = dir.to_string_lossy().into_owned();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        let Ok(env) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if String::from_utf8_lossy(&env).contains(&needle) {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    }
}

/// Spawns a `dcos daemon …` with its stdout piped and waits (up to 60 s)
/// for the line that says it is serving (`listening on`); panics naming
/// `what` if it does not come.
pub fn spawn_until_listening(cmd: &mut Command, what: &str) -> Child {
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("listening on") {
                let _ = tx.send(());
            }
        }
    });
    if rx.recv_timeout(Duration::from_secs(60)).is_err() {
        let _ = child.kill();
        panic!("{what} did not become ready within 60 s");
    }
    child
}

/// The pinned real clients the compatibility tests drive.
pub const PYTHON_CLIENTS: &[&str] = &[
    "mesoshttp==0.4.2",
    "marathon==0.13.0",
    "chronos-python==1.2.1",
    "dcos-metronome==0.3.0",
    // dcos-metronome's generated protobuf code needs the 3.20 runtime.
    "protobuf==3.20.3",
    // The catalog's packages: Kafka (Tansu) and memcached clients.
    "kafka-python==3.0.12",
    "pymemcache==4.0.0",
];

/// The Python interpreter of the test venv (`target/pyenv`, with the real
/// third-party clients of [`PYTHON_CLIENTS`]), or `DCOS_TEST_PYTHON`. The
/// venv is created on first use (`python3 -m venv` + `pip install` from
/// PyPI; `.ci/run` creates it up front), so `cargo test --workspace` is
/// self-sufficient. `None` (test skipped) outside CI when that fails; a
/// panic under `CI=true`.
pub fn test_python(module: &str) -> Option<PathBuf> {
    let python = match std::env::var("DCOS_TEST_PYTHON") {
        Ok(p) => PathBuf::from(p),
        Err(_) => {
            let venv = workspace_root().join("target/pyenv");
            if !venv.join("bin/python").exists() {
                if let Err(e) = create_venv(&venv) {
                    eprintln!("could not create the test venv: {e}");
                }
            }
            venv.join("bin/python")
        }
    };
    let imports = |python: &Path| {
        python.exists()
            && Command::new(python)
                .args(["-c", &format!("import {module}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
    };
    let mut ok = imports(&python);
    if !ok && python.exists() && std::env::var("DCOS_TEST_PYTHON").is_err() {
        // A venv from before a client was added to PYTHON_CLIENTS.
        let _ = Command::new(&python)
            .args(["-m", "pip", "install", "-q", "--disable-pip-version-check"])
            .args(PYTHON_CLIENTS)
            .stdout(Stdio::null())
            .status();
        ok = imports(&python);
    }
    if ok {
        return Some(python);
    }
    dcos_skip::skip(&format!(
        "no Python venv with {module} at {} (run .ci/run or set DCOS_TEST_PYTHON)",
        python.display()
    ));
    None
}

/// Builds the venv beside its final place and renames it in, so test
/// binaries running at the same time never see a half-made one.
fn create_venv(venv: &Path) -> std::io::Result<()> {
    let tmp = venv.with_extension(format!("tmp{}", std::process::id()));
    let run = |cmd: &mut Command| -> std::io::Result<()> {
        let status = cmd.stdout(Stdio::null()).status()?;
        if status.success() {
            Ok(())
        } else {
            Err(std::io::Error::other(format!("{cmd:?} failed: {status}")))
        }
    };
    run(Command::new("python3").args(["-m", "venv"]).arg(&tmp))?;
    run(Command::new(tmp.join("bin/pip"))
        .args(["install", "-q", "--disable-pip-version-check"])
        .args(PYTHON_CLIENTS))?;
    // `bin/python` finds its site-packages relative to itself, so the
    // moved venv works (only its pip script keeps the old path).
    if std::fs::rename(&tmp, venv).is_err() {
        // Another test binary won the race.
        let _ = std::fs::remove_dir_all(&tmp);
    }
    Ok(())
}

/// The workspace root (parent of this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// `n` masters in one store cluster: the first bootstraps, the rest join it.
pub async fn cluster(root: &Path, n: usize, extra: &[&str]) -> Vec<Master> {
    let first = Master::start(&root.join("m0"), None, extra);
    let seed = first.url();
    let mut masters = vec![first];
    for i in 1..n {
        masters.push(Master::start(
            &root.join(format!("m{i}")),
            Some(seed.clone()),
            extra,
        ));
    }
    let client = masters[0].client();
    wait_until(
        Duration::from_secs(30),
        "all members are voters",
        || async {
            client
                .members()
                .await
                .map(|m| m.iter().filter(|m| m.voter).count() == n)
                .unwrap_or(false)
        },
    )
    .await;
    masters
}

/// Polls `cond` every 50 ms until it holds; panics after `timeout`.
pub async fn wait_until<F, Fut>(timeout: Duration, what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !cond().await {
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
