//! One-click unsubscribe (RFC 8058) for the links of notification mails:
//! `POST /notifications/unsubscribe?token=…` sets the kind of notification the token names
//! to NONE for the member it names (mail clients send `List-Unsubscribe=One-Click` as the
//! body; it is not required). `GET` only shows a page with a button that POSTs: mail
//! scanners fetch links, and a GET must not unsubscribe anyone. The token is signed
//! (`medgrid_infra::unsubscribe`): no sign-in is needed, and nothing else can be done with it.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use medgrid_domain::Code;
use medgrid_domain::notify::NotificationKind;
use medgrid_graphql::Services;
use medgrid_graphql::usecases::notifications;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct TokenQuery {
    token: String,
}

fn label(kind: NotificationKind) -> &'static str {
    match kind {
        NotificationKind::JobStarted => "a job started",
        NotificationKind::JobSucceeded => "a job succeeded",
        NotificationKind::JobFailed => "a job failed",
        NotificationKind::JobRetried => "a job is retried",
        NotificationKind::JobCancelled => "a job was cancelled",
        NotificationKind::QuotaNearlyFull => "a storage quota is nearly full",
        NotificationKind::FolderShared => "a folder was shared with you",
        NotificationKind::TicketUpdated => "a ticket was updated",
    }
}

fn page(status: StatusCode, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>Medgrid notifications</title></head><body>{body}</body></html>"
    );
    (status, Html(html)).into_response()
}

fn not_a_link() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "<p>This unsubscribe link is not valid (any more). Change your notifications in the \
         portal instead.</p>",
    )
}

/// Shows what the link would do, and a button that does it.
pub async fn confirm(State(svc): State<Services>, Query(q): Query<TokenQuery>) -> Response {
    let Some((_, _, kind)) = svc.unsubscribe.verify(&q.token).await else {
        return not_a_link();
    };
    // a verified token holds only [A-Za-z0-9._-]: nothing to escape
    page(
        StatusCode::OK,
        &format!(
            "<p>Stop mail when {}?</p>\
             <form method=\"post\" action=\"/notifications/unsubscribe?token={}\">\
             <input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
             <button type=\"submit\">Unsubscribe</button></form>",
            label(kind),
            q.token
        ),
    )
}

/// Unsubscribes (idempotent: a second POST changes nothing).
pub async fn act(
    State(svc): State<Services>,
    Query(q): Query<TokenQuery>,
    headers: HeaderMap,
) -> Response {
    let request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match notifications::unsubscribe(&svc, &q.token, request_id).await {
        Ok(kind) => page(
            StatusCode::OK,
            &format!(
                "<p>Done: no more mail when {}. Change it back in the portal at any time.</p>",
                label(kind)
            ),
        ),
        Err(e) if e.code == Code::NotFound => not_a_link(),
        Err(e) => crate::files::error(&e),
    }
}
