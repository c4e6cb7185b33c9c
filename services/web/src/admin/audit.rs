//! The audit log for administrators: every event of the tenant, newest first — who did
//! what to which object, and when — filtered by member, kind of object and period.

use std::collections::HashMap;

use askama::Template;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, NaiveDate, Utc};
use medgrid_domain::ids::MemberId;
use medgrid_domain::names::Email;
use medgrid_graphql::ApiError;
use medgrid_graphql::usecases::{Scope, access, audit};
use medgrid_projections::audit::{AuditFilter, AuditRow};
use medgrid_projections::page::PageRequest;
use serde::Deserialize;
use uuid::Uuid;

use crate::catalog::Option_;
use crate::jobs::{short, when};
use crate::login::urlencode;
use crate::view;
use crate::visitor::Visitor;

const PAGE: i64 = 50;

#[derive(Deserialize, Default)]
pub struct Filters {
    #[serde(default)]
    who: String,
    #[serde(default)]
    what: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    after: Option<i64>,
}

impl Filters {
    /// The query string that keeps these filters (for the next page).
    fn query(&self) -> String {
        [
            ("who", &self.who),
            ("what", &self.what),
            ("from", &self.from),
            ("to", &self.to),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}&", urlencode(v)))
        .collect()
    }
}

/// One line of the log, in words.
pub struct Entry {
    pub at: DateTime<Utc>,
    pub who: String,
    pub action: String,
    pub subject: String,
    pub link: Option<String>,
    pub request: String,
}

#[derive(Template)]
#[template(path = "web/admin_audit.html")]
struct AuditPage<'a> {
    v: &'a Visitor,
    section: &'a str,
    f: &'a Filters,
    kinds: Vec<Option_>,
    rows: Vec<Entry>,
    next: Option<String>,
    errors: std::collections::BTreeMap<String, String>,
    error: Option<String>,
}

impl AuditPage<'_> {
    fn when(&self, at: &DateTime<Utc>) -> String {
        when(*at)
    }
    fn error_of(&self, field: &str) -> Option<&String> {
        self.errors.get(field)
    }
}

/// A day typed in the filter as the instant it starts (`to` includes its day).
fn day(raw: &str, field: &str, days_after: u64) -> Result<Option<DateTime<Utc>>, ApiError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let day = NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| {
        ApiError::invalid(format!("{field}: a date like 2026-01-31")).with_field(field)
    })?;
    let day = day
        .checked_add_days(chrono::Days::new(days_after))
        .unwrap_or(day);
    Ok(Some(day.and_time(chrono::NaiveTime::MIN).and_utc()))
}

fn filter(v: &Visitor, f: &Filters) -> Result<AuditFilter, ApiError> {
    let who = f.who.trim();
    let actor = if who.is_empty() {
        None
    } else {
        let email: Email = who
            .parse()
            .map_err(|_| ApiError::invalid("who: a member's e-mail address").with_field("who"))?;
        Some(format!(
            "member:{}",
            MemberId::for_email(v.actor.tenant_id, &email)
        ))
    };
    let what = f.what.trim();
    if !what.is_empty() && !audit::SUBJECT_TYPES.contains(&what) {
        return Err(ApiError::invalid("what: not a kind of object").with_field("what"));
    }
    Ok(AuditFilter {
        actor,
        subject_type: Some(what.to_owned()).filter(|w| !w.is_empty()),
        from: day(&f.from, "from", 0)?,
        to: day(&f.to, "to", 1)?,
    })
}

/// `JobCancelled` as "Job cancelled".
fn words(event_type: &str) -> String {
    let mut out = String::with_capacity(event_type.len() + 4);
    for (i, c) in event_type.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push(' ');
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Where an object of the log has a page.
fn link(subject_type: &str, id: &str) -> Option<String> {
    match subject_type {
        "Member" => Some(format!("/admin/members/{id}")),
        "Group" => Some(format!("/groups/{id}")),
        "Job" => Some(format!("/jobs/{id}")),
        "Ticket" => Some(format!("/tickets/{id}")),
        _ => None,
    }
}

/// The names of the members who acted, by their `member:<id>` actor.
async fn names(scope: &Scope<'_>, rows: &[AuditRow]) -> HashMap<String, String> {
    let mut found = HashMap::new();
    for row in rows {
        let Some(id) = row.actor.strip_prefix("member:") else {
            continue;
        };
        if found.contains_key(&row.actor) {
            continue;
        }
        let name = match id.parse::<Uuid>() {
            Ok(id) => access::visible(scope, MemberId::from_uuid(id))
                .await
                .map_or_else(|_| "a former member".to_owned(), |m| m.name),
            Err(_) => row.actor.clone(),
        };
        found.insert(row.actor.clone(), name);
    }
    found
}

fn entry(row: AuditRow, names: &HashMap<String, String>) -> Entry {
    let who = names.get(&row.actor).cloned().unwrap_or_else(|| {
        row.actor
            .strip_prefix("system:")
            .map_or_else(|| row.actor.clone(), |s| format!("Medgrid ({s})"))
    });
    let subject = match row.subject_id.parse::<Uuid>() {
        Ok(id) => format!("{} {}", row.subject_type, short(id)),
        Err(_) => format!("{} {}", row.subject_type, row.subject_id),
    };
    Entry {
        at: row.at,
        who,
        action: words(&row.action),
        link: link(&row.subject_type, &row.subject_id),
        subject,
        request: row.request_id.unwrap_or_default(),
    }
}

fn kinds(chosen: &str) -> Vec<Option_> {
    audit::SUBJECT_TYPES
        .iter()
        .map(|k| Option_ {
            value: (*k).to_owned(),
            label: words(k),
            selected: *k == chosen,
        })
        .collect()
}

/// GET /admin/audit?who=&what=&from=&to=&after=.
pub async fn log(v: Visitor, Query(f): Query<Filters>) -> Response {
    if let Some(refused) = super::refuse_non_admin(&v) {
        return refused;
    }
    let scope = v.scope();
    let page = PageRequest {
        first: PAGE,
        after: f.after,
    };
    let found = async {
        let filter = filter(&v, &f)?;
        audit::list(&scope, v.actor.tenant_id, &filter, page).await
    }
    .await;
    let (status, rows, next, (errors, error)) = match found {
        Ok(found) => {
            let names = names(&scope, &found.rows).await;
            let base = format!("/admin/audit?{}", f.query());
            let next = view::next_link(&found, |r| r.position, &base);
            let rows = found.rows.into_iter().map(|r| entry(r, &names)).collect();
            (StatusCode::OK, rows, next, Default::default())
        }
        Err(e) if view::out_of_reach(&e) => return view::failure(&v, &e),
        Err(e) => (
            StatusCode::BAD_REQUEST,
            vec![],
            None,
            view::beside(&e, &["who", "what", "from", "to"]),
        ),
    };
    let page = AuditPage {
        v: &v,
        section: "admin",
        kinds: kinds(f.what.trim()),
        f: &f,
        rows,
        next,
        errors,
        error,
    };
    view::page(&v, status, &page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_read_as_words() {
        assert_eq!(words("JobCancelled"), "Job cancelled");
        assert_eq!(words("NotificationPreferences"), "Notification preferences");
        assert_eq!(words("Created"), "Created");
    }

    #[test]
    fn only_people_jobs_and_tickets_have_pages_to_link() {
        assert_eq!(link("Job", "j").as_deref(), Some("/jobs/j"));
        assert_eq!(link("Member", "m").as_deref(), Some("/admin/members/m"));
        assert_eq!(link("Space", "s"), None);
    }
}
