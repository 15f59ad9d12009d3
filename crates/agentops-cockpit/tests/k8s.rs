//! The Compute and CI/CD pillar through the CLI, as a process: manifest
//! globs, Cloud Run exports, pipelines, a live cluster served by the fake
//! API server through a kubeconfig, and the `[kubernetes]` section.

mod common;

use std::path::PathBuf;

use cockpit_k8s::testing::{FakeApiServer, FakeCluster, kubeconfig_text};
use common::{Opts, Workdir, findings, run_with};
use serde_json::Value;

fn fixtures() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../cockpit-k8s/fixtures"
    ))
}

fn finding<'a>(report: &'a Value, check: &str, subject_end: &str) -> &'a Value {
    findings(report)
        .iter()
        .find(|f| {
            f["check_id"] == check
                && f["subject"]
                    .as_str()
                    .is_some_and(|s| s.ends_with(subject_end))
        })
        .unwrap_or_else(|| panic!("no {check} for {subject_end} in {report:#}"))
}

#[tokio::test]
async fn manifests_glob_offline_without_testbed() {
    let wd = Workdir::new();
    let pattern = format!("{}/manifests/**/*.yaml", fixtures().display());
    let out = run_with(
        &[
            "audit",
            "report",
            "--manifests",
            &pattern,
            "--format",
            "json",
            "--no-evidence",
        ],
        &Opts::default().cwd(wd.path()),
    )
    .await;
    out.assert_code(0);
    let r = out.json();
    let warm = finding(&r, "CMP-WARM", "agents/Deployment/cold-agent");
    assert_eq!(warm["status"], "fail");
    let loc = warm["location"].clone();
    assert_eq!(loc["type"], "file");
    assert_eq!(loc["line"], 10);
    assert!(
        loc["path"]
            .as_str()
            .unwrap()
            .ends_with("manifests/bad/agent.yaml")
    );
    assert_eq!(
        finding(&r, "CMP-WARM", "agents/Deployment/chat-agent")["status"],
        "pass"
    );
    // Only the manifests were audited: no testbed, no network findings.
    assert!(
        !findings(&r).iter().any(|f| f["pillar"] == "network"),
        "{r:#}"
    );
    assert!(
        !out.stderr.contains("embedded reference testbed"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn cloud_run_and_pipelines() {
    let wd = Workdir::new();
    let good = fixtures().join("cloudrun/good.yaml");
    let ungated = fixtures().join("workflows/ungated");
    let out = run_with(
        &[
            "audit",
            "report",
            "--cloud-run",
            good.to_str().unwrap(),
            "--pipelines",
            ungated.to_str().unwrap(),
            "--format",
            "json",
            "--no-evidence",
        ],
        &Opts::default().cwd(wd.path()),
    )
    .await;
    out.assert_code(0);
    let r = out.json();
    assert_eq!(
        finding(&r, "CMP-BOOST", "Service/chat-agent")["status"],
        "pass"
    );
    let gate = findings(&r)
        .iter()
        .find(|f| f["check_id"] == "CIC-GATE")
        .unwrap();
    assert_eq!(gate["status"], "fail");
    assert!(
        gate["summary"]
            .as_str()
            .unwrap()
            .contains("No Sovereign Gate: Direct-to-Prod")
    );
    assert_eq!(gate["pillar"], "cicd");
}

#[tokio::test]
async fn glob_matching_nothing_is_a_usage_error() {
    let wd = Workdir::new();
    let out = run_with(
        &[
            "audit",
            "report",
            "--manifests",
            "deploy/**/*.yaml",
            "--no-evidence",
        ],
        &Opts::default().cwd(wd.path()),
    )
    .await;
    out.assert_code(2);
    assert!(
        out.stderr.contains("`deploy/**/*.yaml` matches no file"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn live_cluster_through_kubeconfig() {
    let recorded = fixtures().join("cluster/recorded.json");
    let server = FakeApiServer::start(FakeCluster::recorded(&recorded).unwrap(), "agents")
        .await
        .unwrap();
    let wd = Workdir::new();
    let out = run_with(
        &[
            "audit",
            "report",
            "--kube-context",
            "fake",
            "--namespace",
            "agents",
            "--format",
            "json",
            "--no-evidence",
        ],
        &Opts::default()
            .cwd(wd.path())
            .env("KUBECONFIG", server.kubeconfig().to_str().unwrap()),
    )
    .await;
    out.assert_code(0);
    let r = out.json();
    let ap = findings(&r)
        .iter()
        .find(|f| f["check_id"] == "CMP-AUTOPILOT")
        .unwrap();
    assert_eq!(ap["status"], "pass", "{ap:#}");
    let ready = finding(&r, "CMP-READY", "agents/Deployment/chat-agent");
    let m = &ready["measurements"][0];
    assert_eq!(m["name"], "start_to_ready_max");
    assert_eq!(m["value"], 10.0);
    assert_eq!(m["samples"], 3);
    assert_eq!(ready["location"]["type"], "object");
    assert!(!server.requests().is_empty());
}

#[tokio::test]
async fn missing_kubeconfig_is_not_measured_and_exit_3() {
    let wd = Workdir::new();
    let missing = wd.join("no-kubeconfig");
    let out = run_with(
        &[
            "audit",
            "report",
            "--kube-context",
            "prod",
            "--format",
            "json",
            "--no-evidence",
        ],
        &Opts::default()
            .cwd(wd.path())
            .env("KUBECONFIG", missing.to_str().unwrap())
            .env("HOME", wd.path().to_str().unwrap()),
    )
    .await;
    out.assert_code(3);
    let r = out.json();
    let f = findings(&r)
        .iter()
        .find(|f| f["status"] == "not-measured")
        .unwrap();
    assert!(
        f["summary"].as_str().unwrap().contains("kubeconfig"),
        "{f:#}"
    );
    assert_eq!(f["subject"], "kube context prod");
}

#[tokio::test]
async fn kubernetes_section_in_config() {
    let wd = Workdir::new();
    let manifests = fixtures().join("manifests/good");
    let cfg = wd.config(&format!(
        "[kubernetes]\nmanifests = [\"{}\"]\nagents = [\"chat-agent\"]\nmemory_floor_mib = 16384\n",
        manifests.display()
    ));
    let out = common::audit_json(&cfg, &["--no-evidence"]).await;
    out.assert_code(0);
    let r = out.json();
    // 8Gi is below the configured 16 GiB floor.
    let res = finding(&r, "CMP-RES", "Deployment/chat-agent");
    assert_eq!(res["status"], "warn", "{res:#}");

    let bad = wd.config("[kubernetes]\nmanifest = [\"x\"]\n");
    let out = common::audit_json(&bad, &["--no-evidence"]).await;
    out.assert_code(2);
    assert!(
        out.stderr.contains(".toml:2:1:") && out.stderr.contains("manifest"),
        "{}",
        out.stderr
    );

    let bad = wd.config("[kubernetes]\nready_threshold_s = -1\n");
    let out = common::audit_json(&bad, &["--no-evidence"]).await;
    out.assert_code(2);
    assert!(
        out.stderr.contains(".toml:2:1:") && out.stderr.contains("ready_threshold_s"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn gate_min_pipeline_threshold_holds_the_pipeline_certify() {
    // The workflow's certify uses --threshold 95: a gate under the default
    // minimum (90), no gate under `[gate] min_pipeline_threshold = 99`.
    let wd = Workdir::new();
    let workflow = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../cockpit-k8s/tests/fixtures/gate/github/honest-needs.yml"
    ));
    let pipelines = format!("[kubernetes]\npipelines = [\"{}\"]\n", workflow.display());
    for (gate, status) in [
        ("", "pass"),
        ("[gate]\nmin_pipeline_threshold = 99\n", "fail"),
    ] {
        let cfg = wd.config(&format!("{pipelines}{gate}"));
        let out = common::audit_json(&cfg, &["--no-evidence"]).await;
        out.assert_code(0);
        let r = out.json();
        let f = finding(&r, "CIC-GATE", "job deploy");
        assert_eq!(f["status"], status, "{f:#}");
        if status == "fail" {
            let s = f["summary"].as_str().unwrap();
            assert!(
                s.contains("--threshold 95, below the policy minimum 99"),
                "{s}"
            );
        }
    }
    let bad = wd.config(&format!(
        "{pipelines}[gate]\nmin_pipeline_threshold = 120\n"
    ));
    let out = common::audit_json(&bad, &["--no-evidence"]).await;
    out.assert_code(2);
    assert!(
        out.stderr.contains("min_pipeline_threshold"),
        "{}",
        out.stderr
    );
}

/// A directory `d` holding the bad-agent manifest and a workflow, with
/// links back to itself (`a -> .`, `b -> .`, `sub/up -> ..`).
#[cfg(unix)]
fn looped(wd: &Workdir) -> PathBuf {
    use std::os::unix::fs::symlink;
    let d = wd.join("d");
    std::fs::create_dir_all(d.join("sub")).unwrap();
    std::fs::copy(
        fixtures().join("manifests/bad/agent.yaml"),
        d.join("agent.yaml"),
    )
    .unwrap();
    std::fs::copy(
        fixtures().join("workflows/ungated/deploy.yml"),
        d.join("sub/deploy.yml"),
    )
    .unwrap();
    symlink(".", d.join("a")).unwrap();
    symlink(".", d.join("b")).unwrap();
    symlink("..", d.join("sub/up")).unwrap();
    d
}

fn check_count(report: &Value, check_prefix: &str) -> usize {
    findings(report)
        .iter()
        .filter(|f| f["check_id"].as_str().unwrap().starts_with(check_prefix))
        .count()
}

#[cfg(unix)]
#[tokio::test]
async fn symlink_loops_end_and_each_file_is_audited_once() {
    let wd = Workdir::new();
    looped(&wd);
    let clean = fixtures().join("manifests/bad/agent.yaml");
    let run = |args: Vec<String>| {
        let wd_path = wd.path().to_path_buf();
        async move {
            let mut all = vec!["audit", "report", "--format", "json", "--no-evidence"];
            all.extend(args.iter().map(String::as_str));
            run_with(&all, &Opts::default().cwd(&wd_path)).await
        }
    };
    let once = run(vec!["--manifests".into(), clean.display().to_string()]).await;
    once.assert_code(0);
    let expected = check_count(&once.json(), "CMP-") - check_count(&once.json(), "CMP-MANIFEST");
    for pattern in ["d", "d/**/*.yaml", "d/*.yaml", "./d/**/agent.yaml"] {
        let out = run(vec!["--manifests".into(), pattern.into()]).await;
        out.assert_code(0);
        let r = out.json();
        let got = check_count(&r, "CMP-") - check_count(&r, "CMP-MANIFEST");
        assert_eq!(got, expected, "{pattern}: {r:#}");
    }
    for pattern in ["d", "d/**/*.yml"] {
        let out = run(vec!["--pipelines".into(), pattern.into()]).await;
        out.assert_code(0);
        let r = out.json();
        let failing = findings(&r)
            .iter()
            .filter(|f| f["check_id"] == "CIC-GATE" && f["status"] == "fail")
            .count();
        assert_eq!(
            failing, 2,
            "{pattern}: the workflow's two deploy steps once: {r:#}"
        );
    }
}

#[cfg(unix)]
#[tokio::test]
async fn inputs_that_are_not_regular_files_or_too_large_are_usage_errors() {
    let wd = Workdir::new();
    let fifo = wd.fifo("pipe.yaml");
    wd.sparse("big.yaml", cockpit_k8s::MAX_FILE_BYTES + 1);
    let cases = [
        (
            "--manifests",
            "pipe.yaml",
            "pipe.yaml: not a regular file (a FIFO)",
        ),
        (
            "--manifests",
            "p*.yaml",
            "pipe.yaml: not a regular file (a FIFO)",
        ),
        (
            "--pipelines",
            "/dev/zero",
            "/dev/zero: not a regular file (a character device)",
        ),
        ("--cloud-run", "/dev/zero", "/dev/zero: not a regular file"),
        (
            "--cloud-run",
            "big.yaml",
            "big.yaml: larger than the 16777216-byte limit",
        ),
        ("--pipelines", "big.yaml", "big.yaml: larger than"),
    ];
    // In a directory walk the FIFO is left out, named once in the report.
    std::fs::create_dir(wd.join("dir")).unwrap();
    std::fs::rename(&fifo, wd.join("dir/pipe.yaml")).unwrap();
    std::fs::copy(
        fixtures().join("manifests/good/agent.yaml"),
        wd.join("dir/agent.yaml"),
    )
    .unwrap();
    let out = run_with(
        &[
            "audit",
            "report",
            "--manifests",
            "dir",
            "--format",
            "json",
            "--no-evidence",
        ],
        &Opts::default().cwd(wd.path()),
    )
    .await;
    out.assert_code(0);
    let r = out.json();
    let skipped: Vec<&Value> = findings(&r)
        .iter()
        .filter(|f| f["summary"].as_str().unwrap().contains("pipe.yaml"))
        .collect();
    assert_eq!(skipped.len(), 1, "{r:#}");
    assert_eq!(skipped[0]["status"], "skipped");
    assert!(
        skipped[0]["summary"]
            .as_str()
            .unwrap()
            .contains("a FIFO, not a regular file")
    );
    assert_eq!(
        finding(&r, "CMP-WARM", "Deployment/chat-agent")["status"],
        "pass"
    );
    std::fs::rename(wd.join("dir/pipe.yaml"), &fifo).unwrap();

    for (flag, value, message) in cases {
        let out = run_with(
            &["audit", "report", flag, value, "--no-evidence"],
            &Opts::default().cwd(wd.path()),
        )
        .await;
        out.assert_code(2);
        assert!(
            out.stderr.contains(message),
            "{flag} {value}: {}",
            out.stderr
        );
    }
}

/// A credential plugin script in `wd` writing its PID and its child's to
/// `plugin.pid` / `child.pid`, then running `body`.
#[cfg(unix)]
fn plugin(wd: &Workdir, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = wd.path().display();
    let p = wd.file(
        "plugin.sh",
        &format!(
            "#!/bin/sh\necho $$ > {dir}/plugin.pid.tmp && mv {dir}/plugin.pid.tmp {dir}/plugin.pid\n{body}\n"
        ),
    );
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// The kubeconfig of a cluster at `server` whose user's credential comes
/// from the plugin `command`.
fn exec_kubeconfig(wd: &Workdir, server: &str, command: &std::path::Path) -> PathBuf {
    wd.file(
        "kubeconfig",
        &kubeconfig_text(
            server,
            "agents",
            &format!(
                "{{exec: {{apiVersion: client.authentication.k8s.io/v1, command: \"{}\", interactiveMode: Never}}}}",
                command.display()
            ),
        ),
    )
}

/// The PIDs a plugin wrote (itself, and its child when it started one).
fn plugin_pids(wd: &Workdir) -> Vec<u32> {
    ["plugin.pid", "child.pid"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(wd.join(f)).ok())
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

/// No such process any more (or a zombie left for its reaper: it runs nothing).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

#[cfg(unix)]
#[tokio::test]
async fn a_hanging_credential_plugin_is_bounded_and_killed_with_its_children() {
    let dir = "$(dirname \"$0\")";
    let variants = [
        // Waits on a child.
        format!("sleep 1000 & echo $! > {dir}/child.pid\nwait"),
        // Ignores SIGTERM and SIGINT.
        format!("trap '' TERM INT\nsleep 1000 & echo $! > {dir}/child.pid\nwait"),
        // Closes its output, then hangs.
        format!("exec >&- 2>&-\nsleep 1000 & echo $! > {dir}/child.pid\nwait"),
        // Prints half a credential and hangs with its output open.
        format!("printf '{{\"kind\":'\nsleep 1000 & echo $! > {dir}/child.pid\nwait"),
    ];
    for body in variants {
        let wd = Workdir::new();
        let kubeconfig = exec_kubeconfig(&wd, "https://127.0.0.1:1", &plugin(&wd, &body));
        let cfg = wd.config("[kubernetes]\ncontext = \"fake\"\nrequest_timeout_s = 1\n");
        let out = run_with(
            &[
                "audit",
                "report",
                "--config",
                cfg.to_str().unwrap(),
                "--format",
                "json",
                "--no-evidence",
            ],
            &Opts::default()
                .cwd(wd.path())
                .env("KUBECONFIG", kubeconfig.to_str().unwrap()),
        )
        .await;
        out.assert_code(3);
        let r = out.json();
        let f = finding(&r, "CMP-MANIFEST", "kube context fake");
        assert_eq!(f["status"], "not-measured");
        let summary = f["summary"].as_str().unwrap();
        assert!(
            summary.contains("credential plugin") && summary.contains("no credential after 1.0 s"),
            "{body}: {summary}"
        );
        let pids = plugin_pids(&wd);
        assert_eq!(
            pids.len(),
            2,
            "{body}: the plugin and its child wrote their PIDs"
        );
        for pid in pids {
            assert!(gone(pid), "{body}: process {pid} is still running");
        }
    }
}

#[cfg(unix)]
#[tokio::test]
async fn ctrl_c_during_a_hanging_credential_plugin_kills_it() {
    let wd = Workdir::new();
    let body = "trap '' INT TERM\nsleep 1000 & echo $! > \"$(dirname \"$0\")/child.pid\"\nwait";
    let kubeconfig = exec_kubeconfig(&wd, "https://127.0.0.1:1", &plugin(&wd, body));
    let cfg = wd.config("[kubernetes]\ncontext = \"fake\"\nrequest_timeout_s = 600\n");
    let child = common::command(
        &[
            "audit",
            "report",
            "--config",
            cfg.to_str().unwrap(),
            "--format",
            "json",
            "--no-evidence",
        ],
        &Opts::default()
            .cwd(wd.path())
            .env("KUBECONFIG", kubeconfig.to_str().unwrap()),
    )
    .spawn()
    .unwrap();
    // Wait until the plugin runs (its child's PID is written last).
    let started = async {
        while plugin_pids(&wd).len() < 2 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), started)
        .await
        .expect("the plugin started");
    common::sigint(child.id().unwrap());
    let out = common::wait(child, std::time::Duration::from_secs(60)).await;
    out.assert_code(130);
    for pid in plugin_pids(&wd) {
        assert!(gone(pid), "process {pid} is still running after Ctrl-C");
    }
}

#[cfg(unix)]
#[tokio::test]
async fn kubeconfig_credentials_never_print_at_any_verbosity() {
    let recorded = fixtures().join("cluster/recorded.json");
    let server = FakeApiServer::start(FakeCluster::recorded(&recorded).unwrap(), "agents")
        .await
        .unwrap();
    let secrets = ["S3c%2FretPW", "S3c/retPW", "alice", "tok-S3cretT0ken"];
    let addr = server.url().trim_start_matches("http://").to_string();
    let dead = common::dead_port();
    let servers = [
        (format!("http://alice:S3c%2FretPW%23x@{addr}"), 0),
        (format!("http://alice:S3c%2FretPW@{addr}/"), 0),
        (format!("https://alice:S3c%2FretPW@127.0.0.1:{dead}"), 3),
        // Not encoded: the `/` ends the authority, the rest looks like a path.
        (format!("http://alice:80/S3c/retPW@{addr}"), 3),
    ];
    for (url, code) in servers {
        // -v… raise this project's logs; RUST_LOG naming kube and hyper
        // raises theirs too (they log request URLs at debug; a bare
        // `debug` leaves dependencies at warn).
        for (verbosity, format, rust_log) in [
            ("-vv", "json", None),
            ("-vvv", "table", None),
            ("-v", "markdown", None),
            (
                "-q",
                "json",
                Some("debug,kube=debug,kube_client=debug,hyper=debug,hyper_util=debug"),
            ),
        ] {
            let wd = Workdir::new();
            let body = "echo '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"tok-S3cretT0ken\"}}'";
            let kubeconfig = exec_kubeconfig(&wd, &url, &plugin(&wd, body));
            let out = run_with(
                &[
                    verbosity,
                    "audit",
                    "report",
                    "--kube-context",
                    "fake",
                    "--namespace",
                    "agents",
                    "--format",
                    format,
                    "--no-evidence",
                ],
                &rust_log.into_iter().fold(
                    Opts::default()
                        .cwd(wd.path())
                        .env("KUBECONFIG", kubeconfig.to_str().unwrap()),
                    |o, level| o.env("RUST_LOG", level),
                ),
            )
            .await;
            out.assert_code(code);
            for s in secrets {
                assert!(
                    !out.stdout.contains(s) && !out.stderr.contains(s),
                    "{url} {verbosity}: `{s}` printed"
                );
            }
            // The logs were written (the test would pass vacuously otherwise).
            assert!(
                rust_log.is_none() || code != 0 || out.stderr.contains("DEBUG"),
                "{}",
                out.stderr
            );
            if url.contains("/S3c/") {
                let all = format!("{}{}", out.stdout, out.stderr);
                assert!(all.contains("percent-encode user information"), "{all}");
            }
        }
    }
    // The token reached the API server; the URL's user information did not.
    assert!(
        server
            .authorizations()
            .iter()
            .all(|a| a == "Bearer tok-S3cretT0ken"),
        "{:?}",
        server.authorizations()
    );
    assert!(!server.authorizations().is_empty());
}

#[cfg(unix)]
#[tokio::test]
async fn kubeconfig_files_that_are_devices_or_too_large_are_not_read() {
    let wd = Workdir::new();
    let big = wd.join("big.pem");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(cockpit_k8s::MAX_FILE_BYTES + 1)
        .unwrap();
    let with_ca = |name: &str, ca: &str| {
        let text = kubeconfig_text("https://127.0.0.1:1", "agents", "{}").replace(
            "    server: https://127.0.0.1:1\n",
            &format!("    server: https://127.0.0.1:1\n    certificate-authority: {ca}\n"),
        );
        wd.file(name, &text)
    };
    let cases = [
        (
            PathBuf::from("/dev/zero"),
            "/dev/zero: not a regular file (a character device)",
        ),
        (
            with_ca("ca-zero", "/dev/zero"),
            "/dev/zero: not a regular file (a character device)",
        ),
        (
            with_ca("ca-big", big.to_str().unwrap()),
            "big.pem: larger than",
        ),
    ];
    for (kubeconfig, message) in cases {
        let out = run_with(
            &[
                "audit",
                "report",
                "--kube-context",
                "fake",
                "--format",
                "json",
                "--no-evidence",
            ],
            &Opts::default()
                .cwd(wd.path())
                .env("KUBECONFIG", kubeconfig.to_str().unwrap()),
        )
        .await;
        out.assert_code(3);
        let r = out.json();
        let f = finding(&r, "CMP-MANIFEST", "kube context fake");
        assert!(
            f["summary"].as_str().unwrap().contains(message),
            "{}: {f:#}",
            kubeconfig.display()
        );
    }
}

#[cfg(unix)]
#[tokio::test]
async fn credential_plugin_failures_are_named_without_its_output() {
    let cases = [
        // Floods its output: read up to the bound, then refused.
        (
            "head -c 3000000 /dev/zero | tr '\\0' x",
            "more than 1048576 bytes of output",
        ),
        // Floods stderr, then prints a credential: still served.
        (
            "head -c 300000 /dev/zero >&2; echo '{\"kind\":\"ExecCredential\",\"status\":{\"token\":\"t\"}}'",
            "list deployments",
        ),
        (
            "echo 'boom: not logged in' >&2; exit 1",
            "exit status: 1: boom: not logged in",
        ),
        (
            "echo 'hunter2 is not a credential'",
            "its output is not an ExecCredential",
        ),
        (
            "echo '{\"kind\":\"ExecCredential\",\"status\":{}}'",
            "neither a token nor a client certificate",
        ),
    ];
    for (body, message) in cases {
        let wd = Workdir::new();
        let dead = common::dead_port();
        let kubeconfig =
            exec_kubeconfig(&wd, &format!("http://127.0.0.1:{dead}"), &plugin(&wd, body));
        let cfg = wd.config("[kubernetes]\ncontext = \"fake\"\nrequest_timeout_s = 30\n");
        let out = run_with(
            &[
                "audit",
                "report",
                "--config",
                cfg.to_str().unwrap(),
                "--format",
                "json",
                "--no-evidence",
            ],
            &Opts::default()
                .cwd(wd.path())
                .env("KUBECONFIG", kubeconfig.to_str().unwrap()),
        )
        .await;
        out.assert_code(3);
        let r = out.json();
        let all = serde_json::to_string(&r).unwrap();
        assert!(all.contains(message), "{body}: {r:#}");
        assert!(
            !all.contains("hunter2") && !out.stderr.contains("hunter2"),
            "{body}"
        );
    }
}
