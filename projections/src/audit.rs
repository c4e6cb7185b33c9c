//! The audit log: who did what, and when, read straight from the event log (the events
//! are the record; no read model copies them). Payloads stay out: they may hold password
//! and token hashes.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::page::{Page, PageRequest};
use crate::reader::{Read, Reader};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub position: i64,
    pub at: DateTime<Utc>,
    /// `member:<id>` or `system:<name>`.
    pub actor: String,
    /// The aggregate acted on: Member, Group, Job, …
    pub subject_type: String,
    pub subject_id: String,
    /// The event type: MemberCreated, JobCancelled, …
    pub action: String,
    pub request_id: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub subject_type: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// A tenant's events, newest first.
pub async fn list(
    db: &Reader,
    tenant: Uuid,
    filter: &AuditFilter,
    page: PageRequest,
) -> Result<Page<AuditRow>, sqlx::Error> {
    let rows = sqlx::query_as(
        "SELECT global_position AS position, recorded_at AS at, metadata ->> 'actor' AS actor,
                aggregate_type AS subject_type, aggregate_id AS subject_id, event_type AS action,
                metadata ->> 'request_id' AS request_id
           FROM events
          WHERE tenant_id = $1
            AND ($2::text IS NULL OR metadata ->> 'actor' = $2)
            AND ($3::text IS NULL OR aggregate_type = $3)
            AND ($4::timestamptz IS NULL OR recorded_at >= $4)
            AND ($5::timestamptz IS NULL OR recorded_at < $5)
            AND ($6::bigint IS NULL OR global_position < $6)
          ORDER BY global_position DESC
          LIMIT $7",
    )
    .bind(tenant)
    .bind(&filter.actor)
    .bind(&filter.subject_type)
    .bind(filter.from)
    .bind(filter.to)
    .bind(page.after)
    .bind(page.limit())
    .all(db)
    .await?;
    Ok(Page::from_fetched(rows, page.first))
}
