//! First start: the demo tenant and its administrator.

use std::collections::BTreeSet;
use std::path::Path;

use medgrid_domain::actor::Role;
use medgrid_domain::ids::{MemberId, TenantId};
use medgrid_domain::names::{Email, TenantSlug};
use medgrid_graphql::Services;
use medgrid_graphql::usecases::{Scope, access, tenancy};
use medgrid_projections::{members, tenants};
use rand::Rng;

pub const DEMO_TENANT: &str = "demo";
pub const DEMO_ADMIN: &str = "admin@demo.local";
/// Written on first start, readable only by its owner.
pub const PASSWORD_FILE: &str = "demo-admin-password";

/// Creates tenant `demo` and its administrator `admin@demo.local` (tenant and platform
/// admin) unless they exist. The admin's generated password goes to
/// `<data_dir>/demo-admin-password`; it is never logged.
pub async fn demo(svc: &Services, data_dir: &Path) -> anyhow::Result<()> {
    let operator = Scope::operator(svc);
    if tenants::by_slug(&svc.pool, DEMO_TENANT).await?.is_none() {
        tenancy::create(&operator, DEMO_TENANT, "Demo")
            .await
            .map_err(|e| anyhow::anyhow!("creating the demo tenant: {}", e.message))?;
        tracing::info!(tenant = DEMO_TENANT, "demo tenant created");
    }
    let slug: TenantSlug = DEMO_TENANT.parse()?;
    let tenant = TenantId::for_slug(&slug);
    let email: Email = DEMO_ADMIN.parse()?;
    if members::by_id(&svc.pool, MemberId::for_email(tenant, &email))
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
