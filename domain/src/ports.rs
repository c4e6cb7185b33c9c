//! What the domain's use cases need from the world, as traits the infrastructure implements.

use async_trait::async_trait;

use crate::access::sign_in::Failures;
use crate::access::{GroupCommand, MemberCommand};
use crate::catalog::ApplicationCommand;
use crate::compute::ResourceCommand;
use crate::error::CommandError;
use crate::ids::{
    ApplicationId, GroupId, ImportId, JobId, MemberId, PreferencesId, ResourceId, SpaceId,
    TenantId, TicketId,
};
use crate::imports::ImportCommand;
use crate::jobs::JobCommand;
use crate::metadata::EventMetadata;
use crate::names::Password;
use crate::notify::{NotificationKind, NotificationPreferencesCommand};
use crate::spaces::SpaceCommand;
use crate::support::TicketCommand;
use crate::tenancy::TenantCommand;

/// Executes commands against aggregates and returns once the read models include the
/// events written (or a bounded wait expired: the write itself has succeeded either way).
#[async_trait]
pub trait CommandBus: Send + Sync {
    async fn tenant(
        &self,
        id: TenantId,
        command: TenantCommand,
        meta: &EventMetadata,
    ) -> Result<(), CommandError>;

    async fn member(
        &self,
        id: MemberId,
        command: MemberCommand,
        meta: &EventMetadata,
    ) -> Result<(), CommandError>;

    async fn group(
        &self,
        id: GroupId,
        command: GroupCommand,
        meta: &EventMetadata,
    ) -> Result<(), CommandError>;

    async fn application(
        &self,
        id: ApplicationId,
        command: ApplicationCommand,
        meta: &EventMetadata,
    ) -> Result<(), CommandError>;

    async fn resource(
        &self,
        id: ResourceId,
        command: ResourceCommand,
        meta: &EventMetadata,
    ) -> Result<(), CommandError>;

    async fn job(
        &self,
        id: JobId,
        command: JobCommand,
        meta: &EventMetadata,
    ) -> Result<(), CommandError>;

    async fn space(
        &self,
        id: SpaceId,
        command: SpaceCommand,
        meta: &EventMetadata,
    ) -> Result<(), CommandError>;

    async fn notification_preferences(
        &self,
        id: PreferencesId,
        command: NotificationPreferencesCommand,
        meta: &EventMetadata,
    ) -> Result<(), CommandError>;

    async fn ticket(
        &self,
        id: TicketId,
        command: TicketCommand,
        meta: &EventMetadata,
    ) -> Result<(), CommandError>;

    async fn import(
        &self,
        id: ImportId,
        command: ImportCommand,
        meta: &EventMetadata,
    ) -> Result<(), CommandError>;
}

/// A freshly minted bearer token: shown once to its owner, stored only as `hash`.
pub struct MintedToken {
    pub plaintext: String,
    pub hash: String,
}

/// Secrets: password hashing (argon2id in production) and bearer tokens.
pub trait Secrets: Send + Sync {
    fn hash_password(&self, password: &Password) -> Result<String, CommandError>;
    fn verify_password(&self, password: &str, hash: &str) -> bool;
    fn mint_token(&self) -> MintedToken;
    /// The stored form of a presented token.
    fn token_hash(&self, plaintext: &str) -> String;
}

/// Failed sign-ins, counted where every API replica sees them (so replicas do not
/// multiply what an attacker may try). See [`crate::access::sign_in`] for the policy.
#[async_trait]
pub trait SignInFailures: Send + Sync {
    /// The failures counted for `account` and for its `tenant`, each in its current window.
    async fn counted(
        &self,
        tenant: TenantId,
        account: MemberId,
    ) -> Result<(Option<Failures>, Option<Failures>), CommandError>;

    /// Counts one failure for the account and one for its tenant; a count whose window
    /// (`window` long) has passed starts again at one.
    async fn failed(
        &self,
        tenant: TenantId,
        account: MemberId,
        window: std::time::Duration,
    ) -> Result<(), CommandError>;

    /// The account signed in: its count starts again (its tenant's does not).
    async fn forget(&self, account: MemberId) -> Result<(), CommandError>;
}

/// Which log of an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    Stdout,
    Stderr,
}

/// A piece of a log: the text (lossy UTF-8), the log's whole size, and whether the
/// piece is all of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogText {
    pub text: String,
    pub size: u64,
    pub complete: bool,
}

/// The files of jobs: attempts' logs, collected outputs, shipped sample inputs.
pub trait JobFiles: Send + Sync {
    /// At most `limit` bytes of a log: its end when `tail`, else its start. None when the
    /// attempt has written no such log (yet).
    fn log(
        &self,
        job: JobId,
        attempt: u32,
        stream: LogStream,
        tail: bool,
        limit: u64,
    ) -> std::io::Result<Option<LogText>>;

    /// A collected output opened for reading, if `path` names one (a regular file, reached
    /// without following symlinks).
    fn output(&self, job: JobId, path: &str) -> Option<std::fs::File>;

    /// Whether the shipped catalog has sample `file` for application `app`.
    fn sample_exists(&self, app: &str, file: &str) -> bool;
}

/// Why a bearer JWT was not accepted. Said to the caller as UNAUTHENTICATED.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenRejected {
    #[error("invalid token: {0}")]
    Invalid(String),
    #[error("the identity provider's keys could not be fetched: {0}")]
    Unreachable(String),
    /// The provider's discovery document or keys are at an address the outbound guard
    /// refuses: nothing was sent there.
    #[error("the identity provider's keys are at a refused address: {0}")]
    Refused(String),
}

/// Bearer JWTs of trusted identity providers: signatures checked against the provider's
/// published keys (discovery, JWKS), fetched and cached by the implementation.
#[async_trait]
pub trait IdentityTokens: Send + Sync {
    /// The issuer a JWT names, read without verification (to know whose keys to use);
    /// None when the value is not a JWT.
    fn claimed_issuer(&self, token: &str) -> Option<String>;

    /// Verifies the signature and `iss` (exactly `issuer`), `aud` (one of `audiences`),
    /// `exp`, `nbf` and `sub`; returns all claims.
    async fn verify(
        &self,
        token: &str,
        issuer: &crate::tenancy::IssuerUrl,
        audiences: &[String],
    ) -> Result<serde_json::Value, TokenRejected>;
}

/// How job-scoped tokens begin (so they are told apart from other bearer tokens).
pub const JOB_TOKEN_PREFIX: &str = "mgj_";

/// Tokens the portal gives a running attempt (`MEDGRID_JOB_TOKEN`) in place of any
/// person's credentials: they name one attempt of one job, and the service checks on each
/// use that the attempt is still running.
#[async_trait]
pub trait JobTokens: Send + Sync {
    /// The token of attempt `attempt` of `job` (the same every time it is asked).
    async fn mint(&self, job: crate::ids::JobId, attempt: u32) -> Result<String, CommandError>;

    /// The attempt a token names, if it is one of ours (not whether it is still alive).
    async fn verify(&self, token: &str) -> Option<(crate::ids::JobId, u32)>;
}

/// Secrets the service must read back (an identity provider's client secret), kept
/// sealed outside the event log: events record only a fingerprint.
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// Keeps `secret` for `owner` (sealed), replacing an earlier one; returns its
    /// fingerprint.
    async fn put(
        &self,
        tenant: crate::ids::TenantId,
        owner: uuid::Uuid,
        secret: &str,
    ) -> Result<String, CommandError>;

    async fn get(&self, owner: uuid::Uuid) -> Result<Option<String>, CommandError>;

    async fn remove(&self, owner: uuid::Uuid) -> Result<(), CommandError>;
}

/// One-click unsubscribe links (RFC 8058): a token names one member of one tenant and one
/// kind of notification, signed by the service, so the link works without signing in and
/// cannot be made for anyone else or another kind.
#[async_trait]
pub trait UnsubscribeTokens: Send + Sync {
    /// The token for `member` of `tenant` and `kind` (the same every time it is asked).
    async fn mint(
        &self,
        tenant: TenantId,
        member: MemberId,
        kind: NotificationKind,
    ) -> Result<String, CommandError>;

    /// What a token names, if it is one of ours.
    async fn verify(&self, token: &str) -> Option<(TenantId, MemberId, NotificationKind)>;
}

/// What a member asks a hospital's DICOMweb server for (QIDO-RS), to pick a study to
/// import. Credentials are used for this request only.
#[derive(Debug, Clone, Default)]
pub struct StudySearch {
    /// The DICOMweb root, such as `https://pacs.example.org/dicom-web`.
    pub base_url: String,
    pub patient_id: Option<String>,
    pub accession_number: Option<String>,
    /// A date or range as QIDO-RS takes it (`20260101-20260131`).
    pub study_date: Option<String>,
    pub modality: Option<String>,
    pub limit: u32,
    pub bearer_token: Option<String>,
    pub basic: Option<(String, String)>,
}

/// A study the server lists: what identifies it for the import, and what tells studies
/// apart for people. Patient attributes are left out on purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StudyFound {
    pub study_instance_uid: String,
    pub study_date: Option<String>,
    pub modalities: Vec<String>,
    pub description: Option<String>,
    pub series: Option<u32>,
    pub instances: Option<u32>,
}

/// Why a search gave nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchFailed {
    /// The address is not one Medgrid may reach (SSRF guard): INVALID_INPUT.
    #[error("url: {0}")]
    Refused(String),
    /// The server could not be asked, or answered an error.
    #[error("the DICOMweb server: {0}")]
    Server(String),
}

/// Searches hospital DICOMweb servers (QIDO-RS), through the outbound guard.
#[async_trait]
pub trait DicomDirectory: Send + Sync {
    async fn search_studies(&self, search: StudySearch) -> Result<Vec<StudyFound>, SearchFailed>;
}

/// Why Medgrid will not fetch from an address (said to the caller as INVALID_INPUT).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// The guard of every fetch from a server someone names (SSRF): only http(s), no
/// credentials in URLs, and nothing on this service itself, its loopback or private
/// networks (unless the installation allows them: labs and tests), nor cloud metadata.
#[async_trait]
pub trait OutboundGuard: Send + Sync {
    /// Checks `url` now, its host resolved. The importer checks again before connecting.
    async fn check_url(&self, url: &str) -> Result<(), Refused>;

    /// Checks `url` ahead of any fetch (a server being registered): like `check_url`, but
    /// a host name that does not resolve yet passes — every fetch checks again.
    async fn check_ahead(&self, url: &str) -> Result<(), Refused>;
}
