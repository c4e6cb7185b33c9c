//! Reads of the read models, confined by PostgreSQL's row-level security.
//!
//! A caller's reads run in a transaction as role `medgrid_reader` (it owns no table and
//! cannot bypass row-level security) with the caller's tenant set for that transaction
//! only: a query that forgets its tenant filter still sees one tenant's rows, and a query
//! run without a tenant sees none (migration 0009). The service's own lookups made before
//! a caller is known (a token's holder, a provider by issuer) and the processors read as
//! the tables' owner: [`Reader::system`], named wherever it is used.
//!
//! Queries run through [`Read`]: `query.all(db)`.

use futures::future::BoxFuture;
use medgrid_domain::ids::TenantId;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::{QueryAs, QueryScalar};
use sqlx::{Execute, Executor, FromRow, PgConnection, PgPool, Postgres, Transaction};

/// The role reads of callers run as (created by migration 0009).
pub const READER_ROLE: &str = "medgrid_reader";

/// Which rows a caller's reads may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sees {
    /// One tenant's rows.
    Tenant(TenantId),
    /// Every tenant's: platform administrators and the console operator.
    AllTenants,
}

/// Where reads go, and as whom.
#[derive(Clone, Debug)]
pub struct Reader {
    pool: PgPool,
    /// None: the service itself, as the tables' owner.
    sees: Option<Sees>,
}

impl Reader {
    /// A caller's reads, confined to what `sees` allows.
    pub fn new(pool: &PgPool, sees: Sees) -> Self {
        Self {
            pool: pool.clone(),
            sees: Some(sees),
        }
    }

    /// The service's own reads (no caller yet, or a processor): every row.
    pub fn system(pool: &PgPool) -> Self {
        Self {
            pool: pool.clone(),
            sees: None,
        }
    }

    /// A transaction as the reader role with the tenant set for it alone: one round trip
    /// (BEGIN and the settings go as one simple query).
    async fn begin(&self, sees: Sees) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        let (tenant, all) = match sees {
            Sees::Tenant(t) => (t.to_string(), "off"),
            Sees::AllTenants => (String::new(), "on"),
        };
        // Values are a formatted UUID and a constant: nothing of a caller's text.
        self.pool
            .begin_with(format!(
                "BEGIN; SET LOCAL ROLE {READER_ROLE};
                 SELECT set_config('medgrid.tenant', '{tenant}', true),
                        set_config('medgrid.all_tenants', '{all}', true)"
            ))
            .await
    }
}

/// Running a built query through a [`Reader`]: `.all(db)`, `.optional(db)`, `.one(db)`
/// in place of sqlx's `fetch_*(pool)`. The futures are boxed: proving `Send` for sqlx's
/// executor futures through several layers of `async fn` trips a compiler limitation
/// ("implementation of Executor is not general enough"); a box proves it here, once.
pub trait Read<'a, O>: Sized + 'a {
    fn all(self, db: &'a Reader) -> BoxFuture<'a, Result<Vec<O>, sqlx::Error>>;
    fn optional(self, db: &'a Reader) -> BoxFuture<'a, Result<Option<O>, sqlx::Error>>;
    fn one(self, db: &'a Reader) -> BoxFuture<'a, Result<O, sqlx::Error>>;
}

impl Reader {
    /// The rows of `query`. Runs through `Executor::fetch_all`, which returns a boxed
    /// future: the generic `fetch_*` of sqlx's query types, awaited on a `&mut
    /// PgConnection` inside async-graphql's resolvers, trips a compiler limitation
    /// ("implementation of Executor is not general enough").
    async fn rows<'q, Q>(&self, query: Q) -> Result<Vec<PgRow>, sqlx::Error>
    where
        Q: Execute<'q, Postgres> + 'q,
    {
        match self.sees {
            None => self.pool.fetch_all(query).await,
            Some(sees) => {
                let mut tx = self.begin(sees).await?;
                let conn: &mut PgConnection = &mut tx;
                conn.fetch_all(query).await
            }
        }
    }
}

fn one_of<T>(rows: Vec<T>) -> Result<T, sqlx::Error> {
    rows.into_iter().next().ok_or(sqlx::Error::RowNotFound)
}

macro_rules! read_through {
    ($query:ident, $row:expr, $($bound:tt)+) => {
        impl<'a, 'q: 'a, O> Read<'a, O> for $query<'q, Postgres, O, PgArguments>
        where
            O: Send + Unpin + 'q,
            $($bound)+
        {
            fn all(self, db: &'a Reader) -> BoxFuture<'a, Result<Vec<O>, sqlx::Error>> {
                Box::pin(async move {
                    let rows = db.rows(self).await?;
                    rows.iter().map($row).collect()
                })
            }

            fn optional(self, db: &'a Reader) -> BoxFuture<'a, Result<Option<O>, sqlx::Error>> {
                Box::pin(async move { Ok(self.all(db).await?.into_iter().next()) })
            }

            fn one(self, db: &'a Reader) -> BoxFuture<'a, Result<O, sqlx::Error>> {
                Box::pin(async move { one_of(self.all(db).await?) })
            }
        }
    };
}

read_through!(QueryAs, |r| O::from_row(r), O: for<'r> FromRow<'r, PgRow>);
read_through!(QueryScalar, |r| <(O,)>::from_row(r).map(|(o,)| o), (O,): for<'r> FromRow<'r, PgRow>);
