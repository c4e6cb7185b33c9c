//! File contents, content-addressed by SHA-256: stored once per content, found by hash.
//! The local directory store is the embedded default; the S3-compatible one (Garage in
//! the tests) comes with the rest of issue 5 behind the same trait.
//!
//! Writes stream: the hash and the size are computed on the fly, memory stays bounded
//! whatever the size, and a write that fails or passes its limit leaves nothing behind.

use std::io;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// What a stored blob is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlob {
    /// 64 lower-case hex digits.
    pub sha256: String,
    pub size: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("the content is larger than the {limit} bytes allowed")]
    TooLarge { limit: u64 },
    #[error("no such blob")]
    NotFound,
    #[error("the range is outside the content ({size} bytes)")]
    BadRange { size: u64 },
    #[error("blob store: {0}")]
    Io(#[from] io::Error),
}

/// Content written but not yet in place: its hash is known, so the caller can claim it
/// (see `contents`) before it becomes visible under that hash.
#[derive(Debug)]
pub struct Staged {
    pub blob: StoredBlob,
    /// Where the store keeps it meanwhile (a temporary file or object).
    key: String,
}

impl Staged {
    pub fn new(blob: StoredBlob, key: String) -> Self {
        Self { blob, key }
    }

    pub fn key(&self) -> &str {
        &self.key
    }
}

/// Where contents live.
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Writes what `body` yields, at most `limit` bytes, to a temporary place, hashing on
    /// the way. Nothing is left behind when it fails.
    async fn stage(
        &self,
        body: &mut (dyn AsyncRead + Send + Unpin),
        limit: u64,
    ) -> Result<Staged, BlobError>;

    /// Puts staged content in place under its hash (written again even when present, so
    /// a concurrent removal of the same content cannot win).
    async fn commit(&self, staged: Staged) -> Result<StoredBlob, BlobError>;

    /// Drops staged content.
    async fn discard(&self, staged: Staged);

    /// Reads `range` (start, end exclusive) of a blob, or all of it.
    async fn open(
        &self,
        sha256: &str,
        range: Option<(u64, u64)>,
    ) -> Result<Box<dyn AsyncRead + Send + Unpin>, BlobError>;

    /// Removes a blob nothing refers to any more (absent is fine).
    async fn delete(&self, sha256: &str) -> Result<(), BlobError>;

    /// Stages and commits at once (for content nobody else can be removing).
    async fn put(
        &self,
        body: &mut (dyn AsyncRead + Send + Unpin),
        limit: u64,
    ) -> Result<StoredBlob, BlobError> {
        let staged = self.stage(body, limit).await?;
        self.commit(staged).await
    }
}

/// Whether `sha256` is 64 lower-case hex digits (so no key or path can be forged).
pub fn is_hash(sha256: &str) -> bool {
    sha256.len() == 64
        && sha256
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Blobs as files under a directory: `<dir>/ab/cd/abcd…` (two levels keep directories
/// small), written to `<dir>/tmp` first and renamed into place once complete.
pub struct LocalBlobs {
    dir: PathBuf,
}

impl LocalBlobs {
    pub fn new(dir: impl Into<PathBuf>) -> io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(dir.join("tmp"))?;
        Ok(Self { dir })
    }

    /// The file of a blob; None when `sha256` is not a hash (so no path can be forged).
    fn path(&self, sha256: &str) -> Option<PathBuf> {
        is_hash(sha256).then(|| self.dir.join(&sha256[..2]).join(&sha256[2..4]).join(sha256))
    }

    fn temp_path(&self) -> PathBuf {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        self.dir.join("tmp").join(hex::encode(bytes))
    }

    /// Copies `body` into `temp`, hashing; the hash and size, or why it stopped.
    async fn write(
        temp: &Path,
        body: &mut (dyn AsyncRead + Send + Unpin),
        limit: u64,
    ) -> Result<StoredBlob, BlobError> {
        let mut file = tokio::fs::File::create(temp).await?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = body.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            size += n as u64;
            if size > limit {
                return Err(BlobError::TooLarge { limit });
            }
            hasher.update(&buf[..n]);
            file.write_all(&buf[..n]).await?;
        }
        file.sync_all().await?;
        Ok(StoredBlob {
            sha256: hex::encode(hasher.finalize()),
            size,
        })
    }
}

#[async_trait]
impl BlobStore for LocalBlobs {
    async fn stage(
        &self,
        body: &mut (dyn AsyncRead + Send + Unpin),
        limit: u64,
    ) -> Result<Staged, BlobError> {
        let temp = self.temp_path();
        match Self::write(&temp, body, limit).await {
            Ok(blob) => Ok(Staged {
                blob,
                key: temp.to_string_lossy().into_owned(),
            }),
            Err(e) => {
                let _ = tokio::fs::remove_file(&temp).await;
                Err(e)
            }
        }
    }

    async fn commit(&self, staged: Staged) -> Result<StoredBlob, BlobError> {
        let temp = PathBuf::from(&staged.key);
        let Some(path) = self.path(&staged.blob.sha256) else {
            let _ = tokio::fs::remove_file(&temp).await;
            return Err(BlobError::Io(io::Error::other("hash is not hex")));
        };
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        // same bytes, same name: replacing is harmless and wins over a removal under way
        tokio::fs::rename(&temp, &path).await?;
        Ok(staged.blob)
    }

    async fn discard(&self, staged: Staged) {
        let _ = tokio::fs::remove_file(&staged.key).await;
    }

    async fn open(
        &self,
        sha256: &str,
        range: Option<(u64, u64)>,
    ) -> Result<Box<dyn AsyncRead + Send + Unpin>, BlobError> {
        let path = self.path(sha256).ok_or(BlobError::NotFound)?;
        let mut file = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(BlobError::NotFound),
            Err(e) => return Err(e.into()),
        };
        let Some((start, end)) = range else {
            return Ok(Box::new(file));
        };
        let size = file.metadata().await?.len();
        if start >= end || end > size {
            return Err(BlobError::BadRange { size });
        }
        file.seek(io::SeekFrom::Start(start)).await?;
        Ok(Box::new(file.take(end - start)))
    }

    async fn delete(&self, sha256: &str) -> Result<(), BlobError> {
        let path = self.path(sha256).ok_or(BlobError::NotFound)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (LocalBlobs, PathBuf) {
        let dir = std::env::temp_dir().join(format!("medgrid-blobs-{}", uuid::Uuid::now_v7()));
        (LocalBlobs::new(&dir).expect("store"), dir)
    }

    async fn read_all(mut r: Box<dyn AsyncRead + Send + Unpin>) -> Vec<u8> {
        let mut out = vec![];
        r.read_to_end(&mut out).await.expect("read");
        out
    }

    fn files_in(dir: &Path) -> usize {
        std::fs::read_dir(dir).map_or(0, |d| d.count())
    }

    #[tokio::test]
    async fn content_is_stored_once_by_its_hash() {
        let (blobs, dir) = store();
        let a = blobs.put(&mut &b"hello"[..], 100).await.expect("put");
        assert_eq!(
            a.sha256,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(a.size, 5);
        let b = blobs.put(&mut &b"hello"[..], 100).await.expect("again");
        assert_eq!(a, b);
        assert_eq!(
            read_all(blobs.open(&a.sha256, None).await.expect("open")).await,
            b"hello"
        );
        assert_eq!(
            read_all(blobs.open(&a.sha256, Some((1, 4))).await.expect("range")).await,
            b"ell"
        );
        assert!(matches!(
            blobs.open(&a.sha256, Some((3, 9))).await,
            Err(BlobError::BadRange { size: 5 })
        ));
        assert_eq!(files_in(&dir.join("tmp")), 0, "no temporary file is left");
        blobs.delete(&a.sha256).await.expect("delete");
        assert!(matches!(
            blobs.open(&a.sha256, None).await,
            Err(BlobError::NotFound)
        ));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_write_past_its_limit_leaves_nothing() {
        let (blobs, dir) = store();
        let big = vec![7u8; 300 * 1024];
        let refused = blobs.put(&mut &big[..], 100 * 1024).await;
        assert!(matches!(
            refused,
            Err(BlobError::TooLarge { limit: 102_400 })
        ));
        assert_eq!(files_in(&dir.join("tmp")), 0);
        assert_eq!(files_in(&dir), 1, "only tmp/ is there");
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Yields some bytes, then fails (a client that goes away halfway).
    struct Broken(bool);

    impl AsyncRead for Broken {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            if self.0 {
                return std::task::Poll::Ready(Err(io::Error::other("connection reset")));
            }
            self.0 = true;
            buf.put_slice(&[1u8; 1000]);
            std::task::Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn an_upload_that_stops_halfway_leaves_nothing() {
        let (blobs, dir) = store();
        let failed = blobs.put(&mut Broken(false), 1 << 20).await;
        assert!(matches!(failed, Err(BlobError::Io(_))), "{failed:?}");
        assert_eq!(files_in(&dir.join("tmp")), 0);
        assert_eq!(files_in(&dir), 1, "only tmp/ is there");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn names_that_are_not_hashes_reach_no_file() {
        let (blobs, dir) = store();
        for forged in ["../../etc/passwd", "", "ZZ", &"a".repeat(63)] {
            assert!(matches!(
                blobs.open(forged, None).await,
                Err(BlobError::NotFound)
            ));
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
