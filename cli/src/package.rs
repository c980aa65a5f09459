//! `dcos package …`: the catalog through the gateway's Cosmos API
//! (`/package/*`, `/cosmos/service/*`), with its versioned media types.
//! `install` shows the pre-install notes, asks (unless `--yes`), installs
//! and follows the service until it is running and healthy, then shows
//! the post-install notes.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{json, Value};

use crate::client::{Api, ApiError};
use crate::output;

#[derive(Debug, Subcommand)]
pub enum PackageCmd {
    /// Packages whose name, description or tags match QUERY (`*` wildcards).
    Search {
        query: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// A package: its metadata, or with flags its versions, options
    /// schema or rendered Marathon app.
    Describe(DescribeArgs),
    /// Installs a package as a Marathon app and waits until it is healthy.
    Install(InstallArgs),
    /// Removes an installed package's app (`--app-id` when several are
    /// installed, or `--all`).
    Uninstall {
        name: String,
        #[arg(long)]
        app_id: Option<String>,
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Installed packages (read from Marathon's labels).
    List {
        /// Only this package.
        name: Option<String>,
        #[arg(long)]
        app_id: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Moves an installed package to another version and/or options,
    /// keeping the options it was installed with.
    Update {
        /// The installed app id (`/kafka`).
        app_id: String,
        #[arg(long)]
        package_version: Option<String>,
        /// A JSON file of options merged over the installed ones.
        #[arg(long)]
        options: Option<PathBuf>,
        /// Replace the installed options instead of merging.
        #[arg(long)]
        replace: bool,
        #[arg(long)]
        json: bool,
    },
    /// Where an installed package's service answers: `host:port` of each
    /// running task (the bootstrap addresses clients need).
    Endpoints {
        name: String,
        /// Only this installation.
        #[arg(long)]
        app_id: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Package repositories: add, list, remove.
    #[command(subcommand)]
    Repo(RepoCmd),
    /// Offline bundles of packages' artifacts: build one where there is
    /// a way out, import it into a cluster without.
    #[command(subcommand)]
    Bundle(crate::bundle::BundleCmd),
}

#[derive(Debug, Args)]
pub struct DescribeArgs {
    name: String,
    #[arg(long)]
    package_version: Option<String>,
    /// List every version.
    #[arg(long)]
    package_versions: bool,
    /// The options' JSON Schema.
    #[arg(long)]
    config: bool,
    /// The Marathon app it would install (with --options).
    #[arg(long)]
    render: bool,
    #[arg(long)]
    options: Option<PathBuf>,
    #[arg(long)]
    app_id: Option<String>,
}

#[derive(Debug, Args)]
pub struct InstallArgs {
    name: String,
    #[arg(long)]
    package_version: Option<String>,
    /// A JSON file of options (validated against the package's schema).
    #[arg(long)]
    options: Option<PathBuf>,
    /// The Marathon app id (default: the package's).
    #[arg(long)]
    app_id: Option<String>,
    /// Do not ask for confirmation.
    #[arg(long)]
    yes: bool,
    /// Do not wait for the service to be running and healthy.
    #[arg(long)]
    no_wait: bool,
    /// Seconds to wait for it.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
pub enum RepoCmd {
    /// Adds a repository (a Universe index URL, a zip, or a folder in the
    /// source layout), last unless --index.
    Add {
        name: String,
        uri: String,
        #[arg(long)]
        index: Option<i64>,
        #[arg(long)]
        json: bool,
    },
    /// The repositories, in the order packages are looked up.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Removes a repository by name.
    Remove {
        name: String,
        #[arg(long)]
        json: bool,
    },
}

fn media(kind: &str, version: u32) -> String {
    format!("application/vnd.dcos.{kind}+json;charset=utf-8;version=v{version}")
}

/// One Cosmos call: `path` with the request media type `kind-request`
/// v1 and the response `response` v`version`.
pub(crate) async fn call(
    api: &Api,
    path: &str,
    request: &str,
    response: (&str, u32),
    body: &Value,
) -> anyhow::Result<Value> {
    let headers = [
        ("Content-Type", media(request, 1)),
        ("Accept", media(response.0, response.1)),
    ];
    let resp = api
        .raw_with_headers(Method::POST, path, Some(body), &headers)
        .await;
    match resp {
        Ok(r) => Ok(r
            .json()
            .await
            .context("Cosmos answered something that is not JSON")?),
        Err(ApiError::Http { message, .. }) | Err(ApiError::NotFound(message)) => {
            anyhow::bail!("{message}")
        }
        Err(e) => Err(e.into()),
    }
}

/// `/package/describe` (response v3): `{"package": …}`.
pub(crate) async fn describe_package(
    api: &Api,
    name: &str,
    version: Option<&str>,
) -> anyhow::Result<Value> {
    call(
        api,
        "/package/describe",
        "package.describe-request",
        ("package.describe-response", 3),
        &json!({"packageName": name, "packageVersion": version}),
    )
    .await
}

fn options(file: Option<&std::path::Path>) -> anyhow::Result<Option<Value>> {
    match file {
        None => Ok(None),
        Some(f) => {
            let v = output::read_json(Some(f))?;
            anyhow::ensure!(
                v.is_object(),
                "{}: options must be a JSON object",
                f.display()
            );
            Ok(Some(v))
        }
    }
}

pub async fn run(cmd: PackageCmd) -> anyhow::Result<()> {
    let api = Api::attached()?;
    match cmd {
        PackageCmd::Search { query, json } => {
            let v = call(
                &api,
                "/package/search",
                "package.search-request",
                ("package.search-response", 1),
                &json!({ "query": query }),
            )
            .await?;
            if json {
                return output::json(&v);
            }
            let rows = v["packages"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    vec![
                        p["name"].as_str().unwrap_or("").to_string(),
                        p["currentVersion"].as_str().unwrap_or("").to_string(),
                        if p["selected"].as_bool() == Some(true) {
                            "True"
                        } else {
                            "False"
                        }
                        .into(),
                        if p["framework"].as_bool() == Some(true) {
                            "True"
                        } else {
                            "False"
                        }
                        .into(),
                        p["description"]
                            .as_str()
                            .unwrap_or("")
                            .chars()
                            .take(70)
                            .collect(),
                    ]
                })
                .collect();
            output::table(
                &["NAME", "VERSION", "SELECTED", "FRAMEWORK", "DESCRIPTION"],
                rows,
            );
            Ok(())
        }
        PackageCmd::Describe(a) => describe(&api, a).await,
        PackageCmd::Install(a) => install(&api, a).await,
        PackageCmd::Uninstall {
            name,
            app_id,
            all,
            json,
        } => {
            let v = call(
                &api,
                "/package/uninstall",
                "package.uninstall-request",
                ("package.uninstall-response", 1),
                &json!({"packageName": name, "appId": app_id, "all": all}),
            )
            .await?;
            if json {
                return output::json(&v);
            }
            for r in v["results"].as_array().into_iter().flatten() {
                println!(
                    "Uninstalled package [{}] version [{}] ({})",
                    r["packageName"].as_str().unwrap_or(""),
                    r["packageVersion"].as_str().unwrap_or(""),
                    r["appId"].as_str().unwrap_or("")
                );
                if let Some(n) = r["postUninstallNotes"].as_str() {
                    println!("{n}");
                }
            }
            Ok(())
        }
        PackageCmd::List { name, app_id, json } => {
            let v = call(
                &api,
                "/package/list",
                "package.list-request",
                ("package.list-response", 1),
                &json!({"packageName": name, "appId": app_id}),
            )
            .await?;
            if json {
                return output::json(&v["packages"]);
            }
            let rows = v["packages"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    let d = &p["packageInformation"]["packageDefinition"];
                    vec![
                        d["name"].as_str().unwrap_or("").to_string(),
                        d["version"].as_str().unwrap_or("").to_string(),
                        p["appId"].as_str().unwrap_or("").to_string(),
                        d["description"]
                            .as_str()
                            .unwrap_or("")
                            .chars()
                            .take(60)
                            .collect(),
                    ]
                })
                .collect();
            output::table(&["NAME", "VERSION", "APP", "DESCRIPTION"], rows);
            Ok(())
        }
        PackageCmd::Update {
            app_id,
            package_version,
            options: file,
            replace,
            json,
        } => {
            let opts = options(file.as_deref())?;
            let v = call(
                &api,
                "/cosmos/service/update",
                "service.update-request",
                ("service.update-response", 1),
                &json!({"appId": app_id, "packageVersion": package_version,
                        "options": opts, "replace": replace}),
            )
            .await?;
            if json {
                return output::json(&v);
            }
            println!(
                "Updated {app_id} to package [{}] version [{}] (deployment {})",
                v["package"]["name"].as_str().unwrap_or(""),
                v["package"]["version"].as_str().unwrap_or(""),
                v["marathonDeploymentId"].as_str().unwrap_or("-")
            );
            Ok(())
        }
        PackageCmd::Endpoints { name, app_id, json } => endpoints(&api, &name, app_id, json).await,
        PackageCmd::Repo(r) => repo(&api, r).await,
        PackageCmd::Bundle(b) => crate::bundle::run(&api, b).await,
    }
}

/// The `host:port` of every port of every running task of the package's
/// installations (DC/OS SDK services answered `{address: [...]}` too).
async fn endpoints(
    api: &Api,
    name: &str,
    app_id: Option<String>,
    json_out: bool,
) -> anyhow::Result<()> {
    let v = call(
        api,
        "/package/list",
        "package.list-request",
        ("package.list-response", 1),
        &json!({"packageName": name, "appId": app_id}),
    )
    .await?;
    let ids: Vec<String> = v["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["appId"].as_str().map(str::to_owned))
        .collect();
    anyhow::ensure!(
        !ids.is_empty(),
        "package {name} is not installed (`dcos package list` shows what is)"
    );
    // An installation is an app, or a group of apps (its id a prefix).
    let apps = api
        .get("/service/marathon/v2/apps?embed=apps.tasks")
        .await?;
    let mut out = Vec::new();
    for id in ids {
        let within = format!("{}/", id.trim_end_matches('/'));
        let mut address: Vec<String> = apps["apps"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| {
                a["id"]
                    .as_str()
                    .is_some_and(|a| a == id || a.starts_with(&within))
            })
            .flat_map(|a| a["tasks"].as_array().cloned().unwrap_or_default())
            .filter(|t| t["state"] == "TASK_RUNNING")
            .flat_map(|t| {
                let host = t["host"].as_str().unwrap_or("").to_string();
                t["ports"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p.as_u64())
                    .map(move |p| format!("{host}:{p}"))
                    .collect::<Vec<_>>()
            })
            .collect();
        address.sort();
        out.push(json!({"appId": id, "address": address}));
    }
    if json_out {
        return output::json(&out);
    }
    let rows = out
        .iter()
        .map(|e| {
            vec![
                e["appId"].as_str().unwrap_or("").to_string(),
                output::comma_list(&e["address"]),
            ]
        })
        .collect();
    output::table(&["APP", "ADDRESS"], rows);
    Ok(())
}

async fn describe(api: &Api, a: DescribeArgs) -> anyhow::Result<()> {
    if a.package_versions {
        let v = call(
            api,
            "/package/list-versions",
            "package.list-versions-request",
            ("package.list-versions-response", 1),
            &json!({"packageName": a.name, "includePackageVersions": true}),
        )
        .await?;
        return output::json(&v["results"]);
    }
    if a.render {
        let opts = options(a.options.as_deref())?;
        let v = call(
            api,
            "/package/render",
            "package.render-request",
            ("package.render-response", 1),
            &json!({"packageName": a.name, "packageVersion": a.package_version,
                    "options": opts, "appId": a.app_id}),
        )
        .await?;
        return output::json(&v["marathonJson"]);
    }
    let v = describe_package(api, &a.name, a.package_version.as_deref()).await?;
    if a.config {
        return output::json(&v["package"]["config"]);
    }
    let mut p = v["package"].clone();
    if let Some(m) = p.get_mut("marathon") {
        // The template itself, not its base64.
        if let Some(t) = m["v2AppMustacheTemplate"].as_str() {
            use base64::Engine;
            if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(t) {
                m["v2AppMustacheTemplate"] = Value::String(String::from_utf8_lossy(&bytes).into());
            }
        }
    }
    output::json(&p)
}

async fn install(api: &Api, a: InstallArgs) -> anyhow::Result<()> {
    let opts = options(a.options.as_deref())?;
    let described = describe_package(api, &a.name, a.package_version.as_deref()).await?;
    let pkg = &described["package"];
    let version = pkg["version"].as_str().unwrap_or("").to_string();
    if !a.json {
        println!("By Deploying, you agree to the Terms and Conditions https://mesosphere.com/catalog-terms-conditions/#community-services");
        if let Some(n) = pkg["preInstallNotes"].as_str() {
            println!("{n}");
        }
    }
    if !a.yes && !a.json {
        use std::io::{BufRead, IsTerminal, Write};
        if !std::io::stdin().is_terminal() {
            anyhow::bail!(
                "not installing without confirmation: add --yes (stdin is not a terminal)"
            );
        }
        print!("Continue installing? [yes/no] ");
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim().to_lowercase().as_str(), "y" | "yes") {
            println!("Exiting installation.");
            return Ok(());
        }
    }
    if !a.json {
        println!(
            "Installing Marathon app for package [{}] version [{version}]",
            a.name
        );
    }
    // Cosmos first brings the package's artifacts into the cluster (from
    // their URLs, up to hundreds of MB): say which have arrived meanwhile.
    let wanted = dcos_packaging::artifacts::wanted(pkg.get("resource")).unwrap_or_default();
    let slow = api.with_timeout(Duration::from_secs(30 * 60));
    let body = json!({"packageName": a.name, "packageVersion": version,
                      "options": opts, "appId": a.app_id});
    // Options and template first (quick), so their errors are not taken
    // for a failed download.
    call(
        api,
        "/package/render",
        "package.render-request",
        ("package.render-response", 1),
        &body,
    )
    .await?;
    let request = call(
        &slow,
        "/package/install",
        "package.install-request",
        ("package.install-response", 2),
        &body,
    );
    let v = if wanted.is_empty() {
        request.await?
    } else {
        let progress = dcos_installer::progress::Progress::new(a.json);
        let step = progress.begin(format!(
            "bringing {} artifacts into the cluster's artifact store",
            wanted.len()
        ));
        tokio::pin!(request);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut seen = 0;
        loop {
            tokio::select! {
                r = &mut request => {
                    match &r {
                        Ok(_) => step.done("all there"),
                        Err(_) => step.fail("failed"),
                    }
                    break r?;
                }
                _ = tick.tick() => {
                    let Ok(list) = api.get("/cosmos/artifacts").await else { continue };
                    let have: Vec<&str> = list["artifacts"].as_array().into_iter().flatten()
                        .filter_map(|r| r["url"].as_str()).collect();
                    let n = wanted.iter().filter(|w| have.contains(&w.url.as_str())).count();
                    if n != seen {
                        progress.line(&format!("  {n}/{} artifacts in the cluster", wanted.len()));
                        seen = n;
                    }
                }
            }
        }
    };
    let app_id = v["appId"].as_str().unwrap_or("").to_string();
    if !a.no_wait {
        wait_healthy(api, &app_id, a.timeout, a.json).await?;
    }
    if a.json {
        return output::json(&v);
    }
    if let Some(n) = v["postInstallNotes"].as_str() {
        println!("{n}");
    }
    Ok(())
}

/// Follows the installed app until every instance runs and is healthy,
/// saying what it waits for; on timeout, why (Marathon's queue).
async fn wait_healthy(api: &Api, app_id: &str, timeout: u64, quiet: bool) -> anyhow::Result<()> {
    let progress = dcos_installer::progress::Progress::new(quiet);
    let step = progress.begin(format!("waiting for {app_id} to be running and healthy"));
    let start = Instant::now();
    let path = format!(
        "/service/marathon/v2/apps/{}",
        app_id.trim_start_matches('/')
    );
    let mut last = String::new();
    // Tasks that failed since we started waiting: three in a row say the
    // service cannot start; waiting longer would not help.
    let mut failed: Vec<String> = Vec::new();
    loop {
        let app = api.get(&path).await?;
        let a = &app["app"];
        if let Some(f) = a["lastTaskFailure"].as_object() {
            let id = f.get("taskId").and_then(Value::as_str).unwrap_or("");
            if !id.is_empty() && !failed.iter().any(|x| x == id) {
                failed.push(id.to_string());
                if failed.len() >= 3 {
                    step.fail("its tasks keep failing");
                    anyhow::bail!(
                        "{app_id} is installed but its tasks keep failing ({} so far; the last: {} {}). `dcos task log --all {id} stderr` shows why; `dcos package uninstall` removes it",
                        failed.len(),
                        f.get("state").and_then(Value::as_str).unwrap_or(""),
                        f.get("message").and_then(Value::as_str).unwrap_or("")
                    );
                }
            }
        }
        let target = a["instances"].as_u64().unwrap_or(0);
        let running = a["tasksRunning"].as_u64().unwrap_or(0);
        let healthy = a["tasksHealthy"].as_u64().unwrap_or(0);
        let checked = a["healthChecks"].as_array().is_some_and(|h| !h.is_empty());
        let deploying = a["deployments"].as_array().is_some_and(|d| !d.is_empty());
        let line = if checked {
            format!("{running}/{target} running, {healthy}/{target} healthy")
        } else {
            format!("{running}/{target} running")
        };
        if line != last {
            progress.line(&format!("  {app_id}: {line}"));
            last = line;
        }
        if !deploying && running >= target && (!checked || healthy >= target) {
            step.done("healthy");
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(timeout) {
            step.fail("not healthy yet");
            let mut why = String::new();
            if let Some(f) = a["lastTaskFailure"].as_object() {
                why.push_str(&format!(
                    " Last task failure: {} {}.",
                    f.get("state").and_then(Value::as_str).unwrap_or(""),
                    f.get("message").and_then(Value::as_str).unwrap_or("")
                ));
            }
            anyhow::bail!(
                "{app_id} is installed but not healthy after {timeout} s ({last}).{why} `dcos marathon app show {app_id}` and `dcos task log` show more; `dcos package uninstall` removes it"
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn repo(api: &Api, cmd: RepoCmd) -> anyhow::Result<()> {
    let (v, json_out) = match cmd {
        RepoCmd::Add {
            name,
            uri,
            index,
            json,
        } => (
            call(
                api,
                "/package/repository/add",
                "package.repository.add-request",
                ("package.repository.add-response", 1),
                &json!({"name": name, "uri": uri, "index": index}),
            )
            .await?,
            json,
        ),
        RepoCmd::List { json } => (
            call(
                api,
                "/package/repository/list",
                "package.repository.list-request",
                ("package.repository.list-response", 1),
                &json!({}),
            )
            .await?,
            json,
        ),
        RepoCmd::Remove { name, json } => (
            call(
                api,
                "/package/repository/delete",
                "package.repository.delete-request",
                ("package.repository.delete-response", 1),
                &json!({ "name": name }),
            )
            .await?,
            json,
        ),
    };
    if json_out {
        return output::json(&v["repositories"]);
    }
    let rows = v["repositories"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, r)| {
            vec![
                i.to_string(),
                r["name"].as_str().unwrap_or("").to_string(),
                r["uri"].as_str().unwrap_or("").to_string(),
            ]
        })
        .collect();
    output::table(&["INDEX", "NAME", "URI"], rows);
    Ok(())
}
