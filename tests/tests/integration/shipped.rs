//! The shipped catalog (`apps/`): every application names its container image, passes
//! `bosh validate`, and runs from its image with its samples (the descriptor's own Boutiques
//! test); and a descriptor of the Boutiques package's examples that names an image runs
//! unchanged through the tests' mirror of Docker Hub.

use std::path::{Path, PathBuf};

use medgrid_tests::{TestApp, apps_dir};
use serde_json::{Value, json};

use crate::jobs::{app_id, register_app, setup, submit, wait_until};

/// Every `apps/<dir>/descriptor.json`, with its directory's name.
fn shipped() -> Vec<(String, Value)> {
    let mut all: Vec<(String, Value)> = std::fs::read_dir(apps_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("descriptor.json").is_file())
        .map(|e| {
            let text = std::fs::read_to_string(e.path().join("descriptor.json")).unwrap();
            (
                e.file_name().into_string().unwrap(),
                serde_json::from_str(&text).unwrap(),
            )
        })
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

/// A variable the set-up scripts export; its absence fails the test (it never skips).
fn required(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is required: run scripts/boutiques (scripts/test does)"))
}

#[test]
fn every_shipped_descriptor_names_its_image_and_passes_bosh_validate() {
    let bosh = required("MEDGRID_TEST_BOSH");
    let shipped = shipped();
    assert!(shipped.len() >= 8, "{} applications", shipped.len());
    for (dir, descriptor) in shipped {
        let image = &descriptor["container-image"];
        assert_eq!(image["type"], "docker", "{dir}");
        assert!(
            image["image"]
                .as_str()
                .is_some_and(|i| i.starts_with("medgrid/")),
            "{dir}: {image}"
        );
        assert!(
            descriptor["tests"][0]["invocation"].is_object(),
            "{dir}: a test invocation"
        );
        let out = std::process::Command::new(&bosh)
            .arg("validate")
            .arg(apps_dir().join(&dir).join("descriptor.json"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{dir}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A test invocation's parameters, its File values given as samples of `dir`.
fn with_samples(descriptor: &Value, dir: &str, invocation: &Value) -> Value {
    let files: Vec<&str> = descriptor["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"] == "File")
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    let sample = |v: &Value| json!(format!("sample:{dir}/{}", v.as_str().unwrap()));
    let mut parameters = invocation.clone();
    for id in files {
        let given = parameters[id].clone();
        parameters[id] = match &given {
            Value::Null => continue,
            Value::Array(items) => Value::Array(items.iter().map(sample).collect()),
            single => sample(single),
        };
    }
    parameters
}

/// Every shipped application runs its own Boutiques test from its image, with its samples:
/// it succeeds with every output its test names, not empty.
#[tokio::test]
async fn every_shipped_application_runs_from_its_image_with_its_samples() {
    let app = TestApp::spawn().await;
    let (_, member, _) = setup(&app, "uni").await;
    let mut ids = Vec::new();
    for (dir, descriptor) in shipped() {
        let name = descriptor["name"].as_str().unwrap().to_owned();
        let test = &descriptor["tests"][0];
        let parameters = with_samples(&descriptor, &dir, &test["invocation"]);
        let application = app_id(&app, &member, &name).await;
        let j = submit(
            &app,
            &member,
            json!({"applicationId": application, "parameters": parameters}),
        )
        .await;
        ids.push((name, j["id"].as_str().unwrap().to_owned(), test.clone()));
    }
    for (name, id, test) in ids {
        let job = wait_until(&app, &member, &id, 600, |j| {
            ["SUCCEEDED", "FAILED", "CANCELLED"].contains(&j["state"].as_str().unwrap())
        })
        .await;
        assert_eq!(job["state"], "SUCCEEDED", "{name}: {job:#}");
        let outputs = job["outputs"].as_array().unwrap();
        let wanted = test["assertions"]["output-files"]
            .as_array()
            .map_or(0, Vec::len);
        assert!(outputs.len() >= wanted, "{name}: {job:#}");
        assert!(
            outputs.iter().all(|o| o["size"].as_u64().unwrap() > 0),
            "{name}: an empty output {job:#}"
        );
    }
}

/// The Boutiques package's example 3 (`container-image` `ubuntu:latest`, a bash command
/// line quoting its value-key, a log in a folder it does not make) runs unchanged: through
/// the mirror, with the shell it names, its value written as given.
#[tokio::test]
async fn a_published_descriptor_with_an_image_runs_unchanged() {
    let examples = PathBuf::from(required("MEDGRID_TEST_BOUTIQUES_EXAMPLES"));
    let read = |path: &Path| -> Value {
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let descriptor = read(&examples.join("example3/example3.json"));
    assert_eq!(descriptor["container-image"]["image"], "ubuntu:latest");
    let app = TestApp::spawn().await;
    let (admin, member, _) = setup(&app, "uni").await;
    let example = register_app(&app, &admin, descriptor).await;
    // a file of the member's home for its File input, and a value with quotes and $( )
    let home = app
        .ok(
            &member,
            "{ space(path: \"/home\") { node { id } } }",
            json!({}),
        )
        .await;
    let home = home["space"]["node"]["id"].as_str().unwrap().to_owned();
    let (status, _) = app
        .upload(&member, &home, "scan.txt", b"data".to_vec())
        .await;
    assert_eq!(status, 201);
    let said = "it's $(echo not run) \"quoted\"";
    let j = submit(
        &app,
        &member,
        json!({"applicationId": example, "parameters": {"str_input": [said, "two"], "file_input": "/home/scan.txt"}}),
    )
    .await;
    let id = j["id"].as_str().unwrap().to_owned();
    let job = wait_until(&app, &member, &id, 300, |j| {
        ["SUCCEEDED", "FAILED"].contains(&j["state"].as_str().unwrap())
    })
    .await;
    assert_eq!(job["state"], "SUCCEEDED", "{job:#}");
    let log = &job["outputs"][0];
    assert_eq!(log["path"], "./test_temp/log-scan.txt", "{job:#}");
    let text = app
        .http()
        .get(format!(
            "{}{}",
            app.url,
            log["downloadUrl"].as_str().unwrap()
        ))
        .bearer_auth(&member)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(text, format!("{said} two scan.txt\n"), "{job:#}");
}
