//! `probe URL`: one-off measurement of one endpoint.

use cockpit_probe::{HttpVersion, ProbeOptions, Protocol, TlsOptions};
use tokio_util::sync::CancellationToken;

use crate::cli::{HttpVersionArg, ProbeArgs, ProtocolArg, RequestArgs};
use crate::{CliError, Outcome, ResultExt, render};

pub async fn run(args: ProbeArgs, cancel: CancellationToken) -> Result<Outcome, CliError> {
    if let Some(dir) = &args.out {
        crate::output::out_dir(dir)?;
    }
    let Some(protocol) = args.protocol.endpoint_protocol() else {
        return redis(args, cancel).await;
    };
    check_credentials(&args, protocol)?;
    let opts = ProbeOptions {
        samples: args.samples,
        concurrency: args.concurrency,
        warmup: args.warmup,
        timeout: args.timeout,
        deadline: args.deadline,
        max_line_bytes: args.max_line_bytes,
        system_prompt: args.system_prompt.clone(),
        cancel: cancel.clone(),
        ..request_options(&args.request)?
    };
    let report = cockpit_probe::probe(&args.url, protocol, &opts).await?;
    let mut value = to_value("the probe report", &report)?;

    if args.compare_reuse && !cancel.is_cancelled() {
        let c = cockpit_probe::compare::compare_connection_reuse(&args.url, protocol, &opts)
            .await
            .context("--compare-reuse")?;
        value["connection_reuse"] = to_value("the connection-reuse comparison", &c)?;
    }
    if args.compare_prefix && !cancel.is_cancelled() {
        if protocol != Protocol::OpenAi {
            return Err(CliError::Usage(
                "--compare-prefix needs --protocol openai".into(),
            ));
        }
        let c = cockpit_probe::compare::compare_prefix_cache(&args.url, &opts)
            .await
            .context("--compare-prefix")?;
        value["prefix_cache"] = to_value("the prefix-cache comparison", &c)?;
    }

    let deadline = report.deadline_reached.then(|| {
        format!(
            "DEADLINE REACHED (--deadline): partial results, {} requests unfinished\n",
            report.unfinished
        )
    });
    crate::output::emit_result(
        &value,
        args.format,
        args.out.as_deref(),
        "probe",
        |colour| {
            let mut text = render::probe_table(&value, colour);
            text.push_str(deadline.as_deref().unwrap_or_default());
            text.push_str(&render::comparisons(&value, colour));
            text
        },
    )?;
    if report.interrupted {
        return Ok(Outcome::Interrupted);
    }
    if report.samples == 0 {
        return Err(CliError::Unreachable(format!(
            "no successful sample from {} ({} attempted); see errors above",
            cockpit_core::redact_url(&args.url),
            report.attempted
        )));
    }
    Ok(Outcome::Success)
}

/// Headers go with http and openai only; credentials in the URL are not
/// sent, which is said rather than left silent.
fn check_credentials(args: &ProbeArgs, protocol: Protocol) -> Result<(), CliError> {
    if protocol == Protocol::Grpc && !args.request.header.is_empty() {
        return Err(CliError::Usage(
            "-H/--header applies to http and openai; gRPC metadata is not sent".into(),
        ));
    }
    if url::Url::parse(&args.url).is_ok_and(|u| !u.username().is_empty() || u.password().is_some())
    {
        eprintln!(
            "warning: the user name and password in the URL are not sent; pass credentials with -H 'Authorization: …'"
        );
    }
    Ok(())
}

/// `--protocol redis`: cockpit-stm's latency measurement (PING, and SET/GET
/// on a key of its own, `cockpit-check:{uuid}`, deleted before it returns),
/// one command at a time on one connection, like `redis-cli --latency`.
async fn redis(args: ProbeArgs, cancel: CancellationToken) -> Result<Outcome, CliError> {
    if args.concurrency > 1 || args.compare_reuse || args.compare_prefix {
        return Err(CliError::Usage(
            "--protocol redis measures one command at a time on one connection: -c, --compare-reuse and --compare-prefix do not apply".into(),
        ));
    }
    if !args.request.header.is_empty() {
        return Err(CliError::Usage(
            "-H/--header applies to http and openai; a Redis password goes in the URL".into(),
        ));
    }
    // The deadline stops the run like Ctrl-C does: what was measured is reported.
    let stop = cancel.child_token();
    let timer = {
        let stop = stop.clone();
        let deadline = args.deadline;
        tokio::spawn(async move {
            tokio::time::sleep(deadline).await;
            stop.cancel();
        })
    };
    let opts = cockpit_stm::LatencyOptions {
        samples: args.samples,
        warmup: args.warmup,
        timeout: args.timeout,
        cancel: stop,
        ..cockpit_stm::LatencyOptions::default()
    };
    let result = cockpit_stm::measure_latency(&args.url, &opts).await;
    timer.abort();
    let report = result?;
    let value = to_value("the latency report", &report)?;
    crate::output::emit_result(
        &value,
        args.format,
        args.out.as_deref(),
        "probe",
        |colour| {
            let mut t = render::probe_table(&value, colour);
            if let Some(why) = &report.writes_skipped {
                t.push_str(&format!("SET/GET not measured: {why}\n"));
            }
            t
        },
    )?;
    if cancel.is_cancelled() {
        return Ok(Outcome::Interrupted);
    }
    if report.samples == 0 {
        return Err(CliError::Unreachable(format!(
            "no PING answered by {} ({} commands attempted); see errors above",
            report.target, report.attempted
        )));
    }
    Ok(Outcome::Success)
}

impl ProtocolArg {
    /// The probe protocol of an endpoint; `None` for Redis, which the State
    /// pillar measures.
    pub fn endpoint_protocol(self) -> Option<Protocol> {
        match self {
            ProtocolArg::Http => Some(Protocol::Http),
            ProtocolArg::Openai => Some(Protocol::OpenAi),
            ProtocolArg::Grpc => Some(Protocol::Grpc),
            ProtocolArg::Redis => None,
        }
    }
}

/// Probe options from the request flags `probe` and `load` share.
pub fn request_options(r: &RequestArgs) -> Result<ProbeOptions, CliError> {
    Ok(ProbeOptions {
        http_version: match r.http_version {
            HttpVersionArg::Auto => HttpVersion::Auto,
            HttpVersionArg::Http1 => HttpVersion::Http1,
            HttpVersionArg::Http2 => HttpVersion::Http2,
        },
        tls: TlsOptions {
            ca_file: r.ca_cert.clone(),
            insecure_skip_verify: r.insecure,
        },
        model: r.model.clone(),
        prompt: r.prompt.clone(),
        max_tokens: r.max_tokens,
        headers: crate::cli::parse_headers(&r.header).map_err(CliError::Usage)?,
        ..ProbeOptions::default()
    })
}

fn to_value<T: serde::Serialize>(what: &'static str, v: &T) -> Result<serde_json::Value, CliError> {
    serde_json::to_value(v).map_err(|source| CliError::Serialize { what, source })
}
