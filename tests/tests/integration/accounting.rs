//! Accounting: one fact per attempt, summed per day; reports by dimension through GraphQL
//! and as CSV, for tenant admins (their tenant) and platform admins (all).

use std::time::Duration;

use chrono::{Days, Utc};
use medgrid_domain::Role;
use medgrid_tests::TestApp;
use serde_json::{Value, json};

use crate::jobs::{setup, shell_app, submit, wait_until};

const REPORT: &str = "query($f: DateTime!, $t: DateTime!, $g: [AccountingDimension!]!) {
    accounting(from: $f, to: $t, groupBy: $g) {
        keys { dimension value label } jobs attempts wallHours coreHours successRate } }";

fn range() -> (String, String) {
    let today = Utc::now().date_naive();
    let from = today.checked_sub_days(Days::new(1)).unwrap();
    let to = today.checked_add_days(Days::new(1)).unwrap();
    (format!("{from}T00:00:00Z"), format!("{to}T00:00:00Z"))
}

async fn report(app: &TestApp, token: &str, by: Value) -> Vec<Value> {
    let (f, t) = range();
    let data = app
        .ok(token, REPORT, json!({"f": f, "t": t, "g": by}))
        .await;
    data["accounting"].as_array().unwrap().clone()
}

/// Waits (bounded) until the report's single line counts `attempts`.
pub(crate) async fn wait_for_attempts(app: &TestApp, token: &str, attempts: i64) -> Value {
    let mut last = vec![];
    for _ in 0..100 {
        last = report(app, token, json!([])).await;
        if last.first().and_then(|l| l["attempts"].as_i64()) == Some(attempts) {
            return last[0].clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("accounting never counted {attempts} attempts: {last:?}");
}

fn label(line: &Value, i: usize) -> &str {
    line["keys"][i]["label"].as_str().unwrap()
}

#[tokio::test]
async fn attempts_are_accounted_and_reported_by_dimension() {
    let app = TestApp::spawn().await;
    let (admin, ann, _) = setup(&app, "uni").await;
    let (_, bob) = app.member("uni", "bob@uni.org", &[]).await;
    let shell = shell_app(&app, &admin).await;
    let mut ids = vec![];
    for (token, script) in [
        (&ann, "sleep 1"),
        (&ann, "sleep 1"),
        (&ann, "exit 3"),
        (&bob, "sleep 1"),
    ] {
        let job = submit(
            &app,
            token,
            json!({"applicationId": shell, "parameters": {"script": script}}),
        )
        .await;
        ids.push((token.clone(), job["id"].as_str().unwrap().to_owned()));
    }
    for (token, id) in &ids {
        wait_until(&app, token, id, 120, |j| {
            ["SUCCEEDED", "FAILED"].contains(&j["state"].as_str().unwrap())
        })
        .await;
    }

    let all = wait_for_attempts(&app, &admin, 4).await;
    assert_eq!(all["jobs"], 4);
    assert_eq!(all["successRate"], 0.75);
    assert!(all["wallHours"].as_f64().unwrap() >= 3.0 / 3600.0, "{all}");
    // one core each: core hours are wall hours
    assert_eq!(all["coreHours"], all["wallHours"]);

    let by_member = report(&app, &admin, json!(["MEMBER"])).await;
    let labels: Vec<&str> = by_member.iter().map(|l| label(l, 0)).collect();
    assert_eq!(by_member.len(), 2, "{by_member:?}");
    assert!(labels.contains(&"ann@uni.org") && labels.contains(&"bob@uni.org"));
    let ann_line = by_member
        .iter()
        .find(|l| label(l, 0) == "ann@uni.org")
        .unwrap();
    assert_eq!(ann_line["attempts"], 3);
    assert_eq!(ann_line["keys"][0]["dimension"], "MEMBER");

    let by_app_month = report(&app, &admin, json!(["APPLICATION", "MONTH"])).await;
    assert_eq!(by_app_month.len(), 1, "{by_app_month:?}");
    assert_eq!(label(&by_app_month[0], 0), "shell 1");
    let month = Utc::now().format("%Y-%m-01").to_string();
    assert_eq!(by_app_month[0]["keys"][1]["value"], month);
    assert_eq!(
        label(&report(&app, &admin, json!(["GROUP"])).await[0], 0),
        "(no group)"
    );

    // the CSV says the same
    let (f, t) = range();
    let csv = app
        .http
        .get(format!("{}/accounting.csv", app.url))
        .query(&[
            ("from", f.as_str()),
            ("to", t.as_str()),
            ("groupBy", "MEMBER"),
        ])
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let body = csv.text().await.unwrap();
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(
        lines[0],
        "member,jobs,attempts,wall_hours,core_hours,success_rate"
    );
    assert_eq!(lines.len(), 3, "{body}");
    assert!(body.contains("ann@uni.org,3,3,"), "{body}");
}

#[tokio::test]
async fn reports_are_for_administrators_of_their_tenants_and_bad_ranges_are_refused() {
    let app = TestApp::spawn().await;
    let (admin, ann, _) = setup(&app, "uni").await;
    let (other_admin, _, _) = setup(&app, "hospital").await;
    app.tenant("ops").await;
    let (_, root) = app
        .member("ops", "root@ops.org", &[Role::PlatformAdmin])
        .await;
    let shell = shell_app(&app, &admin).await;
    let job = submit(
        &app,
        &ann,
        json!({"applicationId": shell, "parameters": {"script": "true"}}),
    )
    .await;
    let id = job["id"].as_str().unwrap();
    wait_until(&app, &ann, id, 120, |j| j["state"] == "SUCCEEDED").await;
    wait_for_attempts(&app, &admin, 1).await;

    let (f, t) = range();
    let ask = |g: Value| json!({"f": f, "t": t, "g": g});
    assert_eq!(
        app.code(Some(&ann), REPORT, ask(json!([]))).await,
        "FORBIDDEN"
    );
    // another tenant's administrator sees nothing of this one
    assert!(report(&app, &other_admin, json!([])).await.is_empty());
    // a platform admin sees every tenant
    let tenants = report(&app, &root, json!(["TENANT"])).await;
    assert_eq!(tenants.len(), 1, "{tenants:?}");
    assert_eq!(label(&tenants[0], 0), "uni");

    let reversed = json!({"f": t, "t": f, "g": []});
    assert_eq!(
        app.code(Some(&admin), REPORT, reversed).await,
        "INVALID_INPUT"
    );
    let decade = json!({"f": "2016-01-01T00:00:00Z", "t": "2026-01-01T00:00:00Z", "g": []});
    assert_eq!(
        app.code(Some(&admin), REPORT, decade).await,
        "INVALID_INPUT"
    );
    assert_eq!(
        app.code(Some(&admin), REPORT, ask(json!(["MEMBER", "MEMBER"])))
            .await,
        "INVALID_INPUT"
    );
    let csv = |token: String, from: &'static str| {
        let req = app
            .http
            .get(format!("{}/accounting.csv", app.url))
            .query(&[("from", from), ("to", "2026-01-01T00:00:00Z")])
            .bearer_auth(token);
        async move { req.send().await.unwrap() }
    };
    let bad = csv(admin.clone(), "yesterday").await;
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["error"]["code"], "INVALID_INPUT");
    assert_eq!(csv(ann.clone(), "2025-12-01T00:00:00Z").await.status(), 403);
}

#[tokio::test]
async fn core_hour_budgets_refuse_submissions_once_used_up() {
    let app = TestApp::spawn().await;
    let (admin, ann, _) = setup(&app, "uni").await;
    app.tenant("ops").await;
    let (_, root) = app
        .member("ops", "root@ops.org", &[Role::PlatformAdmin])
        .await;
    let shell = shell_app(&app, &admin).await;
    let group = app
        .ok(
            &admin,
            "mutation { createGroup(name: \"Lab\") { id } }",
            json!({}),
        )
        .await["createGroup"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ann_id = app.ok(&ann, "{ me { id } }", json!({})).await["me"]["id"].clone();
    app.ok(
        &admin,
        "mutation($g: ID!, $m: ID!) { addGroupMember(groupId: $g, memberId: $m, role: MANAGER) { id } }",
        json!({"g": group, "m": ann_id}),
    )
    .await;

    // a group's budget: its managers may not set it, tenant admins may
    let set_group = "mutation($g: ID!, $h: Float) { setGroupCoreHourBudget(id: $g, hours: $h) { coreHourBudget coreHoursUsedThisMonth } }";
    let tiny = json!({"g": group, "h": 1.0 / 3600.0}); // one core second
    assert_eq!(
        app.code(Some(&ann), set_group, tiny.clone()).await,
        "FORBIDDEN"
    );
    assert_eq!(
        app.code(Some(&admin), set_group, json!({"g": group, "h": -1.0}))
            .await,
        "INVALID_INPUT"
    );
    app.ok(&admin, set_group, tiny).await;

    let run = |group: Option<&str>| {
        let mut input = json!({"applicationId": shell, "parameters": {"script": "sleep 1"}});
        if let Some(g) = group {
            input["groupId"] = json!(g);
        }
        input
    };
    let first = submit(&app, &ann, run(Some(&group))).await;
    let id = first["id"].as_str().unwrap();
    wait_until(&app, &ann, id, 120, |j| j["state"] == "SUCCEEDED").await;
    wait_for_attempts(&app, &admin, 1).await;

    let query = "mutation($i: SubmitJobInput!) { submitJob(input: $i) { id } }";
    let events = app.event_count().await;
    let body = app
        .gql(Some(&ann), query, json!({"i": run(Some(&group))}))
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "QUOTA_EXCEEDED",
        "{body}"
    );
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("the group's core-hour budget"),
        "{body}"
    );
    assert_eq!(app.event_count().await, events, "nothing recorded");
    // outside the group the member may still run
    app.ok(&ann, query, json!({"i": run(None)})).await;
    let used = app
        .ok(
            &admin,
            "query($g: ID!) { group(id: $g) { coreHourBudget coreHoursUsedThisMonth } }",
            json!({"g": group}),
        )
        .await;
    assert!(
        used["group"]["coreHoursUsedThisMonth"].as_f64().unwrap() > 0.0001,
        "{used}"
    );

    // the tenant's budget: platform admins set it, and it holds for every job of the tenant
    let tenant = app.ok(&ann, "{ me { tenant { id } } }", json!({})).await["me"]["tenant"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let set_tenant = "mutation($t: ID!, $h: Float) { setTenantCoreHourBudget(id: $t, hours: $h) { coreHourBudget } }";
    assert_eq!(
        app.code(
            Some(&admin),
            set_tenant,
            json!({"t": tenant, "h": 1.0 / 3600.0})
        )
        .await,
        "FORBIDDEN"
    );
    app.ok(&root, set_tenant, json!({"t": tenant, "h": 1.0 / 3600.0}))
        .await;
    assert_eq!(
        app.code(Some(&ann), query, json!({"i": run(None)})).await,
        "QUOTA_EXCEEDED"
    );
    // lifted: jobs run again
    app.ok(&root, set_tenant, json!({"t": tenant, "h": null}))
        .await;
    app.ok(&ann, query, json!({"i": run(None)})).await;
}
