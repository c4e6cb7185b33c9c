//! Compute resources jobs run on: this host (`local`) and Slurm clusters.

mod aggregate;
mod command;
mod error;
mod event;

pub use aggregate::Resource;
pub use command::ResourceCommand;
pub use error::ResourceError;
pub use event::{Access, ResourceEvent, ResourceKind};
