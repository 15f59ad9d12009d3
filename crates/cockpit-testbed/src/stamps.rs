//! Server-side timing truth: when each request arrived and when its first
//! and last tokens were handed to the transport.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// How many stamps a [`StampLog`] keeps before dropping the oldest.
pub const STAMP_CAPACITY: usize = 100_000;

/// What the server did with one request, keyed by its request id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    /// The `x-request-id` header (HTTP) or `request_id` field (gRPC); a
    /// generated UUID when the client sent none.
    pub request_id: String,
    /// When the handler received the whole request.
    pub received_at: SystemTime,
    /// Right before the first content token was handed to the transport.
    pub first_token_sent_at: Option<SystemTime>,
    /// Right before the last content token was handed to the transport.
    pub last_token_sent_at: Option<SystemTime>,
    /// Content tokens handed to the transport.
    pub tokens_sent: u32,
    /// Whether this request paid the cold-start delay.
    pub cold_start: bool,
    /// Whether the system prompt was found in the prefix cache.
    pub prefix_cache_hit: bool,
}

impl Stamp {
    /// A stamp for a request just received.
    pub(crate) fn received(
        request_id: String,
        received_at: SystemTime,
        cold_start: bool,
        prefix_cache_hit: bool,
    ) -> Stamp {
        Stamp {
            request_id,
            received_at,
            first_token_sent_at: None,
            last_token_sent_at: None,
            tokens_sent: 0,
            cold_start,
            prefix_cache_hit,
        }
    }

    /// The JSON shape served at `/testbed/stamps/{request_id}`.
    pub(crate) fn to_json(&self) -> StampJson<'_> {
        StampJson {
            request_id: &self.request_id,
            received_unix_ns: unix_ns(self.received_at),
            first_token_sent_unix_ns: self.first_token_sent_at.map(unix_ns),
            last_token_sent_unix_ns: self.last_token_sent_at.map(unix_ns),
            tokens_sent: self.tokens_sent,
            cold_start: self.cold_start,
            prefix_cache_hit: self.prefix_cache_hit,
        }
    }
}

/// A [`Stamp`] with unix-nanosecond times.
#[derive(Debug, Serialize)]
pub(crate) struct StampJson<'a> {
    request_id: &'a str,
    received_unix_ns: u128,
    first_token_sent_unix_ns: Option<u128>,
    last_token_sent_unix_ns: Option<u128>,
    tokens_sent: u32,
    cold_start: bool,
    prefix_cache_hit: bool,
}

/// Nanoseconds since the unix epoch (0 for times before it).
pub(crate) fn unix_ns(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

/// A bounded log of [`Stamp`]s: the newest [`STAMP_CAPACITY`] requests.
#[derive(Debug)]
pub struct StampLog {
    inner: Mutex<Ring>,
    capacity: usize,
}

#[derive(Debug, Default)]
struct Ring {
    /// Stamp and the generation it was inserted with.
    by_id: HashMap<String, (u64, Stamp)>,
    /// Insertion order; entries whose generation no longer matches `by_id`
    /// were overwritten by a later request with the same id.
    order: VecDeque<(u64, String)>,
    next_gen: u64,
}

impl Default for StampLog {
    fn default() -> Self {
        StampLog::with_capacity(STAMP_CAPACITY)
    }
}

impl StampLog {
    /// A log that keeps at most `capacity` stamps (at least one).
    pub fn with_capacity(capacity: usize) -> StampLog {
        StampLog {
            inner: Mutex::new(Ring::default()),
            capacity: capacity.max(1),
        }
    }

    /// The stamp of `request_id`, if it is still in the log.
    pub fn get(&self, request_id: &str) -> Option<Stamp> {
        self.lock().by_id.get(request_id).map(|(_, s)| s.clone())
    }

    /// Stamps held.
    pub fn len(&self) -> usize {
        self.lock().by_id.len()
    }

    /// Whether the log holds no stamp.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records a new request, replacing any earlier stamp with the same id
    /// and dropping the oldest when full.
    pub(crate) fn insert(&self, stamp: Stamp) {
        let mut ring = self.lock();
        let generation = ring.next_gen;
        ring.next_gen += 1;
        ring.order.push_back((generation, stamp.request_id.clone()));
        ring.by_id
            .insert(stamp.request_id.clone(), (generation, stamp));
        while ring.by_id.len() > self.capacity || ring.order.len() > 2 * self.capacity {
            let Some((old_gen, old_id)) = ring.order.pop_front() else {
                break;
            };
            if ring.by_id.get(&old_id).is_some_and(|(g, _)| *g == old_gen) {
                ring.by_id.remove(&old_id);
            }
        }
    }

    /// Changes the stamp of `request_id`, if it is still in the log.
    pub(crate) fn update(&self, request_id: &str, f: impl FnOnce(&mut Stamp)) {
        if let Some((_, s)) = self.lock().by_id.get_mut(request_id) {
            f(s);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        // A panic while holding the lock cannot leave a Ring half-updated in a
        // way that matters for timing stamps; keep serving.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(id: &str) -> Stamp {
        Stamp::received(id.to_owned(), SystemTime::now(), false, false)
    }

    #[test]
    fn drops_oldest_when_full() {
        let log = StampLog::with_capacity(3);
        for i in 0..5 {
            log.insert(stamp(&format!("r{i}")));
        }
        assert_eq!(log.len(), 3);
        assert!(log.get("r0").is_none());
        assert!(log.get("r1").is_none());
        assert!(log.get("r4").is_some());
    }

    #[test]
    fn reused_id_keeps_the_newest_stamp() {
        let log = StampLog::with_capacity(2);
        log.insert(stamp("a"));
        log.insert(stamp("b"));
        log.update("a", |s| s.tokens_sent = 7);
        log.insert(stamp("a")); // newer "a" replaces the old one
        log.insert(stamp("c")); // evicts the stale "a" entry, then "b"
        assert_eq!(log.get("a").map(|s| s.tokens_sent), Some(0));
        assert!(log.get("c").is_some());
        assert_eq!(log.len(), 2);
    }

    #[test]
    fn update_changes_and_json_has_unix_ns() {
        let log = StampLog::default();
        log.insert(stamp("x"));
        let t = UNIX_EPOCH + std::time::Duration::from_nanos(1_500);
        log.update("x", |s| {
            s.first_token_sent_at = Some(t);
            s.tokens_sent = 1;
        });
        log.update("missing", |s| s.tokens_sent = 9);
        let s = log.get("x").unwrap();
        let json = serde_json::to_value(s.to_json()).unwrap();
        assert_eq!(json["first_token_sent_unix_ns"], 1_500);
        assert_eq!(json["last_token_sent_unix_ns"], serde_json::Value::Null);
        assert_eq!(json["tokens_sent"], 1);
        assert!(log.get("missing").is_none());
    }
}
