//! The use cases: each parses its input, checks authorization in one place, then executes
//! commands. Shared by GraphQL and the `medgrid admin` CLI.

pub mod access;
pub mod auth;
pub mod groups;
pub mod tenancy;

use medgrid_domain::Caller;
use medgrid_domain::ids::TenantId;
use medgrid_domain::metadata::EventMetadata;

/// Metadata for events a caller causes in `tenant`.
pub fn metadata(caller: &Caller, tenant: TenantId, request_id: Option<String>) -> EventMetadata {
    EventMetadata::new(tenant, caller.causer(), request_id)
}

/// Parses a client-supplied id; a malformed id is simply not found.
pub fn parse_id<T: std::str::FromStr>(raw: &str, what: &str) -> Result<T, crate::ApiError> {
    raw.parse().map_err(|_| crate::ApiError::not_found(what))
}
