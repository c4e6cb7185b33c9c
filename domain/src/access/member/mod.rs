mod aggregate;
mod command;
mod error;
mod event;

pub use aggregate::{MAX_ACTIVE_TOKENS, Member};
pub use command::MemberCommand;
pub use error::MemberError;
pub use event::{MEMBER_CREATED_VERSION, MemberEvent};
