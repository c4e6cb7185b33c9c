//! Sign-in with institutions' OpenID Connect providers: bearer JWTs verified against a real
//! provider's published keys, provisioning, claims as events, key rotation, isolation.

use std::time::Duration;

use medgrid_domain::Role;
use medgrid_tests::oidc::Issuer;
use medgrid_tests::{TestApp, error_code};
use serde_json::{Value, json};

const ME: &str =
    "{ me { id email name roles status issuer subject providerGroups tenant { slug } } }";

async fn me(app: &TestApp, token: &str) -> Value {
    app.ok(token, ME, json!({})).await["me"].clone()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A tenant that trusts a fresh provider for audience `medgrid`, with its admin's token.
async fn institution(app: &TestApp, slug: &str) -> (Issuer, String) {
    let issuer = Issuer::start().await;
    app.tenant(slug).await;
    let (_, admin) = app
        .member(slug, &format!("admin@{slug}.org"), &[Role::TenantAdmin])
        .await;
    app.trust(&admin, &issuer.url, "medgrid").await;
    (issuer, admin)
}

async fn just_in_time(app: &TestApp, admin: &str) {
    app.ok(
        admin,
        "mutation { setProvisioning(mode: JUST_IN_TIME) { provisioning } }",
        json!({}),
    )
    .await;
}

#[tokio::test]
async fn first_sign_in_provisions_and_claims_changes_are_events() {
    let app = TestApp::spawn().await;
    let (issuer, admin) = institution(&app, "chu").await;
    just_in_time(&app, &admin).await;
    let g = app
        .ok(
            &admin,
            "mutation { createGroup(name: \"mri\") { id } }",
            json!({}),
        )
        .await;
    let mri = g["createGroup"]["id"].as_str().unwrap().to_owned();

    let mut claims = issuer.person("u-1", "ada@chu.org", "medgrid");
    claims["resource_access"] = json!({"medgrid": {"roles": ["medgrid-admin"]}});
    claims["groups"] = json!(["/radiology/mri"]);
    let token = issuer.token(claims.clone()).await;
    let ada = me(&app, &token).await;
    assert_eq!(ada["email"], "ada@chu.org");
    assert_eq!(ada["name"], "Person u-1");
    assert_eq!(ada["status"], "ACTIVE");
    assert_eq!(ada["issuer"], issuer.url.as_str());
    assert_eq!(ada["subject"], "u-1");
    assert_eq!(ada["roles"], json!(["TENANT_ADMIN"]));
    assert_eq!(ada["providerGroups"], json!(["/radiology/mri"]));
    assert_eq!(ada["tenant"]["slug"], "chu");
    // the provider's group `/radiology/mri` makes her a member of group `mri`
    let seen = app
        .ok(
            &token,
            "query($g: ID!) { group(id: $g) { name } }",
            json!({"g": mri}),
        )
        .await;
    assert_eq!(seen["group"]["name"], "mri");

    // the same claims again: no event
    let before = app.event_count().await;
    let again = issuer.token(claims.clone()).await;
    assert_eq!(me(&app, &again).await["id"], ada["id"]);
    assert_eq!(app.event_count().await, before);

    // the provider takes the admin role away: one event, and she is a plain member
    claims["resource_access"] = json!({});
    let demoted = issuer.token(claims).await;
    assert_eq!(me(&app, &demoted).await["roles"], json!([]));
    assert_eq!(app.event_count().await, before + 1);
    let kinds: Vec<String> = sqlx::query_scalar(
        "SELECT event_type FROM events WHERE aggregate_type = 'Member' AND aggregate_id = $1
          ORDER BY sequence",
    )
    .bind(ada["id"].as_str().unwrap())
    .fetch_all(app.pool())
    .await
    .unwrap();
    assert_eq!(
        kinds,
        [
            "MemberCreated",
            "IdentityLinked",
            "IdentityClaimsUpdated",
            "IdentityClaimsUpdated"
        ]
    );
    assert_eq!(
        app.code(
            Some(&demoted),
            "mutation { createGroup(name: \"x\") { id } }",
            json!({})
        )
        .await,
        "FORBIDDEN"
    );
}

#[tokio::test]
async fn invitation_only_admits_invited_verified_addresses() {
    let app = TestApp::spawn().await;
    let (issuer, admin) = institution(&app, "uni").await;
    let before = app.event_count().await;
    let stranger = issuer
        .token(issuer.person("u-9", "eve@uni.org", "medgrid"))
        .await;
    assert_eq!(app.code(Some(&stranger), ME, json!({})).await, "FORBIDDEN");
    assert_eq!(app.event_count().await, before, "a refusal writes nothing");

    let invited = app
        .ok(
            &admin,
            "mutation { inviteMember(input: {email: \"bob@uni.org\", name: \"Bob\"}) { id status } }",
            json!({}),
        )
        .await;
    assert_eq!(invited["inviteMember"]["status"], "INVITED");
    let mut unverified = issuer.person("u-2", "bob@uni.org", "medgrid");
    unverified["email_verified"] = json!(false);
    let token = issuer.token(unverified).await;
    assert_eq!(app.code(Some(&token), ME, json!({})).await, "FORBIDDEN");

    let token = issuer
        .token(issuer.person("u-2", "bob@uni.org", "medgrid"))
        .await;
    let bob = me(&app, &token).await;
    assert_eq!(bob["id"], invited["inviteMember"]["id"]);
    assert_eq!(bob["status"], "ACTIVE");
    assert_eq!(bob["subject"], "u-2");
    // the invitation is spent: another subject with the same address is a stranger
    let other = issuer
        .token(issuer.person("u-3", "bob@uni.org", "medgrid"))
        .await;
    assert_eq!(app.code(Some(&other), ME, json!({})).await, "FORBIDDEN");
}

/// Every bad token is refused (UNAUTHENTICATED, or FORBIDDEN for a valid identity that may
/// not act), and none leaves an event behind.
#[tokio::test]
async fn bad_tokens_are_refused_and_write_nothing() {
    let app = TestApp::spawn().await;
    let (issuer, admin) = institution(&app, "alpha").await;
    just_in_time(&app, &admin).await;
    let (other, _) = institution(&app, "beta").await;
    let person = issuer.person("u-1", "ada@alpha.org", "medgrid");
    // the member exists (and is later disabled)
    let good = issuer.token(person.clone()).await;
    let ada = me(&app, &good).await["id"].as_str().unwrap().to_owned();

    let with = |patch: Value| {
        let mut claims = person.clone();
        for (k, v) in patch.as_object().unwrap() {
            claims[k] = v.clone();
        }
        claims
    };
    let t = now();
    let mut cases: Vec<(&str, String, &str)> = vec![
        (
            "expired",
            issuer
                .token(with(json!({"exp": t - 120, "iat": t - 700})))
                .await,
            "UNAUTHENTICATED",
        ),
        (
            "not yet valid",
            issuer.token(with(json!({"nbf": t + 300}))).await,
            "UNAUTHENTICATED",
        ),
        (
            "wrong issuer",
            issuer
                .token(with(json!({"iss": "https://sso.invalid/realms/x"})))
                .await,
            "UNAUTHENTICATED",
        ),
        (
            "issuer of another tenant, signed by this one's key",
            issuer.token(with(json!({"iss": other.url}))).await,
            "UNAUTHENTICATED",
        ),
        (
            "another tenant's provider, audience of this one",
            other
                .token(with(json!({"iss": other.url, "aud": "alpha-only"})))
                .await,
            "UNAUTHENTICATED",
        ),
        (
            "wrong audience",
            issuer.token(with(json!({"aud": "someone-else"}))).await,
            "UNAUTHENTICATED",
        ),
        (
            "missing audience",
            issuer.token(with(json!({"aud": null}))).await,
            "UNAUTHENTICATED",
        ),
        (
            "unknown kid",
            issuer
                .token_with(json!({"claims": person, "kid": "no-such-key"}))
                .await,
            "UNAUTHENTICATED",
        ),
        (
            "alg none",
            issuer
                .token_with(json!({"claims": person, "alg": "none"}))
                .await,
            "UNAUTHENTICATED",
        ),
        (
            "HS256 signed with the public key",
            issuer
                .token_with(json!({"claims": person, "alg": "HS256-public"}))
                .await,
            "UNAUTHENTICATED",
        ),
        ("tampered payload", tamper(&good), "UNAUTHENTICATED"),
        (
            "missing sub",
            issuer.token(with(json!({"sub": null}))).await,
            "UNAUTHENTICATED",
        ),
        (
            "no e-mail address",
            issuer
                .token(with(json!({"sub": "u-7", "email": null})))
                .await,
            "FORBIDDEN",
        ),
        ("garbage", "a.b.c".to_owned(), "UNAUTHENTICATED"),
        (
            "garbage JWT-shaped",
            "eyJ.eyJ.x".to_owned(),
            "UNAUTHENTICATED",
        ),
    ];
    let before = app.event_count().await;
    for (case, token, code) in &cases {
        let body = app.gql(Some(token), ME, json!({})).await;
        assert_eq!(error_code(&body).as_deref(), Some(*code), "{case}: {body}");
    }
    assert_eq!(
        app.event_count().await,
        before,
        "refused tokens wrote events"
    );

    // an Authorization header that is not a bearer token
    let res = app
        .http()
        .post(format!("{}/graphql", app.url))
        .header("authorization", "Basic YWRhOnB3")
        .json(&json!({"query": ME}))
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(error_code(&body).as_deref(), Some("UNAUTHENTICATED"));

    // a disabled member, then a suspended tenant: the identity is fine, acting is not
    app.ok(
        &admin,
        "mutation($m: ID!) { disableMember(id: $m) { id } }",
        json!({"m": ada}),
    )
    .await;
    cases.clear();
    let before = app.event_count().await;
    let token = issuer.token(person.clone()).await;
    assert_eq!(app.code(Some(&token), ME, json!({})).await, "FORBIDDEN");
    let tenant = me(&app, &admin).await["tenant"].clone();
    assert_eq!(tenant["slug"], "alpha");
    let alpha_id: String = sqlx::query_scalar("SELECT id::text FROM tenants WHERE slug = 'alpha'")
        .fetch_one(app.pool())
        .await
        .unwrap();
    medgrid_graphql::usecases::tenancy::change(
        &app.operator(),
        &alpha_id,
        medgrid_domain::tenancy::TenantCommand::Suspend {
            reason: "test".into(),
        },
    )
    .await
    .unwrap();
    let before_suspended = app.event_count().await;
    assert_eq!(before_suspended, before + 1);
    let newcomer = issuer
        .token(with(json!({"sub": "u-8", "email": "new@alpha.org"})))
        .await;
    assert_eq!(app.code(Some(&newcomer), ME, json!({})).await, "FORBIDDEN");
    assert_eq!(
        app.event_count().await,
        before_suspended,
        "no provisioning in a suspended tenant"
    );
}

/// The same token with one character of its payload changed (the signature no longer fits).
fn tamper(token: &str) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let payload = &mut parts[1];
    let last = payload.pop().unwrap();
    payload.push(if last == 'A' { 'B' } else { 'A' });
    parts.join(".")
}

#[tokio::test]
async fn two_institutions_never_cross() {
    let app = TestApp::spawn().await;
    let (a, a_admin) = institution(&app, "alpha").await;
    let (b, b_admin) = institution(&app, "beta").await;
    just_in_time(&app, &a_admin).await;
    just_in_time(&app, &b_admin).await;
    // the same subject and address at both providers
    let in_a = me(
        &app,
        &a.token(a.person("same", "x@both.org", "medgrid")).await,
    )
    .await;
    let b_token = b.token(b.person("same", "x@both.org", "medgrid")).await;
    let in_b = me(&app, &b_token).await;
    assert_eq!(in_a["tenant"]["slug"], "alpha");
    assert_eq!(in_b["tenant"]["slug"], "beta");
    assert_ne!(in_a["id"], in_b["id"]);
    // B's token reaches nothing of A
    assert_eq!(
        app.code(
            Some(&b_token),
            "query($m: ID!) { member(id: $m) { email } }",
            json!({"m": in_a["id"]})
        )
        .await,
        "NOT_FOUND"
    );
    let listed = app
        .ok(&b_token, "{ members { edges { node { id } } } }", json!({}))
        .await;
    assert!(!listed.to_string().contains(in_a["id"].as_str().unwrap()));
}

#[tokio::test]
async fn keys_rotate_without_a_restart() {
    let app = TestApp::spawn().await;
    let (issuer, admin) = institution(&app, "alpha").await;
    just_in_time(&app, &admin).await;
    let person = issuer.person("u-1", "ada@alpha.org", "medgrid");
    let first = issuer.token(person.clone()).await;
    me(&app, &first).await;
    let old = issuer.state().await["kid"].as_str().unwrap().to_owned();
    let fetched = issuer.jwks_fetches().await;

    // a new key signs; Medgrid has not seen it and fetches the keys again, once
    issuer.rotate().await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let rotated = issuer.token(person.clone()).await;
    me(&app, &rotated).await;
    assert_eq!(issuer.jwks_fetches().await, fetched + 1);
    me(&app, &issuer.token(person.clone()).await).await;
    assert_eq!(
        issuer.jwks_fetches().await,
        fetched + 1,
        "known keys are cached"
    );

    // the old key is withdrawn: its tokens stop working once the keys are fetched again
    issuer.retire(&old).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let forged = issuer
        .token_with(json!({"claims": person, "kid": "made-up"}))
        .await;
    assert_eq!(
        app.code(Some(&forged), ME, json!({})).await,
        "UNAUTHENTICATED"
    );
    let stale = issuer
        .token_with(json!({"claims": person, "kid": old}))
        .await;
    assert_eq!(
        app.code(Some(&stale), ME, json!({})).await,
        "UNAUTHENTICATED"
    );

    // made-up key ids cannot make Medgrid hammer the provider
    let fetched = issuer.jwks_fetches().await;
    for i in 0..10 {
        let t = issuer
            .token_with(json!({"claims": person, "kid": format!("bogus-{i}")}))
            .await;
        assert_eq!(app.code(Some(&t), ME, json!({})).await, "UNAUTHENTICATED");
    }
    assert!(
        issuer.jwks_fetches().await <= fetched + 1,
        "at most one fetch per refetch interval"
    );
}

#[tokio::test]
async fn providers_are_managed_by_tenant_admins_as_events() {
    let app = TestApp::spawn().await;
    let (issuer, admin) = institution(&app, "alpha").await;
    app.tenant("beta").await;
    let (_, beta_admin) = app
        .member("beta", "admin@beta.org", &[Role::TenantAdmin])
        .await;
    let (_, plain) = app.member("alpha", "bob@alpha.org", &[]).await;
    let listed = app
        .ok(
            &admin,
            "{ tenant { provisioning identityProviders { id issuer audience claims { roles groups adminRoles } } } }",
            json!({}),
        )
        .await;
    let provider = &listed["tenant"]["identityProviders"][0];
    assert_eq!(listed["tenant"]["provisioning"], "INVITATION_ONLY");
    assert_eq!(provider["issuer"], issuer.url.as_str());
    assert_eq!(
        provider["claims"]["roles"],
        json!(["realm_access.roles", "resource_access.{client}.roles"])
    );
    let id = provider["id"].as_str().unwrap().to_owned();

    let before = app.event_count().await;
    let update = "mutation($id: ID!, $i: IdentityProviderInput!) { updateIdentityProvider(id: $id, input: $i) { id } }";
    let bad_inputs = [
        json!({"name": "X", "issuer": "http://sso.example.org", "audience": "a"}),
        json!({"name": "X", "issuer": "not a url", "audience": "a"}),
        json!({"name": "X", "issuer": issuer.url, "audience": ""}),
        json!({"name": "", "issuer": issuer.url, "audience": "a"}),
        json!({"name": "X", "issuer": issuer.url, "audience": "a", "claims": {"roles": ["a..b"]}}),
    ];
    for input in bad_inputs {
        let code = app
            .code(Some(&admin), update, json!({"id": id, "i": input}))
            .await;
        assert_eq!(code, "INVALID_INPUT", "{input}");
    }
    let same = json!({"name": "Institution", "issuer": issuer.url, "audience": "medgrid"});
    assert_eq!(
        app.code(
            Some(&admin),
            "mutation($i: IdentityProviderInput!) { addIdentityProvider(input: $i) { id } }",
            json!({"i": same})
        )
        .await,
        "CONFLICT"
    );
    assert_eq!(
        app.code(Some(&plain), update, json!({"id": id, "i": same}))
            .await,
        "FORBIDDEN"
    );
    assert_eq!(
        app.code(Some(&beta_admin), update, json!({"id": id, "i": same}))
            .await,
        "NOT_FOUND"
    );
    assert_eq!(
        app.code(
            Some(&plain),
            "{ tenant { identityProviders { id } } }",
            json!({})
        )
        .await,
        "FORBIDDEN"
    );
    assert_eq!(app.event_count().await, before, "refusals wrote events");

    // removal takes effect at once
    app.ok(
        &admin,
        "mutation { setProvisioning(mode: JUST_IN_TIME) { id } }",
        json!({}),
    )
    .await;
    let token = issuer
        .token(issuer.person("u-1", "ada@alpha.org", "medgrid"))
        .await;
    me(&app, &token).await;
    app.ok(
        &admin,
        "mutation($id: ID!) { removeIdentityProvider(id: $id) { id } }",
        json!({"id": id}),
    )
    .await;
    assert_eq!(
        app.code(Some(&token), ME, json!({})).await,
        "UNAUTHENTICATED"
    );
    let audit = app
        .ok(
            &admin,
            "{ auditLog(first: 50) { edges { node { action } } } }",
            json!({}),
        )
        .await
        .to_string();
    for action in [
        "IdentityProviderAdded",
        "ProvisioningSet",
        "IdentityProviderRemoved",
    ] {
        assert!(audit.contains(action), "{action} missing from {audit}");
    }
}

/// Unless the operator allows it (development, tests), a provider on the server's own
/// machine is refused: discovery would make the server probe its own ports.
#[tokio::test]
async fn providers_on_this_machine_need_the_operators_consent() {
    let mut config = medgrid_tests::test_config();
    config.oidc_allow_loopback = false;
    let app = TestApp::spawn_with(config).await;
    app.tenant("alpha").await;
    let (_, admin) = app
        .member("alpha", "admin@alpha.org", &[Role::TenantAdmin])
        .await;
    let before = app.event_count().await;
    let add = "mutation($i: IdentityProviderInput!) { addIdentityProvider(input: $i) { id } }";
    for issuer in [
        "http://127.0.0.1:5432",
        "https://localhost/realms/x",
        "https://[::1]:8443",
    ] {
        let input = json!({"name": "Local", "issuer": issuer, "audience": "medgrid"});
        let code = app.code(Some(&admin), add, json!({"i": input})).await;
        assert_eq!(code, "INVALID_INPUT", "{issuer}");
    }
    assert_eq!(app.event_count().await, before);
    app.trust(&admin, "https://sso.alpha.org/realms/a", "medgrid")
        .await;
}

/// The machine's own host name, when it resolves to loopback or private addresses only
/// (nearly everywhere: `127.0.1.1` on Debian, `127.0.0.1` or the container's address):
/// a name, not an address, leading to this machine.
async fn own_host_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim().to_owned();
    let addrs: Vec<_> = tokio::net::lookup_host((name.as_str(), 443))
        .await
        .ok()?
        .collect();
    let local = |ip: std::net::IpAddr| match ip {
        std::net::IpAddr::V4(v4) => v4.is_loopback() || v4.is_private(),
        std::net::IpAddr::V6(v6) => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
    };
    (!addrs.is_empty() && addrs.iter().all(|a| local(a.ip()))).then_some(name)
}

/// However its host is spelled — a decimal, hex or octal number, a short form, an
/// IPv4-mapped IPv6 address, a name resolving to this machine — a provider on this
/// machine, a private network, an unspecified or a metadata address is refused when it is
/// registered (INVALID_INPUT, no event), as the addresses are checked, not the spelling.
#[tokio::test]
async fn providers_on_this_machine_are_refused_however_the_host_is_spelled() {
    let mut config = medgrid_tests::test_config();
    config.oidc_allow_loopback = false;
    let app = TestApp::spawn_with(config).await;
    app.tenant("alpha").await;
    let (_, admin) = app
        .member("alpha", "admin@alpha.org", &[Role::TenantAdmin])
        .await;
    let before = app.event_count().await;
    let add = "mutation($i: IdentityProviderInput!) { addIdentityProvider(input: $i) { id } }";
    let mut issuers: Vec<String> = [
        "https://2130706433/realms/x",
        "https://0x7f000001/realms/x",
        "https://0x7f.1/realms/x",
        "https://0177.0.0.1/realms/x",
        "https://127.1:8443/realms/x",
        "https://LOCALHOST/realms/x",
        "https://0.0.0.0:8443/realms/x",
        "https://0/realms/x",
        "https://[::]:8443/realms/x",
        "https://[::ffff:127.0.0.1]/realms/x",
        "https://[::ffff:7f00:1]/realms/x",
        "https://10.0.0.1/realms/x",
        "https://192.168.1.1/realms/x",
        "https://169.254.169.254/latest/meta-data",
        "https://[fd00:ec2::254]/realms/x",
    ]
    .map(str::to_owned)
    .to_vec();
    match own_host_name().await {
        Some(name) => issuers.push(format!("https://{name}/realms/x")),
        None => eprintln!("this machine's host name does not resolve locally: case skipped"),
    }
    for issuer in &issuers {
        let input = json!({"name": "Local", "issuer": issuer, "audience": "medgrid"});
        let body = app.gql(Some(&admin), add, json!({"i": input})).await;
        assert_eq!(
            error_code(&body).as_deref(),
            Some("INVALID_INPUT"),
            "{issuer}: {body}"
        );
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.starts_with("issuer: "), "{issuer}: {message}");
    }
    assert_eq!(app.event_count().await, before);
}

/// Loopback and private networks may be allowed (tests, an institution's provider inside
/// its network), cloud metadata addresses never: not as the issuer, and not as the
/// `jwks_uri` a discovery document on an allowed address names — that fetch is refused
/// before any connection, and said so.
#[tokio::test]
async fn metadata_addresses_are_refused_even_where_local_providers_are_allowed() {
    let mut config = medgrid_tests::test_config();
    config.oidc_allow_private = true; // loopback is allowed by the tests' configuration
    let app = TestApp::spawn_with(config).await;
    app.tenant("alpha").await;
    let (_, admin) = app
        .member("alpha", "admin@alpha.org", &[Role::TenantAdmin])
        .await;
    let before = app.event_count().await;
    let add = "mutation($i: IdentityProviderInput!) { addIdentityProvider(input: $i) { id } }";
    for issuer in [
        "https://169.254.169.254/latest/meta-data",
        "https://2852039166/",
        "https://[::ffff:169.254.169.254]/",
        "https://[fd00:ec2::254]/",
        "https://100.100.100.200/",
        "https://0.0.0.0/",
    ] {
        let input = json!({"name": "Cloud", "issuer": issuer, "audience": "medgrid"});
        let code = app.code(Some(&admin), add, json!({"i": input})).await;
        assert_eq!(code, "INVALID_INPUT", "{issuer}");
    }
    assert_eq!(app.event_count().await, before);

    let issuer = medgrid_tests::oidc::documents_only(|iss| {
        medgrid_tests::oidc::discovery(
            iss,
            "https://169.254.169.254/latest/meta-data/iam/security-credentials/",
            &format!("{iss}/token"),
        )
    })
    .await;
    app.trust(&admin, &issuer, "medgrid").await;
    let before = app.event_count().await;
    let b64 = |v: Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let token = format!(
        "{}.{}.c2ln",
        b64(json!({"alg": "RS256", "typ": "JWT", "kid": "k"})),
        b64(
            json!({"iss": issuer, "aud": "medgrid", "sub": "u-1", "email": "ada@alpha.org",
                   "exp": now() + 300})
        ),
    );
    let body = app.gql(Some(&token), ME, json!({})).await;
    assert_eq!(
        error_code(&body).as_deref(),
        Some("UNAUTHENTICATED"),
        "{body}"
    );
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("at an address Medgrid does not fetch from"),
        "{message}"
    );
    assert_eq!(app.event_count().await, before);
}

/// Keys already fetched keep working while the provider is down, even past their time to
/// live: an outage of an institution's provider does not sign its people out of Medgrid.
#[tokio::test]
async fn known_keys_outlive_a_provider_outage() {
    let mut config = medgrid_tests::test_config();
    config.oidc_keys_ttl_seconds = 0; // every use wants fresh keys
    let app = TestApp::spawn_with(config).await;
    let (mut issuer, admin) = institution(&app, "alpha").await;
    just_in_time(&app, &admin).await;
    let person = issuer.person("u-1", "ada@alpha.org", "medgrid");
    let first = issuer.token(person.clone()).await;
    let later = issuer.token(person).await;
    me(&app, &first).await;
    issuer.stop().await;
    // past the refetch interval: Medgrid tries the provider, fails, keeps its keys
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(me(&app, &later).await["email"], "ada@alpha.org");
}

const ADD_PROVIDER: &str =
    "mutation($i: IdentityProviderInput!) { addIdentityProvider(input: $i) { id } }";
const UPDATE_PROVIDER: &str = "mutation($id: ID!, $i: IdentityProviderInput!) { updateIdentityProvider(id: $id, input: $i) { id } }";
const PROVIDERS: &str =
    "{ tenant { identityProviders { id name audience clientId disabledReason } } }";

/// A refusal's code and the field it names.
fn refusal(body: &Value) -> (Option<String>, Value) {
    (
        error_code(body),
        body["errors"][0]["extensions"]["field"].clone(),
    )
}

/// Issue 18, item 4: a second tenant trusting the issuer and audience of the first made
/// the first one's tokens match two tenants (and be refused); one with its issuer and
/// client id put a look-alike in the sign-in chooser. Both are unique across the platform:
/// CONFLICT, no event, and the first tenant's tokens keep working.
#[tokio::test]
async fn issuers_with_an_audience_or_a_client_id_are_registered_once_on_the_platform() {
    let app = TestApp::spawn().await;
    let (issuer, alpha) = institution(&app, "alpha").await;
    just_in_time(&app, &alpha).await;
    let ada = issuer.person("u-1", "ada@alpha.org", "medgrid");
    assert_eq!(
        me(&app, &issuer.token(ada.clone()).await).await["tenant"]["slug"],
        "alpha"
    );
    let alpha_web = json!({"name": "Alpha", "issuer": issuer.url, "audience": "alpha-web", "clientId": "portal"});
    app.ok(&alpha, ADD_PROVIDER, json!({"i": alpha_web})).await;
    app.tenant("beta").await;
    let (_, beta) = app
        .member("beta", "admin@beta.org", &[Role::TenantAdmin])
        .await;

    let before = app.event_count().await;
    let same_audience = json!({"name": "Beta", "issuer": issuer.url, "audience": "medgrid"});
    let body = app
        .gql(Some(&beta), ADD_PROVIDER, json!({"i": same_audience}))
        .await;
    assert_eq!(
        refusal(&body),
        (Some("CONFLICT".into()), json!("issuer")),
        "{body}"
    );
    let same_client =
        json!({"name": "Beta", "issuer": issuer.url, "audience": "beta", "clientId": "portal"});
    let body = app
        .gql(Some(&beta), ADD_PROVIDER, json!({"i": same_client}))
        .await;
    assert_eq!(
        refusal(&body),
        (Some("CONFLICT".into()), json!("clientId")),
        "{body}"
    );
    assert_eq!(app.event_count().await, before, "refusals wrote events");
    assert_eq!(
        me(&app, &issuer.token(ada.clone()).await).await["tenant"]["slug"],
        "alpha",
        "the first tenant's tokens keep working"
    );

    // the event store itself refuses, not only the use case's early check
    let beta_id = medgrid_domain::ids::TenantId::for_slug(&"beta".parse().unwrap());
    let provider = medgrid_domain::tenancy::IdentityProvider {
        name: "Beta".parse().unwrap(),
        issuer: issuer.url.parse().unwrap(),
        audience: "medgrid".into(),
        client_id: None,
        client_secret_fingerprint: None,
        claims: Default::default(),
    };
    let refused = app
        .core
        .services
        .bus
        .tenant(
            beta_id,
            medgrid_domain::tenancy::TenantCommand::AddIdentityProvider {
                provider_id: medgrid_domain::ids::ProviderId::random(),
                provider,
            },
            &app.operator().metadata(beta_id),
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code(), medgrid_domain::Code::Conflict, "{refused}");
    assert_eq!(app.event_count().await, before, "the append wrote events");

    // an issuer may be shared, with an audience and a client of its own; moving onto the
    // first tenant's is refused alike
    let own =
        json!({"name": "Beta", "issuer": issuer.url, "audience": "beta", "clientId": "beta-web"});
    let data = app.ok(&beta, ADD_PROVIDER, json!({"i": own})).await;
    let beta_provider = data["addIdentityProvider"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = app.event_count().await;
    let moved = json!({"name": "Beta", "issuer": issuer.url, "audience": "medgrid", "clientId": "beta-web"});
    let body = app
        .gql(
            Some(&beta),
            UPDATE_PROVIDER,
            json!({"id": beta_provider, "i": moved}),
        )
        .await;
    assert_eq!(error_code(&body).as_deref(), Some("CONFLICT"), "{body}");
    assert_eq!(app.event_count().await, before);

    // a provider removed frees its claims
    let alpha_first =
        app.ok(&alpha, PROVIDERS, json!({})).await["tenant"]["identityProviders"][0]["id"].clone();
    app.ok(
        &alpha,
        "mutation($id: ID!) { removeIdentityProvider(id: $id) { id } }",
        json!({"id": alpha_first}),
    )
    .await;
    app.ok(
        &beta,
        UPDATE_PROVIDER,
        json!({"id": beta_provider, "i": moved}),
    )
    .await;
    just_in_time(&app, &beta).await;
    let bob = issuer.person("u-2", "bob@beta.org", "medgrid");
    assert_eq!(
        me(&app, &issuer.token(bob).await).await["tenant"]["slug"],
        "beta"
    );

    // registrations at once: one wins, the other is refused and writes nothing
    let mut racers = vec![];
    for slug in ["gamma", "delta"] {
        app.tenant(slug).await;
        let (_, token) = app
            .member(slug, &format!("admin@{slug}.org"), &[Role::TenantAdmin])
            .await;
        racers.push(token);
    }
    for round in 0..4 {
        let before = app.event_count().await;
        let input = json!({"i": {"name": "Race", "issuer": issuer.url, "audience": format!("race-{round}")}});
        let (a, b) = tokio::join!(
            app.gql(Some(&racers[0]), ADD_PROVIDER, input.clone()),
            app.gql(Some(&racers[1]), ADD_PROVIDER, input.clone()),
        );
        let mut codes = [error_code(&a), error_code(&b)];
        codes.sort();
        assert_eq!(codes, [None, Some("CONFLICT".into())], "{a} {b}");
        assert_eq!(app.event_count().await, before + 1);
    }
}

/// Tenants and providers as Medgrid wrote them before claims existed: postgres-es, the
/// tenant aggregate's own checks only (it knows nothing of other tenants).
async fn written_before_claims(
    old: &postgres_es::PostgresCqrs<medgrid_domain::tenancy::Tenant>,
    slug: &str,
    command: medgrid_domain::tenancy::TenantCommand,
) {
    use medgrid_domain::metadata::{Causer, EventMetadata};
    let tenant = medgrid_domain::ids::TenantId::for_slug(&slug.parse().unwrap());
    let meta = EventMetadata::new(tenant, Causer::System("cli".into()), None);
    old.execute_with_metadata(&tenant.to_string(), command, meta.to_map())
        .await
        .unwrap();
}

/// Issue 18, item 4, the registrations already there: the oldest keeps its claims; a later
/// provider with the same issuer and audience, or issuer and client id, is disabled by an
/// event, with a reason its tenant's administrators read (GraphQL and the portal), matches
/// no token and is not offered at sign-in. Saved with settings of its own, it works again.
#[tokio::test]
async fn registrations_colliding_before_claims_existed_leave_the_oldest_working() {
    use medgrid_domain::ids::ProviderId;
    use medgrid_domain::tenancy::{IdentityProvider, TenantCommand};

    let issuer = Issuer::start().await;
    let db = medgrid_tests::TestDb::before_migration(28).await;
    let old = postgres_es::postgres_cqrs(db.pool.clone(), vec![], ());
    let provider = |audience: &str, client: &str| IdentityProvider {
        name: "Institution".parse().unwrap(),
        issuer: issuer.url.parse().unwrap(),
        audience: audience.into(),
        client_id: Some(client.into()),
        client_secret_fingerprint: None,
        claims: Default::default(),
    };
    let (first, same_audience, same_client) = (
        ProviderId::random(),
        ProviderId::random(),
        ProviderId::random(),
    );
    for (slug, name) in [("alpha", "Alpha"), ("beta", "Beta"), ("gamma", "ALPHA")] {
        let command = TenantCommand::Create {
            slug: slug.parse().unwrap(),
            name: name.parse().unwrap(),
        };
        written_before_claims(&old, slug, command).await;
    }
    for (slug, id, p) in [
        ("alpha", first, provider("medgrid", "alpha-web")),
        ("beta", same_audience, provider("medgrid", "beta-web")),
        ("gamma", same_client, provider("gamma", "alpha-web")),
    ] {
        let command = TenantCommand::AddIdentityProvider {
            provider_id: id,
            provider: p,
        };
        written_before_claims(&old, slug, command).await;
    }
    db.migrate().await;
    let events = sqlx::query_scalar::<_, i64>("SELECT count(*) FROM events")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    db.migrate().await;
    let again: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(again, events, "the backfill runs once");
    let app = TestApp::spawn_on(db, medgrid_tests::test_config()).await;
    app.settle().await;

    let mut admins = vec![];
    for slug in ["alpha", "beta", "gamma"] {
        let (_, token) = app
            .member(slug, &format!("admin@{slug}.org"), &[Role::TenantAdmin])
            .await;
        just_in_time(&app, &token).await;
        admins.push(token);
    }
    let listed = |i: usize| {
        let app = &app;
        let token = admins[i].clone();
        async move {
            app.ok(&token, PROVIDERS, json!({})).await["tenant"]["identityProviders"][0].clone()
        }
    };
    assert_eq!(listed(0).await["disabledReason"], Value::Null);
    let beta = listed(1).await;
    let reason = beta["disabledReason"].as_str().unwrap().to_owned();
    assert!(reason.contains("issuer and audience"), "{reason}");
    let gamma = listed(2).await;
    assert!(
        gamma["disabledReason"]
            .as_str()
            .unwrap()
            .contains("issuer and client id"),
        "{gamma}"
    );

    // the oldest registration's tokens name one tenant again
    let ada = issuer.person("u-1", "ada@alpha.org", "medgrid");
    assert_eq!(
        me(&app, &issuer.token(ada).await).await["tenant"]["slug"],
        "alpha"
    );
    // a disabled provider matches no token
    let gina = issuer.person("u-3", "gina@gamma.org", "gamma");
    assert_eq!(
        app.code(Some(&issuer.token(gina.clone()).await), ME, json!({}))
            .await,
        "UNAUTHENTICATED"
    );
    // and is not offered at sign-in (nor reachable there)
    let login = app.get("/login").await.text().await.unwrap();
    assert!(login.contains(&format!("/login/oidc/{first}")), "{login}");
    for disabled in [same_audience, same_client] {
        assert!(!login.contains(&disabled.to_string()), "{login}");
        let res = app.get(&format!("/login/oidc/{disabled}")).await;
        assert_eq!(res.status(), reqwest::StatusCode::NOT_FOUND);
    }
    // its administrators read why, on the portal too
    let cookies = crate::portal::signed_in(&app, "beta", "admin@beta.org").await;
    let page = crate::portal::get(&app, &cookies, "/admin/providers")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!(r#"id="disabled-{same_audience}""#))
            && page.contains("issuer and audience"),
        "{page}"
    );
    let audit = app
        .ok(
            &admins[1],
            "{ auditLog(first: 50) { edges { node { action actor } } } }",
            json!({}),
        )
        .await
        .to_string();
    assert!(
        audit.contains("IdentityProviderDisabled") && audit.contains("system:unique-claims"),
        "{audit}"
    );

    // saved unchanged, it is still refused; with settings of its own it works again
    let before = app.event_count().await;
    let unchanged = json!({"name": "Institution", "issuer": issuer.url, "audience": "gamma", "clientId": "alpha-web"});
    let body = app
        .gql(
            Some(&admins[2]),
            UPDATE_PROVIDER,
            json!({"id": gamma["id"], "i": unchanged}),
        )
        .await;
    assert_eq!(
        refusal(&body),
        (Some("CONFLICT".into()), json!("clientId")),
        "{body}"
    );
    assert_eq!(app.event_count().await, before);
    let own = json!({"name": "Institution", "issuer": issuer.url, "audience": "gamma", "clientId": "gamma-web"});
    app.ok(
        &admins[2],
        UPDATE_PROVIDER,
        json!({"id": gamma["id"], "i": own}),
    )
    .await;
    assert_eq!(listed(2).await["disabledReason"], Value::Null);
    assert_eq!(
        me(&app, &issuer.token(gina).await).await["tenant"]["slug"],
        "gamma"
    );

    // a look-alike name of the past stays, but takes nobody's name
    let gamma_id: String = sqlx::query_scalar("SELECT id::text FROM tenants WHERE slug = 'gamma'")
        .fetch_one(app.pool())
        .await
        .unwrap();
    let rename = medgrid_graphql::usecases::tenancy::change(
        &app.operator(),
        &gamma_id,
        TenantCommand::Rename {
            name: "alpha".parse().unwrap(),
        },
    )
    .await
    .unwrap_err();
    assert_eq!(rename.code, medgrid_domain::Code::Conflict);
}
