//! The identity providers a tenant trusts, how its members come to exist, and invitations.

use std::collections::BTreeSet;

use medgrid_domain::CommandError;
use medgrid_domain::access::MemberCommand;
use medgrid_domain::actor::Role;
use medgrid_domain::ids::{MemberId, ProviderId, TenantId};
use medgrid_domain::names::{DisplayName, Email};
use medgrid_domain::tenancy::{
    ClaimMapping, IdentityProvider, IssuerUrl, Provisioning, TenantCommand, claims,
};
use medgrid_projections::Reader;
use medgrid_projections::members::MemberRow;
use medgrid_projections::tenants::{self, ProviderRow};

use super::{Scope, access, parse_id};
use crate::ApiError;

/// A provider as an administrator types it; unset claim paths take Keycloak's defaults.
pub struct ProviderInput {
    pub name: String,
    pub issuer: String,
    pub audience: String,
    pub client_id: Option<String>,
    /// For a confidential client: set it, `""` to remove it, None to keep the current one.
    pub client_secret: Option<String>,
    pub claims: Option<ClaimMapping>,
}

impl ProviderInput {
    /// The provider (its secret fingerprint still unset) and what to do with the secret.
    fn parse(self) -> Result<(IdentityProvider, SecretChange), ApiError> {
        let provider = IdentityProvider {
            name: self.name.parse::<DisplayName>()?,
            issuer: self.issuer.trim().parse::<IssuerUrl>()?,
            audience: self.audience.trim().to_owned(),
            client_id: self.client_id.map(|c| c.trim().to_owned()),
            client_secret_fingerprint: None,
            claims: self.claims.unwrap_or_default(),
        };
        provider.validate()?;
        let secret = match self.client_secret {
            None => SecretChange::Keep,
            Some(s) if s.is_empty() => SecretChange::Remove,
            Some(s) if s.len() > 1000 || s.chars().any(char::is_control) => {
                return Err(ApiError::invalid(
                    "clientSecret: at most 1000 characters, no control characters",
                ));
            }
            Some(s) => SecretChange::Set(s),
        };
        if !matches!(secret, SecretChange::Keep | SecretChange::Remove)
            && provider.client_id.is_none()
        {
            return Err(ApiError::invalid("clientSecret: needs a clientId"));
        }
        Ok((provider, secret))
    }
}

/// A provider whose address the outbound guard lets through (resolved now when the name
/// resolves; every fetch checks again): otherwise a tenant admin could make the server
/// probe its own ports, its network or a cloud's metadata service through discovery.
/// After the admin check, so that nobody else makes the server resolve names.
async fn check_reachable(scope: &Scope<'_>, provider: &IdentityProvider) -> Result<(), ApiError> {
    scope
        .svc
        .providers
        .check_ahead(&provider.issuer.discovery_url())
        .await
        .map_err(|r| ApiError::invalid(format!("issuer: {r}")))
}

/// Settings another tenant's registration holds (an issuer with its audience or its
/// client id, platform-wide) are refused before anything happens: the secret is sealed
/// before the event. The append decides in the end, so of two registrations at once one
/// still loses; a clash within the tenant is left to it (and to the tenant's own checks).
async fn refuse_taken(
    scope: &Scope<'_>,
    tenant: TenantId,
    id: ProviderId,
    provider: &IdentityProvider,
) -> Result<(), ApiError> {
    // read as the service: the claims of every tenant, of which the caller learns nothing
    let system = Reader::system(&scope.svc.pool);
    for claim in claims::provider_claims(id, provider) {
        let Some(holder) = tenants::claim_holder(&system, &claim).await? else {
            continue;
        };
        let ours = tenants::provider(&system, ProviderId::from_uuid(holder))
            .await?
            .is_some_and(|p| p.tenant_id == tenant.as_uuid());
        if !ours {
            return Err(CommandError::rejected(&claim.kind.taken()).into());
        }
    }
    Ok(())
}

/// What an add or update does with the client secret.
enum SecretChange {
    Keep,
    Remove,
    Set(String),
}

/// Applies a secret change for provider `id` (before the event that records it, so a
/// recorded fingerprint always has its sealed secret); returns the fingerprint to record.
async fn secret(
    scope: &Scope<'_>,
    tenant: TenantId,
    id: ProviderId,
    change: SecretChange,
    current: Option<String>,
) -> Result<Option<String>, ApiError> {
    let sealed = &scope.svc.sealed;
    match change {
        SecretChange::Keep => Ok(current),
        SecretChange::Remove => {
            sealed.remove(id.as_uuid()).await?;
            Ok(None)
        }
        SecretChange::Set(s) => Ok(Some(sealed.put(tenant, id.as_uuid(), &s).await?)),
    }
}

pub async fn add_provider(
    scope: &Scope<'_>,
    tenant: TenantId,
    input: ProviderInput,
) -> Result<ProviderRow, ApiError> {
    let (mut provider, change) = input.parse()?;
    scope.require_admin_of(tenant)?;
    check_reachable(scope, &provider).await?;
    let id = ProviderId::random();
    refuse_taken(scope, tenant, id, &provider).await?;
    provider.client_secret_fingerprint = secret(scope, tenant, id, change, None).await?;
    let command = TenantCommand::AddIdentityProvider {
        provider_id: id,
        provider,
    };
    scope
        .svc
        .bus
        .tenant(tenant, command, &scope.metadata(tenant))
        .await?;
    visible_provider(scope, id).await
}

pub async fn update_provider(
    scope: &Scope<'_>,
    id: &str,
    input: ProviderInput,
) -> Result<ProviderRow, ApiError> {
    let (mut provider, change) = input.parse()?;
    let row = administered_provider(scope, id).await?;
    check_reachable(scope, &provider).await?;
    let id = ProviderId::from_uuid(row.id);
    let tenant = TenantId::from_uuid(row.tenant_id);
    refuse_taken(scope, tenant, id, &provider).await?;
    provider.client_secret_fingerprint = secret(
        scope,
        tenant,
        id,
        change,
        row.client_secret_fingerprint.clone(),
    )
    .await?;
    let command = TenantCommand::UpdateIdentityProvider {
        provider_id: id,
        provider,
    };
    scope
        .svc
        .bus
        .tenant(tenant, command, &scope.metadata(tenant))
        .await?;
    visible_provider(scope, id).await
}

pub async fn remove_provider(scope: &Scope<'_>, id: &str) -> Result<ProviderRow, ApiError> {
    let row = administered_provider(scope, id).await?;
    let tenant = TenantId::from_uuid(row.tenant_id);
    let command = TenantCommand::RemoveIdentityProvider(ProviderId::from_uuid(row.id));
    scope
        .svc
        .bus
        .tenant(tenant, command, &scope.metadata(tenant))
        .await?;
    Ok(row)
}

pub async fn set_provisioning(
    scope: &Scope<'_>,
    tenant: TenantId,
    provisioning: Provisioning,
) -> Result<tenants::TenantRow, ApiError> {
    scope.require_admin_of(tenant)?;
    let command = TenantCommand::SetProvisioning(provisioning);
    scope
        .svc
        .bus
        .tenant(tenant, command, &scope.metadata(tenant))
        .await?;
    super::tenancy::visible(scope, tenant).await
}

/// A tenant's providers: its administrators (and platform admins) see them.
pub async fn providers(scope: &Scope<'_>, tenant: TenantId) -> Result<Vec<ProviderRow>, ApiError> {
    scope.require_admin_of(tenant)?;
    Ok(tenants::providers(&scope.reader(), tenant).await?)
}

/// A provider of a tenant the caller administers; any other is not found.
async fn administered_provider(scope: &Scope<'_>, id: &str) -> Result<ProviderRow, ApiError> {
    let row = visible_provider(scope, parse_id(id, "identity provider")?).await?;
    scope.require_admin_of(TenantId::from_uuid(row.tenant_id))?;
    Ok(row)
}

async fn visible_provider(scope: &Scope<'_>, id: ProviderId) -> Result<ProviderRow, ApiError> {
    let row = tenants::provider(&scope.reader(), id)
        .await?
        .ok_or_else(|| ApiError::not_found("identity provider"))?;
    scope
        .caller
        .check(|a| a.require_member_of(TenantId::from_uuid(row.tenant_id)))
        .map_err(|_| ApiError::not_found("identity provider"))?;
    Ok(row)
}

/// Invites someone by e-mail: they join on their first sign-in with one of the tenant's
/// providers that vouches for that (verified) address.
pub async fn invite(
    scope: &Scope<'_>,
    tenant: TenantId,
    email: &str,
    name: Option<&str>,
    roles: BTreeSet<Role>,
) -> Result<MemberRow, ApiError> {
    let email: Email = email.parse()?;
    let name: DisplayName = name.unwrap_or(email.as_ref()).parse()?;
    access::require_may_add(scope, tenant, &roles).await?;
    let id = MemberId::for_email(tenant, &email);
    let command = MemberCommand::Invite {
        tenant_id: tenant,
        email,
        name,
        roles,
    };
    scope
        .svc
        .bus
        .member(id, command, &scope.metadata(tenant))
        .await?;
    access::visible(scope, id).await
}
