//! First start: the local resource, the demo tenant and its administrator.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::Context as _;
use medgrid_domain::actor::Role;
use medgrid_domain::catalog::Descriptor;
use medgrid_domain::compute::{Access, ResourceKind};
use medgrid_domain::ids::{ApplicationId, MemberId, ResourceId, TenantId};
use medgrid_domain::names::{Email, TenantSlug};
use medgrid_graphql::Services;
use medgrid_graphql::usecases::{Scope, access, catalog, compute, tenancy};
use medgrid_projections::Reader;
use medgrid_projections::{applications, members, resources, tenants};
use rand::Rng;

pub const DEMO_TENANT: &str = "demo";
/// The resource every installation has: processes on this host.
pub const LOCAL_RESOURCE: &str = "local";
pub const DEMO_ADMIN: &str = "admin@demo.local";
/// Written on first start, readable only by its owner.
pub const PASSWORD_FILE: &str = "demo-admin-password";

/// Creates tenant `demo` and its administrator `admin@demo.local` (tenant and platform
/// admin) unless they exist. The admin's generated password goes to
/// `<data_dir>/demo-admin-password`; it is never logged.
pub async fn demo(svc: &Services, data_dir: &Path, apps_dir: &Path) -> anyhow::Result<()> {
    let operator = Scope::operator(svc);
    if tenants::by_slug(&Reader::system(&svc.pool), DEMO_TENANT)
        .await?
        .is_none()
    {
        tenancy::create(&operator, DEMO_TENANT, "Demo")
            .await
            .map_err(|e| anyhow::anyhow!("creating the demo tenant: {}", e.message))?;
        tracing::info!(tenant = DEMO_TENANT, "demo tenant created");
    }
    let slug: TenantSlug = DEMO_TENANT.parse()?;
    let tenant = TenantId::for_slug(&slug);
    shipped_catalog(svc, tenant, apps_dir).await?;
    let email: Email = DEMO_ADMIN.parse()?;
    if members::by_id(
        &Reader::system(&svc.pool),
        MemberId::for_email(tenant, &email),
    )
    .await?
    .is_some()
    {
        return Ok(());
    }
    let password: String = rand::rng()
        .sample_iter(&rand::distr::Alphanumeric)
        .take(20)
        .map(char::from)
        .collect();
    let new = access::NewMember {
        tenant_id: tenant,
        email: DEMO_ADMIN,
        name: "Demo administrator",
        password: Some(&password),
        roles: BTreeSet::from([Role::TenantAdmin, Role::PlatformAdmin]),
    };
    access::create(&operator, new)
        .await
        .map_err(|e| anyhow::anyhow!("creating the demo administrator: {}", e.message))?;
    write_secret(&data_dir.join(PASSWORD_FILE), &password)?;
    tracing::info!(
        member = DEMO_ADMIN,
        file = %data_dir.join(PASSWORD_FILE).display(),
        "demo administrator created; its password is in the file"
    );
    Ok(())
}

/// Registers every application of the shipped catalog (`<apps_dir>/*/descriptor.json`)
/// in `tenant`, except versions it has already.
pub async fn shipped_catalog(
    svc: &Services,
    tenant: TenantId,
    apps_dir: &Path,
) -> anyhow::Result<usize> {
    if !apps_dir.is_dir() {
        tracing::warn!(dir = %apps_dir.display(), "no shipped catalog here (set MEDGRID_APPS_DIR)");
        return Ok(0);
    }
    let mut descriptors: Vec<_> = std::fs::read_dir(apps_dir)
        .with_context(|| format!("reading the shipped catalog {}", apps_dir.display()))?
        .filter_map(|e| Some(e.ok()?.path().join("descriptor.json")))
        .filter(|p| p.is_file())
        .collect();
    descriptors.sort();
    let mut added = 0;
    for path in descriptors {
        let text = std::fs::read_to_string(&path)?;
        let json: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", path.display()))?;
        let parsed =
            Descriptor::parse(&json).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let id = ApplicationId::for_version(tenant, &parsed.name, &parsed.tool_version);
        if applications::by_id(&Reader::system(&svc.pool), id)
            .await?
            .is_some()
        {
            continue;
        }
        catalog::register(&Scope::operator(svc), tenant, json)
            .await
            .map_err(|e| anyhow::anyhow!("registering {}: {}", path.display(), e.message))?;
        added += 1;
    }
    if added > 0 {
        tracing::info!(added, "shipped applications registered");
    }
    Ok(added)
}

fn write_secret(path: &Path, secret: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    writeln!(file, "{secret}")
}

/// Registers the `local` resource (this host, one slot per CPU, every tenant) unless it
/// exists: a fresh installation can run jobs without configuring anything.
pub async fn local_resource(svc: &Services) -> anyhow::Result<()> {
    let id = ResourceId::for_name(LOCAL_RESOURCE);
    if resources::by_id(&Reader::system(&svc.pool), id)
        .await?
        .is_some()
    {
        return Ok(());
    }
    let slots = std::thread::available_parallelism().map_or(1, |n| n.get());
    let kind = ResourceKind::Local {
        slots: u32::try_from(slots).unwrap_or(1),
    };
    compute::register(
        &Scope::operator(svc),
        LOCAL_RESOURCE,
        kind,
        Access::everyone(),
        None,
    )
    .await
    .map_err(|e| anyhow::anyhow!("registering the local resource: {}", e.message))?;
    tracing::info!(slots, "local resource registered");
    Ok(())
}
