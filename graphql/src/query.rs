use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Object};
use medgrid_domain::ids::{ApplicationId, GroupId, MemberId, TenantId};

use crate::ApiError;
use crate::audit_types::{self, AuditEntry, AuditFilterInput};
use crate::catalog_types::Application;
use crate::compute_types::Resource;
use crate::job_types::{Job, JobFilterInput};
use crate::types::{Group, Member, Tenant, connection, forbidden, page_request, scope};
use crate::usecases::{self, access, parse_id, tenancy};

#[derive(Default)]
pub struct CoreQuery;

/// The tenant a list is about: the caller's own, or (platform admins only) the one named.
fn target_tenant(
    caller: &medgrid_domain::Caller,
    tenant_id: Option<ID>,
) -> Result<TenantId, ApiError> {
    let actor = caller
        .actor()
        .ok_or_else(|| ApiError::unauthenticated("authentication required"))?;
    match tenant_id {
        None => Ok(actor.tenant_id),
        Some(id) => {
            let id: TenantId = parse_id(&id, "tenant")?;
            caller
                .check(|a| a.require_member_of(id))
                .map_err(|_| ApiError::not_found("tenant"))?;
            Ok(id)
        }
    }
}

#[Object]
impl CoreQuery {
    /// The authenticated member.
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<Member> {
        let scope = scope(ctx)?;
        let id = scope
            .caller
            .actor()
            .map(|a| a.member_id)
            .ok_or_else(|| forbidden("no member"))?;
        Ok(Member(access::visible(&scope, id).await?))
    }

    /// A tenant by id; without id, the caller's own.
    async fn tenant(&self, ctx: &Context<'_>, id: Option<ID>) -> async_graphql::Result<Tenant> {
        let scope = scope(ctx)?;
        let id = target_tenant(&scope.caller, id)?;
        Ok(Tenant(tenancy::visible(&scope, id).await?))
    }

    /// Every tenant (platform administrators).
    async fn tenants(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Tenant>> {
        let scope = scope(ctx)?;
        let request = page_request(first, after)?;
        let page = tenancy::list(&scope, request).await?;
        Ok(connection(page, request, |r| r.position, Tenant))
    }

    /// Members of the caller's tenant (or of `tenantId`, for platform administrators).
    async fn members(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        tenant_id: Option<ID>,
    ) -> async_graphql::Result<Connection<String, Member>> {
        let scope = scope(ctx)?;
        let tenant = target_tenant(&scope.caller, tenant_id)?;
        let request = page_request(first, after)?;
        let page = access::list(&scope, tenant, request).await?;
        Ok(connection(page, request, |r| r.position, Member))
    }

    async fn member(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Member> {
        let scope = scope(ctx)?;
        let id: MemberId = parse_id(&id, "member")?;
        Ok(Member(access::visible(&scope, id).await?))
    }

    /// Groups: all of the tenant's for its administrators, one's own for members.
    async fn groups(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        tenant_id: Option<ID>,
    ) -> async_graphql::Result<Connection<String, Group>> {
        let scope = scope(ctx)?;
        let tenant = target_tenant(&scope.caller, tenant_id)?;
        let request = page_request(first, after)?;
        let page = usecases::groups::list(&scope, tenant, request).await?;
        Ok(connection(page, request, |r| r.position, Group))
    }

    /// The applications of the caller's tenant (disabled ones too for its administrators).
    async fn applications(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Application>> {
        let scope = scope(ctx)?;
        let tenant = target_tenant(&scope.caller, None)?;
        let rows = usecases::catalog::list(&scope, tenant).await?;
        Ok(rows.into_iter().map(Application).collect())
    }

    async fn application(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Application> {
        let scope = scope(ctx)?;
        let id: ApplicationId = parse_id(&id, "application")?;
        Ok(Application(usecases::catalog::visible(&scope, id).await?))
    }

    /// The compute resources the caller may use (all, for platform administrators).
    async fn resources(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Resource>> {
        let scope = scope(ctx)?;
        let rows = usecases::compute::list(&scope).await?;
        Ok(rows.into_iter().map(Resource).collect())
    }

    async fn group(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Group> {
        let scope = scope(ctx)?;
        let id: GroupId = parse_id(&id, "group")?;
        Ok(Group(usecases::groups::visible(&scope, id).await?))
    }

    /// Jobs the caller sees, newest first: their own, their managed groups', and all of
    /// the tenant's for its administrators.
    async fn jobs(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<JobFilterInput>,
    ) -> async_graphql::Result<Connection<String, Job>> {
        let scope = scope(ctx)?;
        let filter = filter.unwrap_or_default();
        let states = filter.state.into_iter().map(Into::into).collect();
        let filter = usecases::jobs::filter(
            states,
            filter.application_id.as_ref().map(|id| id.as_str()),
            filter.owner.as_ref().map(|id| id.as_str()),
        )?;
        let request = page_request(first, after)?;
        let page = usecases::jobs::list(&scope, &filter, request).await?;
        Ok(connection(page, request, |r| r.position, Job))
    }

    /// Who did what in the tenant, and when (from the events), newest first; for its
    /// administrators.
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<AuditFilterInput>,
        tenant_id: Option<ID>,
    ) -> async_graphql::Result<Connection<String, AuditEntry>> {
        let scope = scope(ctx)?;
        let tenant = target_tenant(&scope.caller, tenant_id)?;
        Ok(audit_types::audit_log(&scope, tenant, first, after, filter).await?)
    }

    async fn job(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Job> {
        let scope = scope(ctx)?;
        Ok(Job(usecases::jobs::visible(&scope, &id).await?))
    }
}
