//! GraphQL object types over the read models. Every field that reaches further than the
//! row itself checks what the caller may see.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Enum, ID, Object, OutputType, SimpleObject};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use medgrid_domain::actor::{self, GroupRole};
use medgrid_domain::ids::{GroupId, MemberId, TenantId};
use medgrid_domain::{Caller, Code};
use medgrid_projections::groups::{GroupMemberRow, GroupRow};
use medgrid_projections::members::{MemberRow, TokenRow};
use medgrid_projections::page::{Page, PageRequest};
use medgrid_projections::tenants::TenantRow;

use crate::usecases::{Scope, access, groups, tenancy};
use crate::{ApiError, RequestContext, Services};

pub fn services<'a>(ctx: &Context<'a>) -> &'a Services {
    ctx.data_unchecked::<Services>()
}

pub fn request(ctx: &Context<'_>) -> RequestContext {
    ctx.data_opt::<RequestContext>()
        .cloned()
        .unwrap_or_else(|| RequestContext::anonymous(None))
}

/// The use-case scope of this request: its services, the authenticated caller (or the
/// reason there is none), its request id.
pub fn scope<'a>(ctx: &Context<'a>) -> Result<Scope<'a>, ApiError> {
    let request = request(ctx);
    Ok(Scope {
        svc: services(ctx),
        caller: Caller::Member(request.caller?),
        request_id: request.request_id,
    })
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum Role {
    TenantAdmin,
    PlatformAdmin,
}

impl From<Role> for actor::Role {
    fn from(r: Role) -> Self {
        match r {
            Role::TenantAdmin => Self::TenantAdmin,
            Role::PlatformAdmin => Self::PlatformAdmin,
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "GroupRole")]
pub enum GroupRoleName {
    Manager,
    Member,
}

impl From<GroupRoleName> for GroupRole {
    fn from(r: GroupRoleName) -> Self {
        match r {
            GroupRoleName::Manager => Self::Manager,
            GroupRoleName::Member => Self::Member,
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum TenantStatus {
    Active,
    Suspended,
}

pub struct Tenant(pub TenantRow);

#[Object]
impl Tenant {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn slug(&self) -> &str {
        &self.0.slug
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn status(&self) -> TenantStatus {
        if self.0.is_active() {
            TenantStatus::Active
        } else {
            TenantStatus::Suspended
        }
    }
    async fn suspended_reason(&self) -> Option<&str> {
        self.0.suspended_reason.as_deref()
    }
    /// How people from its identity providers become members.
    async fn provisioning(&self) -> crate::identity_types::ProvisioningMode {
        crate::identity_types::ProvisioningMode::of(&self.0.provisioning)
    }
    /// The OpenID Connect providers it trusts (its administrators only).
    async fn identity_providers(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<crate::identity_types::IdentityProvider>> {
        let scope = scope(ctx)?;
        let rows =
            crate::usecases::identity::providers(&scope, TenantId::from_uuid(self.0.id)).await?;
        Ok(rows
            .into_iter()
            .map(crate::identity_types::IdentityProvider)
            .collect())
    }
    /// Bytes all its spaces may hold together; None: no limit.
    async fn storage_quota(&self) -> Option<f64> {
        #[allow(clippy::cast_precision_loss)]
        self.0.storage_quota.map(|b| b as f64)
    }
    /// Core hours its jobs may use per calendar month (UTC); None: no limit.
    async fn core_hour_budget(&self) -> Option<f64> {
        self.0.core_budget.map(hours)
    }
    /// Core hours its jobs used this calendar month (attempts that ended).
    async fn core_hours_used_this_month(&self, ctx: &Context<'_>) -> async_graphql::Result<f64> {
        let scope = scope(ctx)?;
        let used =
            medgrid_projections::accounting::used_this_month(&scope.reader(), self.0.id, None)
                .await
                .map_err(ApiError::from)?;
        Ok(hours(used))
    }
    /// Bytes all its spaces hold (trash included).
    async fn storage_used(&self, ctx: &Context<'_>) -> async_graphql::Result<f64> {
        let scope = scope(ctx)?;
        let used = medgrid_projections::spaces::tenant_used(&scope.reader(), self.0.id).await?;
        #[allow(clippy::cast_precision_loss)]
        Ok(used as f64)
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum MemberStatus {
    Active,
    Invited,
}

pub struct Member(pub MemberRow);

impl Member {
    fn id(&self) -> MemberId {
        MemberId::from_uuid(self.0.id)
    }
    fn tenant_id(&self) -> TenantId {
        TenantId::from_uuid(self.0.tenant_id)
    }
}

#[Object]
impl Member {
    #[graphql(name = "id")]
    async fn gql_id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn email(&self) -> &str {
        &self.0.email
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn roles(&self) -> Vec<Role> {
        crate::usecases::auth::parse_roles(&self.0.roles)
            .into_iter()
            .map(|r| match r {
                actor::Role::TenantAdmin => Role::TenantAdmin,
                actor::Role::PlatformAdmin => Role::PlatformAdmin,
            })
            .collect()
    }
    async fn disabled(&self) -> bool {
        self.0.disabled
    }
    /// ACTIVE, or INVITED until their first sign-in.
    async fn status(&self) -> MemberStatus {
        if self.0.status == "INVITED" {
            MemberStatus::Invited
        } else {
            MemberStatus::Active
        }
    }
    /// The identity provider they sign in with (none for local accounts).
    async fn issuer(&self) -> Option<&str> {
        self.0.issuer.as_deref()
    }
    /// Their subject at that provider.
    async fn subject(&self) -> Option<&str> {
        self.0.subject.as_deref()
    }
    /// Group paths their provider gave at the latest sign-in.
    async fn provider_groups(&self) -> &[String] {
        &self.0.idp_groups
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn tenant(&self, ctx: &Context<'_>) -> async_graphql::Result<Tenant> {
        let scope = scope(ctx)?;
        Ok(Tenant(tenancy::visible(&scope, self.tenant_id()).await?))
    }
    /// The groups of this member that the caller may see.
    async fn groups(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<GroupMembership>> {
        let scope = scope(ctx)?;
        let found = groups::memberships_of(&scope, self.id()).await?;
        Ok(found.into_iter().map(|(m, _)| GroupMembership(m)).collect())
    }
    /// Personal access tokens: visible to their owner and the tenant's admins.
    async fn tokens(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<AccessToken>> {
        let rows = access::tokens(&scope(ctx)?, self.id()).await?;
        Ok(rows.into_iter().map(AccessToken::from).collect())
    }
}

/// Seconds as hours, for people.
#[allow(clippy::cast_precision_loss)]
fn hours(seconds: i64) -> f64 {
    seconds as f64 / 3600.0
}

pub struct Group(pub GroupRow);

#[Object]
impl Group {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// Core hours its jobs may use per calendar month (UTC); None: no limit.
    async fn core_hour_budget(&self) -> Option<f64> {
        self.0.core_budget.map(hours)
    }
    /// Core hours its jobs used this calendar month (attempts that ended).
    async fn core_hours_used_this_month(&self, ctx: &Context<'_>) -> async_graphql::Result<f64> {
        let used = medgrid_projections::accounting::used_this_month(
            &scope(ctx)?.reader(),
            self.0.tenant_id,
            Some(self.0.id),
        )
        .await
        .map_err(ApiError::from)?;
        Ok(hours(used))
    }
    async fn members(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<GroupMembership>> {
        let found = groups::members(&scope(ctx)?, GroupId::from_uuid(self.0.id)).await?;
        Ok(found.into_iter().map(GroupMembership).collect())
    }
}

pub struct GroupMembership(pub GroupMemberRow);

#[Object]
impl GroupMembership {
    async fn group(&self, ctx: &Context<'_>) -> async_graphql::Result<Group> {
        let scope = scope(ctx)?;
        let id = GroupId::from_uuid(self.0.group_id);
        Ok(Group(groups::visible(&scope, id).await?))
    }
    async fn member(&self, ctx: &Context<'_>) -> async_graphql::Result<Member> {
        let scope = scope(ctx)?;
        let id = MemberId::from_uuid(self.0.member_id);
        Ok(Member(access::visible(&scope, id).await?))
    }
    async fn role(&self) -> GroupRoleName {
        if self.0.role == GroupRole::Manager.as_str() {
            GroupRoleName::Manager
        } else {
            GroupRoleName::Member
        }
    }
    async fn since(&self) -> DateTime<Utc> {
        self.0.since
    }
}

#[derive(SimpleObject)]
pub struct AccessToken {
    id: ID,
    name: String,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl From<TokenRow> for AccessToken {
    fn from(t: TokenRow) -> Self {
        Self {
            id: ID(t.id.to_string()),
            name: t.name,
            created_at: t.created_at,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
        }
    }
}

/// Pages are at most this long.
pub const MAX_PAGE: i32 = 100;
const DEFAULT_PAGE: i32 = 20;

pub fn page_request(first: Option<i32>, after: Option<String>) -> Result<PageRequest, ApiError> {
    let first = first.unwrap_or(DEFAULT_PAGE);
    if !(0..=MAX_PAGE).contains(&first) {
        return Err(ApiError::invalid(format!(
            "first must be between 0 and {MAX_PAGE}"
        )));
    }
    let after = after
        .map(|c| {
            decode_cursor(&c).ok_or_else(|| ApiError::invalid("after: not a cursor from this API"))
        })
        .transpose()?;
    Ok(PageRequest {
        first: i64::from(first),
        after,
    })
}

fn encode_cursor(position: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("p{position}"))
}

fn decode_cursor(cursor: &str) -> Option<i64> {
    let raw = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    std::str::from_utf8(&raw)
        .ok()?
        .strip_prefix('p')?
        .parse()
        .ok()
}

/// A Relay connection over one page of rows keyed by their position.
pub fn connection<R, N: OutputType>(
    page: Page<R>,
    request: PageRequest,
    position: impl Fn(&R) -> i64,
    node: impl Fn(R) -> N,
) -> Connection<String, N> {
    let mut conn = Connection::new(request.after.is_some(), page.has_next);
    conn.edges = page
        .rows
        .into_iter()
        .map(|row| Edge::new(encode_cursor(position(&row)), node(row)))
        .collect();
    conn
}

pub fn forbidden(message: &str) -> ApiError {
    ApiError::new(Code::Forbidden, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        assert_eq!(decode_cursor(&encode_cursor(42)), Some(42));
        assert_eq!(decode_cursor("!!"), None);
        assert_eq!(decode_cursor(&URL_SAFE_NO_PAD.encode("x1")), None);
        assert!(page_request(Some(101), None).is_err());
        assert!(page_request(Some(-1), None).is_err());
        assert!(page_request(None, Some("zz".into())).is_err());
    }
}
