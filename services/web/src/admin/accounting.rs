//! The accounting dashboard: core hours by month, by application and by member over a
//! period, as SVG charts with the figures in tables beside them, and the CSV downloads.

use askama::Template;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Datelike, Days, Months, NaiveDate, Utc};
use medgrid_graphql::ApiError;
use medgrid_graphql::usecases::accounting::{self, Line, hours};
use medgrid_projections::accounting::Dimension;
use serde::Deserialize;

use super::chart::{self, Bar, Chart};
use crate::view;
use crate::visitor::Visitor;

/// Members and applications named in their charts; the rest are summed.
const NAMED: usize = 12;

#[derive(Deserialize, Default)]
pub struct Period {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

/// A table row beside a chart.
pub struct Figure {
    pub label: String,
    pub jobs: i64,
    pub core_hours: String,
    pub success: String,
}

#[derive(Template)]
#[template(path = "web/admin_accounting.html")]
struct Dashboard<'a> {
    v: &'a Visitor,
    section: &'a str,
    from: String,
    to: String,
    error: Option<String>,
    charts: Vec<(Chart, Vec<Figure>, String)>,
    total: Option<Figure>,
}

fn figure(label: String, line: &Line) -> Figure {
    Figure {
        label,
        jobs: line.jobs,
        core_hours: chart::shown(hours(line.core_seconds)),
        success: format!("{:.0} %", line.success_rate() * 100.0),
    }
}

fn label(line: &Line) -> String {
    line.keys.first().map(|k| k.2.clone()).unwrap_or_default()
}

/// The period asked, by default the twelve months up to today (both days included).
fn period(p: &Period) -> Result<(NaiveDate, NaiveDate), ApiError> {
    let today = Utc::now().date_naive();
    let parse = |raw: &str, field: &str, default: NaiveDate| {
        if raw.trim().is_empty() {
            return Ok(default);
        }
        NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").map_err(|_| {
            ApiError::invalid(format!("{field}: a date like 2026-01-31")).with_field(field)
        })
    };
    let to = parse(&p.to, "to", today)?;
    let year_before = to
        .checked_sub_months(Months::new(12))
        .and_then(|d| d.checked_add_days(Days::new(1)))
        .unwrap_or(to);
    let from = parse(&p.from, "from", year_before)?;
    Ok((from, to))
}

fn instant(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// Every month of the period, with the lines' core hours (zero for months without).
fn months(from: NaiveDate, to: NaiveDate, lines: &[Line]) -> Vec<Bar> {
    let mut bars = vec![];
    let mut month = from.with_day(1).unwrap_or(from);
    while month <= to {
        let key = month.format("%Y-%m-%d").to_string();
        let seconds: i64 = lines
            .iter()
            .filter(|l| l.keys.first().is_some_and(|k| k.1 == key))
            .map(|l| l.core_seconds)
            .sum();
        bars.push(Bar {
            label: month.format("%b %y").to_string(),
            value: hours(seconds),
        });
        match month.checked_add_months(Months::new(1)) {
            Some(next) => month = next,
            None => break,
        }
    }
    bars
}

fn by(lines: &[Line], id: &str, title: &str) -> (Chart, Vec<Figure>) {
    let bars = lines
        .iter()
        .map(|l| Bar {
            label: label(l),
            value: hours(l.core_seconds),
        })
        .collect();
    let chart = chart::rows(id, title, "core hours", chart::largest(bars, NAMED));
    let mut sorted: Vec<&Line> = lines.iter().collect();
    sorted.sort_by_key(|l| std::cmp::Reverse(l.core_seconds));
    let table = sorted.into_iter().map(|l| figure(label(l), l)).collect();
    (chart, table)
}

async fn charts(
    v: &Visitor,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<(Vec<(Chart, Vec<Figure>, String)>, Figure), ApiError> {
    let scope = v.scope();
    let (start, end) = (instant(from), instant(to + Days::new(1)));
    let monthly = accounting::report(&scope, start, end, &[Dimension::Month]).await?;
    let apps = accounting::report(&scope, start, end, &[Dimension::Application]).await?;
    let members = accounting::report(&scope, start, end, &[Dimension::Member]).await?;
    let csv = |group: &str| {
        format!(
            "/accounting.csv?from={}&to={}&groupBy={group}",
            start.format("%Y-%m-%dT%H:%M:%SZ"),
            end.format("%Y-%m-%dT%H:%M:%SZ")
        )
    };
    let month_table = monthly.iter().map(|l| figure(label(l), l)).collect();
    let by_month = chart::columns(
        "by-month",
        "Core hours by month",
        "core hours",
        months(from, to, &monthly),
    );
    let (by_app, app_table) = by(&apps, "by-application", "Core hours by application");
    let (by_member, member_table) = by(&members, "by-member", "Core hours by member");
    let total = Line {
        keys: vec![],
        jobs: monthly.iter().map(|l| l.jobs).sum(),
        attempts: monthly.iter().map(|l| l.attempts).sum(),
        succeeded: monthly.iter().map(|l| l.succeeded).sum(),
        wall_seconds: monthly.iter().map(|l| l.wall_seconds).sum(),
        core_seconds: monthly.iter().map(|l| l.core_seconds).sum(),
    };
    Ok((
        vec![
            (by_month, month_table, csv("MONTH")),
            (by_app, app_table, csv("APPLICATION")),
            (by_member, member_table, csv("MEMBER")),
        ],
        figure("All".into(), &total),
    ))
}

/// GET /admin/accounting?from=YYYY-MM-DD&to=YYYY-MM-DD
pub async fn dashboard(v: Visitor, Query(p): Query<Period>) -> Response {
    let mut page = Dashboard {
        v: &v,
        section: "admin",
        from: p.from.clone(),
        to: p.to.clone(),
        error: None,
        charts: vec![],
        total: None,
    };
    let (from, to) = match period(&p) {
        Ok(range) => range,
        Err(e) => {
            page.error = Some(e.message);
            return view::page(&v, StatusCode::BAD_REQUEST, &page);
        }
    };
    page.from = from.to_string();
    page.to = to.to_string();
    match charts(&v, from, to).await {
        Ok((charts, total)) => {
            page.charts = charts;
            page.total = Some(total);
            view::ok(&v, &page)
        }
        Err(e) if e.code == medgrid_domain::Code::InvalidInput => {
            page.error = Some(e.message);
            view::page(&v, StatusCode::BAD_REQUEST, &page)
        }
        Err(e) => view::failure(&v, &e),
    }
}
