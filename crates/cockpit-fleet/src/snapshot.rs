//! What Mission Control shows: a [`FleetSnapshot`], taken after every
//! interval. Its JSON form is the web dashboard's `/api/v1/fleet` and
//! `cockpit --once --format json`: a public interface. Field names change
//! only with [`SNAPSHOT_VERSION`]; new fields may be added.
//!
//! Units are in the field names (`_ms`, `_per_s`); every figure carries
//! the sample count (`count`) and the window it was computed over
//! (`window_ms`). A figure with `count: 0` was not measured and its
//! percentiles are `null`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The version of the snapshot's JSON form.
pub const SNAPSHOT_VERSION: &str = "1";

/// The whole fleet after one interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetSnapshot {
    /// [`SNAPSHOT_VERSION`].
    pub snapshot_version: String,
    /// When the snapshot was taken, RFC 3339 UTC with milliseconds.
    pub taken_at: String,
    /// Probe rounds completed since the monitor started (0: none yet).
    pub round: u64,
    /// The probe interval.
    #[serde(rename = "interval_ms", with = "ms")]
    pub interval: Duration,
    /// The rolling window every figure is computed over.
    #[serde(rename = "window_ms", with = "ms")]
    pub window: Duration,
    /// When the next interval ends, RFC 3339: the results of the probes
    /// starting now are judged and published then, and the round after
    /// starts. `null` when none will (`--once`, or the monitor stopped).
    pub next_probe_at: Option<String>,
    /// Milliseconds from `taken_at` to `next_probe_at`.
    pub next_probe_in_ms: Option<u64>,
    /// The alert rules in force.
    pub rules: RulesView,
    /// One entry per target, in configuration order.
    pub agents: Vec<AgentView>,
    /// Alert state changes (firing, resolved), oldest first; at most
    /// [`MAX_ALERT_HISTORY`](crate::MAX_ALERT_HISTORY), the oldest dropped first.
    pub alerts: Vec<AlertEvent>,
    /// Webhook delivery counts; `null` without a webhook. The URL is never shown.
    pub webhook: Option<WebhookView>,
    /// The fleet hub's panels (shadow, caches, MCP servers, vector stores,
    /// watchtower); absent when the configuration declares none.
    #[serde(default, skip_serializing_if = "crate::HubView::is_empty")]
    pub hub: crate::HubView,
}

impl FleetSnapshot {
    /// Alerts firing now, over every agent.
    pub fn firing(&self) -> impl Iterator<Item = (&AgentView, &FiringAlert)> {
        self.agents
            .iter()
            .flat_map(|a| a.alerts.iter().map(move |f| (a, f)))
    }

    /// No alert firing and no target down.
    pub fn healthy(&self) -> bool {
        self.firing().next().is_none()
            && !self
                .agents
                .iter()
                .any(|a| matches!(a.status, TargetStatus::Down { .. }))
    }
}

/// What kind of target a row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum TargetKind {
    /// An `[[agents]]` entry: TTFT, ITL, e2e, tokens/s.
    Agent,
    /// A `[[retrieval]]` backend: e2e latency of a search.
    Retrieval,
    /// The `[stm]` session store (Redis): PING latency, `INFO` figures.
    Stm,
    /// The `[kubernetes]` agent pods: ready replicas, restarts.
    Kubernetes,
}

/// The state of a target after its latest probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "lowercase")]
#[non_exhaustive]
pub enum TargetStatus {
    /// Not probed yet.
    Unknown,
    /// The latest probe's requests all succeeded and no alert fires.
    Up,
    /// The latest probe had some failed requests, or an alert fires.
    Degraded { reason: String },
    /// The latest probe had no successful request. `error_kind` is the
    /// most frequent failure (`connect`, `timeout`, `http_5xx`, … as in
    /// the probe's JSON; `config` when the probe could not start).
    Down { error_kind: String, message: String },
}

impl TargetStatus {
    /// `unknown`, `up`, `degraded`, `down`.
    pub fn label(&self) -> &'static str {
        match self {
            TargetStatus::Unknown => "unknown",
            TargetStatus::Up => "up",
            TargetStatus::Degraded { .. } => "degraded",
            TargetStatus::Down { .. } => "down",
        }
    }
}

/// One row: a target and its figures over the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentView {
    /// The configured name (unescaped: renderers escape it).
    pub name: String,
    pub kind: TargetKind,
    /// `openai`, `grpc`, `http`; `redis` for `[stm]`, `kubernetes`.
    pub protocol: String,
    /// The endpoint, credentials redacted.
    pub endpoint: String,
    pub status: TargetStatus,
    /// When the latest probe of this target ended, RFC 3339.
    pub last_probe_at: Option<String>,
    /// How long the latest probe took (all its requests).
    pub last_probe_ms: Option<f64>,
    /// Time to first token over the window (agents; empty for retrieval).
    pub ttft: LatencyWindow,
    /// Inter-token latency over the window (agents).
    pub itl: LatencyWindow,
    /// End-to-end request time over the window.
    pub e2e: LatencyWindow,
    /// TTFT p95 of each interval of the window, oldest first (sparklines).
    /// For a retrieval backend, its e2e p95; for `[stm]`, its PING p95;
    /// empty for `[kubernetes]`.
    pub ttft_p95_series: Vec<SeriesPoint>,
    /// Output tokens per second over the window.
    pub tokens_per_s: RateWindow,
    /// Requests and failures over the window.
    pub requests: RequestCounts,
    /// The TTFT baseline the relative rule compares with, when known.
    pub baseline: Option<Baseline>,
    /// The newest certification in the evidence lake, when there is one.
    pub last_gate: Option<GateView>,
    /// Alerts firing now on this target.
    pub alerts: Vec<FiringAlert>,
    /// Counters since the monitor started (for Prometheus exposition).
    pub totals: Totals,
    /// The `[stm]` row's own figures (`kind: "stm"`); absent on other rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stm: Option<crate::StmView>,
    /// The `[kubernetes]` row's own figures (`kind: "kubernetes"`); absent
    /// on other rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<crate::KubernetesView>,
}

/// Percentiles of a latency over the window; `null` when `count` is 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyWindow {
    /// Samples in the window.
    pub count: u64,
    /// The window the samples were taken in.
    #[serde(rename = "window_ms", with = "ms")]
    pub window: Duration,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
    pub mean_ms: Option<f64>,
}

/// One interval of a sparkline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SeriesPoint {
    /// Interval number (the probe round that opened it).
    pub round: u64,
    /// `null` when the interval took no sample.
    pub p95_ms: Option<f64>,
    pub count: u64,
}

/// Output tokens per second over the window: the output tokens of every
/// successful stream, divided by the summed wall time of the probes that
/// streamed them (each probe's window from its first send to its last
/// stream's end).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct RateWindow {
    /// Successful streams behind the figure.
    pub count: u64,
    #[serde(rename = "window_ms", with = "ms")]
    pub window: Duration,
    pub output_tokens: u64,
    /// `null` when no stream succeeded in the window.
    pub tokens_per_s: Option<f64>,
}

/// Requests over the window, failures by kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestCounts {
    /// Requests that reached an outcome.
    pub attempted: u64,
    /// Successful requests (the latency samples).
    pub succeeded: u64,
    pub failed: u64,
    /// `failed / attempted`, 0..=1; `null` without a request.
    pub error_rate: Option<f64>,
    /// Failures by kind (`connect`, `timeout`, `http_5xx`, …).
    pub errors: BTreeMap<String, u64>,
    #[serde(rename = "window_ms", with = "ms")]
    pub window: Duration,
}

/// Counters since the monitor started, never reset: cumulative histograms
/// in seconds for a Prometheus exposition.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub probes: u64,
    pub attempted: u64,
    pub succeeded: u64,
    /// Failures by kind since the start.
    pub errors: BTreeMap<String, u64>,
    pub ttft_seconds: CumulativeHistogram,
    pub itl_seconds: CumulativeHistogram,
    pub e2e_seconds: CumulativeHistogram,
    /// Wall time of each probe (all its requests).
    pub probe_seconds: CumulativeHistogram,
}

/// A cumulative histogram: `counts[i]` samples at most `bounds[i]`
/// seconds (Prometheus `le` buckets), `count` in all (the `+Inf` bucket)
/// and their `sum`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CumulativeHistogram {
    pub bounds: Vec<f64>,
    pub counts: Vec<u64>,
    pub count: u64,
    pub sum: f64,
}

/// The baseline TTFT p95 of an agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    pub ttft_p95_ms: f64,
    /// Samples behind it.
    pub count: u64,
    /// `certify` (a passing certification in the evidence lake) or
    /// `first-hour` (the monitor's own samples over its first
    /// `baseline_period`, an hour by default).
    pub source: String,
    /// The run directory, for `certify`.
    pub run: Option<String>,
}

/// The newest certification found in the evidence lake.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateView {
    /// Overall score 0–100; `null` when nothing was scored.
    pub score: Option<f64>,
    pub passed: bool,
    pub threshold: f64,
    /// When the certified report was generated.
    pub generated_at: String,
    /// The run directory's name.
    pub run: String,
    pub pillars: Vec<PillarView>,
}

/// One pillar of a certification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PillarView {
    /// `network`, `compute`, `state`, `cicd`, `observability`.
    pub pillar: String,
    /// `PASS`, `WARN`, `FAIL`, `NOT SCORED`, `NOT MEASURED`, `OUT OF SCOPE`.
    pub verdict: String,
    pub score: Option<f64>,
}

/// Which rule an alert comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum AlertRule {
    /// TTFT p95 over the window above `ttft_p95_ms`.
    TtftAbsolute,
    /// TTFT p95 over the window up by `relative_increase_pct` or more
    /// against the agent's baseline.
    TtftRelative,
}

impl AlertRule {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertRule::TtftAbsolute => "ttft-absolute",
            AlertRule::TtftRelative => "ttft-relative",
        }
    }
}

/// Whether an alert started or ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum AlertState {
    Firing,
    Resolved,
}

/// An alert firing now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FiringAlert {
    pub rule: AlertRule,
    /// When it fired, RFC 3339.
    pub since: String,
    /// The latest TTFT p95 over the window, and its sample count.
    pub ttft_p95_ms: f64,
    pub count: u64,
    /// The bound it crossed (the threshold, or baseline × (1 + pct/100)).
    pub bound_ms: f64,
}

/// One alert state change: a "Latency Regression" firing or resolving.
/// Each is written to the evidence lake as a "Slow Reasoning" record and
/// posted once to the webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEvent {
    /// Sequence number, from 1, unique within the monitor's run.
    pub seq: u64,
    /// When the state changed, RFC 3339.
    pub at: String,
    /// The probe round whose interval decided it.
    pub round: u64,
    pub agent: String,
    pub rule: AlertRule,
    pub state: AlertState,
    /// TTFT p95 over the window when it changed, and its sample count.
    pub ttft_p95_ms: f64,
    pub count: u64,
    #[serde(rename = "window_ms", with = "ms")]
    pub window: Duration,
    /// The bound of the rule (absolute threshold, or baseline × (1 + pct/100)).
    pub bound_ms: f64,
    /// The baseline, for the relative rule.
    pub baseline_ms: Option<f64>,
    /// Consecutive intervals that decided the change (the rule's K).
    pub consecutive: u32,
    /// One sentence for people.
    pub message: String,
    /// The evidence-lake run directory the record was written to, when it was.
    pub evidence: Option<String>,
}

/// The rules in force.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RulesView {
    pub ttft_p95_ms: f64,
    pub consecutive: u32,
    pub relative_increase_pct: f64,
    #[serde(default)]
    pub relative_min_increase_ms: f64,
}

/// Webhook deliveries since the start.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WebhookView {
    /// Events delivered (a 2xx answer).
    pub delivered: u64,
    /// Attempts that failed (each retried until the attempts run out).
    pub failed_attempts: u64,
    /// Events given up after every attempt failed.
    pub abandoned: u64,
    /// Events dropped because the queue was full.
    pub dropped: u64,
}

/// Durations as whole milliseconds.
pub(crate) mod ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_is_tagged_and_durations_are_milliseconds() {
        let s = TargetStatus::Down {
            error_kind: "connect".into(),
            message: "refused".into(),
        };
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["state"], "down");
        assert_eq!(v["error_kind"], "connect");
        let w = LatencyWindow {
            window: Duration::from_secs(300),
            ..LatencyWindow::default()
        };
        let v = serde_json::to_value(w).unwrap();
        assert_eq!(v["window_ms"], 300_000);
        assert!(v["p95_ms"].is_null());
        let back: LatencyWindow = serde_json::from_value(v).unwrap();
        assert_eq!(back, w);
        assert_eq!(
            serde_json::to_value(AlertRule::TtftAbsolute).unwrap(),
            AlertRule::TtftAbsolute.as_str()
        );
    }
}
