//! What ended each request of a run: its HTTP status, its gRPC status, or
//! the kind of failure that came before any status. Counted exactly, one
//! entry per finished request (answered or failed; a request abandoned in
//! flight at the end is in neither), so the counts add up to
//! `requests.ok + requests.errors`.
//!
//! ```
//! use cockpit_probe::ErrorKind;
//! use cockpit_probe::load::{ResponseStatus, StatusCounts};
//! let mut c = StatusCounts::default();
//! c.add(ResponseStatus::Http(200));
//! c.add(ResponseStatus::Http(503));
//! c.add(ResponseStatus::Failed(ErrorKind::Connect));
//! assert_eq!(c.total(), 3);
//! let keys: Vec<String> = c.iter().map(|(s, _)| s.to_string()).collect();
//! assert_eq!(keys, ["200", "503", "connect"]);
//! assert_eq!("UNAVAILABLE".parse::<ResponseStatus>().unwrap(), ResponseStatus::Grpc(14));
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

use crate::ErrorKind;

/// The canonical gRPC status code names, by code (0..=16).
const GRPC_NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// How one request ended. Ordered: HTTP statuses, then gRPC codes, then
/// failures without a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ResponseStatus {
    /// An HTTP response's status code (`200`, `503`), whatever came after
    /// it (a body cut short still counts under its status, and as an error).
    Http(u16),
    /// A gRPC call's final status code (0..=16), shown by its name (`OK`,
    /// `UNAVAILABLE`).
    Grpc(u8),
    /// No status came: the request failed first (`connect`, `timeout`, …).
    Failed(ErrorKind),
}

impl ResponseStatus {
    /// A gRPC status from tonic's code.
    pub(crate) fn grpc(code: tonic::Code) -> Self {
        ResponseStatus::Grpc(u8::try_from(code as i32).unwrap_or(2))
    }

    /// Whether a status came (HTTP or gRPC) rather than a failure before it.
    pub fn answered(self) -> bool {
        !matches!(self, ResponseStatus::Failed(_))
    }
}

impl fmt::Display for ResponseStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ResponseStatus::Http(c) => write!(f, "{c}"),
            ResponseStatus::Grpc(c) => match GRPC_NAMES.get(usize::from(c)) {
                Some(n) => f.write_str(n),
                None => write!(f, "grpc-{c}"),
            },
            ResponseStatus::Failed(k) => f.write_str(k.as_str()),
        }
    }
}

impl FromStr for ResponseStatus {
    type Err = String;

    /// The [`Display`](fmt::Display) form back: `100`..=`999`, a gRPC code
    /// name, or an error kind.
    fn from_str(s: &str) -> Result<Self, String> {
        if let Ok(code) = s.parse::<u16>() {
            return if (100..=999).contains(&code) && s.len() == 3 {
                Ok(ResponseStatus::Http(code))
            } else {
                Err(format!("{s:?} is not an HTTP status code"))
            };
        }
        if let Some(i) = GRPC_NAMES.iter().position(|n| *n == s) {
            return Ok(ResponseStatus::Grpc(i as u8));
        }
        ErrorKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .map(ResponseStatus::Failed)
            .ok_or_else(|| {
                format!("{s:?} is neither an HTTP status, a gRPC code name nor an error kind")
            })
    }
}

impl Serialize for ResponseStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Requests by how they ended. Its JSON form is a map from the status's
/// text (`"200"`, `"UNAVAILABLE"`, `"connect"`) to its count.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct StatusCounts(BTreeMap<ResponseStatus, u64>);

impl StatusCounts {
    /// Count one request. Allocates only for a status not seen before.
    #[inline]
    pub fn add(&mut self, status: ResponseStatus) {
        self.add_n(status, 1);
    }

    /// Count `n` requests that ended with `status`.
    pub fn add_n(&mut self, status: ResponseStatus, n: u64) {
        if n > 0 {
            *self.0.entry(status).or_insert(0) += n;
        }
    }

    /// Add every count of `other`.
    pub fn merge(&mut self, other: &StatusCounts) {
        for (s, n) in &other.0 {
            self.add_n(*s, *n);
        }
    }

    /// Requests counted.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// Requests that ended with `status`.
    pub fn get(&self, status: ResponseStatus) -> u64 {
        self.0.get(&status).copied().unwrap_or(0)
    }

    /// Every status with its count, in order (HTTP, gRPC, failures).
    pub fn iter(&self) -> impl Iterator<Item = (ResponseStatus, u64)> + '_ {
        self.0.iter().map(|(s, n)| (*s, *n))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The counts keyed by text, as a worker result stores them.
    pub(crate) fn to_text_map(&self) -> BTreeMap<String, u64> {
        self.0.iter().map(|(s, n)| (s.to_string(), *n)).collect()
    }

    /// Read what [`to_text_map`](Self::to_text_map) wrote.
    pub(crate) fn from_text_map(m: &BTreeMap<String, u64>) -> Result<Self, String> {
        let mut c = StatusCounts::default();
        for (k, n) in m {
            c.add_n(k.parse()?, *n);
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_reads_back_from_its_text() {
        let all = [
            ResponseStatus::Http(100),
            ResponseStatus::Http(200),
            ResponseStatus::Http(503),
            ResponseStatus::Http(999),
        ]
        .into_iter()
        .chain((0..17).map(ResponseStatus::Grpc))
        .chain(ErrorKind::ALL.into_iter().map(ResponseStatus::Failed));
        for s in all {
            assert_eq!(s.to_string().parse::<ResponseStatus>(), Ok(s), "{s}");
        }
        for bad in ["99", "1000", "0200", "ok", "Unavailable", "", "http_6xx"] {
            assert!(bad.parse::<ResponseStatus>().is_err(), "{bad}");
        }
        assert_eq!(
            ResponseStatus::grpc(tonic::Code::Unavailable).to_string(),
            "UNAVAILABLE"
        );
    }

    #[test]
    fn counts_merge_and_serialise_as_a_map() {
        let mut a = StatusCounts::default();
        a.add(ResponseStatus::Http(200));
        a.add(ResponseStatus::Http(200));
        let mut b = StatusCounts::default();
        b.add(ResponseStatus::Http(500));
        b.add(ResponseStatus::Http(200));
        b.add_n(ResponseStatus::Failed(ErrorKind::Timeout), 0);
        a.merge(&b);
        assert_eq!(a.get(ResponseStatus::Http(200)), 3);
        assert_eq!(a.total(), 4);
        assert_eq!(serde_json::to_string(&a).unwrap(), r#"{"200":3,"500":1}"#);
        assert_eq!(StatusCounts::from_text_map(&a.to_text_map()).unwrap(), a);
    }
}
