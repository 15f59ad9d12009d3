//! The report's inline SVG charts: each with its axes, tick marks and the
//! unit on the value axis. Plain SVG elements, no script.
//!
//! A probe reports several percentiles of one distribution (`ttft_p50`,
//! `ttft_p95`, `ttft_p99`), each measurement carrying the whole summary;
//! [`distributions`] folds them into one chart per distribution, with the
//! reported percentiles marked on it.

use cockpit_core::{Finding, LatencySummary};
use maud::{Markup, html as m};

use crate::Certification;

/// The percentiles a distribution chart draws, in order, with the
/// measurement-name suffix that reports each one.
const POINTS: [(&str, &str); 6] = [
    ("p50", "p50"),
    ("p90", "p90"),
    ("p95", "p95"),
    ("p99", "p99"),
    ("p99.9", "p999"),
    ("max", "max"),
];

/// One distribution as the report measured it: every check and measurement
/// reading it, and which of its percentiles they gate.
pub(super) struct DistributionChart<'a> {
    pub checks: Vec<&'a str>,
    pub subject: Option<&'a str>,
    /// `ttft` for `ttft_p50` / `ttft_p95` / `ttft_p99`.
    pub name: String,
    pub method: &'a str,
    pub summary: LatencySummary,
    /// Labels of [`POINTS`] a measurement reports (`p95` for `ttft_p95`).
    pub reported: Vec<&'static str>,
}

/// A measurement name split into its base and the percentile it reports:
/// `ttft_p95` → (`ttft`, `p95`); a name without a known suffix is its own base.
fn split_name(name: &str) -> (&str, Option<&'static str>) {
    name.rsplit_once('_')
        .and_then(|(base, suffix)| {
            POINTS
                .iter()
                .find(|(_, s)| *s == suffix)
                .map(|(label, _)| (base, Some(*label)))
        })
        .unwrap_or((name, None))
}

/// The charts of a report, one per distribution: measurements of the same
/// subject carrying the same summary are one distribution, whichever check
/// reports them. In the order the findings come.
pub(super) fn distributions<'a>(findings: &[&'a Finding]) -> Vec<DistributionChart<'a>> {
    let mut charts: Vec<DistributionChart<'a>> = Vec::new();
    for f in findings {
        for meas in &f.measurements {
            let Some(d) = meas.distribution.filter(|d| d.count > 0) else {
                continue;
            };
            let (base, point) = split_name(&meas.name);
            let subject = f.subject.as_deref();
            let i = match charts
                .iter()
                .position(|c| c.subject == subject && c.summary == d)
            {
                Some(i) => i,
                None => {
                    charts.push(DistributionChart {
                        checks: Vec::new(),
                        subject,
                        name: base.to_string(),
                        method: &meas.method,
                        summary: d,
                        reported: Vec::new(),
                    });
                    charts.len() - 1
                }
            };
            let c = &mut charts[i];
            if !c.checks.contains(&f.check_id.as_str()) {
                c.checks.push(f.check_id.as_str());
            }
            if let Some(p) = point.filter(|p| !c.reported.contains(p)) {
                c.reported.push(p);
            }
        }
    }
    charts
}

/// A "nice" tick step (1, 2 or 5 × 10ⁿ) giving about four intervals up to `top`.
fn tick_step(top: f64) -> f64 {
    let raw = (top / 4.0).max(1e-6);
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let nice = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

/// A tick label with as many decimals as the step needs.
fn tick_label(v: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10()).ceil() as usize
    };
    format!("{v:.decimals$}")
}

/// Vertical bars of one distribution's percentiles on a millisecond axis;
/// the percentiles its measurements report are drawn darker (`data-reported`).
pub(super) fn distribution_chart(c: &DistributionChart<'_>) -> Markup {
    let d = &c.summary;
    let values = [d.p50_ms, d.p90_ms, d.p95_ms, d.p99_ms, d.p999_ms, d.max_ms];
    let step = tick_step(values.iter().copied().fold(0.0, f64::max));
    let ticks = (values.iter().copied().fold(0.0, f64::max) / step)
        .ceil()
        .max(1.0) as usize;
    let top = step * ticks as f64;
    // Plot area: x from `left` to `right`, y from `upper` down to `base`.
    let (w, h, left, right, upper, base) = (430.0, 220.0, 58.0, 420.0, 16.0, 170.0);
    let y = |v: f64| px(base - (base - upper) * v / top);
    let slot = (right - left) / POINTS.len() as f64;
    let bw = px(slot * 0.7);
    let checks = c.checks.join(" ");
    m! {
        figure.dist {
            svg.chart.chart-distribution xmlns="http://www.w3.org/2000/svg" width=(w) height=(h)
                data-check=(checks) data-measurement=(c.name) role="img"
                aria-label=(format!("{} distribution, milliseconds", c.name)) {
                @for t in 0..=ticks {
                    @let v = step * t as f64;
                    line.grid x1=(left) x2=(right) y1=(y(v)) y2=(y(v)) stroke="#eaeef2" {}
                    text.tick text-anchor="end" x=(left - 5.0) y=(px(y(v) + 4.0)) { (tick_label(v, step)) }
                }
                line.axis.y-axis x1=(left) x2=(left) y1=(upper) y2=(base) stroke="#57606a" {}
                line.axis.x-axis x1=(left) x2=(right) y1=(base) y2=(base) stroke="#57606a" {}
                text.axis-label.y-label text-anchor="middle" transform=(format!("translate(14 {}) rotate(-90)", (upper + base) / 2.0)) {
                    "latency (ms)"
                }
                text.axis-label.x-label text-anchor="middle" x=((left + right) / 2.0) y=(h - 6.0) { "percentile" }
                @for (i, ((label, _), v)) in POINTS.iter().zip(values).enumerate() {
                    @let x = px(left + slot * i as f64 + (slot - bw) / 2.0);
                    @let reported = c.reported.contains(label);
                    rect.bar data-quantile=(label) data-ms=(format!("{v:.3}")) data-reported=(reported)
                        x=(x) y=(y(v)) width=(bw) height=(px(base - y(v))) fill=(if reported { "#0550ae" } else { "#79b8ff" }) {}
                    text text-anchor="middle" x=(px(x + bw / 2.0)) y=(px(y(v) - 4.0)) { (format!("{v:.1}")) }
                    text text-anchor="middle" x=(px(x + bw / 2.0)) y=(base + 15.0) { (label) }
                }
            }
            figcaption {
                (c.checks.join(", ")) " · " (c.subject.unwrap_or("-")) " · " (c.name)
                " — " (d.count) " samples; " (c.method)
                @if !c.reported.is_empty() { "; reported: " (c.reported.join(", ")) " (dark bars)" }
            }
        }
    }
}

/// Horizontal bars: one per pillar score on a 0–100 axis, the threshold marked.
pub(super) fn pillar_chart(cert: &Certification) -> Markup {
    let (left, width, row_h, upper) = (110.0, 300.0, 26.0, 22.0);
    let base = upper + row_h * cert.pillars.len().max(1) as f64;
    // Room for `NOT MEASURED` after the bar, for tick labels and the axis title below.
    let (w, h) = (left + width + 100.0, base + 40.0);
    let x = |score: f64| px(left + width * score / 100.0);
    let tx = x(cert.threshold);
    m! {
        svg.chart.chart-pillars id="chart-pillars" xmlns="http://www.w3.org/2000/svg"
            width=(w) height=(h) role="img" aria-label="Score per pillar, 0 to 100" {
            @for t in [0.0, 25.0, 50.0, 75.0, 100.0] {
                line.grid x1=(x(t)) x2=(x(t)) y1=(upper) y2=(base) stroke="#eaeef2" {}
                text.tick text-anchor="middle" x=(x(t)) y=(base + 14.0) { (format!("{t:.0}")) }
            }
            @for (i, p) in cert.pillars.iter().enumerate() {
                @let y = upper + 4.0 + row_h * i as f64;
                text x="4" y=(y + 14.0) { (p.pillar.display_name()) }
                @if let Some(s) = p.score {
                    rect.bar data-pillar=(p.pillar.as_str()) data-score=(format!("{s:.1}"))
                        x=(left) y=(y) width=(px(width * s / 100.0)) height="18" fill=(bar_colour(s, cert.threshold)) {}
                    text x=(left + width + 6.0) y=(y + 14.0) { (format!("{s:.1}")) }
                } @else {
                    text x=(left + width + 6.0) y=(y + 14.0) { (p.verdict.label()) }
                }
            }
            line.axis.x-axis x1=(left) x2=(left + width) y1=(base) y2=(base) stroke="#57606a" {}
            line.axis.y-axis x1=(left) x2=(left) y1=(upper) y2=(base) stroke="#57606a" {}
            text.axis-label.x-label text-anchor="middle" x=(left + width / 2.0) y=(h - 6.0) { "score (points of 100)" }
            line.threshold x1=(tx) x2=(tx) y1=(upper - 4.0) y2=(base) stroke="#1b1f24" stroke-dasharray="4 3" {}
            text text-anchor="middle" x=(tx) y=(upper - 8.0) { (format!("threshold {:.0}", cert.threshold)) }
        }
    }
}

/// A coordinate rounded to a tenth of a pixel: finer than any screen shows,
/// and short in the page.
fn px(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn bar_colour(score: f64, threshold: f64) -> &'static str {
    if score >= threshold {
        "#2da44e"
    } else if score >= threshold - 20.0 {
        "#bf8700"
    } else {
        "#cf222e"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cockpit_core::{CheckId, CheckSpec, Measurement, Pillar, Severity, Status, Unit};

    const TTFT: CheckSpec = CheckSpec {
        id: CheckId::new("NET-TTFT"),
        pillar: Pillar::Network,
        severity: Severity::High,
        title: "Time to first token",
    };

    fn summary(p50: f64) -> LatencySummary {
        LatencySummary {
            count: 200,
            min_ms: p50 / 2.0,
            mean_ms: p50,
            p50_ms: p50,
            p90_ms: p50 * 1.5,
            p95_ms: p50 * 2.0,
            p99_ms: p50 * 3.0,
            p999_ms: p50 * 4.0,
            max_ms: p50 * 5.0,
        }
    }

    fn measured(name: &str, s: LatencySummary) -> Measurement {
        Measurement::new(name, s.p50_ms, Unit::Milliseconds, "client", s.count).with_distribution(s)
    }

    #[test]
    fn percentiles_of_one_distribution_are_one_chart() {
        let (a, b) = (summary(100.0), summary(300.0));
        let chat = TTFT
            .finding(Status::Pass, "ok")
            .with_subject("chat")
            .with_measurement(measured("ttft_p95", a))
            .with_measurement(measured("ttft_p50", a))
            .with_measurement(measured("ttft_p99", a));
        // Same figures, another agent: its own chart.
        let search = TTFT
            .finding(Status::Pass, "ok")
            .with_subject("search")
            .with_measurement(measured("ttft_p95", a))
            .with_measurement(measured("itl_p99", b));
        let charts = distributions(&[&chat, &search]);
        assert_eq!(charts.len(), 3);
        assert_eq!(charts[0].name, "ttft");
        assert_eq!(charts[0].reported, ["p95", "p50", "p99"]);
        assert_eq!(charts[0].subject, Some("chat"));
        assert_eq!(charts[1].subject, Some("search"));
        assert_eq!(charts[2].name, "itl");
        assert_eq!(charts[2].reported, ["p99"]);
    }

    #[test]
    fn names_split_into_base_and_percentile() {
        assert_eq!(split_name("ttft_p999"), ("ttft", Some("p99.9")));
        assert_eq!(split_name("connect_rtt_p50"), ("connect_rtt", Some("p50")));
        assert_eq!(
            split_name("first_request_ttft"),
            ("first_request_ttft", None)
        );
    }

    #[test]
    fn ticks_are_round_and_cover_the_top() {
        assert_eq!(tick_step(912.0), 500.0);
        assert_eq!(tick_step(4.1), 2.0);
        assert_eq!(tick_step(0.3), 0.1);
        assert_eq!(tick_label(0.2, 0.1), "0.2");
        assert_eq!(tick_label(1500.0, 500.0), "1500");
    }
}
