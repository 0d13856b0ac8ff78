//! `winkube webhook`'s operations flags: the plain-HTTP listener for `/metrics`, `/healthz`
//! and `/readyz` (off unless `--metrics-bind-address` is given; the install manifests and the
//! chart turn it on).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use clap::Args;

/// The port the install manifests and the chart give the operations listener.
pub const METRICS_PORT: u16 = 8080;

#[derive(Args, Debug, Clone, Default)]
pub struct OpsArgs {
    /// Serve /metrics, /healthz and /readyz over plain HTTP on this address: IP:PORT,
    /// [IPv6]:PORT, or :PORT for all interfaces; 0 (or leaving it out) turns it off
    #[arg(long, value_name = "ADDR", value_parser = parse_bind_address)]
    pub metrics_bind_address: Option<BindAddress>,
}

/// A listener address, or off (`0`, as controller-runtime's flag of the same name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BindAddress(pub Option<SocketAddr>);

impl OpsArgs {
    /// Where the operations listener binds; `None`: not at all.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_bind_address.and_then(|b| b.0)
    }
}

pub fn parse_bind_address(s: &str) -> Result<BindAddress, String> {
    if s == "0" {
        return Ok(BindAddress(None));
    }
    let parsed = match s.strip_prefix(':') {
        Some(port) => port
            .parse::<u16>()
            .ok()
            .map(|p| SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), p)),
        None => s.parse::<SocketAddr>().ok(),
    };
    parsed.map(|a| BindAddress(Some(a))).ok_or_else(|| {
        format!(
            "{s:?} is not a listen address: expected IP:PORT, [IPv6]:PORT, :PORT (all interfaces) or 0 (off)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_addresses() {
        assert_eq!(
            parse_bind_address(":8080").unwrap().0,
            Some("0.0.0.0:8080".parse().unwrap())
        );
        assert_eq!(
            parse_bind_address("127.0.0.1:9").unwrap().0,
            Some("127.0.0.1:9".parse().unwrap())
        );
        assert_eq!(
            parse_bind_address("[::1]:8080").unwrap().0,
            Some("[::1]:8080".parse().unwrap())
        );
        assert_eq!(parse_bind_address("0").unwrap().0, None);
        for bad in ["8080", "localhost:8080", ":http", ":70000", "", "1.2.3.4"] {
            let e = parse_bind_address(bad).unwrap_err();
            assert!(e.contains(&format!("{bad:?}")), "{e}");
        }
    }
}
