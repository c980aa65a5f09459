//! `dcos-bench cosmos-catalog`: `package search` and `render` latency of
//! the Cosmos API with a large index. Generates an index JSON of N
//! packages (each with an options schema and a template the size of a
//! real Universe one), serves the real Cosmos router on a loopback port
//! (the store in memory, no Marathon: search and render never call it)
//! and times the HTTP calls a CLI makes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::Engine;
use clap::Args;
use dcos_packaging::api::{media_type, router, Cosmos};
use dcos_packaging::catalog::{Catalog, Repository};
use dcos_packaging::marathon::Marathon;
use serde_json::{json, Value};

use crate::percentile;

#[derive(Debug, Args)]
pub struct CosmosArgs {
    /// Packages in the generated index.
    #[arg(long, default_value_t = 500)]
    pub packages: usize,
    /// Requests per measured call.
    #[arg(long, default_value_t = 1000)]
    pub requests: usize,
}

fn index(n: usize) -> Value {
    let template = r#"{
  "id": "/{{service.name}}", "instances": {{service.instances}},
  "cpus": {{service.cpus}}, "mem": {{service.mem}},
  "cmd": "exec ./server --port $PORT0 --name {{service.name}}",
  "env": {"LOG_LEVEL": "{{service.log_level}}", "URI": "{{resource.assets.uris.server}}"},
  "uris": ["{{resource.assets.uris.server}}"],
  "portDefinitions": [{"port": 0, "name": "api"}],
  "healthChecks": [{"protocol": "MESOS_HTTP", "path": "/health", "portIndex": 0}],
  "labels": {"DCOS_SERVICE_NAME": "{{service.name}}"}
}"#;
    let packages: Vec<Value> = (0..n)
        .map(|i| {
            let name = format!("pkg-{i:04}");
            json!({
                "packagingVersion": "4.0", "name": name, "version": "1.0.0", "releaseVersion": 0,
                "maintainer": "bench@localhost",
                "description": format!("Benchmark package number {i}, a service that serves"),
                "tags": ["bench", format!("group-{}", i % 10)], "selected": i % 50 == 0,
                "config": {"type": "object", "properties": {"service": {"type": "object", "properties": {
                    "name": {"type": "string", "default": name},
                    "instances": {"type": "integer", "default": 1, "minimum": 1},
                    "cpus": {"type": "number", "default": 0.5},
                    "mem": {"type": "number", "default": 512},
                    "log_level": {"type": "string", "enum": ["debug", "info", "warn"], "default": "info"}}}}},
                "resource": {"assets": {"uris": {"server": format!("https://example.invalid/{name}.tgz")}},
                             "images": {"icon-small": "https://example.invalid/s.png"}},
                "marathon": {"v2AppMustacheTemplate":
                    base64::engine::general_purpose::STANDARD.encode(template)},
            })
        })
        .collect();
    json!({ "packages": packages })
}

async fn time_calls(
    http: &reqwest::Client,
    url: &str,
    kind: (&str, &str),
    body: &Value,
    n: usize,
) -> anyhow::Result<Vec<Duration>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        let resp = http
            .post(url)
            .header("Content-Type", media_type(kind.0, 1))
            .header("Accept", media_type(kind.1, 1))
            .body(body.to_string())
            .send()
            .await?;
        let status = resp.status();
        let bytes = resp.bytes().await?;
        anyhow::ensure!(
            status.is_success(),
            "{url}: {status} {}",
            String::from_utf8_lossy(&bytes)
        );
        out.push(start.elapsed());
    }
    out.sort();
    Ok(out)
}

fn report(what: &str, d: &[Duration]) {
    println!(
        "{what}: n={} p50={:.2} ms p90={:.2} ms p99={:.2} ms max={:.2} ms",
        d.len(),
        percentile(d, 0.5),
        percentile(d, 0.9),
        percentile(d, 0.99),
        percentile(d, 1.0)
    );
}

pub async fn catalog(args: CosmosArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("index.json");
    std::fs::write(&file, index(args.packages).to_string())?;
    println!(
        "index: {} packages, {} KiB",
        args.packages,
        std::fs::metadata(&file)?.len() / 1024
    );
    let http = reqwest::Client::new();
    let kv: Arc<dyn dcos_store::Kv> = Arc::new(dcos_store::MemStore::new());
    let cosmos = Arc::new(Cosmos {
        artifacts: dcos_packaging::artifacts::Artifacts::new(
            dir.path().join("artifacts"),
            kv.clone(),
            http.clone(),
            "http://127.0.0.1:1".into(),
        )?,
        catalog: Catalog::new(
            kv,
            vec![Repository {
                name: "bench".into(),
                uri: file.display().to_string(),
            }],
            http.clone(),
            Duration::from_secs(30),
        ),
        marathon: Marathon::new(vec![], http.clone()),
        masters: vec![],
        http: http.clone(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, router(cosmos)).await });
    let search = ("package.search-request", "package.search-response");
    let cold = time_calls(
        &http,
        &format!("{base}/package/search"),
        search,
        &json!({}),
        1,
    )
    .await
    .context("first search")?;
    report("search, first (reads and parses the index)", &cold);
    let all = time_calls(
        &http,
        &format!("{base}/package/search"),
        search,
        &json!({}),
        args.requests,
    )
    .await?;
    report(&format!("search all ({} results)", args.packages), &all);
    let one = time_calls(
        &http,
        &format!("{base}/package/search"),
        search,
        &json!({"query": "pkg-04*"}),
        args.requests,
    )
    .await?;
    report("search 'pkg-04*'", &one);
    let render = time_calls(
        &http,
        &format!("{base}/package/render"),
        ("package.render-request", "package.render-response"),
        &json!({"packageName": format!("pkg-{:04}", args.packages / 2),
                "options": {"service": {"instances": 3, "log_level": "debug"}}}),
        args.requests,
    )
    .await?;
    report("render (options validated, template rendered)", &render);
    Ok(())
}
