//! The deployment planner (pure): from (current apps, target apps) to a
//! plan of steps, dependencies first; and the rolling step, from (an app's
//! target, its instances with health and version) to the kills and launches
//! that move it towards the target while keeping
//! `ceil(minimumHealthCapacity × instances)` healthy and at most
//! `instances × (1 + maximumOverCapacity)` alive. Also the backoff delay.
//!
//! No clock, no I/O: the runtime calls [`rolling_step`] whenever something
//! changed and carries out what it returns; the property tests at the
//! bottom drive it through random histories.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Serialize;

use crate::app::AppDefinition;

/// What a plan does to one app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ActionKind {
    /// A new app: launch its instances.
    StartApplication,
    /// A removed app: kill every instance.
    StopApplication,
    /// Only the instance count changed.
    ScaleApplication,
    /// The definition changed: replace the instances (rolling).
    RestartApplication,
}

/// One action: an app and what happens to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Action {
    /// What.
    pub action: ActionKind,
    /// The app's id.
    pub app: String,
}

/// A step: actions that run at the same time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// The actions.
    pub actions: Vec<Action>,
}

/// The steps of a deployment, run one after another.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Plan {
    /// In order.
    pub steps: Vec<Step>,
}

impl Plan {
    /// Every app the plan touches.
    pub fn affected_apps(&self) -> Vec<String> {
        let set: BTreeSet<&String> = self
            .steps
            .iter()
            .flat_map(|s| s.actions.iter().map(|a| &a.app))
            .collect();
        set.into_iter().cloned().collect()
    }
}

/// Plans the move from `current` to `target` (both keyed by app id).
/// Starts, scales and restarts go in dependency order (an app after what it
/// depends on; cycles are broken by id order); stops come last, dependents
/// before their dependencies.
pub fn plan(
    current: &BTreeMap<String, AppDefinition>,
    target: &BTreeMap<String, AppDefinition>,
) -> Plan {
    let mut changes: BTreeMap<String, ActionKind> = BTreeMap::new();
    for (id, app) in target {
        let kind = match current.get(id) {
            None => ActionKind::StartApplication,
            Some(old)
                if old.needs_restart_for(app) || config_version(old) != config_version(app) =>
            {
                ActionKind::RestartApplication
            }
            Some(old) if old.instances != app.instances => ActionKind::ScaleApplication,
            Some(_) => continue,
        };
        changes.insert(id.clone(), kind);
    }
    let mut steps = layers(&changes.keys().cloned().collect(), |id| {
        target
            .get(id)
            .map(AppDefinition::dependency_ids)
            .unwrap_or_default()
    })
    .into_iter()
    .map(|layer| Step {
        actions: layer
            .into_iter()
            .map(|app| Action {
                action: changes[&app],
                app,
            })
            .collect(),
    })
    .collect::<Vec<_>>();
    let stopped: BTreeSet<String> = current
        .keys()
        .filter(|id| !target.contains_key(*id))
        .cloned()
        .collect();
    let mut stop_layers = layers(&stopped, |id| {
        current
            .get(id)
            .map(AppDefinition::dependency_ids)
            .unwrap_or_default()
    });
    stop_layers.reverse();
    steps.extend(stop_layers.into_iter().map(|layer| {
        Step {
            actions: layer
                .into_iter()
                .map(|app| Action {
                    action: ActionKind::StopApplication,
                    app,
                })
                .collect(),
        }
    }));
    Plan { steps }
}

/// When the app's configuration last changed (a restart bumps it too).
fn config_version(app: &AppDefinition) -> Option<&str> {
    app.version_info
        .as_ref()
        .and_then(|v| v.last_config_change_at.as_deref())
}

/// Topological layers of `ids` under `deps` (only dependencies inside
/// `ids` count); what is left in a cycle goes into one last layer.
fn layers(ids: &BTreeSet<String>, deps: impl Fn(&str) -> Vec<String>) -> Vec<Vec<String>> {
    let mut left: BTreeSet<String> = ids.clone();
    let mut out = Vec::new();
    while !left.is_empty() {
        let ready: Vec<String> = left
            .iter()
            .filter(|id| deps(id).iter().all(|d| !left.contains(d) || d == *id))
            .cloned()
            .collect();
        if ready.is_empty() {
            out.push(std::mem::take(&mut left).into_iter().collect());
            break;
        }
        for id in &ready {
            left.remove(id);
        }
        out.push(ready);
    }
    out
}

/// The bounds of a rolling step for `target` instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Healthy instances kept at all times.
    pub min_healthy: usize,
    /// Alive instances (including ones being killed) never exceeded.
    pub max_alive: usize,
}

impl Bounds {
    /// `ceil(mhc × n)` and `floor(n × (1 + moc))`. When those leave no
    /// room to replace anything (mhc = 1, moc = 0) one extra instance is
    /// allowed, as Marathon does, or the upgrade could never start.
    pub fn of(n: usize, minimum_health_capacity: f64, maximum_over_capacity: f64) -> Self {
        let min_healthy = ((n as f64) * minimum_health_capacity - 1e-9)
            .ceil()
            .max(0.0) as usize;
        let min_healthy = min_healthy.min(n);
        let mut max_alive = ((n as f64) * (1.0 + maximum_over_capacity) + 1e-9).floor() as usize;
        max_alive = max_alive.max(n);
        if max_alive <= min_healthy && n > 0 {
            max_alive = min_healthy + 1;
        }
        Bounds {
            min_healthy,
            max_alive,
        }
    }
}

/// What the rolling step knows about one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceView {
    /// Its id.
    pub id: String,
    /// Whether it runs the target version.
    pub current: bool,
    /// Running and (if the app has health checks) reported healthy.
    pub healthy: bool,
    /// A kill was sent; it is still alive until a terminal update.
    pub killing: bool,
    /// Launch order (bigger = younger), for killSelection.
    pub seq: u64,
}

/// What the rolling step decided.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StepActions {
    /// Instances to kill.
    pub kill: Vec<String>,
    /// New instances of the target version to launch.
    pub launch: usize,
}

/// One move of a rolling deployment (also the steady state: with no old
/// instances it only replaces missing ones and kills surplus).
///
/// Safety, given the instances as they are now:
/// * kills never take the healthy count below `bounds.min_healthy` (nor
///   further below it, when it already is);
/// * launches never take the alive count (instances being killed
///   included) above `bounds.max_alive`.
///
/// Scale-down surplus of the target version is killed at once (Marathon
/// does not keep health capacity when scaling down).
pub fn rolling_step(
    target: usize,
    bounds: Bounds,
    oldest_first: bool,
    instances: &[InstanceView],
) -> StepActions {
    let alive: Vec<&InstanceView> = instances.iter().filter(|i| !i.killing).collect();
    let killing = instances.len() - alive.len();
    let mut healthy = alive.iter().filter(|i| i.healthy).count();
    let mut kill = Vec::new();
    // Order in which to give instances up: unhealthy first, then by
    // killSelection.
    fn order(mut v: Vec<&InstanceView>, oldest_first: bool) -> Vec<&InstanceView> {
        v.sort_by_key(|i| {
            (
                i.healthy,
                if oldest_first {
                    i.seq
                } else {
                    u64::MAX - i.seq
                },
            )
        });
        v
    }
    let old = order(
        alive.iter().copied().filter(|i| !i.current).collect(),
        oldest_first,
    );
    let new = order(
        alive.iter().copied().filter(|i| i.current).collect(),
        oldest_first,
    );
    let mut new_alive = new.len();
    // Surplus of the current version.
    for i in new.iter().take(new.len().saturating_sub(target)) {
        kill.push(i.id.clone());
        new_alive -= 1;
        if i.healthy {
            healthy -= 1;
        }
    }
    // Old instances: unhealthy ones freely, healthy ones down to the floor.
    let mut old_alive = old.len();
    for i in &old {
        if i.healthy {
            if healthy <= bounds.min_healthy {
                continue;
            }
            healthy -= 1;
        }
        kill.push(i.id.clone());
        old_alive -= 1;
    }
    // Instances being killed still run until their terminal update, so
    // they count against the ceiling (those killed just now included).
    let _ = (killing, old_alive);
    let launch = target
        .saturating_sub(new_alive)
        .min(bounds.max_alive.saturating_sub(instances.len()));
    StepActions { kill, launch }
}

/// The backoff delay after `failures` failures in a row (0: none):
/// `backoffSeconds × backoffFactor^(failures-1)`, at most
/// `maxLaunchDelaySeconds`.
pub fn backoff_delay(app: &AppDefinition, failures: u32) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let secs = app.backoff_seconds
        * app
            .backoff_factor
            .powi(failures.saturating_sub(1).min(1000) as i32);
    Duration::from_secs_f64(secs.min(app.max_launch_delay_seconds).max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn app(id: &str, deps: &[&str], instances: i64, cmd: &str) -> AppDefinition {
        let mut a = AppDefinition::from_value(serde_json::json!({
            "id": id, "cmd": cmd, "instances": instances, "dependencies": deps
        }))
        .unwrap();
        a.normalize("/");
        a
    }

    fn map(apps: Vec<AppDefinition>) -> BTreeMap<String, AppDefinition> {
        apps.into_iter().map(|a| (a.id.clone(), a)).collect()
    }

    #[test]
    fn plans_dependencies_first_and_stops_last() {
        let current = map(vec![
            app("/db", &[], 1, "x"),
            app("/old", &[], 1, "x"),
            app("/cache", &[], 2, "x"),
        ]);
        let target = map(vec![
            app("/db", &[], 1, "y"),
            app("/web", &["/db", "/cache"], 3, "x"),
            app("/cache", &[], 4, "x"),
        ]);
        let p = plan(&current, &target);
        let shape: Vec<Vec<(ActionKind, &str)>> = p
            .steps
            .iter()
            .map(|s| {
                s.actions
                    .iter()
                    .map(|a| (a.action, a.app.as_str()))
                    .collect()
            })
            .collect();
        assert_eq!(
            shape,
            vec![
                vec![
                    (ActionKind::ScaleApplication, "/cache"),
                    (ActionKind::RestartApplication, "/db")
                ],
                vec![(ActionKind::StartApplication, "/web")],
                vec![(ActionKind::StopApplication, "/old")],
            ]
        );
        assert_eq!(p.affected_apps(), ["/cache", "/db", "/old", "/web"]);
        assert!(plan(&target, &target).steps.is_empty());
    }

    #[test]
    fn stops_dependents_before_dependencies() {
        let current = map(vec![app("/db", &[], 1, "x"), app("/web", &["/db"], 1, "x")]);
        let p = plan(&current, &BTreeMap::new());
        let order: Vec<&str> = p.steps.iter().map(|s| s.actions[0].app.as_str()).collect();
        assert_eq!(order, ["/web", "/db"]);
    }

    #[test]
    fn bounds() {
        assert_eq!(
            Bounds::of(10, 0.5, 0.2),
            Bounds {
                min_healthy: 5,
                max_alive: 12
            }
        );
        assert_eq!(
            Bounds::of(3, 0.5, 0.0),
            Bounds {
                min_healthy: 2,
                max_alive: 3
            }
        );
        assert_eq!(
            Bounds::of(4, 1.0, 0.0),
            Bounds {
                min_healthy: 4,
                max_alive: 5
            }
        );
        assert_eq!(
            Bounds::of(0, 1.0, 1.0),
            Bounds {
                min_healthy: 0,
                max_alive: 0
            }
        );
    }

    fn inst(id: &str, current: bool, healthy: bool, seq: u64) -> InstanceView {
        InstanceView {
            id: id.into(),
            current,
            healthy,
            killing: false,
            seq,
        }
    }

    #[test]
    fn rolling_step_keeps_half_healthy() {
        let olds: Vec<_> = (0..4)
            .map(|i| inst(&format!("o{i}"), false, true, i))
            .collect();
        let s = rolling_step(4, Bounds::of(4, 0.5, 0.0), false, &olds);
        assert_eq!(s.kill.len(), 2, "two may go, two stay healthy");
        assert_eq!(
            s.launch, 0,
            "the two being killed still count against the ceiling"
        );
        let left: Vec<_> = olds
            .iter()
            .filter(|i| !s.kill.contains(&i.id))
            .cloned()
            .collect();
        let s = rolling_step(4, Bounds::of(4, 0.5, 0.0), false, &left);
        assert_eq!(
            s,
            StepActions {
                kill: vec![],
                launch: 2
            }
        );
    }

    #[test]
    fn steady_state_replaces_and_scales_down_by_kill_selection() {
        let two = [inst("a", true, true, 1), inst("b", true, true, 2)];
        assert_eq!(
            rolling_step(3, Bounds::of(3, 1.0, 1.0), false, &two),
            StepActions {
                kill: vec![],
                launch: 1
            }
        );
        assert_eq!(
            rolling_step(1, Bounds::of(1, 1.0, 1.0), false, &two).kill,
            ["b"]
        );
        assert_eq!(
            rolling_step(1, Bounds::of(1, 1.0, 1.0), true, &two).kill,
            ["a"]
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let mut a = app("/a", &[], 1, "x");
        a.backoff_seconds = 1.0;
        a.backoff_factor = 2.0;
        a.max_launch_delay_seconds = 5.0;
        let d: Vec<u64> = (0..6).map(|n| backoff_delay(&a, n).as_secs()).collect();
        assert_eq!(d, [0, 1, 2, 4, 5, 5]);
    }

    /// A simulated instance: alive until its kill completes.
    #[derive(Debug, Clone)]
    struct Sim {
        id: String,
        current: bool,
        healthy: bool,
        killing: bool,
        seq: u64,
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        /// From `old` healthy instances of the previous version to `n` of
        /// the new one: random health arrivals and kill completions between
        /// steps. Never fewer healthy than the floor, never more alive than
        /// the ceiling, and it converges.
        #[test]
        fn rolling_upgrade_is_safe_and_converges(
            n in 0usize..25,
            old_extra in 0usize..6,
            mhc in 0u32..=100,
            moc in 0u32..=100,
            oldest_first in any::<bool>(),
            noise in proptest::collection::vec((any::<bool>(), any::<bool>()), 200),
        ) {
            let mhc = f64::from(mhc) / 100.0;
            let moc = f64::from(moc) / 100.0;
            let bounds = Bounds::of(n, mhc, moc);
            // Start from a healthy old deployment that is within bounds.
            let old = (n + old_extra).min(bounds.max_alive).max(bounds.min_healthy);
            let mut sims: Vec<Sim> = (0..old).map(|i| Sim { id: format!("o{i}"), current: false, healthy: true, killing: false, seq: i as u64 }).collect();
            let mut seq = old as u64;
            let mut steps = 0;
            let mut converged = false;
            for (k, &(health_arrives, kills_complete)) in noise.iter().chain(std::iter::repeat_n(&(true, true), 60)).enumerate() {
                let views: Vec<InstanceView> = sims.iter().map(|s| InstanceView { id: s.id.clone(), current: s.current, healthy: s.healthy, killing: s.killing, seq: s.seq }).collect();
                let healthy_before = sims.iter().filter(|s| s.healthy && !s.killing).count();
                let act = rolling_step(n, bounds, oldest_first, &views);
                for id in &act.kill {
                    let s = sims.iter_mut().find(|s| &s.id == id).unwrap();
                    prop_assert!(!s.killing);
                    s.killing = true;
                    s.healthy = false;
                }
                for _ in 0..act.launch {
                    sims.push(Sim { id: format!("n{seq}"), current: true, healthy: false, killing: false, seq });
                    seq += 1;
                }
                let healthy = sims.iter().filter(|s| s.healthy && !s.killing).count();
                prop_assert!(healthy >= bounds.min_healthy.min(healthy_before),
                    "healthy {} below floor {} (was {}) at step {}", healthy, bounds.min_healthy, healthy_before, k);
                prop_assert!(sims.len() <= bounds.max_alive.max(old),
                    "alive {} above ceiling {} at step {}", sims.len(), bounds.max_alive, k);
                // The world moves: kills complete, new instances get healthy.
                if kills_complete || k >= noise.len() {
                    sims.retain(|s| !s.killing);
                }
                if health_arrives || k >= noise.len() {
                    for s in sims.iter_mut().filter(|s| s.current) {
                        s.healthy = true;
                    }
                }
                steps += 1;
                if sims.len() == n && sims.iter().all(|s| s.current && s.healthy && !s.killing) {
                    converged = true;
                    break;
                }
            }
            prop_assert!(converged, "did not converge after {} steps: {:?}", steps, sims);
        }
    }
}
