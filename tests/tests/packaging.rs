//! The package catalog on a cluster from `dcos install` (real processes,
//! as root): the built-in catalog, fixture repositories in the source
//! layout and as index JSON, install with options, render, upgrade
//! keeping options, uninstall, bad input that leaves nothing behind, and
//! the Cosmos API's media types through the gateway.

use std::time::Duration;

use dcos_tests::install::Node;
use dcos_tests::wait_until;
use serde_json::{json, Value};

fn is_root() -> bool {
    let root = dcos_skip::is_root();
    if !root {
        dcos_skip::skip("the packaging tests install a cluster, which needs root");
    }
    root
}

fn write(node: &Node, name: &str, v: &Value) -> String {
    let p = node.tmp().join(name);
    std::fs::write(&p, v.to_string()).unwrap();
    p.display().to_string()
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn fixtures() -> std::path::PathBuf {
    dcos_tests::workspace_root().join("tests/fixtures")
}

/// An authenticated GET through the gateway.
async fn gateway_get(node: &Node, http: &reqwest::Client, path: &str) -> reqwest::Response {
    http.get(format!("{}{path}", node.gateway()))
        .header("Authorization", format!("token={}", node.token()))
        .send()
        .await
        .unwrap()
}

/// Marathon's view of an app, through the gateway.
async fn app(node: &Node, http: &reqwest::Client, id: &str) -> Option<Value> {
    let path = format!("/service/marathon/v2/apps/{}", id.trim_start_matches('/'));
    let resp = gateway_get(node, http, &path).await;
    if resp.status() == 404 {
        return None;
    }
    Some(resp.json::<Value>().await.unwrap()["app"].clone())
}

async fn app_ids(node: &Node, http: &reqwest::Client) -> Vec<String> {
    let v: Value = gateway_get(node, http, "/service/marathon/v2/apps")
        .await
        .json()
        .await
        .unwrap();
    v["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect()
}

/// GETs the first task of `id` over HTTP.
async fn get_from_task(node: &Node, http: &reqwest::Client, id: &str) -> String {
    let mut body = String::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        if let Some(a) = app(node, http, id).await {
            if let Some(t) = a["tasks"].as_array().and_then(|t| t.first()) {
                let url = format!("http://{}:{}/", t["host"].as_str().unwrap(), t["ports"][0]);
                if let Ok(r) = http.get(&url).send().await {
                    if r.status().is_success() {
                        body = r.text().await.unwrap();
                        break;
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    body
}

#[tokio::test(flavor = "multi_thread")]
async fn packages_install_render_upgrade_and_uninstall_through_marathon() {
    if !is_root() {
        return;
    }
    let node = Node::new("127.0.0.1", None);
    let r = node.install(&[
        "--resources",
        "cpus:4;mem:4096;disk:1000;ports:[32200-32299]",
    ]);
    assert!(r.ok(), "install failed:\n{}\n{}", r.stdout, r.stderr);
    node.setup();
    let http = reqwest::Client::new();

    // Cosmos is a component of the installed cluster, healthy on the
    // gateway's health page.
    let health: Value = gateway_get(&node, &http, "/system/health/v1")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        health["units"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["name"] == "Cosmos" && u["health"] == 0),
        "{health}"
    );

    // The built-in catalog is the first repository of a fresh cluster.
    let repos = json(&node.dcos_ok(&["package", "repo", "list", "--json"]));
    assert_eq!(repos[0]["name"], "Universe", "{repos}");
    let found = node.dcos_ok(&["package", "search", "hello"]);
    assert!(found.contains("hello-world"), "{found}");

    // hello-world with an option changed, followed until healthy, then
    // its server answers with the message.
    let opts = write(
        &node,
        "hello.json",
        &json!({"service": {"name": "greeter", "message": "hi from the catalog"}}),
    );
    let out = node.dcos_ok(&[
        "package",
        "install",
        "hello-world",
        "--yes",
        "--options",
        &opts,
    ]);
    assert!(out.contains("hello-world is starting"), "{out}");
    let body = get_from_task(&node, &http, "/greeter").await;
    assert_eq!(body.trim(), "hi from the catalog");
    let listed = json(&node.dcos_ok(&["package", "list", "--json"]));
    assert_eq!(listed[0]["appId"], "/greeter", "{listed}");
    let ends = json(&node.dcos_ok(&["package", "endpoints", "hello-world", "--json"]));
    let address = ends[0]["address"][0].as_str().expect("an address");
    let via_endpoint = http
        .get(format!("http://{address}/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(via_endpoint.trim(), "hi from the catalog");
    assert_eq!(
        listed[0]["packageInformation"]["packageDefinition"]["name"],
        "hello-world"
    );

    // Fixture repositories: the source layout, and an index JSON file.
    let src = fixtures().join("universe");
    let index = fixtures().join("universe-index.json");
    node.dcos_ok(&["package", "repo", "add", "fixtures", src.to_str().unwrap()]);
    node.dcos_ok(&[
        "package",
        "repo",
        "add",
        "fixture-index",
        &format!("file://{}", index.display()),
        "--index",
        "0",
    ]);
    let repos = json(&node.dcos_ok(&["package", "repo", "list", "--json"]));
    let names: Vec<&str> = repos
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["fixture-index", "Universe", "fixtures"]);
    let search = json(&node.dcos_ok(&["package", "search", "fixture", "--json"]));
    let found: Vec<&str> = search["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for name in [
        "fixture-web",
        "fixture-legacy",
        "fixture-v2",
        "fixture-idx",
        "fixture-idx-legacy",
    ] {
        assert!(found.contains(&name), "{name} not in {found:?}");
    }
    // Describe every version of every fixture.
    for (name, versions) in [
        ("fixture-web", vec!["1.1.0", "1.0.0"]),
        ("fixture-idx", vec!["3.2.0", "3.1.0"]),
        ("fixture-legacy", vec!["0.9"]),
        ("fixture-v2", vec!["2.0.0"]),
        ("fixture-idx-legacy", vec!["1.0"]),
    ] {
        let all = json(&node.dcos_ok(&["package", "describe", name, "--package-versions"]));
        assert_eq!(
            all.as_object().unwrap().len(),
            versions.len(),
            "{name}: {all}"
        );
        for v in versions {
            let d = json(&node.dcos_ok(&["package", "describe", name, "--package-version", v]));
            assert_eq!(
                (d["name"].as_str(), d["version"].as_str()),
                (Some(name), Some(v))
            );
        }
    }
    let legacy = json(&node.dcos_ok(&["package", "describe", "fixture-legacy"]));
    assert_eq!(legacy["packagingVersion"], "3.0");
    assert_eq!(legacy["command"]["pip"][0], "dcos-fixture-legacy==0.9");

    // Render one with options (nothing is created).
    let ropts = write(
        &node,
        "idx.json",
        &json!({"seconds": 42, "note": "a \"quoted\" note"}),
    );
    let rendered = json(&node.dcos_ok(&[
        "package",
        "describe",
        "fixture-idx",
        "--render",
        "--options",
        &ropts,
        "--package-version",
        "3.1.0",
    ]));
    assert_eq!(rendered["cmd"], "sleep 42");
    assert_eq!(rendered["labels"]["NOTE"], "a \"quoted\" note");
    assert_eq!(rendered["labels"]["DCOS_PACKAGE_VERSION"], "3.1.0");
    assert!(!app_ids(&node, &http)
        .await
        .contains(&"/fixture-idx".to_string()));

    // Install an old version with options, then upgrade: the options stay.
    let wopts = write(
        &node,
        "web.json",
        &json!({"service": {"message": "kept across upgrades"}}),
    );
    node.dcos_ok(&[
        "package",
        "install",
        "fixture-web",
        "--package-version",
        "1.0.0",
        "--options",
        &wopts,
        "--yes",
    ]);
    assert_eq!(
        get_from_task(&node, &http, "/fixture-web").await.trim(),
        "kept across upgrades 1.0.0"
    );
    node.dcos_ok(&[
        "package",
        "update",
        "/fixture-web",
        "--package-version",
        "1.1.0",
    ]);
    wait_until(Duration::from_secs(60), "fixture-web serves 1.1.0", || {
        let node = &node;
        let http = &http;
        async move {
            get_from_task(node, http, "/fixture-web").await.trim() == "kept across upgrades 1.1.0"
        }
    })
    .await;
    let a = app(&node, &http, "/fixture-web").await.unwrap();
    assert_eq!(a["labels"]["DCOS_PACKAGE_VERSION"], "1.1.0");
    // resource.json names an asset the app does not use (and that cannot
    // be downloaded): it is not brought in.
    assert!(a["env"].get("ASSET").is_none());

    // Bad input: a precise error, and no app left behind.
    let before = app_ids(&node, &http).await;
    let bad = write(
        &node,
        "bad.json",
        &json!({"service": {"instances": 0, "mem": "lots"}}),
    );
    let r = node.dcos(&[
        "package",
        "install",
        "fixture-web",
        "--options",
        &bad,
        "--yes",
        "--app-id",
        "/bad",
    ]);
    assert!(!r.ok(), "{r:?}");
    assert!(
        r.stderr.contains("Options JSON failed validation")
            && r.stderr.contains("/service/instances")
            && r.stderr.contains("/service/mem"),
        "{}",
        r.stderr
    );
    let r = node.dcos(&["package", "install", "no-such-package", "--yes"]);
    assert!(
        r.stderr.contains("Package [no-such-package] not found"),
        "{}",
        r.stderr
    );
    let r = node.dcos(&[
        "package",
        "install",
        "fixture-web",
        "--package-version",
        "9.9",
        "--yes",
    ]);
    assert!(
        r.stderr
            .contains("Version [9.9] of package [fixture-web] not found"),
        "{}",
        r.stderr
    );
    let r = node.dcos(&["package", "install", "fixture-broken", "--yes"]);
    assert!(
        r.stderr.contains("service.sleep_seconds") && r.stderr.contains("line 1"),
        "{}",
        r.stderr
    );
    let garbage = node.tmp().join("garbage.json");
    std::fs::write(&garbage, "<html>not a repository</html>").unwrap();
    let r = node.dcos(&["package", "repo", "add", "junk", garbage.to_str().unwrap()]);
    assert!(
        r.stderr.contains("not a valid Universe repository"),
        "{}",
        r.stderr
    );
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let down = format!("http://{}/repo.json", sock.local_addr().unwrap());
    let r = node.dcos(&["package", "repo", "add", "down", &down]);
    assert!(
        r.stderr.contains("could not read repository"),
        "{}",
        r.stderr
    );
    assert_eq!(
        app_ids(&node, &http).await,
        before,
        "nothing half-installed"
    );
    let repos = json(&node.dcos_ok(&["package", "repo", "list", "--json"]));
    assert_eq!(repos.as_array().unwrap().len(), 3, "{repos}");

    // Artifacts: a package whose resource.json names a file with its
    // sha256. A wrong sha256 refuses the install (nothing created); the
    // right one brings the file into the artifact store once and the
    // agent's fetcher takes it from there.
    artifact_packages(&node, &http).await;

    // A package whose template is a Marathon group: one installation of
    // two apps, listed once, uninstalled as a whole.
    node.dcos_ok(&["package", "install", "fixture-group", "--yes", "--no-wait"]);
    let body = get_from_task(&node, &http, "/fixture-group/web").await;
    assert_eq!(body.trim(), "from a package group");
    let worker = app(&node, &http, "/fixture-group/worker")
        .await
        .expect("the worker");
    assert_eq!(worker["labels"]["ROLE"], "worker");
    assert_eq!(worker["labels"]["DCOS_PACKAGE_GROUP"], "/fixture-group");
    let listed = json(&node.dcos_ok(&["package", "list", "fixture-group", "--json"]));
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["appId"], "/fixture-group", "{listed}");
    let ends = json(&node.dcos_ok(&["package", "endpoints", "fixture-group", "--json"]));
    assert_eq!(ends[0]["address"].as_array().unwrap().len(), 1, "{ends}");
    node.dcos_ok(&["package", "uninstall", "fixture-group"]);
    wait_until(Duration::from_secs(30), "the group's apps gone", || {
        let node = &node;
        let http = &http;
        async move {
            !app_ids(node, http)
                .await
                .iter()
                .any(|id| id.starts_with("/fixture-group/"))
        }
    })
    .await;
    let repos = json(&node.dcos_ok(&["package", "repo", "list", "--json"]));
    assert_eq!(repos.as_array().unwrap().len(), 3, "{repos}");

    // The Cosmos API's media types, as raw HTTP through the gateway.
    let token = node.token();
    let post = |accept: Option<&str>, content_type: Option<&str>| {
        let mut req = http
            .post(format!("{}/package/list-versions", node.gateway()))
            .header("Authorization", format!("token={token}"))
            .body(r#"{"packageName":"fixture-web","includePackageVersions":true}"#);
        if let Some(a) = accept {
            req = req.header("Accept", a);
        }
        if let Some(c) = content_type {
            req = req.header("Content-Type", c);
        }
        req.send()
    };
    const REQ: &str =
        "application/vnd.dcos.package.list-versions-request+json;charset=utf-8;version=v1";
    const RESP: &str =
        "application/vnd.dcos.package.list-versions-response+json;charset=utf-8;version=v1";
    let ok = post(Some(RESP), Some(REQ)).await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["content-type"], RESP);
    assert_eq!(
        ok.json::<Value>().await.unwrap()["results"],
        json!({"1.1.0": "1", "1.0.0": "0"})
    );
    // reqwest sends `Accept: */*` when none is given: not a Cosmos type.
    let any = post(None, Some(REQ)).await.unwrap();
    assert_eq!(any.status(), 400);
    assert_eq!(
        any.headers()["content-type"],
        "application/vnd.dcos.package.error+json;charset=utf-8;version=v1"
    );
    let any: Value = any.json().await.unwrap();
    assert_eq!(any["type"], "not_valid", "{any}");
    assert!(any["message"].as_str().unwrap().contains("*/*"), "{any}");
    let no_type = post(Some(RESP), None).await.unwrap();
    assert_eq!(no_type.status(), 400);
    let no_type: Value = no_type.json().await.unwrap();
    assert_eq!(no_type["type"], "not_present", "{no_type}");
    let wrong_version = post(Some(&RESP.replace("v1", "v7")), Some(REQ))
        .await
        .unwrap();
    assert_eq!(wrong_version.status(), 400);
    assert_eq!(
        wrong_version.json::<Value>().await.unwrap()["type"],
        "not_valid"
    );
    let plain_json = post(Some(RESP), Some("application/json")).await.unwrap();
    assert_eq!(plain_json.status(), 400);
    assert_eq!(
        plain_json.json::<Value>().await.unwrap()["type"],
        "not_valid"
    );

    // Uninstall removes the apps and the listing.
    node.dcos_ok(&["package", "uninstall", "fixture-web"]);
    let out = node.dcos_ok(&[
        "package",
        "uninstall",
        "hello-world",
        "--app-id",
        "/greeter",
    ]);
    assert!(out.contains("hello-world is removed"), "{out}");
    let listed = json(&node.dcos_ok(&["package", "list", "--json"]));
    assert_eq!(listed, json!([]));
    wait_until(Duration::from_secs(30), "the package apps are gone", || {
        let node = &node;
        let http = &http;
        async move {
            let ids = app_ids(node, http).await;
            !ids.contains(&"/greeter".to_string()) && !ids.contains(&"/fixture-web".to_string())
        }
    })
    .await;
    let r = node.dcos(&["package", "uninstall", "fixture-web"]);
    assert!(
        r.stderr.contains("Package [fixture-web] is not installed"),
        "{}",
        r.stderr
    );

    let d = node.dir.display().to_string();
    node.dcos_ok(&["uninstall", "--data-dir", &d, "--purge"]);
}

/// A repository with `fixture-artifact` 1.0.0 (its contentHash wrong) and
/// 2.0.0 (right), both fetching `payload.tar.gz` (a `www/index.html`).
fn artifact_repository(node: &Node) -> std::path::PathBuf {
    let root = node.tmp().join("artifact-repo");
    let payload = node.tmp().join("payload.tar.gz");
    {
        let f = std::fs::File::create(&payload).unwrap();
        let gz = flate2::write::GzEncoder::new(f, flate2::Compression::default());
        let mut tar = tar::Builder::new(gz);
        let body = b"served from the artifact store\n";
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, "www/index.html", &body[..])
            .unwrap();
        tar.into_inner().unwrap().finish().unwrap();
    }
    let sha = dcos_packaging::bundle::hash_file(&payload).unwrap().0;
    let url = format!("file://{}", payload.display());
    for (release, version, hash) in [(0, "1.0.0", "0".repeat(64)), (1, "2.0.0", sha)] {
        let dir = root.join(format!("repo/packages/F/fixture-artifact/{release}"));
        std::fs::create_dir_all(&dir).unwrap();
        let package = json!({"packagingVersion": "4.0", "name": "fixture-artifact",
            "version": version, "maintainer": "t@localhost",
            "description": "serves a file fetched from the artifact store", "tags": []});
        std::fs::write(dir.join("package.json"), package.to_string()).unwrap();
        let resource = json!({"assets": {"uris": {"payload": url},
            "contentHash": {"payload": [{"algo": "sha256", "value": hash}]}}});
        std::fs::write(dir.join("resource.json"), resource.to_string()).unwrap();
        std::fs::write(
            dir.join("marathon.json.mustache"),
            r#"{"id": "/fixture-artifact", "instances": 1, "cpus": 0.1, "mem": 32,
  "cmd": "exec python3 -m http.server --directory www $PORT0",
  "fetch": [{"uri": "{{resource.assets.uris.payload}}", "extract": true}],
  "portDefinitions": [{"port": 0}]}"#,
        )
        .unwrap();
    }
    root
}

async fn artifact_packages(node: &Node, http: &reqwest::Client) {
    let repo = artifact_repository(node);
    node.dcos_ok(&[
        "package",
        "repo",
        "add",
        "artifacts",
        repo.to_str().unwrap(),
    ]);
    let before = app_ids(node, http).await;
    let r = node.dcos(&[
        "package",
        "install",
        "fixture-artifact",
        "--package-version",
        "1.0.0",
        "--yes",
    ]);
    assert!(!r.ok());
    assert!(
        r.stderr.contains("has sha256") && r.stderr.contains(&"0".repeat(64)),
        "{}",
        r.stderr
    );
    assert_eq!(app_ids(node, http).await, before, "nothing half-installed");
    let listed = json(&node.dcos_ok(&["package", "bundle", "list", "--json"]));
    assert_eq!(
        listed["artifacts"],
        json!([]),
        "a refused artifact is not kept"
    );

    // The rendered app fetches from the cluster, not from the file.
    let rendered = json(&node.dcos_ok(&["package", "describe", "fixture-artifact", "--render"]));
    let uri = rendered["fetch"][0]["uri"].as_str().unwrap().to_string();
    assert!(
        uri.contains("/artifacts/") && uri.ends_with("/payload.tar.gz"),
        "{uri}"
    );
    node.dcos_ok(&[
        "package",
        "install",
        "fixture-artifact",
        "--yes",
        "--no-wait",
    ]);
    // The source may go: the cluster has its copy.
    std::fs::remove_file(node.tmp().join("payload.tar.gz")).unwrap();
    let body = get_from_task(node, http, "/fixture-artifact").await;
    assert_eq!(body.trim(), "served from the artifact store");
    let direct = http.get(&uri).send().await.unwrap();
    assert_eq!(direct.status(), 200);
    node.dcos_ok(&["package", "uninstall", "fixture-artifact"]);
    node.dcos_ok(&["package", "repo", "remove", "artifacts"]);
}
