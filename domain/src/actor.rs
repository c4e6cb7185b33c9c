//! Who is asking, and the authorization rules every use case checks in one place.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::error::Code;
use crate::ids::{GroupId, MemberId, TenantId};

/// Roles a member holds beyond plain membership of their tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    /// Administers one tenant: its members, groups and settings.
    TenantAdmin,
    /// Operates the whole platform: creates and suspends tenants.
    PlatformAdmin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TenantAdmin => "TENANT_ADMIN",
            Self::PlatformAdmin => "PLATFORM_ADMIN",
        }
    }
}

/// A member's role inside a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum GroupRole {
    Manager,
    Member,
}

impl GroupRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manager => "MANAGER",
            Self::Member => "MEMBER",
        }
    }
}

/// The authenticated member behind a request. Only active members of active tenants become
/// actors: resolution refuses the others, so a suspended tenant or disabled member can do
/// nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub tenant_id: TenantId,
    pub member_id: MemberId,
    pub roles: BTreeSet<Role>,
    pub groups: BTreeMap<GroupId, GroupRole>,
}

/// A member someone means to act on (their password, access, roles, tokens or sessions),
/// as the rule of [`Actor::require_may_act_on`] needs to know them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetMember {
    pub tenant_id: TenantId,
    pub member_id: MemberId,
    /// Their effective roles: granted in Medgrid or by their identity provider.
    pub roles: BTreeSet<Role>,
    /// Signs in only through an identity provider (linked or invited), with no local
    /// password.
    pub federated_only: bool,
}

/// An authorization refusal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Forbidden(pub &'static str);

impl crate::error::Coded for Forbidden {
    fn code(&self) -> Code {
        Code::Forbidden
    }
}

impl Actor {
    pub fn is_platform_admin(&self) -> bool {
        self.roles.contains(&Role::PlatformAdmin)
    }

    /// Platform admins administer every tenant; tenant admins their own.
    pub fn can_administer(&self, tenant: TenantId) -> bool {
        self.is_platform_admin()
            || (self.tenant_id == tenant && self.roles.contains(&Role::TenantAdmin))
    }

    pub fn require_platform_admin(&self) -> Result<(), Forbidden> {
        if self.is_platform_admin() {
            Ok(())
        } else {
            Err(Forbidden("only a platform administrator may do this"))
        }
    }

    pub fn require_tenant_admin(&self, tenant: TenantId) -> Result<(), Forbidden> {
        if self.can_administer(tenant) {
            Ok(())
        } else {
            Err(Forbidden(
                "only an administrator of this tenant may do this",
            ))
        }
    }

    /// Managing a group's membership: tenant admins, or managers of that group.
    pub fn require_group_manager(&self, tenant: TenantId, group: GroupId) -> Result<(), Forbidden> {
        if self.can_administer(tenant)
            || (self.tenant_id == tenant && self.groups.get(&group) == Some(&GroupRole::Manager))
        {
            Ok(())
        } else {
            Err(Forbidden(
                "only a manager of this group or a tenant administrator may do this",
            ))
        }
    }

    /// Seeing a group: tenant admins see all of their tenant's, members their own.
    pub fn require_group_visible(&self, tenant: TenantId, group: GroupId) -> Result<(), Forbidden> {
        if self.can_administer(tenant)
            || (self.tenant_id == tenant && self.groups.contains_key(&group))
        {
            Ok(())
        } else {
            Err(Forbidden("not a member of this group"))
        }
    }

    /// Granting a role: platform admin only for PLATFORM_ADMIN, tenant admin otherwise.
    pub fn require_may_grant(&self, tenant: TenantId, role: Role) -> Result<(), Forbidden> {
        match role {
            Role::PlatformAdmin => self.require_platform_admin(),
            Role::TenantAdmin => self.require_tenant_admin(tenant),
        }
    }

    /// Whether this actor holds `role` in `tenant` (a platform admin holds every
    /// tenant's administration).
    pub fn holds(&self, tenant: TenantId, role: Role) -> bool {
        match role {
            Role::PlatformAdmin => self.is_platform_admin(),
            Role::TenantAdmin => self.can_administer(tenant),
        }
    }

    /// Acting on a member (their password, access, roles, tokens or sessions): the member
    /// themself, or an administrator of their tenant who holds every role they hold —
    /// otherwise taking over their account would give rights the actor lacks.
    pub fn require_may_act_on(&self, target: &TargetMember) -> Result<(), Forbidden> {
        if self.member_id == target.member_id {
            return Ok(());
        }
        self.require_tenant_admin(target.tenant_id)?;
        if target
            .roles
            .iter()
            .all(|role| self.holds(target.tenant_id, *role))
        {
            Ok(())
        } else {
            Err(Forbidden(
                "this member holds a role you do not: only someone who holds it too may do this",
            ))
        }
    }

    /// Setting a member's password: as [`Self::require_may_act_on`]; and a member who
    /// signs in only through an identity provider gets a local password from a platform
    /// admin alone (it would be a way in that their provider no longer controls).
    pub fn require_may_set_password(&self, target: &TargetMember) -> Result<(), Forbidden> {
        self.require_may_act_on(target)?;
        if target.federated_only && !self.is_platform_admin() {
            return Err(Forbidden(
                "this member signs in through their institution: only a platform administrator may give them a password",
            ));
        }
        Ok(())
    }

    /// Who may see a tenant's members and groups: its members, and platform admins.
    pub fn require_member_of(&self, tenant: TenantId) -> Result<(), Forbidden> {
        if self.tenant_id == tenant || self.is_platform_admin() {
            Ok(())
        } else {
            Err(Forbidden("not a member of this tenant"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(roles: &[Role]) -> Actor {
        Actor {
            tenant_id: TenantId::random(),
            member_id: MemberId::random(),
            roles: roles.iter().copied().collect(),
            groups: BTreeMap::new(),
        }
    }

    #[test]
    fn tenant_admin_is_confined_to_own_tenant() {
        let admin = actor(&[Role::TenantAdmin]);
        assert!(admin.require_tenant_admin(admin.tenant_id).is_ok());
        assert!(admin.require_tenant_admin(TenantId::random()).is_err());
        assert!(admin.require_platform_admin().is_err());
        assert!(
            admin
                .require_may_grant(admin.tenant_id, Role::PlatformAdmin)
                .is_err()
        );
    }

    #[test]
    fn plain_member_administers_nothing() {
        let member = actor(&[]);
        assert!(member.require_tenant_admin(member.tenant_id).is_err());
        let group = GroupId::random();
        assert!(
            member
                .require_group_manager(member.tenant_id, group)
                .is_err()
        );
        let mut manager = member.clone();
        manager.groups.insert(group, GroupRole::Manager);
        assert!(
            manager
                .require_group_manager(member.tenant_id, group)
                .is_ok()
        );
        assert!(
            manager
                .require_group_manager(TenantId::random(), group)
                .is_err()
        );
    }

    fn target(of: &Actor, roles: &[Role], federated_only: bool) -> TargetMember {
        TargetMember {
            tenant_id: of.tenant_id,
            member_id: MemberId::random(),
            roles: roles.iter().copied().collect(),
            federated_only,
        }
    }

    #[test]
    fn nobody_acts_on_a_member_holding_a_role_they_lack() {
        let admin = actor(&[Role::TenantAdmin]);
        let root = actor(&[Role::PlatformAdmin]);
        let peer = target(&admin, &[Role::TenantAdmin], false);
        let platform = target(&admin, &[Role::PlatformAdmin, Role::TenantAdmin], false);
        assert!(admin.require_may_act_on(&peer).is_ok(), "same roles");
        assert!(admin.require_may_act_on(&platform).is_err());
        assert!(admin.require_may_set_password(&platform).is_err());
        // a platform admin of another tenant holds that tenant's administration
        assert!(root.require_may_act_on(&platform).is_ok());
        assert!(root.require_may_act_on(&peer).is_ok());
        // plain members act on nobody but themselves
        let member = actor(&[]);
        assert!(
            member
                .require_may_act_on(&target(&member, &[], false))
                .is_err()
        );
        let me = TargetMember {
            member_id: member.member_id,
            ..target(&member, &[], false)
        };
        assert!(member.require_may_act_on(&me).is_ok());
    }

    #[test]
    fn only_platform_admins_give_a_federated_member_a_password() {
        let admin = actor(&[Role::TenantAdmin]);
        let root = actor(&[Role::PlatformAdmin]);
        let federated = target(&admin, &[], true);
        assert!(admin.require_may_act_on(&federated).is_ok());
        assert!(admin.require_may_set_password(&federated).is_err());
        assert!(root.require_may_set_password(&federated).is_ok());
        assert!(
            admin
                .require_may_set_password(&target(&admin, &[], false))
                .is_ok()
        );
        // nor do they give themselves one
        let member = actor(&[]);
        let me = TargetMember {
            member_id: member.member_id,
            ..target(&member, &[], true)
        };
        assert!(member.require_may_set_password(&me).is_err());
    }

    #[test]
    fn platform_admin_reaches_every_tenant() {
        let root = actor(&[Role::PlatformAdmin]);
        assert!(root.require_tenant_admin(TenantId::random()).is_ok());
        assert!(root.require_member_of(TenantId::random()).is_ok());
    }
}

/// Who is calling a use case: a member through the API, or the operator at the console
/// (`medgrid admin …`, first start), who has the database in hand and may do anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Member(Actor),
    Operator,
}

impl Caller {
    /// Checks a rule against the member; the operator passes every rule.
    pub fn check(
        &self,
        rule: impl FnOnce(&Actor) -> Result<(), Forbidden>,
    ) -> Result<(), Forbidden> {
        match self {
            Self::Member(actor) => rule(actor),
            Self::Operator => Ok(()),
        }
    }

    pub fn causer(&self) -> crate::metadata::Causer {
        match self {
            Self::Member(actor) => crate::metadata::Causer::Member(actor.member_id),
            Self::Operator => crate::metadata::Causer::System("operator".into()),
        }
    }

    pub fn actor(&self) -> Option<&Actor> {
        match self {
            Self::Member(actor) => Some(actor),
            Self::Operator => None,
        }
    }
}
