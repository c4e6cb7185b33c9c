//! The server-rendered portal: signing in and out (local accounts, and institutions'
//! OpenID Connect providers), the catalog and submission, jobs. Pages call the same use
//! cases as GraphQL, as the signed-in member, so they have the same authorization.
//! Templates are askama (`templates/web`, everything escaped); `static/portal.js` only
//! adds to pages that work without it.

mod admin;
mod catalog;
mod cookies;
mod csrf;
pub mod files;
mod form;
mod groups;
mod home;
mod jobs;
mod login;
mod oidc;
mod pages;
mod preferences;
pub mod previews;
mod return_to;
mod tickets;
mod view;
mod visitor;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use medgrid_graphql::Services;
use medgrid_infra::outbound::Guard;

pub use cookies::SESSION as SESSION_COOKIE;
pub use login::{front, sign_in_local, sign_in_page, sign_out};
pub use oidc::{callback as oidc_callback, start as oidc_start};
pub use previews::{MemberLimit, Previews};
pub use view::status_of;
pub use visitor::Visitor;

use medgrid_graphql::usecases::auth::LOGIN_TOKEN_HOURS;

/// What the portal's pages need beside the use cases.
pub struct Portal {
    /// Where browsers reach Medgrid (`https://medgrid.example.org`): redirect URIs derive
    /// from it, and cookies are `Secure` when it is HTTPS.
    public_url: String,
    /// Every request to an institution's provider (discovery, its keys, the code exchange)
    /// goes through it: addresses checked and pinned, no redirect followed (an open
    /// redirect would leak the code), no proxy.
    providers: Guard,
    /// How many previews are drawn at once, of what, within which budget.
    previews: Previews,
}

impl Portal {
    pub fn new(public_url: &str, providers: Guard) -> Self {
        Self {
            public_url: public_url.trim_end_matches('/').to_owned(),
            providers,
            previews: Previews::default(),
        }
    }

    /// With the process's previews (`MEDGRID_PREVIEW_*` and the API's rate limits).
    #[must_use]
    pub fn with_previews(mut self, previews: Previews) -> Self {
        self.previews = previews;
        self
    }

    fn secure(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    /// Where providers send browsers back: register it as the client's redirect URI.
    pub fn redirect_url(&self) -> String {
        format!("{}/login/callback", self.public_url)
    }

    fn session_cookie(&self, token: &str) -> String {
        let max_age = u64::try_from(LOGIN_TOKEN_HOURS).unwrap_or(12) * 3600;
        cookies::set(cookies::SESSION, token, Some(max_age), "Lax", self.secure())
    }
}

/// The portal's pages beside sign-in (which the API's router limits per client address):
/// the one table of its routes.
pub fn routes<S>() -> Router<S>
where
    Services: FromRef<S>,
    Arc<Portal>: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/apps", get(catalog::list))
        .route("/apps/{id}", get(catalog::show).post(catalog::submit))
        .route("/jobs", get(jobs::list))
        .route("/jobs/{id}", get(jobs::show))
        .route("/jobs/{id}/live", get(jobs::live_part))
        .route("/jobs/{id}/cancel", post(jobs::cancel))
        .route("/jobs/{id}/preview/{*path}", get(jobs::preview))
        .route(
            "/jobs/{id}/resubmit",
            get(jobs::resubmit_form).post(jobs::resubmit),
        )
        .route("/admin", get(admin::index))
        .route("/admin/accounting", get(admin::accounting::dashboard))
        .route("/admin/audit", get(admin::audit::log))
        .route(
            "/admin/members",
            get(admin::members::list).post(admin::members::create),
        )
        .route("/admin/members/{id}", get(admin::members::show))
        .route("/admin/members/{id}/{action}", post(admin::members::act))
        .route("/groups", get(groups::list).post(groups::create))
        .route("/groups/{id}", get(groups::show))
        .route("/groups/{id}/{action}", post(groups::act))
        .route(
            "/admin/applications",
            get(admin::applications::list).post(admin::applications::register),
        )
        .route(
            "/admin/applications/{id}/{action}",
            post(admin::applications::act),
        )
        .route(
            "/admin/providers",
            get(admin::providers::list).post(admin::providers::add),
        )
        .route(
            "/admin/providers/provisioning",
            post(admin::providers::provisioning),
        )
        .route(
            "/admin/providers/{id}",
            get(admin::providers::edit).post(admin::providers::update),
        )
        .route(
            "/admin/providers/{id}/remove",
            post(admin::providers::remove),
        )
        .route(
            "/admin/resources",
            get(admin::resources::list).post(admin::resources::register),
        )
        .route(
            "/admin/resources/{id}/{action}",
            post(admin::resources::act),
        )
        .route(
            "/admin/tenants",
            get(admin::tenants::list).post(admin::tenants::create),
        )
        .route("/admin/tenants/{id}", get(admin::tenants::show))
        .route("/admin/tenants/{id}/{action}", post(admin::tenants::act))
        .route(
            "/settings/notifications",
            get(preferences::show).post(preferences::save_mine),
        )
        .route(
            "/settings/notifications/tenant",
            post(preferences::save_tenant),
        )
        .route("/tickets", get(tickets::list))
        .route("/tickets/new", get(tickets::new_form).post(tickets::open))
        .route("/tickets/{id}", get(tickets::show))
        .route("/tickets/{id}/{action}", post(tickets::act))
        .route("/files", get(files::browse))
        .route("/files/trash", get(files::trash))
        .route("/files/folder", post(files::actions::new_folder))
        .route("/files/rename", post(files::actions::rename))
        .route("/files/move", post(files::actions::move_to))
        .route("/files/delete", post(files::actions::delete))
        .route("/files/restore", post(files::actions::restore))
        .route("/files/share", post(files::actions::share))
        .route("/files/unshare", post(files::actions::unshare))
        .route("/files/import", get(files::import::page))
        .route("/files/import/{source}", post(files::import::ask))
        .route("/files/import/dicomweb/search", post(files::import::search))
        .route("/files/imports", get(files::imports::list))
        .route("/files/imports/live", get(files::imports::live_part))
        .route("/files/imports/{id}/cancel", post(files::imports::cancel))
        .route(
            "/static/portal.css",
            get(|| {
                asset(
                    "text/css; charset=utf-8",
                    include_str!("../static/portal.css"),
                )
            }),
        )
        .route(
            "/static/portal.js",
            get(|| {
                asset(
                    "text/javascript; charset=utf-8",
                    include_str!("../static/portal.js"),
                )
            }),
        )
        .route(
            "/static/upload.js",
            get(|| {
                asset(
                    "text/javascript; charset=utf-8",
                    include_str!("../static/upload.js"),
                )
            }),
        )
}

/// A file of `static/`, compiled in (no third-party code; nothing read at run time).
async fn asset(kind: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
}

/// The boundary of a `multipart/form-data` request, if it is one.
pub fn multipart_boundary(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| multer::parse_boundary(v).ok())
}

/// The session token a browser request carries, if any.
pub fn session(headers: &axum::http::HeaderMap, portal: &Portal) -> Option<String> {
    cookies::get(headers, cookies::SESSION, portal.secure())
}

/// Whether a script's request repeats this browser's CSRF token in `X-CSRF-Token` (what a
/// request with the session cookie needs to change anything outside a form).
pub fn csrf_header_valid(headers: &axum::http::HeaderMap, portal: &Portal) -> bool {
    csrf::header_valid(headers, portal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_cookies_are_secure_behind_https_only() {
        let https = Portal::new("https://medgrid.example.org/", Guard::default());
        let cookie = https.session_cookie("t");
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
        assert!(cookie.ends_with("; Secure"), "{cookie}");
        assert!(cookie.starts_with("__Host-medgrid_session=t;"), "{cookie}");
        assert_eq!(
            https.redirect_url(),
            "https://medgrid.example.org/login/callback"
        );
        let http = Portal::new("http://127.0.0.1:8080", Guard::default());
        assert!(!http.session_cookie("t").contains("Secure"));
        assert!(http.session_cookie("t").starts_with("medgrid_session=t;"));
    }
}
