//! Load beyond one process: `load shard` (one shard of a run, from a common
//! start, its result as JSON), `load merge` (the exact merge of saved
//! results) and `load … --workers K --local` (a coordinator running K
//! shards as child processes of this binary, then merging them).
//!
//! The coordinator's side is generic over what the workers run: its clock
//! service ([`ClockService`]), the workers as local child processes
//! ([`run_local`]: an argument list per shard, a reader of their output),
//! the kept results ([`keep_results`]) and bounded reading of saved ones
//! ([`read_bounded`]). `simulate` fans out through the same pieces
//! (`sim_fanout.rs`).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use clap::{Args, Subcommand, ValueEnum as _};
use cockpit_probe::load::{
    LoadSlo, MergeInput, Shard, ShardResult, measure_offset, merge_shards, read_shard, run_shard,
    serve_clock,
};
use tokio::io::AsyncReadExt as _;
use tokio_util::sync::CancellationToken;

use crate::cli::{LoadArgs, LoadCmd, ResultFormat, parse_duration};
use crate::load::{open_outputs, option_error, options, url};
use crate::output::{OutputFile, Target};
use crate::{CliError, Outcome};

/// The largest worker result read (a file, a child's output).
pub const MAX_RESULT_BYTES: usize = 256 * 1024 * 1024;
/// The most workers of a fan-out.
const MAX_WORKERS: u16 = 1024;
/// How long after its schedule's end a worker may take to report.
pub(crate) const REPORT_GRACE: Duration = Duration::from_secs(30);

#[derive(Debug, Subcommand)]
pub enum LoadSub {
    /// Run shard k of K of a fanned-out run from a common start and print
    /// its result (versioned JSON) for `load merge`.
    Shard(Box<ShardArgs>),
    /// Merge worker results exactly (histograms merged, counts added, rates
    /// over the common window) and evaluate the SLOs once.
    Merge(MergeArgs),
}

#[derive(Debug, Args)]
pub struct ShardArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    /// This worker's shard, k/K with k from 0 (Kubernetes: JOB_COMPLETION_INDEX/K).
    #[arg(long)]
    pub shard: Shard,
    /// The run's common start on the wall clock, RFC 3339 (2026-11-27T16:00:00Z).
    #[arg(long, value_parser = parse_instant, required_unless_present = "await_start")]
    pub start_at: Option<SystemTime>,
    /// Instead of --start-at: wait on this address for the coordinator's
    /// start (`--on-kubernetes` pods; docs/load-testing.md).
    #[command(flatten)]
    pub await_start: crate::fanout_k8s::AwaitStart,
    /// The coordinator's clock service (host:port) to measure this machine's offset from.
    #[arg(long)]
    pub clock_ref: Option<String>,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Worker results written by `load shard` (all of one run).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Objectives evaluated on the merged data (default: the run's own).
    #[arg(long, value_name = "EXPR")]
    pub slo: Vec<LoadSlo>,
    #[arg(long, value_enum, default_value_t = ResultFormat::Table)]
    pub format: ResultFormat,
    /// Also write the merged JSON report to this file, or every format
    /// into this directory (a path ending in `/`), as `load --out`.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// How `load URL …` fans out.
#[derive(Debug, Args)]
pub struct FanOutArgs {
    /// Split the run over K workers (shards of its schedule), merged exactly.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=MAX_WORKERS as i64))]
    pub workers: Option<u16>,
    /// Run the workers as local child processes of this binary.
    #[arg(long, requires = "workers")]
    pub local: bool,
    /// Also keep each worker's result as DIR/worker-K.json (for `load merge`,
    /// `simulate merge`).
    #[arg(long, value_name = "DIR", requires = "workers")]
    pub results: Option<PathBuf>,
    /// How far ahead the workers' common start is set (default 2 s; on
    /// Kubernetes 10 s after every pod is Running).
    #[arg(long, value_parser = parse_duration)]
    pub lead: Option<Duration>,
    #[command(flatten)]
    pub kubernetes: crate::fanout_k8s::K8sFanOutArgs,
}

/// RFC 3339 to a wall-clock instant.
pub(crate) fn parse_instant(s: &str) -> Result<SystemTime, String> {
    humantime::parse_rfc3339_weak(s.trim())
        .map_err(|e| format!("`{s}` is not an RFC 3339 instant (2026-11-27T16:00:00Z): {e}"))
}

pub async fn run(cmd: LoadCmd, cancel: CancellationToken) -> Result<Outcome, CliError> {
    match cmd.command {
        Some(LoadSub::Shard(a)) => shard(*a, cancel).await,
        Some(LoadSub::Merge(a)) => merge(a).await,
        None if cmd.fanout.kubernetes.on_kubernetes => {
            crate::fanout_k8s::run(cmd.args, cmd.fanout, cancel).await
        }
        None if cmd.fanout.workers.is_some() => {
            if !cmd.fanout.local {
                return Err(CliError::Usage(
                    "--workers needs where to run them: --local or --on-kubernetes".into(),
                ));
            }
            local(cmd.args, cmd.fanout, cancel).await
        }
        None => crate::load::run(cmd.args, cancel).await,
    }
}

pub(crate) fn usage(e: impl std::fmt::Display) -> CliError {
    CliError::Usage(e.to_string())
}

/// `load shard`: run one shard, print (or write) its result.
async fn shard(a: ShardArgs, cancel: CancellationToken) -> Result<Outcome, CliError> {
    if a.load.hdr_log.is_some() {
        return Err(usage(
            "--hdr-log: a shard's interval histograms are in its result; merge the results",
        ));
    }
    let mut opts = options(&a.load, &cancel)?;
    opts.threads = Some(opts.threads.unwrap_or(1));
    let out = a
        .load
        .out
        .as_deref()
        .map(|p| OutputFile::create(p, Target::Named))
        .transpose()?;
    let clock = clock_offset(a.clock_ref.as_deref()).await;
    let start_at = match a.start_at {
        Some(t) => t,
        None => crate::fanout_k8s::await_start(&a.await_start, &cancel).await?,
    };
    let result = run_shard(url(&a.load)?, &opts, a.shard, start_at, clock)
        .await
        .map_err(option_error)?;
    write_result(&result, out)?;
    Ok(if result.interrupted {
        Outcome::Interrupted
    } else {
        Outcome::Success
    })
}

/// This machine's clock offset from the coordinator's clock service at
/// `addr` (`--clock-ref`); a warning and `None` when it cannot be measured.
pub(crate) async fn clock_offset(addr: Option<&str>) -> Option<cockpit_probe::load::ClockOffset> {
    match measure_offset(addr?, Duration::from_secs(5)).await {
        Ok(c) => Some(c),
        Err(e) => {
            eprintln!("warning: clock offset not measured: {e}");
            None
        }
    }
}

/// A worker's result as one JSON line, to `out` or standard output.
pub(crate) fn write_result(
    result: &impl serde::Serialize,
    out: Option<OutputFile>,
) -> Result<(), CliError> {
    let json = serde_json::to_string(result).map_err(|e| usage(format!("the result: {e}")))? + "\n";
    match out {
        Some(mut f) => {
            f.write_all(json.as_bytes())?;
            f.commit()
        }
        None => crate::print_stdout(&json),
    }
}

/// The bytes of a saved worker result, at most [`MAX_RESULT_BYTES`] (one
/// more is read, so an oversized file is refused by the reader, named).
pub(crate) fn read_bounded(path: &std::path::Path) -> Result<Vec<u8>, CliError> {
    use std::io::Read as _;
    let name = path.display().to_string();
    let f = std::fs::File::open(path).map_err(|e| usage(format!("{name}: {e}")))?;
    let mut bytes = Vec::new();
    f.take(MAX_RESULT_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| usage(format!("{name}: {e}")))?;
    Ok(bytes)
}

/// Read one result file, bounded.
fn read_result(path: &std::path::Path) -> Result<ShardResult, CliError> {
    let bytes = read_bounded(path)?;
    Ok(read_shard(
        &path.display().to_string(),
        &bytes,
        MAX_RESULT_BYTES,
    )?)
}

/// `load merge FILE…`.
async fn merge(a: MergeArgs) -> Result<Outcome, CliError> {
    let dir = a.out.as_deref().filter(|p| crate::output::names_dir(p));
    if let Some(dir) = dir {
        crate::output::out_dir(dir)?;
    }
    let out = a
        .out
        .as_deref()
        .filter(|p| !crate::output::names_dir(p))
        .map(|p| OutputFile::create(p, Target::Named))
        .transpose()?;
    let mut inputs = Vec::with_capacity(a.files.len());
    for p in &a.files {
        inputs.push(MergeInput {
            name: p.display().to_string(),
            shard: None,
            result: Ok(read_result(p)?),
        });
    }
    let slos = (!a.slo.is_empty()).then_some(a.slo.as_slice());
    let report = merge_shards(&inputs, slos)?;
    crate::load::finish(&report, a.format, out, dir, &Default::default()).await
}

/// What every worker of a fan-out shares.
pub(crate) struct Plan {
    pub workers: usize,
    pub seed: u64,
    pub threads: usize,
    pub connections: u32,
    pub start_at: SystemTime,
    pub clock: String,
}

/// The coordinator's clock service (`cockpit_probe::load::serve_clock` on
/// a local port) the workers measure their offsets from; stopped when
/// dropped.
pub(crate) struct ClockService {
    /// `host:port`, for the workers' `--clock-ref`.
    pub addr: String,
    stop: CancellationToken,
}

impl ClockService {
    pub(crate) async fn start() -> Result<ClockService, CliError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| usage(format!("cannot open the clock service: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| usage(format!("the clock service: {e}")))?
            .to_string();
        let stop = CancellationToken::new();
        tokio::spawn(serve_clock(listener, stop.clone()));
        Ok(ClockService { addr, stop })
    }
}

impl Drop for ClockService {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Options a fan-out cannot split.
pub(crate) fn refuse_unsplittable(args: &LoadArgs) -> Result<(), CliError> {
    if args.requests.is_some() {
        return Err(usage(
            "--requests: a request budget cannot be split over workers; use --duration",
        ));
    }
    if args.hdr_log.is_some() {
        return Err(usage(
            "--hdr-log applies to a single-process run; --workers merges the intervals into the report",
        ));
    }
    Ok(())
}

/// How long the run's schedule lasts (a sweep: its steps).
pub(crate) fn run_length(opts: &cockpit_probe::load::LoadOptions) -> Duration {
    opts.rate
        .as_ref()
        .map(|r| r.steps(opts.duration).iter().map(|s| s.duration).sum())
        .unwrap_or(opts.duration)
}

/// `load URL … --workers K --local`.
async fn local(
    args: LoadArgs,
    fan: FanOutArgs,
    cancel: CancellationToken,
) -> Result<Outcome, CliError> {
    let opts = options(&args, &cancel)?;
    refuse_unsplittable(&args)?;
    let outputs = open_outputs(&args)?;
    let workers = usize::from(fan.workers.unwrap_or(1));
    let lead = fan.lead.unwrap_or(Duration::from_secs(2));
    let clock = ClockService::start().await?;
    let plan = Plan {
        workers,
        seed: args.seed.unwrap_or_else(draw_seed),
        threads: opts.threads.unwrap_or(1),
        connections: args.connections.div_ceil(workers as u32).max(1),
        start_at: SystemTime::now() + lead,
        clock: clock.addr.clone(),
    };
    let deadline = lead + run_length(&opts) + opts.request.timeout + REPORT_GRACE;
    let argvs = (0..workers).map(|k| shard_argv(&args, &plan, k)).collect();
    let inputs = run_local(argvs, deadline, |bytes| {
        read_shard("worker output", bytes, MAX_RESULT_BYTES).map_err(|e| e.to_string())
    })
    .await;
    drop(clock);
    if let Some(dir) = &fan.results {
        keep_results(dir, &inputs)?;
    }
    let report = merge_shards(&inputs, None)?;
    let dir = args.out.as_deref().filter(|p| crate::output::names_dir(p));
    crate::load::finish(&report, args.format, outputs.out, dir, &args.push).await
}

/// Run one child process of this binary per argument list (shard `k` runs
/// `argvs[k]`), all at once, and read each one's result from its standard
/// output (bounded) with `read`, within `deadline`: the inputs of a merge,
/// in shard order, named `worker k/K`, an error saying why for a worker
/// that failed or never reported.
pub(crate) async fn run_local<R: Send + 'static>(
    argvs: Vec<Vec<String>>,
    deadline: Duration,
    read: fn(&[u8]) -> Result<R, String>,
) -> Vec<MergeInput<R>> {
    let workers = argvs.len();
    let mut set = tokio::task::JoinSet::new();
    for (k, argv) in argvs.into_iter().enumerate() {
        set.spawn(async move { (k, run_worker(argv, deadline, read).await) });
    }
    let mut inputs = Vec::with_capacity(workers);
    while let Some(j) = set.join_next().await {
        let Ok((k, result)) = j else { continue };
        inputs.push(MergeInput {
            name: format!("worker {k}/{workers}"),
            shard: Some(k),
            result,
        });
    }
    inputs.sort_by_key(|i| i.shard);
    inputs
}

/// Write each worker's result as `dir/worker-K.json`.
pub(crate) fn keep_results<R: serde::Serialize>(
    dir: &std::path::Path,
    inputs: &[MergeInput<R>],
) -> Result<(), CliError> {
    std::fs::create_dir_all(dir).map_err(|source| CliError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    for i in inputs {
        let (Some(k), Ok(r)) = (i.shard, &i.result) else {
            continue;
        };
        let json = crate::error::to_json_pretty("a worker result", r)? + "\n";
        let mut f = OutputFile::create(&dir.join(format!("worker-{k}.json")), Target::InDir)?;
        f.write_all(json.as_bytes())?;
        f.commit()?;
    }
    Ok(())
}

pub(crate) fn draw_seed() -> u64 {
    let t = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    cockpit_core::rng::SplitMix64::new(t ^ u64::from(std::process::id())).next_u64()
}

/// Run one worker: this binary with `argv` (`load shard …`, `simulate
/// shard …`); its result read by `read` from its standard output
/// (bounded), or why there is none.
async fn run_worker<R>(
    argv: Vec<String>,
    deadline: Duration,
    parse: fn(&[u8]) -> Result<R, String>,
) -> Result<R, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let mut child = tokio::process::Command::new(exe)
        .args(&argv)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start: {e}"))?;
    let mut stdout = child.stdout.take().ok_or("no standard output")?;
    let work = async {
        let mut bytes = Vec::new();
        let read = (&mut stdout)
            .take(MAX_RESULT_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .await;
        (read, child.wait().await, bytes)
    };
    let (read, status, bytes) = match tokio::time::timeout(deadline, work).await {
        Ok(v) => v,
        Err(_) => {
            let _ = child.kill().await;
            return Err(format!("no result within {deadline:?}"));
        }
    };
    read.map_err(|e| format!("reading its output: {e}"))?;
    let status = status.map_err(|e| format!("waiting for it: {e}"))?;
    if !(status.success() || status.code() == Some(crate::error::code::INTERRUPTED as i32)) {
        return Err(format!("exited with {status}"));
    }
    parse(&bytes)
}

/// The command line of shard `k`: the run's flags as given, plus the
/// fan-out's seed, threads, connections, start and clock.
pub(crate) fn shard_argv(a: &LoadArgs, p: &Plan, k: usize) -> Vec<String> {
    let secs = |d: Duration| format!("{}s", d.as_secs_f64());
    let mut v: Vec<String> = vec!["load".into(), "shard".into()];
    v.extend(a.url.iter().cloned());
    let mut flag = |name: &str, value: String| {
        v.push(format!("--{name}"));
        v.push(value);
    };
    if let Some(pv) = a.protocol.to_possible_value() {
        flag("protocol", pv.get_name().to_string());
    }
    flag("shard", format!("{k}/{}", p.workers));
    flag(
        "start-at",
        humantime::format_rfc3339_nanos(p.start_at).to_string(),
    );
    flag("clock-ref", p.clock.clone());
    if a.rate.is_some() {
        flag("seed", p.seed.to_string());
    }
    flag("threads", p.threads.to_string());
    flag("connections", p.connections.to_string());
    flag("timeout", secs(a.timeout));
    flag("interval", secs(a.interval));
    flag("method", a.method.clone());
    flag("format", "json".into());
    if let Some(d) = a.duration {
        flag("duration", secs(d));
    }
    if let Some(r) = &a.rate {
        flag("rate", r.clone());
    }
    if let Some(s) = a.step {
        flag("step", secs(s));
    }
    if let Some(b) = &a.body {
        flag("body", b.clone());
    }
    for s in &a.slo {
        flag("slo", s.text.clone());
    }
    let r = &a.request;
    if let Some(pv) = r.http_version.to_possible_value() {
        flag("http-version", pv.get_name().to_string());
    }
    if let Some(c) = &r.ca_cert {
        flag("ca-cert", c.display().to_string());
    }
    if let Some(m) = &r.model {
        flag("model", m.clone());
    }
    flag("prompt", r.prompt.clone());
    if let Some(t) = r.max_tokens {
        flag("max-tokens", t.to_string());
    }
    for h in &r.header {
        flag("header", h.clone());
    }
    if a.poisson {
        v.push("--poisson".into());
    }
    if r.insecure {
        v.push("--insecure".into());
    }
    v.push("--no-progress".into());
    v
}
