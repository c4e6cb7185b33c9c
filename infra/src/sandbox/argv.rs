//! The two bubblewraps' arguments. Paths under `/sandbox` exist only in the outer one's
//! mount namespace: the inner one (and so the job) sees none of the host's paths.

use medgrid_domain::catalog::shell_quote;

use super::Plan;
use super::root::{OWN_ETC, Root};

/// The job's directory inside the sandbox, and the attempt directory's `work/`.
pub const WORK: &str = "work";
/// Where a job reaches Medgrid's API inside its sandbox (`MEDGRID_URL`).
pub const INSIDE_URL: &str = "http://127.0.0.1:8080";
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// The job's uid and gid inside its user namespace (named `medgrid` in its /etc/passwd).
const INSIDE_ID: &str = "1000";

pub(super) fn push(args: &mut Vec<String>, items: &[&str]) {
    args.extend(items.iter().map(|s| (*s).to_owned()));
}

/// The outer bubblewrap's options (its command follows them): what this attempt may see,
/// at `/sandbox/…`, a PID namespace whose end ends everything, and the network namespace
/// the job will share with the API bridge alone. As root it needs no user namespace (and
/// so reaches the attempt's files whatever the directories above them allow).
pub(super) fn outer(plan: &Plan<'_>, uid: Option<u32>, host: &Root) -> Vec<String> {
    let dir = plan.dir.display().to_string();
    let at = |name: &str| format!("{dir}/{name}");
    let mut args = vec!["bwrap".to_owned()];
    match uid {
        // a PID namespace whose end ends everything started in it (its /proc is mounted
        // by the stage, as root)
        Some(_) => push(&mut args, &["--unshare-pid"]),
        // not root: a user namespace is what lets us mount; the job nests its own in it.
        // No PID namespace: without root there is no /proc of its own to mount for it
        None => push(&mut args, &["--unshare-user"]),
    }
    push(
        &mut args,
        &[
            "--unshare-net",
            "--die-with-parent",
            "--clearenv",
            "--setenv",
            "PATH",
            "/usr/sbin:/usr/bin:/sbin:/bin",
        ],
    );
    host.mount_top(&mut args);
    push(
        &mut args,
        &[
            "--ro-bind",
            "/etc",
            "/etc", // the outer side only: the job gets a few entries
            "--bind",
            "/proc",
            "/proc", // a fully visible /proc lets the inner mount its own
            "--dev",
            "/dev",
            "--perms",
            "01777",
            "--dir",
            "/tmp",
            "--perms",
            "0755",
            "--dir",
            "/sandbox",
        ],
    );
    push(&mut args, &["--bind", &at(WORK), "/sandbox/work"]);
    push(&mut args, &["--ro-bind", &at("job.sh"), "/sandbox/job.sh"]);
    push(&mut args, &["--ro-bind", &at("etc"), "/sandbox/etc"]);
    push(
        &mut args,
        &["--ro-bind", &at("secret.args"), "/sandbox/secret.args"],
    );
    if plan.api_upstream.is_some() {
        push(&mut args, &["--bind", &at("api.sock"), "/sandbox/api.sock"]);
    }
    if let Some(image) = plan.image {
        let rootfs = image.rootfs.display().to_string();
        push(&mut args, &["--ro-bind", &rootfs, "/sandbox/root"]);
    }

    if plan.networked {
        // the supervisor attaches slirp4netns to the namespace of the pid written there
        push(&mut args, &["--info-fd", "5"]);
    }
    if !plan.inputs.is_empty() {
        // bubblewrap makes missing directories 0700: the attempt's uid must enter this one
        push(&mut args, &["--perms", "0755", "--dir", "/sandbox/in"]);
    }
    for (i, (source, _)) in plan.inputs.iter().enumerate() {
        let source = source.display().to_string();
        push(
            &mut args,
            &["--ro-bind", &source, &format!("/sandbox/in/{i}")],
        );
    }
    args
}

/// What runs inside the outer bubblewrap (as root there when Medgrid is root): the bridge's
/// inner end, then — with limits and, as root, the attempt's uid — the inner bubblewrap.
pub(super) fn stage(plan: &Plan<'_>, uid: Option<u32>, root: &Root) -> String {
    // the supervisor's (only there for --info-fd): never the job's
    let mut script = String::from("exec 5>&-\n");
    // from here on, what is said is the job's: its logs
    script.push_str("exec 1>&6 2>&7 6>&- 7>&-\n");
    if uid.is_some() {
        // a /proc of this PID namespace over the host's (which was only there to let it be
        // mounted): the inner bubblewrap finds its processes by their pids here
        script.push_str("mount -t proc proc /proc || exit 72\n");
    }
    if plan.networked {
        script.push_str(NETWORK);
    }
    if plan.api_upstream.is_some() {
        script.push_str(BRIDGE);
    }
    // opened before dropping privileges: the file is root's
    script.push_str("exec 3< /sandbox/secret.args\n");
    // the supervisor's choice of rlimits (no cgroup for them here); out of the environment
    // the job's first process inherits
    script.push_str("rlimits=$MG_RLIMITS; unset MG_RLIMITS\n");
    // a file may grow a little past the disk limit, so that the supervisor sees the limit
    // passed and says so (a file stopped exactly at it would look like any failure)
    let fsize = ((plan.limits.disk_mb + 1) << 20).to_string();
    let mut exec = vec![
        "prlimit".to_owned(),
        "--core=0".into(),
        format!("--fsize={fsize}"),
    ];
    let mut line = format!("exec {} $rlimits -- ", render(&exec));
    exec.clear();
    if let Some(uid) = uid {
        let uid = uid.to_string();
        push(
            &mut exec,
            &[
                "setpriv",
                &format!("--reuid={uid}"),
                &format!("--regid={uid}"),
                "--clear-groups",
                "--inh-caps=-all",
                "--bounding-set=-all",
                "--no-new-privs",
                "--",
            ],
        );
    }
    exec.extend(inner(plan, root));
    line.push_str(&render(&exec));
    script.push_str(&line);
    script.push('\n');
    script
}

/// The inner bubblewrap: the job's namespaces, root, mounts and environment.
fn inner(plan: &Plan<'_>, root: &Root) -> Vec<String> {
    let mut args = vec!["bwrap".to_owned()];
    push(
        &mut args,
        &[
            "--unshare-user",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--disable-userns",
            "--uid",
            INSIDE_ID,
            "--gid",
            INSIDE_ID,
            "--hostname",
            "medgrid-job",
            "--die-with-parent",
            "--new-session",
        ],
    );
    root.mount(&mut args);
    push(
        &mut args,
        &[
            "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/dev/shm", "--tmpfs", "/tmp",
        ],
    );
    for name in OWN_ETC {
        let to = format!("/etc/{name}");
        push(
            &mut args,
            &["--ro-bind", &format!("/sandbox/etc/{name}"), &to],
        );
    }
    push(&mut args, &["--bind", "/sandbox/work", "/job"]);
    for (i, (_, name)) in plan.inputs.iter().enumerate() {
        let to = format!("/job/{name}");
        push(&mut args, &["--ro-bind", &format!("/sandbox/in/{i}"), &to]);
    }
    push(
        &mut args,
        &[
            "--ro-bind",
            "/sandbox/job.sh",
            "/medgrid/job.sh",
            "--chdir",
            "/job",
        ],
    );
    // the root bubblewrap built is a tmpfs: once everything is mounted, nothing more is
    // written there (/job, and /tmp and /dev/shm in memory, stay writable)
    push(&mut args, &["--remount-ro", "/"]);
    push(&mut args, &["--clearenv", "--args", "3"]);

    // the image's own environment first (its PATH above all); then ours, which wins
    let image_env = plan.image.map(|i| i.env.as_slice()).unwrap_or_default();
    let mut env: Vec<(&str, &str)> = image_env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if !image_env.iter().any(|(k, _)| k == "PATH") {
        env.push(("PATH", PATH));
    }
    env.extend([("HOME", "/job"), ("TMPDIR", "/tmp")]);

    if plan.api_upstream.is_some() {
        env.push(("MEDGRID_URL", INSIDE_URL));
    }
    env.extend(plan.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    for (name, value) in env {
        push(&mut args, &["--setenv", name, value]);
    }
    push(
        &mut args,
        &[plan.shell.unwrap_or("/bin/sh"), "/medgrid/job.sh"],
    );
    args
}

/// The bridge's inner end, in the sandbox's network namespace: Medgrid's API at
/// [`INSIDE_URL`] (killed with the stage's process, whatever becomes of the rest); the job
/// starts once it listens.
const BRIDGE: &str = r#"setpriv --pdeathsig KILL socat TCP-LISTEN:8080,bind=127.0.0.1,fork,reuseaddr UNIX-CONNECT:/sandbox/api.sock 2>/dev/null &
i=0
while ! grep -q ' 0100007F:1F90 00000000:0000 0A' /proc/net/tcp && [ $i -lt 500 ]; do i=$((i + 1)); sleep 0.01; done
"#;

/// For a networked application: waits for slirp4netns's tap0 (attached by the supervisor),
/// then refuses, in this network namespace, what the job must never reach through it —
/// this host's own addresses and the private, loopback, link-local and shared ranges —
/// before the job starts. The job cannot change these rules: the namespace is not its
/// user namespace's. slirp4netns itself refuses this host's loopback.
const NETWORK: &str = r#"i=0
while ! grep -q '^tap0	00000000' /proc/net/route && [ $i -lt 500 ]; do i=$((i + 1)); sleep 0.01; done
iptables -w -A OUTPUT -o lo -j ACCEPT
iptables -w -A OUTPUT -d 10.0.2.3 -p udp --dport 53 -j ACCEPT
iptables -w -A OUTPUT -d 10.0.2.3 -p tcp --dport 53 -j ACCEPT
for net in 0.0.0.0/8 10.0.0.0/8 100.64.0.0/10 127.0.0.0/8 169.254.0.0/16 172.16.0.0/12 \
  192.0.0.0/24 192.168.0.0/16 198.18.0.0/15 224.0.0.0/4 240.0.0.0/4 $MG_HOST_ADDRESSES; do
  iptables -w -A OUTPUT -d "$net" -j REJECT || exit 71
done
unset MG_HOST_ADDRESSES
"#;

/// Words as a POSIX shell reads them back, one by one.
pub(super) fn render(words: &[String]) -> String {
    words
        .iter()
        .map(|w| shell_quote(w))
        .collect::<Vec<_>>()
        .join(" ")
}
