//! The allocator's side of the books: the [`Snapshot`] it reads, and the
//! checked application of its plan (a list of [`Allocation`]s) as offers.
//! The plan is computed outside the lock, so each allocation is checked
//! again against the current state (Nomad's plan check) before it becomes
//! an offer; allocations that no longer fit are dropped.

use std::collections::BTreeMap;

use dcos_api::scheduler;
use dcos_api::v1::{Address, AllocationInfo, FrameworkId, Offer, ResourceQuantities, Url};

use super::{by_allocation_role, Clock, Effect, OfferRec, State};
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
            .map(|a| AgentSlot {
                id: a.id.clone(),
                total: a.total.clone(),
                available: a.available(),
                active: a.offerable(),
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
        let mut per_framework: BTreeMap<FrameworkId, Vec<Offer>> = BTreeMap::new();
        self.offers.reserve(plan.len());
        for alloc in plan {
            // The plan's resources without their allocation role, computed
            // once: the check, the agent's books and the offer all use it.
            let unallocated = alloc.resources.unallocate();
            let fits = {
                let Some(fw) = self.frameworks.get(&alloc.framework_id) else {
                    continue;
                };
                let Some(agent) = self.agents.get(&alloc.agent_id) else {
                    continue;
                };
                fw.connected()
                    && fw.roles.contains(&alloc.role)
                    && !fw.suppressed.contains(&alloc.role)
                    && agent.offerable()
                    && agent.stream.is_some()
                    && !alloc.resources.is_empty()
                    && agent.available().contains(&unallocated)
            };
            if !fits {
                tracing::debug!(framework = %alloc.framework_id, agent = %alloc.agent_id, "allocation no longer fits; dropped");
                continue;
            }
            let resources = unallocated.allocate(&alloc.role);
            let offer_id = self.new_offer_id();
            let agent = self.agents.get_mut(&alloc.agent_id).expect("checked");
            agent.offered += &unallocated;
            agent.offers.insert(offer_id.clone());
            let executor_ids = agent
                .executors
                .iter()
                .filter(|(f, _)| *f == alloc.framework_id)
                .map(|(_, e)| e.executor_id.clone())
                .collect();
            let offer = Offer {
                id: offer_id.clone(),
                framework_id: alloc.framework_id.clone(),
                agent_id: alloc.agent_id.clone(),
                hostname: agent.info.hostname.clone(),
                url: Some(agent_url(
                    &agent.endpoint,
                    &agent.info.hostname,
                    agent.info.port(),
                )),
                domain: agent.info.domain.clone(),
                resources: resources.clone().into_vec(),
                attributes: agent.info.attributes.clone(),
                executor_ids,
                unavailability: None,
                allocation_info: Some(AllocationInfo {
                    role: Some(alloc.role.clone()),
                }),
            };
            let fw = self
                .frameworks
                .get_mut(&alloc.framework_id)
                .expect("checked");
            fw.offered += &resources;
            fw.offers.insert(offer_id.clone());
            self.offers.insert(
                offer_id,
                OfferRec {
                    offer: offer.clone(),
                    resources,
                },
            );
            self.counters.offers_sent += 1;
            per_framework
                .entry(alloc.framework_id)
                .or_default()
                .push(offer);
        }
        per_framework
            .into_iter()
            .map(|(id, offers)| {
                Effect::ToFramework(id, scheduler::Event::Offers(scheduler::Offers { offers }))
            })
            .collect()
    }
}

/// `Offer.url`: how to reach the agent (from its endpoint `http://h:p`).
fn agent_url(endpoint: &str, hostname: &str, port: i32) -> Url {
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
