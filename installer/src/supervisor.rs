//! Our own supervisor, for machines without systemd: `dcos daemon
//! supervisor --data-dir D` runs detached (its own session, a pidfile in
//! `D/run/`, its log in `D/logs/supervisor.log`), starts the node's
//! components from `D/config.toml` in order (each waits until the one
//! before is healthy), appends each one's output to `D/logs/<name>.log`,
//! and restarts a component that exits, with exponential backoff that
//! resets once it has stayed up a while. SIGTERM stops the components in
//! reverse order and then the supervisor.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::components::{components, Component};
use crate::config::{ConfigError, Layout, NodeConfig};
use crate::process;

/// First restart delay; doubles per crash up to [`MAX_BACKOFF`].
pub const BASE_BACKOFF: Duration = Duration::from_millis(250);
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A component that ran this long is healthy again: its backoff resets.
pub const STABLE_AFTER: Duration = Duration::from_secs(10);
/// How long a component gets after SIGTERM before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(10);
/// The agent's: it holds its executors' connections open while they run
/// and would use all of [`STOP_GRACE`]; its state is checkpointed and its
/// tasks outlive it by design, so a short grace loses nothing.
pub const AGENT_STOP_GRACE: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// no config
    #[error("no node config at {0}: run `dcos install --data-dir …` first")]
    NoConfig(std::path::PathBuf),
    /// another supervisor
    #[error("another supervisor (pid {0}) already runs this data dir")]
    AlreadyRunning(i32),
}

/// The delay before the next restart, given the current one and how long
/// the component ran: pure, so the policy is unit-tested.
pub fn next_backoff(current: Duration, ran_for: Duration) -> (Duration, Duration) {
    if ran_for >= STABLE_AFTER {
        (BASE_BACKOFF, (BASE_BACKOFF * 2).min(MAX_BACKOFF))
    } else {
        (current, (current * 2).min(MAX_BACKOFF))
    }
}

/// Runs the supervisor until SIGTERM/SIGINT.
pub async fn run(data_dir: &Path) -> Result<(), SupervisorError> {
    // Leave the installer's session and terminal (fails harmlessly when
    // we already lead a session, e.g. under systemd).
    let _ = nix::unistd::setsid();
    let layout = Layout::new(data_dir);
    let cfg = NodeConfig::load(&layout.config())?
        .ok_or_else(|| SupervisorError::NoConfig(layout.config()))?;
    let pidfile = layout.pidfile("supervisor");
    if let Some(pid) = process::read_pidfile(&pidfile) {
        if pid != std::process::id() as i32 && process::is_ours(pid, data_dir) {
            return Err(SupervisorError::AlreadyRunning(pid));
        }
    }
    process::write_pidfile(&pidfile, std::process::id() as i32)?;
    std::fs::create_dir_all(layout.logs()).map_err(|source| ConfigError::Io {
        action: "create",
        path: layout.logs(),
        source,
    })?;

    let comps = components(&cfg, &layout);
    // Components left over by a supervisor that was killed -9.
    for c in &comps {
        process::stop_from_pidfile(&layout.pidfile(c.name), data_dir, STOP_GRACE).await;
    }

    let mut running = Vec::new();
    let mut shutdown = Box::pin(shutdown_signal());
    for c in comps {
        let (tx, rx) = watch::channel(false);
        let url = c.health_url.clone();
        let name = c.name;
        let handle = tokio::spawn(keep_running(c, layout.clone(), rx));
        running.push((name, tx, handle));
        // The next component needs this one (the store, above all).
        let ready = wait_healthy(&url, Duration::from_secs(60));
        tokio::select! {
            ok = ready => if !ok {
                tracing::warn!(component = name, "not healthy after 60 s; starting the next anyway");
            },
            _ = &mut shutdown => {
                stop_all(running).await;
                let _ = std::fs::remove_file(&pidfile);
                return Ok(());
            }
        }
    }
    tracing::info!("all components started");
    shutdown.await;
    stop_all(running).await;
    let _ = std::fs::remove_file(&pidfile);
    Ok(())
}

type Running = Vec<(
    &'static str,
    watch::Sender<bool>,
    tokio::task::JoinHandle<()>,
)>;

/// Stops the components in reverse start order.
async fn stop_all(running: Running) {
    for (name, tx, handle) in running.into_iter().rev() {
        tracing::info!(component = name, "stopping");
        let _ = tx.send(true);
        let _ = handle.await;
    }
}

/// Polls `url` until it answers 2xx or `timeout` passes.
pub async fn wait_healthy(url: &str, timeout: Duration) -> bool {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap_or_default();
    let start = Instant::now();
    while start.elapsed() < timeout {
        if healthy(&client, url).await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

pub async fn healthy(client: &reqwest::Client, url: &str) -> bool {
    matches!(client.get(url).send().await, Ok(r) if r.status().is_success())
}

fn spawn(c: &Component, layout: &Layout) -> std::io::Result<tokio::process::Child> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(layout.log(c.name))?;
    let mut cmd = tokio::process::Command::new(&c.binary);
    cmd.args(&c.args)
        .envs(c.env.iter().cloned())
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log));
    cmd.spawn()
}

/// Keeps one component running until told to stop.
async fn keep_running(c: Component, layout: Layout, mut stop: watch::Receiver<bool>) {
    let pidfile = layout.pidfile(c.name);
    let mut backoff = BASE_BACKOFF;
    loop {
        let started = Instant::now();
        match spawn(&c, &layout) {
            Ok(mut child) => {
                let pid = child.id().map(|p| p as i32).unwrap_or(0);
                tracing::info!(component = c.name, pid, "started");
                let _ = process::write_pidfile(&pidfile, pid);
                tokio::select! {
                    status = child.wait() => {
                        let (delay, next) = next_backoff(backoff, started.elapsed());
                        tracing::warn!(
                            component = c.name,
                            status = %status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string()),
                            ran_for = ?started.elapsed(),
                            restart_in = ?delay,
                            "exited; restarting",
                        );
                        backoff = next;
                        tokio::select! {
                            _ = tokio::time::sleep(delay) => {}
                            _ = stop.changed() => { let _ = std::fs::remove_file(&pidfile); return; }
                        }
                    }
                    _ = stop.changed() => {
                        let grace = if c.name == "agent" { AGENT_STOP_GRACE } else { STOP_GRACE };
                        process::terminate(pid, grace).await;
                        let _ = child.wait().await;
                        let _ = std::fs::remove_file(&pidfile);
                        return;
                    }
                }
            }
            Err(e) => {
                tracing::error!(component = c.name, error = %e, "cannot start");
                let (delay, next) = next_backoff(backoff, Duration::ZERO);
                backoff = next;
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stop.changed() => return,
                }
            }
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("supervisor shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_resets_after_a_stable_run() {
        let (d, next) = next_backoff(BASE_BACKOFF, Duration::from_millis(100));
        assert_eq!(d, BASE_BACKOFF);
        assert_eq!(next, BASE_BACKOFF * 2);
        let (d, next) = next_backoff(next, Duration::from_millis(100));
        assert_eq!(d, BASE_BACKOFF * 2);
        assert_eq!(next, BASE_BACKOFF * 4);
        let (_, capped) = next_backoff(MAX_BACKOFF, Duration::ZERO);
        assert_eq!(capped, MAX_BACKOFF);
        let (d, _) = next_backoff(Duration::from_secs(16), STABLE_AFTER);
        assert_eq!(d, BASE_BACKOFF);
    }
}
