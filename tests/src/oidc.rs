//! A real OpenID Connect provider for a test: `tests/node/issuer.mjs` (oauth2-mock-server)
//! on 127.0.0.1, with a control API to sign tokens, rotate and retire keys.
//!
//! Node and the packages are required (`scripts/node-deps`, which `scripts/test` runs);
//! a missing one fails the test loudly.

use std::process::Stdio;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub struct Issuer {
    /// The `iss` of its tokens, e.g. `http://127.0.0.1:40123`.
    pub url: String,
    control: String,
    http: reqwest::Client,
    child: Child,
}

fn node_modules() -> String {
    std::env::var("MEDGRID_TEST_NODE_MODULES")
        .unwrap_or_else(|_| "/var/tmp/medgrid-node/node_modules".into())
}

impl Issuer {
    pub async fn start() -> Self {
        let modules = node_modules();
        assert!(
            std::path::Path::new(&modules)
                .join("oauth2-mock-server")
                .exists(),
            "the tests' OpenID Connect provider is not installed in {modules}: run scripts/node-deps \
             (scripts/test does) or set MEDGRID_TEST_NODE_MODULES"
        );
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("node/issuer.mjs");
        let mut child = Command::new("node")
            .arg(script)
            .env("MEDGRID_TEST_NODE_MODULES", &modules)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("node is required for the OIDC tests: {e}"));
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .await
            .expect("issuer output");
        let started: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("the OIDC provider did not start ({e}): {line:?}"));
        Self {
            url: started["issuer"].as_str().unwrap().to_owned(),
            control: started["control"].as_str().unwrap().to_owned(),
            http: reqwest::Client::new(),
            child,
        }
    }

    /// Stops the provider (an outage): discovery and keys stop answering.
    pub async fn stop(&mut self) {
        let _ = self.child.kill().await;
    }

    async fn call(&self, path: &str, body: Value) -> Value {
        self.http
            .post(format!("{}{path}", self.control))
            .json(&body)
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// A token signed with the current key; `claims` are merged over iss, iat, nbf and exp
    /// (10 minutes); a null claim is left out.
    pub async fn token(&self, claims: Value) -> String {
        self.token_with(json!({ "claims": claims })).await
    }

    /// A token from a full request: `{claims, kid?, alg?: "none" | "HS256-public"}`.
    pub async fn token_with(&self, request: Value) -> String {
        self.call("/token", request).await["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A new signing key; the old one stays published until retired. Returns the new kid.
    pub async fn rotate(&self) -> String {
        self.call("/rotate", json!({})).await["kid"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn retire(&self, kid: &str) {
        self.call("/retire", json!({ "kid": kid })).await;
    }

    /// Whom the provider signs in next through the browser flow (ID token claims).
    pub async fn login_as(&self, claims: Value) {
        self.call("/login-as", json!({ "claims": claims })).await;
    }

    /// The next ID token carries this nonce instead of the one asked for.
    pub async fn next_nonce(&self, nonce: &str) {
        self.call("/next-nonce", json!({ "nonce": nonce })).await;
    }

    /// `{issuer, kid, jwksFetches}`.
    pub async fn state(&self) -> Value {
        self.http
            .get(format!("{}/state", self.control))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn jwks_fetches(&self) -> u64 {
        self.state().await["jwksFetches"].as_u64().unwrap()
    }

    /// Claims of a Keycloak user of this provider for audience `aud`.
    pub fn person(&self, sub: &str, email: &str, aud: &str) -> Value {
        json!({
            "sub": sub,
            "aud": [aud, "account"],
            "azp": aud,
            "email": email,
            "email_verified": true,
            "preferred_username": email.split('@').next().unwrap(),
            "name": format!("Person {sub}"),
            "realm_access": {"roles": ["offline_access"]},
            "groups": [],
        })
    }
}

/// A provider that only publishes documents, on 127.0.0.1: `/.well-known/openid-configuration`
/// is `document(issuer)` (to point `jwks_uri` or `token_endpoint` somewhere else), `/keys`
/// an empty key set. Returns the issuer, e.g. `http://127.0.0.1:40123`.
pub async fn documents_only(document: impl Fn(&str) -> Value) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let discovery = document(&issuer);
    let app = axum::Router::new()
        .route(
            "/.well-known/openid-configuration",
            axum::routing::get(move || async move { axum::Json(discovery) }),
        )
        .route(
            "/keys",
            axum::routing::get(|| async { axum::Json(json!({"keys": []})) }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });
    issuer
}

/// A discovery document for `issuer` with its keys at `jwks_uri` and its token endpoint at
/// `token_endpoint` (all that OpenID Connect Discovery requires).
pub fn discovery(issuer: &str, jwks_uri: &str, token_endpoint: &str) -> Value {
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": token_endpoint,
        "jwks_uri": jwks_uri,
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    })
}
