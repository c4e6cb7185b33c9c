use crate::error::{Code, Coded};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemberError {
    #[error("a member with this e-mail already exists in this tenant")]
    AlreadyExists,
    #[error("no such member")]
    NotFound,
    #[error("the member is disabled")]
    Disabled,
    #[error("no such token")]
    TokenNotFound,
    #[error("a token with this id already exists")]
    TokenExists,
    #[error("expiresAt must be in the future")]
    ExpiryInPast,
    #[error("too many active tokens: revoke some first")]
    TooManyTokens,
    #[error("you have not been invited to this tenant: ask one of its administrators")]
    NotInvited,
}

impl Coded for MemberError {
    fn code(&self) -> Code {
        match self {
            Self::AlreadyExists | Self::TokenExists | Self::TooManyTokens => Code::Conflict,
            Self::NotFound | Self::TokenNotFound => Code::NotFound,
            Self::Disabled | Self::NotInvited => Code::Forbidden,
            Self::ExpiryInPast => Code::InvalidInput,
        }
    }
}
