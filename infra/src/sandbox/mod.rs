//! The job sandbox. Job commands are untrusted code, so every attempt — local or on Slurm —
//! runs the same way, decided here and written once into the attempt's directory before
//! it starts:
//!
//! ```text
//! <attempt dir>/           Medgrid's, never visible inside the sandbox (mode 0700)
//!   launch.sh              the supervisor: settings, then supervisor.sh (the batch script on Slurm)
//!   job.sh                 what the job runs (read-only at /medgrid/job.sh inside)
//!   etc/                   passwd, group, hosts, nsswitch.conf of the sandbox
//!   secret.args            the job token as bubblewrap arguments (removed at the end)
//!   claim/ supervisor start stdout stderr verdict status   written by Medgrid or the supervisor
//!   work/                  the job's directory (/job inside), owned by the attempt's uid
//! ```
//!
//! The supervisor starts two nested bubblewraps. The outer one (run as root when Medgrid is
//! root) makes a mount namespace holding only what this attempt may see — the host's `/usr`
//! read-only, its work directory, its inputs, the shipped tools — whatever the permissions
//! of the directories above them (a data dir under a 0700 home works), plus a network
//! namespace of its own with one way out: Medgrid's API, bridged over a Unix socket. It
//! then drops to the attempt's own uid (never Medgrid's, never root) and starts the inner
//! bubblewrap, which gives the job its own user, PID, IPC and UTS namespaces, a fresh root
//! with `/job` its only writable place, and an environment cleared to an allow-list. The
//! supervisor stays the parent that waits on it: it enforces walltime, memory, processes
//! and disk (cgroups where writable, else rlimits; a watcher for disk) and alone records how
//! the attempt ended, in files the job cannot reach.

mod argv;
mod root;
pub mod status;

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use medgrid_domain::catalog::shell_quote;

use crate::images::Image;
use root::Root;

pub use argv::{INSIDE_URL, WORK};

/// The supervisor's body: the same for every attempt.
const SUPERVISOR: &str = include_str!("supervisor.sh");

/// What an attempt may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub memory_mb: u64,
    pub processes: u32,
    pub disk_mb: u64,
}

/// The uids attempts run as when Medgrid runs as root, one per attempt (chosen from the
/// attempt's key), none of them root's or Medgrid's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UidRange {
    first: u32,
    count: u32,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("MEDGRID_SANDBOX_UIDS {0:?}: {1}")]
pub struct UidRangeError(String, &'static str);

impl std::str::FromStr for UidRange {
    type Err = UidRangeError;

    /// `FIRST-LAST`, e.g. `2000000000-2016777215`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why| UidRangeError(s.to_owned(), why);
        let (first, last) = s.split_once('-').ok_or_else(|| bad("must be FIRST-LAST"))?;
        let first: u32 = first
            .trim()
            .parse()
            .map_err(|_| bad("FIRST is not a uid"))?;
        let last: u32 = last.trim().parse().map_err(|_| bad("LAST is not a uid"))?;
        if first == 0 || last < first || last == u32::MAX {
            return Err(bad("must be a range above 0 and below 4294967295"));
        }
        if (first..=last).contains(&own_uid()) {
            return Err(bad("must not contain Medgrid's own uid"));
        }
        Ok(Self {
            first,
            count: last - first + 1,
        })
    }
}

impl UidRange {
    /// The uid of the attempt with this key (FNV-1a of the key over the range): stable, so
    /// a second start of the attempt gets the same one.
    pub fn uid_for(&self, key: &str) -> u32 {
        let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        self.first + (hash % u64::from(self.count)) as u32
    }
}

/// Our effective uid: the owner of our own /proc entry (no unsafe call needed).
pub fn own_uid() -> u32 {
    std::fs::metadata("/proc/self").map_or(u32::MAX, |m| std::os::unix::fs::MetadataExt::uid(&m))
}

/// How this Medgrid runs attempts.
#[derive(Debug, Clone)]
pub struct Sandbox {
    /// The attempts' uids, when Medgrid runs as root; otherwise attempts keep Medgrid's uid
    /// on the host (inside, a user namespace still separates them).
    pub uids: Option<UidRange>,
    /// Limits of attempts whose application asks for nothing.
    pub defaults: Limits,
    /// Use cgroups (memory, processes, CPU time) where this host lets us create them.
    pub cgroups: bool,
}

/// Why an attempt's sandbox could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// It cannot run here as asked; trying again would not help.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error(
        "the job sandbox needs {0} on this host, which was not found on PATH \
         (Debian: apt-get install bubblewrap socat util-linux skopeo umoci)"
    )]
    Missing(&'static str),
}

/// The programs the supervisor runs on the host, and those that fetch images.
const NEEDED: [&str; 7] = [
    "bwrap", "socat", "setpriv", "prlimit", "setsid", "skopeo", "umoci",
];

impl Sandbox {
    /// Checks that this host has what the sandbox needs.
    pub fn check_host() -> Result<(), SandboxError> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let dirs: Vec<PathBuf> = std::env::split_paths(&path)
            .chain(["/usr/bin".into(), "/usr/sbin".into()])
            .collect();
        for program in NEEDED {
            if !dirs.iter().any(|d| d.join(program).is_file()) {
                return Err(SandboxError::Missing(program));
            }
        }
        Ok(())
    }
}

/// One attempt, as its sandbox is to run it.
#[derive(Debug, Clone)]
pub struct Plan<'a> {
    /// Names the attempt (its cgroups too): `mg-<job>-<attempt>`.
    pub key: &'a str,
    /// The attempt's directory (see the module's doc); created here.
    pub dir: &'a Path,
    /// job.sh: what the job runs, a POSIX sh script.
    pub script: &'a str,
    /// Files bound read-only into the work directory: (file on this host, name in it).
    pub inputs: &'a [(PathBuf, String)],
    pub walltime: Duration,
    pub limits: Limits,
    /// Variables of the job's environment (besides HOME, PATH, TMPDIR and MEDGRID_URL).
    pub env: &'a [(String, String)],
    /// Variables that never appear in a file the job reads nor on a command line: the
    /// job token.
    pub secret_env: &'a [(String, String)],
    /// Where the job reaches Medgrid's API (a socat address such as
    /// `TCP:127.0.0.1:8080`), seen inside as [`INSIDE_URL`]; None: no way out at all.
    pub api_upstream: Option<String>,
    /// The platform admin lets the application reach the network: slirp4netns, with this
    /// host's addresses and private ranges refused.
    pub networked: bool,
    /// The application's image, pulled; None: the platform's base (the host's /usr).
    pub image: Option<&'a Image>,
    /// The shell running `script` (None: `/bin/sh`).
    pub shell: Option<&'a str>,
}

/// The socat address of a plain-HTTP URL's host and port (`http://h:p/…` → `TCP:h:p`).
pub fn upstream_of(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    if url.scheme() != "http" {
        return None;
    }
    let host = match url.host()? {
        url::Host::Ipv6(ip) => format!("[{ip}]"),
        host => host.to_string(),
    };
    Some(format!("TCP:{host}:{}", url.port_or_known_default()?))
}

fn write_file(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let partial = path.with_extension("part");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&partial)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    // the mode asked at creation is narrowed by the umask: say it again
    std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(mode))?;
    std::fs::rename(&partial, path)
}

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
    medgrid:x:1000:1000:Medgrid job:/job:/bin/sh\n\
    nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
const GROUP: &str = "root:x:0:\nmedgrid:x:1000:\nnogroup:x:65534:\n";
/// The job's user and group, added to an image's own.
const JOB_USER: &str = "medgrid:x:1000:1000:Medgrid job:/job:/bin/sh";
const JOB_GROUP: &str = "medgrid:x:1000:";

const HOSTS: &str = "127.0.0.1 localhost medgrid-job\n::1 localhost ip6-localhost\n";
const NSSWITCH: &str = "passwd: files\ngroup: files\nhosts: files\n";
const NSSWITCH_NETWORKED: &str = "passwd: files\ngroup: files\nhosts: files dns\n";
/// slirp4netns's DNS forwarder.
const RESOLV_NETWORKED: &str = "nameserver 10.0.2.3\n";

impl Sandbox {
    /// Writes everything the attempt's start reads — each file whole, under its final name
    /// only once complete — and returns the supervisor to run (`launch.sh`, written last).
    /// Nothing here is written again once the attempt is claimed: the caller claims first.
    pub fn prepare(&self, plan: &Plan<'_>) -> Result<PathBuf, PrepareError> {
        if plan.networked && self.uids.is_none() {
            // the firewall of its network namespace needs root: without it, no network
            return Err(PrepareError::Refused(
                "a networked application needs Medgrid to run as root on this resource".into(),
            ));
        }
        Ok(self.write_files(plan)?)
    }

    fn write_files(&self, plan: &Plan<'_>) -> std::io::Result<PathBuf> {
        let dir = plan.dir;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        let uid = self.uids.map(|u| u.uid_for(plan.key));
        self.work_dir(&dir.join(WORK), uid)?;
        let etc = dir.join("etc");
        std::fs::DirBuilder::new()
            .mode(0o755)
            .create(&etc)
            .or_else(exists_ok)?;
        let (nsswitch, resolv) = match plan.networked {
            true => (NSSWITCH_NETWORKED, RESOLV_NETWORKED),
            false => (NSSWITCH, ""),
        };
        let passwd = root::with_job_user(plan.image, "passwd", PASSWD, JOB_USER);
        let group = root::with_job_user(plan.image, "group", GROUP, JOB_GROUP);
        for (name, text) in [
            ("passwd", passwd.as_str()),
            ("group", group.as_str()),
            ("hosts", HOSTS),
            ("nsswitch.conf", nsswitch),
            ("resolv.conf", resolv),
        ] {
            write_file(&etc.join(name), text.as_bytes(), 0o644)?;
        }
        write_file(&dir.join("job.sh"), plan.script.as_bytes(), 0o644)?;
        write_file(
            &dir.join("secret.args"),
            &secret_args(plan.secret_env),
            0o600,
        )?;
        let launch = dir.join("launch.sh");
        write_file(&launch, self.launch_script(plan, uid).as_bytes(), 0o700)?;
        Ok(launch)
    }

    /// The job's directory: created once, owned by the attempt's uid, private to it.
    fn work_dir(&self, work: &Path, uid: Option<u32>) -> std::io::Result<()> {
        match std::fs::DirBuilder::new().mode(0o700).create(work) {
            // created before by a start that did not get as far as claiming: it is empty
            // or holds only what that start wrote, never anything of the job's
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
            other => other?,
        }
        if let Some(uid) = uid {
            std::os::unix::fs::chown(work, Some(uid), Some(uid))?;
        }
        Ok(())
    }

    fn launch_script(&self, plan: &Plan<'_>, uid: Option<u32>) -> String {
        let q = |s: &str| shell_quote(s);
        let dir = plan.dir.display().to_string();
        let settings = [
            ("ctl", q(&dir)),
            ("key", q(plan.key)),
            ("walltime", plan.walltime.as_secs().max(1).to_string()),
            ("memory_bytes", (plan.limits.memory_mb << 20).to_string()),
            ("processes", plan.limits.processes.to_string()),
            ("disk_kib", (plan.limits.disk_mb << 10).to_string()),
            ("use_cgroups", u8::from(self.cgroups).to_string()),
            ("networked", u8::from(plan.networked).to_string()),
            ("own_uid", u8::from(uid.is_some()).to_string()),
            (
                "api_upstream",
                q(plan.api_upstream.as_deref().unwrap_or_default()),
            ),
        ];
        let mut script = String::from(
            "#!/bin/sh\n# Written by Medgrid once, before the attempt started: its supervisor \
             (see infra/src/sandbox).\nPATH=/usr/sbin:/usr/bin:/sbin:/bin\nexport PATH\n",
        );
        for (name, value) in settings {
            script.push_str(&format!("{name}={value}\n"));
        }
        let host = Root::host();
        let outer = argv::outer(plan, uid, &host);
        let root = match plan.image {
            Some(image) => Root::image(image),
            None => host,
        };
        let stage = argv::stage(plan, uid, &root);

        script.push_str(&format!(
            "# runs in the background, stdout and stderr to the logs: joins the cgroups, then the sandbox\n\
             sandbox() {{\n  MG_CGROUPS=\"$cgroups\" exec /bin/sh -c 'for d in $MG_CGROUPS; do echo $$ > \"$d/cgroup.procs\"; done; unset MG_CGROUPS; exec \"$@\"' sh \\\n    {} \\\n    --setenv MG_RLIMITS \"$rlimits\" --setenv MG_HOST_ADDRESSES \"$host_addresses\" /bin/sh -c {}\n}}\n",

            argv::render(&outer),
            q(&stage),
        ));
        script.push_str(SUPERVISOR);
        script
    }
}

/// Runs a prepared attempt's supervisor in the foreground and waits for it (benchmarks and
/// tests; the executors start it detached). Its environment holds nothing of the caller's.
pub async fn supervise(launch: &Path) -> std::io::Result<std::process::ExitStatus> {
    let dir = launch.parent().unwrap_or(Path::new("/"));
    tokio::process::Command::new("/bin/sh")
        .arg(launch)
        .current_dir(dir)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .status()
        .await
}

/// The cgroups the supervisor makes for an attempt (where it can), by controller.
const CGROUPS: [&str; 3] = ["memory", "pids", "cpuacct"];

/// Clears what the supervisor of attempt `key` left behind when it vanished without
/// finishing (killed, host trouble): whatever still runs in its cgroups, and the cgroups.
pub fn release(key: &str) {
    for controller in CGROUPS {
        let dir = Path::new("/sys/fs/cgroup")
            .join(controller)
            .join("medgrid")
            .join(key);
        let Ok(procs) = std::fs::read_to_string(dir.join("cgroup.procs")) else {
            continue;
        };
        for pid in procs.lines().filter_map(|p| p.trim().parse::<i32>().ok()) {
            if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
        // fails while killed processes are still going: a later poll tries again
        let _ = std::fs::remove_dir(&dir);
    }
}

fn exists_ok(e: std::io::Error) -> std::io::Result<()> {
    if e.kind() == std::io::ErrorKind::AlreadyExists {
        Ok(())
    } else {
        Err(e)
    }
}

/// Bubblewrap arguments (NUL-separated, read through `--args`) setting the secret
/// variables: they reach the job's environment without a file it can read or a command
/// line anyone can see.
fn secret_args(secrets: &[(String, String)]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for (name, value) in secrets {
        for part in ["--setenv", name, value] {
            bytes.extend_from_slice(part.as_bytes());
            bytes.push(0);
        }
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_ranges_exclude_root_and_stay_stable() {
        let range: UidRange = "2000000000-2000000999".parse().expect("valid");
        let uid = range.uid_for("mg-a-1");
        assert!((2_000_000_000..=2_000_000_999).contains(&uid));
        assert_eq!(uid, range.uid_for("mg-a-1"));
        assert_ne!(range.uid_for("mg-a-1"), range.uid_for("mg-a-2"));
        assert!("0-10".parse::<UidRange>().is_err());
        assert!("10-5".parse::<UidRange>().is_err());
        assert!("x".parse::<UidRange>().is_err());
        let own = own_uid();
        assert!(format!("{own}-{own}").parse::<UidRange>().is_err());
    }

    #[test]
    fn only_plain_http_is_bridged() {
        assert_eq!(
            upstream_of("http://127.0.0.1:8080"),
            Some("TCP:127.0.0.1:8080".into())
        );
        assert_eq!(
            upstream_of("http://[::1]:9000/x"),
            Some("TCP:[::1]:9000".into())
        );
        assert_eq!(
            upstream_of("http://medgrid.local"),
            Some("TCP:medgrid.local:80".into())
        );
        assert_eq!(upstream_of("https://medgrid.example.org"), None);
    }

    #[test]
    fn secrets_become_nul_separated_arguments() {
        let bytes = secret_args(&[("MEDGRID_JOB_TOKEN".into(), "t o'k".into())]);
        assert_eq!(bytes, b"--setenv\0MEDGRID_JOB_TOKEN\0t o'k\0");
    }
}
