//! The importer: runs the imports members ask for (an http(s) URL, an S3 prefix, a
//! DICOMweb study or series), one at a time, while this process holds the `importer`
//! lease. Each item is streamed into the content store within the room the space's and
//! the tenant's quotas leave, then recorded as a file of the target folder with a node id
//! derived from the import and the item, so an import resumed after a crash skips what it
//! recorded before and makes no doubles. DICOM is de-identified (PS3.15 basic profile)
//! before a byte of it is stored. Every address is checked by the SSRF guard right
//! before connecting, and the connection goes to the addresses checked.

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use medgrid_domain::Code;
use medgrid_domain::error::CommandError;
use medgrid_domain::ids::{ImportId, NodeId, SpaceId, TenantId};
use medgrid_domain::imports::{DicomWebAuthKind, ImportCommand, ImportSource, SealedRequest};
use medgrid_domain::metadata::{Causer, EventMetadata};
use medgrid_domain::ports::{CommandBus, SecretStore};
use medgrid_domain::spaces::{Blob, NodeName, SpaceCommand, guess_media_type};
use medgrid_infra::blobs::BlobError;
use medgrid_infra::contents::{Claim, ContentError, Contents};
use medgrid_infra::dicom::{
    Deidentifier, DicomWebAuth, DicomWebClient, DicomWebError, DicomWebSettings, NewUids,
    SpooledInstance,
};
use medgrid_infra::imports::Guard;
use medgrid_infra::imports::http::{self, FetchError};
use medgrid_infra::imports::s3::{S3Object, S3Source};
use medgrid_projections::imports::{self, ImportRow};
use medgrid_projections::runner::ProjectionError;
use medgrid_projections::{Reader, spaces};
use sqlx::PgPool;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::watch;

/// Imports looked at per round at most.
const BATCH: i64 = 20;
/// Tries of one network step (a fetch, a listing, a retrieval) before the import fails.
const TRIES: u32 = 4;
/// Progress is recorded at most this often…
const PROGRESS_EVERY: Duration = Duration::from_secs(2);
/// …or after this many files.
const PROGRESS_FILES: u64 = 20;
/// Name of a file whose URL names none.
const FALLBACK_NAME: &str = "download";

pub struct Importer {
    pub pool: PgPool,
    pub bus: Arc<dyn CommandBus>,
    pub contents: Contents,
    pub sealed: Arc<dyn SecretStore>,
    pub guard: Guard,
    /// The largest file one upload may bring (`MEDGRID_UPLOAD_MAX_BYTES`).
    pub max_bytes: u64,
    /// The most objects one S3 import lists (`MEDGRID_IMPORT_MAX_FILES`).
    pub max_files: u64,
    /// The largest DICOM instance retrieved (`MEDGRID_DICOMWEB_INSTANCE_MAX_BYTES`).
    pub max_instance_bytes: u64,
    /// Where DICOM instances are spooled between the server and the content store.
    pub spool_dir: PathBuf,
    /// Longest pause between rounds (import events wake it sooner).
    pub every: Duration,
    /// First pause between tries of a network step (doubling).
    pub backoff: Duration,
}

/// Why an import stopped before its end.
#[derive(Debug)]
enum Stop {
    /// For good: recorded as FAILED with this reason.
    Failed(String),
    /// Its owner cancelled it.
    Cancelled,
    /// For now (the database, the event store): the next round resumes it.
    Later(String),
    /// A network step broke: tried again, then Failed.
    Retry(String),
}

impl From<sqlx::Error> for Stop {
    fn from(e: sqlx::Error) -> Self {
        Self::Later(e.to_string())
    }
}

impl From<CommandError> for Stop {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::Rejected { message, .. } => Self::Failed(message),
            other => Self::Later(other.to_string()),
        }
    }
}

fn meta(tenant: TenantId) -> EventMetadata {
    EventMetadata::new(tenant, Causer::System("importer".into()), None)
}

/// A name valid in a space, from whatever a server or a key calls the file.
fn sanitize(raw: &str) -> String {
    let cleaned: String = raw
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    let trimmed = cleaned.trim();
    if trimmed.is_empty() || trimmed == "." || trimmed == ".." {
        return FALLBACK_NAME.to_owned();
    }
    // room for " (99)" within the 255 bytes a name may have
    let mut end = trimmed.len().min(240);
    while !trimmed.is_char_boundary(end) {
        end -= 1;
    }
    trimmed[..end].to_owned()
}

/// `scan.nii` → `scan (2).nii`.
fn numbered(name: &str, n: u32) -> String {
    match name.rfind('.') {
        Some(dot) if dot > 0 => format!("{} ({n}){}", &name[..dot], &name[dot..]),
        _ => format!("{name} ({n})"),
    }
}

fn node_name(raw: &str) -> Result<NodeName, Stop> {
    raw.parse()
        .map_err(|_| Stop::Failed(format!("{raw:?} cannot be a file name in a space")))
}

fn bytes_of(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// One import under way.
struct Run {
    id: ImportId,
    tenant: TenantId,
    space: SpaceId,
    folder: NodeId,
    files: u64,
    bytes: u64,
    reported: (u64, Instant),
    /// Set once the import is cancelled: the transfer under way stops at its next bytes.
    cancel: Arc<AtomicBool>,
}

/// A body that counts the bytes it brings and breaks off once its import is cancelled
/// (the content store then drops what it staged, as for any broken transfer).
struct Transfer<'a> {
    inner: &'a mut (dyn AsyncRead + Send + Unpin),
    cancel: Arc<AtomicBool>,
    /// Bytes read so far of this file.
    read: Arc<AtomicU64>,
}

impl AsyncRead for Transfer<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.cancel.load(Ordering::Relaxed) {
            return Poll::Ready(Err(std::io::Error::other("the import was cancelled")));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut *self.inner).poll_read(cx, buf);
        let got = buf.filled().len().saturating_sub(before);
        self.read.fetch_add(got as u64, Ordering::Relaxed);
        polled
    }
}

impl Importer {
    fn db(&self) -> Reader {
        Reader::system(&self.pool)
    }

    /// Works on the imports waiting; how many were settled (finished or given up).
    pub async fn round(&self) -> Result<usize, ProjectionError> {
        let waiting = imports::unfinished(&self.db(), BATCH).await?;
        let mut settled = 0;
        for row in waiting {
            if self.work(&row).await {
                settled += 1;
            }
        }
        Ok(settled)
    }

    /// Runs one import to its end (true) or until something passing stops it (false).
    async fn work(&self, row: &ImportRow) -> bool {
        let id = ImportId::from_uuid(row.id);
        let tenant = TenantId::from_uuid(row.tenant_id);
        let mut run = Run {
            id,
            tenant,
            space: SpaceId::from_uuid(row.space_id),
            folder: NodeId::from_uuid(row.folder_id),
            files: 0,
            bytes: 0,
            reported: (bytes_of(row.files), Instant::now()),
            cancel: Arc::default(),
        };
        let watcher = tokio::spawn(watch_cancel(self.pool.clone(), id, run.cancel.clone()));
        let outcome = self.run(row, &mut run).await;
        watcher.abort();
        let end = match outcome {
            Ok(()) => ImportCommand::Succeed {
                files: run.files,
                bytes: run.bytes,
                reason: format!("Imported {} files ({} bytes)", run.files, run.bytes),
            },
            Err(Stop::Failed(why) | Stop::Retry(why)) => {
                let kept = if run.files > 0 {
                    format!(
                        "; the {} files imported before stay in the folder",
                        run.files
                    )
                } else {
                    String::new()
                };
                ImportCommand::Fail {
                    reason: format!("{why}{kept}"),
                }
            }
            Err(Stop::Cancelled) => {
                let _ = self.sealed.remove(id.as_uuid()).await;
                return true;
            }
            Err(Stop::Later(why)) => {
                tracing::warn!(import = %id, error = %why, "import interrupted; resuming next round");
                return false;
            }
        };
        match self.bus.import(id, end, &meta(tenant)).await {
            Ok(()) => {}
            // cancelled meanwhile: what it brought stays, as the cancel says
            Err(e) if e.code() == Code::Conflict => {}
            Err(e) => {
                tracing::warn!(import = %id, error = %e, "recording the end of an import failed");
                return false;
            }
        }
        if let Err(e) = self.sealed.remove(id.as_uuid()).await {
            tracing::warn!(import = %id, error = %e, "a sealed import request stays");
        }
        true
    }

    async fn run(&self, row: &ImportRow, run: &mut Run) -> Result<(), Stop> {
        if row.state == "REQUESTED" {
            match self
                .bus
                .import(run.id, ImportCommand::Start, &meta(run.tenant))
                .await
            {
                Err(e) if e.code() == Code::Conflict => return Err(Stop::Cancelled),
                other => other?,
            }
        }
        let source = row
            .source()
            .ok_or_else(|| Stop::Failed("the import's source cannot be read".into()))?;
        let sealed = self
            .sealed
            .get(run.id.as_uuid())
            .await?
            .and_then(|text| SealedRequest::from_sealed(&text))
            .ok_or_else(|| Stop::Failed("the import's request is gone: ask again".into()))?;
        let folder = spaces::node(&self.db(), run.folder.as_uuid())
            .await?
            .filter(|n| n.is_folder() && !n.in_trash)
            .ok_or_else(|| Stop::Failed("the target folder is gone or in the trash".into()))?;
        debug_assert_eq!(folder.space_id, run.space.as_uuid());
        match (source, sealed) {
            (ImportSource::Url { .. }, SealedRequest::Url { url }) => {
                self.import_url(run, &url).await
            }
            (
                ImportSource::S3 {
                    endpoint,
                    region,
                    bucket,
                    prefix,
                    access_key_id,
                },
                SealedRequest::S3 { secret_access_key },
            ) => {
                let pinned = self
                    .guard
                    .check(&endpoint)
                    .await
                    .map_err(|r| Stop::Failed(format!("endpoint: {r}")))?;
                let source = S3Source::new(
                    &pinned,
                    &region,
                    &bucket,
                    &prefix,
                    &access_key_id,
                    secret_access_key.into(),
                );
                self.import_s3(run, &source, bytes_of(row.bytes)).await
            }
            (ImportSource::DicomWeb { base_url, auth }, sealed) => {
                self.import_dicomweb(run, &base_url, &auth, sealed).await
            }
            _ => Err(Stop::Failed(
                "the import's request does not match its source".into(),
            )),
        }
    }

    /// Tries `step` until it works, fails for good, or `TRIES` tries broke.
    async fn retried<T, F, Fut>(&self, what: &str, mut step: F) -> Result<T, Stop>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, Stop>>,
    {
        let mut pause = self.backoff;
        for attempt in 1..=TRIES {
            match step().await {
                Err(Stop::Retry(why)) if attempt < TRIES => {
                    tracing::info!(attempt, error = %why, "{what} failed; trying again");
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
                Err(Stop::Retry(why)) => {
                    return Err(Stop::Failed(format!("{what} failed {TRIES} times: {why}")));
                }
                other => return other,
            }
        }
        Err(Stop::Failed(format!("{what} failed")))
    }

    /// The size of the item's file if the import recorded it before (a resumed import).
    async fn recorded(&self, run: &Run, key: &str) -> Result<Option<u64>, Stop> {
        let id = NodeId::imported(run.id, key);
        Ok(spaces::node(&self.db(), id.as_uuid())
            .await?
            .map(|n| bytes_of(n.size)))
    }

    async fn count(&self, run: &mut Run, size: u64) -> Result<(), Stop> {
        run.files += 1;
        run.bytes += size;
        let (files, at) = run.reported;
        if run.files >= files + PROGRESS_FILES || at.elapsed() >= PROGRESS_EVERY {
            let progress = ImportCommand::Progress {
                files: run.files,
                bytes: run.bytes,
            };
            match self.bus.import(run.id, progress, &meta(run.tenant)).await {
                Err(e) if e.code() == Code::Conflict => return Err(Stop::Cancelled),
                other => other?,
            }
            run.reported = (run.files, Instant::now());
        }
        Ok(())
    }

    async fn cancelled(&self, run: &Run) -> Result<(), Stop> {
        match imports::by_id(&self.db(), run.id).await? {
            Some(row) if row.state == "CANCELLED" => Err(Stop::Cancelled),
            _ => Ok(()),
        }
    }

    /// A free name in `parent`: `name`, else `name (2)`, `name (3)`…
    async fn free_name(&self, parent: NodeId, name: &str) -> Result<NodeName, Stop> {
        for n in 1..=99 {
            let candidate = if n == 1 {
                name.to_owned()
            } else {
                numbered(name, n)
            };
            if spaces::child(&self.db(), parent.as_uuid(), &candidate)
                .await?
                .is_none()
            {
                return node_name(&candidate);
            }
        }
        Err(Stop::Failed(format!(
            "too many files called {name:?} in the folder"
        )))
    }

    /// The import's folder for `key` under `parent`, made when missing.
    async fn folder(
        &self,
        run: &Run,
        parent: NodeId,
        key: &str,
        name: &str,
    ) -> Result<NodeId, Stop> {
        let id = NodeId::imported(run.id, &format!("dir:{key}"));
        if spaces::node(&self.db(), id.as_uuid()).await?.is_some() {
            return Ok(id);
        }
        let make = SpaceCommand::CreateFolder {
            node_id: id,
            parent,
            name: self.free_name(parent, &sanitize(name)).await?,
        };
        match self.bus.space(run.space, make, &meta(run.tenant)).await {
            Ok(()) => Ok(id),
            Err(e) if e.code() == Code::Conflict => Err(Stop::Later(e.to_string())),
            Err(e) => Err(e.into()),
        }
    }

    /// Streams one item into the content store and records it as a file of `parent`.
    /// Receives a file's content, recording the bytes brought so far every
    /// `PROGRESS_EVERY` while it comes: a large file shows progress before it is whole.
    async fn receive(
        &self,
        run: &Run,
        body: &mut Transfer<'_>,
        limit: u64,
        read: &AtomicU64,
    ) -> Result<Claim, ContentError> {
        let receiving = self.contents.receive(body, limit);
        tokio::pin!(receiving);
        let mut shown = 0;
        loop {
            tokio::select! {
                received = &mut receiving => return received,
                () = tokio::time::sleep(PROGRESS_EVERY) => {
                    let now = read.load(Ordering::Relaxed);
                    if now != shown {
                        shown = now;
                        self.show_partial(run, now).await;
                    }
                }
            }
        }
    }

    /// Records the counts with `partial` bytes of the file under way; an import that
    /// ended meanwhile (cancelled) stops its transfer.
    async fn show_partial(&self, run: &Run, partial: u64) {
        let progress = ImportCommand::Progress {
            files: run.files,
            bytes: run.bytes + partial,
        };
        match self.bus.import(run.id, progress, &meta(run.tenant)).await {
            Ok(()) => {}
            Err(e) if e.code() == Code::Conflict => run.cancel.store(true, Ordering::Relaxed),
            // only a figure shown: the next one, or the file's end, corrects it
            Err(e) => tracing::info!(import = %run.id, error = %e, "progress not recorded"),
        }
    }

    /// Records what the whole import brings; an import that ended meanwhile stops.
    async fn size(&self, run: &Run, files: u64, bytes: u64) -> Result<(), Stop> {
        let size = ImportCommand::Size { files, bytes };
        match self.bus.import(run.id, size, &meta(run.tenant)).await {
            Err(e) if e.code() == Code::Conflict => Err(Stop::Cancelled),
            other => Ok(other?),
        }
    }

    async fn store(
        &self,
        run: &mut Run,
        parent: NodeId,
        key: &str,
        name: &str,
        media_type: &str,
        body: &mut (dyn AsyncRead + Send + Unpin),
    ) -> Result<(), Stop> {
        let space = spaces::space_by_id(&self.db(), run.space.as_uuid())
            .await?
            .ok_or_else(|| Stop::Failed("the space is gone".into()))?;
        let room = spaces::room(&self.db(), &space).await?;
        let full = |what: &str| {
            Stop::Failed(format!(
                "quota exceeded: {what} is used up before {name:?} could be imported"
            ))
        };
        let limit = match room {
            spaces::Room::SpaceFull => return Err(full("the space's quota")),
            spaces::Room::TenantFull => return Err(full("your institution's storage quota")),
            room => room.limit(self.max_bytes).unwrap_or(self.max_bytes),
        };
        let read = Arc::new(AtomicU64::new(0));
        let mut body = Transfer {
            inner: body,
            cancel: run.cancel.clone(),
            read: read.clone(),
        };
        let claim = match self.receive(run, &mut body, limit, &read).await {
            Ok(claim) => claim,
            Err(ContentError::Blob(BlobError::TooLarge { limit })) => {
                let why = if limit < self.max_bytes {
                    format!(
                        "quota exceeded: {name:?} does not fit in the {limit} bytes the space's or the institution's quota leaves"
                    )
                } else {
                    format!("{name:?} is larger than the {limit} bytes one file may have")
                };
                return Err(Stop::Failed(why));
            }
            Err(ContentError::Blob(BlobError::Io(_))) if run.cancel.load(Ordering::Relaxed) => {
                return Err(Stop::Cancelled);
            }
            Err(ContentError::Blob(BlobError::Io(e))) => {
                return Err(Stop::Retry(format!("transfer of {name:?} broke: {e}")));
            }
            Err(e) => return Err(Stop::Later(e.to_string())),
        };
        let node_id = NodeId::imported(run.id, key);
        let size = claim.blob.size;
        let recorded = async {
            let upload = SpaceCommand::UploadFile {
                node_id,
                parent,
                name: self.free_name(parent, name).await?,
                blob: Blob {
                    sha256: claim.blob.sha256.clone(),
                    size,
                    media_type: media_type.to_owned(),
                },
            };
            match self.bus.space(run.space, upload, &meta(run.tenant)).await {
                Ok(()) => Ok(()),
                Err(e) if e.code() == Code::QuotaExceeded => Err(Stop::Failed(format!(
                    "quota exceeded while importing {name:?}: {e}"
                ))),
                // recorded by an earlier try, or a name taken meanwhile: the next round sees
                Err(e) if e.code() == Code::Conflict => Err(Stop::Later(e.to_string())),
                Err(e) => Err(e.into()),
            }
        }
        .await;
        // recorded or not, the claim goes: unrecorded content is removed with it
        self.contents.release(claim).await;
        recorded?;
        self.count(run, size).await
    }

    async fn import_url(&self, run: &mut Run, url: &str) -> Result<(), Stop> {
        const KEY: &str = "url";
        if let Some(size) = self.recorded(run, KEY).await? {
            return self.count(run, size).await;
        }
        let folder = run.folder;
        self.retried("the download", || async {
            let fetched = http::get(&self.guard, url).await.map_err(|e| match e {
                FetchError::Refused(why) => Stop::Failed(format!("refused: {why}")),
                FetchError::Transient(why) => Stop::Retry(why),
                FetchError::Final(why) => Stop::Failed(why),
            })?;
            let name = fetched
                .file_name()
                .map_or_else(|| FALLBACK_NAME.to_owned(), |n| sanitize(&n));
            let media = fetched
                .media_type()
                .unwrap_or_else(|| guess_media_type(&name).to_owned());
            if let Some(length) = fetched.response.content_length() {
                self.size(run, 1, length).await?;
            }
            let mut body = fetched.into_reader();
            // a fresh Run view per try: counts change only once stored
            let mut attempt = run.clone_counts();
            let stored = self
                .store(&mut attempt, folder, KEY, &name, &media, &mut body)
                .await;
            stored.map(|()| attempt)
        })
        .await
        .map(|done| run.take_counts(done))
    }

    /// The bytes this import may still bring: the room the space's and the tenant's quotas
    /// leave, plus what it brought before it was interrupted (`already`, already counted
    /// as used); None without a quota.
    async fn allowance(&self, run: &Run, already: u64) -> Result<Option<u64>, Stop> {
        let space = spaces::space_by_id(&self.db(), run.space.as_uuid())
            .await?
            .ok_or_else(|| Stop::Failed("the space is gone".into()))?;
        let free = match spaces::room(&self.db(), &space).await? {
            spaces::Room::Unlimited => return Ok(None),
            spaces::Room::Bytes(room) => room,
            spaces::Room::SpaceFull | spaces::Room::TenantFull => 0,
        };
        Ok(Some(free.saturating_add(already)))
    }

    /// Every object under the source's prefix, listed page by page. Each page is checked
    /// before the next is asked for: the listing stops as soon as the objects listed are
    /// more than the quotas leave (`allowance`), than `max_files`, or one is larger than
    /// a file may be, so an endless or huge listing costs one page beyond the limit.
    async fn listing(
        &self,
        source: &S3Source,
        allowance: Option<u64>,
    ) -> Result<Vec<S3Object>, Stop> {
        let mut all: Vec<S3Object> = vec![];
        let mut bytes: u64 = 0;
        let mut token: Option<String> = None;
        for page in 1_u64.. {
            let (objects, next) = self
                .retried("listing the bucket", || async {
                    source.list(token.clone()).await.map_err(Stop::Retry)
                })
                .await?;
            for object in &objects {
                if object.size > self.max_bytes {
                    return Err(Stop::Failed(format!(
                        "{:?} is larger than the {} bytes one file may have; nothing was imported",
                        object.relative, self.max_bytes
                    )));
                }
                bytes = bytes.saturating_add(object.size);
            }
            all.extend(objects);
            if all.len() as u64 > self.max_files {
                return Err(Stop::Failed(format!(
                    "the prefix holds more than {} objects (MEDGRID_IMPORT_MAX_FILES): the listing stopped at page {page}; import a narrower prefix",
                    self.max_files
                )));
            }
            if let Some(allowed) = allowance
                && bytes > allowed
            {
                return Err(Stop::Failed(format!(
                    "quota exceeded: the objects listed in the first {page} pages already hold {bytes} bytes, more than the {allowed} bytes the space's or the institution's quota leaves; the listing stopped there and nothing was imported"
                )));
            }
            match next {
                Some(next) => token = Some(next),
                None => break,
            }
        }
        Ok(all)
    }

    async fn import_s3(&self, run: &mut Run, source: &S3Source, already: u64) -> Result<(), Stop> {
        // listed whole first, so the import's size is known before its first byte
        let allowance = self.allowance(run, already).await?;
        let objects = self.listing(source, allowance).await?;
        let bytes = objects.iter().map(|o| o.size).sum();
        self.size(run, objects.len() as u64, bytes).await?;
        for object in objects {
            self.cancelled(run).await?;
            let key = format!("s3:{}", object.relative);
            if let Some(size) = self.recorded(run, &key).await? {
                self.count(run, size).await?;
                continue;
            }
            let parts: Vec<&str> = object
                .relative
                .split('/')
                .filter(|p| !p.is_empty())
                .collect();
            let Some((file, dirs)) = parts.split_last() else {
                continue;
            };
            let mut parent = run.folder;
            for depth in 0..dirs.len() {
                let path = dirs[..=depth].join("/");
                parent = self
                    .folder(run, parent, &format!("s3:{path}"), dirs[depth])
                    .await?;
            }
            let name = sanitize(file);
            let media = guess_media_type(&name).to_owned();
            let done = self
                .retried("an object's download", || async {
                    let mut body = source.get(&object.key).await.map_err(Stop::Retry)?;
                    let mut attempt = run.clone_counts();
                    self.store(&mut attempt, parent, &key, &name, &media, &mut body)
                        .await
                        .map(|()| attempt)
                })
                .await?;
            run.take_counts(done);
        }
        Ok(())
    }

    async fn import_dicomweb(
        &self,
        run: &mut Run,
        base_url: &str,
        auth: &DicomWebAuthKind,
        sealed: SealedRequest,
    ) -> Result<(), Stop> {
        let SealedRequest::DicomWeb {
            study_instance_uid,
            series_instance_uid,
            bearer_token,
            password,
            key,
        } = sealed
        else {
            return Err(Stop::Failed(
                "the import's request does not match its source".into(),
            ));
        };
        let key: [u8; 32] = hex::decode(&key)
            .ok()
            .and_then(|k| k.try_into().ok())
            .ok_or_else(|| Stop::Failed("the import's key cannot be read".into()))?;
        let deidentifier = Arc::new(Deidentifier::new(key));
        let auth = match (auth, bearer_token, password) {
            (DicomWebAuthKind::Bearer, Some(token), _) => Some(DicomWebAuth::Bearer(token.into())),
            (DicomWebAuthKind::Basic { username }, _, Some(password)) => {
                Some(DicomWebAuth::Basic {
                    username: username.clone(),
                    password: password.into(),
                })
            }
            _ => None,
        };
        self.retried("the DICOMweb retrieval", || async {
            let pinned = self
                .guard
                .check(base_url)
                .await
                .map_err(|r| Stop::Failed(format!("refused: {r}")))?;
            let mut settings = DicomWebSettings::new(base_url);
            settings.auth = auth.clone();
            settings.max_instance_bytes = self.max_instance_bytes;
            settings.spool_dir = Some(self.spool_dir.clone());
            settings.pinned = pinned.domain.clone().map(|d| (d, pinned.addrs.clone()));
            let client = DicomWebClient::new(settings).map_err(|e| Stop::Failed(e.to_string()))?;
            let stream = match &series_instance_uid {
                Some(series) => client.retrieve_series(&study_instance_uid, series).await,
                None => client.retrieve_study(&study_instance_uid).await,
            };
            let mut stream = stream.map_err(dicomweb_stop)?;
            let mut attempt = run.clone_counts();
            while let Some(instance) = stream.next_instance().await.map_err(dicomweb_stop)? {
                self.cancelled(&attempt).await?;
                let (out, file) = self.deidentified(&deidentifier, instance).await?;
                let item = format!("dicom:{}", out.sop_instance_uid);
                if let Some(size) = self.recorded(&attempt, &item).await? {
                    self.count(&mut attempt, size).await?;
                    continue;
                }
                let study = self
                    .folder(
                        &attempt,
                        attempt.folder,
                        &format!("dicom:{}", out.study_instance_uid),
                        &out.study_instance_uid,
                    )
                    .await?;
                let series = self
                    .folder(
                        &attempt,
                        study,
                        &format!(
                            "dicom:{}/{}",
                            out.study_instance_uid, out.series_instance_uid
                        ),
                        &out.series_instance_uid,
                    )
                    .await?;
                let name = format!("{}.dcm", out.sop_instance_uid);
                let mut body = tokio::io::BufReader::new(tokio::fs::File::from_std(file));
                self.store(
                    &mut attempt,
                    series,
                    &item,
                    &name,
                    "application/dicom",
                    &mut body,
                )
                .await?;
            }
            if attempt.files == 0 {
                return Err(Stop::Failed(
                    "the server sent no instance for this study or series".into(),
                ));
            }
            Ok(attempt)
        })
        .await
        .map(|done| run.take_counts(done))
    }

    /// De-identifies a spooled instance into another spooled file (read from its start),
    /// off the async workers: de-identification parses the whole data set.
    async fn deidentified(
        &self,
        deidentifier: &Arc<Deidentifier>,
        instance: SpooledInstance,
    ) -> Result<(NewUids, std::fs::File), Stop> {
        let deidentifier = deidentifier.clone();
        let dir = self.spool_dir.clone();
        let done = tokio::task::spawn_blocking(move || {
            use std::io::{BufReader, BufWriter, Seek, Write};
            let spool = |e: std::io::Error| Stop::Later(format!("spooling an instance: {e}"));
            let mut out = tempfile::tempfile_in(&dir).map_err(spool)?;
            let mut writer = BufWriter::new(&mut out);
            let uids = deidentifier
                .deidentify_from(BufReader::new(instance.file), &mut writer)
                .map_err(|e| {
                    Stop::Failed(format!(
                        "a retrieved instance could not be de-identified ({e}); nothing of it was stored"
                    ))
                })?;
            writer.flush().map_err(spool)?;
            drop(writer);
            out.rewind().map_err(spool)?;
            Ok((uids, out))
        })
        .await;
        done.map_err(|e| Stop::Later(format!("de-identification stopped: {e}")))?
    }

    /// Runs rounds while this process holds the importer lease, until `shutdown`.
    pub async fn run_processor(self: Arc<Self>, shutdown: watch::Receiver<bool>) {
        let every = self.every;
        crate::rounds::run(&self.pool, "importer", &["Import"], every, shutdown, || {
            self.round()
        })
        .await;
    }
}

impl Run {
    /// A copy whose counts a try may advance; taken back once the try worked.
    fn clone_counts(&self) -> Self {
        Self {
            id: self.id,
            tenant: self.tenant,
            space: self.space,
            folder: self.folder,
            files: self.files,
            bytes: self.bytes,
            reported: self.reported,
            cancel: self.cancel.clone(),
        }
    }

    fn take_counts(&mut self, done: Self) {
        self.files = done.files;
        self.bytes = done.bytes;
        self.reported = done.reported;
    }
}

/// Sets `cancel` once the import shows as cancelled (looked at twice a second).
async fn watch_cancel(pool: PgPool, id: ImportId, cancel: Arc<AtomicBool>) {
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if let Ok(Some(row)) = imports::by_id(&Reader::system(&pool), id).await
            && row.state == "CANCELLED"
        {
            cancel.store(true, Ordering::Relaxed);
            return;
        }
    }
}

fn dicomweb_stop(e: DicomWebError) -> Stop {
    match e {
        DicomWebError::Http(_) | DicomWebError::Truncated | DicomWebError::Spool(_) => {
            Stop::Retry(e.to_string())
        }
        DicomWebError::Status(code) if code == 429 || code >= 500 => Stop::Retry(e.to_string()),
        DicomWebError::Status(404) => {
            Stop::Failed("the DICOMweb server has no such study or series".into())
        }
        other => Stop::Failed(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_made_valid_and_numbered() {
        assert_eq!(sanitize("../etc/passwd"), ".._etc_passwd");
        assert_eq!(sanitize(".."), FALLBACK_NAME);
        assert_eq!(sanitize("  "), FALLBACK_NAME);
        assert_eq!(sanitize("a\u{0}b"), "a_b");
        assert!(sanitize(&"é".repeat(300)).len() <= 240);
        assert_eq!(numbered("scan.nii", 2), "scan (2).nii");
        assert_eq!(numbered(".hidden", 3), ".hidden (3)");
        assert_eq!(numbered("README", 2), "README (2)");
        assert!(node_name(&sanitize("a/b\\c")).is_ok());
    }
}
