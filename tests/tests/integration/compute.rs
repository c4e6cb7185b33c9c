//! Compute resources: platform administrators register and drain them; tenants and groups
//! see only those they may use.

use medgrid_domain::Role;
use medgrid_tests::TestApp;
use serde_json::json;

pub const REGISTER: &str = "mutation($i: RegisterResourceInput!) { registerResource(input: $i) { id name kind partition maxNodes coresPerNode walltimeLimitSeconds drained } }";
const LIST: &str = "{ resources { name } }";

fn names(data: &serde_json::Value) -> Vec<String> {
    data["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn resources_are_registered_by_platform_admins_and_seen_by_who_may_use_them() {
    let app = TestApp::spawn().await;
    let acme = app.tenant("acme").await;
    app.tenant("beta").await;
    app.tenant("ops").await;
    let (_, root) = app
        .member("ops", "root@ops.org", &[Role::PlatformAdmin])
        .await;
    let (_, admin) = app
        .member("acme", "admin@acme.org", &[Role::TenantAdmin])
        .await;
    let (_, ann) = app.member("acme", "ann@acme.org", &[]).await;
    let (bea_id, bea) = app.member("beta", "bea@beta.org", &[]).await;
    let (_, beta_admin) = app
        .member("beta", "admin@beta.org", &[Role::TenantAdmin])
        .await;

    let hpc = json!({"name": "hpc", "kind": "SLURM", "partition": "debug", "maxNodes": 4, "coresPerNode": 2,
                     "walltimeLimitSeconds": 86400, "tenantIds": [acme.to_string()]});
    let data = app.ok(&root, REGISTER, json!({"i": hpc})).await;
    assert_eq!(data["registerResource"]["kind"], "SLURM");
    assert_eq!(data["registerResource"]["maxNodes"], 4);
    let hpc_id = data["registerResource"]["id"].as_str().unwrap().to_owned();

    // a group of another tenant may be granted a resource too
    let g = app
        .ok(
            &beta_admin,
            "mutation { createGroup(name: \"Physics\") { id } }",
            json!({}),
        )
        .await;
    let group = g["createGroup"]["id"].as_str().unwrap().to_owned();
    let gpu = json!({"name": "cluster-b", "kind": "SLURM", "partition": "gpu", "maxNodes": 2, "coresPerNode": 8,
                     "walltimeLimitSeconds": 3600, "groupIds": [group]});
    app.ok(&root, REGISTER, json!({"i": gpu})).await;

    assert_eq!(names(&app.ok(&ann, LIST, json!({})).await), vec!["hpc"]);
    assert!(names(&app.ok(&bea, LIST, json!({})).await).is_empty());
    app.ok(
        &beta_admin,
        "mutation($g: ID!, $m: ID!) { addGroupMember(groupId: $g, memberId: $m) { id } }",
        json!({"g": group, "m": bea_id.to_string()}),
    )
    .await;
    assert_eq!(
        names(&app.ok(&bea, LIST, json!({})).await),
        vec!["cluster-b"]
    );
    assert_eq!(
        names(&app.ok(&root, LIST, json!({})).await),
        vec!["cluster-b", "hpc"]
    );

    // drain and enable: platform admins only; other tenants cannot even find it
    let drain = "mutation($id: ID!) { drainResource(id: $id, reason: \"maintenance\") { drained drainReason } }";
    assert_eq!(
        app.code(Some(&admin), drain, json!({"id": hpc_id})).await,
        "FORBIDDEN"
    );
    assert_eq!(
        app.code(Some(&bea), drain, json!({"id": hpc_id})).await,
        "NOT_FOUND"
    );
    let data = app.ok(&root, drain, json!({"id": hpc_id})).await;
    assert_eq!(
        data["drainResource"],
        json!({"drained": true, "drainReason": "maintenance"})
    );
    let enable = "mutation($id: ID!) { enableResource(id: $id) { drained } }";
    assert_eq!(
        app.ok(&root, enable, json!({"id": hpc_id})).await["enableResource"]["drained"],
        false
    );
}

#[tokio::test]
async fn bad_resources_are_refused_without_events() {
    let app = TestApp::spawn().await;
    app.tenant("ops").await;
    let (_, root) = app
        .member("ops", "root@ops.org", &[Role::PlatformAdmin])
        .await;
    let (_, admin) = app
        .member("ops", "admin@ops.org", &[Role::TenantAdmin])
        .await;
    let local = json!({"name": "host", "kind": "LOCAL", "slots": 2, "allTenants": true});
    app.ok(&root, REGISTER, json!({"i": local})).await;
    let before = app.event_count().await;
    for (input, code) in [
        (local.clone(), "CONFLICT"),
        (
            json!({"name": "x2", "kind": "SLURM", "partition": "p", "maxNodes": 0, "coresPerNode": 1, "walltimeLimitSeconds": 600}),
            "INVALID_INPUT",
        ),
        (
            json!({"name": "x3", "kind": "SLURM", "maxNodes": 1, "coresPerNode": 1, "walltimeLimitSeconds": 600}),
            "INVALID_INPUT",
        ),
        (
            json!({"name": "Bad Name", "kind": "LOCAL", "slots": 1}),
            "INVALID_INPUT",
        ),
        (
            json!({"name": "x4", "kind": "LOCAL", "slots": 1, "tenantIds": [uuid::Uuid::now_v7().to_string()]}),
            "NOT_FOUND",
        ),
    ] {
        assert_eq!(
            app.code(Some(&root), REGISTER, json!({"i": input})).await,
            code,
            "{input}"
        );
    }
    let other = json!({"name": "mine", "kind": "LOCAL", "slots": 1});
    assert_eq!(
        app.code(Some(&admin), REGISTER, json!({"i": other})).await,
        "FORBIDDEN"
    );
    assert_eq!(app.event_count().await, before);
}
