//! Every check id a pillar defines has its docs page (`docs/checks/<ID>.md`)
//! and at least one test that names it (an integration test under
//! `crates/*/tests/`, or a unit-test module in `crates/*/src/`), so the next
//! check cannot land without both. Reads the real catalogue of every pillar
//! crate and the real tree.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn catalogue() -> Vec<(&'static str, &'static str)> {
    cockpit_probe::checks::ALL
        .iter()
        .chain(cockpit_stm::checks::ALL.iter())
        .chain(cockpit_k8s::checks::ALL.iter())
        .chain(cockpit_deps::checks::ALL.iter())
        .chain(cockpit_fleet::checks::ALL.iter())
        .chain(cockpit_sim::checks::ALL.iter())
        .chain(cockpit_shadow::checks::ALL.iter())
        .chain(cockpit_watchtower::checks::ALL.iter())
        .chain(cockpit_hive::checks::ALL.iter())
        .map(|c| (c.id.as_str(), c.title))
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let ty = e.file_type().expect("file type");
        if ty.is_dir() {
            rust_files(&p, out);
        } else if ty.is_file() && p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The text of every test in the workspace: integration test files whole,
/// and the `#[cfg(test)]` part of source files.
fn test_texts() -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    for krate in std::fs::read_dir(root().join("crates"))
        .expect("crates/")
        .flatten()
    {
        rust_files(&krate.path().join("tests"), &mut files);
        rust_files(&krate.path().join("src"), &mut files);
    }
    files
        .into_iter()
        .filter_map(|p| {
            let text = std::fs::read_to_string(&p).ok()?;
            let in_tests = p.components().any(|c| c.as_os_str() == "tests");
            let text = if in_tests {
                text
            } else {
                text.find("#[cfg(test)]").map(|i| text[i..].to_string())?
            };
            Some((p, text))
        })
        .collect()
}

#[test]
fn the_catalogue_is_not_empty_and_ids_are_unique() {
    let ids = catalogue();
    assert!(ids.len() >= 20, "{ids:?}");
    let mut sorted: Vec<_> = ids.iter().map(|(id, _)| *id).collect();
    sorted.sort();
    let before = sorted.len();
    sorted.dedup();
    assert_eq!(before, sorted.len(), "a check id is defined twice");
}

#[test]
fn every_check_has_a_docs_page() {
    let missing: Vec<_> = catalogue()
        .into_iter()
        .filter(|(id, _)| !root().join(format!("docs/checks/{id}.md")).is_file())
        .collect();
    assert!(missing.is_empty(), "no docs/checks/<ID>.md for {missing:?}");
}

#[test]
fn every_check_is_named_by_a_test() {
    let tests = test_texts();
    assert!(tests.len() > 20, "test files found: {}", tests.len());
    let missing: Vec<_> = catalogue()
        .into_iter()
        .filter(|(id, _)| {
            // By its id (`"NET-TTFT"`) or its constant (`NET_TTFT`).
            let constant = id.replace('-', "_");
            !tests
                .iter()
                .any(|(_, t)| t.contains(id) || t.contains(&constant))
        })
        .collect();
    assert!(missing.is_empty(), "no test names {missing:?}");
}
