//! The error codes clients rely on (`extensions.code` in GraphQL) and the error a command
//! can end with.

use std::fmt;

/// A stable, client-visible error class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Unauthenticated,
    Forbidden,
    NotFound,
    InvalidInput,
    Conflict,
    QuotaExceeded,
    RateLimited,
    Internal,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::NotFound => "NOT_FOUND",
            Self::InvalidInput => "INVALID_INPUT",
            Self::Conflict => "CONFLICT",
            Self::QuotaExceeded => "QUOTA_EXCEEDED",
            Self::RateLimited => "RATE_LIMITED",
            Self::Internal => "INTERNAL",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A domain error that knows which client-visible class it belongs to.
pub trait Coded: std::error::Error {
    fn code(&self) -> Code;

    /// The input the refusal is about, when it is one (forms show it beside that field).
    fn field(&self) -> Option<&'static str> {
        None
    }
}

/// How a command ended when it did not produce events.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The aggregate refused the command (its message is meant for people).
    #[error("{message}")]
    Rejected {
        code: Code,
        message: String,
        /// The input it is about (see [`Coded::field`]).
        field: Option<&'static str>,
    },
    /// Another writer kept changing the same aggregate; retrying did not help.
    #[error("the object was changed concurrently; try again")]
    Conflict,
    /// The store failed; the message is for logs, not for clients.
    #[error("event store failure: {0}")]
    Store(String),
}

impl CommandError {
    pub fn rejected(err: &impl Coded) -> Self {
        Self::Rejected {
            code: err.code(),
            message: err.to_string(),
            field: err.field(),
        }
    }

    pub fn code(&self) -> Code {
        match self {
            Self::Rejected { code, .. } => *code,
            Self::Conflict => Code::Conflict,
            Self::Store(_) => Code::Internal,
        }
    }
}
