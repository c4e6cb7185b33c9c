//! Read models `members` and `access_tokens`, and the lookup that turns a bearer token
//! into an actor.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use medgrid_domain::access::MemberEvent;
use medgrid_domain::ids::{MemberId, TenantId};
use sqlx::{FromRow, PgConnection, PgPool};
use uuid::Uuid;

use crate::event::{DomainEvent, StoredEvent};
use crate::page::{Page, PageRequest};
use crate::runner::{Projection, ProjectionError};

pub struct Members;

#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct MemberRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub email: String,
    pub name: String,
    pub roles: Vec<String>,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub position: i64,
}

#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct TokenRow {
    pub id: Uuid,
    pub member_id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[async_trait]
impl Projection for Members {
    fn name(&self) -> &'static str {
        "members"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["members", "access_tokens"]
    }

    async fn apply(&self, db: &mut PgConnection, e: &StoredEvent) -> Result<(), ProjectionError> {
        let DomainEvent::Member(event) = &e.event else {
            return Ok(());
        };
        let id = e.aggregate_uuid()?;
        let at = e.recorded_at;
        let q = match event {
            MemberEvent::MemberCreated {
                tenant_id,
                email,
                name,
                roles,
            } => sqlx::query(
                "INSERT INTO members (id, tenant_id, email, name, roles, created_at, updated_at, position)
                 VALUES ($1, $2, $3, $4, $5, $6, $6, $7)",
            )
            .bind(id)
            .bind(tenant_id.as_uuid())
            .bind(email.as_ref())
            .bind(name.as_ref())
            .bind(roles.iter().map(|r| r.as_str()).collect::<Vec<_>>())
            .bind(at)
            .bind(e.position.global_position),
            MemberEvent::PasswordSet { password_hash } => sqlx::query(
                "UPDATE members SET password_hash = $2, updated_at = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(password_hash)
            .bind(at),
            MemberEvent::RoleGranted { role } => sqlx::query(
                "UPDATE members SET roles = array_append(array_remove(roles, $2), $2), updated_at = $3
                  WHERE id = $1",
            )
            .bind(id)
            .bind(role.as_str())
            .bind(at),
            MemberEvent::RoleRevoked { role } => sqlx::query(
                "UPDATE members SET roles = array_remove(roles, $2), updated_at = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(role.as_str())
            .bind(at),
            MemberEvent::MemberDisabled | MemberEvent::MemberEnabled => {
                sqlx::query("UPDATE members SET disabled = $2, updated_at = $3 WHERE id = $1")
                    .bind(id)
                    .bind(matches!(event, MemberEvent::MemberDisabled))
                    .bind(at)
            }
            MemberEvent::TokenIssued {
                token_id,
                name,
                secret_hash,
                expires_at,
            } => sqlx::query(
                "INSERT INTO access_tokens (id, tenant_id, member_id, name, secret_hash, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(token_id.as_uuid())
            .bind(e.meta.tenant_id.as_uuid())
            .bind(id)
            .bind(name.as_ref())
            .bind(secret_hash)
            .bind(at)
            .bind(expires_at),
            MemberEvent::TokenRevoked { token_id } => {
                sqlx::query("UPDATE access_tokens SET revoked_at = $2 WHERE id = $1")
                    .bind(token_id.as_uuid())
                    .bind(at)
            }
        };
        q.execute(db).await?;
        Ok(())
    }
}

const COLUMNS: &str =
    "id, tenant_id, email, name, roles, disabled, created_at, updated_at, position";

pub async fn by_id(pool: &PgPool, id: MemberId) -> Result<Option<MemberRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM members WHERE id = $1"))
        .bind(id.as_uuid())
        .fetch_optional(pool)
        .await
}

pub async fn list(
    pool: &PgPool,
    tenant: TenantId,
    page: PageRequest,
) -> Result<Page<MemberRow>, sqlx::Error> {
    let rows = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM members WHERE tenant_id = $1 AND position > $2
          ORDER BY position LIMIT $3"
    ))
    .bind(tenant.as_uuid())
    .bind(page.after_position())
    .bind(page.limit())
    .fetch_all(pool)
    .await?;
    Ok(Page::from_fetched(rows, page.first))
}

/// The stored password hash of a member, for local login.
pub async fn password_hash(pool: &PgPool, id: MemberId) -> Result<Option<String>, sqlx::Error> {
    let hash: Option<Option<String>> =
        sqlx::query_scalar("SELECT password_hash FROM members WHERE id = $1")
            .bind(id.as_uuid())
            .fetch_optional(pool)
            .await?;
    Ok(hash.flatten())
}

pub async fn tokens(pool: &PgPool, member: MemberId) -> Result<Vec<TokenRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, member_id, name, created_at, expires_at, revoked_at FROM access_tokens
          WHERE member_id = $1 ORDER BY created_at, id",
    )
    .bind(member.as_uuid())
    .fetch_all(pool)
    .await
}

/// What a bearer token resolves to: the member, their tenant's state and the token's.
#[derive(Debug, Clone, FromRow)]
pub struct TokenHolder {
    pub token_id: Uuid,
    pub member_id: Uuid,
    pub tenant_id: Uuid,
    pub roles: Vec<String>,
    pub member_disabled: bool,
    pub tenant_status: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

pub async fn token_holder(
    pool: &PgPool,
    secret_hash: &str,
) -> Result<Option<TokenHolder>, sqlx::Error> {
    sqlx::query_as(
        "SELECT t.id AS token_id, m.id AS member_id, m.tenant_id, m.roles,
                m.disabled AS member_disabled, tn.status AS tenant_status,
                t.expires_at, t.revoked_at
           FROM access_tokens t
           JOIN members m ON m.id = t.member_id
           LEFT JOIN tenants tn ON tn.id = m.tenant_id
          WHERE t.secret_hash = $1",
    )
    .bind(secret_hash)
    .fetch_optional(pool)
    .await
}

/// The member holding a token.
pub async fn token_owner(pool: &PgPool, token: uuid::Uuid) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT member_id FROM access_tokens WHERE id = $1")
        .bind(token)
        .fetch_optional(pool)
        .await
}
