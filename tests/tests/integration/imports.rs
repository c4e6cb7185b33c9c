//! Imports: one file from a URL (served by a small server the test starts), the objects
//! under an S3 prefix (Garage), a DICOMweb study (Orthanc) de-identified on the way; the
//! SSRF guard, quotas, cancelling, and who sees an import.

use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use dicom_dictionary_std::tags;
use medgrid_domain::Role;
use medgrid_tests::hostile::{Answer, Hostile, SLACK};
use medgrid_tests::{TestApp, test_config};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::dicomweb::{IDENTIFYING, Study, orthanc, parse, text};

const IMPORT_FIELDS: &str = "id state source { kind display } files bytes expectedFiles expectedBytes reason folder { id path } createdAt updatedAt";
const HOME: &str = "{ space(path: \"/home\") { node { id } } }";
const LIST: &str = "query($p: String!) { space(path: $p) { children(first: 50) { edges { node { id name kind size sha256 } } } } }";

pub(crate) fn content(n: usize) -> Vec<u8> {
    (0..n).map(|i| u8::try_from(i % 251).unwrap()).collect()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A file server on 127.0.0.1: `/files/scan.nii` (1 KiB), `/big` (64 KiB), `/named`
/// (a Content-Disposition name), `/slow` (a body that takes 30 s), `/drip/{n}` (n KiB, one
/// every 100 ms), `/to?u=URL` (a redirect).
/// `/slow` bodies being sent now: a body's guard counts it until the body is dropped
/// (sent whole, or the client hung up). Only one test asks for `/slow`.
static SLOW_OPEN: AtomicI32 = AtomicI32::new(0);

struct Open;

impl Open {
    fn new() -> Self {
        SLOW_OPEN.fetch_add(1, Ordering::SeqCst);
        Self
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        SLOW_OPEN.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Waits (bounded) until `n` `/slow` bodies are being sent.
async fn wait_for_slow_bodies(n: i32) {
    for _ in 0..100 {
        if SLOW_OPEN.load(Ordering::SeqCst) == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "expected {n} /slow bodies, {} are open",
        SLOW_OPEN.load(Ordering::SeqCst)
    );
}

pub(crate) async fn source_server() -> String {
    async fn slow() -> Response {
        let chunks = futures::stream::unfold((0u32, Open::new()), |(n, open)| async move {
            if n >= 300 {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            Some((Ok::<_, std::io::Error>(vec![7u8; 1024]), (n + 1, open)))
        });
        Body::from_stream(chunks).into_response()
    }
    async fn drip(axum::extract::Path(chunks): axum::extract::Path<u32>) -> Response {
        let chunks = futures::stream::unfold(0u32, move |n| async move {
            if n >= chunks {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            Some((Ok::<_, std::io::Error>(vec![7u8; 1024]), n + 1))
        });
        Body::from_stream(chunks).into_response()
    }
    async fn redirect(axum::extract::RawQuery(q): axum::extract::RawQuery) -> Response {
        let to = q.unwrap_or_default();
        let to = to.strip_prefix("u=").unwrap_or_default().to_owned();
        let mut headers = HeaderMap::new();
        headers.insert(header::LOCATION, to.parse().unwrap());
        (StatusCode::FOUND, headers).into_response()
    }
    let app = Router::new()
        .route("/files/scan.nii", get(|| async { content(1024) }))
        .route("/big", get(|| async { content(64 * 1024) }))
        .route(
            "/named",
            get(|| async {
                (
                    [(
                        header::CONTENT_DISPOSITION,
                        "attachment; filename=\"t1 weighted.nii\"",
                    )],
                    content(10),
                )
            }),
        )
        .route("/slow", get(slow))
        .route("/drip/{chunks}", get(drip))
        .route("/to", get(redirect));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

async fn home(app: &TestApp, token: &str) -> String {
    app.ok(token, HOME, json!({})).await["space"]["node"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn import_url(app: &TestApp, token: &str, folder: &str, url: &str) -> Value {
    let q = format!(
        "mutation($f: ID!, $u: String!) {{ importFromUrl(folderId: $f, url: $u) {{ {IMPORT_FIELDS} }} }}"
    );
    app.ok(token, &q, json!({"f": folder, "u": url})).await["importFromUrl"].clone()
}

pub(crate) async fn import(app: &TestApp, token: &str, id: &str) -> Value {
    let q = format!("query($id: ID!) {{ import(id: $id) {{ {IMPORT_FIELDS} }} }}");
    app.ok(token, &q, json!({"id": id})).await["import"].clone()
}

/// Waits (bounded) until the import is in one of `states`.
pub(crate) async fn wait_for(app: &TestApp, token: &str, id: &str, states: &[&str]) -> Value {
    let mut last = Value::Null;
    for _ in 0..300 {
        last = import(app, token, id).await;
        if states.contains(&last["state"].as_str().unwrap_or_default()) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("import never reached {states:?}: {last}");
}

pub(crate) async fn listing(app: &TestApp, token: &str, path: &str) -> Vec<Value> {
    app.ok(token, LIST, json!({"p": path})).await["space"]["children"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

async fn wait_for_blobs(app: &TestApp, n: i64) {
    let mut seen = (0, 0);
    for _ in 0..150 {
        seen = app.blob_count().await;
        if seen == (n, usize::try_from(n).unwrap()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("expected {n} blobs, the store keeps {seen:?}");
}

pub(crate) async fn events_mentioning(app: &TestApp, needle: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE payload::text LIKE '%' || $1 || '%'")
        .bind(needle)
        .fetch_one(app.pool())
        .await
        .unwrap()
}

/// An import that succeeded and one that failed: rows for the rebuild test.
pub async fn populate(app: &TestApp, token: &str) {
    let server = source_server().await;
    let folder = home(app, token).await;
    for url in [format!("{server}/named"), format!("{server}/missing")] {
        let asked = import_url(app, token, &folder, &url).await;
        wait_for(
            app,
            token,
            asked["id"].as_str().unwrap(),
            &["SUCCEEDED", "FAILED"],
        )
        .await;
    }
}

#[tokio::test]
async fn a_file_is_imported_from_a_url_with_progress_and_only_its_owner_sees_it() {
    let app = TestApp::spawn().await;
    app.tenant("lab").await;
    let (_, ada) = app.member("lab", "ada@lab.org", &[]).await;
    let (_, bob) = app.member("lab", "bob@lab.org", &[]).await;
    let (_, admin) = app
        .member("lab", "root@lab.org", &[Role::TenantAdmin])
        .await;
    let server = source_server().await;
    let folder = home(&app, &ada).await;

    let url = format!("{server}/files/scan.nii?token=s3cr3t-query");
    let asked = import_url(&app, &ada, &folder, &url).await;
    assert_eq!(asked["source"]["kind"], "URL");
    assert_eq!(
        asked["source"]["display"],
        format!("{server}/files/scan.nii"),
        "the query (it may carry a token) is not shown"
    );
    assert_eq!(asked["folder"]["path"], "/home");
    let id = asked["id"].as_str().unwrap().to_owned();
    let done = wait_for(&app, &ada, &id, &["SUCCEEDED", "FAILED"]).await;
    assert_eq!(done["state"], "SUCCEEDED", "{done}");
    assert_eq!(done["files"], 1.0);
    assert_eq!(done["bytes"], 1024.0);
    // the length the server announced is the import's size
    assert_eq!(
        (
            done["expectedFiles"].as_f64(),
            done["expectedBytes"].as_f64()
        ),
        (Some(1.0), Some(1024.0))
    );

    let files = listing(&app, &ada, "/home").await;
    let scan = files.iter().find(|f| f["name"] == "scan.nii").unwrap();
    assert_eq!(scan["sha256"], hex(&content(1024)));
    let got = app
        .download(&ada, scan["id"].as_str().unwrap(), None)
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(got.as_ref(), content(1024).as_slice());
    assert_eq!(
        events_mentioning(&app, "s3cr3t-query").await,
        0,
        "no event holds the URL's query"
    );

    // the same name again: numbered; a Content-Disposition name wins over the path
    let again = import_url(&app, &ada, &folder, &format!("{server}/files/scan.nii")).await;
    let named = import_url(&app, &ada, &folder, &format!("{server}/named")).await;
    for id in [&again["id"], &named["id"]] {
        let done = wait_for(&app, &ada, id.as_str().unwrap(), &["SUCCEEDED", "FAILED"]).await;
        assert_eq!(done["state"], "SUCCEEDED", "{done}");
    }
    let names: Vec<String> = listing(&app, &ada, "/home")
        .await
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(names.contains(&"scan (2).nii".to_owned()), "{names:?}");
    assert!(names.contains(&"t1 weighted.nii".to_owned()), "{names:?}");

    // another member: not found, not listed, cannot cancel; the tenant admin sees it
    let q = "query($id: ID!) { import(id: $id) { id } }";
    assert_eq!(
        app.code(Some(&bob), q, json!({"id": id})).await,
        "NOT_FOUND"
    );
    let cancel = "mutation($id: ID!) { cancelImport(id: $id) { id } }";
    assert_eq!(
        app.code(Some(&bob), cancel, json!({"id": id})).await,
        "NOT_FOUND"
    );
    let list = "{ imports(first: 10) { edges { node { id state } } } }";
    let bobs = app.ok(&bob, list, json!({})).await;
    assert_eq!(bobs["imports"]["edges"].as_array().unwrap().len(), 0);
    let all = app.ok(&admin, list, json!({})).await;
    assert_eq!(all["imports"]["edges"].as_array().unwrap().len(), 3);
    // and bob cannot import into ada's home
    let q = "mutation($f: ID!, $u: String!) { importFromUrl(folderId: $f, url: $u) { id } }";
    let code = app
        .code(
            Some(&bob),
            q,
            json!({"f": folder, "u": format!("{server}/big")}),
        )
        .await;
    assert_eq!(code, "NOT_FOUND");
    // a finished import is not cancelled
    assert_eq!(
        app.code(Some(&ada), cancel, json!({"id": id})).await,
        "CONFLICT"
    );
}

#[tokio::test]
async fn a_large_file_shows_its_bytes_while_it_comes() {
    let app = TestApp::spawn().await;
    app.tenant("lab").await;
    let (_, ada) = app.member("lab", "ada@lab.org", &[]).await;
    let server = source_server().await;
    let folder = home(&app, &ada).await;
    // 60 KiB, one a tenth of a second: six seconds of transfer
    let asked = import_url(&app, &ada, &folder, &format!("{server}/drip/60")).await;
    let id = asked["id"].as_str().unwrap().to_owned();
    let mut partial = Value::Null;
    for _ in 0..100 {
        let now = import(&app, &ada, &id).await;
        assert_ne!(
            now["state"], "SUCCEEDED",
            "finished before any partial figure: {now}"
        );
        if now["files"] == 0.0 && now["bytes"].as_f64().unwrap() > 0.0 {
            partial = now;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        partial["state"], "RUNNING",
        "bytes counted before the file is whole"
    );
    assert!(
        partial["bytes"].as_f64().unwrap() < 60.0 * 1024.0,
        "{partial}"
    );
    assert_eq!(
        partial["expectedBytes"],
        Value::Null,
        "a body without a length"
    );
    let done = wait_for(&app, &ada, &id, &["SUCCEEDED", "FAILED"]).await;
    assert_eq!(done["state"], "SUCCEEDED", "{done}");
    assert_eq!(
        (done["files"].as_f64(), done["bytes"].as_f64()),
        (Some(1.0), Some(61440.0))
    );
}

#[tokio::test]
async fn urls_into_the_service_or_private_networks_are_refused_and_nothing_is_recorded() {
    let mut config = test_config();
    config.import_allow_private = false;
    let app = TestApp::spawn_with(config).await;
    app.tenant("lab").await;
    let (_, ada) = app.member("lab", "ada@lab.org", &[]).await;
    let folder = home(&app, &ada).await;
    let server = source_server().await;
    let port = server.rsplit(':').next().unwrap().to_owned();
    let before = app.event_count().await;
    let q = "mutation($f: ID!, $u: String!) { importFromUrl(folderId: $f, url: $u) { id } }";
    for url in [
        format!("{server}/files/scan.nii"),
        format!("http://[::1]:{port}/files/scan.nii"),
        "http://10.0.0.1/scan.nii".to_owned(),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        format!("http://localhost:{port}/files/scan.nii"),
        format!("{server}/to?u=http://127.0.0.1:{port}/files/scan.nii"),
        format!("{}/healthz", app.url),
        "ftp://example.org/scan.nii".to_owned(),
        "https://user:pw@example.org/scan.nii".to_owned(),
        "file:///etc/passwd".to_owned(),
    ] {
        let body = app.gql(Some(&ada), q, json!({"f": folder, "u": url})).await;
        assert_eq!(
            medgrid_tests::error_code(&body).as_deref(),
            Some("INVALID_INPUT"),
            "{url}: {body}"
        );
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.starts_with("url: "), "{url}: {message}");
    }
    let body = app
        .gql(
            Some(&ada),
            q,
            json!({"f": folder, "u": "http://10.0.0.1/x"}),
        )
        .await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("private address"),
        "{body}"
    );
    assert_eq!(app.event_count().await, before, "nothing recorded");
    let list = app
        .ok(
            &ada,
            "{ imports(first: 10) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(list["imports"]["edges"].as_array().unwrap().len(), 0);
    wait_for_blobs(&app, 0).await;
}

/// With private networks allowed (as in tests and labs), link-local and cloud metadata
/// addresses stay refused, however they are spelled, for every kind of import: refused
/// when asked for (INVALID_INPUT with the reason), nothing recorded.
#[tokio::test]
async fn metadata_addresses_are_refused_even_where_private_networks_are_allowed() {
    let app = TestApp::spawn().await; // MEDGRID_IMPORT_ALLOW_PRIVATE on
    app.tenant("lab").await;
    let (_, ada) = app.member("lab", "ada@lab.org", &[]).await;
    let folder = home(&app, &ada).await;
    let server = source_server().await;
    let port = server.rsplit(':').next().unwrap().to_owned();
    let before = app.event_count().await;
    let mut urls: Vec<String> = [
        "http://169.254.169.254/latest/meta-data/",
        "http://169.254.170.2/v2/credentials",
        "http://169.254.1.1/x",
        "http://2852039166/latest/meta-data/",
        "http://0xa9.0xfe.0xa9.0xfe/latest/meta-data/",
        "http://0251.0376.0251.0376/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/latest/meta-data/",
        "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[fd20:ce::254]/computeMetadata/v1/",
        "http://100.100.100.200/latest/meta-data/",
        "http://[fe80::1]/x",
    ]
    .map(str::to_owned)
    .to_vec();
    // the unspecified address reaches this machine's listeners: never a destination
    urls.push(format!("http://0.0.0.0:{port}/files/scan.nii"));
    urls.push(format!("http://[::]:{port}/files/scan.nii"));
    let from_url = "mutation($f: ID!, $u: String!) { importFromUrl(folderId: $f, url: $u) { id } }";
    let from_s3 = "mutation($f: ID!, $i: ImportFromS3Input!) { importFromS3(folderId: $f, input: $i) { id } }";
    let from_dicom = "mutation($f: ID!, $i: ImportFromDicomWebInput!) { importFromDicomWeb(folderId: $f, input: $i) { id } }";
    for url in &urls {
        let s3 = json!({"endpoint": url, "region": "garage", "bucket": "scans", "prefix": "p/",
                        "accessKeyId": "GK1", "secretAccessKey": "secret"});
        let dicom = json!({"url": url, "studyInstanceUid": "1.2.3"});
        for (q, vars) in [
            (from_url, json!({"f": folder, "u": url})),
            (from_s3, json!({"f": folder, "i": s3})),
            (from_dicom, json!({"f": folder, "i": dicom})),
        ] {
            let body = app.gql(Some(&ada), q, vars).await;
            assert_eq!(
                medgrid_tests::error_code(&body).as_deref(),
                Some("INVALID_INPUT"),
                "{url}: {body}"
            );
            let message = body["errors"][0]["message"].as_str().unwrap();
            assert!(
                message.contains("metadata address")
                    || message.contains("link-local address")
                    || message.contains("unspecified address"),
                "{url}: {message}"
            );
        }
    }
    assert_eq!(app.event_count().await, before, "nothing recorded");
}

#[tokio::test]
async fn redirects_are_checked_at_every_hop_and_quotas_hold_without_orphans() {
    // private networks allowed (the source is on 127.0.0.1), but never the service itself
    // nor a cloud's metadata address, even through a redirect
    let app = TestApp::spawn().await;
    app.tenant("lab").await;
    let (ada_id, ada) = app.member("lab", "ada@lab.org", &[]).await;
    let (_, admin) = app
        .member("lab", "root@lab.org", &[Role::TenantAdmin])
        .await;
    let server = source_server().await;
    let folder = home(&app, &ada).await;
    for target in [
        format!("{}/healthz", app.url),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
    ] {
        let asked = import_url(&app, &ada, &folder, &format!("{server}/to?u={target}")).await;
        let done = wait_for(
            &app,
            &ada,
            asked["id"].as_str().unwrap(),
            &["FAILED", "SUCCEEDED"],
        )
        .await;
        assert_eq!(done["state"], "FAILED", "{done}");
        let reason = done["reason"].as_str().unwrap();
        assert!(reason.contains("refused"), "{reason}");
    }
    // a redirect to an allowed place is followed
    let asked = import_url(
        &app,
        &ada,
        &folder,
        &format!("{server}/to?u={server}/files/scan.nii"),
    )
    .await;
    let done = wait_for(
        &app,
        &ada,
        asked["id"].as_str().unwrap(),
        &["FAILED", "SUCCEEDED"],
    )
    .await;
    assert_eq!(done["state"], "SUCCEEDED", "{done}");
    wait_for_blobs(&app, 1).await;

    // 1 KiB used; a quota of 2 KiB leaves no room for 64 KiB
    let q =
        "mutation($m: ID!) { setSpaceQuota(owner: {memberId: $m}, bytes: 2048) { used limit } }";
    app.ok(&admin, q, json!({"m": ada_id.to_string()})).await;
    let asked = import_url(&app, &ada, &folder, &format!("{server}/big")).await;
    let done = wait_for(
        &app,
        &ada,
        asked["id"].as_str().unwrap(),
        &["FAILED", "SUCCEEDED"],
    )
    .await;
    assert_eq!(done["state"], "FAILED", "{done}");
    assert!(
        done["reason"].as_str().unwrap().contains("quota exceeded"),
        "{done}"
    );
    assert_eq!(done["files"], 0.0);
    let names: Vec<Value> = listing(&app, &ada, "/home").await;
    assert_eq!(names.len(), 1, "only the first file: {names:?}");
    wait_for_blobs(&app, 1).await;
}

#[tokio::test]
async fn a_cancelled_import_stops_and_keeps_nothing_half_done() {
    let app = TestApp::spawn().await;
    app.tenant("lab").await;
    let (_, ada) = app.member("lab", "ada@lab.org", &[]).await;
    let server = source_server().await;
    let folder = home(&app, &ada).await;
    let asked = import_url(&app, &ada, &folder, &format!("{server}/slow")).await;
    let id = asked["id"].as_str().unwrap().to_owned();
    wait_for(&app, &ada, &id, &["RUNNING"]).await;
    wait_for_slow_bodies(1).await; // the transfer is under way
    let q = format!("mutation($id: ID!) {{ cancelImport(id: $id) {{ {IMPORT_FIELDS} }} }}");
    let cancelled = app.ok(&ada, &q, json!({"id": id})).await["cancelImport"].clone();
    assert_eq!(cancelled["state"], "CANCELLED");
    // the transfer breaks off (long before the body's 30 s); nothing of it stays
    wait_for_slow_bodies(0).await;
    assert_eq!(import(&app, &ada, &id).await["state"], "CANCELLED");
    assert!(listing(&app, &ada, "/home").await.is_empty());
    wait_for_blobs(&app, 0).await;
    let sealed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM provider_secrets WHERE owner = $1::uuid")
            .bind(&id)
            .fetch_one(app.pool())
            .await
            .unwrap();
    assert_eq!(sealed, 0, "the sealed request is removed");
}

pub(crate) fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run scripts/garage"))
}

/// The test bucket of the Garage that `scripts/garage` runs.
fn garage() -> medgrid_infra::s3::S3Settings {
    medgrid_infra::s3::S3Settings {
        endpoint: Some(env("MEDGRID_TEST_S3_ENDPOINT")),
        region: env("MEDGRID_TEST_S3_REGION"),
        bucket: env("MEDGRID_TEST_S3_BUCKET"),
        access_key_id: env("MEDGRID_TEST_S3_KEY_ID"),
        secret_access_key: env("MEDGRID_TEST_S3_SECRET").into(),
        path_style: true,
        prefix: String::new(),
    }
}

/// Objects put under a fresh prefix of the test bucket, for one test.
pub(crate) struct Objects {
    pub(crate) settings: medgrid_infra::s3::S3Settings,
    pub(crate) prefix: String,
    keys: Vec<String>,
}

impl Objects {
    pub(crate) async fn put(name: &str, objects: &[(&str, Vec<u8>)]) -> Self {
        let settings = garage();
        let client = medgrid_infra::s3::client(&settings);
        let prefix = format!("{name}-{}/", uuid::Uuid::now_v7());
        for (key, bytes) in objects {
            client
                .put_object()
                .bucket(&settings.bucket)
                .key(format!("{prefix}{key}"))
                .body(bytes.clone().into())
                .send()
                .await
                .unwrap();
        }
        let keys = objects
            .iter()
            .map(|(k, _)| format!("{prefix}{k}"))
            .collect();
        Self {
            settings,
            prefix,
            keys,
        }
    }

    pub(crate) async fn remove(self) {
        let client = medgrid_infra::s3::client(&self.settings);
        for key in &self.keys {
            let _ = client
                .delete_object()
                .bucket(&self.settings.bucket)
                .key(key)
                .send()
                .await;
        }
    }
}

#[tokio::test]
async fn objects_under_an_s3_prefix_are_imported_with_their_folders() {
    let app = TestApp::spawn().await;
    app.tenant("lab").await;
    let (_, ada) = app.member("lab", "ada@lab.org", &[]).await;
    let folder = home(&app, &ada).await;
    let bucket = Objects::put(
        "import-test",
        &[
            ("a.txt", content(100)),
            ("sub/b.bin", content(200)),
            ("sub/deeper/c.bin", content(300)),
        ],
    )
    .await;
    let (settings, prefix) = (&bucket.settings, &bucket.prefix);
    let q = format!(
        "mutation($f: ID!, $i: ImportFromS3Input!) {{ importFromS3(folderId: $f, input: $i) {{ {IMPORT_FIELDS} }} }}"
    );
    let input = json!({
        "endpoint": settings.endpoint, "region": settings.region, "bucket": settings.bucket,
        "prefix": prefix, "accessKeyId": settings.access_key_id,
        "secretAccessKey": env("MEDGRID_TEST_S3_SECRET"),
    });
    let asked = app.ok(&ada, &q, json!({"f": folder, "i": input})).await["importFromS3"].clone();
    assert_eq!(asked["source"]["kind"], "S3");
    let display = asked["source"]["display"].as_str().unwrap();
    assert!(
        !display.contains(&env("MEDGRID_TEST_S3_SECRET")),
        "{display}"
    );
    let done = wait_for(
        &app,
        &ada,
        asked["id"].as_str().unwrap(),
        &["SUCCEEDED", "FAILED"],
    )
    .await;
    assert_eq!(done["state"], "SUCCEEDED", "{done}");
    assert_eq!(done["files"], 3.0);
    assert_eq!(done["bytes"], 600.0);
    // listed whole before the first download: its size was known from the start
    assert_eq!(
        (
            done["expectedFiles"].as_f64(),
            done["expectedBytes"].as_f64()
        ),
        (Some(3.0), Some(600.0))
    );
    assert_eq!(
        events_mentioning(&app, &env("MEDGRID_TEST_S3_SECRET")).await,
        0
    );
    let top = listing(&app, &ada, "/home").await;
    let a = top.iter().find(|n| n["name"] == "a.txt").unwrap();
    assert_eq!(a["sha256"], hex(&content(100)));
    assert!(
        top.iter()
            .any(|n| n["name"] == "sub" && n["kind"] == "FOLDER")
    );
    let sub = listing(&app, &ada, "/home/sub").await;
    assert!(
        sub.iter()
            .any(|n| n["name"] == "b.bin" && n["size"] == 200.0)
    );
    let deeper = listing(&app, &ada, "/home/sub/deeper").await;
    assert_eq!(deeper[0]["name"], "c.bin");
    assert_eq!(deeper[0]["sha256"], hex(&content(300)));
    bucket.remove().await;
}

#[tokio::test]
async fn a_dicomweb_study_is_stored_deidentified_under_its_new_uids() {
    let app = TestApp::spawn().await;
    app.tenant("lab").await;
    let (_, ada) = app.member("lab", "ada@lab.org", &[]).await;
    let folder = home(&app, &ada).await;
    let study = Study::new();
    study.upload().await;
    let q = format!(
        "mutation($f: ID!, $i: ImportFromDicomWebInput!) {{ importFromDicomWeb(folderId: $f, input: $i) {{ {IMPORT_FIELDS} }} }}"
    );
    let input = json!({"url": format!("{}/dicom-web", orthanc()), "studyInstanceUid": study.study});
    let asked =
        app.ok(&ada, &q, json!({"f": folder, "i": input})).await["importFromDicomWeb"].clone();
    assert_eq!(asked["source"]["kind"], "DICOM_WEB");
    assert!(
        !asked["source"]["display"]
            .as_str()
            .unwrap()
            .contains(&study.study)
    );
    let id = asked["id"].as_str().unwrap().to_owned();
    let done = wait_for(&app, &ada, &id, &["SUCCEEDED", "FAILED"]).await;
    assert_eq!(done["state"], "SUCCEEDED", "{done}");
    assert_eq!(done["files"], 3.0);

    // no patient UID, name or ID in any event
    for secret in [
        &study.study,
        &study.patient_id,
        &study.series[0],
        &study.instances[0].1,
    ] {
        assert_eq!(
            events_mentioning(&app, secret).await,
            0,
            "{secret} in an event"
        );
    }
    // /home/<new study uid>/<new series uid>/<new sop uid>.dcm
    let top = listing(&app, &ada, "/home").await;
    assert_eq!(top.len(), 1, "{top:?}");
    let new_study = top[0]["name"].as_str().unwrap().to_owned();
    assert_ne!(new_study, study.study);
    let series = listing(&app, &ada, &format!("/home/{new_study}")).await;
    assert_eq!(series.len(), 2, "{series:?}");
    let mut seen = 0;
    for s in &series {
        let new_series = s["name"].as_str().unwrap();
        for file in listing(&app, &ada, &format!("/home/{new_study}/{new_series}")).await {
            let bytes = app
                .download(&ada, file["id"].as_str().unwrap(), None)
                .await
                .bytes()
                .await
                .unwrap()
                .to_vec();
            let haystack = String::from_utf8_lossy(&bytes);
            for identifying in IDENTIFYING
                .iter()
                .copied()
                .chain([study.patient_id.as_str(), study.study.as_str()])
                .chain(study.series.iter().map(String::as_str))
                .chain(study.instances.iter().map(|(_, uid)| uid.as_str()))
            {
                assert!(
                    !haystack.contains(identifying),
                    "{identifying} left in a file"
                );
            }
            let obj = parse(&bytes);
            assert_eq!(
                text(&obj, tags::PATIENT_IDENTITY_REMOVED).as_deref(),
                Some("YES")
            );
            assert!(text(&obj, tags::DEIDENTIFICATION_METHOD).is_some());
            assert_eq!(
                text(&obj, tags::STUDY_INSTANCE_UID).as_deref(),
                Some(new_study.as_str())
            );
            assert_eq!(
                text(&obj, tags::SERIES_INSTANCE_UID).as_deref(),
                Some(new_series)
            );
            let sop = text(&obj, tags::SOP_INSTANCE_UID).unwrap();
            assert_eq!(file["name"], format!("{sop}.dcm"));
            seen += 1;
        }
    }
    assert_eq!(seen, 3);

    // an unknown study fails with a reason, nothing stored
    let input =
        json!({"url": format!("{}/dicom-web", orthanc()), "studyInstanceUid": "1.2.3.4.5.6.7.8.9"});
    let other =
        app.ok(&ada, &q, json!({"f": folder, "i": input})).await["importFromDicomWeb"].clone();
    let failed = wait_for(
        &app,
        &ada,
        other["id"].as_str().unwrap(),
        &["SUCCEEDED", "FAILED"],
    )
    .await;
    assert_eq!(failed["state"], "FAILED", "{failed}");
    // bad UIDs and half credentials are refused at once
    let bad = json!({"url": format!("{}/dicom-web", orthanc()), "studyInstanceUid": "1.2.x"});
    assert_eq!(
        app.code(Some(&ada), &q, json!({"f": folder, "i": bad}))
            .await,
        "INVALID_INPUT"
    );
    let half = json!({"url": format!("{}/dicom-web", orthanc()), "studyInstanceUid": "1.2.3", "username": "u"});
    assert_eq!(
        app.code(Some(&ada), &q, json!({"f": folder, "i": half}))
            .await,
        "INVALID_INPUT"
    );
}

#[tokio::test]
async fn members_search_a_dicomweb_server_for_the_study_to_import() {
    let app = TestApp::spawn().await;
    app.tenant("lab").await;
    let (_, ada) = app.member("lab", "ada@lab.org", &[]).await;
    let study = Study::new();
    study.upload().await;
    let q = "query($i: DicomWebSearchInput!) { dicomWebStudies(input: $i) {
        studyInstanceUid studyDate modalities description series instances } }";
    let url = format!("{}/dicom-web", orthanc());
    let found = app
        .ok(
            &ada,
            q,
            json!({"i": {"url": url, "patientId": study.patient_id}}),
        )
        .await["dicomWebStudies"]
        .clone();
    let found = found.as_array().unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["studyInstanceUid"], study.study);
    assert_eq!(found[0]["series"], 2);
    assert_eq!(found[0]["instances"], 3);
    // nothing about the patient comes back
    let text = serde_json::to_string(&found).unwrap();
    assert!(!text.contains(&study.patient_id), "{text}");
    let none = app
        .ok(
            &ada,
            q,
            json!({"i": {"url": url, "patientId": "NOBODY-HERE"}}),
        )
        .await;
    assert_eq!(none["dicomWebStudies"], json!([]));
    assert_eq!(
        app.code(None, q, json!({"i": {"url": url}})).await,
        "UNAUTHENTICATED"
    );

    // the guard holds for searches too
    let mut config = test_config();
    config.import_allow_private = false;
    let guarded = TestApp::spawn_with(config).await;
    guarded.tenant("lab").await;
    let (_, bea) = guarded.member("lab", "bea@lab.org", &[]).await;
    for url in [
        format!("{}/dicom-web", orthanc()),
        "http://169.254.169.254/dicom-web".to_owned(),
        "file:///etc/passwd".to_owned(),
    ] {
        assert_eq!(
            guarded
                .code(Some(&bea), q, json!({"i": {"url": url}}))
                .await,
            "INVALID_INPUT",
            "{url}"
        );
    }
}

/// A ListObjectsV2 page (S3's XML) of `count` objects of `size` bytes under `prefix`, and
/// always a next page.
fn listing_page(prefix: &str, page: u32, count: u32, size: u64) -> String {
    let mut xml = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>{prefix}</Prefix><KeyCount>{count}</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated>"#
    );
    for i in 0..count {
        xml.push_str(&format!(
            r#"<Contents><Key>{prefix}page{page}/object{i}.bin</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified><ETag>"e"</ETag><Size>{size}</Size><StorageClass>STANDARD</StorageClass></Contents>"#
        ));
    }
    xml.push_str(&format!(
        "<NextContinuationToken>page{}</NextContinuationToken></ListBucketResult>",
        page + 1
    ));
    xml
}

/// An S3-like server whose listing never ends: every page lists `count` objects of `size`
/// bytes and names a next page.
async fn endless_bucket(count: u32, size: u64) -> Hostile {
    Hostile::spawn(move |target| {
        let page = target
            .split_once("continuation-token=page")
            .and_then(|(_, rest)| rest.split('&').next()?.parse().ok())
            .unwrap_or(1);
        Answer::new(
            200,
            "application/xml",
            listing_page("in/", page, count, size),
        )
    })
    .await
}

async fn import_s3(app: &TestApp, token: &str, folder: &str, endpoint: &str) -> Value {
    let q = format!(
        "mutation($f: ID!, $i: ImportFromS3Input!) {{ importFromS3(folderId: $f, input: $i) {{ {IMPORT_FIELDS} }} }}"
    );
    let input = json!({
        "endpoint": endpoint, "region": "us-east-1", "bucket": "b", "prefix": "in/",
        "accessKeyId": "AKIDEXAMPLE", "secretAccessKey": "not-a-secret",
    });
    let asked = app.ok(token, &q, json!({"f": folder, "i": input})).await["importFromS3"].clone();
    wait_for(
        app,
        token,
        asked["id"].as_str().unwrap(),
        &["SUCCEEDED", "FAILED"],
    )
    .await
}

/// An S3 listing is checked page by page: the pages' objects against the quota, their
/// number against `MEDGRID_IMPORT_MAX_FILES`. An endless listing stops at the first page
/// past a limit — the test counts the pages asked for — and nothing is imported. (Before,
/// the whole listing was held first: an endless one never ended.)
#[tokio::test]
async fn an_endless_s3_listing_stops_at_the_page_that_passes_a_limit() {
    let mut config = test_config();
    config.import_max_files = 22;
    let app = TestApp::spawn_with(config).await;
    app.tenant("lab").await;
    let (ada_id, ada) = app.member("lab", "ada@lab.org", &[]).await;
    let (_, admin) = app
        .member("lab", "root@lab.org", &[Role::TenantAdmin])
        .await;
    let q =
        "mutation($m: ID!) { setSpaceQuota(owner: {memberId: $m}, bytes: 1048576) { used limit } }";
    app.ok(&admin, q, json!({"m": ada_id.to_string()})).await;
    let folder = home(&app, &ada).await;

    // 5 objects of 100 KiB a page: 500 KiB, 1000 KiB fit in 1 MiB, the third page does not
    let huge = endless_bucket(5, 100 * 1024).await;
    let done = import_s3(&app, &ada, &folder, &huge.url()).await;
    assert_eq!(done["state"], "FAILED", "{done}");
    let reason = done["reason"].as_str().unwrap();
    assert!(
        reason.contains("quota exceeded") && reason.contains("first 3 pages"),
        "{reason}"
    );
    let asked = huge.requests();
    assert_eq!(asked.len(), 3, "pages asked for: {asked:?}");
    assert!(asked.iter().all(|r| r.contains("list-type=2")), "{asked:?}");
    assert_eq!(done["files"], 0.0);

    // empty objects never pass the quota: their number stops the listing
    let many = endless_bucket(5, 0).await;
    let done = import_s3(&app, &ada, &folder, &many.url()).await;
    assert_eq!(done["state"], "FAILED", "{done}");
    let reason = done["reason"].as_str().unwrap();
    assert!(
        reason.contains("more than 22 objects") && reason.contains("MEDGRID_IMPORT_MAX_FILES"),
        "{reason}"
    );
    // 5, 10, 15, 20 objects, then 25: five pages
    assert_eq!(many.requests().len(), 5, "{:?}", many.requests());
    assert!(listing(&app, &ada, "/home").await.is_empty());
    wait_for_blobs(&app, 0).await;
}

/// A WADO-RS retrieval whose one instance never ends is spooled up to
/// `MEDGRID_DICOMWEB_INSTANCE_MAX_BYTES` and broken off there: the import fails saying
/// so, tries no more, and stores nothing. (Before, the cap was a fixed 1 GiB, held in
/// memory.)
#[tokio::test]
async fn an_endless_dicom_instance_is_broken_off_at_its_cap() {
    const CAP: u64 = 1 << 20;
    const SERVED: u64 = 256 << 20;
    let mut config = test_config();
    config.dicomweb_instance_max_bytes = CAP;
    let app = TestApp::spawn_with(config).await;
    app.tenant("lab").await;
    let (_, ada) = app.member("lab", "ada@lab.org", &[]).await;
    let folder = home(&app, &ada).await;
    let server = Hostile::spawn(|_| {
        Answer::endless(
            r#"multipart/related; type="application/dicom"; boundary=b"#,
            "--b\r\nContent-Type: application/dicom\r\n\r\nDICM",
            b'x',
            SERVED,
        )
    })
    .await;
    let q = format!(
        "mutation($f: ID!, $i: ImportFromDicomWebInput!) {{ importFromDicomWeb(folderId: $f, input: $i) {{ {IMPORT_FIELDS} }} }}"
    );
    let input =
        json!({"url": format!("{}/dicom-web", server.url()), "studyInstanceUid": "1.2.3.4"});
    let asked =
        app.ok(&ada, &q, json!({"f": folder, "i": input})).await["importFromDicomWeb"].clone();
    let done = wait_for(
        &app,
        &ada,
        asked["id"].as_str().unwrap(),
        &["SUCCEEDED", "FAILED"],
    )
    .await;
    assert_eq!(done["state"], "FAILED", "{done}");
    let reason = done["reason"].as_str().unwrap();
    assert!(
        reason.contains("larger than 1048576 bytes")
            && reason.contains("MEDGRID_DICOMWEB_INSTANCE_MAX_BYTES"),
        "{reason}"
    );
    let written = server.written().await;
    eprintln!("the hostile server wrote {written} bytes (cap {CAP})");
    assert!(
        written <= CAP + SLACK,
        "the server wrote {written} bytes before Medgrid hung up (cap {CAP}, slack {SLACK})"
    );
    assert_eq!(server.connections(), 1, "a refusal is not tried again");
    assert_eq!(done["files"], 0.0);
    assert!(listing(&app, &ada, "/home").await.is_empty());
    wait_for_blobs(&app, 0).await;
}
