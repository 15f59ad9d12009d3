//! `load URL … --workers K --on-kubernetes` and `simulate … --workers K
//! --on-kubernetes`: the same fan-out as `--local`, its workers the pods of
//! an Indexed Job (cockpit-k8s `fanout`), each running `agentops-cockpit
//! load shard …` or `agentops-cockpit simulate shard …` with its shard
//! from `JOB_COMPLETION_INDEX`; `--render FILE` writes the Job and runs
//! nothing. The Job, its run and the reading of each pod's result are
//! generic over the command ([`JobKind`], [`PodResult`]); the worker's side
//! of the start handshake (`shard --await-start`) is here too.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use clap::Args;
use cockpit_k8s::fanout::Job;
use cockpit_k8s::fanout::{
    self as k8s, INDEX_ENV, JobRun, RunSettings, START_ENV, WorkerJob, WorkerOutcome,
};
use cockpit_probe::load::{ClockOffset, MergeInput, ShardResult, merge_shards, read_shard};
use tokio_util::sync::CancellationToken;

use crate::cli::{LoadArgs, parse_duration};
use crate::fanout::{FanOutArgs, MAX_RESULT_BYTES, Plan, REPORT_GRACE};
use crate::load::{open_outputs, options};
use crate::output::{OutputFile, Target};
use crate::{CliError, Outcome};

/// The bound on each Kubernetes API request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a worker waits for its start beyond the coordinator's
/// scheduling deadline.
const AWAIT_MARGIN: Duration = Duration::from_secs(60);

/// `--on-kubernetes` and its settings (part of `load`'s fan-out flags).
#[derive(Debug, Args)]
pub struct K8sFanOutArgs {
    /// Run the workers as the pods of a Kubernetes Indexed Job.
    #[arg(long, requires = "workers", conflicts_with = "local")]
    pub on_kubernetes: bool,
    /// The workers' image (holding `agentops-cockpit`), best pinned by digest.
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
    /// The Job's namespace (default: the kubeconfig context's).
    #[arg(long)]
    pub namespace: Option<String>,
    /// Kubeconfig context ($KUBECONFIG or ~/.kube/config; default: the current one).
    #[arg(long)]
    pub kube_context: Option<String>,
    /// The Job's name, one run at a time per name and namespace (default:
    /// agentops-cockpit-load, or agentops-cockpit-simulate for `simulate`).
    #[arg(long)]
    pub job_name: Option<String>,
    /// Each worker's CPU request and limit.
    #[arg(long, default_value = "1")]
    pub cpu: String,
    /// Each worker's memory request and limit.
    #[arg(long, default_value = "512Mi")]
    pub memory: String,
    /// How long the pods may take to be scheduled and Running.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub schedule_timeout: Duration,
    /// Write the Job as YAML to this file and run nothing.
    #[arg(long, value_name = "FILE", requires = "on_kubernetes")]
    pub render: Option<PathBuf>,
    /// Leave the Job (its pods and logs) in the cluster after the run.
    #[arg(long, requires = "on_kubernetes")]
    pub keep: bool,
}

/// `load shard --await-start ADDR` (and `simulate shard`): wait for the
/// coordinator's start.
#[derive(Debug, Args)]
pub struct AwaitStart {
    /// Instead of --start-at: serve the clock and wait for the start on
    /// this address (set in `--on-kubernetes` pods).
    #[arg(long, env = START_ENV, value_name = "ADDR")]
    pub await_start: Option<String>,
    /// How long to wait for the start.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub await_timeout: Duration,
}

/// The worker's side of the handshake: the start the coordinator posts.
pub async fn await_start(
    a: &AwaitStart,
    cancel: &CancellationToken,
) -> Result<SystemTime, CliError> {
    let Some(addr) = &a.await_start else {
        return Err(CliError::Usage(
            "--start-at or --await-start is required".into(),
        ));
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| CliError::Usage(format!("--await-start {addr}: cannot listen: {e}")))?;
    cockpit_probe::load::await_start(listener, a.await_timeout, cancel)
        .await
        .map_err(crate::load::option_error)
}

fn usage(e: impl std::fmt::Display) -> CliError {
    CliError::Usage(e.to_string())
}

/// What a command's Job is called by default and what its workers are.
pub(crate) struct JobKind {
    pub name: &'static str,
    pub component: &'static str,
}

/// `load`'s Job.
const LOAD: JobKind = JobKind {
    name: "agentops-cockpit-load",
    component: "load-worker",
};

/// A worker's result, read from the last JSON line of its pod log, with
/// the clock offset the coordinator measured set into it.
pub(crate) trait PodResult: Sized + serde::Serialize {
    fn read(name: &str, line: &[u8]) -> Result<Self, String>;
    fn set_clock(&mut self, clock: ClockOffset);
}

impl PodResult for ShardResult {
    fn read(name: &str, line: &[u8]) -> Result<Self, String> {
        read_shard(name, line, MAX_RESULT_BYTES).map_err(|e| e.to_string())
    }
    fn set_clock(&mut self, clock: ClockOffset) {
        self.clock = Some(clock);
    }
}

/// The workers of a Job: shard 0's command line (the shard, start and
/// clock flags are rewritten for the pods), how many, the start's lead
/// and how long a worker may run once started.
pub(crate) struct Workers {
    pub argv: Vec<String>,
    pub count: usize,
    pub lead: Duration,
    pub run_timeout: Duration,
}

/// `load URL … --workers K --on-kubernetes`.
pub async fn run(
    args: LoadArgs,
    fan: FanOutArgs,
    cancel: CancellationToken,
) -> Result<Outcome, CliError> {
    let (job, settings) = plan_job(&args, &fan, &cancel)?;
    if render(&fan.kubernetes, &job)? {
        return Ok(Outcome::Success);
    }
    let outputs = open_outputs(&args)?;
    let Some(inputs) = run_workers::<ShardResult>(&fan, job, &settings, &cancel).await? else {
        return Ok(Outcome::Interrupted);
    };
    let report = merge_shards(&inputs, None)?;
    let dir = args.out.as_deref().filter(|p| crate::output::names_dir(p));
    crate::load::finish(&report, args.format, outputs.out, dir, &args.push).await
}

/// `--render FILE`: write the Job there and say so; whether it did.
pub(crate) fn render(k: &K8sFanOutArgs, job: &Job) -> Result<bool, CliError> {
    let Some(path) = &k.render else {
        return Ok(false);
    };
    let yaml = k8s::job_yaml(job)?;
    let mut f = OutputFile::create(path, Target::Named)?;
    f.write_all(yaml.as_bytes())?;
    f.commit()?;
    eprintln!("wrote the Job to {} (nothing run)", path.display());
    Ok(true)
}

/// Create the Job, wait for it and read each pod's result: the inputs of
/// the merge in shard order (a pod without a result a named hole), also
/// kept under `--results`; `None` when interrupted before any worker
/// reported, an error when none did.
pub(crate) async fn run_workers<R: PodResult>(
    fan: &FanOutArgs,
    mut job: Job,
    settings: &RunSettings,
    cancel: &CancellationToken,
) -> Result<Option<Vec<MergeInput<R>>>, CliError> {
    let k = &fan.kubernetes;
    let client = cockpit_k8s::connect(k.kube_context.as_deref(), REQUEST_TIMEOUT).await?;
    if k.namespace.is_none() {
        job.metadata.namespace = Some(client.default_namespace().to_string());
    }
    let ran = k8s::run_job(&client, &job, settings, cancel).await?;
    say_where(&ran, k.keep);
    let workers = ran.workers.len();
    let inputs: Vec<MergeInput<R>> = ran.workers.iter().map(|w| input(w, workers)).collect();
    if let Some(dir) = &fan.results {
        crate::fanout::keep_results(dir, &inputs)?;
    }
    if inputs.iter().any(|i| i.result.is_ok()) {
        return Ok(Some(inputs));
    }
    let why: Vec<String> = inputs
        .iter()
        .filter_map(|i| i.result.as_ref().err().map(|e| format!("{}: {e}", i.name)))
        .collect();
    eprintln!("no worker reported a result: {}", why.join("; "));
    if ran.cancelled {
        Ok(None)
    } else {
        Err(CliError::Unreachable(
            "no worker of the Job reported a result".into(),
        ))
    }
}

/// Check the flags and render the Job (its workers running shard
/// `$(JOB_COMPLETION_INDEX)` of the plan `--local` would run) and how to
/// wait for it.
fn plan_job(
    args: &LoadArgs,
    fan: &FanOutArgs,
    cancel: &CancellationToken,
) -> Result<(Job, RunSettings), CliError> {
    image(&fan.kubernetes)?;
    if args.request.ca_cert.is_some() {
        return Err(usage(
            "--ca-cert names a file on this machine, not in the workers' image: build it into the image, or use --insecure",
        ));
    }
    crate::fanout::refuse_unsplittable(args)?;
    let opts = options(args, cancel)?;
    let workers = usize::from(fan.workers.unwrap_or(1));
    let plan = Plan {
        workers,
        seed: args.seed.unwrap_or_else(crate::fanout::draw_seed),
        threads: opts.threads.unwrap_or(1),
        connections: args.connections.div_ceil(workers as u32).max(1),
        start_at: SystemTime::UNIX_EPOCH,
        clock: String::new(),
    };
    let w = Workers {
        argv: crate::fanout::shard_argv(args, &plan, 0),
        count: workers,
        lead: fan.lead.unwrap_or(Duration::from_secs(10)),
        run_timeout: crate::fanout::run_length(&opts) + opts.request.timeout + REPORT_GRACE,
    };
    job(&fan.kubernetes, &LOAD, w)
}

/// `--image`, required.
fn image(k: &K8sFanOutArgs) -> Result<String, CliError> {
    k.image.clone().ok_or_else(|| {
        usage("--on-kubernetes needs --image (an image holding agentops-cockpit, pinned by digest)")
    })
}

/// The Job of `kind` running `w` as `--on-kubernetes` asks, and how to
/// wait for it: the start awaited, Kubernetes' own deadline past the
/// coordinator's.
pub(crate) fn job(
    k: &K8sFanOutArgs,
    kind: &JobKind,
    w: Workers,
) -> Result<(Job, RunSettings), CliError> {
    let image = image(k)?;
    let await_timeout = k.schedule_timeout + AWAIT_MARGIN;
    let job = k8s::render_job(&WorkerJob {
        name: k.job_name.clone().unwrap_or_else(|| kind.name.into()),
        component: kind.component.into(),
        namespace: k.namespace.clone().unwrap_or_else(|| "default".into()),
        args: job_argv(w.argv, w.count, await_timeout),
        cpu: k.cpu.clone(),
        memory: k.memory.clone(),
        active_deadline_s: Some((await_timeout + w.lead + w.run_timeout).as_secs() as i64),
        ..WorkerJob::new("default", &image, w.count as u16)
    });
    let settings = RunSettings {
        lead: w.lead,
        schedule_timeout: k.schedule_timeout,
        run_timeout: w.run_timeout,
        keep: k.keep,
        max_output_bytes: MAX_RESULT_BYTES,
        request_timeout: REQUEST_TIMEOUT,
    };
    Ok((job, settings))
}

/// The Job's worker arguments: shard `k`'s command line with the shard from
/// `JOB_COMPLETION_INDEX`, and the start awaited (through the environment)
/// instead of given.
fn job_argv(argv: Vec<String>, workers: usize, await_timeout: Duration) -> Vec<String> {
    let mut out = Vec::with_capacity(argv.len() + 2);
    let mut it = argv.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--start-at" | "--clock-ref" => {
                it.next();
            }
            "--shard" => {
                it.next();
                out.push(a);
                out.push(format!("$({INDEX_ENV})/{workers}"));
            }
            _ => out.push(a),
        }
    }
    out.push("--await-timeout".into());
    out.push(format!("{}s", await_timeout.as_secs()));
    out
}

/// Tell where the Job is: deleted, kept, or a delete that failed.
fn say_where(ran: &JobRun, keep: bool) {
    let job = format!("job {}/{}", ran.namespace, ran.name);
    if ran.cancelled {
        eprintln!("interrupted: stopping the workers");
    }
    match (&ran.delete_error, ran.deleted, keep) {
        (Some(e), _, _) => eprintln!("warning: {job} was not deleted: {e}"),
        (None, true, _) => eprintln!("{job}: deleted (propagationPolicy Background)"),
        _ => eprintln!("{job}: kept (--keep); Kubernetes removes it 10 min after it finished"),
    }
}

/// One pod's outcome as a merge input: its result (the last JSON line of
/// its log) with the clock offset the coordinator measured, or why none.
fn input<R: PodResult>(w: &WorkerOutcome, workers: usize) -> MergeInput<R> {
    let name = match &w.pod {
        Some(p) => format!("pod {p} (shard {}/{workers})", w.index),
        None => format!("shard {}/{workers}", w.index),
    };
    let result = match &w.output {
        Ok(log) => result_of::<R>(&name, log).map(|mut r| {
            if let Some(c) = w.clock {
                r.set_clock(ClockOffset {
                    offset_ms: c.offset_ms,
                    rtt_ms: c.rtt_ms,
                    source: "coordinator (pod proxy)".into(),
                });
            }
            r
        }),
        Err(e) => Err(e.clone()),
    };
    let result = match (result, &w.failure) {
        (Ok(r), _) => Ok(r),
        (Err(_), Some(f)) => Err(f.clone()),
        (Err(e), None) => Err(e),
    };
    MergeInput {
        name,
        shard: Some(w.index),
        result,
    }
}

/// The worker's result: the last line of its log that is a JSON object
/// (the log also holds what it wrote to standard error).
fn result_of<R: PodResult>(name: &str, log: &[u8]) -> Result<R, String> {
    let line = log
        .split(|&b| b == b'\n')
        .rev()
        .find(|l| l.first() == Some(&b'{'))
        .ok_or_else(|| "no result in its log".to_string())?;
    R::read(name, line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_job_argv_takes_the_shard_from_the_index_and_awaits_the_start() {
        let argv = [
            "load",
            "shard",
            "http://t/",
            "--shard",
            "0/3",
            "--start-at",
            "x",
            "--clock-ref",
            "127.0.0.1:1",
            "--seed",
            "7",
        ]
        .map(String::from)
        .to_vec();
        let out = job_argv(argv, 3, Duration::from_secs(360));
        assert_eq!(
            out,
            [
                "load",
                "shard",
                "http://t/",
                "--shard",
                "$(JOB_COMPLETION_INDEX)/3",
                "--seed",
                "7",
                "--await-timeout",
                "360s"
            ]
        );
    }

    #[test]
    fn the_result_is_the_last_json_line_of_the_log() {
        let log = b"warning: something\n{\"schema\": \"other\"}\nmore stderr\n";
        let e = result_of::<ShardResult>("pod p", log).unwrap_err();
        assert!(e.contains("schema"), "{e}");
        assert!(
            result_of::<ShardResult>("pod p", b"only stderr\n")
                .unwrap_err()
                .contains("no result")
        );
    }
}
