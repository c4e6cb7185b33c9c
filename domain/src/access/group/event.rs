use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use crate::actor::GroupRole;
use crate::ids::{MemberId, TenantId};
use crate::names::DisplayName;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum GroupEvent {
    GroupCreated {
        tenant_id: TenantId,
        name: DisplayName,
    },
    GroupRenamed {
        name: DisplayName,
    },
    GroupMemberAdded {
        member_id: MemberId,
        role: GroupRole,
    },
    GroupMemberRoleChanged {
        member_id: MemberId,
        role: GroupRole,
    },
    GroupMemberRemoved {
        member_id: MemberId,
    },
    GroupCoreBudgetSet {
        core_seconds_per_month: Option<u64>,
    },
}

impl DomainEvent for GroupEvent {
    fn event_type(&self) -> String {
        match self {
            Self::GroupCreated { .. } => "GroupCreated",
            Self::GroupRenamed { .. } => "GroupRenamed",
            Self::GroupMemberAdded { .. } => "GroupMemberAdded",
            Self::GroupMemberRoleChanged { .. } => "GroupMemberRoleChanged",
            Self::GroupMemberRemoved { .. } => "GroupMemberRemoved",
            Self::GroupCoreBudgetSet { .. } => "GroupCoreBudgetSet",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}
