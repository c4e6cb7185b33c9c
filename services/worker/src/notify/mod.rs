//! Mail about what happens. Two processors:
//! - the **notifier** ([`Notifier`], fed by the projection runner) turns job, ticket and
//!   space events into notifications, each as its member chose (immediate, a digest,
//!   nothing);
//! - the **mailer** ([`Mailer`], leased rounds) gathers them into mails in the durable
//!   outbox, looks for nearly full quotas, and sends what is due through the configured
//!   transport (SMTP, or an outbox directory for the embedded default).

mod compose;
pub mod links;
mod notices;
mod outbox;
mod quota;
pub mod render;

use std::sync::Arc;
use std::time::{Duration, Instant};

use medgrid_domain::ports::UnsubscribeTokens;
use medgrid_infra::mail::MailTransport;
use medgrid_projections::runner::ProjectionError;
use sqlx::PgPool;
use tokio::sync::{Mutex, watch};

pub use notices::{Notice, Notifier, record};

/// How the mailer gathers and sends.
#[derive(Debug, Clone)]
pub struct MailerConfig {
    /// The From of every mail, e.g. `Medgrid <medgrid@example.org>`.
    pub from: String,
    /// Where browsers reach the portal; links in mails start with it.
    pub public_url: String,
    /// An immediate mail waits this long after the first thing it tells, for more to join.
    pub delay: Duration,
    /// At most one immediate mail per member per window.
    pub window: Duration,
    /// The longest pause between two tries of a mail the server did not take.
    pub retry_max: Duration,
    /// Digests, quotas and old mails are looked at this often.
    pub scan_every: Duration,
    /// Sent mails are kept (for support questions) this long.
    pub retention: Duration,
    /// Rounds at least this often.
    pub every: Duration,
}

impl MailerConfig {
    /// The domain of Message-IDs: the portal's host.
    fn mail_host(&self) -> String {
        self.public_url
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split(['/', ':']).next())
            .filter(|h| !h.is_empty())
            .unwrap_or("medgrid.local")
            .to_owned()
    }
}

pub struct Mailer {
    pool: PgPool,
    transport: Arc<dyn MailTransport>,
    tokens: Arc<dyn UnsubscribeTokens>,
    config: MailerConfig,
    last_scan: Mutex<Option<Instant>>,
}

impl Mailer {
    pub fn new(
        pool: PgPool,
        transport: Arc<dyn MailTransport>,
        tokens: Arc<dyn UnsubscribeTokens>,
        config: MailerConfig,
    ) -> Self {
        Self {
            pool,
            transport,
            tokens,
            config,
            last_scan: Mutex::new(None),
        }
    }

    /// An absolute link into the portal.
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.public_url.trim_end_matches('/'))
    }

    /// Writes the mails that are due and sends what the outbox holds; how much it did.
    pub async fn round(&self) -> Result<usize, ProjectionError> {
        let mut done = self.compose_immediate().await?;
        if self.scan_due().await {
            done += quota::warn(&self.pool).await?;
            done += self.compose_digests().await?;
            let purged = self.purge().await?;
            if purged > 0 {
                tracing::info!(purged, "old mails forgotten");
            }
        }
        done += self.send_due().await?;
        Ok(done)
    }

    async fn scan_due(&self) -> bool {
        let mut last = self.last_scan.lock().await;
        let due = last.is_none_or(|at| at.elapsed() >= self.config.scan_every);
        if due {
            *last = Some(Instant::now());
        }
        due
    }

    /// Runs rounds while this process holds the mailer lease, until `shutdown`.
    pub async fn run(self: Arc<Self>, shutdown: watch::Receiver<bool>) {
        tracing::info!(transport = %self.transport.describe(), "mailer ready");
        let every = self.config.every;
        // woken by nothing in particular: what it waits for is time passing
        crate::rounds::run(&self.pool, "mailer", &[], every, shutdown, || self.round()).await;
    }
}
