//! What one cache measured: the probe's replies and the counters before
//! and after them. What a dashboard panel reads and the checks judge.

use cockpit_probe::ErrorKind;
use serde::Serialize;

use crate::{CacheKind, Counters};

/// One request of the probe.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct Reply {
    /// Client-side time to first token, ms (none when it failed).
    pub ttft_ms: Option<f64>,
    /// What the hit header said: `Some(true)` a hit, `Some(false)` another
    /// value, `None` no header.
    pub hit: Option<bool>,
    pub error: Option<ErrorKind>,
}

impl Reply {
    pub fn answered(&self) -> bool {
        self.error.is_none() && self.ttft_ms.is_some()
    }
}

/// One round: a prompt never sent before, the same prompt again, and (a
/// semantic cache) the paraphrase.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct Round {
    pub cold: Reply,
    pub repeat: Reply,
    pub paraphrase: Option<Reply>,
}

/// One cache measured.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct CacheSnapshot {
    pub agent: String,
    pub kind: CacheKind,
    /// The agent's endpoint, redacted.
    pub target: String,
    /// The hit header read.
    pub hit_header: String,
    /// Whether the cache is probed (`probe = true`, the default).
    pub probed: bool,
    pub rounds: Vec<Round>,
    /// Why the probe did not run or stopped, when it did.
    pub not_probed: Option<String>,
    /// The metrics endpoint, redacted, when counters are declared.
    pub metrics_url: Option<String>,
    /// The counters before and after the probe.
    pub before: Option<Counters>,
    pub after: Option<Counters>,
    /// Why the counters could not be read.
    pub scrape_error: Option<String>,
    pub price_per_1k_tokens: Option<f64>,
    pub interrupted: bool,
}

impl CacheSnapshot {
    /// The latest counters read.
    pub fn counters(&self) -> Option<Counters> {
        self.after.or(self.before)
    }

    /// What the counters moved by during the probe (`None` without both
    /// readings or when a counter went down: a restart).
    pub fn delta(&self) -> Option<Counters> {
        let (b, a) = (self.before?, self.after?);
        let d = Counters {
            hits: a.hits - b.hits,
            misses: a.misses - b.misses,
            tokens: a.tokens.zip(b.tokens).map(|(a, b)| a - b),
        };
        (d.hits >= 0.0 && d.misses >= 0.0 && d.tokens.is_none_or(|t| t >= 0.0)).then_some(d)
    }

    /// The cost avoided so far: tokens served / 1000 × price.
    pub fn cost_avoided(&self) -> Option<f64> {
        let tokens = self.counters()?.tokens?;
        Some(tokens / 1000.0 * self.price_per_1k_tokens?)
    }

    /// Every reply of the probe that said it was a hit.
    pub fn header_hits(&self) -> usize {
        self.replies().filter(|r| r.hit == Some(true)).count()
    }

    /// Every reply of the probe.
    pub fn replies(&self) -> impl Iterator<Item = &Reply> {
        self.rounds
            .iter()
            .flat_map(|r| [Some(&r.cold), Some(&r.repeat), r.paraphrase.as_ref()])
            .flatten()
    }
}
