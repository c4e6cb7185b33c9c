use crate::error::{Code, Coded};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreferencesError {
    #[error("{field}: {rule}")]
    Invalid {
        field: &'static str,
        rule: &'static str,
    },
    /// The command names another owner than the aggregate's (its id is derived from it).
    #[error("these preferences belong to someone else")]
    WrongOwner,
}

impl Coded for PreferencesError {
    fn code(&self) -> Code {
        match self {
            Self::Invalid { .. } => Code::InvalidInput,
            Self::WrongOwner => Code::Forbidden,
        }
    }
}
