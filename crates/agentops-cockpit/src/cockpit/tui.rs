//! The live terminal dashboard (ratatui + crossterm), shown when stdout is
//! a terminal: one row per target, a details pane, a status line.
//!
//! Drawing is a pure function of a snapshot and the [`UiState`]
//! ([`draw`]), unit-tested on ratatui's `TestBackend`; keys change the
//! state ([`UiState::on_key`]); [`run`] only wires the terminal, the
//! monitor's snapshots and the keyboard together.
//!
//! The terminal is restored (raw mode off, alternate screen left, cursor
//! shown) on `q`, on Ctrl-C (in raw mode it arrives as a key, and is
//! treated like SIGINT: the run ends as interrupted), on SIGINT/SIGTERM
//! and on a panic (ratatui's hook restores the terminal before the
//! message is printed).

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cockpit_fleet::{AgentView, FleetSnapshot, LatencyWindow, TargetKind, TargetStatus};
use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Borders, Cell as TableCell, Paragraph, Row, Sparkline, Table, TableState, Wrap,
};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::CliError;
use crate::render::cell;

/// Redraw at least this often (the "next probe" countdown).
const TICK: Duration = Duration::from_millis(500);
/// How often the keyboard thread looks at its stop flag.
const KEY_POLL: Duration = Duration::from_millis(100);
/// The longest filter typed with `/`.
const MAX_FILTER: usize = 64;
/// Intervals shown in a row's sparkline.
const SPARK_WIDTH: usize = 8;
/// Eight levels of a text sparkline.
const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// The order of the rows; `s` cycles through them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SortKey {
    #[default]
    Name,
    /// Highest TTFT p95 first.
    TtftP95,
    /// Highest error rate first.
    Errors,
}

impl SortKey {
    fn next(self) -> SortKey {
        match self {
            SortKey::Name => SortKey::TtftP95,
            SortKey::TtftP95 => SortKey::Errors,
            SortKey::Errors => SortKey::Name,
        }
    }

    fn label(self) -> &'static str {
        match self {
            SortKey::Name => "name",
            SortKey::TtftP95 => "TTFT p95",
            SortKey::Errors => "errors",
        }
    }
}

/// What the keys have chosen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UiState {
    /// The selected target, by name (it stays selected when rows move).
    pub selected: Option<String>,
    /// The details pane is open.
    pub details: bool,
    pub sort: SortKey,
    /// Rows whose name contains this (case-insensitive).
    pub filter: String,
    /// `/` was typed: keys edit the filter until Enter or Esc.
    pub editing_filter: bool,
    /// Time since the snapshot was taken (for the countdown).
    pub age: Duration,
    /// `h`: the fleet hub's panels in place of the table.
    pub hub: bool,
    /// Lines the hub view is scrolled down (↑↓ PgUp PgDn Home End).
    pub hub_scroll: usize,
    /// Rows the hub's body had when last drawn (a page).
    pub hub_rows: std::cell::Cell<usize>,
}

/// What a key asks of the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Continue,
    /// `q`: leave the dashboard (exit 0).
    Quit,
    /// Ctrl-C: stop everything, as SIGINT does (exit 130).
    Interrupt,
}

impl UiState {
    /// The rows shown: filtered, then sorted.
    pub fn rows<'s>(&self, snap: &'s FleetSnapshot) -> Vec<&'s AgentView> {
        let needle = self.filter.to_lowercase();
        let mut rows: Vec<&AgentView> = snap
            .agents
            .iter()
            .filter(|a| needle.is_empty() || a.name.to_lowercase().contains(&needle))
            .collect();
        let desc = |a: Option<f64>, b: Option<f64>| {
            b.unwrap_or(f64::NEG_INFINITY)
                .total_cmp(&a.unwrap_or(f64::NEG_INFINITY))
        };
        match self.sort {
            SortKey::Name => rows.sort_by_cached_key(|a| a.name.to_lowercase()),
            SortKey::TtftP95 => rows.sort_by(|a, b| desc(p95(a), p95(b))),
            SortKey::Errors => {
                rows.sort_by(|a, b| desc(a.requests.error_rate, b.requests.error_rate));
            }
        }
        rows
    }

    /// The index of the selected row among `rows` (the first when none is).
    fn index(&self, rows: &[&AgentView]) -> Option<usize> {
        if rows.is_empty() {
            return None;
        }
        let found = self
            .selected
            .as_deref()
            .and_then(|s| rows.iter().position(|a| a.name == s));
        Some(found.unwrap_or(0))
    }

    fn select(&mut self, rows: &[&AgentView], delta: isize) {
        let Some(i) = self.index(rows) else { return };
        let j = i.saturating_add_signed(delta).min(rows.len() - 1);
        self.selected = Some(rows[j].name.clone());
    }

    /// In the hub view, the scrolling keys; whether `code` was one.
    fn scroll_hub(&mut self, code: KeyCode, snap: &FleetSnapshot) -> bool {
        let page = match self.hub_rows.get() {
            0 => 10,
            rows => rows,
        };
        let last = super::hub::max_scroll(super::hub::lines(&snap.hub).len(), page);
        let at = self.hub_scroll.min(last);
        self.hub_scroll = match code {
            KeyCode::Up | KeyCode::Char('k') => at.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => at + 1,
            KeyCode::PageUp => at.saturating_sub(page.saturating_sub(2).max(1)),
            KeyCode::PageDown => at + page.saturating_sub(2).max(1),
            KeyCode::Home => 0,
            KeyCode::End => last,
            _ => return false,
        }
        .min(last);
        true
    }

    /// Apply one key.
    pub fn on_key(&mut self, key: KeyEvent, snap: &FleetSnapshot) -> Step {
        if key.kind == KeyEventKind::Release {
            return Step::Continue;
        }
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return Step::Interrupt;
        }
        if self.editing_filter {
            match key.code {
                KeyCode::Esc => {
                    self.filter.clear();
                    self.editing_filter = false;
                }
                KeyCode::Enter => self.editing_filter = false,
                KeyCode::Backspace => {
                    self.filter.pop();
                }
                KeyCode::Char(c) if !c.is_control() && self.filter.chars().count() < MAX_FILTER => {
                    self.filter.push(c);
                }
                _ => {}
            }
            return Step::Continue;
        }
        if self.hub && self.scroll_hub(key.code, snap) {
            return Step::Continue;
        }
        let rows = self.rows(snap);
        match key.code {
            KeyCode::Char('q') => return Step::Quit,
            KeyCode::Up | KeyCode::Char('k') => self.select(&rows, -1),
            KeyCode::Down | KeyCode::Char('j') => self.select(&rows, 1),
            KeyCode::Enter => {
                self.select(&rows, 0);
                self.details = !self.details;
            }
            KeyCode::Char('s') => self.sort = self.sort.next(),
            KeyCode::Char('h') => {
                self.hub = !self.hub;
                self.hub_scroll = 0;
            }
            KeyCode::Char('/') => self.editing_filter = true,
            KeyCode::Esc => {
                self.filter.clear();
                self.details = false;
            }
            _ => {}
        }
        Step::Continue
    }
}

fn p95(a: &AgentView) -> Option<f64> {
    if a.ttft.count > 0 {
        a.ttft.p95_ms
    } else {
        a.e2e.p95_ms
    }
}

/// Draw the whole dashboard.
pub fn draw(frame: &mut Frame, snap: &FleetSnapshot, ui: &UiState) {
    let rows = ui.rows(snap);
    let index = ui.index(&rows);
    let details = if ui.details { 11 } else { 0 };
    let [top, table, pane, bottom] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(details),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    frame.render_widget(Paragraph::new(header(snap, ui)), top);
    if ui.hub {
        let rows = super::hub::draw(frame, table.union(pane), &snap.hub, ui.hub_scroll);
        ui.hub_rows.set(rows);
    } else {
        draw_table(frame, table, snap, &rows, index);
    }
    if let (false, true, Some(i)) = (ui.hub, ui.details, index) {
        draw_details(frame, pane, snap, rows[i]);
    }
    frame.render_widget(Paragraph::new(footer(snap, ui, rows.len())), bottom);
}

fn header(snap: &FleetSnapshot, ui: &UiState) -> Line<'static> {
    let next = match snap.next_probe_in_ms {
        Some(ms) => {
            let left = Duration::from_millis(ms).saturating_sub(ui.age);
            format!("next probe {:.1}s", left.as_secs_f64())
        }
        None => "no next probe".into(),
    };
    let firing = snap.firing().count();
    let alert_style = if firing > 0 {
        Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
    } else {
        Style::new().fg(Color::Green)
    };
    // The alert count first: a narrow terminal cuts the end of the line.
    Line::from(vec![
        Span::styled("Mission Control", Style::new().add_modifier(Modifier::BOLD)),
        Span::raw(" · "),
        Span::styled(format!("{firing} firing"), alert_style),
        Span::raw(format!(
            " · round {} · every {} · window {} · {next}",
            snap.round,
            humantime::format_duration(snap.interval),
            humantime::format_duration(snap.window),
        )),
    ])
}

fn footer(snap: &FleetSnapshot, ui: &UiState, shown: usize) -> Line<'static> {
    let filter = if ui.editing_filter {
        format!(
            " · filter: {}▏ (Enter keep, Esc clear)",
            cell(&ui.filter, MAX_FILTER)
        )
    } else if !ui.filter.is_empty() {
        format!(" · filter: {} (Esc clears)", cell(&ui.filter, MAX_FILTER))
    } else {
        String::new()
    };
    // The state first: a narrow terminal cuts the key help at the end.
    Line::from(vec![
        Span::raw(format!(
            "sort: {} · {shown}/{} shown{filter} · ",
            ui.sort.label(),
            snap.agents.len()
        )),
        Span::styled(
            if snap.hub.is_empty() {
                "↑↓ select · Enter details · s sort · / filter · q quit"
            } else if ui.hub {
                "↑↓ PgUp PgDn scroll · h fleet · q quit"
            } else {
                "↑↓ select · Enter · s sort · / filter · h hub · q quit"
            },
            Style::new().fg(Color::DarkGray),
        ),
    ])
}

fn status_text(s: &TargetStatus) -> (&'static str, Style) {
    match s {
        TargetStatus::Up => ("UP", Style::new().fg(Color::Green)),
        TargetStatus::Degraded { .. } => ("DEGRADED", Style::new().fg(Color::Yellow)),
        TargetStatus::Down { .. } => ("DOWN", Style::new().fg(Color::Red)),
        _ => ("UNKNOWN", Style::new().fg(Color::DarkGray)),
    }
}

fn ms(v: Option<f64>) -> String {
    match v {
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.1}"),
        None => "-".into(),
    }
}

/// `p50/p95 n=count`, or `-` without samples.
fn p50_p95(w: &LatencyWindow) -> String {
    if w.count == 0 {
        return "-".into();
    }
    format!("{}/{} n={}", ms(w.p50_ms), ms(w.p95_ms), w.count)
}

/// The newest `width` points of a p95 series as bars, scaled to the
/// larger of its maximum and `bound` (an interval without samples is a
/// space).
pub fn sparkline(a: &AgentView, width: usize, bound: f64) -> String {
    let series = &a.ttft_p95_series;
    let shown = &series[series.len().saturating_sub(width)..];
    let top = shown
        .iter()
        .filter_map(|p| p.p95_ms)
        .fold(bound, f64::max)
        .max(f64::MIN_POSITIVE);
    shown
        .iter()
        .map(|p| match p.p95_ms {
            Some(v) => {
                let level = (v / top * (BARS.len() - 1) as f64).round() as usize;
                BARS[level.min(BARS.len() - 1)]
            }
            None => ' ',
        })
        .collect()
}

fn alert_text(a: &AgentView) -> String {
    let rules: Vec<&str> = a
        .alerts
        .iter()
        .map(|f| match f.rule.as_str() {
            "ttft-absolute" => "ABS",
            "ttft-relative" => "REL",
            other => other,
        })
        .collect();
    if rules.is_empty() {
        "-".into()
    } else {
        format!("!{}", rules.join("+"))
    }
}

fn gate_text(a: &AgentView) -> String {
    match &a.last_gate {
        Some(g) => g.score.map_or_else(|| "-".into(), |s| format!("{s:.0}")),
        None => "-".into(),
    }
}

fn table_row(a: &AgentView, bound: f64) -> Row<'static> {
    let (status, style) = status_text(&a.status);
    // `[stm]`: its PING series, scaled to itself.
    let bound = if a.stm.is_some() { 0.0 } else { bound };
    let row_style = if a.alerts.is_empty() {
        Style::new()
    } else {
        Style::new().fg(Color::Red)
    };
    Row::new(vec![
        TableCell::from(cell(&a.name, 40)),
        TableCell::from(status).style(style),
        TableCell::from(crate::render::infra_cell(a).unwrap_or_else(|| p50_p95(&a.ttft))),
        TableCell::from(sparkline(a, SPARK_WIDTH, bound)).style(Style::new().fg(Color::Cyan)),
        TableCell::from(ms(a.itl.p50_ms)),
        TableCell::from(
            a.tokens_per_s
                .tokens_per_s
                .map_or_else(|| "-".into(), |t| format!("{t:.0}")),
        ),
        TableCell::from(
            a.requests
                .error_rate
                .map_or_else(|| "-".into(), |r| format!("{:.0}%", r * 100.0)),
        ),
        TableCell::from(gate_text(a)),
        TableCell::from(alert_text(a)),
    ])
    .style(row_style)
}

fn draw_table(
    frame: &mut Frame,
    area: Rect,
    snap: &FleetSnapshot,
    rows: &[&AgentView],
    index: Option<usize>,
) {
    let bound = snap.rules.ttft_p95_ms;
    let header = Row::new(vec![
        "target",
        "status",
        "TTFT p50/p95",
        "trend",
        "ITL50",
        "tok/s",
        "err",
        "gate",
        "alert",
    ])
    .style(Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED));
    // 80 columns leave 15 for the name.
    let widths = [
        Constraint::Fill(1),
        Constraint::Length(8),
        Constraint::Length(14),
        Constraint::Length(SPARK_WIDTH as u16),
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Length(4),
        Constraint::Length(4),
        Constraint::Length(8),
    ];
    // Only the rows that fit are built (a fleet of 1,000 would format
    // every row each redraw): the same view a table scrolled to keep the
    // selection on screen shows.
    let visible = usize::from(area.height.saturating_sub(1)).max(1);
    let offset = index.map_or(0, |i| (i + 1).saturating_sub(visible));
    let shown = rows.iter().skip(offset).take(visible);
    let table = Table::new(shown.map(|a| table_row(a, bound)), widths)
        .header(header)
        .column_spacing(1)
        .highlight_symbol(">")
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut state = TableState::default().with_selected(index.map(|i| i - offset));
    frame.render_stateful_widget(table, area, &mut state);
}

fn detail_lines(snap: &FleetSnapshot, a: &AgentView) -> Vec<Line<'static>> {
    let lat = |label: &str, w: &LatencyWindow| {
        Line::from(format!(
            "{label}: p50 {} · p95 {} · p99 {} · max {} ms (n={}, window {})",
            ms(w.p50_ms),
            ms(w.p95_ms),
            ms(w.p99_ms),
            ms(w.max_ms),
            w.count,
            humantime::format_duration(w.window)
        ))
    };
    let status = match &a.status {
        TargetStatus::Down {
            error_kind,
            message,
        } => format!("DOWN ({error_kind}): {}", cell(message, 200)),
        TargetStatus::Degraded { reason } => format!("DEGRADED: {}", cell(reason, 200)),
        other => other.label().to_uppercase(),
    };
    let errors: Vec<String> = a
        .requests
        .errors
        .iter()
        .map(|(k, n)| format!("{} {n}", cell(k, 24)))
        .collect();
    let mut lines = vec![
        Line::from(format!(
            "{} · {} · {} · {}",
            cell(&a.name, 60),
            kind(a.kind),
            cell(&a.protocol, 12),
            cell(&a.endpoint, 80)
        )),
        Line::from(format!("status: {status}")),
    ];
    let infra = crate::render::infra_lines(a);
    if !infra.is_empty() {
        lines.extend(infra.into_iter().map(Line::from));
        return lines;
    }
    lines.extend([
        lat("TTFT", &a.ttft),
        lat("ITL", &a.itl),
        lat("e2e", &a.e2e),
        Line::from(format!(
            "requests {} ok {} failed {} ({}) · tokens/s {} (n={})",
            a.requests.attempted,
            a.requests.succeeded,
            a.requests.failed,
            if errors.is_empty() {
                "-".into()
            } else {
                errors.join(", ")
            },
            a.tokens_per_s
                .tokens_per_s
                .map_or_else(|| "-".into(), |t| format!("{t:.1}")),
            a.tokens_per_s.count
        )),
    ]);
    lines.push(Line::from(gate_line(a)));
    if let Some(b) = &a.baseline {
        lines.push(Line::from(format!(
            "baseline TTFT p95 {} ms (n={}, {})",
            ms(Some(b.ttft_p95_ms)),
            b.count,
            cell(&b.source, 20)
        )));
    }
    lines.extend(alert_lines(snap, a));
    lines
}

/// One line per alert firing on `a`.
fn alert_lines<'a>(
    snap: &'a FleetSnapshot,
    a: &'a AgentView,
) -> impl Iterator<Item = Line<'static>> + 'a {
    a.alerts.iter().map(move |f| {
        Line::styled(
            format!(
                "ALERT {}: TTFT p95 {} ms > {} ms (n={}) since {} (rule: > {} ms for {} intervals)",
                f.rule.as_str(),
                ms(Some(f.ttft_p95_ms)),
                ms(Some(f.bound_ms)),
                f.count,
                cell(&f.since, 40),
                snap.rules.ttft_p95_ms,
                snap.rules.consecutive
            ),
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        )
    })
}

fn kind(k: TargetKind) -> &'static str {
    match k {
        TargetKind::Agent => "agent",
        TargetKind::Retrieval => "retrieval",
        TargetKind::Stm => "stm",
        TargetKind::Kubernetes => "kubernetes",
        _ => "target",
    }
}

fn gate_line(a: &AgentView) -> String {
    let Some(g) = &a.last_gate else {
        return "gate: no certification in the evidence lake".into();
    };
    let pillars: Vec<String> = g
        .pillars
        .iter()
        .map(|p| format!("{} {}", cell(&p.pillar, 16), cell(&p.verdict, 16)))
        .collect();
    format!(
        "gate {} {} (threshold {:.0}, {}) · {}",
        g.score.map_or_else(|| "-".into(), |s| format!("{s:.1}")),
        if g.passed { "PASS" } else { "FAIL" },
        g.threshold,
        cell(&g.run, 40),
        pillars.join(" · ")
    )
}

fn draw_details(frame: &mut Frame, area: Rect, snap: &FleetSnapshot, a: &AgentView) {
    let block = Block::default()
        .borders(Borders::TOP)
        .title(" details (Enter closes) ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [text, spark] = Layout::vertical([Constraint::Min(1), Constraint::Length(2)]).areas(inner);
    frame.render_widget(
        Paragraph::new(detail_lines(snap, a)).wrap(Wrap { trim: true }),
        text,
    );
    // The p95 series as bars, ms, the bound scaled in.
    let data: Vec<Option<u64>> = a
        .ttft_p95_series
        .iter()
        .map(|p| p.p95_ms.map(|v| v.round() as u64))
        .collect();
    let floor = if a.stm.is_some() {
        0
    } else {
        snap.rules.ttft_p95_ms.round() as u64
    };
    let top = data.iter().flatten().copied().fold(floor, u64::max);
    let shown = &data[data.len().saturating_sub(usize::from(spark.width))..];
    frame.render_widget(
        Sparkline::default()
            .data(shown)
            .max(top.max(1))
            .style(Style::new().fg(Color::Cyan)),
        spark,
    );
}

/// Restores the terminal when dropped (also on an early return).
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        ratatui::restore();
        let _ = crossterm::execute!(std::io::stdout(), crossterm::cursor::Show);
    }
}

/// Whether the dashboard can be shown: stdout and stdin are terminals.
pub fn available() -> bool {
    std::io::stdout().is_terminal() && std::io::stdin().is_terminal()
}

/// Show the dashboard until `q` (Ok), Ctrl-C (cancels `cancel`) or
/// `cancel`.
pub async fn run(
    mut snapshots: watch::Receiver<Arc<FleetSnapshot>>,
    cancel: &CancellationToken,
) -> Result<(), CliError> {
    let write_err = |source| CliError::Write {
        path: "<terminal>".into(),
        source,
    };
    // Installs a panic hook that restores the terminal first.
    let mut terminal = ratatui::try_init().map_err(write_err)?;
    let _restore = Restore;
    let (mut keys, stop, reader) = read_keys();
    let mut ui = UiState::default();
    let mut snap = snapshots.borrow_and_update().clone();
    let mut received = Instant::now();
    let mut tick = tokio::time::interval(TICK);
    let result = loop {
        ui.age = received.elapsed();
        if let Err(e) = terminal.draw(|f| draw(f, &snap, &ui)) {
            break Err(write_err(e));
        }
        tokio::select! {
            () = cancel.cancelled() => break Ok(()),
            _ = tick.tick() => {}
            r = snapshots.changed() => {
                if r.is_err() { break Ok(()) }
                snap = snapshots.borrow_and_update().clone();
                received = Instant::now();
            }
            k = keys.recv() => match k {
                Some(Event::Key(key)) => match ui.on_key(key, &snap) {
                    Step::Continue => {}
                    Step::Quit => break Ok(()),
                    Step::Interrupt => { cancel.cancel(); break Ok(()) }
                },
                Some(_) => {}
                None => break Ok(()),
            },
        }
    };
    stop.store(true, Ordering::Relaxed);
    let _ = tokio::task::spawn_blocking(move || reader.join()).await;
    result
}

/// Terminal events read on a thread of their own (crossterm reads block),
/// until the flag is set.
fn read_keys() -> (
    mpsc::Receiver<Event>,
    Arc<AtomicBool>,
    std::thread::JoinHandle<()>,
) {
    let (tx, rx) = mpsc::channel(64);
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let reader = std::thread::spawn(move || {
        while !flag.load(Ordering::Relaxed) {
            match event::poll(KEY_POLL) {
                Ok(true) => match event::read() {
                    Ok(e) => {
                        if tx.blocking_send(e).is_err() {
                            return;
                        }
                    }
                    Err(_) => return,
                },
                Ok(false) => {}
                Err(_) => return,
            }
        }
    });
    (rx, stop, reader)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cockpit::fixture;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    /// The screen as lines of text.
    fn screen(snap: &FleetSnapshot, ui: &UiState, w: u16, h: u16) -> Vec<String> {
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        t.draw(|f| draw(f, snap, ui)).unwrap();
        let buf = t.backend().buffer().clone();
        buf.content()
            .chunks(usize::from(w))
            .map(|row| row.iter().map(|c| c.symbol()).collect::<String>())
            .collect()
    }

    fn line_of<'a>(lines: &'a [String], needle: &str) -> &'a str {
        lines
            .iter()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?}:\n{}", lines.join("\n")))
    }

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn fits_80x24_with_every_row_and_the_slow_agent_marked() {
        let snap = fixture::snapshot();
        let lines = screen(&snap, &UiState::default(), 80, 24);
        let all = lines.join("\n");
        assert!(
            lines[0].starts_with("Mission Control · 1 firing · round 6 · every 1s"),
            "{all}"
        );
        assert!(lines[0].contains("next probe 1.0s"), "{all}");
        assert!(line_of(&lines, "TTFT p50/p95").contains("alert"), "{all}");
        let slow = line_of(&lines, "slow ");
        assert!(slow.contains("DEGRADED") && slow.contains("!ABS"), "{slow}");
        assert!(slow.contains("900/1080 n=20"), "{slow}");
        let dead = line_of(&lines, "dead ");
        assert!(dead.contains("DOWN") && dead.contains("100%"), "{dead}");
        let fast = line_of(&lines, "fast ");
        assert!(
            fast.contains("UP") && fast.contains("20.0/24.0 n=20"),
            "{fast}"
        );
        assert!(
            fast.contains('▁') || fast.contains('▂'),
            "sparkline: {fast}"
        );
        // The hostile name is there, its escape character shown as `?`.
        assert!(all.contains("<script>alert("), "{all}");
        assert!(!all.contains('\u{1b}'), "{all}");
        assert!(lines[23].contains("q quit"), "{all}");
        // Sorted by name: dead, fast, slow, then the hostile name? '<' sorts first.
        let order: Vec<usize> = ["<script>", "dead ", "fast ", "slow "]
            .iter()
            .map(|n| lines.iter().position(|l| l.contains(n)).unwrap())
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{all}");
    }

    #[test]
    fn keys_select_open_details_sort_and_filter() {
        let snap = fixture::snapshot();
        let mut ui = UiState::default();
        for k in [KeyCode::Down, KeyCode::Down, KeyCode::Down, KeyCode::Enter] {
            assert_eq!(ui.on_key(key(k), &snap), Step::Continue);
        }
        assert_eq!(ui.selected.as_deref(), Some("slow"));
        assert!(ui.details);
        let lines = screen(&snap, &ui, 80, 24);
        let all = lines.join("\n");
        assert!(all.contains("details (Enter closes)"), "{all}");
        assert!(
            all.contains("ALERT ttft-absolute: TTFT p95 1080 ms > 800 ms"),
            "{all}"
        );
        assert!(line_of(&lines, "slow ").starts_with('>'), "{all}");

        ui.on_key(key(KeyCode::Char('s')), &snap);
        assert_eq!(ui.sort, SortKey::TtftP95);
        assert_eq!(ui.rows(&snap)[0].name, "slow");
        ui.on_key(key(KeyCode::Char('s')), &snap);
        assert_eq!(ui.rows(&snap)[0].name, "dead", "highest error rate first");

        ui.on_key(key(KeyCode::Char('/')), &snap);
        for c in "FA".chars() {
            ui.on_key(key(KeyCode::Char(c)), &snap);
        }
        // `q` while typing a filter is a letter, not quit.
        assert_eq!(ui.on_key(key(KeyCode::Char('q')), &snap), Step::Continue);
        ui.on_key(key(KeyCode::Backspace), &snap);
        ui.on_key(key(KeyCode::Enter), &snap);
        let names: Vec<&str> = ui.rows(&snap).iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["fast"]);
        let footer = &screen(&snap, &ui, 80, 24)[23];
        assert!(footer.contains("1/4 shown · filter: FA"), "{footer}");
        ui.on_key(key(KeyCode::Esc), &snap);
        assert_eq!(ui.rows(&snap).len(), 4);

        assert_eq!(ui.on_key(key(KeyCode::Char('q')), &snap), Step::Quit);
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(ui.on_key(ctrl_c, &snap), Step::Interrupt);
    }

    #[test]
    fn stm_and_kubernetes_rows_show_their_figures_and_details() {
        let mut snap = fixture::snapshot();
        snap.agents.extend(fixture::infra_rows());
        let mut ui = UiState::default();
        let lines = screen(&snap, &ui, 80, 24);
        let all = lines.join("\n");
        let stm = line_of(&lines, "stm ");
        assert!(stm.contains("UP") && stm.contains("ping 0.2/0.4"), "{all}");
        let kube = line_of(&lines, "kubernetes/agen");
        assert!(
            kube.contains("DEGRADED") && kube.contains("1/2 rdy ↻2"),
            "{all}"
        );
        ui.selected = Some("kubernetes/agents".into());
        ui.details = true;
        let all = screen(&snap, &ui, 100, 30).join("\n");
        assert!(all.contains("replicas 1/2 ready"), "{all}");
        assert!(all.contains("restarts 2 since start"), "{all}");
        assert!(
            all.contains("not ready: chat-agent-b (chat-agent) CrashLoopBackOff"),
            "{all}"
        );
        ui.selected = Some("stm".into());
        let all = screen(&snap, &ui, 120, 30).join("\n");
        assert!(all.contains("PING p50 0.2 · p95 0.4"), "{all}");
        assert!(
            all.contains("memory 1.0 MiB of 64.0 MiB (noeviction)"),
            "{all}"
        );
    }

    #[test]
    fn h_shows_the_hub_in_80x24_and_back() {
        let mut snap = fixture::snapshot();
        snap.hub = fixture::hub();
        let mut ui = UiState::default();
        assert!(screen(&snap, &ui, 80, 24)[23].contains("h hub · q quit"));
        ui.on_key(key(KeyCode::Char('h')), &snap);
        let lines = screen(&snap, &ui, 80, 24);
        let all = lines.join("\n");
        for section in [
            "Shadow (v1 vs v2 TTFT)",
            "Hive Mind (caches)",
            "MCP hub",
            "RAG dropzone",
            "Watchtower",
        ] {
            assert!(all.contains(section), "{section}: {all}");
        }
        assert!(line_of(&lines, "dead ").contains("DOWN"), "{all}");
        assert!(line_of(&lines, "tools ").contains("UP"), "{all}");
        assert!(lines[23].contains("q quit"), "{all}");
        ui.on_key(key(KeyCode::Char('h')), &snap);
        let all = screen(&snap, &ui, 80, 24).join("\n");
        assert!(
            all.contains("TTFT p50/p95") && !all.contains("MCP hub"),
            "{all}"
        );
    }

    #[test]
    fn a_long_hub_scrolls_with_markers_in_80x24() {
        let mut snap = fixture::snapshot();
        snap.hub = fixture::hub();
        let kb = snap.hub.rag[0].clone();
        snap.hub.rag = (0..30)
            .map(|i| cockpit_fleet::hub::view::RagPanel {
                name: format!("kb-{i:02}"),
                ..kb.clone()
            })
            .collect();
        let mut ui = UiState::default();
        ui.on_key(key(KeyCode::Char('h')), &snap);
        let lines = screen(&snap, &ui, 80, 24);
        let all = lines.join("\n");
        // Header, hub title, 20 body lines, the marker, the footer.
        assert!(all.contains("Shadow (v1 vs v2 TTFT)"), "{all}");
        assert!(!all.contains("more above"), "{all}");
        assert!(lines[22].contains("more below"), "{all}");
        assert!(lines[23].contains("PgUp PgDn scroll"), "{all}");
        assert!(!all.contains("kb-29"), "{all}");
        let selected = ui.selected.clone();

        ui.on_key(key(KeyCode::Down), &snap);
        let all = screen(&snap, &ui, 80, 24).join("\n");
        assert!(all.contains("↑ 1 more above"), "{all}");
        assert!(all.contains("more below"), "{all}");
        assert_eq!(ui.selected, selected, "the fleet's selection is kept");

        for _ in 0..20 {
            ui.on_key(key(KeyCode::PageDown), &snap);
        }
        let lines = screen(&snap, &ui, 80, 24);
        let all = lines.join("\n");
        assert!(
            all.contains("more above") && !all.contains("more below"),
            "{all}"
        );
        assert!(all.contains("Watchtower") && all.contains("kb-29"), "{all}");
        assert!(!all.contains("Shadow (v1"), "{all}");
        // Past the end is the end: one key back moves at once.
        let end = ui.hub_scroll;
        ui.on_key(key(KeyCode::Up), &snap);
        assert_eq!(ui.hub_scroll, end - 1);

        ui.on_key(key(KeyCode::PageUp), &snap);
        assert!(ui.hub_scroll < end - 1, "{}", ui.hub_scroll);
        ui.on_key(key(KeyCode::Home), &snap);
        let all = screen(&snap, &ui, 80, 24).join("\n");
        assert!(
            all.contains("Shadow (v1") && !all.contains("more above"),
            "{all}"
        );
        // Back to the fleet and again to the hub: from the top.
        ui.on_key(key(KeyCode::End), &snap);
        ui.on_key(key(KeyCode::Char('h')), &snap);
        ui.on_key(key(KeyCode::Char('h')), &snap);
        assert_eq!(ui.hub_scroll, 0);
    }

    #[test]
    fn the_hub_window_fills_the_rows_and_marks_what_is_hidden() {
        use super::super::hub::{Window, window};
        let w = |offset, above, shown, below| Window {
            offset,
            shown,
            above,
            below,
        };
        assert_eq!(window(5, 10, 3), w(0, 0, 5, 0), "fits: no scrolling");
        assert_eq!(window(30, 10, 0), w(0, 0, 9, 21));
        assert_eq!(window(30, 10, 4), w(4, 4, 8, 18));
        assert_eq!(window(30, 10, 21), w(21, 21, 9, 0), "the last page");
        assert_eq!(window(30, 10, 99), w(21, 21, 9, 0), "clamped");
    }

    #[test]
    fn sparkline_scales_to_the_bound_and_shows_gaps() {
        let mut a = fixture::agent("a", 400.0);
        a.ttft_p95_series[1].p95_ms = None;
        let s = sparkline(&a, 10, 800.0);
        assert_eq!(s.chars().count(), 6);
        assert_eq!(s.chars().nth(1), Some(' '));
        // 420..520 ms under an 800 ms bound: never the top bars.
        assert!(s.chars().all(|c| c != '▇' && c != '█'), "{s}");
        assert_eq!(sparkline(&a, 3, 800.0).chars().count(), 3);
    }

    #[test]
    fn a_long_fleet_scrolls_to_keep_the_selection_on_screen() {
        let mut snap = fixture::snapshot();
        snap.agents = (0..100)
            .map(|i| fixture::agent(&format!("agent-{i:03}"), 20.0))
            .collect();
        let mut ui = UiState::default();
        let lines = screen(&snap, &ui, 80, 24);
        assert!(line_of(&lines, "agent-000").starts_with('>'));
        assert!(!lines.join("\n").contains("agent-099"));
        for _ in 0..60 {
            ui.on_key(key(KeyCode::Down), &snap);
        }
        let lines = screen(&snap, &ui, 80, 24);
        let all = lines.join("\n");
        assert!(line_of(&lines, "agent-060").starts_with('>'), "{all}");
        assert!(!all.contains("agent-000"), "scrolled: {all}");
        assert!(lines[23].starts_with("sort: name · 100/100 shown"), "{all}");
    }

    /// Not a test: `cargo xtask bench cockpit` runs it (ignored) to time a
    /// redraw of the dashboard with `COCKPIT_BENCH_AGENTS` rows (1,000) in
    /// a 200×50 and an 80×24 terminal, sorted by TTFT p95.
    #[test]
    #[ignore = "a benchmark: cargo xtask bench cockpit"]
    fn redraw_bench() {
        let n: usize = std::env::var("COCKPIT_BENCH_AGENTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1000);
        let mut snap = fixture::snapshot();
        snap.agents = (0..n)
            .map(|i| fixture::agent(&format!("agent-{i:04}"), 20.0 + (i % 97) as f64))
            .collect();
        let mut ui = UiState::default();
        ui.on_key(key(KeyCode::Char('s')), &snap);
        for (w, h) in [(200u16, 50u16), (80, 24)] {
            let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
            let mut times = Vec::new();
            for _ in 0..200 {
                let start = std::time::Instant::now();
                t.draw(|f| draw(f, &snap, &ui)).unwrap();
                times.push(start.elapsed().as_secs_f64() * 1000.0);
            }
            times.sort_by(f64::total_cmp);
            println!(
                "  dashboard redraw ({n} rows, {w}x{h}, sorted by TTFT p95): median {:.2} ms, p90 {:.2} ms, max {:.2} ms over {} redraws",
                times[times.len() / 2],
                times[times.len() * 9 / 10],
                times[times.len() - 1],
                times.len()
            );
        }
    }
}
