//! Compute resources: registered and drained by platform administrators, used by the
//! tenants and groups their access lists name.

use medgrid_domain::compute::{Access, ResourceCommand, ResourceKind};
use medgrid_domain::ids::{ResourceId, TenantId};
use medgrid_projections::resources::{self, ResourceRow};
use medgrid_projections::{groups, tenants};

use super::{Scope, parse_id};
use crate::ApiError;

/// Whether the caller may use (and so see) a resource.
fn usable(scope: &Scope<'_>, row: &ResourceRow) -> bool {
    match scope.caller.actor() {
        None => true,
        Some(actor) if actor.is_platform_admin() => true,
        Some(actor) => {
            row.all_tenants
                || row.tenants.contains(&actor.tenant_id.as_uuid())
                || actor
                    .groups
                    .keys()
                    .any(|g| row.groups.contains(&g.as_uuid()))
        }
    }
}

/// Registers a resource; `default_memory_mb` is what its attempts get when their
/// application does not say (None: the installation's default).
pub async fn register(
    scope: &Scope<'_>,
    name: &str,
    kind: ResourceKind,
    access: Access,
    default_memory_mb: Option<u64>,
) -> Result<ResourceRow, ApiError> {
    scope.caller.check(|a| a.require_platform_admin())?;
    check_access(scope, &access).await?;
    let id = ResourceId::for_name(name);
    let command = ResourceCommand::Register {
        name: name.to_owned(),
        kind,
        access,
        default_memory_mb,
    };
    scope
        .svc
        .bus
        .resource(id, command, &scope.metadata(home(scope)))
        .await?;
    visible(scope, id).await
}

/// The tenant a platform-level event is recorded under: the acting admin's own.
fn home(scope: &Scope<'_>) -> TenantId {
    scope
        .caller
        .actor()
        .map_or_else(|| TenantId::from_uuid(uuid::Uuid::nil()), |a| a.tenant_id)
}

/// Every tenant and group an access list names must exist.
async fn check_access(scope: &Scope<'_>, access: &Access) -> Result<(), ApiError> {
    for tenant in &access.tenants {
        tenants::by_id(&scope.reader(), *tenant)
            .await?
            .ok_or_else(|| ApiError::not_found("tenant"))?;
    }
    for group in &access.groups {
        groups::by_id(&scope.reader(), *group)
            .await?
            .ok_or_else(|| ApiError::not_found("group"))?;
    }
    Ok(())
}

pub async fn visible(scope: &Scope<'_>, id: ResourceId) -> Result<ResourceRow, ApiError> {
    resources::by_id(&scope.reader(), id)
        .await?
        .filter(|row| usable(scope, row))
        .ok_or_else(|| ApiError::not_found("resource"))
}

/// The resources the caller may use.
pub async fn list(scope: &Scope<'_>) -> Result<Vec<ResourceRow>, ApiError> {
    let rows = resources::list(&scope.reader()).await?;
    Ok(rows.into_iter().filter(|r| usable(scope, r)).collect())
}

/// Drain (no new attempts start there) or enable a resource.
pub async fn change(
    scope: &Scope<'_>,
    id: &str,
    command: ResourceCommand,
) -> Result<ResourceRow, ApiError> {
    let id: ResourceId = parse_id(id, "resource")?;
    visible(scope, id).await?;
    scope.caller.check(|a| a.require_platform_admin())?;
    if let ResourceCommand::SetAccess(access) = &command {
        check_access(scope, access).await?;
    }
    scope
        .svc
        .bus
        .resource(id, command, &scope.metadata(home(scope)))
        .await?;
    visible(scope, id).await
}
