//! A one-off `probe` result as terminal text.

use std::fmt::Write as _;

use super::new_table;

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
    out.push_str(&tokens_per_s(v));
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

/// Output tokens per second: per request (p10, p50, p90) and for the whole
/// run, when the probe streamed tokens.
fn tokens_per_s(v: &serde_json::Value) -> String {
    let mut out = String::new();
    let f = |o: &serde_json::Value, k: &str| o.get(k).and_then(|x| x.as_f64()).unwrap_or(0.0);
    if let Some(r) = v.get("output_tokens_per_s") {
        let _ = writeln!(
            out,
            "output tokens/s per request: p10 {:.1}, p50 {:.1}, p90 {:.1} ({} samples)",
            f(r, "p10"),
            f(r, "p50"),
            f(r, "p90"),
            r.get("count").and_then(|x| x.as_u64()).unwrap_or(0)
        );
    }
    if let Some(t) = v.get("throughput") {
        let _ = writeln!(
            out,
            "output tokens/s for the run: {:.1} ({} tokens of {} streams in {:.3} s)",
            f(t, "output_tokens_per_s"),
            t.get("output_tokens").and_then(|x| x.as_u64()).unwrap_or(0),
            t.get("requests").and_then(|x| x.as_u64()).unwrap_or(0),
            f(t, "window_s")
        );
    }
    out
}

/// The paired comparisons `--compare-reuse` and `--compare-prefix` add to a
/// probe result, each as a table of its two sides and the ratio between
/// them, read from the JSON form like [`probe_table`].
pub fn comparisons(v: &serde_json::Value, colour: bool) -> String {
    let mut out = String::new();
    if let Some(c) = v.get("connection_reuse") {
        let metric = c
            .get("metric")
            .and_then(|m| m.as_str())
            .unwrap_or("latency");
        out.push_str(&pair(
            &format!("connection reuse ({metric})"),
            c,
            [("new connection", "cold"), ("kept-alive", "warm")],
            ("ratio", "new connection p50 / kept-alive p50"),
            colour,
        ));
    }
    if let Some(c) = v.get("prefix_cache") {
        let bytes = c.get("prefix_bytes").and_then(|b| b.as_u64()).unwrap_or(0);
        out.push_str(&pair(
            &format!("prefix cache (TTFT, {bytes}-byte system prompt)"),
            c,
            [("repeated prefix", "repeated"), ("fresh prefix", "fresh")],
            ("gain", "fresh p50 / repeated p50"),
            colour,
        ));
    }
    out
}

/// One comparison: a row per side (`label`, JSON key; its errors under
/// `{key}_errors`), then the ratio (JSON key, what it divides) and the method.
fn pair(
    title: &str,
    c: &serde_json::Value,
    sides: [(&str, &str); 2],
    ratio: (&str, &str),
    colour: bool,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\n{title}:");
    let mut t = new_table(colour);
    t.set_header(vec!["side", "n", "p50", "p90", "p99", "max", "errors"]);
    for (label, key) in sides {
        let d = &c[key];
        let ms = |field: &str| {
            d.get(field)
                .and_then(|x| x.as_f64())
                .map_or_else(|| "-".to_string(), |x| format!("{x:.2} ms"))
        };
        let count = d.get("count").and_then(|x| x.as_u64()).unwrap_or(0);
        let errors = c
            .get(format!("{key}_errors"))
            .and_then(|x| x.as_u64())
            .unwrap_or(0);
        t.add_row(vec![
            label.to_string(),
            count.to_string(),
            ms("p50_ms"),
            ms("p90_ms"),
            ms("p99_ms"),
            ms("max_ms"),
            errors.to_string(),
        ]);
    }
    let _ = writeln!(out, "{t}");
    let (key, what) = ratio;
    match c.get(key).and_then(|x| x.as_f64()) {
        Some(r) => {
            let _ = writeln!(out, "{key}: {r:.2} ({what})");
        }
        None => {
            let _ = writeln!(out, "{key}: not measured (a side has no sample)");
        }
    }
    if c.get("interrupted").and_then(|x| x.as_bool()) == Some(true) {
        let _ = writeln!(out, "INTERRUPTED: partial comparison");
    }
    if let Some(m) = c.get("method").and_then(|x| x.as_str()) {
        let _ = writeln!(out, "method: {m}");
    }
    out
}
