//! The loop of a processor that works in rounds (the archiver, the importer): one
//! instance at a time by lease, a round on every event of the types it wakes on, and at
//! least every interval; after a failure, a pause and a fresh start.

use std::future::Future;
use std::time::Duration;

use medgrid_projections::runner::{self, ProjectionError};
use sqlx::PgPool;
use tokio::sync::watch;

/// Runs `round` (which says how much it did) while this process holds the lease `name`,
/// until `shutdown`.
pub async fn run<F, Fut>(
    pool: &PgPool,
    name: &str,
    wakes_on: &[&str],
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
    round: F,
) where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<usize, ProjectionError>>,
{
    while !*shutdown.borrow() {
        if let Err(e) = leased(pool, name, wakes_on, every, &mut shutdown, &round).await {
            runner::pause_after_failure(name, &e, &mut shutdown).await;
        }
    }
}

async fn leased<F, Fut>(
    pool: &PgPool,
    name: &str,
    wakes_on: &[&str],
    every: Duration,
    shutdown: &mut watch::Receiver<bool>,
    round: &F,
) -> Result<(), ProjectionError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<usize, ProjectionError>>,
{
    let Some(mut lease) = runner::wait_for_lease(pool, name, shutdown).await? else {
        return Ok(());
    };
    let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
    listener.listen("medgrid_events").await?;
    loop {
        // a lost lease means another instance may be running: stop first
        lease.check().await?;
        let done = round().await?;
        // after doing something, look again soon (more may wait than one round takes)
        let wait = if done > 0 {
            Duration::from_millis(50)
        } else {
            every
        };
        if !runner::wait_for_events(&mut listener, wakes_on, wait, shutdown).await? {
            return Ok(());
        }
    }
}
