//! Secrets the service reads back, sealed with AES-256-GCM under a service key (table
//! `provider_secrets`); the owner's id is the associated data, so a sealed value moved to
//! another owner does not open.

use async_trait::async_trait;
use medgrid_domain::CommandError;
use medgrid_domain::ids::TenantId;
use medgrid_domain::ports::SecretStore;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

use crate::service_keys::ServiceKey;

pub struct SealedSecrets {
    pool: PgPool,
    key: ServiceKey,
}

fn failed(what: &str) -> impl Fn(String) -> CommandError + '_ {
    move |e| CommandError::Store(format!("{what}: {e}"))
}

impl SealedSecrets {
    pub fn new(pool: &PgPool) -> Self {
        Self {
            pool: pool.clone(),
            key: ServiceKey::new(pool, "provider-secrets"),
        }
    }

    async fn cipher(&self) -> Result<LessSafeKey, CommandError> {
        let bytes = self
            .key
            .get()
            .await
            .map_err(|e| failed("service key")(e.to_string()))?;
        let key = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| failed("service key")("not 32 bytes".into()))?;
        Ok(LessSafeKey::new(key))
    }
}

/// What events record of a secret: enough to tell two apart, nothing to recover it.
pub fn fingerprint(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    format!("sha256:{}", &hex::encode(digest)[..16])
}

#[async_trait]
impl SecretStore for SealedSecrets {
    async fn put(
        &self,
        tenant: TenantId,
        owner: Uuid,
        secret: &str,
    ) -> Result<String, CommandError> {
        let cipher = self.cipher().await?;
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| failed("random")("no randomness".into()))?;
        let mut sealed = secret.as_bytes().to_vec();
        cipher
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(owner.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| failed("sealing")("failed".into()))?;
        sqlx::query(
            "INSERT INTO provider_secrets (owner, tenant_id, nonce, sealed) VALUES ($1, $2, $3, $4)
             ON CONFLICT (owner) DO UPDATE SET nonce = $3, sealed = $4, updated_at = now()",
        )
        .bind(owner)
        .bind(tenant.as_uuid())
        .bind(nonce.as_slice())
        .bind(&sealed)
        .execute(&self.pool)
        .await
        .map_err(|e| failed("storing a secret")(e.to_string()))?;
        Ok(fingerprint(secret))
    }

    async fn get(&self, owner: Uuid) -> Result<Option<String>, CommandError> {
        let row: Option<(Vec<u8>, Vec<u8>)> =
            sqlx::query_as("SELECT nonce, sealed FROM provider_secrets WHERE owner = $1")
                .bind(owner)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| failed("reading a secret")(e.to_string()))?;
        let Some((nonce, mut sealed)) = row else {
            return Ok(None);
        };
        let nonce = Nonce::try_assume_unique_for_key(&nonce)
            .map_err(|_| failed("opening a secret")("bad nonce".into()))?;
        let cipher = self.cipher().await?;
        let plain = cipher
            .open_in_place(nonce, Aad::from(owner.as_bytes()), &mut sealed)
            .map_err(|_| failed("opening a secret")("does not open".into()))?;
        String::from_utf8(plain.to_vec())
            .map(Some)
            .map_err(|e| failed("opening a secret")(e.to_string()))
    }

    async fn remove(&self, owner: Uuid) -> Result<(), CommandError> {
        sqlx::query("DELETE FROM provider_secrets WHERE owner = $1")
            .bind(owner)
            .execute(&self.pool)
            .await
            .map_err(|e| failed("removing a secret")(e.to_string()))?;
        Ok(())
    }
}
