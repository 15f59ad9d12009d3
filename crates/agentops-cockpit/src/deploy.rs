//! `deploy sovereign`: render `[deploy]` with cockpit-k8s (refused when the
//! project's own checks would fail it), write it (`--render DIR`), or
//! server-side apply it — a dry run with the changes by default; with
//! `--apply`, certify first and refuse below the gate (exit 1) unless
//! `--force --reason` (recorded in the evidence lake), then watch the
//! rollout and the LoadBalancer, timing each phase.

use std::path::Path;
use std::time::{Duration, Instant};

use cockpit_k8s::deploy::{
    self, ApplyMode, DeploySettings, Rendered, Target, WatchEnd, render_checked,
};
use tokio_util::sync::CancellationToken;

use crate::cli::{CertifyArgs, CertifyFormat, DeployArgs, DeployTarget, LakeArgs};
use crate::config::{self, CockpitConfig};
use crate::{CliError, Outcome, audit, certify, evidence};

/// Name of the evidence-lake file recording a `--force` override.
pub const OVERRIDE_FILE: &str = "deploy-override.json";

pub async fn run(args: DeployArgs, cancel: CancellationToken) -> Result<Outcome, CliError> {
    let target = match args.target {
        DeployTarget::Gke => Target::Gke,
        DeployTarget::CloudRun => Target::CloudRun,
    };
    let (cfg, settings) = settings(&args)?;
    let rendered = render_checked(&settings, target)?;
    if let Some(dir) = &args.render {
        return write_render(&rendered, dir);
    }
    if target == Target::CloudRun {
        return Err(CliError::Usage(
            "--target cloud-run: write the Service with --render DIR and apply it with `gcloud run services replace DIR/cloud-run.yaml`".into(),
        ));
    }
    if args.apply
        && let Some(stop) = gate(&args, &cfg, &cancel).await?
    {
        return Ok(stop);
    }
    let timeout = cfg.kubernetes.request_timeout();
    let client = cockpit_k8s::connect(args.kube_context.as_deref(), timeout).await?;
    let mode = if args.apply {
        ApplyMode::Apply
    } else {
        ApplyMode::DryRun
    };
    let started = Instant::now();
    let applied = deploy::apply(
        &client,
        &settings.namespace,
        &rendered.objects,
        mode,
        args.create_namespace,
    )
    .await?;
    crate::print_stdout(&applied_text(&applied, mode))?;
    let apply_took = started.elapsed();
    if mode == ApplyMode::DryRun {
        eprintln!("dry run: nothing was changed (apply with --apply)");
        return Ok(Outcome::Success);
    }
    eprintln!("applied in {}", secs(apply_took));
    follow(&client, &settings, &args, &cancel).await
}

/// `[deploy]` of the configuration, or the reference agent's deployment
/// when there is no configuration file.
fn settings(args: &DeployArgs) -> Result<(CockpitConfig, DeploySettings), CliError> {
    match evidence::config_path(args.config.as_deref(), false) {
        Some(path) => {
            let cfg = config::load(&path)?;
            let Some(d) = cfg.deploy.clone() else {
                return Err(CliError::Usage(format!(
                    "{}: no [deploy] section: nothing to deploy (docs/deploy.md)",
                    path.display()
                )));
            };
            Ok((cfg, d))
        }
        None => {
            eprintln!(
                "no --config and no ./cockpit.toml: the reference agent's deployment (a demo; its image digest names no published image)"
            );
            Ok((CockpitConfig::default(), DeploySettings::reference()))
        }
    }
}

fn write_render(r: &Rendered, dir: &Path) -> Result<Outcome, CliError> {
    std::fs::create_dir_all(dir).map_err(|source| CliError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let path = dir.join(r.file_name());
    audit::write(&path, &r.yaml)?;
    let passes = r
        .audit
        .outcome
        .findings
        .iter()
        .filter(|f| f.status == cockpit_core::Status::Pass)
        .count();
    crate::print_stdout(&format!(
        "{}: {} object(s); {} of {} findings of the Compute and CI/CD checks pass, none fails\n",
        path.display(),
        r.objects.len(),
        passes,
        r.audit.outcome.findings.len()
    ))?;
    Ok(Outcome::Success)
}

/// The Sovereign Gate before `--apply`: certify (or re-score `--from`),
/// print the matrix; below the threshold refuse naming the failing pillars,
/// unless `--force --reason`, recorded in the evidence lake. `None`:
/// deploy; else how the command ends (gate failed, interrupted).
async fn gate(
    args: &DeployArgs,
    cfg: &CockpitConfig,
    cancel: &CancellationToken,
) -> Result<Option<Outcome>, CliError> {
    let cargs = CertifyArgs {
        config: args.config.clone(),
        testbed: false,
        from: args.from.clone(),
        threshold: args.threshold,
        format: vec![CertifyFormat::Table],
        out: None,
        lake: LakeArgs {
            compare: None,
            no_evidence: args.no_evidence,
        },
        slo: Vec::new(),
        select: Default::default(),
        targets: Default::default(),
        push: Default::default(),
        watchtower: false,
    };
    let judged = certify::judge(&cargs, cancel).await?;
    let cert = &judged.cert;
    crate::print_stdout(&cockpit_score::Format::Table.render(cert, false)?)?;
    match certify::verdict(cert, judged.measured)? {
        Outcome::Success => return Ok(None),
        Outcome::Interrupted => return Ok(Some(Outcome::Interrupted)),
        Outcome::GateFailed => {}
    }
    let failing: Vec<String> = cert
        .pillars
        .iter()
        .filter(|p| {
            matches!(
                p.verdict,
                cockpit_score::Verdict::Fail | cockpit_score::Verdict::NotMeasured
            )
        })
        .map(|p| p.pillar.to_string())
        .collect();
    let pillars = if failing.is_empty() {
        cert.reasons.join("; ")
    } else {
        failing.join(", ")
    };
    if !args.force {
        eprintln!(
            "deploy refused: the gate failed (score {}, threshold {:.1}); failing: {pillars}. Fix them, or override with --force --reason \"…\" (recorded)",
            cert.score_label(),
            cert.threshold
        );
        return Ok(Some(Outcome::GateFailed));
    }
    record_override(args, cfg, cert, &pillars)?;
    Ok(None)
}

/// The override, who and why, stored with the certification it overrode.
fn record_override(
    args: &DeployArgs,
    cfg: &CockpitConfig,
    cert: &cockpit_score::Certification,
    failing: &str,
) -> Result<(), CliError> {
    let who = ["GITHUB_ACTOR", "GITLAB_USER_LOGIN", "USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown".into());
    let record = serde_json::json!({
        "override": "deploy sovereign --force",
        "who": who,
        "reason": args.reason.clone().unwrap_or_default(),
        "score": cert.score,
        "threshold": cert.threshold,
        "failing": failing,
        "target": format!("{:?}", args.target),
        "at": cockpit_score::Date::today().to_string(),
    });
    let json = crate::error::to_json_pretty("the override record", &record)?;
    let cert_json = cockpit_score::Format::Json.render(cert, false)?;
    audit::store(
        cfg,
        &cert.report,
        &[
            (OVERRIDE_FILE, &json),
            (cockpit_score::CERTIFICATION_FILE, &cert_json),
        ],
    )?;
    eprintln!("gate overridden by {who} (--force): {failing}; recorded in the evidence lake");
    Ok(())
}

fn applied_text(applied: &[deploy::Applied], mode: ApplyMode) -> String {
    let verb = match mode {
        ApplyMode::DryRun => "would",
        ApplyMode::Apply => "did",
    };
    let mut out = String::new();
    for a in applied {
        let what = if a.created {
            "create"
        } else if a.changes.is_empty() {
            "leave unchanged"
        } else {
            "change"
        };
        out.push_str(&format!("{} ({verb} {what})\n", a.object));
        if !a.created {
            for c in &a.changes {
                out.push_str(&format!("    {c}\n"));
            }
        }
    }
    out
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// After the apply: the rollout, then the LoadBalancer's address.
async fn follow(
    client: &deploy::Client,
    s: &DeploySettings,
    args: &DeployArgs,
    cancel: &CancellationToken,
) -> Result<Outcome, CliError> {
    let r =
        deploy::watch_rollout(client, &s.namespace, &s.name, args.rollout_timeout, cancel).await?;
    match r.end {
        WatchEnd::Done => eprintln!(
            "rollout complete in {}: {}/{} replicas updated and available",
            secs(r.elapsed),
            r.available,
            r.replicas
        ),
        WatchEnd::Cancelled => {
            eprintln!("stopped waiting for the rollout (nothing was deleted)");
            return Ok(Outcome::Interrupted);
        }
        WatchEnd::TimedOut => {
            let mut msg = format!(
                "rollout not complete after {}: {} of {} replicas updated, {} available",
                secs(r.elapsed),
                r.updated,
                r.replicas,
                r.available
            );
            for p in &r.problems {
                msg.push_str(&format!("\n  {p}"));
            }
            return Err(CliError::Unreachable(msg));
        }
    }
    let watched =
        cockpit_k8s::watch_external_ip(client, &s.namespace, &s.name, args.lb_timeout, cancel)
            .await?;
    let Some(lb) = watched else {
        eprintln!("stopped waiting for the LoadBalancer (nothing was deleted)");
        return Ok(Outcome::Interrupted);
    };
    match lb.address {
        Some(addr) => {
            crate::print_stdout(&format!("http://{addr}:{}/\n", s.service_port))?;
            eprintln!("external address in {}", secs(lb.elapsed));
            Ok(Outcome::Success)
        }
        None => {
            let mut msg = format!("the LoadBalancer has no address after {}", secs(lb.elapsed));
            for e in &lb.events {
                msg.push_str(&format!("\n  {e}"));
            }
            Err(CliError::Unreachable(msg))
        }
    }
}
