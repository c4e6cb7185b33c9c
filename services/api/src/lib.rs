//! The HTTP face of Medgrid: GraphQL over HTTP and WebSocket, health, readiness and the
//! portal's pages; metrics on a listener of their own ([`metrics_router`]).

pub mod client;
mod files;
mod graphql;
mod health;
pub mod limits;
mod reports;
mod resumable;
pub mod subscriptions;
pub mod transfers;
mod unsubscribe;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRef, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, head, post};
use limits::RateLimits;
use medgrid_graphql::{MedgridSchema, Services};
use medgrid_infra::telemetry::Metrics;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// GraphiQL on GET /graphql.
    pub dev_mode: bool,
    pub max_body_bytes: usize,
    /// Projections that must run for /readyz to answer ready.
    pub projections: Vec<&'static str>,
    /// How subscription connections are held.
    pub sockets: subscriptions::SocketLimits,
}

#[derive(Clone)]
pub struct AppState {
    pub schema: MedgridSchema,
    pub services: Services,
    pub metrics: Arc<Metrics>,
    pub config: Arc<ApiConfig>,
    pub limits: Arc<RateLimits>,
    pub portal: Arc<medgrid_web::Portal>,
    /// File contents of spaces.
    pub contents: medgrid_infra::contents::Contents,
    pub upload_limit: transfers::UploadLimit,
    /// Resumable uploads under way.
    pub uploads: medgrid_infra::uploads::Uploads,
}

impl FromRef<AppState> for medgrid_infra::contents::Contents {
    fn from_ref(state: &AppState) -> Self {
        state.contents.clone()
    }
}

impl FromRef<AppState> for transfers::UploadLimit {
    fn from_ref(state: &AppState) -> Self {
        state.upload_limit
    }
}

impl FromRef<AppState> for Arc<medgrid_web::Portal> {
    fn from_ref(state: &AppState) -> Self {
        state.portal.clone()
    }
}

impl FromRef<AppState> for MedgridSchema {
    fn from_ref(state: &AppState) -> Self {
        state.schema.clone()
    }
}

impl FromRef<AppState> for Services {
    fn from_ref(state: &AppState) -> Self {
        state.services.clone()
    }
}

impl FromRef<AppState> for Arc<Metrics> {
    fn from_ref(state: &AppState) -> Self {
        state.metrics.clone()
    }
}

impl FromRef<AppState> for Arc<RateLimits> {
    fn from_ref(state: &AppState) -> Self {
        state.limits.clone()
    }
}

impl FromRef<AppState> for Arc<ApiConfig> {
    fn from_ref(state: &AppState) -> Self {
        state.config.clone()
    }
}

pub fn router(state: AppState) -> Router {
    let body_limit = state.config.max_body_bytes;
    Router::new()
        .route("/", get(medgrid_web::front))
        .route("/login", get(medgrid_web::sign_in_page))
        .merge(sign_in_routes(&state))
        .merge(medgrid_web::routes())
        .merge(unsubscribe_routes(&state))
        .route("/logout", post(medgrid_web::sign_out))
        .route("/graphql", get(graphql::graphiql).post(graphql::execute))
        .route("/graphql/ws", get(graphql::websocket))
        .route("/files/jobs/{id}/outputs/{*path}", get(files::job_output))
        .route(
            "/files/upload",
            post(transfers::upload).layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/files/upload-form",
            post(transfers::upload_form).layer(DefaultBodyLimit::disable()),
        )
        .route("/files/nodes/{id}", get(transfers::download))
        .route(
            "/files/uploads",
            post(resumable::create).options(resumable::options),
        )
        .route(
            "/files/uploads/{id}",
            head(resumable::head)
                .patch(resumable::patch)
                .delete(resumable::delete)
                .layer(DefaultBodyLimit::disable()),
        )
        .route("/accounting.csv", get(reports::csv))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(
            TraceLayer::new_for_http()
                .on_response(DefaultOnResponse::new().level(Level::INFO))
                .make_span_with(|req: &Request| {
                let id = req
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
            }),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

/// `GET /metrics` alone, for the metrics listener (`MEDGRID_METRICS_LISTEN`): what the
/// service measures (routes, lag, commands per aggregate) is for the operator's scraper,
/// not for whoever reaches the public listener.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(health::metrics))
        .with_state(state)
}

/// Where people without credentials sign in: limited per client address.
fn sign_in_routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/login/local", post(medgrid_web::sign_in_local))
        .route("/login/oidc/{provider}", get(medgrid_web::oidc_start))
        .route("/login/callback", get(medgrid_web::oidc_callback))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            anonymous_limit,
        ))
}

/// One-click unsubscribe links of mails: no credentials but the link's own token, so
/// limited per client address like sign-in.
fn unsubscribe_routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/notifications/unsubscribe",
            get(unsubscribe::confirm).post(unsubscribe::act),
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            anonymous_limit,
        ))
}

async fn anonymous_limit(
    State(limits): State<Arc<RateLimits>>,
    ConnectInfo(client): ConnectInfo<std::net::SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    match limits.check_anonymous(client.ip(), req.headers()) {
        Ok(()) => next.run(req).await,
        Err(wait) => limits::too_many(wait),
    }
}

/// Records every request's latency by method, route template and status.
async fn observe(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(req).await;
    metrics.observe_http(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// How long a graceful shutdown waits for requests in flight.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
