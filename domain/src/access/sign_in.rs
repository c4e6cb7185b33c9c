//! How many failed sign-ins are tolerated before an account, or a whole tenant, must wait.
//!
//! Failures are counted in fixed windows per account and per tenant (unknown accounts
//! too, so a lockout says nothing of whether an account exists). The counts live where
//! every API replica sees them; this module only decides.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// The limits: failures per window (0 = no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInLimits {
    pub per_account: u32,
    pub per_tenant: u32,
    pub window: Duration,
}

/// Failures counted for one account or tenant since `since` (the window's start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failures {
    pub count: u32,
    pub since: DateTime<Utc>,
}

impl SignInLimits {
    /// How long until a sign-in may be tried, given the account's and the tenant's
    /// failures; `None` when it may be tried now.
    pub fn wait(
        &self,
        account: Option<Failures>,
        tenant: Option<Failures>,
        now: DateTime<Utc>,
    ) -> Option<Duration> {
        let account = self.wait_one(self.per_account, account, now);
        let tenant = self.wait_one(self.per_tenant, tenant, now);
        account.max(tenant)
    }

    fn wait_one(
        &self,
        limit: u32,
        failures: Option<Failures>,
        now: DateTime<Utc>,
    ) -> Option<Duration> {
        let failures = failures?;
        if limit == 0 || failures.count < limit {
            return None;
        }
        let window = chrono::Duration::from_std(self.window).ok()?;
        let left = (failures.since + window - now).to_std().ok()?;
        (!left.is_zero()).then_some(left)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> SignInLimits {
        SignInLimits {
            per_account: 3,
            per_tenant: 10,
            window: Duration::from_secs(900),
        }
    }

    fn failures(count: u32, ago_secs: i64, now: DateTime<Utc>) -> Option<Failures> {
        Some(Failures {
            count,
            since: now - chrono::Duration::seconds(ago_secs),
        })
    }

    #[test]
    fn an_account_waits_for_the_end_of_its_window() {
        let now = Utc::now();
        let l = limits();
        assert_eq!(l.wait(None, None, now), None);
        assert_eq!(l.wait(failures(2, 10, now), None, now), None);
        assert_eq!(
            l.wait(failures(3, 100, now), None, now),
            Some(Duration::from_secs(800))
        );
        // the window has passed: counting starts again
        assert_eq!(l.wait(failures(3, 900, now), None, now), None);
    }

    #[test]
    fn a_tenant_waits_too_and_the_longer_wait_wins() {
        let now = Utc::now();
        let l = limits();
        assert_eq!(
            l.wait(failures(1, 0, now), failures(10, 300, now), now),
            Some(Duration::from_secs(600))
        );
        assert_eq!(
            l.wait(failures(3, 800, now), failures(10, 300, now), now),
            Some(Duration::from_secs(600))
        );
    }

    #[test]
    fn zero_is_no_limit() {
        let now = Utc::now();
        let l = SignInLimits {
            per_account: 0,
            per_tenant: 0,
            window: Duration::from_secs(900),
        };
        assert_eq!(
            l.wait(failures(1000, 0, now), failures(1000, 0, now), now),
            None
        );
    }
}
