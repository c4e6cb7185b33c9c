//! File contents with their bookkeeping: a blob is stored once however many files refer
//! to it, and removed only when no file refers to it and no upload under way claims it.
//!
//! The race this guards against: a member uploads bytes identical to a blob being removed
//! because its last file was just purged. An upload therefore claims the hash (locking the
//! `blobs` row) *before* putting the content in place, and a removal locks the same row,
//! sees no claim, and checks references only once the `spaces` read model has caught up
//! with the log: every upload that released its claim had written its event before.

use std::sync::Arc;
use std::time::Duration;

use medgrid_projections::runner;
use sqlx::PgPool;
use tokio::io::AsyncRead;
use uuid::Uuid;

use crate::blobs::{BlobError, BlobStore, StoredBlob};

/// The read model whose `space_nodes` say which blobs files refer to.
const REFERENCES: &str = "spaces";

/// Claims outlive a crashed upload by this much, then stop protecting their blob.
const STALE_CLAIM: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error("blob bookkeeping: {0}")]
    Db(#[from] sqlx::Error),
    #[error("blob bookkeeping: {0}")]
    Projection(#[from] runner::ProjectionError),
}

/// Content received and in place, claimed until its file is recorded (or given up).
#[derive(Debug)]
#[must_use = "release the claim once the file is recorded or given up"]
pub struct Claim {
    id: Uuid,
    pub blob: StoredBlob,
}

#[derive(Clone)]
pub struct Contents {
    pool: PgPool,
    store: Arc<dyn BlobStore>,
}

impl Contents {
    pub fn new(pool: PgPool, store: Arc<dyn BlobStore>) -> Self {
        Self { pool, store }
    }

    pub fn store(&self) -> &Arc<dyn BlobStore> {
        &self.store
    }

    /// Stores what `body` yields (at most `limit` bytes) and claims it.
    pub async fn receive(
        &self,
        body: &mut (dyn AsyncRead + Send + Unpin),
        limit: u64,
    ) -> Result<Claim, ContentError> {
        let staged = self.store.stage(body, limit).await?;
        let claim = match self.claim(&staged.blob).await {
            Ok(claim) => claim,
            Err(e) => {
                self.store.discard(staged).await;
                return Err(e);
            }
        };
        match self.store.commit(staged).await {
            Ok(_) => Ok(claim),
            Err(e) => {
                self.release(claim).await;
                Err(e.into())
            }
        }
    }

    async fn claim(&self, blob: &StoredBlob) -> Result<Claim, ContentError> {
        let id = Uuid::now_v7();
        let mut tx = self.pool.begin().await?;
        // the upsert locks the row: a removal of this blob waits, or has finished
        sqlx::query(
            "INSERT INTO blobs (sha256, size) VALUES ($1, $2)
             ON CONFLICT (sha256) DO UPDATE SET stored_at = now()",
        )
        .bind(&blob.sha256)
        .bind(i64::try_from(blob.size).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO blob_claims (id, sha256) VALUES ($1, $2)")
            .bind(id)
            .bind(&blob.sha256)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Claim {
            id,
            blob: blob.clone(),
        })
    }

    /// Lets go of a claim; the content goes at once if nothing refers to it (a file that
    /// could not be recorded leaves no orphan behind).
    pub async fn release(&self, claim: Claim) {
        let released = sqlx::query("DELETE FROM blob_claims WHERE id = $1")
            .bind(claim.id)
            .execute(&self.pool)
            .await;
        if let Err(e) = released {
            tracing::warn!(error = %e, "a blob claim stays until it is stale");
            return;
        }
        if let Err(e) = self.collect(&claim.blob.sha256).await {
            tracing::warn!(error = %e, "an unused blob stays until the next sweep");
        }
    }

    /// Removes the blob if no file refers to it and no upload claims it. False when it
    /// stays (still used, or the read model is behind: a later sweep decides).
    pub async fn collect(&self, sha256: &str) -> Result<bool, ContentError> {
        let mut tx = self.pool.begin().await?;
        let locked: Option<(String,)> =
            sqlx::query_as("SELECT sha256 FROM blobs WHERE sha256 = $1 FOR UPDATE")
                .bind(sha256)
                .fetch_optional(&mut *tx)
                .await?;
        if locked.is_none() {
            return Ok(false);
        }
        let (claimed,): (bool,) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM blob_claims
                             WHERE sha256 = $1 AND claimed_at > now() - $2::interval)",
        )
        .bind(sha256)
        .bind(format!("{} seconds", STALE_CLAIM.as_secs()))
        .fetch_one(&mut *tx)
        .await?;
        if claimed {
            return Ok(false);
        }
        // in this order: a claim released before the check above was preceded by its
        // event, which is at or before the head read now
        if let Some(head) = runner::head(&self.pool).await?
            && !runner::all_reached(&self.pool, &[REFERENCES], head).await?
        {
            return Ok(false);
        }
        let (referenced,): (bool,) =
            sqlx::query_as("SELECT EXISTS (SELECT 1 FROM space_nodes WHERE sha256 = $1)")
                .bind(sha256)
                .fetch_one(&mut *tx)
                .await?;
        if referenced {
            return Ok(false);
        }
        self.store.delete(sha256).await?;
        sqlx::query("DELETE FROM blob_claims WHERE sha256 = $1")
            .bind(sha256)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM blobs WHERE sha256 = $1")
            .bind(sha256)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Removes every blob nothing refers to any more; how many went.
    pub async fn sweep(&self) -> Result<usize, ContentError> {
        let candidates: Vec<(String,)> = sqlx::query_as(
            "SELECT b.sha256 FROM blobs b
              WHERE NOT EXISTS (SELECT 1 FROM space_nodes n WHERE n.sha256 = b.sha256)
              LIMIT 1000",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut removed = 0;
        for (sha256,) in candidates {
            if self.collect(&sha256).await? {
                removed += 1;
            }
        }
        Ok(removed)
    }
}
