//! The simulation's per-level figures: reasoning beside saturation, then
//! the knee and the objectives.

use cockpit_sim::{LevelResult, SimReport};

const HEADER: [&str; 11] = [
    "sessions in flight",
    "sessions",
    "recall turns",
    "reasoning score",
    "95% CI",
    "collisions",
    "errors",
    "trace integrity",
    "TTFT p50 ms",
    "TTFT p95 ms",
    "e2e p95 ms",
];

fn row(l: &LevelResult) -> [String; 11] {
    let ratio =
        |v: Option<f64>| v.map_or_else(|| "not measured".to_string(), |v| format!("{v:.3}"));
    let errors: u64 = l.errors.values().sum();
    [
        l.concurrency.to_string(),
        l.sessions.to_string(),
        l.recall_turns.to_string(),
        format!(
            "{} ({}/{})",
            ratio(l.reasoning_score),
            l.correct,
            l.answered
        ),
        l.score_ci95
            .map_or_else(String::new, |[a, b]| format!("{a:.3}–{b:.3}")),
        l.collisions.to_string(),
        format!("{errors} ({:.1} %)", l.error_rate * 100.0),
        ratio(l.trace_integrity),
        format!("{:.1}", l.ttft_ms.p50_ms),
        format!("{:.1}", l.ttft_ms.p95_ms),
        format!("{:.1}", l.e2e_ms.p95_ms),
    ]
}

/// What follows the table: the knee, the objectives, a stop.
fn notes(sim: &SimReport) -> Vec<String> {
    let mut out = Vec::new();
    match &sim.knee {
        Some(k) => out.push(format!(
            "knee: {} at {} sessions in flight ({:.3}); TTFT there p50 {:.1} ms, p95 {:.1} ms",
            k.metric, k.concurrency, k.value, k.ttft_p50_ms, k.ttft_p95_ms
        )),
        None => out.push("knee: none (every level held its bounds)".to_string()),
    }
    for s in &sim.slos {
        let verdict = if s.pass { "pass" } else { "FAIL" };
        let at = s
            .failed_at_concurrency
            .map_or_else(String::new, |c| format!(" at {c} sessions in flight"));
        let seen = s
            .observed
            .map_or_else(|| "not measured".to_string(), |v| format!("{v}"));
        out.push(format!("slo {}: {verdict}{at} (observed {seen})", s.slo));
    }
    if sim.interrupted {
        out.push("interrupted: the levels above are what was measured".to_string());
    }
    if sim.deadline_reached {
        out.push("the run's deadline was reached: the last level is partial".to_string());
    }
    if let Some(f) = &sim.fanout {
        out.extend(fan_out(f));
    }
    out
}

/// A merged run's shards: state, sessions run, clock offset, lateness.
fn fan_out(f: &cockpit_sim::SimFanOut) -> Vec<String> {
    let spread = f
        .clock_spread_ms
        .map_or_else(|| "not measured".to_string(), |s| format!("{s:.2} ms"));
    let mut out = vec![format!(
        "workers: {} shards, {} sessions not run, clock spread {spread}",
        f.shards, f.sessions_not_run
    )];
    for w in &f.workers {
        let clock = w
            .clock_offset_ms
            .map_or_else(|| "-".to_string(), |o| format!("{o:+.2} ms"));
        let reason = w
            .reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        out.push(format!(
            "  shard {}/{} {}: {} of {} sessions run, {} turns, clock {clock}, late {:.1} ms{reason}",
            w.shard, f.shards, w.state, w.completed, w.sessions, w.turns, w.late_start_ms
        ));
    }
    out.extend(f.warnings.iter().map(|x| format!("warning: {x}")));
    out
}

/// The terminal table.
pub fn sim_table(sim: &SimReport) -> String {
    let mut t = super::new_table(false);
    t.set_header(HEADER);
    for l in &sim.levels {
        t.add_row(row(l));
    }
    let mut s = format!(
        "simulation of {} ({} turns per session, sessions carried by {})\n{t}\n",
        sim.target, sim.turns_per_session, sim.mode
    );
    for n in notes(sim) {
        s.push_str(&n);
        s.push('\n');
    }
    s.push('\n');
    s
}

/// The same as a Markdown table.
pub fn sim_markdown(sim: &SimReport) -> String {
    let mut s = format!(
        "## Simulation of {}\n\n{} turns per session, sessions carried by {}.\n\n| {} |\n|{}\n",
        sim.target,
        sim.turns_per_session,
        sim.mode,
        HEADER.join(" | "),
        "---|".repeat(HEADER.len())
    );
    for l in &sim.levels {
        s.push_str(&format!("| {} |\n", row(l).join(" | ")));
    }
    s.push('\n');
    for n in notes(sim) {
        s.push_str(&format!("- {n}\n"));
    }
    s
}
