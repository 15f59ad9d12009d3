//! The evidence model every agentops-cockpit pillar speaks.
//!
//! A check produces a [`Finding`]: its [`Status`], the [`Measurement`]s it was
//! based on (each with its unit, its method and its sample count), where the
//! subject is ([`Location`]) and the recommended move. Findings are gathered
//! in a versioned [`Report`], whose JSON form is a public interface: CI
//! scripts read it, and every other output is rendered from it.
//!
//! ```
//! use cockpit_core::{CheckSpec, CheckId, Pillar, Severity, Status, Measurement, Unit, Location, Report};
//!
//! const NET_DEMO: CheckSpec = CheckSpec {
//!     id: CheckId::new("NET-DEMO"),
//!     pillar: Pillar::Network,
//!     severity: Severity::High,
//!     title: "Demo latency",
//! };
//!
//! let finding = NET_DEMO
//!     .finding(Status::Pass, "p95 TTFT 312.0 ms is within 800 ms")
//!     .with_measurement(Measurement::new(
//!         "ttft_p95",
//!         312.0,
//!         Unit::Milliseconds,
//!         "client-side, request write to first content delta",
//!         200,
//!     ))
//!     .with_location(Location::endpoint("http://127.0.0.1:8080/v1/chat/completions"));
//! let report = Report::new("agentops-cockpit", "0.1.0", vec![finding]);
//! let json = report.to_json_pretty().unwrap();
//! let back = Report::from_json(&json).unwrap();
//! assert_eq!(back.findings[0].check_id.as_str(), "NET-DEMO");
//! assert_eq!(back.findings[0].pillar, Pillar::Network);
//! ```
//!
//! [`fleet`] holds the fleet's declarations (`[[agents]]`, `[[retrieval]]`)
//! that every pillar reads; [`AuditOutcome`] is what each pillar's audit
//! returns.
//!
//! [`slo`] holds the service-level objective language (`ttft:p(95)<800ms`)
//! that both `agentops-cockpit load --slo` and `certify --slo` speak.
//!
//! This crate does no I/O: no network, no files, no clock reads except in
//! [`Report::new`], which stamps the generation time.

mod distribution;
mod finding;
pub mod fleet;
mod outcome;
pub mod process;
mod redact;
mod report;
pub mod rng;
pub mod slo;

pub use distribution::{Distribution, DistributionError, LatencySummary};
pub use finding::{
    CheckId, CheckSpec, Finding, Location, Measurement, Pillar, Severity, Status, Unit,
};
pub use outcome::AuditOutcome;
pub use redact::redact_url;
pub use report::{
    GitRevision, Provenance, REPORT_SCHEMA_VERSION, Report, ReportError, Summary, ToolInfo,
};
