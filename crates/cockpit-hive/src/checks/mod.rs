//! The cache checks: one module per check id, with its `CheckSpec` and a
//! pure `evaluate` (a [`CacheSnapshot`](crate::CacheSnapshot) in, a
//! finding out).

pub mod hiv_fleet;
pub mod hiv_hit;
pub mod hiv_rate;

use cockpit_core::CheckSpec;

/// Every check of this crate, for docs and tooling.
pub const ALL: [&CheckSpec; 3] = [
    &hiv_hit::HIV_HIT,
    &hiv_rate::HIV_RATE,
    &hiv_fleet::HIV_FLEET,
];

/// The median of `v` (the mean of the middle two for an even count).
pub(crate) fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

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

    #[test]
    fn medians() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }
}
