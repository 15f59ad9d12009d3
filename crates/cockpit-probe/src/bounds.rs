//! The time bounds of one request, as docs/measurements.md ("Timeouts")
//! defines them:
//!
//! - **the whole request** (`timeout`): from the request's start (before
//!   DNS when it opens a connection) to its last byte. Connecting (DNS, TCP,
//!   TLS, the HTTP handshake) and waiting for the response head are inside
//!   it; a request still running at this bound is a `timeout` failure whose
//!   message says how far it got ([`Progress`]).
//! - **the idle gap** (`idle_timeout`, default `timeout`): in a stream, the
//!   longest wait for the next event after the response head or the
//!   previous event. Bytes that complete no event (comments, keep-alive
//!   lines, a line that never ends, one byte at a time) are not progress. A
//!   longer gap is a `stall` failure.
//!
//! So a stream that never ends, or never progresses, ends at one bound or
//! the other, whatever the server sends.

use std::future::Future;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::conn::Failure;
use crate::report::ErrorKind;

/// The bounds of one request, started when it starts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    deadline: tokio::time::Instant,
    timeout: Duration,
    idle: Duration,
}

impl Bounds {
    /// Bounds for a request starting now.
    pub fn starting_now(timeout: Duration, idle: Duration) -> Self {
        Bounds {
            deadline: tokio::time::Instant::now() + timeout,
            timeout,
            idle,
        }
    }

    /// The instant the whole request must be done by.
    pub fn deadline(&self) -> tokio::time::Instant {
        self.deadline
    }

    /// When the wait for a stream's next event ends: `idle` after the last
    /// progress, or the request's deadline if that comes first.
    pub fn next_event_by(&self, last_progress: Instant) -> tokio::time::Instant {
        tokio::time::Instant::from_std(last_progress + self.idle).min(self.deadline)
    }

    /// The failure of a stream whose wait for its next event (until
    /// [`next_event_by`](Self::next_event_by)) ran out: a `timeout` when the
    /// request's deadline has passed, else a `stall`.
    pub fn stream_ran_out(&self, progress: &Progress, what: &str) -> Failure {
        if tokio::time::Instant::now() >= self.deadline {
            return progress.late(what, self.timeout);
        }
        Failure::new(
            ErrorKind::Stall,
            format!(
                "the stream from {what} sent no event for {:?} (idle timeout) after {} events",
                self.idle,
                progress.events()
            ),
        )
    }

    /// Run `request` within the whole-request bound.
    pub async fn within<T>(
        &self,
        progress: &Progress,
        what: &str,
        request: impl Future<Output = Result<T, Failure>>,
    ) -> Result<T, Failure> {
        match tokio::time::timeout_at(self.deadline, request).await {
            Ok(r) => r,
            Err(_) => Err(progress.late(what, self.timeout)),
        }
    }
}

/// How far a request got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Stage {
    /// DNS, TCP, TLS, the HTTP handshake.
    Connect = 0,
    /// The request is written; the response head has not come.
    Head = 1,
    /// Reading a plain response body.
    Body = 2,
    /// Reading a stream's events.
    Stream = 3,
}

/// How far a request got, updated as it goes and read when it runs out of
/// time (atomics, so that the request's future stays `Send`).
#[derive(Debug, Default)]
pub(crate) struct Progress {
    stage: AtomicU8,
    events: AtomicU64,
}

impl Progress {
    pub fn at(&self, stage: Stage) {
        self.stage.store(stage as u8, Ordering::Relaxed);
    }

    /// `n` more stream events.
    pub fn add_events(&self, n: u64) {
        self.events.fetch_add(n, Ordering::Relaxed);
    }

    pub fn events(&self) -> u64 {
        self.events.load(Ordering::Relaxed)
    }

    /// The `timeout` failure of a request that ran past its bound.
    pub fn late(&self, what: &str, timeout: Duration) -> Failure {
        let stage = self.stage.load(Ordering::Relaxed);
        let message = match stage {
            s if s == Stage::Connect as u8 => format!(
                "connecting to {what} (DNS, TCP, TLS, HTTP handshake) took longer than the request timeout, {timeout:?}"
            ),
            s if s == Stage::Head as u8 => {
                format!("no response head from {what} within {timeout:?}")
            }
            s if s == Stage::Body as u8 => {
                format!("the body from {what} was not complete within {timeout:?}")
            }
            _ => format!(
                "the stream from {what} did not finish within the request timeout, {timeout:?}, after {} events",
                self.events()
            ),
        };
        Failure::new(ErrorKind::Timeout, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_whole_request_bound_names_the_stage_it_stopped_at() {
        let b = Bounds::starting_now(Duration::from_secs(2), Duration::from_secs(2));
        let p = Progress::default();
        p.at(Stage::Head);
        let r: Result<(), Failure> = b.within(&p, "http://h/", std::future::pending()).await;
        let f = r.unwrap_err();
        assert_eq!(f.kind, ErrorKind::Timeout);
        assert!(f.message.contains("no response head"), "{}", f.message);
        p.at(Stage::Stream);
        p.add_events(1);
        let f = p.late("http://h/", Duration::from_secs(2));
        assert!(f.message.contains("after 1 events"), "{}", f.message);
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_gap_shorter_than_the_deadline_is_a_stall() {
        let b = Bounds::starting_now(Duration::from_secs(10), Duration::from_secs(1));
        let p = Progress::default();
        let by = b.next_event_by(Instant::now());
        assert!(by < b.deadline());
        tokio::time::sleep_until(by).await;
        assert_eq!(b.stream_ran_out(&p, "u").kind, ErrorKind::Stall);
        tokio::time::sleep_until(b.deadline()).await;
        assert_eq!(b.stream_ran_out(&p, "u").kind, ErrorKind::Timeout);
    }
}
