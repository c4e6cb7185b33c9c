//! The `medgrid` command: serve (everything in one process), api, worker, migrate,
//! rebuild, admin and bench.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use chrono::Utc;
use clap::{Args, Parser, Subcommand, ValueEnum};
use medgrid::database::Database;
use medgrid::{Core, Server, bootstrap};
use medgrid_domain::actor::Role;
use medgrid_domain::ids::{MemberId, TenantId};
use medgrid_domain::names::{Email, TenantSlug};
use medgrid_graphql::usecases::{Scope, access, tenancy};
use medgrid_infra::config::{Config, Overrides};
use medgrid_infra::telemetry;
use medgrid_projections::runner;

#[derive(Parser)]
#[command(
    name = "medgrid",
    version,
    about = "Medgrid: medical image processing for people who never learned HPC"
)]
struct Cli {
    /// TOML configuration file (also MEDGRID_CONFIG).
    #[arg(long, env = "MEDGRID_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone, Default)]
struct Place {
    /// Data directory: embedded PostgreSQL, blobs, outbox (env MEDGRID_DATA_DIR).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Everything in one process: API, processors and, without DATABASE_URL, PostgreSQL.
    Serve {
        /// Listen address (env MEDGRID_LISTEN).
        #[arg(long)]
        listen: Option<SocketAddr>,
        #[command(flatten)]
        place: Place,
    },
    /// The API alone (scale out behind a load balancer; run `worker`s beside it).
    Api {
        #[arg(long)]
        listen: Option<SocketAddr>,
        #[command(flatten)]
        place: Place,
    },
    /// The background processors alone.
    Worker {
        #[command(flatten)]
        place: Place,
    },
    /// Applies the database migrations and exits.
    Migrate {
        #[command(flatten)]
        place: Place,
    },
    /// Rebuilds one read model from the whole event log.
    Rebuild {
        /// One of: tenants, members, groups, applications, resources.
        name: String,
        #[command(flatten)]
        place: Place,
    },
    /// Administration from the console.
    Admin {
        #[command(subcommand)]
        command: Admin,
    },
    /// Benchmarks, printed beside a raw PostgreSQL baseline measured in the same run.
    Bench {
        #[command(subcommand)]
        command: medgrid::bench::Bench,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    TenantAdmin,
    PlatformAdmin,
}

#[derive(Subcommand)]
enum Admin {
    /// Creates a tenant; with --member, also its first administrator.
    CreateTenant {
        #[arg(long)]
        tenant: String,
        /// Display name (default: the slug).
        #[arg(long)]
        name: Option<String>,
        /// E-mail of the tenant's first administrator (TENANT_ADMIN).
        #[arg(long)]
        member: Option<String>,
        /// Read a password for that administrator from standard input.
        #[arg(long, requires = "member")]
        password_stdin: bool,
        #[command(flatten)]
        place: Place,
    },
    CreateMember {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        member: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long = "role", value_enum)]
        roles: Vec<RoleArg>,
        /// Read a password for a local account from standard input.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        place: Place,
    },
    /// Prints a new bearer token for the member (last line of stdout).
    IssueToken {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        member: String,
        #[arg(long, default_value = "cli")]
        name: String,
        /// Expiry in days (default: never).
        #[arg(long)]
        expires_in_days: Option<i64>,
        #[command(flatten)]
        place: Place,
    },
}

fn load(
    cli_config: Option<&PathBuf>,
    listen: Option<SocketAddr>,
    place: &Place,
) -> anyhow::Result<Config> {
    let config = Config::load(
        cli_config.map(PathBuf::as_path),
        Overrides {
            listen,
            data_dir: place.data_dir.clone(),
        },
    )
    .context("invalid configuration")?;
    telemetry::init_logging(config.log_format);
    Ok(config)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let file = cli.config.as_ref();
    match cli.command {
        Command::Serve { listen, place } => serve(load(file, listen, &place)?, true, true).await,
        Command::Api { listen, place } => serve(load(file, listen, &place)?, true, false).await,
        Command::Worker { place } => serve(load(file, None, &place)?, false, true).await,
        Command::Migrate { place } => {
            let db = Database::open(&load(file, None, &place)?).await?;
            println!("migrations applied");
            db.close(false).await
        }
        Command::Rebuild { name, place } => rebuild(load(file, None, &place)?, &name).await,
        Command::Admin { command } => admin(file, command).await,
        Command::Bench { command } => {
            let config = load(file, None, &Place::default())?;
            medgrid::bench::run(command, &config).await
        }
    }
}

async fn serve(config: Config, api: bool, worker: bool) -> anyhow::Result<()> {
    let db = Database::open(&config).await?;
    let core = Core::new(&db.pool, &config)?;
    if worker && config.dispatcher {
        // jobs never run outside the sandbox: without it, do not start
        medgrid_infra::sandbox::Sandbox::check_host()?;
    }
    let processors = worker.then(|| core.worker(&config));
    // Before listening, so that "ready" means the demo tenant exists.
    if worker {
        bootstrap::local_resource(&core.services).await?;
        if config.demo {
            bootstrap::demo(&core.services, &config.data_dir, core.area.apps()).await?;
        }
    }
    let server = match api {
        true => Some(Server::start(&core, &config).await?),
        false => None,
    };
    shutdown_signal().await;
    tracing::info!("shutting down");
    if let Some(server) = server {
        server.stop().await;
    }
    if let Some(processors) = processors {
        processors.stop().await;
    }
    db.close(true).await
}

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
}

async fn rebuild(config: Config, name: &str) -> anyhow::Result<()> {
    let Some(projection) = medgrid_projections::by_name(name) else {
        let names = medgrid::projection_names().join(", ");
        bail!("unknown read model {name:?}; known: {names}");
    };
    let db = Database::open(&config).await?;
    let started = std::time::Instant::now();
    let upcasters = medgrid_domain::upcast::upcasters();
    let n = runner::rebuild(&db.pool, &*projection, &upcasters, 1000).await?;
    println!(
        "rebuilt {name} from {n} events in {:.2?}",
        started.elapsed()
    );
    db.close(false).await
}

/// Runs an admin use case with this process's processors running, so its read-your-writes
/// wait completes whether or not a server is up on the same database.
async fn admin(file: Option<&PathBuf>, command: Admin) -> anyhow::Result<()> {
    let place = match &command {
        Admin::CreateTenant { place, .. }
        | Admin::CreateMember { place, .. }
        | Admin::IssueToken { place, .. } => place.clone(),
    };
    let config = load(file, None, &place)?;
    let db = Database::open(&config).await?;
    let core = Core::new(&db.pool, &config)?;
    let worker = core.worker(&config);
    let result = run_admin(&core, command).await;
    worker.stop().await;
    db.close(false).await?;
    result
}

async fn run_admin(core: &Core, command: Admin) -> anyhow::Result<()> {
    let svc = &core.services;
    let operator = Scope::operator(svc);
    let fail = |e: medgrid_graphql::ApiError| anyhow::anyhow!("{} ({})", e.message, e.code);
    match command {
        Admin::CreateTenant {
            tenant,
            name,
            member,
            password_stdin,
            ..
        } => {
            let display = name.unwrap_or_else(|| tenant.clone());
            let row = tenancy::create(&operator, &tenant, &display)
                .await
                .map_err(fail)?;
            println!("{}", row.id);
            if let Some(email) = member {
                let password = password_stdin.then(read_password).transpose()?;
                let new = access::NewMember {
                    tenant_id: TenantId::from_uuid(row.id),
                    email: &email,
                    name: &email,
                    password: password.as_deref(),
                    roles: [Role::TenantAdmin].into(),
                };
                let admin = access::create(&operator, new).await.map_err(|e| {
                    anyhow::anyhow!(
                        "tenant {tenant} was created, but not its administrator: {} ({}); \
                         retry with `medgrid admin create-member --role tenant-admin`",
                        e.message,
                        e.code
                    )
                })?;
                println!("{}", admin.id);
            }
        }
        Admin::CreateMember {
            tenant,
            member,
            name,
            roles,
            password_stdin,
            ..
        } => {
            let tenant_id = tenant_id(&tenant)?;
            let password = password_stdin.then(read_password).transpose()?;
            let name = name.unwrap_or_else(|| member.clone());
            let new = access::NewMember {
                tenant_id,
                email: &member,
                name: &name,
                password: password.as_deref(),
                roles: roles
                    .into_iter()
                    .map(|r| match r {
                        RoleArg::TenantAdmin => Role::TenantAdmin,
                        RoleArg::PlatformAdmin => Role::PlatformAdmin,
                    })
                    .collect(),
            };
            let row = access::create(&operator, new).await.map_err(fail)?;
            println!("{}", row.id);
        }
        Admin::IssueToken {
            tenant,
            member,
            name,
            expires_in_days,
            ..
        } => {
            let tenant_id = tenant_id(&tenant)?;
            let email: Email = member.parse()?;
            let id = MemberId::for_email(tenant_id, &email);
            let expires_at = expires_in_days.map(|d| Utc::now() + chrono::Duration::days(d));
            let (token, _) = access::issue_token(&operator, id, &name, expires_at)
                .await
                .map_err(fail)?;
            println!("{token}");
        }
    }
    Ok(())
}

/// One line from standard input, without its line ending.
fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

fn tenant_id(slug: &str) -> anyhow::Result<TenantId> {
    let slug: TenantSlug = slug.parse()?;
    Ok(TenantId::for_slug(&slug))
}
