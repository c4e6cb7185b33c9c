//! Composition: wires the infrastructure into the use cases, the API and the processors.
//! Used by the `medgrid` binary and by the integration tests, so both run the same thing.

pub mod bench;
pub mod bootstrap;
pub mod database;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use medgrid_api::client::TrustedProxies;
use medgrid_api::limits::{Budgets, RateLimits};
use medgrid_api::subscriptions::SocketLimits;
use medgrid_api::transfers::UploadLimit;
use medgrid_api::{ApiConfig, AppState};
use medgrid_domain::access::sign_in::SignInLimits;
use medgrid_graphql::usecases::passwords::Passwords;
use medgrid_graphql::{Limits, MedgridSchema, Services};
use medgrid_infra::blobs::{BlobStore, LocalBlobs};
use medgrid_infra::config::Config;
use medgrid_infra::contents::Contents;
use medgrid_infra::dicom::directory::GuardedDirectory;
use medgrid_infra::images::ImageStore;
use medgrid_infra::jobfiles::JobArea;
use medgrid_infra::jobtokens::SignedJobTokens;
use medgrid_infra::mail::{self, MailSettings, MailTransport, SmtpSettings};
use medgrid_infra::oidc::{KeyPolicy, ProviderKeys};
use medgrid_infra::outbound::{Guard, Reach};
use medgrid_infra::s3::{S3Blobs, S3Settings};
use medgrid_infra::sandbox::{Limits as SandboxLimits, Sandbox, UidRange, own_uid};
use medgrid_infra::sealed::SealedSecrets;
use medgrid_infra::secrets::LocalSecrets;
use medgrid_infra::sign_in_failures::CountedSignInFailures;
use medgrid_infra::store::{EventStore, ReadYourWrites};
use medgrid_infra::telemetry::Metrics;
use medgrid_infra::unsubscribe::SignedUnsubscribeTokens;
use medgrid_infra::uploads::Uploads;
use medgrid_projections::runner::RunnerConfig;
use medgrid_web::{Portal, Previews};
use medgrid_worker::archiver::Archiver;
use medgrid_worker::dispatcher::{Delegation, Dispatcher, DispatcherConfig, Sandboxing};
use medgrid_worker::housekeeping::Housekeeping;
use medgrid_worker::images::Images;

use medgrid_worker::importer::Importer;
use medgrid_worker::notify::{Mailer, MailerConfig};
use medgrid_worker::{Processors, Worker};
use sqlx::PgPool;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Names of the read models that mutations wait for.
pub fn projection_names() -> Vec<&'static str> {
    medgrid_projections::all()
        .iter()
        .map(|p| p.name())
        .collect()
}

/// Where browsers (and running jobs) reach this installation.
fn public_url(config: &Config) -> String {
    config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", config.listen))
}

/// The use-case services over one database.
pub struct Core {
    pub services: Services,
    pub metrics: Arc<Metrics>,
    /// Bumped by in-process processors; shared with the worker.
    pub progress: Arc<watch::Sender<u64>>,
    pub area: JobArea,
    /// File contents of spaces.
    pub contents: Contents,
    /// Resumable uploads under way.
    pub uploads: Uploads,
    /// The SSRF guard of imports (it learns the listen address when the server binds).
    pub guard: Guard,
    /// The same guard with the reach of identity providers (discovery, keys, token
    /// endpoints of browser sign-in).
    pub providers: Guard,
    /// Where mails go: the SMTP server, or the outbox directory.
    pub mail: Arc<dyn MailTransport>,
    /// How attempts are sandboxed.
    pub sandbox: Arc<Sandbox>,
    /// Applications' images, pulled for the dispatcher.
    pub images: Arc<Images>,
}

/// Where file contents live: the S3 bucket when one is configured, else a directory in
/// the data dir.
pub fn blob_store(config: &Config) -> anyhow::Result<Arc<dyn BlobStore>> {
    let Some(bucket) = &config.s3_bucket else {
        return Ok(Arc::new(LocalBlobs::new(config.blobs_dir())?));
    };
    let (Some(key_id), Some(secret)) = (&config.s3_access_key_id, &config.s3_secret_access_key)
    else {
        anyhow::bail!(
            "MEDGRID_S3_BUCKET needs MEDGRID_S3_ACCESS_KEY_ID and MEDGRID_S3_SECRET_ACCESS_KEY"
        );
    };
    Ok(Arc::new(S3Blobs::new(&S3Settings {
        endpoint: config.s3_endpoint.clone(),
        region: config.s3_region.clone(),
        bucket: bucket.clone(),
        access_key_id: key_id.clone(),
        secret_access_key: secret.clone(),
        path_style: config.s3_path_style,
        prefix: config.s3_prefix.clone(),
    })))
}

/// Where mails go: the SMTP server when one is configured, else `.eml` files in the
/// outbox directory (the embedded default).
pub fn mail_transport(config: &Config) -> anyhow::Result<Arc<dyn MailTransport>> {
    mail::check_sender(&config.mail_from)?;
    let settings = match &config.smtp_url {
        Some(url) => MailSettings::Smtp(SmtpSettings {
            url: url.clone(),
            ca_file: config.smtp_ca_file.clone(),
            timeout: Duration::from_secs(config.smtp_timeout_seconds),
        }),
        None => MailSettings::Outbox(config.mail_outbox_dir()),
    };
    Ok(mail::transport(&settings)?)
}

/// How attempts are sandboxed (see `medgrid_infra::sandbox`): as root, each attempt gets a
/// uid of its own from `MEDGRID_SANDBOX_UIDS`.
pub fn sandbox(config: &Config) -> anyhow::Result<Sandbox> {
    let uids = match own_uid() {
        0 => Some(config.sandbox_uids.parse::<UidRange>()?),
        _ => None,
    };
    Ok(Sandbox {
        uids,
        defaults: SandboxLimits {
            memory_mb: config.sandbox_memory_mb.max(16),
            processes: config.sandbox_processes.max(8),
            disk_mb: config.sandbox_disk_mb.max(1),
        },
        cgroups: config.sandbox_cgroups,
    })
}

/// An absolute form of `path` (relative paths are taken from the current directory), so
/// that job scripts find it from their own work directories.
fn absolute(path: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    Ok(std::path::absolute(path)?)
}

impl Core {
    pub fn new(pool: &PgPool, config: &Config) -> anyhow::Result<Self> {
        let sandbox = Arc::new(sandbox(config)?);
        let metrics = Arc::new(Metrics::new()?);
        let (progress, progress_rx) = watch::channel(0u64);
        let ryw = ReadYourWrites::new(
            pool.clone(),
            &medgrid_projections::all(),
            config.read_your_writes_timeout(),
            progress_rx.clone(),
        );
        let bus = EventStore::new(pool, ryw, metrics.clone());
        let area = JobArea::new(absolute(&config.jobs_dir())?, absolute(&config.apps_dir)?);
        let guard = Guard::new(Reach {
            loopback: config.import_allow_private,
            private: config.import_allow_private,
        });
        guard.add_own(config.listen);
        let providers = guard.with_reach(Reach {
            loopback: config.oidc_allow_loopback,
            private: config.oidc_allow_private,
        });
        let secrets: Arc<dyn medgrid_domain::ports::Secrets> = Arc::new(LocalSecrets);
        let passwords = Passwords::new(secrets.clone(), config.password_hash_concurrency)
            .map_err(|e| anyhow::anyhow!("password hashing: {}", e.message))?;
        let services = Services {
            pool: pool.clone(),
            bus: Arc::new(bus),
            secrets,
            passwords: Arc::new(passwords),
            sign_in_failures: Arc::new(CountedSignInFailures::new(pool)),
            sign_in_limits: SignInLimits {
                per_account: config.sign_in_failures_per_account,
                per_tenant: config.sign_in_failures_per_tenant,
                window: Duration::from_secs(config.sign_in_failure_window_seconds),
            },
            identity: Arc::new(ProviderKeys::new(
                KeyPolicy {
                    ttl: config.oidc_keys_ttl(),
                    refetch_interval: config.oidc_key_refetch_interval(),
                },
                providers.clone(),
            )),
            providers: Arc::new(providers.clone()),
            image_registries: Arc::new(config.image_registries()),

            files: Arc::new(area.clone()),
            job_tokens: Arc::new(SignedJobTokens::new(pool)),
            unsubscribe: Arc::new(SignedUnsubscribeTokens::new(pool)),
            sealed: Arc::new(SealedSecrets::new(pool)),
            outbound: Arc::new(guard.clone()),
            dicom: Arc::new(GuardedDirectory {
                guard: guard.clone(),
                max_answer_bytes: config.dicomweb_search_max_bytes,
            }),
            progress: progress_rx,
        };
        let contents = Contents::new(pool.clone(), blob_store(config)?);
        let uploads = Uploads::new(
            pool.clone(),
            config.upload_spool_dir(),
            config.upload_expiry(),
        )?;
        Ok(Self {
            services,
            metrics,
            progress: Arc::new(progress),
            area,
            contents,
            uploads,
            guard,
            providers,
            mail: mail_transport(config)?,
            sandbox,
            images: Arc::new(Images::new(ImageStore::new(
                absolute(&config.image_cache_dir())?,
                config.image_mirror_list(),
            ))),
        })
    }

    pub fn schema(&self, config: &Config) -> MedgridSchema {
        medgrid_graphql::build_schema(
            self.services.clone(),
            Limits {
                depth: config.graphql_max_depth,
                complexity: config.graphql_max_complexity,
            },
        )
    }

    /// Starts this process's processors.
    pub fn worker(&self, config: &Config) -> Worker {
        let dispatcher = config.dispatcher.then(|| {
            (
                Arc::new(self.dispatcher(config)),
                DispatcherConfig {
                    interval: config.dispatch_interval(),
                },
            )
        });
        Worker::spawn(
            self.services.pool.clone(),
            RunnerConfig {
                poll_interval: config.poll_interval(),
                ..RunnerConfig::default()
            },
            self.progress.clone(),
            Processors {
                dispatcher,
                archiver: config.dispatcher.then(|| Arc::new(self.archiver(config))),
                importer: config.dispatcher.then(|| Arc::new(self.importer(config))),
                mailer: config.mailer.then(|| Arc::new(self.mailer(config))),
                housekeeping: Some(Housekeeping {
                    pool: self.services.pool.clone(),
                    bus: self.services.bus.clone(),
                    contents: self.contents.clone(),
                    uploads: self.uploads.clone(),
                    trash_retention: config.trash_retention(),
                    every: config.blob_sweep_interval(),
                }),
            },
        )
    }

    /// Job outputs into their owners' homes; runs where the dispatcher runs.
    pub fn archiver(&self, config: &Config) -> Archiver {
        Archiver {
            pool: self.services.pool.clone(),
            bus: self.services.bus.clone(),
            contents: self.contents.clone(),
            area: self.area.clone(),
            every: config.dispatch_interval(),
        }
    }

    /// Mails about jobs, tickets, shares and quotas; runs in every worker (one at a time,
    /// by lease).
    pub fn mailer(&self, config: &Config) -> Mailer {
        Mailer::new(
            self.services.pool.clone(),
            self.mail.clone(),
            self.services.unsubscribe.clone(),
            MailerConfig {
                from: config.mail_from.clone(),
                public_url: public_url(config),
                delay: Duration::from_millis(config.mail_delay_ms),
                window: Duration::from_secs(config.mail_window_seconds),
                retry_max: Duration::from_secs(config.mail_retry_max_seconds),
                scan_every: Duration::from_millis(config.mail_scan_interval_ms),
                retention: Duration::from_secs(config.mail_retention_days * 86_400),
                every: config.poll_interval(),
            },
        )
    }

    /// Imports into spaces; runs where the dispatcher runs.
    pub fn importer(&self, config: &Config) -> Importer {
        Importer {
            pool: self.services.pool.clone(),
            bus: self.services.bus.clone(),
            contents: self.contents.clone(),
            sealed: self.services.sealed.clone(),
            guard: self.guard.clone(),
            max_bytes: config.upload_max_bytes,
            max_files: config.import_max_files,
            max_instance_bytes: config.dicomweb_instance_max_bytes,
            spool_dir: config.upload_spool_dir(),
            every: config.dispatch_interval(),
            backoff: Duration::from_secs(1),
        }
    }

    /// The dispatcher's commands return once written; it waits for the `jobs` read
    /// model, the only one it reads, after each step.
    pub fn dispatcher(&self, config: &Config) -> Dispatcher {
        let pool = &self.services.pool;
        let progress = self.services.progress.clone();
        let bus = EventStore::new(
            pool,
            ReadYourWrites::none(pool.clone(), progress.clone()),
            self.metrics.clone(),
        );
        let settle = ReadYourWrites::new(
            pool.clone(),
            &[Arc::new(medgrid_projections::jobs::Jobs)],
            config.read_your_writes_timeout(),
            progress,
        );
        let delegation = Delegation {
            tokens: self.services.job_tokens.clone(),
            url: public_url(config),
        };
        Dispatcher::new(
            pool.clone(),
            Arc::new(bus),
            settle,
            self.area.clone(),
            self.contents.store().clone(),
            delegation,
            Sandboxing {
                sandbox: self.sandbox.clone(),
                images: self.images.clone(),
            },
        )
    }
}

/// A running HTTP server: the public listener, and the metrics listener when configured.
pub struct Server {
    pub addr: SocketAddr,
    /// Where `GET /metrics` is served (`metrics_listen`), if anywhere.
    pub metrics_addr: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<std::io::Result<()>>>,
}

impl Server {
    pub async fn start(core: &Core, config: &Config) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let addr = listener.local_addr()?;
        core.guard.add_own(addr);
        let metrics_listener = match config.metrics_listen {
            Some(at) => Some(
                tokio::net::TcpListener::bind(at)
                    .await
                    .with_context(|| format!("cannot listen for metrics on {at}"))?,
            ),
            None => None,
        };
        let metrics_addr = match &metrics_listener {
            Some(l) => Some(l.local_addr()?),
            None => None,
        };
        if let Some(at) = metrics_addr {
            core.guard.add_own(at);
        }
        let public_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"));
        let limits = Arc::new(RateLimits::new(
            Budgets {
                member: config.rate_limit_member_per_minute,
                tenant: config.rate_limit_tenant_per_minute,
                anonymous: config.rate_limit_anonymous_per_minute,
            },
            config.trusted_proxies.parse::<TrustedProxies>()?,
        ));
        let previews = Previews::new(
            config.preview_concurrency,
            config.preview_max_source_bytes,
            limits.clone(),
        );
        let state = AppState {
            portal: Arc::new(
                Portal::new(&public_url, core.providers.clone()).with_previews(previews),
            ),
            schema: core.schema(config),
            services: core.services.clone(),
            metrics: core.metrics.clone(),
            limits,
            config: Arc::new(ApiConfig {
                dev_mode: config.dev_mode,
                max_body_bytes: config.max_body_bytes,
                projections: projection_names(),
                sockets: SocketLimits {
                    recheck: config.ws_recheck(),
                    max_subscriptions: config.ws_max_subscriptions,
                },
            }),
            contents: core.contents.clone(),
            upload_limit: UploadLimit(config.upload_max_bytes),
            uploads: core.uploads.clone(),
        };
        let (stop, stopped) = watch::channel(false);
        let mut tasks = vec![];
        if let Some(listener) = metrics_listener {
            let app = medgrid_api::metrics_router(state.clone());
            let mut stopped = stopped.clone();
            tasks.push(tokio::spawn(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.changed().await;
                    })
                    .await
            }));
        }
        let app = medgrid_api::router(state);
        let mut stopped = stopped;
        tasks.push(tokio::spawn(async move {
            // client addresses for the per-address limits of anonymous requests
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move {
                let _ = stopped.changed().await;
            })
            .await
        }));
        tracing::info!(%addr, "listening");
        match metrics_addr {
            Some(at) => tracing::info!(%at, "serving metrics"),
            None => tracing::info!("metrics are not served (set MEDGRID_METRICS_LISTEN)"),
        }
        Ok(Self {
            addr,
            metrics_addr,
            stop,
            tasks,
        })
    }

    /// Stops accepting connections and waits (bounded) for requests in flight.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(
            medgrid_api::SHUTDOWN_GRACE,
            futures::future::join_all(self.tasks),
        )
        .await;
    }
}
