//! `dcos job …`: the Metronome v1 API through the gateway
//! (`/service/metronome/v1/…`, served by our Chronos).

use std::path::PathBuf;

use clap::Subcommand;
use reqwest::Method;
use serde_json::Value;

use crate::client::Api;
use crate::output::{self, read_json};

const J: &str = "/service/metronome/v1/jobs";

#[derive(Debug, Subcommand)]
pub enum JobCmd {
    /// Add a job from a JSON file (or stdin).
    Add {
        file: Option<PathBuf>,
    },
    List {
        #[arg(long)]
        json: bool,
    },
    Show {
        id: String,
    },
    /// Replace a job's definition from a JSON file (or stdin).
    Update {
        file: Option<PathBuf>,
    },
    Remove {
        id: String,
        /// Also stop its active runs.
        #[arg(long)]
        stop_current_job_runs: bool,
    },
    /// Start a run now.
    Run {
        id: String,
    },
    /// Stop a run (or every active run with --all).
    Kill {
        id: String,
        run: Option<String>,
        #[arg(long)]
        all: bool,
    },
    /// Finished runs.
    History {
        id: String,
        #[arg(long)]
        json: bool,
        /// Only the failed ones.
        #[arg(long)]
        failures: bool,
    },
    #[command(subcommand)]
    Schedule(ScheduleCmd),
}

#[derive(Debug, Subcommand)]
pub enum ScheduleCmd {
    Add {
        job: String,
        file: Option<PathBuf>,
    },
    Show {
        job: String,
        #[arg(long)]
        json: bool,
    },
    Update {
        job: String,
        file: Option<PathBuf>,
    },
    Remove {
        job: String,
        schedule: String,
    },
}

pub async fn run(cmd: JobCmd) -> anyhow::Result<()> {
    let api = Api::attached()?;
    match cmd {
        JobCmd::Add { file } => {
            let body = read_json(file.as_deref())?;
            let v = api.send(Method::POST, J, Some(&body)).await?;
            println!("added job {}", v["id"].as_str().unwrap_or("?"));
            Ok(())
        }
        JobCmd::List { json } => {
            let v = api
                .get(&format!("{J}?embed=activeRuns&embed=historySummary"))
                .await?;
            let jobs = v.as_array().cloned().unwrap_or_default();
            if json {
                return output::json(&jobs);
            }
            output::table(&["ID", "STATUS", "LAST RUN", "SCHEDULES"], job_rows(&jobs));
            Ok(())
        }
        JobCmd::Show { id } => output::json(&api.get(&format!("{J}/{id}")).await?),
        JobCmd::Update { file } => {
            let body = read_json(file.as_deref())?;
            let id = body["id"]
                .as_str()
                .ok_or_else(|| anyhow::anyhow!("the job definition needs an \"id\""))?
                .to_string();
            api.send(Method::PUT, &format!("{J}/{id}"), Some(&body))
                .await?;
            println!("updated job {id}");
            Ok(())
        }
        JobCmd::Remove {
            id,
            stop_current_job_runs,
        } => {
            api.send(
                Method::DELETE,
                &format!("{J}/{id}?stopCurrentJobRuns={stop_current_job_runs}"),
                None,
            )
            .await?;
            println!("removed job {id}");
            Ok(())
        }
        JobCmd::Run { id } => {
            let v = api
                .send(Method::POST, &format!("{J}/{id}/runs"), None)
                .await?;
            println!(
                "run {} of job {id} started",
                v["id"].as_str().unwrap_or("?")
            );
            Ok(())
        }
        JobCmd::Kill { id, run, all } => {
            let runs: Vec<String> = match (run, all) {
                (Some(r), _) => vec![r],
                (None, true) => api
                    .get(&format!("{J}/{id}/runs"))
                    .await?
                    .as_array()
                    .map(|rs| {
                        rs.iter()
                            .filter_map(|r| r["id"].as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
                (None, false) => anyhow::bail!(
                    "name the run to stop (`dcos job show {id}` lists active runs), or pass --all"
                ),
            };
            for r in &runs {
                api.send(
                    Method::POST,
                    &format!("{J}/{id}/runs/{r}/actions/stop"),
                    None,
                )
                .await?;
                println!("stopped run {r}");
            }
            Ok(())
        }
        JobCmd::History { id, json, failures } => {
            let v = api.get(&format!("{J}/{id}?embed=history")).await?;
            let rows = history_rows(&v["history"], failures);
            if json {
                return output::json(&v["history"]);
            }
            output::table(&["ID", "STATUS", "STARTED", "FINISHED"], rows);
            Ok(())
        }
        JobCmd::Schedule(c) => schedule(&api, c).await,
    }
}

pub fn job_rows(jobs: &[Value]) -> Vec<Vec<String>> {
    jobs.iter()
        .map(|j| {
            let active = j["activeRuns"].as_array().map(Vec::len).unwrap_or(0);
            let summary = &j["historySummary"];
            let last = match (
                summary["lastSuccessAt"].as_str(),
                summary["lastFailureAt"].as_str(),
            ) {
                (Some(s), Some(f)) if f > s => "failed",
                (Some(_), _) => "success",
                (None, Some(_)) => "failed",
                (None, None) => "-",
            };
            vec![
                j["id"].as_str().unwrap_or("").to_string(),
                if active > 0 { "running" } else { "idle" }.to_string(),
                last.to_string(),
                j["schedules"]
                    .as_array()
                    .map(Vec::len)
                    .unwrap_or(0)
                    .to_string(),
            ]
        })
        .collect()
}

pub fn history_rows(history: &Value, failures_only: bool) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let kinds: &[(&str, &str)] = if failures_only {
        &[("failedFinishedRuns", "failed")]
    } else {
        &[
            ("successfulFinishedRuns", "success"),
            ("failedFinishedRuns", "failed"),
        ]
    };
    for (key, label) in kinds {
        for r in history[*key].as_array().into_iter().flatten() {
            rows.push(vec![
                r["id"].as_str().unwrap_or("").to_string(),
                label.to_string(),
                r["createdAt"].as_str().unwrap_or("").to_string(),
                r["finishedAt"].as_str().unwrap_or("").to_string(),
            ]);
        }
    }
    rows.sort_by(|a, b| b[2].cmp(&a[2]));
    rows
}

async fn schedule(api: &Api, cmd: ScheduleCmd) -> anyhow::Result<()> {
    match cmd {
        ScheduleCmd::Add { job, file } => {
            let body = read_json(file.as_deref())?;
            let v = api
                .send(Method::POST, &format!("{J}/{job}/schedules"), Some(&body))
                .await?;
            println!(
                "added schedule {} to job {job}",
                v["id"].as_str().unwrap_or("?")
            );
            Ok(())
        }
        ScheduleCmd::Show { job, json } => {
            let v = api.get(&format!("{J}/{job}/schedules")).await?;
            if json {
                return output::json(&v);
            }
            let rows = v
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| {
                    vec![
                        s["id"].as_str().unwrap_or("").to_string(),
                        s["cron"].as_str().unwrap_or("").to_string(),
                        s["timezone"].as_str().unwrap_or("UTC").to_string(),
                        s["enabled"].to_string(),
                        s["nextRunAt"].as_str().unwrap_or("").to_string(),
                    ]
                })
                .collect();
            output::table(&["ID", "CRON", "TIME ZONE", "ENABLED", "NEXT RUN"], rows);
            Ok(())
        }
        ScheduleCmd::Update { job, file } => {
            let body = read_json(file.as_deref())?;
            let sid = body["id"]
                .as_str()
                .ok_or_else(|| anyhow::anyhow!("the schedule needs an \"id\""))?
                .to_string();
            api.send(
                Method::PUT,
                &format!("{J}/{job}/schedules/{sid}"),
                Some(&body),
            )
            .await?;
            println!("updated schedule {sid} of job {job}");
            Ok(())
        }
        ScheduleCmd::Remove { job, schedule } => {
            api.send(
                Method::DELETE,
                &format!("{J}/{job}/schedules/{schedule}"),
                None,
            )
            .await?;
            println!("removed schedule {schedule} from job {job}");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn history_rows_newest_first() {
        let h = json!({
            "successfulFinishedRuns": [{"id": "r1", "createdAt": "2026-01-01T00:00:00Z", "finishedAt": "2026-01-01T00:00:01Z"}],
            "failedFinishedRuns": [{"id": "r2", "createdAt": "2026-01-02T00:00:00Z", "finishedAt": "2026-01-02T00:00:01Z"}]
        });
        let rows = history_rows(&h, false);
        assert_eq!(rows[0][0], "r2");
        assert_eq!(rows[0][1], "failed");
        assert_eq!(rows[1][1], "success");
        assert_eq!(history_rows(&h, true).len(), 1);
    }

    #[test]
    fn job_rows_show_status() {
        let jobs = vec![
            json!({"id": "hello", "activeRuns": [{}], "historySummary": {"lastSuccessAt": "2026-01-01"}, "schedules": []}),
        ];
        assert_eq!(
            job_rows(&jobs),
            vec![vec!["hello", "running", "success", "0"]]
        );
    }
}
