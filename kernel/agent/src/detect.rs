//! What this machine offers: the `--resources` and `--attributes` flags in
//! Mesos syntax, or, without `--resources`, resources detected from the
//! machine the way Mesos does (all CPUs; memory less 1 GB, or half below
//! 2 GB; the work directory's disk less 5 GB, or half below 10 GB; ports
//! 31000-32000). Named resources given in `--resources` win over detected
//! ones.
//!
//! Owns parsing and detection; offering is the master's.

use std::path::Path;

use dcos_api::resources::{Resources, ResourcesError};
use dcos_api::v1::{Attribute, Resource};

/// Errors of the resource and attribute flags.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// `--resources` does not parse.
    #[error("--resources: {0}")]
    Resources(#[from] ResourcesError),
    /// `--attributes` has an entry without `name:value`.
    #[error("--attributes: '{0}' is not name:value")]
    Attribute(String),
}

/// Memory and disk left to the host, in MB, for a total of `total` MB.
fn reserve(total: f64, threshold: f64, fixed: f64) -> f64 {
    if total >= threshold {
        total - fixed
    } else {
        total / 2.0
    }
}

/// The machine's resources, detected.
pub fn detect(work_dir: &Path) -> Vec<Resource> {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get() as f64)
        .unwrap_or(1.0);
    let mut sys = sysinfo::System::new();
    sys.refresh_memory_specifics(sysinfo::MemoryRefreshKind::nothing().with_ram());
    let mem_mb = sys.total_memory() as f64 / (1024.0 * 1024.0);
    let disk_mb = nix::sys::statvfs::statvfs(work_dir)
        .map(|s| s.blocks() as f64 * s.fragment_size() as f64 / (1024.0 * 1024.0))
        .unwrap_or(0.0);
    vec![
        Resource::scalar("cpus", cpus),
        Resource::scalar("mem", reserve(mem_mb, 2048.0, 1024.0).floor()),
        Resource::scalar("disk", reserve(disk_mb, 10240.0, 5120.0).floor()),
        Resource::ranges("ports", [(31000, 32000)]),
    ]
}

/// `--resources` (if any) over detected defaults.
pub fn resources(flag: Option<&str>, work_dir: &Path) -> Result<Vec<Resource>, DetectError> {
    let given = match flag {
        Some(text) => Resources::parse(text, "*")?.into_vec(),
        None => Vec::new(),
    };
    let mut out: Vec<Resource> = detect(work_dir)
        .into_iter()
        .filter(|d| !given.iter().any(|g| g.name == d.name))
        .collect();
    out.extend(given);
    Ok(out)
}

/// `--attributes 'rack:r1;zone:a;level:2'`: numbers become SCALAR, the rest TEXT.
pub fn attributes(flag: Option<&str>) -> Result<Vec<Attribute>, DetectError> {
    let Some(text) = flag else {
        return Ok(Vec::new());
    };
    text.split(';')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            let (name, value) = t
                .split_once(':')
                .ok_or_else(|| DetectError::Attribute(t.to_owned()))?;
            let (name, value) = (name.trim(), value.trim());
            if name.is_empty() {
                return Err(DetectError::Attribute(t.to_owned()));
            }
            Ok(match value.parse::<f64>() {
                Ok(n) => Attribute::scalar(name, n),
                Err(_) => Attribute::text(name, value),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_resources_override_detected_ones() {
        let dir = tempfile::tempdir().unwrap();
        let r = resources(Some("cpus:4;mem:8192"), dir.path()).unwrap();
        let res = Resources::try_from_vec(r).unwrap();
        assert_eq!(res.cpus(), Some(4.0));
        assert_eq!(res.mem(), Some(8192.0));
        assert!(res.disk().unwrap() > 0.0);
        assert_eq!(res.ports().unwrap().count(), 1001);
    }

    #[test]
    fn detection_leaves_room_for_the_host() {
        assert_eq!(reserve(8192.0, 2048.0, 1024.0), 7168.0);
        assert_eq!(reserve(1024.0, 2048.0, 1024.0), 512.0);
        let dir = tempfile::tempdir().unwrap();
        let d = Resources::try_from_vec(detect(dir.path())).unwrap();
        assert!(d.cpus().unwrap() >= 1.0);
        assert!(d.mem().unwrap() > 0.0);
    }

    #[test]
    fn attributes_parse() {
        let a = attributes(Some("rack:r1; level:2")).unwrap();
        assert_eq!(a[0], Attribute::text("rack", "r1"));
        assert_eq!(a[1], Attribute::scalar("level", 2.0));
        assert!(attributes(Some("oops")).is_err());
        assert!(attributes(None).unwrap().is_empty());
    }
}
