//! Subscriptions over graphql-transport-ws, authenticated in `connection_init`.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use medgrid_domain::Role;
use medgrid_tests::TestApp;
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
