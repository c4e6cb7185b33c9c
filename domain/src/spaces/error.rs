use crate::error::{Code, Coded};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpaceError {
    #[error("this space already exists")]
    AlreadyExists,
    #[error("no such space")]
    NotFound,
    #[error("no such file or folder")]
    NodeNotFound,
    #[error("this is not a folder")]
    NotAFolder,
    #[error("a file or folder of this name is already there")]
    NameTaken,
    #[error("a folder cannot go into itself or one of its subfolders")]
    IntoItself,
    #[error("the space's root cannot be renamed, moved, copied or deleted")]
    RootIsFixed,
    #[error("this is in the trash: restore it first")]
    InTrash,
    #[error("this is not in the trash")]
    NotInTrash,
    #[error("where it was is gone or in the trash: restore or recreate that folder first")]
    ParentGone,
    #[error("quota exceeded: {needed} bytes needed, {available} available")]
    QuotaExceeded { needed: u64, available: u64 },
    #[error("a space holds at most {0} files and folders")]
    TooManyNodes(usize),
    #[error("only folders are shared")]
    ShareOnlyFolders,
    #[error("this folder is not shared with them")]
    NotShared,
    #[error("the file's content description is invalid (sha256, media type)")]
    InvalidBlob,
}

impl Coded for SpaceError {
    fn code(&self) -> Code {
        match self {
            Self::AlreadyExists | Self::NameTaken | Self::InTrash | Self::NotInTrash => {
                Code::Conflict
            }
            Self::ParentGone | Self::TooManyNodes(_) => Code::Conflict,
            Self::NotFound | Self::NodeNotFound | Self::NotShared => Code::NotFound,
            Self::NotAFolder
            | Self::IntoItself
            | Self::RootIsFixed
            | Self::ShareOnlyFolders
            | Self::InvalidBlob => Code::InvalidInput,
            Self::QuotaExceeded { .. } => Code::QuotaExceeded,
        }
    }
}
