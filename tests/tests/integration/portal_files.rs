//! The portal's Files pages: over plain HTTP without JavaScript (listing, breadcrumbs,
//! paging, the quota bar, every form with its refusals beside the field, CSRF, sharing,
//! what others may not reach, the multipart upload all or nothing), and uploads with
//! progress bars, a folder and a share in headless Chromium.

use medgrid_tests::{TestApp, browser};
use reqwest::header::{COOKIE, LOCATION};
use reqwest::{Response, StatusCode};
use serde_json::json;

use crate::jobs::setup;
use crate::portal::{client, csrf_of, get, post, post_multipart, signed_in};
use crate::spaces::{folder, names, space, upload, wait_for_blobs};

async fn node_id(app: &TestApp, token: &str, path: &str) -> String {
    space(app, token, path).await["node"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn me(app: &TestApp, token: &str) -> String {
    app.ok(token, "{ me { id } }", json!({})).await["me"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn set_home_quota(app: &TestApp, admin: &str, member: &str, bytes: f64) {
    app.ok(
        admin,
        "mutation($o: GranteeInput!, $b: Float) { setSpaceQuota(owner: $o, bytes: $b) { used } }",
        json!({"o": {"memberId": member}, "b": bytes}),
    )
    .await;
}

/// A group of the tenant with these members; its id.
async fn group(app: &TestApp, admin: &str, name: &str, members: &[&str]) -> String {
    let created = app
        .ok(
            admin,
            "mutation($n: String!) { createGroup(name: $n) { id } }",
            json!({"n": name}),
        )
        .await;
    let group = created["createGroup"]["id"].as_str().unwrap().to_owned();
    for member in members {
        app.ok(
            admin,
            "mutation($g: ID!, $m: ID!) { addGroupMember(groupId: $g, memberId: $m, role: MEMBER) { id } }",
            json!({"g": group, "m": member}),
        )
        .await;
    }
    group
}

fn location(res: &Response) -> String {
    res.headers()[LOCATION].to_str().unwrap().to_owned()
}

async fn page(app: &TestApp, cookies: &str, path: &str) -> String {
    let res = get(app, cookies, path).await;
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    res.text().await.unwrap()
}

/// The folder page's upload form as a browser without JavaScript sends it.
async fn upload_form(
    app: &TestApp,
    cookies: &str,
    fields: &[(&str, &str)],
    files: &[(&str, &[u8])],
) -> Response {
    post_multipart(app, cookies, "/files/upload-form", fields, ("files", files)).await
}

#[tokio::test]
async fn a_folder_page_lists_with_breadcrumbs_a_quota_bar_and_pages() {
    let app = TestApp::spawn().await;
    let (admin, ann, _) = setup(&app, "uni").await;
    let home = node_id(&app, &ann, "/home").await;
    let study = folder(&app, &ann, &home, "study").await;
    folder(&app, &ann, &study, "scans").await;
    let script = "<img src=x onerror=alert(1)>.txt";
    let file = upload(&app, &ann, &study, script, b"hello").await;
    set_home_quota(&app, &admin, &me(&app, &ann).await, 1000.0).await;
    let cookies = signed_in(&app, "uni", "ann@uni.org").await;

    // /files alone is the home, with the quota bar
    let html = page(&app, &cookies, "/files").await;
    assert!(
        html.contains(r#"<a href="/files?path=/home" aria-current="page">Home</a>"#),
        "{html}"
    );
    assert!(html.contains(r#"href="/files?path=/home/study""#));
    assert!(
        html.contains(r#"<progress id="quota-bar" max="1000" value="5">"#),
        "{html}"
    );
    assert!(html.contains("5 B of 1000 B (0%)"));

    // a folder: every crumb a link, folders first, a download link per file, escaped
    let html = page(&app, &cookies, "/files?path=/home/study").await;
    for crumb in [
        r#"<a href="/files?path=/">All spaces</a>"#,
        r#"<a href="/files?path=/home">Home</a>"#,
        r#"<a href="/files?path=/home/study" aria-current="page">study</a>"#,
    ] {
        assert!(html.contains(crumb), "{crumb} in {html}");
    }
    let scans = html.find("/home/study/scans").unwrap();
    let download = format!(r#"<a href="/files/nodes/{file}" download>"#);
    assert!(scans < html.find(&download).unwrap(), "folders first");
    assert!(
        html.contains("&#60;img src=x onerror=alert(1)&#62;.txt"),
        "{html}"
    );
    assert!(!html.contains("<img"), "markup is shown as text");
    let res = get(&app, &cookies, &format!("/files/nodes/{file}")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().await.unwrap(), "hello");

    // one row a page: the folder, then the file
    let first = page(&app, &cookies, "/files?path=/home/study&per=1").await;
    assert!(first.contains("/home/study/scans") && !first.contains(&download));
    assert!(first.contains(r#"rel="next""#) && !first.contains(r#"rel="prev""#));
    assert!(first.contains("Page 1"));
    let second = page(&app, &cookies, "/files?path=/home/study&per=1&page=2").await;
    assert!(second.contains(&download) && !second.contains("/home/study/scans"));
    assert!(second.contains(r#"rel="prev""#) && !second.contains(r#"rel="next""#));
    let res = get(&app, &cookies, "/files?path=/home/study&page=0").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    // the virtual folders above the spaces
    let top = page(&app, &cookies, "/files?path=/").await;
    for path in ["/home", "/groups", "/shared"] {
        assert!(
            top.contains(&format!(r#"href="/files?path={path}""#)),
            "{top}"
        );
    }
    let groups = page(&app, &cookies, "/files?path=/groups").await;
    assert!(groups.contains("You are in no group yet."));
    // a file's path shows its folder, at its row
    let res = client()
        .get(format!("{}/files", app.url))
        .query(&[("path", format!("/home/study/{script}"))])
        .header(COOKIE, &cookies)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), format!("/files?path=/home/study#n-{file}"));
    let res = get(&app, &cookies, "/files?path=/home/nowhere").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn folders_are_made_renamed_moved_trashed_and_restored_with_forms() {
    let app = TestApp::spawn().await;
    let (_, ann, _) = setup(&app, "uni").await;
    let home = node_id(&app, &ann, "/home").await;
    let cookies = signed_in(&app, "uni", "ann@uni.org").await;
    let csrf = csrf_of(&cookies);

    // a new folder: 303 back to the folder
    let new_folder = async |name: &str| {
        let form = [
            ("csrf", csrf.as_str()),
            ("parent", home.as_str()),
            ("name", name),
        ];
        post(&app, &cookies, "/files/folder", &form).await
    };
    let res = new_folder("study").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/files?path=/home");
    assert_eq!(names(&space(&app, &ann, "/home").await), ["study"]);
    // refused beside the field, the entry kept
    let res = new_folder("a/<b>").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let html = res.text().await.unwrap();
    assert!(
        html.contains(r#"<p class="field-error" role="alert" id="new-folder-name-error">"#),
        "{html}"
    );
    assert!(html.contains(r#"value="a/&#60;b&#62;""#), "{html}");
    assert_eq!(new_folder("study").await.status(), StatusCode::CONFLICT);

    // renamed
    let study = node_id(&app, &ann, "/home/study").await;
    let res = post(
        &app,
        &cookies,
        "/files/rename",
        &[("csrf", &csrf), ("id", &study), ("name", "study 2026")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/files?path=/home");
    assert_eq!(names(&space(&app, &ann, "/home").await), ["study 2026"]);
    let res = post(
        &app,
        &cookies,
        "/files/rename",
        &[("csrf", &csrf), ("id", &study), ("name", "x/y")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let html = res.text().await.unwrap();
    assert!(
        html.contains(&format!(r#"id="rename-{study}-error""#)),
        "{html}"
    );
    assert!(html.contains(r#"value="x/y""#) && html.contains("<details open>"));

    // moved by the destination's path
    let archive = folder(&app, &ann, &home, "archive").await;
    let notes = upload(&app, &ann, &home, "notes.txt", b"n").await;
    let res = post(
        &app,
        &cookies,
        "/files/move",
        &[
            ("csrf", &csrf),
            ("id", &notes),
            ("destination", "/home/archive"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/files?path=/home");
    assert_eq!(
        names(&space(&app, &ann, "/home/archive").await),
        ["notes.txt"]
    );
    let res = post(
        &app,
        &cookies,
        "/files/move",
        &[
            ("csrf", &csrf),
            ("id", &study),
            ("destination", "/home/nowhere"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let html = res.text().await.unwrap();
    assert!(
        html.contains(&format!(r#"id="move-{study}-error""#)),
        "{html}"
    );
    assert!(html.contains(r#"value="/home/nowhere""#));

    // to the trash, seen there, restored from it
    let res = post(
        &app,
        &cookies,
        "/files/delete",
        &[("csrf", &csrf), ("id", &archive)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(names(&space(&app, &ann, "/home").await), ["study 2026"]);
    let trash = page(&app, &cookies, "/files/trash?path=/home").await;
    assert!(
        trash.contains(&format!(r#"<tr id="n-{archive}">"#)),
        "{trash}"
    );
    assert!(trash.contains(&format!(r#"name="id" value="{archive}""#)));
    let res = post(
        &app,
        &cookies,
        "/files/restore",
        &[("csrf", &csrf), ("id", &archive)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/files?path=/home");
    assert_eq!(
        names(&space(&app, &ann, "/home").await),
        ["archive", "study 2026"]
    );
    assert!(
        page(&app, &cookies, "/files/trash?path=/home")
            .await
            .contains("The trash is empty.")
    );

    // a forged token: 403, nothing changes
    let events = app.event_count().await;
    for (path, form) in [
        (
            "/files/folder",
            vec![("parent", home.as_str()), ("name", "x")],
        ),
        ("/files/rename", vec![("id", study.as_str()), ("name", "x")]),
        (
            "/files/move",
            vec![("id", study.as_str()), ("destination", "/home/archive")],
        ),
        ("/files/delete", vec![("id", study.as_str())]),
    ] {
        let mut form = form;
        form.push(("csrf", "forged"));
        let res = post(&app, &cookies, path, &form).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(app.event_count().await, events, "nothing recorded");
    assert_eq!(
        names(&space(&app, &ann, "/home").await),
        ["archive", "study 2026"]
    );
}

#[tokio::test]
async fn a_folder_shared_with_a_group_shows_under_shared_and_others_find_nothing() {
    let app = TestApp::spawn().await;
    let (admin, ann, _) = setup(&app, "uni").await;
    let (bob, _) = app.member("uni", "bob@uni.org", &[]).await;
    app.member("uni", "carl@uni.org", &[]).await;
    let mri = group(
        &app,
        &admin,
        "MRI",
        &[&me(&app, &ann).await, &bob.to_string()],
    )
    .await;
    let home = node_id(&app, &ann, "/home").await;
    let study = folder(&app, &ann, &home, "study").await;
    upload(&app, &ann, &study, "t1.nii", b"t1").await;
    let ann_c = signed_in(&app, "uni", "ann@uni.org").await;

    // shared with one of ann's groups, chosen in a select
    let html = page(&app, &ann_c, "/files").await;
    assert!(html.contains(&format!(
        r#"<label for="share-{study}">Share with group</label>"#
    )));
    assert!(
        html.contains(&format!(r#"<option value="{mri}">MRI</option>"#)),
        "{html}"
    );
    let res = post(
        &app,
        &ann_c,
        "/files/share",
        &[
            ("csrf", &csrf_of(&ann_c)),
            ("id", &study),
            ("group", &mri),
            ("access", "READ"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/files?path=/home");
    assert!(
        page(&app, &ann_c, "/files")
            .await
            .contains("Shared with MRI (read only)")
    );

    // bob, in the group, finds it under /shared, read only
    let bob_c = signed_in(&app, "uni", "bob@uni.org").await;
    let shared = page(&app, &bob_c, "/files?path=/shared").await;
    assert!(
        shared.contains(r#"href="/files?path=/shared/study""#),
        "{shared}"
    );
    let inside = page(&app, &bob_c, "/files?path=/shared/study").await;
    assert!(inside.contains("t1.nii"));
    assert!(
        !inside.contains(r#"id="upload-form""#),
        "read only: no upload"
    );
    let res = post(
        &app,
        &bob_c,
        "/files/rename",
        &[("csrf", &csrf_of(&bob_c)), ("id", &study), ("name", "mine")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // carl (no group) and a member of another tenant reach nothing of it
    let carl_c = signed_in(&app, "uni", "carl@uni.org").await;
    app.tenant("other").await;
    app.member("other", "eve@other.org", &[]).await;
    let eve_c = signed_in(&app, "other", "eve@other.org").await;
    let events = app.event_count().await;
    for who in [&carl_c, &eve_c] {
        for path in ["/files?path=/shared/study", "/files?path=/groups/MRI"] {
            assert_eq!(
                get(&app, who, path).await.status(),
                StatusCode::NOT_FOUND,
                "{path}"
            );
        }
        let csrf = csrf_of(who);
        for (path, form) in [
            (
                "/files/delete",
                vec![("csrf", csrf.as_str()), ("id", study.as_str())],
            ),
            (
                "/files/rename",
                vec![
                    ("csrf", csrf.as_str()),
                    ("id", study.as_str()),
                    ("name", "x"),
                ],
            ),
            (
                "/files/folder",
                vec![
                    ("csrf", csrf.as_str()),
                    ("parent", study.as_str()),
                    ("name", "x"),
                ],
            ),
            (
                "/files/share",
                vec![
                    ("csrf", csrf.as_str()),
                    ("id", study.as_str()),
                    ("group", mri.as_str()),
                ],
            ),
        ] {
            let res = post(&app, who, path, &form).await;
            assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        }
        let res = upload_form(
            &app,
            who,
            &[("csrf", &csrf), ("parent", &study)],
            &[("x.txt", b"x")],
        )
        .await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
    }
    assert_eq!(app.event_count().await, events, "nothing recorded");
    assert_eq!(names(&space(&app, &ann, "/home").await), ["study"]);

    // unshared: gone from bob's /shared
    let res = post(
        &app,
        &ann_c,
        "/files/unshare",
        &[
            ("csrf", &csrf_of(&ann_c)),
            ("id", &study),
            ("kind", "group"),
            ("grantee", &mri),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let shared = page(&app, &bob_c, "/files?path=/shared").await;
    assert!(
        shared.contains("Nobody shares a folder with you yet."),
        "{shared}"
    );
}

#[tokio::test]
async fn the_upload_form_works_without_javascript_and_stores_all_or_nothing() {
    let app = TestApp::spawn().await;
    let (admin, ann, _) = setup(&app, "uni").await;
    let home = node_id(&app, &ann, "/home").await;
    let cookies = signed_in(&app, "uni", "ann@uni.org").await;
    let csrf = csrf_of(&cookies);
    let fields = [("csrf", csrf.as_str()), ("parent", home.as_str())];

    let res = upload_form(
        &app,
        &cookies,
        &fields,
        &[("a.txt", b"first"), ("b.txt", b"second!")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/files?path=/home");
    let listed = space(&app, &ann, "/home").await;
    assert_eq!(names(&listed), ["a.txt", "b.txt"]);
    let a = listed["children"]["edges"][0]["node"]["id"]
        .as_str()
        .unwrap();
    assert_eq!(
        app.download(&ann, a, None).await.text().await.unwrap(),
        "first"
    );
    let html = page(&app, &cookies, "/files").await;
    assert!(html.contains("a.txt") && html.contains("b.txt"));

    // 12 bytes used of 20: each of two 5-byte files fits, both together do not
    set_home_quota(&app, &admin, &me(&app, &ann).await, 20.0).await;
    wait_for_blobs(&app, 2).await;
    let events = app.event_count().await;
    let res = upload_form(
        &app,
        &cookies,
        &fields,
        &[("c.txt", b"12345"), ("d.txt", b"67890")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let html = res.text().await.unwrap();
    assert!(
        html.contains(r#"<p class="field-error" role="alert" id="upload-files-error">"#),
        "{html}"
    );
    assert!(html.contains("room"), "{html}");
    assert_eq!(app.event_count().await, events, "nothing recorded");
    assert_eq!(names(&space(&app, &ann, "/home").await), ["a.txt", "b.txt"]);
    wait_for_blobs(&app, 2).await;

    // a name already taken, a forged token, no file chosen: refused, nothing stored
    let res = upload_form(&app, &cookies, &fields, &[("a.txt", b"x")]).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let forged = [("csrf", "forged"), ("parent", home.as_str())];
    let res = upload_form(&app, &cookies, &forged, &[("e.txt", b"x")]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = upload_form(&app, &cookies, &fields, &[("", b"")]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("choose one or more files")
    );
    assert_eq!(app.event_count().await, events, "nothing recorded");
    wait_for_blobs(&app, 2).await;
}

/// `POST /files/upload` as the folder page's script sends it: the file as the body, the
/// session cookie, and the page's CSRF token in `X-CSRF-Token` (when `token` is given).
async fn cookie_upload(
    app: &TestApp,
    cookies: &str,
    token: Option<&str>,
    (parent, name): (&str, &str),
    (content_type, body): (&str, &[u8]),
) -> (StatusCode, String) {
    let mut req = client()
        .post(format!("{}/files/upload", app.url))
        .query(&[("parent", parent), ("name", name)])
        .header(COOKIE, cookies)
        .header("content-type", content_type)
        .body(body.to_vec());
    if let Some(token) = token {
        req = req.header("x-csrf-token", token);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let body: serde_json::Value = res.json().await.unwrap_or_default();
    (
        status,
        body["error"]["code"].as_str().unwrap_or("").to_owned(),
    )
}

/// The one-shot upload took the session cookie alone: another site's page (a form posted
/// to it, a script) could make a signed-in browser store files. With the cookie it now
/// needs the page's CSRF token in `X-CSRF-Token` — refused FORBIDDEN otherwise, before a
/// byte is stored; bearer clients need no token.
#[tokio::test]
async fn a_session_cookie_uploads_only_with_the_pages_csrf_token() {
    let app = TestApp::spawn().await;
    let (_, ann, _) = setup(&app, "uni").await;
    let home = node_id(&app, &ann, "/home").await;
    let cookies = signed_in(&app, "uni", "ann@uni.org").await;
    let csrf = csrf_of(&cookies);
    let session_only = cookies.split("; ").next().unwrap().to_owned();
    assert!(session_only.starts_with("medgrid_session="));
    let events = app.event_count().await;
    let blobs = app.blob_count().await;

    let at = (home.as_str(), "forged.txt");
    let octets = ("application/octet-stream", b"not mine".as_slice());
    // what another site can make the browser send: a form (multipart or text/plain), or a
    // script without the token; a forged token; the token without its cookie
    let form = (
        "multipart/form-data; boundary=x",
        b"--x\r\n\r\nnot mine\r\n--x--".as_slice(),
    );
    let text = ("text/plain", b"not=mine".as_slice());
    for (cookie, token, body) in [
        (cookies.as_str(), None, octets),
        (cookies.as_str(), None, form),
        (cookies.as_str(), None, text),
        (cookies.as_str(), Some(""), octets),
        (cookies.as_str(), Some("forged"), octets),
        (session_only.as_str(), Some(csrf.as_str()), octets),
    ] {
        let refused = cookie_upload(&app, cookie, token, at, body).await;
        assert_eq!(
            refused,
            (StatusCode::FORBIDDEN, "FORBIDDEN".to_owned()),
            "{cookie} {token:?} {}",
            body.0
        );
    }
    assert_eq!(app.event_count().await, events, "nothing recorded");
    assert!(names(&space(&app, &ann, "/home").await).is_empty());
    assert_eq!(app.blob_count().await, blobs, "nothing stored");

    // the page's script: cookie and token
    let (status, _) = cookie_upload(&app, &cookies, Some(&csrf), at, ("text/plain", b"mine")).await;
    assert_eq!(status, StatusCode::CREATED);
    // a bearer client needs no token, with or without a browser's cookies beside it
    let (status, body) = app.upload(&ann, &home, "api.txt", b"api".to_vec()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let res = client()
        .post(format!("{}/files/upload", app.url))
        .query(&[("parent", home.as_str()), ("name", "both.txt")])
        .bearer_auth(&ann)
        .header(COOKIE, &session_only)
        .body("both")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(
        names(&space(&app, &ann, "/home").await),
        ["api.txt", "both.txt", "forged.txt"]
    );
}

#[tokio::test]
async fn a_member_uploads_with_progress_and_shares_in_a_real_browser() {
    let app = TestApp::spawn().await;
    let (admin, ann, _) = setup(&app, "uni").await;
    let ann_id = me(&app, &ann).await;
    let mri = group(&app, &admin, "MRI", &[&ann_id]).await;
    set_home_quota(&app, &admin, &ann_id, 10.0 * 1024.0 * 1024.0).await;
    let shots = browser::screenshots("files");
    let args = [
        app.url.as_str(),
        "uni",
        "ann@uni.org",
        "a long test password",
    ];
    let seen = browser::run("browser-files.mjs", &args, &shots).await;
    browser::assert_accessible(&seen, 2);
    let progress = seen["progress"].as_array().unwrap();
    assert_eq!(progress.len(), 3, "{seen}");
    for (bar, name) in progress
        .iter()
        .zip(["scan-1.txt", "scan-2.txt", "dropped.txt"])
    {
        assert_eq!(bar["name"], name, "{seen}");
        assert_eq!(bar["value"], 100, "{seen}");
        assert_eq!(bar["text"], "100% · uploaded", "{seen}");
    }
    let listed = seen["listed"].to_string();
    for name in ["scan-1.txt", "scan-2.txt", "dropped.txt", "results"] {
        assert!(listed.contains(name), "{seen}");
    }
    assert_eq!(
        seen["quota"], "600.0 KiB of 10.0 MiB (5%)",
        "redrawn: {seen}"
    );
    assert_eq!(seen["shared"], "Shared with MRI (read only)", "{seen}");
    assert_eq!(seen["tabletOverflow"], false, "fits a 768px tablet: {seen}");

    // what the browser did is what the server holds
    let home = space(&app, &ann, "/home").await;
    assert_eq!(
        names(&home),
        ["results", "dropped.txt", "scan-1.txt", "scan-2.txt"]
    );
    let scan = home["children"]["edges"][2]["node"]["id"].as_str().unwrap();
    let body = app.download(&ann, scan, None).await.bytes().await.unwrap();
    assert_eq!(body.len(), 300 * 1024);
    let results = home["children"]["edges"][0]["node"]["id"].as_str().unwrap();
    let shares = app
        .ok(
            &ann,
            "query($id: ID!) { node(id: $id) { shares { granteeId access } } }",
            json!({"id": results}),
        )
        .await;
    assert_eq!(
        shares["node"]["shares"],
        json!([{"granteeId": mri, "access": "READ"}])
    );
    for shot in [
        "02-uploaded",
        "03-dropped",
        "04-actions",
        "05-shared",
        "06-tablet",
    ] {
        assert!(shots.join(format!("{shot}.png")).exists(), "{shot}");
    }
}
