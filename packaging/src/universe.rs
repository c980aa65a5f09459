//! The Universe package format: one release of one package, as the
//! repository index JSON carries it, and the two forms a repository comes
//! in.
//!
//! - The **source layout** (`repo/packages/<L>/<name>/<release>/` with
//!   `package.json`, `config.json`, `marathon.json.mustache`,
//!   `resource.json`, `command.json`), read by [`read_source_layout`].
//! - The **index JSON** (`{"packages": [...]}`, the body of the
//!   `application/vnd.dcos.universe.repo+json;version=v3|v4|v5` content
//!   types), read by [`parse_index`]. Each entry is `package.json` plus
//!   `releaseVersion`, `config`, `resource`, `marathon.v2AppMustacheTemplate`
//!   (base64) and, up to packagingVersion 3.0, `command`.
//!
//! [`Package`] is both the wire shape (it serialises as an index entry,
//! unknown fields kept) and what the rest of the crate reads. Owns
//! parsing and the checks a package must pass to be served; not where a
//! repository comes from (see [`crate::fetch`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Why a repository's content cannot be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FormatError {
    /// A file or entry is not what the format says.
    #[error("{place}: {message}")]
    Invalid {
        /// The file, or the package entry (`packages[3] (kafka)`).
        place: String,
        /// What is wrong.
        message: String,
    },
    /// A file could not be read.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        message: String,
    },
}

fn invalid(place: impl Into<String>, message: impl Into<String>) -> FormatError {
    FormatError::Invalid {
        place: place.into(),
        message: message.into(),
    }
}

/// `packagingVersion`: the package format generations this catalog reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PackagingVersion {
    /// 2.0: `command.json` CLIs, no `minDcosReleaseVersion`.
    #[serde(rename = "2.0")]
    V2,
    /// 3.0: `minDcosReleaseVersion`, CLI binaries in `resource.json`.
    #[serde(rename = "3.0")]
    V3,
    /// 4.0: `upgradesFrom`/`downgradesTo`, no `command`.
    #[serde(rename = "4.0")]
    V4,
}

impl PackagingVersion {
    /// As written in `package.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            PackagingVersion::V2 => "2.0",
            PackagingVersion::V3 => "3.0",
            PackagingVersion::V4 => "4.0",
        }
    }
}

/// `marathon`: the app template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MarathonTemplate {
    /// `marathon.json.mustache`, base64.
    pub v2_app_mustache_template: String,
}

/// One release of one package (an index entry).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Package {
    /// The format generation.
    pub packaging_version: PackagingVersion,
    /// The package's name (`kafka`).
    pub name: String,
    /// The package's version (`2.10.0-2.4.0`).
    pub version: String,
    /// The release number: the order of releases within a repository.
    #[serde(default)]
    pub release_version: u64,
    /// Who maintains it.
    #[serde(default)]
    pub maintainer: String,
    /// One line about it.
    #[serde(default)]
    pub description: String,
    /// Search words.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Shown first ("Certified" in DC/OS' catalog).
    #[serde(default)]
    pub selected: bool,
    /// A Mesos framework (has its own scheduler).
    #[serde(default)]
    pub framework: bool,
    /// Shown before installing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_install_notes: Option<String>,
    /// Shown after installing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_install_notes: Option<String>,
    /// Shown after uninstalling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_uninstall_notes: Option<String>,
    /// Source repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scm: Option<String>,
    /// Web site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    /// Licenses (`[{name, url}]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licenses: Option<Vec<Value>>,
    /// 3.0+: the oldest DC/OS release it runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_dcos_release_version: Option<String>,
    /// 4.0: versions an installation may be upgraded from (`*` any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrades_from: Option<Vec<String>>,
    /// 4.0: versions it may be downgraded to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downgrades_to: Option<Vec<String>>,
    /// The options' JSON Schema (`config.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Value>,
    /// `resource.json`: assets, images, CLI binaries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<Value>,
    /// The Marathon template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marathon: Option<MarathonTemplate>,
    /// ≤ 3.0: `command.json` (a pip list for the legacy CLI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Value>,
    /// Everything else an index entry carries (`lastUpdated`,
    /// `hasKnownIssues`, `manager`, …), passed through.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl Package {
    /// The Marathon template, decoded.
    pub fn template(&self) -> Result<Option<String>, FormatError> {
        let Some(m) = &self.marathon else {
            return Ok(None);
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(m.v2_app_mustache_template.trim())
            .map_err(|e| {
                invalid(
                    self.place(),
                    format!("marathon.v2AppMustacheTemplate is not base64: {e}"),
                )
            })?;
        String::from_utf8(bytes).map(Some).map_err(|_| {
            invalid(
                self.place(),
                "marathon.v2AppMustacheTemplate is not UTF-8 text",
            )
        })
    }

    /// `resource.images` (icons), if any.
    pub fn images(&self) -> Option<&Value> {
        self.resource.as_ref().and_then(|r| r.get("images"))
    }

    /// `resource.json`'s `cli` section, if any.
    pub fn cli(&self) -> Option<&Value> {
        self.resource.as_ref().and_then(|r| r.get("cli"))
    }

    fn place(&self) -> String {
        format!("package {} {}", self.name, self.version)
    }

    /// The checks every served package passes: names, versions, the
    /// fields of its packaging version, a config that is a JSON Schema
    /// object, a template that decodes.
    pub fn check(&self) -> Result<(), FormatError> {
        let place = self.place();
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        {
            return Err(invalid(
                place,
                format!(
                    "name {:?} must be non-empty lowercase letters, digits, '-' and '.'",
                    self.name
                ),
            ));
        }
        if self.version.trim().is_empty() {
            return Err(invalid(place, "version must not be empty"));
        }
        if self.packaging_version == PackagingVersion::V4 && self.command.is_some() {
            return Err(invalid(
                place,
                "packagingVersion 4.0 has no command (use resource.cli)",
            ));
        }
        if let Some(c) = &self.config {
            if !c.is_object() {
                return Err(invalid(place, "config must be a JSON Schema object"));
            }
            if let Err(e) = jsonschema::validator_for(c) {
                return Err(invalid(
                    place,
                    format!("config is not a valid JSON Schema: {e}"),
                ));
            }
        }
        if let Some(r) = &self.resource {
            if !r.is_object() {
                return Err(invalid(place, "resource must be a JSON object"));
            }
        }
        self.template()?;
        Ok(())
    }
}

/// A repository's packages: every release of every package, releases in
/// descending `releaseVersion` order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Index {
    /// name → releases, newest first.
    pub packages: BTreeMap<String, Vec<Package>>,
}

impl Index {
    /// Groups and orders packages; two releases of one package with the
    /// same version or the same release number are an error.
    pub fn new(packages: Vec<Package>) -> Result<Self, FormatError> {
        let mut by_name: BTreeMap<String, Vec<Package>> = BTreeMap::new();
        for p in packages {
            p.check()?;
            by_name.entry(p.name.clone()).or_default().push(p);
        }
        for (name, releases) in &mut by_name {
            releases.sort_by_key(|p| std::cmp::Reverse(p.release_version));
            for pair in releases.windows(2) {
                if pair[0].release_version == pair[1].release_version {
                    return Err(invalid(
                        format!("package {name}"),
                        format!(
                            "two releases have releaseVersion {}",
                            pair[0].release_version
                        ),
                    ));
                }
            }
            let mut versions: Vec<&str> = releases.iter().map(|p| p.version.as_str()).collect();
            versions.sort_unstable();
            if let Some(w) = versions.windows(2).find(|w| w[0] == w[1]) {
                return Err(invalid(
                    format!("package {name}"),
                    format!("version {} is released twice", w[0]),
                ));
            }
        }
        Ok(Index { packages: by_name })
    }

    /// Every release, in name order, newest release first within a name.
    pub fn all(&self) -> impl Iterator<Item = &Package> {
        self.packages.values().flatten()
    }

    /// A package's releases, newest first.
    pub fn releases(&self, name: &str) -> Option<&[Package]> {
        self.packages.get(name).map(Vec::as_slice)
    }

    /// The index JSON (`{"packages": [...]}`) of this repository.
    pub fn to_json(&self) -> Value {
        serde_json::json!({ "packages": self.all().collect::<Vec<_>>() })
    }
}

/// Reads an index JSON body (`{"packages": [...]}`).
pub fn parse_index(body: &[u8]) -> Result<Index, FormatError> {
    let root: Value = serde_json::from_slice(body)
        .map_err(|e| invalid("repository index", format!("not JSON: {e}")))?;
    let Some(list) = root.get("packages").and_then(Value::as_array) else {
        return Err(invalid(
            "repository index",
            "expected an object with a \"packages\" array",
        ));
    };
    let mut packages = Vec::with_capacity(list.len());
    for (i, entry) in list.iter().enumerate() {
        let label = entry
            .get("name")
            .and_then(Value::as_str)
            .map(|n| format!("packages[{i}] ({n})"))
            .unwrap_or_else(|| format!("packages[{i}]"));
        if entry.get("releaseVersion").is_none() {
            return Err(invalid(label, "missing releaseVersion"));
        }
        let p: Package =
            serde_json::from_value(entry.clone()).map_err(|e| invalid(label, e.to_string()))?;
        packages.push(p);
    }
    Index::new(packages)
}

/// Where the `packages/` folder of a source layout is under `root`
/// (`root/repo/packages`, `root/packages`, or one folder deeper, as a
/// zip archive of a repository usually has it).
pub fn find_packages_dir(root: &Path) -> Option<PathBuf> {
    let direct = [root.join("repo/packages"), root.join("packages")];
    if let Some(d) = direct.into_iter().find(|d| d.is_dir()) {
        return Some(d);
    }
    let entries = std::fs::read_dir(root).ok()?;
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            for d in [p.join("repo/packages"), p.join("packages")] {
                if d.is_dir() {
                    return Some(d);
                }
            }
        }
    }
    None
}

fn read_json(path: &Path) -> Result<Option<Value>, FormatError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| invalid(path.display().to_string(), format!("not valid JSON: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(FormatError::Io {
            path: path.to_owned(),
            message: e.to_string(),
        }),
    }
}

fn sorted_dirs(dir: &Path) -> Result<Vec<PathBuf>, FormatError> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| FormatError::Io {
        path: dir.to_owned(),
        message: e.to_string(),
    })?;
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

/// Reads one release folder (`packages/K/kafka/3/`).
pub fn read_release(dir: &Path, name: &str, release: u64) -> Result<Package, FormatError> {
    let place = dir.display().to_string();
    let Some(mut meta) = read_json(&dir.join("package.json"))? else {
        return Err(invalid(place, "package.json is missing"));
    };
    let Some(obj) = meta.as_object_mut() else {
        return Err(invalid(
            dir.join("package.json").display().to_string(),
            "must be a JSON object",
        ));
    };
    match obj.get("name").and_then(Value::as_str) {
        Some(n) if n == name => {}
        Some(n) => {
            return Err(invalid(
                dir.join("package.json").display().to_string(),
                format!("name {n:?} does not match its folder {name:?}"),
            ))
        }
        None => {
            return Err(invalid(
                dir.join("package.json").display().to_string(),
                "name is missing",
            ))
        }
    }
    obj.insert("releaseVersion".into(), Value::from(release));
    for (file, field) in [
        ("config.json", "config"),
        ("resource.json", "resource"),
        ("command.json", "command"),
    ] {
        if let Some(v) = read_json(&dir.join(file))? {
            obj.insert(field.into(), v);
        }
    }
    let template = dir.join("marathon.json.mustache");
    match std::fs::read(&template) {
        Ok(bytes) => {
            let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
            obj.insert(
                "marathon".into(),
                serde_json::json!({ "v2AppMustacheTemplate": b64 }),
            );
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(FormatError::Io {
                path: template,
                message: e.to_string(),
            })
        }
    }
    serde_json::from_value(meta).map_err(|e| {
        invalid(
            dir.join("package.json").display().to_string(),
            e.to_string(),
        )
    })
}

/// Reads a repository in the source layout under `root` (which holds
/// `repo/packages`, `packages`, or one folder holding either).
pub fn read_source_layout(root: &Path) -> Result<Index, FormatError> {
    let Some(packages_dir) = find_packages_dir(root) else {
        return Err(invalid(
            root.display().to_string(),
            "no Universe repository here: expected repo/packages/<L>/<name>/<release>/package.json",
        ));
    };
    let mut packages = Vec::new();
    for letter in sorted_dirs(&packages_dir)? {
        for pkg_dir in sorted_dirs(&letter)? {
            let name = pkg_dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            for release_dir in sorted_dirs(&pkg_dir)? {
                let folder = release_dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let release: u64 = folder.parse().map_err(|_| {
                    invalid(
                        release_dir.display().to_string(),
                        "a release folder's name must be its releaseVersion (a whole number)",
                    )
                })?;
                packages.push(read_release(&release_dir, &name, release)?);
            }
        }
    }
    Index::new(packages)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, text: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn source_layout_and_index_json_read_the_same_packages() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(
            root,
            "repo/packages/H/hello/0/package.json",
            r#"{"packagingVersion":"3.0","name":"hello","version":"1.0","maintainer":"m","description":"d","tags":["a"]}"#,
        );
        write(
            root,
            "repo/packages/H/hello/0/marathon.json.mustache",
            r#"{"id":"{{service.name}}"}"#,
        );
        write(
            root,
            "repo/packages/H/hello/0/config.json",
            r#"{"type":"object","properties":{"service":{"type":"object","properties":{"name":{"type":"string","default":"hello"}}}}}"#,
        );
        write(
            root,
            "repo/packages/H/hello/1/package.json",
            r#"{"packagingVersion":"4.0","name":"hello","version":"2.0","maintainer":"m","description":"d","upgradesFrom":["1.0"]}"#,
        );
        let index = read_source_layout(root).unwrap();
        let releases = index.releases("hello").unwrap();
        assert_eq!(releases.len(), 2);
        assert_eq!(releases[0].version, "2.0", "newest release first");
        assert_eq!(releases[1].release_version, 0);
        assert_eq!(
            releases[1].template().unwrap().unwrap(),
            r#"{"id":"{{service.name}}"}"#
        );
        let again = parse_index(index.to_json().to_string().as_bytes()).unwrap();
        assert_eq!(again, index);
    }

    #[test]
    fn bad_packages_are_refused_with_their_place() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(
            root,
            "packages/K/kafka/x/package.json",
            r#"{"packagingVersion":"4.0","name":"kafka","version":"1"}"#,
        );
        let e = read_source_layout(root).unwrap_err().to_string();
        assert!(e.contains("kafka/x") && e.contains("whole number"), "{e}");

        let e =
            parse_index(br#"{"packages":[{"name":"a","version":"1","packagingVersion":"4.0"}]}"#)
                .unwrap_err()
                .to_string();
        assert_eq!(e, "packages[0] (a): missing releaseVersion");
        let e = parse_index(br#"{"packages":[{"name":"a","version":"1","packagingVersion":"9.0","releaseVersion":0}]}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("packages[0] (a)") && e.contains("9.0"), "{e}");
        let e = parse_index(b"<html>").unwrap_err().to_string();
        assert!(e.starts_with("repository index: not JSON"), "{e}");
        let e = parse_index(
            br#"{"packages":[
            {"name":"a","version":"1","packagingVersion":"4.0","releaseVersion":0},
            {"name":"a","version":"1","packagingVersion":"4.0","releaseVersion":1}]}"#,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(e, "package a: version 1 is released twice");
        let e = parse_index(br#"{"packages":[{"name":"a","version":"1","packagingVersion":"4.0","releaseVersion":0,"marathon":{"v2AppMustacheTemplate":"%%%"}}]}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not base64"), "{e}");
    }
}
