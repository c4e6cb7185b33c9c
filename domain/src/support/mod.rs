//! Trouble tickets: opened by members (optionally about a job), commented, assigned to a
//! tenant administrator, prioritised, resolved and reopened.

mod aggregate;
mod command;
mod error;
mod event;

pub use aggregate::{MAX_BODY, MAX_TITLE, Ticket};
pub use command::TicketCommand;
pub use error::TicketError;
pub use event::{Priority, TicketEvent};
