//! Mail about what happens, end to end against a real SMTP server: job endings mailed once
//! across an SMTP outage and a worker restart, a burst in one mail, digests, addresses
//! refused for good, tickets, shared folders, nearly full quotas, one-click unsubscribe
//! from a received mail, and the outbox directory of the embedded default.

use std::time::{Duration, Instant};

use mail_parser::MessageParser;
use medgrid_domain::Role;
use medgrid_domain::notify::NotificationKind;
use medgrid_infra::config::Config;
use medgrid_tests::smtp::{SmtpOptions, SmtpServer};
use medgrid_tests::{TestApp, test_config};
use medgrid_worker::notify::{Notice, record};
use serde_json::json;
use uuid::Uuid;

use crate::jobs::{in_state, setup, shell_app, submit, wait_until};
use crate::notifications::set_mine;

fn mail_config(smtp: &SmtpServer) -> Config {
    let mut config = test_config();
    config.smtp_url = Some(smtp.url().into());
    config.smtp_ca_file = smtp.ca_file();
    config.mail_delay_ms = 300;
    config.mail_window_seconds = 0;
    config.mail_retry_max_seconds = 1;
    config.mail_scan_interval_ms = 200;
    config.smtp_timeout_seconds = 5;
    config
}

/// Polls `query` (one number) until `done` holds, at most `secs`.
async fn wait_for(app: &TestApp, query: &str, secs: u64, done: impl Fn(i64) -> bool) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let n: i64 = sqlx::query_scalar(query)
            .fetch_one(app.pool())
            .await
            .unwrap();
        if done(n) {
            return n;
        }
        assert!(
            Instant::now() < deadline,
            "{query} is still {n} after {secs} s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn notice(tenant: Uuid, member: Uuid, key: &str) -> Notice {
    Notice {
        tenant,
        member,
        kind: NotificationKind::JobSucceeded,
        key: key.to_owned(),
        title: format!("Job {key} (shell 1) succeeded"),
        detail: "exit code 0".to_owned(),
        link: format!("/jobs/{key}"),
        happened_at: chrono::Utc::now(),
    }
}

/// Records notices in one transaction, as one batch of events would.
async fn record_all(app: &TestApp, notices: &[Notice]) {
    let mut tx = app.pool().begin().await.unwrap();
    for n in notices {
        record(&mut tx, n).await.unwrap();
    }
    tx.commit().await.unwrap();
}

/// A received mail, decoded (subjects and bodies may be encoded on the wire).
struct Read {
    subject: String,
    text: String,
    html: String,
    message_id: String,
    raw: String,
}

fn read(raw: &str) -> Read {
    let m = MessageParser::default()
        .parse(raw.as_bytes())
        .unwrap_or_else(|| panic!("not a mail: {raw}"));
    Read {
        subject: m.subject().unwrap_or_default().to_owned(),
        text: m.body_text(0).unwrap_or_default().into_owned(),
        html: m.body_html(0).unwrap_or_default().into_owned(),
        message_id: m.message_id().unwrap_or_default().to_owned(),
        raw: raw.to_owned(),
    }
}

/// A header as sent (unfolded, untouched).
fn header(raw: &str, name: &str) -> Option<String> {
    let m = MessageParser::default().parse(raw.as_bytes())?;
    m.header_raw(name)
        .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
}

#[tokio::test]
async fn an_smtp_outage_across_a_worker_restart_delays_mail_without_losing_or_doubling_it() {
    let mut smtp = SmtpServer::start(SmtpOptions::default()).await;
    let mut app = TestApp::spawn_with(mail_config(&smtp)).await;
    let (admin, member, _) = setup(&app, "uni").await;
    let shell = shell_app(&app, &admin).await;

    smtp.stop().await;
    let mut jobs = Vec::new();
    for i in 0..3 {
        let j = submit(
            &app,
            &member,
            json!({"applicationId": shell, "parameters": {"script": format!("echo {i}")}}),
        )
        .await;
        jobs.push(j["id"].as_str().unwrap().to_owned());
    }
    for id in &jobs {
        wait_until(&app, &member, id, 90, in_state("SUCCEEDED")).await;
    }
    // every ending is in a mail, and the mailer tried to send and could not
    wait_for(
        &app,
        "SELECT count(*) FROM notifications WHERE kind = 'JOB_SUCCEEDED' AND mail_id IS NOT NULL",
        30,
        |n| n == 3,
    )
    .await;
    wait_for(
        &app,
        "SELECT count(*) FROM mail_outbox WHERE status = 'PENDING' AND attempts >= 1",
        30,
        |n| n >= 1,
    )
    .await;
    let pending = wait_for(&app, "SELECT count(*) FROM mail_outbox", 1, |_| true).await;

    app.restart_worker().await;
    smtp.start_again().await;
    let sent = wait_for(
        &app,
        "SELECT count(*) FROM mail_outbox WHERE status = 'SENT'",
        60,
        |n| n == pending,
    )
    .await;
    let received = smtp
        .wait_for(usize::try_from(sent).unwrap(), Duration::from_secs(30))
        .await;
    assert_eq!(
        received.len(),
        usize::try_from(sent).unwrap(),
        "one message per mail"
    );
    let mut ids: Vec<String> = received.iter().map(|m| read(&m.raw).message_id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), received.len(), "no mail sent twice");
    for id in &jobs {
        let told: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM notifications n JOIN mail_outbox m ON m.id = n.mail_id
              WHERE n.link = $1 AND m.status = 'SENT'",
        )
        .bind(format!("/jobs/{id}"))
        .fetch_one(app.pool())
        .await
        .unwrap();
        assert_eq!(told, 1, "job {id} is told exactly once");
        assert!(
            received
                .iter()
                .any(|m| read(&m.raw).text.contains(id.as_str())),
            "job {id} is in a received mail"
        );
    }
    assert!(received.iter().all(|m| m.to == ["ann@uni.org"]));
}

#[tokio::test]
async fn a_burst_of_a_thousand_job_endings_is_one_mail() {
    let smtp = SmtpServer::start(SmtpOptions::default()).await;
    let mut config = mail_config(&smtp);
    config.mail_window_seconds = 3600;
    let app = TestApp::spawn_with(config).await;
    let tenant = app.tenant("uni").await;
    let (ann, _) = app.member("uni", "ann@uni.org", &[]).await;
    let (tenant, ann) = (tenant.as_uuid(), ann.as_uuid());

    let burst: Vec<Notice> = (0..1000)
        .map(|i| notice(tenant, ann, &format!("burst-{i}")))
        .collect();
    record_all(&app, &burst).await;
    let mails = smtp.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(mails.len(), 1);
    let mail = read(&mails[0].raw);
    assert_eq!(mail.subject, "Medgrid: 1000 jobs succeeded");
    assert!(mail.text.contains("and 975 more"), "{}", mail.text);
    assert!(mail.html.contains("and 975 more"));

    // more news within the window waits for the window's end (no second mail now)
    record_all(&app, &[notice(tenant, ann, "late")]).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(smtp.messages().len(), 1);
    let waiting: i64 =
        sqlx::query_scalar("SELECT count(*) FROM notifications WHERE mail_id IS NULL")
            .fetch_one(app.pool())
            .await
            .unwrap();
    assert_eq!(waiting, 1);
}

#[tokio::test]
async fn a_daily_digest_lists_its_period_in_one_mail_and_keeps_the_rest() {
    let smtp = SmtpServer::start(SmtpOptions::default()).await;
    let app = TestApp::spawn_with(mail_config(&smtp)).await;
    let tenant = app.tenant("uni").await.as_uuid();
    let (ann, token) = app.member("uni", "ann@uni.org", &[]).await;
    app.ok(
        &token,
        &set_mine(),
        json!({"i": {"choices": [{"eventType": "JOB_SUCCEEDED", "delivery": "DAILY_DIGEST"}],
                     "timeZone": "Europe/Paris", "digestHour": 8}}),
    )
    .await;
    let ann = ann.as_uuid();
    let old: Vec<Notice> = (0..3)
        .map(|i| notice(tenant, ann, &format!("old-{i}")))
        .collect();
    record_all(&app, &old).await;
    // as if they had been noticed two days ago: a digest time has come since
    sqlx::query("UPDATE notifications SET noticed_at = now() - interval '2 days'")
        .execute(app.pool())
        .await
        .unwrap();
    record_all(&app, &[notice(tenant, ann, "today")]).await;

    let mails = smtp.wait_for(1, Duration::from_secs(30)).await;
    let digest = read(&mails[0].raw);
    assert_eq!(digest.subject, "Your Medgrid daily digest: 3 updates");
    assert!(digest.text.contains("Job old-2 (shell 1) succeeded"));
    assert!(!digest.text.contains("today"));
    assert!(
        digest.text.contains("CET"),
        "times in her zone: {}",
        digest.text
    );
    let purpose: String = sqlx::query_scalar("SELECT purpose FROM mail_outbox")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(purpose, "DAILY_DIGEST");
    let waiting: Vec<String> =
        sqlx::query_scalar("SELECT link FROM notifications WHERE mail_id IS NULL")
            .fetch_all(app.pool())
            .await
            .unwrap();
    assert_eq!(waiting, ["/jobs/today"], "the next digest's");
}

#[tokio::test]
async fn an_address_refused_for_good_is_reported_to_the_tenant_admin_and_not_mailed_again() {
    let smtp = SmtpServer::start(SmtpOptions {
        refuse: vec!["gone@uni.org".into()],
        ..SmtpOptions::default()
    })
    .await;
    let app = TestApp::spawn_with(mail_config(&smtp)).await;
    let tenant = app.tenant("uni").await.as_uuid();
    app.member("uni", "admin@uni.org", &[Role::TenantAdmin])
        .await;
    let (gone, _) = app.member("uni", "gone@uni.org", &[]).await;
    let gone = gone.as_uuid();

    record_all(&app, &[notice(tenant, gone, "first")]).await;
    let report = smtp.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(report[0].to, ["admin@uni.org"]);
    let told = read(&report[0].raw);
    assert_eq!(told.subject, "Medgrid: mail to gone@uni.org is refused");
    assert!(told.text.contains("550"), "{}", told.text);
    let (status, error): (String, String) = sqlx::query_as(
        "SELECT status, last_error FROM mail_outbox WHERE to_address = 'gone@uni.org'",
    )
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!(status, "UNDELIVERABLE");
    assert!(error.contains("550"), "{error}");

    // later mail to that address is not tried: no second refusal, no second report
    record_all(&app, &[notice(tenant, gone, "second")]).await;
    wait_for(
        &app,
        "SELECT count(*) FROM mail_outbox WHERE status = 'SUPPRESSED'",
        30,
        |n| n == 1,
    )
    .await;
    assert_eq!(smtp.messages().len(), 1);
    let tries: i32 =
        sqlx::query_scalar("SELECT attempts FROM mail_outbox WHERE status = 'SUPPRESSED'")
            .fetch_one(app.pool())
            .await
            .unwrap();
    assert_eq!(tries, 0, "not tried");
    let marked: Vec<String> = sqlx::query_scalar("SELECT address FROM mail_undeliverable")
        .fetch_all(app.pool())
        .await
        .unwrap();
    assert_eq!(marked, ["gone@uni.org"]);
}

#[tokio::test]
async fn tickets_shares_and_nearly_full_quotas_are_mailed_to_whom_they_concern() {
    let smtp = SmtpServer::start(SmtpOptions::default()).await;
    let app = TestApp::spawn_with(mail_config(&smtp)).await;
    app.tenant("uni").await;
    let (_, admin) = app
        .member("uni", "admin@uni.org", &[Role::TenantAdmin])
        .await;
    let (_, ann) = app.member("uni", "ann@uni.org", &[]).await;
    let (bob_id, bob) = app.member("uni", "bob@uni.org", &[]).await;

    // a new ticket: the administrators hear of it, not its reporter
    let ticket = app
        .ok(
            &ann,
            "mutation($i: OpenTicketInput!) { openTicket(input: $i) { id } }",
            json!({"i": {"title": "My <b>job</b> is stuck", "body": "since Monday"}}),
        )
        .await["openTicket"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mails = smtp.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(mails[0].to, ["admin@uni.org"]);
    let opened = read(&mails[0].raw);
    assert!(
        opened.subject.contains("opened by ann@uni.org"),
        "{}",
        opened.subject
    );
    // the administrator's comment: the reporter hears of it
    app.ok(
        &admin,
        "mutation($id: ID!, $b: String!) { commentTicket(id: $id, body: $b) { id } }",
        json!({"id": ticket, "b": "Looking into it"}),
    )
    .await;
    let mails = smtp.wait_for(2, Duration::from_secs(30)).await;
    assert_eq!(mails[1].to, ["ann@uni.org"]);
    let comment = read(&mails[1].raw);
    assert!(comment.text.contains("Looking into it"));
    assert!(
        comment.text.contains("My <b>job</b> is stuck"),
        "text is text"
    );
    assert!(
        !comment.html.contains("<b>job</b>") && comment.html.contains("&#60;b&#62;job&#60;/b&#62;"),
        "the HTML part escapes the ticket's title: {}",
        comment.html
    );

    // a folder shared with bob, who wants to hear of shares at once (built in: a digest)
    app.ok(
        &bob,
        &set_mine(),
        json!({"i": {"choices": [{"eventType": "FOLDER_SHARED", "delivery": "IMMEDIATE"}]}}),
    )
    .await;
    let home = app
        .ok(
            &ann,
            "{ space(path: \"/home\") { node { id } } }",
            json!({}),
        )
        .await;
    let home = home["space"]["node"]["id"].as_str().unwrap().to_owned();
    let study = app
        .ok(
            &ann,
            "mutation($p: ID!, $n: String!) { createFolder(parentId: $p, name: $n) { id } }",
            json!({"p": home, "n": "study"}),
        )
        .await["createFolder"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.ok(
        &ann,
        "mutation($id: ID!, $w: GranteeInput!) { shareFolder(id: $id, with: $w, access: READ) { id } }",
        json!({"id": study, "w": {"memberId": bob_id.to_string()}}),
    )
    .await;
    let mails = smtp.wait_for(3, Duration::from_secs(30)).await;
    assert_eq!(mails[2].to, ["bob@uni.org"]);
    let shared = read(&mails[2].raw);
    assert!(
        shared
            .subject
            .contains("shared the folder “study” with you"),
        "{}",
        shared.subject
    );
    assert!(shared.text.contains("/files?path=%2Fshared%2Fstudy"));

    // bob's home at 95 % of its quota
    app.ok(
        &admin,
        "mutation($o: GranteeInput!, $b: Float) { setSpaceQuota(owner: $o, bytes: $b) { limit } }",
        json!({"o": {"memberId": bob_id.to_string()}, "b": 100.0}),
    )
    .await;
    let bob_home = app
        .ok(
            &bob,
            "{ space(path: \"/home\") { node { id } } }",
            json!({}),
        )
        .await;
    let bob_home = bob_home["space"]["node"]["id"].as_str().unwrap().to_owned();
    let (status, body) = app.upload(&bob, &bob_home, "scan.nii", vec![7u8; 95]).await;
    assert_eq!(status, 201, "{body}");
    let mails = smtp.wait_for(4, Duration::from_secs(30)).await;
    assert_eq!(mails[3].to, ["bob@uni.org"]);
    let full = read(&mails[3].raw);
    assert_eq!(full.subject, "Your home is 95 % full");
    assert_eq!(smtp.messages().len(), 4, "nobody else was told anything");
}

#[tokio::test]
async fn the_one_click_link_of_a_received_mail_unsubscribes() {
    let smtp = SmtpServer::start(SmtpOptions::default()).await;
    let app = TestApp::spawn_with(mail_config(&smtp)).await;
    let tenant = app.tenant("uni").await.as_uuid();
    let (ann, token) = app.member("uni", "ann@uni.org", &[]).await;
    record_all(&app, &[notice(tenant, ann.as_uuid(), "one")]).await;
    let mails = smtp.wait_for(1, Duration::from_secs(30)).await;
    let link = header(&mails[0].raw, "List-Unsubscribe").unwrap();
    let link = link.as_str();
    let url = link.trim_start_matches('<').trim_end_matches('>');
    assert!(url.starts_with(&app.url), "{url}");
    assert_eq!(
        header(&mails[0].raw, "List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    let done = app
        .http()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    let prefs = app
        .ok(
            &token,
            "{ notificationPreferences { choices { eventType delivery source } } }",
            json!({}),
        )
        .await;
    let choice = prefs["notificationPreferences"]["choices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["eventType"] == "JOB_SUCCEEDED")
        .unwrap()
        .clone();
    assert_eq!(
        choice,
        json!({"eventType": "JOB_SUCCEEDED", "delivery": "NONE", "source": "MEMBER"})
    );
    // and nothing more of that kind is recorded for her
    record_all(&app, &[notice(tenant, ann.as_uuid(), "two")]).await;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM notifications")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(count, 1);
}

#[tokio::test]
async fn without_smtp_mails_are_written_to_the_outbox_directory() {
    let mut config = test_config();
    config.mail_delay_ms = 100;
    let app = TestApp::spawn_with(config).await;
    let tenant = app.tenant("uni").await.as_uuid();
    let (ann, _) = app.member("uni", "ann@uni.org", &[]).await;
    record_all(&app, &[notice(tenant, ann.as_uuid(), "one")]).await;
    wait_for(
        &app,
        "SELECT count(*) FROM mail_outbox WHERE status = 'SENT'",
        30,
        |n| n == 1,
    )
    .await;
    let dir = app.config.mail_outbox_dir();
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|f| f.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    assert_eq!(files.len(), 1, "{dir:?}");
    let mail = read(&std::fs::read_to_string(&files[0]).unwrap());
    assert!(mail.raw.contains("ann@uni.org"));
    assert_eq!(mail.subject, "Job one (shell 1) succeeded");
}
