//! The server-rendered portal: for now the front page and signing in and out (local
//! accounts, and institutions' OpenID Connect providers); the pages of each capability
//! come with it (see the web portal issue).

mod cookies;
mod login;
mod oidc;
mod pages;

pub use cookies::SESSION as SESSION_COOKIE;
pub use login::{front, sign_in_local, sign_in_page, sign_out};
pub use oidc::{callback as oidc_callback, start as oidc_start};

use medgrid_graphql::usecases::auth::LOGIN_TOKEN_HOURS;

/// What the portal's pages need beside the use cases.
pub struct Portal {
    /// Where browsers reach Medgrid (`https://medgrid.example.org`): redirect URIs derive
    /// from it, and cookies are `Secure` when it is HTTPS.
    public_url: String,
    http: openidconnect::reqwest::Client,
}

impl Portal {
    pub fn new(public_url: &str) -> Result<Self, openidconnect::reqwest::Error> {
        let http = openidconnect::reqwest::Client::builder()
            // the code exchange must not follow redirects (an open redirect would leak it)
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()?;
        Ok(Self {
            public_url: public_url.trim_end_matches('/').to_owned(),
            http,
        })
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

/// The session token a browser request carries, if any.
pub fn session(headers: &axum::http::HeaderMap) -> Option<String> {
    cookies::get(headers, cookies::SESSION)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_cookies_are_secure_behind_https_only() {
        let https = Portal::new("https://medgrid.example.org/").expect("portal");
        let cookie = https.session_cookie("t");
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
        assert!(cookie.ends_with("; Secure"), "{cookie}");
        assert_eq!(
            https.redirect_url(),
            "https://medgrid.example.org/login/callback"
        );
        let http = Portal::new("http://127.0.0.1:8080").expect("portal");
        assert!(!http.session_cookie("t").contains("Secure"));
    }
}
