//! Streams that never end or never progress, from the testbed's hostile
//! servers: every variant ends as a named failure (`timeout` at the
//! request's bound, `stall` at the idle bound), counted by kind, and a run
//! deadline is reported as such, not as an interruption.
//!
//! The hang guards are generous (a minute); nothing here asserts a timing.

mod common;

use std::time::Duration;

use cockpit_probe::load::{LoadOptions, RatePlan, run_load};
use cockpit_probe::{ErrorKind, ProbeOptions, ProbeReport, Protocol, probe};
use cockpit_testbed::hostile::{Behaviour, GrpcBehaviour, HostileGrpc, HostileHttp};

const HANG_GUARD: Duration = Duration::from_secs(60);

fn opts(samples: u32, timeout: Duration, idle: Option<Duration>) -> ProbeOptions {
    ProbeOptions {
        samples,
        warmup: 0,
        concurrency: samples,
        timeout,
        idle_timeout: idle,
        deadline: Duration::from_secs(120),
        ..ProbeOptions::default()
    }
}

/// Probe `url` with a hang guard; the report.
async fn guarded(url: &str, protocol: Protocol, opts: &ProbeOptions) -> ProbeReport {
    tokio::time::timeout(HANG_GUARD, probe(url, protocol, opts))
        .await
        .unwrap_or_else(|_| panic!("{url}: the probe did not end within {HANG_GUARD:?}"))
        .expect("the probe runs")
}

/// Every request of `r` failed with `kind`, and the run was neither
/// interrupted nor stopped by its deadline.
#[track_caller]
fn all_failed_as(r: &ProbeReport, kind: ErrorKind, what: &str) {
    assert_eq!(r.samples, 0, "{what}: {r:?}");
    assert_eq!(r.attempted, 2, "{what}: {:?}", r.errors);
    assert_eq!(r.error_count(kind), 2, "{what}: {:?}", r.error_examples);
    assert!(!r.interrupted && !r.deadline_reached, "{what}: {r:?}");
    assert_eq!(r.unfinished, 0, "{what}");
    let example = &r.error_examples[&kind];
    assert!(
        example.contains("127.0.0.1"),
        "{what}: names the target: {example}"
    );
}

/// Run `behaviours` side by side, each against its own server.
async fn each<F, Fut>(behaviours: &[Behaviour], f: F)
where
    F: Fn(Behaviour, HostileHttp) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut runs = Vec::new();
    for b in behaviours {
        let server = HostileHttp::start(*b).await.expect("hostile server starts");
        runs.push(f(*b, server));
    }
    futures_util::future::join_all(runs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_never_ending_sse_stream_ends_at_the_request_timeout() {
    let never_ending = [
        Behaviour::EndlessTokens,
        Behaviour::EndlessComments,
        Behaviour::TokenThenComments,
        Behaviour::EndlessEmptyEvents,
        Behaviour::EndlessLine,
        Behaviour::NoHead,
        Behaviour::HeadDrip,
        Behaviour::Drip,
    ];
    each(&never_ending, |b, server| async move {
        let o = opts(2, Duration::from_secs(1), None);
        let r = guarded(&server.openai_url(), Protocol::OpenAi, &o).await;
        all_failed_as(&r, ErrorKind::Timeout, &format!("{b:?}"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_stops_progressing_is_a_stall_at_the_idle_bound() {
    // Bytes flow, but no event completes: comments, a line without end,
    // one byte at a time, a token then only comments.
    let stalled = [
        Behaviour::EndlessComments,
        Behaviour::TokenThenComments,
        Behaviour::EndlessLine,
        Behaviour::Drip,
    ];
    each(&stalled, |b, server| async move {
        let o = opts(2, Duration::from_secs(30), Some(Duration::from_millis(300)));
        let r = guarded(&server.openai_url(), Protocol::OpenAi, &o).await;
        all_failed_as(&r, ErrorKind::Stall, &format!("{b:?}"));
    })
    .await;
    // Events keep coming: the stream progresses, only the request's own
    // bound ends it.
    let progressing = [Behaviour::EndlessTokens, Behaviour::EndlessEmptyEvents];
    each(&progressing, |b, server| async move {
        let o = opts(2, Duration::from_secs(1), Some(Duration::from_millis(300)));
        let r = guarded(&server.openai_url(), Protocol::OpenAi, &o).await;
        all_failed_as(&r, ErrorKind::Timeout, &format!("{b:?}"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_bodies_and_heads_that_never_end_are_timeouts() {
    let never_ending = [
        Behaviour::EndlessBody,
        Behaviour::NoHead,
        Behaviour::HeadDrip,
        Behaviour::EndlessTokens,
    ];
    each(&never_ending, |b, server| async move {
        let o = opts(2, Duration::from_secs(1), None);
        let r = guarded(&server.base_url(), Protocol::Http, &o).await;
        all_failed_as(&r, ErrorKind::Timeout, &format!("{b:?}"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_streams_that_never_end_are_timeouts_or_stalls() {
    for (b, idle, kind) in [
        (GrpcBehaviour::EndlessTokens, None, ErrorKind::Timeout),
        (GrpcBehaviour::SilentStream, None, ErrorKind::Timeout),
        (GrpcBehaviour::NoAnswer, None, ErrorKind::Timeout),
        (
            GrpcBehaviour::SilentStream,
            Some(Duration::from_millis(300)),
            ErrorKind::Stall,
        ),
    ] {
        let server = HostileGrpc::start(b).await.expect("hostile gRPC starts");
        let o = opts(2, Duration::from_secs(1), idle);
        let r = guarded(&server.url(), Protocol::Grpc, &o).await;
        all_failed_as(&r, kind, &format!("{b:?} idle {idle:?}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_byte_order_mark_at_the_start_of_a_stream_is_skipped() {
    let server = HostileHttp::start(Behaviour::Bom).await.unwrap();
    let r = guarded(
        &server.openai_url(),
        Protocol::OpenAi,
        &opts(2, Duration::from_secs(10), None),
    )
    .await;
    assert_eq!(r.samples, 2, "{:?}", r.error_examples);
    assert_eq!(r.total_errors(), 0);
    assert_eq!(r.summary("itl").unwrap().count, 2 * 2, "three tokens each");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_deadline_is_reported_as_such_with_what_was_left() {
    let server = HostileHttp::start(Behaviour::EndlessTokens).await.unwrap();
    let o = ProbeOptions {
        deadline: Duration::from_secs(1),
        concurrency: 1,
        ..opts(3, Duration::from_secs(30), None)
    };
    let r = guarded(&server.openai_url(), Protocol::OpenAi, &o).await;
    assert!(r.deadline_reached, "{r:?}");
    assert!(!r.interrupted, "a deadline is not a cancel");
    assert_eq!(r.samples, 0);
    assert_eq!(r.attempted + r.unfinished, 3, "{r:?}");
    assert_eq!(r.unfinished, 3, "the one in flight was abandoned: {r:?}");
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["deadline_reached"], true);
    assert_eq!(v["interrupted"], false);
    assert_eq!(v["unfinished"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_requests_on_endless_streams_end_as_timeouts() {
    let server = HostileHttp::start(Behaviour::EndlessTokens).await.unwrap();
    let o = LoadOptions {
        protocol: Protocol::OpenAi,
        connections: 2,
        duration: Duration::from_secs(3),
        request: ProbeOptions {
            timeout: Duration::from_secs(1),
            ..ProbeOptions::default()
        },
        ..LoadOptions::default()
    };
    let r = tokio::time::timeout(HANG_GUARD, run_load(&server.openai_url(), &o))
        .await
        .expect("the load run ends")
        .unwrap();
    assert!(r.error_count(ErrorKind::Timeout) >= 2, "{:?}", r.errors);
    assert_eq!(r.requests.ok, 0);
    assert!(!r.interrupted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_loop_lasts_its_duration_whatever_its_rate() {
    let tb = common::testbed(Duration::from_millis(1), Duration::from_millis(1), 2).await;
    let url = format!("{}/healthz", tb.base_url());
    let o = LoadOptions {
        connections: 1,
        duration: Duration::from_secs(2),
        rate: Some(RatePlan::Fixed(0.0001)),
        ..LoadOptions::default()
    };
    let r = tokio::time::timeout(HANG_GUARD, run_load(&url, &o))
        .await
        .expect("the load run ends")
        .unwrap();
    // One request is due in 2 s (the next one in 10 000 s): the run still
    // lasts its 2 s, and the offered rate is what the schedule offered in it.
    assert_eq!(r.requests.scheduled, Some(1), "{r:?}");
    assert_eq!(r.elapsed_s, 2.0, "{r:?}");
    assert_eq!(r.offered_rps, Some(0.5));
    assert!(!r.interrupted);
    tb.shutdown().await;
}
