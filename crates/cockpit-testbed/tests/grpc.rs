//! The gRPC server through the generated clients.

use std::time::{Duration, Instant};

use cockpit_testbed::pb::agent_service_client::AgentServiceClient;
use cockpit_testbed::pb::retrieval_service_client::RetrievalServiceClient;
use cockpit_testbed::pb::{CompleteRequest, SearchRequest};
use cockpit_testbed::{Testbed, TestbedConfig};
use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

async fn start(ttft_ms: u64, tokens: u32) -> (Testbed, Channel) {
    let tb = Testbed::start(TestbedConfig {
        ttft: Duration::from_millis(ttft_ms),
        inter_token: Duration::from_millis(1),
        tokens,
        ..TestbedConfig::default()
    })
    .await
    .unwrap();
    let channel = Channel::from_shared(format!("http://{}", tb.grpc_addr()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    (tb, channel)
}

fn ask(request_id: &str, session_id: &str) -> CompleteRequest {
    CompleteRequest {
        session_id: session_id.to_owned(),
        prompt: "hello".to_owned(),
        system_prompt: "be brief".to_owned(),
        max_tokens: 0,
        request_id: request_id.to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_complete_sends_one_chunk_per_token_and_stamps() {
    let (tb, channel) = start(40, 4).await;
    let mut client = AgentServiceClient::new(channel);
    let sent = Instant::now();
    let response = client.stream_complete(ask("g1", "")).await.unwrap();
    assert_eq!(
        response
            .metadata()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("g1")
    );
    let mut stream = response.into_inner();
    let mut chunks = Vec::new();
    let mut first_at = None;
    while let Some(chunk) = stream.message().await.unwrap() {
        first_at.get_or_insert_with(|| sent.elapsed());
        chunks.push(chunk);
    }
    assert_eq!(chunks.len(), 4);
    for (i, c) in chunks.iter().enumerate() {
        assert_eq!(c.index as usize, i);
        assert_eq!(c.text, format!("tok{i} "));
        assert_eq!(c.last, i == 3);
    }
    assert_eq!(chunks[3].output_tokens, 4);
    let first_at = first_at.unwrap();
    // Never before the configured 40 ms (absolute deadlines); how close it
    // comes is measured by `cargo xtask bench probe-accuracy`.
    assert!(first_at >= Duration::from_millis(40), "{first_at:?}");
    let stamp = tb.stamps().get("g1").unwrap();
    assert_eq!(stamp.tokens_sent, 4);
    assert!(stamp.first_token_sent_at.is_some());
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complete_remembers_sessions_and_takes_metadata_overrides() {
    let (tb, channel) = start(5, 3).await;
    let mut client = AgentServiceClient::new(channel);
    let first = client.complete(ask("u1", "s")).await.unwrap().into_inner();
    assert_eq!(first.text, "turn1 tok0 tok1 tok2 ");
    assert_eq!((first.output_tokens, first.session_turns), (3, 2));
    let second = client.complete(ask("u2", "s")).await.unwrap().into_inner();
    assert!(second.text.starts_with("turn2 tok0 "));
    assert_eq!(second.session_turns, 4);
    assert_eq!(tb.sessions().turns("s").len(), 4);

    let mut req = tonic::Request::new(ask("u3", ""));
    req.metadata_mut()
        .insert("x-testbed-tokens", "5".parse().unwrap());
    let r = client.complete(req).await.unwrap().into_inner();
    assert_eq!(r.output_tokens, 5);

    let mut req = tonic::Request::new(ask("u4", ""));
    req.metadata_mut()
        .insert("x-testbed-ttft-ms", "later".parse().unwrap());
    let err = client.complete(req).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_map_to_grpc_statuses() {
    let (tb, channel) = start(5, 8).await;
    let mut client = AgentServiceClient::new(channel);

    let mut req = tonic::Request::new(ask("f1", ""));
    req.metadata_mut()
        .insert("x-testbed-fault", "http500".parse().unwrap());
    let err = client.stream_complete(req).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);

    let mut req = tonic::Request::new(ask("f2", ""));
    req.metadata_mut()
        .insert("x-testbed-fault", "cut-mid-stream".parse().unwrap());
    let mut stream = client.stream_complete(req).await.unwrap().into_inner();
    let mut got = 0;
    let end = loop {
        match stream.message().await {
            Ok(Some(_)) => got += 1,
            other => break other,
        }
    };
    assert_eq!(got, 4);
    assert_eq!(end.unwrap_err().code(), Code::Unavailable);

    let mut req = tonic::Request::new(ask("f3", ""));
    req.metadata_mut()
        .insert("x-testbed-fault", "stall".parse().unwrap());
    let mut stream = client.stream_complete(req).await.unwrap().into_inner();
    assert_eq!(stream.message().await.unwrap().unwrap().index, 0);
    let next = tokio::time::timeout(Duration::from_millis(300), stream.message()).await;
    assert!(next.is_err(), "a stalled stream sends nothing more");
    drop(stream);
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_serving_and_retrieval_answers() {
    let (tb, channel) = start(1, 1).await;
    let mut health = HealthClient::new(channel.clone());
    for service in [
        "",
        "cockpit.agent.v1.AgentService",
        "cockpit.agent.v1.RetrievalService",
    ] {
        let status = health
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service:?}");
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "nope".to_owned(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);

    let mut retrieval = RetrievalServiceClient::new(channel);
    let hits = retrieval
        .search(SearchRequest {
            query: "vector".to_owned(),
            top_k: 2,
        })
        .await
        .unwrap()
        .into_inner()
        .hits;
    assert_eq!(hits.len(), 2);
    assert!(hits[0].score > hits[1].score);
    tb.shutdown().await;
}
