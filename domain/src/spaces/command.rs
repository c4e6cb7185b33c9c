use chrono::{DateTime, Utc};

use super::event::{Access, Blob, Grantee, SpaceOwner};
use super::names::NodeName;
use crate::ids::{NodeId, TenantId};

/// Commands on a space. Ids of new nodes come with the command (so a retried command
/// lands on the same node).
#[derive(Debug, Clone, PartialEq)]
pub enum SpaceCommand {
    Create {
        tenant_id: TenantId,
        owner: SpaceOwner,
        root: NodeId,
    },
    CreateFolder {
        node_id: NodeId,
        parent: NodeId,
        name: NodeName,
    },
    UploadFile {
        node_id: NodeId,
        parent: NodeId,
        name: NodeName,
        blob: Blob,
    },
    /// A job's output put in its owner's space: recorded even past the quota (days of
    /// compute are not thrown away; the space is then full until room is made), and a
    /// retry of the same output is no change.
    SaveOutput {
        node_id: NodeId,
        parent: NodeId,
        name: NodeName,
        blob: Blob,
    },
    Rename {
        node_id: NodeId,
        name: NodeName,
    },
    Move {
        node_id: NodeId,
        parent: NodeId,
    },
    Copy {
        node_id: NodeId,
        source: NodeId,
        parent: NodeId,
        /// The copy's name; the source's when none.
        name: Option<NodeName>,
    },
    Trash {
        node_id: NodeId,
        at: DateTime<Utc>,
    },
    Restore {
        node_id: NodeId,
    },
    /// Only what is in the trash can be purged.
    Purge {
        node_id: NodeId,
    },
    Share {
        node_id: NodeId,
        with: Grantee,
        access: Access,
    },
    Unshare {
        node_id: NodeId,
        with: Grantee,
    },
    SetQuota(Option<u64>),
}
