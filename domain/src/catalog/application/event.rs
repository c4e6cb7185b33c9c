use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::TenantId;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ApplicationEvent {
    /// The descriptor is kept whole, as given: fields Medgrid does not interpret survive.
    ApplicationRegistered {
        tenant_id: TenantId,
        name: String,
        version: String,
        descriptor: Value,
    },
    ApplicationEnabled,
    ApplicationDisabled,
    /// Whether the application's jobs may reach the network (never this host nor private
    /// networks); registered applications may not until this says so.
    ApplicationNetworkedSet {
        networked: bool,
    },
}

impl DomainEvent for ApplicationEvent {
    fn event_type(&self) -> String {
        match self {
            Self::ApplicationRegistered { .. } => "ApplicationRegistered",
            Self::ApplicationEnabled => "ApplicationEnabled",
            Self::ApplicationDisabled => "ApplicationDisabled",
            Self::ApplicationNetworkedSet { .. } => "ApplicationNetworkedSet",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}
