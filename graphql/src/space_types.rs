//! Spaces in GraphQL: `space(path)` and `node(id)` to browse, mutations to change the
//! tree. File contents travel over HTTP beside GraphQL (`downloadUrl`, `/files/upload`).

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use medgrid_domain::spaces::{Access, Right};
use medgrid_projections::page::Page;
use medgrid_projections::spaces::{self as rows, NodeRow, Order, SpaceRow};

use crate::ApiError;
use crate::types::{connection, page_request, scope};
use crate::usecases::spaces::{self, Listing, Located, Place, ShareWith};

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum NodeKind {
    Folder,
    File,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "NodeOrder")]
pub enum NodeOrder {
    Name,
    Size,
    Updated,
}

/// What the caller may do with a node.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "NodeAccess")]
pub enum NodeAccess {
    Read,
    ReadWrite,
    /// Read, write and share.
    Manage,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "ShareAccess")]
pub enum ShareAccess {
    Read,
    ReadWrite,
}

impl From<ShareAccess> for Access {
    fn from(a: ShareAccess) -> Self {
        match a {
            ShareAccess::Read => Self::Read,
            ShareAccess::ReadWrite => Self::ReadWrite,
        }
    }
}

/// A folder or file in a space.
pub struct SpaceNode(pub(crate) Located);

#[derive(SimpleObject)]
pub struct Share {
    /// `MEMBER` or `GROUP`.
    grantee_kind: String,
    grantee_id: ID,
    access: ShareAccess,
    since: DateTime<Utc>,
}

#[derive(SimpleObject)]
pub struct SpaceQuota {
    /// Bytes of every file in the space, the trash included.
    used: f64,
    /// None: no quota.
    limit: Option<f64>,
}

impl From<&SpaceRow> for SpaceQuota {
    fn from(s: &SpaceRow) -> Self {
        // f64: GraphQL's Int is 32 bits; byte counts need more.
        #[allow(clippy::cast_precision_loss)]
        Self {
            used: s.used as f64,
            limit: s.quota.map(|q| q as f64),
        }
    }
}

fn child(parent: &Located, node: NodeRow) -> SpaceNode {
    SpaceNode(Located {
        space: parent.space.clone(),
        node,
        right: parent.right,
    })
}

#[Object]
impl SpaceNode {
    async fn id(&self) -> ID {
        ID(self.0.node.id.to_string())
    }

    /// The root of a space has no name of its own: `home` or its group's.
    async fn name(&self) -> Option<&str> {
        self.0.node.name.as_deref()
    }

    async fn kind(&self) -> NodeKind {
        if self.0.node.is_folder() {
            NodeKind::Folder
        } else {
            NodeKind::File
        }
    }

    /// Where the caller finds it: `/home/…`, `/groups/<group>/…` or `/shared/<folder>/…`.
    async fn path(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        Ok(spaces::path_of(&scope(ctx)?, &self.0).await?)
    }

    /// Bytes (0 for folders).
    async fn size(&self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let size = self.0.node.size as f64;
        size
    }

    async fn sha256(&self) -> Option<&str> {
        self.0.node.sha256.as_deref()
    }

    async fn media_type(&self) -> Option<&str> {
        self.0.node.media_type.as_deref()
    }

    /// The member who created it (None when the system did).
    async fn created_by(&self) -> Option<ID> {
        self.0.node.created_by.map(|m| ID(m.to_string()))
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.node.created_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.node.updated_at
    }

    /// When it was put in the trash itself.
    async fn trashed_at(&self) -> Option<DateTime<Utc>> {
        self.0.node.trashed_at
    }

    /// It or a folder above it is in the trash.
    async fn in_trash(&self) -> bool {
        self.0.node.in_trash
    }

    async fn access(&self) -> NodeAccess {
        match self.0.right {
            Right::Read => NodeAccess::Read,
            Right::Write => NodeAccess::ReadWrite,
            Right::Manage => NodeAccess::Manage,
        }
    }

    /// Where its content is downloaded (files only; Range requests work).
    async fn download_url(&self) -> Option<String> {
        (!self.0.node.is_folder()).then(|| format!("/files/nodes/{}", self.0.node.id))
    }

    /// What a folder holds outside the trash, folders first.
    async fn children(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        #[graphql(default_with = "NodeOrder::Name")] order_by: NodeOrder,
        #[graphql(default)] descending: bool,
    ) -> async_graphql::Result<Connection<String, SpaceNode>> {
        list_children(ctx, &self.0, first, after, order_by, descending).await
    }

    /// Who a folder is shared with (for those who may share it).
    async fn shares(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Share>> {
        shares(ctx, &self.0).await
    }

    /// Usage and quota of the space it is in.
    async fn quota(&self) -> SpaceQuota {
        (&self.0.space).into()
    }
}

async fn list_children(
    ctx: &Context<'_>,
    at: &Located,
    first: Option<i32>,
    after: Option<String>,
    order_by: NodeOrder,
    descending: bool,
) -> async_graphql::Result<Connection<String, SpaceNode>> {
    let scope = scope(ctx)?;
    let request = page_request(first, after)?;
    if !at.node.is_folder() || request.first == 0 {
        return Ok(Connection::new(false, false));
    }
    let offset = request.after_position();
    let listing = Listing {
        order: match order_by {
            NodeOrder::Name => Order::Name,
            NodeOrder::Size => Order::Size,
            NodeOrder::Updated => Order::Updated,
        },
        descending,
        offset,
        first: request.first,
    };
    let fetched = spaces::children(&scope, at, listing).await?;
    let numbered: Vec<(i64, NodeRow)> = (offset + 1..).zip(fetched).collect();
    let page = Page::from_fetched(numbered, request.first);
    Ok(connection(
        page,
        request,
        |(n, _)| *n,
        |(_, row)| child(at, row),
    ))
}

/// What a path shows.
pub struct SpaceListing {
    path: String,
    place: Place,
}

#[Object]
impl SpaceListing {
    async fn path(&self) -> &str {
        &self.path
    }

    /// The folder or file at the path; None at `/`, `/groups` and `/shared`.
    async fn node(&self) -> Option<SpaceNode> {
        match &self.place {
            Place::Node(at) => Some(SpaceNode(at.as_ref().clone())),
            _ => None,
        }
    }

    /// Paths one level down that are not nodes: the spaces and shares at `/`, `/groups`
    /// and `/shared`.
    async fn places(&self) -> Vec<String> {
        match &self.place {
            Place::Top => ["/home", "/groups", "/shared"].map(String::from).to_vec(),
            Place::Groups(groups) => groups
                .iter()
                .map(|g| format!("/groups/{}", g.name))
                .collect(),
            Place::Shared(shared) => shared
                .iter()
                .map(|s| format!("/shared/{}", s.node.name.as_deref().unwrap_or_default()))
                .collect(),
            Place::Node(_) => vec![],
        }
    }

    /// What the folder at the path holds (the shared folders at `/shared`).
    async fn children(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        #[graphql(default_with = "NodeOrder::Name")] order_by: NodeOrder,
        #[graphql(default)] descending: bool,
    ) -> async_graphql::Result<Connection<String, SpaceNode>> {
        match &self.place {
            Place::Node(at) => list_children(ctx, at, first, after, order_by, descending).await,
            Place::Shared(shared) => {
                let request = page_request(first, after)?;
                let skip = usize::try_from(request.after_position()).unwrap_or(0);
                let numbered: Vec<(i64, Located)> = (request.after_position() + 1..)
                    .zip(shared.iter().skip(skip).cloned())
                    .collect();
                let page = Page::from_fetched(numbered, request.first);
                Ok(connection(
                    page,
                    request,
                    |(n, _)| *n,
                    |(_, at)| SpaceNode(at),
                ))
            }
            Place::Top | Place::Groups(_) => Ok(Connection::new(false, false)),
        }
    }

    /// What is in the trash of the space at the path (for those who may write in it).
    async fn trash(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<SpaceNode>> {
        let Place::Node(at) = &self.place else {
            return Ok(vec![]);
        };
        let scope = scope(ctx)?;
        let rows = spaces::trash(&scope, at).await?;
        Ok(rows.into_iter().map(|row| child(at, row)).collect())
    }
}

/// A number of bytes given as a GraphQL Float (Int is 32-bit): whole, non-negative.
pub fn byte_count(bytes: Option<f64>) -> Result<Option<u64>, ApiError> {
    bytes
        .map(|b| {
            if b.is_finite() && b >= 0.0 && b.fract() == 0.0 && b < 9.0e15 {
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                Ok(b as u64)
            } else {
                Err(ApiError::invalid(
                    "bytes must be a whole, non-negative number",
                ))
            }
        })
        .transpose()
}

#[derive(Default)]
pub struct SpaceQuery;

#[Object]
impl SpaceQuery {
    /// Browses the caller's spaces: `/`, `/home/…`, `/groups/<group>/…`, `/shared/<folder>/…`.
    async fn space(&self, ctx: &Context<'_>, path: String) -> async_graphql::Result<SpaceListing> {
        let scope = scope(ctx)?;
        let place = spaces::at_path(&scope, &path).await?;
        let path = match &place {
            Place::Node(at) => spaces::path_of(&scope, at).await?,
            _ => path.trim_end_matches('/').to_owned(),
        };
        let path = if path.is_empty() {
            "/".to_owned()
        } else {
            path
        };
        Ok(SpaceListing { path, place })
    }

    /// A folder or file by id.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<SpaceNode> {
        Ok(SpaceNode(spaces::located(&scope(ctx)?, &id).await?))
    }
}

/// A member or a group of the caller's tenant (exactly one of the two).
#[derive(InputObject)]
pub struct GranteeInput {
    member_id: Option<ID>,
    group_id: Option<ID>,
}

impl GranteeInput {
    fn with(&self) -> Result<ShareWith<'_>, ApiError> {
        match (&self.member_id, &self.group_id) {
            (Some(m), None) => Ok(ShareWith::Member(m)),
            (None, Some(g)) => Ok(ShareWith::Group(g)),
            _ => Err(ApiError::invalid(
                "give exactly one of memberId and groupId",
            )),
        }
    }
}

#[derive(Default)]
pub struct SpaceMutation;

#[Object]
impl SpaceMutation {
    async fn create_folder(
        &self,
        ctx: &Context<'_>,
        parent_id: ID,
        name: String,
    ) -> async_graphql::Result<SpaceNode> {
        let at = spaces::create_folder(&scope(ctx)?, &parent_id, &name).await?;
        Ok(SpaceNode(at))
    }

    async fn rename_node(
        &self,
        ctx: &Context<'_>,
        id: ID,
        name: String,
    ) -> async_graphql::Result<SpaceNode> {
        Ok(SpaceNode(spaces::rename(&scope(ctx)?, &id, &name).await?))
    }

    /// Into another folder of the same space.
    async fn move_node(
        &self,
        ctx: &Context<'_>,
        id: ID,
        parent_id: ID,
    ) -> async_graphql::Result<SpaceNode> {
        Ok(SpaceNode(
            spaces::move_node(&scope(ctx)?, &id, &parent_id).await?,
        ))
    }

    /// A copy (of a folder: with what it holds outside the trash) in the same space.
    async fn copy_node(
        &self,
        ctx: &Context<'_>,
        id: ID,
        parent_id: ID,
        name: Option<String>,
    ) -> async_graphql::Result<SpaceNode> {
        let at = spaces::copy_node(&scope(ctx)?, &id, &parent_id, name.as_deref()).await?;
        Ok(SpaceNode(at))
    }

    /// Moves it to the trash (restorable until purged).
    async fn delete_node(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<SpaceNode> {
        Ok(SpaceNode(spaces::delete_node(&scope(ctx)?, &id).await?))
    }

    async fn restore_node(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<SpaceNode> {
        Ok(SpaceNode(spaces::restore_node(&scope(ctx)?, &id).await?))
    }

    /// Removes for good something in the trash.
    async fn purge_node(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<bool> {
        spaces::purge_node(&scope(ctx)?, &id).await?;
        Ok(true)
    }

    async fn share_folder(
        &self,
        ctx: &Context<'_>,
        id: ID,
        with: GranteeInput,
        access: ShareAccess,
    ) -> async_graphql::Result<SpaceNode> {
        let at = spaces::share_folder(&scope(ctx)?, &id, with.with()?, access.into()).await?;
        Ok(SpaceNode(at))
    }

    async fn unshare_folder(
        &self,
        ctx: &Context<'_>,
        id: ID,
        with: GranteeInput,
    ) -> async_graphql::Result<SpaceNode> {
        Ok(SpaceNode(
            spaces::unshare_folder(&scope(ctx)?, &id, with.with()?).await?,
        ))
    }

    /// Sets the quota (bytes; null lifts it) of a member's home or a group's space.
    async fn set_space_quota(
        &self,
        ctx: &Context<'_>,
        owner: GranteeInput,
        bytes: Option<f64>,
    ) -> async_graphql::Result<SpaceQuota> {
        let bytes = byte_count(bytes)?;
        let row = spaces::set_quota(&scope(ctx)?, owner.with()?, bytes).await?;
        Ok((&row).into())
    }
}

/// Who a folder is shared with, for those who may share it.
pub async fn shares(ctx: &Context<'_>, at: &Located) -> async_graphql::Result<Vec<Share>> {
    if at.right != Right::Manage {
        return Ok(vec![]);
    }
    let scope = scope(ctx)?;
    let list = rows::shares_of(&scope.reader(), at.node.id).await?;
    Ok(list
        .into_iter()
        .map(|s| Share {
            grantee_kind: s.grantee_kind,
            grantee_id: ID(s.grantee_id.to_string()),
            access: if s.access == "READ_WRITE" {
                ShareAccess::ReadWrite
            } else {
                ShareAccess::Read
            },
            since: s.since,
        })
        .collect())
}
