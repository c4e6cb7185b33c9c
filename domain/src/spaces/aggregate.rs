use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};

use super::event::{Access, Grantee, NodeKind, SpaceEvent, SpaceOwner};
use super::names::NodeName;
use super::{SpaceCommand, SpaceError};
use crate::ids::{NodeId, TenantId};

/// A space holds at most this many files and folders (trash included).
pub const MAX_NODES: usize = 1_000_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Node {
    /// None for the root.
    parent: Option<NodeId>,
    /// None for the root.
    name: Option<NodeName>,
    kind: NodeKind,
    /// Put in the trash itself (what is inside a trashed folder is in the trash too).
    trashed_at: Option<DateTime<Utc>>,
}

impl Node {
    fn size(&self) -> u64 {
        match &self.kind {
            NodeKind::File(blob) => blob.size,
            NodeKind::Folder => 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SpaceState {
    tenant_id: TenantId,
    owner: SpaceOwner,
    root: NodeId,
    nodes: BTreeMap<NodeId, Node>,
    children: BTreeMap<NodeId, BTreeSet<NodeId>>,
    quota: Option<u64>,
    /// Bytes of every file in the space, the trash included (purging frees them).
    used: u64,
    shares: BTreeMap<NodeId, BTreeMap<Grantee, Access>>,
}

/// Whether a new file must fit in the space's quota.
#[derive(Debug, Clone, Copy)]
enum Quota {
    Applies,
    Waived,
}

/// A member's home or a group's space: its tree of folders and files.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Space {
    state: Option<SpaceState>,
}

impl Space {
    pub fn tenant_id(&self) -> Option<TenantId> {
        self.state.as_ref().map(|s| s.tenant_id)
    }

    fn decide(&self, command: SpaceCommand) -> Result<Vec<SpaceEvent>, SpaceError> {
        match (&self.state, command) {
            (
                None,
                SpaceCommand::Create {
                    tenant_id,
                    owner,
                    root,
                },
            ) => Ok(vec![SpaceEvent::SpaceCreated {
                tenant_id,
                owner,
                root,
            }]),
            (None, _) => Err(SpaceError::NotFound),
            (Some(_), SpaceCommand::Create { .. }) => Err(SpaceError::AlreadyExists),
            (Some(state), command) => state.decide(command),
        }
    }
}

impl SpaceState {
    fn node(&self, id: NodeId) -> Result<&Node, SpaceError> {
        self.nodes.get(&id).ok_or(SpaceError::NodeNotFound)
    }

    /// Whether `id` or a folder above it is in the trash.
    fn in_trash(&self, id: NodeId) -> bool {
        let mut at = Some(id);
        while let Some(current) = at {
            match self.nodes.get(&current) {
                Some(node) if node.trashed_at.is_some() => return true,
                Some(node) => at = node.parent,
                None => return false,
            }
        }
        false
    }

    /// A node that exists and is not in the trash.
    fn live(&self, id: NodeId) -> Result<&Node, SpaceError> {
        let node = self.node(id)?;
        if self.in_trash(id) {
            return Err(SpaceError::InTrash);
        }
        Ok(node)
    }

    fn live_folder(&self, id: NodeId) -> Result<&Node, SpaceError> {
        let node = self.live(id)?;
        match node.kind {
            NodeKind::Folder => Ok(node),
            NodeKind::File(_) => Err(SpaceError::NotAFolder),
        }
    }

    fn not_root(&self, id: NodeId) -> Result<(), SpaceError> {
        if id == self.root {
            Err(SpaceError::RootIsFixed)
        } else {
            Ok(())
        }
    }

    /// Names are unique among what a folder holds outside the trash.
    fn free(
        &self,
        parent: NodeId,
        name: &NodeName,
        except: Option<NodeId>,
    ) -> Result<(), SpaceError> {
        let taken = self.children.get(&parent).is_some_and(|kids| {
            kids.iter().any(|kid| {
                Some(*kid) != except
                    && self
                        .nodes
                        .get(kid)
                        .is_some_and(|n| n.trashed_at.is_none() && n.name.as_ref() == Some(name))
            })
        });
        if taken {
            Err(SpaceError::NameTaken)
        } else {
            Ok(())
        }
    }

    /// Whether `node` is `ancestor` or lies inside it.
    fn within(&self, node: NodeId, ancestor: NodeId) -> bool {
        let mut at = Some(node);
        while let Some(current) = at {
            if current == ancestor {
                return true;
            }
            at = self.nodes.get(&current).and_then(|n| n.parent);
        }
        false
    }

    /// `id` and everything under it; `live_only` leaves out what is in the trash below it.
    fn subtree(&self, id: NodeId, live_only: bool) -> Vec<NodeId> {
        let mut out = vec![];
        let mut stack = vec![id];
        while let Some(current) = stack.pop() {
            out.push(current);
            for kid in self.children.get(&current).into_iter().flatten() {
                let trashed = self.nodes.get(kid).is_some_and(|n| n.trashed_at.is_some());
                if !(live_only && trashed) {
                    stack.push(*kid);
                }
            }
        }
        out
    }

    fn bytes(&self, ids: &[NodeId]) -> u64 {
        ids.iter()
            .filter_map(|id| self.nodes.get(id))
            .map(Node::size)
            .sum()
    }

    fn room_for(&self, nodes: usize, bytes: u64) -> Result<(), SpaceError> {
        self.room_for_nodes(nodes)?;
        if let Some(quota) = self.quota {
            let available = quota.saturating_sub(self.used);
            if bytes > available {
                return Err(SpaceError::QuotaExceeded {
                    needed: bytes,
                    available,
                });
            }
        }
        Ok(())
    }

    fn room_for_nodes(&self, nodes: usize) -> Result<(), SpaceError> {
        if self.nodes.len() + nodes > MAX_NODES {
            return Err(SpaceError::TooManyNodes(MAX_NODES));
        }
        Ok(())
    }

    /// A new file in a live folder, under a free name.
    fn add_file(
        &self,
        node_id: NodeId,
        parent: NodeId,
        name: NodeName,
        blob: super::event::Blob,
        quota: Quota,
    ) -> Result<Vec<SpaceEvent>, SpaceError> {
        if !blob.is_valid() {
            return Err(SpaceError::InvalidBlob);
        }
        self.live_folder(parent)?;
        self.free(parent, &name, None)?;
        match quota {
            Quota::Applies => self.room_for(1, blob.size)?,
            Quota::Waived => self.room_for_nodes(1)?,
        }
        Ok(vec![SpaceEvent::FileUploaded {
            node_id,
            parent,
            name,
            blob,
        }])
    }

    fn decide(&self, command: SpaceCommand) -> Result<Vec<SpaceEvent>, SpaceError> {
        Ok(match command {
            SpaceCommand::Create { .. } => return Err(SpaceError::AlreadyExists),
            SpaceCommand::CreateFolder {
                node_id,
                parent,
                name,
            } => {
                // a retried command: already done
                if let Some(n) = self.nodes.get(&node_id) {
                    return if n.parent == Some(parent) && n.name.as_ref() == Some(&name) {
                        Ok(vec![])
                    } else {
                        Err(SpaceError::AlreadyExists)
                    };
                }
                self.live_folder(parent)?;
                self.free(parent, &name, None)?;
                self.room_for(1, 0)?;
                vec![SpaceEvent::FolderCreated {
                    node_id,
                    parent,
                    name,
                }]
            }
            SpaceCommand::UploadFile {
                node_id,
                parent,
                name,
                blob,
            } => {
                if self.nodes.contains_key(&node_id) {
                    return Err(SpaceError::AlreadyExists);
                }
                self.add_file(node_id, parent, name, blob, Quota::Applies)?
            }
            SpaceCommand::SaveOutput {
                node_id,
                parent,
                name,
                blob,
            } => {
                if let Some(n) = self.nodes.get(&node_id) {
                    let same = n.parent == Some(parent)
                        && n.name.as_ref() == Some(&name)
                        && matches!(&n.kind, NodeKind::File(b) if b.sha256 == blob.sha256);
                    return if same {
                        Ok(vec![])
                    } else {
                        Err(SpaceError::AlreadyExists)
                    };
                }
                self.add_file(node_id, parent, name, blob, Quota::Waived)?
            }
            SpaceCommand::Rename { node_id, name } => {
                self.not_root(node_id)?;
                let node = self.live(node_id)?;
                if node.name.as_ref() == Some(&name) {
                    return Ok(vec![]);
                }
                if let Some(parent) = node.parent {
                    self.free(parent, &name, Some(node_id))?;
                }
                vec![SpaceEvent::NodeRenamed { node_id, name }]
            }
            SpaceCommand::Move { node_id, parent } => {
                self.not_root(node_id)?;
                let node = self.live(node_id)?;
                self.live_folder(parent)?;
                if self.within(parent, node_id) {
                    return Err(SpaceError::IntoItself);
                }
                if node.parent == Some(parent) {
                    return Ok(vec![]);
                }
                if let Some(name) = &node.name {
                    self.free(parent, name, None)?;
                }
                vec![SpaceEvent::NodeMoved { node_id, parent }]
            }
            SpaceCommand::Copy {
                node_id,
                source,
                parent,
                name,
            } => {
                self.not_root(source)?;
                if self.nodes.contains_key(&node_id) {
                    return Err(SpaceError::AlreadyExists);
                }
                let node = self.live(source)?;
                self.live_folder(parent)?;
                if self.within(parent, source) {
                    return Err(SpaceError::IntoItself);
                }
                let name = name
                    .or_else(|| node.name.clone())
                    .ok_or(SpaceError::RootIsFixed)?;
                self.free(parent, &name, None)?;
                let copied = self.subtree(source, true);
                self.room_for(copied.len(), self.bytes(&copied))?;
                vec![SpaceEvent::NodeCopied {
                    node_id,
                    source,
                    parent,
                    name,
                }]
            }
            SpaceCommand::Trash { node_id, at } => {
                self.not_root(node_id)?;
                self.live(node_id)?;
                vec![SpaceEvent::NodeTrashed { node_id, at }]
            }
            SpaceCommand::Restore { node_id } => {
                let node = self.node(node_id)?;
                if node.trashed_at.is_none() {
                    return Err(SpaceError::NotInTrash);
                }
                let parent = node.parent.ok_or(SpaceError::RootIsFixed)?;
                if !self.nodes.contains_key(&parent) || self.in_trash(parent) {
                    return Err(SpaceError::ParentGone);
                }
                if let Some(name) = &node.name {
                    self.free(parent, name, Some(node_id))?;
                }
                vec![SpaceEvent::NodeRestored { node_id }]
            }
            SpaceCommand::Purge { node_id } => {
                self.node(node_id)?;
                if !self.in_trash(node_id) {
                    return Err(SpaceError::NotInTrash);
                }
                vec![SpaceEvent::NodePurged { node_id }]
            }
            SpaceCommand::Share {
                node_id,
                with,
                access,
            } => {
                self.live_folder(node_id).map_err(|e| match e {
                    SpaceError::NotAFolder => SpaceError::ShareOnlyFolders,
                    other => other,
                })?;
                let current = self.shares.get(&node_id).and_then(|s| s.get(&with));
                if current == Some(&access) {
                    return Ok(vec![]);
                }
                vec![SpaceEvent::FolderShared {
                    node_id,
                    with,
                    access,
                }]
            }
            SpaceCommand::Unshare { node_id, with } => {
                if !self
                    .shares
                    .get(&node_id)
                    .is_some_and(|s| s.contains_key(&with))
                {
                    return Err(SpaceError::NotShared);
                }
                vec![SpaceEvent::FolderUnshared { node_id, with }]
            }
            SpaceCommand::SetQuota(bytes) if bytes == self.quota => vec![],
            SpaceCommand::SetQuota(bytes) => vec![SpaceEvent::QuotaSet { bytes }],
        })
    }

    fn insert(&mut self, id: NodeId, node: Node) {
        if let Some(parent) = node.parent {
            self.children.entry(parent).or_default().insert(id);
        }
        self.used += node.size();
        self.nodes.insert(id, node);
    }

    fn copy(&mut self, copy: NodeId, source: NodeId, parent: NodeId, name: NodeName) {
        let originals = self.subtree(source, true);
        let id_of = |original: NodeId| {
            if original == source {
                copy
            } else {
                NodeId::copied(copy, original)
            }
        };
        for original in originals {
            let Some(node) = self.nodes.get(&original).cloned() else {
                continue;
            };
            let (new_parent, new_name) = if original == source {
                (parent, Some(name.clone()))
            } else {
                (node.parent.map_or(parent, id_of), node.name.clone())
            };
            let fresh = Node {
                parent: Some(new_parent),
                name: new_name,
                kind: node.kind.clone(),
                trashed_at: None,
            };
            self.insert(id_of(original), fresh);
        }
    }

    fn purge(&mut self, id: NodeId) {
        for gone in self.subtree(id, false) {
            if let Some(node) = self.nodes.remove(&gone) {
                self.used = self.used.saturating_sub(node.size());
                if let Some(parent) = node.parent
                    && let Some(kids) = self.children.get_mut(&parent)
                {
                    kids.remove(&gone);
                }
            }
            self.children.remove(&gone);
            self.shares.remove(&gone);
        }
    }

    fn apply(&mut self, event: SpaceEvent) {
        match event {
            SpaceEvent::SpaceCreated { .. } => {}
            SpaceEvent::FolderCreated {
                node_id,
                parent,
                name,
            } => self.insert(
                node_id,
                Node {
                    parent: Some(parent),
                    name: Some(name),
                    kind: NodeKind::Folder,
                    trashed_at: None,
                },
            ),
            SpaceEvent::FileUploaded {
                node_id,
                parent,
                name,
                blob,
            } => self.insert(
                node_id,
                Node {
                    parent: Some(parent),
                    name: Some(name),
                    kind: NodeKind::File(blob),
                    trashed_at: None,
                },
            ),
            SpaceEvent::NodeRenamed { node_id, name } => {
                if let Some(n) = self.nodes.get_mut(&node_id) {
                    n.name = Some(name);
                }
            }
            SpaceEvent::NodeMoved { node_id, parent } => {
                let old = self.nodes.get(&node_id).and_then(|n| n.parent);
                if let Some(old) = old
                    && let Some(kids) = self.children.get_mut(&old)
                {
                    kids.remove(&node_id);
                }
                self.children.entry(parent).or_default().insert(node_id);
                if let Some(n) = self.nodes.get_mut(&node_id) {
                    n.parent = Some(parent);
                }
            }
            SpaceEvent::NodeCopied {
                node_id,
                source,
                parent,
                name,
            } => self.copy(node_id, source, parent, name),
            SpaceEvent::NodeTrashed { node_id, at } => {
                if let Some(n) = self.nodes.get_mut(&node_id) {
                    n.trashed_at = Some(at);
                }
            }
            SpaceEvent::NodeRestored { node_id } => {
                if let Some(n) = self.nodes.get_mut(&node_id) {
                    n.trashed_at = None;
                }
            }
            SpaceEvent::NodePurged { node_id } => self.purge(node_id),
            SpaceEvent::FolderShared {
                node_id,
                with,
                access,
            } => {
                self.shares.entry(node_id).or_default().insert(with, access);
            }
            SpaceEvent::FolderUnshared { node_id, with } => {
                if let Some(s) = self.shares.get_mut(&node_id) {
                    s.remove(&with);
                }
            }
            SpaceEvent::QuotaSet { bytes } => self.quota = bytes,
        }
    }
}

impl Aggregate for Space {
    const TYPE: &'static str = "Space";
    type Command = SpaceCommand;
    type Event = SpaceEvent;
    type Error = SpaceError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let decision = self.decide(command);
        crate::decide::record(self, decision, sink).await
    }

    fn apply(&mut self, event: Self::Event) {
        if let SpaceEvent::SpaceCreated {
            tenant_id,
            owner,
            root,
        } = &event
        {
            let mut nodes = BTreeMap::new();
            nodes.insert(
                *root,
                Node {
                    parent: None,
                    name: None,
                    kind: NodeKind::Folder,
                    trashed_at: None,
                },
            );
            self.state = Some(SpaceState {
                tenant_id: *tenant_id,
                owner: *owner,
                root: *root,
                nodes,
                children: BTreeMap::new(),
                quota: None,
                used: 0,
                shares: BTreeMap::new(),
            });
            return;
        }
        if let Some(state) = self.state.as_mut() {
            state.apply(event);
        }
    }
}

#[cfg(test)]
mod tests;
