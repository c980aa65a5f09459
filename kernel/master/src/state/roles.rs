//! Role configuration set by the operator: DRF weights (UPDATE_WEIGHTS,
//! `PUT /weights`) and quota guarantees and limits (UPDATE_QUOTA, the
//! deprecated `POST /quota` and `DELETE /quota/<role>`). Each change is
//! validated the way Mesos does, persisted as registry records (so a new
//! leader has them) and reaches the allocator through
//! [`State::role_configs`], which every allocation snapshot carries.
//!
//! It does not decide who gets what: that is the allocator's, which
//! reads these numbers as [`crate::allocator::RoleConfig`]s.

use std::collections::BTreeMap;

use dcos_api::operator::{QuotaConfig, QuotaInfo, QuotaRequest, QuotaStatus, WeightInfo};
use dcos_api::v1::{Resource, Scalar, ValueType, UNRESERVED_ROLE};
use serde::{Deserialize, Serialize};

use super::frameworks::validate_role;
use super::{AgentState, Effect, Record, State, StateError};
use crate::allocator::RoleConfig;

/// A role's quota: guaranteed amounts and upper limits by resource name
/// (scalars only). A name absent from `limits` is unlimited.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Quota {
    /// Resources the role gets before others get more than their share.
    pub guarantees: BTreeMap<String, f64>,
    /// Most the role may hold.
    pub limits: BTreeMap<String, f64>,
}

impl Quota {
    /// No guarantee and no limit: the default quota (no quota at all).
    pub fn is_empty(&self) -> bool {
        self.guarantees.is_empty() && self.limits.is_empty()
    }
}

/// `/mesos/weights/<role>`: a weight the operator set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeightRecord {
    /// The role.
    pub role: String,
    /// Its weight (positive).
    pub weight: f64,
}

/// `/mesos/quotas/<role>`: a role's quota; an empty one means removed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuotaRecord {
    /// The role.
    pub role: String,
    /// Its quota.
    pub quota: Quota,
}

fn invalid(message: impl Into<String>) -> StateError {
    StateError::Invalid(message.into())
}

fn check_amount(role: &str, what: &str, name: &str, value: f64) -> Result<(), StateError> {
    if name.is_empty() {
        return Err(invalid(format!(
            "Invalid QuotaConfig for role '{role}': resource names must not be empty"
        )));
    }
    if !value.is_finite() || value < 0.0 {
        return Err(invalid(format!(
            "Invalid QuotaConfig for role '{role}': negative or non-finite {what} for '{name}': {value}"
        )));
    }
    Ok(())
}

impl State {
    /// The weight of `role` (1.0 unless the operator set one).
    pub fn weight(&self, role: &str) -> f64 {
        self.weights.get(role).copied().unwrap_or(1.0)
    }

    /// Weight and quota of every configured role, as the allocator reads
    /// them (roles not listed have weight 1 and no quota).
    pub fn role_configs(&self) -> BTreeMap<String, RoleConfig> {
        let mut out: BTreeMap<String, RoleConfig> = BTreeMap::new();
        for (role, weight) in &self.weights {
            out.entry(role.clone()).or_default().weight = *weight;
        }
        for (role, quota) in &self.quotas {
            let c = out.entry(role.clone()).or_default();
            c.guarantee = quota.guarantees.clone();
            c.limit = quota.limits.clone();
        }
        out
    }

    /// GET_WEIGHTS and `GET /weights`: every weight the operator set.
    pub fn weight_infos(&self) -> Vec<WeightInfo> {
        self.weights
            .iter()
            .map(|(role, weight)| WeightInfo {
                weight: *weight,
                role: Some(role.clone()),
            })
            .collect()
    }

    /// UPDATE_WEIGHTS and `PUT /weights`: all or nothing; each role must
    /// be valid and each weight positive and finite.
    pub fn update_weights(&mut self, infos: Vec<WeightInfo>) -> Result<Vec<Effect>, StateError> {
        let mut checked = Vec::with_capacity(infos.len());
        for info in infos {
            let Some(role) = info.role.filter(|r| !r.is_empty()) else {
                return Err(invalid("Every weight must name a role"));
            };
            validate_role(&role)?;
            if !info.weight.is_finite() || info.weight <= 0.0 {
                return Err(invalid(format!(
                    "Invalid weight '{}' for role '{role}': weights must be positive",
                    info.weight
                )));
            }
            checked.push((role, info.weight));
        }
        let mut effects = Vec::new();
        for (role, weight) in checked {
            self.weights.insert(role.clone(), weight);
            effects.push(Effect::Persist(Record::Weight(WeightRecord {
                role,
                weight,
            })));
        }
        effects.push(Effect::Allocate);
        Ok(effects)
    }

    /// GET_QUOTA and `GET /quota`: the configs, plus the deprecated
    /// guarantee-only `infos`.
    pub fn quota_status(&self) -> QuotaStatus {
        let mut status = QuotaStatus::default();
        for (role, q) in &self.quotas {
            let scalars = |m: &BTreeMap<String, f64>| -> BTreeMap<String, Scalar> {
                m.iter()
                    .map(|(k, v)| (k.clone(), Scalar { value: *v }))
                    .collect()
            };
            status.configs.push(QuotaConfig {
                role: role.clone(),
                guarantees: scalars(&q.guarantees),
                limits: scalars(&q.limits),
            });
            status.infos.push(QuotaInfo {
                role: Some(role.clone()),
                principal: None,
                guarantee: q
                    .guarantees
                    .iter()
                    .map(|(name, v)| Resource::scalar(name, *v))
                    .collect(),
            });
        }
        status
    }

    /// UPDATE_QUOTA (Mesos 1.9+): all or nothing. A config with neither
    /// guarantees nor limits removes the role's quota. Unless `force`, the
    /// guarantees of all roles together must fit in the cluster.
    pub fn update_quota(
        &mut self,
        configs: Vec<QuotaConfig>,
        force: bool,
    ) -> Result<Vec<Effect>, StateError> {
        let mut updated = self.quotas.clone();
        let mut changed = Vec::new();
        for config in configs {
            let role = config.role;
            self.validate_quota_role(&role)?;
            let quota = Quota {
                guarantees: config
                    .guarantees
                    .into_iter()
                    .map(|(k, v)| (k, v.value))
                    .collect(),
                limits: config
                    .limits
                    .into_iter()
                    .map(|(k, v)| (k, v.value))
                    .collect(),
            };
            self.validate_quota(&role, &quota)?;
            if quota.is_empty() {
                updated.remove(&role);
            } else {
                updated.insert(role.clone(), quota.clone());
            }
            changed.push(QuotaRecord { role, quota });
        }
        if !force {
            self.check_capacity(&updated)
                .map_err(|e| invalid(format!("{e} (use 'force' to bypass this check)")))?;
        }
        self.quotas = updated;
        let mut effects: Vec<Effect> = changed
            .into_iter()
            .map(|r| Effect::Persist(Record::Quota(r)))
            .collect();
        effects.push(Effect::Allocate);
        Ok(effects)
    }

    /// The deprecated `POST /quota` (and SET_QUOTA): a guarantee of scalar,
    /// unreserved resources for a role without quota. As in Mesos 1.9+,
    /// the limit is set to the guarantee. A guarantee the cluster cannot
    /// hold is a [`StateError::QuotaConflict`] unless `force`.
    pub fn set_quota(&mut self, request: QuotaRequest) -> Result<Vec<Effect>, StateError> {
        let role = request
            .role
            .clone()
            .filter(|r| !r.is_empty())
            .ok_or_else(|| invalid("Failed to validate set quota request: 'role' must be set"))?;
        self.validate_quota_role(&role)?;
        if self.quotas.contains_key(&role) {
            return Err(invalid(format!(
                "Failed to validate set quota request: cannot set quota for role '{role}' which already has quota"
            )));
        }
        if request.guarantee.is_empty() {
            return Err(invalid(
                "Failed to validate set quota request: 'guarantee' must not be empty",
            ));
        }
        let mut guarantees = BTreeMap::new();
        for r in &request.guarantee {
            if r.kind != ValueType::Scalar || r.scalar.is_none() {
                return Err(invalid(format!(
                    "Failed to validate set quota request: quota may only be set for scalar resources; '{}' is {:?}",
                    r.name, r.kind
                )));
            }
            if r.is_reserved() || r.role.as_deref().is_some_and(|x| x != UNRESERVED_ROLE) {
                return Err(invalid(format!(
                    "Failed to validate set quota request: '{}' must not be reserved",
                    r.name
                )));
            }
            if r.disk.is_some() || r.revocable.is_some() {
                return Err(invalid(format!(
                    "Failed to validate set quota request: '{}' must not have disk or revocable info",
                    r.name
                )));
            }
            let value = r.scalar.map(|s| s.value).unwrap_or_default();
            if guarantees.insert(r.name.clone(), value).is_some() {
                return Err(invalid(format!(
                    "Failed to validate set quota request: duplicate resource name '{}'",
                    r.name
                )));
            }
        }
        let quota = Quota {
            limits: guarantees.clone(),
            guarantees,
        };
        self.validate_quota(&role, &quota)?;
        if !request.force.unwrap_or(false) {
            let mut updated = self.quotas.clone();
            updated.insert(role.clone(), quota.clone());
            self.check_capacity(&updated)
                .map_err(StateError::QuotaConflict)?;
        }
        self.quotas.insert(role.clone(), quota.clone());
        Ok(vec![
            Effect::Persist(Record::Quota(QuotaRecord { role, quota })),
            Effect::Allocate,
        ])
    }

    /// `DELETE /quota/<role>` (and REMOVE_QUOTA).
    pub fn remove_quota(&mut self, role: &str) -> Result<Vec<Effect>, StateError> {
        validate_role(role)?;
        if self.quotas.remove(role).is_none() {
            return Err(invalid(format!(
                "Failed to remove quota: role '{role}' has no quota set"
            )));
        }
        Ok(vec![
            Effect::Persist(Record::Quota(QuotaRecord {
                role: role.to_owned(),
                quota: Quota::default(),
            })),
            Effect::Allocate,
        ])
    }

    fn validate_quota_role(&self, role: &str) -> Result<(), StateError> {
        validate_role(role)?;
        if role == UNRESERVED_ROLE {
            return Err(invalid(
                "Invalid QuotaConfig: quota cannot be set for the '*' role",
            ));
        }
        Ok(())
    }

    /// Amounts non-negative and finite, guarantee ≤ limit, and names that
    /// agents do not offer as ranges or sets (quota is for scalars).
    fn validate_quota(&self, role: &str, quota: &Quota) -> Result<(), StateError> {
        for (name, v) in &quota.guarantees {
            check_amount(role, "guarantee", name, *v)?;
        }
        for (name, v) in &quota.limits {
            check_amount(role, "limit", name, *v)?;
        }
        for (name, g) in &quota.guarantees {
            if let Some(l) = quota.limits.get(name) {
                if g > l {
                    return Err(invalid(format!(
                        "Invalid QuotaConfig for role '{role}': guarantee {g} of '{name}' is greater than its limit {l}"
                    )));
                }
            }
        }
        for name in quota.guarantees.keys().chain(quota.limits.keys()) {
            let non_scalar = self.agents.values().any(|a| {
                a.total
                    .iter()
                    .any(|r| r.name == *name && r.kind != ValueType::Scalar)
            });
            if non_scalar {
                return Err(invalid(format!(
                    "Invalid QuotaConfig for role '{role}': '{name}' is not a scalar resource"
                )));
            }
        }
        Ok(())
    }

    /// Mesos' capacity heuristic: the guarantees of top-level quota roles
    /// (a child's guarantee is part of its parent's) must fit in the total
    /// resources of reachable agents.
    fn check_capacity(&self, quotas: &BTreeMap<String, Quota>) -> Result<(), String> {
        let mut needed: BTreeMap<&str, f64> = BTreeMap::new();
        for (role, q) in quotas {
            let has_quota_ancestor = role
                .match_indices('/')
                .any(|(i, _)| quotas.contains_key(&role[..i]));
            if has_quota_ancestor {
                continue;
            }
            for (name, v) in &q.guarantees {
                *needed.entry(name).or_default() += v;
            }
        }
        let mut total: BTreeMap<String, f64> = BTreeMap::new();
        for a in self
            .agents
            .values()
            .filter(|a| matches!(a.state, AgentState::Active | AgentState::Disconnected))
        {
            for (name, v) in a.total.quantities() {
                *total.entry(name).or_default() += v;
            }
        }
        for (name, want) in needed {
            let have = total.get(name).copied().unwrap_or(0.0);
            if want > have + 1e-9 {
                return Err(format!(
                    "Total quota guarantees of '{name}' ({want}) exceed the cluster capacity ({have})"
                ));
            }
        }
        Ok(())
    }

    /// Takes in a recovered weight or quota record.
    pub(super) fn recover_role_record(&mut self, record: Record) {
        match record {
            Record::Weight(w) => {
                self.weights.insert(w.role, w.weight);
            }
            Record::Quota(q) if q.quota.is_empty() => {
                self.quotas.remove(&q.role);
            }
            Record::Quota(q) => {
                self.quotas.insert(q.role, q.quota);
            }
            Record::Framework(_) | Record::Agent(_) => {}
        }
    }
}
