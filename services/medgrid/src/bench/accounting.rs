//! `medgrid bench accounting`: loads a year of attempts (seven job events each) of one
//! tenant into the scratch database, measures how fast the `accounting` read model catches
//! up with them, then times a tenant-year report grouped by member and month through
//! GraphQL beside the same aggregate as raw SQL over the read model.

use std::time::{Duration, Instant};

use chrono::{Days, NaiveDate, Utc};
use medgrid_domain::ids::{ApplicationId, MemberId, ResourceId, TenantId};
use medgrid_domain::jobs::{
    AppRef, JobEvent, NewJob, Outcome, Placement, ReplicaCancel, RetryPolicy, Usage,
};
use medgrid_infra::config::Config;
use medgrid_projections::runner;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::{Core, Server};

/// Members, applications and resources the attempts are spread over.
const MEMBERS: i64 = 200;
const APPLICATIONS: i64 = 5;
const RESOURCES: i64 = 2;
/// Report runs timed per side.
const RUNS: usize = 40;
/// Attempts per loading transaction: the read models catch up while the rest loads, as
/// they would behind a busy day (and no single transaction holds millions of rows).
const CHUNK: i64 = 50_000;

/// The JSON of each job event kind, filled per job by the loading SQL.
fn templates(tenant: TenantId) -> anyhow::Result<Vec<(i32, &'static str, Value)>> {
    let placement = Placement {
        resource_id: ResourceId::for_name("r"),
        resource_name: "r".into(),
        kind: "slurm".into(),
        nodes: 1,
    };
    let job = NewJob {
        tenant_id: tenant,
        owner: MemberId::random(),
        group_id: None,
        application: AppRef {
            id: ApplicationId::random(),
            name: "app".into(),
            version: "1".into(),
        },
        parameters: json!({}),
        command: "run".into(),
        invocation: None,
        inputs: vec![],
        outputs: vec![],
        placements: vec![placement.clone()],
        tasks_per_node: 4,
        walltime_seconds: 86_400,
        retry: RetryPolicy::infrastructure(),
        replica_cancel: ReplicaCancel::OnFinish,
        resubmitted_from: None,
        sandbox: Default::default(),
        idempotency: None,
    };
    let now = Utc::now();
    let events = [
        (1, "JobSubmitted", JobEvent::JobSubmitted(Box::new(job))),
        (2, "JobQueued", JobEvent::JobQueued { reason: "q".into() }),
        (
            3,
            "AttemptPlanned",
            JobEvent::AttemptPlanned {
                attempt: 1,
                placement,
            },
        ),
        (
            4,
            "AttemptSubmitted",
            JobEvent::AttemptSubmitted {
                attempt: 1,
                external_id: "1".into(),
                reason: "s".into(),
            },
        ),
        (
            5,
            "AttemptStarted",
            JobEvent::AttemptStarted {
                attempt: 1,
                node_list: "n1".into(),
                at: now,
                reason: "r".into(),
            },
        ),
        (
            6,
            "AttemptEnded",
            JobEvent::AttemptEnded {
                attempt: 1,
                outcome: Outcome::Succeeded,
                usage: Usage {
                    started_at: Some(now),
                    ended_at: Some(now),
                    wall_seconds: 1,
                    cpu_seconds: 1,
                },
                reason: "e".into(),
            },
        ),
        (
            7,
            "JobSucceeded",
            JobEvent::JobSucceeded {
                attempt: 1,
                outputs: vec![],
                reason: "ok".into(),
            },
        ),
    ];
    events
        .into_iter()
        .map(|(seq, kind, event)| Ok((seq, kind, serde_json::to_value(event)?)))
        .collect()
}

/// Loads jobs `first..=last` of one attempt each, ending over the year before `today`.
async fn load(pool: &PgPool, tenant: TenantId, first: i64, last: i64) -> anyhow::Result<()> {
    let templates = templates(tenant)?;
    let kinds: Vec<i32> = templates.iter().map(|t| t.0).collect();
    let names: Vec<&str> = templates.iter().map(|t| t.1).collect();
    let payloads: Vec<Value> = templates.into_iter().map(|t| t.2).collect();
    // per job: its member, application, resource, day, wall seconds, outcome
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata)
         SELECT 'Job', j.id::text, k.seq, k.name, '1.0',
                CASE k.name
                  WHEN 'JobSubmitted' THEN jsonb_set(jsonb_set(jsonb_set(k.payload,
                       '{JobSubmitted,owner}', to_jsonb(j.member::text)),
                       '{JobSubmitted,application,id}', to_jsonb(j.app::text)),
                       '{JobSubmitted,application,name}', to_jsonb('app-' || j.app_n))
                  WHEN 'AttemptPlanned' THEN jsonb_set(jsonb_set(k.payload,
                       '{AttemptPlanned,placement,resource_id}', to_jsonb(j.resource::text)),
                       '{AttemptPlanned,placement,resource_name}', to_jsonb('cluster-' || j.res_n))
                  WHEN 'AttemptEnded' THEN jsonb_set(jsonb_set(jsonb_set(jsonb_set(k.payload,
                       '{AttemptEnded,usage,started_at}', to_jsonb(j.ended - make_interval(secs => j.wall))),
                       '{AttemptEnded,usage,ended_at}', to_jsonb(j.ended)),
                       '{AttemptEnded,usage,wall_seconds}', to_jsonb(j.wall)),
                       '{AttemptEnded,outcome}',
                       CASE WHEN j.i % 10 = 0 THEN $10::jsonb ELSE $9::jsonb END)
                  ELSE k.payload
                END,
                jsonb_build_object('tenant_id', $2::text, 'actor', 'system:bench',
                                   'correlation_id', j.id::text, 'causation_id', j.id::text)
           FROM (SELECT i, gen_random_uuid() AS id,
                        md5('member' || i % $3)::uuid AS member,
                        md5('app' || i % $4)::uuid AS app, i % $4 AS app_n,
                        md5('res' || i % $5)::uuid AS resource, i % $5 AS res_n,
                        now() - make_interval(days => (i % 365)::int, secs => (i % 86400)::int) AS ended,
                        60 + (i * 7919) % 7200 AS wall
                   FROM generate_series($1, $11) i) j
          CROSS JOIN unnest($6::int[], $7::text[], $8::jsonb[]) AS k(seq, name, payload)
          ORDER BY j.i, k.seq",
    )
    .bind(first)
    .bind(tenant.to_string())
    .bind(MEMBERS)
    .bind(APPLICATIONS)
    .bind(RESOURCES)
    .bind(&kinds)
    .bind(&names)
    .bind(&payloads)
    .bind(serde_json::to_value(Outcome::Succeeded)?)
    .bind(serde_json::to_value(Outcome::ExitCode { code: 1 })?)
    .bind(last)
    .execute(pool)
    .await?;
    Ok(())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub async fn run(pool: &PgPool, config: &Config, attempts: i64) -> anyhow::Result<()> {
    let mut config = config.clone();
    config.listen = "127.0.0.1:0".parse()?;
    config.rate_limit_member_per_minute = 0;
    config.rate_limit_tenant_per_minute = 0;
    let core = Core::new(pool, &config)?;
    // the read models run live: the accounting one catches up with the load as it lands
    let worker = core.worker(&Config {
        dispatcher: false,
        // nobody is to hear of a million made-up jobs
        mailer: false,
        ..config.clone()
    });
    let (token, tenant) = super::transfer::member_token(&core).await?;

    let started = Instant::now();
    let mut first = 1;
    while first <= attempts {
        let last = (first + CHUNK - 1).min(attempts);
        load(pool, tenant, first, last).await?;
        first = last + 1;
    }
    let loaded = started.elapsed().as_secs_f64();
    let events: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_type = 'Job'")
            .fetch_one(pool)
            .await?;
    println!(
        "medgrid bench accounting: {attempts} attempts, {events} job events loaded in {loaded:.1} s ({:.0} events/s, {CHUNK} attempts per transaction)",
        events as f64 / loaded
    );
    let head = runner::head(pool)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no events"))?;
    while !runner::all_reached(pool, &["accounting"], head).await? {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let caught_up = started.elapsed().as_secs_f64();
    println!(
        "accounting read model, loading beside it, caught up {:.1} s after the last commit, {caught_up:.1} s after the load began: {:.0} events/s ({:.0} attempts/s)",
        caught_up - loaded,
        events as f64 / caught_up,
        attempts as f64 / caught_up
    );
    // the other read models are still catching up with the load: stopped, so the timed
    // reports have the machine to themselves (what they read is caught up)
    worker.stop().await;
    sqlx::query("VACUUM ANALYZE accounting_daily")
        .execute(pool)
        .await?;
    let server = Server::start(&core, &config).await?;
    let url = format!("http://{}/graphql", server.addr);

    let today = Utc::now().date_naive();
    let from = today
        .checked_sub_days(Days::new(365))
        .unwrap_or(NaiveDate::MIN);
    let to = today
        .checked_add_days(Days::new(1))
        .unwrap_or(NaiveDate::MAX);
    let query = json!({
        "query": "query($f: DateTime!, $t: DateTime!) { accounting(from: $f, to: $t, groupBy: [MEMBER, MONTH]) { keys { value label } jobs attempts wallHours coreHours successRate } }",
        "variables": {"f": format!("{from}T00:00:00Z"), "t": format!("{to}T00:00:00Z")},
    });
    let http = reqwest::Client::new();
    let mut graphql = Vec::with_capacity(RUNS);
    let mut lines = 0;
    for _ in 0..RUNS {
        let started = Instant::now();
        let body: Value = http
            .post(&url)
            .bearer_auth(&token)
            .json(&query)
            .send()
            .await?
            .json()
            .await?;
        graphql.push(started.elapsed());
        anyhow::ensure!(body.get("errors").is_none(), "report failed: {body}");
        lines = body["data"]["accounting"].as_array().map_or(0, Vec::len);
    }
    let mut raw = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        let rows: Vec<(uuid::Uuid, NaiveDate, i64, i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT member_id, date_trunc('month', day)::date, sum(jobs)::bigint,
                    sum(attempts)::bigint, sum(succeeded)::bigint, sum(wall_seconds)::bigint,
                    sum(core_seconds)::bigint
               FROM accounting_daily WHERE tenant_id = $1 AND day >= $2 AND day < $3
              GROUP BY 1, 2 ORDER BY 1, 2",
        )
        .bind(tenant.as_uuid())
        .bind(from)
        .bind(to)
        .fetch_all(pool)
        .await?;
        raw.push(started.elapsed());
        anyhow::ensure!(
            rows.len() == lines,
            "raw SQL saw {} lines, GraphQL {lines}",
            rows.len()
        );
    }
    server.stop().await;
    graphql.sort();
    raw.sort();
    println!("tenant-year report by member and month ({lines} lines), {RUNS} runs each (ms):");
    println!("{:<28} {:>8} {:>8}", "", "p50", "p95");
    println!(
        "{:<28} {:>8.1} {:>8.1}",
        "raw SQL over accounting",
        ms(percentile(&raw, 0.5)),
        ms(percentile(&raw, 0.95))
    );
    println!(
        "{:<28} {:>8.1} {:>8.1}",
        "GraphQL accounting(...)",
        ms(percentile(&graphql, 0.5)),
        ms(percentile(&graphql, 0.95))
    );
    Ok(())
}
