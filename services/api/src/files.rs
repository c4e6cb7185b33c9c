//! File downloads: a job's collected outputs, streamed (bounded memory whatever the size),
//! for whoever may see the job, with the same bearer token as the API.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use medgrid_domain::ids::JobId;
use medgrid_domain::ports::JOB_TOKEN_PREFIX;
use medgrid_domain::{Actor, Code};
use medgrid_graphql::usecases::{Scope, delegation, jobs};
use medgrid_graphql::{ApiError, Services};
use medgrid_web::Portal;
use serde_json::json;
use tokio_util::io::ReaderStream;

use crate::graphql::{context, header as header_value};
use crate::limits::{RateLimits, too_many};

pub(crate) fn error(e: &ApiError) -> Response {
    let status = medgrid_web::status_of(e.code);
    let body = json!({"error": {"code": e.code.as_str(), "message": e.message}});
    (status, axum::Json(body)).into_response()
}

pub async fn job_output(
    State(services): State<Services>,
    State(limits): State<Arc<RateLimits>>,
    State(portal): State<Arc<Portal>>,
    Path((id, path)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    // A download is a read and a plain link: the session cookie serves as well.
    let credentials = header_value(&headers, "authorization")
        .map(str::to_owned)
        .or_else(|| medgrid_web::session(&headers, &portal).map(|t| format!("Bearer {t}")));
    let bearer = credentials
        .as_deref()
        .and_then(|c| c.strip_prefix("Bearer "));
    if let Some(token) = bearer.filter(|t| t.starts_with(JOB_TOKEN_PREFIX)) {
        return for_job(&services, token, &id, &path).await;
    }
    let actor = match member(&services, &limits, credentials.as_deref()).await {
        Ok(actor) => actor,
        Err(response) => return response,
    };
    let scope = Scope::member(&services, actor);
    let job = match jobs::visible(&scope, &id).await {
        Ok(job) => job,
        Err(e) => return error(&e),
    };
    serve(&services, JobId::from_uuid(job.id), &path).await
}

/// What a request does with the files it reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Reads: a plain link may do it.
    Read,
    /// Uploads, appends, removals.
    Change,
}

/// The member a request's bearer token or session cookie stands for, within their rate
/// limit. The session cookie changes nothing without the page's CSRF token in
/// `X-CSRF-Token`: a browser sends the cookie along with any site's request, the token
/// only a page of the portal can read. An Authorization header needs no token (no other
/// site can make a browser send one).
pub(crate) async fn authenticate(
    services: &Services,
    limits: &RateLimits,
    portal: &Portal,
    headers: &HeaderMap,
    access: Access,
) -> Result<Actor, Response> {
    let credentials = match header_value(headers, "authorization") {
        Some(value) => Some(value.to_owned()),
        None => {
            let session = medgrid_web::session(headers, portal);
            if session.is_some()
                && access == Access::Change
                && !medgrid_web::csrf_header_valid(headers, portal)
            {
                return Err(error(&ApiError::new(
                    Code::Forbidden,
                    "with the session cookie, send the page's CSRF token in X-CSRF-Token \
                     (or use an Authorization header)",
                )));
            }
            session.map(|t| format!("Bearer {t}"))
        }
    };
    member(services, limits, credentials.as_deref()).await
}

async fn member(
    services: &Services,
    limits: &RateLimits,
    credentials: Option<&str>,
) -> Result<Actor, Response> {
    let actor = context(services, credentials, None)
        .await
        .caller
        .map_err(|e| error(&e))?;
    limits.check(&actor).map_err(too_many)?;
    Ok(actor)
}

/// A download by a running attempt, with its job token: its job's files and its inputs.
async fn for_job(services: &Services, token: &str, id: &str, path: &str) -> Response {
    let grant = match delegation::job_grant(services, token).await {
        Ok(grant) => grant,
        Err(e) => return error(&e),
    };
    match id.parse::<uuid::Uuid>() {
        Ok(job) if grant.may_read(job, path) => serve(services, JobId::from_uuid(job), path).await,
        _ => error(&ApiError::not_found("output")),
    }
}

/// Streams output `path` of `job`.
async fn serve(services: &Services, job: JobId, path: &str) -> Response {
    let Some(file) = services.files.output(job, path) else {
        return error(&ApiError::not_found("output"));
    };
    let opened = tokio::fs::File::from_std(file);
    let size = opened.metadata().await.map(|m| m.len()).unwrap_or(0);
    let name = path.rsplit('/').next().unwrap_or("output").replace('"', "");
    let mut response = Body::from_stream(ReaderStream::new(opened)).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    // a job's output is whatever the job wrote: never let a browser guess it is a page
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}
