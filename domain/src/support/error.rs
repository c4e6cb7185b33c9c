use crate::error::{Code, Coded};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    #[error("{field}: {rule}")]
    Invalid {
        field: &'static str,
        rule: &'static str,
    },
    #[error("this ticket already exists")]
    AlreadyExists,
    #[error("{}", crate::idempotency::KEY_REUSED)]
    KeyReused,
    #[error("no such ticket")]
    NotFound,
    #[error("this ticket is resolved: reopen it first")]
    Resolved,
    #[error("this ticket is not resolved")]
    NotResolved,
}

impl Coded for TicketError {
    fn code(&self) -> Code {
        match self {
            Self::Invalid { .. } => Code::InvalidInput,
            Self::AlreadyExists | Self::KeyReused | Self::Resolved | Self::NotResolved => {
                Code::Conflict
            }
            Self::NotFound => Code::NotFound,
        }
    }
}
