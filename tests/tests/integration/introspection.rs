//! Tenant isolation for every GraphQL root field, generated from the schema's
//! introspection: for each query, mutation and subscription field with an `ID` (as an
//! argument or inside an input object), a member of tenant beta, its administrator too,
//! asks for tenant alpha's objects by id and gets nothing: a refusal (NOT_FOUND, or
//! FORBIDDEN / INVALID_INPUT / UNAUTHENTICATED) or an empty answer, never alpha's data,
//! and no event is written. A new field is covered without editing this file; the
//! fields without ids are derived and listed as skipped.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use medgrid_domain::compute::{Access, ResourceKind};
use medgrid_tests::TestApp;
use serde_json::{Map, Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::jobs::{in_state, setup, submit, wait_until};

const INTROSPECTION: &str = "{ __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { kind name enumValues { name }
        fields { name type { ...T } args { name defaultValue type { ...T } } }
        inputFields { name defaultValue type { ...T } } } } }
fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name } } } }";

/// Error codes that refuse without telling anything of the object asked for.
const REFUSALS: [&str; 4] = ["NOT_FOUND", "FORBIDDEN", "INVALID_INPUT", "UNAUTHENTICATED"];

/// A string that passes the usual checks (names, reasons, passwords), so that a request
/// gets as far as the ownership check.
const TEXT: &str = "plausible-test-value";

/// The kinds of object an id can name.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Kind {
    Tenant,
    Admin,
    Member,
    Group,
    Token,
    Job,
    Application,
    Resource,
    Provider,
    Ticket,
}

const KINDS: [Kind; 10] = [
    Kind::Tenant,
    Kind::Admin,
    Kind::Member,
    Kind::Group,
    Kind::Token,
    Kind::Job,
    Kind::Application,
    Kind::Resource,
    Kind::Provider,
    Kind::Ticket,
];

/// One tenant's objects, an id of each kind.
type Objects = BTreeMap<Kind, String>;

/// The kinds an id argument or input field can name, by its name (`groupId`,
/// `alternateResourceIds`, `owner`…); every kind when the name does not say (`id`).
fn kinds_for(name: &str) -> Vec<Kind> {
    let name = name.to_lowercase();
    let member: &[Kind] = &[Kind::Member, Kind::Admin];
    let by_word: [(&str, &[Kind]); 11] = [
        ("tenant", &[Kind::Tenant]),
        ("member", member),
        ("owner", member),
        ("actor", member),
        ("group", &[Kind::Group]),
        ("token", &[Kind::Token]),
        ("job", &[Kind::Job]),
        ("application", &[Kind::Application]),
        ("resource", &[Kind::Resource]),
        ("provider", &[Kind::Provider]),
        ("ticket", &[Kind::Ticket]),
    ];
    by_word
        .iter()
        .find(|(word, _)| name.contains(word))
        .map_or_else(|| KINDS.to_vec(), |(_, kinds)| kinds.to_vec())
}

/// Which id each slot of a request gets: alpha's object of the slot's kind (`kind`, when
/// the slot's name allows it), except in a mixed request, where only slot `alpha_slot`
/// is alpha's and the others are the attacker's own tenant's.
struct Fill<'a> {
    alpha: &'a Objects,
    beta: &'a Objects,
    kind: Kind,
    alpha_slot: Option<usize>,
    slots: usize,
}

impl Fill<'_> {
    fn id(&mut self, name: &str) -> Value {
        let kinds = kinds_for(name);
        let kind = if kinds.contains(&self.kind) {
            self.kind
        } else {
            kinds[0]
        };
        let alpha = self.alpha_slot.is_none_or(|s| s == self.slots);
        self.slots += 1;
        json!(if alpha { self.alpha } else { self.beta }[&kind])
    }
}

/// The named type under NON_NULL and LIST.
fn named(ty: &Value) -> &Value {
    if ty["ofType"].is_null() {
        ty
    } else {
        named(&ty["ofType"])
    }
}

/// The type as a variable declares it: `[ID!]!`.
fn render(ty: &Value) -> String {
    match ty["kind"].as_str() {
        Some("NON_NULL") => format!("{}!", render(&ty["ofType"])),
        Some("LIST") => format!("[{}]", render(&ty["ofType"])),
        _ => ty["name"].as_str().unwrap().to_owned(),
    }
}

fn name(v: &Value) -> &str {
    v["name"].as_str().unwrap()
}

fn list(v: &Value) -> &[Value] {
    v.as_array().map_or(&[], Vec::as_slice)
}

struct Schema {
    types: BTreeMap<String, Value>,
}

impl Schema {
    fn of(data: &Value) -> Self {
        let types = list(&data["__schema"]["types"])
            .iter()
            .map(|t| (name(t).to_owned(), t.clone()))
            .collect();
        Self { types }
    }

    fn full(&self, ty: &Value) -> &Value {
        &self.types[name(named(ty))]
    }

    /// Whether a value of this type holds an id (itself, or in its input fields).
    fn carries_id(&self, ty: &Value, depth: usize) -> bool {
        let t = named(ty);
        match t["kind"].as_str() {
            Some("SCALAR") => name(t) == "ID",
            Some("INPUT_OBJECT") if depth < 4 => list(&self.full(t)["inputFields"])
                .iter()
                .any(|f| self.carries_id(&f["type"], depth + 1)),
            _ => false,
        }
    }

    /// The arguments (or input fields) a request gives: those holding an id, and the
    /// required ones.
    fn used<'v>(&self, args: &'v [Value], depth: usize) -> Vec<&'v Value> {
        let required = |a: &Value| a["type"]["kind"] == "NON_NULL" && a["defaultValue"].is_null();
        args.iter()
            .filter(|a| self.carries_id(&a["type"], depth) || required(a))
            .collect()
    }

    fn values(&self, args: &[Value], fill: &mut Fill<'_>, depth: usize) -> Map<String, Value> {
        self.used(args, depth)
            .into_iter()
            .map(|a| {
                (
                    name(a).to_owned(),
                    self.value(name(a), &a["type"], fill, depth),
                )
            })
            .collect()
    }

    /// A value of type `ty` for the argument or input field `name`: ids from `fill`,
    /// plausible values for the rest.
    fn value(&self, name: &str, ty: &Value, fill: &mut Fill<'_>, depth: usize) -> Value {
        match ty["kind"].as_str().unwrap() {
            "NON_NULL" => self.value(name, &ty["ofType"], fill, depth),
            "LIST" => json!([self.value(name, &ty["ofType"], fill, depth)]),
            "ENUM" => self.full(ty)["enumValues"][0]["name"].clone(),
            "INPUT_OBJECT" => {
                let fields = list(&self.full(ty)["inputFields"]);
                Value::Object(self.values(fields, fill, depth + 1))
            }
            _ => match ty["name"].as_str().unwrap() {
                "ID" => fill.id(name),
                "Int" => json!(1),
                "Float" => json!(1.0),
                "Boolean" => json!(false),
                "JSON" => json!({}),
                "DateTime" => json!("2030-01-01T00:00:00Z"),
                _ if name.to_lowercase().contains("email") => json!("someone@example.org"),
                _ => json!(TEXT),
            },
        }
    }

    /// The smallest selection that still shows whether the answer holds anything.
    fn selection(&self, ty: &Value) -> &'static str {
        let t = self.full(ty);
        let connection = list(&t["fields"]).iter().any(|f| name(f) == "edges");
        match t["kind"].as_str() {
            Some("OBJECT") if connection => " { __typename edges { __typename } }",
            Some("OBJECT" | "INTERFACE" | "UNION") => " { __typename }",
            _ => "",
        }
    }

    /// The operation for a field, and its variables: for each kind of object, every id
    /// slot alpha's; with two slots or more, also each slot alone alpha's.
    fn requests(&self, op: &str, field: &Value, alpha: &Objects, beta: &Objects) -> Request {
        let args = list(&field["args"]);
        let used = self.used(args, 0);
        let decl: Vec<String> = used
            .iter()
            .map(|a| format!("${}: {}", name(a), render(&a["type"])))
            .collect();
        let call: Vec<String> = used.iter().map(|a| format!("{0}: ${0}", name(a))).collect();
        let query = format!(
            "{op}({}) {{ {}({}){} }}",
            decl.join(", "),
            name(field),
            call.join(", "),
            self.selection(&field["type"])
        );
        let mut variables = Vec::new();
        for kind in KINDS {
            let mut fill = Fill {
                alpha,
                beta,
                kind,
                alpha_slot: None,
                slots: 0,
            };
            variables.push(Value::Object(self.values(args, &mut fill, 0)));
            let slots = fill.slots;
            for alpha_slot in (0..slots).filter(|_| slots > 1) {
                fill = Fill {
                    alpha_slot: Some(alpha_slot),
                    slots: 0,
                    ..fill
                };
                variables.push(Value::Object(self.values(args, &mut fill, 0)));
            }
        }
        let mut unique = Vec::new();
        for v in variables {
            if !unique.contains(&v) {
                unique.push(v);
            }
        }
        Request {
            field: name(field).to_owned(),
            query,
            variables: unique,
        }
    }
}

struct Request {
    field: String,
    query: String,
    variables: Vec<Value>,
}

/// Null, `[]`, or a connection without edges.
fn is_empty(value: &Value) -> bool {
    value.is_null()
        || value.as_array().is_some_and(Vec::is_empty)
        || value["edges"].as_array().is_some_and(Vec::is_empty)
}

/// What was answered (error codes, `empty`), or what gave something away.
type Verdict = Result<String, String>;

/// Whether an answer gave nothing away: the field's value must be empty, every error a
/// refusal, and no error may name any of alpha's objects (all have "alpha" in their
/// names).
fn verdict(value: &Value, errors: &Value) -> Verdict {
    if !is_empty(value) {
        return Err(format!("answered {value}, errors {errors}"));
    }
    if errors.to_string().to_lowercase().contains("alpha") {
        return Err(format!("an error names alpha's object: {errors}"));
    }
    let codes: Vec<&str> = list(errors)
        .iter()
        .map(|e| e["extensions"]["code"].as_str().unwrap_or("no code"))
        .collect();
    if codes.is_empty() {
        return Ok("empty".into());
    }
    match codes.iter().find(|c| !REFUSALS.contains(c)) {
        Some(c) => Err(format!("error {c}: {errors}")),
        None => Ok(codes.join("+")),
    }
}

/// A tenant with an administrator, a member, a group (the member in it), a personal
/// access token, an application, a finished job shared with the group, a resource
/// only the tenant may use, and a ticket about the job, each named after the tenant. Returns its objects and the
/// administrator's and member's tokens.
async fn populated(app: &TestApp, slug: &str) -> (Objects, String, String) {
    let (admin, member, tenant) = setup(app, slug).await;
    let id = |v: &Value| v["id"].as_str().unwrap().to_owned();
    let me = "{ me { id } }";
    let admin_id = id(&app.ok(&admin, me, json!({})).await["me"]);
    let member_id = id(&app.ok(&member, me, json!({})).await["me"]);
    let q = "mutation($n: String!) { createGroup(name: $n) { id } }";
    let group = id(&app
        .ok(&admin, q, json!({"n": format!("{slug} group")}))
        .await["createGroup"]);
    let q = "mutation($g: ID!, $m: ID!) { addGroupMember(groupId: $g, memberId: $m) { id } }";
    app.ok(&admin, q, json!({"g": group, "m": member_id})).await;
    let q = "mutation($n: String!) { issueToken(name: $n) { accessToken { id } } }";
    let token = app
        .ok(&admin, q, json!({"n": format!("{slug} token")}))
        .await;
    let token = id(&token["issueToken"]["accessToken"]);
    // no required input: `parameters: {}` is valid for it
    let descriptor = json!({
        "name": format!("{slug}-noop"), "tool-version": "1", "description": "Does nothing.",
        "schema-version": "0.5", "command-line": "true [NOTE]",
        "inputs": [{"id": "note", "name": "Note", "type": "String", "value-key": "[NOTE]",
                    "optional": true}]
    });
    let q = "mutation($d: JSON!) { registerApplication(descriptor: $d) { id } }";
    let application = id(&app.ok(&admin, q, json!({"d": descriptor})).await["registerApplication"]);
    let input = json!({"applicationId": application, "parameters": {}, "groupId": group});
    let job = id(&submit(app, &member, input).await);
    wait_until(app, &member, &job, 60, in_state("SUCCEEDED")).await;
    let access = Access {
        all_tenants: false,
        tenants: [tenant].into(),
        groups: Default::default(),
    };
    let kind = ResourceKind::Local { slots: 1 };
    let resource = medgrid_graphql::usecases::compute::register(
        &app.operator(),
        &format!("{slug}-only"),
        kind,
        access,
        None,
    )
    .await
    .unwrap();
    let provider = app
        .trust(
            &admin,
            &format!("https://sso.{slug}.example.org/realms/r"),
            "medgrid",
        )
        .await;
    let q = "mutation($t: String!, $j: ID!) { openTicket(input: {title: $t, jobId: $j}) { id } }";
    let ticket = app
        .ok(&member, q, json!({"t": format!("{slug} ticket"), "j": job}))
        .await;
    let ticket = id(&ticket["openTicket"]);
    let objects = BTreeMap::from([
        (Kind::Tenant, tenant.to_string()),
        (Kind::Admin, admin_id),
        (Kind::Member, member_id),
        (Kind::Group, group),
        (Kind::Token, token),
        (Kind::Job, job),
        (Kind::Application, application),
        (Kind::Resource, resource.id.to_string()),
        (Kind::Provider, provider),
        (Kind::Ticket, ticket),
    ]);
    (objects, admin, member)
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn send(ws: &mut Ws, msg: Value) {
    ws.send(Message::Text(msg.to_string().into()))
        .await
        .unwrap();
}

/// A graphql-transport-ws connection, authenticated in `connection_init`.
async fn connect(app: &TestApp, token: &str) -> Ws {
    let url = format!("{}/graphql/ws", app.url.replace("http://", "ws://"));
    let mut req = url.into_client_request().unwrap();
    let protocol = "graphql-transport-ws".parse().unwrap();
    req.headers_mut().insert("sec-websocket-protocol", protocol);
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let auth = json!({"Authorization": format!("Bearer {token}")});
    send(&mut ws, json!({"type": "connection_init", "payload": auth})).await;
    let ack = ws.next().await.unwrap().unwrap();
    assert!(ack.to_string().contains("connection_ack"), "{ack}");
    ws
}

/// Subscribes, and judges what comes within 2 s: an error, a `next` (with errors only),
/// `complete`, or nothing (`silent`).
async fn subscription(ws: &mut Ws, id: &str, req: &Request, variables: &Value) -> Verdict {
    let payload = json!({"query": req.query, "variables": variables});
    send(
        ws,
        json!({"id": id, "type": "subscribe", "payload": payload}),
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    let mut seen: Option<Verdict> = None;
    loop {
        let Ok(msg) = tokio::time::timeout_at(deadline, ws.next()).await else {
            send(ws, json!({"id": id, "type": "complete"})).await;
            break seen.unwrap_or_else(|| Ok("silent".into()));
        };
        let Message::Text(text) = msg.unwrap().unwrap() else {
            continue;
        };
        let msg: Value = serde_json::from_str(&text).unwrap();
        if msg["id"] != id {
            continue;
        }
        match msg["type"].as_str() {
            Some("error") => break verdict(&Value::Null, &msg["payload"]),
            Some("next") => {
                let p = &msg["payload"];
                let v = verdict(&p["data"][&req.field], &p["errors"]);
                if v.is_err() {
                    break v;
                }
                seen = Some(v);
            }
            _ => break seen.unwrap_or_else(|| Ok("complete".into())),
        }
    }
}

#[tokio::test]
async fn tenant_b_gets_nothing_of_tenant_a_from_any_root_field() {
    let started = Instant::now();
    let app = TestApp::spawn().await;
    let (alpha, _, _) = populated(&app, "alpha").await;
    let (beta, beta_admin, beta_member) = populated(&app, "beta").await;
    let data = app.ok(&beta_admin, INTROSPECTION, json!({})).await;
    let schema = Schema::of(&data);

    let mut covered: BTreeMap<&str, Vec<Request>> = BTreeMap::new();
    let mut skipped: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    // the same queries with beta's own ids, which must answer
    let mut controls = Vec::new();
    for op in ["query", "mutation", "subscription"] {
        let root = &data["__schema"][format!("{op}Type")];
        covered.insert(op, Vec::new());
        skipped.insert(op, Vec::new());
        if root.is_null() {
            continue;
        }
        for field in list(&schema.types[name(root)]["fields"]) {
            if list(&field["args"])
                .iter()
                .any(|a| schema.carries_id(&a["type"], 0))
            {
                let req = schema.requests(op, field, &alpha, &beta);
                covered.get_mut(op).unwrap().push(req);
                if op == "query" {
                    controls.push(schema.requests(op, field, &beta, &alpha));
                }
            } else {
                skipped.get_mut(op).unwrap().push(name(field).to_owned());
            }
        }
    }

    // From here on the attackers may cause no event. (The dispatcher may still record the
    // set-up jobs' last steps: those are not theirs, so events are counted by who caused
    // them, not in all.)
    let before: i64 = sqlx::query_scalar("SELECT coalesce(max(global_position), 0) FROM events")
        .fetch_one(app.pool())
        .await
        .unwrap();
    let attacker_ids = [
        format!("member:{}", beta[&Kind::Admin]),
        format!("member:{}", beta[&Kind::Member]),
    ];

    // (root, field, attacker, variables, outcome)
    let mut outcomes: Vec<(&str, &str, &str, &Value, Verdict)> = Vec::new();
    let attackers = [("beta admin", &beta_admin), ("beta member", &beta_member)];
    for (who, token) in attackers {
        let mut ws = connect(&app, token).await;
        for (op, reqs) in &covered {
            for req in reqs {
                for (n, variables) in req.variables.iter().enumerate() {
                    let outcome = if *op == "subscription" {
                        subscription(&mut ws, &format!("{}-{n}", req.field), req, variables).await
                    } else {
                        let body = app.gql(Some(token), &req.query, variables.clone()).await;
                        verdict(&body["data"][&req.field], &body["errors"])
                    };
                    outcomes.push((op, &req.field, who, variables, outcome));
                }
            }
        }
    }
    let caused: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE global_position > $1 AND metadata ->> 'actor' = ANY($2)",
    )
    .bind(before)
    .bind(&attacker_ids[..])
    .fetch_one(app.pool())
    .await
    .unwrap();

    // Control: with its own ids, beta's administrator gets answers from the same
    // generated queries, so the refusals above are isolation, not malformed requests.
    let mut answering = Vec::new();
    for req in &controls {
        for variables in &req.variables {
            let body = app
                .gql(Some(&beta_admin), &req.query, variables.clone())
                .await;
            if body["errors"].is_null() && !is_empty(&body["data"][&req.field]) {
                answering.push(req.field.as_str());
                break;
            }
        }
    }

    // ids shown as the objects they are
    let label = |variables: &Value| {
        let mut text = variables.to_string();
        for (side, objects) in [("alpha", &alpha), ("beta", &beta)] {
            for (kind, id) in objects {
                text = text.replace(&format!("\"{id}\""), &format!("{side}:{kind:?}"));
            }
        }
        text
    };
    let mut tally: BTreeMap<&str, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    println!("answers other than NOT_FOUND:");
    for (op, field, who, variables, outcome) in &outcomes {
        let line = format!("  {op} {field} as {who} with {}", label(variables));
        match outcome {
            Ok(code) => {
                *tally.entry(code).or_default() += 1;
                if code != "NOT_FOUND" {
                    println!("{line}: {code}");
                }
            }
            Err(leak) => {
                *tally.entry("LEAK").or_default() += 1;
                println!("{line}: LEAK {leak}");
                failures.push(format!("{line}: {leak}"));
            }
        }
    }
    for (op, reqs) in &covered {
        let requests: usize = reqs.iter().map(|r| r.variables.len()).sum();
        let fields: Vec<&str> = reqs.iter().map(|r| r.field.as_str()).collect();
        println!(
            "{op}: {} fields covered ({requests} requests per attacker): {}",
            fields.len(),
            fields.join(", ")
        );
        let skipped = if skipped[op].is_empty() {
            "none".to_owned()
        } else {
            skipped[op].join(", ")
        };
        println!("{op}: skipped (no id): {skipped}");
    }
    println!(
        "{} requests, {tally:?}, {:.1} s",
        outcomes.len(),
        started.elapsed().as_secs_f64()
    );
    println!(
        "control: {} of {} query fields answer beta's own ids: {}",
        answering.len(),
        controls.len(),
        answering.join(", ")
    );

    if answering.is_empty() {
        failures.push("no query answers even with beta's own ids".to_owned());
    }
    for op in ["query", "mutation"] {
        if covered[op].is_empty() {
            failures.push(format!("no {op} field covered: the generator is broken"));
        }
    }
    if caused != 0 {
        failures.push(format!("{caused} events written by the attempts"));
    }
    assert!(
        failures.is_empty(),
        "tenant isolation:\n{}",
        failures.join("\n")
    );
}
