//! `medgrid bench …`: throughput figures printed beside a raw PostgreSQL baseline measured
//! in the same run, on a scratch database created next to the configured one.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Subcommand;
use futures::TryStreamExt;
use medgrid_domain::access::MemberCommand;
use medgrid_domain::ids::{MemberId, TenantId};
use medgrid_domain::metadata::{Causer, EventMetadata};
use medgrid_domain::ports::CommandBus;
use medgrid_infra::config::Config;
use medgrid_infra::store::{EventStore, ReadYourWrites};
use medgrid_infra::telemetry::Metrics;
use medgrid_projections::runner;
use sqlx::PgPool;
use tokio::sync::watch;

use crate::database::Scratch;

mod accounting;
mod reads;
mod sandbox;
mod submit;
mod transfer;

#[derive(Subcommand, Clone)]
pub enum Bench {
    /// Command-to-event throughput at 1 and 16 writers vs raw single-row INSERT transactions.
    Append {
        /// Seconds per measurement.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
    /// Projection rebuild speed over generated events vs a raw ordered read of them.
    Replay {
        #[arg(long, default_value_t = 1_000_000)]
        events: i64,
    },
    /// A read-model lookup as a caller (row-level security: transaction, reader role,
    /// tenant set) and as the service, vs a raw SELECT, at 1 and 16 readers.
    Reads {
        /// Seconds per measurement.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
    /// submitJob to SCHEDULED on a real Slurm cluster vs a plain sbatch loop; the
    /// dispatcher's round with 10 and 1,000 attempts at the cluster.
    Submit {
        #[arg(long, default_value_t = 200)]
        jobs: usize,
        #[arg(long, default_value = "debug")]
        partition: String,
    },
    /// Upload and download of one large file through Medgrid into the configured S3
    /// bucket vs a direct aws-sdk PUT and GET of the same bytes; Medgrid's peak RSS.
    Transfer {
        /// Size of the file in MiB.
        #[arg(long, default_value_t = 1024)]
        mib: u64,
    },
    /// Loads a tenant-year of attempts (seven job events each): the accounting read
    /// model's catch-up speed, and a report by member and month through GraphQL vs raw SQL.
    Accounting {
        #[arg(long, default_value_t = 1_000_000)]
        attempts: i64,
    },
    /// The start of a sandboxed attempt vs a plain `sh -c true` (no database needed).
    Sandbox {
        #[arg(long, default_value_t = 50)]
        runs: usize,
        /// Also in this application image (pulled once first, through the configured
        /// mirrors), e.g. `medgrid/reference-apps:1.0.0`.
        #[arg(long)]
        image: Option<String>,
    },
}

pub async fn run(bench: Bench, config: &Config) -> anyhow::Result<()> {
    if let Bench::Sandbox { runs, image } = &bench {
        return sandbox::run(config, *runs, image.as_deref()).await;
    }
    let scratch = Scratch::create(config, 40).await?;
    let result = match bench {
        Bench::Append { seconds } => append(&scratch.pool, Duration::from_secs(seconds)).await,
        Bench::Replay { events } => replay(&scratch.pool, events).await,
        Bench::Reads { seconds } => reads::run(&scratch.pool, Duration::from_secs(seconds)).await,
        Bench::Submit { jobs, partition } => {
            submit::run(&scratch.pool, config, jobs, &partition).await
        }
        Bench::Transfer { mib } => transfer::run(&scratch.pool, config, mib).await,
        Bench::Accounting { attempts } => accounting::run(&scratch.pool, config, attempts).await,
        Bench::Sandbox { .. } => Ok(()),
    };
    scratch.close().await?;
    result
}

/// Runs `writers` tasks calling `op` until `duration` passes; returns operations per second.
async fn throughput<F, Fut>(writers: usize, duration: Duration, op: F) -> anyhow::Result<f64>
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let op = Arc::new(op);
    let counter = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|_| {
            let (op, counter) = (op.clone(), counter.clone());
            tokio::spawn(async move {
                while started.elapsed() < duration {
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    op(n).await?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for t in tasks {
        t.await??;
    }
    Ok(counter.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
}

async fn append(pool: &PgPool, duration: Duration) -> anyhow::Result<()> {
    sqlx::query(
        "CREATE TABLE bench_raw (LIKE events INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING IDENTITY INCLUDING INDEXES)",
    )
    .execute(pool)
    .await?;
    let (_, progress) = watch::channel(0);
    // No read models to wait for: this measures the write path (load, decide, append).
    let ryw = ReadYourWrites::none(pool.clone(), progress);
    let bus = Arc::new(EventStore::new(pool, ryw, Arc::new(Metrics::new()?)));
    let tenant = TenantId::random();
    let run_id = uuid::Uuid::new_v4().simple().to_string();

    println!(
        "medgrid bench append: {} s per measurement",
        duration.as_secs()
    );
    println!(
        "{:>8} {:>16} {:>16} {:>7}",
        "writers", "commands/s", "raw INSERT tx/s", "ratio"
    );
    let mut by_writers = vec![];
    for writers in [1usize, 16] {
        let (bus2, run) = (bus.clone(), format!("{run_id}-{writers}"));
        let commands = throughput(writers, duration, move |n| {
            let bus = bus2.clone();
            let email = format!("m{n}-{run}@bench.local");
            async move {
                let email = email.parse()?;
                let id = MemberId::for_email(tenant, &email);
                let command = MemberCommand::Create {
                    tenant_id: tenant,
                    email,
                    name: "Bench".parse()?,
                    roles: Default::default(),
                    password_hash: None,
                };
                let meta = EventMetadata::new(tenant, Causer::System("bench".into()), None);
                bus.member(id, command, &meta).await?;
                Ok(())
            }
        })
        .await?;
        let (pool2, raw_run) = (pool.clone(), format!("{writers}"));
        let raw = throughput(writers, duration, move |n| {
            let pool = pool2.clone();
            let id = format!("raw-{raw_run}-{n}");
            async move {
                sqlx::query(
                    "INSERT INTO bench_raw (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
                     VALUES ('Member', $1, 1, 'MemberCreated', '2.0', $2, $3)",
                )
                .bind(id)
                .bind(serde_json::json!({"MemberCreated": {"email": format!("m{n}@bench.local"), "name": "Bench", "roles": []}}))
                .bind(serde_json::json!({"tenant_id": tenant.to_string(), "actor": "system:bench"}))
                .execute(&pool)
                .await?;
                Ok(())
            }
        })
        .await?;
        println!(
            "{writers:>8} {commands:>16.0} {raw:>16.0} {:>7.2}",
            commands / raw
        );
        by_writers.push(commands);
    }
    if let [one, sixteen] = by_writers[..] {
        println!("scaling: 16 writers = {:.1}x one writer", sixteen / one);
    }
    Ok(())
}

/// Generates `events` member events (created, role granted, token issued, token revoked
/// per member) straight into the log.
async fn generate(pool: &PgPool, events: i64) -> anyhow::Result<()> {
    let members = (events / 4).max(1);
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         SELECT 'Member', m.id::text, k.seq, k.kind, k.version,
                CASE k.kind
                  WHEN 'MemberCreated' THEN jsonb_build_object('MemberCreated', jsonb_build_object(
                       'tenant_id', $2::text, 'email', 'm' || m.i || '@bench.local', 'name', 'Member ' || m.i, 'roles', '[]'::jsonb))
                  WHEN 'RoleGranted' THEN '{\"RoleGranted\": {\"role\": \"TENANT_ADMIN\"}}'::jsonb
                  WHEN 'TokenIssued' THEN jsonb_build_object('TokenIssued', jsonb_build_object(
                       'token_id', m.tok::text, 'name', 'cli', 'secret_hash', md5(m.i::text), 'expires_at', null))
                  ELSE jsonb_build_object('TokenRevoked', jsonb_build_object('token_id', m.tok::text))
                END,
                jsonb_build_object('tenant_id', $2::text, 'actor', 'system:bench',
                                   'correlation_id', m.id::text, 'causation_id', m.id::text)
           FROM (SELECT i, gen_random_uuid() AS id, gen_random_uuid() AS tok FROM generate_series(1, $1) i) m
          CROSS JOIN (VALUES (1, 'MemberCreated', '2.0'), (2, 'RoleGranted', '1.0'),
                             (3, 'TokenIssued', '1.0'), (4, 'TokenRevoked', '1.0')) AS k(seq, kind, version)
          ORDER BY m.i, k.seq",
    )
    .bind(members)
    .bind(uuid::Uuid::now_v7().to_string())
    .execute(pool)
    .await?;
    Ok(())
}

async fn replay(pool: &PgPool, events: i64) -> anyhow::Result<()> {
    let started = Instant::now();
    generate(pool, events).await?;
    sqlx::query("VACUUM ANALYZE events").execute(pool).await?;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await?;
    println!(
        "medgrid bench replay: {total} events generated in {:.1?}",
        started.elapsed()
    );

    let started = Instant::now();
    let mut rows = sqlx::query(
        "SELECT e.global_position, e.tx_id::text, e.aggregate_type, e.aggregate_id, e.sequence,
                e.event_type, e.event_version, e.payload, e.metadata, e.recorded_at
           FROM events e ORDER BY e.tx_id, e.global_position",
    )
    .fetch(pool);
    let mut read = 0u64;
    while rows.try_next().await?.is_some() {
        read += 1;
    }
    let raw_secs = started.elapsed().as_secs_f64();

    let projection = medgrid_projections::by_name("members")
        .ok_or_else(|| anyhow::anyhow!("no members projection"))?;
    let upcasters = medgrid_domain::upcast::upcasters();
    let started = Instant::now();
    let applied = runner::rebuild(pool, &*projection, &upcasters, 1000).await?;
    let rebuild_secs = started.elapsed().as_secs_f64();

    println!(
        "{:>28} {:>10} {:>12} {:>12}",
        "", "events", "seconds", "events/s"
    );
    println!(
        "{:>28} {read:>10} {raw_secs:>12.2} {:>12.0}",
        "raw ordered read",
        read as f64 / raw_secs
    );
    println!(
        "{:>28} {applied:>10} {rebuild_secs:>12.2} {:>12.0}",
        "rebuild members projection",
        applied as f64 / rebuild_secs
    );
    println!("ratio rebuild/raw read: {:.2}", raw_secs / rebuild_secs);
    Ok(())
}
