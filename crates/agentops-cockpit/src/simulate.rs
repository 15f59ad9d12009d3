//! `simulate [URL]`: the reasoning-degradation simulation (cockpit-sim),
//! rendered as a per-level table, the Report's JSON or Markdown.

use std::path::Path;

use cockpit_core::Report;
use cockpit_core::fleet::AgentProtocol;
use cockpit_probe::ProbeOptions;
use cockpit_sim::{SimOptions, SimReport, SimSlo};
use cockpit_testbed::Testbed;
use http::{HeaderName, HeaderValue};
use tokio_util::sync::CancellationToken;

use crate::cli::{SimFormat, SimulateArgs};
use crate::{CliError, Outcome, config, evidence};

fn usage(e: impl std::fmt::Display) -> CliError {
    CliError::Usage(e.to_string())
}

/// The agent to simulate: its URL, model, headers and session header.
#[derive(Debug)]
pub(crate) struct Agent {
    pub url: String,
    pub model: Option<String>,
    headers: Vec<(HeaderName, HeaderValue)>,
    /// The configured `session_header` (checked when the file was read).
    session_header: Option<String>,
}

/// The URL given; else the first openai agent of the configuration; else
/// the embedded testbed (returned, to be shut down after the run).
pub(crate) async fn agent(args: &SimulateArgs) -> Result<(Agent, Option<Testbed>), CliError> {
    if let Some(url) = &args.url {
        let agent = Agent {
            url: url.clone(),
            model: None,
            headers: Vec::new(),
            session_header: None,
        };
        return Ok((agent, None));
    }
    let (cfg, testbed) = match evidence::config_path(args.config.as_deref(), false) {
        Some(p) => (config::load(&p)?, None),
        None => {
            crate::term::notice(
                "no URL, no --config and no ./cockpit.toml: simulating against the embedded reference testbed",
            );
            evidence::embedded().await?
        }
    };
    let a = cfg
        .agents
        .iter()
        .find(|a| a.protocol == AgentProtocol::Openai)
        .ok_or_else(|| {
            usage(
                "the configuration has no [[agents]] entry with protocol = \"openai\" to simulate",
            )
        })?;
    let mut headers = Vec::with_capacity(a.headers.len());
    for (k, v) in &a.headers {
        let name = HeaderName::try_from(k.as_str()).map_err(|_| {
            usage(format!(
                "agents.{}.headers: {k:?} is not a header name",
                a.name
            ))
        })?;
        let value = HeaderValue::try_from(v.as_str()).map_err(|_| {
            usage(format!(
                "agents.{}.headers.{k}: not a valid header value",
                a.name
            ))
        })?;
        headers.push((name, value));
    }
    let agent = Agent {
        url: a.endpoint.clone(),
        model: a.model.clone(),
        headers,
        session_header: a.session_header.clone(),
    };
    Ok((agent, testbed))
}

pub(crate) fn options(
    args: &SimulateArgs,
    agent: &Agent,
    cancel: &CancellationToken,
) -> Result<SimOptions, CliError> {
    // --session-header wins over the configured agent's `session_header`.
    let session_header = args
        .session_header
        .as_deref()
        .or(agent.session_header.as_deref())
        .map(|h| {
            HeaderName::try_from(h)
                .map_err(|_| usage(format!("--session-header {h:?} is not a header name")))
        })
        .transpose()?;
    let opts = SimOptions {
        sessions: args.sessions,
        turns: args.turns,
        ramp: args.ramp.clone(),
        min_recall_turns: args.min_recall_turns,
        session_header,
        trace_field: args.trace_field.clone(),
        session_field: args.session_field.clone(),
        seed: args.seed,
        request: ProbeOptions {
            timeout: args.timeout,
            model: args.model.clone().or_else(|| agent.model.clone()),
            headers: agent.headers.clone(),
            ..ProbeOptions::default()
        },
        deadline: args.deadline,
        slos: args.slo.clone(),
        cancel: cancel.clone(),
        ..SimOptions::default()
    };
    opts.validate()?;
    Ok(opts)
}

pub async fn run(args: SimulateArgs, cancel: CancellationToken) -> Result<Outcome, CliError> {
    let (agent, testbed) = agent(&args).await?;
    let opts = options(&args, &agent, &cancel);
    let result = match opts {
        Ok(opts) => {
            let bar = crate::run_end::spinner(args.no_progress, "simulating conversations…");
            let r = cockpit_sim::simulate(&agent.url, &opts).await;
            if let Some(b) = bar {
                b.finish_and_clear();
            }
            r.map_err(CliError::from)
        }
        Err(e) => Err(e),
    };
    if let Some(tb) = testbed {
        tb.shutdown().await;
    }
    let sim = result?;
    finish(&sim, &args.slo, args.format, args.out.as_deref())
}

/// A simulation's Report (its findings judged against `slos`), rendered
/// and written, and its exit.
pub(crate) fn finish(
    sim: &SimReport,
    slos: &[SimSlo],
    format: SimFormat,
    out: Option<&Path>,
) -> Result<Outcome, CliError> {
    let mut report = Report::new(
        evidence::TOOL,
        env!("CARGO_PKG_VERSION"),
        cockpit_sim::findings(sim, slos),
    );
    report.interrupted = sim.interrupted;
    emit(sim, &report, format, out)?;
    outcome(sim)
}

/// Interrupted, unreachable (exit 3: no turn answered), an objective
/// broken, or success.
fn outcome(sim: &SimReport) -> Result<Outcome, CliError> {
    let unreachable = || {
        let turns: u64 = sim.levels.iter().map(|l| l.turns).sum();
        let failed: u64 = sim.levels.iter().flat_map(|l| l.errors.values()).sum();
        let example = sim.levels.iter().flat_map(|l| l.errors.keys()).next();
        (turns > 0 && failed == turns).then(|| {
            format!(
                "no turn to {} was answered ({})",
                sim.target,
                example.cloned().unwrap_or_default()
            )
        })
    };
    crate::run_end::outcome(sim.interrupted, unreachable, sim.slo_pass)
}

fn emit(
    sim: &SimReport,
    report: &Report,
    format: SimFormat,
    out: Option<&Path>,
) -> Result<(), CliError> {
    let json = crate::error::to_json_pretty("the report", report)? + "\n";
    let markdown =
        || crate::render::sim_markdown(sim) + "\n" + &cockpit_score::render::markdown(report);
    let text = match format {
        SimFormat::Json => json.clone(),
        SimFormat::Markdown => markdown(),
        SimFormat::Table => {
            let colour = crate::render::use_colour();
            crate::render::sim_table(sim) + &cockpit_score::render::table(report, colour)
        }
    };
    if let Some(dir) = out {
        std::fs::create_dir_all(dir).map_err(|source| CliError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
        let detail = crate::error::to_json_pretty("the simulation", sim)? + "\n";
        let write = |name: &str, body: &str| {
            crate::output::write(
                &dir.join(name),
                body.as_bytes(),
                crate::output::Target::InDir,
            )
        };
        write("report.json", &json)?;
        write("simulation.json", &detail)?;
        write("report.md", &markdown())?;
        crate::term::notice(format_args!("report written to {}", dir.display()));
    }
    crate::print_stdout(&text)
}
