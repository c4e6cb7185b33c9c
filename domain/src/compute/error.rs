use crate::error::{Code, Coded};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResourceError {
    #[error("a resource with this name already exists")]
    AlreadyExists,
    #[error("no such resource")]
    NotFound,
    #[error("{field}: {rule}")]
    Invalid {
        field: &'static str,
        rule: &'static str,
    },
}

impl Coded for ResourceError {
    fn code(&self) -> Code {
        match self {
            Self::AlreadyExists => Code::Conflict,
            Self::NotFound => Code::NotFound,
            Self::Invalid { .. } => Code::InvalidInput,
        }
    }
}
