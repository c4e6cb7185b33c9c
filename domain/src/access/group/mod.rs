mod aggregate;
mod command;
mod error;
mod event;

pub use aggregate::Group;
pub use command::GroupCommand;
pub use error::GroupError;
pub use event::GroupEvent;
