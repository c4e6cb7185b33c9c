//! Jobs meet spaces: File inputs named by paths in spaces, outputs saved in the owner's
//! home under `jobs/<job>/`; and the tenant's storage quota over all its spaces.

use std::time::{Duration, Instant};

use medgrid_domain::Role;
use medgrid_tests::TestApp;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::jobs::{register_app, setup};

const FIELDS: &str = "id state reason timeline { state reason }
    outputs { path size node { id path size sha256 mediaType } }
    outputsFolder { id path } outputsNote";

/// Copies its input into `results/` and counts its bytes.
async fn copy_app(app: &TestApp, admin: &str) -> String {
    let descriptor = json!({
        "name": "copy", "tool-version": "1", "description": "Copies a file.",
        "schema-version": "0.5",
        "command-line": "mkdir -p results && cp [DATA] results/copy.dat && wc -c < [DATA] > count.txt",
        "inputs": [{"id": "data", "name": "Data", "type": "File", "value-key": "[DATA]"}],
        "output-files": [
            {"id": "copy", "name": "Copy", "path-template": "results/copy.dat"},
            {"id": "count", "name": "Count", "path-template": "count.txt"}
        ]
    });
    register_app(app, admin, descriptor).await
}

async fn home_id(app: &TestApp, token: &str) -> String {
    let data = app
        .ok(
            token,
            "{ space(path: \"/home\") { node { id } } }",
            json!({}),
        )
        .await;
    data["space"]["node"]["id"].as_str().unwrap().to_owned()
}

async fn submit(app: &TestApp, token: &str, application: &str, data: &str) -> Value {
    let query = format!("mutation($i: SubmitJobInput!) {{ submitJob(input: $i) {{ {FIELDS} }} }}");
    let input = json!({"applicationId": application, "parameters": {"data": data}});
    app.ok(token, &query, json!({"i": input})).await["submitJob"].clone()
}

async fn refused(app: &TestApp, token: &str, application: &str, data: &str) -> String {
    let query = "mutation($i: SubmitJobInput!) { submitJob(input: $i) { id } }";
    let input = json!({"applicationId": application, "parameters": {"data": data}});
    app.code(Some(token), query, json!({"i": input})).await
}

async fn job(app: &TestApp, token: &str, id: &str) -> Value {
    let query = format!("query($id: ID!) {{ job(id: $id) {{ {FIELDS} }} }}");
    app.ok(token, &query, json!({"id": id})).await["job"].clone()
}

/// Polls the job until it failed or its outputs were saved (or refused), at most 2 min.
pub async fn settled(app: &TestApp, token: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let j = job(app, token, id).await;
        let saved = !j["outputsFolder"].is_null() || !j["outputsNote"].is_null();
        if j["state"] == "FAILED" || saved {
            return j;
        }
        assert!(
            Instant::now() < deadline,
            "outputs not saved in time: {j:#}"
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

fn hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

#[tokio::test]
async fn a_job_reads_a_file_of_a_space_and_its_outputs_land_in_the_home() {
    let app = TestApp::spawn().await;
    let (admin, ann, _) = setup(&app, "uni").await;
    let ann_id = app.ok(&ann, "{ me { id } }", json!({})).await["me"]["id"].clone();
    let copy = copy_app(&app, &admin).await;
    let root = home_id(&app, &ann).await;
    let folder = app
        .ok(
            &ann,
            "mutation($p: ID!) { createFolder(parentId: $p, name: \"data\") { id } }",
            json!({"p": root}),
        )
        .await["createFolder"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let content: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let (status, body) = app
        .upload(&ann, &folder, "scan é.dat", content.clone())
        .await;
    assert_eq!(status, 201, "{body}");

    // the home is full: outputs are still kept (days of compute are not thrown away)
    let set = "mutation($o: GranteeInput!, $b: Float) { setSpaceQuota(owner: $o, bytes: $b) { used limit } }";
    app.ok(&admin, set, json!({"o": {"memberId": ann_id}, "b": 5000.0}))
        .await;

    let submitted = submit(&app, &ann, &copy, "/home/data/scan é.dat").await;
    let id = submitted["id"].as_str().unwrap().to_owned();
    let done = settled(&app, &ann, &id).await;
    assert_eq!(done["state"], "SUCCEEDED", "{done:#}");
    assert_eq!(done["outputsNote"], Value::Null, "{done:#}");
    let folder_path = format!("/home/jobs/{id}");
    assert_eq!(done["outputsFolder"]["path"], folder_path);
    let terminal = done["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["state"] == "SUCCEEDED")
        .count();
    assert_eq!(terminal, 1, "saving outputs is no new state: {done:#}");

    let outputs = done["outputs"].as_array().unwrap();
    let copied = outputs
        .iter()
        .find(|o| o["path"] == "results/copy.dat")
        .unwrap();
    assert_eq!(
        copied["node"]["path"],
        format!("{folder_path}/results/copy.dat")
    );
    assert_eq!(copied["node"]["sha256"], hex(&content));
    let node = copied["node"]["id"].as_str().unwrap();
    let got = app.download(&ann, node, None).await;
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap().to_vec(), content);
    let count = outputs.iter().find(|o| o["path"] == "count.txt").unwrap();
    assert_eq!(count["node"]["mediaType"], "text/plain");
    let got = app
        .download(&ann, count["node"]["id"].as_str().unwrap(), None)
        .await;
    assert_eq!(got.text().await.unwrap().trim(), "5000");

    // the copy's content is the input's: stored once; the home is over its quota now
    let (rows, _) = app.blob_count().await;
    assert_eq!(
        rows, 2,
        "input and copy share one content, the count is another"
    );
    let (status, body) = app.upload(&ann, &root, "more.txt", vec![1]).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "QUOTA_EXCEEDED");

    // the admin sees the job but not the member's home: outputs without nodes
    let seen = job(&app, &admin, &id).await;
    assert_eq!(seen["outputs"][0]["node"], Value::Null);
    assert_eq!(seen["outputsFolder"], Value::Null);
}

#[tokio::test]
async fn file_inputs_the_member_may_not_read_are_refused() {
    let app = TestApp::spawn().await;
    let (admin, ann, _) = setup(&app, "uni").await;
    let (_, bob) = app.member("uni", "bob@uni.org", &[]).await;
    let copy = copy_app(&app, &admin).await;
    let root = home_id(&app, &ann).await;
    let (status, _) = app.upload(&ann, &root, "mine.dat", b"ann's".to_vec()).await;
    assert_eq!(status, 201);
    home_id(&app, &bob).await; // made on first use
    let events = app.event_count().await;
    // bob's /home is his own: ann's file is not there for him
    assert_eq!(
        refused(&app, &bob, &copy, "/home/mine.dat").await,
        "NOT_FOUND"
    );
    // a folder, a path outside the spaces, a traversal
    assert_eq!(refused(&app, &ann, &copy, "/home").await, "INVALID_INPUT");
    assert_eq!(
        refused(&app, &ann, &copy, "/etc/passwd").await,
        "INVALID_INPUT"
    );
    assert_eq!(
        refused(&app, &ann, &copy, "/home/../mine.dat").await,
        "INVALID_INPUT"
    );
    // a file in the trash
    let node = app
        .ok(
            &ann,
            "{ space(path: \"/home/mine.dat\") { node { id } } }",
            json!({}),
        )
        .await["space"]["node"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.event_count().await, events, "refusals record nothing");
    app.ok(
        &ann,
        "mutation($id: ID!) { deleteNode(id: $id) { id } }",
        json!({"id": node}),
    )
    .await;
    assert_eq!(
        refused(&app, &ann, &copy, "/home/mine.dat").await,
        "NOT_FOUND"
    );
}

#[tokio::test]
async fn a_tenant_storage_quota_holds_across_its_spaces() {
    let app = TestApp::spawn().await;
    app.tenant("uni").await;
    app.tenant("ops").await;
    let (_, admin) = app
        .member("uni", "admin@uni.org", &[Role::TenantAdmin])
        .await;
    let (_, ann) = app.member("uni", "ann@uni.org", &[]).await;
    let (_, bob) = app.member("uni", "bob@uni.org", &[]).await;
    let (_, root) = app
        .member("ops", "root@ops.org", &[Role::PlatformAdmin])
        .await;
    let tenant = app.ok(&ann, "{ me { tenant { id } } }", json!({})).await["me"]["tenant"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let set = "mutation($t: ID!, $b: Float) { setTenantStorageQuota(id: $t, bytes: $b) { storageQuota storageUsed } }";
    assert_eq!(
        app.code(Some(&admin), set, json!({"t": tenant, "b": 1000.0}))
            .await,
        "FORBIDDEN",
        "the institution's own admin does not raise its limit"
    );
    assert_eq!(
        app.code(Some(&root), set, json!({"t": tenant, "b": 1.5}))
            .await,
        "INVALID_INPUT"
    );
    let quota = app.ok(&root, set, json!({"t": tenant, "b": 1000.0})).await;
    assert_eq!(
        quota["setTenantStorageQuota"],
        json!({"storageQuota": 1000.0, "storageUsed": 0.0})
    );

    let ann_home = home_id(&app, &ann).await;
    let (status, body) = app.upload(&ann, &ann_home, "a.bin", vec![1u8; 600]).await;
    assert_eq!(status, 201, "{body}");
    // bob's home has no quota of its own, the tenant's holds
    let bob_home = home_id(&app, &bob).await;
    let events = app.event_count().await;
    let (status, body) = app.upload(&bob, &bob_home, "b.bin", vec![2u8; 600]).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "QUOTA_EXCEEDED");
    assert_eq!(app.event_count().await, events, "nothing recorded");
    let (status, body) = app.upload(&bob, &bob_home, "b.bin", vec![2u8; 400]).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = app.upload(&bob, &bob_home, "c.bin", vec![3u8; 1]).await;
    assert_eq!(status, 413, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("institution"),
        "{body}"
    );
    let seen = app
        .ok(
            &admin,
            "{ me { tenant { storageQuota storageUsed } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        seen["me"]["tenant"],
        json!({"storageQuota": 1000.0, "storageUsed": 1000.0})
    );
    // lifted: uploads go on
    app.ok(&root, set, json!({"t": tenant, "b": null})).await;
    let (status, _) = app.upload(&bob, &bob_home, "c.bin", vec![3u8; 1]).await;
    assert_eq!(status, 201);
}
