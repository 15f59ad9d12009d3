//! A read-only health reading of the session store, for a monitor that
//! looks at it on an interval (Mission Control's `[stm]` row): connect,
//! a few timed `PING`s, one `INFO`. Nothing is written, no key is read:
//! `PING` and `INFO` are the only commands sent after the connection's own
//! `AUTH` / `SELECT`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::conn::Conn;
use crate::{Info, ReplyLimits, StmError};

/// How one reading is taken.
#[derive(Debug, Clone)]
pub struct HealthOptions {
    /// Measured PINGs (after the connection's own first PING).
    pub pings: u32,
    /// Timeout of the connection and of every command.
    pub timeout: Duration,
    /// The bounds every reply is read under.
    pub reply_limits: ReplyLimits,
}

impl Default for HealthOptions {
    fn default() -> Self {
        HealthOptions {
            pings: 3,
            timeout: Duration::from_secs(5),
            reply_limits: ReplyLimits::default(),
        }
    }
}

/// What one reading found.
#[derive(Debug, Clone)]
pub struct Health {
    /// The endpoint, credentials redacted.
    pub target: String,
    /// Connect time: TCP, TLS for `rediss://`, AUTH, SELECT and a first PING.
    pub connect: Duration,
    /// Each measured PING, call to reply.
    pub pings: Vec<Duration>,
    /// PINGs that failed, by kind ([`StmError::kind`]).
    pub errors: BTreeMap<&'static str, u64>,
    /// The first failure of each kind, as text (credentials redacted).
    pub error_examples: BTreeMap<&'static str, String>,
    /// The figures of `INFO`; `Err` with the reason when it could not be read.
    pub info: Result<HealthInfo, String>,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            target: String::new(),
            connect: Duration::ZERO,
            pings: Vec::new(),
            errors: BTreeMap::new(),
            error_examples: BTreeMap::new(),
            info: Err("not read".into()),
        }
    }
}

/// The figures of `INFO` a dashboard shows (absent fields are `None`);
/// its JSON is a public form (Mission Control's snapshot), units in the
/// field names.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HealthInfo {
    pub redis_version: Option<String>,
    /// `master` or `slave`.
    pub role: Option<String>,
    pub uptime_s: Option<u64>,
    pub connected_clients: Option<u64>,
    pub connected_replicas: Option<u64>,
    pub used_memory_bytes: Option<u64>,
    /// 0: no limit.
    pub maxmemory_bytes: Option<u64>,
    pub maxmemory_policy: Option<String>,
    /// Keys evicted since the server started.
    pub evicted_keys: Option<u64>,
    pub aof_enabled: Option<bool>,
    /// `ok` or `err`.
    pub rdb_last_bgsave_status: Option<String>,
    pub aof_last_write_status: Option<String>,
    pub rdb_changes_since_last_save: Option<u64>,
}

impl HealthInfo {
    /// The dashboard's figures of an `INFO` reply.
    ///
    /// ```
    /// use cockpit_stm::{HealthInfo, Info};
    /// let h = HealthInfo::from_info(&Info::parse("role:master\nused_memory:1024\naof_enabled:1\n"));
    /// assert_eq!(h.role.as_deref(), Some("master"));
    /// assert_eq!((h.used_memory_bytes, h.aof_enabled, h.evicted_keys), (Some(1024), Some(true), None));
    /// ```
    pub fn from_info(info: &Info) -> HealthInfo {
        let text = |k: &str| info.get(k).map(|v| v.trim().to_string());
        HealthInfo {
            redis_version: text("redis_version"),
            role: text("role"),
            uptime_s: info.get_u64("uptime_in_seconds"),
            connected_clients: info.get_u64("connected_clients"),
            connected_replicas: info.get_u64("connected_slaves"),
            used_memory_bytes: info.get_u64("used_memory"),
            maxmemory_bytes: info.get_u64("maxmemory"),
            maxmemory_policy: text("maxmemory_policy"),
            evicted_keys: info.get_u64("evicted_keys"),
            aof_enabled: info.get_i64("aof_enabled").map(|v| v == 1),
            rdb_last_bgsave_status: text("rdb_last_bgsave_status"),
            aof_last_write_status: text("aof_last_write_status"),
            rdb_changes_since_last_save: info.get_u64("rdb_changes_since_last_save"),
        }
    }
}

impl Health {
    /// PINGs that failed.
    pub fn failed(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// Connect to `url`, time `opts.pings` PINGs one at a time, read `INFO`,
/// close. `Err` when no connection could be made (the error names the
/// redacted endpoint; its [`StmError::kind`] says why). Every step is
/// under `opts.timeout`; `cancel` stops it (the PINGs so far are kept).
pub async fn read_health(
    url: &str,
    opts: &HealthOptions,
    cancel: &CancellationToken,
) -> Result<Health, StmError> {
    let (conn, connect) = tokio::select! {
        biased;
        () = cancel.cancelled() => return Err(StmError::Closed { url: crate::endpoint::redacted(url), what: "connect" }),
        r = Conn::open(url, opts.timeout, opts.reply_limits) => r?,
    };
    let mut h = Health {
        target: conn.url.clone(),
        connect,
        ..Health::default()
    };
    for _ in 0..opts.pings {
        let start = Instant::now();
        let r = tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            r = conn.ping() => r,
        };
        match r {
            Ok(()) => h.pings.push(start.elapsed()),
            Err(e) => {
                *h.errors.entry(e.kind()).or_default() += 1;
                h.error_examples
                    .entry(e.kind())
                    .or_insert_with(|| e.to_string());
            }
        }
    }
    if !cancel.is_cancelled() {
        h.info = tokio::select! {
            biased;
            () = cancel.cancelled() => Err("cancelled".into()),
            r = conn.info() => r.map(|i| HealthInfo::from_info(&i)).map_err(|e| e.to_string()),
        };
    }
    conn.close().await;
    Ok(h)
}
