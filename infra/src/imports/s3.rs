//! The objects under a prefix of someone's S3 bucket, with their credentials. The
//! endpoint is checked by the guard, and the client connects only to the addresses the
//! guard checked (its DNS resolver answers those), so a name that resolves elsewhere a
//! moment later (DNS rebinding) cannot lead it inside.

use std::net::IpAddr;

use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::dns::{DnsFuture, ResolveDns};
use secrecy::SecretString;
use tokio::io::AsyncRead;

use crate::outbound::Pinned;
use crate::s3::{S3Settings, config};

/// Answers every lookup with the addresses the guard checked.
#[derive(Debug, Clone)]
struct CheckedAddresses(Vec<IpAddr>);

impl ResolveDns for CheckedAddresses {
    fn resolve_dns<'a>(&'a self, _name: &'a str) -> DnsFuture<'a> {
        DnsFuture::ready(Ok(self.0.clone()))
    }
}

/// An S3 bucket to import from.
pub struct S3Source {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
}

/// One object: its key relative to the prefix, and its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Object {
    pub key: String,
    pub relative: String,
    pub size: u64,
}

/// A page of objects and the token of the next one.
pub type S3Page = (Vec<S3Object>, Option<String>);

impl S3Source {
    pub fn new(
        endpoint: &Pinned,
        region: &str,
        bucket: &str,
        prefix: &str,
        access_key_id: &str,
        secret_access_key: SecretString,
    ) -> Self {
        let settings = S3Settings {
            endpoint: Some(endpoint.url.to_string()),
            region: region.to_owned(),
            bucket: bucket.to_owned(),
            access_key_id: access_key_id.to_owned(),
            secret_access_key,
            path_style: true,
            prefix: String::new(),
        };
        let addresses = endpoint.addrs.iter().map(|a| a.ip()).collect();
        // no proxy configured: the SDK's client then uses none (not even one from the
        // environment), so the connection goes to the pinned addresses
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
            .build_with_resolver(CheckedAddresses(addresses));
        let conf = config(&settings).http_client(http).build();
        Self {
            client: aws_sdk_s3::Client::from_conf(conf),
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
        }
    }

    /// One page of ListObjectsV2 under the prefix (folders' marker objects, keys ending
    /// in `/`, are left out).
    pub async fn list(&self, token: Option<String>) -> Result<S3Page, String> {
        let page = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&self.prefix)
            .set_continuation_token(token)
            .send()
            .await
            .map_err(|e| crate::error_chain(&e))?;
        let objects = page
            .contents()
            .iter()
            .filter_map(|o| {
                let key = o.key()?.to_owned();
                let relative = key.strip_prefix(&self.prefix)?.trim_start_matches('/');
                if relative.is_empty() || relative.ends_with('/') {
                    return None;
                }
                Some(S3Object {
                    relative: relative.to_owned(),
                    size: u64::try_from(o.size().unwrap_or(0)).unwrap_or(0),
                    key,
                })
            })
            .collect();
        Ok((objects, page.next_continuation_token().map(str::to_owned)))
    }

    /// The object's content, streamed.
    pub async fn get(&self, key: &str) -> Result<impl AsyncRead + Send + Unpin + use<>, String> {
        let object = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| crate::error_chain(&e))?;
        Ok(object.body.into_async_read())
    }
}
