//! Notification preferences: a member's own choices over their tenant's defaults over the
//! built-in ones; bad input refused whole; nobody edits another's; one-click unsubscribe.

use medgrid_domain::Role;
use medgrid_domain::ids::{MemberId, TenantId};
use medgrid_domain::notify::NotificationKind;
use medgrid_tests::TestApp;
use serde_json::{Value, json};

pub(crate) const PREFS: &str = "choices { eventType delivery source } timeZone timeZoneSource
                     digestHour digestHourSource weeklyDigestDay weeklyDigestDaySource";

pub fn set_mine() -> String {
    format!(
        "mutation($i: NotificationPreferencesInput!) {{ setNotificationPreferences(input: $i) {{ {PREFS} }} }}"
    )
}

pub fn set_defaults() -> String {
    format!(
        "mutation($i: NotificationPreferencesInput!) {{ setTenantNotificationDefaults(input: $i) {{ {PREFS} }} }}"
    )
}

pub(crate) fn choice<'a>(prefs: &'a Value, kind: &str) -> (&'a str, &'a str) {
    let c = prefs["choices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["eventType"] == kind)
        .unwrap_or_else(|| panic!("{kind} missing from {prefs}"));
    (
        c["delivery"].as_str().unwrap(),
        c["source"].as_str().unwrap(),
    )
}

pub(crate) async fn mine(app: &TestApp, token: &str) -> Value {
    app.ok(
        token,
        &format!("{{ notificationPreferences {{ {PREFS} }} }}"),
        json!({}),
    )
    .await["notificationPreferences"]
        .clone()
}

#[tokio::test]
async fn member_choice_over_tenant_default_over_built_in() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let (_, admin) = app
        .member("acme", "admin@acme.org", &[Role::TenantAdmin])
        .await;
    let (_, ann) = app.member("acme", "ann@acme.org", &[]).await;

    // nothing chosen: every event type, built in
    let before = mine(&app, &ann).await;
    assert_eq!(before["choices"].as_array().unwrap().len(), 8);
    assert_eq!(choice(&before, "JOB_FAILED"), ("IMMEDIATE", "BUILT_IN"));
    assert_eq!(choice(&before, "JOB_STARTED"), ("NONE", "BUILT_IN"));
    assert_eq!(before["timeZone"], "UTC");
    assert_eq!(before["digestHour"], 8);
    assert_eq!(before["weeklyDigestDay"], "MONDAY");

    // the tenant's defaults
    let defaults = app
        .ok(
            &admin,
            &set_defaults(),
            json!({"i": {"choices": [{"eventType": "JOB_STARTED", "delivery": "DAILY_DIGEST"},
                                     {"eventType": "JOB_FAILED", "delivery": "WEEKLY_DIGEST"}],
                         "timeZone": "Europe/Paris", "digestHour": 18}}),
        )
        .await["setTenantNotificationDefaults"]
        .clone();
    assert_eq!(choice(&defaults, "JOB_STARTED"), ("DAILY_DIGEST", "TENANT"));
    assert_eq!(defaults["timeZoneSource"], "TENANT");

    // the member's own choice wins for what they chose, the tenant's for the rest
    let after = app
        .ok(
            &ann,
            &set_mine(),
            json!({"i": {"choices": [{"eventType": "JOB_FAILED", "delivery": "IMMEDIATE"},
                                     {"eventType": "TICKET_UPDATED", "delivery": "NONE"}],
                         "timeZone": "America/New_York", "weeklyDigestDay": "FRIDAY"}}),
        )
        .await["setNotificationPreferences"]
        .clone();
    assert_eq!(choice(&after, "JOB_FAILED"), ("IMMEDIATE", "MEMBER"));
    assert_eq!(choice(&after, "TICKET_UPDATED"), ("NONE", "MEMBER"));
    assert_eq!(choice(&after, "JOB_STARTED"), ("DAILY_DIGEST", "TENANT"));
    assert_eq!(choice(&after, "JOB_SUCCEEDED"), ("IMMEDIATE", "BUILT_IN"));
    assert_eq!(after["timeZone"], "America/New_York");
    assert_eq!(after["timeZoneSource"], "MEMBER");
    assert_eq!(after["digestHour"], 18);
    assert_eq!(after["digestHourSource"], "TENANT");
    assert_eq!(after["weeklyDigestDay"], "FRIDAY");
    assert_eq!(mine(&app, &ann).await, after, "the query shows the same");

    // a null delivery goes back to the inherited choice
    let back = app
        .ok(
            &ann,
            &set_mine(),
            json!({"i": {"choices": [{"eventType": "JOB_FAILED", "delivery": null}]}}),
        )
        .await["setNotificationPreferences"]
        .clone();
    assert_eq!(choice(&back, "JOB_FAILED"), ("WEEKLY_DIGEST", "TENANT"));
    assert_eq!(choice(&back, "TICKET_UPDATED"), ("NONE", "MEMBER"));

    // the admin's own view is untouched by ann's choices
    let theirs = mine(&app, &admin).await;
    assert_eq!(choice(&theirs, "TICKET_UPDATED"), ("IMMEDIATE", "BUILT_IN"));
    // and a repeated change records nothing
    let events = app.event_count().await;
    app.ok(
        &ann,
        &set_mine(),
        json!({"i": {"choices": [{"eventType": "TICKET_UPDATED", "delivery": "NONE"}]}}),
    )
    .await;
    assert_eq!(app.event_count().await, events);
}

#[tokio::test]
async fn bad_input_and_other_members_are_refused_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    app.tenant("other").await;
    let (_, admin) = app
        .member("acme", "admin@acme.org", &[Role::TenantAdmin])
        .await;
    let (ann_id, ann) = app.member("acme", "ann@acme.org", &[]).await;
    let (bob_id, _) = app.member("acme", "bob@acme.org", &[]).await;
    let (stranger, _) = app.member("other", "eve@other.org", &[]).await;
    let before = app.event_count().await;

    let good = json!({"eventType": "JOB_FAILED", "delivery": "NONE"});
    let bad_inputs = [
        json!({"choices": [good, {"eventType": "JOB_EXPLODED", "delivery": "NONE"}]}),
        json!({"choices": [{"eventType": "job_failed", "delivery": "NONE"}]}),
        json!({"choices": [good, {"eventType": "JOB_FAILED", "delivery": "IMMEDIATE"}]}),
        json!({"choices": [good], "timeZone": "Mars/Olympus_Mons"}),
        json!({"choices": [good], "timeZone": ""}),
        json!({"choices": [good], "digestHour": 24}),
        json!({"choices": [good], "digestHour": -1}),
    ];
    for input in &bad_inputs {
        assert_eq!(
            app.code(Some(&ann), &set_mine(), json!({"i": input})).await,
            "INVALID_INPUT",
            "{input}"
        );
        assert_eq!(
            app.code(Some(&admin), &set_defaults(), json!({"i": input}))
                .await,
            "INVALID_INPUT",
            "{input}"
        );
    }

    // another member's preferences: forbidden, whoever asks, wherever they are
    let q = format!(
        "mutation($i: NotificationPreferencesInput!, $m: ID) {{ setNotificationPreferences(input: $i, memberId: $m) {{ {PREFS} }} }}"
    );
    for (token, target) in [
        (&ann, bob_id.to_string()),
        (&admin, ann_id.to_string()),
        (&ann, stranger.to_string()),
        (&ann, "not-an-id".to_owned()),
    ] {
        assert_eq!(
            app.code(
                Some(token),
                &q,
                json!({"i": {"choices": [good]}, "m": target})
            )
            .await,
            "FORBIDDEN"
        );
    }
    // a member is no tenant admin
    assert_eq!(
        app.code(
            Some(&ann),
            &set_defaults(),
            json!({"i": {"choices": [good]}})
        )
        .await,
        "FORBIDDEN"
    );
    assert_eq!(
        app.code(None, &set_mine(), json!({"i": {"choices": [good]}}))
            .await,
        "UNAUTHENTICATED"
    );
    assert_eq!(app.event_count().await, before, "nothing stored");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM notification_preferences")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(rows, 0);

    // naming oneself is fine
    let data = app
        .ok(
            &ann,
            &q,
            json!({"i": {"choices": [good]}, "m": ann_id.to_string()}),
        )
        .await;
    assert_eq!(
        choice(&data["setNotificationPreferences"], "JOB_FAILED"),
        ("NONE", "MEMBER")
    );
}

#[tokio::test]
async fn tenant_defaults_stay_in_their_tenant() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    app.tenant("other").await;
    let (_, acme) = app
        .member("acme", "admin@acme.org", &[Role::TenantAdmin])
        .await;
    let (_, other) = app.member("other", "ann@other.org", &[]).await;
    app.ok(
        &acme,
        &set_defaults(),
        json!({"i": {"choices": [{"eventType": "JOB_SUCCEEDED", "delivery": "NONE"}],
                     "digestHour": 3}}),
    )
    .await;
    let theirs = mine(&app, &other).await;
    assert_eq!(choice(&theirs, "JOB_SUCCEEDED"), ("IMMEDIATE", "BUILT_IN"));
    assert_eq!(theirs["digestHour"], 8);
    let defaults = app
        .ok(
            &other,
            &format!("{{ tenantNotificationDefaults {{ {PREFS} }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(
        defaults["tenantNotificationDefaults"]["digestHourSource"],
        "BUILT_IN"
    );
}

#[tokio::test]
async fn one_click_unsubscribe_sets_the_kind_to_none() {
    let app = TestApp::spawn().await;
    let tenant: TenantId = app.tenant("acme").await;
    let (ann_id, ann): (MemberId, String) = app.member("acme", "ann@acme.org", &[]).await;
    let tokens = &app.core.services.unsubscribe;
    let token = tokens
        .mint(tenant, ann_id, NotificationKind::JobSucceeded)
        .await
        .unwrap();
    assert_eq!(
        tokens.verify(&token).await,
        Some((tenant, ann_id, NotificationKind::JobSucceeded))
    );
    let url = format!("{}/notifications/unsubscribe", app.url);
    let before = app.event_count().await;

    // GET shows a confirmation and changes nothing (mail scanners follow links)
    let page = app
        .http()
        .get(&url)
        .query(&[("token", &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("method=\"post\""), "{html}");
    assert_eq!(app.event_count().await, before);

    // POST (RFC 8058 one-click) acts
    let done = app
        .http()
        .post(&url)
        .query(&[("token", &token)])
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    let prefs = mine(&app, &ann).await;
    assert_eq!(choice(&prefs, "JOB_SUCCEEDED"), ("NONE", "MEMBER"));
    assert_eq!(choice(&prefs, "JOB_FAILED"), ("IMMEDIATE", "BUILT_IN"));
    let actor: String = sqlx::query_scalar(
        "SELECT metadata ->> 'actor' FROM events WHERE aggregate_type = 'NotificationPreferences'",
    )
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!(actor, format!("member:{ann_id}"));

    // again: nothing more happens
    let events = app.event_count().await;
    let again = app
        .http()
        .post(&url)
        .query(&[("token", &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(app.event_count().await, events);

    // a forged or altered token does nothing
    let other_kind = token.replace("JOB_SUCCEEDED", "JOB_FAILED");
    let mut flipped = token.clone();
    let last = flipped.pop().unwrap();
    flipped.push(if last == 'A' { 'B' } else { 'A' });
    for bad in [other_kind.as_str(), flipped.as_str(), "mgu.x.y.z.w", ""] {
        for post in [false, true] {
            let req = if post {
                app.http().post(&url)
            } else {
                app.http().get(&url)
            };
            let resp = req.query(&[("token", bad)]).send().await.unwrap();
            assert_eq!(resp.status(), 404, "{bad}");
        }
    }
    assert_eq!(app.event_count().await, events);
    let prefs = mine(&app, &ann).await;
    assert_eq!(choice(&prefs, "JOB_FAILED"), ("IMMEDIATE", "BUILT_IN"));
}

/// Preferences and defaults for the rebuild test.
pub async fn populate(app: &TestApp, admin: &str) {
    app.ok(
        admin,
        &set_mine(),
        json!({"i": {"choices": [{"eventType": "JOB_STARTED", "delivery": "WEEKLY_DIGEST"}],
                     "timeZone": "Europe/Paris", "digestHour": 7, "weeklyDigestDay": "SUNDAY"}}),
    )
    .await;
    app.ok(
        admin,
        &set_defaults(),
        json!({"i": {"choices": [{"eventType": "FOLDER_SHARED", "delivery": "NONE"}]}}),
    )
    .await;
}
