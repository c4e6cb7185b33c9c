//! The attack suite of the job sandbox, with the settings `medgrid serve` uses by default: a
//! tenant admin's descriptor and a member's parameters try to read what is Medgrid's, write
//! outside their directory, fool the supervisor, smuggle files out through symlinks, exhaust
//! the host and reach the network — on the local resource and on Slurm. Each attempt is
//! refused or contained, sees nothing of the service, and its timeline says what happened.

use std::collections::BTreeSet;

use medgrid_domain::actor::Role;
use medgrid_tests::TestApp;
use serde_json::{Value, json};

use crate::jobs::{register_app, setup, submit, wait_until};

/// An application that runs the member's script, with two optional outputs and the
/// suggested resources given.
pub(crate) async fn probe_app(app: &TestApp, admin: &str, name: &str, resources: Value) -> String {
    let descriptor = json!({
        "name": name, "tool-version": "1", "description": "Runs a probe.",
        "schema-version": "0.5", "command-line": "sh -c [SCRIPT]",
        "inputs": [{"id": "script", "name": "Script", "type": "String", "value-key": "[SCRIPT]"}],
        "output-files": [
            {"id": "report", "name": "Report", "path-template": "report.txt", "optional": true},
            {"id": "leak", "name": "Leak", "path-template": "leak.txt", "optional": true}
        ],
        "suggested-resources": resources
    });
    register_app(app, admin, descriptor).await
}

/// A test app with a member, the probe application (asking for `resources`) and, for
/// `Some("hpc")`, the Slurm resource.
struct Probing {
    app: TestApp,
    member: String,
    probe: String,
}

async fn probing(resource: Option<&str>, resources: Value) -> Probing {
    let app = TestApp::spawn().await;
    let (admin, member, _) = setup(&app, "uni").await;
    if resource.is_some() {
        hpc(&app).await;
    }
    let probe = probe_app(&app, &admin, "probe", resources).await;
    Probing { app, member, probe }
}

/// Runs `script` with `application` on `resource` (None: local) until it ends.
pub(crate) async fn run(
    app: &TestApp,
    member: &str,
    application: &str,
    script: &str,
    resource: Option<&str>,
) -> Value {
    let mut input = json!({"applicationId": application, "parameters": {"script": script}});
    if let Some(resource) = resource {
        input["resourceIds"] = json!([resource]);
    }
    let j = submit(app, member, input).await;
    let id = j["id"].as_str().unwrap().to_owned();
    wait_until(app, member, &id, 180, |j| {
        ["SUCCEEDED", "FAILED", "CANCELLED"].contains(&j["state"].as_str().unwrap())
    })
    .await
}

async fn output(app: &TestApp, member: &str, job: &Value, path: &str) -> reqwest::Response {
    let id = job["id"].as_str().unwrap();
    app.http()
        .get(format!("{}/files/jobs/{id}/outputs/{path}", app.url))
        .bearer_auth(member)
        .send()
        .await
        .unwrap()
}

/// The `key=value` lines of a report.
fn field<'a>(report: &'a str, key: &str) -> &'a str {
    report
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key} in {report}"))
}

/// The reason of the job's last attempt-ended timeline entry.
pub(crate) fn ended_reason(job: &Value) -> String {
    job["attempts"][0]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Registers partition `debug` of the local Slurm cluster as resource `hpc`.
async fn hpc(app: &TestApp) {
    let ok = std::process::Command::new("sinfo")
        .arg("-h")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "Slurm is required: run scripts/slurm (scripts/test does)"
    );
    let (_, root) = app
        .member("uni", "root@uni.org", &[Role::PlatformAdmin])
        .await;
    let resource = json!({"name": "hpc", "kind": "SLURM", "partition": "debug", "maxNodes": 1,
                          "coresPerNode": 1, "walltimeLimitSeconds": 3600, "allTenants": true});
    app.ok(&root, crate::compute::REGISTER, json!({"i": resource}))
        .await;
}

/// A job reads what it can of Medgrid's: by absolute and relative path, the data dir, the
/// blob store, the database (TCP), process 1's environment, other processes, the network.
async fn sees_nothing_of_the_service(resource: Option<&str>) {
    let Probing { app, member, probe } = probing(resource, json!({})).await;
    let data = std::path::absolute(&app.config.data_dir).unwrap();
    let secret = format!("secret-{}", uuid::Uuid::new_v4());
    std::fs::create_dir_all(data.join("blobs")).unwrap();
    std::fs::write(data.join("canary"), &secret).unwrap();
    std::fs::write(data.join("blobs").join("canary"), &secret).unwrap();
    let data = data.display();
    let script = format!(
        r#"{{
echo "id=$(id -u):$(id -g)"
echo "absolute=$(cat {data}/canary {data}/blobs/canary 2>&1)"
echo "relative=$(for up in .. ../.. ../../.. ../../../.. ../../../../..; do cat $up/canary; done 2>&1)"
echo "listing=$(ls {data} {data}/blobs {data}/jobs 2>&1)"
echo "env=$(env | cut -d= -f1 | sort | tr '\n' ' ')"
echo "pid1=$(tr '\0' ' ' < /proc/1/environ)"
echo "processes=$(ls /proc | grep -c '^[0-9]')"
echo "cmdlines=$(cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\0' ' ')"
echo "postgres=$(python3 -c 'import socket; socket.create_connection(("127.0.0.1", 5432), 2)' 2>&1 | tail -1)"
echo "outside=$(python3 -c 'import socket; socket.create_connection(("192.0.2.1", 80), 2)' 2>&1 | tail -1)"
echo "writes=$(for f in /usr/x /etc/x /opt/medgrid/apps/x /medgrid/job.sh /x; do touch $f 2>/dev/null && echo $f; done)"
echo "root=$(ls / | tr '\n' ' ')"
}} > report.txt"#
    );
    let job = run(&app, &member, &probe, &script, resource).await;
    assert_eq!(job["state"], "SUCCEEDED", "{job:#}");
    let report = output(&app, &member, &job, "report.txt")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !report.contains(&secret),
        "a secret of the data dir leaked: {report}"
    );
    assert_eq!(field(&report, "id"), "1000:1000", "{report}");
    assert!(
        field(&report, "absolute").contains("No such file"),
        "{report}"
    );
    assert!(!field(&report, "listing").contains("canary"), "{report}");
    let env: BTreeSet<&str> = field(&report, "env").split_whitespace().collect();
    let allowed: BTreeSet<&str> = [
        "HOME",
        "MEDGRID_ATTEMPT",
        "MEDGRID_JOB_ID",
        "MEDGRID_JOB_TOKEN",
        "MEDGRID_NODES",
        "MEDGRID_TASKS",
        "MEDGRID_URL",
        "PATH",
        "PWD", // the shell's own
        "TMPDIR",
    ]
    .into();
    assert_eq!(env, allowed, "{report}");
    assert!(
        field(&report, "pid1").trim().starts_with("PATH=")
            && !field(&report, "pid1").contains("MEDGRID"),
        "{report}"
    );
    let processes: u32 = field(&report, "processes").parse().unwrap();
    assert!(processes < 8, "the job sees other processes: {report}");
    let cmdlines = field(&report, "cmdlines");
    // the job's own processes only (and its bubblewrap's, whose paths are the sandbox's)
    assert!(
        ["postgres", "socat", "launch.sh", "setsid", "integration-"]
            .iter()
            .all(|p| !cmdlines.contains(p)),
        "{report}"
    );
    assert!(
        field(&report, "postgres").contains("Connection refused"),
        "{report}"
    );
    assert!(
        field(&report, "outside").contains("unreachable"),
        "{report}"
    );
    assert_eq!(field(&report, "writes"), "", "{report}");
    let root: BTreeSet<&str> = field(&report, "root").split_whitespace().collect();
    assert!(
        !root.contains("root")
            && !root.contains("home")
            && !root.contains("var")
            && !root.contains("sandbox"),
        "{report}"
    );
}

#[tokio::test]
async fn a_local_job_sees_nothing_of_the_service() {
    sees_nothing_of_the_service(None).await;
}

#[tokio::test]
async fn a_slurm_job_sees_nothing_of_the_service() {
    sees_nothing_of_the_service(Some("hpc")).await;
}

/// On the host, the job's processes run as a uid of their own: not root, not Medgrid's.
#[tokio::test]
async fn a_job_runs_as_a_uid_of_its_own() {
    let app = TestApp::spawn().await;
    let (admin, member, _) = setup(&app, "uni").await;
    let probe = probe_app(&app, &admin, "probe", json!({})).await;
    let seconds = format!("302.{}", std::process::id());
    let j = submit(
        &app,
        &member,
        json!({"applicationId": probe, "parameters": {"script": format!("sleep {seconds}")}}),
    )
    .await;
    let id = j["id"].as_str().unwrap();
    wait_until(&app, &member, id, 60, crate::jobs::in_state("RUNNING")).await;
    let pid = crate::jobs::wait_for_process(&["sleep", &seconds]).await;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uids: Vec<u32> = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .unwrap()
        .split_whitespace()
        .map(|u| u.parse().unwrap())
        .collect();
    let own = medgrid_infra::sandbox::own_uid();
    assert!(
        uids.iter().all(|u| *u >= 2_000_000_000 && *u != own),
        "{status}"
    );
    crate::jobs::cancel_and_wait(&app, &member, id).await;
}

/// What the job leaves where Medgrid looks — forged end markers, symlinks to secrets,
/// a FIFO — changes nothing: the end is the supervisor's, outputs are regular files.
async fn markers_and_symlinks_fool_nothing(resource: Option<&str>) {
    let Probing { app, member, probe } = probing(resource, json!({})).await;
    let data = std::path::absolute(&app.config.data_dir).unwrap();
    let secret = format!("secret-{}", uuid::Uuid::new_v4());
    std::fs::write(data.join("canary"), &secret).unwrap();
    let forged = "mkdir -p .medgrid; echo 0 > .medgrid/exit; printf 'exit=0\\n' > status; \
                  printf 'exit=0\\n' > ../status 2>/dev/null; exit 3";
    let job = run(&app, &member, &probe, forged, resource).await;
    assert_eq!(job["state"], "FAILED", "{job:#}");
    assert_eq!(job["attempts"][0]["exitCode"], 3, "{job:#}");

    let smuggle = format!(
        "ln -s {}/canary leak.txt; mkdir d; ln -s / d/root; mkfifo report.txt",
        data.display()
    );
    let job = run(&app, &member, &probe, &smuggle, resource).await;
    assert_eq!(job["state"], "SUCCEEDED", "{job:#}");
    assert_eq!(job["outputs"], json!([]), "{job:#}");
    assert_eq!(output(&app, &member, &job, "leak.txt").await.status(), 404);
    let outputs = app
        .core
        .area
        .outputs_dir(job["id"].as_str().unwrap().parse().unwrap());
    assert!(!outputs.join("leak.txt").exists());
}

#[tokio::test]
async fn markers_and_symlinks_fool_nothing_locally() {
    markers_and_symlinks_fool_nothing(None).await;
}

#[tokio::test]
async fn markers_and_symlinks_fool_nothing_on_slurm() {
    markers_and_symlinks_fool_nothing(Some("hpc")).await;
}

/// A fork bomb stops at the process limit; the timeline says PROCESS_LIMIT, and nothing of
/// it is left on the host.
async fn a_fork_bomb_is_contained(resource: Option<&str>) {
    let Probing { app, member, probe } = probing(resource, json!({})).await;
    let marker = format!("bomb{}", uuid::Uuid::new_v4().simple());
    let script = format!("{marker}() {{ {marker} | {marker} & }}; {marker}; sleep 120");
    let job = run(&app, &member, &probe, &script, resource).await;
    assert_eq!(job["state"], "FAILED", "{job:#}");
    let reason = ended_reason(&job);
    assert!(reason.contains("PROCESS_LIMIT"), "{job:#}");
    let timeline = job["timeline"].to_string();
    assert!(timeline.contains("PROCESS_LIMIT"), "{timeline}");
}

#[tokio::test]
async fn a_fork_bomb_is_contained_locally() {
    a_fork_bomb_is_contained(None).await;
}

#[tokio::test]
async fn a_fork_bomb_is_contained_on_slurm() {
    a_fork_bomb_is_contained(Some("hpc")).await;
}

/// Writing past the disk space the application asked for stops the attempt (DISK_LIMIT),
/// with at most about a second's writing beyond the limit on the host.
async fn filling_the_disk_is_stopped(resource: Option<&str>) {
    // 0.01 GB: 11 MiB
    let Probing { app, member, probe } = probing(resource, json!({"disk-space": 0.01})).await;
    let one_file = "dd if=/dev/zero of=big bs=1M count=200 2>&1; sleep 30";
    let many_files = "i=0; while :; do i=$((i + 1)); head -c 1048576 /dev/zero > f$i; done";
    for script in [one_file, many_files] {
        let job = run(&app, &member, &probe, script, resource).await;
        assert_eq!(job["state"], "FAILED", "{job:#}");
        assert!(ended_reason(&job).contains("DISK_LIMIT"), "{job:#}");
        let id: medgrid_domain::ids::JobId = job["id"].as_str().unwrap().parse().unwrap();
        let work = app.core.area.work_dir(id, 1);
        let bytes: u64 = walk(&work).iter().sum();
        assert!(
            bytes < 1 << 30,
            "{bytes} bytes written past an 11 MiB limit"
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<u64> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn filling_the_disk_is_stopped_locally() {
    filling_the_disk_is_stopped(None).await;
}

#[tokio::test]
async fn filling_the_disk_is_stopped_on_slurm() {
    filling_the_disk_is_stopped(Some("hpc")).await;
}

/// Memory beyond what the application asked for ends the attempt with MEMORY_LIMIT.
#[tokio::test]
async fn memory_beyond_the_limit_is_stopped() {
    let app = TestApp::spawn().await;
    let (admin, member, _) = setup(&app, "uni").await;
    // 0.125 GB: 128 MiB
    let probe = probe_app(&app, &admin, "probe", json!({"ram": 0.125})).await;
    // every byte written: the pages are really used
    let script = "python3 -c 'b = b\"x\" * (600 * 2**20); print(len(b))'; sleep 30";
    let job = run(&app, &member, &probe, script, None).await;
    assert_eq!(job["state"], "FAILED", "{job:#}");
    assert!(ended_reason(&job).contains("MEMORY_LIMIT"), "{job:#}");
}

/// The walltime is the supervisor's too: WALLTIME in the timeline.
#[tokio::test]
async fn the_walltime_is_said_in_the_timeline() {
    let app = TestApp::spawn().await;
    let (admin, member, _) = setup(&app, "uni").await;
    let probe = probe_app(&app, &admin, "probe", json!({})).await;
    let j = submit(
        &app,
        &member,
        json!({"applicationId": probe, "parameters": {"script": "sleep 120"}, "walltimeSeconds": 2}),
    )
    .await;
    let id = j["id"].as_str().unwrap();
    let job = wait_until(&app, &member, id, 60, |j| j["state"] == "FAILED").await;
    assert!(ended_reason(&job).contains("WALLTIME"), "{job:#}");
}

/// Spins `threads` threads until dropped: a busy machine.
struct Busy {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Busy {
    fn start(threads: usize) -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let threads = (0..threads)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut x = 0u64;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
                    }
                })
            })
            .collect();
        Self { stop, threads }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Hundreds of tiny jobs on a wide local resource while the machine is busy: every one
/// succeeds with its output, and its command ran exactly once (a second run of an attempt
/// would append a second line).
#[tokio::test]
async fn tiny_jobs_under_load_run_exactly_once() {
    const JOBS: usize = 200;
    let app = TestApp::spawn().await;
    let (admin, member, _) = setup(&app, "uni").await;
    let (_, root) = app
        .member("uni", "root@uni.org", &[Role::PlatformAdmin])
        .await;
    let wide = json!({"name": "wide", "kind": "LOCAL", "slots": 16, "allTenants": true});
    app.ok(&root, crate::compute::REGISTER, json!({"i": wide}))
        .await;
    let probe = probe_app(&app, &admin, "probe", json!({})).await;
    let _busy = Busy::start(2);
    let mut ids = Vec::new();
    for _ in 0..JOBS {
        let j = submit(
            &app,
            &member,
            json!({"applicationId": probe, "resourceIds": ["wide"],
                   "parameters": {"script": "echo \"$MEDGRID_JOB_ID $MEDGRID_ATTEMPT\" >> report.txt"}}),
        )
        .await;
        ids.push(j["id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        let job = wait_until(&app, &member, id, 600, |j| {
            ["SUCCEEDED", "FAILED", "CANCELLED"].contains(&j["state"].as_str().unwrap())
        })
        .await;
        assert_eq!(job["state"], "SUCCEEDED", "{job:#}");
        assert_eq!(job["attempts"].as_array().unwrap().len(), 1, "{job:#}");
        let report = output(&app, &member, &job, "report.txt")
            .await
            .text()
            .await
            .unwrap();
        assert_eq!(report, format!("{id} 1\n"), "{job:#}");
    }
}

/// A value never becomes shell syntax, whatever quoting surrounds its value-key: the
/// member's `$(…)` is written as it is, in double quotes, single quotes and unquoted.
#[tokio::test]
async fn a_quoted_value_key_keeps_the_value_a_value() {
    let app = TestApp::spawn().await;
    let (admin, member, _) = setup(&app, "uni").await;
    let echo = register_app(
        &app,
        &admin,
        json!({
            "name": "echo", "tool-version": "1", "description": "Writes a name.",
            "schema-version": "0.5",
            "command-line": "echo \"[NAME]\" > report.txt; echo '[NAME]' >> report.txt; echo [NAME] >> report.txt",
            "inputs": [{"id": "name", "name": "Name", "type": "String", "value-key": "[NAME]"}],
            "output-files": [{"id": "report", "name": "Report", "path-template": "report.txt"}]
        }),
    )
    .await;
    let attack = "$(echo PWNED-$((6*7))) `id` '\"; x";
    let j = submit(
        &app,
        &member,
        json!({"applicationId": echo, "parameters": {"name": attack}}),
    )
    .await;
    let id = j["id"].as_str().unwrap();
    let job = wait_until(&app, &member, id, 60, |j| {
        ["SUCCEEDED", "FAILED"].contains(&j["state"].as_str().unwrap())
    })
    .await;
    assert_eq!(job["state"], "SUCCEEDED", "{job:#}");
    let report = output(&app, &member, &job, "report.txt")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(report, format!("{attack}\n{attack}\n{attack}\n"), "{job:#}");
    assert!(!report.contains("PWNED-42"));
}

/// Without root (here: the supervisor run as `nobody`) an attempt still gets namespaces of
/// its own — it keeps the installation's uid on the host (there is none other to drop to),
/// sees only its directory, writes nowhere else and has no network — and rlimits stand in
/// for the cgroups it may not create.
#[tokio::test]
async fn without_root_the_sandbox_still_isolates() {
    use std::os::unix::fs::chown;

    use medgrid_infra::sandbox::{Limits, Plan, Sandbox};

    const NOBODY: u32 = 65534;
    let dir = std::env::temp_dir().join(format!("medgrid-nonroot-{}", uuid::Uuid::now_v7()));
    let sandbox = Sandbox {
        uids: None,
        defaults: Limits {
            memory_mb: 512,
            processes: 64,
            disk_mb: 64,
        },
        cgroups: true,
    };
    let script = "id -u > out; ls / > root; touch /usr/x 2>/dev/null && echo wrote >> out; \
                  python3 -c 'import socket; socket.create_connection((\"192.0.2.1\", 80), 2)' 2> net; \
                  python3 -c 'import resource; print(resource.getrlimit(resource.RLIMIT_AS)[0])' > as";
    let plan = Plan {
        key: "mg-nonroot-1",
        dir: &dir,
        script,
        inputs: &[],
        walltime: std::time::Duration::from_secs(60),
        limits: sandbox.defaults,
        env: &[],
        secret_env: &[],
        api_upstream: None,
        networked: false,
        image: None,
        shell: None,
    };

    let networked = Plan {
        networked: true,
        ..plan.clone()
    };
    let refused = sandbox.prepare(&networked).unwrap_err().to_string();
    assert!(
        refused.contains("needs Medgrid to run as root"),
        "{refused}"
    );
    let launch = sandbox.prepare(&plan).unwrap();
    for entry in walk_all(&dir) {
        chown(&entry, Some(NOBODY), Some(NOBODY)).unwrap();
    }
    let status = tokio::process::Command::new("setpriv")
        .args([
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
            "/bin/sh",
        ])
        .arg(&launch)
        .current_dir(&dir)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .status()
        .await
        .unwrap();
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    assert!(status.success(), "{}{}", read("stderr"), read("status"));
    assert!(read("status").contains("exit=0"), "{}", read("status"));
    assert_eq!(
        read("work/out"),
        "1000\n",
        "inside: its own uid, nothing written to /usr"
    );
    let root = read("work/root");
    assert!(
        !root.contains("root\n") && !root.contains("home\n"),
        "{root}"
    );
    assert!(
        read("work/net").contains("unreachable"),
        "{}",
        read("work/net")
    );
    assert_eq!(read("work/as").trim(), (512u64 << 20).to_string());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every path under `dir`, `dir` included.
fn walk_all(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut all = vec![dir.to_path_buf()];
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                all.extend(walk_all(&e.path()));
            } else {
                all.push(e.path());
            }
        }
    }
    all
}

/// Hosts beyond this one, for the tests of networked applications: a network namespace
/// joined to this host by two veth pairs, one in a public range (TEST-NET-2, 198.51.100.0/30)
/// and one in a private range (192.168.251.0/30), each with an HTTP server on port 8000.
/// Removed when dropped.
struct Outside {
    name: String,
    servers: Vec<std::process::Child>,
    /// One outside at a time: they use the same addresses.
    _alone: tokio::sync::MutexGuard<'static, ()>,
}

static OUTSIDE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const PUBLIC_HOST: &str = "198.51.100.2";
const PRIVATE_HOST: &str = "192.168.251.2";

fn ip(args: &[&str]) {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Outside {
    async fn start() -> Self {
        let alone = OUTSIDE.lock().await;
        let name = format!("mgt{}", &uuid::Uuid::new_v4().simple().to_string()[..6]);
        ip(&["netns", "add", &name]);
        let outside = Self {
            name: name.clone(),
            servers: vec![],
            _alone: alone,
        };
        for (n, host, peer) in [
            (1, "198.51.100.1", PUBLIC_HOST),
            (2, "192.168.251.1", PRIVATE_HOST),
        ] {
            let (here, there) = (format!("{name}h{n}"), format!("{name}o{n}"));
            ip(&["link", "add", &here, "type", "veth", "peer", "name", &there]);
            ip(&["link", "set", &there, "netns", &name]);
            ip(&["addr", "add", &format!("{host}/30"), "dev", &here]);
            ip(&["link", "set", &here, "up"]);
            ip(&[
                "-n",
                &name,
                "addr",
                "add",
                &format!("{peer}/30"),
                "dev",
                &there,
            ]);
            ip(&["-n", &name, "link", "set", &there, "up"]);
        }
        ip(&["-n", &name, "link", "set", "lo", "up"]);
        let mut outside = outside;
        for host in [PUBLIC_HOST, PRIVATE_HOST] {
            let server = std::process::Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &name,
                    "python3",
                    "-m",
                    "http.server",
                    "8000",
                    "--bind",
                    host,
                ])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            outside.servers.push(server);
        }
        let http = reqwest::Client::new();
        for host in [PUBLIC_HOST, PRIVATE_HOST] {
            let mut up = false;
            for _ in 0..100 {
                if http
                    .get(format!("http://{host}:8000/"))
                    .send()
                    .await
                    .is_ok()
                {
                    up = true;
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            assert!(up, "the test server at {host} did not start");
        }
        outside
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        for server in &mut self.servers {
            let _ = server.kill();
            let _ = server.wait();
        }
        for n in [1, 2] {
            let _ = std::process::Command::new("ip")
                .args(["link", "del", &format!("{}h{n}", self.name)])
                .status();
        }
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// A networked application's attempt reaches hosts beyond this one through slirp4netns,
/// but neither private networks nor this host (its loopback through slirp's gateway); a
/// job not marked so reaches nothing. Run straight through the sandbox, as root.
#[tokio::test]
async fn a_networked_job_reaches_the_outside_but_no_private_network() {
    use medgrid_infra::sandbox::{Limits, Plan};

    let _outside = Outside::start().await;
    let sandbox = medgrid::sandbox(&medgrid_tests::test_config()).unwrap();
    let script = format!(
        "probe() {{ python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=3).status)' \"$1\" 2>&1 | tail -1; }}\n\
         probe http://{PUBLIC_HOST}:8000/ > public\n\
         probe http://{PRIVATE_HOST}:8000/ > private\n\
         probe http://10.0.2.2:8000/ > gateway\n"
    );
    for networked in [true, false] {
        let dir = std::env::temp_dir().join(format!("medgrid-net-{}", uuid::Uuid::now_v7()));
        let plan = Plan {
            key: &format!("mg-net-{}", uuid::Uuid::now_v7()),
            dir: &dir,
            script: &script,
            inputs: &[],
            walltime: std::time::Duration::from_secs(60),
            limits: Limits {
                memory_mb: 512,
                processes: 64,
                disk_mb: 64,
            },
            env: &[],
            secret_env: &[],
            api_upstream: None,
            networked,
            image: None,
            shell: None,
        };
        let launch = sandbox.prepare(&plan).unwrap();
        let status = medgrid_infra::sandbox::supervise(&launch).await.unwrap();
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        assert!(status.success(), "{}{}", read("stderr"), read("status"));
        let public = read("work/public");
        if networked {
            assert_eq!(public.trim(), "200", "{public}");
        } else {
            assert!(public.contains("unreachable"), "{public}");
        }
        assert!(
            !read("work/private").contains("200"),
            "{}",
            read("work/private")
        );
        assert!(
            !read("work/gateway").contains("200"),
            "{}",
            read("work/gateway")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// The tests' registry (scripts/registry) must answer: image tests fail loudly without it.
async fn registry_running() {
    let registry = medgrid_tests::test_registry();
    let up = reqwest::get(format!("http://{registry}/v2/"))
        .await
        .is_ok_and(|r| r.status().is_success());
    assert!(
        up,
        "the tests' OCI registry is required at {registry}: run scripts/registry and scripts/images (scripts/test does)"
    );
}

fn events_of_type(kind: &'static str) -> impl AsyncFnOnce(&TestApp) -> i64 {
    async move |app: &TestApp| {
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = $1")
            .bind(kind)
            .fetch_one(app.pool())
            .await
            .unwrap()
    }
}

/// An application whose descriptor names a container image runs in that image — pulled
/// through the tests' mirror of Docker Hub, said in the job's reason while it comes — and
/// sees the image's files, not the host's.
#[tokio::test]
async fn an_application_runs_in_its_container_image() {
    registry_running().await;
    let app = TestApp::spawn().await;
    let (admin, member, _) = setup(&app, "uni").await;
    let tool = register_app(
        &app,
        &admin,
        json!({
            "name": "in-image", "tool-version": "1", "description": "Looks around its image.",
            "schema-version": "0.5",
            "container-image": {"type": "docker", "image": "ubuntu:latest"},
            "command-line": "{ id -u; command -v python3 || echo no-python; test -e /opt/medgrid/apps && echo apps; echo [WORD]; } > report.txt",
            "inputs": [{"id": "word", "name": "Word", "type": "String", "value-key": "[WORD]"}],
            "output-files": [{"id": "report", "name": "Report", "path-template": "report.txt"}]
        }),
    )
    .await;
    let job = run_with(&app, &member, &tool, json!({"word": "hello"})).await;
    assert_eq!(job["state"], "SUCCEEDED", "{job:#}");
    let report = output(&app, &member, &job, "report.txt")
        .await
        .text()
        .await
        .unwrap();
    // the stand-in for ubuntu:latest has no Python, the host has; nor the shipped tools
    assert_eq!(report, "1000\nno-python\nhello\n", "{job:#}");
    assert!(events_of_type("AttemptPreparing")(&app).await >= 1);
}

/// Runs `application` with `parameters` until it ends.
async fn run_with(app: &TestApp, member: &str, application: &str, parameters: Value) -> Value {
    let j = submit(
        app,
        member,
        json!({"applicationId": application, "parameters": parameters}),
    )
    .await;
    let id = j["id"].as_str().unwrap().to_owned();
    wait_until(app, member, &id, 300, |j| {
        ["SUCCEEDED", "FAILED", "CANCELLED"].contains(&j["state"].as_str().unwrap())
    })
    .await
}

/// An image that cannot be pulled fails the attempt as a submission the resource refused
/// ("image pull failed: …"): retried only on an alternate resource.
#[tokio::test]
async fn an_image_that_cannot_be_pulled_fails_the_attempt() {
    registry_running().await;
    let app = TestApp::spawn().await;
    let (admin, member, _) = setup(&app, "uni").await;
    let digest = format!("sha256:{}", "0".repeat(64));
    for (name, image) in [
        (
            "missing",
            json!({"type": "docker", "image": "medgrid/no-such-tool:1"}),
        ),
        (
            "pinned",
            json!({"type": "docker", "image": "ubuntu:latest", "container-hash": digest}),
        ),
    ] {
        let tool = register_app(
            &app,
            &admin,
            json!({
                "name": name, "tool-version": "1", "description": "Cannot be pulled.",
                "schema-version": "0.5", "container-image": image, "command-line": "true [X]",
                "inputs": [{"id": "x", "name": "X", "type": "String", "value-key": "[X]", "optional": true}]
            }),
        )
        .await;
        let job = run_with(&app, &member, &tool, json!({})).await;
        assert_eq!(job["state"], "FAILED", "{job:#}");
        assert!(ended_reason(&job).contains("image pull failed"), "{job:#}");
        assert_eq!(job["attempts"].as_array().unwrap().len(), 1, "{job:#}");
    }
}

/// Images Medgrid cannot run, or may not fetch, are refused at registration, naming
/// `container-image.image`: Singularity image files, unparsable references, registries
/// this installation does not pull from.
#[tokio::test]
async fn images_that_cannot_run_here_are_refused_at_registration() {
    let app = TestApp::spawn().await;
    let (admin, _, _) = setup(&app, "uni").await;
    let registered = events_of_type("ApplicationRegistered")(&app).await;
    for image in [
        json!({"type": "singularity", "image": "/images/tool.sif"}),
        json!({"type": "singularity", "image": "library://org/tool:1"}),
        json!({"type": "docker", "image": "Not A Reference"}),
        json!({"type": "docker", "image": "registry.example.org/tool:1"}),
        json!({"type": "docker", "image": "127.0.0.1:5432/x:1"}),
    ] {
        let body = app
            .gql(
                Some(&admin),
                "mutation($d: JSON!) { registerApplication(descriptor: $d) { id } }",
                json!({"d": {
                    "name": "refused", "tool-version": "1", "description": "x",
                    "schema-version": "0.5", "container-image": image, "command-line": "true [X]",
                    "inputs": [{"id": "x", "name": "X", "type": "String", "value-key": "[X]"}]
                }}),
            )
            .await;
        assert_eq!(
            medgrid_tests::error_code(&body).as_deref(),
            Some("INVALID_INPUT"),
            "{image}: {body}"
        );
        assert!(
            body.to_string().contains("container-image.image"),
            "{image}: {body}"
        );
    }
    assert_eq!(
        events_of_type("ApplicationRegistered")(&app).await,
        registered,
        "nothing refused was recorded"
    );
}

/// Through the API: once a platform admin marks an application networked, its jobs reach
/// hosts beyond this one (never private networks); before, they reach nothing.
#[tokio::test]
async fn jobs_of_a_networked_application_reach_the_outside() {
    let _outside = Outside::start().await;
    let app = TestApp::spawn().await;
    let (admin, member, _) = setup(&app, "uni").await;
    let (_, root) = app
        .member("uni", "root@uni.org", &[Role::PlatformAdmin])
        .await;
    let probe = probe_app(&app, &admin, "probe", json!({})).await;
    let script = format!(
        "for url in http://{PUBLIC_HOST}:8000/ http://{PRIVATE_HOST}:8000/; do \
         python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=3).status)' \"$url\" 2>&1 | tail -1; \
         done > report.txt"
    );
    let before = run(&app, &member, &probe, &script, None).await;
    let report = output(&app, &member, &before, "report.txt")
        .await
        .text()
        .await
        .unwrap();
    assert!(!report.contains("200"), "not networked yet: {report}");
    app.ok(
        &root,
        "mutation($id: ID!) { setApplicationNetworked(id: $id, networked: true) { networked } }",
        json!({"id": probe}),
    )
    .await;
    let after = run(&app, &member, &probe, &script, None).await;
    assert_eq!(after["state"], "SUCCEEDED", "{after:#}");
    let report = output(&app, &member, &after, "report.txt")
        .await
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(lines.first(), Some(&"200"), "{report}");
    assert!(lines.get(1).is_some_and(|l| !l.contains("200")), "{report}");
}

/// Downloads and previews open outputs without following symlinks: a symlink in a job's
/// outputs (as if planted there) to a secret of the host is not found, the secret never
/// sent — through the API, the job token's door and the portal's preview alike.
#[tokio::test]
async fn downloads_and_previews_refuse_symlinks() {
    let app = TestApp::spawn().await;
    let (admin, member, _) = setup(&app, "uni").await;
    let probe = probe_app(&app, &admin, "probe", json!({})).await;
    let job = run(&app, &member, &probe, "echo fine > report.txt", None).await;
    assert_eq!(job["state"], "SUCCEEDED", "{job:#}");
    // whatever a job wrote, no browser takes it for a page of Medgrid's
    let res = output(&app, &member, &job, "report.txt").await;
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    let secret = format!("secret-{}", uuid::Uuid::new_v4());
    let canary = std::path::absolute(&app.config.data_dir)
        .unwrap()
        .join("canary.nii");
    std::fs::write(&canary, &secret).unwrap();
    let id = job["id"].as_str().unwrap();
    let outputs = app.core.area.outputs_dir(id.parse().unwrap());
    std::fs::remove_file(outputs.join("report.txt")).unwrap();
    std::os::unix::fs::symlink(&canary, outputs.join("report.txt")).unwrap();
    std::fs::create_dir_all(outputs.join("d")).unwrap();
    std::os::unix::fs::symlink(canary.parent().unwrap(), outputs.join("d/up")).unwrap();
    std::os::unix::fs::symlink(&canary, outputs.join("brain.nii")).unwrap();
    for path in ["report.txt", "d/up/canary.nii"] {
        let res = output(&app, &member, &job, path).await;
        assert_eq!(res.status(), 404, "{path}");
        assert!(!res.text().await.unwrap().contains(&secret));
    }
    let cookies = crate::portal::signed_in(&app, "uni", "ann@uni.org").await;
    let res = crate::portal::get(&app, &cookies, &format!("/jobs/{id}/preview/brain.nii")).await;
    assert_eq!(res.status(), 404);
    assert!(!res.text().await.unwrap().contains(&secret));
}

/// A sandbox that cannot be set up (an input gone from under it) tells the member so in
/// the attempt's stderr, without any path of this host; the operator's log has the detail.
#[tokio::test]
async fn a_sandbox_that_cannot_start_says_so_without_host_paths() {
    use medgrid_infra::sandbox::{Limits, Plan};

    let sandbox = medgrid::sandbox(&medgrid_tests::test_config()).unwrap();
    let dir = std::env::temp_dir().join(format!("medgrid-broken-{}", uuid::Uuid::now_v7()));
    let gone = dir.with_extension("gone");
    let inputs = [(gone.clone(), "scan.nii".to_owned())];
    let plan = Plan {
        key: &format!("mg-broken-{}", uuid::Uuid::now_v7()),
        dir: &dir,
        script: "cat scan.nii",
        inputs: &inputs,
        walltime: std::time::Duration::from_secs(60),
        limits: Limits {
            memory_mb: 256,
            processes: 64,
            disk_mb: 64,
        },
        env: &[],
        secret_env: &[],
        api_upstream: None,
        networked: false,
        image: None,
        shell: None,
    };
    let launch = sandbox.prepare(&plan).unwrap();
    let status = medgrid_infra::sandbox::supervise(&launch).await.unwrap();
    assert!(!status.success());
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    let stderr = read("stderr");
    assert!(
        stderr.contains("could not set up this attempt's sandbox"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(&*std::env::temp_dir().to_string_lossy()),
        "{stderr}"
    );
    assert!(
        read("sandbox.log").contains(&*gone.to_string_lossy()),
        "{}",
        read("sandbox.log")
    );
    let _ = std::fs::remove_dir_all(&dir);
}
