//! Browser sign-in: the institution chooser, authorization code + PKCE with a real
//! provider, the session cookie, CSRF on forms, sign-out; one full run in headless
//! Chromium.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use medgrid_domain::Role;
use medgrid_tests::browser;
use medgrid_tests::oidc::Issuer;
use medgrid_tests::{TestApp, error_code};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};

/// A tenant `chu` trusting a provider with a browser client; returns the provider's id.
async fn institution(app: &TestApp) -> (Issuer, String) {
    let issuer = Issuer::start().await;
    app.tenant("chu").await;
    let (_, admin) = app
        .member("chu", "admin@chu.org", &[Role::TenantAdmin])
        .await;
    let q = "mutation($i: IdentityProviderInput!) { addIdentityProvider(input: $i) { id } }";
    let input = json!({"name": "CHU", "issuer": issuer.url, "audience": "medgrid",
                       "clientId": "medgrid-portal", "clientSecret": SECRET});
    let id = app.ok(&admin, q, json!({"i": input})).await["addIdentityProvider"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.ok(
        &admin,
        "mutation { setProvisioning(mode: JUST_IN_TIME) { id } }",
        json!({}),
    )
    .await;
    issuer
        .login_as(
            json!({"sub": "u-42", "email": "ada@chu.org", "email_verified": true,
                         "name": "Ada Lovelace", "preferred_username": "ada"}),
        )
        .await;
    (issuer, id)
}

/// The portal's client secret at the provider (a confidential client).
const SECRET: &str = "chu-portal-secret-4711";

fn browser() -> Client {
    Client::builder().redirect(Policy::none()).build().unwrap()
}

fn location(res: &Response) -> String {
    res.headers()[LOCATION].to_str().unwrap().to_owned()
}

/// The value of cookie `name` set by a response.
fn set_cookie(res: &Response, name: &str) -> Option<String> {
    res.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap().to_owned())
}

/// Starts a sign-in and follows the provider: the callback URL and the login cookie.
async fn to_callback(app: &TestApp, http: &Client, provider: &str) -> (String, String) {
    to_callback_from(app, http, provider, "/jobs").await
}

/// As [`to_callback`], asking to come back to `next` (as it stands in the query).
async fn to_callback_from(
    app: &TestApp,
    http: &Client,
    provider: &str,
    next: &str,
) -> (String, String) {
    let res = http
        .get(format!("{}/login/oidc/{provider}?next={next}", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let login = set_cookie(&res, "medgrid_login").expect("login cookie");
    let authorize = location(&res);
    assert!(
        authorize.contains("code_challenge_method=S256"),
        "{authorize}"
    );
    assert!(authorize.contains("nonce="), "{authorize}");
    let res = http.get(&authorize).send().await.unwrap();
    assert!(res.status().is_redirection(), "{:?}", res.status());
    let callback = location(&res);
    assert!(callback.starts_with(&format!("{}/login/callback?", app.url)));
    (callback, login)
}

async fn call_back(http: &Client, url: &str, login: &str) -> Response {
    http.get(url)
        .header(COOKIE, format!("medgrid_login={login}"))
        .send()
        .await
        .unwrap()
}

async fn me(app: &TestApp, http: &Client, session: &str, content_type: &str) -> Value {
    http.post(format!("{}/graphql", app.url))
        .header(COOKIE, format!("medgrid_session={session}"))
        .header("content-type", content_type)
        .body(json!({"query": "{ me { email name subject } }"}).to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_code_flow_checks_state_once_and_the_nonce() {
    let app = TestApp::spawn().await;
    let (issuer, provider) = institution(&app).await;
    let http = browser();

    // a wrong state, and no login cookie: refused, nothing written
    let before = app.event_count().await;
    let (callback, login) = to_callback(&app, &http, &provider).await;
    let forged = callback.replace("state=", "state=x");
    assert_eq!(
        call_back(&http, &forged, &login).await.status(),
        StatusCode::BAD_REQUEST
    );
    let res = http.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "no login cookie");
    assert_eq!(app.event_count().await, before);

    // the right one: signed in, sent where they were going
    let res = call_back(&http, &callback, &login).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/jobs");
    let cookie = res
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("medgrid_session="))
        .unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let session = set_cookie(&res, "medgrid_session").unwrap();
    let body = me(&app, &http, &session, "application/json").await;
    assert_eq!(body["data"]["me"]["email"], "ada@chu.org");
    assert_eq!(body["data"]["me"]["subject"], "u-42");
    // the code was exchanged with the client secret, which no event holds
    let basic = format!(
        "Basic {}",
        STANDARD.encode(format!("medgrid-portal:{SECRET}"))
    );
    assert_eq!(issuer.state().await["tokenAuth"], basic.as_str());
    let leaked: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE payload::text LIKE $1")
        .bind(format!("%{SECRET}%"))
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(leaked, 0, "the client secret is in the event log");
    // the cookie is not a credential for what a cross-site form can send
    let body = me(&app, &http, &session, "text/plain").await;
    assert_eq!(error_code(&body).as_deref(), Some("UNAUTHENTICATED"));

    // the same response again: refused
    let res = call_back(&http, &callback, &login).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(set_cookie(&res, "medgrid_session").is_none());

    // an ID token with another nonce: refused
    let (callback, login) = to_callback(&app, &http, &provider).await;
    issuer.next_nonce("not-the-one-sent").await;
    let before = app.event_count().await;
    let res = call_back(&http, &callback, &login).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.text().await.unwrap().contains("did not verify"));
    assert_eq!(app.event_count().await, before);
}

#[tokio::test]
async fn local_sign_in_needs_the_csrf_token_and_sign_out_revokes() {
    let app = TestApp::spawn().await;
    app.tenant("uni").await;
    app.member("uni", "bob@uni.org", &[]).await;
    let http = browser();
    let page = http.get(format!("{}/login", app.url)).send().await.unwrap();
    let csrf = set_cookie(&page, "medgrid_csrf").unwrap();
    let html = page.text().await.unwrap();
    assert!(html.contains(&format!("name=\"csrf\" value=\"{csrf}\"")));

    let form = |token: &str, password: &str| {
        vec![
            ("csrf", token.to_owned()),
            ("next", "/".to_owned()),
            ("tenant", "uni".to_owned()),
            ("email", "bob@uni.org".to_owned()),
            ("password", password.to_owned()),
        ]
    };
    let post = |fields: Vec<(&'static str, String)>, cookie: Option<String>| {
        let mut req = http.post(format!("{}/login/local", app.url)).form(&fields);
        if let Some(c) = cookie {
            req = req.header(COOKIE, format!("medgrid_csrf={c}"));
        }
        req.send()
    };
    let res = post(form(&csrf, "a long test password"), None)
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "no CSRF cookie");
    let res = post(form("forged", "a long test password"), Some(csrf.clone()))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "wrong CSRF token");
    let res = post(form(&csrf, "wrong password!"), Some(csrf.clone()))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("value=\"bob@uni.org\""),
        "entered values are kept"
    );
    let res = post(form(&csrf, "a long test password"), Some(csrf.clone()))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let session = set_cookie(&res, "medgrid_session").unwrap();
    let body = me(&app, &http, &session, "application/json").await;
    assert_eq!(body["data"]["me"]["email"], "bob@uni.org");

    let both = format!("medgrid_session={session}; medgrid_csrf={csrf}");
    let res = http
        .post(format!("{}/logout", app.url))
        .header(COOKIE, &both)
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = http
        .post(format!("{}/logout", app.url))
        .header(COOKIE, &both)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let body = me(&app, &http, &session, "application/json").await;
    assert_eq!(error_code(&body).as_deref(), Some("UNAUTHENTICATED"));
}

/// The tried open redirect: `/login?next=/%09/evil.example/x` sent the browser to
/// evil.example after a password sign-in (browsers drop the tab). After any sign-in the
/// browser goes to a path of this site, or to `/`.
#[tokio::test]
async fn after_sign_in_the_browser_stays_on_this_site() {
    let app = TestApp::spawn().await;
    let (_issuer, provider) = institution(&app).await;
    let http = browser();
    let tried = "/%09/evil.example/x";

    // the sign-in page carries `/` in its form, whatever `next` said
    let page = http
        .get(format!("{}/login?next={tried}", app.url))
        .send()
        .await
        .unwrap();
    let csrf = set_cookie(&page, "medgrid_csrf").unwrap();
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"name="next" value="/""#), "{html}");
    assert!(!html.contains("evil.example"), "{html}");

    // a form posted with the tried value (decoded and raw) and its friends: to `/`
    for next in [
        "/\t/evil.example/x",
        tried,
        "//evil.example/x",
        "/\\evil.example/x",
        "https://evil.example/x",
        "javascript:alert(1)",
    ] {
        let res = http
            .post(format!("{}/login/local", app.url))
            .header(COOKIE, format!("medgrid_csrf={csrf}"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("next", next),
                ("tenant", "chu"),
                ("email", "admin@chu.org"),
                ("password", "a long test password"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{next:?}");
        assert_eq!(location(&res), "/", "{next:?}");
    }

    // through the institution's provider too
    let (callback, login) = to_callback_from(&app, &http, &provider, tried).await;
    let res = call_back(&http, &callback, &login).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/");
}

/// The whole sign-in in headless Chromium; screenshots in `$CARGO_TARGET_DIR/screenshots`
/// (or the temp dir).
/// A provider on an allowed address (loopback, as in tests) whose discovery document
/// sends Medgrid to a cloud metadata address, for its keys or for the code exchange: the
/// request is refused before any connection, and the page says it is the address.
#[tokio::test]
async fn a_discovery_document_cannot_send_the_sign_in_to_a_metadata_address() {
    use medgrid_tests::oidc::{discovery, documents_only};
    let app = TestApp::spawn().await;
    app.tenant("chu").await;
    let (_, admin) = app
        .member("chu", "admin@chu.org", &[Role::TenantAdmin])
        .await;
    const METADATA: &str = "https://169.254.169.254/latest/meta-data/iam/security-credentials/";
    const REFUSED: &str = "at an address Medgrid does not connect to";
    let q = "mutation($i: IdentityProviderInput!) { addIdentityProvider(input: $i) { id } }";
    let mut ids = vec![];
    for (audience, jwks, token) in [
        ("keys", Some(METADATA), None),
        ("token", None, Some(METADATA)),
    ] {
        let issuer = documents_only(|iss| {
            let keys = format!("{iss}/keys");
            let exchange = format!("{iss}/token");
            discovery(iss, jwks.unwrap_or(&keys), token.unwrap_or(&exchange))
        })
        .await;
        let input = json!({"name": "CHU", "issuer": issuer, "audience": audience,
                           "clientId": "medgrid-portal"});
        let id = app.ok(&admin, q, json!({"i": input})).await["addIdentityProvider"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        ids.push(id);
    }
    let http = browser();
    let before = app.event_count().await;

    // the keys at a metadata address: refused while discovering
    let res = http
        .get(format!("{}/login/oidc/{}", app.url, ids[0]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_GATEWAY);
    let page = res.text().await.unwrap();
    assert!(page.contains(REFUSED), "{page}");

    // the token endpoint at a metadata address: the code is never sent there
    let res = http
        .get(format!("{}/login/oidc/{}", app.url, ids[1]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let login = set_cookie(&res, "medgrid_login").expect("login cookie");
    let callback = format!("{}/login/callback?code=the-code&state={login}", app.url);
    let res = call_back(&http, &callback, &login).await;
    assert_eq!(res.status(), StatusCode::BAD_GATEWAY);
    assert!(set_cookie(&res, "medgrid_session").is_none());
    let page = res.text().await.unwrap();
    assert!(page.contains(REFUSED), "{page}");
    assert_eq!(app.event_count().await, before);
}

#[tokio::test]
async fn a_browser_signs_in_with_an_institution_and_out() {
    let app = TestApp::spawn().await;
    let (_issuer, _) = institution(&app).await;
    let shots = browser::screenshots("browser-sign-in");
    let result = browser::run("browser-login.mjs", &[&app.url, "CHU"], &shots).await;
    assert!(
        result["who"].as_str().unwrap().contains("Ada Lovelace"),
        "{result}"
    );
    assert_eq!(result["finalUrl"], format!("{}/", app.url));
    assert_eq!(result["me"]["data"]["me"]["email"], "ada@chu.org");
    assert_eq!(
        error_code(&result["afterSignOut"]).as_deref(),
        Some("UNAUTHENTICATED")
    );
    assert!(shots.join("02-signed-in.png").exists());
}

#[tokio::test]
async fn a_client_secret_is_kept_replaced_and_removed_never_shown() {
    let app = TestApp::spawn().await;
    let (_issuer, provider) = institution(&app).await;
    let (_, admin) = app
        .member("chu", "second@chu.org", &[Role::TenantAdmin])
        .await;
    let has = |data: Value| data["tenant"]["identityProviders"][0]["hasClientSecret"].clone();
    let list = "{ tenant { identityProviders { hasClientSecret } } }";
    assert_eq!(has(app.ok(&admin, list, json!({})).await), json!(true));
    let update = "mutation($id: ID!, $i: IdentityProviderInput!) { updateIdentityProvider(id: $id, input: $i) { hasClientSecret } }";
    let input = |secret: Option<&str>| {
        let mut i = json!({"name": "CHU", "issuer": "http://127.0.0.1:1", "audience": "medgrid",
                           "clientId": "medgrid-portal"});
        if let Some(s) = secret {
            i["clientSecret"] = json!(s);
        }
        i
    };
    // left out: kept
    let kept = app
        .ok(&admin, update, json!({"id": provider, "i": input(None)}))
        .await;
    assert_eq!(kept["updateIdentityProvider"]["hasClientSecret"], true);
    // "": removed, and its sealed copy too
    let removed = app
        .ok(
            &admin,
            update,
            json!({"id": provider, "i": input(Some(""))}),
        )
        .await;
    assert_eq!(removed["updateIdentityProvider"]["hasClientSecret"], false);
    let sealed: i64 = sqlx::query_scalar("SELECT count(*) FROM provider_secrets")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(sealed, 0);
    // a secret without a client is refused
    let mut bad = input(Some("x"));
    bad["clientId"] = Value::Null;
    assert_eq!(
        app.code(Some(&admin), update, json!({"id": provider, "i": bad}))
            .await,
        "INVALID_INPUT"
    );
}

/// The whole `Set-Cookie` value a response gives cookie `name`.
fn set_cookie_line(res: &Response, name: &str) -> Option<String> {
    res.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

/// Behind https the session and CSRF cookies are named `__Host-…` (`Secure`, `Path=/`, no
/// `Domain`): browsers then keep them only from this origin, so a sibling subdomain or a
/// plain-http page cannot plant a CSRF token or a session of its choosing. They are read
/// under that name only: a plain-named cookie is nobody's session and no token.
#[tokio::test]
async fn behind_https_the_cookies_are_host_prefixed() {
    let mut config = medgrid_tests::test_config();
    config.public_url = Some("https://medgrid.example.org".to_owned());
    let app = TestApp::spawn_with(config).await;
    app.tenant("uni").await;
    let (_, bob) = app.member("uni", "bob@uni.org", &[]).await;
    let http = browser();
    let page = http.get(format!("{}/login", app.url)).send().await.unwrap();
    assert!(set_cookie(&page, "medgrid_csrf").is_none());
    let line = set_cookie_line(&page, "__Host-medgrid_csrf").expect("__Host- CSRF cookie");
    for part in ["; Path=/;", "SameSite=Strict", "; Secure"] {
        assert!(line.contains(part), "{line}");
    }
    assert!(!line.to_ascii_lowercase().contains("domain"), "{line}");
    let csrf = set_cookie(&page, "__Host-medgrid_csrf").unwrap();

    let sign_in = |cookie: String| {
        http.post(format!("{}/login/local", app.url))
            .header(COOKIE, cookie)
            .form(&[
                ("csrf", csrf.as_str()),
                ("next", "/"),
                ("tenant", "uni"),
                ("email", "bob@uni.org"),
                ("password", "a long test password"),
            ])
            .send()
    };
    // the token under the plain name (as a sibling subdomain could set it): no token
    let res = sign_in(format!("medgrid_csrf={csrf}")).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = sign_in(format!("__Host-medgrid_csrf={csrf}"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(set_cookie(&res, "medgrid_session").is_none());
    let line = set_cookie_line(&res, "__Host-medgrid_session").expect("__Host- session");
    for part in ["; Path=/;", "HttpOnly", "SameSite=Lax", "; Secure"] {
        assert!(line.contains(part), "{line}");
    }
    assert!(!line.to_ascii_lowercase().contains("domain"), "{line}");
    let session = set_cookie(&res, "__Host-medgrid_session").unwrap();

    let files = |cookie: String| {
        http.get(format!("{}/files", app.url))
            .header(COOKIE, cookie)
            .send()
    };
    let res = files(format!("__Host-medgrid_session={session}"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // the same session under the plain name is nobody's; the dead cookie is cleared by
    // its prefixed name
    let res = files(format!("medgrid_session={session}")).await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(location(&res).starts_with("/login"));
    assert_eq!(
        set_cookie(&res, "__Host-medgrid_session").as_deref(),
        Some("")
    );

    // an upload with the session cookie: the prefixed token counts, a planted plain one not
    let home = app
        .ok(
            &bob,
            "{ space(path: \"/home\") { node { id } } }",
            json!({}),
        )
        .await["space"]["node"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let upload = |cookie: String, token: &str, name: &str| {
        http.post(format!("{}/files/upload", app.url))
            .query(&[("parent", home.as_str()), ("name", name)])
            .header(COOKIE, cookie)
            .header("x-csrf-token", token)
            .body("x")
            .send()
    };
    let planted = format!("__Host-medgrid_session={session}; medgrid_csrf=planted");
    let res = upload(planted, "planted", "a.txt").await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let both = format!("__Host-medgrid_session={session}; __Host-medgrid_csrf={csrf}");
    let res = upload(both, &csrf, "a.txt").await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
}
