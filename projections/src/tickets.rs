//! Read model `tickets`: each tenant's trouble tickets and their comments.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use medgrid_domain::ids::{MemberId, TenantId, TicketId};
use medgrid_domain::support::TicketEvent;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use crate::event::{DomainEvent, StoredEvent};
use crate::page::{Page, PageRequest};
use crate::reader::{Read, Reader};
use crate::runner::{EventByEvent, ProjectionError};

pub struct Tickets;

#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct TicketRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub reporter_id: Uuid,
    pub assignee_id: Option<Uuid>,
    pub job_id: Option<Uuid>,
    pub title: String,
    pub body: String,
    pub priority: String,
    /// OPEN or RESOLVED.
    pub status: String,
    pub resolution: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub position: i64,
}

#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct CommentRow {
    pub ticket_id: Uuid,
    pub number: i64,
    pub author_id: Uuid,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

#[async_trait]
impl EventByEvent for Tickets {
    fn name(&self) -> &'static str {
        "tickets"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["tickets", "ticket_comments"]
    }

    fn consumes(&self) -> &'static [&'static str] {
        &["Ticket"]
    }

    async fn apply_one(
        &self,
        db: &mut PgConnection,
        e: &StoredEvent,
    ) -> Result<(), ProjectionError> {
        let DomainEvent::Ticket(event) = &e.event else {
            return Ok(());
        };
        let id = e.aggregate_uuid()?;
        let at = e.recorded_at;
        let q = match event {
            TicketEvent::TicketOpened {
                tenant_id,
                reporter,
                title,
                body,
                job_id,
                priority,
                ..
            } => sqlx::query(
                "INSERT INTO tickets (id, tenant_id, reporter_id, job_id, title, body, priority,
                                      status, created_at, updated_at, position)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'OPEN', $8, $8, $9)",
            )
            .bind(id)
            .bind(tenant_id.as_uuid())
            .bind(reporter.as_uuid())
            .bind(job_id.map(|j| j.as_uuid()))
            .bind(title)
            .bind(body)
            .bind(priority.as_str())
            .bind(at)
            .bind(e.position.global_position),
            TicketEvent::TicketCommented { author, body } => {
                sqlx::query(
                    "INSERT INTO ticket_comments (ticket_id, number, tenant_id, author_id, body, created_at)
                     SELECT id, $2, tenant_id, $3, $4, $5 FROM tickets WHERE id = $1",
                )
                .bind(id)
                .bind(e.sequence)
                .bind(author.as_uuid())
                .bind(body)
                .bind(at)
                .execute(&mut *db)
                .await?;
                sqlx::query("UPDATE tickets SET updated_at = $2 WHERE id = $1")
                    .bind(id)
                    .bind(at)
            }
            TicketEvent::TicketAssigned { assignee } => {
                sqlx::query("UPDATE tickets SET assignee_id = $2, updated_at = $3 WHERE id = $1")
                    .bind(id)
                    .bind(assignee.as_uuid())
                    .bind(at)
            }
            TicketEvent::TicketPriorityChanged { priority } => {
                sqlx::query("UPDATE tickets SET priority = $2, updated_at = $3 WHERE id = $1")
                    .bind(id)
                    .bind(priority.as_str())
                    .bind(at)
            }
            TicketEvent::TicketResolved { resolution } => sqlx::query(
                "UPDATE tickets SET status = 'RESOLVED', resolution = $2, resolved_at = $3,
                                    updated_at = $3
                  WHERE id = $1",
            )
            .bind(id)
            .bind(resolution)
            .bind(at),
            TicketEvent::TicketReopened => sqlx::query(
                "UPDATE tickets SET status = 'OPEN', resolution = NULL, resolved_at = NULL,
                                    updated_at = $2
                  WHERE id = $1",
            )
            .bind(id)
            .bind(at),
        };
        q.execute(db).await?;
        Ok(())
    }
}

const COLUMNS: &str =
    "id, tenant_id, reporter_id, assignee_id, job_id, title, body, priority, status,
                       resolution, created_at, updated_at, resolved_at, position";

pub async fn by_id(db: &Reader, id: TicketId) -> Result<Option<TicketRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM tickets WHERE id = $1"))
        .bind(id.as_uuid())
        .optional(db)
        .await
}

/// A tenant's tickets, newest first: all of them, or those `reporter` opened.
pub async fn list(
    db: &Reader,
    tenant: TenantId,
    reporter: Option<MemberId>,
    page: PageRequest,
) -> Result<Page<TicketRow>, sqlx::Error> {
    let rows = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM tickets
          WHERE tenant_id = $1
            AND ($2::uuid IS NULL OR reporter_id = $2)
            AND ($3::bigint IS NULL OR position < $3)
          ORDER BY position DESC
          LIMIT $4"
    ))
    .bind(tenant.as_uuid())
    .bind(reporter.map(|m| m.as_uuid()))
    .bind(page.after)
    .bind(page.limit())
    .all(db)
    .await?;
    Ok(Page::from_fetched(rows, page.first))
}

/// A ticket's comments, oldest first.
pub async fn comments(db: &Reader, ticket: TicketId) -> Result<Vec<CommentRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT ticket_id, number, author_id, body, created_at FROM ticket_comments
          WHERE ticket_id = $1 ORDER BY number",
    )
    .bind(ticket.as_uuid())
    .all(db)
    .await
}
