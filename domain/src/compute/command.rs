use super::event::{Access, ResourceKind};

#[derive(Debug, Clone, PartialEq)]
pub enum ResourceCommand {
    Register {
        name: String,
        kind: ResourceKind,
        access: Access,
    },
    SetAccess(Access),
    Drain {
        reason: String,
    },
    Enable,
}
