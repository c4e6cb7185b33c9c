//! "Quota nearly full": a state, not an event. Spaces (and tenants) at 90 % of their quota
//! or more are looked for now and then; whoever answers for one — a home's owner, a group
//! space's managers, a tenant's administrators — hears of it once, until usage falls below
//! 80 % again (then the warning is forgotten, and the next crossing tells them again).

use chrono::Utc;
use medgrid_domain::notify::NotificationKind;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::links;
use super::notices::{Notice, record, tenant_admins};

#[derive(sqlx::FromRow)]
struct Full {
    /// A space's id, or a tenant's for the tenant's quota.
    id: Uuid,
    tenant_id: Uuid,
    /// MEMBER, GROUP or TENANT.
    owner_kind: String,
    owner_id: Uuid,
    quota: i64,
    used: i64,
}

/// Spaces and tenants at or over 90 % of their quota, not warned about yet.
const NEARLY_FULL: &str = "
SELECT s.id, s.tenant_id, s.owner_kind, s.owner_id, s.quota, s.used
  FROM spaces s
 WHERE s.quota > 0 AND s.used * 10 >= s.quota * 9
   AND NOT EXISTS (SELECT 1 FROM quota_warnings w WHERE w.subject_id = s.id)
UNION ALL
SELECT t.id, t.id, 'TENANT', t.id, t.storage_quota, u.used
  FROM tenants t
  JOIN LATERAL (SELECT coalesce(sum(used), 0)::bigint AS used FROM spaces WHERE tenant_id = t.id) u ON true
 WHERE t.storage_quota > 0 AND u.used * 10 >= t.storage_quota * 9
   AND NOT EXISTS (SELECT 1 FROM quota_warnings w WHERE w.subject_id = t.id)
 LIMIT 100";

/// Warnings of spaces and tenants back under 80 % (or without a quota any more).
const RELIEVED: &str = "
DELETE FROM quota_warnings w
 WHERE NOT EXISTS (SELECT 1 FROM spaces s
                    WHERE s.id = w.subject_id AND s.quota > 0 AND s.used * 10 >= s.quota * 8)
   AND NOT EXISTS (SELECT 1 FROM tenants t
                    WHERE t.id = w.subject_id AND t.storage_quota > 0
                      AND (SELECT coalesce(sum(used), 0) FROM spaces WHERE tenant_id = t.id) * 10
                          >= t.storage_quota * 8)";

/// Looks for quotas nearly used up; how many members were told.
pub async fn warn(pool: &PgPool) -> Result<usize, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query(RELIEVED).execute(&mut *tx).await?;
    let full: Vec<Full> = sqlx::query_as(NEARLY_FULL).fetch_all(&mut *tx).await?;
    let mut told = 0;
    for subject in full {
        for notice in notices(&mut tx, &subject).await? {
            told += usize::from(record(&mut tx, &notice).await?);
        }
        sqlx::query("INSERT INTO quota_warnings (subject_id, tenant_id) VALUES ($1, $2)")
            .bind(subject.id)
            .bind(subject.tenant_id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(told)
}

fn gib(bytes: i64) -> String {
    // a figure to read: precision loss is harmless
    let g = bytes as f64 / f64::from(1u32 << 30);
    format!("{g:.1} GiB")
}

async fn notices(db: &mut PgConnection, full: &Full) -> Result<Vec<Notice>, sqlx::Error> {
    let (to, what, link) = match full.owner_kind.as_str() {
        "MEMBER" => (vec![full.owner_id], "Your home".to_owned(), "/home"),
        "GROUP" => {
            let managers: Vec<Uuid> = sqlx::query_scalar(
                "SELECT member_id FROM group_members WHERE group_id = $1 AND role = 'MANAGER'",
            )
            .bind(full.owner_id)
            .fetch_all(&mut *db)
            .await?;
            let name: Option<String> = sqlx::query_scalar("SELECT name FROM groups WHERE id = $1")
                .bind(full.owner_id)
                .fetch_optional(&mut *db)
                .await?;
            let name = name.unwrap_or_default();
            (managers, format!("The space of group {name}"), "/groups")
        }
        _ => (
            tenant_admins(db, full.tenant_id).await?,
            "Your institution's storage".to_owned(),
            "/home",
        ),
    };
    let percent = full.used.saturating_mul(100) / full.quota.max(1);
    Ok(to
        .into_iter()
        .map(|member| Notice {
            tenant: full.tenant_id,
            member,
            kind: NotificationKind::QuotaNearlyFull,
            key: format!("{}:{}", full.id, Utc::now().timestamp()),
            title: format!("{what} is {percent} % full"),
            detail: format!(
                "{} of {} used. Uploads and imports stop when it is full; job outputs are \
                 still kept. Delete or empty the trash to make room, or ask your administrator.",
                gib(full.used),
                gib(full.quota)
            ),
            link: links::folder(link),
            happened_at: Utc::now(),
        })
        .collect())
}
