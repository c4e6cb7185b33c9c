//! Trouble tickets in GraphQL: `tickets(first, after)`, `ticket(id)`, and the mutations
//! that open, comment, assign, prioritise, resolve and reopen them.

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Object};
use chrono::{DateTime, Utc};
use medgrid_domain::ids::MemberId;
use medgrid_domain::support::Priority;
use medgrid_projections::members;
use medgrid_projections::tickets::{CommentRow, TicketRow};
use uuid::Uuid;

use crate::job_types::Job;
use crate::types::{Member, connection, page_request, scope};
use crate::usecases::{jobs, tickets};

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum TicketPriority {
    Low,
    Normal,
    High,
    Urgent,
}

impl From<TicketPriority> for Priority {
    fn from(p: TicketPriority) -> Self {
        match p {
            TicketPriority::Low => Self::Low,
            TicketPriority::Normal => Self::Normal,
            TicketPriority::High => Self::High,
            TicketPriority::Urgent => Self::Urgent,
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum TicketStatus {
    Open,
    Resolved,
}

#[derive(InputObject)]
pub struct OpenTicketInput {
    /// 1 to 200 characters.
    title: String,
    /// At most 20 000 characters.
    #[graphql(default)]
    body: String,
    /// A job the reporter sees, if the ticket is about one.
    job_id: Option<ID>,
    #[graphql(default_with = "TicketPriority::Normal")]
    priority: TicketPriority,
    /// Your name for this request: a retry with the same key within 24 hours answers the
    /// ticket the first made; the same key with different input is CONFLICT.
    idempotency_key: Option<String>,
}

/// A member of the ticket's tenant, if the caller may still see them.
async fn person(ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<Option<Member>> {
    let scope = scope(ctx)?;
    let row = members::by_id(&scope.reader(), MemberId::from_uuid(id)).await?;
    Ok(row.map(Member))
}

pub struct Ticket(pub TicketRow);

#[Object]
impl Ticket {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn body(&self) -> &str {
        &self.0.body
    }
    async fn status(&self) -> TicketStatus {
        if self.0.status == "RESOLVED" {
            TicketStatus::Resolved
        } else {
            TicketStatus::Open
        }
    }
    async fn priority(&self) -> TicketPriority {
        match Priority::parse(&self.0.priority) {
            Some(Priority::Low) => TicketPriority::Low,
            Some(Priority::High) => TicketPriority::High,
            Some(Priority::Urgent) => TicketPriority::Urgent,
            Some(Priority::Normal) | None => TicketPriority::Normal,
        }
    }
    async fn reporter(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Member>> {
        person(ctx, self.0.reporter_id).await
    }
    /// The tenant administrator in charge, once assigned.
    async fn assignee(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Member>> {
        match self.0.assignee_id {
            Some(id) => person(ctx, id).await,
            None => Ok(None),
        }
    }
    /// The job it is about, if the caller sees it.
    async fn job(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Job>> {
        let Some(id) = self.0.job_id else {
            return Ok(None);
        };
        let scope = scope(ctx)?;
        Ok(jobs::visible(&scope, &id.to_string()).await.ok().map(Job))
    }
    /// Oldest first.
    async fn comments(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<TicketComment>> {
        let scope = scope(ctx)?;
        let rows = tickets::comments(&scope, &self.0).await?;
        Ok(rows.into_iter().map(TicketComment).collect())
    }
    async fn resolution(&self) -> Option<&str> {
        self.0.resolution.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    async fn resolved_at(&self) -> Option<DateTime<Utc>> {
        self.0.resolved_at
    }
}

pub struct TicketComment(CommentRow);

#[Object]
impl TicketComment {
    /// 2, 3, …: its place in the ticket's history.
    async fn number(&self) -> i64 {
        self.0.number
    }
    async fn author(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Member>> {
        person(ctx, self.0.author_id).await
    }
    async fn body(&self) -> &str {
        &self.0.body
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

#[derive(Default)]
pub struct TicketQuery;

#[Object]
impl TicketQuery {
    /// Tickets the caller sees, newest first: their own, or all of the tenant's for its
    /// administrators.
    async fn tickets(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Ticket>> {
        let scope = scope(ctx)?;
        let request = page_request(first, after)?;
        let page = tickets::list(&scope, request).await?;
        Ok(connection(page, request, |r| r.position, Ticket))
    }

    async fn ticket(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Ticket> {
        Ok(Ticket(tickets::visible(&scope(ctx)?, &id).await?))
    }
}

#[derive(Default)]
pub struct TicketMutation;

#[Object]
impl TicketMutation {
    async fn open_ticket(
        &self,
        ctx: &Context<'_>,
        input: OpenTicketInput,
    ) -> async_graphql::Result<Ticket> {
        let request = tickets::OpenRequest {
            title: input.title,
            body: input.body,
            job_id: input.job_id.map(|id| id.0),
            priority: input.priority.into(),
            idempotency_key: input.idempotency_key,
        };
        Ok(Ticket(tickets::open(&scope(ctx)?, request).await?))
    }

    /// At most 20 000 characters; refused (CONFLICT) on a resolved ticket until reopened.
    async fn comment_ticket(
        &self,
        ctx: &Context<'_>,
        id: ID,
        body: String,
    ) -> async_graphql::Result<Ticket> {
        Ok(Ticket(tickets::comment(&scope(ctx)?, &id, body).await?))
    }

    /// To an active administrator of the ticket's tenant (tenant administrators).
    async fn assign_ticket(
        &self,
        ctx: &Context<'_>,
        id: ID,
        member_id: ID,
    ) -> async_graphql::Result<Ticket> {
        Ok(Ticket(
            tickets::assign(&scope(ctx)?, &id, &member_id).await?,
        ))
    }

    /// Tenant administrators.
    async fn set_ticket_priority(
        &self,
        ctx: &Context<'_>,
        id: ID,
        priority: TicketPriority,
    ) -> async_graphql::Result<Ticket> {
        Ok(Ticket(
            tickets::set_priority(&scope(ctx)?, &id, priority.into()).await?,
        ))
    }

    async fn resolve_ticket(
        &self,
        ctx: &Context<'_>,
        id: ID,
        resolution: String,
    ) -> async_graphql::Result<Ticket> {
        Ok(Ticket(
            tickets::resolve(&scope(ctx)?, &id, resolution).await?,
        ))
    }

    async fn reopen_ticket(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Ticket> {
        Ok(Ticket(tickets::reopen(&scope(ctx)?, &id).await?))
    }
}
