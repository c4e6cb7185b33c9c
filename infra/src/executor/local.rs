//! The `local` executor: attempts run as processes on this host, each in its own session
//! so that cancelling stops everything it started. A small wrapper records the pid, the
//! exit code and the CPU time in the work directory, so attempts survive a restart of
//! Medgrid (even `kill -9`) and are found again by their directory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use medgrid_domain::jobs::{Outcome, Usage};

use super::{AttemptSpec, Executor, ExecutorError, Status, Tracked, marker, write_job_script};

/// `timeout` exits with this code when the walltime ran out.
const TIMED_OUT: i32 = 124;
/// How long a cancelled attempt gets between SIGTERM and SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(5);

// Runs job.sh once: `mkdir` is atomic, so a second start of the same attempt does nothing.
const WRAPPER: &str = r#"#!/bin/sh
# Written by Medgrid: runs job.sh once and records pid, times and exit code in .medgrid/.
cd "$(dirname "$0")/.." || exit 1
mkdir .medgrid/started 2>/dev/null || exit 0
echo $$ > .medgrid/pid.tmp && mv .medgrid/pid.tmp .medgrid/pid
date +%s > .medgrid/start
[ -e .medgrid/cancelled ] && exit 0
timeout -s TERM -k 10 "$1" sh ./job.sh > stdout 2> stderr < /dev/null
code=$?
times > .medgrid/times
date +%s > .medgrid/end
echo $code > .medgrid/exit.tmp && mv .medgrid/exit.tmp .medgrid/exit
"#;

pub struct LocalExecutor {
    hostname: String,
}

impl Default for LocalExecutor {
    fn default() -> Self {
        Self::new()
    }
}

impl LocalExecutor {
    pub fn new() -> Self {
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "localhost".into());
        Self { hostname }
    }
}

fn read(work_dir: &Path, name: &str) -> Option<String> {
    std::fs::read_to_string(marker(work_dir, name))
        .ok()
        .map(|s| s.trim().to_owned())
}

fn epoch(work_dir: &Path, name: &str) -> Option<DateTime<Utc>> {
    let secs = read(work_dir, name)?.parse::<i64>().ok()?;
    Utc.timestamp_opt(secs, 0).single()
}

/// CPU seconds of the children, from the second line of the shell's `times`
/// ("0m1.250s 0m0.100s": user and system).
fn child_cpu_seconds(times: &str) -> u64 {
    let seconds = |field: &str| -> f64 {
        let Some((m, s)) = field.trim_end_matches('s').split_once('m') else {
            return 0.0;
        };
        m.parse::<f64>().unwrap_or(0.0) * 60.0 + s.parse::<f64>().unwrap_or(0.0)
    };
    times
        .lines()
        .nth(1)
        .map(|line| line.split_whitespace().map(seconds).sum::<f64>())
        .map_or(0, |s| s.round() as u64)
}

fn wrapper_path(work_dir: &Path) -> PathBuf {
    marker(work_dir, "run.sh")
}

/// Whether `pid` is a live (not zombie) wrapper of this work directory: a pid number may
/// have been reused since the attempt started.
fn wrapper_alive(pid: u32, work_dir: &Path) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    if matches!(state, None | Some("Z" | "X")) {
        return false;
    }
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let needle = wrapper_path(work_dir);
    String::from_utf8_lossy(&cmdline).contains(&*needle.to_string_lossy())
}

/// Every process of the session `sid` (the wrapper's pid): the wrapper, `timeout` (which
/// makes its own process group) and whatever the application started.
fn session_members(sid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    let (_, rest) = stat.rsplit_once(')')?;
                    // after the command: state, ppid, pgrp, session
                    rest.split_whitespace().nth(3)?.parse::<u32>().ok()
                })
                == Some(sid)
        })
        .collect()
}

async fn signal_session(sid: u32, signal: &str) {
    let pids: Vec<String> = session_members(sid).iter().map(u32::to_string).collect();
    if pids.is_empty() {
        return;
    }
    let result = tokio::process::Command::new("kill")
        .arg("-s")
        .arg(signal)
        .args(&pids)
        .stderr(Stdio::null())
        .status()
        .await;
    if let Err(e) = result {
        tracing::warn!(error = %e, sid, "cannot signal an attempt's processes");
    }
}

impl LocalExecutor {
    fn status(&self, work_dir: &Path) -> Option<Status> {
        let started_at = epoch(work_dir, "start");
        if let Some(code) = read(work_dir, "exit") {
            let code = code.parse::<i32>().unwrap_or(-1);
            let ended_at = epoch(work_dir, "end");
            let outcome = match code {
                0 => Outcome::Succeeded,
                TIMED_OUT => Outcome::Timeout,
                _ if marker(work_dir, "cancelled").exists() => Outcome::Cancelled,
                code => Outcome::ExitCode { code },
            };
            return Some(self.ended(work_dir, outcome, started_at, ended_at));
        }
        let pid = read(work_dir, "pid")?.parse::<u32>().ok()?;
        if wrapper_alive(pid, work_dir) {
            return Some(Status::Running {
                node_list: self.hostname.clone(),
                started_at: started_at.unwrap_or_else(Utc::now),
            });
        }
        let outcome = if marker(work_dir, "cancelled").exists() {
            Outcome::Cancelled
        } else {
            Outcome::NodeFailure {
                detail: "the process ended without recording an exit code".into(),
            }
        };
        Some(self.ended(work_dir, outcome, started_at, None))
    }

    fn ended(
        &self,
        work_dir: &Path,
        outcome: Outcome,
        started_at: Option<DateTime<Utc>>,
        ended_at: Option<DateTime<Utc>>,
    ) -> Status {
        let ended_at = ended_at.unwrap_or_else(Utc::now);
        let wall = started_at.map_or(0, |s| (ended_at - s).num_seconds().max(0) as u64);
        let cpu = read(work_dir, "times").map_or(0, |t| child_cpu_seconds(&t));
        Status::Ended {
            outcome,
            usage: Usage {
                started_at,
                ended_at: Some(ended_at),
                wall_seconds: wall,
                cpu_seconds: cpu,
            },
            node_list: self.hostname.clone(),
        }
    }

    /// The pid of a started attempt; waits briefly for a wrapper that is just starting.
    async fn pid(&self, work_dir: &Path) -> Option<String> {
        if !marker(work_dir, "started").exists() {
            return None;
        }
        for _ in 0..100 {
            if let Some(pid) = read(work_dir, "pid") {
                return Some(pid);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }
}

#[async_trait]
impl Executor for LocalExecutor {
    async fn submit(&self, spec: &AttemptSpec) -> Result<String, ExecutorError> {
        if let Some(pid) = self.pid(&spec.work_dir).await {
            return Ok(pid);
        }
        write_job_script(spec)?;
        let wrapper = wrapper_path(&spec.work_dir);
        std::fs::write(&wrapper, WRAPPER)?;
        // setsid: a session (and process group) of its own, so that the attempt outlives
        // this process and a cancel reaches everything it started
        let child = tokio::process::Command::new("setsid")
            .arg("/bin/sh")
            .arg(&wrapper)
            .arg(spec.walltime.as_secs().max(1).to_string())
            .current_dir(&spec.work_dir)
            .envs(spec.secret_env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| ExecutorError::Refused(format!("cannot start the process: {e}")))?;
        drop(child); // tokio reaps it in the background; the wrapper records the exit code
        self.pid(&spec.work_dir).await.ok_or_else(|| {
            ExecutorError::Unavailable("the attempt did not start within 2 s".into())
        })
    }

    async fn find(&self, attempts: &[Tracked]) -> Result<HashMap<String, String>, ExecutorError> {
        let mut found = HashMap::new();
        for a in attempts {
            if let Some(pid) = read(&a.work_dir, "pid") {
                found.insert(a.key.clone(), pid);
            }
        }
        Ok(found)
    }

    async fn poll(&self, attempts: &[Tracked]) -> Result<Vec<(String, Status)>, ExecutorError> {
        Ok(attempts
            .iter()
            .filter_map(|a| Some((a.key.clone(), self.status(&a.work_dir)?)))
            .collect())
    }

    async fn cancel(&self, attempt: &Tracked) -> Result<(), ExecutorError> {
        std::fs::create_dir_all(attempt.work_dir.join(".medgrid"))?;
        std::fs::write(marker(&attempt.work_dir, "cancelled"), b"")?;
        let Some(pid) = read(&attempt.work_dir, "pid").and_then(|p| p.parse::<u32>().ok()) else {
            return Ok(());
        };
        if !wrapper_alive(pid, &attempt.work_dir) {
            return Ok(());
        }
        signal_session(pid, "TERM").await;
        tokio::spawn(async move {
            tokio::time::sleep(KILL_GRACE).await;
            signal_session(pid, "KILL").await;
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_children_cpu_time_from_times() {
        assert_eq!(
            child_cpu_seconds("0m0.001s 0m0.002s\n1m2.600s 0m0.500s\n"),
            63
        );
        assert_eq!(child_cpu_seconds("garbage"), 0);
    }
}
