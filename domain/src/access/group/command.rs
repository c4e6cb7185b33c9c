use crate::actor::GroupRole;
use crate::ids::{MemberId, TenantId};
use crate::names::DisplayName;

#[derive(Debug, Clone, PartialEq)]
pub enum GroupCommand {
    Create {
        tenant_id: TenantId,
        name: DisplayName,
    },
    Rename {
        name: DisplayName,
    },
    /// Adds the member, or changes their role if they are in the group already.
    AddMember {
        member_id: MemberId,
        role: GroupRole,
    },
    RemoveMember {
        member_id: MemberId,
    },
    /// Core seconds the group's jobs may use per calendar month (UTC) (None: no limit).
    SetCoreBudget(Option<u64>),
}
