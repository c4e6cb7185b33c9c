//! Names in a space, validated once ("parse, don't validate").

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::names::InvalidValue;

fn invalid(field: &'static str, rule: &'static str) -> InvalidValue {
    InvalidValue { field, rule }
}

/// A folder's or file's name: 1 to 255 bytes of UTF-8, no `/`, `\`, NUL or control
/// characters, not `.` or `..`, no leading or trailing spaces (people cannot see them).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NodeName(String);

impl FromStr for NodeName {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const FIELD: &str = "name";
        if s.is_empty() || s.len() > 255 {
            return Err(invalid(FIELD, "must be 1 to 255 bytes"));
        }
        if s == "." || s == ".." {
            return Err(invalid(FIELD, "must not be . or .."));
        }
        if s.chars().any(|c| c == '/' || c == '\\' || c.is_control()) {
            return Err(invalid(
                FIELD,
                "must not contain /, \\ or control characters",
            ));
        }
        if s.trim() != s {
            return Err(invalid(FIELD, "must not begin or end with spaces"));
        }
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl AsRef<str> for NodeName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}
impl TryFrom<String> for NodeName {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}
impl From<NodeName> for String {
    fn from(value: NodeName) -> String {
        value.0
    }
}

/// A path inside a space, from its root: `/`, `/results/run 1/out.nii.gz`. Absolute only,
/// each segment a [`NodeName`] (so no `..` can climb out), at most 4,096 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SpacePath(Vec<NodeName>);

impl FromStr for SpacePath {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const FIELD: &str = "path";
        if s.len() > 4096 {
            return Err(invalid(FIELD, "must be at most 4096 bytes"));
        }
        let Some(rest) = s.strip_prefix('/') else {
            return Err(invalid(FIELD, "must start with / (the space's root)"));
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() {
            return Ok(Self(vec![]));
        }
        rest.split('/')
            .map(|segment| {
                segment.parse().map_err(|_| {
                    invalid(
                        FIELD,
                        "each segment must be a valid name (no empty, . or .. segments)",
                    )
                })
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

impl SpacePath {
    pub fn segments(&self) -> &[NodeName] {
        &self.0
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for SpacePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("/");
        }
        for segment in &self.0 {
            write!(f, "/{segment}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_refuse_traversal_and_invisible_characters() {
        for good in ["scan.nii.gz", "run 1", "résultats", "a.b", "…"] {
            assert!(good.parse::<NodeName>().is_ok(), "{good}");
        }
        let long = "x".repeat(256);
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a\\b",
            "a\0b",
            "tab\there",
            " lead",
            "trail ",
            long.as_str(),
        ] {
            assert!(bad.parse::<NodeName>().is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn paths_are_absolute_and_cannot_climb() {
        let p: SpacePath = "/results/run 1/out.nii.gz".parse().expect("valid");
        assert_eq!(p.segments().len(), 3);
        assert_eq!(p.to_string(), "/results/run 1/out.nii.gz");
        assert!("/".parse::<SpacePath>().expect("root").is_root());
        assert_eq!(
            "/a/".parse::<SpacePath>().expect("trailing /").to_string(),
            "/a"
        );
        for bad in ["relative", "/a//b", "/a/../b", "/./a", "/a/\u{7}", ""] {
            assert!(bad.parse::<SpacePath>().is_err(), "{bad:?} must be refused");
        }
    }
}
