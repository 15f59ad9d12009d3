//! Property tests of the SLO grammar: what parses prints back to text that
//! parses to the same objective (display ∘ parse is the identity on parsed
//! objectives), and no input — well-formed or not — makes the parser panic.

use cockpit_core::slo::Slo;
use proptest::prelude::*;

/// Text in the grammar: optional metric, optional aggregate, an operator,
/// a number and an optional unit, with stray spaces.
fn slo_text() -> impl Strategy<Value = String> {
    let metric = prop_oneof![
        Just(String::new()),
        "[a-zA-Z][a-zA-Z0-9_]{0,12}".prop_map(|m| m),
    ];
    let aggregate = prop_oneof![
        Just(String::new()),
        (0u32..=100, 0u32..10).prop_map(|(p, f)| format!("p({p}.{f})")),
        (0u32..=100).prop_map(|p| format!("p({p})")),
        prop::sample::select(vec!["avg", "mean", "med", "min", "max", "rate", "count"])
            .prop_map(str::to_string),
    ];
    let op = prop::sample::select(vec!["<", "<=", ">", ">="]);
    let value = (0u64..1_000_000, 0u32..1000).prop_map(|(i, f)| format!("{i}.{f}"));
    let unit = prop::sample::select(vec!["", "us", "µs", "ms", "s", "m", "%"]);
    let space = prop::sample::select(vec!["", " "]);
    (metric, aggregate, op, value, unit, space).prop_map(|(m, a, o, v, u, sp)| {
        let head = match (m.is_empty(), a.is_empty()) {
            (false, false) => format!("{m}:{a}"),
            (false, true) => m,
            (true, false) => a,
            (true, true) => "x".into(),
        };
        format!("{head}{sp}{o}{sp}{v}{u}")
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn what_parses_prints_back_to_the_same_objective(text in slo_text()) {
        if let Ok(slo) = text.parse::<Slo>() {
            let shown = slo.to_string();
            let again: Slo = shown
                .parse()
                .unwrap_or_else(|e| panic!("{text:?} printed as {shown:?}, which does not parse: {e}"));
            // The same objective (`text` keeps what was written, so it differs).
            prop_assert_eq!(
                (&again.metric, &again.aggregate, again.op, &again.threshold),
                (&slo.metric, &slo.aggregate, slo.op, &slo.threshold),
                "{:?} -> {:?}",
                text,
                shown
            );
            prop_assert_eq!(again.to_string(), shown);
        }
    }

    #[test]
    fn well_formed_text_parses(text in slo_text()) {
        // Every generated form is in the grammar, bar a percentile over 100.
        let over = text.contains("p(100.") && !text.contains("p(100.0");
        let r = text.parse::<Slo>();
        prop_assert!(r.is_ok() || over, "{:?}: {:?}", text, r.err());
    }

    #[test]
    fn any_text_never_panics(text in ".{0,64}") {
        let _ = text.parse::<Slo>();
    }
}
