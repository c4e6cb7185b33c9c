//! Subscriptions over graphql-transport-ws, authenticated in `connection_init`; a
//! connection lives no longer than its credential, counts against the rate limits and runs
//! a bounded number of subscriptions.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use medgrid_domain::Role;
use medgrid_tests::{TestApp, test_config};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(app: &TestApp, token: &str) -> Ws {
    let url = format!("{}/graphql/ws", app.url.replace("http://", "ws://"));
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    send(
        &mut ws,
        json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token}")}}),
    )
    .await;
    assert_eq!(next(&mut ws).await["type"], "connection_ack");
    ws
}

async fn send(ws: &mut Ws, msg: Value) {
    ws.send(Message::Text(msg.to_string().into()))
        .await
        .unwrap();
}

async fn next(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(15), ws.next())
            .await
            .expect("no message within 15 s")
            .unwrap()
            .unwrap();
        if let Message::Text(text) = msg {
            let v: Value = serde_json::from_str(&text).unwrap();
            if v["type"] != "ping" && v["type"] != "pong" {
                return v;
            }
        }
    }
}

/// The next protocol message, pings and pongs included.
async fn answer(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(15), ws.next())
            .await
            .expect("no message within 15 s")
            .unwrap()
            .unwrap();
        if let Message::Text(text) = msg {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

/// Reads until the server closes the connection: its close code, and the protocol
/// messages read before.
async fn closed(ws: &mut Ws) -> (u16, Vec<Value>) {
    let mut seen = Vec::new();
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .unwrap_or_else(|_| panic!("not closed within 30 s; read {seen:?}"));
        match msg {
            Some(Ok(Message::Close(Some(frame)))) => return (frame.code.into(), seen),
            Some(Ok(Message::Text(text))) => seen.push(serde_json::from_str(&text).unwrap()),
            Some(Ok(_)) => {}
            other => panic!("the connection ended without a close frame: {other:?}"),
        }
    }
}

const MEMBER_UPDATED: &str = "subscription($m: ID!) { memberUpdated(id: $m) { roles } }";

/// Subscribes as `id` to the updates of member `member`.
async fn watch(ws: &mut Ws, id: &str, member: &str) {
    send(
        ws,
        json!({"id": id, "type": "subscribe", "payload": {"query": MEMBER_UPDATED, "variables": {"m": member}}}),
    )
    .await;
}

/// A personal access token of the holder of `token`: (the token, its id).
async fn issue(app: &TestApp, token: &str, name: &str) -> (String, String) {
    let issued = app
        .ok(
            token,
            "mutation($n: String!) { issueToken(name: $n) { token accessToken { id } } }",
            json!({"n": name}),
        )
        .await;
    let issued = &issued["issueToken"];
    (
        issued["token"].as_str().unwrap().to_owned(),
        issued["accessToken"]["id"].as_str().unwrap().to_owned(),
    )
}

async fn revoke(app: &TestApp, token: &str, id: &str) {
    app.ok(
        token,
        "mutation($t: ID!) { revokeToken(id: $t) { revokedAt } }",
        json!({"t": id}),
    )
    .await;
}

#[tokio::test]
async fn member_updates_are_pushed_and_other_tenants_are_refused() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    app.tenant("beta").await;
    let (_, admin) = app
        .member("acme", "admin@acme.org", &[Role::TenantAdmin])
        .await;
    let (bob, _) = app.member("acme", "bob@acme.org", &[]).await;
    let (_, outsider) = app
        .member("beta", "eve@beta.org", &[Role::TenantAdmin])
        .await;

    let mut ws = connect(&app, &admin).await;
    let sub = "subscription($m: ID!) { memberUpdated(id: $m) { roles disabled } }";
    send(&mut ws, json!({"id": "1", "type": "subscribe", "payload": {"query": sub, "variables": {"m": bob.to_string()}}})).await;
    // The subscription starts from the state it first reads; a change made before that is
    // not an update. So toggle the role until an update arrives, and check it is one of
    // the states we wrote.
    let grant = "mutation($m: ID!) { grantRole(memberId: $m, role: TENANT_ADMIN) { id } }";
    let revoke = "mutation($m: ID!) { revokeRole(memberId: $m, role: TENANT_ADMIN) { id } }";
    let mut pushed = None;
    for round in 0..20 {
        let change = if round % 2 == 0 { grant } else { revoke };
        app.ok(&admin, change, json!({"m": bob.to_string()})).await;
        if let Ok(msg) = tokio::time::timeout(Duration::from_millis(1500), next(&mut ws)).await {
            pushed = Some(msg);
            break;
        }
    }
    let msg = pushed.expect("no update pushed after 20 changes");
    assert_eq!(msg["type"], "next", "{msg}");
    let roles = &msg["payload"]["data"]["memberUpdated"]["roles"];
    assert!(
        *roles == json!(["TENANT_ADMIN"]) || *roles == json!([]),
        "{msg}"
    );

    let mut spy = connect(&app, &outsider).await;
    send(&mut spy, json!({"id": "1", "type": "subscribe", "payload": {"query": sub, "variables": {"m": bob.to_string()}}})).await;
    let msg = next(&mut spy).await;
    let code = msg["payload"][0]["extensions"]["code"].clone();
    assert!(
        msg["type"] == "error" || msg["payload"]["errors"].is_array(),
        "{msg}"
    );
    assert!(
        code == "NOT_FOUND" || msg["payload"]["errors"][0]["extensions"]["code"] == "NOT_FOUND",
        "{msg}"
    );
}

#[tokio::test]
async fn a_bad_token_on_the_socket_is_unauthenticated() {
    let app = TestApp::spawn().await;
    let mut ws = connect(&app, "mgt_forged").await;
    let sub =
        "subscription { memberUpdated(id: \"00000000-0000-0000-0000-000000000000\") { roles } }";
    send(
        &mut ws,
        json!({"id": "1", "type": "subscribe", "payload": {"query": sub}}),
    )
    .await;
    let msg = next(&mut ws).await;
    let text = msg.to_string();
    assert!(text.contains("UNAUTHENTICATED"), "{msg}");
}

#[tokio::test]
async fn job_transitions_are_pushed_until_the_job_ends() {
    let app = TestApp::spawn().await;
    let (admin, member, _) = crate::jobs::setup(&app, "uni").await;
    let shell = crate::jobs::shell_app(&app, &admin).await;
    let job = crate::jobs::submit(
        &app,
        &member,
        json!({"applicationId": shell, "parameters": {"script": "sleep 2"}}),
    )
    .await;
    let id = job["id"].as_str().unwrap();
    let mut ws = connect(&app, &member).await;
    let sub = "subscription($j: ID!) { jobUpdated(id: $j) { state timeline { state } } }";
    send(
        &mut ws,
        json!({"id": "1", "type": "subscribe", "payload": {"query": sub, "variables": {"j": id}}}),
    )
    .await;
    let mut pushed = Vec::new();
    loop {
        let msg = next(&mut ws).await;
        if msg["type"] == "complete" {
            break;
        }
        assert_eq!(msg["type"], "next", "{msg}");
        pushed.push(
            msg["payload"]["data"]["jobUpdated"]["state"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(
        pushed.last().map(String::as_str),
        Some("SUCCEEDED"),
        "{pushed:?}"
    );
    assert!(pushed.iter().any(|s| s == "RUNNING"), "{pushed:?}");
    // another member cannot subscribe to it
    let (_, bob) = app.member("uni", "bob@uni.org", &[]).await;
    let mut ws = connect(&app, &bob).await;
    send(
        &mut ws,
        json!({"id": "2", "type": "subscribe", "payload": {"query": sub, "variables": {"j": id}}}),
    )
    .await;
    let refused = next(&mut ws).await;
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{refused}"
    );
}

#[tokio::test]
async fn a_revoked_token_gets_no_further_event_and_is_closed_with_4401() {
    let mut config = test_config();
    // no periodic check within the test: the event itself must be refused
    config.ws_recheck_seconds = 3600;
    let app = TestApp::spawn_with(config).await;
    let (admin, member, _) = crate::jobs::setup(&app, "uni").await;
    let shell = crate::jobs::shell_app(&app, &admin).await;
    let job = crate::jobs::submit(
        &app,
        &member,
        json!({"applicationId": shell, "parameters": {"script": "sleep 600"}}),
    )
    .await;
    let id = job["id"].as_str().unwrap();
    let (socket, token_id) = issue(&app, &member, "socket").await;
    let mut ws = connect(&app, &socket).await;
    let sub = "subscription($j: ID!) { jobUpdated(id: $j) { state } }";
    send(
        &mut ws,
        json!({"id": "1", "type": "subscribe", "payload": {"query": sub, "variables": {"j": id}}}),
    )
    .await;
    loop {
        let msg = next(&mut ws).await;
        assert_eq!(msg["type"], "next", "{msg}");
        if msg["payload"]["data"]["jobUpdated"]["state"] == "RUNNING" {
            break;
        }
    }
    revoke(&app, &member, &token_id).await;
    // the cancellation is the job's next event
    app.ok(
        &member,
        "mutation($id: ID!) { cancelJob(id: $id) { state } }",
        json!({"id": id}),
    )
    .await;
    let (code, seen) = closed(&mut ws).await;
    assert_eq!(code, 4401, "{seen:?}");
    assert!(
        seen.iter()
            .all(|m| m["payload"]["data"]["jobUpdated"]["state"] != "CANCELLED"),
        "the event reached a revoked token: {seen:?}"
    );
}

#[tokio::test]
async fn a_revoked_token_is_closed_with_4401_within_the_recheck_without_events() {
    let mut config = test_config();
    config.ws_recheck_seconds = 1;
    let app = TestApp::spawn_with(config).await;
    app.tenant("acme").await;
    let (_, ann) = app.member("acme", "ann@acme.org", &[]).await;
    let (bob, _) = app.member("acme", "bob@acme.org", &[]).await;
    let (socket, token_id) = issue(&app, &ann, "socket").await;
    let mut ws = connect(&app, &socket).await;
    watch(&mut ws, "1", &bob.to_string()).await;
    revoke(&app, &ann, &token_id).await;
    let (code, seen) = closed(&mut ws).await;
    assert_eq!(code, 4401, "{seen:?}");
}

#[tokio::test]
async fn a_disabled_member_and_a_suspended_tenant_are_closed_with_4403() {
    let mut config = test_config();
    config.ws_recheck_seconds = 1;
    let app = TestApp::spawn_with(config).await;
    let acme = app.tenant("acme").await;
    app.tenant("ops").await;
    let (_, root) = app
        .member("ops", "root@ops.org", &[Role::PlatformAdmin])
        .await;
    let (_, admin) = app
        .member("acme", "admin@acme.org", &[Role::TenantAdmin])
        .await;
    let (ann_id, ann) = app.member("acme", "ann@acme.org", &[]).await;
    let (_, bob) = app.member("acme", "bob@acme.org", &[]).await;
    let carl = app.member("acme", "carl@acme.org", &[]).await.0.to_string();
    let mut anns = connect(&app, &ann).await;
    watch(&mut anns, "1", &carl).await;
    let mut bobs = connect(&app, &bob).await;
    watch(&mut bobs, "1", &carl).await;

    app.ok(
        &admin,
        "mutation($m: ID!) { disableMember(id: $m) { disabled } }",
        json!({"m": ann_id.to_string()}),
    )
    .await;
    let (code, seen) = closed(&mut anns).await;
    assert_eq!(code, 4403, "{seen:?}");
    // bob, still allowed, streams on (a recheck has passed him too by now)
    send(&mut bobs, json!({"type": "ping"})).await;
    assert_eq!(answer(&mut bobs).await["type"], "pong");

    app.ok(
        &root,
        "mutation($t: ID!) { suspendTenant(id: $t, reason: \"audit\") { status } }",
        json!({"t": acme.to_string()}),
    )
    .await;
    let (code, seen) = closed(&mut bobs).await;
    assert_eq!(code, 4403, "{seen:?}");
}

#[tokio::test]
async fn at_most_16_subscriptions_run_on_one_connection() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    let (_, ann) = app.member("acme", "ann@acme.org", &[]).await;
    let bob = app.member("acme", "bob@acme.org", &[]).await.0.to_string();
    let mut ws = connect(&app, &ann).await;
    for id in 1..=16 {
        watch(&mut ws, &id.to_string(), &bob).await;
    }
    watch(&mut ws, "17", &bob).await;
    let refused = answer(&mut ws).await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["id"], "17", "{refused}");
    assert_eq!(
        refused["payload"][0]["extensions"]["code"], "QUOTA_EXCEEDED",
        "{refused}"
    );
    // one ended makes room for another (no error before the pong)
    send(&mut ws, json!({"id": "1", "type": "complete"})).await;
    watch(&mut ws, "18", &bob).await;
    send(&mut ws, json!({"type": "ping"})).await;
    loop {
        // async-graphql acknowledges the `complete` with one of its own
        let msg = answer(&mut ws).await;
        assert_ne!(msg["type"], "error", "{msg}");
        if msg["type"] == "pong" {
            break;
        }
    }
    // an id that is running cannot be used again
    watch(&mut ws, "2", &bob).await;
    let (code, seen) = closed(&mut ws).await;
    assert_eq!(code, 4409, "{seen:?}");
}

#[tokio::test]
async fn messages_past_the_rate_limits_are_refused() {
    let mut config = test_config();
    config.rate_limit_member_per_minute = 4;
    config.rate_limit_anonymous_per_minute = 2;
    let app = TestApp::spawn_with(config).await;
    app.tenant("acme").await;
    let (_, ann) = app.member("acme", "ann@acme.org", &[]).await;
    let bob = app.member("acme", "bob@acme.org", &[]).await.0.to_string();

    // connection_init is the first of ann's four
    let mut ws = connect(&app, &ann).await;
    for id in 1..=3 {
        watch(&mut ws, &id.to_string(), &bob).await;
    }
    // a subscribe past the limit is refused on its own; the connection stays
    watch(&mut ws, "4", &bob).await;
    let refused = answer(&mut ws).await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["id"], "4", "{refused}");
    let error = &refused["payload"][0]["extensions"];
    assert_eq!(error["code"], "RATE_LIMITED", "{refused}");
    assert!(error["retryAfter"].as_u64().unwrap() >= 1, "{refused}");
    // any other message past it closes the connection
    send(&mut ws, json!({"type": "ping"})).await;
    let (code, seen) = closed(&mut ws).await;
    assert_eq!(code, 4429, "{seen:?}");

    // without valid credentials, the client address's budget counts
    let mut ws = connect(&app, "mgt_forged").await;
    send(&mut ws, json!({"type": "ping"})).await;
    assert_eq!(answer(&mut ws).await["type"], "pong");
    send(&mut ws, json!({"type": "ping"})).await;
    let (code, seen) = closed(&mut ws).await;
    assert_eq!(code, 4429, "{seen:?}");
}
