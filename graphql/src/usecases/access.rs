//! Member administration, credentials and tokens.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use medgrid_domain::access::MemberCommand;
use medgrid_domain::actor::Role;
use medgrid_domain::ids::{MemberId, TenantId, TokenId};
use medgrid_domain::names::{DisplayName, Email, Password};
use medgrid_domain::{Caller, Code};
use medgrid_projections::members::{self, MemberRow, TokenRow};
use medgrid_projections::tenants;

use super::{metadata, parse_id};
use crate::{ApiError, Services};

/// What `createMember` asks for.
pub struct NewMember<'a> {
    pub tenant_id: TenantId,
    pub email: &'a str,
    pub name: &'a str,
    pub password: Option<&'a str>,
    pub roles: BTreeSet<Role>,
}

pub async fn create(
    svc: &Services,
    caller: &Caller,
    new: NewMember<'_>,
    request_id: Option<String>,
) -> Result<MemberRow, ApiError> {
    let email: Email = new.email.parse()?;
    let name: DisplayName = new.name.parse()?;
    let password: Option<Password> = new.password.map(str::parse).transpose()?;
    let tenant = new.tenant_id;
    caller
        .check(|a| a.require_member_of(tenant))
        .map_err(|_| ApiError::not_found("tenant"))?;
    caller.check(|a| a.require_tenant_admin(tenant))?;
    for role in &new.roles {
        caller.check(|a| a.require_may_grant(tenant, *role))?;
    }
    let row = tenants::by_id(&svc.pool, tenant)
        .await?
        .ok_or_else(|| ApiError::not_found("tenant"))?;
    if !row.is_active() {
        return Err(ApiError::new(Code::Forbidden, "this tenant is suspended"));
    }
    let password_hash = password
        .map(|p| svc.secrets.hash_password(&p))
        .transpose()?;
    let id = MemberId::for_email(tenant, &email);
    let command = MemberCommand::Create {
        tenant_id: tenant,
        email,
        name,
        roles: new.roles,
        password_hash,
    };
    svc.bus
        .member(id, command, &metadata(caller, tenant, request_id))
        .await?;
    visible(svc, caller, id).await
}

/// A member the caller may see (same tenant, or platform admin); others are not found.
pub async fn visible(svc: &Services, caller: &Caller, id: MemberId) -> Result<MemberRow, ApiError> {
    let row = members::by_id(&svc.pool, id)
        .await?
        .ok_or_else(|| ApiError::not_found("member"))?;
    caller
        .check(|a| a.require_member_of(TenantId::from_uuid(row.tenant_id)))
        .map_err(|_| ApiError::not_found("member"))?;
    Ok(row)
}

/// Administrative changes to a member (roles, disable/enable): tenant admins only, and
/// only platform admins touch PLATFORM_ADMIN. Nobody disables or demotes themselves, so
/// a tenant cannot lose its last administrator by accident.
pub async fn administer(
    svc: &Services,
    caller: &Caller,
    id: &str,
    command: MemberCommand,
    request_id: Option<String>,
) -> Result<MemberRow, ApiError> {
    let id: MemberId = parse_id(id, "member")?;
    let row = visible(svc, caller, id).await?;
    let tenant = TenantId::from_uuid(row.tenant_id);
    caller.check(|a| a.require_tenant_admin(tenant))?;
    match &command {
        MemberCommand::GrantRole(role) | MemberCommand::RevokeRole(role) => {
            caller.check(|a| a.require_may_grant(tenant, *role))?;
        }
        MemberCommand::Disable | MemberCommand::Enable => {}
        _ => return Err(ApiError::invalid("not an administrative command")),
    }
    let is_self = caller.actor().is_some_and(|a| a.member_id == id);
    if is_self
        && matches!(
            command,
            MemberCommand::Disable | MemberCommand::RevokeRole(_)
        )
    {
        return Err(ApiError::new(
            Code::Conflict,
            "you cannot disable yourself or revoke your own roles",
        ));
    }
    svc.bus
        .member(id, command, &metadata(caller, tenant, request_id))
        .await?;
    visible(svc, caller, id).await
}

/// Sets a password: one's own, or any member's of the tenant for its admins.
pub async fn set_password(
    svc: &Services,
    caller: &Caller,
    id: MemberId,
    password: &str,
    request_id: Option<String>,
) -> Result<MemberRow, ApiError> {
    let password: Password = password.parse()?;
    let row = visible(svc, caller, id).await?;
    let tenant = TenantId::from_uuid(row.tenant_id);
    let is_self = caller.actor().is_some_and(|a| a.member_id == id);
    if !is_self {
        caller.check(|a| a.require_tenant_admin(tenant))?;
    }
    let password_hash = svc.secrets.hash_password(&password)?;
    svc.bus
        .member(
            id,
            MemberCommand::SetPassword { password_hash },
            &metadata(caller, tenant, request_id),
        )
        .await?;
    visible(svc, caller, id).await
}

/// Issues a personal access token for `id` (oneself; the operator for anyone). Returns
/// the plaintext, shown once.
pub async fn issue_token(
    svc: &Services,
    caller: &Caller,
    id: MemberId,
    name: &str,
    expires_at: Option<DateTime<Utc>>,
    request_id: Option<String>,
) -> Result<(String, TokenRow), ApiError> {
    let name: DisplayName = name.parse()?;
    let row = visible(svc, caller, id).await?;
    if caller.actor().is_some_and(|a| a.member_id != id) {
        return Err(ApiError::new(
            Code::Forbidden,
            "tokens are issued only to their owner",
        ));
    }
    let minted = svc.secrets.mint_token();
    let token_id = TokenId::random();
    let command = MemberCommand::IssueToken {
        token_id,
        name,
        secret_hash: minted.hash,
        expires_at,
        now: Utc::now(),
    };
    let tenant = TenantId::from_uuid(row.tenant_id);
    svc.bus
        .member(id, command, &metadata(caller, tenant, request_id))
        .await?;
    let token = members::tokens(&svc.pool, id)
        .await?
        .into_iter()
        .find(|t| t.id == token_id.as_uuid())
        .ok_or_else(|| ApiError::new(Code::Internal, "token not yet visible"))?;
    Ok((minted.plaintext, token))
}

/// Revokes a token: its owner, or an admin of the owner's tenant.
pub async fn revoke_token(
    svc: &Services,
    caller: &Caller,
    token: &str,
    request_id: Option<String>,
) -> Result<TokenRow, ApiError> {
    let token: TokenId = parse_id(token, "token")?;
    let member = members::token_owner(&svc.pool, token.as_uuid())
        .await?
        .map(MemberId::from_uuid)
        .ok_or_else(|| ApiError::not_found("token"))?;
    let row = visible(svc, caller, member).await?;
    let tenant = TenantId::from_uuid(row.tenant_id);
    if caller.actor().is_some_and(|a| a.member_id != member) {
        caller.check(|a| a.require_tenant_admin(tenant))?;
    }
    svc.bus
        .member(
            member,
            MemberCommand::RevokeToken(token),
            &metadata(caller, tenant, request_id),
        )
        .await?;
    members::tokens(&svc.pool, member)
        .await?
        .into_iter()
        .find(|t| t.id == token.as_uuid())
        .ok_or_else(|| ApiError::not_found("token"))
}
