//! With no --config and no ./cockpit.toml, `audit report` audits the
//! embedded reference testbed (about 20 s in a debug build).

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread")]
async fn no_config_audits_the_embedded_testbed() {
    let w = Workdir::new();
    assert!(!w.join("cockpit.toml").exists());
    let out = run_with(
        &[
            "audit", "report", "--format", "json", "--format", "table", "--out", "out",
        ],
        &Opts::default().cwd(w.path()),
    )
    .await;
    out.assert_code(0);
    // The embedded gate declares CI/CD out of scope: the table says so,
    // and does not call it a pillar certify would fail on.
    let table = std::fs::read_to_string(w.join("out/report.txt")).unwrap();
    assert!(
        table.contains("Out of scope ([[gate.out_of_scope]]): CI/CD"),
        "{table}"
    );
    assert!(!table.contains("Not measured:"), "{table}");
    assert!(
        out.stderr.contains("embedded"),
        "stderr does not say the embedded testbed is audited: {}",
        out.stderr
    );
    let report = read_json(&w.join("out/report.json"));
    assert_schema_valid(&report);
    assert_eq!(report["interrupted"], false);
    let ids: Vec<&str> = findings(&report)
        .iter()
        .map(|f| f["check_id"].as_str().unwrap())
        .collect();
    for id in [
        "NET-TTFT",
        "NET-TAIL",
        "NET-PROTO",
        "NET-ZONE",
        "CMP-TTR",
        "OBS-TTFT",
    ] {
        assert!(ids.contains(&id), "no {id} finding in {ids:?}");
    }
    // Everything configured was measured.
    for f in findings(&report) {
        assert_ne!(f["status"], "not-measured", "{f:#}");
        assert_ne!(f["status"], "error", "{f:#}");
    }
    // Nothing was written into the working directory but the run's
    // report in the evidence lake and the files asked for.
    let mut entries: Vec<_> = std::fs::read_dir(w.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    entries.sort();
    assert_eq!(entries, [".cockpit", "out"], "{entries:?}");
    let runs: Vec<_> = std::fs::read_dir(w.join(".cockpit/evidence"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(read_json(&runs[0].join("report.json")), report);
}
