//! Spaces: a home per member and one per group, created on first use, browsed by path
//! (`/home/…`, `/groups/<group>/…`, `/shared/<folder>/…`) or by node id, changed by
//! commands on the Space aggregate. Who may do what is `spaces::right`; a node the caller
//! may not see is not found, whoever owns it.

use chrono::Utc;
use medgrid_domain::Code;
use medgrid_domain::actor::Actor;
use medgrid_domain::ids::{GroupId, MemberId, NodeId, SpaceId, TenantId};
use medgrid_domain::spaces::{
    Access, Blob, Grantee, NodeName, Right, SpaceCommand, SpaceOwner, SpacePath, right,
};
use medgrid_projections::groups::{self, GroupRow};
use medgrid_projections::spaces::{self, NodeRow, Order, Room, SpaceRow};
use uuid::Uuid;

use super::{Scope, parse_id};
use crate::ApiError;

/// A node with the space it is in and what the caller may do with it.
#[derive(Debug, Clone)]
pub struct Located {
    pub space: SpaceRow,
    pub node: NodeRow,
    pub right: Right,
}

/// What a path names: one of the virtual folders above the spaces, or a node.
#[derive(Debug, Clone)]
pub enum Place {
    /// `/`: home, groups, shared.
    Top,
    /// `/groups`: the caller's groups.
    Groups(Vec<GroupRow>),
    /// `/shared`: the folders others share with the caller.
    Shared(Vec<Located>),
    Node(Box<Located>),
}

fn actor<'a>(scope: &'a Scope<'_>) -> Result<&'a Actor, ApiError> {
    scope
        .caller
        .actor()
        .ok_or_else(|| ApiError::unauthenticated("spaces belong to members: sign in"))
}

pub fn owner_of(space: &SpaceRow) -> SpaceOwner {
    if space.owner_kind == "GROUP" {
        SpaceOwner::Group(GroupId::from_uuid(space.owner_id))
    } else {
        SpaceOwner::Member(MemberId::from_uuid(space.owner_id))
    }
}

fn space_id(owner: SpaceOwner) -> SpaceId {
    match owner {
        SpaceOwner::Member(m) => SpaceId::home(m),
        SpaceOwner::Group(g) => SpaceId::of_group(g),
    }
}

/// The space of `owner`, created on first use.
async fn ensure(
    scope: &Scope<'_>,
    tenant: TenantId,
    owner: SpaceOwner,
) -> Result<SpaceRow, ApiError> {
    let id = space_id(owner);
    if let Some(row) = spaces::space_by_id(&scope.reader(), id.as_uuid()).await? {
        return Ok(row);
    }
    let create = SpaceCommand::Create {
        tenant_id: tenant,
        owner,
        root: NodeId::root_of(id),
    };
    match scope
        .svc
        .bus
        .space(id, create, &scope.metadata(tenant))
        .await
    {
        // created meanwhile by a concurrent first use
        Err(e) if e.code() == Code::Conflict => {}
        other => other?,
    }
    spaces::space_by_id(&scope.reader(), id.as_uuid())
        .await?
        .ok_or_else(|| ApiError::new(Code::Internal, "the space is not readable yet; retry"))
}

/// The caller's home.
pub async fn home(scope: &Scope<'_>) -> Result<SpaceRow, ApiError> {
    let actor = actor(scope)?;
    ensure(scope, actor.tenant_id, SpaceOwner::Member(actor.member_id)).await
}

/// A space of one of the caller's groups.
pub async fn group_space(scope: &Scope<'_>, group: GroupId) -> Result<SpaceRow, ApiError> {
    let actor = actor(scope)?;
    if !actor.groups.contains_key(&group) {
        return Err(ApiError::not_found("group"));
    }
    ensure(scope, actor.tenant_id, SpaceOwner::Group(group)).await
}

/// Whether the space is the caller's own: their home, or a space of one of their groups.
fn owns(actor: &Actor, owner: SpaceOwner) -> bool {
    match owner {
        SpaceOwner::Member(m) => m == actor.member_id,
        SpaceOwner::Group(g) => actor.groups.contains_key(&g),
    }
}

/// The ids a share may name for the caller: themselves and their groups.
fn grantee_ids(actor: &Actor) -> Vec<Uuid> {
    std::iter::once(actor.member_id.as_uuid())
        .chain(actor.groups.keys().map(|g| g.as_uuid()))
        .collect()
}

fn grantee_of(kind: &str, id: Uuid) -> Grantee {
    if kind == "GROUP" {
        Grantee::Group(GroupId::from_uuid(id))
    } else {
        Grantee::Member(MemberId::from_uuid(id))
    }
}

fn access_of(stored: &str) -> Access {
    if stored == "READ_WRITE" {
        Access::ReadWrite
    } else {
        Access::Read
    }
}

/// A node the caller may see, with their right on it.
pub async fn locate(scope: &Scope<'_>, id: NodeId) -> Result<Located, ApiError> {
    let actor = actor(scope)?;
    let db = scope.reader();
    let missing = || ApiError::not_found("file or folder");
    let node = spaces::node(&db, id.as_uuid()).await?.ok_or_else(missing)?;
    let space = spaces::space_by_id(&db, node.space_id)
        .await?
        .ok_or_else(missing)?;
    let lineage: Vec<Uuid> = spaces::lineage(&db, node.id)
        .await?
        .iter()
        .map(|n| n.id)
        .collect();
    let shares: Vec<(Grantee, Access)> = spaces::shares_on(&db, &lineage, &grantee_ids(actor))
        .await?
        .iter()
        .map(|s| {
            (
                grantee_of(&s.grantee_kind, s.grantee_id),
                access_of(&s.access),
            )
        })
        .collect();
    let tenant = TenantId::from_uuid(space.tenant_id);
    let right = right(actor, tenant, owner_of(&space), &shares).ok_or_else(missing)?;
    Ok(Located { space, node, right })
}

pub async fn located(scope: &Scope<'_>, raw: &str) -> Result<Located, ApiError> {
    locate(scope, parse_id(raw, "file or folder")?).await
}

fn require_write(at: &Located) -> Result<(), ApiError> {
    if at.right.may_write() {
        Ok(())
    } else {
        Err(ApiError::new(
            Code::Forbidden,
            "this folder is shared with you read-only",
        ))
    }
}

fn require_live(at: &Located) -> Result<(), ApiError> {
    if at.node.in_trash {
        Err(ApiError::new(
            Code::Conflict,
            "this is in the trash: restore it first",
        ))
    } else {
        Ok(())
    }
}

/// Walks `names` down from `from`, outside the trash.
async fn walk(scope: &Scope<'_>, from: Uuid, names: &[NodeName]) -> Result<Located, ApiError> {
    let db = scope.reader();
    let mut at = from;
    for name in names {
        at = spaces::child(&db, at, name.as_ref())
            .await?
            .ok_or_else(|| ApiError::not_found("file or folder"))?
            .id;
    }
    locate(scope, NodeId::from_uuid(at)).await
}

/// The caller's groups, by name.
async fn my_groups(scope: &Scope<'_>) -> Result<Vec<GroupRow>, ApiError> {
    let actor = actor(scope)?;
    let db = scope.reader();
    let mut rows = vec![];
    for id in actor.groups.keys() {
        if let Some(row) = groups::by_id(&db, *id).await? {
            rows.push(row);
        }
    }
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(rows)
}

/// The folders shared with the caller that are not theirs anyway.
async fn shared_with_me(scope: &Scope<'_>) -> Result<Vec<Located>, ApiError> {
    let actor = actor(scope)?;
    let rows = spaces::shared_with(&scope.reader(), &grantee_ids(actor)).await?;
    let mut out = vec![];
    for row in rows {
        let at = locate(scope, NodeId::from_uuid(row.id)).await?;
        if !owns(actor, owner_of(&at.space)) {
            out.push(at);
        }
    }
    Ok(out)
}

/// Unique by name: two groups or shared folders of the same name are told apart by id.
fn pick<T>(found: Vec<T>, what: &str, segment: &str) -> Result<T, ApiError> {
    let mut found = found.into_iter();
    match (found.next(), found.next()) {
        (Some(one), None) => Ok(one),
        (None, _) => Err(ApiError::not_found(what)),
        (Some(_), Some(_)) => Err(ApiError::new(
            Code::Conflict,
            format!("more than one {what} is called {segment:?}: use its id"),
        )),
    }
}

/// What `path` names for the caller.
pub async fn at_path(scope: &Scope<'_>, path: &str) -> Result<Place, ApiError> {
    let path: SpacePath = path.parse()?;
    let segments = path.segments();
    let Some((first, rest)) = segments.split_first() else {
        return Ok(Place::Top);
    };
    match first.as_ref() {
        "home" => {
            let home = home(scope).await?;
            Ok(Place::Node(Box::new(walk(scope, home.root, rest).await?)))
        }
        "groups" => {
            let Some((group, rest)) = rest.split_first() else {
                return Ok(Place::Groups(my_groups(scope).await?));
            };
            let name = group.as_ref();
            let found: Vec<GroupRow> = my_groups(scope)
                .await?
                .into_iter()
                .filter(|g| g.name == name || g.id.to_string() == name)
                .collect();
            let row = pick(found, "group", name)?;
            let space = group_space(scope, GroupId::from_uuid(row.id)).await?;
            Ok(Place::Node(Box::new(walk(scope, space.root, rest).await?)))
        }
        "shared" => {
            let Some((folder, rest)) = rest.split_first() else {
                return Ok(Place::Shared(shared_with_me(scope).await?));
            };
            let name = folder.as_ref();
            let found: Vec<Located> = shared_with_me(scope)
                .await?
                .into_iter()
                .filter(|at| {
                    at.node.name.as_deref() == Some(name) || at.node.id.to_string() == name
                })
                .collect();
            let at = pick(found, "shared folder", name)?;
            Ok(Place::Node(Box::new(walk(scope, at.node.id, rest).await?)))
        }
        _ => Err(ApiError::invalid(
            "a path starts with /home, /groups/<group> or /shared/<folder>",
        )),
    }
}

/// The node's path as the caller sees it: under /home, /groups/<name> or, for what is
/// shared with them, /shared/<the shared folder>.
pub async fn path_of(scope: &Scope<'_>, at: &Located) -> Result<String, ApiError> {
    let actor = actor(scope)?;
    let db = scope.reader();
    let lineage = spaces::lineage(&db, at.node.id).await?;
    let owner = owner_of(&at.space);
    let own = owns(actor, owner);
    // from the root (or the shared folder) down to the node
    let mut names: Vec<&str> = vec![];
    let prefix = if own {
        for n in lineage.iter().rev().skip(1) {
            names.push(n.name.as_deref().unwrap_or_default());
        }
        match owner {
            SpaceOwner::Member(_) => "/home".to_owned(),
            SpaceOwner::Group(g) => {
                let name = groups::by_id(&db, g).await?.map(|r| r.name);
                format!("/groups/{}", name.unwrap_or_else(|| g.to_string()))
            }
        }
    } else {
        let ids: Vec<Uuid> = lineage.iter().map(|n| n.id).collect();
        let shared = spaces::shares_on(&db, &ids, &grantee_ids(actor)).await?;
        // the highest shared folder above the node
        let top = lineage
            .iter()
            .rposition(|n| shared.iter().any(|s| s.node_id == n.id))
            .unwrap_or(0);
        for n in lineage[..top].iter().rev() {
            names.push(n.name.as_deref().unwrap_or_default());
        }
        format!(
            "/shared/{}",
            lineage[top].name.as_deref().unwrap_or_default()
        )
    };
    let mut path = prefix;
    for name in names {
        path.push('/');
        path.push_str(name);
    }
    Ok(path)
}

/// How many listed, from where, in which order.
#[derive(Debug, Clone, Copy)]
pub struct Listing {
    pub order: Order,
    pub descending: bool,
    pub offset: i64,
    pub first: i64,
}

pub const MAX_PAGE: i64 = 500;

/// What a folder holds, one page (one more row than asked tells whether more follow).
pub async fn children(
    scope: &Scope<'_>,
    folder: &Located,
    listing: Listing,
) -> Result<Vec<NodeRow>, ApiError> {
    if !(1..=MAX_PAGE).contains(&listing.first) || listing.offset < 0 {
        return Err(ApiError::invalid(format!(
            "first must be 1 to {MAX_PAGE}, after a valid cursor"
        )));
    }
    Ok(spaces::children(
        &scope.reader(),
        folder.node.id,
        listing.order,
        listing.descending,
        listing.offset,
        listing.first + 1,
    )
    .await?)
}

/// The space's trash, for those who may write in the space itself (empty for those who
/// only see a folder shared with them).
pub async fn trash(scope: &Scope<'_>, space: &Located) -> Result<Vec<NodeRow>, ApiError> {
    match locate(scope, NodeId::from_uuid(space.space.root)).await {
        Ok(root) if root.right.may_write() => {
            Ok(spaces::trash(&scope.reader(), space.space.id).await?)
        }
        Ok(_) => Ok(vec![]),
        Err(e) if e.code == Code::NotFound => Ok(vec![]),
        Err(e) => Err(e),
    }
}

async fn command(scope: &Scope<'_>, at: &Located, command: SpaceCommand) -> Result<(), ApiError> {
    let tenant = TenantId::from_uuid(at.space.tenant_id);
    let id = SpaceId::from_uuid(at.space.id);
    Ok(scope
        .svc
        .bus
        .space(id, command, &scope.metadata(tenant))
        .await?)
}

pub(crate) async fn writable_folder(scope: &Scope<'_>, raw: &str) -> Result<Located, ApiError> {
    let at = located(scope, raw).await?;
    require_write(&at)?;
    require_live(&at)?;
    if !at.node.is_folder() {
        return Err(ApiError::invalid("this is not a folder"));
    }
    Ok(at)
}

pub async fn create_folder(
    scope: &Scope<'_>,
    parent: &str,
    name: &str,
) -> Result<Located, ApiError> {
    let name: NodeName = name.parse()?;
    let parent = writable_folder(scope, parent).await?;
    let node_id = NodeId::random();
    let create = SpaceCommand::CreateFolder {
        node_id,
        parent: NodeId::from_uuid(parent.node.id),
        name,
    };
    command(scope, &parent, create).await?;
    locate(scope, node_id).await
}

pub async fn rename(scope: &Scope<'_>, id: &str, name: &str) -> Result<Located, ApiError> {
    let name: NodeName = name.parse()?;
    let at = located(scope, id).await?;
    require_write(&at)?;
    let node_id = NodeId::from_uuid(at.node.id);
    command(scope, &at, SpaceCommand::Rename { node_id, name }).await?;
    locate(scope, node_id).await
}

/// Both ends must be in the same space: across spaces, copy then delete.
fn same_space(a: &Located, b: &Located) -> Result<(), ApiError> {
    if a.space.id == b.space.id {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "moves and copies stay within one space for now: download and upload across spaces",
        ))
    }
}

pub async fn move_node(scope: &Scope<'_>, id: &str, parent: &str) -> Result<Located, ApiError> {
    let at = located(scope, id).await?;
    require_write(&at)?;
    let target = writable_folder(scope, parent).await?;
    same_space(&at, &target)?;
    let node_id = NodeId::from_uuid(at.node.id);
    let parent = NodeId::from_uuid(target.node.id);
    command(scope, &at, SpaceCommand::Move { node_id, parent }).await?;
    locate(scope, node_id).await
}

pub async fn copy_node(
    scope: &Scope<'_>,
    id: &str,
    parent: &str,
    name: Option<&str>,
) -> Result<Located, ApiError> {
    let name = name.map(str::parse::<NodeName>).transpose()?;
    let at = located(scope, id).await?;
    let target = writable_folder(scope, parent).await?;
    same_space(&at, &target)?;
    let node_id = NodeId::random();
    let copy = SpaceCommand::Copy {
        node_id,
        source: NodeId::from_uuid(at.node.id),
        parent: NodeId::from_uuid(target.node.id),
        name,
    };
    command(scope, &at, copy).await?;
    locate(scope, node_id).await
}

/// Moves a node to its space's trash.
pub async fn delete_node(scope: &Scope<'_>, id: &str) -> Result<Located, ApiError> {
    let at = located(scope, id).await?;
    require_write(&at)?;
    let node_id = NodeId::from_uuid(at.node.id);
    let trash = SpaceCommand::Trash {
        node_id,
        at: Utc::now(),
    };
    command(scope, &at, trash).await?;
    locate(scope, node_id).await
}

pub async fn restore_node(scope: &Scope<'_>, id: &str) -> Result<Located, ApiError> {
    let at = located(scope, id).await?;
    require_write(&at)?;
    let node_id = NodeId::from_uuid(at.node.id);
    command(scope, &at, SpaceCommand::Restore { node_id }).await?;
    locate(scope, node_id).await
}

/// Removes for good what is in the trash (its contents are freed once nothing else
/// refers to them).
pub async fn purge_node(scope: &Scope<'_>, id: &str) -> Result<(), ApiError> {
    let at = located(scope, id).await?;
    require_write(&at)?;
    let node_id = NodeId::from_uuid(at.node.id);
    command(scope, &at, SpaceCommand::Purge { node_id }).await
}

/// With whom a folder is (to be) shared: a member or a group of the same tenant.
pub enum ShareWith<'a> {
    Member(&'a str),
    Group(&'a str),
}

async fn grantee(
    scope: &Scope<'_>,
    tenant: TenantId,
    with: ShareWith<'_>,
) -> Result<Grantee, ApiError> {
    let db = scope.reader();
    match with {
        ShareWith::Member(raw) => {
            let id: MemberId = parse_id(raw, "member")?;
            let row = medgrid_projections::members::by_id(&db, id)
                .await?
                .filter(|m| m.tenant_id == tenant.as_uuid())
                .ok_or_else(|| ApiError::not_found("member"))?;
            Ok(Grantee::Member(MemberId::from_uuid(row.id)))
        }
        ShareWith::Group(raw) => {
            let id: GroupId = parse_id(raw, "group")?;
            let row = groups::by_id(&db, id)
                .await?
                .filter(|g| g.tenant_id == tenant.as_uuid())
                .ok_or_else(|| ApiError::not_found("group"))?;
            Ok(Grantee::Group(GroupId::from_uuid(row.id)))
        }
    }
}

fn require_manage(at: &Located) -> Result<(), ApiError> {
    if at.right == Right::Manage {
        Ok(())
    } else {
        Err(ApiError::new(
            Code::Forbidden,
            "only the space's owner (or a manager of its group) shares its folders",
        ))
    }
}

pub async fn share_folder(
    scope: &Scope<'_>,
    id: &str,
    with: ShareWith<'_>,
    access: Access,
) -> Result<Located, ApiError> {
    let at = located(scope, id).await?;
    require_manage(&at)?;
    let with = grantee(scope, TenantId::from_uuid(at.space.tenant_id), with).await?;
    let node_id = NodeId::from_uuid(at.node.id);
    let share = SpaceCommand::Share {
        node_id,
        with,
        access,
    };
    command(scope, &at, share).await?;
    locate(scope, node_id).await
}

pub async fn unshare_folder(
    scope: &Scope<'_>,
    id: &str,
    with: ShareWith<'_>,
) -> Result<Located, ApiError> {
    let at = located(scope, id).await?;
    require_manage(&at)?;
    let with = grantee(scope, TenantId::from_uuid(at.space.tenant_id), with).await?;
    let node_id = NodeId::from_uuid(at.node.id);
    command(scope, &at, SpaceCommand::Unshare { node_id, with }).await?;
    locate(scope, node_id).await
}

/// Sets (or lifts, with None) the quota of a member's home or a group's space: tenant
/// administrators only.
pub async fn set_quota(
    scope: &Scope<'_>,
    owner: ShareWith<'_>,
    bytes: Option<u64>,
) -> Result<SpaceRow, ApiError> {
    let actor = actor(scope)?;
    let tenant = actor.tenant_id;
    scope.require_admin_of(tenant)?;
    let owner = match grantee(scope, tenant, owner).await? {
        Grantee::Member(m) => SpaceOwner::Member(m),
        Grantee::Group(g) => SpaceOwner::Group(g),
    };
    let space = ensure(scope, tenant, owner).await?;
    let id = SpaceId::from_uuid(space.id);
    scope
        .svc
        .bus
        .space(id, SpaceCommand::SetQuota(bytes), &scope.metadata(tenant))
        .await?;
    spaces::space_by_id(&scope.reader(), space.id)
        .await?
        .ok_or_else(|| ApiError::not_found("space"))
}

/// Where an upload goes, and how many bytes it may bring.
#[derive(Debug, Clone)]
pub struct UploadPlan {
    pub folder: Located,
    pub name: NodeName,
    /// The space's free room (or `max_bytes` when it has no quota).
    pub limit: u64,
}

/// Checks an upload before any byte is accepted: a folder the caller may write to, a
/// name that is valid and free, and room in the space's quota.
pub async fn plan_upload(
    scope: &Scope<'_>,
    parent: &str,
    name: &str,
    max_bytes: u64,
) -> Result<UploadPlan, ApiError> {
    let name: NodeName = name.parse()?;
    let folder = writable_folder(scope, parent).await?;
    if spaces::child(&scope.reader(), folder.node.id, name.as_ref())
        .await?
        .is_some()
    {
        return Err(ApiError::new(
            Code::Conflict,
            "a file or folder of this name is already there",
        ));
    }
    let limit = room(scope, &folder.space)
        .await?
        .map_or(max_bytes, |room| room.min(max_bytes));
    Ok(UploadPlan {
        folder,
        name,
        limit,
    })
}

/// The bytes a space may still take: what its own quota and its tenant's leave (None
/// when neither has a limit). QUOTA_EXCEEDED when one of them is used up.
pub(crate) async fn room(scope: &Scope<'_>, space: &SpaceRow) -> Result<Option<u64>, ApiError> {
    match spaces::room(&scope.reader(), space).await? {
        Room::Unlimited => Ok(None),
        Room::Bytes(n) => Ok(Some(n)),
        Room::SpaceFull => Err(ApiError::new(
            Code::QuotaExceeded,
            "the space's quota is used up",
        )),
        Room::TenantFull => Err(ApiError::new(
            Code::QuotaExceeded,
            "your institution's storage quota is used up",
        )),
    }
}

/// Records an uploaded file (its content already stored) in the planned folder.
pub async fn finish_upload(
    scope: &Scope<'_>,
    plan: UploadPlan,
    blob: Blob,
) -> Result<Located, ApiError> {
    let node_id = NodeId::random();
    let upload = SpaceCommand::UploadFile {
        node_id,
        parent: NodeId::from_uuid(plan.folder.node.id),
        name: plan.name,
        blob,
    };
    command(scope, &plan.folder, upload).await?;
    locate(scope, node_id).await
}

/// A file the caller may read and that is not in the trash: what a download serves.
pub async fn readable_file(scope: &Scope<'_>, id: &str) -> Result<Located, ApiError> {
    let at = located(scope, id).await?;
    live_file(at)
}

/// The file at `path` (`/home/…`, `/groups/…`, `/shared/…`) if the caller may read it:
/// what a job's File input names.
pub async fn readable_file_at(scope: &Scope<'_>, path: &str) -> Result<Located, ApiError> {
    match at_path(scope, path).await? {
        Place::Node(at) => live_file(*at),
        _ => Err(ApiError::invalid("this is a folder, not a file")),
    }
}

fn live_file(at: Located) -> Result<Located, ApiError> {
    require_live(&at)?;
    if at.node.is_folder() {
        return Err(ApiError::invalid("this is a folder: download its files"));
    }
    Ok(at)
}
