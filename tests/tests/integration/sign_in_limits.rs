//! Guessing passwords (issue 18, item 2): one password per request, failures counted per
//! account and per tenant in PostgreSQL (every replica sees them), unknown accounts
//! costing a password check like known ones, and the per-address limit keyed on the real
//! client behind trusted proxies.

use medgrid::Server;
use medgrid_tests::{TestApp, error_code, test_config};
use serde_json::{Value, json};

const PASSWORD: &str = "a long test password";

fn login(tenant: &str, email: &str, password: &str) -> String {
    format!(
        "mutation {{ login(tenant: {tenant:?}, email: {email:?}, password: {password:?}) {{ token }} }}"
    )
}

/// The answer to a login and its Retry-After header, from the server at `url`.
async fn try_login(app: &TestApp, url: &str, query: &str) -> (Value, Option<u64>) {
    let response = app
        .http()
        .post(format!("{url}/graphql"))
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    (response.json().await.unwrap(), retry_after)
}

fn checks(app: &TestApp) -> u64 {
    app.core.services.passwords.checks()
}

#[tokio::test]
async fn one_request_tries_one_password() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    app.member("acme", "ann@acme.org", &[]).await;
    let guesses = (0..30)
        .map(|i| {
            format!(
                "g{i}: login(tenant: \"acme\", email: \"ann@acme.org\", password: \"guess number {i}\") {{ token }}"
            )
        })
        .collect::<Vec<_>>()
        .join(" ");
    let (events, before) = (app.event_count().await, checks(&app));
    let body = app
        .gql(None, &format!("mutation {{ {guesses} }}"), json!({}))
        .await;
    assert_eq!(
        error_code(&body).as_deref(),
        Some("INVALID_INPUT"),
        "{body}"
    );
    // the same through fragments, and the right password among the guesses
    let through_fragments = format!(
        "mutation {{ ...A ... on Mutation {{ b: login(tenant: \"acme\", email: \"ann@acme.org\", \
         password: \"guess\") {{ token }} }} }} fragment A on Mutation {{ a: login(tenant: \"acme\", \
         email: \"ann@acme.org\", password: {PASSWORD:?}) {{ token }} }}"
    );
    let body = app.gql(None, &through_fragments, json!({})).await;
    assert_eq!(
        error_code(&body).as_deref(),
        Some("INVALID_INPUT"),
        "{body}"
    );
    assert!(body["data"].is_null(), "nothing ran: {body}");
    assert_eq!(checks(&app), before, "no password was checked");
    assert_eq!(app.event_count().await, events, "no session was opened");
    // one login per operation still works
    let (body, _) = try_login(&app, &app.url, &login("acme", "ann@acme.org", PASSWORD)).await;
    assert!(body["data"]["login"]["token"].is_string(), "{body}");
}

#[tokio::test]
async fn failed_sign_ins_are_counted_per_account_and_per_tenant_across_replicas() {
    let mut config = test_config();
    config.sign_in_failures_per_account = 3;
    config.sign_in_failures_per_tenant = 5;
    let app = TestApp::spawn_with(config).await;
    app.tenant("acme").await;
    app.tenant("other").await;
    app.member("acme", "ann@acme.org", &[]).await;
    app.member("acme", "bob@acme.org", &[]).await;
    app.member("other", "cat@other.org", &[]).await;
    // a second API replica on the same database: its counts are the same rows
    let replica_core = medgrid::Core::new(app.pool(), &app.config).unwrap();
    let replica = Server::start(&replica_core, &app.config).await.unwrap();
    let replica_url = format!("http://{}", replica.addr);

    for url in [&app.url, &replica_url, &app.url] {
        let (body, _) =
            try_login(&app, url, &login("acme", "ann@acme.org", "wrong password!")).await;
        assert_eq!(
            error_code(&body).as_deref(),
            Some("UNAUTHENTICATED"),
            "{body}"
        );
    }
    // the account has had its three failures: even the right password waits now,
    // on either replica, and no password is checked
    let before = checks(&app) + replica_core.services.passwords.checks();
    for url in [&app.url, &replica_url] {
        let (body, retry_after) =
            try_login(&app, url, &login("acme", "ann@acme.org", PASSWORD)).await;
        assert_eq!(error_code(&body).as_deref(), Some("RATE_LIMITED"), "{body}");
        let said = body["errors"][0]["extensions"]["retryAfter"]
            .as_u64()
            .unwrap();
        assert!(said > 0 && said <= 900, "{body}");
        assert_eq!(retry_after, Some(said), "Retry-After says the same");
    }
    assert_eq!(
        checks(&app) + replica_core.services.passwords.checks(),
        before
    );
    // the portal's form says it too
    let form = app
        .http()
        .get(format!("{}/login", app.url))
        .send()
        .await
        .unwrap();
    let csrf_cookie = form
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.split(';').next()?.strip_prefix("medgrid_csrf="))
        .map(str::to_owned)
        .expect("a CSRF cookie");
    let refused = app
        .http()
        .post(format!("{}/login/local", app.url))
        .header("cookie", format!("medgrid_csrf={csrf_cookie}"))
        .form(&[
            ("csrf", csrf_cookie.as_str()),
            ("tenant", "acme"),
            ("email", "ann@acme.org"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().get("retry-after").is_some());
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("Too many failed sign-ins")
    );

    // bob's own failures bring the tenant to five: then nobody of acme may try
    for _ in 0..2 {
        let (body, _) = try_login(
            &app,
            &replica_url,
            &login("acme", "bob@acme.org", "wrong password!"),
        )
        .await;
        assert_eq!(
            error_code(&body).as_deref(),
            Some("UNAUTHENTICATED"),
            "{body}"
        );
    }
    let (body, _) = try_login(&app, &app.url, &login("acme", "bob@acme.org", PASSWORD)).await;
    assert_eq!(error_code(&body).as_deref(), Some("RATE_LIMITED"), "{body}");
    // another institution is not held back, and members with tokens go on
    let (body, _) = try_login(&app, &app.url, &login("other", "cat@other.org", PASSWORD)).await;
    assert!(body["data"]["login"]["token"].is_string(), "{body}");
    replica.stop().await;
}

#[tokio::test]
async fn unknown_accounts_cost_a_check_and_are_counted_alike() {
    let mut config = test_config();
    config.sign_in_failures_per_account = 2;
    config.sign_in_failures_per_tenant = 0;
    let app = TestApp::spawn_with(config).await;
    app.tenant("acme").await;
    app.member("acme", "ann@acme.org", &[]).await;
    for (tenant, email, password) in [
        ("acme", "ann@acme.org", "wrong password!"),
        ("acme", "nobody@acme.org", "wrong password!"),
        ("nowhere", "ann@acme.org", "wrong password!"),
        ("acme", "not an address", "wrong password!"),
    ] {
        let before = checks(&app);
        let (body, _) = try_login(&app, &app.url, &login(tenant, email, password)).await;
        assert_eq!(
            error_code(&body).as_deref(),
            Some("UNAUTHENTICATED"),
            "{body}"
        );
        assert_eq!(
            body["errors"][0]["message"], "invalid tenant, e-mail or password",
            "every failure reads the same"
        );
        assert_eq!(checks(&app), before + 1, "{tenant}/{email} cost one check");
    }
    // an unknown account is locked like a known one: a lockout tells nothing
    for email in ["ann@acme.org", "nobody@acme.org"] {
        let (body, _) = try_login(&app, &app.url, &login("acme", email, "again wrong!")).await;
        assert_eq!(
            error_code(&body).as_deref(),
            Some("UNAUTHENTICATED"),
            "{body}"
        );
    }
    let (known, _) = try_login(
        &app,
        &app.url,
        &login("acme", "ann@acme.org", "again wrong!"),
    )
    .await;
    let (unknown, _) = try_login(
        &app,
        &app.url,
        &login("acme", "nobody@acme.org", "again wrong!"),
    )
    .await;
    assert_eq!(
        error_code(&known).as_deref(),
        Some("RATE_LIMITED"),
        "{known}"
    );
    assert_eq!(
        error_code(&unknown).as_deref(),
        Some("RATE_LIMITED"),
        "{unknown}"
    );
    assert_eq!(
        known["errors"][0]["message"],
        unknown["errors"][0]["message"]
    );
    // counts whose window has passed go when the next failure is counted: guessed
    // addresses do not pile up
    let rows = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM sign_in_failures")
            .fetch_one(app.pool())
            .await
            .unwrap()
    };
    assert_eq!(rows().await, 3, "ann, nobody, and the tenant");
    sqlx::query("UPDATE sign_in_failures SET since = now() - interval '1 hour'")
        .execute(app.pool())
        .await
        .unwrap();
    let (body, _) = try_login(&app, &app.url, &login("acme", "zoe@acme.org", "wrong!")).await;
    assert_eq!(
        error_code(&body).as_deref(),
        Some("UNAUTHENTICATED"),
        "{body}"
    );
    assert_eq!(
        rows().await,
        2,
        "zoe and the tenant, counted again from one"
    );
}

#[tokio::test]
async fn a_success_starts_the_account_count_again() {
    let mut config = test_config();
    config.sign_in_failures_per_account = 2;
    let app = TestApp::spawn_with(config).await;
    app.tenant("acme").await;
    app.member("acme", "ann@acme.org", &[]).await;
    for _ in 0..3 {
        let (body, _) = try_login(
            &app,
            &app.url,
            &login("acme", "ann@acme.org", "wrong password!"),
        )
        .await;
        assert_eq!(
            error_code(&body).as_deref(),
            Some("UNAUTHENTICATED"),
            "{body}"
        );
        let (body, _) = try_login(&app, &app.url, &login("acme", "ann@acme.org", PASSWORD)).await;
        assert!(body["data"]["login"]["token"].is_string(), "{body}");
    }
}

/// Anonymous requests through a reverse proxy: `n` logins from `client` (its
/// X-Forwarded-For) to the app, answered with these codes.
async fn anonymous_from(app: &TestApp, forwarded_for: &str, n: usize) -> Vec<String> {
    let mut codes = Vec::new();
    for _ in 0..n {
        let response = app
            .http()
            .post(format!("{}/graphql", app.url))
            .header("x-forwarded-for", forwarded_for)
            .json(&json!({ "query": login("acme", "ann@acme.org", "wrong password!") }))
            .send()
            .await
            .unwrap();
        let body: Value = response.json().await.unwrap();
        codes.push(error_code(&body).unwrap_or_default());
    }
    codes
}

#[tokio::test]
async fn the_address_limit_keys_on_the_client_behind_trusted_proxies() {
    let mut config = test_config();
    config.rate_limit_anonymous_per_minute = 2;
    config.sign_in_failures_per_account = 0;
    config.sign_in_failures_per_tenant = 0;
    config.trusted_proxies = "127.0.0.1".into();
    let app = TestApp::spawn_with(config).await;
    app.tenant("acme").await;
    let (unauth, limited) = ("UNAUTHENTICATED", "RATE_LIMITED");
    // a client forging a first hop gains nothing: the proxy's hop is the one believed
    assert_eq!(
        anonymous_from(&app, "203.0.113.1", 2).await,
        [unauth, unauth]
    );
    assert_eq!(
        anonymous_from(&app, "1.1.1.1, 203.0.113.1", 1).await,
        [limited]
    );
    assert_eq!(anonymous_from(&app, "203.0.113.2", 1).await, [unauth]);
    // IPv6 clients are counted by their /64
    assert_eq!(
        anonymous_from(&app, "2001:db8:1:2::1", 2).await,
        [unauth, unauth]
    );
    assert_eq!(
        anonymous_from(&app, "2001:db8:1:2:ffff::9", 1).await,
        [limited]
    );
    assert_eq!(anonymous_from(&app, "2001:db8:1:3::1", 1).await, [unauth]);
}

#[tokio::test]
async fn without_trusted_proxies_the_forwarded_header_changes_nothing() {
    let (unauth, limited) = ("UNAUTHENTICATED", "RATE_LIMITED");
    // the peer is the client, whatever X-Forwarded-For says
    let mut config = test_config();
    config.rate_limit_anonymous_per_minute = 2;
    let plain = TestApp::spawn_with(config).await;
    plain.tenant("acme").await;
    assert_eq!(
        anonymous_from(&plain, "203.0.113.1", 2).await,
        [unauth, unauth]
    );
    assert_eq!(anonymous_from(&plain, "203.0.113.2", 1).await, [limited]);
}
