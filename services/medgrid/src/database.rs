//! The database Medgrid runs on: `DATABASE_URL`, or the embedded cluster in the data dir.

use std::str::FromStr;

use anyhow::Context as _;
use medgrid_infra::config::Config;
use medgrid_infra::db;
use medgrid_infra::embedded::EmbeddedPostgres;
use secrecy::ExposeSecret;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, PgPool};

pub struct Database {
    pub pool: PgPool,
    embedded: Option<EmbeddedPostgres>,
}

impl Database {
    /// Connects (starting the embedded cluster if no `DATABASE_URL` is set) and migrates.
    pub async fn open(config: &Config) -> anyhow::Result<Self> {
        let (options, embedded) = match &config.database_url {
            Some(url) => {
                let options = PgConnectOptions::from_str(url.expose_secret())
                    .context("DATABASE_URL is not a valid PostgreSQL URL")?;
                (options, None)
            }
            None => {
                let pg = EmbeddedPostgres::start(&config.data_dir).await?;
                (pg.connect_options(), Some(pg))
            }
        };
        let pool = db::connect(options, config.database_max_connections)
            .await
            .context("cannot connect to PostgreSQL")?;
        db::migrate(&pool).await.context("migrations failed")?;
        Ok(Self { pool, embedded })
    }

    /// Closes the pool, then stops the embedded cluster if `stop_embedded` (serve always
    /// does; one-shot commands only if they started it themselves).
    pub async fn close(mut self, stop_embedded: bool) -> anyhow::Result<()> {
        self.pool.close().await;
        if let Some(pg) = self.embedded.as_mut()
            && (stop_embedded || pg.started_here())
        {
            pg.stop()?;
        }
        Ok(())
    }
}

/// A throw-away database on the configured server (for benchmarks), dropped by `close`.
pub struct Scratch {
    pub pool: PgPool,
    name: String,
    server: PgConnectOptions,
    embedded: Option<EmbeddedPostgres>,
}

impl Scratch {
    pub async fn create(config: &Config, max_connections: u32) -> anyhow::Result<Self> {
        let (server, embedded) = match &config.database_url {
            Some(url) => (
                PgConnectOptions::from_str(url.expose_secret())
                    .context("DATABASE_URL is not a valid PostgreSQL URL")?,
                None,
            ),
            None => {
                let pg = EmbeddedPostgres::start(&config.data_dir).await?;
                (pg.options_for("postgres"), Some(pg))
            }
        };
        let name = format!("medgrid_bench_{}", uuid::Uuid::new_v4().simple());
        let mut conn = server
            .connect()
            .await
            .context("cannot connect to PostgreSQL")?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .context("cannot create the scratch database (CREATEDB needed)")?;
        let pool = db::connect(server.clone().database(&name), max_connections).await?;
        db::migrate(&pool).await?;
        Ok(Self {
            pool,
            name,
            server,
            embedded,
        })
    }

    pub async fn close(mut self) -> anyhow::Result<()> {
        self.pool.close().await;
        let mut conn = self.server.connect().await?;
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut conn)
        .await?;
        if let Some(pg) = self.embedded.as_mut()
            && pg.started_here()
        {
            pg.stop()?;
        }
        Ok(())
    }
}
