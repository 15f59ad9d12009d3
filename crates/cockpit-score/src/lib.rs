//! The Sovereign Gate: turns the findings of an agentops-cockpit report
//! into pillar scores (0–100), an overall score, the Infrastructure
//! Approval Matrix (one row per pillar: PASS / WARN / FAIL, the primary
//! risk with its measured figure, the recommended move) and a pass/fail
//! decision against a threshold — then renders all of it (terminal,
//! Markdown, JSON, JUnit XML, SARIF 2.1.0, an SVG badge, self-contained
//! HTML) from the report alone.
//!
//! It measures nothing itself: it reads [`cockpit_core::Finding`]s. The
//! formula is in `docs/scoring.md`: findings weighted by severity, credit
//! 1 / ½ / 0 for pass / warn / fail, critical failures cap the score below
//! the threshold, skipped findings are listed and not scored, a
//! not-measured finding fails the gate unless the policy relaxes it, and
//! every pillar must be measured or declared out of scope
//! (`[[gate.out_of_scope]]`). Against a baseline run,
//! [`Certification::hold_regressions`] fails the gate on a figure beyond
//! its `[gate.regressions]` bound that can be told from noise.
//!
//! ```
//! use cockpit_core::{CheckId, CheckSpec, Measurement, Pillar, Report, Severity, Status, Unit};
//! use cockpit_score::{Date, GatePolicy, Verdict, certify};
//!
//! const TTFT: CheckSpec = CheckSpec {
//!     id: CheckId::new("NET-TTFT"),
//!     pillar: Pillar::Network,
//!     severity: Severity::High,
//!     title: "Time to first token",
//! };
//! let report = Report::new("agentops-cockpit", "0.1.0", vec![
//!     TTFT.finding(Status::Pass, "p95 TTFT 312 ms is within 800 ms").with_subject("chat"),
//!     TTFT.finding(Status::Fail, "Latency Regression: p95 TTFT 912 ms is above 800 ms")
//!         .with_subject("search")
//!         .with_measurement(Measurement::new("ttft_p95", 912.0, Unit::Milliseconds, "client-side", 200)),
//! ]);
//! let cert = certify(&report, &GatePolicy::default(), Date::today());
//! assert_eq!(cert.score, Some(50.0));
//! assert!(!cert.passed);
//! let network = &cert.pillars[0];
//! assert_eq!(network.verdict, Verdict::Fail);
//! assert_eq!(network.primary_risk.as_ref().unwrap().figure.as_deref(), Some("ttft_p95 912 ms (n=200)"));
//! ```
//!
//! What it never does: measure, or change the audited repository or
//! cluster. The only files it writes are new run directories in the
//! [`EvidenceLake`] (never overwriting one); [`git_revision`] reads the
//! repository with optional locks off, so not even the index is touched.

mod compare;
mod date;
mod error;
mod lake;
mod pages;
mod policy;
mod provenance;
mod regression;
pub mod render;
mod score;
mod selection;
mod slo;

pub use compare::{Comparison, Direction, MeasurementChange, StatusChange, compare};
pub use date::Date;
pub use error::ScoreError;
pub use lake::{
    CERTIFICATION_FILE, EvidenceLake, MAX_REPORT_BYTES, REPORT_FILE, read_certification,
    read_report, refuse_unknown_checks,
};
pub use pages::{CHECK_PAGES, PROJECT_URL, check_page, doc_url, page_section, page_summary};
pub use policy::{
    DEFAULT_EVIDENCE_DIR, DEFAULT_REGRESSION_MIN_SAMPLES, DEFAULT_THRESHOLD, GatePolicy,
    OutOfScope, PillarWeights, Waiver, severity_weight, validate_threshold,
};
pub use provenance::{config_sha256, git_revision, remote_uri};
pub use regression::{
    RegressionBound, RegressionKey, RegressionOutcome, RegressionStatus, regressions,
};
pub use render::Format;
pub use score::{
    CERTIFICATION_VERSION, Certification, PillarScore, Risk, ScopeOutcome, ScoredFinding,
    Treatment, Verdict, WaiverOutcome, WaiverState, certify, coverage_move, figure, is_reading,
    unmeasured_pillars,
};
pub use selection::CheckSelection;
pub use slo::{GateMetric, GateSlo, SloOutcome, SloStatus, SloSubject, evaluate_slo};
