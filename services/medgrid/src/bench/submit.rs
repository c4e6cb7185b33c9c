//! `medgrid bench submit`: jobs per second from `submitJob` to SCHEDULED on a real Slurm
//! cluster, beside a plain loop of `sbatch` on the same cluster; then the cost of one
//! dispatcher round with 10 and with 1,000 attempts at the cluster.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use medgrid_domain::actor::Role;
use medgrid_domain::compute::{Access, ResourceKind};
use medgrid_domain::ids::{MemberId, TenantId};
use medgrid_domain::jobs::ReplicaCancel;
use medgrid_domain::{Actor, Caller};
use medgrid_graphql::usecases::jobs::{self, SubmitRequest, submit};
use medgrid_graphql::usecases::{Scope, access, catalog, compute, tenancy};
use medgrid_infra::config::Config;
use sqlx::PgPool;

use crate::Core;

/// What every benchmark job runs: nothing, for a while (so the cluster's queue fills).
const SCRIPT: &str = "sleep 600";

fn sbatch_loop(jobs: usize, partition: &str) -> anyhow::Result<f64> {
    let started = Instant::now();
    for _ in 0..jobs {
        let out = std::process::Command::new("sbatch")
            .args(["--parsable", "--job-name=mg-bench-raw"])
            .arg(format!("--partition={partition}"))
            .args(["--output=/dev/null", "--wrap", SCRIPT])
            .output()
            .context("cannot run sbatch: is Slurm installed (scripts/slurm)?")?;
        anyhow::ensure!(
            out.status.success(),
            "sbatch: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(jobs as f64 / started.elapsed().as_secs_f64())
}

/// Cancels every job of this user and waits until the queue is empty.
async fn clear_queue() -> anyhow::Result<()> {
    std::process::Command::new("scancel")
        .arg("--me")
        .status()
        .context("cannot run scancel")?;
    for _ in 0..600 {
        let out = std::process::Command::new("squeue")
            .args(["--me", "-h", "-o", "%i"])
            .output()?;
        if out.stdout.is_empty() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("the Slurm queue did not empty within 60 s")
}

/// Jobs with an attempt at the cluster.
async fn scheduled(pool: &PgPool) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT count(DISTINCT job_id) FROM job_attempts WHERE external_id IS NOT NULL",
    )
    .fetch_one(pool)
    .await?)
}

/// Cancels every job still waiting (those of the dispatcher-less run).
async fn cancel_all(core: &Core, actor: &Actor) -> anyhow::Result<()> {
    let scope = Scope {
        svc: &core.services,
        caller: Caller::Member(actor.clone()),
        request_id: None,
    };
    let ids: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT id FROM jobs WHERE state = 'SUBMITTED'")
        .fetch_all(&core.services.pool)
        .await?;
    for id in ids {
        jobs::cancel(&scope, &id.to_string())
            .await
            .map_err(|e| anyhow::anyhow!("cancelJob: {}", e.message))?;
    }
    Ok(())
}

/// A tenant, its member (as an actor) and a shell application.
async fn arrange(core: &Core, partition: &str, capacity: u32) -> anyhow::Result<(Actor, String)> {
    let operator = Scope::operator(&core.services);
    let fail = |what: &str, e: medgrid_graphql::ApiError| anyhow::anyhow!("{what}: {}", e.message);
    let tenant = tenancy::create(&operator, "bench", "Bench")
        .await
        .map_err(|e| fail("tenant", e))?;
    let tenant = TenantId::from_uuid(tenant.id);
    let new = access::NewMember {
        tenant_id: tenant,
        email: "bench@bench.local",
        name: "Bench",
        password: None,
        roles: BTreeSet::from([Role::TenantAdmin]),
    };
    access::create(&operator, new)
        .await
        .map_err(|e| fail("member", e))?;
    let kind = ResourceKind::Slurm {
        partition: partition.to_owned(),
        max_nodes: 1,
        cores_per_node: 1,
        walltime_limit_seconds: 3600,
        max_jobs: capacity,
    };
    compute::register(&operator, "hpc", kind, Access::everyone(), None)
        .await
        .map_err(|e| fail("resource", e))?;
    let descriptor = serde_json::json!({
        "name": "shell", "tool-version": "1", "description": "Runs a shell snippet.",
        "schema-version": "0.5", "command-line": "sh -c [SCRIPT]",
        "inputs": [{"id": "script", "name": "Script", "type": "String", "value-key": "[SCRIPT]"}]
    });
    let app = catalog::register(&operator, tenant, descriptor)
        .await
        .map_err(|e| fail("application", e))?;
    let actor = Actor {
        tenant_id: tenant,
        member_id: MemberId::for_email(tenant, &"bench@bench.local".parse()?),
        roles: BTreeSet::from([Role::TenantAdmin]),
        groups: Default::default(),
    };
    Ok((actor, app.id.to_string()))
}

fn request(app: &str) -> SubmitRequest {
    SubmitRequest {
        application: app.to_owned(),
        parameters: serde_json::json!({"script": SCRIPT}),
        resources: vec!["hpc".into()],
        nodes: None,
        retry: None,
        replicas: vec![],
        replica_cancel: ReplicaCancel::OnFinish,
        walltime_seconds: Some(3600),
        group: None,
        idempotency_key: None,
    }
}

async fn submit_many(core: &Core, actor: &Actor, app: &str, jobs: usize) -> anyhow::Result<()> {
    let scope = Scope {
        svc: &core.services,
        caller: Caller::Member(actor.clone()),
        request_id: None,
    };
    for _ in 0..jobs {
        submit(&scope, request(app))
            .await
            .map_err(|e| anyhow::anyhow!("submitJob: {}", e.message))?;
    }
    Ok(())
}

/// Attempts at the cluster (submitted, not ended).
async fn active(pool: &PgPool) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM job_attempts WHERE ended_at IS NULL AND external_id IS NOT NULL",
    )
    .fetch_one(pool)
    .await?)
}

async fn wait_active(pool: &PgPool, done: impl Fn(i64) -> bool) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    while !done(active(pool).await?) {
        anyhow::ensure!(
            Instant::now() < deadline,
            "attempts did not settle within 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

async fn wait_scheduled(pool: &PgPool, jobs: i64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    while scheduled(pool).await? < jobs {
        anyhow::ensure!(
            Instant::now() < deadline,
            "jobs not scheduled within 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Mean time of a dispatcher round with nothing to do but poll. The read models keep
/// running (without the worker's own dispatcher) so that rounds see their own writes.
async fn round_cost(core: &Core, config: &Config) -> anyhow::Result<Duration> {
    let projections = core.worker(&Config {
        dispatcher: false,
        mailer: false,
        ..config.clone()
    });
    let dispatcher = core.dispatcher(config);
    // first let it record whatever changed since the worker stopped
    for _ in 0..50 {
        if dispatcher.round(true).await? == 0 {
            break;
        }
    }
    let rounds = 20;
    let started = Instant::now();
    for _ in 0..rounds {
        dispatcher.round(true).await?;
    }
    let cost = started.elapsed() / rounds;
    projections.stop().await;
    Ok(cost)
}

pub async fn run(
    pool: &PgPool,
    config: &Config,
    jobs: usize,
    partition: &str,
) -> anyhow::Result<()> {
    clear_queue().await?;
    let raw = sbatch_loop(jobs, partition)?;
    clear_queue().await?;

    let core = Core::new(pool, config)?;
    // the calls alone, with nothing else running but the read models
    let projections = core.worker(&Config {
        dispatcher: false,
        mailer: false,
        ..config.clone()
    });
    let (actor, app) = arrange(&core, partition, 2000).await?;
    let started = Instant::now();
    submit_many(&core, &actor, &app, jobs).await?;
    let alone = jobs as f64 / started.elapsed().as_secs_f64();
    cancel_all(&core, &actor).await?;
    projections.stop().await;

    let worker = core.worker(config);
    let started = Instant::now();
    submit_many(&core, &actor, &app, jobs).await?;
    let accepted = jobs as f64 / started.elapsed().as_secs_f64();
    wait_scheduled(pool, jobs as i64).await?;
    let medgrid = jobs as f64 / started.elapsed().as_secs_f64();
    println!("submit to SCHEDULED, {jobs} jobs on Slurm partition {partition}:");
    println!("  plain sbatch loop:  {raw:>8.1} jobs/s");
    println!(
        "  medgrid submitJob:  {medgrid:>8.1} jobs/s (the calls: {accepted:.1}/s; without a dispatcher: {alone:.1}/s)"
    );
    println!("  ratio medgrid/sbatch: {:.2} (aim >= 0.8)", medgrid / raw);

    // poll cost: every attempt at the cluster ends (scancel), then 10 and 1,000 attempts
    // are put there again (two run, the rest wait in Slurm's queue) and rounds are timed
    // by hand with the worker stopped
    clear_queue().await?;
    wait_active(pool, |n| n == 0).await?;
    worker.stop().await;
    let mut costs = Vec::new();
    for target in [10i64, 1000] {
        let have = active(pool).await?;
        let worker = core.worker(config);
        submit_many(&core, &actor, &app, (target - have).max(0) as usize).await?;
        wait_active(pool, |n| n >= target).await?;
        worker.stop().await;
        costs.push((target, round_cost(&core, config).await?));
    }
    for (n, cost) in &costs {
        println!(
            "dispatcher round with {n:>5} attempts at the cluster: {:>8.2} ms",
            cost.as_secs_f64() * 1000.0
        );
    }
    if let [(_, ten), (_, thousand)] = costs[..] {
        println!(
            "ratio 1000/10: {:.2} (aim: nearly flat; one squeue call per round)",
            thousand.as_secs_f64() / ten.as_secs_f64()
        );
    }
    clear_queue().await
}
