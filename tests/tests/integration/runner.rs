//! The projection runner's guarantees, shown on a probe projection over raw events.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use async_trait::async_trait;
use medgrid_projections::StoredEvent;
use medgrid_projections::runner::{self, Projection, ProjectionError};
use medgrid_tests::{TestApp, TestDb, table_fingerprint};
use serde_json::json;
use sqlx::{Connection, PgConnection, PgPool};

/// Records every event it applies; applying one twice violates the primary key.
struct Probe {
    /// When > 0, applying the event at this position kills the connection (once).
    crash_at: AtomicI64,
}

impl Probe {
    fn new() -> Self {
        Self {
            crash_at: AtomicI64::new(0),
        }
    }
}

#[async_trait]
impl Projection for Probe {
    fn name(&self) -> &'static str {
        "probe"
    }
    fn tables(&self) -> &'static [&'static str] {
        &["probe_applied"]
    }
    fn consumes(&self) -> &'static [&'static str] {
        &["Probe"]
    }
    async fn apply(
        &self,
        db: &mut PgConnection,
        events: &[StoredEvent],
    ) -> Result<(), ProjectionError> {
        for e in events {
            let gp = e.position.global_position;
            if self.crash_at.load(Ordering::SeqCst) == gp {
                self.crash_at.store(0, Ordering::SeqCst);
                // A real crash: the server ends this session in the middle of the batch.
                let _ = sqlx::query("SELECT pg_terminate_backend(pg_backend_pid())")
                    .execute(&mut *db)
                    .await;
                return Err(ProjectionError::Apply("crashed".into()));
            }
            sqlx::query("INSERT INTO probe_applied (global_position, seq) VALUES ($1, DEFAULT)")
                .bind(gp)
                .execute(&mut *db)
                .await?;
        }
        Ok(())
    }
}

async fn probe_table(pool: &PgPool) {
    sqlx::query("CREATE TABLE probe_applied (global_position bigint PRIMARY KEY, seq bigint GENERATED ALWAYS AS IDENTITY)")
        .execute(pool)
        .await
        .unwrap();
}

const INSERT: &str = "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
VALUES ('Probe', $1, 1, 'Probed', '1.0', '{}', $2) RETURNING global_position";

fn meta() -> serde_json::Value {
    json!({
        "tenant_id": uuid::Uuid::now_v7().to_string(),
        "actor": "system:test",
        "correlation_id": uuid::Uuid::now_v7().to_string(),
        "causation_id": uuid::Uuid::now_v7().to_string(),
    })
}

async fn insert(conn: &mut PgConnection) -> i64 {
    sqlx::query_scalar(INSERT)
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(meta())
        .fetch_one(conn)
        .await
        .unwrap()
}

async fn applied(pool: &PgPool) -> Vec<i64> {
    sqlx::query_scalar("SELECT global_position FROM probe_applied ORDER BY seq")
        .fetch_all(pool)
        .await
        .unwrap()
}

/// Waits until `n` events are below the xmin line. The line is cluster-wide: another
/// test's open transaction can hold it back for a moment, and until it passes, the runner
/// rightly reads nothing.
async fn wait_readable(pool: &PgPool, n: i64) {
    for _ in 0..600 {
        let readable: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM events WHERE tx_id < pg_snapshot_xmin(pg_current_snapshot())",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if readable >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{n} events did not become readable within 30 s");
}

async fn catch_up(pool: &PgPool, probe: &Probe) -> Result<usize, ProjectionError> {
    runner::catch_up(pool, probe, &medgrid_domain::upcast::upcasters(), 100).await
}

#[tokio::test]
async fn an_event_committed_after_later_ones_is_never_skipped() {
    let db = TestDb::new().await;
    probe_table(&db.pool).await;
    let probe = Probe::new();
    let mut a = PgConnection::connect_with(&db.options).await.unwrap();
    let mut b = PgConnection::connect_with(&db.options).await.unwrap();

    // A takes its transaction id first, B inserts and commits, then A inserts: A's event
    // has the larger position but the older transaction, and commits last.
    sqlx::query("BEGIN").execute(&mut a).await.unwrap();
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut a)
        .await
        .unwrap();
    let gp_b = insert(&mut b).await;
    let gp_a = insert(&mut a).await;
    assert!(gp_a > gp_b);

    // While A is open, nothing at or beyond its transaction may be read.
    assert_eq!(catch_up(&db.pool, &probe).await.unwrap(), 0);
    assert!(
        applied(&db.pool).await.is_empty(),
        "B was read while the older A was open"
    );

    sqlx::query("COMMIT").execute(&mut a).await.unwrap();
    wait_readable(&db.pool, 2).await;
    assert_eq!(catch_up(&db.pool, &probe).await.unwrap(), 2);
    assert_eq!(
        applied(&db.pool).await,
        vec![gp_a, gp_b],
        "ordered by transaction"
    );
}

#[tokio::test]
async fn transactions_are_ordered_as_numbers_not_as_text() {
    let db = TestDb::new().await;
    probe_table(&db.pool).await;
    // Old, finished transaction ids whose text order differs from their numeric order.
    let mut positions = vec![];
    for tx in ["99", "100", "1000"] {
        let gp: i64 = sqlx::query_scalar(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata, tx_id)
             VALUES ('Probe', $1, 1, 'Probed', '1.0', '{}', $2, $3::xid8) RETURNING global_position",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(meta())
        .bind(tx)
        .fetch_one(&db.pool)
        .await
        .unwrap();
        positions.push(gp);
    }
    let probe = Probe::new();
    // batches of one: every checkpoint comparison is exercised
    let upcasters = medgrid_domain::upcast::upcasters();
    while runner::catch_up_once(&db.pool, &probe, &upcasters, 1)
        .await
        .unwrap()
        > 0
    {}
    assert_eq!(applied(&db.pool).await, positions);
}

#[tokio::test]
async fn a_crash_mid_batch_applies_nothing_and_a_restart_applies_everything_once() {
    let db = TestDb::new().await;
    probe_table(&db.pool).await;
    let mut conn = PgConnection::connect_with(&db.options).await.unwrap();
    let mut positions = vec![];
    for _ in 0..10 {
        positions.push(insert(&mut conn).await);
    }
    let probe = Probe::new();
    wait_readable(&db.pool, 10).await;
    probe.crash_at.store(positions[6], Ordering::SeqCst);

    assert!(
        catch_up(&db.pool, &probe).await.is_err(),
        "the crash surfaces"
    );
    assert!(
        applied(&db.pool).await.is_empty(),
        "the half-applied batch rolled back"
    );

    assert_eq!(catch_up(&db.pool, &probe).await.unwrap(), 10);
    assert_eq!(applied(&db.pool).await, positions);
    assert_eq!(
        catch_up(&db.pool, &probe).await.unwrap(),
        0,
        "nothing is applied twice"
    );
}

#[tokio::test]
async fn concurrent_runners_apply_each_event_exactly_once() {
    let db = TestDb::new().await;
    probe_table(&db.pool).await;
    let probe = Arc::new(Probe::new());
    let writer = {
        let options = db.options.clone();
        tokio::spawn(async move {
            let mut conn = PgConnection::connect_with(&options).await.unwrap();
            for _ in 0..200 {
                insert(&mut conn).await;
            }
        })
    };
    let runners: Vec<_> = (0..3)
        .map(|_| {
            let pool = db.pool.clone();
            let probe = probe.clone();
            tokio::spawn(async move {
                for _ in 0..50 {
                    runner::catch_up(&pool, &*probe, &medgrid_domain::upcast::upcasters(), 7)
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    writer.await.unwrap();
    for r in runners {
        r.await.unwrap();
    }
    wait_readable(&db.pool, 200).await;
    catch_up(&db.pool, &probe).await.unwrap();
    let got = applied(&db.pool).await;
    assert_eq!(got.len(), 200);
    let mut sorted = got.clone();
    sorted.sort();
    assert_eq!(got, sorted, "applied in log order");
}

#[tokio::test]
async fn rebuild_produces_tables_identical_to_the_live_ones() {
    let app = TestApp::spawn().await;
    crate::access::populate(&app).await;
    let mut before = vec![];
    for p in medgrid_projections::all() {
        for table in p.tables() {
            let fp = table_fingerprint(app.pool(), table).await;
            assert!(
                fp.0 > 0,
                "{table} is empty: the comparison would prove nothing"
            );
            before.push((table.to_string(), fp));
        }
    }
    for p in medgrid_projections::all() {
        let n = runner::rebuild(app.pool(), &*p, &medgrid_domain::upcast::upcasters(), 50)
            .await
            .unwrap();
        assert!(n > 0);
    }
    for (table, fp) in before {
        assert_eq!(
            table_fingerprint(app.pool(), &table).await,
            fp,
            "{table} differs after rebuild"
        );
    }
}

#[tokio::test]
async fn a_version_1_member_event_is_upcast_for_projections_and_aggregates() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("upcast").await;
    let member = uuid::Uuid::now_v7();
    let meta = json!({
        "tenant_id": tenant.to_string(),
        "actor": "system:test",
        "correlation_id": uuid::Uuid::now_v7().to_string(),
        "causation_id": uuid::Uuid::now_v7().to_string(),
    });
    let payload = json!({"MemberCreated": {
        "tenant_id": tenant.to_string(), "email": "old@example.org", "name": "Old", "admin": true
    }});
    sqlx::query("INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
                 VALUES ('Member', $1, 1, 'MemberCreated', '1.0', $2, $3)")
        .bind(member.to_string())
        .bind(payload)
        .bind(meta)
        .execute(app.pool())
        .await
        .unwrap();
    let (_, admin) = app
        .member(
            "upcast",
            "root@example.org",
            &[medgrid_domain::Role::TenantAdmin],
        )
        .await;
    // The projection read the 1.0 event as 2.0 (admin: true -> TENANT_ADMIN).
    let data = app
        .ok(
            &admin,
            "query($id: ID!) { member(id: $id) { email roles } }",
            json!({"id": member.to_string()}),
        )
        .await;
    assert_eq!(data["member"]["roles"], json!(["TENANT_ADMIN"]));
    // The aggregate loads it too: revoking the upcast role produces an event.
    let data = app
        .ok(
            &admin,
            "mutation($id: ID!) { revokeRole(memberId: $id, role: TENANT_ADMIN) { roles } }",
            json!({"id": member.to_string()}),
        )
        .await;
    assert_eq!(data["revokeRole"]["roles"], json!([]));
}
