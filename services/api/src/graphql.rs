//! GraphQL over HTTP (POST /graphql) and WebSocket (/graphql/ws, graphql-transport-ws).

use std::net::SocketAddr;
use std::sync::Arc;

use async_graphql::ServerError;
use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, GraphiQLSource, WebSocketProtocols};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use medgrid_domain::Code;
use medgrid_graphql::usecases::auth;
use medgrid_graphql::{ApiError, MedgridSchema, RequestContext, Services};
use medgrid_web::Portal;
use serde_json::json;

use crate::ApiConfig;
use crate::limits::{RateLimits, too_many};
use crate::subscriptions::Connection;

/// Resolves the caller from an `Authorization: Bearer …` value, if one was given.
pub(crate) async fn context(
    services: &Services,
    authorization: Option<&str>,
    request_id: Option<String>,
) -> RequestContext {
    let Some(value) = authorization else {
        return RequestContext::anonymous(request_id);
    };
    let caller = match value.strip_prefix("Bearer ") {
        Some(token) if !token.trim().is_empty() => {
            auth::resolve_bearer(services, token.trim()).await
        }
        _ => Err(ApiError::unauthenticated(
            "the Authorization header must be `Bearer <token>`",
        )),
    };
    RequestContext { caller, request_id }
}

/// The credentials of a request: its Authorization header, else the portal's session
/// cookie — only on JSON requests, which a cross-site form cannot send (no CORS here), so
/// the cookie cannot be used for request forgery.
pub(crate) fn authorization(headers: &HeaderMap, portal: &Portal) -> Option<String> {
    if let Some(value) = header(headers, "authorization") {
        return Some(value.to_owned());
    }
    let json = header(headers, "content-type")
        .is_some_and(|t| t.trim_start().starts_with("application/json"));
    if json {
        medgrid_web::session(headers, portal).map(|token| format!("Bearer {token}"))
    } else {
        None
    }
}

pub(crate) fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A request-level error in GraphQL's response shape.
fn request_error(status: StatusCode, message: &str) -> Response {
    let body = json!({"errors": [{"message": message, "extensions": {"code": Code::InvalidInput.as_str()}}]});
    (status, Json(body)).into_response()
}

pub async fn execute(
    State(schema): State<MedgridSchema>,
    State(services): State<Services>,
    State(limits): State<Arc<RateLimits>>,
    State(portal): State<Arc<Portal>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return request_error(
                StatusCode::BAD_REQUEST,
                &format!("the body is not a GraphQL request: {e}"),
            );
        }
    };
    let request_id = header(&headers, "x-request-id").map(str::to_owned);
    let authorization = authorization(&headers, &portal);
    let ctx = context(&services, authorization.as_deref(), request_id).await;
    let counted = match &ctx.caller {
        Ok(actor) => limits.check(actor),
        Err(_) => limits.check_anonymous(client.ip(), &headers),
    };
    if let Err(wait) = counted {
        return too_many(wait);
    }
    let mut response = schema.execute(request.data(ctx)).await;
    // Parse, validation and limit errors come from async-graphql without a code: they
    // are all the client's to fix.
    for error in &mut response.errors {
        tag_uncoded(error);
    }
    let retry_after = retry_after(&response.errors);
    let mut response = Json(response).into_response();
    // a field refused as RATE_LIMITED (too many failed sign-ins) says when to come back
    // as HTTP does too; the request itself was answered, so the status stays 200
    if let Some(value) = retry_after.and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// The longest `retryAfter` of the errors, in seconds.
fn retry_after(errors: &[ServerError]) -> Option<u64> {
    errors
        .iter()
        .filter_map(|e| e.extensions.as_ref()?.get("retryAfter"))
        .filter_map(|v| match v {
            async_graphql::Value::Number(n) => n.as_u64(),
            _ => None,
        })
        .max()
}

fn tag_uncoded(error: &mut ServerError) {
    let coded = error
        .extensions
        .as_ref()
        .is_some_and(|e| e.get("code").is_some());
    if !coded {
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", Code::InvalidInput.as_str());
    }
}

pub async fn graphiql(State(config): State<Arc<ApiConfig>>) -> Response {
    if config.dev_mode {
        Html(
            GraphiQLSource::build()
                .endpoint("/graphql")
                .subscription_endpoint("/graphql/ws")
                .finish(),
        )
        .into_response()
    } else {
        request_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "POST GraphQL requests to /graphql (GraphiQL is on in dev mode only)",
        )
    }
}

/// Subscriptions. Browsers cannot set headers on a WebSocket, so the token comes in the
/// `connection_init` payload: `{"Authorization": "Bearer …"}`. The connection is held as
/// [`Connection`] says: closed once the token no longer resolves, counted against the rate
/// limits, a bounded number of subscriptions at once.
pub async fn websocket(
    State(schema): State<MedgridSchema>,
    State(services): State<Services>,
    State(limits): State<Arc<RateLimits>>,
    State(config): State<Arc<ApiConfig>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let Some(protocol) = protocol(&headers) else {
        return request_error(
            StatusCode::BAD_REQUEST,
            "ask for the graphql-transport-ws protocol (Sec-WebSocket-Protocol)",
        );
    };
    let connection = Connection {
        schema,
        services,
        limits,
        socket_limits: config.sockets,
        protocol,
        peer: client.ip(),
        request_id: header(&headers, "x-request-id").map(str::to_owned),
        headers,
    };
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| connection.serve(socket))
}

/// The first GraphQL protocol the client asks for (what async-graphql-axum's
/// `GraphQLProtocol` extracts, which keeps it to itself).
fn protocol(headers: &HeaderMap) -> Option<WebSocketProtocols> {
    header(headers, "sec-websocket-protocol")?
        .split(',')
        .find_map(|p| p.trim().parse().ok())
}
