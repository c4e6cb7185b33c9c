//! Executors: how attempts reach a compute resource. Each one submits (idempotently, by
//! the attempt's key), polls many attempts in one call, and cancels.
//!
//! Every attempt runs `job.sh` in its own work directory; the directory is the contract
//! between Medgrid and the resource (a shared file system for a real cluster): `stdout`
//! and `stderr` are written there, and the outputs the command line names.

pub mod local;
pub mod slurm;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use medgrid_domain::catalog::shell_quote;
use medgrid_domain::jobs::{Outcome, Usage};

/// What to run for one attempt.
#[derive(Debug, Clone)]
pub struct AttemptSpec {
    /// Names the attempt at the resource (`mg-<job id>-<attempt>`): finding it again after
    /// a crash is how a submission is never repeated.
    pub key: String,
    pub work_dir: PathBuf,
    pub command: String,
    pub nodes: u32,
    /// MPI tasks in all (nodes × tasks per node).
    pub tasks: u32,
    pub walltime: Duration,
    pub env: Vec<(String, String)>,
    /// Given to the attempt's process environment only, never written to `job.sh` (the
    /// job-scoped token).
    pub secret_env: Vec<(String, String)>,
}

/// An attempt the resource already has (or may have).
#[derive(Debug, Clone)]
pub struct Tracked {
    pub key: String,
    pub external_id: Option<String>,
    pub work_dir: PathBuf,
}

/// What the resource says of an attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    /// Known, not running yet.
    Pending,
    Running {
        node_list: String,
        started_at: DateTime<Utc>,
    },
    Ended {
        outcome: Outcome,
        usage: Usage,
        node_list: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    /// The resource refused this attempt; trying again would not help.
    #[error("{0}")]
    Refused(String),
    /// The resource could not be reached or answered nonsense; try again later.
    #[error("resource unavailable: {0}")]
    Unavailable(String),
}

impl From<std::io::Error> for ExecutorError {
    fn from(e: std::io::Error) -> Self {
        Self::Unavailable(e.to_string())
    }
}

#[async_trait]
pub trait Executor: Send + Sync {
    /// Hands an attempt to the resource and returns its id there. The caller makes sure
    /// the resource does not have it yet (`find`) whenever a submission may have happened
    /// without being recorded.
    async fn submit(&self, spec: &AttemptSpec) -> Result<String, ExecutorError>;

    /// The ids of those of these attempts the resource has, by key, in one call to the
    /// resource where it allows.
    async fn find(&self, attempts: &[Tracked]) -> Result<HashMap<String, String>, ExecutorError>;

    /// The status of many attempts, in one call to the resource where it allows.
    /// Attempts the resource does not know are left out.
    async fn poll(&self, attempts: &[Tracked]) -> Result<Vec<(String, Status)>, ExecutorError>;

    /// Stops an attempt (and everything it started). Its end shows in a later poll.
    async fn cancel(&self, attempt: &Tracked) -> Result<(), ExecutorError>;
}

/// Writes `job.sh`: the environment, then the command line, run from the work directory.
pub fn write_job_script(spec: &AttemptSpec) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(spec.work_dir.join(".medgrid"))?;
    let mut script = String::from("#!/bin/sh\n# written by Medgrid: one attempt of a job\n");
    for (name, value) in &spec.env {
        script.push_str(&format!("export {name}={}\n", shell_quote(value)));
    }
    script.push_str(&format!("export MEDGRID_NODES={}\n", spec.nodes));
    script.push_str(&format!("export MEDGRID_TASKS={}\n", spec.tasks));
    script.push_str(&spec.command);
    script.push('\n');
    let path = spec.work_dir.join("job.sh");
    std::fs::write(&path, script)?;
    Ok(path)
}

/// The marker files an attempt leaves in `<work dir>/.medgrid`.
pub(crate) fn marker(work_dir: &Path, name: &str) -> PathBuf {
    work_dir.join(".medgrid").join(name)
}
