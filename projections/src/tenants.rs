//! Read model `tenants`: one row per institution.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use medgrid_domain::ids::TenantId;
use medgrid_domain::tenancy::TenantEvent;
use sqlx::{FromRow, PgConnection, PgPool};
use uuid::Uuid;

use crate::event::{DomainEvent, StoredEvent};
use crate::page::{Page, PageRequest};
use crate::runner::{EventByEvent, ProjectionError};

pub struct Tenants;

#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct TenantRow {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub status: String,
    pub suspended_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub position: i64,
}

impl TenantRow {
    pub fn is_active(&self) -> bool {
        self.status == "ACTIVE"
    }
}

#[async_trait]
impl EventByEvent for Tenants {
    fn name(&self) -> &'static str {
        "tenants"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["tenants"]
    }

    fn consumes(&self) -> &'static [&'static str] {
        &["Tenant"]
    }

    async fn apply_one(
        &self,
        db: &mut PgConnection,
        e: &StoredEvent,
    ) -> Result<(), ProjectionError> {
        let DomainEvent::Tenant(event) = &e.event else {
            return Ok(());
        };
        let id = e.aggregate_uuid()?;
        let at = e.recorded_at;
        let q = match event {
            TenantEvent::TenantCreated { slug, name } => sqlx::query(
                "INSERT INTO tenants (id, slug, name, status, created_at, updated_at, position)
                 VALUES ($1, $2, $3, 'ACTIVE', $4, $4, $5)",
            )
            .bind(id)
            .bind(slug.as_ref())
            .bind(name.as_ref())
            .bind(at)
            .bind(e.position.global_position),
            TenantEvent::TenantRenamed { name } => {
                sqlx::query("UPDATE tenants SET name = $2, updated_at = $3 WHERE id = $1")
                    .bind(id)
                    .bind(name.as_ref())
                    .bind(at)
            }
            TenantEvent::TenantSuspended { reason } => sqlx::query(
                "UPDATE tenants SET status = 'SUSPENDED', suspended_reason = $2, updated_at = $3
                  WHERE id = $1",
            )
            .bind(id)
            .bind(reason)
            .bind(at),
            TenantEvent::TenantReactivated => sqlx::query(
                "UPDATE tenants SET status = 'ACTIVE', suspended_reason = NULL, updated_at = $2
                  WHERE id = $1",
            )
            .bind(id)
            .bind(at),
        };
        q.execute(db).await?;
        Ok(())
    }
}

const COLUMNS: &str = "id, slug, name, status, suspended_reason, created_at, updated_at, position";

pub async fn by_id(pool: &PgPool, id: TenantId) -> Result<Option<TenantRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM tenants WHERE id = $1"))
        .bind(id.as_uuid())
        .fetch_optional(pool)
        .await
}

pub async fn by_slug(pool: &PgPool, slug: &str) -> Result<Option<TenantRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM tenants WHERE slug = $1"))
        .bind(slug)
        .fetch_optional(pool)
        .await
}

pub async fn list(pool: &PgPool, page: PageRequest) -> Result<Page<TenantRow>, sqlx::Error> {
    let rows = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM tenants WHERE position > $1 ORDER BY position LIMIT $2"
    ))
    .bind(page.after_position())
    .bind(page.limit())
    .fetch_all(pool)
    .await?;
    Ok(Page::from_fetched(rows, page.first))
}
