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
use crate::runner::{Projection, ProjectionError};

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
        Outcome::Timeout | Outcome::LimitReached { .. } => "TIMEOUT",
        Outcome::NodeFailure { .. } | Outcome::SubmitFailed { .. } => "NODE_FAILURE",
        Outcome::ExitCode { .. } | Outcome::OutputMissing { .. } => "FAILED",
    }
}

fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A batch's events, by kind, in log order within each kind. Applying every submission,
/// then every plan, then every end keeps each one after what it needs (a job's events come
/// in that order), so a batch costs four statements whatever its size.
#[derive(Default)]
struct Batch {
    jobs: Vec<Uuid>,
    tenants: Vec<Uuid>,
    members: Vec<Uuid>,
    groups: Vec<Option<Uuid>>,
    applications: Vec<Uuid>,
    labels: Vec<String>,
    tasks: Vec<i32>,
    planned: Planned,
    ended: Ended,
}

#[derive(Default)]
struct Planned {
    jobs: Vec<Uuid>,
    attempts: Vec<i32>,
    resources: Vec<Uuid>,
    names: Vec<String>,
    nodes: Vec<i32>,
}

#[derive(Default)]
struct Ended {
    jobs: Vec<Uuid>,
    attempts: Vec<i32>,
    wall: Vec<i64>,
    outcomes: Vec<String>,
    started: Vec<Option<DateTime<Utc>>>,
    ended: Vec<DateTime<Utc>>,
}

fn attempt_number(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

impl Batch {
    fn add(&mut self, e: &StoredEvent) -> Result<(), ProjectionError> {
        let DomainEvent::Job(event) = &e.event else {
            return Ok(());
        };
        let job = e.aggregate_uuid()?;
        match &**event {
            JobEvent::JobSubmitted(new) => {
                self.jobs.push(job);
                self.tenants.push(new.tenant_id.as_uuid());
                self.members.push(new.owner.as_uuid());
                self.groups.push(new.group_id.map(|g| g.as_uuid()));
                self.applications.push(new.application.id.as_uuid());
                self.labels.push(format!(
                    "{} {}",
                    new.application.name, new.application.version
                ));
                self.tasks
                    .push(i32::try_from(new.tasks_per_node.max(1)).unwrap_or(i32::MAX));
            }
            JobEvent::AttemptPlanned { attempt, placement } => {
                let p = &mut self.planned;
                p.jobs.push(job);
                p.attempts.push(attempt_number(*attempt));
                p.resources.push(placement.resource_id.as_uuid());
                p.names.push(placement.resource_name.clone());
                p.nodes
                    .push(i32::try_from(placement.nodes).unwrap_or(i32::MAX));
            }
            JobEvent::AttemptEnded {
                attempt,
                outcome,
                usage,
                ..
            } => {
                let x = &mut self.ended;
                x.jobs.push(job);
                x.attempts.push(attempt_number(*attempt));
                x.wall.push(int(usage.wall_seconds));
                x.outcomes.push(outcome_name(outcome).to_owned());
                x.started.push(usage.started_at);
                x.ended.push(usage.ended_at.unwrap_or(e.recorded_at));
            }
            _ => {}
        }
        Ok(())
    }

    async fn write(&self, db: &mut PgConnection) -> Result<(), sqlx::Error> {
        if !self.jobs.is_empty() {
            sqlx::query(
                "INSERT INTO accounting_jobs (job_id, tenant_id, member_id, group_id,
                                              application_id, application, tasks_per_node)
                 SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[],
                                      $5::uuid[], $6::text[], $7::int[])",
            )
            .bind(&self.jobs)
            .bind(&self.tenants)
            .bind(&self.members)
            .bind(&self.groups)
            .bind(&self.applications)
            .bind(&self.labels)
            .bind(&self.tasks)
            .execute(&mut *db)
            .await?;
        }
        let p = &self.planned;
        if !p.jobs.is_empty() {
            // cores: the nodes times the tasks the job asks per node
            sqlx::query(
                "INSERT INTO accounting_attempts (job_id, attempt, tenant_id, member_id, group_id,
                            application_id, application, resource_id, resource, nodes, cores)
                 SELECT j.job_id, p.attempt, j.tenant_id, j.member_id, j.group_id,
                        j.application_id, j.application, p.resource_id, p.resource, p.nodes,
                        p.nodes * j.tasks_per_node
                   FROM unnest($1::uuid[], $2::int[], $3::uuid[], $4::text[], $5::int[])
                        AS p(job_id, attempt, resource_id, resource, nodes)
                   JOIN accounting_jobs j ON j.job_id = p.job_id",
            )
            .bind(&p.jobs)
            .bind(&p.attempts)
            .bind(&p.resources)
            .bind(&p.names)
            .bind(&p.nodes)
            .execute(&mut *db)
            .await?;
        }
        let x = &self.ended;
        if !x.jobs.is_empty() {
            // the facts, then their sums per day (a job counts once: with its first attempt)
            sqlx::query(
                "WITH ended AS (
                    UPDATE accounting_attempts a
                       SET wall_seconds = e.wall, core_seconds = e.wall * a.cores,
                           outcome = e.outcome, started_at = e.started, ended_at = e.ended
                      FROM unnest($1::uuid[], $2::int[], $3::bigint[], $4::text[],
                                  $5::timestamptz[], $6::timestamptz[])
                           AS e(job_id, attempt, wall, outcome, started, ended)
                     WHERE a.job_id = e.job_id AND a.attempt = e.attempt AND a.ended_at IS NULL
                 RETURNING a.*)
                 INSERT INTO accounting_daily AS d (tenant_id, day, member_id, group_id,
                        application_id, application, resource_id, resource, jobs, attempts,
                        succeeded, wall_seconds, core_seconds)
                 SELECT tenant_id, (ended_at AT TIME ZONE 'UTC')::date, member_id,
                        COALESCE(group_id, '00000000-0000-0000-0000-000000000000'),
                        application_id, max(application), resource_id, max(resource),
                        count(*) FILTER (WHERE attempt = 1), count(*),
                        count(*) FILTER (WHERE outcome = 'SUCCEEDED'), sum(wall_seconds),
                        sum(core_seconds)
                   FROM ended
                  GROUP BY 1, 2, 3, 4, 5, 7
                 ON CONFLICT (tenant_id, day, member_id, group_id, application_id, resource_id)
                 DO UPDATE SET jobs = d.jobs + EXCLUDED.jobs,
                               attempts = d.attempts + EXCLUDED.attempts,
                               succeeded = d.succeeded + EXCLUDED.succeeded,
                               wall_seconds = d.wall_seconds + EXCLUDED.wall_seconds,
                               core_seconds = d.core_seconds + EXCLUDED.core_seconds",
            )
            .bind(&x.jobs)
            .bind(&x.attempts)
            .bind(&x.wall)
            .bind(&x.outcomes)
            .bind(&x.started)
            .bind(&x.ended)
            .execute(&mut *db)
            .await?;
        }
        Ok(())
    }
}

#[async_trait]
impl Projection for Accounting {
    fn name(&self) -> &'static str {
        "accounting"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["accounting_jobs", "accounting_attempts", "accounting_daily"]
    }

    fn consumes(&self) -> &'static [&'static str] {
        &["Job"]
    }

    async fn apply(
        &self,
        db: &mut PgConnection,
        events: &[StoredEvent],
    ) -> Result<(), ProjectionError> {
        let mut batch = Batch::default();
        for e in events {
            batch.add(e)?;
        }
        batch.write(db).await?;
        Ok(())
    }
}
