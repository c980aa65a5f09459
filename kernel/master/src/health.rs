//! Whether this master can do its job, asked of the replicated store it
//! runs on rather than assumed: the store must have a leader, and when
//! this node leads, a quorum must confirm that within
//! [`STORE_CHECK_TIMEOUT`] (a linearizable read: the leader of a
//! minority cannot serve one). `/health`, `/master/health` and the
//! operator API's `GET_HEALTH` answer from here; the installer, `dcos
//! status` and the gateway's leader following read those.
//!
//! A follower is healthy while it knows a leader: it reads through it,
//! and loses it (no leader) within an election timeout of a partition.

use std::time::Duration;

use dcos_store::StoreNode;

/// How long the leader's quorum check may take before the master says it
/// is unhealthy (a health probe must answer quickly).
pub const STORE_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a master is unhealthy (the body of a 503 `/health`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unhealthy {
    /// The store has no leader (an election, or no quorum of its members).
    #[error("the replicated store has no leader (node {id} is {state}, term {term})")]
    NoLeader { id: u64, state: String, term: u64 },
    /// This node leads, but no quorum confirmed it in time.
    #[error("this node leads the replicated store but a quorum did not confirm it within {0:?}: the store cannot be read")]
    QuorumTimeout(Duration),
    /// This node leads, and the read failed outright.
    #[error("this node leads the replicated store but cannot read it: {0}")]
    ReadFailed(String),
}

/// Checks the store as this master sees it (see the module comment).
pub async fn check(node: &StoreNode, timeout: Duration) -> Result<(), Unhealthy> {
    let status = node.status();
    let Some(leader) = status.leader else {
        return Err(Unhealthy::NoLeader {
            id: status.id,
            state: status.state,
            term: status.term,
        });
    };
    if leader != status.id {
        return Ok(());
    }
    match tokio::time::timeout(timeout, node.raft().ensure_linearizable()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(Unhealthy::ReadFailed(e.to_string())),
        Err(_) => Err(Unhealthy::QuorumTimeout(timeout)),
    }
}
