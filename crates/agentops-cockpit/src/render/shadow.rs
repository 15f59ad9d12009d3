//! A `shadow` comparison as terminal text: the metrics side by side, the
//! differences with their intervals and p-values, then the findings.

use std::fmt::Write as _;

use cockpit_core::Finding;
use cockpit_shadow::ShadowComparison;
use cockpit_shadow::compare::{format_p, p_is};

use super::new_table;

/// v1 and v2 side by side, one row per metric, then one line per check.
pub fn shadow_table(c: &ShadowComparison, findings: &[Finding], colour: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "v1: {}", c.v1);
    let _ = writeln!(out, "v2: {}", c.v2);
    let _ = writeln!(
        out,
        "{} prompts each, {}; bootstrap {} resamples (seed {}), alpha {}",
        c.sent,
        if c.mirror {
            "mirrored (both at once)"
        } else {
            "interleaved"
        },
        c.resamples,
        c.seed,
        c.alpha
    );
    if c.interrupted {
        let _ = writeln!(out, "INTERRUPTED: partial results");
    }
    let mut t = new_table(colour);
    t.set_header(vec![
        "metric",
        "n v1/v2",
        "v1 p50",
        "v2 p50",
        "Δ p50 [CI]",
        "v1 p95",
        "v2 p95",
        "Δ p95 [CI]",
        "p",
        "verdict",
    ]);
    let num = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
    let diff = |ci: Option<cockpit_shadow::stats::Interval>| {
        ci.map_or("-".to_string(), |ci| {
            format!("{:+.1} [{:+.1}, {:+.1}]", ci.estimate, ci.low, ci.high)
        })
    };
    for m in &c.metrics {
        t.add_row(vec![
            format!("{} ({})", m.metric, m.unit),
            format!("{}/{}", m.v1.n, m.v2.n),
            num(m.v1.p50),
            num(m.v2.p50),
            diff(m.p50_diff),
            num(m.v1.p95),
            num(m.v2.p95),
            diff(m.p95_diff),
            m.mann_whitney.map_or("-".into(), |t| format_p(t.p_value)),
            m.verdict.as_str().to_string(),
        ]);
    }
    let _ = writeln!(out, "{t}");
    let e = &c.errors;
    let _ = writeln!(
        out,
        "errors: v1 {}/{}, v2 {}/{} (Fisher {})",
        e.v1_failed,
        e.v1_requests,
        e.v2_failed,
        e.v2_requests,
        p_is(e.p_value)
    );
    for f in findings {
        let _ = writeln!(out, "{} {}: {}", f.check_id, f.status, f.summary);
    }
    out
}
