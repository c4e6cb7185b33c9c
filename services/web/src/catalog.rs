//! The catalog: applications to search and browse, and each one's page with the
//! submission form generated from its descriptor.

use std::collections::BTreeMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use medgrid_domain::Code;
use medgrid_domain::catalog::Descriptor;
use medgrid_domain::ids::{ApplicationId, GroupId};
use medgrid_domain::jobs::ReplicaCancel;
use medgrid_graphql::ApiError;
use medgrid_graphql::usecases::jobs::{RetryRequest, SubmitRequest};
use medgrid_graphql::usecases::{catalog, compute, parse_id};
use medgrid_projections::applications::ApplicationRow;
use medgrid_projections::groups;
use medgrid_projections::jobs::JobRow;
use serde::Deserialize;

use crate::form::{self, Field, Posted};
use crate::login::see_other;
use crate::view;
use crate::visitor::Visitor;

#[derive(Deserialize)]
pub struct Search {
    #[serde(default)]
    q: String,
}

#[derive(Template)]
#[template(path = "web/apps.html")]
struct Apps<'a> {
    v: &'a Visitor,
    section: &'a str,
    q: &'a str,
    apps: Vec<ApplicationRow>,
}

fn matches(app: &ApplicationRow, q: &str) -> bool {
    let q = q.to_lowercase();
    q.split_whitespace().all(|word| {
        app.name.to_lowercase().contains(word) || app.description.to_lowercase().contains(word)
    })
}

/// GET /apps: the applications the member may run, filtered by words of `q`.
pub async fn list(v: Visitor, Query(search): Query<Search>) -> Response {
    let scope = v.scope();
    let apps = match catalog::list(&scope, v.actor.tenant_id).await {
        Ok(apps) => apps,
        Err(e) => return view::failure(&v, &e),
    };
    let q = search.q.trim();
    let apps = apps
        .into_iter()
        .filter(|a| a.enabled && matches(a, q))
        .collect();
    view::ok(
        &v,
        &Apps {
            v: &v,
            section: "apps",
            q,
            apps,
        },
    )
}

/// A choice of a select: its value, what it shows, and whether it is chosen.
pub struct Option_ {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// The run options beside the parameters, with defaults a novice can leave alone.
pub struct RunOptions {
    pub resources: Vec<Option_>,
    pub nodes: String,
    pub attempts: String,
    pub replicas: Vec<Option_>,
    pub groups: Vec<Option_>,
    pub walltime_hours: String,
}

/// The application page: what it does and the form (a new job, or a resubmission).
#[derive(Template)]
#[template(path = "web/app.html")]
pub struct AppPage<'a> {
    pub v: &'a Visitor,
    pub section: &'a str,
    pub app: &'a ApplicationRow,
    pub action: String,
    pub resubmitting: Option<String>,
    pub fields: Vec<Field>,
    pub options: RunOptions,
    /// A refusal not about one field.
    pub error: Option<String>,
    /// Files of the member's spaces offered for File inputs.
    pub files: Vec<String>,
    /// This form's idempotency key: posting it twice (a double click, a reload after a
    /// lost answer) makes one job.
    pub submission: String,
}

/// The options as posted (or their defaults).
pub fn run_options(posted: &Posted) -> (String, String, String, Vec<String>, String, String) {
    let get = |k: &str| posted.get(k).cloned().unwrap_or_default();
    let replicas = posted
        .iter()
        .filter(|(k, _)| k.starts_with("replica."))
        .map(|(_, v)| v.clone())
        .collect();
    (
        get("resource"),
        get("nodes"),
        get("attempts"),
        replicas,
        get("group"),
        get("walltime_hours"),
    )
}

/// The choices of the run options for this member, `posted` showing what was chosen.
pub async fn options(v: &Visitor, posted: &Posted) -> Result<RunOptions, ApiError> {
    let scope = v.scope();
    let (resource, nodes, attempts, replicas, group, walltime) = run_options(posted);
    let usable = compute::list(&scope).await?;
    let usable: Vec<_> = usable.into_iter().filter(|r| !r.drained).collect();
    let chosen = if resource.is_empty() {
        "local".to_owned()
    } else {
        resource
    };
    let resources = usable
        .iter()
        .map(|r| Option_ {
            value: r.name.clone(),
            label: r.name.clone(),
            selected: r.name == chosen,
        })
        .collect();
    let replica_options = usable
        .iter()
        .map(|r| Option_ {
            value: r.name.clone(),
            label: r.name.clone(),
            selected: replicas.contains(&r.name),
        })
        .collect();
    let mut group_options = vec![Option_ {
        value: String::new(),
        label: "Only me".into(),
        selected: group.is_empty(),
    }];
    for id in v.actor.groups.keys() {
        if let Some(row) = groups::by_id(&scope.reader(), *id).await? {
            group_options.push(Option_ {
                value: row.id.to_string(),
                label: row.name,
                selected: row.id.to_string() == group,
            });
        }
    }
    Ok(RunOptions {
        resources,
        nodes: if nodes.is_empty() { "1".into() } else { nodes },
        attempts: if attempts.is_empty() {
            "3".into()
        } else {
            attempts
        },
        replicas: replica_options,
        groups: group_options,
        walltime_hours: walltime,
    })
}

/// The application `id` as the member sees it, with its parsed descriptor.
pub async fn application(v: &Visitor, id: &str) -> Result<(ApplicationRow, Descriptor), ApiError> {
    let id: ApplicationId = parse_id(id, "application")?;
    let row = catalog::visible(&v.scope(), id).await?;
    let descriptor = Descriptor::parse(&row.descriptor)
        .map_err(|e| ApiError::invalid(format!("the application's descriptor: {e}")))?;
    Ok((row, descriptor))
}

/// GET /apps/{id}: the application and its form with the defaults.
pub async fn show(v: Visitor, Path(id): Path<String>) -> Response {
    let (app, descriptor) = match application(&v, &id).await {
        Ok(found) => found,
        Err(e) => return view::failure(&v, &e),
    };
    let fields = form::fields(&descriptor, &BTreeMap::new(), &BTreeMap::new());
    let action = format!("/apps/{}", app.id);
    render_form(
        &v,
        StatusCode::OK,
        &app,
        action,
        None,
        fields,
        &Posted::new(),
        None,
    )
    .await
}

/// Draws the application's form with `fields` and the options as `posted`.
#[allow(clippy::too_many_arguments)]
pub async fn render_form(
    v: &Visitor,
    status: StatusCode,
    app: &ApplicationRow,
    action: String,
    resubmitting: Option<String>,
    fields: Vec<Field>,
    posted: &Posted,
    error: Option<String>,
) -> Response {
    let options = match options(v, posted).await {
        Ok(o) => o,
        Err(e) => return view::failure(v, &e),
    };
    let files = crate::files::offered(v).await;
    let page = AppPage {
        v,
        section: "apps",
        app,
        action,
        resubmitting,
        fields,
        options,
        error,
        files,
        submission: posted
            .get("submission")
            .filter(|s| !s.is_empty())
            .cloned()
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()),
    };
    view::page(v, status, &page)
}

fn number<T: std::str::FromStr>(
    posted: &Posted,
    key: &str,
    what: &str,
) -> Result<Option<T>, ApiError> {
    match posted.get(key).map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s.parse().map(Some).map_err(|_| {
            ApiError::invalid(format!("{what} must be a whole number")).with_field(key)
        }),
    }
}

/// The submission the form asks for.
fn request(
    app: &ApplicationRow,
    posted: &Posted,
    parameters: serde_json::Value,
) -> Result<SubmitRequest, ApiError> {
    let (resource, _, _, replicas, group, _) = run_options(posted);
    let nodes: Option<u32> = number(posted, "nodes", "Nodes")?;
    let attempts: Option<u32> = number(posted, "attempts", "Attempts")?;
    let hours: Option<u64> = number(posted, "walltime_hours", "The time limit")?;
    let group = if group.is_empty() {
        None
    } else {
        Some(parse_id::<GroupId>(&group, "group")?.to_string())
    };
    let mut placements = vec![];
    if !replicas.is_empty() {
        placements = std::iter::once(resource.clone())
            .chain(replicas.into_iter().filter(|r| *r != resource))
            .map(|r| medgrid_graphql::usecases::jobs::PlacementRequest { resource: r, nodes })
            .collect();
    }
    Ok(SubmitRequest {
        application: app.id.to_string(),
        parameters,
        resources: if resource.is_empty() {
            vec![]
        } else {
            vec![resource]
        },
        nodes,
        retry: attempts.map(|n| RetryRequest {
            max_attempts: Some(n),
            ..RetryRequest::default()
        }),
        replicas: placements,
        replica_cancel: ReplicaCancel::default(),
        walltime_seconds: hours.map(|h| h.saturating_mul(3600)),
        group,
        idempotency_key: posted.get("submission").filter(|s| !s.is_empty()).cloned(),
    })
}

/// Splits a refusal into the field it is about (an input id, or a run option) and the rest.
pub fn placed(e: &ApiError) -> (BTreeMap<String, String>, Option<String>) {
    match e.field.as_deref() {
        Some(field) => {
            let key = field.strip_prefix("parameters.").unwrap_or(field);
            let prefix = format!("{field}: ");
            let message = e.message.strip_prefix(&prefix).unwrap_or(&e.message);
            (BTreeMap::from([(key.to_owned(), message.to_owned())]), None)
        }
        None => (
            BTreeMap::new(),
            Some(format!("{} ({})", e.message, e.code.as_str())),
        ),
    }
}

/// POST /apps/{id}: submits a job; a refusal shows the form again with the values kept and
/// the error beside its field.
pub async fn submit(v: Visitor, Path(id): Path<String>, Form(posted): Form<Posted>) -> Response {
    if !v.posted_is_fresh(&posted) {
        return view::stale_form(&v);
    }
    let (app, descriptor) = match application(&v, &id).await {
        Ok(found) => found,
        Err(e) => return view::failure(&v, &e),
    };
    let values = form::posted_values(&descriptor, &posted);
    let action = format!("/apps/{}", app.id);
    let outcome = match form::parameters(&descriptor, &values) {
        Err(errors) => Err((errors, None)),
        Ok(parameters) => match request(&app, &posted, parameters) {
            Err(e) => Err(placed(&e)),
            Ok(req) => submit_once(&v, req).await.map_err(|e| placed(&e)),
        },
    };
    match outcome {
        Ok(job) => see_other(&format!("/jobs/{}", job.id), &[]),
        Err((errors, general)) => {
            let fields = form::fields(&descriptor, &values, &errors);
            let general = general.or_else(|| option_error(&errors));
            render_form(
                &v,
                StatusCode::UNPROCESSABLE_ENTITY,
                &app,
                action,
                None,
                fields,
                &posted,
                general,
            )
            .await
        }
    }
}

/// Submits the form's job under its key: the same form posted again answers the job it
/// made. A form changed after it made a job (the browser's back button) asks for another
/// job: its key's CONFLICT means exactly that, so it is submitted without the key.
async fn submit_once(v: &Visitor, request: SubmitRequest) -> Result<JobRow, ApiError> {
    let submitted = medgrid_graphql::usecases::jobs::submit(&v.scope(), request.clone()).await;
    match submitted {
        Err(e) if e.code == Code::Conflict && e.field.as_deref() == Some("idempotencyKey") => {
            let request = SubmitRequest {
                idempotency_key: None,
                ..request
            };
            medgrid_graphql::usecases::jobs::submit(&v.scope(), request).await
        }
        other => other,
    }
}

/// A refusal about a run option (not an input) is shown above the form.
pub fn option_error(errors: &BTreeMap<String, String>) -> Option<String> {
    ["nodes", "attempts", "walltime_hours"]
        .iter()
        .find_map(|k| errors.get(*k).cloned())
}
