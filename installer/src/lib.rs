//! `dcos-installer`: turns a machine into a node of a cluster and back.
//! It owns preflight checks, config and secret generation, joining an
//! existing cluster, supervision (systemd units, or our own supervisor
//! where systemd is not PID 1), `dcos status` and `dcos uninstall`. It
//! starts components only as `dcos daemon …` processes: it knows their
//! command lines and health URLs, never their insides.
//!
//! - [`config`]: `config.toml` (`deny_unknown_fields`) and the 0600 secret files.
//! - [`preflight`]: kernel, cgroups, root, disk and port checks (pure checks over gathered facts).
//! - [`components`]: which processes a node runs, in which order, and how each says it is healthy.
//! - [`supervisor`]: `dcos daemon supervisor`, restarts with backoff.
//! - [`systemd`]: unit files where systemd runs the machine.
//! - [`process`]: pidfiles, which processes are ours (pidfiles, cgroups, the node marker), cgroup cleanup.
//! - [`mounts`]: the mounts left under the data dir (containers' root file systems), unmounted deepest first.
//! - [`progress`]: spinners on a terminal, plain lines elsewhere.
//! - [`install`]: `install`, `status`, `uninstall`.

pub mod components;
pub mod config;
pub mod install;
pub mod mounts;
pub mod preflight;
pub mod process;
pub mod progress;
pub mod supervisor;
pub mod systemd;

pub use config::{Layout, NodeConfig, Ports, Role};
pub use install::{install, status, uninstall, InstallError, InstallOptions};
