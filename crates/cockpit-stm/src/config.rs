//! What an STM audit is told: the Redis URL, the key prefix, the bounds,
//! and what the agents declare about their session memory.

use std::time::Duration;

use cockpit_core::fleet::SessionStore;
use serde::Deserialize;

use crate::endpoint::{Endpoint, redacted};
use crate::{ReplyLimits, StmError};

/// Where an agent declares its short-term (session) memory lives.
/// One agent's declaration, as the CLI reads it from `[[agents]] stm = …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredStm {
    /// The agent's name (the finding's subject).
    pub agent: String,
    pub backend: SessionStore,
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
#[derive(Clone)]
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
    /// The bounds every reply from the server is read under.
    pub reply_limits: ReplyLimits,
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
            reply_limits: ReplyLimits::default(),
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

/// The `[stm]` section of `cockpit.toml`, as written (units in the key
/// names). Unknown keys are rejected. `--sample-sessions` and `--disruptive`
/// are command-line flags, not settings: a restart is asked for per run.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StmSettings {
    /// `redis://[user:password@]host:port[/db]` or `rediss://…`; `${VAR}` is
    /// expanded by the CLI (keep the password in the environment).
    pub url: String,
    #[serde(default = "default_prefix")]
    pub key_prefix: String,
    /// STA-LATENCY bound on PING p99, milliseconds.
    #[serde(default = "default_latency_ms")]
    pub latency_p99_ms: f64,
    #[serde(default = "default_latency_samples")]
    pub latency_samples: u32,
    /// Timeout of the connection and of every command, seconds.
    #[serde(default = "default_timeout_s")]
    pub timeout_s: f64,
    /// TTL of the check's own keys, seconds.
    #[serde(default = "default_key_ttl_s")]
    pub check_key_ttl_s: u64,
    /// How `--disruptive` takes the server down: `restart` or `crash`.
    #[serde(default)]
    pub survival: SurvivalMode,
    /// How long `--disruptive` waits for the server to answer again, seconds.
    #[serde(default = "default_survival_timeout_s")]
    pub survival_timeout_s: f64,
}

fn default_prefix() -> String {
    StmConfig::default().key_prefix
}
fn default_latency_ms() -> f64 {
    StmConfig::default().latency_p99.as_secs_f64() * 1000.0
}
fn default_latency_samples() -> u32 {
    StmConfig::default().latency_samples
}
fn default_timeout_s() -> f64 {
    StmConfig::default().timeout.as_secs_f64()
}
fn default_key_ttl_s() -> u64 {
    StmConfig::default().check_key_ttl.as_secs()
}
fn default_survival_timeout_s() -> f64 {
    StmConfig::default().survival_timeout.as_secs_f64()
}

impl StmSettings {
    /// Check the values serde cannot; the error names the key. The URL is
    /// parsed as a connection would parse it, so a URL that could not be
    /// used (a bad port, an unencoded `/` in the password) is refused here.
    pub fn validate(&self) -> Result<(), StmError> {
        let config = |key: &'static str, message: String| StmError::Config { key, message };
        if let Err(e) = Endpoint::parse(&self.url) {
            return Err(config("url", format!("stm.url: {e}")));
        }
        for (key, v) in [
            ("latency_p99_ms", self.latency_p99_ms),
            ("timeout_s", self.timeout_s),
            ("survival_timeout_s", self.survival_timeout_s),
        ] {
            if !(v.is_finite() && v > 0.0 && v < 86_400_000.0) {
                return Err(config(
                    key,
                    format!("stm.{key} must be a positive number, got {v}"),
                ));
            }
        }
        if self.latency_samples == 0 || self.latency_samples > 10_000_000 {
            return Err(config(
                "latency_samples",
                format!(
                    "stm.latency_samples must be 1..=10000000, got {}",
                    self.latency_samples
                ),
            ));
        }
        if self.check_key_ttl_s == 0 {
            return Err(config(
                "check_key_ttl_s",
                "stm.check_key_ttl_s must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// The audit configuration these settings describe.
    pub fn to_config(&self) -> StmConfig {
        StmConfig {
            url: Some(self.url.clone()),
            key_prefix: self.key_prefix.clone(),
            latency_p99: Duration::from_secs_f64(self.latency_p99_ms / 1000.0),
            latency_samples: self.latency_samples,
            timeout: Duration::from_secs_f64(self.timeout_s),
            check_key_ttl: Duration::from_secs(self.check_key_ttl_s),
            survival_mode: self.survival,
            survival_timeout: Duration::from_secs_f64(self.survival_timeout_s),
            ..StmConfig::default()
        }
    }
}

// Debug by hand: the URL may hold a password, so it is shown redacted.
impl std::fmt::Debug for StmSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StmSettings")
            .field("url", &redacted(&self.url))
            .field("key_prefix", &self.key_prefix)
            .field("latency_p99_ms", &self.latency_p99_ms)
            .field("latency_samples", &self.latency_samples)
            .field("timeout_s", &self.timeout_s)
            .field("survival", &self.survival)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for StmConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StmConfig")
            .field("url", &self.url.as_deref().map(redacted))
            .field("key_prefix", &self.key_prefix)
            .field("latency_p99", &self.latency_p99)
            .field("latency_samples", &self.latency_samples)
            .field("timeout", &self.timeout)
            .field("sample_sessions", &self.sample_sessions)
            .field("disruptive", &self.disruptive)
            .field("survival_mode", &self.survival_mode)
            .field("agents", &self.agents)
            .field("reply_limits", &self.reply_limits)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str) -> StmSettings {
        serde_json::from_value(serde_json::json!({ "url": url })).unwrap()
    }

    #[test]
    fn debug_never_shows_the_password() {
        for (url, secret) in [
            ("redis://:hunter2@127.0.0.1:6379", "hunter2"),
            ("redis://:ab%2Fcd%2Bef%3D%3D@127.0.0.1:6379", "cd%2Bef"),
            // Unencoded: the URL does not parse, and still nothing shows.
            ("redis://:ab/cd+ef==@127.0.0.1:6379", "cd+ef"),
            ("redis://u:p#ss@h:1", "ss@h"),
        ] {
            let c = StmConfig::for_url(url);
            assert!(!format!("{c:?}").contains(secret), "{c:?}");
            let s = settings(url);
            assert!(!format!("{s:?}").contains(secret), "{s:?}");
            if let Err(e) = s.validate() {
                assert!(!e.to_string().contains(secret), "{e}");
                assert!(!format!("{e:?}").contains(secret), "{e:?}");
            }
        }
    }

    #[test]
    fn validate_names_the_key() {
        assert!(settings("redis://u:hunter2@h:1").validate().is_ok());
        let key = |s: StmSettings| match s.validate() {
            Err(StmError::Config { key, message }) => {
                assert!(message.contains(&format!("stm.{key}")), "{message}");
                assert!(!message.contains("hunter2"), "{message}");
                key
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(key(settings("http://u:hunter2@h:1")), "url");
        assert_eq!(key(settings("redis://u:hunter2@h:99999")), "url");
        assert_eq!(key(settings("redis://:hunter2/x@h:1")), "url");
        let mut s = settings("redis://h");
        s.timeout_s = 1e300;
        assert_eq!(key(s), "timeout_s");
        let mut s = settings("redis://h");
        s.latency_samples = 0;
        assert_eq!(key(s), "latency_samples");
        let mut s = settings("redis://h");
        s.check_key_ttl_s = 0;
        assert_eq!(key(s), "check_key_ttl_s");
    }
}
