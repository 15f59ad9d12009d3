//! `/metrics`: a [`FleetSnapshot`] as Prometheus text exposition (format
//! 0.0.4), encoded by `prometheus-client` on every scrape from the
//! snapshot's counters since the monitor started (`Totals`), never from
//! the rolling window, so `rate()` and `histogram_quantile()` work on it.
//!
//! Names carry their unit (`_seconds`) and counters end in `_total`;
//! every series is labelled `agent` (the configured name; the encoder
//! escapes `\`, `"` and newlines in label values). The list, with types
//! and labels, is in `docs/cockpit.md`.

use std::fmt;
use std::sync::Arc;

use cockpit_fleet::{AgentView, AlertRule, CumulativeHistogram, FleetSnapshot, TargetStatus};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet, prometheus_text};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

/// The `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Every metric name starts with this.
const PREFIX: &str = "agentops";

/// The alert rules, each exposed for every agent (0 or 1).
const RULES: [AlertRule; 2] = [AlertRule::TtftAbsolute, AlertRule::TtftRelative];

/// The exposition of one snapshot.
pub fn exposition(snapshot: Arc<FleetSnapshot>) -> Result<String, fmt::Error> {
    let mut registry = Registry::with_prefix(PREFIX);
    registry.register_collector(Box::new(SnapshotCollector(snapshot)));
    let mut out = String::new();
    prometheus_text::encode(&mut out, &registry)?;
    Ok(out)
}

/// Encodes a snapshot when the registry is encoded.
#[derive(Debug)]
struct SnapshotCollector(Arc<FleetSnapshot>);

impl Collector for SnapshotCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        let agents = &self.0.agents;
        let latency = [
            (
                "ttft",
                "Time to first token of each successful streamed request since the monitor started.",
                (|a| &a.totals.ttft_seconds) as fn(&AgentView) -> &CumulativeHistogram,
            ),
            (
                "itl",
                "Inter-token latency (gap between streamed tokens) since the monitor started.",
                |a| &a.totals.itl_seconds,
            ),
            (
                "e2e",
                "End-to-end time of each successful request since the monitor started.",
                |a| &a.totals.e2e_seconds,
            ),
            (
                "probe_duration",
                "Wall time of each probe of a target (all its requests).",
                |a| &a.totals.probe_seconds,
            ),
        ];
        for (name, help, pick) in latency {
            histogram(&mut enc, name, help, agents, pick)?;
        }
        counters(&mut enc, agents)?;
        gauges(&mut enc, &self.0)?;
        super::infra_metrics::encode(&mut enc, agents)?;
        super::hub::metrics(&mut enc, &self.0.hub)
    }
}

/// One histogram family, a series per agent that has buckets.
fn histogram(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    agents: &[AgentView],
    pick: fn(&AgentView) -> &CumulativeHistogram,
) -> fmt::Result {
    let mut m = enc.encode_descriptor(name, help, Some(&Unit::Seconds), MetricType::Histogram)?;
    for a in agents {
        let h = pick(a);
        if h.bounds.is_empty() {
            // A figure this kind of target does not have (TTFT of a
            // retrieval backend).
            continue;
        }
        let labels = [("agent", a.name.as_str())];
        m.encode_family(&labels)?.encode_histogram::<NoLabelSet>(
            h.sum,
            h.count,
            &buckets(h),
            None,
        )?;
    }
    Ok(())
}

/// Cumulative `le` buckets to the per-bucket counts the encoder sums
/// back, the last one `+Inf`.
pub(super) fn buckets(h: &CumulativeHistogram) -> Vec<(f64, u64)> {
    let mut out = Vec::with_capacity(h.bounds.len() + 1);
    let mut below = 0;
    for (bound, cumulative) in h.bounds.iter().zip(&h.counts) {
        out.push((*bound, cumulative.saturating_sub(below)));
        below = below.max(*cumulative);
    }
    out.push((f64::INFINITY, h.count.saturating_sub(below)));
    out
}

/// A counter with one series per agent, read by `value`.
fn agent_counter(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    agents: &[AgentView],
    value: impl Fn(&AgentView) -> &u64,
) -> fmt::Result {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    for a in agents {
        let labels = [("agent", a.name.as_str())];
        m.encode_family(&labels)?
            .encode_counter::<NoLabelSet, _, u64>(value(a), None)?;
    }
    Ok(())
}

fn counters(enc: &mut DescriptorEncoder, agents: &[AgentView]) -> fmt::Result {
    agent_counter(
        enc,
        "probes",
        "Probes of the target since the monitor started.",
        agents,
        |a| &a.totals.probes,
    )?;
    agent_counter(
        enc,
        "requests",
        "Requests sent to the target that reached an outcome, since the monitor started.",
        agents,
        |a| &a.totals.attempted,
    )?;
    let mut m = enc.encode_descriptor(
        "request_errors",
        "Failed requests by error kind (connect, timeout, http_5xx, ...) since the monitor started.",
        None,
        MetricType::Counter,
    )?;
    for a in agents {
        for (kind, n) in &a.totals.errors {
            let labels = [("agent", a.name.as_str()), ("kind", kind.as_str())];
            m.encode_family(&labels)?
                .encode_counter::<NoLabelSet, _, u64>(n, None)?;
        }
    }
    Ok(())
}

fn gauges(enc: &mut DescriptorEncoder, snap: &FleetSnapshot) -> fmt::Result {
    let mut m = enc.encode_descriptor(
        "agent_up",
        "1 when the latest probe of the target had a successful request, 0 when it had none; absent before the first probe.",
        None,
        MetricType::Gauge,
    )?;
    for a in &snap.agents {
        let up: i64 = match a.status {
            TargetStatus::Unknown => continue,
            TargetStatus::Down { .. } => 0,
            _ => 1,
        };
        let labels = [("agent", a.name.as_str())];
        m.encode_family(&labels)?.encode_gauge(&up)?;
    }
    let mut m = enc.encode_descriptor(
        "alert_firing",
        "1 while the Latency Regression rule fires on the agent, else 0.",
        None,
        MetricType::Gauge,
    )?;
    for a in &snap.agents {
        for rule in RULES {
            let firing = i64::from(a.alerts.iter().any(|f| f.rule == rule));
            let labels = [("agent", a.name.as_str()), ("rule", rule.as_str())];
            m.encode_family(&labels)?.encode_gauge(&firing)?;
        }
    }
    let mut m = enc.encode_descriptor(
        "gate_score",
        "Score (0-100) of each pillar in the newest certification in the evidence lake; pillar=\"overall\" for the gate's score.",
        None,
        MetricType::Gauge,
    )?;
    for a in &snap.agents {
        let Some(gate) = &a.last_gate else { continue };
        let overall = gate.score.map(|s| ("overall", s));
        let pillars = gate
            .pillars
            .iter()
            .filter_map(|p| p.score.map(|s| (p.pillar.as_str(), s)));
        for (pillar, score) in overall.into_iter().chain(pillars) {
            let labels = [("agent", a.name.as_str()), ("pillar", pillar)];
            m.encode_family(&labels)?.encode_gauge(&score)?;
        }
    }
    let mut m = enc.encode_descriptor(
        "monitor_rounds",
        "Probe rounds the monitor completed.",
        None,
        MetricType::Counter,
    )?;
    m.encode_counter::<NoLabelSet, _, u64>(&snap.round, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cumulative_buckets_become_per_bucket_counts_ending_in_inf() {
        let h = CumulativeHistogram {
            bounds: vec![0.1, 0.5, 1.0],
            counts: vec![2, 5, 5],
            count: 7,
            sum: 4.2,
        };
        assert_eq!(
            buckets(&h),
            vec![(0.1, 2), (0.5, 3), (1.0, 0), (f64::INFINITY, 2)]
        );
    }

    #[test]
    fn exposition_has_conventional_names_and_escaped_agent_names() {
        let text = exposition(Arc::new(super::super::fixture::snapshot())).unwrap();
        for needle in [
            "# HELP agentops_ttft_seconds ",
            "# TYPE agentops_ttft_seconds histogram\n",
            "# TYPE agentops_itl_seconds histogram\n",
            "# TYPE agentops_e2e_seconds histogram\n",
            "# TYPE agentops_probe_duration_seconds histogram\n",
            "# TYPE agentops_request_errors_total counter\n",
            "agentops_ttft_seconds_bucket{agent=\"slow\",le=\"+Inf\"} 20\n",
            "agentops_ttft_seconds_count{agent=\"slow\"} 20\n",
            "agentops_request_errors_total{agent=\"dead\",kind=\"connect\"} 20\n",
            "agentops_alert_firing{agent=\"slow\",rule=\"ttft-absolute\"} 1\n",
            "agentops_alert_firing{agent=\"fast\",rule=\"ttft-absolute\"} 0\n",
            "agentops_agent_up{agent=\"dead\"} 0\n",
            "agentops_agent_up{agent=\"fast\"} 1\n",
            "agentops_gate_score{agent=\"fast\",pillar=\"network\"} 95.0\n",
            "agentops_monitor_rounds_total 6\n",
        ] {
            assert!(text.contains(needle), "{needle:?} missing:\n{text}");
        }
        // The hostile name stays inside its quoted label value: quote,
        // backslash and newline escaped, one sample per line.
        assert!(
            text.contains(r#"agent="<script>alert(1)</script><img src=x onerror=alert(2)>\"\\\n"#),
            "{text}"
        );
        for line in text.lines() {
            assert!(
                line.starts_with("# HELP agentops_")
                    || line.starts_with("# TYPE agentops_")
                    || line.starts_with("agentops_"),
                "{line:?}"
            );
        }
    }
}
