//! The tenants of the platform, for platform administrators: the list a page at a time,
//! a form to create one, and each tenant's page where it is renamed, suspended with a
//! reason or reactivated, and given a storage quota and a monthly core-hour budget.

use std::collections::BTreeMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use medgrid_domain::Code;
use medgrid_domain::ids::TenantId;
use medgrid_domain::tenancy::TenantCommand;
use medgrid_graphql::ApiError;
use medgrid_graphql::usecases::{Scope, parse_id, tenancy};
use medgrid_projections::page::PageRequest;
use medgrid_projections::tenants::TenantRow;
use serde::Deserialize;

use super::{Entered, Input, decimal};
use crate::form::Posted;
use crate::login::see_other;
use crate::view;
use crate::visitor::Visitor;

const PAGE: i64 = 25;
const GB: f64 = 1e9;
/// Above this a byte count is no longer exact as a number (as GraphQL's `bytes`).
const MAX_BYTES: f64 = 9.0e15;
const MAX_HOURS: f64 = 8.8e9;

/// Every tenant (for platform administrators; others are refused).
pub async fn all(scope: &Scope<'_>) -> Result<Vec<TenantRow>, ApiError> {
    let mut found = vec![];
    let mut after = None;
    loop {
        let page = tenancy::list(scope, PageRequest { first: 200, after }).await?;
        after = page.rows.last().map(|t| t.position);
        found.extend(page.rows);
        if !page.has_next {
            return Ok(found);
        }
    }
}

fn not_platform_admin() -> ApiError {
    ApiError::new(
        Code::Forbidden,
        "the tenants are for platform administrators",
    )
}

/// The refusal of a visitor who is no platform administrator; the use cases decide the
/// changes.
fn refused(v: &Visitor) -> Option<Response> {
    (!v.actor.is_platform_admin()).then(|| view::failure(v, &not_platform_admin()))
}

/// A byte count as people read it: whole gigabytes, else bytes.
fn bytes_shown(bytes: i64) -> String {
    if bytes % 1_000_000_000 == 0 {
        format!("{} GB", bytes / 1_000_000_000)
    } else {
        format!("{bytes} bytes")
    }
}

/// Core seconds as core hours, to the second (four decimals, trailing zeros dropped).
fn hours_shown(seconds: i64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let hours = format!("{:.4}", seconds as f64 / 3600.0);
    hours.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// A tenant as the list and its page show it.
pub struct TenantView {
    pub t: TenantRow,
    pub quota: Option<String>,
    pub budget: Option<String>,
}

impl From<TenantRow> for TenantView {
    fn from(t: TenantRow) -> Self {
        Self {
            quota: t.storage_quota.map(bytes_shown),
            budget: t
                .core_budget
                .map(|b| format!("{} core hours a month", hours_shown(b))),
            t,
        }
    }
}

#[derive(Template)]
#[template(path = "web/admin_tenants.html")]
struct ListPage<'a> {
    v: &'a Visitor,
    section: &'a str,
    rows: Vec<TenantView>,
    next: Option<String>,
    create: Vec<Input>,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    after: Option<i64>,
}

async fn list_page(v: &Visitor, after: Option<i64>, status: StatusCode, e: &Entered) -> Response {
    let page = PageRequest { first: PAGE, after };
    let found = match tenancy::list(&v.scope(), page).await {
        Ok(found) => found,
        Err(e) => return view::failure(v, &e),
    };
    let next = found
        .has_next
        .then(|| found.rows.last())
        .flatten()
        .map(|last| format!("/admin/tenants?after={}", last.position));
    let page = ListPage {
        v,
        section: "admin",
        rows: found.rows.into_iter().map(TenantView::from).collect(),
        next,
        create: vec![
            e.input("tenant", "slug", "Short name")
                .required()
                .help("2 to 40 of a-z, 0-9 and '-', starting with a letter: it names the tenant at sign-in and never changes."),
            e.input("tenant", "name", "Name").required(),
        ],
        error: e.error.clone(),
    };
    view::page(v, status, &page)
}

/// GET /admin/tenants: 25 a page, oldest first (the use case refuses all but platform
/// administrators).
pub async fn list(v: Visitor, Query(q): Query<ListQuery>) -> Response {
    list_page(&v, q.after, StatusCode::OK, &Entered::default()).await
}

/// POST /admin/tenants: creates a tenant and shows it.
pub async fn create(v: Visitor, Form(posted): Form<Posted>) -> Response {
    if !v.posted_is_fresh(&posted) {
        return view::stale_form(&v);
    }
    let get = |k: &str| posted.get(k).map_or("", |s| s.trim());
    match tenancy::create(&v.scope(), get("slug"), get("name")).await {
        Ok(t) => see_other(&format!("/admin/tenants/{}", t.id), &[]),
        Err(e) if view::out_of_reach(&e) => view::failure(&v, &e),
        Err(e) => {
            // a conflict names its field (a look-alike name); else it is the slug taken
            let e = if e.code == Code::Conflict && e.field.is_none() {
                e.with_field("slug")
            } else {
                e
            };
            let entered = Entered::refused(&posted, &e, &["slug", "name"]);
            list_page(&v, None, view::form_status(&e), &entered).await
        }
    }
}

#[derive(Template)]
#[template(path = "web/admin_tenant.html")]
struct TenantPage<'a> {
    v: &'a Visitor,
    section: &'a str,
    tenant: TenantView,
    suspended: bool,
    name: String,
    reason: String,
    quota: String,
    unit_gb: bool,
    budget: String,
    /// Refusals by the form they answer (rename, suspend, reactivate, quota, budget).
    errors: BTreeMap<String, String>,
}

impl TenantPage<'_> {
    fn error_of(&self, form: &str) -> Option<&String> {
        self.errors.get(form)
    }
}

/// The quota as its form shows it: whole gigabytes in GB, anything else in bytes.
fn quota_entered(quota: Option<i64>) -> (String, bool) {
    match quota {
        None => (String::new(), true),
        Some(b) if b % 1_000_000_000 == 0 => ((b / 1_000_000_000).to_string(), true),
        Some(b) => (b.to_string(), false),
    }
}

async fn tenant_page(
    v: &Visitor,
    id: &str,
    status: StatusCode,
    refusal: Option<(&str, &Posted, String)>,
) -> Response {
    // a tenant administrator may see their own tenant, but not on this page
    if let Some(refused) = refused(v) {
        return refused;
    }
    let found = async {
        let id: TenantId = parse_id(id, "tenant")?;
        tenancy::visible(&v.scope(), id).await
    }
    .await;
    let t = match found {
        Ok(t) => t,
        Err(e) => return view::failure(v, &e),
    };
    let (quota, unit_gb) = quota_entered(t.storage_quota);
    let mut page = TenantPage {
        v,
        section: "admin",
        suspended: !t.is_active(),
        name: t.name.clone(),
        reason: String::new(),
        quota,
        unit_gb,
        budget: t.core_budget.map(hours_shown).unwrap_or_default(),
        tenant: t.into(),
        errors: BTreeMap::new(),
    };
    if let Some((action, posted, message)) = refusal {
        let get = |k: &str| posted.get(k).cloned().unwrap_or_default();
        match action {
            "rename" => page.name = get("name"),
            "suspend" => page.reason = get("reason"),
            "quota" => (page.quota, page.unit_gb) = (get("quota"), get("unit") != "bytes"),
            "budget" => page.budget = get("budget"),
            _ => {}
        }
        page.errors.insert(action.to_owned(), message);
    }
    view::page(v, status, &page)
}

/// GET /admin/tenants/{id}
pub async fn show(v: Visitor, Path(id): Path<String>) -> Response {
    tenant_page(&v, &id, StatusCode::OK, None).await
}

/// The storage quota of the form in bytes; blank lifts it.
fn quota_bytes(posted: &Posted) -> Result<Option<u64>, ApiError> {
    let Some(value) = decimal(posted, "quota")? else {
        return Ok(None);
    };
    let bytes = if posted.get("unit").map(String::as_str) == Some("bytes") {
        value
    } else {
        (value * GB).round()
    };
    if !(0.0..MAX_BYTES).contains(&bytes) || bytes.fract() != 0.0 {
        return Err(ApiError::invalid(
            "quota: a whole number of bytes (or of GB, with decimals), not negative, under 9 PB",
        ));
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(Some(bytes as u64))
}

/// The monthly core-hour budget of the form in core seconds; blank lifts it.
fn budget_seconds(posted: &Posted) -> Result<Option<u64>, ApiError> {
    let Some(hours) = decimal(posted, "budget")? else {
        return Ok(None);
    };
    if !(0.0..=MAX_HOURS).contains(&hours) {
        return Err(ApiError::invalid("budget: core hours from 0 to 8.8e9"));
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(Some((hours * 3600.0).round() as u64))
}

/// The command a tenant's form `action` asks for.
fn command(action: &str, posted: &Posted) -> Result<TenantCommand, ApiError> {
    let get = |k: &str| posted.get(k).cloned().unwrap_or_default();
    Ok(match action {
        "rename" => TenantCommand::Rename {
            name: get("name").trim().parse()?,
        },
        "suspend" => TenantCommand::Suspend {
            reason: get("reason"),
        },
        "reactivate" => TenantCommand::Reactivate,
        "quota" => TenantCommand::SetStorageQuota(quota_bytes(posted)?),
        "budget" => TenantCommand::SetCoreBudget(budget_seconds(posted)?),
        _ => return Err(ApiError::not_found("page")),
    })
}

/// POST /admin/tenants/{id}/{rename|suspend|reactivate|quota|budget}: back to the
/// tenant's page; a refusal shows it again with the message beside the form and what was
/// typed kept.
pub async fn act(
    v: Visitor,
    Path((id, action)): Path<(String, String)>,
    Form(posted): Form<Posted>,
) -> Response {
    if !v.posted_is_fresh(&posted) {
        return view::stale_form(&v);
    }
    let done = match command(&action, &posted) {
        Ok(command) => tenancy::change(&v.scope(), &id, command).await,
        Err(e) => Err(e),
    };
    match done {
        Ok(t) => see_other(&format!("/admin/tenants/{}", t.id), &[]),
        Err(e) if view::out_of_reach(&e) => view::failure(&v, &e),
        Err(e) => {
            let message = view::message_of(&e, &["name", "quota", "budget"]);
            tenant_page(
                &v,
                &id,
                view::form_status(&e),
                Some((&action, &posted, message)),
            )
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_read_as_people_write_them() {
        assert_eq!(hours_shown(901_800), "250.5");
        assert_eq!(hours_shown(1200), "0.3333");
        assert_eq!(hours_shown(36_000), "10");
        assert_eq!(bytes_shown(2_000_000_000), "2 GB");
        assert_eq!(bytes_shown(12_345), "12345 bytes");
        assert_eq!(
            quota_entered(Some(1_500_000_000)),
            ("1500000000".into(), false)
        );
    }
}
