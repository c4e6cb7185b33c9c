//! The CSRF token of forms: a random value in a `SameSite=Strict` cookie that every
//! state-changing form repeats in a hidden field (double submit). A cross-site page can
//! make the browser send the cookie but cannot read it to fill the field.

use axum::http::HeaderMap;

use crate::{Portal, cookies};

/// The CSRF token of this browser, and the cookie that sets it when it has none yet.
pub fn token(headers: &HeaderMap, portal: &Portal) -> (String, Option<String>) {
    match cookies::get(headers, cookies::CSRF) {
        Some(token) => (token, None),
        None => {
            let token = cookies::random_token();
            let cookie = cookies::set(cookies::CSRF, &token, None, "Strict", portal.secure());
            (token, Some(cookie))
        }
    }
}

/// Whether a form's `csrf` field matches this browser's cookie.
pub fn valid(headers: &HeaderMap, field: &str) -> bool {
    cookies::get(headers, cookies::CSRF).is_some_and(|t| cookies::same(&t, field))
}
