//! Liveness, readiness and metrics.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use medgrid_graphql::Services;
use medgrid_infra::telemetry::Metrics;
use medgrid_projections::runner;
use serde_json::json;

use crate::ApiConfig;

/// The process is up.
pub async fn healthz() -> &'static str {
    "ok"
}

/// Database reachable, migrations applied, every projection running (has a checkpoint).
pub async fn readyz(
    State(services): State<Services>,
    State(config): State<Arc<ApiConfig>>,
) -> impl IntoResponse {
    let database = sqlx::query_scalar::<_, i32>("SELECT 1")
        .fetch_one(&services.pool)
        .await
        .is_ok();
    let migrations = database
        && medgrid_infra::db::migrations_applied(&services.pool)
            .await
            .unwrap_or(false);
    let lag = if migrations {
        runner::lag(&services.pool).await.unwrap_or_default()
    } else {
        vec![]
    };
    let live: Vec<&str> = config
        .projections
        .iter()
        .copied()
        .filter(|name| lag.iter().any(|(n, _)| n == name))
        .collect();
    let projections = live.len() == config.projections.len();
    let ready = database && migrations && projections;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "ready": ready,
        "database": database,
        "migrations": migrations,
        "projections": lag.iter().map(|(n, l)| json!({"name": n, "lag": l})).collect::<Vec<_>>(),
    });
    (status, Json(body))
}

/// Prometheus text format; projection lag is measured at scrape time.
pub async fn metrics(
    State(services): State<Services>,
    State(metrics): State<Arc<Metrics>>,
) -> impl IntoResponse {
    if let Ok(lag) = runner::lag(&services.pool).await {
        for (name, events) in lag {
            metrics.set_lag(&name, events);
        }
    }
    (
        [("content-type", "text/plain; version=0.0.4")],
        metrics.render(),
    )
}
