//! Background processors: the read-model projections and the dispatcher, each with its
//! own lease; the sweeper of unused file contents; later the notifier and archiver.

pub mod dispatcher;

use std::sync::Arc;
use std::time::Duration;

use dispatcher::{Dispatcher, DispatcherConfig};
use medgrid_infra::contents::Contents;
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
    /// Starts one runner per projection, and the dispatcher if given. `progress` is bumped
    /// after every applied batch.
    pub fn spawn(
        pool: PgPool,
        config: RunnerConfig,
        progress: Arc<watch::Sender<u64>>,
        dispatcher: Option<(Arc<Dispatcher>, DispatcherConfig)>,
        sweeper: Option<(Contents, Duration)>,
    ) -> Self {
        let (shutdown, stop) = watch::channel(false);
        let mut tasks: Vec<JoinHandle<()>> = medgrid_projections::all()
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
        if let Some((dispatcher, config)) = dispatcher {
            tasks.push(tokio::spawn(dispatcher::run(
                dispatcher,
                config,
                stop.clone(),
            )));
        }
        if let Some((contents, every)) = sweeper {
            tasks.push(tokio::spawn(sweep(contents, every, stop)));
        }
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

/// Removes, every `every`, the file contents nothing refers to any more (purged files,
/// uploads that were given up).
async fn sweep(contents: Contents, every: Duration, mut stop: watch::Receiver<bool>) {
    loop {
        match contents.sweep().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "unused file contents removed"),
            Err(e) => tracing::warn!(error = %e, "sweeping unused file contents failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
    }
}
