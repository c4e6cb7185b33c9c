//! The outbox: mails are written here first, then sent. An SMTP outage (or a worker
//! restart) only delays them: a mail stays PENDING until the server took it, tried again
//! after a growing pause. A mail the server refuses for good (5xx) is UNDELIVERABLE; its
//! address is not mailed again and the tenant's administrators are told. Nothing is
//! duplicated but in one case no outbox avoids: the server took the mail and the process
//! died before writing SENT. The Message-ID stays the same on every try, so receivers can
//! drop that duplicate.

use std::time::Duration;

use medgrid_infra::mail::{OutgoingMail, SendError};
use medgrid_projections::runner::ProjectionError;
use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;

use super::Mailer;
use super::compose::recipient;
use super::notices::tenant_admins;
use super::render::{Composed, Undeliverable};

/// A mail to write into the outbox.
pub struct Queued<'a> {
    pub id: Uuid,
    pub tenant: Uuid,
    pub member: Uuid,
    /// IMMEDIATE, DAILY_DIGEST, WEEKLY_DIGEST or UNDELIVERABLE_REPORT.
    pub purpose: &'a str,
    pub to_address: &'a str,
    pub to_name: &'a str,
    pub content: &'a Composed,
    /// Written but never to be sent, and why.
    pub suppressed: Option<&'a str>,
}

pub async fn enqueue(db: &mut PgConnection, mail: &Queued<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO mail_outbox
                (id, tenant_id, member_id, purpose, to_address, to_name, subject, text_body,
                 html_body, headers, status, last_error)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,
                 CASE WHEN $11::text IS NULL THEN 'PENDING' ELSE 'SUPPRESSED' END, $11)",
    )
    .bind(mail.id)
    .bind(mail.tenant)
    .bind(mail.member)
    .bind(mail.purpose)
    .bind(mail.to_address)
    .bind(mail.to_name)
    .bind(&mail.content.subject)
    .bind(&mail.content.text)
    .bind(&mail.content.html)
    .bind(Json(&mail.content.headers))
    .bind(mail.suppressed)
    .execute(db)
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct Pending {
    id: Uuid,
    tenant_id: Uuid,
    member_id: Uuid,
    purpose: String,
    to_address: String,
    to_name: Option<String>,
    subject: String,
    text_body: String,
    html_body: String,
    headers: Json<Vec<(String, String)>>,
    attempts: i32,
}

/// Mails sent per round at most.
const BATCH: i64 = 50;

/// The pause before try `attempts + 1`: 5 s, doubling, at most `max`.
fn backoff(attempts: i32, max: Duration) -> Duration {
    let doublings = u32::try_from(attempts.clamp(1, 20) - 1).unwrap_or(0);
    Duration::from_secs(5)
        .saturating_mul(2u32.saturating_pow(doublings))
        .min(max)
}

impl Mailer {
    /// Sends the mails that are due; how many went out (or were settled for good).
    pub(super) async fn send_due(&self) -> Result<usize, ProjectionError> {
        let due: Vec<Pending> = sqlx::query_as(
            "SELECT id, tenant_id, member_id, purpose, to_address, to_name, subject, text_body,
                    html_body, headers, attempts
               FROM mail_outbox
              WHERE status = 'PENDING' AND next_attempt_at <= now()
              ORDER BY next_attempt_at, id
              LIMIT $1",
        )
        .bind(BATCH)
        .fetch_all(&self.pool)
        .await?;
        let mut settled = 0;
        for mail in due {
            if let Some(reason) = self.refused_before(&mail).await? {
                self.settle(mail.id, "SUPPRESSED", Some(&reason)).await?;
                settled += 1;
                continue;
            }
            match self.transport.send(&self.outgoing(&mail)).await {
                Ok(()) => {
                    self.settle(mail.id, "SENT", None).await?;
                    settled += 1;
                }
                Err(SendError::Transient(why)) => {
                    self.later(&mail, &why).await?;
                    // the server is likely down for the others too: next round
                    break;
                }
                Err(SendError::Permanent(why)) => {
                    self.undeliverable(&mail, &why).await?;
                    settled += 1;
                }
                Err(SendError::Invalid(why)) => {
                    tracing::error!(mail = %mail.id, error = %why, "a mail could not be built");
                    self.settle(mail.id, "UNDELIVERABLE", Some(&why)).await?;
                    settled += 1;
                }
            }
        }
        Ok(settled)
    }

    fn outgoing(&self, mail: &Pending) -> OutgoingMail {
        OutgoingMail {
            message_id: format!("{}@{}", mail.id, self.config.mail_host()),
            from: self.config.from.clone(),
            to: mail.to_address.clone(),
            to_name: mail.to_name.clone(),
            subject: mail.subject.clone(),
            text: mail.text_body.clone(),
            html: mail.html_body.clone(),
            headers: mail.headers.0.clone(),
        }
    }

    /// Why not to try at all: the address refused mail before.
    async fn refused_before(&self, mail: &Pending) -> Result<Option<String>, sqlx::Error> {
        let reason: Option<String> = sqlx::query_scalar(
            "SELECT reason FROM mail_undeliverable WHERE tenant_id = $1 AND address = lower($2)",
        )
        .bind(mail.tenant_id)
        .bind(&mail.to_address)
        .fetch_optional(&self.pool)
        .await?;
        Ok(reason.map(|r| format!("the address refused mail before: {r}")))
    }

    async fn settle(&self, id: Uuid, status: &str, error: Option<&str>) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE mail_outbox
                SET status = $2, last_error = coalesce($3, last_error),
                    attempts = attempts + CASE WHEN $2 = 'SUPPRESSED' THEN 0 ELSE 1 END,
                    sent_at = CASE WHEN $2 = 'SENT' THEN now() END
              WHERE id = $1",
        )
        .bind(id)
        .bind(status)
        .bind(error)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn later(&self, mail: &Pending, why: &str) -> Result<(), sqlx::Error> {
        let attempts = mail.attempts.saturating_add(1);
        let pause = backoff(attempts, self.config.retry_max);
        tracing::warn!(mail = %mail.id, attempts, retry_in_s = pause.as_secs(), error = %why, "mail not sent yet");
        sqlx::query(
            "UPDATE mail_outbox
                SET attempts = $2, last_error = $3,
                    next_attempt_at = now() + make_interval(secs => $4)
              WHERE id = $1",
        )
        .bind(mail.id)
        .bind(attempts)
        .bind(why)
        .bind(pause.as_secs_f64())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Refused for good: the mail is settled, the address marked, and — unless this was
    /// such a report already — the tenant's administrators are told.
    async fn undeliverable(&self, mail: &Pending, why: &str) -> Result<(), ProjectionError> {
        tracing::warn!(mail = %mail.id, error = %why, "mail refused for good; address marked undeliverable");
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE mail_outbox SET status = 'UNDELIVERABLE', last_error = $2, attempts = attempts + 1
              WHERE id = $1",
        )
        .bind(mail.id)
        .bind(why)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO mail_undeliverable (tenant_id, address, member_id, reason)
             VALUES ($1, lower($2), $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(mail.tenant_id)
        .bind(&mail.to_address)
        .bind(mail.member_id)
        .bind(why)
        .execute(&mut *tx)
        .await?;
        if mail.purpose != "UNDELIVERABLE_REPORT" {
            self.report(&mut tx, mail, why).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn report(
        &self,
        tx: &mut PgConnection,
        mail: &Pending,
        why: &str,
    ) -> Result<(), ProjectionError> {
        let member = recipient(&mut *tx, mail.member_id)
            .await?
            .map_or_else(|| mail.to_address.clone(), |r| r.name);
        for admin in tenant_admins(&mut *tx, mail.tenant_id).await? {
            let Some(to) = recipient(&mut *tx, admin).await? else {
                continue;
            };
            let content = Undeliverable {
                name: &to.name,
                member: &member,
                address: &mail.to_address,
                reason: why,
                members_url: &self.url("/admin/members"),
            }
            .render()
            .map_err(|e| ProjectionError::Apply(format!("mail template: {e}")))?;
            enqueue(
                &mut *tx,
                &Queued {
                    id: Uuid::now_v7(),
                    tenant: mail.tenant_id,
                    member: admin,
                    purpose: "UNDELIVERABLE_REPORT",
                    to_address: &to.email,
                    to_name: &to.name,
                    content: &content,
                    suppressed: None,
                },
            )
            .await?;
        }
        Ok(())
    }

    /// Forgets mails settled longer ago than the retention, with their notifications.
    pub(super) async fn purge(&self) -> Result<u64, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let old = "SELECT id FROM mail_outbox
                    WHERE status <> 'PENDING' AND created_at < now() - make_interval(secs => $1)";
        let secs = self.config.retention.as_secs_f64();
        sqlx::query(&format!(
            "DELETE FROM notifications WHERE mail_id IN ({old})"
        ))
        .bind(secs)
        .execute(&mut *tx)
        .await?;
        let gone = sqlx::query(&format!("DELETE FROM mail_outbox WHERE id IN ({old})"))
            .bind(secs)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(gone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_up_to_the_limit() {
        let max = Duration::from_secs(600);
        assert_eq!(backoff(1, max), Duration::from_secs(5));
        assert_eq!(backoff(2, max), Duration::from_secs(10));
        assert_eq!(backoff(5, max), Duration::from_secs(80));
        assert_eq!(backoff(30, max), max);
        assert_eq!(backoff(3, Duration::from_secs(1)), Duration::from_secs(1));
    }
}
