//! `cockpit`: Mission Control. Load the fleet (or start the embedded demo
//! fleet), build cockpit-fleet's [`Monitor`], and hand it to a face: one
//! round printed (`--once`), the web dashboard (`--serve`), or the live
//! terminal view. The engine, its windows and its alert rules live in
//! cockpit-fleet; this module only composes.

mod demo;
#[cfg(test)]
mod fixture;
mod hub;
mod infra_metrics;
mod metrics;
mod tui;
mod web;

use std::net::SocketAddr;

use cockpit_fleet::{Fleet, FleetSnapshot, Monitor, MonitorError, MonitorOptions, Recorder};
use cockpit_score::EvidenceLake;
use tokio_util::sync::CancellationToken;

use crate::cli::{CockpitArgs, ProbeFormat};
use crate::config::{self, CockpitConfig};
use crate::{CliError, Outcome, evidence, render};

pub async fn run(args: CockpitArgs, cancel: CancellationToken) -> Result<Outcome, CliError> {
    if let Some(addr) = args.serve {
        // Before anything starts: a refused address is bad input.
        web::check_address(addr, args.serve_public)?;
    }
    let path = evidence::config_path(args.config.as_deref(), false);
    let (mut cfg, mut demo) = match &path {
        Some(p) => (config::load(p)?, None),
        None => {
            crate::term::notice(
                "no --config and no ./cockpit.toml: watching the embedded demo fleet (fast, slow, flapping and cached testbed agents; h shows the fleet hub)",
            );
            let (cfg, demo) = demo::start().await?;
            (cfg, Some(demo))
        }
    };
    if let Some(i) = args.interval {
        cfg.cockpit.interval = i;
    }
    if let Some(w) = args.window {
        cfg.cockpit.window = w;
    }
    cfg.cockpit.watchtower |= args.watchtower;
    cfg.cockpit
        .validate()
        .map_err(|e| flag_context(e.into(), &args))?;
    let monitor = monitor(&cfg, path.as_deref(), args.record)?;
    if let Some(d) = demo.as_mut() {
        d.flap(&cfg.cockpit);
    }
    let outcome = if args.once {
        once(&monitor, &args, &cancel).await
    } else {
        let log = std::path::Path::new(&cfg.gate.evidence_dir).join(LOG_FILE);
        watch(monitor, &args, &log, cancel).await
    };
    if let Some(d) = demo {
        d.shutdown().await;
    }
    outcome
}

/// Where log lines go while the terminal dashboard is shown, under the
/// evidence directory.
const LOG_FILE: &str = "cockpit.log";

/// Name the flag when a flag's value is what `[cockpit]` refuses.
fn flag_context(e: CliError, args: &CockpitArgs) -> CliError {
    match &e {
        CliError::Fleet(MonitorError::Config {
            key: "interval", ..
        }) if args.interval.is_some() => e.context("--interval"),
        CliError::Fleet(MonitorError::Config { key: "window", .. }) if args.window.is_some() => {
            e.context("--window")
        }
        _ => e,
    }
}

/// The monitor of the configured fleet, reading and writing the evidence
/// lake of `[gate] evidence_dir`.
fn monitor(
    cfg: &CockpitConfig,
    path: Option<&std::path::Path>,
    record: bool,
) -> Result<Monitor, CliError> {
    let fleet = Fleet {
        agents: cfg.agents.clone(),
        retrieval: cfg.retrieval.clone(),
        probe: cfg.probe.clone(),
        thresholds: cfg.thresholds.clone(),
        // The session store and a live cluster's agent pods are rows too.
        stm: cfg.stm.as_ref().map(cockpit_stm::StmSettings::to_config),
        kubernetes: cfg.kubernetes.live().then(|| cfg.kubernetes.clone()),
        kubernetes_client: None,
        hub: cockpit_fleet::FleetHub {
            mcp: cfg.mcp.clone(),
            vector_stores: cfg.vector_store.clone(),
            caches: cfg.cache.clone(),
            shadow: cfg.shadow.clone(),
            watchtower: cfg.watchtower.clone(),
        },
    };
    let recorder = Recorder {
        lake: EvidenceLake::new(&cfg.gate.evidence_dir),
        tool: evidence::TOOL.to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        provenance: Some(evidence::provenance(cfg, path)),
    };
    let options = MonitorOptions {
        recorder: Some(recorder),
        record,
    };
    Ok(Monitor::new(fleet, cfg.cockpit.clone(), options)?)
}

/// `--once`: one round, printed; 0 healthy, 1 an alert firing or a target down.
async fn once(
    monitor: &Monitor,
    args: &CockpitArgs,
    cancel: &CancellationToken,
) -> Result<Outcome, CliError> {
    let snap = monitor.run_once(cancel).await;
    print_snapshot(&snap, args.format, true)?;
    if let Some(url) = &args.push_gateway {
        // The same exposition /metrics serves.
        let text = metrics::exposition(snap.clone())
            .map_err(|e| CliError::Usage(format!("cannot encode the fleet's metrics: {e}")))?;
        let mut m = crate::push::Metrics::default();
        m.raw(&text);
        crate::push::push(url, "cockpit", &m).await?;
    }
    Ok(if cancel.is_cancelled() {
        Outcome::Interrupted
    } else if snap.healthy() {
        Outcome::Success
    } else {
        Outcome::GateFailed
    })
}

/// Run the engine and show it until Ctrl-C / SIGTERM (130) or until the
/// face ends by itself (0).
async fn watch(
    monitor: Monitor,
    args: &CockpitArgs,
    log: &std::path::Path,
    cancel: CancellationToken,
) -> Result<Outcome, CliError> {
    // While the dashboard owns the terminal, from the engine's first line
    // to its last, log lines go to the file `log`.
    let diverted = (args.serve.is_none() && args.format == ProbeFormat::Table && tui::available())
        .then(|| crate::logsink::divert(log));
    let engine = tokio::spawn(monitor.clone().run(cancel.clone()));
    let shown = present(&monitor, args, &cancel).await;
    let interrupted = cancel.is_cancelled();
    cancel.cancel();
    let _ = engine.await;
    if let Some((guard, err)) = diverted {
        drop(guard);
        if let Some(e) = err {
            eprintln!(
                "warning: the dashboard's log lines were dropped: cannot open {}: {e}",
                log.display()
            );
        }
    }
    shown?;
    Ok(if interrupted {
        Outcome::Interrupted
    } else {
        Outcome::Success
    })
}

/// Hand the running monitor to the face the flags ask for.
async fn present(
    monitor: &Monitor,
    args: &CockpitArgs,
    cancel: &CancellationToken,
) -> Result<(), CliError> {
    match args.serve {
        Some(addr) => serve_dashboard(monitor, addr, args.serve_public, cancel).await,
        None => live_view(monitor, args.format, cancel).await,
    }
}

/// `--serve ADDR`: the web dashboard (`/`), the Prometheus exposition
/// (`/metrics`), the snapshot's JSON (`/api/v1/fleet`) and `/healthz`,
/// served until `cancel` from the monitor's newest snapshot; a
/// non-loopback address only with `public` (`--serve-public`).
pub async fn serve_dashboard(
    monitor: &Monitor,
    addr: SocketAddr,
    public: bool,
    cancel: &CancellationToken,
) -> Result<(), CliError> {
    web::serve(monitor.subscribe(), addr, public, cancel).await
}

/// Without `--serve`: the terminal dashboard when stdin and stdout are a
/// terminal and the format is a table; otherwise one table (or, with
/// `--format json`, one JSON line) per interval on stdout. Until `cancel`
/// (or `q` in the dashboard).
pub async fn live_view(
    monitor: &Monitor,
    format: ProbeFormat,
    cancel: &CancellationToken,
) -> Result<(), CliError> {
    if format == ProbeFormat::Table && tui::available() {
        return tui::run(monitor.subscribe(), cancel).await;
    }
    let mut rx = monitor.subscribe();
    let mut shown = 0;
    loop {
        tokio::select! {
            () = cancel.cancelled() => return Ok(()),
            r = rx.changed() => if r.is_err() { return Ok(()) },
        }
        let snap = rx.borrow_and_update().clone();
        if snap.round > shown {
            shown = snap.round;
            print_snapshot(&snap, format, false)?;
        }
    }
}

/// A snapshot on stdout: the fleet table, or its JSON (pretty for a
/// single snapshot, one line each when streaming).
fn print_snapshot(snap: &FleetSnapshot, format: ProbeFormat, single: bool) -> Result<(), CliError> {
    let text = match format {
        ProbeFormat::Table => render::fleet_table(snap, render::use_colour()),
        ProbeFormat::Json if single => {
            let mut s = crate::error::to_json_pretty("the fleet snapshot", snap)?;
            s.push('\n');
            s
        }
        ProbeFormat::Json => {
            let mut s = serde_json::to_string(snap).map_err(|source| CliError::Serialize {
                what: "the fleet snapshot",
                source,
            })?;
            s.push('\n');
            s
        }
    };
    crate::print_stdout(&text)
}
