//! The forms of the Files pages. Each checks its CSRF field, calls the use case as the
//! member and answers 303 back to the folder; a refusal shows the page again with the
//! message beside the control and what was entered kept. A node the member may not see
//! is not found, whoever owns it.

use axum::Form;
use axum::http::StatusCode;
use axum::response::Response;
use medgrid_domain::spaces::Access;
use medgrid_graphql::ApiError;
use medgrid_graphql::usecases::spaces::{self, Located, Place, ShareWith};
use serde::Deserialize;

use super::{Paging, Problem, back_to_folder, folder_page, listed_on, parent_of, trash_page};
use crate::login::see_other;
use crate::view;
use crate::visitor::Visitor;

#[derive(Deserialize)]
pub struct NewFolder {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    parent: String,
    #[serde(default)]
    name: String,
}

/// POST /files/folder: a folder in `parent`.
pub async fn new_folder(v: Visitor, Form(form): Form<NewFolder>) -> Response {
    if !v.form_is_fresh(&form.csrf) {
        return view::stale_form(&v);
    }
    let scope = v.scope();
    let parent = match spaces::located(&scope, &form.parent).await {
        Ok(parent) => parent,
        Err(e) => return view::failure(&v, &e),
    };
    let name = form.name.trim();
    match spaces::create_folder(&scope, &form.parent, name).await {
        Ok(_) => back_to_folder(&v, &parent).await,
        Err(e) => {
            let problem = Problem::new(None, "name", &e, &form.name);
            folder_page(&v, parent, Paging::default(), Some(problem), status(&e)).await
        }
    }
}

#[derive(Deserialize)]
pub struct Rename {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
}

/// POST /files/rename.
pub async fn rename(v: Visitor, Form(form): Form<Rename>) -> Response {
    let at = match fresh_node(&v, &form.csrf, &form.id).await {
        Ok(at) => at,
        Err(response) => return response,
    };
    let done = spaces::rename(&v.scope(), &form.id, form.name.trim()).await;
    answer(&v, &at, done, "rename", &form.name).await
}

#[derive(Deserialize)]
pub struct Move {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    id: String,
    /// The folder's path (`/home/…`).
    #[serde(default)]
    destination: String,
}

/// POST /files/move: into the folder at `destination`, in the same space.
pub async fn move_to(v: Visitor, Form(form): Form<Move>) -> Response {
    let at = match fresh_node(&v, &form.csrf, &form.id).await {
        Ok(at) => at,
        Err(response) => return response,
    };
    let scope = v.scope();
    let done = match spaces::at_path(&scope, form.destination.trim()).await {
        Ok(Place::Node(target)) if target.node.is_folder() => {
            spaces::move_node(&scope, &form.id, &target.node.id.to_string()).await
        }
        Ok(_) => Err(ApiError::invalid(
            "move into a folder of the same space (a path such as /home/study)",
        )),
        Err(e) => Err(e),
    };
    answer(&v, &at, done, "move", &form.destination).await
}

#[derive(Deserialize)]
pub struct NodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    id: String,
}

/// POST /files/delete: to the space's trash.
pub async fn delete(v: Visitor, Form(form): Form<NodeForm>) -> Response {
    let at = match fresh_node(&v, &form.csrf, &form.id).await {
        Ok(at) => at,
        Err(response) => return response,
    };
    let done = spaces::delete_node(&v.scope(), &form.id).await;
    answer(&v, &at, done, "row", "").await
}

/// POST /files/restore: out of the trash, back where it was; to its folder.
pub async fn restore(v: Visitor, Form(form): Form<NodeForm>) -> Response {
    let at = match fresh_node(&v, &form.csrf, &form.id).await {
        Ok(at) => at,
        Err(response) => return response,
    };
    match spaces::restore_node(&v.scope(), &form.id).await {
        Ok(restored) => see_other(&listed_on(&v, &restored).await, &[]),
        Err(e) => {
            let problem = Problem::new(Some(at.node.id), "restore", &e, "");
            trash_page(&v, at, Some(problem), status(&e)).await
        }
    }
}

#[derive(Deserialize)]
pub struct Share {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    group: String,
    /// `READ` (the default) or `READ_WRITE`.
    #[serde(default)]
    access: String,
}

/// POST /files/share: the folder with one of the member's groups.
pub async fn share(v: Visitor, Form(form): Form<Share>) -> Response {
    let at = match fresh_node(&v, &form.csrf, &form.id).await {
        Ok(at) => at,
        Err(response) => return response,
    };
    let access = match form.access.as_str() {
        "READ_WRITE" => Ok(Access::ReadWrite),
        "READ" | "" => Ok(Access::Read),
        _ => Err(ApiError::invalid("access is READ or READ_WRITE")),
    };
    let done = match access {
        Ok(access) if !form.group.is_empty() => {
            let with = ShareWith::Group(&form.group);
            spaces::share_folder(&v.scope(), &form.id, with, access).await
        }
        Ok(_) => Err(ApiError::invalid("choose a group to share with")),
        Err(e) => Err(e),
    };
    answer(&v, &at, done, "share", &form.group).await
}

#[derive(Deserialize)]
pub struct Unshare {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    id: String,
    /// `group` or `member`.
    #[serde(default)]
    kind: String,
    #[serde(default)]
    grantee: String,
}

/// POST /files/unshare: ends a share of the folder.
pub async fn unshare(v: Visitor, Form(form): Form<Unshare>) -> Response {
    let at = match fresh_node(&v, &form.csrf, &form.id).await {
        Ok(at) => at,
        Err(response) => return response,
    };
    let with = match form.kind.as_str() {
        "member" => ShareWith::Member(&form.grantee),
        _ => ShareWith::Group(&form.grantee),
    };
    let done = spaces::unshare_folder(&v.scope(), &form.id, with).await;
    answer(&v, &at, done, "row", "").await
}

/// The node a form is about, once its token is this browser's and the member sees it.
async fn fresh_node(v: &Visitor, csrf: &str, id: &str) -> Result<Located, Response> {
    if !v.form_is_fresh(csrf) {
        return Err(view::stale_form(v));
    }
    spaces::located(&v.scope(), id)
        .await
        .map_err(|e| view::failure(v, &e))
}

/// 303 to the folder that lists `at`, or its page again with the refusal beside
/// `field` of its row.
async fn answer(
    v: &Visitor,
    at: &Located,
    done: Result<Located, ApiError>,
    field: &'static str,
    entered: &str,
) -> Response {
    match done {
        Ok(_) => see_other(&listed_on(v, at).await, &[]),
        Err(e) => match parent_of(v, at).await {
            Some(parent) => {
                let problem = Problem::new(Some(at.node.id), field, &e, entered);
                folder_page(v, parent, Paging::default(), Some(problem), status(&e)).await
            }
            None => view::failure(v, &e),
        },
    }
}

/// A refusal's status: 4xx for what the member can fix.
fn status(e: &ApiError) -> StatusCode {
    view::status_of(e.code)
}
