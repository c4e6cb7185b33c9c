//! Trouble tickets: opened by members (about a job they see), commented, assigned to a
//! tenant administrator, prioritised, resolved and reopened; seen by their reporter and
//! the tenant's administrators only; bad input refused whole.

use medgrid_domain::Role;
use medgrid_tests::TestApp;
use serde_json::{Value, json};

use crate::jobs::{setup, shell_app, submit};

pub const TICKET: &str = "id title body status priority resolution createdAt updatedAt resolvedAt
    reporter { id email } assignee { id email } job { id }
    comments { number body author { id } createdAt }";

pub fn open_q() -> String {
    format!("mutation($i: OpenTicketInput!) {{ openTicket(input: $i) {{ {TICKET} }} }}")
}

pub async fn open(app: &TestApp, token: &str, input: Value) -> Value {
    app.ok(token, &open_q(), json!({"i": input})).await["openTicket"].clone()
}

/// Events of tickets (jobs submitted for the tests go on writing theirs meanwhile).
async fn ticket_events(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_type = 'Ticket'")
        .fetch_one(app.pool())
        .await
        .unwrap()
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

fn comment(id: &str, body: &str) -> (String, Value) {
    (
        "commentTicket(id: $id, body: $b)".into(),
        json!({"id": id, "b": body}),
    )
}

async fn try_comment(app: &TestApp, token: &str, id: &str, body: &str) -> Result<Value, String> {
    let (m, vars) = comment(id, body);
    let q = format!("mutation($id: ID!, $b: String!) {{ {m} {{ {TICKET} }} }}");
    let resp = app.gql(Some(token), &q, vars).await;
    match medgrid_tests::error_code(&resp) {
        Some(code) => Err(code),
        None => Ok(resp["data"]["commentTicket"].clone()),
    }
}

#[tokio::test]
async fn a_ticket_goes_from_open_to_resolved_and_back() {
    let app = TestApp::spawn().await;
    let (admin, ann, _) = setup(&app, "acme").await;
    let admin_id = app.ok(&admin, "{ me { id } }", json!({})).await["me"]["id"].clone();
    let shell = shell_app(&app, &admin).await;
    let job = submit(
        &app,
        &ann,
        json!({"applicationId": shell, "parameters": {"script": "true"}}),
    )
    .await;
    let job_id = id_of(&job);

    let t = open(
        &app,
        &ann,
        json!({"title": "  My job never ends ", "body": "It has run for days.",
               "jobId": job_id, "priority": "HIGH"}),
    )
    .await;
    let id = id_of(&t);
    assert_eq!(t["title"], "My job never ends");
    assert_eq!(t["status"], "OPEN");
    assert_eq!(t["priority"], "HIGH");
    assert_eq!(t["job"]["id"], job_id.as_str());
    assert_eq!(t["reporter"]["email"], "ann@acme.org");
    assert!(t["assignee"].is_null());

    // the reporter comments; the admin assigns (to themselves), raises the priority, comments
    let t = try_comment(&app, &ann, &id, "Still running.")
        .await
        .unwrap();
    assert_eq!(t["comments"][0]["body"], "Still running.");
    let q = format!(
        "mutation($id: ID!, $m: ID!) {{ assignTicket(id: $id, memberId: $m) {{ {TICKET} }} }}"
    );
    let t = app.ok(&admin, &q, json!({"id": id, "m": admin_id})).await["assignTicket"].clone();
    assert_eq!(t["assignee"]["email"], "admin@acme.org");
    let q = format!(
        "mutation($id: ID!) {{ setTicketPriority(id: $id, priority: URGENT) {{ {TICKET} }} }}"
    );
    let t = app.ok(&admin, &q, json!({"id": id})).await["setTicketPriority"].clone();
    assert_eq!(t["priority"], "URGENT");
    try_comment(&app, &admin, &id, "Looking into it.")
        .await
        .unwrap();

    // resolved: no more comments until reopened
    let q = format!(
        "mutation($id: ID!, $r: String!) {{ resolveTicket(id: $id, resolution: $r) {{ {TICKET} }} }}"
    );
    let t = app
        .ok(
            &admin,
            &q,
            json!({"id": id, "r": "The node was restarted."}),
        )
        .await["resolveTicket"]
        .clone();
    assert_eq!(t["status"], "RESOLVED");
    assert_eq!(t["resolution"], "The node was restarted.");
    assert!(t["resolvedAt"].is_string());
    let events = ticket_events(&app).await;
    assert_eq!(
        try_comment(&app, &ann, &id, "Thanks!").await.unwrap_err(),
        "CONFLICT"
    );
    assert_eq!(
        app.code(Some(&admin), &q, json!({"id": id, "r": "again"}))
            .await,
        "CONFLICT"
    );
    assert_eq!(ticket_events(&app).await, events, "nothing stored");
    let q = format!("mutation($id: ID!) {{ reopenTicket(id: $id) {{ {TICKET} }} }}");
    let t = app.ok(&ann, &q, json!({"id": id})).await["reopenTicket"].clone();
    assert_eq!(t["status"], "OPEN");
    assert!(t["resolution"].is_null());
    assert_eq!(
        app.code(Some(&ann), &q, json!({"id": id})).await,
        "CONFLICT"
    );
    let t = try_comment(&app, &ann, &id, "It happened again.")
        .await
        .unwrap();
    let comments: Vec<&str> = t["comments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["body"].as_str().unwrap())
        .collect();
    assert_eq!(
        comments,
        ["Still running.", "Looking into it.", "It happened again."]
    );

    // each change was one event of the ticket
    let kinds: Vec<String> = sqlx::query_scalar(
        "SELECT event_type FROM events WHERE aggregate_type = 'Ticket' ORDER BY sequence",
    )
    .fetch_all(app.pool())
    .await
    .unwrap();
    assert_eq!(
        kinds,
        [
            "TicketOpened",
            "TicketCommented",
            "TicketAssigned",
            "TicketPriorityChanged",
            "TicketCommented",
            "TicketResolved",
            "TicketReopened",
            "TicketCommented"
        ]
    );
}

#[tokio::test]
async fn members_see_their_own_tickets_and_admins_all_of_the_tenant() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    app.tenant("other").await;
    let (_, admin) = app
        .member("acme", "admin@acme.org", &[Role::TenantAdmin])
        .await;
    let (_, ann) = app.member("acme", "ann@acme.org", &[]).await;
    let (_, bob) = app.member("acme", "bob@acme.org", &[]).await;
    let (_, stranger) = app
        .member("other", "admin@other.org", &[Role::TenantAdmin])
        .await;
    let (_, root) = app
        .member("other", "root@other.org", &[Role::PlatformAdmin])
        .await;
    let mut anns = vec![];
    for n in 0..3 {
        anns.push(id_of(
            &open(&app, &ann, json!({"title": format!("ann {n}")})).await,
        ));
    }
    let bobs = id_of(&open(&app, &bob, json!({"title": "bob's", "priority": "LOW"})).await);

    let list = |token: String, first: i32, after: Option<String>| {
        let app = &app;
        async move {
            app.ok(
                &token,
                "query($f: Int, $a: String) { tickets(first: $f, after: $a) {
                    edges { cursor node { id title } } pageInfo { hasNextPage endCursor } } }",
                json!({"f": first, "a": after}),
            )
            .await["tickets"]
                .clone()
        }
    };
    let titles = |page: &Value| -> Vec<String> {
        page["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["title"].as_str().unwrap().to_owned())
            .collect()
    };
    // newest first, paged
    let first = list(ann.clone(), 2, None).await;
    assert_eq!(titles(&first), ["ann 2", "ann 1"]);
    assert_eq!(first["pageInfo"]["hasNextPage"], true);
    let cursor = first["pageInfo"]["endCursor"].as_str().unwrap().to_owned();
    let second = list(ann.clone(), 2, Some(cursor)).await;
    assert_eq!(titles(&second), ["ann 0"]);
    assert_eq!(second["pageInfo"]["hasNextPage"], false);
    assert_eq!(titles(&list(bob.clone(), 10, None).await), ["bob's"]);
    assert_eq!(
        titles(&list(admin.clone(), 10, None).await),
        ["bob's", "ann 2", "ann 1", "ann 0"]
    );
    // nobody of another tenant sees any, platform admins included
    assert!(titles(&list(stranger.clone(), 10, None).await).is_empty());
    assert!(titles(&list(root.clone(), 10, None).await).is_empty());

    let events = ticket_events(&app).await;
    let one = "query($id: ID!) { ticket(id: $id) { title } }";
    assert_eq!(
        app.code(Some(&bob), one, json!({"id": anns[0]})).await,
        "NOT_FOUND"
    );
    assert_eq!(
        app.ok(&admin, one, json!({"id": bobs})).await["ticket"]["title"],
        "bob's"
    );
    let cross = [
        (
            "query($id: ID!) { ticket(id: $id) { title } }",
            json!({"id": bobs}),
        ),
        (
            "mutation($id: ID!) { commentTicket(id: $id, body: \"x\") { id } }",
            json!({"id": bobs}),
        ),
        (
            "mutation($id: ID!) { resolveTicket(id: $id, resolution: \"x\") { id } }",
            json!({"id": bobs}),
        ),
        (
            "mutation($id: ID!) { reopenTicket(id: $id) { id } }",
            json!({"id": bobs}),
        ),
        (
            "mutation($id: ID!) { setTicketPriority(id: $id, priority: HIGH) { id } }",
            json!({"id": bobs}),
        ),
    ];
    for (token, who) in [
        (&ann, "another member"),
        (&stranger, "another tenant's admin"),
        (&root, "a platform admin of another tenant"),
    ] {
        for (q, vars) in &cross {
            assert_eq!(
                app.code(Some(token), q, vars.clone()).await,
                "NOT_FOUND",
                "{who}: {q}"
            );
        }
    }
    assert_eq!(
        app.code(
            Some(&ann),
            "query($id: ID!) { ticket(id: $id) { title } }",
            json!({"id": "not-an-id"})
        )
        .await,
        "NOT_FOUND"
    );
    assert_eq!(ticket_events(&app).await, events, "nothing stored");
}

#[tokio::test]
async fn bad_input_is_refused_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let (admin, ann, _) = setup(&app, "acme").await;
    let (bob_id, bob) = app.member("acme", "bob@acme.org", &[]).await;
    app.tenant("other").await;
    let (other_admin, _) = app
        .member("other", "admin@other.org", &[Role::TenantAdmin])
        .await;
    let (disabled_admin, _) = app
        .member("acme", "old@acme.org", &[Role::TenantAdmin])
        .await;
    app.ok(
        &admin,
        "mutation($m: ID!) { disableMember(id: $m) { id } }",
        json!({"m": disabled_admin.to_string()}),
    )
    .await;
    let shell = shell_app(&app, &admin).await;
    let anns_job = id_of(
        &submit(
            &app,
            &ann,
            json!({"applicationId": shell, "parameters": {"script": "true"}}),
        )
        .await,
    );
    let t = id_of(&open(&app, &ann, json!({"title": "ok", "body": "fine"})).await);
    let before = ticket_events(&app).await;

    let q = open_q();
    let long_title = "t".repeat(201);
    let long_body = "b".repeat(20_001);
    for (input, code) in [
        (json!({"title": long_title}), "INVALID_INPUT"),
        (json!({"title": "   "}), "INVALID_INPUT"),
        (json!({"title": "x", "body": long_body}), "INVALID_INPUT"),
        // a job bob does not see is not found
        (json!({"title": "x", "jobId": anns_job}), "NOT_FOUND"),
        (json!({"title": "x", "jobId": "not-an-id"}), "NOT_FOUND"),
    ] {
        assert_eq!(
            app.code(Some(&bob), &q, json!({"i": input})).await,
            code,
            "{input}"
        );
    }
    assert_eq!(
        try_comment(&app, &ann, &t, &long_body).await.unwrap_err(),
        "INVALID_INPUT"
    );
    assert_eq!(
        try_comment(&app, &ann, &t, " ").await.unwrap_err(),
        "INVALID_INPUT"
    );
    let resolve =
        "mutation($id: ID!, $r: String!) { resolveTicket(id: $id, resolution: $r) { id } }";
    assert_eq!(
        app.code(Some(&ann), resolve, json!({"id": t, "r": long_body}))
            .await,
        "INVALID_INPUT"
    );

    // assignment: admins only, and only to an active admin of the same tenant
    let assign = "mutation($id: ID!, $m: ID!) { assignTicket(id: $id, memberId: $m) { id } }";
    let me = |token: String| {
        let app = &app;
        async move { app.ok(&token, "{ me { id } }", json!({})).await["me"]["id"].clone() }
    };
    let admin_id = me(admin.clone()).await;
    let other_admin_id = other_admin.to_string();
    assert_eq!(
        app.code(Some(&ann), assign, json!({"id": t, "m": admin_id}))
            .await,
        "FORBIDDEN"
    );
    for (target, code) in [
        (bob_id.to_string(), "INVALID_INPUT"),
        (disabled_admin.to_string(), "INVALID_INPUT"),
        (other_admin_id, "NOT_FOUND"),
        ("not-an-id".to_owned(), "NOT_FOUND"),
    ] {
        assert_eq!(
            app.code(Some(&admin), assign, json!({"id": t, "m": target}))
                .await,
            code,
            "{target}"
        );
    }
    assert_eq!(
        app.code(
            Some(&ann),
            "mutation($id: ID!) { setTicketPriority(id: $id, priority: HIGH) { id } }",
            json!({"id": t})
        )
        .await,
        "FORBIDDEN"
    );
    assert_eq!(ticket_events(&app).await, before, "nothing stored");
    let tickets: i64 = sqlx::query_scalar("SELECT count(*) FROM tickets")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(tickets, 1);

    // exactly at the limits is accepted
    let at_limit = open(
        &app,
        &bob,
        json!({"title": "é".repeat(200), "body": "é".repeat(20_000)}),
    )
    .await;
    assert_eq!(at_limit["title"].as_str().unwrap().chars().count(), 200);
}

/// A ticket about a job, commented, assigned and resolved, for the rebuild test.
pub async fn populate(app: &TestApp, admin: &str, job: &str) {
    let t = id_of(
        &open(
            app,
            admin,
            json!({"title": "Output missing", "body": "Where is it?", "jobId": job}),
        )
        .await,
    );
    try_comment(app, admin, &t, "Found it.").await.unwrap();
    let me = app.ok(admin, "{ me { id } }", json!({})).await["me"]["id"].clone();
    app.ok(
        admin,
        "mutation($id: ID!, $m: ID!) { assignTicket(id: $id, memberId: $m) { id } }",
        json!({"id": t, "m": me}),
    )
    .await;
    app.ok(
        admin,
        "mutation($id: ID!) { resolveTicket(id: $id, resolution: \"Answered.\") { id } }",
        json!({"id": t}),
    )
    .await;
}
