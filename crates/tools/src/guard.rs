//! The outbound network guard (SSRF): refuses loopback, private, link-local, CGNAT, ULA and
//! metadata addresses unless allowed, checking the addresses a name resolves to, not the name.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::Url;

/// Why an outbound request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    #[error(
        "{host} resolves to {addr}, a {kind} address; forage refuses those unless allowed (FORAGE_ALLOW_PRIVATE_NETWORKS=true, or list the host or a CIDR in network.allow_hosts / network.allow_cidrs)"
    )]
    Refused {
        host: String,
        addr: IpAddr,
        kind: &'static str,
    },
    #[error("URL '{0}' has no host")]
    NoHost(String),
    #[error("cannot resolve {host}: {reason}")]
    Resolve { host: String, reason: String },
}

/// An allowed network range, written `10.0.0.0/8` or `fd00::/8`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("'{text}' is not an IP address or CIDR"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("'{text}' has an invalid prefix length"))?,
            None => max,
        };
        Ok(Cidr { addr, prefix })
    }
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Which outbound destinations are allowed.
#[derive(Clone, Debug, Default)]
pub struct NetworkPolicy {
    /// Allow every private/loopback/link-local destination (tests, trusted networks).
    pub allow_private: bool,
    /// Ranges allowed even though they are private.
    pub allow_cidrs: Vec<Cidr>,
    /// Host names allowed whatever they resolve to.
    pub allow_hosts: Vec<String>,
}

/// The kind of a non-public address, or `None` for a public one.
pub fn restricted_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => restricted_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return restricted_v4(v4).map(|_| "IPv4-mapped private");
            }
            restricted_v6(v6)
        }
    }
}

fn restricted_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some(if ip.octets() == [169, 254, 169, 254] {
            "cloud metadata"
        } else {
            "link-local"
        })
    } else if a == 100 && (64..128).contains(&b) {
        Some("CGNAT")
    } else if ip.is_unspecified() || ip.is_broadcast() || a == 0 {
        Some("unspecified")
    } else if ip.is_multicast() || a >= 240 {
        Some("reserved")
    } else {
        None
    }
}

fn restricted_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() {
        Some("unspecified")
    } else if first & 0xfe00 == 0xfc00 {
        Some("unique-local (ULA)")
    } else if first & 0xffc0 == 0xfe80 {
        Some("link-local")
    } else if ip.is_multicast() {
        Some("reserved")
    } else if ip.segments()[..6] == [0, 0, 0, 0, 0, 0] {
        Some("IPv4-compatible")
    } else {
        None
    }
}

impl NetworkPolicy {
    /// Whether a connection to `ip` (for `host`) is allowed.
    pub fn check_addr(&self, host: &str, ip: IpAddr) -> Result<(), GuardError> {
        if self.allow_private || self.host_allowed(host) {
            return Ok(());
        }
        match restricted_kind(ip) {
            Some(kind) if !self.allow_cidrs.iter().any(|c| c.contains(ip)) => {
                Err(GuardError::Refused {
                    host: host.to_owned(),
                    addr: ip,
                    kind,
                })
            }
            _ => Ok(()),
        }
    }

    fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.');
        self.allow_hosts
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(host))
    }

    /// Checks a URL whose host is an IP literal (names are checked at resolution).
    pub fn check_url(&self, url: &Url) -> Result<(), GuardError> {
        let host = url
            .host()
            .ok_or_else(|| GuardError::NoHost(url.to_string()))?;
        match host {
            url::Host::Ipv4(ip) => self.check_addr(&ip.to_string(), IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => self.check_addr(&ip.to_string(), IpAddr::V6(ip)),
            url::Host::Domain(name) => {
                // "localhost" never goes to DNS; refuse it by name unless allowed.
                if name.eq_ignore_ascii_case("localhost") || name.ends_with(".localhost") {
                    self.check_addr(name, IpAddr::V4(Ipv4Addr::LOCALHOST))
                } else {
                    Ok(())
                }
            }
        }
    }

    /// A reqwest builder whose DNS resolution drops refused addresses, so the address
    /// actually connected to is always checked (no DNS rebinding).
    pub fn apply(&self, builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        builder.dns_resolver(Arc::new(GuardedResolver {
            policy: self.clone(),
        }))
    }
}

/// Resolves with the system resolver, then keeps only allowed addresses.
struct GuardedResolver {
    policy: NetworkPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| {
                    Box::new(GuardError::Resolve {
                        host: host.clone(),
                        reason: e.to_string(),
                    }) as Box<dyn std::error::Error + Send + Sync>
                })?
                .collect();
            let mut refusal = None;
            let allowed: Vec<SocketAddr> = addrs
                .into_iter()
                .filter(|a| match policy.check_addr(&host, a.ip()) {
                    Ok(()) => true,
                    Err(e) => {
                        refusal.get_or_insert(e);
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                let err = refusal.unwrap_or(GuardError::Resolve {
                    host,
                    reason: "no addresses".into(),
                });
                return Err(Box::new(err) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn classifies_restricted_addresses() {
        for (addr, kind) in [
            ("127.0.0.1", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "cloud metadata"),
            ("169.254.1.1", "link-local"),
            ("100.64.0.1", "CGNAT"),
            ("0.0.0.0", "unspecified"),
            ("::1", "loopback"),
            ("fd00::1", "unique-local (ULA)"),
            ("fe80::1", "link-local"),
            ("::ffff:127.0.0.1", "IPv4-mapped private"),
        ] {
            assert_eq!(restricted_kind(ip(addr)), Some(kind), "{addr}");
        }
        for public in ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "100.128.0.1"] {
            assert_eq!(restricted_kind(ip(public)), None, "{public}");
        }
    }

    #[test]
    fn policy_allows_by_flag_cidr_or_host() {
        let strict = NetworkPolicy::default();
        assert!(strict.check_addr("x", ip("10.0.0.5")).is_err());
        let cidr = NetworkPolicy {
            allow_cidrs: vec!["10.0.0.0/24".parse().unwrap()],
            ..Default::default()
        };
        assert!(cidr.check_addr("x", ip("10.0.0.5")).is_ok());
        assert!(cidr.check_addr("x", ip("10.0.1.5")).is_err());
        let host = NetworkPolicy {
            allow_hosts: vec!["mcp.internal".into()],
            ..Default::default()
        };
        assert!(host.check_addr("mcp.internal", ip("10.9.9.9")).is_ok());
        let open = NetworkPolicy {
            allow_private: true,
            ..Default::default()
        };
        assert!(open.check_addr("x", ip("127.0.0.1")).is_ok());
    }

    #[test]
    fn url_literals_and_localhost_are_checked() {
        let strict = NetworkPolicy::default();
        for url in [
            "http://127.0.0.1:8080/mcp",
            "http://[::1]/mcp",
            "http://localhost/mcp",
            "http://169.254.169.254/latest",
        ] {
            let err = strict.check_url(&Url::parse(url).unwrap()).unwrap_err();
            assert!(
                err.to_string().contains("FORAGE_ALLOW_PRIVATE_NETWORKS"),
                "{err}"
            );
        }
        assert!(
            strict
                .check_url(&Url::parse("https://mcp.example.com/mcp").unwrap())
                .is_ok()
        );
    }

    #[tokio::test]
    async fn resolver_drops_refused_addresses() {
        let client = NetworkPolicy::default()
            .apply(reqwest::Client::builder())
            .build()
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let err = client
            .get(format!("http://localhost:{port}/"))
            .send()
            .await
            .unwrap_err();
        let chain = format!("{err:?}");
        assert!(chain.contains("loopback"), "{chain}");
    }
}
