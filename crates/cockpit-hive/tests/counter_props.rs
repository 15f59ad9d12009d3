//! Property tests of the counter reader (a metrics endpoint's text is
//! outside input): arbitrary text never panics, and generated samples of a
//! counter — any label sets (quotes, braces and escapes in values),
//! timestamps, other families around them — are summed exactly. A bounded
//! number of cases; `PROPTEST_CASES` raises it.

use cockpit_hive::counter_total;
use proptest::prelude::*;

/// A label value with the characters that break naive readers.
fn label_value() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("a".to_string()),
            Just("}".to_string()),
            Just("{".to_string()),
            Just("\\\"".to_string()),
            Just("\\\\".to_string()),
            Just(" ".to_string()),
            Just(",".to_string()),
        ],
        0..6,
    )
    .prop_map(|v| v.concat())
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in ".{0,400}", name in "[a-z_]{1,12}") {
        let _ = counter_total(&text, &name);
    }

    #[test]
    fn samples_are_summed_over_label_sets(
        samples in proptest::collection::vec((label_value(), 0u32..1000, any::<bool>()), 1..8),
        noise in proptest::collection::vec(0u32..1000, 0..4),
    ) {
        let mut text = String::from("# HELP cache_hits_total Hits.\n# TYPE cache_hits_total counter\n");
        for n in &noise {
            text.push_str(&format!("cache_hits_totally {n}\ncache_misses_total {n}\n"));
        }
        for (v, n, stamp) in &samples {
            let ts = if *stamp { " 1700000000000" } else { "" };
            text.push_str(&format!("cache_hits_total{{path=\"{v}\",model=\"m\"}} {n}{ts}\n"));
        }
        let want: f64 = samples.iter().map(|(_, n, _)| f64::from(*n)).sum();
        prop_assert_eq!(counter_total(&text, "cache_hits_total"), Some(want));
        prop_assert_eq!(counter_total(&text, "cache_hits"), Some(want));
    }
}
