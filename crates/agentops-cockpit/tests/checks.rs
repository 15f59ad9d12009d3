//! `checks list` / `checks explain ID`, and `--include` / `--exclude` on
//! `certify` (here over saved reports, `--from`) and `audit report`.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../cockpit-score/tests/fixtures")
        .join(format!("{name}.json"))
        .to_str()
        .expect("utf-8 path")
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn checks_list_gives_every_check_with_its_page() {
    let out = run(&["checks", "list", "--format", "json"]).await;
    out.assert_code(0);
    let list: Value = out.json();
    let list = list.as_array().unwrap();
    assert!(list.len() >= 40, "{}", list.len());
    let image = list
        .iter()
        .find(|c| c["id"] == "CIC-IMAGE")
        .expect("CIC-IMAGE listed");
    assert_eq!(image["pillar"], "cicd");
    assert_eq!(image["severity"], "high");
    assert!(image["title"].as_str().unwrap().contains("pinned"));
    let url = image["doc_url"].as_str().unwrap();
    assert!(
        url.starts_with("http") && url.ends_with("/docs/checks/CIC-IMAGE.md"),
        "{url}"
    );
    let table = run(&["checks", "list"]).await;
    table.assert_code(0);
    assert!(table.stdout.contains("NET-TTFT") && table.stdout.contains("Severity"));
}

#[tokio::test(flavor = "multi_thread")]
async fn checks_explain_prints_the_page_with_its_fix() {
    let out = run(&["checks", "explain", "cic-image"]).await;
    out.assert_code(0);
    assert!(out.stdout.starts_with("# CIC-IMAGE — "), "{}", out.stdout);
    assert!(out.stdout.contains("## Fix"), "{}", out.stdout);
    let out = run(&["checks", "explain", "NOPE-1"]).await;
    out.assert_code(2);
    assert!(
        out.stderr.contains("NOPE-1") && out.stderr.contains("checks list"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn exclude_and_include_select_the_findings_certify_scores() {
    let w = Workdir::new();
    let f = fixture("fail");
    let certify = |extra: &'static [&'static str]| {
        let mut args = vec!["certify", "--from", f.as_str(), "--format", "json"];
        args.extend_from_slice(extra);
        let opts = Opts::default().cwd(w.path());
        async move { run_with(&args, &opts).await }
    };
    let ids = |out: &Output| -> Vec<String> {
        let cert = out.json();
        cert["report"]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["check_id"].as_str().unwrap().to_string())
            .collect()
    };
    let all = certify(&[]).await;
    all.assert_code(1);
    assert!(ids(&all).contains(&"CIC-GATE".to_string()));

    let out = certify(&["--exclude", "CIC-GATE", "--exclude", "state"]).await;
    let kept = ids(&out);
    assert!(!kept.contains(&"CIC-GATE".to_string()), "{kept:?}");
    assert!(!kept.iter().any(|i| i.starts_with("STA-")), "{kept:?}");
    assert!(kept.contains(&"NET-TTFT".to_string()), "{kept:?}");
    // A pillar left out entirely is out of scope, not unmeasured.
    let cert = out.json();
    let state = cert["pillars"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pillar"] == "state")
        .unwrap();
    assert_eq!(state["verdict"], "out-of-scope", "{state:#}");

    let out = certify(&["--include", "network"]).await;
    let kept = ids(&out);
    assert!(!kept.is_empty());
    assert!(kept.iter().all(|i| i.starts_with("NET-")), "{kept:?}");

    let out = certify(&["--exclude", "CIC-NOPE"]).await;
    out.assert_code(2);
    assert!(out.stderr.contains("--exclude CIC-NOPE"), "{}", out.stderr);
}
