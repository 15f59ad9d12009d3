//! What the monitor reads from and writes to the evidence lake: each
//! agent's baseline (the newest passing certification that measured its
//! TTFT), the newest gate result, "Slow Reasoning" alert records, and with
//! `record` each interval's report. Blocking file I/O: callers run it off
//! the async threads.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use cockpit_core::{Finding, Report};
use cockpit_score::{Certification, EvidenceLake};

use crate::snapshot::{Baseline, GateView, PillarView};
use crate::{AlertEvent, MonitorError};

/// Certifications read at most when looking for baselines, newest first.
pub const MAX_CERTIFICATIONS_READ: usize = 50;

/// Where and how the monitor writes evidence.
#[derive(Debug, Clone)]
pub struct Recorder {
    pub lake: EvidenceLake,
    /// The tool name and version written into reports.
    pub tool: String,
    pub version: String,
    /// Traced back to (the configuration's hash, the git revision).
    pub provenance: Option<cockpit_core::Provenance>,
}

fn lake_error(lake: &EvidenceLake) -> impl FnOnce(cockpit_score::ScoreError) -> MonitorError {
    let path = lake.root().to_path_buf();
    move |source| MonitorError::Lake { path, source }
}

impl Recorder {
    /// Store `findings` as a new run (with `extra` files); its directory.
    pub fn store(
        &self,
        findings: Vec<Finding>,
        extra: &[(&str, &str)],
    ) -> Result<PathBuf, MonitorError> {
        let mut report = Report::new(&self.tool, &self.version, findings);
        report.provenance = self.provenance.clone();
        self.lake
            .store(&report, extra)
            .map_err(lake_error(&self.lake))
    }

    /// The record of an alert state change: a FLT-SLOW finding, and the
    /// event itself as `alert.json`.
    pub fn alert(&self, ev: &AlertEvent, endpoint: &str) -> Result<PathBuf, MonitorError> {
        let json = serde_json::to_string_pretty(ev).unwrap_or_default();
        self.store(
            vec![crate::checks::slow_reasoning(ev, endpoint)],
            &[("alert.json", &json)],
        )
    }
}

/// What the lake says about the fleet: read when the monitor starts, and
/// again at every interval's end when a new certification has landed.
#[derive(Debug, Default)]
pub(crate) struct LakeView {
    pub baselines: HashMap<String, Baseline>,
    pub gate: Option<GateView>,
    /// The newest certified run this view was read from.
    pub head: Option<PathBuf>,
}

/// Read the newest certifications: the first is the gate shown; the
/// newest passing one that measured an agent's TTFT is its baseline.
/// `None` when the newest certified run is still `head` (nothing new:
/// nothing read). Unreadable runs are skipped (a lake is shared; one bad
/// file must not stop the monitor).
pub(crate) fn read_lake(
    lake: &EvidenceLake,
    agents: &HashSet<String>,
    head: Option<&Path>,
) -> Option<LakeView> {
    let mut view = LakeView::default();
    let runs = match lake.certified_runs() {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!("cannot list the evidence lake: {e}");
            return None;
        }
    };
    view.head = runs.first().map(|(dir, _)| dir.clone());
    if view.head.as_deref() == head {
        return None;
    }
    for (dir, file) in runs.into_iter().take(MAX_CERTIFICATIONS_READ) {
        let cert = match cockpit_score::read_certification(&file) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("skipping a certification: {e}");
                continue;
            }
        };
        let run = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if view.gate.is_none() {
            view.gate = Some(gate_view(&cert, &run));
        }
        if cert.passed {
            add_baselines(&cert, &run, agents, &mut view.baselines);
        }
        if view.gate.is_some() && view.baselines.len() == agents.len() {
            break;
        }
    }
    Some(view)
}

fn gate_view(cert: &Certification, run: &str) -> GateView {
    GateView {
        score: cert.score,
        passed: cert.passed,
        threshold: cert.threshold,
        generated_at: cert.report.generated_at.clone(),
        run: run.to_string(),
        pillars: cert
            .pillars
            .iter()
            .map(|p| PillarView {
                pillar: p.pillar.as_str().to_string(),
                verdict: p.verdict.label().to_string(),
                score: p.score,
            })
            .collect(),
    }
}

fn add_baselines(
    cert: &Certification,
    run: &str,
    agents: &HashSet<String>,
    out: &mut HashMap<String, Baseline>,
) {
    let ttft = cockpit_probe::checks::ttft::NET_TTFT.id;
    for f in cert.report.findings.iter().filter(|f| f.check_id == ttft) {
        let Some(agent) = f.subject.as_ref().filter(|s| agents.contains(s.as_str())) else {
            continue;
        };
        let Some(m) = f.measurements.iter().find(|m| m.name == "ttft_p95") else {
            continue;
        };
        out.entry(agent.clone()).or_insert_with(|| Baseline {
            ttft_p95_ms: m.value,
            count: m.samples,
            source: "certify".into(),
            run: Some(run.to_string()),
        });
    }
}
