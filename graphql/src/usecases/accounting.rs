//! Accounting reports: what members, groups and applications used, summed from the
//! `accounting` read model per whole UTC day. Tenant admins see their tenant, platform
//! admins every tenant; members none (their jobs list says what they ran).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};
use medgrid_domain::Caller;
use medgrid_domain::Code;
use medgrid_projections::Reader;
use medgrid_projections::accounting::{self, Dimension, ReportRow};
use uuid::Uuid;

use super::Scope;
use crate::ApiError;

/// The longest range one report may cover.
const MAX_DAYS: u64 = 3 * 366;

/// A report line with its dimensions named for people.
#[derive(Debug, Clone)]
pub struct Line {
    /// Per dimension asked: (key, label).
    pub keys: Vec<(Dimension, String, String)>,
    pub jobs: i64,
    pub attempts: i64,
    pub succeeded: i64,
    pub wall_seconds: i64,
    pub core_seconds: i64,
}

/// The whole UTC days the range touches: from the day of `from` to the day of `to`
/// (included when `to` is past its midnight).
fn days(from: DateTime<Utc>, to: DateTime<Utc>) -> Result<(NaiveDate, NaiveDate), ApiError> {
    if to <= from {
        return Err(ApiError::invalid("to must be after from"));
    }
    let first = from.date_naive();
    let mut end = to.date_naive();
    if to.time() != NaiveTime::MIN {
        end = end
            .checked_add_days(Days::new(1))
            .ok_or_else(|| ApiError::invalid("to is too far in the future"))?;
    }
    let span = (end - first).num_days();
    if u64::try_from(span).unwrap_or(u64::MAX) > MAX_DAYS {
        return Err(ApiError::invalid(format!(
            "a report covers at most {MAX_DAYS} days; ask for several"
        )));
    }
    Ok((first, end))
}

/// Who may see which tenants' figures: None means every tenant.
fn tenant_of(scope: &Scope<'_>) -> Result<Option<Uuid>, ApiError> {
    match &scope.caller {
        Caller::Operator => Ok(None),
        Caller::Member(actor) if actor.is_platform_admin() => Ok(None),
        Caller::Member(actor) => {
            scope
                .caller
                .check(|a| a.require_tenant_admin(actor.tenant_id))?;
            Ok(Some(actor.tenant_id.as_uuid()))
        }
    }
}

/// The report of `from`–`to` grouped by `by` (each dimension at most once).
pub async fn report(
    scope: &Scope<'_>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    by: &[Dimension],
) -> Result<Vec<Line>, ApiError> {
    let tenant = tenant_of(scope)?;
    let (first, end) = days(from, to)?;
    let mut seen = HashSet::new();
    if !by.iter().all(|d| seen.insert(*d)) {
        return Err(ApiError::invalid("groupBy names a dimension twice"));
    }
    let db = scope.reader();
    let rows = accounting::report(&db, tenant, first, end, by).await?;
    let names = names(&db, by, &rows).await?;
    Ok(rows.into_iter().map(|row| line(by, &names, row)).collect())
}

/// Labels of the members, groups and tenants the rows name: one query per dimension.
async fn names(
    db: &Reader,
    by: &[Dimension],
    rows: &[ReportRow],
) -> Result<HashMap<(Dimension, String), String>, ApiError> {
    let mut names = HashMap::new();
    for (i, dim) in by.iter().enumerate() {
        let ids: HashSet<Uuid> = rows
            .iter()
            .filter_map(|r| r.keys.get(i)?.parse().ok())
            .collect();
        let ids: Vec<Uuid> = ids.into_iter().collect();
        for (id, label) in accounting::labels(db, *dim, &ids).await? {
            names.insert((*dim, id), label);
        }
    }
    names.insert(
        (Dimension::Group, Uuid::nil().to_string()),
        "(no group)".to_owned(),
    );
    Ok(names)
}

fn line(by: &[Dimension], names: &HashMap<(Dimension, String), String>, row: ReportRow) -> Line {
    let keys = by
        .iter()
        .enumerate()
        .map(|(i, dim)| {
            let key = row.keys.get(i).cloned().unwrap_or_default();
            let label = row
                .labels
                .get(i)
                .cloned()
                .flatten()
                .or_else(|| names.get(&(*dim, key.clone())).cloned())
                .unwrap_or_else(|| key.clone());
            (*dim, key, label)
        })
        .collect();
    Line {
        keys,
        jobs: row.jobs,
        attempts: row.attempts,
        succeeded: row.succeeded,
        wall_seconds: row.wall_seconds,
        core_seconds: row.core_seconds,
    }
}

/// The report as CSV: one column per dimension (its label), then the figures.
pub fn csv(by: &[Dimension], lines: &[Line]) -> String {
    let mut out = String::new();
    let mut header: Vec<String> = by.iter().map(|d| format!("{d:?}").to_lowercase()).collect();
    header.extend(
        [
            "jobs",
            "attempts",
            "wall_hours",
            "core_hours",
            "success_rate",
        ]
        .map(String::from),
    );
    out.push_str(&header.join(","));
    out.push('\n');
    for line in lines {
        let mut cells: Vec<String> = line.keys.iter().map(|(_, _, l)| cell(l)).collect();
        cells.push(line.jobs.to_string());
        cells.push(line.attempts.to_string());
        cells.push(format!("{:.4}", hours(line.wall_seconds)));
        cells.push(format!("{:.4}", hours(line.core_seconds)));
        cells.push(format!("{:.4}", line.success_rate()));
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

/// A CSV cell: quoted when it holds a separator or a quote; a leading formula character
/// is defused (spreadsheets would run it).
fn cell(text: &str) -> String {
    let defused = if text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if defused.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

/// A budget given in hours (a Float): finite, not negative, at most a million core-years.
pub fn core_seconds(hours: Option<f64>) -> Result<Option<u64>, ApiError> {
    hours
        .map(|h| {
            if h.is_finite() && (0.0..=8.8e9).contains(&h) {
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                Ok((h * 3600.0).round() as u64)
            } else {
                Err(ApiError::invalid("hours must be a number from 0 to 8.8e9"))
            }
        })
        .transpose()
}

#[allow(clippy::cast_precision_loss)]
pub fn hours(seconds: i64) -> f64 {
    seconds as f64 / 3600.0
}

impl Line {
    /// The share of attempts that succeeded (0 when there were none).
    #[allow(clippy::cast_precision_loss)]
    pub fn success_rate(&self) -> f64 {
        if self.attempts == 0 {
            0.0
        } else {
            self.succeeded as f64 / self.attempts as f64
        }
    }
}

/// Parses a `groupBy` list given as text (the CSV endpoint's query string).
pub fn dimensions(raw: &str) -> Result<Vec<Dimension>, ApiError> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| match s.to_ascii_uppercase().as_str() {
            "TENANT" => Ok(Dimension::Tenant),
            "MEMBER" => Ok(Dimension::Member),
            "GROUP" => Ok(Dimension::Group),
            "APPLICATION" => Ok(Dimension::Application),
            "RESOURCE" => Ok(Dimension::Resource),
            "DAY" => Ok(Dimension::Day),
            "WEEK" => Ok(Dimension::Week),
            "MONTH" => Ok(Dimension::Month),
            other => Err(ApiError::new(
                Code::InvalidInput,
                format!("groupBy: unknown dimension {other:?}"),
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap_or_default()
    }

    #[test]
    fn ranges_are_whole_days_and_bounded() {
        let (a, b) =
            days(at("2026-01-01T00:00:00Z"), at("2026-02-01T00:00:00Z")).unwrap_or_default();
        assert_eq!(
            (a.to_string(), b.to_string()),
            ("2026-01-01".into(), "2026-02-01".into())
        );
        let (_, b) =
            days(at("2026-01-01T10:00:00Z"), at("2026-01-01T11:00:00Z")).unwrap_or_default();
        assert_eq!(b.to_string(), "2026-01-02");
        assert!(days(at("2026-02-01T00:00:00Z"), at("2026-01-01T00:00:00Z")).is_err());
        assert!(days(at("2000-01-01T00:00:00Z"), at("2026-01-01T00:00:00Z")).is_err());
    }

    #[test]
    fn csv_cells_are_quoted_and_formulas_defused() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=cmd()"), "'=cmd()");
        assert!(dimensions("member, month").is_ok());
        assert!(dimensions("member,planet").is_err());
    }
}
