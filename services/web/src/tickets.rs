//! Trouble tickets: the list (a member's own, all of the tenant's for its administrators),
//! a form to open one (about a job, from the job's page), and each ticket's page with its
//! comments and the forms that comment, resolve and reopen it — and for administrators,
//! assign it and change its priority. All through the use cases GraphQL calls.

use std::collections::{BTreeMap, HashMap};

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use medgrid_domain::Code;
use medgrid_domain::ids::{MemberId, TenantId};
use medgrid_domain::support::Priority;
use medgrid_graphql::ApiError;
use medgrid_graphql::usecases::{Scope, jobs, tickets};
use medgrid_projections::members;
use medgrid_projections::page::PageRequest;
use medgrid_projections::tickets::TicketRow;
use serde::Deserialize;
use uuid::Uuid;

use crate::catalog::Option_;
use crate::form::Posted;
use crate::jobs::{short, when};
use crate::login::see_other;
use crate::view;
use crate::visitor::Visitor;

const PAGE: i64 = 25;

const PRIORITIES: [(Priority, &str); 4] = [
    (Priority::Low, "Low"),
    (Priority::Normal, "Normal"),
    (Priority::High, "High"),
    (Priority::Urgent, "Urgent"),
];

fn priority_options(chosen: &str) -> Vec<Option_> {
    PRIORITIES
        .iter()
        .map(|(p, label)| Option_ {
            value: p.as_str().to_owned(),
            label: (*label).to_owned(),
            selected: p.as_str() == chosen,
        })
        .collect()
}

fn priority_label(value: &str) -> &'static str {
    PRIORITIES
        .iter()
        .find(|(p, _)| p.as_str() == value)
        .map_or("Normal", |(_, label)| label)
}

fn parse_priority(value: &str) -> Result<Priority, ApiError> {
    Priority::parse(value)
        .ok_or_else(|| ApiError::invalid("priority: must be Low, Normal, High or Urgent"))
}

/// The names of members, for showing who reported, was assigned or wrote.
async fn names(
    scope: &Scope<'_>,
    ids: impl Iterator<Item = Uuid>,
) -> Result<HashMap<Uuid, String>, ApiError> {
    let reads = scope.reader();
    let mut found = HashMap::new();
    for id in ids {
        if found.contains_key(&id) {
            continue;
        }
        let name = members::by_id(&reads, MemberId::from_uuid(id))
            .await?
            .map_or_else(|| "a former member".to_owned(), |m| m.name);
        found.insert(id, name);
    }
    Ok(found)
}

fn name_of(names: &HashMap<Uuid, String>, id: Uuid) -> String {
    names.get(&id).cloned().unwrap_or_default()
}

pub struct ListRow {
    pub id: Uuid,
    pub title: String,
    pub status: String,
    pub priority: &'static str,
    pub reporter: String,
    pub assignee: Option<String>,
    pub updated: DateTime<Utc>,
}

#[derive(Template)]
#[template(path = "web/tickets.html")]
struct TicketsPage<'a> {
    v: &'a Visitor,
    section: &'a str,
    rows: Vec<ListRow>,
    next: Option<String>,
    admin: bool,
}

impl TicketsPage<'_> {
    fn when(&self, at: &DateTime<Utc>) -> String {
        when(*at)
    }
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    after: Option<i64>,
}

/// GET /tickets: newest first, 25 a page.
pub async fn list(v: Visitor, Query(q): Query<ListQuery>) -> Response {
    let scope = v.scope();
    let page = PageRequest {
        first: PAGE,
        after: q.after,
    };
    let found = match tickets::list(&scope, page).await {
        Ok(found) => found,
        Err(e) => return view::failure(&v, &e),
    };
    let people = found
        .rows
        .iter()
        .flat_map(|t| std::iter::once(t.reporter_id).chain(t.assignee_id));
    let names = match names(&scope, people).await {
        Ok(n) => n,
        Err(e) => return view::failure(&v, &e),
    };
    let next = view::next_link(&found, |t| t.position, "/tickets?");
    let rows = found
        .rows
        .into_iter()
        .map(|t| ListRow {
            id: t.id,
            priority: priority_label(&t.priority),
            reporter: name_of(&names, t.reporter_id),
            assignee: t.assignee_id.map(|a| name_of(&names, a)),
            updated: t.updated_at,
            title: t.title,
            status: t.status,
        })
        .collect();
    let page = TicketsPage {
        v: &v,
        section: "tickets",
        rows,
        next,
        admin: v.is_admin(),
    };
    view::ok(&v, &page)
}

#[derive(Template)]
#[template(path = "web/ticket_new.html")]
struct NewTicket<'a> {
    v: &'a Visitor,
    section: &'a str,
    title: String,
    body: String,
    job: String,
    priorities: Vec<Option_>,
    errors: BTreeMap<String, String>,
    error: Option<String>,
}

impl NewTicket<'_> {
    fn error_of(&self, field: &str) -> Option<&String> {
        self.errors.get(field)
    }
}

#[derive(Deserialize, Default)]
pub struct NewQuery {
    #[serde(default)]
    job: String,
}

/// GET /tickets/new (`?job=ID`: about that job).
pub async fn new_form(v: Visitor, Query(q): Query<NewQuery>) -> Response {
    let page = NewTicket {
        v: &v,
        section: "tickets",
        title: String::new(),
        body: String::new(),
        job: q.job.trim().to_owned(),
        priorities: priority_options(Priority::Normal.as_str()),
        errors: BTreeMap::new(),
        error: None,
    };
    view::ok(&v, &page)
}

/// The ticket a form asks to open; refusals name the field they are about.
async fn open_ticket(scope: &Scope<'_>, posted: &Posted) -> Result<TicketRow, ApiError> {
    let get = |k: &str| posted.get(k).map_or("", String::as_str);
    let job = get("job").trim();
    let job_id = if job.is_empty() {
        None
    } else {
        // refused here, so the refusal lands beside the job field
        let row = jobs::visible(scope, job).await.map_err(|e| match e.code {
            Code::Internal => e,
            // a job the member does not see is a wrong entry of this form
            _ => ApiError::invalid(format!("job: {}", e.message)),
        })?;
        Some(row.id.to_string())
    };
    let priority = parse_priority(get("priority"))?;
    let request = tickets::OpenRequest {
        title: get("title").to_owned(),
        body: get("body").to_owned(),
        job_id,
        priority,
        idempotency_key: None,
    };
    tickets::open(scope, request).await
}

/// POST /tickets/new: opens the ticket and shows it; a refusal shows the form again with
/// what was typed and the error beside its field.
pub async fn open(v: Visitor, Form(posted): Form<Posted>) -> Response {
    let get = |k: &str| posted.get(k).cloned().unwrap_or_default();
    if !v.posted_is_fresh(&posted) {
        return view::stale_form(&v);
    }
    match open_ticket(&v.scope(), &posted).await {
        Ok(t) => see_other(&format!("/tickets/{}", t.id), &[]),
        Err(e) if e.code == Code::Internal => view::failure(&v, &e),
        Err(e) => {
            let (errors, error) = view::beside(&e, &["title", "body", "job", "priority"]);
            let page = NewTicket {
                v: &v,
                section: "tickets",
                title: get("title"),
                body: get("body"),
                job: get("job"),
                priorities: priority_options(&get("priority")),
                errors,
                error,
            };
            view::page(&v, view::form_status(&e), &page)
        }
    }
}

pub struct CommentView {
    pub number: i64,
    pub author: String,
    pub at: DateTime<Utc>,
    pub body: String,
}

#[derive(Template)]
#[template(path = "web/ticket.html")]
struct TicketPage<'a> {
    v: &'a Visitor,
    section: &'a str,
    t: TicketRow,
    title: String,
    reporter: String,
    assignee: Option<String>,
    comments: Vec<CommentView>,
    admin: bool,
    resolved: bool,
    /// Administrators a ticket may be assigned to.
    admins: Vec<Option_>,
    priorities: Vec<Option_>,
    /// What was typed in a form that came back refused.
    comment: String,
    resolution: String,
    /// Refusals by the form they answer (comment, assign, priority, resolve, reopen).
    errors: BTreeMap<String, String>,
}

impl TicketPage<'_> {
    fn when(&self, at: &DateTime<Utc>) -> String {
        when(*at)
    }
    fn short(&self, id: &Uuid) -> String {
        short(*id)
    }
    fn error_of(&self, form: &str) -> Option<&String> {
        self.errors.get(form)
    }
    fn priority(&self) -> &'static str {
        priority_label(&self.t.priority)
    }
}

/// The active administrators of the tenant, `chosen` selected.
async fn admins(
    scope: &Scope<'_>,
    tenant: TenantId,
    chosen: Option<Uuid>,
) -> Result<Vec<Option_>, ApiError> {
    let reads = scope.reader();
    let mut found = vec![];
    let mut after = None;
    loop {
        let page = PageRequest { first: 200, after };
        let rows = members::list(&reads, tenant, page).await?;
        after = rows.rows.last().map(|m| m.position);
        found.extend(
            rows.rows
                .into_iter()
                .filter(|m| !m.disabled && m.roles.iter().any(|r| r == "TENANT_ADMIN"))
                .map(|m| Option_ {
                    selected: Some(m.id) == chosen,
                    value: m.id.to_string(),
                    label: format!("{} ({})", m.name, m.email),
                }),
        );
        if !rows.has_next {
            return Ok(found);
        }
    }
}

/// What a refused form brings back to the ticket's page.
#[derive(Default)]
struct Back {
    comment: String,
    resolution: String,
    errors: BTreeMap<String, String>,
}

async fn ticket_page(v: &Visitor, id: &str, status: StatusCode, back: Back) -> Response {
    let scope = v.scope();
    let found = async {
        let t = tickets::visible(&scope, id).await?;
        let comments = tickets::comments(&scope, &t).await?;
        let people = std::iter::once(t.reporter_id)
            .chain(t.assignee_id)
            .chain(comments.iter().map(|c| c.author_id));
        let names = names(&scope, people).await?;
        let admin = v.is_admin();
        let admins = if admin {
            admins(&scope, TenantId::from_uuid(t.tenant_id), t.assignee_id).await?
        } else {
            vec![]
        };
        Ok::<_, ApiError>((t, comments, names, admin, admins))
    }
    .await;
    let (t, comments, names, admin, admins) = match found {
        Ok(found) => found,
        Err(e) => return view::failure(v, &e),
    };
    let page = TicketPage {
        v,
        section: "tickets",
        title: format!("Ticket: {}", t.title),
        reporter: name_of(&names, t.reporter_id),
        assignee: t.assignee_id.map(|a| name_of(&names, a)),
        comments: comments
            .into_iter()
            .map(|c| CommentView {
                number: c.number,
                author: name_of(&names, c.author_id),
                at: c.created_at,
                body: c.body,
            })
            .collect(),
        admin,
        resolved: t.status == "RESOLVED",
        admins,
        priorities: priority_options(&t.priority),
        comment: back.comment,
        resolution: back.resolution,
        errors: back.errors,
        t,
    };
    view::page(v, status, &page)
}

/// GET /tickets/{id}.
pub async fn show(v: Visitor, Path(id): Path<String>) -> Response {
    ticket_page(&v, &id, StatusCode::OK, Back::default()).await
}

/// What the form `action` asks of ticket `id`.
async fn run(scope: &Scope<'_>, id: &str, action: &str, posted: &Posted) -> Result<(), ApiError> {
    let get = |k: &str| posted.get(k).cloned().unwrap_or_default();
    match action {
        "comment" => tickets::comment(scope, id, get("body")).await,
        "assign" => tickets::assign(scope, id, get("member").trim()).await,
        "priority" => tickets::set_priority(scope, id, parse_priority(&get("priority"))?).await,
        "resolve" => tickets::resolve(scope, id, get("resolution")).await,
        "reopen" => tickets::reopen(scope, id).await,
        _ => Err(ApiError::not_found("page")),
    }
    .map(drop)
}

/// POST /tickets/{id}/{comment|assign|priority|resolve|reopen}: back to the ticket; a
/// refusal shows it again with the message beside the form and what was typed kept.
pub async fn act(
    v: Visitor,
    Path((id, action)): Path<(String, String)>,
    Form(posted): Form<Posted>,
) -> Response {
    if !v.posted_is_fresh(&posted) {
        return view::stale_form(&v);
    }
    match run(&v.scope(), &id, &action, &posted).await {
        Ok(()) => {
            let anchor = if action == "comment" { "#comments" } else { "" };
            see_other(&format!("/tickets/{id}{anchor}"), &[])
        }
        Err(e) if view::out_of_reach(&e) => view::failure(&v, &e),
        Err(e) => {
            let fields = ["body", "memberId", "priority", "resolution"];
            let message = view::message_of(&e, &fields);
            let get = |k: &str| posted.get(k).cloned().unwrap_or_default();
            let back = Back {
                comment: if action == "comment" {
                    get("body")
                } else {
                    String::new()
                },
                resolution: if action == "resolve" {
                    get("resolution")
                } else {
                    String::new()
                },
                errors: BTreeMap::from([(action, message)]),
            };
            ticket_page(&v, &id, view::form_status(&e), back).await
        }
    }
}
