//! The import page of a folder: three forms that ask the importer for files from an
//! http(s) URL, an S3 prefix or a DICOMweb server, each into a folder typed as a path,
//! and a search of the DICOMweb server listing its studies with a button to import each.
//! Secrets (the S3 secret key, a DICOMweb token or password) are password fields and
//! never come back in a page. The study search is a POST with the CSRF token, because
//! its form carries the server's credentials, which must not land in a URL (history,
//! logs). A request recorded goes to the imports list, where its progress shows.

use std::collections::BTreeMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use medgrid_domain::Code;
use medgrid_domain::ports::{StudyFound, StudySearch};
use medgrid_graphql::ApiError;
use medgrid_graphql::usecases::Scope;
use medgrid_graphql::usecases::imports::{self, DicomWebRequest, S3Request};
use medgrid_graphql::usecases::spaces::{self, Place};
use medgrid_projections::imports::ImportRow;
use serde::Deserialize;

use super::{Crumb, crumbs};
use crate::form::Posted;
use crate::login::{see_other, urlencode};
use crate::view;
use crate::view::beside;
use crate::visitor::Visitor;

/// The most studies a search lists.
const STUDIES: u32 = 50;

/// Fields whose value never goes back into a page.
const SECRETS: [&str; 3] = ["secretAccessKey", "password", "bearerToken"];

/// The source a form asks from: the last segment of its action.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    Url,
    S3,
    DicomWeb,
}

impl Source {
    fn parse(segment: &str) -> Option<Self> {
        match segment {
            "url" => Some(Self::Url),
            "s3" => Some(Self::S3),
            "dicomweb" => Some(Self::DicomWeb),
            _ => None,
        }
    }

    fn key(self) -> &'static str {
        match self {
            Self::Url => "url",
            Self::S3 => "s3",
            Self::DicomWeb => "dicomweb",
        }
    }

    /// Every control of its form, by the name the use case gives refusals.
    fn names(self) -> Vec<&'static str> {
        let specs: Vec<&Spec> = match self {
            Self::Url => URL.iter().collect(),
            Self::S3 => S3.iter().collect(),
            Self::DicomWeb => SERVER.iter().chain(&SEARCH).chain(&STUDY).collect(),
        };
        specs.iter().map(|s| s.name).collect()
    }
}

/// A control of an import form. Its name is the one the use case (and GraphQL) gives
/// the value, so a refusal naming it lands beside it.
struct Spec {
    name: &'static str,
    label: &'static str,
    /// text, url or password (never filled in by the server).
    kind: &'static str,
    required: bool,
    help: &'static str,
}

const fn spec(
    name: &'static str,
    label: &'static str,
    kind: &'static str,
    required: bool,
    help: &'static str,
) -> Spec {
    Spec {
        name,
        label,
        kind,
        required,
        help,
    }
}

const FOLDER: Spec = spec(
    "folder",
    "Into folder",
    "text",
    true,
    "A folder of your spaces you may write in, such as /home/study.",
);

const URL: [Spec; 2] = [
    FOLDER,
    spec(
        "url",
        "Address of the file",
        "url",
        true,
        "http or https. A token in its query is used, but never shown again.",
    ),
];

const S3: [Spec; 7] = [
    FOLDER,
    spec(
        "endpoint",
        "S3 endpoint",
        "url",
        true,
        "The S3-compatible server, such as https://s3.example.org.",
    ),
    spec("bucket", "Bucket", "text", true, ""),
    spec(
        "prefix",
        "Prefix",
        "text",
        false,
        "Every object whose key starts with this, keeping its folders; empty: the whole bucket.",
    ),
    spec("region", "Region", "text", false, "us-east-1 when empty."),
    spec("accessKeyId", "Access key", "text", true, ""),
    spec(
        "secretAccessKey",
        "Secret key",
        "password",
        true,
        "Sealed while the import runs and removed when it ends; never shown again.",
    ),
];

const SERVER: [Spec; 5] = [
    FOLDER,
    spec(
        "url",
        "DICOMweb server",
        "url",
        true,
        "Its DICOMweb root, such as https://pacs.example.org/dicom-web.",
    ),
    spec(
        "username",
        "User name",
        "text",
        false,
        "With a password, or a token instead, or neither when the server needs no sign-in.",
    ),
    spec(
        "password",
        "Password",
        "password",
        false,
        "Not kept in the page: type it again for each search or import.",
    ),
    spec(
        "bearerToken",
        "Token",
        "password",
        false,
        "A bearer token, instead of a user name and password.",
    ),
];

const SEARCH: [Spec; 4] = [
    spec("patientId", "Patient ID", "text", false, ""),
    spec("accessionNumber", "Accession number", "text", false, ""),
    spec(
        "studyDate",
        "Study date",
        "text",
        false,
        "20260131, or a range such as 20260101-20260131.",
    ),
    spec("modality", "Modality", "text", false, "MR, CT, PT…"),
];

const STUDY: [Spec; 2] = [
    spec(
        "studyInstanceUid",
        "Study Instance UID",
        "text",
        true,
        "Digits and dots, as the hospital's system shows it.",
    ),
    spec(
        "seriesInstanceUid",
        "Series Instance UID",
        "text",
        false,
        "One series of the study; the whole study when empty.",
    ),
];

/// A control as the page draws it.
pub struct Control {
    /// `<form>-<name>`: unique on the page, for the label and the error.
    pub id: String,
    pub name: &'static str,
    pub label: &'static str,
    pub kind: &'static str,
    pub required: bool,
    pub help: &'static str,
    pub value: String,
    pub error: Option<String>,
}

/// A form of the page that is its controls and one button (URL, S3).
pub struct SimpleForm {
    pub key: &'static str,
    pub title: &'static str,
    pub button: &'static str,
    pub controls: Vec<Control>,
}

/// What a sent form brings back into the page.
#[derive(Default)]
struct Back {
    source: Option<Source>,
    /// What was typed, secrets left out.
    kept: Posted,
    /// Refusals beside their field.
    errors: BTreeMap<String, String>,
    /// A refusal about the form as a whole.
    alert: Option<String>,
    studies: Option<Vec<StudyFound>>,
    /// A secret was typed, and must be typed again to import.
    had_secret: bool,
}

impl Back {
    fn of(source: Source, posted: &Posted) -> Self {
        let kept = posted
            .iter()
            .filter(|(k, _)| !SECRETS.contains(&k.as_str()) && k.as_str() != "csrf")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Self {
            source: Some(source),
            kept,
            had_secret: SECRETS.iter().any(|s| given(posted, s).is_some()),
            ..Self::default()
        }
    }

    fn refused(mut self, e: &ApiError) -> Self {
        let names = self.source.map(Source::names).unwrap_or_default();
        (self.errors, self.alert) = beside(e, &names);
        self
    }

    fn controls(&self, form: Source, specs: &[Spec], folder: &str) -> Vec<Control> {
        let mine = self.source == Some(form);
        specs
            .iter()
            .map(|s| {
                let kept = self.kept.get(s.name).filter(|_| mine);
                let value = match kept {
                    _ if s.kind == "password" => String::new(),
                    Some(v) => v.clone(),
                    None if s.name == "folder" => folder.to_owned(),
                    None => String::new(),
                };
                Control {
                    id: format!("{}-{}", form.key(), s.name),
                    name: s.name,
                    label: s.label,
                    kind: s.kind,
                    required: s.required,
                    help: s.help,
                    value,
                    error: self.errors.get(s.name).filter(|_| mine).cloned(),
                }
            })
            .collect()
    }
}

#[derive(Template)]
#[template(path = "web/files_import.html")]
struct ImportPage<'a> {
    v: &'a Visitor,
    section: &'a str,
    crumbs: Vec<Crumb>,
    /// The folder the page was opened from.
    from: String,
    simple: [SimpleForm; 2],
    server: Vec<Control>,
    search: Vec<Control>,
    study: Vec<Control>,
    /// The refusal of the form that was sent, not about one of its fields.
    alert: Option<(&'static str, String)>,
    studies: Option<Vec<StudyFound>>,
    had_secret: bool,
}

impl ImportPage<'_> {
    fn alert_of(&self, form: &str) -> Option<&String> {
        self.alert
            .as_ref()
            .filter(|(f, _)| *f == form)
            .map(|(_, m)| m)
    }
}

fn render(v: &Visitor, from: &str, back: Back, status: StatusCode) -> Response {
    let mut crumbs = crumbs(from);
    crumbs.push(Crumb {
        label: "Import".into(),
        href: format!("/files/import?path={}", urlencode(from)),
    });
    let page = ImportPage {
        v,
        section: "files",
        crumbs,
        from: from.to_owned(),
        simple: [
            SimpleForm {
                key: Source::Url.key(),
                title: "From a URL",
                button: "Import the file",
                controls: back.controls(Source::Url, &URL, from),
            },
            SimpleForm {
                key: Source::S3.key(),
                title: "From S3",
                button: "Import the objects",
                controls: back.controls(Source::S3, &S3, from),
            },
        ],
        server: back.controls(Source::DicomWeb, &SERVER, from),
        search: back.controls(Source::DicomWeb, &SEARCH, from),
        study: back.controls(Source::DicomWeb, &STUDY, from),
        alert: back
            .alert
            .zip(back.source)
            .map(|(message, source)| (source.key(), message)),
        studies: back.studies,
        had_secret: back.had_secret,
    };
    view::page(v, status, &page)
}

#[derive(Deserialize, Default)]
pub struct ImportQuery {
    #[serde(default)]
    path: String,
}

/// GET /files/import?path=…: the forms, importing into that folder (the home when none).
pub async fn page(v: Visitor, Query(q): Query<ImportQuery>) -> Response {
    let path = match q.path.trim() {
        "" => "/home",
        p => p.trim_end_matches('/'),
    };
    match spaces::at_path(&v.scope(), path).await {
        Ok(Place::Node(at)) if at.node.is_folder() => {
            render(&v, path, Back::default(), StatusCode::OK)
        }
        Ok(_) => view::failure(
            &v,
            &ApiError::invalid("files are imported into a folder: open the import from one"),
        ),
        Err(e) => view::failure(&v, &e),
    }
}

fn text<'p>(posted: &'p Posted, name: &str) -> &'p str {
    posted.get(name).map_or("", String::as_str)
}

/// A value that was filled in (blank is not given).
fn given<'p>(posted: &'p Posted, name: &str) -> Option<&'p str> {
    posted
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.trim().is_empty())
}

/// The id of the folder at `path`: what the use cases take. Not a folder the member
/// sees is a wrong entry of the folder field.
async fn folder_id(scope: &Scope<'_>, path: &str) -> Result<String, ApiError> {
    match spaces::at_path(scope, path.trim()).await {
        Ok(Place::Node(at)) if at.node.is_folder() => Ok(at.node.id.to_string()),
        Ok(_) => Err(ApiError::invalid(
            "folder: a folder of your spaces, such as /home/study",
        )),
        Err(e) => Err(about_the_folder(e)),
    }
}

/// A folder the member may not write in (read only, in the trash, not theirs to see)
/// is a wrong entry of the folder field.
fn about_the_folder(e: ApiError) -> ApiError {
    if e.code == Code::Internal {
        return e;
    }
    ApiError::invalid(format!("folder: {}", e.message))
}

/// The folder the page was opened from (its crumbs and the forms' default folder).
fn from_of(posted: &Posted) -> &str {
    match text(posted, "from").trim() {
        "" => "/home",
        from => from,
    }
}

async fn ask_for(
    scope: &Scope<'_>,
    source: Source,
    posted: &Posted,
) -> Result<ImportRow, ApiError> {
    let folder = folder_id(scope, text(posted, "folder")).await?;
    let get = |name: &str| text(posted, name);
    let asked = match source {
        Source::Url => imports::from_url(scope, &folder, get("url")).await,
        Source::S3 => {
            let s3 = S3Request {
                endpoint: get("endpoint"),
                region: given(posted, "region"),
                bucket: get("bucket"),
                prefix: given(posted, "prefix"),
                access_key_id: get("accessKeyId"),
                secret_access_key: get("secretAccessKey"),
            };
            imports::from_s3(scope, &folder, s3).await
        }
        Source::DicomWeb => {
            let dw = DicomWebRequest {
                url: get("url"),
                study_instance_uid: get("studyInstanceUid"),
                series_instance_uid: given(posted, "seriesInstanceUid"),
                bearer_token: given(posted, "bearerToken"),
                username: given(posted, "username"),
                password: given(posted, "password"),
            };
            imports::from_dicomweb(scope, &folder, dw).await
        }
    };
    asked.map_err(|e| match e.code {
        // the folder was found above: what the use case refuses now is writing in it
        Code::Forbidden | Code::NotFound | Code::Conflict => about_the_folder(e),
        _ => e,
    })
}

/// A study's button of the search results stands for the UID field.
fn with_chosen_study(mut posted: Posted) -> Posted {
    if let Some(study) = posted.remove("study").filter(|s| !s.is_empty()) {
        posted.insert("studyInstanceUid".into(), study);
    }
    posted
}

/// POST /files/import/{url|s3|dicomweb}: records the import and goes to its row of the
/// imports list; a refusal shows the page again, beside the field, with what was typed
/// (never a secret).
pub async fn ask(v: Visitor, Path(source): Path<String>, Form(posted): Form<Posted>) -> Response {
    if !v.posted_is_fresh(&posted) {
        return view::stale_form(&v);
    }
    let Some(source) = Source::parse(&source) else {
        return view::failure(&v, &ApiError::not_found("page"));
    };
    let posted = with_chosen_study(posted);
    match ask_for(&v.scope(), source, &posted).await {
        Ok(row) => see_other(&format!("/files/imports#i-{}", row.id), &[]),
        Err(e) if e.code == Code::Internal => view::failure(&v, &e),
        Err(e) => {
            let back = Back::of(source, &posted).refused(&e);
            render(&v, from_of(&posted), back, view::form_status(&e))
        }
    }
}

fn search_of(posted: &Posted) -> StudySearch {
    let owned = |name: &str| given(posted, name).map(|v| v.trim().to_owned());
    let secret = |name: &str| given(posted, name).map(str::to_owned);
    StudySearch {
        base_url: text(posted, "url").trim().to_owned(),
        patient_id: owned("patientId"),
        accession_number: owned("accessionNumber"),
        study_date: owned("studyDate"),
        modality: owned("modality"),
        limit: STUDIES,
        bearer_token: secret("bearerToken"),
        basic: owned("username").zip(secret("password")),
    }
}

/// POST /files/import/dicomweb/search: the page again, listing the studies found.
pub async fn search(v: Visitor, Form(posted): Form<Posted>) -> Response {
    if !v.posted_is_fresh(&posted) {
        return view::stale_form(&v);
    }
    let back = Back::of(Source::DicomWeb, &posted);
    let from = from_of(&posted);
    match imports::search_studies(&v.scope(), search_of(&posted)).await {
        Ok(found) => {
            let back = Back {
                studies: Some(found),
                ..back
            };
            render(&v, from, back, StatusCode::OK)
        }
        Err(e) if e.code == Code::Internal => view::failure(&v, &e),
        Err(e) => render(&v, from, back.refused(&e), view::form_status(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn posted(pairs: &[(&str, &str)]) -> Posted {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn secrets_never_come_back_and_refusals_land_beside_their_field() {
        let sent = posted(&[
            ("csrf", "t"),
            ("folder", "/home/x"),
            ("endpoint", "http://10.0.0.1"),
            ("secretAccessKey", "hush"),
        ]);
        let e = ApiError::invalid("endpoint: a private address");
        let back = Back::of(Source::S3, &sent).refused(&e);
        assert!(back.had_secret && !back.kept.contains_key("csrf"));
        let s3 = back.controls(Source::S3, &S3, "/home");
        let of = |name: &str| s3.iter().find(|c| c.name == name).expect(name);
        assert_eq!(of("folder").value, "/home/x");
        assert_eq!(of("endpoint").error.as_deref(), Some("a private address"));
        assert_eq!(of("secretAccessKey").value, "");
        // the other forms keep their defaults and no error
        let url = back.controls(Source::Url, &URL, "/home");
        assert_eq!(url[0].value, "/home");
        assert!(
            url.iter()
                .all(|c| c.error.is_none() && c.id.starts_with("url-"))
        );
    }

    #[test]
    fn a_folder_refused_by_the_use_case_is_the_folder_fields() {
        let e = ApiError::new(Code::Forbidden, "this folder is shared with you read-only");
        let e = about_the_folder(e);
        assert_eq!(e.code, Code::InvalidInput);
        let (errors, alert) = beside(&e, &Source::Url.names());
        assert!(alert.is_none());
        assert_eq!(errors["folder"], "this folder is shared with you read-only");
    }

    #[test]
    fn a_study_button_stands_for_the_uid_field() {
        let sent = with_chosen_study(posted(&[("study", "1.2.3"), ("studyInstanceUid", "")]));
        assert_eq!(sent["studyInstanceUid"], "1.2.3");
        assert!(!sent.contains_key("study"));
        let typed = with_chosen_study(posted(&[("studyInstanceUid", "4.5")]));
        assert_eq!(typed["studyInstanceUid"], "4.5");
    }
}
