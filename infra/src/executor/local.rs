//! The `local` executor: each attempt's supervisor runs as a process of its own session on
//! this host, detached from Medgrid, so attempts survive a restart of Medgrid (even
//! `kill -9`) and are found again by their directory.
//!
//! Starting is idempotent without rewriting anything a running attempt reads: the sandbox
//! writes its files (each whole, renamed into place), then `claim/` is made (atomic: one
//! start wins), then the supervisor starts. An attempt's end is what its supervisor
//! recorded; the only end inferred is that of a supervisor gone without recording one
//! (the host restarted), checked against its recorded start time, not its pid alone.

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use chrono::Utc;
use medgrid_domain::jobs::Outcome;
use medgrid_domain::jobs::Usage;

use super::{AttemptSpec, Executor, ExecutorError, Status, Tracked};
use crate::sandbox::Sandbox;
use crate::sandbox::status::{self, Ended};

/// A claim with no supervisor recorded after this long was a start that never happened
/// (the process starting it died in between).
const START_TIMEOUT: Duration = Duration::from_secs(60);

pub struct LocalExecutor {
    hostname: String,
    sandbox: Arc<Sandbox>,
}

impl LocalExecutor {
    pub fn new(sandbox: Arc<Sandbox>) -> Self {
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "localhost".into());
        Self { hostname, sandbox }
    }

    fn ended(&self, ended: &Ended) -> Status {
        Status::Ended {
            outcome: ended.outcome(),
            usage: ended.usage(),
            node_list: self.hostname.clone(),
        }
    }

    fn status(&self, attempt: &Tracked) -> Option<Status> {
        let dir = attempt.dir.as_path();
        if let Some(ended) = Ended::read(dir) {
            return Some(self.ended(&ended));
        }
        if status::supervisor_alive(dir).is_some() {
            return Some(match status::started_at(dir) {
                Some(started_at) => Status::Running {
                    node_list: self.hostname.clone(),
                    started_at,
                },
                None => Status::Pending,
            });
        }
        // it may have recorded its end just after the first look
        if let Some(ended) = Ended::read(dir) {
            return Some(self.ended(&ended));
        }
        let gone = status::supervisor_recorded(dir) || claim_age(dir)? > START_TIMEOUT;
        if !gone {
            return Some(Status::Pending);
        }
        crate::sandbox::release(&attempt.key);
        Some(Status::Ended {
            outcome: Outcome::NodeFailure {
                detail: "its supervisor stopped without recording how it ended; was the host \
                         restarted?"
                    .into(),
            },
            usage: Usage {
                started_at: status::started_at(dir),
                ended_at: Some(Utc::now()),
                ..Usage::default()
            },
            node_list: self.hostname.clone(),
        })
    }

    /// The id of an attempt already claimed: its supervisor's pid.
    fn started(&self, dir: &Path) -> Result<String, ExecutorError> {
        if let Some(pid) = recorded_pid(dir) {
            return Ok(pid);
        }
        match claim_age(dir) {
            Some(age) if age > START_TIMEOUT => Err(ExecutorError::Refused(
                "the attempt's start was interrupted before its supervisor ran".into(),
            )),
            _ => Err(ExecutorError::Unavailable("the attempt is starting".into())),
        }
    }
}

fn claim_age(dir: &Path) -> Option<Duration> {
    let made = std::fs::metadata(dir.join("claim")).ok()?.modified().ok()?;
    SystemTime::now().duration_since(made).ok()
}

/// The pid the supervisor recorded, alive or not.
fn recorded_pid(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("supervisor")).ok()?;
    text.split_whitespace().next().map(str::to_owned)
}

#[async_trait]
impl Executor for LocalExecutor {
    async fn submit(&self, spec: &AttemptSpec) -> Result<String, ExecutorError> {
        let claim = spec.dir.join("claim");
        if claim.exists() {
            return self.started(&spec.dir);
        }
        let launch = self.sandbox.prepare(&spec.plan(&self.sandbox))?;
        match std::fs::create_dir(&claim) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return self.started(&spec.dir);
            }
            other => other?,
        }
        let log = std::fs::File::create(spec.dir.join("supervisor.log"))?;
        // setsid: a session of its own, so that the attempt outlives this process; the
        // supervisor's environment holds nothing of Medgrid's
        let child = tokio::process::Command::new("setsid")
            .arg("/bin/sh")
            .arg(&launch)
            .current_dir(&spec.dir)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn();
        match child {
            // tokio reaps it in the background; the supervisor records the end itself
            Ok(child) => child
                .id()
                .map(|pid| pid.to_string())
                .ok_or_else(|| ExecutorError::Unavailable("the supervisor exited at once".into())),
            Err(e) => {
                let _ = std::fs::remove_dir(&claim);
                Err(ExecutorError::Refused(format!(
                    "cannot start the attempt's supervisor: {e}"
                )))
            }
        }
    }

    async fn find(&self, attempts: &[Tracked]) -> Result<HashMap<String, String>, ExecutorError> {
        Ok(attempts
            .iter()
            .filter_map(|a| Some((a.key.clone(), recorded_pid(&a.dir)?)))
            .collect())
    }

    async fn poll(&self, attempts: &[Tracked]) -> Result<Vec<(String, Status)>, ExecutorError> {
        Ok(attempts
            .iter()
            .filter_map(|a| Some((a.key.clone(), self.status(a)?)))
            .collect())
    }

    async fn cancel(&self, attempt: &Tracked) -> Result<(), ExecutorError> {
        // a supervisor not started yet sees the mark and runs nothing
        std::fs::write(attempt.dir.join("cancel"), b"")?;
        if let Some(pid) = status::supervisor_alive(&attempt.dir) {
            let pid = rustix::process::Pid::from_raw(pid.cast_signed())
                .ok_or_else(|| ExecutorError::Unavailable("bad supervisor pid".into()))?;
            // it stops the sandbox and records the attempt as cancelled
            rustix::process::kill_process(pid, rustix::process::Signal::TERM)
                .map_err(|e| ExecutorError::Unavailable(format!("cannot signal: {e}")))?;
        }
        Ok(())
    }
}
