//! Each fault mode's observable effect on a real HTTP client.

mod support;

use std::time::Duration;

use cockpit_testbed::{Fault, Testbed, TestbedConfig};
use support::{chat_body, events, fetch, send};

async fn testbed() -> Testbed {
    Testbed::start(TestbedConfig {
        ttft: Duration::from_millis(5),
        inter_token: Duration::from_millis(1),
        tokens: 8,
        ..TestbedConfig::default()
    })
    .await
    .unwrap()
}

async fn stream_with_fault(tb: &Testbed, fault: &str) -> support::Read {
    fetch(
        tb.http_addr(),
        "POST",
        "/v1/chat/completions",
        &[("x-testbed-fault", fault), ("x-request-id", fault)],
        &chat_body(true, true),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_sse_sends_a_non_json_data_line_after_the_first_token() {
    let tb = testbed().await;
    let resp = stream_with_fault(&tb, "invalid-sse").await;
    assert_eq!(resp.status, 200);
    let ev = events(&resp.frames);
    assert!(ev[1].content().is_some(), "first token first: {ev:#?}");
    assert!(ev[2].json().is_none() && ev[2].data != "[DONE]", "{ev:#?}");
    assert_eq!(ev.last().unwrap().data, "[DONE]");
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_mid_stream_ends_the_body_abruptly_after_half_the_tokens() {
    let tb = testbed().await;
    let resp = stream_with_fault(&tb, "cut-mid-stream").await;
    assert_eq!(resp.status, 200);
    assert!(
        resp.error.is_some(),
        "the body must end with an error, not cleanly"
    );
    let ev = events(&resp.frames);
    assert_eq!(ev.iter().filter(|e| e.content().is_some()).count(), 4);
    assert!(ev.iter().all(|e| e.data != "[DONE]"));
    assert!(ev.iter().all(|e| {
        e.json()
            .is_none_or(|v| v["choices"][0]["finish_reason"].is_null())
    }));
    assert_eq!(tb.stamps().get("cut-mid-stream").unwrap().tokens_sent, 4);

    // The whole answer is cut too: half a JSON document, then an error.
    let resp = fetch(
        tb.http_addr(),
        "POST",
        "/v1/chat/completions",
        &[("x-testbed-fault", "cut-mid-stream")],
        &chat_body(false, false),
    )
    .await;
    assert!(resp.error.is_some());
    assert!(serde_json::from_str::<serde_json::Value>(&resp.text()).is_err());
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stall_sends_the_first_token_then_nothing() {
    let tb = testbed().await;
    let mut pending = send(
        tb.http_addr(),
        "POST",
        "/v1/chat/completions",
        &[("x-testbed-fault", "stall")],
        &chat_body(true, false),
    )
    .await;
    let mut frames = Vec::new();
    let quiet = loop {
        match tokio::time::timeout(Duration::from_millis(300), pending.next_frame()).await {
            Ok(Ok(Some(f))) => frames.push(f),
            Ok(other) => panic!("stream ended during a stall: {other:?}"),
            Err(_) => break true,
        }
    };
    assert!(quiet);
    let ev = events(&frames);
    assert_eq!(ev.len(), 2, "{ev:#?}");
    assert_eq!(ev[1].content().as_deref(), Some("tok0 "));
    drop(pending); // the client goes away

    // Shutdown ends the stall promptly.
    let mut pending = send(
        tb.http_addr(),
        "POST",
        "/v1/chat/completions",
        &[("x-testbed-fault", "stall")],
        &chat_body(true, false),
    )
    .await;
    let reader = tokio::spawn(async move {
        loop {
            match pending.next_frame().await {
                Ok(Some(_)) => continue,
                other => return other,
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Not a timing assertion: shutdown reports whether every connection
    // closed by itself, or had to be abandoned after the grace period (a
    // stall that ignored the shutdown).
    assert!(
        tb.shutdown().await,
        "the stalled answer did not end on shutdown; its connection was abandoned"
    );
    // Hang guard only.
    let end = tokio::time::timeout(Duration::from_secs(30), reader)
        .await
        .unwrap()
        .unwrap();
    assert!(end.is_err(), "a stalled body ends abruptly: {end:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_line_sends_one_2_mib_data_line() {
    let tb = testbed().await;
    let resp = stream_with_fault(&tb, "oversized-line").await;
    assert!(resp.error.is_none());
    let text = resp.text();
    let longest = text.split('\n').map(str::len).max().unwrap();
    assert!(longest >= 2 * 1024 * 1024, "{longest}");
    let ev = events(&resp.frames);
    assert!(ev[1].content().is_some());
    assert_eq!(ev.last().unwrap().data, "[DONE]");
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http500_answers_with_an_openai_error() {
    let tb = testbed().await;
    let resp = stream_with_fault(&tb, "http500").await;
    assert_eq!(resp.status, 500);
    assert_eq!(resp.header("x-request-id"), Some("http500"));
    assert_eq!(resp.json()["error"]["type"], "server_error");
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_fault_applies_and_none_header_disables_it() {
    let tb = Testbed::start(TestbedConfig {
        fault: Some(Fault::Http500),
        ttft: Duration::from_millis(1),
        ..TestbedConfig::default()
    })
    .await
    .unwrap();
    let resp = fetch(
        tb.http_addr(),
        "POST",
        "/v1/chat/completions",
        &[],
        &chat_body(true, false),
    )
    .await;
    assert_eq!(resp.status, 500);
    let resp = stream_with_fault(&tb, "none").await;
    assert_eq!(resp.status, 200);
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_rate_fails_a_seeded_fraction() {
    let tb = Testbed::start(TestbedConfig {
        error_rate: 0.5,
        ttft: Duration::ZERO,
        tokens: 1,
        ..TestbedConfig::default()
    })
    .await
    .unwrap();
    let mut codes = Vec::new();
    for _ in 0..40 {
        let r = fetch(
            tb.http_addr(),
            "POST",
            "/v1/chat/completions",
            &[],
            &chat_body(false, false),
        )
        .await;
        codes.push(r.status);
    }
    let failed = codes.iter().filter(|c| **c == 500).count();
    assert!((5..=35).contains(&failed), "{codes:?}");
    assert!(codes.iter().all(|c| *c == 200 || *c == 500));
    tb.shutdown().await;
}
