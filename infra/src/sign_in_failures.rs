//! Failed sign-ins counted in PostgreSQL (table `sign_in_failures`), shared by every API
//! replica. The policy is `medgrid_domain::access::sign_in`.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use medgrid_domain::CommandError;
use medgrid_domain::access::sign_in::Failures;
use medgrid_domain::ids::{MemberId, TenantId};
use medgrid_domain::ports::SignInFailures;
use sqlx::PgPool;

pub struct CountedSignInFailures {
    pool: PgPool,
}

impl CountedSignInFailures {
    pub fn new(pool: &PgPool) -> Self {
        Self { pool: pool.clone() }
    }
}

fn store(e: sqlx::Error) -> CommandError {
    CommandError::Store(format!("sign-in failures: {e}"))
}

#[async_trait]
impl SignInFailures for CountedSignInFailures {
    async fn counted(
        &self,
        tenant: TenantId,
        account: MemberId,
    ) -> Result<(Option<Failures>, Option<Failures>), CommandError> {
        let rows: Vec<(String, i32, DateTime<Utc>)> = sqlx::query_as(
            "SELECT kind, failures, since FROM sign_in_failures
              WHERE (kind = 'account' AND id = $1) OR (kind = 'tenant' AND id = $2)",
        )
        .bind(account.as_uuid())
        .bind(tenant.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(store)?;
        let of = |kind: &str| {
            rows.iter()
                .find(|(k, _, _)| k == kind)
                .map(|(_, count, since)| Failures {
                    count: u32::try_from(*count).unwrap_or(0),
                    since: *since,
                })
        };
        Ok((of("account"), of("tenant")))
    }

    async fn failed(
        &self,
        tenant: TenantId,
        account: MemberId,
        window: Duration,
    ) -> Result<(), CommandError> {
        // One statement for both counts: a window that has passed starts again at one, and
        // counts whose window has passed go (guessed addresses would pile up otherwise).
        sqlx::query(
            "WITH old AS (DELETE FROM sign_in_failures
                           WHERE since <= now() - make_interval(secs => $3)
                             AND NOT (kind = 'account' AND id = $1)
                             AND NOT (kind = 'tenant' AND id = $2))
             INSERT INTO sign_in_failures AS f (kind, id, failures, since)
             VALUES ('account', $1, 1, now()), ('tenant', $2, 1, now())
             ON CONFLICT (kind, id) DO UPDATE SET
               failures = CASE WHEN f.since > now() - make_interval(secs => $3)
                               THEN f.failures + 1 ELSE 1 END,
               since    = CASE WHEN f.since > now() - make_interval(secs => $3)
                               THEN f.since ELSE now() END",
        )
        .bind(account.as_uuid())
        .bind(tenant.as_uuid())
        .bind(window.as_secs_f64())
        .execute(&self.pool)
        .await
        .map_err(store)?;
        Ok(())
    }

    async fn forget(&self, account: MemberId) -> Result<(), CommandError> {
        sqlx::query("DELETE FROM sign_in_failures WHERE kind = 'account' AND id = $1")
            .bind(account.as_uuid())
            .execute(&self.pool)
            .await
            .map_err(store)?;
        Ok(())
    }
}
