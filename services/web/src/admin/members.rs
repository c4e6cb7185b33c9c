//! The tenant's members for its administrators: the list with a form that adds someone
//! (a local account with a password, or an invitation to sign in through the
//! institution), and each member's page — roles, disable and enable, a new password,
//! their groups and access tokens.

use std::collections::BTreeMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use medgrid_domain::access::MemberCommand;
use medgrid_domain::actor::Role;
use medgrid_domain::ids::MemberId;
use medgrid_graphql::ApiError;
use medgrid_graphql::usecases::{Scope, access, groups, identity, parse_id};
use medgrid_projections::members::{MemberRow, TokenRow};
use medgrid_projections::page::PageRequest;

use super::{Entered, Paged};
use crate::form::Posted;
use crate::jobs::when;
use crate::login::see_other;
use crate::view;
use crate::visitor::Visitor;

const PAGE: i64 = 50;

/// The roles a tenant gives, with what they mean.
const ROLES: [(Role, &str); 2] = [
    (Role::TenantAdmin, "Administrator of the institution"),
    (
        Role::PlatformAdmin,
        "Platform administrator (every institution)",
    ),
];

/// A role box on a form: shown only when the visitor may give it.
pub struct RoleBox {
    pub value: &'static str,
    pub label: &'static str,
    pub checked: bool,
}

fn role_boxes(v: &Visitor, has: impl Fn(&str) -> bool) -> Vec<RoleBox> {
    ROLES
        .iter()
        .filter(|(role, _)| *role != Role::PlatformAdmin || v.actor.is_platform_admin())
        .map(|(role, label)| RoleBox {
            value: role.as_str(),
            label,
            checked: has(role.as_str()),
        })
        .collect()
}

fn role_of(value: &str) -> Option<Role> {
    ROLES.iter().map(|(r, _)| *r).find(|r| r.as_str() == value)
}

/// The roles a form's boxes ask for (`role.TENANT_ADMIN=on`, …).
fn posted_roles(posted: &Posted) -> std::collections::BTreeSet<Role> {
    ROLES
        .iter()
        .map(|(r, _)| *r)
        .filter(|r| posted.contains_key(&format!("role.{}", r.as_str())))
        .collect()
}

/// How a member signs in, in words.
fn sign_in(m: &MemberRow) -> String {
    match (&m.issuer, m.status.as_str()) {
        (Some(issuer), _) => format!("through {issuer}"),
        (None, "INVITED") => "invited: joins at the first sign-in".to_owned(),
        (None, _) => "with a password".to_owned(),
    }
}

pub struct MemberLine {
    pub id: String,
    pub name: String,
    pub email: String,
    pub roles: String,
    pub state: &'static str,
    pub sign_in: String,
}

impl From<MemberRow> for MemberLine {
    fn from(m: MemberRow) -> Self {
        Self {
            id: m.id.to_string(),
            state: state(&m),
            sign_in: sign_in(&m),
            roles: m.roles.join(", "),
            name: m.name,
            email: m.email,
        }
    }
}

fn state(m: &MemberRow) -> &'static str {
    match (m.disabled, m.status.as_str()) {
        (true, _) => "disabled",
        (false, "INVITED") => "invited",
        _ => "active",
    }
}

#[derive(Template)]
#[template(path = "web/admin_members.html")]
struct MembersPage<'a> {
    v: &'a Visitor,
    section: &'a str,
    rows: Vec<MemberLine>,
    next: Option<String>,
    /// The add form as typed, with refusals beside their fields.
    entry: Entered,
    roles: Vec<RoleBox>,
}

impl MembersPage<'_> {
    fn error_of(&self, field: &str) -> Option<&String> {
        self.entry.errors.get(field)
    }
}

async fn members_page(
    v: &Visitor,
    after: Option<i64>,
    status: StatusCode,
    entry: Entered,
    roles: Vec<RoleBox>,
) -> Response {
    let page = PageRequest { first: PAGE, after };
    let found = match access::list(&v.scope(), v.actor.tenant_id, page).await {
        Ok(found) => found,
        Err(e) => return view::failure(v, &e),
    };
    let next = view::next_link(&found, |r| r.position, "/admin/members?");
    let page = MembersPage {
        v,
        section: "admin",
        rows: found.rows.into_iter().map(MemberLine::from).collect(),
        next,
        entry,
        roles,
    };
    view::page(v, status, &page)
}

/// GET /admin/members: the tenant's members, 50 a page, in the order they joined.
pub async fn list(v: Visitor, Query(q): Query<Paged>) -> Response {
    if let Some(refused) = super::refuse_non_admin(&v) {
        return refused;
    }
    let roles = role_boxes(&v, |_| false);
    members_page(&v, q.after, StatusCode::OK, Entered::default(), roles).await
}

/// Adds the member the form describes: with a password, a local account; without, an
/// invitation (they join at their first sign-in through one of the tenant's providers).
async fn add(v: &Visitor, posted: &Posted) -> Result<MemberRow, ApiError> {
    let get = |k: &str| posted.get(k).map_or("", String::as_str);
    let scope = v.scope();
    let roles = posted_roles(posted);
    let tenant = v.actor.tenant_id;
    let password = get("password");
    if password.is_empty() {
        let name = Some(get("name")).filter(|n| !n.trim().is_empty());
        return identity::invite(&scope, tenant, get("email"), name, roles).await;
    }
    let new = access::NewMember {
        tenant_id: tenant,
        email: get("email"),
        name: get("name"),
        password: Some(password),
        roles,
    };
    access::create(&scope, new).await
}

/// POST /admin/members: adds someone, then shows their page; a refusal shows the list
/// again with the message beside its field and what was typed kept (not the password).
pub async fn create(v: Visitor, Form(posted): Form<Posted>) -> Response {
    if !v.posted_is_fresh(&posted) {
        return view::stale_form(&v);
    }
    match add(&v, &posted).await {
        Ok(m) => see_other(&format!("/admin/members/{}", m.id), &[]),
        Err(e) if view::out_of_reach(&e) => view::failure(&v, &e),
        Err(e) => {
            let entry = Entered::refused(&posted, &e, &["email", "name", "password"]);
            let wanted = posted_roles(&posted);
            let roles = role_boxes(&v, |r| role_of(r).is_some_and(|r| wanted.contains(&r)));
            members_page(&v, None, view::form_status(&e), entry, roles).await
        }
    }
}

pub struct GroupLine {
    pub id: String,
    pub name: String,
    pub role: String,
}

pub struct TokenLine {
    pub id: String,
    pub name: String,
    pub created: DateTime<Utc>,
    pub expires: Option<DateTime<Utc>>,
    pub revoked: bool,
}

impl From<TokenRow> for TokenLine {
    fn from(t: TokenRow) -> Self {
        Self {
            id: t.id.to_string(),
            name: t.name,
            created: t.created_at,
            expires: t.expires_at,
            revoked: t.revoked_at.is_some(),
        }
    }
}

#[derive(Template)]
#[template(path = "web/admin_member.html")]
struct MemberPage<'a> {
    v: &'a Visitor,
    section: &'a str,
    m: MemberLine,
    /// The visitor may change this member's roles, access and tokens (the use cases'
    /// rule: the forms they would refuse are not shown).
    may_act: bool,
    may_set_password: bool,
    is_self: bool,
    disabled: bool,
    roles: Vec<RoleBox>,
    groups: Vec<GroupLine>,
    tokens: Vec<TokenLine>,
    /// Refusals by the form they answer (roles, password, disable, enable, token).
    errors: BTreeMap<String, String>,
}

impl MemberPage<'_> {
    fn error_of(&self, form: &str) -> Option<&String> {
        self.errors.get(form)
    }
    fn when(&self, at: &DateTime<Utc>) -> String {
        when(*at)
    }
}

async fn member_page(
    v: &Visitor,
    id: &str,
    status: StatusCode,
    errors: BTreeMap<String, String>,
) -> Response {
    let scope = v.scope();
    let found = async {
        let id: MemberId = parse_id(id, "member")?;
        let m = access::visible(&scope, id).await?;
        let groups = groups::memberships_of(&scope, id).await?;
        let tokens = access::tokens(&scope, id).await?;
        Ok::<_, ApiError>((m, groups, tokens))
    }
    .await;
    let (m, groups, tokens) = match found {
        Ok(found) => found,
        Err(e) => return view::failure(v, &e),
    };
    let target = access::target(&m);
    let page = MemberPage {
        v,
        section: "admin",
        may_act: v.actor.require_may_act_on(&target).is_ok(),
        may_set_password: v.actor.require_may_set_password(&target).is_ok(),
        is_self: m.id == v.actor.member_id.as_uuid(),
        disabled: m.disabled,
        roles: role_boxes(v, |r| m.roles.iter().any(|has| has == r)),
        groups: groups
            .into_iter()
            .map(|(membership, g)| GroupLine {
                id: g.id.to_string(),
                name: g.name,
                role: membership.role.to_lowercase(),
            })
            .collect(),
        tokens: tokens.into_iter().map(TokenLine::from).collect(),
        m: MemberLine::from(m),
        errors,
    };
    view::page(v, status, &page)
}

/// GET /admin/members/{id}.
pub async fn show(v: Visitor, Path(id): Path<String>) -> Response {
    if let Some(refused) = super::refuse_non_admin(&v) {
        return refused;
    }
    member_page(&v, &id, StatusCode::OK, BTreeMap::new()).await
}

/// The role changes that make the member's roles what the boxes say; roles the
/// visitor may not give are left as they are (their boxes are not on the form).
async fn set_roles(
    scope: &Scope<'_>,
    v: &Visitor,
    id: &str,
    posted: &Posted,
) -> Result<(), ApiError> {
    let current = access::visible(scope, parse_id(id, "member")?).await?;
    let wanted = posted_roles(posted);
    for shown in role_boxes(v, |_| false) {
        let Some(role) = role_of(shown.value) else {
            continue;
        };
        let has = current.roles.iter().any(|r| r == shown.value);
        let command = match (has, wanted.contains(&role)) {
            (false, true) => MemberCommand::GrantRole(role),
            (true, false) => MemberCommand::RevokeRole(role),
            _ => continue,
        };
        access::administer(scope, id, command).await?;
    }
    Ok(())
}

/// What the form `action` asks of member `id`.
async fn run(v: &Visitor, id: &str, action: &str, posted: &Posted) -> Result<(), ApiError> {
    let scope = v.scope();
    let get = |k: &str| posted.get(k).map_or("", String::as_str);
    match action {
        "roles" => set_roles(&scope, v, id, posted).await,
        "disable" => access::administer(&scope, id, MemberCommand::Disable)
            .await
            .map(drop),
        "enable" => access::administer(&scope, id, MemberCommand::Enable)
            .await
            .map(drop),
        "password" => {
            let id: MemberId = parse_id(id, "member")?;
            access::set_password(&scope, id, get("password"))
                .await
                .map(drop)
        }
        "token" => access::revoke_token(&scope, get("token")).await.map(drop),
        _ => Err(ApiError::not_found("page")),
    }
}

/// POST /admin/members/{id}/{roles|disable|enable|password|token}: back to the member's
/// page; a refusal shows it again with the message beside the form.
pub async fn act(
    v: Visitor,
    Path((id, action)): Path<(String, String)>,
    Form(posted): Form<Posted>,
) -> Response {
    if !v.posted_is_fresh(&posted) {
        return view::stale_form(&v);
    }
    if let Some(refused) = super::refuse_non_admin(&v) {
        return refused;
    }
    match run(&v, &id, &action, &posted).await {
        Ok(()) => see_other(&format!("/admin/members/{id}"), &[]),
        Err(e) if view::out_of_reach(&e) => view::failure(&v, &e),
        Err(e) => {
            let message = view::message_of(&e, &["password", "token"]);
            let errors = BTreeMap::from([(action, message)]);
            member_page(&v, &id, view::form_status(&e), errors).await
        }
    }
}
