//! Jobs: an application run with its parameters, placed on resources, over attempts; the
//! lifecycle every timeline shows (SUBMITTED → QUEUED → SCHEDULED → RUNNING → SUCCEEDED |
//! FAILED | CANCELLED, with RETRYING between attempts).

mod aggregate;
mod command;
mod error;
mod event;
mod invocation;
mod qos;
mod state;

pub use aggregate::Job;
pub use command::JobCommand;
pub use error::JobError;
pub use event::{
    AppRef, InputFile, JobEvent, JobSandbox, NewJob, OutputFile, OutputSpec, Placement, Usage,
};
pub use invocation::Invocation;
pub(crate) use invocation::single_quoted;
pub use qos::{FailureClass, Limit, Outcome, ReplicaCancel, RetryPolicy};
pub use state::JobState;
