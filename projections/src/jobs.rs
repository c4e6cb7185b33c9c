//! Read model `jobs`: each job as it is now, its attempts and its timeline; the queries
//! the API and the dispatcher serve from them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use medgrid_domain::ids::{GroupId, JobId, MemberId, TenantId};
use medgrid_domain::jobs::{JobEvent, JobState, NewJob, Outcome, Placement};
use serde_json::Value;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use crate::event::{DomainEvent, StoredEvent};
use crate::page::{Page, PageRequest};
use crate::reader::{Read, Reader};
use crate::runner::{EventByEvent, ProjectionError};

pub struct Jobs;

#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct JobRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub owner_id: Uuid,
    pub group_id: Option<Uuid>,
    pub application_id: Uuid,
    pub application_name: String,
    pub application_version: String,
    pub parameters: Value,
    /// How the command line reads.
    pub command: String,
    /// What the job runs (`medgrid_domain::jobs::Invocation`); none for jobs submitted
    /// before invocations existed, which run `command`.
    pub invocation: Option<Value>,
    pub inputs: Value,
    pub output_specs: Value,
    pub placements: Value,
    pub tasks_per_node: i32,
    pub walltime_seconds: i64,
    pub retry: Value,
    pub replica_cancel: String,
    pub resubmitted_from: Option<Uuid>,
    pub state: String,
    pub reason: String,
    pub retry_at: Option<DateTime<Utc>>,
    pub outputs: Value,
    /// The folder of the owner's space the outputs were saved in.
    pub outputs_folder: Option<Uuid>,
    /// Why the outputs could not be saved there.
    pub outputs_note: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub position: i64,
    /// What the sandbox gives the job ([`medgrid_domain::jobs::JobSandbox`]).
    pub sandbox: Value,
}

#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct AttemptRow {
    pub job_id: Uuid,
    pub number: i32,
    pub tenant_id: Uuid,
    pub resource_id: Uuid,
    pub resource_name: String,
    pub kind: String,
    pub nodes: i32,
    pub state: String,
    pub external_id: Option<String>,
    pub node_list: Option<String>,
    pub cancel_requested: bool,
    pub outcome: Option<Value>,
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub wall_seconds: Option<i64>,
    pub cpu_seconds: Option<i64>,
    pub planned_at: DateTime<Utc>,
}

#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct TimelineRow {
    pub state: String,
    pub reason: String,
    pub attempt: Option<i32>,
    pub at: DateTime<Utc>,
}

const UNFINISHED: [&str; 5] = ["SUBMITTED", "QUEUED", "SCHEDULED", "RUNNING", "RETRYING"];

fn json(value: &impl serde::Serialize) -> Result<Value, ProjectionError> {
    serde_json::to_value(value).map_err(|e| ProjectionError::Apply(e.to_string()))
}

fn attempt_state(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Succeeded => "SUCCEEDED",
        Outcome::Cancelled => "CANCELLED",
        _ => "FAILED",
    }
}

fn describe(placements: &[Placement]) -> String {
    placements
        .iter()
        .map(Placement::describe)
        .collect::<Vec<_>>()
        .join(", ")
}

async fn insert_job(
    db: &mut PgConnection,
    e: &StoredEvent,
    job: &NewJob,
) -> Result<String, ProjectionError> {
    let reason = format!(
        "Submitted {} {} to run on {}",
        job.application.name,
        job.application.version,
        describe(&job.placements)
    );
    sqlx::query(
        "INSERT INTO jobs (id, tenant_id, owner_id, group_id, application_id, application_name,
                           application_version, parameters, command, inputs, output_specs, placements,
                           tasks_per_node, walltime_seconds, retry, replica_cancel, resubmitted_from,
                           state, reason, created_at, updated_at, position, sandbox, invocation)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                 'SUBMITTED', $18, $19, $19, $20, $21, $22)",
    )
    .bind(e.aggregate_uuid()?)
    .bind(job.tenant_id.as_uuid())
    .bind(job.owner.as_uuid())
    .bind(job.group_id.map(|g| g.as_uuid()))
    .bind(job.application.id.as_uuid())
    .bind(&job.application.name)
    .bind(&job.application.version)
    .bind(&job.parameters)
    .bind(&job.command)
    .bind(json(&job.inputs)?)
    .bind(json(&job.outputs)?)
    .bind(json(&job.placements)?)
    .bind(i32::try_from(job.tasks_per_node).unwrap_or(i32::MAX))
    .bind(i64::try_from(job.walltime_seconds).unwrap_or(i64::MAX))
    .bind(json(&job.retry)?)
    .bind(json(&job.replica_cancel)?.as_str().unwrap_or_default())
    .bind(job.resubmitted_from.map(|j| j.as_uuid()))
    .bind(&reason)
    .bind(e.recorded_at)
    .bind(e.position.global_position)
    .bind(json(&job.sandbox)?)
    // SQL NULL, not JSON null, when there is none
    .bind(job.invocation.as_ref().map(json).transpose()?)
    .execute(db)
    .await?;
    Ok(reason)
}

/// Moves the job to `target` if it is in one of `from`; the reason follows unless the job
/// has finished. Returns the state the job is in afterwards.
async fn transition(
    db: &mut PgConnection,
    e: &StoredEvent,
    target: JobState,
    from: &[&str],
    reason: &str,
) -> Result<String, ProjectionError> {
    let state: String = sqlx::query_scalar(
        "UPDATE jobs
            SET state  = CASE WHEN state = ANY($3) THEN $2 ELSE state END,
                reason = CASE WHEN state = ANY($5) THEN $4 ELSE reason END,
                updated_at = $6
          WHERE id = $1
      RETURNING state",
    )
    .bind(e.aggregate_uuid()?)
    .bind(target.as_str())
    .bind(from)
    .bind(reason)
    .bind(&UNFINISHED[..])
    .bind(e.recorded_at)
    .fetch_one(db)
    .await?;
    Ok(state)
}

async fn outputs_settled(
    db: &mut PgConnection,
    e: &StoredEvent,
    folder: Option<Uuid>,
    note: Option<&str>,
) -> Result<(), ProjectionError> {
    sqlx::query("UPDATE jobs SET outputs_folder = $2, outputs_note = $3 WHERE id = $1")
        .bind(e.aggregate_uuid()?)
        .bind(folder)
        .bind(note)
        .execute(db)
        .await?;
    Ok(())
}

async fn timeline(
    db: &mut PgConnection,
    e: &StoredEvent,
    state: &str,
    reason: &str,
    attempt: Option<u32>,
) -> Result<(), ProjectionError> {
    sqlx::query(
        "INSERT INTO job_timeline (job_id, sequence, tenant_id, state, reason, attempt, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(e.aggregate_uuid()?)
    .bind(e.sequence)
    .bind(e.meta.tenant_id.as_uuid())
    .bind(state)
    .bind(reason)
    .bind(attempt.map(|n| i32::try_from(n).unwrap_or(i32::MAX)))
    .bind(e.recorded_at)
    .execute(db)
    .await?;
    Ok(())
}

/// Applies a change of state and writes its timeline entry.
async fn transit(
    db: &mut PgConnection,
    e: &StoredEvent,
    target: JobState,
    from: &[&str],
    reason: &str,
    attempt: Option<u32>,
) -> Result<(), ProjectionError> {
    let state = transition(db, e, target, from, reason).await?;
    timeline(db, e, &state, reason, attempt).await
}

/// The key of an attempt's row.
fn attempt_key(e: &StoredEvent, attempt: u32) -> Result<(Uuid, i32), ProjectionError> {
    Ok((
        e.aggregate_uuid()?,
        i32::try_from(attempt).unwrap_or(i32::MAX),
    ))
}

#[async_trait]
impl EventByEvent for Jobs {
    fn name(&self) -> &'static str {
        "jobs"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["job_timeline", "job_attempts", "jobs"]
    }

    fn consumes(&self) -> &'static [&'static str] {
        &["Job"]
    }

    async fn apply_one(
        &self,
        db: &mut PgConnection,
        e: &StoredEvent,
    ) -> Result<(), ProjectionError> {
        let DomainEvent::Job(event) = &e.event else {
            return Ok(());
        };
        let waiting = ["SUBMITTED", "QUEUED", "RETRYING"];
        match &**event {
            JobEvent::JobSubmitted(job) => {
                let reason = insert_job(db, e, job).await?;
                timeline(db, e, "SUBMITTED", &reason, None).await?;
            }
            JobEvent::JobQueued { reason } => {
                transit(db, e, JobState::Queued, &["SUBMITTED"], reason, None).await?;
            }
            JobEvent::AttemptPlanned { attempt, placement } => {
                sqlx::query(
                    "INSERT INTO job_attempts (job_id, number, tenant_id, resource_id, resource_name, kind,
                                               nodes, state, planned_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 'QUEUED', $8)",
                )
                .bind(e.aggregate_uuid()?)
                .bind(i32::try_from(*attempt).unwrap_or(i32::MAX))
                .bind(e.meta.tenant_id.as_uuid())
                .bind(placement.resource_id.as_uuid())
                .bind(&placement.resource_name)
                .bind(&placement.kind)
                .bind(i32::try_from(placement.nodes).unwrap_or(i32::MAX))
                .bind(e.recorded_at)
                .execute(&mut *db)
                .await?;
            }
            JobEvent::AttemptPreparing { reason, .. } => {
                // the job's reason only: no change of state, no timeline line
                sqlx::query(
                    "UPDATE jobs SET reason = $2, updated_at = $3
                      WHERE id = $1 AND state = ANY($4)",
                )
                .bind(e.aggregate_uuid()?)
                .bind(reason)
                .bind(e.recorded_at)
                .bind(&UNFINISHED[..])
                .execute(&mut *db)
                .await?;
            }
            JobEvent::AttemptSubmitted {
                attempt,
                external_id,
                reason,
            } => {
                let (job, n) = attempt_key(e, *attempt)?;
                sqlx::query(
                    "UPDATE job_attempts
                        SET external_id = $3,
                            state = CASE WHEN state = 'QUEUED' THEN 'SCHEDULED' ELSE state END
                      WHERE job_id = $1 AND number = $2",
                )
                .bind(job)
                .bind(n)
                .bind(external_id)
                .execute(&mut *db)
                .await?;
                transit(db, e, JobState::Scheduled, &waiting, reason, Some(*attempt)).await?;
            }
            JobEvent::AttemptStarted {
                attempt,
                node_list,
                at,
                reason,
            } => {
                let (job, n) = attempt_key(e, *attempt)?;
                sqlx::query(
                    "UPDATE job_attempts SET state = 'RUNNING', node_list = $3, started_at = $4
                      WHERE job_id = $1 AND number = $2",
                )
                .bind(job)
                .bind(n)
                .bind(node_list)
                .bind(at)
                .execute(&mut *db)
                .await?;
                let from = ["SUBMITTED", "QUEUED", "RETRYING", "SCHEDULED"];
                transit(db, e, JobState::Running, &from, reason, Some(*attempt)).await?;
            }
            JobEvent::AttemptCancelRequested { attempt, .. } => {
                let (job, n) = attempt_key(e, *attempt)?;
                sqlx::query(
                    "UPDATE job_attempts SET cancel_requested = true WHERE job_id = $1 AND number = $2",
                )
                .bind(job)
                .bind(n)
                .execute(&mut *db)
                .await?;
            }
            JobEvent::AttemptEnded {
                attempt,
                outcome,
                usage,
                reason,
            } => {
                let exit_code = match outcome {
                    Outcome::Succeeded => Some(0),
                    Outcome::ExitCode { code } => Some(*code),
                    _ => None,
                };
                let (job, n) = attempt_key(e, *attempt)?;
                sqlx::query(
                    "UPDATE job_attempts
                        SET state = $3, outcome = $4, exit_code = $5, reason = $6,
                            started_at = COALESCE($7, started_at), ended_at = COALESCE($8, $11),
                            wall_seconds = $9, cpu_seconds = $10, node_list = COALESCE(node_list, '')
                      WHERE job_id = $1 AND number = $2",
                )
                .bind(job)
                .bind(n)
                .bind(attempt_state(outcome))
                .bind(json(outcome)?)
                .bind(exit_code)
                .bind(reason)
                .bind(usage.started_at)
                .bind(usage.ended_at)
                .bind(i64::try_from(usage.wall_seconds).unwrap_or(i64::MAX))
                .bind(i64::try_from(usage.cpu_seconds).unwrap_or(i64::MAX))
                .bind(e.recorded_at)
                .execute(&mut *db)
                .await?;
            }
            JobEvent::JobRetrying {
                next_attempt,
                not_before,
                reason,
            } => {
                sqlx::query("UPDATE jobs SET retry_at = $2 WHERE id = $1")
                    .bind(e.aggregate_uuid()?)
                    .bind(not_before)
                    .execute(&mut *db)
                    .await?;
                let from = ["SCHEDULED", "RUNNING", "QUEUED"];
                transit(
                    db,
                    e,
                    JobState::Retrying,
                    &from,
                    reason,
                    Some(*next_attempt),
                )
                .await?;
            }
            JobEvent::JobSucceeded {
                attempt,
                outputs,
                reason,
            } => {
                sqlx::query("UPDATE jobs SET outputs = $2 WHERE id = $1")
                    .bind(e.aggregate_uuid()?)
                    .bind(json(outputs)?)
                    .execute(&mut *db)
                    .await?;
                transit(
                    db,
                    e,
                    JobState::Succeeded,
                    &UNFINISHED,
                    reason,
                    Some(*attempt),
                )
                .await?;
            }
            JobEvent::JobFailed { reason } => {
                transit(db, e, JobState::Failed, &UNFINISHED, reason, None).await?;
            }
            // not timeline lines: the timeline holds state transitions, one terminal each
            JobEvent::OutputsSaved { folder_id, .. } => {
                outputs_settled(db, e, Some(folder_id.as_uuid()), None).await?;
            }
            JobEvent::OutputsNotSaved { reason } => {
                outputs_settled(db, e, None, Some(reason)).await?;
            }
            JobEvent::JobCancelled { reason } => {
                transit(db, e, JobState::Cancelled, &UNFINISHED, reason, None).await?;
            }
        }
        Ok(())
    }
}

const JOB_COLUMNS: &str = "id, tenant_id, owner_id, group_id, application_id, application_name,
    application_version, parameters, command, invocation, inputs, output_specs, placements,
    tasks_per_node, walltime_seconds, retry, replica_cancel, resubmitted_from, state, reason,
    retry_at, outputs, outputs_folder, outputs_note, created_at, updated_at, position, sandbox";

const ATTEMPT_COLUMNS: &str = "job_id, number, tenant_id, resource_id, resource_name, kind, nodes,
    state, external_id, node_list, cancel_requested, outcome, exit_code, reason, started_at,
    ended_at, wall_seconds, cpu_seconds, planned_at";

pub async fn by_id(db: &Reader, id: JobId) -> Result<Option<JobRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"))
        .bind(id.as_uuid())
        .optional(db)
        .await
}

/// Many jobs in one query (those that exist).
pub async fn by_ids(db: &Reader, ids: &[Uuid]) -> Result<Vec<JobRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {JOB_COLUMNS} FROM jobs WHERE id = ANY($1)"
    ))
    .bind(ids)
    .all(db)
    .await
}

pub async fn attempts(db: &Reader, id: JobId) -> Result<Vec<AttemptRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {ATTEMPT_COLUMNS} FROM job_attempts WHERE job_id = $1 ORDER BY number"
    ))
    .bind(id.as_uuid())
    .all(db)
    .await
}

pub async fn timeline_of(db: &Reader, id: JobId) -> Result<Vec<TimelineRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT state, reason, attempt, at FROM job_timeline WHERE job_id = $1 ORDER BY sequence",
    )
    .bind(id.as_uuid())
    .all(db)
    .await
}

/// Which of a tenant's jobs a caller sees: all of them, or their own and their groups'.
#[derive(Debug, Clone)]
pub struct Visibility {
    pub tenant: TenantId,
    pub everything: bool,
    pub member: Option<MemberId>,
    pub groups: Vec<GroupId>,
}

/// Filters clients may set on a list.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    pub states: Vec<JobState>,
    pub application: Option<Uuid>,
    pub owner: Option<MemberId>,
}

/// A page of jobs, newest first; `after` is the position of the last job seen.
pub async fn list(
    db: &Reader,
    seen: &Visibility,
    filter: &JobFilter,
    page: PageRequest,
) -> Result<Page<JobRow>, sqlx::Error> {
    let states: Vec<&str> = filter.states.iter().map(|s| s.as_str()).collect();
    let groups: Vec<Uuid> = seen.groups.iter().map(GroupId::as_uuid).collect();
    let rows = sqlx::query_as(&format!(
        "SELECT {JOB_COLUMNS} FROM jobs
          WHERE tenant_id = $1
            AND ($2 OR owner_id = $3 OR group_id = ANY($4))
            AND (cardinality($5::text[]) = 0 OR state = ANY($5))
            AND ($6::uuid IS NULL OR application_id = $6)
            AND ($7::uuid IS NULL OR owner_id = $7)
            AND ($8::bigint IS NULL OR position < $8)
          ORDER BY position DESC
          LIMIT $9"
    ))
    .bind(seen.tenant.as_uuid())
    .bind(seen.everything)
    .bind(seen.member.map(|m| m.as_uuid()))
    .bind(groups)
    .bind(states)
    .bind(filter.application)
    .bind(filter.owner.map(|m| m.as_uuid()))
    .bind(page.after)
    .bind(page.limit())
    .all(db)
    .await?;
    Ok(Page::from_fetched(rows, page.first))
}

/// Unfinished jobs in `states`, oldest first, at most `limit`: the dispatcher's queue.
pub async fn unfinished(
    db: &Reader,
    states: &[JobState],
    limit: i64,
) -> Result<Vec<JobRow>, sqlx::Error> {
    let states: Vec<&str> = states.iter().map(|s| s.as_str()).collect();
    sqlx::query_as(&format!(
        "SELECT {JOB_COLUMNS} FROM jobs WHERE state = ANY($1) ORDER BY position LIMIT $2"
    ))
    .bind(states)
    .bind(limit)
    .all(db)
    .await
}

/// Succeeded jobs with outputs the archiver has yet to put in their owners' spaces.
pub async fn outputs_unsaved(db: &Reader, limit: i64) -> Result<Vec<JobRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {JOB_COLUMNS} FROM jobs
          WHERE state = 'SUCCEEDED' AND outputs_folder IS NULL AND outputs_note IS NULL
            AND outputs <> '[]'::jsonb
          ORDER BY position LIMIT $1"
    ))
    .bind(limit)
    .all(db)
    .await
}

/// Attempts not yet ended, on every resource: what the dispatcher submits, polls, cancels.
pub async fn active_attempts(db: &Reader) -> Result<Vec<AttemptRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {ATTEMPT_COLUMNS} FROM job_attempts WHERE ended_at IS NULL ORDER BY planned_at, job_id, number"
    ))
    .all(db)
    .await
}

/// Jobs waiting for an attempt (queued, or retrying and due), taking turns across tenants.
/// A tenant's n-th waiting job comes in turn n plus its attempts already running, so one
/// tenant's thousand jobs do not starve another's one; within a turn, the tenant served
/// least recently goes first (round robin).
pub async fn fair_queue(
    db: &Reader,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<JobRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "WITH waiting AS (
            SELECT j.*, row_number() OVER (PARTITION BY j.tenant_id ORDER BY j.position) AS rn
              FROM jobs j
             WHERE (j.state = 'QUEUED' OR (j.state = 'RETRYING' AND j.retry_at <= $1))
               AND NOT EXISTS (SELECT 1 FROM job_attempts a WHERE a.job_id = j.id AND a.ended_at IS NULL)
         ), tenants AS (
            SELECT t.tenant_id,
                   (SELECT count(*) FROM job_attempts a
                     WHERE a.tenant_id = t.tenant_id AND a.ended_at IS NULL) AS running,
                   (SELECT max(a.planned_at) FROM job_attempts a WHERE a.tenant_id = t.tenant_id) AS served
              FROM (SELECT DISTINCT tenant_id FROM waiting) t
         )
         SELECT {JOB_COLUMNS} FROM waiting JOIN tenants USING (tenant_id)
          ORDER BY rn + running, served NULLS FIRST, position
          LIMIT $2"
    ))
    .bind(now)
    .bind(limit)
    .all(db)
    .await
}
