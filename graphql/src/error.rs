//! Errors as clients see them: a message for people and a stable `extensions.code`.
//! Internal failures are logged with their detail and answered with a bare INTERNAL.

use async_graphql::ErrorExtensions;
use medgrid_domain::actor::Forbidden;
use medgrid_domain::names::InvalidValue;
use medgrid_domain::{Code, CommandError};

/// Deliberately not `Display`: async-graphql converts every `Display` type into an error
/// without extensions, which would drop the code. Use `From<ApiError>` instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: Code,
    pub message: String,
    /// The input the refusal is about (`parameters.iterations`), when it is one: forms
    /// show the message beside it, GraphQL as `extensions.field`.
    pub field: Option<String>,
    /// How long to wait before trying again (RATE_LIMITED): GraphQL's
    /// `extensions.retryAfter` in seconds, HTTP's `Retry-After`.
    pub retry_after: Option<std::time::Duration>,
}

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    /// RATE_LIMITED: try again after `wait` (said in whole seconds, at least one).
    pub fn rate_limited(message: impl Into<String>, wait: std::time::Duration) -> Self {
        Self {
            retry_after: Some(wait),
            ..Self::new(Code::RateLimited, message)
        }
    }

    /// Whole seconds to wait (rounded up, at least 1), when this is RATE_LIMITED.
    pub fn retry_after_seconds(&self) -> Option<u64> {
        self.retry_after
            .map(|w| (w.as_secs() + u64::from(w.subsec_nanos() > 0)).max(1))
    }

    /// This refusal, about the input `field`.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(Code::Unauthenticated, message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(Code::NotFound, format!("no such {what}"))
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidInput, message)
    }

    fn internal(detail: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(Code::Internal, "internal error")
    }
}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::Store(detail) => Self::internal(&detail),
            CommandError::Rejected {
                code,
                message,
                field: Some(field),
            } => Self::new(code, message).with_field(field),
            other => Self::new(other.code(), other.to_string()),
        }
    }
}

impl From<Forbidden> for ApiError {
    fn from(e: Forbidden) -> Self {
        Self::new(Code::Forbidden, e.0)
    }
}

impl From<InvalidValue> for ApiError {
    fn from(e: InvalidValue) -> Self {
        Self::invalid(e.to_string())
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        Self::internal(&e)
    }
}

impl ErrorExtensions for ApiError {
    fn extend(&self) -> async_graphql::Error {
        async_graphql::Error::new(self.message.clone()).extend_with(|_, ext| {
            ext.set("code", self.code.as_str());
            if let Some(field) = &self.field {
                ext.set("field", field.as_str());
            }
            if let Some(seconds) = self.retry_after_seconds() {
                ext.set("retryAfter", seconds);
            }
        })
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(e: ApiError) -> Self {
        e.extend()
    }
}
