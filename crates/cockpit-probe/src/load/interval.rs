//! Per-interval series, and HdrHistogram interval logs: the portable,
//! exactly mergeable form of a run's distributions (one line per interval
//! and tag, a base64 V2-deflate histogram), readable by HdrHistogram's own
//! tools and by [`read_interval_log`] to merge the logs of several workers.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, SystemTime};

use cockpit_core::Distribution;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, Tag,
};
use serde::Serialize;

use crate::ProbeError;

/// What one worker measured during one interval; sent to the aggregator.
#[derive(Debug)]
pub(crate) struct IntervalAcc {
    pub latency: Distribution,
    pub ok: u64,
    pub errors: u64,
}

impl IntervalAcc {
    pub fn new() -> Self {
        IntervalAcc {
            latency: Distribution::new(),
            ok: 0,
            errors: 0,
        }
    }

    pub fn merge(&mut self, o: &IntervalAcc) {
        self.latency.merge(&o.latency);
        self.ok += o.ok;
        self.errors += o.errors;
    }
}

/// One interval of a run, all workers merged: what the progress display
/// shows and what the report's `intervals` series holds.
#[derive(Debug, Clone, Serialize)]
pub struct IntervalReport {
    /// 0-based interval number.
    pub index: u64,
    /// Interval start, seconds from the run's start.
    pub start_s: f64,
    /// Interval length, seconds (the last one may be short).
    pub length_s: f64,
    /// Successful requests completed in the interval.
    pub requests: u64,
    pub errors: u64,
    /// `requests / length_s`.
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// The interval's latency histogram (for HdrHistogram interval logs):
    /// present in what the progress channel receives, absent from the
    /// report's series (so a long run's report stays small).
    #[serde(skip)]
    pub latency: Option<Distribution>,
}

impl IntervalReport {
    /// The figures without the histogram.
    pub(crate) fn clone_numbers(&self) -> IntervalReport {
        IntervalReport {
            index: self.index,
            start_s: self.start_s,
            length_s: self.length_s,
            requests: self.requests,
            errors: self.errors,
            rps: self.rps,
            p50_ms: self.p50_ms,
            p99_ms: self.p99_ms,
            max_ms: self.max_ms,
            latency: None,
        }
    }

    pub(crate) fn from_acc(
        index: u64,
        start: Duration,
        length: Duration,
        acc: IntervalAcc,
    ) -> Self {
        let s = acc.latency.summary();
        let secs = length.as_secs_f64();
        IntervalReport {
            index,
            start_s: start.as_secs_f64(),
            length_s: secs,
            requests: acc.ok,
            errors: acc.errors,
            rps: if secs > 0.0 {
                acc.ok as f64 / secs
            } else {
                0.0
            },
            p50_ms: s.p50_ms,
            p99_ms: s.p99_ms,
            max_ms: s.max_ms,
            latency: Some(acc.latency),
        }
    }
}

/// Writes interval histograms as an HdrHistogram interval log (values, and
/// the `max` column, in microseconds).
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use cockpit_core::Distribution;
/// use cockpit_probe::load::{HdrLogWriter, read_interval_log};
/// let mut d = Distribution::new();
/// d.record(Duration::from_millis(4));
/// let mut out = Vec::new();
/// let mut log = HdrLogWriter::new(&mut out, SystemTime::UNIX_EPOCH).unwrap();
/// log.write("latency", Duration::ZERO, Duration::from_secs(1), &d).unwrap();
/// drop(log);
/// let merged = read_interval_log(&out).unwrap();
/// assert_eq!(merged["latency"].count(), 1);
/// ```
pub struct HdrLogWriter<W: Write> {
    out: W,
    serializer: V2DeflateSerializer,
}

impl<W: Write> std::fmt::Debug for HdrLogWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HdrLogWriter")
    }
}

fn log_err(e: impl std::fmt::Debug) -> ProbeError {
    ProbeError::InvalidOption {
        name: "hdr_log",
        reason: format!("{e:?}"),
    }
}

impl<W: Write> HdrLogWriter<W> {
    /// Writes the log header (start time, base time) to `out`.
    pub fn new(mut out: W, start: SystemTime) -> Result<Self, ProbeError> {
        {
            let _ = IntervalLogWriterBuilder::new()
                .with_start_time(start)
                .with_base_time(start)
                .begin_log_with(&mut out, &mut V2DeflateSerializer::new())
                .map_err(log_err)?;
        }
        Ok(HdrLogWriter {
            out,
            serializer: V2DeflateSerializer::new(),
        })
    }

    /// Appends one interval histogram under `tag`.
    pub fn write(
        &mut self,
        tag: &str,
        start: Duration,
        length: Duration,
        d: &Distribution,
    ) -> Result<(), ProbeError> {
        // The builder writes the header again only with `begin_log_with`; the
        // line writer below shares the same format.
        let mut w = IntervalLogWriterBuilder::new()
            .begin_log_with(&mut self.out, &mut self.serializer)
            .map_err(log_err)?;
        let tag = Tag::new(tag)
            .ok_or_else(|| log_err("a tag must not contain spaces, commas or newlines"))?;
        w.write_histogram(d.histogram(), start, length, Some(tag))
            .map_err(log_err)?;
        Ok(())
    }
}

/// Read an interval log (ours or any HdrHistogram tool's, values in
/// microseconds) and merge its histograms per tag (`""` for untagged).
/// Merging the logs of several workers this way is exact.
pub fn read_interval_log(bytes: &[u8]) -> Result<BTreeMap<String, Distribution>, ProbeError> {
    use hdrhistogram::serialization::Deserializer;
    let mut out: BTreeMap<String, Distribution> = BTreeMap::new();
    let mut de = Deserializer::new();
    for entry in IntervalLogIterator::new(bytes) {
        let entry = entry.map_err(log_err)?;
        if let LogEntry::Interval(ih) = entry {
            let raw = base64_decode(ih.encoded_histogram())
                .ok_or_else(|| log_err("a histogram line is not base64"))?;
            let h: Histogram<u64> = de
                .deserialize(&mut std::io::Cursor::new(&raw))
                .map_err(log_err)?;
            let mut bytes = Vec::new();
            use hdrhistogram::serialization::{Serializer as _, V2Serializer};
            V2Serializer::new()
                .serialize(&h, &mut bytes)
                .map_err(log_err)?;
            let d = Distribution::from_v2_bytes(&bytes).map_err(log_err)?;
            out.entry(ih.tag().map(|t| t.as_str().to_string()).unwrap_or_default())
                .or_default()
                .merge(&d);
        }
    }
    Ok(out)
}

/// Standard base64 (RFC 4648, with padding), as the interval log uses.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let s = s.trim().trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    for chunk in s.chunks(4) {
        let mut acc = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            acc |= val(*c)? << (18 - 6 * i);
        }
        let n = match chunk.len() {
            4 => 3,
            3 => 2,
            2 => 1,
            _ => return None,
        };
        out.extend_from_slice(&acc.to_be_bytes()[1..1 + n]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_of_two_workers_merge_to_the_combined_histogram() {
        let mut all = Distribution::new();
        let mut out = Vec::new();
        {
            let mut log = HdrLogWriter::new(&mut out, SystemTime::UNIX_EPOCH).unwrap();
            for interval in 0..3u64 {
                let mut d = Distribution::new();
                for i in 0..500u64 {
                    let v = Duration::from_micros(50 + (i * 7919 + interval * 104_729) % 900_000);
                    d.record(v);
                    all.record(v);
                }
                log.write(
                    "latency",
                    Duration::from_secs(interval),
                    Duration::from_secs(1),
                    &d,
                )
                .unwrap();
            }
        }
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.contains("Tag=latency,"), "{text}");
        let merged = read_interval_log(&out).unwrap();
        assert_eq!(merged["latency"].histogram(), all.histogram());
    }

    #[test]
    fn base64_round_trip() {
        assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64_decode("aGk=").unwrap(), b"hi");
        assert!(base64_decode("a$==").is_none());
    }
}
