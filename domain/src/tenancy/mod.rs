//! Tenants: the institutions using Medgrid.

mod aggregate;
pub mod claims;
mod command;
mod error;
mod event;
pub mod identity;

pub use aggregate::{Tenant, TenantStatus};
pub use command::TenantCommand;
pub use error::TenantError;
pub use event::TenantEvent;
pub use identity::{
    ClaimError, ClaimMapping, IdentityProvider, IssuerUrl, MappedIdentity, Provisioning,
};
