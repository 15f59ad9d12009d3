//! HIV-FLEET: the fleet's caches together — hit rate over every lookup
//! counted, tokens served from cache, cost avoided.

use cockpit_core::{
    CheckId, CheckSpec, Finding, Location, Measurement, Pillar, Severity, Status, Unit,
};

use crate::{CacheSnapshot, Counters};

pub const HIV_FLEET: CheckSpec = CheckSpec {
    id: CheckId::new("HIV-FLEET"),
    pillar: Pillar::Observability,
    severity: Severity::Low,
    title: "Hive Mind: the fleet's cache totals",
};

/// The subject of the fleet's totals.
pub const FLEET: &str = "fleet";

/// Sums over the caches whose counters were read; pass with the totals, not
/// measured when none was. A judgement of each cache is HIV-RATE's.
pub fn evaluate(snaps: &[&CacheSnapshot]) -> Finding {
    let read: Vec<_> = snaps
        .iter()
        .filter_map(|s| Some((s, s.counters()?)))
        .collect();
    let mut f = HIV_FLEET
        .finding(Status::NotMeasured, String::new())
        .with_subject(FLEET)
        .with_location(Location::endpoint(FLEET));
    if read.is_empty() {
        f.summary = format!(
            "not measured: no cache's counters could be read ({} declared)",
            snaps.len()
        );
        return f;
    }
    let t = totals(&read);
    f = f.with_measurements(t.measurements());
    f.status = Status::Pass;
    let rate = if t.lookups > 0.0 {
        format!(
            "hit rate {:.1}% over {} lookups",
            t.hits / t.lookups * 100.0,
            t.lookups
        )
    } else {
        "no lookup counted".into()
    };
    f.summary = format!(
        "{} caches: {rate}{}{}",
        t.caches,
        t.tokens
            .map(|x| format!(", {x} tokens served from cache"))
            .unwrap_or_default(),
        t.cost
            .map(|(c, _)| format!(", cost avoided {c:.4}"))
            .unwrap_or_default()
    );
    f
}

/// The fleet's sums.
struct Totals {
    caches: usize,
    hits: f64,
    lookups: f64,
    tokens: Option<f64>,
    /// The cost avoided, and over how many caches with a price.
    cost: Option<(f64, usize)>,
}

fn totals(read: &[(&&CacheSnapshot, Counters)]) -> Totals {
    let costs: Vec<f64> = read.iter().filter_map(|(s, _)| s.cost_avoided()).collect();
    Totals {
        caches: read.len(),
        hits: read.iter().map(|(_, c)| c.hits).sum(),
        lookups: read.iter().map(|(_, c)| c.lookups()).sum(),
        tokens: read
            .iter()
            .filter_map(|(_, c)| c.tokens)
            .reduce(|a, b| a + b),
        cost: (!costs.is_empty()).then(|| (costs.iter().sum(), costs.len())),
    }
}

impl Totals {
    fn measurements(&self) -> Vec<Measurement> {
        let n = self.lookups as u64;
        let method = format!(
            "sum over the {} caches whose counters were read",
            self.caches
        );
        let mut m = vec![
            Measurement::new(
                "caches",
                self.caches as f64,
                Unit::Count,
                &method,
                self.caches as u64,
            ),
            Measurement::new("hits", self.hits, Unit::Count, &method, n),
            Measurement::new("lookups", self.lookups, Unit::Count, &method, n),
        ];
        if self.lookups > 0.0 {
            m.push(Measurement::new(
                "hit_rate",
                self.hits / self.lookups * 100.0,
                Unit::Percent,
                &method,
                n,
            ));
        }
        if let Some(t) = self.tokens {
            m.push(Measurement::new(
                "tokens_served",
                t,
                Unit::Count,
                &method,
                n,
            ));
        }
        if let Some((c, k)) = self.cost {
            m.push(Measurement::new(
                "cost_avoided",
                c,
                Unit::Count,
                format!("{method}, over the {k} with a price_per_1k_tokens"),
                n,
            ));
        }
        m
    }
}
