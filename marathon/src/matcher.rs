//! The offer matcher (pure): does one instance of an app fit what is left
//! of an offer, given where the app's other instances already run? It
//! checks roles, scalar resources, ports (dynamic and required) and the
//! constraints (UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE, MAX_PER, IS on
//! `hostname`, `@region`, `@zone` and agent attributes), and carves the
//! instance's resources out of the offer. It says why when nothing fits,
//! so a stuck deployment can explain itself.
//!
//! It does no I/O and keeps no state: the runtime owns the offers and the
//! instances and calls [`claim`] once per instance it wants to place.

use std::collections::BTreeMap;

use dcos_api::resources::{fixed_point, from_fixed_point};
use dcos_api::v1::{Attribute, Offer, Range, Ranges, Resource, Scalar, ValueType};

use crate::app::AppDefinition;

/// Why a constraint is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConstraintError {
    /// Fewer than two or more than three elements.
    #[error("Each constraint must have either 2 or 3 fields")]
    Arity,
    /// Not one of [`crate::app::CONSTRAINT_OPERATORS`].
    #[error("Constraint operator must be one of the following: [UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE, MAX_PER, IS], got {0}")]
    UnknownOperator(String),
    /// LIKE/UNLIKE with a pattern that does not compile.
    #[error("'{0}' is not a valid regular expression")]
    BadRegex(String),
    /// The operator needs a value (LIKE, UNLIKE, MAX_PER, IS).
    #[error("{0} requires a value")]
    MissingValue(String),
    /// MAX_PER or GROUP_BY with a value that is not a number.
    #[error("{0} requires a positive integer value, got {1}")]
    NotANumber(String, String),
}

/// A parsed `[field, OP, value?]`.
#[derive(Debug, Clone)]
pub struct Constraint {
    /// `hostname`, `@region`, `@zone` or an attribute name.
    pub field: String,
    /// The operator.
    pub op: Op,
}

/// A constraint operator with its argument.
#[derive(Debug, Clone)]
pub enum Op {
    /// At most one instance per value.
    Unique,
    /// All instances on `value` (or on one value when empty).
    Cluster(Option<String>),
    /// Spread evenly over the values (over at least n of them).
    GroupBy(Option<usize>),
    /// The value fully matches the regex.
    Like(regex::Regex),
    /// The value does not match the regex.
    Unlike(regex::Regex),
    /// At most n instances per value.
    MaxPer(usize),
    /// The value equals this.
    Is(String),
}

impl Constraint {
    /// Parses one constraint as Marathon writes it.
    pub fn parse(parts: &[String]) -> Result<Self, ConstraintError> {
        if !(2..=3).contains(&parts.len()) {
            return Err(ConstraintError::Arity);
        }
        let field = parts[0].clone();
        let name = parts[1].as_str();
        let value = parts.get(2).cloned();
        let need =
            |v: Option<String>| v.ok_or_else(|| ConstraintError::MissingValue(name.to_owned()));
        let regex = |v: String| {
            regex::Regex::new(&format!("^(?:{v})$")).map_err(|_| ConstraintError::BadRegex(v))
        };
        let op = match name {
            "UNIQUE" => Op::Unique,
            "CLUSTER" => Op::Cluster(value.filter(|v| !v.is_empty())),
            "GROUP_BY" => Op::GroupBy(match &value {
                Some(v) => Some(
                    v.parse::<usize>()
                        .map_err(|_| ConstraintError::NotANumber(name.to_owned(), v.clone()))?,
                ),
                None => None,
            }),
            "LIKE" => Op::Like(regex(need(value)?)?),
            "UNLIKE" => Op::Unlike(regex(need(value)?)?),
            "MAX_PER" => {
                let v = need(value)?;
                Op::MaxPer(
                    v.parse::<usize>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or(ConstraintError::NotANumber(name.to_owned(), v))?,
                )
            }
            "IS" => Op::Is(need(value)?),
            other => return Err(ConstraintError::UnknownOperator(other.to_owned())),
        };
        Ok(Constraint { field, op })
    }
}

/// Where an instance runs, as far as constraints care.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Placement {
    /// Agent hostname.
    pub hostname: String,
    /// Agent attributes, as `name → text`.
    pub attributes: BTreeMap<String, String>,
    /// Fault domain region, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Fault domain zone, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
}

impl Placement {
    /// The placement facts of an offer's agent.
    pub fn of_offer(offer: &Offer) -> Self {
        let domain = offer.domain.as_ref().and_then(|d| d.fault_domain.as_ref());
        Placement {
            hostname: offer.hostname.clone(),
            attributes: offer
                .attributes
                .iter()
                .map(|a| (a.name.clone(), attribute_text(a)))
                .collect(),
            region: domain.map(|f| f.region.name.clone()),
            zone: domain.map(|f| f.zone.name.clone()),
        }
    }

    fn field(&self, field: &str) -> Option<&str> {
        match field {
            "hostname" | "@hostname" => Some(&self.hostname),
            "@region" => self.region.as_deref(),
            "@zone" => self.zone.as_deref(),
            other => self.attributes.get(other).map(String::as_str),
        }
    }
}

/// An attribute as the text constraints compare against.
fn attribute_text(a: &Attribute) -> String {
    match a.kind {
        ValueType::Text => a.text.as_ref().map(|t| t.value.clone()).unwrap_or_default(),
        ValueType::Scalar => a.scalar.map(|s| s.value.to_string()).unwrap_or_default(),
        ValueType::Set => a
            .set
            .as_ref()
            .map(|s| format!("{{{}}}", s.item.join(",")))
            .unwrap_or_default(),
        ValueType::Ranges => a
            .ranges
            .as_ref()
            .map(|r| {
                let parts: Vec<String> = r
                    .range
                    .iter()
                    .map(|r| format!("{}-{}", r.begin, r.end))
                    .collect();
                format!("[{}]", parts.join(","))
            })
            .unwrap_or_default(),
    }
}

/// Why an instance does not fit an offer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoMatch {
    /// Not enough of a scalar resource (in the accepted roles).
    #[error("insufficient {0}")]
    Insufficient(String),
    /// A required port is not offered, or too few ports are.
    #[error("ports not available")]
    Ports,
    /// A constraint rejects the agent.
    #[error("constraint {0} not satisfied")]
    Constraint(String),
}

/// What an instance takes from an offer.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    /// The resources, carved out of the offer's (keeping role and
    /// allocation info).
    pub resources: Vec<Resource>,
    /// Host ports, in `portDefinitions` order.
    pub ports: Vec<u32>,
}

/// Checks the app's constraints against an agent, given where its other
/// instances run.
pub fn constraints_allow(
    app: &AppDefinition,
    agent: &Placement,
    others: &[&Placement],
) -> Result<(), NoMatch> {
    for raw in &app.constraints {
        let Ok(c) = Constraint::parse(raw) else {
            continue; // validation refuses these; stored ones are fine
        };
        let fail = || NoMatch::Constraint(raw.join(":"));
        let value = agent.field(&c.field);
        let count_of = |v: &str| {
            others
                .iter()
                .filter(|o| o.field(&c.field) == Some(v))
                .count()
        };
        let ok = match (&c.op, value) {
            (Op::Unlike(re), None) => {
                let _ = re;
                true
            }
            (_, None) => false,
            (Op::Unique, Some(v)) => count_of(v) == 0,
            (Op::Cluster(Some(want)), Some(v)) => v == want,
            (Op::Cluster(None), Some(v)) => others
                .iter()
                .filter_map(|o| o.field(&c.field))
                .all(|o| o == v),
            (Op::GroupBy(groups), Some(v)) => {
                let seen: std::collections::BTreeSet<&str> =
                    others.iter().filter_map(|o| o.field(&c.field)).collect();
                let mine = count_of(v);
                if groups.is_some_and(|n| seen.len() < n) {
                    // Not spread over enough values yet: only a new one.
                    if mine > 0 {
                        return Err(fail());
                    }
                    continue;
                }
                let min_other = others
                    .iter()
                    .filter_map(|o| o.field(&c.field))
                    .map(count_of)
                    .min()
                    .unwrap_or(0);
                mine <= min_other
            }
            (Op::Like(re), Some(v)) => re.is_match(v),
            (Op::Unlike(re), Some(v)) => !re.is_match(v),
            (Op::MaxPer(n), Some(v)) => count_of(v) < *n,
            (Op::Is(want), Some(v)) => v == want,
        };
        if !ok {
            return Err(fail());
        }
    }
    Ok(())
}

/// Whether a resource may be used by the app (`acceptedResourceRoles`).
fn role_ok(app: &AppDefinition, r: &Resource) -> bool {
    let usable = r.revocable.is_none() && r.shared.is_none() && r.disk.is_none();
    usable
        && match &app.accepted_resource_roles {
            None => true,
            Some(roles) => roles.iter().any(|role| role == r.reservation_role()),
        }
}

/// Fits one instance of `app` into `left` (what remains of an offer whose
/// agent is `agent`); on success `left` shrinks by the claim.
pub fn claim(
    app: &AppDefinition,
    agent: &Placement,
    others: &[&Placement],
    left: &mut [Resource],
) -> Result<Claim, NoMatch> {
    constraints_allow(app, agent, others)?;
    let mut trial = left.to_vec();
    let mut taken = Vec::new();
    for (name, amount) in [
        ("cpus", app.cpus),
        ("mem", app.mem),
        ("disk", app.disk),
        ("gpus", app.gpus),
    ] {
        let mut need = fixed_point(amount);
        if need <= 0 {
            continue;
        }
        for r in trial
            .iter_mut()
            .filter(|r| r.name == name && r.kind == ValueType::Scalar && role_ok(app, r))
        {
            let have = r.scalar.map(|s| fixed_point(s.value)).unwrap_or(0);
            let take = have.min(need);
            if take <= 0 {
                continue;
            }
            let mut piece = r.clone();
            piece.scalar = Some(Scalar::new(from_fixed_point(take)));
            taken.push(piece);
            r.scalar = Some(Scalar::new(from_fixed_point(have - take)));
            need -= take;
            if need == 0 {
                break;
            }
        }
        if need > 0 {
            return Err(NoMatch::Insufficient(name.to_owned()));
        }
    }
    let mut ports = Vec::new();
    for def in app.port_defs() {
        let fixed = app.require_ports.then_some(u64::from(def.port));
        let mut got = None;
        for r in trial
            .iter_mut()
            .filter(|r| r.name == "ports" && r.kind == ValueType::Ranges && role_ok(app, r))
        {
            let ranges = r.ranges.clone().unwrap_or_default();
            let pick = match fixed {
                Some(p) => ranges.contains_value(p).then_some(p),
                None => ranges
                    .range
                    .iter()
                    .find(|rg| rg.begin <= rg.end)
                    .map(|rg| rg.begin),
            };
            if let Some(p) = pick {
                r.ranges = Some(ranges.difference(&Ranges {
                    range: vec![Range::new(p, p)],
                }));
                let mut piece = r.clone();
                piece.ranges = Some(Ranges {
                    range: vec![Range::new(p, p)],
                });
                taken.push(piece);
                got = Some(p as u32);
                break;
            }
        }
        ports.push(got.ok_or(NoMatch::Ports)?);
    }
    left.clone_from_slice(&trial);
    Ok(Claim {
        resources: taken,
        ports,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(extra: serde_json::Value) -> AppDefinition {
        let mut v = serde_json::json!({"id": "/a", "cmd": "x", "cpus": 0.5, "mem": 64});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let mut a = AppDefinition::from_value(v).unwrap();
        a.normalize("/");
        a.validate().unwrap();
        a
    }

    fn host(name: &str, rack: &str) -> Placement {
        Placement {
            hostname: name.into(),
            attributes: [("rack".to_owned(), rack.to_owned())].into(),
            ..Placement::default()
        }
    }

    fn offer_resources() -> Vec<Resource> {
        vec![
            Resource::scalar("cpus", 1.0),
            Resource::scalar("mem", 128.0),
            Resource::ranges("ports", [(31000, 31002)]),
        ]
    }

    #[test]
    fn carves_resources_and_dynamic_ports() {
        let a = app(serde_json::json!({"portDefinitions": [{"port": 0}, {"port": 0}]}));
        let mut left = offer_resources();
        let c = claim(&a, &host("h1", "r1"), &[], &mut left).unwrap();
        assert_eq!(c.ports, [31000, 31001]);
        assert_eq!(left[0].scalar.unwrap().value, 0.5);
        let err = claim(&a, &host("h1", "r1"), &[], &mut left).unwrap_err();
        assert_eq!(err, NoMatch::Ports, "one port left, two needed");
        assert_eq!(
            left[0].scalar.unwrap().value,
            0.5,
            "a failed claim leaves the offer alone"
        );
    }

    #[test]
    fn required_ports_must_be_offered() {
        let a =
            app(serde_json::json!({"portDefinitions": [{"port": 31002}], "requirePorts": true}));
        let mut left = offer_resources();
        assert_eq!(
            claim(&a, &host("h", "r"), &[], &mut left).unwrap().ports,
            [31002]
        );
        let a = app(serde_json::json!({"portDefinitions": [{"port": 8080}], "requirePorts": true}));
        assert_eq!(
            claim(&a, &host("h", "r"), &[], &mut offer_resources()),
            Err(NoMatch::Ports)
        );
    }

    #[test]
    fn insufficient_resources_are_named() {
        let a = app(serde_json::json!({"mem": 4096}));
        assert_eq!(
            claim(&a, &host("h", "r"), &[], &mut offer_resources()),
            Err(NoMatch::Insufficient("mem".into()))
        );
    }

    #[test]
    fn constraints() {
        let h1 = host("h1", "r1");
        let h2 = host("h2", "r1");
        let h3 = host("h3", "r2");
        let check = |cons: serde_json::Value, agent: &Placement, others: &[&Placement]| {
            constraints_allow(
                &app(serde_json::json!({"constraints": cons})),
                agent,
                others,
            )
            .is_ok()
        };
        assert!(check(
            serde_json::json!([["hostname", "UNIQUE"]]),
            &h2,
            &[&h1]
        ));
        assert!(!check(
            serde_json::json!([["hostname", "UNIQUE"]]),
            &h1,
            &[&h1]
        ));
        assert!(check(
            serde_json::json!([["rack", "CLUSTER", "r1"]]),
            &h2,
            &[]
        ));
        assert!(!check(
            serde_json::json!([["rack", "CLUSTER", "r1"]]),
            &h3,
            &[]
        ));
        assert!(!check(
            serde_json::json!([["rack", "CLUSTER"]]),
            &h3,
            &[&h1]
        ));
        assert!(check(
            serde_json::json!([["rack", "GROUP_BY", "2"]]),
            &h3,
            &[&h1]
        ));
        assert!(!check(
            serde_json::json!([["rack", "GROUP_BY", "2"]]),
            &h2,
            &[&h1]
        ));
        assert!(!check(
            serde_json::json!([["rack", "GROUP_BY"]]),
            &h2,
            &[&h1, &h2, &h3]
        ));
        assert!(check(
            serde_json::json!([["rack", "GROUP_BY"]]),
            &h3,
            &[&h1, &h2, &h3]
        ));
        assert!(check(
            serde_json::json!([["hostname", "LIKE", "h[12]"]]),
            &h2,
            &[]
        ));
        assert!(!check(
            serde_json::json!([["hostname", "LIKE", "h[12]"]]),
            &h3,
            &[]
        ));
        assert!(check(
            serde_json::json!([["hostname", "UNLIKE", "h[12]"]]),
            &h3,
            &[]
        ));
        assert!(
            check(serde_json::json!([["gpu", "UNLIKE", "yes"]]), &h3, &[]),
            "missing attribute is unlike anything"
        );
        assert!(check(
            serde_json::json!([["rack", "MAX_PER", "2"]]),
            &h2,
            &[&h1]
        ));
        assert!(!check(
            serde_json::json!([["rack", "MAX_PER", "2"]]),
            &h2,
            &[&h1, &h2]
        ));
        assert!(check(serde_json::json!([["rack", "IS", "r2"]]), &h3, &[]));
        assert!(
            !check(serde_json::json!([["zone", "IS", "a"]]), &h3, &[]),
            "missing attribute fails IS"
        );
        assert!(Constraint::parse(&["rack".into(), "SOMETIMES".into()]).is_err());
        assert!(Constraint::parse(&["rack".into(), "LIKE".into()]).is_err());
        assert!(Constraint::parse(&["rack".into(), "MAX_PER".into(), "x".into()]).is_err());
    }

    #[test]
    fn accepted_roles_filter_resources() {
        let a = app(serde_json::json!({"acceptedResourceRoles": ["web"]}));
        assert_eq!(
            claim(&a, &host("h", "r"), &[], &mut offer_resources()),
            Err(NoMatch::Insufficient("cpus".into()))
        );
    }
}
