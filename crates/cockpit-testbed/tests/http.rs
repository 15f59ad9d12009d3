//! The HTTP server against a real client on 127.0.0.1.

mod support;

use std::time::Duration;

use cockpit_testbed::{Testbed, TestbedConfig};
use support::{chat_body, events, fetch, get};

fn config(ttft_ms: u64, inter_token_ms: u64, tokens: u32) -> TestbedConfig {
    TestbedConfig {
        ttft: Duration::from_millis(ttft_ms),
        inter_token: Duration::from_millis(inter_token_ms),
        tokens,
        ..TestbedConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_sends_role_then_tokens_then_stop_usage_done() {
    let tb = Testbed::start(config(30, 2, 4)).await.unwrap();
    let resp = fetch(
        tb.http_addr(),
        "POST",
        "/v1/chat/completions",
        &[("x-request-id", "order-1")],
        &chat_body(true, true),
    )
    .await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("text/event-stream"));
    assert_eq!(resp.header("x-request-id"), Some("order-1"));
    assert!(
        resp.header("x-testbed-received-unix-ns")
            .unwrap()
            .parse::<u128>()
            .is_ok()
    );
    assert!(resp.error.is_none(), "{:?}", resp.error);

    let ev = events(&resp.frames);
    assert_eq!(ev.len(), 1 + 4 + 1 + 1 + 1, "{ev:#?}");
    let role = ev[0].json().unwrap();
    assert_eq!(role["object"], "chat.completion.chunk");
    assert_eq!(role["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(role["choices"][0]["delta"]["content"], "");
    assert!(ev[0].content().is_none(), "the role delta carries no token");
    let contents: Vec<String> = ev[1..5].iter().map(|e| e.content().unwrap()).collect();
    assert_eq!(contents, ["tok0 ", "tok1 ", "tok2 ", "tok3 "]);
    for e in &ev[1..6] {
        let v = e.json().unwrap();
        assert_eq!(v["id"], "chatcmpl-order-1");
        assert_eq!(v["model"], "testbed-1");
        assert!(v["created"].as_u64().unwrap() > 0);
    }
    let stop = ev[5].json().unwrap();
    assert_eq!(stop["choices"][0]["finish_reason"], "stop");
    let usage = ev[6].json().unwrap();
    assert_eq!(usage["choices"], serde_json::json!([]));
    assert_eq!(usage["usage"]["completion_tokens"], 4);
    assert_eq!(
        usage["usage"]["total_tokens"].as_u64().unwrap(),
        usage["usage"]["prompt_tokens"].as_u64().unwrap() + 4
    );
    assert_eq!(ev[7].data, "[DONE]");

    // The role delta comes at once; the first token after the TTFT.
    assert!(
        ev[0].at < Duration::from_millis(25),
        "role at {:?}",
        ev[0].at
    );
    assert!(
        ev[1].at >= Duration::from_millis(30),
        "first token at {:?}",
        ev[1].at
    );

    let stamp = tb.stamps().get("order-1").expect("stamp recorded");
    assert_eq!(stamp.tokens_sent, 4);
    assert!(!stamp.prefix_cache_hit);
    let ttft = stamp
        .first_token_sent_at
        .unwrap()
        .duration_since(stamp.received_at)
        .unwrap();
    assert!(ttft >= Duration::from_millis(30), "{ttft:?}");
    assert!(stamp.last_token_sent_at.unwrap() >= stamp.first_token_sent_at.unwrap());
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_chunk_only_when_asked() {
    let tb = Testbed::start(config(1, 0, 2)).await.unwrap();
    let resp = fetch(
        tb.http_addr(),
        "POST",
        "/v1/chat/completions",
        &[],
        &chat_body(true, false),
    )
    .await;
    let ev = events(&resp.frames);
    assert_eq!(ev.len(), 1 + 2 + 1 + 1);
    assert!(
        ev.iter()
            .all(|e| e.json().is_none_or(|v| v.get("usage").is_none()))
    );
    assert_eq!(ev.last().unwrap().data, "[DONE]");
    // A generated request id is echoed.
    assert_eq!(resp.header("x-request-id").unwrap().len(), 36);
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttft_matches_the_setting() {
    let tb = Testbed::start(config(120, 5, 3)).await.unwrap();
    let resp = fetch(
        tb.http_addr(),
        "POST",
        "/v1/chat/completions",
        &[],
        &chat_body(true, false),
    )
    .await;
    let first = events(&resp.frames)
        .into_iter()
        .find(|e| e.content().is_some())
        .unwrap();
    assert!(
        first.at >= Duration::from_millis(120) && first.at < Duration::from_millis(170),
        "first token at {:?}",
        first.at
    );

    // Per-request override of TTFT and token count.
    let resp = fetch(
        tb.http_addr(),
        "POST",
        "/v1/chat/completions",
        &[
            ("x-testbed-ttft-ms", "10"),
            ("x-testbed-tokens", "6"),
            ("x-testbed-inter-token-ms", "1"),
        ],
        &chat_body(true, false),
    )
    .await;
    let ev = events(&resp.frames);
    let contents: Vec<_> = ev.iter().filter(|e| e.content().is_some()).collect();
    assert_eq!(contents.len(), 6);
    assert!(
        contents[0].at < Duration::from_millis(60),
        "{:?}",
        contents[0].at
    );
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_answer_waits_for_all_tokens() {
    let tb = Testbed::start(config(20, 5, 5)).await.unwrap();
    let body = r#"{"messages":[{"role":"user","content":"hi there"}],"max_tokens":3}"#;
    let resp = fetch(
        tb.http_addr(),
        "POST",
        "/v1/chat/completions",
        &[("x-request-id", "w")],
        body,
    )
    .await;
    assert_eq!(resp.status, 200);
    let v = resp.json();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "testbed-1");
    assert_eq!(v["choices"][0]["message"]["content"], "tok0 tok1 tok2 ");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["usage"]["completion_tokens"], 3);
    assert_eq!(v["usage"]["prompt_tokens"], 2);
    // 20 ms + 2 × 5 ms
    assert!(
        resp.frames[0].0 >= Duration::from_millis(30),
        "{:?}",
        resp.frames[0].0
    );
    let stamp = tb.stamps().get("w").unwrap();
    assert_eq!(stamp.tokens_sent, 3);
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_openai_errors() {
    let tb = Testbed::start(config(1, 0, 1)).await.unwrap();
    for body in ["{not json", r#"{"model":"m"}"#, r#"{"messages":"nope"}"#] {
        let resp = fetch(tb.http_addr(), "POST", "/v1/chat/completions", &[], body).await;
        assert_eq!(resp.status, 400, "{body}");
        let v = resp.json();
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert!(v["error"]["message"].as_str().unwrap().len() > 5);
    }
    let resp = fetch(
        tb.http_addr(),
        "POST",
        "/v1/chat/completions",
        &[("x-testbed-ttft-ms", "soon")],
        &chat_body(true, false),
    )
    .await;
    assert_eq!(resp.status, 400);
    assert!(
        resp.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("x-testbed-ttft-ms")
    );
    let resp = fetch(
        tb.http_addr(),
        "POST",
        "/v1/chat/completions",
        &[("x-testbed-fault", "meltdown")],
        &chat_body(true, false),
    )
    .await;
    assert_eq!(resp.status, 400);
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_count_turns_and_number_exchanges() {
    let tb = Testbed::start(config(1, 0, 2)).await.unwrap();
    for k in 1..=3u32 {
        let body =
            format!(r#"{{"messages":[{{"role":"user","content":"message {k}"}}],"stream":true}}"#);
        let resp = fetch(
            tb.http_addr(),
            "POST",
            "/v1/chat/completions",
            &[("x-session-id", "conv-1")],
            &body,
        )
        .await;
        assert_eq!(
            resp.header("x-session-turns"),
            Some((2 * k).to_string().as_str())
        );
        let first = events(&resp.frames)
            .iter()
            .find_map(|e| e.content())
            .unwrap();
        assert_eq!(first, format!("turn{k} tok0 "));
    }
    let turns = tb.sessions().turns("conv-1");
    assert_eq!(turns.len(), 6);
    assert_eq!(turns[4].role, "user");
    assert_eq!(turns[4].content, "message 3");
    assert_eq!(turns[5].content, "turn3 tok0 tok1 ");

    let view = get(tb.http_addr(), "/testbed/sessions/conv-1").await.json();
    assert_eq!(view["turns"].as_array().unwrap().len(), 6);
    assert_eq!(view["turns"][1]["role"], "assistant");

    // Without a session id: no header, no turn number.
    let resp = fetch(
        tb.http_addr(),
        "POST",
        "/v1/chat/completions",
        &[],
        &chat_body(true, false),
    )
    .await;
    assert!(resp.header("x-session-turns").is_none());
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_expose_counters_and_the_ttft_histogram() {
    let tb = Testbed::start(config(1, 0, 1)).await.unwrap();
    fetch(
        tb.http_addr(),
        "POST",
        "/v1/chat/completions",
        &[],
        &chat_body(true, false),
    )
    .await;
    get(tb.http_addr(), "/healthz").await;
    let resp = get(tb.http_addr(), "/metrics").await;
    assert_eq!(resp.status, 200);
    assert!(
        resp.header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    let text = resp.text();
    assert!(
        text.contains("# TYPE testbed_requests_total counter"),
        "{text}"
    );
    assert!(
        text.contains("testbed_requests_total{route=\"/v1/chat/completions\",code=\"200\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("testbed_requests_total{route=\"/healthz\",code=\"200\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("# HELP testbed_time_to_first_token_seconds"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE testbed_time_to_first_token_seconds histogram"),
        "{text}"
    );
    assert!(
        text.contains("testbed_time_to_first_token_seconds_bucket{le=\"+Inf\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("testbed_time_to_first_token_seconds_sum "),
        "{text}"
    );
    assert!(
        text.contains("testbed_time_to_first_token_seconds_count 1"),
        "{text}"
    );
    tb.shutdown().await;

    let tb = Testbed::start(TestbedConfig {
        export_ttft_histogram: false,
        ..config(1, 0, 1)
    })
    .await
    .unwrap();
    fetch(
        tb.http_addr(),
        "POST",
        "/v1/chat/completions",
        &[],
        &chat_body(true, false),
    )
    .await;
    let text = get(tb.http_addr(), "/metrics").await.text();
    assert!(
        !text.contains("testbed_time_to_first_token_seconds"),
        "{text}"
    );
    assert!(text.contains("testbed_requests_total"));
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stamps_are_served_as_json() {
    let tb = Testbed::start(config(5, 1, 3)).await.unwrap();
    fetch(
        tb.http_addr(),
        "POST",
        "/v1/chat/completions",
        &[("x-request-id", "stamp-me")],
        &chat_body(true, false),
    )
    .await;
    let resp = get(tb.http_addr(), "/testbed/stamps/stamp-me").await;
    assert_eq!(resp.status, 200);
    let v = resp.json();
    assert_eq!(v["request_id"], "stamp-me");
    assert_eq!(v["tokens_sent"], 3);
    let received = v["received_unix_ns"].as_u64().unwrap();
    let first = v["first_token_sent_unix_ns"].as_u64().unwrap();
    let last = v["last_token_sent_unix_ns"].as_u64().unwrap();
    assert!(received < first && first <= last);
    assert!(first - received >= 5_000_000);
    assert_eq!(v["cold_start"], true);
    assert_eq!(tb.stamps().len(), 1);
    assert_eq!(
        get(tb.http_addr(), "/testbed/stamps/unknown").await.status,
        404
    );
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_health_and_retrieval() {
    let tb = Testbed::start(TestbedConfig {
        retrieval_latency: Duration::from_millis(20),
        ..TestbedConfig::default()
    })
    .await
    .unwrap();
    let health = get(tb.http_addr(), "/healthz").await;
    assert_eq!((health.status, health.text().as_str()), (200, "ok"));

    let models = get(tb.http_addr(), "/v1/models").await.json();
    assert_eq!(models["object"], "list");
    assert_eq!(models["data"][0]["id"], "testbed-1");
    assert_eq!(models["data"][0]["object"], "model");

    let resp = fetch(
        tb.http_addr(),
        "POST",
        "/v1/retrieval/search",
        &[],
        r#"{"query":"kv cache","top_k":4}"#,
    )
    .await;
    assert_eq!(resp.status, 200);
    assert!(resp.frames[0].0 >= Duration::from_millis(20));
    let hits = resp.json()["hits"].as_array().unwrap().clone();
    assert_eq!(hits.len(), 4);
    assert!(hits[0]["id"].as_str().unwrap().starts_with("doc-"));
    assert!(hits[0]["score"].as_f64().unwrap() > hits[3]["score"].as_f64().unwrap());
    let bad = fetch(tb.http_addr(), "POST", "/v1/retrieval/search", &[], "[1,2]").await;
    assert_eq!(bad.status, 400);
    assert_eq!(get(tb.http_addr(), "/nope").await.status, 404);
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_start_and_prefix_cache_change_ttft() {
    let tb = Testbed::start(TestbedConfig {
        cold_start: Duration::from_millis(150),
        prefill_per_kib: Duration::from_millis(20),
        ..config(10, 0, 1)
    })
    .await
    .unwrap();
    let system = "s".repeat(4096); // 4 KiB: 80 ms prefill when not cached
    let body = serde_json::json!({
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": "hi"}],
        "stream": true,
    })
    .to_string();
    let mut ttfts = Vec::new();
    for id in ["c1", "c2"] {
        let resp = fetch(
            tb.http_addr(),
            "POST",
            "/v1/chat/completions",
            &[("x-request-id", id)],
            &body,
        )
        .await;
        let first = events(&resp.frames)
            .into_iter()
            .find(|e| e.content().is_some())
            .unwrap();
        ttfts.push(first.at);
    }
    // Cold and uncached: at least 10 + 150 + 80 ms (deadlines are absolute,
    // so never less). Warm and cached is told by the stamps below, not by an
    // upper bound on a shared machine's timing.
    assert!(ttfts[0] >= Duration::from_millis(240), "{ttfts:?}");
    let (c1, c2) = (
        tb.stamps().get("c1").unwrap(),
        tb.stamps().get("c2").unwrap(),
    );
    assert!(c1.cold_start && !c1.prefix_cache_hit);
    assert!(!c2.cold_start && c2.prefix_cache_hit);
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_prior_knowledge_is_served() {
    use http_body_util::{BodyExt, Full};
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let tb = Testbed::start(config(1, 0, 1)).await.unwrap();
    let tcp = tokio::net::TcpStream::connect(tb.http_addr())
        .await
        .unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::get(format!("{}/healthz", tb.base_url()))
        .body(Full::new(bytes::Bytes::new()))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.into_body().collect().await.unwrap().to_bytes(), "ok");
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_ttft_changes_the_first_token_of_later_completions() {
    let tb = Testbed::start(config(5, 1, 2)).await.unwrap();
    tb.set_ttft(Some(Duration::from_millis(300)));
    let first_token = |resp: &support::Read| {
        events(&resp.frames)
            .into_iter()
            .find(|e| e.content().is_some())
            .unwrap()
            .at
    };
    let resp = fetch(
        tb.http_addr(),
        "POST",
        "/v1/chat/completions",
        &[],
        &chat_body(true, false),
    )
    .await;
    let at = first_token(&resp);
    assert!(at >= Duration::from_millis(300), "first token at {at:?}");
    // A request's own override still wins over the set value.
    let resp = fetch(
        tb.http_addr(),
        "POST",
        "/v1/chat/completions",
        &[("x-testbed-ttft-ms", "450")],
        &chat_body(true, false),
    )
    .await;
    let at = first_token(&resp);
    assert!(at >= Duration::from_millis(450), "first token at {at:?}");
    tb.set_ttft(None);
    assert_eq!(tb.config().ttft, Duration::from_millis(5));
    tb.shutdown().await;
}
