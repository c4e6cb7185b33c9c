//! The SSRF guard of imports. A member names a URL and the server fetches it: without a
//! guard, that is a way into whatever the server can reach (its own ports, the database,
//! a cloud's metadata service at 169.254.169.254, the hospital's internal network).
//!
//! Policy: only `http` and `https`; no user name or password in the URL; the host is
//! resolved and *every* address it resolves to must be public — not loopback, private
//! (RFC 1918), shared (CGNAT 100.64/10), link-local, unique-local or site-local IPv6,
//! unspecified, multicast, broadcast, reserved or documentation ranges, nor those inside
//! IPv4-mapped, NAT64 or 6to4 IPv6 addresses — and never the service's own listen
//! address. The connection then goes to exactly the addresses checked (the client's
//! resolver is pinned to them), so DNS cannot answer differently a moment later
//! (rebinding). Redirects are not followed by the HTTP client: each hop is checked like
//! the first, five hops at most.
//!
//! `allow_private` (`MEDGRID_IMPORT_ALLOW_PRIVATE`, for tests and labs) lets loopback,
//! private, shared, link-local and unique-local addresses through; the service itself,
//! cloud metadata addresses, unspecified, multicast and broadcast stay refused.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use medgrid_domain::ports::{OutboundGuard, Refused};
use reqwest::Url;

/// How many redirects a fetch follows at most.
pub const MAX_REDIRECTS: usize = 5;

/// Why an address is refused; `private` ones pass with `allow_private`.
struct Class {
    what: &'static str,
    private: bool,
}

const fn class(what: &'static str, private: bool) -> Option<Class> {
    Some(Class { what, private })
}

fn classify_v4(ip: Ipv4Addr) -> Option<Class> {
    let [a, b, c, _] = ip.octets();
    if ip == Ipv4Addr::new(169, 254, 169, 254) {
        return class("a cloud metadata address", false);
    }
    if ip.is_unspecified() || a == 0 {
        return class("an unspecified address", false);
    }
    if ip.is_broadcast() {
        return class("the broadcast address", false);
    }
    if ip.is_multicast() {
        return class("a multicast address", false);
    }
    if ip.is_loopback() {
        return class("a loopback address", true);
    }
    if ip.is_private() {
        return class("a private address (RFC 1918)", true);
    }
    if ip.is_link_local() {
        return class("a link-local address", true);
    }
    if a == 100 && (64..128).contains(&b) {
        return class("a shared address (CGNAT 100.64.0.0/10)", true);
    }
    if (a == 192 && b == 0 && c == 0) || (a == 198 && (b == 18 || b == 19)) || a >= 240 {
        return class("a reserved address", false);
    }
    if (a == 192 && b == 0 && c == 2)
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113)
    {
        return class("a documentation address", false);
    }
    None
}

fn classify_v6(ip: Ipv6Addr) -> Option<Class> {
    let s = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4 address
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return classify_v4(Ipv4Addr::new(
            (s[6] >> 8) as u8,
            s[6] as u8,
            (s[7] >> 8) as u8,
            s[7] as u8,
        ));
    }
    if s[0] == 0x2002 {
        return classify_v4(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    if ip.is_unspecified() {
        return class("an unspecified address", false);
    }
    if ip.is_loopback() {
        return class("a loopback address", true);
    }
    if ip.is_multicast() {
        return class("a multicast address", false);
    }
    if s[0] == 0xfd00 && s[1] == 0x0ec2 && ip.segments()[2..7] == [0; 5] && s[7] == 0x254 {
        return class("a cloud metadata address", false);
    }
    if (s[0] & 0xfe00) == 0xfc00 {
        return class("a unique-local address", true);
    }
    if (s[0] & 0xffc0) == 0xfe80 || (s[0] & 0xffc0) == 0xfec0 {
        return class("a link-local address", true);
    }
    // the rest of ::/96 (IPv4-compatible, deprecated) and documentation
    if s[0..6] == [0; 6] || (s[0] == 0x2001 && s[1] == 0x0db8) {
        return class("a reserved address", false);
    }
    None
}

fn classify(ip: IpAddr) -> Option<Class> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

/// Where a checked URL's host may be reached: the host name and the addresses checked.
#[derive(Debug, Clone)]
pub struct Pinned {
    pub url: Url,
    /// The host as the URL names it (None for an IP address, which needs no resolver).
    pub domain: Option<String>,
    pub addrs: Vec<SocketAddr>,
}

impl Pinned {
    /// A client builder whose resolver answers only the checked addresses for the host,
    /// and that follows no redirect.
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        let builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
        match &self.domain {
            Some(domain) => builder.resolve_to_addrs(domain, &self.addrs),
            None => builder,
        }
    }
}

/// The guard: the policy above, and the addresses this service listens on.
#[derive(Clone, Default)]
pub struct Guard {
    allow_private: bool,
    own: Arc<RwLock<Vec<SocketAddr>>>,
}

impl Guard {
    pub fn new(allow_private: bool) -> Self {
        Self {
            allow_private,
            own: Arc::default(),
        }
    }

    /// This service listens on `addr` (known once bound): never fetched from.
    pub fn add_own(&self, addr: SocketAddr) {
        if let Ok(mut own) = self.own.write() {
            own.push(addr);
        }
    }

    fn is_own(&self, addr: SocketAddr) -> bool {
        let Ok(own) = self.own.read() else {
            return true;
        };
        own.iter().any(|o| {
            o.port() == addr.port()
                && (o.ip() == addr.ip()
                    // listening on every interface: any local address with that port
                    || (o.ip().is_unspecified()
                        && (addr.ip().is_loopback()
                            || addr.ip().is_unspecified()
                            || classify(addr.ip()).is_some_and(|c| c.private))))
        })
    }

    /// Checks one address the URL's host resolved to.
    pub fn check_addr(&self, addr: SocketAddr) -> Result<(), Refused> {
        if self.is_own(addr) {
            return Err(Refused(
                "this URL points at Medgrid itself: imports do not fetch from the service".into(),
            ));
        }
        match classify(addr.ip()) {
            Some(c) if !c.private || !self.allow_private => Err(Refused(format!(
                "this URL leads to {} ({}): imports fetch only from public addresses",
                c.what,
                addr.ip()
            ))),
            _ => Ok(()),
        }
    }

    /// Parses a URL and checks what needs no network: http(s), no credentials, a host.
    pub fn parse(raw: &str) -> Result<Url, Refused> {
        let url = Url::parse(raw.trim())
            .map_err(|_| Refused("not a valid URL (http:// or https://…)".into()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refused(format!(
                "only http and https URLs can be imported, not {}:",
                url.scheme()
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refused(
                "a URL with a user name or password is refused: credentials do not belong in URLs"
                    .into(),
            ));
        }
        if url.host().is_none() {
            return Err(Refused("the URL names no host".into()));
        }
        Ok(url)
    }

    /// Resolves the URL's host and checks every address it gives.
    pub async fn pin(&self, url: &Url) -> Result<Pinned, Refused> {
        let port = url
            .port_or_known_default()
            .ok_or_else(|| Refused("the URL names no port".into()))?;
        let host = url
            .host_str()
            .ok_or_else(|| Refused("the URL names no host".into()))?;
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        let (domain, addrs) = if let Ok(ip) = literal.parse::<IpAddr>() {
            (None, vec![SocketAddr::new(ip, port)])
        } else {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
                .await
                .map_err(|_| Refused(format!("the host {host} cannot be resolved")))?
                .collect();
            if found.is_empty() {
                return Err(Refused(format!("the host {host} has no address")));
            }
            (Some(host.to_owned()), found)
        };
        for addr in &addrs {
            self.check_addr(*addr)?;
        }
        Ok(Pinned {
            url: url.clone(),
            domain,
            addrs,
        })
    }

    /// Parses, resolves and checks.
    pub async fn check(&self, raw: &str) -> Result<Pinned, Refused> {
        self.pin(&Self::parse(raw)?).await
    }
}

#[async_trait]
impl OutboundGuard for Guard {
    async fn check_url(&self, url: &str) -> Result<(), Refused> {
        self.check(url).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(guard: &Guard, ip: &str) -> bool {
        let ip: IpAddr = ip.parse().expect("ip");
        guard.check_addr(SocketAddr::new(ip, 443)).is_err()
    }

    #[test]
    fn only_public_addresses_pass_by_default() {
        let guard = Guard::new(false);
        for ip in [
            "127.0.0.1",
            "127.8.9.1",
            "10.0.0.1",
            "172.16.3.4",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
            "fd00:ec2::254",
        ] {
            assert!(refused(&guard, ip), "{ip} should be refused");
        }
        for ip in ["93.184.215.14", "8.8.8.8", "2606:4700::1111", "100.128.0.1"] {
            assert!(!refused(&guard, ip), "{ip} should pass");
        }
    }

    #[test]
    fn labs_may_allow_private_networks_but_never_the_service_or_metadata() {
        let guard = Guard::new(true);
        assert!(!refused(&guard, "127.0.0.1"));
        assert!(!refused(&guard, "10.0.0.1"));
        assert!(!refused(&guard, "::1"));
        assert!(refused(&guard, "169.254.169.254"));
        assert!(refused(&guard, "0.0.0.0"));
        guard.add_own("127.0.0.1:8080".parse().expect("addr"));
        assert!(
            guard
                .check_addr("127.0.0.1:8080".parse().expect("addr"))
                .is_err()
        );
        assert!(
            guard
                .check_addr("127.0.0.1:8081".parse().expect("addr"))
                .is_ok()
        );
        let everywhere = Guard::new(true);
        everywhere.add_own("0.0.0.0:9000".parse().expect("addr"));
        assert!(
            everywhere
                .check_addr("127.0.0.1:9000".parse().expect("addr"))
                .is_err()
        );
        assert!(
            everywhere
                .check_addr("10.1.1.1:9000".parse().expect("addr"))
                .is_err()
        );
    }

    #[test]
    fn urls_must_be_http_without_credentials() {
        assert!(Guard::parse("ftp://example.org/x").is_err());
        assert!(Guard::parse("file:///etc/passwd").is_err());
        assert!(Guard::parse("https://user:pw@example.org/x").is_err());
        assert!(Guard::parse("https://user@example.org/x").is_err());
        assert!(Guard::parse("not a url").is_err());
        assert!(Guard::parse("https://example.org/scan.nii?x=1").is_ok());
    }

    #[tokio::test]
    async fn names_resolving_to_loopback_are_refused() {
        let guard = Guard::new(false);
        assert!(guard.check("http://localhost:8080/x").await.is_err());
        assert!(guard.check("http://[::1]/x").await.is_err());
        assert!(guard.check("http://127.0.0.1/x").await.is_err());
        assert!(guard.check("http://2130706433/x").await.is_err());
    }
}
