//! One conversation's exchanges with an OpenAI-compatible agent: send the
//! messages, get the answer's text, its time to first token and end-to-end
//! time, the response headers, or the kind of failure — under the same
//! bounds ([`crate::bounds`]) and the same stream reader as the streaming
//! probe. For callers that judge what an agent *says* (the simulation's
//! canary recall), not only how fast.
//!
//! ```no_run
//! use cockpit_probe::chat::{ChatClient, ChatConn, ChatMessage};
//! use cockpit_probe::ProbeOptions;
//!
//! # async fn demo() -> Result<(), cockpit_probe::ProbeError> {
//! let client = ChatClient::new("http://127.0.0.1:8080/v1", &ProbeOptions::default())?;
//! let mut conn = ChatConn::default();
//! let answer = client
//!     .send(&mut conn, &[ChatMessage::user("Hello?")], &[])
//!     .await;
//! match &answer.failure {
//!     None => println!("{} (TTFT {:?})", answer.text, answer.ttft),
//!     Some(f) => println!("{}: {}", f.kind, f.message),
//! }
//! # Ok(()) }
//! ```

use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderName, HeaderValue, Method};

use crate::bounds::{Bounds, Progress, Stage};
use crate::conn::{Failure, HttpConn};
use crate::http::{Endpoint, build, open_or_reuse, response_head};
use crate::openai::{AnswerText, Reading, drain, event_stream_head, messages_body, read_stream};
use crate::report::ErrorKind;
use crate::target::parse_target;
use crate::{ProbeError, ProbeOptions, Protocol};

/// The longest answer text kept by default; the rest is dropped and the
/// answer marked [`ChatAnswer::text_over_bound`].
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    /// A `user` message.
    pub fn user(content: impl Into<String>) -> Self {
        ChatMessage {
            role: "user".to_string(),
            content: content.into(),
        }
    }

    /// An `assistant` message.
    pub fn assistant(content: impl Into<String>) -> Self {
        ChatMessage {
            role: "assistant".to_string(),
            content: content.into(),
        }
    }
}

/// Why an exchange failed: the kind, as the probes count it, and a message
/// naming the (redacted) target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatFailure {
    pub kind: ErrorKind,
    pub message: String,
}

/// What one exchange gave.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ChatAnswer {
    /// The concatenated `delta.content` of the stream (at most the client's
    /// answer bound); empty when the stream finished without content.
    pub text: String,
    /// The text went past the answer bound; what is past it was dropped.
    pub text_over_bound: bool,
    /// From the request write to the first content event; `None` when no
    /// content came.
    pub ttft: Option<Duration>,
    /// From the request write to the stream's end; `None` on failure.
    pub e2e: Option<Duration>,
    /// The response headers (bounded by the HTTP client's header limits);
    /// empty when no response head came.
    pub headers: HeaderMap,
    /// Set when the exchange failed (the text then holds what came before).
    pub failure: Option<ChatFailure>,
    /// The top-level string fields asked for with
    /// [`ChatClient::keep_fields`], as `(name, first value seen)`; a value
    /// past 512 bytes is kept empty.
    pub fields: Vec<(String, Option<String>)>,
}

impl ChatAnswer {
    /// The kept value of the top-level field `name`, if the stream had it.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }
}

/// The connection one conversation keeps between its exchanges.
#[derive(Debug, Default)]
pub struct ChatConn {
    slot: Option<HttpConn>,
    gaps: Vec<Duration>,
}

/// A client of one OpenAI-compatible chat-completions endpoint.
#[derive(Debug)]
pub struct ChatClient {
    endpoint: Endpoint,
    model: String,
    max_tokens: Option<u32>,
    max_line_bytes: usize,
    max_answer_bytes: usize,
    headers: Vec<(HeaderName, HeaderValue)>,
    fields: Vec<String>,
}

impl ChatClient {
    /// A client of `url` (normalised as the OpenAI probe does: a base
    /// ending in `/v1` gets `/chat/completions`), with `opts`' model,
    /// `max_tokens`, headers, TLS, HTTP version, `timeout` (the whole
    /// exchange), `idle_timeout` and `max_line_bytes`. Connections are kept
    /// between a conversation's exchanges.
    pub fn new(url: &str, opts: &ProbeOptions) -> Result<Self, ProbeError> {
        opts.validate()?;
        let target = parse_target(url, Protocol::OpenAi)?;
        let mut endpoint = crate::endpoint(target, opts)?;
        endpoint.reuse = true;
        Ok(ChatClient {
            endpoint,
            model: opts.model_name().to_string(),
            max_tokens: opts.max_tokens,
            max_line_bytes: opts.max_line_bytes,
            max_answer_bytes: MAX_ANSWER_BYTES,
            headers: opts.headers.clone(),
            fields: Vec::new(),
        })
    }

    /// Also keep these top-level string fields of the answer's chunks (an
    /// agent that echoes its trace context in the body) in
    /// [`ChatAnswer::fields`].
    pub fn keep_fields(mut self, names: impl IntoIterator<Item = String>) -> Self {
        self.fields = names.into_iter().collect();
        self
    }

    /// The target, credentials redacted.
    pub fn target(&self) -> &str {
        &self.endpoint.target.redacted
    }

    /// Send `messages` (streamed: `stream: true`) with the client's headers
    /// and `extra`, and read the answer within the client's bounds. Never
    /// fails as a `Result`: a failure is in [`ChatAnswer::failure`].
    pub async fn send(
        &self,
        conn: &mut ChatConn,
        messages: &[ChatMessage],
        extra: &[(HeaderName, HeaderValue)],
    ) -> ChatAnswer {
        let ep = &self.endpoint;
        let bounds = Bounds::starting_now(ep.timeout, ep.idle);
        let progress = Progress::default();
        let mut answer = ChatAnswer::default();
        let exchange = self.exchange(conn, messages, extra, &bounds, &progress, &mut answer);
        if let Err(f) = bounds.within(&progress, self.target(), exchange).await {
            conn.slot = None;
            answer.failure = Some(ChatFailure {
                kind: f.kind,
                message: f.message,
            });
        }
        answer
    }

    async fn exchange(
        &self,
        conn: &mut ChatConn,
        messages: &[ChatMessage],
        extra: &[(HeaderName, HeaderValue)],
        bounds: &Bounds,
        progress: &Progress,
        answer: &mut ChatAnswer,
    ) -> Result<(), Failure> {
        let ep = &self.endpoint;
        let what = ep.target.redacted.as_str();
        let (http, _) = open_or_reuse(&mut conn.slot, ep).await?;
        let req = self.request(http, messages, extra)?;
        let send_start = Instant::now();
        let resp = response_head(http, req, progress, what).await?;
        answer.headers = resp.headers().clone();
        event_stream_head(&resp, what)?;
        progress.at(Stage::Stream);
        let mut body = resp.into_body();
        let reading = Reading {
            what,
            max_line_bytes: self.max_line_bytes,
            text: Some(AnswerText {
                max_bytes: self.max_answer_bytes,
                fields: self.fields.iter().map(|n| (n.clone(), None)).collect(),
                ..AnswerText::default()
            }),
        };
        conn.gaps.clear();
        let mut read = read_stream(&mut body, reading, &mut conn.gaps, bounds, progress).await;
        if let Ok(r) = &mut read
            && let Some(t) = r.text.take()
        {
            answer.text = t.text;
            answer.text_over_bound = t.over;
            answer.fields = t.fields;
        }
        let read = read?;
        let finished = read.done_at.is_some() || (read.body_ended && read.finished);
        if !finished || read.first.is_some() {
            // An unfinished stream, or one with content: the probe's rules.
            let (first, end) = read.first_and_end(what)?;
            answer.ttft = Some(first - send_start);
            answer.e2e = Some(end - send_start);
        } else {
            // Finished without content: an empty answer, not a failure.
            answer.e2e = Some(read.done_at.unwrap_or_else(Instant::now) - send_start);
        }
        if !read.body_ended && !drain(&mut body, bounds).await {
            conn.slot = None;
        }
        Ok(())
    }

    fn request(
        &self,
        conn: &HttpConn,
        messages: &[ChatMessage],
        extra: &[(HeaderName, HeaderValue)],
    ) -> Result<http::Request<crate::conn::ReqBody>, Failure> {
        let ep = &self.endpoint;
        let json = messages
            .iter()
            .map(|m| serde_json::json!({"role": m.role, "content": m.content}))
            .collect();
        let body = messages_body(&self.model, json, self.max_tokens);
        let request_id = uuid::Uuid::new_v4().hyphenated().to_string();
        let mut b = conn
            .request(&ep.target, Method::POST)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::ACCEPT, "text/event-stream")
            .header("x-request-id", request_id);
        for (k, v) in extra {
            b = b.header(k, v);
        }
        build(b, &self.headers, body, &ep.target.redacted)
    }
}
