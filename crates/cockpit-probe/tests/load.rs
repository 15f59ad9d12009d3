//! The load engine against the reference testbed on 127.0.0.1: counts
//! checked against the server's own counters, the coordinated-omission
//! stall, reproducible schedules, errors by kind, SLOs, sweeps, gRPC and
//! cancellation.

mod common;

use std::time::Duration;

use cockpit_probe::load::{
    Arrival, LoadOptions, LoadReport, RatePlan, ResponseStatus, Schedule, run_load,
};
use cockpit_probe::{ErrorKind, ProbeOptions, Protocol};
use cockpit_testbed::{Testbed, TestbedConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `testbed_requests_total{route,code}` from the testbed's /metrics.
async fn server_count(tb: &Testbed, route: &str, code: &str) -> u64 {
    let mut c = tokio::net::TcpStream::connect(tb.http_addr())
        .await
        .unwrap();
    c.write_all(b"GET /metrics HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    c.read_to_string(&mut text).await.unwrap();
    let key = format!("testbed_requests_total{{route=\"{route}\",code=\"{code}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&key))
        .map_or(0, |n| n.trim().parse().unwrap())
}

fn opts(connections: u32, duration: Duration) -> LoadOptions {
    LoadOptions {
        connections,
        duration,
        threads: Some(2),
        interval: Duration::from_millis(250),
        request: ProbeOptions {
            timeout: Duration::from_secs(5),
            ..ProbeOptions::default()
        },
        ..LoadOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_counts_match_the_servers_counters() {
    let tb = Testbed::start(TestbedConfig::default()).await.unwrap();
    let url = format!("{}/healthz", tb.base_url());
    let r = run_load(
        &url,
        &LoadOptions {
            max_requests: Some(3000),
            ..opts(8, Duration::from_secs(60))
        },
    )
    .await
    .unwrap();
    assert_eq!(r.client_path, "lean-http1");
    assert_eq!(
        (r.requests.sent, r.requests.ok, r.requests.errors),
        (3000, 3000, 0),
        "{:?}",
        r.errors
    );
    assert_eq!(r.requests.in_flight_at_end, 0);
    assert_eq!(server_count(&tb, "/healthz", "200").await, 3000);
    assert_eq!(r.latency.count, 3000);
    assert!(r.bytes_read > 3000 * 2, "{}", r.bytes_read);
    assert!(!r.interrupted && r.slo_pass);
    assert!(
        r.methods["latency"].contains("3000 samples"),
        "{}",
        r.methods["latency"]
    );

    // Bounded by time: every request the server answered was either read
    // by the client or abandoned in flight at the end.
    let before = server_count(&tb, "/healthz", "200").await;
    let r = run_load(&url, &opts(8, Duration::from_millis(600)))
        .await
        .unwrap();
    let served = server_count(&tb, "/healthz", "200").await - before;
    assert!(r.requests.ok > 0);
    assert_eq!(
        r.requests.sent,
        r.requests.ok + r.requests.errors + r.requests.in_flight_at_end
    );
    assert!(
        served >= r.requests.ok && served <= r.requests.ok + r.requests.in_flight_at_end,
        "server {served}, client {:?}",
        r.requests
    );
    let per_interval: u64 = r.intervals.iter().map(|i| i.requests).sum();
    assert_eq!(per_interval, r.requests.ok, "intervals add up to the run");
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_latency_counts_a_stall_from_the_intended_send_time() {
    let tb = Testbed::start(TestbedConfig::default()).await.unwrap();
    let url = format!("{}/healthz", tb.base_url());
    // 200 requests per second for 4 s on 8 connections (2 workers of 4);
    // the server stalls for 1 s once the first interval is reported, so
    // the stall starts inside the run and ends well before it.
    const RATE: f64 = 200.0;
    const CONNECTIONS: u32 = 8;
    const WORKERS: u32 = 2;
    let stall = Duration::from_secs(1);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let o = LoadOptions {
        rate: Some(RatePlan::Fixed(RATE)),
        progress: Some(tx),
        ..opts(CONNECTIONS, Duration::from_secs(4))
    };
    let pause = async {
        rx.recv().await.expect("a first interval");
        tb.pause_for(stall);
    };
    let (r, ()) = tokio::join!(run_load(&url, &o), pause);
    let r = r.unwrap();

    // Counts follow from the schedule: rate × duration requests were due,
    // and each was answered, failed, abandoned at the end or never sent.
    let steps = o.rate.unwrap().steps(o.duration);
    let due: u64 = (0..WORKERS as usize)
        .map(|w| Schedule::new(&steps, Arrival::Constant, 0, w, WORKERS as usize).count() as u64)
        .sum();
    assert_eq!(due, 800, "rate × duration");
    assert_eq!(r.requests.scheduled, Some(due));
    assert_eq!(r.requests.errors, 0, "{:?}", r.error_examples);
    assert_eq!(
        r.requests.ok + r.requests.in_flight_at_end + r.requests.unsent.unwrap(),
        due,
        "{:?}",
        r.requests
    );
    assert_eq!(r.latency.count, r.requests.ok);

    // Coordinated omission, by construction: a request due at `t` inside
    // a stall that ends at `end` is answered after `end`, and its latency
    // runs from `t`. The k-th request due after the stall began was due at
    // most k / RATE into it, so k requests took at least stall − k / RATE.
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let gap = 1000.0 / RATE;
    // HDR histograms keep 3 significant digits.
    let hdr = |v: f64| v * 0.999;
    assert!(
        r.latency.max_ms >= hdr(ms(stall) - gap),
        "open max {} ms after a {stall:?} stall",
        r.latency.max_ms
    );
    // Beyond the p99 lie fewer than count / 100 + 1 samples.
    let k = (r.latency.count / 100 + 1) as f64;
    assert!(
        r.latency.p99_ms >= hdr(ms(stall) - k * gap),
        "open p99 {} ms after a {stall:?} stall",
        r.latency.p99_ms
    );
    // Each worker's fifth request due in the stall found its 4 connections
    // held: it waited for the stall's end before it was written.
    let per_worker = f64::from(CONNECTIONS / WORKERS + 1) * f64::from(WORKERS);
    let lag = r.dispatch_lag.unwrap();
    assert!(
        lag.max_ms >= hdr(ms(stall) - per_worker * gap),
        "dispatch lag max {} ms",
        lag.max_ms
    );
    // Latency from the intended time is service time plus that wait, so
    // it is never below the service time, quantile by quantile.
    let service = r.service.unwrap();
    for (l, s) in [
        (r.latency.p50_ms, service.p50_ms),
        (r.latency.p99_ms, service.p99_ms),
        (r.latency.max_ms, service.max_ms),
    ] {
        assert!(l >= hdr(s), "latency {l} ms below service {s} ms");
    }
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_stall_the_open_loop_counts_what_it_could_not_send_and_the_closed_loop_sends_less() {
    let tb = Testbed::start(TestbedConfig::default()).await.unwrap();
    let url = format!("{}/healthz", tb.base_url());
    // The server stalls before each run and for longer than it (shutdown
    // ends the stall): no request is answered during either run.
    const CONNECTIONS: u32 = 8;
    let run = Duration::from_millis(300);
    let stall = Duration::from_secs(10);

    tb.pause_for(stall);
    let open_opts = LoadOptions {
        rate: Some(RatePlan::Fixed(200.0)),
        ..opts(CONNECTIONS, run)
    };
    let open = run_load(&url, &open_opts).await.unwrap();
    // 60 requests were due; each connection wrote one and waited.
    let c = u64::from(CONNECTIONS);
    assert_eq!(open.requests.scheduled, Some(60), "{:?}", open.requests);
    assert_eq!(
        (
            open.requests.sent,
            open.requests.ok,
            open.requests.in_flight_at_end
        ),
        (c, 0, c),
        "{:?}",
        open.requests
    );
    assert_eq!(open.requests.unsent, Some(60 - c));
    assert_eq!(open.latency.count, 0);

    tb.pause_for(stall);
    let closed = run_load(&url, &opts(CONNECTIONS, run)).await.unwrap();
    // The closed loop sent one request per connection and nothing tells
    // that it should have sent more.
    assert_eq!(
        (
            closed.requests.sent,
            closed.requests.ok,
            closed.requests.in_flight_at_end
        ),
        (c, 0, c),
        "{:?}",
        closed.requests
    );
    assert_eq!(
        (closed.requests.scheduled, closed.requests.unsent),
        (None, None)
    );
    assert!(closed.requests.sent < open.requests.scheduled.unwrap());
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeded_poisson_run_sends_exactly_its_schedule() {
    let tb = Testbed::start(TestbedConfig::default()).await.unwrap();
    let url = format!("{}/healthz", tb.base_url());
    let o = LoadOptions {
        rate: Some(RatePlan::Fixed(400.0)),
        arrival: Arrival::Poisson,
        seed: Some(42),
        ..opts(4, Duration::from_secs(1))
    };
    let r = run_load(&url, &o).await.unwrap();
    assert_eq!(r.seed, Some(42));
    let steps = o.rate.unwrap().steps(o.duration);
    let expected: u64 = (0..2)
        .map(|w| Schedule::new(&steps, Arrival::Poisson, 42, w, 2).count() as u64)
        .sum();
    assert_eq!(r.requests.scheduled, Some(expected));
    assert_eq!(
        r.requests.ok
            + r.requests.in_flight_at_end
            + r.requests.errors
            + r.requests.unsent.unwrap(),
        expected
    );
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections_are_counted_and_the_run_ends_on_time() {
    let port = common::refused_port().await;
    let started = std::time::Instant::now();
    let r = run_load(
        &format!("http://127.0.0.1:{port}/"),
        &opts(4, Duration::from_millis(300)),
    )
    .await
    .unwrap();
    assert!(r.error_count(ErrorKind::Connect) > 0, "{:?}", r.errors);
    assert_eq!(r.requests.ok, 0);
    assert!(r.error_examples[&ErrorKind::Connect].contains(&port.to_string()));
    // No status came: each failure is counted under its kind.
    let statuses = r.status_codes.as_ref().unwrap();
    assert_eq!(
        statuses.get(ResponseStatus::Failed(ErrorKind::Connect)),
        r.error_count(ErrorKind::Connect)
    );
    assert_eq!(statuses.total(), r.requests.errors, "{statuses:?}");
    // A hang guard, not a timing assertion: the run is bounded.
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_open_loop_counts_5xx_and_checks_slos() {
    let tb = common::testbed(Duration::from_millis(5), Duration::from_millis(1), 4).await;
    let mut o = LoadOptions {
        protocol: Protocol::OpenAi,
        rate: Some(RatePlan::Fixed(40.0)),
        slos: vec![
            "ttft:p(95)<5s".parse().unwrap(),
            "errors<1%".parse().unwrap(),
        ],
        ..opts(4, Duration::from_millis(750))
    };
    let r = run_load(&tb.openai_url(), &o).await.unwrap();
    assert_eq!(r.client_path, "hyper");
    assert_eq!(r.requests.errors, 0, "{:?}", r.error_examples);
    let due = r.requests.scheduled.unwrap();
    assert_eq!(due, 30, "rate × duration");
    assert_eq!(
        r.requests.ok + r.requests.in_flight_at_end + r.requests.unsent.unwrap(),
        due
    );
    assert!(r.requests.ok > 0);
    assert!(r.ttft.unwrap().count > 0);
    assert!(r.output_tokens_per_s.is_some());
    assert!(r.slo_pass, "{:?}", r.slos);
    assert!(r.goodput_rps.unwrap() > 0.0);

    o.request = common::with_header(o.request.clone(), "x-testbed-fault", "http500");
    let r = run_load(&tb.openai_url(), &o).await.unwrap();
    assert_eq!(r.requests.ok, 0);
    assert_eq!(r.error_count(ErrorKind::Http5xx), r.requests.errors);
    assert!(r.requests.errors > 0);
    assert_eq!(
        r.requests.errors + r.requests.in_flight_at_end + r.requests.unsent.unwrap(),
        due
    );
    assert!(!r.slo_pass);
    let errors = r.slos.iter().find(|s| s.slo == "errors<1%").unwrap();
    assert_eq!(errors.observed, Some(1.0));
    let ttft = r.slos.iter().find(|s| s.slo.starts_with("ttft")).unwrap();
    assert!(
        !ttft.pass && ttft.observed.is_none(),
        "no sample is never a pass"
    );
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_reports_each_step_and_the_knee() {
    let tb = Testbed::start(TestbedConfig::default()).await.unwrap();
    let o = LoadOptions {
        rate: Some(RatePlan::parse("100:300:100", Duration::from_millis(400)).unwrap()),
        slos: vec![
            "p(99)<2s".parse().unwrap(),
            "latency:max<1us".parse().unwrap(),
        ],
        ..opts(4, Duration::from_secs(1))
    };
    let r = run_load(&format!("{}/healthz", tb.base_url()), &o)
        .await
        .unwrap();
    assert_eq!(r.steps.len(), 3);
    assert_eq!(r.steps[2].offered_rps, 300.0);
    assert!(r.steps.iter().all(|s| s.requests.ok > 0));
    // `latency:max<1us` cannot hold: no step holds, there is no knee.
    assert!(r.steps.iter().all(|s| !s.holds) && r.knee_rps.is_none());
    let o = LoadOptions {
        slos: vec!["p(99)<2s".parse().unwrap()],
        ..o
    };
    let r = run_load(&format!("{}/healthz", tb.base_url()), &o)
        .await
        .unwrap();
    assert_eq!(r.knee_rps, Some(300.0), "{:?}", r.steps);
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_closed_loop() {
    let tb = common::testbed(Duration::from_millis(1), Duration::from_millis(0), 3).await;
    let r = run_load(
        &tb.grpc_url(),
        &LoadOptions {
            protocol: Protocol::Grpc,
            max_requests: Some(30),
            ..opts(2, Duration::from_secs(30))
        },
    )
    .await
    .unwrap();
    assert_eq!(r.client_path, "tonic");
    assert_eq!(r.requests.ok, 30, "{:?}", r.error_examples);
    assert_eq!(r.ttft.unwrap().count, 30);
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_returns_partial_results() {
    let tb = Testbed::start(TestbedConfig::default()).await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let o = LoadOptions {
        progress: Some(tx),
        ..opts(4, Duration::from_secs(60))
    };
    // Cancel once an interval has reported answered requests.
    let cancel = o.cancel.clone();
    let watch = async move {
        let mut seen = 0;
        while let Some(i) = rx.recv().await {
            seen += i.requests;
            if seen > 0 {
                cancel.cancel();
                break;
            }
        }
        seen
    };
    let url = format!("{}/healthz", tb.base_url());
    let (r, seen) = tokio::join!(run_load(&url, &o), watch);
    let r = r.unwrap();
    assert!(r.interrupted);
    assert!(
        seen > 0 && r.requests.ok >= seen,
        "{seen} then {:?}",
        r.requests
    );
    assert_eq!(
        r.requests.sent,
        r.requests.ok + r.requests.errors + r.requests.in_flight_at_end
    );
    // A hang guard: the cancel ended a 60 s run.
    assert!(r.elapsed_s < 30.0, "{}", r.elapsed_s);
    tb.shutdown().await;
}

#[tokio::test]
async fn bad_options_are_refused_before_any_request() {
    let bad = [
        LoadOptions {
            connections: 0,
            ..LoadOptions::default()
        },
        LoadOptions {
            duration: Duration::ZERO,
            ..LoadOptions::default()
        },
        LoadOptions {
            rate: Some(RatePlan::Fixed(-1.0)),
            ..LoadOptions::default()
        },
        LoadOptions {
            rate: Some(RatePlan::Fixed(5.0)),
            max_requests: Some(3),
            ..LoadOptions::default()
        },
        LoadOptions {
            slos: vec!["ttft:p(99)<1s".parse().unwrap()],
            ..LoadOptions::default()
        },
        // A seed or Poisson arrivals need an open loop.
        LoadOptions {
            seed: Some(3),
            ..LoadOptions::default()
        },
        LoadOptions {
            arrival: Arrival::Poisson,
            ..LoadOptions::default()
        },
        // Durations too long to add to an instant (they used to panic).
        LoadOptions {
            interval: Duration::MAX,
            ..LoadOptions::default()
        },
        LoadOptions {
            rate: Some(RatePlan::Sweep {
                from: 1.0,
                to: 3.0,
                step: 1.0,
                step_duration: Duration::MAX,
            }),
            ..LoadOptions::default()
        },
        LoadOptions {
            request: ProbeOptions {
                timeout: Duration::from_secs(u64::MAX / 4),
                ..ProbeOptions::default()
            },
            ..LoadOptions::default()
        },
    ];
    for o in bad {
        assert!(run_load("http://127.0.0.1:9/", &o).await.is_err(), "{o:?}");
    }
    assert!(
        run_load("ftp://127.0.0.1/", &LoadOptions::default())
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_runs_on_the_hyper_path_and_counts_match() {
    let tb = Testbed::start(TestbedConfig::default()).await.unwrap();
    let mut o = LoadOptions {
        max_requests: Some(200),
        ..opts(4, Duration::from_secs(30))
    };
    o.request.http_version = cockpit_probe::HttpVersion::Http2;
    let before = server_count(&tb, "/healthz", "200").await;
    let r = run_load(&format!("{}/healthz", tb.base_url()), &o)
        .await
        .unwrap();
    assert_eq!(r.client_path, "hyper");
    assert_eq!(r.requests.ok, 200, "{:?}", r.error_examples);
    assert_eq!(server_count(&tb, "/healthz", "200").await - before, 200);
    tb.shutdown().await;
}

/// The report's status counts as `(status, count)` text pairs; they add up
/// to every finished request, and the histogram's buckets to every sample.
fn statuses_of(r: &LoadReport) -> Vec<(String, u64)> {
    let c = r.status_codes.as_ref().expect("a run counts statuses");
    assert_eq!(c.total(), r.requests.ok + r.requests.errors, "{c:?}");
    let buckets = r.latency_histogram(11);
    assert_eq!(
        buckets.iter().map(|b| b.count).sum::<u64>(),
        r.latency.count,
        "{buckets:?}"
    );
    c.iter().map(|(s, n)| (s.to_string(), n)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_codes_equal_the_servers_counters_on_every_client_path() {
    let tb = Testbed::start(TestbedConfig {
        ttft: Duration::from_millis(1),
        inter_token: Duration::ZERO,
        tokens: 3,
        error_rate: 0.3,
        ..TestbedConfig::default()
    })
    .await
    .unwrap();
    let closed = |protocol, n| LoadOptions {
        protocol,
        max_requests: Some(n),
        ..opts(4, Duration::from_secs(60))
    };

    // Lean HTTP/1.1: a route the server does not have, every answer a 404.
    let r = run_load(
        &format!("{}/no-such-route", tb.base_url()),
        &closed(Protocol::Http, 150),
    )
    .await
    .unwrap();
    assert_eq!(r.client_path, "lean-http1");
    assert_eq!(statuses_of(&r), [("404".to_string(), 150)]);
    assert_eq!(server_count(&tb, "unmatched", "404").await, 150);
    assert_eq!(r.error_count(ErrorKind::Http4xx), 150);

    // hyper (openai): the injected 500s beside the 200s, as the server counted them.
    let r = run_load(&tb.openai_url(), &closed(Protocol::OpenAi, 200))
        .await
        .unwrap();
    let route = "/v1/chat/completions";
    let (ok, failed) = (
        server_count(&tb, route, "200").await,
        server_count(&tb, route, "500").await,
    );
    assert!(ok > 0 && failed > 0, "{ok} {failed}");
    assert_eq!(
        statuses_of(&r),
        [("200".to_string(), ok), ("500".to_string(), failed)]
    );
    assert_eq!(r.error_count(ErrorKind::Http5xx), failed);

    // tonic: OK when both calls of a sample succeed, else the failing
    // call's code (UNAVAILABLE), whichever call it was.
    let r = run_load(&tb.grpc_url(), &closed(Protocol::Grpc, 150))
        .await
        .unwrap();
    let stream = "/cockpit.agent.v1.AgentService/StreamComplete";
    let unary = "/cockpit.agent.v1.AgentService/Complete";
    let ok = server_count(&tb, unary, "0").await;
    let unavailable = server_count(&tb, stream, "14").await + server_count(&tb, unary, "14").await;
    assert!(ok > 0 && unavailable > 0, "{ok} {unavailable}");
    assert_eq!(
        statuses_of(&r),
        [
            ("OK".to_string(), ok),
            ("UNAVAILABLE".to_string(), unavailable)
        ]
    );
    assert_eq!(r.error_count(ErrorKind::GrpcStatus), unavailable);
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["status_codes"]["OK"], ok, "{}", json["status_codes"]);
    tb.shutdown().await;
}
