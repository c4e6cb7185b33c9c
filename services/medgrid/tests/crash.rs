//! The dispatcher survives `kill -9` at any moment: 50 jobs in flight while the worker
//! process running the dispatcher is killed again and again. Afterwards every job has
//! reached exactly one terminal state, and no job ran twice.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{
    KillOnDrop, apps_dir, external_database, free_port, gql, issue_token, medgrid, register_shell,
    start_serve, temp_dir, terminate,
};
use serde_json::{Value, json};

const JOBS: usize = 50;

fn start_worker(dir: &std::path::Path, url: &str) -> Child {
    medgrid(dir)
        .env("DATABASE_URL", url)
        .env("MEDGRID_APPS_DIR", apps_dir())
        .env("MEDGRID_DISPATCH_INTERVAL_MS", "200")
        .arg("worker")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn all_jobs(base: &str, token: &str) -> Vec<Value> {
    let mut jobs = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let body = gql(
            base,
            Some(token),
            "query($a: String) { jobs(first: 100, after: $a) {
                edges { node { id state attempts { number } timeline { state } } }
                pageInfo { hasNextPage endCursor } } }",
            json!({"a": after}),
        )
        .await;
        let page = &body["data"]["jobs"];
        for edge in page["edges"].as_array().unwrap() {
            jobs.push(edge["node"].clone());
        }
        if page["pageInfo"]["hasNextPage"] != true {
            return jobs;
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
}

#[tokio::test]
async fn every_job_ends_once_and_runs_once_across_dispatcher_crashes() {
    let (url, drop_db) = external_database("crash");
    let dir = temp_dir("crash");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    // the API process runs no dispatcher: only the worker we kill does
    let mut api = medgrid(&dir);
    api.env("DATABASE_URL", &url)
        .env("MEDGRID_APPS_DIR", apps_dir())
        .env("MEDGRID_DISPATCHER", "false");
    let mut serve = KillOnDrop(start_serve(api, port).await);
    let token = issue_token(&dir, &url, "demo", "admin@demo.local");

    let shell = register_shell(&base, &token).await;
    // each run appends its job id to a log in its work directory (the sandbox lets it
    // write nowhere else): an attempt run twice shows twice
    for i in 0..JOBS {
        let script = format!("echo $MEDGRID_JOB_ID >> runs.log; sleep {}", i % 4);
        let body = gql(
            &base,
            Some(&token),
            "mutation($i: SubmitJobInput!) { submitJob(input: $i) { id } }",
            json!({"i": {"applicationId": shell, "parameters": {"script": script}}}),
        )
        .await;
        assert!(body["errors"].is_null(), "{body}");
    }

    // kill -9 the dispatcher at uneven moments while the jobs move through their states
    let mut worker = KillOnDrop(start_worker(&dir, &url));
    for round in 0..8u64 {
        tokio::time::sleep(Duration::from_millis(400 + (round * 337) % 900)).await;
        worker.0.kill().unwrap();
        worker.0.wait().unwrap();
        worker = KillOnDrop(start_worker(&dir, &url));
    }

    let deadline = Instant::now() + Duration::from_secs(240);
    let jobs = loop {
        let jobs = all_jobs(&base, &token).await;
        let finished = jobs
            .iter()
            .filter(|j| {
                ["SUCCEEDED", "FAILED", "CANCELLED"].contains(&j["state"].as_str().unwrap())
            })
            .count();
        if jobs.len() == JOBS && finished == JOBS {
            break jobs;
        }
        assert!(
            Instant::now() < deadline,
            "{finished} of {JOBS} jobs finished: {jobs:#?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    worker.0.kill().unwrap();
    worker.0.wait().unwrap();

    for job in &jobs {
        let id = job["id"].as_str().unwrap();
        let log = dir.join(format!("jobs/{id}/attempt-1/work/runs.log"));
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        let mut ran: HashMap<&str, usize> = HashMap::new();
        for line in log.lines() {
            *ran.entry(line.trim()).or_default() += 1;
        }
        assert_eq!(job["state"], "SUCCEEDED", "{job}");
        let terminal = job["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| {
                ["SUCCEEDED", "FAILED", "CANCELLED"].contains(&t["state"].as_str().unwrap())
            })
            .count();
        assert_eq!(terminal, 1, "one terminal state: {job}");
        assert_eq!(
            job["attempts"].as_array().unwrap().len(),
            1,
            "one attempt: {job}"
        );
        assert_eq!(
            ran.get(id),
            Some(&1),
            "job {id} ran {:?} times",
            ran.get(id)
        );
    }
    assert!(terminate(&mut serve.0).success());
    drop_db();
    let _ = std::fs::remove_dir_all(&dir);
}
