//! Jobs on a real single-node Slurm cluster (scripts/slurm starts it): sbatch, batched
//! squeue, scontrol for the final state, scancel; an MPI application on two tasks.

use medgrid_domain::actor::Role;
use medgrid_tests::TestApp;
use serde_json::json;

use crate::jobs::{app_id, in_state, setup, shell_app, submit, wait_until};

/// Registers partition `debug` of the local Slurm cluster as resource `hpc`.
async fn hpc(app: &TestApp) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (_, root) = app
        .member("uni", "root@uni.org", &[Role::PlatformAdmin])
        .await;
    let resource = json!({"name": "hpc", "kind": "SLURM", "partition": "debug", "maxNodes": 1,
                          "coresPerNode": cores, "walltimeLimitSeconds": 3600, "allTenants": true});
    app.ok(&root, crate::compute::REGISTER, json!({"i": resource}))
        .await;
}

fn slurm_running() {
    let ok = std::process::Command::new("sinfo")
        .arg("-h")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "Slurm is required: run scripts/slurm (scripts/test does)"
    );
}

#[tokio::test]
async fn a_job_runs_on_slurm_and_its_exit_code_is_read() {
    slurm_running();
    let app = TestApp::spawn().await;
    let (admin, member, _) = setup(&app, "uni").await;
    hpc(&app).await;
    let shell = shell_app(&app, &admin).await;
    let ok = submit(
        &app,
        &member,
        json!({"applicationId": shell, "resourceIds": ["hpc"],
               "parameters": {"script": "echo on $(hostname); echo result > out.txt"}}),
    )
    .await;
    let failing = submit(
        &app,
        &member,
        json!({"applicationId": shell, "resourceIds": ["hpc"], "parameters": {"script": "exit 7"}}),
    )
    .await;
    let ok = wait_until(&app, &member, ok["id"].as_str().unwrap(), 120, |j| {
        ["SUCCEEDED", "FAILED"].contains(&j["state"].as_str().unwrap())
    })
    .await;
    assert_eq!(ok["state"], "SUCCEEDED", "{ok:#}");
    let attempt = &ok["attempts"][0];
    let slurm_id = attempt["externalId"].as_str().unwrap();
    assert_eq!(
        ok["timeline"][2]["reason"],
        format!("Submitted to Slurm cluster hpc as job {slurm_id}")
    );
    assert!(
        attempt["stdout"]["text"]
            .as_str()
            .unwrap()
            .starts_with("on ")
    );
    assert!(attempt["nodeList"].as_str().is_some_and(|n| !n.is_empty()));
    assert_eq!(ok["outputs"][0]["path"], "out.txt");
    let failed = wait_until(
        &app,
        &member,
        failing["id"].as_str().unwrap(),
        120,
        in_state("FAILED"),
    )
    .await;
    assert_eq!(failed["attempts"][0]["exitCode"], 7, "{failed:#}");
    assert!(
        failed["reason"]
            .as_str()
            .unwrap()
            .starts_with("Exit code 7 on attempt 1")
    );
}

#[tokio::test]
async fn cancel_reaches_slurm() {
    slurm_running();
    let app = TestApp::spawn().await;
    let (admin, member, _) = setup(&app, "uni").await;
    hpc(&app).await;
    let shell = shell_app(&app, &admin).await;
    let j = submit(
        &app,
        &member,
        json!({"applicationId": shell, "resourceIds": ["hpc"], "parameters": {"script": "sleep 300"}}),
    )
    .await;
    let id = j["id"].as_str().unwrap();
    let running = wait_until(&app, &member, id, 120, in_state("RUNNING")).await;
    let slurm_id = running["attempts"][0]["externalId"]
        .as_str()
        .unwrap()
        .to_owned();
    crate::jobs::cancel_and_wait(&app, &member, id).await;
    let out = std::process::Command::new("scontrol")
        .args(["show", "job", "-o", &slurm_id])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("JobState=CANCELLED"), "{text}");
}

#[tokio::test]
async fn an_mpi_application_runs_on_two_tasks() {
    slurm_running();
    let app = TestApp::spawn().await;
    let (_, member, _) = setup(&app, "uni").await;
    hpc(&app).await;
    let dosimetry = app_id(&app, &member, "dosimetry").await;
    let j = submit(
        &app,
        &member,
        json!({"applicationId": dosimetry, "resourceIds": ["hpc"],
               "parameters": {"activity_map": "sample:dosimetry/pet_activity.nii.gz"}}),
    )
    .await;
    let done = wait_until(&app, &member, j["id"].as_str().unwrap(), 180, |j| {
        ["SUCCEEDED", "FAILED"].contains(&j["state"].as_str().unwrap())
    })
    .await;
    assert_eq!(done["state"], "SUCCEEDED", "{done:#}");
    let stdout = done["attempts"][0]["stdout"]["text"].as_str().unwrap();
    assert!(stdout.contains("2 rank(s)"), "{stdout}");
    let paths: Vec<&str> = done["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.iter().any(|p| p.ends_with("_dose.nii.gz")),
        "{paths:?}"
    );
}

/// What a restarted dispatcher relies on to never submit twice: an attempt submitted but
/// never recorded (a crash in between) is found by its key, several at once in one call,
/// and can be cancelled without its Slurm id.
#[tokio::test]
async fn attempts_are_found_by_key_and_cancelled_without_their_id() {
    use medgrid_infra::executor::slurm::SlurmExecutor;
    use medgrid_infra::executor::{AttemptSpec, Executor, Status, Tracked};

    slurm_running();
    let sandbox = std::sync::Arc::new(medgrid::sandbox(&medgrid_tests::test_config()).unwrap());
    let slurm = SlurmExecutor::new("debug", sandbox);
    let run = uuid::Uuid::now_v7();
    let tracked = |n: u32| Tracked {
        key: format!("mg-{run}-{n}"),
        external_id: None,
        dir: std::env::temp_dir().join(format!("medgrid-find-{run}-{n}")),
    };
    let (hidden, never) = (tracked(1), tracked(2));
    let spec = AttemptSpec {
        key: hidden.key.clone(),
        dir: hidden.dir.clone(),
        script: "sleep 300".into(),
        inputs: vec![],
        nodes: 1,
        tasks: 1,
        walltime: std::time::Duration::from_secs(600),
        memory_mb: None,
        disk_mb: None,
        env: vec![],
        secret_env: vec![],
        api_upstream: None,
        networked: false,
        image: None,
        shell: None,
    };
    let id = slurm.submit(&spec).await.unwrap();
    let found = slurm.find(&[hidden.clone(), never.clone()]).await.unwrap();
    assert_eq!(found.get(&hidden.key), Some(&id), "{found:?}");
    assert!(!found.contains_key(&never.key), "{found:?}");

    slurm.cancel(&hidden).await.unwrap();
    let with_id = Tracked {
        external_id: Some(id),
        ..hidden.clone()
    };
    let mut ended = None;
    for _ in 0..300 {
        let statuses = slurm.poll(std::slice::from_ref(&with_id)).await.unwrap();
        if let Some((_, Status::Ended { outcome, .. })) = statuses.into_iter().next() {
            ended = Some(outcome);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(
        ended,
        Some(medgrid_domain::jobs::Outcome::Cancelled),
        "cancelled by key"
    );
    let _ = std::fs::remove_dir_all(&hidden.dir);
}

/// The job-scoped token reaches a Slurm job through the sandbox (not job.sh, not sbatch's
/// environment),
/// and it is valid there: its own job's files answer 404 (authenticated, no such file),
/// not 401.
#[tokio::test]
async fn a_slurm_job_gets_its_job_token() {
    slurm_running();
    let app = TestApp::spawn().await;
    let (admin, member, _) = setup(&app, "uni").await;
    hpc(&app).await;
    let shell = shell_app(&app, &admin).await;
    let script = r#"curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $MEDGRID_JOB_TOKEN" "$MEDGRID_URL/files/jobs/$MEDGRID_JOB_ID/outputs/none" > out.txt; echo " ${MEDGRID_JOB_TOKEN%%_*} $(grep -cF "$MEDGRID_JOB_TOKEN" /medgrid/job.sh)" >> out.txt"#;
    let j = submit(
        &app,
        &member,
        json!({"applicationId": shell, "parameters": {"script": script}, "resourceIds": ["hpc"]}),
    )
    .await;
    let id = j["id"].as_str().unwrap();
    let done = wait_until(&app, &member, id, 120, |j| {
        ["SUCCEEDED", "FAILED"].contains(&j["state"].as_str().unwrap())
    })
    .await;
    assert_eq!(done["state"], "SUCCEEDED", "{done:#}");
    let out = app
        .http()
        .get(format!("{}/files/jobs/{id}/outputs/out.txt", app.url))
        .bearer_auth(&member)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(out.trim(), "404 mgj 0", "{out}");
}
