//! Test support: a fresh PostgreSQL database per test, and `TestApp`, the real Medgrid
//! (API server and processors) running in-process against it.
//!
//! PostgreSQL is required: `MEDGRID_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) must reach a server that lets us create
//! databases. A missing server fails the test loudly; nothing is skipped.

#![allow(clippy::unwrap_used)] // test support: a failed unwrap is a failed test

pub mod browser;
pub mod hostile;
pub mod oidc;
pub mod smtp;

use std::collections::BTreeSet;
use std::str::FromStr;

use medgrid::{Core, Server};
use medgrid_domain::actor::Role;
use medgrid_domain::ids::{MemberId, TenantId};
use medgrid_domain::names::{Email, TenantSlug};
use medgrid_graphql::usecases::{Scope, access, tenancy};
use medgrid_infra::config::{Config, Overrides};
use medgrid_worker::Worker;
use serde_json::{Value, json};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, PgPool};

pub fn server_url() -> String {
    std::env::var("MEDGRID_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database of its own for one test, migrated; dropped when the test ends.
pub struct TestDb {
    pub pool: PgPool,
    pub name: String,
    pub options: PgConnectOptions,
}

impl TestDb {
    pub async fn new() -> Self {
        let db = Self::empty().await;
        db.migrate().await;
        db
    }

    /// A database as a Medgrid of an earlier version left it: migrated up to, not
    /// including, migration `version` (nor what the service does after it). `migrate`
    /// brings it up to date as a start of this version would.
    pub async fn before_migration(version: i64) -> Self {
        let db = Self::empty().await;
        let older = sqlx::migrate::Migrator {
            migrations: medgrid_infra::db::MIGRATOR
                .iter()
                .filter(|m| m.version < version)
                .cloned()
                .collect::<Vec<_>>()
                .into(),
            ..sqlx::migrate::Migrator::DEFAULT
        };
        older
            .run(&db.pool)
            .await
            .expect("migrate the older version");
        db
    }

    /// What every start does: the migrations, and what follows them.
    pub async fn migrate(&self) {
        medgrid_infra::db::migrate(&self.pool)
            .await
            .expect("migrate");
    }

    async fn empty() -> Self {
        let url = server_url();
        let admin = PgConnectOptions::from_str(&url).expect("MEDGRID_TEST_DATABASE_URL");
        let mut conn = admin.connect().await.unwrap_or_else(|e| {
            panic!("PostgreSQL is required for integration tests and is not reachable at {url}: {e}. Start it (see README) or set MEDGRID_TEST_DATABASE_URL.")
        });
        let name = format!("medgrid_test_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create test database");
        let options = admin.clone().database(&name);
        // The service's pool, but waiting longer for a connection: on a 2-core CI machine
        // a test starting beside the sandbox's stress test found its 20 connections held
        // by its processors for over 10 s ("pool timed out"). Visibility, not speed, is
        // tested here.
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(20)
            .acquire_timeout(std::time::Duration::from_secs(60))
            .connect_with(options.clone())
            .await
            .expect("connect");
        Self {
            pool,
            name,
            options,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop cannot await: a short-lived runtime on its own thread removes the database.
        // The pool's connections belong to the test's runtime, blocked here: FORCE ends them.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut conn) = PgConnectOptions::from_str(&server_url())
                    .expect("url")
                    .connect()
                    .await
                {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

pub fn test_config() -> Config {
    let mut config = Config::load(
        None,
        Overrides {
            listen: Some("127.0.0.1:0".parse().unwrap()),
            data_dir: Some(std::env::temp_dir().join("medgrid-tests")),
        },
    )
    .expect("config");
    config.poll_interval_ms = 200;
    // Slow CI machines: the xmin line is cluster-wide, so one test's long transaction
    // holds back every test's processors for a moment. Visibility, not time, is tested.
    config.read_your_writes_timeout_ms = 30_000;
    config.apps_dir = apps_dir();
    config.dispatch_interval_ms = 200;
    // tests poll jobs fast; the limits have a test of their own
    config.rate_limit_member_per_minute = 0;
    config.rate_limit_tenant_per_minute = 0;
    config.rate_limit_anonymous_per_minute = 0;
    // key rotation is tested without waiting ten seconds
    config.oidc_key_refetch_ms = 300;
    // the tests' provider runs on 127.0.0.1
    config.oidc_allow_loopback = true;
    // every test service (the import sources among them) is on 127.0.0.1
    config.import_allow_private = true;
    // unused contents go quickly, so tests see them go
    config.blob_sweep_interval_ms = 200;
    // images come from the tests' registry (scripts/registry), standing for Docker Hub, and
    // are kept once for every test (a pull of the same image by digest is then quick)
    config.image_mirrors = format!("docker.io=http://{}", test_registry());
    config.image_cache_dir = Some(std::path::PathBuf::from("/var/tmp/medgrid-test-images"));
    config
}

/// The tests' OCI registry (`MEDGRID_TEST_REGISTRY`, printed by scripts/registry).
pub fn test_registry() -> String {
    std::env::var("MEDGRID_TEST_REGISTRY").unwrap_or_else(|_| "127.0.0.1:5000".into())
}

/// The shipped catalog of this checkout.
pub fn apps_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("apps")
}

/// The service's errors (an INTERNAL's cause) go to the test's captured output, shown
/// when it fails (`RUST_LOG` chooses more).
fn log_errors() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// The real Medgrid against a fresh database.
pub struct TestApp {
    pub db: TestDb,
    pub core: Core,
    pub config: Config,
    pub url: String,
    /// The metrics listener's base URL, when the config names one (`metrics_listen`).
    pub metrics_url: Option<String>,
    server: Option<Server>,
    worker: Option<Worker>,
    pub http: reqwest::Client,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(test_config()).await
    }

    pub async fn spawn_with(config: Config) -> Self {
        Self::spawn_on(TestDb::new().await, config).await
    }

    /// The real Medgrid on a database prepared beforehand (migrated).
    pub async fn spawn_on(db: TestDb, config: Config) -> Self {
        log_errors();
        let mut config = config;
        // blobs and job files of their own: one test's sweep must not touch another's
        config.data_dir = config.data_dir.join(uuid::Uuid::now_v7().to_string());
        let core = Core::new(&db.pool, &config).expect("core");
        let server = Server::start(&core, &config).await.expect("server");
        let url = format!("http://{}", server.addr);
        let metrics_url = server.metrics_addr.map(|a| format!("http://{a}"));
        // running jobs reach this server (MEDGRID_URL): its port is known only now
        config.public_url = Some(url.clone());
        let worker = core.worker(&config);
        Self {
            db,
            core,
            config,
            url,
            metrics_url,
            server: Some(server),
            worker: Some(worker),
            http: reqwest::Client::new(),
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.db.pool
    }

    /// Stops the server and processors (the database stays until drop).
    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
        if let Some(worker) = self.worker.take() {
            worker.stop().await;
        }
    }

    /// Stops this app's processors and starts them again (a worker restart); the server
    /// keeps running.
    pub async fn restart_worker(&mut self) {
        if let Some(worker) = self.worker.take() {
            worker.stop().await;
        }
        self.worker = Some(self.core.worker(&self.config));
    }

    /// The console operator's use-case scope.
    pub fn operator(&self) -> Scope<'_> {
        Scope::operator(&self.core.services)
    }

    /// Creates a tenant from the console and returns its id.
    pub async fn tenant(&self, slug: &str) -> TenantId {
        let row = tenancy::create(&self.operator(), slug, slug)
            .await
            .unwrap_or_else(|e| panic!("create tenant {slug}: {e:?}"));
        TenantId::from_uuid(row.id)
    }

    /// Creates a member from the console and returns their id and a bearer token.
    pub async fn member(&self, tenant: &str, email: &str, roles: &[Role]) -> (MemberId, String) {
        let slug: TenantSlug = tenant.parse().unwrap();
        let tenant_id = TenantId::for_slug(&slug);
        let new = access::NewMember {
            tenant_id,
            email,
            name: email,
            password: Some("a long test password"),
            roles: roles.iter().copied().collect::<BTreeSet<_>>(),
        };
        access::create(&self.operator(), new)
            .await
            .unwrap_or_else(|e| panic!("create member {email}: {e:?}"));
        let id = MemberId::for_email(tenant_id, &email.parse::<Email>().unwrap());
        let (token, _) = access::issue_token(&self.operator(), id, "test", None)
            .await
            .unwrap_or_else(|e| panic!("issue token: {e:?}"));
        (id, token)
    }

    /// Trusts `issuer` for audience `audience` in the tenant of admin token `admin`;
    /// returns the provider's id.
    pub async fn trust(&self, admin: &str, issuer: &str, audience: &str) -> String {
        let data = self
            .ok(
                admin,
                "mutation($i: IdentityProviderInput!) { addIdentityProvider(input: $i) { id } }",
                json!({"i": {"name": "Institution", "issuer": issuer, "audience": audience}}),
            )
            .await;
        data["addIdentityProvider"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// POSTs a GraphQL request; returns the whole response body.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut req = self
            .http
            .post(format!("{}/graphql", self.url))
            .json(&json!({"query": query, "variables": variables}));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req.send().await.unwrap().json().await.unwrap()
    }

    /// A request that must succeed; returns `data`.
    pub async fn ok(&self, token: &str, query: &str, variables: Value) -> Value {
        let body = self.gql(Some(token), query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }

    /// A request that must fail; returns the first error's code.
    pub async fn code(&self, token: Option<&str>, query: &str, variables: Value) -> String {
        let body = self.gql(token, query, variables).await;
        error_code(&body).unwrap_or_else(|| panic!("expected an error: {body}"))
    }

    /// GETs a path of the server.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap()
    }

    /// Uploads `bytes` as `name` into folder `parent`; returns the status and JSON body.
    pub async fn upload(
        &self,
        token: &str,
        parent: &str,
        name: &str,
        bytes: Vec<u8>,
    ) -> (reqwest::StatusCode, Value) {
        let response = self
            .http
            .post(format!("{}/files/upload", self.url))
            .query(&[("parent", parent), ("name", name)])
            .bearer_auth(token)
            .body(bytes)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Downloads a node's content (with an optional Range header).
    pub async fn download(
        &self,
        token: &str,
        node: &str,
        range: Option<&str>,
    ) -> reqwest::Response {
        let mut req = self
            .http
            .get(format!("{}/files/nodes/{node}", self.url))
            .bearer_auth(token);
        if let Some(range) = range {
            req = req.header("range", range);
        }
        req.send().await.unwrap()
    }

    /// How many contents the blob store keeps (per its bookkeeping and on disk).
    pub async fn blob_count(&self) -> (i64, usize) {
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM blobs")
            .fetch_one(self.pool())
            .await
            .unwrap();
        let dir = self.config.blobs_dir();
        let mut files = 0;
        let mut stack = vec![dir.clone()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    files += 1;
                }
            }
        }
        (rows, files)
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Returns once every read model has applied every event written so far (events
    /// written around the service, or before it started).
    pub async fn settle(&self) {
        medgrid_infra::store::ReadYourWrites::new(
            self.pool().clone(),
            &medgrid_projections::all(),
            std::time::Duration::from_secs(30),
            self.core.services.progress.clone(),
        )
        .settle()
        .await
        .unwrap();
    }

    /// Number of rows in `events` (to show a refused command wrote nothing).
    pub async fn event_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(self.pool())
            .await
            .unwrap()
    }
}

/// The `extensions.code` of the first error of a response.
pub fn error_code(body: &Value) -> Option<String> {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .map(str::to_owned)
}

/// A stable fingerprint of a table's contents (for "rebuild equals live").
pub async fn table_fingerprint(pool: &PgPool, table: &str) -> (i64, String) {
    sqlx::query_as(&format!(
        "SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM {table} t"
    ))
    .fetch_one(pool)
    .await
    .unwrap()
}
