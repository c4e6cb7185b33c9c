use super::identity::{IdentityProvider, Provisioning};
use crate::ids::ProviderId;
use crate::names::{DisplayName, TenantSlug};

#[derive(Debug, Clone, PartialEq)]
pub enum TenantCommand {
    Create {
        slug: TenantSlug,
        name: DisplayName,
    },
    Rename {
        name: DisplayName,
    },
    Suspend {
        reason: String,
    },
    Reactivate,
    AddIdentityProvider {
        provider_id: ProviderId,
        provider: IdentityProvider,
    },
    UpdateIdentityProvider {
        provider_id: ProviderId,
        provider: IdentityProvider,
    },
    RemoveIdentityProvider(ProviderId),
    SetProvisioning(Provisioning),
    /// Bytes all the tenant's spaces may hold together (None: no limit).
    SetStorageQuota(Option<u64>),
    /// Core seconds the tenant's jobs may use per calendar month (UTC) (None: no limit).
    SetCoreBudget(Option<u64>),
}
