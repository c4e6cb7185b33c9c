//! GraphQL types of jobs: the job, its attempts, timeline, logs and outputs; the inputs
//! of `submitJob`.

use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use medgrid_domain::Code;
use medgrid_domain::ids::{JobId, NodeId};
use medgrid_domain::jobs::{self as domain, FailureClass, ReplicaCancel};
use medgrid_domain::ports::LogStream;
use medgrid_projections::jobs::{self, AttemptRow, JobRow};
use serde_json::Value;

use crate::ApiError;
use crate::space_types::SpaceNode;
use crate::types::{scope, services};
use crate::usecases::jobs::{PlacementRequest, RetryRequest, SubmitRequest};
use crate::usecases::spaces;

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum JobState {
    Submitted,
    Queued,
    Scheduled,
    Running,
    Retrying,
    Succeeded,
    Failed,
    Cancelled,
}

impl From<JobState> for domain::JobState {
    fn from(s: JobState) -> Self {
        match s {
            JobState::Submitted => Self::Submitted,
            JobState::Queued => Self::Queued,
            JobState::Scheduled => Self::Scheduled,
            JobState::Running => Self::Running,
            JobState::Retrying => Self::Retrying,
            JobState::Succeeded => Self::Succeeded,
            JobState::Failed => Self::Failed,
            JobState::Cancelled => Self::Cancelled,
        }
    }
}

fn state(s: &str) -> JobState {
    match domain::JobState::parse(s) {
        Some(domain::JobState::Submitted) | None => JobState::Submitted,
        Some(domain::JobState::Queued) => JobState::Queued,
        Some(domain::JobState::Scheduled) => JobState::Scheduled,
        Some(domain::JobState::Running) => JobState::Running,
        Some(domain::JobState::Retrying) => JobState::Retrying,
        Some(domain::JobState::Succeeded) => JobState::Succeeded,
        Some(domain::JobState::Failed) => JobState::Failed,
        Some(domain::JobState::Cancelled) => JobState::Cancelled,
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "FailureClass")]
pub enum FailureClassName {
    NodeFailure,
    Timeout,
    ExitCode,
}

impl From<FailureClassName> for FailureClass {
    fn from(c: FailureClassName) -> Self {
        match c {
            FailureClassName::NodeFailure => Self::NodeFailure,
            FailureClassName::Timeout => Self::Timeout,
            FailureClassName::ExitCode => Self::ExitCode,
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, Default)]
#[graphql(name = "ReplicaCancel")]
pub enum ReplicaCancelName {
    /// Stop the other replicas as soon as one starts running.
    OnStart,
    /// Stop them when one finishes successfully.
    #[default]
    OnFinish,
}

#[derive(InputObject)]
pub struct RetryInput {
    /// Attempts in all, the first included (1 to 10; default 3).
    max_attempts: Option<u32>,
    /// Failure classes retried (default: NODE_FAILURE only).
    on: Option<Vec<FailureClassName>>,
    /// With EXIT_CODE: only these codes (default: any non-zero).
    #[graphql(default)]
    exit_codes: Vec<i32>,
    /// Wait before the second attempt, doubled for each further one (default 30).
    backoff_seconds: Option<u64>,
    /// Resources (ids or names) retries run on, in turn.
    #[graphql(default)]
    alternate_resource_ids: Vec<ID>,
}

#[derive(InputObject)]
pub struct ReplicaInput {
    resource_id: ID,
    nodes: Option<u32>,
}

#[derive(InputObject)]
pub struct SubmitJobInput {
    application_id: ID,
    parameters: Json<Value>,
    /// Where the job runs (id or name; the first is used). Default: `local`.
    #[graphql(default)]
    resource_ids: Vec<ID>,
    nodes: Option<u32>,
    retry: Option<RetryInput>,
    /// Run the job on each of these at once; the first to succeed wins.
    #[graphql(default)]
    replicas: Vec<ReplicaInput>,
    #[graphql(default)]
    replica_cancel: ReplicaCancelName,
    walltime_seconds: Option<u64>,
    /// Share the job with a group: its managers see it.
    group_id: Option<ID>,
    /// Your name for this submission (e.g. a UUID you generate): retrying with the same
    /// key within 24 hours answers the job the first request made instead of submitting
    /// another; the same key with different input is CONFLICT.
    idempotency_key: Option<String>,
}

impl From<SubmitJobInput> for SubmitRequest {
    fn from(i: SubmitJobInput) -> Self {
        Self {
            application: i.application_id.0,
            parameters: i.parameters.0,
            resources: i.resource_ids.iter().map(|id| id.0.clone()).collect(),
            nodes: i.nodes,
            retry: i.retry.map(|r| RetryRequest {
                max_attempts: r.max_attempts,
                on: r.on.map(|on| on.into_iter().map(Into::into).collect()),
                exit_codes: r.exit_codes,
                backoff_seconds: r.backoff_seconds,
                alternate_resources: r
                    .alternate_resource_ids
                    .iter()
                    .map(|id| id.0.clone())
                    .collect(),
            }),
            replicas: i
                .replicas
                .into_iter()
                .map(|r| PlacementRequest {
                    resource: r.resource_id.0,
                    nodes: r.nodes,
                })
                .collect(),
            replica_cancel: match i.replica_cancel {
                ReplicaCancelName::OnStart => ReplicaCancel::OnStart,
                ReplicaCancelName::OnFinish => ReplicaCancel::OnFinish,
            },
            walltime_seconds: i.walltime_seconds,
            group: i.group_id.map(|g| g.0),
            idempotency_key: i.idempotency_key,
        }
    }
}

#[derive(InputObject, Default)]
pub struct JobFilterInput {
    #[graphql(default)]
    pub state: Vec<JobState>,
    pub application_id: Option<ID>,
    pub owner: Option<ID>,
}

#[derive(SimpleObject)]
pub struct ApplicationRef {
    id: ID,
    name: String,
    version: String,
}

#[derive(SimpleObject)]
pub struct ResourceRef {
    id: ID,
    name: String,
}

#[derive(SimpleObject)]
pub struct TimelineEntry {
    state: JobState,
    reason: String,
    at: DateTime<Utc>,
    attempt: Option<i32>,
}

#[derive(SimpleObject)]
#[graphql(complex)]
pub struct JobOutput {
    path: String,
    size: u64,
    /// GET it with the same bearer token.
    download_url: String,
    #[graphql(skip)]
    folder: Option<NodeId>,
}

#[ComplexObject]
impl JobOutput {
    /// The file in the owner's space (`/home/jobs/<job>/…`) once the outputs are saved
    /// there; None before, or when the caller may not see it (or it is gone).
    async fn node(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<SpaceNode>> {
        let Some(folder) = self.folder else {
            return Ok(None);
        };
        let id = domain::OutputFile::node_in(folder, &self.path);
        visible_node(ctx, id).await
    }
}

/// A node of a space if the caller may see it; None when not (or gone).
async fn visible_node(ctx: &Context<'_>, id: NodeId) -> async_graphql::Result<Option<SpaceNode>> {
    match spaces::located(&scope(ctx)?, &id.to_string()).await {
        Ok(at) => Ok(Some(SpaceNode(at))),
        Err(e) if e.code == Code::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// A piece of a log.
#[derive(SimpleObject)]
pub struct Log {
    text: String,
    /// The whole log's size in bytes.
    size: u64,
    /// Whether `text` is the whole log.
    complete: bool,
}

/// The most of a log one request returns.
const MAX_LOG_BYTES: u64 = 1024 * 1024;

pub struct Job(pub JobRow);

#[Object]
impl Job {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn state(&self) -> JobState {
        state(&self.0.state)
    }
    /// Why the job is in its state, for a person.
    async fn reason(&self) -> &str {
        &self.0.reason
    }
    async fn application(&self) -> ApplicationRef {
        ApplicationRef {
            id: ID(self.0.application_id.to_string()),
            name: self.0.application_name.clone(),
            version: self.0.application_version.clone(),
        }
    }
    async fn parameters(&self) -> Json<Value> {
        Json(self.0.parameters.clone())
    }
    /// The command line attempts run.
    async fn command_line(&self) -> &str {
        &self.0.command
    }
    async fn owner_id(&self) -> ID {
        ID(self.0.owner_id.to_string())
    }
    async fn group_id(&self) -> Option<ID> {
        self.0.group_id.map(|g| ID(g.to_string()))
    }
    async fn resubmitted_from(&self) -> Option<ID> {
        self.0.resubmitted_from.map(|j| ID(j.to_string()))
    }
    async fn walltime_seconds(&self) -> i64 {
        self.0.walltime_seconds
    }
    async fn retry(&self) -> Json<Value> {
        Json(self.0.retry.clone())
    }
    async fn attempts(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Attempt>> {
        let rows = jobs::attempts(
            &crate::types::scope(ctx)?.reader(),
            JobId::from_uuid(self.0.id),
        )
        .await?;
        Ok(rows.into_iter().map(Attempt).collect())
    }
    async fn timeline(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<TimelineEntry>> {
        let rows = jobs::timeline_of(
            &crate::types::scope(ctx)?.reader(),
            JobId::from_uuid(self.0.id),
        )
        .await?;
        Ok(rows
            .into_iter()
            .map(|t| TimelineEntry {
                state: state(&t.state),
                reason: t.reason,
                at: t.at,
                attempt: t.attempt,
            })
            .collect())
    }
    /// Files collected from the attempt that succeeded.
    async fn outputs(&self) -> Vec<JobOutput> {
        let files: Vec<domain::OutputFile> =
            serde_json::from_value(self.0.outputs.clone()).unwrap_or_default();
        files
            .into_iter()
            .map(|f| JobOutput {
                download_url: format!("/files/jobs/{}/outputs/{}", self.0.id, f.path),
                path: f.path,
                size: f.size,
                folder: self.0.outputs_folder.map(NodeId::from_uuid),
            })
            .collect()
    }
    /// The folder of the owner's space the outputs were saved in (`/home/jobs/<job>`),
    /// once they are; None before or when the caller may not see it.
    async fn outputs_folder(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<SpaceNode>> {
        match self.0.outputs_folder {
            Some(id) => visible_node(ctx, NodeId::from_uuid(id)).await,
            None => Ok(None),
        }
    }
    /// Why the outputs could not be saved in the owner's space, if they could not.
    async fn outputs_note(&self) -> Option<&str> {
        self.0.outputs_note.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

pub struct Attempt(pub AttemptRow);

impl Attempt {
    fn log(
        &self,
        ctx: &Context<'_>,
        stream: LogStream,
        tail: bool,
        limit: Option<u64>,
    ) -> async_graphql::Result<Option<Log>> {
        let limit = limit.unwrap_or(64 * 1024);
        if limit == 0 || limit > MAX_LOG_BYTES {
            return Err(ApiError::invalid(format!("limit: must be 1 to {MAX_LOG_BYTES}")).into());
        }
        let piece = services(ctx)
            .files
            .log(
                JobId::from_uuid(self.0.job_id),
                self.0.number.max(0) as u32,
                stream,
                tail,
                limit,
            )
            .map_err(|e| {
                tracing::error!(error = %e, "cannot read a log");
                ApiError::new(medgrid_domain::Code::Internal, "the log cannot be read")
            })?;
        Ok(piece.map(|p| Log {
            text: p.text,
            size: p.size,
            complete: p.complete,
        }))
    }
}

#[Object]
impl Attempt {
    async fn number(&self) -> i32 {
        self.0.number
    }
    async fn resource(&self) -> ResourceRef {
        ResourceRef {
            id: ID(self.0.resource_id.to_string()),
            name: self.0.resource_name.clone(),
        }
    }
    /// QUEUED (planned), SCHEDULED, RUNNING, SUCCEEDED, FAILED or CANCELLED.
    async fn state(&self) -> JobState {
        state(&self.0.state)
    }
    /// The id the resource gave it (Slurm job id, process id).
    async fn external_id(&self) -> Option<&str> {
        self.0.external_id.as_deref()
    }
    async fn nodes(&self) -> i32 {
        self.0.nodes
    }
    async fn node_list(&self) -> Option<&str> {
        self.0.node_list.as_deref()
    }
    async fn started_at(&self) -> Option<DateTime<Utc>> {
        self.0.started_at
    }
    async fn ended_at(&self) -> Option<DateTime<Utc>> {
        self.0.ended_at
    }
    async fn exit_code(&self) -> Option<i32> {
        self.0.exit_code
    }
    async fn wall_seconds(&self) -> Option<i64> {
        self.0.wall_seconds
    }
    async fn cpu_seconds(&self) -> Option<i64> {
        self.0.cpu_seconds
    }
    /// How it ended, for a person.
    async fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }
    async fn cancel_requested(&self) -> bool {
        self.0.cancel_requested
    }
    /// Its standard output: the end (`tail`, the default) or the start, at most `limit`
    /// bytes (default 64 KiB, at most 1 MiB). Null before the attempt wrote any.
    async fn stdout(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = true)] tail: bool,
        limit: Option<u64>,
    ) -> async_graphql::Result<Option<Log>> {
        self.log(ctx, LogStream::Stdout, tail, limit)
    }
    async fn stderr(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = true)] tail: bool,
        limit: Option<u64>,
    ) -> async_graphql::Result<Option<Log>> {
        self.log(ctx, LogStream::Stderr, tail, limit)
    }
}
