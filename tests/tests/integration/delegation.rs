//! Job-scoped delegation: a running attempt gets a token for its own job's files and its
//! inputs, nothing else, dead once the attempt ends; no person's token reaches the job.

use medgrid_tests::{TestApp, error_code};
use serde_json::{Value, json};

use crate::jobs::{app_id, setup, shell_app, submit, wait_until};

/// A shell job writing `text` to out.txt; returns its id once it succeeded.
async fn finished(app: &TestApp, token: &str, shell: &str, text: &str) -> String {
    let j = submit(
        app,
        token,
        json!({"applicationId": shell, "parameters": {"script": format!("echo '{text}' > out.txt")}}),
    )
    .await;
    let id = j["id"].as_str().unwrap().to_owned();
    let done = wait_until(app, token, &id, 60, |j| {
        ["SUCCEEDED", "FAILED"].contains(&j["state"].as_str().unwrap())
    })
    .await;
    assert_eq!(done["state"], "SUCCEEDED", "{done:#}");
    id
}

/// An application with a file input that runs a script (`$0` is the staged input).
async fn fetch_app(app: &TestApp, admin: &str) -> String {
    let descriptor = json!({
        "name": "fetch", "tool-version": "1", "description": "Runs a script on a file.",
        "schema-version": "0.5", "command-line": "sh -c [SCRIPT] [DATA]",
        "inputs": [
            {"id": "script", "name": "Script", "type": "String", "value-key": "[SCRIPT]"},
            {"id": "data", "name": "Data", "type": "File", "value-key": "[DATA]"}
        ],
        "output-files": [
            {"id": "report", "name": "Report", "path-template": "report.txt", "optional": true},
            {"id": "env", "name": "Env", "path-template": "env.txt", "optional": true}
        ]
    });
    let q = "mutation($d: JSON!) { registerApplication(descriptor: $d) { id } }";
    app.ok(admin, q, json!({"d": descriptor})).await["registerApplication"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn download(app: &TestApp, bearer: &str, job: &str, path: &str) -> reqwest::Response {
    app.http()
        .get(format!("{}/files/jobs/{job}/outputs/{path}", app.url))
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_job_token_opens_its_inputs_only_while_it_runs() {
    let app = TestApp::spawn().await;
    let (admin, member, _) = setup(&app, "uni").await;
    let shell = shell_app(&app, &admin).await;
    let fetch = fetch_app(&app, &admin).await;
    let _ = app_id(&app, &member, "fetch").await;
    let input = finished(&app, &member, &shell, "hello from the input job").await;
    let other = finished(&app, &member, &shell, "not for the fetch job").await;

    let script = format!(
        r#"h="Authorization: Bearer $MEDGRID_JOB_TOKEN"; u="$MEDGRID_URL/files/jobs"
{{
echo "staged=$(cat "$0")"
echo "input=$(curl -s -H "$h" "$u/{input}/outputs/out.txt")"
echo "other=$(curl -s -o /dev/null -w '%{{http_code}}' -H "$h" "$u/{other}/outputs/out.txt")"
echo "graphql=$(curl -s -H "$h" -H 'content-type: application/json' -d '{{"query":"{{ me {{ id }} }}"}}' "$MEDGRID_URL/graphql")"
echo "in_script=$(grep -cF "$MEDGRID_JOB_TOKEN" /medgrid/job.sh)"
echo "token=$MEDGRID_JOB_TOKEN"
}} > report.txt
env > env.txt"#
    );
    let j = submit(
        &app,
        &member,
        json!({"applicationId": fetch, "parameters": {"script": script, "data": format!("job:{input}/out.txt")}}),
    )
    .await;
    let id = j["id"].as_str().unwrap().to_owned();
    let done = wait_until(&app, &member, &id, 60, |j| {
        ["SUCCEEDED", "FAILED"].contains(&j["state"].as_str().unwrap())
    })
    .await;
    assert_eq!(done["state"], "SUCCEEDED", "{done:#}");

    let out = download(&app, &member, &id, "report.txt")
        .await
        .text()
        .await
        .unwrap();
    let line = |key: &str| -> String {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("no {key} in {out}"))
            .to_owned()
    };
    assert_eq!(line("staged"), "hello from the input job");
    assert_eq!(line("input"), "hello from the input job", "{out}");
    assert_eq!(line("other"), "404", "another job's file: {out}");
    let graphql: Value = serde_json::from_str(&line("graphql")).unwrap();
    assert_eq!(error_code(&graphql).as_deref(), Some("FORBIDDEN"), "{out}");
    assert_eq!(
        line("in_script"),
        "0",
        "the token is never written to job.sh"
    );
    let token = line("token");
    assert!(token.starts_with("mgj_"), "{token}");

    // no person's token is in the job's environment
    let env = download(&app, &member, &id, "env.txt")
        .await
        .text()
        .await
        .unwrap();
    assert!(env.contains("MEDGRID_JOB_TOKEN=mgj_"));
    for person in [&member, &admin] {
        assert!(!env.contains(person.as_str()));
    }
    assert!(!env.contains("mgt_"), "a personal token reached the job");

    // the attempt has ended: the token is dead
    let res = download(&app, &token, &input, "out.txt").await;
    assert_eq!(res.status(), reqwest::StatusCode::UNAUTHORIZED);
    // and a forged one never worked
    let forged = format!("{}x", &token[..token.len() - 1]);
    let res = download(&app, &forged, &input, "out.txt").await;
    assert_eq!(res.status(), reqwest::StatusCode::UNAUTHORIZED);
}
