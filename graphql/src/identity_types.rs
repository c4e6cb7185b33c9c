//! Identity providers, provisioning and invitations in GraphQL.

use std::collections::BTreeSet;

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use medgrid_domain::tenancy::{ClaimMapping, Provisioning};
use medgrid_projections::tenants::ProviderRow;

use crate::mutation::own_tenant;
use crate::types::{Member, Role, Tenant, scope};
use crate::usecases::identity::{self, ProviderInput};

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ProvisioningMode {
    /// Anyone a trusted provider vouches for becomes a member on first sign-in.
    JustInTime,
    /// Only people invited by e-mail join (the default).
    InvitationOnly,
}

impl From<ProvisioningMode> for Provisioning {
    fn from(m: ProvisioningMode) -> Self {
        match m {
            ProvisioningMode::JustInTime => Self::JustInTime,
            ProvisioningMode::InvitationOnly => Self::InvitationOnly,
        }
    }
}

impl ProvisioningMode {
    pub fn of(stored: &str) -> Self {
        if stored == Provisioning::JustInTime.as_str() {
            Self::JustInTime
        } else {
            Self::InvitationOnly
        }
    }
}

/// Where a provider's tokens carry each claim; every field defaults to Keycloak's.
#[derive(InputObject, Default)]
pub struct ClaimMappingInput {
    /// Default `preferred_username`.
    username: Option<String>,
    /// Default `email`.
    email: Option<String>,
    /// Default `name`.
    name: Option<String>,
    /// Dotted paths of role lists; `{client}` is the client id. Default
    /// `realm_access.roles` and `resource_access.{client}.roles`.
    roles: Option<Vec<String>>,
    /// Default `groups` (full paths such as `/radiology/mri`).
    groups: Option<String>,
    /// Provider roles that make a member a tenant administrator. Default `medgrid-admin`.
    admin_roles: Option<Vec<String>>,
}

impl From<ClaimMappingInput> for ClaimMapping {
    fn from(i: ClaimMappingInput) -> Self {
        let d = ClaimMapping::default();
        Self {
            username: i.username.unwrap_or(d.username),
            email: i.email.unwrap_or(d.email),
            name: i.name.unwrap_or(d.name),
            roles: i.roles.unwrap_or(d.roles),
            groups: i.groups.unwrap_or(d.groups),
            admin_roles: i.admin_roles.unwrap_or(d.admin_roles),
        }
    }
}

#[derive(InputObject)]
pub struct IdentityProviderInput {
    /// Shown on the sign-in page ("CHU Lyon").
    name: String,
    /// Exactly the `iss` of its tokens, e.g. `https://sso.example.org/realms/radiology`.
    issuer: String,
    /// The `aud` its tokens must carry for this tenant.
    audience: String,
    /// The client for browser sign-in.
    client_id: Option<String>,
    /// A confidential client's secret (never shown again); `""` removes it, leaving it out
    /// keeps the current one. Public clients (PKCE alone) need none.
    client_secret: Option<String>,
    claims: Option<ClaimMappingInput>,
}

impl From<IdentityProviderInput> for ProviderInput {
    fn from(i: IdentityProviderInput) -> Self {
        Self {
            name: i.name,
            issuer: i.issuer,
            audience: i.audience,
            client_id: i.client_id,
            client_secret: i.client_secret,
            claims: i.claims.map(Into::into),
        }
    }
}

#[derive(SimpleObject)]
pub struct ClaimMappingOut {
    username: String,
    email: String,
    name: String,
    roles: Vec<String>,
    groups: String,
    admin_roles: Vec<String>,
}

pub struct IdentityProvider(pub ProviderRow);

#[Object]
impl IdentityProvider {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn issuer(&self) -> &str {
        &self.0.issuer
    }
    async fn audience(&self) -> &str {
        &self.0.audience
    }
    async fn client_id(&self) -> Option<&str> {
        self.0.client_id.as_deref()
    }
    /// Whether a client secret is set (it is never shown).
    async fn has_client_secret(&self) -> bool {
        self.0.client_secret_fingerprint.is_some()
    }
    /// Why the provider admits nobody (its tokens match no tenant, it is not offered at
    /// sign-in); null while it works. Saving it with settings of its own turns it on again.
    async fn disabled_reason(&self) -> Option<&str> {
        self.0.disabled_reason.as_deref()
    }
    async fn claims(&self) -> ClaimMappingOut {
        let c = self.0.claims.0.clone();
        ClaimMappingOut {
            username: c.username,
            email: c.email,
            name: c.name,
            roles: c.roles,
            groups: c.groups,
            admin_roles: c.admin_roles,
        }
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

#[derive(InputObject)]
pub struct InviteMemberInput {
    email: String,
    /// Shown until their provider gives a name; defaults to the address.
    name: Option<String>,
    #[graphql(default)]
    roles: Vec<Role>,
    /// Platform administrators may invite into any tenant; others into their own.
    tenant_id: Option<ID>,
}

#[derive(Default)]
pub struct IdentityMutation;

#[Object]
impl IdentityMutation {
    /// Trusts an OpenID Connect provider: its members may sign in with its tokens.
    async fn add_identity_provider(
        &self,
        ctx: &Context<'_>,
        input: IdentityProviderInput,
        tenant_id: Option<ID>,
    ) -> async_graphql::Result<IdentityProvider> {
        let scope = scope(ctx)?;
        let tenant = own_tenant(ctx, tenant_id)?;
        Ok(IdentityProvider(
            identity::add_provider(&scope, tenant, input.into()).await?,
        ))
    }

    async fn update_identity_provider(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: IdentityProviderInput,
    ) -> async_graphql::Result<IdentityProvider> {
        let scope = scope(ctx)?;
        Ok(IdentityProvider(
            identity::update_provider(&scope, &id, input.into()).await?,
        ))
    }

    /// Stops trusting a provider: its tokens are refused at once.
    async fn remove_identity_provider(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<IdentityProvider> {
        let scope = scope(ctx)?;
        Ok(IdentityProvider(
            identity::remove_provider(&scope, &id).await?,
        ))
    }

    /// How people from trusted providers become members.
    async fn set_provisioning(
        &self,
        ctx: &Context<'_>,
        mode: ProvisioningMode,
        tenant_id: Option<ID>,
    ) -> async_graphql::Result<Tenant> {
        let scope = scope(ctx)?;
        let tenant = own_tenant(ctx, tenant_id)?;
        Ok(Tenant(
            identity::set_provisioning(&scope, tenant, mode.into()).await?,
        ))
    }

    /// Invites someone by e-mail: they join on first sign-in through one of the tenant's
    /// providers that vouches for that address (verified).
    async fn invite_member(
        &self,
        ctx: &Context<'_>,
        input: InviteMemberInput,
    ) -> async_graphql::Result<Member> {
        let scope = scope(ctx)?;
        let tenant = own_tenant(ctx, input.tenant_id)?;
        let roles = input
            .roles
            .into_iter()
            .map(Into::into)
            .collect::<BTreeSet<_>>();
        Ok(Member(
            identity::invite(&scope, tenant, &input.email, input.name.as_deref(), roles).await?,
        ))
    }
}
