//! The projection runner: a durable catch-up subscription on the events table.
//!
//! Gap safety. `global_position` is assigned at INSERT, not at COMMIT, so a transaction that
//! inserted early can commit after one that inserted later; a reader that follows positions
//! alone would jump over it forever. Instead we order by `(tx_id, global_position)` and read
//! only events whose writing transaction is below `pg_snapshot_xmin(pg_current_snapshot())`:
//! every transaction below xmin has finished, so no event can still appear below that line.
//!
//! Exactly-once application. A batch is applied and the checkpoint advanced in ONE
//! transaction that starts by locking the checkpoint row: a crash rolls back both, and a
//! second runner (or a rebuild) waits for the lock and then sees the advanced checkpoint.
//! The lease (an advisory lock) only keeps other processes from doing that work in vain.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cqrs_es::persist::EventUpcaster;
use sqlx::postgres::PgListener;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use tokio::sync::watch;

use crate::event::{EventRow, StoredEvent};

/// A place in the log, ordered as the runner reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    pub tx_id: u64,
    pub global_position: i64,
}

impl Position {
    pub fn parse(tx_id: &str, global_position: i64) -> Result<Self, ProjectionError> {
        let tx_id = u64::from_str(tx_id).map_err(|_| ProjectionError::BadEvent {
            position: global_position,
            what: format!("tx_id {tx_id:?}"),
        })?;
        Ok(Self {
            tx_id,
            global_position,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("event at position {position} cannot be read: {what}")]
    BadEvent { position: i64, what: String },
    #[error("{0}")]
    Apply(String),
}

/// A read model (or side-effect processor) fed by the runner.
#[async_trait]
pub trait Projection: Send + Sync + 'static {
    /// Its checkpoint name, and the NAME of `medgrid rebuild NAME`.
    fn name(&self) -> &'static str;
    /// The tables it owns, emptied by a rebuild.
    fn tables(&self) -> &'static [&'static str];
    /// The aggregate types whose events change its tables: a command waits for the read
    /// models of what it wrote, not for every read model.
    fn consumes(&self) -> &'static [&'static str];
    /// Folds a batch of events, in log order, into its tables inside the runner's
    /// transaction. Batches let a projection write set-wise instead of row by row.
    async fn apply(
        &self,
        db: &mut PgConnection,
        events: &[StoredEvent],
    ) -> Result<(), ProjectionError>;
}

/// A read model with few events (institutions, groups, catalog entries): one statement per
/// event is plenty, so it only says how to apply one; the batch loop comes with it.
#[async_trait]
pub trait EventByEvent: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn tables(&self) -> &'static [&'static str];
    fn consumes(&self) -> &'static [&'static str];
    async fn apply_one(
        &self,
        db: &mut PgConnection,
        event: &StoredEvent,
    ) -> Result<(), ProjectionError>;
}

#[async_trait]
impl<T: EventByEvent> Projection for T {
    fn name(&self) -> &'static str {
        EventByEvent::name(self)
    }

    fn tables(&self) -> &'static [&'static str] {
        EventByEvent::tables(self)
    }

    fn consumes(&self) -> &'static [&'static str] {
        EventByEvent::consumes(self)
    }

    async fn apply(
        &self,
        db: &mut PgConnection,
        events: &[StoredEvent],
    ) -> Result<(), ProjectionError> {
        for event in events {
            self.apply_one(db, event).await?;
        }
        Ok(())
    }
}

/// Runner settings.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    pub batch_size: i64,
    /// How long to sleep when no notification arrives (the polling fallback).
    pub poll_interval: Duration,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        Self {
            batch_size: 1000,
            poll_interval: Duration::from_millis(500),
        }
    }
}

/// The last event readable now: every transaction up to it has finished, so nothing can
/// still appear at or before it. The bound is `tx_id < xmin`, so the scan starts below any
/// transaction still open, however many rows that one has written.
const READABLE_END: &str = "
SELECT e.tx_id::text, e.global_position FROM events e
 WHERE e.tx_id < pg_snapshot_xmin(pg_current_snapshot())
 ORDER BY e.tx_id DESC, e.global_position DESC
 LIMIT 1";

/// Reads the events of `types` after `$1, $2` and up to `$3, $4`, at most `$5`, in log
/// order: one branch per type (`$6…`), each an ordered walk of the index `events_by_type`,
/// merged. A projection thus never pages through the events of types it does not read
/// (millions of job events pass a groups read model by). One branch per type because
/// PostgreSQL 15 cannot walk an index in order for `aggregate_type = ANY(…)`.
///
/// The columns are qualified on purpose: an unqualified `ORDER BY tx_id` would sort by the
/// text alias, i.e. "100" before "99", and could not use the index.
fn select_batch(types: usize) -> String {
    let branches: Vec<String> = (0..types)
        .map(|i| {
            format!(
                "(SELECT e.global_position, e.tx_id::text AS tx_id, e.tx_id AS tx, e.aggregate_type,
                         e.aggregate_id, e.sequence, e.event_type, e.event_version, e.payload,
                         e.metadata, e.recorded_at
                    FROM events e
                   WHERE e.aggregate_type = ${param}
                     AND (e.tx_id, e.global_position) > ($1::text::xid8, $2)
                     AND (e.tx_id, e.global_position) <= ($3::text::xid8, $4)
                   ORDER BY e.tx_id, e.global_position
                   LIMIT $5)",
                param = i + 6
            )
        })
        .collect();
    format!(
        "SELECT * FROM ({}) b ORDER BY b.tx, b.global_position LIMIT $5",
        branches.join(" UNION ALL ")
    )
}

/// Begins a rebuild's transaction. Plans are made for each statement's actual values and
/// table sizes: a rebuild grows tables from empty inside one transaction, and a plan cached
/// while they were empty (sequential scans) would make it quadratic. (Live batches are
/// small and their tables do not change size within a transaction: they keep the default.)
async fn begin_rebuild(pool: &PgPool) -> Result<Transaction<'static, Postgres>, ProjectionError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET LOCAL plan_cache_mode = force_custom_plan")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// Locks and reads the checkpoint of `name` inside `tx`, creating it at zero if new.
async fn lock_checkpoint(
    tx: &mut Transaction<'_, Postgres>,
    name: &str,
) -> Result<Position, ProjectionError> {
    const SELECT: &str = "SELECT tx_id::text, global_position FROM projection_checkpoints WHERE name = $1 FOR UPDATE";
    let found: Option<(String, i64)> = sqlx::query_as(SELECT)
        .bind(name)
        .fetch_optional(&mut **tx)
        .await?;
    let (tx_id, gp) = match found {
        Some(row) => row,
        None => {
            sqlx::query(
                "INSERT INTO projection_checkpoints (name) VALUES ($1) ON CONFLICT DO NOTHING",
            )
            .bind(name)
            .execute(&mut **tx)
            .await?;
            sqlx::query_as(SELECT)
                .bind(name)
                .fetch_one(&mut **tx)
                .await?
        }
    };
    Position::parse(&tx_id, gp)
}

async fn save_checkpoint(
    tx: &mut Transaction<'_, Postgres>,
    name: &str,
    at: Position,
) -> Result<(), ProjectionError> {
    sqlx::query(
        "UPDATE projection_checkpoints
            SET tx_id = $2::text::xid8, global_position = $3, updated_at = now()
          WHERE name = $1",
    )
    .bind(name)
    .bind(at.tx_id.to_string())
    .bind(at.global_position)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The position of the last event readable now, if any.
async fn readable_end(db: &mut PgConnection) -> Result<Option<Position>, ProjectionError> {
    let row: Option<(String, i64)> = sqlx::query_as(READABLE_END).fetch_optional(db).await?;
    row.map(|(tx, gp)| Position::parse(&tx, gp)).transpose()
}

/// Reads and applies one batch after `from` inside `tx`; returns the new position and how
/// many events it applied. Only events the projection consumes are read. A batch that is
/// not full has seen everything readable, so the position moves to the readable end: a
/// projection's checkpoint says "read up to here" of the whole log, which is what waiters
/// on it (read-your-writes, the blob collector) compare with.
async fn apply_batch(
    tx: &mut Transaction<'_, Postgres>,
    projection: &dyn Projection,
    upcasters: &[Box<dyn EventUpcaster>],
    from: Position,
    batch_size: i64,
) -> Result<(Position, usize), ProjectionError> {
    // the end first: everything up to it has finished, so the read below cannot miss an
    // event that becomes readable between the two statements
    let Some(end) = readable_end(tx).await? else {
        return Ok((from, 0));
    };
    if end <= from {
        return Ok((from, 0));
    }
    let types = projection.consumes();
    let rows: Vec<EventRow> = if types.is_empty() {
        vec![]
    } else {
        let sql = select_batch(types.len());
        let mut query = sqlx::query_as(&sql)
            .bind(from.tx_id.to_string())
            .bind(from.global_position)
            .bind(end.tx_id.to_string())
            .bind(end.global_position)
            .bind(batch_size);
        for t in types {
            query = query.bind(*t);
        }
        query.fetch_all(&mut **tx).await?
    };
    let read = rows.len();
    let full = read >= usize::try_from(batch_size).unwrap_or(usize::MAX);
    let at = match rows.last() {
        Some(last) if full => Position::parse(&last.tx_id, last.global_position)?,
        _ => end,
    };
    let events = rows
        .into_iter()
        .map(|row| StoredEvent::from_row(row, upcasters))
        .collect::<Result<Vec<_>, _>>()?;
    if !events.is_empty() {
        projection.apply(tx, &events).await?;
    }
    Ok((at, read))
}

/// Applies at most one batch in one transaction. Returns how many events it applied.
pub async fn catch_up_once(
    pool: &PgPool,
    projection: &dyn Projection,
    upcasters: &[Box<dyn EventUpcaster>],
    batch_size: i64,
) -> Result<usize, ProjectionError> {
    let mut tx = pool.begin().await?;
    let from = lock_checkpoint(&mut tx, projection.name()).await?;
    let (at, count) = apply_batch(&mut tx, projection, upcasters, from, batch_size).await?;
    if at != from {
        save_checkpoint(&mut tx, projection.name(), at).await?;
    }
    tx.commit().await?;
    Ok(count)
}

/// Applies batches until the projection has read everything readable.
pub async fn catch_up(
    pool: &PgPool,
    projection: &dyn Projection,
    upcasters: &[Box<dyn EventUpcaster>],
    batch_size: i64,
) -> Result<usize, ProjectionError> {
    let mut total = 0;
    loop {
        let n = catch_up_once(pool, projection, upcasters, batch_size).await?;
        total += n;
        if n < usize::try_from(batch_size).unwrap_or(usize::MAX) {
            return Ok(total);
        }
    }
}

/// Whether events of the projection's types exist beyond its checkpoint that catch-up
/// could not read yet (their transaction, or an older one, was still open): then we look
/// again soon. One EXISTS per type with the checkpoint as constants, so that each walks
/// `events_by_type` from the checkpoint: a join with the checkpoint table or `= ANY` let
/// the planner walk the log-order index instead, through every row of a large open
/// transaction of other types (seconds per question, for each idle processor, in a loop).
async fn has_unread(pool: &PgPool, projection: &dyn Projection) -> Result<bool, ProjectionError> {
    let types = projection.consumes();
    if types.is_empty() {
        return Ok(false);
    }
    let at: Option<(String, i64)> = sqlx::query_as(
        "SELECT tx_id::text, global_position FROM projection_checkpoints WHERE name = $1",
    )
    .bind(projection.name())
    .fetch_optional(pool)
    .await?;
    let at = match at {
        Some((tx, gp)) => Position::parse(&tx, gp)?,
        None => Position::default(),
    };
    let branches: Vec<String> = (0..types.len())
        .map(|i| {
            format!(
                "EXISTS (SELECT 1 FROM events e WHERE e.aggregate_type = ${}
                           AND (e.tx_id, e.global_position) > ($1::text::xid8, $2))",
                i + 3
            )
        })
        .collect();
    let sql = format!("SELECT {}", branches.join(" OR "));
    let mut query = sqlx::query_scalar(&sql)
        .bind(at.tx_id.to_string())
        .bind(at.global_position);
    for t in types {
        query = query.bind(*t);
    }
    Ok(query.fetch_one(pool).await?)
}

/// Empties the projection's tables and replays the whole log into them, in one
/// transaction holding the checkpoint lock: readers see the old tables until it commits,
/// and a live runner resumes from the rebuilt checkpoint afterwards.
pub async fn rebuild(
    pool: &PgPool,
    projection: &dyn Projection,
    upcasters: &[Box<dyn EventUpcaster>],
    batch_size: i64,
) -> Result<usize, ProjectionError> {
    let mut tx = begin_rebuild(pool).await?;
    lock_checkpoint(&mut tx, projection.name()).await?;
    let tables = projection.tables().join(", ");
    if !tables.is_empty() {
        sqlx::query(&format!("TRUNCATE {tables}"))
            .execute(&mut *tx)
            .await?;
    }
    let mut at = Position::default();
    let mut total = 0;
    loop {
        let (next, n) = apply_batch(&mut tx, projection, upcasters, at, batch_size).await?;
        at = next;
        total += n;
        if n < usize::try_from(batch_size).unwrap_or(usize::MAX) {
            break;
        }
    }
    save_checkpoint(&mut tx, projection.name(), at).await?;
    tx.commit().await?;
    Ok(total)
}

/// Holds the advisory lock that makes this process the one running `name`. The lock lives
/// as long as its connection: dropped (or lost), another process takes over.
pub struct Lease {
    conn: PgConnection,
}

impl Lease {
    /// Fails when the lease's connection is gone (and with it the lock).
    pub async fn check(&mut self) -> Result<(), ProjectionError> {
        sqlx::query("SELECT 1").execute(&mut self.conn).await?;
        Ok(())
    }
}

/// Waits until this process holds the lease of `name`; None when `shutdown` came first.
pub async fn wait_for_lease(
    pool: &PgPool,
    name: &str,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<Option<Lease>, ProjectionError> {
    loop {
        if let Some(lease) = try_lease(pool, name).await? {
            tracing::info!(processor = name, "lease taken");
            return Ok(Some(lease));
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = shutdown.changed() => return Ok(None),
        }
    }
}

async fn try_lease(pool: &PgPool, name: &str) -> Result<Option<Lease>, ProjectionError> {
    let mut conn = pool.acquire().await?.detach();
    let got: bool =
        sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext('medgrid.processor.' || $1))")
            .bind(name)
            .fetch_one(&mut conn)
            .await?;
    Ok(got.then_some(Lease { conn }))
}

/// Runs one projection until `shutdown` turns true: waits for the lease, then catches up
/// on every notification (and at least every poll interval). `progress` is bumped after
/// each applied batch so in-process waiters (read-your-writes) look again at once.
pub async fn run(
    pool: PgPool,
    projection: Arc<dyn Projection>,
    config: RunnerConfig,
    progress: Arc<watch::Sender<u64>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let upcasters = medgrid_domain::upcast::upcasters();
    let name = projection.name();
    while !*shutdown.borrow() {
        match run_leased(
            &pool,
            &*projection,
            &upcasters,
            &config,
            &progress,
            &mut shutdown,
        )
        .await
        {
            Ok(()) => {}
            Err(e) => pause_after_failure(name, &e, &mut shutdown).await,
        }
    }
}

/// After a processor failed (a lost connection, a restarted database): says so and waits a
/// moment, or until shutdown, before it starts again.
pub async fn pause_after_failure(
    name: &str,
    error: &ProjectionError,
    shutdown: &mut watch::Receiver<bool>,
) {
    tracing::error!(processor = name, error = %error, "processor failed; restarting in 1 s");
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        _ = shutdown.changed() => {}
    }
}

async fn run_leased(
    pool: &PgPool,
    projection: &dyn Projection,
    upcasters: &[Box<dyn EventUpcaster>],
    config: &RunnerConfig,
    progress: &watch::Sender<u64>,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), ProjectionError> {
    let name = projection.name();
    let Some(_lease) = wait_for_lease(pool, name, shutdown).await? else {
        return Ok(());
    };
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen("medgrid_events").await?;
    let full = usize::try_from(config.batch_size).unwrap_or(usize::MAX);
    loop {
        // batch by batch, so that a stop is not held up by a long catch-up (millions of
        // events behind: hours for a slow read model)
        loop {
            let applied = catch_up_once(pool, projection, upcasters, config.batch_size).await?;
            if applied > 0 {
                progress.send_modify(|n| *n = n.wrapping_add(1));
            }
            if *shutdown.borrow() {
                return Ok(());
            }
            if applied < full {
                break;
            }
        }
        // Something committed beyond our line while an older transaction was open: that
        // older one may finish without notifying, so look again soon instead of waiting.
        let wait = if has_unread(pool, projection).await? {
            Duration::from_millis(10)
        } else {
            config.poll_interval
        };
        if !wait_for_events(&mut listener, projection.consumes(), wait, shutdown).await? {
            return Ok(());
        }
    }
}

/// Sleeps until a notification names one of `types`, or for at most `wait`. Returns false
/// when `shutdown` came first. Notifications of other types pass by: a processor does no
/// work for events it does not read.
pub async fn wait_for_events(
    listener: &mut PgListener,
    types: &[&str],
    wait: Duration,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<bool, ProjectionError> {
    let deadline = tokio::time::sleep(wait);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            note = listener.recv() => {
                let note = note?;
                // an empty hint (from an older trigger) may be anything
                if note.payload().is_empty() || types.contains(&note.payload()) {
                    return Ok(true);
                }
            }
            _ = &mut deadline => return Ok(true),
            _ = shutdown.changed() => return Ok(false),
        }
    }
}

/// The position of the last event in the log (in the order runners read it).
pub async fn head(pool: &PgPool) -> Result<Option<Position>, ProjectionError> {
    let row: Option<(String, i64)> = sqlx::query_as(
        // qualified: an unqualified ORDER BY tx_id would sort by the text column
        "SELECT e.tx_id::text, e.global_position FROM events e
          ORDER BY e.tx_id DESC, e.global_position DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await?;
    row.map(|(tx, gp)| Position::parse(&tx, gp)).transpose()
}

/// The position of the last event of one aggregate (what a command just wrote).
pub async fn last_position(
    pool: &PgPool,
    aggregate_type: &str,
    aggregate_id: &str,
) -> Result<Option<Position>, ProjectionError> {
    let row: Option<(String, i64)> = sqlx::query_as(
        "SELECT tx_id::text, global_position FROM events
          WHERE aggregate_type = $1 AND aggregate_id = $2
          ORDER BY sequence DESC LIMIT 1",
    )
    .bind(aggregate_type)
    .bind(aggregate_id)
    .fetch_optional(pool)
    .await?;
    row.map(|(tx, gp)| Position::parse(&tx, gp)).transpose()
}

/// Whether every named projection has applied `at`.
pub async fn all_reached(
    pool: &PgPool,
    names: &[&str],
    at: Position,
) -> Result<bool, ProjectionError> {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let reached: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM projection_checkpoints
          WHERE name = ANY($1) AND (tx_id, global_position) >= ($2::text::xid8, $3)",
    )
    .bind(&names)
    .bind(at.tx_id.to_string())
    .bind(at.global_position)
    .fetch_one(pool)
    .await?;
    Ok(usize::try_from(reached).unwrap_or(0) >= names.len())
}

/// How far behind each processor is, in events (for /metrics and /readyz).
pub async fn lag(pool: &PgPool) -> Result<Vec<(String, i64)>, ProjectionError> {
    let (names, types): (Vec<&str>, Vec<String>) = crate::all()
        .iter()
        .map(|p| (p.name(), p.consumes().join(",")))
        .unzip();
    Ok(sqlx::query_as(
        "SELECT c.name, (SELECT count(*) FROM events e
                          WHERE (e.tx_id, e.global_position) > (c.tx_id, c.global_position)
                            AND e.aggregate_type = ANY(string_to_array(p.types, ',')))
           FROM projection_checkpoints c
           JOIN unnest($1::text[], $2::text[]) AS p (name, types) ON p.name = c.name
          ORDER BY c.name",
    )
    .bind(&names)
    .bind(&types)
    .fetch_all(pool)
    .await?)
}
