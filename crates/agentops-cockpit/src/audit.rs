//! `audit report`: gather the evidence, render, write.

use std::path::{Path, PathBuf};

use cockpit_core::Report;
use tokio_util::sync::CancellationToken;

use crate::cli::{AuditArgs, ReportFormat};
use crate::{CliError, Outcome, evidence, render};

pub async fn run(args: AuditArgs, cancel: CancellationToken) -> Result<Outcome, CliError> {
    let (cfg, testbed) = evidence::resolve(args.config.as_deref(), args.testbed).await?;
    let ev = evidence::collect(&cfg, &cancel).await;
    if let Some(tb) = testbed {
        tb.shutdown().await;
    }
    emit(&ev.report, &args.format, args.out.as_deref())?;
    ev.outcome()
}

/// Print the chosen formats and, with `--out`, write them (and report.json) as files.
fn emit(report: &Report, formats: &[ReportFormat], out: Option<&Path>) -> Result<(), CliError> {
    let json = report
        .to_json_pretty()
        .map_err(|e| CliError::Usage(format!("cannot serialise the report: {e}")))?;
    let colour = out.is_none() && render::use_colour();
    let mut stdout = String::new();
    for f in formats {
        match f {
            ReportFormat::Table => stdout.push_str(&render::table(report, colour)),
            ReportFormat::Json => {
                stdout.push_str(&json);
                stdout.push('\n');
            }
            ReportFormat::Markdown => stdout.push_str(&render::markdown(report)),
        }
    }
    if let Some(dir) = out {
        std::fs::create_dir_all(dir).map_err(|source| CliError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
        write(&dir.join("report.json"), &json)?;
        for f in formats {
            match f {
                ReportFormat::Table => {
                    write(&dir.join("report.txt"), &render::table(report, false))?
                }
                ReportFormat::Markdown => write(&dir.join("report.md"), &render::markdown(report))?,
                ReportFormat::Json => {}
            }
        }
        eprintln!("report written to {}", dir.display());
    }
    crate::print_stdout(&stdout)
}

fn write(path: &PathBuf, text: &str) -> Result<(), CliError> {
    std::fs::write(path, text).map_err(|source| CliError::Write {
        path: path.clone(),
        source,
    })
}
