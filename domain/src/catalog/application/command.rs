use serde_json::Value;

use crate::ids::TenantId;

#[derive(Debug, Clone, PartialEq)]
pub enum ApplicationCommand {
    /// Registers a descriptor (validated by the aggregate) in a tenant's catalog.
    Register {
        tenant_id: TenantId,
        descriptor: Value,
    },
    Enable,
    Disable,
    /// Lets the application's jobs reach the network, or not (platform administrators:
    /// the use case checks who asks).
    SetNetworked {
        networked: bool,
    },
}
