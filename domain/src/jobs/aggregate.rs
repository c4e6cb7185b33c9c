use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};

use crate::idempotency::{Idempotency, Repeat, repeat};

use super::event::{NewJob, OutputFile, Placement, Usage};
use super::qos::{Outcome, ReplicaCancel, RetryPolicy};
use super::{JobCommand, JobError, JobEvent, JobState};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Attempt {
    placement: Placement,
    external_id: Option<String>,
    running: bool,
    ended: bool,
    cancel_requested: bool,
    /// What it was last said to wait for before its submission.
    preparing: Option<String>,
}

impl Attempt {
    fn active(&self) -> bool {
        !self.ended
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct JobData {
    state: JobState,
    placements: Vec<Placement>,
    retry: RetryPolicy,
    replica_cancel: ReplicaCancel,
    attempts: BTreeMap<u32, Attempt>,
    /// The retry waiting to be planned: its number and when it may start.
    pending_retry: Option<(u32, DateTime<Utc>)>,
    /// Whether the outputs were put in the owner's space (or given up on).
    #[serde(default)]
    outputs_settled: bool,
    /// The key and request it was submitted under, if any: a retry of the same request
    /// submits nothing.
    #[serde(default)]
    idempotency: Option<Idempotency>,
}

/// A job. The dispatcher reports what resources say; the job decides what follows, so
/// that every job reaches exactly one terminal state whatever order reports come in.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    data: Option<JobData>,
}

const MAX_REPLICAS: usize = 8;

fn invalid(field: &'static str, rule: &'static str) -> JobError {
    JobError::Invalid { field, rule }
}

fn check_new(job: &NewJob) -> Result<(), JobError> {
    if job.placements.is_empty() || job.placements.len() > MAX_REPLICAS {
        return Err(invalid("replicas", "must name 1 to 8 placements"));
    }
    if job.placements.iter().any(|p| p.nodes == 0) {
        return Err(invalid("nodes", "must be at least 1"));
    }
    let retry = &job.retry;
    if retry.max_attempts == 0 || retry.max_attempts > RetryPolicy::MAX_ATTEMPTS {
        return Err(invalid("retry.maxAttempts", "must be 1 to 10"));
    }
    if retry.backoff_seconds > RetryPolicy::MAX_BACKOFF_SECONDS {
        return Err(invalid("retry.backoffSeconds", "must be at most 86400"));
    }
    if job.walltime_seconds == 0 {
        return Err(invalid("walltimeSeconds", "must be at least 1"));
    }
    Ok(())
}

impl JobData {
    /// Outputs are saved once, after success; a second report (a retry) changes nothing.
    fn settle_outputs(&self, event: JobEvent) -> Result<Vec<JobEvent>, JobError> {
        if self.state != JobState::Succeeded {
            return Err(JobError::NotSucceeded {
                state: self.state.as_str(),
            });
        }
        Ok(if self.outputs_settled {
            vec![]
        } else {
            vec![event]
        })
    }

    fn require_unfinished(&self) -> Result<(), JobError> {
        if self.state.is_terminal() {
            return Err(JobError::Finished {
                state: self.state.as_str(),
            });
        }
        Ok(())
    }

    fn attempt(&self, n: u32) -> Result<&Attempt, JobError> {
        self.attempts.get(&n).ok_or(JobError::NoSuchAttempt(n))
    }

    /// Where retry number `n` runs: the alternates in turn, else where attempt `n - 1` ran.
    fn retry_placement(&self, n: u32) -> Placement {
        let alternates = &self.retry.alternates;
        if !alternates.is_empty() {
            let index = n as usize - self.placements.len() - 1;
            return alternates[index % alternates.len()].clone();
        }
        self.attempts
            .get(&(n - 1))
            .map_or_else(|| self.placements[0].clone(), |a| a.placement.clone())
    }

    /// Stops every other attempt still going.
    fn cancel_others(&self, except: Option<u32>, reason: &str) -> Vec<JobEvent> {
        self.attempts
            .iter()
            .filter(|(n, a)| Some(**n) != except && a.active() && !a.cancel_requested)
            .map(|(n, _)| JobEvent::AttemptCancelRequested {
                attempt: *n,
                reason: reason.to_owned(),
            })
            .collect()
    }

    fn plan(&self, now: DateTime<Utc>) -> Vec<JobEvent> {
        match (self.state, self.pending_retry) {
            (JobState::Queued, _) if self.attempts.is_empty() => (1u32..)
                .zip(&self.placements)
                .map(|(attempt, placement)| JobEvent::AttemptPlanned {
                    attempt,
                    placement: placement.clone(),
                })
                .collect(),
            (JobState::Retrying, Some((n, not_before))) if now >= not_before => {
                vec![JobEvent::AttemptPlanned {
                    attempt: n,
                    placement: self.retry_placement(n),
                }]
            }
            _ => vec![],
        }
    }

    /// Says what a planned attempt waits for, once per reason.
    fn preparing(&self, attempt: u32, reason: String) -> Result<Vec<JobEvent>, JobError> {
        let a = self.attempt(attempt)?;
        if a.external_id.is_some() || a.ended || a.preparing.as_ref() == Some(&reason) {
            return Ok(vec![]);
        }
        Ok(vec![JobEvent::AttemptPreparing { attempt, reason }])
    }

    fn submitted(&self, attempt: u32, external_id: String) -> Result<Vec<JobEvent>, JobError> {
        let a = self.attempt(attempt)?;
        if a.external_id.is_some() {
            return Ok(vec![]);
        }
        let reason = match a.placement.kind.as_str() {
            "slurm" => format!(
                "Submitted to {} as job {external_id}",
                a.placement.describe()
            ),
            _ => format!(
                "Started on {} as process {external_id}",
                a.placement.describe()
            ),
        };
        Ok(vec![JobEvent::AttemptSubmitted {
            attempt,
            external_id,
            reason,
        }])
    }

    fn started(
        &self,
        attempt: u32,
        node_list: String,
        at: DateTime<Utc>,
    ) -> Result<Vec<JobEvent>, JobError> {
        let a = self.attempt(attempt)?;
        if a.running || a.ended {
            return Ok(vec![]);
        }
        let on = if node_list.is_empty() {
            a.placement.describe()
        } else {
            format!("{} ({node_list})", a.placement.describe())
        };
        let mut events = vec![JobEvent::AttemptStarted {
            attempt,
            reason: format!("Running on {on}"),
            node_list,
            at,
        }];
        // a replica already told to stop lost the race to another that started first
        if self.replica_cancel == ReplicaCancel::OnStart
            && !self.state.is_terminal()
            && !a.cancel_requested
        {
            let reason = format!("Replica on {} started first", a.placement.describe());
            events.extend(self.cancel_others(Some(attempt), &reason));
        }
        Ok(events)
    }

    fn ended(
        &self,
        attempt: u32,
        outcome: Outcome,
        usage: Usage,
        outputs: Vec<OutputFile>,
        now: DateTime<Utc>,
    ) -> Result<Vec<JobEvent>, JobError> {
        let a = self.attempt(attempt)?;
        if a.ended {
            return Ok(vec![]);
        }
        let on = a.placement.describe();
        let mut events = vec![JobEvent::AttemptEnded {
            attempt,
            reason: format!("{} on {on} (attempt {attempt})", outcome.describe()),
            outcome: outcome.clone(),
            usage,
        }];
        if self.state.is_terminal() {
            return Ok(events);
        }
        if outcome == Outcome::Succeeded {
            let files = outputs.len();
            events.push(JobEvent::JobSucceeded {
                attempt,
                outputs,
                reason: format!("Finished on {on} (attempt {attempt}); {files} output file(s)"),
            });
            events.extend(self.cancel_others(Some(attempt), "Another replica finished first"));
            return Ok(events);
        }
        let others_active = self
            .attempts
            .iter()
            .any(|(n, other)| *n != attempt && other.active() && !other.cancel_requested);
        if !others_active {
            events.push(self.after_failure(attempt, &outcome, now));
        }
        Ok(events)
    }

    /// The last attempt still going failed: retry, or fail for good.
    fn after_failure(&self, attempt: u32, outcome: &Outcome, now: DateTime<Utc>) -> JobEvent {
        let used = self.attempts.len() as u32;
        let max = self.retry.max_attempts;
        let what = outcome.describe();
        if self.retry.retries(outcome) && used < max {
            let next = used + 1;
            let delay = self.retry.delay_before(next);
            let placement = self.retry_placement(next);
            let when = if delay > 0 {
                format!(" in {delay} s")
            } else {
                String::new()
            };
            return JobEvent::JobRetrying {
                next_attempt: next,
                not_before: now + Duration::seconds(delay as i64),
                reason: format!(
                    "{what}; retrying on {}{when} (attempt {next} of {max})",
                    placement.describe()
                ),
            };
        }
        let why = if self.retry.retries(outcome) {
            format!("all {max} attempts used")
        } else if outcome.failure_class().is_none() {
            "stopped outside Medgrid".to_owned()
        } else {
            "this job's retry policy does not retry this failure".to_owned()
        };
        JobEvent::JobFailed {
            reason: format!("{what} on attempt {attempt}; not retried: {why}"),
        }
    }
}

impl JobData {
    /// A keyed submission onto this job: nothing if it is the request that made it.
    fn repeat(&self, idempotency: Option<&Idempotency>) -> Result<Vec<JobEvent>, JobError> {
        match repeat(self.idempotency.as_ref(), idempotency) {
            Repeat::Same => Ok(vec![]),
            Repeat::Conflict => Err(JobError::KeyReused),
        }
    }
}

impl Job {
    fn decide(&self, command: JobCommand) -> Result<Vec<JobEvent>, JobError> {
        let (d, command) = match (&self.data, command) {
            (None, JobCommand::Submit(job)) => {
                check_new(&job)?;
                return Ok(vec![JobEvent::JobSubmitted(job)]);
            }
            (None, _) => return Err(JobError::NotFound),
            (Some(d), command) => (d, command),
        };
        match (d, command) {
            (_, JobCommand::Submit(job)) if job.idempotency.is_none() => {
                Err(JobError::AlreadyExists)
            }
            (d, JobCommand::Submit(job)) => d.repeat(job.idempotency.as_ref()),
            (d, JobCommand::Repeat(idempotency)) => d.repeat(Some(&idempotency)),
            (d, JobCommand::Cancel { reason }) => {
                d.require_unfinished()?;
                let mut events = d.cancel_others(None, &reason);
                events.insert(0, JobEvent::JobCancelled { reason });
                Ok(events)
            }
            (d, JobCommand::Fail { reason }) => {
                d.require_unfinished()?;
                let mut events = d.cancel_others(None, &reason);
                events.insert(0, JobEvent::JobFailed { reason });
                Ok(events)
            }
            (d, JobCommand::Queue { reason }) if d.state == JobState::Submitted => {
                Ok(vec![JobEvent::JobQueued { reason }])
            }
            (_, JobCommand::Queue { .. }) => Ok(vec![]),
            (d, JobCommand::PlanAttempts { now }) => Ok(d.plan(now)),
            (d, JobCommand::RecordPreparing { attempt, reason }) => d.preparing(attempt, reason),
            (
                d,
                JobCommand::RecordSubmitted {
                    attempt,
                    external_id,
                },
            ) => d.submitted(attempt, external_id),
            (
                d,
                JobCommand::RecordStarted {
                    attempt,
                    node_list,
                    at,
                },
            ) => d.started(attempt, node_list, at),
            (
                d,
                JobCommand::RecordEnded {
                    attempt,
                    outcome,
                    usage,
                    outputs,
                    now,
                },
            ) => d.ended(attempt, outcome, usage, outputs, now),
            (
                d,
                JobCommand::RecordOutputsSaved {
                    space_id,
                    folder_id,
                    path,
                },
            ) => d.settle_outputs(JobEvent::OutputsSaved {
                space_id,
                folder_id,
                reason: format!("Outputs saved in {path}"),
                path,
            }),
            (d, JobCommand::RecordOutputsNotSaved { reason }) => {
                d.settle_outputs(JobEvent::OutputsNotSaved { reason })
            }
        }
    }
}

impl Aggregate for Job {
    const TYPE: &'static str = "Job";
    type Command = JobCommand;
    type Event = JobEvent;
    type Error = JobError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let decision = self.decide(command);
        crate::decide::record(self, decision, sink).await
    }

    fn apply(&mut self, event: Self::Event) {
        if let JobEvent::JobSubmitted(job) = event {
            self.data = Some(JobData {
                state: JobState::Submitted,
                placements: job.placements,
                retry: job.retry,
                replica_cancel: job.replica_cancel,
                attempts: BTreeMap::new(),
                pending_retry: None,
                outputs_settled: false,
                idempotency: job.idempotency,
            });
            return;
        }
        let Some(d) = self.data.as_mut() else {
            return;
        };
        match event {
            JobEvent::JobSubmitted(_) => {}
            JobEvent::JobQueued { .. } => d.state = JobState::Queued,
            JobEvent::AttemptPlanned { attempt, placement } => {
                if d.pending_retry.is_some_and(|(n, _)| n == attempt) {
                    d.pending_retry = None;
                }
                d.attempts.insert(
                    attempt,
                    Attempt {
                        placement,
                        external_id: None,
                        running: false,
                        ended: false,
                        cancel_requested: false,
                        preparing: None,
                    },
                );
            }
            JobEvent::AttemptPreparing { attempt, reason } => {
                if let Some(a) = d.attempts.get_mut(&attempt) {
                    a.preparing = Some(reason);
                }
            }

            JobEvent::AttemptSubmitted {
                attempt,
                external_id,
                ..
            } => {
                if let Some(a) = d.attempts.get_mut(&attempt) {
                    a.external_id = Some(external_id);
                }
                if matches!(
                    d.state,
                    JobState::Submitted | JobState::Queued | JobState::Retrying
                ) {
                    d.state = JobState::Scheduled;
                }
            }
            JobEvent::AttemptStarted { attempt, .. } => {
                if let Some(a) = d.attempts.get_mut(&attempt) {
                    a.running = true;
                }
                if !d.state.is_terminal() {
                    d.state = JobState::Running;
                }
            }
            JobEvent::AttemptCancelRequested { attempt, .. } => {
                if let Some(a) = d.attempts.get_mut(&attempt) {
                    a.cancel_requested = true;
                }
            }
            JobEvent::AttemptEnded { attempt, .. } => {
                if let Some(a) = d.attempts.get_mut(&attempt) {
                    a.ended = true;
                    a.running = false;
                }
            }
            JobEvent::JobRetrying {
                next_attempt,
                not_before,
                ..
            } => {
                d.state = JobState::Retrying;
                d.pending_retry = Some((next_attempt, not_before));
            }
            JobEvent::JobSucceeded { .. } => d.state = JobState::Succeeded,
            JobEvent::JobFailed { .. } => d.state = JobState::Failed,
            JobEvent::JobCancelled { .. } => d.state = JobState::Cancelled,
            JobEvent::OutputsSaved { .. } | JobEvent::OutputsNotSaved { .. } => {
                d.outputs_settled = true;
            }
        }
    }
}

#[cfg(test)]
mod tests;
