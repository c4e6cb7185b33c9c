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
    /// Refused by the platform-wide claims (see `claims`), not by this tenant's state.
    #[error(
        "this issuer and audience are already registered on this platform: a token must name one tenant"
    )]
    IssuerAudienceTaken,
    #[error("this issuer and client id are already registered on this platform")]
    IssuerClientTaken,
    #[error("another tenant has this name, or one that looks the same")]
    NameTaken,
}

impl Coded for TenantError {
    fn code(&self) -> Code {
        match self {
            Self::AlreadyExists
            | Self::AlreadySuspended
            | Self::NotSuspended
            | Self::ProviderExists
            | Self::TooManyProviders(_)
            | Self::IssuerAudienceTaken
            | Self::IssuerClientTaken
            | Self::NameTaken => Code::Conflict,
            Self::NotFound | Self::ProviderNotFound => Code::NotFound,
            Self::InvalidReason => Code::InvalidInput,
        }
    }

    fn field(&self) -> Option<&'static str> {
        match self {
            Self::AlreadyExists => Some("slug"),
            Self::IssuerAudienceTaken => Some("issuer"),
            Self::IssuerClientTaken => Some("clientId"),
            Self::NameTaken => Some("name"),
            _ => None,
        }
    }
}
