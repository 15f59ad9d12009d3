//! `certify`: the Sovereign Gate. Gather the evidence (or read a saved
//! report), score it with cockpit-score, render, store, and exit 0 when the
//! gate passes, 1 when it fails, 3 when nothing could be measured.

use std::path::Path;

use cockpit_score::{Certification, Comparison, Date, render as score_render};
use tokio_util::sync::CancellationToken;

use crate::cli::{CertifyArgs, CertifyFormat};
use crate::config::{self, CockpitConfig};
use crate::{CliError, Outcome, ResultExt, audit, evidence, render};

/// A certification and what it was made from.
pub struct Judged {
    pub cert: Certification,
    pub comparison: Option<Comparison>,
    /// `None` when saved evidence was re-scored (`--from`); else how the
    /// measurement ended.
    pub measured: Option<Result<Outcome, CliError>>,
}

pub async fn run(args: CertifyArgs, cancel: CancellationToken) -> Result<Outcome, CliError> {
    crate::output::one_on_stdout(&args.format, args.out.as_deref())?;
    let Judged {
        cert,
        comparison,
        measured,
    } = judge(&args, &cancel).await?;
    emit(&cert, &args, comparison.as_ref())?;
    if let Some(url) = &args.push.push_gateway {
        crate::push::push(url, "certify", &crate::push::certify_metrics(&cert)).await?;
    }
    verdict(&cert, measured)
}

/// Gather the evidence (or read `--from`), score it against the policy,
/// and store a new measurement in the evidence lake: what `certify` prints
/// and what `deploy sovereign --apply` holds a deploy to.
pub async fn judge(args: &CertifyArgs, cancel: &CancellationToken) -> Result<Judged, CliError> {
    if args.from.is_some() && args.targets.any() {
        return Err(CliError::Usage(
            "--from re-scores a saved report: --manifests, --pipelines, --cloud-run, --kube-context and --namespace measure, and do not apply".into(),
        ));
    }
    let selection = evidence::selection(&args.select)?;
    let path = evidence::config_path(args.config.as_deref(), args.testbed);
    let (mut report, mut cfg, measured) = if let Some(from) = &args.from {
        let mut cfg = match &path {
            Some(p) => config::load(p)?,
            None => CockpitConfig::default(),
        };
        if let Some(t) = args.threshold {
            cfg.gate.threshold = t;
        }
        cfg.gate.slos.extend(args.slo.iter().cloned());
        let report = cockpit_score::read_report(from).context("--from")?;
        cockpit_score::refuse_unknown_checks(&report, from, &evidence::check_catalogue())
            .context("--from")?;
        (report, cfg, None)
    } else {
        let (mut cfg, testbed) =
            audit::with_targets(args.config.as_deref(), args.testbed, &args.targets).await?;
        if let Some(t) = args.threshold {
            cfg.gate.threshold = t;
        }
        cfg.gate.slos.extend(args.slo.iter().cloned());
        audit::enable_watchtower(&mut cfg, args.watchtower)?;
        let mut ev = evidence::collect(&cfg, cancel).await;
        if let Some(tb) = testbed {
            tb.shutdown().await;
        }
        ev.report.provenance = Some(evidence::provenance(&cfg, path.as_deref()));
        let outcome = ev.outcome();
        (ev.report, cfg, Some(outcome))
    };
    selection.apply(&mut report);
    evidence::scope_out(&mut cfg.gate, &selection);
    let baseline = audit::baseline(&cfg, args.lake.compare.as_deref())?;
    let mut cert = cockpit_score::certify(&report, &cfg.gate, Date::today());
    if let Some(b) = &baseline {
        cert.hold_regressions(b, &cfg.gate);
    }
    let comparison =
        baseline.map(|b| cockpit_score::compare(&b, &report, cfg.gate.regression_percent));
    // A new measurement is stored; re-scoring saved evidence adds nothing to the lake.
    if measured.is_some() && !args.lake.no_evidence {
        let json = score_render::Format::Json.render(&cert, false)?;
        audit::store(&cfg, &report, &[(cockpit_score::CERTIFICATION_FILE, &json)])?;
    }
    Ok(Judged {
        cert,
        comparison,
        measured,
    })
}

/// The exit of a certification: interrupted, could not measure, or the
/// gate's verdict (said on stderr).
pub fn verdict(
    cert: &Certification,
    measured: Option<Result<Outcome, CliError>>,
) -> Result<Outcome, CliError> {
    match measured {
        Some(Ok(Outcome::Interrupted)) => return Ok(Outcome::Interrupted),
        Some(Err(e)) => return Err(e),
        _ => {}
    }
    if cert.could_not_measure() {
        return Err(CliError::Unreachable(format!(
            "nothing could be measured: {} configured subject(s) are not-measured; the report says why",
            cert.not_measured.len()
        )));
    }
    eprintln!(
        "gate {}: score {} (threshold {:.1})",
        if cert.passed { "passed" } else { "FAILED" },
        cert.score_label(),
        cert.threshold
    );
    Ok(if cert.passed {
        Outcome::Success
    } else {
        Outcome::GateFailed
    })
}

fn emit(
    cert: &Certification,
    args: &CertifyArgs,
    comparison: Option<&Comparison>,
) -> Result<(), CliError> {
    let out = args.out.as_deref();
    let colour = out.is_none() && render::use_colour();
    let mut stdout = String::new();
    for f in crate::output::on_stdout(&args.format, out, CertifyFormat::Table) {
        let f = f.format();
        stdout.push_str(&f.render(cert, colour)?);
        if let Some(c) = comparison {
            match f {
                score_render::Format::Table => stdout.push_str(&score_render::comparison_table(c)),
                score_render::Format::Markdown => {
                    stdout.push('\n');
                    stdout.push_str(&score_render::comparison_markdown(c));
                }
                _ => {}
            }
        }
    }
    if let Some(c) = comparison {
        audit::say_regressions(c);
    }
    if let Some(dir) = out {
        write_all(cert, args, dir, comparison)?;
    }
    crate::print_stdout(&stdout)
}

fn write_all(
    cert: &Certification,
    args: &CertifyArgs,
    dir: &Path,
    comparison: Option<&Comparison>,
) -> Result<(), CliError> {
    std::fs::create_dir_all(dir).map_err(|source| CliError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let report = crate::error::to_json_pretty("the report", &cert.report)?;
    audit::write(&dir.join("report.json"), &report)?;
    for f in &args.format {
        let f = f.format();
        let text = f.render(cert, false)?;
        audit::write(&dir.join(f.file_name()), &text)?;
    }
    if let Some(c) = comparison {
        let text = crate::error::to_json_pretty("the comparison", c)?;
        audit::write(&dir.join("compare.json"), &text)?;
    }
    crate::term::notice(format_args!("certification written to {}", dir.display()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use cockpit_core::CheckId;
    use cockpit_score::GateMetric;

    /// The pillar check each gate metric reads its evidence from.
    fn defining_check(m: GateMetric) -> CheckId {
        match m {
            GateMetric::Ttft => cockpit_probe::checks::ttft::NET_TTFT.id,
            GateMetric::Retrieval => cockpit_probe::checks::tail::NET_TAIL.id,
            GateMetric::ConnectRtt => cockpit_probe::checks::zone::NET_ZONE.id,
            GateMetric::StorePing => cockpit_stm::checks::latency::STA_LATENCY.id,
            GateMetric::ColdStart => cockpit_probe::checks::ttr::CMP_TTR.id,
            other => panic!("{other:?}: name the pillar check this gate metric reads"),
        }
    }

    #[test]
    fn every_gate_metric_reads_a_check_of_the_catalogue() {
        let catalogue = crate::evidence::check_catalogue();
        for m in GateMetric::ALL {
            let id = m.check_id();
            assert!(
                catalogue.contains(&id),
                "{m:?} reads {id}, which no pillar defines"
            );
            assert_eq!(id, defining_check(m), "{m:?}");
        }
    }
}
