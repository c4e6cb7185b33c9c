//! Medgrid's GraphQL API, and the use cases behind it. Knows nothing of the web framework:
//! `services/api` serves the schema over HTTP and WebSocket.

use std::sync::Arc;

use async_graphql::Schema;
use medgrid_domain::ports::{CommandBus, IdentityTokens, Secrets};
use sqlx::PgPool;
use tokio::sync::watch;

mod accounting_types;
mod audit_types;
mod catalog_types;
mod compute_types;
pub mod error;
mod identity_types;
mod import_types;
mod job_types;
mod mutation;
mod notification_types;
mod once;
mod query;
mod space_types;
mod subscription;
mod ticket_types;
mod types;
pub mod usecases;

pub use error::ApiError;
/// Every mutation: one object per area, merged.
#[derive(async_graphql::MergedObject, Default)]
pub struct Mutation(
    mutation::CoreMutation,
    identity_types::IdentityMutation,
    space_types::SpaceMutation,
    notification_types::NotificationMutation,
    ticket_types::TicketMutation,
    import_types::ImportMutation,
);
/// Every query: one object per area, merged.
#[derive(async_graphql::MergedObject, Default)]
pub struct Query(
    query::CoreQuery,
    space_types::SpaceQuery,
    accounting_types::AccountingQuery,
    notification_types::NotificationQuery,
    ticket_types::TicketQuery,
    import_types::ImportQuery,
);
pub use subscription::Subscription;

/// What the use cases work with.
#[derive(Clone)]
pub struct Services {
    pub pool: PgPool,
    pub bus: Arc<dyn CommandBus>,
    pub secrets: Arc<dyn Secrets>,
    /// Password hashing and checks, off the async workers and bounded.
    pub passwords: Arc<usecases::passwords::Passwords>,
    /// Failed sign-ins per account and tenant (`sign_in_limits`), shared by replicas.
    pub sign_in_failures: Arc<dyn medgrid_domain::ports::SignInFailures>,
    pub sign_in_limits: medgrid_domain::access::sign_in::SignInLimits,
    /// Bearer JWTs of the identity providers tenants trust.
    pub identity: Arc<dyn IdentityTokens>,
    /// The guard of fetches from identity providers (discovery, keys, token endpoints),
    /// checked when a provider is registered.
    pub providers: Arc<dyn medgrid_domain::ports::OutboundGuard>,
    /// The registries application images may come from (`MEDGRID_IMAGE_REGISTRIES`): a
    /// descriptor naming another is refused, so nobody makes Medgrid fetch from anywhere.
    pub image_registries: Arc<Vec<String>>,

    /// Secrets read back later, sealed outside the event log (providers' client secrets).
    pub sealed: Arc<dyn medgrid_domain::ports::SecretStore>,
    /// Tokens of running attempts (`MEDGRID_JOB_TOKEN`).
    pub job_tokens: Arc<dyn medgrid_domain::ports::JobTokens>,
    /// One-click unsubscribe links of notification mails.
    pub unsubscribe: Arc<dyn medgrid_domain::ports::UnsubscribeTokens>,
    /// Job logs, outputs and shipped samples.
    pub files: Arc<dyn medgrid_domain::ports::JobFiles>,
    /// The SSRF guard of imports (checked when an import is asked for).
    pub outbound: Arc<dyn medgrid_domain::ports::OutboundGuard>,
    /// QIDO-RS searches of hospital DICOMweb servers (through the same guard).
    pub dicom: Arc<dyn medgrid_domain::ports::DicomDirectory>,
    /// Bumped when in-process processors apply events (wakes subscriptions early).
    pub progress: watch::Receiver<u64>,
}

/// Per-request data: who is calling (or why authentication failed) and the request id.
#[derive(Clone, Debug)]
pub struct RequestContext {
    pub caller: Result<medgrid_domain::Actor, ApiError>,
    pub request_id: Option<String>,
}

impl RequestContext {
    /// A request that carried no credentials.
    pub fn anonymous(request_id: Option<String>) -> Self {
        Self {
            caller: Err(ApiError::unauthenticated("authentication required")),
            request_id,
        }
    }
}

pub type MedgridSchema = Schema<Query, Mutation, Subscription>;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub depth: usize,
    pub complexity: usize,
}

pub fn build_schema(services: Services, limits: Limits) -> MedgridSchema {
    Schema::build(Query::default(), Mutation::default(), Subscription)
        .data(services)
        .limit_depth(limits.depth)
        .limit_complexity(limits.complexity)
        .limit_recursive_depth(32)
        .limit_directives(20)
        .extension(once::OncePerOperation)
        .finish()
}

/// The schema in SDL, for clients and for the isolation test generated from it.
pub fn sdl() -> String {
    Schema::build(Query::default(), Mutation::default(), Subscription)
        .finish()
        .sdl()
}
