//! The watchtower's check: one module per check id, with its `CheckSpec`
//! and a pure `evaluate` (a [`WatchSnapshot`](crate::WatchSnapshot) in, a
//! finding out).

pub mod wtc_leak;

use cockpit_core::CheckSpec;

/// Every check of this crate, for docs and tooling.
pub const ALL: [&CheckSpec; 1] = [&wtc_leak::WTC_LEAK];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_check_has_a_doc_page() {
        for c in ALL {
            let path = format!("{}/../../{}", env!("CARGO_MANIFEST_DIR"), c.id.doc_path());
            assert!(std::path::Path::new(&path).exists(), "missing {path}");
        }
    }
}
