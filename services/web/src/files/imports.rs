//! The imports list: the member's imports (a tenant administrator's: all of the
//! tenant's), newest first, 25 a page, each with its state, what came so far, the folder,
//! why it failed, and a cancel button while it runs. The table is the page's live part
//! (`/files/imports/live`), which `static/portal.js` fetches again every two seconds
//! until every row shown is final.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query};
use axum::response::Response;
use chrono::{DateTime, Utc};
use medgrid_domain::Code;
use medgrid_domain::ids::{MemberId, NodeId};
use medgrid_graphql::ApiError;
use medgrid_graphql::usecases::{Scope, access, imports, spaces};
use medgrid_projections::imports::ImportRow;
use medgrid_projections::page::PageRequest;
use serde::Deserialize;
use uuid::Uuid;

use super::{Crumb, folder_href, human_size};
use crate::form::Posted;
use crate::login::see_other;
use crate::view;
use crate::visitor::Visitor;

const PAGE: i64 = 25;

/// One import as its row shows it.
pub struct Row {
    pub id: Uuid,
    /// From a URL, From S3, From DICOMweb.
    pub source: &'static str,
    /// Where from, as it may be shown (no secret, no patient UID).
    pub display: String,
    /// The read model's state: REQUESTED, RUNNING, SUCCEEDED, FAILED or CANCELLED.
    pub state: String,
    pub label: &'static str,
    pub finished: bool,
    pub files: i64,
    pub bytes: i64,
    pub size: String,
    /// What the whole import brings, once the importer knows (files, bytes).
    pub expected: Option<(i64, i64)>,
    /// Its folder's page; None when the member no longer sees it.
    pub folder: Option<Crumb>,
    pub reason: String,
    pub asked: DateTime<Utc>,
    /// Who asked, for an administrator's list (empty in a member's own).
    pub by: String,
}

impl Row {
    fn of(row: ImportRow, folder: Option<Crumb>) -> Self {
        let (label, finished) = match row.state.as_str() {
            "REQUESTED" => ("Waiting", false),
            "RUNNING" => ("Importing", false),
            "SUCCEEDED" => ("Done", true),
            "FAILED" => ("Failed", true),
            _ => ("Cancelled", true),
        };
        let source = match row.kind.as_str() {
            "S3" => "From S3",
            "DICOMWEB" => "From DICOMweb",
            _ => "From a URL",
        };
        Self {
            id: row.id,
            source,
            display: row.display,
            label,
            finished,
            files: row.files,
            bytes: row.bytes,
            size: human_size(row.bytes),
            expected: row.expected_files.zip(row.expected_bytes),
            folder,
            reason: row.reason,
            asked: row.created_at,
            by: String::new(),
            state: row.state,
        }
    }

    pub fn succeeded(&self) -> bool {
        self.state == "SUCCEEDED"
    }

    pub fn failed(&self) -> bool {
        self.state == "FAILED"
    }

    /// `3 files, 1.5 MiB so far`, or `3 of 8 files, 1.5 MiB of 4 MiB` once the
    /// importer knows the whole (not for a DICOMweb study).
    pub fn progress(&self) -> String {
        match self.expected.filter(|_| !self.finished) {
            Some((files, bytes)) => format!(
                "{} of {files} {}, {} of {}",
                self.files,
                if files == 1 { "file" } else { "files" },
                self.size,
                human_size(bytes)
            ),
            None => {
                let files = if self.files == 1 { "file" } else { "files" };
                let tail = if self.finished { "" } else { " so far" };
                format!("{} {files}, {}{tail}", self.files, self.size)
            }
        }
    }

    /// The bar's (value, max) once the size is known: bytes, or files for empty ones.
    pub fn measured(&self) -> Option<(i64, i64)> {
        let (files, bytes) = self.expected?;
        if bytes > 0 {
            Some((self.bytes.min(bytes), bytes))
        } else {
            Some((self.files.min(files), files.max(1)))
        }
    }
}

/// What changes while imports run: redrawn in place until every row is final.
#[derive(Template)]
#[template(path = "web/files_imports_live.html")]
pub struct Live {
    pub rows: Vec<Row>,
    /// Where the live part is fetched again (the same page of the list).
    pub href: String,
    pub finished: bool,
    pub admin: bool,
    pub csrf: String,
}

impl Live {
    fn when(&self, at: &DateTime<Utc>) -> String {
        crate::jobs::when(*at)
    }
}

/// The page of the folder an import goes into, if the member sees it.
async fn folder_of(scope: &Scope<'_>, row: &ImportRow) -> Result<Option<Crumb>, ApiError> {
    let found = match spaces::locate(scope, NodeId::from_uuid(row.folder_id)).await {
        Ok(at) => spaces::path_of(scope, &at).await,
        Err(e) => Err(e),
    };
    match found {
        Ok(path) => Ok(Some(Crumb {
            href: folder_href(&path),
            label: path,
        })),
        Err(e) if e.code == Code::Internal => Err(e),
        Err(_) => Ok(None),
    }
}

/// The name of the member who asked (looked up once per page).
async fn asker(scope: &Scope<'_>, names: &mut HashMap<Uuid, String>, id: Uuid) -> String {
    if let Some(name) = names.get(&id) {
        return name.clone();
    }
    let name = access::visible(scope, MemberId::from_uuid(id))
        .await
        .map_or_else(|_| "a former member".to_owned(), |m| m.name);
    names.insert(id, name.clone());
    name
}

/// The imports of the page after `after`, and the link to the next page.
async fn live(v: &Visitor, after: Option<i64>) -> Result<(Live, Option<String>), ApiError> {
    let scope = v.scope();
    let found = imports::list(&scope, PageRequest { first: PAGE, after }).await?;
    let next = view::next_link(&found, |r| r.position, "/files/imports?");
    let admin = v.is_admin();
    let mut names: HashMap<Uuid, String> = HashMap::new();
    let mut rows = Vec::with_capacity(found.rows.len());
    for row in found.rows {
        let folder = folder_of(&scope, &row).await?;
        let by = if admin {
            asker(&scope, &mut names, row.owner_id).await
        } else {
            String::new()
        };
        rows.push(Row {
            by,
            ..Row::of(row, folder)
        });
    }
    let href = match after {
        Some(after) => format!("/files/imports/live?after={after}"),
        None => "/files/imports/live".to_owned(),
    };
    let live = Live {
        finished: rows.iter().all(|r| r.finished),
        rows,
        href,
        admin,
        csrf: v.csrf.clone(),
    };
    Ok((live, next))
}

#[derive(Template)]
#[template(path = "web/files_imports.html")]
struct ImportsPage<'a> {
    v: &'a Visitor,
    section: &'a str,
    live: Live,
    next: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    after: Option<i64>,
}

/// GET /files/imports: newest first, following the unfinished ones live.
pub async fn list(v: Visitor, Query(q): Query<ListQuery>) -> Response {
    match live(&v, q.after).await {
        Ok((live, next)) => {
            let page = ImportsPage {
                v: &v,
                section: "files",
                live,
                next,
            };
            view::ok(&v, &page)
        }
        Err(e) => view::failure(&v, &e),
    }
}

/// GET /files/imports/live: the part of the list that changes.
pub async fn live_part(v: Visitor, Query(q): Query<ListQuery>) -> Response {
    match live(&v, q.after).await {
        Ok((live, _)) => view::ok(&v, &live),
        Err(e) => view::failure(&v, &e),
    }
}

/// POST /files/imports/{id}/cancel: stops it (what it imported stays); back to its row.
/// Another member's import is not found; a finished one is a conflict.
pub async fn cancel(v: Visitor, Path(id): Path<String>, Form(posted): Form<Posted>) -> Response {
    if !v.posted_is_fresh(&posted) {
        return view::stale_form(&v);
    }
    match imports::cancel(&v.scope(), &id).await {
        Ok(row) => see_other(&format!("/files/imports#i-{}", row.id), &[]),
        Err(e) => view::failure(&v, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(state: &str, files: i64, bytes: i64, expected: Option<(i64, i64)>) -> Row {
        Row {
            id: Uuid::nil(),
            source: "From S3",
            display: String::new(),
            label: "",
            finished: state != "RUNNING",
            files,
            bytes,
            size: human_size(bytes),
            expected,
            folder: None,
            reason: String::new(),
            asked: DateTime::<Utc>::MIN_UTC,
            by: String::new(),
            state: state.to_owned(),
        }
    }

    #[test]
    fn progress_is_measured_against_the_size_once_known() {
        let unknown = row("RUNNING", 2, 2048, None);
        assert_eq!(unknown.measured(), None);
        assert!(
            unknown.progress().ends_with("so far"),
            "{}",
            unknown.progress()
        );
        let known = row("RUNNING", 1, 1024, Some((4, 4096)));
        assert_eq!(known.measured(), Some((1024, 4096)));
        assert!(
            known.progress().starts_with("1 of 4 files"),
            "{}",
            known.progress()
        );
        // empty files: counted by number
        assert_eq!(row("RUNNING", 1, 0, Some((2, 0))).measured(), Some((1, 2)));
        // a figure past the announced size (a server that lied) stays at the end
        assert_eq!(
            row("RUNNING", 1, 5000, Some((1, 4096))).measured(),
            Some((4096, 4096))
        );
        assert!(
            !row("SUCCEEDED", 4, 4096, Some((4, 4096)))
                .progress()
                .contains(" of ")
        );
    }
}
