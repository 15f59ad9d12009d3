//! `shadow URL_V1 URL_V2`: the same prompts to two deployments, compared by
//! cockpit-shadow; the side-by-side table or JSON; exit 1 when SHD-TTFT or
//! SHD-ERRORS fails (v2 significantly slower beyond the threshold, or
//! failing more often).

use cockpit_core::Status;
use cockpit_probe::{ProbeOptions, TlsOptions};
use cockpit_shadow::{ShadowComparison, ShadowSettings, checks};
use tokio_util::sync::CancellationToken;

use crate::cli::{ProbeFormat, ShadowArgs};
use crate::error::to_json_pretty;
use crate::{CliError, Outcome, render};

fn settings(args: &ShadowArgs) -> ShadowSettings {
    ShadowSettings {
        samples: args.samples,
        mirror: args.mirror,
        prompts: args.prompts.clone(),
        max_tokens: args.max_tokens,
        timeout_ms: u64::try_from(args.timeout.as_millis()).unwrap_or(u64::MAX),
        resamples: args.resamples,
        seed: args.seed,
        ttft_regression_pct: args.ttft_regression_pct,
        ..ShadowSettings::default()
    }
}

pub async fn run(args: ShadowArgs, cancel: CancellationToken) -> Result<Outcome, CliError> {
    let s = settings(&args);
    s.validate()?;
    let base = ProbeOptions {
        model: args.model.clone(),
        headers: crate::cli::parse_headers(&args.header).map_err(CliError::Usage)?,
        tls: TlsOptions {
            ca_file: args.ca_cert.clone(),
            insecure_skip_verify: args.insecure,
        },
        cancel: cancel.clone(),
        ..ProbeOptions::default()
    };
    let c = cockpit_shadow::compare("shadow", &args.url_v1, &args.url_v2, &base, &s).await?;
    let findings = [
        checks::shd_ttft::evaluate(&c, &s),
        checks::shd_errors::evaluate(&c, &s),
        checks::shd_agreement::evaluate(&c, &s),
    ];
    let text = match args.format {
        ProbeFormat::Json => {
            let v = serde_json::json!({ "comparison": &c, "findings": &findings });
            format!("{}\n", to_json_pretty("the shadow comparison", &v)?)
        }
        ProbeFormat::Table => render::shadow_table(&c, &findings, render::use_colour()),
    };
    crate::print_stdout(&text)?;
    outcome(&c, &findings, &cancel)
}

/// Interrupted (130), nothing answered on either side (3), a regression
/// (1), or success.
fn outcome(
    c: &ShadowComparison,
    findings: &[cockpit_core::Finding],
    cancel: &CancellationToken,
) -> Result<Outcome, CliError> {
    if c.interrupted || cancel.is_cancelled() {
        return Ok(Outcome::Interrupted);
    }
    let e = &c.errors;
    if e.v1_requests == e.v1_failed && e.v2_requests == e.v2_failed {
        return Err(CliError::Unreachable(format!(
            "neither {} nor {} answered a request; see the errors above",
            c.v1, c.v2
        )));
    }
    if findings.iter().any(|f| f.status == Status::Fail) {
        return Ok(Outcome::GateFailed);
    }
    Ok(Outcome::Success)
}
