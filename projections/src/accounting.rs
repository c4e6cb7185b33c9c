//! Read model `accounting`: one fact per attempt that ended (tenant, member, group,
//! application, resource, nodes, cores, wall and core seconds, outcome, start, end), and
//! the facts summed per day and dimension (`accounting_daily`), which reports read: a
//! tenant-year is a few thousand rows there, whatever the number of attempts.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use medgrid_domain::jobs::{JobEvent, Outcome};
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use crate::event::{DomainEvent, StoredEvent};
use crate::reader::{Read, Reader};
use crate::runner::{EventByEvent, ProjectionError};

pub struct Accounting;

/// What a report is grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dimension {
    Tenant,
    Member,
    Group,
    Application,
    Resource,
    Day,
    Week,
    Month,
}

impl Dimension {
    /// The column (or expression) of `accounting_daily` it groups by, as text.
    fn key(self) -> &'static str {
        match self {
            Self::Tenant => "tenant_id::text",
            Self::Member => "member_id::text",
            Self::Group => "group_id::text",
            Self::Application => "application_id::text",
            Self::Resource => "resource_id::text",
            Self::Day => "day::text",
            Self::Week => "date_trunc('week', day)::date::text",
            Self::Month => "date_trunc('month', day)::date::text",
        }
    }

    /// A readable label beside the key, where the facts carry one.
    fn label(self) -> &'static str {
        match self {
            Self::Application => "max(application)",
            Self::Resource => "max(resource)",
            _ => "NULL::text",
        }
    }
}

/// One line of a report: the values of its dimensions (keys and labels, in the order
/// asked) and the sums.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct ReportRow {
    pub keys: Vec<String>,
    pub labels: Vec<Option<String>>,
    pub jobs: i64,
    pub attempts: i64,
    pub succeeded: i64,
    pub wall_seconds: i64,
    pub core_seconds: i64,
}

/// Sums the days from `from` to `to` (exclusive) grouped by `by` (none: one line), in the
/// tenants the reader sees (row-level security), or in `tenant` only when given.
pub async fn report(
    db: &Reader,
    tenant: Option<Uuid>,
    from: NaiveDate,
    to: NaiveDate,
    by: &[Dimension],
) -> Result<Vec<ReportRow>, sqlx::Error> {
    let keys: Vec<&str> = by.iter().map(|d| d.key()).collect();
    let labels: Vec<&str> = by.iter().map(|d| d.label()).collect();
    let group_by = if keys.is_empty() {
        String::new()
    } else {
        format!(
            "GROUP BY {}",
            (1..=keys.len())
                .map(|i| format!("k{i}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let select_keys: Vec<String> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| format!("{k} AS k{}", i + 1))
        .collect();
    let key_list: Vec<String> = (1..=keys.len()).map(|i| format!("k{i}")).collect();
    let sql = format!(
        "SELECT ARRAY[{keys}]::text[] AS keys, ARRAY[{labels}]::text[] AS labels,
                jobs, attempts, succeeded, wall_seconds, core_seconds
           FROM (SELECT {select_keys}{comma} {labels_cols}
                        COALESCE(sum(jobs), 0)::bigint AS jobs,
                        COALESCE(sum(attempts), 0)::bigint AS attempts,
                        COALESCE(sum(succeeded), 0)::bigint AS succeeded,
                        COALESCE(sum(wall_seconds), 0)::bigint AS wall_seconds,
                        COALESCE(sum(core_seconds), 0)::bigint AS core_seconds
                   FROM accounting_daily
                  WHERE day >= $1 AND day < $2 AND ($3::uuid IS NULL OR tenant_id = $3)
                  {group_by}) sums
          ORDER BY {order}",
        keys = key_list.join(", "),
        labels = (1..=labels.len())
            .map(|i| format!("l{i}"))
            .collect::<Vec<_>>()
            .join(", "),
        select_keys = select_keys.join(", "),
        comma = if keys.is_empty() { "" } else { "," },
        labels_cols = labels
            .iter()
            .enumerate()
            .map(|(i, l)| format!("{l} AS l{},", i + 1))
            .collect::<String>(),
        order = if key_list.is_empty() {
            "1".to_owned()
        } else {
            key_list.join(", ")
        },
    );
    let rows: Vec<ReportRow> = sqlx::query_as(&sql)
        .bind(from)
        .bind(to)
        .bind(tenant)
        .all(db)
        .await?;
    // sums over no rows come back as one line of NULLs: no line then
    Ok(rows.into_iter().filter(|r| r.attempts > 0).collect())
}

/// Core seconds used since the start of this calendar month (UTC) by the tenant's jobs,
/// or by the group's when one is given.
pub async fn used_this_month(
    db: &Reader,
    tenant: Uuid,
    group: Option<Uuid>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COALESCE(sum(core_seconds), 0)::bigint FROM accounting_daily
          WHERE tenant_id = $1 AND ($2::uuid IS NULL OR group_id = $2)
            AND day >= date_trunc('month', now() AT TIME ZONE 'UTC')::date",
    )
    .bind(tenant)
    .bind(group)
    .one(db)
    .await
}

/// Names for the keys of a member, group or tenant dimension, in one query: e-mails,
/// group names, tenant slugs by id (as text). Other dimensions have none to look up.
pub async fn labels(
    db: &Reader,
    dimension: Dimension,
    ids: &[Uuid],
) -> Result<Vec<(String, String)>, sqlx::Error> {
    let sql = match dimension {
        Dimension::Member => "SELECT id::text, email FROM members WHERE id = ANY($1)",
        Dimension::Group => "SELECT id::text, name FROM groups WHERE id = ANY($1)",
        Dimension::Tenant => "SELECT id::text, slug FROM tenants WHERE id = ANY($1)",
        _ => return Ok(vec![]),
    };
    sqlx::query_as(sql).bind(ids).all(db).await
}

/// One attempt's fact, for the CSV export of raw facts and for tests.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct AttemptFact {
    pub job_id: Uuid,
    pub attempt: i32,
    pub tenant_id: Uuid,
    pub member_id: Uuid,
    pub group_id: Option<Uuid>,
    pub application: String,
    pub resource: String,
    pub nodes: i32,
    pub cores: i32,
    pub wall_seconds: Option<i64>,
    pub core_seconds: Option<i64>,
    pub outcome: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
}

pub async fn facts_of_job(db: &Reader, job: Uuid) -> Result<Vec<AttemptFact>, sqlx::Error> {
    sqlx::query_as(
        "SELECT job_id, attempt, tenant_id, member_id, group_id, application, resource, nodes,
                cores, wall_seconds, core_seconds, outcome, started_at, ended_at
           FROM accounting_attempts WHERE job_id = $1 ORDER BY attempt",
    )
    .bind(job)
    .all(db)
    .await
}

fn outcome_name(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Succeeded => "SUCCEEDED",
        Outcome::Cancelled => "CANCELLED",
        Outcome::Timeout => "TIMEOUT",
        Outcome::NodeFailure { .. } | Outcome::SubmitFailed { .. } => "NODE_FAILURE",
        Outcome::ExitCode { .. } | Outcome::OutputMissing { .. } => "FAILED",
    }
}

fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[async_trait]
impl EventByEvent for Accounting {
    fn name(&self) -> &'static str {
        "accounting"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["accounting_jobs", "accounting_attempts", "accounting_daily"]
    }

    fn consumes(&self) -> &'static [&'static str] {
        &["Job"]
    }

    async fn apply_one(
        &self,
        db: &mut PgConnection,
        e: &StoredEvent,
    ) -> Result<(), ProjectionError> {
        let DomainEvent::Job(event) = &e.event else {
            return Ok(());
        };
        let job = e.aggregate_uuid()?;
        match &**event {
            JobEvent::JobSubmitted(new) => {
                sqlx::query(
                    "INSERT INTO accounting_jobs (job_id, tenant_id, member_id, group_id,
                                                  application_id, application, tasks_per_node)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(job)
                .bind(new.tenant_id.as_uuid())
                .bind(new.owner.as_uuid())
                .bind(new.group_id.map(|g| g.as_uuid()))
                .bind(new.application.id.as_uuid())
                .bind(format!(
                    "{} {}",
                    new.application.name, new.application.version
                ))
                .bind(i32::try_from(new.tasks_per_node.max(1)).unwrap_or(i32::MAX))
                .execute(db)
                .await?;
            }
            JobEvent::AttemptPlanned { attempt, placement } => {
                // cores: the nodes times the tasks the job asks per node
                sqlx::query(
                    "INSERT INTO accounting_attempts (job_id, attempt, tenant_id, member_id, group_id,
                                application_id, application, resource_id, resource, nodes, cores)
                     SELECT job_id, $2, tenant_id, member_id, group_id, application_id,
                            application, $3, $4, $5, $5 * tasks_per_node
                       FROM accounting_jobs WHERE job_id = $1",
                )
                .bind(job)
                .bind(i32::try_from(*attempt).unwrap_or(i32::MAX))
                .bind(placement.resource_id.as_uuid())
                .bind(&placement.resource_name)
                .bind(i32::try_from(placement.nodes).unwrap_or(i32::MAX))
                .execute(db)
                .await?;
            }
            JobEvent::AttemptEnded {
                attempt,
                outcome,
                usage,
                ..
            } => {
                let ended_at = usage.ended_at.unwrap_or(e.recorded_at);
                sqlx::query(
                    "UPDATE accounting_attempts
                        SET wall_seconds = $3, core_seconds = $3 * cores, outcome = $4,
                            started_at = $5, ended_at = $6
                      WHERE job_id = $1 AND attempt = $2 AND ended_at IS NULL",
                )
                .bind(job)
                .bind(i32::try_from(*attempt).unwrap_or(i32::MAX))
                .bind(int(usage.wall_seconds))
                .bind(outcome_name(outcome))
                .bind(usage.started_at)
                .bind(ended_at)
                .execute(&mut *db)
                .await?;
                add_to_day(db, job, *attempt).await?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// Adds an ended attempt to its day's sums. A job counts once: with its first attempt.
async fn add_to_day(db: &mut PgConnection, job: Uuid, attempt: u32) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO accounting_daily AS d (tenant_id, day, member_id, group_id, application_id,
                    application, resource_id, resource, jobs, attempts, succeeded, wall_seconds,
                    core_seconds)
         SELECT tenant_id, (ended_at AT TIME ZONE 'UTC')::date, member_id,
                COALESCE(group_id, '00000000-0000-0000-0000-000000000000'), application_id,
                application, resource_id, resource, (attempt = 1)::int, 1,
                (outcome = 'SUCCEEDED')::int, wall_seconds, core_seconds
           FROM accounting_attempts
          WHERE job_id = $1 AND attempt = $2 AND ended_at IS NOT NULL
         ON CONFLICT (tenant_id, day, member_id, group_id, application_id, resource_id)
         DO UPDATE SET jobs = d.jobs + EXCLUDED.jobs, attempts = d.attempts + 1,
                       succeeded = d.succeeded + EXCLUDED.succeeded,
                       wall_seconds = d.wall_seconds + EXCLUDED.wall_seconds,
                       core_seconds = d.core_seconds + EXCLUDED.core_seconds",
    )
    .bind(job)
    .bind(i32::try_from(attempt).unwrap_or(i32::MAX))
    .execute(db)
    .await?;
    Ok(())
}
