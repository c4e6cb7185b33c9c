use super::event::NewImport;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportCommand {
    Request(NewImport),
    /// The importer took it up (again, after a restart: no change).
    Start,
    /// What the import will bring, once the importer knows (a URL's length, an S3
    /// prefix's listing): progress can then be shown against it.
    Size {
        files: u64,
        bytes: u64,
    },
    /// Files and bytes imported so far.
    Progress {
        files: u64,
        bytes: u64,
    },
    Succeed {
        files: u64,
        bytes: u64,
        reason: String,
    },
    Fail {
        reason: String,
    },
    /// By its owner (or a tenant admin) while it has not finished.
    Cancel {
        reason: String,
    },
}
