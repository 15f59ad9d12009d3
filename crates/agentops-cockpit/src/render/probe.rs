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
