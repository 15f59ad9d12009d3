//! The State checks against hostile RESP servers (`testing::hostile`):
//! replies nested past any sane depth, bulk strings announcing a terabyte
//! and streaming, aggregates announcing billions of elements, replies
//! dripped slower than the timeout. Each must end as a named not-measured
//! finding (or a clear error from the latency probe), never a crash, a hang
//! or unbounded memory.

use std::time::Duration;

use cockpit_core::{AuditOutcome, Finding, Status};
use cockpit_stm::testing::hostile::{HostileServer, Reply};
use cockpit_stm::{LatencyOptions, ReplyLimits, StmConfig, StmError};
use tokio_util::sync::CancellationToken;

/// A hang guard, not a timing assertion.
const GUARD: Duration = Duration::from_secs(60);

/// Every check that needs the server.
const SERVER_CHECKS: [&str; 6] = [
    "STA-PERSIST",
    "STA-FSYNC",
    "STA-EVICT",
    "STA-HA",
    "STA-ROUNDTRIP",
    "STA-LATENCY",
];

/// A minimal INFO: a primary with no persistence and `noeviction`.
const INFO: &[u8] = b"role:master\r\naof_enabled:0\r\nmaxmemory_policy:noeviction\r\n";

const INFO_CHECKS: [&str; 4] = ["STA-PERSIST", "STA-FSYNC", "STA-EVICT", "STA-HA"];

fn cfg(server: &HostileServer) -> StmConfig {
    StmConfig {
        latency_samples: 5,
        timeout: Duration::from_secs(2),
        ..StmConfig::for_url(server.url())
    }
}

async fn audit(c: &StmConfig) -> AuditOutcome {
    tokio::time::timeout(GUARD, cockpit_stm::audit(c, &CancellationToken::new()))
        .await
        .expect("the audit did not return")
}

fn find<'a>(r: &'a AuditOutcome, id: &str) -> &'a Finding {
    r.findings
        .iter()
        .find(|f| f.check_id.as_str() == id)
        .unwrap_or_else(|| panic!("no {id} finding in {:#?}", r.findings))
}

#[track_caller]
fn not_measured_saying(r: &AuditOutcome, ids: &[&str], what: &str) {
    for id in ids {
        let f = find(r, id);
        assert_eq!(f.status, Status::NotMeasured, "{id}: {}", f.summary);
        assert!(f.summary.contains(what), "{id}: {}", f.summary);
    }
}

async fn latency_error(server: &HostileServer) -> StmError {
    let opts = LatencyOptions {
        samples: 3,
        timeout: Duration::from_secs(2),
        ..LatencyOptions::default()
    };
    tokio::time::timeout(GUARD, cockpit_stm::measure_latency(&server.url(), &opts))
        .await
        .expect("the latency probe did not return")
        .expect_err("a hostile server cannot be measured")
}

#[tokio::test]
async fn nesting_past_the_bound_is_a_finding_for_every_aggregate_type() {
    // RESP2 arrays, and RESP3 sets, pushes, maps and attributes.
    for kind in [b'*', b'~', b'>', b'%', b'|'] {
        let server = HostileServer::start(Reply::nested(kind, 10_000));
        let r = audit(&cfg(&server)).await;
        assert_eq!((r.subjects, r.reached), (1, 0), "{}", kind as char);
        not_measured_saying(&r, &SERVER_CHECKS, "nesting deeper than 32");
        match latency_error(&server).await {
            StmError::ReplyBound { bound, what, .. } => {
                assert_eq!(what, "PING");
                assert!(bound.contains("nesting deeper than 32"), "{bound}");
            }
            e => panic!("{}: {e}", kind as char),
        }
    }
}

#[tokio::test]
async fn a_hostile_info_spoils_only_what_rests_on_info() {
    // PING is answered; INFO is nested 10 000 deep, then a terabyte.
    for info in [
        Reply::nested(b'*', 10_000),
        Reply::endless_blob(b'$', 1 << 40),
    ] {
        let server = HostileServer::start(Reply::bytes(b"+PONG\r\n")).answering("INFO", info);
        let r = audit(&cfg(&server)).await;
        assert_eq!(r.reached, 1);
        not_measured_saying(&r, &INFO_CHECKS, "protocol error");
        // The rest ran: the round trip got an answer it could name.
        let rt = find(&r, "STA-ROUNDTRIP");
        assert_eq!(rt.status, Status::NotMeasured, "{}", rt.summary);
        assert!(rt.summary.contains("unexpected reply"), "{}", rt.summary);
    }
}

#[tokio::test]
async fn blobs_announced_past_the_bound_are_refused_before_reading() {
    // Bulk, verbatim and blob-error strings announcing a terabyte, then
    // streaming bytes for as long as anyone reads them.
    for kind in [b'$', b'=', b'!'] {
        let server = HostileServer::start(Reply::endless_blob(kind, 1_099_511_627_776));
        let r = audit(&cfg(&server)).await;
        not_measured_saying(&r, &SERVER_CHECKS, "reply over 4194304 bytes");
        assert!(matches!(
            latency_error(&server).await,
            StmError::ReplyBound { .. }
        ));
    }
    // Announced under the bound but never ending: the payload is read,
    // then the missing CRLF is a protocol error.
    let server = HostileServer::start(Reply::endless_blob(b'$', 4_000_000));
    let r = audit(&cfg(&server)).await;
    not_measured_saying(&r, &SERVER_CHECKS, "protocol error");
    // A simple string, error or number whose line never ends.
    for kind in [b'+', b'-', b':'] {
        let server = HostileServer::start(Reply::Endless {
            head: vec![kind],
            fill: b'7',
        });
        let r = audit(&cfg(&server)).await;
        not_measured_saying(&r, &SERVER_CHECKS, "reply over 4194304 bytes");
    }
}

#[tokio::test]
async fn huge_announced_counts_are_refused_before_allocating() {
    for head in [
        "*99999999999\r\n",
        "%99999999999\r\n",
        "~99999999999\r\n",
        ">99999999999\r\n",
        "|99999999999\r\n",
        "*9223372036854775807\r\n",
    ] {
        let server = HostileServer::start(Reply::Endless {
            head: head.as_bytes().to_vec(),
            fill: b'_',
        });
        let r = audit(&cfg(&server)).await;
        not_measured_saying(&r, &SERVER_CHECKS, "more than 100000 elements");
    }
    // Bounds are configurable: a tighter one is honoured.
    let server = HostileServer::start(Reply::bytes(b"*3\r\n:1\r\n:2\r\n:3\r\n"));
    let c = StmConfig {
        reply_limits: ReplyLimits {
            max_elements: 2,
            ..ReplyLimits::default()
        },
        ..cfg(&server)
    };
    let r = audit(&c).await;
    not_measured_saying(&r, &SERVER_CHECKS, "more than 2 elements");
}

#[tokio::test]
async fn a_reply_dripped_slower_than_the_timeout_is_a_timeout() {
    let server = HostileServer::start(Reply::Drip {
        bytes: b"+PONG\r\n".to_vec(),
        every: Duration::from_millis(500),
    });
    let c = StmConfig {
        timeout: Duration::from_secs(1),
        ..cfg(&server)
    };
    let r = audit(&c).await;
    not_measured_saying(&r, &SERVER_CHECKS, "no PONG within 1000 ms");
    // A dripped INFO after a prompt PONG: INFO's own timeout.
    let server = HostileServer::start(Reply::bytes(b"+PONG\r\n")).answering(
        "INFO",
        Reply::Drip {
            bytes: b"$100\r\n".repeat(20),
            every: Duration::from_millis(200),
        },
    );
    let r = audit(&StmConfig {
        timeout: Duration::from_secs(1),
        ..cfg(&server)
    })
    .await;
    not_measured_saying(&r, &INFO_CHECKS, "no answer to INFO within 1000 ms");
}

#[tokio::test]
async fn not_redis_at_all_is_a_protocol_error() {
    let server = HostileServer::start(Reply::bytes(b"SSH-2.0-OpenSSH_9.6\r\n"));
    let r = audit(&cfg(&server)).await;
    not_measured_saying(&r, &SERVER_CHECKS, "unexpected type byte");
}

#[tokio::test]
async fn hostile_scan_pages_and_sizes_are_findings_of_the_key_sample() {
    let sampled = |server: &HostileServer| StmConfig {
        sample_sessions: Some(10),
        ..cfg(server)
    };
    // A SCAN page nested past the bound.
    let server = HostileServer::start(Reply::bytes(b"+PONG\r\n"))
        .answering("INFO", Reply::bulk(INFO))
        .answering("SCAN", Reply::nested(b'*', 10_000));
    let r = audit(&sampled(&server)).await;
    not_measured_saying(&r, &["STA-KEYS"], "nesting deeper than 32");
    // INFO was read: the checks resting on it ran.
    assert_ne!(find(&r, "STA-EVICT").status, Status::NotMeasured);
    // A page with one key, whose MEMORY USAGE is a terabyte.
    let server = HostileServer::start(Reply::bytes(b"+PONG\r\n"))
        .answering("INFO", Reply::bulk(INFO))
        .answering(
            "SCAN",
            Reply::bytes(b"*2\r\n$1\r\n0\r\n*1\r\n$12\r\nagent:stm:s1\r\n"),
        )
        .answering("TTL", Reply::bytes(b":-1\r\n"))
        .answering("MEMORY", Reply::endless_blob(b'$', 1 << 40));
    let r = audit(&sampled(&server)).await;
    let k = find(&r, "STA-KEYS");
    assert_eq!(k.status, Status::Warn, "{}", k.summary);
    assert!(
        k.summary.contains("sizes not measured") && k.summary.contains("reply over 4194304 bytes"),
        "{}",
        k.summary
    );
}

#[tokio::test]
async fn an_info_without_fields_is_not_measured_not_silently_skipped() {
    let server = HostileServer::start(Reply::bytes(b"+PONG\r\n"));
    let r = audit(&cfg(&server)).await;
    not_measured_saying(&r, &INFO_CHECKS, "no `name:value` field");
    // A hostile TIME does not stop the persistence verdict.
    let server = HostileServer::start(Reply::bytes(b"+PONG\r\n"))
        .answering("INFO", Reply::bulk(INFO))
        .answering("CONFIG", Reply::bytes(b"*2\r\n$4\r\nsave\r\n$0\r\n\r\n"))
        .answering("TIME", Reply::nested(b'>', 10_000));
    let r = audit(&cfg(&server)).await;
    let p = find(&r, "STA-PERSIST");
    assert_eq!(p.status, Status::Fail, "{}", p.summary);
}

/// A server that keeps what it is given (SET / GET of the last value) and
/// otherwise answers like a healthy primary.
fn store() -> HostileServer {
    HostileServer::start(Reply::bytes(b"+OK\r\n"))
        .answering("PING", Reply::bytes(b"+PONG\r\n"))
        .answering("INFO", Reply::bulk(INFO))
        .answering("GET", Reply::LastSetValue)
        .answering("TTL", Reply::bytes(b":100\r\n"))
        .answering("DEL", Reply::bytes(b":1\r\n"))
}

#[tokio::test]
async fn a_store_that_keeps_what_it_is_given_passes_the_round_trip() {
    // The counterpart of the two below: the fake store itself is honest.
    let r = audit(&cfg(&store())).await;
    let rt = find(&r, "STA-ROUNDTRIP");
    assert_eq!(rt.status, Status::Pass, "{}", rt.summary);
}

#[tokio::test]
async fn a_store_that_returns_other_bytes_fails_the_round_trip() {
    let server = store().answering("GET", Reply::bulk(&[b'x'; 1024]));
    let r = audit(&cfg(&server)).await;
    let rt = find(&r, "STA-ROUNDTRIP");
    assert_eq!(rt.status, Status::Fail, "{}", rt.summary);
    assert!(rt.summary.contains("different bytes"), "{}", rt.summary);
    // And one whose key is gone the moment it was written.
    let server = store().answering("GET", Reply::bytes(b"$-1\r\n"));
    let r = audit(&cfg(&server)).await;
    let rt = find(&r, "STA-ROUNDTRIP");
    assert_eq!(rt.status, Status::Fail, "{}", rt.summary);
    assert!(rt.summary.contains("read back nothing"), "{}", rt.summary);
}

#[tokio::test]
async fn a_store_that_drops_the_ttl_fails_the_round_trip() {
    for (ttl, says) in [
        (&b":-1\r\n"[..], "TTL reads -1"),
        (b":999999\r\n", "TTL reads 999999"),
    ] {
        let server = store().answering("TTL", Reply::bytes(ttl));
        let r = audit(&cfg(&server)).await;
        let rt = find(&r, "STA-ROUNDTRIP");
        assert_eq!(rt.status, Status::Fail, "{}", rt.summary);
        assert!(rt.summary.contains(says), "{}", rt.summary);
        assert!(
            rt.summary.contains("expiry is not applied"),
            "{}",
            rt.summary
        );
    }
}

#[tokio::test]
async fn a_server_slower_than_twice_the_bound_fails_latency() {
    // Every PONG takes at least 6 × 50 ms = 300 ms to arrive (the server
    // sleeps between its bytes): more than twice a 100 ms bound however
    // fast or loaded the machine is. Not a timing assertion on the client.
    let server = store().answering(
        "PING",
        Reply::Drip {
            bytes: b"+PONG\r\n".to_vec(),
            every: Duration::from_millis(50),
        },
    );
    let c = StmConfig {
        latency_samples: 3,
        latency_p99: Duration::from_millis(100),
        timeout: Duration::from_secs(10),
        ..cfg(&server)
    };
    let r = audit(&c).await;
    let lat = find(&r, "STA-LATENCY");
    assert_eq!(lat.status, Status::Fail, "{}", lat.summary);
    assert!(lat.summary.contains("by more than 2×"), "{}", lat.summary);
    let p99 = lat.measurement("ping_p99").unwrap();
    assert_eq!(p99.samples, 3);
    assert!(lat.recommendation.is_some());
}
