use super::event::NewImport;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportCommand {
    Request(NewImport),
    /// The importer took it up (again, after a restart: no change).
    Start,
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
