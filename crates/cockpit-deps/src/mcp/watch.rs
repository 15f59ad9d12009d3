//! What a stdio server wrote on its stdout, watched on the way to the SDK:
//! every byte counted against a session bound, every line checked for
//! being a JSON-RPC 2.0 message. The SDK (rmcp) drops a line that is not
//! JSON without a word, so a server writing garbage would only look slow;
//! the watch turns it into its own kind of failure.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

/// The longest line (one JSON-RPC message) kept, for the SDK and for the
/// watch alike; a longer one is dropped and counted.
pub const MAX_LINE_BYTES: usize = 4 << 20;
/// The most a session reads from a server's stdout; past it the pipe reads
/// as failed and the session ends.
pub const MAX_SESSION_BYTES: u64 = 64 << 20;
/// How much of a bad line a finding quotes.
const SAMPLE_CHARS: usize = 80;

/// What the pipe saw, shared between the reader and the session.
#[derive(Debug, Default)]
pub struct PipeWatch {
    invalid_lines: AtomicU64,
    oversized_lines: AtomicU64,
    over_session_bound: AtomicBool,
    first_invalid: Mutex<Option<String>>,
}

impl PipeWatch {
    pub fn invalid_lines(&self) -> u64 {
        self.invalid_lines.load(Ordering::Relaxed)
    }

    pub fn oversized_lines(&self) -> u64 {
        self.oversized_lines.load(Ordering::Relaxed)
    }

    pub fn over_session_bound(&self) -> bool {
        self.over_session_bound.load(Ordering::Relaxed)
    }

    /// The first line that was not JSON-RPC, cut short and with control
    /// characters escaped.
    pub fn first_invalid(&self) -> Option<String> {
        self.first_invalid.lock().ok().and_then(|g| g.clone())
    }

    fn judge(&self, line: &[u8]) {
        let line = line.trim_ascii();
        if line.is_empty() || is_json_rpc(line) {
            return;
        }
        self.invalid_lines.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut first) = self.first_invalid.lock()
            && first.is_none()
        {
            let text = String::from_utf8_lossy(line);
            let mut cut: String = text.chars().take(SAMPLE_CHARS).collect();
            if text.chars().count() > SAMPLE_CHARS {
                cut.push('…');
            }
            *first = Some(cut.escape_default().to_string());
        }
    }
}

/// A JSON-RPC 2.0 message (or a batch of them): an object with
/// `"jsonrpc": "2.0"`.
pub fn is_json_rpc(line: &[u8]) -> bool {
    fn one(v: &serde_json::Value) -> bool {
        v.get("jsonrpc").and_then(|j| j.as_str()) == Some("2.0")
    }
    match serde_json::from_slice::<serde_json::Value>(line) {
        Ok(serde_json::Value::Array(items)) => !items.is_empty() && items.iter().all(one),
        Ok(v) => one(&v),
        Err(_) => false,
    }
}

/// An `AsyncRead` passing bytes through unchanged while it watches them.
#[derive(Debug)]
pub struct WatchedRead<R> {
    inner: R,
    watch: Arc<PipeWatch>,
    line: Vec<u8>,
    line_over: bool,
    total: u64,
}

impl<R> WatchedRead<R> {
    pub fn new(inner: R, watch: Arc<PipeWatch>) -> Self {
        WatchedRead {
            inner,
            watch,
            line: Vec::new(),
            line_over: false,
            total: 0,
        }
    }

    fn observe(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let end = bytes.iter().position(|b| *b == b'\n');
            let take = end.unwrap_or(bytes.len());
            if !self.line_over {
                if self.line.len() + take > MAX_LINE_BYTES {
                    self.line_over = true;
                    self.line = Vec::new();
                } else {
                    self.line.extend_from_slice(&bytes[..take]);
                }
            }
            let Some(end) = end else { return };
            if self.line_over {
                self.watch.oversized_lines.fetch_add(1, Ordering::Relaxed);
            } else {
                self.watch.judge(&self.line);
            }
            self.line.clear();
            self.line_over = false;
            bytes = &bytes[end + 1..];
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for WatchedRead<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.total >= MAX_SESSION_BYTES {
            this.watch.over_session_bound.store(true, Ordering::Relaxed);
            return Poll::Ready(Err(io::Error::other(format!(
                "stdout over {MAX_SESSION_BYTES} bytes in one session"
            ))));
        }
        // The bound is checked before each read, so a session reads at
        // most one buffer (the SDK's 8 KiB) past it.
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let new = &buf.filled()[before..];
                this.total += new.len() as u64;
                this.observe(new);
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[test]
    fn json_rpc_or_not() {
        assert!(is_json_rpc(br#"{"jsonrpc":"2.0","id":1,"result":{}}"#));
        assert!(is_json_rpc(br#"[{"jsonrpc":"2.0","method":"x"}]"#));
        assert!(!is_json_rpc(br#"{"id":1,"result":{}}"#));
        assert!(!is_json_rpc(b"Server started on stdio"));
        assert!(!is_json_rpc(b"[]"));
    }

    #[tokio::test]
    async fn bad_lines_are_counted_however_the_bytes_are_split() {
        let text = b"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\nhello \x07world\n\n{\"id\":2}\n";
        for chunk in [1, 3, 7, text.len()] {
            let (mut w, r) = tokio::io::duplex(chunk);
            let watch = Arc::new(PipeWatch::default());
            let mut reader = WatchedRead::new(r, watch.clone());
            let writer = tokio::spawn(async move {
                use tokio::io::AsyncWriteExt;
                for piece in text.chunks(chunk) {
                    w.write_all(piece).await.unwrap();
                }
            });
            let mut out = Vec::new();
            reader.read_to_end(&mut out).await.unwrap();
            writer.await.unwrap();
            assert_eq!(out, text, "bytes pass through unchanged");
            assert_eq!(watch.invalid_lines(), 2);
            assert_eq!(watch.first_invalid().as_deref(), Some("hello \\u{7}world"));
        }
    }

    #[tokio::test]
    async fn an_endless_line_is_dropped_not_kept() {
        let watch = Arc::new(PipeWatch::default());
        let mut big = vec![b'x'; MAX_LINE_BYTES + 10];
        big.push(b'\n');
        let mut reader = WatchedRead::new(&big[..], watch.clone());
        let mut sink = Vec::new();
        reader.read_to_end(&mut sink).await.unwrap();
        assert_eq!(watch.oversized_lines(), 1);
        assert_eq!(watch.invalid_lines(), 0);
        assert!(reader.line.capacity() <= MAX_LINE_BYTES);
    }
}
