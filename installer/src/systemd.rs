//! systemd units, where systemd is PID 1 (`/run/systemd/system` exists):
//! one `dcos-<component>.service` per component, `Restart=always` with
//! systemd's own backoff, written to `/etc/systemd/system`. Elsewhere
//! (containers, CI) the installer uses our supervisor instead.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::components::Component;

pub const UNIT_DIR: &str = "/etc/systemd/system";

/// Whether systemd manages this machine.
pub fn available() -> bool {
    Path::new("/run/systemd/system").is_dir() && std::env::var_os("DCOS_NO_SYSTEMD").is_none()
}

pub fn unit_name(component: &str) -> String {
    format!("dcos-{component}.service")
}

pub fn unit_path(component: &str) -> PathBuf {
    Path::new(UNIT_DIR).join(unit_name(component))
}

/// The unit file of one component; `after` is the unit it starts after.
pub fn unit_text(c: &Component, log: &Path, after: Option<&str>) -> String {
    let mut unit = String::new();
    unit.push_str("# Written by `dcos install`; removed by `dcos uninstall`.\n[Unit]\n");
    unit.push_str(&format!("Description=dcos {}\n", c.name));
    unit.push_str("After=network-online.target");
    if let Some(a) = after {
        unit.push_str(&format!(" {}", unit_name(a)));
    }
    unit.push_str("\nWants=network-online.target\n\n[Service]\n");
    for (k, v) in &c.env {
        unit.push_str(&format!("Environment={k}={v}\n"));
    }
    unit.push_str(&format!("ExecStart={}\n", c.command_line()));
    unit.push_str("Restart=always\nRestartSec=1\n");
    // The agent's executors and tasks outlive an agent restart.
    if c.name == "agent" {
        unit.push_str("KillMode=process\n");
    }
    unit.push_str(&format!(
        "StandardOutput=append:{}\nStandardError=append:{}\nLimitNOFILE=1048576\n\n[Install]\nWantedBy=multi-user.target\n",
        log.display(),
        log.display()
    ));
    unit
}

fn systemctl(args: &[&str]) -> std::io::Result<()> {
    let status = Command::new("systemctl").args(args).status()?;
    if status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "`systemctl {}` failed: {status}",
            args.join(" ")
        )))
    }
}

/// Writes and starts the units (idempotent: `enable --now` leaves a
/// running unit alone; a changed unit is restarted).
pub fn install(comps: &[Component], log: impl Fn(&str) -> PathBuf) -> std::io::Result<()> {
    let mut changed = Vec::new();
    let mut after = None;
    for c in comps {
        let text = unit_text(c, &log(c.name), after);
        let path = unit_path(c.name);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            std::fs::write(&path, text)?;
            changed.push(unit_name(c.name));
        }
        after = Some(c.name);
    }
    systemctl(&["daemon-reload"])?;
    for c in comps {
        systemctl(&["enable", "--now", &unit_name(c.name)])?;
    }
    for u in changed {
        systemctl(&["restart", &u])?;
    }
    Ok(())
}

/// Stops, disables and removes the units of these components.
pub fn uninstall(names: &[&str]) -> std::io::Result<()> {
    for n in names.iter().rev() {
        let path = unit_path(n);
        if path.exists() {
            let _ = systemctl(&["disable", "--now", &unit_name(n)]);
            std::fs::remove_file(path)?;
        }
    }
    let _ = systemctl(&["daemon-reload"]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_unit_restarts_and_logs_to_the_data_dir() {
        let c = Component {
            name: "agent",
            binary: "/usr/local/bin/dcos".into(),
            args: vec![
                "daemon".into(),
                "agent".into(),
                "--resources".into(),
                "cpus:1;mem:2".into(),
            ],
            health_url: "http://127.0.0.1:5051/health".into(),
            env: vec![("DCOS_LOG".into(), "info".into())],
        };
        let text = unit_text(&c, Path::new("/d/logs/agent.log"), Some("master"));
        assert!(
            text.contains(
                "ExecStart=/usr/local/bin/dcos daemon agent --resources 'cpus:1;mem:2'\n"
            ),
            "{text}"
        );
        assert!(text.contains("After=network-online.target dcos-master.service"));
        assert!(text.contains("Restart=always"));
        assert!(text.contains("KillMode=process"));
        assert!(text.contains("StandardOutput=append:/d/logs/agent.log"));
    }
}
