//! Builds the [`LoadReport`] of every mode (closed loop, open loop,
//! sweep) from what the workers measured: overall figures, SLO verdicts,
//! sweep steps and the knee, errors, methods.

use std::collections::BTreeMap;
use std::time::Duration;

use cockpit_core::{Distribution, LatencySummary};

use super::worker::{Outcome, Run, StepStats};
use super::{
    Arrival, LoadMode, LoadOptions, LoadReport, LoadSlo, RateStep, RequestCounts, SloInputs,
    StepReport,
};
use crate::report::{Metric, Stats};
use crate::{ErrorKind, Protocol, RateSummary, Throughput};

fn latency_method(mode: LoadMode, path: &str) -> String {
    let end = match path {
        "tonic" => "the end of the sample (StreamComplete to its last message, then Complete)",
        _ => "the last byte of the response read (openai: the end of the stream)",
    };
    match mode {
        LoadMode::Closed => format!(
            "client-side, closed loop, from the instant before the request is written to {end}, per successful request; a closed loop sends less when the server slows, so stalls are under-represented (coordinated omission)"
        ),
        _ => format!(
            "client-side, open loop, from the request's intended send time (its scheduled offset from the run's start) to {end}, per successful request: time queued behind busy connections or a stalled server counts (free of coordinated omission)"
        ),
    }
}

/// The step that held: all SLOs, or without SLOs errors ≤ 1 % and achieved
/// ≥ 95 % of offered.
fn holds(slos_pass: Option<bool>, offered: f64, achieved: f64, ok: u64, errors: u64) -> bool {
    match slos_pass {
        Some(p) => p,
        None => {
            let done = ok + errors;
            done > 0 && (errors as f64) <= 0.01 * done as f64 && achieved >= 0.95 * offered
        }
    }
}

fn slo_inputs<'a>(
    st: &'a StepStats,
    elapsed: Duration,
    open: bool,
    streams: Option<&'a Stats>,
) -> SloInputs<'a> {
    SloInputs {
        latency: &st.latency,
        service: if open { &st.service } else { &st.latency },
        dispatch_lag: open.then_some(&st.lag),
        ttft: streams.and_then(|p| p.dists[Metric::Ttft as usize].as_hist()),
        itl: streams.and_then(|p| p.dists[Metric::Itl as usize].as_hist()),
        tpot: streams.and_then(|p| p.dists[Metric::Tpot as usize].as_hist()),
        tokens_per_s: streams.map(|p| &p.rate),
        ok: st.ok,
        errors: st.errors,
        http_5xx: st.http_5xx,
        good: st.good,
        elapsed,
    }
}

/// What a report is built against: the run's plan, from the options and
/// workers of this process, or from the shards' results of a fanned-out run.
pub(crate) struct Plan<'a> {
    pub mode: LoadMode,
    pub protocol: Protocol,
    pub connections: u32,
    pub arrival: Arrival,
    pub slos: &'a [LoadSlo],
    pub path: &'static str,
    pub workers: usize,
    pub seed: u64,
    pub steps: &'a [RateStep],
    /// Some SLO bounds each request (goodput is counted).
    pub goodput: bool,
}

impl<'a> Plan<'a> {
    pub fn of(opts: &'a LoadOptions, run: &'a Run) -> Self {
        Plan {
            mode: opts.mode(),
            protocol: opts.protocol,
            connections: opts.connections,
            arrival: opts.arrival,
            slos: &opts.slos,
            path: run.plan.path_name(),
            workers: run.workers,
            seed: run.seed,
            steps: &run.steps,
            goodput: !run.bounds.is_empty(),
        }
    }
}

/// The report of a run, whatever its mode: overall figures and SLOs, the
/// sweep's steps and knee, errors, and the methods of what was measured.
pub(crate) fn build_report(target: String, plan: &Plan<'_>, out: Outcome) -> LoadReport {
    let mode = plan.mode;
    let s = out.stats;
    let elapsed = s.stopped_at;
    let secs = elapsed.as_secs_f64();
    let per_s = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
    let mut all = StepStats::merged(&s.steps);
    let open = mode != LoadMode::Closed;
    let probe = &s.probe;
    let streams = matches!(plan.protocol, Protocol::OpenAi | Protocol::Grpc).then_some(probe);
    let slos = evaluate(plan.slos, &slo_inputs(&all, elapsed, open, streams));
    let slo_pass = slos.iter().all(|r| r.pass);
    let (steps, knee) = if mode == LoadMode::Sweep {
        sweep_steps(plan, &s.steps, elapsed, streams)
    } else {
        (Vec::new(), None)
    };
    let (errors, error_examples) = error_maps(probe);
    let path = plan.path;
    let mut methods = request_methods(mode, path, &all, plan.goodput);
    let streamed = stream_summaries(plan.protocol, probe, &mut methods);
    let throughput = streams.and_then(|p| run_throughput(plan.protocol, p, elapsed, &mut methods));
    let scheduled = open.then_some(all.sent + s.unsent);
    let latency_dist = std::mem::take(&mut all.latency);
    let service_dist = if open {
        std::mem::take(&mut all.service)
    } else {
        latency_dist.clone()
    };
    let lean = path == "lean-http1";
    LoadReport {
        target,
        protocol: plan.protocol,
        mode,
        client_path: path,
        connections: plan.connections,
        workers: plan.workers,
        arrival: open.then_some(plan.arrival),
        seed: open.then_some(plan.seed),
        elapsed_s: secs,
        offered_rps: scheduled.map(per_s),
        achieved_rps: per_s(all.ok),
        requests: RequestCounts {
            sent: all.sent,
            ok: all.ok,
            errors: all.errors,
            in_flight_at_end: s.in_flight_at_end,
            scheduled,
            unsent: open.then_some(s.unsent),
        },
        errors,
        error_examples,
        status_codes: (!s.statuses_missing).then(|| s.statuses.clone()),
        bytes_read: if lean { s.bytes_read } else { 0 },
        bytes_written: if lean { s.bytes_written } else { 0 },
        latency: latency_dist.summary(),
        service: open.then(|| service_dist.summary()),
        dispatch_lag: open.then(|| all.lag.summary()),
        ttft: streamed.ttft,
        itl: streamed.itl,
        tpot: streamed.tpot,
        output_tokens_per_s: streamed.output_tokens_per_s,
        throughput,
        goodput_rps: plan.goodput.then(|| per_s(all.good)),
        slos,
        slo_pass,
        steps,
        knee_rps: knee,
        intervals: out.intervals,
        interrupted: s.interrupted,
        methods,
        fanout: None,
        latency_dist,
        service_dist,
    }
}

/// Every SLO of the run, evaluated on `inputs`.
fn evaluate(slos: &[LoadSlo], inputs: &SloInputs<'_>) -> Vec<super::SloResult> {
    slos.iter().map(|x| x.evaluate(inputs)).collect()
}

/// Each sweep step that ran, with its SLOs and whether it held; and the
/// knee, the highest rate of a step that held.
fn sweep_steps(
    plan: &Plan<'_>,
    stats: &[StepStats],
    elapsed: Duration,
    streams: Option<&Stats>,
) -> (Vec<StepReport>, Option<f64>) {
    let mut steps = Vec::new();
    let mut knee = None;
    let mut from = Duration::ZERO;
    for (st, rs) in stats.iter().zip(plan.steps) {
        let in_step = elapsed.saturating_sub(from).min(rs.duration);
        from += rs.duration;
        if in_step.is_zero() {
            break;
        }
        // The step's SLOs use its own latencies and counts; the
        // streaming distributions are the run's (not split per step).
        let results = evaluate(plan.slos, &slo_inputs(st, in_step, true, streams));
        let achieved = st.ok as f64 / in_step.as_secs_f64();
        let ok = holds(
            (!results.is_empty()).then(|| results.iter().all(|r| r.pass)),
            rs.rate,
            achieved,
            st.ok,
            st.errors,
        );
        if ok {
            knee = Some(knee.map_or(rs.rate, |k: f64| k.max(rs.rate)));
        }
        steps.push(StepReport {
            offered_rps: rs.rate,
            achieved_rps: achieved,
            requests: RequestCounts {
                sent: st.sent,
                ok: st.ok,
                errors: st.errors,
                ..RequestCounts::default()
            },
            latency: st.latency.summary(),
            service: st.service.summary(),
            dispatch_lag: st.lag.summary(),
            slos: results,
            holds: ok,
        });
    }
    (steps, knee)
}

type ErrorMaps = (BTreeMap<ErrorKind, u64>, BTreeMap<ErrorKind, String>);

/// Failures by kind, and one example of each.
fn error_maps(probe: &Stats) -> ErrorMaps {
    let mut errors = BTreeMap::new();
    let mut examples = BTreeMap::new();
    for (i, k) in ErrorKind::ALL.iter().enumerate() {
        if probe.errors[i] > 0 {
            errors.insert(*k, probe.errors[i]);
        }
        if let Some(e) = &probe.examples[i] {
            examples.insert(*k, e.clone());
        }
    }
    (errors, examples)
}

/// The methods of the request-level figures: latency, and in open loop
/// service time and dispatch lag; goodput when SLOs bound requests.
fn request_methods(
    mode: LoadMode,
    path: &str,
    all: &StepStats,
    goodput: bool,
) -> BTreeMap<&'static str, String> {
    let mut methods = BTreeMap::new();
    let n = all.latency.count();
    methods.insert(
        "latency",
        format!("{}; {n} samples", latency_method(mode, path)),
    );
    if mode != LoadMode::Closed {
        methods.insert(
            "service",
            format!("client-side, from the instant before the request is written to the end of the response, per successful request; {n} samples"),
        );
        methods.insert(
            "dispatch_lag",
            format!("client-side, from the intended send time to the instant before the request is written; {n} samples"),
        );
    }
    if goodput {
        methods.insert(
            "goodput_rps",
            format!(
                "successful requests whose own latency / service / TTFT met every percentile or max SLO bound, per second of the run; {} of {} requests",
                all.good, all.ok
            ),
        );
    }
    methods
}

/// The streaming figures of a run (openai, grpc).
struct Streamed {
    ttft: Option<LatencySummary>,
    itl: Option<LatencySummary>,
    tpot: Option<LatencySummary>,
    output_tokens_per_s: Option<RateSummary>,
}

/// Summaries of the streaming distributions that took samples, each with
/// its method.
fn stream_summaries(
    protocol: Protocol,
    probe: &Stats,
    methods: &mut BTreeMap<&'static str, String>,
) -> Streamed {
    let stream_method = |name: &'static str| match protocol {
        Protocol::Grpc => crate::grpc::method_text(name),
        _ => crate::openai::method_text(name),
    };
    let mut summary = |m: Metric| {
        let d = probe.dists[m as usize]
            .as_hist()
            .filter(|d| !d.is_empty())?;
        if let Some(t) = stream_method(m.name()) {
            methods.insert(m.name(), format!("{t}; {} samples", d.count()));
        }
        Some(d.summary())
    };
    let ttft = summary(Metric::Ttft);
    let itl = summary(Metric::Itl);
    let tpot = summary(Metric::Tpot);
    let output_tokens_per_s = (probe.rate.count() > 0).then(|| {
        if let Some(t) = stream_method("output_tokens_per_s") {
            methods.insert(
                "output_tokens_per_s",
                format!("{t}; {} samples", probe.rate.count()),
            );
        }
        probe.rate.summary()
    });
    Streamed {
        ttft,
        itl,
        tpot,
        output_tokens_per_s,
    }
}

/// Output tokens per second of the whole run (streams only), with its method.
fn run_throughput(
    protocol: Protocol,
    probe: &Stats,
    elapsed: Duration,
    methods: &mut BTreeMap<&'static str, String>,
) -> Option<Throughput> {
    let t = Throughput::new(
        probe.output_tokens,
        probe.tokens_usage + probe.tokens_counted,
        elapsed,
    )?;
    methods.insert(
        "throughput",
        format!(
            "the output tokens of every successful stream (tokens {}), summed, divided by the run's wall time (elapsed_s, as achieved_rps); {} samples",
            crate::TokensSource::text(probe.tokens_source(), protocol),
            t.requests
        ),
    );
    Some(t)
}

impl StepStats {
    fn merged(steps: &[StepStats]) -> StepStats {
        let mut it = steps.iter();
        let mut all = StepStats {
            latency: Distribution::new(),
            service: Distribution::new(),
            lag: Distribution::new(),
            sent: 0,
            ok: 0,
            errors: 0,
            http_5xx: 0,
            good: 0,
        };
        for s in it.by_ref() {
            all.merge(s);
        }
        all
    }
}
