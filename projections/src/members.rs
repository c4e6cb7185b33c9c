//! Read models `members` and `access_tokens`, and the lookup that turns a bearer token
//! into an actor.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use medgrid_domain::access::MemberEvent;
use medgrid_domain::ids::{MemberId, TenantId};
use serde_json::json;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use crate::event::{DomainEvent, StoredEvent};
use crate::page::{Page, PageRequest};
use crate::reader::{Read, Reader};
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
    /// ACTIVE, or INVITED until the first sign-in.
    pub status: String,
    pub issuer: Option<String>,
    pub subject: Option<String>,
    /// Roles and group paths the provider gave at the latest sign-in.
    pub idp_roles: Vec<String>,
    pub idp_groups: Vec<String>,
    /// Whether a local password is set (the hash itself is read only by sign-in).
    pub has_password: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub position: i64,
}

impl MemberRow {
    /// Signs in only through an identity provider: linked to one (or invited to sign in
    /// with one) and without a local password.
    pub fn is_federated_only(&self) -> bool {
        !self.has_password && (self.issuer.is_some() || self.status == "INVITED")
    }
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

    fn consumes(&self) -> &'static [&'static str] {
        &["Member"]
    }

    /// Loads the rows the batch touches, folds the batch in memory, writes the rows back
    /// with one DELETE and one INSERT per table: a handful of statements per batch
    /// instead of one per event (rebuilds replay millions of events).
    async fn apply(
        &self,
        db: &mut PgConnection,
        events: &[StoredEvent],
    ) -> Result<(), ProjectionError> {
        let mut fold = Fold::load(db, events).await?;
        for e in events {
            if let DomainEvent::Member(event) = &e.event {
                fold.apply(e, event)?;
            }
        }
        fold.store(db).await
    }
}

/// A member row while a batch is folded.
#[derive(Debug, Clone, FromRow)]
struct MemberState {
    id: Uuid,
    tenant_id: Uuid,
    email: String,
    name: String,
    roles: Vec<String>,
    disabled: bool,
    password_hash: Option<String>,
    status: String,
    issuer: Option<String>,
    subject: Option<String>,
    idp_roles: Vec<String>,
    idp_groups: Vec<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    position: i64,
}

/// A token row while a batch is folded.
#[derive(Debug, Clone, FromRow)]
struct TokenState {
    id: Uuid,
    tenant_id: Uuid,
    member_id: Uuid,
    name: String,
    secret_hash: String,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

/// The rows one batch touches, keyed by id (BTreeMap: a deterministic write order).
struct Fold {
    members: BTreeMap<Uuid, MemberState>,
    tokens: BTreeMap<Uuid, TokenState>,
    /// Ids whose stored rows are replaced when the batch is written.
    touched_members: Vec<Uuid>,
    touched_tokens: Vec<Uuid>,
}

impl Fold {
    async fn load(db: &mut PgConnection, events: &[StoredEvent]) -> Result<Self, ProjectionError> {
        let mut member_ids = vec![];
        let mut token_ids = vec![];
        for e in events {
            if let DomainEvent::Member(event) = &e.event {
                member_ids.push(e.aggregate_uuid()?);
                match event {
                    MemberEvent::TokenIssued { token_id, .. }
                    | MemberEvent::TokenRevoked { token_id } => token_ids.push(token_id.as_uuid()),
                    _ => {}
                }
            }
        }
        member_ids.sort();
        member_ids.dedup();
        token_ids.sort();
        token_ids.dedup();
        let members: Vec<MemberState> = sqlx::query_as(
            "SELECT id, tenant_id, email, name, roles, disabled, password_hash, status, issuer,
                    subject, idp_roles, idp_groups, created_at, updated_at, position
               FROM members WHERE id = ANY($1)",
        )
        .bind(&member_ids)
        .fetch_all(&mut *db)
        .await?;
        let tokens: Vec<TokenState> = sqlx::query_as(
            "SELECT id, tenant_id, member_id, name, secret_hash, created_at, expires_at, revoked_at
               FROM access_tokens WHERE id = ANY($1)",
        )
        .bind(&token_ids)
        .fetch_all(&mut *db)
        .await?;
        Ok(Self {
            members: members.into_iter().map(|m| (m.id, m)).collect(),
            tokens: tokens.into_iter().map(|t| (t.id, t)).collect(),
            touched_members: member_ids,
            touched_tokens: token_ids,
        })
    }

    fn apply(&mut self, e: &StoredEvent, event: &MemberEvent) -> Result<(), ProjectionError> {
        let id = e.aggregate_uuid()?;
        let at = e.recorded_at;
        match event {
            MemberEvent::MemberCreated {
                tenant_id,
                email,
                name,
                roles,
            }
            | MemberEvent::MemberInvited {
                tenant_id,
                email,
                name,
                roles,
            } => {
                let invited = matches!(event, MemberEvent::MemberInvited { .. });
                self.members.insert(
                    id,
                    MemberState {
                        id,
                        tenant_id: tenant_id.as_uuid(),
                        email: email.to_string(),
                        name: name.to_string(),
                        roles: roles.iter().map(|r| r.as_str().to_owned()).collect(),
                        disabled: false,
                        password_hash: None,
                        status: if invited { "INVITED" } else { "ACTIVE" }.to_owned(),
                        issuer: None,
                        subject: None,
                        idp_roles: vec![],
                        idp_groups: vec![],
                        created_at: at,
                        updated_at: at,
                        position: e.position.global_position,
                    },
                );
            }
            MemberEvent::TokenIssued {
                token_id,
                name,
                secret_hash,
                expires_at,
            } => {
                self.tokens.insert(
                    token_id.as_uuid(),
                    TokenState {
                        id: token_id.as_uuid(),
                        tenant_id: e.meta.tenant_id.as_uuid(),
                        member_id: id,
                        name: name.to_string(),
                        secret_hash: secret_hash.clone(),
                        created_at: at,
                        expires_at: *expires_at,
                        revoked_at: None,
                    },
                );
            }
            MemberEvent::TokenRevoked { token_id } => {
                if let Some(t) = self.tokens.get_mut(&token_id.as_uuid()) {
                    t.revoked_at = Some(at);
                }
            }
            other => {
                let Some(m) = self.members.get_mut(&id) else {
                    return Ok(());
                };
                m.updated_at = at;
                match other {
                    MemberEvent::PasswordSet { password_hash } => {
                        m.password_hash = Some(password_hash.clone());
                    }
                    MemberEvent::RoleGranted { role } => {
                        m.roles.retain(|r| r != role.as_str());
                        m.roles.push(role.as_str().to_owned());
                    }
                    MemberEvent::RoleRevoked { role } => m.roles.retain(|r| r != role.as_str()),
                    MemberEvent::MemberDisabled => m.disabled = true,
                    MemberEvent::MemberEnabled => m.disabled = false,
                    MemberEvent::IdentityLinked { issuer, subject } => {
                        m.status = "ACTIVE".to_owned();
                        m.issuer = Some(issuer.clone());
                        m.subject = Some(subject.clone());
                    }
                    MemberEvent::IdentityClaimsUpdated {
                        email,
                        name,
                        roles,
                        groups,
                    } => {
                        m.email = email.to_string();
                        m.name = name.to_string();
                        m.idp_roles = roles.iter().map(|r| r.as_str().to_owned()).collect();
                        m.idp_groups = groups.iter().cloned().collect();
                    }
                    MemberEvent::MemberCreated { .. }
                    | MemberEvent::MemberInvited { .. }
                    | MemberEvent::TokenIssued { .. }
                    | MemberEvent::TokenRevoked { .. } => {}
                }
            }
        }
        Ok(())
    }

    async fn store(self, db: &mut PgConnection) -> Result<(), ProjectionError> {
        if !self.touched_members.is_empty() {
            sqlx::query("DELETE FROM members WHERE id = ANY($1)")
                .bind(&self.touched_members)
                .execute(&mut *db)
                .await?;
            let m: Vec<&MemberState> = self.members.values().collect();
            sqlx::query(
                "INSERT INTO members (id, tenant_id, email, name, roles, disabled, password_hash, created_at,
                                      updated_at, position, status, issuer, subject, idp_roles, idp_groups)
                 SELECT id, tenant_id, email, name, roles::text[], disabled, password_hash, created_at,
                        updated_at, position, status, issuer, subject, idp_roles::text[], idp_groups::text[]
                   FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::jsonb[], $6::bool[],
                               $7::text[], $8::timestamptz[], $9::timestamptz[], $10::int8[], $11::text[],
                               $12::text[], $13::text[], $14::jsonb[], $15::jsonb[])
                     AS t(id, tenant_id, email, name, roles_json, disabled, password_hash, created_at,
                          updated_at, position, status, issuer, subject, idp_roles_json, idp_groups_json),
                        LATERAL (SELECT ARRAY(SELECT jsonb_array_elements_text(roles_json)) AS roles,
                                        ARRAY(SELECT jsonb_array_elements_text(idp_roles_json)) AS idp_roles,
                                        ARRAY(SELECT jsonb_array_elements_text(idp_groups_json)) AS idp_groups) arrays",
            )
            .bind(m.iter().map(|r| r.id).collect::<Vec<_>>())
            .bind(m.iter().map(|r| r.tenant_id).collect::<Vec<_>>())
            .bind(m.iter().map(|r| r.email.clone()).collect::<Vec<_>>())
            .bind(m.iter().map(|r| r.name.clone()).collect::<Vec<_>>())
            // arrays of arrays go through JSON: UNNEST of a 2-d array would flatten them
            .bind(m.iter().map(|r| json!(r.roles)).collect::<Vec<_>>())
            .bind(m.iter().map(|r| r.disabled).collect::<Vec<_>>())
            .bind(m.iter().map(|r| r.password_hash.clone()).collect::<Vec<_>>())
            .bind(m.iter().map(|r| r.created_at).collect::<Vec<_>>())
            .bind(m.iter().map(|r| r.updated_at).collect::<Vec<_>>())
            .bind(m.iter().map(|r| r.position).collect::<Vec<_>>())
            .bind(m.iter().map(|r| r.status.clone()).collect::<Vec<_>>())
            .bind(m.iter().map(|r| r.issuer.clone()).collect::<Vec<_>>())
            .bind(m.iter().map(|r| r.subject.clone()).collect::<Vec<_>>())
            .bind(m.iter().map(|r| json!(r.idp_roles)).collect::<Vec<_>>())
            .bind(m.iter().map(|r| json!(r.idp_groups)).collect::<Vec<_>>())
            .execute(&mut *db)
            .await?;
        }
        if !self.touched_tokens.is_empty() {
            sqlx::query("DELETE FROM access_tokens WHERE id = ANY($1)")
                .bind(&self.touched_tokens)
                .execute(&mut *db)
                .await?;
            let t: Vec<&TokenState> = self.tokens.values().collect();
            sqlx::query(
                "INSERT INTO access_tokens (id, tenant_id, member_id, name, secret_hash, created_at, expires_at, revoked_at)
                 SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[],
                                      $6::timestamptz[], $7::timestamptz[], $8::timestamptz[])",
            )
            .bind(t.iter().map(|r| r.id).collect::<Vec<_>>())
            .bind(t.iter().map(|r| r.tenant_id).collect::<Vec<_>>())
            .bind(t.iter().map(|r| r.member_id).collect::<Vec<_>>())
            .bind(t.iter().map(|r| r.name.clone()).collect::<Vec<_>>())
            .bind(t.iter().map(|r| r.secret_hash.clone()).collect::<Vec<_>>())
            .bind(t.iter().map(|r| r.created_at).collect::<Vec<_>>())
            .bind(t.iter().map(|r| r.expires_at).collect::<Vec<_>>())
            .bind(t.iter().map(|r| r.revoked_at).collect::<Vec<_>>())
            .execute(&mut *db)
            .await?;
        }
        Ok(())
    }
}

/// `roles` are the effective roles: granted in Medgrid or by the member's provider.
const COLUMNS: &str = "id, tenant_id, email, name,
     ARRAY(SELECT DISTINCT unnest(roles || idp_roles) ORDER BY 1) AS roles,
     disabled, status, issuer, subject, idp_roles, idp_groups,
     password_hash IS NOT NULL AS has_password, created_at, updated_at, position";

pub async fn by_id(db: &Reader, id: MemberId) -> Result<Option<MemberRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM members WHERE id = $1"))
        .bind(id.as_uuid())
        .optional(db)
        .await
}

pub async fn list(
    db: &Reader,
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
    .all(db)
    .await?;
    Ok(Page::from_fetched(rows, page.first))
}

/// The member a provider knows as `subject` (the earliest linked, should a race have
/// linked two).
pub async fn by_identity(
    db: &Reader,
    tenant: TenantId,
    issuer: &str,
    subject: &str,
) -> Result<Option<MemberRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM members WHERE tenant_id = $1 AND issuer = $2 AND subject = $3
          ORDER BY position LIMIT 1"
    ))
    .bind(tenant.as_uuid())
    .bind(issuer)
    .bind(subject)
    .optional(db)
    .await
}

/// The stored password hash of a member, for local login.
pub async fn password_hash(db: &Reader, id: MemberId) -> Result<Option<String>, sqlx::Error> {
    let hash: Option<Option<String>> =
        sqlx::query_scalar("SELECT password_hash FROM members WHERE id = $1")
            .bind(id.as_uuid())
            .optional(db)
            .await?;
    Ok(hash.flatten())
}

pub async fn tokens(db: &Reader, member: MemberId) -> Result<Vec<TokenRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, member_id, name, created_at, expires_at, revoked_at FROM access_tokens
          WHERE member_id = $1 ORDER BY created_at, id",
    )
    .bind(member.as_uuid())
    .all(db)
    .await
}

/// What a bearer token resolves to: the member, their tenant's state and the token's.
#[derive(Debug, Clone, FromRow)]
pub struct TokenHolder {
    pub token_id: Uuid,
    pub member_id: Uuid,
    pub tenant_id: Uuid,
    pub roles: Vec<String>,
    pub idp_groups: Vec<String>,
    pub member_disabled: bool,
    pub tenant_status: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

pub async fn token_holder(
    db: &Reader,
    secret_hash: &str,
) -> Result<Option<TokenHolder>, sqlx::Error> {
    sqlx::query_as(
        "SELECT t.id AS token_id, m.id AS member_id, m.tenant_id,
                ARRAY(SELECT DISTINCT unnest(m.roles || m.idp_roles)) AS roles, m.idp_groups,
                m.disabled AS member_disabled, tn.status AS tenant_status,
                t.expires_at, t.revoked_at
           FROM access_tokens t
           JOIN members m ON m.id = t.member_id
           LEFT JOIN tenants tn ON tn.id = m.tenant_id
          WHERE t.secret_hash = $1",
    )
    .bind(secret_hash)
    .optional(db)
    .await
}

/// The member holding a token.
pub async fn token_owner(db: &Reader, token: uuid::Uuid) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT member_id FROM access_tokens WHERE id = $1")
        .bind(token)
        .optional(db)
        .await
}
