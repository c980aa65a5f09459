//! Group version history (pure): every change of the apps under a group
//! records a new version of that group and of every group enclosing it up
//! to the root, as Marathon keeps every version of the group tree.
//!
//! A group version is one small store key,
//! `/marathon/groupversions<group>@<version>` (the root: `/@<version>`),
//! holding the map app id → app version of the apps under the group at
//! that version. The app definitions themselves stay in the per-app
//! version keys (`/marathon/versions/<id>@<version>`), pruned too but never
//! while a kept group version refers to them ([`prune_app_versions`]), so
//! every kept group version can be rolled back to. Only the
//! groups a change touches get a new key (a change of `/a/b/x` writes
//! `/a/b`, `/a` and `/`); each group keeps its newest `max_versions`
//! (Marathon's `--zk_max_versions`, default 50), older keys are deleted in
//! the same transaction. The books hold only the version lists; a version's
//! content is read from the store when asked for.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::app::{parent_of, under, AppDefinition};
use crate::state::{Write, PREFIX};

/// Versions a group keeps by default (Marathon's `--zk_max_versions`).
pub const DEFAULT_MAX_VERSIONS: usize = 50;

/// Store key of one version of a group.
pub fn group_version_key(group: &str, version: &str) -> String {
    format!("{PREFIX}/groupversions{}@{version}", group_path(group))
}

/// Store prefix of every group version.
pub fn group_versions_prefix() -> String {
    format!("{PREFIX}/groupversions/")
}

/// `(group, version)` of a [`group_version_key`].
pub fn parse_group_version_key(key: &str) -> Option<(String, String)> {
    let rest = key.strip_prefix(&format!("{PREFIX}/groupversions"))?;
    let (path, version) = rest.rsplit_once('@')?;
    let group = if path == "/" {
        "/".to_owned()
    } else {
        path.to_owned()
    };
    (group.starts_with('/') && !version.is_empty()).then(|| (group, version.to_owned()))
}

/// The root is `/` in keys too (`…/groupversions/@v`), other groups their id.
fn group_path(group: &str) -> &str {
    if group.is_empty() {
        "/"
    } else {
        group
    }
}

/// One version of a group: its apps (transitively) and their versions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupVersion {
    /// App id → app version.
    pub apps: BTreeMap<String, String>,
}

/// The groups enclosing an app, innermost first, the root last.
pub fn enclosing_groups(app_id: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut g = parent_of(app_id);
    loop {
        out.push(g.clone());
        if g == "/" {
            return out;
        }
        g = parent_of(&g);
    }
}

/// The apps under `group` in `apps` with their versions.
pub fn snapshot(apps: &BTreeMap<String, AppDefinition>, group: &str) -> GroupVersion {
    let within: Box<dyn Iterator<Item = (&String, &AppDefinition)>> = if group == "/" {
        Box::new(apps.iter())
    } else {
        let start = format!("{group}/");
        Box::new(
            apps.range(start.clone()..)
                .take_while(move |(id, _)| id.starts_with(&start)),
        )
    };
    GroupVersion {
        apps: within
            .filter(|(id, _)| under(id, group))
            .map(|(id, a)| (id.clone(), a.version.clone().unwrap_or_default()))
            .collect(),
    }
}

/// Records `version` of every group enclosing the `touched` apps, as they
/// are in `apps` (after the change), and prunes each group's history to
/// `max` versions. Returns the store writes.
pub fn record<'a>(
    history: &mut BTreeMap<String, Vec<String>>,
    apps: &BTreeMap<String, AppDefinition>,
    touched: impl IntoIterator<Item = &'a str>,
    version: &str,
    max: usize,
) -> Vec<Write> {
    let mut groups: Vec<String> = touched.into_iter().flat_map(enclosing_groups).collect();
    groups.sort();
    groups.dedup();
    let mut writes = Vec::new();
    for g in groups {
        let value = serde_json::to_vec(&snapshot(apps, &g)).unwrap_or_default();
        writes.push(Write::Put(group_version_key(&g, version), value));
        let versions = history.entry(g.clone()).or_default();
        // Two changes within one millisecond share a version: the later
        // snapshot replaces the earlier one.
        if versions.last().map(String::as_str) != Some(version) {
            versions.push(version.to_owned());
        }
        let excess = versions.len().saturating_sub(max.max(1));
        for old in versions.drain(..excess) {
            writes.push(Write::Delete(group_version_key(&g, &old)));
        }
    }
    writes
}

/// Prunes the versions of the `touched` apps to the newest `max`, but
/// keeps every older one a kept group version refers to, so every kept
/// group version can still be rolled back to (Marathon's storage GC keeps
/// what a kept root version refers to, too). App version `v` (followed by
/// `next`) is in a group version `t` of an enclosing group exactly when
/// `v ≤ t < next`: both are change timestamps, and every change of the
/// app recorded a version of each enclosing group. Returns the deletes.
pub fn prune_app_versions<'a>(
    versions: &mut BTreeMap<String, Vec<String>>,
    groups: &BTreeMap<String, Vec<String>>,
    touched: impl IntoIterator<Item = &'a str>,
    max: usize,
) -> Vec<Write> {
    let max = max.max(1);
    let mut writes = Vec::new();
    for id in touched {
        let Some(list) = versions.get_mut(id) else {
            continue;
        };
        if list.len() <= max {
            continue;
        }
        let enclosing = enclosing_groups(id);
        let cutoff = list.len() - max;
        let referenced = |i: usize| {
            let (v, next) = (&list[i], list.get(i + 1));
            enclosing.iter().any(|g| {
                groups.get(g).is_some_and(|kept| {
                    let at = kept.partition_point(|t| t < v);
                    kept.get(at).is_some_and(|t| next.is_none_or(|n| t < n))
                })
            })
        };
        let keep: Vec<bool> = (0..list.len())
            .map(|i| i >= cutoff || referenced(i))
            .collect();
        let mut i = 0;
        list.retain(|v| {
            let k = keep[i];
            i += 1;
            if !k {
                writes.push(Write::Delete(crate::state::version_key(id, v)));
            }
            k
        });
    }
    writes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(id: &str, version: &str) -> (String, AppDefinition) {
        let mut a = AppDefinition::from_value(serde_json::json!({"id": id, "cmd": "x"})).unwrap();
        a.normalize("/");
        a.version = Some(version.to_owned());
        (a.id.clone(), a)
    }

    #[test]
    fn keys_round_trip_and_groups_enclose_up_to_the_root() {
        assert_eq!(group_version_key("/", "v1"), "/marathon/groupversions/@v1");
        assert_eq!(
            group_version_key("/a/b", "v1"),
            "/marathon/groupversions/a/b@v1"
        );
        for g in ["/", "/a", "/a/b"] {
            assert_eq!(
                parse_group_version_key(&group_version_key(g, "2026-01-01T00:00:00.000Z")),
                Some((g.to_owned(), "2026-01-01T00:00:00.000Z".to_owned()))
            );
        }
        assert_eq!(parse_group_version_key("/marathon/versions/a@v"), None);
        assert_eq!(enclosing_groups("/a/b/x"), ["/a/b", "/a", "/"]);
        assert_eq!(enclosing_groups("/x"), ["/"]);
    }

    #[test]
    fn only_touched_groups_are_written_and_history_is_bounded() {
        let apps: BTreeMap<String, AppDefinition> = [
            app("/a/x", "v1"),
            app("/a/y", "v1"),
            app("/ab/z", "v1"),
            app("/b/w", "v1"),
        ]
        .into();
        assert_eq!(
            snapshot(&apps, "/a").apps.keys().collect::<Vec<_>>(),
            ["/a/x", "/a/y"],
            "/ab is not under /a"
        );
        assert_eq!(snapshot(&apps, "/").apps.len(), 4);
        let mut history = BTreeMap::new();
        let w = record(&mut history, &apps, ["/a/x"], "v1", 2);
        let keys: Vec<&str> = w
            .iter()
            .map(|w| match w {
                Write::Put(k, _) | Write::Delete(k) => k.as_str(),
            })
            .collect();
        assert_eq!(
            keys,
            [
                "/marathon/groupversions/@v1",
                "/marathon/groupversions/a@v1"
            ]
        );
        record(&mut history, &apps, ["/a/y"], "v2", 2);
        let w = record(&mut history, &apps, ["/a/x", "/a/y"], "v3", 2);
        assert_eq!(history["/a"], ["v2", "v3"]);
        assert!(w.contains(&Write::Delete("/marathon/groupversions/a@v1".into())));
        assert!(w.contains(&Write::Delete("/marathon/groupversions/@v1".into())));
        // Same millisecond: no duplicate entry.
        record(&mut history, &apps, ["/a/x"], "v3", 2);
        assert_eq!(history["/a"], ["v2", "v3"]);
        assert!(!history.contains_key("/b"));
    }

    #[test]
    fn a_change_commits_its_group_versions_with_the_apps() {
        use crate::state::{app_key, Books};
        use std::collections::BTreeSet;
        let mut books = Books::default();
        books.max_versions = Some(2);
        let (_, a) = app("/shop/web", "");
        let (_, b) = app("/other", "");
        for (i, t) in [1000.0, 1001.0, 1002.0].into_iter().enumerate() {
            let c = books
                .change(
                    vec![a.clone(), b.clone()],
                    vec![],
                    &BTreeSet::new(),
                    true,
                    format!("d{i}"),
                    t,
                )
                .unwrap();
            let keys: Vec<&str> = c
                .writes
                .iter()
                .filter_map(|w| match w {
                    Write::Put(k, _) => Some(k.as_str()),
                    Write::Delete(_) => None,
                })
                .collect();
            assert!(keys.contains(&app_key("/shop/web").as_str()));
            assert!(keys.contains(&group_version_key("/shop", &c.version).as_str()));
            assert!(keys.contains(&group_version_key("/", &c.version).as_str()));
        }
        assert_eq!(books.group_versions["/shop"].len(), 2, "bounded");
        let c = books
            .change(
                vec![],
                vec!["/shop/web".into()],
                &BTreeSet::new(),
                true,
                "d9".into(),
                1003.0,
            )
            .unwrap();
        let root = c
            .writes
            .iter()
            .find_map(|w| match w {
                Write::Put(k, v) if *k == group_version_key("/", &c.version) => Some(v),
                _ => None,
            })
            .unwrap();
        let root: GroupVersion = serde_json::from_slice(root).unwrap();
        assert_eq!(root.apps.keys().collect::<Vec<_>>(), ["/other"]);
        assert!(c.writes.contains(&Write::Delete(group_version_key(
            "/shop",
            "1970-01-01T00:16:41.000Z"
        ))));
    }

    #[test]
    fn app_versions_are_pruned_unless_a_kept_group_version_refers_to_them() {
        let mut versions: BTreeMap<String, Vec<String>> = [(
            "/g/a".to_owned(),
            ["v1", "v3", "v5", "v7"].map(String::from).to_vec(),
        )]
        .into();
        // /g still keeps v4 (a change of another app in /g), which has
        // /g/a at v3; the root keeps only recent versions.
        let groups: BTreeMap<String, Vec<String>> = [
            (
                "/g".to_owned(),
                ["v4", "v5", "v7"].map(String::from).to_vec(),
            ),
            ("/".to_owned(), ["v6", "v7"].map(String::from).to_vec()),
        ]
        .into();
        let w = prune_app_versions(&mut versions, &groups, ["/g/a"], 2);
        assert_eq!(versions["/g/a"], ["v3", "v5", "v7"]);
        assert_eq!(w, [Write::Delete("/marathon/versions/g/a@v1".into())]);
        // Untouched apps are left alone; nothing to prune under the bound.
        assert!(prune_app_versions(&mut versions, &groups, ["/x"], 2).is_empty());
        assert!(prune_app_versions(&mut versions, &groups, ["/g/a"], 5).is_empty());
    }
}
