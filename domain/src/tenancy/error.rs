use crate::error::{Code, Coded};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantError {
    #[error("a tenant with this slug already exists")]
    AlreadyExists,
    #[error("no such tenant")]
    NotFound,
    #[error("the tenant is already suspended")]
    AlreadySuspended,
    #[error("the tenant is not suspended")]
    NotSuspended,
    #[error("a suspension needs a reason (1 to 500 characters)")]
    InvalidReason,
    #[error("no such identity provider")]
    ProviderNotFound,
    #[error("this tenant already trusts this issuer for this audience")]
    ProviderExists,
    #[error("a tenant trusts at most {0} identity providers")]
    TooManyProviders(usize),
}

impl Coded for TenantError {
    fn code(&self) -> Code {
        match self {
            Self::AlreadyExists
            | Self::AlreadySuspended
            | Self::NotSuspended
            | Self::ProviderExists
            | Self::TooManyProviders(_) => Code::Conflict,
            Self::NotFound | Self::ProviderNotFound => Code::NotFound,
            Self::InvalidReason => Code::InvalidInput,
        }
    }
}
