//! Suppressing a check where the object lives: the annotation
//! `agentops-cockpit.io/ignore: "CIC-IMAGE, CMP-WARM: pinned by the release
//! job"` on a workload makes that workload's findings of the named checks
//! `skipped`, with the reason kept in `Finding::suppressed` (a SARIF
//! suppression, a JUnit skipped case). One or more check ids of this
//! crate's catalogue, a colon, a reason: anything else is a CMP-MANIFEST
//! error located at the annotation, and nothing is suppressed.
//!
//! ```
//! use cockpit_k8s::suppress::parse;
//! let s = parse("CIC-IMAGE, cmp-warm: pinned by the release job").unwrap();
//! assert_eq!(s.checks, ["CIC-IMAGE", "CMP-WARM"]);
//! assert_eq!(s.reason, "pinned by the release job");
//! assert!(parse("CIC-IMAGE").is_err());            // no reason
//! assert!(parse("CIC-IMAGE:  ").is_err());         // an empty reason
//! assert!(parse("NET-TTFT: not here").is_err());   // not a check of manifests
//! ```

use cockpit_core::{Finding, Status};

use crate::checks::manifest::CMP_MANIFEST;
use crate::object::Workload;

/// The annotation's key.
pub const IGNORE_ANNOTATION: &str = "agentops-cockpit.io/ignore";

/// The longest annotation value read; a longer one is malformed.
const MAX_VALUE_CHARS: usize = 4096;

/// A parsed annotation: the check ids (canonical spelling) and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    pub checks: Vec<&'static str>,
    pub reason: String,
}

/// Parse an annotation value: `ID[, ID…]: reason`.
pub fn parse(value: &str) -> Result<Suppression, String> {
    if value.chars().count() > MAX_VALUE_CHARS {
        return Err(format!("longer than {MAX_VALUE_CHARS} characters"));
    }
    let Some((ids, reason)) = value.split_once(':') else {
        return Err("expected \"CHECK-ID[, CHECK-ID…]: reason\" (a reason is required)".into());
    };
    let reason = reason.trim();
    if reason.is_empty() {
        return Err("the reason after the colon is empty (a reason is required)".into());
    }
    let mut checks = Vec::new();
    for id in ids.split(',').map(str::trim) {
        let known = crate::checks::ALL
            .iter()
            .find(|c| c.id.as_str().eq_ignore_ascii_case(id))
            .ok_or_else(|| {
                format!(
                    "`{id}` is not a check of the Compute / CI/CD audit (`agentops-cockpit checks list`)"
                )
            })?;
        checks.push(known.id.as_str());
    }
    Ok(Suppression {
        checks,
        reason: reason.to_string(),
    })
}

/// Apply `w`'s annotation, if any, to its findings (`findings`): those of
/// the named checks become skipped with the reason; a malformed annotation
/// adds a CMP-MANIFEST error at its line instead.
pub fn apply(w: &Workload, findings: &mut [Finding]) -> Option<Finding> {
    let value = w.annotations.get(IGNORE_ANNOTATION)?;
    match parse(value) {
        Err(why) => Some(
            w.origin.locate_at(
                CMP_MANIFEST
                    .finding(Status::Error, format!("{IGNORE_ANNOTATION}: {why}"))
                    .with_recommendation(format!(
                        "write the annotation as `{IGNORE_ANNOTATION}: \"CIC-IMAGE: the reason\"`"
                    )),
                IGNORE_ANNOTATION,
            ),
        ),
        Ok(s) => {
            for f in findings
                .iter_mut()
                .filter(|f| s.checks.contains(&f.check_id.as_str()))
            {
                f.summary = format!(
                    "skipped by {IGNORE_ANNOTATION} ({} before): {}",
                    f.status, f.summary
                );
                f.status = Status::Skipped;
                f.suppressed = Some(s.reason.clone());
            }
            None
        }
    }
}
