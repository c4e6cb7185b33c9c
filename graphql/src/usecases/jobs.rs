//! Jobs: submitted by members, seen by their owner, the managers of the group they are
//! shared with, and the tenant's administrators; cancelled and resubmitted by those who
//! see them.

use medgrid_domain::catalog::{Descriptor, Input, InputType};
use medgrid_domain::compute::ResourceKind;
use medgrid_domain::error::Coded;
use medgrid_domain::idempotency::Idempotency;
use medgrid_domain::ids::{ApplicationId, GroupId, JobId, MemberId, NodeId, ResourceId, TenantId};
use medgrid_domain::jobs::{
    AppRef, FailureClass, InputFile, JobCommand, JobSandbox, JobState, NewJob, OutputSpec,
    Placement, ReplicaCancel, RetryPolicy,
};
use medgrid_domain::{Actor, Code, GroupRole};
use medgrid_projections::jobs::{self, JobFilter, JobRow, Visibility};
use medgrid_projections::page::{Page, PageRequest};
use medgrid_projections::resources::{self, ResourceRow};
use medgrid_projections::{accounting, groups, tenants};
use serde::Serialize;
use serde_json::Value;

use super::{Scope, catalog, parse_id, spaces};
use crate::ApiError;

/// Where one replica runs.
#[derive(Debug, Clone, Serialize)]
pub struct PlacementRequest {
    pub resource: String,
    pub nodes: Option<u32>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RetryRequest {
    pub max_attempts: Option<u32>,
    pub on: Option<Vec<FailureClass>>,
    pub exit_codes: Vec<i32>,
    pub backoff_seconds: Option<u64>,
    pub alternate_resources: Vec<String>,
}

/// What a member asks for.
#[derive(Debug, Clone, Serialize)]
pub struct SubmitRequest {
    pub application: String,
    pub parameters: Value,
    /// Where it runs (the first; an empty list means the `local` resource).
    pub resources: Vec<String>,
    pub nodes: Option<u32>,
    pub retry: Option<RetryRequest>,
    /// Replicas, each with its own resource and node count (overrides `resources`).
    pub replicas: Vec<PlacementRequest>,
    pub replica_cancel: ReplicaCancel,
    pub walltime_seconds: Option<u64>,
    pub group: Option<String>,
    /// A retry with the same key within 24 h answers the job the first request made
    /// (see `medgrid_domain::idempotency`). Not part of what the request asks for.
    #[serde(skip)]
    pub idempotency_key: Option<String>,
}

fn member(scope: &Scope<'_>) -> Result<Actor, ApiError> {
    scope
        .caller
        .actor()
        .cloned()
        .ok_or_else(|| ApiError::invalid("jobs are submitted by members"))
}

fn may_see(actor: Option<&Actor>, row: &JobRow) -> bool {
    let Some(actor) = actor else {
        return true;
    };
    let tenant = TenantId::from_uuid(row.tenant_id);
    actor.can_administer(tenant)
        || (actor.tenant_id == tenant
            && (actor.member_id.as_uuid() == row.owner_id
                || row.group_id.is_some_and(|g| {
                    actor.groups.get(&GroupId::from_uuid(g)) == Some(&GroupRole::Manager)
                })))
}

/// A job the caller may see; any other is not found (its existence is not revealed).
pub async fn visible(scope: &Scope<'_>, id: &str) -> Result<JobRow, ApiError> {
    let id: JobId = parse_id(id, "job")?;
    jobs::by_id(&scope.reader(), id)
        .await?
        .filter(|row| may_see(scope.caller.actor(), row))
        .ok_or_else(|| ApiError::not_found("job"))
}

pub async fn list(
    scope: &Scope<'_>,
    filter: &JobFilter,
    page: PageRequest,
) -> Result<Page<JobRow>, ApiError> {
    let actor = member(scope)?;
    let seen = Visibility {
        tenant: actor.tenant_id,
        everything: actor.can_administer(actor.tenant_id),
        member: Some(actor.member_id),
        groups: actor
            .groups
            .iter()
            .filter(|(_, role)| **role == GroupRole::Manager)
            .map(|(g, _)| *g)
            .collect(),
    };
    Ok(jobs::list(&scope.reader(), &seen, filter, page).await?)
}

pub async fn cancel(scope: &Scope<'_>, id: &str) -> Result<JobRow, ApiError> {
    let row = visible(scope, id).await?;
    let who = match scope.caller.actor() {
        Some(a) if a.member_id.as_uuid() == row.owner_id => "its owner".to_owned(),
        Some(_) => "a manager".to_owned(),
        None => "the operator".to_owned(),
    };
    let command = JobCommand::Cancel {
        reason: format!("Cancelled by {who}"),
    };
    let tenant = TenantId::from_uuid(row.tenant_id);
    scope
        .svc
        .bus
        .job(JobId::from_uuid(row.id), command, &scope.metadata(tenant))
        .await?;
    visible(scope, &row.id.to_string()).await
}

/// A new job like `id`, with `parameters` changed (merged over the old ones).
pub async fn resubmit(
    scope: &Scope<'_>,
    id: &str,
    parameters: Option<Value>,
) -> Result<JobRow, ApiError> {
    let old = visible(scope, id).await?;
    let mut merged = old.parameters.clone();
    if let (Some(Value::Object(changes)), Value::Object(base)) = (parameters, &mut merged) {
        for (k, v) in changes {
            if v.is_null() {
                base.remove(&k);
            } else {
                base.insert(k, v);
            }
        }
    }
    let placements: Vec<Placement> = serde_json::from_value(old.placements.clone())
        .map_err(|_| ApiError::invalid("the old job's placements cannot be read"))?;
    let retry: RetryPolicy =
        serde_json::from_value(old.retry.clone()).unwrap_or_else(|_| RetryPolicy::infrastructure());
    let request = SubmitRequest {
        application: old.application_id.to_string(),
        parameters: merged,
        resources: vec![],
        nodes: None,
        retry: Some(RetryRequest {
            max_attempts: Some(retry.max_attempts),
            on: Some(retry.on.into_iter().collect()),
            exit_codes: retry.exit_codes.into_iter().collect(),
            backoff_seconds: Some(retry.backoff_seconds),
            alternate_resources: retry
                .alternates
                .iter()
                .map(|p| p.resource_id.to_string())
                .collect(),
        }),
        replicas: placements
            .iter()
            .map(|p| PlacementRequest {
                resource: p.resource_id.to_string(),
                nodes: Some(p.nodes),
            })
            .collect(),
        replica_cancel: serde_json::from_value(Value::String(old.replica_cancel.clone()))
            .unwrap_or_default(),
        walltime_seconds: Some(old.walltime_seconds.max(1) as u64),
        group: old.group_id.map(|g| g.to_string()),
        idempotency_key: None,
    };
    submit_as(scope, request, Some(JobId::from_uuid(old.id))).await
}

pub async fn submit(scope: &Scope<'_>, request: SubmitRequest) -> Result<JobRow, ApiError> {
    submit_as(scope, request, None).await
}

async fn submit_as(
    scope: &Scope<'_>,
    request: SubmitRequest,
    resubmitted_from: Option<JobId>,
) -> Result<JobRow, ApiError> {
    let actor = member(scope)?;
    let keyed = super::idempotency(request.idempotency_key.as_deref(), &request)?
        .map(|i| (JobId::for_request(actor.member_id, &i.key), i));
    if let Some((id, idempotency)) = &keyed
        && let Some(first) = first_result(scope, &actor, *id, idempotency).await?
    {
        return Ok(first);
    }
    let app_id: ApplicationId = parse_id(&request.application, "application")?;
    let app = catalog::visible(scope, app_id).await?;
    if !app.enabled {
        return Err(ApiError::invalid(
            "applicationId: the application is disabled",
        ));
    }
    let descriptor = Descriptor::parse(&app.descriptor)
        .map_err(|e| ApiError::invalid(format!("the application's descriptor: {e}")))?;
    let given = descriptor
        .parameters(&request.parameters)
        .map_err(|e| ApiError::new(e.code(), e.to_string()).with_field(e.field))?;
    let (inputs, staged) = file_inputs(scope, &descriptor, &given.as_json()).await?;
    let params = descriptor
        .parameters(&staged)
        .map_err(|e| ApiError::new(e.code(), e.to_string()).with_field(e.field))?;
    let line = descriptor.command_line(&params);
    let group = match &request.group {
        Some(g) => {
            let g: GroupId = parse_id(g, "group")?;
            // another tenant's group is not found, even for a platform admin's own job
            let row = super::groups::visible(scope, g).await?;
            if row.tenant_id != actor.tenant_id.as_uuid() {
                return Err(ApiError::not_found("group"));
            }
            Some(g)
        }
        None => None,
    };
    check_budgets(scope, actor.tenant_id, group).await?;
    let placements = placements(scope, &actor, &request).await?;
    let retry = retry_policy(scope, &actor, request.retry.as_ref()).await?;
    let walltime = walltime(&descriptor, &placements, request.walltime_seconds, scope).await?;
    let optional: std::collections::HashSet<&str> = descriptor
        .output_files
        .iter()
        .filter(|o| o.optional)
        .map(|o| o.id.as_str())
        .collect();
    let job = NewJob {
        tenant_id: actor.tenant_id,
        owner: actor.member_id,
        group_id: group,
        application: AppRef {
            id: app_id,
            name: app.name.clone(),
            version: app.version.clone(),
        },
        parameters: given.as_json(),
        command: line.command,
        invocation: Some(line.invocation),
        inputs,
        outputs: line
            .outputs
            .into_iter()
            .map(|(id, path)| OutputSpec {
                optional: optional.contains(id.as_str()),
                id,
                path,
            })
            .collect(),
        placements,
        tasks_per_node: suggested(&descriptor, "cpu-cores")
            .unwrap_or(1)
            .clamp(1, 1024) as u32,
        walltime_seconds: walltime,
        retry,
        replica_cancel: request.replica_cancel,
        resubmitted_from,
        sandbox: sandbox_of(&descriptor, app.networked),
        idempotency: keyed.as_ref().map(|(_, i)| i.clone()),
    };
    let id = keyed.map_or_else(JobId::random, |(id, _)| id);
    scope
        .svc
        .bus
        .job(
            id,
            JobCommand::Submit(Box::new(job)),
            &scope.metadata(actor.tenant_id),
        )
        .await?;
    visible(scope, &id.to_string()).await
}

/// The job the first submission under this key made, when this is a retry of it within
/// the key's lifetime; `None` when no job was made under the key. Nothing is checked
/// again (budgets, the catalog): a retry answers what was done.
async fn first_result(
    scope: &Scope<'_>,
    actor: &Actor,
    id: JobId,
    idempotency: &Idempotency,
) -> Result<Option<JobRow>, ApiError> {
    let command = JobCommand::Repeat(idempotency.clone());
    let meta = scope.metadata(actor.tenant_id);
    match scope.svc.bus.job(id, command, &meta).await {
        Ok(()) => {}
        Err(e) if e.code() == Code::NotFound => return Ok(None),
        Err(e) => return Err(ApiError::from(e).with_field("idempotencyKey")),
    }
    let first = visible(scope, &id.to_string()).await?;
    super::unspent(first.created_at)?;
    Ok(Some(first))
}

/// Refuses a job once this month's core-hour budget of the tenant, or of the job's group,
/// is used up (QUOTA_EXCEEDED). Usage counts when attempts end, so what already runs may
/// take a budget past its limit; the next submission is refused.
async fn check_budgets(
    scope: &Scope<'_>,
    tenant: TenantId,
    group: Option<GroupId>,
) -> Result<(), ApiError> {
    let db = scope.reader();
    let budget = tenants::by_id(&db, tenant)
        .await?
        .and_then(|t| t.core_budget);
    if let Some(budget) = budget {
        let used = accounting::used_this_month(&db, tenant.as_uuid(), None).await?;
        refuse_past(budget, used, "your institution")?;
    }
    let Some(group) = group else {
        return Ok(());
    };
    let budget = groups::by_id(&db, group).await?.and_then(|g| g.core_budget);
    if let Some(budget) = budget {
        let used =
            accounting::used_this_month(&db, tenant.as_uuid(), Some(group.as_uuid())).await?;
        refuse_past(budget, used, "the group")?;
    }
    Ok(())
}

#[allow(clippy::cast_precision_loss)]
fn refuse_past(budget: i64, used: i64, whose: &str) -> Result<(), ApiError> {
    if used < budget {
        return Ok(());
    }
    Err(ApiError::new(
        Code::QuotaExceeded,
        format!(
            "{whose}'s core-hour budget for this month is used up ({:.2} of {:.2} core hours)",
            used as f64 / 3600.0,
            budget as f64 / 3600.0
        ),
    ))
}

fn suggested(descriptor: &Descriptor, key: &str) -> Option<u64> {
    descriptor.suggested_resources.as_ref()?.get(key)?.as_u64()
}

/// What the job's sandbox gives it: memory and disk from `suggested-resources` (GB, maybe
/// fractional), the descriptor's environment variables, and the network if its application
/// is networked now (the job keeps that, whatever the application becomes).
fn sandbox_of(descriptor: &Descriptor, networked: bool) -> JobSandbox {
    let megabytes = |key: &str| {
        let gb = descriptor
            .suggested_resources
            .as_ref()?
            .get(key)?
            .as_f64()?;
        (gb > 0.0).then(|| (gb * 1024.0).ceil().min(1e12) as u64)
    };
    JobSandbox {
        memory_mb: megabytes("ram"),
        disk_mb: megabytes("disk-space"),
        env: descriptor
            .environment_variables
            .iter()
            .map(|v| (v.name.clone(), v.value.clone()))
            .collect(),
        networked,
        // checked when the application was registered
        image: descriptor
            .container_image
            .as_ref()
            .and_then(|c| c.reference().ok()),
        shell: descriptor.shell.clone(),
    }
}

/// Resolves File inputs: each names a shipped sample (`sample:APP/FILE`) or an output of a
/// job the caller sees (`job:ID/PATH`). Returns the files to stage and the parameters with
/// each file replaced by the name it gets in the work directory.
async fn file_inputs(
    scope: &Scope<'_>,
    descriptor: &Descriptor,
    params: &Value,
) -> Result<(Vec<InputFile>, Value), ApiError> {
    let mut staged = params.clone();
    let mut files = Vec::new();
    for input in descriptor
        .inputs
        .iter()
        .filter(|i| i.kind == InputType::File)
    {
        let Some(value) = params.get(&input.id) else {
            continue;
        };
        let sources: Vec<&str> = match value {
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
            other => other.as_str().into_iter().collect(),
        };
        let mut names = Vec::new();
        for (i, given) in sources.iter().enumerate() {
            let source = resolve_source(scope, input, given).await?;
            let base = given.rsplit('/').next().unwrap_or("input");
            let name = if sources.len() > 1 {
                format!("{}_{i}_{base}", input.id)
            } else {
                base.to_owned()
            };
            files.push(InputFile {
                input_id: input.id.clone(),
                source,
                name: name.clone(),
            });
            names.push(Value::String(name));
        }
        staged[&input.id] = if value.is_array() {
            Value::Array(names)
        } else {
            names.pop().unwrap_or(Value::Null)
        };
    }
    Ok((files, staged))
}

/// What a File input names, as the job records it: a file of a space becomes its content
/// as of now (`space:NODE/SHA256`), samples and job outputs stay as given.
async fn resolve_source(
    scope: &Scope<'_>,
    input: &Input,
    source: &str,
) -> Result<String, ApiError> {
    if source.starts_with('/') {
        let field = format!("parameters.{}", input.id);
        let at = spaces::readable_file_at(scope, source).await.map_err(|e| {
            ApiError::new(e.code, format!("{field}: {}", e.message)).with_field(&field)
        })?;
        let sha256 = at
            .node
            .sha256
            .ok_or_else(|| ApiError::invalid(format!("{field}: not a file")).with_field(&field))?;
        return Ok(InputFile::space_source(
            NodeId::from_uuid(at.node.id),
            &sha256,
        ));
    }
    check_source(scope, input, source).await?;
    Ok(source.to_owned())
}

async fn check_source(scope: &Scope<'_>, input: &Input, source: &str) -> Result<(), ApiError> {
    let field = format!("parameters.{}", input.id);
    let bad = |why: &str| ApiError::invalid(format!("{field}: {why}")).with_field(&field);
    if let Some(rest) = source.strip_prefix("sample:") {
        let (app, file) = rest
            .split_once('/')
            .ok_or_else(|| bad("expected sample:APP/FILE"))?;
        return if scope.svc.files.sample_exists(app, file) {
            Ok(())
        } else {
            Err(bad("no such sample in the shipped catalog"))
        };
    }
    if let Some(rest) = source.strip_prefix("job:") {
        let (job, path) = rest
            .split_once('/')
            .ok_or_else(|| bad("expected job:JOB_ID/PATH"))?;
        let row = visible(scope, job).await.map_err(|_| bad("no such job"))?;
        let has = row.outputs.as_array().is_some_and(|o| {
            o.iter()
                .any(|f| f.get("path").and_then(Value::as_str) == Some(path))
        });
        return if has {
            Ok(())
        } else {
            Err(bad("that job has no such output"))
        };
    }
    Err(bad(
        "a file is given as a path in a space (/home/…, /groups/…, /shared/…), sample:APP/FILE or job:JOB_ID/PATH",
    ))
}

/// A resource by id or name, as the caller may use it. One not open to the caller is
/// NOT_FOUND like an unknown one: its existence and name are not revealed.
async fn usable_resource(
    scope: &Scope<'_>,
    actor: &Actor,
    raw: &str,
) -> Result<(ResourceRow, ResourceKind), ApiError> {
    let id = raw
        .parse::<ResourceId>()
        .unwrap_or_else(|_| ResourceId::for_name(raw));
    let row = resources::by_id(&scope.reader(), id)
        .await?
        .ok_or_else(|| ApiError::not_found("resource"))?;
    let allowed = actor.is_platform_admin()
        || row.all_tenants
        || row.tenants.contains(&actor.tenant_id.as_uuid())
        || actor
            .groups
            .keys()
            .any(|g| row.groups.contains(&g.as_uuid()));
    if !allowed {
        return Err(ApiError::not_found("resource"));
    }
    let kind = serde_json::from_value(row.kind.clone())
        .map_err(|_| ApiError::invalid("the resource's kind cannot be read"))?;
    Ok((row, kind))
}

async fn placement(
    scope: &Scope<'_>,
    actor: &Actor,
    resource: &str,
    nodes: Option<u32>,
) -> Result<Placement, ApiError> {
    let (row, kind) = usable_resource(scope, actor, resource).await?;
    let nodes = nodes.unwrap_or(1);
    let (max, kind_name) = match kind {
        ResourceKind::Local { .. } => (1, "local"),
        ResourceKind::Slurm { max_nodes, .. } => (max_nodes, "slurm"),
    };
    if nodes == 0 || nodes > max {
        return Err(ApiError::invalid(format!(
            "nodes: {} has at most {max} node(s); {nodes} asked",
            row.name
        )));
    }
    Ok(Placement {
        resource_id: ResourceId::from_uuid(row.id),
        resource_name: row.name,
        kind: kind_name.into(),
        nodes,
    })
}

async fn placements(
    scope: &Scope<'_>,
    actor: &Actor,
    request: &SubmitRequest,
) -> Result<Vec<Placement>, ApiError> {
    if !request.replicas.is_empty() {
        if !request.resources.is_empty() {
            return Err(ApiError::invalid(
                "give either resourceIds or replicas, not both",
            ));
        }
        if request.replicas.len() > 8 {
            return Err(ApiError::invalid("replicas: at most 8"));
        }
        let mut out = Vec::new();
        for r in &request.replicas {
            out.push(placement(scope, actor, &r.resource, r.nodes).await?);
        }
        return Ok(out);
    }
    if request.resources.len() > 8 {
        return Err(ApiError::invalid("resourceIds: at most 8"));
    }
    // every one named must be usable, though the first is the one used
    for other in request.resources.iter().skip(1) {
        usable_resource(scope, actor, other).await?;
    }
    let first = request.resources.first().map_or("local", String::as_str);
    Ok(vec![placement(scope, actor, first, request.nodes).await?])
}

async fn retry_policy(
    scope: &Scope<'_>,
    actor: &Actor,
    request: Option<&RetryRequest>,
) -> Result<RetryPolicy, ApiError> {
    let mut policy = RetryPolicy::infrastructure();
    let Some(r) = request else {
        return Ok(policy);
    };
    if let Some(n) = r.max_attempts {
        policy.max_attempts = n;
    }
    if let Some(on) = &r.on {
        policy.on = on.iter().copied().collect();
    }
    policy.exit_codes = r.exit_codes.iter().copied().collect();
    if let Some(b) = r.backoff_seconds {
        policy.backoff_seconds = b;
    }
    for resource in &r.alternate_resources {
        policy
            .alternates
            .push(placement(scope, actor, resource, None).await?);
    }
    Ok(policy)
}

/// The walltime asked, or twice the descriptor's estimate (at least 10 minutes); never
/// more than a Slurm resource allows.
async fn walltime(
    descriptor: &Descriptor,
    placements: &[Placement],
    asked: Option<u64>,
    scope: &Scope<'_>,
) -> Result<u64, ApiError> {
    let seconds = asked.unwrap_or_else(|| {
        suggested(descriptor, "walltime-estimate").map_or(3600, |s| (s * 2).max(600))
    });
    if seconds == 0 || seconds > 30 * 86_400 {
        return Err(ApiError::invalid("walltimeSeconds: must be 1 to 2592000"));
    }
    for p in placements {
        let row = resources::by_id(&scope.reader(), p.resource_id).await?;
        let kind: Option<ResourceKind> = row.and_then(|r| serde_json::from_value(r.kind).ok());
        if let Some(ResourceKind::Slurm {
            walltime_limit_seconds,
            ..
        }) = kind
            && seconds > walltime_limit_seconds
        {
            if asked.is_some() {
                return Err(ApiError::invalid(format!(
                    "walltimeSeconds: {} allows at most {walltime_limit_seconds}",
                    p.resource_name
                )));
            }
            return Ok(walltime_limit_seconds);
        }
    }
    Ok(seconds)
}

/// Parses the filter clients give.
pub fn filter(
    states: Vec<JobState>,
    application: Option<&str>,
    owner: Option<&str>,
) -> Result<JobFilter, ApiError> {
    Ok(JobFilter {
        states,
        application: application
            .map(|a| parse_id::<ApplicationId>(a, "application").map(|a| a.as_uuid()))
            .transpose()?,
        owner: owner
            .map(|o| parse_id::<MemberId>(o, "member"))
            .transpose()?,
    })
}
