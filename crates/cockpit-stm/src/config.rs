//! What an STM audit is told: the Redis URL, the key prefix, the bounds,
//! and what the agents declare about their session memory.

use std::time::Duration;

use serde::Deserialize;

/// Where an agent declares its short-term (session) memory lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum StmBackend {
    /// An external store: Redis / Memorystore.
    Redis,
    /// Pod (process) memory: lost on every restart, not shared by replicas.
    InProcess,
}

/// One agent's declaration, as the CLI reads it from `[[agents]] stm = …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredStm {
    /// The agent's name (the finding's subject).
    pub agent: String,
    pub backend: StmBackend,
}

/// How the opt-in survival check asks the server to go down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum SurvivalMode {
    /// `DEBUG RESTART`: a graceful restart (the server persists what its
    /// configuration says on shutdown, then re-executes itself).
    #[default]
    Restart,
    /// `DEBUG CRASH-AND-RECOVER`: the process restarts without a shutdown
    /// save, as after a crash or an OOM kill.
    Crash,
}

impl SurvivalMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SurvivalMode::Restart => "restart",
            SurvivalMode::Crash => "crash",
        }
    }
}

/// The configuration of one STM audit. `Default` gives the documented
/// defaults with no URL (only STA-EXTERNAL runs).
#[derive(Debug, Clone)]
pub struct StmConfig {
    /// `redis://[user:password@]host:port[/db]` or `rediss://…` (TLS). None:
    /// only the declarations (STA-EXTERNAL) are checked.
    pub url: Option<String>,
    /// The agent's session keys start with this; the check's own key is
    /// `{key_prefix}cockpit-check:{uuid}`.
    pub key_prefix: String,
    /// STA-LATENCY: PING p99 bound (warn up to 2×, fail beyond).
    pub latency_p99: Duration,
    /// Measured PINGs, and measured SET/GET pairs on the check's own key.
    pub latency_samples: u32,
    /// Timeout of every command and of the connection.
    pub timeout: Duration,
    /// TTL of the check's own keys (they expire even if the audit is killed).
    pub check_key_ttl: Duration,
    /// STA-KEYS (opt-in): sample at most this many session keys with SCAN.
    pub sample_sessions: Option<u32>,
    /// STA-SURVIVAL (opt-in): restart the server and see whether a marker survives.
    pub disruptive: bool,
    /// How STA-SURVIVAL takes the server down.
    pub survival_mode: SurvivalMode,
    /// How long STA-SURVIVAL waits for the server to answer again.
    pub survival_timeout: Duration,
    /// What the agents declare (for STA-EXTERNAL).
    pub agents: Vec<DeclaredStm>,
}

impl Default for StmConfig {
    fn default() -> Self {
        StmConfig {
            url: None,
            key_prefix: "agent:stm:".to_string(),
            latency_p99: Duration::from_millis(10),
            latency_samples: 200,
            timeout: Duration::from_secs(5),
            check_key_ttl: Duration::from_secs(120),
            sample_sessions: None,
            disruptive: false,
            survival_mode: SurvivalMode::Restart,
            survival_timeout: Duration::from_secs(30),
            agents: Vec::new(),
        }
    }
}

impl StmConfig {
    /// The defaults, auditing `url`.
    pub fn for_url(url: impl Into<String>) -> StmConfig {
        StmConfig {
            url: Some(url.into()),
            ..StmConfig::default()
        }
    }
}
