//! Medgrid's domain: aggregates, commands, events and errors, with no I/O.
//!
//! Each bounded context (`tenancy`, `access`, …) keeps its aggregate, commands, events and
//! errors in their own files. Everything the domain needs from the world is a trait in
//! [`ports`].

pub mod access;
pub mod actor;
pub mod catalog;
pub mod compute;
mod decide;
pub mod error;
pub mod idempotency;
pub mod ids;
pub mod imports;
pub mod jobs;
pub mod metadata;
pub mod names;
pub mod notify;
pub mod ports;
pub mod spaces;
pub mod support;
pub mod tenancy;
pub mod upcast;

pub use actor::{Actor, Caller, GroupRole, Role, TargetMember};
pub use error::{Code, CommandError};
