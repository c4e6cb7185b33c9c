//! Resumable uploads under way (tus, served by `services/api/src/resumable.rs`): a row in
//! `uploads` per upload, and a spool file with the bytes received so far.
//!
//! One request at a time writes to an upload: it holds a [`Lease`], a session advisory
//! lock on a connection of its own, while it appends or completes. Not a row lock: that
//! would keep a transaction open for the hours a large PATCH may take, and the read models
//! never read past the oldest open transaction. The lock goes with its connection, so a
//! crashed replica leaves nothing locked.
//!
//! The offset only counts bytes that reached the disk: the writer fsyncs, then records.
//! Bytes past the recorded offset (written, then cut before they were recorded) are cut off
//! by the next append, so a client always resumes from what is on disk.

use std::io::{self, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use medgrid_domain::ids::{MemberId, TenantId};
use medgrid_projections::reader::{Read, Reader};
use sqlx::{PgConnection, PgPool};
use tokio::fs::{File, OpenOptions};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use uuid::Uuid;

/// Bytes between two fsync-and-record checkpoints of a long append: at most this much is
/// received again after a crash of the process.
const CHECKPOINT: u64 = 64 << 20;

/// Bytes read from a request at a time (what one append keeps in memory).
const BUFFER: usize = 256 << 10;

/// Expired uploads removed per round at most (the rest waits for the next round).
const BATCH: i64 = 500;

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("uploads: {0}")]
    Db(#[from] sqlx::Error),
    #[error("upload spool: {0}")]
    Io(#[from] io::Error),
    /// The spool file is missing or shorter than the recorded offset: the spool directory
    /// is not shared between replicas, or was wiped.
    #[error("the spool file of upload {0} is missing or short")]
    SpoolLost(Uuid),
}

/// An upload under way, as recorded.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Upload {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub member_id: Uuid,
    /// The folder the file goes to.
    pub parent: Uuid,
    pub name: String,
    pub media_type: String,
    #[sqlx(try_from = "i64")]
    pub length: u64,
    /// Bytes received and on disk.
    #[sqlx(try_from = "i64")]
    pub offset: u64,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl Upload {
    pub fn is_complete(&self) -> bool {
        self.offset == self.length
    }
}

/// What a member asks to upload (already checked against the space).
#[derive(Debug, Clone)]
pub struct NewUpload {
    pub tenant: TenantId,
    pub member: MemberId,
    pub parent: Uuid,
    pub name: String,
    pub media_type: String,
    pub length: u64,
}

/// How an append ended.
#[derive(Debug)]
pub enum End {
    /// The body ended; the upload may still lack bytes (a chunk).
    Finished,
    /// The body broke off (connection cut): what reached the disk is kept.
    Cut(io::Error),
    /// The body went past the upload's length: nothing of this request is kept.
    Overflow,
}

#[derive(Debug)]
pub struct Appended {
    /// The upload's offset now.
    pub offset: u64,
    pub end: End,
}

/// The uploads under way and their spool directory.
#[derive(Clone)]
pub struct Uploads {
    pool: PgPool,
    spool: PathBuf,
    expiry: Duration,
}

impl Uploads {
    pub fn new(pool: PgPool, spool: impl Into<PathBuf>, expiry: Duration) -> io::Result<Self> {
        let spool = spool.into();
        std::fs::create_dir_all(&spool)?;
        Ok(Self {
            pool,
            spool,
            expiry,
        })
    }

    /// Where an upload's bytes are kept.
    pub fn spool_path(&self, id: Uuid) -> PathBuf {
        self.spool.join(id.simple().to_string())
    }

    /// Records a new upload and its empty spool file.
    pub async fn create(&self, new: NewUpload) -> Result<Upload, UploadError> {
        let id = Uuid::new_v4();
        let path = self.spool_path(id);
        File::create(&path).await?.sync_all().await?;
        sync_dir(&self.spool).await?;
        let created = sqlx::query_as(
            "INSERT INTO uploads (id, tenant_id, member_id, parent, name, media_type, length,
                                  expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, now() + $8::interval)
             RETURNING *",
        )
        .bind(id)
        .bind(new.tenant.as_uuid())
        .bind(new.member.as_uuid())
        .bind(new.parent)
        .bind(&new.name)
        .bind(&new.media_type)
        .bind(i64::try_from(new.length).unwrap_or(i64::MAX))
        .bind(interval(self.expiry))
        .fetch_one(&self.pool)
        .await;
        match created {
            Ok(upload) => Ok(upload),
            Err(e) => {
                remove_spool(&path).await;
                Err(e.into())
            }
        }
    }

    /// Upload `id` if `member` of `tenant` created it; anyone else's is None, like an
    /// unknown one. Read through `db`, the caller's confined reader.
    pub async fn find(
        &self,
        db: &Reader,
        tenant: TenantId,
        member: MemberId,
        id: Uuid,
    ) -> Result<Option<Upload>, UploadError> {
        Ok(sqlx::query_as(
            "SELECT * FROM uploads WHERE id = $1 AND tenant_id = $2 AND member_id = $3",
        )
        .bind(id)
        .bind(tenant.as_uuid())
        .bind(member.as_uuid())
        .optional(db)
        .await?)
    }

    /// The right to write to upload `id`; None while another request holds it.
    pub async fn lease(&self, id: Uuid) -> Result<Option<Lease>, UploadError> {
        // a connection of its own: the lock lives and dies with it
        let mut conn = self.pool.acquire().await?.detach();
        let got: bool = sqlx::query_scalar(
            "SELECT pg_try_advisory_lock(hashtextextended('medgrid.upload.' || $1::text, 0))",
        )
        .bind(id)
        .fetch_one(&mut conn)
        .await?;
        Ok(got.then(|| Lease {
            conn,
            id,
            path: self.spool_path(id),
            expiry: self.expiry,
        }))
    }

    /// Removes uploads nobody has written to for the expiry period, spool files too; how
    /// many went. One being written to right now stays (its writer pushes the expiry back).
    pub async fn expire(&self) -> Result<usize, UploadError> {
        let expired: Vec<Uuid> = sqlx::query_scalar(
            "SELECT id FROM uploads WHERE expires_at < now() ORDER BY expires_at LIMIT $1",
        )
        .bind(BATCH)
        .fetch_all(&self.pool)
        .await?;
        let mut removed = 0;
        for id in expired {
            let Some(lease) = self.lease(id).await? else {
                continue;
            };
            if lease.remove_if_expired().await? {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// The right to write to one upload, held until dropped or released.
pub struct Lease {
    conn: PgConnection,
    id: Uuid,
    path: PathBuf,
    expiry: Duration,
}

impl Lease {
    /// The upload as it is now: the request before may have moved it on, or removed it.
    pub async fn current(&mut self) -> Result<Option<Upload>, UploadError> {
        Ok(sqlx::query_as("SELECT * FROM uploads WHERE id = $1")
            .bind(self.id)
            .fetch_optional(&mut self.conn)
            .await?)
    }

    /// Appends what `body` yields to `upload` (as [`Lease::current`] read it), never past
    /// its length. Memory stays bounded; what reached the disk counts, even when the body
    /// breaks off.
    pub async fn append(
        &mut self,
        upload: &Upload,
        body: &mut (dyn AsyncRead + Send + Unpin),
    ) -> Result<Appended, UploadError> {
        let start = upload.offset;
        let mut file = self.open_at(start).await?;
        let mut buffer = vec![0u8; BUFFER];
        let mut at = start;
        let mut recorded = start;
        let end = loop {
            let room = upload.length - at;
            // with no room left, one byte more tells whether the body goes past the end
            let want = usize::try_from(room).map_or(BUFFER, |r| r.clamp(1, BUFFER));
            let n = match body.read(&mut buffer[..want]).await {
                Ok(0) => break End::Finished,
                Ok(n) => n,
                Err(e) => break End::Cut(e),
            };
            if room == 0 {
                break End::Overflow;
            }
            file.write_all(&buffer[..n]).await?;
            at += n as u64;
            if at - recorded >= CHECKPOINT {
                self.checkpoint(&mut file, at).await?;
                recorded = at;
            }
        };
        if matches!(end, End::Overflow) {
            // the whole request is refused: back to where it started
            file.set_len(start).await?;
            at = start;
        }
        self.checkpoint(&mut file, at).await?;
        Ok(Appended { offset: at, end })
    }

    /// The upload's spool file, cut back to `offset` and positioned there.
    async fn open_at(&self, offset: u64) -> Result<File, UploadError> {
        let opened = OpenOptions::new().write(true).open(&self.path).await;
        let mut file = match opened {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(UploadError::SpoolLost(self.id));
            }
            Err(e) => return Err(e.into()),
        };
        if file.metadata().await?.len() < offset {
            return Err(UploadError::SpoolLost(self.id));
        }
        // bytes past the offset were never recorded: a write cut before its checkpoint
        file.set_len(offset).await?;
        file.seek(SeekFrom::Start(offset)).await?;
        Ok(file)
    }

    /// Makes what was written durable, then records it (and pushes the expiry back).
    async fn checkpoint(&mut self, file: &mut File, offset: u64) -> Result<(), UploadError> {
        file.flush().await?;
        file.sync_data().await?;
        sqlx::query(
            "UPDATE uploads SET \"offset\" = $2, expires_at = now() + $3::interval
              WHERE id = $1",
        )
        .bind(self.id)
        .bind(i64::try_from(offset).unwrap_or(i64::MAX))
        .bind(interval(self.expiry))
        .execute(&mut self.conn)
        .await?;
        Ok(())
    }

    /// The received bytes, for the blob store once the upload is complete.
    pub async fn read(&self, upload: &Upload) -> Result<tokio::io::Take<File>, UploadError> {
        match File::open(&self.path).await {
            Ok(file) => Ok(file.take(upload.length)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(UploadError::SpoolLost(self.id)),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes the upload: its row, then its spool file.
    pub async fn remove(mut self) -> Result<(), UploadError> {
        sqlx::query("DELETE FROM uploads WHERE id = $1")
            .bind(self.id)
            .execute(&mut self.conn)
            .await?;
        remove_spool(&self.path).await;
        self.release().await;
        Ok(())
    }

    /// Removes the upload if it has expired (checked under the lease: a write may have
    /// pushed the expiry back meanwhile).
    async fn remove_if_expired(mut self) -> Result<bool, UploadError> {
        let gone = sqlx::query("DELETE FROM uploads WHERE id = $1 AND expires_at < now()")
            .bind(self.id)
            .execute(&mut self.conn)
            .await?
            .rows_affected()
            > 0;
        if gone {
            remove_spool(&self.path).await;
        }
        self.release().await;
        Ok(gone)
    }

    /// Lets go of the upload for the next request (dropping the lease does too, a moment
    /// later, when the database notices the connection is gone).
    pub async fn release(self) {
        if let Err(e) = sqlx::Connection::close(self.conn).await {
            tracing::debug!(error = %e, "an upload's lease connection closed badly");
        }
    }
}

fn interval(d: Duration) -> String {
    format!("{} seconds", d.as_secs())
}

/// Removes a spool file; one left behind only takes room, so a failure is logged.
async fn remove_spool(path: &Path) {
    match tokio::fs::remove_file(path).await {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(error = %e, path = %path.display(), "a spool file stays"),
    }
}

/// Makes a new file's directory entry durable.
async fn sync_dir(dir: &Path) -> io::Result<()> {
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || std::fs::File::open(dir)?.sync_all())
        .await
        .map_err(io::Error::other)?
}
