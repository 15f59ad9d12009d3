//! The State pillar through the CLI: `[stm]` in cockpit.toml, `audit report`
//! (alone, with agents' declarations, `--sample-sessions`, `--disruptive`,
//! Ctrl-C), `probe --protocol redis`, config errors — against real
//! redis-server processes started on free 127.0.0.1 ports.

mod common;

use std::time::Duration;

use cockpit_stm::testing::{self, RedisServer};
use common::*;

const SECRET: &str = "cli-Secr3t-pw";

fn stm_section(server: &RedisServer, extra: &str) -> String {
    format!(
        "[stm]\nurl = \"redis://:${{REDIS_PASSWORD}}@127.0.0.1:{}\"\nlatency_samples = 20\nlatency_p99_ms = 5000\n{extra}",
        server.port()
    )
}

fn with_password() -> Opts {
    Opts::default().env("REDIS_PASSWORD", SECRET)
}

async fn audit(w: &Workdir, cfg: &str, extra: &[&str]) -> Output {
    let path = w.config(cfg);
    let mut args = vec![
        "audit",
        "report",
        "--config",
        path.to_str().unwrap(),
        "--format",
        "json",
        "--no-evidence",
    ];
    args.extend_from_slice(extra);
    run_with(&args, &with_password().cwd(w.path())).await
}

fn status<'a>(report: &'a serde_json::Value, id: &str) -> &'a str {
    findings(report)
        .iter()
        .find(|f| f["check_id"] == id)
        .unwrap_or_else(|| panic!("no {id} in {report:#}"))["status"]
        .as_str()
        .unwrap()
}

fn assert_no_secret(out: &Output) {
    assert!(
        !out.stdout.contains(SECRET),
        "password on stdout: {}",
        out.stdout
    );
    assert!(
        !out.stderr.contains(SECRET),
        "password on stderr: {}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_config_with_only_stm_runs_the_state_pillar_alone() {
    let server = RedisServer::start(&format!(
        "{}requirepass {SECRET}\n",
        testing::AOF_NOEVICTION
    ));
    let w = Workdir::new();
    let out = audit(&w, &stm_section(&server, ""), &["--out", "out"]).await;
    out.assert_code(0);
    assert_no_secret(&out);
    let report = out.json();
    assert_schema_valid(&report);
    for f in findings(&report) {
        assert_eq!(f["pillar"], "state", "{f:#}");
        assert!(f["check_id"].as_str().unwrap().starts_with("STA-"));
    }
    for id in [
        "STA-PERSIST",
        "STA-FSYNC",
        "STA-EVICT",
        "STA-ROUNDTRIP",
        "STA-LATENCY",
    ] {
        assert_eq!(status(&report, id), "pass", "{id}: {report:#}");
    }
    let written = std::fs::read_to_string(w.join("out").join("report.json")).unwrap();
    assert!(!written.contains(SECRET));
    assert!(
        written.contains("redis://:***@127.0.0.1"),
        "the endpoint is shown redacted"
    );
    assert!(server.keys("*cockpit-check:*").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn in_process_agents_fail_and_flags_reach_the_state_checks() {
    let server = RedisServer::start(&format!(
        "{}requirepass {SECRET}\n",
        testing::NO_PERSISTENCE_ALLKEYS_LRU
    ));
    server.cli(&["SET", "agent:stm:abc", "no ttl"]);
    let cfg = format!(
        "{}\n[[agents]]\nname = \"chat\"\nendpoint = \"http://127.0.0.1:{}/v1\"\nprotocol = \"openai\"\nstm = \"in-process\"\n\n[probe]\nsamples = 1\nwarmup = 0\ntimeout_s = 1\n",
        stm_section(&server, ""),
        dead_port()
    );
    let w = Workdir::new();
    let out = audit(&w, &cfg, &["--sample-sessions", "10"]).await;
    out.assert_code(0);
    assert_no_secret(&out);
    let report = out.json();
    let ext = findings(&report)
        .iter()
        .find(|f| f["check_id"] == "STA-EXTERNAL")
        .unwrap();
    assert_eq!(ext["status"], "fail");
    assert_eq!(ext["subject"], "chat");
    assert!(ext["summary"].as_str().unwrap().contains("Memory Loss"));
    assert_eq!(status(&report, "STA-PERSIST"), "fail");
    assert_eq!(status(&report, "STA-EVICT"), "fail");
    assert_eq!(status(&report, "STA-KEYS"), "warn");
    assert!(
        findings(&report)
            .iter()
            .all(|f| f["check_id"] != "STA-SURVIVAL")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn disruptive_restarts_the_server_and_reports_survival() {
    let server = RedisServer::start(&format!(
        "{}requirepass {SECRET}\n",
        testing::AOF_NOEVICTION
    ));
    let w = Workdir::new();
    let out = audit(&w, &stm_section(&server, ""), &["--disruptive"]).await;
    out.assert_code(0);
    assert_no_secret(&out);
    let report = out.json();
    assert_eq!(
        status(&report, "STA-SURVIVAL"),
        "pass",
        "{report:#}\nlog: {}",
        server.log()
    );
    assert!(server.keys("*cockpit-check:*").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_mid_check_leaves_no_key_behind() {
    let server = RedisServer::start(&format!(
        "{}requirepass {SECRET}\n",
        testing::AOF_NOEVICTION
    ));
    let w = Workdir::new();
    // Enough SET/GET samples that the run is still inside the check when
    // the signal comes.
    let path = w.config(
        &stm_section(&server, "").replace("latency_samples = 20", "latency_samples = 10000000"),
    );
    let child = command(
        &[
            "audit",
            "report",
            "--config",
            path.to_str().unwrap(),
            "--format",
            "json",
            "--no-evidence",
        ],
        &with_password().cwd(w.path()),
    )
    .spawn()
    .expect("spawn agentops-cockpit");
    let pid = child.id().expect("pid");
    // Wait (hang guard, not a timing assertion) until the check's own key exists.
    let start = std::time::Instant::now();
    while server.keys("*cockpit-check:*").is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the check never wrote its key"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sigint(pid);
    let out = wait(child, Duration::from_secs(30)).await;
    out.assert_code(130);
    assert_no_secret(&out);
    let report = out.json();
    assert_eq!(report["interrupted"], true);
    // A separate connection (redis-cli) sees no key of the check's left.
    let left = server.keys("*cockpit-check:*");
    assert!(left.is_empty(), "left behind after Ctrl-C: {left:?}");
    assert_eq!(server.cli(&["DBSIZE"]).trim(), "0");
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_redis_exits_3_and_stm_errors_are_located() {
    let w = Workdir::new();
    let cfg = format!(
        "[stm]\nurl = \"redis://:${{REDIS_PASSWORD}}@127.0.0.1:{}\"\ntimeout_s = 2\n",
        dead_port()
    );
    let out = audit(&w, &cfg, &[]).await;
    out.assert_code(3);
    assert_no_secret(&out);
    assert_eq!(status(&out.json(), "STA-PERSIST"), "not-measured");

    // An unknown key, located.
    let out = audit(
        &w,
        "[stm]\nurl = \"redis://127.0.0.1:1\"\nkey_prefx = \"a:\"\n",
        &[],
    )
    .await;
    out.assert_code(2);
    assert!(
        out.stderr.contains("cockpit-test.toml:3:1:") && out.stderr.contains("key_prefx"),
        "{}",
        out.stderr
    );
    // A wrong scheme, located, password redacted.
    let out = audit(
        &w,
        "[stm]\nurl = \"http://:${REDIS_PASSWORD}@127.0.0.1:1\"\n",
        &[],
    )
    .await;
    out.assert_code(2);
    assert!(
        out.stderr.contains("cockpit-test.toml:2:7:"),
        "{}",
        out.stderr
    );
    assert_no_secret(&out);
    // The password variable unset.
    let path = w.config("[stm]\nurl = \"redis://:${COCKPIT_TEST_UNSET_PW}@127.0.0.1:1\"\n");
    let out = run_with(
        &["audit", "report", "--config", path.to_str().unwrap()],
        &Opts::default(),
    )
    .await;
    out.assert_code(2);
    assert!(
        out.stderr.contains("COCKPIT_TEST_UNSET_PW"),
        "{}",
        out.stderr
    );
    // The opt-in flags need an [stm] section.
    let path = w.config("[thresholds]\nttft_p95_ms = 800\n");
    let out = run_with(
        &[
            "audit",
            "report",
            "--config",
            path.to_str().unwrap(),
            "--disruptive",
        ],
        &Opts::default(),
    )
    .await;
    out.assert_code(2);
    assert!(out.stderr.contains("[stm]"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn probe_redis_prints_the_latency_distributions() {
    let server = RedisServer::start(&format!(
        "{}requirepass {SECRET}\n",
        testing::AOF_NOEVICTION
    ));
    let url = format!("redis://:{SECRET}@127.0.0.1:{}", server.port());
    let out = run(&[
        "probe",
        &url,
        "--protocol",
        "redis",
        "-n",
        "25",
        "--format",
        "json",
    ])
    .await;
    out.assert_code(0);
    assert_no_secret(&out);
    let v = out.json();
    assert_eq!(v["protocol"], "redis");
    assert_eq!(v["samples"], 25);
    for k in ["connect", "ping", "set", "get"] {
        assert!(v[k]["p99_ms"].as_f64().unwrap() > 0.0, "{k}: {v:#}");
    }
    assert_eq!(v["ping"]["count"], 25);
    assert!(v["methods"]["ping"].as_str().unwrap().contains("PING"));
    assert!(server.keys("*cockpit-check:*").is_empty());

    let out = run(&["probe", &url, "--protocol", "redis", "-n", "5"]).await;
    out.assert_code(0);
    assert!(
        out.stdout.contains("ping") && out.stdout.contains("p99"),
        "{}",
        out.stdout
    );
    assert_no_secret(&out);

    let wrong = format!("redis://:wrong-{SECRET}@127.0.0.1:{}", server.port());
    let out = run(&["probe", &wrong, "--protocol", "redis"]).await;
    out.assert_code(3);
    assert!(
        out.stderr.contains("authentication failed"),
        "{}",
        out.stderr
    );
    assert_no_secret(&out);
    let dead = format!("redis://127.0.0.1:{}", dead_port());
    run(&["probe", &dead, "--protocol", "redis", "--timeout", "2s"])
        .await
        .assert_code(3);
}

/// The testbed keeping its sessions in Redis: turns survive a testbed
/// restart, carry a TTL, and the key sample finds them healthy.
#[tokio::test(flavor = "multi_thread")]
async fn testbed_sessions_in_redis_survive_a_testbed_restart() {
    use std::net::{Ipv4Addr, SocketAddr};
    use std::sync::Arc;

    use cockpit_testbed::{RedisSessions, Testbed};

    let server = RedisServer::start(&format!(
        "{}requirepass {SECRET}\n",
        testing::AOF_NOEVICTION
    ));
    let store = |s: &RedisServer| {
        let url = format!("redis://:{SECRET}@127.0.0.1:{}", s.port());
        Arc::new(
            RedisSessions::connect(&url, "agent:stm:", Duration::from_secs(600)).expect("connect"),
        )
    };
    let any = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let tb = Testbed::start_with_sessions(fast(), any, any, store(&server))
        .await
        .expect("testbed");
    let body = r#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let addr = tb.base_url().trim_start_matches("http://").to_string();
    for _ in 0..2 {
        // One plain HTTP/1.1 exchange with the session header.
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&addr).expect("connect to the testbed");
        write!(
            s,
            "POST /v1/chat/completions HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\nx-session-id: s1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut reply = String::new();
        s.read_to_string(&mut reply).unwrap();
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
        assert!(reply.contains("[DONE]"), "{reply}");
    }
    assert_eq!(tb.sessions().turns("s1").len(), 4);
    tb.shutdown().await;

    // In Redis, with a TTL, and still there for a new testbed process.
    assert_eq!(server.cli(&["LLEN", "agent:stm:s1"]).trim(), "4");
    let ttl: i64 = server.cli(&["TTL", "agent:stm:s1"]).trim().parse().unwrap();
    assert!(ttl > 0 && ttl <= 600, "{ttl}");
    // A new testbed on the same Redis remembers the conversation.
    let tb = Testbed::start_with_sessions(fast(), any, any, store(&server))
        .await
        .expect("restarted testbed");
    let turns = tb.sessions().turns("s1");
    assert_eq!(turns.len(), 4);
    assert_eq!(turns[0].role, "user");
    tb.shutdown().await;

    let w = Workdir::new();
    let out = audit(&w, &stm_section(&server, ""), &["--sample-sessions", "50"]).await;
    out.assert_code(0);
    assert_eq!(status(&out.json(), "STA-KEYS"), "pass");
}
