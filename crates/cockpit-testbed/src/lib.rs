//! A deterministic reference AI agent for agentops-cockpit's tests, benches,
//! demo and `cargo xtask`.
//!
//! The testbed answers like a real agent service, with timings you set:
//! OpenAI-compatible chat completions (whole, or streamed as SSE with a set
//! time to first token and inter-token delay), the same answers over gRPC
//! (`cockpit.agent.v1.AgentService`, streaming and unary), a retrieval
//! endpoint, session memory, a cold-start delay, a prefix (KV) cache whose
//! misses cost prefill time, injected faults, and Prometheus metrics. It
//! also records the server-side truth of every request — when it arrived,
//! when its first and last tokens were handed to the transport — in a
//! [`StampLog`], so a client's measurements can be checked against it.
//!
//! ```
//! use cockpit_testbed::{Testbed, TestbedConfig};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let testbed = Testbed::start(TestbedConfig::default()).await?;
//! assert!(testbed.base_url().starts_with("http://127.0.0.1:"));
//!
//! let mut conn = tokio::net::TcpStream::connect(testbed.http_addr()).await?;
//! conn.write_all(b"GET /healthz HTTP/1.1\r\nhost: testbed\r\nconnection: close\r\n\r\n")
//!     .await?;
//! let mut response = String::new();
//! conn.read_to_string(&mut response).await?;
//! assert!(response.starts_with("HTTP/1.1 200"));
//! assert!(response.ends_with("ok"));
//!
//! testbed.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # HTTP routes
//!
//! | route | answer |
//! | --- | --- |
//! | `POST /v1/chat/completions` | OpenAI chat completion; with `"stream": true` an SSE stream: a role-only delta at once, the first content delta after the TTFT, one delta per token, a `finish_reason: "stop"` chunk, a usage chunk when `stream_options.include_usage`, then `data: [DONE]` |
//! | `GET /v1/models` | the configured model, OpenAI list shape |
//! | `POST /v1/retrieval/search` | `{query, top_k}` → `{hits: [{id, score, text}]}` after the retrieval latency |
//! | `GET /healthz` | `200 ok` |
//! | `GET /metrics` | `testbed_requests_total{route,code}`, the `testbed_time_to_first_token_seconds` histogram, and with a semantic cache its hits, misses and tokens-served counters |
//! | `GET /testbed/stamps/{request_id}` | the request's [`Stamp`], times in unix nanoseconds; 404 if unknown |
//! | `GET /testbed/sessions/{session_id}` | the session's turns |
//!
//! [`Testbed::pause_for`] stalls every HTTP route for a while (a
//! stop-the-world pause), for coordinated-omission tests of load generators.
//!
//! Request headers: `x-request-id` (echoed; generated when absent),
//! `x-session-id` (remember the exchange), and the per-request overrides
//! `x-testbed-fault` (a [`Fault`] name or `none`), `x-testbed-ttft-ms`,
//! `x-testbed-tokens`, `x-testbed-inter-token-ms`. Response headers:
//! `x-request-id`, `x-testbed-received-unix-ns`, and with a session
//! `x-session-turns` — the turns the session holds afterwards, user and
//! assistant (two per exchange). The first token of the k-th exchange of a
//! session is `turn{k} tok0 `, the others `tok{i} `, so a client can see
//! whether the conversation's memory survived.
//!
//! gRPC takes the same overrides and ids as metadata (the request id also
//! as the `request_id` field), answers `x-request-id`,
//! `x-testbed-received-unix-ns` and `x-session-turns` as response metadata,
//! maps `http500` and the error rate to UNAVAILABLE, ends a cut stream with
//! UNAVAILABLE, ignores the SSE-only faults, counts its calls in
//! `testbed_requests_total` with the method path as `route` and the numeric
//! gRPC status as `code`, and reports
//! `grpc.health.v1` SERVING for `""`, `cockpit.agent.v1.AgentService` and
//! `cockpit.agent.v1.RetrievalService`.
//!
//! # Hostile servers
//!
//! [`hostile`] holds servers that misbehave on purpose — streams that never
//! end or never progress, a response head that never comes, a body dripped
//! one byte at a time, a byte order mark, gRPC streams that never finish —
//! for tests of the clients' bounds.
//!
//! # What it never does
//!
//! It binds only the addresses it is given — [`Testbed::start`] binds
//! `127.0.0.1` on ephemeral ports — makes no outbound connection, and keeps
//! sessions in process memory unless handed another [`SessionStore`]. It
//! does not print; it emits `tracing` events. The first-token wait is timed
//! to well under a millisecond when few answers are in flight (it yields in
//! a loop for the last 2 ms); under load it falls back to tokio's
//! millisecond timer rather than steal CPU from the clients measuring it.

mod agent;
mod config;
mod grpc;
mod http;
mod memory;
mod metrics;
mod redis_sessions;
mod retrieval;
mod semantic_cache;
mod sessions;
mod stamps;

pub mod hostile;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::transport::server::TcpIncoming;

pub use config::{
    FAULT_HEADER, Fault, INTER_TOKEN_MS_HEADER, Leaky, SemanticCache, TOKENS_HEADER,
    TTFT_MS_HEADER, TestbedConfig, TraceEcho, UnknownFault,
};
pub use http::TRACEPARENT_HEADER;
pub use http::{
    RECEIVED_UNIX_NS_HEADER, REQUEST_ID_HEADER, SESSION_ID_HEADER, SESSION_TURNS_HEADER,
};
pub use memory::PLANT_MARKER;
pub use redis_sessions::RedisSessions;
pub use semantic_cache::{CACHE_HEADER, HITS_METRIC, MISSES_METRIC, TOKENS_METRIC};
pub use sessions::{InMemorySessions, SessionStore, Turn};
pub use stamps::{STAMP_CAPACITY, Stamp, StampLog};

use agent::Agent;

/// Generated gRPC code for `cockpit.agent.v1` (servers and clients).
pub mod pb {
    #![allow(
        missing_docs,
        missing_debug_implementations,
        clippy::all,
        clippy::pedantic
    )]
    tonic::include_proto!("cockpit.agent.v1");
}

/// How long [`Testbed::shutdown`] waits for connections to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// What went wrong starting a testbed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestbedError {
    /// The configuration cannot be served.
    #[error("invalid testbed configuration: {0}")]
    InvalidConfig(String),
    /// A listening socket could not be opened.
    #[error("cannot listen for {server} on {addr}: {source}")]
    Bind {
        /// `HTTP` or `gRPC`.
        server: &'static str,
        /// The address asked for.
        addr: SocketAddr,
        /// Why binding failed.
        #[source]
        source: std::io::Error,
    },
}

/// A running testbed: an HTTP server and a gRPC server sharing one agent.
///
/// Dropping it stops both servers in the background; [`Testbed::shutdown`]
/// stops them and waits (at most 2 s).
#[derive(Debug)]
pub struct Testbed {
    agent: Arc<Agent>,
    http_addr: SocketAddr,
    grpc_addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
    /// Duplicates of the listening sockets (HTTP, gRPC), kept so that
    /// [`Testbed::restart`] serves the same ports without ever closing
    /// them: connections made meanwhile wait in the accept queue.
    listeners: Option<(std::net::TcpListener, std::net::TcpListener)>,
}

impl Testbed {
    /// Starts the HTTP and gRPC servers on `127.0.0.1`, ephemeral ports.
    pub async fn start(config: TestbedConfig) -> Result<Testbed, TestbedError> {
        let any = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        Testbed::start_on(config, any, any).await
    }

    /// Starts the servers on the given addresses (port 0: ephemeral).
    pub async fn start_on(
        config: TestbedConfig,
        http: SocketAddr,
        grpc: SocketAddr,
    ) -> Result<Testbed, TestbedError> {
        Testbed::start_with_sessions(config, http, grpc, Arc::new(InMemorySessions::new())).await
    }

    /// Starts the servers keeping session turns in `sessions`.
    pub async fn start_with_sessions(
        config: TestbedConfig,
        http: SocketAddr,
        grpc: SocketAddr,
        sessions: Arc<dyn SessionStore>,
    ) -> Result<Testbed, TestbedError> {
        config.validate().map_err(TestbedError::InvalidConfig)?;
        // Bound, then split in two: one kept, one served.
        let bind = |server: &'static str, addr: SocketAddr| async move {
            let listener = TcpListener::bind(addr).await;
            listener
                .and_then(TcpListener::into_std)
                .and_then(|l| l.try_clone().map(|c| (l, c)))
                .map_err(|source| TestbedError::Bind {
                    server,
                    addr,
                    source,
                })
        };
        let (http_kept, http_serving) = bind("HTTP", http).await?;
        let (grpc_kept, grpc_serving) = bind("gRPC", grpc).await?;
        let mut tb = Testbed::serve(config, (http_serving, grpc_serving), sessions).await?;
        tb.listeners = Some((http_kept, grpc_kept));
        Ok(tb)
    }

    /// Serves an agent of `config` on (copies of) listening sockets.
    async fn serve(
        config: TestbedConfig,
        (http, grpc): (std::net::TcpListener, std::net::TcpListener),
        sessions: Arc<dyn SessionStore>,
    ) -> Result<Testbed, TestbedError> {
        let tokio_listener = |l: std::net::TcpListener, server: &'static str| {
            let addr = l.local_addr();
            l.set_nonblocking(true)
                .and_then(|()| Ok((TcpListener::from_std(l)?, addr?)))
                .map_err(|source| TestbedError::Bind {
                    server,
                    addr: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
                    source,
                })
        };
        let (http_listener, http_addr) = tokio_listener(http, "HTTP")?;
        let (grpc_listener, grpc_addr) = tokio_listener(grpc, "gRPC")?;
        let agent = Arc::new(Agent::new(config, sessions));

        let http_listener = http_listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!("cannot set TCP_NODELAY: {e}");
            }
        });
        let router = http::router(agent.clone());
        let stop = agent.shutdown.clone().cancelled_owned();
        let http_task = tokio::spawn(async move {
            if let Err(e) = axum::serve(http_listener, router)
                .with_graceful_shutdown(stop)
                .await
            {
                tracing::error!("testbed HTTP server failed: {e}");
            }
        });

        let (health, health_service) = tonic_health::server::health_reporter();
        health
            .set_serving::<pb::agent_service_server::AgentServiceServer<grpc::AgentGrpc>>()
            .await;
        health
            .set_serving::<pb::retrieval_service_server::RetrievalServiceServer<grpc::RetrievalGrpc>>()
            .await;
        let incoming = TcpIncoming::from(grpc_listener).with_nodelay(Some(true));
        let grpc_router = tonic::transport::Server::builder()
            .add_service(health_service)
            .add_service(pb::agent_service_server::AgentServiceServer::new(
                grpc::AgentGrpc(agent.clone()),
            ))
            .add_service(pb::retrieval_service_server::RetrievalServiceServer::new(
                grpc::RetrievalGrpc(agent.clone()),
            ));
        let stop = agent.shutdown.clone().cancelled_owned();
        let grpc_task = tokio::spawn(async move {
            if let Err(e) = grpc_router
                .serve_with_incoming_shutdown(incoming, stop)
                .await
            {
                tracing::error!("testbed gRPC server failed: {e}");
            }
        });

        tracing::info!(%http_addr, %grpc_addr, "testbed listening");
        Ok(Testbed {
            agent,
            http_addr,
            grpc_addr,
            tasks: vec![http_task, grpc_task],
            listeners: None,
        })
    }

    /// Where the HTTP server listens.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// Where the gRPC server listens.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    /// `http://HOST:PORT` of the HTTP server.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// The OpenAI chat completions URL.
    pub fn openai_url(&self) -> String {
        format!("{}/v1/chat/completions", self.base_url())
    }

    /// `grpc://HOST:PORT` of the gRPC server.
    pub fn grpc_url(&self) -> String {
        format!("grpc://{}", self.grpc_addr)
    }

    /// The configuration being served.
    pub fn config(&self) -> &TestbedConfig {
        &self.agent.config
    }

    /// Server-side timing of recent requests.
    pub fn stamps(&self) -> &StampLog {
        &self.agent.stamps
    }

    /// The session memory.
    pub fn sessions(&self) -> &dyn SessionStore {
        &*self.agent.sessions
    }

    /// Stalls the whole HTTP server for `d` from now: every HTTP request
    /// that arrives (or is waiting to be read) during the pause is held
    /// until it ends, then answered as usual — a stop-the-world pause, for
    /// testing that a load generator sees it (coordinated omission). gRPC is
    /// not paused. A later call replaces the pause.
    pub fn pause_for(&self, d: Duration) {
        let until = tokio::time::Instant::now() + d.min(config::MAX_OVERRIDE_DELAY);
        *self
            .agent
            .paused_until
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(until);
    }

    /// Changes the time to first token of every later completion (HTTP and
    /// gRPC) while the testbed runs, `None` back to the configured one; a
    /// request's `x-testbed-ttft-ms` still overrides it. For an agent whose
    /// latency changes over time (a flapping agent in a dashboard demo, an
    /// alert that must fire and resolve in a test).
    pub fn set_ttft(&self, ttft: Option<Duration>) {
        *self
            .agent
            .ttft_override
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = ttft.map(|d| d.min(config::MAX_OVERRIDE_DELAY));
    }

    /// Restarts the agent as a process restart would: both servers stop
    /// (pending answers end, connections close, as in
    /// [`Testbed::shutdown`]), then listen again on the same addresses with
    /// a fresh agent of the same configuration — cold again, its prefix
    /// cache, stamps and metrics empty, and its sessions those its store
    /// keeps across a restart ([`SessionStore::restarted`]): none from
    /// process memory, all from Redis. The listening sockets stay open (as
    /// with socket activation): answers in flight are cut, and connections
    /// made meanwhile wait in the accept queue for the new agent.
    pub async fn restart(mut self) -> Result<Testbed, TestbedError> {
        let config = self.agent.config.clone();
        let sessions = self.agent.sessions.clone().restarted();
        let (http, grpc) = self.listeners.take().ok_or_else(|| {
            TestbedError::InvalidConfig(
                "a testbed without its listening sockets cannot restart".into(),
            )
        })?;
        let copy = |l: &std::net::TcpListener, server: &'static str, addr: SocketAddr| {
            l.try_clone().map_err(|source| TestbedError::Bind {
                server,
                addr,
                source,
            })
        };
        let serving = (
            copy(&http, "HTTP", self.http_addr)?,
            copy(&grpc, "gRPC", self.grpc_addr)?,
        );
        self.shutdown().await;
        let mut tb = Testbed::serve(config, serving, sessions).await?;
        tb.listeners = Some((http, grpc));
        Ok(tb)
    }

    /// Stops accepting, ends stalled and pending answers, and waits at most
    /// 2 s for connections to close before abandoning them. Returns `true`
    /// when every connection closed by itself, `false` when some had to be
    /// abandoned (an answer that ignored the shutdown).
    pub async fn shutdown(mut self) -> bool {
        self.agent.shutdown.cancel();
        let tasks = std::mem::take(&mut self.tasks);
        let aborts: Vec<_> = tasks.iter().map(JoinHandle::abort_handle).collect();
        let all = futures_util::future::join_all(tasks);
        if tokio::time::timeout(SHUTDOWN_GRACE, all).await.is_err() {
            tracing::warn!(
                "testbed connections still open after {SHUTDOWN_GRACE:?}; abandoning them"
            );
            for a in aborts {
                a.abort();
            }
            return false;
        }
        true
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        self.agent.shutdown.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn urls_name_the_bound_ports() {
        let tb = Testbed::start(TestbedConfig::default()).await.unwrap();
        assert_ne!(tb.http_addr().port(), 0);
        assert_ne!(tb.grpc_addr().port(), tb.http_addr().port());
        assert_eq!(
            tb.base_url(),
            format!("http://127.0.0.1:{}", tb.http_addr().port())
        );
        assert_eq!(
            tb.openai_url(),
            format!("{}/v1/chat/completions", tb.base_url())
        );
        assert_eq!(
            tb.grpc_url(),
            format!("grpc://127.0.0.1:{}", tb.grpc_addr().port())
        );
        assert!(tb.stamps().is_empty());
        tb.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stalled_answers_end_when_the_client_goes_away() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let tb = Testbed::start(TestbedConfig {
            ttft: Duration::from_millis(1),
            ..TestbedConfig::default()
        })
        .await
        .unwrap();
        for protocol in ["HTTP/1.1", "HTTP/1.0"] {
            let mut conn = tokio::net::TcpStream::connect(tb.http_addr())
                .await
                .unwrap();
            let body = r#"{"messages":[{"role":"user","content":"hi"}],"stream":true}"#;
            let request = format!(
                "POST /v1/chat/completions {protocol}\r\nhost: t\r\nx-testbed-fault: stall\r\n\
                 content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            conn.write_all(request.as_bytes()).await.unwrap();
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            while !String::from_utf8_lossy(&seen).contains("tok0") {
                let n = conn.read(&mut buf).await.unwrap();
                assert!(n > 0, "closed before the first token");
                seen.extend_from_slice(&buf[..n]);
            }
            assert_eq!(tb.agent.in_flight(), 1);
            drop(conn);
            let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
            while tb.agent.in_flight() > 0 && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert_eq!(
                tb.agent.in_flight(),
                0,
                "{protocol}: the stall outlived its client"
            );
        }
        tb.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_restart_keeps_the_addresses_and_loses_process_memory() {
        let tb = Testbed::start(TestbedConfig::default()).await.unwrap();
        let (http, grpc) = (tb.http_addr(), tb.grpc_addr());
        tb.sessions().append("s", Turn::new("user", "remember: x"));
        let tb = tb.restart().await.unwrap();
        assert_eq!((tb.http_addr(), tb.grpc_addr()), (http, grpc));
        assert!(tb.sessions().turns("s").is_empty());
        let conn = tokio::net::TcpStream::connect(http).await;
        assert!(conn.is_ok(), "not listening again: {conn:?}");
        tb.shutdown().await;
    }

    #[tokio::test]
    async fn rejects_invalid_config_and_taken_ports() {
        let bad = TestbedConfig {
            error_rate: 2.0,
            ..TestbedConfig::default()
        };
        assert!(matches!(
            Testbed::start(bad).await,
            Err(TestbedError::InvalidConfig(_))
        ));
        let tb = Testbed::start(TestbedConfig::default()).await.unwrap();
        let any = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let err = Testbed::start_on(TestbedConfig::default(), tb.http_addr(), any)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("HTTP"), "{err}");
        tb.shutdown().await;
    }
}
