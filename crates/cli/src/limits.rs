//! `winkube webhook`'s resource limits: how much one client, or all of them, may make the
//! server hold. Each flag has an environment variable (the flag wins); the defaults are
//! `winkube_webhook::Limits::default()`, derived in `crates/webhook/src/limits.rs` and
//! documented in docs/install.md.

use std::time::Duration;

use clap::Args;
use winkube_webhook::Limits;

use crate::windows::parse_duration;

/// Limit flags of `winkube webhook`.
#[derive(Args, Clone, Debug, PartialEq)]
#[command(next_help_heading = "Limits (memory and connections)")]
pub struct LimitArgs {
    /// Largest review body; bigger requests get 413. The default, 37Mi, fits an UPDATE of
    /// any object the API server accepts (2 objects × 3 MiB × 6 for Go's \u003c escapes +
    /// 1 MiB envelope)
    #[arg(long, env = "MAX_BODY_BYTES", value_name = "BYTES", default_value = "37Mi",
          value_parser = parse_bytes)]
    pub max_body_bytes: usize,
    /// Largest answer: a /mutate answer inlines the credspec once per container naming it,
    /// and one beyond min(this, 64Ki + 8 × request) is a denial naming the sizes
    #[arg(long, env = "MAX_ANSWER_BYTES", value_name = "BYTES", default_value = "8Mi",
          value_parser = parse_bytes)]
    pub max_answer_bytes: usize,
    /// Bytes of request bodies and answers held at once, over all connections; a request
    /// that would go past it gets 503 with Retry-After and nothing more is read from it
    #[arg(long, env = "IN_FLIGHT_BYTES", value_name = "BYTES", default_value = "64Mi",
          value_parser = parse_bytes)]
    pub in_flight_bytes: usize,
    /// A request body must arrive completely within this time after its headers, else 408
    /// (and an HTTP/1.1 connection is closed)
    #[arg(long, env = "BODY_READ_TIMEOUT", value_name = "DURATION", default_value = "10s",
          value_parser = parse_duration)]
    pub body_read_timeout: Duration,
    /// An HTTP/1.1 client must send complete request headers within this time (also how long
    /// an HTTP/1.1 connection may wait for its next request)
    #[arg(long, env = "HEADER_READ_TIMEOUT", value_name = "DURATION", default_value = "10s",
          value_parser = parse_duration)]
    pub header_read_timeout: Duration,
    /// Reviews read, decided or answered at once; more get 503 with Retry-After
    #[arg(
        long,
        env = "MAX_CONCURRENT_REVIEWS",
        value_name = "N",
        default_value_t = 256
    )]
    pub max_concurrent_reviews: usize,
    /// Open connections (TLS handshakes included); new ones beyond are closed at once
    #[arg(
        long,
        env = "MAX_CONNECTIONS",
        value_name = "N",
        default_value_t = 1000
    )]
    pub max_connections: usize,
    /// A connection with no request in flight for this long is closed (HTTP/2: GOAWAY)
    #[arg(long, env = "IDLE_TIMEOUT", value_name = "DURATION", default_value = "90s",
          value_parser = parse_duration)]
    pub idle_timeout: Duration,
    /// A connection whose client takes none of an answer's bytes for this long is dropped,
    /// releasing what the answer held
    #[arg(long, env = "WRITE_TIMEOUT", value_name = "DURATION", default_value = "10s",
          value_parser = parse_duration)]
    pub write_timeout: Duration,
    /// HTTP/2 streams one connection may have open (SETTINGS_MAX_CONCURRENT_STREAMS)
    #[arg(
        long,
        env = "HTTP2_MAX_CONCURRENT_STREAMS",
        value_name = "N",
        default_value_t = 100
    )]
    pub http2_max_concurrent_streams: u32,
    /// HTTP/2 keep-alive ping interval, or `off`
    #[arg(long, env = "HTTP2_KEEPALIVE_INTERVAL", value_name = "DURATION", default_value = "30s",
          value_parser = parse_interval)]
    pub http2_keepalive_interval: Interval,
    /// An HTTP/2 ping not acknowledged within this time closes the connection
    #[arg(long, env = "HTTP2_KEEPALIVE_TIMEOUT", value_name = "DURATION", default_value = "20s",
          value_parser = parse_duration)]
    pub http2_keepalive_timeout: Duration,
}

/// A duration, or `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interval(pub Option<Duration>);

impl Default for LimitArgs {
    /// What clap produces when no flag and no variable is given.
    fn default() -> Self {
        let d = Limits::default();
        Self {
            max_body_bytes: d.max_body_bytes,
            max_answer_bytes: d.max_answer_bytes,
            in_flight_bytes: d.in_flight_bytes,
            body_read_timeout: d.body_read_timeout,
            header_read_timeout: d.header_read_timeout,
            max_concurrent_reviews: d.max_concurrent_reviews,
            max_connections: d.max_connections,
            idle_timeout: d.idle_timeout,
            write_timeout: d.write_timeout,
            http2_max_concurrent_streams: d.http2_max_concurrent_streams,
            http2_keepalive_interval: Interval(d.http2_keep_alive_interval),
            http2_keepalive_timeout: d.http2_keep_alive_timeout,
        }
    }
}

impl LimitArgs {
    /// The server's limits; an unusable combination is an error naming the flags.
    pub fn limits(&self) -> Result<Limits, String> {
        let limits = Limits {
            max_body_bytes: self.max_body_bytes,
            max_answer_bytes: self.max_answer_bytes,
            body_read_timeout: self.body_read_timeout,
            header_read_timeout: self.header_read_timeout,
            in_flight_bytes: self.in_flight_bytes,
            max_concurrent_reviews: self.max_concurrent_reviews,
            max_connections: self.max_connections,
            idle_timeout: self.idle_timeout,
            write_timeout: self.write_timeout,
            http2_max_concurrent_streams: self.http2_max_concurrent_streams,
            http2_keep_alive_interval: self.http2_keepalive_interval.0,
            http2_keep_alive_timeout: self.http2_keepalive_timeout,
        };
        limits.validate().map_err(|e| {
            format!("{e} (--max-body-bytes, --in-flight-bytes, --max-concurrent-reviews, --max-connections, --http2-max-concurrent-streams)")
        })?;
        Ok(limits)
    }
}

/// A byte count: `1048576`, `512Ki`, `37Mi`, `1Gi` (also `KiB`/`MiB`/`GiB`, and `k`/`M`/`G`
/// as powers of 1000).
pub fn parse_bytes(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: usize = num
        .parse()
        .map_err(|_| format!("{s:?} is not a byte count (such as 37Mi or 1048576)"))?;
    let scale: usize = match unit {
        "" | "B" => 1,
        "k" | "K" | "kB" | "KB" => 1000,
        "M" | "MB" => 1000 * 1000,
        "G" | "GB" => 1000 * 1000 * 1000,
        "Ki" | "KiB" => 1 << 10,
        "Mi" | "MiB" => 1 << 20,
        "Gi" | "GiB" => 1 << 30,
        _ => {
            return Err(format!(
                "{s:?}: unknown unit {unit:?} (use Ki, Mi, Gi, k, M or G)"
            ));
        }
    };
    n.checked_mul(scale)
        .filter(|&b| b > 0)
        .ok_or_else(|| format!("{s:?} must be more than 0 and fit in memory"))
}

fn parse_interval(s: &str) -> Result<Interval, String> {
    if s.trim() == "off" {
        return Ok(Interval(None));
    }
    parse_duration(s).map(|d| Interval(Some(d)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        limits: LimitArgs,
    }

    #[test]
    fn byte_counts() {
        assert_eq!(parse_bytes("1048576"), Ok(1 << 20));
        assert_eq!(parse_bytes("37Mi"), Ok(37 << 20));
        assert_eq!(parse_bytes("512KiB"), Ok(512 << 10));
        assert_eq!(parse_bytes("3M"), Ok(3_000_000));
        assert!(parse_bytes("0").unwrap_err().contains("more than 0"));
        assert!(
            parse_bytes("10 parsecs")
                .unwrap_err()
                .contains("unknown unit")
        );
        assert!(
            parse_bytes("lots")
                .unwrap_err()
                .contains("not a byte count")
        );
    }

    #[test]
    fn clap_defaults_are_the_webhook_defaults() {
        let cli = Cli::try_parse_from(["t"]).unwrap();
        assert_eq!(cli.limits, LimitArgs::default());
        assert_eq!(cli.limits.limits().unwrap(), Limits::default());
    }

    #[test]
    fn flags_parse_and_bad_combinations_name_the_flags() {
        let cli = Cli::try_parse_from([
            "t",
            "--max-body-bytes=1Mi",
            "--in-flight-bytes=2Mi",
            "--http2-keepalive-interval=off",
            "--idle-timeout=500ms",
        ])
        .unwrap();
        let l = cli.limits.limits().unwrap();
        assert_eq!((l.max_body_bytes, l.in_flight_bytes), (1 << 20, 2 << 20));
        assert_eq!(l.http2_keep_alive_interval, None);
        assert_eq!(l.idle_timeout, Duration::from_millis(500));
        let cli = Cli::try_parse_from(["t", "--in-flight-bytes=1Mi"]).unwrap();
        let e = cli.limits.limits().unwrap_err();
        assert!(
            e.contains("in-flight bytes") && e.contains("--in-flight-bytes"),
            "{e}"
        );
        assert!(Cli::try_parse_from(["t", "--max-connections=many"]).is_err());
    }
}
