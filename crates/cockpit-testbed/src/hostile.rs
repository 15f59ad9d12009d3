//! Hostile servers: endpoints that misbehave on purpose, in the ways a
//! broken or malicious agent does, for the probe's tests (and anyone
//! checking that a client bounds what it reads and how long it waits).
//!
//! [`HostileHttp`] is a raw-TCP HTTP/1.1 server on a free `127.0.0.1` port:
//! it reads each request's head (at most 64 KiB), then answers as its
//! [`Behaviour`] says, on every connection, until the client goes away or
//! the server is dropped. [`HostileGrpc`] does the same for
//! `cockpit.agent.v1.AgentService` ([`GrpcBehaviour`]).
//!
//! ```
//! use cockpit_testbed::hostile::{Behaviour, HostileHttp};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let server = HostileHttp::start(Behaviour::Bom).await?;
//! let mut conn = tokio::net::TcpStream::connect(server.addr()).await?;
//! conn.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nhost: h\r\n\r\n").await?;
//! let mut answer = Vec::new();
//! conn.read_to_end(&mut answer).await?;
//! assert!(answer.windows(3).any(|w| w == b"\xEF\xBB\xBF"));
//! # Ok(())
//! # }
//! ```
//!
//! What it never does: bind anything but `127.0.0.1` or connect anywhere.
//! Dropping an [`HostileHttp`] ends its connections too; a
//! [`HostileGrpc`]'s streams end when their client goes away.

use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::Stream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tonic::{Request, Response, Status};

use crate::pb::agent_service_server::{AgentService, AgentServiceServer};
use crate::pb::{CompleteRequest, CompleteResponse, TokenChunk};

/// How the HTTP server answers every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Behaviour {
    /// A valid SSE stream of content tokens, one every 10 ms, that never
    /// sends `finish_reason` or `[DONE]`.
    EndlessTokens,
    /// `: keep-alive` comment lines, one every 50 ms, forever, after the
    /// head; no event at all.
    EndlessComments,
    /// One content token, then keep-alive comments forever.
    TokenThenComments,
    /// Events whose data is a chunk with no choices (`{"choices":[]}`),
    /// every 10 ms, forever: events, but never content.
    EndlessEmptyEvents,
    /// `data: xxxx…`: one SSE line that never ends, 64 bytes every 10 ms.
    EndlessLine,
    /// Reads the request and never answers.
    NoHead,
    /// The response head, one byte every 100 ms, never finished (an
    /// endless run of header lines).
    HeadDrip,
    /// The head, then a valid stream one byte every 100 ms, forever.
    Drip,
    /// A complete, valid stream of three tokens that starts with a UTF-8
    /// byte order mark.
    Bom,
    /// A plain `200` whose `content-length` promises 1 GiB, dripped one
    /// byte every 100 ms.
    EndlessBody,
}

impl Behaviour {
    /// Every behaviour, for tests that go through them all.
    pub const ALL: [Behaviour; 10] = [
        Behaviour::EndlessTokens,
        Behaviour::EndlessComments,
        Behaviour::TokenThenComments,
        Behaviour::EndlessEmptyEvents,
        Behaviour::EndlessLine,
        Behaviour::NoHead,
        Behaviour::HeadDrip,
        Behaviour::Drip,
        Behaviour::Bom,
        Behaviour::EndlessBody,
    ];
}

/// The most request-head bytes read before answering.
const MAX_REQUEST_HEAD: usize = 64 * 1024;

const SSE_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n";
const TOKEN: &[u8] = b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tok \"}}]}\n\n";
const EMPTY: &[u8] = b"data: {\"choices\":[]}\n\n";
const FINISH: &[u8] =
    b"data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n";
const DONE: &[u8] = b"data: [DONE]\n\n";

/// A misbehaving HTTP/1.1 server on `127.0.0.1`; stops when dropped.
#[derive(Debug)]
pub struct HostileHttp {
    addr: SocketAddr,
    connections: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl Drop for HostileHttp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HostileHttp {
    /// Listen on a free port of `127.0.0.1` and answer as `behaviour` says.
    pub async fn start(behaviour: Behaviour) -> std::io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let connections = Arc::new(AtomicU64::new(0));
        let count = connections.clone();
        let task = tokio::spawn(async move {
            // Connection tasks live in the set: aborting this task drops
            // the set, which aborts them all.
            let mut conns = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        count.fetch_add(1, Ordering::Relaxed);
                        conns.spawn(serve(stream, behaviour));
                    }
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
        });
        Ok(HostileHttp {
            addr,
            connections,
            task,
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/v1/chat/completions`.
    pub fn openai_url(&self) -> String {
        format!("http://{}/v1/chat/completions", self.addr)
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn base_url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }
}

/// Read one request head (bounded), then misbehave. I/O errors (the client
/// went away) end the connection.
async fn serve(mut stream: TcpStream, behaviour: Behaviour) {
    let _ = stream.set_nodelay(true);
    if read_head(&mut stream).await.is_err() {
        return;
    }
    let _ = answer(&mut stream, behaviour).await;
}

async fn read_head(stream: &mut TcpStream) -> std::io::Result<()> {
    let mut buf = vec![0u8; 4096];
    let mut seen = Vec::new();
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        seen.extend_from_slice(&buf[..n]);
        if seen.windows(4).any(|w| w == b"\r\n\r\n") {
            return Ok(());
        }
        if seen.len() > MAX_REQUEST_HEAD {
            return Err(std::io::ErrorKind::InvalidData.into());
        }
    }
}

async fn every(stream: &mut TcpStream, period: Duration, bytes: &[u8]) -> std::io::Result<()> {
    loop {
        stream.write_all(bytes).await?;
        tokio::time::sleep(period).await;
    }
}

async fn drip(stream: &mut TcpStream, bytes: &[u8]) -> std::io::Result<()> {
    for b in bytes {
        stream.write_all(std::slice::from_ref(b)).await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

async fn answer(stream: &mut TcpStream, behaviour: Behaviour) -> std::io::Result<()> {
    let ms = Duration::from_millis;
    match behaviour {
        Behaviour::NoHead => {
            // Hold the connection, reading (and dropping) whatever comes.
            let mut sink = [0u8; 1024];
            while stream.read(&mut sink).await? > 0 {}
            Ok(())
        }
        Behaviour::HeadDrip => {
            drip(
                stream,
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n",
            )
            .await?;
            loop {
                drip(stream, b"x-wait: 1\r\n").await?;
            }
        }
        Behaviour::EndlessBody => {
            stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1073741824\r\n\r\n")
                .await?;
            every(stream, ms(100), b"x").await
        }
        Behaviour::Bom => {
            stream.write_all(SSE_HEAD).await?;
            let mut body = b"\xEF\xBB\xBF".to_vec();
            for _ in 0..3 {
                body.extend_from_slice(TOKEN);
            }
            body.extend_from_slice(FINISH);
            body.extend_from_slice(DONE);
            stream.write_all(&body).await?;
            stream.shutdown().await
        }
        sse => {
            stream.write_all(SSE_HEAD).await?;
            endless_stream(stream, sse).await
        }
    }
}

async fn endless_stream(stream: &mut TcpStream, behaviour: Behaviour) -> std::io::Result<()> {
    let ms = Duration::from_millis;
    match behaviour {
        Behaviour::EndlessTokens => every(stream, ms(10), TOKEN).await,
        Behaviour::EndlessComments => every(stream, ms(50), b": keep-alive\n").await,
        Behaviour::TokenThenComments => {
            stream.write_all(TOKEN).await?;
            every(stream, ms(50), b": keep-alive\n\n").await
        }
        Behaviour::EndlessEmptyEvents => every(stream, ms(10), EMPTY).await,
        Behaviour::EndlessLine => {
            stream.write_all(b"data: ").await?;
            every(stream, ms(10), &[b'x'; 64]).await
        }
        _ => loop {
            drip(stream, TOKEN).await?;
        },
    }
}

/// How the gRPC server answers `cockpit.agent.v1.AgentService` calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GrpcBehaviour {
    /// `StreamComplete` sends a token every 10 ms and never its final
    /// message; `Complete` never answers.
    EndlessTokens,
    /// `StreamComplete` answers its headers, then sends nothing, ever.
    SilentStream,
    /// No call is ever answered, not even with headers.
    NoAnswer,
}

type TokenStream = Pin<Box<dyn Stream<Item = Result<TokenChunk, Status>> + Send + 'static>>;

#[derive(Debug, Clone, Copy)]
struct HostileAgent(GrpcBehaviour);

#[tonic::async_trait]
impl AgentService for HostileAgent {
    async fn complete(
        &self,
        _request: Request<CompleteRequest>,
    ) -> Result<Response<CompleteResponse>, Status> {
        std::future::pending().await
    }

    type StreamCompleteStream = TokenStream;

    async fn stream_complete(
        &self,
        _request: Request<CompleteRequest>,
    ) -> Result<Response<Self::StreamCompleteStream>, Status> {
        let stream: TokenStream = match self.0 {
            GrpcBehaviour::NoAnswer => std::future::pending().await,
            GrpcBehaviour::SilentStream => Box::pin(futures_util::stream::pending()),
            GrpcBehaviour::EndlessTokens => {
                Box::pin(futures_util::stream::unfold(0u32, |i| async move {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    let chunk = TokenChunk {
                        text: "tok ".into(),
                        index: i,
                        ..TokenChunk::default()
                    };
                    Some((Ok(chunk), i.wrapping_add(1)))
                }))
            }
        };
        Ok(Response::new(stream))
    }
}

/// A misbehaving gRPC agent on `127.0.0.1`; stops when dropped.
#[derive(Debug)]
pub struct HostileGrpc {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for HostileGrpc {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HostileGrpc {
    /// Listen on a free port of `127.0.0.1` and answer as `behaviour` says.
    pub async fn start(behaviour: GrpcBehaviour) -> std::io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        let router = tonic::transport::Server::builder()
            .add_service(AgentServiceServer::new(HostileAgent(behaviour)));
        let task = tokio::spawn(async move {
            if let Err(e) = router.serve_with_incoming(incoming).await {
                tracing::debug!("hostile gRPC server ended: {e}");
            }
        });
        Ok(HostileGrpc { addr, task })
    }

    /// `grpc://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("grpc://{}", self.addr)
    }
}
