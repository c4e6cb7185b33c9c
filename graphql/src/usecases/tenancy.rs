//! Tenant administration.

use medgrid_domain::ids::TenantId;
use medgrid_domain::names::{DisplayName, TenantSlug};
use medgrid_domain::tenancy::TenantCommand;
use medgrid_projections::page::{Page, PageRequest};
use medgrid_projections::tenants::{self, TenantRow};

use super::{Scope, parse_id};
use crate::ApiError;

pub async fn create(scope: &Scope<'_>, slug: &str, name: &str) -> Result<TenantRow, ApiError> {
    let slug: TenantSlug = slug.parse()?;
    let name: DisplayName = name.parse()?;
    scope.caller.check(|a| a.require_platform_admin())?;
    let id = TenantId::for_slug(&slug);
    let meta = scope.metadata(id);
    scope
        .svc
        .bus
        .tenant(id, TenantCommand::Create { slug, name }, &meta)
        .await?;
    visible(scope, id).await
}

/// Every tenant, a page at a time (platform administrators).
pub async fn list(scope: &Scope<'_>, page: PageRequest) -> Result<Page<TenantRow>, ApiError> {
    scope.caller.check(|a| a.require_platform_admin())?;
    Ok(tenants::list(&scope.reader(), page).await?)
}

/// A tenant the caller may see: their own, or any for platform admins and the operator.
pub async fn visible(scope: &Scope<'_>, id: TenantId) -> Result<TenantRow, ApiError> {
    scope.require_member_of(id)?;
    tenants::by_id(&scope.reader(), id)
        .await?
        .ok_or_else(|| ApiError::not_found("tenant"))
}

/// Runs an administrative command on a tenant: platform admins for suspension, the
/// storage quota and the core-hour budget, tenant admins (of that tenant) for the rest.
pub async fn change(
    scope: &Scope<'_>,
    id: &str,
    command: TenantCommand,
) -> Result<TenantRow, ApiError> {
    let id: TenantId = parse_id(id, "tenant")?;
    visible(scope, id).await?;
    match command {
        TenantCommand::Suspend { .. }
        | TenantCommand::Reactivate
        | TenantCommand::SetStorageQuota(_)
        | TenantCommand::SetCoreBudget(_) => {
            scope.caller.check(|a| a.require_platform_admin())?;
        }
        _ => scope.caller.check(|a| a.require_tenant_admin(id))?,
    }
    let meta = scope.metadata(id);
    scope.svc.bus.tenant(id, command, &meta).await?;
    visible(scope, id).await
}
