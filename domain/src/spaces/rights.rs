//! Who may do what in a space: the owner (a member in their home, the members of a group
//! in its space) reads and writes everything; a folder shared with a member or one of
//! their groups lends its access to everything inside it. Managing (sharing, quotas of
//! nothing but their own) is for the home's owner and the group's managers. Nobody else
//! learns that a space or a node exists: administrators do not read members' files.

use super::event::{Access, Grantee, SpaceOwner};
use crate::actor::{Actor, GroupRole};
use crate::ids::TenantId;

/// What a caller may do with a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Right {
    Read,
    Write,
    /// Write, and share or unshare what the space holds.
    Manage,
}

impl Right {
    pub fn may_write(self) -> bool {
        self >= Self::Write
    }
}

/// The caller's right on a node of a space of `tenant` owned by `owner`, given the shares
/// on that node and the folders above it. None: the node is not theirs to see.
pub fn right(
    actor: &Actor,
    tenant: TenantId,
    owner: SpaceOwner,
    shares: &[(Grantee, Access)],
) -> Option<Right> {
    if actor.tenant_id != tenant {
        return None;
    }
    let own = match owner {
        SpaceOwner::Member(m) if m == actor.member_id => Some(Right::Manage),
        SpaceOwner::Group(g) => match actor.groups.get(&g) {
            Some(GroupRole::Manager) => Some(Right::Manage),
            Some(GroupRole::Member) => Some(Right::Write),
            None => None,
        },
        SpaceOwner::Member(_) => None,
    };
    let lent = shares
        .iter()
        .filter(|(grantee, _)| match grantee {
            Grantee::Member(m) => *m == actor.member_id,
            Grantee::Group(g) => actor.groups.contains_key(g),
        })
        .map(|(_, access)| match access {
            Access::Read => Right::Read,
            Access::ReadWrite => Right::Write,
        })
        .max();
    own.max(lent)
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::ids::{GroupId, MemberId};

    fn actor(tenant: TenantId, groups: &[(GroupId, GroupRole)]) -> Actor {
        Actor {
            tenant_id: tenant,
            member_id: MemberId::random(),
            roles: BTreeSet::new(),
            groups: groups.iter().copied().collect::<BTreeMap<_, _>>(),
        }
    }

    #[test]
    fn owners_manage_their_home_and_nobody_else_sees_it() {
        let tenant = TenantId::random();
        let me = actor(tenant, &[]);
        let other = actor(tenant, &[]);
        let home = SpaceOwner::Member(me.member_id);
        assert_eq!(right(&me, tenant, home, &[]), Some(Right::Manage));
        assert_eq!(right(&other, tenant, home, &[]), None);
    }

    #[test]
    fn group_members_write_and_managers_manage() {
        let tenant = TenantId::random();
        let g = GroupId::random();
        let space = SpaceOwner::Group(g);
        assert_eq!(
            right(
                &actor(tenant, &[(g, GroupRole::Member)]),
                tenant,
                space,
                &[]
            ),
            Some(Right::Write)
        );
        assert_eq!(
            right(
                &actor(tenant, &[(g, GroupRole::Manager)]),
                tenant,
                space,
                &[]
            ),
            Some(Right::Manage)
        );
        assert_eq!(right(&actor(tenant, &[]), tenant, space, &[]), None);
    }

    #[test]
    fn shares_lend_their_access_to_members_and_groups() {
        let tenant = TenantId::random();
        let g = GroupId::random();
        let reader = actor(tenant, &[(g, GroupRole::Member)]);
        let owner = SpaceOwner::Member(MemberId::random());
        let by_group = [(Grantee::Group(g), Access::Read)];
        assert_eq!(right(&reader, tenant, owner, &by_group), Some(Right::Read));
        let both = [
            (Grantee::Group(g), Access::Read),
            (Grantee::Member(reader.member_id), Access::ReadWrite),
        ];
        assert_eq!(right(&reader, tenant, owner, &both), Some(Right::Write));
        let elsewhere = [(Grantee::Group(GroupId::random()), Access::ReadWrite)];
        assert_eq!(right(&reader, tenant, owner, &elsewhere), None);
    }

    #[test]
    fn nothing_crosses_tenants() {
        let tenant = TenantId::random();
        let stranger = actor(TenantId::random(), &[]);
        let shares = [(Grantee::Member(stranger.member_id), Access::ReadWrite)];
        let owner = SpaceOwner::Member(MemberId::random());
        assert_eq!(right(&stranger, tenant, owner, &shares), None);
    }
}
