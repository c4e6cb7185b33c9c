//! Keys of the service itself (table `service_keys`): made by the first process that needs
//! one, read by the others, so every process of a database uses the same.

use rand::RngCore;
use sqlx::PgPool;
use tokio::sync::OnceCell;

pub struct ServiceKey {
    pool: PgPool,
    name: &'static str,
    key: OnceCell<Vec<u8>>,
}

impl ServiceKey {
    pub fn new(pool: &PgPool, name: &'static str) -> Self {
        Self {
            pool: pool.clone(),
            name,
            key: OnceCell::new(),
        }
    }

    /// The 32-byte key.
    pub async fn get(&self) -> Result<&[u8], sqlx::Error> {
        let key = self
            .key
            .get_or_try_init(|| async {
                let mut fresh = vec![0u8; 32];
                rand::rng().fill_bytes(&mut fresh);
                sqlx::query(
                    "INSERT INTO service_keys (name, key) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                )
                .bind(self.name)
                .bind(&fresh)
                .execute(&self.pool)
                .await?;
                sqlx::query_scalar::<_, Vec<u8>>("SELECT key FROM service_keys WHERE name = $1")
                    .bind(self.name)
                    .fetch_one(&self.pool)
                    .await
            })
            .await?;
        Ok(key)
    }
}
