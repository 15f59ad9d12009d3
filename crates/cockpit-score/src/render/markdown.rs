//! Markdown that fits a pull-request comment.

use std::fmt::Write as _;

use cockpit_core::{Pillar, Report, Status};

use super::{CELL_MAX_CHARS, ordered, provenance_line, summary_line, truncate_cell};
use crate::{Certification, Comparison, SloStatus, Verdict, WaiverState};

/// Escape text for a Markdown table cell (and against inline HTML).
pub(crate) fn md_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '|' => out.push_str("\\|"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A table cell: cut to [`CELL_MAX_CHARS`], then escaped.
fn md_cell(s: &str) -> String {
    md_escape(&truncate_cell(s, CELL_MAX_CHARS))
}

fn md_status(s: Status) -> &'static str {
    match s {
        Status::Pass => "✅ pass",
        Status::Warn => "⚠️ warn",
        Status::Fail => "❌ fail",
        Status::NotMeasured => "❔ not measured",
        Status::Error => "💥 error",
        Status::Skipped => "➖ skipped",
        _ => "?",
    }
}

fn md_verdict(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "✅ PASS",
        Verdict::Warn => "⚠️ WARN",
        Verdict::Fail => "❌ FAIL",
        Verdict::NotMeasured => "❔ NOT MEASURED",
        Verdict::OutOfScope => "➖ OUT OF SCOPE",
        _ => "➖ NOT SCORED",
    }
}

/// The findings part of a report: a table per pillar and the evidence.
fn findings(out: &mut String, report: &Report) {
    for pillar in Pillar::ALL {
        let fs: Vec<_> = ordered(report)
            .into_iter()
            .filter(|f| f.pillar == pillar)
            .collect();
        if fs.is_empty() {
            continue;
        }
        let _ = writeln!(out, "### {}\n", pillar.display_name());
        let _ = writeln!(out, "| Status | Check | Subject | Finding | Evidence |");
        let _ = writeln!(out, "|---|---|---|---|---|");
        for f in &fs {
            let ev = super::evidence_lines(f, 4).join("; ");
            let _ = writeln!(
                out,
                "| {} | [{}]({}) | {} | {} | {} |",
                md_status(f.status),
                f.check_id,
                f.doc,
                md_cell(f.subject.as_deref().unwrap_or("-")),
                md_cell(&f.summary),
                md_cell(&ev)
            );
        }
        let _ = writeln!(out);
    }
    let details: Vec<_> = ordered(report)
        .into_iter()
        .filter(|f| !matches!(f.status, Status::Pass | Status::Skipped))
        .collect();
    if !details.is_empty() {
        let _ = writeln!(
            out,
            "<details><summary>Evidence and recommended moves</summary>\n"
        );
        for f in details {
            let _ = writeln!(
                out,
                "**{} — {}** ({})  ",
                f.check_id,
                md_escape(f.subject.as_deref().unwrap_or("")),
                md_status(f.status)
            );
            if let Some(l) = &f.location {
                let _ = writeln!(out, "Location: `{}`  ", md_escape(&l.to_string()));
            }
            if let Some(r) = &f.recommendation {
                let _ = writeln!(out, "Move: {}  ", md_escape(r));
            }
            for m in &f.measurements {
                let _ = writeln!(
                    out,
                    "- {}: {} — {} (n={})",
                    m.name,
                    m.display_value(),
                    md_escape(&m.method),
                    m.samples
                );
            }
            let _ = writeln!(out);
        }
        let _ = writeln!(out, "</details>");
    }
}

/// An audit report (no gate) as Markdown.
pub fn markdown(report: &Report) -> String {
    audit_markdown(report, &[])
}

/// [`markdown`], naming the pillars `out_of_scope` (the configuration's
/// `[[gate.out_of_scope]]` in force) apart from the unmeasured ones.
pub fn audit_markdown(report: &Report, out_of_scope: &[Pillar]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## agentops-cockpit audit\n");
    let _ = writeln!(
        out,
        "{} · {}\n",
        md_escape(&summary_line(report)),
        md_escape(&provenance_line(report))
    );
    if let Some(text) = super::coverage_line(report, out_of_scope) {
        for line in text.lines() {
            let _ = writeln!(out, "{}\n", md_escape(line));
        }
    }
    findings(&mut out, report);
    out
}

/// The certification: verdict and score, the approval matrix, waivers, findings.
pub fn certification_markdown(cert: &Certification) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## Sovereign Gate: {} — score {} / 100 (threshold {:.1})\n",
        if cert.passed {
            "✅ PASSED"
        } else {
            "❌ FAILED"
        },
        cert.score_label(),
        cert.threshold
    );
    for r in &cert.reasons {
        let _ = writeln!(out, "- {}", md_escape(r));
    }
    if !cert.reasons.is_empty() {
        let _ = writeln!(out);
    }
    matrix(&mut out, cert);
    waivers(&mut out, cert);
    regressions(&mut out, cert);
    slos(&mut out, cert);
    let _ = writeln!(
        out,
        "<sub>{} · {}</sub>\n",
        md_escape(&summary_line(&cert.report)),
        md_escape(&provenance_line(&cert.report))
    );
    findings(&mut out, &cert.report);
    out
}

/// The approval matrix as a Markdown table, a row per pillar.
fn matrix(out: &mut String, cert: &Certification) {
    let _ = writeln!(
        out,
        "| Pillar | Status | Score | Primary risk | Recommended move |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    for p in &cert.pillars {
        let risk = p
            .primary_risk
            .as_ref()
            .map(|r| {
                let fig = r
                    .figure
                    .as_deref()
                    .map(|f| format!(" ({f})"))
                    .unwrap_or_default();
                md_cell(&format!("{}: {}{fig}", r.check_id, r.summary))
            })
            .or_else(|| p.note.as_deref().map(md_cell))
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            p.pillar.display_name(),
            md_verdict(p.verdict),
            p.score
                .map(|s| format!("{s:.1}"))
                .unwrap_or_else(|| "-".into()),
            risk,
            md_cell(p.recommended_move.as_deref().unwrap_or("-"))
        );
    }
    let _ = writeln!(out);
}

/// The waivers and their state, when there are any.
fn waivers(out: &mut String, cert: &Certification) {
    if !cert.waivers.is_empty() {
        let _ = writeln!(out, "**Waivers**\n");
        for w in &cert.waivers {
            let tag = match w.state {
                WaiverState::InForce => "🟡 in force",
                WaiverState::Unused => "⚪ unused",
                WaiverState::Expired => "🔴 EXPIRED",
            };
            let _ = writeln!(out, "- {tag}: {}", md_escape(&w.note));
        }
        let _ = writeln!(out);
    }
}

/// The `[gate.regressions]` bounds held against the baseline, if any.
fn regressions(out: &mut String, cert: &Certification) {
    if !cert.regressions.is_empty() {
        let _ = writeln!(out, "**Regression bounds**\n");
        for r in &cert.regressions {
            let _ = writeln!(
                out,
                "- {}: {}",
                super::terminal::regression_label(r.status),
                md_escape(&r.summary)
            );
        }
        let _ = writeln!(out);
    }
}

/// The SLOs and their evidence, when there are any.
fn slos(out: &mut String, cert: &Certification) {
    if !cert.slos.is_empty() {
        let _ = writeln!(out, "**SLOs**\n");
        let _ = writeln!(out, "| Status | SLO | Evidence |");
        let _ = writeln!(out, "|---|---|---|");
        for o in &cert.slos {
            let status = match o.status {
                SloStatus::Pass => "✅ pass",
                SloStatus::Fail => "❌ fail",
                SloStatus::NotMeasured => "❔ not measured",
                _ => "💥 invalid",
            };
            let evidence = if o.subjects.is_empty() {
                o.summary.clone()
            } else {
                o.subjects
                    .iter()
                    .map(|s| format!("{} {}", s.status.as_str(), s.figure))
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            let _ = writeln!(
                out,
                "| {status} | `{}` | {} |",
                o.slo.replace('`', "'"),
                md_cell(&evidence)
            );
        }
        let _ = writeln!(out);
    }
}

/// Changes against a baseline run, as Markdown.
pub fn comparison_markdown(c: &Comparison) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### Compared with {} — {} regression(s)\n",
        md_escape(&c.baseline_generated_at),
        c.regressions()
    );
    if c.changes.is_empty() && c.status_changes.is_empty() {
        let _ = writeln!(
            out,
            "No status change, and no measurement moved by {}% or more.",
            c.regression_percent
        );
        return out;
    }
    let _ = writeln!(
        out,
        "| | Check | Subject | What | Before | After | Change |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for s in &c.status_changes {
        let _ = writeln!(
            out,
            "| {} | {} | {} | status | {} | {} | |",
            if s.regression { "🔻" } else { "·" },
            s.check_id,
            md_cell(s.subject.as_deref().unwrap_or("-")),
            s.before,
            s.after
        );
    }
    for m in &c.changes {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} {u} | {} {u} | {:+.1}% |",
            if m.regression { "🔻" } else { "·" },
            m.check_id,
            md_cell(m.subject.as_deref().unwrap_or("-")),
            m.name,
            m.before,
            m.after,
            m.change_percent.unwrap_or(0.0),
            u = m.unit.suffix()
        );
    }
    out
}
