//! The simulation against the reference testbed: a correct agent, each
//! reasoning fault, and the trace echo, over real HTTP on 127.0.0.1.

use std::time::Duration;

use cockpit_core::Status;
use cockpit_probe::ProbeOptions;
use cockpit_sim::{Ramp, SimOptions, SimReport, findings, simulate};
use cockpit_testbed::{Testbed, TestbedConfig, TraceEcho};

/// A fast agent that echoes the trace context right.
fn agent() -> TestbedConfig {
    TestbedConfig {
        ttft: Duration::from_millis(30),
        inter_token: Duration::from_millis(1),
        tokens: 4,
        trace_echo: Some(TraceEcho::Right),
        ..TestbedConfig::default()
    }
}

fn options(ramp: &str) -> SimOptions {
    SimOptions {
        turns: 6,
        ramp: Some(ramp.parse::<Ramp>().unwrap()),
        min_recall_turns: 30,
        request: ProbeOptions {
            timeout: Duration::from_secs(20),
            ..ProbeOptions::default()
        },
        // A hang guard only: no run here comes near it.
        deadline: Duration::from_secs(120),
        ..SimOptions::default()
    }
}

async fn run(config: TestbedConfig, opts: SimOptions) -> SimReport {
    let tb = Testbed::start(config).await.unwrap();
    let r = simulate(&tb.openai_url(), &opts).await.unwrap();
    tb.shutdown().await;
    assert!(!r.interrupted && !r.deadline_reached, "{r:?}");
    r
}

fn status(r: &SimReport, id: &str) -> Status {
    findings(r, &[])
        .into_iter()
        .find(|f| f.check_id.as_str() == id)
        .unwrap()
        .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correct_agent_scores_one_at_every_level_in_both_modes() {
    for header in [None, Some("x-session-id")] {
        let opts = SimOptions {
            session_header: header.map(|h| h.parse().unwrap()),
            ..options("1:8:x2")
        };
        let r = run(agent(), opts).await;
        assert_eq!(r.levels.len(), 4);
        for l in &r.levels {
            assert!(l.errors.is_empty(), "{header:?} {l:?}");
            assert!(l.recall_turns >= 30, "{l:?}");
            assert_eq!(l.reasoning_score, Some(1.0), "{header:?} {l:?}");
            assert_eq!(l.collisions, 0);
            assert_eq!(l.trace_integrity, Some(1.0), "{l:?}");
            assert_eq!(l.ttft_ms.count, l.turns);
        }
        assert!(r.knee.is_none());
        assert_eq!(status(&r, "SIM-REASONING"), Status::Pass);
        assert_eq!(status(&r, "SIM-COLLISION"), Status::Pass);
        assert_eq!(status(&r, "SIM-TRACE"), Status::Pass);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_context_slot_bleeds_between_sessions_above_its_concurrency() {
    let config = TestbedConfig {
        shared_context_above: Some(2),
        ..agent()
    };
    let opts = SimOptions {
        session_header: Some("x-session-id".parse().unwrap()),
        ..options("1:16:x2")
    };
    let r = run(config, opts).await;
    for l in &r.levels[..2] {
        assert_eq!((l.reasoning_score, l.collisions), (Some(1.0), 0), "{l:?}");
    }
    let last = r.levels.last().unwrap();
    assert!(last.collisions > 0, "{last:?}");
    let ex = &last.collision_examples[0];
    assert_ne!(ex.session, ex.other_session);
    let knee = r.knee.as_ref().expect("a knee");
    assert!(knee.concurrency > 2, "{knee:?}");
    assert_eq!(status(&r, "SIM-COLLISION"), Status::Fail);
    assert_eq!(status(&r, "SIM-REASONING"), Status::Fail);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saturated_retrieval_pool_answers_without_memory() {
    let config = TestbedConfig {
        retrieval_pool: Some(2),
        ..agent()
    };
    let r = run(config, options("1:16:x2")).await;
    for l in &r.levels[..2] {
        assert_eq!(l.reasoning_score, Some(1.0), "{l:?}");
    }
    let last = r.levels.last().unwrap();
    assert!(last.reasoning_score < Some(1.0), "{last:?}");
    assert_eq!(
        last.collisions, 0,
        "answers without memory are wrong, not bleeding"
    );
    assert!(
        last.errors.is_empty(),
        "wrong answers are not errors: {last:?}"
    );
    assert!(r.knee.as_ref().expect("a knee").concurrency > 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_context_window_drops_the_planted_fact_once_filler_grows_the_context() {
    let config = TestbedConfig {
        context_window_tokens: Some(40),
        ..agent()
    };
    let r = run(config, options("1:2:x2")).await;
    for l in &r.levels {
        // Turn 3 is asked past one filler turn: the plant is out of the window.
        assert!(l.reasoning_score < Some(0.5), "{l:?}");
        assert_eq!(l.collisions, 0);
    }
    assert_eq!(r.knee.as_ref().unwrap().concurrency, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_echo_right_wrong_and_absent() {
    let wrong = TestbedConfig {
        trace_echo: Some(TraceEcho::Wrong),
        ..agent()
    };
    let r = run(wrong, options("1:2:x2")).await;
    for l in &r.levels {
        assert_eq!(l.trace_integrity, Some(0.0), "{l:?}");
        assert_eq!(l.trace.mismatched, l.turns);
        assert_eq!(l.reasoning_score, Some(1.0));
    }
    assert_eq!(r.knee.as_ref().unwrap().metric, "trace_integrity");
    assert_eq!(status(&r, "SIM-TRACE"), Status::Fail);

    let silent = TestbedConfig {
        trace_echo: None,
        ..agent()
    };
    let r = run(silent, options("2:2:x2")).await;
    assert_eq!(r.levels[0].trace_integrity, None);
    assert_eq!(r.levels[0].trace.missing, r.levels[0].turns);
    assert_eq!(status(&r, "SIM-TRACE"), Status::NotMeasured);
    assert!(r.knee.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_echo_in_a_json_field_right_wrong_and_read_only_when_asked() {
    // The agent echoes in every chunk's JSON, not in headers.
    let body = |echo| TestbedConfig {
        trace_echo: Some(echo),
        ..agent()
    };
    let fields = |session_header: Option<&str>| SimOptions {
        trace_field: Some("traceparent".into()),
        session_field: Some("session_id".into()),
        session_header: session_header.map(|h| h.parse().unwrap()),
        ..options("1:2:x2")
    };
    // Sessions by header: the echoed session id is the session's own.
    let r = run(body(TraceEcho::BodyRight), fields(Some("x-session-id"))).await;
    for l in &r.levels {
        assert_eq!(l.trace_integrity, Some(1.0), "{l:?}");
        assert_eq!(l.trace.matched, l.turns, "{l:?}");
    }
    assert_eq!(status(&r, "SIM-TRACE"), Status::Pass);

    let r = run(body(TraceEcho::BodyWrong), fields(None)).await;
    for l in &r.levels {
        assert_eq!(l.trace_integrity, Some(0.0), "{l:?}");
        assert_eq!(l.trace.mismatched, l.turns, "{l:?}");
    }
    assert_eq!(status(&r, "SIM-TRACE"), Status::Fail);

    // Without trace_field the headers are read, and the body echo is unseen.
    let r = run(body(TraceEcho::BodyRight), options("2:2:x2")).await;
    assert_eq!(r.levels[0].trace.missing, r.levels[0].turns);
    assert_eq!(status(&r, "SIM-TRACE"), Status::NotMeasured);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objectives_are_judged_at_every_level_and_errors_kept_apart() {
    let config = TestbedConfig {
        error_rate: 0.2,
        ..agent()
    };
    let opts = SimOptions {
        slos: vec![
            "reasoning_score>=0.99".parse().unwrap(),
            "collisions==0".parse().unwrap(),
            "errors<1%".parse().unwrap(),
        ],
        ..options("1:4:x2")
    };
    let r = run(config, opts).await;
    for l in &r.levels {
        assert!(l.errors.get("http_5xx").copied().unwrap_or(0) > 0, "{l:?}");
        assert_eq!(l.reasoning_score, Some(1.0), "errors are not wrong answers");
    }
    let by = |s: &str| r.slos.iter().find(|x| x.slo == s).unwrap().pass;
    assert!(by("reasoning_score>=0.99") && by("collisions==0"));
    assert!(!by("errors<1%"));
    assert!(!r.slo_pass);
    let json = serde_json::to_value(&r).unwrap();
    assert!(json["levels"][0]["ttft_ms"]["p95_ms"].is_number());
    assert!(json["levels"][0]["score_ci95"].is_array());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_returns_what_was_measured_marked_interrupted() {
    let tb = Testbed::start(agent()).await.unwrap();
    let opts = options("1:8:x2");
    let cancel = opts.cancel.clone();
    let url = tb.openai_url();
    let run = tokio::spawn(async move { simulate(&url, &opts).await });
    // Cancel once some turns were answered (the testbed saw them).
    let guard = tokio::time::Instant::now() + Duration::from_secs(30);
    while tb.stamps().len() < 5 && tokio::time::Instant::now() < guard {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cancel.cancel();
    let r = run.await.unwrap().unwrap();
    assert!(r.interrupted);
    assert!(!r.levels.is_empty());
    tb.shutdown().await;
}

/// Eight sessions of eight turns carried by `x-session-id`, all at once,
/// against `tb`, which is restarted ([`Testbed::restart`]) as soon as every
/// session's planted fact is in its memory: the recall turns (3, 5, 7, 8)
/// all come after the restart. Returns the report and the restarted testbed.
async fn restarted_mid_run(tb: Testbed) -> (SimReport, Testbed) {
    let opts = SimOptions {
        sessions: 8,
        turns: 8,
        min_recall_turns: 1,
        session_header: Some("x-session-id".parse().unwrap()),
        ..options("8:8:x2")
    };
    let url = tb.openai_url();
    let run = tokio::spawn(async move { simulate(&url, &opts).await });
    let planted =
        |tb: &Testbed| (0..8).all(|i| tb.sessions().turns(&format!("sim-c8-s{i}")).len() >= 2);
    let guard = tokio::time::Instant::now() + Duration::from_secs(60);
    while !planted(&tb) {
        assert!(
            tokio::time::Instant::now() < guard,
            "the sessions never planted"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let tb = tb.restart().await.unwrap();
    let r = run.await.unwrap().unwrap();
    assert!(!r.interrupted && !r.deadline_reached, "{r:?}");
    (r, tb)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_in_redis_survive_an_agent_restart_in_process_ones_are_lost() {
    use std::net::{Ipv4Addr, SocketAddr};
    use std::sync::Arc;

    use cockpit_stm::testing::{self, RedisServer};
    use cockpit_testbed::RedisSessions;

    let config = TestbedConfig {
        ttft: Duration::from_millis(50),
        ..agent()
    };
    // Process memory: the facts go with the process.
    let tb = Testbed::start(config.clone()).await.unwrap();
    let (lost, tb) = restarted_mid_run(tb).await;
    tb.shutdown().await;
    let l = &lost.levels[0];
    assert!(l.answered > 0 && l.wrong > 0, "{l:?}");
    assert!(l.reasoning_score < Some(0.5), "{l:?}");
    assert_eq!(l.collisions, 0, "forgetting is not bleeding: {l:?}");
    assert!(lost.knee.is_some());
    assert_eq!(status(&lost, "SIM-REASONING"), Status::Fail);

    // Redis: the restarted process reads every session back.
    let server = RedisServer::start(testing::NO_PERSISTENCE);
    let store = RedisSessions::connect(&server.url(), "agent:sim:", Duration::from_secs(600))
        .expect("connect to redis-server");
    let any = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let tb = Testbed::start_with_sessions(config, any, any, Arc::new(store))
        .await
        .unwrap();
    let (kept, tb) = restarted_mid_run(tb).await;
    tb.shutdown().await;
    let k = &kept.levels[0];
    assert!(k.answered > 0, "{k:?}");
    assert_eq!((k.reasoning_score, k.wrong), (Some(1.0), 0), "{k:?}");
    assert!(kept.knee.is_none(), "{kept:?}");
    assert_eq!(status(&kept, "SIM-REASONING"), Status::Pass);
    assert_eq!(server.keys("agent:sim:*").len(), 8);
}
