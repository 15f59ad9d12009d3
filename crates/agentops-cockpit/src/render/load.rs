//! A load report as terminal text.

use std::fmt::Write as _;

use cockpit_core::LatencySummary;
use cockpit_probe::load::{Arrival, LoadMode, LoadReport};

use super::new_table;

pub(super) fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// A load report as terminal text: what ran, the latency table and
/// histogram, how the requests ended, the sweep's steps and knee, the SLO
/// verdicts, and the latency method.
pub fn load_table(r: &LoadReport, colour: bool) -> String {
    let mut out = summary(r);
    let _ = writeln!(out, "{}", latency_table(r, colour));
    out.push_str(&super::load_dist::latency_histogram(r, colour));
    out.push_str(&super::load_dist::status_distribution(r, colour));
    if let Some(tps) = &r.output_tokens_per_s {
        let _ = writeln!(
            out,
            "output tokens/s per request: p10 {:.1}, p50 {:.1}, p90 {:.1} ({} samples)",
            tps.p10, tps.p50, tps.p90, tps.count
        );
    }
    if let Some(t) = &r.throughput {
        let _ = writeln!(
            out,
            "output tokens/s for the run: {:.1} ({} tokens of {} streams in {:.3} s)",
            t.output_tokens_per_s, t.output_tokens, t.requests, t.window_s
        );
    }
    if !r.steps.is_empty() {
        out.push_str(&sweep(r, colour));
    }
    for s in &r.slos {
        let _ = writeln!(out, "{}", slo_line(s));
    }
    let _ = writeln!(
        out,
        "latency: {}",
        r.methods.get("latency").map_or("", String::as_str)
    );
    if let Some(f) = &r.fanout {
        out.push_str(&fan_out(f));
    }
    out
}

/// A fanned-out run's shards: state, counts, clock offset, lateness.
fn fan_out(f: &cockpit_probe::load::FanOut) -> String {
    let mut out = String::new();
    let spread = f
        .clock_spread_ms
        .map_or_else(|| "not measured".to_string(), |s| format!("{s:.2} ms"));
    let _ = writeln!(
        out,
        "workers:    {} shards x {} threads, clock spread {spread}",
        f.shards, f.threads_per_shard
    );
    for w in &f.workers {
        let clock = w
            .clock_offset_ms
            .map_or_else(|| "-".to_string(), |o| format!("{o:+.2} ms"));
        let _ = writeln!(
            out,
            "  shard {}/{} {}: {} sent, {} ok, {} errors, {} unsent, clock {clock}, late {:.1} ms{}",
            w.shard,
            f.shards,
            w.state,
            w.sent,
            w.ok,
            w.errors,
            w.unsent,
            w.late_start_ms,
            w.reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        );
    }
    for x in &f.warnings {
        let _ = writeln!(out, "warning: {x}");
    }
    out
}

/// One objective, k6-style: `✓ p(99)<200ms — observed 12.10 ms`, a broken
/// one `✗ … (FAIL)`, the observed value in the threshold's unit.
fn slo_line(s: &cockpit_probe::load::SloResult) -> String {
    let observed = s.observed_text.as_deref().unwrap_or("nothing measured");
    if s.pass {
        format!("✓ {} — observed {observed}", s.slo)
    } else {
        format!("✗ {} — observed {observed} (FAIL)", s.slo)
    }
}

/// Target, mode, request counts, throughput and errors.
fn summary(r: &LoadReport) -> String {
    let mut out = String::new();
    let mode = match r.mode {
        LoadMode::Closed => "closed loop".to_string(),
        LoadMode::Open => format!(
            "open loop, {} arrivals (seed {})",
            match r.arrival {
                Some(Arrival::Poisson) => "poisson",
                _ => "constant",
            },
            r.seed.unwrap_or_default()
        ),
        _ => format!("sweep, seed {}", r.seed.unwrap_or_default()),
    };
    let _ = writeln!(
        out,
        "target:     {} ({}, {} client)",
        r.target, r.protocol, r.client_path
    );
    let _ = writeln!(
        out,
        "run:        {mode}, {} connections, {} workers, {:.2} s{}",
        r.connections,
        r.workers,
        r.elapsed_s,
        if r.interrupted { " (interrupted)" } else { "" }
    );
    let q = &r.requests;
    let mut reqs = format!(
        "{} sent, {} ok, {} errors, {} in flight at the end",
        q.sent, q.ok, q.errors, q.in_flight_at_end
    );
    if let Some(u) = q.unsent {
        let _ = write!(reqs, ", {u} scheduled but never sent");
    }
    let _ = writeln!(out, "requests:   {reqs}");
    let mut tp = format!("{:.1} req/s achieved", r.achieved_rps);
    if let Some(o) = r.offered_rps {
        let _ = write!(tp, ", {o:.1} req/s offered");
    }
    if let Some(g) = r.goodput_rps {
        let _ = write!(tp, ", goodput {g:.1} req/s");
    }
    let _ = writeln!(out, "throughput: {tp}");
    if !r.errors.is_empty() {
        let e: Vec<String> = r.errors.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let _ = writeln!(out, "errors:     {}", e.join(", "));
        for (k, m) in &r.error_examples {
            let _ = writeln!(out, "  {k}: {m}");
        }
    }
    out
}

/// One row per distribution the run measured (latency first).
fn latency_table(r: &LoadReport, colour: bool) -> String {
    let mut t = new_table(colour);
    t.set_header(["ms", "p50", "p90", "p95", "p99", "p99.9", "max", "samples"]);
    let mut row = |name: &str, s: &LatencySummary| {
        if s.count == 0 {
            let mut r = vec![name.to_string()];
            r.extend(std::iter::repeat_n("-".to_string(), 6));
            r.push("0".to_string());
            t.add_row(r);
            return;
        }
        t.add_row([
            name.to_string(),
            ms(s.p50_ms),
            ms(s.p90_ms),
            ms(s.p95_ms),
            ms(s.p99_ms),
            ms(s.p999_ms),
            ms(s.max_ms),
            s.count.to_string(),
        ]);
    };
    row("latency", &r.latency);
    for (name, s) in [
        ("service", r.service),
        ("dispatch_lag", r.dispatch_lag),
        ("ttft", r.ttft),
        ("itl", r.itl),
        ("tpot", r.tpot),
    ] {
        if let Some(s) = s {
            row(name, &s);
        }
    }
    t.to_string()
}

/// A sweep's steps, and its knee.
fn sweep(r: &LoadReport, colour: bool) -> String {
    let mut out = String::new();
    let mut t = new_table(colour);
    t.set_header([
        "offered req/s",
        "achieved req/s",
        "ok",
        "errors",
        "p50 ms",
        "p99 ms",
        "max ms",
        "holds",
    ]);
    for s in &r.steps {
        t.add_row([
            format!("{:.1}", s.offered_rps),
            format!("{:.1}", s.achieved_rps),
            s.requests.ok.to_string(),
            s.requests.errors.to_string(),
            ms(s.latency.p50_ms),
            ms(s.latency.p99_ms),
            ms(s.latency.max_ms),
            if s.holds { "yes" } else { "no" }.to_string(),
        ]);
    }
    let _ = writeln!(out, "{t}");
    let _ = match r.knee_rps {
        Some(k) => writeln!(
            out,
            "knee: {k:.1} req/s (the highest offered rate whose step held)"
        ),
        None => writeln!(out, "knee: none (no step held)"),
    };
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slo_lines_read_like_k6() {
        let ok = cockpit_probe::load::SloResult {
            slo: "p(99)<200ms".into(),
            observed: Some(12.1),
            observed_text: Some("12.10 ms".into()),
            pass: true,
        };
        assert_eq!(slo_line(&ok), "✓ p(99)<200ms — observed 12.10 ms");
        let broken = cockpit_probe::load::SloResult {
            slo: "errors<0.1%".into(),
            observed: Some(1.0),
            observed_text: Some("100.0 %".into()),
            pass: false,
        };
        assert_eq!(slo_line(&broken), "✗ errors<0.1% — observed 100.0 % (FAIL)");
        let none = cockpit_probe::load::SloResult {
            observed: None,
            observed_text: None,
            ..broken
        };
        assert_eq!(
            slo_line(&none),
            "✗ errors<0.1% — observed nothing measured (FAIL)"
        );
    }
}
