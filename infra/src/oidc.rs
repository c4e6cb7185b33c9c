//! Bearer JWTs of OpenID Connect providers, verified against their published keys.
//!
//! Keys are found by discovery (`<issuer>/.well-known/openid-configuration` → `jwks_uri`)
//! and cached per issuer: refreshed after `ttl`, and refetched when a token names a key
//! the cache does not hold (a rotation), at most once per `refetch_interval` per issuer so
//! that tokens with made-up key ids cannot make Medgrid hammer a provider.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use medgrid_domain::ports::{IdentityTokens, TokenRejected};
use medgrid_domain::tenancy::IssuerUrl;
use serde_json::Value;

use crate::outbound::{Guard, SendError};

/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECONDS: u64 = 30;
/// Largest discovery document or key set read.
const MAX_DOCUMENT_BYTES: usize = 512 * 1024;

/// Asymmetric algorithms only: `none` does not parse, and an HMAC "signed" with a public
/// key (the classic key-confusion attack) is refused before any key is looked at.
const ACCEPTED: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// How keys are cached.
#[derive(Debug, Clone, Copy)]
pub struct KeyPolicy {
    pub ttl: Duration,
    pub refetch_interval: Duration,
}

/// How long one fetch of a discovery document or key set may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// The cache of each issuer's keys, and the verifier that uses it.
pub struct ProviderKeys {
    /// Every fetch goes through it: the addresses checked and pinned, no redirect, no proxy.
    guard: Guard,
    policy: KeyPolicy,
    slots: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Slot>>>>,
}

#[derive(Default)]
struct Slot {
    keys: Option<Arc<JwkSet>>,
    fetched_at: Option<Instant>,
    tried_at: Option<Instant>,
}

impl ProviderKeys {
    /// `guard` with the reach the operator gives identity providers
    /// (`MEDGRID_OIDC_ALLOW_LOOPBACK`, `MEDGRID_OIDC_ALLOW_PRIVATE`).
    pub fn new(policy: KeyPolicy, guard: Guard) -> Self {
        Self {
            guard,
            policy,
            slots: Mutex::new(HashMap::new()),
        }
    }

    fn slot(&self, issuer: &str) -> Arc<tokio::sync::Mutex<Slot>> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.entry(issuer.to_owned()).or_default().clone()
    }

    /// The issuer's keys, holding `kid` if the provider publishes it.
    async fn keys(&self, issuer: &IssuerUrl, kid: &str) -> Result<Arc<JwkSet>, TokenRejected> {
        let slot = self.slot(issuer.as_ref());
        let mut slot = slot.lock().await;
        let stale = slot
            .fetched_at
            .is_none_or(|at| at.elapsed() > self.policy.ttl);
        let unknown = slot
            .keys
            .as_ref()
            .is_some_and(|keys| keys.find(kid).is_none());
        let may_try = slot
            .tried_at
            .is_none_or(|at| at.elapsed() >= self.policy.refetch_interval);
        if (stale || unknown) && may_try {
            slot.tried_at = Some(Instant::now());
            match self.fetch(issuer).await {
                Ok(keys) => {
                    slot.keys = Some(Arc::new(keys));
                    slot.fetched_at = Some(Instant::now());
                }
                // Known keys stay usable while the provider is away.
                Err(e) if slot.keys.is_some() => {
                    tracing::warn!(issuer = %issuer, error = %e, "refreshing a provider's keys failed");
                }
                Err(e) => return Err(e),
            }
        }
        slot.keys
            .clone()
            .ok_or_else(|| TokenRejected::Unreachable("no keys fetched yet".into()))
    }

    async fn fetch(&self, issuer: &IssuerUrl) -> Result<JwkSet, TokenRejected> {
        let unreachable = |e: String| TokenRejected::Unreachable(e);
        let discovery: Value = self.get_json(&issuer.discovery_url()).await?;
        // OpenID Connect Discovery §4.3: the document must name the issuer it was asked for.
        if discovery.get("issuer").and_then(Value::as_str) != Some(issuer.as_ref()) {
            return Err(unreachable(
                "the discovery document names another issuer".into(),
            ));
        }
        let jwks_uri = discovery
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or_else(|| unreachable("the discovery document has no jwks_uri".into()))?;
        // The same rules as for issuers: https, or http on loopback; its addresses are
        // checked by the guard like the issuer's.
        jwks_uri
            .parse::<IssuerUrl>()
            .map_err(|e| TokenRejected::Refused(format!("jwks_uri: {e}")))?;
        let keys: Value = self.get_json(jwks_uri).await?;
        serde_json::from_value(keys)
            .map_err(|e| unreachable(format!("the key set does not parse: {e}")))
    }

    async fn get_json(&self, url: &str) -> Result<Value, TokenRejected> {
        let shown = |e: &dyn std::fmt::Display| format!("{url}: {e}");
        let parsed = url.parse().map_err(|e| TokenRejected::Refused(shown(&e)))?;
        let request = reqwest::Request::new(reqwest::Method::GET, parsed);
        let mut response = match self.guard.send(request, FETCH_TIMEOUT).await {
            Ok(response) => response,
            Err(SendError::Refused(r)) => return Err(TokenRejected::Refused(shown(&r))),
            Err(e @ SendError::Failed(_)) => return Err(TokenRejected::Unreachable(shown(&e))),
        };
        let unreachable = |e: &dyn std::fmt::Display| TokenRejected::Unreachable(shown(e));
        if !response.status().is_success() {
            return Err(unreachable(&format!(
                "the provider answered HTTP {}",
                response.status()
            )));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| unreachable(&e.without_url()))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_DOCUMENT_BYTES {
                return Err(unreachable(&format!(
                    "larger than {MAX_DOCUMENT_BYTES} bytes"
                )));
            }
        }
        serde_json::from_slice(&body).map_err(|e| unreachable(&format!("not JSON: {e}")))
    }
}

fn invalid(why: impl Into<String>) -> TokenRejected {
    TokenRejected::Invalid(why.into())
}

/// Whether `key` may verify `alg`: the key's own `alg` if it names one, else its type.
fn key_fits(key: &Jwk, alg: Algorithm) -> bool {
    if let Some(key_alg) = key.common.key_algorithm {
        return key_alg.to_string() == format!("{alg:?}");
    }
    match &key.algorithm {
        AlgorithmParameters::RSA(_) => matches!(
            alg,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
        ),
        AlgorithmParameters::EllipticCurve(_) => {
            matches!(alg, Algorithm::ES256 | Algorithm::ES384)
        }
        AlgorithmParameters::OctetKeyPair(_) => alg == Algorithm::EdDSA,
        // `oct` (HMAC secrets) and anything newer: never a provider's signing key here
        _ => false,
    }
}

#[async_trait]
impl IdentityTokens for ProviderKeys {
    fn claimed_issuer(&self, token: &str) -> Option<String> {
        let mut parts = token.split('.');
        let (_, payload, _, None) = (parts.next()?, parts.next()?, parts.next()?, parts.next())
        else {
            return None;
        };
        let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let claims: Value = serde_json::from_slice(&bytes).ok()?;
        claims.get("iss")?.as_str().map(str::to_owned)
    }

    async fn verify(
        &self,
        token: &str,
        issuer: &IssuerUrl,
        audiences: &[String],
    ) -> Result<Value, TokenRejected> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| invalid(format!("malformed header: {e}")))?;
        if !ACCEPTED.contains(&header.alg) {
            return Err(invalid(format!(
                "algorithm {:?} is not accepted",
                header.alg
            )));
        }
        let kid = header.kid.as_deref().unwrap_or_default();
        let keys = self.keys(issuer, kid).await?;
        let key = match (header.kid.as_deref(), keys.keys.as_slice()) {
            (Some(kid), _) => keys.find(kid),
            // Without a key id, only a provider with one key is unambiguous.
            (None, [only]) => Some(only),
            (None, _) => None,
        }
        .ok_or_else(|| invalid("signed with a key the provider does not publish"))?;
        if !key_fits(key, header.alg) {
            return Err(invalid("the algorithm does not match the provider's key"));
        }
        let decoding = DecodingKey::from_jwk(key).map_err(|e| invalid(format!("key: {e}")))?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[issuer.as_ref()]);
        validation.set_audience(audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        let data = jsonwebtoken::decode::<Value>(token, &decoding, &validation)
            .map_err(|e| invalid(e.to_string()))?;
        Ok(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound::Reach;
    use serde_json::json;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A provider on 127.0.0.1 answering every request with the discovery document
    /// `document(issuer)`; returns the issuer.
    async fn provider(document: impl Fn(&str) -> Value) -> IssuerUrl {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let issuer = format!("http://{}", listener.local_addr().expect("addr"));
        let body = document(&issuer).to_string();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(body.as_bytes()).await;
            }
        });
        issuer.parse().expect("issuer")
    }

    fn rs256_token() -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT","kid":"k"}"#);
        let payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"x"}"#);
        format!("{header}.{payload}.c2ln")
    }

    #[tokio::test]
    async fn keys_at_a_metadata_address_are_refused_before_any_connection() {
        for jwks in [
            // (plain http is refused anyway, off loopback)
            "https://169.254.169.254/latest/meta-data/iam/security-credentials/",
            "https://[::ffff:169.254.169.254]/",
            "https://2852039166/",
            "https://0xa9fea9fe/",
            "https://[fd00:ec2::254]/",
            "https://100.100.100.200/",
            "https://0.0.0.0/",
        ] {
            let issuer = provider(|iss| json!({"issuer": iss, "jwks_uri": jwks})).await;
            // loopback and private networks allowed, as in tests: the provider is reached
            let v = verifier_reaching(Reach::LOCAL);
            let refused = v.verify(&rs256_token(), &issuer, &["a".into()]).await;
            assert!(
                matches!(&refused, Err(TokenRejected::Refused(m))
                    if m.contains("metadata address") || m.contains("unspecified address")),
                "{jwks}: {refused:?}"
            );
        }
    }

    #[tokio::test]
    async fn providers_on_this_machine_are_refused_without_the_operators_consent() {
        let issuer =
            provider(|iss| json!({"issuer": iss, "jwks_uri": format!("{iss}/keys")})).await;
        let refused = verifier()
            .verify(&rs256_token(), &issuer, &["a".into()])
            .await;
        assert!(
            matches!(&refused, Err(TokenRejected::Refused(m)) if m.contains("loopback")),
            "{refused:?}"
        );
    }

    fn verifier() -> ProviderKeys {
        verifier_reaching(Reach::PUBLIC)
    }

    fn verifier_reaching(reach: Reach) -> ProviderKeys {
        ProviderKeys::new(
            KeyPolicy {
                ttl: Duration::from_secs(60),
                refetch_interval: Duration::from_secs(1),
            },
            Guard::new(reach),
        )
    }

    #[test]
    fn the_claimed_issuer_is_read_from_a_jwt_only() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"iss":"https://sso.org/realms/a"}"#);
        let v = verifier();
        assert_eq!(
            v.claimed_issuer(&format!("e30.{payload}.sig")).as_deref(),
            Some("https://sso.org/realms/a")
        );
        assert_eq!(v.claimed_issuer("mgt_abcdef"), None);
        assert_eq!(v.claimed_issuer("a.b.c.d"), None);
        assert_eq!(v.claimed_issuer("a.!!!.c"), None);
    }

    #[tokio::test]
    async fn hmac_and_none_are_refused_before_any_key_is_fetched() {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT","kid":"k"}"#);
        let payload = URL_SAFE_NO_PAD.encode(br#"{"iss":"https://sso.invalid","sub":"x"}"#);
        let issuer: IssuerUrl = "https://sso.invalid".parse().expect("issuer");
        let v = verifier();
        let hs = v
            .verify(&format!("{header}.{payload}.c2ln"), &issuer, &["a".into()])
            .await;
        assert!(
            matches!(&hs, Err(TokenRejected::Invalid(m)) if m.contains("not accepted")),
            "{hs:?}"
        );
        let none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
        let none = v
            .verify(&format!("{none}.{payload}."), &issuer, &["a".into()])
            .await;
        assert!(matches!(none, Err(TokenRejected::Invalid(_))), "{none:?}");
    }
}
