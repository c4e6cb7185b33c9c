//! Turning presented credentials into a caller.

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use medgrid_domain::Code;
use medgrid_domain::access::MemberCommand;
use medgrid_domain::actor::{Actor, GroupRole, Role};
use medgrid_domain::ids::{GroupId, MemberId, TenantId, TokenId};
use medgrid_domain::metadata::{Causer, EventMetadata};
use medgrid_domain::names::{Email, TenantSlug};
use medgrid_domain::ports::JOB_TOKEN_PREFIX;
use medgrid_projections::{groups, members, tenants};

use crate::{ApiError, Services};

/// Reads made before the caller is known (resolving their credentials): as the service.
fn system(svc: &Services) -> medgrid_projections::Reader {
    medgrid_projections::Reader::system(&svc.pool)
}

/// How long a token from password login lives.
pub const LOGIN_TOKEN_HOURS: i64 = 12;

/// Resolves a bearer token to an active member of an active tenant: a JWT of a trusted
/// identity provider, or a personal access token.
pub async fn resolve_bearer(svc: &Services, token: &str) -> Result<Actor, ApiError> {
    if let Some(issuer) = svc.identity.claimed_issuer(token) {
        return super::federation::resolve(svc, token, &issuer).await;
    }
    if token.starts_with(JOB_TOKEN_PREFIX) {
        return Err(ApiError::new(
            Code::Forbidden,
            "a job token opens only its job's files, not the API",
        ));
    }
    let hash = svc.secrets.token_hash(token);
    let holder = members::token_holder(&system(svc), &hash)
        .await?
        .ok_or_else(|| ApiError::unauthenticated("invalid token"))?;
    if holder.revoked_at.is_some() {
        return Err(ApiError::unauthenticated("token revoked"));
    }
    if holder.expires_at.is_some_and(|at| at <= Utc::now()) {
        return Err(ApiError::unauthenticated("token expired"));
    }
    if holder.tenant_status.as_deref() != Some("ACTIVE") {
        return Err(ApiError::new(Code::Forbidden, "this tenant is suspended"));
    }
    if holder.member_disabled {
        return Err(ApiError::new(Code::Forbidden, "this account is disabled"));
    }
    actor(
        svc,
        holder.tenant_id,
        holder.member_id,
        &holder.roles,
        &holder.idp_groups,
    )
    .await
}

/// The actor of an active member: roles granted in Medgrid or by their provider; groups
/// they were added to, and those their provider's group paths name (as plain members).
pub(crate) async fn actor(
    svc: &Services,
    tenant: uuid::Uuid,
    member: uuid::Uuid,
    roles: &[String],
    provider_groups: &[String],
) -> Result<Actor, ApiError> {
    let member_id = MemberId::from_uuid(member);
    let tenant_id = TenantId::from_uuid(tenant);
    let mut groups = groups::named_by_paths(&system(svc), tenant_id, provider_groups)
        .await?
        .into_iter()
        .map(|id| (GroupId::from_uuid(id), GroupRole::Member))
        .collect::<BTreeMap<_, _>>();
    for g in groups::memberships(&system(svc), member_id).await? {
        let role = if g.role == GroupRole::Manager.as_str() {
            GroupRole::Manager
        } else {
            GroupRole::Member
        };
        groups.insert(GroupId::from_uuid(g.group_id), role);
    }
    Ok(Actor {
        tenant_id,
        member_id,
        roles: parse_roles(roles),
        groups,
    })
}

pub fn parse_roles(roles: &[String]) -> std::collections::BTreeSet<Role> {
    roles
        .iter()
        .filter_map(|r| match r.as_str() {
            "TENANT_ADMIN" => Some(Role::TenantAdmin),
            "PLATFORM_ADMIN" => Some(Role::PlatformAdmin),
            _ => None,
        })
        .collect()
}

/// Local password login: checks the password and issues a short-lived token.
/// Every failure before the password check reads the same, and costs the same work (a
/// password check against a dummy hash), so accounts cannot be probed. Failures are
/// counted per account and per tenant (unknown accounts too); past the limits the answer
/// is RATE_LIMITED with how long to wait, before any password is checked.
pub async fn login(
    svc: &Services,
    tenant: &str,
    email: &str,
    password: &str,
    request_id: Option<String>,
) -> Result<(String, MemberId), ApiError> {
    let denied = || ApiError::unauthenticated("invalid tenant, e-mail or password");
    let Some((tenant, member_id)) = account(svc, tenant, email).await? else {
        svc.passwords.check(password, None).await?;
        return Err(denied());
    };
    let tenant_id = TenantId::from_uuid(tenant.id);
    throttle(svc, tenant_id, member_id).await?;
    let hash = members::password_hash(&system(svc), member_id).await?;
    if !svc.passwords.check(password, hash.as_deref()).await? {
        let window = svc.sign_in_limits.window;
        svc.sign_in_failures
            .failed(tenant_id, member_id, window)
            .await?;
        return Err(denied());
    }
    svc.sign_in_failures.forget(member_id).await?;
    if !tenant.is_active() {
        return Err(ApiError::new(Code::Forbidden, "this tenant is suspended"));
    }
    let token = open_session(svc, tenant_id, member_id, "password login", request_id).await?;
    Ok((token, member_id))
}

/// The tenant and the account (known or not) a sign-in names; `None` when the tenant or
/// the address cannot be one.
async fn account(
    svc: &Services,
    tenant: &str,
    email: &str,
) -> Result<Option<(tenants::TenantRow, MemberId)>, ApiError> {
    let (Ok(slug), Ok(email)) = (tenant.parse::<TenantSlug>(), email.parse::<Email>()) else {
        return Ok(None);
    };
    let Some(tenant) = tenants::by_slug(&system(svc), slug.as_ref()).await? else {
        return Ok(None);
    };
    let member_id = MemberId::for_email(TenantId::from_uuid(tenant.id), &email);
    Ok(Some((tenant, member_id)))
}

/// RATE_LIMITED when the account or its tenant has failed too often in the window.
async fn throttle(svc: &Services, tenant: TenantId, account: MemberId) -> Result<(), ApiError> {
    let (of_account, of_tenant) = svc.sign_in_failures.counted(tenant, account).await?;
    match svc.sign_in_limits.wait(of_account, of_tenant, Utc::now()) {
        None => Ok(()),
        Some(wait) => Err(ApiError::rate_limited(
            "too many failed sign-ins for this account or institution; try again later",
            wait,
        )),
    }
}

/// A bearer token for `member` that lives [`LOGIN_TOKEN_HOURS`]: what a sign-in gives
/// (password login, or a browser session). Returns the plaintext, shown once.
pub async fn open_session(
    svc: &Services,
    tenant_id: TenantId,
    member_id: MemberId,
    name: &str,
    request_id: Option<String>,
) -> Result<String, ApiError> {
    let minted = svc.secrets.mint_token();
    let now = Utc::now();
    let command = MemberCommand::IssueToken {
        token_id: TokenId::random(),
        name: name.parse()?,
        secret_hash: minted.hash,
        expires_at: Some(now + Duration::hours(LOGIN_TOKEN_HOURS)),
        now,
    };
    let meta = EventMetadata::new(tenant_id, Causer::Member(member_id), request_id);
    svc.bus.member(member_id, command, &meta).await?;
    Ok(minted.plaintext)
}

/// Ends the session of a bearer token (sign-out): the token is revoked.
pub async fn close_session(svc: &Services, token: &str) -> Result<(), ApiError> {
    let hash = svc.secrets.token_hash(token);
    let Some(holder) = members::token_holder(&system(svc), &hash).await? else {
        return Ok(());
    };
    if holder.revoked_at.is_some() {
        return Ok(());
    }
    let member_id = MemberId::from_uuid(holder.member_id);
    let meta = EventMetadata::new(
        TenantId::from_uuid(holder.tenant_id),
        Causer::Member(member_id),
        None,
    );
    let command = MemberCommand::RevokeToken(TokenId::from_uuid(holder.token_id));
    svc.bus.member(member_id, command, &meta).await?;
    Ok(())
}
