//! The HTTP server: OpenAI-compatible chat completions (whole or SSE),
//! models, retrieval, health, metrics, and the testbed's own stamp and
//! session views.

use std::io;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Path, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::stream;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::agent::{Agent, Ask, OVERSIZED_LINE_BYTES, Pacer};
use crate::config::{Fault, Overrides, TraceEcho};
use crate::retrieval;
use crate::sessions::Turn;
use crate::stamps::unix_ns;

/// Request / response header carrying the request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// Request header naming the session to remember the exchange in.
pub const SESSION_ID_HEADER: &str = "x-session-id";
/// Response header: turns the session holds after this exchange.
pub const SESSION_TURNS_HEADER: &str = "x-session-turns";
/// Request header carrying the W3C trace context; echoed when the
/// testbed's `trace_echo` is set.
pub const TRACEPARENT_HEADER: &str = "traceparent";
/// Response header: when the server received the request, unix nanoseconds.
pub const RECEIVED_UNIX_NS_HEADER: &str = "x-testbed-received-unix-ns";

/// The longest request id the testbed accepts from a client.
const MAX_REQUEST_ID_LEN: usize = 256;

pub(crate) fn router(agent: Arc<Agent>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/models", get(models))
        .route("/v1/retrieval/search", post(retrieval_search))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .route("/testbed/stamps/{request_id}", get(stamp))
        .route("/testbed/sessions/{session_id}", get(session))
        .layer(middleware::from_fn_with_state(
            agent.clone(),
            count_requests,
        ))
        .layer(middleware::from_fn_with_state(
            agent.clone(),
            hold_while_paused,
        ))
        .with_state(agent)
}

/// Holds every request that arrives during a `Testbed::pause_for` until the
/// pause ends (the whole server looks stalled, as in a GC pause).
async fn hold_while_paused(State(agent): State<Arc<Agent>>, req: Request, next: Next) -> Response {
    agent.wait_while_paused().await;
    next.run(req).await
}

/// Counts every answered request by route template and status code.
async fn count_requests(State(agent): State<Arc<Agent>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(req).await;
    agent
        .metrics
        .count_request(&route, response.status().as_str());
    response
}

/// An OpenAI-style error response.
fn openai_error(status: StatusCode, kind: &str, message: impl Into<String>) -> Response {
    let body =
        json!({"error": {"message": message.into(), "type": kind, "param": null, "code": null}});
    (status, axum::Json(body)).into_response()
}

#[derive(Debug, Deserialize)]
struct ChatRequest {
    model: Option<String>,
    messages: Vec<ChatMessage>,
    #[serde(default)]
    stream: bool,
    stream_options: Option<StreamOptions>,
    max_tokens: Option<u32>,
    max_completion_tokens: Option<u32>,
}

#[derive(Debug, Deserialize)]
struct ChatMessage {
    role: String,
    #[serde(default)]
    content: Value,
}

#[derive(Debug, Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

/// The text of a message: a string, or the `text` parts of an array.
fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

/// A rough, deterministic prompt size: whitespace-separated words.
fn count_words(messages: &[ChatMessage]) -> u32 {
    let words: usize = messages
        .iter()
        .map(|m| content_text(&m.content).split_whitespace().count())
        .sum();
    u32::try_from(words).unwrap_or(u32::MAX)
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The client's request id when usable, else a fresh UUID.
pub(crate) fn request_id_or_new(given: Option<&str>) -> String {
    match given.map(str::trim) {
        Some(id) if !id.is_empty() && id.len() <= MAX_REQUEST_ID_LEN => id.to_owned(),
        _ => uuid::Uuid::new_v4().to_string(),
    }
}

fn set_header(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static(name), v);
    }
}

async fn chat_completions(
    State(agent): State<Arc<Agent>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let received = Instant::now();
    let received_at = SystemTime::now();
    let request_id = request_id_or_new(header_str(&headers, REQUEST_ID_HEADER));
    let mut response = answer_chat(&agent, &headers, &body, &request_id, received, received_at);
    let h = response.headers_mut();
    if let Some(mode) = agent.config.trace_echo {
        echo_trace(&headers, h, mode);
    }
    set_header(h, REQUEST_ID_HEADER, &request_id);
    set_header(
        h,
        RECEIVED_UNIX_NS_HEADER,
        &unix_ns(received_at).to_string(),
    );
    response
}

/// The system (and developer) prompt, joined, and the last user turn.
fn prompt_parts(messages: &[ChatMessage]) -> (String, String) {
    let system = messages
        .iter()
        .filter(|m| m.role == "system" || m.role == "developer")
        .map(|m| content_text(&m.content))
        .collect();
    let prompt = messages
        .iter()
        .rev()
        .find(|m| m.role == "user")
        .map(|m| content_text(&m.content))
        .unwrap_or_default();
    (system, prompt)
}

/// The messages before the last user turn: a stateless client's history.
fn history(messages: &[ChatMessage]) -> Vec<Turn> {
    let last_user = messages.iter().rposition(|m| m.role == "user");
    messages[..last_user.unwrap_or(0)]
        .iter()
        .map(|m| Turn::new(m.role.clone(), content_text(&m.content)))
        .collect()
}

/// Echo the request's `traceparent` (as received, or with another trace
/// id) and its session id in response headers.
fn echo_trace(request: &HeaderMap, response: &mut HeaderMap, mode: TraceEcho) {
    if mode.in_body() {
        return;
    }
    if let Some(tp) = header_str(request, TRACEPARENT_HEADER) {
        set_header(response, TRACEPARENT_HEADER, &mode.echoed(tp));
    }
    if let Some(id) = header_str(request, SESSION_ID_HEADER) {
        set_header(response, SESSION_ID_HEADER, id);
    }
}

/// The same echo as top-level fields of every chunk (`body-right`,
/// `body-wrong`): `{"traceparent": …, "session_id": …}`.
fn echo_fields(
    request: &HeaderMap,
    mode: Option<TraceEcho>,
) -> Option<serde_json::Map<String, Value>> {
    let mode = mode.filter(|m| m.in_body())?;
    let mut fields = serde_json::Map::new();
    if let Some(tp) = header_str(request, TRACEPARENT_HEADER) {
        fields.insert("traceparent".into(), Value::String(mode.echoed(tp)));
    }
    if let Some(id) = header_str(request, SESSION_ID_HEADER) {
        fields.insert("session_id".into(), Value::String(id.to_owned()));
    }
    Some(fields)
}

fn answer_chat(
    agent: &Arc<Agent>,
    headers: &HeaderMap,
    body: &[u8],
    request_id: &str,
    received: Instant,
    received_at: SystemTime,
) -> Response {
    let overrides = match Overrides::read(|k| header_str(headers, k)) {
        Ok(o) => o,
        Err(e) => return openai_error(StatusCode::BAD_REQUEST, "invalid_request_error", e),
    };
    let req: ChatRequest = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => {
            return openai_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                format!("request body is not a valid chat completion request: {e}"),
            );
        }
    };
    let (system_prompt, prompt) = prompt_parts(&req.messages);
    let session_id = header_str(headers, SESSION_ID_HEADER).filter(|s| !s.is_empty());
    let history = history(&req.messages);

    let plan = agent.plan(Ask {
        request_id: request_id.to_owned(),
        session_id,
        prompt: &prompt,
        history,
        system_prompt: &system_prompt,
        max_tokens: req.max_completion_tokens.or(req.max_tokens),
        overrides,
        received,
        received_at,
    });
    if plan.fail {
        return openai_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "the testbed injected an internal error",
        );
    }
    let session_turns = plan.session_turns;
    let cache_hit = plan.cache_hit;
    let meta = ChunkMeta {
        id: format!("chatcmpl-{request_id}"),
        created: received_at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        model: req.model.unwrap_or_else(|| agent.config.model.clone()),
        prompt_tokens: count_words(&req.messages),
        echo: echo_fields(headers, agent.config.trace_echo),
    };
    let pacer = Pacer::new(agent.clone(), plan);
    let mut response = if req.stream {
        let include_usage = req.stream_options.is_some_and(|o| o.include_usage);
        stream_answer(pacer, meta, include_usage)
    } else {
        whole_answer(pacer, meta)
    };
    if let Some(n) = session_turns {
        set_header(response.headers_mut(), SESSION_TURNS_HEADER, &n.to_string());
    }
    if let Some(hit) = cache_hit {
        let value = if hit { "hit" } else { "miss" };
        set_header(response.headers_mut(), crate::CACHE_HEADER, value);
    }
    response
}

/// What every chunk / completion object repeats.
#[derive(Debug)]
struct ChunkMeta {
    id: String,
    created: u64,
    model: String,
    prompt_tokens: u32,
    /// Top-level fields every chunk repeats (the trace echo in the body).
    echo: Option<serde_json::Map<String, Value>>,
}

impl ChunkMeta {
    fn usage(&self, completion_tokens: u32) -> Value {
        json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": self.prompt_tokens.saturating_add(completion_tokens),
        })
    }

    /// One SSE event carrying a `chat.completion.chunk`.
    fn chunk_event(&self, choices: Value, usage: Option<Value>) -> Bytes {
        let mut chunk = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        });
        if let Some(u) = usage {
            chunk["usage"] = u;
        }
        if let (Some(fields), Some(obj)) = (&self.echo, chunk.as_object_mut()) {
            obj.extend(fields.clone());
        }
        sse_event(&chunk)
    }

    fn delta_event(&self, delta: Value, finish_reason: Option<&str>) -> Bytes {
        self.chunk_event(
            json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}]),
            None,
        )
    }
}

fn sse_event(v: &Value) -> Bytes {
    let mut out = b"data: ".to_vec();
    // Serializing a `Value` cannot fail.
    let _ = serde_json::to_writer(&mut out, v);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

fn oversized_event() -> Bytes {
    let mut out = Vec::with_capacity(OVERSIZED_LINE_BYTES + 16);
    out.extend_from_slice(b"data: ");
    out.resize(OVERSIZED_LINE_BYTES + 6, b'x');
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

fn body_error(what: &str) -> io::Error {
    io::Error::other(format!("testbed: {what}"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Role,
    Tokens,
    Finish,
    Usage,
    Done,
    End,
}

/// The state of one SSE answer.
#[derive(Debug)]
struct Sse {
    pacer: Pacer,
    meta: ChunkMeta,
    include_usage: bool,
    phase: Phase,
    /// Whether the fault after the first token was injected already.
    injected: bool,
}

impl Sse {
    /// The next body frame; `None` ends the body cleanly, `Err` aborts it.
    async fn next_frame(&mut self) -> Option<Result<Bytes, io::Error>> {
        loop {
            match self.phase {
                Phase::Role => {
                    self.phase = Phase::Tokens;
                    let delta = json!({"role": "assistant", "content": ""});
                    return Some(Ok(self.meta.delta_event(delta, None)));
                }
                Phase::Tokens => {
                    let fault = self.pacer.plan.fault;
                    let tokens = self.pacer.plan.tokens;
                    let sent = self.pacer.sent();
                    if fault == Some(Fault::CutMidStream) && sent >= (tokens / 2).max(1).min(tokens)
                    {
                        self.pacer.record_progress();
                        self.phase = Phase::End;
                        // Cut when the next token was due, after the
                        // transport flushed what was sent (it flushes
                        // when the body is pending).
                        let _ = self.pacer.wait_next().await;
                        tokio::task::yield_now().await;
                        return Some(Err(body_error("connection cut mid-stream")));
                    }
                    if !self.injected && (sent >= 1 || tokens == 0) {
                        self.injected = true;
                        match fault {
                            Some(Fault::InvalidSse) => {
                                return Some(Ok(Bytes::from_static(
                                    b"data: {this is not json\n\n",
                                )));
                            }
                            Some(Fault::OversizedLine) => return Some(Ok(oversized_event())),
                            Some(Fault::Stall) => {
                                self.pacer.record_progress();
                                self.pacer.agent().stall().await;
                                self.phase = Phase::End;
                                return Some(Err(body_error("stalled answer given up")));
                            }
                            _ => {}
                        }
                    }
                    let Some(i) = self.pacer.next_index() else {
                        self.phase = Phase::Finish;
                        continue;
                    };
                    if self.pacer.wait_next().await.is_err() {
                        self.phase = Phase::End;
                        return Some(Err(body_error("shutting down")));
                    }
                    let frame = self
                        .meta
                        .delta_event(json!({"content": self.pacer.plan.token_text(i)}), None);
                    self.pacer.mark_sent();
                    return Some(Ok(frame));
                }
                Phase::Finish => {
                    self.phase = if self.include_usage {
                        Phase::Usage
                    } else {
                        Phase::Done
                    };
                    return Some(Ok(self.meta.delta_event(json!({}), Some("stop"))));
                }
                Phase::Usage => {
                    self.phase = Phase::Done;
                    let usage = self.meta.usage(self.pacer.sent());
                    return Some(Ok(self.meta.chunk_event(json!([]), Some(usage))));
                }
                Phase::Done => {
                    self.phase = Phase::End;
                    return Some(Ok(Bytes::from_static(b"data: [DONE]\n\n")));
                }
                Phase::End => return None,
            }
        }
    }
}

fn stream_answer(pacer: Pacer, meta: ChunkMeta, include_usage: bool) -> Response {
    let sse = Sse {
        pacer,
        meta,
        include_usage,
        phase: Phase::Role,
        injected: false,
    };
    let frames = stream::unfold(sse, |mut sse| async move {
        let frame = sse.next_frame().await?;
        Some((frame, sse))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(frames))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// The body of a whole (non-streamed) answer.
#[derive(Debug)]
enum Whole {
    Json(Bytes),
    /// Half of the JSON, then an abrupt end.
    Cut(Bytes),
}

/// Where a whole answer's body is.
#[derive(Debug)]
enum WholeState {
    Start(Box<(Pacer, ChunkMeta)>),
    /// The next poll aborts the body.
    Abort,
    Done,
}

fn whole_answer(pacer: Pacer, meta: ChunkMeta) -> Response {
    let start = WholeState::Start(Box::new((pacer, meta)));
    let frames = stream::unfold(start, |state| async move {
        match state {
            WholeState::Start(boxed) => {
                let (mut pacer, meta) = *boxed;
                if pacer.plan.fault == Some(Fault::Stall) {
                    pacer.agent().stall().await;
                    return Some((Err(body_error("stalled answer given up")), WholeState::Done));
                }
                if pacer.wait_all().await.is_err() {
                    return Some((Err(body_error("shutting down")), WholeState::Done));
                }
                let body = whole_body(&pacer, &meta);
                pacer.mark_all_sent();
                Some(match body {
                    Whole::Json(b) => (Ok(b), WholeState::Done),
                    Whole::Cut(half) => (Ok(half), WholeState::Abort),
                })
            }
            WholeState::Abort => {
                // Let the transport flush the first half before the cut.
                tokio::task::yield_now().await;
                Some((
                    Err(body_error("connection cut mid-answer")),
                    WholeState::Done,
                ))
            }
            WholeState::Done => None,
        }
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(frames))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn whole_body(pacer: &Pacer, meta: &ChunkMeta) -> Whole {
    let plan = &pacer.plan;
    let mut content = plan.answer_text();
    if plan.fault == Some(Fault::OversizedLine) {
        content.push_str(&"x".repeat(OVERSIZED_LINE_BYTES));
    }
    let completion = json!({
        "id": meta.id,
        "object": "chat.completion",
        "created": meta.created,
        "model": meta.model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "logprobs": null,
            "finish_reason": "stop",
        }],
        "usage": meta.usage(plan.tokens),
    });
    let bytes = serde_json::to_vec(&completion).unwrap_or_default();
    match plan.fault {
        Some(Fault::InvalidSse) => Whole::Json(Bytes::from_static(b"{this is not json")),
        Some(Fault::CutMidStream) => {
            let half = bytes.len() / 2;
            Whole::Cut(Bytes::from(bytes).slice(..half))
        }
        _ => Whole::Json(Bytes::from(bytes)),
    }
}

async fn models(State(agent): State<Arc<Agent>>) -> Response {
    axum::Json(json!({
        "object": "list",
        "data": [{
            "id": agent.config.model,
            "object": "model",
            "created": 0,
            "owned_by": "cockpit-testbed",
        }],
    }))
    .into_response()
}

async fn metrics(State(agent): State<Arc<Agent>>) -> Response {
    let mut text = agent.metrics.render(agent.config.export_ttft_histogram);
    if let Some(cache) = &agent.semantic_cache {
        cache.render(&mut text);
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
struct SearchRequest {
    query: String,
    top_k: Option<u32>,
}

async fn retrieval_search(State(agent): State<Arc<Agent>>, body: Bytes) -> Response {
    let start = Instant::now();
    let req: SearchRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return openai_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                format!("request body is not a valid search request: {e}"),
            );
        }
    };
    if agent
        .sleep_until(start + agent.retrieval_delay())
        .await
        .is_err()
    {
        return openai_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            "the testbed is shutting down",
        );
    }
    let hits: Vec<Value> = retrieval::search(&req.query, req.top_k.unwrap_or(0))
        .into_iter()
        .map(|h| json!({"id": h.id, "score": h.score, "text": h.text}))
        .collect();
    axum::Json(json!({ "hits": hits })).into_response()
}

async fn stamp(State(agent): State<Arc<Agent>>, Path(request_id): Path<String>) -> Response {
    match agent.stamps.get(&request_id) {
        Some(s) => axum::Json(s.to_json()).into_response(),
        None => openai_error(
            StatusCode::NOT_FOUND,
            "not_found_error",
            format!("no stamp for request id {request_id:?}"),
        ),
    }
}

async fn session(State(agent): State<Arc<Agent>>, Path(session_id): Path<String>) -> Response {
    let turns = agent.sessions.turns(&session_id);
    axum::Json(json!({ "session_id": session_id, "turns": turns })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_text_reads_strings_and_parts() {
        assert_eq!(content_text(&json!("hi")), "hi");
        assert_eq!(
            content_text(&json!([{"type": "text", "text": "a"}, {"type": "image"}, {"text": "b"}])),
            "ab"
        );
        assert_eq!(content_text(&Value::Null), "");
    }

    #[test]
    fn request_ids_are_kept_or_generated() {
        assert_eq!(request_id_or_new(Some("abc")), "abc");
        assert_eq!(request_id_or_new(Some(" ")).len(), 36);
        assert_eq!(request_id_or_new(None).len(), 36);
        assert_eq!(request_id_or_new(Some(&"x".repeat(300))).len(), 36);
    }

    #[test]
    fn events_are_single_data_lines() {
        let meta = ChunkMeta {
            id: "chatcmpl-1".into(),
            created: 7,
            model: "m".into(),
            prompt_tokens: 2,
            echo: None,
        };
        let ev = meta.delta_event(json!({"content": "tok0 "}), None);
        let text = std::str::from_utf8(&ev).unwrap();
        assert!(text.starts_with("data: {") && text.ends_with("}\n\n"));
        assert_eq!(text.matches('\n').count(), 2);
        let v: Value = serde_json::from_str(&text[6..]).unwrap();
        assert_eq!(v["object"], "chat.completion.chunk");
        assert_eq!(v["choices"][0]["delta"]["content"], "tok0 ");
        let big = oversized_event();
        assert_eq!(big.len(), OVERSIZED_LINE_BYTES + 8);
        assert_eq!(big.iter().filter(|b| **b == b'\n').count(), 2);
    }
}
