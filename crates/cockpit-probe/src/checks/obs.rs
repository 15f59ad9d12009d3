//! OBS-TTFT: does the agent export a time-to-first-token histogram (the
//! fifth golden signal of an AI service)?

use std::time::Duration;

use cockpit_core::{
    CheckId, CheckSpec, Finding, Location, Measurement, Pillar, Severity, Status, Unit,
};

use super::AgentConfig;
use crate::TlsOptions;

pub const OBS_TTFT: CheckSpec = CheckSpec {
    id: CheckId::new("OBS-TTFT"),
    pillar: Pillar::Observability,
    severity: Severity::Medium,
    title: "TTFT histogram exported",
};

/// Fetch the agent's metrics and judge them.
pub async fn audit(agent: &AgentConfig, url: &str, timeout: Duration, tls: &TlsOptions) -> Finding {
    let text = crate::metrics::fetch_metrics(url, timeout, tls)
        .await
        .map_err(|e| e.to_string());
    evaluate(agent, url, text)
}

/// Judge fetched Prometheus text (or the reason it could not be fetched).
pub fn evaluate(agent: &AgentConfig, url: &str, text: Result<String, String>) -> Finding {
    let base = |status, summary: String| {
        OBS_TTFT
            .finding(status, summary)
            .with_subject(&agent.name)
            .with_location(Location::endpoint(url))
    };
    let text = match text {
        Ok(t) => t,
        Err(e) => {
            return base(
                Status::NotMeasured,
                format!("not measured: cannot read the metrics endpoint: {e}"),
            )
            .with_recommendation(
                "Make the metrics endpoint reachable from the audit, or remove metrics_url.",
            );
        }
    };
    let families = text.lines().filter(|l| l.starts_with("# TYPE ")).count();
    match crate::metrics::find_ttft_histogram(&text) {
        Some(name) => base(Status::Pass, format!("exports TTFT histogram `{name}`")).with_measurement(Measurement::new(
            "ttft_histogram_present",
            1.0,
            Unit::Bool,
            format!("one GET of the Prometheus text endpoint; histogram family `{name}` found among {families} declared families"),
            1,
        )),
        None => base(
            Status::Warn,
            format!("no time-to-first-token histogram among {families} exported metric families"),
        )
        .with_measurement(Measurement::new(
            "ttft_histogram_present",
            0.0,
            Unit::Bool,
            format!("one GET of the Prometheus text endpoint; {families} declared families, none a TTFT histogram"),
            1,
        ))
        .with_recommendation(
            "Export a histogram of time to first token (e.g. `*_time_to_first_token_seconds`) so regressions show on dashboards and alerts before users feel them.",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::fixtures::agent;
    use cockpit_core::Status;
    use cockpit_core::fleet::AgentProtocol;

    #[test]
    fn observability() {
        let a = agent(AgentProtocol::Openai);
        let with = "# TYPE vllm:time_to_first_token_seconds histogram\nvllm:time_to_first_token_seconds_bucket{le=\"0.1\"} 3\n";
        let f = evaluate(&a, "http://127.0.0.1:1/metrics", Ok(with.into()));
        assert_eq!(f.status, Status::Pass);
        assert!(f.summary.contains("vllm:time_to_first_token_seconds"));
        let without = "# TYPE http_requests_total counter\nhttp_requests_total 3\n";
        assert_eq!(evaluate(&a, "u", Ok(without.into())).status, Status::Warn);
        assert_eq!(
            evaluate(&a, "u", Err("refused".into())).status,
            Status::NotMeasured
        );
    }
}
