//! Read model `imports`: each import as it is now (state, files and bytes so far, the
//! reason it ended), what the API shows and what the importer picks up.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use medgrid_domain::ids::{ImportId, MemberId, TenantId};
use medgrid_domain::imports::{ImportEvent, ImportSource};
use serde_json::Value;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use crate::event::{DomainEvent, StoredEvent};
use crate::page::{Page, PageRequest};
use crate::reader::{Read, Reader};
use crate::runner::{EventByEvent, ProjectionError};

pub struct Imports;

#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct ImportRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub owner_id: Uuid,
    pub space_id: Uuid,
    pub folder_id: Uuid,
    /// `URL`, `S3` or `DICOMWEB`.
    pub kind: String,
    pub display: String,
    /// The event's `ImportSource` (nothing secret in it).
    pub source: Value,
    pub state: String,
    pub files: i64,
    pub bytes: i64,
    /// What the whole import brings, once the importer knows.
    pub expected_files: Option<i64>,
    pub expected_bytes: Option<i64>,
    pub reason: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub position: i64,
}

impl ImportRow {
    pub fn source(&self) -> Option<ImportSource> {
        serde_json::from_value(self.source.clone()).ok()
    }
}

const COLUMNS: &str = "id, tenant_id, owner_id, space_id, folder_id, kind, display, source, \
     state, files, bytes, expected_files, expected_bytes, reason, created_at, updated_at, \
     position";

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

async fn set(
    db: &mut PgConnection,
    id: Uuid,
    at: DateTime<Utc>,
    state: Option<&str>,
    counts: Option<(u64, u64)>,
    reason: Option<&str>,
) -> Result<(), ProjectionError> {
    sqlx::query(
        "UPDATE imports SET state = COALESCE($2, state),
                            files = COALESCE($3, files), bytes = COALESCE($4, bytes),
                            reason = COALESCE($5, reason), updated_at = $6
          WHERE id = $1",
    )
    .bind(id)
    .bind(state)
    .bind(counts.map(|(f, _)| count(f)))
    .bind(counts.map(|(_, b)| count(b)))
    .bind(reason)
    .bind(at)
    .execute(&mut *db)
    .await?;
    Ok(())
}

#[async_trait]
impl EventByEvent for Imports {
    fn name(&self) -> &'static str {
        "imports"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["imports"]
    }

    fn consumes(&self) -> &'static [&'static str] {
        &["Import"]
    }

    async fn apply_one(
        &self,
        db: &mut PgConnection,
        e: &StoredEvent,
    ) -> Result<(), ProjectionError> {
        let DomainEvent::Import(event) = &e.event else {
            return Ok(());
        };
        let id = e.aggregate_uuid()?;
        let at = e.recorded_at;
        match event {
            ImportEvent::ImportRequested(new) => {
                let source = serde_json::to_value(&new.source)
                    .map_err(|err| ProjectionError::Apply(err.to_string()))?;
                sqlx::query(
                    "INSERT INTO imports (id, tenant_id, owner_id, space_id, folder_id, kind,
                                          display, source, state, reason, created_at,
                                          updated_at, position)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'REQUESTED', $9, $10, $10, $11)
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(id)
                .bind(new.tenant_id.as_uuid())
                .bind(new.owner.as_uuid())
                .bind(new.space_id.as_uuid())
                .bind(new.folder.as_uuid())
                .bind(new.source.kind())
                .bind(new.source.display())
                .bind(source)
                .bind("Waiting for the importer")
                .bind(at)
                .bind(e.position.global_position)
                .execute(&mut *db)
                .await?;
            }
            ImportEvent::ImportStarted => {
                set(db, id, at, Some("RUNNING"), None, Some("Importing")).await?;
            }
            ImportEvent::ImportSized { files, bytes } => {
                sqlx::query(
                    "UPDATE imports SET expected_files = $2, expected_bytes = $3, updated_at = $4
                      WHERE id = $1",
                )
                .bind(id)
                .bind(count(*files))
                .bind(count(*bytes))
                .bind(at)
                .execute(&mut *db)
                .await?;
            }
            ImportEvent::ImportProgressed { files, bytes } => {
                set(db, id, at, None, Some((*files, *bytes)), None).await?;
            }
            ImportEvent::ImportSucceeded {
                files,
                bytes,
                reason,
            } => {
                let counts = Some((*files, *bytes));
                set(db, id, at, Some("SUCCEEDED"), counts, Some(reason)).await?;
            }
            ImportEvent::ImportFailed { reason } => {
                set(db, id, at, Some("FAILED"), None, Some(reason)).await?;
            }
            ImportEvent::ImportCancelled { reason } => {
                set(db, id, at, Some("CANCELLED"), None, Some(reason)).await?;
            }
        }
        Ok(())
    }
}

pub async fn by_id(db: &Reader, id: ImportId) -> Result<Option<ImportRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM imports WHERE id = $1"))
        .bind(id.as_uuid())
        .optional(db)
        .await
}

/// A tenant's imports, newest first: one member's, or everyone's (`owner` None).
pub async fn list(
    db: &Reader,
    tenant: TenantId,
    owner: Option<MemberId>,
    page: PageRequest,
) -> Result<Page<ImportRow>, sqlx::Error> {
    let rows = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM imports
          WHERE tenant_id = $1 AND ($2::uuid IS NULL OR owner_id = $2)
            AND ($3::bigint IS NULL OR position < $3)
          ORDER BY position DESC LIMIT $4"
    ))
    .bind(tenant.as_uuid())
    .bind(owner.map(|m| m.as_uuid()))
    .bind(page.after)
    .bind(page.limit())
    .all(db)
    .await?;
    Ok(Page::from_fetched(rows, page.first))
}

/// Imports not finished, oldest first: what the importer works on.
pub async fn unfinished(db: &Reader, limit: i64) -> Result<Vec<ImportRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM imports WHERE state IN ('REQUESTED', 'RUNNING')
          ORDER BY position LIMIT $1"
    ))
    .bind(limit)
    .all(db)
    .await
}
