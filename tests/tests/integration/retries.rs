//! Safe retries (issue 18, item 11): a creating request under an idempotency key, sent
//! again because its answer was lost, answers what the first made and records nothing new;
//! the same key with different input is CONFLICT. The crash case (the server killed
//! between commit and answer) is `services/medgrid/tests/crash.rs`.

use medgrid_tests::{TestApp, error_code};
use serde_json::{Value, json};

use crate::jobs::{setup, shell_app};

const SUBMIT: &str = "mutation($i: SubmitJobInput!) { submitJob(input: $i) { id state } }";
const OPEN: &str = "mutation($i: OpenTicketInput!) { openTicket(input: $i) { id title } }";

/// Submissions recorded (the dispatcher records the jobs' later events meanwhile).
async fn submissions(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'JobSubmitted'")
        .fetch_one(app.pool())
        .await
        .unwrap()
}

async fn job_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM jobs")
        .fetch_one(app.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_retried_submission_answers_the_first_job() {
    let app = TestApp::spawn().await;
    let (admin, ann, _) = setup(&app, "acme").await;
    let (_, bob) = app.member("acme", "bob@acme.org", &[]).await;
    let shell = shell_app(&app, &admin).await;
    let input = json!({"applicationId": shell, "parameters": {"script": "sleep 300"},
                       "idempotencyKey": "7d1e0c52-submit-1"});
    let first = app.ok(&ann, SUBMIT, json!({"i": input})).await["submitJob"].clone();
    let (events, jobs) = (submissions(&app).await, job_count(&app).await);
    for _ in 0..3 {
        let again = app.ok(&ann, SUBMIT, json!({"i": input})).await["submitJob"].clone();
        assert_eq!(again["id"], first["id"], "the first job, not a new one");
    }
    assert_eq!(submissions(&app).await, events, "nothing new recorded");
    assert_eq!(job_count(&app).await, jobs);

    // the same key with other input is a conflict, and records nothing
    let mut other = input.clone();
    other["parameters"]["script"] = json!("echo other");
    let body = app.gql(Some(&ann), SUBMIT, json!({"i": other})).await;
    assert_eq!(error_code(&body).as_deref(), Some("CONFLICT"), "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "idempotencyKey");
    assert_eq!(submissions(&app).await, events);

    // keys are each member's own: bob's same key makes bob's job
    let bobs = app.ok(&bob, SUBMIT, json!({"i": input})).await["submitJob"].clone();
    assert_ne!(bobs["id"], first["id"]);
    // a key that cannot be one is refused before anything happens
    let mut bad = input.clone();
    bad["idempotencyKey"] = json!("has a space");
    let body = app.gql(Some(&ann), SUBMIT, json!({"i": bad})).await;
    assert_eq!(
        error_code(&body).as_deref(),
        Some("INVALID_INPUT"),
        "{body}"
    );
    // without a key, every submission is a job of its own
    let mut plain = input.clone();
    plain.as_object_mut().unwrap().remove("idempotencyKey");
    let a = app.ok(&ann, SUBMIT, json!({"i": plain})).await["submitJob"]["id"].clone();
    let b = app.ok(&ann, SUBMIT, json!({"i": plain})).await["submitJob"]["id"].clone();
    assert_ne!(a, b);

    // a retry answers what was done, even when the job could not be submitted now (the
    // application disabled since)
    app.ok(
        &admin,
        "mutation($id: ID!) { setApplicationEnabled(id: $id, enabled: false) { id } }",
        json!({"id": shell}),
    )
    .await;
    let again = app.ok(&ann, SUBMIT, json!({"i": input})).await["submitJob"].clone();
    assert_eq!(again["id"], first["id"]);

    // after 24 hours the key is spent
    sqlx::query("UPDATE jobs SET created_at = now() - interval '25 hours' WHERE id = $1::uuid")
        .bind(first["id"].as_str().unwrap())
        .execute(app.pool())
        .await
        .unwrap();
    let body = app.gql(Some(&ann), SUBMIT, json!({"i": input})).await;
    assert_eq!(error_code(&body).as_deref(), Some("CONFLICT"), "{body}");
}

#[tokio::test]
async fn concurrent_retries_make_one_job() {
    let app = TestApp::spawn().await;
    let (admin, ann, _) = setup(&app, "acme").await;
    let shell = shell_app(&app, &admin).await;
    let input = json!({"applicationId": shell, "parameters": {"script": "sleep 300"},
                       "idempotencyKey": "racing-retries"});
    let answers = futures::future::join_all(
        (0..8).map(|_| app.gql(Some(&ann), SUBMIT, json!({"i": input.clone()}))),
    )
    .await;
    let ids = answers
        .iter()
        .map(|body| body["data"]["submitJob"]["id"].clone())
        .collect::<Vec<Value>>();
    assert!(
        ids.iter().all(|id| id.is_string() && *id == ids[0]),
        "{answers:?}"
    );
    assert_eq!(job_count(&app).await, 1);
}

#[tokio::test]
async fn a_retried_ticket_answers_the_first_ticket() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let (_, ann) = app.member("acme", "ann@acme.org", &[]).await;
    let input = json!({"title": "My job is stuck", "body": "since noon",
                       "idempotencyKey": "ticket-1"});
    let first = app.ok(&ann, OPEN, json!({"i": input})).await["openTicket"].clone();
    let events = app.event_count().await;
    let again = app.ok(&ann, OPEN, json!({"i": input})).await["openTicket"].clone();
    assert_eq!(again["id"], first["id"]);
    assert_eq!(app.event_count().await, events);
    let mut other = input.clone();
    other["body"] = json!("something else");
    let body = app.gql(Some(&ann), OPEN, json!({"i": other})).await;
    assert_eq!(error_code(&body).as_deref(), Some("CONFLICT"), "{body}");
    assert_eq!(app.event_count().await, events);
}
