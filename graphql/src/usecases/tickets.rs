//! Trouble tickets: members open them (optionally about a job they see) and see their own;
//! tenant administrators see all of their tenant's, assign them to an administrator and
//! set their priority; whoever sees a ticket may comment, resolve and reopen it. Nobody
//! sees another tenant's tickets, platform administrators included: not found.

use medgrid_domain::Actor;
use medgrid_domain::ids::{JobId, MemberId, TenantId, TicketId};
use medgrid_domain::support::{Priority, TicketCommand};
use medgrid_projections::members;
use medgrid_projections::page::{Page, PageRequest};
use medgrid_projections::tickets::{self, CommentRow, TicketRow};

use serde::Serialize;

use super::{Scope, jobs, parse_id};
use crate::ApiError;

/// A new ticket as a client asks for it.
#[derive(Debug, Clone, Serialize)]
pub struct OpenRequest {
    pub title: String,
    pub body: String,
    pub job_id: Option<String>,
    pub priority: Priority,
    /// A retry under the same key answers the first ticket (`medgrid_domain::idempotency`).
    #[serde(skip)]
    pub idempotency_key: Option<String>,
}

fn member<'s>(scope: &'s Scope<'_>) -> Result<&'s Actor, ApiError> {
    scope
        .caller
        .actor()
        .ok_or_else(|| ApiError::invalid("tickets belong to members"))
}

/// Administrators of the ticket's tenant see it, and so does its reporter.
fn may_see(actor: &Actor, row: &TicketRow) -> bool {
    let tenant = TenantId::from_uuid(row.tenant_id);
    actor.tenant_id == tenant
        && (actor.can_administer(tenant) || actor.member_id.as_uuid() == row.reporter_id)
}

/// A ticket the caller sees; any other is not found (its existence is not revealed).
pub async fn visible(scope: &Scope<'_>, id: &str) -> Result<TicketRow, ApiError> {
    let actor = member(scope)?;
    let id: TicketId = parse_id(id, "ticket")?;
    tickets::by_id(&scope.reader(), id)
        .await?
        .filter(|row| may_see(actor, row))
        .ok_or_else(|| ApiError::not_found("ticket"))
}

pub async fn list(scope: &Scope<'_>, page: PageRequest) -> Result<Page<TicketRow>, ApiError> {
    let actor = member(scope)?;
    let reporter = (!actor.can_administer(actor.tenant_id)).then_some(actor.member_id);
    Ok(tickets::list(&scope.reader(), actor.tenant_id, reporter, page).await?)
}

pub async fn comments(scope: &Scope<'_>, row: &TicketRow) -> Result<Vec<CommentRow>, ApiError> {
    Ok(tickets::comments(&scope.reader(), TicketId::from_uuid(row.id)).await?)
}

pub async fn open(scope: &Scope<'_>, request: OpenRequest) -> Result<TicketRow, ApiError> {
    let actor = member(scope)?;
    let job_id = match &request.job_id {
        Some(job) => {
            let row = jobs::visible(scope, job).await?;
            Some(JobId::from_uuid(row.id))
        }
        None => None,
    };
    let keyed = super::idempotency(request.idempotency_key.as_deref(), &request)?;
    let id = keyed.as_ref().map_or_else(TicketId::random, |i| {
        TicketId::for_request(actor.member_id, &i.key)
    });
    let command = TicketCommand::Open {
        tenant_id: actor.tenant_id,
        reporter: actor.member_id,
        title: request.title,
        body: request.body,
        job_id,
        priority: request.priority,
        idempotency: keyed.clone(),
    };
    scope
        .svc
        .bus
        .ticket(id, command, &scope.metadata(actor.tenant_id))
        .await?;
    let row = visible(scope, &id.to_string()).await?;
    if keyed.is_some() {
        super::unspent(row.created_at)?;
    }
    Ok(row)
}

/// Runs `command` on a ticket the caller sees; `admin_only` commands need an
/// administrator of the ticket's tenant.
async fn change(
    scope: &Scope<'_>,
    id: &str,
    admin_only: bool,
    command: TicketCommand,
) -> Result<TicketRow, ApiError> {
    let row = visible(scope, id).await?;
    let tenant = TenantId::from_uuid(row.tenant_id);
    if admin_only {
        scope.caller.check(|a| a.require_tenant_admin(tenant))?;
    }
    let ticket = TicketId::from_uuid(row.id);
    scope
        .svc
        .bus
        .ticket(ticket, command, &scope.metadata(tenant))
        .await?;
    visible(scope, id).await
}

pub async fn comment(scope: &Scope<'_>, id: &str, body: String) -> Result<TicketRow, ApiError> {
    let author = member(scope)?.member_id;
    change(scope, id, false, TicketCommand::Comment { author, body }).await
}

/// Assigns a ticket to an active administrator of its tenant.
pub async fn assign(scope: &Scope<'_>, id: &str, member_id: &str) -> Result<TicketRow, ApiError> {
    let row = visible(scope, id).await?;
    scope
        .caller
        .check(|a| a.require_tenant_admin(TenantId::from_uuid(row.tenant_id)))?;
    let assignee: MemberId = parse_id(member_id, "member")?;
    let person = members::by_id(&scope.reader(), assignee)
        .await?
        .filter(|m| m.tenant_id == row.tenant_id)
        .ok_or_else(|| ApiError::not_found("member"))?;
    let is_admin = person.roles.iter().any(|r| r == "TENANT_ADMIN");
    if !is_admin || person.disabled {
        return Err(ApiError::invalid(
            "memberId: a ticket is assigned to an active administrator of its tenant",
        ));
    }
    change(scope, id, true, TicketCommand::Assign { assignee }).await
}

pub async fn set_priority(
    scope: &Scope<'_>,
    id: &str,
    priority: Priority,
) -> Result<TicketRow, ApiError> {
    change(scope, id, true, TicketCommand::SetPriority(priority)).await
}

pub async fn resolve(
    scope: &Scope<'_>,
    id: &str,
    resolution: String,
) -> Result<TicketRow, ApiError> {
    change(scope, id, false, TicketCommand::Resolve { resolution }).await
}

pub async fn reopen(scope: &Scope<'_>, id: &str) -> Result<TicketRow, ApiError> {
    change(scope, id, false, TicketCommand::Reopen).await
}
