//! How runs end and what they leave behind, with the CLI as a process:
//! SIGTERM is handled like Ctrl-C (partial report written and marked
//! interrupted, the State check's key deleted); output files never write
//! through a symbolic link; an output that cannot be written is exit 2,
//! found before a load run sends anything; a closed stdout is exit 2;
//! durations and URLs that cannot be honoured are exit 2 at parse time;
//! the configuration hash does not depend on secrets.

mod common;

use std::time::Duration;

use cockpit_stm::testing::RedisServer;
use common::*;

/// SIGTERM during `audit report --out DIR` against an agent whose first
/// token takes 20 s: the report is written, marked interrupted, exit 130.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_writes_the_partial_report() {
    let tb = testbed(cockpit_testbed::TestbedConfig {
        ttft: Duration::from_secs(20),
        ..fast()
    })
    .await;
    let w = Workdir::new();
    let cfg = w.config(&format!(
        "{PROBE}timeout_s = 60\n\n[[agents]]\nname = \"glacial\"\nendpoint = \"{}/v1\"\nprotocol = \"openai\"\nretrieval = []\n",
        tb.base_url()
    ));
    let out_dir = w.join("out");
    let child = command(
        &[
            "audit",
            "report",
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
            "--format",
            "table",
            "--format",
            "markdown",
        ],
        &Opts::default().cwd(w.path()),
    )
    .spawn()
    .expect("spawn agentops-cockpit");
    let pid = child.id().expect("pid");
    // Hang guard: wait until the agent has the first request (the CLI is
    // past start-up and measuring).
    let start = std::time::Instant::now();
    while tb.stamps().is_empty() {
        assert!(start.elapsed() < Duration::from_secs(60), "never measured");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    kill(pid, "TERM");
    let out = wait(child, Duration::from_secs(15)).await;
    out.assert_code(130);
    assert!(out.stderr.contains("SIGTERM"), "{}", out.stderr);
    let report = read_json(&out_dir.join("report.json"));
    assert_eq!(report["interrupted"], true, "{report:#}");
    assert_schema_valid(&report);
    assert!(out_dir.join("report.md").exists() && out_dir.join("report.txt").exists());
    tb.shutdown().await;
}

/// SIGTERM during the State pillar's SET/GET: the check's key is deleted
/// before the process exits, not left to its TTL.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_cleans_up_the_redis_check_key() {
    let server = RedisServer::start("requirepass \"pw/with+slash==\"\n");
    let w = Workdir::new();
    let cfg = w.config(&format!(
        "[stm]\nurl = \"redis://:${{REDIS_PASSWORD}}@127.0.0.1:{}\"\nlatency_samples = 10000000\nlatency_p99_ms = 5000\n",
        server.port()
    ));
    let child = command(
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
            .env("REDIS_PASSWORD", "pw/with+slash==")
            .cwd(w.path()),
    )
    .spawn()
    .expect("spawn agentops-cockpit");
    let pid = child.id().expect("pid");
    let start = std::time::Instant::now();
    while server.keys("*cockpit-check:*").is_empty() {
        assert!(start.elapsed() < Duration::from_secs(60), "no check key");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    kill(pid, "TERM");
    let out = wait(child, Duration::from_secs(30)).await;
    out.assert_code(130);
    assert_eq!(out.json()["interrupted"], true);
    let left = server.keys("*cockpit-check:*");
    assert!(left.is_empty(), "left behind after SIGTERM: {left:?}");
}

/// Every file of `audit report --out` and `certify --out` replaces a
/// symbolic link at its name instead of writing through it.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn out_dir_files_never_write_through_symlinks() {
    let tb = testbed(fast()).await;
    let w = Workdir::new();
    let cfg = w.config(&format!(
        "{PROBE}\n[[agents]]\nname = \"chat\"\nendpoint = \"{}/v1\"\nprotocol = \"openai\"\nretrieval = []\n",
        tb.base_url()
    ));
    let victim = w.file("victim.txt", "precious");
    let out = w.join("out");
    std::fs::create_dir(&out).unwrap();
    let names = [
        "report.json",
        "report.txt",
        "report.md",
        "certification.json",
        "certification.md",
        "junit.xml",
        "report.sarif",
        "report.html",
        "badge.svg",
        "compare.json",
    ];
    for n in names {
        std::os::unix::fs::symlink(&victim, out.join(n)).unwrap();
    }
    let cfg_s = cfg.to_str().unwrap();
    let out_s = out.to_str().unwrap();
    let opts = Opts::default().cwd(w.path());
    let a = run_with(
        &[
            "audit",
            "report",
            "--config",
            cfg_s,
            "--no-evidence",
            "--out",
            out_s,
            "--format",
            "table",
            "--format",
            "markdown",
        ],
        &opts,
    )
    .await;
    a.assert_code(0);
    let mut args = vec![
        "certify",
        "--config",
        cfg_s,
        "--no-evidence",
        "--out",
        out_s,
    ];
    for f in [
        "table", "json", "markdown", "junit", "sarif", "html", "badge",
    ] {
        args.extend(["--format", f]);
    }
    let c = run_with(&args, &opts).await;
    assert!(matches!(c.code, Some(0 | 1)), "{c:?}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    let mut replaced = 0;
    for e in std::fs::read_dir(&out).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        assert!(!name.ends_with(".tmp"), "a temporary file was left: {name}");
        if !e.file_type().unwrap().is_symlink() {
            replaced += 1;
        }
    }
    assert!(replaced >= 4, "only {replaced} files written");
    read_json(&out.join("report.json"));
    tb.shutdown().await;
}

/// `load`: an --out or --hdr-log that cannot be written is exit 2 before a
/// request is sent; a full device is exit 2 too.
#[tokio::test(flavor = "multi_thread")]
async fn load_outputs_are_checked_before_sending() {
    let tb = testbed(fast()).await;
    let url = format!("{}/healthz", tb.base_url());
    let w = Workdir::new();
    let bad = w.join("no/such/dir/r.json");
    let bad_s = bad.to_str().unwrap();
    for flag in ["--out", "--hdr-log"] {
        let out = run(&["load", &url, "-d", "30s", "-c", "1", flag, bad_s]).await;
        out.assert_code(2);
        assert!(out.stderr.contains("no/such/dir"), "{}", out.stderr);
    }
    assert_eq!(served(&tb, "/healthz").await, 0, "a request was sent");
    #[cfg(target_os = "linux")]
    for flag in ["--out", "--hdr-log"] {
        let out = run(&["load", &url, "-d", "1s", "-c", "1", flag, "/dev/full"]).await;
        out.assert_code(2);
        assert!(out.stderr.contains("/dev/full"), "{}", out.stderr);
    }
    // A good path still works, and through /dev/stdout too.
    let good = w.join("r.json");
    let out = run(&[
        "load",
        &url,
        "-d",
        "1s",
        "-c",
        "1",
        "--out",
        good.to_str().unwrap(),
        "--hdr-log",
        w.join("h.log").to_str().unwrap(),
    ])
    .await;
    out.assert_code(0);
    assert!(read_json(&good)["requests"]["ok"].as_u64().unwrap() > 0);
    assert!(
        std::fs::read_to_string(w.join("h.log"))
            .unwrap()
            .contains("latency")
    );
    tb.shutdown().await;
}

/// A closed stdout (`>&-`) is exit 2 with a message on stderr.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn closed_stdout_is_an_error() {
    let w = Workdir::new();
    let cfg = w.config(&format!(
        "{PROBE}\n[[agents]]\nname = \"gone\"\nendpoint = \"http://127.0.0.1:{}/v1\"\nprotocol = \"openai\"\nretrieval = []\n",
        dead_port()
    ));
    for args in [
        format!("audit report --config {} --no-evidence", cfg.display()),
        format!("certify --config {} --no-evidence", cfg.display()),
    ] {
        let out = tokio::process::Command::new("sh")
            .args(["-c", &format!("exec \"$0\" {args} >&-"), BIN])
            .current_dir(w.path())
            .env("NO_COLOR", "1")
            .output()
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args}: {stderr}");
        assert!(stderr.contains("<stdout>"), "{stderr}");
        // Sent to /dev/null on purpose, it is no error: the run ends as it
        // would (3: nothing reachable).
        let out = tokio::process::Command::new("sh")
            .args(["-c", &format!("exec \"$0\" {args} >/dev/null"), BIN])
            .current_dir(w.path())
            .output()
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(3), "{args}");
    }
}

/// Durations too large for the clock are refused when the arguments are
/// parsed (exit 2, naming the flag), never a panic.
#[tokio::test(flavor = "multi_thread")]
async fn huge_durations_are_usage_errors() {
    let url = format!("http://127.0.0.1:{}/", dead_port());
    let cases: [&[&str]; 8] = [
        &["probe", &url, "--timeout", "1e300"],
        &["probe", &url, "--timeout", "99999999999999999h"],
        &["probe", &url, "--deadline", "1e300s"],
        &["probe", &url, "--timeout", "8days"],
        &["load", &url, "-d", "1e300"],
        &["load", &url, "--timeout", "inf"],
        &["load", &url, "--interval", "99999999999999999999years"],
        &["load", &url, "--rate", "1:2:1", "--step", "1e300ms"],
    ];
    for args in cases {
        let out = run(args).await;
        out.assert_code(2);
        let flag = args[args.len() - 2];
        let long = match flag {
            "-d" => "--duration",
            f => f,
        };
        assert!(out.stderr.contains(long), "{args:?}: {}", out.stderr);
    }
    let w = Workdir::new();
    let cfg = w.config("[probe]\ntimeout_s = 1e300\n");
    let out = run(&["audit", "report", "--config", cfg.to_str().unwrap()]).await;
    out.assert_code(2);
    assert!(out.stderr.contains("timeout_s"), "{}", out.stderr);
}

/// A URL that is invalid once expanded is a configuration error (exit 2,
/// located), not a run-time failure (exit 3).
#[tokio::test(flavor = "multi_thread")]
async fn invalid_urls_are_config_errors() {
    let w = Workdir::new();
    let agent = |endpoint: &str| {
        format!("[[agents]]\nname = \"a\"\nendpoint = \"{endpoint}\"\nprotocol = \"openai\"\n")
    };
    for (text, port) in [
        (agent("http://127.0.0.1:99999/v1"), ""),
        (agent("http://127.0.0.1:${PORT}/v1"), "99999"),
        (agent("grpc://127.0.0.1:${PORT}"), "70000"),
        // A database that is not a number (a number the server lacks is
        // known only by asking it: STA findings say so, `probe` exits 2).
        ("[stm]\nurl = \"redis://127.0.0.1:6379/x\"\n".into(), ""),
        (
            "[stm]\nurl = \"redis://127.0.0.1:${PORT}/0\"\n".into(),
            "99999",
        ),
        (
            "[stm]\nurl = \"redis://127.0.0.1:6379/${PORT}\"\n".into(),
            "-1",
        ),
    ] {
        let cfg = w.config(&text);
        let out = run_with(
            &["audit", "report", "--config", cfg.to_str().unwrap()],
            &Opts::default().env("PORT", port),
        )
        .await;
        out.assert_code(2);
        assert!(out.stderr.contains("cockpit-test.toml:"), "{}", out.stderr);
    }
    // The same URLs on the command line.
    for args in [
        ["probe", "http://127.0.0.1:99999/", "--protocol", "http"],
        ["probe", "redis://127.0.0.1:6379/x", "--protocol", "redis"],
        ["probe", "redis://127.0.0.1:99999", "--protocol", "redis"],
        ["load", "http://127.0.0.1:99999/", "--protocol", "http"],
    ] {
        run(&args).await.assert_code(2);
    }
}

/// `config_sha256` is the SHA-256 of the file as written: the same for two
/// different secrets.
#[tokio::test(flavor = "multi_thread")]
async fn the_config_hash_does_not_depend_on_secrets() {
    let w = Workdir::new();
    let text = format!(
        "[stm]\nurl = \"redis://:${{REDIS_PASSWORD}}@127.0.0.1:{}\"\ntimeout_s = 1\n",
        dead_port()
    );
    let cfg = w.config(&text);
    let mut hashes = Vec::new();
    for secret in ["weak", "S3krT/qW7x+Zp9Q=="] {
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
            &Opts::default().env("REDIS_PASSWORD", secret).cwd(w.path()),
        )
        .await;
        out.assert_code(3);
        hashes.push(out.json()["provenance"]["config_sha256"].clone());
    }
    assert_eq!(hashes[0], hashes[1]);
    let expected = cockpit_score::config_sha256(&text);
    assert_eq!(hashes[0], expected.as_str());
}

/// `--config` reads only a regular file within its bound: a FIFO, a device
/// and an oversized file are exit 2 naming the file, at once.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn configs_that_are_not_small_regular_files_are_refused() {
    let w = Workdir::new();
    let fifo = w.fifo("fifo.toml");
    let big = w.sparse("big.toml", 5 << 20);
    let binary = w.file("binary.toml", "");
    std::fs::write(&binary, [b'a', 0xff, 0xfe]).unwrap();
    for (path, says) in [
        (fifo.clone(), "not a regular file"),
        ("/dev/zero".into(), "not a regular file"),
        (w.path().to_path_buf(), "not a regular file"),
        (big.clone(), "limit"),
        (binary.clone(), "not UTF-8"),
    ] {
        let p = path.to_str().unwrap();
        for cmd in [&["audit", "report"][..], &["certify"][..]] {
            let mut args = cmd.to_vec();
            args.extend(["--config", p]);
            let out = run_with(&args, &Opts::default().cwd(w.path())).await;
            out.assert_code(2);
            assert!(
                out.stderr.contains(p) && out.stderr.contains(says),
                "{p}: {}",
                out.stderr
            );
        }
    }
}
