//! Row-level security: PostgreSQL itself keeps tenants apart, whatever a query forgets.

use medgrid_domain::Role;
use medgrid_domain::ids::TenantId;
use medgrid_projections::page::PageRequest;
use medgrid_projections::{Reader, Sees, members};
use medgrid_tests::TestApp;

/// Every table holding tenant data (a `tenant_id` column, or `tenants` itself) has
/// row-level security enabled and forced, and a policy for the reader role; the reader
/// role can bypass nothing and owns nothing. A new tenant table without them fails here.
#[tokio::test]
async fn every_tenant_table_has_forced_row_level_security() {
    let app = TestApp::spawn().await;
    let tables: Vec<(String, bool, bool, i64)> = sqlx::query_as(
        "SELECT c.relname::text, c.relrowsecurity, c.relforcerowsecurity,
                (SELECT count(*) FROM pg_policy p
                  WHERE p.polrelid = c.oid
                    AND (SELECT oid FROM pg_roles WHERE rolname = 'medgrid_reader') = ANY (p.polroles))
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
            AND (c.relname = 'tenants' OR EXISTS (
                 SELECT FROM pg_attribute a
                  WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped))
          ORDER BY 1",
    )
    .fetch_all(app.pool())
    .await
    .unwrap();
    let names: Vec<&str> = tables.iter().map(|t| t.0.as_str()).collect();
    for expected in ["events", "members", "jobs", "identity_providers", "tenants"] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    for (table, enabled, forced, policies) in &tables {
        assert!(
            *enabled && *forced && *policies > 0,
            "{table}: row-level security enabled {enabled}, forced {forced}, reader policies {policies}"
        );
    }
    let (superuser, bypass, owns): (bool, bool, i64) = sqlx::query_as(
        "SELECT r.rolsuper, r.rolbypassrls,
                (SELECT count(*) FROM pg_class c WHERE c.relowner = r.oid)
           FROM pg_roles r WHERE r.rolname = 'medgrid_reader'",
    )
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert!(!superuser && !bypass && owns == 0);
}

/// Without a tenant the reader sees nothing; with one, that tenant's rows only, even when
/// the query asks for another tenant's.
#[tokio::test]
async fn the_reader_sees_one_tenant_or_nothing() {
    let app = TestApp::spawn().await;
    let a = app.tenant("alpha").await;
    let b = app.tenant("beta").await;
    app.member("alpha", "ada@alpha.org", &[Role::TenantAdmin])
        .await;
    app.member("beta", "bob@beta.org", &[]).await;

    let mut tx = app.pool().begin().await.unwrap();
    sqlx::query("SET LOCAL ROLE medgrid_reader")
        .execute(&mut *tx)
        .await
        .unwrap();
    for table in ["tenants", "members", "access_tokens", "events"] {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(n, 0, "{table}: rows seen without a tenant");
    }
    drop(tx);

    let as_alpha = Reader::new(app.pool(), Sees::Tenant(a));
    let page = PageRequest {
        first: 100,
        after: None,
    };
    // a query for beta's members, run as alpha: nothing
    let of_beta = members::list(&as_alpha, b, page).await.unwrap();
    assert!(of_beta.rows.is_empty(), "{:?}", of_beta.rows);
    let of_alpha = members::list(&as_alpha, a, page).await.unwrap();
    assert_eq!(of_alpha.rows.len(), 1);
    // a made-up tenant sees nothing either; platform admins see both
    let nobody = Reader::new(app.pool(), Sees::Tenant(TenantId::random()));
    assert!(
        members::list(&nobody, a, page)
            .await
            .unwrap()
            .rows
            .is_empty()
    );
    let everyone = Reader::new(app.pool(), Sees::AllTenants);
    assert_eq!(
        members::list(&everyone, b, page).await.unwrap().rows.len(),
        1
    );
}
