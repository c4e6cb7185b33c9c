//! Groups and their membership.

use medgrid_domain::access::GroupCommand;
use medgrid_domain::actor::GroupRole;
use medgrid_domain::ids::{GroupId, MemberId, TenantId};
use medgrid_domain::names::DisplayName;
use medgrid_domain::{Caller, Code};
use medgrid_projections::groups::{self, GroupRow};

use super::{access, metadata, parse_id};
use crate::{ApiError, Services};

pub async fn create(
    svc: &Services,
    caller: &Caller,
    tenant: TenantId,
    name: &str,
    request_id: Option<String>,
) -> Result<GroupRow, ApiError> {
    let name: DisplayName = name.parse()?;
    caller
        .check(|a| a.require_member_of(tenant))
        .map_err(|_| ApiError::not_found("tenant"))?;
    caller.check(|a| a.require_tenant_admin(tenant))?;
    let id = GroupId::random();
    svc.bus
        .group(
            id,
            GroupCommand::Create {
                tenant_id: tenant,
                name,
            },
            &metadata(caller, tenant, request_id),
        )
        .await?;
    visible(svc, caller, id).await
}

/// A group the caller may see: any of their tenant's for tenant admins, their own groups
/// for members. Others are not found.
pub async fn visible(svc: &Services, caller: &Caller, id: GroupId) -> Result<GroupRow, ApiError> {
    let row = groups::by_id(&svc.pool, id)
        .await?
        .ok_or_else(|| ApiError::not_found("group"))?;
    let tenant = TenantId::from_uuid(row.tenant_id);
    caller
        .check(|a| {
            if a.can_administer(tenant) || (a.tenant_id == tenant && a.groups.contains_key(&id)) {
                Ok(())
            } else {
                Err(medgrid_domain::actor::Forbidden("not visible"))
            }
        })
        .map_err(|_| ApiError::not_found("group"))?;
    Ok(row)
}

pub async fn rename(
    svc: &Services,
    caller: &Caller,
    id: &str,
    name: &str,
    request_id: Option<String>,
) -> Result<GroupRow, ApiError> {
    let name: DisplayName = name.parse()?;
    let id: GroupId = parse_id(id, "group")?;
    let row = visible(svc, caller, id).await?;
    let tenant = TenantId::from_uuid(row.tenant_id);
    caller.check(|a| a.require_group_manager(tenant, id))?;
    svc.bus
        .group(
            id,
            GroupCommand::Rename { name },
            &metadata(caller, tenant, request_id),
        )
        .await?;
    visible(svc, caller, id).await
}

/// Adds a member of the same tenant (or changes their role); removes one.
pub async fn set_membership(
    svc: &Services,
    caller: &Caller,
    group: &str,
    member: &str,
    role: Option<GroupRole>,
    request_id: Option<String>,
) -> Result<GroupRow, ApiError> {
    let id: GroupId = parse_id(group, "group")?;
    let member_id: MemberId = parse_id(member, "member")?;
    let row = visible(svc, caller, id).await?;
    let tenant = TenantId::from_uuid(row.tenant_id);
    caller.check(|a| a.require_group_manager(tenant, id))?;
    let member = access::visible(svc, caller, member_id).await?;
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
    svc.bus
        .group(id, command, &metadata(caller, tenant, request_id))
        .await?;
    visible(svc, caller, id).await
}
