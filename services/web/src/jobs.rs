//! Jobs: the list with filters and paging, each job's page with its live timeline,
//! attempts, logs and outputs, and the cancel and resubmit buttons.

use std::collections::BTreeMap;
use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use medgrid_domain::ids::JobId;
use medgrid_domain::jobs::{JobState, OutputFile};
use medgrid_domain::ports::LogStream;
use medgrid_graphql::ApiError;
use medgrid_graphql::usecases::{catalog, jobs};
use medgrid_projections::applications::ApplicationRow;
use medgrid_projections::jobs::{AttemptRow, JobRow, TimelineRow};
use medgrid_projections::page::PageRequest;
use serde::Deserialize;
use serde_json::Value;

use crate::Portal;
use crate::catalog::{self as apps, Option_};
use crate::form::{self, Posted};
use crate::login::{see_other, urlencode};
use crate::view;
use crate::visitor::Visitor;

const PAGE: i64 = 25;
/// The end of each log shown on a job's page.
const LOG_TAIL: u64 = 32 * 1024;

/// A time as pages show it (UTC: the same for everyone reading a ticket about it).
pub fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

pub fn short(id: uuid::Uuid) -> String {
    id.simple().to_string().chars().take(8).collect()
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    state: String,
    #[serde(default)]
    app: String,
    after: Option<i64>,
}

#[derive(Template)]
#[template(path = "web/jobs.html")]
struct JobsPage<'a> {
    v: &'a Visitor,
    section: &'a str,
    states: Vec<Option_>,
    apps: Vec<Option_>,
    jobs: Vec<JobRow>,
    next: Option<String>,
    filtered: bool,
}

impl JobsPage<'_> {
    fn short(&self, id: &uuid::Uuid) -> String {
        short(*id)
    }
    fn when(&self, at: &DateTime<Utc>) -> String {
        when(*at)
    }
}

fn state_options(chosen: &str) -> Vec<Option_> {
    std::iter::once(("", "Any state"))
        .chain(JobState::ALL.iter().map(|s| (s.as_str(), s.as_str())))
        .map(|(value, label)| Option_ {
            value: value.to_owned(),
            label: label.to_owned(),
            selected: value == chosen,
        })
        .collect()
}

fn app_options(rows: &[ApplicationRow], chosen: &str) -> Vec<Option_> {
    std::iter::once(Option_ {
        value: String::new(),
        label: "Any application".into(),
        selected: chosen.is_empty(),
    })
    .chain(rows.iter().map(|a| Option_ {
        value: a.id.to_string(),
        label: format!("{} {}", a.name, a.version),
        selected: a.id.to_string() == chosen,
    }))
    .collect()
}

/// GET /jobs: the jobs the member sees, newest first, 25 a page.
pub async fn list(v: Visitor, Query(q): Query<ListQuery>) -> Response {
    let scope = v.scope();
    let states = match JobState::parse(&q.state) {
        Some(s) => vec![s],
        None if q.state.is_empty() => vec![],
        None => return view::failure(&v, &ApiError::invalid("no such state")),
    };
    let app = (!q.app.is_empty()).then_some(q.app.as_str());
    let filter = match jobs::filter(states, app, None) {
        Ok(f) => f,
        Err(e) => return view::failure(&v, &e),
    };
    let page = PageRequest {
        first: PAGE,
        after: q.after,
    };
    let (found, catalog) = match (
        jobs::list(&scope, &filter, page).await,
        catalog::list(&scope, v.actor.tenant_id).await,
    ) {
        (Ok(found), Ok(catalog)) => (found, catalog),
        (Err(e), _) | (_, Err(e)) => return view::failure(&v, &e),
    };
    let base = format!(
        "/jobs?state={}&app={}&",
        urlencode(&q.state),
        urlencode(&q.app)
    );
    let next = view::next_link(&found, |j| j.position, &base);
    let page = JobsPage {
        v: &v,
        section: "jobs",
        states: state_options(&q.state),
        apps: app_options(&catalog, &q.app),
        jobs: found.rows,
        next,
        filtered: !q.state.is_empty() || !q.app.is_empty(),
    };
    view::ok(&v, &page)
}

/// One log of an attempt, as the page shows it.
pub struct Log {
    pub name: &'static str,
    pub text: String,
    /// Whether the start was cut off.
    pub cut: bool,
}

pub struct AttemptView {
    pub row: AttemptRow,
    pub logs: Vec<Log>,
}

pub struct Output {
    pub path: String,
    pub size: u64,
    pub url: String,
    /// Where a picture of it is: itself (PNG, JPEG, SVG) or its preview (NIfTI, DICOM).
    pub picture: Option<String>,
}

/// Whether Medgrid draws previews of files called `path`.
fn previewable(path: &str) -> bool {
    let path = path.to_lowercase();
    [".nii", ".nii.gz", ".dcm", ".dicom"]
        .iter()
        .any(|ext| path.ends_with(ext))
}

fn picture(job: uuid::Uuid, path: &str, url: &str) -> Option<String> {
    let lower = path.to_lowercase();
    if [".png", ".jpg", ".jpeg", ".svg"]
        .iter()
        .any(|ext| lower.ends_with(ext))
    {
        Some(url.to_owned())
    } else {
        previewable(path).then(|| format!("/jobs/{job}/preview/{}", urlencode(path)))
    }
}

/// What changes while a job runs: redrawn in place every two seconds until it is final.
#[derive(Template)]
#[template(path = "web/job_live.html")]
pub struct Live {
    pub job: JobRow,
    pub timeline: Vec<TimelineRow>,
    pub attempts: Vec<AttemptView>,
    pub outputs: Vec<Output>,
    pub finished: bool,
    pub may_cancel: bool,
    pub csrf: String,
}

impl Live {
    fn when(&self, at: &DateTime<Utc>) -> String {
        when(*at)
    }
}

async fn live(v: &Visitor, id: &str) -> Result<Live, ApiError> {
    let scope = v.scope();
    let job = jobs::visible(&scope, id).await?;
    let reads = scope.reader();
    let job_id = JobId::from_uuid(job.id);
    let timeline = medgrid_projections::jobs::timeline_of(&reads, job_id).await?;
    let mut attempts = vec![];
    for row in medgrid_projections::jobs::attempts(&reads, job_id).await? {
        let number = u32::try_from(row.number).unwrap_or(0);
        let mut logs = vec![];
        for (name, stream) in [("Output", LogStream::Stdout), ("Errors", LogStream::Stderr)] {
            match v.svc.files.log(job_id, number, stream, true, LOG_TAIL) {
                Ok(Some(piece)) => logs.push(Log {
                    name,
                    cut: piece.size > LOG_TAIL,
                    text: piece.text,
                }),
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "a log could not be read"),
            }
        }
        attempts.push(AttemptView { row, logs });
    }
    let files: Vec<OutputFile> = serde_json::from_value(job.outputs.clone()).unwrap_or_default();
    let outputs = files
        .into_iter()
        .map(|f| {
            // a name may hold `?`, `#` or spaces: each is a character of the path
            let url = format!("/files/jobs/{}/outputs/{}", job.id, urlencode(&f.path));
            Output {
                picture: picture(job.id, &f.path, &url),
                url,
                path: f.path,
                size: f.size,
            }
        })
        .collect();
    let finished = JobState::parse(&job.state).is_some_and(JobState::is_terminal);
    Ok(Live {
        may_cancel: !finished,
        finished,
        job,
        timeline,
        attempts,
        outputs,
        csrf: v.csrf.clone(),
    })
}

#[derive(Template)]
#[template(path = "web/job.html")]
struct JobPage<'a> {
    v: &'a Visitor,
    section: &'a str,
    live: Live,
    title: String,
}

/// GET /jobs/{id}: the job, following its state live.
pub async fn show(v: Visitor, Path(id): Path<String>) -> Response {
    match live(&v, &id).await {
        Ok(live) => {
            let title = format!(
                "{} {} · job {}",
                live.job.application_name,
                live.job.application_version,
                short(live.job.id)
            );
            view::ok(
                &v,
                &JobPage {
                    v: &v,
                    section: "jobs",
                    live,
                    title,
                },
            )
        }
        Err(e) => view::failure(&v, &e),
    }
}

/// GET /jobs/{id}/live: the part of the job page that changes.
pub async fn live_part(v: Visitor, Path(id): Path<String>) -> Response {
    match live(&v, &id).await {
        Ok(live) => view::ok(&v, &live),
        Err(e) => view::failure(&v, &e),
    }
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    csrf: String,
}

/// POST /jobs/{id}/cancel.
pub async fn cancel(v: Visitor, Path(id): Path<String>, Form(form): Form<CsrfOnly>) -> Response {
    if !v.form_is_fresh(&form.csrf) {
        return view::stale_form(&v);
    }
    match jobs::cancel(&v.scope(), &id).await {
        Ok(job) => see_other(&format!("/jobs/{}", job.id), &[]),
        Err(e) => view::failure(&v, &e),
    }
}

/// The old job and its application, for a resubmission.
async fn old_job(
    v: &Visitor,
    id: &str,
) -> Result<(JobRow, ApplicationRow, medgrid_domain::catalog::Descriptor), ApiError> {
    let job = jobs::visible(&v.scope(), id).await?;
    let (app, descriptor) = apps::application(v, &job.application_id.to_string()).await?;
    Ok((job, app, descriptor))
}

/// GET /jobs/{id}/resubmit: the application's form with the job's values.
pub async fn resubmit_form(v: Visitor, Path(id): Path<String>) -> Response {
    let (job, app, descriptor) = match old_job(&v, &id).await {
        Ok(found) => found,
        Err(e) => return view::failure(&v, &e),
    };
    let values = form::values_of(&job.parameters);
    let fields = form::fields(&descriptor, &values, &BTreeMap::new());
    apps::render_form(
        &v,
        StatusCode::OK,
        &app,
        format!("/jobs/{}/resubmit", job.id),
        Some(job.id.to_string()),
        fields,
        &Posted::new(),
        None,
    )
    .await
}

/// POST /jobs/{id}/resubmit: a new job with the edited values (inputs left empty are
/// removed, so they take their defaults).
pub async fn resubmit(v: Visitor, Path(id): Path<String>, Form(posted): Form<Posted>) -> Response {
    if !v.posted_is_fresh(&posted) {
        return view::stale_form(&v);
    }
    let (job, app, descriptor) = match old_job(&v, &id).await {
        Ok(found) => found,
        Err(e) => return view::failure(&v, &e),
    };
    let values = form::posted_values(&descriptor, &posted);
    let outcome = match form::parameters(&descriptor, &values) {
        Err(errors) => Err((errors, None)),
        Ok(Value::Object(mut given)) => {
            for input in &descriptor.inputs {
                given.entry(input.id.clone()).or_insert(Value::Null);
            }
            jobs::resubmit(&v.scope(), &id, Some(Value::Object(given)))
                .await
                .map_err(|e| apps::placed(&e))
        }
        Ok(_) => Err((
            BTreeMap::new(),
            Some("the form could not be read".to_owned()),
        )),
    };
    match outcome {
        Ok(new) => see_other(&format!("/jobs/{}", new.id), &[]),
        Err((errors, general)) => {
            let fields = form::fields(&descriptor, &values, &errors);
            apps::render_form(
                &v,
                StatusCode::UNPROCESSABLE_ENTITY,
                &app,
                format!("/jobs/{}/resubmit", job.id),
                Some(job.id.to_string()),
                fields,
                &posted,
                general,
            )
            .await
        }
    }
}

/// GET /jobs/{id}/preview/{*path}: a PNG of an image output (the middle slice of a NIfTI
/// volume, the first frame of a DICOM instance), drawn here for whoever may see the job.
pub async fn preview(
    v: Visitor,
    State(portal): State<Arc<Portal>>,
    Path((id, path)): Path<(String, String)>,
) -> Response {
    use axum::http::header;
    use axum::response::IntoResponse;
    use medgrid_infra::preview;

    let previews = &portal.previews;
    let turn = match previews.turn(&v.actor).await {
        Ok(turn) => turn,
        Err(refused) => return refused,
    };
    let job = match jobs::visible(&v.scope(), &id).await {
        Ok(job) => job,
        Err(e) => return view::failure(&v, &e),
    };
    let Some(file) = v.svc.files.output(JobId::from_uuid(job.id), &path) else {
        return view::failure(&v, &ApiError::not_found("output"));
    };
    let max_source = previews.max_source_bytes;
    let drawn = tokio::task::spawn_blocking(move || {
        let drawn = preview::of_file(&file, max_source);
        drop(turn);
        drawn
    })
    .await;
    match drawn {
        Ok(Ok(png)) => (
            [
                (header::CONTENT_TYPE, "image/png"),
                (header::CACHE_CONTROL, "private, max-age=3600"),
            ],
            png,
        )
            .into_response(),
        Ok(Err(e)) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, e.to_string()).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "drawing a preview failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the preview could not be drawn",
            )
                .into_response()
        }
    }
}
