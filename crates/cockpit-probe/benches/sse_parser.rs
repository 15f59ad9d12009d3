//! Throughput of the SSE parser on a realistic OpenAI chat-completions
//! stream of about 1 MB, fed in 1-KiB chunks (a typical network read) and in
//! 7-byte chunks (worst case: nearly every line split across chunks).
//!
//! The peer, measured in the same run on the same bytes and chunks, is
//! `eventsource-stream` (the SSE layer under reqwest-eventsource and
//! async-openai), driven on a current-thread tokio runtime.

use std::hint::black_box;

use cockpit_probe::openai::classify_chunk;
use cockpit_probe::sse::SseParser;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn openai_stream(target_bytes: usize) -> Vec<u8> {
    let mut s = String::with_capacity(target_bytes + 512);
    let head = r#"{"id":"chatcmpl-7f3a","object":"chat.completion.chunk","created":1764057600,"model":"testbed-1","#;
    s.push_str("data: ");
    s.push_str(head);
    s.push_str(r#""choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#);
    s.push_str("\n\n");
    let words = [
        "The",
        " agent",
        " answered",
        " in",
        " time",
        ",",
        " and",
        " the",
        " probe",
        " measured",
        " it",
        ".",
    ];
    let mut i = 0;
    while s.len() < target_bytes {
        s.push_str("data: ");
        s.push_str(head);
        s.push_str(r#""choices":[{"index":0,"delta":{"content":""#);
        s.push_str(words[i % words.len()]);
        s.push_str(r#""},"finish_reason":null}]}"#);
        s.push_str("\n\n");
        if i % 64 == 0 {
            s.push_str(": keep-alive\n\n");
        }
        i += 1;
    }
    s.push_str("data: ");
    s.push_str(head);
    s.push_str(r#""choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":"#);
    s.push_str(&i.to_string());
    s.push_str("}}\n\ndata: [DONE]\n\n");
    s.into_bytes()
}

fn parse(stream: &[u8], chunk: usize) -> usize {
    let mut p = SseParser::new(1 << 20);
    let mut n = 0usize;
    for c in stream.chunks(chunk) {
        p.feed(c, |ev| n += ev.data.len()).expect("valid stream");
    }
    n
}

fn parse_and_classify(stream: &[u8], chunk: usize) -> usize {
    let mut p = SseParser::new(1 << 20);
    let mut n = 0usize;
    for c in stream.chunks(chunk) {
        p.feed(c, |ev| {
            if ev.data != "[DONE]" && classify_chunk(ev.data).map(|i| i.content).unwrap_or(false) {
                n += 1;
            }
        })
        .expect("valid stream");
    }
    n
}

/// The peer: eventsource-stream over the same chunks.
fn peer(rt: &tokio::runtime::Runtime, stream: &[u8], chunk: usize) -> usize {
    use eventsource_stream::Eventsource;
    use futures_util::StreamExt;
    let chunks = stream
        .chunks(chunk)
        .map(|c| Ok::<_, std::convert::Infallible>(bytes::Bytes::copy_from_slice(c)));
    rt.block_on(async {
        let mut events = futures_util::stream::iter(chunks).eventsource();
        let mut n = 0usize;
        while let Some(ev) = events.next().await {
            n += ev.expect("valid stream").data.len();
        }
        n
    })
}

/// Our parser fed owned chunks too, so the copy costs the same as the peer's.
fn parse_owned(stream: &[u8], chunk: usize) -> usize {
    let mut p = SseParser::new(1 << 20);
    let mut n = 0usize;
    for c in stream.chunks(chunk).map(bytes::Bytes::copy_from_slice) {
        p.feed(&c, |ev| n += ev.data.len()).expect("valid stream");
    }
    n
}

fn bench(c: &mut Criterion) {
    let stream = openai_stream(1_000_000);
    let mut g = c.benchmark_group("sse_parser");
    g.throughput(Throughput::Bytes(stream.len() as u64));
    g.bench_function("openai_1MB_1KiB_chunks", |b| {
        b.iter(|| parse(black_box(&stream), 1024))
    });
    g.bench_function("openai_1MB_7B_chunks", |b| {
        b.iter(|| parse(black_box(&stream), 7))
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    assert_eq!(
        parse(&stream, 1024),
        peer(&rt, &stream, 1024),
        "both parsers see the same data"
    );
    g.bench_function("openai_1MB_1KiB_chunks_owned", |b| {
        b.iter(|| parse_owned(black_box(&stream), 1024))
    });
    g.bench_function("peer_eventsource_stream_1KiB_chunks", |b| {
        b.iter(|| peer(&rt, black_box(&stream), 1024))
    });
    g.bench_function("openai_1MB_7B_chunks_owned", |b| {
        b.iter(|| parse_owned(black_box(&stream), 7))
    });
    g.bench_function("peer_eventsource_stream_7B_chunks", |b| {
        b.iter(|| peer(&rt, black_box(&stream), 7))
    });
    g.bench_function("openai_1MB_1KiB_chunks_with_json", |b| {
        b.iter(|| parse_and_classify(black_box(&stream), 1024))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
