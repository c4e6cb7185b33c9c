//! `medgrid serve` as a user runs it: the real binary, an embedded PostgreSQL cluster from
//! the system's binaries, `medgrid admin issue-token` beside it, and a clean stop on
//! SIGTERM. Also `medgrid serve` against an external database (DATABASE_URL), and as root
//! from a checkout under a private (0700) home directory, as containers and cloud machines run it.

#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{
    KillOnDrop, apps_dir, free_port, gql, issue_token_with, medgrid, medgrid_in, start_serve,
    temp_dir, terminate,
};

use serde_json::{Value, json};

async fn me(base: &str, token: &str) -> Value {
    gql(
        base,
        Some(token),
        "{ me { email roles tenant { slug } } }",
        json!({}),
    )
    .await
}

#[tokio::test]
async fn serve_with_embedded_postgres_then_stop_cleanly() {
    let dir = temp_dir("serve");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut serve = KillOnDrop(start_serve(medgrid(&dir), port).await);
    assert!(
        dir.join("postgres/PG_VERSION").is_file(),
        "the cluster lives in the data dir"
    );
    assert!(dir.join("demo-admin-password").is_file());

    // issue-token works while serve runs on the same data dir; the token is the last line
    let out = medgrid(&dir)
        .args([
            "admin",
            "issue-token",
            "--tenant",
            "demo",
            "--member",
            "admin@demo.local",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let token = stdout.lines().last().unwrap().trim().to_owned();
    let body = me(&base, &token).await;
    assert_eq!(body["data"]["me"]["email"], "admin@demo.local", "{body}");
    assert_eq!(body["data"]["me"]["tenant"]["slug"], "demo");
    let resources = gql(
        &base,
        Some(&token),
        "{ resources { name kind slots } }",
        json!({}),
    )
    .await;
    assert_eq!(
        resources["data"]["resources"][0]["name"], "local",
        "{resources}"
    );
    assert_eq!(resources["data"]["resources"][0]["kind"], "LOCAL");
    assert_eq!(
        body["data"]["me"]["roles"],
        json!(["TENANT_ADMIN", "PLATFORM_ADMIN"])
    );

    // the demo password logs in
    let password = std::fs::read_to_string(dir.join("demo-admin-password")).unwrap();
    let login = gql(
        &base,
        None,
        "mutation($p: String!) { login(tenant: \"demo\", email: \"admin@demo.local\", password: $p) { token } }",
        json!({"p": password.trim()}),
    )
    .await;
    assert!(login["data"]["login"]["token"].is_string(), "{login}");

    let status = terminate(&mut serve.0);
    assert!(status.success(), "serve exited with {status}");
    assert!(
        !dir.join("postgres/postmaster.pid").exists(),
        "PostgreSQL was not stopped"
    );

    // a second start reuses the cluster and keeps the data
    let mut again = KillOnDrop(start_serve(medgrid(&dir), port).await);
    assert_eq!(
        me(&base, &token).await["data"]["me"]["email"],
        "admin@demo.local"
    );
    assert!(terminate(&mut again.0).success());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Owner, group and mode of every directory above `dir`, up to `/` (an ACL granting more
/// would show in the group bits, its mask).
fn above(dir: &Path) -> Vec<(PathBuf, u32, u32, u32)> {
    dir.ancestors()
        .skip(1)
        .map(|d| {
            let m = std::fs::metadata(d).unwrap();
            (d.to_owned(), m.uid(), m.gid(), m.mode())
        })
        .collect()
}

#[tokio::test]
async fn serve_from_a_checkout_under_a_private_home() {
    // <tmp>/home is 0700 like /root: when the tests run as root (as CI does), the postgres
    // user the cluster runs as cannot enter it, nor anything below it.
    let tmp = temp_dir("home");
    let home = tmp.join("home");
    let checkout = home.join("checkout");
    std::fs::create_dir_all(&checkout).unwrap();
    // the shipped catalog, as in a real checkout: its jobs run from there
    let copied = Command::new("cp")
        .arg("-r")
        .arg(apps_dir())
        .arg(checkout.join("apps"))
        .status()
        .unwrap();
    assert!(copied.success());
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
    let data = checkout.join("medgrid-data");
    let before = above(&data);
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");

    // no --data-dir, no MEDGRID_DATA_DIR: the default ./medgrid-data of the checkout
    // as scripts/serve runs it: the shipped images from the local registry
    let mut first = medgrid_in(&checkout);
    first.env("MEDGRID_IMAGE_MIRRORS", local_images());
    let mut serve = KillOnDrop(start_serve(first, port).await);
    assert!(data.join("postgres/PG_VERSION").is_file());
    // issue-token from the same checkout, while serve runs
    let token = issue_token_with(medgrid_in(&checkout), "demo", "admin@demo.local");
    assert_eq!(
        me(&base, &token).await["data"]["me"]["email"],
        "admin@demo.local"
    );
    // a shipped application runs in its sandbox, whose uid cannot enter the home either
    let job = run_shipped(&base, &token).await;
    assert_eq!(job["state"], "SUCCEEDED", "{job:#}");
    let status = terminate(&mut serve.0);

    assert!(status.success(), "serve exited with {status}");
    assert!(
        !data.join("postgres/postmaster.pid").exists(),
        "PostgreSQL was not stopped"
    );

    // a second start reuses the cluster and keeps the data
    let mut again = KillOnDrop(start_serve(medgrid_in(&checkout), port).await);
    assert_eq!(
        me(&base, &token).await["data"]["me"]["email"],
        "admin@demo.local"
    );
    assert!(terminate(&mut again.0).success());
    assert!(!data.join("postgres/postmaster.pid").exists());

    let home_mode = std::fs::metadata(&home).unwrap().mode() & 0o7777;
    assert_eq!(home_mode, 0o700, "the home directory was opened up");
    assert_eq!(
        above(&data),
        before,
        "a directory above the data dir changed"
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

#[tokio::test]
async fn serve_against_an_external_database() {
    let server = std::env::var("MEDGRID_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("medgrid_serve_{}", uuid::Uuid::new_v4().simple());
    let psql = |sql: String| {
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
    let url = match server.rsplit_once('/') {
        Some((head, _)) => format!("{head}/{name}"),
        None => panic!("MEDGRID_TEST_DATABASE_URL has no database"),
    };
    let dir = temp_dir("ext");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut with_url = medgrid(&dir);
    with_url.env("DATABASE_URL", &url);
    let mut serve = KillOnDrop(start_serve(with_url, port).await);
    assert!(
        !dir.join("postgres").exists(),
        "no embedded cluster with DATABASE_URL"
    );
    let out = medgrid(&dir)
        .env("DATABASE_URL", &url)
        .args([
            "admin",
            "issue-token",
            "--tenant",
            "demo",
            "--member",
            "admin@demo.local",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_owned();
    assert_eq!(
        me(&base, &token).await["data"]["me"]["email"],
        "admin@demo.local"
    );

    // a tenant with its first administrator, password from stdin
    let mut create = medgrid(&dir)
        .env("DATABASE_URL", &url)
        .args([
            "admin",
            "create-tenant",
            "--tenant",
            "chu-lyon",
            "--name",
            "CHU de Lyon",
        ])
        .args(["--member", "boss@chu-lyon.fr", "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = create.stdin.take().unwrap();
        writeln!(stdin, "a strong first password").unwrap();
    }
    let out = create.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let login = gql(
        &base,
        None,
        "mutation { login(tenant: \"chu-lyon\", email: \"boss@chu-lyon.fr\", password: \"a strong first password\") { token member { roles } } }",
        json!({}),
    )
    .await;
    assert_eq!(
        login["data"]["login"]["member"]["roles"],
        json!(["TENANT_ADMIN"]),
        "{login}"
    );
    let boss = login["data"]["login"]["token"].as_str().unwrap();
    assert_eq!(
        me(&base, boss).await["data"]["me"]["tenant"]["slug"],
        "chu-lyon"
    );
    // the same slug again is refused with its code
    let out = medgrid(&dir)
        .env("DATABASE_URL", &url)
        .args(["admin", "create-tenant", "--tenant", "chu-lyon"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("CONFLICT"));

    assert!(terminate(&mut serve.0).success());
    psql(format!("DROP DATABASE {name} WITH (FORCE)"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn admin_errors_are_clear() {
    let dir = temp_dir("cli");
    let out = medgrid(&dir)
        .args(["rebuild", "nonsense"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown read model"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The mirror scripts/serve gives Medgrid: the local registry of scripts/registry.
fn local_images() -> String {
    let registry =
        std::env::var("MEDGRID_TEST_REGISTRY").unwrap_or_else(|_| "127.0.0.1:5000".into());
    format!("docker.io=http://{registry}")
}

/// Runs mri-sim of the demo catalog as `token`'s member and returns the job once it ended.
async fn run_shipped(base: &str, token: &str) -> Value {
    let apps = gql(base, Some(token), "{ applications { id name } }", json!({})).await;
    let mri = apps["data"]["applications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "mri-sim")
        .unwrap_or_else(|| panic!("no mri-sim: {apps}"))["id"]
        .clone();
    let submitted = gql(
        base,
        Some(token),
        "mutation($i: SubmitJobInput!) { submitJob(input: $i) { id } }",
        json!({"i": {"applicationId": mri, "parameters": {"size": 32}}}),
    )
    .await;
    let id = submitted["data"]["submitJob"]["id"].clone();
    for _ in 0..600 {
        let job = gql(
            base,
            Some(token),
            "query($id: ID!) { job(id: $id) { state reason attempts { stderr { text } } } }",
            json!({"id": id}),
        )
        .await;
        let job = &job["data"]["job"];
        if ["SUCCEEDED", "FAILED", "CANCELLED"].contains(&job["state"].as_str().unwrap_or("")) {
            return job.clone();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("job {id} did not end in 2 minutes");
}
