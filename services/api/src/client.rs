//! Who a request comes from, for the limits on requests without valid credentials.
//!
//! Behind a reverse proxy every request arrives from the proxy: its `X-Forwarded-For`
//! names the client. Only proxies the operator lists are believed, and only for the hops
//! they appended: the client is the rightmost hop that is not a trusted proxy (anything
//! left of it is whatever the client chose to send). IPv6 clients are limited by their
//! /64, the smallest block one site is given, so a host cannot rotate through its own
//! addresses.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The reverse proxies in front of Medgrid (`MEDGRID_TRUSTED_PROXIES`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

#[derive(Debug, thiserror::Error)]
#[error("MEDGRID_TRUSTED_PROXIES: {0:?} is neither an address nor a CIDR range")]
pub struct BadProxy(String);

impl FromStr for TrustedProxies {
    type Err = BadProxy;

    /// Comma-separated addresses (`10.0.0.5`, `::1`) or ranges (`10.0.0.0/8`).
    fn from_str(s: &str) -> Result<Self, BadProxy> {
        s.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                item.parse::<IpNet>()
                    .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| BadProxy(item.to_owned()))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }
}

impl TrustedProxies {
    fn trusts(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        self.0.iter().any(|net| net.contains(&addr))
    }

    /// The client of a request that arrived from `peer` with these headers.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let mut client = peer;
        // every X-Forwarded-For header, in order, is one list
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect::<Vec<_>>();
        for hop in hops.iter().rev() {
            let Some(addr) = parse_hop(hop) else {
                // a trusted proxy passed on something unreadable: the client is the
                // last address known, not anything further left
                return client;
            };
            client = addr;
            if !self.trusts(addr) {
                return addr;
            }
        }
        client
    }
}

/// One hop: an address, possibly with a port (`1.2.3.4:5678`, `[2001:db8::1]:443`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

/// IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) are the IPv4 address they carry.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

/// What the per-address limit counts a client under: an IPv4 address itself, an IPv6
/// address's /64.
pub fn limit_key(addr: IpAddr) -> IpAddr {
    match canonical(addr) {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !u128::from(u64::MAX);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(
                "x-forwarded-for",
                HeaderValue::from_str(v).expect("test value"),
            );
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test value")
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let none = TrustedProxies::default();
        let h = headers(&["203.0.113.9"]);
        assert_eq!(none.client(ip("198.51.100.1"), &h), ip("198.51.100.1"));
    }

    #[test]
    fn a_peer_not_trusted_is_the_client_whatever_it_says() {
        let proxies: TrustedProxies = "10.0.0.0/8".parse().expect("test value");
        let h = headers(&["203.0.113.9"]);
        assert_eq!(proxies.client(ip("198.51.100.1"), &h), ip("198.51.100.1"));
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let proxies: TrustedProxies = "10.0.0.0/8, 192.0.2.7".parse().expect("test value");
        // the client forged a first hop; two trusted proxies appended theirs
        let h = headers(&["1.1.1.1, 203.0.113.9", "192.0.2.7"]);
        assert_eq!(proxies.client(ip("10.1.2.3"), &h), ip("203.0.113.9"));
        // with a port, and IPv6
        let h = headers(&["[2001:db8::5]:4711"]);
        assert_eq!(proxies.client(ip("10.1.2.3"), &h), ip("2001:db8::5"));
        let h = headers(&["203.0.113.9:1234"]);
        assert_eq!(proxies.client(ip("10.1.2.3"), &h), ip("203.0.113.9"));
    }

    #[test]
    fn garbage_or_no_header_leaves_the_last_known_address() {
        let proxies: TrustedProxies = "10.0.0.0/8".parse().expect("test value");
        assert_eq!(
            proxies.client(ip("10.1.2.3"), &HeaderMap::new()),
            ip("10.1.2.3")
        );
        let h = headers(&["203.0.113.9, not-an-address, 10.9.9.9"]);
        assert_eq!(proxies.client(ip("10.1.2.3"), &h), ip("10.9.9.9"));
        // only trusted hops: the leftmost is as far as can be known
        let h = headers(&["10.5.5.5, 10.9.9.9"]);
        assert_eq!(proxies.client(ip("10.1.2.3"), &h), ip("10.5.5.5"));
    }

    #[test]
    fn mapped_addresses_are_ipv4() {
        let proxies: TrustedProxies = "10.0.0.0/8".parse().expect("test value");
        let h = headers(&["203.0.113.9"]);
        assert_eq!(proxies.client(ip("::ffff:10.1.2.3"), &h), ip("203.0.113.9"));
        assert_eq!(limit_key(ip("::ffff:203.0.113.9")), ip("203.0.113.9"));
    }

    #[test]
    fn ipv6_clients_are_limited_by_their_64() {
        assert_eq!(limit_key(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(
            limit_key(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")),
            limit_key(ip("2001:db8:1:2::7"))
        );
        assert_ne!(
            limit_key(ip("2001:db8:1:3::1")),
            limit_key(ip("2001:db8:1:2::1"))
        );
        assert_eq!(limit_key(ip("203.0.113.9")), ip("203.0.113.9"));
    }

    #[test]
    fn bad_lists_are_refused() {
        assert!("10.0.0.0/33".parse::<TrustedProxies>().is_err());
        assert!("proxy.example".parse::<TrustedProxies>().is_err());
        assert_eq!(
            "".parse::<TrustedProxies>().expect("test value"),
            TrustedProxies::default()
        );
    }
}
