//! STA-ROUNDTRIP: a session document written under the check's own key
//! reads back byte-exact, carries its TTL, and is deleted.

use std::time::{Duration, Instant};

use cockpit_core::{CheckId, CheckSpec, Finding, Measurement, Pillar, Severity, Status, Unit};
use tokio_util::sync::CancellationToken;

use super::{not_measured, on};
use crate::StmError;
use crate::conn::{Conn, OwnWrite};

pub const STA_ROUNDTRIP: CheckSpec = CheckSpec {
    id: CheckId::new("STA-ROUNDTRIP"),
    pillar: Pillar::State,
    severity: Severity::High,
    title: "Session write / read / expire round trip",
};

/// What the round trip saw.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RoundTrip {
    /// Written, read back identical, TTL set, deleted.
    Ok {
        bytes: usize,
        ttl_s: i64,
        elapsed: Duration,
    },
    /// Read back different bytes (or nothing).
    Mismatch { wrote: usize, read: Option<usize> },
    /// Read back identical but without a TTL (`TTL` gave `ttl`).
    NoTtl { ttl: i64 },
    /// The server refused the write.
    WriteRejected(StmError),
    /// A command failed or timed out.
    Failed(StmError),
    /// Cancelled before it finished (the key is still deleted by the audit).
    Interrupted,
}

/// `SET key doc EX ttl NX` → `GET` → `TTL` → `DEL` on the check's own key.
pub(crate) async fn run(
    conn: &Conn,
    key: &str,
    ttl: Duration,
    cancel: &CancellationToken,
) -> RoundTrip {
    tokio::select! {
        biased;
        _ = cancel.cancelled() => RoundTrip::Interrupted,
        r = steps(conn, key, ttl) => r,
    }
}

async fn steps(conn: &Conn, key: &str, ttl: Duration) -> RoundTrip {
    let doc = crate::latency::session_document(key, 1024);
    let ttl_s = ttl.as_secs().max(1) as i64;
    let start = Instant::now();
    match conn.write_own_key(key, &doc, ttl, OwnWrite::Create).await {
        Ok(()) => {}
        Err(e) if e.is_read_only() || e.is_out_of_memory() => return RoundTrip::WriteRejected(e),
        Err(e) => return RoundTrip::Failed(e),
    }
    let read = match conn.get(key).await {
        Ok(v) => v,
        Err(e) => return RoundTrip::Failed(e),
    };
    let ttl_read = match conn.ttl(key.as_bytes()).await {
        Ok(v) => v,
        Err(e) => return RoundTrip::Failed(e),
    };
    let deleted = conn.del(key).await;
    let elapsed = start.elapsed();
    if read.as_deref() != Some(doc.as_slice()) {
        return RoundTrip::Mismatch {
            wrote: doc.len(),
            read: read.map(|r| r.len()),
        };
    }
    if !(1..=ttl_s).contains(&ttl_read) {
        return RoundTrip::NoTtl { ttl: ttl_read };
    }
    match deleted {
        Ok(1) => RoundTrip::Ok {
            bytes: doc.len(),
            ttl_s: ttl_read,
            elapsed,
        },
        Ok(n) => RoundTrip::Failed(StmError::Command {
            url: conn.url.clone(),
            what: "DEL",
            message: format!("deleted {n} keys instead of 1"),
        }),
        Err(e) => RoundTrip::Failed(e),
    }
}

pub fn evaluate(url: &str, r: &RoundTrip) -> Finding {
    let rec = "Check the server's memory (maxmemory, eviction) and that the URL points at the primary, not a replica.";
    match r {
        RoundTrip::Ok { bytes, ttl_s, elapsed } => on(
            &STA_ROUNDTRIP,
            url,
            Status::Pass,
            format!("a {bytes}-byte session document was written with a TTL, read back byte-exact (TTL {ttl_s} s) and deleted, in {:.2} ms", elapsed.as_secs_f64() * 1000.0),
        )
        .with_measurement(Measurement::new("roundtrip", elapsed.as_secs_f64() * 1000.0, Unit::Milliseconds, "client-side, SET EX NX → GET → TTL → DEL on the check's own key, sequential", 1))
        .with_measurement(Measurement::new("document_size", *bytes as f64, Unit::Bytes, "bytes written and read back", 1)),
        RoundTrip::Mismatch { wrote, read } => on(
            &STA_ROUNDTRIP,
            url,
            Status::Fail,
            match read {
                Some(n) => format!("wrote {wrote} bytes and read back {n} different bytes: the store does not return what it was given"),
                None => format!("wrote {wrote} bytes and read back nothing: the key vanished right after it was written (eviction, or a proxy routing reads elsewhere)"),
            },
        )
        .with_recommendation(rec),
        RoundTrip::NoTtl { ttl } => on(
            &STA_ROUNDTRIP,
            url,
            Status::Fail,
            format!("the document was written with EX but TTL reads {ttl}: expiry is not applied"),
        )
        .with_recommendation(rec),
        RoundTrip::WriteRejected(e) if e.is_read_only() => not_measured(
            &STA_ROUNDTRIP,
            url,
            format!("the server is a read-only replica and refused the write ({e}); point [stm] url at the primary"),
        ),
        RoundTrip::WriteRejected(e) => on(
            &STA_ROUNDTRIP,
            url,
            Status::Fail,
            format!("the server refused a session write: {e}"),
        )
        .with_recommendation("The store is full under noeviction: raise maxmemory, put TTLs on session keys, or move other data off the session store."),
        RoundTrip::Failed(e) => not_measured(&STA_ROUNDTRIP, url, e),
        RoundTrip::Interrupted => not_measured(&STA_ROUNDTRIP, url, "the run was interrupted (Ctrl-C) before the round trip finished; the check's key was deleted"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: &str = "redis://h:6379";

    fn command_error(message: &str) -> StmError {
        StmError::Command {
            url: U.into(),
            what: "SET NX",
            message: message.into(),
        }
    }

    #[test]
    fn verdicts() {
        let ok = RoundTrip::Ok {
            bytes: 1024,
            ttl_s: 119,
            elapsed: Duration::from_millis(3),
        };
        let f = evaluate(U, &ok);
        assert_eq!(f.status, Status::Pass);
        assert_eq!(f.measurement("document_size").unwrap().value, 1024.0);
        let f = evaluate(
            U,
            &RoundTrip::Mismatch {
                wrote: 1024,
                read: None,
            },
        );
        assert_eq!(f.status, Status::Fail);
        assert!(f.summary.contains("read back nothing"), "{}", f.summary);
        assert_eq!(
            evaluate(U, &RoundTrip::NoTtl { ttl: -1 }).status,
            Status::Fail
        );
        let oom = command_error("OOM command not allowed when used memory > 'maxmemory'.");
        assert_eq!(
            evaluate(U, &RoundTrip::WriteRejected(oom)).status,
            Status::Fail
        );
        let ro = command_error("READONLY You can't write against a read only replica.");
        let f = evaluate(U, &RoundTrip::WriteRejected(ro));
        assert_eq!(f.status, Status::NotMeasured);
        assert!(f.summary.contains("read-only replica"), "{}", f.summary);
    }

    #[test]
    fn failures_are_not_measured_with_the_reason() {
        let e = StmError::ReplyBound {
            url: U.into(),
            what: "GET",
            bound: "protocol error: reply over 4194304 bytes".into(),
        };
        let f = evaluate(U, &RoundTrip::Failed(e));
        assert_eq!(f.status, Status::NotMeasured);
        assert!(
            f.summary.contains("reply over 4194304 bytes"),
            "{}",
            f.summary
        );
        let f = evaluate(U, &RoundTrip::Interrupted);
        assert_eq!(f.status, Status::NotMeasured);
        assert!(f.summary.contains("interrupted"), "{}", f.summary);
    }
}
