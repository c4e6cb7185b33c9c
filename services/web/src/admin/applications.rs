//! The tenant's applications for its administrators: enabled and disabled ones, the
//! buttons that enable and disable them, whether each is networked (platform
//! administrators switch it), and registering one from its Boutiques descriptor, uploaded
//! as a file or pasted (one multipart form, either field).

use askama::Template;
use axum::Form;
use axum::extract::{Path, Request};
use axum::http::StatusCode;
use axum::response::Response;
use medgrid_graphql::ApiError;
use medgrid_graphql::usecases::catalog;
use medgrid_projections::applications::ApplicationRow;
use serde_json::Value;

use crate::form::Posted;
use crate::login::see_other;
use crate::view;
use crate::visitor::Visitor;

/// The largest descriptor taken, uploaded or pasted (the shipped ones are a few KiB).
const DESCRIPTOR_BYTES: usize = 1024 * 1024;
/// The most of a form read: a descriptor somewhat too large is read to its end, so the
/// browser sees why it was refused; past this the connection is dropped.
const FORM_BYTES: u64 = 8 * 1024 * 1024;
const CSRF_BYTES: u64 = 1024;
/// The upload field and the paste field of the register form.
const FILE: &str = "descriptorFile";
const PASTED: &str = "descriptor";

#[derive(Template)]
#[template(path = "web/admin_applications.html")]
struct Page<'a> {
    v: &'a Visitor,
    section: &'a str,
    /// Platform administrators switch whether an application is networked.
    platform: bool,
    apps: Vec<ApplicationRow>,
    /// What was pasted in a form that came back refused.
    pasted: String,
    file_error: Option<String>,
    pasted_error: Option<String>,
    error: Option<String>,
}

/// What a refused register form brings back.
#[derive(Default)]
struct Back {
    pasted: String,
    refusal: Option<Refusal>,
}

async fn render(v: &Visitor, status: StatusCode, back: Back) -> Response {
    // members see the enabled applications in the catalog; this page is the admins'
    if let Some(refused) = super::refuse_non_admin(v) {
        return refused;
    }
    let apps = match catalog::list(&v.scope(), v.actor.tenant_id).await {
        Ok(apps) => apps,
        Err(e) => return view::failure(v, &e),
    };
    let mut page = Page {
        v,
        section: "admin",
        platform: v.actor.is_platform_admin(),
        apps,
        pasted: back.pasted,
        file_error: None,
        pasted_error: None,
        error: None,
    };
    match back.refusal {
        Some((Some(FILE), message)) => page.file_error = Some(message),
        Some((Some(_), message)) => page.pasted_error = Some(message),
        Some((None, message)) => page.error = Some(message),
        None => {}
    }
    view::page(v, status, &page)
}

/// GET /admin/applications
pub async fn list(v: Visitor) -> Response {
    render(&v, StatusCode::OK, Back::default()).await
}

/// POST /admin/applications/{id}/{enable|disable}, and /admin/applications/{id}/networked
/// with `networked` true or false
pub async fn act(
    v: Visitor,
    Path((id, action)): Path<(String, String)>,
    Form(posted): Form<Posted>,
) -> Response {
    if !v.posted_is_fresh(&posted) {
        return view::stale_form(&v);
    }
    let scope = v.scope();
    let changed = match (action.as_str(), posted.get("networked").map(String::as_str)) {
        ("enable", _) => catalog::set_enabled(&scope, &id, true).await,
        ("disable", _) => catalog::set_enabled(&scope, &id, false).await,
        ("networked", Some("true")) => catalog::set_networked(&scope, &id, true).await,
        ("networked", Some("false")) => catalog::set_networked(&scope, &id, false).await,
        ("networked", _) => Err(ApiError::invalid("networked: true or false")),
        _ => Err(ApiError::not_found("page")),
    };
    match changed {
        Ok(app) => see_other(&format!("/admin/applications#app-{}", app.id), &[]),
        Err(e) => view::failure(&v, &e),
    }
}

/// The register form as sent: its token, the uploaded file's content (an empty file
/// field is None), the pasted text, and the field that was too large, if one was.
#[derive(Default)]
struct Sent {
    csrf: String,
    file: Option<Vec<u8>>,
    pasted: String,
    too_large: Option<&'static str>,
}

/// A refusal of the register form: the field it is about (None: the whole form), and why.
type Refusal = (Option<&'static str>, String);

fn too_large() -> String {
    format!(
        "larger than {} KiB, the most a descriptor may be",
        DESCRIPTOR_BYTES / 1024
    )
}

fn unreadable(e: &multer::Error) -> Refusal {
    if let multer::Error::StreamSizeExceeded { .. } = e {
        return (Some(FILE), too_large());
    }
    tracing::info!(error = %e, "a descriptor form could not be read");
    (None, "the form could not be read to its end".into())
}

/// A field's content up to DESCRIPTOR_BYTES, or None past it: the rest is still read
/// (within the whole form's limit) so that the browser gets the answer.
async fn content(field: &mut multer::Field<'_>) -> Result<Option<Vec<u8>>, multer::Error> {
    let mut kept = Vec::new();
    let mut over = false;
    while let Some(chunk) = field.chunk().await? {
        over = over || kept.len() + chunk.len() > DESCRIPTOR_BYTES;
        if over {
            kept = Vec::new();
        } else {
            kept.extend_from_slice(&chunk);
        }
    }
    Ok((!over).then_some(kept))
}

/// Reads the multipart form; a refusal keeps what was read before it.
async fn read_form(request: Request) -> (Sent, Result<(), Refusal>) {
    let mut sent = Sent::default();
    let Some(boundary) = crate::multipart_boundary(request.headers()) else {
        let e = "the form must be sent as multipart/form-data";
        return (sent, Err((None, e.into())));
    };
    let limits = multer::SizeLimit::new()
        .whole_stream(FORM_BYTES)
        .for_field("csrf", CSRF_BYTES);
    let mut form = multer::Multipart::with_constraints(
        request.into_body().into_data_stream(),
        boundary,
        multer::Constraints::new().size_limit(limits),
    );
    loop {
        let mut field = match form.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => return (sent, Ok(())),
            Err(e) => return (sent, Err(unreadable(&e))),
        };
        let name = field.name().unwrap_or_default().to_owned();
        let read = match name.as_str() {
            "csrf" => field.text().await.map(|t| sent.csrf = t),
            FILE | PASTED => content(&mut field)
                .await
                .map(|kept| match (name.as_str(), kept) {
                    (FILE, None) => sent.too_large = Some(FILE),
                    (_, None) => sent.too_large = Some(PASTED),
                    // browsers send an empty part for a file field left empty
                    (FILE, Some(bytes)) => sent.file = (!bytes.is_empty()).then_some(bytes),
                    (_, Some(bytes)) => sent.pasted = String::from_utf8_lossy(&bytes).into_owned(),
                }),
            _ => Ok(()),
        };
        if let Err(e) = read {
            return (sent, Err(unreadable(&e)));
        }
    }
}

/// The descriptor the form carries and the field it came in; refusals name the field.
fn descriptor(sent: &Sent) -> Result<(&'static str, Value), Refusal> {
    if let Some(field) = sent.too_large {
        return Err((Some(field), too_large()));
    }
    let pasted = sent.pasted.trim();
    let (field, bytes) = match (&sent.file, pasted.is_empty()) {
        (Some(_), false) => {
            let e = "choose a file or paste the descriptor, not both";
            return Err((None, e.into()));
        }
        (Some(file), true) => (FILE, file.as_slice()),
        (None, false) => (PASTED, pasted.as_bytes()),
        (None, true) => {
            let e = "choose a descriptor file, or paste the descriptor below";
            return Err((Some(FILE), e.into()));
        }
    };
    serde_json::from_slice(bytes)
        .map(|json| (field, json))
        .map_err(|e| (Some(field), format!("not JSON: {e}")))
}

/// POST /admin/applications (multipart): registers the descriptor uploaded or pasted
/// and lists it; a refusal shows the form again with the message beside the field and
/// the pasted text kept.
pub async fn register(v: Visitor, request: Request) -> Response {
    let (sent, read) = read_form(request).await;
    // what was read so far says whether the form is this browser's
    if !v.form_is_fresh(&sent.csrf) {
        return view::stale_form(&v);
    }
    let back = |refusal| Back {
        pasted: sent.pasted.clone(),
        refusal: Some(refusal),
    };
    let found = read.and_then(|()| descriptor(&sent));
    let (field, json) = match found {
        Ok(found) => found,
        Err(refusal) => {
            return render(&v, StatusCode::UNPROCESSABLE_ENTITY, back(refusal)).await;
        }
    };
    match catalog::register(&v.scope(), v.actor.tenant_id, json).await {
        Ok(app) => see_other(&format!("/admin/applications#app-{}", app.id), &[]),
        Err(e) if view::out_of_reach(&e) => view::failure(&v, &e),
        Err(e) => {
            render(
                &v,
                view::form_status(&e),
                back((Some(field), e.message.clone())),
            )
            .await
        }
    }
}
