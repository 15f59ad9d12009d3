//! The `[stm]` row: the Redis / Memorystore holding the agents' session
//! memory, read on every interval with cockpit-stm's own client
//! ([`cockpit_stm::read_health`]): a connection, `samples` timed PINGs,
//! one `INFO`. Read-only: no key is read or written. The URL's password
//! is never shown: the row carries the redacted endpoint, and every error
//! text comes from cockpit-stm, which names the endpoint redacted.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use cockpit_stm::{Health, HealthInfo, HealthOptions, StmConfig, StmError};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::compact::Compact;
use crate::infra::{Ring, now_stamp};
use crate::window::{accumulate, cumulative, latency_window};
use crate::{
    AgentView, CockpitSettings, CumulativeHistogram, LatencyWindow, MonitorError, RateWindow,
    RequestCounts, SeriesPoint, TargetKind, TargetStatus, Totals,
};

/// The row's name in the snapshot.
pub const STM_ROW: &str = "stm";
/// Memory use, as a share of `maxmemory`, from which the row is degraded.
pub const STM_MEMORY_HIGH: f64 = 0.9;

/// What the `[stm]` row shows besides the common fields (`requests`
/// counts PINGs, `ttft_p95_series` is the PING p95 of each interval).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StmView {
    /// PING, call to reply, over the window.
    pub ping: LatencyWindow,
    /// Connecting (TCP, TLS, AUTH, SELECT and a first PING), over the window.
    pub connect: LatencyWindow,
    /// PINGs timed per reading.
    pub pings_per_read: u32,
    /// The figures of the latest `INFO`; `null` before one was read.
    pub info: Option<HealthInfo>,
    /// Why the latest `INFO` could not be read, when it could not.
    pub info_error: Option<String>,
    /// Every PING since the monitor started (Prometheus `agentops_stm_ping_seconds`).
    pub ping_seconds: CumulativeHistogram,
}

#[derive(Debug, Default)]
struct Interval {
    ping: Compact,
    connect: Compact,
    attempted: u64,
    succeeded: u64,
    errors: BTreeMap<String, u64>,
}

#[derive(Debug)]
struct State {
    ring: Ring<Interval>,
    in_flight: bool,
    status: TargetStatus,
    last_probe_at: Option<String>,
    last_probe_ms: Option<f64>,
    info: Option<HealthInfo>,
    info_error: Option<String>,
    totals: Totals,
    ping_seconds: CumulativeHistogram,
}

/// The `[stm]` row and its state.
pub(crate) struct StmRow {
    pub name: String,
    /// The URL as configured: holds the password; never shown.
    url: String,
    shown: String,
    timeout: Duration,
    limits: cockpit_stm::ReplyLimits,
    pings: u32,
    state: Mutex<State>,
}

impl std::fmt::Debug for StmRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StmRow").field("url", &self.shown).finish()
    }
}

impl StmRow {
    pub fn new(cfg: &StmConfig, settings: &CockpitSettings) -> Result<StmRow, MonitorError> {
        let Some(url) = cfg.url.clone() else {
            return Err(MonitorError::Config {
                key: "stm",
                message: "[stm] has no url to watch".into(),
            });
        };
        Ok(StmRow {
            name: STM_ROW.to_string(),
            shown: cockpit_core::redact_url(&url),
            url,
            timeout: cfg.timeout,
            limits: cfg.reply_limits,
            pings: settings.samples,
            state: Mutex::new(State {
                ring: Ring::new(settings),
                in_flight: false,
                status: TargetStatus::Unknown,
                last_probe_at: None,
                last_probe_ms: None,
                info: None,
                info_error: None,
                totals: Totals {
                    probe_seconds: cumulative(),
                    ..Totals::default()
                },
                ping_seconds: cumulative(),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn open(&self, round: u64) {
        self.lock().ring.open(round);
    }

    pub fn start(&self) -> bool {
        !std::mem::replace(&mut self.lock().in_flight, true)
    }

    pub fn abandon(&self) {
        self.lock().in_flight = false;
    }

    /// One reading: every command under the smaller of `[stm] timeout_s`
    /// and the probe timeout, the whole under one timeout per command.
    pub async fn read(&self, settings: &CockpitSettings, cancel: &CancellationToken) {
        let opts = HealthOptions {
            pings: settings.samples,
            timeout: self.timeout.min(settings.probe_timeout),
            reply_limits: self.limits,
        };
        let deadline = opts
            .timeout
            .saturating_mul(settings.samples.saturating_add(3));
        let started = Instant::now();
        let r = tokio::time::timeout(deadline, cockpit_stm::read_health(&self.url, &opts, cancel))
            .await
            .unwrap_or_else(|_| {
                Err(StmError::Timeout {
                    url: self.shown.clone(),
                    what: "the health reading",
                    timeout: deadline,
                })
            });
        let took = started.elapsed();
        let mut st = self.lock();
        st.in_flight = false;
        if cancel.is_cancelled() {
            return;
        }
        st.status = status_of(&r, settings.samples);
        st.last_probe_at = Some(now_stamp());
        st.last_probe_ms = Some(took.as_secs_f64() * 1000.0);
        record(&mut st, &r, took);
    }

    pub fn view(&self) -> AgentView {
        let st = self.lock();
        let span = st.ring.span();
        let ping = Compact::merge(st.ring.iter().map(|(_, i)| &i.ping));
        let connect = Compact::merge(st.ring.iter().map(|(_, i)| &i.connect));
        let mut requests = RequestCounts {
            window: span,
            ..RequestCounts::default()
        };
        for (_, i) in st.ring.iter() {
            requests.attempted += i.attempted;
            requests.succeeded += i.succeeded;
            for (k, n) in &i.errors {
                *requests.errors.entry(k.clone()).or_default() += n;
            }
        }
        requests.failed = requests.attempted - requests.succeeded;
        requests.error_rate =
            (requests.attempted > 0).then(|| requests.failed as f64 / requests.attempted as f64);
        let series = st
            .ring
            .iter()
            .map(|(round, i)| SeriesPoint {
                round: *round,
                p95_ms: i.ping.quantile(0.95).map(|d| d.as_secs_f64() * 1000.0),
                count: i.ping.count(),
            })
            .collect();
        let empty = latency_window(&Compact::default(), span);
        AgentView {
            name: self.name.clone(),
            kind: TargetKind::Stm,
            protocol: "redis".into(),
            endpoint: self.shown.clone(),
            status: st.status.clone(),
            last_probe_at: st.last_probe_at.clone(),
            last_probe_ms: st.last_probe_ms,
            ttft: empty,
            itl: empty,
            e2e: empty,
            ttft_p95_series: series,
            tokens_per_s: RateWindow {
                window: span,
                ..RateWindow::default()
            },
            requests,
            baseline: None,
            last_gate: None,
            alerts: Vec::new(),
            totals: st.totals.clone(),
            stm: Some(StmView {
                ping: latency_window(&ping, span),
                connect: latency_window(&connect, span),
                pings_per_read: self.pings,
                info: st.info.clone(),
                info_error: st.info_error.clone(),
                ping_seconds: st.ping_seconds.clone(),
            }),
            kubernetes: None,
        }
    }
}

/// Fold one reading into the open interval and the totals.
fn record(st: &mut State, r: &Result<Health, StmError>, took: Duration) {
    st.totals.probes += 1;
    accumulate(&mut st.totals.probe_seconds, std::iter::once((took, 1)));
    let (attempted, succeeded, errors): (u64, u64, Vec<(String, u64)>) = match r {
        Ok(h) => {
            let pings = h.pings.iter().map(|d| (*d, 1));
            accumulate(&mut st.ping_seconds, pings.clone());
            let cur = st.ring.current();
            cur.ping.extend(pings);
            cur.connect.record_n(h.connect, 1);
            st.info_error = h.info.as_ref().err().cloned();
            if let Ok(i) = &h.info {
                st.info = Some(i.clone());
            }
            let errors = h.errors.iter().map(|(k, n)| (k.to_string(), *n));
            let n = h.pings.len() as u64;
            (n + h.failed(), n, errors.collect())
        }
        // The connection failed: one attempt, failed, of its kind.
        Err(e) => (1, 0, vec![(e.kind().to_string(), 1)]),
    };
    let cur = st.ring.current();
    cur.attempted += attempted;
    cur.succeeded += succeeded;
    for (k, n) in &errors {
        *cur.errors.entry(k.clone()).or_default() += n;
    }
    st.totals.attempted += attempted;
    st.totals.succeeded += succeeded;
    for (k, n) in errors {
        *st.totals.errors.entry(k).or_default() += n;
    }
}

/// The row's state after a reading: down when no connection could be
/// made or no PING answered (the error's kind: `auth`, `connect`,
/// `timeout`, `tls`, `protocol`, …); degraded when some PINGs failed,
/// the last RDB save or AOF write failed, or memory use is at
/// [`STM_MEMORY_HIGH`] of `maxmemory` or above; else up.
pub(crate) fn status_of(r: &Result<Health, StmError>, pings: u32) -> TargetStatus {
    let h = match r {
        Ok(h) => h,
        Err(e) => {
            return TargetStatus::Down {
                error_kind: e.kind().to_string(),
                message: e.to_string(),
            };
        }
    };
    let worst = h.errors.iter().max_by_key(|(_, n)| **n).map(|(k, _)| *k);
    let example = |k: &str| h.error_examples.get(k).cloned().unwrap_or_default();
    if let Some(k) = worst {
        if h.pings.is_empty() && pings > 0 {
            return TargetStatus::Down {
                error_kind: k.to_string(),
                message: example(k),
            };
        }
        return TargetStatus::Degraded {
            reason: format!(
                "{} of {} PINGs failed ({k}: {})",
                h.failed(),
                h.failed() + h.pings.len() as u64,
                example(k)
            ),
        };
    }
    let Ok(info) = &h.info else {
        return TargetStatus::Up;
    };
    if info.rdb_last_bgsave_status.as_deref() == Some("err") {
        return TargetStatus::Degraded {
            reason: "the last RDB save failed (rdb_last_bgsave_status:err): sessions are not being persisted".into(),
        };
    }
    if info.aof_last_write_status.as_deref() == Some("err") {
        return TargetStatus::Degraded {
            reason: "the last AOF write failed (aof_last_write_status:err)".into(),
        };
    }
    if let (Some(used), Some(max)) = (info.used_memory_bytes, info.maxmemory_bytes)
        && max > 0
        && used as f64 >= STM_MEMORY_HIGH * max as f64
    {
        return TargetStatus::Degraded {
            reason: format!(
                "memory at {:.0}% of maxmemory ({used} of {max} bytes, policy {})",
                used as f64 * 100.0 / max as f64,
                info.maxmemory_policy.as_deref().unwrap_or("unknown")
            ),
        };
    }
    TargetStatus::Up
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(pings: usize, errors: &[(&'static str, u64)], info: HealthInfo) -> Health {
        Health {
            target: "redis://127.0.0.1:1".into(),
            pings: vec![Duration::from_micros(200); pings],
            errors: errors.iter().copied().collect(),
            error_examples: errors
                .iter()
                .map(|(k, _)| (*k, format!("{k} went wrong")))
                .collect(),
            info: Ok(info),
            ..Health::default()
        }
    }

    #[test]
    fn status_names_the_failure_and_the_persistence_and_memory_troubles() {
        let auth = StmError::Auth {
            url: "redis://:***@127.0.0.1:1".into(),
            message: "WRONGPASS".into(),
        };
        match status_of(&Err(auth), 3) {
            TargetStatus::Down {
                error_kind,
                message,
            } => {
                assert_eq!(error_kind, "auth");
                assert!(message.contains("authentication failed"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        let none = health(0, &[("timeout", 3)], HealthInfo::default());
        assert!(
            matches!(status_of(&Ok(none), 3), TargetStatus::Down { error_kind, .. } if error_kind == "timeout")
        );
        let some = health(2, &[("timeout", 1)], HealthInfo::default());
        assert!(
            matches!(status_of(&Ok(some), 3), TargetStatus::Degraded { reason } if reason.starts_with("1 of 3 PINGs failed"))
        );
        let up = health(3, &[], HealthInfo::default());
        assert_eq!(status_of(&Ok(up), 3), TargetStatus::Up);
        let save = HealthInfo {
            rdb_last_bgsave_status: Some("err".into()),
            ..HealthInfo::default()
        };
        assert!(
            matches!(status_of(&Ok(health(3, &[], save)), 3), TargetStatus::Degraded { reason } if reason.contains("RDB save failed"))
        );
        let full = HealthInfo {
            used_memory_bytes: Some(95),
            maxmemory_bytes: Some(100),
            ..HealthInfo::default()
        };
        assert!(
            matches!(status_of(&Ok(health(3, &[], full)), 3), TargetStatus::Degraded { reason } if reason.starts_with("memory at 95%"))
        );
        let unlimited = HealthInfo {
            used_memory_bytes: Some(95),
            maxmemory_bytes: Some(0),
            ..HealthInfo::default()
        };
        assert_eq!(
            status_of(&Ok(health(3, &[], unlimited)), 3),
            TargetStatus::Up
        );
    }
}
