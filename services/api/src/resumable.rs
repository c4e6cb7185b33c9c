//! Resumable uploads, tus 1.0.0 (core, creation and termination extensions), for files
//! too large to send in one go over hospital networks: a broken connection costs only
//! what was in flight, the client asks where to resume and sends the rest.
//!
//! - `OPTIONS /files/uploads`: the protocol's version, extensions and largest upload.
//! - `POST /files/uploads` with `Upload-Length` and `Upload-Metadata` (`parent`, `name`,
//!   optional `type`, each base64): checked like a one-shot upload before a byte is
//!   accepted (folder writable, name free, room for the whole length); 201 and `Location`.
//! - `HEAD /files/uploads/<id>`: `Upload-Offset` (bytes on disk) and `Upload-Length`.
//! - `PATCH /files/uploads/<id>` with `Upload-Offset` and `Content-Type:
//!   application/offset+octet-stream`: appends. The last byte completes the upload: the
//!   file is recorded like a one-shot upload and its node id answered in `Medgrid-Node-Id`.
//! - `DELETE /files/uploads/<id>`: abandons the upload.
//!
//! Every request but OPTIONS names the protocol (`Tus-Resumable: 1.0.0`): another site's
//! page cannot send that custom header without a CORS preflight, which is not granted. With
//! the session cookie rather than a bearer token, creating, appending and abandoning also
//! need the page's CSRF token in `X-CSRF-Token`, as one-shot uploads do: the cookie alone
//! changes nothing, whatever CORS may one day allow. An upload is its creator's alone:
//! anyone else gets 404. The rows and spool files are `medgrid_infra::uploads`.

use std::io;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRef, Path, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use futures::TryStreamExt;
use medgrid_domain::spaces::Blob;
use medgrid_domain::{Actor, Code};
use medgrid_graphql::usecases::Scope;
use medgrid_graphql::usecases::spaces::{self, Located};
use medgrid_graphql::{ApiError, Services};
use medgrid_infra::contents::Contents;
use medgrid_infra::uploads::{End, Lease, NewUpload, Upload, UploadError, Uploads};
use medgrid_web::Portal;
use tokio_util::io::StreamReader;
use uuid::Uuid;

use crate::AppState;
use crate::files::{Access, authenticate, error};
use crate::limits::RateLimits;
use crate::transfers::{UploadLimit, content_error, media_type_of};

/// The one version of the protocol spoken here.
const TUS_VERSION: &str = "1.0.0";
const EXTENSIONS: &str = "creation,termination";
/// The content type of every PATCH body.
const OFFSET_STREAM: &str = "application/offset+octet-stream";
/// Where the final PATCH names the file it created.
pub const NODE_ID_HEADER: &str = "medgrid-node-id";

/// What the handlers share, owned: a PATCH runs in a task of its own (see [`patch`]).
#[derive(Clone)]
pub struct Ctx {
    services: Services,
    limits: Arc<RateLimits>,
    contents: Contents,
    uploads: Uploads,
    portal: Arc<Portal>,
    max: u64,
}

fn set(response: &mut Response, name: &'static str, value: impl ToString) {
    if let Ok(v) = HeaderValue::from_str(&value.to_string()) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(name), v);
    }
}

/// Every answer but OPTIONS' names the protocol version.
fn tus(mut response: Response) -> Response {
    set(&mut response, "tus-resumable", TUS_VERSION);
    response
}

/// An INVALID_INPUT error with the status the protocol asks for.
fn refuse(status: StatusCode, message: impl Into<String>) -> Response {
    let mut response = error(&ApiError::invalid(message));
    *response.status_mut() = status;
    tus(response)
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// The refusal of a request in another version of the protocol (or none): such a request
/// is not processed.
fn unversioned(headers: &HeaderMap) -> Option<Response> {
    if header_str(headers, "tus-resumable") == Some(TUS_VERSION) {
        return None;
    }
    let mut response = refuse(
        StatusCode::PRECONDITION_FAILED,
        format!("send Tus-Resumable: {TUS_VERSION}, the version this server speaks"),
    );
    set(&mut response, "tus-version", TUS_VERSION);
    Some(response)
}

/// A non-negative integer header; digits only, as the protocol says.
fn number(headers: &HeaderMap, name: &str) -> Result<Option<u64>, ApiError> {
    let Some(raw) = header_str(headers, name) else {
        return Ok(None);
    };
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::invalid(format!(
            "{name} must be a non-negative integer"
        )));
    }
    raw.parse()
        .map(Some)
        .map_err(|_| ApiError::invalid(format!("{name} is too large")))
}

/// What `Upload-Metadata` says about the file to be.
#[derive(Debug, PartialEq, Eq)]
struct Metadata {
    parent: String,
    name: String,
    media_type: Option<String>,
}

/// Parses `Upload-Metadata`: comma-separated `key base64value` pairs (a key alone has an
/// empty value), keys unique. Known keys: `parent`, `name`, `type`, and `filename` and
/// `filetype` as common tus clients (Uppy, tus-js-client) send them; others are ignored.
fn parse_metadata(raw: &str) -> Result<Metadata, ApiError> {
    // padding optional: clients differ
    let base64 = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let mut pairs: Vec<(&str, String)> = vec![];
    for pair in raw.split(',') {
        let pair = pair.trim();
        let (key, value) = pair.split_once(' ').unwrap_or((pair, ""));
        if key.is_empty() || pairs.iter().any(|(k, _)| *k == key) {
            return Err(ApiError::invalid(
                "Upload-Metadata: keys must be present and unique",
            ));
        }
        let bytes = base64.decode(value.trim()).map_err(|_| {
            ApiError::invalid(format!("Upload-Metadata: the value of {key} is not base64"))
        })?;
        let value = String::from_utf8(bytes).map_err(|_| {
            ApiError::invalid(format!("Upload-Metadata: the value of {key} is not UTF-8"))
        })?;
        pairs.push((key, value));
    }
    let get = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| pairs.iter().find(|(key, _)| key == k))
            .map(|(_, v)| v.clone())
    };
    let required = |keys: &[&str]| {
        get(keys)
            .ok_or_else(|| ApiError::invalid(format!("Upload-Metadata needs {} (base64)", keys[0])))
    };
    Ok(Metadata {
        parent: required(&["parent"])?,
        name: required(&["name", "filename"])?,
        media_type: get(&["type", "filetype"]),
    })
}

/// The caller's own upload; anyone else's, or an unknown or malformed id, is not found.
async fn own(ctx: &Ctx, actor: &Actor, id: &str) -> Result<Upload, ApiError> {
    let missing = || ApiError::not_found("upload");
    let id: Uuid = id.parse().map_err(|_| missing())?;
    let scope = Scope::member(&ctx.services, actor.clone());
    ctx.uploads
        .find(&scope.reader(), actor.tenant_id, actor.member_id, id)
        .await
        .map_err(|e| internal(&e))?
        .ok_or_else(missing)
}

fn internal(e: &UploadError) -> ApiError {
    tracing::error!(error = %e, "a resumable upload failed");
    if matches!(e, UploadError::SpoolLost(_)) {
        tracing::error!("every API replica needs the same MEDGRID_UPLOAD_SPOOL_DIR");
    }
    ApiError::new(Code::Internal, "internal error")
}

fn busy() -> ApiError {
    ApiError::new(
        Code::Conflict,
        "another request is writing to this upload; retry once it has ended",
    )
}

/// Authenticates a protocol request: the caller, or the answer to give instead.
async fn caller(ctx: &Ctx, headers: &HeaderMap, access: Access) -> Result<Actor, Response> {
    if let Some(refusal) = unversioned(headers) {
        return Err(refusal);
    }
    authenticate(&ctx.services, &ctx.limits, &ctx.portal, headers, access)
        .await
        .map_err(tus)
}

impl FromRef<AppState> for Ctx {
    fn from_ref(state: &AppState) -> Self {
        Self {
            services: state.services.clone(),
            limits: state.limits.clone(),
            contents: state.contents.clone(),
            uploads: state.uploads.clone(),
            portal: state.portal.clone(),
            max: state.upload_limit.0,
        }
    }
}

/// `OPTIONS /files/uploads`: what this server supports (no credentials needed).
pub async fn options(State(max): State<UploadLimit>) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    set(&mut response, "tus-version", TUS_VERSION);
    set(&mut response, "tus-extension", EXTENSIONS);
    set(&mut response, "tus-max-size", max.0);
    tus(response)
}

/// `POST /files/uploads`: a new upload, refused now rather than after tens of GiB if it
/// cannot succeed.
pub async fn create(State(ctx): State<Ctx>, headers: HeaderMap) -> Response {
    let actor = match caller(&ctx, &headers, Access::Change).await {
        Ok(actor) => actor,
        Err(response) => return response,
    };
    let upload = match begin(&ctx, &actor, &headers).await {
        Ok(upload) => upload,
        Err(e) => return tus(error(&e)),
    };
    let mut response = StatusCode::CREATED.into_response();
    set(
        &mut response,
        "location",
        format!("/files/uploads/{}", upload.id),
    );
    if upload.is_complete() {
        // an empty file: nothing to send, complete at once (clients send no PATCH for it)
        match complete_now(&ctx, actor, &upload).await {
            Ok(at) => set(&mut response, NODE_ID_HEADER, at.node.id),
            Err(e) => return tus(error(&e)),
        }
    }
    tus(response)
}

/// Checks and records a new upload.
async fn begin(ctx: &Ctx, actor: &Actor, headers: &HeaderMap) -> Result<Upload, ApiError> {
    let length = number(headers, "upload-length")?.ok_or_else(|| {
        ApiError::invalid("Upload-Length is required (deferred lengths are not supported)")
    })?;
    if length > ctx.max {
        return Err(ApiError::new(
            Code::QuotaExceeded,
            format!("uploads bring at most {} bytes (Tus-Max-Size)", ctx.max),
        ));
    }
    let meta = parse_metadata(header_str(headers, "upload-metadata").unwrap_or_default())?;
    let scope = Scope::member(&ctx.services, actor.clone());
    let plan = spaces::plan_upload(&scope, &meta.parent, &meta.name, ctx.max).await?;
    if length > plan.limit {
        return Err(ApiError::new(
            Code::QuotaExceeded,
            format!("the space has room for {} bytes only", plan.limit),
        ));
    }
    let media_type = media_type_of(meta.media_type.as_deref(), plan.name.as_ref());
    let new = NewUpload {
        tenant: actor.tenant_id,
        member: actor.member_id,
        parent: plan.folder.node.id,
        name: plan.name.as_ref().to_owned(),
        media_type,
        length,
    };
    ctx.uploads.create(new).await.map_err(|e| internal(&e))
}

/// Completes an upload that needs no more bytes.
async fn complete_now(ctx: &Ctx, actor: Actor, upload: &Upload) -> Result<Located, ApiError> {
    let lease = ctx
        .uploads
        .lease(upload.id)
        .await
        .map_err(|e| internal(&e))?
        .ok_or_else(busy)?;
    let done = record(ctx, actor, &lease, upload).await;
    settle(lease, &done).await;
    done
}

/// `HEAD /files/uploads/<id>`: where to resume.
pub async fn head(State(ctx): State<Ctx>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let actor = match caller(&ctx, &headers, Access::Read).await {
        Ok(actor) => actor,
        Err(response) => return response,
    };
    let upload = match own(&ctx, &actor, &id).await {
        Ok(upload) => upload,
        Err(e) => return tus(error(&e)),
    };
    let mut response = StatusCode::OK.into_response();
    set(&mut response, "upload-offset", upload.offset);
    set(&mut response, "upload-length", upload.length);
    set(&mut response, "cache-control", "no-store");
    tus(response)
}

/// `DELETE /files/uploads/<id>`: abandons an upload, its bytes with it.
pub async fn delete(
    State(ctx): State<Ctx>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let actor = match caller(&ctx, &headers, Access::Change).await {
        Ok(actor) => actor,
        Err(response) => return response,
    };
    let terminated = async {
        let upload = own(&ctx, &actor, &id).await?;
        let lease = ctx
            .uploads
            .lease(upload.id)
            .await
            .map_err(|e| internal(&e))?;
        lease
            .ok_or_else(busy)?
            .remove()
            .await
            .map_err(|e| internal(&e))
    };
    match terminated.await {
        Ok(()) => tus(StatusCode::NO_CONTENT.into_response()),
        Err(e) => tus(error(&e)),
    }
}

/// `PATCH /files/uploads/<id>`: appends the body. The work runs in a task of its own, so a
/// client that goes away cannot cancel it halfway (between a write and its record, or while
/// the completed file is being recorded).
pub async fn patch(State(ctx): State<Ctx>, Path(id): Path<String>, request: Request) -> Response {
    let actor = match caller(&ctx, request.headers(), Access::Change).await {
        Ok(actor) => actor,
        Err(response) => return response,
    };
    let upload = match precheck(&ctx, &actor, &id, request.headers()).await {
        Ok(upload) => upload,
        Err(response) => return response,
    };
    let body = request.into_body();
    match tokio::spawn(write(ctx, actor, upload.id, upload.offset, body)).await {
        Ok(response) => response,
        Err(e) => {
            tracing::error!(error = %e, "a resumable upload's writer failed");
            tus(error(&ApiError::new(Code::Internal, "internal error")))
        }
    }
}

/// What can be refused before the body is read: content type, offset, length.
async fn precheck(
    ctx: &Ctx,
    actor: &Actor,
    id: &str,
    headers: &HeaderMap,
) -> Result<Upload, Response> {
    let content_type = header_str(headers, header::CONTENT_TYPE.as_str());
    if content_type != Some(OFFSET_STREAM) {
        return Err(refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("a PATCH body is sent as Content-Type: {OFFSET_STREAM}"),
        ));
    }
    let fail = |e: ApiError| tus(error(&e));
    let offset = number(headers, "upload-offset")
        .map_err(fail)?
        .ok_or_else(|| fail(ApiError::invalid("Upload-Offset is required")))?;
    let upload = own(ctx, actor, id).await.map_err(fail)?;
    if offset != upload.offset {
        return Err(fail(wrong_offset(offset, &upload)));
    }
    let sent = number(headers, header::CONTENT_LENGTH.as_str()).map_err(fail)?;
    if sent.is_some_and(|s| s > upload.length - upload.offset) {
        return Err(too_long(&upload));
    }
    Ok(upload)
}

fn wrong_offset(offset: u64, upload: &Upload) -> ApiError {
    ApiError::new(
        Code::Conflict,
        format!(
            "Upload-Offset is {offset} but the upload is at {}: ask with HEAD, resume from there",
            upload.offset
        ),
    )
}

/// Bytes past the upload's length are refused, with the request that brought them.
fn too_long(upload: &Upload) -> Response {
    refuse(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "the body goes past Upload-Length {} ({} bytes remain from offset {}): nothing of \
             this request was kept",
            upload.length,
            upload.length - upload.offset,
            upload.offset
        ),
    )
}

/// Appends under the upload's lease and completes it once its last byte is in.
async fn write(ctx: Ctx, actor: Actor, id: Uuid, offset: u64, body: Body) -> Response {
    let mut lease = match ctx.uploads.lease(id).await {
        Ok(Some(lease)) => lease,
        Ok(None) => return tus(error(&busy())),
        Err(e) => return tus(error(&internal(&e))),
    };
    let upload = match append(&mut lease, offset, body).await {
        Ok(upload) if upload.is_complete() => upload,
        Ok(upload) => {
            lease.release().await;
            return written(&upload);
        }
        Err(response) => {
            lease.release().await;
            return response;
        }
    };
    let done = record(&ctx, actor, &lease, &upload).await;
    settle(lease, &done).await;
    match done {
        Ok(at) => {
            let mut response = written(&upload);
            set(&mut response, NODE_ID_HEADER, at.node.id);
            response
        }
        Err(e) => tus(error(&e)),
    }
}

/// Appends the body at `offset` (checked again under the lease: a request just before may
/// have moved the upload on, or finished or abandoned it); the upload as it is after.
async fn append(lease: &mut Lease, offset: u64, body: Body) -> Result<Upload, Response> {
    let fail = |e: ApiError| tus(error(&e));
    let upload = match lease.current().await {
        Ok(Some(upload)) if upload.offset == offset => upload,
        Ok(Some(upload)) => return Err(fail(wrong_offset(offset, &upload))),
        Ok(None) => return Err(fail(ApiError::not_found("upload"))),
        Err(e) => return Err(fail(internal(&e))),
    };
    let stream = body.into_data_stream().map_err(io::Error::other);
    let mut reader = StreamReader::new(stream);
    let appended = lease
        .append(&upload, &mut reader)
        .await
        .map_err(|e| fail(internal(&e)))?;
    let upload = Upload {
        offset: appended.offset,
        ..upload
    };
    match appended.end {
        End::Finished => Ok(upload),
        End::Overflow => Err(too_long(&upload)),
        End::Cut(e) => {
            tracing::info!(error = %e, offset = upload.offset, "a resumable upload's request broke off");
            Err(fail(ApiError::invalid(format!(
                "the body stopped before its end; the upload keeps {} bytes: resume from there",
                upload.offset
            ))))
        }
    }
}

fn written(upload: &Upload) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    set(&mut response, "upload-offset", upload.offset);
    tus(response)
}

/// Turns a complete upload into a file, as a one-shot upload would: checked again (the
/// quota, the folder and the name may have changed since it began), stored through the
/// blob store (hashed on the way), recorded.
async fn record(
    ctx: &Ctx,
    actor: Actor,
    lease: &Lease,
    upload: &Upload,
) -> Result<Located, ApiError> {
    let scope = Scope::member(&ctx.services, actor);
    let parent = upload.parent.to_string();
    let plan = spaces::plan_upload(&scope, &parent, &upload.name, ctx.max).await?;
    if upload.length > plan.limit {
        return Err(ApiError::new(
            Code::QuotaExceeded,
            format!("the space has room for {} bytes only now", plan.limit),
        ));
    }
    let mut spool = lease.read(upload).await.map_err(|e| internal(&e))?;
    let claim = ctx
        .contents
        .receive(&mut spool, plan.limit)
        .await
        .map_err(|e| content_error(&e))?;
    let blob = Blob {
        sha256: claim.blob.sha256.clone(),
        size: claim.blob.size,
        media_type: upload.media_type.clone(),
    };
    let recorded = spaces::finish_upload(&scope, plan, blob).await;
    // recorded or not, the claim goes: unrecorded content is removed with it
    ctx.contents.release(claim).await;
    recorded
}

/// After a completion: the upload goes once it is a file, or refused (it could never
/// succeed); a failure of ours keeps it, and a PATCH with no body at its end retries.
async fn settle<T>(lease: Lease, outcome: &Result<T, ApiError>) {
    if matches!(outcome, Err(e) if e.code == Code::Internal) {
        lease.release().await;
    } else if let Err(e) = lease.remove().await {
        tracing::warn!(error = %e, "a finished upload stays until it expires");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose;

    fn b64(s: &str) -> String {
        general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn metadata_is_read_as_the_protocol_writes_it() {
        let raw = format!(
            "parent {},name {}, type {},is_confidential",
            b64("f0"),
            b64("scan ü.nii"),
            b64("application/x-nifti")
        );
        assert_eq!(
            parse_metadata(&raw).ok(),
            Some(Metadata {
                parent: "f0".into(),
                name: "scan ü.nii".into(),
                media_type: Some("application/x-nifti".into()),
            })
        );
        // tus-js-client's keys, unpadded base64
        let raw = format!(
            "filename {},parent {}",
            b64("a.txt").trim_end_matches('='),
            b64("p")
        );
        let meta = parse_metadata(&raw).ok();
        assert_eq!(
            meta.map(|m| (m.name, m.media_type)),
            Some(("a.txt".into(), None))
        );
    }

    #[test]
    fn bad_metadata_is_invalid_input() {
        for raw in [
            String::new(),
            format!("name {}", b64("a")),
            format!("parent {},name !!!", b64("p")),
            format!("parent {},parent {},name {}", b64("p"), b64("q"), b64("a")),
            format!("parent {},,name {}", b64("p"), b64("a")),
            format!(
                "parent {},name {}",
                b64("p"),
                general_purpose::STANDARD.encode([0xff, 0xfe])
            ),
        ] {
            let e = parse_metadata(&raw).err();
            assert_eq!(e.map(|e| e.code), Some(Code::InvalidInput), "{raw:?}");
        }
    }

    #[test]
    fn numbers_are_digits_only() {
        let mut h = HeaderMap::new();
        h.insert("upload-length", HeaderValue::from_static("42"));
        assert_eq!(number(&h, "upload-length").ok(), Some(Some(42)));
        assert_eq!(number(&h, "upload-offset").ok(), Some(None));
        for bad in ["-1", "+1", "1e3", "", "99999999999999999999999"] {
            h.insert("upload-length", HeaderValue::from_static(bad));
            assert!(number(&h, "upload-length").is_err(), "{bad}");
        }
    }
}
