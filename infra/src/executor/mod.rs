//! Executors: how attempts reach a compute resource. Each one submits (idempotently, by
//! the attempt's key), polls many attempts in one call, and cancels.
//!
//! Every attempt runs in the sandbox (`crate::sandbox`), started by its supervisor
//! (`launch.sh` in the attempt's directory: a detached process here, the batch script on
//! Slurm). The attempt's directory is the contract between Medgrid and the resource (a
//! shared file system for a real cluster): the supervisor writes the logs and how the
//! attempt ended there, the job writes only under `work/`.

pub mod local;
pub mod slurm;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use medgrid_domain::jobs::{Outcome, Usage};

use crate::sandbox::{Limits, Plan, Sandbox};

/// What to run for one attempt.
#[derive(Debug, Clone)]
pub struct AttemptSpec {
    /// Names the attempt at the resource (`mg-<job id>-<attempt>`): finding it again after
    /// a crash is how a submission is never repeated.
    pub key: String,
    /// The attempt's directory (Medgrid's; the job's own is `work/` inside it).
    pub dir: PathBuf,
    /// What the job runs: a POSIX sh script.
    pub script: String,
    /// Files bound read-only into the job's directory: (file on this host, name there).
    pub inputs: Vec<(PathBuf, String)>,
    pub nodes: u32,
    /// MPI tasks in all (nodes × tasks per node).
    pub tasks: u32,
    pub walltime: Duration,
    /// Memory (the application's, else its resource's default) and disk (the
    /// application's); None: the sandbox's defaults.
    pub memory_mb: Option<u64>,
    pub disk_mb: Option<u64>,
    /// The job's environment (allow-listed variables only).
    pub env: Vec<(String, String)>,
    /// Given to the job's environment only, never written where it can read it nor on a
    /// command line (the job-scoped token).
    pub secret_env: Vec<(String, String)>,
    /// The job's way to Medgrid's API (see [`crate::sandbox::upstream_of`]).
    pub api_upstream: Option<String>,
    /// The application may reach the network (not this host, not private networks).
    pub networked: bool,
    /// The application's image, pulled; None: the platform's base.
    pub image: Option<crate::images::Image>,
    /// The shell running the script (None: `/bin/sh`).
    pub shell: Option<String>,
}

impl AttemptSpec {
    /// The sandbox's plan for this attempt, with `sandbox`'s defaults filled in.
    pub fn plan<'a>(&'a self, sandbox: &Sandbox) -> Plan<'a> {
        Plan {
            key: &self.key,
            dir: &self.dir,
            script: &self.script,
            inputs: &self.inputs,
            walltime: self.walltime,
            limits: Limits {
                memory_mb: self.memory_mb.unwrap_or(sandbox.defaults.memory_mb),
                disk_mb: self.disk_mb.unwrap_or(sandbox.defaults.disk_mb),
                processes: sandbox.defaults.processes,
            },
            env: &self.env,
            secret_env: &self.secret_env,
            api_upstream: self.api_upstream.clone(),
            networked: self.networked,
            image: self.image.as_ref(),
            shell: self.shell.as_deref(),
        }
    }
}

/// An attempt the resource already has (or may have).
#[derive(Debug, Clone)]
pub struct Tracked {
    pub key: String,
    pub external_id: Option<String>,
    /// The attempt's directory.
    pub dir: PathBuf,
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

impl From<crate::sandbox::PrepareError> for ExecutorError {
    fn from(e: crate::sandbox::PrepareError) -> Self {
        match e {
            crate::sandbox::PrepareError::Refused(why) => Self::Refused(why),
            crate::sandbox::PrepareError::Io(e) => e.into(),
        }
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
