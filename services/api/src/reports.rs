//! Accounting as CSV: `GET /accounting.csv?from=<RFC 3339>&to=<RFC 3339>&groupBy=MEMBER,MONTH`
//! with the same bearer token (or session) and the same rules as the GraphQL `accounting`.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use medgrid_graphql::usecases::{Scope, accounting};
use medgrid_graphql::{ApiError, Services};
use medgrid_web::Portal;
use serde::Deserialize;

use crate::files::{Access, authenticate, error};
use crate::limits::RateLimits;

#[derive(Deserialize)]
pub struct ReportQuery {
    from: String,
    to: String,
    #[serde(default, rename = "groupBy")]
    group_by: String,
}

fn instant(raw: &str, name: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| ApiError::invalid(format!("{name} must be an RFC 3339 date-time")))
}

pub async fn csv(
    State(services): State<Services>,
    State(limits): State<Arc<RateLimits>>,
    State(portal): State<Arc<Portal>>,
    Query(q): Query<ReportQuery>,
    headers: HeaderMap,
) -> Response {
    let actor = match authenticate(&services, &limits, &portal, &headers, Access::Read).await {
        Ok(actor) => actor,
        Err(response) => return response,
    };
    let scope = Scope::member(&services, actor);
    let report = async {
        let from = instant(&q.from, "from")?;
        let to = instant(&q.to, "to")?;
        let by = accounting::dimensions(&q.group_by)?;
        let lines = accounting::report(&scope, from, to, &by).await?;
        Ok::<_, ApiError>(accounting::csv(&by, &lines))
    };
    match report.await {
        Ok(body) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/csv; charset=utf-8"),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    HeaderValue::from_static("attachment; filename=\"accounting.csv\""),
                ),
            ],
            body,
        )
            .into_response(),
        Err(e) => error(&e),
    }
}
