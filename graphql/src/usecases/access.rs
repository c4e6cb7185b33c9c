//! Member administration, credentials and tokens.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use medgrid_domain::Code;
use medgrid_domain::access::MemberCommand;
use medgrid_domain::actor::{Actor, Forbidden, Role, TargetMember};
use medgrid_domain::ids::{MemberId, TenantId, TokenId};
use medgrid_domain::names::{DisplayName, Email, Password};
use medgrid_projections::members::{self, MemberRow, TokenRow};
use medgrid_projections::page::{Page, PageRequest};
use medgrid_projections::tenants;

use super::{Scope, parse_id};
use crate::ApiError;

/// What `createMember` asks for.
pub struct NewMember<'a> {
    pub tenant_id: TenantId,
    pub email: &'a str,
    pub name: &'a str,
    pub password: Option<&'a str>,
    pub roles: BTreeSet<Role>,
}

pub async fn create(scope: &Scope<'_>, new: NewMember<'_>) -> Result<MemberRow, ApiError> {
    let email: Email = new.email.parse()?;
    let name: DisplayName = new.name.parse()?;
    let password: Option<Password> = new.password.map(str::parse).transpose()?;
    let tenant = new.tenant_id;
    require_may_add(scope, tenant, &new.roles).await?;
    let password_hash = match password {
        Some(p) => Some(scope.svc.passwords.hash(&p).await?),
        None => None,
    };
    let id = MemberId::for_email(tenant, &email);
    let command = MemberCommand::Create {
        tenant_id: tenant,
        email,
        name,
        roles: new.roles,
        password_hash,
    };
    scope
        .svc
        .bus
        .member(id, command, &scope.metadata(tenant))
        .await?;
    visible(scope, id).await
}

/// Adding a member with `roles` to `tenant` (creating or inviting): tenant admins of an
/// active tenant, and only platform admins give PLATFORM_ADMIN.
pub async fn require_may_add(
    scope: &Scope<'_>,
    tenant: TenantId,
    roles: &BTreeSet<Role>,
) -> Result<(), ApiError> {
    scope.require_admin_of(tenant)?;
    for role in roles {
        scope.caller.check(|a| a.require_may_grant(tenant, *role))?;
    }
    let row = tenants::by_id(&scope.reader(), tenant)
        .await?
        .ok_or_else(|| ApiError::not_found("tenant"))?;
    if !row.is_active() {
        return Err(ApiError::new(Code::Forbidden, "this tenant is suspended"));
    }
    Ok(())
}

/// A member the caller may see (same tenant, or platform admin); others are not found.
pub async fn visible(scope: &Scope<'_>, id: MemberId) -> Result<MemberRow, ApiError> {
    let row = members::by_id(&scope.reader(), id)
        .await?
        .ok_or_else(|| ApiError::not_found("member"))?;
    scope
        .caller
        .check(|a| a.require_member_of(TenantId::from_uuid(row.tenant_id)))
        .map_err(|_| ApiError::not_found("member"))?;
    Ok(row)
}

/// A tenant's members in the order they joined: its members see each other (to share
/// with and add to groups); another tenant is not found.
pub async fn list(
    scope: &Scope<'_>,
    tenant: TenantId,
    page: PageRequest,
) -> Result<Page<MemberRow>, ApiError> {
    scope.require_member_of(tenant)?;
    Ok(members::list(&scope.reader(), tenant, page).await?)
}

/// A member's personal access tokens: their owner and the tenant's admins see them.
pub async fn tokens(scope: &Scope<'_>, id: MemberId) -> Result<Vec<TokenRow>, ApiError> {
    let row = visible(scope, id).await?;
    if scope.caller.actor().is_some_and(|a| a.member_id != id) {
        let tenant = TenantId::from_uuid(row.tenant_id);
        scope.caller.check(|a| a.require_tenant_admin(tenant))?;
    }
    Ok(members::tokens(&scope.reader(), id).await?)
}

/// How the authorization rules see a member.
pub fn target(row: &MemberRow) -> TargetMember {
    TargetMember {
        tenant_id: TenantId::from_uuid(row.tenant_id),
        member_id: MemberId::from_uuid(row.id),
        roles: super::auth::parse_roles(&row.roles),
        federated_only: row.is_federated_only(),
    }
}

/// A member the caller may act on by `rule` (one of [`Actor::require_may_act_on`] and
/// its stricter forms): every use case that changes a member's password, access, roles,
/// tokens or sessions finds them here. Refusals come before any event is written.
async fn acted_on(
    scope: &Scope<'_>,
    id: MemberId,
    rule: fn(&Actor, &TargetMember) -> Result<(), Forbidden>,
) -> Result<MemberRow, ApiError> {
    let row = visible(scope, id).await?;
    let target = target(&row);
    scope.caller.check(|a| rule(a, &target))?;
    Ok(row)
}

/// Administrative changes to a member (roles, disable/enable): tenant admins only, and
/// only platform admins touch PLATFORM_ADMIN or anyone who holds it. Nobody disables or
/// demotes themselves, so a tenant cannot lose its last administrator by accident.
pub async fn administer(
    scope: &Scope<'_>,
    id: &str,
    command: MemberCommand,
) -> Result<MemberRow, ApiError> {
    let id: MemberId = parse_id(id, "member")?;
    let row = acted_on(scope, id, Actor::require_may_act_on).await?;
    let tenant = TenantId::from_uuid(row.tenant_id);
    scope.caller.check(|a| a.require_tenant_admin(tenant))?;
    match &command {
        MemberCommand::GrantRole(role) | MemberCommand::RevokeRole(role) => {
            scope.caller.check(|a| a.require_may_grant(tenant, *role))?;
        }
        MemberCommand::Disable | MemberCommand::Enable => {}
        _ => return Err(ApiError::invalid("not an administrative command")),
    }
    let is_self = scope.caller.actor().is_some_and(|a| a.member_id == id);
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
    scope
        .svc
        .bus
        .member(id, command, &scope.metadata(tenant))
        .await?;
    visible(scope, id).await
}

/// Sets a password: one's own, or a member's of the tenant for its admins who hold every
/// role that member holds (a federated-only member's for platform admins alone). Every
/// session and token of the member ends, the caller's own included when it is theirs.
pub async fn set_password(
    scope: &Scope<'_>,
    id: MemberId,
    password: &str,
) -> Result<MemberRow, ApiError> {
    let password: Password = password.parse()?;
    let row = acted_on(scope, id, Actor::require_may_set_password).await?;
    let tenant = TenantId::from_uuid(row.tenant_id);
    let password_hash = scope.svc.passwords.hash(&password).await?;
    let command = MemberCommand::SetPassword {
        password_hash,
        now: Utc::now(),
    };
    scope
        .svc
        .bus
        .member(id, command, &scope.metadata(tenant))
        .await?;
    visible(scope, id).await
}

/// Issues a personal access token for `id` (oneself; the operator for anyone). Returns
/// the plaintext, shown once.
pub async fn issue_token(
    scope: &Scope<'_>,
    id: MemberId,
    name: &str,
    expires_at: Option<DateTime<Utc>>,
) -> Result<(String, TokenRow), ApiError> {
    let name: DisplayName = name.parse()?;
    let row = acted_on(scope, id, Actor::require_may_act_on).await?;
    if scope.caller.actor().is_some_and(|a| a.member_id != id) {
        return Err(ApiError::new(
            Code::Forbidden,
            "tokens are issued only to their owner",
        ));
    }
    let minted = scope.svc.secrets.mint_token();
    let token_id = TokenId::random();
    let command = MemberCommand::IssueToken {
        token_id,
        name,
        secret_hash: minted.hash,
        expires_at,
        now: Utc::now(),
    };
    let tenant = TenantId::from_uuid(row.tenant_id);
    scope
        .svc
        .bus
        .member(id, command, &scope.metadata(tenant))
        .await?;
    let token = members::tokens(&scope.reader(), id)
        .await?
        .into_iter()
        .find(|t| t.id == token_id.as_uuid())
        .ok_or_else(|| ApiError::new(Code::Internal, "token not yet visible"))?;
    Ok((minted.plaintext, token))
}

/// Revokes a token: its owner, or an admin of the owner's tenant holding every role the
/// owner holds.
pub async fn revoke_token(scope: &Scope<'_>, token: &str) -> Result<TokenRow, ApiError> {
    let token: TokenId = parse_id(token, "token")?;
    let member = members::token_owner(&scope.reader(), token.as_uuid())
        .await?
        .map(MemberId::from_uuid)
        .ok_or_else(|| ApiError::not_found("token"))?;
    let row = acted_on(scope, member, Actor::require_may_act_on).await?;
    let tenant = TenantId::from_uuid(row.tenant_id);
    scope
        .svc
        .bus
        .member(
            member,
            MemberCommand::RevokeToken(token),
            &scope.metadata(tenant),
        )
        .await?;
    members::tokens(&scope.reader(), member)
        .await?
        .into_iter()
        .find(|t| t.id == token.as_uuid())
        .ok_or_else(|| ApiError::not_found("token"))
}
