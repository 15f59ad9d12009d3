//! HIV-HIT: does the declared cache answer a prompt it has seen (and, a
//! semantic cache, the same question in other words), and how much time to
//! first token does that save? Probed, never estimated.

use cockpit_core::{
    CheckId, CheckSpec, Finding, Location, Measurement, Pillar, Severity, Status, Unit,
};

use super::median;
use crate::{CacheKind, CacheSnapshot};

pub const HIV_HIT: CheckSpec = CheckSpec {
    id: CheckId::new("HIV-HIT"),
    pillar: Pillar::Network,
    severity: Severity::Medium,
    title: "Hive Mind: the declared cache answers repeated prompts",
};

const METHOD: &str = "per round: a prompt with a reference never sent before, the same prompt again, and (semantic) its paraphrase with the same reference; one streaming request at a time; a hit is a response whose hit header holds `hit`";

/// The figures of the rounds.
struct Tally {
    n: usize,
    repeat_hits: usize,
    paraphrase_hits: usize,
    cold_hits: usize,
    cold_ttft: Vec<f64>,
    hit_ttft: Vec<f64>,
    saved: Vec<f64>,
}

fn tally(s: &CacheSnapshot) -> Tally {
    let mut t = Tally {
        n: 0,
        repeat_hits: 0,
        paraphrase_hits: 0,
        cold_hits: 0,
        cold_ttft: Vec::new(),
        hit_ttft: Vec::new(),
        saved: Vec::new(),
    };
    for r in s
        .rounds
        .iter()
        .filter(|r| r.cold.answered() && r.repeat.answered())
    {
        t.n += 1;
        let (cold, repeat) = (
            r.cold.ttft_ms.unwrap_or(0.0),
            r.repeat.ttft_ms.unwrap_or(0.0),
        );
        t.cold_hits += usize::from(r.cold.hit == Some(true));
        t.paraphrase_hits +=
            usize::from(r.paraphrase.as_ref().is_some_and(|p| p.hit == Some(true)));
        if r.cold.hit != Some(true) {
            t.cold_ttft.push(cold);
        }
        if r.repeat.hit == Some(true) {
            t.repeat_hits += 1;
            t.hit_ttft.push(repeat);
            if r.cold.hit == Some(false) {
                t.saved.push(cold - repeat);
            }
        }
    }
    t
}

fn measurements(t: &Tally, header_seen: bool) -> Vec<Measurement> {
    let n = t.n as u64;
    let mut m = vec![Measurement::new("rounds", n as f64, Unit::Count, METHOD, n)];
    if header_seen {
        m.push(Measurement::new(
            "repeat_hits",
            t.repeat_hits as f64,
            Unit::Count,
            METHOD,
            n,
        ));
        m.push(Measurement::new(
            "paraphrase_hits",
            t.paraphrase_hits as f64,
            Unit::Count,
            METHOD,
            n,
        ));
        m.push(Measurement::new(
            "cold_hits",
            t.cold_hits as f64,
            Unit::Count,
            METHOD,
            n,
        ));
    }
    let ms = |name: &str, v: &[f64], what: &str| {
        median(v.to_vec()).map(|x| {
            Measurement::new(
                name,
                x,
                Unit::Milliseconds,
                format!("median of {} {what}", v.len()),
                v.len() as u64,
            )
        })
    };
    m.extend(ms(
        "ttft_miss_p50",
        &t.cold_ttft,
        "client-side TTFTs of first sends the cache did not answer",
    ));
    m.extend(ms(
        "ttft_hit_p50",
        &t.hit_ttft,
        "client-side TTFTs of repeats the cache answered",
    ));
    m.extend(ms("ttft_saved_p50", &t.saved, "per-round differences, first send's TTFT minus its repeat's, in rounds where the first missed and the repeat hit"));
    m
}

/// Fail when the cache answered no repeat; warn when a semantic cache
/// answered repeats but no paraphrase; pass otherwise. Not measured when
/// the cache was not probed, no round was answered, or no answer carried
/// the hit header.
pub fn evaluate(s: &CacheSnapshot) -> Finding {
    let mut f = HIV_HIT
        .finding(Status::NotMeasured, String::new())
        .with_subject(&s.agent)
        .with_location(Location::endpoint(&s.target));
    if let Some(why) = &s.not_probed {
        f.summary = format!("not measured: {why}");
        return f;
    }
    let t = tally(s);
    let header_seen = s.replies().any(|r| r.hit.is_some());
    f = f.with_measurements(measurements(&t, header_seen));
    let saved = median(t.saved.clone())
        .map(|x| format!("; TTFT saved p50 {x:.1} ms (n = {})", t.saved.len()))
        .unwrap_or_default();
    if t.n == 0 {
        f.summary = format!(
            "not measured: no round was answered ({} sent)",
            s.rounds.len()
        );
        return f;
    }
    if !header_seen {
        f.summary = format!(
            "not measured: no answer carried the `{}` header, so a hit cannot be told from a miss ({} rounds)",
            s.hit_header, t.n
        );
        return f.with_recommendation(
            "Set hit_header to the header the cache sets on its answers (x-cache, x-cache-status, …), or have the cache send one.",
        );
    }
    let kind = s.kind.as_str();
    if t.repeat_hits == 0 {
        f.status = Status::Fail;
        f.summary = format!(
            "the declared {kind} cache answered none of {} repeated prompts",
            t.n
        );
        return f.with_recommendation(
            "Check that the cache is enabled and stores answers (TTL, capacity, a key that does not include per-request data such as a request id).",
        );
    }
    if s.kind == CacheKind::Semantic && t.paraphrase_hits == 0 {
        f.status = Status::Warn;
        f.summary = format!(
            "repeats hit ({}/{}) but no paraphrase did: the cache matches exact prompts only{saved}",
            t.repeat_hits, t.n
        );
        return f.with_recommendation(
            "Lower the semantic cache's similarity threshold, or check that it embeds the prompt rather than hashing it.",
        );
    }
    f.status = Status::Pass;
    let para = match s.kind {
        CacheKind::Semantic => format!(", paraphrases {}/{}", t.paraphrase_hits, t.n),
        _ => String::new(),
    };
    f.summary = format!(
        "{kind} cache answered repeats {}/{}{para}{saved}",
        t.repeat_hits, t.n
    );
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Reply, Round};

    fn reply(ttft: f64, hit: Option<bool>) -> Reply {
        Reply {
            ttft_ms: Some(ttft),
            hit,
            error: None,
        }
    }

    fn snap(rounds: Vec<Round>) -> CacheSnapshot {
        CacheSnapshot {
            agent: "chat".into(),
            kind: CacheKind::Semantic,
            target: "http://h/v1".into(),
            hit_header: "x-cache".into(),
            probed: true,
            rounds,
            not_probed: None,
            metrics_url: None,
            before: None,
            after: None,
            scrape_error: None,
            price_per_1k_tokens: None,
            interrupted: false,
        }
    }

    fn round(cold: Option<bool>, repeat: Option<bool>, para: Option<bool>) -> Round {
        Round {
            cold: reply(100.0, cold),
            repeat: reply(if repeat == Some(true) { 4.0 } else { 100.0 }, repeat),
            paraphrase: Some(reply(4.0, para)),
        }
    }

    #[test]
    fn verdicts() {
        let m = Some(false);
        let h = Some(true);
        let f = evaluate(&snap(vec![round(m, h, h), round(m, h, h)]));
        assert_eq!(f.status, Status::Pass, "{}", f.summary);
        assert!(
            f.summary
                .contains("repeats 2/2, paraphrases 2/2; TTFT saved p50 96.0 ms (n = 2)"),
            "{}",
            f.summary
        );
        let f = evaluate(&snap(vec![round(m, h, m)]));
        assert_eq!(f.status, Status::Warn, "{}", f.summary);
        let f = evaluate(&snap(vec![round(m, m, m), round(m, m, m)]));
        assert_eq!(f.status, Status::Fail, "{}", f.summary);
        assert!(
            f.summary.contains("none of 2 repeated prompts"),
            "{}",
            f.summary
        );
        let f = evaluate(&snap(vec![round(None, None, None)]));
        assert_eq!(f.status, Status::NotMeasured, "{}", f.summary);
        assert!(f.summary.contains("`x-cache` header"), "{}", f.summary);
        let mut failed = round(m, h, h);
        failed.repeat.error = Some(cockpit_probe::ErrorKind::Http5xx);
        assert_eq!(evaluate(&snap(vec![failed])).status, Status::NotMeasured);
    }
}
