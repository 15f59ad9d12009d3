//! The sampling engine: `concurrency` workers pull sample indices from a
//! shared counter, each records into its own [`Stats`], merged at the end.
//! The run stops at its deadline (`deadline_reached`) or on cancel
//! (`interrupted`) and returns what it measured.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use tokio_util::sync::CancellationToken;

use crate::conn::HttpConn;
use crate::grpc::{GrpcPlan, GrpcWorker};
use crate::http::HttpPlan;
use crate::openai::{OpenAiPlan, Scratch};
use crate::options::ProbeOptions;
use crate::report::{SampleResult, Stats};

#[derive(Debug)]
pub(crate) enum Plan {
    Http(HttpPlan),
    OpenAi(OpenAiPlan),
    Grpc(GrpcPlan),
}

enum WorkerState {
    Http(Option<HttpConn>),
    OpenAi(Option<HttpConn>, Scratch),
    Grpc(GrpcWorker),
}

impl WorkerState {
    fn for_plan(p: &Plan) -> Self {
        match p {
            Plan::Http(_) => WorkerState::Http(None),
            Plan::OpenAi(_) => WorkerState::OpenAi(None, Scratch::default()),
            Plan::Grpc(_) => WorkerState::Grpc(GrpcWorker::default()),
        }
    }
}

struct Shared {
    plan: Plan,
    next: AtomicU32,
    total: u32,
    warmup: u32,
    deadline: tokio::time::Instant,
    cancel: CancellationToken,
    record_samples: bool,
    lean: bool,
}

/// Run `samples + warmup` samples of `plan` as `opts` says.
pub(crate) async fn run(plan: Plan, opts: &ProbeOptions, deadline: tokio::time::Instant) -> Stats {
    let total = opts.samples.saturating_add(opts.warmup);
    let shared = Arc::new(Shared {
        plan,
        next: AtomicU32::new(0),
        total,
        warmup: opts.warmup,
        deadline,
        cancel: opts.cancel.clone(),
        record_samples: opts.record_samples,
        lean: opts.lean,
    });
    let workers = opts.concurrency.clamp(1, total.max(1));
    let handles: Vec<_> = (0..workers)
        .map(|_| tokio::spawn(worker(shared.clone())))
        .collect();
    let mut stats = Stats::with_lean(opts.record_samples, opts.lean);
    stats.planned = u64::from(total);
    for h in handles {
        match h.await {
            Ok(s) => stats.merge(s),
            // A worker that panicked: its samples are lost, the run is not whole.
            Err(_) => stats.interrupted = true,
        }
    }
    stats
}

/// Why a worker stopped before the plan's end.
enum Stop {
    Cancel,
    Deadline,
}

impl Shared {
    /// A reason to stop now, if there is one.
    fn stop_now(&self) -> Option<Stop> {
        if self.cancel.is_cancelled() {
            Some(Stop::Cancel)
        } else if tokio::time::Instant::now() >= self.deadline {
            Some(Stop::Deadline)
        } else {
            None
        }
    }
}

async fn worker(shared: Arc<Shared>) -> Stats {
    let mut stats = Stats::with_lean(shared.record_samples, shared.lean);
    let mut state = WorkerState::for_plan(&shared.plan);
    let stop = loop {
        if let Some(stop) = shared.stop_now() {
            // Only a stop that leaves samples undone counts.
            let more = shared.next.load(Ordering::Relaxed) < shared.total;
            break more.then_some(stop);
        }
        let i = shared.next.fetch_add(1, Ordering::Relaxed);
        if i >= shared.total {
            break None;
        }
        let measured = i >= shared.warmup;
        let one = sample(&shared.plan, &mut state, &mut stats, i, measured);
        tokio::select! {
            biased;
            _ = shared.cancel.cancelled() => break Some(Stop::Cancel),
            _ = tokio::time::sleep_until(shared.deadline) => break Some(Stop::Deadline),
            _ = one => {}
        }
    };
    match stop {
        Some(Stop::Cancel) => stats.interrupted = true,
        Some(Stop::Deadline) => stats.deadline_reached = true,
        None => {}
    }
    stats
}

async fn sample(
    plan: &Plan,
    state: &mut WorkerState,
    stats: &mut Stats,
    i: u32,
    measured: bool,
) -> SampleResult {
    match (plan, state) {
        (Plan::Http(p), WorkerState::Http(slot)) => {
            crate::http::sample(p, slot, stats, measured).await
        }
        (Plan::OpenAi(p), WorkerState::OpenAi(slot, scratch)) => {
            crate::openai::sample(p, slot, scratch, stats, i, measured).await
        }
        (Plan::Grpc(p), WorkerState::Grpc(w)) => {
            crate::grpc::sample(p, w, stats, i, measured).await
        }
        _ => unreachable!("worker state is built from its plan"),
    }
}
