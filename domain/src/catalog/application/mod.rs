//! An application of a tenant's catalog: one Boutiques descriptor at one tool version.

mod aggregate;
mod command;
mod error;
mod event;

pub use aggregate::Application;
pub use command::ApplicationCommand;
pub use error::ApplicationError;
pub use event::ApplicationEvent;
