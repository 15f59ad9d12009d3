//! Worker threads and connection loops.
//!
//! Each worker is an OS thread running a single-threaded tokio runtime
//! (sized to the CPUs the process may use), owning a share of the
//! connections and its own histograms; nothing is shared between workers
//! while they run except a request-ticket counter (closed loop with
//! `max_requests`) and the channel that carries one interval summary per
//! second. The coordinator (the caller's task) starts every worker at the
//! same instant, merges the intervals, and merges the workers' histograms
//! when they finish.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use cockpit_core::Distribution;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::LoadOptions;
use super::http1::{Http1Conn, Http1Request, LazyTimer};
use super::interval::{IntervalAcc, IntervalReport};
use super::schedule::{Arrival, RateStep, Schedule};
use super::shard::Shard;
use super::slo::SloMetric;
use super::status::{ResponseStatus, StatusCounts};
use crate::conn::{Failure, HttpConn};
use crate::grpc::{GrpcPlan, GrpcWorker};
use crate::http::HttpPlan;
use crate::openai::{BodySource, OpenAiPlan, Scratch};
use crate::options::HttpVersion;
use crate::report::{ErrorKind, SampleResult, Stats};
use crate::target::{Target, parse_target};
use crate::{ProbeError, Protocol};

/// Pause after a failed connect in a closed loop, so a refusing target is
/// not hammered in a tight loop.
const CONNECT_BACKOFF: Duration = Duration::from_millis(10);

/// How requests are sent.
#[derive(Debug)]
pub(crate) enum ClientPlan {
    /// Cleartext HTTP/1.1: the lean client.
    Lean {
        req: Http1Request,
        addrs: Vec<SocketAddr>,
        target: Target,
    },
    Http(HttpPlan),
    OpenAi(OpenAiPlan),
    Grpc(GrpcPlan),
}

impl ClientPlan {
    pub async fn new(url: &str, opts: &LoadOptions) -> Result<Self, ProbeError> {
        let mut r = opts.request.clone();
        r.reuse_connection = true;
        r.validate()?;
        match opts.protocol {
            Protocol::Http => {
                let target = parse_target(url, Protocol::Http)?;
                if !target.tls && r.http_version != HttpVersion::Http2 {
                    let addrs = crate::conn::resolve(&target.host, target.port, r.timeout)
                        .await
                        .map_err(|f| ProbeError::Request {
                            url: target.redacted.clone(),
                            kind: f.kind,
                            message: f.message,
                        })?;
                    let req = Http1Request::build(
                        &target,
                        &r.method,
                        &r.headers,
                        r.content_type.as_ref(),
                        r.body.as_deref().unwrap_or_default(),
                    );
                    return Ok(ClientPlan::Lean { req, addrs, target });
                }
                Ok(ClientPlan::Http(HttpPlan {
                    endpoint: crate::endpoint(target, &r)?,
                    method: r.method.clone(),
                    body: r.body.clone().unwrap_or_default(),
                    content_type: r.content_type.clone(),
                    headers: r.headers.clone(),
                }))
            }
            Protocol::OpenAi => {
                let target = parse_target(url, Protocol::OpenAi)?;
                let body = crate::openai::request_body(
                    r.model_name(),
                    r.system_prompt.as_deref(),
                    &r.prompt,
                    r.max_tokens,
                );
                Ok(ClientPlan::OpenAi(OpenAiPlan {
                    endpoint: crate::endpoint(target, &r)?,
                    body: BodySource::Fixed(body),
                    max_line_bytes: r.max_line_bytes,
                    headers: r.headers.clone(),
                    record_samples: false,
                    capture_output_bytes: 0,
                    capture_header: None,
                }))
            }
            Protocol::Grpc => {
                let target = Arc::new(parse_target(url, Protocol::Grpc)?);
                let tls = crate::tls_context(&target, &r, &[b"h2"])?;
                Ok(ClientPlan::Grpc(GrpcPlan {
                    target,
                    tls,
                    timeout: r.timeout,
                    idle: r.idle(),
                    reuse: true,
                    prompt: r.prompt.clone(),
                    system_prompt: r.system_prompt.clone().unwrap_or_default(),
                    max_tokens: r.max_tokens.unwrap_or(0),
                    record_samples: false,
                    search: None,
                    dynamic: None,
                }))
            }
        }
    }

    /// The redacted target URL.
    pub fn target(&self) -> &str {
        match self {
            ClientPlan::Lean { target, .. } => &target.redacted,
            ClientPlan::Http(p) => &p.endpoint.target.redacted,
            ClientPlan::OpenAi(p) => &p.endpoint.target.redacted,
            ClientPlan::Grpc(p) => &p.target.redacted,
        }
    }

    pub fn path_name(&self) -> &'static str {
        match self {
            ClientPlan::Lean { .. } => "lean-http1",
            ClientPlan::Http(_) | ClientPlan::OpenAi(_) => "hyper",
            ClientPlan::Grpc(_) => "tonic",
        }
    }
}

/// Everything the workers share, read-only (but the ticket counter).
#[derive(Debug)]
pub(crate) struct Run {
    pub plan: ClientPlan,
    /// Open loop: the rate steps; empty for a closed loop.
    pub steps: Vec<RateStep>,
    pub arrival: Arrival,
    pub seed: u64,
    pub workers: usize,
    pub connections: u32,
    pub timeout: Duration,
    /// Offset of the run's end from its start.
    pub end: Duration,
    /// Closed loop: requests left to send.
    pub tickets: Option<AtomicU64>,
    pub cancel: CancellationToken,
    pub interval: Duration,
    /// Per-request bounds a request must meet to count as goodput.
    pub bounds: Vec<(SloMetric, Duration)>,
    /// This process's part of a run fanned out over processes: its
    /// threads take the schedule's workers `shard.index * workers + w` of
    /// `shard.count * workers`.
    pub shard: Shard,
    /// The run's common start on the wall clock (a fanned-out run);
    /// `None`: as soon as every worker is ready.
    pub start_at: Option<SystemTime>,
}

impl Run {
    fn open(&self) -> bool {
        !self.steps.is_empty()
    }

    fn take_ticket(&self) -> bool {
        match &self.tickets {
            None => true,
            Some(t) => t
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok(),
        }
    }
}

/// One step's tallies in one worker.
#[derive(Debug)]
pub(crate) struct StepStats {
    pub latency: Distribution,
    pub service: Distribution,
    pub lag: Distribution,
    pub sent: u64,
    pub ok: u64,
    pub errors: u64,
    pub http_5xx: u64,
    pub good: u64,
}

impl StepStats {
    fn new() -> Self {
        StepStats {
            latency: Distribution::new(),
            service: Distribution::new(),
            lag: Distribution::new(),
            sent: 0,
            ok: 0,
            errors: 0,
            http_5xx: 0,
            good: 0,
        }
    }

    pub fn merge(&mut self, o: &StepStats) {
        self.latency.merge(&o.latency);
        self.service.merge(&o.service);
        self.lag.merge(&o.lag);
        self.sent += o.sent;
        self.ok += o.ok;
        self.errors += o.errors;
        self.http_5xx += o.http_5xx;
        self.good += o.good;
    }
}

/// One worker's tallies (and, merged, the run's).
#[derive(Debug)]
pub(crate) struct WorkerStats {
    pub steps: Vec<StepStats>,
    /// Errors by kind with examples, and the probe distributions (TTFT, …).
    pub probe: Stats,
    /// Every finished request by how it ended.
    pub statuses: StatusCounts,
    /// Some part of these tallies came without status counts (a worker
    /// result written by an older version): `statuses` is incomplete.
    pub statuses_missing: bool,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub in_flight_at_end: u64,
    pub unsent: u64,
    /// From the run's start to this worker's stop.
    pub stopped_at: Duration,
    pub interrupted: bool,
}

impl WorkerStats {
    pub(crate) fn new(steps: usize) -> Self {
        WorkerStats {
            steps: (0..steps).map(|_| StepStats::new()).collect(),
            probe: Stats::new(false),
            statuses: StatusCounts::default(),
            statuses_missing: false,
            bytes_read: 0,
            bytes_written: 0,
            in_flight_at_end: 0,
            unsent: 0,
            stopped_at: Duration::ZERO,
            interrupted: false,
        }
    }

    pub fn merge(&mut self, o: WorkerStats) {
        if self.steps.len() < o.steps.len() {
            self.steps.resize_with(o.steps.len(), StepStats::new);
        }
        for (a, b) in self.steps.iter_mut().zip(o.steps.iter()) {
            a.merge(b);
        }
        self.probe.merge(o.probe);
        self.statuses.merge(&o.statuses);
        self.statuses_missing |= o.statuses_missing;
        self.bytes_read += o.bytes_read;
        self.bytes_written += o.bytes_written;
        self.in_flight_at_end += o.in_flight_at_end;
        self.unsent += o.unsent;
        self.stopped_at = self.stopped_at.max(o.stopped_at);
        self.interrupted |= o.interrupted;
    }
}

enum Msg {
    Ready,
    Interval {
        index: u64,
        end: Duration,
        acc: IntervalAcc,
    },
    Done(Box<WorkerStats>),
}

/// What the run produced.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub stats: WorkerStats,
    pub intervals: Vec<IntervalReport>,
    /// How late the common start (`Run::start_at`) was when every worker
    /// was ready: the run still starts there, so its first requests are due
    /// at once and their lag is measured.
    pub late_start: Duration,
}

/// Start the workers, drive them, merge what they measured.
pub(crate) async fn execute(
    run: Arc<Run>,
    progress: Option<mpsc::UnboundedSender<IntervalReport>>,
) -> Outcome {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (start_tx, start_rx) = watch::channel(None::<Instant>);
    let handles = spawn_workers(&run, &tx, &start_rx);
    drop(tx);
    let workers = handles.len();
    let mut merged = WorkerStats::new(run.steps.len().max(1));
    if workers < run.workers {
        // The schedule is split among `run.workers`; a missing worker's
        // share is missing from the run, which is then not whole.
        merged.interrupted = true;
    }
    let mut series = Series {
        length: run.interval,
        workers,
        pending: Default::default(),
        intervals: Vec::new(),
        progress,
    };
    let mut ready = 0;
    let mut done = 0;
    let mut late_start = Duration::ZERO;
    while done < workers {
        let Some(msg) = rx.recv().await else { break };
        match msg {
            Msg::Ready => {
                ready += 1;
                if ready == workers {
                    let (start, late) = common_start(&run).await;
                    late_start = late;
                    let _ = start_tx.send(Some(start));
                }
            }
            Msg::Interval { index, end, acc } => series.add(index, end, &acc),
            Msg::Done(s) => {
                done += 1;
                merged.merge(*s);
            }
        }
    }
    let intervals = series.finish();
    for h in handles {
        if h.join().is_err() {
            merged.interrupted = true;
        }
    }
    Outcome {
        stats: merged,
        intervals,
        late_start,
    }
}

/// The run's start: now, or its common start (`load shard`).
async fn common_start(run: &Run) -> (Instant, Duration) {
    match run.start_at {
        None => (Instant::now(), Duration::ZERO),
        Some(at) => super::wire::wait_for_start(at, &run.cancel).await,
    }
}

/// Start the worker threads; those that could not start are logged and
/// missing from the returned handles.
fn spawn_workers(
    run: &Arc<Run>,
    tx: &mpsc::UnboundedSender<Msg>,
    start_rx: &watch::Receiver<Option<Instant>>,
) -> Vec<std::thread::JoinHandle<()>> {
    let mut handles = Vec::new();
    for w in 0..run.workers {
        let (run, tx, start_rx) = (run.clone(), tx.clone(), start_rx.clone());
        match std::thread::Builder::new()
            .name(format!("cockpit-load-{w}"))
            .spawn(move || worker_thread(w, run, start_rx, tx))
        {
            Ok(h) => handles.push(h),
            Err(e) => tracing::error!("cannot start load worker {w}: {e}"),
        }
    }
    handles
}

/// The run's interval series: each interval is merged from every worker's
/// part and emitted (kept, and sent to the progress channel) once all the
/// workers have sent theirs, in order.
struct Series {
    length: Duration,
    workers: usize,
    /// Intervals still waiting for some worker: parts received, end, sum.
    pending: std::collections::BTreeMap<u64, (usize, Duration, IntervalAcc)>,
    intervals: Vec<IntervalReport>,
    progress: Option<mpsc::UnboundedSender<IntervalReport>>,
}

impl Series {
    fn add(&mut self, index: u64, end: Duration, acc: &IntervalAcc) {
        let e = self
            .pending
            .entry(index)
            .or_insert_with(|| (0, Duration::ZERO, IntervalAcc::new()));
        e.0 += 1;
        e.1 = e.1.max(end);
        e.2.merge(acc);
        while let Some(entry) = self.pending.first_entry() {
            if entry.get().0 < self.workers {
                break;
            }
            let (index, (_, end, acc)) = entry.remove_entry();
            self.emit(index, end, acc);
        }
    }

    fn emit(&mut self, index: u64, end: Duration, acc: IntervalAcc) {
        let start = self
            .length
            .saturating_mul(u32::try_from(index).unwrap_or(u32::MAX));
        let r = IntervalReport::from_acc(index, start, end.saturating_sub(start), acc);
        if self.intervals.len() < super::MAX_INTERVALS {
            self.intervals.push(r.clone_numbers());
        }
        if let Some(p) = &self.progress {
            let _ = p.send(r);
        }
    }

    /// Emit what is still pending (a worker that stopped early) and return
    /// the series.
    fn finish(mut self) -> Vec<IntervalReport> {
        for (index, (_, end, acc)) in std::mem::take(&mut self.pending) {
            self.emit(index, end, acc);
        }
        self.intervals
    }
}

fn worker_thread(
    w: usize,
    run: Arc<Run>,
    start_rx: watch::Receiver<Option<Instant>>,
    tx: mpsc::UnboundedSender<Msg>,
) {
    let stats = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => {
            let local = tokio::task::LocalSet::new();
            local.block_on(&rt, worker_main(w, run.clone(), start_rx, tx.clone()))
        }
        Err(e) => {
            tracing::error!("load worker {w} cannot start its runtime: {e}");
            let _ = tx.send(Msg::Ready);
            let mut s = WorkerStats::new(run.steps.len().max(1));
            s.interrupted = true;
            s
        }
    };
    let _ = tx.send(Msg::Done(Box::new(stats)));
}

/// What the connection tasks of one worker share (single-threaded).
struct Shared {
    inner: RefCell<Inner>,
    in_flight: Cell<u64>,
    schedule: RefCell<Option<Schedule>>,
    start: Instant,
    end: Instant,
    open: bool,
}

struct Inner {
    stats: WorkerStats,
    interval: IntervalAcc,
}

impl Shared {
    fn next_intended(&self) -> Option<(Instant, usize)> {
        let i = self.schedule.borrow_mut().as_mut()?.next()?;
        Some((self.start + i.offset, i.step))
    }

    #[inline]
    fn sent(&self, step: usize, bytes: u64) {
        let mut g = self.inner.borrow_mut();
        g.stats.steps[step].sent += 1;
        g.stats.bytes_written += bytes;
        self.in_flight.set(self.in_flight.get() + 1);
    }

    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn ok(
        &self,
        run: &Run,
        step: usize,
        intended: Instant,
        send: Instant,
        done: Instant,
        ttft: Option<Duration>,
        bytes: u64,
        status: ResponseStatus,
    ) {
        self.in_flight.set(self.in_flight.get().saturating_sub(1));
        let latency = done - intended;
        let g = &mut *self.inner.borrow_mut();
        g.stats.statuses.add(status);
        let s = &mut g.stats.steps[step];
        s.latency.record(latency);
        s.ok += 1;
        let service = done - send;
        if self.open {
            s.service.record(service);
            s.lag.record(send - intended);
        }
        if !run.bounds.is_empty()
            && run.bounds.iter().all(|(m, b)| match m {
                SloMetric::Latency => latency <= *b,
                SloMetric::Service => service <= *b,
                SloMetric::Ttft => ttft.is_some_and(|t| t <= *b),
                _ => true,
            })
        {
            s.good += 1;
        }
        g.stats.bytes_read += bytes;
        g.interval.latency.record(latency);
        g.interval.ok += 1;
    }

    /// A failed request of `kind`, ended by `status` (the failure's own
    /// kind when no status came). `f` is `None` when the probe's own
    /// sample function already counted it (with its example) in its `Stats`.
    fn failed(
        &self,
        step: usize,
        f: Option<Failure>,
        (kind, status): (ErrorKind, ResponseStatus),
        was_sent: bool,
    ) {
        if was_sent {
            self.in_flight.set(self.in_flight.get().saturating_sub(1));
        }
        let g = &mut *self.inner.borrow_mut();
        g.stats.statuses.add(status);
        let s = &mut g.stats.steps[step];
        s.errors += 1;
        if kind == ErrorKind::Http5xx {
            s.http_5xx += 1;
        }
        if let Some(f) = f {
            g.stats.probe.error(f.kind, || f.message);
        }
        g.interval.errors += 1;
    }
}

/// One worker: connect (lean path), wait for the common start, run its
/// connections while sending an interval summary per tick, stop at the
/// run's end (or the cancel), and return its tallies.
async fn worker_main(
    w: usize,
    run: Arc<Run>,
    start_rx: watch::Receiver<Option<Instant>>,
    tx: mpsc::UnboundedSender<Msg>,
) -> WorkerStats {
    let n_steps = run.steps.len().max(1);
    let mine = (0..run.connections as usize)
        .filter(|c| c % run.workers == w)
        .count();
    let pre = preconnect(&run, mine).await;
    let _ = tx.send(Msg::Ready);
    let Some(start) = wait_for_start(start_rx, &run.cancel).await else {
        let mut s = WorkerStats::new(n_steps);
        s.interrupted = true;
        return s;
    };
    let schedule = run.open().then(|| {
        run.shard
            .schedule(&run.steps, run.arrival, run.seed, run.workers, w)
    });
    // The whole schedule, kept to count at the end what was due.
    let origin = schedule.clone();
    let sh = Rc::new(Shared {
        inner: RefCell::new(Inner {
            stats: WorkerStats::new(n_steps),
            interval: IntervalAcc::new(),
        }),
        in_flight: Cell::new(0),
        schedule: RefCell::new(schedule),
        start,
        end: start + run.end,
        open: run.open(),
    });
    let stop = CancellationToken::new();
    let mut set = spawn_connections(&sh, &run, &stop, w, mine, pre);
    let (index, interrupted) = drive(&sh, &run, &mut set, &tx).await;
    let stopped = start.elapsed().min(run.end);
    stop.cancel();
    if matches!(run.plan, ClientPlan::Lean { .. }) {
        set.abort_all();
    }
    while set.join_next().await.is_some() {}
    let acc = std::mem::replace(&mut sh.inner.borrow_mut().interval, IntervalAcc::new());
    let _ = tx.send(Msg::Interval {
        index,
        end: stopped,
        acc,
    });
    let mut stats = std::mem::replace(&mut sh.inner.borrow_mut().stats, WorkerStats::new(0));
    stats.in_flight_at_end = sh.in_flight.get();
    stats.stopped_at = stopped;
    stats.interrupted = interrupted;
    if let Some(origin) = origin {
        stats.unsent = unsent(origin, stopped, &stats);
    }
    stats
}

/// Lean path: open this worker's connections before the run (like wrk),
/// so the run measures requests, not handshakes. A failed connect leaves
/// `None`: the connection retries on its first request.
async fn preconnect(run: &Run, mine: usize) -> Vec<Option<Http1Conn>> {
    let ClientPlan::Lean { addrs, target, .. } = &run.plan else {
        return Vec::new();
    };
    let all = futures_util::future::join_all(
        (0..mine).map(|_| Http1Conn::connect(addrs, run.timeout, &target.redacted)),
    )
    .await;
    all.into_iter().map(Result::ok).collect()
}

/// The run's common start, or `None` when cancelled first.
async fn wait_for_start(
    mut start_rx: watch::Receiver<Option<Instant>>,
    cancel: &CancellationToken,
) -> Option<Instant> {
    tokio::select! {
        r = start_rx.wait_for(Option::is_some) => Some(match r {
            Ok(v) => v.unwrap_or_else(Instant::now),
            Err(_) => Instant::now(),
        }),
        () = cancel.cancelled() => None,
    }
}

/// Start this worker's connection tasks (`mine` of them).
fn spawn_connections(
    sh: &Rc<Shared>,
    run: &Arc<Run>,
    stop: &CancellationToken,
    w: usize,
    mine: usize,
    mut pre: Vec<Option<Http1Conn>>,
) -> JoinSet<()> {
    let lean = matches!(run.plan, ClientPlan::Lean { .. });
    let mut set = JoinSet::new();
    for i in 0..mine {
        if lean {
            let conn = pre.get_mut(i).and_then(Option::take);
            set.spawn_local(lean_conn(sh.clone(), run.clone(), conn));
        } else {
            set.spawn_local(generic_conn(
                sh.clone(),
                run.clone(),
                stop.clone(),
                (i * run.workers + w) as u32,
            ));
        }
    }
    set
}

/// Until the run's end (or the cancel): send an interval summary at each
/// tick. Returns the next interval's index and whether the run was
/// cancelled.
async fn drive(
    sh: &Shared,
    run: &Run,
    set: &mut JoinSet<()>,
    tx: &mpsc::UnboundedSender<Msg>,
) -> (u64, bool) {
    let start = sh.start;
    let end = tokio::time::Instant::from_std(sh.end);
    let mut index = 0u64;
    loop {
        let tick = tokio::time::Instant::from_std(
            start
                + run
                    .interval
                    .saturating_mul(u32::try_from(index + 1).unwrap_or(u32::MAX)),
        );
        tokio::select! {
            biased;
            () = run.cancel.cancelled() => return (index, true),
            // A closed loop ends when its connections are done (e.g. after
            // `max_requests`); an open loop lasts its schedule's time even
            // when no request is left to send (a rate below 1 per run).
            _ = set.join_next(), if !set.is_empty() => if set.is_empty() && !sh.open {
                return (index, false);
            },
            () = tokio::time::sleep_until(tick.min(end)) => {
                if tokio::time::Instant::now() >= end {
                    return (index, false);
                }
                let acc = std::mem::replace(&mut sh.inner.borrow_mut().interval, IntervalAcc::new());
                let _ = tx.send(Msg::Interval { index, end: start.elapsed().min(run.end), acc });
                index += 1;
            }
        }
    }
}

/// Open loop: requests due before the stop but never sent. Counted from
/// the whole schedule rather than from what is left of it, because a
/// connection may have taken an item and been stopped while waiting for its
/// time or connecting: that item is neither sent nor left in the schedule.
fn unsent(origin: Schedule, stopped: Duration, stats: &WorkerStats) -> u64 {
    let due = origin.take_while(|i| i.offset < stopped).count() as u64;
    let sent: u64 = stats.steps.iter().map(|s| s.sent).sum();
    due.saturating_sub(sent)
}

/// The next request of a connection: its intended send instant (open
/// loop) and step, or `None` when the run has no more for it.
async fn next_request(sh: &Shared, run: &Run) -> Option<(Option<Instant>, usize)> {
    if sh.open {
        let (t, step) = sh.next_intended()?;
        if t > Instant::now() {
            tokio::time::sleep_until(tokio::time::Instant::from_std(t)).await;
        }
        Some((Some(t), step))
    } else if run.take_ticket() {
        Some((None, 0))
    } else {
        None
    }
}

/// A connection of the lean HTTP/1.1 path. Aborted at the end of the run
/// (what it measured is already in the worker's shared tallies).
async fn lean_conn(sh: Rc<Shared>, run: Arc<Run>, mut conn: Option<Http1Conn>) {
    let ClientPlan::Lean { req, addrs, target } = &run.plan else {
        return;
    };
    let what = target.redacted.as_str();
    let mut timer = LazyTimer::new();
    while let Some((intended, step)) = next_request(&sh, &run).await {
        if conn.is_none() {
            match Http1Conn::connect(addrs, run.timeout, what).await {
                Ok(c) => conn = Some(c),
                Err(f) => {
                    let kind = f.kind;
                    sh.inner.borrow_mut().stats.steps[step].sent += 1;
                    sh.failed(step, Some(f), (kind, ResponseStatus::Failed(kind)), false);
                    if !sh.open {
                        tokio::time::sleep(CONNECT_BACKOFF).await;
                    }
                    continue;
                }
            }
        }
        let send = Instant::now();
        if !sh.open && send >= sh.end {
            break;
        }
        let Some(c) = conn.as_mut() else { continue };
        timer.set(send + run.timeout);
        sh.sent(step, req.bytes.len() as u64);
        let r = c.round_trip(req, &mut timer, what).await;
        let done = Instant::now();
        match r {
            Ok(a) => {
                if a.close {
                    conn = None;
                }
                if (200..300).contains(&a.status) {
                    sh.ok(
                        &run,
                        step,
                        intended.unwrap_or(send),
                        send,
                        done,
                        None,
                        a.bytes,
                        ResponseStatus::Http(a.status),
                    );
                } else {
                    let f = status_failure(a.status, what);
                    let kind = f.kind;
                    sh.inner.borrow_mut().stats.bytes_read += a.bytes;
                    sh.failed(step, Some(f), (kind, ResponseStatus::Http(a.status)), true);
                }
            }
            Err(f) => {
                conn = None;
                let kind = f.kind;
                sh.failed(step, Some(f), (kind, ResponseStatus::Failed(kind)), true);
            }
        }
    }
}

fn status_failure(status: u16, what: &str) -> Failure {
    let kind = match status {
        300..=399 => ErrorKind::Protocol,
        400..=499 => ErrorKind::Http4xx,
        500..=599 => ErrorKind::Http5xx,
        _ => ErrorKind::Protocol,
    };
    let note = if kind == ErrorKind::Protocol && (300..400).contains(&status) {
        "; redirects are not followed"
    } else {
        ""
    };
    Failure::new(kind, format!("{what} answered {status}{note}"))
}

enum State {
    Http(Option<HttpConn>),
    OpenAi(Option<HttpConn>, Scratch),
    Grpc(GrpcWorker),
}

/// One request through the probe's own sample functions: the TTFT of a
/// successful stream, or the kind of the failure (counted, with its
/// example, in `stats`).
async fn one(plan: &ClientPlan, st: &mut State, stats: &mut Stats, index: u32) -> SampleResult {
    match (plan, st) {
        (ClientPlan::Http(p), State::Http(slot)) => crate::http::sample(p, slot, stats, true).await,
        (ClientPlan::OpenAi(p), State::OpenAi(slot, scratch)) => {
            crate::openai::sample(p, slot, scratch, stats, index, true).await
        }
        (ClientPlan::Grpc(p), State::Grpc(g)) => {
            crate::grpc::sample(p, g, stats, index, true).await
        }
        _ => unreachable!("the connection state is built from its plan"),
    }
}

/// A connection of the hyper / tonic paths. Stops at the `stop` signal
/// between or during requests, then hands its tallies to the worker.
async fn generic_conn(sh: Rc<Shared>, run: Arc<Run>, stop: CancellationToken, id: u32) {
    let mut st = match &run.plan {
        ClientPlan::OpenAi(_) => State::OpenAi(None, Scratch::default()),
        ClientPlan::Grpc(_) => State::Grpc(GrpcWorker::default()),
        _ => State::Http(None),
    };
    let mut stats = Stats::new(false);
    loop {
        let next = tokio::select! {
            biased;
            () = stop.cancelled() => None,
            n = next_request(&sh, &run) => n,
        };
        let Some((intended, step)) = next else { break };
        let send = Instant::now();
        if !sh.open && send >= sh.end {
            break;
        }
        sh.sent(step, 0);
        stats.last_status = None;
        let r = tokio::select! {
            biased;
            () = stop.cancelled() => None,
            r = one(&run.plan, &mut st, &mut stats, id) => Some(r),
        };
        let Some(r) = r else { break };
        let done = Instant::now();
        let status = stats.last_status.take();
        match r {
            Ok(ttft) => {
                // The HTTP, openai and gRPC sample functions set the
                // status of every success (a 2xx, or OK).
                debug_assert!(status.is_some(), "a success without its status");
                let status = status.unwrap_or(ResponseStatus::Http(200));
                sh.ok(
                    &run,
                    step,
                    intended.unwrap_or(send),
                    send,
                    done,
                    ttft,
                    0,
                    status,
                );
            }
            Err(kind) => {
                let status = status.unwrap_or(ResponseStatus::Failed(kind));
                sh.failed(step, None, (kind, status), true);
            }
        }
    }
    sh.inner.borrow_mut().stats.probe.merge(stats);
}
