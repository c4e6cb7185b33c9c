//! Background processors: today the read-model projections; later the dispatcher,
//! notifier and archiver, each the same runner with its own checkpoint and lease.

use std::sync::Arc;

use medgrid_projections::runner::{self, RunnerConfig};
use sqlx::PgPool;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The running processors of this process.
pub struct Worker {
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Worker {
    /// Starts one runner per projection. `progress` is bumped after every applied batch.
    pub fn spawn(pool: PgPool, config: RunnerConfig, progress: Arc<watch::Sender<u64>>) -> Self {
        let (shutdown, stop) = watch::channel(false);
        let tasks = medgrid_projections::all()
            .into_iter()
            .map(|projection| {
                tokio::spawn(runner::run(
                    pool.clone(),
                    projection,
                    config.clone(),
                    progress.clone(),
                    stop.clone(),
                ))
            })
            .collect();
        Self { shutdown, tasks }
    }

    /// Asks every processor to stop after its current batch, and waits for them.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}
