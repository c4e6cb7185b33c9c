//! Cookies of the portal: the session (a bearer token, HttpOnly), the CSRF token of forms
//! (double submit), and the state of a browser sign-in in progress.
//!
//! Behind https each is named `__Host-<name>`, written and read under that name only:
//! browsers keep such a cookie only when it comes from a secure origin with `Secure`,
//! `Path=/` and no `Domain`, so a sibling subdomain or a plain-http page cannot plant one
//! (a CSRF token an attacker chose, a session of theirs). Over plain http (development)
//! browsers refuse the prefix: the names stay plain.

use std::borrow::Cow;

use axum::http::HeaderMap;
use axum::http::header::COOKIE;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;

pub const SESSION: &str = "medgrid_session";
pub const CSRF: &str = "medgrid_csrf";
pub const LOGIN: &str = "medgrid_login";

/// The prefix of every cookie's name behind https.
const HOST_PREFIX: &str = "__Host-";

/// The name cookie `base` has on the wire (`secure`: the portal is served over HTTPS).
pub fn name(base: &str, secure: bool) -> Cow<'_, str> {
    if secure {
        Cow::Owned(format!("{HOST_PREFIX}{base}"))
    } else {
        Cow::Borrowed(base)
    }
}

/// The value of cookie `base` in a request, under the name it has on the wire.
pub fn get(headers: &HeaderMap, base: &str, secure: bool) -> Option<String> {
    let name = name(base, secure);
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value for cookie `base`. `secure` is set when the portal is served over
/// HTTPS: the cookie is then `Secure` and `__Host-` prefixed (always `Path=/`, never a
/// `Domain`, as the prefix requires).
pub fn set(base: &str, value: &str, max_age: Option<u64>, same_site: &str, secure: bool) -> String {
    let name = name(base, secure);
    let mut cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite={same_site}");
    if let Some(age) = max_age {
        cookie.push_str(&format!("; Max-Age={age}"));
    }
    if secure {
        cookie.push_str("; Secure");
    }
    cookie
}

/// A `Set-Cookie` value that removes cookie `base`.
pub fn clear(base: &str, secure: bool) -> String {
    set(base, "", Some(0), "Lax", secure)
}

/// 32 random bytes, URL-safe.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether two secrets are equal, in time independent of where they differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn cookies_are_found_by_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("a=1; medgrid_csrf=xyz; b="),
        );
        assert_eq!(get(&headers, CSRF, false).as_deref(), Some("xyz"));
        assert_eq!(get(&headers, "b", false), None);
        assert_eq!(get(&headers, "medgrid", false), None);
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
    }

    #[test]
    fn behind_https_cookies_are_host_prefixed_written_and_read() {
        let cookie = set(SESSION, "t", Some(60), "Lax", true);
        assert_eq!(
            cookie,
            "__Host-medgrid_session=t; Path=/; HttpOnly; SameSite=Lax; Max-Age=60; Secure"
        );
        assert!(clear(CSRF, true).starts_with("__Host-medgrid_csrf=; Path=/;"));
        assert!(!cookie.contains("Domain"));
        assert!(set(SESSION, "t", None, "Lax", false).starts_with("medgrid_session=t; Path=/;"));
        // a plain-named cookie (planted by a sibling subdomain) is not read behind https
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("medgrid_csrf=planted; __Host-medgrid_session=s"),
        );
        assert_eq!(get(&headers, CSRF, true), None);
        assert_eq!(get(&headers, SESSION, true).as_deref(), Some("s"));
        assert_eq!(get(&headers, SESSION, false), None);
    }
}
