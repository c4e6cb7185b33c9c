use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use super::identity::{IdentityProvider, Provisioning};
use crate::ids::ProviderId;
use crate::names::{DisplayName, TenantSlug};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TenantEvent {
    TenantCreated {
        slug: TenantSlug,
        name: DisplayName,
    },
    TenantRenamed {
        name: DisplayName,
    },
    TenantSuspended {
        reason: String,
    },
    TenantReactivated,
    IdentityProviderAdded {
        provider_id: ProviderId,
        provider: IdentityProvider,
    },
    IdentityProviderUpdated {
        provider_id: ProviderId,
        provider: IdentityProvider,
    },
    IdentityProviderRemoved {
        provider_id: ProviderId,
    },
    /// The provider stays listed for its administrators, with the reason, but admits nobody
    /// until it is saved again with settings no other registration holds (written when
    /// registrations made before issuer, audience and client id were unique collide).
    IdentityProviderDisabled {
        provider_id: ProviderId,
        reason: String,
    },
    ProvisioningSet {
        provisioning: Provisioning,
    },
    StorageQuotaSet {
        bytes: Option<u64>,
    },
    CoreBudgetSet {
        core_seconds_per_month: Option<u64>,
    },
}

impl DomainEvent for TenantEvent {
    fn event_type(&self) -> String {
        match self {
            Self::TenantCreated { .. } => "TenantCreated",
            Self::TenantRenamed { .. } => "TenantRenamed",
            Self::TenantSuspended { .. } => "TenantSuspended",
            Self::TenantReactivated => "TenantReactivated",
            Self::IdentityProviderAdded { .. } => "IdentityProviderAdded",
            Self::IdentityProviderUpdated { .. } => "IdentityProviderUpdated",
            Self::IdentityProviderRemoved { .. } => "IdentityProviderRemoved",
            Self::IdentityProviderDisabled { .. } => "IdentityProviderDisabled",
            Self::ProvisioningSet { .. } => "ProvisioningSet",
            Self::StorageQuotaSet { .. } => "StorageQuotaSet",
            Self::CoreBudgetSet { .. } => "CoreBudgetSet",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}
