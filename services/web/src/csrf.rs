//! The CSRF token of forms: a random value in a `SameSite=Strict` cookie that every
//! state-changing form repeats in a hidden field (double submit), and the portal's scripts
//! in the `X-CSRF-Token` header. A cross-site page can make the browser send the cookie
//! but cannot read it to fill the field or the header.

use axum::http::HeaderMap;

use crate::{Portal, cookies};

/// Where the portal's scripts repeat the token (requests that are not forms: uploads).
pub const HEADER: &str = "x-csrf-token";

/// The CSRF token of this browser, and the cookie that sets it when it has none yet.
pub fn token(headers: &HeaderMap, portal: &Portal) -> (String, Option<String>) {
    match cookies::get(headers, cookies::CSRF, portal.secure()) {
        Some(token) => (token, None),
        None => {
            let token = cookies::random_token();
            let cookie = cookies::set(cookies::CSRF, &token, None, "Strict", portal.secure());
            (token, Some(cookie))
        }
    }
}

/// Whether a form's `csrf` field matches this browser's cookie.
pub fn valid(headers: &HeaderMap, portal: &Portal, field: &str) -> bool {
    cookies::get(headers, cookies::CSRF, portal.secure()).is_some_and(|t| cookies::same(&t, field))
}

/// Whether a script's request repeats this browser's cookie in the `X-CSRF-Token` header.
pub fn header_valid(headers: &HeaderMap, portal: &Portal) -> bool {
    headers
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|given| valid(headers, portal, given))
}
