//! Preflight checks: can this machine run the node? Each check is a pure
//! function of a fact (the kernel release, `/proc/mounts`, free bytes,
//! the effective uid, whether a port could be bound) returning a
//! [`Check`]; [`run`] gathers the facts. A failed check stops the
//! install with a message that says what to do; a warning is printed
//! and the install goes on.

use std::net::TcpListener;
use std::path::Path;

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Pass(String),
    Warn(String),
    Fail(String),
}

impl Check {
    fn new(name: impl Into<String>, outcome: Outcome) -> Check {
        Check {
            name: name.into(),
            outcome,
        }
    }

    pub fn failed(&self) -> bool {
        matches!(self.outcome, Outcome::Fail(_))
    }

    pub fn message(&self) -> &str {
        match &self.outcome {
            Outcome::Pass(m) | Outcome::Warn(m) | Outcome::Fail(m) => m,
        }
    }
}

/// Oldest kernel we run on (cgroups v1 with the cpu and memory
/// controllers, `setns`, `O_CLOEXEC` everywhere).
pub const MIN_KERNEL: (u32, u32) = (3, 10);
/// Below this free space on the data dir's file system, refuse.
pub const MIN_FREE_BYTES: u64 = 1 << 30;
/// Below this, warn.
pub const LOW_FREE_BYTES: u64 = 5 << 30;

/// The kernel release (`uname -r`, e.g. `6.1.0-18-amd64`).
pub fn check_kernel(release: &str) -> Check {
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<u32>().unwrap_or(0));
    let version = (parts.next(), parts.next());
    let outcome = match version {
        (Some(major), Some(minor)) if (major, minor) >= MIN_KERNEL => {
            Outcome::Pass(format!("Linux {release}"))
        }
        (Some(_), Some(_)) => Outcome::Fail(format!(
            "Linux {release} is too old: dcos needs {}.{} or newer (upgrade the kernel)",
            MIN_KERNEL.0, MIN_KERNEL.1
        )),
        _ => Outcome::Warn(format!(
            "cannot read the kernel version from {release:?}; going on"
        )),
    };
    Check::new("kernel", outcome)
}

/// cgroups from `/proc/mounts`: the agent limits tasks with the cpu and
/// memory controllers (v1) or the unified hierarchy (v2).
pub fn check_cgroups(mounts: &str, needs_agent: bool) -> Check {
    let mut v1 = Vec::new();
    let mut v2 = false;
    for line in mounts.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 4 {
            continue;
        }
        match f[2] {
            "cgroup2" => v2 = true,
            "cgroup" => {
                for opt in f[3].split(',') {
                    if opt == "cpu" || opt == "memory" {
                        v1.push(opt.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    let has_v1 = v1.iter().any(|c| c == "cpu") && v1.iter().any(|c| c == "memory");
    let outcome = if has_v1 {
        Outcome::Pass("cgroups v1 (cpu, memory) mounted".into())
    } else if v2 {
        Outcome::Pass("cgroups v2 mounted".into())
    } else if needs_agent {
        Outcome::Warn(
            "no cgroup cpu/memory controllers mounted: the agent will run tasks without limits \
             (mount cgroups, e.g. `mount -t cgroup2 none /sys/fs/cgroup`, for isolation)"
                .into(),
        )
    } else {
        Outcome::Pass("not needed (no agent on this node)".into())
    };
    Check::new("cgroups", outcome)
}

/// Free bytes on the file system of the data dir.
pub fn check_disk(dir: &Path, free: Option<u64>) -> Check {
    let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
    let outcome = match free {
        None => Outcome::Warn(format!("cannot tell the free space of {}", dir.display())),
        Some(b) if b < MIN_FREE_BYTES => Outcome::Fail(format!(
            "only {:.1} GiB free on {}: dcos needs at least {:.0} GiB (free some space or pick another --data-dir)",
            gib(b),
            dir.display(),
            gib(MIN_FREE_BYTES)
        )),
        Some(b) if b < LOW_FREE_BYTES => Outcome::Warn(format!(
            "{:.1} GiB free on {}: enough to start, little for task sandboxes",
            gib(b),
            dir.display()
        )),
        Some(b) => Outcome::Pass(format!("{:.1} GiB free on {}", gib(b), dir.display())),
    };
    Check::new("disk", outcome)
}

/// Root or not: without root the agent cannot create cgroups and the
/// default data dir (`/var/lib/dcos`) is not writable.
pub fn check_root(euid: u32, needs_agent: bool) -> Check {
    let outcome = if euid == 0 {
        Outcome::Pass("running as root".into())
    } else if needs_agent {
        Outcome::Warn(format!(
            "running as uid {euid}, not root: tasks run without cgroup limits (use sudo for isolation)"
        ))
    } else {
        Outcome::Pass(format!("running as uid {euid} (fine for a master)"))
    };
    Check::new("user", outcome)
}

/// Whether `ip:port` is free for `component` (`bound` is the result of
/// trying to bind it).
pub fn check_port(
    component: &str,
    flag: &str,
    ip: &str,
    port: u16,
    bound: Result<(), std::io::Error>,
) -> Check {
    let outcome = match bound {
        Ok(()) => Outcome::Pass(format!("{ip}:{port} is free")),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Outcome::Fail(format!(
            "port {port} ({component}) on {ip} is already in use: stop what holds it \
             (`ss -ltnp 'sport = :{port}'` shows it) or choose another port with {flag}"
        )),
        Err(e) => Outcome::Fail(format!(
            "cannot listen on {ip}:{port} for the {component}: {e} (is {ip} an address of this machine? see --ip)"
        )),
    };
    Check::new(format!("port {port} ({component})"), outcome)
}

/// Tries to bind `ip:port` (released at once).
pub fn probe_port(ip: &str, port: u16) -> Result<(), std::io::Error> {
    TcpListener::bind((ip, port)).map(drop)
}

/// Free bytes where `dir` is (or would be: the nearest existing parent).
pub fn free_bytes(dir: &Path) -> Option<u64> {
    let mut p = dir.to_path_buf();
    loop {
        if p.exists() {
            let s = nix::sys::statvfs::statvfs(&p).ok()?;
            #[allow(clippy::useless_conversion)]
            return Some(u64::from(s.blocks_available()) * u64::from(s.fragment_size()));
        }
        if !p.pop() {
            return None;
        }
    }
}

/// A port this node will listen on, and the component and flag behind it.
#[derive(Debug, Clone)]
pub struct PortUse {
    pub component: &'static str,
    pub flag: &'static str,
    pub port: u16,
}

/// Runs every check against this machine.
pub fn run(data_dir: &Path, ip: &str, ports: &[PortUse], needs_agent: bool) -> Vec<Check> {
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let mut checks = vec![
        check_kernel(&release),
        check_cgroups(&mounts, needs_agent),
        check_root(nix::unistd::geteuid().as_raw(), needs_agent),
        check_disk(data_dir, free_bytes(data_dir)),
    ];
    for p in ports {
        checks.push(check_port(
            p.component,
            p.flag,
            ip,
            p.port,
            probe_port(ip, p.port),
        ));
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_versions() {
        assert!(matches!(
            check_kernel("6.1.0-18-amd64").outcome,
            Outcome::Pass(_)
        ));
        assert!(matches!(check_kernel("3.10.0").outcome, Outcome::Pass(_)));
        let old = check_kernel("2.6.32-754.el6.x86_64");
        assert!(old.failed());
        assert!(old.message().contains("3.10"), "{}", old.message());
        assert!(matches!(check_kernel("").outcome, Outcome::Warn(_)));
    }

    #[test]
    fn cgroups_from_mounts() {
        let v1 = "cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0\n\
                  cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0\n";
        assert!(matches!(check_cgroups(v1, true).outcome, Outcome::Pass(_)));
        let v2 = "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid 0 0\n";
        assert!(matches!(check_cgroups(v2, true).outcome, Outcome::Pass(_)));
        let none = "proc /proc proc rw 0 0\n";
        assert!(matches!(
            check_cgroups(none, true).outcome,
            Outcome::Warn(_)
        ));
        assert!(matches!(
            check_cgroups(none, false).outcome,
            Outcome::Pass(_)
        ));
    }

    #[test]
    fn disk_thresholds() {
        let d = Path::new("/var/lib/dcos");
        assert!(check_disk(d, Some(100 << 20)).failed());
        assert!(matches!(
            check_disk(d, Some(2 << 30)).outcome,
            Outcome::Warn(_)
        ));
        assert!(matches!(
            check_disk(d, Some(50 << 30)).outcome,
            Outcome::Pass(_)
        ));
    }

    #[test]
    fn root_or_not() {
        assert!(matches!(check_root(0, true).outcome, Outcome::Pass(_)));
        assert!(matches!(check_root(1000, true).outcome, Outcome::Warn(_)));
        assert!(matches!(check_root(1000, false).outcome, Outcome::Pass(_)));
    }

    #[test]
    fn a_busy_port_names_the_port_and_component() {
        let busy = std::io::Error::from(std::io::ErrorKind::AddrInUse);
        let c = check_port("marathon", "--marathon-port", "127.0.0.1", 8080, Err(busy));
        assert!(c.failed());
        assert!(
            c.message().contains("port 8080 (marathon)"),
            "{}",
            c.message()
        );
        assert!(c.message().contains("--marathon-port"));
        assert!(!check_port("marathon", "--marathon-port", "127.0.0.1", 8080, Ok(())).failed());
    }

    #[test]
    fn real_port_probe_sees_a_listener() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let err = probe_port("127.0.0.1", port).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
        drop(l);
        assert!(probe_port("127.0.0.1", port).is_ok());
    }

    #[test]
    fn free_bytes_walks_up_to_an_existing_dir() {
        assert!(free_bytes(Path::new("/tmp/does/not/exist/yet")).unwrap() > 0);
    }
}
