//! Sign-in with a tenant's identity provider: a verified JWT becomes a member, who is
//! provisioned on first sign-in (just in time, or by invitation) and whose provider roles
//! and groups are recorded, as events, whenever they change.
//!
//! Every refusal happens before any command: a rejected token leaves no event behind.

use medgrid_domain::access::MemberCommand;
use medgrid_domain::actor::Actor;
use medgrid_domain::ids::{MemberId, TenantId};
use medgrid_domain::metadata::{Causer, EventMetadata};
use medgrid_domain::ports::TokenRejected;
use medgrid_domain::tenancy::{ClaimError, IssuerUrl, MappedIdentity, Provisioning};
use medgrid_domain::{Code, CommandError};
use medgrid_projections::members::{self, MemberRow};
use medgrid_projections::tenants::{self, ProviderRow, TenantRow};
use serde_json::Value;

use crate::{ApiError, Services};

/// Reads made before the caller is known (resolving their credentials): as the service.
fn system(svc: &Services) -> medgrid_projections::Reader {
    medgrid_projections::Reader::system(&svc.pool)
}

fn unauthenticated(why: impl Into<String>) -> ApiError {
    ApiError::unauthenticated(why)
}

/// The actor behind a provider's JWT that names `claimed` as its issuer.
pub async fn resolve(svc: &Services, token: &str, claimed: &str) -> Result<Actor, ApiError> {
    let untrusted = || unauthenticated("the token's issuer is not trusted by any tenant");
    let issuer: IssuerUrl = claimed.parse().map_err(|_| untrusted())?;
    let providers = tenants::providers_by_issuer(&system(svc), issuer.as_ref()).await?;
    if providers.is_empty() {
        return Err(untrusted());
    }
    let audiences: Vec<String> = providers.iter().map(|p| p.audience.clone()).collect();
    let claims = svc
        .identity
        .verify(token, &issuer, &audiences)
        .await
        .map_err(|e| match e {
            TokenRejected::Invalid(_) => unauthenticated(e.to_string()),
            // the detail (addresses, errors) is for the logs, not the caller
            TokenRejected::Unreachable(detail) => {
                tracing::warn!(issuer = %issuer, %detail, "a provider's keys could not be fetched");
                unauthenticated(
                    "the identity provider's keys could not be fetched: try again later",
                )
            }
            // a setting to correct, not an outage: said as such (the address stays in the logs)
            TokenRejected::Refused(detail) => {
                tracing::warn!(issuer = %issuer, %detail, "a provider's keys are at a refused address");
                unauthenticated(
                    "the identity provider's keys are at an address Medgrid does not fetch from",
                )
            }
        })?;
    let provider = provider_for(&providers, &claims)?;
    let member = admit(svc, provider, &claims).await?;
    super::auth::actor(
        svc,
        member.tenant_id,
        member.id,
        &member.roles,
        &member.idp_groups,
    )
    .await
}

/// The member behind verified `claims` of `provider` (a bearer token's, or a browser
/// sign-in's ID token): found and updated, or provisioned.
pub async fn admit(
    svc: &Services,
    provider: &ProviderRow,
    claims: &Value,
) -> Result<MemberRow, ApiError> {
    let tenant = tenants::by_id(&system(svc), TenantId::from_uuid(provider.tenant_id))
        .await?
        .ok_or_else(|| unauthenticated("the token's issuer is not trusted by any tenant"))?;
    if !tenant.is_active() {
        return Err(ApiError::new(Code::Forbidden, "this tenant is suspended"));
    }
    // it collided with an older registration: it admits nobody
    if provider.disabled_reason.is_some() {
        return Err(unauthenticated(
            "the token's issuer is not trusted by any tenant",
        ));
    }
    let mapping = provider.provider().map_err(|e| {
        tracing::error!(provider = %provider.id, error = %e, "a stored provider does not parse");
        ApiError::new(Code::Internal, "internal error")
    })?;
    let identity = mapping
        .claims
        .map(claims, mapping.client(claims))
        .map_err(|e| match e {
            ClaimError::MissingSubject => unauthenticated(e.to_string()),
            ClaimError::MissingEmail => ApiError::new(Code::Forbidden, e.to_string()),
        })?;
    member(svc, &tenant, &mapping.issuer, identity).await
}

/// The one provider whose audience the token carries (a tenant door is an issuer and an
/// audience; two tenants may share a provider with different clients).
fn provider_for<'a>(
    providers: &'a [ProviderRow],
    claims: &Value,
) -> Result<&'a ProviderRow, ApiError> {
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let mut matching = providers
        .iter()
        .filter(|p| audiences.contains(&p.audience.as_str()));
    match (matching.next(), matching.next()) {
        (Some(provider), None) => Ok(provider),
        (None, _) => Err(unauthenticated("the token's audience is not trusted")),
        (Some(_), Some(_)) => Err(unauthenticated(
            "the token's audiences name several tenants: ask for a token for one client",
        )),
    }
}

/// The member signing in: found by their identity and updated, or provisioned.
async fn member(
    svc: &Services,
    tenant: &TenantRow,
    issuer: &IssuerUrl,
    identity: MappedIdentity,
) -> Result<MemberRow, ApiError> {
    let tenant_id = TenantId::from_uuid(tenant.id);
    if let Some(row) =
        members::by_identity(&system(svc), tenant_id, issuer.as_ref(), &identity.subject).await?
    {
        refuse_disabled(&row)?;
        if claims_changed(&row, &identity) {
            let id = MemberId::from_uuid(row.id);
            run(svc, tenant_id, id, MemberCommand::UpdateClaims(identity)).await?;
            return reread(svc, id).await;
        }
        return Ok(row);
    }
    let invited = MemberId::for_email(tenant_id, &identity.email);
    if identity.email_verified
        && let Some(row) = members::by_id(&system(svc), invited).await?
        && row.tenant_id == tenant.id
        && row.status == "INVITED"
    {
        refuse_disabled(&row)?;
        let command = MemberCommand::AcceptInvitation {
            issuer: issuer.to_string(),
            identity,
        };
        run(svc, tenant_id, invited, command).await?;
        return reread(svc, invited).await;
    }
    if tenant.provisioning != Provisioning::JustInTime.as_str() {
        return Err(ApiError::new(
            Code::Forbidden,
            "you have not been invited to this tenant: ask one of its administrators",
        ));
    }
    let id = MemberId::for_identity(tenant_id, issuer.as_ref(), &identity.subject);
    let command = MemberCommand::Join {
        tenant_id,
        issuer: issuer.to_string(),
        identity,
    };
    run(svc, tenant_id, id, command).await?;
    reread(svc, id).await
}

fn refuse_disabled(row: &MemberRow) -> Result<(), ApiError> {
    if row.disabled {
        Err(ApiError::new(Code::Forbidden, "this account is disabled"))
    } else {
        Ok(())
    }
}

fn claims_changed(row: &MemberRow, identity: &MappedIdentity) -> bool {
    let mut roles: Vec<&str> = identity.roles.iter().map(|r| r.as_str()).collect();
    roles.sort_unstable();
    let mut stored_roles: Vec<&str> = row.idp_roles.iter().map(String::as_str).collect();
    stored_roles.sort_unstable();
    let mut stored_groups: Vec<&String> = row.idp_groups.iter().collect();
    stored_groups.sort_unstable();
    row.email != identity.email.as_ref()
        || row.name != identity.name.as_ref()
        || stored_roles != roles
        || stored_groups != identity.groups.iter().collect::<Vec<_>>()
}

/// A command the member causes by signing in.
async fn run(
    svc: &Services,
    tenant: TenantId,
    id: MemberId,
    command: MemberCommand,
) -> Result<(), ApiError> {
    let meta = EventMetadata::new(tenant, Causer::Member(id), None);
    match svc.bus.member(id, command, &meta).await {
        // Two first requests at once: the other one recorded the same thing.
        Ok(()) | Err(CommandError::Conflict) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

async fn reread(svc: &Services, id: MemberId) -> Result<MemberRow, ApiError> {
    let row = members::by_id(&system(svc), id).await?.ok_or_else(|| {
        ApiError::new(
            Code::Internal,
            "your account is being set up: try again in a moment",
        )
    })?;
    refuse_disabled(&row)?;
    Ok(row)
}
