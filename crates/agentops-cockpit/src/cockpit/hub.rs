//! The fleet hub's panels in Mission Control's faces: the terminal
//! dashboard's hub view (key `h`), and the hub's Prometheus series. The
//! web page builds the same sections from `/api/v1/fleet` (`page.html`).
//! The figures are cockpit-fleet's [`HubView`]; this module only shows them.

use std::fmt;

use cockpit_fleet::HubView;
use cockpit_fleet::hub::view::{
    CachePanel, McpPanel, Measured, Quantiles, RagPanel, ShadowPanel, WatchPanel,
};
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::render::cell;

/// The longest name shown in a hub line.
const NAME: usize = 18;

fn ms(v: Option<f64>) -> String {
    match v {
        Some(v) if v.abs() >= 100.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.1}"),
        None => "-".into(),
    }
}

fn signed(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:+.1}"))
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{:.1}%", v * 100.0))
}

fn num(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.0}"))
}

/// `p50/p95 ms n=count`, or `-`.
fn latency(q: &Quantiles) -> String {
    if q.count == 0 {
        return "-".into();
    }
    format!("{}/{} ms n={}", ms(q.p50_ms), ms(q.p95_ms), q.count)
}

/// `at HH:MM:SS`, `pending`, plus the error when there is one.
fn when(m: &Measured) -> String {
    match &m.measured_at {
        Some(t) => format!("at {}", t.get(11..19).unwrap_or(t)),
        None => "pending".into(),
    }
}

fn bad() -> Style {
    Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
}

fn good() -> Style {
    Style::new().fg(Color::Green)
}

fn status_style(status: &str) -> Style {
    match status {
        "pass" | "up" | "ready" => good(),
        "fail" | "down" | "missing" | "empty" => bad(),
        "warn" | "indexing" => Style::new().fg(Color::Yellow),
        _ => Style::new().fg(Color::DarkGray),
    }
}

/// One entry: its name, a status word and its main figures (fitting 80
/// columns), then its other figures and when it was measured, then its
/// error when there is one.
fn entry(
    name: &str,
    status: &str,
    main: String,
    detail: String,
    m: &Measured,
) -> Vec<Line<'static>> {
    let mut out = vec![
        Line::from(vec![
            Span::raw(format!("  {:<NAME$} ", cell(name, NAME))),
            Span::styled(
                format!("{:<8}", status.to_uppercase()),
                status_style(status),
            ),
            Span::raw(main),
        ]),
        Line::styled(
            format!("    {detail} · {}", when(m)),
            Style::new().fg(Color::DarkGray),
        ),
    ];
    if let Some(e) = &m.error {
        out.push(Line::styled(
            format!("    {}", cell(e, 200)),
            Style::new().fg(Color::Yellow),
        ));
    }
    out
}

fn title(text: &str) -> Line<'static> {
    Line::styled(
        text.to_string(),
        Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
    )
}

fn count(v: Option<u64>) -> String {
    v.map_or_else(|| "-".into(), |n| n.to_string())
}

fn shadow(p: &ShadowPanel) -> Vec<Line<'static>> {
    let status = p.verdict.as_ref().map_or("pending", |v| v.status.as_str());
    let diff = |d: Option<cockpit_fleet::hub::view::DiffView>| signed(d.map(|d| d.estimate_ms));
    let main = format!(
        "v2-v1 p50 {} p95 {} ms p={} {}",
        diff(p.ttft_p50_diff),
        diff(p.ttft_p95_diff),
        p.ttft_p_value
            .map_or_else(|| "-".into(), cockpit_shadow::compare::format_p),
        p.ttft_difference.as_deref().unwrap_or("-"),
    );
    let detail = format!(
        "v1 {}/{} v2 {}/{} ms n={}/{} · failed {}/{}",
        ms(p.ttft_v1.p50_ms),
        ms(p.ttft_v1.p95_ms),
        ms(p.ttft_v2.p50_ms),
        ms(p.ttft_v2.p95_ms),
        p.ttft_v1.n,
        p.ttft_v2.n,
        p.v1_failed,
        p.v2_failed
    );
    entry(&p.agent, status, main, detail, &p.measured)
}

fn cache(p: &CachePanel) -> Vec<Line<'static>> {
    let status = (p.verdicts.iter())
        .map(|v| v.status.as_str())
        .min_by_key(|s| {
            ["fail", "warn", "not-measured", "pass"]
                .iter()
                .position(|x| x == s)
        })
        .unwrap_or("pending");
    let lookups = p.hits.zip(p.misses).map(|(h, m)| h + m);
    let main = format!(
        "hit {} ({}/{}) · TTFT saved {} ms n={}",
        pct(p.hit_rate),
        num(p.hits),
        num(lookups),
        ms(p.ttft_saved_p50_ms),
        p.ttft_saved_count
    );
    let detail = format!(
        "tokens {} · avoided {} · probe repeats {}/{} paraphrases {}/{}",
        num(p.tokens_served),
        p.cost_avoided
            .map_or_else(|| "-".into(), |c| format!("{c:.4}")),
        count(p.repeat_hits),
        p.probe_rounds,
        count(p.paraphrase_hits),
        p.probe_rounds,
    );
    entry(&p.agent, status, main, detail, &p.measured)
}

fn mcp(p: &McpPanel) -> Vec<Line<'static>> {
    let status = match p.up {
        Some(true) => "up",
        Some(false) => "down",
        None => "pending",
    };
    let main = format!("ping {} · {} tools", latency(&p.ping), count(p.tool_count));
    let detail = format!(
        "protocol {} · tools/list {} · {}",
        cell(p.protocol_version.as_deref().unwrap_or("-"), 16),
        latency(&p.tools_list),
        cell(&p.server, 40)
    );
    entry(&p.name, status, main, detail, &p.measured)
}

fn rag(p: &RagPanel) -> Vec<Line<'static>> {
    let since = (p.count_since.as_deref())
        .map(|t| format!(" unchanged since {}", t.get(11..19).unwrap_or(t)))
        .unwrap_or_default();
    let stale = p.stale.as_ref().map_or_else(
        || "-".into(),
        |v| format!("{} (of {})", v.status, count(p.source_count)),
    );
    let main = format!("{} docs · query {}", count(p.count), latency(&p.query));
    let detail = format!(
        "stale {stale} ·{since} · {} {}",
        cell(&p.backend, 8),
        cell(&p.collection, 24)
    );
    entry(&p.name, &p.status, main, detail, &p.measured)
}

fn watch(p: &WatchPanel) -> Vec<Line<'static>> {
    let status = match (p.measured.measured_at.is_some(), p.leaked) {
        (false, _) => "pending",
        (true, 0) => "held",
        _ => "leaked",
    };
    let ids: Vec<String> = p.leaked_ids.iter().map(|i| cell(i, 16)).collect();
    let main = format!(
        "sent {} (total {}) · breaches {} (total {})",
        p.sent, p.attempts_total, p.leaked, p.leaks_total
    );
    let detail = format!(
        "leaked [{}] · canary {}",
        ids.join(", "),
        cell(&p.canary, 20)
    );
    entry(&p.agent, status, main, detail, &p.measured)
}

/// The hub view's lines: one section per part declared.
pub fn lines(hub: &HubView) -> Vec<Line<'static>> {
    if hub.is_empty() {
        return vec![Line::from(
            "No fleet hub part declared: add [[cache]], [[mcp]], [[vector_store]], an agent's shadow_endpoint, or --watchtower with a canary.",
        )];
    }
    let mut out = Vec::new();
    let mut section = |name: &str, body: Vec<Line<'static>>| {
        if !body.is_empty() {
            out.push(title(name));
            out.extend(body);
        }
    };
    section(
        "Shadow (v1 vs v2 TTFT)",
        hub.shadow.iter().flat_map(shadow).collect(),
    );
    let mut caches: Vec<Line<'static>> = hub.caches.iter().flat_map(cache).collect();
    if let Some(f) = &hub.cache_fleet {
        caches.push(Line::from(format!(
            "  fleet: hit {} ({}/{}) over {} caches · tokens {} · avoided {}",
            pct(f.hit_rate),
            num(Some(f.hits)),
            num(Some(f.lookups)),
            f.caches,
            num(f.tokens_served),
            f.cost_avoided
                .map_or_else(|| "-".into(), |c| format!("{c:.4}"))
        )));
    }
    section("Hive Mind (caches)", caches);
    section("MCP hub", hub.mcp.iter().flat_map(mcp).collect());
    section("RAG dropzone", hub.rag.iter().flat_map(rag).collect());
    section(
        "Watchtower",
        hub.watchtower.iter().flat_map(watch).collect(),
    );
    out
}

/// The lines of the hub's body shown in `rows` rows, scrolled `offset`
/// lines down: a marker row replaces the first shown line when lines are
/// hidden above, and the last when lines are hidden below.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The offset actually used (clamped to the last full page).
    pub offset: usize,
    /// Body lines shown, from `offset`.
    pub shown: usize,
    pub above: usize,
    pub below: usize,
}

/// The largest useful offset for `total` body lines in `rows` rows: the
/// last page shows the end with the "above" marker on top.
pub fn max_scroll(total: usize, rows: usize) -> usize {
    let rows = rows.max(2);
    if total <= rows { 0 } else { total - (rows - 1) }
}

/// What `total` body lines scrolled `offset` down show in `rows` rows.
pub fn window(total: usize, rows: usize, offset: usize) -> Window {
    let offset = offset.min(max_scroll(total, rows));
    let above = offset;
    let mut room = rows.saturating_sub(usize::from(above > 0));
    let below = if offset + room >= total {
        0
    } else {
        room = room.saturating_sub(1);
        total - offset - room
    };
    Window {
        offset,
        shown: room.min(total - offset),
        above,
        below,
    }
}

fn marker(text: String) -> Line<'static> {
    Line::styled(text, Style::new().fg(Color::Cyan))
}

/// The hub view in `area` (in place of the fleet table), its body
/// scrolled `scroll` lines down; the rows the body had (a page, for
/// PgUp/PgDn).
pub fn draw(frame: &mut Frame, area: Rect, hub: &HubView, scroll: usize) -> usize {
    let head = Line::styled(
        format!(
            "Fleet hub · measured every {} · h: back to the fleet",
            humantime::format_duration(hub.interval)
        ),
        Style::new().fg(Color::DarkGray),
    );
    let body = lines(hub);
    let rows = usize::from(area.height.saturating_sub(1));
    let w = window(body.len(), rows, scroll);
    let mut all = vec![head];
    if w.above > 0 {
        all.push(marker(format!("  ↑ {} more above (↑ PgUp)", w.above)));
    }
    all.extend(body.into_iter().skip(w.offset).take(w.shown));
    if w.below > 0 {
        all.push(marker(format!("  ↓ {} more below (↓ PgDn)", w.below)));
    }
    frame.render_widget(Paragraph::new(all), area);
    rows
}

/// A gauge family, one series per item that has a value.
fn gauge<'a, T: 'a>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    items: impl IntoIterator<Item = &'a T>,
    series: impl Fn(&T) -> Vec<(Vec<(&'static str, String)>, f64)>,
) -> fmt::Result {
    let mut m = enc.encode_descriptor(name, help, unit, MetricType::Gauge)?;
    for item in items {
        for (labels, v) in series(item) {
            let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let mut family = m.encode_family(&labels)?;
            // Whole values (flags, counts) as integers: `1`, not `1.0`.
            if v.fract() == 0.0 && v.abs() < 9.0e15 {
                family.encode_gauge(&(v as i64))?;
            } else {
                family.encode_gauge(&v)?;
            }
        }
    }
    Ok(())
}

fn one(label: &'static str, name: &str, v: Option<f64>) -> Vec<(Vec<(&'static str, String)>, f64)> {
    v.map(|v| (vec![(label, name.to_string())], v))
        .into_iter()
        .collect()
}

/// p50 / p95 / p99 in seconds, labelled `quantile`.
fn quantile_series(
    label: &'static str,
    name: &str,
    q: &Quantiles,
) -> Vec<(Vec<(&'static str, String)>, f64)> {
    [("0.5", q.p50_ms), ("0.95", q.p95_ms), ("0.99", q.p99_ms)]
        .into_iter()
        .filter_map(|(k, v)| {
            Some((
                vec![(label, name.to_string()), ("quantile", k.to_string())],
                v? / 1000.0,
            ))
        })
        .collect()
}

fn flag(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

/// The hub's series: only the parts the configuration declares, each
/// from its latest measurement (the watchtower's counters since start).
pub fn metrics(enc: &mut DescriptorEncoder, hub: &HubView) -> fmt::Result {
    if hub.is_empty() {
        return Ok(());
    }
    shadow_metrics(enc, hub)?;
    cache_metrics(enc, hub)?;
    mcp_metrics(enc, hub)?;
    rag_metrics(enc, hub)?;
    watch_metrics(enc, hub)
}

fn shadow_metrics(enc: &mut DescriptorEncoder, hub: &HubView) -> fmt::Result {
    if hub.shadow.is_empty() {
        return Ok(());
    }
    for (name, help, pick) in [
        (
            "shadow_ttft_p50_diff",
            "Candidate (v2) minus production (v1) TTFT p50 of the latest shadow comparison.",
            (|p| p.ttft_p50_diff) as fn(&ShadowPanel) -> Option<cockpit_fleet::hub::view::DiffView>,
        ),
        (
            "shadow_ttft_p95_diff",
            "Candidate (v2) minus production (v1) TTFT p95 of the latest shadow comparison.",
            |p| p.ttft_p95_diff,
        ),
    ] {
        gauge(enc, name, help, Some(&Unit::Seconds), &hub.shadow, |p| {
            one("agent", &p.agent, pick(p).map(|d| d.estimate_ms / 1000.0))
        })?;
    }
    gauge(
        enc,
        "shadow_ttft_regression",
        "1 when SHD-TTFT fails on the latest comparison (v2 slower beyond the threshold, significantly), else 0.",
        None,
        &hub.shadow,
        |p| {
            let v = p.verdict.as_ref().map(|v| flag(v.status == "fail"));
            one("agent", &p.agent, v)
        },
    )
}

fn cache_metrics(enc: &mut DescriptorEncoder, hub: &HubView) -> fmt::Result {
    if hub.caches.is_empty() {
        return Ok(());
    }
    gauge(
        enc,
        "cache_hit_ratio",
        "Hits over lookups of the cache's own counters, as last read (0-1).",
        None,
        &hub.caches,
        |p| one("agent", &p.agent, p.hit_rate),
    )?;
    gauge(
        enc,
        "cache_served",
        "Tokens served from the cache, its own counter as last read.",
        Some(&Unit::Other("tokens".into())),
        &hub.caches,
        |p| one("agent", &p.agent, p.tokens_served),
    )?;
    gauge(
        enc,
        "cache_cost_avoided",
        "Tokens served from the cache / 1000 x price_per_1k_tokens, in the configuration's currency.",
        None,
        &hub.caches,
        |p| one("agent", &p.agent, p.cost_avoided),
    )?;
    gauge(
        enc,
        "cache_ttft_saved",
        "Median TTFT of a first send minus its repeat's, over the latest probe's rounds.",
        Some(&Unit::Seconds),
        &hub.caches,
        |p| one("agent", &p.agent, p.ttft_saved_p50_ms.map(|v| v / 1000.0)),
    )
}

fn mcp_metrics(enc: &mut DescriptorEncoder, hub: &HubView) -> fmt::Result {
    if hub.mcp.is_empty() {
        return Ok(());
    }
    gauge(
        enc,
        "mcp_up",
        "1 when the latest session with the MCP server answered initialize, tools/list and ping, else 0; absent before the first.",
        None,
        &hub.mcp,
        |p| one("server", &p.name, p.up.map(flag)),
    )?;
    gauge(
        enc,
        "mcp_latency",
        "Latency of the MCP server's ping in its latest session, by quantile.",
        Some(&Unit::Seconds),
        &hub.mcp,
        |p| quantile_series("server", &p.name, &p.ping),
    )?;
    gauge(
        enc,
        "mcp_tools",
        "Tools the MCP server lists (every page).",
        None,
        &hub.mcp,
        |p| one("server", &p.name, p.tool_count.map(|n| n as f64)),
    )
}

fn rag_metrics(enc: &mut DescriptorEncoder, hub: &HubView) -> fmt::Result {
    if hub.rag.is_empty() {
        return Ok(());
    }
    gauge(
        enc,
        "rag_up",
        "1 when the vector store's collection exists, holds vectors and its index is ready, else 0; absent before the first look.",
        None,
        &hub.rag,
        |p| {
            let v = (p.status != "pending").then(|| flag(p.status == "ready"));
            one("store", &p.name, v)
        },
    )?;
    gauge(
        enc,
        "rag_documents",
        "Vectors (documents) in the collection, as last read.",
        None,
        &hub.rag,
        |p| one("store", &p.name, p.count.map(|n| n as f64)),
    )?;
    gauge(
        enc,
        "rag_query_latency",
        "Latency of the collection's nearest-neighbour queries in the latest look, by quantile.",
        Some(&Unit::Seconds),
        &hub.rag,
        |p| quantile_series("store", &p.name, &p.query),
    )?;
    gauge(
        enc,
        "rag_stale",
        "1 when RAG-STALE fails (the index holds fewer vectors than the dropzone's source_count), else 0; absent without source_count.",
        None,
        &hub.rag,
        |p| {
            let v = p.stale.as_ref().map(|v| flag(v.status == "fail"));
            one("store", &p.name, v)
        },
    )
}

fn watch_metrics(enc: &mut DescriptorEncoder, hub: &HubView) -> fmt::Result {
    if hub.watchtower.is_empty() {
        return Ok(());
    }
    for (name, help, pick) in [
        (
            "watchtower_attempts",
            "Prompt-injection attempts the watchtower sent to the agent since the monitor started.",
            (|p| &p.attempts_total) as fn(&WatchPanel) -> &u64,
        ),
        (
            "watchtower_breaches",
            "Attempts whose answer held the agent's canary verbatim since the monitor started.",
            |p| &p.leaks_total,
        ),
    ] {
        let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
        for p in &hub.watchtower {
            let labels = [("agent", p.agent.as_str())];
            m.encode_family(&labels)?
                .encode_counter::<NoLabelSet, _, u64>(pick(p), None)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cockpit::fixture;

    #[test]
    fn every_section_shows_its_figures_with_counts() {
        let hub = fixture::hub();
        let text: Vec<String> = lines(&hub)
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect();
        let all = text.join("\n");
        for needle in [
            "Shadow (v1 vs v2 TTFT)",
            "FAIL",
            "p50 +40.0 p95 +40.0 ms p=< 1e-6 v2-higher",
            "n=30/30",
            "Hive Mind (caches)",
            "hit 75.0% (30/40)",
            "fleet: hit 75.0%",
            "MCP hub",
            "DOWN",
            "connection refused",
            "ping 1.5/3.0 ms n=5",
            "RAG dropzone",
            "1200 docs",
            "Watchtower",
            "breaches 1 (total 3)",
            "leaked [LLM07-003]",
        ] {
            assert!(all.contains(needle), "{needle:?} missing:\n{all}");
        }
        assert!(!all.contains('\u{1b}'), "{all}");
    }

    #[test]
    fn hub_series_have_units_and_escaped_names() {
        let mut snap = fixture::snapshot();
        snap.hub = fixture::hub();
        let text = super::super::metrics::exposition(std::sync::Arc::new(snap)).unwrap();
        for needle in [
            "# TYPE agentops_mcp_up gauge\n",
            "agentops_mcp_up{server=\"tools\"} 1",
            "agentops_mcp_up{server=\"dead\"} 0",
            "agentops_mcp_latency_seconds{server=\"tools\",quantile=\"0.95\"} 0.003",
            "agentops_cache_hit_ratio{agent=\"chat\"} 0.75",
            "agentops_rag_documents{store=\"kb\"} 1200\n",
            "agentops_watchtower_breaches_total{agent=\"chat\"} 3",
            "agentops_shadow_ttft_regression{agent=\"chat\"} 1",
        ] {
            assert!(text.contains(needle), "{needle:?} missing:\n{text}");
        }
    }
}
