//! A private PostgreSQL cluster inside the data directory, run from the system's PostgreSQL
//! binaries: the zero-configuration default of `medgrid serve`.
//!
//! The cluster listens on a Unix socket in `<data_dir>/run` only (no TCP port), with trust
//! authentication: only processes that can enter that directory can connect.
//!
//! PostgreSQL refuses to run as root, so when Medgrid runs as root it gives the cluster's
//! two directories (`<data_dir>/postgres`, `<data_dir>/run`) to the `postgres` system user
//! and runs `initdb`, `postgres` and `pg_ctl` as that user. That user often cannot walk down
//! to the data dir (a checkout in root's 0700 home, as in containers and cloud machines), and
//! Medgrid opens up no directory above it: each program starts inside a private mount
//! namespace made by bubblewrap (`bwrap`), where the two directories are bind-mounted at
//! `/tmp/medgrid/data` and `/tmp/medgrid/run` on a fresh tmpfs (over `/tmp`, in that namespace
//! only), then drops to the `postgres` user with util-linux `setpriv`. A path through a bind
//! mount never walks the real parents. Medgrid itself (root) keeps connecting through the
//! real `<data_dir>/run`: the same directory, so the same socket.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use sqlx::ConnectOptions;
use sqlx::postgres::PgConnectOptions;

const SUPERUSER: &str = "medgrid";
const DATABASE: &str = "medgrid";

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error(
        "PostgreSQL server binaries (initdb, postgres, pg_ctl) were not found on PATH or under \
         /usr/lib/postgresql/*/bin. Install the Debian package `postgresql` \
         (apt-get install postgresql), or set DATABASE_URL to use an existing server."
    )]
    BinariesNotFound,
    #[error(
        "running as root, but there is no `postgres` system user to run the embedded cluster as \
         (install the Debian package `postgresql`, or set DATABASE_URL)"
    )]
    NoPostgresUser,
    #[error(
        "running as root, the embedded PostgreSQL runs as the `postgres` user in a private mount \
         namespace, which needs `{tool}`; it is neither on PATH nor in /usr/bin. Install the Debian package \
         `{package}` (apt-get install {package}), or set DATABASE_URL to use an existing server."
    )]
    ToolNotFound {
        tool: &'static str,
        package: &'static str,
    },
    #[error("{step} failed: {detail}")]
    Step { step: &'static str, detail: String },
    #[error("the embedded PostgreSQL did not accept connections within 60 s; see {log}")]
    NotReady { log: String },
}

fn step(step: &'static str) -> impl FnOnce(std::io::Error) -> EmbeddedError {
    move |e| EmbeddedError::Step {
        step,
        detail: e.to_string(),
    }
}

/// The directory holding `initdb`, `postgres` and `pg_ctl`: PATH first, then the newest
/// Debian version under /usr/lib/postgresql.
pub fn find_binaries() -> Result<PathBuf, EmbeddedError> {
    find_binaries_in(&path_dirs(), Path::new("/usr/lib/postgresql"))
}

fn path_dirs() -> Vec<PathBuf> {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default()
}

fn find_binaries_in(path: &[PathBuf], debian_root: &Path) -> Result<PathBuf, EmbeddedError> {
    let has_all = |dir: &Path| {
        ["initdb", "postgres", "pg_ctl"]
            .iter()
            .all(|b| dir.join(b).is_file())
    };
    if let Some(dir) = path.iter().find(|d| has_all(d)) {
        return Ok(dir.clone());
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(debian_root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, bin)| has_all(bin))
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .ok_or(EmbeddedError::BinariesNotFound)
}

/// uid and gid of the `postgres` user, read from /etc/passwd.
fn postgres_user() -> Result<(u32, u32), EmbeddedError> {
    let passwd = std::fs::read_to_string("/etc/passwd").map_err(step("reading /etc/passwd"))?;
    passwd
        .lines()
        .find_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            (f.first() == Some(&"postgres") && f.len() > 3)
                .then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
                .flatten()
        })
        .ok_or(EmbeddedError::NoPostgresUser)
}

fn running_as_root() -> bool {
    // The owner of our own /proc entry is our effective uid; no unsafe call needed.
    std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
}

/// The first of `dirs` holding `tool`, or the error naming the Debian package to install.
fn find_tool(
    dirs: &[PathBuf],
    tool: &'static str,
    package: &'static str,
) -> Result<PathBuf, EmbeddedError> {
    dirs.iter()
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
        .ok_or(EmbeddedError::ToolNotFound { tool, package })
}

/// Where the confined programs see the cluster: a tmpfs of their own namespace, so no
/// directory on the way to it is a host directory they would have to be allowed into.
const NEUTRAL: &str = "/tmp/medgrid";
const NEUTRAL_PGDATA: &str = "/tmp/medgrid/data";
const NEUTRAL_SOCKETS: &str = "/tmp/medgrid/run";

/// How the PostgreSQL programs are started.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Launch {
    /// Not root: as ourselves, on the real paths.
    Direct,
    /// Root: as the `postgres` user, in a private mount namespace (see the module doc).
    Confined(Confined),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Confined {
    bwrap: PathBuf,
    setpriv: PathBuf,
    uid: u32,
    gid: u32,
}

impl Launch {
    fn for_this_process() -> Result<Self, EmbeddedError> {
        if !running_as_root() {
            return Ok(Self::Direct);
        }
        let (uid, gid) = postgres_user()?;
        // Debian's place as a fallback: a service manager's PATH may be short.
        let mut dirs = path_dirs();
        dirs.push(PathBuf::from("/usr/bin"));
        Ok(Self::Confined(Confined {
            bwrap: find_tool(&dirs, "bwrap", "bubblewrap")?,
            setpriv: find_tool(&dirs, "setpriv", "util-linux")?,
            uid,
            gid,
        }))
    }

    /// The cluster's directories as the programs see them.
    fn seen<'a>(&self, pgdata: &'a Path, sockets: &'a Path) -> (&'a Path, &'a Path) {
        match self {
            Self::Direct => (pgdata, sockets),
            Self::Confined(_) => (Path::new(NEUTRAL_PGDATA), Path::new(NEUTRAL_SOCKETS)),
        }
    }
}

impl Confined {
    /// bwrap's arguments before the PostgreSQL program: the namespace, then setpriv. This
    /// changes which paths lead where, it is no sandbox: postgres keeps its rights on the host.
    ///
    /// Left out on purpose: `--unshare-pid` and `--unshare-ipc`, because postmaster.pid
    /// records host pids, which a later `pg_ctl` (in another namespace) signals, and a SysV
    /// shared memory key, which PostgreSQL checks to refuse a second postmaster on a cluster
    /// whose old processes still live; `--die-with-parent`, because a `serve` killed with -9
    /// leaves the cluster running for the next start to adopt, as it does without bwrap.
    fn prefix(&self, pgdata: &Path, sockets: &Path) -> Vec<OsString> {
        let os = OsString::from;
        vec![
            // The host as it is, devices included (/dev/null, /dev/shm for shared memory).
            os("--dev-bind"),
            os("/"),
            os("/"),
            // bwrap creates missing mount points, and under `--dev-bind / /` it would create
            // them on the host: they go on a fresh tmpfs instead (over /tmp, which every host
            // has and PostgreSQL does not use), 0755 so that postgres may pass (bwrap makes
            // its directories 0700 otherwise).
            os("--tmpfs"),
            os("/tmp"),
            os("--perms"),
            os("0755"),
            os("--dir"),
            os(NEUTRAL),
            os("--bind"),
            pgdata.into(),
            os(NEUTRAL_PGDATA),
            os("--bind"),
            sockets.into(),
            os(NEUTRAL_SOCKETS),
            // PostgreSQL returns to its starting directory after locating its executable:
            // the caller's (a checkout under root's home) would be refused to postgres.
            os("--chdir"),
            os(NEUTRAL),
            os("--"),
            self.setpriv.as_os_str().into(),
            format!("--reuid={}", self.uid).into(),
            format!("--regid={}", self.gid).into(),
            // No supplementary groups, as with CommandExt::uid/gid.
            os("--clear-groups"),
            os("--"),
        ]
    }
}

/// A running (or adopted) embedded cluster.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    bin: PathBuf,
    pgdata: PathBuf,
    sockets: PathBuf,
    launch: Launch,
    child: Option<Child>,
}

impl EmbeddedPostgres {
    /// Initialises the cluster on first use, then starts it, or adopts one already running
    /// on this data directory (e.g. `medgrid admin` while `medgrid serve` runs).
    pub async fn start(data_dir: &Path) -> Result<Self, EmbeddedError> {
        let bin = find_binaries()?;
        let launch = Launch::for_this_process()?;
        std::fs::create_dir_all(data_dir).map_err(step("creating the data directory"))?;
        let data_dir = data_dir
            .canonicalize()
            .map_err(step("resolving the data directory"))?;
        let mut pg = Self {
            bin,
            pgdata: data_dir.join("postgres"),
            sockets: data_dir.join("run"),
            launch,
            child: None,
        };
        // Both exist before any program runs: they are the sources of the bind mounts.
        pg.give_to_postgres(&pg.pgdata)?;
        pg.give_to_postgres(&pg.sockets)?;
        if !pg.pgdata.join("PG_VERSION").is_file() {
            pg.init()?;
        }
        if pg.ping().await.is_err() {
            pg.spawn()?;
            pg.wait_ready().await?;
        }
        pg.ensure_database().await?;
        Ok(pg)
    }

    /// `program` started the way this process must (see [`Launch`]); give it the paths of
    /// [`Self::seen`].
    fn command(&self, program: &str) -> Command {
        let exe = self.bin.join(program);
        let mut cmd = match &self.launch {
            Launch::Direct => Command::new(exe),
            Launch::Confined(confined) => {
                let mut cmd = Command::new(&confined.bwrap);
                cmd.args(confined.prefix(&self.pgdata, &self.sockets))
                    .arg(exe);
                cmd
            }
        };
        cmd.env_remove("PGDATA").env("LC_ALL", "C.UTF-8");
        cmd
    }

    /// The cluster's data and socket directories as the programs see them.
    fn seen(&self) -> (&Path, &Path) {
        self.launch.seen(&self.pgdata, &self.sockets)
    }

    fn give_to_postgres(&self, dir: &Path) -> Result<(), EmbeddedError> {
        std::fs::create_dir_all(dir).map_err(step("creating a cluster directory"))?;
        if let Launch::Confined(Confined { uid, gid, .. }) = &self.launch {
            std::os::unix::fs::chown(dir, Some(*uid), Some(*gid))
                .map_err(step("giving the cluster directory to the postgres user"))?;
        }
        Ok(())
    }

    fn init(&self) -> Result<(), EmbeddedError> {
        tracing::info!(pgdata = %self.pgdata.display(), "initialising the embedded PostgreSQL cluster");
        let out = self
            .command("initdb")
            .arg("-D")
            .arg(self.seen().0)
            .args([
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-instructions",
            ])
            .output()
            .map_err(step("running initdb"))?;
        if !out.status.success() {
            return Err(EmbeddedError::Step {
                step: "initdb",
                detail: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        Ok(())
    }

    fn log_path(&self) -> PathBuf {
        self.pgdata.join("server.log")
    }

    fn spawn(&mut self) -> Result<(), EmbeddedError> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(step("opening the PostgreSQL log"))?;
        let log_err = log
            .try_clone()
            .map_err(step("opening the PostgreSQL log"))?;
        let (pgdata, sockets) = self.seen();
        let child = self
            .command("postgres")
            .arg("-D")
            .arg(pgdata)
            .arg("-k")
            .arg(sockets)
            .args([
                "-c",
                "listen_addresses=",
                "-c",
                "unix_socket_permissions=0700",
            ])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(step("starting postgres"))?;
        tracing::info!(pid = child.id(), "embedded PostgreSQL started");
        self.child = Some(child);
        Ok(())
    }

    /// Connection options for database `name` over the cluster's socket.
    pub fn options_for(&self, name: &str) -> PgConnectOptions {
        PgConnectOptions::new()
            .socket(&self.sockets)
            .username(SUPERUSER)
            .database(name)
    }

    /// Connection options for Medgrid's database.
    pub fn connect_options(&self) -> PgConnectOptions {
        self.options_for(DATABASE)
    }

    async fn ping(&self) -> Result<(), sqlx::Error> {
        self.options_for("postgres").connect().await.map(drop)
    }

    async fn wait_ready(&mut self) -> Result<(), EmbeddedError> {
        for _ in 0..600 {
            if self.ping().await.is_ok() {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(EmbeddedError::Step {
                    step: "postgres",
                    detail: format!("exited with {status}; see {}", self.log_path().display()),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(EmbeddedError::NotReady {
            log: self.log_path().display().to_string(),
        })
    }

    async fn ensure_database(&self) -> Result<(), EmbeddedError> {
        let fail = |e: sqlx::Error| EmbeddedError::Step {
            step: "creating the medgrid database",
            detail: e.to_string(),
        };
        let mut conn = self.options_for("postgres").connect().await.map_err(fail)?;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(DATABASE)
                .fetch_one(&mut conn)
                .await
                .map_err(fail)?;
        if !exists {
            sqlx::query(&format!("CREATE DATABASE {DATABASE}"))
                .execute(&mut conn)
                .await
                .map_err(fail)?;
        }
        Ok(())
    }

    /// Whether this process started the server (rather than adopting a running one).
    pub fn started_here(&self) -> bool {
        self.child.is_some()
    }

    /// Stops the server with a fast shutdown (sessions end, data is flushed) and waits.
    ///
    /// Through `pg_ctl`, started like the server (confined too when root), rather than by
    /// signalling the pid of postmaster.pid ourselves: it is the same code path with and
    /// without root, PostgreSQL's own reading of its pid file and its own wait until the
    /// shutdown checkpoint is written and the pid file is gone; it works on an adopted
    /// cluster that is not our child; and sending a signal to another process from Rust
    /// would need `unsafe` (denied) or another dependency.
    pub fn stop(&mut self) -> Result<(), EmbeddedError> {
        let out = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.seen().0)
            .args(["-m", "fast", "-w", "-t", "60", "stop"])
            .output()
            .map_err(step("running pg_ctl stop"))?;
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
        if !out.status.success() {
            return Err(EmbeddedError::Step {
                step: "pg_ctl stop",
                detail: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        tracing::info!("embedded PostgreSQL stopped");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_bin(dir: &Path) {
        std::fs::create_dir_all(dir).expect("mkdir");
        for b in ["initdb", "postgres", "pg_ctl"] {
            std::fs::write(dir.join(b), "").expect("write");
        }
    }

    #[test]
    fn no_binaries_names_the_debian_package() {
        let root = std::env::temp_dir().join(format!("mg-nobin-{}", uuid::Uuid::new_v4()));
        let err = find_binaries_in(&[root.join("bin")], &root).expect_err("nothing there");
        assert!(
            err.to_string().contains("apt-get install postgresql"),
            "{err}"
        );
    }

    fn confined() -> Confined {
        Confined {
            bwrap: PathBuf::from("/usr/bin/bwrap"),
            setpriv: PathBuf::from("/usr/bin/setpriv"),
            uid: 101,
            gid: 104,
        }
    }

    #[test]
    fn confined_programs_see_the_cluster_on_a_fresh_tmpfs_as_postgres() {
        let args = confined().prefix(
            Path::new("/root/co/medgrid-data/postgres"),
            Path::new("/root/co/medgrid-data/run"),
        );
        let args: Vec<&str> = args.iter().map(|a| a.to_str().expect("utf-8")).collect();
        assert_eq!(
            args,
            [
                "--dev-bind",
                "/",
                "/",
                "--tmpfs",
                "/tmp",
                "--perms",
                "0755",
                "--dir",
                "/tmp/medgrid",
                "--bind",
                "/root/co/medgrid-data/postgres",
                "/tmp/medgrid/data",
                "--bind",
                "/root/co/medgrid-data/run",
                "/tmp/medgrid/run",
                "--chdir",
                "/tmp/medgrid",
                "--",
                "/usr/bin/setpriv",
                "--reuid=101",
                "--regid=104",
                "--clear-groups",
                "--",
            ]
        );
    }

    #[test]
    fn the_programs_see_the_real_paths_unless_confined() {
        let (pgdata, sockets) = (Path::new("/d/postgres"), Path::new("/d/run"));
        assert_eq!(Launch::Direct.seen(pgdata, sockets), (pgdata, sockets));
        assert_eq!(
            Launch::Confined(confined()).seen(pgdata, sockets),
            (Path::new(NEUTRAL_PGDATA), Path::new(NEUTRAL_SOCKETS))
        );
    }

    #[test]
    fn missing_bubblewrap_names_the_debian_package() {
        let root = std::env::temp_dir().join(format!("mg-notool-{}", uuid::Uuid::new_v4()));
        let err =
            find_tool(std::slice::from_ref(&root), "bwrap", "bubblewrap").expect_err("not there");
        assert!(
            err.to_string().contains("apt-get install bubblewrap"),
            "{err}"
        );
        std::fs::create_dir_all(&root).expect("mkdir");
        std::fs::write(root.join("bwrap"), "").expect("write");
        assert_eq!(
            find_tool(&[root.join("none"), root.clone()], "bwrap", "bubblewrap").expect("found"),
            root.join("bwrap")
        );
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn newest_debian_version_wins_after_path() {
        let root = std::env::temp_dir().join(format!("mg-bin-{}", uuid::Uuid::new_v4()));
        fake_bin(&root.join("13/bin"));
        fake_bin(&root.join("15/bin"));
        std::fs::create_dir_all(root.join("16/bin")).expect("mkdir");
        assert_eq!(
            find_binaries_in(&[], &root).expect("found"),
            root.join("15/bin")
        );
        fake_bin(&root.join("onpath"));
        assert_eq!(
            find_binaries_in(&[root.join("onpath")], &root).expect("found"),
            root.join("onpath")
        );
        let _ = std::fs::remove_dir_all(&root);
    }
}
