//! How a test skips, so that a skip is never silent.
//!
//! cargo's harness captures a passing test's output, so a printed
//! "SKIPPED" never reaches a log. A test that cannot run here calls
//! [`skip`], which
//! - under `CI=true` panics (`SKIP-FORBIDDEN`: CI installs everything,
//!   so a skip there is a defect), and
//! - otherwise writes a marker file into `$DCOS_SKIP_DIR` (when set) that
//!   names the test and the reason, and prints it to stderr.
//!
//! `.ci/run` sets `DCOS_SKIP_DIR`, empties it before the run and fails if
//! any marker is there after it. Owns nothing else.

use std::io::Write;
use std::path::PathBuf;

/// The environment variable naming the marker directory.
pub const SKIP_DIR_ENV: &str = "DCOS_SKIP_DIR";

/// Whether this process runs under CI (`CI=true`).
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Records that the running test (named by its thread, as cargo's harness
/// names it) did not run because of `why`, and returns so the caller can
/// `return`. Panics under CI instead.
pub fn skip(why: &str) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    if under_ci() {
        panic!("SKIP-FORBIDDEN: {test}: {why} (nothing may be skipped under CI=true)");
    }
    eprintln!("SKIPPED: {test}: {why}");
    if let Some(dir) = std::env::var_os(SKIP_DIR_ENV).map(PathBuf::from) {
        let _ = std::fs::create_dir_all(&dir);
        let name: String = test
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let path = dir.join(format!("{name}-{}", std::process::id()));
        if let Ok(mut f) = std::fs::File::create(path) {
            let _ = writeln!(f, "{test}: {why}");
        }
    }
}

/// Whether this process runs as root (effective uid 0).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_skip_leaves_a_marker_or_panics_under_ci() {
        let dir = std::env::temp_dir().join(format!("dcos-skip-test-{}", std::process::id()));
        std::env::set_var(SKIP_DIR_ENV, &dir);
        let outcome = std::thread::Builder::new()
            .name("a::test".into())
            .spawn(|| skip("no tool"))
            .unwrap()
            .join();
        if under_ci() {
            assert!(outcome.is_err(), "a skip under CI=true must panic");
        } else {
            assert!(outcome.is_ok());
            let markers: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
            assert_eq!(markers.len(), 1);
            let text = std::fs::read_to_string(markers[0].path()).unwrap();
            assert_eq!(text, "a::test: no tool\n");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
