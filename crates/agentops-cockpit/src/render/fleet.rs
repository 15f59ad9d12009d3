//! A Mission Control snapshot as terminal text: a status line, one row per
//! target, then the alerts firing. Read from the snapshot alone.

use std::fmt::Write as _;

use cockpit_fleet::{AgentView, FleetSnapshot, LatencyWindow, TargetStatus};

use super::new_table;

/// A name or message as a table cell: control characters (a terminal
/// escape in a hostile name) shown as `?`, cut to `max` characters.
pub fn cell(text: &str, max: usize) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    cockpit_score::render::truncate_cell(&clean, max).into_owned()
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.0} ms"))
}

/// `p50 / p95 (n)`.
fn latency(w: &LatencyWindow) -> String {
    if w.count == 0 {
        return "-".into();
    }
    format!("{} / {} (n={})", ms(w.p50_ms), ms(w.p95_ms), w.count)
}

fn status(s: &TargetStatus) -> String {
    match s {
        TargetStatus::Down { error_kind, .. } => format!("DOWN ({error_kind})"),
        TargetStatus::Degraded { .. } => "DEGRADED".into(),
        other => other.label().to_uppercase(),
    }
}

fn row(a: &AgentView) -> Vec<String> {
    let errors = match a.requests.error_rate {
        Some(r) => format!("{:.1}% of {}", r * 100.0, a.requests.attempted),
        None => "-".into(),
    };
    let gate = a.last_gate.as_ref().map_or_else(
        || "-".into(),
        |g| {
            let score = g.score.map_or_else(|| "-".into(), |s| format!("{s:.1}"));
            format!("{score} {}", if g.passed { "PASS" } else { "FAIL" })
        },
    );
    let alerts: Vec<&str> = a.alerts.iter().map(|f| f.rule.as_str()).collect();
    vec![
        cell(&a.name, 32),
        status(&a.status),
        // `[stm]` / `[kubernetes]`: their own short figure in this column.
        super::infra_cell(a).unwrap_or_else(|| latency(&a.ttft)),
        ms(a.itl.p95_ms),
        latency(&a.e2e),
        a.tokens_per_s
            .tokens_per_s
            .map_or_else(|| "-".into(), |t| format!("{t:.1}")),
        errors,
        gate,
        if alerts.is_empty() {
            "-".into()
        } else {
            alerts.join(", ")
        },
    ]
}

/// The whole snapshot.
pub fn fleet_table(s: &FleetSnapshot, colour: bool) -> String {
    let mut out = String::new();
    let every = humantime::format_duration(s.interval);
    let window = humantime::format_duration(s.window);
    let next = s.next_probe_in_ms.map_or_else(
        || "none".into(),
        |n| format!("in {:.1} s", n as f64 / 1000.0),
    );
    let _ = writeln!(
        out,
        "Mission Control · {} · round {} · every {every} · window {window} · next probe {next} · TTFT p95 alert > {:.0} ms for {} intervals",
        s.taken_at, s.round, s.rules.ttft_p95_ms, s.rules.consecutive
    );
    let mut t = new_table(colour);
    t.set_header(vec![
        "target",
        "status",
        "TTFT p50 / p95",
        "ITL p95",
        "e2e p50 / p95",
        "tok/s",
        "errors",
        "gate",
        "alerts",
    ]);
    for a in &s.agents {
        t.add_row(row(a));
    }
    let _ = writeln!(out, "{t}");
    for (a, f) in s.firing() {
        let _ = writeln!(
            out,
            "ALERT {} on {}: TTFT p95 {:.1} ms > {:.1} ms (n={}) since {}",
            f.rule.as_str(),
            cell(&a.name, 64),
            f.ttft_p95_ms,
            f.bound_ms,
            f.count,
            f.since
        );
    }
    for a in &s.agents {
        for line in super::infra_lines(a) {
            let _ = writeln!(
                out,
                "{} {}: {line}",
                a.protocol.to_uppercase(),
                cell(&a.name, 64)
            );
        }
    }
    for a in &s.agents {
        if let TargetStatus::Down {
            error_kind,
            message,
        } = &a.status
        {
            let _ = writeln!(
                out,
                "DOWN {} ({error_kind}): {}",
                cell(&a.name, 64),
                cell(message, 200)
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_never_reach_the_terminal() {
        assert_eq!(cell("a\u{1b}[2Jb", 32), "a?[2Jb");
        assert_eq!(cell("abcdef", 4), "abc…");
    }
}
