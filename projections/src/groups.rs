//! Read models `groups` and `group_members`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use medgrid_domain::access::GroupEvent;
use medgrid_domain::ids::{GroupId, MemberId, TenantId};
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use crate::event::{DomainEvent, StoredEvent};
use crate::page::{Page, PageRequest};
use crate::reader::{Read, Reader};
use crate::runner::{EventByEvent, ProjectionError};

pub struct Groups;

#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct GroupRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    /// Core seconds its jobs may use per calendar month.
    pub core_budget: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub position: i64,
}

#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct GroupMemberRow {
    pub group_id: Uuid,
    pub member_id: Uuid,
    pub role: String,
    pub since: DateTime<Utc>,
}

#[async_trait]
impl EventByEvent for Groups {
    fn name(&self) -> &'static str {
        "groups"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["groups", "group_members"]
    }

    fn consumes(&self) -> &'static [&'static str] {
        &["Group"]
    }

    async fn apply_one(
        &self,
        db: &mut PgConnection,
        e: &StoredEvent,
    ) -> Result<(), ProjectionError> {
        let DomainEvent::Group(event) = &e.event else {
            return Ok(());
        };
        let id = e.aggregate_uuid()?;
        let at = e.recorded_at;
        let q = match event {
            GroupEvent::GroupCreated { tenant_id, name } => sqlx::query(
                "INSERT INTO groups (id, tenant_id, name, created_at, updated_at, position)
                 VALUES ($1, $2, $3, $4, $4, $5)",
            )
            .bind(id)
            .bind(tenant_id.as_uuid())
            .bind(name.as_ref())
            .bind(at)
            .bind(e.position.global_position),
            GroupEvent::GroupRenamed { name } => {
                sqlx::query("UPDATE groups SET name = $2, updated_at = $3 WHERE id = $1")
                    .bind(id)
                    .bind(name.as_ref())
                    .bind(at)
            }
            GroupEvent::GroupMemberAdded { member_id, role } => sqlx::query(
                "INSERT INTO group_members (group_id, member_id, tenant_id, role, since)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(id)
            .bind(member_id.as_uuid())
            .bind(e.meta.tenant_id.as_uuid())
            .bind(role.as_str())
            .bind(at),
            GroupEvent::GroupMemberRoleChanged { member_id, role } => sqlx::query(
                "UPDATE group_members SET role = $3 WHERE group_id = $1 AND member_id = $2",
            )
            .bind(id)
            .bind(member_id.as_uuid())
            .bind(role.as_str()),
            GroupEvent::GroupMemberRemoved { member_id } => {
                sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND member_id = $2")
                    .bind(id)
                    .bind(member_id.as_uuid())
            }
            GroupEvent::GroupCoreBudgetSet {
                core_seconds_per_month,
            } => sqlx::query("UPDATE groups SET core_budget = $2, updated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(core_seconds_per_month.map(|s| i64::try_from(s).unwrap_or(i64::MAX)))
                .bind(at),
        };
        q.execute(db).await?;
        Ok(())
    }
}

const COLUMNS: &str = "id, tenant_id, name, core_budget, created_at, updated_at, position";

pub async fn by_id(db: &Reader, id: GroupId) -> Result<Option<GroupRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM groups WHERE id = $1"))
        .bind(id.as_uuid())
        .optional(db)
        .await
}

/// A tenant's groups; with `member`, only the groups that member belongs to.
pub async fn list(
    db: &Reader,
    tenant: TenantId,
    member: Option<MemberId>,
    page: PageRequest,
) -> Result<Page<GroupRow>, sqlx::Error> {
    let rows = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM groups g
          WHERE tenant_id = $1 AND position > $2
            AND ($4::uuid IS NULL OR EXISTS (
                 SELECT 1 FROM group_members gm WHERE gm.group_id = g.id AND gm.member_id = $4))
          ORDER BY position LIMIT $3"
    ))
    .bind(tenant.as_uuid())
    .bind(page.after_position())
    .bind(page.limit())
    .bind(member.map(|m| m.as_uuid()))
    .all(db)
    .await?;
    Ok(Page::from_fetched(rows, page.first))
}

pub async fn members_of(db: &Reader, group: GroupId) -> Result<Vec<GroupMemberRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT group_id, member_id, role, since FROM group_members
          WHERE group_id = $1 ORDER BY since, member_id",
    )
    .bind(group.as_uuid())
    .all(db)
    .await
}

pub async fn memberships(
    db: &Reader,
    member: MemberId,
) -> Result<Vec<GroupMemberRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT group_id, member_id, role, since FROM group_members
          WHERE member_id = $1 ORDER BY since, group_id",
    )
    .bind(member.as_uuid())
    .all(db)
    .await
}

/// The groups of `tenant` that a provider's group paths name: a group matches a path by
/// its whole name (`/radiology/mri` or `radiology/mri`) or by the path's last segment
/// (`mri`), so that Keycloak groups map to Medgrid groups without configuration.
pub async fn named_by_paths(
    db: &Reader,
    tenant: TenantId,
    paths: &[String],
) -> Result<Vec<Uuid>, sqlx::Error> {
    if paths.is_empty() {
        return Ok(vec![]);
    }
    let mut names: Vec<String> = vec![];
    for path in paths {
        names.push(path.clone());
        names.push(path.trim_start_matches('/').to_owned());
        if let Some(last) = path.rsplit('/').next().filter(|l| !l.is_empty()) {
            names.push(last.to_owned());
        }
    }
    sqlx::query_scalar("SELECT id FROM groups WHERE tenant_id = $1 AND name = ANY($2)")
        .bind(tenant.as_uuid())
        .bind(&names)
        .all(db)
        .await
}
