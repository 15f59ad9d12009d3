//! The MCP hub: one session per `[[mcp]]` server through the official Rust
//! SDK (rmcp) — `initialize`, then `tools/list` (every page, for the tool
//! count) and `samples` rounds of `ping` and `tools/list`, each call timed
//! into a [`Distribution`] and bounded by the entry's timeout.
//!
//! The SDK speaks the protocol; this module bounds it. Every call runs
//! under `tokio::time::timeout` (the SDK has no default), and the session
//! ends at the first call that times out or finds the connection closed
//! (a server that stopped answering is not asked `samples` more times). A
//! stdio server's stdout is read through [`watch::WatchedRead`] (a session
//! byte bound, lines checked for JSON-RPC, which the SDK skips silently)
//! and the SDK's own line bound; a Streamable HTTP server's answers are
//! read under the SDK's JSON and SSE size bounds and reqwest's timeouts.

mod http;
mod stdio;
pub mod watch;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cockpit_core::Distribution;
use rmcp::model::{
    ClientRequest, ListToolsRequest, PaginatedRequestParams, PingRequest, ServerResult,
};
use rmcp::service::{Peer, RoleClient, ServiceError};
use rmcp::transport::IntoTransport;
use tokio_util::sync::CancellationToken;

use crate::{McpServerConfig, McpTransport};

/// Pages of `tools/list` followed for the tool count, at most.
const MAX_TOOL_PAGES: usize = 100;

/// Why a call to an MCP server failed, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum McpFailure {
    /// The stdio server could not be started (no such program).
    Spawn,
    /// The stdio server exited.
    Exited,
    /// The connection (pipe, HTTP stream) closed.
    Closed,
    /// No answer within the timeout.
    Timeout,
    /// The server wrote something that is not JSON-RPC 2.0.
    InvalidJsonRpc,
    /// The server wrote past a read bound (a message or the session's bytes).
    OverBound,
    /// The server answered with a JSON-RPC error.
    ServerError,
    /// An HTTP-level failure (connect, status, content type).
    Transport,
    /// A well-formed answer that does not fit the request.
    Protocol,
}

impl McpFailure {
    /// The name used in measurements (`errors_timeout`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            McpFailure::Spawn => "spawn",
            McpFailure::Exited => "exited",
            McpFailure::Closed => "closed",
            McpFailure::Timeout => "timeout",
            McpFailure::InvalidJsonRpc => "invalid_json_rpc",
            McpFailure::OverBound => "over_bound",
            McpFailure::ServerError => "server_error",
            McpFailure::Transport => "transport",
            McpFailure::Protocol => "protocol",
        }
    }

    /// Whether the session can go on after it.
    fn ends_session(self) -> bool {
        !matches!(self, McpFailure::ServerError | McpFailure::Protocol)
    }
}

/// What one session with one MCP server measured: the data the MCP-*
/// checks judge and Mission Control's MCP hub panel shows.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct McpSnapshot {
    pub name: String,
    /// The redacted URL, or `stdio:PROGRAM`.
    pub shown: String,
    pub transport: McpTransport,
    /// `ping` / `tools/list` rounds asked for.
    pub samples: u32,
    /// The bound on each call.
    pub timeout: Duration,
    /// Time to a completed `initialize` handshake (for stdio, from the
    /// process start).
    pub initialize: Option<Duration>,
    /// The protocol revision the server agreed to (`2025-06-18`).
    pub protocol_version: Option<String>,
    pub server_name: Option<String>,
    pub server_version: Option<String>,
    /// The server declares the `tools` capability.
    pub declares_tools: bool,
    /// Tools listed, over every page.
    pub tool_count: Option<usize>,
    pub ping: Distribution,
    pub tools_list: Distribution,
    /// Calls made (`initialize` included).
    pub calls: u64,
    /// Failed calls by kind.
    pub errors: BTreeMap<McpFailure, u64>,
    /// The first failure, in words.
    pub first_error: Option<String>,
    /// Why the session ended before every round was made.
    pub stopped: Option<String>,
    pub interrupted: bool,
}

impl McpSnapshot {
    /// Nothing measured yet.
    pub fn new(cfg: &McpServerConfig) -> Self {
        McpSnapshot {
            name: cfg.name.clone(),
            shown: cfg.shown(),
            transport: cfg.transport(),
            samples: cfg.samples,
            timeout: cfg.timeout(),
            initialize: None,
            protocol_version: None,
            server_name: None,
            server_version: None,
            declares_tools: false,
            tool_count: None,
            ping: Distribution::new(),
            tools_list: Distribution::new(),
            calls: 0,
            errors: BTreeMap::new(),
            first_error: None,
            stopped: None,
            interrupted: false,
        }
    }

    /// Failed calls, all kinds.
    pub fn failed(&self) -> u64 {
        self.errors.values().sum()
    }

    /// The `initialize` handshake completed.
    pub fn reached(&self) -> bool {
        self.initialize.is_some()
    }

    pub(crate) fn record_failure(&mut self, kind: McpFailure, message: String) {
        *self.errors.entry(kind).or_default() += 1;
        if self.first_error.is_none() {
            self.first_error = Some(format!("{}: {message}", kind.as_str().replace('_', " ")));
        }
        if kind.ends_session() && self.stopped.is_none() {
            self.stopped = Some(message);
        }
    }
}

/// A failure as the SDK or the clock reported it, before the transport
/// explains it.
#[derive(Debug)]
pub(crate) enum Raw {
    Timeout(Duration),
    Closed(String),
    Server(String),
    Transport(String),
    Protocol(String),
    Cancelled,
}

impl Raw {
    fn from_service(e: ServiceError) -> Raw {
        match e {
            ServiceError::McpError(data) => {
                Raw::Server(format!("{} ({})", data.message, data.code.0))
            }
            ServiceError::TransportClosed => Raw::Closed("the connection closed".into()),
            ServiceError::TransportSend(e) => Raw::Transport(e.to_string()),
            ServiceError::Cancelled { .. } => Raw::Cancelled,
            ServiceError::Timeout { timeout } => Raw::Timeout(timeout),
            other => Raw::Protocol(other.to_string()),
        }
    }

    fn from_init(e: rmcp::service::ClientInitializeError) -> Raw {
        use rmcp::service::ClientInitializeError as E;
        match e {
            E::ConnectionClosed(s) => Raw::Closed(format!("the connection closed ({s})")),
            E::TransportError { error, context } => Raw::Transport(format!("{context}: {error}")),
            E::JsonRpcError(data) => Raw::Server(format!("{} ({})", data.message, data.code.0)),
            E::Cancelled => Raw::Cancelled,
            other => Raw::Protocol(other.to_string()),
        }
    }

    /// The kind and words, when the transport has nothing to add.
    pub(crate) fn classify(self) -> (McpFailure, String) {
        match self {
            Raw::Timeout(t) => (
                McpFailure::Timeout,
                format!("no answer within {} ms", t.as_millis()),
            ),
            Raw::Closed(s) => (McpFailure::Closed, s),
            Raw::Server(s) => (McpFailure::ServerError, s),
            Raw::Transport(s) => (McpFailure::Transport, s),
            Raw::Protocol(s) => (McpFailure::Protocol, s),
            Raw::Cancelled => (McpFailure::Closed, "cancelled".into()),
        }
    }
}

/// What a transport knows about a failure that the SDK does not (the
/// stdio server exited, wrote garbage, …).
pub(crate) trait Diagnose {
    async fn diagnose(&mut self, raw: Raw) -> (McpFailure, String);
}

/// The Streamable HTTP transport adds nothing to the SDK's words.
pub(crate) struct Plain;

impl Diagnose for Plain {
    async fn diagnose(&mut self, raw: Raw) -> (McpFailure, String) {
        raw.classify()
    }
}

/// One session with one server: never longer than about
/// `(1 + 2 × samples + pages) × timeout`, never after `cancel`.
#[tracing::instrument(name = "mcp_session", skip_all, fields(target = %cfg.shown(), check_id = "MCP-HEALTH"))]
pub async fn measure(cfg: &McpServerConfig, cancel: &CancellationToken) -> McpSnapshot {
    let mut snap = McpSnapshot::new(cfg);
    match cfg.transport() {
        McpTransport::Stdio => match stdio::spawn(cfg) {
            Ok((transport, mut process)) => {
                session(transport, &mut snap, &mut process, cancel).await;
                let _ = process.stop().await;
            }
            Err(e) => {
                snap.calls = 1;
                snap.record_failure(McpFailure::Spawn, e);
            }
        },
        McpTransport::StreamableHttp => match http::transport(cfg) {
            Ok(transport) => session(transport, &mut snap, &mut Plain, cancel).await,
            Err(e) => {
                snap.calls = 1;
                snap.record_failure(McpFailure::Transport, e);
            }
        },
    }
    snap.interrupted |= cancel.is_cancelled();
    snap
}

async fn session<T, E, A, D>(
    transport: T,
    snap: &mut McpSnapshot,
    diag: &mut D,
    cancel: &CancellationToken,
) where
    T: IntoTransport<RoleClient, E, A>,
    E: std::error::Error + Send + Sync + 'static,
    D: Diagnose,
{
    use rmcp::ServiceExt as _;
    snap.calls += 1;
    let started = Instant::now();
    let init = tokio::select! {
        biased;
        _ = cancel.cancelled() => Err(Raw::Cancelled),
        r = tokio::time::timeout(snap.timeout, ().serve(transport)) => match r {
            Err(_) => Err(Raw::Timeout(snap.timeout)),
            Ok(r) => r.map_err(Raw::from_init),
        },
    };
    let running = match init {
        Ok(r) => r,
        Err(raw) => return fail(snap, diag, raw).await,
    };
    snap.initialize = Some(started.elapsed());
    if let Some(info) = running.peer_info() {
        snap.protocol_version = Some(info.protocol_version.to_string());
        snap.declares_tools = info.capabilities.tools.is_some();
        if let Some(s) = &info.server_info {
            snap.server_name = Some(s.name.clone());
            snap.server_version = Some(s.version.clone());
        }
    }
    let peer = running.peer().clone();
    rounds(&peer, snap, diag, cancel).await;
    // Closes the transport (a stdio server's stdin); bounded all the same.
    let _ = tokio::time::timeout(Duration::from_secs(2), running.cancel()).await;
}

/// The tool count, then `samples` rounds of `ping` and `tools/list`.
async fn rounds<D: Diagnose>(
    peer: &Peer<RoleClient>,
    snap: &mut McpSnapshot,
    diag: &mut D,
    cancel: &CancellationToken,
) {
    if !count_tools(peer, snap, diag, cancel).await {
        return;
    }
    for _ in 0..snap.samples {
        for request in [ping(), list_tools(None)] {
            let is_ping = matches!(request, ClientRequest::PingRequest(_));
            match call(peer, request, snap, cancel).await {
                Ok((ServerResult::EmptyResult(_), took)) if is_ping => snap.ping.record(took),
                Ok((ServerResult::ListToolsResult(_), took)) if !is_ping => {
                    snap.tools_list.record(took)
                }
                Ok((other, _)) => {
                    let raw = Raw::Protocol(format!("unexpected answer: {}", kind_of(&other)));
                    fail(snap, diag, raw).await
                }
                Err(raw) => fail(snap, diag, raw).await,
            }
            if snap.stopped.is_some() || snap.interrupted {
                return;
            }
        }
    }
}

/// Every page of `tools/list`; the first page's time is a sample. Returns
/// whether the session goes on.
async fn count_tools<D: Diagnose>(
    peer: &Peer<RoleClient>,
    snap: &mut McpSnapshot,
    diag: &mut D,
    cancel: &CancellationToken,
) -> bool {
    let mut cursor = None;
    let mut count = 0usize;
    for page in 0..MAX_TOOL_PAGES {
        match call(peer, list_tools(cursor.take()), snap, cancel).await {
            Ok((ServerResult::ListToolsResult(r), took)) => {
                if page == 0 {
                    snap.tools_list.record(took);
                }
                count += r.tools.len();
                match r.next_cursor {
                    Some(c) if !c.is_empty() => cursor = Some(c),
                    _ => break,
                }
            }
            Ok((other, _)) => {
                let raw = Raw::Protocol(format!(
                    "unexpected answer to tools/list: {}",
                    kind_of(&other)
                ));
                fail(snap, diag, raw).await;
                return snap.stopped.is_none() && !snap.interrupted;
            }
            Err(raw) => {
                fail(snap, diag, raw).await;
                return snap.stopped.is_none() && !snap.interrupted;
            }
        }
    }
    snap.tool_count = Some(count);
    true
}

async fn fail<D: Diagnose>(snap: &mut McpSnapshot, diag: &mut D, raw: Raw) {
    if matches!(raw, Raw::Cancelled) {
        snap.interrupted = true;
        return;
    }
    let (kind, message) = diag.diagnose(raw).await;
    snap.record_failure(kind, message);
}

/// One request under the timeout; its answer and how long it took
/// (client-side, from handing the request to the SDK to its answer).
async fn call(
    peer: &Peer<RoleClient>,
    request: ClientRequest,
    snap: &mut McpSnapshot,
    cancel: &CancellationToken,
) -> Result<(ServerResult, Duration), Raw> {
    snap.calls += 1;
    let started = Instant::now();
    tokio::select! {
        biased;
        _ = cancel.cancelled() => Err(Raw::Cancelled),
        r = tokio::time::timeout(snap.timeout, peer.send_request(request)) => match r {
            Err(_) => Err(Raw::Timeout(snap.timeout)),
            Ok(Ok(answer)) => Ok((answer, started.elapsed())),
            Ok(Err(e)) => Err(Raw::from_service(e)),
        },
    }
}

fn ping() -> ClientRequest {
    ClientRequest::PingRequest(PingRequest {
        method: Default::default(),
        extensions: Default::default(),
    })
}

/// A raw `tools/list` (the SDK's `list_tools` may answer from its cache,
/// even a stale one after a failure: a health check must not).
fn list_tools(cursor: Option<String>) -> ClientRequest {
    ClientRequest::ListToolsRequest(ListToolsRequest {
        method: Default::default(),
        params: cursor.map(|c| PaginatedRequestParams::default().with_cursor(Some(c))),
        extensions: Default::default(),
    })
}

fn kind_of(r: &ServerResult) -> String {
    let json = serde_json::to_string(r).unwrap_or_default();
    json.chars().take(80).collect()
}
