//! Tenant administration.

use medgrid_domain::Caller;
use medgrid_domain::ids::TenantId;
use medgrid_domain::names::{DisplayName, TenantSlug};
use medgrid_domain::tenancy::TenantCommand;
use medgrid_projections::tenants::{self, TenantRow};

use super::{metadata, parse_id};
use crate::{ApiError, Services};

pub async fn create(
    svc: &Services,
    caller: &Caller,
    slug: &str,
    name: &str,
    request_id: Option<String>,
) -> Result<TenantRow, ApiError> {
    let slug: TenantSlug = slug.parse()?;
    let name: DisplayName = name.parse()?;
    caller.check(|a| a.require_platform_admin())?;
    let id = TenantId::for_slug(&slug);
    let meta = metadata(caller, id, request_id);
    svc.bus
        .tenant(id, TenantCommand::Create { slug, name }, &meta)
        .await?;
    visible(svc, caller, id).await
}

/// A tenant the caller may see: their own, or any for platform admins and the operator.
pub async fn visible(svc: &Services, caller: &Caller, id: TenantId) -> Result<TenantRow, ApiError> {
    caller
        .check(|a| a.require_member_of(id))
        .map_err(|_| ApiError::not_found("tenant"))?;
    tenants::by_id(&svc.pool, id)
        .await?
        .ok_or_else(|| ApiError::not_found("tenant"))
}

/// Runs an administrative command on a tenant: platform admins for suspension, tenant
/// admins (of that tenant) for the rest.
pub async fn change(
    svc: &Services,
    caller: &Caller,
    id: &str,
    command: TenantCommand,
    request_id: Option<String>,
) -> Result<TenantRow, ApiError> {
    let id: TenantId = parse_id(id, "tenant")?;
    visible(svc, caller, id).await?;
    match command {
        TenantCommand::Suspend { .. } | TenantCommand::Reactivate => {
            caller.check(|a| a.require_platform_admin())?;
        }
        _ => caller.check(|a| a.require_tenant_admin(id))?,
    }
    let meta = metadata(caller, id, request_id);
    svc.bus.tenant(id, command, &meta).await?;
    visible(svc, caller, id).await
}
