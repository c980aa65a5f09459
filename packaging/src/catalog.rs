//! The catalog: the ordered list of repositories (in the store, under
//! [`REPOSITORIES_KEY`]) and what they hold (read through a short-lived
//! cache).
//!
//! The list is one key written with compare-and-set on its revision, so
//! two Cosmos processes (one per master) never lose each other's change;
//! a process keeps no copy of it between requests. Before the first
//! change the list is the configured defaults (the built-in catalog).
//! Packages resolve as DC/OS did: the first repository, in order, that
//! has the package name serves it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dcos_store::types::PutRequest;
use dcos_store::KvError;
use serde::{Deserialize, Serialize};

use crate::fetch::{self, FetchError};
use crate::universe::{Index, Package};

/// The store key of the repository list.
pub const REPOSITORIES_KEY: &str = "/cosmos/repositories";

/// One configured repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repository {
    /// Its name (`Universe`).
    pub name: String,
    /// Where it is.
    pub uri: String,
}

/// What can go wrong with the repository list.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The store did not answer.
    #[error("the store is unavailable: {0}")]
    Store(KvError),
    /// The stored list is unreadable.
    #[error("the stored repository list is not valid JSON: {0}")]
    Corrupt(String),
    /// A repository could not be read.
    #[error("{source}")]
    Repository {
        /// The repository.
        repository: Repository,
        /// Why.
        source: FetchError,
    },
    /// Neither name nor URI was given.
    #[error("Must specify either the name or URI of the repository")]
    NameOrUriMissing,
    /// The name or URI is already in the list.
    #[error("{}", already(.name.as_deref(), .uri.as_deref()))]
    AlreadyPresent {
        /// The clashing name.
        name: Option<String>,
        /// The clashing URI.
        uri: Option<String>,
    },
    /// The name or URI is not in the list.
    #[error("{}", not_present(.name.as_deref(), .uri.as_deref()))]
    NotPresent {
        /// The name asked for.
        name: Option<String>,
        /// The URI asked for.
        uri: Option<String>,
    },
    /// `index` is past the end of the list.
    #[error("Index ({attempted}) is out of range. Index value {}", if *.max == 0 { "can be at most 0".to_string() } else { format!("must be between 0 and {} inclusive.", .max) })]
    IndexOutOfBounds {
        /// The index asked for.
        attempted: i64,
        /// The largest allowed.
        max: usize,
    },
    /// A repository name must be usable.
    #[error("repository name must not be empty")]
    EmptyName,
    /// The list kept changing under us.
    #[error("the repository list changed concurrently too often; try again")]
    Contended,
}

fn already(name: Option<&str>, uri: Option<&str>) -> String {
    match (name, uri) {
        (Some(n), Some(u)) => {
            format!("Repository name [{n}] and URI [{u}] are both already present in the list")
        }
        (Some(n), None) => format!("Repository name [{n}] is already present in the list"),
        (None, Some(u)) => format!("Repository URI [{u}] is already present in the list"),
        (None, None) => "Repository is already present in the list".into(),
    }
}

fn not_present(name: Option<&str>, uri: Option<&str>) -> String {
    match (name, uri) {
        (Some(n), Some(u)) => {
            format!("Neither repository name [{n}] nor URI [{u}] are present in the list")
        }
        (Some(n), None) => format!("Repository name [{n}] is not present in the list"),
        (None, Some(u)) => format!("Repository URI [{u}] is not present in the list"),
        (None, None) => "Repository is not present in the list".into(),
    }
}

/// Why a package could not be found.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// No repository has it.
    #[error("Package [{0}] not found")]
    PackageNotFound(String),
    /// It exists, but not in that version.
    #[error("Version [{version}] of package [{name}] not found")]
    VersionNotFound {
        /// The package.
        name: String,
        /// The version asked for.
        version: String,
    },
    /// The list or a repository failed.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

/// A package release and the repository that serves it.
#[derive(Debug, Clone)]
pub struct Found {
    /// The release.
    pub package: Package,
    /// Its repository.
    pub repository: Repository,
    /// Every version of it in that repository, newest first, with its
    /// release number.
    pub versions: Vec<(String, u64)>,
}

/// The catalog of one Cosmos process.
pub struct Catalog {
    kv: Arc<dyn dcos_store::Kv>,
    defaults: Vec<Repository>,
    http: reqwest::Client,
    ttl: Duration,
    cache: Mutex<HashMap<String, (Instant, Arc<Index>)>>,
}

impl Catalog {
    /// A catalog over `kv` with `defaults` as the list before any change;
    /// repository contents are re-read after `ttl`.
    pub fn new(
        kv: Arc<dyn dcos_store::Kv>,
        defaults: Vec<Repository>,
        http: reqwest::Client,
        ttl: Duration,
    ) -> Self {
        Catalog {
            kv,
            defaults,
            http,
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The repository list and the revision it was read at (0: never
    /// written, the defaults).
    pub async fn repositories(&self) -> Result<(Vec<Repository>, u64), CatalogError> {
        let kv = self
            .kv
            .get(REPOSITORIES_KEY)
            .await
            .map_err(CatalogError::Store)?;
        match kv {
            None => Ok((self.defaults.clone(), 0)),
            Some(kv) => {
                let list: Vec<Repository> = serde_json::from_slice(&kv.value)
                    .map_err(|e| CatalogError::Corrupt(e.to_string()))?;
                Ok((list, kv.mod_revision))
            }
        }
    }

    async fn write(
        &self,
        change: impl Fn(&mut Vec<Repository>) -> Result<(), CatalogError>,
    ) -> Result<Vec<Repository>, CatalogError> {
        for _ in 0..8 {
            let (mut list, rev) = self.repositories().await?;
            change(&mut list)?;
            let value = serde_json::to_vec(&list).unwrap_or_default();
            match self
                .kv
                .put(PutRequest {
                    key: REPOSITORIES_KEY.into(),
                    value,
                    lease: None,
                    expect_mod_revision: Some(rev),
                })
                .await
            {
                Ok(_) => return Ok(list),
                Err(KvError::CasFailed { .. }) => continue,
                Err(e) => return Err(CatalogError::Store(e)),
            }
        }
        Err(CatalogError::Contended)
    }

    /// Adds a repository at `index` (the end by default) after reading it
    /// once, so a repository that is down or holds garbage is refused.
    pub async fn add(
        &self,
        name: &str,
        uri: &str,
        index: Option<i64>,
    ) -> Result<Vec<Repository>, CatalogError> {
        if name.trim().is_empty() {
            return Err(CatalogError::EmptyName);
        }
        let repo = Repository {
            name: name.to_string(),
            uri: uri.to_string(),
        };
        self.index(&repo).await?;
        self.write(|list| {
            let by_name = list.iter().any(|r| r.name == name);
            let by_uri = list.iter().any(|r| r.uri == uri);
            if by_name || by_uri {
                return Err(CatalogError::AlreadyPresent {
                    name: by_name.then(|| name.to_string()),
                    uri: by_uri.then(|| uri.to_string()),
                });
            }
            let at = match index {
                None => list.len(),
                Some(i) if i >= 0 && (i as usize) <= list.len() => i as usize,
                Some(i) => {
                    return Err(CatalogError::IndexOutOfBounds {
                        attempted: i,
                        max: list.len(),
                    })
                }
            };
            list.insert(at, repo.clone());
            Ok(())
        })
        .await
    }

    /// Removes the repository with this name and/or URI.
    pub async fn delete(
        &self,
        name: Option<&str>,
        uri: Option<&str>,
    ) -> Result<Vec<Repository>, CatalogError> {
        if name.is_none() && uri.is_none() {
            return Err(CatalogError::NameOrUriMissing);
        }
        self.write(|list| {
            let before = list.len();
            list.retain(|r| !(name.is_none_or(|n| r.name == n) && uri.is_none_or(|u| r.uri == u)));
            if list.len() == before {
                return Err(CatalogError::NotPresent {
                    name: name.map(str::to_owned),
                    uri: uri.map(str::to_owned),
                });
            }
            Ok(())
        })
        .await
    }

    /// A repository's packages (from the cache while fresh).
    pub async fn index(&self, repo: &Repository) -> Result<Arc<Index>, CatalogError> {
        if let Some((at, index)) = self.cache().get(&repo.uri) {
            if at.elapsed() < self.ttl {
                return Ok(index.clone());
            }
        }
        let index = fetch::load(&repo.uri, &self.http).await.map_err(|source| {
            CatalogError::Repository {
                repository: repo.clone(),
                source,
            }
        })?;
        let index = Arc::new(index);
        self.cache()
            .insert(repo.uri.clone(), (Instant::now(), index.clone()));
        Ok(index)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Arc<Index>)>> {
        // The map is only ever replaced entry by entry: a panic elsewhere
        // cannot leave it half-changed, so a poisoned lock is still good.
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every repository in order with its packages.
    pub async fn all(&self) -> Result<Vec<(Repository, Arc<Index>)>, CatalogError> {
        let (list, _) = self.repositories().await?;
        let mut out = Vec::with_capacity(list.len());
        for r in list {
            let index = self.index(&r).await?;
            out.push((r, index));
        }
        Ok(out)
    }

    /// The release of `name` at `version` (the newest when None) from the
    /// first repository that has the package (and that version).
    pub async fn resolve(&self, name: &str, version: Option<&str>) -> Result<Found, LookupError> {
        let mut seen = false;
        for (repo, index) in self.all().await? {
            let Some(releases) = index.releases(name) else {
                continue;
            };
            seen = true;
            let chosen = match version {
                None => releases.first(),
                Some(v) => releases.iter().find(|p| p.version == v),
            };
            if let Some(p) = chosen {
                return Ok(Found {
                    package: p.clone(),
                    repository: repo.clone(),
                    versions: releases
                        .iter()
                        .map(|p| (p.version.clone(), p.release_version))
                        .collect(),
                });
            }
        }
        match (seen, version) {
            (true, Some(v)) => Err(LookupError::VersionNotFound {
                name: name.to_string(),
                version: v.to_string(),
            }),
            _ => Err(LookupError::PackageNotFound(name.to_string())),
        }
    }

    /// Packages matching `query` (name, description or a tag, case
    /// insensitive; `*` is a wildcard; empty matches all), one per name
    /// (the first repository's), selected first, then by name.
    pub async fn search(&self, query: Option<&str>) -> Result<Vec<Found>, CatalogError> {
        let matcher = Matcher::new(query.unwrap_or(""));
        let mut by_name: BTreeMap<String, Found> = BTreeMap::new();
        for (repo, index) in self.all().await? {
            for (name, releases) in &index.packages {
                if by_name.contains_key(name) {
                    continue;
                }
                let Some(newest) = releases.first() else {
                    continue;
                };
                if !matcher.matches(newest) {
                    continue;
                }
                by_name.insert(
                    name.clone(),
                    Found {
                        package: newest.clone(),
                        repository: repo.clone(),
                        versions: releases
                            .iter()
                            .map(|p| (p.version.clone(), p.release_version))
                            .collect(),
                    },
                );
            }
        }
        let mut out: Vec<Found> = by_name.into_values().collect();
        out.sort_by(|a, b| {
            b.package
                .selected
                .cmp(&a.package.selected)
                .then_with(|| a.package.name.cmp(&b.package.name))
        });
        Ok(out)
    }
}

/// A search query: words with `*` wildcards, matched against the name,
/// the description and the tags.
struct Matcher {
    parts: Vec<String>,
    empty: bool,
}

impl Matcher {
    fn new(query: &str) -> Self {
        let q = query.trim().to_lowercase();
        Matcher {
            empty: q.is_empty() || q.chars().all(|c| c == '*'),
            parts: q.split('*').map(str::to_owned).collect(),
        }
    }

    fn hit(&self, text: &str) -> bool {
        let text = text.to_lowercase();
        if self.parts.len() == 1 {
            return text.contains(&self.parts[0]);
        }
        let mut pos = 0;
        for part in &self.parts {
            match text[pos..].find(part.as_str()) {
                Some(i) => pos += i + part.len(),
                None => return false,
            }
        }
        true
    }

    fn matches(&self, p: &Package) -> bool {
        self.empty
            || self.hit(&p.name)
            || self.hit(&p.description)
            || p.tags.iter().any(|t| self.hit(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_dir(packages: &[(&str, &str, u64, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, version, release, desc) in packages {
            let d = dir.path().join(format!(
                "repo/packages/{}/{name}/{release}",
                name[..1].to_uppercase()
            ));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(
                d.join("package.json"),
                serde_json::json!({"packagingVersion": "3.0", "name": name, "version": version,
                    "maintainer": "m", "description": desc, "tags": ["db"]})
                .to_string(),
            )
            .unwrap();
        }
        dir
    }

    fn catalog(defaults: Vec<Repository>) -> Catalog {
        Catalog::new(
            Arc::new(dcos_store::MemStore::new()),
            defaults,
            reqwest::Client::new(),
            Duration::from_secs(60),
        )
    }

    #[tokio::test]
    async fn repositories_in_order_decide_which_serves_a_package() {
        let a = repo_dir(&[("redis", "6", 0, "cache"), ("redis", "7", 1, "cache")]);
        let b = repo_dir(&[("redis", "8", 0, "other"), ("nginx", "1", 0, "web server")]);
        let ra = Repository {
            name: "A".into(),
            uri: a.path().display().to_string(),
        };
        let c = catalog(vec![ra.clone()]);
        assert_eq!(c.repositories().await.unwrap(), (vec![ra.clone()], 0));
        let list = c
            .add("B", &b.path().display().to_string(), None)
            .await
            .unwrap();
        assert_eq!(list.len(), 2);
        let found = c.resolve("redis", None).await.unwrap();
        assert_eq!(
            (
                found.package.version.as_str(),
                found.repository.name.as_str()
            ),
            ("7", "A")
        );
        assert_eq!(
            found.versions,
            vec![("7".to_string(), 1), ("6".to_string(), 0)]
        );
        assert_eq!(
            c.resolve("redis", Some("6")).await.unwrap().package.version,
            "6"
        );
        assert_eq!(
            c.resolve("redis", Some("8")).await.unwrap().repository.name,
            "B"
        );
        assert!(matches!(
            c.resolve("redis", Some("9")).await,
            Err(LookupError::VersionNotFound { .. })
        ));
        assert!(matches!(
            c.resolve("kafka", None).await,
            Err(LookupError::PackageNotFound(_))
        ));
        let names = |v: Vec<Found>| v.into_iter().map(|f| f.package.name).collect::<Vec<_>>();
        assert_eq!(names(c.search(None).await.unwrap()), vec!["nginx", "redis"]);
        assert_eq!(names(c.search(Some("WEB")).await.unwrap()), vec!["nginx"]);
        assert_eq!(names(c.search(Some("r*s")).await.unwrap()), vec!["redis"]);
        assert_eq!(
            names(c.search(Some("db")).await.unwrap()),
            vec!["nginx", "redis"]
        );

        // B first: it now serves redis.
        c.delete(Some("B"), None).await.unwrap();
        c.add("B", &b.path().display().to_string(), Some(0))
            .await
            .unwrap();
        assert_eq!(c.resolve("redis", None).await.unwrap().package.version, "8");
    }

    #[tokio::test]
    async fn list_changes_are_refused_precisely() {
        let a = repo_dir(&[("redis", "6", 0, "cache")]);
        let uri = a.path().display().to_string();
        let c = catalog(vec![]);
        c.add("A", &uri, None).await.unwrap();
        let e = c.add("A", &uri, None).await.unwrap_err().to_string();
        assert_eq!(
            e,
            format!("Repository name [A] and URI [{uri}] are both already present in the list")
        );
        let e = c.add("Z", &uri, Some(5)).await.unwrap_err().to_string();
        assert!(e.contains("already present"), "{e}");
        let b = repo_dir(&[("nginx", "1", 0, "web")]);
        let e = c
            .add("B", &b.path().display().to_string(), Some(5))
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "Index (5) is out of range. Index value must be between 0 and 1 inclusive."
        );
        let e = c.add("C", "/nonexistent", None).await.unwrap_err();
        assert!(matches!(e, CatalogError::Repository { .. }), "{e}");
        let e = c.delete(Some("nope"), None).await.unwrap_err().to_string();
        assert_eq!(e, "Repository name [nope] is not present in the list");
        assert!(matches!(
            c.delete(None, None).await,
            Err(CatalogError::NameOrUriMissing)
        ));
        assert_eq!(
            c.repositories().await.unwrap().0.len(),
            1,
            "nothing changed"
        );
    }
}
