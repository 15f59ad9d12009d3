//! A self-contained HTML report: inline CSS and inline SVG charts, no
//! script and no network fetch. Every string from the report (and so from
//! the measured systems) goes through maud's escaping.

use cockpit_core::{Finding, LatencySummary, Measurement, Status};
use maud::{DOCTYPE, Markup, PreEscaped, html as m};

use super::{ordered, provenance_line, status_label, summary_line};
use crate::{Certification, Verdict, WaiverState};

const CSS: &str = r#"
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1b1f24;background:#fff}
h1{margin:0 0 .3rem}h2{margin-top:2rem;border-bottom:1px solid #d0d7de;padding-bottom:.3rem}
.verdict{display:inline-block;padding:.3rem .8rem;border-radius:4px;color:#fff;font-weight:700}
.passed{background:#2da44e}.failed{background:#cf222e}
.meta{color:#57606a;font-size:.85rem}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{border:1px solid #d0d7de;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}
.s-pass,.v-pass{color:#1a7f37;font-weight:700}.s-warn,.v-warn{color:#9a6700;font-weight:700}
.s-fail,.s-error,.v-fail,.v-not-measured{color:#cf222e;font-weight:700}.s-not-measured,.s-skipped,.v-not-scored{color:#57606a;font-weight:700}
.charts{display:flex;flex-wrap:wrap;gap:1.5rem}
figure{margin:0}figcaption{font-size:.85rem;color:#57606a;max-width:480px}
svg text{font-family:system-ui,sans-serif;font-size:11px;fill:#1b1f24}
"#;

fn verdict_class(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "v-pass",
        Verdict::Warn => "v-warn",
        Verdict::Fail => "v-fail",
        Verdict::NotMeasured => "v-not-measured",
        _ => "v-not-scored",
    }
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

/// Horizontal bars: one per pillar score, with the threshold marked.
fn pillar_chart(cert: &Certification) -> Markup {
    let rows: Vec<_> = cert.pillars.iter().collect();
    let (left, width, row_h) = (110.0, 300.0, 26.0);
    // Room for `NOT MEASURED` after the bar.
    let h = row_h * rows.len().max(1) as f64 + 30.0;
    let tx = left + width * cert.threshold / 100.0;
    m! {
        svg.chart.chart-pillars id="chart-pillars" xmlns="http://www.w3.org/2000/svg"
            width=(left + width + 100.0) height=(h) role="img" aria-label="Score per pillar" {
            @for (i, p) in rows.iter().enumerate() {
                @let y = 10.0 + row_h * i as f64;
                text x="4" y=(y + 15.0) { (p.pillar.display_name()) }
                rect x=(left) y=(y) width=(width) height="18" fill="#eaeef2" {}
                @if let Some(s) = p.score {
                    rect.bar data-pillar=(p.pillar.as_str()) data-score=(format!("{s:.1}"))
                        x=(left) y=(y) width=(width * s / 100.0) height="18" fill=(bar_colour(s, cert.threshold)) {}
                    text x=(left + width + 6.0) y=(y + 14.0) { (format!("{s:.1}")) }
                } @else {
                    text x=(left + width + 6.0) y=(y + 14.0) { (p.verdict.label()) }
                }
            }
            line.threshold x1=(tx) x2=(tx) y1="4" y2=(h - 22.0) stroke="#1b1f24" stroke-dasharray="4 3" {}
            text x=(tx - 40.0) y=(h - 8.0) { (format!("threshold {:.0}", cert.threshold)) }
        }
    }
}

/// Vertical bars of a latency distribution's percentiles.
fn distribution_chart(f: &Finding, meas: &Measurement, d: &LatencySummary) -> Markup {
    let points = [
        ("p50", d.p50_ms),
        ("p90", d.p90_ms),
        ("p95", d.p95_ms),
        ("p99", d.p99_ms),
        ("p99.9", d.p999_ms),
        ("max", d.max_ms),
    ];
    let top = points.iter().map(|p| p.1).fold(0.0_f64, f64::max).max(1e-9);
    let (w, h, base, bw) = (380.0, 170.0, 140.0, 44.0);
    m! {
        figure.dist {
            svg.chart.chart-distribution xmlns="http://www.w3.org/2000/svg" width=(w) height=(h)
                data-check=(f.check_id.as_str()) data-measurement=(meas.name) role="img"
                aria-label=(format!("{} distribution", meas.name)) {
                line x1="20" x2=(w - 10.0) y1=(base) y2=(base) stroke="#8c959f" {}
                @for (i, (label, v)) in points.iter().enumerate() {
                    @let bh = 110.0 * v / top;
                    @let x = 24.0 + i as f64 * (bw + 12.0);
                    rect.bar data-quantile=(label) data-ms=(format!("{v:.3}"))
                        x=(x) y=(base - bh) width=(bw) height=(bh) fill="#0969da" {}
                    text x=(x) y=(base - bh - 4.0) { (format!("{v:.1}")) }
                    text x=(x + 6.0) y=(base + 14.0) { (label) }
                }
            }
            figcaption {
                (f.check_id) " · " (f.subject.as_deref().unwrap_or("-")) " · " (meas.name)
                " — ms, " (d.count) " samples; " (meas.method)
            }
        }
    }
}

fn status_class(s: Status) -> String {
    format!("s-{}", s.as_str())
}

/// The approval matrix: a row per pillar.
fn matrix(cert: &Certification) -> Markup {
    m! {
        h2 { "Infrastructure Approval Matrix" }
        table.matrix id="matrix" {
            thead { tr { th { "Pillar" } th { "Status" } th { "Score" } th { "Primary risk" } th { "Recommended move" } } }
            tbody {
                @for p in &cert.pillars {
                    tr data-pillar=(p.pillar.as_str()) {
                        td { (p.pillar.display_name()) }
                        td class=(verdict_class(p.verdict)) { (p.verdict.label()) }
                        td { (p.score.map(|s| format!("{s:.1}")).unwrap_or_else(|| "-".into())) }
                        td {
                            @if let Some(r) = &p.primary_risk {
                                (r.check_id) ": " (r.summary)
                                @if let Some(fig) = &r.figure { br; small { (fig) } }
                            } @else if let Some(note) = &p.note { (note) } @else { "-" }
                        }
                        td { (p.recommended_move.as_deref().unwrap_or("-")) }
                    }
                }
            }
        }
    }
}

/// Findings worst first (fail, error, not measured, warn, …), then by
/// pillar, check and subject: what needs a move is at the top.
fn worst_first(report: &cockpit_core::Report) -> Vec<&cockpit_core::Finding> {
    let mut v = ordered(report);
    v.sort_by_key(|f| f.status.rank());
    v
}

/// Every finding with its evidence and move; each check id links to its
/// page (a link the reader follows, nothing the page fetches).
fn findings_table(cert: &Certification) -> Markup {
    let report = &cert.report;
    m! {
        h2 { "Findings" }
        table.findings id="findings" {
            thead { tr { th { "Status" } th { "Check" } th { "Pillar" } th { "Subject" } th { "Finding" } th { "Evidence" } th { "Move" } } }
            tbody {
                @for f in worst_first(report) {
                    tr {
                        td class=(status_class(f.status)) { (status_label(f.status)) }
                        td { a.check href=(crate::doc_url(&f.doc)) { (f.check_id) } br; small { (f.title) } }
                        td { (f.pillar.display_name()) }
                        td { (f.subject.as_deref().unwrap_or("-")) @if let Some(l) = &f.location { br; small { (l.to_string()) } } }
                        td { (f.summary) }
                        td {
                            @for meas in &f.measurements {
                                div { strong { (meas.name) } " " (meas.display_value()) " (n=" (meas.samples) ")" br; small { (meas.method) } }
                            }
                        }
                        td { (f.recommendation.as_deref().unwrap_or("")) }
                    }
                }
            }
        }
    }
}

/// The certification as one self-contained HTML page.
pub fn html(cert: &Certification) -> String {
    let report = &cert.report;
    let dists: Vec<(&Finding, &Measurement, &LatencySummary)> = ordered(report)
        .into_iter()
        .flat_map(|f| {
            f.measurements.iter().filter_map(move |m| {
                m.distribution
                    .as_ref()
                    .filter(|d| d.count > 0)
                    .map(|d| (f, m, d))
            })
        })
        .collect();
    let page = m! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "agentops-cockpit — Sovereign Gate " (cert.score_label()) }
                style { (PreEscaped(CSS)) }
            }
            body {
                header {
                    h1 { "Sovereign Gate" }
                    p {
                        span.verdict.(if cert.passed { "passed" } else { "failed" }) id="verdict" {
                            (if cert.passed { "PASSED" } else { "FAILED" })
                        }
                        " score " strong id="score" { (cert.score_label()) } " / 100, threshold "
                        (format!("{:.1}", cert.threshold))
                    }
                    @if !cert.reasons.is_empty() {
                        ul.reasons { @for r in &cert.reasons { li { (r) } } }
                    }
                    p.meta { (summary_line(report)) br; (provenance_line(report)) }
                }
                (matrix(cert))
                h2 { "Score per pillar" }
                (pillar_chart(cert))
                h2 { "Latency distributions" }
                @if dists.is_empty() {
                    p.meta { "No measurement in this report carries a distribution." }
                } @else {
                    div.charts { @for (f, meas, d) in &dists { (distribution_chart(f, meas, d)) } }
                }
                @if !cert.regressions.is_empty() {
                    h2 { "Regression bounds" }
                    ul.regressions {
                        @for r in &cert.regressions {
                            li data-status=(super::terminal::regression_label(r.status)) { (r.summary) }
                        }
                    }
                }
                @if !cert.waivers.is_empty() {
                    h2 { "Waivers" }
                    ul.waivers {
                        @for w in &cert.waivers {
                            li data-state=(match w.state { WaiverState::InForce => "in-force", WaiverState::Unused => "unused", _ => "expired" }) { (w.note) }
                        }
                    }
                }
                (findings_table(cert))
            }
        }
    };
    let mut s = page.into_string();
    s.push('\n');
    s
}
