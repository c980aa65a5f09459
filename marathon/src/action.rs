//! The one way the books change: an [`Action`] (parsed from an API
//! request, or a scheduler decision), [`plan`]ned purely against the
//! books, its writes committed by the leader in one fenced commit
//! ([`crate::commit`]), and only then applied (`Shared::act` in
//! [`crate::runtime`]).
//!
//! Owns the action type and the planning; does not do I/O and does not
//! read the clock (`now` is passed in).

use std::collections::BTreeSet;

use dcos_api::v1::{Offer, TaskStatus};

use crate::app::AppDefinition;
use crate::health::{Outcome, Probe};
use crate::state::{
    delay_key, deployment_key, Books, BusEvent, Change, ChangeError, Kill, Matched, Write,
};

/// Everything that changes the books.
#[derive(Debug)]
pub enum Action {
    /// Change apps and pods (POST/PUT/PATCH/DELETE of apps, groups and
    /// pods, scale, restart, rollbacks, a scale-down by killing tasks).
    /// `target` replaces the apps it names; `removed` are deleted;
    /// `restart` forces new config versions; `kill` tasks are killed in
    /// the same commit; explicit groups are recorded / forgotten.
    /// Precondition: ids canonical, definitions validated (the API's
    /// job). Refused with [`ChangeError::Locked`] when a touched app is in
    /// a deployment and not `force`, [`ChangeError::NotFound`] for an
    /// unknown removed app.
    Change {
        /// New definitions.
        target: Vec<AppDefinition>,
        /// App ids to delete.
        removed: Vec<String>,
        /// App ids to restart.
        restart: BTreeSet<String>,
        /// Cancel the deployments in the way.
        force: bool,
        /// Task ids to kill.
        kill: Vec<String>,
        /// Explicit groups to forget.
        remove_groups: Vec<String>,
        /// The id of the deployment it may create (chosen by the caller:
        /// planning draws no random numbers).
        deployment_id: String,
    },
    /// Kill tasks (they are replaced).
    Kill(Vec<String>),
    /// Record explicit (maybe empty) groups.
    AddGroups(Vec<String>),
    /// Forget a deployment without rolling back
    /// (`DELETE /v2/deployments/{id}?force=true`); [`ChangeError::NotFound`]
    /// if unknown.
    CancelDeployment(String),
    /// Reset an app's backoff; [`ChangeError::NotFound`] for an unknown app.
    ResetDelay(String),
    /// The scheduler's periodic step: rolling steps, the launch queue,
    /// deployments, unreachable timings.
    Drive,
    /// Offers to match against the launch queue.
    Offers(Vec<Offer>),
    /// Status updates from the master.
    Updates(Vec<TaskStatus>),
    /// Finished Marathon-side health probes.
    Probed(Vec<(Probe, Outcome)>),
}

/// What an action does besides changing the books.
#[derive(Debug, Default)]
pub struct Effects {
    /// Store writes: committed before the books change.
    pub writes: Vec<Write>,
    /// Events to publish once committed.
    pub events: Vec<BusEvent>,
    /// Kills to send once committed.
    pub kills: Vec<Kill>,
    /// For [`Action::Change`]: the deployment and version.
    pub change: Option<Change>,
    /// For [`Action::Offers`]: the ACCEPTs and DECLINEs (its writes are in
    /// `writes`).
    pub launch: Option<Matched>,
}

/// A planned action: the books after it, and its effects.
#[derive(Debug)]
pub struct Plan {
    /// The books once the writes are committed.
    pub books: Books,
    /// Writes, events, kills.
    pub effects: Effects,
}

/// Plans `action` against `books` without changing them.
pub fn plan(books: &Books, action: Action, now: f64) -> Result<Plan, ChangeError> {
    let mut next = books.clone();
    let effects = next.act(action, now)?;
    // A value the store would refuse is the request's fault: refused
    // here (422), before anything is committed, not a 503 from the store.
    for w in &effects.writes {
        if let Write::Put(key, value) = w {
            if value.len() > dcos_store::types::MAX_VALUE_BYTES {
                return Err(ChangeError::Invalid(crate::app::Invalid::at(
                    "/",
                    format!(
                        "the change needs a stored value of {} bytes at {key}, the store takes {} at most",
                        value.len(),
                        dcos_store::types::MAX_VALUE_BYTES
                    ),
                )));
            }
        }
    }
    Ok(Plan {
        books: next,
        effects,
    })
}

impl Books {
    /// Carries `action` out on these books. Used through [`plan`] (on a
    /// copy) by the API; the scheduler loop acts in place and, if its
    /// commit fails, gives its books up (see `runtime`).
    pub fn act(&mut self, action: Action, now: f64) -> Result<Effects, ChangeError> {
        let mut out = Effects::default();
        match action {
            Action::Change {
                target,
                removed,
                restart,
                force,
                kill,
                remove_groups,
                deployment_id,
            } => {
                let change = self.change(target, removed, &restart, force, deployment_id, now)?;
                let (kills, writes) = self.kill_instances(&kill, now);
                out.writes = change.writes.clone();
                out.writes.extend(writes);
                for g in remove_groups {
                    if self.groups.remove(&g) {
                        out.writes.push(Write::Delete(group_key(&g)));
                    }
                }
                out.events = change.events.clone();
                out.kills = kills;
                out.change = Some(change);
            }
            Action::Kill(ids) => {
                let (kills, writes) = self.kill_instances(&ids, now);
                out.kills = kills;
                out.writes = writes;
            }
            Action::AddGroups(groups) => {
                for g in groups {
                    out.writes.push(Write::Put(group_key(&g), b"{}".to_vec()));
                    self.groups.insert(g);
                }
            }
            Action::CancelDeployment(id) => {
                if self.deployments.remove(&id).is_none() {
                    return Err(ChangeError::NotFound(format!(
                        "DeploymentPlan {id} does not exist"
                    )));
                }
                out.writes.push(Write::Delete(deployment_key(&id)));
            }
            Action::ResetDelay(id) => {
                if !self.apps.contains_key(&id) {
                    return Err(ChangeError::NotFound(format!("App '{id}' does not exist")));
                }
                self.delays.remove(&id);
                out.writes.push(Write::Delete(delay_key(&id)));
            }
            Action::Drive => {
                let d = self.drive(now);
                out.writes = d.writes;
                out.events = d.events;
                out.kills = d.kills;
            }
            Action::Offers(offers) => {
                let mut m = self.match_offers(&offers, "*", now);
                out.writes = std::mem::take(&mut m.writes);
                out.launch = Some(m);
            }
            Action::Updates(statuses) => {
                for status in &statuses {
                    let (w, e, k) = self.apply_update(status, now);
                    out.writes.extend(w);
                    out.events.extend(e);
                    out.kills.extend(k);
                }
            }
            Action::Probed(probed) => {
                for (p, outcome) in probed {
                    let (w, e, k) = self.apply_probe(&p.task_id, p.index, outcome, now);
                    out.writes.extend(w);
                    out.events.extend(e);
                    out.kills.extend(k);
                }
            }
        }
        Ok(out)
    }
}

/// Store key of an explicitly created group.
pub fn group_key(id: &str) -> String {
    format!("{}/groups{id}", crate::state::PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::app_key;

    fn change(app: serde_json::Value) -> Action {
        let mut app = AppDefinition::from_value(app).unwrap();
        app.normalize("/");
        Action::Change {
            target: vec![app],
            removed: vec![],
            restart: BTreeSet::new(),
            force: false,
            kill: vec![],
            remove_groups: vec![],
            deployment_id: "d1".into(),
        }
    }

    /// Planning changes nothing: the new books and the writes come back,
    /// a refused action is an error.
    #[test]
    fn plan_leaves_the_books_alone() {
        let books = Books::default();
        let first = plan(
            &books,
            change(serde_json::json!({"id": "/a", "cmd": "sleep 1", "instances": 2})),
            1.0e9,
        )
        .unwrap();
        assert!(books.apps.is_empty() && books.deployments.is_empty());
        assert!(first.books.apps.contains_key("/a"));
        assert!(first.books.deployments.contains_key("d1"));
        assert!(first
            .effects
            .writes
            .iter()
            .any(|w| w.key() == app_key("/a")));
        assert!(first
            .effects
            .writes
            .iter()
            .any(|w| w.key() == deployment_key("d1")));
        assert_eq!(first.effects.change.unwrap().deployment.unwrap().id, "d1");
        // The app is in deployment d1 now: a second change is locked.
        let again = plan(
            &first.books,
            change(serde_json::json!({"id": "/a", "cmd": "sleep 2"})),
            1.0e9 + 1.0,
        );
        assert!(matches!(again, Err(ChangeError::Locked(_))));
        assert!(matches!(
            plan(&books, Action::CancelDeployment("nope".into()), 0.0),
            Err(ChangeError::NotFound(_))
        ));
        assert!(matches!(
            plan(&books, Action::ResetDelay("/nope".into()), 0.0),
            Err(ChangeError::NotFound(_))
        ));
    }
}
