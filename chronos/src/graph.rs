//! The dependency graph: parents → children. Checked at submit time (no
//! unknown parents, no cycles, no deleting a job others depend on) and
//! served as Graphviz dot and as Chronos' csv.

use std::collections::{BTreeMap, BTreeSet};

use crate::job::Job;

/// Why a change to the graph was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// A parent that is not a job.
    #[error("parent job '{parent}' of '{child}' does not exist")]
    UnknownParent {
        /// The child.
        child: String,
        /// The missing parent.
        parent: String,
    },
    /// The change would close a loop.
    #[error("dependency cycle: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
    /// Deleting a job that still has children.
    #[error("job '{job}' is a parent of {children:?}; delete or change them first")]
    HasChildren {
        /// The job.
        job: String,
        /// Its children.
        children: Vec<String>,
    },
}

/// Checks `job` as it would be after `jobs` get it (replacing one with the
/// same id).
pub fn check_put(jobs: &BTreeMap<String, Job>, job: &Job) -> Result<(), GraphError> {
    for p in &job.parents {
        if p != &job.id && !jobs.contains_key(p) {
            return Err(GraphError::UnknownParent {
                child: job.id.clone(),
                parent: p.clone(),
            });
        }
    }
    // A cycle through `job` means `job` is reachable from one of its
    // parents by following parent links.
    let parents_of = |id: &str| -> Vec<String> {
        if id == job.id {
            job.parents.clone()
        } else {
            jobs.get(id).map(|j| j.parents.clone()).unwrap_or_default()
        }
    };
    let mut path = vec![job.id.clone()];
    let mut seen = BTreeSet::new();
    if let Some(cycle) = find(&job.id, &job.id, &parents_of, &mut path, &mut seen) {
        return Err(GraphError::Cycle(cycle));
    }
    Ok(())
}

fn find(
    target: &str,
    at: &str,
    parents_of: &dyn Fn(&str) -> Vec<String>,
    path: &mut Vec<String>,
    seen: &mut BTreeSet<String>,
) -> Option<Vec<String>> {
    for p in parents_of(at) {
        if p == target {
            let mut cycle: Vec<String> = path.iter().rev().cloned().collect();
            cycle.insert(0, target.to_owned());
            return Some(cycle);
        }
        if seen.insert(p.clone()) {
            path.push(p.clone());
            if let Some(c) = find(target, &p, parents_of, path, seen) {
                return Some(c);
            }
            path.pop();
        }
    }
    None
}

/// Checks that `id` may be deleted.
pub fn check_delete(jobs: &BTreeMap<String, Job>, id: &str) -> Result<(), GraphError> {
    let children = children_of(jobs, id);
    if children.is_empty() {
        Ok(())
    } else {
        Err(GraphError::HasChildren {
            job: id.to_owned(),
            children,
        })
    }
}

/// The jobs with `id` among their parents.
pub fn children_of(jobs: &BTreeMap<String, Job>, id: &str) -> Vec<String> {
    jobs.values()
        .filter(|j| j.parents.iter().any(|p| p == id))
        .map(|j| j.id.clone())
        .collect()
}

/// The graph in Graphviz dot.
pub fn dot(jobs: &BTreeMap<String, Job>) -> String {
    let mut out = String::from("digraph G {\n");
    for j in jobs.values() {
        out.push_str(&format!("  \"{}\";\n", j.id));
    }
    for j in jobs.values() {
        for p in &j.parents {
            out.push_str(&format!("  \"{p}\" -> \"{}\";\n", j.id));
        }
    }
    out.push_str("}\n");
    out
}

/// Chronos' csv: `node,<name>,<last status>,<state>` per job and
/// `link,<parent>,<child>` per edge. `status` gives each job's last
/// outcome (`success`, `failure` or `fresh`) and state (`idle`, `queued`,
/// `running`).
pub fn csv(jobs: &BTreeMap<String, Job>, status: impl Fn(&str) -> (String, String)) -> String {
    let mut out = String::new();
    for j in jobs.values() {
        let (last, state) = status(&j.id);
        out.push_str(&format!("node,{},{last},{state}\n", j.id));
    }
    for j in jobs.values() {
        for p in &j.parents {
            out.push_str(&format!("link,{p},{}\n", j.id));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::tests::job;

    fn graph(edges: &[(&str, &[&str])]) -> BTreeMap<String, Job> {
        edges
            .iter()
            .map(|(id, parents)| {
                let mut j = job(id);
                j.parents = parents.iter().map(|p| p.to_string()).collect();
                (id.to_string(), j)
            })
            .collect()
    }

    #[test]
    fn unknown_parents_and_cycles() {
        let jobs = graph(&[("a", &[]), ("b", &["a"]), ("c", &["b"])]);
        let mut d = job("d");
        d.parents = vec!["a".into(), "zz".into()];
        assert_eq!(
            check_put(&jobs, &d),
            Err(GraphError::UnknownParent {
                child: "d".into(),
                parent: "zz".into()
            })
        );
        d.parents = vec!["c".into(), "a".into()];
        assert_eq!(check_put(&jobs, &d), Ok(()));
        // a becomes a child of c: a -> b -> c -> a.
        let mut a = job("a");
        a.parents = vec!["c".into()];
        assert_eq!(
            check_put(&jobs, &a),
            Err(GraphError::Cycle(vec![
                "a".into(),
                "b".into(),
                "c".into(),
                "a".into()
            ]))
        );
        let mut selfish = job("s");
        selfish.parents = vec!["s".into()];
        assert!(matches!(
            check_put(&jobs, &selfish),
            Err(GraphError::Cycle(_))
        ));
    }

    #[test]
    fn delete_and_render() {
        let jobs = graph(&[("a", &[]), ("b", &["a"])]);
        assert!(check_delete(&jobs, "a").is_err());
        assert!(check_delete(&jobs, "b").is_ok());
        assert_eq!(
            dot(&jobs),
            "digraph G {\n  \"a\";\n  \"b\";\n  \"a\" -> \"b\";\n}\n"
        );
        assert_eq!(
            csv(&jobs, |_| ("fresh".into(), "idle".into())),
            "node,a,fresh,idle\nnode,b,fresh,idle\nlink,a,b\n"
        );
    }
}
