//! A tenant admin of tenant A sees and changes nothing of tenant B.

use medgrid_domain::Role;
use medgrid_tests::TestApp;
use serde_json::json;

#[tokio::test]
async fn a_tenant_admin_reaches_nothing_of_another_tenant() {
    let app = TestApp::spawn().await;
    let b = app.tenant("beta").await;
    app.tenant("alpha").await;
    let (_, alpha) = app
        .member("alpha", "admin@alpha.org", &[Role::TenantAdmin])
        .await;
    let (b_admin_id, beta) = app
        .member("beta", "admin@beta.org", &[Role::TenantAdmin])
        .await;
    let (b_member, _) = app.member("beta", "bob@beta.org", &[]).await;
    let g = app
        .ok(
            &beta,
            "mutation { createGroup(name: \"Secret\") { id } }",
            json!({}),
        )
        .await;
    let b_group = g["createGroup"]["id"].as_str().unwrap().to_owned();
    let t = app
        .ok(
            &beta,
            "mutation { issueToken(name: \"x\") { accessToken { id } } }",
            json!({}),
        )
        .await;
    let b_token = t["issueToken"]["accessToken"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let g = app
        .ok(
            &alpha,
            "mutation { createGroup(name: \"Mine\") { id } }",
            json!({}),
        )
        .await;
    let a_group = g["createGroup"]["id"].as_str().unwrap().to_owned();

    let (b, m, bm, grp, tok) = (
        b.to_string(),
        b_member.to_string(),
        b_admin_id.to_string(),
        b_group,
        b_token,
    );
    let before = app.event_count().await;
    let attempts = [
        (
            "query($t: ID!) { tenant(id: $t) { name } }",
            json!({"t": b}),
        ),
        (
            "query($t: ID!) { members(tenantId: $t) { edges { node { email } } } }",
            json!({"t": b}),
        ),
        (
            "query($t: ID!) { groups(tenantId: $t) { edges { node { name } } } }",
            json!({"t": b}),
        ),
        (
            "query($t: ID!) { auditLog(tenantId: $t) { edges { node { action } } } }",
            json!({"t": b}),
        ),
        (
            "query($m: ID!) { member(id: $m) { email } }",
            json!({"m": m}),
        ),
        (
            "query($g: ID!) { group(id: $g) { name } }",
            json!({"g": grp}),
        ),
        (
            "mutation($t: ID!) { renameTenant(id: $t, name: \"Pwned\") { name } }",
            json!({"t": b}),
        ),
        (
            "mutation($t: ID!) { suspendTenant(id: $t, reason: \"x\") { name } }",
            json!({"t": b}),
        ),
        (
            "mutation($t: ID!) { createMember(input: {email: \"spy@beta.org\", name: \"Spy\", tenantId: $t}) { id } }",
            json!({"t": b}),
        ),
        (
            "mutation($t: ID!) { createGroup(name: \"Spies\", tenantId: $t) { id } }",
            json!({"t": b}),
        ),
        (
            "mutation($m: ID!) { grantRole(memberId: $m, role: TENANT_ADMIN) { id } }",
            json!({"m": m}),
        ),
        (
            "mutation($m: ID!) { revokeRole(memberId: $m, role: TENANT_ADMIN) { id } }",
            json!({"m": bm}),
        ),
        (
            "mutation($m: ID!) { disableMember(id: $m) { id } }",
            json!({"m": bm}),
        ),
        (
            "mutation($m: ID!) { setPassword(memberId: $m, password: \"a takeover password\") { id } }",
            json!({"m": bm}),
        ),
        (
            "mutation($x: ID!) { revokeToken(id: $x) { id } }",
            json!({"x": tok}),
        ),
        (
            "mutation($g: ID!) { renameGroup(id: $g, name: \"x\") { id } }",
            json!({"g": grp}),
        ),
        (
            "mutation($g: ID!, $m: ID!) { addGroupMember(groupId: $g, memberId: $m) { id } }",
            json!({"g": grp, "m": m}),
        ),
        (
            "mutation($g: ID!, $m: ID!) { addGroupMember(groupId: $g, memberId: $m) { id } }",
            json!({"g": a_group, "m": m}),
        ),
    ];
    for (query, vars) in attempts {
        assert_eq!(
            app.code(Some(&alpha), query, vars).await,
            "NOT_FOUND",
            "{query}"
        );
    }
    assert_eq!(
        app.event_count().await,
        before,
        "a cross-tenant attempt wrote an event"
    );

    let mine = app
        .ok(
            &alpha,
            "{ members { edges { node { email } } } }",
            json!({}),
        )
        .await;
    let emails: Vec<&str> = mine["members"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, vec!["admin@alpha.org"]);
    let groups = app
        .ok(&alpha, "{ groups { edges { node { name } } } }", json!({}))
        .await;
    assert_eq!(groups["groups"]["edges"].as_array().unwrap().len(), 1);
    // and B's data is untouched
    let b_view = app
        .ok(
            &beta,
            "query($m: ID!) { member(id: $m) { roles disabled } }",
            json!({"m": bm}),
        )
        .await;
    assert_eq!(b_view["member"]["roles"], json!(["TENANT_ADMIN"]));
    assert_eq!(b_view["member"]["disabled"], false);
}
