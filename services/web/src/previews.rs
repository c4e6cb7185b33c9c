//! What a preview may cost: drawing one holds its source in memory (up to
//! `MEDGRID_PREVIEW_MAX_SOURCE_BYTES`, and as much again after gunzip) and a CPU, so each
//! process draws a few at once (`MEDGRID_PREVIEW_CONCURRENCY`, the others wait their
//! turn) and every preview counts in its member's rate limit, like a download.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use medgrid_domain::Actor;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The member and tenant request budgets (the API's rate limits).
pub trait MemberLimit: Send + Sync {
    /// Counts a request of `actor`; Err(wait) when its budget is spent.
    fn check(&self, actor: &Actor) -> Result<(), Duration>;
}

/// No budget at all (a portal built without the API's limits, in unit tests).
struct Unlimited;

impl MemberLimit for Unlimited {
    fn check(&self, _: &Actor) -> Result<(), Duration> {
        Ok(())
    }
}

/// The previews of one process.
#[derive(Clone)]
pub struct Previews {
    slots: Arc<Semaphore>,
    /// The largest source drawn.
    pub max_source_bytes: u64,
    limit: Arc<dyn MemberLimit>,
    /// How long a preview waits for its turn before the browser is told to come back.
    wait: Duration,
}

impl Previews {
    pub fn new(concurrency: usize, max_source_bytes: u64, limit: Arc<dyn MemberLimit>) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(concurrency.max(1))),
            max_source_bytes,
            limit,
            wait: Duration::from_secs(30),
        }
    }

    /// A turn to draw a preview for `actor`, or the response that says why not now: 429
    /// when the member's budget is spent (nothing is read), 503 when the others drawing
    /// took longer than `wait`. The turn lasts as long as the permit.
    pub async fn turn(&self, actor: &Actor) -> Result<OwnedSemaphorePermit, Response> {
        if let Err(wait) = self.limit.check(actor) {
            let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
            return Err(retry_later(
                StatusCode::TOO_MANY_REQUESTS,
                seconds,
                format!("RATE_LIMITED: too many requests; retry in {seconds} s"),
            ));
        }
        match tokio::time::timeout(self.wait, self.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(retry_later(
                StatusCode::SERVICE_UNAVAILABLE,
                5,
                "previews are busy; retry in 5 s".to_owned(),
            )),
        }
    }
}

impl Default for Previews {
    fn default() -> Self {
        Self::new(2, medgrid_infra::preview::MAX_BYTES, Arc::new(Unlimited))
    }
}

fn retry_later(status: StatusCode, seconds: u64, message: String) -> Response {
    let mut response = (status, message).into_response();
    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgrid_domain::ids::{MemberId, TenantId};

    fn actor() -> Actor {
        Actor {
            tenant_id: TenantId::random(),
            member_id: MemberId::random(),
            roles: Default::default(),
            groups: Default::default(),
        }
    }

    /// Allows `n` requests, then refuses.
    struct Budget(std::sync::atomic::AtomicU32);

    impl MemberLimit for Budget {
        fn check(&self, _: &Actor) -> Result<(), Duration> {
            let left = self.0.load(std::sync::atomic::Ordering::SeqCst);
            if left == 0 {
                return Err(Duration::from_millis(1500));
            }
            self.0.store(left - 1, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        }
    }

    #[tokio::test]
    async fn previews_are_drawn_a_few_at_a_time() {
        let mut previews = Previews::new(2, 1024, Arc::new(Unlimited));
        previews.wait = Duration::from_millis(50);
        let ann = actor();
        let first = previews.turn(&ann).await.expect("a turn");
        let second = previews.turn(&ann).await.expect("a turn");
        // a third waits, and is told to come back once waiting took too long
        let busy = previews.turn(&ann).await.expect_err("busy");
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(busy.headers()[header::RETRY_AFTER], "5");
        // once one is drawn, the next goes
        drop(first);
        let third = previews.turn(&ann).await.expect("a turn");
        drop((second, third));
    }

    #[tokio::test]
    async fn previews_count_in_the_members_budget() {
        let previews = Previews::new(2, 1024, Arc::new(Budget(1.into())));
        let ann = actor();
        drop(previews.turn(&ann).await.expect("a turn"));
        let refused = previews.turn(&ann).await.expect_err("over budget");
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.headers()[header::RETRY_AFTER], "2");
    }
}
