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
    /// `[[mcp]]`: the MCP servers the agents call (cockpit-deps).
    #[serde(default)]
    pub mcp: Vec<cockpit_deps::McpServerConfig>,
    /// `[[vector_store]]`: the vector stores the agents' retrieval reads
    /// (cockpit-deps).
    #[serde(default)]
    pub vector_store: Vec<cockpit_deps::VectorStoreConfig>,
    /// `[[cache]]`: the agents' semantic / prefix caches (cockpit-hive).
    #[serde(default)]
    pub cache: Vec<cockpit_hive::CacheConfig>,
    /// `[watchtower]`: how many attempts, how fast (with `--watchtower`).
    #[serde(default)]
    pub watchtower: cockpit_watchtower::WatchtowerSettings,
    /// `--watchtower` (command line only).
    #[serde(skip)]
    pub watchtower_enabled: bool,
    /// `[shadow]`: how `[[agents]] shadow_endpoint` comparisons sample and judge.
    #[serde(default)]
    pub shadow: cockpit_shadow::ShadowSettings,
    /// The Sovereign Gate: threshold, pillar weights, fail-closed, waivers, evidence lake.
    #[serde(default)]
    pub gate: cockpit_score::GatePolicy,
    /// `[kubernetes]`: manifests, Cloud Run exports, pipelines, a live cluster.
    #[serde(default)]
    pub kubernetes: cockpit_k8s::K8sConfig,
    /// `[deploy]`: what `deploy sovereign` renders and applies.
    #[serde(default)]
    pub deploy: Option<cockpit_k8s::deploy::DeploySettings>,
    /// `[cockpit]`: Mission Control's interval, window, concurrency and
    /// `[cockpit.alerts]` rules.
    #[serde(default)]
    pub cockpit: cockpit_fleet::CockpitSettings,
    /// SHA-256 (hex) of the file as written, before `${VAR}` expansion, so
    /// the hash in a report never depends on a secret's value.
    #[serde(skip)]
    pub source_sha256: Option<String>,
    /// The line each entry's table starts on (`agents.<name>`, `stm`, …):
    /// see [`entry_lines`].
    #[serde(skip)]
    pub source_lines: std::collections::BTreeMap<String, u32>,
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

    /// The agents' dependencies: `[[mcp]]`, `[[vector_store]]`, and the
    /// agents (whose zones RAG-ZONE compares).
    pub fn deps_config(&self) -> cockpit_deps::DepsConfig {
        cockpit_deps::DepsConfig::new(
            self.mcp.clone(),
            self.vector_store.clone(),
            self.agents.clone(),
        )
    }

    /// The shadow comparisons: the agents (those with a `shadow_endpoint`
    /// are compared), `[probe]`'s TLS settings, `[shadow]`.
    pub fn shadow_config(&self) -> cockpit_shadow::ShadowConfig {
        cockpit_shadow::ShadowConfig::new(
            self.agents.clone(),
            self.probe.clone(),
            self.shadow.clone(),
        )
    }

    /// Hive Mind cache analytics: `[[cache]]`, the agents they name,
    /// `[probe]`'s timeout and TLS settings.
    pub fn hive_config(&self) -> cockpit_hive::HiveConfig {
        cockpit_hive::HiveConfig::new(self.cache.clone(), self.agents.clone(), self.probe.clone())
    }

    /// The adversarial watchtower: the agents (those with a `canary` are
    /// probed), `[probe]`'s TLS settings, `[watchtower]`.
    pub fn watchtower_config(&self) -> cockpit_watchtower::WatchtowerConfig {
        cockpit_watchtower::WatchtowerConfig::new(
            self.agents.clone(),
            self.probe.clone(),
            self.watchtower.clone(),
        )
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
    let src = read_bounded(path)?;
    let mut cfg = parse(path, &src)?;
    cfg.source_sha256 = Some(cockpit_score::config_sha256(&src));
    cfg.source_lines = entry_lines(&src, &cfg);
    Ok(cfg)
}

/// The largest configuration file read: far above any real one (a few KiB),
/// far below what would hurt.
pub const MAX_CONFIG_BYTES: u64 = 4 << 20;

/// The file's text, if it is a regular file of at most [`MAX_CONFIG_BYTES`]:
/// a FIFO, a device (`/dev/zero`) or a directory is refused before it is
/// opened, so nothing blocks or reads without end.
fn read_bounded(path: &Path) -> Result<String, ConfigError> {
    use std::io::Read as _;
    let refuse = |message: String| ConfigError::Unlocated {
        path: path.to_path_buf(),
        message,
    };
    let read_err = |source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    if !meta.is_file() {
        return Err(refuse(
            "not a regular file (a configuration is read only from a file)".into(),
        ));
    }
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(refuse(format!(
            "{} bytes, over the {MAX_CONFIG_BYTES}-byte limit of a configuration file",
            meta.len()
        )));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_CONFIG_BYTES + 1).read_to_end(&mut bytes))
        .map_err(read_err)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(refuse(format!(
            "grew past the {MAX_CONFIG_BYTES}-byte limit of a configuration file while read"
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        refuse(format!(
            "not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })
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

    cockpit_core::fleet::validate(&cfg.agents, &cfg.retrieval)
        .map_err(|e| err(&e.value, e.message))?;
    for a in &mut cfg.agents {
        validate_agent(a, &err)?;
    }
    for r in &mut cfg.retrieval {
        if let Some(e) = &mut r.endpoint {
            expand_checked(e, AgentProtocol::Http, &err)?;
        }
        if let Some(e) = &mut r.grpc_endpoint {
            expand_checked(e, AgentProtocol::Grpc, &err)?;
        }
    }
    validate_deps(path, src, cfg, &err)?;
    if let Err(e) = cfg.shadow.validate() {
        let at = match &e {
            cockpit_shadow::ShadowError::Config { key, .. } => table_key_offset(src, "shadow", key),
            _ => None,
        };
        return Err(located(path, src, at, e.to_string()));
    }
    validate_watchtower(path, src, cfg)?;
    validate_session_headers(path, src, &cfg.agents)?;
    validate_hive(path, src, cfg, &err)?;
    if let Err(e) = cfg.kubernetes.validate() {
        let key = match &e {
            cockpit_k8s::K8sError::Config { key, .. } => *key,
            _ => "kubernetes",
        };
        return Err(err(key, e.to_string()));
    }
    validate_deploy(path, src, cfg)?;
    cfg.thresholds
        .validate()
        .map_err(|e| probe_error(&err, e))?;
    if let Some(stm) = &mut cfg.stm {
        let raw = stm.url.clone();
        stm.url = expand_url(&stm.url).map_err(|m| err(&raw, format!("stm.url: {m}")))?;
        stm.validate().map_err(|e| match e {
            cockpit_stm::StmError::Config {
                key: "url",
                message,
            } => err(&raw, message),
            cockpit_stm::StmError::Config { key, message } => err(key, message),
            other => err("stm", other.to_string()),
        })?;
    }
    cfg.probe.validate().map_err(|e| probe_error(&err, e))?;
    validate_cockpit(path, src, &mut cfg.cockpit)?;
    validate_gate(path, src, &cfg.gate)
}

/// `[[mcp]]` / `[[vector_store]]`: URLs expanded (`${VAR}`), then the
/// library's rules; an error points at the key in the entry's table (or at
/// the table).
fn validate_deps(
    path: &Path,
    src: &str,
    cfg: &mut CockpitConfig,
    err: &impl Fn(&str, String) -> ConfigError,
) -> Result<(), ConfigError> {
    let urls = cfg
        .mcp
        .iter_mut()
        .filter_map(|m| m.url.as_mut())
        .chain(cfg.vector_store.iter_mut().map(|v| &mut v.url));
    for url in urls {
        let raw = url.clone();
        *url = expand_url(&raw).map_err(|m| err(&raw, m))?;
    }
    expand_deps_secrets(cfg, err)?;
    cfg.deps_config().validate().map_err(|e| {
        let at = match &e {
            cockpit_deps::DepsError::Config {
                kind, name, key, ..
            } => entry_key_offset(src, kind, name, key),
            _ => None,
        };
        located(path, src, at, e.to_string())
    })
}

/// The line each named entry's table header is on, keyed as findings name
/// a configuration entry (`agents.<name>`, `retrieval.<name>`,
/// `mcp.<name>`, `vector_store.<name>`, `stm`), so a finding about an
/// entry points at the table that declares it.
pub fn entry_lines(src: &str, cfg: &CockpitConfig) -> std::collections::BTreeMap<String, u32> {
    let line = |at: usize| u32::try_from(line_col(src, at).0).unwrap_or(u32::MAX);
    let named = [
        (
            "agents",
            cfg.agents
                .iter()
                .map(|a| a.name.as_str())
                .collect::<Vec<_>>(),
        ),
        (
            "retrieval",
            cfg.retrieval.iter().map(|r| r.name.as_str()).collect(),
        ),
        ("mcp", cfg.mcp.iter().map(|m| m.name.as_str()).collect()),
        (
            "vector_store",
            cfg.vector_store.iter().map(|v| v.name.as_str()).collect(),
        ),
    ];
    let mut lines = std::collections::BTreeMap::new();
    for (kind, names) in named {
        for name in names {
            if let Some(at) = entry_offset(src, kind, name) {
                lines.insert(format!("{kind}.{name}"), line(at));
            }
        }
    }
    if cfg.stm.is_some()
        && let Some(at) = table_offset(src, "stm")
    {
        lines.insert("stm".into(), line(at));
    }
    lines
}

/// The byte offset of the header of the `[[kind]]` table whose `name = `
/// line names `name`.
fn entry_offset(src: &str, kind: &str, name: &str) -> Option<usize> {
    let header = format!("[[{kind}]]");
    let quoted = format!("\"{name}\"");
    src.match_indices(&header)
        .map(|(at, _)| at)
        .filter(|&at| {
            src[..at]
                .rsplit('\n')
                .next()
                .is_some_and(|l| l.trim().is_empty())
        })
        .find(|&at| {
            let end = table_end(src, at + header.len());
            let key = key_in_table(src, at, end, "name");
            key != at
                && src[key..end]
                    .lines()
                    .next()
                    .is_some_and(|l| l.contains(&quoted))
        })
}

/// `${VAR}` in `[[mcp]] headers` and `[[vector_store]] api_key` /
/// `headers`, expanded as they are; an error names the entry and the
/// header (or key), never a value.
fn expand_deps_secrets(
    cfg: &mut CockpitConfig,
    err: &impl Fn(&str, String) -> ConfigError,
) -> Result<(), ConfigError> {
    let tables = (cfg.mcp.iter_mut())
        .map(|m| ("mcp", m.name.clone(), &mut m.headers))
        .chain(
            (cfg.vector_store.iter_mut()).map(|v| ("vector_store", v.name.clone(), &mut v.headers)),
        );
    for (kind, name, headers) in tables {
        for (header, value) in headers.iter_mut() {
            *value = expand_env(value)
                .map_err(|m| err(header, format!("{kind} `{name}`: header {header}: {m}")))?;
        }
    }
    for v in &mut cfg.vector_store {
        if let Some(k) = &mut v.api_key {
            *k = expand_env(k).map_err(|m| {
                err(
                    "api_key",
                    format!("vector_store `{}`: api_key: {m}", v.name),
                )
            })?;
        }
    }
    Ok(())
}

/// The byte offset of `key = …` in the `[[kind]]` table named `name`, else
/// of that table's header.
fn entry_key_offset(src: &str, kind: &str, name: &str, key: &str) -> Option<usize> {
    let header = format!("[[{kind}]]");
    let quoted = format!("\"{name}\"");
    src.match_indices(&header).find_map(|(at, _)| {
        let end = table_end(src, at + header.len());
        src[at..end]
            .contains(&quoted)
            .then(|| key_in_table(src, at, end, key))
    })
}

/// The byte offset of `key = …` in the `[name]` table, else of its header.
fn table_key_offset(src: &str, name: &str, key: &str) -> Option<usize> {
    let at = table_offset(src, name)?;
    Some(key_in_table(
        src,
        at,
        table_end(src, at + name.len() + 2),
        key,
    ))
}

/// The byte offset of the `[name]` table's header, at the start of a line.
fn table_offset(src: &str, name: &str) -> Option<usize> {
    let header = format!("[{name}]");
    src.match_indices(&header)
        .map(|(at, _)| at)
        .find(|&at| at == 0 || src[..at].ends_with('\n'))
}

/// Where the table whose body starts at `body` ends: the next table header.
fn table_end(src: &str, body: usize) -> usize {
    src[body..].find("\n[").map_or(src.len(), |i| body + i)
}

/// The offset of the line `key = …` within `src[at..end]`, else `at`.
fn key_in_table(src: &str, at: usize, end: usize, key: &str) -> usize {
    let mut offset = at;
    for line in src[at..end].split_inclusive('\n') {
        let t = line.trim_start();
        if t.strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
        {
            return offset + (line.len() - t.len());
        }
        offset += line.len();
    }
    at
}

/// `[[cache]]`: metrics URLs expanded (`${VAR}`), then the library's
/// rules, each error pointed at its key in the entry naming the agent.
fn validate_hive(
    path: &Path,
    src: &str,
    cfg: &mut CockpitConfig,
    err: &impl Fn(&str, String) -> ConfigError,
) -> Result<(), ConfigError> {
    for url in cfg.cache.iter_mut().filter_map(|c| c.metrics_url.as_mut()) {
        expand_checked(url, AgentProtocol::Http, err)?;
    }
    cfg.hive_config().validate().map_err(|e| {
        let at = match &e {
            cockpit_hive::HiveError::Config { agent, key, .. } => {
                entry_key_offset(src, "cache", agent, key)
            }
            _ => None,
        };
        located(path, src, at, e.to_string())
    })
}

/// `[deploy]`: `near_retrieval` resolved to that backend's zone, then the
/// settings' own checks, each error pointed at its key.
fn validate_deploy(path: &Path, src: &str, cfg: &mut CockpitConfig) -> Result<(), ConfigError> {
    let Some(d) = &mut cfg.deploy else {
        return Ok(());
    };
    if let Some(name) = &d.near_retrieval {
        let zone = cfg
            .retrieval
            .iter()
            .find(|r| &r.name == name)
            .map(|r| r.zone.clone());
        d.affinity_zone = match zone {
            Some(Some(z)) => Some(z),
            Some(None) => {
                return Err(located(
                    path,
                    src,
                    table_key_offset(src, "deploy", "near_retrieval"),
                    format!("deploy.near_retrieval: [[retrieval]] `{name}` has no zone to be near"),
                ));
            }
            None => {
                return Err(located(
                    path,
                    src,
                    table_key_offset(src, "deploy", "near_retrieval"),
                    format!("deploy.near_retrieval: no [[retrieval]] entry is named `{name}`"),
                ));
            }
        };
    }
    d.validate().map_err(|e| {
        let at = match &e {
            cockpit_k8s::K8sError::DeployConfig { key, .. } => table_key_offset(src, "deploy", key),
            _ => None,
        };
        located(path, src, at, e.to_string())
    })
}

/// `[watchtower]` and every agent's `canary`, each error pointed at its
/// key (never showing a canary).
fn validate_watchtower(path: &Path, src: &str, cfg: &CockpitConfig) -> Result<(), ConfigError> {
    use cockpit_watchtower::WatchtowerError;
    cfg.watchtower_config().validate().map_err(|e| {
        let at = match &e {
            WatchtowerError::Config { key, .. } => table_key_offset(src, "watchtower", key),
            WatchtowerError::Canary { agent, .. } => {
                entry_key_offset(src, "agents", agent, "canary")
            }
            _ => None,
        };
        located(path, src, at, e.to_string())
    })
}

/// Every agent's `session_header`: an HTTP header name, for an `openai`
/// or `http` agent, not also one of its `headers`; an error points at the
/// key in the agent's entry.
fn validate_session_headers(
    path: &Path,
    src: &str,
    agents: &[AgentConfig],
) -> Result<(), ConfigError> {
    for a in agents {
        let Some(h) = &a.session_header else {
            continue;
        };
        let problem = if http::HeaderName::from_bytes(h.as_bytes()).is_err() {
            Some(format!("{h:?} is not an HTTP header name"))
        } else if a.protocol == AgentProtocol::Grpc {
            Some("sessions are carried by a header to openai and http agents; gRPC metadata is not supported".into())
        } else if a.headers.keys().any(|k| k.eq_ignore_ascii_case(h)) {
            Some(format!("`{h}` is also set in `headers`"))
        } else {
            None
        };
        if let Some(p) = problem {
            let at = entry_key_offset(src, "agents", &a.name, "session_header");
            let message = format!("agent `{}`: session_header: {p}", a.name);
            return Err(located(path, src, at, message));
        }
    }
    Ok(())
}

/// `[cockpit]`: the webhook's `${VAR}` expanded, then the settings' own
/// checks, each error pointed at its key within the `[cockpit` tables (the
/// webhook's value is never shown).
fn validate_cockpit(
    path: &Path,
    src: &str,
    c: &mut cockpit_fleet::CockpitSettings,
) -> Result<(), ConfigError> {
    let at = |key: &str| {
        let from = src.find("[cockpit").unwrap_or(0);
        src[from..].find(key).map(|at| from + at)
    };
    if let Some(url) = &mut c.alerts.webhook {
        *url = expand_url(url).map_err(|m| {
            located(
                path,
                src,
                at("webhook"),
                format!("cockpit.alerts.webhook: {m}"),
            )
        })?;
    }
    c.validate().map_err(|e| {
        let key = match &e {
            cockpit_fleet::MonitorError::Config { key, .. } => *key,
            _ => "cockpit",
        };
        located(path, src, at(key), e.to_string())
    })
}

/// A `[thresholds]` / `[probe]` error, pointed at its key.
fn probe_error(
    err: &dyn Fn(&str, String) -> ConfigError,
    e: cockpit_probe::ProbeError,
) -> ConfigError {
    match &e {
        cockpit_probe::ProbeError::Config { key, .. } => err(key, e.to_string()),
        _ => err("[probe]", e.to_string()),
    }
}

/// One `[[agents]]` entry: its URLs expanded and checked, its headers
/// expanded and checked (errors name the header, never its value).
fn validate_agent(
    a: &mut AgentConfig,
    err: &impl Fn(&str, String) -> ConfigError,
) -> Result<(), ConfigError> {
    let protocol = a.protocol;
    expand_checked(&mut a.endpoint, protocol, err)?;
    if let Some(s) = &mut a.shadow_endpoint {
        expand_checked(s, protocol, err)?;
    }
    if let Some(m) = &mut a.metrics_url {
        expand_checked(m, AgentProtocol::Http, err)?;
    }
    if let Some(c) = &mut a.canary {
        let raw = c.clone();
        *c = expand_env(&raw).map_err(|m| err(&raw, format!("agent `{}`: canary: {m}", a.name)))?;
    }
    if protocol == AgentProtocol::Grpc && !a.headers.is_empty() {
        return Err(err(
            "headers",
            format!(
                "agent `{}`: headers are sent to http and openai agents; gRPC metadata is not supported",
                a.name
            ),
        ));
    }
    for (name, value) in &mut a.headers {
        let raw = value.clone();
        *value = expand_env(value).map_err(|m| err(&raw, format!("header {name}: {m}")))?;
        crate::cli::header(name, value).map_err(|m| err(name, m))?;
    }
    Ok(())
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
            ScoreError::MinPipelineThreshold(_) => "min_pipeline_threshold".to_string(),
            ScoreError::RegressionMinSamples => "regression_min_samples".to_string(),
            ScoreError::OutOfScopeField { field, .. } => (*field).to_string(),
            ScoreError::OutOfScopeTwice { .. } => "pillar".to_string(),
            ScoreError::UnknownCheck { check, .. } | ScoreError::WaiverField { check, .. } => {
                format!("\"{check}\"")
            }
            _ => "gate".to_string(),
        };
        // Search from the `[gate` tables on, so `threshold` is not found in
        // `[thresholds]`; a declaration's key from its own table on.
        let from = match &e {
            ScoreError::OutOfScopeField { index, .. }
            | ScoreError::OutOfScopeTwice { index, .. } => src
                .match_indices("[[gate.out_of_scope]]")
                .nth(*index)
                .map(|(at, _)| at),
            _ => None,
        };
        let from = from.or_else(|| src.find("[gate")).unwrap_or(0);
        let at = src[from..].find(&needle).map(|at| from + at);
        located(path, src, at, format!("[gate] {e}"))
    })
}

/// Expand a URL template in place and check the result; errors point at
/// the value as written in the file and show the URL redacted.
fn expand_checked(
    url: &mut String,
    protocol: AgentProtocol,
    err: &impl Fn(&str, String) -> ConfigError,
) -> Result<(), ConfigError> {
    let raw = url.clone();
    *url = expand_url(&raw).map_err(|m| err(&raw, m))?;
    check_url(url, protocol).map_err(|m| err(&raw, m))
}

/// Replace `${VAR}` with the environment variable's value, as it is
/// (header values and other plain strings).
pub fn expand_env(s: &str) -> Result<String, String> {
    expand(s, &env, |_| false)
}

/// A variable of the process environment.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Replace `${VAR}` in a URL template so the result is a valid URL with
/// the variable's value in the place it was written: a variable in the
/// userinfo (`redis://:${PASSWORD}@host`), the query (`?key=${KEY}`) or the
/// fragment is percent-encoded (every byte but `A–Z a–z 0–9 - . _ ~`), so a
/// password holding `/`, `#`, `?`, `@` or `%` stays a password. A variable
/// in the scheme, host, port or path (or one that is the whole URL) is
/// inserted as it is.
pub fn expand_url(s: &str) -> Result<String, String> {
    expand_url_from(s, &env)
}

/// [`expand_url`] with variables from `lookup`.
fn expand_url_from(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let slots = encoded_slots(s)?;
    let mut i = 0;
    expand(s, lookup, |_| {
        i += 1;
        slots.get(i - 1).copied().unwrap_or(false)
    })
}

/// `${` … `}` pieces of a template: literal text, and variable names.
enum Piece<'a> {
    Text(&'a str),
    Var(&'a str),
}

fn pieces(s: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        out.push(Piece::Text(&rest[..i]));
        let after = &rest[i + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| "unterminated `${` in value".to_string())?;
        out.push(Piece::Var(&after[..end]));
        rest = &after[end + 1..];
    }
    out.push(Piece::Text(rest));
    Ok(out)
}

/// Expand every variable from `lookup`; `encode(name)` says whether its
/// value is percent-encoded (called once per variable, in order).
fn expand(
    s: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    mut encode: impl FnMut(&str) -> bool,
) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    for p in pieces(s)? {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Var(name) => {
                let value = lookup(name)
                    .ok_or_else(|| format!("environment variable `{name}` is not set"))?;
                if encode(name) {
                    out.push_str(&percent_encode(&value));
                } else {
                    out.push_str(&value);
                }
            }
        }
    }
    Ok(out)
}

/// For each variable of a URL template, whether it sits in the userinfo,
/// query or fragment. Decided on the literal text only (each variable
/// stands for one opaque character), so a value can never move a boundary.
fn encoded_slots(s: &str) -> Result<Vec<bool>, String> {
    let mut skeleton = String::new();
    let mut at = Vec::new();
    for p in pieces(s)? {
        match p {
            Piece::Text(t) => skeleton.push_str(t),
            Piece::Var(_) => {
                at.push(skeleton.len());
                skeleton.push('\u{0}');
            }
        }
    }
    let Some(scheme_end) = skeleton.find("://") else {
        return Ok(vec![false; at.len()]);
    };
    let auth_start = scheme_end + 3;
    let auth_end = skeleton[auth_start..]
        .find(['/', '?', '#'])
        .map_or(skeleton.len(), |i| auth_start + i);
    let userinfo_end = skeleton[auth_start..auth_end]
        .rfind('@')
        .map(|i| auth_start + i);
    let query_start = skeleton[auth_end..]
        .find(['?', '#'])
        .map_or(skeleton.len(), |i| auth_end + i);
    Ok(at
        .into_iter()
        .map(|p| {
            let in_userinfo = p >= auth_start && userinfo_end.is_some_and(|end| p < end);
            in_userinfo || p > query_start
        })
        .collect())
}

/// Every byte but the unreserved ones (RFC 3986) as `%XX`.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An endpoint must parse as a URL (port in range, a host) with a scheme
/// the protocol speaks.
fn check_url(url: &str, protocol: AgentProtocol) -> Result<(), String> {
    let shown = cockpit_core::redact_url(url);
    let parsed = url::Url::parse(url).map_err(|e| {
        format!("`{shown}` is not a valid URL ({e}; expected scheme://host:port/...)")
    })?;
    let scheme = parsed.scheme();
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
    if parsed.host_str().is_none_or(str::is_empty) {
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
    fn each_entry_is_found_on_its_table_header() {
        let src = r#"# agents
[[agents]]
name = "chat"
endpoint = "http://127.0.0.1:1/v1"
protocol = "openai"
retrieval = ["search"]

[[agents]]
# the second one
name = "search"
endpoint = "http://127.0.0.1:2/v1"
protocol = "openai"

[[retrieval]]
name = "search"
endpoint = "http://127.0.0.1:3/search"

[stm]
url = "redis://127.0.0.1:6379"
"#;
        let cfg = p(src).unwrap();
        let lines = entry_lines(src, &cfg);
        // "search" is named in chat's `retrieval` list too: the table whose
        // `name` it is wins.
        assert_eq!(lines["agents.chat"], 2);
        assert_eq!(lines["agents.search"], 8);
        assert_eq!(lines["retrieval.search"], 14);
        assert_eq!(lines["stm"], 18);
        assert_eq!(lines.len(), 4, "{lines:?}");
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

    /// Expand with one variable, `V`, set to `value`.
    fn url_with(template: &str, value: &str) -> String {
        let v = value.to_string();
        expand_url_from(template, &|name| (name == "V").then(|| v.clone())).unwrap()
    }

    #[test]
    fn values_in_userinfo_and_query_are_encoded_elsewhere_verbatim() {
        let pw = "ab/cd+ef==#?@%";
        let enc = "ab%2Fcd%2Bef%3D%3D%23%3F%40%25";
        assert_eq!(
            url_with("redis://:${V}@127.0.0.1:6379/0", pw),
            format!("redis://:{enc}@127.0.0.1:6379/0")
        );
        assert_eq!(
            url_with("http://${V}@h:1/v1?token=${V}#${V}", pw),
            format!("http://{enc}@h:1/v1?token={enc}#{enc}")
        );
        // The parsed URL holds the password, and the right host and port.
        let u = url::Url::parse(&url_with("redis://u:${V}@h:1", pw)).unwrap();
        assert_eq!((u.host_str(), u.port()), (Some("h"), Some(1)));
        assert_eq!(u.password(), Some(enc));
        // Host, port, path and whole-URL variables are inserted as they are.
        assert_eq!(
            url_with("redis://${V}/0", "10.0.0.3:6379"),
            "redis://10.0.0.3:6379/0"
        );
        assert_eq!(url_with("http://h/${V}", "a/b"), "http://h/a/b");
        assert_eq!(url_with("${V}", "https://u:p@h/v1"), "https://u:p@h/v1");
        // A `${…}` in the value is not expanded again.
        assert_eq!(
            url_with("http://h/?q=${V}", "${V}"),
            "http://h/?q=%24%7BV%7D"
        );
        assert!(
            expand_url_from("http://${NOPE}@h", &|_| None)
                .unwrap_err()
                .contains("NOPE")
        );
    }

    #[test]
    fn a_url_that_is_invalid_after_expansion_is_a_located_config_error() {
        for (url, needle) in [
            ("http://127.0.0.1:99999/v1", "port"),
            ("http://:80/v1", "host"),
        ] {
            let src =
                format!("[[agents]]\nname = \"a\"\nendpoint = \"{url}\"\nprotocol = \"openai\"\n");
            let s = p(&src).unwrap_err().to_string();
            assert!(
                s.starts_with("cockpit.toml:3:12:") && s.contains(needle),
                "{s}"
            );
        }
        for url in [
            "redis://127.0.0.1:6379/-1",
            "redis://127.0.0.1:99999",
            "redis://127.0.0.1:6379/x",
            "redis://h:1/0/1",
        ] {
            let s = p(&format!("[stm]\nurl = \"{url}\"\n"))
                .unwrap_err()
                .to_string();
            assert!(s.starts_with("cockpit.toml:2:7:"), "{s}");
        }
        assert!(p("[stm]\nurl = \"redis://127.0.0.1:6379/15\"\n").is_ok());
    }

    #[test]
    fn agent_headers_are_checked_and_never_shown() {
        let src = "[[agents]]\nname = \"a\"\nendpoint = \"http://h/v1\"\nprotocol = \"openai\"\nheaders = { Authorization = \"Bearer s3cr3t/+=\" }\n";
        let cfg = p(src).unwrap();
        assert_eq!(cfg.agents[0].headers["Authorization"], "Bearer s3cr3t/+=");
        assert!(!format!("{cfg:?}").contains("s3cr3t"));
        let bad = src.replace("Authorization", "\"Bad Name\"");
        let s = p(&bad).unwrap_err().to_string();
        assert!(s.contains("header name") && !s.contains("s3cr3t"), "{s}");
        let bad = src.replace("/+=", "\\u0007");
        let s = p(&bad).unwrap_err().to_string();
        assert!(s.contains("authorization") && !s.contains("s3cr3t"), "{s}");
        let grpc = src
            .replace("openai", "grpc")
            .replace("http://h/v1", "grpc://h:1");
        assert!(p(&grpc).unwrap_err().to_string().contains("headers"));
    }

    #[test]
    fn a_session_header_is_a_header_name_of_an_http_agent_located_at_its_key() {
        let src = "[[agents]]\nname = \"other\"\nendpoint = \"http://h/v1\"\nprotocol = \"openai\"\n\n[[agents]]\nname = \"a\"\nendpoint = \"http://h/v1\"\nprotocol = \"openai\"\nsession_header = \"x-session-id\"\n";
        let cfg = p(src).unwrap();
        assert_eq!(
            cfg.agents[1].session_header.as_deref(),
            Some("x-session-id")
        );
        assert_eq!(cfg.agents[0].session_header, None);
        let bad = src.replace("x-session-id", "x session");
        let s = p(&bad).unwrap_err().to_string();
        assert!(
            s.starts_with("cockpit.toml:10:1:") && s.contains("agent `a`: session_header"),
            "{s}"
        );
        let grpc = src.replacen(
            "endpoint = \"http://h/v1\"\nprotocol = \"openai\"\nsession",
            "endpoint = \"grpc://h:1\"\nprotocol = \"grpc\"\nsession",
            1,
        );
        let s = p(&grpc).unwrap_err().to_string();
        assert!(
            s.starts_with("cockpit.toml:10:1:") && s.contains("gRPC"),
            "{s}"
        );
        let twice = src.replace(
            "session_header",
            "headers = { X-Session-Id = \"s\" }\nsession_header",
        );
        let s = p(&twice).unwrap_err().to_string();
        assert!(
            s.starts_with("cockpit.toml:11:1:") && s.contains("also set"),
            "{s}"
        );
    }

    #[test]
    fn mcp_and_vector_store_entries_are_parsed_and_located() {
        let src = "[[mcp]]\nname = \"tools\"\ncommand = \"node\"\nargs = [\"server.js\"]\n\n[[mcp]]\nname = \"web\"\nurl = \"http://127.0.0.1:3001/mcp\"\nsamples = 5\n\n[[vector_store]]\nname = \"kb\"\nbackend = \"chroma\"\nurl = \"http://127.0.0.1:8000\"\ncollection = \"docs\"\n";
        let cfg = p(src).unwrap();
        assert_eq!(cfg.mcp.len(), 2);
        assert_eq!(cfg.mcp[1].samples, 5);
        assert_eq!(cfg.vector_store[0].collection, "docs");
        // A key the library refuses: pointed at in its own entry.
        let bad = src.replace("samples = 5", "samples = 0");
        let s = p(&bad).unwrap_err().to_string();
        assert!(
            s.starts_with("cockpit.toml:9:1:") && s.contains("samples"),
            "{s}"
        );
        // Both ways in: pointed at the second one's key.
        let bad = src.replace("samples = 5", "command = \"node\"");
        let s = p(&bad).unwrap_err().to_string();
        assert!(
            s.starts_with("cockpit.toml:9:1:") && s.contains("not both"),
            "{s}"
        );
        // Unknown keys and backends: serde's location.
        let s = p(&src.replace("samples = 5", "sample = 5"))
            .unwrap_err()
            .to_string();
        assert!(s.starts_with("cockpit.toml:9:1:"), "{s}");
        let s = p(&src.replace("chroma", "pinecone"))
            .unwrap_err()
            .to_string();
        assert!(s.starts_with("cockpit.toml:13:11:"), "{s}");
    }

    #[test]
    fn shadow_settings_are_parsed_and_located() {
        let src = "[[agents]]\nname = \"a\"\nendpoint = \"http://h/v1\"\nprotocol = \"openai\"\nshadow_endpoint = \"http://h2/v1\"\n\n[shadow]\nsamples = 12\nmirror = true\n";
        let cfg = p(src).unwrap();
        assert_eq!((cfg.shadow.samples, cfg.shadow.mirror), (12, true));
        assert_eq!(cfg.shadow_config().shadowed().count(), 1);
        let s = p(&src.replace("samples = 12", "samples = 0"))
            .unwrap_err()
            .to_string();
        assert!(
            s.starts_with("cockpit.toml:8:1:") && s.contains("shadow.samples"),
            "{s}"
        );
        let s = p(&src.replace("mirror", "mirrored"))
            .unwrap_err()
            .to_string();
        assert!(s.starts_with("cockpit.toml:9:1:"), "{s}");
    }

    #[test]
    fn example_config_parses() {
        let src = include_str!("../../../examples/cockpit.toml");
        let cfg = p(src).unwrap();
        assert!(!cfg.agents.is_empty());
        assert!(!cfg.retrieval.is_empty());
    }

    #[test]
    fn cockpit_section_parses_and_errors_are_located() {
        let cfg =
            p("[cockpit]\ninterval = \"5s\"\nwindow = \"1m\"\n[cockpit.alerts]\nconsecutive = 2\n")
                .unwrap();
        assert_eq!(cfg.cockpit.interval, std::time::Duration::from_secs(5));
        assert_eq!(cfg.cockpit.alerts.consecutive, 2);
        assert_eq!(p("").unwrap().cockpit.alerts.ttft_p95_ms, 800.0);
        let s = p("[thresholds]\nttft_p95_ms = 800\n[cockpit]\nintervall = \"5s\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            s.starts_with("cockpit.toml:4:1:") && s.contains("intervall"),
            "{s}"
        );
        let s = p("[probe]\nsamples = 3\n\n[cockpit]\ninterval = \"10ms\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            s.starts_with("cockpit.toml:5:1:") && s.contains("cockpit.interval"),
            "{s}"
        );
        let s = p("[cockpit.alerts]\nwebhook = \"ftp://hooks/s3cr3t\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            s.starts_with("cockpit.toml:2:1:") && !s.contains("s3cr3t"),
            "{s}"
        );
        let s = p("[cockpit.alerts]\nwebhook = \"${COCKPIT_SURELY_UNSET_HOOK}\"\n")
            .unwrap_err()
            .to_string();
        assert!(s.contains("COCKPIT_SURELY_UNSET_HOOK"), "{s}");
    }

    #[test]
    fn deploy_section_parses_and_errors_are_located() {
        let ok = "[[retrieval]]\nname = \"vectors\"\nendpoint = \"http://v:1\"\nzone = \"us-central1-b\"\n\n[deploy]\nname = \"chat\"\nimage = \"r/chat@sha256:00\"\ngsa = \"chat@p.iam.gserviceaccount.com\"\nnear_retrieval = \"vectors\"\n";
        let cfg = p(ok).unwrap();
        let d = cfg.deploy.expect("[deploy]");
        assert_eq!(d.affinity_zone.as_deref(), Some("us-central1-b"));
        assert_eq!(d.replicas, 2);
        let s = p("[deploy]\nname = \"chat\"\nreplica = 3\n")
            .unwrap_err()
            .to_string();
        assert!(
            s.starts_with("cockpit.toml:3:1:") && s.contains("replica"),
            "{s}"
        );
        let s = p(
            "[deploy]\nname = \"chat\"\nimage = \"r/c@sha256:0\"\ngsa = \"g\"\nmemory = \"lots\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            s.starts_with("cockpit.toml:5:1:") && s.contains("deploy.memory"),
            "{s}"
        );
        let s = p("[deploy]\nname = \"chat\"\nimage = \"r/c@sha256:0\"\ngsa = \"g\"\nnear_retrieval = \"nowhere\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            s.starts_with("cockpit.toml:5:1:") && s.contains("nowhere"),
            "{s}"
        );
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
