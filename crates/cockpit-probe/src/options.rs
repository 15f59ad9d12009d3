use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method};
use tokio_util::sync::CancellationToken;

/// The longest per-request bound ([`ProbeOptions::timeout`],
/// [`ProbeOptions::idle_timeout`]): one day.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
/// The longest run deadline ([`ProbeOptions::deadline`]): a week.
pub const MAX_DEADLINE: Duration = Duration::from_secs(7 * 24 * 3600);

/// A duration given in seconds (a config file's `timeout_s`, a flag's
/// value), checked: finite, more than zero and at most `max`. Never panics,
/// whatever the number (`1e300`, NaN, negative).
///
/// ```
/// use std::time::Duration;
/// use cockpit_probe::seconds;
/// assert_eq!(seconds(1.5, Duration::from_secs(10)), Ok(Duration::from_millis(1500)));
/// assert!(seconds(1e300, Duration::from_secs(10)).is_err());
/// assert!(seconds(f64::NAN, Duration::from_secs(10)).is_err());
/// assert!(seconds(0.0, Duration::from_secs(10)).is_err());
/// ```
pub fn seconds(s: f64, max: Duration) -> Result<Duration, String> {
    if !(s.is_finite() && s > 0.0) {
        return Err(format!("must be a positive number of seconds, got {s}"));
    }
    match Duration::try_from_secs_f64(s) {
        Ok(d) if d <= max && !d.is_zero() => Ok(d),
        Ok(d) if d.is_zero() => Err(format!("{s} seconds rounds to zero")),
        _ => Err(format!(
            "{s} seconds is longer than the longest allowed, {} seconds",
            max.as_secs()
        )),
    }
}

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
    /// Bound on each request, end to end: from its start (before DNS when
    /// it opens a connection) to its last byte (a stream: `[DONE]` or its
    /// final message). The connection phases and the response head are
    /// within it. A request still running at this bound is a `timeout`
    /// failure. At most [`MAX_TIMEOUT`].
    pub timeout: Duration,
    /// Bound on a stream's progress: the longest wait for its next event
    /// (an SSE event with data, a gRPC message) after the response head or
    /// the previous event; comments, keep-alive lines and partial lines are
    /// not progress. A longer gap is a `stall` failure. `None`: the same as
    /// `timeout` (so only the end-to-end bound applies).
    pub idle_timeout: Option<Duration>,
    /// Bound on the whole run. A run that reaches it stops: the requests
    /// still in flight are abandoned and, with those never started, counted
    /// as `unfinished`; the report says `deadline_reached` (it is not
    /// `interrupted`, which only a cancel sets). At most [`MAX_DEADLINE`].
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
    /// With `record_samples`, keep each OpenAI answer's text (the content
    /// deltas joined) in its record, cut at this many bytes; 0: none.
    pub capture_output_bytes: usize,
    /// A lean run, for a monitor that probes many targets with a few
    /// samples each: each metric keeps its samples as a list (4 bytes a
    /// sample, up to [`LEAN_MAX_SAMPLES`](crate::LEAN_MAX_SAMPLES), then a
    /// histogram) instead of an HDR histogram from the start (~180 KB per
    /// metric), and no per-request tokens-per-second distribution is kept
    /// (the run's [`Throughput`](crate::Throughput) is). Read the samples
    /// with [`ProbeReport::recorded`](crate::ProbeReport::recorded).
    pub lean: bool,
    /// With `record_samples`, keep this response header of each OpenAI
    /// answer in its record (e.g. a cache's `x-cache: hit`), cut at
    /// [`MAX_CAPTURED_HEADER_BYTES`](crate::MAX_CAPTURED_HEADER_BYTES).
    pub capture_header: Option<HeaderName>,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions {
            samples: 20,
            concurrency: 1,
            warmup: 1,
            timeout: Duration::from_secs(30),
            idle_timeout: None,
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
            capture_output_bytes: 0,
            lean: false,
            capture_header: None,
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
        for (name, d, max) in [
            ("timeout", Some(self.timeout), MAX_TIMEOUT),
            ("idle_timeout", self.idle_timeout, MAX_TIMEOUT),
            ("deadline", Some(self.deadline), MAX_DEADLINE),
        ] {
            match d {
                Some(d) if d.is_zero() => return bad(name, "must be more than zero"),
                Some(d) if d > max => {
                    return bad(
                        name,
                        &format!("{d:?} is longer than the longest allowed, {max:?}"),
                    );
                }
                _ => {}
            }
        }
        if self.max_line_bytes == 0 {
            return bad("max_line_bytes", "must be more than zero");
        }
        Ok(())
    }

    /// The bound on a stream's progress: `idle_timeout`, else `timeout`.
    pub(crate) fn idle(&self) -> Duration {
        self.idle_timeout.unwrap_or(self.timeout)
    }

    pub(crate) fn model_name(&self) -> &str {
        self.model.as_deref().unwrap_or("default")
    }
}
