//! The portal's administration of the platform over plain HTTP: compute resources,
//! applications from Boutiques descriptors, identity providers and tenants. What the
//! forms change is checked through GraphQL; refusals (CSRF, roles, other tenants, bad
//! input beside its field) leave nothing changed. And a descriptor uploaded in Chromium.

use medgrid_domain::Role;
use medgrid_tests::{TestApp, browser};
use reqwest::header::LOCATION;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::jobs::setup;
use crate::portal::{csrf_of, get, next_page, post, post_multipart, signed_in};

/// A platform administrator (of tenant `ops`), signed in: their token and cookies.
async fn root(app: &TestApp) -> (String, String) {
    app.tenant("ops").await;
    let (_, token) = app
        .member("ops", "root@ops.org", &[Role::PlatformAdmin])
        .await;
    (token, signed_in(app, "ops", "root@ops.org").await)
}

/// The administrator of a second tenant, `beta`, signed in.
async fn beta_admin(app: &TestApp) -> String {
    app.tenant("beta").await;
    app.member("beta", "admin@beta.org", &[Role::TenantAdmin])
        .await;
    signed_in(app, "beta", "admin@beta.org").await
}

async fn html(app: &TestApp, cookies: &str, path: &str) -> String {
    let res = get(app, cookies, path).await;
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    res.text().await.unwrap()
}

/// A form's answer: `status`, on a page that says `says` (the page is returned).
async fn answer(res: Response, status: StatusCode, says: &str) -> String {
    assert_eq!(res.status(), status, "{says}");
    let page = res.text().await.unwrap();
    assert!(page.contains(says), "{says}: {page}");
    page
}

/// A form that was taken: 303 to where the browser goes next.
fn taken(res: &Response) -> String {
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    res.headers()[LOCATION].to_str().unwrap().to_owned()
}

/// The first item of the list at `path` in `data` whose `key` is `value`.
fn find(data: &Value, path: &[&str], key: &str, value: &str) -> Option<Value> {
    let list = path.iter().fold(data, |v, k| &v[*k]);
    list.as_array()
        .unwrap()
        .iter()
        .find(|item| item[key] == value)
        .cloned()
}

const RESOURCES: &str = "{ resources { id name kind partition maxNodes coresPerNode walltimeLimitSeconds defaultMemoryMb drained drainReason } }";

async fn resource(app: &TestApp, token: &str, name: &str) -> Option<Value> {
    let data = app.ok(token, RESOURCES, json!({})).await;
    find(&data, &["resources"], "name", name)
}

#[tokio::test]
async fn platform_admins_register_drain_and_enable_resources_tenant_admins_only_read() {
    let app = TestApp::spawn().await;
    let (root_token, root) = root(&app).await;
    let (uni_admin, _, uni) = setup(&app, "uni").await;
    let csrf = csrf_of(&root);
    let page = html(&app, &root, "/admin/resources").await;
    assert!(page.contains(r#"<tr id="resource-local">"#), "{page}");
    assert!(page.contains(r#"id="register-form""#));
    let uni_field = format!("tenant.{uni}");
    assert!(
        page.contains(&format!(r#"name="{uni_field}""#)),
        "uni is offered"
    );

    // a Slurm partition without its cores: 422, beside the field, the entries kept
    let mut hpc = vec![
        ("csrf", csrf.as_str()),
        ("name", "hpc"),
        ("kind", "slurm"),
        ("partition", "debug"),
        ("maxNodes", "4"),
        ("walltimeLimitSeconds", "86400"),
    ];
    let res = post(&app, &root, "/admin/resources", &hpc).await;
    let missing = r#"<p class="field-error" role="alert" id="resource-coresPerNode-error">required for a Slurm resource</p>"#;
    let page = answer(res, StatusCode::UNPROCESSABLE_ENTITY, missing).await;
    assert!(page.contains(r#"name="partition" value="debug""#));
    assert!(page.contains(r#"<option value="slurm" selected>"#));
    hpc.extend([("coresPerNode", "2"), (uni_field.as_str(), "on")]);
    // a name the domain refuses, escaped where it is kept
    let mut bad = hpc.clone();
    bad[1] = ("name", "<script>x</script>");
    let res = post(&app, &root, "/admin/resources", &bad).await;
    let page = answer(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        r#"id="resource-name-error">must be 2 to 40"#,
    )
    .await;
    assert!(page.contains("&#60;script&#62;x&#60;/script&#62;") && !page.contains("<script>x"));
    // a default memory that is no amount, or none at all: beside its field, kept
    for (memory, says) in [
        ("lots", "must be a whole number"),
        ("0", "must be 1 to 16777216 MiB (16 TiB)"),
    ] {
        let mut bad = hpc.clone();
        bad.push(("defaultMemoryMb", memory));
        let res = post(&app, &root, "/admin/resources", &bad).await;
        let beside = format!(r#"id="resource-defaultMemoryMb-error">{says}"#);
        let page = answer(res, StatusCode::UNPROCESSABLE_ENTITY, &beside).await;
        assert!(page.contains(&format!(r#"name="defaultMemoryMb" value="{memory}""#)));
        assert!(page.contains(r#"name="partition" value="debug""#));
    }
    hpc.push(("defaultMemoryMb", "8192"));
    // a forged token: refused, nothing registered
    let mut forged = hpc.clone();
    forged[0] = ("csrf", "forged");
    let res = post(&app, &root, "/admin/resources", &forged).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(resource(&app, &root_token, "hpc").await.is_none());

    let res = post(&app, &root, "/admin/resources", &hpc).await;
    assert_eq!(taken(&res), "/admin/resources#resource-hpc");
    let found = resource(&app, &uni_admin, "hpc")
        .await
        .expect("uni may use it");
    let shown = [
        "kind",
        "partition",
        "maxNodes",
        "coresPerNode",
        "walltimeLimitSeconds",
        "defaultMemoryMb",
    ]
    .map(|k| found[k].clone());
    assert_eq!(
        shown,
        [
            json!("SLURM"),
            json!("debug"),
            json!(4),
            json!(2),
            json!(86400),
            json!(8192)
        ]
    );
    let id = found["id"].as_str().unwrap().to_owned();
    let page = html(&app, &root, "/admin/resources").await;
    assert!(
        page.contains("partition debug · up to 4 nodes of 2 cores"),
        "{page}"
    );
    assert!(
        page.contains("at once · 8192 MiB of memory per attempt by default"),
        "{page}"
    );

    // drained with a reason (none: 422 beside it), then enabled
    let drain = format!("/admin/resources/{id}/drain");
    let res = post(&app, &root, &drain, &[("csrf", &csrf), ("reason", " ")]).await;
    answer(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        r#"id="resource-hpc-error">must be 1 to 500 characters"#,
    )
    .await;
    let reason = "<b>maintenance</b> until Monday";
    taken(&post(&app, &root, &drain, &[("csrf", &csrf), ("reason", reason)]).await);
    let found = resource(&app, &root_token, "hpc").await.unwrap();
    assert_eq!(
        (&found["drained"], &found["drainReason"]),
        (&json!(true), &json!(reason))
    );
    let page = html(&app, &root, "/admin/resources").await;
    assert!(
        page.contains("&#60;b&#62;maintenance&#60;/b&#62; until Monday"),
        "{page}"
    );
    let enable = format!("/admin/resources/{id}/enable");
    assert!(page.contains(&format!(r#"action="{enable}""#)));

    // the tenant admin sees it drained, read only; forged changes are refused
    let admin = signed_in(&app, "uni", "admin@uni.org").await;
    let page = html(&app, &admin, "/admin/resources").await;
    assert!(page.contains(r#"<tr id="resource-hpc">"#) && page.contains("until Monday"));
    assert!(page.contains(r#"id="read-only""#));
    assert!(
        !page.contains("register-form") && !page.contains("/enable\""),
        "{page}"
    );
    let res = post(&app, &admin, &enable, &[("csrf", &csrf_of(&admin))]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let mine = [
        ("csrf", csrf_of(&admin)),
        ("name", "mine".into()),
        ("kind", "local".into()),
        ("slots", "2".into()),
    ];
    let mine = mine
        .iter()
        .map(|(k, v)| (*k, v.as_str()))
        .collect::<Vec<_>>();
    let res = post(&app, &admin, "/admin/resources", &mine).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(resource(&app, &root_token, "mine").await.is_none());
    assert_eq!(
        resource(&app, &root_token, "hpc").await.unwrap()["drained"],
        true
    );

    taken(&post(&app, &root, &enable, &[("csrf", &csrf)]).await);
    assert_eq!(
        resource(&app, &root_token, "hpc").await.unwrap()["drained"],
        false
    );

    // another tenant's admin does not see it, nor reach it; members have no such page
    let beta = beta_admin(&app).await;
    assert!(
        !html(&app, &beta, "/admin/resources")
            .await
            .contains("resource-hpc")
    );
    let res = post(
        &app,
        &beta,
        &drain,
        &[("csrf", &csrf_of(&beta)), ("reason", "x")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let ann = signed_in(&app, "uni", "ann@uni.org").await;
    assert_eq!(
        get(&app, &ann, "/admin/resources").await.status(),
        StatusCode::FORBIDDEN
    );
}

/// The register form of /admin/applications, with `file` (name, content) in its file
/// field (("", b""): no file chosen).
async fn register(
    app: &TestApp,
    cookies: &str,
    fields: &[(&str, &str)],
    file: (&str, &[u8]),
) -> Response {
    let path = "/admin/applications";
    post_multipart(app, cookies, path, fields, ("descriptorFile", &[file])).await
}

fn descriptor(name: &str) -> Value {
    json!({
        "name": name, "tool-version": "1.0", "schema-version": "0.5",
        "description": "Counts the voxels of an image <fast>.",
        "command-line": "count [IMAGE]",
        "inputs": [{"id": "image", "name": "Image", "type": "File", "value-key": "[IMAGE]"}]
    })
}

async fn application(app: &TestApp, token: &str, name: &str) -> Option<Value> {
    let data = app
        .ok(token, "{ applications { id name enabled } }", json!({}))
        .await;
    find(&data, &["applications"], "name", name)
}

#[tokio::test]
async fn tenant_admins_register_applications_from_a_file_or_pasted_and_enable_them() {
    let app = TestApp::spawn().await;
    let (admin_token, ann_token, _) = setup(&app, "uni").await;
    let admin = signed_in(&app, "uni", "admin@uni.org").await;
    let csrf = csrf_of(&admin);
    let page = html(&app, &admin, "/admin/applications").await;
    assert!(page.contains(r#"enctype="multipart/form-data""#));
    assert!(page.contains(r#"<input type="file" id="descriptor-file" name="descriptorFile""#));

    // uploaded as a file; pasted, with no file chosen
    let counter = descriptor("voxel-counter").to_string();
    let empty = [("csrf", csrf.as_str()), ("descriptor", "")];
    let to = taken(&register(&app, &admin, &empty, ("counter.json", counter.as_bytes())).await);
    let found = application(&app, &ann_token, "voxel-counter")
        .await
        .expect("registered");
    let id = found["id"].as_str().unwrap().to_owned();
    assert_eq!(to, format!("/admin/applications#app-{id}"));
    let pasted = descriptor("voxel-pasted").to_string();
    let paste = |text| [("csrf", csrf.as_str()), ("descriptor", text)];
    taken(&register(&app, &admin, &paste(&pasted), ("", b"")).await);
    assert!(
        application(&app, &ann_token, "voxel-pasted")
            .await
            .is_some()
    );

    // not JSON: 422 beside the paste field, the text kept and escaped
    let typed = "{\"name\": \"<script>alert(1)</script>\",";
    let res = register(&app, &admin, &paste(typed), ("", b"")).await;
    let page = answer(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        r#"<p class="field-error" role="alert" id="descriptor-error">not JSON: "#,
    )
    .await;
    assert!(
        page.contains("&#60;script&#62;alert(1)&#60;/script&#62;")
            && !page.contains("<script>alert")
    );
    // JSON the domain refuses, as a file: beside the file field
    let mut old = descriptor("old");
    old["schema-version"] = json!("0.4");
    let res = register(
        &app,
        &admin,
        &empty,
        ("old.json", old.to_string().as_bytes()),
    )
    .await;
    let refused = r#"id="descriptor-file-error">descriptor schema-version: must be &#34;0.5&#34;"#;
    answer(res, StatusCode::UNPROCESSABLE_ENTITY, refused).await;
    // too large, both, neither; the same name and version again
    let huge = vec![b' '; 1024 * 1024 + 1];
    let res = register(&app, &admin, &empty, ("huge.json", &huge)).await;
    let large = r#"id="descriptor-file-error">larger than 1024 KiB, the most a descriptor may be"#;
    answer(res, StatusCode::UNPROCESSABLE_ENTITY, large).await;
    let res = register(
        &app,
        &admin,
        &paste(&pasted),
        ("a.json", counter.as_bytes()),
    )
    .await;
    let both = r#"id="register-error">choose a file or paste the descriptor, not both"#;
    answer(res, StatusCode::UNPROCESSABLE_ENTITY, both).await;
    let res = register(&app, &admin, &paste(" "), ("", b"")).await;
    answer(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        r#"id="descriptor-file-error">choose a descriptor file"#,
    )
    .await;
    let res = register(&app, &admin, &paste(&pasted), ("", b"")).await;
    answer(res, StatusCode::CONFLICT, r#"id="descriptor-error">"#).await;
    // a forged token, and a member with a good one: refused, nothing registered
    let forged = descriptor("forged").to_string();
    let res = register(
        &app,
        &admin,
        &[("csrf", "forged")],
        ("f.json", forged.as_bytes()),
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let ann = signed_in(&app, "uni", "ann@uni.org").await;
    let res = register(
        &app,
        &ann,
        &[("csrf", &csrf_of(&ann))],
        ("f.json", forged.as_bytes()),
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(application(&app, &admin_token, "forged").await.is_none());
    assert_eq!(
        get(&app, &ann, "/admin/applications").await.status(),
        StatusCode::FORBIDDEN
    );

    // disabled: gone from the catalog, still on the admin page; enabled again
    let disable = format!("/admin/applications/{id}/disable");
    let res = post(&app, &admin, &disable, &[("csrf", "forged")]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = post(&app, &ann, &disable, &[("csrf", &csrf_of(&ann))]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    taken(&post(&app, &admin, &disable, &[("csrf", &csrf)]).await);
    assert_eq!(
        application(&app, &admin_token, "voxel-counter")
            .await
            .unwrap()["enabled"],
        false
    );
    assert!(
        application(&app, &ann_token, "voxel-counter")
            .await
            .is_none()
    );
    assert!(!html(&app, &ann, "/apps").await.contains("voxel-counter"));
    let page = html(&app, &admin, "/admin/applications").await;
    let enable = format!("/admin/applications/{id}/enable");
    assert!(page.contains(&format!(r#"action="{enable}""#)), "{page}");
    assert!(page.contains("Counts the voxels of an image &#60;fast&#62;."));
    taken(&post(&app, &admin, &enable, &[("csrf", &csrf)]).await);
    assert_eq!(
        application(&app, &ann_token, "voxel-counter")
            .await
            .unwrap()["enabled"],
        true
    );

    // another tenant's admin does not reach it
    let beta = beta_admin(&app).await;
    let res = post(&app, &beta, &disable, &[("csrf", &csrf_of(&beta))]).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        application(&app, &ann_token, "voxel-counter")
            .await
            .unwrap()["enabled"],
        true
    );
}

/// The row of application `id` on /admin/applications.
fn app_row<'a>(page: &'a str, id: &str) -> &'a str {
    let start = page
        .find(&format!(r#"<tr id="app-{id}">"#))
        .unwrap_or_else(|| panic!("no row for {id}: {page}"));
    let len = page[start..].find("</tr>").unwrap();
    &page[start..start + len]
}

/// The form that switches whether an application is networked, with token `csrf`.
fn set<'a>(csrf: &'a str, networked: &'a str) -> [(&'a str, &'a str); 2] {
    [("csrf", csrf), ("networked", networked)]
}

async fn networked(app: &TestApp, token: &str, id: &str) -> Value {
    let query = "query($id: ID!) { application(id: $id) { networked } }";
    app.ok(token, query, json!({"id": id})).await["application"]["networked"].clone()
}

#[tokio::test]
async fn platform_admins_switch_an_application_networked_tenant_admins_only_see_it() {
    let app = TestApp::spawn().await;
    let (admin_token, _, _) = setup(&app, "uni").await;
    app.member("uni", "root@uni.org", &[Role::PlatformAdmin])
        .await;
    let root = signed_in(&app, "uni", "root@uni.org").await;
    let admin = signed_in(&app, "uni", "admin@uni.org").await;
    let id = crate::jobs::app_id(&app, &admin_token, "mri-sim").await;
    let switch = format!("/admin/applications/{id}/networked");
    let form = format!(r#"action="{switch}""#);
    let (root_csrf, admin_csrf) = (csrf_of(&root), csrf_of(&admin));

    // tenant admins see the state, without the form
    let page = html(&app, &admin, "/admin/applications").await;
    assert!(page.contains("Platform administrators decide which applications are networked"));
    let row = app_row(&page, &id);
    assert!(
        row.contains("Not networked") && !row.contains(&form),
        "{row}"
    );
    let page = html(&app, &root, "/admin/applications").await;
    assert!(app_row(&page, &id).contains(&form), "{page}");

    // refused, nothing recorded: a forged token; a tenant admin's own good one; no value
    let before = app.event_count().await;
    let res = post(
        &app,
        &root,
        &switch,
        &[("csrf", "forged"), ("networked", "true")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = post(&app, &admin, &switch, &set(&admin_csrf, "true")).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = post(&app, &root, &switch, &set(&root_csrf, "maybe")).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.event_count().await, before);
    assert_eq!(networked(&app, &admin_token, &id).await, false);

    // the platform admin lets it reach the network, and takes that back
    let res = post(&app, &root, &switch, &set(&root_csrf, "true")).await;
    assert_eq!(taken(&res), format!("/admin/applications#app-{id}"));
    assert_eq!(networked(&app, &admin_token, &id).await, true);
    let page = html(&app, &admin, "/admin/applications").await;
    assert!(app_row(&page, &id).contains(">Networked"), "{page}");
    let res = post(&app, &admin, &switch, &set(&admin_csrf, "false")).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(networked(&app, &admin_token, &id).await, true);
    let page = html(&app, &root, "/admin/applications").await;
    assert!(
        app_row(&page, &id).contains(r#"<input type="hidden" name="networked" value="false">"#)
    );
    taken(&post(&app, &root, &switch, &set(&root_csrf, "false")).await);
    assert_eq!(networked(&app, &admin_token, &id).await, false);
}

const PROVIDERS: &str = "{ tenant { provisioning identityProviders { id name issuer audience clientId hasClientSecret } } }";

async fn providers(app: &TestApp, token: &str) -> Value {
    app.ok(token, PROVIDERS, json!({})).await["tenant"].clone()
}

#[tokio::test]
async fn tenant_admins_add_edit_and_remove_providers_and_never_see_a_secret() {
    let app = TestApp::spawn().await;
    let (admin_token, _, _) = setup(&app, "uni").await;
    let admin = signed_in(&app, "uni", "admin@uni.org").await;
    let csrf = csrf_of(&admin);
    let secret = "s3cret-never-shown-again";
    let mut form = vec![
        ("csrf", csrf.as_str()),
        ("name", "<script>alert(1)</script> CHU"),
        ("issuer", "ftp://sso.example.org/realms/uni"),
        ("audience", "medgrid"),
        ("clientId", "portal"),
        ("clientSecret", secret),
    ];
    // a bad issuer: 422 beside it, the entries kept but the secret
    let res = post(&app, &admin, "/admin/providers", &form).await;
    let bad =
        r#"<p class="field-error" role="alert" id="add-issuer-error">must be an https:// URL</p>"#;
    let page = answer(res, StatusCode::UNPROCESSABLE_ENTITY, bad).await;
    assert!(page.contains(r#"name="clientId" value="portal""#));
    assert!(page.contains(r#"name="clientSecret" value="""#) && !page.contains(secret));
    assert!(page.contains("&#60;script&#62;alert(1)&#60;/script&#62; CHU"));
    // forged: nothing added
    form[2] = ("issuer", "https://sso.example.org/realms/uni");
    let mut forged = form.clone();
    forged[0] = ("csrf", "forged");
    let res = post(&app, &admin, "/admin/providers", &forged).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        providers(&app, &admin_token).await["identityProviders"],
        json!([])
    );

    taken(&post(&app, &admin, "/admin/providers", &form).await);
    let added = providers(&app, &admin_token).await["identityProviders"][0].clone();
    assert_eq!(added["issuer"], "https://sso.example.org/realms/uni");
    assert_eq!(
        (&added["clientId"], &added["hasClientSecret"]),
        (&json!("portal"), &json!(true))
    );
    let id = added["id"].as_str().unwrap().to_owned();
    let fingerprint: String =
        sqlx::query_scalar("SELECT client_secret_fingerprint FROM identity_providers")
            .fetch_one(app.pool())
            .await
            .unwrap();
    let page = html(&app, &admin, "/admin/providers").await;
    assert!(page.contains("a secret is set"), "{page}");
    assert!(
        !page.contains(secret)
            && !page.contains(&fingerprint)
            && !page.contains("<script>alert(1)")
    );
    let confirm = r#"data-confirm="Stop trusting &#60;script&#62;alert(1)&#60;/script&#62; CHU?"#;
    assert!(page.contains(confirm), "{page}");
    // the same issuer and audience again: a conflict beside the issuer
    let res = post(&app, &admin, "/admin/providers", &form).await;
    answer(
        res,
        StatusCode::CONFLICT,
        r#"id="add-issuer-error">this tenant already trusts"#,
    )
    .await;

    // edited: an empty secret keeps it; ticking "remove" removes it
    let edit = format!("/admin/providers/{id}");
    let page = html(&app, &admin, &edit).await;
    assert!(page.contains(r#"name="audience" value="medgrid""#) && !page.contains(&fingerprint));
    assert!(page.contains("A secret is set: leave this empty to keep it."));
    let mut changed = form.clone();
    changed[1] = ("name", "CHU Lyon");
    changed[3] = ("audience", "medgrid-portal");
    changed[5] = ("clientSecret", "");
    taken(&post(&app, &admin, &edit, &changed).await);
    let now = providers(&app, &admin_token).await["identityProviders"][0].clone();
    assert_eq!(
        (&now["name"], &now["audience"]),
        (&json!("CHU Lyon"), &json!("medgrid-portal"))
    );
    assert_eq!(now["hasClientSecret"], true, "kept");
    changed[3] = ("audience", " ");
    let res = post(&app, &admin, &edit, &changed).await;
    answer(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        r#"id="edit-audience-error">1 to 200 printable characters"#,
    )
    .await;
    changed[3] = ("audience", "medgrid-portal");
    changed.push(("removeSecret", "on"));
    taken(&post(&app, &admin, &edit, &changed).await);
    assert_eq!(
        providers(&app, &admin_token).await["identityProviders"][0]["hasClientSecret"],
        false
    );
    assert!(
        html(&app, &admin, "/admin/providers")
            .await
            .contains("no secret")
    );

    // who may join
    let provisioning = |mode| [("csrf", csrf.as_str()), ("provisioning", mode)];
    let path = "/admin/providers/provisioning";
    taken(&post(&app, &admin, path, &provisioning("JUST_IN_TIME")).await);
    assert_eq!(
        providers(&app, &admin_token).await["provisioning"],
        "JUST_IN_TIME"
    );
    assert!(
        html(&app, &admin, "/admin/providers")
            .await
            .contains(r#"value="JUST_IN_TIME" checked"#)
    );
    let res = post(&app, &admin, path, &provisioning("EVERYONE")).await;
    answer(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        r#"id="provisioning-error""#,
    )
    .await;

    // another tenant's admin, and a member, do not reach it
    let beta = beta_admin(&app).await;
    assert_eq!(
        get(&app, &beta, &edit).await.status(),
        StatusCode::NOT_FOUND
    );
    let remove = format!("/admin/providers/{id}/remove");
    let res = post(&app, &beta, &remove, &[("csrf", &csrf_of(&beta))]).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let ann = signed_in(&app, "uni", "ann@uni.org").await;
    assert_eq!(
        get(&app, &ann, "/admin/providers").await.status(),
        StatusCode::FORBIDDEN
    );
    let res = post(&app, &ann, &remove, &[("csrf", &csrf_of(&ann))]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // removed: forged first, then for real
    let res = post(&app, &admin, &remove, &[("csrf", "forged")]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        providers(&app, &admin_token).await["identityProviders"][0]["id"],
        id.as_str()
    );
    taken(&post(&app, &admin, &remove, &[("csrf", &csrf)]).await);
    assert_eq!(
        providers(&app, &admin_token).await["identityProviders"],
        json!([])
    );
}

const TENANTS: &str = "{ tenants(first: 100) { edges { node { id slug name status suspendedReason storageQuota coreHourBudget } } } }";

async fn tenant(app: &TestApp, token: &str, slug: &str) -> Value {
    let data = app.ok(token, TENANTS, json!({})).await;
    let nodes: Vec<Value> = data["tenants"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect();
    find(&Value::Array(nodes), &[], "slug", slug).unwrap_or(Value::Null)
}

#[tokio::test]
async fn platform_admins_create_rename_suspend_and_limit_tenants() {
    let app = TestApp::spawn().await;
    let (root_token, root) = root(&app).await;
    let (_, _, uni) = setup(&app, "uni").await;
    let csrf = csrf_of(&root);
    assert!(
        html(&app, &root, "/admin")
            .await
            .contains(r#"href="/admin/tenants""#)
    );

    // created: a bad slug and a taken one come back beside the field
    let create = |slug, name| [("csrf", csrf.as_str()), ("slug", slug), ("name", name)];
    let res = post(&app, &root, "/admin/tenants", &create("Bad Slug", "Clinic")).await;
    let page = answer(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        r#"<p class="field-error" role="alert" id="tenant-slug-error">must be 2 to 40"#,
    )
    .await;
    assert!(page.contains(r#"name="name" value="Clinic""#));
    let res = post(&app, &root, "/admin/tenants", &create("uni", "Clinic")).await;
    answer(
        res,
        StatusCode::CONFLICT,
        r#"id="tenant-slug-error">a tenant with this slug already exists"#,
    )
    .await;
    let mut forged = create("clinic", "<script>x</script> Clinic");
    forged[0] = ("csrf", "forged");
    assert_eq!(
        post(&app, &root, "/admin/tenants", &forged).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(tenant(&app, &root_token, "clinic").await, Value::Null);
    let to = taken(
        &post(
            &app,
            &root,
            "/admin/tenants",
            &create("clinic", "<script>x</script> Clinic"),
        )
        .await,
    );
    let clinic = tenant(&app, &root_token, "clinic").await;
    assert_eq!(
        to,
        format!("/admin/tenants/{}", clinic["id"].as_str().unwrap())
    );
    let page = html(&app, &root, &to).await;
    assert!(
        page.contains("&#60;script&#62;x&#60;/script&#62; Clinic") && !page.contains("<script>x")
    );

    // renamed, limited, suspended and reactivated; bad entries are 422 beside their form
    let act = |action: &str, field, value| {
        let (app, root, csrf) = (&app, &root, &csrf);
        let path = format!("{to}/{action}");
        async move { post(app, root, &path, &[("csrf", csrf.as_str()), (field, value)]).await }
    };
    let res = act("rename", "name", " ").await;
    answer(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        r#"id="rename-error">must be 1 to 200 characters"#,
    )
    .await;
    taken(&act("rename", "name", "Clinique").await);
    let quota = |value, unit| [("csrf", csrf.as_str()), ("quota", value), ("unit", unit)];
    for (value, unit, bytes) in [
        ("1.5", "GB", json!(1.5e9)),
        ("12345", "bytes", json!(12345.0)),
        ("", "GB", Value::Null),
    ] {
        taken(&post(&app, &root, &format!("{to}/quota"), &quota(value, unit)).await);
        assert_eq!(
            tenant(&app, &root_token, "clinic").await["storageQuota"],
            bytes,
            "{value} {unit}"
        );
    }
    let res = post(&app, &root, &format!("{to}/quota"), &quota("-2", "bytes")).await;
    let page = answer(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        r#"id="quota-error">a whole number of bytes"#,
    )
    .await;
    assert!(
        page.contains(r#"name="quota" value="-2""#)
            && page.contains(r#"<option value="bytes" selected>"#)
    );
    taken(&act("budget", "budget", "250.5").await);
    let res = act("budget", "budget", "lots").await;
    answer(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        r#"id="budget-error">must be a number"#,
    )
    .await;
    let res = act("suspend", "reason", "").await;
    answer(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        r#"id="suspend-error">a suspension needs a reason"#,
    )
    .await;
    taken(&act("suspend", "reason", "unpaid <invoice>").await);
    let clinic = tenant(&app, &root_token, "clinic").await;
    let shown = ["name", "status", "suspendedReason", "coreHourBudget"].map(|k| clinic[k].clone());
    assert_eq!(
        shown,
        [
            json!("Clinique"),
            json!("SUSPENDED"),
            json!("unpaid <invoice>"),
            json!(250.5)
        ]
    );
    let list = html(&app, &root, "/admin/tenants").await;
    assert!(
        list.contains("unpaid &#60;invoice&#62;") && list.contains("250.5 core hours a month"),
        "{list}"
    );
    let page = html(&app, &root, &to).await;
    assert!(
        page.contains(r#"id="reactivate-form""#) && page.contains(r#"name="budget" value="250.5""#)
    );
    taken(&act("reactivate", "x", "").await);
    assert_eq!(
        tenant(&app, &root_token, "clinic").await["status"],
        "ACTIVE"
    );

    // tenant admins: no tenants card, 403 on the pages and on forged changes
    let admin = signed_in(&app, "uni", "admin@uni.org").await;
    assert!(
        !html(&app, &admin, "/admin")
            .await
            .contains("/admin/tenants")
    );
    assert_eq!(
        get(&app, &admin, "/admin/tenants").await.status(),
        StatusCode::FORBIDDEN
    );
    let own = format!("/admin/tenants/{uni}");
    assert_eq!(
        get(&app, &admin, &own).await.status(),
        StatusCode::FORBIDDEN
    );
    let admin_csrf = csrf_of(&admin);
    let res = post(
        &app,
        &admin,
        &format!("{own}/suspend"),
        &[("csrf", &admin_csrf), ("reason", "x")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(tenant(&app, &root_token, "uni").await["status"], "ACTIVE");
    let mine = [
        ("csrf", admin_csrf.as_str()),
        ("slug", "mine"),
        ("name", "Mine"),
    ];
    assert_eq!(
        post(&app, &admin, "/admin/tenants", &mine).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(tenant(&app, &root_token, "mine").await, Value::Null);
    // a tenant that is not there
    let nobody = "/admin/tenants/00000000-0000-0000-0000-000000000000";
    assert_eq!(
        get(&app, &root, nobody).await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_tenants_list_comes_25_a_page() {
    let app = TestApp::spawn().await;
    let (_, root) = root(&app).await;
    for n in 0..25 {
        app.tenant(&format!("t{n:02}")).await;
    }
    let first = html(&app, &root, "/admin/tenants").await;
    assert_eq!(first.matches("<tr id=\"tenant-").count(), 25);
    assert!(first.contains(r#"<tr id="tenant-ops">"#) && !first.contains(r#"id="tenant-t24""#));
    let next = next_page(&first).expect("a next page");
    let second = html(&app, &root, &next).await;
    assert_eq!(second.matches("<tr id=\"tenant-").count(), 1);
    assert!(second.contains(r#"<tr id="tenant-t24">"#) && !second.contains("pager"));
}

#[tokio::test]
async fn an_admin_uploads_a_descriptor_in_a_real_browser_and_members_find_it() {
    let app = TestApp::spawn().await;
    let (admin, _, _) = setup(&app, "uni").await;
    // a platform administrator, so that the pages audited show the networked switches too
    // (browser-admin.mjs audits a tenant administrator's)
    app.member("uni", "root@uni.org", &[Role::PlatformAdmin])
        .await;
    let shots = browser::screenshots("admin-platform");
    let descriptor = descriptor("browser-counter").to_string();
    let args = [
        app.url.as_str(),
        "uni",
        "root@uni.org",
        "a long test password",
        descriptor.as_str(),
    ];
    let seen = browser::run("browser-admin-platform.mjs", &args, &shots).await;
    browser::assert_accessible(&seen, 3);
    assert!(
        seen["badJson"].as_str().unwrap().starts_with("not JSON"),
        "{seen}"
    );
    assert_eq!(seen["keptPaste"], "{ not json", "{seen}");
    let admin_page = format!("{}/admin/applications", app.url);
    assert_eq!(seen["afterRegister"], admin_page, "{seen}");
    assert_eq!(seen["listed"], "Enabled", "{seen}");
    assert_eq!(
        seen["declined"], "Enabled",
        "a dismissed confirmation sends nothing: {seen}"
    );
    assert_eq!(seen["inCatalog"], json!(["browser-counter"]), "{seen}");
    assert!(shots.join("02-registered.png").exists());
    assert_eq!(
        (&seen["badMemory"], &seen["keptMemory"]),
        (&json!("must be 1 to 16777216 MiB (16 TiB)"), &json!("0")),
        "{seen}"
    );
    let registered = application(&app, &admin, "browser-counter").await.unwrap();
    assert_eq!(registered["enabled"], true, "still enabled");
}

/// Issue 18, item 4, on the portal: an issuer and audience, or an issuer and client id,
/// another tenant registered are refused beside the field they are about (what was typed
/// kept, nothing written); a look-alike tenant name beside the name.
#[tokio::test]
async fn platform_wide_conflicts_show_beside_their_fields() {
    let app = TestApp::spawn().await;
    let (uni, _, _) = setup(&app, "uni").await;
    let issuer = "https://sso.example.org/realms/shared";
    app.ok(
        &uni,
        "mutation($i: IdentityProviderInput!) { addIdentityProvider(input: $i) { id } }",
        json!({"i": {"name": "Uni", "issuer": issuer, "audience": "medgrid", "clientId": "portal"}}),
    )
    .await;
    let beta = beta_admin(&app).await;
    let csrf = csrf_of(&beta);
    let mut form = vec![
        ("csrf", csrf.as_str()),
        ("name", "Beta"),
        ("issuer", issuer),
        ("audience", "medgrid"),
        ("clientId", "beta-web"),
        ("clientSecret", ""),
    ];
    let before = app.event_count().await;
    let res = post(&app, &beta, "/admin/providers", &form).await;
    let page = answer(
        res,
        StatusCode::CONFLICT,
        r#"id="add-issuer-error">this issuer and audience are already registered"#,
    )
    .await;
    assert!(page.contains(r#"name="clientId" value="beta-web""#));
    form[3] = ("audience", "beta");
    form[4] = ("clientId", "portal");
    let res = post(&app, &beta, "/admin/providers", &form).await;
    answer(
        res,
        StatusCode::CONFLICT,
        r#"id="add-clientId-error">this issuer and client id are already registered"#,
    )
    .await;
    assert_eq!(app.event_count().await, before, "refusals wrote events");

    let (_, root) = root(&app).await;
    let before = app.event_count().await;
    let res = post(
        &app,
        &root,
        "/admin/tenants",
        &[
            ("csrf", &csrf_of(&root)),
            ("slug", "uni-2"),
            ("name", "UNI"),
        ],
    )
    .await;
    answer(
        res,
        StatusCode::CONFLICT,
        r#"id="tenant-name-error">another tenant has this name"#,
    )
    .await;
    assert_eq!(app.event_count().await, before, "refusals wrote events");
}
