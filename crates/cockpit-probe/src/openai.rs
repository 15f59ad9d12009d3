//! The OpenAI-compatible streaming probe: TTFT, inter-token latency, TPOT
//! and output tokens per second, from `/v1/chat/completions` with
//! `stream: true`.

use std::borrow::Cow;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::bounds::{Bounds, Progress, Stage};
use crate::conn::{Failure, HttpConn};
use crate::http::{Endpoint, acquire, build, response_head, status_failure};
use crate::report::{ErrorKind, SampleResult, Stats, StreamOutcome};
use crate::sse::{SseError, SseParser};

/// Methods of the OpenAI probe's distributions.
pub(crate) fn method_text(name: &str) -> Option<&'static str> {
    Some(match name {
        "ttft" => {
            "client-side, from the instant before the request is written to the arrival of the body frame holding the first byte of the first SSE event with non-empty delta.content, reasoning_content or tool_calls (role-only and empty deltas skipped)"
        }
        "ttft_incl_connect" => {
            "client-side, as ttft but from before DNS and connect when the sample opened its connection"
        }
        "itl" => {
            "client-side, gaps between the arrivals of successive content events (frame arrival time; events in one frame have a zero gap); TTFT not included"
        }
        "tpot" => {
            "client-side, (e2e - ttft) / (output tokens - 1), per request with more than one token"
        }
        "e2e" => {
            "client-side, from the instant before the request is written to the frame holding data: [DONE] (or the body end after a finish_reason)"
        }
        "output_tokens_per_s" => {
            "client-side, output tokens / e2e per request; tokens from usage.completion_tokens when the stream carries it, else the count of content events"
        }
        "dns" | "connect" | "tls" => return crate::http::method_text(name),
        _ => return None,
    })
}

/// What one SSE `data:` payload of a chat-completions stream says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChunkInfo {
    /// Some choice's delta has a non-empty `content`, `reasoning_content`
    /// (or `reasoning`) string, or a non-empty `tool_calls` array.
    pub content: bool,
    /// Some choice has a non-null `finish_reason`.
    pub finish: bool,
    /// `usage.completion_tokens`, when the chunk carries usage.
    pub completion_tokens: Option<u64>,
    /// The chunk is an error object (`{"error": …}`).
    pub error: bool,
}

#[derive(Deserialize)]
struct ChunkJson<'a> {
    #[serde(default, borrow)]
    choices: Option<Vec<ChoiceJson<'a>>>,
    #[serde(default)]
    usage: Option<UsageJson>,
    #[serde(default)]
    error: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct ChoiceJson<'a> {
    #[serde(default, borrow)]
    delta: Option<DeltaJson<'a>>,
    #[serde(default)]
    finish_reason: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct DeltaJson<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    reasoning_content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    reasoning: Option<Cow<'a, str>>,
    #[serde(default)]
    tool_calls: Option<Vec<IgnoredAny>>,
}

#[derive(Deserialize)]
struct UsageJson {
    #[serde(default)]
    completion_tokens: Option<u64>,
}

/// Classify one `data:` payload (not `[DONE]`).
///
/// ```
/// use cockpit_probe::openai::classify_chunk;
/// let role_only = r#"{"choices":[{"index":0,"delta":{"role":"assistant"}}]}"#;
/// assert!(!classify_chunk(role_only).unwrap().content);
/// let token = r#"{"choices":[{"index":0,"delta":{"content":"Hi"}}]}"#;
/// assert!(classify_chunk(token).unwrap().content);
/// ```
pub fn classify_chunk(data: &str) -> Result<ChunkInfo, serde_json::Error> {
    parse_chunk(data, None)
}

/// [`classify_chunk`], also appending every choice's `delta.content` to
/// `text` when given (within its bound).
fn parse_chunk(
    data: &str,
    mut text: Option<&mut AnswerText>,
) -> Result<ChunkInfo, serde_json::Error> {
    let c: ChunkJson<'_> = serde_json::from_str(data)?;
    let mut info = ChunkInfo {
        completion_tokens: c.usage.and_then(|u| u.completion_tokens),
        error: c.error.is_some(),
        ..ChunkInfo::default()
    };
    if let Some(t) = text.as_deref_mut()
        && !t.fields.is_empty()
    {
        t.keep_fields(data);
    }
    for ch in c.choices.unwrap_or_default() {
        info.finish |= ch.finish_reason.is_some();
        if let Some(d) = ch.delta {
            if let (Some(t), Some(c)) = (text.as_deref_mut(), d.content.as_deref()) {
                t.push(c);
            }
            let non_empty = |s: &Option<Cow<'_, str>>| s.as_deref().is_some_and(|s| !s.is_empty());
            info.content |= non_empty(&d.content)
                || non_empty(&d.reasoning_content)
                || non_empty(&d.reasoning)
                || d.tool_calls.is_some_and(|t| !t.is_empty());
        }
    }
    Ok(info)
}

/// The content of an answer, gathered up to a bound: what goes past it is
/// not kept, and said (`over`).
#[derive(Debug, Default)]
pub(crate) struct AnswerText {
    pub text: String,
    pub max_bytes: usize,
    pub over: bool,
    /// Top-level string fields to keep from the chunks (an agent's trace
    /// echo in the body): name → the first value seen, at most
    /// [`MAX_ECHO_BYTES`] (a longer one is kept empty).
    pub fields: Vec<(String, Option<String>)>,
}

/// The bound on a kept top-level field's value.
pub(crate) const MAX_ECHO_BYTES: usize = 512;

impl AnswerText {
    /// Keep the wanted top-level fields of one chunk not seen yet (a second
    /// parse, only while one is missing).
    fn keep_fields(&mut self, data: &str) {
        if self.fields.iter().all(|(_, v)| v.is_some()) {
            return;
        }
        let Ok(obj) = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(data)
        else {
            return;
        };
        for (name, kept) in self.fields.iter_mut().filter(|(_, v)| v.is_none()) {
            if let Some(v) = obj.get(name.as_str()).and_then(|v| v.as_str()) {
                *kept = Some(if v.len() <= MAX_ECHO_BYTES {
                    v.to_owned()
                } else {
                    String::new()
                });
            }
        }
    }
}

impl AnswerText {
    fn push(&mut self, s: &str) {
        if self.over || self.text.len() + s.len() > self.max_bytes {
            self.over = true;
            return;
        }
        self.text.push_str(s);
    }
}

/// Build the JSON body of a streaming chat-completions request.
pub(crate) fn request_body(
    model: &str,
    system: Option<&str>,
    prompt: &str,
    max_tokens: Option<u32>,
) -> Bytes {
    let mut messages = Vec::with_capacity(2);
    if let Some(s) = system {
        messages.push(serde_json::json!({"role": "system", "content": s}));
    }
    messages.push(serde_json::json!({"role": "user", "content": prompt}));
    messages_body(model, messages, max_tokens)
}

/// The JSON body of a streaming chat-completions request carrying `messages`.
pub(crate) fn messages_body(
    model: &str,
    messages: Vec<serde_json::Value>,
    max_tokens: Option<u32>,
) -> Bytes {
    let mut body = serde_json::json!({
        "model": model,
        "messages": messages,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    if let Some(m) = max_tokens {
        body["max_tokens"] = serde_json::json!(m);
    }
    Bytes::from(serde_json::to_vec(&body).expect("a JSON value serialises"))
}

/// Where each request's body comes from.
#[derive(Debug)]
pub(crate) enum BodySource {
    /// The same body every time.
    Fixed(Bytes),
    /// A fresh random system prompt of this many bytes every time (defeats
    /// prefix caches).
    FreshPrefix {
        model: String,
        prompt: String,
        max_tokens: Option<u32>,
        bytes: usize,
    },
}

/// Everything one OpenAI sample needs, shared by the workers.
#[derive(Debug)]
pub(crate) struct OpenAiPlan {
    pub endpoint: Endpoint,
    pub body: BodySource,
    pub max_line_bytes: usize,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub record_samples: bool,
    /// Keep each answer's text, cut at this many bytes (0: none).
    pub capture_output_bytes: usize,
    /// Keep this response header in each record (none: no header).
    pub capture_header: Option<HeaderName>,
}

/// Per-worker scratch space, reused from sample to sample.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    /// Inter-token gaps of the sample in flight, recorded only if it succeeds.
    gaps: Vec<Duration>,
    /// The answer's text so far, when captured.
    text: String,
    /// The captured response header of the sample in flight.
    header: Option<String>,
}

/// Gaps kept per sample; a longer stream's later gaps are not recorded.
const MAX_GAPS: usize = 1 << 16;

/// One OpenAI streaming sample, within its [`Bounds`]: the TTFT of a
/// successful one, else the kind of its failure (already counted).
pub(crate) async fn sample(
    plan: &OpenAiPlan,
    slot: &mut Option<HttpConn>,
    scratch: &mut Scratch,
    stats: &mut Stats,
    index: u32,
    measured: bool,
) -> SampleResult {
    scratch.gaps.clear();
    scratch.text.clear();
    scratch.header = None;
    let ep = &plan.endpoint;
    let request_id = uuid::Uuid::new_v4().hyphenated().to_string();
    let mut send_wall = None;
    let bounds = Bounds::starting_now(ep.timeout, ep.idle);
    let progress = Progress::default();
    let inner = sample_inner(
        plan,
        Step {
            slot,
            scratch,
            stats,
            measured,
            bounds: &bounds,
            progress: &progress,
        },
        &request_id,
        &mut send_wall,
    );
    let r = bounds.within(&progress, &ep.target.redacted, inner).await;
    let r = stats.stream_sample(
        plan.record_samples,
        index,
        measured,
        request_id,
        send_wall,
        r,
        &scratch.gaps,
    );
    if plan.capture_output_bytes > 0 && r.is_ok() {
        stats.attach_output(index, &scratch.text);
    }
    if plan.capture_header.is_some() {
        stats.attach_header(index, scratch.header.take());
    }
    if r.is_err() || !ep.reuse {
        *slot = None;
    }
    r.map(Some)
}

fn sse_failure(e: &SseError, what: &str) -> Failure {
    match e {
        SseError::LineTooLong { .. } => Failure::new(
            ErrorKind::LineTooLong,
            format!("{what}: {e}; stopped reading"),
        ),
        _ => Failure::new(ErrorKind::InvalidSse, format!("{what}: {e}")),
    }
}

fn excerpt(s: &str) -> String {
    const MAX: usize = 160;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// What one sample works with.
struct Step<'a> {
    slot: &'a mut Option<HttpConn>,
    scratch: &'a mut Scratch,
    stats: &'a mut Stats,
    measured: bool,
    bounds: &'a Bounds,
    progress: &'a Progress,
}

/// Connect (or reuse), send, read the stream, measure.
async fn sample_inner(
    plan: &OpenAiPlan,
    step: Step<'_>,
    request_id: &str,
    send_wall: &mut Option<SystemTime>,
) -> Result<StreamOutcome, Failure> {
    let ep = &plan.endpoint;
    let what = ep.target.redacted.as_str();
    let (conn, fresh) = acquire(step.slot, ep, step.stats, step.measured).await?;
    let conn_start = conn.phases.start;
    let req = request(plan, conn, request_id)?;
    if plan.record_samples {
        *send_wall = Some(SystemTime::now());
    }
    let send_start = Instant::now();
    let resp = response_head(conn, req, step.progress, what).await?;
    step.stats.last_status = Some(crate::load::ResponseStatus::Http(resp.status().as_u16()));
    if let Some(name) = &plan.capture_header {
        step.scratch.header = resp
            .headers()
            .get(name)
            .map(|v| crate::report::bounded_header(v.as_bytes()));
    }
    event_stream_head(&resp, what)?;
    step.progress.at(Stage::Stream);
    let mut body = resp.into_body();
    // The answer's text, when the plan keeps it (shadow mode compares it).
    let text = (plan.capture_output_bytes > 0).then(|| AnswerText {
        text: std::mem::take(&mut step.scratch.text),
        max_bytes: plan.capture_output_bytes,
        over: false,
        fields: Vec::new(),
    });
    let reading = Reading {
        what,
        max_line_bytes: plan.max_line_bytes,
        text,
    };
    let gaps = &mut step.scratch.gaps;
    let mut read = read_stream(&mut body, reading, gaps, step.bounds, step.progress).await?;
    if let Some(t) = read.text.take() {
        step.scratch.text = t.text;
    }
    let (first, end) = read.first_and_end(what)?;
    if ep.reuse && !read.body_ended && !drain(&mut body, step.bounds).await {
        *step.slot = None;
    }
    let incl_from = if fresh { conn_start } else { send_start };
    Ok(StreamOutcome {
        ttft: first - send_start,
        ttft_incl_connect: first - incl_from,
        e2e: end - send_start,
        tokens: read.usage.unwrap_or(read.events),
        from_usage: read.usage.is_some(),
    })
}

/// The streaming request: this sample's body, the protocol's headers, the
/// plan's.
fn request(
    plan: &OpenAiPlan,
    conn: &HttpConn,
    request_id: &str,
) -> Result<http::Request<crate::conn::ReqBody>, Failure> {
    let ep = &plan.endpoint;
    let body = match &plan.body {
        BodySource::Fixed(b) => b.clone(),
        BodySource::FreshPrefix {
            model,
            prompt,
            max_tokens,
            bytes,
        } => request_body(model, Some(&random_text(*bytes)), prompt, *max_tokens),
    };
    let b = conn
        .request(&ep.target, Method::POST)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::ACCEPT, "text/event-stream")
        .header("x-request-id", request_id);
    build(b, &plan.headers, body, &ep.target.redacted)
}

/// A 2xx answer whose content type is `text/event-stream`.
pub(crate) fn event_stream_head(
    resp: &http::Response<Incoming>,
    what: &str,
) -> Result<(), Failure> {
    if let Some(f) = status_failure(resp.status(), resp.headers(), what) {
        return Err(f);
    }
    let ct = resp
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.to_ascii_lowercase().starts_with("text/event-stream") {
        return Err(Failure::new(
            ErrorKind::Protocol,
            format!("{what} answered with content-type {ct:?}, not text/event-stream"),
        ));
    }
    Ok(())
}

/// What reading a stream gathered.
#[derive(Debug, Default)]
pub(crate) struct StreamRead {
    /// Arrival of the first and the latest content event.
    pub(crate) first: Option<Instant>,
    last: Option<Instant>,
    /// Content events.
    pub(crate) events: u64,
    /// `usage.completion_tokens`, when the stream carried it.
    usage: Option<u64>,
    /// Some chunk had a `finish_reason`.
    pub(crate) finished: bool,
    /// Arrival of `data: [DONE]`.
    pub(crate) done_at: Option<Instant>,
    /// The first event that makes the sample a failure.
    bad: Option<Failure>,
    /// The body ended (rather than `[DONE]` being read).
    pub(crate) body_ended: bool,
    /// The answer's text, when the caller keeps it.
    pub(crate) text: Option<AnswerText>,
}

impl StreamRead {
    /// One dispatched event's data, in the frame that arrived at `t`.
    fn on_event(&mut self, data: &str, t: Instant, gaps: &mut Vec<Duration>, what: &str) {
        if self.bad.is_some() || self.done_at.is_some() {
            return;
        }
        if data == "[DONE]" {
            self.done_at = Some(t);
            return;
        }
        match parse_chunk(data, self.text.as_mut()) {
            Err(e) => {
                self.bad = Some(Failure::new(
                    ErrorKind::InvalidSse,
                    format!(
                        "an SSE event from {what} is not JSON ({e}): {}",
                        excerpt(data)
                    ),
                ));
            }
            Ok(info) if info.error => {
                self.bad = Some(Failure::new(
                    ErrorKind::Protocol,
                    format!("the stream from {what} carried an error: {}", excerpt(data)),
                ));
            }
            Ok(info) => {
                if info.content {
                    self.content(t, gaps);
                }
                self.finished |= info.finish;
                if info.completion_tokens.is_some() {
                    self.usage = info.completion_tokens;
                }
            }
        }
    }

    fn content(&mut self, t: Instant, gaps: &mut Vec<Duration>) {
        self.events += 1;
        match self.last {
            None => self.first = Some(t),
            Some(prev) => {
                if gaps.len() < MAX_GAPS {
                    gaps.push(t - prev);
                }
            }
        }
        self.last = Some(t);
    }

    /// The first content event and the stream's end, or why the stream
    /// does not count.
    pub(crate) fn first_and_end(&self, what: &str) -> Result<(Instant, Instant), Failure> {
        let end = match (self.done_at, self.body_ended && self.finished) {
            (Some(t), _) => t,
            (None, true) => Instant::now(),
            (None, false) => {
                return Err(Failure::new(
                    ErrorKind::StreamCut,
                    format!(
                        "the stream from {what} ended before [DONE] or a finish_reason, after {} content events",
                        self.events
                    ),
                ));
            }
        };
        let Some(first) = self.first else {
            return Err(Failure::new(
                ErrorKind::Protocol,
                format!("the stream from {what} finished without any content delta"),
            ));
        };
        Ok((first, end))
    }
}

/// What [`read_stream`] reads with.
pub(crate) struct Reading<'a> {
    /// The redacted target, for messages.
    pub what: &'a str,
    pub max_line_bytes: usize,
    /// Where the answer's text goes, when it is kept.
    pub text: Option<AnswerText>,
}

/// Read events until `[DONE]` or the body's end. Each wait for the next
/// event is bounded by the idle timeout and the request's deadline
/// ([`Bounds::next_event_by`]); bytes that complete no event do not move
/// the idle bound.
pub(crate) async fn read_stream(
    body: &mut Incoming,
    reading: Reading<'_>,
    gaps: &mut Vec<Duration>,
    bounds: &Bounds,
    progress: &Progress,
) -> Result<StreamRead, Failure> {
    let what = reading.what;
    let mut parser = SseParser::new(reading.max_line_bytes);
    let mut read = StreamRead {
        text: reading.text,
        ..StreamRead::default()
    };
    let mut last_progress = Instant::now();
    loop {
        let frame = match tokio::time::timeout_at(bounds.next_event_by(last_progress), body.frame())
            .await
        {
            Err(_) => return Err(bounds.stream_ran_out(progress, what)),
            Ok(None) => {
                read.body_ended = true;
                return Ok(read);
            }
            Ok(Some(Err(e))) => {
                return Err(Failure::new(
                    ErrorKind::StreamCut,
                    format!(
                        "the stream from {what} broke after {} content events: {e}",
                        read.events
                    ),
                ));
            }
            Ok(Some(Ok(f))) => f,
        };
        // One clock read per frame, attributed to every event in it.
        let t = Instant::now();
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let mut dispatched = 0u64;
        parser
            .feed(&data, |ev| {
                dispatched += 1;
                read.on_event(ev.data, t, gaps, what);
            })
            .map_err(|e| sse_failure(&e, what))?;
        if dispatched > 0 {
            last_progress = t;
            progress.add_events(dispatched);
        }
        if let Some(f) = read.bad.take() {
            return Err(f);
        }
        if read.done_at.is_some() {
            return Ok(read);
        }
    }
}

/// Read a finished stream's body to its end, so the connection can serve
/// the next request; false when it could not be (by the request's deadline).
pub(crate) async fn drain(body: &mut Incoming, bounds: &Bounds) -> bool {
    let drained = tokio::time::timeout_at(bounds.deadline(), async {
        while let Some(f) = body.frame().await {
            f?;
        }
        Ok::<_, hyper::Error>(())
    })
    .await;
    matches!(drained, Ok(Ok(())))
}

/// `bytes` of random words, different from the first word on (so no
/// prefix cache can match two of them).
pub(crate) fn random_text(bytes: usize) -> String {
    const WORDS: [&str; 16] = [
        "agent", "latency", "token", "stream", "vector", "memory", "cluster", "region", "policy",
        "replica", "prefix", "cache", "probe", "signal", "budget", "window",
    ];
    let seed = uuid::Uuid::new_v4().as_u128();
    let mut x = (seed as u64) ^ ((seed >> 64) as u64) | 1;
    let mut s = String::with_capacity(bytes + 16);
    s.push_str(&format!("{seed:032x} "));
    while s.len() < bytes {
        // xorshift64
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.push_str(WORDS[(x % 16) as usize]);
        s.push(' ');
    }
    s.truncate(bytes);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_delta_detection() {
        let c = |s: &str| classify_chunk(s).unwrap();
        assert!(!c(r#"{"choices":[{"index":0,"delta":{"role":"assistant"}}]}"#).content);
        assert!(
            !c(r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#).content
        );
        assert!(!c(r#"{"choices":[{"index":0,"delta":{"content":null}}]}"#).content);
        assert!(!c(r#"{"choices":[{"index":0,"delta":{"tool_calls":[]}}]}"#).content);
        assert!(!c(r#"{"choices":[]}"#).content);
        assert!(c(r#"{"choices":[{"index":0,"delta":{"content":"Hel"}}]}"#).content);
        assert!(c(r#"{"choices":[{"index":0,"delta":{"content":"\u00e9"}}]}"#).content);
        assert!(c(r#"{"choices":[{"delta":{"reasoning_content":"think"}}]}"#).content);
        assert!(
            c(r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"name":"f"}}]}}]}"#)
                .content
        );
        let fin = c(r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#);
        assert!(fin.finish && !fin.content);
        assert!(
            !c(r#"{"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}]}"#).finish
        );
        let u = c(r#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":17}}"#);
        assert_eq!(u.completion_tokens, Some(17));
        assert!(c(r#"{"error":{"message":"overloaded"}}"#).error);
        assert!(!c(r#"{"choices":[],"usage":null}"#).error);
        assert!(classify_chunk("{not json").is_err());
    }

    #[test]
    fn request_body_shape() {
        let b = request_body("m", Some("sys"), "hi", Some(16));
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["model"], "m");
        assert_eq!(v["stream"], true);
        assert_eq!(v["stream_options"]["include_usage"], true);
        assert_eq!(v["max_tokens"], 16);
        assert_eq!(v["messages"][0]["role"], "system");
        assert_eq!(v["messages"][1]["content"], "hi");
        let b = request_body("m", None, "hi", None);
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["messages"].as_array().unwrap().len(), 1);
        assert!(v.get("max_tokens").is_none());
    }

    #[test]
    fn kept_answer_text_joins_content_and_stops_at_its_bound() {
        let mut t = AnswerText {
            text: String::new(),
            max_bytes: 9,
            over: false,
            fields: Vec::new(),
        };
        for data in [
            r#"{"choices":[{"delta":{"role":"assistant"}}]}"#,
            r#"{"choices":[{"delta":{"content":"Hé"}}]}"#,
            r#"{"choices":[{"delta":{"reasoning_content":"x"}}]}"#,
            r#"{"choices":[{"delta":{"content":"llo"}}]}"#,
        ] {
            parse_chunk(data, Some(&mut t)).unwrap();
        }
        assert_eq!((t.text.as_str(), t.over), ("Héllo", false));
        // 6 bytes kept; " wörld" (7 bytes) would pass the 9-byte bound.
        parse_chunk(
            r#"{"choices":[{"delta":{"content":" wörld"}}]}"#,
            Some(&mut t),
        )
        .unwrap();
        assert_eq!((t.text.as_str(), t.over), ("Héllo", true));
        assert!(parse_chunk("{not json", Some(&mut t)).is_err());
    }

    #[test]
    fn top_level_fields_are_kept_once_and_bounded() {
        let mut t = AnswerText {
            max_bytes: 64,
            fields: vec![
                ("traceparent".into(), None),
                ("session_id".into(), None),
                ("absent".into(), None),
                ("huge".into(), None),
            ],
            ..AnswerText::default()
        };
        let huge = "x".repeat(MAX_ECHO_BYTES + 1);
        for data in [
            r#"{"choices":[{"delta":{"role":"assistant"}}],"traceparent":"00-aa-bb-01","session_id":7}"#.to_string(),
            format!(r#"{{"choices":[{{"delta":{{"content":"Hi"}}}}],"traceparent":"00-cc-dd-01","session_id":"s1","huge":"{huge}"}}"#),
        ] {
            parse_chunk(&data, Some(&mut t)).unwrap();
        }
        let got: Vec<Option<&str>> = t.fields.iter().map(|(_, v)| v.as_deref()).collect();
        // The first value wins; a non-string is not an echo; too long is kept empty.
        assert_eq!(got, [Some("00-aa-bb-01"), Some("s1"), None, Some("")]);
        assert_eq!(t.text, "Hi");
    }

    #[test]
    fn random_prefixes_differ_from_the_start() {
        let a = random_text(8192);
        let b = random_text(8192);
        assert_eq!(a.len(), 8192);
        assert_ne!(a[..16], b[..16]);
    }
}
