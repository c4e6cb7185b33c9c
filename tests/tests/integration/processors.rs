//! Processors across processes: leases, NOTIFY wake-ups, the polling fallback, snapshots.

use std::time::Duration;

use medgrid::Core;
use medgrid_domain::Role;
use medgrid_graphql::usecases::Scope;
use medgrid_tests::{TestApp, test_config};
use serde_json::json;
use sqlx::PgPool;

async fn advisory_locks(pool: &PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database
          WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database()",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn wait_for_locks(pool: &PgPool, n: i64) {
    for _ in 0..200 {
        if advisory_locks(pool).await == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("expected {n} leases, found {}", advisory_locks(pool).await);
}

#[tokio::test]
async fn one_process_runs_each_processor_and_another_takes_over() {
    let mut app = TestApp::spawn().await;
    // every projection, the dispatcher, the archiver, the importer, the notifier and
    // the mailer
    let projections = medgrid_projections::all().len() as i64 + 5;
    wait_for_locks(app.pool(), projections).await;

    // a second "process" on the same database: its processors find the leases taken
    let config = test_config();
    let second = Core::new(app.pool(), &config).unwrap();
    let standby = second.worker(&config);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        advisory_locks(app.pool()).await,
        projections,
        "a processor runs twice"
    );

    // the first goes away; the standby takes the leases and carries on
    app.stop().await;
    wait_for_locks(app.pool(), projections).await;
    medgrid_graphql::usecases::tenancy::create(
        &Scope::operator(&second.services),
        "after",
        "After",
    )
    .await
    .unwrap();
    let row = medgrid_projections::tenants::by_slug(
        &medgrid_projections::Reader::system(app.pool()),
        "after",
    )
    .await
    .unwrap();
    assert!(row.is_some(), "the standby did not take over");
    standby.stop().await;
}

#[tokio::test]
async fn notifications_wake_processors_without_polling() {
    let mut config = test_config();
    config.poll_interval_ms = 3_600_000; // only NOTIFY can wake them within the test
    config.read_your_writes_timeout_ms = 60_000;
    let app = TestApp::spawn_with(config).await;
    app.tenant("acme").await;
    let (_, admin) = app
        .member("acme", "admin@acme.org", &[Role::TenantAdmin])
        .await;
    let data = app
        .ok(
            &admin,
            "mutation { createGroup(name: \"Woken\") { name } }",
            json!({}),
        )
        .await;
    assert_eq!(data["createGroup"]["name"], "Woken");
}

#[tokio::test]
async fn polling_finds_events_that_were_never_notified() {
    let mut config = test_config();
    config.poll_interval_ms = 100;
    let app = TestApp::spawn_with(config).await;
    sqlx::query("ALTER TABLE events DISABLE TRIGGER events_notify")
        .execute(app.pool())
        .await
        .unwrap();
    app.tenant("quiet").await;
    let row = medgrid_projections::tenants::by_slug(
        &medgrid_projections::Reader::system(app.pool()),
        "quiet",
    )
    .await
    .unwrap();
    assert!(row.is_some());
}

#[tokio::test]
async fn members_are_snapshotted_and_load_from_the_snapshot() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let (id, token) = app.member("acme", "busy@acme.org", &[]).await;
    let mut first = None;
    for i in 0..25 {
        let data = app
            .ok(
                &token,
                "mutation($n: String!) { issueToken(name: $n) { accessToken { id } } }",
                json!({"n": format!("t{i}")}),
            )
            .await;
        first.get_or_insert(
            data["issueToken"]["accessToken"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let snapshots: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM snapshots WHERE aggregate_type = 'Member' AND aggregate_id = $1",
    )
    .bind(id.to_string())
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!(snapshots, 1);
    // state from snapshot + later events: the first token is known, and revocable once
    let revoke = "mutation($t: ID!) { revokeToken(id: $t) { revokedAt } }";
    app.ok(&token, revoke, json!({"t": first.clone()})).await;
    assert_eq!(
        app.code(Some(&token), revoke, json!({"t": first})).await,
        "NOT_FOUND"
    );
}
