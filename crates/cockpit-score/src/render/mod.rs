//! Renderers: every output is rendered from the Report JSON model (a
//! [`Report`], or a [`Certification`] that carries its report), never from
//! values computed elsewhere. Deterministic: no clock, no environment, so
//! the same input renders byte-for-byte the same output — with one
//! exception, asked for by the caller: a table coloured for a terminal
//! takes the terminal's width ([`new_table`]).

mod badge;
mod html;
mod junit;
mod markdown;
mod sarif;
mod terminal;

pub use badge::badge;
pub use html::html;
pub use junit::junit;
pub use markdown::{audit_markdown, certification_markdown, comparison_markdown, markdown};
pub use sarif::sarif;
pub use terminal::{audit_table, certification_table, comparison_table, table};

use std::borrow::Cow;

use cockpit_core::{Finding, Pillar, Report, Status};
use comfy_table::{ContentArrangement, Table, presets};

use crate::{Certification, ScoreError};

/// The width of a table written to a file or a pipe: fixed, so the same
/// report reads the same everywhere (and golden files pin it).
pub const FILE_WIDTH: u16 = 160;

/// Narrower terminals than this get [`FILE_WIDTH`] (and scroll) rather than
/// columns a character or two wide.
const MIN_TERMINAL_WIDTH: u16 = 40;

/// Every table of the project, in one style. Without colour (a file, a
/// pipe), [`FILE_WIDTH`] wide. With colour (the caller saw a terminal), as
/// wide as the terminal: `COLUMNS` when set to a number, else the width the
/// terminal reports; a terminal that reports less than 40 columns (a
/// pseudo-terminal of width 0, say) gets [`FILE_WIDTH`].
pub fn new_table(colour: bool) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    if !colour {
        t.force_no_tty();
        t.set_width(FILE_WIDTH);
        return t;
    }
    // The caller decided on colour (`--color always` into a pipe too):
    // comfy-table would otherwise drop it when stdout is not a terminal.
    t.enforce_styling();
    let columns = std::env::var("COLUMNS").ok();
    let terminal = t.width();
    t.set_width(terminal_width(columns.as_deref(), terminal));
    t
}

/// The width of a table on a terminal: `COLUMNS` when it is a number, else
/// what the terminal reports; under [`MIN_TERMINAL_WIDTH`] (a terminal of
/// width 0, a nonsense `COLUMNS`), [`FILE_WIDTH`].
fn terminal_width(columns: Option<&str>, terminal: Option<u16>) -> u16 {
    let width = columns
        .and_then(|c| c.trim().parse::<u16>().ok())
        .or(terminal)
        .unwrap_or(0);
    if width < MIN_TERMINAL_WIDTH {
        FILE_WIDTH
    } else {
        width
    }
}

/// An output format of `certify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// The approval matrix, the score and the findings, for a terminal.
    Table,
    /// The certification JSON (it carries the report).
    Json,
    /// For a pull-request comment.
    Markdown,
    /// JUnit XML: one test case per finding.
    Junit,
    /// SARIF 2.1.0, for code scanning.
    Sarif,
    /// A self-contained HTML page with charts.
    Html,
    /// A shields-style SVG badge.
    Badge,
}

impl Format {
    pub const ALL: [Format; 7] = [
        Format::Table,
        Format::Json,
        Format::Markdown,
        Format::Junit,
        Format::Sarif,
        Format::Html,
        Format::Badge,
    ];

    /// The file it is written to under `--out`.
    pub fn file_name(self) -> &'static str {
        match self {
            Format::Table => "certification.txt",
            Format::Json => "certification.json",
            Format::Markdown => "certification.md",
            Format::Junit => "junit.xml",
            Format::Sarif => "report.sarif",
            Format::Html => "report.html",
            Format::Badge => "badge.svg",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Json => "json",
            Format::Markdown => "markdown",
            Format::Junit => "junit",
            Format::Sarif => "sarif",
            Format::Html => "html",
            Format::Badge => "badge",
        }
    }

    /// Render a certification; `colour` only affects [`Format::Table`].
    pub fn render(self, cert: &Certification, colour: bool) -> Result<String, ScoreError> {
        Ok(match self {
            Format::Table => certification_table(cert, colour),
            Format::Json => {
                let mut s = serde_json::to_string_pretty(cert).map_err(|e| ScoreError::Render {
                    format: "json",
                    message: e.to_string(),
                })?;
                s.push('\n');
                s
            }
            Format::Markdown => certification_markdown(cert),
            Format::Junit => junit(cert)?,
            Format::Sarif => sarif(cert)?,
            Format::Html => html(cert),
            Format::Badge => badge(cert),
        })
    }
}

/// The most characters a table cell shows: a longer text is cut (its full
/// form stays in the JSON outputs). Table layout is costly on long unbroken
/// strings; a cell of this size lays out at once.
pub const CELL_MAX_CHARS: usize = 400;

/// `text` cut to at most `max` characters, the last one an ellipsis when it
/// was cut. Linear in `max`, whatever the text's length: only the first
/// `max` characters are looked at.
///
/// ```
/// use cockpit_score::render::truncate_cell;
/// assert_eq!(truncate_cell("short", 10), "short");
/// assert_eq!(truncate_cell("abcdefghijkl", 5), "abcd…");
/// assert_eq!(truncate_cell("ééééé", 5), "ééééé");
/// assert_eq!(truncate_cell(&"x".repeat(1 << 20), 400).chars().count(), 400);
/// ```
pub fn truncate_cell(text: &str, max: usize) -> Cow<'_, str> {
    let mut chars = text.char_indices();
    let cut = chars.nth(max.saturating_sub(1)).map(|(i, _)| i);
    match (cut, chars.next()) {
        (Some(at), Some(_)) => {
            let mut s = String::with_capacity(at + '…'.len_utf8());
            s.push_str(&text[..at]);
            s.push('…');
            Cow::Owned(s)
        }
        _ => Cow::Borrowed(text),
    }
}

pub(crate) fn status_label(s: Status) -> &'static str {
    match s {
        Status::Pass => "PASS",
        Status::Warn => "WARN",
        Status::Fail => "FAIL",
        Status::NotMeasured => "NOT MEASURED",
        Status::Error => "ERROR",
        Status::Skipped => "SKIPPED",
        _ => "?",
    }
}

/// Findings by pillar, then worst status first, then check id.
pub(crate) fn ordered(report: &Report) -> Vec<&Finding> {
    let mut v: Vec<&Finding> = report.findings.iter().collect();
    v.sort_by(|a, b| {
        (a.pillar, a.status.rank(), a.check_id.as_str(), &a.subject).cmp(&(
            b.pillar,
            b.status.rank(),
            b.check_id.as_str(),
            &b.subject,
        ))
    });
    v
}

/// `12 findings, 9 pass, 1 fail …` (and INTERRUPTED when partial).
pub fn summary_line(report: &Report) -> String {
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

/// For an audit (no gate): which pillars the report leaves unmeasured, and
/// what `certify` makes of that; `None` when every pillar was measured or
/// declared out of scope. `out_of_scope`: the pillars the configuration's
/// `[[gate.out_of_scope]]` declares (in force), named apart, as certify
/// does not fail on them.
pub(crate) fn coverage_line(report: &Report, out_of_scope: &[Pillar]) -> Option<String> {
    let (declared, missing): (Vec<Pillar>, Vec<Pillar>) = crate::unmeasured_pillars(report)
        .into_iter()
        .partition(|p| out_of_scope.contains(p));
    let names = |ps: &[Pillar]| {
        ps.iter()
            .map(|p| p.display_name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!(
            "Not measured: {} — certify fails on a pillar not measured unless [[gate.out_of_scope]] declares it",
            names(&missing)
        ));
    }
    if !declared.is_empty() {
        parts.push(format!(
            "Out of scope ([[gate.out_of_scope]]): {}",
            names(&declared)
        ));
    }
    (!parts.is_empty()).then(|| parts.join("\n"))
}

/// `name value (n=…)` for a finding's first `max` measurements.
pub(crate) fn evidence_lines(f: &Finding, max: usize) -> Vec<String> {
    f.measurements
        .iter()
        .take(max)
        .map(|m| format!("{} {} (n={})", m.name, m.display_value(), m.samples))
        .collect()
}

/// The provenance line: tool, config hash, git revision.
pub(crate) fn provenance_line(report: &Report) -> String {
    let mut parts = vec![format!(
        "{} {} · report schema {} · {}",
        report.tool.name, report.tool.version, report.schema_version, report.generated_at
    )];
    if let Some(p) = &report.provenance {
        if let Some(h) = &p.config_sha256 {
            parts.push(format!("config sha256 {}", &h[..h.len().min(12)]));
        }
        if let Some(g) = &p.git {
            parts.push(format!(
                "git {} (tree {}){}",
                &g.commit[..g.commit.len().min(12)],
                &g.tree[..g.tree.len().min(12)],
                if g.dirty { ", dirty" } else { "" }
            ));
        }
    }
    parts.join(" · ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_terminal_table_follows_columns_then_the_terminal_never_one_column_wide() {
        assert_eq!(terminal_width(Some("120"), Some(80)), 120);
        assert_eq!(terminal_width(None, Some(80)), 80);
        assert_eq!(terminal_width(Some("wide"), Some(100)), 100);
        // A pseudo-terminal of width 0, or a tiny COLUMNS: the file width.
        assert_eq!(terminal_width(None, Some(0)), FILE_WIDTH);
        assert_eq!(terminal_width(Some("3"), Some(200)), FILE_WIDTH);
        assert_eq!(terminal_width(None, None), FILE_WIDTH);
    }

    #[test]
    fn the_coverage_line_names_declared_pillars_apart() {
        use cockpit_core::{CheckId, CheckSpec, Severity};
        const TTFT: CheckSpec = CheckSpec {
            id: CheckId::new("NET-TTFT"),
            pillar: Pillar::Network,
            severity: Severity::High,
            title: "Time to first token",
        };
        let report = Report::new("t", "0", vec![TTFT.finding(Status::Pass, "ok")]);
        let all = coverage_line(&report, &[]).unwrap();
        assert!(
            all.starts_with("Not measured: Compute, State, CI/CD, Observability — certify fails"),
            "{all}"
        );
        assert!(!all.contains("Out of scope"), "{all}");
        let some = coverage_line(&report, &[Pillar::Cicd, Pillar::Network]).unwrap();
        assert!(
            some.contains("Not measured: Compute, State, Observability —"),
            "{some}"
        );
        assert!(
            some.ends_with("Out of scope ([[gate.out_of_scope]]): CI/CD"),
            "{some}"
        );
        let declared = [
            Pillar::Compute,
            Pillar::State,
            Pillar::Cicd,
            Pillar::Observability,
        ];
        assert_eq!(
            coverage_line(&report, &declared).unwrap(),
            "Out of scope ([[gate.out_of_scope]]): Compute, State, CI/CD, Observability"
        );
    }

    #[test]
    fn files_and_pipes_get_the_fixed_width() {
        let mut t = new_table(false);
        t.set_header(vec!["a"]);
        t.add_row(vec!["x".repeat(500)]);
        let text = t.to_string();
        let widest = text.lines().map(|l| l.chars().count()).max().unwrap();
        assert!(widest <= FILE_WIDTH as usize, "{widest}");
    }
}
