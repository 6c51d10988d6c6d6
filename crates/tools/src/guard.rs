//! The outbound network guard (SSRF): refuses loopback, private, link-local, CGNAT, ULA,
//! cloud-metadata and other non-public addresses unless allowed. Names are checked on the
//! addresses they resolve to, which are the only addresses connected to (no DNS rebinding),
//! and every redirect is re-checked before it is followed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, LookupIpStrategy, NameServerConfig, ResolveHosts, ResolverConfig,
    ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::Url;

/// The most redirects one request follows; the next one fails the request.
pub const MAX_REDIRECTS: usize = 10;

/// Why an outbound request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    #[error(
        "{host} resolves to {addr}, a {kind} address; forage's network guard refuses those unless allowed (FORAGE_ALLOW_PRIVATE_NETWORKS=true, or list the host or a CIDR in network.allow_hosts / network.allow_cidrs)"
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
    /// A redirect whose target the guard refuses; `target` is the target's origin only (its
    /// path and query may carry secrets).
    #[error("the network guard refused a redirect to {target}: {reason}")]
    Redirect {
        target: String,
        reason: Box<GuardError>,
    },
    #[error("the network guard stopped after {limit} redirects")]
    TooManyRedirects { limit: usize },
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
    /// Name servers outbound names are resolved through; empty: the system resolver.
    pub name_servers: Vec<SocketAddr>,
}

/// The kind of a non-public address, or `None` for a public one. Addresses that embed an
/// IPv4 address (IPv4-mapped, NAT64, 6to4) are classified by the embedded address.
pub fn restricted_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => restricted_v4(v4),
        IpAddr::V6(v6) => restricted_v6(v6),
    }
}

/// `"<form> <kind>"` for an IPv4 kind seen through an IPv6 embedding, as a static string.
macro_rules! embedded {
    ($form:literal, $kind:expr) => {
        match $kind {
            "loopback" => concat!($form, " loopback"),
            "private" => concat!($form, " private"),
            "cloud metadata" => concat!($form, " cloud metadata"),
            "link-local" => concat!($form, " link-local"),
            "CGNAT" => concat!($form, " CGNAT"),
            "unspecified" => concat!($form, " unspecified"),
            "broadcast" => concat!($form, " broadcast"),
            "multicast" => concat!($form, " multicast"),
            "documentation" => concat!($form, " documentation"),
            "benchmarking" => concat!($form, " benchmarking"),
            _ => concat!($form, " reserved"),
        }
    };
}

/// Cloud instance-metadata and platform endpoints reachable from inside a VM.
const METADATA_V4: [Ipv4Addr; 4] = [
    Ipv4Addr::new(169, 254, 169, 254), // AWS, GCP, Azure, OpenStack, DigitalOcean, …
    Ipv4Addr::new(100, 100, 100, 200), // Alibaba Cloud
    Ipv4Addr::new(192, 0, 0, 192),     // Oracle Cloud
    Ipv4Addr::new(168, 63, 129, 16),   // Azure platform (wire server)
];
/// AWS's IPv6 instance-metadata endpoint.
const METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn in_v6(ip: Ipv6Addr, net: [u16; 8], prefix: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
    u128::from(ip) & mask == u128::from(Ipv6Addr::from(net)) & mask
}

fn restricted_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let kind = if METADATA_V4.contains(&ip) {
        "cloud metadata"
    } else if in_v4(ip, [0, 0, 0, 0], 8) {
        "unspecified"
    } else if ip.is_loopback() {
        "loopback"
    } else if ip.is_private() {
        "private"
    } else if ip.is_link_local() {
        "link-local"
    } else if in_v4(ip, [100, 64, 0, 0], 10) {
        "CGNAT"
    } else if in_v4(ip, [192, 0, 2, 0], 24)
        || in_v4(ip, [198, 51, 100, 0], 24)
        || in_v4(ip, [203, 0, 113, 0], 24)
    {
        "documentation"
    } else if in_v4(ip, [198, 18, 0, 0], 15) {
        "benchmarking"
    } else if ip.is_broadcast() {
        "broadcast"
    } else if ip.is_multicast() {
        "multicast"
    } else if in_v4(ip, [192, 0, 0, 0], 24)
        || in_v4(ip, [192, 88, 99, 0], 24)
        || in_v4(ip, [240, 0, 0, 0], 4)
    {
        // IETF protocol assignments, the retired 6to4 relay anycast, and class E.
        "reserved"
    } else {
        return None;
    };
    Some(kind)
}

fn restricted_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let segments = ip.segments();
    let low_v4 = Ipv4Addr::from(u128::from(ip) as u32);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return restricted_v4(v4).map(|kind| embedded!("IPv4-mapped", kind));
    }
    if in_v6(ip, [0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96)
        || in_v6(ip, [0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48)
    {
        // NAT64 (well-known and local-use prefixes): the gateway connects to the embedded address.
        return restricted_v4(low_v4).map(|kind| embedded!("NAT64", kind));
    }
    if segments[0] == 0x2002 {
        let v4 = Ipv4Addr::from((u32::from(segments[1]) << 16) | u32::from(segments[2]));
        return restricted_v4(v4).map(|kind| embedded!("6to4", kind));
    }
    let kind = if ip == METADATA_V6 {
        "cloud metadata"
    } else if ip.is_loopback() {
        "loopback"
    } else if ip.is_unspecified() {
        "unspecified"
    } else if segments[..6] == [0; 6] {
        // ::a.b.c.d, deprecated and never routed.
        "IPv4-compatible"
    } else if in_v6(ip, [0xfc00, 0, 0, 0, 0, 0, 0, 0], 7) {
        "unique-local (ULA)"
    } else if in_v6(ip, [0xfe80, 0, 0, 0, 0, 0, 0, 0], 10) {
        "link-local"
    } else if in_v6(ip, [0xfec0, 0, 0, 0, 0, 0, 0, 0], 10) {
        "site-local"
    } else if ip.is_multicast() {
        "multicast"
    } else if in_v6(ip, [0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32)
        || in_v6(ip, [0x3fff, 0, 0, 0, 0, 0, 0, 0], 20)
    {
        "documentation"
    } else if in_v6(ip, [0x2001, 2, 0, 0, 0, 0, 0, 0], 48) {
        "benchmarking"
    } else if in_v6(ip, [0, 0, 0, 0, 0, 0, 0, 0], 8) || in_v6(ip, [0x100, 0, 0, 0, 0, 0, 0, 0], 64)
    {
        // The rest of ::/8 (e.g. IPv4-translated) and the discard prefix.
        "reserved"
    } else {
        return None;
    };
    Some(kind)
}

/// Whether `name` is `localhost` or under `.localhost`: loopback by definition (RFC 6761),
/// never asked of DNS.
fn is_localhost(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

impl NetworkPolicy {
    /// Whether a connection to `ip` (for `host`) is allowed.
    pub fn check_addr(&self, host: &str, ip: IpAddr) -> Result<(), GuardError> {
        if self.allow_private || self.host_allowed(host) {
            return Ok(());
        }
        let allowed_range = |ip: IpAddr| self.allow_cidrs.iter().any(|c| c.contains(ip));
        match restricted_kind(ip) {
            // An IPv4-mapped address is allowed by a range holding its IPv4 address.
            Some(kind) if !allowed_range(ip) && !allowed_range(ip.to_canonical()) => {
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
            .any(|allowed| allowed.trim_end_matches('.').eq_ignore_ascii_case(host))
    }

    /// Checks a URL whose host is an IP literal, or `localhost`; other names are checked on
    /// the addresses they resolve to, when connecting.
    pub fn check_url(&self, url: &Url) -> Result<(), GuardError> {
        let host = url
            .host()
            .ok_or_else(|| GuardError::NoHost(url.to_string()))?;
        match host {
            url::Host::Ipv4(ip) => self.check_addr(&ip.to_string(), IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => self.check_addr(&ip.to_string(), IpAddr::V6(ip)),
            url::Host::Domain(name) if is_localhost(name) => {
                self.check_addr(name, IpAddr::V4(Ipv4Addr::LOCALHOST))
            }
            url::Host::Domain(_) => Ok(()),
        }
    }

    /// A reqwest builder guarded by this policy, resolving names with the system resolver.
    /// See [`NetworkPolicy::apply_with_name_servers`].
    pub fn apply(&self, builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        self.apply_with_name_servers(builder, &self.name_servers)
    }

    /// A reqwest builder guarded by this policy: names resolve only to allowed addresses (the
    /// addresses connected to, so a name that rebinds to a refused address is refused), and
    /// every redirect is re-checked with [`NetworkPolicy::check_url`], at most
    /// [`MAX_REDIRECTS`] of them. The first URL's own IP literal is the caller's to check with
    /// `check_url`. A later `.redirect(..)` on the builder replaces the redirect check; only
    /// `Policy::none()` keeps the guard whole.
    ///
    /// `name_servers` (asked over UDP and TCP) replace the system resolver when not empty;
    /// `/etc/hosts` is then not read either. `localhost` and names under it are loopback
    /// whichever resolver is used, and never asked of a name server.
    ///
    /// Proxies from the environment (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`) are not used:
    /// a proxy resolves names and connects itself, out of the guard's sight.
    pub fn apply_with_name_servers(
        &self,
        builder: reqwest::ClientBuilder,
        name_servers: &[SocketAddr],
    ) -> reqwest::ClientBuilder {
        let lookup = if name_servers.is_empty() {
            Lookup::System
        } else {
            match name_server_resolver(name_servers) {
                Ok(resolver) => Lookup::NameServers(Arc::new(resolver)),
                Err(reason) => Lookup::Broken(reason),
            }
        };
        builder
            .no_proxy()
            .dns_resolver(Arc::new(SharedResolver(Arc::new(GuardedResolver {
                policy: self.clone(),
                lookup,
            }))))
            .redirect(self.redirect_policy())
    }

    /// The redirect policy `apply` installs: each hop re-checked, at most [`MAX_REDIRECTS`].
    pub fn redirect_policy(&self) -> reqwest::redirect::Policy {
        let policy = self.clone();
        reqwest::redirect::Policy::custom(move |attempt| {
            // `previous` holds every URL requested so far, the first one included.
            if attempt.previous().len() > MAX_REDIRECTS {
                return attempt.error(GuardError::TooManyRedirects {
                    limit: MAX_REDIRECTS,
                });
            }
            match policy.check_url(attempt.url()) {
                Ok(()) => attempt.follow(),
                Err(reason) => {
                    let target = attempt.url().origin().ascii_serialization();
                    attempt.error(GuardError::Redirect {
                        target,
                        reason: Box::new(reason),
                    })
                }
            }
        })
    }
}

/// A resolver that asks exactly these name servers.
fn name_server_resolver(servers: &[SocketAddr]) -> Result<TokioResolver, String> {
    let name_servers = servers
        .iter()
        .map(|server| {
            let connections = [ConnectionConfig::udp(), ConnectionConfig::tcp()]
                .into_iter()
                .map(|mut connection| {
                    connection.port = server.port();
                    connection
                })
                .collect();
            NameServerConfig::new(server.ip(), true, connections)
        })
        .collect();
    let mut options = ResolverOpts::default();
    options.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
    options.use_hosts_file = ResolveHosts::Never;
    TokioResolver::builder_with_config(
        ResolverConfig::from_name_servers(name_servers),
        TokioRuntimeProvider::default(),
    )
    .with_options(options)
    .build()
    .map_err(|e| e.to_string())
}

/// Where names are looked up.
enum Lookup {
    /// The operating system's resolver (`getaddrinfo`).
    System,
    /// The configured name servers.
    NameServers(Arc<TokioResolver>),
    /// The configured name servers could not be set up; every lookup fails with this reason.
    Broken(String),
}

impl Lookup {
    async fn ips(&self, host: &str) -> Result<Vec<IpAddr>, String> {
        match self {
            Lookup::System => Ok(tokio::net::lookup_host((host, 0))
                .await
                .map_err(|e| e.to_string())?
                .map(|addr| addr.ip())
                .collect()),
            Lookup::NameServers(resolver) => Ok(resolver
                .lookup_ip(host)
                .await
                .map_err(|e| e.to_string())?
                .iter()
                .collect()),
            Lookup::Broken(reason) => Err(reason.clone()),
        }
    }
}

/// Resolves a name, then keeps only the addresses the policy allows.
struct GuardedResolver {
    policy: NetworkPolicy,
    lookup: Lookup,
}

impl GuardedResolver {
    async fn allowed_addrs(&self, host: String) -> Result<Vec<SocketAddr>, GuardError> {
        let ips = if is_localhost(&host) {
            vec![
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ]
        } else {
            self.lookup
                .ips(&host)
                .await
                .map_err(|reason| GuardError::Resolve {
                    host: host.clone(),
                    reason,
                })?
        };
        let mut refusal = None;
        let allowed: Vec<SocketAddr> = ips
            .into_iter()
            .filter(|ip| match self.policy.check_addr(&host, *ip) {
                Ok(()) => true,
                Err(e) => {
                    refusal.get_or_insert(e);
                    false
                }
            })
            .map(|ip| SocketAddr::new(ip, 0))
            .collect();
        if allowed.is_empty() {
            return Err(refusal.unwrap_or(GuardError::Resolve {
                host,
                reason: "no addresses".into(),
            }));
        }
        Ok(allowed)
    }
}

/// The resolver a guarded client uses; one per client, so its cache is shared.
struct SharedResolver(Arc<GuardedResolver>);

impl Resolve for SharedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let resolver = self.0.clone();
        Box::pin(async move {
            let allowed = resolver.allowed_addrs(name.as_str().to_owned()).await?;
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

    fn assert_kinds(cases: &[(&str, &str)]) {
        for (addr, kind) in cases {
            assert_eq!(restricted_kind(ip(addr)), Some(*kind), "{addr}");
        }
    }

    #[test]
    fn classifies_ipv4_loopback_private_and_link_local() {
        assert_kinds(&[
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("169.254.1.1", "link-local"),
            ("100.64.0.1", "CGNAT"),
            ("100.127.255.255", "CGNAT"),
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "unspecified"),
        ]);
    }

    #[test]
    fn classifies_cloud_metadata_endpoints() {
        assert_kinds(&[
            ("169.254.169.254", "cloud metadata"),
            ("100.100.100.200", "cloud metadata"),
            ("192.0.0.192", "cloud metadata"),
            ("168.63.129.16", "cloud metadata"),
            ("fd00:ec2::254", "cloud metadata"),
            ("::ffff:169.254.169.254", "IPv4-mapped cloud metadata"),
        ]);
    }

    #[test]
    fn classifies_ipv4_documentation_benchmark_multicast_and_reserved() {
        assert_kinds(&[
            ("192.0.2.1", "documentation"),
            ("198.51.100.7", "documentation"),
            ("203.0.113.7", "documentation"),
            ("198.18.0.1", "benchmarking"),
            ("198.19.255.255", "benchmarking"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("255.255.255.255", "broadcast"),
            ("240.0.0.1", "reserved"),
            ("192.0.0.8", "reserved"),
            ("192.88.99.1", "reserved"),
        ]);
    }

    #[test]
    fn classifies_ipv6_ranges() {
        assert_kinds(&[
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fd00::1", "unique-local (ULA)"),
            ("fc00::1", "unique-local (ULA)"),
            ("fe80::1", "link-local"),
            ("febf::1", "link-local"),
            ("fec0::1", "site-local"),
            ("feff::1", "site-local"),
            ("ff02::1", "multicast"),
            ("ff0e::1", "multicast"),
            ("2001:db8::1", "documentation"),
            ("3fff::1", "documentation"),
            ("2001:2::1", "benchmarking"),
            ("100::1", "reserved"),
            ("::ffff:0:7f00:1", "reserved"),
        ]);
    }

    #[test]
    fn classifies_ipv6_forms_by_the_ipv4_address_they_embed() {
        assert_kinds(&[
            ("::ffff:127.0.0.1", "IPv4-mapped loopback"),
            ("::ffff:10.0.0.1", "IPv4-mapped private"),
            ("::ffff:100.64.0.1", "IPv4-mapped CGNAT"),
            ("::127.0.0.1", "IPv4-compatible"),
            ("::8.8.8.8", "IPv4-compatible"),
            ("64:ff9b::127.0.0.1", "NAT64 loopback"),
            ("64:ff9b::a00:1", "NAT64 private"),
            ("64:ff9b:1::a9fe:a9fe", "NAT64 cloud metadata"),
            ("2002:7f00:1::1", "6to4 loopback"),
            ("2002:c0a8:101::1", "6to4 private"),
            ("2002:a9fe:101::", "6to4 link-local"),
        ]);
        // Embedding a public address is public: that is how NAT64 and 6to4 reach the internet.
        for public in ["::ffff:8.8.8.8", "64:ff9b::8.8.8.8", "2002:808:808::1"] {
            assert_eq!(restricted_kind(ip(public)), None, "{public}");
        }
    }

    #[test]
    fn every_ipv4_kind_keeps_its_name_when_embedded() {
        for v4 in [
            "127.0.0.1",
            "10.0.0.1",
            "169.254.169.254",
            "169.254.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
        ] {
            let inner = restricted_kind(ip(v4)).unwrap();
            let mapped = restricted_kind(ip(&format!("::ffff:{v4}"))).unwrap();
            let nat64 = restricted_kind(ip(&format!("64:ff9b::{v4}"))).unwrap();
            assert_eq!(mapped, format!("IPv4-mapped {inner}"), "{v4}");
            assert_eq!(nat64, format!("NAT64 {inner}"), "{v4}");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "100.128.0.1",
            "100.63.255.255",
            "172.32.0.1",
            "198.20.0.1",
            "192.0.3.1",
            "223.255.255.255",
            "2606:4700::1111",
            "2a00:1450:4001::200e",
        ] {
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
        // The range holds the IPv4 address an IPv4-mapped address carries.
        assert!(cidr.check_addr("x", ip("::ffff:10.0.0.5")).is_ok());
        assert!(cidr.check_addr("x", ip("::ffff:10.0.1.5")).is_err());
        let host = NetworkPolicy {
            allow_hosts: vec!["mcp.internal".into()],
            ..Default::default()
        };
        assert!(host.check_addr("mcp.internal", ip("10.9.9.9")).is_ok());
        assert!(host.check_addr("MCP.Internal.", ip("10.9.9.9")).is_ok());
        assert!(host.check_addr("other.internal", ip("10.9.9.9")).is_err());
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
            "http://LOCALHOST./mcp",
            "http://api.localhost/mcp",
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
        assert!(
            strict
                .check_url(&Url::parse("https://localhost.example.com/").unwrap())
                .is_ok()
        );
    }

    #[tokio::test]
    async fn resolver_drops_refused_addresses() {
        let client = NetworkPolicy::default()
            .apply(reqwest::Client::builder().no_proxy())
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
