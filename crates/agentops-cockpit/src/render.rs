//! Renderers for the report and for probe results. Everything is rendered
//! from the data the libraries return (the Report JSON model), never from
//! values computed here.

use std::fmt::Write as _;

use cockpit_core::{Finding, Pillar, Report, Status};
use comfy_table::{Attribute, Cell, Color, ContentArrangement, Table, presets};

/// Whether to colour terminal output: only on a TTY, and never with NO_COLOR.
pub fn use_colour() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

fn status_cell(s: Status, colour: bool) -> Cell {
    let label = match s {
        Status::Pass => "PASS",
        Status::Warn => "WARN",
        Status::Fail => "FAIL",
        Status::NotMeasured => "NOT MEASURED",
        Status::Error => "ERROR",
        Status::Skipped => "SKIPPED",
        _ => "?",
    };
    let cell = Cell::new(label);
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

fn evidence(f: &Finding, max: usize) -> String {
    f.measurements
        .iter()
        .take(max)
        .map(|m| format!("{} {} (n={})", m.name, m.display_value(), m.samples))
        .collect::<Vec<_>>()
        .join("\n")
}

fn new_table(colour: bool) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    if !colour {
        t.force_no_tty();
    }
    if std::env::var_os("COLUMNS").is_none() && !colour {
        t.set_width(160);
    }
    t
}

/// The terminal table: one row per finding, then the moves to make.
pub fn table(report: &Report, colour: bool) -> String {
    let mut t = new_table(colour);
    t.set_header(vec![
        "Status", "Check", "Pillar", "Subject", "Finding", "Evidence",
    ]);
    for f in ordered(report) {
        t.add_row(vec![
            status_cell(f.status, colour),
            Cell::new(f.check_id.as_str()),
            Cell::new(f.pillar.display_name()),
            Cell::new(f.subject.as_deref().unwrap_or("-")),
            Cell::new(&f.summary),
            Cell::new(evidence(f, 4)),
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

fn summary_line(report: &Report) -> String {
    let mut parts = vec![format!("{} findings", report.summary.total)];
    for s in [
        Status::Pass,
        Status::Warn,
        Status::Fail,
        Status::NotMeasured,
        Status::Error,
        Status::Skipped,
    ] {
        let n = report.count(s);
        if n > 0 {
            parts.push(format!("{n} {s}"));
        }
    }
    let mut line = parts.join(", ");
    if report.interrupted {
        line.push_str(" — INTERRUPTED: partial results");
    }
    line
}

/// Findings by pillar, then worst status first, then check id.
fn ordered(report: &Report) -> Vec<&Finding> {
    let rank = |s: Status| match s {
        Status::Fail => 0,
        Status::Error => 1,
        Status::NotMeasured => 2,
        Status::Warn => 3,
        Status::Pass => 4,
        _ => 5,
    };
    let mut v: Vec<&Finding> = report.findings.iter().collect();
    v.sort_by(|a, b| {
        (a.pillar, rank(a.status), a.check_id.as_str(), &a.subject).cmp(&(
            b.pillar,
            rank(b.status),
            b.check_id.as_str(),
            &b.subject,
        ))
    });
    v
}

fn md_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '|' => out.push_str("\\|"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
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

/// Markdown that fits a pull-request comment.
pub fn markdown(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## agentops-cockpit audit\n");
    let _ = writeln!(
        out,
        "{} · {} {} · report schema {}\n",
        md_escape(&summary_line(report)),
        report.tool.name,
        report.tool.version,
        report.schema_version
    );
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
            let ev = f
                .measurements
                .iter()
                .take(4)
                .map(|m| format!("{} {} (n={})", m.name, m.display_value(), m.samples))
                .collect::<Vec<_>>()
                .join("; ");
            let _ = writeln!(
                out,
                "| {} | [{}]({}) | {} | {} | {} |",
                md_status(f.status),
                f.check_id,
                f.doc,
                md_escape(f.subject.as_deref().unwrap_or("-")),
                md_escape(&f.summary),
                md_escape(&ev)
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
    out
}

/// A probe result as a terminal table, read from its JSON form so the
/// table shows exactly what `--format json` would.
pub fn probe_table(v: &serde_json::Value, colour: bool) -> String {
    let mut out = String::new();
    let get = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("-").to_string();
    let _ = writeln!(out, "target:   {}", get("target"));
    let _ = writeln!(out, "protocol: {}", get("protocol"));
    let num = |k: &str| v.get(k).and_then(|x| x.as_u64()).unwrap_or(0);
    let _ = writeln!(
        out,
        "samples:  {} measured, {} warm-up excluded, {} attempted",
        num("samples"),
        num("warmup_excluded"),
        num("attempted")
    );
    if let Some(ts) = v.get("tokens_source").and_then(|x| x.as_str()) {
        let _ = writeln!(out, "tokens:   from {ts}");
    }
    if let Some(h) = v.get("health").and_then(|x| x.as_str()) {
        let _ = writeln!(out, "health:   {h}");
    }
    if v.get("interrupted").and_then(|x| x.as_bool()) == Some(true) {
        let _ = writeln!(out, "INTERRUPTED: partial results");
    }
    let mut t = new_table(colour);
    t.set_header(vec![
        "metric", "n", "p50", "p90", "p95", "p99", "p99.9", "max", "mean",
    ]);
    let unit = |k: &str| if k.contains("per_s") { "" } else { " ms" };
    if let Some(obj) = v.as_object() {
        for (k, d) in obj {
            let Some(d) = d.as_object() else { continue };
            if !d.contains_key("p50_ms") {
                continue;
            }
            let f = |field: &str| {
                d.get(field)
                    .and_then(|x| x.as_f64())
                    .map(|x| format!("{x:.2}{}", unit(k)))
                    .unwrap_or_else(|| "-".into())
            };
            t.add_row(vec![
                k.clone(),
                d.get("count")
                    .and_then(|x| x.as_u64())
                    .unwrap_or(0)
                    .to_string(),
                f("p50_ms"),
                f("p90_ms"),
                f("p95_ms"),
                f("p99_ms"),
                f("p999_ms"),
                f("max_ms"),
                f("mean_ms"),
            ]);
        }
    }
    let _ = writeln!(out, "{t}");
    if let Some(errs) = v
        .get("errors")
        .and_then(|x| x.as_object())
        .filter(|e| !e.is_empty())
    {
        let _ = writeln!(out, "errors:");
        for (k, n) in errs {
            let example = v
                .get("error_examples")
                .and_then(|e| e.get(k))
                .and_then(|x| x.as_str())
                .unwrap_or("");
            let _ = writeln!(out, "  {k}: {n}  {example}");
        }
    }
    if let Some(methods) = v.get("methods").and_then(|x| x.as_object()) {
        let _ = writeln!(out, "methods:");
        for (k, m) in methods {
            let _ = writeln!(out, "  {k}: {}", m.as_str().unwrap_or(""));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use cockpit_core::{CheckId, CheckSpec, Measurement, Severity, Unit};

    const T: CheckSpec = CheckSpec {
        id: CheckId::new("NET-TTFT"),
        pillar: Pillar::Network,
        severity: Severity::High,
        title: "t",
    };

    fn report() -> Report {
        Report::new(
            "agentops-cockpit",
            "0.1.0",
            vec![
                T.finding(Status::Fail, "p95 TTFT 912 ms is above 800 ms")
                    .with_subject("a|b")
                    .with_recommendation("warm pods <now>")
                    .with_measurement(Measurement::new(
                        "ttft_p95",
                        912.0,
                        Unit::Milliseconds,
                        "client-side",
                        20,
                    )),
                T.finding(Status::Pass, "ok").with_subject("c"),
            ],
        )
    }

    #[test]
    fn markdown_escapes_and_lists_moves() {
        let md = markdown(&report());
        assert!(md.contains("a\\|b"), "{md}");
        assert!(md.contains("warm pods &lt;now&gt;"), "{md}");
        assert!(md.contains("ttft_p95: 912 ms — client-side (n=20)"), "{md}");
        assert!(md.contains("1 fail"), "{md}");
    }

    #[test]
    fn table_has_no_escape_codes_without_colour() {
        let t = table(&report(), false);
        assert!(!t.contains('\u{1b}'), "{t}");
        assert!(t.contains("FAIL") && t.contains("PASS"));
        assert!(t.contains("Recommended moves"));
    }
}
