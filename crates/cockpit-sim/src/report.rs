//! What a simulation measured, per concurrency level, and how it is added
//! up (the Reasoning Score with its Wilson interval, trace integrity).

use std::collections::BTreeMap;

use cockpit_core::{Distribution, LatencySummary};
use serde::{Deserialize, Serialize};

use crate::slo::SloResult;

/// Collision examples kept per level; the count is always complete.
pub const MAX_COLLISION_EXAMPLES: usize = 50;

/// One simulation run.
#[derive(Debug, Clone, Serialize)]
pub struct SimReport {
    /// The agent, credentials redacted.
    pub target: String,
    /// How sessions were carried: `history` (every request carries the
    /// whole conversation) or `session_header` (only the new turn, and the
    /// session id in the header named by `session_header`).
    pub mode: &'static str,
    pub session_header: Option<String>,
    pub turns_per_session: u32,
    pub recalls_per_session: u32,
    pub seed: u64,
    pub levels: Vec<LevelResult>,
    /// The lowest level where the score or the integrity fell below its
    /// objective; `None` when none did.
    pub knee: Option<Knee>,
    pub slos: Vec<SloResult>,
    /// Every objective held (true when none was given).
    pub slo_pass: bool,
    /// Stopped by a cancel (Ctrl-C); the levels hold what was measured.
    pub interrupted: bool,
    /// Stopped at the run's time bound.
    pub deadline_reached: bool,
    /// A run merged from shards (`simulate merge`, `--workers`): each
    /// shard's state and the sessions that did not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fanout: Option<crate::SimFanOut>,
}

/// Where degradation starts, with the saturation figures beside it.
#[derive(Debug, Clone, Serialize)]
pub struct Knee {
    pub concurrency: u32,
    /// What fell below its objective: `reasoning_score`, `trace_integrity`.
    pub metric: &'static str,
    pub value: f64,
    pub ttft_p50_ms: f64,
    pub ttft_p95_ms: f64,
}

/// An answer holding another session's canary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Collision {
    /// The session that got the answer.
    pub session: String,
    /// The session whose canary it held.
    pub other_session: String,
    /// The turn (1-based).
    pub turn: u32,
}

/// What the echoed trace context said, per turn with a response head.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceCounts {
    /// The echoed trace id is the session's.
    pub matched: u64,
    /// No echo.
    pub missing: u64,
    /// An echo with a trace id of no session of the level (or unreadable).
    pub mismatched: u64,
    /// An echo with another session's trace id.
    pub cross_session: u64,
    /// The trace id matched, but the echoed session id (session-header
    /// mode) is not the session's.
    pub session_mismatched: u64,
}

impl TraceCounts {
    /// Add another shard's counts.
    pub fn add(&mut self, o: &TraceCounts) {
        self.matched += o.matched;
        self.missing += o.missing;
        self.mismatched += o.mismatched;
        self.cross_session += o.cross_session;
        self.session_mismatched += o.session_mismatched;
    }

    /// Turns with an echo.
    pub fn echoed(&self) -> u64 {
        self.matched + self.mismatched + self.cross_session + self.session_mismatched
    }

    /// Matched turns over turns with a response head; `None` (not measured)
    /// when the agent never echoed.
    pub fn integrity(&self) -> Option<f64> {
        if self.echoed() == 0 {
            return None;
        }
        Some(self.matched as f64 / (self.echoed() + self.missing) as f64)
    }
}

/// One concurrency level.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LevelResult {
    /// Sessions in flight at once.
    pub concurrency: u32,
    /// Sessions run (at least `concurrency`; more when the level needed
    /// them for its recall turns).
    pub sessions: u32,
    /// Turns sent.
    pub turns: u64,
    /// Recall turns sent.
    pub recall_turns: u64,
    /// Recall turns with a complete, non-empty answer.
    pub answered: u64,
    /// Answered recall turns holding the session's own canary.
    pub correct: u64,
    /// Answered recall turns without it.
    pub wrong: u64,
    /// Recall turns whose stream finished without content.
    pub empty: u64,
    /// Answers (any turn) holding another session's canary.
    pub collisions: u64,
    pub collision_examples: Vec<Collision>,
    /// Failed turns by kind (`timeout`, `stream_cut`, `http_5xx`, …,
    /// `answer_over_bound`).
    pub errors: BTreeMap<String, u64>,
    /// Failed turns over turns sent.
    pub error_rate: f64,
    /// `correct / answered`; `None` when nothing was answered.
    pub reasoning_score: Option<f64>,
    /// The Wilson 95 % interval of the score.
    pub score_ci95: Option<[f64; 2]>,
    pub trace: TraceCounts,
    /// See [`TraceCounts::integrity`].
    pub trace_integrity: Option<f64>,
    /// Time to first token of successful turns.
    pub ttft_ms: LatencySummary,
    /// End-to-end time of successful turns.
    pub e2e_ms: LatencySummary,
    #[serde(skip)]
    pub ttft: Distribution,
    #[serde(skip)]
    pub e2e: Distribution,
}

impl LevelResult {
    /// Derive the ratios and summaries from the counts.
    pub(crate) fn finish(&mut self) {
        let failed: u64 = self.errors.values().sum();
        self.error_rate = if self.turns == 0 {
            0.0
        } else {
            failed as f64 / self.turns as f64
        };
        self.reasoning_score =
            (self.answered > 0).then(|| self.correct as f64 / self.answered as f64);
        self.score_ci95 = wilson95(self.correct, self.answered);
        self.trace_integrity = self.trace.integrity();
        self.ttft_ms = self.ttft.summary();
        self.e2e_ms = self.e2e.summary();
    }
}

/// The Wilson score interval (95 %, z = 1.96) of `k` successes in `n`.
///
/// ```
/// use cockpit_sim::wilson95;
/// let [lo, hi] = wilson95(30, 30).unwrap();
/// assert!(lo > 0.88 && lo < 0.89 && hi == 1.0);
/// assert_eq!(wilson95(0, 0), None);
/// ```
pub fn wilson95(k: u64, n: u64) -> Option<[f64; 2]> {
    if n == 0 {
        return None;
    }
    let z = 1.96_f64;
    let n = n as f64;
    let p = k as f64 / n;
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some([(centre - half).max(0.0), (centre + half).min(1.0)])
}
