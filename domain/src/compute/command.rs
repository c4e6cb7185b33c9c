use super::event::{Access, ResourceKind};

#[derive(Debug, Clone, PartialEq)]
pub enum ResourceCommand {
    Register {
        name: String,
        kind: ResourceKind,
        access: Access,
        /// Memory of an attempt whose application does not say; None: the installation's.
        default_memory_mb: Option<u64>,
    },
    SetAccess(Access),
    Drain {
        reason: String,
    },
    Enable,
}
