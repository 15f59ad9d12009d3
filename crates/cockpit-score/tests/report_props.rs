//! Property tests of the saved-report reader (`certify --from`,
//! [`read_report`]): outside input, read from a file. A valid report reads
//! back as itself (parse ∘ serialize is the identity); arbitrary JSON,
//! arbitrary bytes and mutated valid reports give an error naming the file,
//! never a panic; a file past [`MAX_REPORT_BYTES`] is refused before it is
//! parsed. A bounded number of cases (CI runs them every time);
//! `PROPTEST_CASES` raises it.

use std::path::Path;

use cockpit_core::{
    CheckId, Finding, GitRevision, LatencySummary, Location, Measurement, Pillar, Provenance,
    Report, Severity, Status, Unit,
};
use cockpit_score::{MAX_REPORT_BYTES, ScoreError, read_report};
use proptest::prelude::*;

/// Write `bytes` to `report.json` in a fresh directory and read it back.
fn read_bytes(bytes: &[u8]) -> (tempfile::TempDir, Result<Report, ScoreError>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.json");
    std::fs::write(&path, bytes).unwrap();
    let r = read_report(&path);
    (dir, r)
}

/// An error from reading `path` names it.
fn names_the_file(e: &ScoreError, path: &Path) -> bool {
    e.to_string().contains(&path.display().to_string())
}

fn text() -> impl Strategy<Value = String> {
    // Short strings with quotes, escapes, control and non-ASCII characters.
    prop_oneof![
        ".{0,12}",
        "[a-z_-]{1,10}",
        Just("\"\\\n\t\u{0}é漢😀".to_string())
    ]
}

/// Any finite value, including extremes and negative zero's neighbours.
fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("finite", |v| v.is_finite()),
        -1e6f64..1e6,
        Just(0.0),
        Just(f64::MAX),
        Just(f64::MIN_POSITIVE),
    ]
}

fn summary() -> impl Strategy<Value = LatencySummary> {
    (any::<u64>(), prop::array::uniform8(value())).prop_map(|(count, v)| LatencySummary {
        count,
        min_ms: v[0],
        mean_ms: v[1],
        p50_ms: v[2],
        p90_ms: v[3],
        p95_ms: v[4],
        p99_ms: v[5],
        p999_ms: v[6],
        max_ms: v[7],
    })
}

fn measurement() -> impl Strategy<Value = Measurement> {
    let unit = prop::sample::select(vec![
        Unit::Milliseconds,
        Unit::Seconds,
        Unit::Ratio,
        Unit::Percent,
        Unit::Count,
        Unit::Bytes,
        Unit::TokensPerSecond,
        Unit::RequestsPerSecond,
        Unit::Bool,
    ]);
    (
        text(),
        value(),
        unit,
        text(),
        any::<u64>(),
        prop::option::of(summary()),
    )
        .prop_map(|(name, value, unit, method, samples, distribution)| {
            let mut m = Measurement::new(name, value, unit, method, samples);
            m.distribution = distribution;
            m
        })
}

fn location() -> impl Strategy<Value = Location> {
    prop_oneof![
        text().prop_map(|url| Location::Endpoint { url }),
        (prop::option::of(text()), text(), text()).prop_map(|(namespace, kind, name)| {
            Location::Object {
                namespace,
                kind,
                name,
            }
        }),
        (
            text(),
            prop::option::of(any::<u32>()),
            prop::option::of(any::<u32>())
        )
            .prop_map(|(path, line, column)| Location::File { path, line, column }),
        text().prop_map(|entry| Location::Config { entry }),
    ]
}

fn finding() -> impl Strategy<Value = Finding> {
    let status = prop::sample::select(vec![
        Status::Pass,
        Status::Warn,
        Status::Fail,
        Status::NotMeasured,
        Status::Error,
        Status::Skipped,
    ]);
    let severity = prop::sample::select(vec![
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ]);
    (
        (
            "[A-Z]{3}-[A-Z]{2,8}",
            prop::sample::select(Pillar::ALL.to_vec()),
            status,
            severity,
        ),
        (text(), text(), prop::option::of(text())),
        prop::collection::vec(measurement(), 0..3),
        prop::option::of(location()),
        prop::option::of(text()),
        text(),
    )
        .prop_map(
            |(
                (id, pillar, status, severity),
                (title, summary, subject),
                measurements,
                location,
                recommendation,
                doc,
            )| {
                Finding {
                    check_id: CheckId::from(id),
                    pillar,
                    status,
                    severity,
                    title,
                    summary,
                    subject,
                    measurements,
                    location,
                    recommendation,
                    doc,
                    suppressed: None,
                }
            },
        )
}

fn provenance() -> impl Strategy<Value = Provenance> {
    (
        prop::option::of("[0-9a-f]{64}"),
        prop::option::of(text()),
        prop::option::of(("[0-9a-f]{40}", "[0-9a-f]{40}", any::<bool>())),
    )
        .prop_map(|(config_sha256, config_path, git)| Provenance {
            config_sha256,
            config_path,
            git: git.map(|(commit, tree, dirty)| GitRevision {
                commit,
                tree,
                dirty,
                remote: None,
            }),
            ..Provenance::default()
        })
}

fn report() -> impl Strategy<Value = Report> {
    (
        prop::collection::vec(finding(), 0..6),
        any::<bool>(),
        prop::option::of(provenance()),
        // Any second of 1970..2100, with or without a fraction.
        (0i64..4_102_444_800, prop::option::of(0u32..1_000_000_000)),
    )
        .prop_map(|(findings, interrupted, provenance, (secs, nanos))| {
            let mut r = Report::new("agentops-cockpit", "0.0.0-test", findings);
            r.interrupted = interrupted;
            r.provenance = provenance;
            let t = jiff::Timestamp::new(secs, nanos.unwrap_or(0) as i32).unwrap();
            r.generated_at = t.to_string();
            r
        })
}

/// JSON values of any shape, a few levels deep.
fn json() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        value().prop_map(Value::from),
        text().prop_map(Value::String),
        Just(Value::String("1.1".into())),
        Just(Value::String("2026-11-25T08:09:42Z".into())),
    ];
    let key = prop_oneof![
        prop::sample::select(vec![
            "schema_version",
            "tool",
            "generated_at",
            "summary",
            "findings",
            "report",
            "certification_version",
            "check_id",
            "measurements",
            "location",
        ])
        .prop_map(str::to_string),
        text(),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// How a valid file is damaged: bytes flipped, cut, inserted or removed.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let piece = prop_oneof![
        prop::collection::vec(any::<u8>(), 1..8),
        prop::sample::select(vec![
            b"{".to_vec(),
            b"}".to_vec(),
            b"[".to_vec(),
            b"]".to_vec(),
            b",".to_vec(),
            b"\"".to_vec(),
            b"null".to_vec(),
            b"-1".to_vec(),
            b"1e999".to_vec(),
            b"\\u".to_vec(),
        ]),
    ];
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), piece).prop_map(|(i, p)| Mutation::Insert(i, p)),
        (any::<usize>(), 1usize..32).prop_map(|(i, n)| Mutation::Remove(i, n)),
    ]
}

fn mutate(bytes: &mut Vec<u8>, m: &Mutation) {
    let at = |i: usize, len: usize| i % (len + 1);
    match m {
        Mutation::Flip(i, b) if !bytes.is_empty() => {
            let i = i % bytes.len();
            bytes[i] ^= b | 1;
        }
        Mutation::Flip(..) => {}
        Mutation::Truncate(i) => bytes.truncate(at(*i, bytes.len())),
        Mutation::Insert(i, p) => {
            let i = at(*i, bytes.len());
            bytes.splice(i..i, p.iter().copied());
        }
        Mutation::Remove(i, n) => {
            let i = at(*i, bytes.len());
            let end = (i + n).min(bytes.len());
            bytes.drain(i..end);
        }
    }
}

/// The reports `certify --from` is given in the tests, as written.
fn fixtures() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    [
        "pass.json",
        "fail.json",
        "not-measured.json",
        "one-agent.json",
    ]
    .iter()
    .map(|f| std::fs::read(dir.join(f)).unwrap())
    .collect()
}

/// Found by `a_valid_report_reads_back_as_itself`: without serde_json's
/// `float_roundtrip`, this value read back one ulp away from what was
/// written, so a re-scored report differed from the measured one.
#[test]
fn a_measurement_reads_back_to_the_same_bits() {
    let mut r = Report::new("agentops-cockpit", "0.0.0-test", vec![]);
    let v = -8.92837963742854e-240_f64;
    let mut f = Finding {
        check_id: CheckId::from("NET-TTFT".to_string()),
        pillar: Pillar::Network,
        status: Status::Pass,
        severity: Severity::High,
        title: String::new(),
        summary: String::new(),
        subject: None,
        measurements: vec![],
        location: None,
        recommendation: None,
        doc: String::new(),
        suppressed: None,
    };
    f.measurements
        .push(Measurement::new("ttft_p95", v, Unit::Milliseconds, "m", 1));
    r.findings.push(f);
    let (_dir, back) = read_bytes(serde_json::to_string(&r).unwrap().as_bytes());
    let back = back.unwrap().findings[0].measurements[0].value;
    assert_eq!(back.to_bits(), v.to_bits(), "{back:e} read for {v:e}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn a_valid_report_reads_back_as_itself(r in report(), pretty in any::<bool>()) {
        let json = if pretty {
            r.to_json_pretty().unwrap()
        } else {
            serde_json::to_string(&r).unwrap()
        };
        let (_dir, back) = read_bytes(json.as_bytes());
        let back = back.unwrap_or_else(|e| panic!("{e}\n{json}"));
        prop_assert_eq!(&back, &r);
        // And as the `report` of a certification.
        let cert = serde_json::json!({ "certification_version": "1.0", "report": r });
        let (_dir, back) = read_bytes(cert.to_string().as_bytes());
        prop_assert_eq!(back.unwrap(), r);
    }

    #[test]
    fn arbitrary_json_is_an_error_naming_the_file_or_a_report(v in json(), wrap in any::<bool>()) {
        let v = if wrap {
            serde_json::json!({ "certification_version": "1.0", "report": v })
        } else {
            v
        };
        let (dir, r) = read_bytes(v.to_string().as_bytes());
        match r {
            Ok(report) => {
                // Only what is a report reads as one: it serializes back
                // to what was read.
                let again = serde_json::to_string(&report).unwrap();
                let (_d, back) = read_bytes(again.as_bytes());
                prop_assert_eq!(back.unwrap(), report);
            }
            Err(e) => prop_assert!(names_the_file(&e, &dir.path().join("report.json")), "{}", e),
        }
    }

    #[test]
    fn arbitrary_bytes_are_an_error_naming_the_file(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let (dir, r) = read_bytes(&bytes);
        let e = r.expect_err("random bytes are not a report");
        prop_assert!(names_the_file(&e, &dir.path().join("report.json")), "{}", e);
    }

    #[test]
    fn a_damaged_report_never_panics(
        which in 0usize..4,
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let mut bytes = fixtures().swap_remove(which);
        for m in &mutations {
            mutate(&mut bytes, m);
        }
        let (dir, r) = read_bytes(&bytes);
        if let Err(e) = r {
            prop_assert!(names_the_file(&e, &dir.path().join("report.json")), "{}", e);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    /// A file past the bound is refused on its size, before a byte is
    /// parsed: a valid report followed by zero bytes (a sparse file, cheap
    /// to make).
    #[test]
    fn a_file_past_the_bound_is_refused_before_parsing(extra in 1u64..1 << 20) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        std::fs::write(&path, &fixtures()[0]).unwrap();
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(MAX_REPORT_BYTES + extra).unwrap();
        let e = read_report(&path).unwrap_err();
        prop_assert!(matches!(e, ScoreError::TooLarge { .. }), "{}", e);
        prop_assert!(names_the_file(&e, &path), "{}", e);
    }
}
