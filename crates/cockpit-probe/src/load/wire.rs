//! What every fanned-out worker's result shares, whichever engine wrote it
//! (`load shard`, `simulate shard`): a versioned JSON document read with a
//! bound, histograms carried exactly as base64 V2, and the common start
//! every worker waits for on its own wall clock.

use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cockpit_core::Distribution;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

/// Read a JSON result of at most `max_bytes` whose `"schema"` is `schema`;
/// `what` names the kind of document in the reasons ("worker result").
/// The error is the reason, for the caller to wrap with the input's name.
///
/// ```
/// use cockpit_probe::load::read_versioned;
/// let r: Result<serde_json::Value, _> = read_versioned(br#"{"schema":"x/2"}"#, 64, "x/1", "x result");
/// assert_eq!(r.unwrap_err(), "schema \"x/2\"; this version reads \"x/1\"");
/// ```
pub fn read_versioned<T: DeserializeOwned>(
    bytes: &[u8],
    max_bytes: usize,
    schema: &str,
    what: &str,
) -> Result<T, String> {
    if bytes.len() > max_bytes {
        return Err(format!("{} bytes; at most {max_bytes}", bytes.len()));
    }
    #[derive(Deserialize)]
    struct Head {
        schema: Option<String>,
    }
    let head: Head =
        serde_json::from_slice(bytes).map_err(|e| format!("not a {what} (JSON): {e}"))?;
    match head.schema.as_deref() {
        Some(s) if s == schema => {}
        Some(other) => return Err(format!("schema {other:?}; this version reads {schema:?}")),
        None => return Err(format!("no \"schema\": not a {what}")),
    }
    serde_json::from_slice(bytes).map_err(|e| e.to_string())
}

/// A histogram as it travels in a result: its V2 serialisation, base64.
pub fn hist_to_b64(d: &Distribution) -> String {
    B64.encode(d.to_v2_bytes())
}

/// A histogram back from [`hist_to_b64`]; the empty string is an empty
/// histogram. The error is the reason.
pub fn hist_from_b64(s: &str) -> Result<Distribution, String> {
    if s.is_empty() {
        return Ok(Distribution::new());
    }
    let bytes = B64.decode(s).map_err(|e| format!("not base64: {e}"))?;
    Distribution::from_v2_bytes(&bytes).map_err(|e| e.to_string())
}

/// Wait for the run's common start `at` on this machine's wall clock (a
/// cancel ends the wait early): the monotonic instant the run counts from,
/// and how late this worker already was (zero when it waited).
pub async fn wait_for_start(at: SystemTime, cancel: &CancellationToken) -> (Instant, Duration) {
    let now = Instant::now();
    match at.duration_since(SystemTime::now()) {
        Ok(ahead) => {
            let start = now + ahead;
            tokio::select! {
                () = tokio::time::sleep_until(tokio::time::Instant::from_std(start)) => {}
                () = cancel.cancelled() => {}
            }
            (start, Duration::ZERO)
        }
        Err(e) => {
            let late = e.duration();
            (now.checked_sub(late).unwrap_or(now), late)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_travel_exactly() {
        let mut d = Distribution::new();
        for ms in [1, 25, 900] {
            d.record(Duration::from_millis(ms));
        }
        let back = hist_from_b64(&hist_to_b64(&d)).unwrap();
        assert_eq!(back.to_v2_bytes(), d.to_v2_bytes());
        assert_eq!(hist_from_b64("").unwrap().count(), 0);
        assert!(hist_from_b64("!!").unwrap_err().starts_with("not base64"));
    }

    #[test]
    fn a_result_is_read_only_within_its_bound_and_schema() {
        let ok: serde_json::Value =
            read_versioned(br#"{"schema":"x/1","n":1}"#, 64, "x/1", "x result").unwrap();
        assert_eq!(ok["n"], 1);
        let big = read_versioned::<serde_json::Value>(&[b' '; 65], 64, "x/1", "x result");
        assert_eq!(big.unwrap_err(), "65 bytes; at most 64");
        let none = read_versioned::<serde_json::Value>(b"{}", 64, "x/1", "x result");
        assert_eq!(none.unwrap_err(), "no \"schema\": not a x result");
        let junk = read_versioned::<serde_json::Value>(b"[", 64, "x/1", "x result");
        assert!(junk.unwrap_err().starts_with("not a x result (JSON)"));
    }

    #[tokio::test]
    async fn a_start_in_the_past_is_late_by_its_age() {
        let (_, late) = wait_for_start(
            SystemTime::now() - Duration::from_secs(5),
            &CancellationToken::new(),
        )
        .await;
        assert!(late >= Duration::from_secs(5));
        let cancel = CancellationToken::new();
        cancel.cancel();
        let (_, late) =
            wait_for_start(SystemTime::now() + Duration::from_secs(3600), &cancel).await;
        assert_eq!(late, Duration::ZERO);
    }
}
