//! The S3 blob store against a real Garage node (started by `scripts/garage`, which
//! `scripts/services` runs and whose exports `scripts/test` evaluates).

use std::time::Duration;

use medgrid_infra::blobs::{BlobError, BlobStore};
use medgrid_infra::s3::{S3Blobs, S3Settings};
use medgrid_tests::{TestApp, test_config};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run scripts/garage (scripts/services does) and export what it prints")
    })
}

/// The test bucket, under a prefix of this test's own.
fn settings() -> S3Settings {
    S3Settings {
        endpoint: Some(env("MEDGRID_TEST_S3_ENDPOINT")),
        region: env("MEDGRID_TEST_S3_REGION"),
        bucket: env("MEDGRID_TEST_S3_BUCKET"),
        access_key_id: env("MEDGRID_TEST_S3_KEY_ID"),
        secret_access_key: env("MEDGRID_TEST_S3_SECRET").into(),
        path_style: true,
        prefix: format!("test-{}/", uuid::Uuid::now_v7()),
    }
}

/// Bytes that differ from part to part (a constant fill would hide a misplaced part).
fn content(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 24) as u8
        })
        .collect()
}

fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn read_all(store: &S3Blobs, sha256: &str, range: Option<(u64, u64)>) -> Vec<u8> {
    let mut out = vec![];
    store
        .open(sha256, range)
        .await
        .unwrap()
        .read_to_end(&mut out)
        .await
        .unwrap();
    out
}

/// Yields `good` bytes, then fails (a client that goes away).
struct Broken {
    left: usize,
}

impl tokio::io::AsyncRead for Broken {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if self.left == 0 {
            return std::task::Poll::Ready(Err(std::io::Error::other("connection reset")));
        }
        let n = self.left.min(buf.remaining()).min(64 * 1024);
        buf.put_slice(&vec![9u8; n]);
        self.left -= n;
        std::task::Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn blobs_stream_to_garage_in_parts_and_refusals_leave_nothing() {
    let store = S3Blobs::new(&settings());
    let big = content(20 * 1024 * 1024 + 123);
    let stored = store.put(&mut &big[..], 1 << 30).await.unwrap();
    assert_eq!(stored.sha256, sha(&big));
    assert_eq!(stored.size, big.len() as u64);
    let keys = store.list().await.unwrap();
    assert_eq!(
        keys,
        [(format!("blobs/{}", stored.sha256), big.len() as i64)]
    );
    assert_eq!(read_all(&store, &stored.sha256, None).await, big);
    let (start, end) = (8 * 1024 * 1024 - 10, 8 * 1024 * 1024 + 10);
    assert_eq!(
        read_all(&store, &stored.sha256, Some((start, end))).await,
        &big[8 * 1024 * 1024 - 10..8 * 1024 * 1024 + 10]
    );
    // the same content again: still one object
    let again = store.put(&mut &big[..], 1 << 30).await.unwrap();
    assert_eq!(again, stored);
    let small = store.put(&mut &b"tiny"[..], 10).await.unwrap();
    assert_eq!(store.list().await.unwrap().len(), 2);

    // past the limit (after two parts), or cut halfway: nothing staged remains
    let refused = store.put(&mut &big[..], 10 * 1024 * 1024).await;
    assert!(
        matches!(refused, Err(BlobError::TooLarge { .. })),
        "{refused:?}"
    );
    let cut = store
        .put(
            &mut Broken {
                left: 9 * 1024 * 1024,
            },
            1 << 30,
        )
        .await;
    assert!(matches!(cut, Err(BlobError::Io(_))), "{cut:?}");
    let cut_small = store.put(&mut Broken { left: 1000 }, 1 << 30).await;
    assert!(cut_small.is_err());
    assert_eq!(
        store.list().await.unwrap().len(),
        2,
        "no tmp/ object is left"
    );

    for blob in [&stored, &small] {
        store.delete(&blob.sha256).await.unwrap();
    }
    assert!(store.list().await.unwrap().is_empty());
    assert!(matches!(
        store.open(&stored.sha256, None).await,
        Err(BlobError::NotFound)
    ));
}

#[tokio::test]
async fn spaces_keep_their_files_in_the_bucket_when_one_is_configured() {
    let s3 = settings();
    let mut config = test_config();
    config.s3_bucket = Some(s3.bucket.clone());
    config.s3_endpoint = s3.endpoint.clone();
    config.s3_region = s3.region.clone();
    config.s3_access_key_id = Some(s3.access_key_id.clone());
    config.s3_secret_access_key = Some(s3.secret_access_key.clone());
    config.s3_prefix = s3.prefix.clone();
    let app = TestApp::spawn_with(config).await;
    let bucket = S3Blobs::new(&s3);
    app.tenant("acme").await;
    let (_, ann) = app.member("acme", "ann@acme.org", &[]).await;
    let home = app
        .ok(
            &ann,
            "{ space(path: \"/home\") { node { id } } }",
            json!({}),
        )
        .await["space"]["node"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bytes = content(9 * 1024 * 1024);
    let (status, body) = app.upload(&ann, &home, "scan.nii", bytes.clone()).await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        bucket.list().await.unwrap(),
        [(format!("blobs/{}", sha(&bytes)), bytes.len() as i64)]
    );
    let whole = app.download(&ann, &id, None).await;
    assert_eq!(whole.bytes().await.unwrap().as_ref(), &bytes[..]);
    let part = app.download(&ann, &id, Some("bytes=100-199")).await;
    assert_eq!(part.status(), 206);
    assert_eq!(part.bytes().await.unwrap().as_ref(), &bytes[100..200]);

    app.ok(
        &ann,
        "mutation($id: ID!) { deleteNode(id: $id) { id } }",
        json!({"id": id}),
    )
    .await;
    app.ok(
        &ann,
        "mutation($id: ID!) { purgeNode(id: $id) }",
        json!({"id": id}),
    )
    .await;
    for _ in 0..150 {
        if bucket.list().await.unwrap().is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the purged file's content is still in the bucket");
}
