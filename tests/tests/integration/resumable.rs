//! Resumable uploads (tus 1.0.0 under /files/uploads): chunks with HEADs between them, a
//! request cut halfway and resumed, one writer at a time, offsets and owners, quotas at
//! creation and at the end, termination, expiry, and no content or spool left behind.

use std::io;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures::StreamExt;
use medgrid_domain::Role;
use medgrid_tests::TestApp;
use reqwest::{Body, RequestBuilder, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const NODE: &str = "query($id: ID!) { node(id: $id) { path size sha256 mediaType } }";

async fn home_id(app: &TestApp, token: &str) -> String {
    let data = app
        .ok(
            token,
            "query { space(path: \"/home\") { node { id } } }",
            json!({}),
        )
        .await;
    data["space"]["node"]["id"].as_str().unwrap().to_owned()
}

fn b64(s: &str) -> String {
    STANDARD.encode(s)
}

fn metadata(parent: &str, name: &str) -> String {
    format!("parent {},name {}", b64(parent), b64(name))
}

/// A request of the protocol (Tus-Resumable set) to `path` of the server.
fn tus(app: &TestApp, method: reqwest::Method, path: &str, token: &str) -> RequestBuilder {
    app.http()
        .request(method, format!("{}{path}", app.url))
        .bearer_auth(token)
        .header("tus-resumable", "1.0.0")
}

async fn create(app: &TestApp, token: &str, meta: &str, length: u64) -> Response {
    tus(app, reqwest::Method::POST, "/files/uploads", token)
        .header("upload-length", length)
        .header("upload-metadata", meta)
        .send()
        .await
        .unwrap()
}

/// Creates an upload that must be accepted; returns its location.
async fn created(app: &TestApp, token: &str, parent: &str, name: &str, length: u64) -> String {
    let response = create(app, token, &metadata(parent, name), length).await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["tus-resumable"], "1.0.0");
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("/files/uploads/"), "{location}");
    location
}

fn patch(app: &TestApp, token: &str, location: &str, offset: u64) -> RequestBuilder {
    tus(app, reqwest::Method::PATCH, location, token)
        .header("upload-offset", offset)
        .header("content-type", "application/offset+octet-stream")
}

async fn send(app: &TestApp, token: &str, location: &str, offset: u64, bytes: &[u8]) -> Response {
    patch(app, token, location, offset)
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap()
}

async fn head(app: &TestApp, token: &str, location: &str) -> Response {
    tus(app, reqwest::Method::HEAD, location, token)
        .send()
        .await
        .unwrap()
}

async fn offset(app: &TestApp, token: &str, location: &str) -> u64 {
    let response = head(app, token, location).await;
    assert_eq!(response.status(), 200);
    response.headers()["upload-offset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// The `{error: {code}}` of an answer, with its status.
async fn refused(response: Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (
        status,
        body["error"]["code"].as_str().unwrap_or("").to_owned(),
    )
}

fn content(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn spool_files(app: &TestApp) -> usize {
    std::fs::read_dir(app.config.upload_spool_dir())
        .map(|d| d.count())
        .unwrap_or(0)
}

async fn upload_rows(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM uploads")
        .fetch_one(app.pool())
        .await
        .unwrap()
}

/// Waits (bounded) until the blob store keeps `n` contents, on disk and in its books.
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

/// The file a completing PATCH (or creation) names.
fn node_id(response: &Response) -> String {
    response.headers()["medgrid-node-id"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn three_chunks_with_a_head_between_them_make_the_same_file() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let (_, ann) = app.member("acme", "ann@acme.org", &[]).await;
    let home = home_id(&app, &ann).await;

    let options = app
        .http()
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/files/uploads", app.url),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(options.status(), 204);
    let h = options.headers();
    assert_eq!(h["tus-version"], "1.0.0");
    assert_eq!(h["tus-extension"], "creation,termination");
    assert_eq!(
        h["tus-max-size"],
        app.config.upload_max_bytes.to_string().as_str()
    );

    let bytes = content(3_000_000);
    let location = created(&app, &ann, &home, "t1.nii", bytes.len() as u64).await;
    let first = head(&app, &ann, &location).await;
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["upload-offset"], "0");
    assert_eq!(first.headers()["upload-length"], "3000000");
    assert_eq!(first.headers()["cache-control"], "no-store");
    assert_eq!(first.headers()["tus-resumable"], "1.0.0");

    let mut at = 0;
    let mut last = None;
    for chunk in bytes.chunks(1_000_000) {
        assert_eq!(offset(&app, &ann, &location).await, at);
        let response = send(&app, &ann, &location, at, chunk).await;
        assert_eq!(response.status(), 204);
        at += chunk.len() as u64;
        assert_eq!(response.headers()["upload-offset"], at.to_string().as_str());
        last = Some(response);
    }
    let file = node_id(&last.unwrap());
    let node = app.ok(&ann, NODE, json!({"id": file})).await["node"].clone();
    assert_eq!(node["path"], "/home/t1.nii");
    assert_eq!(node["size"], json!(3_000_000.0));
    assert_eq!(node["sha256"], hex(&Sha256::digest(&bytes)));
    assert_eq!(node["mediaType"], "application/x-nifti");
    let download = app.download(&ann, &file, None).await;
    assert_eq!(download.bytes().await.unwrap().as_ref(), &bytes[..]);

    // done: the upload, its row and its spool are gone; the content is stored once
    assert_eq!(head(&app, &ann, &location).await.status(), 404);
    assert_eq!((upload_rows(&app).await, spool_files(&app)), (0, 0));
    wait_for_blobs(&app, 1).await;

    // an empty file needs no PATCH: it is a file from its creation
    let response = create(&app, &ann, &metadata(&home, "empty.txt"), 0).await;
    assert_eq!(response.status(), 201);
    let empty = node_id(&response);
    let node = app.ok(&ann, NODE, json!({"id": empty})).await["node"].clone();
    assert_eq!(
        (node["size"].clone(), node["mediaType"].clone()),
        (json!(0.0), json!("text/plain"))
    );
}

#[tokio::test]
async fn a_request_cut_halfway_keeps_what_arrived_and_the_upload_resumes() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let (_, ann) = app.member("acme", "ann@acme.org", &[]).await;
    let home = home_id(&app, &ann).await;
    let bytes = content(1_000_000);
    let location = created(&app, &ann, &home, "scan.dcm", 1_000_000).await;

    // 400 000 bytes arrive, then the body breaks off
    let sent: Vec<Result<Vec<u8>, io::Error>> = bytes[..400_000]
        .chunks(50_000)
        .map(|c| Ok(c.to_vec()))
        .collect();
    let cut = futures::stream::iter(sent).chain(futures::stream::once(async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        Err(io::Error::other("the network went away"))
    }));
    let broken = patch(&app, &ann, &location, 0)
        .body(Body::wrap_stream(cut))
        .send()
        .await;
    assert!(broken.is_err(), "the client saw its request fail");

    // what reached the disk counts; the rest follows from there
    let mut kept = 0;
    for _ in 0..100 {
        kept = offset(&app, &ann, &location).await;
        if kept == 400_000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(kept, 400_000);
    let (status, code) = refused(send(&app, &ann, &location, 0, &bytes).await).await;
    assert_eq!((status, code.as_str()), (409, "CONFLICT"));
    let done = send(&app, &ann, &location, kept, &bytes[400_000..]).await;
    assert_eq!(done.status(), 204);
    assert_eq!(done.headers()["upload-offset"], "1000000");
    let file = node_id(&done);
    let download = app.download(&ann, &file, None).await;
    assert_eq!(download.bytes().await.unwrap().as_ref(), &bytes[..]);
    assert_eq!((upload_rows(&app).await, spool_files(&app)), (0, 0));
    wait_for_blobs(&app, 1).await;
}

/// Whether a request holds the lease of the upload at `location` (its advisory lock).
async fn leased(app: &TestApp, location: &str) -> bool {
    let id = location.rsplit('/').next().unwrap();
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_database d ON d.oid = l.database
                         WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
                           AND d.datname = current_database()
                           AND ((l.classid::bigint << 32) | l.objid::bigint)
                               = hashtextextended('medgrid.upload.' || $1::uuid::text, 0))",
    )
    .bind(id)
    .fetch_one(app.pool())
    .await
    .unwrap()
}

#[tokio::test]
async fn one_request_writes_to_an_upload_at_a_time() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let (_, ann) = app.member("acme", "ann@acme.org", &[]).await;
    let home = home_id(&app, &ann).await;
    let bytes = content(200_000);
    let location = created(&app, &ann, &home, "slow.bin", 200_000).await;

    // a first writer sends half, then waits
    let (go, wait) = tokio::sync::oneshot::channel::<()>();
    let (first, second) = (bytes[..100_000].to_vec(), bytes[100_000..].to_vec());
    let slow = futures::stream::once(async move { Ok::<_, io::Error>(first) }).chain(
        futures::stream::once(async move {
            let _ = wait.await;
            Ok(second)
        }),
    );
    let writer = tokio::spawn(
        patch(&app, &ann, &location, 0)
            .body(Body::wrap_stream(slow))
            .send(),
    );
    for _ in 0..100 {
        if leased(&app, &location).await {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        leased(&app, &location).await,
        "the first writer holds the upload"
    );

    // meanwhile another writer and a termination are refused, and change nothing
    let (status, code) = refused(send(&app, &ann, &location, 0, &bytes).await).await;
    assert_eq!((status, code.as_str()), (409, "CONFLICT"));
    let delete = tus(&app, reqwest::Method::DELETE, &location, &ann)
        .send()
        .await
        .unwrap();
    assert_eq!(refused(delete).await, (409, "CONFLICT".to_owned()));

    go.send(()).unwrap();
    let done = writer.await.unwrap().unwrap();
    assert_eq!(done.status(), 204);
    let file = node_id(&done);
    let download = app.download(&ann, &file, None).await;
    assert_eq!(download.bytes().await.unwrap().as_ref(), &bytes[..]);
}

#[tokio::test]
async fn wrong_offsets_owners_headers_and_metadata_are_refused() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    app.tenant("evil").await;
    let (_, ann) = app.member("acme", "ann@acme.org", &[]).await;
    let (_, bob) = app.member("acme", "bob@acme.org", &[]).await;
    let (_, mallory) = app.member("evil", "mallory@evil.org", &[]).await;
    let home = home_id(&app, &ann).await;
    let location = created(&app, &ann, &home, "a.bin", 10).await;
    assert_eq!(send(&app, &ann, &location, 0, b"12345").await.status(), 204);

    // offsets: only where the upload is
    for wrong in [0, 3, 6] {
        let (status, code) = refused(send(&app, &ann, &location, wrong, b"x").await).await;
        assert_eq!((status, code.as_str()), (409, "CONFLICT"), "{wrong}");
    }
    // another member, another tenant, an unknown or malformed id: not found
    for (token, path) in [
        (&bob, location.clone()),
        (&mallory, location.clone()),
        (&ann, format!("/files/uploads/{}", uuid::Uuid::new_v4())),
        (&ann, "/files/uploads/not-a-uuid".to_owned()),
    ] {
        assert_eq!(head(&app, token, &path).await.status(), 404, "{path}");
        let (status, code) = refused(send(&app, token, &path, 5, b"x").await).await;
        assert_eq!((status, code.as_str()), (404, "NOT_FOUND"));
        let delete = tus(&app, reqwest::Method::DELETE, &path, token)
            .send()
            .await
            .unwrap();
        assert_eq!(delete.status(), 404);
    }
    // someone else's folder is not found either
    let bob_home = home_id(&app, &bob).await;
    let (status, code) = refused(create(&app, &ann, &metadata(&bob_home, "x"), 1).await).await;
    assert_eq!((status, code.as_str()), (404, "NOT_FOUND"));

    // the protocol's version, the body's type, bytes past the end
    let unversioned = app
        .http()
        .head(format!("{}{location}", app.url))
        .bearer_auth(&ann)
        .send()
        .await
        .unwrap();
    assert_eq!(unversioned.status(), 412);
    assert_eq!(unversioned.headers()["tus-version"], "1.0.0");
    let old = app
        .http()
        .patch(format!("{}{location}", app.url))
        .bearer_auth(&ann)
        .header("tus-resumable", "0.2.2")
        .header("upload-offset", 5)
        .header("content-type", "application/offset+octet-stream")
        .body(b"x".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), 412);
    let typed = tus(&app, reqwest::Method::PATCH, &location, &ann)
        .header("upload-offset", 5)
        .header("content-type", "application/octet-stream")
        .body(b"x".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(refused(typed).await, (415, "INVALID_INPUT".to_owned()));
    let (status, code) = refused(send(&app, &ann, &location, 5, b"123456").await).await;
    assert_eq!((status, code.as_str()), (413, "INVALID_INPUT"));
    // without a Content-Length, the overflow is seen while streaming: refused whole
    let chunks: Vec<Result<Vec<u8>, io::Error>> = vec![Ok(b"678".to_vec()), Ok(b"9ab".to_vec())];
    let streamed = patch(&app, &ann, &location, 5)
        .body(Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(refused(streamed).await, (413, "INVALID_INPUT".to_owned()));
    assert_eq!(offset(&app, &ann, &location).await, 5, "nothing was kept");
    let unauthenticated = app
        .http()
        .head(format!("{}{location}", app.url))
        .header("tus-resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);

    // creation: lengths and metadata
    let events = app.event_count().await;
    for meta in [
        String::new(),
        format!("name {}", b64("x")),
        format!("parent {},name !!!", b64(&home)),
        format!("parent {},name {},name {}", b64(&home), b64("x"), b64("y")),
        metadata(&home, "../etc"),
        metadata(&home, "a/b"),
    ] {
        let (status, code) = refused(create(&app, &ann, &meta, 1).await).await;
        assert_eq!((status, code.as_str()), (400, "INVALID_INPUT"), "{meta:?}");
    }
    let no_length = tus(&app, reqwest::Method::POST, "/files/uploads", &ann)
        .header("upload-metadata", metadata(&home, "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused(no_length).await, (400, "INVALID_INPUT".to_owned()));
    let negative = tus(&app, reqwest::Method::POST, "/files/uploads", &ann)
        .header("upload-length", "-1")
        .header("upload-metadata", metadata(&home, "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(negative.status(), 400);
    // a name already taken
    let (status, _) = app.upload(&ann, &home, "taken.txt", b"t".to_vec()).await;
    assert_eq!(status, 201);
    let (status, code) = refused(create(&app, &ann, &metadata(&home, "taken.txt"), 1).await).await;
    assert_eq!((status, code.as_str()), (409, "CONFLICT"));
    assert_eq!(
        app.event_count().await,
        events + 1,
        "only the one-shot upload"
    );
    assert_eq!(upload_rows(&app).await, 1);
}

/// A request of a signed-in browser: its cookies, no Authorization header.
fn by_cookie(app: &TestApp, method: reqwest::Method, path: &str, cookies: &str) -> RequestBuilder {
    app.http()
        .request(method, format!("{}{path}", app.url))
        .header(reqwest::header::COOKIE, cookies)
}

/// Another site's page can make a signed-in browser send its session cookie here. Without
/// `Tus-Resumable` (all a form can send; a script needs a CORS preflight for it, never
/// granted) every method is refused; with it, creating, appending and abandoning also need
/// the page's CSRF token in `X-CSRF-Token` (FORBIDDEN without), so the cookie alone
/// changes nothing whatever CORS may one day allow. Nothing is created, written or removed.
/// With the token the cookie works; HEAD, a read, needs none; bearer clients need none.
#[tokio::test]
async fn a_session_cookie_alone_changes_no_resumable_upload() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let (_, ann) = app.member("acme", "ann@acme.org", &[]).await;
    let home = home_id(&app, &ann).await;
    let location = created(&app, &ann, &home, "a.bin", 10).await;
    assert_eq!(send(&app, &ann, &location, 0, b"12345").await.status(), 204);
    let cookies = crate::portal::signed_in(&app, "acme", "ann@acme.org").await;
    let csrf = crate::portal::csrf_of(&cookies);
    let events = app.event_count().await;
    let meta = metadata(&home, "b.bin");
    use reqwest::Method;
    let requests = |versioned: bool, token: Option<&str>| {
        let mut all = vec![
            by_cookie(&app, Method::POST, "/files/uploads", &cookies)
                .header("upload-length", 3)
                .header("upload-metadata", &meta),
            by_cookie(&app, Method::PATCH, &location, &cookies)
                .header("upload-offset", 5)
                .header("content-type", "application/offset+octet-stream")
                .body(b"67890".to_vec()),
            by_cookie(&app, Method::DELETE, &location, &cookies),
        ];
        if !versioned {
            all.push(by_cookie(&app, Method::HEAD, &location, &cookies));
        }
        all.into_iter()
            .map(|r| {
                if versioned {
                    r.header("tus-resumable", "1.0.0")
                } else {
                    r
                }
            })
            .map(|r| match token {
                Some(t) => r.header("x-csrf-token", t),
                None => r,
            })
            .collect::<Vec<_>>()
    };
    for request in requests(false, Some(&csrf)) {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 412, "{}", response.url());
    }
    for token in [None, Some("forged"), Some("")] {
        for request in requests(true, token) {
            let (status, code) = refused(request.send().await.unwrap()).await;
            assert_eq!((status, code.as_str()), (403, "FORBIDDEN"), "{token:?}");
        }
    }
    // the token without its cookie (the session cookie alone)
    let session_only = cookies.split("; ").next().unwrap();
    let lone = by_cookie(&app, Method::DELETE, &location, session_only)
        .header("tus-resumable", "1.0.0")
        .header("x-csrf-token", &csrf);
    assert_eq!(refused(lone.send().await.unwrap()).await.0, 403);
    assert_eq!(app.event_count().await, events, "nothing recorded");
    assert_eq!(
        upload_rows(&app).await,
        1,
        "nothing created, nothing removed"
    );
    assert_eq!(offset(&app, &ann, &location).await, 5, "nothing written");
    let read = by_cookie(&app, Method::HEAD, &location, &cookies)
        .header("tus-resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200, "HEAD is a read");
    assert_eq!(read.headers()["upload-offset"], "5");

    // no other origin is granted the custom header
    for path in ["/files/uploads", location.as_str()] {
        let preflight = app
            .http()
            .request(Method::OPTIONS, format!("{}{path}", app.url))
            .header("origin", "https://evil.example")
            .header("access-control-request-method", "PATCH")
            .header(
                "access-control-request-headers",
                "tus-resumable,x-csrf-token",
            )
            .send()
            .await
            .unwrap();
        assert!(
            !preflight
                .headers()
                .contains_key("access-control-allow-origin"),
            "{path}"
        );
    }

    // the portal's own page: cookie, Tus-Resumable and token
    let mut versioned = requests(true, Some(&csrf)).into_iter();
    let create = versioned.next().unwrap().send().await.unwrap();
    assert_eq!(create.status(), 201);
    let finish = versioned.next().unwrap().send().await.unwrap();
    assert_eq!(finish.status(), 204);
    let file = node_id(&finish);
    let data = app.ok(&ann, NODE, json!({"id": file})).await;
    assert_eq!(data["node"]["size"].as_f64(), Some(10.0));
    let abandon = by_cookie(
        &app,
        Method::DELETE,
        create.headers()["location"].to_str().unwrap(),
        &cookies,
    )
    .header("tus-resumable", "1.0.0")
    .header("x-csrf-token", &csrf)
    .send()
    .await
    .unwrap();
    assert_eq!(abandon.status(), 204);
    assert_eq!(upload_rows(&app).await, 0);
}

#[tokio::test]
async fn quotas_are_checked_at_creation_and_again_at_the_end() {
    let mut config = medgrid_tests::test_config();
    config.upload_max_bytes = 1000;
    let app = TestApp::spawn_with(config).await;
    app.tenant("acme").await;
    let (_, admin) = app
        .member("acme", "admin@acme.org", &[Role::TenantAdmin])
        .await;
    let (ann_id, ann) = app.member("acme", "ann@acme.org", &[]).await;
    let home = home_id(&app, &ann).await;

    let (status, code) = refused(create(&app, &ann, &metadata(&home, "big"), 1001).await).await;
    assert_eq!((status, code.as_str()), (413, "QUOTA_EXCEEDED"));
    app.ok(
        &admin,
        "mutation($o: GranteeInput!) { setSpaceQuota(owner: $o, bytes: 100) { limit } }",
        json!({"o": {"memberId": ann_id.to_string()}}),
    )
    .await;
    let (status, code) = refused(create(&app, &ann, &metadata(&home, "big"), 101).await).await;
    assert_eq!((status, code.as_str()), (413, "QUOTA_EXCEEDED"));

    // room when it began, none left when it ends: refused, and the upload is gone
    let location = created(&app, &ann, &home, "late.bin", 80).await;
    assert_eq!(send(&app, &ann, &location, 0, &[1; 40]).await.status(), 204);
    let (status, _) = app.upload(&ann, &home, "meanwhile.bin", vec![2; 30]).await;
    assert_eq!(status, 201);
    let events = app.event_count().await;
    let (status, code) = refused(send(&app, &ann, &location, 40, &[1; 40]).await).await;
    assert_eq!((status, code.as_str()), (413, "QUOTA_EXCEEDED"));
    assert_eq!(app.event_count().await, events, "nothing recorded");
    assert_eq!(head(&app, &ann, &location).await.status(), 404);
    assert_eq!((upload_rows(&app).await, spool_files(&app)), (0, 0));
    // only the one-shot upload's content stays: no orphan
    wait_for_blobs(&app, 1).await;
}

#[tokio::test]
async fn termination_removes_the_upload_and_its_spool() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let (_, ann) = app.member("acme", "ann@acme.org", &[]).await;
    let home = home_id(&app, &ann).await;
    let location = created(&app, &ann, &home, "abandoned.bin", 1000).await;
    assert_eq!(
        send(&app, &ann, &location, 0, &[7; 600]).await.status(),
        204
    );
    assert_eq!((upload_rows(&app).await, spool_files(&app)), (1, 1));
    let spool = app.config.upload_spool_dir().join(
        location
            .rsplit('/')
            .next()
            .unwrap()
            .parse::<uuid::Uuid>()
            .unwrap()
            .simple()
            .to_string(),
    );
    assert_eq!(std::fs::metadata(&spool).unwrap().len(), 600);

    let delete = || tus(&app, reqwest::Method::DELETE, &location, &ann).send();
    let gone = delete().await.unwrap();
    assert_eq!(gone.status(), 204);
    assert_eq!(gone.headers()["tus-resumable"], "1.0.0");
    assert!(!spool.exists());
    assert_eq!((upload_rows(&app).await, spool_files(&app)), (0, 0));
    assert_eq!(head(&app, &ann, &location).await.status(), 404);
    assert_eq!(delete().await.unwrap().status(), 404);
    wait_for_blobs(&app, 0).await;
}

#[tokio::test]
async fn uploads_left_untouched_past_their_expiry_are_removed() {
    let mut config = medgrid_tests::test_config();
    config.upload_expiry_hours = 0;
    let app = TestApp::spawn_with(config).await;
    app.tenant("acme").await;
    let (_, ann) = app.member("acme", "ann@acme.org", &[]).await;
    let home = home_id(&app, &ann).await;
    let response = create(&app, &ann, &metadata(&home, "forgotten.bin"), 1000).await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();

    // the worker's housekeeping removes it, spool and all (the row goes first)
    for _ in 0..100 {
        if (upload_rows(&app).await, spool_files(&app)) == (0, 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!((upload_rows(&app).await, spool_files(&app)), (0, 0));
    assert_eq!(head(&app, &ann, &location).await.status(), 404);
    assert_eq!(app.core.uploads.expire().await.unwrap(), 0);
    wait_for_blobs(&app, 0).await;
}
