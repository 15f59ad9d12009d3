//! `cockpit.toml`: read, validated, with errors that name file:line:column.

use std::path::{Path, PathBuf};

use cockpit_core::fleet::{AgentConfig, AgentProtocol, RetrievalConfig};
use cockpit_probe::{NetworkAuditConfig, ProbeSettings, Thresholds};
use serde::Deserialize;

/// The whole configuration file. Unknown keys anywhere are errors.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CockpitConfig {
    #[serde(default)]
    pub agents: Vec<AgentConfig>,
    #[serde(default)]
    pub retrieval: Vec<RetrievalConfig>,
    #[serde(default)]
    pub thresholds: Thresholds,
    #[serde(default)]
    pub probe: ProbeSettings,
    /// `[stm]`: the Redis / Memorystore holding the agents' session memory.
    #[serde(default)]
    pub stm: Option<cockpit_stm::StmSettings>,
    /// `--sample-sessions N` (command line only).
    #[serde(skip)]
    pub stm_sample_sessions: Option<u32>,
    /// `--disruptive` (command line only): restart the [stm] server.
    #[serde(skip)]
    pub stm_disruptive: bool,
    /// The Sovereign Gate: threshold, pillar weights, fail-closed, waivers, evidence lake.
    #[serde(default)]
    pub gate: cockpit_score::GatePolicy,
    /// `[kubernetes]`: manifests, Cloud Run exports, pipelines, a live cluster.
    #[serde(default)]
    pub kubernetes: cockpit_k8s::K8sConfig,
}

impl CockpitConfig {
    /// The State audit: the `[stm]` settings, the command-line opt-ins, and
    /// what each agent declares about its session memory.
    pub fn stm_config(&self) -> cockpit_stm::StmConfig {
        let mut c = match &self.stm {
            Some(s) => s.to_config(),
            None => cockpit_stm::StmConfig::default(),
        };
        c.sample_sessions = self.stm_sample_sessions;
        c.disruptive = self.stm_disruptive;
        c.agents = self
            .agents
            .iter()
            .filter_map(|a| {
                Some(cockpit_stm::DeclaredStm {
                    agent: a.name.clone(),
                    backend: a.stm?,
                })
            })
            .collect();
        c
    }

    pub fn network(&self) -> NetworkAuditConfig {
        NetworkAuditConfig {
            agents: self.agents.clone(),
            retrieval: self.retrieval.clone(),
            thresholds: self.thresholds.clone(),
            probe: self.probe.clone(),
        }
    }
}

/// A configuration error, located in its file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    Unlocated { path: PathBuf, message: String },
}

/// Read and validate a configuration file.
pub fn load(path: &Path) -> Result<CockpitConfig, ConfigError> {
    let src = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &src)
}

/// Parse and validate configuration text; `path` names it in errors.
pub fn parse(path: &Path, src: &str) -> Result<CockpitConfig, ConfigError> {
    let mut cfg: CockpitConfig = toml::from_str(src).map_err(|e| {
        located(
            path,
            src,
            e.span().map(|s| s.start),
            e.message().trim().to_string(),
        )
    })?;
    validate(path, src, &mut cfg)?;
    Ok(cfg)
}

/// An error at a byte offset of the file (line and column), or of the
/// whole file when the offset is unknown.
fn located(path: &Path, src: &str, offset: Option<usize>, message: String) -> ConfigError {
    match offset {
        Some(offset) => {
            let (line, column) = line_col(src, offset);
            ConfigError::Invalid {
                path: path.to_path_buf(),
                line,
                column,
                message,
            }
        }
        None => ConfigError::Unlocated {
            path: path.to_path_buf(),
            message,
        },
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = src[line_start..offset].chars().count() + 1;
    (line, column)
}

/// Semantic checks that serde cannot express; errors point at the value.
fn validate(path: &Path, src: &str, cfg: &mut CockpitConfig) -> Result<(), ConfigError> {
    let err = |needle: &str, message: String| {
        // Point at the first place the offending value is written.
        let quoted = format!("\"{needle}\"");
        let at = src.find(&quoted).or_else(|| src.find(needle));
        located(path, src, at, message)
    };

    let mut names = std::collections::HashSet::new();
    for a in &mut cfg.agents {
        if !names.insert(a.name.clone()) {
            return Err(err(
                &a.name,
                format!("agent name `{}` is used twice", a.name),
            ));
        }
        a.endpoint = expand_env(&a.endpoint).map_err(|m| err(&a.endpoint, m))?;
        check_url(&a.endpoint, a.protocol).map_err(|m| err(&a.endpoint, m))?;
        if let Some(s) = &mut a.shadow_endpoint {
            *s = expand_env(s).map_err(|m| err(s, m))?;
            check_url(s, a.protocol).map_err(|m| err(s, m))?;
        }
        if let Some(m) = &mut a.metrics_url {
            *m = expand_env(m).map_err(|e| err(m, e))?;
            check_url(m, AgentProtocol::Http).map_err(|e| err(m, e))?;
        }
    }
    let mut backends = std::collections::HashSet::new();
    for r in &mut cfg.retrieval {
        if !backends.insert(r.name.clone()) {
            return Err(err(
                &r.name,
                format!("retrieval backend name `{}` is used twice", r.name),
            ));
        }
        if r.endpoint.is_none() && r.grpc_endpoint.is_none() {
            return Err(err(
                &r.name,
                format!(
                    "retrieval backend `{}` needs `endpoint` (REST) or `grpc_endpoint`",
                    r.name
                ),
            ));
        }
        if let Some(e) = &mut r.endpoint {
            *e = expand_env(e).map_err(|m| err(e, m))?;
            check_url(e, AgentProtocol::Http).map_err(|m| err(e, m))?;
        }
        if let Some(e) = &mut r.grpc_endpoint {
            *e = expand_env(e).map_err(|m| err(e, m))?;
            check_url(e, AgentProtocol::Grpc).map_err(|m| err(e, m))?;
        }
    }
    for a in &cfg.agents {
        for b in a.retrieval.iter().flatten() {
            if !backends.contains(b) {
                return Err(err(
                    b,
                    format!(
                        "agent `{}` names retrieval backend `{b}`, which no [[retrieval]] entry defines",
                        a.name
                    ),
                ));
            }
        }
    }
    if let Err(e) = cfg.kubernetes.validate() {
        let key = match &e {
            cockpit_k8s::K8sError::Config { key, .. } => *key,
            _ => "kubernetes",
        };
        return Err(err(key, e.to_string()));
    }
    let t = &cfg.thresholds;
    for (key, v) in [
        ("ttft_p95_ms", t.ttft_p95_ms),
        ("retrieval_p99_ms", t.retrieval_p99_ms),
        ("cold_start_ms", t.cold_start_ms),
        ("zone_rtt_ms", t.zone_rtt_ms),
        ("protocol_tax_ratio", t.protocol_tax_ratio),
    ] {
        if !(v.is_finite() && v > 0.0) {
            return Err(err(
                key,
                format!("thresholds.{key} must be a positive number, got {v}"),
            ));
        }
    }
    if let Some(stm) = &mut cfg.stm {
        let raw = stm.url.clone();
        stm.url = expand_env(&stm.url).map_err(|m| err(&raw, format!("stm.url: {m}")))?;
        stm.validate().map_err(|(key, m)| match key {
            "url" => err(&raw, m),
            key => err(key, m),
        })?;
    }
    let p = &cfg.probe;
    if p.samples == 0 || p.samples > 100_000 {
        return Err(err(
            "samples",
            format!("probe.samples must be 1..=100000, got {}", p.samples),
        ));
    }
    if p.concurrency == 0 || p.concurrency > 1024 {
        return Err(err(
            "concurrency",
            format!("probe.concurrency must be 1..=1024, got {}", p.concurrency),
        ));
    }
    if !(p.timeout_s.is_finite() && p.timeout_s > 0.0) {
        return Err(err(
            "timeout_s",
            format!("probe.timeout_s must be positive, got {}", p.timeout_s),
        ));
    }
    validate_gate(path, src, &cfg.gate)
}

/// `[gate]`: the policy's own checks, each error pointed at its key or at
/// the waiver's check id.
fn validate_gate(
    path: &Path,
    src: &str,
    gate: &cockpit_score::GatePolicy,
) -> Result<(), ConfigError> {
    use cockpit_score::ScoreError;
    let known = crate::evidence::check_catalogue();
    gate.validate(&known).map_err(|e| {
        let needle = match &e {
            ScoreError::Threshold(_) => "threshold".to_string(),
            ScoreError::Weight { pillar, .. } if pillar != "*" => pillar.clone(),
            ScoreError::Weight { .. } => "weights".to_string(),
            ScoreError::RegressionPercent(_) => "regression_percent".to_string(),
            ScoreError::UnknownCheck { check, .. } | ScoreError::WaiverField { check, .. } => {
                format!("\"{check}\"")
            }
            ScoreError::Slo(cockpit_core::slo::SloError::Unsupported { text, .. }) => text.clone(),
            _ => "gate".to_string(),
        };
        // Search from the `[gate` tables on, so `threshold` is not found in `[thresholds]`.
        let from = src.find("[gate").unwrap_or(0);
        let message = format!("[gate] {e}");
        match src[from..].find(&needle) {
            Some(at) => {
                let (line, column) = line_col(src, from + at);
                ConfigError::Invalid {
                    path: path.to_path_buf(),
                    line,
                    column,
                    message,
                }
            }
            None => ConfigError::Unlocated {
                path: path.to_path_buf(),
                message,
            },
        }
    })
}

/// Replace `${VAR}` with the environment variable's value.
pub fn expand_env(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| "unterminated `${` in value".to_string())?;
        let name = &after[..end];
        let value =
            std::env::var(name).map_err(|_| format!("environment variable `{name}` is not set"))?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn check_url(url: &str, protocol: AgentProtocol) -> Result<(), String> {
    let shown = cockpit_core::redact_url(url);
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("`{shown}` is not a URL (expected scheme://host:port/...)"))?;
    let allowed: &[&str] = match protocol {
        AgentProtocol::Grpc => &["grpc", "grpcs", "http", "https"],
        _ => &["http", "https"],
    };
    if !allowed.contains(&scheme) {
        return Err(format!(
            "`{shown}`: scheme `{scheme}` is not one of {}",
            allowed.join(", ")
        ));
    }
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit('@').next().unwrap_or(host);
    if host.is_empty() {
        return Err(format!("`{shown}` has no host"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(src: &str) -> Result<CockpitConfig, ConfigError> {
        parse(Path::new("cockpit.toml"), src)
    }

    #[test]
    fn unknown_key_is_located() {
        let e = p("[thresholds]\nttft_p95_ms = 800\nttft_p59_ms = 1\n").unwrap_err();
        let s = e.to_string();
        assert!(s.starts_with("cockpit.toml:3:1:"), "{s}");
        assert!(s.contains("ttft_p59_ms"), "{s}");
    }

    #[test]
    fn unknown_key_in_agent_is_located() {
        let src = "[[agents]]\nname = \"a\"\nendpoint = \"http://h/v1\"\nprotocol = \"openai\"\nendpont = \"x\"\n";
        let s = p(src).unwrap_err().to_string();
        assert!(s.starts_with("cockpit.toml:5:1:"), "{s}");
    }

    #[test]
    fn bad_protocol_is_located() {
        let src = "[[agents]]\nname = \"a\"\nendpoint = \"http://h/v1\"\nprotocol = \"soap\"\n";
        let s = p(src).unwrap_err().to_string();
        assert!(s.starts_with("cockpit.toml:4:12:"), "{s}");
    }

    #[test]
    fn bad_url_and_dangling_backend() {
        let src = "[[agents]]\nname = \"a\"\nendpoint = \"ftp://h/v1\"\nprotocol = \"openai\"\n";
        let s = p(src).unwrap_err().to_string();
        assert!(
            s.starts_with("cockpit.toml:3:12:") && s.contains("ftp"),
            "{s}"
        );
        let src = "[[agents]]\nname = \"a\"\nendpoint = \"http://h/v1\"\nprotocol = \"openai\"\nretrieval = [\"vecs\"]\n";
        let s = p(src).unwrap_err().to_string();
        assert!(
            s.starts_with("cockpit.toml:5:14:") && s.contains("vecs"),
            "{s}"
        );
    }

    #[test]
    fn env_expansion_and_missing_var() {
        assert_eq!(
            expand_env("a${PATH}b").unwrap(),
            format!("a{}b", std::env::var("PATH").unwrap())
        );
        assert!(
            expand_env("${COCKPIT_SURELY_UNSET_VAR}")
                .unwrap_err()
                .contains("COCKPIT_SURELY_UNSET_VAR")
        );
    }

    #[test]
    fn example_config_parses() {
        let src = include_str!("../../../examples/cockpit.toml");
        let cfg = p(src).unwrap();
        assert!(!cfg.agents.is_empty());
        assert!(!cfg.retrieval.is_empty());
    }

    #[test]
    fn thresholds_default_and_validate() {
        let cfg = p("").unwrap();
        assert_eq!(cfg.thresholds.ttft_p95_ms, 800.0);
        let s = p("[thresholds]\nttft_p95_ms = -1\n")
            .unwrap_err()
            .to_string();
        assert!(
            s.contains("ttft_p95_ms") && s.starts_with("cockpit.toml:2:1:"),
            "{s}"
        );
    }
}
