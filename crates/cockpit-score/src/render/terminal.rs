//! The terminal renderer: tables, coloured only when asked (the caller
//! decides: a TTY and no NO_COLOR).

use std::fmt::Write as _;

use cockpit_core::{Pillar, Report, Status};
use comfy_table::{Attribute, Cell, Color};

use super::{
    CELL_MAX_CHARS, coverage_line, evidence_lines, new_table, ordered, provenance_line,
    status_label, summary_line, truncate_cell,
};
use crate::{Certification, Comparison, RegressionStatus, SloStatus, Verdict, WaiverState};

fn status_cell(s: Status, colour: bool) -> Cell {
    let cell = Cell::new(status_label(s));
    if !colour {
        return cell;
    }
    let c = match s {
        Status::Pass => Color::Green,
        Status::Warn => Color::Yellow,
        Status::Fail | Status::Error => Color::Red,
        _ => Color::DarkGrey,
    };
    cell.fg(c).add_attribute(Attribute::Bold)
}

fn verdict_cell(v: Verdict, colour: bool) -> Cell {
    let cell = Cell::new(v.label());
    if !colour {
        return cell;
    }
    let c = match v {
        Verdict::Pass => Color::Green,
        Verdict::Warn => Color::Yellow,
        Verdict::Fail | Verdict::NotMeasured => Color::Red,
        _ => Color::DarkGrey,
    };
    cell.fg(c).add_attribute(Attribute::Bold)
}

/// A cell of text from the report, cut to [`CELL_MAX_CHARS`].
fn text_cell(text: &str) -> Cell {
    Cell::new(truncate_cell(text, CELL_MAX_CHARS))
}

/// An audit for the terminal: the findings table, then which pillars were
/// not measured (informative: an audit has no gate).
pub fn table(report: &Report, colour: bool) -> String {
    audit_table(report, colour, &[])
}

/// [`table`], naming the pillars `out_of_scope` (the configuration's
/// `[[gate.out_of_scope]]` in force) apart from the unmeasured ones.
pub fn audit_table(report: &Report, colour: bool, out_of_scope: &[Pillar]) -> String {
    let mut out = findings_table(report, colour);
    if let Some(line) = coverage_line(report, out_of_scope) {
        let _ = writeln!(out, "\n{line}");
    }
    out
}

/// The findings: one row per finding, then the moves to make.
fn findings_table(report: &Report, colour: bool) -> String {
    let mut t = new_table(colour);
    t.set_header(vec![
        "Status", "Check", "Pillar", "Subject", "Finding", "Evidence",
    ]);
    for f in ordered(report) {
        t.add_row(vec![
            status_cell(f.status, colour),
            text_cell(f.check_id.as_str()),
            Cell::new(f.pillar.display_name()),
            text_cell(f.subject.as_deref().unwrap_or("-")),
            text_cell(&f.summary),
            text_cell(&evidence_lines(f, 4).join("\n")),
        ]);
    }
    let mut out = String::new();
    let _ = writeln!(out, "{t}");
    let _ = writeln!(out, "{}", summary_line(report));
    let moves: Vec<_> = ordered(report)
        .into_iter()
        .filter(|f| {
            f.recommendation.is_some()
                && matches!(
                    f.status,
                    Status::Fail | Status::Warn | Status::NotMeasured | Status::Error
                )
        })
        .collect();
    if !moves.is_empty() {
        let _ = writeln!(out, "\nRecommended moves:");
        for f in moves {
            let _ = writeln!(
                out,
                "  {} {}{}: {}",
                f.check_id,
                f.subject.as_deref().unwrap_or(""),
                f.location
                    .as_ref()
                    .map(|l| format!(" ({l})"))
                    .unwrap_or_default(),
                f.recommendation.as_deref().unwrap_or("")
            );
        }
    }
    out
}

/// The approval matrix and the score, then the waivers and every finding.
pub fn certification_table(cert: &Certification, colour: bool) -> String {
    let mut out = String::new();
    let m = matrix(cert, colour);
    let _ = writeln!(out, "Infrastructure Approval Matrix");
    let _ = writeln!(out, "{m}");
    let verdict = if cert.passed { "PASSED" } else { "FAILED" };
    let verdict = if colour {
        let c = if cert.passed { "32" } else { "31" };
        format!("\u{1b}[1;{c}m{verdict}\u{1b}[0m")
    } else {
        verdict.to_string()
    };
    let _ = writeln!(
        out,
        "Score {} / 100 (threshold {:.1}): gate {verdict}",
        cert.score_label(),
        cert.threshold
    );
    if let (Some(u), Some(s)) = (cert.uncapped_score, cert.score)
        && u != s
    {
        let _ = writeln!(out, "  weighted score {u:.1}, capped by critical failure");
    }
    for r in &cert.reasons {
        let _ = writeln!(out, "  - {r}");
    }
    if !cert.waivers.is_empty() {
        let _ = writeln!(out, "\nWaivers:");
        for w in &cert.waivers {
            let tag = match w.state {
                WaiverState::InForce => "in force",
                WaiverState::Unused => "unused",
                WaiverState::Expired => "EXPIRED",
            };
            let _ = writeln!(out, "  [{tag}] {}", w.note);
        }
    }
    regressions(&mut out, cert);
    slos(&mut out, cert, colour);
    let _ = writeln!(out, "{}\n", provenance_line(&cert.report));
    out.push_str(&findings_table(&cert.report, colour));
    out
}

/// The approval matrix, a row per pillar.
fn matrix(cert: &Certification, colour: bool) -> comfy_table::Table {
    let mut m = new_table(colour);
    m.set_header(vec![
        "Pillar",
        "Status",
        "Score",
        "Primary risk",
        "Recommended move",
    ]);
    for p in &cert.pillars {
        let risk = p
            .primary_risk
            .as_ref()
            .map(|r| {
                let mut s = format!("{}: {}", r.check_id, r.summary);
                if let Some(fig) = &r.figure {
                    s.push_str(&format!("\n{fig}"));
                }
                s
            })
            .or_else(|| p.note.clone())
            .unwrap_or_else(|| "-".into());
        m.add_row(vec![
            Cell::new(p.pillar.display_name()),
            verdict_cell(p.verdict, colour),
            Cell::new(
                p.score
                    .map(|s| format!("{s:.1}"))
                    .unwrap_or_else(|| "-".into()),
            ),
            text_cell(&risk),
            text_cell(p.recommended_move.as_deref().unwrap_or("-")),
        ]);
    }
    m
}

/// The `[gate.regressions]` bounds held against the baseline, if any.
fn regressions(out: &mut String, cert: &Certification) {
    if !cert.regressions.is_empty() {
        let _ = writeln!(out, "\nRegression bounds:");
        for r in &cert.regressions {
            let _ = writeln!(out, "  [{}] {}", regression_label(r.status), r.summary);
        }
    }
}

/// `REGRESSED`, `within`, `noise`, `too few samples`.
pub(crate) fn regression_label(s: RegressionStatus) -> &'static str {
    match s {
        RegressionStatus::Regressed => "REGRESSED",
        RegressionStatus::Within => "within",
        RegressionStatus::Noise => "noise",
        _ => "too few samples",
    }
}

/// The SLOs, each with its subjects' figures.
fn slos(out: &mut String, cert: &Certification, colour: bool) {
    if !cert.slos.is_empty() {
        let _ = writeln!(out, "\nSLOs:");
        for o in &cert.slos {
            let label = slo_label(o.status);
            let label = if colour {
                let c = match o.status {
                    SloStatus::Pass => "32",
                    SloStatus::NotMeasured => "33",
                    _ => "31",
                };
                format!("\u{1b}[1;{c}m{label}\u{1b}[0m")
            } else {
                label.to_string()
            };
            let _ = writeln!(out, "  [{label}] {}: {}", o.slo, o.summary);
            for s in &o.subjects {
                let _ = writeln!(out, "      {:<12} {}", s.status.as_str(), s.figure);
            }
        }
    }
}

/// `PASS`, `FAIL`, `NOT MEASURED`, `INVALID`.
pub(crate) fn slo_label(s: SloStatus) -> &'static str {
    match s {
        SloStatus::Pass => "PASS",
        SloStatus::Fail => "FAIL",
        SloStatus::NotMeasured => "NOT MEASURED",
        _ => "INVALID",
    }
}

/// Changes against a baseline run, regressions first.
pub fn comparison_table(c: &Comparison) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nCompared with the run of {} ({} regression(s); measurements that moved ≥ {}%):",
        c.baseline_generated_at,
        c.regressions(),
        c.regression_percent
    );
    for s in &c.status_changes {
        let _ = writeln!(
            out,
            "  {} {} {}: {} → {}",
            if s.regression { "REGRESSION" } else { "change" },
            s.check_id,
            s.subject.as_deref().unwrap_or(""),
            s.before,
            s.after
        );
    }
    for m in &c.changes {
        let _ = writeln!(
            out,
            "  {} {} {} {}: {} {u} → {} {u} ({:+.1}%)",
            if m.regression { "REGRESSION" } else { "change" },
            m.check_id,
            m.subject.as_deref().unwrap_or(""),
            m.name,
            m.before,
            m.after,
            m.change_percent.unwrap_or(0.0),
            u = m.unit.suffix()
        );
    }
    if c.status_changes.is_empty() && c.changes.is_empty() {
        let _ = writeln!(out, "  no status change and no measurement moved that much");
    }
    out
}
