//! One-click unsubscribe tokens: `mgu.<tenant>.<member>.<KIND>.<HMAC-SHA256 of the three>`,
//! keyed like job tokens by a service key kept in the database (table `service_keys`, name
//! `unsubscribe-tokens`): every process mints and checks the same tokens, nothing per
//! token is stored, and a link in a mail sent months ago still works. Rotating the key
//! (deleting its row) voids every link at once.

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use medgrid_domain::CommandError;
use medgrid_domain::ids::{MemberId, TenantId};
use medgrid_domain::notify::NotificationKind;
use medgrid_domain::ports::UnsubscribeTokens;
use sha2::Sha256;
use sqlx::PgPool;

use crate::service_keys::ServiceKey;

const PREFIX: &str = "mgu";

pub struct SignedUnsubscribeTokens {
    key: ServiceKey,
}

impl SignedUnsubscribeTokens {
    pub fn new(pool: &PgPool) -> Self {
        Self {
            key: ServiceKey::new(pool, "unsubscribe-tokens"),
        }
    }
}

fn mac(key: &[u8], tenant: TenantId, member: MemberId, kind: NotificationKind) -> Hmac<Sha256> {
    // HMAC takes a key of any length: this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(format!("unsubscribe\n{tenant}\n{member}\n{kind}").as_bytes());
    mac
}

#[async_trait]
impl UnsubscribeTokens for SignedUnsubscribeTokens {
    async fn mint(
        &self,
        tenant: TenantId,
        member: MemberId,
        kind: NotificationKind,
    ) -> Result<String, CommandError> {
        let key = self
            .key
            .get()
            .await
            .map_err(|e| CommandError::Store(format!("service key: {e}")))?;
        let tag = mac(key, tenant, member, kind).finalize().into_bytes();
        Ok(format!(
            "{PREFIX}.{tenant}.{member}.{kind}.{}",
            URL_SAFE_NO_PAD.encode(tag)
        ))
    }

    async fn verify(&self, token: &str) -> Option<(TenantId, MemberId, NotificationKind)> {
        let mut parts = token.split('.');
        if parts.next()? != PREFIX {
            return None;
        }
        let tenant: TenantId = parts.next()?.parse().ok()?;
        let member: MemberId = parts.next()?.parse().ok()?;
        let kind: NotificationKind = parts.next()?.parse().ok()?;
        let tag = URL_SAFE_NO_PAD.decode(parts.next()?).ok()?;
        if parts.next().is_some() {
            return None;
        }
        let key = self.key.get().await.ok()?;
        // constant-time comparison
        mac(key, tenant, member, kind).verify_slice(&tag).ok()?;
        Some((tenant, member, kind))
    }
}
