//! The simulation beyond one process: `simulate shard` (one shard of a
//! run's sessions, from a common start, its result as JSON), `simulate
//! merge` (the exact merge of saved results) and `simulate … --workers K
//! --local` (K shards as child processes of this binary, merged). The
//! coordinator's pieces (clock service, local workers, kept results) are
//! `fanout.rs`'s, shared with `load`.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use clap::{Args, Subcommand};
use cockpit_sim::{ClockOffset, MergeInput, Shard, SimReport, SimShardResult, SimSlo};
use tokio_util::sync::CancellationToken;

use crate::cli::{SimFormat, SimulateArgs, SimulateCmd};
use crate::fanout::{
    ClockService, FanOutArgs, MAX_RESULT_BYTES, REPORT_GRACE, keep_results, parse_instant,
    read_bounded, run_local, usage,
};
use crate::fanout_k8s::{JobKind, PodResult, Workers, render, run_workers};
use crate::output::{OutputFile, Target};
use crate::simulate::{Agent, agent, finish, options};
use crate::{CliError, Outcome, evidence};

/// `simulate`'s Job on Kubernetes.
const SIMULATE: JobKind = JobKind {
    name: "agentops-cockpit-simulate",
    component: "simulation-worker",
};

#[derive(Debug, Subcommand)]
pub enum SimSub {
    /// Run shard k of K of a simulation's sessions from a common start and
    /// print its result (versioned JSON; `--out FILE` writes it there) for
    /// `simulate merge`.
    Shard(Box<SimShardArgs>),
    /// Merge shard results exactly (tallies added, histograms merged,
    /// scores derived from the merged tallies) and judge the objectives once.
    Merge(SimMergeArgs),
}

#[derive(Debug, Args)]
pub struct SimShardArgs {
    #[command(flatten)]
    pub sim: SimulateArgs,
    /// This worker's shard, k/K with k from 0 (Kubernetes: JOB_COMPLETION_INDEX/K).
    #[arg(long)]
    pub shard: Shard,
    /// The run's common start on the wall clock, RFC 3339 (2026-11-27T16:00:00Z).
    #[arg(long, value_parser = parse_instant, required_unless_present = "await_start")]
    pub start_at: Option<SystemTime>,
    /// Instead of --start-at: wait on this address for the coordinator's
    /// start (`--on-kubernetes` pods; docs/simulation.md).
    #[command(flatten)]
    pub await_start: crate::fanout_k8s::AwaitStart,
    /// The coordinator's clock service (host:port) to measure this machine's offset from.
    #[arg(long)]
    pub clock_ref: Option<String>,
}

#[derive(Debug, Args)]
pub struct SimMergeArgs {
    /// Shard results written by `simulate shard` (all of one run).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Objectives judged on the merged levels (default: the run's own).
    #[arg(long, value_name = "EXPR")]
    pub slo: Vec<SimSlo>,
    #[arg(long, value_enum, default_value_t = SimFormat::Table)]
    pub format: SimFormat,
    /// Directory to write report.json, simulation.json and report.md into,
    /// as `simulate --out`.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub async fn run(cmd: SimulateCmd, cancel: CancellationToken) -> Result<Outcome, CliError> {
    match cmd.command {
        Some(SimSub::Shard(a)) => shard(*a, cancel).await,
        Some(SimSub::Merge(a)) => merge(a),
        None if cmd.fanout.kubernetes.on_kubernetes => {
            kubernetes(cmd.args, cmd.fanout, cancel).await
        }
        None if cmd.fanout.workers.is_some() => {
            if !cmd.fanout.local {
                return Err(usage(
                    "--workers needs where to run them: --local or --on-kubernetes",
                ));
            }
            local(cmd.args, cmd.fanout, cancel).await
        }
        None => crate::simulate::run(cmd.args, cancel).await,
    }
}

/// `simulate shard`: run one shard, print (or write) its result.
async fn shard(a: SimShardArgs, cancel: CancellationToken) -> Result<Outcome, CliError> {
    if a.sim.url.is_none() && evidence::config_path(a.sim.config.as_deref(), false).is_none() {
        return Err(usage(
            "simulate shard needs the agent every shard talks to: a URL or --config",
        ));
    }
    let out = a
        .sim
        .out
        .as_deref()
        .map(|p| OutputFile::create(p, Target::Named))
        .transpose()?;
    let (agent, _) = agent(&a.sim).await?;
    let opts = options(&a.sim, &agent, &cancel)?;
    let clock = crate::fanout::clock_offset(a.clock_ref.as_deref()).await;
    let start_at = match a.start_at {
        Some(t) => t,
        None => crate::fanout_k8s::await_start(&a.await_start, &cancel).await?,
    };
    let result = cockpit_sim::simulate_shard(&agent.url, &opts, a.shard, start_at, clock).await?;
    crate::fanout::write_result(&result, out)?;
    Ok(if result.interrupted {
        Outcome::Interrupted
    } else {
        Outcome::Success
    })
}

/// A worker's result, from a file or a child's output.
fn read_result(name: &str, bytes: &[u8]) -> Result<SimShardResult, cockpit_sim::SimError> {
    cockpit_sim::read_shard(name, bytes, MAX_RESULT_BYTES)
}

impl PodResult for SimShardResult {
    fn read(name: &str, line: &[u8]) -> Result<Self, String> {
        read_result(name, line).map_err(|e| e.to_string())
    }
    fn set_clock(&mut self, clock: ClockOffset) {
        self.clock = Some(clock);
    }
}

/// `simulate merge FILE…`.
fn merge(a: SimMergeArgs) -> Result<Outcome, CliError> {
    let mut inputs = Vec::with_capacity(a.files.len());
    for p in &a.files {
        let name = p.display().to_string();
        let result = read_result(&name, &read_bounded(p)?)?;
        inputs.push(MergeInput {
            name,
            shard: None,
            result: Ok(result),
        });
    }
    let slos = (!a.slo.is_empty()).then_some(a.slo.as_slice());
    let sim = cockpit_sim::merge_shards(&inputs, slos)?;
    finish(&sim, &judged(&sim), a.format, a.out.as_deref())
}

/// The objectives a merged report was judged on (given to `merge`, or the
/// run's own), for its findings.
fn judged(sim: &SimReport) -> Vec<SimSlo> {
    sim.slos.iter().filter_map(|s| s.slo.parse().ok()).collect()
}

/// `simulate [URL] … --workers K --local`.
async fn local(
    args: SimulateArgs,
    fan: FanOutArgs,
    cancel: CancellationToken,
) -> Result<Outcome, CliError> {
    let (agent, testbed) = agent(&args).await?;
    let embedded = testbed.is_some();
    let merged = coordinate(&args, &fan, &agent, embedded, &cancel).await;
    if let Some(tb) = testbed {
        tb.shutdown().await;
    }
    let sim = merged?;
    finish(&sim, &args.slo, args.format, args.out.as_deref())
}

/// `simulate URL … --workers K --on-kubernetes`: the shards as the pods
/// of an Indexed Job, their results read from the pod logs and merged.
async fn kubernetes(
    args: SimulateArgs,
    fan: FanOutArgs,
    cancel: CancellationToken,
) -> Result<Outcome, CliError> {
    if args.url.is_none() {
        return Err(usage(
            "simulate --on-kubernetes needs the agent's URL: the pods cannot read this \
             machine's configuration nor reach its embedded testbed",
        ));
    }
    let (agent, _) = agent(&args).await?;
    let opts = options(&args, &agent, &cancel)?;
    let count = usize::from(fan.workers.unwrap_or(1));
    // Shard 0 of a run whose start the pods await (job_argv drops these).
    let start = Start {
        at: SystemTime::UNIX_EPOCH,
        clock: String::new(),
        workers: count,
    };
    let w = Workers {
        argv: shard_argv(&args, &agent, false, &start, 0),
        count,
        lead: fan.lead.unwrap_or(Duration::from_secs(10)),
        run_timeout: opts.deadline + REPORT_GRACE,
    };
    let (job, settings) = crate::fanout_k8s::job(&fan.kubernetes, &SIMULATE, w)?;
    if render(&fan.kubernetes, &job)? {
        return Ok(Outcome::Success);
    }
    let inputs = run_workers::<SimShardResult>(&fan, job, &settings, &cancel).await?;
    let Some(inputs) = inputs else {
        return Ok(Outcome::Interrupted);
    };
    let sim = cockpit_sim::merge_shards(&inputs, None)?;
    finish(&sim, &args.slo, args.format, args.out.as_deref())
}

/// Start the K workers from a common start, collect and merge their results.
async fn coordinate(
    args: &SimulateArgs,
    fan: &FanOutArgs,
    agent: &Agent,
    embedded: bool,
    cancel: &CancellationToken,
) -> Result<SimReport, CliError> {
    let opts = options(args, agent, cancel)?;
    let workers = usize::from(fan.workers.unwrap_or(1));
    let lead = fan.lead.unwrap_or(Duration::from_secs(2));
    let clock = ClockService::start().await?;
    let start = Start {
        at: SystemTime::now() + lead,
        clock: clock.addr.clone(),
        workers,
    };
    let argvs = (0..workers)
        .map(|k| shard_argv(args, agent, embedded, &start, k))
        .collect();
    let deadline = lead + opts.deadline + REPORT_GRACE;
    let inputs: Vec<MergeInput<SimShardResult>> = run_local(argvs, deadline, |bytes| {
        read_result("worker output", bytes).map_err(|e| e.to_string())
    })
    .await;
    drop(clock);
    if let Some(dir) = &fan.results {
        keep_results(dir, &inputs)?;
    }
    Ok(cockpit_sim::merge_shards(&inputs, None)?)
}

/// What every worker of a local fan-out shares.
struct Start {
    at: SystemTime,
    clock: String,
    workers: usize,
}

/// The command line of shard `k`: the agent (the URL given, the embedded
/// testbed's, or the configuration to read it from) and the run's flags.
fn shard_argv(
    a: &SimulateArgs,
    agent: &Agent,
    embedded: bool,
    start: &Start,
    k: usize,
) -> Vec<String> {
    let secs = |d: Duration| format!("{}s", d.as_secs_f64());
    let mut v: Vec<String> = vec!["simulate".into(), "shard".into()];
    if a.url.is_some() || embedded {
        v.push(agent.url.clone());
    }
    let mut flag = |name: &str, value: String| {
        v.push(format!("--{name}"));
        v.push(value);
    };
    if let (false, false, Some(c)) = (a.url.is_some(), embedded, &a.config) {
        flag("config", c.display().to_string());
    }
    flag("shard", format!("{k}/{}", start.workers));
    flag(
        "start-at",
        humantime::format_rfc3339_nanos(start.at).to_string(),
    );
    flag("clock-ref", start.clock.clone());
    flag("sessions", a.sessions.to_string());
    flag("turns", a.turns.to_string());
    if let Some(r) = &a.ramp {
        flag("ramp", r.text.clone());
    }
    flag("min-recall-turns", a.min_recall_turns.to_string());
    let optional = [
        ("session-header", &a.session_header),
        ("trace-field", &a.trace_field),
        ("session-field", &a.session_field),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            flag(name, value.clone());
        }
    }
    for s in &a.slo {
        flag("slo", s.text.clone());
    }
    flag("seed", a.seed.to_string());
    flag("timeout", secs(a.timeout));
    flag("deadline", secs(a.deadline));
    if let Some(m) = a
        .model
        .clone()
        .or_else(|| embedded.then(|| agent.model.clone()).flatten())
    {
        flag("model", m);
    }
    v.push("--no-progress".into());
    v
}
