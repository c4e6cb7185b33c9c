//! Validated values ("parse, don't validate"): once a value of these types exists, it is valid.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a value was refused; the message names the field and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {rule}")]
pub struct InvalidValue {
    pub field: &'static str,
    pub rule: &'static str,
}

fn invalid(field: &'static str, rule: &'static str) -> InvalidValue {
    InvalidValue { field, rule }
}

macro_rules! string_newtype {
    ($name:ident) => {
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl $name {
            pub fn into_inner(self) -> String {
                self.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = InvalidValue;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                value.parse()
            }
        }
        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }
    };
}

/// A tenant's short name in URLs and CLIs: 2 to 40 of `a-z`, `0-9`, `-`, starting with a letter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantSlug(String);
string_newtype!(TenantSlug);

impl FromStr for TenantSlug {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok_chars = s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        let starts = s.bytes().next().is_some_and(|b| b.is_ascii_lowercase());
        if !(2..=40).contains(&s.len()) || !ok_chars || !starts || s.ends_with('-') {
            return Err(invalid(
                "slug",
                "must be 2 to 40 characters of a-z, 0-9 and '-', starting with a letter",
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

/// An e-mail address, trimmed and lower-cased (addresses are compared without case).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);
string_newtype!(Email);

impl FromStr for Email {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_lowercase();
        let rule = "must be an address like name@example.org (at most 254 characters)";
        let Some((local, domain)) = s.split_once('@') else {
            return Err(invalid("email", rule));
        };
        let bad = |c: char| c.is_whitespace() || c.is_control() || c == '@';
        if s.len() > 254
            || local.is_empty()
            || domain.is_empty()
            || domain.starts_with('.')
            || domain.ends_with('.')
            || local.chars().any(bad)
            || domain.chars().any(bad)
        {
            return Err(invalid("email", rule));
        }
        Ok(Self(s))
    }
}

/// A name shown to people: trimmed, 1 to 200 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DisplayName(String);
string_newtype!(DisplayName);

impl FromStr for DisplayName {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() || s.chars().count() > 200 || s.chars().any(char::is_control) {
            return Err(invalid(
                "name",
                "must be 1 to 200 characters without control characters",
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

impl DisplayName {
    /// What two names must not share to be told apart by people: compatibility forms
    /// folded (NFKC: fullwidth letters, ligatures, non-breaking spaces), case folded, runs of
    /// whitespace as one space, trimmed. "Demo  Hospital", "demo hospital" and
    /// "ＤＥＭＯ Hospital" share one key.
    pub fn lookalike_key(&self) -> String {
        lookalike_key(&self.0)
    }
}

/// See [`DisplayName::lookalike_key`]. Upper then lower case folds what lower case alone
/// keeps apart (ß and ss, final and medial sigma); NFKC again after folding, since case
/// mappings may leave a string unnormalized.
pub fn lookalike_key(s: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let compat: String = s.nfkc().collect();
    let folded: String = compat.to_uppercase().to_lowercase().nfkc().collect();
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A password as typed: 10 to 1024 characters. Never serialized, never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

impl FromStr for Password {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if !(10..=1024).contains(&s.chars().count()) {
            return Err(invalid("password", "must be 10 to 1024 characters"));
        }
        Ok(Self(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert!("demo".parse::<TenantSlug>().is_ok());
        assert!("chu-lyon-2".parse::<TenantSlug>().is_ok());
        for bad in ["", "a", "Demo", "-x", "x-", "1abc", "a b", "é-lyon"] {
            assert!(bad.parse::<TenantSlug>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn emails_are_normalised() {
        let e: Email = "  Ada@Example.ORG ".parse().expect("valid");
        assert_eq!(e.as_ref(), "ada@example.org");
        for bad in ["", "ada", "@x.org", "ada@", "a b@x.org", "a@b@c", "a@.org"] {
            assert!(bad.parse::<Email>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn lookalike_names_share_a_key() {
        let key = |s: &str| s.parse::<DisplayName>().expect("valid").lookalike_key();
        let demo = key("Demo Hospital");
        for same in [
            "Demo  Hospital",
            "demo hospital",
            " DEMO \u{2003} HOSPITAL ",
            "\u{ff24}\u{ff45}\u{ff4d}\u{ff4f} Hospital",
            "Demo\u{a0}Hospital",
            "Demo\u{3000}Hospital",
        ] {
            assert_eq!(key(same), demo, "{same:?}");
        }
        assert_eq!(key("Straße"), key("STRASSE"));
        assert_eq!(key("ﬁne"), key("fine"));
        assert_ne!(key("Demo Hospital 2"), demo);
        assert_ne!(key("DemoHospital"), demo);
    }

    #[test]
    fn names_and_passwords() {
        assert_eq!(
            " Ada ".parse::<DisplayName>().expect("valid").as_ref(),
            "Ada"
        );
        assert!("".parse::<DisplayName>().is_err());
        assert!("a\u{0}b".parse::<DisplayName>().is_err());
        assert!("short".parse::<Password>().is_err());
        let p: Password = "long enough secret".parse().expect("valid");
        assert_eq!(format!("{p:?}"), "Password(***)");
    }
}
