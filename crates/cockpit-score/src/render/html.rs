//! A self-contained HTML report: inline CSS and inline SVG charts with
//! their axes and units, no script and no network fetch. Every string from
//! the report (and so from the measured systems) is escaped: by maud, or,
//! for texts read as Markdown, by [`prose::markdown`], which keeps raw HTML
//! as text. Failures come first; a section with nothing to show is left out.

mod charts;
mod prose;

use cockpit_core::Status;
use maud::{DOCTYPE, Markup, PreEscaped, html as m};

use charts::{distribution_chart, distributions, pillar_chart};
use prose::markdown;

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
svg text.tick{fill:#57606a}svg text.axis-label{font-size:12px;fill:#57606a}
code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.85em;background:#f6f8fa;padding:.1em .3em;border-radius:3px}
td p{margin:0 0 .4rem}
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
                                (r.check_id) ": " (markdown(&r.summary))
                                @if let Some(fig) = &r.figure { br; small { (fig) } }
                            } @else if let Some(note) = &p.note { (markdown(note)) } @else { "-" }
                        }
                        td { @if let Some(mv) = &p.recommended_move { (markdown(mv)) } @else { "-" } }
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
                        td { (markdown(&f.summary)) }
                        td {
                            @for meas in &f.measurements {
                                div { strong { (meas.name) } " " (meas.display_value()) " (n=" (meas.samples) ")" br; small { (meas.method) } }
                            }
                        }
                        td { (markdown(f.recommendation.as_deref().unwrap_or(""))) }
                    }
                }
            }
        }
    }
}

/// The certification as one self-contained HTML page.
pub fn html(cert: &Certification) -> String {
    let report = &cert.report;
    let findings = ordered(report);
    let dists = distributions(&findings);
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
                        ul.reasons { @for r in &cert.reasons { li { (markdown(r)) } } }
                    }
                    p.meta { (summary_line(report)) br; (provenance_line(report)) }
                }
                @if !cert.pillars.is_empty() { (matrix(cert)) }
                @if !cert.pillars.is_empty() {
                    h2 { "Score per pillar" }
                    (pillar_chart(cert))
                }
                @if !dists.is_empty() {
                    h2 { "Latency distributions" }
                    div.charts { @for c in &dists { (distribution_chart(c)) } }
                }
                @if !cert.regressions.is_empty() {
                    h2 { "Regression bounds" }
                    ul.regressions {
                        @for r in &cert.regressions {
                            li data-status=(super::terminal::regression_label(r.status)) { (markdown(&r.summary)) }
                        }
                    }
                }
                @if !cert.waivers.is_empty() {
                    h2 { "Waivers" }
                    ul.waivers {
                        @for w in &cert.waivers {
                            li data-state=(match w.state { WaiverState::InForce => "in-force", WaiverState::Unused => "unused", _ => "expired" }) { (markdown(&w.note)) }
                        }
                    }
                }
                @if !report.findings.is_empty() { (findings_table(cert)) }
            }
        }
    };
    let mut s = page.into_string();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use cockpit_core::Report;

    use crate::{Date, GatePolicy, certify};

    #[test]
    fn sections_with_nothing_to_show_are_left_out() {
        let report = Report::new("agentops-cockpit", "0.1.0", Vec::new());
        let cert = certify(
            &report,
            &GatePolicy::default(),
            Date::new(2026, 3, 1).unwrap(),
        );
        let page = super::html(&cert);
        for absent in [
            "Latency distributions",
            "chart-distribution",
            "id=\"findings\"",
            "Regression bounds",
            "Waivers",
        ] {
            assert!(!page.contains(absent), "{absent} shown with nothing in it");
        }
        // The pillars are there, each NOT MEASURED: the matrix and the chart stay.
        assert!(page.contains("id=\"matrix\"") && page.contains("id=\"chart-pillars\""));
    }
}
