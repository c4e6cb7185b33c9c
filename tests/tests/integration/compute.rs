//! Compute resources: platform administrators register and drain them; tenants and groups
//! see only those they may use.

use medgrid_domain::Role;
use medgrid_tests::TestApp;
use serde_json::json;

use crate::jobs::setup;
use crate::sandbox::{ended_reason, probe_app, run};

pub const REGISTER: &str = "mutation($i: RegisterResourceInput!) { registerResource(input: $i) { id name kind partition maxNodes coresPerNode walltimeLimitSeconds defaultMemoryMb drained } }";
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

/// A resource may say how much memory an attempt gets when its application does not: set
/// by platform administrators only, within 1 MiB to 16 TiB, the field named otherwise.
#[tokio::test]
async fn a_default_memory_per_attempt_is_registered_and_checked() {
    let app = TestApp::spawn().await;
    app.tenant("ops").await;
    let (_, root) = app
        .member("ops", "root@ops.org", &[Role::PlatformAdmin])
        .await;
    let (_, admin) = app
        .member("ops", "admin@ops.org", &[Role::TenantAdmin])
        .await;
    let small = json!({"name": "small", "kind": "LOCAL", "slots": 1, "allTenants": true,
                       "defaultMemoryMb": 300});
    assert_eq!(
        app.code(Some(&admin), REGISTER, json!({"i": small})).await,
        "FORBIDDEN"
    );
    let data = app.ok(&root, REGISTER, json!({"i": small})).await;
    assert_eq!(data["registerResource"]["defaultMemoryMb"], 300);
    let listed = app
        .ok(&root, "{ resources { name defaultMemoryMb } }", json!({}))
        .await;
    assert_eq!(
        listed["resources"],
        json!([{"name": "small", "defaultMemoryMb": 300}])
    );

    let before = app.event_count().await;
    for memory in [0, -1, 16 * 1024 * 1024 + 1] {
        let input = json!({"name": "big", "kind": "LOCAL", "slots": 1, "defaultMemoryMb": memory});
        let body = app.gql(Some(&root), REGISTER, json!({"i": input})).await;
        assert_eq!(
            medgrid_tests::error_code(&body).as_deref(),
            Some("INVALID_INPUT"),
            "{memory}: {body}"
        );
        let message = body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.starts_with("defaultMemoryMb: "), "{memory}: {body}");
    }
    assert_eq!(app.event_count().await, before, "nothing recorded");
}

/// The resource's default really holds an attempt whose application asks for no memory:
/// 500 MiB is too much on a resource giving 300 MiB (MEMORY_LIMIT), and fine on the shipped
/// `local` one, which leaves it to the installation (4096 MiB).
#[tokio::test]
async fn the_default_memory_of_a_resource_holds_its_attempts() {
    let app = TestApp::spawn().await;
    let (admin, member, _) = setup(&app, "uni").await;
    let (_, root) = app
        .member("uni", "root@uni.org", &[Role::PlatformAdmin])
        .await;
    let small = json!({"name": "small", "kind": "LOCAL", "slots": 1, "allTenants": true,
                       "defaultMemoryMb": 300});
    app.ok(&root, REGISTER, json!({"i": small})).await;
    let probe = probe_app(&app, &admin, "probe", json!({})).await;
    // every byte written, so the pages are really used; the sleep leaves the stop to the
    // supervisor, which says why
    let script = "python3 -c 'b = b\"x\" * (500 * 2**20)' || sleep 30";

    let held = run(&app, &member, &probe, script, Some("small")).await;
    assert_eq!(held["state"], "FAILED", "{held:#}");
    assert!(ended_reason(&held).contains("MEMORY_LIMIT"), "{held:#}");
    let free = run(&app, &member, &probe, script, Some("local")).await;
    assert_eq!(free["state"], "SUCCEEDED", "{free:#}");
}
