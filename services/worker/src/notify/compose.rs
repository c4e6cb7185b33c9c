//! Notifications waiting → mails in the outbox. Immediate ones go once the first of them
//! has waited `delay` (more may join it: a run of a thousand jobs ending together is one
//! mail) and at most one per member per `window`; digests at the member's digest time
//! after the oldest waiting. A mail and the notifications it tells are written in one
//! transaction: each notification is in exactly one mail.

use chrono::{DateTime, Utc};
use medgrid_domain::ids::{MemberId, TenantId};
use medgrid_domain::notify::{Delivery, Effective, NotificationKind, next_digest};
use medgrid_projections::notifications::effective_on;
use medgrid_projections::runner::ProjectionError;
use sqlx::PgConnection;
use uuid::Uuid;

use super::outbox::{self, Queued};
use super::render::{self, Line, Notifications};
use super::{Mailer, links};

#[derive(sqlx::FromRow)]
struct Waiting {
    id: Uuid,
    kind: String,
    title: String,
    detail: String,
    link: String,
    happened_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
pub struct Recipient {
    pub email: String,
    pub name: String,
    pub disabled: bool,
}

pub async fn recipient(
    db: &mut PgConnection,
    member: Uuid,
) -> Result<Option<Recipient>, sqlx::Error> {
    sqlx::query_as("SELECT email, name, disabled FROM members WHERE id = $1")
        .bind(member)
        .fetch_optional(db)
        .await
}

/// Members whose immediate mail is due.
const IMMEDIATE_DUE: &str = "
SELECT n.tenant_id, n.member_id FROM notifications n
 WHERE n.mail_id IS NULL AND n.delivery = 'IMMEDIATE'
 GROUP BY n.tenant_id, n.member_id
HAVING min(n.noticed_at) <= now() - make_interval(secs => $1)
   AND NOT EXISTS (SELECT 1 FROM mail_outbox m
                    WHERE m.member_id = n.member_id AND m.purpose = 'IMMEDIATE'
                      AND m.created_at > now() - make_interval(secs => $2))
 LIMIT 200";

/// Members with something waiting for a digest, and since when.
const DIGEST_WAITING: &str = "
SELECT tenant_id, member_id, min(noticed_at) FROM notifications
 WHERE mail_id IS NULL AND delivery = $1
 GROUP BY tenant_id, member_id";

/// The latest digest time that has come since `oldest` was noticed: the digest covering
/// everything noticed before it is due. None while the first has not come.
fn last_digest_time(
    delivery: Delivery,
    settings: &Effective,
    oldest: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let mut reached = None;
    let mut after = oldest;
    while let Some(next) = next_digest(delivery, settings, after) {
        if next > now {
            break;
        }
        reached = Some(next);
        after = next;
    }
    reached
}

impl Mailer {
    /// Writes the immediate mails that are due; how many.
    pub(super) async fn compose_immediate(&self) -> Result<usize, ProjectionError> {
        let due: Vec<(Uuid, Uuid)> = sqlx::query_as(IMMEDIATE_DUE)
            .bind(self.config.delay.as_secs_f64())
            .bind(self.config.window.as_secs_f64())
            .fetch_all(&self.pool)
            .await?;
        for (tenant, member) in &due {
            self.compose(*tenant, *member, Delivery::Immediate, None)
                .await?;
        }
        Ok(due.len())
    }

    /// Writes the digests that are due; how many.
    pub(super) async fn compose_digests(&self) -> Result<usize, ProjectionError> {
        let mut written = 0;
        for delivery in [Delivery::DailyDigest, Delivery::WeeklyDigest] {
            let waiting: Vec<(Uuid, Uuid, DateTime<Utc>)> = sqlx::query_as(DIGEST_WAITING)
                .bind(delivery.as_str())
                .fetch_all(&self.pool)
                .await?;
            for (tenant, member, oldest) in waiting {
                let mut db = self.pool.acquire().await?;
                let settings = effective_on(&mut db, tenant, member).await?;
                drop(db);
                if let Some(cutoff) = last_digest_time(delivery, &settings, oldest, Utc::now()) {
                    self.compose(tenant, member, delivery, Some(cutoff)).await?;
                    written += 1;
                }
            }
        }
        Ok(written)
    }

    /// One mail with everything of `delivery` waiting for `member` (noticed before
    /// `before`, for a digest: what came after waits for the next one).
    async fn compose(
        &self,
        tenant: Uuid,
        member: Uuid,
        delivery: Delivery,
        before: Option<DateTime<Utc>>,
    ) -> Result<(), ProjectionError> {
        let mut tx = self.pool.begin().await?;
        let waiting: Vec<Waiting> = sqlx::query_as(
            "SELECT id, kind, title, detail, link, happened_at FROM notifications
              WHERE member_id = $1 AND delivery = $2 AND mail_id IS NULL
                AND ($3::timestamptz IS NULL OR noticed_at < $3)
              ORDER BY happened_at, id
              FOR UPDATE",
        )
        .bind(member)
        .bind(delivery.as_str())
        .bind(before)
        .fetch_all(&mut *tx)
        .await?;
        if waiting.is_empty() {
            return Ok(());
        }
        let Some(to) = recipient(&mut tx, member).await? else {
            tracing::warn!(%member, "notifications for an unknown member dropped");
            return Ok(());
        };
        let settings = effective_on(&mut tx, tenant, member).await?;
        let tz = settings.time_zone.0.tz();
        let lines: Vec<Line> = waiting
            .iter()
            .filter_map(|w| {
                Some(Line {
                    kind: w.kind.parse::<NotificationKind>().ok()?,
                    title: w.title.clone(),
                    detail: w.detail.clone(),
                    url: self.url(&w.link),
                    at: w
                        .happened_at
                        .with_timezone(&tz)
                        .format("%Y-%m-%d %H:%M %Z")
                        .to_string(),
                })
            })
            .collect();
        let mut tokens = Vec::new();
        for kind in NotificationKind::ALL
            .into_iter()
            .filter(|k| lines.iter().any(|l| l.kind == *k))
        {
            let token = self
                .tokens
                .mint(
                    TenantId::from_uuid(tenant),
                    MemberId::from_uuid(member),
                    kind,
                )
                .await
                .map_err(|e| ProjectionError::Apply(format!("unsubscribe token: {e}")))?;
            tokens.push((kind, token));
        }
        let unsubscribe = |kind: NotificationKind| {
            let token = tokens
                .iter()
                .find(|(k, _)| *k == kind)
                .map_or("", |(_, t)| t.as_str());
            self.url(&format!("/notifications/unsubscribe?token={token}"))
        };
        let sections = render::sections(lines, &self.url("/jobs"), unsubscribe);
        let period = before
            .unwrap_or_else(Utc::now)
            .with_timezone(&tz)
            .format("%A %-d %B %Y, %H:%M %Z")
            .to_string();
        let content = Notifications {
            delivery,
            name: &to.name,
            period: &period,
            sections: &sections,
            settings_url: &self.url(&links::preferences()),
        }
        .render()
        .map_err(|e| ProjectionError::Apply(format!("mail template: {e}")))?;
        let mail = Uuid::now_v7();
        outbox::enqueue(
            &mut tx,
            &Queued {
                id: mail,
                tenant,
                member,
                purpose: delivery.as_str(),
                to_address: &to.email,
                to_name: &to.name,
                content: &content,
                suppressed: to.disabled.then_some("the member is disabled"),
            },
        )
        .await?;
        let ids: Vec<Uuid> = waiting.iter().map(|w| w.id).collect();
        sqlx::query("UPDATE notifications SET mail_id = $1 WHERE id = ANY($2)")
            .bind(mail)
            .bind(&ids)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
