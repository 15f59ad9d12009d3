//! The State pillar through the CLI: `[stm]` in cockpit.toml, `audit report`
//! (alone, with agents' declarations, `--sample-sessions`, `--disruptive`,
//! Ctrl-C), `probe --protocol redis`, config errors — against real
//! redis-server processes started on free 127.0.0.1 ports.

mod common;

use std::time::Duration;

use cockpit_stm::testing::hostile::{HostileServer, Reply};
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

/// Peak resident memory a run against a hostile server may reach, KiB.
const PEAK_BOUND_KIB: u64 = 200 * 1024;

/// The hostile replies, one class each: nesting (a RESP2 array, RESP3
/// maps and attributes), a bulk and a verbatim string announcing a
/// terabyte and streaming, an aggregate announcing billions of elements.
fn hostile_replies() -> Vec<(&'static str, Reply, &'static str)> {
    let endless = |head: &str| Reply::Endless {
        head: head.as_bytes().to_vec(),
        fill: b'x',
    };
    vec![
        (
            "array x 10000",
            Reply::nested(b'*', 10_000),
            "nesting deeper than 32",
        ),
        (
            "map x 10000",
            Reply::nested(b'%', 10_000),
            "nesting deeper than 32",
        ),
        (
            "attribute x 10000",
            Reply::nested(b'|', 10_000),
            "nesting deeper than 32",
        ),
        (
            "bulk 1 TiB",
            endless("$1099511627776\r\n"),
            "reply over 4194304 bytes",
        ),
        (
            "verbatim 1 TiB",
            endless("=1099511627776\r\n"),
            "reply over 4194304 bytes",
        ),
        (
            "array of 10^11",
            endless("*99999999999\r\n"),
            "more than 100000 elements",
        ),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hostile_redis_is_a_finding_and_the_rest_of_the_audit_is_kept() {
    for (name, reply, said) in hostile_replies() {
        let server = HostileServer::start(reply);
        let cfg = format!(
            "[stm]\nurl = \"{}\"\ntimeout_s = 2\n\n[[agents]]\nname = \"chat\"\nendpoint = \"http://127.0.0.1:{}/v1\"\nprotocol = \"openai\"\nstm = \"in-process\"\n\n[probe]\nsamples = 1\nwarmup = 0\ntimeout_s = 1\n",
            server.url(),
            dead_port()
        );
        let w = Workdir::new();
        let path = w.config(&cfg);
        let args = [
            "audit",
            "report",
            "--config",
            path.to_str().unwrap(),
            "--format",
            "json",
            "--no-evidence",
            "--out",
            "out",
        ];
        let (out, peak) = run_measuring_peak(&args, &Opts::default().cwd(w.path())).await;
        assert!(
            !matches!(out.code, Some(101 | 134) | None),
            "{name}: crashed ({:?})\n{}",
            out.code,
            out.stderr
        );
        // Nothing reached answers like Redis, nor like an agent: exit 3,
        // with the whole report.
        out.assert_code(3);
        assert!(
            peak > 0 && peak < PEAK_BOUND_KIB,
            "{name}: peak RSS {peak} KiB"
        );
        let report = read_json(&w.join("out/report.json"));
        assert_schema_valid(&report);
        for id in [
            "STA-PERSIST",
            "STA-FSYNC",
            "STA-EVICT",
            "STA-HA",
            "STA-ROUNDTRIP",
            "STA-LATENCY",
        ] {
            let f = findings(&report)
                .iter()
                .find(|f| f["check_id"] == id)
                .unwrap_or_else(|| panic!("{name}: no {id}"));
            assert_eq!(f["status"], "not-measured", "{name}: {f:#}");
            let summary = f["summary"].as_str().unwrap();
            assert!(summary.contains(said), "{name}: {summary}");
        }
        // The other evidence is all there: the agent's declaration and the
        // Network pillar's findings on the agent.
        assert_eq!(finding(&report, "STA-EXTERNAL", "chat")["status"], "fail");
        assert!(
            findings(&report)
                .iter()
                .any(|f| f["pillar"] == "network" && f["subject"] == "chat"),
            "{name}: no Network finding in {report:#}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn probe_redis_against_a_hostile_server_exits_with_a_clear_error() {
    for (name, reply, said) in hostile_replies() {
        let server = HostileServer::start(reply);
        let url = server.url();
        let args = ["probe", &url, "--protocol", "redis", "--timeout", "2s"];
        let (out, peak) = run_measuring_peak(&args, &Opts::default()).await;
        out.assert_code(3);
        assert!(
            peak > 0 && peak < PEAK_BOUND_KIB,
            "{name}: peak RSS {peak} KiB"
        );
        assert!(
            out.stderr.contains(said) && out.stderr.contains("PING"),
            "{name}: {}",
            out.stderr
        );
    }
    // Dripped slower than the timeout: a timeout, named.
    let server = HostileServer::start(Reply::Drip {
        bytes: b"+PONG\r\n".to_vec(),
        every: Duration::from_millis(500),
    });
    let url = server.url();
    let out = run(&["probe", &url, "--protocol", "redis", "--timeout", "1s"]).await;
    out.assert_code(3);
    assert!(
        out.stderr.contains("no PONG within 1000 ms"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_with_url_special_characters_never_shows() {
    let secret = "ab/cd+ef==";
    let server = RedisServer::start(&format!(
        "{}requirepass \"{secret}\"\n",
        testing::NO_PERSISTENCE
    ));
    let w = Workdir::new();
    // Percent-encoded, as a URL must hold it: authenticates.
    let cfg = format!(
        "[stm]\nurl = \"redis://:ab%2Fcd%2Bef%3D%3D@127.0.0.1:{}\"\nlatency_samples = 5\nlatency_p99_ms = 5000\n",
        server.port()
    );
    let out = audit(&w, &cfg, &["-vv"]).await;
    out.assert_code(0);
    assert_eq!(status(&out.json(), "STA-ROUNDTRIP"), "pass");
    for leak in [secret, "ab%2Fcd%2Bef%3D%3D", "cd+ef", "cd%2Bef"] {
        assert!(
            !out.stdout.contains(leak),
            "{leak} on stdout: {}",
            out.stdout
        );
        assert!(
            !out.stderr.contains(leak),
            "{leak} on stderr: {}",
            out.stderr
        );
    }
    // Written raw, the URL is malformed: a config error naming the key,
    // exit 2, and no piece of the password.
    let cfg = format!(
        "[stm]\nurl = \"redis://:{secret}@127.0.0.1:{}\"\n",
        server.port()
    );
    let out = audit(&w, &cfg, &["-vv"]).await;
    out.assert_code(2);
    assert!(out.stderr.contains("percent-encoded"), "{}", out.stderr);
    for leak in [secret, "cd+ef"] {
        assert!(
            !out.stdout.contains(leak),
            "{leak} on stdout: {}",
            out.stdout
        );
        assert!(
            !out.stderr.contains(leak),
            "{leak} on stderr: {}",
            out.stderr
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn probe_redis_with_a_url_it_cannot_use_exits_2_and_shows_no_password() {
    let server = RedisServer::start(testing::NO_PERSISTENCE);
    let port = server.port();
    for (url, said) in [
        (
            format!("redis://127.0.0.1:{port}/99999"),
            "no database 99999",
        ),
        ("redis://127.0.0.1:99999".to_string(), "invalid port"),
        (
            format!("redis://:{SECRET}/x@127.0.0.1:{port}"),
            "percent-encoded",
        ),
    ] {
        let out = run(&["probe", &url, "--protocol", "redis", "--timeout", "2s"]).await;
        out.assert_code(2);
        assert!(out.stderr.contains(said), "{url}: {}", out.stderr);
        assert_no_secret(&out);
    }
}
