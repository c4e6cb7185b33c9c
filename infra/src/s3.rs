//! Blobs in an S3-compatible bucket (Garage, MinIO, Ceph, AWS) through aws-sdk-s3:
//! `blobs/<sha256>` once in place, `tmp/<random>` while staged.
//!
//! Staging streams: the body is cut into parts of `PART_SIZE` sent as a multipart upload
//! (one part in flight while the next is read), so memory stays at about two parts
//! whatever the size. Content smaller than one part goes in a single PUT. Checksums are
//! computed only when an operation requires them: many non-AWS servers reject the SDK's
//! default CRC32 trailers.

use std::io;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::task::JoinHandle;

use crate::blobs::{BlobError, BlobStore, Staged, StoredBlob, is_hash};

/// Parts of a multipart upload (S3 wants at least 5 MiB but for the last).
const PART_SIZE: usize = 8 * 1024 * 1024;

/// Where the bucket is and how to sign in to it.
#[derive(Debug, Clone)]
pub struct S3Settings {
    /// e.g. `http://127.0.0.1:3900`; None: AWS's own endpoint for the region.
    pub endpoint: Option<String>,
    pub region: String,
    pub bucket: String,
    pub access_key_id: String,
    pub secret_access_key: SecretString,
    /// `endpoint/bucket/key` rather than `bucket.endpoint/key` (most self-hosted servers).
    pub path_style: bool,
    /// Every key starts with this (e.g. `medgrid/`), so installations can share a bucket.
    pub prefix: String,
}

/// A client of an S3-compatible server with settings self-hosted ones accept (checksums
/// only when required, path-style addressing when asked).
pub fn client(settings: &S3Settings) -> Client {
    Client::from_conf(config(settings).build())
}

/// The SDK's settings for `settings` (non-AWS servers: checksums only when required).
pub fn config(settings: &S3Settings) -> aws_sdk_s3::config::Builder {
    let credentials = Credentials::new(
        &settings.access_key_id,
        settings.secret_access_key.expose_secret(),
        None,
        None,
        "medgrid",
    );
    let mut config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(settings.region.clone()))
        .credentials_provider(credentials)
        .force_path_style(settings.path_style)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
    if let Some(endpoint) = &settings.endpoint {
        config = config.endpoint_url(endpoint);
    }
    config
}

pub struct S3Blobs {
    client: Client,
    bucket: String,
    prefix: String,
}

fn s3_error(e: impl std::error::Error + Send + Sync + 'static) -> BlobError {
    BlobError::Io(io::Error::other(crate::error_chain(&e)))
}

impl S3Blobs {
    pub fn new(settings: &S3Settings) -> Self {
        Self {
            client: client(settings),
            bucket: settings.bucket.clone(),
            prefix: settings.prefix.clone(),
        }
    }

    fn key(&self, sha256: &str) -> Option<String> {
        is_hash(sha256).then(|| format!("{}blobs/{sha256}", self.prefix))
    }

    fn temp_key(&self) -> String {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        format!("{}tmp/{}", self.prefix, hex::encode(bytes))
    }

    /// The keys under this store's prefix (for tests and checks): `(key, size)`.
    pub async fn list(&self) -> Result<Vec<(String, i64)>, BlobError> {
        let mut out = vec![];
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&self.prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(s3_error)?;
            for object in page.contents() {
                let key = object.key().unwrap_or_default();
                let key = key.strip_prefix(&self.prefix).unwrap_or(key).to_owned();
                out.push((key, object.size().unwrap_or(0)));
            }
            match page.next_continuation_token() {
                Some(next) => token = Some(next.to_owned()),
                None => return Ok(out),
            }
        }
    }

    /// Fills `buf` from `body` (up to its capacity); the number of bytes read.
    async fn fill(
        body: &mut (dyn AsyncRead + Send + Unpin),
        buf: &mut Vec<u8>,
    ) -> io::Result<usize> {
        buf.clear();
        while buf.len() < PART_SIZE {
            let n = body
                .take((PART_SIZE - buf.len()) as u64)
                .read_to_end(buf)
                .await?;
            if n == 0 {
                break;
            }
        }
        Ok(buf.len())
    }

    async fn put_object(&self, key: &str, bytes: Vec<u8>) -> Result<(), BlobError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(s3_error)?;
        Ok(())
    }

    /// Streams `body` to `key`, hashing; the hash and size.
    async fn write(
        &self,
        key: &str,
        body: &mut (dyn AsyncRead + Send + Unpin),
        limit: u64,
    ) -> Result<StoredBlob, BlobError> {
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut buf = Vec::with_capacity(PART_SIZE);
        let n = Self::fill(body, &mut buf).await?;
        size += n as u64;
        if size > limit {
            return Err(BlobError::TooLarge { limit });
        }
        hasher.update(&buf);
        if n < PART_SIZE {
            self.put_object(key, buf).await?;
            return Ok(StoredBlob {
                sha256: hex::encode(hasher.finalize()),
                size,
            });
        }
        let upload = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(s3_error)?;
        let upload_id = upload.upload_id().unwrap_or_default().to_owned();
        let result = self
            .parts(key, &upload_id, body, limit, buf, (hasher, size))
            .await;
        if result.is_err() {
            let _ = self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(&upload_id)
                .send()
                .await;
        }
        result
    }

    /// Sends `first` and the rest of `body` as parts, one in flight while the next is read.
    async fn parts(
        &self,
        key: &str,
        upload_id: &str,
        body: &mut (dyn AsyncRead + Send + Unpin),
        limit: u64,
        first: Vec<u8>,
        (mut hasher, mut size): (Sha256, u64),
    ) -> Result<StoredBlob, BlobError> {
        let mut done: Vec<CompletedPart> = vec![];
        let mut in_flight: Option<JoinHandle<Result<CompletedPart, BlobError>>> = None;
        let mut next = Some(first);
        let mut number = 0i32;
        while let Some(part) = next.take() {
            number += 1;
            let sending = self.send_part(key, upload_id, number, part);
            if let Some(previous) = in_flight.replace(sending) {
                done.push(
                    previous
                        .await
                        .map_err(|e| BlobError::Io(io::Error::other(e)))??,
                );
            }
            let mut buf = Vec::with_capacity(PART_SIZE);
            let n = Self::fill(body, &mut buf).await?;
            size += n as u64;
            if size > limit {
                if let Some(task) = in_flight.take() {
                    task.abort();
                }
                return Err(BlobError::TooLarge { limit });
            }
            if n > 0 {
                hasher.update(&buf);
                next = Some(buf);
            }
        }
        if let Some(last) = in_flight {
            done.push(
                last.await
                    .map_err(|e| BlobError::Io(io::Error::other(e)))??,
            );
        }
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(done))
                    .build(),
            )
            .send()
            .await
            .map_err(s3_error)?;
        Ok(StoredBlob {
            sha256: hex::encode(hasher.finalize()),
            size,
        })
    }

    fn send_part(
        &self,
        key: &str,
        upload_id: &str,
        number: i32,
        bytes: Vec<u8>,
    ) -> JoinHandle<Result<CompletedPart, BlobError>> {
        let request = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(bytes));
        tokio::spawn(async move {
            let sent = request.send().await.map_err(s3_error)?;
            Ok(CompletedPart::builder()
                .set_e_tag(sent.e_tag().map(str::to_owned))
                .part_number(number)
                .build())
        })
    }

    async fn remove(&self, key: &str) -> Result<(), BlobError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(s3_error)?;
        Ok(())
    }
}

#[async_trait]
impl BlobStore for S3Blobs {
    async fn stage(
        &self,
        body: &mut (dyn AsyncRead + Send + Unpin),
        limit: u64,
    ) -> Result<Staged, BlobError> {
        let key = self.temp_key();
        let blob = self.write(&key, body, limit).await?;
        Ok(Staged::new(blob, key))
    }

    async fn commit(&self, staged: Staged) -> Result<StoredBlob, BlobError> {
        let Some(key) = self.key(&staged.blob.sha256) else {
            self.discard(staged).await;
            return Err(BlobError::Io(io::Error::other("hash is not hex")));
        };
        // a server-side copy: the bytes do not travel again
        let copied = self
            .client
            .copy_object()
            .bucket(&self.bucket)
            .key(&key)
            .copy_source(format!("{}/{}", self.bucket, staged.key()))
            .send()
            .await
            .map_err(s3_error);
        let removed = self.remove(staged.key()).await;
        copied?;
        if let Err(e) = removed {
            tracing::warn!(error = %e, "a staged upload stays in tmp/");
        }
        Ok(staged.blob)
    }

    async fn discard(&self, staged: Staged) {
        if let Err(e) = self.remove(staged.key()).await {
            tracing::warn!(error = %e, "a staged upload stays in tmp/");
        }
    }

    async fn open(
        &self,
        sha256: &str,
        range: Option<(u64, u64)>,
    ) -> Result<Box<dyn AsyncRead + Send + Unpin>, BlobError> {
        let key = self.key(sha256).ok_or(BlobError::NotFound)?;
        let mut request = self.client.get_object().bucket(&self.bucket).key(key);
        if let Some((start, end)) = range {
            if start >= end {
                return Err(BlobError::BadRange { size: 0 });
            }
            request = request.range(format!("bytes={start}-{}", end - 1));
        }
        match request.send().await {
            Ok(object) => Ok(Box::new(object.body.into_async_read())),
            Err(e) => {
                let status = e.raw_response().map(|r| r.status().as_u16());
                match status {
                    Some(404) => Err(BlobError::NotFound),
                    Some(416) => Err(BlobError::BadRange { size: 0 }),
                    _ => Err(s3_error(e)),
                }
            }
        }
    }

    async fn delete(&self, sha256: &str) -> Result<(), BlobError> {
        let key = self.key(sha256).ok_or(BlobError::NotFound)?;
        self.remove(&key).await
    }
}
