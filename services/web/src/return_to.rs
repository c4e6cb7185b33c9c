//! Where a browser goes after signing in: a path of this site, parsed once where it
//! arrives (the `next` of the sign-in page and form, the page asked for, the stored OIDC
//! attempt), so every redirect after sign-in can only follow a value that passed.

use std::borrow::Cow;
use std::str::FromStr;

use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

/// A same-origin path (with its query) to return to after signing in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnTo(String);

/// A `next` that is not a path of this site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotLocal;

/// How many rounds of percent-decoding a value is checked through: a value still
/// changing after that is refused rather than trusted.
const DECODING_ROUNDS: usize = 4;

/// Bytes re-encoded when kept: anything beyond visible ASCII, so the Location header is
/// plain ASCII whatever a browser makes of other bytes.
const BEYOND_ASCII: &AsciiSet = CONTROLS;

impl ReturnTo {
    /// The front page: where a missing or refused `next` leads.
    pub fn home() -> Self {
        Self("/".to_owned())
    }

    /// `raw` if it is a path of this site, otherwise the front page.
    pub fn or_home(raw: Option<&str>) -> Self {
        raw.and_then(|r| r.parse().ok()).unwrap_or_else(Self::home)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ReturnTo {
    type Err = NotLocal;

    /// Refuses what a browser could read as another origin: no leading `/`, a leading
    /// `//`, backslashes (`/\evil` is `//evil` to browsers), control characters (they
    /// drop tabs and newlines, so `/\t/evil.example` is `//evil.example`) or whitespace;
    /// and a percent-decoding of the value, should something on the way decode it, must
    /// still be such a path (an encoded space in a file name is harmless there).
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        if raw.chars().any(char::is_whitespace) {
            return Err(NotLocal);
        }
        let mut seen = Cow::Borrowed(raw);
        for _ in 0..DECODING_ROUNDS {
            if !is_local_path(&seen) {
                return Err(NotLocal);
            }
            let decoded = percent_decode_str(&seen).decode_utf8_lossy();
            if decoded == seen {
                return Ok(Self(utf8_percent_encode(raw, BEYOND_ASCII).to_string()));
            }
            seen = Cow::Owned(decoded.into_owned());
        }
        Err(NotLocal)
    }
}

/// A path starting with one `/`, without backslashes or control characters.
fn is_local_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && !path.chars().any(|c| c == '\\' || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_of_this_site_are_kept() {
        for good in [
            "/",
            "/jobs?x=1",
            "/files?path=%2Fhome%2Fscan",
            "/files?path=/My%20Scan",
            "/a/b#top",
        ] {
            assert_eq!(ReturnTo::or_home(Some(good)).as_str(), good, "{good}");
        }
    }

    #[test]
    fn anything_a_browser_could_read_as_another_origin_is_refused() {
        for bad in [
            // the tried value, as the query decodes it and as sent
            "/\t/evil.example/x",
            "/%09/evil.example/x",
            "//evil",
            "/\\evil",
            "/%5Cevil",
            "/%2F/evil",
            "/%2509/evil",
            "\t/evil",
            "/\n/evil",
            "/\r\n/evil",
            "/ /evil",
            " /evil",
            "/\u{a0}/evil",
            "/\u{7f}/evil",
            "https://evil.example/",
            "javascript:alert(1)",
            "evil.example",
            "",
        ] {
            assert_eq!(bad.parse::<ReturnTo>(), Err(NotLocal), "{bad:?}");
            assert_eq!(ReturnTo::or_home(Some(bad)), ReturnTo::home(), "{bad:?}");
        }
        assert_eq!(ReturnTo::or_home(None), ReturnTo::home());
    }

    #[test]
    fn a_value_that_keeps_decoding_is_refused() {
        let mut deep = "/%09/evil".to_owned();
        for _ in 0..DECODING_ROUNDS {
            deep = deep.replace('%', "%25");
        }
        assert_eq!(deep.parse::<ReturnTo>(), Err(NotLocal));
    }

    #[test]
    fn letters_beyond_ascii_are_kept_encoded() {
        let kept = ReturnTo::or_home(Some("/files?path=/é"));
        assert_eq!(kept.as_str(), "/files?path=/%C3%A9");
    }
}
