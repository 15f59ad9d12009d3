//! Using the CLI in a pipeline, as a process: one format on stdout per run
//! (several need --out), `--out DIR` on probe and load, `--format csv`,
//! `--push-gateway` against a real Prometheus Pushgateway, `--color` in
//! tables and logs, `-q`, RUST_LOG kept off the dependencies, certify's
//! target flags, and the progress display only on a terminal.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use common::*;

fn fixtures() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../cockpit-k8s/fixtures"
    ))
}

/// A configuration of one HTTP agent on a fast testbed.
fn http_agent(w: &Workdir, base: &str) -> PathBuf {
    w.config(&format!(
        "{PROBE}\n[[agents]]\nname = \"web\"\nendpoint = \"{base}/healthz\"\nprotocol = \"http\"\nretrieval = []\n\n{}",
        one_agent_scope()
    ))
}

#[tokio::test]
async fn several_formats_without_out_are_refused_before_anything_runs() {
    let w = Workdir::new();
    let opts = Opts::default().cwd(w.path());
    for cmd in [
        vec![
            "certify",
            "--testbed",
            "--format",
            "json",
            "--format",
            "sarif",
        ],
        vec![
            "audit",
            "report",
            "--testbed",
            "--format",
            "json",
            "--format",
            "markdown",
        ],
    ] {
        let out = run_with(&cmd, &opts).await;
        out.assert_code(2);
        assert!(out.stdout.is_empty(), "{}", out.stdout);
        assert!(
            out.stderr.contains("would all go to standard output")
                && out.stderr.contains("--out DIR"),
            "{}",
            out.stderr
        );
        // Nothing was measured: the testbed was never started.
        assert!(
            !out.stderr.contains("embedded reference testbed"),
            "{}",
            out.stderr
        );
    }
}

#[tokio::test]
async fn audit_with_out_writes_each_format_and_prints_only_the_table() {
    let tb = testbed(fast()).await;
    let w = Workdir::new();
    let cfg = http_agent(&w, &tb.base_url());
    let dir = w.join("out");
    let out = run_with(
        &[
            "audit",
            "report",
            "--config",
            cfg.to_str().unwrap(),
            "--no-evidence",
            "--format",
            "table",
            "--format",
            "json",
            "--format",
            "markdown",
            "--out",
            dir.to_str().unwrap(),
        ],
        &Opts::default().cwd(w.path()),
    )
    .await;
    out.assert_code(0);
    assert!(dir.join("report.json").is_file() && dir.join("report.md").is_file());
    assert!(dir.join("report.txt").is_file());
    // The table only: no JSON document, no Markdown heading on stdout.
    assert!(!out.stdout.trim_start().starts_with('{'), "{}", out.stdout);
    assert!(!out.stdout.contains("\n# "), "{}", out.stdout);
    assert!(out.stdout.contains("NET-"), "{}", out.stdout);
}

#[tokio::test]
async fn probe_and_load_write_csv_and_out_dir() {
    let tb = testbed(fast()).await;
    let w = Workdir::new();
    let url = format!("{}/healthz", tb.base_url());
    let dir = w.join("probe-out");
    let out = run(&[
        "probe",
        &url,
        "-n",
        "3",
        "--format",
        "csv",
        "--out",
        dir.to_str().unwrap(),
    ])
    .await;
    out.assert_code(0);
    let mut lines = out.stdout.lines();
    assert_eq!(lines.next(), Some("field,value"));
    assert!(
        out.stdout.lines().any(|l| l == "samples,3"),
        "{}",
        out.stdout
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("probe.csv")).unwrap(),
        out.stdout
    );
    let json = read_json(&dir.join("probe.json"));
    assert_eq!(json["samples"], 3);

    // load: --out DIR (trailing slash) gets load.json and load.csv.
    let dir = format!("{}/", w.join("load-out").display());
    let out = run(&[
        "load", &url, "-c", "2", "-n", "20", "-d", "30s", "--format", "csv", "--out", &dir,
    ])
    .await;
    out.assert_code(0);
    let ok = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("requests.ok,"))
        .expect("requests.ok row");
    assert_eq!(ok, "20", "{}", out.stdout);
    let json = read_json(&w.join("load-out/load.json"));
    assert_eq!(json["requests"]["ok"], 20);
    assert!(w.join("load-out/load.csv").is_file());
    // --out FILE keeps its meaning: the JSON report in that file.
    let file = w.join("run.json");
    run(&[
        "load",
        &url,
        "-c",
        "1",
        "-n",
        "5",
        "-d",
        "30s",
        "--out",
        file.to_str().unwrap(),
    ])
    .await
    .assert_code(0);
    assert_eq!(read_json(&file)["requests"]["ok"], 5);
}

/// A Pushgateway (Debian's prometheus-pushgateway) on a free loopback port.
struct Pushgateway {
    child: tokio::process::Child,
    url: String,
}

impl Pushgateway {
    async fn start() -> Pushgateway {
        let port = dead_port();
        let child = tokio::process::Command::new("prometheus-pushgateway")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("prometheus-pushgateway (cargo xtask ci installs it)");
        let url = format!("http://127.0.0.1:{port}");
        // Ready when it answers: polled, bounded by a hang guard.
        let ready = async {
            loop {
                if let Ok(body) = get(&url, "/-/ready").await
                    && !body.is_empty()
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), ready)
            .await
            .expect("the pushgateway did not become ready in 30 s");
        Pushgateway { child, url }
    }

    async fn metrics(&self) -> String {
        get(&self.url, "/metrics").await.expect("GET /metrics")
    }
}

/// A GET over HTTP/1.0 with a raw socket (the body, up to 4 MiB).
async fn get(base: &str, path: &str) -> std::io::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await?;
    let mut buf = Vec::new();
    s.take(4 << 20).read_to_end(&mut buf).await?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    Ok(text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default())
}

#[tokio::test]
async fn push_gateway_receives_certify_load_and_cockpit_figures() {
    let pg = Pushgateway::start().await;
    let tb = testbed(fast()).await;
    let w = Workdir::new();
    let cfg = http_agent(&w, &tb.base_url());
    let opts = Opts::default().cwd(w.path());
    let cert = run_with(
        &[
            "certify",
            "--config",
            cfg.to_str().unwrap(),
            "--no-evidence",
            "--push-gateway",
            &pg.url,
        ],
        &opts,
    )
    .await;
    assert!(matches!(cert.code, Some(0 | 1)), "{}", cert.stderr);
    let url = format!("{}/healthz", tb.base_url());
    run(&[
        "load",
        &url,
        "-c",
        "1",
        "-n",
        "7",
        "-d",
        "30s",
        "--push-gateway",
        &pg.url,
    ])
    .await
    .assert_code(0);
    let once = run_with(
        &[
            "cockpit",
            "--config",
            cfg.to_str().unwrap(),
            "--once",
            "--push-gateway",
            &pg.url,
        ],
        &opts,
    )
    .await;
    assert!(matches!(once.code, Some(0 | 1)), "{}", once.stderr);

    let m = pg.metrics().await;
    let line = |prefix: &str| {
        m.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in\n{m}"))
            .to_string()
    };
    let score = line("agentops_certify_score{");
    assert!(
        score.contains(r#"command="certify""#) && score.contains(r#"job="agentops_cockpit""#),
        "{score}"
    );
    let passed = line("agentops_certify_passed{");
    assert!(
        passed.ends_with(if cert.code == Some(0) { " 1" } else { " 0" }),
        "{passed}"
    );
    let ok = m
        .lines()
        .find(|l| l.starts_with("agentops_load_requests{") && l.contains(r#"result="ok""#))
        .unwrap_or_else(|| panic!("no load requests in\n{m}"));
    assert!(
        ok.contains(r#"command="load""#) && ok.ends_with(" 7"),
        "{ok}"
    );
    // cockpit --once pushes what /metrics serves: the agent's series.
    assert!(
        m.lines().any(|l| l.starts_with("agentops_")
            && l.contains(r#"command="cockpit""#)
            && l.contains(r#"agent="web""#)),
        "{m}"
    );

    // A gateway that is not there: exit 3, naming it.
    let gone = format!("http://127.0.0.1:{}", dead_port());
    let out = run(&[
        "load",
        &url,
        "-n",
        "2",
        "-d",
        "30s",
        "--push-gateway",
        &gone,
    ])
    .await;
    out.assert_code(3);
    assert!(out.stderr.contains("--push-gateway"), "{}", out.stderr);
    drop(pg.child);
}

#[tokio::test]
async fn color_in_tables() {
    let tb = testbed(fast()).await;
    let w = Workdir::new();
    let cfg = http_agent(&w, &tb.base_url());
    let opts = Opts::default().cwd(w.path()).env_remove("NO_COLOR");
    let audit = |colour: &'static str| {
        let cfg = cfg.to_str().unwrap().to_string();
        let opts = opts.clone();
        async move {
            let args = [
                "--color",
                colour,
                "audit",
                "report",
                "--config",
                &cfg,
                "--no-evidence",
            ];
            let out = run_with(&args, &opts).await;
            out.assert_code(0);
            out.stdout
        }
    };
    let always = audit("always").await;
    assert!(always.contains('\u{1b}'), "{always}");
    // never, and auto into a pipe: plain text.
    for colour in ["never", "auto"] {
        let text = audit(colour).await;
        assert!(!text.contains('\u{1b}'), "--color {colour}: {text}");
    }
}

/// Logs of the embedded testbed audit (the testbed says where it listens
/// at info; its gRPC runs over h2, whose frames h2 logs at debug).
#[tokio::test]
async fn logs_plain_when_redirected_and_rust_log_keeps_dependencies_at_warn() {
    let w = Workdir::new();
    let args = [
        "audit",
        "report",
        "--testbed",
        "--format",
        "json",
        "--no-evidence",
    ];
    let plain = run_with(
        &args,
        &Opts::default()
            .cwd(w.path())
            .env_remove("NO_COLOR")
            .env("RUST_LOG", "debug"),
    )
    .await;
    plain.assert_code(0);
    assert!(
        plain.stderr.contains("testbed listening"),
        "{}",
        plain.stderr
    );
    assert!(
        !plain.stderr.contains('\u{1b}'),
        "ANSI in a redirected log:\n{}",
        plain.stderr
    );
    assert!(
        !plain.stderr.contains("frame"),
        "dependency debug output:\n{}",
        plain.stderr
    );
    // Named dependencies are taken as written; --color always colours logs.
    let mut forced = vec!["--color", "always"];
    forced.extend(args);
    let named = run_with(
        &forced,
        &Opts::default()
            .cwd(w.path())
            .env("RUST_LOG", "debug,h2=debug"),
    )
    .await;
    named.assert_code(0);
    assert!(named.stderr.contains("frame"), "{}", named.stderr);
    assert!(named.stderr.contains('\u{1b}'), "{}", named.stderr);
}

/// `-q` silences the testbed notice; the per-pillar progress is drawn on a
/// terminal (`script`, util-linux, gives the CLI one), never into a pipe.
#[tokio::test]
async fn quiet_and_progress_only_on_a_terminal() {
    let w = Workdir::new();
    let opts = Opts::default().cwd(w.path());
    let args = ["audit", "report", "--format", "json", "--no-evidence"];
    let loud = run_with(&args, &opts).await;
    loud.assert_code(0);
    assert!(
        loud.stderr.contains("embedded reference testbed"),
        "{}",
        loud.stderr
    );
    assert!(
        !loud.stderr.contains("measuring"),
        "progress into a pipe:\n{}",
        loud.stderr
    );
    let mut quiet = vec!["-q"];
    quiet.extend(args);
    let q = run_with(&quiet, &opts).await;
    q.assert_code(0);
    assert!(
        !q.stderr.contains("embedded reference testbed"),
        "{}",
        q.stderr
    );
    q.json();

    let log = w.join("tty.log");
    let cmd = format!("{BIN} audit report --no-evidence --format json 2>&1 >/dev/null");
    let status = tokio::time::timeout(
        RUN_TIMEOUT,
        tokio::process::Command::new("script")
            .args(["-q", "-e", "-c", &cmd])
            .arg(&log)
            .current_dir(w.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .env("NO_COLOR", "1")
            .status(),
    )
    .await
    .expect("hang guard")
    .expect("`script` (util-linux) gives the CLI a terminal");
    assert!(status.success());
    let tty = std::fs::read_to_string(&log).unwrap();
    for pillar in ["measuring Compute and CI/CD", "measuring Network"] {
        assert!(
            tty.contains(pillar),
            "no «{pillar}» on the terminal:\n{tty}"
        );
    }
}

#[tokio::test]
async fn certify_takes_the_target_flags_of_audit_report() {
    let w = Workdir::new();
    let pattern = format!("{}/manifests/**/*.yaml", fixtures().display());
    let out = run_with(
        &[
            "certify",
            "--manifests",
            &pattern,
            "--format",
            "json",
            "--no-evidence",
        ],
        &Opts::default().cwd(w.path()),
    )
    .await;
    // Manifests only: no testbed; the cold agent fails CMP-WARM.
    assert!(matches!(out.code, Some(0 | 1)), "{}", out.stderr);
    assert!(
        !out.stderr.contains("embedded reference testbed"),
        "{}",
        out.stderr
    );
    let v = out.json();
    let findings = v["report"]["findings"].as_array().expect("findings");
    assert!(
        findings.iter().any(|f| f["check_id"] == "CMP-WARM"
            && f["subject"]
                .as_str()
                .is_some_and(|s| s.ends_with("cold-agent"))
            && f["status"] == "fail"),
        "{v:#}"
    );
    let bad = run_with(
        &["certify", "--from", "report.json", "--manifests", &pattern],
        &Opts::default().cwd(w.path()),
    )
    .await;
    bad.assert_code(2);
    assert!(bad.stderr.contains("--from re-scores"), "{}", bad.stderr);
    let missing = run_with(
        &["certify", "--manifests", "nowhere/*.yaml"],
        &Opts::default().cwd(w.path()),
    )
    .await;
    missing.assert_code(2);
    assert!(
        missing.stderr.contains("nowhere/*.yaml"),
        "{}",
        missing.stderr
    );
}
