//! Serde types for the messages of `mesos/v1/mesos.proto`, in the JSON form
//! the v1 HTTP APIs speak.
//!
//! Conventions, applied everywhere:
//! * field names are the proto names (lower_snake); a proto `type` field is
//!   the Rust field `kind`, renamed back on the wire;
//! * enums are their SCREAMING proto names; those whose proto has an
//!   `UNKNOWN = 0` member map unrecognised names to `Unknown` instead of
//!   failing, the rest reject them;
//! * IDs are `{"value": "…"}` newtypes; `bytes` are base64 strings;
//! * optional fields are `Option` and omitted when unset; repeated fields
//!   default to empty and are omitted when empty; proto defaults are
//!   applied by accessor methods, not by filling fields in;
//! * unknown input fields are ignored (real clients send extras).
//!
//! Submodules group messages by concern; everything is re-exported here, so
//! callers write `dcos_api::v1::TaskInfo`. The union messages of the
//! scheduler, executor and operator APIs live in their own top-level
//! modules.

pub mod command;
pub mod container;
pub mod encoding;
pub mod framework;
pub mod ids;
pub mod node;
pub mod offer;
pub mod resource;
pub mod task;
pub mod values;

pub use command::*;
pub use container::*;
pub use encoding::Base64Bytes;
pub use framework::*;
pub use ids::*;
pub use node::*;
pub use offer::*;
pub use resource::*;
pub use task::*;
pub use values::*;
