//! The allocator's side of the books: the [`Snapshot`] it reads, and the
//! checked application of its plan (a list of [`Allocation`]s) as offers.
//! The plan is computed outside the lock, so each allocation is checked
//! again against the current state (Nomad's plan check) before it becomes
//! an offer; allocations that no longer fit are dropped.

use std::collections::BTreeMap;

use dcos_api::scheduler;
use dcos_api::v1::{Address, AllocationInfo, FrameworkId, Offer, OfferId, ResourceQuantities, Url};

use super::{by_allocation_role, Agent, Clock, Effect, OfferRec, State};
use crate::allocator::{AgentSlot, Allocation, FrameworkSlot, Snapshot};

impl State {
    /// What the allocator sees now. Expired filters are dropped first.
    pub fn allocation_snapshot(
        &mut self,
        clock: Clock,
        min_allocatable: Vec<ResourceQuantities>,
    ) -> Snapshot {
        for fw in self.frameworks.values_mut() {
            fw.filters.retain(|f| f.until > clock.now);
        }
        let agents = self
            .agents
            .values()
            .filter(|a| a.state == super::AgentState::Active && a.stream.is_some())
            .map(|a| {
                let (total, available) = a.shared_resources();
                AgentSlot {
                    id: a.id.clone(),
                    total,
                    available,
                    active: a.offerable(),
                }
            })
            .collect();
        let frameworks = self
            .frameworks
            .values()
            .map(|f| FrameworkSlot {
                id: f.id.clone(),
                roles: f.roles.clone(),
                suppressed_roles: f.suppressed.clone(),
                allocated: by_allocation_role(&(&f.used + &f.offered), &f.roles),
                filters: f.filters.clone(),
                min_allocatable: f
                    .info
                    .offer_filters
                    .iter()
                    .filter_map(|(role, filters)| {
                        filters
                            .min_allocatable_resources
                            .as_ref()
                            .map(|m| (role.clone(), m.quantities.clone()))
                    })
                    .collect(),
                active: f.connected(),
            })
            .collect();
        Snapshot {
            now: clock.now,
            agents,
            frameworks,
            roles: self.role_configs(),
            min_allocatable,
        }
    }

    /// Whether any connected framework could use an offer (so allocation
    /// cycles with nobody to offer to are skipped).
    pub fn has_demand(&self) -> bool {
        self.frameworks
            .values()
            .any(|f| f.connected() && f.roles.iter().any(|r| !f.suppressed.contains(r)))
    }

    /// Turns the allocator's plan into offers: one OFFERS event per
    /// framework with all of its new offers.
    pub fn apply_allocations(&mut self, plan: Vec<Allocation>, clock: Clock) -> Vec<Effect> {
        let _ = clock;
        // Sized up front: an OFFERS event of 10,000 offers grown by
        // doubling moved megabytes.
        let mut per_framework: BTreeMap<FrameworkId, Vec<Offer>> = BTreeMap::new();
        for alloc in &plan {
            if !per_framework.contains_key(&alloc.framework_id) {
                per_framework.insert(alloc.framework_id.clone(), Vec::new());
            }
        }
        if per_framework.len() == 1 {
            per_framework
                .values_mut()
                .for_each(|v| v.reserve(plan.len()));
        }
        self.offers.reserve(plan.len());
        for mut alloc in plan {
            let offer_id = OfferId::for_master(&self.master_id, self.next_offer);
            let (Some(fw), Some(agent)) = (
                self.frameworks.get_mut(&alloc.framework_id),
                self.agents.get_mut(&alloc.agent_id),
            ) else {
                continue;
            };
            // The plan was made outside the lock: check it still fits
            // (Nomad's plan check).
            let usable = fw.connected()
                && fw.roles.contains(&alloc.role)
                && !fw.suppressed.contains(&alloc.role)
                && agent.offerable()
                && agent.stream.is_some()
                && !alloc.resources.is_empty();
            // An offer of the whole of what the agent had available, which
            // has not changed since (the plan holds the snapshot's `Arc`, so
            // any change since made a new one), moves the books whole.
            let whole = alloc.whole.take().is_some_and(|w| agent.available_is(&w));
            if usable && whole {
                agent.offer_all_available();
            } else {
                // The unallocated form, computed once, is what the agent's
                // books hold.
                let unallocated = alloc.resources.unallocate();
                if !usable || !agent.available().contains(&unallocated) {
                    tracing::debug!(framework = %alloc.framework_id, agent = %alloc.agent_id, "allocation no longer fits; dropped");
                    continue;
                }
                agent.add_offered(&unallocated);
            }
            self.next_offer += 1;
            agent.offers.insert(offer_id.clone());
            fw.offered += &*alloc.resources;
            fw.offers.insert(offer_id.clone());
            let rec = OfferRec {
                id: offer_id.clone(),
                framework_id: alloc.framework_id,
                agent_id: alloc.agent_id,
                role: alloc.role,
                resources: alloc.resources,
            };
            let offer = offer_as_sent(&rec, agent);
            self.counters.offers_sent += 1;
            if let Some(offers) = per_framework.get_mut(&rec.framework_id) {
                offers.push(offer);
            }
            self.offers.insert(offer_id, rec);
        }
        per_framework
            .into_iter()
            .filter(|(_, offers)| !offers.is_empty())
            .map(|(id, offers)| {
                Effect::ToFramework(id, scheduler::Event::Offers(scheduler::Offers { offers }))
            })
            .collect()
    }

    /// An outstanding offer as it was sent (for the operator views).
    pub fn offer_as_sent(&self, id: &OfferId) -> Option<Offer> {
        let rec = self.offers.get(id)?;
        Some(offer_as_sent(rec, self.agents.get(&rec.agent_id)?))
    }
}

/// The OFFERS event's form of an offer.
fn offer_as_sent(rec: &OfferRec, agent: &Agent) -> Offer {
    Offer {
        id: rec.id.clone(),
        framework_id: rec.framework_id.clone(),
        agent_id: rec.agent_id.clone(),
        hostname: agent.info.hostname.clone(),
        url: Some(agent.offer_url.clone()),
        domain: agent.info.domain.clone(),
        resources: rec.resources.iter().cloned().collect(),
        attributes: agent.info.attributes.clone(),
        executor_ids: agent
            .executors
            .iter()
            .filter(|(f, _)| *f == rec.framework_id)
            .map(|(_, e)| e.executor_id.clone())
            .collect(),
        unavailability: None,
        allocation_info: Some(AllocationInfo {
            role: Some(rec.role.clone()),
        }),
    }
}

/// `Offer.url`: how to reach the agent (from its endpoint `http://h:p`).
pub(super) fn agent_url(endpoint: &str, hostname: &str, port: i32) -> Url {
    let (scheme, rest) = endpoint.split_once("://").unwrap_or(("http", endpoint));
    let hostport = rest.split('/').next().unwrap_or(rest);
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h.to_owned(), p.parse().unwrap_or(port)),
        None if hostport.is_empty() => (hostname.to_owned(), port),
        None => (hostport.to_owned(), port),
    };
    Url {
        scheme: scheme.to_owned(),
        address: Address {
            hostname: Some(host.clone()),
            ip: host
                .parse::<std::net::IpAddr>()
                .ok()
                .map(|ip| ip.to_string()),
            port,
        },
        path: Some("/slave(1)".into()),
        query: Vec::new(),
        fragment: None,
    }
}
