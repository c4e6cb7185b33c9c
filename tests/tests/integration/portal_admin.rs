//! The portal's administration of people: members, groups and the audit log over plain
//! HTTP without JavaScript (what the pages show, what each form changes — checked through
//! GraphQL — refusals beside their fields with the entries kept, CSRF, who may do what,
//! other tenants' objects out of sight, escaping), and an administrator's round in
//! headless Chromium.

use medgrid_tests::{TestApp, browser};
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::{Value, json};

use crate::jobs::setup;
use crate::portal::{csrf_of, get, post, signed_in};

const MEMBER: &str = "query($id: ID!) { member(id: $id) { name email roles disabled status } }";
const GROUP: &str = "query($id: ID!) { group(id: $id) { name coreHourBudget
    members { role member { email } } } }";

async fn member(app: &TestApp, token: &str, id: &str) -> Value {
    app.ok(token, MEMBER, json!({"id": id})).await["member"].clone()
}

async fn group(app: &TestApp, token: &str, id: &str) -> Value {
    app.ok(token, GROUP, json!({"id": id})).await["group"].clone()
}

async fn member_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM members")
        .fetch_one(app.pool())
        .await
        .unwrap()
}

/// The id a 303 sends to (`/admin/members/<id>`).
fn sent_to(res: &reqwest::Response, prefix: &str) -> String {
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let to = res.headers()[LOCATION].to_str().unwrap();
    to.strip_prefix(prefix)
        .unwrap_or_else(|| panic!("{to} is not under {prefix}"))
        .to_owned()
}

async fn id_of(app: &TestApp, token: &str, email: &str) -> String {
    let data = app
        .ok(
            token,
            "{ members(first: 100) { nodes { id email } } }",
            json!({}),
        )
        .await;
    data["members"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == email)
        .unwrap_or_else(|| panic!("no member {email}"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn administrators_add_members_and_change_their_roles_and_access() {
    let app = TestApp::spawn().await;
    let (admin, ann, _) = setup(&app, "uni").await;
    app.tenant("other").await;
    let (_, carl) = app.member("other", "carl@other.org", &[]).await;
    let cookies = signed_in(&app, "uni", "admin@uni.org").await;
    let csrf = csrf_of(&cookies);

    let page = get(&app, &cookies, "/admin/members").await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("ann@uni.org") && html.contains("admin@uni.org"));
    assert!(!html.contains("carl@other.org"), "another tenant's member");

    // a local account with a role; its name is shown as text
    let res = post(
        &app,
        &cookies,
        "/admin/members",
        &[
            ("csrf", &csrf),
            ("email", "bob@uni.org"),
            ("name", "<script>alert(1)</script> Bob"),
            ("password", "a long test password"),
            ("role.TENANT_ADMIN", "on"),
        ],
    )
    .await;
    let bob = sent_to(&res, "/admin/members/");
    let shown = get(&app, &cookies, &format!("/admin/members/{bob}")).await;
    let html = shown.text().await.unwrap();
    assert!(
        html.contains("&#60;script&#62;alert(1)&#60;/script&#62; Bob"),
        "{html}"
    );
    assert!(!html.contains("<script>alert"));
    let row = member(&app, &admin, &bob).await;
    assert_eq!(row["roles"], json!(["TENANT_ADMIN"]));
    assert_eq!(row["status"], "ACTIVE");
    // only platform administrators are offered (and may give) the platform role
    assert!(!html.contains("role.PLATFORM_ADMIN"));
    let res = post(
        &app,
        &cookies,
        &format!("/admin/members/{bob}/roles"),
        &[("csrf", &csrf), ("role.PLATFORM_ADMIN", "on")],
    )
    .await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "unknown boxes are ignored"
    );
    assert_eq!(member(&app, &admin, &bob).await["roles"], json!([]));

    // without a password: an invitation
    let res = post(
        &app,
        &cookies,
        "/admin/members",
        &[("csrf", &csrf), ("email", "dora@uni.org"), ("name", "")],
    )
    .await;
    let dora = sent_to(&res, "/admin/members/");
    let row = member(&app, &admin, &dora).await;
    assert_eq!(
        (row["status"].as_str(), row["name"].as_str()),
        (Some("INVITED"), Some("dora@uni.org"))
    );

    // refusals come back beside their field with the entries kept, nothing stored
    let before = member_count(&app).await;
    let res = post(
        &app,
        &cookies,
        "/admin/members",
        &[
            ("csrf", &csrf),
            ("email", "not an address"),
            ("name", "Eve Keep"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains(r#"id="email-error""#), "{html}");
    assert!(html.contains(r#"value="not an address""#) && html.contains(r#"value="Eve Keep""#));
    let res = post(
        &app,
        &cookies,
        "/admin/members",
        &[
            ("csrf", &csrf),
            ("email", "eve@uni.org"),
            ("name", "Eve"),
            ("password", "short"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains(r#"id="password-error""#), "{html}");
    assert!(
        !html.contains(r#"value="short""#),
        "a password is never sent back"
    );
    let res = post(
        &app,
        &cookies,
        "/admin/members",
        &[
            ("csrf", "forged"),
            ("email", "eve@uni.org"),
            ("name", "Eve"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(member_count(&app).await, before);

    // disabling stops the member's session and tokens at once; enabling brings them back
    let ann_id = id_of(&app, &admin, "ann@uni.org").await;
    let ann_cookies = signed_in(&app, "uni", "ann@uni.org").await;
    let path = format!("/admin/members/{ann_id}");
    let res = post(
        &app,
        &cookies,
        &format!("{path}/disable"),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(member(&app, &admin, &ann_id).await["disabled"], true);
    assert_eq!(
        get(&app, &ann_cookies, "/jobs").await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        app.code(Some(&ann), "{ me { id } }", json!({})).await,
        "FORBIDDEN"
    );
    post(
        &app,
        &cookies,
        &format!("{path}/enable"),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(member(&app, &admin, &ann_id).await["disabled"], false);
    assert_eq!(
        get(&app, &ann_cookies, "/jobs").await.status(),
        StatusCode::OK
    );

    // tokens are listed and revoked
    let html = get(&app, &cookies, &path).await.text().await.unwrap();
    let token_id = html
        .split(r#"name="token" value=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("ann's token is listed")
        .to_owned();
    post(
        &app,
        &cookies,
        &format!("{path}/token"),
        &[("csrf", &csrf), ("token", &token_id)],
    )
    .await;
    assert_eq!(
        app.code(Some(&ann), "{ me { id } }", json!({})).await,
        "UNAUTHENTICATED"
    );

    // nobody disables themselves; the refusal is said on the page
    let me = id_of(&app, &admin, "admin@uni.org").await;
    let res = post(
        &app,
        &cookies,
        &format!("/admin/members/{me}/disable"),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("you cannot disable yourself")
    );

    // another tenant's member does not exist here; members are not administrators
    let carl_id = app.ok(&carl, "{ me { id } }", json!({})).await["me"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = get(&app, &cookies, &format!("/admin/members/{carl_id}")).await;
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
    let res = post(
        &app,
        &cookies,
        &format!("/admin/members/{carl_id}/disable"),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(member(&app, &carl, &carl_id).await["disabled"], false);
    assert_eq!(
        get(&app, &ann_cookies, "/admin/members").await.status(),
        StatusCode::FORBIDDEN
    );
    let res = post(
        &app,
        &ann_cookies,
        &format!("/admin/members/{me}/roles"),
        &[("csrf", &csrf_of(&ann_cookies))],
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        member(&app, &admin, &me).await["roles"],
        json!(["TENANT_ADMIN"])
    );

    // a new password works at sign-in; a short one is refused beside its form
    let res = post(
        &app,
        &cookies,
        &format!("{path}/password"),
        &[("csrf", &csrf), ("password", "tiny")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains(r#"id="password-error""#));
    let res = post(
        &app,
        &cookies,
        &format!("{path}/password"),
        &[("csrf", &csrf), ("password", "another long password")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let login = app
        .gql(
            None,
            r#"mutation { login(tenant: "uni", email: "ann@uni.org", password: "another long password") { token } }"#,
            json!({}),
        )
        .await;
    assert!(login["data"]["login"]["token"].is_string(), "{login}");
    // and it ends the sessions and tokens the member had
    assert_eq!(
        get(&app, &ann_cookies, "/jobs").await.status(),
        StatusCode::SEE_OTHER
    );
}

/// The member pages call the same use cases as GraphQL: a second administrator is
/// refused (403, nothing written) every action on a platform administrator and is not
/// offered the forms; a peer administrator's are offered and work; an invited member gets
/// no password from a tenant administrator.
#[tokio::test]
async fn administrators_act_only_on_members_holding_no_role_they_lack() {
    let app = TestApp::spawn().await;
    setup(&app, "uni").await;
    let (root_id, root) = app
        .member(
            "uni",
            "root@uni.org",
            &[
                medgrid_domain::Role::TenantAdmin,
                medgrid_domain::Role::PlatformAdmin,
            ],
        )
        .await;
    app.member("uni", "peer@uni.org", &[medgrid_domain::Role::TenantAdmin])
        .await;
    let cookies = signed_in(&app, "uni", "admin@uni.org").await;
    let csrf = csrf_of(&cookies);
    let forms = [
        r#"id="disable-form""#,
        r#"id="password-form""#,
        "Save the roles",
        r#"name="token""#,
    ];

    let path = format!("/admin/members/{root_id}");
    let html = get(&app, &cookies, &path).await.text().await.unwrap();
    assert!(html.contains(r#"id="out-of-reach""#), "{html}");
    for form in forms {
        assert!(!html.contains(form), "{form} offered: {html}");
    }
    let token = app
        .ok(
            &root,
            "query($m: ID!) { member(id: $m) { tokens { id } } }",
            json!({"m": root_id.to_string()}),
        )
        .await["member"]["tokens"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = app.event_count().await;
    for (action, field) in [
        ("password", ("password", "the attacker's password")),
        ("disable", ("", "")),
        ("enable", ("", "")),
        // no box ticked: their administration revoked
        ("roles", ("", "")),
        ("token", ("token", token.as_str())),
    ] {
        let res = post(
            &app,
            &cookies,
            &format!("{path}/{action}"),
            &[("csrf", &csrf), field],
        )
        .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{action}");
        assert!(
            res.text().await.unwrap().contains("Not allowed"),
            "{action}"
        );
    }
    assert_eq!(app.event_count().await, before, "a refusal wrote an event");
    assert_eq!(
        member(&app, &root, &root_id.to_string()).await["roles"],
        json!(["TENANT_ADMIN", "PLATFORM_ADMIN"])
    );
    let login = app
        .gql(
            None,
            r#"mutation { login(tenant: "uni", email: "root@uni.org", password: "the attacker's password") { token } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        medgrid_tests::error_code(&login).as_deref(),
        Some("UNAUTHENTICATED")
    );

    // a peer holding the same roles: the forms are there and work
    let peer = id_of(&app, &root, "peer@uni.org").await;
    let path = format!("/admin/members/{peer}");
    let html = get(&app, &cookies, &path).await.text().await.unwrap();
    assert!(!html.contains(r#"id="out-of-reach""#), "{html}");
    for form in forms {
        assert!(html.contains(form), "{form} missing: {html}");
    }
    let res = post(
        &app,
        &cookies,
        &format!("{path}/disable"),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(member(&app, &root, &peer).await["disabled"], true);

    // someone invited to sign in through their institution: no password from here
    let res = post(
        &app,
        &cookies,
        "/admin/members",
        &[("csrf", &csrf), ("email", "dora@uni.org"), ("name", "")],
    )
    .await;
    let dora = sent_to(&res, "/admin/members/");
    let path = format!("/admin/members/{dora}");
    let html = get(&app, &cookies, &path).await.text().await.unwrap();
    assert!(!html.contains(r#"id="password-form""#), "{html}");
    let before = app.event_count().await;
    let res = post(
        &app,
        &cookies,
        &format!("{path}/password"),
        &[("csrf", &csrf), ("password", "a local way in")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.event_count().await, before);
}

#[tokio::test]
async fn administrators_make_groups_and_manage_who_is_in_them() {
    let app = TestApp::spawn().await;
    let (admin, _, _) = setup(&app, "uni").await;
    app.tenant("other").await;
    app.member("other", "carl@other.org", &[]).await;
    let cookies = signed_in(&app, "uni", "admin@uni.org").await;
    let csrf = csrf_of(&cookies);

    let res = post(&app, &cookies, "/groups", &[("csrf", &csrf), ("name", "")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains(r#"id="name-error""#));
    let res = post(
        &app,
        &cookies,
        "/groups",
        &[("csrf", &csrf), ("name", "Radiology")],
    )
    .await;
    let id = sent_to(&res, "/groups/");
    let path = format!("/groups/{id}");
    let list = get(&app, &cookies, "/groups").await.text().await.unwrap();
    assert!(
        list.contains(&format!(r#"<a href="{path}">Radiology</a>"#)),
        "{list}"
    );

    // members are added by their address; nobody, or someone of another tenant, is refused
    let add = |email: &'static str, role: &'static str| {
        let (cookies, csrf, path) = (cookies.clone(), csrf.clone(), path.clone());
        let app = &app;
        async move {
            post(
                app,
                &cookies,
                &format!("{path}/add"),
                &[("csrf", &csrf), ("email", email), ("role", role)],
            )
            .await
        }
    };
    assert_eq!(
        add("ann@uni.org", "MANAGER").await.status(),
        StatusCode::SEE_OTHER
    );
    for stranger in ["nobody@uni.org", "carl@other.org"] {
        let res = add(stranger, "MEMBER").await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{stranger}");
        let html = res.text().await.unwrap();
        assert!(
            html.contains("no member of your institution has this address"),
            "{html}"
        );
        assert!(html.contains(&format!(r#"value="{stranger}""#)), "kept");
    }
    let row = group(&app, &admin, &id).await;
    assert_eq!(
        row["members"],
        json!([{"role": "MANAGER", "member": {"email": "ann@uni.org"}}])
    );
    let page = get(&app, &cookies, &path).await.text().await.unwrap();
    assert!(page.contains("ann@uni.org"));

    // role changes and removal
    let ann = id_of(&app, &admin, "ann@uni.org").await;
    post(
        &app,
        &cookies,
        &format!("{path}/role"),
        &[("csrf", &csrf), ("member", &ann), ("role", "MEMBER")],
    )
    .await;
    assert_eq!(
        group(&app, &admin, &id).await["members"][0]["role"],
        "MEMBER"
    );

    // rename (escaped), budget in hours (a bad one kept beside its field; empty lifts it)
    post(
        &app,
        &cookies,
        &format!("{path}/rename"),
        &[("csrf", &csrf), ("name", "<b>MRI</b>")],
    )
    .await;
    let page = get(&app, &cookies, &path).await.text().await.unwrap();
    assert!(
        page.contains("<h1>&#60;b&#62;MRI&#60;/b&#62;</h1>"),
        "{page}"
    );
    post(
        &app,
        &cookies,
        &format!("{path}/budget"),
        &[("csrf", &csrf), ("hours", "12.5")],
    )
    .await;
    assert_eq!(group(&app, &admin, &id).await["coreHourBudget"], 12.5);
    let res = post(
        &app,
        &cookies,
        &format!("{path}/budget"),
        &[("csrf", &csrf), ("hours", "lots")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(
        html.contains(r#"id="budget-error""#) && html.contains(r#"value="lots""#),
        "{html}"
    );
    assert_eq!(group(&app, &admin, &id).await["coreHourBudget"], 12.5);
    post(
        &app,
        &cookies,
        &format!("{path}/budget"),
        &[("csrf", &csrf), ("hours", "")],
    )
    .await;
    assert_eq!(
        group(&app, &admin, &id).await["coreHourBudget"],
        Value::Null
    );

    // a forged form changes nothing; removal empties the group
    let res = post(
        &app,
        &cookies,
        &format!("{path}/remove"),
        &[("csrf", "forged"), ("member", &ann)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        group(&app, &admin, &id).await["members"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    post(
        &app,
        &cookies,
        &format!("{path}/remove"),
        &[("csrf", &csrf), ("member", &ann)],
    )
    .await;
    assert_eq!(group(&app, &admin, &id).await["members"], json!([]));

    // a member out of the group no longer sees it; another tenant's administrator neither
    let ann_cookies = signed_in(&app, "uni", "ann@uni.org").await;
    let theirs = get(&app, &ann_cookies, "/groups")
        .await
        .text()
        .await
        .unwrap();
    assert!(theirs.contains(r#"id="no-groups""#), "{theirs}");
    assert_eq!(
        get(&app, &ann_cookies, &path).await.status(),
        StatusCode::NOT_FOUND
    );
    app.member(
        "other",
        "boss@other.org",
        &[medgrid_domain::Role::TenantAdmin],
    )
    .await;
    let other = signed_in(&app, "other", "boss@other.org").await;
    assert_eq!(
        get(&app, &other, &path).await.status(),
        StatusCode::NOT_FOUND
    );
    let res = post(
        &app,
        &other,
        &format!("{path}/rename"),
        &[("csrf", &csrf_of(&other)), ("name", "Taken")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(group(&app, &admin, &id).await["name"], "<b>MRI</b>");
}

#[tokio::test]
async fn group_managers_manage_their_group_and_members_only_see_theirs() {
    let app = TestApp::spawn().await;
    let (admin, _, _) = setup(&app, "uni").await;
    app.member("uni", "bob@uni.org", &[]).await;
    app.member("uni", "cy@uni.org", &[]).await;
    let cookies = signed_in(&app, "uni", "admin@uni.org").await;
    let csrf = csrf_of(&cookies);
    let mut ids = vec![];
    for name in ["Radiology", "Oncology"] {
        let res = post(
            &app,
            &cookies,
            "/groups",
            &[("csrf", &csrf), ("name", name)],
        )
        .await;
        ids.push(sent_to(&res, "/groups/"));
    }
    let (radiology, oncology) = (format!("/groups/{}", ids[0]), format!("/groups/{}", ids[1]));
    for (email, role) in [("ann@uni.org", "MANAGER"), ("bob@uni.org", "MEMBER")] {
        let form = [("csrf", csrf.as_str()), ("email", email), ("role", role)];
        post(&app, &cookies, &format!("{radiology}/add"), &form).await;
    }

    // the manager: their group listed, its forms but the budget's
    let ann = signed_in(&app, "uni", "ann@uni.org").await;
    let ann_csrf = csrf_of(&ann);
    let list = get(&app, &ann, "/groups").await.text().await.unwrap();
    assert!(
        list.contains("<h1>Your groups</h1>") && list.contains("Radiology"),
        "{list}"
    );
    assert!(
        !list.contains("Oncology") && !list.contains("create-group"),
        "{list}"
    );
    let page = get(&app, &ann, &radiology).await.text().await.unwrap();
    assert!(page.contains(r#"id="add-form""#) && page.contains(r#"id="rename-form""#));
    assert!(
        !page.contains(r#"id="budget-form""#),
        "budgets are the administrators'"
    );
    let form = [
        ("csrf", ann_csrf.as_str()),
        ("email", "cy@uni.org"),
        ("role", "MEMBER"),
    ];
    let res = post(&app, &ann, &format!("{radiology}/add"), &form).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = post(
        &app,
        &ann,
        &format!("{radiology}/budget"),
        &[("csrf", &ann_csrf), ("hours", "1000")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let row = group(&app, &admin, &ids[0]).await;
    assert_eq!(row["members"].as_array().unwrap().len(), 3, "{row}");
    assert_eq!(row["coreHourBudget"], Value::Null);
    assert_eq!(
        get(&app, &ann, &oncology).await.status(),
        StatusCode::NOT_FOUND
    );

    // a plain member: the group and who is in it, no forms; changes refused
    let bob = signed_in(&app, "uni", "bob@uni.org").await;
    let page = get(&app, &bob, &radiology).await.text().await.unwrap();
    assert!(page.contains("cy@uni.org"), "{page}");
    assert!(
        !page.contains("<form method=\"post\" action=\"/groups/"),
        "{page}"
    );
    let res = post(
        &app,
        &bob,
        &format!("{radiology}/rename"),
        &[("csrf", &csrf_of(&bob)), ("name", "Mine")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(group(&app, &admin, &ids[0]).await["name"], "Radiology");
}

#[tokio::test]
async fn the_audit_log_says_who_did_what_and_filters() {
    let app = TestApp::spawn().await;
    let (_, _, _) = setup(&app, "uni").await;
    app.tenant("other").await;
    app.member("other", "carl@other.org", &[]).await;
    let cookies = signed_in(&app, "uni", "admin@uni.org").await;
    let csrf = csrf_of(&cookies);
    post(
        &app,
        &cookies,
        "/groups",
        &[("csrf", &csrf), ("name", "Radiology")],
    )
    .await;
    let ann_cookies = signed_in(&app, "uni", "ann@uni.org").await;
    post(
        &app,
        &ann_cookies,
        "/tickets/new",
        &[
            ("csrf", &csrf_of(&ann_cookies)),
            ("title", "Help"),
            ("body", "Please"),
            ("priority", "NORMAL"),
        ],
    )
    .await;

    let all = get(&app, &cookies, "/admin/audit").await;
    assert_eq!(all.status(), StatusCode::OK);
    let html = all.text().await.unwrap();
    for seen in [
        "Group created",
        "Member created",
        "Ticket opened",
        "admin@uni.org",
        "Medgrid (operator)",
    ] {
        assert!(html.contains(seen), "{seen}: {html}");
    }
    assert!(!html.contains("carl@other.org"), "another tenant's events");

    let groups = get(&app, &cookies, "/admin/audit?what=Group")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        groups.contains("Group created") && !groups.contains("Member created"),
        "{groups}"
    );
    let anns = get(&app, &cookies, "/admin/audit?who=ann%40uni.org")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        anns.contains("Ticket opened") && !anns.contains("Group created"),
        "{anns}"
    );
    let later = get(&app, &cookies, "/admin/audit?from=2999-01-01")
        .await
        .text()
        .await
        .unwrap();
    assert!(later.contains(r#"id="no-entries""#), "{later}");

    let bad = get(&app, &cookies, "/admin/audit?from=2026-13-01&what=Group").await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let html = bad.text().await.unwrap();
    assert!(
        html.contains(r#"id="from-error""#) && html.contains(r#"value="2026-13-01""#),
        "{html}"
    );
    assert_eq!(
        get(&app, &ann_cookies, "/admin/audit").await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn an_administrator_adds_a_member_to_a_new_group_in_chromium() {
    let app = TestApp::spawn().await;
    setup(&app, "uni").await;
    let shots = browser::screenshots("portal-admin");
    let args = [
        app.url.as_str(),
        "uni",
        "admin@uni.org",
        "a long test password",
    ];
    let seen = browser::run("browser-admin.mjs", &args, &shots).await;
    assert_eq!(seen["memberName"], "Bea <Researcher>", "{seen}");
    assert_eq!(seen["memberRoles"], "member", "{seen}");
    assert_eq!(seen["groupMembers"], json!(["bea@uni.org"]), "{seen}");
    assert_eq!(
        seen["addError"], "no member of your institution has this address",
        "{seen}"
    );
    assert_eq!(seen["disabledState"], "disabled", "{seen}");
    assert!(
        seen["audit"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "Group created"),
        "{seen}"
    );
    assert_eq!(seen["tabletOverflow"], false, "{seen}");
    browser::assert_accessible(&seen, 10);
}
