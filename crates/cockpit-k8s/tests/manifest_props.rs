//! Property tests of the manifest reader ([`split_documents`],
//! [`read_text`]): outside input, multi-document YAML. Arbitrary bytes,
//! YAML-shaped noise, alias bombs and damaged valid manifests never panic
//! and end within the YAML parser's budget; every document is counted and
//! cut where its markers are; every finding and object is located inside
//! the file; one bad document leaves the others audited. A bounded number
//! of cases (CI runs them every time); `PROPTEST_CASES` raises it.

use std::path::Path;

use cockpit_core::{Location, Status};
use cockpit_k8s::K8sConfig;
use cockpit_k8s::manifest::{Read, is_helm_template, read_text, split_documents};
use proptest::prelude::*;

const PATH: &str = "deploy/agent.yaml";

fn read(src: &str) -> Read {
    let mut r = Read::default();
    read_text(PATH, src, &K8sConfig::default(), &mut r);
    r
}

/// Lines of `src` a location may name: 1 to one past the last, counting
/// line breaks as YAML does (`\n`, `\r\n` and a lone `\r`), so a file
/// of lone carriage returns is as many lines as the parser reports.
fn last_line(src: &str) -> u32 {
    let lone_cr = src
        .match_indices('\r')
        .filter(|(i, _)| !src[i + 1..].starts_with('\n'))
        .count();
    (src.matches('\n').count() + lone_cr) as u32 + 1
}

/// Objects sorted into the inventory, with the first line of the document
/// each came from.
fn objects(r: &Read) -> Vec<(String, String, u32)> {
    let inv = &r.inventory;
    let mut v: Vec<_> = inv
        .workloads
        .iter()
        .map(|w| &w.origin)
        .chain(inv.services.iter().map(|(o, _)| o))
        .chain(inv.hpas.iter().map(|(o, _)| o))
        .chain(inv.pdbs.iter().map(|(o, _)| o))
        .chain(inv.service_accounts.iter().map(|(o, _)| o))
        .map(|o| {
            let line = o.doc.as_ref().map_or(0, |d| d.first_line);
            (o.kind.clone(), o.name.clone(), line)
        })
        .collect();
    v.sort();
    v
}

/// Every finding names the file and a line inside it; every object read
/// from it too.
fn assert_located(src: &str, r: &Read) -> Result<(), TestCaseError> {
    let last = last_line(src);
    for f in &r.findings {
        prop_assert_eq!(f.check_id.as_str(), "CMP-MANIFEST");
        match &f.location {
            Some(Location::File { path, line, .. }) => {
                prop_assert_eq!(path, PATH);
                if let Some(l) = line {
                    prop_assert!(
                        (1..=last).contains(l),
                        "line {} of {}: {}",
                        l,
                        last,
                        f.summary
                    );
                }
            }
            other => prop_assert!(false, "not located in the file: {:?}", other),
        }
    }
    for (_, _, line) in objects(r) {
        prop_assert!(
            (1..=last).contains(&line),
            "object at line {} of {}",
            line,
            last
        );
    }
    Ok(())
}

/// Byte offset of a slice of `src`.
fn offset_in(src: &str, part: &str) -> usize {
    part.as_ptr() as usize - src.as_ptr() as usize
}

/// Text shaped like manifests: keys, markers, indentation, flow
/// collections, anchors and aliases, tags, quotes, comments and noise.
fn yamlish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("---\n".to_string()),
        Just("--- ".to_string()),
        Just("...\n".to_string()),
        Just("\n".to_string()),
        Just("\r\n".to_string()),
        Just("\r".to_string()),
        Just("  ".to_string()),
        Just("- ".to_string()),
        Just("apiVersion: apps/v1\n".to_string()),
        Just("kind: Deployment\n".to_string()),
        Just("kind: Service\n".to_string()),
        Just("metadata:\n  name: a\n".to_string()),
        Just("spec:\n".to_string()),
        Just("replicas: 3\n".to_string()),
        Just("{".to_string()),
        Just("}".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just(", ".to_string()),
        Just(": ".to_string()),
        Just("&a ".to_string()),
        Just("*a".to_string()),
        Just("<<: *a\n".to_string()),
        Just("!!str ".to_string()),
        Just("'q'".to_string()),
        Just("\"\\u00e9\"".to_string()),
        Just("|\n".to_string()),
        Just(">-\n".to_string()),
        Just("# c\n".to_string()),
        Just("{{ .Values.x }}".to_string()),
        Just("\t".to_string()),
        Just("\u{feff}".to_string()),
        "[a-z]{1,6}",
        ".{0,8}",
    ];
    prop::collection::vec(piece, 0..60).prop_map(|v| v.concat())
}

/// A nest of anchors, each aliasing the one before `fan` times (a
/// "billion laughs" of `fan ^ depth` nodes once expanded).
fn alias_bomb(depth: usize, fan: usize) -> String {
    let mut s = String::from("a0: &a0 [x, y]\n");
    for d in 1..=depth {
        let refs = vec![format!("*a{}", d - 1); fan].join(", ");
        s.push_str(&format!("a{d}: &a{d} [{refs}]\n"));
    }
    s
}

fn fixture(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name);
    std::fs::read_to_string(p).unwrap()
}

fn valid_fixtures() -> [String; 2] {
    [
        fixture("manifests/good/agent.yaml"),
        fixture("manifests/bad/agent.yaml"),
    ]
}

/// Damage `src`: bytes replaced, removed or inserted at char boundaries.
fn damage(src: &str, edits: &[(usize, usize, String)]) -> String {
    let mut s = src.to_string();
    for (at, remove, insert) in edits {
        let mut i = at % (s.len() + 1);
        while !s.is_char_boundary(i) {
            i -= 1;
        }
        let mut end = (i + remove).min(s.len());
        while !s.is_char_boundary(end) {
            end += 1;
        }
        s.replace_range(i..end, insert);
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(160))]

    #[test]
    fn documents_are_cut_at_their_markers(src in yamlish()) {
        let docs = split_documents(&src);
        let mut end = 0;
        for d in &docs {
            let at = offset_in(&src, d.text);
            prop_assert!(at >= end && at + d.text.len() <= src.len(), "documents overlap");
            end = at + d.text.len();
            // The first line is the line the document's text starts on.
            let line = src[..at].matches('\n').count() as u32 + 1;
            prop_assert_eq!(d.first_line, line);
            // No document holds only comments and blank lines.
            let content = d.text.lines().any(|l| {
                let t = l.trim();
                !t.is_empty() && !t.starts_with('#') && t != "---" && t != "..."
            });
            prop_assert!(content, "{:?}", d.text);
            // Nor a marker line of its own inside it.
            let marker = d.text.lines().skip(1).any(|l| {
                let l = l.trim_end_matches('\r');
                l == "---" || l.starts_with("--- ") || l.starts_with("---\t")
                    || l == "..." || l.starts_with("... ")
            });
            prop_assert!(!marker, "{:?}", d.text);
        }
    }

    #[test]
    fn yaml_shaped_noise_is_read_located_and_counted(src in yamlish()) {
        let r = read(&src);
        assert_located(&src, &r)?;
        let expected = if is_helm_template(&src) { 0 } else { split_documents(&src).len() };
        prop_assert_eq!(r.documents, expected);
        // Every document that did not become an object or a skip is an
        // error finding of its own at most once.
        let errors = r.findings.iter().filter(|f| f.status == Status::Error).count();
        prop_assert!(errors <= r.documents);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..1024)) {
        let src = String::from_utf8_lossy(&bytes);
        let r = read(&src);
        assert_located(&src, &r)?;
    }

}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn damaged_manifests_never_panic_and_stay_located(
        which in 0usize..2,
        edits in prop::collection::vec((any::<usize>(), 0usize..24, yamlish()), 1..4),
    ) {
        let src = damage(&valid_fixtures()[which], &edits);
        let r = read(&src);
        assert_located(&src, &r)?;
    }

    #[test]
    fn one_bad_document_leaves_the_others_audited(which in 0usize..2, pick in any::<usize>()) {
        let src = &valid_fixtures()[which];
        let docs = split_documents(src);
        let i = pick % docs.len();
        let (at, len) = (offset_in(src, docs[i].text), docs[i].text.len());
        // An unclosed flow sequence, not YAML whatever follows, on as many
        // lines as the document had (the others keep their lines).
        let lines = docs[i].text.matches('\n').count().max(1);
        let broken = format!("{}broken: [{}{}", &src[..at], "\n".repeat(lines), &src[at + len..]);
        let before = read(src);
        prop_assert!(before.findings.iter().all(|f| f.status != Status::Error));
        let after = read(&broken);
        prop_assert_eq!(after.documents, before.documents);
        // The objects of the other documents, and only those, are read.
        prop_assert!(!objects(&before).is_empty());
        let lost = docs[i].first_line;
        let kept: Vec<_> = objects(&before).into_iter().filter(|o| o.2 != lost).collect();
        prop_assert_eq!(objects(&after), kept);
        // One error, on the broken document's lines.
        let errors: Vec<_> = after.findings.iter().filter(|f| f.status == Status::Error).collect();
        prop_assert_eq!(errors.len(), 1, "{:?}", errors);
        let Some(Location::File { line: Some(l), .. }) = &errors[0].location else {
            panic!("unlocated: {:?}", errors[0]);
        };
        let last = lost + lines as u32;
        prop_assert!((lost..=last).contains(l), "error at {} for the document at lines {}..={}", l, lost, last);
    }
}

/// Aliases that would expand to 10^10 nodes end as a finding (the YAML
/// parser's budget), not as memory or time without end. One case: each
/// costs the parser's whole budget.
#[test]
fn an_alias_bomb_is_refused_within_the_budget() {
    let src = alias_bomb(10, 10);
    let started = std::time::Instant::now();
    let r = read(&src);
    assert_located(&src, &r).unwrap();
    assert_eq!(r.documents, 1);
    assert!(
        r.findings.iter().any(|f| f.status == Status::Error),
        "{:?}",
        r.findings
    );
    // A hang guard, not a timing assertion.
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
}
