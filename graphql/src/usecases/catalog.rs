//! The application catalog of a tenant.

use medgrid_domain::actor::{Actor, Forbidden};
use medgrid_domain::catalog::{ApplicationCommand, Descriptor};
use medgrid_domain::error::Coded;
use medgrid_domain::ids::{ApplicationId, TenantId};
use medgrid_projections::applications::{self, ApplicationRow};
use serde_json::Value;

use super::{Scope, parse_id};
use crate::ApiError;

/// Registers a descriptor in the tenant's catalog (tenant administrators).
pub async fn register(
    scope: &Scope<'_>,
    tenant: TenantId,
    descriptor: Value,
) -> Result<ApplicationRow, ApiError> {
    scope.require_admin_of(tenant)?;
    let parsed =
        Descriptor::parse(&descriptor).map_err(|e| ApiError::new(e.code(), e.to_string()))?;
    check_registry(scope, &parsed)?;
    let id = ApplicationId::for_version(tenant, &parsed.name, &parsed.tool_version);
    let command = ApplicationCommand::Register {
        tenant_id: tenant,
        descriptor,
    };
    scope
        .svc
        .bus
        .application(id, command, &scope.metadata(tenant))
        .await?;
    visible(scope, id).await
}

/// The application's image must come from a registry this installation pulls from.
fn check_registry(scope: &Scope<'_>, descriptor: &Descriptor) -> Result<(), ApiError> {
    let Some(image) = descriptor.container_image.as_ref() else {
        return Ok(());
    };
    // the descriptor was checked: its image reference parses
    let Ok(reference) = image.reference() else {
        return Ok(());
    };
    let allowed = &scope.svc.image_registries;
    if allowed.contains(&reference.registry) {
        return Ok(());
    }
    Err(ApiError::invalid(format!(
        "descriptor container-image.image: {} comes from registry {}, which this installation \
         does not pull images from (it does from: {})",
        reference,
        reference.registry,
        allowed.join(", ")
    ))
    .with_field("container-image.image"))
}

/// An application the caller may see: enabled ones of their tenant; disabled ones too for
/// its administrators. Others are not found.
pub async fn visible(scope: &Scope<'_>, id: ApplicationId) -> Result<ApplicationRow, ApiError> {
    let row = applications::by_id(&scope.reader(), id)
        .await?
        .ok_or_else(|| ApiError::not_found("application"))?;
    let tenant = TenantId::from_uuid(row.tenant_id);
    let admin = scope
        .caller
        .check(|a| a.require_tenant_admin(tenant))
        .is_ok();
    let member = scope.caller.check(|a| a.require_member_of(tenant)).is_ok();
    if admin || (member && row.enabled) {
        Ok(row)
    } else {
        Err(ApiError::not_found("application"))
    }
}

/// The catalog of a tenant, as the caller may see it.
pub async fn list(scope: &Scope<'_>, tenant: TenantId) -> Result<Vec<ApplicationRow>, ApiError> {
    scope.require_member_of(tenant)?;
    let admin = scope
        .caller
        .check(|a| a.require_tenant_admin(tenant))
        .is_ok();
    Ok(applications::list(&scope.reader(), tenant, admin).await?)
}

/// Enables or disables an application for the tenant's members (tenant administrators).
pub async fn set_enabled(
    scope: &Scope<'_>,
    id: &str,
    enabled: bool,
) -> Result<ApplicationRow, ApiError> {
    let command = if enabled {
        ApplicationCommand::Enable
    } else {
        ApplicationCommand::Disable
    };
    change(scope, id, command, |a, tenant| {
        a.require_tenant_admin(tenant)
    })
    .await
}

/// Lets an application's jobs reach the network, or not. Platform administrators only:
/// the sandbox then opens a way out of the platform, which no tenant may decide alone.
pub async fn set_networked(
    scope: &Scope<'_>,
    id: &str,
    networked: bool,
) -> Result<ApplicationRow, ApiError> {
    let command = ApplicationCommand::SetNetworked { networked };
    change(scope, id, command, |a, _| a.require_platform_admin()).await
}

/// Sends `command` to an application the caller sees (another tenant's is not found),
/// if `rule` lets them.
async fn change(
    scope: &Scope<'_>,
    id: &str,
    command: ApplicationCommand,
    rule: impl FnOnce(&Actor, TenantId) -> Result<(), Forbidden>,
) -> Result<ApplicationRow, ApiError> {
    let id: ApplicationId = parse_id(id, "application")?;
    let row = visible(scope, id).await?;
    let tenant = TenantId::from_uuid(row.tenant_id);
    scope.caller.check(|a| rule(a, tenant))?;
    scope
        .svc
        .bus
        .application(id, command, &scope.metadata(tenant))
        .await?;
    visible(scope, id).await
}
