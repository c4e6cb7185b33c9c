//! Members (people and their credentials) and groups.

mod group;
mod member;
pub mod sign_in;

pub use group::{Group, GroupCommand, GroupError, GroupEvent};
pub use member::{
    MAX_ACTIVE_TOKENS, MEMBER_CREATED_VERSION, Member, MemberCommand, MemberError, MemberEvent,
};
