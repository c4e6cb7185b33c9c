//! The guard of every fetch from a server someone names (imports, DICOMweb searches,
//! identity providers' discovery documents, keys and token endpoints). Without it, naming
//! a URL is a way into whatever the server can reach: its own ports, the database, a
//! cloud's metadata service at 169.254.169.254, the hospital's internal network.
//!
//! Policy: only `http` and `https`; no user name or password in the URL; the host is
//! parsed as browsers do (`2130706433`, `0x7f.1`, `0177.0.0.1` and `127.1` all mean
//! 127.0.0.1), resolved, and *every* address it resolves to must be public — not loopback,
//! private (RFC 1918), shared (CGNAT 100.64/10), link-local, unique-local or site-local
//! IPv6, unspecified, multicast, broadcast, reserved or documentation ranges, nor those
//! inside IPv4-mapped, NAT64 or 6to4 IPv6 addresses — and never the service's own listen
//! address. The connection then goes to exactly the addresses checked (the client's
//! resolver is pinned to them), so DNS cannot answer differently a moment later
//! (rebinding). The client follows no redirect: each hop is checked like the first by the
//! caller (imports, five hops at most), or not followed at all (identity providers). It
//! uses no proxy from the environment (`HTTPS_PROXY`…): a proxy would resolve the name
//! again, wherever it likes, past every check made here.
//!
//! [`Reach`] widens the policy for tests and labs (`MEDGRID_IMPORT_ALLOW_PRIVATE`,
//! `MEDGRID_OIDC_ALLOW_LOOPBACK`, `MEDGRID_OIDC_ALLOW_PRIVATE`): loopback, private, shared
//! and unique-local addresses may pass; the service itself, link-local addresses (where
//! every cloud's metadata service lives), the other cloud metadata addresses, unspecified,
//! multicast, broadcast, reserved and documentation addresses never do.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use medgrid_domain::ports::{OutboundGuard, Refused};
use reqwest::Url;
use url::Host;

/// How many redirects a fetch that follows them follows at most.
pub const MAX_REDIRECTS: usize = 5;

/// Which non-public addresses an installation lets through (tests and labs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reach {
    /// 127.0.0.0/8, ::1 (and their IPv4-mapped forms).
    pub loopback: bool,
    /// RFC 1918, CGNAT 100.64/10, unique-local fc00::/7, site-local fec0::/10.
    pub private: bool,
}

impl Reach {
    /// Public addresses only (the default).
    pub const PUBLIC: Self = Self {
        loopback: false,
        private: false,
    };
    /// Loopback and private networks too.
    pub const LOCAL: Self = Self {
        loopback: true,
        private: true,
    };
}

/// What kind of non-public address: `Never` ones pass under no [`Reach`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Loopback,
    Private,
    Never,
}

/// Why an address is not public.
#[derive(Debug)]
struct Class {
    what: &'static str,
    kind: Kind,
}

const fn class(what: &'static str, kind: Kind) -> Option<Class> {
    Some(Class { what, kind })
}

const METADATA: &str = "a cloud metadata address";

fn classify_v4(ip: Ipv4Addr) -> Option<Class> {
    let [a, b, c, d] = ip.octets();
    if a == 169 && b == 254 {
        // 169.254.169.254 (AWS, GCP, Azure, Oracle, OpenStack…) and its neighbours
        // (169.254.169.123 time, 169.254.170.2 ECS credentials): no lab needs link-local
        return class(METADATA, Kind::Never);
    }
    if [a, b, c, d] == [100, 100, 100, 200] {
        return class(METADATA, Kind::Never); // Alibaba Cloud
    }
    if a == 0 {
        return class("an unspecified address", Kind::Never);
    }
    if ip.is_broadcast() {
        return class("the broadcast address", Kind::Never);
    }
    if ip.is_multicast() {
        return class("a multicast address", Kind::Never);
    }
    if ip.is_loopback() {
        return class("a loopback address", Kind::Loopback);
    }
    if ip.is_private() {
        return class("a private address (RFC 1918)", Kind::Private);
    }
    if a == 100 && (64..128).contains(&b) {
        return class("a shared address (CGNAT 100.64.0.0/10)", Kind::Private);
    }
    if (a == 192 && b == 0 && c == 0)
        || (a == 192 && b == 88 && c == 99)
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240
    {
        return class("a reserved address", Kind::Never);
    }
    if (a == 192 && b == 0 && c == 2)
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113)
    {
        return class("a documentation address", Kind::Never);
    }
    None
}

fn embedded_v4(high: u16, low: u16) -> Ipv4Addr {
    let [a, b] = high.to_be_bytes();
    let [c, d] = low.to_be_bytes();
    Ipv4Addr::new(a, b, c, d)
}

fn classify_v6(ip: Ipv6Addr) -> Option<Class> {
    let s = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    if ip.is_unspecified() {
        return class("an unspecified address", Kind::Never);
    }
    if ip.is_loopback() {
        return class("a loopback address", Kind::Loopback);
    }
    // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4 address
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0; 4] {
        return classify_v4(embedded_v4(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return classify_v4(embedded_v4(s[1], s[2]));
    }
    // AWS (fd00:ec2::254) and GCP (fd20:ce::254) metadata, inside unique-local space
    if (s[0..4] == [0xfd00, 0x0ec2, 0, 0]) || (s[0..4] == [0xfd20, 0x00ce, 0, 0]) {
        return class(METADATA, Kind::Never);
    }
    if (s[0] & 0xfe00) == 0xfc00 {
        return class("a unique-local address", Kind::Private);
    }
    if (s[0] & 0xffc0) == 0xfec0 {
        return class("a site-local address", Kind::Private);
    }
    if (s[0] & 0xffc0) == 0xfe80 {
        return class("a link-local address", Kind::Never);
    }
    if ip.is_multicast() {
        return class("a multicast address", Kind::Never);
    }
    if s[0] == 0x2001 && s[1] == 0x0db8 {
        return class("a documentation address", Kind::Never);
    }
    // Teredo (2001::/32) hides an IPv4 address; the rest outside 2000::/3 (the rest of
    // ::/8 with its IPv4-compatible and -translated forms, 64:ff9b:1::/48…) is no
    // public unicast
    if (s[0] == 0x2001 && s[1] == 0) || (s[0] & 0xe000) != 0x2000 {
        return class("a reserved address", Kind::Never);
    }
    None
}

fn classify(ip: IpAddr) -> Option<Class> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

/// The one builder of HTTP clients for servers someone names: no proxy from the
/// environment, no redirect followed. [`Pinned::client_builder`] adds the pinned resolver.
pub fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
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
    /// A [`client_builder`] whose resolver answers only the checked addresses for the host.
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        let builder = client_builder();
        match &self.domain {
            Some(domain) => builder.resolve_to_addrs(domain, &self.addrs),
            None => builder,
        }
    }
}

/// Why one guarded request failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The guard refused the URL: nothing was sent, and trying again will not help.
    #[error("refused: {0}")]
    Refused(Refused),
    /// The server could not be reached, or its answer not read.
    #[error("{0}")]
    Failed(String),
}

/// The guard: its [`Reach`], and the addresses this service listens on.
#[derive(Clone, Default)]
pub struct Guard {
    reach: Reach,
    own: Arc<RwLock<Vec<SocketAddr>>>,
}

impl Guard {
    pub fn new(reach: Reach) -> Self {
        Self {
            reach,
            own: Arc::default(),
        }
    }

    /// The same guard (the same own addresses, now and later) with another reach.
    pub fn with_reach(&self, reach: Reach) -> Self {
        Self {
            reach,
            own: self.own.clone(),
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
                            || classify(addr.ip()).is_some_and(|c| c.kind != Kind::Never))))
        })
    }

    /// Checks one address the URL's host resolved to.
    pub fn check_addr(&self, addr: SocketAddr) -> Result<(), Refused> {
        if self.is_own(addr) {
            return Err(Refused(
                "this URL points at Medgrid itself: Medgrid does not fetch from itself".into(),
            ));
        }
        let Some(c) = classify(addr.ip()) else {
            return Ok(());
        };
        let allowed = match c.kind {
            Kind::Loopback => self.reach.loopback,
            Kind::Private => self.reach.private,
            Kind::Never => false,
        };
        if allowed {
            return Ok(());
        }
        Err(Refused(format!(
            "this URL leads to {} ({}): Medgrid fetches only from public addresses",
            c.what,
            addr.ip()
        )))
    }

    /// Parses a URL and checks what needs no network: http(s), no credentials, a host.
    pub fn parse(raw: &str) -> Result<Url, Refused> {
        let url = Url::parse(raw.trim())
            .map_err(|_| Refused("not a valid URL (http:// or https://…)".into()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refused(format!(
                "only http and https URLs are fetched, not {}:",
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

    /// The URL's host and its addresses: an IP address as parsed (numeric tricks already
    /// undone by the URL parser), a name resolved now (`Ok(None)` when it does not
    /// resolve and `unresolved_ok`).
    async fn addresses(
        url: &Url,
        unresolved_ok: bool,
    ) -> Result<Option<(Option<String>, Vec<SocketAddr>)>, Refused> {
        let port = url
            .port_or_known_default()
            .ok_or_else(|| Refused("the URL names no port".into()))?;
        let name = match url.host() {
            None => return Err(Refused("the URL names no host".into())),
            Some(Host::Ipv4(ip)) => {
                return Ok(Some((None, vec![SocketAddr::new(ip.into(), port)])));
            }
            Some(Host::Ipv6(ip)) => {
                return Ok(Some((None, vec![SocketAddr::new(ip.into(), port)])));
            }
            Some(Host::Domain(name)) => name,
        };
        let found: Vec<SocketAddr> = match tokio::net::lookup_host((name, port)).await {
            Ok(found) => found.collect(),
            Err(_) if unresolved_ok => return Ok(None),
            Err(_) => return Err(Refused(format!("the host {name} cannot be resolved"))),
        };
        if found.is_empty() {
            if unresolved_ok {
                return Ok(None);
            }
            return Err(Refused(format!("the host {name} has no address")));
        }
        Ok(Some((Some(name.to_owned()), found)))
    }

    /// Resolves the URL's host and checks every address it gives.
    pub async fn pin(&self, url: &Url) -> Result<Pinned, Refused> {
        let (domain, addrs) = Self::addresses(url, false)
            .await?
            .ok_or_else(|| Refused("the URL's host cannot be resolved".into()))?;
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

    /// Sends one request to exactly the addresses checked for its URL, following no
    /// redirect (a 3xx is the answer), within `timeout`.
    pub async fn send(
        &self,
        request: reqwest::Request,
        timeout: Duration,
    ) -> Result<reqwest::Response, SendError> {
        let url = Self::parse(request.url().as_str()).map_err(SendError::Refused)?;
        let pinned = self.pin(&url).await.map_err(SendError::Refused)?;
        let client = pinned
            .client_builder()
            .timeout(timeout)
            .build()
            .map_err(|e| SendError::Failed(format!("HTTP client: {e}")))?;
        client
            .execute(request)
            .await
            .map_err(|e| SendError::Failed(crate::error_chain(&e.without_url())))
    }
}

#[async_trait]
impl OutboundGuard for Guard {
    async fn check_url(&self, url: &str) -> Result<(), Refused> {
        self.check(url).await.map(|_| ())
    }

    async fn check_ahead(&self, url: &str) -> Result<(), Refused> {
        let url = Self::parse(url)?;
        if let Some((_, addrs)) = Self::addresses(&url, true).await? {
            for addr in addrs {
                self.check_addr(addr)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(guard: &Guard, ip: &str) -> bool {
        let ip: IpAddr = ip.parse().expect("ip");
        guard.check_addr(SocketAddr::new(ip, 443)).is_err()
    }

    /// Metadata services and everything else no installation needs: refused under any reach.
    const NEVER: &[&str] = &[
        "169.254.169.254",
        "169.254.170.2",
        "169.254.1.1",
        "100.100.100.200",
        "0.0.0.0",
        "0.1.2.3",
        "255.255.255.255",
        "224.0.0.1",
        "240.0.0.1",
        "192.0.2.1",
        "198.51.100.7",
        "203.0.113.9",
        "198.18.0.1",
        "192.0.0.170",
        "::",
        "fe80::1",
        "ff02::1",
        "fd00:ec2::254",
        "fd20:ce::254",
        "::ffff:169.254.169.254",
        "::ffff:0.0.0.0",
        "64:ff9b::a9fe:a9fe",
        "2002:a9fe:a9fe::",
        "::a9fe:a9fe",
        "::7f00:1",
        "::ffff:0:7f00:1",
        "2001:db8::1",
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        "64:ff9b:1::a9fe:a9fe",
    ];

    /// Loopback and private networks: refused unless the installation lets them through.
    const LOCAL: &[&str] = &[
        "127.0.0.1",
        "127.8.9.1",
        "10.0.0.1",
        "172.16.3.4",
        "192.168.1.1",
        "100.64.0.1",
        "::1",
        "fc00::1",
        "fd12::1",
        "fec0::1",
        "::ffff:127.0.0.1",
        "::ffff:10.1.2.3",
        "64:ff9b::a00:1",
        "2002:7f00:1::",
    ];

    const PUBLIC: &[&str] = &[
        "93.184.215.14",
        "8.8.8.8",
        "100.128.0.1",
        "169.253.1.1",
        "2606:4700::1111",
        "2a00:1450:4001::200e",
        "64:ff9b::808:808",
        "2002:808:808::",
    ];

    #[test]
    fn only_public_addresses_pass_by_default() {
        let guard = Guard::new(Reach::PUBLIC);
        for ip in NEVER.iter().chain(LOCAL) {
            assert!(refused(&guard, ip), "{ip} should be refused");
        }
        for ip in PUBLIC {
            assert!(!refused(&guard, ip), "{ip} should pass");
        }
    }

    #[test]
    fn labs_may_allow_local_networks_but_never_the_service_or_metadata() {
        let guard = Guard::new(Reach::LOCAL);
        for ip in LOCAL.iter().chain(PUBLIC) {
            assert!(!refused(&guard, ip), "{ip} should pass");
        }
        for ip in NEVER {
            assert!(refused(&guard, ip), "{ip} should stay refused");
        }
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
        let everywhere = Guard::new(Reach::LOCAL);
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
    fn loopback_and_private_are_allowed_separately_and_share_the_own_addresses() {
        let imports = Guard::new(Reach::LOCAL);
        let loopback = imports.with_reach(Reach {
            loopback: true,
            private: false,
        });
        let private = imports.with_reach(Reach {
            loopback: false,
            private: true,
        });
        assert!(!refused(&loopback, "127.0.0.1") && refused(&loopback, "10.0.0.1"));
        assert!(refused(&private, "::1") && !refused(&private, "192.168.1.1"));
        imports.add_own("127.0.0.1:8080".parse().expect("addr"));
        assert!(
            loopback
                .check_addr("127.0.0.1:8080".parse().expect("addr"))
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
    async fn numeric_tricks_and_names_resolving_to_loopback_are_refused() {
        let guard = Guard::new(Reach::PUBLIC);
        for url in [
            "http://localhost:8080/x",
            "http://LocalHost/x",
            "http://[::1]/x",
            "http://127.0.0.1/x",
            "http://127.0.0.1./x",
            "https://2130706433/x",
            "https://0x7f000001/x",
            "https://0x7f.1/x",
            "https://0177.0.0.1/x",
            "https://127.1/x",
            "https://0/x",
            "http://0.0.0.0:8080/x",
            "http://[::]:8080/x",
            "http://[::ffff:127.0.0.1]/x",
            "http://[::ffff:7f00:1]/x",
            "http://2852039166/latest/meta-data/",
            "http://0xa9.0xfe.0xa9.0xfe/",
            "http://[::ffff:a9fe:a9fe]/",
            "http://[fd00:ec2::254]/",
        ] {
            let refusal = guard.check(url).await;
            assert!(refusal.is_err(), "{url} should be refused: {refusal:?}");
        }
        let local = Guard::new(Reach::LOCAL);
        assert!(local.check("https://2130706433/x").await.is_ok());
        assert!(local.check("http://2852039166/").await.is_err());
        assert!(local.check("http://[::]:8080/").await.is_err());
    }

    #[tokio::test]
    async fn checking_ahead_lets_unresolved_names_through_but_not_addresses() {
        let guard = Guard::new(Reach::PUBLIC);
        assert!(
            guard
                .check_ahead("https://sso.invalid/realms/a")
                .await
                .is_ok()
        );
        assert!(guard.check("https://sso.invalid/realms/a").await.is_err());
        assert!(guard.check_ahead("https://2130706433/").await.is_err());
        assert!(guard.check_ahead("https://localhost/").await.is_err());
        assert!(guard.check_ahead("ftp://sso.example.org/").await.is_err());
    }

    /// A request from a guarded client goes straight to the server, even with a proxy in
    /// the environment. The environment is the whole process's, so the test runs itself
    /// again as a child with the proxy variables set (and `CHILD` marking it): the child
    /// fetches from a server of its own, the parent checks the proxy got no connection.
    #[tokio::test]
    async fn proxies_from_the_environment_are_ignored() {
        const CHILD: &str = "MEDGRID_TEST_PROXY_CHILD";
        if std::env::var_os(CHILD).is_some() {
            fetch_directly().await;
            return;
        }
        let proxy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        proxy.set_nonblocking(true).expect("nonblocking");
        let at = format!("http://{}", proxy.local_addr().expect("addr"));
        let exe = std::env::current_exe().expect("test binary");
        let mut child = std::process::Command::new(exe);
        child
            .args([
                "--exact",
                "outbound::tests::proxies_from_the_environment_are_ignored",
                "--quiet",
            ])
            .env(CHILD, "1")
            .env_remove("NO_PROXY")
            .env_remove("no_proxy");
        for var in [
            "HTTP_PROXY",
            "http_proxy",
            "HTTPS_PROXY",
            "https_proxy",
            "ALL_PROXY",
            "all_proxy",
        ] {
            child.env(var, &at);
        }
        let status = child.status().expect("child test");
        assert!(status.success(), "the direct fetch failed");
        assert!(
            matches!(proxy.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "the proxy got a connection"
        );
    }

    /// The child's part: a guarded fetch from a server on this machine answers directly.
    async fn fetch_directly() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let server = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = server.local_addr().expect("addr");
        tokio::spawn(async move {
            if let Ok((mut stream, _)) = server.accept().await {
                let mut buf = [0u8; 1024];
                let _ = stream.read(&mut buf).await;
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\nconnection: close\r\n\r\ndirect",
                    )
                    .await;
            }
        });
        let guard = Guard::new(Reach::LOCAL);
        let url = format!("http://localhost:{}/x", addr.port());
        let request = reqwest::Request::new(reqwest::Method::GET, url.parse().expect("url"));
        let response = guard
            .send(request, Duration::from_secs(5))
            .await
            .expect("sent");
        assert_eq!(response.text().await.expect("body"), "direct");
    }
}
