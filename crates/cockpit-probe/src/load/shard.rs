//! Fanned-out runs: one shard of a run per process (a Kubernetes Indexed
//! Job's pod, or a local child process), and the exact merge of their
//! results.
//!
//! A shard `k` of `K` runs the schedule's workers `k * T + t` of `K * T`
//! (`T` threads per shard, the same in every shard), from a common start
//! on the wall clock, and reports a [`ShardResult`]: its counts, errors by
//! kind, every histogram in HdrHistogram's V2 encoding, its interval series
//! with each interval's histogram, its clock offset and its lateness. The
//! union of the shards' schedules is the schedule of one process running
//! `K * T` threads with the same seed (for constant arrivals: the global
//! `k / rate` sequence itself).
//!
//! [`merge_shards`] adds the counts, merges the histograms (the merged p99 is
//! the p99 of every sample), recomputes rates over the common window and
//! evaluates the SLOs once. A shard that did not report is a hole: the
//! merged report is `interrupted`, names it, and counts its scheduled
//! requests as `unsent`; nothing is scaled up or redistributed.
//!
//! ```
//! use cockpit_probe::load::Shard;
//! let s: Shard = "3/8".parse().unwrap();
//! assert_eq!((s.index, s.count), (3, 8));
//! assert!("8/8".parse::<Shard>().is_err());
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cockpit_core::Distribution;
use serde::{Deserialize, Serialize};

use super::build::{Plan, build_report};
use super::interval::{IntervalAcc, IntervalReport};
use super::status::StatusCounts;
use super::worker::{Outcome, Run, StepStats, WorkerStats};
use super::{Arrival, LoadMode, LoadOptions, LoadReport, LoadSlo, RateStep, Schedule};
use crate::report::{Metric, RateDistribution, Stats, Tally};
use crate::{ErrorKind, ProbeError, Protocol};

/// The version of [`ShardResult`]'s JSON form; a merge refuses any other.
/// Fields added since are optional (`status_codes`): a result written
/// before them still reads, and an older reader ignores them.
pub const SHARD_SCHEMA: &str = "agentops-cockpit/load-shard/1";
/// The most distinct statuses a worker result may hold (HTTP codes are
/// 100..=999, gRPC codes 17, error kinds a dozen).
const MAX_STATUSES: usize = 1024;
/// The most shards a run may have.
pub const MAX_SHARDS: usize = 10_000;
/// Clock offsets between workers spreading further than this warn.
pub const SKEW_WARN: Duration = Duration::from_millis(50);

/// Shard `index` (from 0) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// The whole run, in one process.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// The schedule of this shard's thread `thread` of `threads`: the run's
    /// worker `index * threads + thread` of `count * threads`.
    pub fn schedule(
        &self,
        steps: &[RateStep],
        arrival: Arrival,
        seed: u64,
        threads: usize,
        thread: usize,
    ) -> Schedule {
        Schedule::new(
            steps,
            arrival,
            seed,
            self.index * threads + thread,
            self.count * threads,
        )
    }
}

impl std::str::FromStr for Shard {
    type Err = ProbeError;

    /// `k/K`, `k` from 0 (as Kubernetes' `JOB_COMPLETION_INDEX`).
    fn from_str(s: &str) -> Result<Shard, ProbeError> {
        let bad = || ProbeError::InvalidOption {
            name: "shard",
            reason: format!("{s:?} is not k/K with 0 <= k < K <= {MAX_SHARDS}"),
        };
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = k.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || count > MAX_SHARDS || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// A worker's clock offset from the coordinator's, measured: `offset_ms`
/// is what to add to the worker's clock to read the coordinator's, known
/// within `± rtt_ms / 2`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClockOffset {
    pub offset_ms: f64,
    pub rtt_ms: f64,
    /// How it was measured (`coordinator` exchange, `api-server` Date).
    pub source: String,
}

/// What every shard of one run shares; a merge refuses shards that differ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardRun {
    /// The target, credentials redacted.
    pub target: String,
    pub protocol: String,
    pub mode: LoadMode,
    pub arrival: Arrival,
    pub seed: u64,
    pub shards: usize,
    /// Worker threads of each shard.
    pub threads: usize,
    /// Open loop: `(rate per second of the whole run, seconds)` per step.
    pub steps: Vec<(f64, f64)>,
    pub duration_s: f64,
    pub interval_s: f64,
    /// The common start, nanoseconds since the Unix epoch.
    pub start_at_unix_ns: u64,
    pub slos: Vec<String>,
}

/// One step's tallies, histograms base64 V2.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardStep {
    pub sent: u64,
    pub ok: u64,
    pub errors: u64,
    pub http_5xx: u64,
    pub good: u64,
    pub latency: String,
    pub service: String,
    pub dispatch_lag: String,
}

/// One interval of a shard's series, its latency histogram base64 V2.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardInterval {
    pub index: u64,
    pub length_s: f64,
    pub ok: u64,
    pub errors: u64,
    pub latency: String,
}

/// Streaming figures (openai, grpc), histograms base64 V2.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ShardStreams {
    pub ttft: String,
    pub itl: String,
    pub tpot: String,
    pub tokens_per_s: String,
    pub output_tokens: u64,
    pub tokens_usage: u64,
    pub tokens_counted: u64,
}

/// What one shard measured: self-describing, versioned ([`SHARD_SCHEMA`]),
/// mergeable exactly with the other shards of its run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardResult {
    pub schema: String,
    pub run: ShardRun,
    pub shard: usize,
    pub client_path: String,
    pub connections: u32,
    /// How late the common start already was when this shard was ready.
    pub late_start_ms: f64,
    #[serde(default)]
    pub clock: Option<ClockOffset>,
    /// From the common start to this shard's stop.
    pub elapsed_s: f64,
    pub interrupted: bool,
    pub steps: Vec<ShardStep>,
    pub errors: BTreeMap<String, u64>,
    pub error_examples: BTreeMap<String, String>,
    /// Every finished request by how it ended (`"200"`, `"UNAVAILABLE"`,
    /// `"connect"`), as [`LoadReport::status_codes`]. Absent from results
    /// written before it: the merged report then has no status counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_codes: Option<BTreeMap<String, u64>>,
    #[serde(default)]
    pub streams: Option<ShardStreams>,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub in_flight_at_end: u64,
    pub unsent: u64,
    pub intervals: Vec<ShardInterval>,
}

use super::wire::hist_to_b64 as b64;

/// Run shard `shard` of the run `opts` describes against `url`, starting at
/// `start_at` on this machine's wall clock. `opts.seed` must be set (every
/// shard needs the same one) and so must `opts.threads`.
pub async fn run_shard(
    url: &str,
    opts: &LoadOptions,
    shard: Shard,
    start_at: SystemTime,
    clock: Option<ClockOffset>,
) -> Result<ShardResult, ProbeError> {
    if opts.rate.is_some() && opts.seed.is_none() {
        return Err(ProbeError::InvalidOption {
            name: "seed",
            reason: "a shard of an open-loop run needs the run's seed".into(),
        });
    }
    if opts.max_requests.is_some() {
        return Err(ProbeError::InvalidOption {
            name: "requests",
            reason: "a request budget cannot be split over shards; use a duration".into(),
        });
    }
    let start_at_unix_ns = start_at
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok()
        .and_then(|d| u64::try_from(d.as_nanos()).ok())
        .ok_or_else(|| ProbeError::InvalidOption {
            name: "start-at",
            reason: "must be after 1970 and before 2554".into(),
        })?;
    let (run, target) = super::prepare(url, opts, shard, Some(start_at)).await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<IntervalReport>();
    let forward = opts.progress.clone();
    let collect = tokio::spawn(async move {
        let mut kept = Vec::new();
        while let Some(iv) = rx.recv().await {
            if let Some(f) = &forward {
                let _ = f.send(iv.clone_numbers());
            }
            if kept.len() < super::MAX_INTERVALS {
                kept.push(iv);
            }
        }
        kept
    });
    let out = super::execute(&run, &target, opts.protocol, Some(tx)).await;
    let intervals = collect.await.unwrap_or_default();
    let key = ShardRun {
        target,
        protocol: opts.protocol.to_string(),
        mode: opts.mode(),
        arrival: opts.arrival,
        // A closed loop has no schedule: its drawn seed means nothing.
        seed: if opts.rate.is_some() { run.seed } else { 0 },
        shards: shard.count,
        threads: run.workers,
        steps: run
            .steps
            .iter()
            .map(|s| (s.rate, s.duration.as_secs_f64()))
            .collect(),
        duration_s: run.end.as_secs_f64(),
        interval_s: opts.interval.as_secs_f64(),
        start_at_unix_ns,
        slos: opts.slos.iter().map(|s| s.text.clone()).collect(),
    };
    Ok(ShardResult::new(key, &run, opts, out, &intervals, clock))
}

impl ShardResult {
    fn new(
        key: ShardRun,
        run: &Arc<Run>,
        opts: &LoadOptions,
        out: Outcome,
        intervals: &[IntervalReport],
        clock: Option<ClockOffset>,
    ) -> ShardResult {
        let s = out.stats;
        let p = &s.probe;
        let streams =
            matches!(opts.protocol, Protocol::OpenAi | Protocol::Grpc).then(|| ShardStreams {
                ttft: b64(&p.dists[Metric::Ttft as usize].to_hist()),
                itl: b64(&p.dists[Metric::Itl as usize].to_hist()),
                tpot: b64(&p.dists[Metric::Tpot as usize].to_hist()),
                tokens_per_s: B64.encode(p.rate.to_v2_bytes()),
                output_tokens: p.output_tokens,
                tokens_usage: p.tokens_usage,
                tokens_counted: p.tokens_counted,
            });
        let mut errors = BTreeMap::new();
        let mut error_examples = BTreeMap::new();
        for (i, k) in ErrorKind::ALL.iter().enumerate() {
            if p.errors[i] > 0 {
                errors.insert(k.as_str().to_string(), p.errors[i]);
            }
            if let Some(e) = &p.examples[i] {
                error_examples.insert(k.as_str().to_string(), e.clone());
            }
        }
        ShardResult {
            schema: SHARD_SCHEMA.to_string(),
            shard: run.shard.index,
            run: key,
            client_path: run.plan.path_name().to_string(),
            connections: opts.connections,
            late_start_ms: out.late_start.as_secs_f64() * 1e3,
            clock,
            elapsed_s: s.stopped_at.as_secs_f64(),
            interrupted: s.interrupted,
            steps: s.steps.iter().map(ShardStep::of).collect(),
            errors,
            error_examples,
            status_codes: Some(s.statuses.to_text_map()),
            streams,
            bytes_read: s.bytes_read,
            bytes_written: s.bytes_written,
            in_flight_at_end: s.in_flight_at_end,
            unsent: s.unsent,
            intervals: intervals
                .iter()
                .map(|iv| ShardInterval {
                    index: iv.index,
                    length_s: iv.length_s,
                    ok: iv.requests,
                    errors: iv.errors,
                    latency: iv.latency.as_ref().map(b64).unwrap_or_default(),
                })
                .collect(),
        }
    }
}

impl ShardStep {
    fn of(s: &StepStats) -> ShardStep {
        ShardStep {
            sent: s.sent,
            ok: s.ok,
            errors: s.errors,
            http_5xx: s.http_5xx,
            good: s.good,
            latency: b64(&s.latency),
            service: b64(&s.service),
            dispatch_lag: b64(&s.lag),
        }
    }
}

/// One worker's result to merge, named by where it came from (a file, a
/// pod); an error when the worker failed or never reported, saying why.
/// `R` is the result's type: a load shard's by default (the simulation
/// merges its own shards through the same type).
#[derive(Debug, Clone)]
pub struct MergeInput<R = ShardResult> {
    pub name: String,
    /// The shard this input was meant to hold (a coordinator knows it even
    /// when the worker failed); `None` for a file given by hand.
    pub shard: Option<usize>,
    pub result: Result<R, String>,
}

/// The spread of measured clock offsets (largest minus smallest,
/// milliseconds), and the warning when it exceeds [`SKEW_WARN`]; `None`
/// when no offset was measured.
pub fn clock_spread(offsets_ms: &[f64]) -> (Option<f64>, Option<String>) {
    if offsets_ms.is_empty() {
        return (None, None);
    }
    let max = offsets_ms.iter().copied().fold(f64::MIN, f64::max);
    let min = offsets_ms.iter().copied().fold(f64::MAX, f64::min);
    let spread = max - min;
    let warn_ms = SKEW_WARN.as_secs_f64() * 1e3;
    let warning = (spread > warn_ms).then(|| {
        format!(
            "the workers' clocks spread over {spread:.1} ms (more than {warn_ms:.0} ms): their schedules are misaligned by as much"
        )
    });
    (Some(spread), warning)
}

/// What the merged report says of the fan-out.
#[derive(Debug, Clone, Serialize)]
pub struct FanOut {
    pub shards: usize,
    pub threads_per_shard: usize,
    /// The common start, nanoseconds since the Unix epoch.
    pub start_at_unix_ns: u64,
    pub workers: Vec<ShardStatus>,
    /// Shards whose result is missing (their scheduled requests are unsent).
    pub missing: Vec<usize>,
    /// Largest minus smallest measured clock offset, milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clock_spread_ms: Option<f64>,
    pub warnings: Vec<String>,
}

/// One shard in the merged report.
#[derive(Debug, Clone, Serialize)]
pub struct ShardStatus {
    pub shard: usize,
    /// `ok`, `interrupted` (stopped early) or `missing` (no result).
    pub state: &'static str,
    /// The file or pod the result came from.
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub sent: u64,
    pub ok: u64,
    pub errors: u64,
    pub unsent: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clock_offset_ms: Option<f64>,
    pub late_start_ms: f64,
}

fn refuse(name: &str, reason: impl Into<String>) -> ProbeError {
    ProbeError::ShardResult {
        name: name.to_string(),
        reason: reason.into(),
    }
}

/// Read one worker result (JSON, at most `max_bytes`), checking its schema.
pub fn read_shard(name: &str, bytes: &[u8], max_bytes: usize) -> Result<ShardResult, ProbeError> {
    let r: ShardResult =
        super::wire::read_versioned(bytes, max_bytes, SHARD_SCHEMA, "worker result")
            .map_err(|e| refuse(name, e))?;
    r.check(name)?;
    Ok(r)
}

impl ShardResult {
    /// Bounds a result must keep before anything is allocated from it.
    fn check(&self, name: &str) -> Result<(), ProbeError> {
        let r = &self.run;
        if r.shards == 0 || r.shards > MAX_SHARDS || self.shard >= r.shards {
            return Err(refuse(
                name,
                format!("shard {} of {}", self.shard, r.shards),
            ));
        }
        if r.threads == 0 || r.threads > 4096 {
            return Err(refuse(name, format!("{} threads", r.threads)));
        }
        if r.steps.len() > super::MAX_STEPS || self.steps.len() != r.steps.len().max(1) {
            return Err(refuse(name, "its steps do not match its rate plan"));
        }
        let max = super::MAX_DURATION.as_secs_f64();
        let rate_ok = r
            .steps
            .iter()
            .all(|&(rate, d)| rate > 0.0 && rate <= super::MAX_RATE && d > 0.0 && d <= max);
        if !(rate_ok && r.duration_s > 0.0 && r.duration_s <= max) {
            return Err(refuse(name, "a rate or duration out of range"));
        }
        if !(self.elapsed_s >= 0.0 && self.elapsed_s <= max) {
            return Err(refuse(name, "elapsed_s out of range"));
        }
        if !(r.interval_s >= 0.01 && r.interval_s <= max) {
            return Err(refuse(name, "interval_s out of range"));
        }
        if self
            .status_codes
            .as_ref()
            .is_some_and(|m| m.len() > MAX_STATUSES)
        {
            return Err(refuse(
                name,
                format!("more than {MAX_STATUSES} distinct status_codes"),
            ));
        }
        Ok(())
    }
}

fn dist(name: &str, what: &str, s: &str) -> Result<Distribution, ProbeError> {
    super::wire::hist_from_b64(s).map_err(|e| refuse(name, format!("{what}: {e}")))
}

/// A shard's result as the engine's own tallies (its intervals are merged
/// separately, one interval of every shard at a time).
fn tallies(name: &str, r: &ShardResult) -> Result<WorkerStats, ProbeError> {
    let mut s = WorkerStats::new(r.steps.len());
    for (st, x) in s.steps.iter_mut().zip(&r.steps) {
        st.latency = dist(name, "latency", &x.latency)?;
        st.service = dist(name, "service", &x.service)?;
        st.lag = dist(name, "dispatch_lag", &x.dispatch_lag)?;
        (st.sent, st.ok, st.errors, st.http_5xx, st.good) =
            (x.sent, x.ok, x.errors, x.http_5xx, x.good);
    }
    let mut probe = Stats::new(false);
    for (k, n) in &r.errors {
        let kind = ErrorKind::ALL
            .into_iter()
            .find(|e| e.as_str() == k)
            .ok_or_else(|| refuse(name, format!("unknown error kind {k:?}")))?;
        probe.errors[kind.index()] = *n;
        probe.examples[kind.index()] = r.error_examples.get(k).cloned();
    }
    if let Some(x) = &r.streams {
        probe.dists[Metric::Ttft as usize] = Tally::Hist(dist(name, "ttft", &x.ttft)?);
        probe.dists[Metric::Itl as usize] = Tally::Hist(dist(name, "itl", &x.itl)?);
        probe.dists[Metric::Tpot as usize] = Tally::Hist(dist(name, "tpot", &x.tpot)?);
        let bytes = B64
            .decode(&x.tokens_per_s)
            .map_err(|e| refuse(name, format!("tokens_per_s: {e}")))?;
        probe.rate = RateDistribution::from_v2_bytes(&bytes)
            .map_err(|e| refuse(name, format!("tokens_per_s: {e}")))?;
        (
            probe.output_tokens,
            probe.tokens_usage,
            probe.tokens_counted,
        ) = (x.output_tokens, x.tokens_usage, x.tokens_counted);
    }
    s.probe = probe;
    match &r.status_codes {
        Some(m) => {
            s.statuses = StatusCounts::from_text_map(m)
                .map_err(|e| refuse(name, format!("status_codes: {e}")))?;
        }
        None => s.statuses_missing = true,
    }
    (s.bytes_read, s.bytes_written) = (r.bytes_read, r.bytes_written);
    (s.in_flight_at_end, s.unsent) = (r.in_flight_at_end, r.unsent);
    s.stopped_at = Duration::from_secs_f64(r.elapsed_s);
    s.interrupted = r.interrupted;
    Ok(s)
}

/// The requests shard `k`'s schedule made due before `until`: what a
/// missing shard leaves unsent.
fn scheduled(run: &ShardRun, steps: &[RateStep], k: usize, until: Duration) -> u64 {
    let shard = Shard {
        index: k,
        count: run.shards,
    };
    (0..run.threads)
        .map(|t| {
            shard
                .schedule(steps, run.arrival, run.seed, run.threads, t)
                .take_while(|i| i.offset < until)
                .count() as u64
        })
        .sum()
}

/// Why a set of worker results cannot be merged: the input and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub name: String,
    pub reason: String,
}

/// Which input holds each shard of a run (any kind of result): every
/// result must belong to the first result's run — `differs` names what
/// differs between two results' runs — and hold a shard no other does;
/// `shard_of` gives a result's `(shard, shard count)`. Returns the first
/// result and, per shard, the position of its input. Inputs that are
/// errors (a worker that never reported) hold no shard.
pub fn assign_shards<R>(
    inputs: &[MergeInput<R>],
    shard_of: impl Fn(&R) -> (usize, usize),
    differs: impl Fn(&R, &R) -> Option<&'static str>,
) -> Result<(&R, Vec<Option<usize>>), Refusal> {
    let refusal = |name: &str, reason: String| Refusal {
        name: name.to_string(),
        reason,
    };
    let mut ok = inputs
        .iter()
        .enumerate()
        .filter_map(|(pos, i)| i.result.as_ref().ok().map(|r| (pos, r)));
    let Some((first_pos, first)) = ok.next() else {
        let names: Vec<String> = inputs
            .iter()
            .map(|i| match &i.result {
                Err(e) => format!("{}: {e}", i.name),
                Ok(_) => i.name.clone(),
            })
            .collect();
        return Err(refusal(
            "(none)",
            format!("no worker reported a result: {}", names.join("; ")),
        ));
    };
    let (first_shard, count) = shard_of(first);
    let mut by_shard = vec![None; count];
    by_shard[first_shard] = Some(first_pos);
    let first_name = &inputs[first_pos].name;
    for (pos, r) in ok {
        let name = &inputs[pos].name;
        let (k, n) = shard_of(r);
        let what = differs(first, r).or((n != count).then_some("shard count"));
        if let Some(what) = what {
            return Err(refusal(
                name,
                format!("another run than {first_name}: its {what} differs"),
            ));
        }
        match &mut by_shard[k] {
            Some(prev) => {
                return Err(refusal(
                    name,
                    format!("shard {k} again (also in {})", inputs[*prev].name),
                ));
            }
            slot => *slot = Some(pos),
        }
    }
    Ok((first, by_shard))
}

/// What differs between two load runs, if anything.
fn run_differs(a: &ShardRun, b: &ShardRun) -> Option<&'static str> {
    let differs = [
        ("target", a.target != b.target),
        ("protocol", a.protocol != b.protocol),
        ("seed", a.seed != b.seed),
        ("shard count", a.shards != b.shards),
        ("threads per shard", a.threads != b.threads),
        (
            "mode or arrivals",
            a.mode != b.mode || a.arrival != b.arrival,
        ),
        (
            "rate plan",
            a.steps != b.steps || a.duration_s != b.duration_s,
        ),
        ("start instant", a.start_at_unix_ns != b.start_at_unix_ns),
        ("interval", a.interval_s != b.interval_s),
        ("SLOs", a.slos != b.slos),
    ];
    differs.iter().find(|(_, d)| *d).map(|(what, _)| *what)
}

/// Check that every result belongs to one run: the first result's run
/// key, shard results unique.
fn same_run(inputs: &[MergeInput]) -> Result<(&ShardResult, Vec<Option<usize>>), ProbeError> {
    assign_shards(
        inputs,
        |r| (r.shard, r.run.shards),
        |a, b| run_differs(&a.run, &b.run),
    )
    .map_err(|r| refuse(&r.name, r.reason))
}

/// Merge the results of a fanned-out run into one report, exactly: counts
/// added, histograms merged, rates over the common window, `slos` (the
/// shards' own when `None`) evaluated once on the merged data. A shard
/// missing from `inputs` (or whose input is an error) is named, its
/// scheduled requests are counted unsent, and the report is interrupted.
/// Errors: a result of another run or a shard given twice (naming the input).
pub fn merge_shards(
    inputs: &[MergeInput],
    slos: Option<&[LoadSlo]>,
) -> Result<LoadReport, ProbeError> {
    let (first, by_shard) = same_run(inputs)?;
    let key = &first.run;
    let own: Vec<LoadSlo> = key
        .slos
        .iter()
        .map(|t| {
            t.parse::<LoadSlo>()
                .map_err(|e| refuse(&first_name(inputs), e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    let goodput = own.iter().any(|s| s.per_request_bound().is_some());
    let steps: Vec<RateStep> = key
        .steps
        .iter()
        .map(|&(rate, d)| RateStep {
            rate,
            duration: Duration::from_secs_f64(d),
        })
        .collect();
    let mut m = add_shards(inputs, &by_shard, steps.len())?;
    let missing = holes(key, &steps, inputs, &by_shard, &mut m);
    let intervals = series_of(inputs, &by_shard, key.interval_s)?;
    let no_statuses = without_statuses(inputs, &by_shard);
    let (merged, workers, connections) = (m.stats, m.workers, m.connections);
    let protocol: Protocol = key.protocol.parse()?;
    let path = match first.client_path.as_str() {
        "lean-http1" => "lean-http1",
        "hyper" => "hyper",
        "tonic" => "tonic",
        other => {
            return Err(refuse(
                &first_name(inputs),
                format!("client path {other:?}"),
            ));
        }
    };
    let plan = Plan {
        mode: key.mode,
        protocol,
        connections,
        arrival: key.arrival,
        slos: slos.unwrap_or(&own),
        path,
        workers: key.shards * key.threads,
        seed: key.seed,
        steps: &steps,
        goodput,
    };
    let out = Outcome {
        stats: merged,
        intervals,
        late_start: Duration::ZERO,
    };
    let mut report = build_report(key.target.clone(), &plan, out);
    let mut fanout = fan_out(key, workers, missing);
    if !no_statuses.is_empty() {
        fanout.warnings.push(format!(
            "shard {} reported no status counts (a result of an older version): the status code distribution is left out",
            no_statuses.join(", ")
        ));
    }
    report.fanout = Some(fanout);
    Ok(report)
}

/// The shards (`k/K`) whose result holds no status counts.
fn without_statuses(inputs: &[MergeInput], by_shard: &[Option<usize>]) -> Vec<String> {
    by_shard
        .iter()
        .flatten()
        .filter_map(|pos| inputs[*pos].result.as_ref().ok())
        .filter(|r| r.status_codes.is_none())
        .map(|r| format!("{}/{}", r.shard, r.run.shards))
        .collect()
}

/// The name of the first input that holds a result.
fn first_name(inputs: &[MergeInput]) -> String {
    inputs
        .iter()
        .find(|i| i.result.is_ok())
        .map_or_else(String::new, |i| i.name.clone())
}

/// The shards' tallies added.
struct Added {
    stats: WorkerStats,
    workers: Vec<ShardStatus>,
    connections: u32,
}

/// Add every reported shard: tallies, intervals, statuses.
fn add_shards(
    inputs: &[MergeInput],
    by_shard: &[Option<usize>],
    steps: usize,
) -> Result<Added, ProbeError> {
    let mut m = Added {
        stats: WorkerStats::new(steps.max(1)),
        workers: Vec::new(),
        connections: 0,
    };
    for (k, slot) in by_shard.iter().enumerate() {
        let Some(pos) = *slot else { continue };
        let input = &inputs[pos];
        let Ok(r) = &input.result else { continue };
        let s = tallies(&input.name, r)?;
        m.connections = m.connections.saturating_add(r.connections);
        m.workers.push(status_of(k, &input.name, r, &s));
        m.stats.merge(s);
    }
    Ok(m)
}

/// Mark every shard without a result: its requests due in the window the
/// others ran are unsent, the run interrupted. Returns the missing shards.
fn holes(
    key: &ShardRun,
    steps: &[RateStep],
    inputs: &[MergeInput],
    by_shard: &[Option<usize>],
    m: &mut Added,
) -> Vec<usize> {
    let until = m.stats.stopped_at;
    let mut missing = Vec::new();
    for (k, slot) in by_shard.iter().enumerate() {
        if slot.is_some() {
            continue;
        }
        let named = inputs
            .iter()
            .find(|i| i.result.is_err() && i.shard == Some(k));
        let due = if steps.is_empty() {
            0
        } else {
            scheduled(key, steps, k, until)
        };
        m.stats.unsent += due;
        m.stats.interrupted = true;
        missing.push(k);
        m.workers.push(ShardStatus {
            shard: k,
            state: "missing",
            source: named.map_or_else(String::new, |i| i.name.clone()),
            reason: Some(
                named
                    .and_then(|i| i.result.as_ref().err().cloned())
                    .unwrap_or_else(|| "no result".to_string()),
            ),
            sent: 0,
            ok: 0,
            errors: 0,
            unsent: due,
            clock_offset_ms: None,
            late_start_ms: 0.0,
        });
    }
    m.workers.sort_by_key(|w| w.shard);
    missing
}

/// The merged interval series, in order: each interval merged from every
/// shard's part, one interval at a time (memory stays one histogram).
fn series_of(
    inputs: &[MergeInput],
    by_shard: &[Option<usize>],
    interval_s: f64,
) -> Result<Vec<IntervalReport>, ProbeError> {
    let mut parts: BTreeMap<u64, Vec<(&str, &ShardInterval)>> = BTreeMap::new();
    for pos in by_shard.iter().flatten() {
        let input = &inputs[*pos];
        let Ok(r) = &input.result else { continue };
        for iv in r.intervals.iter().take(super::MAX_INTERVALS) {
            parts.entry(iv.index).or_default().push((&input.name, iv));
        }
    }
    let length = Duration::from_secs_f64(interval_s);
    let mut out = Vec::with_capacity(parts.len().min(super::MAX_INTERVALS));
    for (i, ivs) in parts.into_iter().take(super::MAX_INTERVALS) {
        let mut acc = IntervalAcc::new();
        let mut len = 0.0f64;
        for (name, iv) in ivs {
            acc.latency
                .merge(&dist(name, "an interval's latency", &iv.latency)?);
            acc.ok += iv.ok;
            acc.errors += iv.errors;
            len = len.max(iv.length_s);
        }
        let start = length.saturating_mul(u32::try_from(i).unwrap_or(u32::MAX));
        let len = Duration::try_from_secs_f64(len).unwrap_or(length);
        out.push(IntervalReport::from_acc(i, start, len, acc).clone_numbers());
    }
    Ok(out)
}

fn status_of(k: usize, name: &str, r: &ShardResult, s: &WorkerStats) -> ShardStatus {
    let (sent, ok, errors) = s.steps.iter().fold((0, 0, 0), |(a, b, c), x| {
        (a + x.sent, b + x.ok, c + x.errors)
    });
    ShardStatus {
        shard: k,
        state: if r.interrupted { "interrupted" } else { "ok" },
        source: name.to_string(),
        reason: r
            .interrupted
            .then(|| "stopped before the end of its schedule".to_string()),
        sent,
        ok,
        errors,
        unsent: r.unsent,
        clock_offset_ms: r.clock.as_ref().map(|c| c.offset_ms),
        late_start_ms: r.late_start_ms,
    }
}

/// The fan-out section: the shards, the clock spread and its warnings.
fn fan_out(key: &ShardRun, workers: Vec<ShardStatus>, missing: Vec<usize>) -> FanOut {
    let offsets: Vec<f64> = workers.iter().filter_map(|w| w.clock_offset_ms).collect();
    let (spread, skew) = clock_spread(&offsets);
    let mut warnings: Vec<String> = skew.into_iter().collect();
    let warn_ms = SKEW_WARN.as_secs_f64() * 1e3;
    for w in workers.iter().filter(|w| w.late_start_ms > warn_ms) {
        warnings.push(format!(
            "shard {} was ready {:.1} ms after the common start: its first requests were due at once",
            w.shard, w.late_start_ms
        ));
    }
    if !missing.is_empty() {
        let names: Vec<String> = missing
            .iter()
            .map(|k| format!("{k}/{}", key.shards))
            .collect();
        warnings.push(format!(
            "shard {} did not report: its scheduled requests are counted unsent, not redistributed",
            names.join(", ")
        ));
    }
    FanOut {
        shards: key.shards,
        threads_per_shard: key.threads,
        start_at_unix_ns: key.start_at_unix_ns,
        workers,
        missing,
        clock_spread_ms: spread,
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offsets(shards: usize, threads: usize, arrival: Arrival) -> Vec<Duration> {
        let steps = [
            RateStep {
                rate: 300.0,
                duration: Duration::from_secs(2),
            },
            RateStep {
                rate: 700.0,
                duration: Duration::from_secs(1),
            },
        ];
        let mut all: Vec<Duration> = (0..shards)
            .flat_map(|index| {
                let shard = Shard {
                    index,
                    count: shards,
                };
                (0..threads).flat_map(move |t| shard.schedule(&steps, arrival, 42, threads, t))
            })
            .map(|i| i.offset)
            .collect();
        all.sort();
        all
    }

    #[test]
    fn shards_interleave_into_the_single_process_schedule() {
        // Constant arrivals: whatever the split, the global k / rate sequence.
        let one = offsets(1, 1, Arrival::Constant);
        assert_eq!(one.len(), 300 * 2 + 700);
        assert_eq!(offsets(4, 1, Arrival::Constant), one);
        assert_eq!(offsets(3, 2, Arrival::Constant), one);
        // Poisson: K shards of T threads are the single process's K * T
        // workers, the same seed giving the same arrivals.
        assert_eq!(
            offsets(3, 2, Arrival::Poisson),
            offsets(1, 6, Arrival::Poisson)
        );
        assert_eq!(
            offsets(6, 1, Arrival::Poisson),
            offsets(1, 6, Arrival::Poisson)
        );
        assert_ne!(
            offsets(2, 1, Arrival::Poisson),
            offsets(1, 6, Arrival::Poisson)
        );
    }

    #[test]
    fn shard_parses_k_of_n() {
        assert_eq!("0/1".parse::<Shard>().unwrap(), Shard::WHOLE);
        for bad in ["1/1", "3", "-1/4", "a/b", "0/0", "0/10001"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        assert_eq!("7/8".parse::<Shard>().unwrap().to_string(), "7/8");
    }

    #[test]
    fn a_result_of_another_schema_or_too_large_is_refused_naming_it() {
        let e = read_shard(
            "w.json",
            br#"{"schema":"agentops-cockpit/load-shard/0"}"#,
            1024,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("w.json") && e.contains("load-shard/0"), "{e}");
        let e = read_shard("big.json", &[b' '; 2000], 1024)
            .unwrap_err()
            .to_string();
        assert!(e.contains("big.json") && e.contains("2000 bytes"), "{e}");
        let e = read_shard("x.json", b"{}", 1024).unwrap_err().to_string();
        assert!(e.contains("no \"schema\""), "{e}");
    }
}
