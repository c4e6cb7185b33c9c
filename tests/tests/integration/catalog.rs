//! The application catalog through GraphQL.

use medgrid_domain::Role;
use medgrid_tests::TestApp;
use serde_json::{Value, json};

pub const REGISTER: &str = "mutation($d: JSON!) { registerApplication(descriptor: $d) { id name version enabled inputs { id type optional default choices minimum maximum integer list } outputs { id } } }";

pub fn descriptor() -> Value {
    json!({
        "name": "pet-sim",
        "description": "PET acquisition simulation",
        "tool-version": "2.0",
        "schema-version": "0.5",
        "command-line": "petsim [PHANTOM] [COUNTS] [OUT]",
        "inputs": [
            {"id": "phantom", "name": "Phantom", "type": "File", "value-key": "[PHANTOM]"},
            {"id": "counts", "name": "Counts (millions)", "type": "Number", "value-key": "[COUNTS]",
             "command-line-flag": "--counts", "integer": true, "minimum": 1, "maximum": 500,
             "default-value": 10, "optional": true},
            {"id": "scanner", "name": "Scanner", "type": "String", "optional": true,
             "value-choices": ["biograph", "discovery"]}
        ],
        "output-files": [{"id": "sinogram", "name": "Sinogram", "value-key": "[OUT]", "path-template": "sino.raw"}]
    })
}

#[tokio::test]
async fn admins_register_members_browse() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let (_, admin) = app
        .member("acme", "admin@acme.org", &[Role::TenantAdmin])
        .await;
    let (_, bob) = app.member("acme", "bob@acme.org", &[]).await;

    let data = app.ok(&admin, REGISTER, json!({"d": descriptor()})).await;
    let reg = &data["registerApplication"];
    assert_eq!(reg["name"], "pet-sim");
    assert_eq!(reg["version"], "2.0");
    assert_eq!(
        reg["inputs"][1],
        json!({"id": "counts", "type": "NUMBER", "optional": true, "default": 10,
        "choices": null, "minimum": 1.0, "maximum": 500.0, "integer": true, "list": false})
    );
    assert_eq!(
        reg["inputs"][2]["choices"],
        json!(["biograph", "discovery"])
    );
    assert_eq!(reg["outputs"], json!([{"id": "sinogram"}]));
    let id = reg["id"].as_str().unwrap().to_owned();

    let list = app
        .ok(&bob, "{ applications { id name version } }", json!({}))
        .await;
    assert_eq!(list["applications"].as_array().unwrap().len(), 1);
    let one = app
        .ok(
            &bob,
            "query($id: ID!) { application(id: $id) { name descriptor } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(
        one["application"]["descriptor"],
        descriptor(),
        "the descriptor is kept whole"
    );

    // a disabled application disappears for members, not for admins
    let disable = "mutation($id: ID!, $e: Boolean!) { setApplicationEnabled(id: $id, enabled: $e) { enabled } }";
    app.ok(&admin, disable, json!({"id": id, "e": false})).await;
    assert!(
        app.ok(&bob, "{ applications { id } }", json!({})).await["applications"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        app.code(
            Some(&bob),
            "query($id: ID!) { application(id: $id) { name } }",
            json!({"id": id})
        )
        .await,
        "NOT_FOUND"
    );
    assert_eq!(
        app.ok(&admin, "{ applications { enabled } }", json!({}))
            .await["applications"][0]["enabled"],
        false
    );
    assert_eq!(
        app.code(Some(&bob), disable, json!({"id": id, "e": true}))
            .await,
        "NOT_FOUND"
    );
    app.ok(&admin, disable, json!({"id": id, "e": true})).await;
    assert_eq!(
        app.code(Some(&bob), disable, json!({"id": id, "e": false}))
            .await,
        "FORBIDDEN"
    );
}

#[tokio::test]
async fn bad_descriptors_and_duplicates_are_refused_without_events() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let (_, admin) = app
        .member("acme", "admin@acme.org", &[Role::TenantAdmin])
        .await;
    let (_, bob) = app.member("acme", "bob@acme.org", &[]).await;
    app.ok(&admin, REGISTER, json!({"d": descriptor()})).await;
    let before = app.event_count().await;

    assert_eq!(
        app.code(Some(&admin), REGISTER, json!({"d": descriptor()}))
            .await,
        "CONFLICT"
    );
    assert_eq!(
        app.code(Some(&bob), REGISTER, json!({"d": descriptor()}))
            .await,
        "FORBIDDEN"
    );
    let mut bad = descriptor();
    bad["inputs"][1]["maximum"] = json!("lots");
    let body = app.gql(Some(&admin), REGISTER, json!({"d": bad})).await;
    assert_eq!(
        medgrid_tests::error_code(&body).as_deref(),
        Some("INVALID_INPUT")
    );
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("inputs[1].maximum"), "{message}");
    let mut bad = descriptor();
    bad["inputs"][2]["value-key"] = json!("[MISSING]");
    let body = app.gql(Some(&admin), REGISTER, json!({"d": bad})).await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("inputs[2].value-key"),
        "{body}"
    );
    assert_eq!(
        app.code(Some(&admin), REGISTER, json!({"d": "not an object"}))
            .await,
        "INVALID_INPUT"
    );
    assert_eq!(app.event_count().await, before);
}

#[tokio::test]
async fn another_tenant_sees_nothing_of_a_catalog() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    app.tenant("beta").await;
    let (_, admin) = app
        .member("acme", "admin@acme.org", &[Role::TenantAdmin])
        .await;
    let (_, other) = app
        .member("beta", "admin@beta.org", &[Role::TenantAdmin])
        .await;
    let data = app.ok(&admin, REGISTER, json!({"d": descriptor()})).await;
    let id = data["registerApplication"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        app.ok(&other, "{ applications { id } }", json!({})).await["applications"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        app.code(
            Some(&other),
            "query($id: ID!) { application(id: $id) { name } }",
            json!({"id": id})
        )
        .await,
        "NOT_FOUND"
    );
    let disable =
        "mutation($id: ID!) { setApplicationEnabled(id: $id, enabled: false) { enabled } }";
    assert_eq!(
        app.code(Some(&other), disable, json!({"id": id})).await,
        "NOT_FOUND"
    );
    // the same descriptor is a separate application in each tenant
    app.ok(&other, REGISTER, json!({"d": descriptor()})).await;
}

pub const NETWORKED: &str = "mutation($id: ID!, $n: Boolean!) { setApplicationNetworked(id: $id, networked: $n) { id networked } }";

/// Whether the jobs read model says the job may reach the network.
async fn job_networked(app: &TestApp, job: &Value) -> bool {
    let id: uuid::Uuid = job["id"].as_str().unwrap().parse().unwrap();
    sqlx::query_scalar("SELECT (sandbox->>'networked')::boolean FROM jobs WHERE id = $1")
        .bind(id)
        .fetch_one(app.pool())
        .await
        .unwrap()
}

/// Whether the application is networked, as `token` sees it through GraphQL.
async fn shown_networked(app: &TestApp, token: &str, id: &str) -> Value {
    let query = "query($id: ID!) { application(id: $id) { networked } }";
    app.ok(token, query, json!({"id": id})).await["application"]["networked"].clone()
}

#[tokio::test]
async fn platform_admins_alone_set_an_application_networked_and_jobs_keep_it() {
    let app = TestApp::spawn().await;
    let (admin, member, _) = crate::jobs::setup(&app, "acme").await;
    let shell = crate::jobs::shell_app(&app, &admin).await;
    app.tenant("ops").await;
    let (_, root) = app
        .member("ops", "root@ops.org", &[Role::PlatformAdmin])
        .await;
    app.tenant("beta").await;
    let (_, beta) = app
        .member("beta", "admin@beta.org", &[Role::TenantAdmin])
        .await;
    assert_eq!(shown_networked(&app, &member, &shell).await, false);
    let job = json!({"applicationId": shell, "parameters": {"script": "true"}});

    // refusals write nothing (counted before any job runs and writes its own): members and
    // tenant admins, even of its own tenant, are forbidden; another tenant does not find
    // it; the same value again is no change
    let before = app.event_count().await;
    for (token, code) in [
        (&admin, "FORBIDDEN"),
        (&member, "FORBIDDEN"),
        (&beta, "NOT_FOUND"),
    ] {
        for n in [true, false] {
            let vars = json!({"id": shell, "n": n});
            assert_eq!(app.code(Some(token), NETWORKED, vars).await, code);
        }
    }
    app.ok(&root, NETWORKED, json!({"id": shell, "n": false}))
        .await;
    assert_eq!(app.event_count().await, before);
    assert_eq!(shown_networked(&app, &admin, &shell).await, false);

    let set = app
        .ok(&root, NETWORKED, json!({"id": shell, "n": true}))
        .await;
    assert_eq!(set["setApplicationNetworked"]["networked"], true);
    assert_eq!(shown_networked(&app, &admin, &shell).await, true);
    let while_set = crate::jobs::submit(&app, &member, job.clone()).await;
    assert!(job_networked(&app, &while_set).await);

    let unset = app
        .ok(&root, NETWORKED, json!({"id": shell, "n": false}))
        .await;
    assert_eq!(unset["setApplicationNetworked"]["networked"], false);
    let after = crate::jobs::submit(&app, &member, job).await;
    assert!(!job_networked(&app, &after).await);
    assert!(
        job_networked(&app, &while_set).await,
        "a job keeps what its application was at submission"
    );
}
