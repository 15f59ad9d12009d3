//! How the reference agent behaves: delays, token counts, faults, and the
//! per-request overrides a client can send in headers (HTTP) or metadata
//! (gRPC).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The longest delay a per-request override may ask for.
pub(crate) const MAX_OVERRIDE_DELAY: Duration = Duration::from_secs(600);
/// The most tokens one answer may have (config or override).
pub(crate) const MAX_TOKENS: u32 = 100_000;

/// Header / metadata key selecting a [`Fault`] for one request (`none`
/// disables a configured fault).
pub const FAULT_HEADER: &str = "x-testbed-fault";
/// Header / metadata key overriding the time to first token, in milliseconds.
pub const TTFT_MS_HEADER: &str = "x-testbed-ttft-ms";
/// Header / metadata key overriding the number of output tokens.
pub const TOKENS_HEADER: &str = "x-testbed-tokens";
/// Header / metadata key overriding the inter-token delay, in milliseconds.
pub const INTER_TOKEN_MS_HEADER: &str = "x-testbed-inter-token-ms";

/// The behaviour of a [`Testbed`](crate::Testbed).
///
/// `Default` is a realistic fast agent: 50 ms to the first token, then 32
/// tokens 5 ms apart, no jitter, no cold start, no faults. Deserializes from
/// JSON / TOML with every field optional; durations are written with their
/// unit in the key (`ttft_ms = 50`, `idle_reset_s = 30`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TestbedConfig {
    /// Time from request receipt to the first content token.
    #[serde(rename = "ttft_ms", with = "millis")]
    pub ttft: Duration,
    /// Delay between consecutive content tokens.
    #[serde(rename = "inter_token_ms", with = "millis")]
    pub inter_token: Duration,
    /// Output tokens per answer (a request's `max_tokens` can only lower it).
    pub tokens: u32,
    /// Uniform ± jitter added to every delay (TTFT, each inter-token gap),
    /// drawn from the seeded RNG.
    #[serde(rename = "jitter_ms", with = "millis")]
    pub jitter: Duration,
    /// Seed of the RNG behind jitter and `error_rate`.
    pub seed: u64,
    /// Added to the TTFT of the first completion after start, and of the
    /// first completion after `idle_reset` without completions.
    #[serde(rename = "cold_start_ms", with = "millis")]
    pub cold_start: Duration,
    /// Idle time after which the next completion pays `cold_start` again;
    /// `None`: only the first completion after start is cold.
    #[serde(rename = "idle_reset_s", with = "opt_secs")]
    pub idle_reset: Option<Duration>,
    /// Extra TTFT per KiB of system prompt not found in the prefix cache.
    #[serde(rename = "prefill_per_kib_ms", with = "millis")]
    pub prefill_per_kib: Duration,
    /// Fraction (0..=1) of completions answered HTTP 500 / gRPC UNAVAILABLE.
    pub error_rate: f64,
    /// A fault injected into every completion (headers can override it).
    pub fault: Option<Fault>,
    /// Latency of `/v1/retrieval/search` and `RetrievalService.Search`.
    #[serde(rename = "retrieval_latency_ms", with = "millis")]
    pub retrieval_latency: Duration,
    /// Uniform ± jitter on the retrieval latency.
    #[serde(rename = "retrieval_jitter_ms", with = "millis")]
    pub retrieval_jitter: Duration,
    /// Whether `/metrics` exposes `testbed_time_to_first_token_seconds`.
    pub export_ttft_histogram: bool,
    /// Model name reported in answers and `/v1/models`.
    pub model: String,
    /// Echo each request's W3C `traceparent` (and `x-session-id`) in the
    /// response headers: as received (`right`), or with another trace id
    /// (`wrong`); `None`: no echo.
    pub trace_echo: Option<TraceEcho>,
    /// Reasoning fault: when more than this many answers are in flight, a
    /// question is answered from a global "last fact planted" slot instead
    /// of its own conversation (context bleed between sessions).
    pub shared_context_above: Option<u32>,
    /// Reasoning fault: memory retrieval has this many slots (held while
    /// an answer is paced); a question finding none free is answered
    /// without memory (a retrieval timeout).
    pub retrieval_pool: Option<u32>,
    /// Reasoning fault: only the newest turns whose words fit this many
    /// tokens are read for a question (the oldest are truncated).
    pub context_window_tokens: Option<u32>,
    /// Leaky mode: a server-side system prompt (holding a canary) that the
    /// agent reveals, as its answer, to prompts containing a trigger.
    pub leaky: Option<Leaky>,
    /// A semantic cache in front of the model: a prompt seen before (after
    /// normalisation and paraphrases) is answered after its `hit_ttft_ms`,
    /// with `x-cache: hit`, and counted in `/metrics`.
    pub semantic_cache: Option<SemanticCache>,
}

/// The semantic cache of the testbed: prompts are matched after
/// normalisation (lower case, punctuation dropped, whitespace collapsed)
/// with each phrase of a `paraphrases` group read as the group's first one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SemanticCache {
    /// Time to first token of an answer served from the cache.
    #[serde(rename = "hit_ttft_ms", with = "millis")]
    pub hit_ttft: Duration,
    /// Entries kept (least recently used dropped first); 0 stores nothing,
    /// a cache that never hits.
    pub capacity: usize,
    /// Groups of phrases that mean the same.
    pub paraphrases: Vec<Vec<String>>,
}

/// The most entries a semantic cache may keep.
pub(crate) const MAX_CACHE_ENTRIES: usize = 100_000;

impl Default for SemanticCache {
    fn default() -> Self {
        SemanticCache {
            hit_ttft: Duration::from_millis(2),
            capacity: 1024,
            paraphrases: Vec::new(),
        }
    }
}

/// A system prompt the agent keeps server-side, and the phrases that make
/// it reveal it (matched case-insensitively in the user's turn). For tests
/// of canary-leak probing: some attempts leak, the others do not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Leaky {
    pub system_prompt: String,
    pub triggers: Vec<String>,
}

impl Leaky {
    /// The words of the system prompt, when `prompt` holds a trigger.
    pub(crate) fn reveal(&self, prompt: &str) -> Option<Vec<String>> {
        let p = prompt.to_lowercase();
        self.triggers
            .iter()
            .any(|t| p.contains(&t.to_lowercase()))
            .then(|| {
                self.system_prompt
                    .split_whitespace()
                    .map(str::to_string)
                    .collect()
            })
    }
}

/// How the testbed echoes a request's `traceparent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum TraceEcho {
    /// The `traceparent` as received.
    Right,
    /// The same version, parent id and flags with another trace id.
    Wrong,
    /// As `Right`, in the answer's JSON instead of a header: every chunk
    /// carries top-level `"traceparent"` and `"session_id"` fields.
    BodyRight,
    /// As `Wrong`, in the answer's JSON.
    BodyWrong,
}

impl TraceEcho {
    /// Whether the echo goes in the answer's JSON rather than its headers.
    pub fn in_body(self) -> bool {
        matches!(self, TraceEcho::BodyRight | TraceEcho::BodyWrong)
    }

    /// The trace context to echo for the request's `traceparent`.
    pub fn echoed(self, traceparent: &str) -> String {
        match self {
            TraceEcho::Right | TraceEcho::BodyRight => traceparent.to_owned(),
            TraceEcho::Wrong | TraceEcho::BodyWrong => {
                match traceparent.split('-').collect::<Vec<_>>().as_slice() {
                    [v, _, parent, flags] => {
                        let other = uuid::Uuid::new_v4().simple().to_string();
                        format!("{v}-{other}-{parent}-{flags}")
                    }
                    _ => traceparent.to_owned(),
                }
            }
        }
    }
}

impl FromStr for TraceEcho {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "right" => Ok(TraceEcho::Right),
            "wrong" => Ok(TraceEcho::Wrong),
            "body-right" => Ok(TraceEcho::BodyRight),
            "body-wrong" => Ok(TraceEcho::BodyWrong),
            other => Err(format!(
                "unknown trace echo {other:?}: expected right, wrong, body-right or body-wrong"
            )),
        }
    }
}

impl Default for TestbedConfig {
    fn default() -> Self {
        TestbedConfig {
            ttft: Duration::from_millis(50),
            inter_token: Duration::from_millis(5),
            tokens: 32,
            jitter: Duration::ZERO,
            seed: 1,
            cold_start: Duration::ZERO,
            idle_reset: None,
            prefill_per_kib: Duration::ZERO,
            error_rate: 0.0,
            fault: None,
            retrieval_latency: Duration::from_millis(2),
            retrieval_jitter: Duration::ZERO,
            export_ttft_histogram: true,
            model: "testbed-1".to_owned(),
            trace_echo: None,
            shared_context_above: None,
            retrieval_pool: None,
            context_window_tokens: None,
            leaky: None,
            semantic_cache: None,
        }
    }
}

impl TestbedConfig {
    /// Checks the values a server cannot run with.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.error_rate) {
            return Err(format!(
                "error_rate must be within 0..=1, got {}",
                self.error_rate
            ));
        }
        if self.tokens > MAX_TOKENS {
            return Err(format!(
                "tokens must be at most {MAX_TOKENS}, got {}",
                self.tokens
            ));
        }
        if self.retrieval_pool == Some(0) {
            return Err("retrieval_pool must be at least 1".to_owned());
        }
        if let Some(l) = &self.leaky {
            let words = l.system_prompt.split_whitespace().count();
            if words == 0 || words > MAX_TOKENS as usize {
                return Err(format!(
                    "leaky.system_prompt must have 1–{MAX_TOKENS} words, got {words}"
                ));
            }
        }
        if let Some(c) = &self.semantic_cache {
            if c.capacity > MAX_CACHE_ENTRIES {
                return Err(format!(
                    "semantic_cache.capacity must be at most {MAX_CACHE_ENTRIES}, got {}",
                    c.capacity
                ));
            }
            if c.hit_ttft > MAX_OVERRIDE_DELAY {
                return Err("semantic_cache.hit_ttft_ms must be at most 600000".to_owned());
            }
        }
        if self.model.is_empty() {
            return Err("model must not be empty".to_owned());
        }
        Ok(())
    }
}

/// A misbehaviour the testbed injects into an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Fault {
    /// After the first token, one `data:` line whose payload is not JSON.
    InvalidSse,
    /// After half the tokens the body ends abruptly: no final chunk, no
    /// `[DONE]`, and the HTTP/1.1 chunked encoding is not terminated (gRPC:
    /// the stream ends with UNAVAILABLE).
    CutMidStream,
    /// After the first token, nothing more until the client goes away (at
    /// most 10 minutes, or until the testbed shuts down).
    Stall,
    /// After the first token, one 2 MiB SSE `data:` line.
    OversizedLine,
    /// HTTP 500 with an OpenAI error body (gRPC: UNAVAILABLE).
    Http500,
}

impl Fault {
    /// Every fault, in declaration order.
    pub const ALL: [Fault; 5] = [
        Fault::InvalidSse,
        Fault::CutMidStream,
        Fault::Stall,
        Fault::OversizedLine,
        Fault::Http500,
    ];

    /// The kebab-case name used in config, flags and headers.
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::InvalidSse => "invalid-sse",
            Fault::CutMidStream => "cut-mid-stream",
            Fault::Stall => "stall",
            Fault::OversizedLine => "oversized-line",
            Fault::Http500 => "http500",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text given is not a fault name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown fault {0:?}: expected one of invalid-sse, cut-mid-stream, stall, oversized-line, http500"
)]
pub struct UnknownFault(pub String);

impl FromStr for Fault {
    type Err = UnknownFault;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        Fault::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(wanted))
            .or_else(|| {
                wanted
                    .eq_ignore_ascii_case("http-500")
                    .then_some(Fault::Http500)
            })
            .ok_or_else(|| UnknownFault(s.to_owned()))
    }
}

/// What one request asked to change, read from headers or gRPC metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Overrides {
    /// `Some(None)`: `none` was asked, disabling a configured fault.
    pub fault: Option<Option<Fault>>,
    pub ttft: Option<Duration>,
    pub tokens: Option<u32>,
    pub inter_token: Option<Duration>,
}

impl Overrides {
    /// Reads the overrides through `get`, which returns a header / metadata
    /// value as text (`None` when absent). The error names the key.
    pub fn read<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<Overrides, String> {
        let mut out = Overrides::default();
        if let Some(v) = get(FAULT_HEADER) {
            out.fault = Some(if v.trim().eq_ignore_ascii_case("none") {
                None
            } else {
                Some(
                    v.parse::<Fault>()
                        .map_err(|e| format!("{FAULT_HEADER}: {e}"))?,
                )
            });
        }
        if let Some(v) = get(TTFT_MS_HEADER) {
            out.ttft = Some(parse_delay_ms(TTFT_MS_HEADER, v)?);
        }
        if let Some(v) = get(INTER_TOKEN_MS_HEADER) {
            out.inter_token = Some(parse_delay_ms(INTER_TOKEN_MS_HEADER, v)?);
        }
        if let Some(v) = get(TOKENS_HEADER) {
            let n: u32 = v
                .trim()
                .parse()
                .map_err(|_| format!("{TOKENS_HEADER}: expected a whole number, got {v:?}"))?;
            if n > MAX_TOKENS {
                return Err(format!("{TOKENS_HEADER}: at most {MAX_TOKENS}, got {n}"));
            }
            out.tokens = Some(n);
        }
        Ok(out)
    }
}

fn parse_delay_ms(key: &str, v: &str) -> Result<Duration, String> {
    let ms: f64 = v
        .trim()
        .parse()
        .map_err(|_| format!("{key}: expected milliseconds, got {v:?}"))?;
    if !ms.is_finite() || ms < 0.0 {
        return Err(format!(
            "{key}: expected non-negative milliseconds, got {v:?}"
        ));
    }
    let d = Duration::from_secs_f64(ms / 1000.0);
    if d > MAX_OVERRIDE_DELAY {
        return Err(format!(
            "{key}: at most {} ms, got {v}",
            MAX_OVERRIDE_DELAY.as_millis()
        ));
    }
    Ok(d)
}

/// `Duration` as (possibly fractional) milliseconds.
mod millis {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64() * 1000.0)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let ms = f64::deserialize(d)?;
        if !ms.is_finite() || ms < 0.0 {
            return Err(D::Error::custom(format!(
                "expected non-negative milliseconds, got {ms}"
            )));
        }
        Duration::try_from_secs_f64(ms / 1000.0).map_err(D::Error::custom)
    }
}

/// `Option<Duration>` as (possibly fractional) seconds.
mod opt_secs {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        match Option::<f64>::deserialize(d)? {
            None => Ok(None),
            Some(s) if s.is_finite() && s >= 0.0 => Duration::try_from_secs_f64(s)
                .map(Some)
                .map_err(D::Error::custom),
            Some(s) => Err(D::Error::custom(format!(
                "expected non-negative seconds, got {s}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn defaults_are_a_fast_agent() {
        let c = TestbedConfig::default();
        assert_eq!(c.ttft, Duration::from_millis(50));
        assert_eq!(c.inter_token, Duration::from_millis(5));
        assert_eq!(c.tokens, 32);
        assert_eq!(c.retrieval_latency, Duration::from_millis(2));
        assert!(c.export_ttft_histogram);
        assert_eq!(c.model, "testbed-1");
        assert!(c.validate().is_ok());
    }

    #[test]
    fn deserializes_with_defaults_and_units_in_keys() {
        let c: TestbedConfig = serde_json::from_str(
            r#"{"ttft_ms": 120, "fault": "cut-mid-stream", "idle_reset_s": 1.5, "jitter_ms": 0.5}"#,
        )
        .unwrap();
        assert_eq!(c.ttft, Duration::from_millis(120));
        assert_eq!(c.fault, Some(Fault::CutMidStream));
        assert_eq!(c.idle_reset, Some(Duration::from_millis(1500)));
        assert_eq!(c.jitter, Duration::from_micros(500));
        assert_eq!(c.tokens, 32);
    }

    #[test]
    fn rejects_unknown_keys_and_negative_delays() {
        assert!(serde_json::from_str::<TestbedConfig>(r#"{"ttft": 1}"#).is_err());
        assert!(serde_json::from_str::<TestbedConfig>(r#"{"ttft_ms": -1}"#).is_err());
    }

    #[test]
    fn config_round_trips_through_json() {
        let c = TestbedConfig {
            idle_reset: Some(Duration::from_secs(3)),
            fault: Some(Fault::Stall),
            ..TestbedConfig::default()
        };
        let text = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<TestbedConfig>(&text).unwrap(), c);
    }

    #[test]
    fn validate_rejects_bad_error_rate() {
        let c = TestbedConfig {
            error_rate: 1.5,
            ..TestbedConfig::default()
        };
        assert!(c.validate().unwrap_err().contains("error_rate"));
        let c = TestbedConfig {
            error_rate: f64::NAN,
            ..TestbedConfig::default()
        };
        assert!(c.validate().is_err());
    }

    #[test]
    fn fault_names_round_trip() {
        for f in Fault::ALL {
            assert_eq!(f.as_str().parse::<Fault>().unwrap(), f);
            assert_eq!(
                serde_json::to_string(&f).unwrap(),
                format!("\"{}\"", f.as_str())
            );
        }
        assert_eq!("HTTP-500".parse::<Fault>().unwrap(), Fault::Http500);
        assert!("explode".parse::<Fault>().is_err());
    }

    #[test]
    fn overrides_parse_and_name_the_bad_key() {
        let h: HashMap<&str, &str> = [
            (FAULT_HEADER, "stall"),
            (TTFT_MS_HEADER, "7.5"),
            (TOKENS_HEADER, "3"),
            (INTER_TOKEN_MS_HEADER, "0"),
        ]
        .into();
        let o = Overrides::read(|k| h.get(k).copied()).unwrap();
        assert_eq!(o.fault, Some(Some(Fault::Stall)));
        assert_eq!(o.ttft, Some(Duration::from_micros(7500)));
        assert_eq!(o.tokens, Some(3));
        assert_eq!(o.inter_token, Some(Duration::ZERO));

        let none = Overrides::read(|k| (k == FAULT_HEADER).then_some("none")).unwrap();
        assert_eq!(none.fault, Some(None));

        let err = Overrides::read(|k| (k == TTFT_MS_HEADER).then_some("soon")).unwrap_err();
        assert!(err.contains(TTFT_MS_HEADER));
        let err = Overrides::read(|k| (k == TOKENS_HEADER).then_some("-1")).unwrap_err();
        assert!(err.contains(TOKENS_HEADER));
        assert!(Overrides::read(|k| (k == TTFT_MS_HEADER).then_some("1e12")).is_err());
    }
}
