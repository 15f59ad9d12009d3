//! The simulation's findings: SIM-REASONING and SIM-COLLISION (State
//! pillar: what the agent remembers under load) and SIM-TRACE
//! (Observability: whether its traces stay one per conversation). Pages:
//! `docs/checks/SIM-*.md`; definitions: `docs/simulation.md`.

use cockpit_core::{
    CheckId, CheckSpec, Finding, Location, Measurement, Pillar, Severity, Status, Unit,
};

use crate::{LevelResult, SimReport};

pub const SIM_REASONING: CheckSpec = CheckSpec {
    id: CheckId::new("SIM-REASONING"),
    pillar: Pillar::State,
    severity: Severity::High,
    title: "Reasoning Score under concurrency (canary recall)",
};

pub const SIM_COLLISION: CheckSpec = CheckSpec {
    id: CheckId::new("SIM-COLLISION"),
    pillar: Pillar::State,
    severity: Severity::Critical,
    title: "Context collisions between concurrent sessions",
};

pub const SIM_TRACE: CheckSpec = CheckSpec {
    id: CheckId::new("SIM-TRACE"),
    pillar: Pillar::Observability,
    severity: Severity::Medium,
    title: "Contextual Trace Integrity (traceparent echo per session)",
};

/// Every check of this crate.
pub const ALL: [&CheckSpec; 3] = [&SIM_REASONING, &SIM_COLLISION, &SIM_TRACE];

const SCORE_METHOD: &str = "client-side, answered recall turns whose answer contains the session's own canary (exact match) / answered recall turns, per concurrency level";
const TRACE_METHOD: &str = "client-side, responses whose echoed traceparent carries the session's trace id (and, with a session header, its session id) / responses, per concurrency level";

/// The findings of a run; `score_min` and `integrity_min` are the levels'
/// bounds (the knee's objectives).
pub fn findings(r: &SimReport, score_min: f64, integrity_min: f64) -> Vec<Finding> {
    vec![
        reasoning(r, score_min),
        collision(r),
        trace(r, integrity_min),
    ]
}

fn base(spec: &CheckSpec, r: &SimReport) -> Finding {
    spec.finding(Status::NotMeasured, String::new())
        .with_subject(r.target.clone())
        .with_location(Location::endpoint(&r.target))
}

fn per_level(
    name: &str,
    levels: &[LevelResult],
    value: impl Fn(&LevelResult) -> Option<(f64, u64)>,
    method: &str,
) -> Vec<Measurement> {
    levels
        .iter()
        .filter_map(|l| {
            let (v, n) = value(l)?;
            Some(Measurement::new(
                format!("{name}_c{}", l.concurrency),
                v,
                Unit::Ratio,
                method,
                n,
            ))
        })
        .collect()
}

fn reasoning(r: &SimReport, min: f64) -> Finding {
    let mut f = base(&SIM_REASONING, r).with_measurements(per_level(
        "reasoning_score",
        &r.levels,
        |l| l.reasoning_score.map(|s| (s, l.answered)),
        SCORE_METHOD,
    ));
    let scored: Vec<&LevelResult> = r
        .levels
        .iter()
        .filter(|l| l.reasoning_score.is_some())
        .collect();
    if scored.is_empty() {
        f.summary = "not measured: no recall turn was answered".into();
        return f;
    }
    match scored.iter().find(|l| l.reasoning_score < Some(min)) {
        None => {
            f.status = Status::Pass;
            let worst = scored
                .iter()
                .filter_map(|l| l.reasoning_score)
                .fold(1.0, f64::min);
            f.summary = format!(
                "Reasoning Score at least {worst:.3} at every level up to {} concurrent sessions (objective {min})",
                r.levels.last().map_or(0, |l| l.concurrency)
            );
        }
        Some(l) => {
            f.status = Status::Fail;
            f.summary = format!(
                "Reasoning Score {:.3} ({}/{}) at {} concurrent sessions, below {min}; TTFT p95 there {:.1} ms",
                l.reasoning_score.unwrap_or(0.0),
                l.correct,
                l.answered,
                l.concurrency,
                l.ttft_ms.p95_ms
            );
            f = f.with_recommendation("Look for state shared between requests (a global or per-worker 'current session'), memory retrieval that gives up under load instead of failing the turn, and a context window that drops the oldest turns; keep session memory per session id in an external store.");
        }
    }
    f
}

fn collision(r: &SimReport) -> Finding {
    let mut f = base(&SIM_COLLISION, r);
    let total: u64 = r.levels.iter().map(|l| l.collisions).sum();
    let turns: u64 = r.levels.iter().map(|l| l.turns).sum();
    f = f.with_measurement(Measurement::new(
        "collisions",
        total as f64,
        Unit::Count,
        "client-side, answers (any turn) containing the canary of another session of the same level",
        turns,
    ));
    if turns == 0 {
        f.summary = "not measured: no turn was sent".into();
        return f;
    }
    match r.levels.iter().find(|l| l.collisions > 0) {
        None => {
            f.status = Status::Pass;
            f.summary = format!("no answer held another session's canary ({turns} turns)");
        }
        Some(l) => {
            f.status = Status::Fail;
            let ex = l
                .collision_examples
                .first()
                .map(|c| {
                    format!(
                        "; e.g. {} got {}'s canary at turn {}",
                        c.session, c.other_session, c.turn
                    )
                })
                .unwrap_or_default();
            f.summary = format!(
                "{total} answers held another session's canary, first at {} concurrent sessions{ex}",
                l.concurrency
            );
            f = f.with_recommendation("Context is bleeding between sessions: key every piece of conversation state by session id, never by worker, connection or a global slot, and test it under concurrency.");
        }
    }
    f
}

fn trace(r: &SimReport, min: f64) -> Finding {
    let mut f = base(&SIM_TRACE, r).with_measurements(per_level(
        "trace_integrity",
        &r.levels,
        |l| {
            l.trace_integrity
                .map(|s| (s, l.trace.echoed() + l.trace.missing))
        },
        TRACE_METHOD,
    ));
    let measured: Vec<&LevelResult> = r
        .levels
        .iter()
        .filter(|l| l.trace_integrity.is_some())
        .collect();
    if measured.is_empty() {
        f.summary = "not measured: the agent echoed no traceparent (echo it in a response header to have trace integrity checked)".into();
        return f;
    }
    match measured.iter().find(|l| l.trace_integrity < Some(min)) {
        None => {
            f.status = Status::Pass;
            f.summary = "every echoed trace context belongs to its own session".into();
        }
        Some(l) => {
            f.status = Status::Fail;
            let t = &l.trace;
            f.summary = format!(
                "trace integrity {:.3} at {} concurrent sessions (below {min}): {} missing, {} other trace ids, {} of another session, {} wrong session ids",
                l.trace_integrity.unwrap_or(0.0),
                l.concurrency,
                t.missing,
                t.mismatched,
                t.cross_session,
                t.session_mismatched
            );
            f = f.with_recommendation("Propagate the incoming W3C traceparent (continue its trace id) through every hop, and never reuse a trace context across requests.");
        }
    }
    f
}
