//! STA-KEYS (opt-in, `--sample-sessions N`): TTL and size of a SCAN sample
//! of the agent's own session keys.

use cockpit_core::{CheckId, CheckSpec, Finding, Measurement, Pillar, Severity, Status, Unit};
use tokio_util::sync::CancellationToken;

use super::{not_measured, on};
use crate::StmError;
use crate::conn::Conn;

pub const STA_KEYS: CheckSpec = CheckSpec {
    id: CheckId::new("STA-KEYS"),
    pillar: Pillar::State,
    severity: Severity::Medium,
    title: "Session key hygiene (TTL, size)",
};

/// Most SCAN calls one sample makes (each `COUNT 1000`).
pub const MAX_SCAN_CALLS: u64 = 1000;

/// The `COUNT` hint of each SCAN call.
const SCAN_COUNT: u32 = 1000;

/// What a sample of session keys showed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeySample {
    /// Keys sampled (the check's own keys excluded).
    pub sampled: u64,
    /// Of those, keys without a TTL.
    pub without_ttl: u64,
    /// `MEMORY USAGE` of each sampled key, bytes (empty when refused).
    pub sizes: Vec<u64>,
    /// Why sizes are missing, when they are.
    pub sizes_unavailable: Option<String>,
    pub scan_calls: u64,
    /// The SCAN reached the end of the keyspace.
    pub complete: bool,
}

/// `prefix*` as a SCAN MATCH pattern, with glob characters escaped.
pub fn match_pattern(prefix: &str) -> String {
    let mut p = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('*');
    p
}

/// SCAN (never KEYS) for at most `limit` keys under `prefix`, reading only
/// their TTL and MEMORY USAGE, never their values.
pub(crate) async fn run(
    conn: &Conn,
    prefix: &str,
    limit: u32,
    cancel: &CancellationToken,
) -> Result<KeySample, StmError> {
    let own = format!("{prefix}{}", crate::CHECK_KEY_MARK);
    let pattern = match_pattern(prefix);
    let mut s = KeySample::default();
    let mut cursor = b"0".to_vec();
    while !cancel.is_cancelled() && s.sampled < u64::from(limit) && s.scan_calls < MAX_SCAN_CALLS {
        let (next, keys) = conn.scan_page(&cursor, &pattern, SCAN_COUNT).await?;
        s.scan_calls += 1;
        for key in keys {
            if s.sampled >= u64::from(limit) || cancel.is_cancelled() {
                break;
            }
            if key.starts_with(own.as_bytes()) {
                continue;
            }
            let ttl = conn.ttl(&key).await?;
            if ttl == -2 {
                continue; // expired or deleted meanwhile
            }
            s.sampled += 1;
            if ttl == -1 {
                s.without_ttl += 1;
            }
            if s.sizes_unavailable.is_none() {
                match conn.memory_usage(&key).await {
                    Ok(Some(b)) => s.sizes.push(b),
                    Ok(None) => {}
                    Err(e) => s.sizes_unavailable = Some(e.to_string()),
                }
            }
        }
        if next == b"0" {
            s.complete = true;
            break;
        }
        cursor = next;
    }
    Ok(s)
}

fn quantile(sorted: &[u64], q: f64) -> u64 {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub fn evaluate(url: &str, prefix: &str, r: &Result<KeySample, StmError>) -> Finding {
    let s = match r {
        Ok(s) => s,
        Err(e) => return not_measured(&STA_KEYS, url, e),
    };
    if s.sampled == 0 {
        return not_measured(
            &STA_KEYS,
            url,
            format!(
                "no key matches `{prefix}*` ({} SCAN calls{}); check [stm] key_prefix",
                s.scan_calls,
                if s.complete { ", whole keyspace" } else { "" }
            ),
        )
        .with_recommendation("Set [stm] key_prefix to the prefix the agent's session keys use.");
    }
    let method = format!(
        "SCAN MATCH {prefix}* COUNT 1000 ({} calls), TTL per key",
        s.scan_calls
    );
    let pct = s.without_ttl as f64 * 100.0 / s.sampled as f64;
    let f = on(&STA_KEYS, url, Status::Pass, String::new())
        .with_measurement(Measurement::new(
            "keys_sampled",
            s.sampled as f64,
            Unit::Count,
            &method,
            s.sampled,
        ))
        .with_measurement(Measurement::new(
            "keys_without_ttl",
            s.without_ttl as f64,
            Unit::Count,
            &method,
            s.sampled,
        ))
        .with_measurement(Measurement::new(
            "keys_without_ttl_percent",
            pct,
            Unit::Percent,
            &method,
            s.sampled,
        ));
    let (f, size_text) = with_sizes(f, s);
    let mut f = f;
    if s.without_ttl == 0 {
        f.summary = format!(
            "all {} sampled session keys have a TTL{size_text}",
            s.sampled
        );
        f
    } else {
        f.status = Status::Warn;
        f.summary = format!(
            "{} of {} sampled session keys ({pct:.1}%) have no TTL: abandoned sessions never expire and fill the store{size_text}",
            s.without_ttl, s.sampled
        );
        f.with_recommendation("Write every session key with a TTL (SET … EX, or EXPIRE after each update) matching the session's idle timeout.")
    }
}

/// The size percentiles of the sample as measurements, and in words.
fn with_sizes(mut f: Finding, s: &KeySample) -> (Finding, String) {
    let mut sizes = s.sizes.clone();
    sizes.sort_unstable();
    let size_text = if sizes.is_empty() {
        format!(
            "; sizes not measured ({})",
            s.sizes_unavailable.as_deref().unwrap_or("no size read")
        )
    } else {
        let n = sizes.len() as u64;
        let m = "MEMORY USAGE per sampled key";
        for (name, q) in [
            ("key_size_p50", 0.5),
            ("key_size_p99", 0.99),
            ("key_size_max", 1.0),
        ] {
            f = f.with_measurement(Measurement::new(
                name,
                quantile(&sizes, q) as f64,
                Unit::Bytes,
                m,
                n,
            ));
        }
        format!(
            "; size p50 {} B, p99 {} B, max {} B",
            quantile(&sizes, 0.5),
            quantile(&sizes, 0.99),
            quantile(&sizes, 1.0)
        )
    };
    (f, size_text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_escapes_glob_characters() {
        assert_eq!(match_pattern("agent:stm:"), "agent:stm:*");
        assert_eq!(match_pattern("a*b[1]?"), "a\\*b\\[1\\]\\?*");
    }

    #[test]
    fn verdicts() {
        let u = "redis://h";
        let s = KeySample {
            sampled: 4,
            without_ttl: 1,
            sizes: vec![100, 50, 70, 900],
            ..KeySample::default()
        };
        let f = evaluate(u, "p:", &Ok(s));
        assert_eq!(f.status, Status::Warn);
        assert_eq!(f.measurement("key_size_max").unwrap().value, 900.0);
        assert_eq!(
            f.measurement("keys_without_ttl_percent").unwrap().value,
            25.0
        );
        let s = KeySample {
            sampled: 2,
            sizes: vec![],
            sizes_unavailable: Some("refused".into()),
            ..KeySample::default()
        };
        let f = evaluate(u, "p:", &Ok(s));
        assert_eq!(f.status, Status::Pass);
        assert!(f.summary.contains("refused"));
        assert_eq!(
            evaluate(u, "p:", &Ok(KeySample::default())).status,
            Status::NotMeasured
        );
    }
}
