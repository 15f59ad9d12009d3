//! TCP connect round-trip time: the cost of a SYN / SYN-ACK exchange, a
//! floor for every request's network latency.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use cockpit_core::{Distribution, LatencySummary};
use serde::{Serialize, Serializer};

use crate::conn::{resolve, tcp_connect};
use crate::{ErrorKind, ProbeError};

/// The connect times to one address.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectRtt {
    /// The address connected to (the first the name resolved to).
    pub address: SocketAddr,
    #[serde(rename = "connect_rtt", serialize_with = "ser_summary")]
    pub distribution: Distribution,
    /// Failed connects by kind.
    pub errors: BTreeMap<ErrorKind, u64>,
    pub error_example: Option<String>,
    pub method: String,
}

fn ser_summary<S: Serializer>(d: &Distribution, s: S) -> Result<S::Ok, S::Error> {
    let summary: LatencySummary = d.summary();
    summary.serialize(s)
}

/// Split `host:port`, `[v6]:port` or a URL with a port (or an `http`/`https`
/// /`grpc`/`grpcs`/`redis`/`rediss` scheme) into host and port.
fn host_port(input: &str) -> Result<(String, u16), ProbeError> {
    let bad = |reason: &str| ProbeError::InvalidUrl {
        url: cockpit_core::redact_url(input),
        reason: reason.to_string(),
    };
    if input.contains("://") {
        let u = url::Url::parse(input).map_err(|e| bad(&e.to_string()))?;
        let host = u.host_str().ok_or_else(|| bad("no host"))?;
        let port = u
            .port()
            .or_else(|| match u.scheme() {
                "http" | "grpc" => Some(80),
                "https" | "grpcs" => Some(443),
                "redis" | "rediss" => Some(6379),
                _ => None,
            })
            .ok_or_else(|| bad("no port"))?;
        return Ok((
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port,
        ));
    }
    let (host, port) = input
        .rsplit_once(':')
        .ok_or_else(|| bad("expected host:port"))?;
    let port = port.parse().map_err(|_| bad("the port is not a number"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(bad("no host"));
    }
    Ok((host.to_string(), port))
}

/// Time `samples` TCP connects to `host_port` (each closed at once), under
/// `timeout` each. The name is resolved once, before and outside the
/// measurement. A name that does not resolve is an error; failed connects are
/// counted.
pub async fn tcp_connect_rtt(
    host_port_str: &str,
    samples: u32,
    timeout: Duration,
) -> Result<ConnectRtt, ProbeError> {
    let (host, port) = host_port(host_port_str)?;
    let addrs = resolve(&host, port, timeout)
        .await
        .map_err(|f| ProbeError::Request {
            url: cockpit_core::redact_url(host_port_str),
            kind: f.kind,
            message: f.message,
        })?;
    let address = addrs[0];
    let mut distribution = Distribution::new();
    let mut errors = BTreeMap::new();
    let mut error_example = None;
    let what = address.to_string();
    for _ in 0..samples {
        let t = Instant::now();
        match tcp_connect(&[address], timeout, &what).await {
            Ok(s) => {
                distribution.record(t.elapsed());
                drop(s);
            }
            Err(f) => {
                *errors.entry(f.kind).or_insert(0) += 1;
                error_example.get_or_insert(f.message);
            }
        }
    }
    let method = format!(
        "client-side, TCP connect (SYN sent to connection established) to {address}, a new socket each time, \
         name resolved once beforehand; {} samples",
        distribution.count()
    );
    Ok(ConnectRtt {
        address,
        distribution,
        errors,
        error_example,
        method,
    })
}

#[cfg(test)]
mod tests {
    use super::host_port;

    #[test]
    fn parses_host_port_forms() {
        assert_eq!(
            host_port("10.0.0.3:6379").unwrap(),
            ("10.0.0.3".into(), 6379)
        );
        assert_eq!(host_port("[::1]:80").unwrap(), ("::1".into(), 80));
        assert_eq!(
            host_port("https://h.example/x").unwrap(),
            ("h.example".into(), 443)
        );
        assert_eq!(
            host_port("redis://:pw@h:7000/0").unwrap(),
            ("h".into(), 7000)
        );
        assert!(host_port("h").is_err());
        assert!(host_port("h:port").is_err());
    }
}
