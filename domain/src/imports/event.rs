use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use crate::ids::{MemberId, NodeId, SpaceId, TenantId};

/// How Medgrid signs in to a DICOMweb server (the token or password itself is sealed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DicomWebAuthKind {
    None,
    Bearer,
    Basic { username: String },
}

/// Where an import's files come from: what may be shown and kept forever.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImportSource {
    /// One file. `url` is shown without its query (which may carry a token): the full URL
    /// is sealed with the request.
    Url { url: String },
    /// Every object under `prefix`; the secret key is sealed.
    S3 {
        endpoint: String,
        region: String,
        bucket: String,
        prefix: String,
        access_key_id: String,
    },
    /// A study (or one series of it): the UIDs, credentials and de-identification key
    /// are sealed.
    DicomWeb {
        base_url: String,
        auth: DicomWebAuthKind,
    },
}

impl ImportSource {
    /// `URL`, `S3` or `DICOMWEB`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Url { .. } => "URL",
            Self::S3 { .. } => "S3",
            Self::DicomWeb { .. } => "DICOMWEB",
        }
    }

    /// What people are shown: never a secret nor a patient's UID.
    pub fn display(&self) -> String {
        match self {
            Self::Url { url } => url.clone(),
            Self::S3 {
                endpoint,
                bucket,
                prefix,
                ..
            } => format!("s3://{bucket}/{prefix} at {endpoint}"),
            Self::DicomWeb { base_url, .. } => format!("a DICOMweb study from {base_url}"),
        }
    }
}

/// A new import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewImport {
    pub tenant_id: TenantId,
    /// Who asked for it (and who may see and cancel it, besides tenant admins).
    pub owner: MemberId,
    pub space_id: SpaceId,
    /// The folder the files go into.
    pub folder: NodeId,
    pub source: ImportSource,
    /// Of the sealed request (full URL, credentials, UIDs, key): tells two apart, reveals
    /// nothing.
    pub request_fingerprint: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImportEvent {
    ImportRequested(NewImport),
    ImportStarted,
    /// What the whole import will bring (known once the importer looked at the source).
    ImportSized {
        files: u64,
        bytes: u64,
    },
    ImportProgressed {
        files: u64,
        bytes: u64,
    },
    ImportSucceeded {
        files: u64,
        bytes: u64,
        reason: String,
    },
    ImportFailed {
        reason: String,
    },
    ImportCancelled {
        reason: String,
    },
}

impl DomainEvent for ImportEvent {
    fn event_type(&self) -> String {
        match self {
            Self::ImportRequested(_) => "ImportRequested",
            Self::ImportStarted => "ImportStarted",
            Self::ImportSized { .. } => "ImportSized",
            Self::ImportProgressed { .. } => "ImportProgressed",
            Self::ImportSucceeded { .. } => "ImportSucceeded",
            Self::ImportFailed { .. } => "ImportFailed",
            Self::ImportCancelled { .. } => "ImportCancelled",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}
