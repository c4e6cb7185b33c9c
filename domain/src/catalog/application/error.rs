use crate::catalog::DescriptorError;
use crate::error::{Code, Coded};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplicationError {
    #[error("this application version is already in the catalog")]
    AlreadyExists,
    #[error("no such application")]
    NotFound,
    #[error("{0}")]
    InvalidDescriptor(#[from] DescriptorError),
}

impl Coded for ApplicationError {
    fn code(&self) -> Code {
        match self {
            Self::AlreadyExists => Code::Conflict,
            Self::NotFound => Code::NotFound,
            Self::InvalidDescriptor(_) => Code::InvalidInput,
        }
    }
}
