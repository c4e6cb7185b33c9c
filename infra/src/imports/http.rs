//! One file over http(s), each hop of its redirects checked by the guard.

use std::time::Duration;

use futures::TryStreamExt;
use reqwest::header::{CONTENT_DISPOSITION, CONTENT_TYPE, LOCATION};
use reqwest::{StatusCode, Url};
use tokio::io::AsyncRead;

use crate::outbound::{Guard, MAX_REDIRECTS};

/// Why a fetch failed; messages name no query string (it may carry a token).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The guard refused an address: final.
    #[error("{0}")]
    Refused(String),
    /// Worth another try (the network, a timeout, the server's 5xx or 429).
    #[error("{0}")]
    Transient(String),
    /// Final (404, 403, too many redirects…).
    #[error("{0}")]
    Final(String),
}

impl FetchError {
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_))
    }
}

/// A response ready to stream, and what names it.
pub struct Fetched {
    pub response: reqwest::Response,
    /// The last hop's URL.
    pub url: Url,
}

impl std::fmt::Debug for Fetched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetched").finish_non_exhaustive()
    }
}

/// `scheme://host[:port]/path`: a URL without its query and fragment, for messages.
pub fn shown(url: &Url) -> String {
    let mut plain = url.clone();
    plain.set_query(None);
    plain.set_fragment(None);
    plain.to_string()
}

fn transport(e: &reqwest::Error) -> FetchError {
    let e = e.to_string();
    FetchError::Transient(format!("the server could not be reached ({e})"))
}

/// GETs `raw`, following at most five redirects, each checked like the first URL.
pub async fn get(guard: &Guard, raw: &str) -> Result<Fetched, FetchError> {
    let mut url = Guard::parse(raw).map_err(|r| FetchError::Refused(r.0))?;
    for _ in 0..=MAX_REDIRECTS {
        let pinned = guard
            .pin(&url)
            .await
            .map_err(|r| FetchError::Refused(r.0))?;
        let client = pinned
            .client_builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| FetchError::Final(format!("HTTP client: {e}")))?;
        let response = client
            .get(url.clone())
            .send()
            .await
            .map_err(|e| transport(&e.without_url()))?;
        let status = response.status();
        if status.is_redirection() {
            let next = response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|loc| url.join(loc).ok())
                .ok_or_else(|| {
                    FetchError::Final(format!("HTTP {status} without a valid Location"))
                })?;
            url = Guard::parse(next.as_str())
                .map_err(|r| FetchError::Refused(format!("redirected: {}", r.0)))?;
            continue;
        }
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            return Err(FetchError::Transient(format!(
                "the server answered HTTP {status}"
            )));
        }
        if !status.is_success() {
            return Err(FetchError::Final(format!(
                "the server answered HTTP {status}"
            )));
        }
        return Ok(Fetched { response, url });
    }
    Err(FetchError::Final(format!(
        "more than {MAX_REDIRECTS} redirects"
    )))
}

impl Fetched {
    /// The file name the server gives (Content-Disposition), else the URL path's last
    /// segment; unsanitized (None when neither names one).
    pub fn file_name(&self) -> Option<String> {
        let header = self
            .response
            .headers()
            .get(CONTENT_DISPOSITION)
            .and_then(|v| v.to_str().ok());
        header
            .and_then(disposition_name)
            .or_else(|| {
                self.url
                    .path_segments()
                    .and_then(|mut s| s.next_back().map(str::to_owned))
                    .map(|s| percent_decode(&s))
            })
            .filter(|n| !n.trim().is_empty())
    }

    pub fn media_type(&self) -> Option<String> {
        self.response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty() && v != "application/octet-stream")
    }

    /// The body, streamed.
    pub fn into_reader(self) -> impl AsyncRead + Send + Unpin {
        let stream = self
            .response
            .bytes_stream()
            .map_err(|e| std::io::Error::other(e.without_url()));
        tokio_util::io::StreamReader::new(stream)
    }
}

/// `filename*=UTF-8''name%20x` (RFC 6266/5987) first, else `filename="name"`.
fn disposition_name(header: &str) -> Option<String> {
    let params: Vec<(String, String)> = header
        .split(';')
        .skip(1)
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            Some((k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        })
        .collect();
    if let Some((_, v)) = params.iter().find(|(k, _)| k == "filename*") {
        let encoded = v.split_once("''").map_or(v.as_str(), |(_, rest)| rest);
        return Some(percent_decode(encoded));
    }
    params
        .iter()
        .find(|(k, _)| k == "filename")
        .map(|(_, v)| v.trim_matches('"').to_owned())
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(s.get(i + 1..i + 3).unwrap_or("zz"), 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_disposition_or_the_path() {
        assert_eq!(
            disposition_name(r#"attachment; filename="scan 1.nii""#).as_deref(),
            Some("scan 1.nii")
        );
        assert_eq!(
            disposition_name("attachment; filename=a.txt; filename*=UTF-8''%C3%A9t%C3%A9.nii")
                .as_deref(),
            Some("été.nii")
        );
        assert_eq!(disposition_name("inline"), None);
        assert_eq!(percent_decode("a%20b%zz"), "a b%zz");
    }
}
