//! `certify` against hostile inputs, run as a process: a saved report is
//! read only from a regular file within the size bound, its
//! `generated_at` and check ids are checked, huge cells render at once,
//! and the provenance never runs a program the repository configures.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use serde_json::Value;

/// A hang guard for the runs that used to take minutes (not a timing assertion).
const GUARD: Duration = Duration::from_secs(60);

fn fixture_text(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../cockpit-score/tests/fixtures")
        .join(format!("{name}.json"));
    std::fs::read_to_string(p).expect("fixture reads")
}

/// The `pass` fixture, changed by `edit`, written into `w`.
fn edited(w: &Workdir, name: &str, edit: impl FnOnce(&mut Value)) -> PathBuf {
    let mut v: Value = serde_json::from_str(&fixture_text("pass")).unwrap();
    edit(&mut v);
    w.file(name, &serde_json::to_string(&v).unwrap())
}

async fn certify(w: &Workdir, args: &[&str]) -> Output {
    let mut all = vec!["certify"];
    all.extend_from_slice(args);
    let child = command(&all, &Opts::default().cwd(w.path()))
        .spawn()
        .expect("spawn agentops-cockpit");
    wait(child, GUARD).await
}

#[tokio::test(flavor = "multi_thread")]
async fn from_reads_only_a_bounded_regular_file() {
    let w = Workdir::new();
    let fifo = w.fifo("report.json");
    let big = w.sparse("big.json", 65 * 1024 * 1024);
    let dir = w.join("adir");
    std::fs::create_dir(&dir).unwrap();
    for (path, says) in [
        (PathBuf::from("/dev/zero"), "not a regular file"),
        (fifo, "not a regular file"),
        (dir, "not a regular file"),
        (big, "larger than 67108864 bytes"),
    ] {
        let p = path.to_str().unwrap();
        let out = certify(&w, &["--from", p]).await;
        out.assert_code(2);
        assert!(
            out.stderr.contains(p) && out.stderr.contains(says),
            "{p}: {}",
            out.stderr
        );
        if path.is_dir() {
            continue; // --compare takes a run directory's report.json
        }
        // A baseline is read the same way.
        let pass = edited(&w, "pass.json", |_| {});
        let out = certify(&w, &["--from", pass.to_str().unwrap(), "--compare", p]).await;
        out.assert_code(2);
        assert!(out.stderr.contains(says), "--compare {p}: {}", out.stderr);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn from_refuses_a_malformed_generated_at_naming_file_and_field() {
    let w = Workdir::new();
    for bad in ["not a date", "2026-02-30T12:00:00Z", ""] {
        let f = edited(&w, "when.json", |v| v["generated_at"] = bad.into());
        let out = certify(&w, &["--from", f.to_str().unwrap()]).await;
        out.assert_code(2);
        assert!(
            out.stderr.contains("when.json") && out.stderr.contains("generated_at"),
            "{bad:?}: {}",
            out.stderr
        );
    }
    // A certification's report is checked the same way.
    let f = edited(&w, "ok.json", |_| {});
    let out = certify(&w, &["--from", f.to_str().unwrap(), "--format", "json"]).await;
    out.assert_code(0);
    let mut cert = out.json();
    cert["report"]["generated_at"] = "yesterday".into();
    let c = w.file("cert.json", &cert.to_string());
    let out = certify(&w, &["--from", c.to_str().unwrap()]).await;
    out.assert_code(2);
    assert!(out.stderr.contains("generated_at"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn from_refuses_an_unknown_check_id_naming_it() {
    let w = Workdir::new();
    let f = edited(&w, "unknown.json", |v| {
        v["findings"][1]["check_id"] = "NET-NOPE".into();
    });
    let out = certify(&w, &["--from", f.to_str().unwrap()]).await;
    out.assert_code(2);
    assert!(
        out.stderr.contains("unknown.json")
            && out.stderr.contains("findings[1]")
            && out.stderr.contains("unknown check id `NET-NOPE`"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_megabyte_summary_renders_at_once_and_stays_whole_in_json() {
    let w = Workdir::new();
    let huge = "x".repeat(1 << 20);
    let name = "d".repeat(300 * 1024);
    let f = edited(&w, "huge.json", |v| {
        v["findings"][0]["summary"] = huge.clone().into();
        v["findings"][1]["subject"] = name.clone().into();
        v["findings"][1]["recommendation"] = huge.clone().into();
    });
    let f = f.to_str().unwrap();
    for (format, cut) in [
        // The table wraps the cut cell over several lines.
        ("table", "x…".to_string()),
        ("markdown", format!("{}…", "x".repeat(399))),
    ] {
        let out = certify(&w, &["--from", f, "--format", format]).await;
        out.assert_code(0);
        assert!(out.stdout.contains(&cut), "{format}: the long cell is cut");
        assert!(
            !out.stdout.contains(&"x".repeat(1000)) && !out.stdout.contains(&"d".repeat(1000)),
            "{format}: a cell holds the whole text"
        );
    }
    let out = certify(&w, &["--from", f, "--format", "json"]).await;
    out.assert_code(0);
    let cert = out.json();
    assert_eq!(cert["report"]["findings"][0]["summary"], huge.as_str());
    assert_eq!(cert["report"]["findings"][1]["subject"], name.as_str());
}

fn git(dir: &Path, args: &[&str]) {
    let ok = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run git")
        .success();
    assert!(ok, "git {args:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_measured_run_runs_no_program_the_repository_configures() {
    use std::os::unix::fs::PermissionsExt as _;
    let tb = testbed(fast()).await;
    let w = Workdir::new();
    let repo = w.join("repo");
    std::fs::create_dir(&repo).unwrap();
    let marker = w.join("ran");
    let script = w.join("evil.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$0 $*\" >> '{}'\ncat\n", marker.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    git(&repo, &["init", "-q"]);
    let cfg = repo.join("cockpit.toml");
    std::fs::write(
        &cfg,
        format!(
            "{PROBE}[gate]\nthreshold = 50\n\n{}[[agents]]\nname = \"chat\"\nendpoint = \"{}/v1\"\nprotocol = \"openai\"\nretrieval = []\n",
            one_agent_scope(),
            tb.base_url()
        ),
    )
    .unwrap();
    git(&repo, &["add", "cockpit.toml"]);
    git(&repo, &["commit", "-qm", "config"]);
    let s = script.to_str().unwrap();
    for (k, v) in [
        ("core.fsmonitor", s),
        ("filter.evil.clean", s),
        ("diff.external", s),
        ("core.pager", s),
    ] {
        git(&repo, &["config", k, v]);
    }
    std::fs::write(repo.join(".git/info/attributes"), "* filter=evil\n").unwrap();
    // A tracked file that changed, so git must compare content.
    std::fs::write(&cfg, std::fs::read_to_string(&cfg).unwrap() + "\n").unwrap();

    // The gate's SLOs read the evidence the pillars really write.
    let out = run_with(
        &[
            "certify",
            "--format",
            "json",
            "--no-evidence",
            "--slo",
            "ttft:p(95)<60s",
            "--slo",
            "cold_start<60s",
        ],
        &Opts::default().cwd(&repo),
    )
    .await;
    out.assert_code(0);
    let cert = out.json();
    for slo in cert["slos"].as_array().unwrap() {
        assert_eq!(slo["status"], "pass", "{slo}");
    }
    let git_rev = &cert["report"]["provenance"]["git"];
    assert_eq!(git_rev["dirty"], true, "{git_rev}");
    assert!(
        !marker.exists(),
        "certify ran a program from the repository's git config: {}",
        std::fs::read_to_string(&marker).unwrap_or_default()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_git_that_never_answers_is_abandoned() {
    use std::os::unix::fs::PermissionsExt as _;
    let tb = testbed(fast()).await;
    let w = Workdir::new();
    let bin = w.join("bin");
    std::fs::create_dir(&bin).unwrap();
    let git = bin.join("git");
    std::fs::write(&git, "#!/bin/sh\nexec sleep 600\n").unwrap();
    std::fs::set_permissions(&git, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    w.file(
        "cockpit.toml",
        &format!(
            "{PROBE}[gate]\nthreshold = 50\n\n{}[[agents]]\nname = \"chat\"\nendpoint = \"{}/v1\"\nprotocol = \"openai\"\nretrieval = []\n",
            one_agent_scope(),
            tb.base_url()
        ),
    );
    let child = command(
        &["certify", "--format", "json", "--no-evidence"],
        &Opts::default().cwd(w.path()).env("PATH", &path),
    )
    .spawn()
    .expect("spawn agentops-cockpit");
    let out = wait(child, GUARD).await;
    out.assert_code(0);
    let prov = &out.json()["report"]["provenance"];
    assert!(prov["git"].is_null(), "{prov}");
    assert!(prov["config_sha256"].is_string(), "{prov}");
}
