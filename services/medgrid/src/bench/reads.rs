//! `medgrid bench reads`: what row-level security costs a read. One member looked up by
//! id, three ways, at 1 and 16 readers: a raw SELECT on the pool (the baseline), the read
//! model's query as the service (`Reader::system`), and as a caller (`Reader::new`: a
//! transaction as `medgrid_reader` with the tenant set, which PostgreSQL's policies read).

use std::sync::Arc;
use std::time::Duration;

use medgrid_domain::ids::{MemberId, TenantId};
use medgrid_projections::{Reader, Sees, members};
use sqlx::PgPool;

use super::throughput;

const TENANTS: u128 = 10;
const PER_TENANT: u128 = 1000;

fn member(n: u128) -> (uuid::Uuid, uuid::Uuid) {
    (
        uuid::Uuid::from_u128(n + 1),
        uuid::Uuid::from_u128(1_000_000 + (n % TENANTS)),
    )
}

pub async fn run(pool: &PgPool, duration: Duration) -> anyhow::Result<()> {
    let (ids, tenants): (Vec<uuid::Uuid>, Vec<uuid::Uuid>) =
        (0..TENANTS * PER_TENANT).map(member).unzip();
    sqlx::query(
        "INSERT INTO members (id, tenant_id, email, name, created_at, updated_at, position)
         SELECT id, tenant_id, id::text || '@bench.org', 'Bench', now(), now(), row_number() OVER ()
           FROM UNNEST($1::uuid[], $2::uuid[]) AS t(id, tenant_id)",
    )
    .bind(&ids)
    .bind(&tenants)
    .execute(pool)
    .await?;
    sqlx::query("ANALYZE members").execute(pool).await?;
    let count = (TENANTS * PER_TENANT) as u64;
    println!("member by id, {count} members in {TENANTS} tenants, {duration:?} per figure");
    println!(
        "{:>8} {:>14} {:>14} {:>14} {:>8}",
        "readers", "raw SELECT/s", "system/s", "confined/s", "ratio"
    );
    for readers in [1usize, 16] {
        let p = pool.clone();
        let raw = throughput(readers, duration, move |n| {
            let p = p.clone();
            async move {
                let (id, _) = member(u128::from(n % count));
                let _: Option<(uuid::Uuid, String)> =
                    sqlx::query_as("SELECT id, email FROM members WHERE id = $1")
                        .bind(id)
                        .fetch_optional(&p)
                        .await?;
                Ok(())
            }
        })
        .await?;
        let system = Arc::new(Reader::system(pool));
        let sys = throughput(readers, duration, move |n| {
            let r = system.clone();
            async move {
                let (id, _) = member(u128::from(n % count));
                members::by_id(&r, MemberId::from_uuid(id))
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("member missing"))?;
                Ok(())
            }
        })
        .await?;
        let p = pool.clone();
        let confined = throughput(readers, duration, move |n| {
            let p = p.clone();
            async move {
                let (id, tenant) = member(u128::from(n % count));
                let reader = Reader::new(&p, Sees::Tenant(TenantId::from_uuid(tenant)));
                members::by_id(&reader, MemberId::from_uuid(id))
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("a member of the tenant was not seen"))?;
                Ok(())
            }
        })
        .await?;
        println!(
            "{readers:>8} {raw:>14.0} {sys:>14.0} {confined:>14.0} {:>8.2}",
            confined / raw
        );
    }
    Ok(())
}
