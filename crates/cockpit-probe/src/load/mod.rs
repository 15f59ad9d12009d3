//! The load engine: how much an endpoint sustains, and how its latency
//! behaves on the way there.
//!
//! - **Closed loop** ([`RatePlan`] `None`): `connections` connections, each
//!   sending its next request as soon as the previous answer is read, for
//!   `duration` (and at most `max_requests`). Latency runs from the instant
//!   before the request is written to the last byte of the answer. A closed
//!   loop measures capacity; by design it sends less when the server slows
//!   down, so it hides stalls (coordinated omission).
//! - **Open loop** ([`RatePlan::Fixed`]): requests are *scheduled* at a fixed
//!   arrival rate, constant or Poisson ([`Arrival`]), at absolute offsets
//!   from the run's start ([`Schedule`]), and sent on the first free
//!   connection. `latency` runs from each request's **intended** send time,
//!   so a stalled server shows in the percentiles instead of hiding behind
//!   the requests that were never sent; `service` (from the actual write)
//!   and `dispatch_lag` (intended → actual) are reported beside it.
//! - **Sweep** ([`RatePlan::Sweep`]): open-loop steps of rising rate; each
//!   step is reported on its own and the *knee* is the highest rate whose
//!   SLOs hold.
//!
//! Every distribution is an HDR histogram ([`Distribution`]); each worker
//! thread records into its own and they are merged at the end, exactly, so
//! memory stays flat however long the run. Distributions serialise
//! ([`Distribution::to_v2_bytes`], [`HdrLogWriter`]) and merge exactly
//! across processes, the basis of distributed runs (docs/load-testing.md).
//!
//! Client paths: plain `http://` over HTTP/1.1 uses a lean client
//! (`httparse`, pre-built request bytes, one buffer per connection);
//! HTTPS, HTTP/2 and `openai` use the probe's hyper connections; `grpc`
//! uses tonic. The report says which (`client_path`).
//!
//! ```no_run
//! use std::time::Duration;
//! use cockpit_probe::load::{run_load, LoadOptions, RatePlan};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let opts = LoadOptions {
//!     connections: 16,
//!     duration: Duration::from_secs(10),
//!     rate: Some(RatePlan::Fixed(500.0)),
//!     slos: vec!["p(99)<250ms".parse()?, "errors<0.1%".parse()?],
//!     ..LoadOptions::default()
//! };
//! let report = run_load("http://127.0.0.1:8080/healthz", &opts).await?;
//! println!("{} req/s, p99 {} ms, SLOs hold: {}", report.achieved_rps, report.latency.p99_ms, report.slo_pass);
//! # Ok(()) }
//! ```
//!
//! It never retries a request, never follows a redirect, never sends more
//! than the schedule (or the closed loop) asks, and stops on time: at the
//! end of the run requests still in flight are abandoned and counted
//! (`in_flight_at_end`), scheduled requests never sent are counted
//! (`unsent`).

mod build;
mod clock;
mod histogram;
mod http1;
mod interval;
mod schedule;
mod shard;
mod slo;
mod start;
mod status;
mod worker;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use cockpit_core::{Distribution, LatencySummary};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

pub use clock::{measure_offset, serve_clock};
pub use histogram::{LatencyBucket, latency_buckets};
pub use interval::{HdrLogWriter, IntervalReport, read_interval_log};
pub use schedule::{Arrival, Intended, RateStep, Schedule};
pub use shard::{
    ClockOffset, FanOut, MAX_SHARDS, MergeInput, Refusal, SHARD_SCHEMA, SKEW_WARN, Shard,
    ShardResult, ShardRun, ShardStatus, assign_shards, clock_spread, merge_shards, read_shard,
    run_shard,
};
pub use slo::{Aggregate, LoadSlo, Op, SloInputs, SloMetric, SloResult};
pub use start::await_start;
pub use status::{ResponseStatus, StatusCounts};

use crate::{ErrorKind, ProbeError, ProbeOptions, Protocol, RateSummary};

/// The most connections a run may open.
pub const MAX_CONNECTIONS: u32 = 100_000;
/// The highest arrival rate, requests per second.
pub const MAX_RATE: f64 = 10_000_000.0;
/// The longest run.
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);
/// The most steps a sweep may have.
pub const MAX_STEPS: usize = 1000;
/// At most this many intervals are kept in the report's series (a week of
/// one-second intervals); later ones still reach the progress channel.
pub const MAX_INTERVALS: usize = 7 * 24 * 3600;

/// How requests are paced.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum RatePlan {
    /// Open loop at this many requests per second.
    Fixed(f64),
    /// Open-loop steps `from`, `from + step`, … up to `to` (inclusive), each
    /// for `step_duration`.
    Sweep {
        from: f64,
        to: f64,
        step: f64,
        step_duration: Duration,
    },
}

impl RatePlan {
    /// Parse `N` or `A:B:STEP` (a sweep lasting `step_duration` per step).
    ///
    /// ```
    /// use std::time::Duration;
    /// use cockpit_probe::load::RatePlan;
    /// assert_eq!(RatePlan::parse("200", Duration::from_secs(20)).unwrap(), RatePlan::Fixed(200.0));
    /// let s = RatePlan::parse("50:400:50", Duration::from_secs(20)).unwrap();
    /// assert_eq!(s.steps(Duration::ZERO).len(), 8);
    /// assert!(RatePlan::parse("400:50:50", Duration::from_secs(1)).is_err());
    /// ```
    pub fn parse(s: &str, step_duration: Duration) -> Result<RatePlan, ProbeError> {
        let bad = |reason: String| ProbeError::InvalidOption {
            name: "rate",
            reason: format!("{s:?}: {reason}"),
        };
        let num = |t: &str| -> Result<f64, ProbeError> {
            t.trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v > 0.0 && *v <= MAX_RATE)
                .ok_or_else(|| {
                    bad(format!(
                        "{t:?} is not a rate in (0, {MAX_RATE}] requests per second"
                    ))
                })
        };
        let parts: Vec<&str> = s.split(':').collect();
        let plan = match parts.as_slice() {
            [r] => RatePlan::Fixed(num(r)?),
            [a, b, st] => {
                let (from, to, step) = (num(a)?, num(b)?, num(st)?);
                if to < from {
                    return Err(bad("a sweep goes up: A must be at most B".into()));
                }
                RatePlan::Sweep {
                    from,
                    to,
                    step,
                    step_duration,
                }
            }
            _ => return Err(bad("expected N or A:B:STEP".into())),
        };
        plan.validate()?;
        Ok(plan)
    }

    fn validate(&self) -> Result<(), ProbeError> {
        let bad = |reason: String| {
            Err(ProbeError::InvalidOption {
                name: "rate",
                reason,
            })
        };
        match *self {
            RatePlan::Fixed(r) if !(r.is_finite() && r > 0.0 && r <= MAX_RATE) => {
                bad(format!("{r} is not in (0, {MAX_RATE}] requests per second"))
            }
            RatePlan::Sweep {
                from,
                to,
                step,
                step_duration,
            } => {
                if !(from > 0.0 && to >= from && step > 0.0 && to <= MAX_RATE) {
                    return bad(format!(
                        "sweep {from}:{to}:{step} must rise within (0, {MAX_RATE}]"
                    ));
                }
                if step_duration.is_zero() || step_duration > MAX_DURATION {
                    return bad(format!(
                        "the step duration must be more than zero and at most {MAX_DURATION:?}"
                    ));
                }
                let n = ((to - from) / step).floor() + 1.0;
                if n > MAX_STEPS as f64 {
                    return bad(format!(
                        "sweep {from}:{to}:{step} has {n} steps; at most {MAX_STEPS}"
                    ));
                }
                Ok(())
            }
            RatePlan::Fixed(_) => Ok(()),
        }
    }

    /// The steps of this plan; a fixed rate is one step of `duration`.
    pub fn steps(&self, duration: Duration) -> Vec<RateStep> {
        match *self {
            RatePlan::Fixed(rate) => vec![RateStep { rate, duration }],
            RatePlan::Sweep {
                from,
                to,
                step,
                step_duration,
            } => {
                let n = (((to - from) / step) + 1e-9).floor() as usize + 1;
                (0..n.min(MAX_STEPS))
                    .map(|i| RateStep {
                        rate: from + step * i as f64,
                        duration: step_duration,
                    })
                    .collect()
            }
        }
    }
}

/// How a run is paced, the way a command line says it: each part
/// optional, their combinations checked when [`apply`](Pacing::apply)ed to
/// [`LoadOptions`]. Errors name the part (`rate`, `step`, `duration`,
/// `requests`).
///
/// ```
/// use std::time::Duration;
/// use cockpit_probe::load::{LoadOptions, Pacing, RatePlan};
/// let mut o = LoadOptions::default();
/// let sweep = Pacing { rate: Some("50:100:50".into()), step: Some(Duration::from_secs(5)), ..Pacing::default() };
/// sweep.apply(&mut o).unwrap();
/// assert!(matches!(o.rate, Some(RatePlan::Sweep { .. })));
/// let no_step = Pacing { step: None, ..sweep.clone() };
/// assert!(no_step.apply(&mut LoadOptions::default()).is_err());
/// let sweep_with_duration = Pacing { duration: Some(Duration::from_secs(9)), ..sweep };
/// assert!(sweep_with_duration.apply(&mut LoadOptions::default()).is_err());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Pacing {
    /// `N` requests per second (open loop) or `A:B:STEP` (a sweep); `None`:
    /// a closed loop.
    pub rate: Option<String>,
    /// How long each sweep step lasts (a sweep needs it; nothing else
    /// takes it).
    pub step: Option<Duration>,
    /// How long a closed loop or a fixed rate lasts (a sweep lasts its
    /// steps); `None`: the options' own.
    pub duration: Option<Duration>,
    /// A closed loop's request budget.
    pub requests: Option<u64>,
    /// Poisson arrivals (open loop only).
    pub poisson: bool,
    /// The open-loop schedule's seed.
    pub seed: Option<u64>,
}

impl Pacing {
    /// Check the combination and set `opts`' `rate`, `duration`,
    /// `max_requests`, `arrival` and `seed`.
    pub fn apply(&self, opts: &mut LoadOptions) -> Result<(), ProbeError> {
        let bad = |name, reason: &str| {
            Err(ProbeError::InvalidOption {
                name,
                reason: reason.to_string(),
            })
        };
        let rate = match &self.rate {
            None if self.step.is_some() => {
                return bad("step", "needs a sweep: a rate A:B:STEP");
            }
            None => None,
            Some(r) => {
                let sweep = r.contains(':');
                let step = match (sweep, self.step) {
                    (true, Some(s)) => s,
                    (true, None) => {
                        return bad(
                            "step",
                            "a sweep (rate A:B:STEP) needs a step length, e.g. 20s",
                        );
                    }
                    (false, Some(_)) => return bad("step", "applies to a sweep (rate A:B:STEP)"),
                    (false, None) => Duration::ZERO,
                };
                if sweep && self.duration.is_some() {
                    return bad(
                        "duration",
                        "does not apply to a sweep: it lasts its steps (step each)",
                    );
                }
                if self.requests.is_some() {
                    return bad("requests", "applies to a closed loop (no rate)");
                }
                Some(RatePlan::parse(r, step)?)
            }
        };
        opts.rate = rate;
        if let Some(d) = self.duration {
            opts.duration = d;
        }
        opts.max_requests = self.requests;
        opts.arrival = if self.poisson {
            Arrival::Poisson
        } else {
            Arrival::Constant
        };
        opts.seed = self.seed;
        Ok(())
    }
}

/// What a load run does.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub protocol: Protocol,
    /// Connections (closed loop: requests in flight; open loop: the most
    /// requests in flight at once).
    pub connections: u32,
    /// How long a closed-loop or fixed-rate run lasts (a sweep lasts its
    /// steps).
    pub duration: Duration,
    /// Closed loop: stop after this many requests (the duration still bounds it).
    pub max_requests: Option<u64>,
    /// `None`: closed loop.
    pub rate: Option<RatePlan>,
    pub arrival: Arrival,
    /// Seed of the Poisson schedule; `None`: one is drawn and reported.
    pub seed: Option<u64>,
    /// Worker threads, each a single-threaded runtime; `None`: one per CPU
    /// this process may run on (its affinity mask), at most `connections`.
    pub threads: Option<usize>,
    /// Length of the per-interval series.
    pub interval: Duration,
    /// Checked after the run (and per sweep step).
    pub slos: Vec<LoadSlo>,
    /// What each request is: method, body, headers, TLS, HTTP version,
    /// timeout (per request), prompt and model for `openai` / `grpc`. Its
    /// `samples`, `concurrency`, `warmup`, `deadline`, `cancel` and
    /// `reuse_connection` are not used (connections are always kept).
    pub request: ProbeOptions,
    /// Stops the run; what was measured is returned with `interrupted`.
    pub cancel: CancellationToken,
    /// Receives every interval as it completes (progress displays, logs).
    pub progress: Option<tokio::sync::mpsc::UnboundedSender<IntervalReport>>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            protocol: Protocol::Http,
            connections: 64,
            duration: Duration::from_secs(10),
            max_requests: None,
            rate: None,
            arrival: Arrival::Constant,
            seed: None,
            threads: None,
            interval: Duration::from_secs(1),
            slos: Vec::new(),
            request: ProbeOptions {
                timeout: Duration::from_secs(10),
                ..ProbeOptions::default()
            },
            cancel: CancellationToken::new(),
            progress: None,
        }
    }
}

impl LoadOptions {
    /// Check everything that can be checked before a request is sent.
    pub fn validate(&self) -> Result<(), ProbeError> {
        let bad = |name, reason: String| Err(ProbeError::InvalidOption { name, reason });
        if self.connections == 0 || self.connections > MAX_CONNECTIONS {
            return bad(
                "connections",
                format!("must be within 1..={MAX_CONNECTIONS}"),
            );
        }
        if self.duration.is_zero() || self.duration > MAX_DURATION {
            return bad(
                "duration",
                format!("must be more than zero and at most {MAX_DURATION:?}"),
            );
        }
        if self.max_requests == Some(0) {
            return bad("max_requests", "must be at least 1".into());
        }
        if self.max_requests.is_some() && self.rate.is_some() {
            return bad(
                "max_requests",
                "applies to closed-loop runs only (no --rate)".into(),
            );
        }
        if self.rate.is_none() && (self.arrival == Arrival::Poisson || self.seed.is_some()) {
            let name = if self.seed.is_some() {
                "seed"
            } else {
                "poisson"
            };
            return bad(name, "needs an open loop: a rate".into());
        }
        if self.interval < Duration::from_millis(10) || self.interval > MAX_DURATION {
            return bad(
                "interval",
                format!("must be at least 10ms and at most {MAX_DURATION:?}"),
            );
        }
        if self.threads == Some(0) {
            return bad("threads", "must be at least 1".into());
        }
        if self.request.timeout.is_zero() || self.request.timeout > crate::MAX_TIMEOUT {
            return bad(
                "timeout",
                format!(
                    "must be more than zero and at most {:?}",
                    crate::MAX_TIMEOUT
                ),
            );
        }
        if let Some(r) = &self.rate {
            r.validate()?;
            let total = r
                .steps(self.duration)
                .iter()
                .try_fold(Duration::ZERO, |t, s| t.checked_add(s.duration))
                .unwrap_or(Duration::MAX);
            if total > MAX_DURATION {
                return bad(
                    "rate",
                    format!("the sweep lasts {total:?}; at most {MAX_DURATION:?}"),
                );
            }
        }
        for s in &self.slos {
            s.check_protocol(self.protocol)?;
        }
        Ok(())
    }

    fn mode(&self) -> LoadMode {
        match self.rate {
            None => LoadMode::Closed,
            Some(RatePlan::Fixed(_)) => LoadMode::Open,
            Some(RatePlan::Sweep { .. }) => LoadMode::Sweep,
        }
    }
}

/// Which loop a run used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum LoadMode {
    Closed,
    Open,
    Sweep,
}

/// Request tallies of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RequestCounts {
    /// Requests written (or attempted: a failed connect counts).
    pub sent: u64,
    /// Answered with a 2xx (gRPC: OK; openai: a complete stream).
    pub ok: u64,
    /// Failed, by any [`ErrorKind`].
    pub errors: u64,
    /// Written but unanswered when the run ended (abandoned, not counted
    /// as successes or errors).
    pub in_flight_at_end: u64,
    /// Open loop: requests scheduled before the run ended.
    pub scheduled: Option<u64>,
    /// Open loop: scheduled before the end but never sent (all connections
    /// were busy).
    pub unsent: Option<u64>,
}

/// One step of a sweep.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    pub offered_rps: f64,
    pub achieved_rps: f64,
    pub requests: RequestCounts,
    pub latency: LatencySummary,
    pub service: LatencySummary,
    pub dispatch_lag: LatencySummary,
    pub slos: Vec<SloResult>,
    /// Every SLO held on this step (without SLOs: errors ≤ 1 % and achieved
    /// ≥ 95 % of offered).
    pub holds: bool,
}

/// The result of a load run. Its JSON form is what `agentops-cockpit load
/// --format json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// The target, credentials redacted.
    pub target: String,
    pub protocol: Protocol,
    pub mode: LoadMode,
    /// `lean-http1`, `hyper` or `tonic`: which client sent the requests.
    pub client_path: &'static str,
    pub connections: u32,
    /// Worker threads (single-threaded runtimes).
    pub workers: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arrival: Option<Arrival>,
    /// Open loop: the schedule's seed (rerun with `--seed` to repeat it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The run's wall time, from its start to its end: an open loop runs
    /// to its schedule's end (its duration, a sweep's steps) even when no
    /// request is due near the end; a closed loop ends at its duration or
    /// when its `max_requests` are done; Ctrl-C ends either early.
    pub elapsed_s: f64,
    /// Open loop: the requests the schedule made due before the run's end
    /// (sent or not), per second of `elapsed_s`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offered_rps: Option<f64>,
    /// Successful requests per second.
    pub achieved_rps: f64,
    pub requests: RequestCounts,
    /// Failures by kind (`connect`, `timeout`, `http_4xx`, `http_5xx`, …).
    pub errors: BTreeMap<ErrorKind, u64>,
    pub error_examples: BTreeMap<ErrorKind, String>,
    /// Every finished request by how it ended: its HTTP status (`"200"`),
    /// its gRPC status (`"UNAVAILABLE"`), or the kind of the failure that
    /// came before any status (`"connect"`); they add up to `requests.ok +
    /// requests.errors`. `None` only for a merge of worker results of
    /// which some do not hold them (written by an older version).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_codes: Option<StatusCounts>,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub latency: LatencySummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<LatencySummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dispatch_lag: Option<LatencySummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttft: Option<LatencySummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub itl: Option<LatencySummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tpot: Option<LatencySummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_tokens_per_s: Option<RateSummary>,
    /// Output tokens per second of the whole run: every successful
    /// stream's tokens over `elapsed_s`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throughput: Option<crate::Throughput>,
    /// Successful requests per second that met every per-request SLO bound.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goodput_rps: Option<f64>,
    pub slos: Vec<SloResult>,
    /// Every SLO held (true when there are none).
    pub slo_pass: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepReport>,
    /// Sweep: the highest offered rate whose step held.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub knee_rps: Option<f64>,
    pub intervals: Vec<IntervalReport>,
    /// Stopped early (cancel / Ctrl-C).
    pub interrupted: bool,
    /// How each distribution was measured, with its sample count.
    pub methods: BTreeMap<&'static str, String>,
    /// A run fanned out over processes: its shards, their clocks, the
    /// missing ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fanout: Option<FanOut>,
    #[serde(skip)]
    latency_dist: Distribution,
    #[serde(skip)]
    service_dist: Distribution,
}

impl LoadReport {
    /// The run's latency histogram (from the intended send time in open loop).
    pub fn latency_distribution(&self) -> &Distribution {
        &self.latency_dist
    }

    /// The run's service-time histogram (from the actual write).
    pub fn service_distribution(&self) -> &Distribution {
        &self.service_dist
    }

    /// The run's latency in `buckets` equal-width buckets from its fastest
    /// to its slowest sample, counted exactly ([`latency_buckets`]).
    pub fn latency_histogram(&self, buckets: usize) -> Vec<LatencyBucket> {
        latency_buckets(&self.latency_dist, buckets)
    }

    /// Failures of `kind`.
    pub fn error_count(&self, kind: ErrorKind) -> u64 {
        self.errors.get(&kind).copied().unwrap_or(0)
    }

    /// The target could not be reached at all: no request succeeded, some
    /// failed, and every failure was one of reaching it (DNS, connect, TLS)
    /// rather than of its answers.
    pub fn unreachable(&self) -> bool {
        self.requests.ok == 0
            && self.requests.errors > 0
            && self
                .errors
                .keys()
                .all(|k| matches!(k, ErrorKind::Connect | ErrorKind::Dns | ErrorKind::Tls))
    }
}

/// Run load against `url` as `opts` says. Errors only for what is wrong
/// before the first request (options, URL, TLS configuration); failures of
/// requests are counted in the report.
pub async fn run_load(url: &str, opts: &LoadOptions) -> Result<LoadReport, ProbeError> {
    let (run, target) = prepare(url, opts, Shard::WHOLE, None).await?;
    let out = execute(&run, &target, opts.protocol, opts.progress.clone()).await;
    Ok(build::build_report(
        target,
        &build::Plan::of(opts, &run),
        out,
    ))
}

/// Check the options, resolve the target and lay out the run: its seed,
/// worker threads, steps and end. Returns the run and the redacted target.
async fn prepare(
    url: &str,
    opts: &LoadOptions,
    shard: Shard,
    start_at: Option<std::time::SystemTime>,
) -> Result<(Arc<worker::Run>, String), ProbeError> {
    opts.validate()?;
    let plan = worker::ClientPlan::new(url, opts).await?;
    let target = plan.target().to_string();
    let seed = opts.seed.unwrap_or_else(|| {
        let u = uuid::Uuid::new_v4().as_u128();
        (u as u64) ^ ((u >> 64) as u64)
    });
    let workers = opts
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, opts.connections as usize);
    let steps = opts
        .rate
        .map(|r| r.steps(opts.duration))
        .unwrap_or_default();
    let end = if steps.is_empty() {
        opts.duration
    } else {
        steps.iter().map(|s| s.duration).sum()
    };
    let bounds = opts
        .slos
        .iter()
        .filter_map(LoadSlo::per_request_bound)
        .collect();
    let run = Arc::new(worker::Run {
        plan,
        steps,
        arrival: opts.arrival,
        seed,
        workers,
        connections: opts.connections,
        timeout: opts.request.timeout,
        end,
        tickets: opts.max_requests.map(std::sync::atomic::AtomicU64::new),
        cancel: opts.cancel.clone(),
        interval: opts.interval,
        bounds,
        shard,
        start_at,
    });
    Ok((run, target))
}

/// Run the workers, inside the run's tracing span.
async fn execute(
    run: &Arc<worker::Run>,
    target: &str,
    protocol: Protocol,
    progress: Option<tokio::sync::mpsc::UnboundedSender<IntervalReport>>,
) -> worker::Outcome {
    let span = tracing::info_span!("load", target = %target, protocol = %protocol);
    tracing::Instrument::instrument(worker::execute(run.clone(), progress), span).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(p: Pacing) -> Result<LoadOptions, ProbeError> {
        let mut o = LoadOptions::default();
        p.apply(&mut o)?;
        o.validate()?;
        Ok(o)
    }

    fn refused_as(p: Pacing, name: &str) {
        match applied(p.clone()) {
            Err(ProbeError::InvalidOption { name: n, .. }) => assert_eq!(n, name, "{p:?}"),
            other => panic!("{p:?}: expected an error naming {name}, got {other:?}"),
        }
    }

    #[test]
    fn pacing_combinations() {
        let s = Some(Duration::from_secs(5));
        let rate = |r: &str| Some(r.to_string());
        // Closed loop: no step, no seed, no Poisson.
        refused_as(
            Pacing {
                step: s,
                ..Pacing::default()
            },
            "step",
        );
        refused_as(
            Pacing {
                seed: Some(1),
                ..Pacing::default()
            },
            "seed",
        );
        refused_as(
            Pacing {
                poisson: true,
                ..Pacing::default()
            },
            "poisson",
        );
        // Fixed rate: no step, no request budget.
        refused_as(
            Pacing {
                rate: rate("10"),
                step: s,
                ..Pacing::default()
            },
            "step",
        );
        refused_as(
            Pacing {
                rate: rate("10"),
                requests: Some(5),
                ..Pacing::default()
            },
            "requests",
        );
        // Sweep: a step, no duration.
        refused_as(
            Pacing {
                rate: rate("10:20:5"),
                ..Pacing::default()
            },
            "step",
        );
        refused_as(
            Pacing {
                rate: rate("10:20:5"),
                step: s,
                duration: s,
                ..Pacing::default()
            },
            "duration",
        );
        refused_as(
            Pacing {
                rate: rate("20:10:5"),
                step: s,
                ..Pacing::default()
            },
            "rate",
        );
        // What is accepted, and what it sets.
        let o = applied(Pacing {
            requests: Some(7),
            duration: s,
            ..Pacing::default()
        })
        .unwrap();
        assert_eq!(
            (o.rate, o.max_requests, o.duration),
            (None, Some(7), Duration::from_secs(5))
        );
        let o = applied(Pacing {
            rate: rate("10"),
            poisson: true,
            seed: Some(9),
            ..Pacing::default()
        })
        .unwrap();
        assert_eq!(o.rate, Some(RatePlan::Fixed(10.0)));
        assert_eq!((o.arrival, o.seed), (Arrival::Poisson, Some(9)));
        let o = applied(Pacing {
            rate: rate("10:20:5"),
            step: s,
            ..Pacing::default()
        })
        .unwrap();
        assert_eq!(o.rate.unwrap().steps(o.duration).len(), 3);
    }

    #[test]
    fn unreachable_is_only_failures_to_reach() {
        let report = |ok: u64, kinds: &[ErrorKind]| {
            let mut r = LoadReport {
                target: "http://h/".into(),
                protocol: Protocol::Http,
                mode: LoadMode::Closed,
                client_path: "lean-http1",
                connections: 1,
                workers: 1,
                arrival: None,
                seed: None,
                elapsed_s: 1.0,
                offered_rps: None,
                achieved_rps: 0.0,
                requests: RequestCounts::default(),
                errors: BTreeMap::new(),
                error_examples: BTreeMap::new(),
                status_codes: None,
                bytes_read: 0,
                bytes_written: 0,
                latency: LatencySummary::default(),
                service: None,
                dispatch_lag: None,
                ttft: None,
                itl: None,
                tpot: None,
                output_tokens_per_s: None,
                throughput: None,
                goodput_rps: None,
                slos: Vec::new(),
                slo_pass: true,
                steps: Vec::new(),
                knee_rps: None,
                intervals: Vec::new(),
                interrupted: false,
                methods: BTreeMap::new(),
                fanout: None,
                latency_dist: Distribution::new(),
                service_dist: Distribution::new(),
            };
            r.requests.ok = ok;
            r.requests.errors = kinds.len() as u64;
            for k in kinds {
                *r.errors.entry(*k).or_default() += 1;
            }
            r
        };
        assert!(report(0, &[ErrorKind::Connect, ErrorKind::Dns, ErrorKind::Tls]).unreachable());
        assert!(!report(0, &[ErrorKind::Connect, ErrorKind::Timeout]).unreachable());
        assert!(!report(1, &[ErrorKind::Connect]).unreachable());
        assert!(
            !report(0, &[]).unreachable(),
            "no request at all is not unreachable"
        );
    }
}
