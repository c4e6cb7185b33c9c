//! Turning pages into responses: the rendered template with the CSRF cookie when it was
//! missing, and use-case refusals as a page that says what went wrong.

use askama::Template;
use axum::http::StatusCode;
use axum::http::header::SET_COOKIE;
use axum::response::{Html, IntoResponse, Response};
use medgrid_domain::Code;
use medgrid_graphql::ApiError;

use crate::visitor::Visitor;

/// A rendered page with `status`.
pub fn page(visitor: &Visitor, status: StatusCode, template: &impl Template) -> Response {
    let html = match template.render() {
        Ok(html) => html,
        Err(e) => {
            tracing::error!(error = %e, "a portal page could not be rendered");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "This page could not be drawn.",
            )
                .into_response();
        }
    };
    let mut response = (status, Html(html)).into_response();
    if let Some(cookie) = &visitor.set_csrf
        && let Ok(value) = cookie.parse()
    {
        response.headers_mut().append(SET_COOKIE, value);
    }
    response
}

pub fn ok(visitor: &Visitor, template: &impl Template) -> Response {
    page(visitor, StatusCode::OK, template)
}

#[derive(Template)]
#[template(path = "web/failure.html")]
struct Failure<'a> {
    v: &'a Visitor,
    section: &'a str,
    title: &'a str,
    message: &'a str,
    code: &'a str,
}

/// The HTTP status of a refusal with `code` (pages and the file endpoints alike).
pub fn status_of(code: Code) -> StatusCode {
    match code {
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::Forbidden => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::InvalidInput => StatusCode::BAD_REQUEST,
        Code::Conflict => StatusCode::CONFLICT,
        Code::QuotaExceeded => StatusCode::PAYLOAD_TOO_LARGE,
        Code::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The status of a form shown again with a refusal beside its fields: 422 for bad
/// input, else the refusal's own.
pub fn form_status(e: &ApiError) -> StatusCode {
    match status_of(e.code) {
        StatusCode::BAD_REQUEST => StatusCode::UNPROCESSABLE_ENTITY,
        other => other,
    }
}

/// A refusal as a page: its message and code, with the navigation to go on.
pub fn failure(visitor: &Visitor, e: &ApiError) -> Response {
    let title = match e.code {
        Code::NotFound => "Not found",
        Code::Forbidden => "Not allowed",
        Code::Internal => "Something went wrong",
        _ => "That did not work",
    };
    let page_ = Failure {
        v: visitor,
        section: "",
        title,
        message: &e.message,
        code: e.code.as_str(),
    };
    page(visitor, status_of(e.code), &page_)
}

/// A form sent with a token that is not this browser's (forged, or from before the
/// cookie was set).
pub fn stale_form(visitor: &Visitor) -> Response {
    let e = ApiError::new(
        Code::Forbidden,
        "This form has expired: go back, reload the page and send it again.",
    );
    failure(visitor, &e)
}
