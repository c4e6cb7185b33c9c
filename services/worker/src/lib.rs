//! Background processors: the read-model projections and the dispatcher, each with its
//! own lease; the archiver (job outputs into their owners' homes); the housekeeping of
//! spaces (trash retention, unused contents); the notifier and the mailer (`notify`).

pub mod archiver;
pub mod dispatcher;
pub mod housekeeping;
pub mod images;
pub mod importer;
pub mod notify;
mod rounds;

use std::sync::Arc;

use archiver::Archiver;
use dispatcher::{Dispatcher, DispatcherConfig};
use housekeeping::Housekeeping;
use importer::Importer;
use medgrid_projections::runner::{self, RunnerConfig};
use notify::{Mailer, Notifier};
use sqlx::PgPool;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The processors besides the projections this process runs (each when given).
#[derive(Default)]
pub struct Processors {
    pub dispatcher: Option<(Arc<Dispatcher>, DispatcherConfig)>,
    pub archiver: Option<Arc<Archiver>>,
    pub housekeeping: Option<Housekeeping>,
    pub importer: Option<Arc<Importer>>,
    /// The notifier and the mailer, which sends what it writes.
    pub mailer: Option<Arc<Mailer>>,
}

/// The running processors of this process.
pub struct Worker {
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Worker {
    /// Starts one runner per projection, and the other processors given. `progress` is
    /// bumped after every applied batch.
    pub fn spawn(
        pool: PgPool,
        config: RunnerConfig,
        progress: Arc<watch::Sender<u64>>,
        processors: Processors,
    ) -> Self {
        let Processors {
            dispatcher,
            archiver,
            housekeeping,
            importer,
            mailer,
        } = processors;
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
        if let Some(archiver) = archiver {
            tasks.push(tokio::spawn(archiver.run(stop.clone())));
        }
        if let Some(importer) = importer {
            tasks.push(tokio::spawn(importer.run_processor(stop.clone())));
        }
        if let Some(mailer) = mailer {
            tasks.push(tokio::spawn(runner::run(
                pool.clone(),
                Arc::new(Notifier),
                config.clone(),
                progress.clone(),
                stop.clone(),
            )));
            tasks.push(tokio::spawn(mailer.run(stop.clone())));
        }
        if let Some(chores) = housekeeping {
            tasks.push(tokio::spawn(chores.run(stop)));
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
