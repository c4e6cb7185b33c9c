//! Safe retries across crashes (issue 18, item 11): clients submit jobs under idempotency
//! keys while the server is killed with SIGKILL again and again; every call that fails in
//! flight is retried with its key until it is answered. Afterwards there is exactly one job
//! per key — also for the calls whose job was committed but whose answer was lost.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::{
    KillOnDrop, apps_dir, external_database, free_port, issue_token, medgrid, register_shell,
    start_serve, temp_dir, terminate,
};
use medgrid_domain::idempotency::IdempotencyKey;
use medgrid_domain::ids::{JobId, MemberId, TenantId};
use serde_json::{Value, json};
use tokio::sync::watch;

const CLIENTS: usize = 4;
const CALLS: usize = 25;
const KILLS: u64 = 6;

fn api(dir: &std::path::Path, url: &str) -> Command {
    let mut cmd = medgrid(dir);
    cmd.env("DATABASE_URL", url)
        .env("MEDGRID_APPS_DIR", apps_dir())
        .env("MEDGRID_DISPATCHER", "false")
        .env("MEDGRID_RATE_LIMIT_MEMBER_PER_MINUTE", "0")
        .env("MEDGRID_RATE_LIMIT_TENANT_PER_MINUTE", "0");
    cmd
}

/// Submits under `key` until an answer comes; returns the job id and whether a failed
/// call had already made the job (committed, answer lost). A call fails only because the
/// server was killed: the retry waits until it is up again (`up` counts the restarts).
async fn submit_until_answered(
    base: &str,
    token: &str,
    shell: &str,
    key: &str,
    pool: &sqlx::PgPool,
    expected: JobId,
    up: &mut watch::Receiver<u64>,
) -> (String, bool) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let mut lost_answer = false;
    let mut failed = false;
    loop {
        if failed {
            // the call failed in flight: did it commit anyway?
            let made: Option<uuid::Uuid> = sqlx::query_scalar("SELECT id FROM jobs WHERE id = $1")
                .bind(expected.as_uuid())
                .fetch_optional(pool)
                .await
                .unwrap();
            lost_answer |= made.is_some();
        }
        let generation = *up.borrow_and_update();
        let sent = http
            .post(format!("{base}/graphql"))
            .bearer_auth(token)
            .json(&json!({
                "query": "mutation($i: SubmitJobInput!) { submitJob(input: $i) { id } }",
                "variables": {"i": {"applicationId": shell,
                                    "parameters": {"script": format!("echo {key}")},
                                    "idempotencyKey": key}}
            }))
            .send()
            .await;
        let body: Option<Value> = match sent {
            Ok(response) => response.json().await.ok(),
            Err(_) => None,
        };
        if let Some(id) = body
            .as_ref()
            .and_then(|b| b["data"]["submitJob"]["id"].as_str())
        {
            return (id.to_owned(), lost_answer);
        }
        if let Some(b) = &body {
            // answered with an error: only a server going down may cause one
            let code = b["errors"][0]["extensions"]["code"].as_str().unwrap_or("");
            assert!(code == "INTERNAL" || code.is_empty(), "{b}");
        }
        failed = true;
        up.wait_for(|g| *g > generation).await.unwrap();
    }
}

#[tokio::test]
async fn a_retried_submission_makes_one_job_across_server_crashes() {
    let (url, drop_db) = external_database("retry");
    let dir = temp_dir("retry");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut serve = KillOnDrop(start_serve(api(&dir, &url), port).await);
    let token = issue_token(&dir, &url, "demo", "admin@demo.local");
    let shell = register_shell(&base, &token).await;
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let member = MemberId::for_email(
        TenantId::for_slug(&"demo".parse().unwrap()),
        &"admin@demo.local".parse().unwrap(),
    );

    let (answered, mut answers) = watch::channel(0usize);
    let answered = Arc::new(answered);
    let (restarted, up) = watch::channel(0u64);
    let clients = (0..CLIENTS)
        .map(|c| {
            let (base, token, shell, pool, answered, mut up) = (
                base.clone(),
                token.clone(),
                shell.clone(),
                pool.clone(),
                answered.clone(),
                up.clone(),
            );
            tokio::spawn(async move {
                let mut made = Vec::new();
                for n in 0..CALLS {
                    let key = format!("client-{c}-call-{n}");
                    let expected =
                        JobId::for_request(member, &key.parse::<IdempotencyKey>().unwrap());
                    let (id, lost) = submit_until_answered(
                        &base, &token, &shell, &key, &pool, expected, &mut up,
                    )
                    .await;
                    assert_eq!(id, expected.to_string(), "the key's job");
                    answered.send_modify(|n| *n += 1);
                    made.push((id, lost));
                }
                made
            })
        })
        .collect::<Vec<_>>();

    // kill -9 the server at uneven moments while the clients submit: after 2 to 4 more
    // answers, with the other clients' calls in flight
    for round in 0..KILLS {
        let before = *answers.borrow_and_update();
        let more = 2 + usize::try_from(round % 3).unwrap();
        answers
            .wait_for(|n| *n >= before + more || *n == CLIENTS * CALLS)
            .await
            .unwrap();
        serve.0.kill().unwrap();
        serve.0.wait().unwrap();
        serve = KillOnDrop(start_serve(api(&dir, &url), port).await);
        restarted.send_modify(|g| *g += 1);
    }

    let mut ids = HashSet::new();
    let mut lost_answers = 0;
    // a deadline for a hang (a call failing while the server is up), not a measure of speed
    let clients =
        tokio::time::timeout(Duration::from_secs(600), futures::future::join_all(clients))
            .await
            .expect("every call answered");
    for client in clients {
        for (id, lost) in client.unwrap() {
            assert!(ids.insert(id), "two keys answered with one job");
            lost_answers += usize::from(lost);
        }
    }
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs")
        .fetch_one(&pool)
        .await
        .unwrap();
    let submitted: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_type = 'Job' AND event_type = 'JobSubmitted'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    println!(
        "{} calls, {KILLS} kills, {lost_answers} answers lost after the commit and recovered by a retry",
        CLIENTS * CALLS
    );
    assert_eq!(ids.len(), CLIENTS * CALLS);
    assert_eq!(jobs, (CLIENTS * CALLS) as i64, "one job per key");
    assert_eq!(
        submitted,
        (CLIENTS * CALLS) as i64,
        "one submission event per key"
    );
    pool.close().await;
    assert!(terminate(&mut serve.0).success());
    drop_db();
    let _ = std::fs::remove_dir_all(&dir);
}
