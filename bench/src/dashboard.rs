//! `dcos-bench dashboard-pages`: how fast the dashboard's pages are
//! interactive on a loaded cluster, measured in the browser (headless
//! Chromium through chromedriver). Creates `--apps` apps of `--per-app`
//! instances through the gateway (on hollow agents they all run), waits
//! until every task runs, logs in through the page, then for each page:
//!
//! - **load**: a fresh load of the page's URL; `performance.now()` (ms
//!   since the navigation started) when the page shows its data;
//! - **nav**: the same page reached from the navigation bar (the app
//!   already loaded): ms from the click until it shows its data.
//!
//! "Shows its data" is a predicate per page (all apps' rows, all of an
//! app's tasks, the task counts), checked every animation frame in the
//! page. Prints one JSON line per page with the median and the worst of
//! `--runs` runs.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

#[derive(Debug, Args)]
pub struct DashboardArgs {
    /// The gateway (`http://127.0.0.1:8000`).
    #[arg(long)]
    pub gateway: String,
    /// chromedriver's URL (`http://127.0.0.1:9515`).
    #[arg(long)]
    pub webdriver: String,
    #[arg(long, default_value = "bench")]
    pub uid: String,
    #[arg(long, env = "DCOS_BENCH_PASSWORD", hide_env_values = true)]
    pub password: String,
    #[arg(long, default_value_t = 1000)]
    pub apps: usize,
    #[arg(long, default_value_t = 10)]
    pub per_app: usize,
    /// Agents expected on the Nodes page.
    #[arg(long, default_value_t = 1)]
    pub agents: usize,
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
}

/// Clicks `action` (a selector; none: a fresh load, measured from the
/// navigation's start) and waits in the page, every animation frame,
/// until `want` holds: `{sel, min, mode}`, mode `count` (at least `min`
/// elements match) or `number` (the first match's text is a number of at
/// least `min`); answers the ms it took. (No `eval`: the page's CSP.)
const MEASURE: &str = "
  const [want, action, done] = [arguments[0], arguments[1], arguments[arguments.length - 1]];
  const test = () => want.mode === 'count'
    ? document.querySelectorAll(want.sel).length >= want.min
    : Number((document.querySelector(want.sel) || {}).innerText) >= want.min;
  const t0 = action ? performance.now() : 0;
  if (action) document.querySelector(action).click();
  const deadline = performance.now() + 25000;
  const tick = () => {
    let ok = false;
    try { ok = test(); } catch (e) { ok = false; }
    if (ok) return done(performance.now() - t0);
    if (performance.now() > deadline) return done(-1);
    requestAnimationFrame(tick);
  };
  tick();";

pub async fn pages(a: DashboardArgs) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let token = login(&http, &a).await?;
    create_apps(&http, &a, &token).await?;
    let total = a.apps * a.per_app;
    wait_running(&http, &a, &token, total).await?;
    eprintln!("dashboard-pages: {total} tasks of {} apps running", a.apps);

    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1366,768"],
        },
    });
    let Value::Object(caps) = caps else {
        bail!("capabilities")
    };
    let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&a.webdriver)
        .await
        .context("connect to chromedriver")?;
    let result = measure_all(&c, &a, total).await;
    let _ = c.close().await;
    result
}

async fn measure_all(c: &Client, a: &DashboardArgs, total: usize) -> anyhow::Result<()> {
    c.goto(&a.gateway).await?;
    c.wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css("input[name=uid]"))
        .await?
        .send_keys(&a.uid)
        .await?;
    c.find(Locator::Css("input[name=password]"))
        .await?
        .send_keys(&a.password)
        .await?;
    c.find(Locator::Css("button[type=submit]"))
        .await?
        .click()
        .await?;
    c.wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css("nav a[href='/services']"))
        .await?;
    let app = "/bench/app-0000";
    let count = |sel: &str, min: usize| json!({"sel": sel, "min": min, "mode": "count"});
    let pages: Vec<(&str, String, &str, Value)> = vec![
        (
            "Overview",
            "/".into(),
            "a[href='/']",
            json!({"sel": "[data-testid=tasks-running]", "min": total, "mode": "number"}),
        ),
        (
            "Services",
            "/services".into(),
            "a[href='/services']",
            count("table.services tbody tr:not(.group)", a.apps),
        ),
        (
            "App",
            format!("/services/apps{app}"),
            "",
            count("table.tasks tbody tr", a.per_app),
        ),
        (
            "Jobs",
            "/jobs".into(),
            "a[href='/jobs']",
            count("[data-loaded=jobs]", 1),
        ),
        (
            "Nodes",
            "/nodes".into(),
            "a[href='/nodes']",
            count("table.nodes tbody tr", a.agents),
        ),
    ];
    for (name, path, link, predicate) in pages {
        let mut load = Vec::new();
        let mut nav = Vec::new();
        for _ in 0..a.runs {
            c.goto(&format!("{}{path}", a.gateway)).await?;
            load.push(run(c, &predicate, "").await?);
            if !link.is_empty() {
                // From another page, by the navigation bar.
                let away = if path == "/settings" {
                    "/"
                } else {
                    "/settings"
                };
                c.goto(&format!("{}{away}", a.gateway)).await?;
                c.wait()
                    .at_most(Duration::from_secs(30))
                    .for_element(Locator::Css("main h1"))
                    .await?;
                nav.push(run(c, &predicate, link).await?);
            }
        }
        let stats = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            if v.is_empty() {
                Value::Null
            } else {
                json!({"median_ms": v[v.len() / 2].round(), "max_ms": v[v.len() - 1].round()})
            }
        };
        println!(
            "{}",
            json!({"bench": "dashboard-pages", "page": name, "path": path, "apps": a.apps,
                   "tasks": total, "agents": a.agents, "runs": a.runs,
                   "load": stats(&mut load), "nav": stats(&mut nav)})
        );
    }
    Ok(())
}

async fn run(c: &Client, predicate: &Value, action: &str) -> anyhow::Result<f64> {
    let v = c
        .execute_async(MEASURE, vec![predicate.clone(), json!(action)])
        .await?;
    let ms = v.as_f64().unwrap_or(-1.0);
    if ms < 0.0 {
        let shown = c
            .execute("return [location.href, (document.querySelector('main') || document.body).innerText.slice(0, 200), performance.getEntriesByType('resource').map(e => [e.name, e.responseStatus, Math.round(e.duration)])];", vec![])
            .await
            .unwrap_or_default();
        bail!("the page never showed its data ({predicate}) within 25 s; it shows: {shown}");
    }
    Ok(ms)
}

async fn login(http: &reqwest::Client, a: &DashboardArgs) -> anyhow::Result<String> {
    let v: Value = http
        .post(format!("{}/acs/api/v1/auth/login", a.gateway))
        .json(&json!({"uid": a.uid, "password": a.password}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    v["token"].as_str().map(str::to_string).context("no token")
}

async fn create_apps(http: &reqwest::Client, a: &DashboardArgs, token: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    let ids: Vec<usize> = (0..a.apps).collect();
    for chunk in ids.chunks(16) {
        let posts: Vec<_> = chunk
            .iter()
            .map(|i| {
                let app = json!({"id": format!("/bench/app-{i:04}"), "cmd": "sleep 100000",
                                 "cpus": 0.01, "mem": 8, "instances": a.per_app,
                                 "portDefinitions": []});
                let req = http
                    .post(format!("{}/marathon/v2/apps", a.gateway))
                    .header("Authorization", format!("token={token}"))
                    .json(&app)
                    .send();
                tokio::spawn(req)
            })
            .collect();
        for p in posts {
            let r = p.await??;
            if !(r.status().is_success() || r.status() == reqwest::StatusCode::CONFLICT) {
                bail!("creating an app: {}", r.status());
            }
        }
    }
    eprintln!(
        "dashboard-pages: {} apps created in {:?}",
        a.apps,
        started.elapsed()
    );
    Ok(())
}

async fn wait_running(
    http: &reqwest::Client,
    a: &DashboardArgs,
    token: &str,
    total: usize,
) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        let v: Value = http
            .get(format!("{}/marathon/v2/apps", a.gateway))
            .header("Authorization", format!("token={token}"))
            .send()
            .await?
            .json()
            .await?;
        let running: u64 = v["apps"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a["tasksRunning"].as_u64())
            .sum();
        if running as usize >= total {
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(600) {
            bail!("only {running} of {total} tasks running after 10 min");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
