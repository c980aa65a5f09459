//! Harness for the installer tests: a node installed with the real
//! `dcos install` into a temp data dir on free ports, driven with the real
//! `dcos` CLI (its own `DCOS_DIR`), and uninstalled (plus a kill of
//! anything left that names its dir) when dropped, even after a failed
//! assertion. [`Netns`] makes "hosts": network namespaces joined by a veth
//! pair.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::{dcos_bin, free_port, kill_processes_under};

/// The ports of one node.
#[derive(Debug, Clone)]
pub struct Ports {
    pub master: u16,
    pub agent: u16,
    pub marathon: u16,
    pub chronos: u16,
    pub cosmos: u16,
    pub gateway: u16,
}

impl Ports {
    pub fn free() -> Ports {
        Ports {
            master: free_port(),
            agent: free_port(),
            marathon: free_port(),
            chronos: free_port(),
            cosmos: free_port(),
            gateway: free_port(),
        }
    }

    pub fn flags(&self) -> Vec<String> {
        [
            ("--master-port", self.master),
            ("--agent-port", self.agent),
            ("--marathon-port", self.marathon),
            ("--chronos-port", self.chronos),
            ("--cosmos-port", self.cosmos),
            ("--gateway-port", self.gateway),
        ]
        .iter()
        .flat_map(|(f, p)| [f.to_string(), p.to_string()])
        .collect()
    }
}

/// A command's output as text, for assertions and failure messages.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// Runs `cmd` to completion (stdin closed).
pub fn run(cmd: &mut Command) -> Run {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {cmd:?}: {e}"))
        .into()
}

/// One installed node.
#[derive(Debug)]
pub struct Node {
    pub dir: PathBuf,
    pub ports: Ports,
    pub ip: String,
    /// `ip netns exec <ns>` prefix, for nodes inside a namespace.
    pub netns: Option<String>,
    /// The CLI's config dir (`DCOS_DIR`).
    pub dcos_dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Node {
    /// A node (not yet installed) in a fresh temp dir.
    pub fn new(ip: &str, netns: Option<&str>) -> Node {
        let tmp = tempfile::tempdir().expect("tempdir");
        // As /var/lib is: tasks that drop root to `nobody` (the catalog's
        // packages) must be able to reach their sandboxes below it.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod tempdir");
        let dir = tmp.path().join("data");
        let dcos_dir = tmp.path().join("dcos-cli");
        Node {
            dir,
            ports: Ports::free(),
            ip: ip.to_string(),
            netns: netns.map(str::to_string),
            dcos_dir,
            _tmp: tmp,
        }
    }

    pub fn tmp(&self) -> &Path {
        self._tmp.path()
    }

    /// A command run on this node (inside its namespace, if any).
    pub fn command(&self, program: &Path) -> Command {
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(program);
                c
            }
            None => Command::new(program),
        };
        cmd.env("DCOS_DIR", &self.dcos_dir).env("DCOS_LOG", "warn");
        cmd
    }

    /// `dcos <args>` on this node.
    pub fn dcos(&self, args: &[&str]) -> Run {
        run(self.command(&dcos_bin()).args(args))
    }

    /// `dcos <args>`, asserting success; its stdout.
    pub fn dcos_ok(&self, args: &[&str]) -> String {
        let r = self.dcos(args);
        assert!(
            r.ok(),
            "dcos {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
            r.code,
            r.stdout,
            r.stderr
        );
        r.stdout
    }

    /// The `dcos install` flags of this node (data dir, ip, ports).
    pub fn install_flags(&self) -> Vec<String> {
        let mut f = vec![
            "--data-dir".to_string(),
            self.dir.display().to_string(),
            "--ip".to_string(),
            self.ip.clone(),
        ];
        f.extend(self.ports.flags());
        f
    }

    /// `dcos install` with this node's flags plus `extra`.
    pub fn install(&self, extra: &[&str]) -> Run {
        let mut cmd = self.command(&dcos_bin());
        cmd.arg("install").args(self.install_flags()).args(extra);
        run(&mut cmd)
    }

    pub fn gateway(&self) -> String {
        format!("http://{}:{}", self.ip, self.ports.gateway)
    }

    pub fn admin_password(&self) -> String {
        let text =
            std::fs::read_to_string(self.dir.join("admin-credentials")).expect("admin credentials");
        text.lines()
            .find_map(|l| l.strip_prefix("password:"))
            .map(|p| p.trim().to_string())
            .expect("password line")
    }

    /// `dcos cluster setup` as the admin.
    pub fn setup(&self) {
        let pw = self.admin_password();
        let gw = self.gateway();
        self.dcos_ok(&[
            "cluster",
            "setup",
            &gw,
            "--username",
            "admin",
            "--password",
            &pw,
        ]);
    }

    /// The login token `dcos cluster setup` stored.
    pub fn token(&self) -> String {
        let clusters = self.dcos_dir.join("clusters");
        for e in std::fs::read_dir(&clusters)
            .expect("clusters dir")
            .flatten()
        {
            if let Ok(text) = std::fs::read_to_string(e.path().join("dcos.toml")) {
                if let Some(line) = text.lines().find(|l| l.starts_with("dcos_acs_token")) {
                    return line.split('"').nth(1).unwrap_or("").to_string();
                }
            }
        }
        panic!("no token in {}", clusters.display())
    }

    /// The node's cgroups root (from its config).
    pub fn cgroups_root(&self) -> Option<String> {
        let text = std::fs::read_to_string(self.dir.join("config.toml")).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("cgroups_root = "))
            .map(|v| v.trim_matches('"').to_string())
    }

    pub fn uninstall(&self) -> Run {
        let d = self.dir.display().to_string();
        self.dcos(&["uninstall", "--data-dir", &d])
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if self.dir.join("config.toml").exists() {
            let r = self.uninstall();
            if !r.ok() {
                eprintln!("cleanup: dcos uninstall failed: {}", r.stderr);
            }
        }
        kill_processes_under(&self.dir);
    }
}

/// Live (non-zombie) processes whose command line or environment names `dir`.
pub fn processes_naming(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    let me = std::process::id();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        if stat
            .rsplit_once(')')
            .map(|(_, r)| r.trim_start().starts_with('Z'))
            .unwrap_or(true)
        {
            continue;
        }
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let env = std::fs::read(e.path().join("environ")).unwrap_or_default();
        if String::from_utf8_lossy(&cmd).contains(&needle)
            || String::from_utf8_lossy(&env).contains(&needle)
        {
            out.push(format!(
                "{pid}: {}",
                String::from_utf8_lossy(&cmd).replace('\0', " ")
            ));
        }
    }
    out
}

/// Cgroup directories named `name` at the top of any hierarchy.
pub fn cgroups_named(name: &str) -> Vec<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 3 && (f[2] == "cgroup" || f[2] == "cgroup2"))
                .then(|| Path::new(f[1]).join(name))
        })
        .filter(|p| p.exists())
        .collect()
}

static NETNS_SEQ: AtomicU32 = AtomicU32::new(0);

/// Two network namespaces ("hosts") joined by a veth pair, on
/// `10.<a>.<b>.1` and `.2`; deleted on drop.
#[derive(Debug)]
pub struct Netns {
    pub names: [String; 2],
    pub ips: [String; 2],
}

fn sh(args: &[&str]) {
    let r = run(Command::new("ip").args(args));
    assert!(r.ok(), "ip {args:?}: {}", r.stderr);
}

impl Netns {
    pub fn pair() -> Netns {
        let seq = NETNS_SEQ.fetch_add(1, Ordering::SeqCst);
        let id = format!("{}{}", std::process::id() % 100_000, seq);
        let names = [format!("dcos-h1-{id}"), format!("dcos-h2-{id}")];
        let (va, vb) = (format!("vd1-{id}"), format!("vd2-{id}"));
        let a = (std::process::id() % 200) + 20;
        let b = seq % 250;
        let ips = [format!("10.{a}.{b}.1"), format!("10.{a}.{b}.2")];
        let n = Netns { names, ips };
        for ns in &n.names {
            sh(&["netns", "add", ns]);
            sh(&["-n", ns, "link", "set", "lo", "up"]);
        }
        sh(&[
            "link",
            "add",
            &va,
            "netns",
            &n.names[0],
            "type",
            "veth",
            "peer",
            "name",
            &vb,
            "netns",
            &n.names[1],
        ]);
        for (i, v) in [&va, &vb].iter().enumerate() {
            sh(&[
                "-n",
                &n.names[i],
                "addr",
                "add",
                &format!("{}/24", n.ips[i]),
                "dev",
                v,
            ]);
            sh(&["-n", &n.names[i], "link", "set", v, "up"]);
        }
        n
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for ns in &self.names {
            let _ = run(Command::new("ip").args(["netns", "del", ns]));
        }
    }
}
