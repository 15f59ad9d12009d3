//! `probe URL`: one-off measurement of one endpoint.

use cockpit_probe::{HttpVersion, ProbeOptions, Protocol, TlsOptions};
use tokio_util::sync::CancellationToken;

use crate::cli::{HttpVersionArg, ProbeArgs, ProbeFormat, ProtocolArg};
use crate::{CliError, Outcome, render};

pub async fn run(args: ProbeArgs, cancel: CancellationToken) -> Result<Outcome, CliError> {
    let protocol = match args.protocol {
        ProtocolArg::Http => Protocol::Http,
        ProtocolArg::Openai => Protocol::OpenAi,
        ProtocolArg::Grpc => Protocol::Grpc,
    };
    let mut opts = ProbeOptions {
        samples: args.samples,
        concurrency: args.concurrency,
        warmup: args.warmup,
        timeout: args.timeout,
        deadline: args.deadline,
        max_line_bytes: args.max_line_bytes,
        http_version: match args.http_version {
            HttpVersionArg::Auto => HttpVersion::Auto,
            HttpVersionArg::Http1 => HttpVersion::Http1,
            HttpVersionArg::Http2 => HttpVersion::Http2,
        },
        tls: TlsOptions {
            ca_file: args.ca_cert.clone(),
            insecure_skip_verify: args.insecure,
        },
        prompt: args.prompt.clone(),
        system_prompt: args.system_prompt.clone(),
        max_tokens: args.max_tokens,
        cancel: cancel.clone(),
        ..ProbeOptions::default()
    };
    if let Some(m) = &args.model {
        opts.model = Some(m.clone());
    }
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
