//! File contents of spaces over plain HTTP beside GraphQL: streaming uploads (the body
//! goes straight to the blob store, hashed on the way, stopped at the space's free room)
//! and downloads with Range. Memory stays bounded whatever the size.
//!
//! - `POST /files/upload?parent=<folder id>&name=<name>`: the body is the content; its
//!   `Content-Type` is recorded (else guessed from the name). Answers the new file as JSON.
//!   With the session cookie rather than a bearer token, the page's CSRF token comes in
//!   `X-CSRF-Token` (as the folder page's script sends it).
//! - `POST /files/upload-form`: the portal's multipart form of a folder page (browsers
//!   without JavaScript): `csrf`, `parent`, then one or more `files` parts.
//! - `GET /files/nodes/<id>`: the content, `Range: bytes=…` honoured (one range).

use std::io;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::TryStreamExt;
use medgrid_domain::Code;
use medgrid_domain::spaces::Blob;
use medgrid_graphql::usecases::Scope;
use medgrid_graphql::usecases::spaces::{self, Located, UploadPlan};
use medgrid_graphql::{ApiError, Services};
use medgrid_infra::blobs::BlobError;
use medgrid_infra::contents::{Claim, ContentError, Contents};
use medgrid_web::{Portal, Visitor};
use serde::Deserialize;
use serde_json::json;
use tokio_util::io::{ReaderStream, StreamReader};

use crate::files::{Access, authenticate, error};
use crate::limits::{RateLimits, too_many};

/// What uploads may bring at most, whatever the quota.
#[derive(Debug, Clone, Copy)]
pub struct UploadLimit(pub u64);

#[derive(Deserialize)]
pub struct UploadQuery {
    parent: String,
    name: String,
}

fn media_type(headers: &HeaderMap, name: &str) -> String {
    let given = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    media_type_of(given, name)
}

/// The media type a client gave, unless it says nothing (absent, blank, generic or too
/// long to keep): then the one its name suggests.
pub(crate) fn media_type_of(given: Option<&str>, name: &str) -> String {
    let given = given
        .map(str::trim)
        .filter(|t| !t.is_empty() && *t != "application/octet-stream" && t.len() <= 255)
        .filter(|t| !t.chars().any(char::is_control));
    match given {
        Some(t) => t.to_owned(),
        None => medgrid_domain::spaces::guess_media_type(name).to_owned(),
    }
}

pub(crate) fn content_error(e: &ContentError) -> ApiError {
    match e {
        ContentError::Blob(BlobError::TooLarge { limit }) => ApiError::new(
            Code::QuotaExceeded,
            format!("the upload is larger than the {limit} bytes the space has room for"),
        ),
        ContentError::Blob(BlobError::Io(io)) if io.kind() == io::ErrorKind::Other => {
            tracing::info!(error = %io, "an upload stopped before its end");
            ApiError::invalid("the upload stopped before its end: nothing was stored")
        }
        other => {
            tracing::error!(error = %other, "an upload failed");
            ApiError::new(Code::Internal, "internal error")
        }
    }
}

fn node_json(at: &Located) -> serde_json::Value {
    json!({
        "id": at.node.id,
        "name": at.node.name,
        "size": at.node.size,
        "sha256": at.node.sha256,
        "mediaType": at.node.media_type,
        "downloadUrl": format!("/files/nodes/{}", at.node.id),
    })
}

pub async fn upload(
    State(services): State<Services>,
    State(limits): State<Arc<RateLimits>>,
    State(contents): State<Contents>,
    State(max): State<UploadLimit>,
    State(portal): State<Arc<Portal>>,
    Query(q): Query<UploadQuery>,
    request: Request,
) -> Response {
    let headers = request.headers();
    let actor = match authenticate(&services, &limits, &portal, headers, Access::Change).await {
        Ok(actor) => actor,
        Err(response) => return response,
    };
    let scope = Scope::member(&services, actor);
    // everything that can be refused is refused before a byte is accepted
    let plan = match spaces::plan_upload(&scope, &q.parent, &q.name, max.0).await {
        Ok(plan) => plan,
        Err(e) => return error(&e),
    };
    let media_type = media_type(request.headers(), &q.name);
    let body = request
        .into_body()
        .into_data_stream()
        .map_err(io::Error::other);
    let mut reader = StreamReader::new(body);
    let claim = match contents.receive(&mut reader, plan.limit).await {
        Ok(claim) => claim,
        Err(e) => return error(&content_error(&e)),
    };
    let blob = Blob {
        sha256: claim.blob.sha256.clone(),
        size: claim.blob.size,
        media_type,
    };
    let recorded = spaces::finish_upload(&scope, plan, blob).await;
    // recorded or not, the claim goes: unrecorded content is removed with it
    contents.release(claim).await;
    match recorded {
        Ok(at) => (StatusCode::CREATED, axum::Json(node_json(&at))).into_response(),
        Err(e) => error(&e),
    }
}

/// The fields of the upload form beside its files, at most this long each.
const FORM_FIELD_BYTES: u64 = 1024;

/// A file of the upload form, stored and claimed, not yet recorded.
struct Received {
    plan: UploadPlan,
    claim: Claim,
    media_type: String,
}

enum Refusal {
    /// The form's CSRF field is missing or not this browser's.
    Stale,
    Refused(ApiError),
}

/// `POST /files/upload-form`: the folder page's multipart form, for browsers without
/// JavaScript. Each file part streams through the blob store like `upload`, within the
/// size limit and the room the space's quota leaves for all of them together. All the
/// files are recorded or, when one is refused, none: the folder page comes back with
/// the reason beside the file field. Success answers 303 to the folder.
pub async fn upload_form(
    visitor: Visitor,
    State(limits): State<Arc<RateLimits>>,
    State(contents): State<Contents>,
    State(max): State<UploadLimit>,
    request: Request,
) -> Response {
    if let Err(wait) = limits.check(&visitor.actor) {
        return too_many(wait);
    }
    let Some(boundary) = medgrid_web::multipart_boundary(request.headers()) else {
        let e = ApiError::invalid("the form must be sent as multipart/form-data");
        return medgrid_web::files::upload_refused(&visitor, "", &e).await;
    };
    let sizes = multer::SizeLimit::new()
        .for_field("csrf", FORM_FIELD_BYTES)
        .for_field("parent", FORM_FIELD_BYTES);
    let mut form = multer::Multipart::with_constraints(
        request.into_body().into_data_stream(),
        boundary,
        multer::Constraints::new().size_limit(sizes),
    );
    let mut parent = String::new();
    let mut received = vec![];
    let read = read_form(
        &visitor,
        &contents,
        max,
        &mut form,
        &mut parent,
        &mut received,
    )
    .await;
    if let Err(refusal) = read {
        // nothing is recorded: the contents received so far go with their claims
        for file in received {
            contents.release(file.claim).await;
        }
        return match refusal {
            Refusal::Stale => medgrid_web::files::stale_upload(&visitor),
            Refusal::Refused(e) => medgrid_web::files::upload_refused(&visitor, &parent, &e).await,
        };
    }
    let scope = visitor.scope();
    let mut failed = None;
    for file in received {
        if failed.is_none() {
            let blob = Blob {
                sha256: file.claim.blob.sha256.clone(),
                size: file.claim.blob.size,
                media_type: file.media_type,
            };
            if let Err(e) = spaces::finish_upload(&scope, file.plan, blob).await {
                failed = Some(e);
            }
        }
        contents.release(file.claim).await;
    }
    match failed {
        Some(e) => medgrid_web::files::upload_refused(&visitor, &parent, &e).await,
        None => medgrid_web::files::uploaded(&visitor, &parent).await,
    }
}

fn unreadable(e: &multer::Error) -> Refusal {
    tracing::info!(error = %e, "an upload form could not be read");
    Refusal::Refused(ApiError::invalid(
        "the form could not be read to its end: nothing was stored",
    ))
}

/// Reads the form's fields in order (the token and the folder come before the files),
/// storing each file and checking it may be recorded.
async fn read_form(
    visitor: &Visitor,
    contents: &Contents,
    max: UploadLimit,
    form: &mut multer::Multipart<'_>,
    parent: &mut String,
    received: &mut Vec<Received>,
) -> Result<(), Refusal> {
    let scope = visitor.scope();
    let mut fresh = false;
    while let Some(field) = form.next_field().await.map_err(|e| unreadable(&e))? {
        match field.name() {
            Some("csrf") => {
                let token = field.text().await.map_err(|e| unreadable(&e))?;
                fresh = visitor.form_is_fresh(&token);
            }
            Some("parent") => *parent = field.text().await.map_err(|e| unreadable(&e))?,
            Some("files") => {
                if !fresh {
                    return Err(Refusal::Stale);
                }
                // browsers send an empty part for a file field left empty
                let name = field.file_name().map(base_name).unwrap_or_default();
                if name.is_empty() {
                    continue;
                }
                let name = name.to_owned();
                if received.iter().any(|r| r.plan.name.as_ref() == name) {
                    return Err(Refusal::Refused(ApiError::new(
                        Code::Conflict,
                        format!("two of the files are called {name:?}"),
                    )));
                }
                // the room the quotas leave (u64::MAX: none), less what this form brought
                let plan = spaces::plan_upload(&scope, parent, &name, u64::MAX)
                    .await
                    .map_err(Refusal::Refused)?;
                let taken: u64 = received.iter().map(|r| r.claim.blob.size).sum();
                let limit = plan.limit.saturating_sub(taken).min(max.0);
                let given = field.content_type().map(|m| m.essence_str().to_owned());
                let media_type = media_type_of(given.as_deref(), &name);
                let mut reader = StreamReader::new(field.map_err(io::Error::other));
                let claim = contents
                    .receive(&mut reader, limit)
                    .await
                    .map_err(|e| Refusal::Refused(content_error(&e)))?;
                received.push(Received {
                    plan,
                    claim,
                    media_type,
                });
            }
            _ => {}
        }
    }
    if !fresh {
        return Err(Refusal::Stale);
    }
    if received.is_empty() {
        return Err(Refusal::Refused(ApiError::invalid(
            "choose one or more files to upload",
        )));
    }
    Ok(())
}

/// The name of a file part without the folders some browsers put before it.
fn base_name(given: &str) -> &str {
    given.rsplit(['/', '\\']).next().unwrap_or(given).trim()
}

/// One byte range, end exclusive; None when the header asks for the whole.
fn parse_range(value: &str, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Err(());
    };
    if spec.contains(',') {
        return Err(()); // several ranges: not served
    }
    let (start, end) = spec.split_once('-').ok_or(())?;
    let (start, end) = (start.trim(), end.trim());
    let range = if start.is_empty() {
        let suffix: u64 = end.parse().map_err(|_| ())?;
        if suffix == 0 {
            return Err(());
        }
        (size.saturating_sub(suffix), size)
    } else {
        let start: u64 = start.parse().map_err(|_| ())?;
        let end = if end.is_empty() {
            size
        } else {
            end.parse::<u64>()
                .map_err(|_| ())?
                .saturating_add(1)
                .min(size)
        };
        (start, end)
    };
    if range.0 >= range.1 || range.0 >= size {
        return Err(());
    }
    Ok(Some(range))
}

/// `attachment` with an ASCII fallback and the exact name in RFC 5987 form.
fn disposition(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' && c != '%' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

pub async fn download(
    State(services): State<Services>,
    State(limits): State<Arc<RateLimits>>,
    State(contents): State<Contents>,
    State(portal): State<Arc<Portal>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let actor = match authenticate(&services, &limits, &portal, &headers, Access::Read).await {
        Ok(actor) => actor,
        Err(response) => return response,
    };
    let scope = Scope::member(&services, actor);
    let at = match spaces::readable_file(&scope, &id).await {
        Ok(at) => at,
        Err(e) => return error(&e),
    };
    let size = u64::try_from(at.node.size).unwrap_or(0);
    let range = match headers.get(header::RANGE).map(|v| v.to_str()) {
        None => None,
        Some(Ok(v)) => match parse_range(v, size) {
            Ok(r) => r,
            Err(()) => return unsatisfiable(size),
        },
        Some(Err(_)) => return unsatisfiable(size),
    };
    let sha256 = at.node.sha256.clone().unwrap_or_default();
    let reader = match contents.store().open(&sha256, range).await {
        Ok(r) => r,
        Err(BlobError::BadRange { size }) => return unsatisfiable(size),
        Err(e) => {
            tracing::error!(error = %e, node = %at.node.id, "a file's content cannot be read");
            return error(&ApiError::new(Code::Internal, "the file cannot be read"));
        }
    };
    let mut response = Body::from_stream(ReaderStream::new(reader)).into_response();
    let (start, end) = range.unwrap_or((0, size));
    if range.is_some() {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    let h = response.headers_mut();
    let media = at
        .node
        .media_type
        .as_deref()
        .unwrap_or("application/octet-stream");
    let pairs = [
        (header::CONTENT_TYPE, media.to_owned()),
        (header::CONTENT_LENGTH, (end - start).to_string()),
        (header::ACCEPT_RANGES, "bytes".to_owned()),
        (header::ETAG, format!("\"{sha256}\"")),
        (
            header::CONTENT_DISPOSITION,
            disposition(at.node.name.as_deref().unwrap_or("file")),
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
    ];
    for (name, value) in pairs {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    if range.is_some()
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{size}", end - 1))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    response
}

fn unsatisfiable(size: u64) -> Response {
    let mut response = error(&ApiError::invalid(format!(
        "the range is not within the file's {size} bytes (one range, bytes=start-end)"
    )));
    *response.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
    if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
        response.headers_mut().insert(header::CONTENT_RANGE, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_read_as_rfc_9110_says() {
        assert_eq!(parse_range("bytes=0-99", 1000), Ok(Some((0, 100))));
        assert_eq!(parse_range("bytes=900-", 1000), Ok(Some((900, 1000))));
        assert_eq!(parse_range("bytes=-100", 1000), Ok(Some((900, 1000))));
        assert_eq!(parse_range("bytes=990-5000", 1000), Ok(Some((990, 1000))));
        for bad in [
            "bytes=1000-",
            "bytes=5-2",
            "bytes=0-1,5-6",
            "items=0-1",
            "bytes=-0",
            "bytes=x-",
        ] {
            assert_eq!(parse_range(bad, 1000), Err(()), "{bad}");
        }
    }

    #[test]
    fn form_file_names_lose_their_folders() {
        assert_eq!(base_name("C:\\scans\\t1.nii"), "t1.nii");
        assert_eq!(base_name("a/b/dose.csv"), "dose.csv");
        assert_eq!(base_name("plain.txt"), "plain.txt");
        assert_eq!(base_name(""), "");
    }

    #[test]
    fn names_survive_content_disposition() {
        assert_eq!(
            disposition("scan ü\"1\".nii"),
            "attachment; filename=\"scan __1_.nii\"; filename*=UTF-8''scan%20%C3%BC%221%22.nii"
        );
    }
}
