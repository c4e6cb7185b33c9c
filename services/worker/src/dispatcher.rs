//! The dispatcher: moves jobs through their lifecycle. One instance runs at a time (a
//! lease); each round it stages inputs, admits queued jobs fairly across tenants within
//! each resource's capacity, submits planned attempts, cancels what should stop and polls
//! every resource once. It keeps no state of its own: everything it knows is in the
//! events (through the `jobs` read model) and at the resources, so it can be killed at any
//! moment and a new instance carries on. Submissions are idempotent by attempt key, so a
//! crash between "submitted" and "recorded" never submits twice.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use medgrid_domain::catalog::shell_quote;
use medgrid_domain::compute::ResourceKind;
use medgrid_domain::ids::{JobId, TenantId};
use medgrid_domain::jobs::{
    InputFile, Invocation, JobCommand, JobSandbox, JobState, Outcome, OutputSpec, Placement,
};
use medgrid_domain::metadata::{Causer, EventMetadata};
use medgrid_domain::ports::CommandBus;
use medgrid_domain::ports::JobTokens;
use medgrid_infra::blobs::BlobStore;
use medgrid_infra::executor::local::LocalExecutor;
use medgrid_infra::executor::slurm::SlurmExecutor;
use medgrid_infra::executor::{AttemptSpec, Executor, ExecutorError, Status, Tracked};
use medgrid_infra::images::Image;
use medgrid_infra::jobfiles::JobArea;
use medgrid_infra::sandbox::{self, Sandbox};

use medgrid_infra::store::ReadYourWrites;
use medgrid_projections::ProjectionError;
use medgrid_projections::Reader;
use medgrid_projections::jobs::{self, AttemptRow, JobRow};
use medgrid_projections::resources::{self, ResourceRow};
use medgrid_projections::runner;

use crate::images::{Images, Readiness};
use sqlx::PgPool;
use tokio::sync::watch;
use uuid::Uuid;

/// The events that may give the dispatcher work: jobs, and resources (drained, enabled).
const WAKES_ON: &[&str] = &["Job", "Resource"];

/// How many submissions, polls and records run at once.
const CONCURRENCY: usize = 8;

#[derive(Debug, Clone)]
pub struct DispatcherConfig {
    /// Longest pause between rounds (events wake it sooner).
    pub interval: Duration,
}

/// How attempts run: the sandbox, and the applications' images it runs them in.
#[derive(Clone)]
pub struct Sandboxing {
    pub sandbox: Arc<Sandbox>,
    /// Pulled in the background, once per image.
    pub images: Arc<Images>,
}

/// What a running attempt gets instead of anyone's credentials: a token for its job alone
/// (`MEDGRID_JOB_TOKEN`) and where to use it (`MEDGRID_URL`).
pub struct Delegation {
    pub tokens: Arc<dyn JobTokens>,
    pub url: String,
}

pub struct Dispatcher {
    pool: PgPool,
    delegation: Delegation,
    /// Returns as soon as a command is written: the dispatcher waits for the `jobs` read
    /// model once per step (`settle`), not once per command.
    bus: Arc<dyn CommandBus>,
    settle: ReadYourWrites,
    area: JobArea,
    /// Where the contents of inputs taken from spaces are.
    blobs: Arc<dyn BlobStore>,
    local: Arc<LocalExecutor>,
    /// How every attempt, on every resource, is sandboxed, and in which image.
    sandboxing: Sandboxing,
    /// Attempts this instance already asked to stop (a cancel is sent once).
    cancelled: Mutex<HashSet<String>>,
    /// When this instance took the lease: attempts planned since were planned by it, and
    /// it knows whether it submitted them.
    leased_at: Mutex<Option<DateTime<Utc>>>,
    /// Attempts whose submission failed without a clear answer: they may be at the
    /// resource, so they are looked for before being submitted again.
    unsure: Mutex<HashSet<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Store(#[from] medgrid_domain::CommandError),
}

/// The key an attempt carries at its resource.
pub fn attempt_key(job: Uuid, attempt: i32) -> String {
    format!("mg-{job}-{attempt}")
}

fn meta(tenant: Uuid) -> EventMetadata {
    EventMetadata::new(
        TenantId::from_uuid(tenant),
        Causer::System("dispatcher".into()),
        None,
    )
}

/// The resource an attempt goes to: how to reach it and what it is.
struct Target<'r> {
    executor: Arc<dyn Executor>,
    kind: ResourceKind,
    row: &'r ResourceRow,
}

/// The memory of an attempt: what its application asked for, else its resource's default;
/// None leaves it to the sandbox (the installation's `MEDGRID_SANDBOX_MEMORY_MB`).
fn attempt_memory_mb(asked: Option<u64>, resource_default: Option<i64>) -> Option<u64> {
    asked.or_else(|| resource_default.and_then(|mb| u64::try_from(mb).ok()))
}

fn parse<T: serde::de::DeserializeOwned + Default>(value: &serde_json::Value) -> T {
    serde_json::from_value(value.clone()).unwrap_or_default()
}

impl Dispatcher {
    /// The dispatcher reads every tenant's jobs: as the service, not as a caller.
    fn reads(&self) -> Reader {
        Reader::system(&self.pool)
    }

    pub fn new(
        pool: PgPool,
        bus: Arc<dyn CommandBus>,
        settle: ReadYourWrites,
        area: JobArea,
        blobs: Arc<dyn BlobStore>,
        delegation: Delegation,
        sandboxing: Sandboxing,
    ) -> Self {
        Self {
            pool,
            delegation,
            bus,
            settle,
            area,
            blobs,
            local: Arc::new(LocalExecutor::new(sandboxing.sandbox.clone())),
            sandboxing,
            cancelled: Mutex::new(HashSet::new()),
            leased_at: Mutex::new(None),
            unsure: Mutex::new(HashSet::new()),
        }
    }

    /// Whether the attempt may be at its resource without the events saying so: planned
    /// before this instance took over (a crash may have hidden its submission), or its
    /// submission failed ambiguously.
    fn maybe_submitted(&self, a: &AttemptRow) -> bool {
        let fresh = self
            .leased_at
            .lock()
            .map(|at| at.is_some_and(|at| a.planned_at > at))
            .unwrap_or(false);
        let unsure = self
            .unsure
            .lock()
            .map(|set| set.contains(&attempt_key(a.job_id, a.number)))
            .unwrap_or(true);
        !fresh || unsure
    }

    fn mark_unsure(&self, key: String, unsure: bool) {
        if let Ok(mut set) = self.unsure.lock() {
            if unsure {
                set.insert(key);
            } else {
                set.remove(&key);
            }
        }
    }

    fn executor(&self, resource: Option<&ResourceRow>) -> Option<Arc<dyn Executor>> {
        Some(match kind_of(resource)? {
            ResourceKind::Local { .. } => self.local.clone(),
            ResourceKind::Slurm { partition, .. } => Arc::new(SlurmExecutor::new(
                partition,
                self.sandboxing.sandbox.clone(),
            )),
        })
    }

    async fn command(&self, job: Uuid, tenant: Uuid, command: JobCommand) {
        let result = self
            .bus
            .job(JobId::from_uuid(job), command, &meta(tenant))
            .await;
        if let Err(e) = result {
            // refused commands mean the job moved on meanwhile; the next round sees it
            tracing::warn!(job = %job, error = %e, "dispatcher command not applied");
        }
    }

    /// One round of both loops: what `advance` and `poll` do, in turn.
    pub async fn round(&self, poll: bool) -> Result<usize, DispatchError> {
        let mut done = self.advance().await?;
        if poll {
            done += self.poll_all().await?;
        }
        Ok(done)
    }

    async fn resources(&self) -> Result<HashMap<Uuid, ResourceRow>, DispatchError> {
        Ok(resources::list(&self.reads())
            .await?
            .into_iter()
            .map(|r| (r.id, r))
            .collect())
    }

    /// Moves jobs on: stages, admits, submits and cancels. Returns how many things it did
    /// (0 = nothing to do). Each step reads what the one before wrote, so a new job can go
    /// from submitted to scheduled in one call.
    pub async fn advance(&self) -> Result<usize, DispatchError> {
        let resources = self.resources().await?;
        let staged = self.settled(self.stage().await?).await?;
        let admitted = self.settled(self.admit(&resources).await?).await?;
        let active = jobs::active_attempts(&self.reads()).await?;
        let mut done = self.submit(&resources, &active).await?;
        done += self.cancel(&resources, &active).await;
        // the next call reads this one's writes
        let done = self.settled(done).await?;
        Ok(staged + admitted + done)
    }

    /// Asks every resource about its attempts (one call each: it costs the resource
    /// work, so it runs on a timer, beside `advance`) and records what changed.
    pub async fn poll_all(&self) -> Result<usize, DispatchError> {
        let resources = self.resources().await?;
        let active = jobs::active_attempts(&self.reads()).await?;
        let done = self.poll(&resources, &active).await?;
        self.settled(done).await
    }

    /// After `done` commands, waits until the `jobs` read model has them.
    async fn settled(&self, done: usize) -> Result<usize, DispatchError> {
        if done > 0 {
            self.settle.settle().await?;
        }
        Ok(done)
    }

    /// Submitted jobs: check their inputs are there, then queue them.
    async fn stage(&self) -> Result<usize, DispatchError> {
        let submitted = jobs::unfinished(&self.reads(), &[JobState::Submitted], 500).await?;
        let n = submitted.len();
        futures::stream::iter(submitted)
            .for_each_concurrent(CONCURRENCY, |job| async move {
                let inputs: Vec<InputFile> = parse(&job.inputs);
                let id = JobId::from_uuid(job.id);
                let staged = self.area.inputs_dir(id);
                let fetched = self.area.fetch(id, &inputs, self.blobs.as_ref()).await;
                let command = match fetched.and_then(|()| self.area.stage(id, &inputs, &staged)) {
                    Ok(()) => JobCommand::Queue {
                        reason: queued_reason(&job, inputs.len()),
                    },
                    Err(e) => JobCommand::Fail {
                        reason: format!("Inputs could not be staged: {e}"),
                    },
                };
                self.command(job.id, job.tenant_id, command).await;
            })
            .await;
        Ok(n)
    }

    /// Queued and due jobs, fairly across tenants, while their resources have room.
    async fn admit(&self, resources: &HashMap<Uuid, ResourceRow>) -> Result<usize, DispatchError> {
        let mut used: HashMap<Uuid, usize> = HashMap::new();
        for a in jobs::active_attempts(&self.reads()).await? {
            *used.entry(a.resource_id).or_default() += 1;
        }
        let now = Utc::now();
        let mut admitted = Vec::new();
        for job in jobs::fair_queue(&self.reads(), now, 1000).await? {
            let wanted = next_placements(&job);
            let fits = wanted.iter().all(|p| {
                resources.get(&p.resource_id.as_uuid()).is_some_and(|r| {
                    let capacity = kind_of(Some(r)).map_or(0, |k| k.capacity());
                    !r.drained && used.get(&r.id).copied().unwrap_or(0) < capacity
                })
            });
            if fits {
                for p in &wanted {
                    *used.entry(p.resource_id.as_uuid()).or_default() += 1;
                }
                admitted.push(job);
            }
        }
        let n = admitted.len();
        futures::stream::iter(admitted)
            .for_each_concurrent(CONCURRENCY, |job| async move {
                self.command(job.id, job.tenant_id, JobCommand::PlanAttempts { now })
                    .await;
            })
            .await;
        Ok(n)
    }

    /// Planned attempts: stage their inputs and hand them to their resource. Those that
    /// may be there already are looked for first, with one call per resource.
    async fn submit(
        &self,
        resources: &HashMap<Uuid, ResourceRow>,
        active: &[AttemptRow],
    ) -> Result<usize, DispatchError> {
        let planned: Vec<&AttemptRow> = active
            .iter()
            .filter(|a| a.external_id.is_none() && !a.cancel_requested)
            .collect();
        if planned.is_empty() {
            return Ok(0);
        }
        let found = self.find(resources, &planned).await;
        let ids: Vec<Uuid> = planned.iter().map(|a| a.job_id).collect();
        let jobs: HashMap<Uuid, JobRow> = jobs::by_ids(&self.reads(), &ids)
            .await?
            .into_iter()
            .map(|j| (j.id, j))
            .collect();
        let submitted = AtomicUsize::new(0);
        futures::stream::iter(planned)
            .for_each_concurrent(CONCURRENCY, |a| {
                let (submitted, found, jobs) = (&submitted, &found, &jobs);
                async move {
                    let key = attempt_key(a.job_id, a.number);
                    let command = match found.get(&key) {
                        Some(Some(id)) => Some(JobCommand::RecordSubmitted {
                            attempt: a.number as u32,
                            external_id: id.clone(),
                        }),
                        // the resource could not say: try again next round
                        None if self.maybe_submitted(a) => None,
                        _ => match jobs.get(&a.job_id) {
                            Some(job) => self.submit_new(resources, job, a).await,
                            None => None,
                        },
                    };
                    if let Some(command) = command {
                        self.command(a.job_id, a.tenant_id, command).await;
                        submitted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
            .await;
        Ok(submitted.into_inner())
    }

    /// For each attempt that may be at its resource already: Some(id) if it is, None if
    /// it is not. Attempts whose resource could not answer are left out.
    async fn find(
        &self,
        resources: &HashMap<Uuid, ResourceRow>,
        planned: &[&AttemptRow],
    ) -> HashMap<String, Option<String>> {
        let mut by_resource: HashMap<Uuid, Vec<Tracked>> = HashMap::new();
        for a in planned.iter().filter(|a| self.maybe_submitted(a)) {
            by_resource
                .entry(a.resource_id)
                .or_default()
                .push(self.tracked(a));
        }
        let mut found = HashMap::new();
        for (resource, tracked) in by_resource {
            let Some(executor) = self.executor(resources.get(&resource)) else {
                continue;
            };
            match executor.find(&tracked).await {
                Ok(mut ids) => {
                    for t in tracked {
                        let id = ids.remove(&t.key);
                        found.insert(t.key, id);
                    }
                }
                Err(e) => {
                    tracing::warn!(resource = %resource, error = %e, "cannot look for attempts now")
                }
            }
        }
        found
    }

    /// Submits an attempt known not to be at its resource; the command that records how
    /// it went, if anything is known.
    async fn submit_new(
        &self,
        resources: &HashMap<Uuid, ResourceRow>,
        job: &JobRow,
        a: &AttemptRow,
    ) -> Option<JobCommand> {
        let resource = resources.get(&a.resource_id)?;
        let target = Target {
            executor: self.executor(Some(resource))?,
            kind: kind_of(Some(resource))?,
            row: resource,
        };
        let key = attempt_key(a.job_id, a.number);
        let wants: JobSandbox = parse(&job.sandbox);
        let image = match wants
            .image
            .as_ref()
            .map(|r| (r, self.sandboxing.images.get(r)))
        {
            None => None,
            Some((_, Readiness::Ready(image))) => Some(image),
            Some((reference, Readiness::Pulling { started })) => {
                return started.then(|| JobCommand::RecordPreparing {
                    attempt: a.number as u32,
                    reason: format!("Pulling image {reference} for attempt {}", a.number),
                });
            }
            Some((_, Readiness::Failed(why))) => {
                let detail = format!("image pull failed: {why}");
                return Some(ended(a, Outcome::SubmitFailed { detail }));
            }
        };
        match self.submit_one(&target, job, a, wants, image).await {
            Ok(id) => {
                self.mark_unsure(key, false);
                Some(JobCommand::RecordSubmitted {
                    attempt: a.number as u32,
                    external_id: id,
                })
            }
            Err(ExecutorError::Refused(detail)) => Some(ended(a, Outcome::SubmitFailed { detail })),
            Err(ExecutorError::Unavailable(e)) => {
                tracing::warn!(resource = %a.resource_name, error = %e, "cannot submit now; will retry");
                self.mark_unsure(key, true);
                None
            }
        }
    }

    async fn submit_one(
        &self,
        target: &Target<'_>,
        job: &JobRow,
        a: &AttemptRow,
        wants: JobSandbox,
        image: Option<Image>,
    ) -> Result<String, ExecutorError> {
        let id = JobId::from_uuid(job.id);
        let inputs: Vec<InputFile> = parse(&job.inputs);
        let inputs = self
            .area
            .staged(id, &inputs)
            .map_err(|e| ExecutorError::Refused(e.to_string()))?;
        let nodes = a.nodes.max(1) as u32;
        let tasks = nodes * target.kind.tasks_per_node(job.tasks_per_node.max(1) as u32);
        let token = self
            .delegation
            .tokens
            .mint(id, a.number as u32)
            .await
            .map_err(|e| ExecutorError::Unavailable(e.to_string()))?;
        // the application's variables first: Medgrid's own win over them
        let mut env = wants.env;
        env.extend([
            ("MEDGRID_NODES".to_owned(), nodes.to_string()),
            ("MEDGRID_TASKS".to_owned(), tasks.to_string()),
            ("MEDGRID_JOB_ID".to_owned(), job.id.to_string()),
            ("MEDGRID_ATTEMPT".to_owned(), a.number.to_string()),
        ]);
        let spec = AttemptSpec {
            key: attempt_key(a.job_id, a.number),
            dir: self.area.attempt_dir(id, a.number as u32),
            script: script_of(job)?,
            inputs,
            nodes,
            tasks,
            walltime: Duration::from_secs(job.walltime_seconds.max(1) as u64),
            memory_mb: attempt_memory_mb(wants.memory_mb, target.row.default_memory_mb),
            disk_mb: wants.disk_mb,
            env,
            secret_env: vec![("MEDGRID_JOB_TOKEN".into(), token)],
            api_upstream: sandbox::upstream_of(&self.delegation.url),
            networked: wants.networked,
            image,
            shell: wants.shell,
        };
        target.executor.submit(&spec).await
    }

    fn tracked(&self, a: &AttemptRow) -> Tracked {
        Tracked {
            key: attempt_key(a.job_id, a.number),
            external_id: a.external_id.clone(),
            dir: self
                .area
                .attempt_dir(JobId::from_uuid(a.job_id), a.number as u32),
        }
    }

    /// Attempts that should stop: cancel them at their resource (once). One never
    /// submitted is looked for first, in case a crash hid its submission.
    async fn cancel(&self, resources: &HashMap<Uuid, ResourceRow>, active: &[AttemptRow]) -> usize {
        let mut n = 0;
        for a in active.iter().filter(|a| a.cancel_requested) {
            let t = self.tracked(a);
            let Some(executor) = self.executor(resources.get(&a.resource_id)) else {
                continue;
            };
            if a.external_id.is_none() {
                match executor.find(std::slice::from_ref(&t)).await {
                    Ok(found) if found.contains_key(&t.key) => {}
                    Ok(_) => {
                        self.command(a.job_id, a.tenant_id, ended(a, Outcome::Cancelled))
                            .await;
                        n += 1;
                        continue;
                    }
                    Err(_) => continue,
                }
            }
            let first = self
                .cancelled
                .lock()
                .map(|mut set| set.insert(t.key.clone()))
                .unwrap_or(false);
            if first {
                if let Err(e) = executor.cancel(&t).await {
                    tracing::warn!(attempt = %t.key, error = %e, "cancel failed");
                }
                n += 1;
            }
        }
        n
    }

    /// Asks each resource, once, about all its attempts, and records what changed.
    async fn poll(
        &self,
        resources: &HashMap<Uuid, ResourceRow>,
        active: &[AttemptRow],
    ) -> Result<usize, DispatchError> {
        let mut by_resource: HashMap<Uuid, Vec<&AttemptRow>> = HashMap::new();
        for a in active.iter().filter(|a| a.external_id.is_some()) {
            by_resource.entry(a.resource_id).or_default().push(a);
        }
        let mut changes = Vec::new();
        for (resource, attempts) in by_resource {
            let Some(executor) = self.executor(resources.get(&resource)) else {
                continue;
            };
            let tracked: Vec<Tracked> = attempts.iter().map(|a| self.tracked(a)).collect();
            let statuses = match executor.poll(&tracked).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(resource = %resource, error = %e, "poll failed");
                    continue;
                }
            };
            let by_key: HashMap<String, &AttemptRow> = attempts
                .iter()
                .map(|a| (attempt_key(a.job_id, a.number), *a))
                .collect();
            for (key, status) in statuses {
                if let Some(a) = by_key.get(&key) {
                    changes.push(((*a).clone(), status));
                }
            }
        }
        let recorded = AtomicUsize::new(0);
        futures::stream::iter(changes)
            .for_each_concurrent(CONCURRENCY, |(a, status)| {
                let recorded = &recorded;
                async move {
                    for command in self.record(&a, status).await {
                        self.command(a.job_id, a.tenant_id, command).await;
                        recorded.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
            .await;
        Ok(recorded.into_inner())
    }

    /// The commands a status calls for, if it is news. An attempt that ran and ended
    /// between two polls is recorded as started first: the timeline shows it ran.
    async fn record(&self, a: &AttemptRow, status: Status) -> Vec<JobCommand> {
        let attempt = a.number as u32;
        match status {
            Status::Pending => vec![],
            Status::Running { .. } if a.state == "RUNNING" => vec![],
            Status::Running {
                node_list,
                started_at,
            } => vec![JobCommand::RecordStarted {
                attempt,
                node_list,
                at: started_at,
            }],
            Status::Ended {
                outcome,
                usage,
                node_list,
            } => {
                let mut commands = Vec::new();
                if let (Some(at), false) = (usage.started_at, a.state == "RUNNING") {
                    commands.push(JobCommand::RecordStarted {
                        attempt,
                        node_list,
                        at,
                    });
                }
                let (outcome, outputs) = self.outputs(a, outcome).await;
                commands.push(JobCommand::RecordEnded {
                    attempt,
                    outcome,
                    usage,
                    outputs,
                    now: Utc::now(),
                });
                commands
            }
        }
    }

    /// Collects a successful attempt's outputs; a missing one turns success into failure.
    async fn outputs(
        &self,
        a: &AttemptRow,
        outcome: Outcome,
    ) -> (Outcome, Vec<medgrid_domain::jobs::OutputFile>) {
        if outcome != Outcome::Succeeded {
            return (outcome, vec![]);
        }
        let job_id = JobId::from_uuid(a.job_id);
        let Ok(Some(job)) = jobs::by_id(&self.reads(), job_id).await else {
            return (outcome, vec![]);
        };
        let specs: Vec<OutputSpec> = parse(&job.output_specs);
        let work_dir = self.area.work_dir(job_id, a.number as u32);
        match self.area.collect(job_id, &work_dir, &specs) {
            Ok(Ok(files)) => (outcome, files),
            Ok(Err(path)) => (Outcome::OutputMissing { path }, vec![]),
            Err(e) => (
                Outcome::NodeFailure {
                    detail: format!("outputs could not be collected: {e}"),
                },
                vec![],
            ),
        }
    }
}

/// What an attempt runs: the folders its outputs go in made first (as Boutiques tools
/// expect), then the job's invocation (its values bound to shell variables before the
/// script), or the command line of a job recorded before invocations existed.
fn script_of(job: &JobRow) -> Result<String, ExecutorError> {
    let outputs: Vec<OutputSpec> = parse(&job.output_specs);
    let mut folders: Vec<&str> = outputs
        .iter()
        .filter_map(|o| o.path.rsplit_once('/').map(|(dir, _)| dir))
        .filter(|dir| !dir.is_empty() && *dir != ".")
        .collect();
    folders.sort_unstable();
    folders.dedup();
    let mut script = String::new();
    if !folders.is_empty() {
        let quoted: Vec<String> = folders.iter().map(|d| shell_quote(d)).collect();
        script.push_str(&format!("mkdir -p -- {} 2>/dev/null\n", quoted.join(" ")));
    }
    match &job.invocation {
        None => script.push_str(&job.command),
        Some(invocation) => {
            let invocation: Invocation =
                serde_json::from_value(invocation.clone()).map_err(|e| {
                    ExecutorError::Refused(format!("the job's invocation cannot be read: {e}"))
                })?;
            script.push_str(&invocation.to_script());
        }
    }
    Ok(script)
}

fn kind_of(resource: Option<&ResourceRow>) -> Option<ResourceKind> {
    serde_json::from_value(resource?.kind.clone()).ok()
}

fn ended(a: &AttemptRow, outcome: Outcome) -> JobCommand {
    JobCommand::RecordEnded {
        attempt: a.number as u32,
        outcome,
        usage: Default::default(),
        outputs: vec![],
        now: Utc::now(),
    }
}

/// Where a waiting job's next attempts will run (as the job will decide).
fn next_placements(job: &JobRow) -> Vec<Placement> {
    let placements: Vec<Placement> = parse(&job.placements);
    if job.state != "RETRYING" {
        return placements;
    }
    let retry: medgrid_domain::jobs::RetryPolicy = serde_json::from_value(job.retry.clone())
        .unwrap_or_else(|_| medgrid_domain::jobs::RetryPolicy::infrastructure());
    match retry.alternates.first() {
        Some(_) => retry.alternates,
        None => placements.into_iter().take(1).collect(),
    }
}

fn queued_reason(job: &JobRow, inputs: usize) -> String {
    let placements: Vec<Placement> = parse(&job.placements);
    let on = placements
        .iter()
        .map(Placement::describe)
        .collect::<Vec<_>>()
        .join(", ");
    match inputs {
        0 => format!("Waiting for room on {on}"),
        n => format!("{n} input file(s) ready; waiting for room on {on}"),
    }
}

/// Runs rounds while this process holds the dispatcher lease, until `shutdown`.
pub async fn run(
    dispatcher: Arc<Dispatcher>,
    config: DispatcherConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    while !*shutdown.borrow() {
        if let Err(e) = run_leased(&dispatcher, &config, &mut shutdown).await {
            runner::pause_after_failure("dispatcher", &e, &mut shutdown).await;
        }
    }
}

async fn run_leased(
    d: &Dispatcher,
    config: &DispatcherConfig,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), ProjectionError> {
    let Some(mut lease) = runner::wait_for_lease(&d.pool, "dispatcher", shutdown).await? else {
        return Ok(());
    };
    if let Ok(mut at) = d.leased_at.lock() {
        *at = Some(Utc::now());
    }
    let mut poll_shutdown = shutdown.clone();
    // polling a cluster can take a while: it must not hold up submissions, nor they it
    tokio::select! {
        r = advance_loop(d, &mut lease, config, shutdown) => r,
        r = poll_loop(d, config, &mut poll_shutdown) => r,
    }
}

fn processor_error(e: DispatchError) -> ProjectionError {
    match e {
        DispatchError::Db(e) => e.into(),
        DispatchError::Store(e) => ProjectionError::Apply(e.to_string()),
    }
}

/// Advances jobs on every event that may give it work, and at least every interval.
async fn advance_loop(
    d: &Dispatcher,
    lease: &mut runner::Lease,
    config: &DispatcherConfig,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), ProjectionError> {
    let mut listener = sqlx::postgres::PgListener::connect_with(&d.pool).await?;
    listener.listen("medgrid_events").await?;
    loop {
        // a lost lease (its connection dropped) means another instance may be running:
        // stop before submitting anything more
        lease.check().await?;
        let busy = d.advance().await.map_err(processor_error)?;
        // after doing something, look again soon (more may wait than one call takes)
        let wait = if busy > 0 {
            Duration::from_millis(50)
        } else {
            config.interval
        };
        if !runner::wait_for_events(&mut listener, WAKES_ON, wait, shutdown).await? {
            return Ok(());
        }
    }
}

/// Polls the resources once per interval.
async fn poll_loop(
    d: &Dispatcher,
    config: &DispatcherConfig,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), ProjectionError> {
    loop {
        let started = Instant::now();
        d.poll_all().await.map_err(processor_error)?;
        tokio::select! {
            _ = tokio::time::sleep(config.interval.saturating_sub(started.elapsed())) => {}
            _ = shutdown.changed() => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::attempt_memory_mb;

    #[test]
    fn the_application_then_the_resource_then_the_installation_set_the_memory() {
        assert_eq!(attempt_memory_mb(Some(128), Some(300)), Some(128));
        assert_eq!(attempt_memory_mb(None, Some(300)), Some(300));
        assert_eq!(attempt_memory_mb(None, None), None);
    }
}
