//! Platform-wide claims (`medgrid_domain::tenancy::claims`): an issuer with an audience, an
//! issuer with a client id, a tenant name as people read it. They are taken and released in
//! the transaction that appends a tenant's events, under a unique key (`unique_claims`),
//! so of two registrations at once one wins and the other writes nothing; its command ends
//! with the claim's refusal (CONFLICT).
//!
//! Events written before claims existed are replayed once, on the first start after
//! migration 0028 ([`backfill`]): the oldest registration keeps each claim, and every later
//! provider colliding with it gets an `IdentityProviderDisabled` event, written in that same
//! transaction — the log, not a silently edited row, says why it admits nobody.

use std::collections::HashMap;

use cqrs_es::Aggregate;
use cqrs_es::persist::{
    PersistedEventRepository, PersistenceError, ReplayStream, SerializedEvent, SerializedSnapshot,
};
use medgrid_domain::ids::TenantId;
use medgrid_domain::metadata::{Causer, EventMetadata};
use medgrid_domain::tenancy::claims::{self, Claim, ClaimChange};
use medgrid_domain::tenancy::{Tenant, TenantEvent};
use medgrid_domain::upcast;
use postgres_es::PostgresEventRepository;
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

/// Who the backfill's events name as their cause.
const BACKFILL_ACTOR: &str = "unique-claims";

/// postgres-es's repository, except that a tenant's events are appended here, with the
/// claims they take and release, in one transaction.
pub struct ClaimingRepository {
    inner: PostgresEventRepository,
    pool: PgPool,
}

impl ClaimingRepository {
    pub fn new(pool: &PgPool) -> Self {
        Self {
            inner: PostgresEventRepository::new(pool.clone()),
            pool: pool.clone(),
        }
    }
}

impl PersistedEventRepository for ClaimingRepository {
    async fn get_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.inner.get_events::<A>(aggregate_id).await
    }

    async fn get_last_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.inner
            .get_last_events::<A>(aggregate_id, last_sequence)
            .await
    }

    async fn get_snapshot<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        self.inner.get_snapshot::<A>(aggregate_id).await
    }

    async fn persist<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        if A::TYPE != Tenant::TYPE {
            return self.inner.persist::<A>(events, snapshot_update).await;
        }
        if snapshot_update.is_some() {
            // tenants are not snapshotted (infra/src/store.rs): say so rather than skip it
            return Err(PersistenceError::UnknownError(
                "tenant snapshots are not supported".into(),
            ));
        }
        let mut tx = self.pool.begin().await.map_err(store)?;
        // the backfill holds EXCLUSIVE: a writer waits for it rather than being half-seen
        sqlx::query("LOCK TABLE unique_claims IN ROW EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await
            .map_err(store)?;
        for event in events {
            insert_event(&mut tx, event).await?;
        }
        for event in events {
            let tenant: TenantId = event
                .aggregate_id
                .parse()
                .map_err(|_| PersistenceError::UnknownError("a tenant id is not a UUID".into()))?;
            let typed: TenantEvent = serde_json::from_value(event.payload.clone())
                .map_err(|e| PersistenceError::UnknownError(Box::new(e)))?;
            apply(&mut tx, claims::change(tenant, &typed)).await?;
        }
        tx.commit().await.map_err(store)?;
        Ok(())
    }

    async fn stream_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<ReplayStream, PersistenceError> {
        self.inner.stream_events::<A>(aggregate_id).await
    }

    async fn stream_all_events<A: Aggregate>(&self) -> Result<ReplayStream, PersistenceError> {
        self.inner.stream_all_events::<A>().await
    }
}

/// A unique violation on `events` is a concurrent writer (retried, like postgres-es does).
fn store(e: sqlx::Error) -> PersistenceError {
    match &e {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => {
            PersistenceError::OptimisticLockError
        }
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) => PersistenceError::ConnectionError(Box::new(e)),
        _ => PersistenceError::UnknownError(Box::new(e)),
    }
}

/// The INSERT postgres-es writes (its columns; the others have defaults).
async fn insert_event(
    db: &mut PgConnection,
    event: &SerializedEvent,
) -> Result<(), PersistenceError> {
    let sequence = i64::try_from(event.sequence)
        .map_err(|_| PersistenceError::UnknownError("sequence out of range".into()))?;
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&event.aggregate_type)
    .bind(&event.aggregate_id)
    .bind(sequence)
    .bind(&event.event_type)
    .bind(&event.event_version)
    .bind(&event.payload)
    .bind(&event.metadata)
    .execute(db)
    .await
    .map_err(store)?;
    Ok(())
}

/// Releases, then takes; a claim someone else holds refuses the whole transaction.
async fn apply(db: &mut PgConnection, change: ClaimChange) -> Result<(), PersistenceError> {
    if let Some(owner) = change.release {
        sqlx::query("DELETE FROM unique_claims WHERE owner = $1")
            .bind(owner)
            .execute(&mut *db)
            .await
            .map_err(store)?;
    }
    for claim in change.take {
        if !take(db, &claim).await.map_err(store)? {
            return Err(PersistenceError::UnknownError(Box::new(claim.kind.taken())));
        }
    }
    Ok(())
}

/// Whether `claim` is now held by its owner. A concurrent taker's row is waited for (the
/// unique key), then seen as taken.
async fn take(db: &mut PgConnection, claim: &Claim) -> Result<bool, sqlx::Error> {
    let held: Option<i32> = sqlx::query_scalar(
        "INSERT INTO unique_claims (kind, key, owner) VALUES ($1, $2, $3)
         ON CONFLICT (kind, key) DO UPDATE SET owner = EXCLUDED.owner
               WHERE unique_claims.owner = EXCLUDED.owner
         RETURNING 1",
    )
    .bind(claim.kind.as_str())
    .bind(&claim.key)
    .bind(claim.owner)
    .fetch_optional(db)
    .await?;
    Ok(held.is_some())
}

#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("tenant event at position {position} cannot be read: {what}")]
    BadEvent { position: i64, what: String },
    #[error("a disabling event cannot be written: {0}")]
    Write(String),
}

/// Takes the claims of the events written before claims existed and disables the
/// providers that collide (see the module's documentation). Runs when migration 0028
/// left it due, in one transaction: after a crash it runs again from the start. Returns
/// how many providers it disabled.
pub async fn backfill(pool: &PgPool) -> Result<usize, BackfillError> {
    let mut tx = pool.begin().await?;
    // one backfill at a time, and no tenant write meanwhile (they take ROW EXCLUSIVE)
    sqlx::query("LOCK TABLE unique_claims IN EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    let due = sqlx::query("DELETE FROM unique_claims_backfill")
        .execute(&mut *tx)
        .await?
        .rows_affected()
        > 0;
    if !due {
        return Ok(0);
    }
    let rows: Vec<(i64, String, i64, String, String, Value, Value)> = sqlx::query_as(
        "SELECT global_position, aggregate_id, sequence, event_type, event_version, payload, metadata
           FROM events WHERE aggregate_type = 'Tenant' ORDER BY global_position",
    )
    .fetch_all(&mut *tx)
    .await?;
    let upcasters = upcast::upcasters();
    let mut log = Vec::with_capacity(rows.len());
    let mut last_sequence: HashMap<TenantId, i64> = HashMap::new();
    for (position, id, sequence, event_type, event_version, payload, metadata) in rows {
        let bad = |what: String| BackfillError::BadEvent { position, what };
        let tenant: TenantId = id.parse().map_err(|_| bad("aggregate id".into()))?;
        let serialized = SerializedEvent::new(
            id,
            usize::try_from(sequence).unwrap_or_default(),
            Tenant::TYPE.to_owned(),
            event_type,
            event_version,
            payload,
            metadata,
        );
        let up = upcast::upcast(serialized, &upcasters);
        let event: TenantEvent =
            serde_json::from_value(up.payload).map_err(|e| bad(e.to_string()))?;
        let last = last_sequence.entry(tenant).or_default();
        *last = (*last).max(sequence);
        log.push((tenant, event));
    }
    let replayed = claims::replay(log.iter().map(|(t, e)| (*t, e)));
    for claim in &replayed.claims {
        // a claim already there is its owner's (tenant writes waited for this lock)
        sqlx::query(
            "INSERT INTO unique_claims (kind, key, owner) VALUES ($1, $2, $3)
             ON CONFLICT (kind, key) DO NOTHING",
        )
        .bind(claim.kind.as_str())
        .bind(&claim.key)
        .bind(claim.owner)
        .execute(&mut *tx)
        .await?;
    }
    for collision in &replayed.collisions {
        let sequence = last_sequence.entry(collision.tenant).or_default();
        *sequence += 1;
        let event = TenantEvent::IdentityProviderDisabled {
            provider_id: collision.provider_id,
            reason: collision.reason(),
        };
        let meta = EventMetadata::new(
            collision.tenant,
            Causer::System(BACKFILL_ACTOR.into()),
            None,
        );
        let serialized = SerializedEvent::new(
            collision.tenant.to_string(),
            usize::try_from(*sequence).unwrap_or_default(),
            Tenant::TYPE.to_owned(),
            cqrs_es::DomainEvent::event_type(&event),
            cqrs_es::DomainEvent::event_version(&event),
            serde_json::to_value(&event).map_err(|e| BackfillError::Write(e.to_string()))?,
            serde_json::to_value(meta.to_map()).map_err(|e| BackfillError::Write(e.to_string()))?,
        );
        insert_event(&mut tx, &serialized)
            .await
            .map_err(|e| BackfillError::Write(e.to_string()))?;
        tracing::warn!(
            tenant = %collision.tenant,
            provider = %collision.provider_id,
            claim = collision.kind.as_str(),
            "an identity provider registered before claims existed collides with an older one: disabled"
        );
    }
    tx.commit().await?;
    Ok(replayed.collisions.len())
}
