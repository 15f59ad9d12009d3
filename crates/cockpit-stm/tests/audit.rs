//! The State checks against real redis-server processes, one per case,
//! started on free 127.0.0.1 ports by `cockpit_stm::testing`.

use std::time::Duration;

use cockpit_core::AuditOutcome;
use cockpit_core::fleet::SessionStore;
use cockpit_core::{Finding, Status};
use cockpit_stm::testing::{self, RedisServer};
use cockpit_stm::{DeclaredStm, StmConfig, SurvivalMode};
use tokio_util::sync::CancellationToken;

fn cfg(server: &RedisServer) -> StmConfig {
    StmConfig {
        latency_samples: 20,
        // Not a timing assertion: the bound is loose so the verdicts below
        // depend only on the server's configuration.
        latency_p99: Duration::from_secs(5),
        ..StmConfig::for_url(server.url())
    }
}

fn find<'a>(r: &'a AuditOutcome, id: &str) -> &'a Finding {
    r.findings
        .iter()
        .find(|f| f.check_id.as_str() == id)
        .unwrap_or_else(|| panic!("no {id} finding in {:#?}", r.findings))
}

/// Every check that needs the server, in the order they run.
const SERVER_CHECKS: [&str; 6] = [
    "STA-PERSIST",
    "STA-FSYNC",
    "STA-EVICT",
    "STA-HA",
    "STA-ROUNDTRIP",
    "STA-LATENCY",
];

fn check_ids(r: &AuditOutcome) -> Vec<&str> {
    r.findings.iter().map(|f| f.check_id.as_str()).collect()
}

fn no_check_keys_left(server: &RedisServer) {
    let left = server.keys("*cockpit-check:*");
    assert!(left.is_empty(), "the check left keys behind: {left:?}");
}

#[tokio::test]
async fn aof_everysec_with_noeviction_passes() {
    let server = RedisServer::start(testing::AOF_NOEVICTION);
    let c = StmConfig {
        agents: vec![DeclaredStm {
            agent: "chat".into(),
            backend: SessionStore::Redis,
        }],
        ..cfg(&server)
    };
    let r = cockpit_stm::audit(&c, &CancellationToken::new()).await;
    assert_eq!((r.subjects, r.reached, r.interrupted), (1, 1, false));
    // The agent declares the store that is audited.
    let ext = find(&r, "STA-EXTERNAL");
    assert_eq!(ext.status, Status::Pass, "{}", ext.summary);
    assert_eq!(ext.subject.as_deref(), Some("chat"));
    for id in [
        "STA-PERSIST",
        "STA-FSYNC",
        "STA-EVICT",
        "STA-ROUNDTRIP",
        "STA-LATENCY",
    ] {
        let f = find(&r, id);
        assert_eq!(f.status, Status::Pass, "{id}: {}", f.summary);
    }
    // A lone primary: the Basic-tier warning.
    assert_eq!(find(&r, "STA-HA").status, Status::Warn);
    let lat = find(&r, "STA-LATENCY");
    let ping = lat.measurement("ping_p99").expect("ping_p99");
    assert_eq!(ping.samples, 20);
    assert!(ping.distribution.is_some());
    assert_eq!(lat.measurement("set_p99").expect("set_p99").samples, 20);
    assert_eq!(
        find(&r, "STA-PERSIST")
            .measurement("aof_enabled")
            .unwrap()
            .value,
        1.0
    );
    // Nothing the check wrote is left, and nothing else was touched.
    no_check_keys_left(&server);
    assert_eq!(server.cli(&["DBSIZE"]).trim(), "0");
}

#[tokio::test]
async fn no_persistence_with_allkeys_lru_fails_for_both_reasons() {
    let server = RedisServer::start(testing::NO_PERSISTENCE_ALLKEYS_LRU);
    let r = cockpit_stm::audit(&cfg(&server), &CancellationToken::new()).await;
    let p = find(&r, "STA-PERSIST");
    assert_eq!(p.status, Status::Fail, "{}", p.summary);
    assert!(p.summary.contains("no persistence"), "{}", p.summary);
    assert!(p.recommendation.is_some());
    let e = find(&r, "STA-EVICT");
    assert_eq!(e.status, Status::Fail, "{}", e.summary);
    assert!(e.summary.contains("allkeys-lru"), "{}", e.summary);
    assert_eq!(find(&r, "STA-FSYNC").status, Status::Skipped);
    no_check_keys_left(&server);
}

/// `INFO persistence` field `name`, read on a connection of the test's own.
fn persistence_field(server: &RedisServer, name: &str) -> Option<i64> {
    let prefix = format!("{name}:");
    server
        .cli(&["INFO", "persistence"])
        .lines()
        .find_map(|l| l.trim().strip_prefix(prefix.as_str())?.parse().ok())
}

/// `BGSAVE`, then wait (a hang guard, not a timing assertion) until the
/// snapshot is on disk.
fn bgsave(server: &RedisServer) {
    assert!(
        server
            .cli(&["BGSAVE"])
            .contains("Background saving started")
    );
    let start = std::time::Instant::now();
    while persistence_field(server, "rdb_bgsave_in_progress") != Some(0)
        || persistence_field(server, "rdb_saves").unwrap_or(0) == 0
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "BGSAVE never finished; log: {}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        server
            .cli(&["INFO", "persistence"])
            .contains("rdb_last_bgsave_status:ok"),
        "BGSAVE failed; log: {}",
        server.log()
    );
}

#[tokio::test]
async fn rdb_only_warns_with_the_window() {
    let server = RedisServer::start(testing::RDB_ONLY);
    server.cli(&["SET", "agent:stm:s1", "x"]);
    let r = cockpit_stm::audit(&cfg(&server), &CancellationToken::new()).await;
    let p = find(&r, "STA-PERSIST");
    assert_eq!(p.status, Status::Warn, "{}", p.summary);
    assert_eq!(p.measurement("rdb_save_window").unwrap().value, 3600.0);
    assert!(p.summary.contains("RDB snapshots only"), "{}", p.summary);
    // A fresh server has taken no snapshot yet: its save time is its start.
    assert!(p.summary.contains("never saved"), "{}", p.summary);
    assert!(p.measurement("rdb_last_save_age").is_none(), "{p:#?}");
    assert_eq!(p.measurement("rdb_saved_since_start").unwrap().value, 0.0);
    assert!(p.measurement("rdb_changes_since_last_save").unwrap().value >= 1.0);
    // After a snapshot: its age, and no claim of "never".
    assert_eq!(server.cli(&["SAVE"]).trim(), "OK");
    let r = cockpit_stm::audit(&cfg(&server), &CancellationToken::new()).await;
    let p = find(&r, "STA-PERSIST");
    assert_eq!(p.status, Status::Warn, "{}", p.summary);
    assert!(!p.summary.contains("never saved"), "{}", p.summary);
    assert!(p.summary.contains("last snapshot"), "{}", p.summary);
    assert!(p.measurement("rdb_last_save_age").is_some(), "{p:#?}");
    assert_eq!(p.measurement("rdb_saved_since_start").unwrap().value, 1.0);
}

#[tokio::test]
async fn a_never_saved_store_has_an_unbounded_window_until_it_saves() {
    // `save ""`, `appendonly no`: rdb_last_save_time is the start time.
    let server = RedisServer::start(testing::NO_PERSISTENCE);
    server.cli(&["SET", "agent:stm:s1", "x"]);
    let r = cockpit_stm::audit(&cfg(&server), &CancellationToken::new()).await;
    let p = find(&r, "STA-PERSIST");
    assert_eq!(p.status, Status::Fail, "{}", p.summary);
    assert!(p.summary.contains("never saved"), "{}", p.summary);
    assert!(p.summary.contains("unbounded"), "{}", p.summary);
    assert!(p.measurement("rdb_last_save_age").is_none(), "{p:#?}");
    assert_eq!(p.measurement("rdb_saved_since_start").unwrap().value, 0.0);
    assert!(p.measurement("unsaved_since_start").is_some(), "{p:#?}");
    // A snapshot taken by hand: still no persistence, but it did save.
    bgsave(&server);
    let r = cockpit_stm::audit(&cfg(&server), &CancellationToken::new()).await;
    let p = find(&r, "STA-PERSIST");
    assert_eq!(p.status, Status::Fail, "{}", p.summary);
    assert!(!p.summary.contains("never saved"), "{}", p.summary);
    assert!(p.summary.contains("taken by hand"), "{}", p.summary);
    assert!(p.measurement("rdb_last_save_age").is_some(), "{p:#?}");
    assert_eq!(p.measurement("rdb_saved_since_start").unwrap().value, 1.0);
    assert!(p.measurement("unsaved_since_start").is_none(), "{p:#?}");
}

#[tokio::test]
async fn requirepass_authenticates_and_a_wrong_password_is_reported_not_printed() {
    let secret = "s3cret-Pa55word";
    let server = RedisServer::start(&format!(
        "{}requirepass {secret}\n",
        testing::AOF_NOEVICTION
    ));
    let r = cockpit_stm::audit(&cfg(&server), &CancellationToken::new()).await;
    assert_eq!(find(&r, "STA-ROUNDTRIP").status, Status::Pass);
    let json = serde_json::to_string(&r.findings).unwrap();
    assert!(!json.contains(secret), "the password leaked: {json}");

    let wrong = "not-the-password";
    let bad = StmConfig {
        url: Some(format!("redis://:{wrong}@127.0.0.1:{}", server.port())),
        ..cfg(&server)
    };
    let r = cockpit_stm::audit(&bad, &CancellationToken::new()).await;
    assert_eq!((r.subjects, r.reached), (1, 0));
    let f = find(&r, "STA-PERSIST");
    assert_eq!(f.status, Status::NotMeasured);
    assert!(f.summary.contains("authentication failed"), "{}", f.summary);
    let json = serde_json::to_string(&r.findings).unwrap();
    assert!(!json.contains(wrong), "the password leaked: {json}");
    // No password at all.
    let none = StmConfig {
        url: Some(format!("redis://127.0.0.1:{}", server.port())),
        ..cfg(&server)
    };
    let r = cockpit_stm::audit(&none, &CancellationToken::new()).await;
    assert_eq!(find(&r, "STA-ROUNDTRIP").status, Status::NotMeasured);
}

#[tokio::test]
async fn primary_with_a_replica_passes_ha_and_the_replica_refuses_writes() {
    let primary = RedisServer::start(testing::AOF_NOEVICTION);
    let replica = RedisServer::start_replica(&primary, testing::AOF_NOEVICTION);
    let r = cockpit_stm::audit(&cfg(&primary), &CancellationToken::new()).await;
    let ha = find(&r, "STA-HA");
    assert_eq!(ha.status, Status::Pass, "{}", ha.summary);
    assert_eq!(ha.measurement("online_replicas").unwrap().value, 1.0);

    let r = cockpit_stm::audit(&cfg(&replica), &CancellationToken::new()).await;
    let ha = find(&r, "STA-HA");
    assert!(
        ha.summary.contains("replica of 127.0.0.1"),
        "{}",
        ha.summary
    );
    let rt = find(&r, "STA-ROUNDTRIP");
    assert_eq!(rt.status, Status::NotMeasured, "{}", rt.summary);
    assert!(rt.summary.contains("read-only replica"), "{}", rt.summary);
    let lat = find(&r, "STA-LATENCY");
    assert!(lat.measurement("ping_p99").is_some());
    assert!(lat.measurement("set_p99").is_none());
    assert!(lat.summary.contains("READONLY"), "{}", lat.summary);
}

#[tokio::test]
async fn restart_with_aof_keeps_the_marker() {
    let server = RedisServer::start(testing::AOF_NOEVICTION);
    let c = StmConfig {
        disruptive: true,
        ..cfg(&server)
    };
    let r = cockpit_stm::audit(&c, &CancellationToken::new()).await;
    let s = find(&r, "STA-SURVIVAL");
    assert_eq!(
        s.status,
        Status::Pass,
        "{}\nlog: {}",
        s.summary,
        server.log()
    );
    let outage = s.measurement("outage").unwrap();
    assert!(outage.value > 0.0 && outage.samples == 1);
    no_check_keys_left(&server);
}

#[tokio::test]
async fn restart_without_persistence_loses_the_marker() {
    let server = RedisServer::start(testing::NO_PERSISTENCE);
    let c = StmConfig {
        disruptive: true,
        ..cfg(&server)
    };
    let r = cockpit_stm::audit(&c, &CancellationToken::new()).await;
    let s = find(&r, "STA-SURVIVAL");
    assert_eq!(
        s.status,
        Status::Fail,
        "{}\nlog: {}",
        s.summary,
        server.log()
    );
    assert!(s.summary.contains("Memory Loss"), "{}", s.summary);
}

#[tokio::test]
async fn crash_restart_of_rdb_only_loses_what_a_graceful_one_saves() {
    let server = RedisServer::start(testing::RDB_ONLY);
    let c = StmConfig {
        disruptive: true,
        survival_mode: SurvivalMode::Crash,
        ..cfg(&server)
    };
    let r = cockpit_stm::audit(&c, &CancellationToken::new()).await;
    let s = find(&r, "STA-SURVIVAL");
    assert_eq!(
        s.status,
        Status::Fail,
        "{}\nlog: {}",
        s.summary,
        server.log()
    );
    assert!(s.summary.contains("CRASH-AND-RECOVER"), "{}", s.summary);
}

#[tokio::test]
async fn without_disruptive_no_restart_is_attempted() {
    let server = RedisServer::start(testing::NO_PERSISTENCE);
    let run_id = |s: &RedisServer| {
        s.cli(&["INFO", "server"])
            .lines()
            .find_map(|l| l.strip_prefix("run_id:").map(str::to_string))
            .expect("run_id")
    };
    let before = run_id(&server);
    let r = cockpit_stm::audit(&cfg(&server), &CancellationToken::new()).await;
    assert!(
        r.findings
            .iter()
            .all(|f| f.check_id.as_str() != "STA-SURVIVAL")
    );
    // A restart would have given the server a new run id.
    assert_eq!(run_id(&server), before);
    let c = StmConfig {
        disruptive: true,
        ..cfg(&server)
    };
    cockpit_stm::audit(&c, &CancellationToken::new()).await;
    assert_ne!(run_id(&server), before, "--disruptive restarts the server");
}

#[tokio::test]
async fn session_key_sample_reports_keys_without_ttl_and_touches_nothing_else() {
    let server = RedisServer::start(testing::AOF_NOEVICTION);
    for i in 0..6 {
        server.cli(&[
            "SET",
            &format!("agent:stm:s{i}"),
            &"x".repeat(100 * (i + 1)),
        ]);
    }
    for i in 0..4 {
        server.cli(&["EXPIRE", &format!("agent:stm:s{i}"), "3600"]);
    }
    server.cli(&["SET", "other:key", "untouched"]);
    let c = StmConfig {
        sample_sessions: Some(100),
        ..cfg(&server)
    };
    let r = cockpit_stm::audit(&c, &CancellationToken::new()).await;
    let k = find(&r, "STA-KEYS");
    assert_eq!(k.status, Status::Warn, "{}", k.summary);
    assert_eq!(k.measurement("keys_sampled").unwrap().value, 6.0);
    assert_eq!(k.measurement("keys_without_ttl").unwrap().value, 2.0);
    assert!(k.measurement("key_size_max").unwrap().value >= 600.0);
    // Keys it did not create are as they were.
    assert_eq!(server.cli(&["GET", "other:key"]).trim(), "untouched");
    assert_eq!(server.cli(&["TTL", "agent:stm:s5"]).trim(), "-1");
    assert_eq!(server.cli(&["DBSIZE"]).trim(), "7");
    // The sample is bounded by N.
    let c = StmConfig {
        sample_sessions: Some(3),
        ..cfg(&server)
    };
    let r = cockpit_stm::audit(&c, &CancellationToken::new()).await;
    assert_eq!(
        find(&r, "STA-KEYS")
            .measurement("keys_sampled")
            .unwrap()
            .value,
        3.0
    );
}

#[tokio::test]
async fn unreachable_and_non_redis_ports_are_not_measured_with_a_reason() {
    let port = testing::free_port();
    let mut c = StmConfig::for_url(format!("redis://127.0.0.1:{port}"));
    c.timeout = Duration::from_secs(2);
    let r = cockpit_stm::audit(&c, &CancellationToken::new()).await;
    assert_eq!((r.subjects, r.reached), (1, 0));
    assert_eq!(check_ids(&r), SERVER_CHECKS, "{:#?}", r.findings);
    for f in &r.findings {
        assert_eq!(f.status, Status::NotMeasured, "{}", f.summary);
        assert!(f.summary.contains("cannot connect"), "{}", f.summary);
    }

    // A port that answers, but not in RESP.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            use std::io::Write;
            let mut s = s;
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n");
            std::thread::sleep(Duration::from_secs(5));
        }
    });
    let mut c = StmConfig::for_url(format!("redis://127.0.0.1:{port}"));
    c.timeout = Duration::from_secs(2);
    let r = cockpit_stm::audit(&c, &CancellationToken::new()).await;
    assert_eq!(r.reached, 0);
    assert_eq!(check_ids(&r), SERVER_CHECKS, "{:#?}", r.findings);
    for f in &r.findings {
        assert_eq!(f.status, Status::NotMeasured, "{}", f.summary);
    }
}

#[tokio::test]
async fn config_disabled_is_not_measured_not_passed() {
    // As on managed Redis: CONFIG renamed away.
    let server = RedisServer::start(&format!(
        "{}rename-command CONFIG \"\"\n",
        testing::NO_PERSISTENCE
    ));
    let r = cockpit_stm::audit(&cfg(&server), &CancellationToken::new()).await;
    let fsync = find(&r, "STA-FSYNC");
    assert_eq!(fsync.status, Status::Skipped); // AOF off: nothing to read
    let p = find(&r, "STA-PERSIST");
    assert_eq!(p.status, Status::NotMeasured, "{}", p.summary);
    assert!(
        p.summary.contains("CONFIG GET save refused"),
        "{}",
        p.summary
    );
    // INFO still gives the eviction policy.
    assert_eq!(find(&r, "STA-EVICT").status, Status::Pass);
    let server = RedisServer::start(&format!(
        "{}rename-command CONFIG \"\"\n",
        testing::AOF_NOEVICTION
    ));
    let r = cockpit_stm::audit(&cfg(&server), &CancellationToken::new()).await;
    assert_eq!(find(&r, "STA-FSYNC").status, Status::NotMeasured);
    assert_eq!(find(&r, "STA-PERSIST").status, Status::Pass);
}

#[tokio::test]
async fn declared_in_process_memory_fails_without_any_redis() {
    let c = StmConfig {
        agents: vec![DeclaredStm {
            agent: "chat".into(),
            backend: SessionStore::InProcess,
        }],
        ..StmConfig::default()
    };
    let r = cockpit_stm::audit(&c, &CancellationToken::new()).await;
    assert_eq!(r.subjects, 0);
    assert_eq!(r.findings.len(), 1);
    assert_eq!(r.findings[0].status, Status::Fail);
    assert_eq!(r.findings[0].subject.as_deref(), Some("chat"));
}

#[tokio::test]
async fn probe_latency_reports_distributions_and_cleans_up() {
    let server = RedisServer::start(testing::AOF_NOEVICTION);
    let opts = cockpit_stm::LatencyOptions {
        samples: 30,
        ..Default::default()
    };
    let r = cockpit_stm::measure_latency(&server.url(), &opts)
        .await
        .unwrap();
    assert_eq!(r.samples, 30);
    assert_eq!(r.ping.count, 30);
    assert_eq!(r.get.unwrap().count, 30);
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["protocol"], "redis");
    assert!(v["ping"]["p99_ms"].as_f64().unwrap() > 0.0);
    no_check_keys_left(&server);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_stops_mid_check_is_reported_not_waited_for() {
    let mut server = RedisServer::start(testing::NO_PERSISTENCE);
    let c = StmConfig {
        latency_samples: 10_000_000,
        timeout: Duration::from_secs(2),
        ..cfg(&server)
    };
    let audit =
        tokio::spawn(async move { cockpit_stm::audit(&c, &CancellationToken::new()).await });
    // Hang guard, not a timing assertion: wait until the latency loop runs.
    let start = std::time::Instant::now();
    // Kill only once the latency loop has PINGed a few times, so there are
    // samples to report (the server counts them in INFO commandstats).
    let pings = |s: &RedisServer| {
        s.cli(&["INFO", "commandstats"])
            .lines()
            .find_map(|l| l.strip_prefix("cmdstat_ping:calls="))
            .and_then(|v| v.split(',').next()?.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    while server.keys("*cockpit-check:*").is_empty() || pings(&server) < 20 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the check never started its latency loop"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.kill();
    let r = tokio::time::timeout(Duration::from_secs(60), audit)
        .await
        .expect("the audit did not return after the server died")
        .unwrap();
    let lat = find(&r, "STA-LATENCY");
    assert_eq!(lat.status, Status::Warn, "{}", lat.summary);
    assert!(lat.summary.contains("commands failed"), "{}", lat.summary);
    assert!(lat.measurement("ping_p99").unwrap().samples > 0);
}

#[tokio::test]
async fn tls_against_a_plaintext_port_is_named_a_tls_failure() {
    let server = RedisServer::start(testing::NO_PERSISTENCE);
    let c = StmConfig {
        url: Some(format!("rediss://127.0.0.1:{}", server.port())),
        timeout: Duration::from_secs(3),
        ..cfg(&server)
    };
    let r = cockpit_stm::audit(&c, &CancellationToken::new()).await;
    assert_eq!(r.reached, 0);
    let f = find(&r, "STA-PERSIST");
    assert_eq!(f.status, Status::NotMeasured);
    assert!(f.summary.contains("TLS"), "{}", f.summary);
    assert!(f.summary.contains("rediss://127.0.0.1:"), "{}", f.summary);
}

#[tokio::test]
async fn a_database_the_server_does_not_have_is_a_url_error() {
    let server = RedisServer::start(testing::NO_PERSISTENCE);
    let opts = cockpit_stm::LatencyOptions {
        samples: 2,
        ..Default::default()
    };
    let url = format!("redis://127.0.0.1:{}/99999", server.port());
    match cockpit_stm::measure_latency(&url, &opts).await {
        Err(e @ cockpit_stm::StmError::Url { .. }) => {
            assert!(e.to_string().contains("no database 99999"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    // A database it has: selected, and the check's key goes there.
    let url = format!("redis://127.0.0.1:{}/3", server.port());
    let r = cockpit_stm::measure_latency(&url, &opts).await.unwrap();
    assert_eq!((r.samples, r.target.ends_with("/3")), (2, true));
}

/// The number of PINGs the server has answered (INFO commandstats).
fn pings(server: &RedisServer) -> u64 {
    server
        .cli(&["INFO", "commandstats"])
        .lines()
        .find_map(|l| l.strip_prefix("cmdstat_ping:calls="))
        .and_then(|v| v.split(',').next()?.trim().parse::<u64>().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelling_mid_audit_keeps_the_findings_so_far_and_deletes_the_key() {
    let server = RedisServer::start(testing::AOF_NOEVICTION);
    let c = StmConfig {
        latency_samples: 10_000_000,
        ..cfg(&server)
    };
    let cancel = CancellationToken::new();
    let audit = tokio::spawn({
        let cancel = cancel.clone();
        async move { cockpit_stm::audit(&c, &cancel).await }
    });
    // Hang guard, not a timing assertion: cancel once the latency loop
    // runs (its key exists and it has PINGed), so every earlier check ran.
    let start = std::time::Instant::now();
    while server.keys("*cockpit-check:*").is_empty() || pings(&server) < 20 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the check never started its latency loop"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cancel.cancel();
    let r = tokio::time::timeout(Duration::from_secs(60), audit)
        .await
        .expect("the audit did not return after the cancel")
        .unwrap();
    assert_eq!((r.subjects, r.reached, r.interrupted), (1, 1, true));
    // The findings so far are kept, each with its verdict.
    assert_eq!(check_ids(&r), SERVER_CHECKS, "{:#?}", r.findings);
    for f in &r.findings {
        assert_ne!(f.status, Status::NotMeasured, "{}", f.summary);
    }
    let lat = find(&r, "STA-LATENCY");
    assert!(
        lat.measurement("ping_p99").unwrap().samples >= 1,
        "{lat:#?}"
    );
    no_check_keys_left(&server);
    assert_eq!(server.cli(&["DBSIZE"]).trim(), "0");
}

#[tokio::test]
async fn fsync_left_to_the_os_and_a_volatile_policy_warn() {
    let server = RedisServer::start(
        "appendonly yes\nappendfsync no\nsave \"\"\nmaxmemory 64mb\nmaxmemory-policy volatile-lru\n",
    );
    let r = cockpit_stm::audit(&cfg(&server), &CancellationToken::new()).await;
    let fsync = find(&r, "STA-FSYNC");
    assert_eq!(fsync.status, Status::Warn, "{}", fsync.summary);
    assert!(
        fsync.summary.contains("appendfsync no"),
        "{}",
        fsync.summary
    );
    let evict = find(&r, "STA-EVICT");
    assert_eq!(evict.status, Status::Warn, "{}", evict.summary);
    assert!(evict.summary.contains("volatile-lru"), "{}", evict.summary);
    // AOF is on: persistence itself passes.
    assert_eq!(find(&r, "STA-PERSIST").status, Status::Pass);
}

#[tokio::test]
async fn a_replica_that_lost_its_primary_fails_ha() {
    let mut primary = RedisServer::start(testing::AOF_NOEVICTION);
    let replica = RedisServer::start_replica(&primary, testing::AOF_NOEVICTION);
    primary.kill();
    // Hang guard: wait until the replica sees its link down.
    let start = std::time::Instant::now();
    while !replica
        .cli(&["INFO", "replication"])
        .contains("master_link_status:down")
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the replica never noticed its primary was gone"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = cockpit_stm::audit(&cfg(&replica), &CancellationToken::new()).await;
    let ha = find(&r, "STA-HA");
    assert_eq!(ha.status, Status::Fail, "{}", ha.summary);
    assert!(ha.summary.contains("link is down"), "{}", ha.summary);
    assert!(ha.recommendation.is_some());
}

#[tokio::test]
async fn a_full_store_under_noeviction_fails_the_round_trip() {
    let server = RedisServer::start(testing::AOF_NOEVICTION);
    // Any write now exceeds maxmemory; reads still work.
    server.cli(&["CONFIG", "SET", "maxmemory", "1"]);
    let r = cockpit_stm::audit(&cfg(&server), &CancellationToken::new()).await;
    let rt = find(&r, "STA-ROUNDTRIP");
    assert_eq!(rt.status, Status::Fail, "{}", rt.summary);
    assert!(
        rt.summary.contains("refused a session write"),
        "{}",
        rt.summary
    );
    assert!(rt.summary.contains("OOM"), "{}", rt.summary);
    // PING is still measured; SET/GET say why they were not.
    let lat = find(&r, "STA-LATENCY");
    assert!(lat.measurement("ping_p99").is_some(), "{lat:#?}");
    assert!(lat.measurement("set_p99").is_none(), "{lat:#?}");
    server.cli(&["CONFIG", "SET", "maxmemory", "0"]);
    no_check_keys_left(&server);
}

#[tokio::test]
async fn session_keys_that_all_expire_pass_the_sample() {
    let server = RedisServer::start(testing::AOF_NOEVICTION);
    for i in 0..5 {
        server.cli(&["SET", &format!("agent:stm:s{i}"), "doc", "EX", "3600"]);
    }
    let c = StmConfig {
        sample_sessions: Some(100),
        ..cfg(&server)
    };
    let r = cockpit_stm::audit(&c, &CancellationToken::new()).await;
    let k = find(&r, "STA-KEYS");
    assert_eq!(k.status, Status::Pass, "{}", k.summary);
    assert_eq!(k.measurement("keys_sampled").unwrap().value, 5.0);
    assert_eq!(k.measurement("keys_without_ttl").unwrap().value, 0.0);
}

#[test]
fn redis_cli_failures_are_failures_not_empty_answers() {
    let mut server = RedisServer::start(testing::NO_PERSISTENCE);
    assert_eq!(server.cli(&["PING"]).trim(), "PONG");
    // An error reply, and a server that is gone, both fail loudly.
    let e = server.try_cli(&["NO-SUCH-COMMAND"]).unwrap_err();
    assert!(e.contains("unknown command"), "{e}");
    server.kill();
    let e = server.try_cli(&["--scan", "--pattern", "*"]).unwrap_err();
    assert!(e.contains("Could not connect"), "{e}");
    let panicked = std::panic::catch_unwind(|| server.keys("*cockpit-check:*"));
    assert!(
        panicked.is_err(),
        "keys() on a dead server returned {panicked:?}"
    );
}

/// Cancelled before the server was reached: every configured server check
/// is still listed, not measured, saying the audit was interrupted.
#[tokio::test]
async fn a_cancel_before_the_server_lists_every_check_as_interrupted() {
    let server = RedisServer::start(testing::AOF_NOEVICTION);
    let cancel = CancellationToken::new();
    cancel.cancel();
    let r = cockpit_stm::audit(&cfg(&server), &cancel).await;
    assert!(r.interrupted);
    assert_eq!(check_ids(&r), SERVER_CHECKS.to_vec(), "{:#?}", r.findings);
    for f in &r.findings {
        assert_eq!(f.status, Status::NotMeasured, "{f:#?}");
        assert!(f.summary.contains("interrupted"), "{}", f.summary);
    }
}
