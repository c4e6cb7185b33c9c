//! Members, roles, tokens, passwords and groups through GraphQL.

use medgrid_domain::Role;
use medgrid_tests::TestApp;
use serde_json::{Value, json};

pub const CREATE_MEMBER: &str =
    "mutation($input: CreateMemberInput!) { createMember(input: $input) { id email roles } }";
const ME: &str = "{ me { id email roles disabled } }";

pub async fn create_member(app: &TestApp, token: &str, email: &str, roles: Value) -> String {
    let data = app
        .ok(
            token,
            CREATE_MEMBER,
            json!({"input": {"email": email, "name": email, "roles": roles}}),
        )
        .await;
    data["createMember"]["id"].as_str().unwrap().to_owned()
}

/// A tenant with members, roles, groups, tokens, a disabled member, a revoked token and a
/// suspension (used by the rebuild test, so every read-model table has rows).
pub async fn populate(app: &TestApp) {
    app.tenant("acme").await;
    app.tenant("other").await;
    let (_, admin) = app
        .member("acme", "admin@acme.org", &[Role::TenantAdmin])
        .await;
    let (_, root) = app
        .member("other", "root@platform.org", &[Role::PlatformAdmin])
        .await;
    let bob = create_member(app, &admin, "bob@acme.org", json!([])).await;
    let eve = create_member(app, &admin, "eve@acme.org", json!(["TENANT_ADMIN"])).await;
    let group = app
        .ok(
            &admin,
            "mutation { createGroup(name: \"Cardio\") { id } }",
            json!({}),
        )
        .await;
    let group = group["createGroup"]["id"].as_str().unwrap().to_owned();
    for (member, role) in [(&bob, "MEMBER"), (&eve, "MANAGER")] {
        app.ok(
            &admin,
            "mutation($g: ID!, $m: ID!, $r: GroupRole!) { addGroupMember(groupId: $g, memberId: $m, role: $r) { id } }",
            json!({"g": group, "m": member, "r": role}),
        )
        .await;
    }
    let resource = json!({"name": "hpc", "kind": "SLURM", "partition": "debug", "maxNodes": 2,
                          "coresPerNode": 2, "walltimeLimitSeconds": 600, "allTenants": true,
                          "defaultMemoryMb": 2048});
    app.ok(&root, crate::compute::REGISTER, json!({"i": resource}))
        .await;
    let registered = app
        .ok(
            &admin,
            crate::catalog::REGISTER,
            json!({"d": crate::catalog::descriptor()}),
        )
        .await;
    let application = &registered["registerApplication"]["id"];
    app.ok(
        &root,
        crate::catalog::NETWORKED,
        json!({"id": application, "n": true}),
    )
    .await;
    app.ok(
        &admin,
        "mutation($g: ID!) { renameGroup(id: $g, name: \"Cardiology\") { id } }",
        json!({"g": group}),
    )
    .await;
    app.ok(
        &admin,
        "mutation($m: ID!) { disableMember(id: $m) { id } }",
        json!({"m": eve}),
    )
    .await;
    // identity: a provider (added, updated, one removed), provisioning, an invitation
    let provider = app
        .trust(&admin, "https://sso.acme.org/realms/acme", "medgrid")
        .await;
    let gone = app
        .trust(&admin, "https://sso.acme.org/realms/old", "medgrid")
        .await;
    app.ok(
        &admin,
        "mutation($p: ID!, $i: IdentityProviderInput!) { updateIdentityProvider(id: $p, input: $i) { id } }",
        json!({"p": provider, "i": {"name": "ACME SSO", "issuer": "https://sso.acme.org/realms/acme",
               "audience": "medgrid", "clientId": "portal", "claims": {"adminRoles": ["boss"]}}}),
    )
    .await;
    app.ok(
        &admin,
        "mutation($p: ID!) { removeIdentityProvider(id: $p) { id } }",
        json!({"p": gone}),
    )
    .await;
    app.ok(
        &admin,
        "mutation { setProvisioning(mode: JUST_IN_TIME) { id } }",
        json!({}),
    )
    .await;
    app.ok(
        &admin,
        "mutation { inviteMember(input: {email: \"carol@acme.org\"}) { id } }",
        json!({}),
    )
    .await;
    // someone from a real provider signs in twice, their groups changing in between
    let issuer = medgrid_tests::oidc::Issuer::start().await;
    app.trust(&admin, &issuer.url, "medgrid").await;
    let mut person = issuer.person("dan", "dan@acme.org", "medgrid");
    person["groups"] = json!(["/cardio"]);
    let me = "{ me { id } }";
    app.ok(&issuer.token(person.clone()).await, me, json!({}))
        .await;
    person["groups"] = json!(["/cardio", "/mri"]);
    app.ok(&issuer.token(person).await, me, json!({})).await;
    let issued = app
        .ok(
            &admin,
            "mutation { issueToken(name: \"script\") { accessToken { id } } }",
            json!({}),
        )
        .await;
    let token_id = issued["issueToken"]["accessToken"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.ok(
        &admin,
        "mutation($t: ID!) { revokeToken(id: $t) { revokedAt } }",
        json!({"t": token_id}),
    )
    .await;
    let other = app.ok(&root, "{ tenant { id } }", json!({})).await;
    let other = other["tenant"]["id"].as_str().unwrap().to_owned();
    app.ok(
        &root,
        "mutation($t: ID!) { suspendTenant(id: $t, reason: \"audit\") { status } }",
        json!({"t": other}),
    )
    .await;
    crate::spaces::populate(app, &admin, &group).await;
    crate::imports::populate(app, &admin).await;
    // a job that ran: jobs, attempts and timeline
    medgrid::bootstrap::local_resource(&app.core.services)
        .await
        .unwrap();
    let shell = crate::jobs::shell_app(app, &admin).await;
    let job = crate::jobs::submit(
        app,
        &admin,
        json!({"applicationId": shell, "parameters": {"script": "echo hi > out.txt"}}),
    )
    .await;
    let id = job["id"].as_str().unwrap();
    crate::jobs::wait_until(app, &admin, id, 60, crate::jobs::in_state("SUCCEEDED")).await;
    // notification preferences and defaults; a ticket about the job, with a comment
    crate::notifications::populate(app, &admin).await;
    crate::tickets::populate(app, &admin, id).await;
    // and its output filed in the admin's home by the archiver
    crate::job_files::settled(app, &admin, id).await;
}

#[tokio::test]
async fn a_tenant_admin_manages_members_and_roles() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let (_, admin) = app
        .member("acme", "admin@acme.org", &[Role::TenantAdmin])
        .await;
    let bob = create_member(&app, &admin, "Bob@Acme.org", json!([])).await;

    // read-your-writes: the list includes the member the mutation just created
    let list = app
        .ok(
            &admin,
            "{ members(first: 10) { edges { node { email } } pageInfo { hasNextPage } } }",
            json!({}),
        )
        .await;
    let emails: Vec<&str> = list["members"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, vec!["admin@acme.org", "bob@acme.org"]);

    let data = app
        .ok(
            &admin,
            "mutation($m: ID!) { grantRole(memberId: $m, role: TENANT_ADMIN) { roles } }",
            json!({"m": bob}),
        )
        .await;
    assert_eq!(data["grantRole"]["roles"], json!(["TENANT_ADMIN"]));
    // only platform admins hand out PLATFORM_ADMIN
    let code = app
        .code(
            Some(&admin),
            "mutation($m: ID!) { grantRole(memberId: $m, role: PLATFORM_ADMIN) { roles } }",
            json!({"m": bob}),
        )
        .await;
    assert_eq!(code, "FORBIDDEN");
}

#[tokio::test]
async fn duplicate_email_conflicts_and_writes_nothing() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let (_, admin) = app
        .member("acme", "admin@acme.org", &[Role::TenantAdmin])
        .await;
    create_member(&app, &admin, "bob@acme.org", json!([])).await;
    let before = app.event_count().await;
    let code = app
        .code(
            Some(&admin),
            CREATE_MEMBER,
            json!({"input": {"email": " BOB@acme.org", "name": "Bob again"}}),
        )
        .await;
    assert_eq!(code, "CONFLICT");
    let code = app
        .code(
            Some(&admin),
            CREATE_MEMBER,
            json!({"input": {"email": "not-an-address", "name": "X"}}),
        )
        .await;
    assert_eq!(code, "INVALID_INPUT");
    let code = app
        .code(
            Some(&admin),
            CREATE_MEMBER,
            json!({"input": {"email": "c@acme.org", "name": "C", "password": "short"}}),
        )
        .await;
    assert_eq!(code, "INVALID_INPUT");
    assert_eq!(
        app.event_count().await,
        before,
        "refused commands left events behind"
    );
}

#[tokio::test]
async fn a_plain_member_cannot_administer() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let (admin_id, _) = app
        .member("acme", "admin@acme.org", &[Role::TenantAdmin])
        .await;
    let (_, bob) = app.member("acme", "bob@acme.org", &[]).await;
    let before = app.event_count().await;
    for (query, vars) in [
        (
            CREATE_MEMBER,
            json!({"input": {"email": "x@acme.org", "name": "X"}}),
        ),
        (
            "mutation($m: ID!) { disableMember(id: $m) { id } }",
            json!({"m": admin_id.to_string()}),
        ),
        (
            "mutation($m: ID!) { grantRole(memberId: $m, role: TENANT_ADMIN) { id } }",
            json!({"m": admin_id.to_string()}),
        ),
        ("mutation { createGroup(name: \"G\") { id } }", json!({})),
        (
            "mutation { createTenant(input: {slug: \"evil\", name: \"Evil\"}) { id } }",
            json!({}),
        ),
        ("{ tenants { edges { node { slug } } } }", json!({})),
    ] {
        assert_eq!(
            app.code(Some(&bob), query, vars).await,
            "FORBIDDEN",
            "{query}"
        );
    }
    assert_eq!(app.event_count().await, before);
}

#[tokio::test]
async fn tokens_and_passwords() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let (_, admin) = app
        .member("acme", "admin@acme.org", &[Role::TenantAdmin])
        .await;

    // wrong and malformed credentials
    assert_eq!(
        app.code(Some("mgt_nope"), ME, json!({})).await,
        "UNAUTHENTICATED"
    );
    assert_eq!(app.code(None, ME, json!({})).await, "UNAUTHENTICATED");
    let raw = app
        .http()
        .post(format!("{}/graphql", app.url))
        .header("authorization", "Basic abc")
        .json(&json!({"query": ME}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(
        medgrid_tests::error_code(&raw).as_deref(),
        Some("UNAUTHENTICATED")
    );

    // a personal token works until revoked
    let issued = app
        .ok(
            &admin,
            "mutation { issueToken(name: \"ci\") { token accessToken { id } } }",
            json!({}),
        )
        .await;
    let token = issued["issueToken"]["token"].as_str().unwrap().to_owned();
    let id = issued["issueToken"]["accessToken"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.ok(&token, ME, json!({})).await["me"]["email"],
        "admin@acme.org"
    );
    app.ok(
        &admin,
        "mutation($t: ID!) { revokeToken(id: $t) { revokedAt } }",
        json!({"t": id}),
    )
    .await;
    assert_eq!(
        app.code(Some(&token), ME, json!({})).await,
        "UNAUTHENTICATED"
    );
    assert_eq!(
        app.code(
            Some(&admin),
            "mutation($t: ID!) { revokeToken(id: $t) { revokedAt } }",
            json!({"t": id})
        )
        .await,
        "NOT_FOUND",
        "a revoked token cannot be revoked again"
    );
    // expiry must lie ahead
    let past =
        "mutation { issueToken(name: \"old\", expiresAt: \"2001-01-01T00:00:00Z\") { token } }";
    assert_eq!(
        app.code(Some(&admin), past, json!({})).await,
        "INVALID_INPUT"
    );

    // password login
    let login = "mutation($p: String!) { login(tenant: \"acme\", email: \"ADMIN@acme.org\", password: $p) { token } }";
    assert_eq!(
        app.code(None, login, json!({"p": "the wrong password"}))
            .await,
        "UNAUTHENTICATED"
    );
    let data = app
        .gql(None, login, json!({"p": "a long test password"}))
        .await;
    let session = data["data"]["login"]["token"].as_str().unwrap().to_owned();
    assert_eq!(
        app.ok(&session, ME, json!({})).await["me"]["email"],
        "admin@acme.org"
    );
    app.ok(
        &session,
        "mutation { setPassword(password: \"another long password\") { id } }",
        json!({}),
    )
    .await;
    assert_eq!(
        app.code(None, login, json!({"p": "a long test password"}))
            .await,
        "UNAUTHENTICATED"
    );
    assert!(
        app.gql(None, login, json!({"p": "another long password"}))
            .await["data"]["login"]["token"]
            .is_string()
    );
}

#[tokio::test]
async fn a_disabled_member_and_a_suspended_tenant_can_do_nothing() {
    let app = TestApp::spawn().await;
    let acme = app.tenant("acme").await;
    app.tenant("ops").await;
    let (_, root) = app
        .member("ops", "root@ops.org", &[Role::PlatformAdmin])
        .await;
    let (_, admin) = app
        .member("acme", "admin@acme.org", &[Role::TenantAdmin])
        .await;
    let (bob_id, bob) = app.member("acme", "bob@acme.org", &[]).await;

    app.ok(
        &admin,
        "mutation($m: ID!) { disableMember(id: $m) { disabled } }",
        json!({"m": bob_id.to_string()}),
    )
    .await;
    assert_eq!(app.code(Some(&bob), ME, json!({})).await, "FORBIDDEN");
    let login = "mutation { login(tenant: \"acme\", email: \"bob@acme.org\", password: \"a long test password\") { token } }";
    assert_eq!(app.code(None, login, json!({})).await, "FORBIDDEN");
    app.ok(
        &admin,
        "mutation($m: ID!) { enableMember(id: $m) { disabled } }",
        json!({"m": bob_id.to_string()}),
    )
    .await;
    assert_eq!(app.ok(&bob, ME, json!({})).await["me"]["disabled"], false);

    // nobody disables themselves
    let me = app.ok(&admin, ME, json!({})).await;
    let code = app
        .code(
            Some(&admin),
            "mutation($m: ID!) { disableMember(id: $m) { id } }",
            json!({"m": me["me"]["id"]}),
        )
        .await;
    assert_eq!(code, "CONFLICT");

    // a tenant admin cannot suspend; a platform admin can, and then nobody there acts
    let suspend = "mutation($t: ID!, $r: String!) { suspendTenant(id: $t, reason: $r) { status } }";
    let vars = json!({"t": acme.to_string(), "r": "contract ended"});
    assert_eq!(
        app.code(Some(&admin), suspend, vars.clone()).await,
        "FORBIDDEN"
    );
    assert_eq!(
        app.ok(&root, suspend, vars.clone()).await["suspendTenant"]["status"],
        "SUSPENDED"
    );
    assert_eq!(app.code(Some(&root), suspend, vars).await, "CONFLICT");
    for token in [&admin, &bob] {
        assert_eq!(app.code(Some(token), ME, json!({})).await, "FORBIDDEN");
    }
    let login = "mutation { login(tenant: \"acme\", email: \"admin@acme.org\", password: \"a long test password\") { token } }";
    assert_eq!(app.code(None, login, json!({})).await, "FORBIDDEN");
    app.ok(
        &root,
        "mutation($t: ID!) { reactivateTenant(id: $t) { status } }",
        json!({"t": acme.to_string()}),
    )
    .await;
    assert!(app.ok(&admin, ME, json!({})).await["me"]["email"].is_string());
}

#[tokio::test]
async fn platform_admins_create_tenants_once() {
    let app = TestApp::spawn().await;
    app.tenant("ops").await;
    let (_, root) = app
        .member("ops", "root@ops.org", &[Role::PlatformAdmin])
        .await;
    let create = "mutation($s: String!) { createTenant(input: {slug: $s, name: \"Hospital\"}) { id slug status } }";
    let data = app.ok(&root, create, json!({"s": "chu-lyon"})).await;
    assert_eq!(data["createTenant"]["status"], "ACTIVE");
    let before = app.event_count().await;
    assert_eq!(
        app.code(Some(&root), create, json!({"s": "chu-lyon"}))
            .await,
        "CONFLICT"
    );
    assert_eq!(
        app.code(Some(&root), create, json!({"s": "Bad Slug"}))
            .await,
        "INVALID_INPUT"
    );
    assert_eq!(app.event_count().await, before);
    let tenant = data["createTenant"]["id"].as_str().unwrap();
    // a platform admin can create the new tenant's first administrator there
    let first = app
        .ok(&root, CREATE_MEMBER, json!({"input": {"email": "boss@chu-lyon.fr", "name": "Boss", "roles": ["TENANT_ADMIN"], "tenantId": tenant}}))
        .await;
    assert_eq!(first["createMember"]["roles"], json!(["TENANT_ADMIN"]));
    let list = app
        .ok(
            &root,
            "{ tenants(first: 1) { edges { cursor node { slug } } pageInfo { hasNextPage } } }",
            json!({}),
        )
        .await;
    assert_eq!(list["tenants"]["pageInfo"]["hasNextPage"], true);
    let cursor = list["tenants"]["edges"][0]["cursor"].clone();
    let next = app
        .ok(
            &root,
            "query($a: String) { tenants(first: 5, after: $a) { edges { node { slug } } } }",
            json!({"a": cursor}),
        )
        .await;
    assert_eq!(next["tenants"]["edges"][0]["node"]["slug"], "chu-lyon");
}

#[tokio::test]
async fn groups_are_managed_by_their_managers() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let (_, admin) = app
        .member("acme", "admin@acme.org", &[Role::TenantAdmin])
        .await;
    let (ann_id, ann) = app.member("acme", "ann@acme.org", &[]).await;
    let (bob_id, bob) = app.member("acme", "bob@acme.org", &[]).await;
    let (cat_id, _) = app.member("acme", "cat@acme.org", &[]).await;
    let g = app
        .ok(
            &admin,
            "mutation { createGroup(name: \"Neuro\") { id } }",
            json!({}),
        )
        .await;
    let g = g["createGroup"]["id"].as_str().unwrap().to_owned();
    let manager = "mutation($g: ID!, $m: ID!) { addGroupMember(groupId: $g, memberId: $m, role: MANAGER) { id } }";
    app.ok(&admin, manager, json!({"g": g, "m": ann_id.to_string()}))
        .await;
    let add = "mutation($g: ID!, $m: ID!) { addGroupMember(groupId: $g, memberId: $m) { members { role member { email } } } }";
    // a plain member sees no group of others and cannot add to it
    assert_eq!(
        app.code(Some(&bob), add, json!({"g": g, "m": bob_id.to_string()}))
            .await,
        "NOT_FOUND"
    );
    // the manager adds members
    let data = app
        .ok(&ann, add, json!({"g": g, "m": cat_id.to_string()}))
        .await;
    assert_eq!(
        data["addGroupMember"]["members"].as_array().unwrap().len(),
        2
    );
    // members see their own groups only
    let mine = app
        .ok(&ann, "{ groups { edges { node { name } } } }", json!({}))
        .await;
    assert_eq!(mine["groups"]["edges"].as_array().unwrap().len(), 1);
    let none = app
        .ok(&bob, "{ groups { edges { node { name } } } }", json!({}))
        .await;
    assert!(none["groups"]["edges"].as_array().unwrap().is_empty());
    let remove = "mutation($g: ID!, $m: ID!) { removeGroupMember(groupId: $g, memberId: $m) { members { member { email } } } }";
    app.ok(&ann, remove, json!({"g": g, "m": cat_id.to_string()}))
        .await;
    assert_eq!(
        app.code(Some(&ann), remove, json!({"g": g, "m": cat_id.to_string()}))
            .await,
        "NOT_FOUND"
    );
}

#[tokio::test]
async fn concurrent_updates_of_one_aggregate_are_all_kept() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let (_, admin) = app
        .member("acme", "admin@acme.org", &[Role::TenantAdmin])
        .await;
    let g = app
        .ok(
            &admin,
            "mutation { createGroup(name: \"Busy\") { id } }",
            json!({}),
        )
        .await;
    let g = g["createGroup"]["id"].as_str().unwrap().to_owned();
    let mut ids = vec![];
    for i in 0..12 {
        ids.push(create_member(&app, &admin, &format!("m{i}@acme.org"), json!([])).await);
    }
    let add = "mutation($g: ID!, $m: ID!) { addGroupMember(groupId: $g, memberId: $m) { id } }";
    let results = futures::future::join_all(
        ids.iter()
            .map(|m| app.gql(Some(&admin), add, json!({"g": g, "m": m}))),
    )
    .await;
    for r in &results {
        assert!(r.get("errors").is_none(), "a concurrent add failed: {r}");
    }
    let data = app
        .ok(
            &admin,
            "query($g: ID!) { group(id: $g) { members { role } } }",
            json!({"g": g}),
        )
        .await;
    assert_eq!(
        data["group"]["members"].as_array().unwrap().len(),
        12,
        "an update was lost"
    );
}

/// Tenant administrators read who did what in their tenant, newest first; members may not,
/// and another tenant's administrators see none of it.
#[tokio::test]
async fn the_audit_log_says_who_did_what() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    app.tenant("other").await;
    let (admin_id, admin) = app
        .member("acme", "admin@acme.org", &[Role::TenantAdmin])
        .await;
    let (_, carol) = app.member("acme", "carol@acme.org", &[]).await;
    let (_, stranger) = app
        .member("other", "admin@other.org", &[Role::TenantAdmin])
        .await;
    let bob = create_member(&app, &admin, "bob@acme.org", json!([])).await;
    let q = "query($f: AuditFilterInput) { auditLog(first: 50, filter: $f) {
               edges { node { at actor action subjectType subjectId requestId } } } }";
    let nodes = |data: Value| -> Vec<Value> {
        data["auditLog"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"].clone())
            .collect()
    };
    let by_admin = nodes(
        app.ok(&admin, q, json!({"f": {"actorId": admin_id.to_string()}}))
            .await,
    );
    assert_eq!(by_admin.len(), 1, "{by_admin:#?}");
    assert_eq!(by_admin[0]["action"], "MemberCreated");
    assert_eq!(by_admin[0]["subjectType"], "Member");
    assert_eq!(by_admin[0]["subjectId"], bob.as_str());
    assert_eq!(by_admin[0]["actor"], format!("member:{admin_id}"));
    assert!(by_admin[0]["requestId"].is_string(), "{by_admin:#?}");
    let all = nodes(app.ok(&admin, q, json!({})).await);
    assert!(all.len() > 1);
    assert_eq!(all[0]["subjectId"], bob.as_str(), "newest first");
    let theirs = nodes(app.ok(&stranger, q, json!({})).await);
    assert!(
        theirs.iter().all(|n| n["subjectId"] != bob.as_str()),
        "{theirs:#?}"
    );
    assert_eq!(app.code(Some(&carol), q, json!({})).await, "FORBIDDEN");
    let reversed = json!({"f": {"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}});
    assert_eq!(app.code(Some(&admin), q, reversed).await, "INVALID_INPUT");
}

const SET_PASSWORD: &str =
    "mutation($m: ID!, $p: String!) { setPassword(memberId: $m, password: $p) { id } }";
const LOGIN: &str = "mutation($t: String!, $e: String!, $p: String!) {
    login(tenant: $t, email: $e, password: $p) { token } }";

/// The id of the first token of `member` (as seen by `token`, their owner or an admin).
async fn first_token_of(app: &TestApp, token: &str, member: &str) -> String {
    let data = app
        .ok(
            token,
            "query($m: ID!) { member(id: $m) { tokens { id } } }",
            json!({"m": member}),
        )
        .await;
    data["member"]["tokens"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Every way of acting on member `m` (password, access, roles, tokens), as GraphQL
/// requests; `token` is one of that member's token ids.
fn actions_on(m: &str, token: &str) -> Vec<(&'static str, Value)> {
    // the token first: a new password would revoke it
    vec![
        (
            "mutation($t: ID!) { revokeToken(id: $t) { id } }",
            json!({"t": token}),
        ),
        (
            SET_PASSWORD,
            json!({"m": m, "p": "the attacker's password"}),
        ),
        (
            "mutation($m: ID!) { disableMember(id: $m) { id } }",
            json!({"m": m}),
        ),
        (
            "mutation($m: ID!) { enableMember(id: $m) { id } }",
            json!({"m": m}),
        ),
        (
            "mutation($m: ID!) { grantRole(memberId: $m, role: TENANT_ADMIN) { id } }",
            json!({"m": m}),
        ),
        (
            "mutation($m: ID!) { revokeRole(memberId: $m, role: TENANT_ADMIN) { id } }",
            json!({"m": m}),
        ),
    ]
}

/// The tried attack: a second administrator of the platform admin's tenant took the
/// platform admin's account with setPassword, then disabled it. Nobody acts on a member
/// who holds a role they lack; an administrator acts on a peer holding the same roles.
/// (`issueToken` names no member: tokens are issued to their owner only.)
#[tokio::test]
async fn nobody_acts_on_a_member_holding_a_role_they_lack() {
    let app = TestApp::spawn().await;
    app.tenant("demo").await;
    let (root_id, root) = app
        .member(
            "demo",
            "admin@demo.local",
            &[Role::TenantAdmin, Role::PlatformAdmin],
        )
        .await;
    let (_, second) = app
        .member("demo", "second@demo.local", &[Role::TenantAdmin])
        .await;
    let (peer_id, peer) = app
        .member("demo", "peer@demo.local", &[Role::TenantAdmin])
        .await;
    let root_id = root_id.to_string();
    let root_token = first_token_of(&app, &root, &root_id).await;

    let before = app.event_count().await;
    for (query, vars) in actions_on(&root_id, &root_token) {
        assert_eq!(
            app.code(Some(&second), query, vars).await,
            "FORBIDDEN",
            "{query}"
        );
    }
    assert_eq!(app.event_count().await, before, "a refusal wrote an event");
    let login = |p: &str| json!({"t": "demo", "e": "admin@demo.local", "p": p});
    assert_eq!(
        app.code(None, LOGIN, login("the attacker's password"))
            .await,
        "UNAUTHENTICATED"
    );
    assert!(
        app.gql(None, LOGIN, login("a long test password")).await["data"]["login"]["token"]
            .is_string()
    );
    assert_eq!(app.ok(&root, ME, json!({})).await["me"]["disabled"], false);

    // a peer holding the same roles: every action passes
    let peer_id = peer_id.to_string();
    let peer_token = first_token_of(&app, &peer, &peer_id).await;
    for (query, vars) in actions_on(&peer_id, &peer_token) {
        app.ok(&second, query, vars).await;
    }
    // and the platform admin acts on anyone of any tenant
    app.tenant("other").await;
    let (other_admin, _) = app
        .member("other", "boss@other.org", &[Role::TenantAdmin])
        .await;
    let other_admin = other_admin.to_string();
    let other_token = first_token_of(&app, &root, &other_admin).await;
    for (query, vars) in actions_on(&other_admin, &other_token) {
        app.ok(&root, query, vars).await;
    }
}

/// A password set by an administrator (or by the member) ends the member's sessions and
/// personal tokens, through `TokenRevoked` events every replica and read model sees.
#[tokio::test]
async fn a_new_password_ends_the_members_sessions_and_tokens() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let (_, admin) = app
        .member("acme", "admin@acme.org", &[Role::TenantAdmin])
        .await;
    let (bob_id, bob_token) = app.member("acme", "bob@acme.org", &[]).await;
    let login = |p: &str| json!({"t": "acme", "e": "bob@acme.org", "p": p});
    let session =
        app.gql(None, LOGIN, login("a long test password")).await["data"]["login"]["token"]
            .as_str()
            .unwrap()
            .to_owned();
    assert!(app.ok(&session, ME, json!({})).await["me"]["id"].is_string());

    app.ok(
        &admin,
        SET_PASSWORD,
        json!({"m": bob_id.to_string(), "p": "a password from the admin"}),
    )
    .await;
    for old in [&bob_token, &session] {
        assert_eq!(app.code(Some(old), ME, json!({})).await, "UNAUTHENTICATED");
    }
    let revoked: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_id = $1 AND event_type = 'TokenRevoked'",
    )
    .bind(bob_id.to_string())
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!(revoked, 2, "one TokenRevoked event per open token");

    // changing one's own password ends one's sessions too, the current one included
    let session = app
        .gql(None, LOGIN, login("a password from the admin"))
        .await["data"]["login"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.ok(
        &session,
        "mutation { setPassword(password: \"bob's own password\") { id } }",
        json!({}),
    )
    .await;
    assert_eq!(
        app.code(Some(&session), ME, json!({})).await,
        "UNAUTHENTICATED"
    );
    assert!(
        app.gql(None, LOGIN, login("bob's own password")).await["data"]["login"]["token"]
            .is_string()
    );
}

/// A member who signs in through their institution (or is invited to) gets a local
/// password from a platform admin only: not from their tenant's admins, nor themselves.
#[tokio::test]
async fn a_federated_member_gets_a_password_only_from_a_platform_admin() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    app.tenant("ops").await;
    let (_, admin) = app
        .member("acme", "admin@acme.org", &[Role::TenantAdmin])
        .await;
    let (_, root) = app
        .member("ops", "root@ops.org", &[Role::PlatformAdmin])
        .await;
    let issuer = medgrid_tests::oidc::Issuer::start().await;
    app.trust(&admin, &issuer.url, "medgrid").await;
    app.ok(
        &admin,
        "mutation { setProvisioning(mode: JUST_IN_TIME) { id } }",
        json!({}),
    )
    .await;
    let jwt = issuer
        .token(issuer.person("dan", "dan@acme.org", "medgrid"))
        .await;
    let dan = app.ok(&jwt, ME, json!({})).await["me"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let invited = app
        .ok(
            &admin,
            "mutation { inviteMember(input: {email: \"carol@acme.org\"}) { id } }",
            json!({}),
        )
        .await["inviteMember"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let before = app.event_count().await;
    let password = |m: &str| json!({"m": m, "p": "a local way in"});
    for m in [&dan, &invited] {
        assert_eq!(
            app.code(Some(&admin), SET_PASSWORD, password(m)).await,
            "FORBIDDEN",
            "{m}"
        );
    }
    assert_eq!(
        app.code(Some(&jwt), SET_PASSWORD, password(&dan)).await,
        "FORBIDDEN",
        "nor do they give themselves one"
    );
    assert_eq!(app.event_count().await, before, "a refusal wrote an event");

    for m in [&dan, &invited] {
        app.ok(&root, SET_PASSWORD, password(m)).await;
    }
    let login = json!({"t": "acme", "e": "carol@acme.org", "p": "a local way in"});
    assert!(app.gql(None, LOGIN, login).await["data"]["login"]["token"].is_string());
}

/// Issue 18, item 4: tenant names people cannot tell apart are one name — compared after
/// case folding, NFKC and collapsing whitespace. A look-alike is refused with CONFLICT on
/// create and rename (no event); a tenant's own name in another case is its own, and a
/// name given up is free.
#[tokio::test]
async fn tenant_names_that_look_alike_are_refused() {
    let app = TestApp::spawn().await;
    app.tenant("ops").await;
    let (_, root) = app
        .member("ops", "root@ops.org", &[Role::PlatformAdmin])
        .await;
    let create = "mutation($s: String!, $n: String!) { createTenant(input: {slug: $s, name: $n}) { id name } }";
    let rename = "mutation($t: ID!, $n: String!) { renameTenant(id: $t, name: $n) { name } }";
    let refused = |body: &Value| {
        assert_eq!(
            (
                body["errors"][0]["extensions"]["code"].as_str(),
                body["errors"][0]["extensions"]["field"].as_str()
            ),
            (Some("CONFLICT"), Some("name")),
            "{body}"
        );
    };
    let first = app
        .ok(&root, create, json!({"s": "demo-a", "n": "Demo Hospital"}))
        .await["createTenant"]["id"]
        .clone();
    let look_alikes = [
        "Demo  Hospital",
        "demo hospital",
        " DEMO HOSPITAL ",
        "\u{ff24}\u{ff45}\u{ff4d}\u{ff4f} \u{ff28}ospital",
        "Demo\u{a0}Hospital",
    ];
    let before = app.event_count().await;
    for name in look_alikes {
        refused(
            &app.gql(Some(&root), create, json!({"s": "demo-b", "n": name}))
                .await,
        );
    }
    assert_eq!(app.event_count().await, before, "refusals wrote events");
    let other = app
        .ok(&root, create, json!({"s": "demo-b", "n": "Other Clinic"}))
        .await["createTenant"]["id"]
        .clone();
    let before = app.event_count().await;
    for name in look_alikes {
        refused(
            &app.gql(Some(&root), rename, json!({"t": other, "n": name}))
                .await,
        );
    }
    assert_eq!(app.event_count().await, before, "refusals wrote events");

    // its own name, written otherwise, is its own; a name given up is free
    app.ok(&root, rename, json!({"t": first, "n": "DEMO  HOSPITAL"}))
        .await;
    app.ok(&root, rename, json!({"t": first, "n": "Demo Clinic"}))
        .await;
    let data = app
        .ok(&root, rename, json!({"t": other, "n": "demo hospital"}))
        .await;
    assert_eq!(data["renameTenant"]["name"], "demo hospital");
}
