use crate::error::{Code, Coded};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    #[error("no such job")]
    NotFound,
    #[error("the job already exists")]
    AlreadyExists,
    #[error("{}", crate::idempotency::KEY_REUSED)]
    KeyReused,
    #[error("the job has already finished ({state})")]
    Finished { state: &'static str },
    #[error("the job has not succeeded ({state}): it has no outputs to save")]
    NotSucceeded { state: &'static str },
    #[error("no such attempt: {0}")]
    NoSuchAttempt(u32),
    #[error("{field}: {rule}")]
    Invalid {
        field: &'static str,
        rule: &'static str,
    },
}

impl Coded for JobError {
    fn code(&self) -> Code {
        match self {
            Self::NotFound | Self::NoSuchAttempt(_) => Code::NotFound,
            Self::AlreadyExists
            | Self::KeyReused
            | Self::Finished { .. }
            | Self::NotSucceeded { .. } => Code::Conflict,
            Self::Invalid { .. } => Code::InvalidInput,
        }
    }
}
