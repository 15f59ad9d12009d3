//! Measures whether an AI agent's short-term (session) memory will survive:
//! the Redis / Memorystore it lives in is reachable and fast (STA-LATENCY),
//! writes to disk (STA-PERSIST, STA-FSYNC), does not evict sessions under
//! memory pressure (STA-EVICT), has a replica (STA-HA), and returns a
//! session document byte-exact with its TTL (STA-ROUNDTRIP). Opt-in: a SCAN
//! sample of the agent's session keys for TTL and size (STA-KEYS), and a
//! real restart to see whether a marker survives (STA-SURVIVAL). The agents'
//! own declarations are checked too: session memory in pod memory fails
//! (STA-EXTERNAL, the "Memory Loss" risk).
//!
//! Every verdict rests on something read from the server (`INFO`, `CONFIG
//! GET` where allowed, `TIME`) or measured against it; what cannot be read
//! (e.g. `CONFIG` blocked on managed Redis) is reported as not-measured,
//! never as a pass. Findings are [`cockpit_core::Finding`]s.
//!
//! ```
//! use cockpit_stm::{checks, Info};
//! use cockpit_core::Status;
//!
//! // The pure half of every check: evidence in, finding out.
//! let info = Info::parse("aof_enabled:0\nrdb_last_bgsave_status:ok\nrdb_last_bgsave_time_sec:-1\n");
//! let no_save_points = Ok(Some(String::new()));
//! let f = checks::persist::evaluate("redis://127.0.0.1:6379", &info, &no_save_points, None);
//! assert_eq!(f.status, Status::Fail);
//! assert!(f.summary.contains("no persistence"));
//! ```
//!
//! Against a server (a small RESP client of the crate's own, reading every
//! reply under [`ReplyLimits`]):
//!
//! ```no_run
//! # async fn demo() {
//! let cfg = cockpit_stm::StmConfig::for_url("redis://:secret@127.0.0.1:6379");
//! let report = cockpit_stm::audit(&cfg, &tokio_util::sync::CancellationToken::new()).await;
//! for f in &report.findings {
//!     println!("{} {} {}", f.check_id, f.status, f.summary);
//! }
//! # }
//! ```
//!
//! For a monitor that looks every interval, [`read_health`] takes a
//! read-only reading: a few timed PINGs and the figures of `INFO`.
//!
//! # What it never does
//!
//! It never reads, lists or writes a key it did not create: its own keys are
//! `{key_prefix}cockpit-check:{uuid}`, written with `NX` and a TTL (so they
//! expire even if the process is killed), and deleted before [`audit`]
//! returns — also on error and when cancelled (Ctrl-C). It never sends
//! `KEYS`; the opt-in key sample uses `SCAN` and reads only `TTL` and
//! `MEMORY USAGE` of the keys it finds, never their values. `DEBUG
//! RESTART` / `DEBUG CRASH-AND-RECOVER` are sent only when
//! [`StmConfig::disruptive`] is set. It never prints, and never shows a
//! password: the URL is parsed once and only its redacted form (`:***@`)
//! reaches findings, errors, `Debug` and tracing spans; a URL that does not
//! parse is shown as its scheme alone. Every command has a timeout, and
//! every reply is read under [`ReplyLimits`] (4 MiB, 32 levels of nesting,
//! 100 000 elements by default), checked against what the server
//! announces before anything is allocated: a reply past a bound is a
//! not-measured finding ("protocol error: reply over 4194304 bytes",
//! "nesting deeper than 32"), never a crash or unbounded memory (a reply
//! keeps at most [`ReplyLimits::memory_bound`]; property tests feed the
//! reader arbitrary bytes in arbitrary chunks to hold it to that).

pub mod checks;
mod config;
mod conn;
mod endpoint;
mod error;
mod health;
mod info;
mod latency;
mod resp;
#[cfg(feature = "test-support")]
pub mod testing;

use std::time::Duration;

use cockpit_core::{AuditOutcome, Finding};
use tokio_util::sync::CancellationToken;

pub use config::{DeclaredStm, StmConfig, StmSettings, SurvivalMode};
pub use error::StmError;
pub use health::{Health, HealthInfo, HealthOptions, read_health};
pub use info::Info;
pub use latency::{LatencyOptions, LatencyReport, measure_latency};
pub use resp::ReplyLimits;

use checks::{
    evict, external, fsync, ha, keys, latency as lat, not_measured, persist, roundtrip, survival,
};
use conn::Conn;

/// What marks the check's own keys: `{key_prefix}cockpit-check:…`.
pub const CHECK_KEY_MARK: &str = "cockpit-check:";

/// Run every State check `cfg` enables: one subject (the `[stm]` server)
/// when a URL is given, and STA-EXTERNAL over what the agents declare.
/// Cancelling `cancel` stops it early: the findings so far are kept,
/// `interrupted` is set, and the check's own keys are deleted all the same.
#[tracing::instrument(name = "stm_audit", skip_all, fields(target = tracing::field::Empty))]
pub async fn audit(cfg: &StmConfig, cancel: &CancellationToken) -> AuditOutcome {
    let mut out = AuditOutcome::default();
    let shown = cfg.url.as_deref().map(endpoint::redacted);
    out.findings
        .extend(external::evaluate(&cfg.agents, shown.as_deref()));
    let (Some(url), Some(shown)) = (cfg.url.as_deref(), shown) else {
        return out;
    };
    out.subjects = 1;
    tracing::Span::current().record("target", shown.as_str());

    let opened = tokio::select! {
        biased;
        _ = cancel.cancelled() => {
            list_unfinished(cfg, &shown, &mut out);
            return out;
        }
        r = Conn::open(url, cfg.timeout, cfg.reply_limits) => r,
    };
    let (conn, connect) = match opened {
        Ok(c) => c,
        Err(e) => {
            for spec in redis_checks(cfg) {
                out.findings.push(not_measured(&spec, &shown, &e));
            }
            return out;
        }
    };
    out.reached = 1;
    let key = check_key(&cfg.key_prefix);

    let finished = run_checks(cfg, &conn, connect, &key, &shown, cancel, &mut out.findings).await;
    // Whatever happened above, the check's own key goes.
    delete_own_key(&conn, &key).await;
    conn.close().await;

    if finished && cfg.disruptive && !cancel.is_cancelled() {
        let r = survival::run(url, cfg, cancel).await;
        out.findings
            .push(survival::evaluate(&shown, cfg.survival_mode, &r));
    }
    if cancel.is_cancelled() {
        list_unfinished(cfg, &shown, &mut out);
    }
    out
}

/// After a cancel: every server check that has no finding yet is listed as
/// not measured, so the report names every configured check.
fn list_unfinished(cfg: &StmConfig, shown: &str, out: &mut AuditOutcome) {
    out.interrupted = true;
    for spec in redis_checks(cfg) {
        if !out.findings.iter().any(|f| f.check_id == spec.id) {
            out.findings.push(not_measured(
                &spec,
                shown,
                "the audit was interrupted before it was measured",
            ));
        }
    }
}

/// The checks that need the server, in the order they run.
fn redis_checks(cfg: &StmConfig) -> Vec<cockpit_core::CheckSpec> {
    let mut v = vec![
        persist::STA_PERSIST,
        fsync::STA_FSYNC,
        evict::STA_EVICT,
        ha::STA_HA,
        roundtrip::STA_ROUNDTRIP,
        lat::STA_LATENCY,
    ];
    if cfg.sample_sessions.is_some() {
        v.push(keys::STA_KEYS);
    }
    if cfg.disruptive {
        v.push(survival::STA_SURVIVAL);
    }
    v
}

/// Returns whether every check ran (false when cancelled).
async fn run_checks(
    cfg: &StmConfig,
    conn: &Conn,
    connect: Duration,
    key: &str,
    shown: &str,
    cancel: &CancellationToken,
    findings: &mut Vec<Finding>,
) -> bool {
    // Read-only evidence first.
    let info = read_info(conn, shown, findings).await;
    if !info.is_empty() {
        let save = config_get(conn, "save").await;
        let now = conn.server_time().await.ok();
        findings.push(persist::evaluate(shown, &info, &save, now));
        let appendfsync = config_get(conn, "appendfsync").await;
        let aof = info.get_i64("aof_enabled").map(|v| v == 1);
        findings.push(fsync::evaluate(shown, aof, &appendfsync));
    }
    if cancel.is_cancelled() {
        return false;
    }
    let sample = match cfg.sample_sessions {
        Some(n) => {
            let r = keys::run(conn, &cfg.key_prefix, n, cancel).await;
            findings.push(keys::evaluate(shown, &cfg.key_prefix, &r));
            r.ok()
        }
        None => None,
    };
    if !info.is_empty() {
        let fallback = if info.get("maxmemory_policy").is_none() {
            config_get(conn, "maxmemory-policy").await.ok().flatten()
        } else {
            None
        };
        findings.push(evict::evaluate(
            shown,
            &info,
            fallback.as_deref(),
            sample.as_ref(),
        ));
        findings.push(ha::evaluate(shown, &info));
    }
    if cancel.is_cancelled() {
        return false;
    }
    let rt = roundtrip::run(conn, key, cfg.check_key_ttl, cancel).await;
    findings.push(roundtrip::evaluate(shown, &rt));
    if cancel.is_cancelled() {
        return false;
    }
    let opts = LatencyOptions {
        samples: cfg.latency_samples,
        warmup: 1,
        timeout: cfg.timeout,
        key_prefix: cfg.key_prefix.clone(),
        key_ttl: cfg.check_key_ttl,
        cancel: cancel.clone(),
        reply_limits: cfg.reply_limits,
    };
    let r = latency::measure_on(conn, connect, key, &opts).await;
    findings.push(lat::evaluate(&r, cfg.latency_p99));
    !cancel.is_cancelled()
}

/// `INFO`; when it cannot be read, the checks resting on it are
/// not-measured with the reason, and the result is empty.
async fn read_info(conn: &Conn, shown: &str, findings: &mut Vec<Finding>) -> Info {
    match conn.info().await {
        Ok(i) => i,
        Err(e) => {
            for spec in [
                &persist::STA_PERSIST,
                &fsync::STA_FSYNC,
                &evict::STA_EVICT,
                &ha::STA_HA,
            ] {
                findings.push(not_measured(spec, shown, &e));
            }
            Info::default()
        }
    }
}

/// `CONFIG GET parameter`, a refusal as the server's words (what the
/// checks show after "refused").
async fn config_get(conn: &Conn, parameter: &'static str) -> Result<Option<String>, String> {
    conn.config_get(parameter).await.map_err(|e| match e {
        StmError::Command { message, .. } => message,
        other => other.to_string(),
    })
}

/// A fresh key of the check's own: `{prefix}cockpit-check:{uuid}`.
pub(crate) fn check_key(prefix: &str) -> String {
    format!("{prefix}{CHECK_KEY_MARK}{}", uuid::Uuid::new_v4())
}

/// `DEL` the check's own key, bounded, never cancelled: it runs after a
/// cancel too (on a new connection when the last command left none).
pub(crate) async fn delete_own_key(conn: &Conn, key: &str) {
    if let Err(e) = conn.del(key).await {
        tracing::warn!(error = %e, "could not delete the check's own key; it expires by its TTL");
    }
}
