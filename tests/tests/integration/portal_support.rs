//! The portal's notification preferences and trouble tickets: the matrix and the ticket
//! pages over plain HTTP without JavaScript (what they show, what saving changes, errors
//! beside their fields with the entries kept, CSRF, who may do what, escaping), and a
//! member setting preferences and opening a ticket in headless Chromium.

use medgrid_domain::Role;
use medgrid_domain::notify::NotificationKind;
use medgrid_tests::{TestApp, browser};
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::{Value, json};

use crate::jobs::{setup, shell_app, submit};
use crate::notifications::{PREFS, choice, mine, set_defaults};
use crate::portal::{csrf_of, get, post, signed_in};
use crate::tickets::{TICKET, open};

async fn defaults(app: &TestApp, token: &str) -> Value {
    app.ok(
        token,
        &format!("{{ tenantNotificationDefaults {{ {PREFS} }} }}"),
        json!({}),
    )
    .await["tenantNotificationDefaults"]
        .clone()
}

async fn preference_events(app: &TestApp) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_type = 'NotificationPreferences'",
    )
    .fetch_one(app.pool())
    .await
    .unwrap()
}

/// The whole matrix as a browser sends it: every kind as `shown` says (else its built-in
/// choice), the digest settings, and the token.
fn matrix_form(
    csrf: &str,
    shown: &[(&str, &str)],
    zone: &str,
    hour: &str,
    day: &str,
) -> Vec<(String, String)> {
    let mut form = vec![("csrf".to_owned(), csrf.to_owned())];
    for kind in NotificationKind::ALL {
        let value = shown
            .iter()
            .find(|(k, _)| *k == kind.as_str())
            .map_or(kind.built_in().as_str(), |(_, v)| v);
        form.push((format!("kind.{kind}"), value.to_owned()));
    }
    form.push(("time_zone".into(), zone.into()));
    form.push(("digest_hour".into(), hour.into()));
    form.push(("digest_weekday".into(), day.into()));
    form
}

fn pairs(form: &[(String, String)]) -> Vec<(&str, &str)> {
    form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// Sends the matrix to `path` as a browser would, with the token of `cookies`; the
/// digest settings are (time zone, hour, weekday).
async fn save_matrix(
    app: &TestApp,
    cookies: &str,
    path: &str,
    shown: &[(&str, &str)],
    (zone, hour, day): (&str, &str, &str),
) -> reqwest::Response {
    let form = matrix_form(&csrf_of(cookies), shown, zone, hour, day);
    post(app, cookies, path, &pairs(&form)).await
}

/// The radio of `kind` that the page shows chosen in form `id` (`my`, `tenant`).
fn checked(html: &str, id: &str, kind: &str) -> Option<String> {
    ["IMMEDIATE", "DAILY_DIGEST", "WEEKLY_DIGEST", "NONE"]
        .into_iter()
        .find(|d| {
            html.contains(&format!(
                r#"id="{id}-{kind}-{d}" name="kind.{kind}" value="{d}" checked>"#
            ))
        })
        .map(str::to_owned)
}

#[tokio::test]
async fn the_matrix_shows_what_applies_and_saves_only_valid_changes() {
    let app = TestApp::spawn().await;
    let (admin, ann, _) = setup(&app, "uni").await;
    // the institution's default shows in the member's matrix
    app.ok(
        &admin,
        &set_defaults(),
        json!({"i": {"choices": [{"eventType": "JOB_STARTED", "delivery": "DAILY_DIGEST"}]}}),
    )
    .await;
    let cookies = signed_in(&app, "uni", "ann@uni.org").await;
    let csrf = csrf_of(&cookies);

    let page = get(&app, &cookies, "/settings/notifications").await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert_eq!(checked(&html, "my", "JOB_STARTED").unwrap(), "DAILY_DIGEST");
    assert_eq!(checked(&html, "my", "JOB_FAILED").unwrap(), "IMMEDIATE");
    assert_eq!(checked(&html, "my", "JOB_RETRIED").unwrap(), "NONE");
    assert_eq!(
        checked(&html, "my", "FOLDER_SHARED").unwrap(),
        "DAILY_DIGEST"
    );
    assert!(html.contains("default of your institution"), "{html}");
    assert!(
        html.contains(r#"<label for="my-JOB_FAILED-WEEKLY_DIGEST" class="visually-hidden">A job failed: Weekly digest</label>"#),
        "every radio is labelled: {html}"
    );
    assert!(html.contains(r#"<th scope="row" id="my-JOB_FAILED">"#));
    assert!(html.contains(r#"id="my-time_zone" name="time_zone" value="UTC""#));
    assert!(html.contains(r#"id="my-digest_hour" name="digest_hour" value="8""#));
    assert!(
        !html.contains("tenant-form"),
        "members get no tenant defaults form"
    );

    // saved: a 303 back with a notice; what changed is the member's, the rest still follows
    let res = save_matrix(
        &app,
        &cookies,
        "/settings/notifications",
        &[
            ("JOB_STARTED", "DAILY_DIGEST"),
            ("JOB_FAILED", "WEEKLY_DIGEST"),
        ],
        ("Europe/Paris", "18", "FRIDAY"),
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let to = res.headers()[LOCATION].to_str().unwrap().to_owned();
    assert_eq!(to, "/settings/notifications?saved=mine#my-form");
    let now = mine(&app, &ann).await;
    assert_eq!(choice(&now, "JOB_FAILED"), ("WEEKLY_DIGEST", "MEMBER"));
    assert_eq!(
        choice(&now, "JOB_STARTED"),
        ("DAILY_DIGEST", "TENANT"),
        "untouched rows keep following the institution"
    );
    assert_eq!(choice(&now, "JOB_SUCCEEDED"), ("IMMEDIATE", "BUILT_IN"));
    assert_eq!(now["timeZone"], "Europe/Paris");
    assert_eq!(now["digestHour"], 18);
    assert_eq!(now["weeklyDigestDay"], "FRIDAY");
    let html = get(&app, &cookies, &to).await.text().await.unwrap();
    assert!(html.contains(r#"id="my-saved""#), "{html}");
    assert_eq!(checked(&html, "my", "JOB_FAILED").unwrap(), "WEEKLY_DIGEST");
    assert!(html.contains(r#"value="Europe/Paris""#));
    assert!(html.contains(r#"<option value="FRIDAY" selected>"#));

    // an impossible time zone: 422, beside the field, everything typed kept, nothing stored
    let events = preference_events(&app).await;
    let res = save_matrix(
        &app,
        &cookies,
        "/settings/notifications",
        &[("JOB_SUCCEEDED", "NONE"), ("JOB_FAILED", "WEEKLY_DIGEST")],
        ("Mars/<b>Olympus</b>", "7", "SUNDAY"),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(
        html.contains(
            r#"<p class="field-error" role="alert" id="my-time_zone-error">must be an IANA"#
        ),
        "{html}"
    );
    assert!(html.contains(r#"aria-errormessage="my-time_zone-error""#));
    assert!(
        html.contains(r#"value="Mars/&#60;b&#62;Olympus&#60;/b&#62;""#),
        "kept, escaped"
    );
    assert!(html.contains(r#"name="digest_hour" value="7""#));
    assert_eq!(checked(&html, "my", "JOB_SUCCEEDED").unwrap(), "NONE");
    assert!(html.contains(r#"<option value="SUNDAY" selected>"#));
    assert_eq!(preference_events(&app).await, events);
    assert_eq!(mine(&app, &ann).await, now, "nothing stored half-way");

    // an impossible hour, and one that is no number: the same, beside the hour
    for hour in ["24", "soon"] {
        let res = save_matrix(
            &app,
            &cookies,
            "/settings/notifications",
            &[("JOB_SUCCEEDED", "NONE")],
            ("Europe/Paris", hour, "FRIDAY"),
        )
        .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{hour}");
        let html = res.text().await.unwrap();
        assert!(
            html.contains(
                r#"<p class="field-error" role="alert" id="my-digest_hour-error">must be"#
            ),
            "{hour}: {html}"
        );
        assert!(html.contains(&format!(r#"name="digest_hour" value="{hour}""#)));
        assert!(!html.contains("my-time_zone-error"));
    }
    assert_eq!(mine(&app, &ann).await, now);

    // a forged token: refused, nothing changed
    let form = matrix_form(&csrf, &[("JOB_SUCCEEDED", "NONE")], "UTC", "3", "MONDAY");
    let mut forged = pairs(&form);
    forged[0].1 = "forged";
    let res = post(&app, &cookies, "/settings/notifications", &forged).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(mine(&app, &ann).await, now);
    assert_eq!(preference_events(&app).await, events);
}

#[tokio::test]
async fn a_row_goes_back_to_the_default_it_follows() {
    let app = TestApp::spawn().await;
    let (admin, ann, _) = setup(&app, "uni").await;
    app.ok(
        &admin,
        &set_defaults(),
        json!({"i": {"choices": [{"eventType": "JOB_STARTED", "delivery": "DAILY_DIGEST"}]}}),
    )
    .await;
    let cookies = signed_in(&app, "uni", "ann@uni.org").await;
    let shown = [("JOB_STARTED", "IMMEDIATE")];
    let res = save_matrix(
        &app,
        &cookies,
        "/settings/notifications",
        &shown,
        ("UTC", "8", "MONDAY"),
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        choice(&mine(&app, &ann).await, "JOB_STARTED"),
        ("IMMEDIATE", "MEMBER")
    );
    // only a row chosen on this level offers the way back
    let html = get(&app, &cookies, "/settings/notifications")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains(r#"id="my-JOB_STARTED-reset" name="reset.JOB_STARTED""#),
        "{html}"
    );
    assert!(!html.contains(r#"name="reset.JOB_FAILED""#));

    let mut form = matrix_form(&csrf_of(&cookies), &shown, "UTC", "8", "MONDAY");
    form.push(("reset.JOB_STARTED".into(), "on".into()));
    let res = post(&app, &cookies, "/settings/notifications", &pairs(&form)).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let now = mine(&app, &ann).await;
    assert_eq!(choice(&now, "JOB_STARTED"), ("DAILY_DIGEST", "TENANT"));
    assert_eq!(choice(&now, "JOB_FAILED"), ("IMMEDIATE", "BUILT_IN"));
}

#[tokio::test]
async fn tenant_defaults_are_set_by_its_administrators_only() {
    let app = TestApp::spawn().await;
    let (admin, ann, _) = setup(&app, "uni").await;
    let before = defaults(&app, &admin).await;

    // a member: no form, and a post is refused whatever it holds
    let ann_cookies = signed_in(&app, "uni", "ann@uni.org").await;
    let res = save_matrix(
        &app,
        &ann_cookies,
        "/settings/notifications/tenant",
        &[("JOB_STARTED", "IMMEDIATE")],
        ("UTC", "8", "MONDAY"),
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(defaults(&app, &admin).await, before);

    let cookies = signed_in(&app, "uni", "admin@uni.org").await;
    let html = get(&app, &cookies, "/settings/notifications")
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains(r#"<section id="my-form""#));
    assert!(html.contains(r#"<section id="tenant-form""#), "{html}");
    assert!(html.contains(r#"action="/settings/notifications/tenant""#));
    assert_eq!(checked(&html, "tenant", "JOB_STARTED").unwrap(), "NONE");

    // a bad hour: beside the tenant form's field, the member form untouched
    let res = save_matrix(
        &app,
        &cookies,
        "/settings/notifications/tenant",
        &[("JOB_STARTED", "IMMEDIATE")],
        ("UTC", "-1", "MONDAY"),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains(r#"id="tenant-digest_hour-error""#), "{html}");
    assert!(!html.contains(r#"id="my-digest_hour-error""#));
    assert_eq!(
        checked(&html, "tenant", "JOB_STARTED").unwrap(),
        "IMMEDIATE"
    );
    assert_eq!(defaults(&app, &admin).await, before);

    let res = save_matrix(
        &app,
        &cookies,
        "/settings/notifications/tenant",
        &[("JOB_STARTED", "IMMEDIATE")],
        ("Europe/Berlin", "6", "MONDAY"),
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        res.headers()[LOCATION],
        "/settings/notifications?saved=tenant#tenant-form"
    );
    let now = defaults(&app, &admin).await;
    assert_eq!(choice(&now, "JOB_STARTED"), ("IMMEDIATE", "TENANT"));
    assert_eq!(now["timeZone"], "Europe/Berlin");
    assert_eq!(now["digestHour"], 6);
    // the admin's own preferences did not change, the member now inherits the defaults
    let own = mine(&app, &admin).await;
    assert_eq!(choice(&own, "JOB_STARTED"), ("IMMEDIATE", "TENANT"));
    let anns = mine(&app, &ann).await;
    assert_eq!(choice(&anns, "JOB_STARTED"), ("IMMEDIATE", "TENANT"));
    assert_eq!(anns["timeZone"], "Europe/Berlin");
    let html = get(&app, &ann_cookies, "/settings/notifications")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(checked(&html, "my", "JOB_STARTED").unwrap(), "IMMEDIATE");
}

async fn ticket(app: &TestApp, token: &str, id: &str) -> Value {
    app.ok(
        token,
        &format!("query($id: ID!) {{ ticket(id: $id) {{ {TICKET} }} }}"),
        json!({"id": id}),
    )
    .await["ticket"]
        .clone()
}

#[tokio::test]
async fn tickets_open_about_a_job_and_are_seen_by_their_reporter_and_admins() {
    let app = TestApp::spawn().await;
    let (admin, ann, _) = setup(&app, "uni").await;
    let (_, bob) = app.member("uni", "bob@uni.org", &[]).await;
    let shell = shell_app(&app, &admin).await;
    let job = submit(
        &app,
        &ann,
        json!({"applicationId": shell, "parameters": {"script": "true"}}),
    )
    .await;
    let job_id = job["id"].as_str().unwrap().to_owned();
    let cookies = signed_in(&app, "uni", "ann@uni.org").await;
    let csrf = csrf_of(&cookies);

    // the job's page links to a form about it
    let html = get(&app, &cookies, &format!("/jobs/{job_id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains(&format!(r#"href="/tickets/new?job={job_id}""#)));
    let html = get(&app, &cookies, &format!("/tickets/new?job={job_id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains(&format!(r#"name="job" value="{job_id}""#)),
        "{html}"
    );
    assert!(html.contains(r#"<label for="title">Title</label>"#));

    // refused beside their fields, with what was typed kept
    let res = post(
        &app,
        &cookies,
        "/tickets/new",
        &[
            ("csrf", &csrf),
            ("title", "  "),
            ("body", "kept <i>body</i>"),
            ("job", &job_id),
            ("priority", "HIGH"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(
        html.contains(r#"<p class="field-error" role="alert" id="title-error">must be 1 to 200"#),
        "{html}"
    );
    assert!(html.contains("kept &#60;i&#62;body&#60;/i&#62;</textarea>"));
    assert!(html.contains(r#"<option value="HIGH" selected>"#));
    let res = post(
        &app,
        &cookies,
        "/tickets/new",
        &[
            ("csrf", &csrf),
            ("title", "t"),
            ("job", "not-a-job"),
            ("priority", "NORMAL"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains(r#"id="job-error">no such job"#)
    );
    let res = post(
        &app,
        &cookies,
        "/tickets/new",
        &[("csrf", "forged"), ("title", "t"), ("priority", "NORMAL")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let data = app
        .ok(
            &ann,
            "{ tickets(first: 10) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["tickets"]["edges"], json!([]), "nothing opened");

    // opened: a 303 to its page, markup shown as text, the job linked
    let res = post(
        &app,
        &cookies,
        "/tickets/new",
        &[
            ("csrf", &csrf),
            ("title", "<script>alert(1)</script>"),
            ("body", "It <b>hangs</b>."),
            ("job", &job_id),
            ("priority", "HIGH"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let to = res.headers()[LOCATION].to_str().unwrap().to_owned();
    let id = to.trim_start_matches("/tickets/").to_owned();
    let t = ticket(&app, &ann, &id).await;
    assert_eq!(t["title"], "<script>alert(1)</script>");
    assert_eq!(t["job"]["id"], job_id.as_str());
    assert_eq!(t["priority"], "HIGH");
    let html = get(&app, &cookies, &to).await.text().await.unwrap();
    assert!(!html.contains("<script>alert(1)"), "markup is escaped");
    assert!(html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"));
    assert!(html.contains("It &#60;b&#62;hangs&#60;/b&#62;."));
    assert!(html.contains(&format!(r#"href="/jobs/{job_id}" id="ticket-job""#)));
    assert!(html.contains(r#"id="ticket-status">OPEN"#));
    assert!(html.contains(r#"id="ticket-priority">High"#));
    assert!(
        !html.contains("assign-form"),
        "members are not offered assignment"
    );

    // bob's own ticket; the lists: each member theirs, the administrator all
    let bobs = open(&app, &bob, json!({"title": "bob's problem"})).await;
    let bobs_id = bobs["id"].as_str().unwrap().to_owned();
    let list = get(&app, &cookies, "/tickets").await.text().await.unwrap();
    assert!(list.contains(&format!("/tickets/{id}")));
    assert!(!list.contains(&format!("/tickets/{bobs_id}")), "{list}");
    assert!(list.contains("&#60;script&#62;"), "escaped in the list too");
    let admin_cookies = signed_in(&app, "uni", "admin@uni.org").await;
    let list = get(&app, &admin_cookies, "/tickets")
        .await
        .text()
        .await
        .unwrap();
    assert!(list.contains(&format!("/tickets/{id}")));
    assert!(list.contains(&format!("/tickets/{bobs_id}")));
    assert!(list.contains("Reported by"));
    // someone else's ticket, and another tenant's, are not found
    let bob_cookies = signed_in(&app, "uni", "bob@uni.org").await;
    assert_eq!(
        get(&app, &bob_cookies, &to).await.status(),
        StatusCode::NOT_FOUND
    );
    let res = post(
        &app,
        &bob_cookies,
        &format!("{to}/comment"),
        &[("csrf", &csrf_of(&bob_cookies)), ("body", "me too")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    app.tenant("other").await;
    app.member("other", "eve@other.org", &[Role::TenantAdmin])
        .await;
    let eve = signed_in(&app, "other", "eve@other.org").await;
    assert_eq!(get(&app, &eve, &to).await.status(), StatusCode::NOT_FOUND);
    let list = get(&app, &eve, "/tickets").await.text().await.unwrap();
    assert!(list.contains(r#"id="no-tickets""#), "{list}");
    assert!(ticket(&app, &ann, &id).await["comments"] == json!([]));

    // 25 a page, newest first, the rest behind a link
    for n in 0..25 {
        open(&app, &bob, json!({"title": format!("problem {n}")})).await;
    }
    let rows = |html: &str| html.matches(r#"<td><a href="/tickets/"#).count();
    let first = get(&app, &admin_cookies, "/tickets")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(rows(&first), 25);
    assert!(first.contains(">problem 24</a>"), "newest first");
    let next = crate::portal::next_page(&first).expect("a link to older tickets");
    let older = get(&app, &admin_cookies, &next).await.text().await.unwrap();
    assert_eq!(rows(&older), 2, "{next}");
    assert!(older.contains(&format!("/tickets/{id}")));
    assert!(!older.contains(r#"rel="next""#));
    let list = get(&app, &cookies, "/tickets").await.text().await.unwrap();
    assert_eq!(rows(&list), 1, "ann still sees hers only");
}

/// Sends the form `action` (comment, assign…) of the ticket at `path`, with the token.
async fn act(
    app: &TestApp,
    cookies: &str,
    path: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let csrf = csrf_of(cookies);
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    post(app, cookies, &format!("{path}/{action}"), &form).await
}

#[tokio::test]
async fn a_ticket_is_commented_assigned_resolved_and_reopened() {
    let app = TestApp::spawn().await;
    let (admin, ann, _) = setup(&app, "uni").await;
    let admin_id = app.ok(&admin, "{ me { id } }", json!({})).await["me"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let t = open(&app, &ann, json!({"title": "Slow downloads"})).await;
    let id = t["id"].as_str().unwrap().to_owned();
    let path = format!("/tickets/{id}");
    let cookies = signed_in(&app, "uni", "ann@uni.org").await;

    let res = act(
        &app,
        &cookies,
        &path,
        "comment",
        &[("body", "first <em>comment</em>")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[LOCATION], format!("{path}#comments"));
    // a forged token adds nothing
    let res = post(
        &app,
        &cookies,
        &format!("{path}/comment"),
        &[("csrf", "forged"), ("body", "forged")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // a member neither assigns nor prioritises
    for (action, field, value) in [
        ("assign", "member", admin_id.as_str()),
        ("priority", "priority", "URGENT"),
    ] {
        let res = act(&app, &cookies, &path, action, &[(field, value)]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{action}");
    }
    let now = ticket(&app, &ann, &id).await;
    assert!(now["assignee"].is_null());
    assert_eq!(now["priority"], "NORMAL");
    assert_eq!(now["comments"].as_array().unwrap().len(), 1);

    // the administrator: the ticket with its comment, assigned, prioritised, resolved
    let admin_cookies = signed_in(&app, "uni", "admin@uni.org").await;
    let html = get(&app, &admin_cookies, &path).await.text().await.unwrap();
    assert!(
        html.contains("first &#60;em&#62;comment&#60;/em&#62;"),
        "{html}"
    );
    assert!(
        html.contains(&format!(r#"<option value="{admin_id}">"#)),
        "the administrators to assign to: {html}"
    );
    assert!(!html.contains("ann@uni.org)"), "members are not offered");
    for (action, field, value) in [
        ("assign", "member", admin_id.as_str()),
        ("priority", "priority", "URGENT"),
        ("comment", "body", "looking into it"),
        ("resolve", "resolution", "Fixed the <proxy>."),
    ] {
        let res = act(&app, &admin_cookies, &path, action, &[(field, value)]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{action}");
    }
    let now = ticket(&app, &ann, &id).await;
    assert_eq!(now["assignee"]["email"], "admin@uni.org");
    assert_eq!(now["priority"], "URGENT");
    assert_eq!(now["status"], "RESOLVED");
    assert_eq!(now["resolution"], "Fixed the <proxy>.");
    let html = get(&app, &cookies, &path).await.text().await.unwrap();
    assert!(html.contains(r#"id="ticket-status">RESOLVED"#));
    assert!(html.contains("Fixed the &#60;proxy&#62;."));
    let (first, second) = (
        html.find("first &#60;em&#62;").unwrap(),
        html.find("looking into it").unwrap(),
    );
    assert!(first < second, "comments in order");
    assert!(html.contains(r#"id="reopen-form""#));

    // a comment on a resolved ticket: refused beside the comment box, the text kept
    let res = act(
        &app,
        &cookies,
        &path,
        "comment",
        &[("body", "still <slow>")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let html = res.text().await.unwrap();
    assert!(
        html.contains(r#"<p class="field-error" id="comment-error" role="alert">this ticket is resolved: reopen it first"#),
        "{html}"
    );
    assert!(html.contains("still &#60;slow&#62;</textarea>"));
    assert_eq!(
        ticket(&app, &ann, &id).await["comments"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // reopened by its reporter, and commented again
    let res = act(&app, &cookies, &path, "reopen", &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = act(&app, &cookies, &path, "comment", &[("body", "still slow")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let now = ticket(&app, &ann, &id).await;
    assert_eq!(now["status"], "OPEN");
    let bodies: Vec<_> = now["comments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["body"].as_str().unwrap())
        .collect();
    assert_eq!(
        bodies,
        ["first <em>comment</em>", "looking into it", "still slow"]
    );
    // reopening an open ticket: refused beside the form
    let res = act(&app, &cookies, &path, "reopen", &[]).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("this ticket is not resolved")
    );
}

#[tokio::test]
async fn a_member_sets_preferences_and_opens_a_ticket_in_a_real_browser() {
    let app = TestApp::spawn().await;
    let (_, ann, _) = setup(&app, "uni").await;
    let shots = browser::screenshots("support");
    let args = [
        app.url.as_str(),
        "uni",
        "ann@uni.org",
        "a long test password",
    ];
    let seen = browser::run("browser-support.mjs", &args, &shots).await;
    browser::assert_accessible(&seen, 2);
    assert!(
        seen["signInUrl"]
            .as_str()
            .unwrap()
            .contains("/login?next=/settings/notifications"),
        "{seen}"
    );
    assert_eq!(seen["saved"], "Saved.", "{seen}");
    assert_eq!(seen["jobStartedAfter"], "IMMEDIATE");
    assert_eq!(
        seen["jobFailedAfter"], "DAILY_DIGEST",
        "moved by the keyboard"
    );
    assert_eq!(seen["tabletOverflow"], false, "fits a 768px tablet: {seen}");
    let now = mine(&app, &ann).await;
    assert_eq!(choice(&now, "JOB_STARTED"), ("IMMEDIATE", "MEMBER"));
    assert_eq!(choice(&now, "JOB_FAILED"), ("DAILY_DIGEST", "MEMBER"));
    assert_eq!(choice(&now, "JOB_SUCCEEDED"), ("IMMEDIATE", "BUILT_IN"));

    let ticket_url = seen["ticketUrl"].as_str().unwrap();
    let id = ticket_url.rsplit('/').next().unwrap();
    let t = ticket(&app, &ann, id).await;
    assert_eq!(
        t["title"],
        "<img src=x onerror=window.__xss=1> uploads fail"
    );
    assert_eq!(t["comments"][0]["body"], "It happens with every file.");
    assert_eq!(
        seen["titleShown"],
        "<img src=x onerror=window.__xss=1> uploads fail"
    );
    assert_eq!(seen["comments"], json!(["It happens with every file."]));
    assert_eq!(seen["xss"], Value::Null, "markup never runs");
    assert!(shots.join("03-ticket-commented.png").exists());
}
