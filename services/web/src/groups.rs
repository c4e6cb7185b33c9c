//! Groups: the list (all of the tenant's for its administrators, with a form that creates
//! one; a member's own groups for the others), and each group's page — its members and
//! their role, and for its managers and the administrators: rename, add someone by e-mail
//! address, change roles, remove; the monthly core-hour budget for administrators. The
//! use cases decide; the page only leaves out the forms that would be refused.

use std::collections::BTreeMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use medgrid_domain::Code;
use medgrid_domain::actor::GroupRole;
use medgrid_domain::ids::{GroupId, MemberId};
use medgrid_domain::names::Email;
use medgrid_graphql::ApiError;
use medgrid_graphql::usecases::accounting::{core_seconds, hours};
use medgrid_graphql::usecases::{Scope, access, groups, parse_id};
use medgrid_projections::groups::GroupRow;
use medgrid_projections::page::PageRequest;

use crate::admin::Paged;
use crate::admin::chart::shown;
use crate::form::Posted;
use crate::login::see_other;
use crate::view;
use crate::visitor::Visitor;

const PAGE: i64 = 50;

pub struct GroupLine {
    pub id: String,
    pub name: String,
    pub budget: String,
}

fn budget(row: &GroupRow) -> String {
    row.core_budget.map_or_else(
        || "no limit".to_owned(),
        |s| format!("{} core hours a month", shown(hours(s))),
    )
}

impl From<GroupRow> for GroupLine {
    fn from(g: GroupRow) -> Self {
        Self {
            id: g.id.to_string(),
            budget: budget(&g),
            name: g.name,
        }
    }
}

#[derive(Template)]
#[template(path = "web/groups.html")]
struct GroupsPage<'a> {
    v: &'a Visitor,
    section: &'a str,
    rows: Vec<GroupLine>,
    next: Option<String>,
    /// All of the tenant's groups and the create form (administrators), or one's own.
    admin: bool,
    name: String,
    error: Option<String>,
}

async fn groups_page(
    v: &Visitor,
    after: Option<i64>,
    status: StatusCode,
    name: String,
    error: Option<String>,
) -> Response {
    let page = PageRequest { first: PAGE, after };
    let found = match groups::list(&v.scope(), v.actor.tenant_id, page).await {
        Ok(found) => found,
        Err(e) => return view::failure(v, &e),
    };
    let next = view::next_link(&found, |r| r.position, "/groups?");
    let page = GroupsPage {
        v,
        section: "groups",
        rows: found.rows.into_iter().map(GroupLine::from).collect(),
        next,
        admin: v.is_admin(),
        name,
        error,
    };
    view::page(v, status, &page)
}

/// GET /groups: all of the tenant's for administrators, one's own for the others.
pub async fn list(v: Visitor, Query(q): Query<Paged>) -> Response {
    groups_page(&v, q.after, StatusCode::OK, String::new(), None).await
}

/// POST /groups: creates the group and shows it.
pub async fn create(v: Visitor, Form(posted): Form<Posted>) -> Response {
    let get = |k: &str| posted.get(k).cloned().unwrap_or_default();
    if !v.posted_is_fresh(&posted) {
        return view::stale_form(&v);
    }
    match groups::create(&v.scope(), v.actor.tenant_id, &get("name")).await {
        Ok(g) => see_other(&format!("/groups/{}", g.id), &[]),
        Err(e) if view::out_of_reach(&e) => view::failure(&v, &e),
        Err(e) => {
            let (placed, general) = view::beside(&e, &["name"]);
            let message = general.or_else(|| placed.into_values().next());
            let status = view::form_status(&e);
            groups_page(&v, None, status, get("name"), message).await
        }
    }
}

pub struct MemberLine {
    pub id: String,
    pub name: String,
    pub email: String,
    pub manager: bool,
}

#[derive(Template)]
#[template(path = "web/group.html")]
struct GroupPage<'a> {
    v: &'a Visitor,
    section: &'a str,
    g: GroupLine,
    /// The budget as the form shows it: hours, empty for none.
    budget_hours: String,
    members: Vec<MemberLine>,
    /// The visitor manages it (a manager, or an administrator): membership and name.
    manages: bool,
    /// The visitor administers the tenant: the budget.
    admin: bool,
    /// What a refused form had typed (rename, budget, add).
    typed: BTreeMap<String, String>,
    /// Refusals by the form they answer.
    errors: BTreeMap<String, String>,
}

impl GroupPage<'_> {
    fn error_of(&self, form: &str) -> Option<&String> {
        self.errors.get(form)
    }
    fn typed(&self, field: &str) -> &str {
        self.typed.get(field).map_or("", String::as_str)
    }
}

/// What a refused form brings back to the group's page.
#[derive(Default)]
struct Back {
    typed: BTreeMap<String, String>,
    errors: BTreeMap<String, String>,
}

async fn group_page(v: &Visitor, id: &str, status: StatusCode, back: Back) -> Response {
    let scope = v.scope();
    let found = async {
        let id: GroupId = parse_id(id, "group")?;
        let g = groups::visible(&scope, id).await?;
        let mut members = vec![];
        for membership in groups::members(&scope, id).await? {
            let member = access::visible(&scope, MemberId::from_uuid(membership.member_id)).await?;
            members.push((membership, member));
        }
        Ok::<_, ApiError>((g, members))
    }
    .await;
    let (g, members) = match found {
        Ok(found) => found,
        Err(e) => return view::failure(v, &e),
    };
    let budget_hours = g
        .core_budget
        .map(|s| hours(s).to_string())
        .unwrap_or_default();
    let admin = v.is_admin();
    let me = v.actor.member_id.as_uuid();
    let manages = admin
        || members
            .iter()
            .any(|(m, _)| m.member_id == me && m.role == GroupRole::Manager.as_str());
    let page = GroupPage {
        v,
        section: "groups",
        manages,
        admin,
        budget_hours,
        g: GroupLine::from(g),
        members: members
            .into_iter()
            .map(|(membership, m)| MemberLine {
                id: m.id.to_string(),
                name: m.name,
                email: m.email,
                manager: membership.role == GroupRole::Manager.as_str(),
            })
            .collect(),
        typed: back.typed,
        errors: back.errors,
    };
    view::page(v, status, &page)
}

/// GET /groups/{id}.
pub async fn show(v: Visitor, Path(id): Path<String>) -> Response {
    group_page(&v, &id, StatusCode::OK, Back::default()).await
}

fn role(value: &str) -> Result<GroupRole, ApiError> {
    match value {
        "MANAGER" => Ok(GroupRole::Manager),
        "MEMBER" | "" => Ok(GroupRole::Member),
        _ => Err(ApiError::invalid("role: must be MANAGER or MEMBER")),
    }
}

/// The member of the visitor's tenant with this address: members' ids derive from it.
fn member_by_email(v: &Visitor, raw: &str) -> Result<String, ApiError> {
    let email: Email = raw.trim().parse()?;
    Ok(MemberId::for_email(v.actor.tenant_id, &email).to_string())
}

/// Hours as typed ("12.5", empty for no limit) as core seconds.
fn budget_seconds(raw: &str) -> Result<Option<u64>, ApiError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let parsed: f64 = raw
        .parse()
        .map_err(|_| ApiError::invalid("hours: a number of core hours, or empty for no limit"))?;
    core_seconds(Some(parsed)).map_err(|e| ApiError::invalid(format!("hours: {}", e.message)))
}

/// What the form `action` asks of group `id`.
async fn run(
    v: &Visitor,
    scope: &Scope<'_>,
    id: &str,
    action: &str,
    posted: &Posted,
) -> Result<(), ApiError> {
    let get = |k: &str| posted.get(k).map_or("", String::as_str);
    match action {
        "rename" => groups::rename(scope, id, get("name")).await.map(drop),
        "budget" => {
            let seconds = budget_seconds(get("hours"))?;
            groups::set_core_budget(scope, id, seconds).await.map(drop)
        }
        "add" => {
            let member = member_by_email(v, get("email"))?;
            let role = role(get("role"))?;
            groups::set_membership(scope, id, &member, Some(role))
                .await
                .map(drop)
                .map_err(|e| match e.code {
                    // a member of another tenant, or nobody, is a wrong entry of this form
                    Code::NotFound if e.message.contains("member") => {
                        ApiError::invalid("email: no member of your institution has this address")
                    }
                    _ => e,
                })
        }
        "role" => {
            let role = role(get("role"))?;
            groups::set_membership(scope, id, get("member"), Some(role))
                .await
                .map(drop)
        }
        "remove" => groups::set_membership(scope, id, get("member"), None)
            .await
            .map(drop),
        _ => Err(ApiError::not_found("page")),
    }
}

/// POST /groups/{id}/{rename|budget|add|role|remove}: back to the group; a refusal
/// shows it again with the message beside the form and what was typed kept.
pub async fn act(
    v: Visitor,
    Path((id, action)): Path<(String, String)>,
    Form(posted): Form<Posted>,
) -> Response {
    if !v.posted_is_fresh(&posted) {
        return view::stale_form(&v);
    }
    match run(&v, &v.scope(), &id, &action, &posted).await {
        Ok(()) => see_other(&format!("/groups/{id}"), &[]),
        Err(e) if view::out_of_reach(&e) => view::failure(&v, &e),
        Err(e) => {
            let message = view::message_of(&e, &["name", "hours", "email", "role"]);
            let typed = ["name", "hours", "email", "role"]
                .into_iter()
                .filter_map(|k| posted.get(k).map(|v| (k.to_owned(), v.clone())))
                .collect();
            let back = Back {
                typed,
                errors: BTreeMap::from([(action, message)]),
            };
            group_page(&v, &id, view::form_status(&e), back).await
        }
    }
}
