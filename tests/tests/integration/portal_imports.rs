//! The portal's import pages: over plain HTTP without JavaScript (a URL import asked
//! through the form and followed on the list to its end, the file in the folder;
//! refusals beside their field with the values kept and secrets never shown back; CSRF;
//! another member finds nothing and cancels nothing), an S3 prefix from Garage and a
//! DICOMweb study found and imported from Orthanc through the forms, and one import
//! followed live in headless Chromium.

use std::time::{Duration, Instant};

use medgrid_tests::{TestApp, browser};
use reqwest::header::LOCATION;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::dicomweb::{Study, orthanc};
use crate::imports::{
    Objects, content, env, events_mentioning, hex, import, listing, source_server, wait_for,
};
use crate::jobs::setup;
use crate::portal::{csrf_of, get, post, signed_in};
use crate::spaces::{folder, space};

const FINAL: [&str; 3] = ["SUCCEEDED", "FAILED", "CANCELLED"];

/// The imports the member sees (GraphQL), newest first.
async fn imports_of(app: &TestApp, token: &str) -> Vec<Value> {
    let q = "{ imports(first: 50) { edges { node { id state } } } }";
    app.ok(token, q, json!({})).await["imports"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

/// An import form as a browser without JavaScript sends it from the page of /home.
async fn send(app: &TestApp, cookies: &str, action: &str, fields: &[(&str, &str)]) -> Response {
    let csrf = csrf_of(cookies);
    let mut form = vec![("csrf", csrf.as_str()), ("from", "/home")];
    form.extend_from_slice(fields);
    post(app, cookies, action, &form).await
}

/// Asks for an import through its form; the import's id, from the 303 to its row.
async fn ask(app: &TestApp, cookies: &str, source: &str, fields: &[(&str, &str)]) -> String {
    let res = send(app, cookies, &format!("/files/import/{source}"), fields).await;
    let status = res.status();
    let to = res
        .headers()
        .get(LOCATION)
        .map(|l| l.to_str().unwrap().to_owned());
    let Some(to) = to.filter(|_| status == StatusCode::SEE_OTHER) else {
        panic!("{status}: {}", res.text().await.unwrap());
    };
    to.strip_prefix("/files/imports#i-").unwrap().to_owned()
}

/// A refused form: 422 and the page it comes back in.
async fn refused(app: &TestApp, cookies: &str, action: &str, fields: &[(&str, &str)]) -> String {
    let res = send(app, cookies, action, fields).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{fields:?}");
    res.text().await.unwrap()
}

async fn page(app: &TestApp, cookies: &str, path: &str) -> String {
    let res = get(app, cookies, path).await;
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    res.text().await.unwrap()
}

/// The live part of the list, fetched again until it says every row is final.
async fn live_until_final(app: &TestApp, cookies: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let html = page(app, cookies, "/files/imports/live").await;
        if html.contains(" data-final") {
            return html;
        }
        assert!(Instant::now() < deadline, "never all final: {html}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The row of import `id` in a list page.
fn row_of<'h>(html: &'h str, id: &str) -> &'h str {
    let start = html
        .find(&format!(r#"<tr id="i-{id}""#))
        .unwrap_or_else(|| panic!("no row of {id}: {html}"));
    let rest = &html[start..];
    &rest[..rest.find("</tr>").unwrap()]
}

async fn me(app: &TestApp, token: &str) -> String {
    app.ok(token, "{ me { id } }", json!({})).await["me"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_url_import_asked_through_the_form_ends_done_with_the_file_in_the_folder() {
    let app = TestApp::spawn().await;
    let (_, ann, _) = setup(&app, "uni").await;
    let server = source_server().await;
    let cookies = signed_in(&app, "uni", "ann@uni.org").await;

    // the folder page links its import page, whose three forms import into it
    let folder_page = page(&app, &cookies, "/files?path=/home").await;
    assert!(
        folder_page.contains(r#"<a href="/files/import?path=/home" id="import-link">"#),
        "{folder_page}"
    );
    let form = page(&app, &cookies, "/files/import?path=/home").await;
    for action in ["url", "s3", "dicomweb"] {
        assert!(form.contains(&format!(r#"action="/files/import/{action}""#)));
        assert!(form.contains(&format!(
            r#"id="{action}-folder" name="folder" value="/home""#
        )));
    }
    assert!(form.contains(r#"formaction="/files/import/dicomweb/search""#));
    assert!(form.contains(
        r#"<input type="password" id="s3-secretAccessKey" name="secretAccessKey" autocomplete="off""#
    ));
    assert!(form.contains(r#"<label for="url-url">Address of the file"#));

    let scan = format!("{server}/files/scan.nii?token=s3cr3t-query");
    let id = ask(
        &app,
        &cookies,
        "url",
        &[("folder", "/home"), ("url", &scan)],
    )
    .await;
    // a file the server does not have fails, its reason on its row
    let missing = format!("{server}/<script>x</script>");
    let bad = ask(
        &app,
        &cookies,
        "url",
        &[("folder", "/home"), ("url", &missing)],
    )
    .await;

    let list = page(&app, &cookies, "/files/imports").await;
    assert!(
        list.contains(r#"data-live="/files/imports/live""#),
        "{list}"
    );
    let row = row_of(&list, &id);
    assert!(row.contains(&format!("{server}/files/scan.nii")), "{row}");
    assert!(!row.contains("s3cr3t-query"), "the query is never shown");
    assert!(
        row.contains(r#"<a href="/files?path=/home" class="folder">/home</a>"#),
        "{row}"
    );
    assert!(
        row.contains(&format!(r#"<progress id="progress-{id}""#)),
        "{row}"
    );

    let live = live_until_final(&app, &cookies).await;
    let done = row_of(&live, &id);
    assert!(done.contains(r#"data-state="SUCCEEDED""#), "{done}");
    assert!(done.contains(">Done</span>"), "{done}");
    assert!(done.contains(r#"max="1" value="1""#), "a full bar: {done}");
    assert!(done.contains("1 file, 1.0 KiB"), "{done}");
    assert!(!done.contains("/cancel"), "nothing left to cancel");
    let failed = row_of(&live, &bad);
    assert!(failed.contains(r#"data-state="FAILED""#), "{failed}");
    assert!(
        failed.contains(&format!(r#"id="reason-{bad}""#)),
        "{failed}"
    );
    assert!(!live.contains("<script>x"), "markup is escaped");
    assert!(
        live.contains("&#60;script&#62;x&#60;/script&#62;"),
        "{live}"
    );

    // what the page says is what the server holds
    assert_eq!(import(&app, &ann, &id).await["state"], "SUCCEEDED");
    assert_eq!(import(&app, &ann, &bad).await["state"], "FAILED");
    let files = listing(&app, &ann, "/home").await;
    let file = files.iter().find(|f| f["name"] == "scan.nii").unwrap();
    assert_eq!(file["sha256"], hex(&content(1024)));
    assert!(
        page(&app, &cookies, "/files?path=/home")
            .await
            .contains(">scan.nii</a>")
    );
}

#[tokio::test]
async fn refusals_come_back_beside_their_field_with_the_values_kept_and_nothing_recorded() {
    let app = TestApp::spawn().await;
    let (_, ann, _) = setup(&app, "uni").await;
    let (_, bob) = app.member("uni", "bob@uni.org", &[]).await;
    let server = source_server().await;
    // bob's folder, shared with ann read only
    let bob_home = space(&app, &bob, "/home").await["node"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let scans = folder(&app, &bob, &bob_home, "scans").await;
    let share = "mutation($id: ID!, $w: GranteeInput!) { shareFolder(id: $id, with: $w, access: READ) { id } }";
    let ann_id = me(&app, &ann).await;
    app.ok(&bob, share, json!({"id": scans, "w": {"memberId": ann_id}}))
        .await;
    let c = signed_in(&app, "uni", "ann@uni.org").await;
    let scan = format!("{server}/files/scan.nii");
    let metadata = "http://169.254.169.254/latest/meta-data/";

    // the SSRF guard, beside the URL, kept
    let html = refused(
        &app,
        &c,
        "/files/import/url",
        &[("folder", "/home"), ("url", metadata)],
    )
    .await;
    assert!(
        html.contains(r#"<p class="field-error" role="alert" id="url-url-error">"#),
        "{html}"
    );
    assert!(
        html.contains(&format!(r#"name="url" value="{metadata}""#)),
        "{html}"
    );
    // a folder that is not there, or only to read: beside the folder
    let html = refused(
        &app,
        &c,
        "/files/import/url",
        &[("folder", "/home/nowhere"), ("url", &scan)],
    )
    .await;
    assert!(html.contains(r#"id="url-folder-error""#), "{html}");
    assert!(html.contains(r#"value="/home/nowhere""#));
    let html = refused(
        &app,
        &c,
        "/files/import/url",
        &[("folder", "/shared/scans"), ("url", &scan)],
    )
    .await;
    let error = html.split(r#"id="url-folder-error">"#).nth(1).unwrap();
    assert!(
        error.starts_with("this folder is shared with you read-only"),
        "{error}"
    );

    // S3: the endpoint refused; the bucket kept and escaped; the secret never shown back
    let s3 = [
        ("folder", "/home"),
        ("endpoint", "http://169.254.169.254"),
        ("bucket", "<script>b</script>"),
        ("accessKeyId", "AKID"),
        ("secretAccessKey", "hush-hush-secret"),
    ];
    let html = refused(&app, &c, "/files/import/s3", &s3).await;
    assert!(html.contains(r#"id="s3-endpoint-error""#), "{html}");
    assert!(
        html.contains(r#"value="&#60;script&#62;b&#60;/script&#62;""#),
        "{html}"
    );
    assert!(!html.contains("<script>b") && !html.contains("hush-hush-secret"));
    let html = refused(
        &app,
        &c,
        "/files/import/s3",
        &[
            ("folder", "/home"),
            ("endpoint", &server),
            ("bucket", " "),
            ("accessKeyId", "AKID"),
            ("secretAccessKey", "hush-hush-secret"),
        ],
    )
    .await;
    assert!(html.contains(r#"id="s3-bucket-error""#), "{html}");

    // DICOMweb: a bad UID beside its field; half credentials above the form, no secret
    let dw = "http://127.0.0.1:9/dicom-web";
    let html = refused(
        &app,
        &c,
        "/files/import/dicomweb",
        &[
            ("folder", "/home"),
            ("url", dw),
            ("studyInstanceUid", "1.2.x"),
        ],
    )
    .await;
    assert!(
        html.contains(r#"id="dicomweb-studyInstanceUid-error""#),
        "{html}"
    );
    assert!(html.contains(r#"value="1.2.x""#));
    let half = [
        ("folder", "/home"),
        ("url", dw),
        ("studyInstanceUid", "1.2.3"),
        ("username", "u"),
        ("bearerToken", "tok-secret-123"),
    ];
    let html = refused(&app, &c, "/files/import/dicomweb", &half).await;
    assert!(
        html.contains(r#"role="alert" class="error" id="dicomweb-alert""#),
        "{html}"
    );
    assert!(!html.contains("tok-secret-123"));
    // a search of an address the guard refuses
    let html = refused(
        &app,
        &c,
        "/files/import/dicomweb/search",
        &[
            ("folder", "/home"),
            ("url", "http://169.254.169.254/dicom-web"),
        ],
    )
    .await;
    assert!(html.contains(r#"id="dicomweb-url-error""#), "{html}");

    assert!(imports_of(&app, &ann).await.is_empty(), "nothing recorded");
    assert_eq!(events_mentioning(&app, "hush-hush-secret").await, 0);
}

#[tokio::test]
async fn csrf_is_refused_and_another_member_neither_sees_nor_cancels_an_import() {
    let app = TestApp::spawn().await;
    let (_, ann, _) = setup(&app, "uni").await;
    app.member("uni", "bob@uni.org", &[]).await;
    app.tenant("lab").await;
    app.member("lab", "eve@lab.org", &[]).await;
    let server = source_server().await;
    let ann_c = signed_in(&app, "uni", "ann@uni.org").await;

    // a forged token: refused, nothing recorded
    let scan = format!("{server}/files/scan.nii");
    for action in ["/files/import/url", "/files/import/dicomweb/search"] {
        let form = [
            ("csrf", "forged"),
            ("folder", "/home"),
            ("url", scan.as_str()),
        ];
        let res = post(&app, &ann_c, action, &form).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{action}");
    }
    assert!(imports_of(&app, &ann).await.is_empty());

    // a transfer of 30 s, under way: a bar without a value (the total is not known)
    let slow = format!("{server}/drip/300");
    let id = ask(&app, &ann_c, "url", &[("folder", "/home"), ("url", &slow)]).await;
    wait_for(&app, &ann, &id, &["RUNNING"]).await;
    let list = page(&app, &ann_c, "/files/imports").await;
    let row = row_of(&list, &id);
    assert!(
        row.contains(&format!(r#"<progress id="progress-{id}" aria-labelledby"#)),
        "{row}"
    );
    assert!(
        row.contains(&format!(r#"action="/files/imports/{id}/cancel""#)),
        "{row}"
    );
    assert!(!list.contains(" data-final"), "followed while it runs");
    // the tenant's administrator sees it too
    let admin_c = signed_in(&app, "uni", "admin@uni.org").await;
    let theirs = page(&app, &admin_c, "/files/imports").await;
    let row = row_of(&theirs, &id);
    assert!(
        row.contains(r#"<span class="help asker">by ann@uni.org</span>"#),
        "{row}"
    );

    let cancel = format!("/files/imports/{id}/cancel");
    for (tenant, email) in [("uni", "bob@uni.org"), ("lab", "eve@lab.org")] {
        let other = signed_in(&app, tenant, email).await;
        assert!(!page(&app, &other, "/files/imports").await.contains(&id));
        assert!(
            !page(&app, &other, "/files/imports/live")
                .await
                .contains(&id)
        );
        let res = post(&app, &other, &cancel, &[("csrf", &csrf_of(&other))]).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{email}");
    }
    let res = post(&app, &ann_c, &cancel, &[("csrf", "forged")]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(import(&app, &ann, &id).await["state"], "RUNNING");

    let res = post(&app, &ann_c, &cancel, &[("csrf", &csrf_of(&ann_c))]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[LOCATION], format!("/files/imports#i-{id}"));
    assert_eq!(import(&app, &ann, &id).await["state"], "CANCELLED");
    let live = live_until_final(&app, &ann_c).await;
    let row = row_of(&live, &id);
    assert!(
        row.contains(">Cancelled</span>") && !row.contains("/cancel"),
        "{row}"
    );
    let res = post(&app, &ann_c, &cancel, &[("csrf", &csrf_of(&ann_c))]).await;
    assert_eq!(res.status(), StatusCode::CONFLICT, "a finished import");
}

#[tokio::test]
async fn an_s3_prefix_from_garage_is_imported_through_the_form() {
    let app = TestApp::spawn().await;
    let (_, ann, _) = setup(&app, "uni").await;
    let objects = [("a.txt", content(100)), ("sub/b.bin", content(200))];
    let bucket = Objects::put("portal-import", &objects).await;
    let (settings, prefix) = (&bucket.settings, &bucket.prefix);
    let secret = env("MEDGRID_TEST_S3_SECRET");
    let endpoint = settings.endpoint.clone().unwrap();
    let c = signed_in(&app, "uni", "ann@uni.org").await;
    let form = [
        ("folder", "/home"),
        ("endpoint", endpoint.as_str()),
        ("bucket", settings.bucket.as_str()),
        ("prefix", prefix.as_str()),
        ("region", settings.region.as_str()),
        ("accessKeyId", settings.access_key_id.as_str()),
        ("secretAccessKey", secret.as_str()),
    ];
    let id = ask(&app, &c, "s3", &form).await;
    let done = wait_for(&app, &ann, &id, &FINAL).await;
    assert_eq!(done["state"], "SUCCEEDED", "{done}");
    assert_eq!(
        (done["files"].as_f64(), done["bytes"].as_f64()),
        (Some(2.0), Some(300.0))
    );

    let live = live_until_final(&app, &c).await;
    let row = row_of(&live, &id);
    assert!(
        row.contains("From S3") && row.contains("2 files, 300 B"),
        "{row}"
    );
    assert!(
        row.contains(&format!("s3://{}/{prefix}", settings.bucket)),
        "{row}"
    );
    assert!(!live.contains(&secret), "the secret is never shown");
    assert_eq!(events_mentioning(&app, &secret).await, 0);
    let top = listing(&app, &ann, "/home").await;
    let a = top.iter().find(|n| n["name"] == "a.txt").unwrap();
    assert_eq!(a["sha256"], hex(&content(100)));
    let sub = listing(&app, &ann, "/home/sub").await;
    assert_eq!(sub[0]["name"], "b.bin");
    bucket.remove().await;
}

#[tokio::test]
async fn a_dicomweb_study_is_found_and_imported_through_the_forms() {
    let app = TestApp::spawn().await;
    let (_, ann, _) = setup(&app, "uni").await;
    let study = Study::new();
    study.upload().await;
    let url = format!("{}/dicom-web", orthanc());
    let c = signed_in(&app, "uni", "ann@uni.org").await;

    // the search: a POST with the token, listing the study with its button
    let search = "/files/import/dicomweb/search";
    let criteria = [
        ("folder", "/home"),
        ("url", url.as_str()),
        ("patientId", study.patient_id.as_str()),
    ];
    let res = send(&app, &c, search, &criteria).await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("<caption>Studies found: 1</caption>"),
        "{html}"
    );
    assert!(html.contains(&format!(
        r#"<button type="submit" name="study" value="{}">"#,
        study.study
    )));
    assert!(html.contains(&format!(r#"id="dicomweb-url" name="url" value="{url}""#)));
    let nobody = [
        ("folder", "/home"),
        ("url", url.as_str()),
        ("patientId", "NOBODY-HERE"),
    ];
    let res = send(&app, &c, search, &nobody).await;
    assert!(res.text().await.unwrap().contains(r#"id="no-studies""#));

    // its button sends the same form, naming the study
    let chosen = [
        ("folder", "/home"),
        ("url", url.as_str()),
        ("patientId", study.patient_id.as_str()),
        ("studyInstanceUid", ""),
        ("study", study.study.as_str()),
    ];
    let id = ask(&app, &c, "dicomweb", &chosen).await;
    let done = wait_for(&app, &ann, &id, &FINAL).await;
    assert_eq!(done["state"], "SUCCEEDED", "{done}");
    assert_eq!(done["files"], 3.0);
    let top = listing(&app, &ann, "/home").await;
    assert_eq!(top.len(), 1, "{top:?}");
    assert_ne!(top[0]["name"], study.study.as_str(), "under its new UID");

    let live = live_until_final(&app, &c).await;
    let row = row_of(&live, &id);
    assert!(
        row.contains("From DICOMweb") && row.contains("3 files"),
        "{row}"
    );
    assert!(!live.contains(&study.study), "no patient's UID shown");
    assert_eq!(events_mentioning(&app, &study.study).await, 0);
    assert_eq!(events_mentioning(&app, &study.patient_id).await, 0);
}

#[tokio::test]
async fn a_member_follows_an_import_in_a_real_browser() {
    let app = TestApp::spawn().await;
    let (_, ann, _) = setup(&app, "uni").await;
    let server = source_server().await;
    let shots = browser::screenshots("imports");
    let file = format!("{server}/drip/40");
    let args = [
        app.url.as_str(),
        "uni",
        "ann@uni.org",
        "a long test password",
        file.as_str(),
    ];
    let seen = browser::run("browser-imports.mjs", &args, &shots).await;
    browser::assert_accessible(&seen, 2);
    assert_eq!(
        seen["refused"]["kept"], "http://169.254.169.254/latest/meta-data/",
        "{seen}"
    );
    assert_eq!(
        seen["refused"]["focused"], "url-url",
        "the field to mend has the focus"
    );
    assert!(
        seen["landed"]
            .as_str()
            .unwrap()
            .contains("/files/imports#i-"),
        "{seen}"
    );
    assert_eq!(seen["progressShown"], true, "{seen}");
    assert_eq!(seen["indeterminate"], true, "no total known: {seen}");
    // seen changing in place: at least one state before SUCCEEDED, on the same page
    let states = seen["states"].as_array().unwrap();
    assert_eq!(states.last().unwrap(), "SUCCEEDED", "{seen}");
    assert!(states.len() >= 2, "the row moved on by itself: {seen}");
    assert_eq!(seen["samePage"], "yes", "no reload");
    assert_eq!(seen["doneLabel"], "Done", "{seen}");
    assert_eq!(seen["doneText"], "1 file, 40.0 KiB", "{seen}");
    assert_eq!(seen["doneBar"], 1, "{seen}");
    assert_eq!(seen["final"], true, "polling stopped: {seen}");
    assert!(seen["listed"].to_string().contains("\"40\""), "{seen}");

    let id = seen["landed"]
        .as_str()
        .unwrap()
        .rsplit("#i-")
        .next()
        .unwrap();
    let done = import(&app, &ann, id).await;
    assert_eq!(done["bytes"], 40.0 * 1024.0);
    for shot in ["01-refused", "02-under-way", "03-done", "04-in-the-folder"] {
        assert!(shots.join(format!("{shot}.png")).exists(), "{shot}");
    }
}
