//! The declarations this crate reads: `[[mcp]]` and `[[vector_store]]`
//! entries of `cockpit.toml`, plain data with their own `validate()`. Every
//! struct rejects unknown keys, so a typo is an error located by the caller
//! rather than a silent default. `Debug` never shows a URL's credentials
//! nor a stdio server's arguments (they may carry tokens).

use std::collections::BTreeMap;
use std::time::Duration;

use cockpit_core::fleet::AgentConfig;
use serde::Deserialize;

use crate::DepsError;

/// One `[[mcp]]` entry: an MCP server the agents call, reached either over
/// Streamable HTTP (`url`) or by starting it as a child process speaking
/// stdio (`command` + `args`).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpServerConfig {
    /// A unique name, the findings' subject.
    pub name: String,
    /// The Streamable HTTP endpoint (`http://host:port/mcp`).
    #[serde(default)]
    pub url: Option<String>,
    /// The program of a stdio server (looked up in `PATH`).
    #[serde(default)]
    pub command: Option<String>,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// `ping` and `tools/list` calls timed, each (1–1000).
    #[serde(default = "default_samples")]
    pub samples: u32,
    /// The bound on each call, `initialize` included (with the process
    /// start of a stdio server), in ms.
    #[serde(default = "default_mcp_timeout_ms")]
    pub timeout_ms: u64,
    /// MCP-LATENCY passes while the `ping` p99 is within this, in ms.
    #[serde(default = "default_mcp_p99_ms")]
    pub latency_p99_ms: f64,
    /// Headers sent with every Streamable HTTP request (`Authorization =
    /// "Bearer ${MCP_TOKEN}"`): secrets, never shown.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

impl std::fmt::Debug for McpServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpServerConfig")
            .field("name", &self.name)
            .field("url", &self.url.as_deref().map(cockpit_core::redact_url))
            .field("command", &self.command)
            .field("args", &format_args!("[{} hidden]", self.args.len()))
            .field("samples", &self.samples)
            .field("timeout_ms", &self.timeout_ms)
            .field("latency_p99_ms", &self.latency_p99_ms)
            .field("headers", &HeaderNames(&self.headers))
            .finish()
    }
}

/// Header names, values hidden: how `Debug` shows a header table.
struct HeaderNames<'a>(&'a BTreeMap<String, String>);

impl std::fmt::Debug for HeaderNames<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|k| (k, "<redacted>")))
            .finish()
    }
}

/// Every header a valid name and value; an error names the header, never
/// its value.
fn check_headers<'a>(headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<(), String> {
    for (name, value) in headers {
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(format!("`{name}` is not a header name"));
        }
        if reqwest::header::HeaderValue::from_str(value).is_err() {
            return Err(format!(
                "the value of header `{name}` is not a valid header value (value not shown)"
            ));
        }
    }
    Ok(())
}

/// How an MCP server is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum McpTransport {
    /// A child process; JSON-RPC lines on its stdin / stdout.
    Stdio,
    /// Streamable HTTP (`POST` JSON-RPC, JSON or SSE answers).
    StreamableHttp,
}

impl McpTransport {
    pub fn as_str(self) -> &'static str {
        match self {
            McpTransport::Stdio => "stdio",
            McpTransport::StreamableHttp => "streamable-http",
        }
    }
}

impl McpServerConfig {
    /// A stdio server.
    pub fn stdio(name: &str, command: &str, args: &[&str]) -> Self {
        McpServerConfig {
            name: name.to_string(),
            url: None,
            command: Some(command.to_string()),
            args: args.iter().map(|a| a.to_string()).collect(),
            samples: default_samples(),
            timeout_ms: default_mcp_timeout_ms(),
            latency_p99_ms: default_mcp_p99_ms(),
            headers: BTreeMap::new(),
        }
    }

    /// A Streamable HTTP server.
    pub fn http(name: &str, url: &str) -> Self {
        McpServerConfig {
            url: Some(url.to_string()),
            command: None,
            args: Vec::new(),
            ..McpServerConfig::stdio(name, "", &[])
        }
    }

    pub fn transport(&self) -> McpTransport {
        if self.url.is_some() {
            McpTransport::StreamableHttp
        } else {
            McpTransport::Stdio
        }
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// What findings show as the server: the redacted URL, or
    /// `stdio:PROGRAM` (never the arguments).
    pub fn shown(&self) -> String {
        match (&self.url, &self.command) {
            (Some(u), _) => cockpit_core::redact_url(u),
            (None, Some(c)) => format!("stdio:{c}"),
            (None, None) => "stdio:?".to_string(),
        }
    }

    /// `url` xor `command`; an http(s) URL; counts and bounds in range.
    pub fn validate(&self) -> Result<(), DepsError> {
        let fail = |key, message: String| {
            Err(DepsError::Config {
                kind: "mcp",
                name: self.name.clone(),
                key,
                message,
            })
        };
        match (&self.url, &self.command) {
            (Some(_), Some(_)) => {
                return fail(
                    "command",
                    "give either `url` (Streamable HTTP) or `command` (stdio), not both".into(),
                );
            }
            (None, None) => {
                return fail(
                    "url",
                    "needs `url` (Streamable HTTP) or `command` (stdio)".into(),
                );
            }
            (Some(u), None) => {
                if let Err(m) = check_http_url(u) {
                    return fail("url", m);
                }
                if !self.args.is_empty() {
                    return fail("args", "`args` go with `command` (stdio), not `url`".into());
                }
            }
            (None, Some(c)) if c.trim().is_empty() => {
                return fail("command", "is empty".into());
            }
            (None, Some(_)) if !self.headers.is_empty() => {
                return fail(
                    "headers",
                    "headers are sent over Streamable HTTP (`url`), not to a stdio server".into(),
                );
            }
            (None, Some(_)) => {}
        }
        if let Err(m) = check_headers(self.headers.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
            return fail("headers", m);
        }
        check_common(
            &self.name,
            self.samples,
            self.timeout_ms,
            self.latency_p99_ms,
        )
        .or_else(|(key, m)| fail(key, m))
    }
}

/// The vector database behind a `[[vector_store]]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum VectorBackend {
    /// Chroma's HTTP API, v2.
    Chroma,
    /// Qdrant's REST API.
    Qdrant,
}

impl VectorBackend {
    pub fn as_str(self) -> &'static str {
        match self {
            VectorBackend::Chroma => "chroma",
            VectorBackend::Qdrant => "qdrant",
        }
    }
}

/// One `[[vector_store]]` entry: a collection an agent's retrieval reads
/// (the "RAG dropzone").
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VectorStoreConfig {
    pub name: String,
    pub backend: VectorBackend,
    /// The server's base URL (`http://host:8000` for Chroma, `:6333` for Qdrant).
    pub url: String,
    pub collection: String,
    /// Chroma's tenant and database (default `default_tenant` / `default_database`).
    #[serde(default)]
    pub tenant: Option<String>,
    #[serde(default)]
    pub database: Option<String>,
    /// The zone the store runs in (`us-central1-a`).
    #[serde(default)]
    pub zone: Option<String>,
    /// The agent reading it: its zone is the one RAG-ZONE compares; every
    /// agent with a zone when absent.
    #[serde(default)]
    pub agent: Option<String>,
    /// RAG-COLLECTION fails below this many vectors (default: empty fails).
    #[serde(default)]
    pub min_count: Option<u64>,
    /// How many documents the dropzone holds (the source the index is
    /// built from): RAG-STALE compares the index's count with it.
    #[serde(default)]
    pub source_count: Option<u64>,
    /// Queries timed (1–1000).
    #[serde(default = "default_samples")]
    pub samples: u32,
    #[serde(default = "default_store_timeout_ms")]
    pub timeout_ms: u64,
    /// RAG-LATENCY passes while the query p99 is within this, in ms.
    #[serde(default = "default_store_p99_ms")]
    pub latency_p99_ms: f64,
    /// The store's API key (`api_key = "${QDRANT_API_KEY}"`), sent as
    /// Qdrant's `api-key` or Chroma's `x-chroma-token` header: a secret.
    #[serde(default)]
    pub api_key: Option<String>,
    /// Headers sent with every request (`Authorization = "Bearer …"`):
    /// secrets, never shown.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

impl std::fmt::Debug for VectorStoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VectorStoreConfig")
            .field("name", &self.name)
            .field("backend", &self.backend)
            .field("url", &cockpit_core::redact_url(&self.url))
            .field("collection", &self.collection)
            .field("tenant", &self.tenant)
            .field("database", &self.database)
            .field("zone", &self.zone)
            .field("agent", &self.agent)
            .field("min_count", &self.min_count)
            .field("source_count", &self.source_count)
            .field("samples", &self.samples)
            .field("timeout_ms", &self.timeout_ms)
            .field("latency_p99_ms", &self.latency_p99_ms)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("headers", &HeaderNames(&self.headers))
            .finish()
    }
}

impl VectorStoreConfig {
    /// The headers sent with every request: `headers`, and the `api_key`
    /// under the backend's header.
    pub fn request_headers(&self) -> Vec<(String, String)> {
        let key = self.api_key.as_ref().map(|k| {
            let name = match self.backend {
                VectorBackend::Qdrant => "api-key",
                _ => "x-chroma-token",
            };
            (name.to_string(), k.clone())
        });
        (self.headers.iter())
            .map(|(k, v)| (k.clone(), v.clone()))
            .chain(key)
            .collect()
    }

    /// A store with the defaults.
    pub fn new(name: &str, backend: VectorBackend, url: &str, collection: &str) -> Self {
        VectorStoreConfig {
            name: name.to_string(),
            backend,
            url: url.to_string(),
            collection: collection.to_string(),
            tenant: None,
            database: None,
            zone: None,
            agent: None,
            min_count: None,
            source_count: None,
            samples: default_samples(),
            timeout_ms: default_store_timeout_ms(),
            latency_p99_ms: default_store_p99_ms(),
            api_key: None,
            headers: BTreeMap::new(),
        }
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// An http(s) URL, a collection name, counts and bounds in range.
    pub fn validate(&self) -> Result<(), DepsError> {
        let fail = |key, message: String| {
            Err(DepsError::Config {
                kind: "vector_store",
                name: self.name.clone(),
                key,
                message,
            })
        };
        if let Err(m) = check_http_url(&self.url) {
            return fail("url", m);
        }
        if self.collection.trim().is_empty() {
            return fail("collection", "is empty".into());
        }
        if let Some(k) = &self.api_key
            && check_headers([("api-key", k.as_str())]).is_err()
        {
            return fail(
                "api_key",
                "is not a valid header value (value not shown)".into(),
            );
        }
        if let Err(m) = check_headers(self.headers.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
            return fail("headers", m);
        }
        check_common(
            &self.name,
            self.samples,
            self.timeout_ms,
            self.latency_p99_ms,
        )
        .or_else(|(key, m)| fail(key, m))
    }
}

/// What [`crate::audit`] measures: the declarations, and the agents (for
/// the zones RAG-ZONE compares).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct DepsConfig {
    pub mcp: Vec<McpServerConfig>,
    pub vector_stores: Vec<VectorStoreConfig>,
    pub agents: Vec<AgentConfig>,
    /// What the previous run read, per store name (RAG-STALE across runs);
    /// see [`DepsConfig::remember`].
    pub previous: BTreeMap<String, PreviousRun>,
}

/// One store as the previous run's RAG-STALE finding recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PreviousRun {
    pub count: u64,
    pub source_count: u64,
}

impl DepsConfig {
    pub fn new(
        mcp: Vec<McpServerConfig>,
        vector_stores: Vec<VectorStoreConfig>,
        agents: Vec<AgentConfig>,
    ) -> Self {
        DepsConfig {
            mcp,
            vector_stores,
            agents,
            previous: BTreeMap::new(),
        }
    }

    /// Take the previous run's counts from its report (e.g. the evidence
    /// lake's last run): each RAG-STALE finding that measured both `count`
    /// and `source_count`, by subject.
    pub fn remember(&mut self, report: &cockpit_core::Report) {
        let stale = crate::checks::rag_stale::RAG_STALE.id;
        for f in report.findings.iter().filter(|f| f.check_id == stale) {
            let read = |name| f.measurement(name).map(|m| m.value);
            if let (Some(subject), Some(count), Some(source)) =
                (&f.subject, read("count"), read("source_count"))
                && count >= 0.0
                && source >= 0.0
            {
                self.previous.insert(
                    subject.clone(),
                    PreviousRun {
                        count: count as u64,
                        source_count: source as u64,
                    },
                );
            }
        }
    }

    /// Give each store without a declared `zone` the one `zone_of` finds
    /// for its name (e.g. Kubernetes' placement of a workload of that
    /// name): a declared zone always wins.
    pub fn fill_in_zones(&mut self, zone_of: impl Fn(&str) -> Option<String>) {
        for v in &mut self.vector_stores {
            if v.zone.is_none() {
                v.zone = zone_of(&v.name);
            }
        }
    }

    /// Nothing to measure.
    pub fn is_empty(&self) -> bool {
        self.mcp.is_empty() && self.vector_stores.is_empty()
    }

    /// Every entry's own rules, names unique per kind, and every agent a
    /// store names is declared.
    pub fn validate(&self) -> Result<(), DepsError> {
        let twice = |kind: &'static str, name: &str| DepsError::Config {
            kind,
            name: name.to_string(),
            key: "name",
            message: "the name is used twice".into(),
        };
        let mut seen = std::collections::HashSet::new();
        for m in &self.mcp {
            if !seen.insert(m.name.as_str()) {
                return Err(twice("mcp", &m.name));
            }
            m.validate()?;
        }
        let mut seen = std::collections::HashSet::new();
        for s in &self.vector_stores {
            if !seen.insert(s.name.as_str()) {
                return Err(twice("vector_store", &s.name));
            }
            s.validate()?;
            if let Some(a) = &s.agent
                && !self.agents.iter().any(|x| &x.name == a)
            {
                return Err(DepsError::Config {
                    kind: "vector_store",
                    name: s.name.clone(),
                    key: "agent",
                    message: format!("no [[agents]] entry is named `{a}`"),
                });
            }
        }
        Ok(())
    }
}

fn check_http_url(u: &str) -> Result<(), String> {
    let shown = cockpit_core::redact_url(u);
    let parsed = url::Url::parse(u).map_err(|e| format!("`{shown}` is not a valid URL ({e})"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "`{shown}`: scheme `{}` is not http or https",
            parsed.scheme()
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("`{shown}` has no host"));
    }
    Ok(())
}

fn check_common(
    name: &str,
    samples: u32,
    timeout_ms: u64,
    p99_ms: f64,
) -> Result<(), (&'static str, String)> {
    if name.trim().is_empty() {
        return Err(("name", "is empty".into()));
    }
    if !(1..=1000).contains(&samples) {
        return Err(("samples", format!("{samples} is not within 1–1000")));
    }
    if !(1..=600_000).contains(&timeout_ms) {
        return Err(("timeout_ms", format!("{timeout_ms} is not within 1–600000")));
    }
    if !(p99_ms.is_finite() && p99_ms > 0.0) {
        return Err((
            "latency_p99_ms",
            format!("{p99_ms} is not a positive number"),
        ));
    }
    Ok(())
}

fn default_samples() -> u32 {
    20
}

fn default_mcp_timeout_ms() -> u64 {
    10_000
}

fn default_mcp_p99_ms() -> f64 {
    250.0
}

fn default_store_timeout_ms() -> u64 {
    5_000
}

fn default_store_p99_ms() -> f64 {
    200.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_mcp_entry_needs_exactly_one_way_in() {
        assert!(
            McpServerConfig::stdio("a", "node", &["x"])
                .validate()
                .is_ok()
        );
        assert!(
            McpServerConfig::http("a", "http://127.0.0.1:1/mcp")
                .validate()
                .is_ok()
        );
        let mut both = McpServerConfig::http("a", "http://h/mcp");
        both.command = Some("node".into());
        assert!(
            both.validate()
                .unwrap_err()
                .to_string()
                .contains("not both")
        );
        let mut none = McpServerConfig::stdio("a", "x", &[]);
        none.command = None;
        assert!(none.validate().is_err());
        let e = McpServerConfig::http("a", "ftp://h/")
            .validate()
            .unwrap_err();
        assert!(matches!(e, DepsError::Config { key: "url", .. }), "{e}");
        let mut s = McpServerConfig::stdio("a", "node", &[]);
        s.samples = 0;
        assert!(matches!(
            s.validate(),
            Err(DepsError::Config { key: "samples", .. })
        ));
    }

    #[test]
    fn debug_hides_arguments_and_credentials() {
        let mut m = McpServerConfig::stdio("a", "node", &["--token", "s3cr3t"]);
        assert!(!format!("{m:?}").contains("s3cr3t"));
        m = McpServerConfig::http("a", "http://u:s3cr3t@h/mcp");
        assert!(!format!("{m:?}").contains("s3cr3t"));
        assert!(!m.shown().contains("s3cr3t"));
        let v = VectorStoreConfig::new("v", VectorBackend::Chroma, "http://u:s3cr3t@h", "c");
        assert!(!format!("{v:?}").contains("s3cr3t"));
    }

    #[test]
    fn a_declared_zone_wins_over_a_found_one() {
        let mut a = VectorStoreConfig::new("a", VectorBackend::Chroma, "http://h", "c");
        a.zone = Some("declared-a".into());
        let b = VectorStoreConfig::new("b", VectorBackend::Chroma, "http://h", "c");
        let mut cfg = DepsConfig::new(vec![], vec![a, b], vec![]);
        cfg.fill_in_zones(|name| Some(format!("found-{name}")));
        assert_eq!(cfg.vector_stores[0].zone.as_deref(), Some("declared-a"));
        assert_eq!(cfg.vector_stores[1].zone.as_deref(), Some("found-b"));
    }

    #[test]
    fn names_are_unique_and_a_named_agent_must_exist() {
        let m = McpServerConfig::stdio("a", "node", &[]);
        let cfg = DepsConfig::new(vec![m.clone(), m], vec![], vec![]);
        assert!(cfg.validate().unwrap_err().to_string().contains("twice"));
        let mut v = VectorStoreConfig::new("v", VectorBackend::Qdrant, "http://h:6333", "c");
        v.agent = Some("ghost".into());
        let cfg = DepsConfig::new(vec![], vec![v], vec![]);
        let e = cfg.validate().unwrap_err();
        assert!(matches!(e, DepsError::Config { key: "agent", .. }), "{e}");
    }
}
