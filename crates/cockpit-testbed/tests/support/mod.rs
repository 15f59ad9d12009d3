//! The test harness shared by the integration tests: a minimal HTTP/1.1
//! client on hyper that records when each body frame arrived, and SSE
//! parsing.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// A response whose body has not been read yet.
pub struct Pending {
    pub status: u16,
    pub headers: http::HeaderMap,
    /// When the request was handed to the connection.
    pub sent_at: Instant,
    body: Incoming,
}

/// A body read to its end (or to the error that ended it).
#[derive(Debug)]
pub struct Read {
    pub status: u16,
    pub headers: http::HeaderMap,
    /// Each data frame and when it arrived, relative to the request.
    pub frames: Vec<(Duration, Bytes)>,
    /// Set when the body ended with an error instead of cleanly.
    pub error: Option<String>,
}

impl Read {
    pub fn text(&self) -> String {
        let all: Vec<u8> = self.frames.iter().flat_map(|(_, b)| b.to_vec()).collect();
        String::from_utf8_lossy(&all).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.text()).expect("body is JSON")
    }
}

impl Pending {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The next data frame, `Ok(None)` at the clean end.
    pub async fn next_frame(&mut self) -> Result<Option<(Duration, Bytes)>, String> {
        loop {
            match self.body.frame().await {
                None => return Ok(None),
                Some(Err(e)) => return Err(e.to_string()),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        return Ok(Some((self.sent_at.elapsed(), data)));
                    }
                }
            }
        }
    }

    pub async fn read(mut self) -> Read {
        let mut frames = Vec::new();
        let error = loop {
            match self.next_frame().await {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => break None,
                Err(e) => break Some(e),
            }
        };
        Read {
            status: self.status,
            headers: self.headers,
            frames,
            error,
        }
    }
}

/// Sends one request on a new connection; returns once headers arrived.
pub async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Pending {
    let tcp = TcpStream::connect(addr).await.expect("connect to testbed");
    tcp.set_nodelay(true).expect("nodelay");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .expect("HTTP/1.1 handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    if !body.is_empty() {
        req = req.header("content-type", "application/json");
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("request");
    let sent_at = Instant::now();
    let resp = sender.send_request(req).await.expect("response headers");
    let (parts, body) = resp.into_parts();
    Pending {
        status: parts.status.as_u16(),
        headers: parts.headers,
        sent_at,
        body,
    }
}

/// Sends a request and reads the whole body.
pub async fn fetch(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Read {
    send(addr, method, path, headers, body).await.read().await
}

pub async fn get(addr: SocketAddr, path: &str) -> Read {
    fetch(addr, "GET", path, &[], "").await
}

/// A chat completion request body.
pub fn chat_body(stream: bool, include_usage: bool) -> String {
    serde_json::json!({
        "model": "testbed-1",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Say something."}
        ],
        "stream": stream,
        "stream_options": {"include_usage": include_usage},
    })
    .to_string()
}

/// One SSE event: the payload of its `data:` line and when it arrived.
#[derive(Debug, Clone)]
pub struct Event {
    pub at: Duration,
    pub data: String,
}

impl Event {
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.data).ok()
    }

    /// The content of a content delta, when this is one with text.
    pub fn content(&self) -> Option<String> {
        let v = self.json()?;
        let c = v["choices"][0]["delta"]["content"].as_str()?;
        (!c.is_empty()).then(|| c.to_owned())
    }
}

/// Splits frames into SSE events (`data:` lines separated by blank lines).
pub fn events(frames: &[(Duration, Bytes)]) -> Vec<Event> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for (at, bytes) in frames {
        pending.push_str(&String::from_utf8_lossy(bytes));
        while let Some(end) = pending.find("\n\n") {
            let block: String = pending.drain(..end + 2).collect();
            for line in block.lines() {
                if let Some(data) = line.strip_prefix("data: ") {
                    out.push(Event {
                        at: *at,
                        data: data.to_owned(),
                    });
                }
            }
        }
    }
    out
}
