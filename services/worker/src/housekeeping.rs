//! Housekeeping of spaces, every so often: what has stayed in a trash longer than the
//! retention period is purged (an event like any other, caused by the system), resumable
//! uploads left untouched past their expiry are removed with their spool files, then file
//! contents nothing refers to any more are removed from the blob store.

use std::sync::Arc;
use std::time::Duration;

use medgrid_domain::Code;
use medgrid_domain::ids::{NodeId, SpaceId, TenantId};
use medgrid_domain::metadata::{Causer, EventMetadata};
use medgrid_domain::ports::CommandBus;
use medgrid_domain::spaces::SpaceCommand;
use medgrid_infra::contents::Contents;
use medgrid_infra::uploads::Uploads;
use sqlx::PgPool;
use tokio::sync::watch;
use uuid::Uuid;

/// Purged per round at most (the rest waits for the next round).
const BATCH: i64 = 500;

#[derive(Clone)]
pub struct Housekeeping {
    pub pool: PgPool,
    pub bus: Arc<dyn CommandBus>,
    pub contents: Contents,
    /// Resumable uploads under way (their expiry is theirs: set as they are written).
    pub uploads: Uploads,
    /// How long something stays in a trash before it is purged.
    pub trash_retention: Duration,
    /// How often a round runs.
    pub every: Duration,
}

impl Housekeeping {
    /// Purges what has been in a trash longer than the retention; how many were purged.
    pub async fn empty_trash(&self) -> anyhow::Result<usize> {
        let expired: Vec<(Uuid, Uuid, Uuid)> = sqlx::query_as(
            "SELECT id, space_id, tenant_id FROM space_nodes
              WHERE trashed_at < now() - $1::interval ORDER BY trashed_at LIMIT $2",
        )
        .bind(format!("{} seconds", self.trash_retention.as_secs()))
        .bind(BATCH)
        .fetch_all(&self.pool)
        .await?;
        let mut purged = 0;
        for (node, space, tenant) in expired {
            let meta = EventMetadata::new(
                TenantId::from_uuid(tenant),
                Causer::System("trash-retention".into()),
                None,
            );
            let purge = SpaceCommand::Purge {
                node_id: NodeId::from_uuid(node),
            };
            match self
                .bus
                .space(SpaceId::from_uuid(space), purge, &meta)
                .await
            {
                Ok(()) => purged += 1,
                // restored meanwhile, or gone with a folder purged before it
                Err(e) if matches!(e.code(), Code::NotFound | Code::Conflict) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(purged)
    }

    async fn round(&self) {
        match self.empty_trash().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "trash emptied past its retention"),
            Err(e) => tracing::warn!(error = %e, "emptying trashes failed"),
        }
        match self.uploads.expire().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "expired resumable uploads removed"),
            Err(e) => tracing::warn!(error = %e, "removing expired uploads failed"),
        }
        match self.contents.sweep().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "unused file contents removed"),
            Err(e) => tracing::warn!(error = %e, "sweeping unused file contents failed"),
        }
    }

    /// Runs rounds until `stop` says so.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            self.round().await;
            tokio::select! {
                _ = tokio::time::sleep(self.every) => {}
                _ = stop.changed() => return,
            }
        }
    }
}
