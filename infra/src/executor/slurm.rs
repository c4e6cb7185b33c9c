//! The `slurm` executor: `sbatch` to submit, one `squeue` call to poll every attempt,
//! `scontrol show job` for the exit code of those that ended, `scancel` to stop. Attempts
//! are named by their key, so an attempt submitted just before a crash is found again
//! instead of being submitted twice. The batch script is the attempt's supervisor (the
//! same sandbox as everywhere, with no environment from Medgrid: `--export=NONE`); what it
//! records in the attempt's directory says why it stopped an attempt (a limit reached) and
//! how jobs Slurm has already forgotten (after MinJobAge) ended.

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use medgrid_domain::jobs::{Outcome, Usage};

use super::{AttemptSpec, Executor, ExecutorError, Status, Tracked};
use crate::sandbox::Sandbox;
use crate::sandbox::status::Ended;

pub struct SlurmExecutor {
    partition: String,
    sandbox: Arc<Sandbox>,
}

impl SlurmExecutor {
    pub fn new(partition: impl Into<String>, sandbox: Arc<Sandbox>) -> Self {
        Self {
            partition: partition.into(),
            sandbox,
        }
    }
}

/// Runs a Slurm command; a failure to run it or to reach the controller is `Unavailable`,
/// anything else it refuses is `Refused`.
async fn slurm(program: &str, args: &[String]) -> Result<String, ExecutorError> {
    let out = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| ExecutorError::Unavailable(format!("cannot run {program}: {e}")))?;
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    if !out.status.success() {
        let transient = [
            "Unable to contact",
            "timed out",
            "Connection refused",
            "Zero Bytes",
        ]
        .iter()
        .any(|s| stderr.contains(s));
        let message = format!("{program}: {stderr}");
        return Err(if transient {
            ExecutorError::Unavailable(message)
        } else {
            ExecutorError::Refused(message)
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn minutes(spec: &AttemptSpec) -> u64 {
    spec.walltime.as_secs().div_ceil(60).max(1)
}

/// `key=value` fields of `scontrol show job -o`.
fn fields(line: &str) -> HashMap<&str, &str> {
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .collect()
}

fn time(value: Option<&&str>) -> Option<DateTime<Utc>> {
    let naive = NaiveDateTime::parse_from_str(value?, "%Y-%m-%dT%H:%M:%S").ok()?;
    naive
        .and_local_timezone(chrono::Local)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

/// "ExitCode=3:0" is (exit code, signal); a signal counts as 128 + signal, as in a shell.
fn exit_code(value: Option<&&str>) -> Option<i32> {
    let (code, signal) = value?.split_once(':')?;
    let (code, signal) = (code.parse::<i32>().ok()?, signal.parse::<i32>().ok()?);
    Some(if signal > 0 { 128 + signal } else { code })
}

/// The outcome of a job in a final state.
fn outcome(state: &str, code: Option<i32>) -> Outcome {
    match (state, code) {
        ("COMPLETED", _) => Outcome::Succeeded,
        ("FAILED" | "OUT_OF_MEMORY", Some(code)) => Outcome::ExitCode { code },
        ("TIMEOUT" | "DEADLINE", _) => Outcome::Timeout,
        ("CANCELLED", _) => Outcome::Cancelled,
        (other, _) => Outcome::NodeFailure {
            detail: other.to_owned(),
        },
    }
}

fn is_final(state: &str) -> bool {
    !matches!(
        state,
        "PENDING"
            | "CONFIGURING"
            | "RUNNING"
            | "COMPLETING"
            | "REQUEUED"
            | "REQUEUE_HOLD"
            | "REQUEUE_FED"
            | "RESIZING"
            | "SUSPENDED"
            | "STOPPED"
            | "SIGNALING"
            | "STAGE_OUT"
            | "RESV_DEL_HOLD"
    )
}

impl SlurmExecutor {
    /// The final status of an ended job: what its supervisor recorded, else what
    /// `scontrol show job` says.
    async fn final_status(&self, id: &str, state: &str, dir: &Path) -> Status {
        if let Some(ended) = Ended::read(dir) {
            return Status::Ended {
                outcome: ended.outcome(),
                usage: ended.usage(),
                node_list: self.node_list(id).await,
            };
        }
        let line = slurm(
            "scontrol",
            &["show".into(), "job".into(), "-o".into(), id.into()],
        )
        .await
        .unwrap_or_default();
        let f = fields(&line);
        let started_at = time(f.get("StartTime"));
        let ended_at = time(f.get("EndTime")).or_else(|| Some(Utc::now()));
        let wall = match (started_at, ended_at) {
            (Some(s), Some(e)) => (e - s).num_seconds().max(0) as u64,
            _ => 0,
        };
        let cpus = f
            .get("NumCPUs")
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(1);
        Status::Ended {
            outcome: outcome(state, exit_code(f.get("ExitCode"))),
            usage: Usage {
                started_at,
                ended_at,
                wall_seconds: wall,
                cpu_seconds: wall * cpus,
            },
            node_list: f.get("NodeList").map(|s| s.to_string()).unwrap_or_default(),
        }
    }

    /// The nodes of a job Slurm still knows.
    async fn node_list(&self, id: &str) -> String {
        let line = slurm(
            "scontrol",
            &["show".into(), "job".into(), "-o".into(), id.into()],
        )
        .await
        .unwrap_or_default();
        fields(&line)
            .get("NodeList")
            .map(|s| s.to_string())
            .unwrap_or_default()
    }

    /// An attempt Slurm no longer knows: what its supervisor recorded, if anything.
    fn forgotten(&self, id: &str, dir: &Path) -> Status {
        match Ended::read(dir) {
            Some(ended) => Status::Ended {
                outcome: ended.outcome(),
                usage: ended.usage(),
                node_list: String::new(),
            },
            None => Status::Ended {
                outcome: Outcome::NodeFailure {
                    detail: format!("Slurm no longer knows job {id}"),
                },
                usage: Usage::default(),
                node_list: String::new(),
            },
        }
    }
}

/// Every job of this user that the controller remembers (finished ones included), one
/// line each in `format`.
async fn squeue_all(format: &str) -> Result<String, ExecutorError> {
    let args = ["--me", "-h", "-t", "all", "-o", format].map(String::from);
    slurm("squeue", &args).await
}

#[async_trait]
impl Executor for SlurmExecutor {
    async fn submit(&self, spec: &AttemptSpec) -> Result<String, ExecutorError> {
        let plan = spec.plan(&self.sandbox);
        let memory_mb = plan.limits.memory_mb;
        let batch = self.sandbox.prepare(&plan)?;
        let dir = spec.dir.display();
        let args = vec![
            "--parsable".to_owned(),
            format!("--job-name={}", spec.key),
            format!("--partition={}", self.partition),
            format!("--chdir={dir}"),
            // the supervisor's own messages; the job's logs are written by the supervisor
            format!("--output={dir}/supervisor.log"),
            format!("--nodes={}", spec.nodes),
            format!("--ntasks={}", spec.tasks),
            format!("--time={}", minutes(spec)),
            format!("--mem={memory_mb}M"),
            // nothing of Medgrid's environment reaches the job (the token is in the sandbox's
            // own files)
            "--export=NONE".to_owned(),
            batch.display().to_string(),
        ];
        let out = slurm("sbatch", &args).await?;
        let id = out.trim().split(';').next().unwrap_or_default().to_owned();
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
            return Err(ExecutorError::Unavailable(format!(
                "sbatch answered {out:?}"
            )));
        }
        Ok(id)
    }

    async fn find(&self, attempts: &[Tracked]) -> Result<HashMap<String, String>, ExecutorError> {
        if attempts.is_empty() {
            return Ok(HashMap::new());
        }
        // one call whatever the number of attempts: job names are the attempt keys
        let out = squeue_all("%j|%i").await?;
        let keys: std::collections::HashSet<&str> =
            attempts.iter().map(|a| a.key.as_str()).collect();
        Ok(out
            .lines()
            .filter_map(|l| l.trim().split_once('|'))
            .filter(|(name, _)| keys.contains(name))
            .map(|(name, id)| (name.to_owned(), id.to_owned()))
            .collect())
    }

    async fn poll(&self, attempts: &[Tracked]) -> Result<Vec<(String, Status)>, ExecutorError> {
        // one call for every attempt: the cost does not grow with the number polled
        let out = squeue_all("%i|%T|%N|%S").await?;
        let known: HashMap<&str, (&str, &str, &str)> = out
            .lines()
            .filter_map(|l| {
                let mut parts = l.trim().split('|');
                Some((parts.next()?, (parts.next()?, parts.next()?, parts.next()?)))
            })
            .collect();
        let mut statuses = Vec::new();
        for a in attempts {
            let Some(id) = a.external_id.as_deref() else {
                continue;
            };
            let status = match known.get(id) {
                None => self.forgotten(id, &a.dir),
                Some((state, _, _)) if is_final(state) => {
                    self.final_status(id, state, &a.dir).await
                }
                Some(("RUNNING" | "COMPLETING" | "SIGNALING" | "STAGE_OUT", nodes, start)) => {
                    Status::Running {
                        node_list: nodes.to_string(),
                        started_at: time(Some(start)).unwrap_or_else(Utc::now),
                    }
                }
                Some(_) => Status::Pending,
            };
            statuses.push((a.key.clone(), status));
        }
        Ok(statuses)
    }

    async fn cancel(&self, attempt: &Tracked) -> Result<(), ExecutorError> {
        let id = match &attempt.external_id {
            Some(id) => Some(id.clone()),
            None => self
                .find(std::slice::from_ref(attempt))
                .await?
                .remove(&attempt.key),
        };
        if let Some(id) = id {
            slurm("scancel", &[id]).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_exit_codes_and_final_states() {
        let f = fields("JobId=7 JobState=FAILED ExitCode=3:0 NumCPUs=2");
        assert_eq!(exit_code(f.get("ExitCode")), Some(3));
        assert_eq!(exit_code(Some(&"0:9")), Some(137));
        assert_eq!(outcome("FAILED", Some(3)), Outcome::ExitCode { code: 3 });
        assert_eq!(outcome("TIMEOUT", None), Outcome::Timeout);
        assert_eq!(
            outcome("NODE_FAIL", None),
            Outcome::NodeFailure {
                detail: "NODE_FAIL".into()
            }
        );
        assert!(is_final("COMPLETED") && !is_final("PENDING"));
    }
}
