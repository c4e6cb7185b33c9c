//! Read models `spaces`, `space_nodes` and `space_shares`: every space, its tree of
//! folders and files (the trash included), and the folders it shares.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use medgrid_domain::ids::{NodeId, TenantId};
use medgrid_domain::metadata::Causer;
use medgrid_domain::spaces::{Access, Grantee, SpaceEvent, SpaceOwner};
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use crate::event::{DomainEvent, StoredEvent};
use crate::reader::{Read, Reader};
use crate::runner::{EventByEvent, ProjectionError};

pub struct Spaces;

#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct SpaceRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// `MEMBER` or `GROUP`.
    pub owner_kind: String,
    pub owner_id: Uuid,
    pub root: Uuid,
    pub quota: Option<i64>,
    pub used: i64,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct NodeRow {
    pub id: Uuid,
    pub space_id: Uuid,
    pub tenant_id: Uuid,
    pub parent: Option<Uuid>,
    pub name: Option<String>,
    /// `FOLDER` or `FILE`.
    pub kind: String,
    pub sha256: Option<String>,
    pub size: i64,
    pub media_type: Option<String>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub trashed_at: Option<DateTime<Utc>>,
    pub in_trash: bool,
}

impl NodeRow {
    pub fn is_folder(&self) -> bool {
        self.kind == "FOLDER"
    }
}

#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct ShareRow {
    pub node_id: Uuid,
    pub space_id: Uuid,
    pub tenant_id: Uuid,
    pub grantee_kind: String,
    pub grantee_id: Uuid,
    /// `READ` or `READ_WRITE`.
    pub access: String,
    pub since: DateTime<Utc>,
}

fn owner_columns(owner: &SpaceOwner) -> (&'static str, Uuid) {
    match owner {
        SpaceOwner::Member(m) => ("MEMBER", m.as_uuid()),
        SpaceOwner::Group(g) => ("GROUP", g.as_uuid()),
    }
}

fn grantee_columns(grantee: &Grantee) -> (&'static str, Uuid) {
    match grantee {
        Grantee::Member(m) => ("MEMBER", m.as_uuid()),
        Grantee::Group(g) => ("GROUP", g.as_uuid()),
    }
}

fn access_str(access: Access) -> &'static str {
    match access {
        Access::Read => "READ",
        Access::ReadWrite => "READ_WRITE",
    }
}

/// `node` and everything under it; with `live_only`, what was trashed by itself below it
/// is left out (as a copy leaves it out). Parents come before their children.
const SUBTREE: &str = "WITH RECURSIVE sub AS (
        SELECT n.*, 0 AS depth FROM space_nodes n WHERE n.id = $1
        UNION ALL
        SELECT n.*, sub.depth + 1 FROM space_nodes n JOIN sub ON n.parent = sub.id
         WHERE NOT $2 OR n.trashed_at IS NULL)";

async fn subtree(
    db: &mut PgConnection,
    node: Uuid,
    live_only: bool,
) -> Result<Vec<NodeRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SUBTREE} SELECT {NODE_COLUMNS} FROM sub ORDER BY depth"
    ))
    .bind(node)
    .bind(live_only)
    .fetch_all(&mut *db)
    .await
}

#[async_trait]
impl EventByEvent for Spaces {
    fn name(&self) -> &'static str {
        "spaces"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["spaces", "space_nodes", "space_shares"]
    }

    fn consumes(&self) -> &'static [&'static str] {
        &["Space"]
    }

    async fn apply_one(
        &self,
        db: &mut PgConnection,
        e: &StoredEvent,
    ) -> Result<(), ProjectionError> {
        let DomainEvent::Space(event) = &e.event else {
            return Ok(());
        };
        let space = e.aggregate_uuid()?;
        let at = e.recorded_at;
        let by = match &e.meta.actor {
            Causer::Member(m) => Some(m.as_uuid()),
            Causer::System(_) => None,
        };
        match event {
            SpaceEvent::SpaceCreated {
                tenant_id,
                owner,
                root,
            } => created(db, e, space, *tenant_id, owner, *root).await?,
            SpaceEvent::FolderCreated {
                node_id,
                parent,
                name,
            } => {
                let node = NewNode {
                    id: node_id.as_uuid(),
                    parent: parent.as_uuid(),
                    name: name.as_ref(),
                    blob: None,
                };
                insert(db, space, e.meta.tenant_id, &node, by, at).await?;
            }
            SpaceEvent::FileUploaded {
                node_id,
                parent,
                name,
                blob,
            } => {
                let node = NewNode {
                    id: node_id.as_uuid(),
                    parent: parent.as_uuid(),
                    name: name.as_ref(),
                    blob: Some((&blob.sha256, size(blob.size), &blob.media_type)),
                };
                insert(db, space, e.meta.tenant_id, &node, by, at).await?;
                add_used(db, space, size(blob.size)).await?;
            }
            SpaceEvent::NodeRenamed { node_id, name } => {
                sqlx::query("UPDATE space_nodes SET name = $2, updated_at = $3 WHERE id = $1")
                    .bind(node_id.as_uuid())
                    .bind(name.as_ref())
                    .bind(at)
                    .execute(&mut *db)
                    .await?;
            }
            SpaceEvent::NodeMoved { node_id, parent } => {
                sqlx::query("UPDATE space_nodes SET parent = $2, updated_at = $3 WHERE id = $1")
                    .bind(node_id.as_uuid())
                    .bind(parent.as_uuid())
                    .bind(at)
                    .execute(&mut *db)
                    .await?;
            }
            SpaceEvent::NodeCopied {
                node_id,
                source,
                parent,
                name,
            } => copied(db, space, e, *node_id, *source, *parent, name.as_ref(), by).await?,
            SpaceEvent::NodeTrashed { node_id, .. } => trashed(db, *node_id, true, at).await?,
            SpaceEvent::NodeRestored { node_id } => trashed(db, *node_id, false, at).await?,
            SpaceEvent::NodePurged { node_id } => purged(db, space, *node_id).await?,
            SpaceEvent::FolderShared {
                node_id,
                with,
                access,
            } => {
                let (kind, id) = grantee_columns(with);
                sqlx::query(
                    "INSERT INTO space_shares
                       (node_id, space_id, tenant_id, grantee_kind, grantee_id, access, since)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)
                     ON CONFLICT (node_id, grantee_kind, grantee_id)
                     DO UPDATE SET access = EXCLUDED.access",
                )
                .bind(node_id.as_uuid())
                .bind(space)
                .bind(e.meta.tenant_id.as_uuid())
                .bind(kind)
                .bind(id)
                .bind(access_str(*access))
                .bind(at)
                .execute(&mut *db)
                .await?;
            }
            SpaceEvent::FolderUnshared { node_id, with } => {
                let (kind, id) = grantee_columns(with);
                sqlx::query(
                    "DELETE FROM space_shares
                      WHERE node_id = $1 AND grantee_kind = $2 AND grantee_id = $3",
                )
                .bind(node_id.as_uuid())
                .bind(kind)
                .bind(id)
                .execute(&mut *db)
                .await?;
            }
            SpaceEvent::QuotaSet { bytes } => {
                sqlx::query("UPDATE spaces SET quota = $2 WHERE id = $1")
                    .bind(space)
                    .bind(bytes.map(size))
                    .execute(&mut *db)
                    .await?;
            }
        }
        Ok(())
    }
}

/// Sizes are stored as bigint; no file comes near 2^63 bytes.
fn size(bytes: u64) -> i64 {
    i64::try_from(bytes).unwrap_or(i64::MAX)
}

async fn created(
    db: &mut PgConnection,
    e: &StoredEvent,
    space: Uuid,
    tenant: TenantId,
    owner: &SpaceOwner,
    root: NodeId,
) -> Result<(), sqlx::Error> {
    let (kind, owner_id) = owner_columns(owner);
    sqlx::query(
        "INSERT INTO spaces (id, tenant_id, owner_kind, owner_id, root, created_at, position)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(space)
    .bind(tenant.as_uuid())
    .bind(kind)
    .bind(owner_id)
    .bind(root.as_uuid())
    .bind(e.recorded_at)
    .bind(e.position.global_position)
    .execute(&mut *db)
    .await?;
    sqlx::query(
        "INSERT INTO space_nodes (id, space_id, tenant_id, kind, created_at, updated_at)
         VALUES ($1, $2, $3, 'FOLDER', $4, $4)",
    )
    .bind(root.as_uuid())
    .bind(space)
    .bind(tenant.as_uuid())
    .bind(e.recorded_at)
    .execute(&mut *db)
    .await?;
    Ok(())
}

struct NewNode<'a> {
    id: Uuid,
    parent: Uuid,
    name: &'a str,
    /// sha256, size, media type of a file.
    blob: Option<(&'a str, i64, &'a str)>,
}

async fn insert(
    db: &mut PgConnection,
    space: Uuid,
    tenant: TenantId,
    node: &NewNode<'_>,
    by: Option<Uuid>,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let kind = if node.blob.is_some() {
        "FILE"
    } else {
        "FOLDER"
    };
    sqlx::query(
        "INSERT INTO space_nodes (id, space_id, tenant_id, parent, name, kind, sha256, size,
                                  media_type, created_by, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
    )
    .bind(node.id)
    .bind(space)
    .bind(tenant.as_uuid())
    .bind(node.parent)
    .bind(node.name)
    .bind(kind)
    .bind(node.blob.map(|b| b.0))
    .bind(node.blob.map_or(0, |b| b.1))
    .bind(node.blob.map(|b| b.2))
    .bind(by)
    .bind(at)
    .execute(&mut *db)
    .await?;
    Ok(())
}

async fn add_used(db: &mut PgConnection, space: Uuid, bytes: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE spaces SET used = GREATEST(used + $2, 0) WHERE id = $1")
        .bind(space)
        .bind(bytes)
        .execute(&mut *db)
        .await?;
    Ok(())
}

/// A copy of `source` (and what it holds outside the trash) as `copy` in `parent`, with
/// the ids the aggregate gave the copies inside.
#[allow(clippy::too_many_arguments)]
async fn copied(
    db: &mut PgConnection,
    space: Uuid,
    e: &StoredEvent,
    copy: NodeId,
    source: NodeId,
    parent: NodeId,
    name: &str,
    by: Option<Uuid>,
) -> Result<(), sqlx::Error> {
    let originals = subtree(db, source.as_uuid(), true).await?;
    let id_of = |original: Uuid| {
        if original == source.as_uuid() {
            copy.as_uuid()
        } else {
            NodeId::copied(copy, NodeId::from_uuid(original)).as_uuid()
        }
    };
    let mut bytes = 0;
    for original in &originals {
        let (new_parent, new_name) = if original.id == source.as_uuid() {
            (parent.as_uuid(), name)
        } else {
            (
                original.parent.map_or(parent.as_uuid(), id_of),
                original.name.as_deref().unwrap_or_default(),
            )
        };
        let blob = match (&original.sha256, &original.media_type) {
            (Some(sha), Some(media)) => Some((sha.as_str(), original.size, media.as_str())),
            _ => None,
        };
        bytes += original.size;
        let node = NewNode {
            id: id_of(original.id),
            parent: new_parent,
            name: new_name,
            blob,
        };
        insert(db, space, e.meta.tenant_id, &node, by, e.recorded_at).await?;
    }
    add_used(db, space, bytes).await
}

/// Puts `node` in the trash or takes it out: what lies below follows, except what was
/// trashed by itself.
async fn trashed(
    db: &mut PgConnection,
    node: NodeId,
    trash: bool,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let ids: Vec<Uuid> = subtree(db, node.as_uuid(), !trash)
        .await?
        .into_iter()
        .map(|n| n.id)
        .collect();
    sqlx::query("UPDATE space_nodes SET in_trash = $2 WHERE id = ANY($1)")
        .bind(&ids)
        .bind(trash)
        .execute(&mut *db)
        .await?;
    sqlx::query("UPDATE space_nodes SET trashed_at = $2, updated_at = $3 WHERE id = $1")
        .bind(node.as_uuid())
        .bind(trash.then_some(at))
        .bind(at)
        .execute(&mut *db)
        .await?;
    Ok(())
}

async fn purged(db: &mut PgConnection, space: Uuid, node: NodeId) -> Result<(), sqlx::Error> {
    let gone = subtree(db, node.as_uuid(), false).await?;
    let ids: Vec<Uuid> = gone.iter().map(|n| n.id).collect();
    let bytes: i64 = gone.iter().map(|n| n.size).sum();
    sqlx::query("DELETE FROM space_shares WHERE node_id = ANY($1)")
        .bind(&ids)
        .execute(&mut *db)
        .await?;
    sqlx::query("DELETE FROM space_nodes WHERE id = ANY($1)")
        .bind(&ids)
        .execute(&mut *db)
        .await?;
    add_used(db, space, -bytes).await
}

const SPACE_COLUMNS: &str = "id, tenant_id, owner_kind, owner_id, root, quota, used, created_at";
const NODE_COLUMNS: &str = "id, space_id, tenant_id, parent, name, kind, sha256, size, \
     media_type, created_by, created_at, updated_at, trashed_at, in_trash";

pub async fn space_by_id(db: &Reader, id: Uuid) -> Result<Option<SpaceRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {SPACE_COLUMNS} FROM spaces WHERE id = $1"))
        .bind(id)
        .optional(db)
        .await
}

/// Bytes all the spaces of a tenant hold (their trash included).
pub async fn tenant_used(db: &Reader, tenant: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COALESCE(SUM(used), 0)::bigint FROM spaces WHERE tenant_id = $1")
        .bind(tenant)
        .one(db)
        .await
}

pub async fn node(db: &Reader, id: Uuid) -> Result<Option<NodeRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {NODE_COLUMNS} FROM space_nodes WHERE id = $1"
    ))
    .bind(id)
    .optional(db)
    .await
}

/// The node called `name` in `parent`, outside the trash.
pub async fn child(db: &Reader, parent: Uuid, name: &str) -> Result<Option<NodeRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {NODE_COLUMNS} FROM space_nodes
          WHERE parent = $1 AND name = $2 AND NOT in_trash"
    ))
    .bind(parent)
    .bind(name)
    .optional(db)
    .await
}

/// How a folder's listing is sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Name,
    Size,
    Updated,
}

/// What a folder holds outside the trash: folders first, then by `order`; `limit` from
/// `offset`.
pub async fn children(
    db: &Reader,
    parent: Uuid,
    order: Order,
    descending: bool,
    offset: i64,
    limit: i64,
) -> Result<Vec<NodeRow>, sqlx::Error> {
    let key = match order {
        Order::Name => "name",
        Order::Size => "size",
        Order::Updated => "updated_at",
    };
    let direction = if descending { "DESC" } else { "ASC" };
    sqlx::query_as(&format!(
        "SELECT {NODE_COLUMNS} FROM space_nodes WHERE parent = $1 AND NOT in_trash
          ORDER BY kind DESC, {key} {direction}, name, id OFFSET $2 LIMIT $3"
    ))
    .bind(parent)
    .bind(offset)
    .bind(limit)
    .all(db)
    .await
}

/// What was put in a space's trash by itself, most recent first.
pub async fn trash(db: &Reader, space: Uuid) -> Result<Vec<NodeRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {NODE_COLUMNS} FROM space_nodes
          WHERE space_id = $1 AND trashed_at IS NOT NULL ORDER BY trashed_at DESC, id"
    ))
    .bind(space)
    .all(db)
    .await
}

/// The node and the folders above it, from the node up to the root.
pub async fn lineage(db: &Reader, id: Uuid) -> Result<Vec<NodeRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "WITH RECURSIVE up AS (
             SELECT n.*, 0 AS depth FROM space_nodes n WHERE n.id = $1
             UNION ALL
             SELECT n.*, up.depth + 1 FROM space_nodes n JOIN up ON n.id = up.parent)
         SELECT {NODE_COLUMNS} FROM up ORDER BY depth"
    ))
    .bind(id)
    .all(db)
    .await
}

/// Shares of any of `nodes` with any of `grantees` (ids of a member and their groups).
pub async fn shares_on(
    db: &Reader,
    nodes: &[Uuid],
    grantees: &[Uuid],
) -> Result<Vec<ShareRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT node_id, space_id, tenant_id, grantee_kind, grantee_id, access, since
           FROM space_shares WHERE node_id = ANY($1) AND grantee_id = ANY($2)",
    )
    .bind(nodes)
    .bind(grantees)
    .all(db)
    .await
}

/// Who a folder is shared with.
pub async fn shares_of(db: &Reader, node: Uuid) -> Result<Vec<ShareRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT node_id, space_id, tenant_id, grantee_kind, grantee_id, access, since
           FROM space_shares WHERE node_id = $1 ORDER BY since, grantee_id",
    )
    .bind(node)
    .all(db)
    .await
}

/// The folders shared with any of `grantees` (outside the trash), oldest share first.
pub async fn shared_with(db: &Reader, grantees: &[Uuid]) -> Result<Vec<NodeRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {NODE_COLUMNS} FROM space_nodes n
          WHERE NOT n.in_trash AND n.id IN (
                SELECT node_id FROM space_shares WHERE grantee_id = ANY($1))
          ORDER BY n.name, n.id"
    ))
    .bind(grantees)
    .all(db)
    .await
}

/// What a space may still take: what its own quota and its tenant's leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Room {
    /// Neither has a limit.
    Unlimited,
    /// At most this many bytes (more than 0).
    Bytes(u64),
    /// The space's quota is used up.
    SpaceFull,
    /// The tenant's storage quota is used up.
    TenantFull,
}

impl Room {
    /// The most an upload may bring, `max` at most; None when one quota is used up.
    pub fn limit(self, max: u64) -> Option<u64> {
        match self {
            Self::Unlimited => Some(max),
            Self::Bytes(room) => Some(room.min(max)),
            Self::SpaceFull | Self::TenantFull => None,
        }
    }
}

/// The room left in `space` (checked per upload, not reserved).
pub async fn room(db: &Reader, space: &SpaceRow) -> Result<Room, sqlx::Error> {
    let free = |quota: i64, used: i64| u64::try_from(quota.saturating_sub(used)).unwrap_or(0);
    let space_free = space.quota.map(|quota| free(quota, space.used));
    if space_free == Some(0) {
        return Ok(Room::SpaceFull);
    }
    let tenant = TenantId::from_uuid(space.tenant_id);
    let tenant_quota = crate::tenants::by_id(db, tenant)
        .await?
        .and_then(|t| t.storage_quota);
    let Some(quota) = tenant_quota else {
        return Ok(space_free.map_or(Room::Unlimited, Room::Bytes));
    };
    let tenant_free = free(quota, tenant_used(db, space.tenant_id).await?);
    if tenant_free == 0 {
        return Ok(Room::TenantFull);
    }
    Ok(Room::Bytes(
        space_free.map_or(tenant_free, |f| f.min(tenant_free)),
    ))
}
