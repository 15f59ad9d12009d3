//! A simulation spread over processes: one shard of the run's sessions per
//! process (a local child, a Kubernetes Indexed Job's pod), and the exact
//! merge of their results.
//!
//! At each level of `C` sessions in flight running `N` sessions, the
//! `K' = min(K, C)` first shards take part: shard `k < K'` runs the
//! sessions `i ≡ k (mod K')` with `⌊C / K'⌋` (one more for `k < C mod K'`)
//! of them in flight, so the shards' in-flight counts add up to `C`. Every
//! session keeps its global index: its canary, trace id, span ids and
//! filler come from (`seed`, `C`, `i`) as in one process, its session id is
//! `sim-c{C}-s{i}`, and each shard knows every canary of the level, so a
//! collision with a session of another shard is caught. The union of the
//! shards' sessions is exactly the sessions one process runs with the same
//! seed. Levels are not synchronised between shards: each goes on to its
//! next level when its own sessions of the level are done.
//!
//! A shard reports a [`SimShardResult`] (schema [`SHARD_SCHEMA`]): the run
//! it belongs to, per level its tallies (turns, recall verdicts, errors by
//! kind, trace counts, collisions) and its TTFT / e2e histograms in
//! HdrHistogram's V2 encoding, its clock offset and its lateness.
//! [`merge_shards`] adds the tallies, merges the histograms, derives every
//! ratio (the Reasoning Score, its Wilson interval, integrity, error rate)
//! from the merged tallies — never from the shards' ratios — and judges the
//! knee and the objectives once. A shard without a result is a hole: the
//! merged report is interrupted, names it, and its sessions count as not
//! run; nothing is scaled up.
//!
//! ```
//! use cockpit_sim::{Share, Shard};
//! // 3 shards, a level of 8 in flight running 10 sessions.
//! let parts: Vec<Share> = (0..3)
//!     .map(|index| Share::of(Shard { index, count: 3 }, 8, 10))
//!     .collect();
//! assert_eq!(parts.iter().map(|p| p.workers).sum::<u32>(), 8);
//! let mut all: Vec<u32> = parts
//!     .iter()
//!     .flat_map(|p| (0..p.sessions).map(|j| p.session(j)))
//!     .collect();
//! all.sort();
//! assert_eq!(all, (0..10).collect::<Vec<u32>>());
//! ```

use std::collections::BTreeMap;
use std::time::SystemTime;

use cockpit_core::Distribution;
use serde::{Deserialize, Serialize};

pub use cockpit_probe::load::{ClockOffset, MAX_SHARDS, MergeInput, Shard};

use crate::report::{Collision, LevelResult, MAX_COLLISION_EXAMPLES, TraceCounts};
use crate::{MAX_CONCURRENCY, MAX_LEVELS, MAX_TURNS, SimError, SimOptions, SimReport, SimSlo};

/// The version of [`SimShardResult`]'s JSON form; a merge refuses any other.
pub const SHARD_SCHEMA: &str = "agentops-cockpit/simulate-shard/1";
/// The most error kinds one level of a result may list.
const MAX_ERROR_KINDS: usize = 64;

/// A shard's part of one level: which sessions it runs, how many at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    /// Its first session's index in the level.
    pub first: u32,
    /// The distance between its sessions' indices.
    pub stride: u32,
    /// How many sessions it runs.
    pub sessions: u32,
    /// How many it keeps in flight.
    pub workers: u32,
}

impl Share {
    /// `shard`'s part of a level of `concurrency` in flight running
    /// `sessions` sessions (see the module doc).
    pub fn of(shard: Shard, concurrency: u32, sessions: u32) -> Share {
        let count = u32::try_from(shard.count).unwrap_or(u32::MAX);
        let index = u32::try_from(shard.index).unwrap_or(u32::MAX);
        let active = count.min(concurrency).max(1);
        if index >= active {
            return Share {
                first: 0,
                stride: 1,
                sessions: 0,
                workers: 0,
            };
        }
        Share {
            first: index,
            stride: active,
            sessions: sessions.saturating_sub(index).div_ceil(active),
            workers: concurrency / active + u32::from(index < concurrency % active),
        }
    }

    /// The level's index of this share's `j`-th session.
    pub fn session(&self, j: u32) -> u32 {
        self.first + j * self.stride
    }
}

/// What every shard of one run shares; a merge refuses shards that differ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimShardRun {
    /// The agent, credentials redacted.
    pub target: String,
    /// `history` or `session_header`.
    pub mode: String,
    pub session_header: Option<String>,
    pub trace_field: Option<String>,
    pub session_field: Option<String>,
    pub turns_per_session: u32,
    pub min_recall_turns: u32,
    /// The concurrency levels, lowest first.
    pub levels: Vec<u32>,
    pub seed: u64,
    pub shards: usize,
    /// The common start, nanoseconds since the Unix epoch.
    pub start_at_unix_ns: u64,
    pub slos: Vec<String>,
}

/// One level's tallies of one shard, its histograms base64 V2.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimShardLevel {
    pub concurrency: u32,
    /// The shard's sessions of the level.
    pub sessions: u32,
    /// Those that ran to their last turn.
    pub completed: u32,
    pub turns: u64,
    pub recall_turns: u64,
    pub answered: u64,
    pub correct: u64,
    pub wrong: u64,
    pub empty: u64,
    pub collisions: u64,
    pub collision_examples: Vec<Collision>,
    pub errors: BTreeMap<String, u64>,
    pub trace: TraceCounts,
    pub ttft: String,
    pub e2e: String,
}

/// What one shard measured: self-describing, versioned ([`SHARD_SCHEMA`]),
/// mergeable exactly with the other shards of its run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimShardResult {
    pub schema: String,
    pub run: SimShardRun,
    pub shard: usize,
    /// How late the common start already was when this shard was ready.
    pub late_start_ms: f64,
    #[serde(default)]
    pub clock: Option<ClockOffset>,
    /// From the common start to this shard's end.
    pub elapsed_s: f64,
    pub interrupted: bool,
    pub deadline_reached: bool,
    pub levels: Vec<SimShardLevel>,
}

/// One shard in the merged report.
#[derive(Debug, Clone, Serialize)]
pub struct SimShardStatus {
    pub shard: usize,
    /// `ok`, `interrupted` (stopped early) or `missing` (no result).
    pub state: &'static str,
    /// The file or worker the result came from.
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Its sessions at the levels the run reached.
    pub sessions: u64,
    /// Those that ran to their last turn.
    pub completed: u64,
    pub turns: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clock_offset_ms: Option<f64>,
    pub late_start_ms: f64,
}

/// What the merged report says of the fan-out.
#[derive(Debug, Clone, Serialize)]
pub struct SimFanOut {
    pub shards: usize,
    /// The common start, nanoseconds since the Unix epoch.
    pub start_at_unix_ns: u64,
    pub workers: Vec<SimShardStatus>,
    /// Shards without a result.
    pub missing: Vec<usize>,
    /// Sessions of the levels reached that did not run to their end (every
    /// session of a missing shard, the unfinished ones of a stopped one).
    pub sessions_not_run: u64,
    /// Largest minus smallest measured clock offset, milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clock_spread_ms: Option<f64>,
    pub warnings: Vec<String>,
}

fn refuse(name: &str, reason: impl Into<String>) -> SimError {
    SimError::ShardResult {
        name: name.to_string(),
        reason: reason.into(),
    }
}

use cockpit_probe::load::hist_to_b64 as b64;

fn dist(name: &str, what: &str, s: &str) -> Result<Distribution, SimError> {
    cockpit_probe::load::hist_from_b64(s).map_err(|e| refuse(name, format!("{what}: {e}")))
}

/// Run shard `shard` of the simulation `opts` describes against `url`,
/// from `start_at` on this machine's wall clock (the run's `deadline`
/// counts from there).
pub async fn simulate_shard(
    url: &str,
    opts: &SimOptions,
    shard: Shard,
    start_at: SystemTime,
    clock: Option<ClockOffset>,
) -> Result<SimShardResult, SimError> {
    opts.validate()?;
    let start_at_unix_ns = start_at
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok()
        .and_then(|d| u64::try_from(d.as_nanos()).ok())
        .ok_or_else(|| SimError::InvalidOption {
            name: "start_at",
            reason: "must be after 1970 and before 2554".into(),
        })?;
    let client = crate::client(url, opts)?;
    let header = SimReport::header(client.target().to_string(), opts);
    let (start, late) = cockpit_probe::load::wait_for_start(start_at, &opts.cancel).await;
    let start = tokio::time::Instant::from_std(start);
    let ran = crate::run_levels(&client, opts, shard, start + opts.deadline).await;
    let run = SimShardRun {
        target: header.target,
        mode: header.mode.to_string(),
        session_header: header.session_header,
        trace_field: opts.trace_field.clone(),
        session_field: opts.session_field.clone(),
        turns_per_session: opts.turns,
        min_recall_turns: opts.min_recall_turns,
        levels: opts.levels().levels().to_vec(),
        seed: opts.seed,
        shards: shard.count,
        start_at_unix_ns,
        slos: opts.slos.iter().map(|s| s.text.clone()).collect(),
    };
    Ok(SimShardResult {
        schema: SHARD_SCHEMA.to_string(),
        run,
        shard: shard.index,
        late_start_ms: late.as_secs_f64() * 1e3,
        clock,
        elapsed_s: start.elapsed().as_secs_f64(),
        interrupted: ran.interrupted,
        deadline_reached: ran.deadline_reached,
        levels: ran
            .levels
            .iter()
            .zip(&ran.completed)
            .map(|(l, c)| SimShardLevel::of(l, *c))
            .collect(),
    })
}

impl SimShardLevel {
    fn of(l: &LevelResult, completed: u32) -> SimShardLevel {
        SimShardLevel {
            concurrency: l.concurrency,
            sessions: l.sessions,
            completed,
            turns: l.turns,
            recall_turns: l.recall_turns,
            answered: l.answered,
            correct: l.correct,
            wrong: l.wrong,
            empty: l.empty,
            collisions: l.collisions,
            collision_examples: l.collision_examples.clone(),
            errors: l.errors.clone(),
            trace: l.trace,
            ttft: b64(&l.ttft),
            e2e: b64(&l.e2e),
        }
    }

    /// Add this shard's tallies into the merged level `acc`.
    fn add_to(&self, name: &str, acc: &mut LevelResult) -> Result<(), SimError> {
        acc.ttft.merge(&dist(name, "ttft", &self.ttft)?);
        acc.e2e.merge(&dist(name, "e2e", &self.e2e)?);
        acc.sessions += self.sessions;
        acc.turns += self.turns;
        acc.recall_turns += self.recall_turns;
        acc.answered += self.answered;
        acc.correct += self.correct;
        acc.wrong += self.wrong;
        acc.empty += self.empty;
        acc.collisions += self.collisions;
        let room = MAX_COLLISION_EXAMPLES.saturating_sub(acc.collision_examples.len());
        acc.collision_examples
            .extend(self.collision_examples.iter().take(room).cloned());
        for (kind, n) in &self.errors {
            *acc.errors.entry(kind.clone()).or_default() += n;
        }
        acc.trace.add(&self.trace);
        Ok(())
    }
}

/// Read one shard result (JSON, at most `max_bytes`), checking its schema
/// and its bounds before using it.
pub fn read_shard(name: &str, bytes: &[u8], max_bytes: usize) -> Result<SimShardResult, SimError> {
    let r: SimShardResult = cockpit_probe::load::read_versioned(
        bytes,
        max_bytes,
        SHARD_SCHEMA,
        "simulation shard result",
    )
    .map_err(|e| refuse(name, e))?;
    r.check(name)?;
    Ok(r)
}

impl SimShardResult {
    /// Bounds a result must keep before it is merged.
    fn check(&self, name: &str) -> Result<(), SimError> {
        let r = &self.run;
        if r.shards == 0 || r.shards > MAX_SHARDS || self.shard >= r.shards {
            return Err(refuse(
                name,
                format!("shard {} of {}", self.shard, r.shards),
            ));
        }
        if !matches!(r.mode.as_str(), "history" | "session_header") {
            return Err(refuse(name, format!("mode {:?}", r.mode)));
        }
        if !(2..=MAX_TURNS).contains(&r.turns_per_session) || r.min_recall_turns > 1_000_000 {
            return Err(refuse(name, "turns or min_recall_turns out of range"));
        }
        let level_ok = |c: &u32| (1..=MAX_CONCURRENCY).contains(c);
        if r.levels.is_empty() || r.levels.len() > MAX_LEVELS || !r.levels.iter().all(level_ok) {
            return Err(refuse(name, "its levels are out of range"));
        }
        if r.slos.len() > 64 || self.levels.len() > r.levels.len() {
            return Err(refuse(name, "more levels or objectives than its run"));
        }
        if !(self.elapsed_s.is_finite() && self.elapsed_s >= 0.0) {
            return Err(refuse(name, "elapsed_s out of range"));
        }
        for (l, &c) in self.levels.iter().zip(&r.levels) {
            let planned = Share::of(self.shard_of(), c, sessions_at(r, c));
            let fits = l.concurrency == c
                && l.sessions == planned.sessions
                && l.completed <= l.sessions
                && l.errors.len() <= MAX_ERROR_KINDS
                && l.collision_examples.len() <= MAX_COLLISION_EXAMPLES;
            if !fits {
                return Err(refuse(
                    name,
                    format!("its level of concurrency {c} does not match its run"),
                ));
            }
        }
        Ok(())
    }

    fn shard_of(&self) -> Shard {
        Shard {
            index: self.shard,
            count: self.run.shards,
        }
    }
}

/// Sessions a level of `c` runs in the run `r` (every shard's).
fn sessions_at(r: &SimShardRun, c: u32) -> u32 {
    crate::options::sessions_at(r.turns_per_session, r.min_recall_turns, c)
}

/// The name of the first input that holds a result.
fn first_name(inputs: &[MergeInput<SimShardResult>]) -> String {
    inputs
        .iter()
        .find(|i| i.result.is_ok())
        .map_or_else(String::new, |i| i.name.clone())
}

/// What differs between two simulation runs, if anything.
fn run_differs(a: &SimShardRun, b: &SimShardRun) -> Option<&'static str> {
    let differs = [
        ("target", a.target != b.target),
        (
            "session mode",
            a.mode != b.mode || a.session_header != b.session_header,
        ),
        (
            "trace fields",
            a.trace_field != b.trace_field || a.session_field != b.session_field,
        ),
        ("turns", a.turns_per_session != b.turns_per_session),
        (
            "recall turns per level",
            a.min_recall_turns != b.min_recall_turns,
        ),
        ("levels", a.levels != b.levels),
        ("seed", a.seed != b.seed),
        ("shard count", a.shards != b.shards),
        ("start instant", a.start_at_unix_ns != b.start_at_unix_ns),
        ("SLOs", a.slos != b.slos),
    ];
    differs.iter().find(|(_, d)| *d).map(|(what, _)| *what)
}

/// The merged levels and the shards' states.
struct Added {
    levels: Vec<LevelResult>,
    workers: Vec<SimShardStatus>,
    interrupted: bool,
    deadline_reached: bool,
}

/// Merge the shard results of one simulation into one report, exactly:
/// tallies added, histograms merged, every ratio derived from the merged
/// tallies, the knee and `slos` (the run's own when `None`) judged once. A
/// shard missing from `inputs` (or whose input is an error) is named, its
/// sessions count as not run, and the report is interrupted. Errors: a
/// result of another run or a shard given twice (naming the input).
pub fn merge_shards(
    inputs: &[MergeInput<SimShardResult>],
    slos: Option<&[SimSlo]>,
) -> Result<SimReport, SimError> {
    let (first, by_shard) = cockpit_probe::load::assign_shards(
        inputs,
        |r| (r.shard, r.run.shards),
        |a, b| run_differs(&a.run, &b.run),
    )
    .map_err(|r| refuse(&r.name, r.reason))?;
    let key = &first.run;
    let own: Vec<SimSlo> = key
        .slos
        .iter()
        .map(|t| {
            t.parse().map_err(|e: cockpit_core::slo::SloError| {
                refuse(&first_name(inputs), e.to_string())
            })
        })
        .collect::<Result<_, _>>()?;
    let mut added = add_shards(key, inputs, &by_shard)?;
    for l in &mut added.levels {
        l.finish();
    }
    let mut report = SimReport {
        target: key.target.clone(),
        mode: if key.mode == "session_header" {
            "session_header"
        } else {
            "history"
        },
        session_header: key.session_header.clone(),
        turns_per_session: key.turns_per_session,
        recalls_per_session: crate::script::recalls_per_session(key.turns_per_session),
        seed: key.seed,
        levels: added.levels,
        knee: None,
        slos: Vec::new(),
        slo_pass: true,
        interrupted: added.interrupted,
        deadline_reached: added.deadline_reached,
        fanout: Some(fan_out(key, added.workers)),
    };
    report.judge(slos.unwrap_or(&own));
    Ok(report)
}

/// Add every reported shard's levels into the merged ones (as many as the
/// furthest shard reached), and mark the holes.
fn add_shards(
    key: &SimShardRun,
    inputs: &[MergeInput<SimShardResult>],
    by_shard: &[Option<usize>],
) -> Result<Added, SimError> {
    let reported = |slot: &Option<usize>| {
        slot.and_then(|pos| inputs[pos].result.as_ref().ok().map(|r| (&inputs[pos], r)))
    };
    let reached = by_shard
        .iter()
        .filter_map(reported)
        .map(|(_, r)| r.levels.len())
        .max()
        .unwrap_or(0);
    let mut m = Added {
        levels: key.levels[..reached]
            .iter()
            .map(|&c| LevelResult {
                concurrency: c,
                ..LevelResult::default()
            })
            .collect(),
        workers: Vec::with_capacity(by_shard.len()),
        interrupted: false,
        deadline_reached: false,
    };
    for (k, slot) in by_shard.iter().enumerate() {
        let planned = planned(key, k, reached);
        let Some((input, r)) = reported(slot) else {
            m.interrupted = true;
            m.workers.push(hole(inputs, k, planned));
            continue;
        };
        for (acc, l) in m.levels.iter_mut().zip(&r.levels) {
            l.add_to(&input.name, acc)?;
        }
        m.interrupted |= r.interrupted;
        m.deadline_reached |= r.deadline_reached;
        m.workers.push(SimShardStatus {
            shard: k,
            state: if r.interrupted || r.deadline_reached {
                "interrupted"
            } else {
                "ok"
            },
            source: input.name.clone(),
            reason: r
                .interrupted
                .then(|| "stopped before its last session".to_string()),
            sessions: planned,
            completed: r.levels.iter().map(|l| u64::from(l.completed)).sum(),
            turns: r.levels.iter().map(|l| l.turns).sum(),
            clock_offset_ms: r.clock.as_ref().map(|c| c.offset_ms),
            late_start_ms: r.late_start_ms,
        });
    }
    Ok(m)
}

/// Shard `k`'s sessions at the first `reached` levels of the run.
fn planned(key: &SimShardRun, k: usize, reached: usize) -> u64 {
    let shard = Shard {
        index: k,
        count: key.shards,
    };
    key.levels[..reached]
        .iter()
        .map(|&c| u64::from(Share::of(shard, c, sessions_at(key, c)).sessions))
        .sum()
}

/// A shard without a result, named with the reason its worker gave.
fn hole(inputs: &[MergeInput<SimShardResult>], k: usize, planned: u64) -> SimShardStatus {
    let named = inputs
        .iter()
        .find(|i| i.result.is_err() && i.shard == Some(k));
    SimShardStatus {
        shard: k,
        state: "missing",
        source: named.map_or_else(String::new, |i| i.name.clone()),
        reason: Some(
            named
                .and_then(|i| i.result.as_ref().err().cloned())
                .unwrap_or_else(|| "no result".to_string()),
        ),
        sessions: planned,
        completed: 0,
        turns: 0,
        clock_offset_ms: None,
        late_start_ms: 0.0,
    }
}

/// The fan-out section: the shards, the sessions not run, the clock
/// spread and the warnings.
fn fan_out(key: &SimShardRun, workers: Vec<SimShardStatus>) -> SimFanOut {
    let offsets: Vec<f64> = workers.iter().filter_map(|w| w.clock_offset_ms).collect();
    let (spread, skew) = cockpit_probe::load::clock_spread(&offsets);
    let mut warnings: Vec<String> = skew.into_iter().collect();
    let missing: Vec<usize> = workers
        .iter()
        .filter(|w| w.state == "missing")
        .map(|w| w.shard)
        .collect();
    if !missing.is_empty() {
        let names: Vec<String> = missing
            .iter()
            .map(|k| format!("{k}/{}", key.shards))
            .collect();
        warnings.push(format!(
            "shard {} did not report: its sessions are counted as not run, not redistributed",
            names.join(", ")
        ));
    }
    SimFanOut {
        shards: key.shards,
        start_at_unix_ns: key.start_at_unix_ns,
        sessions_not_run: workers
            .iter()
            .map(|w| w.sessions - w.completed.min(w.sessions))
            .sum(),
        missing,
        workers,
        clock_spread_ms: spread,
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn shards_split_every_level_into_the_single_process_sessions() {
        for count in 1..=7usize {
            for (c, n) in [(1, 10), (2, 10), (4, 4), (5, 12), (16, 16), (3, 100)] {
                let parts: Vec<Share> = (0..count)
                    .map(|index| Share::of(Shard { index, count }, c, n))
                    .collect();
                // In flight: the level's concurrency, whatever the split.
                assert_eq!(
                    parts.iter().map(|p| p.workers).sum::<u32>(),
                    c,
                    "{count} {c}"
                );
                let mut all: Vec<u32> = parts
                    .iter()
                    .flat_map(|p| (0..p.sessions).map(|j| p.session(j)))
                    .collect();
                all.sort();
                assert_eq!(all, (0..n).collect::<Vec<_>>(), "{count} shards, {c}/{n}");
                // A shard with sessions has someone to run them.
                assert!(parts.iter().all(|p| (p.sessions == 0) == (p.workers == 0)));
            }
        }
        assert_eq!(Share::of(Shard::WHOLE, 8, 10).sessions, 10);
    }

    fn run_key(seed: u64) -> SimShardRun {
        SimShardRun {
            target: "http://agent/v1/chat/completions".into(),
            mode: "history".into(),
            session_header: None,
            trace_field: None,
            session_field: None,
            turns_per_session: 6,
            min_recall_turns: 12,
            levels: vec![4],
            seed,
            shards: 3,
            start_at_unix_ns: 1,
            slos: vec!["reasoning_score>0.99".into()],
        }
    }

    /// Shard `k`'s result: `correct` of `answered` recall turns, TTFTs.
    fn shard_result(k: usize, correct: u64, answered: u64, ttft_ms: &[u64]) -> SimShardResult {
        let mut l = LevelResult {
            concurrency: 4,
            sessions: Share::of(Shard { index: k, count: 3 }, 4, 4).sessions,
            turns: answered * 2,
            recall_turns: answered,
            answered,
            correct,
            wrong: answered - correct,
            ..LevelResult::default()
        };
        l.errors.insert("timeout".into(), 1);
        l.trace.matched = answered;
        for ms in ttft_ms {
            l.ttft.record(Duration::from_millis(*ms));
        }
        SimShardResult {
            schema: SHARD_SCHEMA.into(),
            run: run_key(7),
            shard: k,
            late_start_ms: 0.0,
            clock: None,
            elapsed_s: 1.0,
            interrupted: false,
            deadline_reached: false,
            levels: vec![SimShardLevel::of(&l, l.sessions)],
        }
    }

    fn input(name: &str, r: &SimShardResult) -> MergeInput<SimShardResult> {
        let bytes = serde_json::to_vec(r).unwrap();
        MergeInput {
            name: name.into(),
            shard: None,
            result: Ok(read_shard(name, &bytes, 1 << 20).unwrap()),
        }
    }

    #[test]
    fn the_merge_adds_tallies_and_derives_the_score_from_them() {
        let a = shard_result(0, 9, 10, &[10, 20, 30]);
        let b = shard_result(1, 1, 2, &[400]);
        let c = shard_result(2, 0, 0, &[]);
        let r = merge_shards(&[input("a", &a), input("b", &b), input("c", &c)], None).unwrap();
        let l = &r.levels[0];
        assert_eq!(
            (l.sessions, l.turns, l.answered, l.correct),
            (4, 24, 12, 10)
        );
        assert_eq!(l.errors["timeout"], 3);
        // 10 / 12 of the merged tallies, not the mean of 0.9 and 0.5.
        assert_eq!(l.reasoning_score, Some(10.0 / 12.0));
        assert_eq!(l.score_ci95, crate::wilson95(10, 12));
        assert_eq!(l.trace_integrity, Some(1.0));
        let mut all = Distribution::new();
        for ms in [10, 20, 30, 400] {
            all.record(Duration::from_millis(ms));
        }
        assert_eq!(l.ttft_ms, all.summary());
        // The run's own objective, judged once on the merged level.
        assert_eq!(r.slos.len(), 1);
        assert!(!r.slo_pass && !r.interrupted);
        let f = r.fanout.as_ref().unwrap();
        assert_eq!((f.sessions_not_run, f.missing.len()), (0, 0));
    }

    #[test]
    fn a_missing_shard_is_a_named_hole_its_sessions_not_run() {
        let a = shard_result(0, 9, 10, &[10]);
        let mut inputs = vec![input("a", &a)];
        inputs.push(MergeInput {
            name: "worker 1/3".into(),
            shard: Some(1),
            result: Err("exited with signal: 9 (SIGKILL)".into()),
        });
        let r = merge_shards(&inputs, None).unwrap();
        assert!(r.interrupted);
        let f = r.fanout.unwrap();
        assert_eq!(f.missing, [1, 2]);
        assert_eq!(f.workers[1].source, "worker 1/3");
        assert!(f.workers[1].reason.as_deref().unwrap().contains("SIGKILL"));
        // Shards 1 and 2 hold one session each of the level's four.
        assert_eq!(f.sessions_not_run, 2);
        assert_eq!(r.levels[0].sessions, 2);
        assert!(
            f.warnings.iter().any(|w| w.contains("1/3, 2/3")),
            "{:?}",
            f.warnings
        );
    }

    #[test]
    fn mixed_runs_twice_the_same_shard_and_foreign_files_are_refused_naming_them() {
        let a = shard_result(0, 1, 1, &[]);
        let mut b = shard_result(1, 1, 1, &[]);
        b.run.seed = 8;
        let e = merge_shards(&[input("a.json", &a), input("b.json", &b)], None)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("b.json") && e.contains("seed"), "{e}");
        let e = merge_shards(&[input("a.json", &a), input("c.json", &a)], None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("c.json") && e.contains("shard 0 again"), "{e}");
        let e = read_shard(
            "l.json",
            br#"{"schema":"agentops-cockpit/load-shard/1"}"#,
            1024,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("l.json") && e.contains("load-shard/1"), "{e}");
        let e = read_shard("big.json", &[b' '; 2000], 1024)
            .unwrap_err()
            .to_string();
        assert!(e.contains("big.json") && e.contains("2000 bytes"), "{e}");
        let mut bad = shard_result(0, 1, 1, &[]);
        bad.levels[0].sessions = 3;
        let bytes = serde_json::to_vec(&bad).unwrap();
        let e = read_shard("x.json", &bytes, 1 << 20)
            .unwrap_err()
            .to_string();
        assert!(e.contains("x.json") && e.contains("concurrency 4"), "{e}");
    }
}
