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
    let mut config = test_config();
    config.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    let app = TestApp::spawn_with(config).await;
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
    let scrape = format!("{}/metrics", app.metrics_url.as_deref().unwrap());
    let metrics = app.http().get(scrape).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    let metrics = metrics.text().await.unwrap();
    for name in [
        "medgrid_http_request_duration_seconds",
        "medgrid_command_duration_seconds",
        "medgrid_projection_lag_events",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }
    assert!(metrics.contains("aggregate=\"Tenant\""));
}

/// `/metrics` told anyone who reached the service its routes, request rates and what each
/// tenant's commands do. It is served on the metrics listener (`metrics_listen`) only,
/// which serves nothing else; without one, nowhere.
#[tokio::test]
async fn metrics_are_served_on_their_own_listener_only() {
    let app = TestApp::spawn().await;
    assert_eq!(app.metrics_url, None, "not served unless asked for");
    assert_eq!(app.get("/metrics").await.status(), 404);

    let mut config = test_config();
    config.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    let app = TestApp::spawn_with(config).await;
    assert_eq!(
        app.get("/metrics").await.status(),
        404,
        "not on the public listener"
    );
    let metrics = app.metrics_url.clone().unwrap();
    assert_ne!(metrics, app.url);
    let scrape = app
        .http()
        .get(format!("{metrics}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(scrape.status(), 200);
    assert!(scrape.text().await.unwrap().contains("medgrid_"));
    for path in ["/healthz", "/graphql", "/login", "/files"] {
        let res = app
            .http()
            .get(format!("{metrics}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{path} on the metrics listener");
    }
}

/// One member's script cannot take the service from the others: past its budget a member
/// gets 429 RATE_LIMITED with Retry-After; another member of the tenant still gets in, until
/// the tenant's own budget is spent.
#[tokio::test]
async fn members_and_tenants_are_rate_limited() {
    let mut config = test_config();
    config.rate_limit_member_per_minute = 5;
    config.rate_limit_tenant_per_minute = 8;
    let app = TestApp::spawn_with(config).await;
    app.tenant("acme").await;
    let (_, busy) = app.member("acme", "busy@acme.org", &[]).await;
    let (_, calm) = app.member("acme", "calm@acme.org", &[]).await;
    let me = |token: &str| {
        app.http()
            .post(format!("{}/graphql", app.url))
            .bearer_auth(token)
            .json(&json!({"query": "{ me { email } }"}))
            .send()
    };
    for _ in 0..5 {
        assert_eq!(me(&busy).await.unwrap().status(), 200);
    }
    let refused = me(&busy).await.unwrap();
    assert_eq!(refused.status(), 429);
    let retry: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=12).contains(&retry), "Retry-After {retry}");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(error_code(&body).as_deref(), Some("RATE_LIMITED"));
    // the tenant has spent 5 of 8: the other member gets 3 more, then the tenant is full
    for _ in 0..3 {
        assert_eq!(me(&calm).await.unwrap().status(), 200);
    }
    assert_eq!(me(&calm).await.unwrap().status(), 429);
    // downloads count too
    let download = app
        .http()
        .get(format!(
            "{}/files/jobs/{}/outputs/x",
            app.url,
            uuid::Uuid::now_v7()
        ))
        .bearer_auth(&calm)
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 429);
}

/// Requests without valid credentials (password login, sign-in forms, bad tokens) are
/// limited per client address: passwords cannot be guessed at speed.
#[tokio::test]
async fn anonymous_requests_are_rate_limited_per_address() {
    let mut config = test_config();
    config.rate_limit_anonymous_per_minute = 4;
    let app = TestApp::spawn_with(config).await;
    app.tenant("acme").await;
    let (_, member) = app.member("acme", "ann@acme.org", &[]).await;
    let guess = "mutation { login(tenant: \"acme\", email: \"ann@acme.org\", password: \"guess guess guess\") { token } }";
    for _ in 0..3 {
        let body = app.gql(None, guess, json!({})).await;
        assert_eq!(error_code(&body).as_deref(), Some("UNAUTHENTICATED"));
    }
    // a bad token counts as anonymous too
    let body = app.gql(Some("mgt_wrong"), "{ me { id } }", json!({})).await;
    assert_eq!(error_code(&body).as_deref(), Some("UNAUTHENTICATED"));
    let body = app.gql(None, guess, json!({})).await;
    assert_eq!(error_code(&body).as_deref(), Some("RATE_LIMITED"), "{body}");
    let form = app
        .http()
        .post(format!("{}/login/local", app.url))
        .form(&[
            ("csrf", "x"),
            ("tenant", "acme"),
            ("email", "a@b.c"),
            ("password", "p"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 429);
    // members with valid credentials are not held back by the address's budget
    app.ok(&member, "{ me { id } }", json!({})).await;
}
