use crate::error::{Code, Coded};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    #[error("no such import")]
    NotFound,
    #[error("the import already exists")]
    AlreadyExists,
    #[error("the import has already finished ({state})")]
    Finished { state: &'static str },
    #[error("the import has not started")]
    NotStarted,
    #[error("a reason is needed (at most 2000 characters)")]
    BadReason,
}

impl Coded for ImportError {
    fn code(&self) -> Code {
        match self {
            Self::NotFound => Code::NotFound,
            Self::AlreadyExists | Self::Finished { .. } | Self::NotStarted => Code::Conflict,
            Self::BadReason => Code::InvalidInput,
        }
    }
}
