//! Spaces: a home per member and one per group, holding folders and files. A space is one
//! aggregate, so the rules that span its tree (unique names in a folder, no move into
//! itself, its quota) hold atomically; it grows with its tree, so it is snapshotted.
//! File contents are blobs (content-addressed, issue 5): the tree records which.

mod aggregate;
mod command;
mod error;
mod event;
mod media;
mod names;
mod rights;

pub use aggregate::{MAX_NODES, Space};
pub use command::SpaceCommand;
pub use error::SpaceError;
pub use event::{Access, Blob, Grantee, NodeKind, SpaceEvent, SpaceOwner};
pub use media::guess_media_type;
pub use names::{NodeName, SpacePath};
pub use rights::{Right, right};
