use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method};
use tokio_util::sync::CancellationToken;

/// Which HTTP version a probe speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpVersion {
    /// ALPN (`h2`, then `http/1.1`) on TLS; HTTP/1.1 on cleartext.
    #[default]
    Auto,
    /// HTTP/1.1 only.
    Http1,
    /// HTTP/2 only: ALPN `h2` on TLS, prior knowledge (h2c) on cleartext.
    Http2,
}

/// How server certificates are checked. The default verifies against the
/// system's root certificates: TLS is verified unless told otherwise.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// Trust the certificates in this PEM file (in addition to none: when set,
    /// the system roots are not used).
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate. Measures the handshake but proves nothing about
    /// the server's identity; reports should say so.
    pub insecure_skip_verify: bool,
}

/// What to send, how often, and how long to wait.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// Measured samples to take (after the warm-up).
    pub samples: u32,
    /// Concurrent workers, each with its own connection(s).
    pub concurrency: u32,
    /// Samples taken first and excluded from the distributions.
    pub warmup: u32,
    /// Per-request bound: on each connection phase and on the response head;
    /// for a stream, also on each gap between body frames (a longer gap is a
    /// `stall`).
    pub timeout: Duration,
    /// Bound on the whole run; a run stopped by it reports `interrupted`.
    pub deadline: Duration,
    /// Longest SSE line (and SSE event data) accepted.
    pub max_line_bytes: usize,
    pub http_version: HttpVersion,
    pub tls: TlsOptions,
    /// The `model` sent to an OpenAI-compatible endpoint; `"default"` when unset.
    pub model: Option<String>,
    /// The user turn sent to an OpenAI-compatible or gRPC agent.
    pub prompt: String,
    pub system_prompt: Option<String>,
    pub max_tokens: Option<u32>,
    /// HTTP probe: the request method.
    pub method: Method,
    /// HTTP probe: the request body, sent with `content_type`.
    pub body: Option<Bytes>,
    pub content_type: Option<HeaderValue>,
    /// Extra request headers, sent on every request.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Stops the run; what was measured is returned with `interrupted: true`.
    pub cancel: CancellationToken,
    /// Keep one connection per worker instead of a new one per sample.
    pub reuse_connection: bool,
    /// Keep a [`SampleRecord`](crate::SampleRecord) per request (at most
    /// [`MAX_SAMPLE_RECORDS`](crate::MAX_SAMPLE_RECORDS)).
    pub record_samples: bool,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions {
            samples: 20,
            concurrency: 1,
            warmup: 1,
            timeout: Duration::from_secs(30),
            deadline: Duration::from_secs(120),
            max_line_bytes: 1 << 20,
            http_version: HttpVersion::Auto,
            tls: TlsOptions::default(),
            model: None,
            prompt: "Reply with a short greeting.".to_string(),
            system_prompt: None,
            max_tokens: None,
            method: Method::GET,
            body: None,
            content_type: None,
            headers: Vec::new(),
            cancel: CancellationToken::new(),
            reuse_connection: false,
            record_samples: false,
        }
    }
}

impl ProbeOptions {
    pub(crate) fn validate(&self) -> Result<(), crate::ProbeError> {
        let bad = |name, reason: &str| {
            Err(crate::ProbeError::InvalidOption {
                name,
                reason: reason.to_string(),
            })
        };
        if self.samples == 0 {
            return bad("samples", "must be at least 1");
        }
        if self.concurrency == 0 {
            return bad("concurrency", "must be at least 1");
        }
        if self.timeout.is_zero() {
            return bad("timeout", "must be more than zero");
        }
        if self.max_line_bytes == 0 {
            return bad("max_line_bytes", "must be more than zero");
        }
        Ok(())
    }

    pub(crate) fn model_name(&self) -> &str {
        self.model.as_deref().unwrap_or("default")
    }
}
