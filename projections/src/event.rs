//! Events as the projections read them: a row of the log, upcast and typed.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use cqrs_es::persist::SerializedEvent;
use medgrid_domain::access::{GroupEvent, MemberEvent};
use medgrid_domain::catalog::ApplicationEvent;
use medgrid_domain::compute::ResourceEvent;
use medgrid_domain::imports::ImportEvent;
use medgrid_domain::jobs::JobEvent;
use medgrid_domain::metadata::EventMetadata;
use medgrid_domain::notify::NotificationPreferencesEvent;
use medgrid_domain::spaces::SpaceEvent;
use medgrid_domain::support::TicketEvent;
use medgrid_domain::tenancy::TenantEvent;
use medgrid_domain::upcast;
use serde_json::Value;
use sqlx::FromRow;

use crate::runner::{Position, ProjectionError};

/// One row of `events`, as selected by the runner.
#[derive(Debug, Clone, FromRow)]
pub struct EventRow {
    pub global_position: i64,
    pub tx_id: String,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub payload: Value,
    pub metadata: Value,
    pub recorded_at: DateTime<Utc>,
}

/// The event payload, typed by its aggregate.
#[derive(Debug, Clone, PartialEq)]
pub enum DomainEvent {
    Tenant(TenantEvent),
    Member(MemberEvent),
    Group(GroupEvent),
    Application(ApplicationEvent),
    Resource(ResourceEvent),
    Job(Box<JobEvent>),
    Space(SpaceEvent),
    NotificationPreferences(NotificationPreferencesEvent),
    Ticket(TicketEvent),
    Import(ImportEvent),
    /// An aggregate this build does not know (written by a newer version): skipped.
    Other,
}

/// An event ready to be applied: typed payload, typed metadata, its place in the log.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub position: Position,
    pub aggregate_id: String,
    pub sequence: i64,
    pub recorded_at: DateTime<Utc>,
    pub meta: EventMetadata,
    pub event: DomainEvent,
}

impl StoredEvent {
    /// Upcasts and parses a row. A row that cannot be read is an error, never skipped:
    /// skipping would make the read model silently wrong.
    pub fn from_row(
        row: EventRow,
        upcasters: &[Box<dyn cqrs_es::persist::EventUpcaster>],
    ) -> Result<Self, ProjectionError> {
        let position = Position::parse(&row.tx_id, row.global_position)?;
        let bad = |what: String| ProjectionError::BadEvent {
            position: row.global_position,
            what,
        };
        let meta_map: HashMap<String, String> =
            serde_json::from_value(row.metadata.clone()).map_err(|e| bad(e.to_string()))?;
        let meta = EventMetadata::from_map(&meta_map).ok_or_else(|| bad("metadata".into()))?;
        let serialized = SerializedEvent::new(
            row.aggregate_id.clone(),
            usize::try_from(row.sequence).unwrap_or_default(),
            row.aggregate_type.clone(),
            row.event_type,
            row.event_version,
            row.payload,
            row.metadata,
        );
        let up = upcast::upcast(serialized, upcasters);
        let parse_err = |e: serde_json::Error| bad(e.to_string());
        let event = match row.aggregate_type.as_str() {
            "Tenant" => DomainEvent::Tenant(serde_json::from_value(up.payload).map_err(parse_err)?),
            "Member" => DomainEvent::Member(serde_json::from_value(up.payload).map_err(parse_err)?),
            "Group" => DomainEvent::Group(serde_json::from_value(up.payload).map_err(parse_err)?),
            "Application" => {
                DomainEvent::Application(serde_json::from_value(up.payload).map_err(parse_err)?)
            }
            "Resource" => {
                DomainEvent::Resource(serde_json::from_value(up.payload).map_err(parse_err)?)
            }
            "Job" => DomainEvent::Job(serde_json::from_value(up.payload).map_err(parse_err)?),
            "Space" => DomainEvent::Space(serde_json::from_value(up.payload).map_err(parse_err)?),
            "NotificationPreferences" => DomainEvent::NotificationPreferences(
                serde_json::from_value(up.payload).map_err(parse_err)?,
            ),
            "Ticket" => DomainEvent::Ticket(serde_json::from_value(up.payload).map_err(parse_err)?),
            "Import" => DomainEvent::Import(serde_json::from_value(up.payload).map_err(parse_err)?),
            _ => DomainEvent::Other,
        };
        Ok(Self {
            position,
            aggregate_id: row.aggregate_id,
            sequence: row.sequence,
            recorded_at: row.recorded_at,
            meta,
            event,
        })
    }

    /// The aggregate id as a UUID (every Medgrid aggregate id is one).
    pub fn aggregate_uuid(&self) -> Result<uuid::Uuid, ProjectionError> {
        self.aggregate_id
            .parse()
            .map_err(|_| ProjectionError::BadEvent {
                position: self.position.global_position,
                what: "aggregate id is not a UUID".into(),
            })
    }
}
