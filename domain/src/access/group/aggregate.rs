use std::collections::BTreeMap;

use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};

use super::{GroupCommand, GroupError, GroupEvent};
use crate::actor::GroupRole;
use crate::ids::{MemberId, TenantId};
use crate::names::DisplayName;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct GroupState {
    tenant_id: TenantId,
    name: DisplayName,
    members: BTreeMap<MemberId, GroupRole>,
    #[serde(default)]
    core_budget: Option<u64>,
}

/// A set of members of one tenant. Grows with its membership, so it is snapshotted.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    state: Option<GroupState>,
}

impl Group {
    pub fn tenant_id(&self) -> Option<TenantId> {
        self.state.as_ref().map(|s| s.tenant_id)
    }

    fn decide(&self, command: GroupCommand) -> Result<Vec<GroupEvent>, GroupError> {
        match (&self.state, command) {
            (None, GroupCommand::Create { tenant_id, name }) => {
                Ok(vec![GroupEvent::GroupCreated { tenant_id, name }])
            }
            (None, _) => Err(GroupError::NotFound),
            (Some(state), command) => change(state, command),
        }
    }
}

fn change(state: &GroupState, command: GroupCommand) -> Result<Vec<GroupEvent>, GroupError> {
    Ok(match command {
        GroupCommand::Create { .. } => return Err(GroupError::AlreadyExists),
        GroupCommand::Rename { name } if state.name == name => vec![],
        GroupCommand::Rename { name } => vec![GroupEvent::GroupRenamed { name }],
        GroupCommand::AddMember { member_id, role } => match state.members.get(&member_id) {
            Some(current) if *current == role => vec![],
            Some(_) => vec![GroupEvent::GroupMemberRoleChanged { member_id, role }],
            None => vec![GroupEvent::GroupMemberAdded { member_id, role }],
        },
        GroupCommand::SetCoreBudget(seconds) if seconds == state.core_budget => vec![],
        GroupCommand::SetCoreBudget(seconds) => vec![GroupEvent::GroupCoreBudgetSet {
            core_seconds_per_month: seconds,
        }],
        GroupCommand::RemoveMember { member_id } => {
            if !state.members.contains_key(&member_id) {
                return Err(GroupError::NotAMember);
            }
            vec![GroupEvent::GroupMemberRemoved { member_id }]
        }
    })
}

impl Aggregate for Group {
    const TYPE: &'static str = "Group";
    type Command = GroupCommand;
    type Event = GroupEvent;
    type Error = GroupError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let decision = self.decide(command);
        crate::decide::record(self, decision, sink).await
    }

    fn apply(&mut self, event: Self::Event) {
        if let GroupEvent::GroupCreated { tenant_id, name } = event {
            self.state = Some(GroupState {
                tenant_id,
                name,
                members: BTreeMap::new(),
                core_budget: None,
            });
            return;
        }
        let Some(state) = self.state.as_mut() else {
            return;
        };
        match event {
            GroupEvent::GroupCreated { .. } => {}
            GroupEvent::GroupRenamed { name } => state.name = name,
            GroupEvent::GroupMemberAdded { member_id, role }
            | GroupEvent::GroupMemberRoleChanged { member_id, role } => {
                state.members.insert(member_id, role);
            }
            GroupEvent::GroupMemberRemoved { member_id } => {
                state.members.remove(&member_id);
            }
            GroupEvent::GroupCoreBudgetSet {
                core_seconds_per_month,
            } => state.core_budget = core_seconds_per_month,
        }
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;

    type Given = TestFramework<Group>;

    fn created() -> GroupEvent {
        GroupEvent::GroupCreated {
            tenant_id: TenantId::from_uuid(uuid::Uuid::from_u128(1)),
            name: "Cardio".parse().expect("name"),
        }
    }

    #[test]
    fn adding_twice_changes_the_role_only_when_it_differs() {
        let m = MemberId::from_uuid(uuid::Uuid::from_u128(2));
        let added = GroupEvent::GroupMemberAdded {
            member_id: m,
            role: GroupRole::Member,
        };
        Given::with(())
            .given(vec![created()])
            .when(GroupCommand::AddMember {
                member_id: m,
                role: GroupRole::Member,
            })
            .then_expect_events(vec![added.clone()]);
        Given::with(())
            .given(vec![created(), added.clone()])
            .when(GroupCommand::AddMember {
                member_id: m,
                role: GroupRole::Member,
            })
            .then_expect_events(vec![]);
        Given::with(())
            .given(vec![created(), added])
            .when(GroupCommand::AddMember {
                member_id: m,
                role: GroupRole::Manager,
            })
            .then_expect_events(vec![GroupEvent::GroupMemberRoleChanged {
                member_id: m,
                role: GroupRole::Manager,
            }]);
    }

    #[test]
    fn removing_a_stranger_is_not_found() {
        Given::with(())
            .given(vec![created()])
            .when(GroupCommand::RemoveMember {
                member_id: MemberId::random(),
            })
            .then_expect_error(GroupError::NotAMember);
    }

    #[test]
    fn missing_group_is_not_found() {
        Given::with(())
            .given_no_previous_events()
            .when(GroupCommand::Rename {
                name: "x".parse().expect("name"),
            })
            .then_expect_error(GroupError::NotFound);
    }
}
