//! The built-in catalog (`packaging/catalog/`, in the Universe source
//! layout), compiled into the binary and unpacked by Cosmos at start so
//! a fresh cluster has packages without any network.

use std::path::Path;

/// The files of `packaging/catalog/`.
#[derive(rust_embed::Embed)]
#[folder = "catalog/"]
pub struct Builtin;

/// Writes the catalog to `dir`, replacing what was there (written beside
/// it and renamed in, so a reader never sees half of it).
pub fn unpack(dir: &Path) -> std::io::Result<()> {
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)?;
    let tmp = tempfile::Builder::new()
        .prefix(".catalog-")
        .tempdir_in(parent)?;
    for name in Builtin::iter() {
        let Some(file) = Builtin::get(&name) else {
            continue;
        };
        let out = tmp.path().join(name.as_ref());
        if let Some(p) = out.parent() {
            std::fs::create_dir_all(p)?;
        }
        std::fs::write(out, file.data)?;
    }
    let old = parent.join(format!(".catalog-old-{}", std::process::id()));
    if dir.exists() {
        std::fs::rename(dir, &old)?;
    }
    let kept = tmp.keep();
    std::fs::rename(&kept, dir)?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_builtin_catalog_unpacks_and_every_package_is_valid() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("catalog");
        unpack(&target).unwrap();
        unpack(&target).unwrap();
        let index = crate::universe::read_source_layout(&target).unwrap();
        assert!(index.releases("hello-world").is_some());
        assert!(index.releases("kafka").is_some());
        let artifacts = crate::artifacts::Artifacts::new(
            dir.path().join("artifacts"),
            std::sync::Arc::new(dcos_store::MemStore::new()),
            reqwest::Client::new(),
            "http://10.0.0.1:7070".into(),
        )
        .unwrap();
        for p in index.all() {
            // Every package renders with its defaults, its artifacts
            // fetched from the cluster's store, each of them used.
            let mut extra = serde_json::Map::new();
            if let Some(r) = artifacts.localize(p.resource.as_ref()) {
                extra.insert("resource".into(), r);
            }
            extra.insert(
                "cluster".into(),
                serde_json::json!({"masters": "http://10.0.0.1:5050"}),
            );
            let app = crate::render::render_with(p, extra, "file:///builtin", None, None)
                .unwrap_or_else(|e| panic!("{} {}: {e}", p.name, p.version));
            let fetched: Vec<&str> = app
                .get("fetch")
                .and_then(serde_json::Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|f| f["uri"].as_str())
                .collect();
            for w in crate::artifacts::wanted(p.resource.as_ref()).unwrap() {
                let link = artifacts.link(&w.url);
                assert!(
                    fetched.contains(&link.as_str()),
                    "{}: {} ({}) is not fetched",
                    p.name,
                    w.name,
                    w.url
                );
            }
            assert!(
                fetched
                    .iter()
                    .all(|u| u.starts_with("http://10.0.0.1:7070/artifacts/")),
                "{}: fetches from outside the cluster: {fetched:?}",
                p.name
            );
        }
        // A fixed broker port is required of the offer; the default takes any.
        let kafka = &index.releases("kafka").unwrap()[0];
        let any = crate::render::render(kafka, "x", None, None).unwrap();
        assert_eq!(any["requirePorts"], false);
        let fixed = serde_json::json!({"brokers": {"port": 9092}});
        let fixed = crate::render::render(kafka, "x", fixed.as_object(), None).unwrap();
        assert_eq!(
            (&fixed["requirePorts"], &fixed["portDefinitions"][0]["port"]),
            (&serde_json::json!(true), &serde_json::json!(9092))
        );
    }
}
