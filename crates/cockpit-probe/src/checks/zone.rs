//! NET-ZONE: regional affinity between an agent and its retrieval backend —
//! declared zones, and the measured TCP connect RTT of the hop.

use cockpit_core::{
    CheckId, CheckSpec, Finding, Location, Measurement, Pillar, Severity, Status, Unit,
};
use tokio_util::sync::CancellationToken;

use super::{AgentConfig, NetworkAuditConfig, RetrievalConfig, RetrievalProtocol, percentile};
use cockpit_core::Distribution;

pub const NET_ZONE: CheckSpec = CheckSpec {
    id: CheckId::new("NET-ZONE"),
    pillar: Pillar::Network,
    severity: Severity::High,
    title: "Regional affinity (agent ↔ retrieval)",
};

/// `us-central1-a` → `us-central1`.
pub fn region_of(zone: &str) -> &str {
    match zone.rsplit_once('-') {
        Some((region, suffix))
            if suffix.len() == 1 && suffix.chars().all(|c| c.is_ascii_lowercase()) =>
        {
            region
        }
        _ => zone,
    }
}

/// `host:port` of a URL, with the scheme's default port.
pub fn host_port(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?;
    if authority.is_empty() {
        return None;
    }
    let has_port = match authority.rfind(']') {
        Some(i) => authority[i..].contains(':'),
        None => authority.contains(':'),
    };
    if has_port {
        return Some(authority.to_string());
    }
    let port = match scheme {
        "http" | "grpc" => 80,
        "https" | "grpcs" => 443,
        _ => return None,
    };
    Some(format!("{authority}:{port}"))
}

/// Measure the hop and judge it.
pub async fn audit(
    agent: &AgentConfig,
    b: &RetrievalConfig,
    cfg: &NetworkAuditConfig,
    cancel: &CancellationToken,
) -> Finding {
    let url = match b.production_protocol() {
        RetrievalProtocol::Grpc => b.grpc_endpoint.as_deref(),
        _ => b.endpoint.as_deref(),
    }
    .or(b.endpoint.as_deref())
    .or(b.grpc_endpoint.as_deref())
    .unwrap_or("");
    let rtt = match host_port(url) {
        Some(hp) => {
            let samples = cfg.probe.retrieval_samples.clamp(1, 1000);
            tokio::select! {
                r = crate::rtt::tcp_connect_rtt(&hp, samples, cfg.probe.timeout()) => r.map_err(|e| e.to_string()),
                _ = cancel.cancelled() => Err("interrupted".to_string()),
            }
        }
        None => Err(format!(
            "cannot tell host and port of `{}`",
            cockpit_core::redact_url(url)
        )),
    };
    evaluate(
        agent,
        b,
        url,
        rtt.map(|r| r.distribution),
        cfg.thresholds.zone_rtt_ms,
    )
}

/// The connect RTT's p50 (or why there is none) and its measurement.
fn connect_rtt(rtt: Result<Distribution, String>) -> (Result<f64, String>, Vec<Measurement>) {
    match rtt {
        Ok(d) if !d.is_empty() => {
            let m = percentile(
                "connect_rtt_p50",
                &d,
                0.5,
                "TCP connect time from the audit host to the backend (SYN → SYN-ACK), DNS resolved once beforehand",
            );
            (Ok(d.summary().p50_ms), vec![m])
        }
        Ok(_) => (Err("no connection succeeded".to_string()), Vec::new()),
        Err(e) => (Err(e), Vec::new()),
    }
}

/// Judge declared zones and a measured connect-RTT distribution.
pub fn evaluate(
    agent: &AgentConfig,
    b: &RetrievalConfig,
    url: &str,
    rtt: Result<Distribution, String>,
    bound_ms: f64,
) -> Finding {
    let subject = format!("{} → {}", agent.name, b.name);
    let base = |status, summary: String| {
        NET_ZONE
            .finding(status, summary)
            .with_subject(&subject)
            .with_location(Location::endpoint(url))
    };
    let zones = match (&agent.zone, &b.zone) {
        (Some(a), Some(r)) => Some((a.as_str(), r.as_str())),
        _ => None,
    };
    let (rtt, mut ms) = connect_rtt(rtt);
    let rtt_p50 = rtt.as_ref().ok().copied();
    let hop = |r: f64| format!("{r:.2} ms hop");
    match (zones, rtt_p50) {
        (Some((az, rz)), p) if region_of(az) != region_of(rz) => base(
            Status::Fail,
            format!(
                "Regional Mismatch: agent in {az}, retrieval in {rz}{}",
                p.map(|r| format!(" ({})", hop(r))).unwrap_or_default()
            ),
        )
        .with_measurements(ms)
        .with_recommendation("Run the agent and its vector store in the same region and zone; every retrieval pays the cross-region round trip."),
        (Some((az, rz)), p) if az != rz => base(
            Status::Warn,
            format!(
                "cross-zone: agent in {az}, retrieval in {rz}{}",
                p.map(|r| format!(" ({})", hop(r))).unwrap_or_default()
            ),
        )
        .with_measurements(ms)
        .with_recommendation("Pin the agent and the vector store to one zone (node affinity), or place a replica of the store in each zone the agent runs in."),
        (z, Some(p)) if p > bound_ms => base(
            Status::Warn,
            format!(
                "{}measured connect RTT {p:.2} ms is above {bound_ms:.2} ms: the hop looks cross-zone",
                z.map(|(a, _)| format!("both declared in {a}, but ")).unwrap_or_default()
            ),
        )
        .with_measurements(ms)
        .with_recommendation("Check where the backend really runs (node labels topology.kubernetes.io/zone) and co-locate it with the agent."),
        (Some((az, _)), Some(p)) => base(Status::Pass, format!("same zone {az}; connect RTT {p:.2} ms")).with_measurements(ms),
        (None, Some(p)) => {
            ms.push(Measurement::new(
                "zones_declared",
                0.0,
                Unit::Bool,
                "zone of the agent and of the backend, from the configuration",
                1,
            ));
            base(
                Status::Pass,
                format!("connect RTT {p:.2} ms is within {bound_ms:.2} ms (zones not declared)"),
            )
            .with_measurements(ms)
            .with_recommendation("Declare `zone` for the agent and the backend so a cross-zone placement is caught by name.")
        }
        (_, None) => base(
            Status::NotMeasured,
            format!(
                "not measured: connect RTT unavailable ({})",
                rtt.err().unwrap_or_default()
            ),
        )
        .with_recommendation("Make the backend reachable from where the audit runs."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn regions_and_ports() {
        assert_eq!(region_of("us-central1-a"), "us-central1");
        assert_eq!(region_of("europe-west4"), "europe-west4");
        assert_eq!(host_port("http://h/x").as_deref(), Some("h:80"));
        assert_eq!(host_port("grpcs://u:p@h").as_deref(), Some("h:443"));
        assert_eq!(
            host_port("grpc://[::1]:50051").as_deref(),
            Some("[::1]:50051")
        );
        assert_eq!(host_port("http://[::1]/x").as_deref(), Some("[::1]:80"));
    }

    fn agent(zone: Option<&str>) -> AgentConfig {
        AgentConfig {
            name: "a".into(),
            endpoint: "http://127.0.0.1:1/v1".into(),
            protocol: super::super::AgentProtocol::Openai,
            model: None,
            zone: zone.map(String::from),
            shadow_endpoint: None,
            metrics_url: None,
            retrieval: None,
            stm: None,
            headers: Default::default(),
        }
    }

    fn backend(zone: Option<&str>) -> RetrievalConfig {
        RetrievalConfig {
            name: "v".into(),
            endpoint: Some("http://127.0.0.1:2/s".into()),
            grpc_endpoint: None,
            protocol: None,
            zone: zone.map(String::from),
            query: "q".into(),
            top_k: 1,
            grpc_method: None,
            grpc_request: None,
            grpc_proto: None,
            grpc_import_paths: Vec::new(),
        }
    }

    fn rtt(ms: f64) -> Result<Distribution, String> {
        let mut d = Distribution::new();
        for _ in 0..10 {
            d.record(Duration::from_secs_f64(ms / 1000.0));
        }
        Ok(d)
    }

    #[test]
    fn decisions() {
        let f = evaluate(
            &agent(Some("us-central1-a")),
            &backend(Some("europe-west1-b")),
            "u",
            rtt(0.2),
            1.0,
        );
        assert_eq!(f.status, Status::Fail);
        assert!(f.summary.contains("Regional Mismatch"), "{}", f.summary);
        let f = evaluate(
            &agent(Some("us-central1-a")),
            &backend(Some("us-central1-b")),
            "u",
            rtt(0.2),
            1.0,
        );
        assert_eq!(f.status, Status::Warn);
        let f = evaluate(
            &agent(Some("us-central1-a")),
            &backend(Some("us-central1-a")),
            "u",
            rtt(0.2),
            1.0,
        );
        assert_eq!(f.status, Status::Pass);
        let f = evaluate(
            &agent(Some("us-central1-a")),
            &backend(Some("us-central1-a")),
            "u",
            rtt(5.0),
            1.0,
        );
        assert_eq!(f.status, Status::Warn);
        let f = evaluate(
            &agent(None),
            &backend(None),
            "u",
            Err("refused".into()),
            1.0,
        );
        assert_eq!(f.status, Status::NotMeasured);
        assert!(f.summary.contains("refused"));
    }
}
