//! Task health checks, run by the executor as in Mesos: COMMAND (`sh -c`
//! in the sandbox with the task's environment), HTTP (`GET
//! <scheme>://127.0.0.1:<port><path>`, healthy on 2xx/3xx or the listed
//! `statuses`) and TCP (a connect), first after `delay_seconds`, then every
//! `interval_seconds`, each bounded by `timeout_seconds`.
//!
//! [`HealthState`] is the pure verdict: failures inside
//! `grace_period_seconds` (before the first success) do not count; the
//! verdict is reported when it changes (TASK_RUNNING with `healthy`,
//! reason REASON_TASK_HEALTH_CHECK_STATUS_UPDATED); after
//! `consecutive_failures` failures in a row the task is killed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use dcos_api::v1::{CheckType, HealthCheck};
use tokio::sync::mpsc;

/// What one result means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing to report.
    Unchanged,
    /// Report `healthy` (the verdict changed).
    Changed(bool),
    /// Too many failures: kill the task (reporting unhealthy).
    Kill,
}

/// Running verdict of one task's health check.
#[derive(Debug, Clone)]
pub struct HealthState {
    started: Instant,
    grace: Duration,
    max_failures: u32,
    failures: u32,
    seen_success: bool,
    healthy: Option<bool>,
}

impl HealthState {
    /// A check that started at `started`.
    pub fn new(check: &HealthCheck, started: Instant) -> Self {
        Self {
            started,
            grace: Duration::from_secs_f64(check.grace_period_seconds().max(0.0)),
            max_failures: check.consecutive_failures().max(1),
            failures: 0,
            seen_success: false,
            healthy: None,
        }
    }

    /// Takes one result observed at `now`.
    pub fn observe(&mut self, ok: bool, now: Instant) -> Verdict {
        if ok {
            self.failures = 0;
            self.seen_success = true;
            return self.set(true);
        }
        if !self.seen_success && now.duration_since(self.started) < self.grace {
            return Verdict::Unchanged;
        }
        self.failures += 1;
        if self.failures >= self.max_failures {
            self.healthy = Some(false);
            return Verdict::Kill;
        }
        self.set(false)
    }

    fn set(&mut self, healthy: bool) -> Verdict {
        if self.healthy == Some(healthy) {
            Verdict::Unchanged
        } else {
            self.healthy = Some(healthy);
            Verdict::Changed(healthy)
        }
    }
}

/// Runs `check` forever, sending each result (true = healthy) to `tx`;
/// ends when `tx` is closed.
pub async fn run(
    check: HealthCheck,
    env: BTreeMap<String, String>,
    dir: PathBuf,
    tx: mpsc::UnboundedSender<bool>,
) {
    tokio::time::sleep(Duration::from_secs_f64(check.delay_seconds().max(0.0))).await;
    let interval = Duration::from_secs_f64(check.interval_seconds().max(0.01));
    let timeout = Duration::from_secs_f64(check.timeout_seconds().max(0.01));
    let http = reqwest::Client::new();
    loop {
        let ok = tokio::time::timeout(timeout, once(&check, &env, &dir, &http))
            .await
            .unwrap_or(false);
        if tx.send(ok).is_err() {
            return;
        }
        tokio::time::sleep(interval).await;
    }
}

async fn once(
    check: &HealthCheck,
    env: &BTreeMap<String, String>,
    dir: &PathBuf,
    http: &reqwest::Client,
) -> bool {
    match check.effective_kind() {
        CheckType::Command => {
            let Some(cmd) = &check.command else {
                return false;
            };
            let mut c = if cmd.is_shell() {
                let mut c = tokio::process::Command::new("sh");
                c.arg("-c").arg(cmd.value.clone().unwrap_or_default());
                c
            } else {
                let mut c = tokio::process::Command::new(cmd.value.clone().unwrap_or_default());
                c.args(cmd.arguments.iter().skip(1));
                c
            };
            c.envs(env)
                .current_dir(dir)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true);
            c.status().await.map(|s| s.success()).unwrap_or(false)
        }
        CheckType::Http => {
            let Some(h) = &check.http else {
                return false;
            };
            let scheme = h.scheme.as_deref().unwrap_or("http");
            let path = h.path.as_deref().unwrap_or("/");
            let url = format!("{scheme}://127.0.0.1:{}{path}", h.port);
            match http.get(url).send().await {
                Ok(r) => {
                    let code = u32::from(r.status().as_u16());
                    if h.statuses.is_empty() {
                        (200..400).contains(&code)
                    } else {
                        h.statuses.contains(&code)
                    }
                }
                Err(_) => false,
            }
        }
        CheckType::Tcp => {
            let Some(t) = &check.tcp else {
                return false;
            };
            tokio::net::TcpStream::connect(("127.0.0.1", t.port as u16))
                .await
                .is_ok()
        }
        CheckType::Unknown => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dcos_api::v1::{CommandInfo, TcpCheckInfo};

    fn check(grace: f64, failures: u32) -> HealthCheck {
        HealthCheck {
            grace_period_seconds: Some(grace),
            consecutive_failures: Some(failures),
            ..HealthCheck::default()
        }
    }

    #[test]
    fn grace_hides_early_failures_and_changes_are_reported_once() {
        let t0 = Instant::now();
        let mut h = HealthState::new(&check(10.0, 3), t0);
        assert_eq!(
            h.observe(false, t0 + Duration::from_secs(1)),
            Verdict::Unchanged
        );
        assert_eq!(
            h.observe(true, t0 + Duration::from_secs(2)),
            Verdict::Changed(true)
        );
        assert_eq!(
            h.observe(true, t0 + Duration::from_secs(3)),
            Verdict::Unchanged
        );
        // After a success the grace period no longer applies.
        assert_eq!(
            h.observe(false, t0 + Duration::from_secs(4)),
            Verdict::Changed(false)
        );
        assert_eq!(
            h.observe(false, t0 + Duration::from_secs(5)),
            Verdict::Unchanged
        );
        assert_eq!(h.observe(false, t0 + Duration::from_secs(6)), Verdict::Kill);
    }

    #[test]
    fn failures_after_grace_count() {
        let t0 = Instant::now();
        let mut h = HealthState::new(&check(1.0, 1), t0);
        assert_eq!(h.observe(false, t0), Verdict::Unchanged);
        assert_eq!(h.observe(false, t0 + Duration::from_secs(2)), Verdict::Kill);
    }

    #[tokio::test]
    async fn command_and_tcp_checks() {
        let dir = std::env::temp_dir();
        let http = reqwest::Client::new();
        let mut c = HealthCheck {
            command: Some(CommandInfo::shell("test \"$X\" = 1")),
            ..HealthCheck::default()
        };
        let env: BTreeMap<String, String> = [("X".to_owned(), "1".to_owned())].into();
        assert!(once(&c, &env, &dir, &http).await);
        c.command = Some(CommandInfo::shell("exit 3"));
        assert!(!once(&c, &env, &dir, &http).await);

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let t = HealthCheck {
            tcp: Some(TcpCheckInfo {
                protocol: None,
                port: u32::from(port),
            }),
            ..HealthCheck::default()
        };
        assert!(once(&t, &env, &dir, &http).await);
        // A port bound but not listening refuses connections and, unlike
        // a closed one, cannot be taken meanwhile by another test's listener.
        let refusing = tokio::net::TcpSocket::new_v4().unwrap();
        refusing.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let closed = HealthCheck {
            tcp: Some(TcpCheckInfo {
                protocol: None,
                port: u32::from(refusing.local_addr().unwrap().port()),
            }),
            ..HealthCheck::default()
        };
        assert!(!once(&closed, &env, &dir, &http).await);
        drop(listener);
    }
}
