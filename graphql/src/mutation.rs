use std::collections::BTreeSet;

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use medgrid_domain::access::MemberCommand;
use medgrid_domain::ids::{MemberId, TenantId};
use medgrid_domain::tenancy::TenantCommand;

use crate::ApiError;
use crate::types::{
    AccessToken, Group, GroupRoleName, Member, Role, Tenant, caller, request_id, services,
};
use crate::usecases::{access, auth, groups, parse_id, tenancy};

pub struct Mutation;

#[derive(InputObject)]
pub struct CreateTenantInput {
    /// 2 to 40 characters of a-z, 0-9 and '-', starting with a letter; never changes.
    slug: String,
    name: String,
}

#[derive(InputObject)]
pub struct CreateMemberInput {
    email: String,
    name: String,
    /// For a local account; omit for members who sign in through their institution.
    password: Option<String>,
    #[graphql(default)]
    roles: Vec<Role>,
    /// Platform administrators may create members in any tenant; others in their own.
    tenant_id: Option<ID>,
}

#[derive(SimpleObject)]
pub struct LoginPayload {
    /// Bearer token for the `Authorization` header; valid 12 hours.
    token: String,
    member: Member,
}

#[derive(SimpleObject)]
pub struct IssuedToken {
    /// Shown once: only a hash of it is kept.
    token: String,
    access_token: AccessToken,
}

fn own_tenant(ctx: &Context<'_>, tenant_id: Option<ID>) -> Result<TenantId, ApiError> {
    match tenant_id {
        Some(id) => parse_id(&id, "tenant"),
        None => caller(ctx)?
            .actor()
            .map(|a| a.tenant_id)
            .ok_or_else(|| ApiError::unauthenticated("authentication required")),
    }
}

#[Object]
impl Mutation {
    /// Signs in with a local account; returns a bearer token.
    async fn login(
        &self,
        ctx: &Context<'_>,
        tenant: String,
        email: String,
        password: String,
    ) -> async_graphql::Result<LoginPayload> {
        let svc = services(ctx);
        let (token, member_id) =
            auth::login(svc, &tenant, &email, &password, request_id(ctx)).await?;
        let row = medgrid_projections::members::by_id(&svc.pool, member_id)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(|| ApiError::not_found("member"))?;
        Ok(LoginPayload {
            token,
            member: Member(row),
        })
    }

    async fn create_tenant(
        &self,
        ctx: &Context<'_>,
        input: CreateTenantInput,
    ) -> async_graphql::Result<Tenant> {
        let caller = caller(ctx)?;
        let row = tenancy::create(
            services(ctx),
            &caller,
            &input.slug,
            &input.name,
            request_id(ctx),
        )
        .await?;
        Ok(Tenant(row))
    }

    async fn rename_tenant(
        &self,
        ctx: &Context<'_>,
        id: ID,
        name: String,
    ) -> async_graphql::Result<Tenant> {
        let caller = caller(ctx)?;
        let name = name.parse().map_err(ApiError::from)?;
        let row = tenancy::change(
            services(ctx),
            &caller,
            &id,
            TenantCommand::Rename { name },
            request_id(ctx),
        )
        .await?;
        Ok(Tenant(row))
    }

    /// Suspends a tenant: none of its members can do anything until it is reactivated.
    async fn suspend_tenant(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: String,
    ) -> async_graphql::Result<Tenant> {
        let caller = caller(ctx)?;
        let row = tenancy::change(
            services(ctx),
            &caller,
            &id,
            TenantCommand::Suspend { reason },
            request_id(ctx),
        )
        .await?;
        Ok(Tenant(row))
    }

    async fn reactivate_tenant(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Tenant> {
        let caller = caller(ctx)?;
        let row = tenancy::change(
            services(ctx),
            &caller,
            &id,
            TenantCommand::Reactivate,
            request_id(ctx),
        )
        .await?;
        Ok(Tenant(row))
    }

    async fn create_member(
        &self,
        ctx: &Context<'_>,
        input: CreateMemberInput,
    ) -> async_graphql::Result<Member> {
        let caller = caller(ctx)?;
        let new = access::NewMember {
            tenant_id: own_tenant(ctx, input.tenant_id)?,
            email: &input.email,
            name: &input.name,
            password: input.password.as_deref(),
            roles: input
                .roles
                .into_iter()
                .map(Into::into)
                .collect::<BTreeSet<_>>(),
        };
        Ok(Member(
            access::create(services(ctx), &caller, new, request_id(ctx)).await?,
        ))
    }

    async fn grant_role(
        &self,
        ctx: &Context<'_>,
        member_id: ID,
        role: Role,
    ) -> async_graphql::Result<Member> {
        let caller = caller(ctx)?;
        let cmd = MemberCommand::GrantRole(role.into());
        Ok(Member(
            access::administer(services(ctx), &caller, &member_id, cmd, request_id(ctx)).await?,
        ))
    }

    async fn revoke_role(
        &self,
        ctx: &Context<'_>,
        member_id: ID,
        role: Role,
    ) -> async_graphql::Result<Member> {
        let caller = caller(ctx)?;
        let cmd = MemberCommand::RevokeRole(role.into());
        Ok(Member(
            access::administer(services(ctx), &caller, &member_id, cmd, request_id(ctx)).await?,
        ))
    }

    /// Disables a member: their tokens stop working at once.
    async fn disable_member(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Member> {
        let caller = caller(ctx)?;
        Ok(Member(
            access::administer(
                services(ctx),
                &caller,
                &id,
                MemberCommand::Disable,
                request_id(ctx),
            )
            .await?,
        ))
    }

    async fn enable_member(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Member> {
        let caller = caller(ctx)?;
        Ok(Member(
            access::administer(
                services(ctx),
                &caller,
                &id,
                MemberCommand::Enable,
                request_id(ctx),
            )
            .await?,
        ))
    }

    /// Sets a password: one's own (no memberId), or a member's of one's tenant for admins.
    async fn set_password(
        &self,
        ctx: &Context<'_>,
        member_id: Option<ID>,
        password: String,
    ) -> async_graphql::Result<Member> {
        let caller = caller(ctx)?;
        let id: MemberId = match member_id {
            Some(id) => parse_id(&id, "member")?,
            None => caller
                .actor()
                .map(|a| a.member_id)
                .ok_or_else(|| ApiError::unauthenticated("authentication required"))?,
        };
        Ok(Member(
            access::set_password(services(ctx), &caller, id, &password, request_id(ctx)).await?,
        ))
    }

    /// Issues a personal access token for the caller.
    async fn issue_token(
        &self,
        ctx: &Context<'_>,
        name: String,
        expires_at: Option<DateTime<Utc>>,
    ) -> async_graphql::Result<IssuedToken> {
        let caller = caller(ctx)?;
        let id = caller
            .actor()
            .map(|a| a.member_id)
            .ok_or_else(|| ApiError::unauthenticated("authentication required"))?;
        let (token, row) = access::issue_token(
            services(ctx),
            &caller,
            id,
            &name,
            expires_at,
            request_id(ctx),
        )
        .await?;
        Ok(IssuedToken {
            token,
            access_token: row.into(),
        })
    }

    async fn revoke_token(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<AccessToken> {
        let caller = caller(ctx)?;
        Ok(
            access::revoke_token(services(ctx), &caller, &id, request_id(ctx))
                .await?
                .into(),
        )
    }

    async fn create_group(
        &self,
        ctx: &Context<'_>,
        name: String,
        tenant_id: Option<ID>,
    ) -> async_graphql::Result<Group> {
        let caller = caller(ctx)?;
        let tenant = own_tenant(ctx, tenant_id)?;
        Ok(Group(
            groups::create(services(ctx), &caller, tenant, &name, request_id(ctx)).await?,
        ))
    }

    async fn rename_group(
        &self,
        ctx: &Context<'_>,
        id: ID,
        name: String,
    ) -> async_graphql::Result<Group> {
        let caller = caller(ctx)?;
        Ok(Group(
            groups::rename(services(ctx), &caller, &id, &name, request_id(ctx)).await?,
        ))
    }

    /// Adds a member to a group, or changes their role in it.
    async fn add_group_member(
        &self,
        ctx: &Context<'_>,
        group_id: ID,
        member_id: ID,
        #[graphql(default_with = "GroupRoleName::Member")] role: GroupRoleName,
    ) -> async_graphql::Result<Group> {
        let caller = caller(ctx)?;
        let row = groups::set_membership(
            services(ctx),
            &caller,
            &group_id,
            &member_id,
            Some(role.into()),
            request_id(ctx),
        )
        .await?;
        Ok(Group(row))
    }

    async fn remove_group_member(
        &self,
        ctx: &Context<'_>,
        group_id: ID,
        member_id: ID,
    ) -> async_graphql::Result<Group> {
        let caller = caller(ctx)?;
        let row = groups::set_membership(
            services(ctx),
            &caller,
            &group_id,
            &member_id,
            None,
            request_id(ctx),
        )
        .await?;
        Ok(Group(row))
    }
}
