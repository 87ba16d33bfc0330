//! Source-address filtering (dispatcher-core.md §10.2): unanchored regular
//! expression search over the address text; an empty or invalid pattern rejects
//! every request.

use std::net::IpAddr;

use regex::Regex;

/// A compiled filter. `None` pattern means filtering is off.
#[derive(Clone, Debug)]
pub enum IpFilter {
    Off,
    Pattern(Regex),
    RejectAll,
}

impl IpFilter {
    pub fn new(enabled: bool, pattern: &str) -> IpFilter {
        if !enabled {
            return IpFilter::Off;
        }
        if pattern.is_empty() {
            return IpFilter::RejectAll;
        }
        match Regex::new(pattern) {
            Ok(re) => IpFilter::Pattern(re),
            Err(e) => {
                tracing::warn!(pattern, error = %e, "AcceptableIPAddressPattern does not compile; every request will be rejected");
                IpFilter::RejectAll
            }
        }
    }

    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match self {
            IpFilter::Off => true,
            IpFilter::RejectAll => false,
            IpFilter::Pattern(re) => re.is_match(&ip.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn unanchored_search() {
        let f = IpFilter::new(true, "0.0.1");
        assert!(f.allows(ip("127.0.0.1")));
        let f = IpFilter::new(true, r"^10\.");
        assert!(!f.allows(ip("127.0.0.1")));
        assert!(f.allows(ip("10.1.2.3")));
    }

    #[test]
    fn empty_or_invalid_rejects_all() {
        assert!(!IpFilter::new(true, "").allows(ip("127.0.0.1")));
        assert!(!IpFilter::new(true, "(").allows(ip("127.0.0.1")));
        assert!(IpFilter::new(false, "(").allows(ip("127.0.0.1")));
    }
}
