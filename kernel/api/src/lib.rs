//! Wire types and codecs for a datacenter OS that speaks the Apache Mesos
//! HTTP API v1 (JSON).
//!
//! # Map
//!
//! | module | owns |
//! |---|---|
//! | [`agent`] | the master ↔ agent protocol (ours): registration stream, calls, events |
//! | [`v1`] | serde types for `mesos.proto` messages (IDs, resources, offers, tasks, statuses, containers, …) |
//! | [`scheduler`] | `/api/v1/scheduler`: `Call` and `Event`, including the doc-vs-proto gotchas |
//! | [`executor`] | `/api/v1/executor`: `Call` and `Event`, and the executor's environment variables |
//! | [`operator`] | `/api/v1` operator API: `Call`, `Response`, the SUBSCRIBE `Event` stream and their messages |
//! | [`recordio`] | RecordIO framing (`<length>\n<bytes>`) for event streams: encoder and incremental decoder |
//! | [`resources`] | arithmetic on collections of resources, the agent `--resources` syntax, fixed-point scalars |
//! | `client` | (feature `client`, on by default) the scheduler client SDK: subscribe, heartbeat watchdog, resubscribe with backoff, leader redirects, calls, acknowledgements |
//!
//! # What this crate does not own
//!
//! No servers, no domain state. Apart from the scheduler client SDK
//! ([`client`], cargo feature `client`, on by default), nothing here does
//! I/O or reads a clock: servers parse bodies with the `from_json`
//! functions here and map the module errors to status codes (every parse
//! error is a 400). Domain state (the master's books, the allocator)
//! converts from these types in its own crate.

//! # Example
//!
//! A master answering a scheduler's ACCEPT and streaming an event back:
//!
//! ```
//! use dcos_api::{recordio, resources::Resources, scheduler, v1};
//!
//! let body = br#"{"framework_id":{"value":"m-0000"},"type":"ACCEPT","accept":{
//!     "offer_ids":[{"value":"m-O1"}],
//!     "operations":[{"type":"LAUNCH","launch":{"task_infos":[{
//!         "name":"web","task_id":{"value":"web-1"},"agent_id":{"value":"m-S0"},
//!         "command":{"value":"python3 -m http.server"},
//!         "resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":0.5}}]}]}}]}}"#;
//! let call = scheduler::Call::from_json(body)?; // any error here is a 400
//! call.validate()?;
//! let scheduler::CallBody::Accept(accept) = &call.body else { unreachable!() };
//! let v1::Operation::Launch(launch) = &accept.operations[0].operation else { unreachable!() };
//!
//! let offered = Resources::parse("cpus:4;mem:8192;ports:[31000-32000]", "*")?;
//! let wanted: Resources = launch.task_infos[0].resources.clone().into();
//! let left = offered.checked_sub(&wanted)?;
//! assert_eq!(left.cpus(), Some(3.5));
//!
//! let event = scheduler::Event::Heartbeat;
//! let frame = recordio::encode(&event.to_json());
//! assert_eq!(&frame[..], b"20\n{\"type\":\"HEARTBEAT\"}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[macro_use]
mod macros;

pub mod agent;
#[cfg(feature = "client")]
pub mod client;
pub mod executor;
pub mod operator;
pub mod recordio;
pub mod resources;
pub mod scheduler;
pub mod v1;

pub use macros::UnknownEnumValue;
