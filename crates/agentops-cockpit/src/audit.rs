//! `audit report`: gather the evidence, render, write.

use std::path::Path;

use cockpit_core::Report;
use cockpit_score::{Comparison, EvidenceLake, render as score_render};
use tokio_util::sync::CancellationToken;

use crate::cli::{AuditArgs, ReportFormat, TargetArgs};
use crate::config::CockpitConfig;
use crate::{CliError, Outcome, ResultExt, evidence, render};

pub async fn run(args: AuditArgs, cancel: CancellationToken) -> Result<Outcome, CliError> {
    crate::output::one_on_stdout(&args.format, args.out.as_deref())?;
    let selection = evidence::selection(&args.select)?;
    let path = evidence::config_path(args.config.as_deref(), args.testbed);
    let (mut cfg, testbed) =
        with_targets(args.config.as_deref(), args.testbed, &args.targets).await?;
    if (args.sample_sessions.is_some() || args.disruptive) && cfg.stm.is_none() {
        return Err(CliError::Usage(
            "--sample-sessions and --disruptive need an [stm] section (the Redis to audit) in the configuration".into(),
        ));
    }
    cfg.stm_sample_sessions = args.sample_sessions;
    cfg.stm_disruptive = args.disruptive;
    enable_watchtower(&mut cfg, args.watchtower)?;
    let baseline = baseline(&cfg, args.lake.compare.as_deref())?;
    let mut ev = evidence::collect(&cfg, &cancel).await;
    if let Some(tb) = testbed {
        tb.shutdown().await;
    }
    ev.report.provenance = Some(evidence::provenance(&cfg, path.as_deref()));
    selection.apply(&mut ev.report);
    evidence::scope_out(&mut cfg.gate, &selection);
    let comparison =
        baseline.map(|b| cockpit_score::compare(&b, &ev.report, cfg.gate.regression_percent));
    if !args.lake.no_evidence {
        store(&cfg, &ev.report, &[])?;
    }
    let out_of_scope = cfg.gate.out_of_scope_on(cockpit_score::Date::today());
    emit(
        &ev.report,
        &out_of_scope,
        &args.format,
        args.out.as_deref(),
        comparison.as_ref(),
    )?;
    ev.outcome()
}

/// The configuration to audit (and the embedded testbed when started),
/// with the command line's Compute / CI/CD targets added; targets alone (no
/// --config, no ./cockpit.toml, no --testbed) audit just those.
pub async fn with_targets(
    config: Option<&Path>,
    testbed: bool,
    targets: &TargetArgs,
) -> Result<(CockpitConfig, Option<cockpit_testbed::Testbed>), CliError> {
    let k8s_only = targets.any() && !testbed && evidence::config_path(config, testbed).is_none();
    let (mut cfg, tb) = if k8s_only {
        (CockpitConfig::default(), None)
    } else {
        evidence::resolve(config, testbed).await?
    };
    let k = &mut cfg.kubernetes;
    k.manifests.extend(targets.manifests.iter().cloned());
    k.cloud_run.extend(targets.cloud_run.iter().cloned());
    k.pipelines.extend(targets.pipelines.iter().cloned());
    if targets.kube_context.is_some() {
        k.context = targets.kube_context.clone();
    }
    if targets.namespace.is_some() {
        k.namespace = targets.namespace.clone();
    }
    evidence::k8s_inputs(k)?;
    Ok((cfg, tb))
}

/// `--watchtower` (audit report and certify): on only when some agent
/// declares a `canary`, else a usage error.
pub fn enable_watchtower(cfg: &mut CockpitConfig, on: bool) -> Result<(), CliError> {
    if on && cfg.watchtower_config().watched().next().is_none() {
        return Err(CliError::Usage(
            "--watchtower probes the agents that declare a `canary`; no [[agents]] entry has one"
                .into(),
        ));
    }
    cfg.watchtower_enabled = on;
    Ok(())
}

/// The run `--compare` names, read before this run is stored (so `last`
/// means the run before this one).
pub fn baseline(cfg: &CockpitConfig, spec: Option<&str>) -> Result<Option<Report>, CliError> {
    let Some(spec) = spec else { return Ok(None) };
    let lake = EvidenceLake::new(&cfg.gate.evidence_dir);
    let path = lake.resolve(spec).context(format!("--compare {spec}"))?;
    Ok(Some(
        cockpit_score::read_report(&path).context("--compare")?,
    ))
}

/// Store a run in the evidence lake; says where on stderr.
pub fn store(cfg: &CockpitConfig, report: &Report, extra: &[(&str, &str)]) -> Result<(), CliError> {
    let lake = EvidenceLake::new(&cfg.gate.evidence_dir);
    let dir = lake
        .store(report, extra)
        .context("cannot store the run in the evidence lake")?;
    crate::term::notice(format_args!("evidence stored in {}", dir.display()));
    Ok(())
}

/// Say on stderr how many regressions a comparison found, if any.
pub fn say_regressions(c: &Comparison) {
    if c.regressions() > 0 {
        eprintln!(
            "{} regression(s) against the run of {}",
            c.regressions(),
            c.baseline_generated_at
        );
    }
}

/// Print the chosen formats and, with `--out`, write them (and report.json) as files.
fn emit(
    report: &Report,
    out_of_scope: &[cockpit_core::Pillar],
    formats: &[ReportFormat],
    out: Option<&Path>,
    comparison: Option<&Comparison>,
) -> Result<(), CliError> {
    let json = crate::error::to_json_pretty("the report", report)?;
    let colour = out.is_none() && render::use_colour();
    let table = |colour| {
        let mut t = score_render::audit_table(report, colour, out_of_scope);
        if let Some(c) = comparison {
            t.push_str(&score_render::comparison_table(c));
        }
        t
    };
    let markdown = || {
        let mut m = score_render::audit_markdown(report, out_of_scope);
        if let Some(c) = comparison {
            m.push('\n');
            m.push_str(&score_render::comparison_markdown(c));
        }
        m
    };
    let mut stdout = String::new();
    for f in crate::output::on_stdout(formats, out, ReportFormat::Table) {
        match f {
            ReportFormat::Table => stdout.push_str(&table(colour)),
            ReportFormat::Json => {
                stdout.push_str(&json);
                stdout.push('\n');
            }
            ReportFormat::Markdown => stdout.push_str(&markdown()),
        }
    }
    if let Some(c) = comparison {
        say_regressions(c);
    }
    if let Some(dir) = out {
        std::fs::create_dir_all(dir).map_err(|source| CliError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
        write(&dir.join("report.json"), &json)?;
        for f in formats {
            match f {
                ReportFormat::Table => write(&dir.join("report.txt"), &table(false))?,
                ReportFormat::Markdown => write(&dir.join("report.md"), &markdown())?,
                ReportFormat::Json => {}
            }
        }
        if let Some(c) = comparison {
            let text = crate::error::to_json_pretty("the comparison", c)?;
            write(&dir.join("compare.json"), &text)?;
        }
        crate::term::notice(format_args!("report written to {}", dir.display()));
    }
    crate::print_stdout(&stdout)
}

/// Write one file of `--out DIR`: atomically, replacing (never following)
/// a symbolic link at its name.
pub fn write(path: &Path, text: &str) -> Result<(), CliError> {
    crate::output::write(path, text.as_bytes(), crate::output::Target::InDir)
}
