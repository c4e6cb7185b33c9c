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
    app.ok(
        &member,
        "mutation($id: ID!) { cancelJob(id: $id) { state } }",
        json!({"id": id}),
    )
    .await;
    wait_until(&app, &member, id, 60, |j| {
        j["attempts"][0]["state"] == "CANCELLED"
    })
    .await;
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
