//! A private PostgreSQL cluster inside the data directory, run from the system's PostgreSQL
//! binaries: the zero-configuration default of `medgrid serve`.
//!
//! The cluster listens on a Unix socket in `<data_dir>/run` only (no TCP port), with trust
//! authentication: only processes that can enter that directory can connect. PostgreSQL
//! refuses to run as root, so when Medgrid runs as root it runs `initdb` and `postgres` as
//! the `postgres` system user and gives that user the cluster's directories.

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
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    find_binaries_in(&on_path, Path::new("/usr/lib/postgresql"))
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

/// A running (or adopted) embedded cluster.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    bin: PathBuf,
    pgdata: PathBuf,
    sockets: PathBuf,
    run_as: Option<(u32, u32)>,
    child: Option<Child>,
}

impl EmbeddedPostgres {
    /// Initialises the cluster on first use, then starts it, or adopts one already running
    /// on this data directory (e.g. `medgrid admin` while `medgrid serve` runs).
    pub async fn start(data_dir: &Path) -> Result<Self, EmbeddedError> {
        let bin = find_binaries()?;
        let run_as = if running_as_root() {
            Some(postgres_user()?)
        } else {
            None
        };
        std::fs::create_dir_all(data_dir).map_err(step("creating the data directory"))?;
        let data_dir = data_dir
            .canonicalize()
            .map_err(step("resolving the data directory"))?;
        let mut pg = Self {
            bin,
            pgdata: data_dir.join("postgres"),
            sockets: data_dir.join("run"),
            run_as,
            child: None,
        };
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

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(program));
        if let Some((uid, gid)) = self.run_as {
            use std::os::unix::process::CommandExt;
            cmd.uid(uid).gid(gid);
        }
        cmd.env_remove("PGDATA").env("LC_ALL", "C.UTF-8");
        cmd
    }

    fn give_to_postgres(&self, dir: &Path) -> Result<(), EmbeddedError> {
        std::fs::create_dir_all(dir).map_err(step("creating a cluster directory"))?;
        if let Some((uid, gid)) = self.run_as {
            std::os::unix::fs::chown(dir, Some(uid), Some(gid))
                .map_err(step("giving the cluster directory to the postgres user"))?;
        }
        Ok(())
    }

    fn init(&self) -> Result<(), EmbeddedError> {
        self.give_to_postgres(&self.pgdata)?;
        tracing::info!(pgdata = %self.pgdata.display(), "initialising the embedded PostgreSQL cluster");
        let out = self
            .command("initdb")
            .arg("-D")
            .arg(&self.pgdata)
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
        self.give_to_postgres(&self.sockets)?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(step("opening the PostgreSQL log"))?;
        let log_err = log
            .try_clone()
            .map_err(step("opening the PostgreSQL log"))?;
        let child = self
            .command("postgres")
            .arg("-D")
            .arg(&self.pgdata)
            .arg("-k")
            .arg(&self.sockets)
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
    pub fn stop(&mut self) -> Result<(), EmbeddedError> {
        let out = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.pgdata)
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
