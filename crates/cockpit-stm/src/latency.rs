//! The latency measurement behind STA-LATENCY and `probe --protocol redis`:
//! rounds of one PING (like `redis-cli --latency`) then one SET and one GET
//! of the check's own key, one command at a time, each timed from the call
//! to its reply.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cockpit_core::{Distribution, LatencySummary};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::conn::{Conn, OwnWrite};
use crate::{ReplyLimits, StmError};

/// How the latency is measured.
#[derive(Debug, Clone)]
pub struct LatencyOptions {
    /// Measured PINGs, and measured SET/GET pairs.
    pub samples: u32,
    /// Unmeasured commands of each kind sent first.
    pub warmup: u32,
    /// Timeout of the connection and of every command.
    pub timeout: Duration,
    /// Prefix of the check's own key (`{key_prefix}cockpit-check:{uuid}`).
    pub key_prefix: String,
    /// TTL of the check's own key.
    pub key_ttl: Duration,
    /// Stops the measurement; the key is still deleted.
    pub cancel: CancellationToken,
    /// The bounds every reply is read under.
    pub reply_limits: ReplyLimits,
}

impl Default for LatencyOptions {
    fn default() -> Self {
        LatencyOptions {
            samples: 200,
            warmup: 1,
            timeout: Duration::from_secs(5),
            key_prefix: String::new(),
            key_ttl: Duration::from_secs(120),
            cancel: CancellationToken::new(),
            reply_limits: ReplyLimits::default(),
        }
    }
}

/// What one latency run measured. Its JSON has the shape of the other
/// probes' reports: `target`, `protocol`, `samples`, one object per
/// distribution (`connect`, `ping`, `set`, `get`, with `p50_ms` … `count`),
/// `errors` by kind and `methods`.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyReport {
    /// The endpoint, credentials redacted.
    pub target: String,
    pub protocol: &'static str,
    /// Measured PINGs.
    pub samples: u64,
    pub warmup_excluded: u64,
    /// Commands sent, warm-up and failures included.
    pub attempted: u64,
    pub interrupted: bool,
    pub connect: LatencySummary,
    pub ping: LatencySummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set: Option<LatencySummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub get: Option<LatencySummary>,
    /// Why SET/GET were not measured (a read-only replica, OOM), when so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub writes_skipped: Option<String>,
    pub errors: BTreeMap<&'static str, u64>,
    pub error_examples: BTreeMap<&'static str, String>,
    pub methods: BTreeMap<&'static str, &'static str>,
    #[serde(skip)]
    pub(crate) ping_dist: Distribution,
    #[serde(skip)]
    pub(crate) set_dist: Distribution,
    #[serde(skip)]
    pub(crate) get_dist: Distribution,
}

pub(crate) const PING_METHOD: &str =
    "client-side, call to reply, one PING at a time on one connection (like redis-cli --latency)";
pub(crate) const SET_METHOD: &str =
    "client-side, call to reply, SET of the check's own key with EX, one at a time";
pub(crate) const GET_METHOD: &str =
    "client-side, call to reply, GET of the check's own key, one at a time";
pub(crate) const CONNECT_METHOD: &str =
    "client-side, from connect to the first PONG (TCP, TLS when rediss://, AUTH, SELECT, PING)";

impl LatencyReport {
    pub(crate) fn new(target: String, connect: Duration) -> LatencyReport {
        let mut c = Distribution::new();
        c.record(connect);
        let methods = BTreeMap::from([
            ("connect", CONNECT_METHOD),
            ("ping", PING_METHOD),
            ("set", SET_METHOD),
            ("get", GET_METHOD),
        ]);
        LatencyReport {
            target,
            protocol: "redis",
            samples: 0,
            warmup_excluded: 0,
            attempted: 0,
            interrupted: false,
            connect: c.summary(),
            ping: LatencySummary::default(),
            set: None,
            get: None,
            writes_skipped: None,
            errors: BTreeMap::new(),
            error_examples: BTreeMap::new(),
            methods,
            ping_dist: Distribution::new(),
            set_dist: Distribution::new(),
            get_dist: Distribution::new(),
        }
    }

    pub(crate) fn error(&mut self, e: &StmError) {
        let kind = match e.kind() {
            "url" | "config" => "command",
            k => k,
        };
        *self.errors.entry(kind).or_default() += 1;
        self.error_examples
            .entry(kind)
            .or_insert_with(|| e.to_string());
    }

    /// The PING distribution (empty when nothing answered).
    pub fn ping_distribution(&self) -> &Distribution {
        &self.ping_dist
    }

    /// SET and GET merged: the per-command latency of the agent's own traffic.
    pub fn command_distribution(&self) -> Distribution {
        let mut d = self.set_dist.clone();
        d.merge(&self.get_dist);
        d
    }
}

/// Connect to `url` and measure: connect time, PING, then SET/GET on a key
/// of the check's own (`{key_prefix}cockpit-check:{uuid}`, with a TTL), which
/// is deleted before returning — also when cancelled. No other key is read
/// or written.
pub async fn measure_latency(url: &str, opts: &LatencyOptions) -> Result<LatencyReport, StmError> {
    let (conn, connect) = Conn::open(url, opts.timeout, opts.reply_limits).await?;
    let key = crate::check_key(&opts.key_prefix);
    let report = measure_on(&conn, connect, &key, opts).await;
    crate::delete_own_key(&conn, &key).await;
    conn.close().await;
    Ok(report)
}

/// The measuring loop on an open connection; `key` is the check's own key.
/// The caller deletes the key.
#[tracing::instrument(name = "stm_latency", skip_all, fields(target = %conn.url, samples = opts.samples))]
pub(crate) async fn measure_on(
    conn: &Conn,
    connect: Duration,
    key: &str,
    opts: &LatencyOptions,
) -> LatencyReport {
    let mut r = LatencyReport::new(conn.url.clone(), connect);
    let cancel = &opts.cancel;
    let total = opts.warmup + opts.samples;
    let value = session_document(key, 256);
    let mut consecutive_errors = 0;

    // Each round: one PING, then SET and GET of the check's own key.
    for i in 0..total {
        if cancel.is_cancelled() || consecutive_errors >= 3 {
            break;
        }
        let warm = i < opts.warmup;
        // After a failed or interrupted command the connection is opened
        // again here, so no sample includes a reconnect.
        let Some((reopened, _)) = timed(cancel, conn.ensure_open()).await else {
            break;
        };
        if let Err(e) = reopened {
            r.error(&e);
            consecutive_errors += 1;
            continue;
        }
        r.attempted += 1;
        let Some((ping, elapsed)) = timed(cancel, conn.ping()).await else {
            break;
        };
        match ping {
            Ok(_) if warm => r.warmup_excluded += 1,
            Ok(_) => {
                r.ping_dist.record(elapsed);
                r.samples += 1;
                consecutive_errors = 0;
            }
            Err(e) => {
                r.error(&e);
                consecutive_errors += 1;
                continue;
            }
        }
        if r.writes_skipped.is_some() {
            continue;
        }
        if !set_then_get(
            &mut r,
            conn,
            key,
            &value,
            opts,
            warm,
            &mut consecutive_errors,
        )
        .await
        {
            break;
        }
    }
    r.interrupted = cancel.is_cancelled();
    r.ping = r.ping_dist.summary();
    if !r.set_dist.is_empty() {
        r.set = Some(r.set_dist.summary());
        r.get = Some(r.get_dist.summary());
    }
    r
}

/// The SET and GET of one round on the check's own key, recorded into
/// `r`; false when cancelled.
async fn set_then_get(
    r: &mut LatencyReport,
    conn: &Conn,
    key: &str,
    value: &[u8],
    opts: &LatencyOptions,
    warm: bool,
    consecutive_errors: &mut u32,
) -> bool {
    let cancel = &opts.cancel;
    r.attempted += 1;
    let set = conn.write_own_key(key, value, opts.key_ttl, OwnWrite::Refresh);
    let Some((set, set_elapsed)) = timed(cancel, set).await else {
        return false;
    };
    if let Err(e) = set {
        if e.is_read_only() || e.is_out_of_memory() {
            r.writes_skipped = Some(e.to_string());
        }
        r.error(&e);
        *consecutive_errors += 1;
        return true;
    }
    r.attempted += 1;
    let Some((get, get_elapsed)) = timed(cancel, conn.get(key)).await else {
        return false;
    };
    match get {
        Ok(_) if warm => r.warmup_excluded += 2,
        Ok(_) => {
            r.set_dist.record(set_elapsed);
            r.get_dist.record(get_elapsed);
        }
        Err(e) => {
            r.error(&e);
            *consecutive_errors += 1;
        }
    }
    true
}

/// `fut` and how long it took from this call to its end, or `None` when
/// `cancel` fires first (the command is dropped, and with it its connection).
async fn timed<T>(
    cancel: &CancellationToken,
    fut: impl std::future::Future<Output = T>,
) -> Option<(T, Duration)> {
    let start = Instant::now();
    tokio::select! {
        biased;
        _ = cancel.cancelled() => None,
        v = fut => Some((v, start.elapsed())),
    }
}

/// A session-like JSON document of about `size` bytes, with multi-byte
/// characters so a byte-exact read back means something.
pub(crate) fn session_document(key: &str, size: usize) -> Vec<u8> {
    let mut doc = format!(
        "{{\"session\":\"{key}\",\"turns\":[{{\"role\":\"user\",\"content\":\"Où est ma commande ? 🚚\"}},{{\"role\":\"assistant\",\"content\":\""
    );
    while doc.len() < size.saturating_sub(4) {
        doc.push_str("état ");
    }
    doc.push_str("\"}]}");
    doc.into_bytes()
}
