//! The audit log: who did what in a tenant, and when, read from the events themselves.

use medgrid_domain::ids::TenantId;
use medgrid_projections::audit::{self, AuditFilter, AuditRow};
use medgrid_projections::page::{Page, PageRequest};

use super::Scope;
use crate::ApiError;

/// The aggregate types an audit filter may name (the kinds of object acted on).
pub const SUBJECT_TYPES: [&str; 10] = [
    "Tenant",
    "Member",
    "Group",
    "Application",
    "Resource",
    "Job",
    "Space",
    "Import",
    "Ticket",
    "NotificationPreferences",
];

/// A tenant's events, newest first: its administrators (and platform admins) only.
pub async fn list(
    scope: &Scope<'_>,
    tenant: TenantId,
    filter: &AuditFilter,
    page: PageRequest,
) -> Result<Page<AuditRow>, ApiError> {
    scope.require_admin_of(tenant)?;
    if let (Some(from), Some(to)) = (filter.from, filter.to)
        && from > to
    {
        return Err(ApiError::invalid("from: is after to").with_field("from"));
    }
    Ok(audit::list(&scope.reader(), tenant.as_uuid(), filter, page).await?)
}
