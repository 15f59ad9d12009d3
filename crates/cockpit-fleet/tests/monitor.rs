//! The monitor against real agents: testbeds on 127.0.0.1 in this process,
//! a closed port, a server that never answers, a temporary evidence lake
//! and a local webhook receiver. Intervals are driven fast (100 ms); every
//! assertion waits for an event or a count, never for a time.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cockpit_core::fleet::{AgentConfig, AgentProtocol};
use cockpit_core::{Measurement, Report, Status, Unit};
use cockpit_fleet::{
    AlertEvent, AlertRule, AlertSettings, AlertState, CockpitSettings, Fleet, FleetSnapshot,
    Monitor, MonitorOptions, Recorder, TargetStatus,
};
use cockpit_score::EvidenceLake;
use cockpit_testbed::{Testbed, TestbedConfig};
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

/// Generous bound on any wait: a hang fails the test instead of the suite.
const HANG_GUARD: Duration = Duration::from_secs(90);

async fn testbed(ttft_ms: u64) -> Testbed {
    Testbed::start(TestbedConfig {
        ttft: Duration::from_millis(ttft_ms),
        inter_token: Duration::from_millis(1),
        tokens: 4,
        ..TestbedConfig::default()
    })
    .await
    .expect("testbed")
}

fn agent(name: &str, endpoint: String) -> AgentConfig {
    AgentConfig {
        name: name.into(),
        endpoint,
        protocol: AgentProtocol::Openai,
        model: None,
        zone: None,
        shadow_endpoint: None,
        metrics_url: None,
        retrieval: None,
        stm: None,
        headers: Default::default(),
        canary: None,
        session_header: None,
    }
}

fn fast_settings(alerts: AlertSettings) -> CockpitSettings {
    CockpitSettings {
        interval: Duration::from_millis(100),
        window: Duration::from_millis(200),
        probe_timeout: Duration::from_secs(20),
        samples: 1,
        concurrency: 8,
        alerts,
        ..CockpitSettings::default()
    }
}

fn fleet(agents: Vec<AgentConfig>) -> Fleet {
    Fleet {
        agents,
        ..Fleet::default()
    }
}

fn recorder(dir: &std::path::Path) -> Recorder {
    Recorder {
        lake: EvidenceLake::new(dir),
        tool: "agentops-cockpit".into(),
        version: "test".into(),
        provenance: None,
    }
}

/// The first snapshot that satisfies `pred`.
async fn until(
    rx: &mut watch::Receiver<Arc<FleetSnapshot>>,
    what: &str,
    pred: impl Fn(&FleetSnapshot) -> bool,
) -> Arc<FleetSnapshot> {
    let wait = async {
        loop {
            let s = rx.borrow_and_update().clone();
            if pred(&s) {
                return s;
            }
            rx.changed().await.expect("monitor running");
        }
    };
    tokio::time::timeout(HANG_GUARD, wait)
        .await
        .unwrap_or_else(|_| panic!("waited too long for {what}"))
}

/// The next event of `agent` whose rule and state match.
async fn event(
    rx: &mut broadcast::Receiver<AlertEvent>,
    rule: AlertRule,
    state: AlertState,
) -> AlertEvent {
    let wait = async {
        loop {
            let ev = rx.recv().await.expect("events");
            if ev.rule == rule && ev.state == state {
                return ev;
            }
        }
    };
    tokio::time::timeout(HANG_GUARD, wait)
        .await
        .unwrap_or_else(|_| panic!("waited too long for {rule:?} {state:?}"))
}

fn row<'a>(s: &'a FleetSnapshot, name: &str) -> &'a cockpit_fleet::AgentView {
    s.agents.iter().find(|a| a.name == name).expect(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_hold_the_samples_of_their_intervals_and_count_them() {
    let tb = testbed(5).await;
    let settings = CockpitSettings {
        samples: 2,
        window: Duration::from_millis(300),
        ..fast_settings(AlertSettings::default())
    };
    let m = Monitor::new(
        fleet(vec![agent("fast", tb.openai_url())]),
        settings,
        MonitorOptions::default(),
    )
    .unwrap();
    let mut rx = m.subscribe();
    let cancel = CancellationToken::new();
    let run = tokio::spawn(m.clone().run(cancel.clone()));
    let s = until(&mut rx, "five rounds and four probes", |s| {
        s.round >= 5 && s.agents[0].totals.probes >= 4
    })
    .await;
    let a = row(&s, "fast");
    assert_eq!(a.status, TargetStatus::Up);
    assert_eq!(s.window, Duration::from_millis(300));
    assert_eq!(a.ttft_p95_series.len(), 3, "a window of three intervals");
    let in_series: u64 = a.ttft_p95_series.iter().map(|p| p.count).sum();
    assert_eq!(
        a.ttft.count, in_series,
        "the window is its intervals, merged"
    );
    assert_eq!(a.requests.succeeded, a.ttft.count);
    assert_eq!(a.requests.failed, 0);
    assert_eq!(a.requests.error_rate, Some(0.0));
    assert!(a.ttft.count > 0 && a.ttft.p95_ms.is_some());
    assert!(
        a.itl.count >= a.ttft.count,
        "a stream of 4 tokens has 3 gaps"
    );
    assert!(a.tokens_per_s.output_tokens >= 4 * a.tokens_per_s.count);
    assert!(a.totals.succeeded >= a.ttft.count);
    assert_eq!(a.totals.ttft_seconds.count, a.totals.succeeded);
    assert_eq!(a.totals.attempted, a.totals.probes * 2);
    cancel.cancel();
    run.await.unwrap();
    let last = m.snapshot();
    assert!(
        last.next_probe_at.is_none(),
        "a stopped monitor plans nothing"
    );
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_agent_is_down_and_a_silent_one_holds_no_one_up() {
    let tb = testbed(5).await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    // Accepts connections (the kernel's backlog) and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let agents = vec![
        agent(
            "silent",
            format!("http://{}/v1", silent.local_addr().unwrap()),
        ),
        agent("dead", format!("http://{closed}/v1")),
        agent("fast", tb.openai_url()),
    ];
    let settings = CockpitSettings {
        probe_timeout: Duration::from_secs(600),
        ..fast_settings(AlertSettings::default())
    };
    let m = Monitor::new(fleet(agents), settings, MonitorOptions::default()).unwrap();
    let mut rx = m.subscribe();
    let cancel = CancellationToken::new();
    let run = tokio::spawn(m.clone().run(cancel.clone()));
    let s = until(&mut rx, "the others probed many times", |s| {
        row(s, "fast").totals.probes >= 6 && row(s, "dead").totals.probes >= 6
    })
    .await;
    assert_eq!(
        row(&s, "silent").totals.probes,
        0,
        "its one probe is still waiting"
    );
    assert_eq!(row(&s, "silent").status, TargetStatus::Unknown);
    match &row(&s, "dead").status {
        TargetStatus::Down { error_kind, .. } => assert_eq!(error_kind, "connect"),
        other => panic!("{other:?}"),
    }
    let dead = row(&s, "dead");
    assert!(dead.requests.errors["connect"] > 0 && dead.ttft.count == 0);
    assert_eq!(dead.requests.error_rate, Some(1.0));
    assert_eq!(row(&s, "fast").status, TargetStatus::Up);
    assert!(!s.healthy(), "an agent is down");
    cancel.cancel();
    tokio::time::timeout(HANG_GUARD, run)
        .await
        .expect("cancel stops the probe still waiting")
        .unwrap();
    drop(silent);
    tb.shutdown().await;
}

/// A webhook receiver that answers 500 to its first post and 200 after.
async fn webhook_receiver() -> (String, Arc<Mutex<Vec<String>>>, Arc<AtomicU32>) {
    use axum::routing::post;
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let calls = Arc::new(AtomicU32::new(0));
    let (b, c) = (bodies.clone(), calls.clone());
    let app = axum::Router::new().route(
        "/services/T0/B0/s3cr3t",
        post(move |body: String| {
            let (b, c) = (b.clone(), c.clone());
            async move {
                if c.fetch_add(1, Ordering::SeqCst) == 0 {
                    return http::StatusCode::INTERNAL_SERVER_ERROR;
                }
                b.lock().unwrap().push(body);
                http::StatusCode::OK
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/services/T0/B0/s3cr3t", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    (url, bodies, calls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_fires_resolves_with_hysteresis_is_recorded_and_posted_once() {
    let tb = testbed(5).await;
    let lake = tempfile::tempdir().unwrap();
    let (url, bodies, calls) = webhook_receiver().await;
    let alerts = AlertSettings {
        ttft_p95_ms: 100.0,
        consecutive: 2,
        webhook: Some(url),
        ..AlertSettings::default()
    };
    let m = Monitor::new(
        fleet(vec![agent("flapping", tb.openai_url())]),
        fast_settings(alerts),
        MonitorOptions {
            recorder: Some(recorder(lake.path())),
            record: false,
        },
    )
    .unwrap();
    let mut rx = m.subscribe();
    let mut events = m.alert_events();
    let cancel = CancellationToken::new();
    let run = tokio::spawn(m.clone().run(cancel.clone()));
    until(&mut rx, "a fast window", |s| s.agents[0].ttft.count > 0).await;
    tb.set_ttft(Some(Duration::from_millis(250)));
    let fired = event(&mut events, AlertRule::TtftAbsolute, AlertState::Firing).await;
    assert!(fired.ttft_p95_ms > 100.0 && fired.count > 0, "{fired:?}");
    assert_eq!((fired.bound_ms, fired.consecutive), (100.0, 2));
    let s = until(&mut rx, "the firing alert shown", |s| {
        !s.agents[0].alerts.is_empty()
    })
    .await;
    assert!(matches!(s.agents[0].status, TargetStatus::Degraded { .. }));
    tb.set_ttft(None);
    let resolved = event(&mut events, AlertRule::TtftAbsolute, AlertState::Resolved).await;
    assert!(resolved.ttft_p95_ms <= 100.0, "{resolved:?}");
    assert!(resolved.seq > fired.seq);
    cancel.cancel();
    run.await.unwrap();

    // One state change of the rule each way: no flapping in between.
    let s = m.snapshot();
    let absolute: Vec<_> = (s.alerts.iter())
        .filter(|e| e.rule == AlertRule::TtftAbsolute)
        .map(|e| e.state)
        .collect();
    assert_eq!(absolute, [AlertState::Firing, AlertState::Resolved]);
    // Each change is a Slow Reasoning record in the lake.
    for ev in &s.alerts {
        let want = match ev.state {
            AlertState::Firing => Status::Warn,
            _ => Status::Pass,
        };
        let dir = std::path::PathBuf::from(ev.evidence.as_deref().expect("recorded"));
        let report = cockpit_score::read_report(&dir.join("report.json")).unwrap();
        assert_eq!(report.findings[0].check_id.as_str(), "FLT-SLOW");
        assert_eq!(report.findings[0].status, want);
        assert_eq!(report.findings[0].subject.as_deref(), Some("flapping"));
        assert_eq!(report.findings[0].measurements[0].samples, ev.count);
        assert!(dir.join("alert.json").is_file());
    }
    let recorded = (s.alerts.iter()).filter(|e| e.evidence.is_some()).count();
    assert_eq!(recorded, s.alerts.len());
    let runs = EvidenceLake::new(lake.path()).runs().unwrap();
    assert_eq!(runs.len(), s.alerts.len());
    // Posted once per change, after one failed attempt retried.
    let posted = bodies.lock().unwrap().clone();
    assert_eq!(posted.len(), s.alerts.len(), "{posted:?}");
    assert_eq!(calls.load(Ordering::SeqCst) as usize, s.alerts.len() + 1);
    let hook = s.webhook.clone().unwrap();
    assert_eq!(
        (hook.delivered, hook.failed_attempts, hook.abandoned),
        (posted.len() as u64, 1, 0)
    );
    for b in &posted {
        let v: serde_json::Value = serde_json::from_str(b).unwrap();
        assert!(
            v["text"].as_str().unwrap().contains("Latency Regression"),
            "{b}"
        );
    }
    let json = serde_json::to_string(&*s).unwrap();
    assert!(!json.contains("s3cr3t"), "the webhook URL is never shown");
    tb.shutdown().await;
}

/// Store a certification of one NET-TTFT finding in `lake`.
fn certify_baseline(lake: &EvidenceLake, agent: &str, p95_ms: f64, passed: bool) {
    let finding = cockpit_probe::checks::ttft::NET_TTFT
        .finding(Status::Pass, "baseline")
        .with_subject(agent)
        .with_measurement(Measurement::new(
            "ttft_p95",
            p95_ms,
            Unit::Milliseconds,
            "client-side",
            100,
        ));
    let report = Report::new("agentops-cockpit", "test", vec![finding]);
    let mut cert = cockpit_score::certify(
        &report,
        &cockpit_score::GatePolicy::default(),
        cockpit_score::Date::today(),
    );
    cert.passed = passed;
    let json = serde_json::to_string_pretty(&cert).unwrap();
    lake.store(&report, &[(cockpit_score::CERTIFICATION_FILE, &json)])
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relative_rule_compares_with_the_newest_passing_certification() {
    let tb = testbed(60).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = EvidenceLake::new(dir.path());
    certify_baseline(&lake, "search", 20.0, true);
    certify_baseline(&lake, "search", 1000.0, false);
    let alerts = AlertSettings {
        consecutive: 1,
        // 20 ms + 50 % = 30 ms; a floor of 10 ms leaves the share deciding.
        relative_min_increase_ms: 10.0,
        ..AlertSettings::default()
    };
    let m = Monitor::new(
        fleet(vec![agent("search", tb.openai_url())]),
        fast_settings(alerts),
        MonitorOptions {
            recorder: Some(recorder(dir.path())),
            record: false,
        },
    )
    .unwrap();
    let mut events = m.alert_events();
    let cancel = CancellationToken::new();
    let run = tokio::spawn(m.clone().run(cancel.clone()));
    let fired = event(&mut events, AlertRule::TtftRelative, AlertState::Firing).await;
    assert_eq!(fired.baseline_ms, Some(20.0));
    assert_eq!(fired.bound_ms, 30.0, "50 % over the baseline");
    assert!(fired.ttft_p95_ms >= 60.0, "{fired:?}");
    cancel.cancel();
    run.await.unwrap();
    let s = m.snapshot();
    let a = row(&s, "search");
    let b = a.baseline.as_ref().unwrap();
    assert_eq!(
        (b.source.as_str(), b.ttft_p95_ms, b.count),
        ("certify", 20.0, 100)
    );
    let gate = a.last_gate.as_ref().expect("the newest certification");
    assert!(!gate.passed, "the gate shown is the newest, passing or not");
    assert!(
        !s.alerts.iter().any(|e| e.rule == AlertRule::TtftAbsolute),
        "60 ms is within the 800 ms threshold"
    );
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_once_judges_one_round_and_records_it() {
    let fast = testbed(5).await;
    let slow = testbed(150).await;
    let dir = tempfile::tempdir().unwrap();
    let alerts = AlertSettings {
        ttft_p95_ms: 100.0,
        ..AlertSettings::default()
    };
    let m = Monitor::new(
        fleet(vec![
            agent("fast", fast.openai_url()),
            agent("slow", slow.openai_url()),
        ]),
        fast_settings(alerts),
        MonitorOptions {
            recorder: Some(recorder(dir.path())),
            record: true,
        },
    )
    .unwrap();
    let s = m.run_once(&CancellationToken::new()).await;
    assert_eq!(s.round, 1);
    assert_eq!(row(&s, "fast").ttft.count, 1);
    assert_eq!(
        row(&s, "slow").alerts.len(),
        1,
        "one breach fires with --once"
    );
    assert!(row(&s, "fast").alerts.is_empty());
    assert!(!s.healthy());
    // The alert record and the interval's report.
    let runs = EvidenceLake::new(dir.path()).runs().unwrap();
    assert_eq!(runs.len(), 2);
    let reports: Vec<Report> = (runs.iter())
        .map(|p| cockpit_score::read_report(p).unwrap())
        .collect();
    let recorded = reports
        .iter()
        .find(|r| r.findings.iter().any(|f| f.check_id.as_str() == "NET-TTFT"))
        .expect("the interval's report");
    let ids: Vec<_> = recorded
        .findings
        .iter()
        .map(|f| f.check_id.as_str())
        .collect();
    assert_eq!(ids, ["NET-TTFT", "NET-TTFT", "FLT-SLOW"]);
    fast.shutdown().await;
    slow.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn some_failed_requests_make_an_agent_degraded_and_are_counted_by_kind() {
    let tb = Testbed::start(TestbedConfig {
        ttft: Duration::from_millis(2),
        inter_token: Duration::from_millis(1),
        tokens: 2,
        error_rate: 0.5,
        ..TestbedConfig::default()
    })
    .await
    .unwrap();
    let settings = CockpitSettings {
        samples: 12,
        ..fast_settings(AlertSettings::default())
    };
    let m = Monitor::new(
        fleet(vec![agent("shaky", tb.openai_url())]),
        settings,
        MonitorOptions::default(),
    )
    .unwrap();
    let s = m.run_once(&CancellationToken::new()).await;
    let a = row(&s, "shaky");
    assert!(
        matches!(&a.status, TargetStatus::Degraded { reason } if reason.contains("http_5xx")),
        "{:?}",
        a.status
    );
    let r = &a.requests;
    assert_eq!(r.attempted, 12);
    assert!(r.failed > 0 && r.succeeded > 0, "{r:?}");
    assert_eq!(r.errors["http_5xx"], r.failed);
    assert_eq!(a.ttft.count, r.succeeded);
    assert_eq!(a.totals.errors["http_5xx"], r.failed);
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certification_landing_while_running_updates_the_gate_and_the_baseline() {
    let tb = testbed(5).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = EvidenceLake::new(dir.path());
    let m = Monitor::new(
        fleet(vec![agent("search", tb.openai_url())]),
        fast_settings(AlertSettings::default()),
        MonitorOptions {
            recorder: Some(recorder(dir.path())),
            record: false,
        },
    )
    .unwrap();
    let mut rx = m.subscribe();
    let cancel = CancellationToken::new();
    let run = tokio::spawn(m.clone().run(cancel.clone()));
    let s = until(&mut rx, "a probed round", |s| s.agents[0].ttft.count > 0).await;
    assert!(s.agents[0].last_gate.is_none() && s.agents[0].baseline.is_none());
    // certify runs while the monitor watches: the next interval shows it.
    certify_baseline(&lake, "search", 2.0, true);
    let s = until(&mut rx, "the new gate", |s| s.agents[0].last_gate.is_some()).await;
    let a = &s.agents[0];
    assert!(a.last_gate.as_ref().unwrap().passed);
    let b = a.baseline.as_ref().expect("the certification's baseline");
    assert_eq!((b.source.as_str(), b.ttft_p95_ms), ("certify", 2.0));
    // A failing certification after it: the gate shown turns, the
    // baseline stays the newest passing one.
    certify_baseline(&lake, "search", 500.0, false);
    let s = until(&mut rx, "the failing gate", |s| {
        s.agents[0].last_gate.as_ref().is_some_and(|g| !g.passed)
    })
    .await;
    assert_eq!(s.agents[0].baseline.as_ref().unwrap().ttft_p95_ms, 2.0);
    cancel.cancel();
    run.await.unwrap();
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_passing_certification_the_baseline_is_the_monitors_first_period() {
    let tb = testbed(5).await;
    let dir = tempfile::tempdir().unwrap();
    // A failing certification only: no baseline from the lake.
    certify_baseline(&EvidenceLake::new(dir.path()), "search", 1.0, false);
    let alerts = AlertSettings {
        consecutive: 1,
        relative_min_increase_ms: 10.0,
        // Three 100 ms intervals stand for the first hour.
        baseline_period: Duration::from_millis(300),
        ..AlertSettings::default()
    };
    let m = Monitor::new(
        fleet(vec![agent("search", tb.openai_url())]),
        fast_settings(alerts),
        MonitorOptions {
            recorder: Some(recorder(dir.path())),
            record: false,
        },
    )
    .unwrap();
    let mut rx = m.subscribe();
    let mut events = m.alert_events();
    let cancel = CancellationToken::new();
    let run = tokio::spawn(m.clone().run(cancel.clone()));
    let s = until(&mut rx, "the first-period baseline", |s| {
        let b = s.agents[0].baseline.as_ref();
        assert!(
            b.is_none() || s.round >= 3,
            "a baseline before the first period ended: {s:?}"
        );
        b.is_some()
    })
    .await;
    let b = s.agents[0].baseline.clone().unwrap();
    assert_eq!(b.source, "first-hour");
    assert!(b.count >= 1 && b.run.is_none(), "{b:?}");
    assert!((5.0..100.0).contains(&b.ttft_p95_ms), "{b:?}");
    // Slower than the baseline by far more than 50 % and 10 ms.
    tb.set_ttft(Some(Duration::from_millis(80)));
    let fired = event(&mut events, AlertRule::TtftRelative, AlertState::Firing).await;
    assert_eq!(fired.baseline_ms, Some(b.ttft_p95_ms));
    assert!(fired.ttft_p95_ms >= 80.0, "{fired:?}");
    cancel.cancel();
    run.await.unwrap();
    tb.shutdown().await;
}
