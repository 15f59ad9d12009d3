//! Reasoning degradation under load: does the agent still remember what
//! each user told it when many talk to it at once?
//!
//! `cockpit-sim` runs N concurrent multi-turn conversations against an
//! OpenAI-compatible agent (cockpit-probe's [`ChatClient`], under its
//! bounds). Turn 1 of each plants a unique random canary fact ("my order
//! number is CNRY-7F3K-Q2XM"); later turns ask for it, directly and
//! indirectly, between filler turns that grow the context. Answers are
//! judged by exact match — no model judging:
//!
//! - **Reasoning Score**: answered recall turns holding the session's own
//!   canary / answered recall turns, with a Wilson 95 % interval;
//! - **context collisions**: answers holding *another* session's canary,
//!   listed with both session ids;
//! - **errors by kind** (timeouts, cut streams, 5xx, empty answers), kept
//!   apart from wrong answers;
//! - **Contextual Trace Integrity**: each turn sends a W3C `traceparent`
//!   (one trace per session, a new span per turn); the agent's echo must
//!   carry the session's trace id; not measured when it echoes nothing;
//! - per concurrency level (a ramp such as `1:256:x2`): TTFT and e2e
//!   distributions ([`cockpit_core::Distribution`]) and the error rate
//!   beside the reasoning metrics, and the **knee**: the lowest level where
//!   the score or the integrity falls below its objective.
//!
//! Exact definitions: `docs/simulation.md`.
//!
//! ```
//! use cockpit_sim::{Ramp, SimOptions, SimSlo};
//! let opts = SimOptions {
//!     turns: 8,
//!     ramp: Some("1:64:x4".parse::<Ramp>().unwrap()),
//!     slos: vec!["collisions==0".parse::<SimSlo>().unwrap()],
//!     ..SimOptions::default()
//! };
//! opts.validate().unwrap();
//! assert_eq!(opts.levels().levels(), [1, 4, 16, 64]);
//! // 8 turns: recall at turns 3, 5, 7 and 8; 30 recall turns need 8 sessions.
//! assert_eq!(opts.sessions_at(1), 8);
//! ```
//!
//! What it never does:
//!
//! - **No judging by a model**: a canary is in the answer or it is not.
//! - **No retries**: a failed turn is counted by its kind, and the
//!   conversation goes on.
//! - **No unbounded run**: every turn is under the client's timeout, the
//!   run under `deadline`, and a cancel returns what was measured, marked
//!   interrupted.
//! - **No printing**: results are returned; the CLI renders them.

pub mod checks;
mod error;
mod options;
mod ramp;
mod report;
mod run;
pub mod script;
mod shard;
mod slo;

use std::sync::Arc;

use cockpit_core::slo::Op;
use cockpit_probe::chat::ChatClient;

pub use error::SimError;
pub use options::{MAX_DEADLINE, MAX_TURNS, SimOptions};
pub use ramp::{MAX_CONCURRENCY, MAX_LEVELS, Ramp};
pub use report::{
    Collision, Knee, LevelResult, MAX_COLLISION_EXAMPLES, SimReport, TraceCounts, wilson95,
};
pub use shard::{
    ClockOffset, MergeInput, SHARD_SCHEMA, Shard, Share, SimFanOut, SimShardLevel, SimShardResult,
    SimShardRun, SimShardStatus, merge_shards, read_shard, simulate_shard,
};
pub use slo::{SimMetric, SimSlo, SloResult};

/// The bound a level's score (and integrity) must reach when no objective
/// names it: 0.99.
pub const DEFAULT_MIN: f64 = 0.99;

/// Run the simulation against the agent at `url`.
pub async fn simulate(url: &str, opts: &SimOptions) -> Result<SimReport, SimError> {
    opts.validate()?;
    let client = client(url, opts)?;
    let deadline = tokio::time::Instant::now() + opts.deadline;
    let ran = run_levels(&client, opts, Shard::WHOLE, deadline).await;
    let mut report = SimReport {
        levels: ran.levels,
        interrupted: ran.interrupted,
        deadline_reached: ran.deadline_reached,
        ..SimReport::header(client.target().to_string(), opts)
    };
    report.judge(&opts.slos);
    Ok(report)
}

/// The chat client of a run, keeping the JSON fields the trace is read from.
fn client(url: &str, opts: &SimOptions) -> Result<Arc<ChatClient>, SimError> {
    let fields = opts.trace_field.iter().chain(&opts.session_field).cloned();
    Ok(Arc::new(
        ChatClient::new(url, &opts.request)?.keep_fields(fields),
    ))
}

/// What a shard (or the whole run) measured, level after level.
struct Ran {
    levels: Vec<LevelResult>,
    /// Per level, the shard's sessions that ran to their last turn.
    completed: Vec<u32>,
    interrupted: bool,
    deadline_reached: bool,
}

/// Run `shard`'s part of every level, lowest first, until done, cancelled
/// or past `deadline`.
async fn run_levels(
    client: &Arc<ChatClient>,
    opts: &SimOptions,
    shard: Shard,
    deadline: tokio::time::Instant,
) -> Ran {
    let shared = Arc::new(opts.clone());
    let mut ran = Ran {
        levels: Vec::new(),
        completed: Vec::new(),
        interrupted: false,
        deadline_reached: false,
    };
    for &c in opts.levels().levels() {
        let span = tracing::info_span!("simulate", target = %client.target(), concurrency = c, shard = %shard);
        let _g = span.enter();
        let level = run::run_level(client, &shared, c, shard, deadline).await;
        ran.levels.push(level.level);
        ran.completed.push(level.completed);
        match level.stop {
            Some(run::Stop::Cancelled) => ran.interrupted = true,
            Some(run::Stop::Deadline) => ran.deadline_reached = true,
            None => {}
        }
        if level.stop.is_some() || opts.cancel.is_cancelled() {
            ran.interrupted |= opts.cancel.is_cancelled();
            break;
        }
    }
    ran
}

impl SimReport {
    /// A report with no level yet: what the options say of the run.
    fn header(target: String, opts: &SimOptions) -> SimReport {
        SimReport {
            target,
            mode: if opts.session_header.is_some() {
                "session_header"
            } else {
                "history"
            },
            session_header: opts.session_header.as_ref().map(|h| h.to_string()),
            turns_per_session: opts.turns,
            recalls_per_session: script::recalls_per_session(opts.turns),
            seed: opts.seed,
            levels: Vec::new(),
            knee: None,
            slos: Vec::new(),
            slo_pass: true,
            interrupted: false,
            deadline_reached: false,
            fanout: None,
        }
    }

    /// The knee and the objectives, judged on the levels.
    fn judge(&mut self, slos: &[SimSlo]) {
        let (score_min, integrity_min) = bounds(slos);
        self.knee = knee(&self.levels, score_min, integrity_min);
        self.slos = slo::evaluate(slos, &self.levels);
        self.slo_pass = self.slos.iter().all(|s| s.pass);
    }
}

/// The score and integrity bounds of the knee: the first `>` / `>=`
/// objective on each, else [`DEFAULT_MIN`].
pub fn bounds(slos: &[SimSlo]) -> (f64, f64) {
    let of = |m: SimMetric| {
        slos.iter()
            .find(|s| s.metric == m && matches!(s.op, Op::Gt | Op::Ge))
            .map_or(DEFAULT_MIN, |s| s.threshold)
    };
    (of(SimMetric::ReasoningScore), of(SimMetric::TraceIntegrity))
}

/// The lowest level whose score or integrity is below its bound.
fn knee(levels: &[LevelResult], score_min: f64, integrity_min: f64) -> Option<Knee> {
    levels.iter().find_map(|l| {
        let (metric, value) = match (l.reasoning_score, l.trace_integrity) {
            (Some(s), _) if s < score_min => ("reasoning_score", s),
            (_, Some(t)) if t < integrity_min => ("trace_integrity", t),
            _ => return None,
        };
        Some(Knee {
            concurrency: l.concurrency,
            metric,
            value,
            ttft_p50_ms: l.ttft_ms.p50_ms,
            ttft_p95_ms: l.ttft_ms.p95_ms,
        })
    })
}

/// The Report findings of a run (SIM-REASONING, SIM-COLLISION, SIM-TRACE),
/// judged against the run's objectives (or [`DEFAULT_MIN`]).
pub fn findings(report: &SimReport, slos: &[SimSlo]) -> Vec<cockpit_core::Finding> {
    let (s, t) = bounds(slos);
    checks::findings(report, s, t)
}
