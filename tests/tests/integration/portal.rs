//! The web portal: pages without JavaScript through plain HTTP (forms, CSRF, escaping,
//! authorization, field errors), and the whole path of a member in headless Chromium.

use medgrid_tests::{TestApp, browser};
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};

use crate::jobs::{register_app, setup};

/// An application for the portal's tests: waits `pause` seconds, then writes `message`.
fn demo_descriptor() -> Value {
    json!({
        "name": "portal-demo", "tool-version": "1", "schema-version": "0.5",
        "description": "Waits a little, then writes a message to out.txt (a demo).",
        "command-line": "sh -c 'sleep \"$1\"; printf \"%s\\n\" \"$2\" > out.txt' demo [PAUSE] [MESSAGE]",
        "inputs": [
            {"id": "message", "name": "Message", "type": "String", "value-key": "[MESSAGE]",
             "description": "What to write."},
            {"id": "pause", "name": "Pause (seconds)", "type": "Number", "integer": true,
             "minimum": 0, "maximum": 10, "default-value": 1, "value-key": "[PAUSE]", "optional": true}
        ],
        "output-files": [{"id": "out", "name": "Out", "path-template": "out.txt"}]
    })
}

pub(crate) fn client() -> Client {
    Client::builder().redirect(Policy::none()).build().unwrap()
}

pub(crate) fn set_cookie(res: &Response, name: &str) -> Option<String> {
    res.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap().to_owned())
}

/// A browser without JavaScript, signed in: its cookies.
pub(crate) async fn signed_in(app: &TestApp, tenant: &str, email: &str) -> String {
    let http = client();
    let page = http.get(format!("{}/login", app.url)).send().await.unwrap();
    let csrf = set_cookie(&page, "medgrid_csrf").unwrap();
    let res = http
        .post(format!("{}/login/local", app.url))
        .header(COOKIE, format!("medgrid_csrf={csrf}"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("next", "/"),
            ("tenant", tenant),
            ("email", email),
            ("password", "a long test password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let session = set_cookie(&res, "medgrid_session").unwrap();
    format!("medgrid_session={session}; medgrid_csrf={csrf}")
}

pub(crate) fn csrf_of(cookies: &str) -> String {
    cookies.split("medgrid_csrf=").nth(1).unwrap().to_owned()
}

pub(crate) async fn get(app: &TestApp, cookies: &str, path: &str) -> Response {
    client()
        .get(format!("{}{path}", app.url))
        .header(COOKIE, cookies)
        .send()
        .await
        .unwrap()
}

pub(crate) async fn post(
    app: &TestApp,
    cookies: &str,
    path: &str,
    form: &[(&str, &str)],
) -> Response {
    client()
        .post(format!("{}{path}", app.url))
        .header(COOKIE, cookies)
        .form(form)
        .send()
        .await
        .unwrap()
}

/// A multipart form as a browser without JavaScript sends it to `path`: the text fields,
/// then each of `files` (name, content) in the file field named first (a file field left
/// empty is one part with no name and no content).
pub(crate) async fn post_multipart(
    app: &TestApp,
    cookies: &str,
    path: &str,
    fields: &[(&str, &str)],
    (field, files): (&str, &[(&str, &[u8])]),
) -> Response {
    let boundary = "medgrid-test-7d1f0a";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .bytes(),
        );
    }
    for (name, bytes) in files {
        body.extend(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{name}\"\r\nContent-Type: text/plain\r\n\r\n"
            )
            .bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").bytes());
    client()
        .post(format!("{}{path}", app.url))
        .header(COOKIE, cookies)
        .header(
            CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap()
}

/// Where a list page's link to its next page goes.
pub(crate) fn next_page(html: &str) -> Option<String> {
    html.split(r#"<p class="pager"><a href=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(str::to_owned)
}

async fn job_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'JobSubmitted'")
        .fetch_one(app.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn pages_need_a_session_and_send_back_after_sign_in() {
    let app = TestApp::spawn().await;
    for path in [
        "/apps",
        "/jobs?state=RUNNING",
        "/jobs/00000000-0000-0000-0000-000000000000",
    ] {
        let res = client()
            .get(format!("{}{path}", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{path}");
        let to = res.headers()[LOCATION].to_str().unwrap();
        assert!(to.starts_with("/login?next=/"), "{path} → {to}");
    }
    // a forged or expired session cookie is the same as none, and is removed
    let res = get(&app, "medgrid_session=forged", "/jobs").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(set_cookie(&res, "medgrid_session").as_deref(), Some(""));
}

#[tokio::test]
async fn a_form_submits_without_javascript_and_refuses_beside_the_field() {
    let app = TestApp::spawn().await;
    let (admin, _, _) = setup(&app, "uni").await;
    let demo = register_app(&app, &admin, demo_descriptor()).await;
    let cookies = signed_in(&app, "uni", "ann@uni.org").await;
    let csrf = csrf_of(&cookies);

    let page = get(&app, &cookies, &format!("/apps/{demo}")).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains(r#"<label for="in-message">Message"#),
        "{html}"
    );
    assert!(
        html.contains(r#"name="p.pause" value="1" step="1""#),
        "{html}"
    );
    assert!(html.contains(r#"min="0""#) && html.contains(r#"max="10""#));

    // out of range: 422, the message beside the field, the entries kept, nothing stored
    let before = job_count(&app).await;
    let path = format!("/apps/{demo}");
    let res = post(
        &app,
        &cookies,
        &path,
        &[
            ("csrf", &csrf),
            ("p.message", "<b>hi</b>"),
            ("p.pause", "42"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(
        html.contains(r#"<p class="field-error" role="alert" id="in-pause-error">"#),
        "{html}"
    );
    assert!(html.contains(r#"value="42""#), "the entry is kept");
    assert!(
        html.contains("&#60;b&#62;hi&#60;/b&#62;"),
        "escaped and kept: {html}"
    );
    // not a number at all: refused before the use case, the same way
    let res = post(
        &app,
        &cookies,
        &path,
        &[("csrf", &csrf), ("p.message", "x"), ("p.pause", "soon")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("must be a number"));
    // a forged token: refused, nothing submitted
    let res = post(
        &app,
        &cookies,
        &path,
        &[("csrf", "forged"), ("p.message", "x")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(job_count(&app).await, before);

    // right: a 303 to the job's page, which shows the job (escaped)
    let res = post(
        &app,
        &cookies,
        &path,
        &[
            ("csrf", &csrf),
            ("p.message", "<script>x</script>"),
            ("p.pause", "0"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let to = res.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(to.starts_with("/jobs/"));
    assert_eq!(job_count(&app).await, before + 1);
    let html = get(&app, &cookies, &to).await.text().await.unwrap();
    assert!(html.contains("portal-demo"));
    assert!(!html.contains("<script>x</script>"), "markup is escaped");
    assert!(html.contains("&#60;script&#62;x&#60;/script&#62;"));
    let live = get(&app, &cookies, &format!("{to}/live")).await;
    assert_eq!(live.status(), StatusCode::OK);
    assert!(live.text().await.unwrap().contains(r#"id="job-state""#));
}

#[tokio::test]
async fn a_form_posted_twice_makes_one_job() {
    let app = TestApp::spawn().await;
    let (admin, _, _) = setup(&app, "uni").await;
    let demo = register_app(&app, &admin, demo_descriptor()).await;
    let cookies = signed_in(&app, "uni", "ann@uni.org").await;
    let csrf = csrf_of(&cookies);
    let path = format!("/apps/{demo}");
    let html = get(&app, &cookies, &path).await.text().await.unwrap();
    let submission = html
        .split(r#"name="submission" value=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the form carries its key")
        .to_owned();
    let again = get(&app, &cookies, &path).await.text().await.unwrap();
    assert!(
        !again.contains(&submission),
        "each rendering has a key of its own"
    );
    let before = job_count(&app).await;
    let form = |message: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("submission", submission.clone()),
            ("p.message", message.to_owned()),
            ("p.pause", "0".to_owned()),
        ]
    };
    let mut landed = Vec::new();
    // a double click, or a reload after a lost answer: the same form twice
    for _ in 0..2 {
        let fields = form("twice");
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let res = post(&app, &cookies, &path, &fields).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        landed.push(res.headers()[LOCATION].to_str().unwrap().to_owned());
    }
    assert_eq!(landed[0], landed[1], "one job");
    assert_eq!(job_count(&app).await, before + 1);
    // the form changed after it made a job (back, edit, submit): another job
    let fields = form("changed");
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let res = post(&app, &cookies, &path, &fields).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_ne!(res.headers()[LOCATION].to_str().unwrap(), landed[0]);
    assert_eq!(job_count(&app).await, before + 2);
}

#[tokio::test]
async fn jobs_of_others_are_not_found_and_cancel_needs_the_token() {
    let app = TestApp::spawn().await;
    let (admin, member, _) = setup(&app, "uni").await;
    app.member("uni", "bob@uni.org", &[]).await;
    let demo = register_app(&app, &admin, demo_descriptor()).await;
    let job = crate::jobs::submit(
        &app,
        &member,
        json!({"applicationId": demo, "parameters": {"message": "m", "pause": 10}}),
    )
    .await;
    let id = job["id"].as_str().unwrap();
    let bob = signed_in(&app, "uni", "bob@uni.org").await;
    let res = get(&app, &bob, &format!("/jobs/{id}")).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = post(
        &app,
        &bob,
        &format!("/jobs/{id}/cancel"),
        &[("csrf", &csrf_of(&bob))],
    )
    .await;
    assert_eq!(
        res.status(),
        StatusCode::NOT_FOUND,
        "another's job is not found"
    );

    let ann = signed_in(&app, "uni", "ann@uni.org").await;
    let list = get(&app, &ann, "/jobs").await.text().await.unwrap();
    assert!(list.contains(&format!("/jobs/{id}")));
    let res = post(
        &app,
        &ann,
        &format!("/jobs/{id}/cancel"),
        &[("csrf", "forged")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = post(
        &app,
        &ann,
        &format!("/jobs/{id}/cancel"),
        &[("csrf", &csrf_of(&ann))],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let data = app
        .ok(
            &member,
            "query($id: ID!) { job(id: $id) { state } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(data["job"]["state"], "CANCELLED");

    // resubmitted with an edit through the form
    let form = get(&app, &ann, &format!("/jobs/{id}/resubmit"))
        .await
        .text()
        .await
        .unwrap();
    assert!(form.contains(r#"name="p.message" value="m""#), "{form}");
    let res = post(
        &app,
        &ann,
        &format!("/jobs/{id}/resubmit"),
        &[
            ("csrf", &csrf_of(&ann)),
            ("p.message", "again"),
            ("p.pause", "0"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let new = res.headers()[LOCATION]
        .to_str()
        .unwrap()
        .trim_start_matches("/jobs/")
        .to_owned();
    let data = app
        .ok(
            &member,
            "query($id: ID!) { job(id: $id) { parameters resubmittedFrom } }",
            json!({"id": new}),
        )
        .await;
    assert_eq!(data["job"]["parameters"]["message"], "again");
    assert_eq!(data["job"]["resubmittedFrom"], id);
}

#[tokio::test]
async fn a_member_runs_a_job_in_a_real_browser() {
    let app = TestApp::spawn().await;
    let (admin, _, _) = setup(&app, "uni").await;
    register_app(&app, &admin, demo_descriptor()).await;
    let shots = browser::screenshots("portal");
    let args = [
        app.url.as_str(),
        "uni",
        "ann@uni.org",
        "a long test password",
        "admin@uni.org",
    ];
    let seen = browser::run("browser-portal.mjs", &args, &shots).await;
    browser::assert_accessible(&seen, 5);
    assert!(
        seen["signInUrl"]
            .as_str()
            .unwrap()
            .contains("/login?next=/apps"),
        "{seen}"
    );
    assert_eq!(seen["afterSignIn"], format!("{}/apps", app.url));
    assert_eq!(seen["found"], json!(["portal-demo"]));
    assert_eq!(seen["fieldError"]["id"], "in-pause-error");
    assert_eq!(seen["fieldError"]["keptPause"], "42");
    assert!(
        seen["fieldError"]["keptMessage"]
            .as_str()
            .unwrap()
            .starts_with("<script>")
    );
    // seen changing in place: at least one state before SUCCEEDED, on the same page
    let states = seen["states"].as_array().unwrap();
    assert_eq!(states.last().unwrap(), "SUCCEEDED", "{seen}");
    assert_eq!(
        seen["confirms"],
        json!(["Cancel this job?"]),
        "the redrawn Cancel asked first, and dismissing it sent nothing: {seen}"
    );
    assert!(states.len() >= 2, "the page moved on by itself: {seen}");
    assert_eq!(seen["samePage"], "yes", "no reload");
    assert_eq!(seen["xss"], Value::Null, "markup never runs");
    assert!(
        seen["commandShown"].as_str().unwrap().contains("<script>"),
        "shown as text"
    );
    assert_eq!(seen["download"]["name"], "out.txt");
    assert_eq!(
        seen["download"]["text"],
        "<script>window.__xss = 1</script>hello from the portal\n"
    );
    assert_eq!(seen["listed"], 1);
    assert_eq!(seen["failedListed"], 0);
    assert!(
        seen["expiredTo"]
            .as_str()
            .unwrap()
            .contains("/login?next=/jobs/"),
        "{seen}"
    );
    assert_eq!(seen["backTo"], seen["jobUrl"]);
    assert!(shots.join("03-field-error.png").exists());
    // the accounting chart, drawn in the browser: a column per month of the year
    assert!(
        seen["total"].as_str().unwrap().contains("Jobs: 1 ·"),
        "{seen}"
    );
    assert!(seen["monthBars"].as_i64().unwrap() >= 12, "{seen}");
    assert_eq!(seen["appLabels"], json!(["portal-demo 1"]));
    assert!(
        seen["chartBox"]["width"].as_f64().unwrap() > 300.0,
        "{seen}"
    );
    assert!(shots.join("07-accounting.png").exists());
}

#[tokio::test]
async fn the_accounting_dashboard_draws_charts_for_administrators_only() {
    let app = TestApp::spawn().await;
    let (admin, ann, _) = setup(&app, "uni").await;
    let shell = crate::jobs::shell_app(&app, &admin).await;
    for script in ["sleep 1", "exit 3"] {
        let job = crate::jobs::submit(
            &app,
            &ann,
            json!({"applicationId": shell, "parameters": {"script": script}}),
        )
        .await;
        let id = job["id"].as_str().unwrap().to_owned();
        crate::jobs::wait_until(&app, &ann, &id, 120, |j| {
            ["SUCCEEDED", "FAILED"].contains(&j["state"].as_str().unwrap())
        })
        .await;
    }
    crate::accounting::wait_for_attempts(&app, &admin, 2).await;

    let cookies = signed_in(&app, "uni", "admin@uni.org").await;
    let res = get(&app, &cookies, "/admin/accounting").await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    for chart in ["by-month", "by-application", "by-member"] {
        assert!(
            html.contains(&format!(
                r#"<svg xmlns="http://www.w3.org/2000/svg" id="{chart}""#
            )),
            "{chart}: {html}"
        );
    }
    assert!(html.contains("Jobs: 2 ·"), "{html}");
    assert!(html.contains("Attempts succeeded: 50 %"), "{html}");
    assert!(
        html.contains(">shell 1</text>"),
        "the application is named in its chart"
    );
    assert!(
        html.contains(">ann@uni.org</text>"),
        "the member is named in theirs"
    );
    // the CSV link of a chart downloads the same figures
    let csv = html
        .split("href=\"")
        .find(|s| s.starts_with("/accounting.csv") && s.contains("APPLICATION"))
        .and_then(|s| s.split('"').next())
        .unwrap()
        .replace("&#38;", "&")
        .replace("&amp;", "&");
    let body = get(&app, &cookies, &csv).await.text().await.unwrap();
    assert!(body.starts_with("application,jobs,attempts"), "{body}");
    assert!(body.contains("\nshell 1,2,2,"), "{body}");

    // bad periods: said beside the form, no chart
    let res = get(&app, &cookies, "/admin/accounting?from=yesterday").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains(r#"id="period-error""#));
    let res = get(
        &app,
        &cookies,
        "/admin/accounting?from=2026-05-01&to=2026-04-01",
    )
    .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    // a member is refused, and the page has no figures
    let member = signed_in(&app, "uni", "ann@uni.org").await;
    for path in ["/admin", "/admin/accounting"] {
        let res = get(&app, &member, path).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
        assert!(!res.text().await.unwrap().contains("<svg"));
    }
}

/// A job that writes `brain.nii`, the volume given as its parameter (8032 bytes).
async fn volume_job(app: &TestApp, admin: &str, ann: &str) -> String {
    let volume = medgrid_infra::preview::int16_nifti([32, 24, 5], |x, y, _| {
        i16::try_from(x * 10 + y).unwrap()
    });
    assert_eq!(volume.len(), 8032);
    let source = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &volume);
    let maker = register_app(
        app,
        admin,
        json!({
            "name": "volume-maker", "tool-version": "1", "schema-version": "0.5",
            "description": "Copies a NIfTI volume.",
            "command-line": "sh -c 'printf %s \"$1\" | base64 -d > brain.nii' make [SOURCE]",
            "inputs": [{"id": "source", "name": "Source", "type": "String", "value-key": "[SOURCE]"}],
            "output-files": [{"id": "volume", "name": "Volume", "path-template": "brain.nii"}]
        }),
    )
    .await;
    let job = crate::jobs::submit(
        app,
        ann,
        json!({"applicationId": maker, "parameters": {"source": source}}),
    )
    .await;
    job["id"].as_str().unwrap().to_owned()
}

/// Previews draw sources up to `MEDGRID_PREVIEW_MAX_SOURCE_BYTES` (larger: 415 saying
/// so, nothing decoded) and count in the member's rate limit (429 with `Retry-After`).
/// Before, any output up to 512 MiB was decoded, as often as a member asked.
#[tokio::test]
async fn previews_have_a_source_cap_and_count_in_the_rate_limit() {
    let mut config = medgrid_tests::test_config();
    config.preview_max_source_bytes = 4096;
    config.rate_limit_member_per_minute = 6;
    let app = TestApp::spawn_with(config).await;
    let (admin, ann, _) = setup(&app, "uni").await;
    let id = volume_job(&app, &admin, &ann).await; // ann's first request of the minute
    let cookies = signed_in(&app, "uni", "ann@uni.org").await;
    // the job's page (not rate limited) shows the preview once the output is there
    let preview = format!("/jobs/{id}/preview/brain.nii");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let page = get(&app, &cookies, &format!("/jobs/{id}"))
            .await
            .text()
            .await
            .unwrap();
        if page.contains(&format!(r#"<img src="{preview}""#)) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no output: {page}");
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    }
    let mut answers = vec![];
    for _ in 0..10 {
        let res = get(&app, &cookies, &preview).await;
        let status = res.status();
        let retry = res.headers().get("retry-after").cloned();
        answers.push((status, retry, res.text().await.unwrap()));
    }
    // 5 or 6 tokens are left in the bucket of 6: the first 5 are drawn, or refused for
    // their size; then the budget is spent
    for (status, _, text) in &answers[..5] {
        assert_eq!(*status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{text}");
        assert!(
            text.contains("larger than the 4096 bytes")
                && text.contains("MEDGRID_PREVIEW_MAX_SOURCE_BYTES"),
            "{text}"
        );
    }
    let limited = answers
        .iter()
        .find(|(status, _, _)| *status == StatusCode::TOO_MANY_REQUESTS)
        .unwrap_or_else(|| panic!("no preview was rate limited: {answers:?}"));
    assert!(limited.1.is_some(), "429 without Retry-After");
    assert!(limited.2.contains("RATE_LIMITED"), "{}", limited.2);
}

#[tokio::test]
async fn image_outputs_are_previewed_as_png_slices() {
    let app = TestApp::spawn().await;
    let (admin, ann, _) = setup(&app, "uni").await;
    // a job that "makes" a NIfTI volume: decodes the one given as a parameter (the sandbox
    // lets it read nothing of this host)
    let volume = medgrid_infra::preview::int16_nifti([32, 24, 5], |x, y, _| {
        i16::try_from(x * 10 + y).unwrap()
    });
    let source = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &volume);
    let maker = register_app(
        &app,
        &admin,
        json!({
            "name": "volume-maker", "tool-version": "1", "schema-version": "0.5",
            "description": "Copies a NIfTI volume and writes a note.",
            "command-line": "sh -c 'printf %s \"$1\" | base64 -d > brain.nii; echo note > \"note #1?.txt\"' make [SOURCE]",
            "inputs": [{"id": "source", "name": "Source", "type": "String", "value-key": "[SOURCE]"}],
            "output-files": [
                {"id": "volume", "name": "Volume", "path-template": "brain.nii"},
                {"id": "note", "name": "Note", "path-template": "note #1?.txt"}
            ]
        }),
    )
    .await;
    let job = crate::jobs::submit(
        &app,
        &ann,
        json!({"applicationId": maker, "parameters": {"source": source}}),
    )
    .await;
    let id = job["id"].as_str().unwrap().to_owned();
    let done = crate::jobs::wait_until(&app, &ann, &id, 120, |j| {
        ["SUCCEEDED", "FAILED"].contains(&j["state"].as_str().unwrap())
    })
    .await;
    assert_eq!(done["state"], "SUCCEEDED", "{done}");

    let cookies = signed_in(&app, "uni", "ann@uni.org").await;
    let page = get(&app, &cookies, &format!("/jobs/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!(r#"<img src="/jobs/{id}/preview/brain.nii""#)),
        "{page}"
    );
    assert!(!page.contains("/preview/note"), "text has no preview");
    // an output named with `#`, `?` and a space is linked by its whole name
    let link = format!("/files/jobs/{id}/outputs/note%20%231%3F.txt");
    assert!(page.contains(&format!(r#"href="{link}""#)), "{page}");
    let note = get(&app, &cookies, &link).await;
    assert_eq!(note.status(), StatusCode::OK);
    assert_eq!(note.text().await.unwrap(), "note\n");

    let res = get(&app, &cookies, &format!("/jobs/{id}/preview/brain.nii")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "image/png");
    let png = res.bytes().await.unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!((width, height), (32, 24), "one axial slice of the volume");
    // not an image: refused; another member: not found
    let res = get(
        &app,
        &cookies,
        &format!("/jobs/{id}/preview/note%20%231%3F.txt"),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    app.member("uni", "bob@uni.org", &[]).await;
    let bob = signed_in(&app, "uni", "bob@uni.org").await;
    let res = get(&app, &bob, &format!("/jobs/{id}/preview/brain.nii")).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}
