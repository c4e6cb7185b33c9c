//! Medgrid's infrastructure: configuration, database and migrations, the embedded
//! PostgreSQL cluster, the event store, secrets, outgoing mail and telemetry.

pub mod blobs;
pub mod claims;
pub mod config;
pub mod contents;
pub mod db;
pub mod dicom;
pub mod embedded;
pub mod executor;
pub mod images;
pub mod imports;
pub mod jobfiles;
pub mod jobtokens;
pub mod mail;
pub mod oidc;
pub mod outbound;
pub mod preview;
pub mod s3;
pub mod sandbox;
pub mod sealed;
pub mod secrets;
pub mod service_keys;
pub mod sign_in_failures;
pub mod store;
pub mod telemetry;
pub mod unsubscribe;
pub mod uploads;

/// An error and its sources, as one line: the messages of HTTP clients and the S3 SDK alone
/// are terse ("error sending request", "service error"); their sources say what happened.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}
