//! The sign-in page (institution chooser and local accounts), sign-out, and the front page.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::header::{self, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use medgrid_graphql::Services;
use medgrid_graphql::usecases::auth;
use medgrid_projections::{Reader, tenants};
use serde::Deserialize;

use crate::pages::{self, Choice, SignIn};
use crate::return_to::ReturnTo;
use crate::visitor::Visitor;
use crate::{Portal, cookies, csrf};

/// A page with the CSRF cookie set if it was missing.
fn page(status: StatusCode, html: String, set_csrf: Option<String>) -> Response {
    let mut response = (status, Html(html)).into_response();
    if let Some(cookie) = set_csrf
        && let Ok(value) = cookie.parse()
    {
        response.headers_mut().append(SET_COOKIE, value);
    }
    response
}

/// The 303 that ends a sign-in: only ever to a [`ReturnTo`], a path of this site.
pub(crate) fn signed_in(next: &ReturnTo, set: &[String]) -> Response {
    see_other(next.as_str(), set)
}

/// A 303 to `to`, setting `cookies`.
pub(crate) fn see_other(to: &str, set: &[String]) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = to.parse() {
        response.headers_mut().insert(LOCATION, value);
    }
    for cookie in set {
        if let Ok(value) = cookie.parse() {
            response.headers_mut().append(SET_COOKIE, value);
        }
    }
    response
}

#[derive(Deserialize)]
pub struct NextQuery {
    pub(crate) next: Option<String>,
}

async fn choices(svc: &Services, next: &ReturnTo) -> Vec<Choice> {
    let rows = tenants::sign_in_choices(&Reader::system(&svc.pool))
        .await
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "listing identity providers failed");
            vec![]
        });
    rows.into_iter()
        .map(|c| Choice {
            href: format!(
                "/login/oidc/{}?next={}",
                c.provider_id,
                urlencode(next.as_str())
            ),
            label: if c.provider_name == c.tenant_name {
                c.tenant_name
            } else {
                format!("{} ({})", c.tenant_name, c.provider_name)
            },
        })
        .collect()
}

pub(crate) fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// GET /login: the institution chooser and the local sign-in form.
pub async fn sign_in_page(
    State(svc): State<Services>,
    State(portal): State<std::sync::Arc<Portal>>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Response {
    let next = ReturnTo::or_home(q.next.as_deref());
    let (token, set_csrf) = csrf::token(&headers, &portal);
    let choices = choices(&svc, &next).await;
    let html = pages::sign_in(&SignIn {
        choices: &choices,
        csrf: &token,
        next: next.as_str(),
        error: None,
        tenant: "",
        email: "",
    });
    page(StatusCode::OK, html, set_csrf)
}

#[derive(Deserialize)]
pub struct LocalForm {
    csrf: String,
    next: Option<String>,
    tenant: String,
    email: String,
    password: String,
}

/// POST /login/local: a local account's password gives a session cookie.
pub async fn sign_in_local(
    State(svc): State<Services>,
    State(portal): State<std::sync::Arc<Portal>>,
    headers: HeaderMap,
    Form(form): Form<LocalForm>,
) -> Response {
    let next = ReturnTo::or_home(form.next.as_deref());
    let (token, set_csrf) = csrf::token(&headers, &portal);
    let refuse = |status: StatusCode, message: &str, choices: &[Choice]| {
        let html = pages::sign_in(&SignIn {
            choices,
            csrf: &token,
            next: next.as_str(),
            error: Some(message),
            tenant: &form.tenant,
            email: &form.email,
        });
        page(status, html, set_csrf.clone())
    };
    if set_csrf.is_some() || !cookies::same(&token, &form.csrf) {
        let choices = choices(&svc, &next).await;
        return refuse(
            StatusCode::FORBIDDEN,
            "This form has expired: please sign in again.",
            &choices,
        );
    }
    match auth::login(&svc, &form.tenant, &form.email, &form.password, None).await {
        Ok((session, _)) => signed_in(&next, &[portal.session_cookie(&session)]),
        Err(e) => {
            let choices = choices(&svc, &next).await;
            match e.retry_after_seconds() {
                Some(seconds) => {
                    let minutes = seconds.div_ceil(60);
                    let message = format!(
                        "Too many failed sign-ins for this account or institution: \
                         try again in {minutes} minute{}.",
                        if minutes == 1 { "" } else { "s" }
                    );
                    let mut response = refuse(StatusCode::TOO_MANY_REQUESTS, &message, &choices);
                    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                        response.headers_mut().insert(header::RETRY_AFTER, value);
                    }
                    response
                }
                None => refuse(StatusCode::UNAUTHORIZED, &e.message, &choices),
            }
        }
    }
}

#[derive(Deserialize)]
pub struct LogoutForm {
    csrf: String,
}

/// POST /logout: the session's token is revoked and the cookie removed.
pub async fn sign_out(
    State(svc): State<Services>,
    State(portal): State<std::sync::Arc<Portal>>,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Response {
    if !csrf::valid(&headers, &portal, &form.csrf) {
        return (
            StatusCode::FORBIDDEN,
            "This form has expired: reload the page.",
        )
            .into_response();
    }
    if let Some(session) = cookies::get(&headers, cookies::SESSION, portal.secure())
        && let Err(e) = auth::close_session(&svc, &session).await
    {
        tracing::warn!(error = ?e, "revoking a session on sign-out failed");
    }
    see_other(
        "/login",
        &[cookies::clear(cookies::SESSION, portal.secure())],
    )
}

/// GET /: the member's start page, or the way to sign in.
pub async fn front(
    State(svc): State<Services>,
    State(portal): State<std::sync::Arc<Portal>>,
    headers: HeaderMap,
) -> Response {
    if let Some(visitor) = Visitor::of(svc, &portal, &headers).await {
        return crate::home::page(visitor).await;
    }
    page(StatusCode::OK, pages::front(), None)
}
