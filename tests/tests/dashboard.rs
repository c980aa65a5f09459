//! The dashboard in headless Chromium (Debian's `chromium`, driven through
//! `chromedriver` with fantoccini) against real processes: a master, an
//! agent running real tasks, Marathon, Chronos and the gateway.
//!
//! * without a token the dashboard shows its login page, and every data
//!   request it made was refused (401);
//! * a wrong password is refused in words; the admin logs in;
//! * the Overview charts the agent's resources;
//! * an app is created through the form (cmd, cpus, an env var), seen
//!   in the JSON tab's code editor (loaded only then), changed there
//!   (instances; the form follows, a field the form lacks is kept),
//!   refused by Marathon with the error at its field and JSON line, then
//!   created; its page shows it reach running with no reload (Marathon's
//!   event stream), and Edit (prefilled, no read-only fields) scales it
//!   to 2;
//! * an app with an impossible constraint says why it waits, and is
//!   destroyed from its page;
//! * its task's log shows the task's output, and new lines arrive live;
//!   its sandbox is listed and its stdout downloads;
//! * a job is created through the form with a cron schedule (seen in
//!   the JSON), its schedule disabled and enabled, run from its page,
//!   and its run appears in its history; a second job with it as parent
//!   is created and edited with the form, and the Jobs page's graph
//!   draws the edge;
//! * axe-core finds no serious or critical accessibility problem on any
//!   page;
//! * the Nodes page shows the agent; at a phone's width the pages still
//!   fit;
//! * a user is added and removed on the Settings page;
//! * the node is drained from the Nodes page (its tasks are killed), and
//!   reactivated;
//! * logging out shows the login page and the API refuses the browser.
//!
//! And on a cluster from `dcos install` (as root: it has Cosmos), the
//! catalog: search, a package's page with its install form generated from
//! its options' schema (defaults filled, a bad value refused inline), the
//! rendered Marathon app reviewed with the changed options in it,
//! installed, seen running in Services with no reload, uninstalled from
//! the installed list; a repository added in Settings (its packages in the
//! catalog, an icon that does not load drawn as a letter) and removed.
//!
//! Each page is saved as a PNG under `target/ui-shots/` for review. The
//! two tests take turns (each runs a cluster and a Chromium).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dcos_tests::chronos::Chronos;
use dcos_tests::gateway::Gateway;
use dcos_tests::install::Node;
use dcos_tests::marathon::Marathon;
use dcos_tests::{free_port, require_tool, wait_until, workspace_root, Agent, Master};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

/// `chromedriver` and the Chromium it starts (found by their profile
/// directory on the command line), killed when the test ends.
struct Driver {
    child: Child,
    profile: PathBuf,
    port: u16,
}

impl Driver {
    fn start(profile: &Path) -> Driver {
        let port = free_port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        Driver {
            child,
            profile: profile.to_path_buf(),
            port,
        }
    }

    async fn connect(&self) -> Client {
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1366,768", "--hide-scrollbars",
                    format!("--user-data-dir={}", self.profile.display()),
                ],
            },
        });
        let Value::Object(caps) = capabilities else {
            unreachable!()
        };
        let start = Instant::now();
        loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{}", self.port))
                .await
            {
                Ok(c) => return c,
                Err(e) => {
                    assert!(
                        start.elapsed() < Duration::from_secs(30),
                        "chromedriver did not start Chromium: {e}"
                    );
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Chromium's processes outlive a killed chromedriver.
        let needle = format!("--user-data-dir={}", self.profile.display());
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            if String::from_utf8_lossy(&cmdline).contains(&needle) {
                let pid = entry.file_name().to_string_lossy().into_owned();
                let _ = Command::new("kill").args(["-9", &pid]).status();
            }
        }
    }
}

/// The page's visible text under `css` ("" if there is no such element).
async fn text(c: &Client, css: &str) -> String {
    c.execute(
        "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';",
        vec![json!(css)],
    )
    .await
    .ok()
    .and_then(|v| v.as_str().map(str::to_string))
    .unwrap_or_default()
}

/// Waits until the text under `css` contains `needle`; returns it.
async fn wait_text(c: &Client, css: &str, needle: &str, timeout: Duration) -> String {
    let start = Instant::now();
    loop {
        let t = text(c, css).await;
        if t.contains(needle) {
            return t;
        }
        if start.elapsed() > timeout {
            shot(
                c,
                &format!(
                    "failed-{}",
                    needle.replace(|ch: char| !ch.is_alphanumeric(), "_")
                ),
            )
            .await;
            panic!("after {timeout:?}, {css} does not show {needle:?}; it shows:\n{t}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn click_button(c: &Client, label: &str) {
    c.find(Locator::XPath(&format!(
        "//button[normalize-space()='{label}']"
    )))
    .await
    .unwrap_or_else(|e| panic!("no button {label:?}: {e}"))
    .click()
    .await
    .unwrap_or_else(|e| panic!("click {label:?}: {e}"));
}

/// Waits until the text under `css` no longer contains `needle`.
async fn wait_gone(c: &Client, css: &str, needle: &str, timeout: Duration) {
    let start = Instant::now();
    loop {
        let t = text(c, css).await;
        if !t.contains(needle) {
            return;
        }
        if start.elapsed() > timeout {
            shot(c, "failed-still-there").await;
            panic!("after {timeout:?}, {css} still shows {needle:?}:\n{t}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the script (an expression) is true in the page.
async fn wait_js(c: &Client, what: &str, expr: &str, timeout: Duration) {
    let start = Instant::now();
    loop {
        let v = c.execute(&format!("return !!({expr});"), vec![]).await;
        if matches!(v, Ok(Value::Bool(true))) {
            return;
        }
        if start.elapsed() > timeout {
            shot(c, "failed-condition").await;
            panic!("after {timeout:?}, not yet: {what} ({expr})");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Replaces what the input under `css` holds with `value`, as typed.
async fn fill(c: &Client, css: &str, value: &str) {
    let input = c
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no input {css}: {e}"));
    input.clear().await.unwrap();
    input.send_keys(value).await.unwrap();
}

/// Replaces the text of the page's code editor (CodeMirror) with `text`,
/// as typed: select all, then the keys.
async fn editor_type(c: &Client, text: &str) {
    let content = c
        .find(Locator::Css(".cm-content"))
        .await
        .unwrap_or_else(|e| panic!("no code editor: {e}"));
    content.click().await.unwrap();
    let select_all: String = [char::from(Key::Control), 'a', char::from(Key::Null)]
        .into_iter()
        .collect();
    content.send_keys(&select_all).await.unwrap();
    content.send_keys(text).await.unwrap();
}

/// The `value` of the input under `css`.
async fn value_of(c: &Client, css: &str) -> String {
    c.execute(
        "const e = document.querySelector(arguments[0]); return e ? e.value : null;",
        vec![json!(css)],
    )
    .await
    .ok()
    .and_then(|v| v.as_str().map(str::to_string))
    .unwrap_or_else(|| panic!("no input {css}"))
}

/// Asserts the page does not scroll sideways (a phone's width).
async fn fits(c: &Client, page: &str) {
    let overflow = c
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        overflow.as_i64().unwrap_or(1) <= 0,
        "the {page} page scrolls sideways: {overflow} px"
    );
}

async fn click_link(c: &Client, label: &str) {
    c.find(Locator::LinkText(label))
        .await
        .unwrap_or_else(|e| panic!("no link {label:?}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {label:?}: {e}"));
}

fn shots_dir() -> PathBuf {
    let dir = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace_root().join("target"))
        .join("ui-shots");
    std::fs::create_dir_all(&dir).expect("mkdir target/ui-shots");
    dir
}

/// Saves the page as `target/ui-shots/<name>.png`.
async fn shot(c: &Client, name: &str) {
    match c.screenshot().await {
        Ok(png) => {
            let path = shots_dir().join(format!("{name}.png"));
            std::fs::write(&path, png).expect("write screenshot");
            println!("dashboard: screenshot {}", path.display());
        }
        Err(e) => eprintln!("dashboard: no screenshot of {name}: {e}"),
    }
}

/// axe-core's script, from `ui/web/node_modules` (`ui/web/build.sh`'s
/// `npm ci` puts it there; `.ci/run` runs that before the tests). `None`
/// (the checks skipped, said once) outside CI when it is missing.
fn axe_source() -> Option<&'static str> {
    static SOURCE: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    SOURCE
        .get_or_init(|| {
            let path = workspace_root().join("ui/web/node_modules/axe-core/axe.min.js");
            match std::fs::read_to_string(&path) {
                Ok(s) => Some(s),
                Err(e) => {
                    dcos_skip::skip(&format!(
                        "the accessibility checks: no {} ({e}): run ui/web/build.sh",
                        path.display()
                    ));
                    None
                }
            }
        })
        .as_deref()
}

/// Runs axe-core on the page; fails on any serious or critical finding.
async fn accessible(c: &Client, page: &str) {
    let Some(src) = axe_source() else {
        return;
    };
    // WebDriver's scripts are not subject to the page's CSP.
    c.execute(&format!("{src}\n;return typeof axe;"), vec![])
        .await
        .expect("load axe-core");
    let found = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, {resultTypes: ['violations']}).then(
               r => done(r.violations
                 .filter(v => v.impact === 'serious' || v.impact === 'critical')
                 .map(v => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.slice(0, 4).map(n => n.target.join(' ')).join(', ')}`)),
               e => done([`axe failed: ${e}`]));",
            vec![],
        )
        .await
        .expect("run axe-core");
    let found: Vec<String> = serde_json::from_value(found).unwrap_or_default();
    assert!(
        found.is_empty(),
        "axe-core on the {page} page:\n{}",
        found.join("\n")
    );
    println!("dashboard: axe-core finds nothing serious on the {page} page");
}

/// Every request the page made under `prefix` with its HTTP status
/// (Resource Timing's `responseStatus`).
async fn requests(c: &Client, prefix: &str) -> Vec<(String, u64)> {
    let v = c
        .execute(
            "return performance.getEntriesByType('resource')
                .map(e => [new URL(e.name).pathname, e.responseStatus || 0]);",
            vec![],
        )
        .await
        .expect("resource timing");
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| Some((e[0].as_str()?.to_string(), e[1].as_u64()?)))
        .filter(|(p, _)| p.starts_with(prefix))
        .collect()
}

/// One browser test at a time: each runs a cluster and a Chromium.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_runs_a_cluster_from_a_browser() {
    if !require_tool("chromium") || !require_tool("chromedriver") {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().await;
    let tmp = tempfile::tempdir().unwrap();
    let master = Master::start(&tmp.path().join("master"), None, &[]);
    let agent = Agent::start(
        &tmp.path().join("agent"),
        &master.url(),
        &[
            "--resources",
            "cpus:4;mem:4096;disk:1000;ports:[32300-32399]",
            "--hostname",
            "127.0.0.1",
            "--attributes",
            "rack:r1;zone:a",
        ],
    );
    let marathon = Marathon::start(&master.url(), &[]);
    let chronos = Chronos::start(&master.url(), &[]);
    let gw = Gateway::start(
        &tmp.path().join("gateway"),
        &[master.url()],
        &[marathon.url()],
        &[chronos.url()],
    );
    wait_until(Duration::from_secs(30), "marathon is elected", || {
        marathon.is_leader()
    })
    .await;
    wait_until(Duration::from_secs(30), "chronos is elected", || {
        chronos.is_leader()
    })
    .await;
    let driver = Driver::start(&tmp.path().join("chromium"));
    let c = driver.connect().await;
    let long = Duration::from_secs(60);

    // Without a token: the login page, and no data request succeeded.
    c.goto(&gw.url()).await.unwrap();
    wait_text(&c, "body", "Log in to dcos", long).await;
    let data_requests: Vec<(String, u64)> = requests(&c, "/")
        .await
        .into_iter()
        .filter(|(p, _)| !p.starts_with("/assets/"))
        .collect();
    assert!(!data_requests.is_empty(), "the page checked its session");
    assert!(
        data_requests.iter().all(|(_, s)| *s == 401),
        "a data request succeeded without a token: {data_requests:?}"
    );
    // A page under a client route is the same login page (no data).
    c.goto(&format!("{}/services", gw.url())).await.unwrap();
    wait_text(&c, "body", "Log in to dcos", long).await;
    shot(&c, "login").await;
    accessible(&c, "login").await;

    // A wrong password is refused in words; the right one opens the Overview.
    let uid = c.find(Locator::Css("input[name=uid]")).await.unwrap();
    uid.send_keys("admin").await.unwrap();
    let pw = c.find(Locator::Css("input[name=password]")).await.unwrap();
    pw.send_keys("wrong-password").await.unwrap();
    click_button(&c, "Log in").await;
    wait_text(&c, "[role=alert]", "wrong", long).await;
    pw.clear().await.unwrap();
    pw.send_keys(&gw.admin_password).await.unwrap();
    click_button(&c, "Log in").await;
    // The login landed on /services (the URL typed before logging in).
    wait_text(&c, "main h1", "Services", long).await;
    wait_text(&c, "main", "No services yet", long).await;
    // From here on, a reload would lose this marker.
    c.execute("window.__noReload = 'still here'; return 1;", vec![])
        .await
        .unwrap();

    click_link(&c, "Overview").await;
    wait_text(&c, "main h1", "Overview", long).await;
    wait_text(&c, "[data-testid=usage-cpu]", "of 4 allocated", long).await;
    wait_text(&c, "main", "Gateway", long).await; // component health
    wait_text(&c, ".stream", "live", long).await; // Marathon's event stream
    shot(&c, "overview-empty").await;
    accessible(&c, "overview").await;

    // Create an app through the form, see it as JSON, change it there.
    click_link(&c, "Services").await;
    wait_text(&c, "main h1", "Services", long).await;
    click_link(&c, "Create an app").await;
    wait_text(&c, "main h1", "Create an app", long).await;
    assert_eq!(value_of(&c, "#app-id").await, "/hello", "the template");
    let cmd = "i=0; while true; do i=$((i+1)); echo hello-line-$i; sleep 1; done";
    fill(&c, "#app-id", "/e2e/hello").await;
    fill(&c, "#app-cmd", cmd).await;
    fill(&c, "#app-cpus", "0.1").await;
    fill(&c, "#app-instances", "3").await;
    click_button(&c, "Add a variable").await;
    fill(&c, "input[name=app-env-0-key]", "GREETING").await;
    fill(&c, "input[name=app-env-0-value]", "hi-from-the-form").await;
    shot(&c, "create-app").await;
    accessible(&c, "create app (form)").await;
    // The JSON tab: a code editor (loaded now, its own chunk) with the form's values.
    assert!(
        requests(&c, "/assets/codemirror-").await.is_empty(),
        "the code editor is not loaded before it is needed"
    );
    click_button(&c, "JSON").await;
    let json_text = wait_text(&c, ".cm-content", r#""GREETING": "hi-from-the-form""#, long).await;
    assert!(json_text.contains(r#""id": "/e2e/hello""#), "{json_text}");
    assert!(json_text.contains(r#""instances": 3"#), "{json_text}");
    assert_eq!(
        requests(&c, "/assets/codemirror-").await.len(),
        1,
        "the editor's chunk is loaded when the JSON tab opens"
    );
    // Broken JSON is marked in the editor; valid JSON moves the form,
    // and a field the form does not know stays.
    editor_type(&c, "{ not json").await;
    wait_text(&c, "#app-json-problem", "Not valid JSON", long).await;
    wait_js(
        &c,
        "a lint mark",
        "document.querySelector('.cm-lintRange-error, .cm-lint-marker-error')",
        long,
    )
    .await;
    let app = json!({
        "id": "/e2e/hello", "cmd": cmd, "cpus": 0.1, "mem": 32, "instances": 1,
        "env": {"GREETING": "hi-from-the-form"}, "maxLaunchDelaySeconds": 300,
    });
    editor_type(&c, &app.to_string()).await;
    wait_text(&c, "#app-json-problem", "Valid JSON", long).await;
    shot(&c, "create-app-json").await;
    accessible(&c, "create app (JSON)").await;
    click_button(&c, "Form").await;
    wait_js(&c, "the form follows the JSON", "document.querySelector('#app-instances') && document.querySelector('#app-instances').value === '1'", long).await;
    assert_eq!(
        value_of(&c, "input[name=app-env-0-value]").await,
        "hi-from-the-form"
    );
    // Marathon's 422 is shown at the field it names, and at its JSON line.
    fill(&c, "#app-cpus", "-1").await;
    click_button(&c, "Create").await;
    wait_text(&c, "#app-cpus-err", "/cpus", long).await;
    wait_js(
        &c,
        "the field is marked",
        "document.querySelector('#app-cpus').getAttribute('aria-invalid') === 'true'",
        long,
    )
    .await;
    c.execute(
        "document.getElementById('app-cpus').scrollIntoView({block: 'center'}); return 1;",
        vec![],
    )
    .await
    .unwrap();
    shot(&c, "create-app-refused").await;
    accessible(&c, "create app (refused)").await;
    click_button(&c, "JSON").await;
    wait_text(&c, "[data-testid=app-json-errors]", "/cpus", long).await;
    let errors = text(&c, "[data-testid=app-json-errors]").await;
    let json_now = text(&c, ".cm-content").await;
    let cpus_line = json_now
        .lines()
        .position(|l| l.contains(r#""cpus""#))
        .unwrap()
        + 1;
    assert!(
        errors.contains(&format!("line {cpus_line}:")),
        "{errors} / {json_now}"
    );
    assert!(
        json_now.contains(r#""maxLaunchDelaySeconds": 300"#),
        "{json_now}"
    );
    click_button(&c, "Form").await;
    fill(&c, "#app-cpus", "0.1").await;
    click_button(&c, "Create").await;

    // Its page: it reaches running without a reload.
    wait_text(&c, "main h1", "/e2e/hello", long).await;
    let created = Instant::now();
    wait_text(&c, "[data-testid=instances]", "1 running of 1", long).await;
    wait_text(&c, ".status", "Running", long).await;
    println!(
        "dashboard: the app page showed it running {:?} after it opened",
        created.elapsed()
    );
    wait_text(&c, "table.tasks", "running", long).await;
    shot(&c, "app-running").await;

    // Edit: the same form, prefilled without the read-only fields; scale to 2.
    click_button(&c, "Edit").await;
    wait_text(&c, "main h3", "Edit /e2e/hello", long).await;
    assert_eq!(value_of(&c, "#app-instances").await, "1");
    assert_eq!(value_of(&c, "input[name=app-env-0-key]").await, "GREETING");
    click_button(&c, "JSON").await;
    let current = wait_text(&c, ".cm-content", "maxLaunchDelaySeconds", long).await;
    for read_only in [
        r#""version""#,
        r#""tasks""#,
        r#""tasksRunning""#,
        r#""deployments""#,
    ] {
        assert!(
            !current.contains(read_only),
            "{read_only} in the edited JSON: {current}"
        );
    }
    click_button(&c, "Form").await;
    fill(&c, "#app-instances", "2").await;
    shot(&c, "app-edit").await;
    accessible(&c, "app edit").await;
    click_button(&c, "Save").await;
    wait_text(
        &c,
        "main",
        "Saved: deploying the new version (deployment ",
        long,
    )
    .await;
    wait_text(&c, "[data-testid=instances]", "2 running of 2", long).await;
    shot(&c, "app-scaled").await;
    accessible(&c, "app").await;

    // The configuration as JSON.
    click_button(&c, "JSON").await;
    wait_text(&c, "pre.json", "hello-line", long).await;

    // The services tree: the group and the app, running 2 of 2.
    click_link(&c, "Services").await;
    let tree = wait_text(&c, "table.services", "hello", long).await;
    assert!(tree.contains("e2e/"), "{tree}");
    wait_text(&c, "table.services", "Running", long).await;
    wait_text(&c, "table.services", "2 / — / 2", long).await;
    shot(&c, "services").await;
    accessible(&c, "services").await;

    // An app that cannot be placed says why it waits; destroyed from its page.
    let token = gw.admin_token().await;
    let stuck = json!({"id": "/e2e/stuck", "cmd": "sleep 1000", "cpus": 0.1, "mem": 32,
                       "instances": 1, "constraints": [["hostname", "CLUSTER", "no-such-host"]]});
    let (status, body) = gw
        .request("POST", "/marathon/v2/apps", Some(&token), Some(stuck))
        .await;
    assert_eq!(status, 201, "{body}");
    wait_text(&c, "table.services", "stuck", long).await;
    wait_text(&c, "table.services", "Waiting", long).await;
    click_link(&c, "stuck").await;
    let why = wait_text(&c, ".waiting", "no agent satisfies the constraint", long).await;
    assert!(why.contains("hostname"), "{why}");
    assert!(why.contains("declined"), "{why}");
    shot(&c, "app-waiting").await;
    accessible(&c, "waiting app").await;
    click_button(&c, "Destroy").await;
    click_button(&c, "Yes, destroy").await;
    wait_text(&c, "main h1", "Services", long).await;
    let start = Instant::now();
    while text(&c, "table.services").await.contains("stuck") {
        assert!(start.elapsed() < long, "the destroyed app stays listed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A task's log: its output, and new lines while the page is open.
    click_link(&c, "hello").await;
    wait_text(&c, "table.tasks", "running", long).await;
    c.find(Locator::Css("table.tasks tbody th a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_text(&c, "main h1", "Log of", long).await;
    let first = wait_text(&c, "[data-testid=log]", "hello-line-", long).await;
    let last_line = |t: &str| {
        t.lines()
            .filter_map(|l| l.strip_prefix("hello-line-")?.trim().parse::<u64>().ok())
            .max()
            .unwrap_or(0)
    };
    let seen = last_line(&first);
    let start = Instant::now();
    loop {
        let now = last_line(&text(&c, "[data-testid=log]").await);
        if now >= seen + 2 {
            println!("dashboard: the log grew from line {seen} to {now} live");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the log did not grow past line {seen}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Its sandbox: listed, and stdout downloads with the output in it.
    let files = wait_text(&c, "table.files", "stdout", long).await;
    assert!(files.contains("stderr"), "{files}");
    let downloaded = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const a = [...document.querySelectorAll('table.files a')].find(a => a.textContent === 'stdout');
             fetch(a.href, {credentials: 'same-origin'}).then(r => r.text()).then(done, e => done(String(e)));",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        downloaded
            .as_str()
            .is_some_and(|t| t.contains("hello-line-1")),
        "{downloaded}"
    );
    shot(&c, "task-log").await;
    accessible(&c, "task log").await;

    // Jobs: a job created through the form (with a schedule), its schedule
    // disabled and enabled, run from its page.
    click_link(&c, "Jobs").await;
    wait_text(&c, "main", "No jobs yet", long).await;
    wait_text(&c, "[data-testid=graph]", "No job depends on another", long).await;
    click_link(&c, "Create a job").await;
    wait_text(&c, "main h1", "Create a job", long).await;
    fill(&c, "#job-id", "e2e.nightly").await;
    fill(&c, "#job-description", "an e2e job").await;
    fill(&c, "#job-cmd", "echo job ran").await;
    c.find(Locator::Css("input[name=job-scheduled]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    fill(&c, "#job-cron", "30 2 * * *").await;
    fill(&c, "#job-timezone", "Europe/Paris").await;
    click_button(&c, "JSON").await;
    let job_json = wait_text(&c, ".cm-content", r#""cron": "30 2 * * *""#, long).await;
    assert!(job_json.contains(r#""cmd": "echo job ran""#), "{job_json}");
    assert!(
        job_json.contains(r#""timezone": "Europe/Paris""#),
        "{job_json}"
    );
    accessible(&c, "create job (JSON)").await;
    click_button(&c, "Form").await;
    wait_text(&c, "label[for=job-cron]", "Cron", long).await;
    shot(&c, "create-job").await;
    accessible(&c, "create job (form)").await;
    click_button(&c, "Create").await;
    wait_text(&c, "main h1", "e2e.nightly", long).await;
    let sched = wait_text(&c, "[data-testid=schedule-default]", "enabled", long).await;
    assert!(sched.contains("30 2 * * *"), "{sched}");
    assert!(sched.contains("Europe/Paris"), "{sched}");
    click_button(&c, "Disable").await;
    wait_text(&c, "main", "Disabled the schedule default", long).await;
    wait_text(&c, "[data-testid=schedule-default]", "disabled", long).await;
    click_button(&c, "Enable").await;
    wait_text(&c, "[data-testid=schedule-default]", "enabled, next", long).await;
    click_link(&c, "Jobs").await;
    wait_text(&c, "main table", "e2e.nightly", long).await;
    click_link(&c, "e2e.nightly").await;
    wait_text(&c, "main h1", "e2e.nightly", long).await;
    wait_text(&c, "main", "Active runs", long).await;
    click_button(&c, "Run now").await;
    wait_text(&c, "main", "Started a run", long).await;
    wait_text(&c, "main table", "succeeded", Duration::from_secs(90)).await;
    shot(&c, "job").await;
    accessible(&c, "job").await;

    // A job that runs after it: created with the form, an edge in the graph.
    click_link(&c, "Jobs").await;
    wait_text(&c, "main table", "e2e.nightly", long).await;
    click_link(&c, "Create a job").await;
    wait_text(&c, "main h1", "Create a job", long).await;
    fill(&c, "#job-id", "e2e.report").await;
    fill(&c, "#job-cmd", "echo report").await;
    fill(&c, "#job-parents", "e2e.nightly").await;
    click_button(&c, "Create").await;
    wait_text(&c, "main h1", "e2e.report", long).await;
    wait_text(&c, "[data-testid=parents]", "e2e.nightly", long).await;
    // Edit: the form prefilled (its parent from Chronos), a new description.
    click_button(&c, "Edit").await;
    wait_text(&c, "main h1", "Edit e2e.report", long).await;
    wait_js(
        &c,
        "the parent is prefilled",
        "document.querySelector('#job-parents') && document.querySelector('#job-parents').value === 'e2e.nightly'",
        long,
    )
    .await;
    fill(&c, "#job-description", "reports on the nightly run").await;
    shot(&c, "job-edit").await;
    accessible(&c, "job edit").await;
    click_button(&c, "Save").await;
    wait_text(&c, "main", "reports on the nightly run", long).await;
    click_link(&c, "Jobs").await;
    wait_text(&c, "main table", "succeeded", long).await;
    wait_js(
        &c,
        "the graph has the edge",
        r#"document.querySelector('[data-edge="e2e.nightly->e2e.report"]')"#,
        long,
    )
    .await;
    let graph = text(&c, "[data-testid=graph]").await;
    assert!(graph.contains("e2e.nightly → e2e.report"), "{graph}");
    c.execute(
        "document.querySelector('[data-testid=graph]').scrollIntoView(); return 1;",
        vec![],
    )
    .await
    .unwrap();
    shot(&c, "jobs").await;
    accessible(&c, "jobs").await;

    // Nodes: the agent with its resources and attributes.
    click_link(&c, "Nodes").await;
    let nodes = wait_text(&c, "main table", &agent.id, long).await;
    assert!(nodes.contains("rack:r1"), "{nodes}");
    assert!(nodes.contains("active"), "{nodes}");
    shot(&c, "nodes").await;
    accessible(&c, "nodes").await;

    // The Overview now shows the tasks and the events that came in.
    click_link(&c, "Overview").await;
    wait_text(&c, "[data-testid=tasks-running]", "2", long).await;
    wait_text(&c, "[data-testid=usage-cpu]", "0.2 of 4", long).await;
    // The last events, from the master's stream and Marathon's.
    wait_text(&c, "ol.events", "TASK_UPDATED", long).await;
    wait_text(&c, "ol.events", "deployment_success", long).await;
    shot(&c, "overview").await;

    // A phone's width: the services page still fits.
    c.set_window_size(390, 844).await.unwrap();
    click_link(&c, "Services").await;
    wait_text(&c, "table.services", "hello", long).await;
    let overflow = c
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        overflow.as_i64().unwrap_or(1) <= 0,
        "the page scrolls sideways at 390 px: {overflow}"
    );
    shot(&c, "services-phone").await;
    // And the app form, its rows included.
    click_link(&c, "Create an app").await;
    wait_text(&c, "main h1", "Create an app", long).await;
    click_button(&c, "Add a port").await;
    click_button(&c, "Add a constraint").await;
    fits(&c, "create app").await;
    shot(&c, "create-app-phone").await;
    c.set_window_size(1366, 768).await.unwrap();

    // Settings: add a user, who is listed, then remove them.
    click_link(&c, "Settings").await;
    wait_text(&c, "main table", "admin", long).await;
    for (name, value) in [
        ("new-uid", "bob"),
        ("new-password", "bobs-password"),
        ("new-description", "Bob from the e2e test"),
    ] {
        c.find(Locator::Css(&format!("input[name={name}]")))
            .await
            .unwrap()
            .send_keys(value)
            .await
            .unwrap();
    }
    click_button(&c, "Add").await;
    wait_text(&c, "main table", "Bob from the e2e test", long).await;
    assert_eq!(gw.login("bob", "bobs-password").await.0, 200);
    shot(&c, "settings").await;
    accessible(&c, "settings").await;
    click_button(&c, "Remove").await;
    click_button(&c, "Yes, remove").await;
    let start = Instant::now();
    while text(&c, "main table").await.contains("bob") {
        assert!(start.elapsed() < long, "the removed user stays listed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(gw.login("bob", "bobs-password").await.0, 401);

    // Drain the node: its tasks are killed and it gets no more offers;
    // then reactivate it.
    click_link(&c, "Nodes").await;
    wait_text(&c, "[data-testid=node-state]", "active", long).await;
    click_button(&c, "Drain").await;
    click_button(&c, "Yes, drain").await;
    wait_text(&c, "main", "Draining 127.0.0.1", long).await;
    wait_text(&c, "[data-testid=node-state]", "drain", long).await;
    wait_text(&c, "[data-testid=node-state]", "drained", long).await;
    shot(&c, "nodes-drained").await;
    click_button(&c, "Reactivate").await;
    wait_text(&c, "main", "Reactivated 127.0.0.1", long).await;
    wait_text(&c, "[data-testid=node-state]", "active", long).await;

    // No reload happened through all of that.
    let marker = c
        .execute("return window.__noReload;", vec![])
        .await
        .unwrap();
    assert_eq!(marker, json!("still here"));

    // Logging out: the login page, and the browser's cookie is gone.
    click_button(&c, "Log out").await;
    wait_text(&c, "body", "Log in to dcos", long).await;
    let status = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch('/marathon/v2/apps', {credentials: 'same-origin'}).then(r => done(r.status));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        status,
        json!(401),
        "after logout the API refuses the browser"
    );

    let _ = c.close().await;
    let (status, _) = gw
        .request("DELETE", "/marathon/v2/apps/e2e/hello", Some(&token), None)
        .await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalog_installs_a_package_and_manages_repositories_from_a_browser() {
    if !require_tool("chromium") || !require_tool("chromedriver") {
        return;
    }
    if !dcos_skip::is_root() {
        dcos_skip::skip("the catalog's browser test installs a cluster, which needs root");
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().await;
    let node = Node::new("127.0.0.1", None);
    let r = node.install(&[
        "--resources",
        "cpus:4;mem:4096;disk:1000;ports:[32500-32599]",
    ]);
    assert!(r.ok(), "install failed:\n{}\n{}", r.stdout, r.stderr);
    node.setup();
    let driver = Driver::start(&node.tmp().join("chromium"));
    let c = driver.connect().await;
    let long = Duration::from_secs(60);

    // A link to the catalog asks for a login first, then shows it.
    c.goto(&format!("{}/catalog", node.gateway()))
        .await
        .unwrap();
    wait_text(&c, "body", "Log in to dcos", long).await;
    fill(&c, "input[name=uid]", "admin").await;
    fill(&c, "input[name=password]", &node.admin_password()).await;
    click_button(&c, "Log in").await;
    wait_text(&c, "main h1", "Catalog", long).await;
    c.execute("window.__noReload = 'still here'; return 1;", vec![])
        .await
        .unwrap();

    // The built-in packages, then a search that keeps only hello-world.
    let cards = wait_text(&c, "ul.cards", "hello-world", long).await;
    assert!(cards.contains("kafka"), "{cards}");
    assert!(cards.contains("Selected"), "{cards}");
    wait_text(&c, "main", "Nothing installed from the catalog", long).await;
    shot(&c, "catalog").await;
    accessible(&c, "catalog").await;
    fill(&c, "#catalog-query", "hello").await;
    wait_text(&c, "[data-testid=found]", "1 package matches “hello”", long).await;
    let cards = text(&c, "ul.cards").await;
    assert!(cards.contains("hello-world"), "{cards}");
    assert!(cards.contains("1.0.0"), "{cards}");
    assert!(!cards.contains("kafka"), "the search keeps kafka: {cards}");
    // No icon: its first letter.
    assert_eq!(text(&c, "ul.cards .pkg-icon.letter").await, "H");

    // Its page: the notes, the version, the form with the schema's defaults.
    click_link(&c, "hello-world").await;
    wait_text(&c, "main h1", "hello-world", long).await;
    wait_text(&c, "main", "This installs one small HTTP server", long).await;
    wait_text(&c, "#pkg-version", "1.0.0", long).await;
    wait_text(&c, "form.install legend", "service", long).await;
    let name_input = "input[name='/service/name']";
    let message_input = "input[name='/service/message']";
    let instances_input = "input[name='/service/instances']";
    assert_eq!(value_of(&c, name_input).await, "hello-world");
    assert_eq!(value_of(&c, message_input).await, "Hello from DC/OS");
    assert_eq!(value_of(&c, instances_input).await, "1");
    let help = text(&c, "form.install").await;
    assert!(help.contains("How many servers"), "{help}");
    shot(&c, "package").await;
    accessible(&c, "package").await;

    // A bad value is refused next to its field, before anything is asked.
    fill(&c, instances_input, "-1").await;
    wait_text(&c, "form.install", "Must be at least 1", long).await;
    fill(&c, name_input, "Not A Name").await;
    wait_text(&c, "form.install", "Does not match the pattern", long).await;
    click_button(&c, "Review").await;
    wait_text(
        &c,
        "form.install [role=alert]",
        "2 fields need a change",
        long,
    )
    .await;
    let focused = c
        .execute("return document.activeElement.name;", vec![])
        .await
        .unwrap();
    // Cosmos lists the properties by name: instances comes before name.
    assert_eq!(
        focused,
        json!("/service/instances"),
        "the first wrong field has the focus"
    );
    assert!(text(&c, "main").await.contains("Review"));
    assert_eq!(
        text(&c, "[data-testid=rendered]").await,
        "",
        "no review yet"
    );
    shot(&c, "package-invalid").await;
    accessible(&c, "package with errors").await;

    // Options changed: the rendered app has them.
    fill(&c, instances_input, "1").await;
    fill(&c, name_input, "greeter").await;
    fill(&c, message_input, "hi from the dashboard").await;
    wait_gone(&c, "form.install", "Must be at least", long).await;
    click_button(&c, "Review").await;
    let rendered = wait_text(&c, "[data-testid=rendered]", "hi from the dashboard", long).await;
    assert!(rendered.contains(r#""id": "/greeter""#), "{rendered}");
    assert!(
        rendered.contains(r#""DCOS_SERVICE_NAME": "greeter""#),
        "{rendered}"
    );
    shot(&c, "package-review").await;
    accessible(&c, "review").await;
    click_button(&c, "Install").await;
    wait_text(
        &c,
        "[data-testid=installed]",
        "Installed hello-world as /greeter",
        long,
    )
    .await;
    wait_text(
        &c,
        "[data-testid=installed]",
        "hello-world is starting",
        long,
    )
    .await;
    shot(&c, "package-installed").await;

    // In Services it reaches running (healthy), with no reload.
    click_link(&c, "See /greeter in Services").await;
    wait_text(&c, "main h1", "/greeter", long).await;
    wait_text(&c, "[data-testid=instances]", "1 running of 1", long).await;
    wait_text(&c, ".status", "Running", Duration::from_secs(90)).await;
    shot(&c, "package-running").await;

    // The installed list, and an uninstall from it.
    click_link(&c, "Catalog").await;
    let installed = wait_text(&c, "table.installed", "/greeter", long).await;
    assert!(installed.contains("hello-world"), "{installed}");
    assert!(installed.contains("1.0.0"), "{installed}");
    shot(&c, "catalog-installed").await;
    click_button(&c, "Uninstall").await;
    wait_text(&c, "table.installed", "Uninstall /greeter?", long).await;
    click_button(&c, "Yes, uninstall").await;
    wait_text(
        &c,
        "main",
        "Uninstalled /greeter. hello-world is removed.",
        long,
    )
    .await;
    wait_text(&c, "main", "Nothing installed from the catalog", long).await;
    let apps = node.dcos_ok(&["marathon", "app", "list", "--json"]);
    assert!(!apps.contains("/greeter"), "Marathon still runs it: {apps}");

    // Settings: the repositories in order; the fixture repository added.
    click_link(&c, "Settings").await;
    wait_text(&c, "table.repositories", "Universe", long).await;
    let fixture = workspace_root().join("tests/fixtures/universe");
    fill(&c, "#repo-name", "fixtures").await;
    fill(&c, "#repo-uri", "relative/path").await;
    click_button(&c, "Add repository").await;
    wait_text(&c, "main [role=alert]", "absolute path", long).await;
    fill(&c, "#repo-uri", fixture.to_str().unwrap()).await;
    click_button(&c, "Add repository").await;
    wait_text(&c, "main", "Added the repository fixtures", long).await;
    let repos = wait_text(&c, "table.repositories", "fixtures", long).await;
    let (universe, fixtures) = (
        repos.find("Universe").unwrap(),
        repos.find("fixtures").unwrap(),
    );
    assert!(universe < fixtures, "added last: {repos}");
    assert!(repos.contains(fixture.to_str().unwrap()), "{repos}");
    c.execute(
        "document.getElementById('repositories').scrollIntoView(); return 1;",
        vec![],
    )
    .await
    .unwrap();
    shot(&c, "settings-repositories").await;
    accessible(&c, "settings").await;

    // Its packages are in the catalog; an icon that does not load is a letter.
    click_link(&c, "Catalog").await;
    fill(&c, "#catalog-query", "fixture").await;
    wait_text(&c, "ul.cards", "fixture-web", long).await;
    wait_js(
        &c,
        "the icon that cannot load is replaced",
        "document.querySelectorAll('ul.cards img').length === 0",
        long,
    )
    .await;
    shot(&c, "catalog-fixtures").await;

    // Removed again.
    click_link(&c, "Settings").await;
    wait_text(&c, "table.repositories", "fixtures", long).await;
    c.find(Locator::XPath(
        "//table[contains(@class,'repositories')]//tr[th[normalize-space()='fixtures']]//button[normalize-space()='Remove']",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    click_button(&c, "Yes, remove").await;
    wait_text(&c, "main", "Removed the repository fixtures", long).await;
    wait_gone(&c, "table.repositories", "fixtures", long).await;
    let repos = node.dcos_ok(&["package", "repo", "list", "--json"]);
    assert!(!repos.contains("fixtures"), "{repos}");

    // A phone's width: the catalog and a package's form fit.
    c.set_window_size(390, 844).await.unwrap();
    click_link(&c, "Catalog").await;
    wait_text(&c, "ul.cards", "hello-world", long).await;
    fits(&c, "catalog").await;
    shot(&c, "catalog-phone").await;
    click_link(&c, "hello-world").await;
    wait_text(&c, "form.install", "message", long).await;
    fits(&c, "package").await;
    shot(&c, "package-phone").await;

    let marker = c
        .execute("return window.__noReload;", vec![])
        .await
        .unwrap();
    assert_eq!(marker, json!("still here"), "the page was reloaded");
    let _ = c.close().await;
}
