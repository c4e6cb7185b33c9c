use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use crate::names::{DisplayName, TenantSlug};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TenantEvent {
    TenantCreated { slug: TenantSlug, name: DisplayName },
    TenantRenamed { name: DisplayName },
    TenantSuspended { reason: String },
    TenantReactivated,
}

impl DomainEvent for TenantEvent {
    fn event_type(&self) -> String {
        match self {
            Self::TenantCreated { .. } => "TenantCreated",
            Self::TenantRenamed { .. } => "TenantRenamed",
            Self::TenantSuspended { .. } => "TenantSuspended",
            Self::TenantReactivated => "TenantReactivated",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}
