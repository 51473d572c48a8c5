//! Loopback addresses: where plain http is acceptable and where the development provider
//! may send a browser.

use url::{Host, Url};

/// `localhost`, `127.0.0.0/8` or `::1`, with or without the brackets an IPv6 host has in a
/// URL or a `Host` header.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether `url`'s host is a loopback host (see [`is_loopback_host`]).
pub(crate) fn is_loopback_url(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for host in [
            "localhost",
            "LOCALHOST",
            "127.0.0.1",
            "127.9.8.7",
            "::1",
            "[::1]",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in ["example.com", "10.0.0.1", "[::2]", "localhost.example", ""] {
            assert!(!is_loopback_host(host), "{host}");
        }
        let url = |s: &str| Url::parse(s).unwrap();
        assert!(is_loopback_url(&url("http://[::1]:8080/x")));
        assert!(is_loopback_url(&url("http://Localhost/")));
        assert!(!is_loopback_url(&url("https://app.example.com/")));
    }
}
