//! `dcos-store`: the replicated, durable key-value store that plays
//! ZooKeeper's role for the master, Marathon and Chronos.
//!
//! It knows nothing of what its keys mean. Map of the crate:
//!
//! - [`types`]: keys, values, revisions, events, requests and answers, and the
//!   replicated [`types::Command`].
//! - [`error`]: [`KvError`], the one error type, and its wire form.
//! - [`machine`]: the pure state machine (`apply` is deterministic).
//! - [`kv`]: the [`Kv`] trait every implementation offers, and validation.
//! - [`shared`]: the machine behind a lock, the applied-revision broadcast,
//!   and watch streams.
//! - [`leases`]: the leader's lease clock.
//! - [`election`]: leader election for components that run several copies.
//! - [`mem`]: [`MemStore`], the in-memory implementation for harness tests.
//! - [`namespace`]: [`Namespaced`], a `Kv` confined to the keys under one
//!   prefix (a second Marathon or Chronos beside the first).
//! - [`sqlite`]: the Raft log and state machine in one SQLite file (sqlx).
//! - [`raft`]: openraft types and the HTTP transport between nodes.
//! - [`node`]: [`StoreNode`], a replicated member (writes through Raft,
//!   linearizable reads, leases, membership).
//! - [`http`]: the HTTP API under `/store/` (axum).
//! - [`client`]: [`Client`], the HTTP client that follows the leader.
//! - [`conformance`]: the KV semantics suite every implementation passes.

pub mod client;
pub mod conformance;
pub mod election;
pub mod error;
pub mod http;
pub mod kv;
pub mod leases;
pub mod machine;
pub mod mem;
pub mod namespace;
pub mod node;
pub mod raft;
pub mod shared;
pub mod sqlite;
pub mod stream;
pub mod types;

pub use client::Client;
pub use election::{Election, Leadership};
pub use error::KvError;
pub use kv::{Kv, WatchStream};
pub use mem::MemStore;
pub use namespace::Namespaced;
pub use node::{NodeConfig, StoreNode};
