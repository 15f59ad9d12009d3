//! What a probe returns: distributions, error counts, methods.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant, SystemTime};

use cockpit_core::{Distribution, LatencySummary};
use hdrhistogram::Histogram;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use crate::ProbeError;

/// The kind of endpoint a probe speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Protocol {
    /// Plain HTTP(S): phases, TTFB, total time.
    Http,
    /// An OpenAI-compatible `/v1/chat/completions` with `stream: true` (SSE).
    #[serde(rename = "openai")]
    OpenAi,
    /// The `cockpit.agent.v1.AgentService` over gRPC, plus `grpc.health.v1`.
    Grpc,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::OpenAi => "openai",
            Protocol::Grpc => "grpc",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Protocol {
    type Err = ProbeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "http" => Ok(Protocol::Http),
            "openai" => Ok(Protocol::OpenAi),
            "grpc" => Ok(Protocol::Grpc),
            _ => Err(ProbeError::UnknownProtocol(s.to_string())),
        }
    }
}

/// Why one request failed. Counted per kind in [`ProbeReport::errors`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The host name did not resolve.
    #[serde(rename = "dns")]
    Dns,
    /// The TCP connection was refused, reset or unreachable.
    #[serde(rename = "connect")]
    Connect,
    /// The TLS handshake failed (including certificate verification).
    #[serde(rename = "tls")]
    Tls,
    /// The request was not complete within its end-to-end bound (`timeout`):
    /// still connecting, waiting for the response head, or reading a body
    /// or a stream that did not end.
    #[serde(rename = "timeout")]
    Timeout,
    /// The response status was 4xx.
    #[serde(rename = "http_4xx")]
    Http4xx,
    /// The response status was 5xx.
    #[serde(rename = "http_5xx")]
    Http5xx,
    /// The event stream was malformed (bad UTF-8, a data payload that is not JSON).
    #[serde(rename = "invalid_sse")]
    InvalidSse,
    /// The body ended (or the connection was reset) before the stream finished.
    #[serde(rename = "stream_cut")]
    StreamCut,
    /// A stream went longer than its idle bound (`idle_timeout`) without an
    /// event, before the request's own bound.
    #[serde(rename = "stall")]
    Stall,
    /// An SSE line was longer than `max_line_bytes`; reading stopped.
    #[serde(rename = "line_too_long")]
    LineTooLong,
    /// A gRPC call ended with a non-OK status.
    #[serde(rename = "grpc_status")]
    GrpcStatus,
    /// Anything else the peer got wrong (HTTP framing, unexpected content type…).
    #[serde(rename = "protocol")]
    Protocol,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 12] = [
        ErrorKind::Dns,
        ErrorKind::Connect,
        ErrorKind::Tls,
        ErrorKind::Timeout,
        ErrorKind::Http4xx,
        ErrorKind::Http5xx,
        ErrorKind::InvalidSse,
        ErrorKind::StreamCut,
        ErrorKind::Stall,
        ErrorKind::LineTooLong,
        ErrorKind::GrpcStatus,
        ErrorKind::Protocol,
    ];

    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Dns => "dns",
            ErrorKind::Connect => "connect",
            ErrorKind::Tls => "tls",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Http4xx => "http_4xx",
            ErrorKind::Http5xx => "http_5xx",
            ErrorKind::InvalidSse => "invalid_sse",
            ErrorKind::StreamCut => "stream_cut",
            ErrorKind::Stall => "stall",
            ErrorKind::LineTooLong => "line_too_long",
            ErrorKind::GrpcStatus => "grpc_status",
            ErrorKind::Protocol => "protocol",
        }
    }

    pub(crate) fn index(self) -> usize {
        ErrorKind::ALL.iter().position(|k| *k == self).unwrap_or(0)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the output-token counts came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TokensSource {
    /// The stream's `usage.completion_tokens` (gRPC: the final message's `output_tokens`).
    Usage,
    /// The number of content events (gRPC: of token messages).
    CountedEvents,
    /// Some samples had usage, some did not.
    Mixed,
}

impl TokensSource {
    /// Where `source`'s counts came from on `protocol`, in words.
    pub fn text(source: Option<TokensSource>, protocol: Protocol) -> &'static str {
        match (source, protocol) {
            (Some(TokensSource::Usage), Protocol::Grpc) => "from the final message's output_tokens",
            (Some(TokensSource::Usage), _) => "from usage.completion_tokens",
            (Some(TokensSource::CountedEvents), Protocol::Grpc) => "from counted token messages",
            (Some(TokensSource::CountedEvents), _) => "from counted content events",
            (_, Protocol::Grpc) => {
                "from the final message's output_tokens where set, else from counted token messages"
            }
            _ => {
                "from usage.completion_tokens where the stream carried it, else from counted content events"
            }
        }
    }
}

/// One request, kept only when [`ProbeOptions::record_samples`](crate::ProbeOptions) is set.
#[derive(Debug, Clone, Serialize)]
pub struct SampleRecord {
    /// The 0-based sample index (warm-up samples included).
    pub index: u32,
    pub warmup: bool,
    /// The `x-request-id` header (OpenAI) or `request_id` field (gRPC) sent.
    pub request_id: String,
    /// Wall-clock time read next to the monotonic send-start instant.
    #[serde(serialize_with = "ser_system_time")]
    pub send_start_wall: SystemTime,
    #[serde(serialize_with = "ser_opt_ms")]
    pub ttft: Option<Duration>,
    #[serde(serialize_with = "ser_opt_ms")]
    pub e2e: Option<Duration>,
    pub output_tokens: Option<u64>,
    pub error: Option<ErrorKind>,
    /// The answer's text (OpenAI streams, when
    /// [`ProbeOptions::capture_output_bytes`](crate::ProbeOptions) is set):
    /// the content deltas joined, cut at that many bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// The response header named by
    /// [`ProbeOptions::capture_header`](crate::ProbeOptions), when the
    /// answer carried it (lossy UTF-8, cut at [`MAX_CAPTURED_HEADER_BYTES`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
}

/// The longest captured response header value kept.
pub const MAX_CAPTURED_HEADER_BYTES: usize = 256;

/// A header value as kept in a [`SampleRecord`]: lossy UTF-8 of at most
/// [`MAX_CAPTURED_HEADER_BYTES`] bytes.
pub(crate) fn bounded_header(v: &[u8]) -> String {
    String::from_utf8_lossy(&v[..v.len().min(MAX_CAPTURED_HEADER_BYTES)]).into_owned()
}

/// At most this many [`SampleRecord`]s are kept per run.
pub const MAX_SAMPLE_RECORDS: usize = 100_000;

fn ser_system_time<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    s.serialize_f64(d.as_secs_f64())
}

fn ser_opt_ms<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_f64(d.as_secs_f64() * 1000.0),
        None => s.serialize_none(),
    }
}

/// A distribution of rates (tokens per second), kept as an HDR histogram of
/// milli-units with three significant digits, allocated at the first rate
/// recorded (an empty one costs nothing).
#[derive(Debug, Clone, Default)]
pub struct RateDistribution {
    hist: Option<Histogram<u64>>,
}

const RATE_SCALE: f64 = 1000.0;
const RATE_MAX_MILLI: u64 = 10_000_000_000_000; // 10^10 per second

fn rate_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, RATE_MAX_MILLI, 3).expect("static histogram bounds are valid")
}

impl RateDistribution {
    pub fn new() -> Self {
        RateDistribution { hist: None }
    }

    /// Record one rate, in units per second (non-finite values are ignored).
    pub fn record(&mut self, per_s: f64) {
        if per_s.is_finite() && per_s >= 0.0 {
            let v = ((per_s * RATE_SCALE) as u64).clamp(1, RATE_MAX_MILLI);
            let _ = self.hist.get_or_insert_with(rate_histogram).record(v);
        }
    }

    pub fn merge(&mut self, other: &RateDistribution) {
        if let Some(o) = other.hist.as_ref().filter(|h| !h.is_empty()) {
            let _ = self.hist.get_or_insert_with(rate_histogram).add(o);
        }
    }

    /// The histogram in HdrHistogram's V2 encoding (fan-out worker results).
    pub(crate) fn to_v2_bytes(&self) -> Vec<u8> {
        use hdrhistogram::serialization::{Serializer as _, V2Serializer};
        let mut out = Vec::new();
        // Writing into a Vec cannot fail, and a u64 histogram always encodes.
        let empty;
        let h = match &self.hist {
            Some(h) => h,
            None => {
                empty = rate_histogram();
                &empty
            }
        };
        let _ = V2Serializer::new().serialize(h, &mut out);
        out
    }

    /// Read what [`to_v2_bytes`](Self::to_v2_bytes) wrote, re-recorded into
    /// this type's bounds so that it merges exactly.
    pub(crate) fn from_v2_bytes(bytes: &[u8]) -> Result<Self, String> {
        use hdrhistogram::serialization::Deserializer;
        let h: Histogram<u64> = Deserializer::new()
            .deserialize(&mut std::io::Cursor::new(bytes))
            .map_err(|e| format!("{e:?}"))?;
        let mut d = RateDistribution::new();
        if !h.is_empty() {
            d.hist
                .get_or_insert_with(rate_histogram)
                .add(&h)
                .map_err(|e| format!("{e:?}"))?;
        }
        Ok(d)
    }

    pub fn count(&self) -> u64 {
        self.hist.as_ref().map_or(0, Histogram::len)
    }

    /// The rate at quantile `q`, per second.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let h = self.hist.as_ref().filter(|h| !h.is_empty())?;
        Some(h.value_at_quantile(q) as f64 / RATE_SCALE)
    }

    pub fn summary(&self) -> RateSummary {
        let Some(h) = self.hist.as_ref().filter(|h| !h.is_empty()) else {
            return RateSummary::default();
        };
        let v = |x: u64| x as f64 / RATE_SCALE;
        RateSummary {
            count: h.len(),
            min: v(h.min()),
            mean: h.mean() / RATE_SCALE,
            p10: v(h.value_at_quantile(0.10)),
            p50: v(h.value_at_quantile(0.50)),
            p90: v(h.value_at_quantile(0.90)),
            max: v(h.max()),
        }
    }
}

/// Percentiles of a rate; the unit is in the field that holds it
/// (`output_tokens_per_s`). For a rate the low percentiles are the slow ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct RateSummary {
    pub count: u64,
    pub min: f64,
    pub mean: f64,
    pub p10: f64,
    pub p50: f64,
    pub p90: f64,
    pub max: f64,
}

/// Output tokens per second for a whole run: every measured stream's output
/// tokens summed, divided by the run's wall window. Unlike the per-request
/// [`RateSummary`], it counts the concurrency and the idle time between
/// requests: it is what the server delivered to this client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Throughput {
    /// Output tokens of the successful measured streams.
    pub output_tokens: u64,
    /// Those streams.
    pub requests: u64,
    /// The wall window the tokens are divided by, in seconds.
    pub window_s: f64,
    pub output_tokens_per_s: f64,
}

impl Throughput {
    /// `output_tokens / window`; `None` without a stream or a window.
    pub fn new(output_tokens: u64, requests: u64, window: Duration) -> Option<Self> {
        let window_s = window.as_secs_f64();
        (requests > 0 && window_s > 0.0).then(|| Throughput {
            output_tokens,
            requests,
            window_s,
            output_tokens_per_s: output_tokens as f64 / window_s,
        })
    }
}

/// How a probe's [`Throughput`] is measured.
pub(crate) const PROBE_THROUGHPUT_METHOD: &str = "the output tokens of every successful measured stream, summed, divided by the wall window from the earliest measured request's send to the latest measured stream's end (warm-up excluded; concurrency and the gaps between requests count)";

/// The latency distributions a probe may fill, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Metric {
    Ttft,
    Itl,
    Tpot,
    E2e,
    Ttfb,
    Unary,
    Dns,
    Connect,
    Tls,
    TtftInclConnect,
    TtfbInclConnect,
}

impl Metric {
    pub const ALL: [Metric; 11] = [
        Metric::Ttft,
        Metric::Itl,
        Metric::Tpot,
        Metric::E2e,
        Metric::Ttfb,
        Metric::Unary,
        Metric::Dns,
        Metric::Connect,
        Metric::Tls,
        Metric::TtftInclConnect,
        Metric::TtfbInclConnect,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Metric::Ttft => "ttft",
            Metric::Itl => "itl",
            Metric::Tpot => "tpot",
            Metric::E2e => "e2e",
            Metric::Ttfb => "ttfb",
            Metric::Unary => "unary",
            Metric::Dns => "dns",
            Metric::Connect => "connect",
            Metric::Tls => "tls",
            Metric::TtftInclConnect => "ttft_incl_connect",
            Metric::TtfbInclConnect => "ttfb_incl_connect",
        }
    }
}

/// A lean probe keeps at most this many samples of a metric as a plain
/// list; past it, the metric moves into a histogram.
pub const LEAN_MAX_SAMPLES: usize = 1024;

/// One metric's samples: an HDR histogram (the default: fixed memory
/// however many samples, ~180 KB each), or, for a lean probe
/// ([`ProbeOptions::lean`](crate::ProbeOptions)), the samples themselves in
/// microseconds (4 bytes each) until [`LEAN_MAX_SAMPLES`].
#[derive(Debug, Clone)]
pub(crate) enum Tally {
    Hist(Distribution),
    Few(Vec<u32>),
}

/// A duration in whole microseconds, as a [`Distribution`] records it
/// (at least 1 µs, at most an hour).
fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros())
        .unwrap_or(u32::MAX)
        .clamp(1, 3_600_000_000)
}

impl Tally {
    fn new(lean: bool) -> Self {
        if lean {
            Tally::Few(Vec::new())
        } else {
            Tally::Hist(Distribution::new())
        }
    }

    /// The histogram, for a tally kept as one.
    pub fn as_hist(&self) -> Option<&Distribution> {
        match self {
            Tally::Hist(d) => Some(d),
            Tally::Few(_) => None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }

    pub fn count(&self) -> u64 {
        match self {
            Tally::Hist(d) => d.count(),
            Tally::Few(v) => v.len() as u64,
        }
    }

    #[inline]
    fn record(&mut self, d: Duration) {
        match self {
            Tally::Hist(h) => h.record(d),
            Tally::Few(v) if v.len() < LEAN_MAX_SAMPLES => v.push(micros(d)),
            Tally::Few(_) => {
                let mut h = self.to_hist();
                h.record(d);
                *self = Tally::Hist(h);
            }
        }
    }

    /// A histogram of these samples.
    pub(crate) fn to_hist(&self) -> Distribution {
        match self {
            Tally::Hist(h) => h.clone(),
            Tally::Few(v) => {
                let mut h = Distribution::new();
                for us in v {
                    h.record(Duration::from_micros(u64::from(*us)));
                }
                h
            }
        }
    }

    fn merge(&mut self, o: &Tally) {
        match (&mut *self, o) {
            (Tally::Hist(a), Tally::Hist(b)) => a.merge(b),
            (Tally::Few(a), Tally::Few(b)) if a.len() + b.len() <= LEAN_MAX_SAMPLES => {
                a.extend_from_slice(b);
            }
            (a, b) => {
                let mut h = a.to_hist();
                h.merge(&b.to_hist());
                *self = Tally::Hist(h);
            }
        }
    }
}

/// The samples of one metric of a [`ProbeReport`], however it kept them:
/// (value, how many samples had it). From a histogram, each value is its
/// bucket's highest equivalent value (three significant digits); from a
/// lean probe's list, each sample in microseconds with a count of 1.
pub struct Recorded<'a>(RecordedInner<'a>);

impl fmt::Debug for Recorded<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Recorded")
    }
}

enum RecordedInner<'a> {
    Hist(
        hdrhistogram::iterators::HistogramIterator<
            'a,
            u64,
            hdrhistogram::iterators::recorded::Iter,
        >,
    ),
    Few(std::slice::Iter<'a, u32>),
}

impl Iterator for Recorded<'_> {
    type Item = (Duration, u64);

    fn next(&mut self) -> Option<(Duration, u64)> {
        match &mut self.0 {
            RecordedInner::Hist(it) => it.next().map(|v| {
                (
                    Duration::from_micros(v.value_iterated_to()),
                    v.count_at_value(),
                )
            }),
            RecordedInner::Few(it) => it
                .next()
                .map(|us| (Duration::from_micros(u64::from(*us)), 1)),
        }
    }
}

/// One worker's tallies; merged into a [`ProbeReport`] at the end of a run.
#[derive(Debug)]
pub(crate) struct Stats {
    pub dists: [Tally; Metric::ALL.len()],
    /// A lean run: samples kept as lists, no per-request rate histogram.
    pub lean: bool,
    pub rate: RateDistribution,
    pub errors: [u64; ErrorKind::ALL.len()],
    pub examples: [Option<String>; ErrorKind::ALL.len()],
    pub samples: u64,
    pub warmup_excluded: u64,
    pub attempted: u64,
    pub tokens_usage: u64,
    pub tokens_counted: u64,
    /// Output tokens of the successful measured streams.
    pub output_tokens: u64,
    /// The earliest send and the latest end of a successful measured stream.
    pub window: Option<(Instant, Instant)>,
    /// Stopped by a cancel.
    pub interrupted: bool,
    /// Stopped by the run's deadline.
    pub deadline_reached: bool,
    /// Requests the run was to make (warm-up included); 0 when unknown.
    pub planned: u64,
    pub negotiated: Option<&'static str>,
    pub records: Option<Vec<SampleRecord>>,
    /// The status of the last sample, set by the sample functions when one
    /// came (HTTP: at the response head; gRPC: at the call's end); the load
    /// engine takes it to count statuses. Not merged.
    pub last_status: Option<crate::load::ResponseStatus>,
}

impl Stats {
    pub fn new(record_samples: bool) -> Self {
        Stats::with_lean(record_samples, false)
    }

    /// Stats of a lean run ([`ProbeOptions::lean`](crate::ProbeOptions))
    /// when `lean`: nothing allocated until a sample comes.
    pub fn with_lean(record_samples: bool, lean: bool) -> Self {
        Stats {
            dists: std::array::from_fn(|_| Tally::new(lean)),
            lean,
            rate: RateDistribution::new(),
            errors: [0; ErrorKind::ALL.len()],
            examples: Default::default(),
            samples: 0,
            warmup_excluded: 0,
            attempted: 0,
            tokens_usage: 0,
            tokens_counted: 0,
            output_tokens: 0,
            window: None,
            interrupted: false,
            deadline_reached: false,
            planned: 0,
            negotiated: None,
            records: record_samples.then(Vec::new),
            last_status: None,
        }
    }

    #[inline]
    pub fn record(&mut self, m: Metric, d: Duration) {
        self.dists[m as usize].record(d);
    }

    /// Count one failed request. The message is built only for the first
    /// failure of each kind.
    pub fn error(&mut self, kind: ErrorKind, message: impl FnOnce() -> String) {
        let i = kind.index();
        self.errors[i] += 1;
        if self.examples[i].is_none() {
            self.examples[i] = Some(message());
        }
    }

    pub fn push_record(&mut self, r: SampleRecord) {
        if let Some(v) = &mut self.records
            && v.len() < MAX_SAMPLE_RECORDS
        {
            v.push(r);
        }
    }

    /// Attach a successful sample's captured answer to its record (the
    /// latest one, when it is sample `index`'s).
    pub fn attach_output(&mut self, index: u32, text: &str) {
        if let Some(r) = self.records.as_mut().and_then(|v| v.last_mut())
            && r.index == index
            && r.error.is_none()
        {
            r.output = Some(text.to_string());
        }
    }

    /// Attach a sample's captured response header to its record (the
    /// latest one, when it is sample `index`'s).
    pub fn attach_header(&mut self, index: u32, value: Option<String>) {
        if let Some(r) = self.records.as_mut().and_then(|v| v.last_mut())
            && r.index == index
        {
            r.header = value;
        }
    }

    pub fn merge(&mut self, o: Stats) {
        for (a, b) in self.dists.iter_mut().zip(o.dists.iter()) {
            a.merge(b);
        }
        self.rate.merge(&o.rate);
        for i in 0..self.errors.len() {
            self.errors[i] += o.errors[i];
            if self.examples[i].is_none() {
                self.examples[i].clone_from(&o.examples[i]);
            }
        }
        self.samples += o.samples;
        self.warmup_excluded += o.warmup_excluded;
        self.attempted += o.attempted;
        self.tokens_usage += o.tokens_usage;
        self.tokens_counted += o.tokens_counted;
        self.output_tokens += o.output_tokens;
        self.widen(o.window);
        self.interrupted |= o.interrupted;
        self.deadline_reached |= o.deadline_reached;
        self.planned += o.planned;
        self.negotiated = self.negotiated.or(o.negotiated);
        if let (Some(a), Some(b)) = (&mut self.records, o.records) {
            a.extend(
                b.into_iter()
                    .take(MAX_SAMPLE_RECORDS.saturating_sub(a.len())),
            );
        }
    }
}

impl Stats {
    /// Stretch the window of measured streams to cover `w`.
    fn widen(&mut self, w: Option<(Instant, Instant)>) {
        self.window = match (self.window, w) {
            (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
            (a, b) => a.or(b),
        };
    }

    /// Where the output-token counts of the measured streams came from.
    pub fn tokens_source(&self) -> Option<TokensSource> {
        match (self.tokens_usage, self.tokens_counted) {
            (0, 0) => None,
            (_, 0) => Some(TokensSource::Usage),
            (0, _) => Some(TokensSource::CountedEvents),
            _ => Some(TokensSource::Mixed),
        }
    }

    /// Output tokens per second over the window of the measured streams.
    pub fn throughput(&self) -> Option<Throughput> {
        let (from, to) = self.window?;
        Throughput::new(
            self.output_tokens,
            self.tokens_usage + self.tokens_counted,
            to.duration_since(from),
        )
    }
}

/// How one sample ended: its TTFT when it was a successful stream (`None`
/// for a plain request), else the kind of its failure, already counted in
/// its [`Stats`].
pub(crate) type SampleResult = Result<Option<Duration>, ErrorKind>;

/// A successful streamed answer, as the SSE and the gRPC probes both
/// measure it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StreamOutcome {
    pub ttft: Duration,
    pub ttft_incl_connect: Duration,
    pub e2e: Duration,
    pub tokens: u64,
    pub from_usage: bool,
}

impl Stats {
    /// Tally one streamed sample: count the attempt, keep its record when
    /// asked, then record its distributions (measured), count it as warm-up,
    /// or count its failure. Returns the TTFT, or the failure's kind so the
    /// caller can decide whether its connection is still usable.
    #[allow(clippy::too_many_arguments)]
    pub fn stream_sample(
        &mut self,
        keep_record: bool,
        index: u32,
        measured: bool,
        request_id: String,
        send_wall: Option<SystemTime>,
        r: Result<StreamOutcome, crate::conn::Failure>,
        gaps: &[Duration],
    ) -> Result<Duration, ErrorKind> {
        self.attempted += 1;
        if keep_record {
            let ok = r.as_ref().ok();
            self.push_record(SampleRecord {
                index,
                warmup: !measured,
                request_id,
                send_start_wall: send_wall.unwrap_or_else(SystemTime::now),
                ttft: ok.map(|o| o.ttft),
                e2e: ok.map(|o| o.e2e),
                output_tokens: ok.map(|o| o.tokens),
                error: r.as_ref().err().map(|f| f.kind),
                output: None,
                header: None,
            });
        }
        match r {
            Ok(o) if measured => {
                self.samples += 1;
                self.record(Metric::Ttft, o.ttft);
                self.record(Metric::TtftInclConnect, o.ttft_incl_connect);
                self.record(Metric::E2e, o.e2e);
                for g in gaps {
                    self.record(Metric::Itl, *g);
                }
                if o.tokens > 1 {
                    let per = o.e2e.saturating_sub(o.ttft).as_secs_f64() / (o.tokens - 1) as f64;
                    self.record(Metric::Tpot, Duration::from_secs_f64(per));
                }
                if o.e2e > Duration::ZERO && !self.lean {
                    self.rate.record(o.tokens as f64 / o.e2e.as_secs_f64());
                }
                if o.from_usage {
                    self.tokens_usage += 1;
                } else {
                    self.tokens_counted += 1;
                }
                self.output_tokens += o.tokens;
                let end = Instant::now();
                self.widen(Some((end.checked_sub(o.e2e).unwrap_or(end), end)));
                Ok(o.ttft)
            }
            Ok(o) => {
                self.warmup_excluded += 1;
                Ok(o.ttft)
            }
            Err(f) => {
                let kind = f.kind;
                self.error(kind, || f.message);
                Err(kind)
            }
        }
    }
}

/// The result of one probe run. Its JSON form is what
/// `agentops-cockpit probe --format json` prints: a public interface.
///
/// ```json
/// { "target": "http://127.0.0.1:8080/v1/chat/completions", "protocol": "openai",
///   "http_version": "HTTP/1.1", "samples": 50, "warmup_excluded": 1, "attempted": 53,
///   "errors": {"timeout": 2}, "error_examples": {"timeout": "no response head from … within 30s"},
///   "tokens_source": "usage", "interrupted": false, "deadline_reached": false, "unfinished": 0,
///   "ttft": {"count": 50, "min_ms": 301.2, "mean_ms": 303.0, "p50_ms": 302.8, "p90_ms": 304.1,
///            "p95_ms": 304.9, "p99_ms": 306.0, "p999_ms": 306.0, "max_ms": 306.0},
///   "itl": {…}, "tpot": {…}, "e2e": {…}, "dns": {…}, "connect": {…}, "ttft_incl_connect": {…},
///   "output_tokens_per_s": {"count": 50, "min": 40.1, "mean": 42.0, "p10": 41.0, "p50": 42.1, "p90": 43.0, "max": 43.5},
///   "throughput": {"output_tokens": 1200, "requests": 50, "window_s": 29.1, "output_tokens_per_s": 41.2},
///   "methods": {"ttft": "client-side, from the instant before the request is written to …; 50 samples", …} }
/// ```
///
/// `health` is present for gRPC; `unary` for gRPC; `ttfb`, `ttfb_incl_connect`
/// for HTTP; `tls` for TLS targets.
///
/// Distributions that do not apply to the protocol, or that took no sample,
/// are left out of the JSON; every one present has a `methods` entry saying
/// how it was measured and on how many samples.
#[derive(Debug, Clone)]
pub struct ProbeReport {
    /// The target URL, credentials redacted.
    pub target: String,
    pub protocol: Protocol,
    /// The HTTP version the (last) connection negotiated: `HTTP/1.1` or `HTTP/2`.
    pub http_version: Option<&'static str>,
    /// Successful measured samples.
    pub samples: u64,
    /// Successful warm-up samples, excluded from the distributions.
    pub warmup_excluded: u64,
    /// Requests that ran to an outcome (success or counted error), warm-up included.
    pub attempted: u64,
    /// Failed requests by kind (warm-up included); kinds with no failure are absent.
    pub errors: BTreeMap<ErrorKind, u64>,
    /// One message per error kind, redacted.
    pub error_examples: BTreeMap<ErrorKind, String>,
    pub tokens_source: Option<TokensSource>,
    /// The run was stopped by its cancel token (Ctrl-C).
    pub interrupted: bool,
    /// The run was stopped by its deadline ([`ProbeOptions::deadline`](crate::ProbeOptions)):
    /// the samples so far are reported, the rest counted in `unfinished`.
    pub deadline_reached: bool,
    /// Requests of the run that did not reach an outcome: abandoned in
    /// flight or never started when the run stopped (deadline or cancel).
    pub unfinished: u64,
    /// gRPC only: the `grpc.health.v1` status (`SERVING`, …) or why it is unknown.
    pub health: Option<String>,
    distributions: BTreeMap<&'static str, Tally>,
    output_tokens_per_s: Option<RateDistribution>,
    throughput: Option<Throughput>,
    methods: BTreeMap<&'static str, String>,
    /// Per-request records, when asked for.
    pub sample_records: Vec<SampleRecord>,
}

/// Report order of the distribution keys in JSON.
const ORDER: [&str; 11] = [
    "ttft",
    "itl",
    "tpot",
    "e2e",
    "ttfb",
    "unary",
    "dns",
    "connect",
    "tls",
    "ttft_incl_connect",
    "ttfb_incl_connect",
];

impl ProbeReport {
    pub(crate) fn from_stats(
        target: String,
        protocol: Protocol,
        stats: Stats,
        methods: &dyn Fn(&'static str) -> Option<&'static str>,
    ) -> Self {
        let mut distributions = BTreeMap::new();
        let mut method_texts = BTreeMap::new();
        let tokens_source = stats.tokens_source();
        let throughput = stats.throughput();
        if let Some(t) = &throughput {
            method_texts.insert(
                "throughput",
                format!(
                    "{PROBE_THROUGHPUT_METHOD}; tokens {}; {} samples",
                    TokensSource::text(tokens_source, protocol),
                    t.requests
                ),
            );
        }
        for (m, d) in Metric::ALL.iter().zip(stats.dists) {
            if d.is_empty() {
                continue;
            }
            if let Some(text) = methods(m.name()) {
                method_texts.insert(m.name(), format!("{text}; {} samples", d.count()));
            }
            distributions.insert(m.name(), d);
        }
        let output_tokens_per_s = (stats.rate.count() > 0).then_some(stats.rate);
        if let (Some(r), Some(text)) = (&output_tokens_per_s, methods("output_tokens_per_s")) {
            method_texts.insert(
                "output_tokens_per_s",
                format!("{text}; {} samples", r.count()),
            );
        }
        let mut errors = BTreeMap::new();
        let mut error_examples = BTreeMap::new();
        for (i, k) in ErrorKind::ALL.iter().enumerate() {
            if stats.errors[i] > 0 {
                errors.insert(*k, stats.errors[i]);
            }
            if let Some(e) = &stats.examples[i] {
                error_examples.insert(*k, e.clone());
            }
        }
        ProbeReport {
            target,
            protocol,
            http_version: stats.negotiated,
            samples: stats.samples,
            warmup_excluded: stats.warmup_excluded,
            attempted: stats.attempted,
            errors,
            error_examples,
            tokens_source,
            interrupted: stats.interrupted,
            deadline_reached: stats.deadline_reached,
            unfinished: stats.planned.saturating_sub(stats.attempted),
            health: None,
            distributions,
            output_tokens_per_s,
            throughput,
            methods: method_texts,
            sample_records: stats.records.unwrap_or_default(),
        }
    }

    /// The raw distribution `name` (`ttft`, `itl`, `tpot`, `e2e`, `ttfb`,
    /// `unary`, `dns`, `connect`, `tls`, `ttft_incl_connect`,
    /// `ttfb_incl_connect`), when it took samples. A lean probe
    /// ([`ProbeOptions::lean`](crate::ProbeOptions)) keeps a few samples as
    /// a list, not a histogram: read them with [`ProbeReport::recorded`],
    /// or call [`ProbeReport::with_histograms`] first.
    pub fn distribution(&self, name: &str) -> Option<&Distribution> {
        self.distributions.get(name).and_then(Tally::as_hist)
    }

    /// Every sample of distribution `name` as (value, count), whether the
    /// probe kept a histogram or (lean) a list; empty when it took none.
    pub fn recorded(&self, name: &str) -> Recorded<'_> {
        Recorded(match self.distributions.get(name) {
            Some(Tally::Hist(d)) => RecordedInner::Hist(d.histogram().iter_recorded()),
            Some(Tally::Few(v)) => RecordedInner::Few(v.iter()),
            None => RecordedInner::Few([].iter()),
        })
    }

    /// How many samples distribution `name` took.
    pub fn count(&self, name: &str) -> u64 {
        self.distributions.get(name).map_or(0, Tally::count)
    }

    /// The same report with every distribution as a histogram (what a lean
    /// probe's report needs before [`ProbeReport::distribution`] answers).
    #[must_use]
    pub fn with_histograms(mut self) -> Self {
        for t in self.distributions.values_mut() {
            if let Tally::Few(_) = t {
                *t = Tally::Hist(t.to_hist());
            }
        }
        self
    }

    /// The percentiles of distribution `name`.
    pub fn summary(&self, name: &str) -> Option<LatencySummary> {
        self.distributions.get(name).map(|t| match t {
            Tally::Hist(d) => d.summary(),
            Tally::Few(_) => t.to_hist().summary(),
        })
    }

    /// Names of the distributions that took samples, in report order.
    pub fn distribution_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        ORDER
            .iter()
            .copied()
            .filter(|n| self.distributions.contains_key(n))
    }

    /// Output tokens per second per request, when measured.
    pub fn output_tokens_per_s(&self) -> Option<&RateDistribution> {
        self.output_tokens_per_s.as_ref()
    }

    /// Output tokens per second over the whole run, when measured.
    pub fn throughput(&self) -> Option<&Throughput> {
        self.throughput.as_ref()
    }

    /// How `name` (a distribution, `output_tokens_per_s` or `throughput`) was measured,
    /// sample count included.
    pub fn method(&self, name: &str) -> Option<&str> {
        self.methods.get(name).map(String::as_str)
    }

    /// Failures of `kind`.
    pub fn error_count(&self, kind: ErrorKind) -> u64 {
        self.errors.get(&kind).copied().unwrap_or(0)
    }

    /// All failures.
    pub fn total_errors(&self) -> u64 {
        self.errors.values().sum()
    }
}

impl Serialize for ProbeReport {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("target", &self.target)?;
        m.serialize_entry("protocol", &self.protocol)?;
        if let Some(v) = self.http_version {
            m.serialize_entry("http_version", v)?;
        }
        m.serialize_entry("samples", &self.samples)?;
        m.serialize_entry("warmup_excluded", &self.warmup_excluded)?;
        m.serialize_entry("attempted", &self.attempted)?;
        m.serialize_entry("errors", &self.errors)?;
        m.serialize_entry("error_examples", &self.error_examples)?;
        m.serialize_entry("tokens_source", &self.tokens_source)?;
        m.serialize_entry("interrupted", &self.interrupted)?;
        m.serialize_entry("deadline_reached", &self.deadline_reached)?;
        m.serialize_entry("unfinished", &self.unfinished)?;
        if let Some(h) = &self.health {
            m.serialize_entry("health", h)?;
        }
        for name in self.distribution_names() {
            m.serialize_entry(name, &self.summary(name))?;
        }
        if let Some(r) = &self.output_tokens_per_s {
            m.serialize_entry("output_tokens_per_s", &r.summary())?;
        }
        if let Some(t) = &self.throughput {
            m.serialize_entry("throughput", t)?;
        }
        m.serialize_entry("methods", &self.methods)?;
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_kinds_serialise_snake_case() {
        for k in ErrorKind::ALL {
            assert_eq!(
                serde_json::to_value(k).unwrap(),
                serde_json::json!(k.as_str())
            );
        }
        assert_eq!(ErrorKind::Http5xx.as_str(), "http_5xx");
    }

    #[test]
    fn report_json_shape() {
        let mut st = Stats::new(false);
        st.record(Metric::Ttft, Duration::from_millis(300));
        st.record(Metric::Ttft, Duration::from_millis(302));
        st.rate.record(42.5);
        st.samples = 2;
        st.attempted = 4;
        st.warmup_excluded = 1;
        st.tokens_usage = 2;
        st.error(ErrorKind::Timeout, || "timed out".into());
        st.error(ErrorKind::Timeout, || {
            unreachable!("only the first example is built")
        });
        let r = ProbeReport::from_stats(
            "http://h/v1/chat/completions".into(),
            Protocol::OpenAi,
            st,
            &|n| (n == "ttft").then_some("client-side"),
        );
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["protocol"], "openai");
        assert_eq!(v["errors"]["timeout"], 2);
        assert_eq!(v["error_examples"]["timeout"], "timed out");
        assert_eq!(v["tokens_source"], "usage");
        assert_eq!(v["ttft"]["count"], 2);
        assert!(v.get("itl").is_none(), "empty distributions are omitted");
        assert_eq!(v["methods"]["ttft"], "client-side; 2 samples");
        assert_eq!(v["output_tokens_per_s"]["count"], 1);
        assert!((v["output_tokens_per_s"]["p50"].as_f64().unwrap() - 42.5).abs() < 0.1);
        assert_eq!(r.method("ttft"), Some("client-side; 2 samples"));
        assert!((r.summary("ttft").unwrap().p50_ms - 300.0).abs() < 0.5);
    }

    #[test]
    fn a_lean_run_keeps_few_samples_as_a_list_and_reads_like_a_full_one() {
        let mut lean = Stats::with_lean(false, true);
        let mut full = Stats::new(false);
        for ms in [300u64, 302, 900] {
            lean.record(Metric::Ttft, Duration::from_millis(ms));
            full.record(Metric::Ttft, Duration::from_millis(ms));
        }
        assert!(lean.rate.count() == 0 && lean.dists[0].as_hist().is_none());
        let mut other = Stats::with_lean(false, true);
        other.record(Metric::Ttft, Duration::from_millis(5));
        lean.merge(other);
        let r = ProbeReport::from_stats("u".into(), Protocol::OpenAi, lean, &|_| None);
        assert!(r.distribution("ttft").is_none(), "kept as a list");
        assert_eq!(r.count("ttft"), 4);
        let got: Vec<(Duration, u64)> = r.recorded("ttft").collect();
        assert_eq!(got.len(), 4);
        assert!(got.contains(&(Duration::from_millis(900), 1)));
        assert_eq!(r.recorded("itl").count(), 0);
        let p95 = r.summary("ttft").unwrap().p95_ms;
        assert!((p95 - 900.0).abs() < 1.0, "{p95}");
        let r = r.with_histograms();
        assert_eq!(r.distribution("ttft").unwrap().count(), 4);
        // Past the bound a lean tally becomes a histogram: memory stays fixed.
        let mut many = Tally::new(true);
        for i in 0..=LEAN_MAX_SAMPLES as u64 {
            many.record(Duration::from_micros(100 + i));
        }
        assert_eq!(many.count(), LEAN_MAX_SAMPLES as u64 + 1);
        assert!(many.as_hist().is_some());
        let full = ProbeReport::from_stats("u".into(), Protocol::OpenAi, full, &|_| None);
        let n: u64 = full.recorded("ttft").map(|(_, n)| n).sum();
        assert_eq!(n, 3, "a histogram's samples read the same way");
    }

    #[test]
    fn throughput_is_the_tokens_over_the_window_of_the_measured_streams() {
        let mut a = Stats::new(false);
        let t0 = Instant::now();
        a.output_tokens = 30;
        a.tokens_usage = 3;
        a.widen(Some((t0, t0 + Duration::from_secs(1))));
        let mut b = Stats::new(false);
        b.output_tokens = 50;
        b.tokens_counted = 5;
        b.widen(Some((
            t0 + Duration::from_millis(500),
            t0 + Duration::from_secs(2),
        )));
        a.merge(b);
        let t = a.throughput().unwrap();
        assert_eq!((t.output_tokens, t.requests), (80, 8));
        assert!((t.window_s - 2.0).abs() < 1e-9 && (t.output_tokens_per_s - 40.0).abs() < 1e-9);
        let r = ProbeReport::from_stats("u".into(), Protocol::OpenAi, a, &|_| None);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["throughput"]["output_tokens"], 80);
        assert_eq!(v["tokens_source"], "mixed");
        let m = r.method("throughput").unwrap();
        assert!(
            m.contains("else from counted content events") && m.ends_with("; 8 samples"),
            "{m}"
        );
        // Nothing streamed: no figure, no method.
        let r = ProbeReport::from_stats("u".into(), Protocol::OpenAi, Stats::new(false), &|_| None);
        assert!(r.throughput().is_none() && r.method("throughput").is_none());
        assert!(
            serde_json::to_value(&r)
                .unwrap()
                .get("throughput")
                .is_none()
        );
    }

    #[test]
    fn protocol_from_str() {
        assert_eq!("OpenAI".parse::<Protocol>().unwrap(), Protocol::OpenAi);
        assert_eq!("grpc".parse::<Protocol>().unwrap(), Protocol::Grpc);
        assert!("ftp".parse::<Protocol>().is_err());
    }
}
