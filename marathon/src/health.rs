//! Marathon-side health checks: the legacy `HTTP`, `HTTPS` and `TCP`
//! protocols, which real Marathon probes from its leader (the `MESOS_*`
//! and `COMMAND` checks go into the task and run on the agent, see
//! [`crate::state::mesos_health_check`]).
//!
//! Owns the per-check result of one instance ([`Health`], Marathon's
//! `healthCheckResults` entry), the pure state machine that folds a probe
//! outcome into it ([`Health::record`]: grace period, consecutive
//! failures, when to kill), the classification of an HTTP answer, and the
//! probe itself ([`probe`]: one GET or one TCP connect with a timeout).
//! Which probes are due, and what a verdict does to the books, is
//! [`crate::state::Books`]' business; when they run is the runtime's.

use std::time::Duration;

use serde::Serialize;

use crate::app::HealthCheckDef;

/// The result of one check on one instance, as Marathon reports it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// First passing probe (Unix seconds).
    pub first_success: Option<f64>,
    /// Latest passing probe.
    pub last_success: Option<f64>,
    /// Latest counted failure.
    pub last_failure: Option<f64>,
    /// Why the latest counted failure failed.
    pub last_failure_cause: Option<String>,
    /// Counted failures since the last success.
    pub consecutive_failures: u32,
}

/// What one probe found.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// HTTP 200–399, or the TCP connection was accepted.
    Healthy,
    /// Anything else, with the cause (`500 Internal Server Error`, a
    /// timeout, a refused connection).
    Unhealthy(String),
    /// An HTTP 1xx with `ignoreHttp1xx`: neither success nor failure.
    Ignored,
}

/// What a recorded outcome means for the instance.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verdict {
    /// A failure that counted (not hidden by the grace period):
    /// `failed_health_check_event`.
    pub failed: bool,
    /// `alive` changed to this: `health_status_changed_event`.
    pub changed: Option<bool>,
    /// More than `maxConsecutiveFailures` failures in a row (and that is
    /// not 0): kill the instance.
    pub kill: bool,
}

impl Health {
    /// Marathon's rule: a success after the latest failure.
    pub fn alive(&self) -> bool {
        self.last_success
            .is_some_and(|s| self.last_failure.is_none_or(|f| s > f))
    }

    /// Folds an outcome seen at `now` in, for an instance running since
    /// `running_since`. As Marathon: failures within
    /// `gracePeriodSeconds` of the start are ignored until the first
    /// success; the instance is killed when a failure arrives after
    /// `maxConsecutiveFailures` failures in a row ("fails more than
    /// maxConsecutiveFailures"), never when that is 0.
    pub fn record(
        &mut self,
        outcome: Outcome,
        now: f64,
        running_since: f64,
        check: &HealthCheckDef,
    ) -> Verdict {
        let was = self.alive();
        let mut verdict = Verdict::default();
        match outcome {
            Outcome::Ignored => return verdict,
            Outcome::Healthy => {
                self.first_success.get_or_insert(now);
                self.last_success = Some(now);
                self.consecutive_failures = 0;
            }
            Outcome::Unhealthy(cause) => {
                if self.first_success.is_none() && now < running_since + check.grace_period_seconds
                {
                    return verdict;
                }
                verdict.failed = true;
                verdict.kill = check.max_consecutive_failures > 0
                    && self.consecutive_failures >= check.max_consecutive_failures;
                self.last_failure = Some(now);
                self.last_failure_cause = Some(cause);
                self.consecutive_failures += 1;
            }
        }
        if self.alive() != was {
            verdict.changed = Some(self.alive());
        }
        verdict
    }
}

impl Health {
    /// Records a verdict someone else reached (the agent's, for a Mesos
    /// check): no grace period, no kill decision here.
    pub fn observe(&mut self, alive: bool, now: f64, cause: String) {
        if alive {
            self.first_success.get_or_insert(now);
            self.last_success = Some(now);
            self.consecutive_failures = 0;
        } else {
            self.last_failure = Some(now);
            self.last_failure_cause = Some(cause);
            self.consecutive_failures += 1;
        }
    }
}

/// An HTTP status as a health outcome: 200–399 healthy, 1xx ignored when
/// asked to, anything else unhealthy with the status line as the cause.
pub fn http_outcome(status: u16, reason: &str, ignore_1xx: bool) -> Outcome {
    match status {
        200..=399 => Outcome::Healthy,
        100..=199 if ignore_1xx => Outcome::Ignored,
        _ => Outcome::Unhealthy(format!("{status} {reason}").trim_end().to_owned()),
    }
}

/// Where and how to probe.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// GET this URL (`http://` or `https://`).
    Http {
        /// The URL.
        url: String,
        /// `ignoreHttp1xx`.
        ignore_1xx: bool,
    },
    /// Connect to `host:port`.
    Tcp {
        /// `host:port`.
        addr: String,
    },
}

/// One probe to run: the instance, which of its app's `healthChecks`, the
/// target and the timeout.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// The instance (task id).
    pub task_id: String,
    /// Index in the instance's `healthChecks`.
    pub index: usize,
    /// What to probe.
    pub target: Target,
    /// `timeoutSeconds`.
    pub timeout: Duration,
}

/// The target of a Marathon-side check on an instance at `host` with host
/// `ports`; `None` for Mesos checks or when the port is unknown.
pub fn target(check: &HealthCheckDef, host: &str, ports: &[u32]) -> Option<Target> {
    let port = check.effective_port(ports)?;
    let path = check.path.as_deref().unwrap_or("/");
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    match check.protocol.as_str() {
        "HTTP" | "HTTPS" => Some(Target::Http {
            url: format!(
                "{}://{host}:{port}{path}",
                check.protocol.to_ascii_lowercase()
            ),
            ignore_1xx: check.ignore_http1xx,
        }),
        "TCP" => Some(Target::Tcp {
            addr: format!("{host}:{port}"),
        }),
        _ => None,
    }
}

/// The HTTP client of the probes: no redirects followed (a 3xx is
/// healthy), and, as Marathon, no certificate verification for HTTPS —
/// this is a liveness probe, not a trust decision.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .danger_accept_invalid_certs(true)
        .pool_max_idle_per_host(0)
        .build()
        .unwrap_or_default()
}

/// Runs one probe (at most `timeout`).
pub async fn probe(http: &reqwest::Client, probe: &Probe) -> Outcome {
    match &probe.target {
        Target::Http { url, ignore_1xx } => {
            match http.get(url).timeout(probe.timeout).send().await {
                Ok(r) => {
                    let s = r.status();
                    http_outcome(s.as_u16(), s.canonical_reason().unwrap_or(""), *ignore_1xx)
                }
                Err(e) if e.is_timeout() => Outcome::Unhealthy(format!(
                    "no answer within {} s",
                    probe.timeout.as_secs_f64()
                )),
                Err(e) => Outcome::Unhealthy(error_chain(&e)),
            }
        }
        Target::Tcp { addr } => {
            match tokio::time::timeout(probe.timeout, tokio::net::TcpStream::connect(addr)).await {
                Ok(Ok(_)) => Outcome::Healthy,
                Ok(Err(e)) => Outcome::Unhealthy(format!("ConnectException: {e}")),
                Err(_) => Outcome::Unhealthy(format!(
                    "no connection within {} s",
                    probe.timeout.as_secs_f64()
                )),
            }
        }
    }
}

/// An error with its causes (reqwest's own message says little).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cur = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(grace: f64, max: u32) -> HealthCheckDef {
        serde_json::from_value(serde_json::json!({
            "protocol": "HTTP", "gracePeriodSeconds": grace, "maxConsecutiveFailures": max,
            "intervalSeconds": 1, "timeoutSeconds": 1
        }))
        .unwrap()
    }

    fn bad() -> Outcome {
        Outcome::Unhealthy("500 Internal Server Error".into())
    }

    #[test]
    fn failures_in_the_grace_period_do_not_count_until_the_first_success() {
        let c = check(10.0, 2);
        let mut h = Health::default();
        // Started at 100: failures up to 110 are ignored entirely.
        assert_eq!(h.record(bad(), 101.0, 100.0, &c), Verdict::default());
        assert_eq!(h.record(bad(), 109.0, 100.0, &c), Verdict::default());
        assert_eq!(h, Health::default());
        let v = h.record(Outcome::Healthy, 109.5, 100.0, &c);
        assert_eq!(v.changed, Some(true));
        assert!(h.alive());
        assert_eq!(h.first_success, Some(109.5));
        // After a success the grace period no longer hides failures.
        let v = h.record(bad(), 109.8, 100.0, &c);
        assert!(v.failed && !v.kill);
        assert_eq!(v.changed, Some(false));
        assert_eq!(h.consecutive_failures, 1);
        assert_eq!(
            h.last_failure_cause.as_deref(),
            Some("500 Internal Server Error")
        );
        // Past the grace period, failures count from the start.
        let mut late = Health::default();
        let v = late.record(bad(), 111.0, 100.0, &c);
        assert!(v.failed);
        assert_eq!(v.changed, None, "never alive, still not alive");
    }

    #[test]
    fn killed_after_more_than_max_consecutive_failures_and_never_with_zero() {
        let c = check(0.0, 3);
        let mut h = Health::default();
        h.record(Outcome::Healthy, 1.0, 0.0, &c);
        let kills: Vec<bool> = (0..4)
            .map(|i| h.record(bad(), 2.0 + f64::from(i), 0.0, &c).kill)
            .collect();
        assert_eq!(kills, [false, false, false, true]);
        // A success resets the count.
        h.record(Outcome::Healthy, 10.0, 0.0, &c);
        assert_eq!(h.consecutive_failures, 0);
        assert!(!h.record(bad(), 11.0, 0.0, &c).kill);

        let never = check(0.0, 0);
        let mut h = Health::default();
        for i in 0..50 {
            assert!(!h.record(bad(), f64::from(i), 0.0, &never).kill);
        }
        assert_eq!(h.consecutive_failures, 50);
    }

    #[test]
    fn http_codes_and_ignore_http1xx() {
        assert_eq!(http_outcome(200, "OK", false), Outcome::Healthy);
        assert_eq!(http_outcome(302, "Found", false), Outcome::Healthy);
        assert_eq!(http_outcome(399, "", false), Outcome::Healthy);
        assert_eq!(
            http_outcome(500, "Internal Server Error", false),
            Outcome::Unhealthy("500 Internal Server Error".into())
        );
        assert_eq!(
            http_outcome(404, "Not Found", true),
            Outcome::Unhealthy("404 Not Found".into())
        );
        assert_eq!(http_outcome(102, "Processing", true), Outcome::Ignored);
        assert!(matches!(
            http_outcome(102, "Processing", false),
            Outcome::Unhealthy(_)
        ));
        // An ignored answer changes nothing, not even within a streak.
        let c = check(0.0, 1);
        let mut h = Health::default();
        h.record(bad(), 1.0, 0.0, &c);
        assert_eq!(h.record(Outcome::Ignored, 2.0, 0.0, &c), Verdict::default());
        assert_eq!(h.consecutive_failures, 1);
        assert!(h.record(bad(), 3.0, 0.0, &c).kill);
    }

    #[test]
    fn targets_use_port_index_or_port_and_skip_mesos_checks() {
        let mut c = check(0.0, 1);
        c.path = Some("health".into());
        c.port_index = Some(1);
        assert_eq!(
            target(&c, "h1", &[31000, 31001]),
            Some(Target::Http {
                url: "http://h1:31001/health".into(),
                ignore_1xx: false
            })
        );
        c.protocol = "TCP".into();
        c.port = Some(9000);
        c.port_index = None;
        assert_eq!(
            target(&c, "h1", &[31000]),
            Some(Target::Tcp {
                addr: "h1:9000".into()
            })
        );
        c.protocol = "MESOS_HTTP".into();
        assert_eq!(target(&c, "h1", &[31000]), None);
        c.protocol = "HTTPS".into();
        c.port = None;
        c.port_index = Some(3);
        assert_eq!(target(&c, "h1", &[31000]), None, "no such port");
    }

    #[tokio::test]
    async fn https_probes_accept_a_self_signed_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let (key, cert) = (dir.path().join("k.pem"), dir.path().join("c.pem"));
        let made = std::process::Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args(["-subj", "/CN=example.invalid", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(std::process::Stdio::null())
            .status();
        if !made.is_ok_and(|s| s.success()) {
            dcos_skip::skip("openssl did not make a certificate (HTTPS probe not tested)");
            return;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        // `s_server -www` answers any GET with 200 and a status page.
        let _server = tokio::process::Command::new("openssl")
            .args(["s_server", "-www", "-accept", &format!("127.0.0.1:{port}")])
            .arg("-cert")
            .arg(&cert)
            .arg("-key")
            .arg(&key)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let https = Probe {
            task_id: "t".into(),
            index: 0,
            target: Target::Http {
                url: format!("https://127.0.0.1:{port}/health"),
                ignore_1xx: false,
            },
            timeout: Duration::from_secs(5),
        };
        let mut outcome = Outcome::Ignored;
        for _ in 0..100 {
            outcome = probe(&client(), &https).await;
            if outcome == Outcome::Healthy {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(outcome, Outcome::Healthy);
        // Plain HTTP to a TLS port is a failure, not a hang.
        let http = Probe {
            target: Target::Http {
                url: format!("http://127.0.0.1:{port}/health"),
                ignore_1xx: false,
            },
            ..https
        };
        assert!(matches!(
            probe(&client(), &http).await,
            Outcome::Unhealthy(_)
        ));
    }

    #[tokio::test]
    async fn probes_a_real_listener_and_a_closed_port() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let p = Probe {
            task_id: "t".into(),
            index: 0,
            target: Target::Tcp { addr: addr.clone() },
            timeout: Duration::from_secs(2),
        };
        assert_eq!(probe(&client(), &p).await, Outcome::Healthy);
        // Bound but not listening: refused, and no other test can take
        // the port meanwhile (as a dropped listener's could be).
        let refusing = tokio::net::TcpSocket::new_v4().unwrap();
        refusing.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let closed = Probe {
            target: Target::Tcp {
                addr: refusing.local_addr().unwrap().to_string(),
            },
            ..p
        };
        assert!(matches!(
            probe(&client(), &closed).await,
            Outcome::Unhealthy(_)
        ));
        drop(l);
    }
}
