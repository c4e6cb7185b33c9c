//! Groups and their membership.

use medgrid_domain::Code;
use medgrid_domain::access::GroupCommand;
use medgrid_domain::actor::GroupRole;
use medgrid_domain::ids::{GroupId, MemberId, TenantId};
use medgrid_domain::names::DisplayName;
use medgrid_projections::groups::{self, GroupMemberRow, GroupRow};
use medgrid_projections::page::{Page, PageRequest};

use super::{Scope, access, parse_id};
use crate::ApiError;

pub async fn create(scope: &Scope<'_>, tenant: TenantId, name: &str) -> Result<GroupRow, ApiError> {
    let name: DisplayName = name.parse()?;
    scope.require_admin_of(tenant)?;
    let id = GroupId::random();
    scope
        .svc
        .bus
        .group(
            id,
            GroupCommand::Create {
                tenant_id: tenant,
                name,
            },
            &scope.metadata(tenant),
        )
        .await?;
    visible(scope, id).await
}

/// A group the caller may see: any of their tenant's for tenant admins, their own groups
/// for members. Others are not found.
pub async fn visible(scope: &Scope<'_>, id: GroupId) -> Result<GroupRow, ApiError> {
    let row = groups::by_id(&scope.reader(), id)
        .await?
        .ok_or_else(|| ApiError::not_found("group"))?;
    let tenant = TenantId::from_uuid(row.tenant_id);
    scope
        .caller
        .check(|a| a.require_group_visible(tenant, id))
        .map_err(|_| ApiError::not_found("group"))?;
    Ok(row)
}

/// A tenant's groups: all of them for its administrators, their own for members.
pub async fn list(
    scope: &Scope<'_>,
    tenant: TenantId,
    page: PageRequest,
) -> Result<Page<GroupRow>, ApiError> {
    scope.require_member_of(tenant)?;
    let only_mine = scope
        .caller
        .actor()
        .filter(|a| !a.can_administer(tenant))
        .map(|a| a.member_id);
    Ok(groups::list(&scope.reader(), tenant, only_mine, page).await?)
}

/// The memberships of a group the caller sees (its members are of the group's tenant,
/// so whoever sees the group may see them).
pub async fn members(scope: &Scope<'_>, id: GroupId) -> Result<Vec<GroupMemberRow>, ApiError> {
    visible(scope, id).await?;
    Ok(groups::members_of(&scope.reader(), id).await?)
}

/// The memberships of a member in the groups the caller sees, with each group.
pub async fn memberships_of(
    scope: &Scope<'_>,
    member: MemberId,
) -> Result<Vec<(GroupMemberRow, GroupRow)>, ApiError> {
    access::visible(scope, member).await?;
    let mut found = vec![];
    for membership in groups::memberships(&scope.reader(), member).await? {
        if let Ok(group) = visible(scope, GroupId::from_uuid(membership.group_id)).await {
            found.push((membership, group));
        }
    }
    Ok(found)
}

pub async fn rename(scope: &Scope<'_>, id: &str, name: &str) -> Result<GroupRow, ApiError> {
    let name: DisplayName = name.parse()?;
    let id: GroupId = parse_id(id, "group")?;
    let row = visible(scope, id).await?;
    let tenant = TenantId::from_uuid(row.tenant_id);
    scope
        .caller
        .check(|a| a.require_group_manager(tenant, id))?;
    scope
        .svc
        .bus
        .group(id, GroupCommand::Rename { name }, &scope.metadata(tenant))
        .await?;
    visible(scope, id).await
}

/// Sets (or lifts) a group's monthly core-hour budget: tenant admins only (a group's
/// managers must not raise their own).
pub async fn set_core_budget(
    scope: &Scope<'_>,
    id: &str,
    core_seconds: Option<u64>,
) -> Result<GroupRow, ApiError> {
    let id: GroupId = parse_id(id, "group")?;
    let row = visible(scope, id).await?;
    let tenant = TenantId::from_uuid(row.tenant_id);
    scope.caller.check(|a| a.require_tenant_admin(tenant))?;
    scope
        .svc
        .bus
        .group(
            id,
            GroupCommand::SetCoreBudget(core_seconds),
            &scope.metadata(tenant),
        )
        .await?;
    visible(scope, id).await
}

/// Adds a member of the same tenant (or changes their role); removes one.
pub async fn set_membership(
    scope: &Scope<'_>,
    group: &str,
    member: &str,
    role: Option<GroupRole>,
) -> Result<GroupRow, ApiError> {
    let id: GroupId = parse_id(group, "group")?;
    let member_id: MemberId = parse_id(member, "member")?;
    let row = visible(scope, id).await?;
    let tenant = TenantId::from_uuid(row.tenant_id);
    scope
        .caller
        .check(|a| a.require_group_manager(tenant, id))?;
    let member = access::visible(scope, member_id).await?;
    if member.tenant_id != row.tenant_id {
        return Err(ApiError::not_found("member"));
    }
    let command = match role {
        Some(role) => {
            if member.disabled {
                return Err(ApiError::new(Code::Conflict, "the member is disabled"));
            }
            GroupCommand::AddMember { member_id, role }
        }
        None => GroupCommand::RemoveMember { member_id },
    };
    scope
        .svc
        .bus
        .group(id, command, &scope.metadata(tenant))
        .await?;
    visible(scope, id).await
}
