use crate::error::{Code, Coded};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    #[error("this group already exists")]
    AlreadyExists,
    #[error("no such group")]
    NotFound,
    #[error("this member is not in the group")]
    NotAMember,
}

impl Coded for GroupError {
    fn code(&self) -> Code {
        match self {
            Self::AlreadyExists => Code::Conflict,
            Self::NotFound | Self::NotAMember => Code::NotFound,
        }
    }
}
