//! The HTTP surface: malformed requests, limits, GraphiQL, health, readiness, metrics.

use medgrid_domain::Role;
use medgrid_tests::{TestApp, error_code, test_config};
use serde_json::{Value, json};

#[tokio::test]
async fn malformed_requests_get_invalid_input() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let (_, admin) = app
        .member("acme", "admin@acme.org", &[Role::TenantAdmin])
        .await;
    assert_eq!(
        app.code(Some(&admin), "{ me { email ", json!({})).await,
        "INVALID_INPUT"
    );
    assert_eq!(
        app.code(Some(&admin), "{ me { noSuchField } }", json!({}))
            .await,
        "INVALID_INPUT"
    );
    assert_eq!(
        app.code(
            Some(&admin),
            "query($m: ID!) { member(id: $m) { email } }",
            json!({})
        )
        .await,
        "INVALID_INPUT"
    );
    assert_eq!(
        app.code(
            Some(&admin),
            "query($m: ID!) { member(id: $m) { email } }",
            json!({"m": "not-a-uuid"})
        )
        .await,
        "NOT_FOUND"
    );
    assert_eq!(
        app.code(
            Some(&admin),
            "query($m: ID!) { member(id: $m) { email } }",
            json!({"m": uuid::Uuid::now_v7().to_string()})
        )
        .await,
        "NOT_FOUND"
    );
    assert_eq!(
        app.code(
            Some(&admin),
            "{ members(first: 1000) { edges { cursor } } }",
            json!({})
        )
        .await,
        "INVALID_INPUT"
    );
    assert_eq!(
        app.code(
            Some(&admin),
            "{ members(after: \"junk\") { edges { cursor } } }",
            json!({})
        )
        .await,
        "INVALID_INPUT"
    );
    let resp = app
        .http()
        .post(format!("{}/graphql", app.url))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(error_code(&body).as_deref(), Some("INVALID_INPUT"));
}

#[tokio::test]
async fn depth_and_complexity_are_limited() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let (_, admin) = app
        .member("acme", "admin@acme.org", &[Role::TenantAdmin])
        .await;
    let mut deep = String::from("email");
    for _ in 0..8 {
        deep = format!("groups {{ member {{ {deep} }} }}");
    }
    let query = format!("{{ me {{ {deep} }} }}");
    let body = app.gql(Some(&admin), &query, json!({})).await;
    assert_eq!(
        error_code(&body).as_deref(),
        Some("INVALID_INPUT"),
        "{body}"
    );
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("nested too deep"),
        "{body}"
    );

    let wide: String = (0..300)
        .map(|i| format!("a{i}: me {{ email name }} "))
        .collect();
    let body = app
        .gql(Some(&admin), &format!("{{ {wide} }}"), json!({}))
        .await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("complex"),
        "{body}"
    );
}

#[tokio::test]
async fn graphiql_only_in_dev_mode() {
    let app = TestApp::spawn().await;
    let resp = app.get("/graphql").await;
    assert_eq!(resp.status(), 405);
    let mut config = test_config();
    config.dev_mode = true;
    let dev = TestApp::spawn_with(config).await;
    let resp = dev.get("/graphql").await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.text()
            .await
            .unwrap()
            .to_lowercase()
            .contains("graphiql")
    );
}

#[tokio::test]
async fn health_readiness_metrics_and_request_ids() {
    let app = TestApp::spawn().await;
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), 200);
    assert!(
        health.headers().contains_key("x-request-id"),
        "request ids are echoed"
    );
    // readiness: the processors take their leases and create their checkpoints
    let mut ready = Value::Null;
    for _ in 0..100 {
        let resp = app.get("/readyz").await;
        ready = resp.json().await.unwrap();
        if ready["ready"] == true {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(ready["ready"], true, "{ready}");
    assert_eq!(ready["migrations"], true);

    app.tenant("acme").await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    for name in [
        "medgrid_http_request_duration_seconds",
        "medgrid_command_duration_seconds",
        "medgrid_projection_lag_events",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }
    assert!(metrics.contains("aggregate=\"Tenant\""));
}
