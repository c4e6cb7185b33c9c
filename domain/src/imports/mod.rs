//! Imports: files brought into a folder of a space from outside — an http(s) URL, an S3
//! bucket and prefix, or a hospital's DICOMweb server (de-identified on the way). An
//! import runs as a job of the worker with progress: REQUESTED → RUNNING → SUCCEEDED |
//! FAILED | CANCELLED.
//!
//! Events are forever, so they hold nothing secret or identifying: credentials, the
//! DICOM study and series UIDs (patient data) and the full URL (a query may carry a token)
//! are sealed outside the log, keyed by the import; the events record a fingerprint.

mod aggregate;
mod command;
mod error;
mod event;
mod request;

pub use aggregate::{Import, ImportState};
pub use command::ImportCommand;
pub use error::ImportError;
pub use event::{DicomWebAuthKind, ImportEvent, ImportSource, NewImport};
pub use request::SealedRequest;
