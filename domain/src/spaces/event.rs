use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use super::names::NodeName;
use crate::ids::{GroupId, MemberId, NodeId, TenantId};

/// Whose space it is: a member's home or a group's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SpaceOwner {
    Member(MemberId),
    Group(GroupId),
}

/// File contents, stored once per content (content-addressed by SHA-256).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blob {
    /// 64 lower-case hex digits.
    pub sha256: String,
    pub size: u64,
    pub media_type: String,
}

impl Blob {
    pub fn is_valid(&self) -> bool {
        self.sha256.len() == 64
            && self
                .sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            && !self.media_type.is_empty()
            && self.media_type.len() <= 255
            && !self.media_type.chars().any(char::is_control)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeKind {
    Folder,
    File(Blob),
}

/// Who a folder is shared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Grantee {
    Group(GroupId),
    Member(MemberId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Access {
    Read,
    ReadWrite,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SpaceEvent {
    SpaceCreated {
        tenant_id: TenantId,
        owner: SpaceOwner,
        root: NodeId,
    },
    FolderCreated {
        node_id: NodeId,
        parent: NodeId,
        name: NodeName,
    },
    FileUploaded {
        node_id: NodeId,
        parent: NodeId,
        name: NodeName,
        blob: Blob,
    },
    NodeRenamed {
        node_id: NodeId,
        name: NodeName,
    },
    NodeMoved {
        node_id: NodeId,
        parent: NodeId,
    },
    /// `source` (and, for a folder, everything in it that is not in the trash) copied as
    /// `node_id` into `parent`; the copies inside get ids derived from `node_id` and theirs.
    NodeCopied {
        node_id: NodeId,
        source: NodeId,
        parent: NodeId,
        name: NodeName,
    },
    NodeTrashed {
        node_id: NodeId,
        at: DateTime<Utc>,
    },
    NodeRestored {
        node_id: NodeId,
    },
    /// Gone for good, with everything in it; its blobs may be freed.
    NodePurged {
        node_id: NodeId,
    },
    FolderShared {
        node_id: NodeId,
        with: Grantee,
        access: Access,
    },
    FolderUnshared {
        node_id: NodeId,
        with: Grantee,
    },
    QuotaSet {
        bytes: Option<u64>,
    },
}

impl DomainEvent for SpaceEvent {
    fn event_type(&self) -> String {
        match self {
            Self::SpaceCreated { .. } => "SpaceCreated",
            Self::FolderCreated { .. } => "FolderCreated",
            Self::FileUploaded { .. } => "FileUploaded",
            Self::NodeRenamed { .. } => "NodeRenamed",
            Self::NodeMoved { .. } => "NodeMoved",
            Self::NodeCopied { .. } => "NodeCopied",
            Self::NodeTrashed { .. } => "NodeTrashed",
            Self::NodeRestored { .. } => "NodeRestored",
            Self::NodePurged { .. } => "NodePurged",
            Self::FolderShared { .. } => "FolderShared",
            Self::FolderUnshared { .. } => "FolderUnshared",
            Self::QuotaSet { .. } => "QuotaSet",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}
