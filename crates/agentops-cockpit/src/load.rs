//! `load URL`: closed-loop, open-loop and sweep load runs with SLOs.

use std::time::{Duration, SystemTime};

use cockpit_probe::load::{
    HdrLogWriter, IntervalReport, LoadOptions, LoadReport, Pacing, run_load,
};
use cockpit_probe::{ProbeError, ProbeOptions};
use tokio_util::sync::CancellationToken;

use crate::cli::{LoadArgs, ResultFormat};
use crate::output::{OutputFile, Target};
use crate::{CliError, Outcome};

fn usage(e: impl std::fmt::Display) -> CliError {
    CliError::Usage(e.to_string())
}

/// Everything from the arguments that can be wrong, checked before a
/// request is sent.
pub(crate) fn options(
    args: &LoadArgs,
    cancel: &CancellationToken,
) -> Result<LoadOptions, CliError> {
    let protocol = args.protocol.endpoint_protocol().ok_or_else(|| {
        usage(format!(
            "load speaks http, openai and grpc, not {:?}",
            args.protocol
        ))
    })?;
    if protocol == cockpit_probe::Protocol::Grpc && !args.request.header.is_empty() {
        return Err(usage(
            "-H/--header applies to http and openai; gRPC metadata is not sent",
        ));
    }
    let slos = args.slo.clone();
    let method = args
        .method
        .parse()
        .map_err(|_| usage(format!("--method {:?} is not an HTTP method", args.method)))?;
    let mut request = ProbeOptions {
        timeout: args.timeout,
        method,
        ..crate::probe::request_options(&args.request)?
    };
    if let Some(b) = &args.body {
        request.body = Some(b.clone().into_bytes().into());
        request.content_type = Some(http::HeaderValue::from_static("application/json"));
    }
    let mut opts = LoadOptions {
        protocol,
        connections: args.connections,
        duration: Duration::from_secs(10),
        threads: args.threads.map(usize::from),
        interval: args.interval,
        slos,
        request,
        cancel: cancel.clone(),
        progress: None,
        ..LoadOptions::default()
    };
    let pacing = Pacing {
        rate: args.rate.clone(),
        step: args.step,
        duration: args.duration,
        requests: args.requests,
        poisson: args.poisson,
        seed: args.seed,
    };
    pacing.apply(&mut opts).map_err(option_error)?;
    opts.validate().map_err(option_error)?;
    Ok(opts)
}

/// The target URL (clap requires it unless a subcommand is given).
pub(crate) fn url(args: &LoadArgs) -> Result<&str, CliError> {
    args.url
        .as_deref()
        .ok_or_else(|| usage("load needs a URL (or: load shard URL …, load merge FILE…)"))
}

/// An option the load engine refused, named as its flag.
pub(crate) fn option_error(e: ProbeError) -> CliError {
    match e {
        ProbeError::InvalidOption { name, reason } => usage(format!("--{name}: {reason}")),
        e => e.into(),
    }
}

/// `--out` and `--hdr-log`, opened before a request is sent: a path that
/// cannot be written fails now, not after the run.
#[derive(Debug)]
pub(crate) struct Outputs {
    pub out: Option<OutputFile>,
    pub hdr_file: Option<OutputFile>,
    /// Writes into `hdr_file` unbuffered, so a failed write (a full disk)
    /// is seen at once.
    pub log: Option<HdrLogWriter<std::fs::File>>,
}

pub(crate) fn open_outputs(args: &LoadArgs) -> Result<Outputs, CliError> {
    // `--out DIR` is written after the run; `--out FILE` is opened now.
    if let Some(dir) = args.out.as_deref().filter(|p| crate::output::names_dir(p)) {
        crate::output::out_dir(dir)?;
    }
    let out = args
        .out
        .as_deref()
        .filter(|p| !crate::output::names_dir(p))
        .map(|p| OutputFile::create(p, Target::Named))
        .transpose()?;
    let Some(p) = &args.hdr_log else {
        return Ok(Outputs {
            out,
            hdr_file: None,
            log: None,
        });
    };
    let file = OutputFile::create(p, Target::Named)?;
    let f = file.file().try_clone().map_err(|source| CliError::Write {
        path: p.clone(),
        source,
    })?;
    let log = HdrLogWriter::new(f, SystemTime::now())
        .map_err(|e| usage(format!("--hdr-log {}: {e}", p.display())))?;
    Ok(Outputs {
        out,
        hdr_file: Some(file),
        log: Some(log),
    })
}

pub async fn run(args: LoadArgs, cancel: CancellationToken) -> Result<Outcome, CliError> {
    let mut opts = options(&args, &cancel)?;
    let Outputs { out, hdr_file, log } = open_outputs(&args)?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<IntervalReport>();
    opts.progress = Some(tx);
    let bar = progress_bar(&args);
    let log_path = args.hdr_log.clone();
    let consumer = tokio::spawn(follow_intervals(rx, bar.clone(), log));
    let result = run_load(url(&args)?, &opts).await;
    drop(opts);
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let log_error = consumer.await.ok().flatten();
    let report = result?;
    if let (Some(e), Some(p)) = (log_error, log_path) {
        return Err(usage(format!("--hdr-log {}: {e}", p.display())));
    }
    if let Some(f) = hdr_file {
        f.commit()?;
    }
    let dir = args.out.as_deref().filter(|p| crate::output::names_dir(p));
    finish(&report, args.format, out, dir, &args.push).await
}

/// A run's report out: its JSON to `--out FILE`, the chosen format on
/// stdout (or into `--out DIR`), its figures to a Pushgateway; then the
/// exit status. Shared by `load`, `load merge` and `load --workers`.
pub(crate) async fn finish(
    report: &LoadReport,
    format: ResultFormat,
    out: Option<OutputFile>,
    dir: Option<&std::path::Path>,
    push: &crate::cli::PushArgs,
) -> Result<Outcome, CliError> {
    let json = crate::error::to_json_pretty("the load report", report)? + "\n";
    if let Some(mut f) = out {
        f.write_all(json.as_bytes())?;
        f.commit()?;
    }
    let value = serde_json::to_value(report).map_err(|source| CliError::Serialize {
        what: "the load report",
        source,
    })?;
    crate::output::emit_result(&value, format, dir, "load", |colour| {
        crate::render::load_table(report, colour)
    })?;
    if let Some(url) = &push.push_gateway {
        crate::push::push(url, "load", &crate::push::load_metrics(report)).await?;
    }
    outcome(report)
}

/// Interrupted, unreachable (exit 3), an SLO broken, or success.
pub(crate) fn outcome(report: &LoadReport) -> Result<Outcome, CliError> {
    let unreachable = || {
        report.unreachable().then(|| {
            let example = report.error_examples.values().next();
            format!(
                "no request to {} succeeded: {}",
                report.target,
                example.cloned().unwrap_or_default()
            )
        })
    };
    crate::run_end::outcome(report.interrupted, unreachable, report.slo_pass)
}

/// Follow the run's intervals: the spinner's message, and each interval's
/// histogram into the HDR log; the first failed write is returned.
async fn follow_intervals(
    mut rx: tokio::sync::mpsc::UnboundedReceiver<IntervalReport>,
    bar: Option<indicatif::ProgressBar>,
    mut log: Option<HdrLogWriter<std::fs::File>>,
) -> Option<ProbeError> {
    let (mut total, mut errors) = (0u64, 0u64);
    let mut log_error = None;
    while let Some(iv) = rx.recv().await {
        total += iv.requests;
        errors += iv.errors;
        if let Some(b) = &bar {
            b.set_message(format!(
                "{total} requests, {:.0} req/s, p99 {:.2} ms, {errors} errors",
                iv.rps, iv.p99_ms
            ));
        }
        let (Some(l), Some(h)) = (log.as_mut(), &iv.latency) else {
            continue;
        };
        let span = Duration::try_from_secs_f64(iv.start_s)
            .and_then(|start| Ok((start, Duration::try_from_secs_f64(iv.length_s)?)));
        if let Ok((start, len)) = span
            && let Err(e) = l.write("latency", start, len, h)
        {
            log_error.get_or_insert(e);
        }
    }
    log_error
}

/// A spinner on stderr with the latest interval, only on a terminal.
fn progress_bar(args: &LoadArgs) -> Option<indicatif::ProgressBar> {
    crate::run_end::spinner(args.no_progress, "connecting…")
}
