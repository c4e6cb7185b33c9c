//! Notification preferences: the member's matrix (how each kind of event reaches them,
//! when digests go out) and, for tenant administrators, a second form on the same page
//! with the tenant's defaults. Both save through the use cases GraphQL calls; a form sends
//! only what differs from what applies, so settings left alone keep following the
//! tenant's (or Medgrid's) defaults.

use std::collections::BTreeMap;

use askama::Template;
use axum::Form;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use medgrid_domain::notify::{Delivery, Effective, NotificationKind, Source, Weekday};
use medgrid_graphql::ApiError;
use medgrid_graphql::usecases::notifications::{self, ChangeRequest};
use serde::Deserialize;

use crate::catalog::Option_;
use crate::form::Posted;
use crate::login::see_other;
use crate::view;
use crate::visitor::Visitor;

/// The ways an event can reach a member, as the matrix's columns show them.
const DELIVERIES: [(Delivery, &str); 4] = [
    (Delivery::Immediate, "Immediately"),
    (Delivery::DailyDigest, "Daily digest"),
    (Delivery::WeeklyDigest, "Weekly digest"),
    (Delivery::None, "Never"),
];

const WEEKDAYS: [(Weekday, &str); 7] = [
    (Weekday::Monday, "Monday"),
    (Weekday::Tuesday, "Tuesday"),
    (Weekday::Wednesday, "Wednesday"),
    (Weekday::Thursday, "Thursday"),
    (Weekday::Friday, "Friday"),
    (Weekday::Saturday, "Saturday"),
    (Weekday::Sunday, "Sunday"),
];

/// Zones offered while typing (any IANA name is accepted).
const ZONES: [&str; 12] = [
    "UTC",
    "Europe/London",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Madrid",
    "Europe/Rome",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Asia/Tokyo",
    "Australia/Sydney",
];

fn label_of(kind: NotificationKind) -> &'static str {
    match kind {
        NotificationKind::JobStarted => "A job started",
        NotificationKind::JobSucceeded => "A job succeeded",
        NotificationKind::JobFailed => "A job failed",
        NotificationKind::JobRetried => "A job is retried",
        NotificationKind::JobCancelled => "A job was cancelled",
        NotificationKind::QuotaNearlyFull => "Storage quota nearly full",
        NotificationKind::FolderShared => "A folder was shared with you",
        NotificationKind::TicketUpdated => "A ticket was updated",
    }
}

fn source_of(source: Source, tenant_form: bool) -> &'static str {
    match (source, tenant_form) {
        (Source::Member, _) => "your choice",
        (Source::Tenant, false) => "default of your institution",
        (Source::Tenant, true) => "set for your institution",
        (Source::BuiltIn, _) => "Medgrid default",
    }
}

/// One radio of a row.
pub struct Cell {
    pub value: &'static str,
    pub label: &'static str,
    pub checked: bool,
}

/// One kind of event: a row of radios.
pub struct Row {
    pub kind: &'static str,
    pub label: &'static str,
    pub source: &'static str,
    /// Chosen on this form's own level (the member's, the tenant's): it can go back to
    /// the default below it.
    pub resettable: bool,
    pub cells: Vec<Cell>,
}

/// One form of the page: the member's own preferences, or the tenant's defaults.
pub struct Matrix {
    /// Prefix of the controls' ids (`my`, `tenant`), so both forms fit on one page.
    pub id: &'static str,
    pub heading: &'static str,
    pub action: &'static str,
    pub saved: bool,
    pub rows: Vec<Row>,
    pub columns: Vec<&'static str>,
    pub time_zone: String,
    pub digest_hour: String,
    pub weekdays: Vec<Option_>,
    /// Refusals by field (`timeZone`, `digestHour`, `digestWeekday`), and the rest.
    pub errors: BTreeMap<String, String>,
    pub error: Option<String>,
}

impl Matrix {
    pub fn error_of(&self, field: &str) -> Option<&String> {
        self.errors.get(field)
    }
}

#[derive(Template)]
#[template(path = "web/notifications.html")]
struct PreferencesPage<'a> {
    v: &'a Visitor,
    section: &'a str,
    forms: Vec<Matrix>,
    zones: [&'static str; 12],
}

/// What the controls show: what applies, or what was posted when a form comes back.
struct Shown {
    choices: BTreeMap<&'static str, String>,
    time_zone: String,
    digest_hour: String,
    weekday: String,
}

impl Shown {
    fn of(e: &Effective) -> Self {
        Self {
            choices: e
                .choices
                .iter()
                .map(|(k, d, _)| (k.as_str(), d.as_str().to_owned()))
                .collect(),
            time_zone: e.time_zone.0.to_string(),
            digest_hour: e.digest_hour.0.to_string(),
            weekday: e.digest_weekday.0.as_str().to_owned(),
        }
    }

    fn posted(e: &Effective, posted: &Posted) -> Self {
        let mut shown = Self::of(e);
        for (kind, value) in &mut shown.choices {
            if let Some(v) = posted.get(&format!("kind.{kind}")) {
                v.clone_into(value);
            }
        }
        let get = |k: &str, into: &mut String| {
            if let Some(v) = posted.get(k) {
                v.clone_into(into);
            }
        };
        get("time_zone", &mut shown.time_zone);
        get("digest_hour", &mut shown.digest_hour);
        get("digest_weekday", &mut shown.weekday);
        shown
    }
}

/// Which form: the member's own, or the tenant's defaults.
#[derive(Clone, Copy, PartialEq)]
enum Whose {
    Mine,
    Tenant,
}

fn matrix(
    whose: Whose,
    e: &Effective,
    shown: &Shown,
    saved: bool,
    refusal: Option<&ApiError>,
) -> Matrix {
    let tenant_form = whose == Whose::Tenant;
    let rows = e
        .choices
        .iter()
        .map(|(kind, _, source)| {
            let chosen = shown.choices.get(kind.as_str()).map_or("", String::as_str);
            Row {
                kind: kind.as_str(),
                label: label_of(*kind),
                source: source_of(*source, tenant_form),
                resettable: *source
                    == if tenant_form {
                        Source::Tenant
                    } else {
                        Source::Member
                    },
                cells: DELIVERIES
                    .iter()
                    .map(|(d, label)| Cell {
                        value: d.as_str(),
                        label,
                        checked: d.as_str() == chosen,
                    })
                    .collect(),
            }
        })
        .collect();
    let weekdays = WEEKDAYS
        .iter()
        .map(|(d, label)| Option_ {
            value: d.as_str().to_owned(),
            label: (*label).to_owned(),
            selected: d.as_str() == shown.weekday,
        })
        .collect();
    let (errors, error) = match refusal {
        Some(e) => view::beside(e, &["timeZone", "digestHour", "digestWeekday"]),
        None => (BTreeMap::new(), None),
    };
    Matrix {
        id: if tenant_form { "tenant" } else { "my" },
        heading: if tenant_form {
            "Defaults for your institution"
        } else {
            "How you hear about things"
        },
        action: if tenant_form {
            "/settings/notifications/tenant"
        } else {
            "/settings/notifications"
        },
        saved,
        rows,
        columns: DELIVERIES.iter().map(|(_, label)| *label).collect(),
        time_zone: shown.time_zone.clone(),
        digest_hour: shown.digest_hour.clone(),
        weekdays,
        errors,
        error,
    }
}

#[derive(Deserialize, Default)]
pub struct Saved {
    #[serde(default)]
    saved: String,
}

/// A form that came back refused: which, with what was posted and why.
struct Refused<'a> {
    whose: Whose,
    posted: &'a Posted,
    error: &'a ApiError,
}

async fn render(v: &Visitor, saved: &str, refused: Option<Refused<'_>>) -> Response {
    let scope = v.scope();
    let mine = match notifications::mine(&scope).await {
        Ok(e) => e,
        Err(e) => return view::failure(v, &e),
    };
    let mut whose = vec![(Whose::Mine, mine)];
    if v.is_admin() {
        match notifications::tenant_defaults(&scope).await {
            Ok(e) => whose.push((Whose::Tenant, e)),
            Err(e) => return view::failure(v, &e),
        }
    }
    let forms = whose
        .iter()
        .map(|(w, e)| {
            let back = refused.as_ref().filter(|r| r.whose == *w);
            let shown = back.map_or_else(|| Shown::of(e), |r| Shown::posted(e, r.posted));
            let was_saved = match w {
                Whose::Mine => saved == "mine",
                Whose::Tenant => saved == "tenant",
            };
            matrix(*w, e, &shown, was_saved, back.map(|r| r.error))
        })
        .collect();
    let status = refused
        .as_ref()
        .map_or(StatusCode::OK, |r| view::form_status(r.error));
    let page = PreferencesPage {
        v,
        section: "settings",
        forms,
        zones: ZONES,
    };
    view::page(v, status, &page)
}

/// GET /settings/notifications.
pub async fn show(v: Visitor, Query(q): Query<Saved>) -> Response {
    render(&v, &q.saved, None).await
}

fn delivery(value: &str) -> Result<Delivery, ApiError> {
    DELIVERIES
        .iter()
        .map(|(d, _)| *d)
        .find(|d| d.as_str() == value)
        .ok_or_else(|| ApiError::invalid(format!("“{value}” is not a way to be told")))
}

/// The change a posted form asks for: only what differs from `now`.
fn change(now: &Effective, posted: &Posted) -> Result<ChangeRequest, ApiError> {
    let mut request = ChangeRequest::default();
    for (kind, current, _) in &now.choices {
        if posted.contains_key(&format!("reset.{kind}")) {
            request.choices.push((kind.as_str().to_owned(), None));
            continue;
        }
        if let Some(value) = posted.get(&format!("kind.{kind}")) {
            let d = delivery(value)?;
            if d != *current {
                request.choices.push((kind.as_str().to_owned(), Some(d)));
            }
        }
    }
    if let Some(zone) = posted.get("time_zone").map(|z| z.trim())
        && zone != now.time_zone.0.as_ref()
    {
        request.time_zone = Some(zone.to_owned());
    }
    if let Some(hour) = posted.get("digest_hour").map(|h| h.trim()) {
        let hour: i32 = hour.parse().map_err(|_| {
            ApiError::invalid("digestHour: must be a whole number from 0 to 23")
                .with_field("digestHour")
        })?;
        if hour != i32::from(now.digest_hour.0) {
            request.digest_hour = Some(hour);
        }
    }
    if let Some(day) = posted.get("digest_weekday") {
        let day = Weekday::parse(day).ok_or_else(|| {
            ApiError::invalid("digestWeekday: must be a day of the week")
                .with_field("digestWeekday")
        })?;
        if day != now.digest_weekday.0 {
            request.digest_weekday = Some(day);
        }
    }
    Ok(request)
}

fn is_empty(r: &ChangeRequest) -> bool {
    r.choices.is_empty()
        && r.time_zone.is_none()
        && r.digest_hour.is_none()
        && r.digest_weekday.is_none()
}

async fn save(v: Visitor, whose: Whose, posted: Posted) -> Response {
    if !v.posted_is_fresh(&posted) {
        return view::stale_form(&v);
    }
    let scope = v.scope();
    let outcome = async {
        let now = match whose {
            Whose::Mine => notifications::mine(&scope).await?,
            Whose::Tenant => notifications::tenant_defaults(&scope).await?,
        };
        let request = change(&now, &posted)?;
        match whose {
            // nothing changed: nothing to record (a tenant form still needs an administrator)
            Whose::Mine if is_empty(&request) => Ok(()),
            Whose::Tenant if is_empty(&request) && v.is_admin() => Ok(()),
            Whose::Mine => notifications::set_mine(&scope, None, request)
                .await
                .map(drop),
            Whose::Tenant => notifications::set_tenant_defaults(&scope, request)
                .await
                .map(drop),
        }
    }
    .await;
    match outcome {
        Ok(()) => {
            let (which, anchor) = match whose {
                Whose::Mine => ("mine", "my-form"),
                Whose::Tenant => ("tenant", "tenant-form"),
            };
            see_other(
                &format!("/settings/notifications?saved={which}#{anchor}"),
                &[],
            )
        }
        Err(e)
            if matches!(
                e.code,
                medgrid_domain::Code::Forbidden | medgrid_domain::Code::NotFound
            ) =>
        {
            view::failure(&v, &e)
        }
        Err(e) => {
            let refused = Refused {
                whose,
                posted: &posted,
                error: &e,
            };
            render(&v, "", Some(refused)).await
        }
    }
}

/// POST /settings/notifications: the member's own preferences.
pub async fn save_mine(v: Visitor, Form(posted): Form<Posted>) -> Response {
    save(v, Whose::Mine, posted).await
}

/// POST /settings/notifications/tenant: the tenant's defaults (its administrators).
pub async fn save_tenant(v: Visitor, Form(posted): Form<Posted>) -> Response {
    save(v, Whose::Tenant, posted).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgrid_domain::notify::effective;

    #[test]
    fn a_form_sends_only_what_differs_from_what_applies() {
        let now = effective(None, None);
        let posted = Posted::from([
            ("kind.JOB_STARTED".to_owned(), "NONE".to_owned()),
            ("kind.JOB_FAILED".to_owned(), "DAILY_DIGEST".to_owned()),
            ("time_zone".to_owned(), " UTC ".to_owned()),
            ("digest_hour".to_owned(), "8".to_owned()),
            ("digest_weekday".to_owned(), "FRIDAY".to_owned()),
        ]);
        let request = change(&now, &posted).expect("a valid form");
        assert_eq!(
            request.choices,
            vec![("JOB_FAILED".to_owned(), Some(Delivery::DailyDigest))]
        );
        assert_eq!(request.time_zone, None);
        assert_eq!(request.digest_hour, None);
        assert_eq!(request.digest_weekday, Some(Weekday::Friday));
    }

    #[test]
    fn refusals_land_beside_their_field() {
        let now = effective(None, None);
        let posted = Posted::from([("digest_hour".to_owned(), "soon".to_owned())]);
        let e = change(&now, &posted).expect_err("not a number");
        let (errors, general) = view::beside(&e, &["timeZone", "digestHour"]);
        assert!(errors["digestHour"].starts_with("must be"), "{errors:?}");
        assert_eq!(general, None);
        let e = ApiError::invalid("timeZone: must be an IANA time zone name");
        let (errors, _) = view::beside(&e, &["timeZone"]);
        assert_eq!(errors["timeZone"], "must be an IANA time zone name");
        let (errors, general) = view::beside(&ApiError::invalid("other: x"), &["timeZone"]);
        assert!(errors.is_empty());
        assert_eq!(general.as_deref(), Some("other: x"));
    }
}
