use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use crate::actor::Role;
use crate::ids::{TenantId, TokenId};
use crate::names::{DisplayName, Email};
use crate::tenancy::MappedIdentity;

/// Commands on a member. Secrets arrive already hashed: the domain never sees a plain
/// password or token.
#[derive(Debug, Clone, PartialEq)]
pub enum MemberCommand {
    Create {
        tenant_id: TenantId,
        email: Email,
        name: DisplayName,
        roles: BTreeSet<Role>,
        password_hash: Option<String>,
    },
    /// A new password ends every session and token the member holds (unexpired ones:
    /// expired ones open nothing already), so whoever knew the old one is out.
    SetPassword {
        password_hash: String,
        now: DateTime<Utc>,
    },
    GrantRole(Role),
    RevokeRole(Role),
    Disable,
    Enable,
    IssueToken {
        token_id: TokenId,
        name: DisplayName,
        secret_hash: String,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    },
    RevokeToken(TokenId),
    Invite {
        tenant_id: TenantId,
        email: Email,
        name: DisplayName,
        roles: BTreeSet<Role>,
    },
    /// First sign-in with just-in-time provisioning: the member comes to exist.
    Join {
        tenant_id: TenantId,
        issuer: String,
        identity: MappedIdentity,
    },
    /// First sign-in of an invited member.
    AcceptInvitation {
        issuer: String,
        identity: MappedIdentity,
    },
    /// A later sign-in: records what changed in the provider's claims.
    UpdateClaims(MappedIdentity),
}
