//! Password hashing off the async workers. Argon2 costs tens of milliseconds of CPU and
//! 19 MiB of memory per call: on a runtime thread it would stall every request that thread
//! serves, and unbounded it would let a burst of sign-ins take the machine. So each call runs
//! in `spawn_blocking`, at most `concurrency` at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use medgrid_domain::Code;
use medgrid_domain::names::Password;
use medgrid_domain::ports::Secrets;
use tokio::sync::Semaphore;

use crate::ApiError;

pub struct Passwords {
    secrets: Arc<dyn Secrets>,
    permits: Semaphore,
    /// Checked when the account is unknown, so that an unknown account costs the same
    /// work as a known one (its answer is then always "no").
    dummy: String,
    checks: AtomicU64,
}

impl Passwords {
    /// Hashes a random password once, for [`Self::check`] of unknown accounts.
    pub fn new(secrets: Arc<dyn Secrets>, concurrency: usize) -> Result<Self, ApiError> {
        let random: Password = uuid::Uuid::new_v4()
            .simple()
            .to_string()
            .parse()
            .map_err(ApiError::from)?;
        let dummy = secrets.hash_password(&random)?;
        Ok(Self {
            secrets,
            permits: Semaphore::new(concurrency.max(1)),
            dummy,
            checks: AtomicU64::new(0),
        })
    }

    /// Whether `password` matches `hash`; with no hash (no such account, or no local
    /// password), the same work is done against a dummy hash and the answer is false.
    pub async fn check(&self, password: &str, hash: Option<&str>) -> Result<bool, ApiError> {
        let (hash, known) = match hash {
            Some(h) => (h.to_owned(), true),
            None => (self.dummy.clone(), false),
        };
        let secrets = self.secrets.clone();
        let password = password.to_owned();
        let matches = self
            .blocking(move || secrets.verify_password(&password, &hash))
            .await?;
        self.checks.fetch_add(1, Ordering::Relaxed);
        Ok(known && matches)
    }

    /// The stored form of a new password.
    pub async fn hash(&self, password: &Password) -> Result<String, ApiError> {
        let secrets = self.secrets.clone();
        let password = password.clone();
        Ok(self
            .blocking(move || secrets.hash_password(&password))
            .await??)
    }

    /// How many passwords were checked (known accounts or not) since start: tests count
    /// with it that unknown accounts cost a check too.
    pub fn checks(&self) -> u64 {
        self.checks.load(Ordering::Relaxed)
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| ApiError::new(Code::Internal, "shutting down"))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| ApiError::new(Code::Internal, format!("password hashing: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::mpsc;
    use std::time::Duration;

    use medgrid_domain::CommandError;
    use medgrid_domain::ports::MintedToken;

    use super::*;

    /// Verifies only once told to by a task on the async runtime: were the check run on
    /// the runtime's only thread, that task could never run (the test would time out).
    struct Gated {
        release: Mutex<mpsc::Receiver<()>>,
        running: AtomicU64,
        most: AtomicU64,
    }

    impl Secrets for Gated {
        fn hash_password(&self, _: &Password) -> Result<String, CommandError> {
            Ok("dummy".into())
        }
        fn verify_password(&self, password: &str, hash: &str) -> bool {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            let released = self
                .release
                .lock()
                .map(|r| r.recv_timeout(Duration::from_secs(20)).is_ok())
                .unwrap_or(false);
            self.running.fetch_sub(1, Ordering::SeqCst);
            released && password == hash
        }
        fn mint_token(&self) -> MintedToken {
            unreachable!()
        }
        fn token_hash(&self, _: &str) -> String {
            unreachable!()
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn checks_leave_the_runtime_free_and_run_one_at_a_time() {
        let (release, gate) = mpsc::channel();
        let gated = Arc::new(Gated {
            release: Mutex::new(gate),
            running: AtomicU64::new(0),
            most: AtomicU64::new(0),
        });
        let passwords = Arc::new(Passwords::new(gated.clone(), 1).expect("passwords"));
        let first = tokio::spawn({
            let p = passwords.clone();
            async move { p.check("right", Some("right")).await }
        });
        let second = tokio::spawn({
            let p = passwords.clone();
            async move { p.check("wrong", None).await }
        });
        // this runs on the runtime's only thread while the checks wait for it
        tokio::task::yield_now().await;
        release.send(()).expect("release first");
        release.send(()).expect("release second");
        assert!(first.await.expect("joined").expect("checked"));
        assert!(!second.await.expect("joined").expect("checked"));
        assert_eq!(gated.most.load(Ordering::SeqCst), 1, "one check at a time");
        assert_eq!(
            passwords.checks(),
            2,
            "an unknown account costs a check too"
        );
    }
}
