//! Read model `applications`: each tenant's catalog, with the descriptors whole.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use medgrid_domain::catalog::ApplicationEvent;
use medgrid_domain::ids::{ApplicationId, TenantId};
use serde_json::Value;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use crate::event::{DomainEvent, StoredEvent};
use crate::reader::{Read, Reader};
use crate::runner::{EventByEvent, ProjectionError};

pub struct Applications;

#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct ApplicationRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub version: String,
    pub description: String,
    pub descriptor: Value,
    pub enabled: bool,
    /// The platform admin lets its jobs reach the network.
    pub networked: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub position: i64,
}

#[async_trait]
impl EventByEvent for Applications {
    fn name(&self) -> &'static str {
        "applications"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["applications"]
    }

    fn consumes(&self) -> &'static [&'static str] {
        &["Application"]
    }

    async fn apply_one(
        &self,
        db: &mut PgConnection,
        e: &StoredEvent,
    ) -> Result<(), ProjectionError> {
        let DomainEvent::Application(event) = &e.event else {
            return Ok(());
        };
        let id = e.aggregate_uuid()?;
        let at = e.recorded_at;
        let q = match event {
        ApplicationEvent::ApplicationRegistered {
            tenant_id,
            name,
            version,
            descriptor,
        } => sqlx::query(
            "INSERT INTO applications (id, tenant_id, name, version, description, descriptor, enabled,
                                       created_at, updated_at, position)
             VALUES ($1, $2, $3, $4, $5, $6, true, $7, $7, $8)",
        )
        .bind(id)
        .bind(tenant_id.as_uuid())
        .bind(name)
        .bind(version)
        .bind(descriptor.get("description").and_then(Value::as_str).unwrap_or_default())
        .bind(descriptor)
        .bind(at)
        .bind(e.position.global_position),
        ApplicationEvent::ApplicationEnabled | ApplicationEvent::ApplicationDisabled => {
            sqlx::query("UPDATE applications SET enabled = $2, updated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(matches!(event, ApplicationEvent::ApplicationEnabled))
                .bind(at)
        }
        ApplicationEvent::ApplicationNetworkedSet { networked } => {
            sqlx::query("UPDATE applications SET networked = $2, updated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(networked)
                .bind(at)
        }
    };
        q.execute(db).await?;
        Ok(())
    }
}

const COLUMNS: &str = "id, tenant_id, name, version, description, descriptor, enabled, networked, created_at, updated_at, position";

pub async fn by_id(db: &Reader, id: ApplicationId) -> Result<Option<ApplicationRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM applications WHERE id = $1"))
        .bind(id.as_uuid())
        .optional(db)
        .await
}

/// A tenant's catalog by name and version; disabled ones only if asked.
pub async fn list(
    db: &Reader,
    tenant: TenantId,
    include_disabled: bool,
) -> Result<Vec<ApplicationRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM applications WHERE tenant_id = $1 AND (enabled OR $2)
          ORDER BY name, version"
    ))
    .bind(tenant.as_uuid())
    .bind(include_disabled)
    .all(db)
    .await
}
