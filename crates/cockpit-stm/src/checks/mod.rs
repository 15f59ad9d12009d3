//! The State checks: one module per check id, each with its `CheckSpec`
//! constant and a pure `evaluate` (evidence in, finding out); the audit in
//! the crate root gathers the evidence.

pub mod evict;
pub mod external;
pub mod fsync;
pub mod ha;
pub mod keys;
pub mod latency;
pub mod persist;
pub mod roundtrip;
pub mod survival;

use cockpit_core::{CheckSpec, Finding, Location, Status};

/// Every State check, for docs and tooling.
pub const ALL: [&CheckSpec; 9] = [
    &external::STA_EXTERNAL,
    &latency::STA_LATENCY,
    &persist::STA_PERSIST,
    &fsync::STA_FSYNC,
    &evict::STA_EVICT,
    &ha::STA_HA,
    &roundtrip::STA_ROUNDTRIP,
    &keys::STA_KEYS,
    &survival::STA_SURVIVAL,
];

/// The finding of a check whose evidence could not be read.
pub fn not_measured(spec: &CheckSpec, url: &str, why: impl std::fmt::Display) -> Finding {
    spec.finding(Status::NotMeasured, format!("not measured: {why}"))
        .with_subject("stm")
        .with_location(Location::endpoint(url))
        .with_recommendation(
            "Make Redis reachable from where the audit runs (address, port, TLS, credentials in [stm] url) and allow the commands the check needs, then run the audit again.",
        )
}

/// A finding on the Redis endpoint.
pub(crate) fn on(spec: &CheckSpec, url: &str, status: Status, summary: String) -> Finding {
    spec.finding(status, summary)
        .with_subject("stm")
        .with_location(Location::endpoint(url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_check_has_a_doc_page_and_the_state_pillar() {
        for c in ALL {
            let path = format!("{}/../../{}", env!("CARGO_MANIFEST_DIR"), c.id.doc_path());
            assert!(std::path::Path::new(&path).exists(), "missing {path}");
            assert_eq!(c.pillar, cockpit_core::Pillar::State);
        }
    }

    #[test]
    fn every_check_is_judged_by_an_integration_test() {
        // The tests that run `audit` against real and hostile servers.
        let dir = format!("{}/tests", env!("CARGO_MANIFEST_DIR"));
        let mut text = String::new();
        for entry in std::fs::read_dir(&dir).expect("tests/") {
            let path = entry.expect("tests/ entry").path();
            if path.extension().is_some_and(|e| e == "rs") {
                text.push_str(&std::fs::read_to_string(&path).expect("a test file"));
            }
        }
        for c in ALL {
            let asked = format!("find(&r, \"{}\")", c.id.as_str());
            assert!(
                text.contains(&asked),
                "no integration test looks up {} ({asked})",
                c.id.as_str()
            );
        }
    }
}
