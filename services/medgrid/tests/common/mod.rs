//! Helpers of the binary's tests: run `medgrid` as a user would.

#![allow(clippy::unwrap_used, dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

pub const BIN: &str = env!("CARGO_BIN_EXE_medgrid");

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `medgrid` with none of the configuration this process's environment may carry.
fn unconfigured() -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_remove("DATABASE_URL")
        .env_remove("MEDGRID_CONFIG")
        .env_remove("MEDGRID_DATA_DIR");
    cmd
}

pub fn medgrid(data_dir: &Path) -> Command {
    let mut cmd = unconfigured();
    cmd.env("MEDGRID_DATA_DIR", data_dir);
    cmd
}

/// `medgrid` as typed in a checkout: no data dir given, so it is `./medgrid-data` under `cwd`.
pub fn medgrid_in(cwd: &Path) -> Command {
    let mut cmd = unconfigured();
    cmd.current_dir(cwd);
    cmd
}

pub fn temp_dir(tag: &str) -> std::path::PathBuf {
    // Short: a socket path may not exceed 107 bytes.
    let dir = std::env::temp_dir().join(format!("mg-{tag}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub async fn wait_ready(base: &str, child: &mut Child) -> Value {
    let http = reqwest::Client::new();
    for _ in 0..600 {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("medgrid serve exited early with {status}");
        }
        if let Ok(resp) = http.get(format!("{base}/readyz")).send().await {
            let body: Value = resp.json().await.unwrap();
            if body["ready"] == true {
                return body;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("medgrid serve did not become ready within 60 s");
}

pub fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    for _ in 0..300 {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    panic!("medgrid serve did not stop within 30 s of SIGTERM");
}

/// POSTs a GraphQL request, with a bearer token if given; returns the body.
pub async fn gql(base: &str, token: Option<&str>, query: &str, variables: Value) -> Value {
    let mut request = reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .json(&json!({"query": query, "variables": variables}));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().json().await.unwrap()
}

/// Starts `medgrid serve` on `port` (quietly) and waits until it is ready.
pub async fn start_serve(mut cmd: Command, port: u16) -> Child {
    let mut child = cmd
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_ready(&format!("http://127.0.0.1:{port}"), &mut child).await;
    child
}

/// A fresh database on the test server (MEDGRID_TEST_DATABASE_URL); returns its URL and a
/// function that drops it.
pub fn external_database(tag: &str) -> (String, impl FnOnce()) {
    let server = std::env::var("MEDGRID_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("medgrid_{tag}_{}", uuid::Uuid::new_v4().simple());
    let psql = move |sql: String| {
        let out = Command::new("psql")
            .args([server.as_str(), "-c", &sql])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "psql: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    psql(format!("CREATE DATABASE {name}"));
    let url = std::env::var("MEDGRID_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let url = match url.rsplit_once('/') {
        Some((head, _)) => format!("{head}/{name}"),
        None => panic!("MEDGRID_TEST_DATABASE_URL has no database"),
    };
    (url, move || {
        psql(format!("DROP DATABASE {name} WITH (FORCE)"))
    })
}

/// A bearer token for `member` of `tenant`, from `medgrid admin issue-token`.
pub fn issue_token(data_dir: &Path, url: &str, tenant: &str, member: &str) -> String {
    let mut cmd = medgrid(data_dir);
    cmd.env("DATABASE_URL", url);
    issue_token_with(cmd, tenant, member)
}

/// A bearer token from `medgrid admin issue-token` run as `cmd` (the last line of stdout).
pub fn issue_token_with(mut cmd: Command, tenant: &str, member: &str) -> String {
    let out = cmd
        .args([
            "admin",
            "issue-token",
            "--tenant",
            tenant,
            "--member",
            member,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_owned()
}

/// The shipped catalog of this checkout.
pub fn apps_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../apps")
}

/// A child process killed when the test ends, also when it fails half-way (a failed
/// assertion must not leave a server holding database connections).
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Registers an application that runs its `script` parameter with `sh -c` (as the demo
/// tenant's admin whose `token` is given); returns its id.
pub async fn register_shell(base: &str, token: &str) -> String {
    let descriptor = json!({
        "name": "shell", "tool-version": "1", "description": "Runs a shell snippet.",
        "schema-version": "0.5", "command-line": "sh -c [SCRIPT]",
        "inputs": [{"id": "script", "name": "Script", "type": "String", "value-key": "[SCRIPT]"}]
    });
    let registered = gql(
        base,
        Some(token),
        "mutation($d: JSON!) { registerApplication(descriptor: $d) { id } }",
        json!({"d": descriptor}),
    )
    .await;
    registered["data"]["registerApplication"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}
