//! The job model both APIs share, and its validation.
//!
//! A [`Job`] says what to run ([`RunSpec`]) and when: either
//! [`ScheduleSpec`]s (several allowed) or `parents` (a dependent job). The
//! Chronos and Metronome wire shapes are converted to and from this in
//! `api::chronos` and `api::metronome`; nothing here knows JSON field names
//! of either API. Validation errors carry the path of the bad field so each
//! API can report them in its own format.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::schedule::{Schedule, ScheduleError};

/// One job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Its name: Chronos `name`, Metronome `id`.
    pub id: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Owner e-mail(s) (Chronos `owner`).
    #[serde(default)]
    pub owner: String,
    /// Owner's name (Chronos `ownerName`).
    #[serde(default)]
    pub owner_name: String,
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// What each run runs.
    pub run: RunSpec,
    /// When it runs (empty for a dependent job).
    #[serde(default)]
    pub schedules: Vec<ScheduleSpec>,
    /// Jobs whose success (all of them, in the same cycle) triggers this one.
    #[serde(default)]
    pub parents: Vec<String>,
    /// A disabled job is never started by its schedule or its parents.
    #[serde(default)]
    pub disabled: bool,
    /// When it was first submitted (an empty ISO 8601 start means this).
    pub created: DateTime<Utc>,
}

/// What a run runs and needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    /// The command (with `shell`, run by `/bin/sh -c`).
    #[serde(default)]
    pub cmd: Option<String>,
    /// Arguments (without shell: argv; with: appended to the command).
    #[serde(default)]
    pub args: Vec<String>,
    /// Run the command through the shell.
    #[serde(default = "yes")]
    pub shell: bool,
    /// CPUs.
    pub cpus: f64,
    /// Memory, MiB.
    pub mem: f64,
    /// Disk, MiB.
    #[serde(default)]
    pub disk: f64,
    /// Environment.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// URIs fetched into the sandbox.
    #[serde(default)]
    pub fetch: Vec<Artifact>,
    /// Placement constraints.
    #[serde(default)]
    pub constraints: Vec<Constraint>,
    /// The user the task runs as.
    #[serde(default)]
    pub user: Option<String>,
    /// Docker image, if any: each run's task runs in a container of it
    /// (Metronome `docker.image`, Chronos `container.image`; the agent's
    /// Docker containerizer where an engine runs, else its native one).
    #[serde(default)]
    pub docker_image: Option<String>,
    /// Image for the Mesos (universal) containerizer (Metronome
    /// `ucr.image.id`).
    #[serde(default)]
    pub ucr_image: Option<String>,
    /// A run not started within this many seconds of being created fails
    /// (Metronome `maxLaunchDelay`).
    #[serde(default = "default_launch_delay")]
    pub max_launch_delay_secs: u64,
    /// A run still going after this many seconds is killed and fails
    /// (Chronos `maxCompletionTime`, in ms there).
    #[serde(default)]
    pub max_completion_secs: Option<u64>,
    /// What to do when a task fails.
    #[serde(default)]
    pub restart: Restart,
}

fn yes() -> bool {
    true
}

fn default_launch_delay() -> u64 {
    3600
}

/// A URI to fetch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Artifact {
    /// The URI.
    pub uri: String,
    /// Extract archives.
    #[serde(default = "yes")]
    pub extract: bool,
    /// Make it executable.
    #[serde(default)]
    pub executable: bool,
    /// Cache it on the agent.
    #[serde(default)]
    pub cache: bool,
}

/// A placement constraint on an agent attribute (or `hostname`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Constraint {
    /// Attribute name.
    pub attribute: String,
    /// How to compare.
    pub operator: Operator,
    /// Value (a regular expression for LIKE/UNLIKE: a plain value or `a|b`).
    pub value: String,
}

/// Constraint operators (Metronome IS = Chronos EQUALS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Operator {
    /// Equal.
    Is,
    /// Matches.
    Like,
    /// Does not match.
    Unlike,
}

/// What happens when a task of a run fails.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Restart {
    /// NEVER or ON_FAILURE.
    pub policy: RestartPolicy,
    /// ON_FAILURE: stop retrying this many seconds after the run started.
    #[serde(default)]
    pub active_deadline_secs: Option<u64>,
    /// ON_FAILURE: at most this many retries (Chronos `retries`); `None`
    /// means until the deadline (Metronome).
    #[serde(default)]
    pub max_retries: Option<u32>,
}

/// Restart policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum RestartPolicy {
    /// A failed task fails the run.
    #[default]
    Never,
    /// A failed task is retried.
    OnFailure,
}

/// The longest delay, deadline or timeout a job may set, in seconds (100
/// years): time arithmetic on it can never overflow.
pub const MAX_SECONDS: u64 = 100 * 366 * 86_400;
/// The most CPUs a run may ask for.
pub const MAX_CPUS: f64 = 100_000.0;
/// The most memory or disk (MiB) a run may ask for.
pub const MAX_MIB: f64 = 1.0e9;

impl Restart {
    /// Whether a run that has had `retries` retries and started at
    /// `started` may retry again at `now`.
    pub fn may_retry(&self, retries: u32, started: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        self.policy == RestartPolicy::OnFailure
            && self.max_retries.is_none_or(|m| retries < m)
            && self
                .active_deadline_secs
                .is_none_or(|d| (now - started).num_seconds() < d as i64)
    }
}

/// One schedule of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleSpec {
    /// Its id within the job (Metronome); Chronos jobs have one, `default`.
    pub id: String,
    /// The expression.
    pub expr: ScheduleExpr,
    /// IANA time zone (empty: UTC, or the ISO 8601 start's offset).
    #[serde(default)]
    pub timezone: String,
    /// A run not started this many seconds after its scheduled time is
    /// recorded as missed instead.
    pub starting_deadline_secs: u64,
    /// Whether a run may start while another run of the job is active.
    pub concurrency: Concurrency,
    /// A disabled schedule does not fire.
    pub enabled: bool,
}

/// The two schedule languages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ScheduleExpr {
    /// `R[n]/start/period`.
    Iso8601(String),
    /// 5-field cron.
    Cron(String),
}

impl ScheduleExpr {
    /// The expression as written.
    pub fn text(&self) -> &str {
        match self {
            ScheduleExpr::Iso8601(s) | ScheduleExpr::Cron(s) => s,
        }
    }
}

/// Concurrency policy (Metronome `concurrencyPolicy`, Chronos `concurrent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Concurrency {
    /// Runs may overlap.
    Allow,
    /// A run due while another is active is skipped (recorded as missed).
    Forbid,
}

impl ScheduleSpec {
    /// The parsed schedule (`created` stands in for an empty ISO start).
    pub fn parse(&self, created: DateTime<Utc>) -> Result<Schedule, ScheduleError> {
        match &self.expr {
            ScheduleExpr::Iso8601(s) => Schedule::iso8601(s, &self.timezone, created),
            ScheduleExpr::Cron(s) => Schedule::cron(s, &self.timezone),
        }
    }
}

/// One validation failure: which field, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON-pointer-like path in the Metronome shape (`/id`,
    /// `/schedules/0/cron`, `/run/cpus`).
    pub path: String,
    /// The message.
    pub message: String,
}

/// Why a job was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// Field errors.
    #[error("{}", .0.iter().map(|v| format!("{}: {}", v.path, v.message)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<Violation>),
}

/// Which name rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// Chronos: `[\w.-]+`.
    Chronos,
    /// Metronome: dot-separated segments of `[a-z0-9-]`, each starting and
    /// ending with a letter or digit.
    Metronome,
}

/// Checks a job name against `rule`.
pub fn check_name(name: &str, rule: NameRule) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    match rule {
        NameRule::Chronos => {
            if name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-')
            {
                Ok(())
            } else {
                Err(format!(
                    "invalid job name '{name}': only letters, digits, '_', '.' and '-' are allowed"
                ))
            }
        }
        NameRule::Metronome => {
            let ok = name.split('.').all(|seg| {
                !seg.is_empty()
                    && seg
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !seg.starts_with('-')
                    && !seg.ends_with('-')
            });
            if ok {
                Ok(())
            } else {
                Err(format!(
                    "invalid id '{name}': must be dot-separated segments of lowercase letters, digits and hyphens, e.g. prod.my-job"
                ))
            }
        }
    }
}

impl Job {
    /// Field checks that need no other job (the graph checks parents).
    pub fn validate(&self, rule: NameRule) -> Result<(), JobError> {
        let mut v = Vec::new();
        let mut bad = |path: &str, message: String| {
            v.push(Violation {
                path: path.to_owned(),
                message,
            })
        };
        if let Err(m) = check_name(&self.id, rule) {
            bad("/id", m);
        }
        let r = &self.run;
        if r.cmd.as_deref().is_none_or(str::is_empty) && r.args.is_empty() {
            bad("/run", "one of cmd or args must be given".into());
        }
        if !(r.cpus.is_finite() && r.cpus >= 0.01) {
            bad(
                "/run/cpus",
                format!("must be at least 0.01, got {}", r.cpus),
            );
        }
        if !(r.mem.is_finite() && r.mem >= 1.0) {
            bad("/run/mem", format!("must be at least 1 MiB, got {}", r.mem));
        }
        if !(r.disk.is_finite() && r.disk >= 0.0) {
            bad("/run/disk", format!("must not be negative, got {}", r.disk));
        }
        // No agent has more: a run asking for it would wait forever.
        for (path, value, max) in [
            ("/run/cpus", r.cpus, MAX_CPUS),
            ("/run/mem", r.mem, MAX_MIB),
            ("/run/disk", r.disk, MAX_MIB),
        ] {
            if value.is_finite() && value > max {
                bad(path, format!("must be at most {max}, got {value}"));
            }
        }
        for (path, value) in [
            ("/run/maxLaunchDelay", Some(r.max_launch_delay_secs)),
            (
                "/run/restart/activeDeadlineSeconds",
                r.restart.active_deadline_secs,
            ),
        ] {
            if value.is_some_and(|v| v > MAX_SECONDS) {
                bad(
                    path,
                    format!(
                        "must be at most {MAX_SECONDS} seconds (100 years), got {}",
                        value.unwrap_or_default()
                    ),
                );
            }
        }
        if self.parents.is_empty() && self.schedules.is_empty() && rule == NameRule::Chronos {
            bad("/schedule", "a job needs a schedule or parents".into());
        }
        if !self.parents.is_empty() && !self.schedules.is_empty() {
            bad(
                "/parents",
                "a job has either schedules or parents, not both".into(),
            );
        }
        for (i, p) in self.parents.iter().enumerate() {
            if p == &self.id {
                bad(
                    &format!("/parents/{i}"),
                    "a job cannot depend on itself".into(),
                );
            }
        }
        let mut ids = std::collections::BTreeSet::new();
        for (i, s) in self.schedules.iter().enumerate() {
            if !ids.insert(s.id.as_str()) {
                bad(
                    &format!("/schedules/{i}/id"),
                    format!("duplicate schedule id '{}'", s.id),
                );
            }
            if s.starting_deadline_secs > MAX_SECONDS {
                bad(
                    &format!("/schedules/{i}/startingDeadlineSeconds"),
                    format!(
                        "must be at most {MAX_SECONDS} seconds (100 years), got {}",
                        s.starting_deadline_secs
                    ),
                );
            }
            if let Err(e) = s.parse(self.created) {
                let field = match (&e, &s.expr) {
                    (ScheduleError::TimeZone(_), _) => "timezone",
                    (_, ScheduleExpr::Cron(_)) => "cron",
                    (_, ScheduleExpr::Iso8601(_)) => "schedule",
                };
                bad(&format!("/schedules/{i}/{field}"), e.to_string());
            }
        }
        if v.is_empty() {
            Ok(())
        } else {
            Err(JobError::Invalid(v))
        }
    }

    /// The command line a task runs, and whether through the shell.
    pub fn command_line(&self, extra_args: &[String]) -> (Option<String>, Vec<String>) {
        let mut args = self.run.args.clone();
        args.extend(extra_args.iter().cloned());
        match (&self.run.cmd, self.run.shell) {
            (Some(cmd), true) if !args.is_empty() => {
                (Some(format!("{cmd} {}", args.join(" "))), vec![])
            }
            (cmd, _) => (cmd.clone(), args),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn job(id: &str) -> Job {
        Job {
            id: id.into(),
            description: String::new(),
            owner: String::new(),
            owner_name: String::new(),
            labels: BTreeMap::new(),
            run: RunSpec {
                cmd: Some("true".into()),
                args: vec![],
                shell: true,
                cpus: 0.1,
                mem: 32.0,
                disk: 0.0,
                env: BTreeMap::new(),
                fetch: vec![],
                constraints: vec![],
                user: None,
                docker_image: None,
                ucr_image: None,
                max_launch_delay_secs: 3600,
                max_completion_secs: None,
                restart: Restart::default(),
            },
            schedules: vec![],
            parents: vec![],
            disabled: false,
            created: DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
        }
    }

    pub fn every(job: &mut Job, iso: &str) {
        job.schedules.push(ScheduleSpec {
            id: format!("s{}", job.schedules.len()),
            expr: ScheduleExpr::Iso8601(iso.into()),
            timezone: String::new(),
            starting_deadline_secs: 60,
            concurrency: Concurrency::Allow,
            enabled: true,
        });
    }

    #[test]
    fn names() {
        assert!(check_name("my_Job.v2-x", NameRule::Chronos).is_ok());
        for bad in ["", "a b", "a/b", "ä", "x;rm"] {
            assert!(check_name(bad, NameRule::Chronos).is_err(), "{bad}");
        }
        assert!(check_name("prod.my-job1", NameRule::Metronome).is_ok());
        for bad in ["", "My", "a..b", "-a", "a-", "a_b", "a b"] {
            assert!(check_name(bad, NameRule::Metronome).is_err(), "{bad}");
        }
    }

    #[test]
    fn validation_collects_paths() {
        let mut j = job("bad name");
        j.run.cmd = None;
        j.run.cpus = 0.0;
        j.schedules.push(ScheduleSpec {
            id: "x".into(),
            expr: ScheduleExpr::Cron("99 * * * *".into()),
            timezone: "UTC".into(),
            starting_deadline_secs: 1,
            concurrency: Concurrency::Allow,
            enabled: true,
        });
        j.schedules.push(ScheduleSpec {
            id: "y".into(),
            expr: ScheduleExpr::Cron("* * * * *".into()),
            timezone: "Nowhere/Land".into(),
            starting_deadline_secs: 1,
            concurrency: Concurrency::Allow,
            enabled: true,
        });
        let JobError::Invalid(v) = j.validate(NameRule::Metronome).unwrap_err();
        let paths: Vec<_> = v.iter().map(|v| v.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "/id",
                "/run",
                "/run/cpus",
                "/schedules/0/cron",
                "/schedules/1/timezone"
            ]
        );
        let mut ok = job("fine");
        every(&mut ok, "R/2025-01-01T00:00:00Z/PT1S");
        assert_eq!(ok.validate(NameRule::Chronos), Ok(()));
        let mut both = job("both");
        every(&mut both, "R/2025-01-01T00:00:00Z/PT1S");
        both.parents = vec!["a".into()];
        assert!(both.validate(NameRule::Chronos).is_err());
        let none = job("none");
        assert!(
            none.validate(NameRule::Chronos).is_err(),
            "Chronos needs schedule or parents"
        );
        assert!(
            none.validate(NameRule::Metronome).is_ok(),
            "Metronome jobs may have none"
        );
    }

    #[test]
    fn retry_rules() {
        let t0 = job("x").created;
        let never = Restart::default();
        assert!(!never.may_retry(0, t0, t0));
        let two = Restart {
            policy: RestartPolicy::OnFailure,
            active_deadline_secs: None,
            max_retries: Some(2),
        };
        assert!(two.may_retry(1, t0, t0));
        assert!(!two.may_retry(2, t0, t0));
        let deadline = Restart {
            policy: RestartPolicy::OnFailure,
            active_deadline_secs: Some(60),
            max_retries: None,
        };
        assert!(deadline.may_retry(100, t0, t0 + chrono::Duration::seconds(59)));
        assert!(!deadline.may_retry(0, t0, t0 + chrono::Duration::seconds(60)));
    }

    #[test]
    fn edge_numbers_are_refused_with_their_path() {
        let mut j = job("edge");
        j.run.cpus = 1e308;
        j.run.mem = 1e308;
        j.run.max_launch_delay_secs = 10_000_000_000_000_000;
        j.run.restart.active_deadline_secs = Some(u64::MAX);
        let Err(JobError::Invalid(v)) = j.validate(NameRule::Metronome) else {
            panic!("expected violations");
        };
        let paths: Vec<&str> = v.iter().map(|x| x.path.as_str()).collect();
        for p in [
            "/run/cpus",
            "/run/mem",
            "/run/maxLaunchDelay",
            "/run/restart/activeDeadlineSeconds",
        ] {
            assert!(paths.contains(&p), "{p} not in {paths:?}");
        }
    }
}
