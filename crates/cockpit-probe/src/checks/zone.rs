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

/// `us-central1-a` → `us-central1` (the rule is cockpit-core's, shared with
/// the vector stores' RAG-ZONE).
pub use cockpit_core::fleet::region_of;

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

/// What the declared zones say about the hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Declared<'a> {
    /// A zone is missing on either side.
    Unknown,
    SameZone(&'a str),
    CrossZone(&'a str, &'a str),
    CrossRegion(&'a str, &'a str),
}

impl<'a> Declared<'a> {
    fn of(agent: &'a AgentConfig, b: &'a RetrievalConfig) -> Self {
        match (agent.zone.as_deref(), b.zone.as_deref()) {
            (Some(a), Some(r)) if region_of(a) != region_of(r) => Declared::CrossRegion(a, r),
            (Some(a), Some(r)) if a != r => Declared::CrossZone(a, r),
            (Some(a), Some(_)) => Declared::SameZone(a),
            _ => Declared::Unknown,
        }
    }

    /// "agent in us-central1-a, retrieval in europe-west1-b".
    fn places(self) -> String {
        match self {
            Declared::CrossRegion(a, r) | Declared::CrossZone(a, r) => {
                format!("agent in {a}, retrieval in {r}")
            }
            Declared::SameZone(a) => format!("both in {a}"),
            Declared::Unknown => "zones not declared".to_string(),
        }
    }

    /// "cross-region: agent in us-central1-a, retrieval in europe-west1-b".
    fn text(self) -> String {
        match self {
            Declared::CrossRegion(..) => format!("cross-region: {}", self.places()),
            Declared::CrossZone(..) => format!("cross-zone: {}", self.places()),
            _ => self.places(),
        }
    }
}

const CO_LOCATE: &str = "Run the agent and its vector store in the same region and zone; every retrieval pays the cross-region round trip.";
const CHECK_DECLARATION: &str = "The declared zones and the measured hop disagree: check the `zone` declared for the agent and the backend (cockpit.toml, node labels topology.kubernetes.io/zone), and run the audit from the agent's zone so the RTT speaks for the agent's hop.";

/// Judge declared zones and a measured connect-RTT distribution. The
/// declaration and the measurement are both shown; when they disagree
/// (declared apart but the hop measures local, or declared together but
/// the hop measures far) the verdict says so and is a warning, never a
/// cost that was not measured.
pub fn evaluate(
    agent: &AgentConfig,
    b: &RetrievalConfig,
    url: &str,
    rtt: Result<Distribution, String>,
    bound_ms: f64,
) -> Finding {
    let subject = format!("{} → {}", agent.name, b.name);
    let declared = Declared::of(agent, b);
    let (rtt, mut ms) = connect_rtt(rtt);
    let (status, summary, advice) = match (declared, rtt) {
        (_, Err(why)) => unmeasured_verdict(declared, &why),
        (d, Ok(p)) => measured_verdict(d, p, bound_ms),
    };
    if declared == Declared::Unknown {
        ms.push(Measurement::new(
            "zones_declared",
            0.0,
            Unit::Bool,
            "zone of the agent and of the backend, from the configuration",
            1,
        ));
    }
    let f = NET_ZONE
        .finding(status, summary)
        .with_subject(&subject)
        .with_location(Location::endpoint(url))
        .with_measurements(ms);
    match advice {
        Some(a) => f.with_recommendation(a),
        None => f,
    }
}

type Verdict = (Status, String, Option<&'static str>);

/// The verdict when the connect RTT was measured (`p` is its p50).
fn measured_verdict(declared: Declared<'_>, p: f64, bound_ms: f64) -> Verdict {
    let far = p > bound_ms;
    let rtt = format!("measured connect RTT p50 {p:.2} ms");
    match (declared, far) {
        (Declared::CrossRegion(..), true) => (
            Status::Fail,
            format!(
                "Regional Mismatch: {}; {rtt} (above the same-zone bound {bound_ms:.2} ms)",
                declared.places()
            ),
            Some(CO_LOCATE),
        ),
        (Declared::CrossRegion(..) | Declared::CrossZone(..), false) => (
            Status::Warn,
            format!(
                "declared {} but {rtt} is local (within {bound_ms:.2} ms): the declaration is wrong or the hop is local; check the declaration",
                declared.text()
            ),
            Some(CHECK_DECLARATION),
        ),
        (Declared::CrossZone(..), true) => (
            Status::Warn,
            format!("{}; {rtt} (above {bound_ms:.2} ms)", declared.text()),
            Some(
                "Pin the agent and the vector store to one zone (node affinity), or place a replica of the store in each zone the agent runs in.",
            ),
        ),
        (Declared::SameZone(a), true) => (
            Status::Warn,
            format!(
                "declared both in {a} but {rtt} is above the same-zone bound {bound_ms:.2} ms: the declaration is wrong or the hop leaves the zone; check the declaration"
            ),
            Some(CHECK_DECLARATION),
        ),
        (Declared::Unknown, true) => (
            Status::Warn,
            format!(
                "{rtt} is above {bound_ms:.2} ms: the hop looks cross-zone (zones not declared)"
            ),
            Some(
                "Check where the backend really runs (node labels topology.kubernetes.io/zone) and co-locate it with the agent.",
            ),
        ),
        (Declared::SameZone(a), false) => (
            Status::Pass,
            format!("same zone {a}; {rtt} is within {bound_ms:.2} ms"),
            None,
        ),
        (Declared::Unknown, false) => (
            Status::Pass,
            format!("{rtt} is within {bound_ms:.2} ms (zones not declared)"),
            Some(
                "Declare `zone` for the agent and the backend so a cross-zone placement is caught by name.",
            ),
        ),
    }
}

/// The verdict when no connect RTT was measured: a declared cross-region
/// placement still fails on the declaration alone (said so, with no hop
/// cost); anything else is not measured.
fn unmeasured_verdict(declared: Declared<'_>, why: &str) -> Verdict {
    match declared {
        Declared::CrossRegion(..) => (
            Status::Fail,
            format!(
                "Regional Mismatch (declared): {}; the hop's RTT was not measured ({why})",
                declared.places()
            ),
            Some(CO_LOCATE),
        ),
        _ => (
            Status::NotMeasured,
            format!(
                "not measured: connect RTT unavailable ({why}); {}",
                declared.text()
            ),
            Some("Make the backend reachable from where the audit runs."),
        ),
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
            canary: None,
            session_header: None,
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

    fn judge(a: Option<&str>, b: Option<&str>, rtt_ms: Result<f64, &str>) -> Finding {
        let r = match rtt_ms {
            Ok(ms) => rtt(ms),
            Err(e) => Err(e.to_string()),
        };
        evaluate(&agent(a), &backend(b), "u", r, 1.0)
    }

    #[test]
    fn declared_and_measured_agree() {
        let f = judge(Some("us-central1-a"), Some("europe-west1-b"), Ok(40.0));
        assert_eq!(f.status, Status::Fail);
        assert!(f.summary.contains("Regional Mismatch"), "{}", f.summary);
        assert!(f.summary.contains("RTT p50 40.0"), "{}", f.summary);
        let f = judge(Some("us-central1-a"), Some("us-central1-b"), Ok(2.0));
        assert_eq!(f.status, Status::Warn);
        assert!(f.summary.contains("cross-zone"), "{}", f.summary);
        let f = judge(Some("us-central1-a"), Some("us-central1-a"), Ok(0.2));
        assert_eq!(f.status, Status::Pass);
        let f = judge(None, None, Ok(0.2));
        assert_eq!(f.status, Status::Pass);
        assert_eq!(f.measurement("zones_declared").unwrap().value, 0.0);
        let f = judge(None, None, Ok(5.0));
        assert_eq!(f.status, Status::Warn);
    }

    #[test]
    fn declared_apart_but_measured_local_is_a_warning_about_the_declaration() {
        let f = judge(Some("us-central1-a"), Some("europe-west1-b"), Ok(0.01));
        assert_eq!(f.status, Status::Warn, "{}", f.summary);
        assert!(!f.summary.contains("Regional Mismatch"), "{}", f.summary);
        assert!(f.summary.contains("check the declaration"), "{}", f.summary);
        assert!(f.summary.contains("0.01 ms"), "{}", f.summary);
        assert_eq!(f.measurement("connect_rtt_p50").unwrap().samples, 10);
        let f = judge(Some("us-central1-a"), Some("us-central1-b"), Ok(0.01));
        assert_eq!(f.status, Status::Warn);
        assert!(f.summary.contains("check the declaration"), "{}", f.summary);
    }

    #[test]
    fn declared_together_but_measured_far_is_a_warning_about_the_declaration() {
        let f = judge(Some("us-central1-a"), Some("us-central1-a"), Ok(5.0));
        assert_eq!(f.status, Status::Warn);
        assert!(
            f.summary.contains("declared both in us-central1-a"),
            "{}",
            f.summary
        );
        assert!(f.summary.contains("check the declaration"), "{}", f.summary);
    }

    #[test]
    fn an_unmeasured_hop_shows_no_cost() {
        let f = judge(None, None, Err("refused"));
        assert_eq!(f.status, Status::NotMeasured);
        assert!(f.summary.contains("refused"));
        // The declaration alone still fails, and says the hop was not measured.
        let f = judge(
            Some("us-central1-a"),
            Some("europe-west1-b"),
            Err("refused"),
        );
        assert_eq!(f.status, Status::Fail);
        assert!(
            f.summary.contains("not measured (refused)"),
            "{}",
            f.summary
        );
        assert!(!f.summary.contains(" ms"), "{}", f.summary);
        assert!(f.measurements.is_empty());
    }
}
