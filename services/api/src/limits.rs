//! Rate limits per member and per tenant: one script cannot take the service from
//! everyone else; and per client address for requests without valid credentials (sign-in
//! forms, password login, bad tokens), so passwords cannot be guessed at speed. Token
//! buckets held in this process (each replica counts on its own): a bucket holds a
//! minute's worth of requests and refills continuously.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use medgrid_domain::{Actor, Code};
use serde_json::json;
use uuid::Uuid;

use crate::client::{TrustedProxies, limit_key};

/// Buckets kept before full ones (idle callers) are forgotten.
const KEEP: usize = 10_000;

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// One bucket per key (a member, a tenant, a client address).
struct Buckets<K> {
    per_minute: u32,
    state: Mutex<HashMap<K, Bucket>>,
}

impl<K: Hash + Eq + Copy> Buckets<K> {
    fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            state: Mutex::new(HashMap::new()),
        }
    }

    fn refilled(&self, bucket: &Bucket, now: Instant) -> f64 {
        let rate = f64::from(self.per_minute) / 60.0;
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        (bucket.tokens + elapsed * rate).min(f64::from(self.per_minute))
    }

    /// How long until `key` may make a request; zero when it may now.
    fn wait(&self, key: K, now: Instant) -> Duration {
        if self.per_minute == 0 {
            return Duration::ZERO;
        }
        let Ok(state) = self.state.lock() else {
            return Duration::ZERO;
        };
        let tokens = state
            .get(&key)
            .map_or(f64::from(self.per_minute), |b| self.refilled(b, now));
        if tokens >= 1.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - tokens) * 60.0 / f64::from(self.per_minute))
        }
    }

    fn take(&self, key: K, now: Instant) {
        if self.per_minute == 0 {
            return;
        }
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let full = f64::from(self.per_minute);
        if state.len() > KEEP {
            state.retain(|_, b| self.refilled(b, now) < full);
        }
        let tokens = state.get(&key).map_or(full, |b| self.refilled(b, now));
        state.insert(
            key,
            Bucket {
                tokens: tokens - 1.0,
                at: now,
            },
        );
    }
}

/// Requests per minute: of one member, of one tenant's members, of one client address
/// without valid credentials (0 = no limit).
#[derive(Debug, Clone, Copy)]
pub struct Budgets {
    pub member: u32,
    pub tenant: u32,
    pub anonymous: u32,
}

pub struct RateLimits {
    member: Buckets<Uuid>,
    tenant: Buckets<Uuid>,
    anonymous: Buckets<IpAddr>,
    proxies: TrustedProxies,
}

impl RateLimits {
    pub fn new(budgets: Budgets, proxies: TrustedProxies) -> Self {
        Self {
            member: Buckets::new(budgets.member),
            tenant: Buckets::new(budgets.tenant),
            anonymous: Buckets::new(budgets.anonymous),
            proxies,
        }
    }

    /// Counts a request without valid credentials that arrived from `peer`: from its
    /// client (see [`crate::client`]).
    pub fn check_anonymous(&self, peer: IpAddr, headers: &HeaderMap) -> Result<(), Duration> {
        let client = limit_key(self.proxies.client(peer, headers));
        let now = Instant::now();
        let wait = self.anonymous.wait(client, now);
        if !wait.is_zero() {
            return Err(wait);
        }
        self.anonymous.take(client, now);
        Ok(())
    }

    /// Counts a request of `actor`; Err(wait) when its member or tenant budget is spent
    /// (then nothing is counted).
    pub fn check(&self, actor: &Actor) -> Result<(), Duration> {
        let now = Instant::now();
        let (member, tenant) = (actor.member_id.as_uuid(), actor.tenant_id.as_uuid());
        let wait = self
            .member
            .wait(member, now)
            .max(self.tenant.wait(tenant, now));
        if !wait.is_zero() {
            return Err(wait);
        }
        self.member.take(member, now);
        self.tenant.take(tenant, now);
        Ok(())
    }
}

/// A wait in whole seconds, at least 1: what Retry-After says.
pub fn seconds(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

/// The portal's previews count in the same budgets as GraphQL and downloads.
impl medgrid_web::MemberLimit for RateLimits {
    fn check(&self, actor: &Actor) -> Result<(), Duration> {
        RateLimits::check(self, actor)
    }
}

/// 429 with Retry-After (whole seconds, at least 1) and a GraphQL-shaped error.
pub fn too_many(wait: Duration) -> Response {
    let seconds = seconds(wait);
    let body = json!({"errors": [{
        "message": format!("too many requests; retry in {seconds} s"),
        "extensions": {"code": Code::RateLimited.as_str()}
    }]});
    let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_holds_a_minute_and_refills() {
        let b = Buckets::<Uuid>::new(60);
        let key = Uuid::nil();
        let t0 = Instant::now();
        for _ in 0..60 {
            assert_eq!(b.wait(key, t0), Duration::ZERO);
            b.take(key, t0);
        }
        let wait = b.wait(key, t0);
        assert!(
            wait > Duration::from_millis(900) && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert_eq!(b.wait(key, t0 + Duration::from_secs(1)), Duration::ZERO);
    }

    #[test]
    fn zero_means_no_limit() {
        let b = Buckets::<Uuid>::new(0);
        let t0 = Instant::now();
        for _ in 0..1000 {
            b.take(Uuid::nil(), t0);
        }
        assert_eq!(b.wait(Uuid::nil(), t0), Duration::ZERO);
    }
}
