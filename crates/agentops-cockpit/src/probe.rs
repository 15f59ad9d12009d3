//! `probe URL`: one-off measurement of one endpoint.

use cockpit_probe::{HttpVersion, ProbeOptions, Protocol, TlsOptions};
use tokio_util::sync::CancellationToken;

use crate::cli::{HttpVersionArg, ProbeArgs, ProbeFormat, ProtocolArg, RequestArgs};
use crate::{CliError, Outcome, render};

pub async fn run(args: ProbeArgs, cancel: CancellationToken) -> Result<Outcome, CliError> {
    let Some(protocol) = args.protocol.endpoint_protocol() else {
        return redis(args, cancel).await;
    };
    let opts = ProbeOptions {
        samples: args.samples,
        concurrency: args.concurrency,
        warmup: args.warmup,
        timeout: args.timeout,
        deadline: args.deadline,
        max_line_bytes: args.max_line_bytes,
        system_prompt: args.system_prompt.clone(),
        cancel: cancel.clone(),
        ..request_options(&args.request)
    };
    let report = cockpit_probe::probe(&args.url, protocol, &opts)
        .await
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let mut value = serde_json::to_value(&report).map_err(|e| CliError::Usage(e.to_string()))?;

    if args.compare_reuse && !cancel.is_cancelled() {
        let c = cockpit_probe::compare::compare_connection_reuse(&args.url, protocol, &opts)
            .await
            .map_err(|e| CliError::Usage(e.to_string()))?;
        value["connection_reuse"] =
            serde_json::to_value(&c).map_err(|e| CliError::Usage(e.to_string()))?;
    }
    if args.compare_prefix && !cancel.is_cancelled() {
        if protocol != Protocol::OpenAi {
            return Err(CliError::Usage(
                "--compare-prefix needs --protocol openai".into(),
            ));
        }
        let c = cockpit_probe::compare::compare_prefix_cache(&args.url, &opts)
            .await
            .map_err(|e| CliError::Usage(e.to_string()))?;
        value["prefix_cache"] =
            serde_json::to_value(&c).map_err(|e| CliError::Usage(e.to_string()))?;
    }

    let mut text = String::new();
    match args.format {
        ProbeFormat::Json => {
            text.push_str(&serde_json::to_string_pretty(&value).unwrap_or_default());
            text.push('\n');
        }
        ProbeFormat::Table => {
            text.push_str(&render::probe_table(&value, render::use_colour()));
            if report.deadline_reached {
                text.push_str(&format!(
                    "DEADLINE REACHED (--deadline): partial results, {} requests unfinished\n",
                    report.unfinished
                ));
            }
            for key in ["connection_reuse", "prefix_cache"] {
                if let Some(c) = value.get(key) {
                    text.push_str(&format!(
                        "{key}: {}\n",
                        serde_json::to_string(c).unwrap_or_default()
                    ));
                }
            }
        }
    }
    crate::print_stdout(&text)?;
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

/// `--protocol redis`: cockpit-stm's latency measurement (PING, and SET/GET
/// on a key of its own, `cockpit-check:{uuid}`, deleted before it returns),
/// one command at a time on one connection, like `redis-cli --latency`.
async fn redis(args: ProbeArgs, cancel: CancellationToken) -> Result<Outcome, CliError> {
    if args.concurrency > 1 || args.compare_reuse || args.compare_prefix {
        return Err(CliError::Usage(
            "--protocol redis measures one command at a time on one connection: -c, --compare-reuse and --compare-prefix do not apply".into(),
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
    let report = result.map_err(|e| match e {
        cockpit_stm::StmError::Url { .. } => CliError::Usage(e.to_string()),
        e => CliError::Unreachable(e.to_string()),
    })?;
    let value = serde_json::to_value(&report).map_err(|e| CliError::Usage(e.to_string()))?;
    let text = match args.format {
        ProbeFormat::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        ),
        ProbeFormat::Table => {
            let mut t = render::probe_table(&value, render::use_colour());
            if let Some(why) = &report.writes_skipped {
                t.push_str(&format!("SET/GET not measured: {why}\n"));
            }
            t
        }
    };
    crate::print_stdout(&text)?;
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
pub fn request_options(r: &RequestArgs) -> ProbeOptions {
    ProbeOptions {
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
        ..ProbeOptions::default()
    }
}
