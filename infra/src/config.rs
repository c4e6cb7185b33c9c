//! Typed configuration: built-in defaults, then an optional TOML file, then `MEDGRID_*`
//! environment variables (and `DATABASE_URL`), then command-line flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Every setting, with its environment variable `MEDGRID_<FIELD>` (upper case).
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    /// Where browsers reach Medgrid, e.g. `https://medgrid.example.org` (sign-in redirect
    /// URIs, `Secure` cookies); default `http://<listen address>`.
    pub public_url: Option<String>,
    /// Address Prometheus scrapes `GET /metrics` on, apart from the public listener (which
    /// never serves it); without it, metrics are not served.
    pub metrics_listen: Option<SocketAddr>,
    /// Where the embedded PostgreSQL cluster, blobs and outbox live.
    pub data_dir: PathBuf,
    /// External PostgreSQL (`DATABASE_URL`); without it, an embedded cluster runs in `data_dir`.
    pub database_url: Option<SecretString>,
    pub database_max_connections: u32,
    pub log_format: LogFormat,
    /// Development mode: GraphiQL on GET /graphql.
    pub dev_mode: bool,
    /// Create the demo tenant and its admin on first start.
    pub demo: bool,
    pub graphql_max_depth: usize,
    pub graphql_max_complexity: usize,
    /// Largest request body accepted by /graphql, in bytes.
    pub max_body_bytes: usize,
    /// How long a mutation waits for the read models to include its own writes.
    pub read_your_writes_timeout_ms: u64,
    /// Processors look at the log at least this often, even without notifications.
    pub poll_interval_ms: u64,
    /// The shipped application catalog (descriptors, programs, samples).
    pub apps_dir: PathBuf,
    /// Run the dispatcher in this process (`serve` and `worker`).
    pub dispatcher: bool,
    /// The dispatcher polls resources at least this often.
    pub dispatch_interval_ms: u64,
    /// Requests (GraphQL, downloads, previews) one member may make per minute, in each process
    /// (0 = no limit).
    pub rate_limit_member_per_minute: u32,
    /// Requests all members of one tenant may make per minute, in each process (0 = no limit).
    pub rate_limit_tenant_per_minute: u32,
    /// Requests without valid credentials (sign-in, password login, bad tokens) one client
    /// address may make per minute, in each process (0 = no limit).
    pub rate_limit_anonymous_per_minute: u32,
    /// A subscription connection resolves its token again at least this often (and before
    /// each event it sends); closed once it no longer resolves. At least 1.
    pub ws_recheck_seconds: u64,
    /// Subscriptions one connection may run at once (0 = no limit).
    pub ws_max_subscriptions: usize,
    /// Failed password sign-ins one account may have in a window before it must wait
    /// for the window's end (0 = no limit). Unknown accounts are counted alike.
    pub sign_in_failures_per_account: u32,
    /// Failed password sign-ins all accounts of one tenant may have in a window (0 = no
    /// limit): guessing one password across many accounts stops too.
    pub sign_in_failures_per_tenant: u32,
    /// The window of those counts.
    pub sign_in_failure_window_seconds: u64,
    /// Password hashes computed at once (argon2: CPU and 19 MiB each); more wait.
    pub password_hash_concurrency: usize,
    /// Reverse proxies in front of Medgrid (comma-separated addresses or CIDR ranges):
    /// when a request comes from one, its client is the rightmost `X-Forwarded-For` hop
    /// that is not a trusted proxy. Empty: the header is ignored.
    pub trusted_proxies: String,
    /// Identity providers' keys are fetched again after this long.
    pub oidc_keys_ttl_seconds: u64,
    /// A token signed with a key not in the cache makes Medgrid fetch the provider's keys
    /// again, at most once per this interval per provider.
    pub oidc_key_refetch_ms: u64,
    /// Accept identity providers on this machine (any name or address leading to
    /// 127.0.0.0/8 or `::1`): for development and tests; otherwise a tenant admin could make
    /// the server probe its own ports.
    pub oidc_allow_loopback: bool,
    /// Accept identity providers on private networks (RFC 1918, CGNAT 100.64/10, IPv6
    /// unique-local): an institution's provider inside its own network. Cloud metadata and
    /// link-local addresses stay refused.
    pub oidc_allow_private: bool,
    /// The largest file one upload may bring, in bytes (quotas may allow less).
    pub upload_max_bytes: u64,
    /// Imports may fetch from loopback and private networks (tests and labs only); never
    /// from link-local or cloud metadata addresses.
    pub import_allow_private: bool,
    /// The most objects one S3 import lists (its listing is held until the downloads
    /// start; an endless listing of empty objects stops here).
    pub import_max_files: u64,
    /// The largest answer a DICOMweb study search (QIDO-RS) may give, in bytes: read as it
    /// comes, and broken off at this size.
    pub dicomweb_search_max_bytes: u64,
    /// The largest DICOM instance an import retrieves, in bytes: spooled to disk as it
    /// comes (never whole in memory) and broken off at this size; de-identifying it then
    /// holds its data set in memory once.
    pub dicomweb_instance_max_bytes: u64,
    /// Previews drawn at once in each process (each holds its source in memory); more
    /// wait their turn.
    pub preview_concurrency: usize,
    /// The largest file (after gunzip) a preview is drawn of, in bytes; larger files get
    /// no preview, with a message saying so.
    pub preview_max_source_bytes: u64,
    /// Where resumable uploads keep the bytes received so far (and DICOMweb imports spool
    /// the instance under way); default `<data_dir>/uploads`. Several API replicas must share it (a resumed upload may reach
    /// another replica).
    pub upload_spool_dir: Option<PathBuf>,
    /// Resumable uploads untouched this long are removed (at the next sweep).
    pub upload_expiry_hours: u64,
    /// File contents nothing refers to any more are removed this often.
    pub blob_sweep_interval_ms: u64,
    /// What stays in a trash longer than this is purged (at the next sweep).
    pub trash_retention_hours: u64,
    /// File contents go to this S3 bucket; without it, to `<data_dir>/blobs`.
    pub s3_bucket: Option<String>,
    /// The S3 server, e.g. `http://127.0.0.1:3900` (Garage); default AWS's.
    pub s3_endpoint: Option<String>,
    pub s3_region: String,
    pub s3_access_key_id: Option<String>,
    pub s3_secret_access_key: Option<SecretString>,
    /// Path-style addressing (`endpoint/bucket/key`), which self-hosted servers expect.
    pub s3_path_style: bool,
    /// Keys start with this (several installations may share a bucket).
    pub s3_prefix: String,
    /// Run the notifier and the mailer in this process (`serve`, `worker`).
    pub mailer: bool,
    /// The SMTP server mail goes through, e.g. `smtp://relay.example.org:587?tls=required`
    /// (STARTTLS), `smtps://user:password@mail.example.org:465` (implicit TLS),
    /// `smtp://127.0.0.1:2525` (plain, local relays); without it, mails are written to
    /// `mail_outbox_dir`.
    pub smtp_url: Option<SecretString>,
    /// A PEM file of certificate authorities the SMTP server's certificate may also be
    /// signed by (a private CA), besides the usual public ones.
    pub smtp_ca_file: Option<PathBuf>,
    /// One SMTP exchange may take this long before it counts as an outage.
    pub smtp_timeout_seconds: u64,
    /// The From of every mail.
    pub mail_from: String,
    /// Without `smtp_url`, each mail is written here as a `.eml` file; default
    /// `<data_dir>/mail`.
    pub mail_outbox_dir: Option<PathBuf>,
    /// An immediate mail waits this long for more news to join it.
    pub mail_delay_ms: u64,
    /// At most one immediate mail per member per this many seconds (a burst is one mail).
    pub mail_window_seconds: u64,
    /// The longest pause between two tries of a mail the SMTP server did not take.
    pub mail_retry_max_seconds: u64,
    /// Digests, nearly full quotas and old mails are looked at this often.
    pub mail_scan_interval_ms: u64,
    /// Mails (and what they told) are kept this many days after they were sent.
    pub mail_retention_days: u64,
    /// The host uids attempts run as when Medgrid runs as root (`FIRST-LAST`): one per
    /// attempt, none in use by anyone else.
    pub sandbox_uids: String,
    /// Memory of an attempt whose application does not say (`suggested-resources.ram`).
    pub sandbox_memory_mb: u64,
    /// Processes (and threads) one attempt may have at once.
    pub sandbox_processes: u32,
    /// Disk space of an attempt's work directory and logs when its application does not
    /// say (`suggested-resources.disk-space`).
    pub sandbox_disk_mb: u64,
    /// Hold memory and processes with cgroups where this host lets Medgrid create them
    /// (else rlimits stand in).
    pub sandbox_cgroups: bool,
    /// The registries application images may come from, comma-separated (`docker.io`,
    /// `quay.io`…): a descriptor naming another is refused at registration.
    pub image_registries: String,
    /// Where images are fetched from instead of their registry, comma-separated
    /// `REGISTRY=URL` (`docker.io=http://127.0.0.1:5000`; `http://` for a mirror without TLS).
    pub image_mirrors: String,
    /// Where pulled images are kept (by digest), default `<data_dir>/images`.
    pub image_cache_dir: Option<PathBuf>,
}

#[derive(Serialize)]
struct Defaults {
    listen: SocketAddr,
    data_dir: PathBuf,
    database_max_connections: u32,
    log_format: LogFormat,
    dev_mode: bool,
    demo: bool,
    graphql_max_depth: usize,
    graphql_max_complexity: usize,
    max_body_bytes: usize,
    read_your_writes_timeout_ms: u64,
    poll_interval_ms: u64,
    apps_dir: PathBuf,
    dispatcher: bool,
    dispatch_interval_ms: u64,
    rate_limit_member_per_minute: u32,
    rate_limit_tenant_per_minute: u32,
    rate_limit_anonymous_per_minute: u32,
    ws_recheck_seconds: u64,
    ws_max_subscriptions: usize,
    sign_in_failures_per_account: u32,
    sign_in_failures_per_tenant: u32,
    sign_in_failure_window_seconds: u64,
    password_hash_concurrency: usize,
    trusted_proxies: String,
    oidc_keys_ttl_seconds: u64,
    oidc_key_refetch_ms: u64,
    oidc_allow_loopback: bool,
    oidc_allow_private: bool,
    upload_max_bytes: u64,
    import_allow_private: bool,
    import_max_files: u64,
    dicomweb_search_max_bytes: u64,
    dicomweb_instance_max_bytes: u64,
    preview_concurrency: usize,
    preview_max_source_bytes: u64,
    upload_expiry_hours: u64,
    blob_sweep_interval_ms: u64,
    trash_retention_hours: u64,
    s3_region: String,
    s3_path_style: bool,
    s3_prefix: String,
    mailer: bool,
    smtp_timeout_seconds: u64,
    mail_from: String,
    mail_delay_ms: u64,
    mail_window_seconds: u64,
    mail_retry_max_seconds: u64,
    mail_scan_interval_ms: u64,
    mail_retention_days: u64,
    sandbox_uids: String,
    sandbox_memory_mb: u64,
    sandbox_processes: u32,
    sandbox_disk_mb: u64,
    sandbox_cgroups: bool,
    image_registries: String,
    image_mirrors: String,
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("medgrid-data"),
            database_max_connections: 20,
            log_format: LogFormat::Text,
            dev_mode: false,
            demo: true,
            graphql_max_depth: 12,
            graphql_max_complexity: 500,
            max_body_bytes: 1024 * 1024,
            read_your_writes_timeout_ms: 5000,
            poll_interval_ms: 500,
            apps_dir: PathBuf::from("apps"),
            dispatcher: true,
            dispatch_interval_ms: 1000,
            rate_limit_member_per_minute: 600,
            rate_limit_tenant_per_minute: 6000,
            rate_limit_anonymous_per_minute: 60,
            ws_recheck_seconds: 30,
            ws_max_subscriptions: 16,
            sign_in_failures_per_account: 10,
            sign_in_failures_per_tenant: 100,
            sign_in_failure_window_seconds: 900,
            password_hash_concurrency: 4,
            trusted_proxies: String::new(),
            oidc_keys_ttl_seconds: 3600,
            oidc_key_refetch_ms: 10_000,
            oidc_allow_loopback: false,
            oidc_allow_private: false,
            upload_max_bytes: 100 << 30,
            import_allow_private: false,
            import_max_files: 100_000,
            dicomweb_search_max_bytes: 8 << 20,
            dicomweb_instance_max_bytes: 512 << 20,
            preview_concurrency: 2,
            preview_max_source_bytes: 128 << 20,
            upload_expiry_hours: 24,
            blob_sweep_interval_ms: 300_000,
            trash_retention_hours: 720,
            s3_region: "us-east-1".to_owned(),
            s3_path_style: true,
            s3_prefix: String::new(),
            mailer: true,
            smtp_timeout_seconds: 30,
            mail_from: "Medgrid <medgrid@localhost>".to_owned(),
            mail_delay_ms: 10_000,
            mail_window_seconds: 60,
            mail_retry_max_seconds: 600,
            mail_scan_interval_ms: 60_000,
            mail_retention_days: 30,
            sandbox_uids: "2000000000-2016777215".to_owned(),
            sandbox_memory_mb: 4096,
            sandbox_processes: 1024,
            sandbox_disk_mb: 20 * 1024,
            sandbox_cgroups: true,
            image_registries: "docker.io,quay.io,ghcr.io".to_owned(),
            image_mirrors: String::new(),
        }
    }
}

/// Values given on the command line; they win over everything else.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
}

impl Config {
    /// Loads the configuration; `file` is the TOML file (`--config` or `MEDGRID_CONFIG`).
    pub fn load(file: Option<&Path>, overrides: Overrides) -> Result<Self, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(Defaults::default()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        figment
            .merge(Env::prefixed("MEDGRID_").ignore(&["config"]))
            .merge(Env::raw().only(&["database_url"]))
            .merge(Serialized::defaults(overrides))
            .extract()
            .map_err(Box::new)
    }

    pub fn read_your_writes_timeout(&self) -> Duration {
        Duration::from_millis(self.read_your_writes_timeout_ms)
    }

    /// Where job work directories and outputs live.
    pub fn jobs_dir(&self) -> PathBuf {
        self.data_dir.join("jobs")
    }

    pub fn dispatch_interval(&self) -> Duration {
        Duration::from_millis(self.dispatch_interval_ms)
    }

    pub fn ws_recheck(&self) -> Duration {
        Duration::from_secs(self.ws_recheck_seconds.max(1))
    }

    pub fn oidc_keys_ttl(&self) -> Duration {
        Duration::from_secs(self.oidc_keys_ttl_seconds)
    }

    pub fn oidc_key_refetch_interval(&self) -> Duration {
        Duration::from_millis(self.oidc_key_refetch_ms)
    }

    /// Where the local blob store keeps file contents.
    pub fn blobs_dir(&self) -> PathBuf {
        self.data_dir.join("blobs")
    }

    /// Where resumable uploads keep their bytes until they complete.
    pub fn upload_spool_dir(&self) -> PathBuf {
        self.upload_spool_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("uploads"))
    }

    pub fn upload_expiry(&self) -> Duration {
        Duration::from_secs(self.upload_expiry_hours * 3600)
    }

    pub fn trash_retention(&self) -> Duration {
        Duration::from_secs(self.trash_retention_hours * 3600)
    }

    pub fn blob_sweep_interval(&self) -> Duration {
        Duration::from_millis(self.blob_sweep_interval_ms)
    }

    /// Where mails go without an SMTP server.
    pub fn mail_outbox_dir(&self) -> PathBuf {
        self.mail_outbox_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("mail"))
    }

    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }

    /// The registries images may come from, and those mirrored (a mirror stands for them).
    pub fn image_registries(&self) -> Vec<String> {
        let mut registries: Vec<String> = self
            .image_registries
            .split(',')
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
            .collect();
        for (registry, _) in self.image_mirror_list() {
            if !registries.contains(&registry) {
                registries.push(registry);
            }
        }
        registries
    }

    /// `(registry, mirror URL)` pairs of `image_mirrors`.
    pub fn image_mirror_list(&self) -> Vec<(String, String)> {
        self.image_mirrors
            .split(',')
            .filter_map(|pair| pair.split_once('='))
            .map(|(r, m)| (r.trim().to_owned(), m.trim().to_owned()))
            .filter(|(r, m)| !r.is_empty() && !m.is_empty())
            .collect()
    }

    /// Where pulled images are kept.
    pub fn image_cache_dir(&self) -> PathBuf {
        self.image_cache_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("images"))
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's own signature
mod tests {
    use super::*;

    #[test]
    fn defaults_then_file_then_overrides() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("m.toml", "listen = \"127.0.0.1:9999\"\ndev_mode = true\n")?;
            jail.set_env("MEDGRID_GRAPHQL_MAX_DEPTH", "7");
            jail.set_env("MEDGRID_METRICS_LISTEN", "127.0.0.1:9464");
            jail.set_env("DATABASE_URL", "postgres://x@127.0.0.1/y");
            let config = Config::load(
                Some(Path::new("m.toml")),
                Overrides {
                    data_dir: Some("/tmp/d".into()),
                    ..Overrides::default()
                },
            )
            .map_err(|e| *e)?;
            assert_eq!(config.listen.port(), 9999);
            assert!(config.dev_mode);
            assert_eq!(config.graphql_max_depth, 7);
            assert_eq!(config.metrics_listen.map(|a| a.port()), Some(9464));
            assert!(config.database_url.is_some());
            assert_eq!(config.data_dir, PathBuf::from("/tmp/d"));
            assert!(config.demo, "defaults stay when nothing overrides them");
            Ok(())
        });
    }

    #[test]
    fn secrets_are_not_printed() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("DATABASE_URL", "postgres://u:hunter2@127.0.0.1/y");
            let config = Config::load(None, Overrides::default()).map_err(|e| *e)?;
            assert!(!format!("{config:?}").contains("hunter2"));
            assert_eq!(
                config.metrics_listen, None,
                "metrics are not served by default"
            );
            Ok(())
        });
    }
}
