//! When leases expire. This is the leader's business and not replicated
//! state: the leader keeps a deadline per lease, restarts it on keep-alive,
//! and when one passes it commits a `LeaseRevoke` through the log, so that
//! applying stays deterministic. A new leader gives every lease a full TTL
//! again (as etcd does), so a failover never expires a lease early.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::machine::KvMachine;

/// How often the leader looks for expired leases.
pub const LEASE_TICK: Duration = Duration::from_millis(100);

#[derive(Debug, Default)]
pub struct LeaseClock {
    deadlines: HashMap<u64, Instant>,
}

impl LeaseClock {
    /// Brings the deadlines in line with the machine: leases new to the clock
    /// start their TTL at `now`; leases gone from the machine are dropped.
    pub fn sync(&mut self, machine: &KvMachine, now: Instant) {
        self.deadlines.retain(|id, _| machine.lease(*id).is_some());
        for (id, lease) in machine.leases() {
            self.deadlines
                .entry(id)
                .or_insert_with(|| now + Duration::from_secs(lease.ttl));
        }
    }

    /// Forgets every deadline (this node lost or just gained leadership).
    pub fn reset(&mut self) {
        self.deadlines.clear();
    }

    /// Restarts a lease's TTL. The caller checked that the lease exists.
    pub fn keepalive(&mut self, id: u64, ttl: u64, now: Instant) {
        self.deadlines.insert(id, now + Duration::from_secs(ttl));
    }

    /// Leases whose deadline has passed.
    pub fn expired(&self, now: Instant) -> Vec<u64> {
        let mut ids: Vec<u64> = self
            .deadlines
            .iter()
            .filter(|(_, d)| **d <= now)
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::HistoryLimit;
    use crate::types::{Command, LeaseGrantRequest};

    #[tokio::test(start_paused = true)]
    async fn expiry_follows_ttl_and_keepalive() {
        let mut m = KvMachine::new(HistoryLimit::default());
        m.apply(&Command::LeaseGrant(LeaseGrantRequest {
            ttl: 2,
            id: Some(7),
        }));
        let mut clock = LeaseClock::default();
        let start = Instant::now();
        clock.sync(&m, start);
        assert!(clock
            .expired(start + Duration::from_millis(1999))
            .is_empty());
        clock.keepalive(7, 2, start + Duration::from_secs(1));
        assert!(clock
            .expired(start + Duration::from_millis(2500))
            .is_empty());
        assert_eq!(clock.expired(start + Duration::from_secs(3)), vec![7]);
        m.apply(&Command::LeaseRevoke { id: 7 });
        clock.sync(&m, start);
        assert!(clock.expired(start + Duration::from_secs(60)).is_empty());
    }
}
