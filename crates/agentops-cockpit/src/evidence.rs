//! Gathering the evidence: resolve the configuration (or start the embedded
//! testbed), run every pillar's checks, and build the Report. `audit report`
//! and every other command that needs evidence call this, so they measure
//! the same way.

use std::path::Path;
use std::time::Duration;

use cockpit_core::Report;
use cockpit_core::fleet::{
    AgentConfig, AgentProtocol, RetrievalConfig, RetrievalProtocol, SessionStore,
};
use cockpit_testbed::{Testbed, TestbedConfig};
use tokio_util::sync::CancellationToken;

use crate::config::{self, CockpitConfig};
use crate::{CliError, Outcome};

/// The tool's name as written into reports.
pub const TOOL: &str = "agentops-cockpit";

/// What one run of every configured check produced.
#[derive(Debug)]
pub struct Evidence {
    pub report: Report,
    /// Endpoints the configuration asked to measure.
    pub subjects: usize,
    /// Of those, how many answered at least once.
    pub reached: usize,
}

impl Evidence {
    /// Interrupted (130), nothing reachable (3), or success.
    pub fn outcome(&self) -> Result<Outcome, CliError> {
        if self.report.interrupted {
            return Ok(Outcome::Interrupted);
        }
        if self.subjects > 0 && self.reached == 0 {
            return Err(CliError::Unreachable(format!(
                "none of the {} configured endpoints could be reached; the report lists each as not-measured with its reason",
                self.subjects
            )));
        }
        Ok(Outcome::Success)
    }
}

/// The configuration to audit: `--testbed`, else `--config`, else
/// `./cockpit.toml`, else the embedded testbed (said on stderr). The testbed,
/// when started, is returned so the caller shuts it down after measuring.
pub async fn resolve(
    config_path: Option<&Path>,
    testbed: bool,
) -> Result<(CockpitConfig, Option<Testbed>), CliError> {
    let default_path = Path::new("cockpit.toml");
    if testbed {
        embedded().await
    } else if let Some(path) = config_path {
        Ok((config::load(path)?, None))
    } else if default_path.exists() {
        Ok((config::load(default_path)?, None))
    } else {
        crate::term::notice(
            "no --config and no ./cockpit.toml: auditing the embedded reference testbed",
        );
        embedded().await
    }
}

/// Every check id the pillars define: waivers may name only these.
pub fn check_catalogue() -> Vec<cockpit_core::CheckId> {
    let mut ids: Vec<cockpit_core::CheckId> = check_specs().iter().map(|c| c.id.clone()).collect();
    ids.sort();
    ids.dedup();
    ids
}

/// Every check the pillars define, by id. Each pillar wired into
/// [`collect`] adds its `checks::ALL` here.
pub fn check_specs() -> Vec<&'static cockpit_core::CheckSpec> {
    let mut specs: Vec<&'static cockpit_core::CheckSpec> = cockpit_probe::checks::ALL
        .iter()
        .chain(cockpit_stm::checks::ALL.iter())
        .chain(cockpit_k8s::checks::ALL.iter())
        .chain(cockpit_deps::checks::ALL.iter())
        .chain(cockpit_fleet::checks::ALL.iter())
        .chain(cockpit_sim::checks::ALL.iter())
        .chain(cockpit_shadow::checks::ALL.iter())
        .chain(cockpit_watchtower::checks::ALL.iter())
        .chain(cockpit_hive::checks::ALL.iter())
        .copied()
        .collect();
    specs.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
    specs.dedup_by(|a, b| a.id == b.id);
    specs
}

/// `--include` / `--exclude` read against the catalogue; a value that is
/// neither a check id nor a pillar is a usage error naming it.
pub fn selection(args: &crate::cli::SelectArgs) -> Result<cockpit_score::CheckSelection, CliError> {
    Ok(cockpit_score::CheckSelection::parse(
        &args.include,
        &args.exclude,
        &check_catalogue(),
    )?)
}

/// The pillars a selection leaves out entirely, declared out of scope for
/// this run (in force today), unless the configuration already declares them.
pub fn scope_out(gate: &mut cockpit_score::GatePolicy, selection: &cockpit_score::CheckSelection) {
    let catalogue: Vec<_> = check_specs()
        .iter()
        .map(|c| (c.id.clone(), c.pillar))
        .collect();
    for pillar in selection.left_out_pillars(&catalogue) {
        if gate
            .out_of_scope_of(pillar)
            .is_none_or(|d| !d.in_force(cockpit_score::Date::today()))
        {
            gate.out_of_scope.retain(|d| d.pillar != pillar);
            gate.out_of_scope.push(cockpit_score::OutOfScope {
                pillar,
                reason: "left out with --include / --exclude".into(),
                owner: "command line".into(),
                expires: cockpit_score::Date::today(),
            });
        }
    }
}

/// What a report is traced back to: the hash of the configuration file as
/// written (before `${VAR}` expansion, so no secret's value enters it; the
/// embedded testbed, which has no file, hashes its settings), the file it
/// came from, and the git revision of the working directory (read-only).
pub fn provenance(cfg: &CockpitConfig, config_path: Option<&Path>) -> cockpit_core::Provenance {
    let hash = cfg
        .source_sha256
        .clone()
        .unwrap_or_else(|| cockpit_score::config_sha256(&format!("{cfg:#?}")));
    cockpit_core::Provenance {
        config_sha256: Some(hash),
        config_path: config_path.map(|p| p.display().to_string()),
        git: std::env::current_dir()
            .ok()
            .and_then(|d| cockpit_score::git_revision(&d)),
        config_lines: cfg.source_lines.clone(),
    }
}

/// The configuration file [`resolve`] reads for these arguments, if any.
pub fn config_path(config_path: Option<&Path>, testbed: bool) -> Option<std::path::PathBuf> {
    let default_path = Path::new("cockpit.toml");
    if testbed {
        None
    } else if let Some(p) = config_path {
        Some(p.to_path_buf())
    } else {
        default_path.exists().then(|| default_path.to_path_buf())
    }
}

/// Run every pillar the configuration enables and build the report.
pub async fn collect(cfg: &CockpitConfig, cancel: &CancellationToken) -> Evidence {
    let started = std::time::Instant::now();
    // Compute and CI/CD (cockpit-k8s) first: the zones and session stores
    // it reads fill in what the fleet's declarations leave unsaid, for the
    // Network and State pillars below.
    let progress = crate::term::Progress::pillars(6);
    progress.step("Compute and CI/CD");
    let mut k8s_cfg = cfg.kubernetes.clone();
    k8s_cfg.gate_rules.min_threshold = cfg.gate.min_pipeline_threshold;
    let k8s = cockpit_k8s::audit(&k8s_cfg, cancel).await;
    let mut placed = cfg.clone();
    k8s.placement
        .fill_in(&mut placed.agents, &mut placed.retrieval);
    let cfg = &placed;
    let mut all = k8s.outcome;

    // Network, Observability and Time-to-Reasoning (cockpit-probe).
    progress.step("Network, Observability and Time-to-Reasoning");
    all.absorb(cockpit_probe::checks::audit(&cfg.network(), cancel).await);

    // State (cockpit-stm): the [stm] Redis, and the agents' declared session memory.
    progress.step("State");
    let stm_cfg = cfg.stm_config();
    // Run even after a cancel: it lists its configured checks as interrupted.
    if stm_cfg.url.is_some() || !stm_cfg.agents.is_empty() {
        all.absorb(cockpit_stm::audit(&stm_cfg, cancel).await);
    }

    // The agents' dependencies (cockpit-deps): MCP servers, and vector
    // stores, whose zones Kubernetes' placement fills in like the agents'.
    progress.step("Dependencies (MCP, vector stores)");
    let mut deps = cfg.deps_config();
    deps.fill_in_zones(|name| k8s.placement.single_zone(name));
    if let Some(previous) = last_run(cfg) {
        deps.remember(&previous);
    }
    if !deps.is_empty() {
        all.absorb(cockpit_deps::audit(&deps, cancel).await);
    }

    // Shadow mode (cockpit-shadow): each `shadow_endpoint` against its
    // agent, judged by its own checks (never the agent's).
    progress.step("Shadow");
    let shadow = cfg.shadow_config();
    if shadow.shadowed().next().is_some() {
        all.absorb(cockpit_shadow::audit(&shadow, cancel).await);
    }

    progress.step("Cache analytics");
    // Hive Mind cache analytics (cockpit-hive): every `[[cache]]`, its
    // counters and its probe. Validated with the configuration.
    let hive = cfg.hive_config();
    if !hive.is_empty() {
        match cockpit_hive::audit(&hive, cancel).await {
            Ok(out) => all.absorb(out),
            Err(e) => tracing::error!("the cache analytics did not run: {e}"),
        }
    }

    // The adversarial watchtower (cockpit-watchtower), opt-in: every agent
    // with a canary. Its settings were validated with the configuration.
    progress.step("Watchtower");
    if cfg.watchtower_enabled {
        match cockpit_watchtower::audit(&cfg.watchtower_config(), cancel).await {
            Ok(out) => all.absorb(out),
            Err(e) => tracing::error!("the watchtower did not run: {e}"),
        }
    }

    progress.finish();
    let mut report = Report::new(TOOL, env!("CARGO_PKG_VERSION"), all.findings);
    report.interrupted = all.interrupted || cancel.is_cancelled();
    report.duration_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
    Evidence {
        report,
        subjects: all.subjects,
        reached: all.reached,
    }
}

/// The evidence lake's latest run, when the configuration declares a
/// store with a `source_count` (RAG-STALE compares across runs); a lake
/// that cannot be read is logged and left out.
fn last_run(cfg: &CockpitConfig) -> Option<Report> {
    if !cfg.vector_store.iter().any(|v| v.source_count.is_some()) {
        return None;
    }
    let lake = cockpit_score::EvidenceLake::new(&cfg.gate.evidence_dir);
    let read = lake
        .latest()
        .and_then(|p| p.map(|p| cockpit_score::read_report(&p)).transpose());
    match read {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!("RAG-STALE across runs: the evidence lake: {e}");
            None
        }
    }
}

/// The manifest, Cloud Run and pipeline files `[kubernetes]` names,
/// resolved before anything runs: a pattern that matches nothing, or a file
/// that is too large or not a regular file, is a usage error naming it.
pub fn k8s_inputs(k: &cockpit_k8s::K8sConfig) -> Result<cockpit_k8s::Inputs, CliError> {
    Ok(k.resolve_inputs()?)
}

/// The embedded testbed's gate: it runs as a local process, so it has no
/// pipeline to audit — CI/CD is declared out of scope (Compute is measured
/// by the agents' cold start). Every other pillar must be measured.
fn embedded_gate() -> cockpit_score::GatePolicy {
    cockpit_score::GatePolicy {
        out_of_scope: vec![cockpit_score::OutOfScope {
            pillar: cockpit_core::Pillar::Cicd,
            reason: "the embedded testbed runs as a local process, no cluster and no pipeline"
                .into(),
            owner: "agentops-cockpit".into(),
            expires: cockpit_score::Date::new(9999, 12, 31).expect("a calendar date"),
        }],
        ..cockpit_score::GatePolicy::default()
    }
}

/// The embedded default: a reference agent on 127.0.0.1 with realistic
/// settings, and a configuration that points every check at it.
pub async fn embedded() -> Result<(CockpitConfig, Option<Testbed>), CliError> {
    let tb_cfg = TestbedConfig {
        ttft: Duration::from_millis(180),
        inter_token: Duration::from_millis(12),
        tokens: 24,
        jitter: Duration::from_millis(4),
        cold_start: Duration::from_millis(600),
        retrieval_latency: Duration::from_millis(2),
        trace_echo: Some(cockpit_testbed::TraceEcho::Right),
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
                canary: None,
                session_header: None,
                metrics_url: Some(format!("{}/metrics", tb.base_url())),
                retrieval: Some(vec!["testbed-vectors".into()]),
                stm: Some(SessionStore::InProcess),
                headers: Default::default(),
            },
            AgentConfig {
                name: "testbed-grpc".into(),
                endpoint: tb.grpc_url(),
                protocol: AgentProtocol::Grpc,
                model: None,
                zone: zone.clone(),
                shadow_endpoint: None,
                canary: None,
                session_header: None,
                metrics_url: None,
                retrieval: Some(vec![]),
                stm: None,
                headers: Default::default(),
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
            grpc_method: None,
            grpc_request: None,
            grpc_proto: None,
            grpc_import_paths: Vec::new(),
        }],
        gate: embedded_gate(),
        ..CockpitConfig::default()
    };
    Ok((cfg, Some(tb)))
}
