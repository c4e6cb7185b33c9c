//! Read model `resources`: the platform's compute resources and who may use them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use medgrid_domain::compute::{Access, ResourceEvent};
use medgrid_domain::ids::ResourceId;
use serde_json::Value;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use crate::event::{DomainEvent, StoredEvent};
use crate::reader::{Read, Reader};
use crate::runner::{EventByEvent, ProjectionError};

pub struct Resources;

#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct ResourceRow {
    pub id: Uuid,
    pub name: String,
    pub kind: Value,
    pub all_tenants: bool,
    pub tenants: Vec<Uuid>,
    pub groups: Vec<Uuid>,
    pub drained: bool,
    pub drain_reason: Option<String>,
    /// Memory of an attempt whose application does not say (MiB); None: the installation's.
    pub default_memory_mb: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub position: i64,
}

fn tenants(access: &Access) -> Vec<Uuid> {
    access.tenants.iter().map(|t| t.as_uuid()).collect()
}

fn groups(access: &Access) -> Vec<Uuid> {
    access.groups.iter().map(|g| g.as_uuid()).collect()
}

fn kind_json(event: &ResourceEvent) -> Result<Value, ProjectionError> {
    match event {
        ResourceEvent::ResourceRegistered { kind, .. } => {
            serde_json::to_value(kind).map_err(|e| ProjectionError::Apply(e.to_string()))
        }
        _ => Ok(Value::Null),
    }
}

#[async_trait]
impl EventByEvent for Resources {
    fn name(&self) -> &'static str {
        "resources"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["resources"]
    }

    fn consumes(&self) -> &'static [&'static str] {
        &["Resource"]
    }

    async fn apply_one(
        &self,
        db: &mut PgConnection,
        e: &StoredEvent,
    ) -> Result<(), ProjectionError> {
        let DomainEvent::Resource(event) = &e.event else {
            return Ok(());
        };
        let id = e.aggregate_uuid()?;
        let at = e.recorded_at;
        let q = match event {
            ResourceEvent::ResourceRegistered {
                name,
                access,
                default_memory_mb,
                ..
            } => sqlx::query(
                "INSERT INTO resources (id, name, kind, all_tenants, tenants, groups, default_memory_mb, created_at, updated_at, position)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)",
            )
            .bind(id)
            .bind(name)
            .bind(kind_json(event)?)
            .bind(access.all_tenants)
            .bind(tenants(access))
            .bind(groups(access))
            // at most 16 TiB (the aggregate's rule): it fits
            .bind(default_memory_mb.and_then(|mb| i64::try_from(mb).ok()))
            .bind(at)
            .bind(e.position.global_position),
            ResourceEvent::ResourceAccessChanged { access } => sqlx::query(
                "UPDATE resources SET all_tenants = $2, tenants = $3, groups = $4, updated_at = $5 WHERE id = $1",
            )
            .bind(id)
            .bind(access.all_tenants)
            .bind(tenants(access))
            .bind(groups(access))
            .bind(at),
            ResourceEvent::ResourceDrained { reason } => sqlx::query(
                "UPDATE resources SET drained = true, drain_reason = $2, updated_at = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(reason)
            .bind(at),
            ResourceEvent::ResourceEnabled => sqlx::query(
                "UPDATE resources SET drained = false, drain_reason = NULL, updated_at = $2 WHERE id = $1",
            )
            .bind(id)
            .bind(at),
        };
        q.execute(db).await?;
        Ok(())
    }
}

const COLUMNS: &str = "id, name, kind, all_tenants, tenants, groups, drained, drain_reason, default_memory_mb, created_at, updated_at, position";

pub async fn by_id(db: &Reader, id: ResourceId) -> Result<Option<ResourceRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM resources WHERE id = $1"))
        .bind(id.as_uuid())
        .optional(db)
        .await
}

pub async fn list(db: &Reader) -> Result<Vec<ResourceRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM resources ORDER BY name"))
        .all(db)
        .await
}
