//! The write side: cqrs-es frameworks over postgres-es, one per aggregate, behind the
//! domain's `CommandBus`. A command is retried when another writer changed the same
//! aggregate in between (optimistic concurrency), then returns once the read models have
//! caught up with what it wrote (read-your-writes, bounded).

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{Aggregate, AggregateError, CqrsFramework};
use medgrid_domain::access::{Group, GroupCommand, Member, MemberCommand};
use medgrid_domain::catalog::{Application, ApplicationCommand};
use medgrid_domain::compute::{Resource, ResourceCommand};
use medgrid_domain::error::Coded;
use medgrid_domain::ids::{
    ApplicationId, GroupId, ImportId, JobId, MemberId, PreferencesId, ResourceId, SpaceId,
    TenantId, TicketId,
};
use medgrid_domain::imports::{Import, ImportCommand};
use medgrid_domain::jobs::{Job, JobCommand};
use medgrid_domain::metadata::EventMetadata;
use medgrid_domain::notify::{NotificationPreferences, NotificationPreferencesCommand};
use medgrid_domain::ports::CommandBus;
use medgrid_domain::spaces::{Space, SpaceCommand};
use medgrid_domain::support::{Ticket, TicketCommand};
use medgrid_domain::tenancy::{Tenant, TenantCommand};
use medgrid_domain::{CommandError, upcast};
use medgrid_projections::runner::{self, Position, Projection};
use postgres_es::{PostgresCqrs, PostgresEventRepository};
use sqlx::PgPool;
use tokio::sync::watch;

use crate::claims::ClaimingRepository;
use crate::telemetry::Metrics;

/// Aggregates that grow (tokens, memberships) are snapshotted every this many events.
const SNAPSHOT_EVERY: usize = 20;
/// Attempts at a command that keeps meeting concurrent writers: enough for a dozen writers
/// on one aggregate at once (each round lets one of them through).
const ATTEMPTS: u32 = 12;

/// Waits until the read models include a given write.
#[derive(Clone)]
pub struct ReadYourWrites {
    pool: PgPool,
    /// The read models waited for, each with the aggregate types it consumes.
    readers: Vec<(&'static str, &'static [&'static str])>,
    timeout: Duration,
    /// Bumped by in-process runners after each batch; remote ones are seen by polling.
    progress: watch::Receiver<u64>,
}

impl ReadYourWrites {
    pub fn new(
        pool: PgPool,
        readers: &[Arc<dyn Projection>],
        timeout: Duration,
        progress: watch::Receiver<u64>,
    ) -> Self {
        Self {
            pool,
            readers: readers.iter().map(|p| (p.name(), p.consumes())).collect(),
            timeout,
            progress,
        }
    }

    /// Waits for nothing: commands return as soon as they are written.
    pub fn none(pool: PgPool, progress: watch::Receiver<u64>) -> Self {
        Self::new(pool, &[], Duration::ZERO, progress)
    }

    /// Returns once every read model fed by `aggregate_type` has passed the last event of
    /// this aggregate, or when the timeout expires (the write has happened either way;
    /// only visibility lags).
    pub async fn wait(&self, aggregate_type: &str, aggregate_id: &str) -> Result<(), CommandError> {
        let names: Vec<&str> = self
            .readers
            .iter()
            .filter(|(_, consumes)| consumes.contains(&aggregate_type))
            .map(|(name, _)| *name)
            .collect();
        if names.is_empty() {
            return Ok(());
        }
        let at = runner::last_position(&self.pool, aggregate_type, aggregate_id)
            .await
            .map_err(store_error)?;
        self.wait_until(&names, at).await
    }

    /// Returns once every read model has applied every event written so far (bounded by
    /// the timeout): one wait after many commands instead of one per command.
    pub async fn settle(&self) -> Result<(), CommandError> {
        let names: Vec<&str> = self.readers.iter().map(|(name, _)| *name).collect();
        if names.is_empty() {
            return Ok(());
        }
        let at = runner::head(&self.pool).await.map_err(store_error)?;
        self.wait_until(&names, at).await
    }

    async fn wait_until(&self, names: &[&str], at: Option<Position>) -> Result<(), CommandError> {
        let Some(at) = at else {
            return Ok(());
        };
        let deadline = Instant::now() + self.timeout;
        let mut progress = self.progress.clone();
        loop {
            if runner::all_reached(&self.pool, names, at)
                .await
                .map_err(store_error)?
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                tracing::warn!(
                    ?names,
                    position = at.global_position,
                    "read models lag behind a write"
                );
                return Ok(());
            }
            tokio::select! {
                _ = progress.changed() => {}
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
    }
}

fn store_error(e: runner::ProjectionError) -> CommandError {
    CommandError::Store(e.to_string())
}

/// Tenants write through the claiming repository (issuers, audiences, client ids and names
/// unique across the platform).
type TenantCqrs = CqrsFramework<Tenant, PersistedEventStore<ClaimingRepository, Tenant>>;

pub struct EventStore {
    tenants: TenantCqrs,
    members: PostgresCqrs<Member>,
    groups: PostgresCqrs<Group>,
    applications: PostgresCqrs<Application>,
    resources: PostgresCqrs<Resource>,
    jobs: PostgresCqrs<Job>,
    spaces: PostgresCqrs<Space>,
    preferences: PostgresCqrs<NotificationPreferences>,
    tickets: PostgresCqrs<Ticket>,
    imports: PostgresCqrs<Import>,
    read_your_writes: ReadYourWrites,
    metrics: Arc<Metrics>,
}

fn framework<A: Aggregate<Services = ()>>(
    pool: &PgPool,
    snapshot_every: Option<usize>,
) -> PostgresCqrs<A> {
    let repo = PostgresEventRepository::new(pool.clone());
    let store = match snapshot_every {
        Some(n) => PersistedEventStore::new_snapshot_store(repo, n),
        None => PersistedEventStore::new_event_store(repo),
    };
    CqrsFramework::new(store.with_upcasters(upcast::upcasters()), vec![], ())
}

impl EventStore {
    pub fn new(pool: &PgPool, read_your_writes: ReadYourWrites, metrics: Arc<Metrics>) -> Self {
        Self {
            tenants: CqrsFramework::new(
                PersistedEventStore::new_event_store(ClaimingRepository::new(pool))
                    .with_upcasters(upcast::upcasters()),
                vec![],
                (),
            ),
            members: framework(pool, Some(SNAPSHOT_EVERY)),
            groups: framework(pool, Some(SNAPSHOT_EVERY)),
            applications: framework(pool, None),
            resources: framework(pool, None),
            jobs: framework(pool, Some(SNAPSHOT_EVERY)),
            spaces: framework(pool, Some(SNAPSHOT_EVERY)),
            preferences: framework(pool, Some(SNAPSHOT_EVERY)),
            tickets: framework(pool, Some(SNAPSHOT_EVERY)),
            imports: framework(pool, None),
            read_your_writes,
            metrics,
        }
    }

    async fn execute<A, ES>(
        &self,
        cqrs: &CqrsFramework<A, ES>,
        id: String,
        command: A::Command,
        meta: &EventMetadata,
    ) -> Result<(), CommandError>
    where
        A: Aggregate<Services = ()>,
        A::Command: Clone,
        A::Error: Coded + 'static,
        ES: cqrs_es::EventStore<A>,
    {
        let started = Instant::now();
        let result = self.execute_with_retry(cqrs, &id, command, meta).await;
        let outcome = match &result {
            Ok(()) => "ok",
            Err(e) => e.code().as_str(),
        };
        self.metrics
            .observe_command(A::TYPE, outcome, started.elapsed());
        result?;
        self.read_your_writes.wait(A::TYPE, &id).await
    }

    async fn execute_with_retry<A, ES>(
        &self,
        cqrs: &CqrsFramework<A, ES>,
        id: &str,
        command: A::Command,
        meta: &EventMetadata,
    ) -> Result<(), CommandError>
    where
        A: Aggregate<Services = ()>,
        A::Command: Clone,
        A::Error: Coded + 'static,
        ES: cqrs_es::EventStore<A>,
    {
        for attempt in 1..=ATTEMPTS {
            match cqrs
                .execute_with_metadata(id, command.clone(), meta.to_map())
                .await
            {
                Ok(()) => return Ok(()),
                Err(AggregateError::UserError(e)) => return Err(CommandError::rejected(&e)),
                Err(AggregateError::AggregateConflict) => {
                    tracing::debug!(
                        aggregate = A::TYPE,
                        id,
                        attempt,
                        "concurrent write; retrying"
                    );
                    // spread the retries, more with every round lost
                    let jitter = u64::from(rand::random::<u8>()) % (10 * u64::from(attempt));
                    tokio::time::sleep(Duration::from_millis(u64::from(attempt) * 5 + jitter))
                        .await;
                }
                // refused while appending (a claim someone else holds): nothing was written
                Err(AggregateError::UnexpectedError(e)) => {
                    return Err(match e.downcast_ref::<A::Error>() {
                        Some(refusal) => CommandError::rejected(refusal),
                        None => CommandError::Store(e.to_string()),
                    });
                }
                Err(other) => return Err(CommandError::Store(other.to_string())),
            }
        }
        Err(CommandError::Conflict)
    }
}

#[async_trait]
impl CommandBus for EventStore {
    async fn tenant(
        &self,
        id: TenantId,
        command: TenantCommand,
        meta: &EventMetadata,
    ) -> Result<(), CommandError> {
        self.execute(&self.tenants, id.to_string(), command, meta)
            .await
    }

    async fn member(
        &self,
        id: MemberId,
        command: MemberCommand,
        meta: &EventMetadata,
    ) -> Result<(), CommandError> {
        self.execute(&self.members, id.to_string(), command, meta)
            .await
    }

    async fn group(
        &self,
        id: GroupId,
        command: GroupCommand,
        meta: &EventMetadata,
    ) -> Result<(), CommandError> {
        self.execute(&self.groups, id.to_string(), command, meta)
            .await
    }

    async fn application(
        &self,
        id: ApplicationId,
        command: ApplicationCommand,
        meta: &EventMetadata,
    ) -> Result<(), CommandError> {
        self.execute(&self.applications, id.to_string(), command, meta)
            .await
    }

    async fn resource(
        &self,
        id: ResourceId,
        command: ResourceCommand,
        meta: &EventMetadata,
    ) -> Result<(), CommandError> {
        self.execute(&self.resources, id.to_string(), command, meta)
            .await
    }

    async fn job(
        &self,
        id: JobId,
        command: JobCommand,
        meta: &EventMetadata,
    ) -> Result<(), CommandError> {
        self.execute(&self.jobs, id.to_string(), command, meta)
            .await
    }

    async fn space(
        &self,
        id: SpaceId,
        command: SpaceCommand,
        meta: &EventMetadata,
    ) -> Result<(), CommandError> {
        self.execute(&self.spaces, id.to_string(), command, meta)
            .await
    }

    async fn notification_preferences(
        &self,
        id: PreferencesId,
        command: NotificationPreferencesCommand,
        meta: &EventMetadata,
    ) -> Result<(), CommandError> {
        self.execute(&self.preferences, id.to_string(), command, meta)
            .await
    }

    async fn ticket(
        &self,
        id: TicketId,
        command: TicketCommand,
        meta: &EventMetadata,
    ) -> Result<(), CommandError> {
        self.execute(&self.tickets, id.to_string(), command, meta)
            .await
    }

    async fn import(
        &self,
        id: ImportId,
        command: ImportCommand,
        meta: &EventMetadata,
    ) -> Result<(), CommandError> {
        self.execute(&self.imports, id.to_string(), command, meta)
            .await
    }
}
