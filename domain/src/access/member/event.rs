use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use crate::actor::Role;
use crate::ids::{TenantId, TokenId};
use crate::names::{DisplayName, Email};

/// Current version of `MemberCreated`; 1.0 carried `admin: bool` instead of `roles`
/// (see [`crate::upcast`]).
pub const MEMBER_CREATED_VERSION: &str = "2.0";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MemberEvent {
    MemberCreated {
        tenant_id: TenantId,
        email: Email,
        name: DisplayName,
        roles: BTreeSet<Role>,
    },
    PasswordSet {
        password_hash: String,
    },
    RoleGranted {
        role: Role,
    },
    RoleRevoked {
        role: Role,
    },
    MemberDisabled,
    MemberEnabled,
    TokenIssued {
        token_id: TokenId,
        name: DisplayName,
        secret_hash: String,
        expires_at: Option<DateTime<Utc>>,
    },
    TokenRevoked {
        token_id: TokenId,
    },
    /// Invited by e-mail: joins on first sign-in with a provider that vouches for it.
    MemberInvited {
        tenant_id: TenantId,
        email: Email,
        name: DisplayName,
        roles: BTreeSet<Role>,
    },
    /// Signs in as `subject` at `issuer` from now on.
    IdentityLinked {
        issuer: String,
        subject: String,
    },
    /// What the provider said at the latest sign-in, when it changed.
    IdentityClaimsUpdated {
        email: Email,
        name: DisplayName,
        /// Roles granted by the provider (beside those granted in Medgrid).
        roles: BTreeSet<Role>,
        /// The provider's group paths.
        groups: BTreeSet<String>,
    },
}

impl DomainEvent for MemberEvent {
    fn event_type(&self) -> String {
        match self {
            Self::MemberCreated { .. } => "MemberCreated",
            Self::PasswordSet { .. } => "PasswordSet",
            Self::RoleGranted { .. } => "RoleGranted",
            Self::RoleRevoked { .. } => "RoleRevoked",
            Self::MemberDisabled => "MemberDisabled",
            Self::MemberEnabled => "MemberEnabled",
            Self::TokenIssued { .. } => "TokenIssued",
            Self::TokenRevoked { .. } => "TokenRevoked",
            Self::MemberInvited { .. } => "MemberInvited",
            Self::IdentityLinked { .. } => "IdentityLinked",
            Self::IdentityClaimsUpdated { .. } => "IdentityClaimsUpdated",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        match self {
            Self::MemberCreated { .. } => MEMBER_CREATED_VERSION,
            _ => "1.0",
        }
        .to_owned()
    }
}
