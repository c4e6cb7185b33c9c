//! Files: the browser of the member's spaces (home, groups, folders others share) with
//! breadcrumbs, paging and the quota bar; forms to make folders, rename, move, trash and
//! restore, share with a group and unshare; uploads (`static/upload.js` sends each file
//! with a progress bar; without JavaScript the page's multipart form goes to
//! `/files/upload-form`, which the API serves since it holds the contents); imports
//! from a URL, S3 or DICOMweb (`import`) and the list following their progress
//! (`imports`). Every form calls the same use cases as GraphQL, as the signed-in member.

pub(crate) mod actions;
pub(crate) mod import;
pub(crate) mod imports;
mod offered;

pub use offered::offered;

use std::collections::HashMap;

use askama::Template;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use medgrid_domain::ids::{GroupId, MemberId, NodeId};
use medgrid_domain::spaces::Right;
use medgrid_graphql::ApiError;
use medgrid_graphql::usecases::Scope;
use medgrid_graphql::usecases::spaces::{self, Listing, Located, Place};
use medgrid_projections::spaces::{NodeRow, Order};
use serde::Deserialize;
use uuid::Uuid;

use crate::catalog::Option_;
use crate::login::{see_other, urlencode};
use crate::view;
use crate::visitor::Visitor;

/// Rows of a folder page, unless `per` asks otherwise.
const PER_PAGE: i64 = 50;

/// The folder page of `path` (`/home/…`, `/groups/…`, `/shared/…`, or `/`).
pub fn folder_href(path: &str) -> String {
    format!("/files?path={}", urlencode(path))
}

/// Bytes as people read them.
fn human_size(bytes: i64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    #[allow(clippy::cast_precision_loss)]
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A refusal shown beside the control it is about, with what was entered there.
#[derive(Debug, Clone)]
pub(crate) struct Problem {
    /// The row whose form it is; None for the folder's own forms (new folder, upload).
    pub node: Option<Uuid>,
    /// `name` (new folder), `upload`, `rename`, `move`, `share`, `row` (delete, unshare),
    /// `restore`.
    pub field: &'static str,
    pub message: String,
    pub value: String,
}

impl Problem {
    pub fn new(node: Option<Uuid>, field: &'static str, e: &ApiError, value: &str) -> Self {
        Self {
            node,
            field,
            message: e.message.clone(),
            value: value.to_owned(),
        }
    }

    fn about<'a>(problem: Option<&'a Self>, node: Option<Uuid>, field: &str) -> Option<&'a Self> {
        problem.filter(|p| p.node == node && p.field == field)
    }

    fn error(problem: Option<&Self>, node: Option<Uuid>, field: &str) -> Option<String> {
        Self::about(problem, node, field).map(|p| p.message.clone())
    }

    fn kept(problem: Option<&Self>, node: Option<Uuid>, field: &str, default: &str) -> String {
        Self::about(problem, node, field).map_or_else(|| default.to_owned(), |p| p.value.clone())
    }
}

#[derive(Deserialize, Default)]
pub struct Browse {
    #[serde(default)]
    path: String,
    page: Option<i64>,
    per: Option<i64>,
}

/// Which page of a folder's listing.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Paging {
    page: i64,
    per: i64,
}

impl Default for Paging {
    fn default() -> Self {
        Self {
            page: 1,
            per: PER_PAGE,
        }
    }
}

impl Paging {
    fn of(page: Option<i64>, per: Option<i64>) -> Result<Self, ApiError> {
        let paging = Self {
            page: page.unwrap_or(1),
            per: per.unwrap_or(PER_PAGE),
        };
        if paging.page < 1 || !(1..=spaces::MAX_PAGE).contains(&paging.per) {
            return Err(ApiError::invalid(format!(
                "pages count from 1, with 1 to {} rows",
                spaces::MAX_PAGE
            )));
        }
        Ok(paging)
    }

    fn href(self, path: &str, page: i64) -> String {
        let mut href = format!("{}&page={page}", folder_href(path));
        if self.per != PER_PAGE {
            href.push_str(&format!("&per={}", self.per));
        }
        href
    }
}

pub struct Crumb {
    pub label: String,
    pub href: String,
}

/// `All spaces › Home › study › t1`: each a link to its folder page.
fn crumbs(path: &str) -> Vec<Crumb> {
    let mut out = vec![Crumb {
        label: "All spaces".into(),
        href: folder_href("/"),
    }];
    let mut at = String::new();
    for (i, segment) in path.split('/').filter(|s| !s.is_empty()).enumerate() {
        at.push('/');
        at.push_str(segment);
        let label = match (i, segment) {
            (0, "home") => "Home",
            (0, "groups") => "Groups",
            (0, "shared") => "Shared with me",
            _ => segment,
        };
        out.push(Crumb {
            label: label.to_owned(),
            href: folder_href(&at),
        });
    }
    out
}

/// A link of the virtual folders (`/`, `/groups`, `/shared`).
pub struct Entry {
    pub label: String,
    pub href: String,
    pub note: String,
}

pub struct ShareView {
    pub kind: &'static str,
    pub id: Uuid,
    pub label: String,
    pub access: &'static str,
}

pub struct Row {
    pub id: Uuid,
    pub name: String,
    pub folder: bool,
    /// The folder's page, or the file's download.
    pub href: String,
    pub size: String,
    pub bytes: i64,
    pub updated: DateTime<Utc>,
    pub shares: Vec<ShareView>,
    pub rename_value: String,
    pub rename_error: Option<String>,
    pub move_value: String,
    pub move_error: Option<String>,
    pub share_error: Option<String>,
    pub row_error: Option<String>,
    /// Its actions are shown open (one of them was just refused).
    pub open: bool,
}

pub struct Quota {
    pub used: String,
    pub limit: Option<String>,
    pub used_bytes: i64,
    pub limit_bytes: i64,
    pub percent: i64,
}

impl Quota {
    fn of(space: &medgrid_projections::spaces::SpaceRow) -> Self {
        let limit = space.quota.unwrap_or(0);
        let shown = space.used.clamp(0, limit.max(0));
        Self {
            used: human_size(space.used),
            limit: space.quota.map(human_size),
            used_bytes: shown,
            limit_bytes: limit,
            percent: if limit > 0 {
                (space.used.saturating_mul(100) / limit).clamp(0, 100)
            } else {
                0
            },
        }
    }
}

pub struct Folder {
    pub id: Uuid,
    pub path: String,
    pub writable: bool,
    pub manage: bool,
    pub rows: Vec<Row>,
    pub quota: Option<Quota>,
    pub groups: Vec<Option_>,
    /// Folders to move to, offered beside the typed path.
    pub targets: Vec<String>,
    pub page: i64,
    pub prev: Option<String>,
    pub next: Option<String>,
    pub trash_href: String,
    pub import_href: String,
    pub new_name: String,
    pub new_name_error: Option<String>,
    pub upload_error: Option<String>,
    /// A refusal about a row not on this page.
    pub alert: Option<String>,
}

#[derive(Template)]
#[template(path = "web/files.html")]
struct FilesPage<'a> {
    v: &'a Visitor,
    section: &'a str,
    title: String,
    crumbs: Vec<Crumb>,
    entries: Vec<Entry>,
    empty: &'a str,
    folder: Option<Folder>,
}

impl FilesPage<'_> {
    fn when(&self, at: &DateTime<Utc>) -> String {
        crate::jobs::when(*at)
    }
}

/// GET /files?path=…: a folder (`/files` alone: the home), or the spaces and shares at
/// `/`, `/groups` and `/shared`. A file's path shows its folder, at its row.
pub async fn browse(v: Visitor, Query(q): Query<Browse>) -> Response {
    let asked = q.path.trim();
    let path = if asked.is_empty() { "/home" } else { asked };
    let paging = match Paging::of(q.page, q.per) {
        Ok(paging) => paging,
        Err(e) => return view::failure(&v, &e),
    };
    let scope = v.scope();
    let place = match spaces::at_path(&scope, path).await {
        Ok(place) => place,
        Err(e) => return view::failure(&v, &e),
    };
    match place {
        Place::Node(at) if !at.node.is_folder() => {
            let to = format!("{}#n-{}", listed_on(&v, &at).await, at.node.id);
            see_other(&to, &[])
        }
        Place::Node(at) => folder_page(&v, *at, paging, None, StatusCode::OK).await,
        other => {
            let path = match path.trim_end_matches('/') {
                "" => "/",
                p => p,
            };
            view::ok(&v, &places_page(&v, path, other))
        }
    }
}

fn places_page<'a>(v: &'a Visitor, path: &str, place: Place) -> FilesPage<'a> {
    let entry = |label: &str, path: &str, note: &str| Entry {
        label: label.to_owned(),
        href: folder_href(path),
        note: note.to_owned(),
    };
    let (title, empty, entries) = match place {
        Place::Groups(groups) => (
            "Groups",
            "You are in no group yet.",
            groups
                .iter()
                .map(|g| entry(&g.name, &format!("/groups/{}", g.name), "group space"))
                .collect(),
        ),
        Place::Shared(shared) => {
            let name = |at: &Located| at.node.name.clone().unwrap_or_default();
            let entries = shared
                .iter()
                .map(|at| {
                    // two shares of the same name are told apart by id
                    let twins = shared.iter().filter(|o| name(o) == name(at)).count();
                    let segment = if twins > 1 {
                        at.node.id.to_string()
                    } else {
                        name(at)
                    };
                    let note = if at.right.may_write() {
                        "read and write"
                    } else {
                        "read only"
                    };
                    entry(&name(at), &format!("/shared/{segment}"), note)
                })
                .collect();
            (
                "Shared with me",
                "Nobody shares a folder with you yet.",
                entries,
            )
        }
        Place::Top | Place::Node(_) => (
            "All spaces",
            "",
            vec![
                entry("Home", "/home", "your own files"),
                entry("Groups", "/groups", "the spaces of your groups"),
                entry("Shared with me", "/shared", "folders others share with you"),
            ],
        ),
    };
    FilesPage {
        v,
        section: "files",
        title: title.to_owned(),
        crumbs: crumbs(path),
        entries,
        empty,
        folder: None,
    }
}

/// The folder page of `folder`, with `problem` shown beside its control.
pub(crate) async fn folder_page(
    v: &Visitor,
    folder: Located,
    paging: Paging,
    problem: Option<Problem>,
    status: StatusCode,
) -> Response {
    match folder_view(v, folder, paging, problem.as_ref()).await {
        Ok(page) => view::page(v, status, &page),
        Err(e) => view::failure(v, &e),
    }
}

async fn folder_view<'a>(
    v: &'a Visitor,
    folder: Located,
    paging: Paging,
    problem: Option<&Problem>,
) -> Result<FilesPage<'a>, ApiError> {
    let scope = v.scope();
    let path = spaces::path_of(&scope, &folder).await?;
    let listing = Listing {
        order: Order::Name,
        descending: false,
        offset: (paging.page - 1).saturating_mul(paging.per),
        first: paging.per,
    };
    let mut nodes = spaces::children(&scope, &folder, listing).await?;
    let more = nodes.len() > usize::try_from(paging.per).unwrap_or(usize::MAX);
    nodes.truncate(usize::try_from(paging.per).unwrap_or(0));
    let manage = folder.right == Right::Manage;
    let groups = if manage {
        match spaces::at_path(&scope, "/groups").await? {
            Place::Groups(rows) => rows,
            _ => vec![],
        }
    } else {
        vec![]
    };
    let names: HashMap<Uuid, String> = groups.iter().map(|g| (g.id, g.name.clone())).collect();
    let mut rows = Vec::with_capacity(nodes.len());
    for node in nodes {
        let shares = if manage && node.is_folder() {
            shares_of(&scope, node.id, &names).await?
        } else {
            vec![]
        };
        rows.push(row(&path, node, shares, problem));
    }
    let alert = problem
        .filter(|p| p.node.is_some_and(|n| !rows.iter().any(|r| r.id == n)))
        .map(|p| p.message.clone());
    let title = match crumbs(&path).last() {
        Some(c) if c.label != "All spaces" => c.label.clone(),
        _ => "Files".to_owned(),
    };
    let targets = targets(&path, &rows);
    let writable = folder.right.may_write();
    let folder = Folder {
        id: folder.node.id,
        writable,
        manage,
        quota: writable.then(|| Quota::of(&folder.space)),
        groups: groups
            .iter()
            .map(|g| Option_ {
                value: g.id.to_string(),
                label: g.name.clone(),
                selected: false,
            })
            .collect(),
        targets,
        page: paging.page,
        prev: (paging.page > 1).then(|| paging.href(&path, paging.page - 1)),
        next: more.then(|| paging.href(&path, paging.page + 1)),
        trash_href: format!("/files/trash?path={}", urlencode(&path)),
        import_href: format!("/files/import?path={}", urlencode(&path)),
        new_name: Problem::kept(problem, None, "name", ""),
        new_name_error: Problem::error(problem, None, "name"),
        upload_error: Problem::error(problem, None, "upload"),
        alert,
        rows,
        path: path.clone(),
    };
    Ok(FilesPage {
        v,
        section: "files",
        title,
        crumbs: crumbs(&path),
        entries: vec![],
        empty: "This folder is empty.",
        folder: Some(folder),
    })
}

fn row(path: &str, node: NodeRow, shares: Vec<ShareView>, problem: Option<&Problem>) -> Row {
    let name = node.name.clone().unwrap_or_default();
    let me = Some(node.id);
    let folder = node.is_folder();
    let href = if folder {
        folder_href(&format!("{path}/{name}"))
    } else {
        format!("/files/nodes/{}", node.id)
    };
    Row {
        id: node.id,
        folder,
        href,
        size: if folder {
            String::new()
        } else {
            human_size(node.size)
        },
        bytes: node.size,
        updated: node.updated_at,
        shares,
        rename_value: Problem::kept(problem, me, "rename", &name),
        rename_error: Problem::error(problem, me, "rename"),
        move_value: Problem::kept(problem, me, "move", path),
        move_error: Problem::error(problem, me, "move"),
        share_error: Problem::error(problem, me, "share"),
        row_error: Problem::error(problem, me, "row"),
        open: problem.is_some_and(|p| p.node == me),
        name,
    }
}

/// Who a folder is shared with, named.
async fn shares_of(
    scope: &Scope<'_>,
    node: Uuid,
    groups: &HashMap<Uuid, String>,
) -> Result<Vec<ShareView>, ApiError> {
    let reader = scope.reader();
    let mut out = vec![];
    for share in medgrid_projections::spaces::shares_of(&reader, node).await? {
        let group = share.grantee_kind == "GROUP";
        let label = if group {
            match groups.get(&share.grantee_id) {
                Some(name) => name.clone(),
                None => medgrid_projections::groups::by_id(
                    &reader,
                    GroupId::from_uuid(share.grantee_id),
                )
                .await?
                .map_or_else(|| "a removed group".to_owned(), |g| g.name),
            }
        } else {
            medgrid_projections::members::by_id(&reader, MemberId::from_uuid(share.grantee_id))
                .await?
                .map_or_else(|| "a removed member".to_owned(), |m| m.name)
        };
        out.push(ShareView {
            kind: if group { "group" } else { "member" },
            id: share.grantee_id,
            label,
            access: if share.access == "READ_WRITE" {
                "read and write"
            } else {
                "read only"
            },
        });
    }
    Ok(out)
}

/// Where a move may go from this page: the folders above (in the same space) and below.
fn targets(path: &str, rows: &[Row]) -> Vec<String> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    // a space's root is /home, /groups/<g> or /shared/<folder>
    let root_depth = if segments.first() == Some(&"home") {
        1
    } else {
        2
    };
    let mut out: Vec<String> = (root_depth..=segments.len())
        .map(|depth| format!("/{}", segments[..depth].join("/")))
        .collect();
    out.extend(
        rows.iter()
            .filter(|r| r.folder)
            .map(|r| format!("{path}/{}", r.name)),
    );
    out
}

/// The parent folder of `at`, if the member sees it.
pub(crate) async fn parent_of(v: &Visitor, at: &Located) -> Option<Located> {
    let parent = at.node.parent?;
    spaces::locate(&v.scope(), NodeId::from_uuid(parent))
        .await
        .ok()
}

/// The page that lists `at`: its folder's; a space's root is its own page, and a
/// shared folder whose parent the member does not see is under /shared.
pub(crate) async fn listed_on(v: &Visitor, at: &Located) -> String {
    let scope = v.scope();
    let folder = match parent_of(v, at).await {
        Some(parent) => parent,
        None if at.node.parent.is_none() => at.clone(),
        None => return folder_href("/shared"),
    };
    match spaces::path_of(&scope, &folder).await {
        Ok(path) => folder_href(&path),
        Err(_) => folder_href("/"),
    }
}

pub struct Trashed {
    pub id: Uuid,
    pub name: String,
    pub folder: bool,
    pub was: String,
    pub size: String,
    pub trashed: Option<DateTime<Utc>>,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "web/files_trash.html")]
struct TrashPage<'a> {
    v: &'a Visitor,
    section: &'a str,
    crumbs: Vec<Crumb>,
    back: String,
    items: Vec<Trashed>,
    alert: Option<String>,
}

impl TrashPage<'_> {
    fn when(&self, at: &DateTime<Utc>) -> String {
        crate::jobs::when(*at)
    }
}

#[derive(Deserialize)]
pub struct TrashQuery {
    #[serde(default)]
    path: String,
}

/// GET /files/trash?path=…: the trash of the space the path is in, with restore buttons.
pub async fn trash(v: Visitor, Query(q): Query<TrashQuery>) -> Response {
    let path = if q.path.trim().is_empty() {
        "/home"
    } else {
        q.path.trim()
    };
    match spaces::at_path(&v.scope(), path).await {
        Ok(Place::Node(at)) => trash_page(&v, *at, None, StatusCode::OK).await,
        Ok(_) => view::failure(
            &v,
            &ApiError::invalid("the trash is a space's: open it from one of its folders"),
        ),
        Err(e) => view::failure(&v, &e),
    }
}

/// The trash of the space `at` is in.
pub(crate) async fn trash_page(
    v: &Visitor,
    at: Located,
    problem: Option<Problem>,
    status: StatusCode,
) -> Response {
    match trash_view(v, at, problem.as_ref()).await {
        Ok(page) => view::page(v, status, &page),
        Err(e) => view::failure(v, &e),
    }
}

async fn trash_view<'a>(
    v: &'a Visitor,
    at: Located,
    problem: Option<&Problem>,
) -> Result<TrashPage<'a>, ApiError> {
    let scope = v.scope();
    let root = spaces::locate(&scope, NodeId::from_uuid(at.space.root)).await;
    // the space's top as this member sees it (a shared folder's trash is not theirs)
    let top = match &root {
        Ok(root) => spaces::path_of(&scope, root).await?,
        Err(_) => spaces::path_of(&scope, &at).await?,
    };
    let mut items = vec![];
    for node in spaces::trash(&scope, &at).await? {
        let located = Located {
            space: at.space.clone(),
            right: at.right,
            node,
        };
        let path = spaces::path_of(&scope, &located).await?;
        let was = path
            .rsplit_once('/')
            .map_or_else(|| "/".to_owned(), |(folder, _)| folder.to_owned());
        let node = located.node;
        items.push(Trashed {
            id: node.id,
            name: node.name.clone().unwrap_or_default(),
            folder: node.is_folder(),
            was,
            size: human_size(node.size),
            trashed: node.trashed_at,
            error: Problem::error(problem, Some(node.id), "restore"),
        });
    }
    let alert = problem
        .filter(|p| p.node.is_some_and(|n| !items.iter().any(|i| i.id == n)))
        .map(|p| p.message.clone());
    let mut crumbs = crumbs(&top);
    crumbs.push(Crumb {
        label: "Trash".into(),
        href: format!("/files/trash?path={}", urlencode(&top)),
    });
    Ok(TrashPage {
        v,
        section: "files",
        crumbs,
        back: folder_href(&top),
        items,
        alert,
    })
}

/// For the API's multipart upload form: the folder page again with the refusal beside
/// the file field (the failure page when the folder itself is not to be had).
pub async fn upload_refused(v: &Visitor, parent: &str, e: &ApiError) -> Response {
    match spaces::located(&v.scope(), parent).await {
        Ok(folder) if folder.node.is_folder() => {
            let problem = Problem::new(None, "upload", e, "");
            folder_page(
                v,
                folder,
                Paging::default(),
                Some(problem),
                view::status_of(e.code),
            )
            .await
        }
        _ => view::failure(v, e),
    }
}

/// For the API's multipart upload form: back to the folder the files went to.
pub async fn uploaded(v: &Visitor, parent: &str) -> Response {
    match spaces::located(&v.scope(), parent).await {
        Ok(folder) => back_to_folder(v, &folder).await,
        Err(e) => view::failure(v, &e),
    }
}

/// 303 to the page of `folder`.
pub(crate) async fn back_to_folder(v: &Visitor, folder: &Located) -> Response {
    match spaces::path_of(&v.scope(), folder).await {
        Ok(path) => see_other(&folder_href(&path), &[]),
        Err(e) => view::failure(v, &e),
    }
}

/// For the API's multipart upload form: a form whose token is not this browser's.
pub fn stale_upload(v: &Visitor) -> Response {
    view::stale_form(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(5 * 1024 * 1024), "5.0 MiB");
    }

    #[test]
    fn every_crumb_links_its_folder() {
        let got: Vec<(String, String)> = crumbs("/shared/MRI & PET/2026")
            .into_iter()
            .map(|c| (c.label, c.href))
            .collect();
        assert_eq!(
            got,
            [
                ("All spaces", "/files?path=/"),
                ("Shared with me", "/files?path=/shared"),
                ("MRI & PET", "/files?path=/shared/MRI%20%26%20PET"),
                ("2026", "/files?path=/shared/MRI%20%26%20PET/2026"),
            ]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
        );
    }

    #[test]
    fn moves_are_offered_within_the_space() {
        assert_eq!(targets("/home/a", &[]), ["/home", "/home/a"]);
        assert_eq!(
            targets("/groups/MRI/x", &[]),
            ["/groups/MRI", "/groups/MRI/x"]
        );
        assert!(Paging::of(Some(0), None).is_err());
        assert!(Paging::of(Some(1), Some(501)).is_err());
        assert_eq!(
            Paging::of(None, Some(2))
                .map(|p| p.href("/home", 2))
                .ok()
                .as_deref(),
            Some("/files?path=/home&page=2&per=2")
        );
    }
}
