//! The use cases: each parses its input, checks authorization in one place, then executes
//! commands. Shared by GraphQL and the `medgrid admin` CLI.

pub mod access;
pub mod accounting;
pub mod audit;
pub mod auth;
pub mod catalog;
pub mod compute;
pub mod delegation;
pub mod federation;
pub mod groups;
pub mod identity;
pub mod imports;
pub mod jobs;
pub mod notifications;
pub mod passwords;
pub mod spaces;
pub mod tenancy;
pub mod tickets;

use medgrid_domain::Caller;
use medgrid_domain::ids::TenantId;
use medgrid_domain::metadata::EventMetadata;
use medgrid_projections::{Reader, Sees};

use crate::Services;

/// What every use case needs: the services, who is acting, and in which request.
pub struct Scope<'a> {
    pub svc: &'a Services,
    pub caller: Caller,
    pub request_id: Option<String>,
}

impl<'a> Scope<'a> {
    /// The operator at the console (`medgrid admin …`, first start).
    pub fn operator(svc: &'a Services) -> Self {
        Self {
            svc,
            caller: Caller::Operator,
            request_id: None,
        }
    }

    /// A member acting outside GraphQL (file transfers).
    pub fn member(svc: &'a Services, actor: medgrid_domain::Actor) -> Self {
        Self {
            svc,
            caller: Caller::Member(actor),
            request_id: None,
        }
    }

    /// Reading `tenant`: its members (and platform admins, the operator); another tenant
    /// is not found (its existence is not revealed).
    pub fn require_member_of(&self, tenant: TenantId) -> Result<(), crate::ApiError> {
        self.caller
            .check(|a| a.require_member_of(tenant))
            .map_err(|_| crate::ApiError::not_found("tenant"))
    }

    /// Administration of `tenant`: another tenant is not found, a non-administrator of
    /// this one is forbidden.
    pub fn require_admin_of(&self, tenant: TenantId) -> Result<(), crate::ApiError> {
        self.require_member_of(tenant)?;
        Ok(self.caller.check(|a| a.require_tenant_admin(tenant))?)
    }

    /// Reads as this caller: their tenant's rows only (every tenant's for platform admins
    /// and the operator), enforced by PostgreSQL's row-level security.
    pub fn reader(&self) -> Reader {
        let sees = match &self.caller {
            Caller::Member(actor) if !actor.is_platform_admin() => Sees::Tenant(actor.tenant_id),
            Caller::Member(_) | Caller::Operator => Sees::AllTenants,
        };
        Reader::new(&self.svc.pool, sees)
    }

    /// Metadata for the events this scope causes in `tenant`.
    pub fn metadata(&self, tenant: TenantId) -> EventMetadata {
        EventMetadata::new(tenant, self.caller.causer(), self.request_id.clone())
    }
}

/// Parses a client-supplied id; a malformed id is simply not found.
pub fn parse_id<T: std::str::FromStr>(raw: &str, what: &str) -> Result<T, crate::ApiError> {
    raw.parse().map_err(|_| crate::ApiError::not_found(what))
}

/// The idempotency of a creating request made under `key` (see
/// `medgrid_domain::idempotency`): the key parsed, and a digest of what it asks for.
pub(crate) fn idempotency(
    key: Option<&str>,
    request: &impl serde::Serialize,
) -> Result<Option<medgrid_domain::idempotency::Idempotency>, crate::ApiError> {
    use medgrid_domain::idempotency::{Idempotency, IdempotencyKey, RequestDigest};
    let Some(key) = key else {
        return Ok(None);
    };
    let key: IdempotencyKey = key
        .parse()
        .map_err(|e: medgrid_domain::names::InvalidValue| {
            crate::ApiError::from(e).with_field("idempotencyKey")
        })?;
    Ok(Some(Idempotency {
        key,
        request: RequestDigest::of(request),
    }))
}

/// A retry answers what the first request under its key made only within the key's
/// lifetime; later the key is spent (CONFLICT).
pub(crate) fn unspent(first: chrono::DateTime<chrono::Utc>) -> Result<(), crate::ApiError> {
    use medgrid_domain::idempotency::{KEY_LIFETIME, KEY_REUSED};
    let lifetime = chrono::Duration::from_std(KEY_LIFETIME).unwrap_or(chrono::Duration::MAX);
    if first + lifetime < chrono::Utc::now() {
        return Err(
            crate::ApiError::new(medgrid_domain::Code::Conflict, KEY_REUSED)
                .with_field("idempotencyKey"),
        );
    }
    Ok(())
}
