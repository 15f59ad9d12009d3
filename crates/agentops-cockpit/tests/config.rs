//! Configuration errors: exit code 2, with `path:line:column:` on stderr.

mod common;

use common::*;

const AGENT: &str =
    "[[agents]]\nname = \"a\"\nendpoint = \"http://127.0.0.1:9/v1\"\nprotocol = \"openai\"\n";

/// Run `audit report --config` on `text`; expect exit 2 and an error that
/// starts with `path:line:column:` and mentions every word of `mentions`.
async fn rejects(text: &str, line: usize, column: usize, mentions: &[&str]) {
    let w = Workdir::new();
    let cfg = w.config(text);
    let out = run_with(
        &["audit", "report", "--config", cfg.to_str().unwrap()],
        &Opts::default().cwd(w.path()),
    )
    .await;
    out.assert_code(2);
    let want = format!("error: {}:{line}:{column}: ", cfg.display());
    assert!(
        out.stderr.contains(&want),
        "expected {want:?} in stderr for\n{text}\n--- stderr ---\n{}",
        out.stderr
    );
    for m in mentions {
        assert!(out.stderr.contains(m), "{m:?} not in {}", out.stderr);
    }
    // Nothing was audited.
    assert!(out.stdout.is_empty(), "stdout: {}", out.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_key_is_located() {
    rejects(
        "[probe]\nsamples = 5\nsampels = 3\n",
        3,
        1,
        &["unknown field", "sampels"],
    )
    .await;
    // Inside an array of tables too.
    rejects(&format!("{AGENT}endpont = \"x\"\n"), 5, 1, &["endpont"]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_type_is_located() {
    rejects(
        "[probe]\nsamples = \"five\"\n",
        2,
        11,
        &["invalid type", "five"],
    )
    .await;
    rejects(
        "[thresholds]\nttft_p95_ms = true\n",
        2,
        15,
        &["invalid type"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_url_scheme_is_located() {
    rejects(
        "[[agents]]\nname = \"a\"\nendpoint = \"ftp://127.0.0.1:9/v1\"\nprotocol = \"openai\"\n",
        3,
        12,
        &["ftp"],
    )
    .await;
    rejects(
        &format!("{AGENT}\n[[retrieval]]\nname = \"v\"\ngrpc_endpoint = \"tcp://127.0.0.1:9\"\n"),
        8,
        17,
        &["tcp"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn semantic_errors_are_located() {
    // A name used twice.
    rejects(&format!("{AGENT}\n{AGENT}"), 2, 8, &["used twice"]).await;
    // A reference to an undefined backend.
    rejects(
        &format!("{AGENT}retrieval = [\"nowhere\"]\n"),
        5,
        14,
        &["nowhere"],
    )
    .await;
    // A threshold that is not positive.
    rejects("[thresholds]\nttft_p95_ms = 0\n", 2, 1, &["ttft_p95_ms"]).await;
    // Probe settings out of range, a huge timeout among them (it used to
    // panic converting to a duration).
    for (toml, key) in [
        ("[probe]\ntimeout_s = 1e300\n", "timeout_s"),
        ("[probe]\ntimeout_s = -1.0\n", "timeout_s"),
        ("[probe]\ntimeout_s = 86401.0\n", "timeout_s"),
        ("[probe]\nsamples = 0\n", "samples"),
        ("[probe]\nconcurrency = 4096\n", "concurrency"),
    ] {
        rejects(toml, 2, 1, &[key, "probe."]).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_config_file_names_the_path() {
    let w = Workdir::new();
    let missing = w.join("does-not-exist.toml");
    let out = run_with(
        &["audit", "report", "--config", missing.to_str().unwrap()],
        &Opts::default().cwd(w.path()),
    )
    .await;
    out.assert_code(2);
    assert!(
        out.stderr.contains(missing.to_str().unwrap()),
        "stderr does not name the path: {}",
        out.stderr
    );
    assert!(out.stdout.is_empty(), "stdout: {}", out.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_cockpit_toml_in_the_working_directory_is_not_ignored() {
    // Without --config, ./cockpit.toml is read: a broken one is an error,
    // never a silent fall-back to the embedded testbed.
    let w = Workdir::new();
    w.file("cockpit.toml", "[probe]\nsampels = 3\n");
    let out = run_with(&["audit", "report"], &Opts::default().cwd(w.path())).await;
    out.assert_code(2);
    assert!(
        out.stderr.contains("cockpit.toml:2:1:"),
        "stderr: {}",
        out.stderr
    );
    assert!(!out.stderr.contains("embedded"), "stderr: {}", out.stderr);
}
