//! Read model `notification_preferences`: what each member chose, and each tenant's
//! defaults (one row per owner; only what was chosen, the rest is inherited).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use medgrid_domain::ids::{MemberId, TenantId};
use medgrid_domain::notify::{
    Delivery, Effective, NotificationKind, NotificationPreferencesEvent, Preferences, TimeZoneName,
    Weekday, effective,
};
use serde_json::Value;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use crate::event::{DomainEvent, StoredEvent};
use crate::reader::{Read, Reader};
use crate::runner::{EventByEvent, ProjectionError};

pub struct NotificationPreferencesView;

#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct PreferencesRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub member_id: Option<Uuid>,
    pub choices: Value,
    pub time_zone: Option<String>,
    pub digest_hour: Option<i16>,
    pub digest_weekday: Option<String>,
    pub updated_at: DateTime<Utc>,
    pub position: i64,
}

impl PreferencesRow {
    /// The owner's choices, as the domain knows them (values this build does not know
    /// are left out: they would be inherited).
    pub fn preferences(&self) -> Preferences {
        let choices = self
            .choices
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| {
                let kind: NotificationKind = k.parse().ok()?;
                let delivery: Delivery = serde_json::from_value(v.clone()).ok()?;
                Some((kind, delivery))
            })
            .collect();
        Preferences {
            choices,
            time_zone: self
                .time_zone
                .as_deref()
                .and_then(|z| z.parse::<TimeZoneName>().ok()),
            digest_hour: self.digest_hour.and_then(|h| u8::try_from(h).ok()),
            digest_weekday: self.digest_weekday.as_deref().and_then(Weekday::parse),
        }
    }
}

#[async_trait]
impl EventByEvent for NotificationPreferencesView {
    fn name(&self) -> &'static str {
        "notification_preferences"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["notification_preferences"]
    }

    fn consumes(&self) -> &'static [&'static str] {
        &["NotificationPreferences"]
    }

    async fn apply_one(
        &self,
        db: &mut PgConnection,
        e: &StoredEvent,
    ) -> Result<(), ProjectionError> {
        let DomainEvent::NotificationPreferences(event) = &e.event else {
            return Ok(());
        };
        let NotificationPreferencesEvent::NotificationPreferencesSet { owner, preferences } = event;
        let choices = serde_json::to_value(&preferences.choices)
            .map_err(|err| ProjectionError::Apply(err.to_string()))?;
        sqlx::query(
            "INSERT INTO notification_preferences
                    (id, tenant_id, member_id, choices, time_zone, digest_hour, digest_weekday,
                     updated_at, position)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (id) DO UPDATE
                SET choices = $4, time_zone = $5, digest_hour = $6, digest_weekday = $7,
                    updated_at = $8",
        )
        .bind(e.aggregate_uuid()?)
        .bind(owner.tenant_id().as_uuid())
        .bind(owner.member_id().map(|m| m.as_uuid()))
        .bind(choices)
        .bind(preferences.time_zone.as_ref().map(AsRef::as_ref))
        .bind(preferences.digest_hour.map(i16::from))
        .bind(preferences.digest_weekday.map(Weekday::as_str))
        .bind(e.recorded_at)
        .bind(e.position.global_position)
        .execute(db)
        .await?;
        Ok(())
    }
}

const COLUMNS: &str = "id, tenant_id, member_id, choices, time_zone, digest_hour, digest_weekday, updated_at, position";

/// A member's own choices, if they made any.
pub async fn of_member(
    db: &Reader,
    member: MemberId,
) -> Result<Option<PreferencesRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM notification_preferences WHERE member_id = $1"
    ))
    .bind(member.as_uuid())
    .optional(db)
    .await
}

/// A tenant's defaults, if its administrators set any.
pub async fn of_tenant(
    db: &Reader,
    tenant: TenantId,
) -> Result<Option<PreferencesRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM notification_preferences WHERE tenant_id = $1 AND member_id IS NULL"
    ))
    .bind(tenant.as_uuid())
    .optional(db)
    .await
}

/// What applies to a member (their choice, else their tenant's, else built in), read on
/// any connection: the notifier reads it inside its own transaction.
pub async fn effective_on(
    db: &mut PgConnection,
    tenant: Uuid,
    member: Uuid,
) -> Result<Effective, sqlx::Error> {
    let rows: Vec<PreferencesRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM notification_preferences
          WHERE tenant_id = $1 AND (member_id = $2 OR member_id IS NULL)"
    ))
    .bind(tenant)
    .bind(member)
    .fetch_all(db)
    .await?;
    let of = |own: bool| {
        rows.iter()
            .find(|r| r.member_id.is_some() == own)
            .map(PreferencesRow::preferences)
    };
    Ok(effective(of(true).as_ref(), of(false).as_ref()))
}
