//! `load URL`: closed-loop, open-loop and sweep load runs with SLOs.

use std::fmt::Write as _;
use std::io::IsTerminal as _;
use std::path::Path;
use std::time::{Duration, SystemTime};

use cockpit_core::LatencySummary;
use cockpit_probe::load::{
    Arrival, HdrLogWriter, IntervalReport, LoadMode, LoadOptions, LoadReport, RatePlan, run_load,
};
use cockpit_probe::{ErrorKind, ProbeError, ProbeOptions};
use comfy_table::{ContentArrangement, Table, presets};
use tokio_util::sync::CancellationToken;

use crate::cli::{LoadArgs, ProbeFormat};
use crate::{CliError, Outcome};

fn usage(e: impl std::fmt::Display) -> CliError {
    CliError::Usage(e.to_string())
}

/// Everything from the arguments that can be wrong, checked before a
/// request is sent.
fn options(args: &LoadArgs, cancel: &CancellationToken) -> Result<LoadOptions, CliError> {
    let protocol = args.protocol.endpoint_protocol().ok_or_else(|| {
        usage(format!(
            "load speaks http, openai and grpc, not {:?}",
            args.protocol
        ))
    })?;
    let slos = args.slo.clone();
    let rate = match &args.rate {
        None => {
            if args.step.is_some() {
                return Err(usage("--step needs a sweep: --rate A:B:STEP"));
            }
            if args.poisson || args.seed.is_some() {
                return Err(usage("--poisson and --seed need an open loop: --rate N"));
            }
            None
        }
        Some(r) => {
            let sweep = r.contains(':');
            let step = match (sweep, args.step) {
                (true, Some(s)) => s,
                (true, None) => {
                    return Err(usage("--rate A:B:STEP needs --step (e.g. --step 20s)"));
                }
                (false, Some(_)) => {
                    return Err(usage("--step applies to a sweep (--rate A:B:STEP)"));
                }
                (false, None) => Duration::ZERO,
            };
            if sweep && args.duration.is_some() {
                return Err(usage(
                    "-d/--duration does not apply to a sweep: it lasts its steps (--step each)",
                ));
            }
            if args.requests.is_some() {
                return Err(usage("-n/--requests applies to a closed loop (no --rate)"));
            }
            Some(RatePlan::parse(r, step).map_err(|e| usage(format!("--rate: {e}")))?)
        }
    };
    let mut headers = Vec::new();
    for h in &args.header {
        let (k, v) = h
            .split_once(':')
            .ok_or_else(|| usage(format!("--header {h:?}: expected \"Name: value\"")))?;
        let name = http_name(k.trim()).map_err(|e| usage(format!("--header {h:?}: {e}")))?;
        let value = header_value(v.trim()).map_err(|e| usage(format!("--header {h:?}: {e}")))?;
        headers.push((name, value));
    }
    let method = args
        .method
        .parse()
        .map_err(|_| usage(format!("--method {:?} is not an HTTP method", args.method)))?;
    let mut request = ProbeOptions {
        timeout: args.timeout,
        method,
        headers,
        ..crate::probe::request_options(&args.request)
    };
    if let Some(b) = &args.body {
        request.body = Some(b.clone().into_bytes().into());
        request.content_type = Some(http::HeaderValue::from_static("application/json"));
    }
    let opts = LoadOptions {
        protocol,
        connections: args.connections,
        duration: args.duration.unwrap_or(Duration::from_secs(10)),
        max_requests: args.requests,
        rate,
        arrival: if args.poisson {
            Arrival::Poisson
        } else {
            Arrival::Constant
        },
        seed: args.seed,
        threads: args.threads.map(usize::from),
        interval: args.interval,
        slos,
        request,
        cancel: cancel.clone(),
        progress: None,
    };
    opts.validate().map_err(usage)?;
    Ok(opts)
}

fn http_name(s: &str) -> Result<http::HeaderName, String> {
    http::HeaderName::from_bytes(s.as_bytes()).map_err(|e| e.to_string())
}

fn header_value(s: &str) -> Result<http::HeaderValue, String> {
    http::HeaderValue::from_str(s).map_err(|e| e.to_string())
}

pub async fn run(args: LoadArgs, cancel: CancellationToken) -> Result<Outcome, CliError> {
    let mut opts = options(&args, &cancel)?;
    let mut log = match &args.hdr_log {
        Some(p) => {
            let f = std::fs::File::create(p).map_err(|source| CliError::Write {
                path: p.clone(),
                source,
            })?;
            Some(
                HdrLogWriter::new(std::io::BufWriter::new(f), SystemTime::now())
                    .map_err(|e| usage(format!("--hdr-log {}: {e}", p.display())))?,
            )
        }
        None => None,
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<IntervalReport>();
    opts.progress = Some(tx);
    let bar = progress_bar(&args);
    let bar2 = bar.clone();
    let log_path = args.hdr_log.clone();
    let consumer = tokio::spawn(async move {
        let mut total = 0u64;
        let mut errors = 0u64;
        let mut log_error = None;
        while let Some(iv) = rx.recv().await {
            total += iv.requests;
            errors += iv.errors;
            if let Some(b) = &bar2 {
                b.set_message(format!(
                    "{total} requests, {:.0} req/s, p99 {:.2} ms, {errors} errors",
                    iv.rps, iv.p99_ms
                ));
            }
            if let Some(l) = log.as_mut() {
                let start = Duration::from_secs_f64(iv.start_s);
                let len = Duration::from_secs_f64(iv.length_s);
                let written = match &iv.latency {
                    Some(h) => l.write("latency", start, len, h),
                    None => Ok(()),
                };
                if let Err(e) = written {
                    log_error.get_or_insert(e);
                }
            }
        }
        drop(log);
        log_error
    });
    let result = run_load(&args.url, &opts).await;
    drop(opts);
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let log_error = consumer.await.ok().flatten();
    let report = match result {
        Ok(r) => r,
        Err(e @ ProbeError::Request { .. }) => return Err(CliError::Unreachable(e.to_string())),
        Err(e) => return Err(usage(e)),
    };
    if let (Some(e), Some(p)) = (log_error, log_path) {
        return Err(usage(format!("--hdr-log {}: {e}", p.display())));
    }
    let json = serde_json::to_string_pretty(&report).map_err(usage)? + "\n";
    if let Some(p) = &args.out {
        write_file(p, &json)?;
    }
    let text = match args.format {
        ProbeFormat::Json => json,
        ProbeFormat::Table => table(&report, crate::render::use_colour()),
    };
    crate::print_stdout(&text)?;
    if report.interrupted {
        return Ok(Outcome::Interrupted);
    }
    let unreachable = report.requests.ok == 0
        && report.requests.errors > 0
        && report
            .errors
            .keys()
            .all(|k| matches!(k, ErrorKind::Connect | ErrorKind::Dns | ErrorKind::Tls));
    if unreachable {
        return Err(CliError::Unreachable(format!(
            "no request to {} succeeded: {}",
            report.target,
            report
                .error_examples
                .values()
                .next()
                .cloned()
                .unwrap_or_default()
        )));
    }
    if !report.slo_pass {
        return Ok(Outcome::GateFailed);
    }
    Ok(Outcome::Success)
}

fn write_file(p: &Path, text: &str) -> Result<(), CliError> {
    std::fs::write(p, text).map_err(|source| CliError::Write {
        path: p.to_path_buf(),
        source,
    })
}

/// A spinner on stderr with the latest interval, only on a terminal.
fn progress_bar(args: &LoadArgs) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() || args.no_progress {
        return None;
    }
    let b = indicatif::ProgressBar::new_spinner();
    b.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    b.enable_steady_tick(Duration::from_millis(200));
    b.set_message("connecting…");
    Some(b)
}

fn new_table(colour: bool) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    if !colour {
        t.force_no_tty();
    }
    t
}

fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// A load report as terminal text.
pub fn table(r: &LoadReport, colour: bool) -> String {
    let mut out = String::new();
    let mode = match r.mode {
        LoadMode::Closed => "closed loop".to_string(),
        LoadMode::Open => format!(
            "open loop, {} arrivals (seed {})",
            match r.arrival {
                Some(Arrival::Poisson) => "poisson",
                _ => "constant",
            },
            r.seed.unwrap_or_default()
        ),
        _ => format!("sweep, seed {}", r.seed.unwrap_or_default()),
    };
    let _ = writeln!(
        out,
        "target:     {} ({}, {} client)",
        r.target, r.protocol, r.client_path
    );
    let _ = writeln!(
        out,
        "run:        {mode}, {} connections, {} workers, {:.2} s{}",
        r.connections,
        r.workers,
        r.elapsed_s,
        if r.interrupted { " (interrupted)" } else { "" }
    );
    let q = &r.requests;
    let mut reqs = format!(
        "{} sent, {} ok, {} errors, {} in flight at the end",
        q.sent, q.ok, q.errors, q.in_flight_at_end
    );
    if let Some(u) = q.unsent {
        let _ = write!(reqs, ", {u} scheduled but never sent");
    }
    let _ = writeln!(out, "requests:   {reqs}");
    let mut tp = format!("{:.1} req/s achieved", r.achieved_rps);
    if let Some(o) = r.offered_rps {
        let _ = write!(tp, ", {o:.1} req/s offered");
    }
    if let Some(g) = r.goodput_rps {
        let _ = write!(tp, ", goodput {g:.1} req/s");
    }
    let _ = writeln!(out, "throughput: {tp}");
    if !r.errors.is_empty() {
        let e: Vec<String> = r.errors.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let _ = writeln!(out, "errors:     {}", e.join(", "));
        for (k, m) in &r.error_examples {
            let _ = writeln!(out, "  {k}: {m}");
        }
    }
    let mut t = new_table(colour);
    t.set_header(["ms", "p50", "p90", "p95", "p99", "p99.9", "max", "samples"]);
    let mut row = |name: &str, s: &LatencySummary| {
        if s.count == 0 {
            let mut r = vec![name.to_string()];
            r.extend(std::iter::repeat_n("-".to_string(), 6));
            r.push("0".to_string());
            t.add_row(r);
            return;
        }
        t.add_row([
            name.to_string(),
            ms(s.p50_ms),
            ms(s.p90_ms),
            ms(s.p95_ms),
            ms(s.p99_ms),
            ms(s.p999_ms),
            ms(s.max_ms),
            s.count.to_string(),
        ]);
    };
    row("latency", &r.latency);
    for (name, s) in [
        ("service", r.service),
        ("dispatch_lag", r.dispatch_lag),
        ("ttft", r.ttft),
        ("itl", r.itl),
        ("tpot", r.tpot),
    ] {
        if let Some(s) = s {
            row(name, &s);
        }
    }
    let _ = writeln!(out, "{t}");
    if let Some(tps) = &r.output_tokens_per_s {
        let _ = writeln!(
            out,
            "output tokens/s per request: p10 {:.1}, p50 {:.1}, p90 {:.1} ({} samples)",
            tps.p10, tps.p50, tps.p90, tps.count
        );
    }
    if !r.steps.is_empty() {
        let mut t = new_table(colour);
        t.set_header([
            "offered req/s",
            "achieved req/s",
            "ok",
            "errors",
            "p50 ms",
            "p99 ms",
            "max ms",
            "holds",
        ]);
        for s in &r.steps {
            t.add_row([
                format!("{:.1}", s.offered_rps),
                format!("{:.1}", s.achieved_rps),
                s.requests.ok.to_string(),
                s.requests.errors.to_string(),
                ms(s.latency.p50_ms),
                ms(s.latency.p99_ms),
                ms(s.latency.max_ms),
                if s.holds { "yes" } else { "no" }.to_string(),
            ]);
        }
        let _ = writeln!(out, "{t}");
        match r.knee_rps {
            Some(k) => {
                let _ = writeln!(
                    out,
                    "knee: {k:.1} req/s (the highest offered rate whose step held)"
                );
            }
            None => {
                let _ = writeln!(out, "knee: none (no step held)");
            }
        }
    }
    for s in &r.slos {
        let observed = s
            .observed
            .map_or("not measured".to_string(), |o| format!("{o:.4}"));
        let _ = writeln!(
            out,
            "SLO {} {}: observed {observed}",
            if s.pass { "PASS" } else { "FAIL" },
            s.slo
        );
    }
    let _ = writeln!(
        out,
        "latency: {}",
        r.methods.get("latency").map_or("", String::as_str)
    );
    out
}
