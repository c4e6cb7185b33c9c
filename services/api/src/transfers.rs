//! File contents of spaces over plain HTTP beside GraphQL: streaming uploads (the body
//! goes straight to the blob store, hashed on the way, stopped at the space's free room)
//! and downloads with Range. Memory stays bounded whatever the size.
//!
//! - `POST /files/upload?parent=<folder id>&name=<name>`: the body is the content; its
//!   `Content-Type` is recorded (else guessed from the name). Answers the new file as JSON.
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
use medgrid_graphql::usecases::spaces::{self, Located};
use medgrid_graphql::{ApiError, Services};
use medgrid_infra::blobs::BlobError;
use medgrid_infra::contents::{ContentError, Contents};
use serde::Deserialize;
use serde_json::json;
use tokio_util::io::{ReaderStream, StreamReader};

use crate::files::{authenticate, error};
use crate::limits::RateLimits;

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
    Query(q): Query<UploadQuery>,
    request: Request,
) -> Response {
    let actor = match authenticate(&services, &limits, request.headers()).await {
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
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let actor = match authenticate(&services, &limits, &headers).await {
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
    fn names_survive_content_disposition() {
        assert_eq!(
            disposition("scan ü\"1\".nii"),
            "attachment; filename=\"scan __1_.nii\"; filename*=UTF-8''scan%20%C3%BC%221%22.nii"
        );
    }
}
