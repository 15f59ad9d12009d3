//! The SARIF output in the shape GitHub code scanning takes: Microsoft's
//! SARIF multitool (npm `@microsoft/sarif-multitool`, installed into
//! `target/npm` when missing; `cargo xtask ci` installs it too) validates
//! every fixture's log with the GitHub and SARIF rule sets and finds no
//! error; every rule carries its page's description, fix and address;
//! findings about a configuration entry sit on the line of its table; a
//! finding with no file to sit in is a notification, never a result
//! without a physical location.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use cockpit_core::Report;
use cockpit_score::{Date, Format, GatePolicy, certify, read_report};
use serde_json::Value;

/// The package and version the test runs (the same in xtask).
const MULTITOOL: &str = "@microsoft/sarif-multitool@5.7.0";

fn fixture(name: &str) -> Report {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/{name}.json"));
    read_report(&p).unwrap()
}

fn sarif_text(report: &Report) -> String {
    let cert = certify(
        report,
        &GatePolicy::default(),
        Date::new(2026, 3, 1).unwrap(),
    );
    Format::Sarif.render(&cert, false).unwrap()
}

fn sarif(report: &Report) -> Value {
    serde_json::from_str(&sarif_text(report)).unwrap()
}

/// target/ (the test binary lives in target/<profile>/deps).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.ancestors()
        .nth(3)
        .expect("the test binary lives in target/<profile>/deps")
        .to_path_buf()
}

/// The multitool's Linux executable, installed when missing. npm may not
/// run the package's install script (which only sets the executable bit),
/// so the bit is set here.
fn multitool() -> &'static Path {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| {
        let prefix = target_dir().join("npm");
        let exe = prefix.join("node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool");
        if !exe.is_file() {
            let out = Command::new("npm")
                .args(["install", "--no-audit", "--no-fund", "--prefix"])
                .arg(&prefix)
                .arg(MULTITOOL)
                .output()
                .expect("npm runs");
            assert!(
                out.status.success(),
                "npm install {MULTITOOL} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        use std::os::unix::fs::PermissionsExt as _;
        let mut perms = std::fs::metadata(&exe)
            .expect("the multitool")
            .permissions();
        perms.set_mode(perms.mode() | 0o700);
        std::fs::set_permissions(&exe, perms).unwrap();
        exe
    })
}

/// The multitool's errors and warnings for one log.
fn validate(name: &str, log: &str) -> (Vec<String>, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join(format!("{name}.sarif"));
    std::fs::write(&input, log).unwrap();
    let out = Command::new(multitool())
        .args(["validate", "--rule-kind", "Gh;Sarif", "--output"])
        .arg(dir.path().join("validation.sarif"))
        .arg(&input)
        .output()
        .expect("the multitool runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        stdout.contains("1 files scanned"),
        "the multitool did not scan {name}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pick = |kind: &str| {
        stdout
            .lines()
            .filter(|l| l.contains(&format!(": {kind} ")))
            .map(str::to_string)
            .collect()
    };
    (pick("error"), pick("warning"))
}

fn without_config(mut report: Report) -> Report {
    if let Some(p) = &mut report.provenance {
        p.config_path = None;
        p.config_lines.clear();
    }
    report
}

#[test]
fn the_github_rule_set_finds_no_error_in_any_log() {
    for name in ["pass", "fail", "not-measured", "unreachable", "waivable"] {
        let (errors, _) = validate(name, &sarif_text(&fixture(name)));
        assert!(errors.is_empty(), "{name}:\n{}", errors.join("\n"));
        let (errors, _) = validate(name, &sarif_text(&without_config(fixture(name))));
        assert!(
            errors.is_empty(),
            "{name} without a configuration:\n{}",
            errors.join("\n")
        );
    }
}

#[test]
fn the_validation_is_not_vacuous() {
    // A rule without a fullDescription, a result without a location: what
    // code scanning refuses, the multitool reports.
    let mut log = sarif(&fixture("fail"));
    let run = &mut log["runs"][0];
    run["tool"]["driver"]["rules"][0]
        .as_object_mut()
        .unwrap()
        .remove("fullDescription");
    run["results"][0]
        .as_object_mut()
        .unwrap()
        .remove("locations");
    let (errors, _) = validate("broken", &log.to_string());
    assert!(errors.iter().any(|e| e.contains("GH2012")), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("GH1015")), "{errors:?}");
}

#[test]
fn every_rule_has_a_description_a_fix_and_its_page() {
    let log = sarif(&fixture("fail"));
    let driver = &log["runs"][0]["tool"]["driver"];
    assert!(
        driver["informationUri"]
            .as_str()
            .unwrap()
            .starts_with("http")
    );
    let rules = driver["rules"].as_array().unwrap();
    assert!(!rules.is_empty());
    for rule in rules {
        let id = rule["id"].as_str().unwrap();
        let full = rule["fullDescription"]["text"].as_str().unwrap();
        assert!(
            full.len() > 20 && full != rule["shortDescription"]["text"],
            "{id}: {full}"
        );
        let uri = rule["helpUri"].as_str().unwrap();
        assert!(
            uri.starts_with(cockpit_score::PROJECT_URL)
                && uri.ends_with(&format!("/docs/checks/{id}.md")),
            "{id}: {uri}"
        );
        let md = rule["help"]["markdown"].as_str().unwrap();
        assert!(md.contains("## Fix") && md.contains("```"), "{id}: {md}");
        assert!(md.contains(uri), "{id}: {md}");
    }
}

#[test]
fn findings_about_a_configuration_entry_sit_on_its_table() {
    let log = sarif(&fixture("fail"));
    let results = log["runs"][0]["results"].as_array().unwrap();
    let line_of = |rule: &str, needle: &str| {
        let r = results
            .iter()
            .find(|r| {
                r["ruleId"] == rule && r["message"]["text"].as_str().unwrap().contains(needle)
            })
            .unwrap_or_else(|| panic!("no {rule} result about {needle}"));
        let phys = &r["locations"][0]["physicalLocation"];
        (
            phys["artifactLocation"]["uri"]
                .as_str()
                .unwrap()
                .to_string(),
            phys["region"]["startLine"].as_i64().unwrap(),
        )
    };
    let toml = |line: i64| ("cockpit.toml".to_string(), line);
    // The fixture's [[agents]] "search" table starts on line 21: its
    // endpoint finding, its metrics endpoint's and its configuration
    // entry's (`agents.search`) all sit there.
    assert_eq!(line_of("NET-TTFT", "912"), toml(21));
    assert_eq!(line_of("OBS-TTFT", ""), toml(21));
    assert_eq!(line_of("NET-ZONE", ""), toml(21));
    // A finding about an entry the configuration does not declare: the file.
    assert_eq!(line_of("STA-PERSIST", ""), toml(1));
    // File findings keep their own place.
    assert_eq!(
        line_of("CIC-GATE", ""),
        (".github/workflows/deploy.yml".to_string(), 42)
    );
}

#[test]
fn without_a_configuration_no_result_lacks_a_physical_location() {
    let report = without_config(fixture("fail"));
    let log = sarif(&report);
    let run = &log["runs"][0];
    let results = run["results"].as_array().unwrap();
    for r in results {
        assert!(r["locations"][0]["physicalLocation"].is_object(), "{r:#}");
    }
    // The file findings stay results; the others are the invocation's
    // notifications, with their rule and level.
    assert!(results.iter().any(|r| r["ruleId"] == "CIC-GATE"));
    let notes = run["invocations"][0]["toolExecutionNotifications"]
        .as_array()
        .unwrap();
    let ttft = notes
        .iter()
        .find(|n| n["associatedRule"]["id"] == "NET-TTFT")
        .expect("the NET-TTFT failure as a notification");
    assert_eq!(ttft["level"], "error");
    assert!(
        ttft["message"]["text"].as_str().unwrap().contains("912"),
        "{ttft:#}"
    );
    let not_passing = report
        .findings
        .iter()
        .filter(|f| {
            !matches!(
                f.status,
                cockpit_core::Status::Pass | cockpit_core::Status::Skipped
            )
        })
        .count();
    assert_eq!(results.len() + notes.len(), not_passing);
}

#[test]
fn the_audited_revision_is_the_runs_version_control_provenance() {
    let log = sarif(&fixture("fail"));
    let vcp = &log["runs"][0]["versionControlProvenance"][0];
    assert_eq!(vcp["repositoryUri"], "https://github.com/acme/agents.git");
    assert_eq!(
        vcp["revisionId"],
        "a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2"
    );
    // No remote recorded: no provenance entry (repositoryUri is required).
    let log = sarif(&fixture("pass"));
    assert!(log["runs"][0].get("versionControlProvenance").is_none());
}

#[test]
fn a_finding_suppressed_where_its_object_lives_is_a_suppressed_result_and_a_skipped_case() {
    let mut report = fixture("fail");
    let warm = report
        .findings
        .iter_mut()
        .find(|f| f.check_id.as_str() == "CMP-WARM")
        .unwrap();
    warm.status = cockpit_core::Status::Skipped;
    warm.suppressed = Some("scaled to zero on purpose: batch agent".into());
    report.recount();
    let text = sarif_text(&report);
    let log: Value = serde_json::from_str(&text).unwrap();
    let r = log["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ruleId"] == "CMP-WARM")
        .expect("the suppressed finding is a result");
    assert_eq!(r["suppressions"][0]["kind"], "inSource");
    assert_eq!(
        r["suppressions"][0]["justification"],
        "scaled to zero on purpose: batch agent"
    );
    assert_eq!(r["level"], "note");
    let (errors, _) = validate("suppressed", &text);
    assert!(errors.is_empty(), "{}", errors.join("\n"));

    let cert = certify(
        &report,
        &GatePolicy::default(),
        Date::new(2026, 3, 1).unwrap(),
    );
    let junit = Format::Junit.render(&cert, false).unwrap();
    let case = &junit[junit.find("<testcase name=\"CMP-WARM").unwrap()..];
    let case = &case[..case.find("</testcase>").unwrap()];
    assert!(
        case.contains("<skipped message=\"suppressed where the object lives: scaled to zero on purpose: batch agent\""),
        "{case}"
    );
}
