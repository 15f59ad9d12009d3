//! Clock offsets between a fan-out's coordinator and its workers, measured
//! NTP-style rather than assumed.
//!
//! The coordinator [`serve_clock`]s on a TCP port: for each line a worker
//! sends it answers its wall clock, nanoseconds since the Unix epoch, as one
//! line. The worker ([`measure_offset`]) makes a few exchanges and keeps the
//! one with the shortest round trip: `offset = coordinator − (t0 + t1) / 2`,
//! known within half that round trip.

use std::time::{Duration, Instant, SystemTime};

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::shard::ClockOffset;
use crate::ProbeError;

/// Exchanges per measurement.
const EXCHANGES: usize = 8;
/// The longest answer line read.
const MAX_LINE: u64 = 64;

fn unix_ns(t: SystemTime) -> i128 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    }
}

/// Answer clock requests on `listener` until `cancel`: one line in, the
/// wall clock (Unix nanoseconds) out, at most [`EXCHANGES`] times a
/// connection.
pub async fn serve_clock(listener: TcpListener, cancel: CancellationToken) {
    loop {
        let conn = tokio::select! {
            c = listener.accept() => c,
            () = cancel.cancelled() => return,
        };
        let Ok((stream, _)) = conn else { continue };
        tokio::spawn(async move {
            let (r, mut w) = stream.into_split();
            let mut lines = BufReader::new(r.take(MAX_LINE * EXCHANGES as u64)).lines();
            for _ in 0..EXCHANGES {
                let line = tokio::time::timeout(Duration::from_secs(5), lines.next_line()).await;
                if !matches!(line, Ok(Ok(Some(_)))) {
                    return;
                }
                let now = unix_ns(SystemTime::now());
                if w.write_all(format!("{now}\n").as_bytes()).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// Measure this machine's clock offset from the clock served at `addr`
/// (`host:port`); each exchange bounded by `timeout`.
pub async fn measure_offset(addr: &str, timeout: Duration) -> Result<ClockOffset, ProbeError> {
    let fail = |reason: String| ProbeError::InvalidOption {
        name: "clock-ref",
        reason: format!("{addr}: {reason}"),
    };
    let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| fail("connect timed out".into()))?
        .map_err(|e| fail(e.to_string()))?;
    let (r, mut w) = stream.into_split();
    let mut lines = BufReader::new(r.take(MAX_LINE * EXCHANGES as u64)).lines();
    let mut best: Option<(Duration, f64)> = None;
    for _ in 0..EXCHANGES {
        let (t0, i0) = (SystemTime::now(), Instant::now());
        w.write_all(b"t\n").await.map_err(|e| fail(e.to_string()))?;
        let line = tokio::time::timeout(timeout, lines.next_line())
            .await
            .map_err(|_| fail("no answer in time".into()))?
            .map_err(|e| fail(e.to_string()))?
            .ok_or_else(|| fail("closed".into()))?;
        let rtt = i0.elapsed();
        let theirs: i128 = line
            .trim()
            .parse()
            .map_err(|_| fail(format!("not a clock reading: {line:?}")))?;
        let mid = unix_ns(t0) + (rtt.as_nanos() as i128) / 2;
        let offset_ms = (theirs - mid) as f64 / 1e6;
        if best.is_none_or(|(r, _)| rtt < r) {
            best = Some((rtt, offset_ms));
        }
    }
    let (rtt, offset_ms) = best.ok_or_else(|| fail("no exchange".into()))?;
    Ok(ClockOffset {
        offset_ms,
        rtt_ms: rtt.as_secs_f64() * 1e3,
        source: "coordinator".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_same_clock_is_within_its_round_trip() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let cancel = CancellationToken::new();
        tokio::spawn(serve_clock(l, cancel.clone()));
        let o = measure_offset(&addr, Duration::from_secs(10))
            .await
            .unwrap();
        // One machine, one clock: the offset is within the exchange's
        // uncertainty (half its round trip), plus a millisecond of slack.
        assert!(o.offset_ms.abs() <= o.rtt_ms / 2.0 + 1.0, "{o:?}");
        cancel.cancel();
        assert!(
            measure_offset("127.0.0.1:1", Duration::from_secs(5))
                .await
                .is_err()
        );
    }
}
