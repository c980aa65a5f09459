//! The mounts a node leaves under its data dir, and undoing them: the
//! overlay root file systems of containers
//! (`agent/provisioner/containers/*/rootfs`) and the bind mounts inside
//! them stay mounted when their executor was killed, and `rm -r` of the
//! data dir then fails with "Device or resource busy".
//!
//! [`mounts_under`] is pure (a `/proc/self/mountinfo` text in, the mount
//! points under a dir out, deepest and newest first); [`unmount_under`]
//! unmounts them, falling back to a lazy (detached) unmount for a mount a
//! process still holds.

use std::path::{Path, PathBuf};

use nix::mount::{umount2, MntFlags};

/// The mount points in `mountinfo` (the text of `/proc/<pid>/mountinfo`)
/// that are `dir` or under it, in the order to unmount them: deepest
/// first, and of one path the most recent mount first (mounts stack).
pub fn mounts_under(mountinfo: &str, dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<(usize, PathBuf)> = mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|field| PathBuf::from(unescape(field)))
        .filter(|p| p.starts_with(dir))
        .enumerate()
        .collect();
    // Deeper paths first; among equals, later lines (newer mounts) first.
    found.sort_by(|(ia, a), (ib, b)| {
        b.components()
            .count()
            .cmp(&a.components().count())
            .then(ib.cmp(ia))
    });
    found.into_iter().map(|(_, p)| p).collect()
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo` (octal).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 3 < bytes.len() {
            let oct = std::str::from_utf8(&bytes[i + 1..i + 4]).unwrap_or("");
            if let Ok(b) = u8::from_str_radix(oct, 8) {
                out.push(b);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What [`unmount_under`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Unmounted {
    /// Unmounted at once.
    pub unmounted: Vec<PathBuf>,
    /// Busy: detached (`MNT_DETACH`), gone from the tree, freed by the
    /// kernel once its last user lets go.
    pub detached: Vec<PathBuf>,
}

/// Unmounts every mount at or under `dir` (as this process sees them in
/// `/proc/self/mountinfo`), deepest first; a mount that stays busy is
/// detached. Returns the mount points that could be neither (with why).
pub fn unmount_under(dir: &Path) -> Result<Unmounted, Vec<(PathBuf, nix::Error)>> {
    let mut done = Unmounted::default();
    // A few rounds: mounts stack, and unmounting one can reveal another.
    for _ in 0..8 {
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let points = mounts_under(&info, dir);
        if points.is_empty() {
            return Ok(done);
        }
        let mut failed = Vec::new();
        for point in points {
            match umount2(&point, MntFlags::empty()) {
                Ok(()) => done.unmounted.push(point),
                Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => {} // no longer mounted
                Err(_) => match umount2(&point, MntFlags::MNT_DETACH) {
                    Ok(()) => {
                        tracing::warn!(mount = %point.display(), "busy: detached");
                        done.detached.push(point);
                    }
                    Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => {}
                    Err(e) => failed.push((point, e)),
                },
            }
        }
        if !failed.is_empty() {
            return Err(failed);
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 0:35 / /var/lib/dcos/agent/provisioner/containers/c1/rootfs rw - overlay overlay rw,lowerdir=/a
41 40 8:1 /x /var/lib/dcos/agent/provisioner/containers/c1/rootfs/mnt/mesos/sandbox rw - ext4 /dev/sda1 rw
42 22 0:36 / /var/lib/dcos-other/m rw - tmpfs tmpfs rw
43 22 0:37 / /var/lib/dcos/with\\040space rw - tmpfs tmpfs rw
44 40 0:38 / /var/lib/dcos/agent/provisioner/containers/c1/rootfs rw - tmpfs tmpfs rw
";

    #[test]
    fn mounts_under_the_dir_deepest_and_newest_first() {
        let got = mounts_under(INFO, Path::new("/var/lib/dcos"));
        let rootfs = "/var/lib/dcos/agent/provisioner/containers/c1/rootfs";
        assert_eq!(
            got,
            vec![
                PathBuf::from(format!("{rootfs}/mnt/mesos/sandbox")),
                PathBuf::from(rootfs), // mount 44, stacked on 40
                PathBuf::from(rootfs),
                PathBuf::from("/var/lib/dcos/with space"),
            ]
        );
        // A sibling whose name merely starts the same is not under it.
        assert!(mounts_under(INFO, Path::new("/var/lib/dcos-other/m/x")).is_empty());
        assert!(mounts_under(INFO, Path::new("/nowhere")).is_empty());
    }

    fn is_root() -> bool {
        if dcos_skip::is_root() {
            return true;
        }
        dcos_skip::skip("mounting needs root");
        false
    }

    fn tmpfs(at: &Path) {
        std::fs::create_dir_all(at).unwrap();
        nix::mount::mount(
            Some("tmpfs"),
            at,
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            Some("size=1m"),
        )
        .unwrap();
    }

    /// Stacked, nested and busy mounts under a data dir all go, and the
    /// dir can then be removed (what `dcos uninstall --purge` does).
    #[test]
    fn unmounts_nested_stacked_and_busy_mounts_so_the_dir_can_go() {
        if !is_root() {
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        let rootfs = data.join("agent/provisioner/containers/c1/rootfs");
        tmpfs(&rootfs);
        tmpfs(&rootfs); // stacked on the first
        let sandbox = rootfs.join("mnt/mesos/sandbox");
        tmpfs(&sandbox);
        // Held open: a plain unmount fails with EBUSY, the lazy one works.
        let held = std::fs::File::create(sandbox.join("stdout")).unwrap();
        let before = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert_eq!(mounts_under(&before, &data).len(), 3);

        let done = unmount_under(&data).unwrap();
        assert_eq!(done.detached, vec![sandbox.clone()], "{done:?}");
        assert_eq!(done.unmounted, vec![rootfs.clone(), rootfs.clone()]);
        let after = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(mounts_under(&after, &data).is_empty(), "{after}");
        std::fs::remove_dir_all(&data).unwrap();
        drop(held);
        assert_eq!(unmount_under(&data).unwrap(), Unmounted::default());
    }
}
