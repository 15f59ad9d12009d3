//! The lean HTTP/1.1 client of the load engine's hot path (cleartext
//! `--protocol http`): the request is built once as bytes, each connection
//! owns one read buffer, responses are parsed with `httparse`, and the
//! socket is driven through tokio's `AsyncFd` so that a complete response
//! costs one `write` and one `read` system call (readiness is cleared by
//! hand once a response is complete, instead of by a `read` that returns
//! `EAGAIN`). No allocation per request.

use std::io::ErrorKind as IoKind;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::{Duration, Instant};

use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio::time::Sleep;

use crate::conn::{Failure, tcp_connect};
use crate::report::ErrorKind;
use crate::target::Target;

/// Read buffer per connection; grows (up to [`MAX_HEAD`]) only for a
/// response head larger than this.
const BUF: usize = 16 * 1024;
/// The largest response head accepted.
const MAX_HEAD: usize = 256 * 1024;
const MAX_HEADERS: usize = 64;

/// The request, serialised once for the whole run.
#[derive(Debug, Clone)]
pub(crate) struct Http1Request {
    pub bytes: Vec<u8>,
    pub head: bool,
}

impl Http1Request {
    pub fn build(
        target: &Target,
        method: &http::Method,
        headers: &[(http::HeaderName, http::HeaderValue)],
        content_type: Option<&http::HeaderValue>,
        body: &[u8],
    ) -> Self {
        let mut b = Vec::with_capacity(128 + body.len());
        b.extend_from_slice(method.as_str().as_bytes());
        b.push(b' ');
        b.extend_from_slice(target.path_and_query.as_bytes());
        b.extend_from_slice(b" HTTP/1.1\r\nhost: ");
        b.extend_from_slice(target.authority.as_bytes());
        b.extend_from_slice(b"\r\n");
        if let Some(ct) = content_type {
            b.extend_from_slice(b"content-type: ");
            b.extend_from_slice(ct.as_bytes());
            b.extend_from_slice(b"\r\n");
        }
        for (k, v) in headers {
            b.extend_from_slice(k.as_str().as_bytes());
            b.extend_from_slice(b": ");
            b.extend_from_slice(v.as_bytes());
            b.extend_from_slice(b"\r\n");
        }
        if !body.is_empty() || !matches!(*method, http::Method::GET | http::Method::HEAD) {
            b.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
        }
        b.extend_from_slice(b"\r\n");
        b.extend_from_slice(body);
        Http1Request {
            bytes: b,
            head: *method == http::Method::HEAD,
        }
    }
}

/// A per-request timeout that touches the timer wheel rarely: the sleep is
/// re-armed only when it fires before the current request's deadline.
pub(crate) struct LazyTimer {
    sleep: Pin<Box<Sleep>>,
    deadline: Instant,
}

impl std::fmt::Debug for LazyTimer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LazyTimer")
    }
}

impl LazyTimer {
    pub fn new() -> Self {
        let now = Instant::now();
        LazyTimer {
            sleep: Box::pin(tokio::time::sleep_until(tokio::time::Instant::from_std(
                now,
            ))),
            deadline: now,
        }
    }

    /// The current request must end by `deadline`.
    #[inline]
    pub fn set(&mut self, deadline: Instant) {
        self.deadline = deadline;
    }

    /// Resolves when the current deadline has passed.
    pub async fn expired(&mut self) {
        loop {
            self.sleep.as_mut().await;
            if Instant::now() >= self.deadline {
                return;
            }
            let d = tokio::time::Instant::from_std(self.deadline);
            self.sleep.as_mut().reset(d);
        }
    }
}

/// What one response was.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Answer {
    pub status: u16,
    /// Bytes read for this response (head and body).
    pub bytes: u64,
    /// The server will close the connection after it.
    pub close: bool,
}

/// A kept-alive HTTP/1.1 connection.
pub(crate) struct Http1Conn {
    fd: TcpStream,
    buf: Vec<u8>,
}

impl std::fmt::Debug for Http1Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Http1Conn")
    }
}

#[derive(Debug, Clone, Copy)]
enum Body {
    None,
    Length(u64),
    Chunked(Chunked),
    UntilClose,
}

fn io_failure(e: &std::io::Error, what: &str, during: &str) -> Failure {
    Failure::new(ErrorKind::StreamCut, format!("{during} {what} failed: {e}"))
}

fn timeout_failure(phase: &str, what: &str) -> Failure {
    Failure::new(
        ErrorKind::Timeout,
        format!("{phase} {what} did not complete within the timeout"),
    )
}

/// A parsed response head.
#[derive(Debug)]
struct Head {
    status: u16,
    /// The head's length.
    len: usize,
    /// Bytes read with it (head and the start of the body).
    read: usize,
    body: Body,
    /// The server will close the connection after this response.
    close: bool,
}

/// Parse a response head from `buf`; `None` while it is incomplete.
fn parse_head(buf: &[u8], bodiless_request: bool, what: &str) -> Result<Option<Head>, Failure> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(h)) => h,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => {
            return Err(Failure::new(
                ErrorKind::Protocol,
                format!("{what} sent an invalid response head: {e}"),
            ));
        }
    };
    let status = resp.code.unwrap_or(0);
    let mut close = resp.version == Some(0);
    let mut length = None;
    let mut chunked = false;
    for hd in resp.headers.iter() {
        if hd.name.eq_ignore_ascii_case("content-length") {
            length = std::str::from_utf8(hd.value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok());
            if length.is_none() {
                return Err(Failure::new(
                    ErrorKind::Protocol,
                    format!("{what} sent a bad content-length"),
                ));
            }
        } else if hd.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = hd
                .value
                .windows(7)
                .any(|w| w.eq_ignore_ascii_case(b"chunked"));
        } else if hd.name.eq_ignore_ascii_case("connection") {
            if hd.value.eq_ignore_ascii_case(b"close") {
                close = true;
            } else if hd.value.eq_ignore_ascii_case(b"keep-alive") {
                close = false;
            }
        }
    }
    let body = if bodiless_request || status == 204 || status == 304 || (100..200).contains(&status)
    {
        Body::None
    } else if chunked {
        Body::Chunked(Chunked::default())
    } else if let Some(l) = length {
        Body::Length(l)
    } else {
        close = true;
        Body::UntilClose
    };
    Ok(Some(Head {
        status,
        len,
        read: 0,
        body,
        close,
    }))
}

impl Http1Conn {
    pub async fn connect(
        addrs: &[SocketAddr],
        timeout: Duration,
        what: &str,
    ) -> Result<Self, Failure> {
        let fd = tcp_connect(addrs, timeout, what).await?;
        Ok(Http1Conn {
            fd,
            buf: vec![0; BUF],
        })
    }

    /// Send the request and read the whole response, by `timer`'s deadline.
    pub async fn round_trip(
        &mut self,
        req: &Http1Request,
        timer: &mut LazyTimer,
        what: &str,
    ) -> Result<Answer, Failure> {
        self.write_request(req, timer, what).await?;
        let head = self.read_head(req.head, timer, what).await?;
        let body_bytes = self.read_body(&head, timer, what).await?;
        Ok(Answer {
            status: head.status,
            bytes: head.read as u64 + body_bytes,
            close: head.close,
        })
    }

    /// Write the request (one system call unless the socket buffer is full).
    async fn write_request(
        &mut self,
        req: &Http1Request,
        timer: &mut LazyTimer,
        what: &str,
    ) -> Result<(), Failure> {
        let mut off = 0;
        while off < req.bytes.len() {
            match self.fd.try_write(&req.bytes[off..]) {
                Ok(0) => {
                    return Err(Failure::new(
                        ErrorKind::StreamCut,
                        format!("{what} closed the connection"),
                    ));
                }
                Ok(n) => off += n,
                Err(e) if e.kind() == IoKind::WouldBlock => {
                    tokio::select! {
                        biased;
                        g = self.fd.writable() => if let Err(e) = g {
                            return Err(io_failure(&e, what, "writing to"));
                        },
                        () = timer.expired() => {
                            return Err(timeout_failure("writing the request to", what));
                        }
                    }
                }
                Err(e) if e.kind() == IoKind::Interrupted => {}
                Err(e) => return Err(io_failure(&e, what, "writing to")),
            }
        }
        Ok(())
    }

    /// Read until the response head is complete (growing the buffer up to
    /// [`MAX_HEAD`]); the head, and how many bytes were read with it.
    async fn read_head(
        &mut self,
        bodiless_request: bool,
        timer: &mut LazyTimer,
        what: &str,
    ) -> Result<Head, Failure> {
        let mut len = 0usize;
        loop {
            let n = self.read_some(len, timer, what).await?;
            if n == 0 {
                return Err(Failure::new(
                    if len == 0 {
                        ErrorKind::StreamCut
                    } else {
                        ErrorKind::Protocol
                    },
                    format!("{what} closed the connection before a complete response head"),
                ));
            }
            len += n;
            if let Some(mut head) = parse_head(&self.buf[..len], bodiless_request, what)? {
                head.read = len;
                return Ok(head);
            }
            if len == self.buf.len() {
                if self.buf.len() >= MAX_HEAD {
                    return Err(Failure::new(
                        ErrorKind::Protocol,
                        format!("{what} sent a response head over {MAX_HEAD} bytes"),
                    ));
                }
                self.buf.resize(self.buf.len() * 2, 0);
            }
        }
    }

    /// Read (and discard) the body `head` announces; the bytes read after
    /// those that came with the head.
    async fn read_body(
        &mut self,
        head: &Head,
        timer: &mut LazyTimer,
        what: &str,
    ) -> Result<u64, Failure> {
        // Body bytes that arrived with the head.
        let have = head.read - head.len;
        match head.body {
            Body::None if have > 0 => Err(Failure::new(
                ErrorKind::Protocol,
                format!("{what} sent bytes after a bodiless response"),
            )),
            Body::None => Ok(0),
            Body::Length(left) => self.read_length(left, have, timer, what).await,
            Body::Chunked(c) => self.read_chunked(c, head.len, have, timer, what).await,
            Body::UntilClose => {
                let mut total = 0u64;
                loop {
                    let n = self.read_some(0, timer, what).await?;
                    if n == 0 {
                        return Ok(total);
                    }
                    total += n as u64;
                }
            }
        }
    }

    /// A `content-length` body of `left` bytes, `have` of them in the buffer.
    async fn read_length(
        &mut self,
        mut left: u64,
        mut have: usize,
        timer: &mut LazyTimer,
        what: &str,
    ) -> Result<u64, Failure> {
        let mut total = 0u64;
        loop {
            if (have as u64) > left {
                return Err(Failure::new(
                    ErrorKind::Protocol,
                    format!("{what} sent more bytes than its content-length"),
                ));
            }
            left -= have as u64;
            if left == 0 {
                return Ok(total);
            }
            have = self.read_more(timer, what).await?;
            total += have as u64;
        }
    }

    /// A chunked body whose first `have` bytes are in the buffer at `start`.
    async fn read_chunked(
        &mut self,
        mut c: Chunked,
        mut start: usize,
        mut have: usize,
        timer: &mut LazyTimer,
        what: &str,
    ) -> Result<u64, Failure> {
        let mut total = 0u64;
        loop {
            match c.feed(&self.buf[start..start + have]) {
                Err(()) => {
                    return Err(Failure::new(
                        ErrorKind::Protocol,
                        format!("{what} sent invalid chunked encoding"),
                    ));
                }
                Ok(Some(used)) if used != have => {
                    return Err(Failure::new(
                        ErrorKind::Protocol,
                        format!("{what} sent bytes after the last chunk"),
                    ));
                }
                Ok(Some(_)) => return Ok(total),
                Ok(None) => {}
            }
            have = self.read_more(timer, what).await?;
            total += have as u64;
            start = 0;
        }
    }

    /// One more read of body bytes into the buffer's start; the end of the
    /// connection here is a cut body.
    async fn read_more(&mut self, timer: &mut LazyTimer, what: &str) -> Result<usize, Failure> {
        let n = self.read_some(0, timer, what).await?;
        if n == 0 {
            return Err(Failure::new(
                ErrorKind::StreamCut,
                format!("{what} closed the connection mid-body"),
            ));
        }
        Ok(n)
    }

    /// One `read` into `buf[at..]`, waiting for readiness when there is
    /// nothing yet. After a read the readiness is cleared: a complete
    /// response leaves nothing behind it (no pipelining), so the next
    /// request's read waits for the next readiness event instead of
    /// spending a system call on `EAGAIN`.
    async fn read_some(
        &mut self,
        at: usize,
        timer: &mut LazyTimer,
        what: &str,
    ) -> Result<usize, Failure> {
        loop {
            tokio::select! {
                biased;
                g = self.fd.readable() => g.map_err(|e| io_failure(&e, what, "reading from"))?,
                () = timer.expired() => return Err(timeout_failure("the response from", what)),
            }
            match self.fd.try_read(&mut self.buf[at..]) {
                Ok(n) => {
                    if n > 0 && at + n < self.buf.len() {
                        // Short read: the socket is drained. Clear the cached
                        // readiness without a system call.
                        let _ = self.fd.try_io(Interest::READABLE, || {
                            Err::<(), _>(std::io::Error::from(IoKind::WouldBlock))
                        });
                    }
                    return Ok(n);
                }
                Err(e) if e.kind() == IoKind::WouldBlock => {}
                Err(e) if e.kind() == IoKind::Interrupted => {}
                Err(e) => return Err(io_failure(&e, what, "reading from")),
            }
        }
    }
}

/// An incremental `Transfer-Encoding: chunked` scanner: it only finds where
/// the body ends.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Chunked {
    state: ChunkState,
    size: u64,
    /// Whether the current size line had a digit.
    digits: bool,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    #[default]
    Size,
    Ext,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    /// After the last chunk: trailer lines until an empty one.
    TrailerStart,
    TrailerLine,
    TrailerLf,
    EndLf,
}

impl Chunked {
    /// One byte of a chunk-size line.
    fn size_byte(&mut self, b: u8) -> Result<(), ()> {
        match b {
            b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                let d = u64::from((b as char).to_digit(16).ok_or(())?);
                self.size = self
                    .size
                    .checked_mul(16)
                    .and_then(|s| s.checked_add(d))
                    .ok_or(())?;
                self.digits = true;
            }
            b';' | b' ' | b'\t' if self.digits => self.state = ChunkState::Ext,
            b'\r' if self.digits => self.state = ChunkState::SizeLf,
            _ => return Err(()),
        }
        Ok(())
    }

    /// Feed bytes; `Ok(Some(n))` when the body ended after `n` of them.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Option<usize>, ()> {
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            match self.state {
                ChunkState::Size => self.size_byte(b)?,
                ChunkState::Ext => {
                    if b == b'\r' {
                        self.state = ChunkState::SizeLf;
                    }
                }
                ChunkState::SizeLf => {
                    if b != b'\n' {
                        return Err(());
                    }
                    self.digits = false;
                    self.state = if self.size == 0 {
                        ChunkState::TrailerStart
                    } else {
                        ChunkState::Data
                    };
                }
                ChunkState::Data => {
                    let take = ((bytes.len() - i) as u64).min(self.size);
                    self.size -= take;
                    i += take as usize;
                    if self.size == 0 {
                        self.state = ChunkState::DataCr;
                    }
                    continue;
                }
                ChunkState::DataCr => {
                    if b != b'\r' {
                        return Err(());
                    }
                    self.state = ChunkState::DataLf;
                }
                ChunkState::DataLf => {
                    if b != b'\n' {
                        return Err(());
                    }
                    self.state = ChunkState::Size;
                }
                ChunkState::TrailerStart => {
                    self.state = if b == b'\r' {
                        ChunkState::EndLf
                    } else {
                        ChunkState::TrailerLine
                    };
                }
                ChunkState::TrailerLine => {
                    if b == b'\r' {
                        self.state = ChunkState::TrailerLf;
                    }
                }
                ChunkState::TrailerLf => {
                    if b != b'\n' {
                        return Err(());
                    }
                    self.state = ChunkState::TrailerStart;
                }
                ChunkState::EndLf => {
                    if b != b'\n' {
                        return Err(());
                    }
                    return Ok(Some(i + 1));
                }
            }
            i += 1;
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_end_is_found_across_splits() {
        let body = b"5\r\nhello\r\n1a;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nx-t: 1\r\n\r\n";
        for split in 0..body.len() {
            let mut c = Chunked::default();
            let first = c.feed(&body[..split]).unwrap();
            assert_eq!(first, None, "split {split}");
            let end = c.feed(&body[split..]).unwrap();
            assert_eq!(end, Some(body.len() - split), "split {split}");
        }
        let mut c = Chunked::default();
        assert_eq!(c.feed(b"0\r\n\r\nEXTRA").unwrap(), Some(5));
        assert!(Chunked::default().feed(b"zz\r\n").is_err());
        assert!(Chunked::default().feed(b"2\r\nabX").is_err());
    }

    #[test]
    fn request_bytes() {
        let t =
            crate::target::parse_target("http://127.0.0.1:8080/healthz?x=1", crate::Protocol::Http)
                .unwrap();
        let r = Http1Request::build(&t, &http::Method::GET, &[], None, b"");
        assert_eq!(
            String::from_utf8(r.bytes).unwrap(),
            "GET /healthz?x=1 HTTP/1.1\r\nhost: 127.0.0.1:8080\r\n\r\n"
        );
        let ct = http::HeaderValue::from_static("application/json");
        let r = Http1Request::build(&t, &http::Method::POST, &[], Some(&ct), b"{}");
        let s = String::from_utf8(r.bytes).unwrap();
        assert!(
            s.ends_with("content-type: application/json\r\ncontent-length: 2\r\n\r\n{}"),
            "{s}"
        );
    }
}
