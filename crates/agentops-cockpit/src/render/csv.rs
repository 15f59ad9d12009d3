//! `--format csv` of `probe` and `load`: the JSON result flattened into
//! one `field,value` row per figure (`latency.p99_ms,12.1`), so a
//! spreadsheet or `awk -F,` reads the same names as the JSON, and a field
//! added to the JSON appears in the CSV without a second list to keep.

use serde_json::Value;

/// RFC 4180: a header line, then one row per leaf of `value` (objects by
/// dotted key, arrays by index), CRLF-free (`\n`), quoted when needed.
pub fn csv(value: &Value) -> String {
    let mut out = String::from("field,value\n");
    flatten(value, &mut String::new(), &mut out);
    out
}

fn flatten(value: &Value, path: &mut String, out: &mut String) {
    let mut child = |key: &str, v: &Value, path: &mut String| {
        let len = path.len();
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
        flatten(v, path, out);
        path.truncate(len);
    };
    match value {
        Value::Object(map) => map.iter().for_each(|(k, v)| child(k, v, path)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .for_each(|(i, v)| child(&i.to_string(), v, path)),
        Value::Null => row(path, "", out),
        Value::String(s) => row(path, s, out),
        other => row(path, &other.to_string(), out),
    }
}

fn row(field: &str, value: &str, out: &mut String) {
    out.push_str(&quote(field));
    out.push(',');
    out.push_str(&quote(value));
    out.push('\n');
}

/// A field, quoted (quotes doubled) when it holds a comma, a quote or a line break.
fn quote(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_become_rows_by_dotted_path() {
        let v = serde_json::json!({
            "target": "http://127.0.0.1:1/a,b",
            "latency": {"p99_ms": 12.5, "count": 3},
            "errors": {"timeout": 1},
            "intervals": [{"rps": 10.0}],
            "seed": null,
            "note": "say \"hi\"\nthere"
        });
        let text = csv(&v);
        let rows: Vec<&str> = text.lines().collect();
        assert_eq!(rows[0], "field,value");
        assert!(rows.contains(&"latency.p99_ms,12.5"), "{text}");
        assert!(rows.contains(&"latency.count,3"), "{text}");
        assert!(rows.contains(&"errors.timeout,1"), "{text}");
        assert!(rows.contains(&"intervals.0.rps,10.0"), "{text}");
        assert!(rows.contains(&"seed,"), "{text}");
        assert!(
            text.contains("target,\"http://127.0.0.1:1/a,b\"\n"),
            "{text}"
        );
        assert!(text.contains("note,\"say \"\"hi\"\"\nthere\"\n"), "{text}");
    }
}
