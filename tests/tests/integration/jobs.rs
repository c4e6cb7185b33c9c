//! Jobs end to end on the local resource: the lifecycle and its timeline, logs, outputs,
//! cancel, retries, replicas, resubmission, visibility and refusals.

use std::time::{Duration, Instant};

use medgrid::bootstrap;
use medgrid_domain::actor::Role;
use medgrid_domain::ids::TenantId;
use medgrid_tests::TestApp;
use serde_json::{Value, json};

pub const JOB_FIELDS: &str = "id state reason commandLine resubmittedFrom
    application { id name version } parameters
    attempts { number resource { id name } state externalId nodes nodeList startedAt endedAt
               exitCode wallSeconds cpuSeconds reason cancelRequested
               stdout { text size complete } stderr { text } }
    timeline { state reason at attempt } outputs { path size downloadUrl } createdAt";

/// A tenant with an administrator and a member, the local resource and the shipped
/// catalog. Returns (admin token, member token, tenant id).
pub async fn setup(app: &TestApp, slug: &str) -> (String, String, TenantId) {
    let tenant = app.tenant(slug).await;
    let (_, admin) = app
        .member(slug, &format!("admin@{slug}.org"), &[Role::TenantAdmin])
        .await;
    let (_, member) = app.member(slug, &format!("ann@{slug}.org"), &[]).await;
    bootstrap::local_resource(&app.core.services).await.unwrap();
    bootstrap::shipped_catalog(&app.core.services, tenant, &app.config.apps_dir)
        .await
        .unwrap();
    (admin, member, tenant)
}

/// Registers an application that runs a shell snippet (for tests of the machinery).
pub async fn shell_app(app: &TestApp, admin: &str) -> String {
    let descriptor = json!({
        "name": "shell", "tool-version": "1", "description": "Runs a shell snippet.",
        "schema-version": "0.5", "command-line": "sh -c [SCRIPT]",
        "inputs": [{"id": "script", "name": "Script", "type": "String", "value-key": "[SCRIPT]"}],
        "output-files": [{"id": "out", "name": "Out", "path-template": "out.txt", "optional": true}]
    });
    register_app(app, admin, descriptor).await
}

/// Registers a Boutiques descriptor; returns the application's id.
pub async fn register_app(app: &TestApp, admin: &str, descriptor: Value) -> String {
    let data = app
        .ok(
            admin,
            "mutation($d: JSON!) { registerApplication(descriptor: $d) { id } }",
            json!({"d": descriptor}),
        )
        .await;
    data["registerApplication"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub async fn app_id(app: &TestApp, token: &str, name: &str) -> String {
    let data = app
        .ok(token, "{ applications { id name } }", json!({}))
        .await;
    data["applications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .unwrap_or_else(|| panic!("no application {name}: {data}"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub async fn submit(app: &TestApp, token: &str, input: Value) -> Value {
    let query =
        format!("mutation($i: SubmitJobInput!) {{ submitJob(input: $i) {{ {JOB_FIELDS} }} }}");
    app.ok(token, &query, json!({"i": input})).await["submitJob"].clone()
}

pub async fn job(app: &TestApp, token: &str, id: &str) -> Value {
    let query = format!("query($id: ID!) {{ job(id: $id) {{ {JOB_FIELDS} }} }}");
    app.ok(token, &query, json!({"id": id})).await["job"].clone()
}

/// Polls the job until `done` holds (at most `secs`).
pub async fn wait_until(
    app: &TestApp,
    token: &str,
    id: &str,
    secs: u64,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let j = job(app, token, id).await;
        if done(&j) {
            return j;
        }
        assert!(
            Instant::now() < deadline,
            "job did not get there in {secs} s: {j:#}"
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// Cancels job `id` as `token`, then waits until its first attempt is cancelled.
pub async fn cancel_and_wait(app: &TestApp, token: &str, id: &str) -> Value {
    app.ok(
        token,
        "mutation($id: ID!) { cancelJob(id: $id) { state } }",
        json!({"id": id}),
    )
    .await;
    wait_until(app, token, id, 60, |j| {
        j["attempts"][0]["state"] == "CANCELLED"
    })
    .await
}

pub fn in_state(state: &'static str) -> impl Fn(&Value) -> bool {
    move |j| j["state"] == state
}

fn states(j: &Value) -> Vec<String> {
    j["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["state"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_shipped_simulation_runs_to_success_with_its_outputs() {
    let app = TestApp::spawn().await;
    let (_, member, _) = setup(&app, "uni").await;
    let mri = app_id(&app, &member, "mri-sim").await;
    let j = submit(
        &app,
        &member,
        json!({"applicationId": mri, "parameters": {"size": 32, "seed": 7}}),
    )
    .await;
    // accepted (the dispatcher may have queued it before the reply was read)
    assert!(
        ["SUBMITTED", "QUEUED"].contains(&j["state"].as_str().unwrap()),
        "{j}"
    );
    assert_eq!(j["application"]["name"], "mri-sim");
    let id = j["id"].as_str().unwrap();
    let done = wait_until(&app, &member, id, 120, |j| {
        j["state"] != "SUBMITTED" && {
            let s = j["state"].as_str().unwrap();
            ["SUCCEEDED", "FAILED", "CANCELLED"].contains(&s)
        }
    })
    .await;
    assert_eq!(done["state"], "SUCCEEDED", "{done:#}");
    assert_eq!(
        states(&done),
        ["SUBMITTED", "QUEUED", "SCHEDULED", "RUNNING", "SUCCEEDED"],
        "{done:#}"
    );
    assert!(
        done["timeline"][2]["reason"]
            .as_str()
            .unwrap()
            .starts_with("Started on local as process ")
    );
    let attempt = &done["attempts"][0];
    assert_eq!(attempt["exitCode"], 0);
    assert_eq!(attempt["state"], "SUCCEEDED");
    assert_eq!(attempt["resource"]["name"], "local");
    assert!(
        attempt["externalId"]
            .as_str()
            .unwrap()
            .parse::<u32>()
            .is_ok()
    );
    assert!(attempt["endedAt"].is_string() && attempt["startedAt"].is_string());
    let outputs = done["outputs"].as_array().unwrap();
    assert!(outputs.len() >= 3, "{outputs:?}");
    let image = outputs
        .iter()
        .find(|o| o["path"].as_str().unwrap().ends_with(".nii.gz"))
        .unwrap();
    assert!(image["size"].as_u64().unwrap() > 1000);
    // the output downloads with the member's token, and not without it
    let url = format!("{}{}", app.url, image["downloadUrl"].as_str().unwrap());
    let bytes = app
        .http()
        .get(&url)
        .bearer_auth(&member)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(bytes.len() as u64, image["size"].as_u64().unwrap());
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "gzip");
    let anonymous = app.http().get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn logs_exit_codes_and_retries_by_policy() {
    let app = TestApp::spawn().await;
    let (admin, member, _) = setup(&app, "uni").await;
    let shell = shell_app(&app, &admin).await;
    let script = "echo to-out; echo to-err >&2; exit 3";
    let j = submit(
        &app,
        &member,
        json!({"applicationId": shell, "parameters": {"script": script},
               "retry": {"maxAttempts": 2, "on": ["EXIT_CODE"], "backoffSeconds": 0}}),
    )
    .await;
    let id = j["id"].as_str().unwrap();
    let done = wait_until(&app, &member, id, 60, in_state("FAILED")).await;
    assert_eq!(
        states(&done),
        [
            "SUBMITTED",
            "QUEUED",
            "SCHEDULED",
            "RUNNING",
            "RETRYING",
            "SCHEDULED",
            "RUNNING",
            "FAILED"
        ],
        "{done:#}"
    );
    let retrying = &done["timeline"][4]["reason"];
    assert_eq!(retrying, "Exit code 3; retrying on local (attempt 2 of 2)");
    assert!(
        done["reason"]
            .as_str()
            .unwrap()
            .starts_with("Exit code 3 on attempt 2; not retried: all 2 attempts used"),
        "{done:#}"
    );
    for a in done["attempts"].as_array().unwrap() {
        assert_eq!(a["exitCode"], 3);
        assert_eq!(a["stdout"]["text"], "to-out\n");
        assert_eq!(a["stderr"]["text"], "to-err\n");
    }
}

/// An attempt that runs past its walltime is stopped, and the job says why; timeouts are not
/// retried by default.
#[tokio::test]
async fn an_attempt_past_its_walltime_is_stopped() {
    let app = TestApp::spawn().await;
    let (admin, member, _) = setup(&app, "uni").await;
    let shell = shell_app(&app, &admin).await;
    let j = submit(
        &app,
        &member,
        json!({"applicationId": shell, "parameters": {"script": "echo started; sleep 120"},
               "walltimeSeconds": 2}),
    )
    .await;
    let id = j["id"].as_str().unwrap();
    let done = wait_until(&app, &member, id, 60, in_state("FAILED")).await;
    let reason = done["reason"].as_str().unwrap();
    assert!(reason.starts_with("Ran past its walltime"), "{done:#}");
    let attempts = done["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "a timeout is not retried by default");
    assert_eq!(attempts[0]["stdout"]["text"], "started\n");
    assert!(
        attempts[0]["wallSeconds"].as_i64().unwrap() < 60,
        "{done:#}"
    );
}

/// Cancel stops the whole sandbox: a background child started by the job dies too.
#[tokio::test]
async fn cancel_kills_everything_the_attempt_started() {
    let app = TestApp::spawn().await;
    let (admin, member, _) = setup(&app, "uni").await;
    let shell = shell_app(&app, &admin).await;
    // a duration no other test uses: the child is found on the host by its command line
    let seconds = format!("300.{}", std::process::id());
    let script = format!("sleep {seconds} & echo started > child.pid; wait");
    let j = submit(
        &app,
        &member,
        json!({"applicationId": shell, "parameters": {"script": script}}),
    )
    .await;
    let id = j["id"].as_str().unwrap();
    let running = wait_until(&app, &member, id, 60, in_state("RUNNING")).await;
    let work = app.core.area.work_dir(id.parse().unwrap(), 1);
    wait_for_file(&work.join("child.pid")).await;
    let child_pid = wait_for_process(&["sleep", &seconds]).await.to_string();
    let cancelled = app
        .ok(
            &member,
            "mutation($id: ID!) { cancelJob(id: $id) { state reason } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(cancelled["cancelJob"]["state"], "CANCELLED");
    assert_eq!(cancelled["cancelJob"]["reason"], "Cancelled by its owner");
    let done = wait_until(&app, &member, id, 30, |j| {
        j["attempts"][0]["state"] == "CANCELLED"
    })
    .await;
    assert_eq!(states(&done).last().unwrap(), "CANCELLED");
    assert_eq!(running["attempts"][0]["state"], "RUNNING");
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::path::Path::new(&format!("/proc/{child_pid}/stat")).exists() && !zombie(&child_pid) {
        assert!(
            Instant::now() < deadline,
            "the background child survived the cancel"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // a finished job cannot be cancelled again
    let code = app
        .code(
            Some(&member),
            "mutation($id: ID!) { cancelJob(id: $id) { state } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(code, "CONFLICT");
}

/// Host pids of the processes whose command line is `argv`.
pub fn processes_running(argv: &[&str]) -> Vec<u32> {
    let wanted: Vec<u8> = argv
        .iter()
        .flat_map(|a| [a.as_bytes(), b"\0"].concat())
        .collect();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).ok() == Some(wanted.clone()))
        .collect()
}

/// The host pid of a process whose command line is `argv`, once there is one.
pub async fn wait_for_process(argv: &[&str]) -> u32 {
    for _ in 0..100 {
        if let Some(pid) = processes_running(argv).first() {
            return *pid;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no process {argv:?}");
}

fn zombie(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

async fn wait_for_file(path: &std::path::Path) -> String {
    for _ in 0..100 {
        if let Ok(text) = std::fs::read_to_string(path)
            && !text.trim().is_empty()
        {
            return text.trim().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{} never appeared", path.display());
}

/// A process lost without an exit code (here: killed from outside) is a node failure,
/// retried by the default policy.
#[tokio::test]
async fn a_lost_attempt_is_retried_as_a_node_failure() {
    let app = TestApp::spawn().await;
    let (admin, member, _) = setup(&app, "uni").await;
    let shell = shell_app(&app, &admin).await;
    let j = submit(
        &app,
        &member,
        json!({"applicationId": shell, "parameters": {"script": "sleep 300"},
               "retry": {"backoffSeconds": 0}}),
    )
    .await;
    let id = j["id"].as_str().unwrap();
    let running = wait_until(&app, &member, id, 60, in_state("RUNNING")).await;
    let pid = running["attempts"][0]["externalId"].as_str().unwrap();
    // the whole session, as a machine crash would
    let status = std::process::Command::new("pkill")
        .args(["-9", "-s", pid])
        .status()
        .unwrap();
    assert!(status.success());
    let again = wait_until(&app, &member, id, 60, |j| {
        j["attempts"].as_array().unwrap().len() == 2 && j["state"] == "RUNNING"
    })
    .await;
    let retry = again["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["state"] == "RETRYING")
        .unwrap();
    assert_eq!(
        retry["reason"],
        "Node failure (its supervisor stopped without recording how it ended; was the host restarted?); retrying on local (attempt 2 of 3)"
    );
    assert_eq!(again["attempts"][0]["state"], "FAILED");
    app.ok(
        &member,
        "mutation($id: ID!) { cancelJob(id: $id) { state } }",
        json!({"id": id}),
    )
    .await;
    wait_until(&app, &member, id, 30, |j| {
        j["attempts"][1]["state"] == "CANCELLED"
    })
    .await;
}

#[tokio::test]
async fn replicas_stop_the_others_when_one_starts() {
    let app = TestApp::spawn().await;
    let (admin, member, _) = setup(&app, "uni").await;
    let shell = shell_app(&app, &admin).await;
    let j = submit(
        &app,
        &member,
        json!({"applicationId": shell, "parameters": {"script": "sleep 2; echo done > out.txt"},
               "replicas": [{"resourceId": "local"}, {"resourceId": "local"}],
               "replicaCancel": "ON_START"}),
    )
    .await;
    let id = j["id"].as_str().unwrap();
    let done = wait_until(&app, &member, id, 60, |j| {
        j["state"] == "SUCCEEDED"
            && j["attempts"]
                .as_array()
                .unwrap()
                .iter()
                .all(|a| a["endedAt"].is_string())
    })
    .await;
    let attempts: Vec<&str> = done["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["state"].as_str().unwrap())
        .collect();
    let mut sorted = attempts.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, ["CANCELLED", "SUCCEEDED"], "{done:#}");
    assert_eq!(done["outputs"][0]["path"], "out.txt");
}

#[tokio::test]
async fn resubmit_links_a_new_job_with_edited_parameters() {
    let app = TestApp::spawn().await;
    let (admin, member, _) = setup(&app, "uni").await;
    let shell = shell_app(&app, &admin).await;
    let j = submit(
        &app,
        &member,
        json!({"applicationId": shell, "parameters": {"script": "exit 1"}}),
    )
    .await;
    let id = j["id"].as_str().unwrap();
    wait_until(&app, &member, id, 60, in_state("FAILED")).await;
    let data = app
        .ok(
            &member,
            "mutation($id: ID!, $p: JSON) { resubmitJob(id: $id, parameters: $p) { id resubmittedFrom parameters commandLine } }",
            json!({"id": id, "p": {"script": "echo fixed > out.txt"}}),
        )
        .await;
    let new = &data["resubmitJob"];
    assert_eq!(new["resubmittedFrom"], id);
    assert_eq!(new["parameters"]["script"], "echo fixed > out.txt");
    assert_eq!(new["commandLine"], "sh -c 'echo fixed > out.txt'");
    let new_id = new["id"].as_str().unwrap();
    wait_until(&app, &member, new_id, 60, in_state("SUCCEEDED")).await;
}

#[tokio::test]
async fn a_file_input_from_a_sample_is_staged() {
    let app = TestApp::spawn().await;
    let (_, member, _) = setup(&app, "uni").await;
    let seg = app_id(&app, &member, "image-analysis").await;
    let j = submit(
        &app,
        &member,
        json!({"applicationId": seg, "parameters": {"image": "sample:image-analysis/mri_t1w.nii.gz"}}),
    )
    .await;
    let id = j["id"].as_str().unwrap();
    let done = wait_until(&app, &member, id, 120, |j| {
        ["SUCCEEDED", "FAILED"].contains(&j["state"].as_str().unwrap())
    })
    .await;
    assert_eq!(done["state"], "SUCCEEDED", "{done:#}");
    assert!(
        done["commandLine"]
            .as_str()
            .unwrap()
            .contains(" mri_t1w.nii.gz")
    );
    assert!(
        done["timeline"][1]["reason"]
            .as_str()
            .unwrap()
            .starts_with("1 input file(s) ready")
    );
    // an output of that job feeds the next one
    let labels = done["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["path"].as_str().unwrap().ends_with("labels.nii.gz"))
        .unwrap()["path"]
        .as_str()
        .unwrap()
        .to_owned();
    let again = submit(
        &app,
        &member,
        json!({"applicationId": seg, "parameters": {"image": format!("job:{id}/{labels}")}}),
    )
    .await;
    // accepted (the dispatcher may have moved it on already)
    assert!(
        ["SUBMITTED", "QUEUED", "SCHEDULED", "RUNNING"].contains(&again["state"].as_str().unwrap()),
        "{again}"
    );
}

/// A value is quoted for where its key stands (a quoted key let `$(…)` run, issue 17):
/// `commandLine` shows how it reads, the read model keeps what runs, and a NUL, which no
/// program argument can hold, is refused naming the input.
#[tokio::test]
async fn values_are_quoted_for_where_their_key_stands() {
    let app = TestApp::spawn().await;
    let (admin, member, _) = setup(&app, "uni").await;
    let greet = register_app(
        &app,
        &admin,
        json!({
            "name": "greet", "tool-version": "1", "description": "Writes a name.",
            "schema-version": "0.5", "command-line": "echo \"[NAME]\" '[NAME]' [NAME] > out.txt",
            "inputs": [{"id": "name", "name": "Name", "type": "String", "value-key": "[NAME]"}],
            "output-files": [{"id": "out", "name": "Out", "path-template": "out.txt"}]
        }),
    )
    .await;
    // refused first: once a job runs, the worker writes events of its own
    let q = "mutation($i: SubmitJobInput!) { submitJob(input: $i) { id } }";
    let before = app.event_count().await;
    let nul = json!({"i": {"applicationId": greet, "parameters": {"name": "a\u{0}b"}}});
    let body = app.gql(Some(&member), q, nul).await;
    assert_eq!(
        medgrid_tests::error_code(&body).as_deref(),
        Some("INVALID_INPUT"),
        "{body}"
    );
    assert_eq!(body["errors"][0]["extensions"]["field"], "parameters.name");
    assert_eq!(app.event_count().await, before, "nothing written");
    let value = "$(echo PWNED-$((6*7)))";
    let j = submit(
        &app,
        &member,
        json!({"applicationId": greet, "parameters": {"name": value}}),
    )
    .await;
    assert_eq!(
        j["commandLine"],
        r#"echo "\$(echo PWNED-\$((6*7)))" '$(echo PWNED-$((6*7)))' '$(echo PWNED-$((6*7)))' > out.txt"#
    );
    let id: uuid::Uuid = j["id"].as_str().unwrap().parse().unwrap();
    let invocation: Value = sqlx::query_scalar("SELECT invocation FROM jobs WHERE id = $1")
        .bind(id)
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(
        invocation,
        json!({
            "script": r#"echo "${MEDGRID_ARG_1}" ''"${MEDGRID_ARG_1}"'' "${MEDGRID_ARG_1}" > out.txt"#,
            "arguments": [value]
        })
    );
    wait_until(&app, &member, &id.to_string(), 60, |j| {
        ["SUCCEEDED", "FAILED"].contains(&j["state"].as_str().unwrap())
    })
    .await;
}

#[tokio::test]
async fn members_see_their_own_jobs_managers_their_groups_admins_all() {
    let app = TestApp::spawn().await;
    let (admin, ann, _) = setup(&app, "uni").await;
    let (_, bob) = app.member("uni", "bob@uni.org", &[]).await;
    let shell = shell_app(&app, &admin).await;
    let j = submit(
        &app,
        &ann,
        json!({"applicationId": shell, "parameters": {"script": "true"}}),
    )
    .await;
    let id = j["id"].as_str().unwrap();
    let q = "query($id: ID!) { job(id: $id) { id } }";
    assert_eq!(
        app.code(Some(&bob), q, json!({"id": id})).await,
        "NOT_FOUND"
    );
    app.ok(&admin, q, json!({"id": id})).await;
    let list = "{ jobs(first: 10) { edges { node { id } } } }";
    let count = |v: Value| v["jobs"]["edges"].as_array().unwrap().len();
    assert_eq!(count(app.ok(&bob, list, json!({})).await), 0);
    assert_eq!(count(app.ok(&ann, list, json!({})).await), 1);
    assert_eq!(count(app.ok(&admin, list, json!({})).await), 1);
    let code = app
        .code(
            Some(&bob),
            "mutation($id: ID!) { cancelJob(id: $id) { state } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(code, "NOT_FOUND");
    // another tenant's member sees nothing either
    let (_, other, _) = setup(&app, "hospital").await;
    assert_eq!(
        app.code(Some(&other), q, json!({"id": id})).await,
        "NOT_FOUND"
    );
    // the state filter
    wait_until(&app, &ann, id, 60, in_state("SUCCEEDED")).await;
    let filtered = app
        .ok(
            &ann,
            "{ jobs(filter: {state: [FAILED]}) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(count(filtered), 0);
}

#[tokio::test]
async fn bad_submissions_are_refused_and_write_nothing() {
    let app = TestApp::spawn().await;
    let (admin, member, _) = setup(&app, "uni").await;
    let mri = app_id(&app, &member, "mri-sim").await;
    let seg = app_id(&app, &member, "image-analysis").await;
    let hpc = json!({"name": "hpc", "kind": "SLURM", "partition": "debug", "maxNodes": 2,
                     "coresPerNode": 2, "walltimeLimitSeconds": 3600, "tenantIds": []});
    let (_, platform) = app
        .member("uni", "root@uni.org", &[Role::PlatformAdmin])
        .await;
    app.ok(
        &platform,
        "mutation($i: RegisterResourceInput!) { registerResource(input: $i) { id } }",
        json!({"i": hpc}),
    )
    .await;
    let q = "mutation($i: SubmitJobInput!) { submitJob(input: $i) { id } }";
    let before = app.event_count().await;
    let cases = [
        (
            json!({"applicationId": uuid::Uuid::new_v4().to_string(), "parameters": {}}),
            "NOT_FOUND",
            "application",
        ),
        (
            json!({"applicationId": seg, "parameters": {}}),
            "INVALID_INPUT",
            "parameters.image",
        ),
        (
            json!({"applicationId": mri, "parameters": {"size": "big"}}),
            "INVALID_INPUT",
            "parameters.size",
        ),
        (
            json!({"applicationId": mri, "parameters": {"size": 100000}}),
            "INVALID_INPUT",
            "parameters.size",
        ),
        (
            json!({"applicationId": mri, "parameters": {"sequence": "fast"}}),
            "INVALID_INPUT",
            "parameters.sequence",
        ),
        (
            json!({"applicationId": seg, "parameters": {"image": "/etc/passwd"}}),
            "INVALID_INPUT",
            "parameters.image",
        ),
        (
            json!({"applicationId": seg, "parameters": {"image": "sample:image-analysis/../../x"}}),
            "INVALID_INPUT",
            "parameters.image",
        ),
        (
            json!({"applicationId": mri, "parameters": {}, "resourceIds": ["nowhere"]}),
            "NOT_FOUND",
            "resource",
        ),
        (
            // not open to this tenant: as unknown (neither existence nor name revealed)
            json!({"applicationId": mri, "parameters": {}, "resourceIds": ["hpc"]}),
            "NOT_FOUND",
            "resource",
        ),
        (
            json!({"applicationId": mri, "parameters": {}, "nodes": 2}),
            "INVALID_INPUT",
            "nodes",
        ),
        (
            json!({"applicationId": mri, "parameters": {}, "retry": {"maxAttempts": 11}}),
            "INVALID_INPUT",
            "retry.maxAttempts",
        ),
    ];
    for (input, code, says) in cases {
        let body = app.gql(Some(&member), q, json!({"i": input})).await;
        assert_eq!(
            medgrid_tests::error_code(&body).as_deref(),
            Some(code),
            "{input}: {body}"
        );
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(says), "{input}: {message}");
    }
    // a disabled application is refused to its administrator, and hidden from members
    app.ok(
        &admin,
        "mutation($id: ID!) { setApplicationEnabled(id: $id, enabled: false) { id } }",
        json!({"id": mri}),
    )
    .await;
    let disabled = json!({"i": {"applicationId": mri, "parameters": {}}});
    assert_eq!(
        app.code(Some(&member), q, disabled.clone()).await,
        "NOT_FOUND"
    );
    assert_eq!(app.code(Some(&admin), q, disabled).await, "INVALID_INPUT");
    assert_eq!(app.event_count().await, before + 1, "only the disable");
}

/// One tenant's many jobs do not starve another's one: on a one-slot resource, the second
/// tenant's job runs as soon as the slot frees, not after the first tenant's queue.
#[tokio::test]
async fn the_dispatcher_takes_turns_across_tenants() {
    let app = TestApp::spawn().await;
    let (big_admin, big, _) = setup(&app, "big").await;
    let (small_admin, small, _) = setup(&app, "small").await;
    medgrid_graphql::usecases::compute::register(
        &app.operator(),
        "one",
        medgrid_domain::compute::ResourceKind::Local { slots: 1 },
        medgrid_domain::compute::Access::everyone(),
        None,
    )
    .await
    .unwrap();
    let big_shell = shell_app(&app, &big_admin).await;
    let small_shell = shell_app(&app, &small_admin).await;
    for _ in 0..20 {
        submit(
            &app,
            &big,
            json!({"applicationId": big_shell, "parameters": {"script": "sleep 1"}, "resourceIds": ["one"]}),
        )
        .await;
    }
    let mine = submit(
        &app,
        &small,
        json!({"applicationId": small_shell, "parameters": {"script": "true"}, "resourceIds": ["one"]}),
    )
    .await;
    let id = mine["id"].as_str().unwrap();
    wait_until(&app, &small, id, 60, in_state("SUCCEEDED")).await;
    // Count the big tenant's attempts planned while the small job waited. However slowly
    // the 20 submissions went (each big job ran while they were made), once the small
    // job is queued it takes the next free slot; one big attempt may have been planned
    // in the round that read the queue just before the small job arrived.
    let overtaken: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM job_attempts a JOIN jobs j ON j.id = a.job_id,
                jobs s JOIN job_attempts sa ON sa.job_id = s.id AND sa.number = 1
          WHERE s.id = $1::uuid AND j.owner_id <> s.owner_id
            AND a.planned_at > s.created_at AND a.planned_at < sa.planned_at",
    )
    .bind(id)
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert!(
        overtaken <= 1,
        "{overtaken} of the big tenant's jobs went before the small tenant's queued one"
    );
    // and the slot was never shared: at most one attempt ran at any time on `one`
    let overlaps: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM job_attempts a JOIN job_attempts b
            ON a.resource_name = 'one' AND b.resource_name = 'one' AND (a.job_id, a.number) < (b.job_id, b.number)
           AND a.started_at < COALESCE(b.ended_at, now()) AND b.started_at < COALESCE(a.ended_at, now())",
    )
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!(overlaps, 0);
}
