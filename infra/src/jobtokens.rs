//! Job-scoped tokens: `mgj_<job>_<attempt>_<HMAC-SHA256 of both>`, keyed by a service key
//! kept in the database (table `service_keys`), so every process mints and checks the
//! same tokens and a restarted dispatcher gives a resubmitted attempt the same one.
//! Whether the attempt still runs is checked where the token is used.

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use medgrid_domain::CommandError;
use medgrid_domain::ids::JobId;
use medgrid_domain::ports::{JOB_TOKEN_PREFIX, JobTokens};
use sha2::Sha256;
use sqlx::PgPool;

use crate::service_keys::ServiceKey;

pub struct SignedJobTokens {
    key: ServiceKey,
}

impl SignedJobTokens {
    pub fn new(pool: &PgPool) -> Self {
        Self {
            key: ServiceKey::new(pool, "job-tokens"),
        }
    }

    async fn key(&self) -> Result<&[u8], sqlx::Error> {
        self.key.get().await
    }
}

fn mac(key: &[u8], job: JobId, attempt: u32) -> Hmac<Sha256> {
    // HMAC takes a key of any length: this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(format!("job-token\n{job}\n{attempt}").as_bytes());
    mac
}

#[async_trait]
impl JobTokens for SignedJobTokens {
    async fn mint(&self, job: JobId, attempt: u32) -> Result<String, CommandError> {
        let key = self
            .key()
            .await
            .map_err(|e| CommandError::Store(format!("service key: {e}")))?;
        let tag = mac(key, job, attempt).finalize().into_bytes();
        Ok(format!(
            "{JOB_TOKEN_PREFIX}{job}_{attempt}_{}",
            URL_SAFE_NO_PAD.encode(tag)
        ))
    }

    async fn verify(&self, token: &str) -> Option<(JobId, u32)> {
        let rest = token.strip_prefix(JOB_TOKEN_PREFIX)?;
        let mut parts = rest.splitn(3, '_');
        let job: JobId = parts.next()?.parse().ok()?;
        let attempt: u32 = parts.next()?.parse().ok()?;
        let tag = URL_SAFE_NO_PAD.decode(parts.next()?).ok()?;
        let key = self.key().await.ok()?;
        // constant-time comparison
        mac(key, job, attempt).verify_slice(&tag).ok()?;
        Some((job, attempt))
    }
}
