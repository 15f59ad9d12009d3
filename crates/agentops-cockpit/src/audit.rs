//! `audit report`: load the configuration (or start the embedded testbed),
//! run the checks, render, write.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cockpit_core::Report;
use cockpit_probe::checks::{
    AgentConfig, AgentProtocol, RetrievalConfig, RetrievalProtocol, StmKind,
};
use cockpit_testbed::{Testbed, TestbedConfig};
use tokio_util::sync::CancellationToken;

use crate::cli::{AuditArgs, ReportFormat};
use crate::config::{self, CockpitConfig};
use crate::{CliError, Outcome, render};

const TOOL: &str = "agentops-cockpit";

pub async fn run(args: AuditArgs, cancel: CancellationToken) -> Result<Outcome, CliError> {
    let default_path = Path::new("cockpit.toml");
    let (cfg, testbed) = if args.testbed {
        embedded().await?
    } else if let Some(path) = &args.config {
        (config::load(path)?, None)
    } else if default_path.exists() {
        (config::load(default_path)?, None)
    } else {
        eprintln!("no --config and no ./cockpit.toml: auditing the embedded reference testbed");
        embedded().await?
    };

    let outcome = cockpit_probe::checks::audit(&cfg.network(), &cancel).await;
    if let Some(tb) = testbed {
        tb.shutdown().await;
    }
    let mut report = Report::new(TOOL, env!("CARGO_PKG_VERSION"), outcome.findings);
    report.interrupted = outcome.interrupted;

    emit(&report, &args.format, args.out.as_deref())?;

    if report.interrupted {
        return Ok(Outcome::Interrupted);
    }
    if outcome.subjects > 0 && outcome.reached == 0 {
        return Err(CliError::Unreachable(format!(
            "none of the {} configured endpoints could be reached; the report lists each as not-measured with its reason",
            outcome.subjects
        )));
    }
    Ok(Outcome::Success)
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

/// The embedded default: a reference agent on 127.0.0.1 with realistic
/// settings, and a configuration that points every check at it.
async fn embedded() -> Result<(CockpitConfig, Option<Testbed>), CliError> {
    let tb_cfg = TestbedConfig {
        ttft: Duration::from_millis(180),
        inter_token: Duration::from_millis(12),
        tokens: 24,
        jitter: Duration::from_millis(4),
        cold_start: Duration::from_millis(600),
        retrieval_latency: Duration::from_millis(2),
        ..TestbedConfig::default()
    };
    let tb = Testbed::start(tb_cfg)
        .await
        .map_err(|e| CliError::Unreachable(format!("cannot start the embedded testbed: {e}")))?;
    let zone = Some("local-a".to_string());
    let cfg = CockpitConfig {
        agents: vec![
            AgentConfig {
                name: "testbed-openai".into(),
                endpoint: format!("{}/v1", tb.base_url()),
                protocol: AgentProtocol::Openai,
                model: Some("testbed-1".into()),
                zone: zone.clone(),
                shadow_endpoint: None,
                metrics_url: Some(format!("{}/metrics", tb.base_url())),
                retrieval: Some(vec!["testbed-vectors".into()]),
                stm: Some(StmKind::InProcess),
            },
            AgentConfig {
                name: "testbed-grpc".into(),
                endpoint: tb.grpc_url(),
                protocol: AgentProtocol::Grpc,
                model: None,
                zone: zone.clone(),
                shadow_endpoint: None,
                metrics_url: None,
                retrieval: Some(vec![]),
                stm: None,
            },
        ],
        retrieval: vec![RetrievalConfig {
            name: "testbed-vectors".into(),
            endpoint: Some(format!("{}/v1/retrieval/search", tb.base_url())),
            grpc_endpoint: Some(tb.grpc_url()),
            protocol: Some(RetrievalProtocol::Grpc),
            zone,
            query: "what does the sovereign gate check".into(),
            top_k: 5,
        }],
        ..CockpitConfig::default()
    };
    Ok((cfg, Some(tb)))
}
