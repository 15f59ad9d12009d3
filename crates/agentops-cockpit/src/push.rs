//! `--push-gateway URL`: a run's figures pushed to a Prometheus
//! Pushgateway, for batch jobs (CI, cron) that Prometheus cannot scrape.
//!
//! The body is text exposition format 0.0.4, PUT to
//! `URL/metrics/job/agentops_cockpit/command/<command>` (PUT replaces the
//! group's previous push, so a metric that disappears does not linger).
//! The request goes through cockpit-probe's HTTP client: TLS, timeouts,
//! redaction and bounded reads as every probe.

use std::fmt::Write as _;
use std::time::Duration;

use cockpit_probe::load::LoadReport;
use cockpit_score::Certification;

use crate::CliError;

/// The Pushgateway job every push is grouped under.
pub const JOB: &str = "agentops_cockpit";

/// Exposition text being built: `# HELP`/`# TYPE` once per family.
#[derive(Debug, Default)]
pub struct Metrics(String);

impl Metrics {
    /// A gauge family with its samples (`labels` as `name="value"` pairs).
    pub fn gauge(&mut self, name: &str, help: &str, samples: &[(&[(&str, &str)], f64)]) {
        let _ = writeln!(self.0, "# HELP agentops_{name} {help}");
        let _ = writeln!(self.0, "# TYPE agentops_{name} gauge");
        for (labels, v) in samples {
            let labels: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            let labels = if labels.is_empty() {
                String::new()
            } else {
                format!("{{{}}}", labels.join(","))
            };
            let _ = writeln!(self.0, "agentops_{name}{labels} {}", number(*v));
        }
    }

    /// Exposition text rendered elsewhere (Mission Control's `/metrics`).
    pub fn raw(&mut self, text: &str) {
        self.0.push_str(text);
    }

    pub fn text(&self) -> &str {
        &self.0
    }
}

/// A label value escaped as the text format asks (`\`, `"`, newline).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else {
        format!("{v}")
    }
}

/// `certify`'s figures: score, threshold, passed, per-pillar scores and
/// findings by status.
pub fn certify_metrics(cert: &Certification) -> Metrics {
    let mut m = Metrics::default();
    let score = cert.score.unwrap_or(f64::NAN);
    m.gauge(
        "certify_score",
        "Overall score, 0-100 (NaN: nothing scored).",
        &[(&[], score)],
    );
    m.gauge(
        "certify_threshold",
        "The passing score.",
        &[(&[], cert.threshold)],
    );
    let passed = if cert.passed { 1.0 } else { 0.0 };
    m.gauge(
        "certify_passed",
        "1 when the gate passed, else 0.",
        &[(&[], passed)],
    );
    let pillars: Vec<(String, f64)> = cert
        .pillars
        .iter()
        .filter_map(|p| Some((p.pillar.to_string(), p.score?)))
        .collect();
    let labels: Vec<[(&str, &str); 1]> = pillars
        .iter()
        .map(|(p, _)| [("pillar", p.as_str())])
        .collect();
    let samples: Vec<(&[(&str, &str)], f64)> = labels
        .iter()
        .zip(&pillars)
        .map(|(l, (_, s))| (&l[..], *s))
        .collect();
    m.gauge(
        "certify_pillar_score",
        "Score of each scored pillar, 0-100.",
        &samples,
    );
    m
}

/// `load`'s figures: requests, errors, throughput, latency quantiles, SLOs.
pub fn load_metrics(r: &LoadReport) -> Metrics {
    let mut m = Metrics::default();
    m.gauge(
        "load_requests",
        "Requests of the run by result.",
        &[
            (&[("result", "ok")], r.requests.ok as f64),
            (&[("result", "error")], r.requests.errors as f64),
        ],
    );
    m.gauge(
        "load_achieved_rps",
        "Successful requests per second.",
        &[(&[], r.achieved_rps)],
    );
    let l = &r.latency;
    m.gauge(
        "load_latency_seconds",
        "Latency quantiles of the run's successful requests.",
        &[
            (&[("quantile", "0.5")], l.p50_ms / 1e3),
            (&[("quantile", "0.9")], l.p90_ms / 1e3),
            (&[("quantile", "0.95")], l.p95_ms / 1e3),
            (&[("quantile", "0.99")], l.p99_ms / 1e3),
            (&[("quantile", "0.999")], l.p999_ms / 1e3),
            (&[("quantile", "1")], l.max_ms / 1e3),
        ],
    );
    let pass = if r.slo_pass { 1.0 } else { 0.0 };
    m.gauge(
        "load_slo_pass",
        "1 when every --slo held, else 0.",
        &[(&[], pass)],
    );
    m
}

/// PUT `metrics` to the gateway's group for `command`; an answer other than
/// 2xx, or none, is an error naming the gateway (exit 3).
pub async fn push(gateway: &url::Url, command: &str, metrics: &Metrics) -> Result<(), CliError> {
    if !matches!(gateway.scheme(), "http" | "https") {
        return Err(CliError::Usage(format!(
            "--push-gateway {}: expected http:// or https://",
            cockpit_core::redact_url(gateway.as_str())
        )));
    }
    let mut url = gateway.clone();
    url.path_segments_mut()
        .map_err(|()| CliError::Usage("--push-gateway: not a base URL".into()))?
        .pop_if_empty()
        .extend(["metrics", "job", JOB, "command", command]);
    let opts = cockpit_probe::ProbeOptions {
        samples: 1,
        warmup: 0,
        concurrency: 1,
        timeout: Duration::from_secs(10),
        deadline: Duration::from_secs(30),
        method: http::Method::PUT,
        body: Some(metrics.text().to_string().into_bytes().into()),
        content_type: Some(http::HeaderValue::from_static(
            "text/plain; version=0.0.4; charset=utf-8",
        )),
        ..cockpit_probe::ProbeOptions::default()
    };
    let report = cockpit_probe::probe(url.as_str(), cockpit_probe::Protocol::Http, &opts).await?;
    if report.samples == 0 {
        let why = report
            .error_examples
            .values()
            .next()
            .cloned()
            .unwrap_or_default();
        return Err(CliError::Unreachable(format!(
            "--push-gateway {}: the push was not accepted: {why}",
            cockpit_core::redact_url(gateway.as_str())
        )));
    }
    crate::term::notice(format_args!(
        "figures pushed to {} (job {JOB}, command {command})",
        cockpit_core::redact_url(gateway.as_str())
    ));
    Ok(())
}
