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

    #[test]
    fn the_builtin_catalog_unpacks_and_every_package_is_valid() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("catalog");
        unpack(&target).unwrap();
        unpack(&target).unwrap();
        let index = crate::universe::read_source_layout(&target).unwrap();
        assert!(index.releases("hello-world").is_some());
        for p in index.all() {
            // Every package renders with its defaults.
            crate::render::render(p, "file:///builtin", None, None)
                .unwrap_or_else(|e| panic!("{} {}: {e}", p.name, p.version));
        }
    }
}
