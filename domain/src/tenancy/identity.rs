//! The identity providers a tenant trusts, and how their tokens' claims become a member.
//!
//! Defaults follow Keycloak: issuer `https://HOST/realms/NAME`, roles in `realm_access.roles`
//! and `resource_access.<client>.roles`, groups as full paths in `groups`,
//! `preferred_username`, `email`, `name`.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::actor::Role;
use crate::names::{DisplayName, Email, InvalidValue};

fn invalid(field: &'static str, rule: &'static str) -> InvalidValue {
    InvalidValue { field, rule }
}

/// An OpenID Connect issuer, compared byte for byte with a token's `iss`. HTTPS, or plain
/// HTTP on a loopback host (a provider on this machine: development and tests). Whether
/// its address may be fetched from is the outbound guard's decision (`MEDGRID_OIDC_ALLOW_*`),
/// made on the resolved addresses, not on how the host is spelled.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IssuerUrl(String);

impl FromStr for IssuerUrl {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const FIELD: &str = "issuer";
        if s.len() > 500 || s.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(invalid(
                FIELD,
                "an URL of at most 500 characters, no spaces",
            ));
        }
        let rest = if let Some(rest) = s.strip_prefix("https://") {
            rest
        } else if let Some(rest) = s.strip_prefix("http://") {
            let host = rest.split(['/', ':']).next().unwrap_or_default();
            let bracketed = rest.starts_with("[::1]");
            if !(host == "127.0.0.1" || host == "localhost" || bracketed) {
                return Err(invalid(
                    FIELD,
                    "must be https (plain http only on loopback)",
                ));
            }
            rest
        } else {
            return Err(invalid(FIELD, "must be an https:// URL"));
        };
        if rest.is_empty() || rest.starts_with('/') || s.contains(['?', '#']) {
            return Err(invalid(FIELD, "needs a host, and no query or fragment"));
        }
        Ok(Self(s.to_owned()))
    }
}

impl IssuerUrl {
    /// Where the provider's discovery document lives (OpenID Connect Discovery 1.0 §4).
    pub fn discovery_url(&self) -> String {
        format!(
            "{}/.well-known/openid-configuration",
            self.0.trim_end_matches('/')
        )
    }
}

impl fmt::Display for IssuerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl AsRef<str> for IssuerUrl {
    fn as_ref(&self) -> &str {
        &self.0
    }
}
impl TryFrom<String> for IssuerUrl {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}
impl From<IssuerUrl> for String {
    fn from(value: IssuerUrl) -> String {
        value.0
    }
}

/// How a tenant's members come to exist when they first sign in with a trusted provider.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Provisioning {
    /// Anyone the provider vouches for becomes a member on first sign-in.
    JustInTime,
    /// Only people invited by e-mail (a verified e-mail) may join. The default: a realm
    /// often holds more people than should use the portal.
    #[default]
    InvitationOnly,
}

impl Provisioning {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::JustInTime => "JUST_IN_TIME",
            Self::InvitationOnly => "INVITATION_ONLY",
        }
    }
}

/// Where the claims live in a provider's tokens. Paths are dotted (`realm_access.roles`);
/// `{client}` stands for the provider's client id (or its audience when it has none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimMapping {
    pub username: String,
    pub email: String,
    pub name: String,
    pub roles: Vec<String>,
    pub groups: String,
    /// Provider roles that make a member a tenant administrator.
    pub admin_roles: Vec<String>,
}

impl Default for ClaimMapping {
    fn default() -> Self {
        Self {
            username: "preferred_username".into(),
            email: "email".into(),
            name: "name".into(),
            roles: vec![
                "realm_access.roles".into(),
                "resource_access.{client}.roles".into(),
            ],
            groups: "groups".into(),
            admin_roles: vec!["medgrid-admin".into()],
        }
    }
}

impl ClaimMapping {
    /// Checks paths and role names: short, printable, no empty segment.
    pub fn validate(&self) -> Result<(), InvalidValue> {
        let paths = [&self.username, &self.email, &self.name, &self.groups]
            .into_iter()
            .chain(&self.roles);
        for path in paths {
            if path.is_empty()
                || path.len() > 200
                || path.split('.').any(str::is_empty)
                || path.chars().any(char::is_control)
            {
                return Err(invalid(
                    "claims",
                    "claim paths are dotted names of at most 200 characters",
                ));
            }
        }
        if self.roles.len() > 10 || self.admin_roles.len() > 20 {
            return Err(invalid(
                "claims",
                "at most 10 role paths and 20 admin roles",
            ));
        }
        if self
            .admin_roles
            .iter()
            .any(|r| r.is_empty() || r.len() > 200 || r.chars().any(char::is_control))
        {
            return Err(invalid(
                "claims.adminRoles",
                "role names of 1 to 200 characters",
            ));
        }
        Ok(())
    }

    /// Reads a verified token's claims. `client` fills `{client}` in role paths.
    pub fn map(&self, claims: &Value, client: &str) -> Result<MappedIdentity, ClaimError> {
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty() && s.len() <= 255)
            .ok_or(ClaimError::MissingSubject)?
            .to_owned();
        let email: Email = text(claims, &self.email)
            .ok_or(ClaimError::MissingEmail)?
            .parse()
            .map_err(|_| ClaimError::MissingEmail)?;
        let email_verified = claims.get("email_verified").and_then(Value::as_bool) == Some(true);
        let username = text(claims, &self.username).map(|u| truncate(u, 200));
        // A shown name: the provider's, else the username, else the address.
        let name = [
            text(claims, &self.name),
            username.as_deref(),
            Some(email.as_ref()),
        ]
        .into_iter()
        .flatten()
        .find_map(|n| truncate(n, 200).parse::<DisplayName>().ok())
        .ok_or(ClaimError::MissingEmail)?;
        let provider_roles: BTreeSet<&str> = self
            .roles
            .iter()
            .flat_map(|path| strings(claims, &path.replace("{client}", client)))
            .collect();
        let roles = if self
            .admin_roles
            .iter()
            .any(|r| provider_roles.contains(r.as_str()))
        {
            BTreeSet::from([Role::TenantAdmin])
        } else {
            BTreeSet::new()
        };
        let groups = strings(claims, &self.groups)
            .into_iter()
            .filter(|g| !g.is_empty() && g.len() <= 500)
            .take(200)
            .map(str::to_owned)
            .collect();
        Ok(MappedIdentity {
            subject,
            email,
            email_verified,
            name,
            username,
            roles,
            groups,
        })
    }
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

fn lookup<'a>(claims: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(claims, |v, key| v.get(key))
}

fn text<'a>(claims: &'a Value, path: &str) -> Option<&'a str> {
    lookup(claims, path)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// A claim that is a string or a list of strings (anything else reads as nothing).
fn strings<'a>(claims: &'a Value, path: &str) -> Vec<&'a str> {
    match lookup(claims, path) {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    }
}

/// Who a verified token says the caller is, in Medgrid's terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappedIdentity {
    pub subject: String,
    pub email: Email,
    pub email_verified: bool,
    pub name: DisplayName,
    pub username: Option<String>,
    /// Roles the provider grants (only TENANT_ADMIN can come from a provider).
    pub roles: BTreeSet<Role>,
    /// Group paths as the provider names them (`/radiology/mri`).
    pub groups: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    #[error("the token has no subject (sub)")]
    MissingSubject,
    #[error("the identity provider gave no valid e-mail address; Medgrid needs one to reach you")]
    MissingEmail,
}

/// One trusted provider of a tenant, as its administrators configured it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityProvider {
    /// What the sign-in page shows ("CHU Lyon").
    pub name: DisplayName,
    pub issuer: IssuerUrl,
    /// The `aud` a token must carry to be accepted here.
    pub audience: String,
    /// The client for browser sign-in (and `{client}` in role paths).
    pub client_id: Option<String>,
    /// Which client secret is in use (a fingerprint: the secret itself is kept sealed
    /// outside the event log); none for a public client.
    #[serde(default)]
    pub client_secret_fingerprint: Option<String>,
    pub claims: ClaimMapping,
}

impl IdentityProvider {
    /// Audience and client id: printable, 1 to 200 characters.
    pub fn validate(&self) -> Result<(), InvalidValue> {
        let ok = |s: &str| !s.is_empty() && s.len() <= 200 && !s.chars().any(char::is_control);
        if !ok(&self.audience) {
            return Err(invalid("audience", "1 to 200 printable characters"));
        }
        if self.client_id.as_deref().is_some_and(|c| !ok(c)) {
            return Err(invalid("clientId", "1 to 200 printable characters"));
        }
        self.claims.validate()
    }

    /// What `{client}` stands for in role paths: the client id, else the client the token
    /// was issued to (Keycloak's `azp`), else the audience.
    pub fn client<'a>(&'a self, claims: &'a Value) -> &'a str {
        self.client_id
            .as_deref()
            .or_else(|| claims.get("azp").and_then(Value::as_str))
            .unwrap_or(&self.audience)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn issuers_are_https_or_loopback() {
        assert!(
            "https://sso.chu-lyon.fr/realms/radiology"
                .parse::<IssuerUrl>()
                .is_ok()
        );
        assert!("http://127.0.0.1:8081".parse::<IssuerUrl>().is_ok());
        assert!("http://localhost/realms/x".parse::<IssuerUrl>().is_ok());
        for bad in [
            "http://sso.example.org",
            "ftp://x",
            "https://",
            "https:///path",
            "https://x/?q",
            "https://x y",
            "http://127.0.0.1.evil.org",
        ] {
            assert!(bad.parse::<IssuerUrl>().is_err(), "{bad} must be refused");
        }
        // plain http only on this machine; whether this machine (or any other address) may be
        // reached at all is the outbound guard's to say, once the host is resolved
        for local in [
            "http://127.0.0.1:8080",
            "http://localhost/x",
            "http://[::1]:9/r",
        ] {
            assert!(local.parse::<IssuerUrl>().is_ok(), "{local}");
        }
        let issuer: IssuerUrl = "https://sso.org/realms/a/".parse().expect("valid");
        assert_eq!(
            issuer.discovery_url(),
            "https://sso.org/realms/a/.well-known/openid-configuration"
        );
    }

    fn keycloak_token() -> Value {
        json!({
            "iss": "https://sso.chu-lyon.fr/realms/radiology",
            "sub": "f3a1c2d4-1111-2222-3333-444455556666",
            "aud": ["medgrid", "account"],
            "azp": "medgrid",
            "preferred_username": "ada",
            "email": "ada@chu-lyon.fr",
            "email_verified": true,
            "name": "Ada Lovelace",
            "realm_access": {"roles": ["offline_access", "uma_authorization"]},
            "resource_access": {"medgrid": {"roles": ["medgrid-admin"]}, "account": {"roles": ["view-profile"]}},
            "groups": ["/radiology/mri", "/radiology"]
        })
    }

    #[test]
    fn keycloak_claims_map_by_default() {
        let mapped = ClaimMapping::default()
            .map(&keycloak_token(), "medgrid")
            .expect("maps");
        assert_eq!(mapped.subject, "f3a1c2d4-1111-2222-3333-444455556666");
        assert_eq!(mapped.email.as_ref(), "ada@chu-lyon.fr");
        assert!(mapped.email_verified);
        assert_eq!(mapped.name.as_ref(), "Ada Lovelace");
        assert_eq!(mapped.username.as_deref(), Some("ada"));
        assert_eq!(mapped.roles, BTreeSet::from([Role::TenantAdmin]));
        assert!(mapped.groups.contains("/radiology/mri"));
    }

    #[test]
    fn client_roles_of_another_client_grant_nothing() {
        let mapped = ClaimMapping::default()
            .map(&keycloak_token(), "other-client")
            .expect("maps");
        assert!(mapped.roles.is_empty());
    }

    #[test]
    fn the_client_is_the_client_id_else_azp_else_the_audience() {
        let mut provider = IdentityProvider {
            name: "CHU".parse().expect("name"),
            issuer: "https://sso.org/realms/a".parse().expect("issuer"),
            audience: "api".into(),
            client_id: None,
            client_secret_fingerprint: None,
            claims: ClaimMapping::default(),
        };
        let token = keycloak_token();
        assert_eq!(provider.client(&token), "medgrid");
        assert_eq!(provider.client(&json!({})), "api");
        provider.client_id = Some("portal".into());
        assert_eq!(provider.client(&token), "portal");
    }

    #[test]
    fn subject_and_email_are_required() {
        let mut token = keycloak_token();
        token["sub"] = json!("");
        assert_eq!(
            ClaimMapping::default().map(&token, "medgrid"),
            Err(ClaimError::MissingSubject)
        );
        let mut token = keycloak_token();
        token["email"] = json!("not an address");
        assert_eq!(
            ClaimMapping::default().map(&token, "medgrid"),
            Err(ClaimError::MissingEmail)
        );
    }

    #[test]
    fn a_missing_name_falls_back_to_the_username() {
        let mut token = keycloak_token();
        token.as_object_mut().map(|o| o.remove("name"));
        let mapped = ClaimMapping::default()
            .map(&token, "medgrid")
            .expect("maps");
        assert_eq!(mapped.name.as_ref(), "ada");
    }
}
