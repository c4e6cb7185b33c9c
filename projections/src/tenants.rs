//! Read models `tenants` (one row per institution) and `identity_providers` (the
//! providers each one trusts).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use medgrid_domain::ids::{ProviderId, TenantId};
use medgrid_domain::names::InvalidValue;
use medgrid_domain::tenancy::claims::Claim;
use medgrid_domain::tenancy::{ClaimMapping, IdentityProvider, TenantEvent};
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use crate::event::{DomainEvent, StoredEvent};
use crate::page::{Page, PageRequest};
use crate::reader::{Read, Reader};
use crate::runner::{EventByEvent, ProjectionError};

pub struct Tenants;

#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct TenantRow {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub status: String,
    pub suspended_reason: Option<String>,
    pub provisioning: String,
    /// Bytes all the tenant's spaces may hold together.
    pub storage_quota: Option<i64>,
    /// Core seconds its jobs may use per calendar month.
    pub core_budget: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub position: i64,
}

impl TenantRow {
    pub fn is_active(&self) -> bool {
        self.status == "ACTIVE"
    }
}

#[async_trait]
impl EventByEvent for Tenants {
    fn name(&self) -> &'static str {
        "tenants"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["tenants", "identity_providers"]
    }

    fn consumes(&self) -> &'static [&'static str] {
        &["Tenant"]
    }

    async fn apply_one(
        &self,
        db: &mut PgConnection,
        e: &StoredEvent,
    ) -> Result<(), ProjectionError> {
        let DomainEvent::Tenant(event) = &e.event else {
            return Ok(());
        };
        let id = e.aggregate_uuid()?;
        let at = e.recorded_at;
        let q = match event {
            TenantEvent::TenantCreated { slug, name } => sqlx::query(
                "INSERT INTO tenants (id, slug, name, status, created_at, updated_at, position)
                 VALUES ($1, $2, $3, 'ACTIVE', $4, $4, $5)",
            )
            .bind(id)
            .bind(slug.as_ref())
            .bind(name.as_ref())
            .bind(at)
            .bind(e.position.global_position),
            TenantEvent::TenantRenamed { name } => {
                sqlx::query("UPDATE tenants SET name = $2, updated_at = $3 WHERE id = $1")
                    .bind(id)
                    .bind(name.as_ref())
                    .bind(at)
            }
            TenantEvent::TenantSuspended { reason } => sqlx::query(
                "UPDATE tenants SET status = 'SUSPENDED', suspended_reason = $2, updated_at = $3
                  WHERE id = $1",
            )
            .bind(id)
            .bind(reason)
            .bind(at),
            TenantEvent::TenantReactivated => sqlx::query(
                "UPDATE tenants SET status = 'ACTIVE', suspended_reason = NULL, updated_at = $2
                  WHERE id = $1",
            )
            .bind(id)
            .bind(at),
            TenantEvent::ProvisioningSet { provisioning } => sqlx::query(
                "UPDATE tenants SET provisioning = $2, updated_at = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(provisioning.as_str())
            .bind(at),
            TenantEvent::StorageQuotaSet { bytes } => sqlx::query(
                "UPDATE tenants SET storage_quota = $2, updated_at = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(bytes.map(|b| i64::try_from(b).unwrap_or(i64::MAX)))
            .bind(at),
            TenantEvent::CoreBudgetSet {
                core_seconds_per_month,
            } => sqlx::query("UPDATE tenants SET core_budget = $2, updated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(core_seconds_per_month.map(|s| i64::try_from(s).unwrap_or(i64::MAX)))
                .bind(at),
            TenantEvent::IdentityProviderAdded {
                provider_id,
                provider,
            }
            | TenantEvent::IdentityProviderUpdated {
                provider_id,
                provider,
            } => sqlx::query(
                "INSERT INTO identity_providers
                        (id, tenant_id, name, issuer, audience, client_id, claims, created_at, updated_at,
                         position, client_secret_fingerprint)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10)
                 ON CONFLICT (id) DO UPDATE SET name = $3, issuer = $4, audience = $5,
                        client_id = $6, claims = $7, updated_at = $8, client_secret_fingerprint = $10,
                        disabled_reason = NULL",
            )
            .bind(provider_id.as_uuid())
            .bind(id)
            .bind(provider.name.as_ref())
            .bind(provider.issuer.as_ref())
            .bind(&provider.audience)
            .bind(&provider.client_id)
            .bind(sqlx::types::Json(&provider.claims))
            .bind(at)
            .bind(e.position.global_position)
            .bind(&provider.client_secret_fingerprint),
            TenantEvent::IdentityProviderRemoved { provider_id } => {
                sqlx::query("DELETE FROM identity_providers WHERE id = $1")
                    .bind(provider_id.as_uuid())
            }
            TenantEvent::IdentityProviderDisabled {
                provider_id,
                reason,
            } => sqlx::query(
                "UPDATE identity_providers SET disabled_reason = $2, updated_at = $3 WHERE id = $1",
            )
            .bind(provider_id.as_uuid())
            .bind(reason)
            .bind(at),
        };
        q.execute(db).await?;
        Ok(())
    }
}

const COLUMNS: &str =
    "id, slug, name, status, suspended_reason, provisioning, storage_quota, core_budget, created_at, updated_at,
     position";

pub async fn by_id(db: &Reader, id: TenantId) -> Result<Option<TenantRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM tenants WHERE id = $1"))
        .bind(id.as_uuid())
        .optional(db)
        .await
}

pub async fn by_slug(db: &Reader, slug: &str) -> Result<Option<TenantRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM tenants WHERE slug = $1"))
        .bind(slug)
        .optional(db)
        .await
}

pub async fn list(db: &Reader, page: PageRequest) -> Result<Page<TenantRow>, sqlx::Error> {
    let rows = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM tenants WHERE position > $1 ORDER BY position LIMIT $2"
    ))
    .bind(page.after_position())
    .bind(page.limit())
    .all(db)
    .await?;
    Ok(Page::from_fetched(rows, page.first))
}

/// A trusted identity provider, as stored.
#[derive(Debug, Clone, FromRow)]
pub struct ProviderRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub issuer: String,
    pub audience: String,
    pub client_id: Option<String>,
    pub client_secret_fingerprint: Option<String>,
    pub claims: sqlx::types::Json<ClaimMapping>,
    /// Why it admits nobody (it collided with an older registration); None: it does.
    pub disabled_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ProviderRow {
    /// The provider in domain terms (rows come from validated events).
    pub fn provider(&self) -> Result<IdentityProvider, InvalidValue> {
        Ok(IdentityProvider {
            name: self.name.parse()?,
            issuer: self.issuer.parse()?,
            audience: self.audience.clone(),
            client_id: self.client_id.clone(),
            client_secret_fingerprint: self.client_secret_fingerprint.clone(),
            claims: self.claims.0.clone(),
        })
    }
}

const PROVIDER_COLUMNS: &str = "id, tenant_id, name, issuer, audience, client_id,
     client_secret_fingerprint, claims, disabled_reason, created_at, updated_at";

pub async fn providers(db: &Reader, tenant: TenantId) -> Result<Vec<ProviderRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {PROVIDER_COLUMNS} FROM identity_providers WHERE tenant_id = $1 ORDER BY position"
    ))
    .bind(tenant.as_uuid())
    .all(db)
    .await
}

pub async fn provider(db: &Reader, id: ProviderId) -> Result<Option<ProviderRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {PROVIDER_COLUMNS} FROM identity_providers WHERE id = $1"
    ))
    .bind(id.as_uuid())
    .optional(db)
    .await
}

/// Every tenant's providers with this issuer (a token names its issuer) that admit
/// people: a disabled one matches no token.
pub async fn providers_by_issuer(
    db: &Reader,
    issuer: &str,
) -> Result<Vec<ProviderRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {PROVIDER_COLUMNS} FROM identity_providers
          WHERE issuer = $1 AND disabled_reason IS NULL ORDER BY position"
    ))
    .bind(issuer)
    .all(db)
    .await
}

/// Who holds `claim` (`unique_claims`, written with the tenant events that take them;
/// see `medgrid_domain::tenancy::claims`), if anyone. Read as the service: callers never
/// read other tenants' claims, they only learn one is taken.
pub async fn claim_holder(db: &Reader, claim: &Claim) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT owner FROM unique_claims WHERE kind = $1 AND key = $2")
        .bind(claim.kind.as_str())
        .bind(&claim.key)
        .optional(db)
        .await
}

/// A provider people can pick on the sign-in page: browser sign-in needs a client id,
/// the provider must not be disabled, and its tenant must be active.
#[derive(Debug, Clone, FromRow)]
pub struct SignInChoice {
    pub provider_id: Uuid,
    pub provider_name: String,
    pub tenant_name: String,
}

pub async fn sign_in_choices(db: &Reader) -> Result<Vec<SignInChoice>, sqlx::Error> {
    sqlx::query_as(
        "SELECT p.id AS provider_id, p.name AS provider_name, t.name AS tenant_name
           FROM identity_providers p JOIN tenants t ON t.id = p.tenant_id
          WHERE p.client_id IS NOT NULL AND p.disabled_reason IS NULL AND t.status = 'ACTIVE'
          ORDER BY t.name, p.name",
    )
    .all(db)
    .await
}
