//! STA-EVICT: memory pressure cannot silently delete sessions.

use cockpit_core::{CheckId, CheckSpec, Finding, Measurement, Pillar, Severity, Status, Unit};

use super::{not_measured, on};
use crate::Info;
use crate::checks::keys::KeySample;

pub const STA_EVICT: CheckSpec = CheckSpec {
    id: CheckId::new("STA-EVICT"),
    pillar: Pillar::State,
    severity: Severity::Critical,
    title: "Eviction policy and memory headroom",
};

/// Used memory at or above this fraction of maxmemory warns.
pub const HEADROOM_WARN: f64 = 0.9;

/// `info`: `INFO memory` and `INFO stats`; `policy_fallback`: `CONFIG GET
/// maxmemory-policy` when INFO lacks the field; `sample`: the STA-KEYS
/// sample of session keys, when taken.
pub fn evaluate(
    url: &str,
    info: &Info,
    policy_fallback: Option<&str>,
    sample: Option<&KeySample>,
) -> Finding {
    let Some(policy) = info
        .get("maxmemory_policy")
        .or(policy_fallback)
        .map(str::to_ascii_lowercase)
    else {
        return not_measured(
            &STA_EVICT,
            url,
            "neither INFO memory nor CONFIG GET reported maxmemory-policy",
        );
    };
    let maxmemory = info.get_u64("maxmemory").unwrap_or(0);
    let evicted = info.get_u64("evicted_keys");
    let (mut f, used_fraction) = measured(url, info, maxmemory);
    let (mut fails, warns) = problems(&policy, evicted, used_fraction, sample);
    let limit = if maxmemory == 0 {
        "no maxmemory limit".to_string()
    } else {
        format!("maxmemory {maxmemory} B")
    };
    if !fails.is_empty() {
        f.status = Status::Fail;
        fails.extend(warns);
        f.summary = format!("{} ({limit})", fails.join("; "));
    } else if !warns.is_empty() {
        f.status = Status::Warn;
        f.summary = format!("{} ({limit})", warns.join("; "));
    } else {
        f.summary = format!(
            "maxmemory-policy {policy}: no key is evicted{} ({limit})",
            match used_fraction {
                Some(r) => format!(", {:.1}% headroom", (1.0 - r) * 100.0),
                None => String::new(),
            }
        );
        return f;
    }
    f.with_recommendation(
        "Use noeviction (or volatile-* with a TTL on every session key) on the session store, size maxmemory with headroom above the peak, and alert on evicted_keys; keep caches on a separate instance.",
    )
}

/// The finding with its measurements, and used memory as a fraction of
/// maxmemory (when both are known).
fn measured(url: &str, info: &Info, maxmemory: u64) -> (Finding, Option<f64>) {
    let used = info.get_u64("used_memory");
    let mut f =
        on(&STA_EVICT, url, Status::Pass, String::new()).with_measurement(Measurement::new(
            "maxmemory",
            maxmemory as f64,
            Unit::Bytes,
            "INFO memory maxmemory (0: no limit)",
            1,
        ));
    if let Some(u) = used {
        f = f.with_measurement(Measurement::new(
            "used_memory",
            u as f64,
            Unit::Bytes,
            "INFO memory used_memory",
            1,
        ));
    }
    let used_fraction = match used {
        Some(u) if maxmemory > 0 => {
            let r = u as f64 / maxmemory as f64;
            f = f.with_measurement(Measurement::new(
                "used_memory_percent",
                r * 100.0,
                Unit::Percent,
                "INFO memory used_memory / maxmemory",
                1,
            ));
            Some(r)
        }
        _ => None,
    };
    if let Some(e) = info.get_u64("evicted_keys") {
        f = f.with_measurement(Measurement::new(
            "evicted_keys",
            e as f64,
            Unit::Count,
            "INFO stats evicted_keys (since the server started)",
            1,
        ));
    }
    (f, used_fraction)
}

/// What fails and what warns, in words.
fn problems(
    policy: &str,
    evicted: Option<u64>,
    used_fraction: Option<f64>,
    sample: Option<&KeySample>,
) -> (Vec<String>, Vec<String>) {
    let mut fails = Vec::new();
    let mut warns = Vec::new();
    if policy.starts_with("allkeys-") {
        fails.push(format!("maxmemory-policy {policy} evicts any key under memory pressure, session keys included, with or without a TTL"));
    } else if policy.starts_with("volatile-") {
        let mut w = format!(
            "maxmemory-policy {policy} evicts keys that have a TTL (session keys usually do) under memory pressure"
        );
        if let Some(s) = sample.filter(|s| s.without_ttl > 0) {
            w.push_str(&format!(", and {} of {} sampled session keys have no TTL, so once nothing volatile is left, writes fail with OOM", s.without_ttl, s.sampled));
        }
        warns.push(w);
    }
    if let Some(e) = evicted.filter(|e| *e > 0) {
        fails.push(format!(
            "{e} keys have already been evicted since the server started (evicted_keys)"
        ));
    }
    if let Some(r) = used_fraction.filter(|r| *r >= HEADROOM_WARN) {
        warns.push(format!(
            "used memory is {:.1}% of maxmemory ({:.1}% headroom){}",
            r * 100.0,
            (1.0 - r).max(0.0) * 100.0,
            if policy == "noeviction" {
                ": writes will fail with OOM when it is full"
            } else {
                ""
            }
        ));
    }
    (fails, warns)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(policy: &str, max: u64, used: u64, evicted: u64) -> Info {
        Info::parse(&format!(
            "maxmemory_policy:{policy}\nmaxmemory:{max}\nused_memory:{used}\nevicted_keys:{evicted}\n"
        ))
    }

    #[test]
    fn verdicts() {
        let u = "redis://h";
        assert_eq!(
            evaluate(u, &info("noeviction", 1000, 100, 0), None, None).status,
            Status::Pass
        );
        let f = evaluate(u, &info("noeviction", 1000, 950, 0), None, None);
        assert_eq!(f.status, Status::Warn);
        assert!(f.summary.contains("5.0% headroom"), "{}", f.summary);
        let f = evaluate(u, &info("allkeys-lru", 1000, 100, 0), None, None);
        assert_eq!(f.status, Status::Fail);
        assert!(f.summary.contains("allkeys-lru"));
        assert_eq!(
            evaluate(u, &info("noeviction", 1000, 100, 3), None, None).status,
            Status::Fail
        );
        let sample = KeySample {
            sampled: 10,
            without_ttl: 4,
            ..KeySample::default()
        };
        let f = evaluate(u, &info("volatile-lru", 1000, 100, 0), None, Some(&sample));
        assert_eq!(f.status, Status::Warn);
        assert!(f.summary.contains("4 of 10"), "{}", f.summary);
        let f = evaluate(u, &Info::parse("maxmemory:0\n"), Some("allkeys-lfu"), None);
        assert_eq!(f.status, Status::Fail);
        assert_eq!(
            evaluate(u, &Info::default(), None, None).status,
            Status::NotMeasured
        );
    }
}
