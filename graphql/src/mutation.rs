use std::collections::BTreeSet;

use async_graphql::{Context, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use medgrid_domain::access::MemberCommand;
use medgrid_domain::compute::ResourceCommand;
use medgrid_domain::ids::{MemberId, TenantId};
use medgrid_domain::tenancy::TenantCommand;
use serde_json::Value;

use crate::ApiError;
use crate::catalog_types::Application;
use crate::compute_types::{RegisterResourceInput, Resource};
use crate::job_types::{Job, SubmitJobInput};
use crate::types::{
    self, AccessToken, Group, GroupRoleName, Member, Role, Tenant, scope, services,
};
use crate::usecases::{
    access, accounting, auth, catalog, compute, groups, jobs, parse_id, tenancy,
};

/// Tenancy, members, groups, catalog and jobs (identity is in `identity_types`).
#[derive(Default)]
pub struct CoreMutation;

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

/// The tenant a mutation is about: the one named, or the caller's own.
pub(crate) fn own_tenant(ctx: &Context<'_>, tenant_id: Option<ID>) -> Result<TenantId, ApiError> {
    match tenant_id {
        Some(id) => parse_id(&id, "tenant"),
        None => scope(ctx)?
            .caller
            .actor()
            .map(|a| a.tenant_id)
            .ok_or_else(|| ApiError::unauthenticated("authentication required")),
    }
}

#[Object]
impl CoreMutation {
    /// Signs in with a local account; returns a bearer token.
    async fn login(
        &self,
        ctx: &Context<'_>,
        tenant: String,
        email: String,
        password: String,
    ) -> async_graphql::Result<LoginPayload> {
        let svc = services(ctx);
        let (token, member_id) = auth::login(
            svc,
            &tenant,
            &email,
            &password,
            types::request(ctx).request_id,
        )
        .await?;
        let row = medgrid_projections::members::by_id(
            &medgrid_projections::Reader::system(&svc.pool),
            member_id,
        )
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
        let scope = scope(ctx)?;
        let row = tenancy::create(&scope, &input.slug, &input.name).await?;
        Ok(Tenant(row))
    }

    async fn rename_tenant(
        &self,
        ctx: &Context<'_>,
        id: ID,
        name: String,
    ) -> async_graphql::Result<Tenant> {
        let scope = scope(ctx)?;
        let name = name.parse().map_err(ApiError::from)?;
        let row = tenancy::change(&scope, &id, TenantCommand::Rename { name }).await?;
        Ok(Tenant(row))
    }

    /// Suspends a tenant: none of its members can do anything until it is reactivated.
    async fn suspend_tenant(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: String,
    ) -> async_graphql::Result<Tenant> {
        let scope = scope(ctx)?;
        let row = tenancy::change(&scope, &id, TenantCommand::Suspend { reason }).await?;
        Ok(Tenant(row))
    }

    /// Limits the bytes all of a tenant's spaces may hold together (null lifts it);
    /// platform admins only.
    async fn set_tenant_storage_quota(
        &self,
        ctx: &Context<'_>,
        id: ID,
        bytes: Option<f64>,
    ) -> async_graphql::Result<Tenant> {
        let scope = scope(ctx)?;
        let bytes = crate::space_types::byte_count(bytes)?;
        let row = tenancy::change(&scope, &id, TenantCommand::SetStorageQuota(bytes)).await?;
        Ok(Tenant(row))
    }

    /// Limits the core hours a tenant's jobs may use per calendar month (UTC; null lifts
    /// it); platform admins only. Submissions past it are QUOTA_EXCEEDED.
    async fn set_tenant_core_hour_budget(
        &self,
        ctx: &Context<'_>,
        id: ID,
        hours: Option<f64>,
    ) -> async_graphql::Result<Tenant> {
        let scope = scope(ctx)?;
        let seconds = accounting::core_seconds(hours)?;
        let row = tenancy::change(&scope, &id, TenantCommand::SetCoreBudget(seconds)).await?;
        Ok(Tenant(row))
    }

    /// Limits the core hours a group's jobs may use per calendar month (UTC; null lifts
    /// it); tenant admins only.
    async fn set_group_core_hour_budget(
        &self,
        ctx: &Context<'_>,
        id: ID,
        hours: Option<f64>,
    ) -> async_graphql::Result<Group> {
        let scope = scope(ctx)?;
        let seconds = accounting::core_seconds(hours)?;
        Ok(Group(groups::set_core_budget(&scope, &id, seconds).await?))
    }

    async fn reactivate_tenant(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Tenant> {
        let scope = scope(ctx)?;
        let row = tenancy::change(&scope, &id, TenantCommand::Reactivate).await?;
        Ok(Tenant(row))
    }

    async fn create_member(
        &self,
        ctx: &Context<'_>,
        input: CreateMemberInput,
    ) -> async_graphql::Result<Member> {
        let scope = scope(ctx)?;
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
        Ok(Member(access::create(&scope, new).await?))
    }

    async fn grant_role(
        &self,
        ctx: &Context<'_>,
        member_id: ID,
        role: Role,
    ) -> async_graphql::Result<Member> {
        let scope = scope(ctx)?;
        let cmd = MemberCommand::GrantRole(role.into());
        Ok(Member(access::administer(&scope, &member_id, cmd).await?))
    }

    async fn revoke_role(
        &self,
        ctx: &Context<'_>,
        member_id: ID,
        role: Role,
    ) -> async_graphql::Result<Member> {
        let scope = scope(ctx)?;
        let cmd = MemberCommand::RevokeRole(role.into());
        Ok(Member(access::administer(&scope, &member_id, cmd).await?))
    }

    /// Disables a member: their tokens stop working at once.
    async fn disable_member(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Member> {
        let scope = scope(ctx)?;
        Ok(Member(
            access::administer(&scope, &id, MemberCommand::Disable).await?,
        ))
    }

    async fn enable_member(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Member> {
        let scope = scope(ctx)?;
        Ok(Member(
            access::administer(&scope, &id, MemberCommand::Enable).await?,
        ))
    }

    /// Sets a password: one's own (no memberId), or a member's of one's tenant for admins
    /// who hold every role that member holds (only platform admins give one to a member
    /// who signs in through an identity provider). Ends all of the member's sessions and
    /// tokens.
    async fn set_password(
        &self,
        ctx: &Context<'_>,
        member_id: Option<ID>,
        password: String,
    ) -> async_graphql::Result<Member> {
        let scope = scope(ctx)?;
        let id: MemberId = match member_id {
            Some(id) => parse_id(&id, "member")?,
            None => scope
                .caller
                .actor()
                .map(|a| a.member_id)
                .ok_or_else(|| ApiError::unauthenticated("authentication required"))?,
        };
        Ok(Member(access::set_password(&scope, id, &password).await?))
    }

    /// Issues a personal access token for the caller.
    async fn issue_token(
        &self,
        ctx: &Context<'_>,
        name: String,
        expires_at: Option<DateTime<Utc>>,
    ) -> async_graphql::Result<IssuedToken> {
        let scope = scope(ctx)?;
        let id = scope
            .caller
            .actor()
            .map(|a| a.member_id)
            .ok_or_else(|| ApiError::unauthenticated("authentication required"))?;
        let (token, row) = access::issue_token(&scope, id, &name, expires_at).await?;
        Ok(IssuedToken {
            token,
            access_token: row.into(),
        })
    }

    async fn revoke_token(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<AccessToken> {
        let scope = scope(ctx)?;
        Ok(access::revoke_token(&scope, &id).await?.into())
    }

    /// Registers a Boutiques descriptor (schema 0.5) in the caller's tenant catalog
    /// (tenant administrators; platform administrators may name another tenant).
    async fn register_application(
        &self,
        ctx: &Context<'_>,
        descriptor: Json<Value>,
        tenant_id: Option<ID>,
    ) -> async_graphql::Result<Application> {
        let scope = scope(ctx)?;
        let tenant = own_tenant(ctx, tenant_id)?;
        Ok(Application(
            catalog::register(&scope, tenant, descriptor.0).await?,
        ))
    }

    /// Makes an application available to the tenant's members, or withdraws it.
    async fn set_application_enabled(
        &self,
        ctx: &Context<'_>,
        id: ID,
        enabled: bool,
    ) -> async_graphql::Result<Application> {
        let scope = scope(ctx)?;
        Ok(Application(
            catalog::set_enabled(&scope, &id, enabled).await?,
        ))
    }

    /// Lets an application's jobs reach the network, never this host nor private networks,
    /// or takes that away (platform administrators). Jobs keep what their application was
    /// at submission.
    async fn set_application_networked(
        &self,
        ctx: &Context<'_>,
        id: ID,
        networked: bool,
    ) -> async_graphql::Result<Application> {
        let scope = scope(ctx)?;
        Ok(Application(
            catalog::set_networked(&scope, &id, networked).await?,
        ))
    }

    /// Registers a compute resource (platform administrators).
    async fn register_resource(
        &self,
        ctx: &Context<'_>,
        input: RegisterResourceInput,
    ) -> async_graphql::Result<Resource> {
        let scope = scope(ctx)?;
        let (name, kind, access, default_memory_mb) = input.parts()?;
        Ok(Resource(
            compute::register(&scope, &name, kind, access, default_memory_mb).await?,
        ))
    }

    /// Stops new attempts from starting on a resource (running ones finish).
    async fn drain_resource(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: String,
    ) -> async_graphql::Result<Resource> {
        let scope = scope(ctx)?;
        let command = ResourceCommand::Drain { reason };
        Ok(Resource(compute::change(&scope, &id, command).await?))
    }

    async fn enable_resource(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Resource> {
        let scope = scope(ctx)?;
        Ok(Resource(
            compute::change(&scope, &id, ResourceCommand::Enable).await?,
        ))
    }

    async fn create_group(
        &self,
        ctx: &Context<'_>,
        name: String,
        tenant_id: Option<ID>,
    ) -> async_graphql::Result<Group> {
        let scope = scope(ctx)?;
        let tenant = own_tenant(ctx, tenant_id)?;
        Ok(Group(groups::create(&scope, tenant, &name).await?))
    }

    async fn rename_group(
        &self,
        ctx: &Context<'_>,
        id: ID,
        name: String,
    ) -> async_graphql::Result<Group> {
        let scope = scope(ctx)?;
        Ok(Group(groups::rename(&scope, &id, &name).await?))
    }

    /// Adds a member to a group, or changes their role in it.
    async fn add_group_member(
        &self,
        ctx: &Context<'_>,
        group_id: ID,
        member_id: ID,
        #[graphql(default_with = "GroupRoleName::Member")] role: GroupRoleName,
    ) -> async_graphql::Result<Group> {
        let scope = scope(ctx)?;
        let row = groups::set_membership(&scope, &group_id, &member_id, Some(role.into())).await?;
        Ok(Group(row))
    }

    async fn remove_group_member(
        &self,
        ctx: &Context<'_>,
        group_id: ID,
        member_id: ID,
    ) -> async_graphql::Result<Group> {
        let scope = scope(ctx)?;
        let row = groups::set_membership(&scope, &group_id, &member_id, None).await?;
        Ok(Group(row))
    }

    /// Runs an application: parameters are checked against its descriptor first.
    async fn submit_job(
        &self,
        ctx: &Context<'_>,
        input: SubmitJobInput,
    ) -> async_graphql::Result<Job> {
        let scope = scope(ctx)?;
        Ok(Job(jobs::submit(&scope, input.into()).await?))
    }

    /// Cancels a job and stops its attempts. A finished job cannot be cancelled.
    async fn cancel_job(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Job> {
        let scope = scope(ctx)?;
        Ok(Job(jobs::cancel(&scope, &id).await?))
    }

    /// A new job like `id`, with some parameters changed (`null` removes one).
    async fn resubmit_job(
        &self,
        ctx: &Context<'_>,
        id: ID,
        parameters: Option<Json<Value>>,
    ) -> async_graphql::Result<Job> {
        let scope = scope(ctx)?;
        Ok(Job(
            jobs::resubmit(&scope, &id, parameters.map(|p| p.0)).await?
        ))
    }
}
