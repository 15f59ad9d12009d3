//! HIV-RATE: the cache's hit rate as its own counters tell it, the tokens
//! it served and the cost that avoided; and whether the counters count the
//! hits the probe saw.

use cockpit_core::{
    CheckId, CheckSpec, Finding, Location, Measurement, Pillar, Severity, Status, Unit,
};

use crate::CacheSnapshot;

pub const HIV_RATE: CheckSpec = CheckSpec {
    id: CheckId::new("HIV-RATE"),
    pillar: Pillar::Observability,
    severity: Severity::Medium,
    title: "Hive Mind: cache hit rate and cost avoided, from the cache's counters",
};

const METHOD: &str = "the declared Prometheus counters, read with one GET each before and after the probe, summed over their series";

/// The counters' figures (hits, misses, rate, tokens, cost, probe deltas).
fn measurements(s: &CacheSnapshot) -> Vec<Measurement> {
    let Some(c) = s.counters() else {
        return Vec::new();
    };
    let n = c.lookups() as u64;
    let mut m = vec![
        Measurement::new("hits", c.hits, Unit::Count, METHOD, n),
        Measurement::new("misses", c.misses, Unit::Count, METHOD, n),
    ];
    if let Some(r) = c.hit_rate() {
        m.push(Measurement::new(
            "hit_rate",
            r * 100.0,
            Unit::Percent,
            "hits / (hits + misses), counted by the cache since it started",
            n,
        ));
    }
    if let Some(t) = c.tokens {
        m.push(Measurement::new("tokens_served", t, Unit::Count, METHOD, n));
    }
    if let Some(cost) = s.cost_avoided() {
        m.push(Measurement::new(
            "cost_avoided",
            cost,
            Unit::Count,
            "tokens_served / 1000 × price_per_1k_tokens, in the currency of the price",
            n,
        ));
    }
    if let Some(d) = s.delta() {
        m.push(Measurement::new(
            "probe_hits_counted",
            d.hits,
            Unit::Count,
            "what the hits counter moved by during the probe",
            d.lookups() as u64,
        ));
    }
    m
}

/// Fail when the cache counted lookups but no hit; warn when the hits
/// counter moved less than the probe saw hits; pass otherwise. Not measured
/// when the counters cannot be read or count no lookup yet.
pub fn evaluate(s: &CacheSnapshot) -> Finding {
    let url = s.metrics_url.as_deref().unwrap_or(&s.target);
    let mut f = HIV_RATE
        .finding(Status::NotMeasured, String::new())
        .with_subject(&s.agent)
        .with_location(Location::endpoint(url))
        .with_measurements(measurements(s));
    let Some(c) = s.counters() else {
        let why = s
            .scrape_error
            .as_deref()
            .unwrap_or("the counters were not read");
        f.summary = format!("not measured: {why}");
        return f.with_recommendation(
            "Make the metrics endpoint reachable from the audit and check the counter names in [[cache]].",
        );
    };
    let Some(rate) = c.hit_rate() else {
        f.summary = "not measured: the cache has counted no lookup yet".into();
        return f;
    };
    let cost = s
        .cost_avoided()
        .map(|x| format!(", cost avoided {x:.4}"))
        .unwrap_or_default();
    let tokens = c
        .tokens
        .map(|t| format!(", {t} tokens served from cache"))
        .unwrap_or_default();
    if c.hits == 0.0 {
        f.status = Status::Fail;
        f.summary = format!(
            "the declared cache counted {} lookups and no hit",
            c.lookups()
        );
        return f.with_recommendation(
            "A cache that never hits only adds latency: check that it stores answers (TTL, capacity, key), or remove it.",
        );
    }
    let seen = s.header_hits() as f64;
    if let Some(d) = s.delta()
        && d.hits < seen
    {
        f.status = Status::Warn;
        f.summary = format!(
            "the hits counter moved by {} while the probe saw {seen} hits: it does not count every answer the cache serves (hit rate {:.1}% over {} lookups)",
            d.hits,
            rate * 100.0,
            c.lookups()
        );
        return f.with_recommendation(
            "Count every cache answer in the hits counter (or name the right counter in hits_metric), so the hit rate on dashboards is true.",
        );
    }
    f.status = Status::Pass;
    f.summary = format!(
        "hit rate {:.1}% over {} lookups{tokens}{cost}",
        rate * 100.0,
        c.lookups()
    );
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CacheKind, Counters, Reply, Round};

    fn counters(hits: f64, misses: f64, tokens: f64) -> Option<Counters> {
        Some(Counters {
            hits,
            misses,
            tokens: Some(tokens),
        })
    }

    fn snap(before: Option<Counters>, after: Option<Counters>, seen_hits: usize) -> CacheSnapshot {
        let hit = Reply {
            ttft_ms: Some(2.0),
            hit: Some(true),
            error: None,
        };
        CacheSnapshot {
            agent: "chat".into(),
            kind: CacheKind::Semantic,
            target: "http://h/v1".into(),
            hit_header: "x-cache".into(),
            probed: true,
            rounds: (0..seen_hits)
                .map(|_| Round {
                    cold: Reply::default(),
                    repeat: hit.clone(),
                    paraphrase: None,
                })
                .collect(),
            not_probed: None,
            metrics_url: Some("http://h/metrics".into()),
            before,
            after,
            scrape_error: Some("connection refused".into()),
            price_per_1k_tokens: Some(2.0),
            interrupted: false,
        }
    }

    #[test]
    fn verdicts_and_cost() {
        let f = evaluate(&snap(
            counters(1.0, 1.0, 10.0),
            counters(3.0, 2.0, 500.0),
            2,
        ));
        assert_eq!(f.status, Status::Pass, "{}", f.summary);
        assert!(
            f.summary.contains(
                "hit rate 60.0% over 5 lookups, 500 tokens served from cache, cost avoided 1.0000"
            ),
            "{}",
            f.summary
        );
        let f = evaluate(&snap(counters(1.0, 1.0, 10.0), counters(1.0, 3.0, 10.0), 2));
        assert_eq!(f.status, Status::Warn, "{}", f.summary);
        let f = evaluate(&snap(None, counters(0.0, 4.0, 0.0), 0));
        assert_eq!(f.status, Status::Fail, "{}", f.summary);
        let f = evaluate(&snap(None, counters(0.0, 0.0, 0.0), 0));
        assert_eq!(f.status, Status::NotMeasured, "{}", f.summary);
        let f = evaluate(&snap(None, None, 0));
        assert!(f.summary.contains("connection refused"), "{}", f.summary);
        // A counter that went down (a restart) is no evidence against the counters.
        let f = evaluate(&snap(counters(9.0, 1.0, 10.0), counters(1.0, 1.0, 10.0), 2));
        assert_eq!(f.status, Status::Pass, "{}", f.summary);
    }
}
