//! What `cockpit.toml` declares about the fleet: the `[[agents]]` and
//! `[[retrieval]]` entries. Plain data, read by every pillar (the probe
//! measures the endpoints, the State pillar judges where session memory is
//! declared, the Compute pillar fills in zones and stores from Kubernetes).
//! Every struct rejects unknown keys, so a typo is an error with its file,
//! line and column rather than a silent default.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The protocol an agent speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum AgentProtocol {
    /// OpenAI-compatible chat completions with SSE streaming.
    Openai,
    /// `cockpit.agent.v1.AgentService` over gRPC.
    Grpc,
    /// A plain HTTP endpoint (latency only, no tokens).
    Http,
}

/// Where an agent keeps its short-term (session) memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum SessionStore {
    /// An external store (Redis / Memorystore).
    Redis,
    /// Pod (process) memory: lost on every restart, not shared by replicas.
    InProcess,
}

/// One `[[agents]]` entry. Its `Debug` form redacts the URLs and every
/// header value: the configuration may be logged, its secrets never.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// A unique name, used as the finding's subject.
    pub name: String,
    /// For `openai`, a base URL ending in `/v1` or the full
    /// `/v1/chat/completions` URL; for `grpc`, `grpc://host:port`.
    pub endpoint: String,
    pub protocol: AgentProtocol,
    /// Model name sent in OpenAI requests.
    #[serde(default)]
    pub model: Option<String>,
    /// The zone the agent runs in (`us-central1-a`).
    #[serde(default)]
    pub zone: Option<String>,
    /// A shadow (candidate) deployment of the same agent, probed alike.
    #[serde(default)]
    pub shadow_endpoint: Option<String>,
    /// Prometheus text endpoint of the agent.
    #[serde(default)]
    pub metrics_url: Option<String>,
    /// Names of the `[[retrieval]]` backends this agent calls; all when absent.
    #[serde(default)]
    pub retrieval: Option<Vec<String>>,
    /// Where session memory lives, when declared.
    #[serde(default)]
    pub stm: Option<SessionStore>,
    /// Extra request headers sent with every request to the agent
    /// (`Authorization = "Bearer ${TOKEN}"`); values are secrets, shown
    /// nowhere.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A canary string the user put in the agent's system prompt
    /// (`canary = "${CANARY}"`): the adversarial watchtower looks for it in
    /// answers. A secret: shown nowhere (a hash prefix at most).
    #[serde(default)]
    pub canary: Option<String>,
    /// The request header that carries a session id to an agent with
    /// server-side memory (`session_header = "x-session-id"`): `simulate`
    /// then sends only the new turn and the session id, instead of the
    /// whole conversation.
    #[serde(default)]
    pub session_header: Option<String>,
}

impl std::fmt::Debug for AgentConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = |u: &Option<String>| u.as_deref().map(crate::redact_url);
        let headers: BTreeMap<&str, &str> =
            self.headers.keys().map(|k| (k.as_str(), "***")).collect();
        f.debug_struct("AgentConfig")
            .field("name", &self.name)
            .field("endpoint", &crate::redact_url(&self.endpoint))
            .field("protocol", &self.protocol)
            .field("model", &self.model)
            .field("zone", &self.zone)
            .field("shadow_endpoint", &url(&self.shadow_endpoint))
            .field("metrics_url", &url(&self.metrics_url))
            .field("retrieval", &self.retrieval)
            .field("stm", &self.stm)
            .field("headers", &headers)
            .field("canary", &self.canary.as_ref().map(|_| "***"))
            .field("session_header", &self.session_header)
            .finish()
    }
}

/// The protocol a retrieval backend is called with in production.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum RetrievalProtocol {
    /// REST: `POST {endpoint}` with `{"query", "top_k"}`.
    Http,
    /// `cockpit.agent.v1.RetrievalService/Search`.
    Grpc,
}

/// One `[[retrieval]]` entry: a vector store the agents call. Its `Debug`
/// form redacts the URLs.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrievalConfig {
    pub name: String,
    /// REST search URL.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// gRPC address of the same backend (`grpc://host:port`).
    #[serde(default)]
    pub grpc_endpoint: Option<String>,
    /// Which of the two the agent uses in production; default: gRPC when
    /// only `grpc_endpoint` is given, else REST.
    #[serde(default)]
    pub protocol: Option<RetrievalProtocol>,
    #[serde(default)]
    pub zone: Option<String>,
    /// Query text sent with each search.
    #[serde(default = "default_query")]
    pub query: String,
    #[serde(default = "default_top_k")]
    pub top_k: u32,
    /// The gRPC method to measure on `grpc_endpoint`, `package.Service/Method`
    /// (unary or server-streaming); default `cockpit.agent.v1.RetrievalService/Search`.
    #[serde(default)]
    pub grpc_method: Option<String>,
    /// The request of `grpc_method` in protobuf's JSON mapping; default
    /// `{"query": query, "top_k": top_k}`.
    #[serde(default)]
    pub grpc_request: Option<String>,
    /// A `.proto` file defining `grpc_method`, compiled at run time; without
    /// it the descriptors come from the server's reflection service.
    #[serde(default)]
    pub grpc_proto: Option<String>,
    /// Directories searched for the imports of `grpc_proto` (after its own).
    #[serde(default)]
    pub grpc_import_paths: Vec<String>,
}

impl std::fmt::Debug for RetrievalConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = |u: &Option<String>| u.as_deref().map(crate::redact_url);
        f.debug_struct("RetrievalConfig")
            .field("name", &self.name)
            .field("endpoint", &url(&self.endpoint))
            .field("grpc_endpoint", &url(&self.grpc_endpoint))
            .field("protocol", &self.protocol)
            .field("zone", &self.zone)
            .field("query", &self.query)
            .field("top_k", &self.top_k)
            .field("grpc_method", &self.grpc_method)
            .field("grpc_request", &self.grpc_request)
            .field("grpc_proto", &self.grpc_proto)
            .field("grpc_import_paths", &self.grpc_import_paths)
            .finish()
    }
}

fn default_query() -> String {
    "what does the sovereign gate check".to_string()
}

fn default_top_k() -> u32 {
    5
}

impl RetrievalConfig {
    /// The JSON request sent to `grpc_method`: `grpc_request`, else the
    /// REST body (`{"query", "top_k"}`).
    pub fn grpc_request_json(&self) -> String {
        self.grpc_request.clone().unwrap_or_else(|| {
            serde_json::json!({ "query": self.query, "top_k": self.top_k }).to_string()
        })
    }

    /// The protocol the agent uses in production.
    pub fn production_protocol(&self) -> RetrievalProtocol {
        match (self.protocol, &self.endpoint, &self.grpc_endpoint) {
            (Some(p), _, _) => p,
            (None, None, Some(_)) => RetrievalProtocol::Grpc,
            _ => RetrievalProtocol::Http,
        }
    }
}

/// The region of a zone: `us-central1-a` → `us-central1`; a name without a
/// one-letter zone suffix is its own region.
///
/// ```
/// assert_eq!(cockpit_core::fleet::region_of("us-central1-a"), "us-central1");
/// assert_eq!(cockpit_core::fleet::region_of("local"), "local");
/// ```
pub fn region_of(zone: &str) -> &str {
    match zone.rsplit_once('-') {
        Some((region, suffix))
            if suffix.len() == 1 && suffix.chars().all(|c| c.is_ascii_lowercase()) =>
        {
            region
        }
        _ => zone,
    }
}

/// The retrieval backends an agent calls: those it names, or all when it
/// names none.
pub fn backends_of<'a>(
    agent: &'a AgentConfig,
    all: &'a [RetrievalConfig],
) -> impl Iterator<Item = &'a RetrievalConfig> + 'a {
    all.iter().filter(move |b| match &agent.retrieval {
        Some(names) => names.iter().any(|n| n == &b.name),
        None => true,
    })
}

/// A fleet declaration that cannot be used: `value` is the text at fault
/// (a name), for the caller to locate in its file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FleetError {
    pub value: String,
    pub message: String,
}

/// The rules of the fleet's declarations: agent and backend names are
/// unique, every backend has an endpoint, and every backend an agent names
/// is declared; a gRPC method to call comes with the endpoint to call it on.
pub fn validate(agents: &[AgentConfig], retrieval: &[RetrievalConfig]) -> Result<(), FleetError> {
    let fail = |value: &str, message: String| FleetError {
        value: value.to_string(),
        message,
    };
    let mut names = std::collections::HashSet::new();
    if let Some(a) = agents.iter().find(|a| !names.insert(a.name.as_str())) {
        return Err(fail(
            &a.name,
            format!("agent name `{}` is used twice", a.name),
        ));
    }
    let mut backends = std::collections::HashSet::new();
    if let Some(r) = retrieval.iter().find(|r| !backends.insert(r.name.as_str())) {
        return Err(fail(
            &r.name,
            format!("retrieval backend name `{}` is used twice", r.name),
        ));
    }
    if let Some(r) = retrieval
        .iter()
        .find(|r| r.endpoint.is_none() && r.grpc_endpoint.is_none())
    {
        return Err(fail(
            &r.name,
            format!(
                "retrieval backend `{}` needs `endpoint` (REST) or `grpc_endpoint`",
                r.name
            ),
        ));
    }
    if let Some(r) = retrieval.iter().find(|r| {
        r.grpc_endpoint.is_none()
            && (r.grpc_method.is_some() || r.grpc_request.is_some() || r.grpc_proto.is_some())
    }) {
        return Err(fail(
            &r.name,
            format!(
                "retrieval backend `{}` sets grpc_method / grpc_request / grpc_proto but no `grpc_endpoint` to call",
                r.name
            ),
        ));
    }
    for a in agents {
        if let Some(b) = a
            .retrieval
            .iter()
            .flatten()
            .find(|b| !backends.contains(b.as_str()))
        {
            return Err(fail(
                b,
                format!(
                    "agent `{}` names retrieval backend `{b}`, which no [[retrieval]] entry defines",
                    a.name
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(name: &str, endpoint: Option<&str>, grpc: Option<&str>) -> RetrievalConfig {
        RetrievalConfig {
            name: name.into(),
            endpoint: endpoint.map(Into::into),
            grpc_endpoint: grpc.map(Into::into),
            protocol: None,
            zone: None,
            query: default_query(),
            top_k: default_top_k(),
            grpc_method: None,
            grpc_request: None,
            grpc_proto: None,
            grpc_import_paths: Vec::new(),
        }
    }

    #[test]
    fn production_protocol_defaults_to_the_only_endpoint() {
        assert_eq!(
            backend("v", None, Some("grpc://h:1")).production_protocol(),
            RetrievalProtocol::Grpc
        );
        assert_eq!(
            backend("v", Some("http://h/s"), Some("grpc://h:1")).production_protocol(),
            RetrievalProtocol::Http
        );
    }

    #[test]
    fn an_agent_calls_the_backends_it_names_or_all() {
        let all = [
            backend("a", Some("http://h/a"), None),
            backend("b", Some("http://h/b"), None),
        ];
        let mut agent = AgentConfig {
            name: "x".into(),
            endpoint: "http://h/v1".into(),
            protocol: AgentProtocol::Openai,
            model: None,
            zone: None,
            shadow_endpoint: None,
            canary: None,
            session_header: None,
            metrics_url: None,
            retrieval: None,
            stm: None,
            headers: BTreeMap::new(),
        };
        assert_eq!(backends_of(&agent, &all).count(), 2);
        agent.retrieval = Some(vec!["b".into()]);
        let names: Vec<_> = backends_of(&agent, &all).map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["b"]);
    }

    #[test]
    fn validate_names_what_is_wrong() {
        let all = vec![backend("a", Some("http://h/a"), None)];
        let agent = |name: &str, calls: Option<Vec<String>>| AgentConfig {
            name: name.into(),
            endpoint: "http://h/v1".into(),
            protocol: AgentProtocol::Openai,
            model: None,
            zone: None,
            shadow_endpoint: None,
            canary: None,
            session_header: None,
            metrics_url: None,
            retrieval: calls,
            stm: None,
            headers: Default::default(),
        };
        assert!(validate(&[agent("x", Some(vec!["a".into()]))], &all).is_ok());
        let e = validate(&[agent("x", None), agent("x", None)], &all).unwrap_err();
        assert_eq!(e.value, "x");
        assert!(e.message.contains("used twice"), "{e}");
        let e = validate(&[agent("x", Some(vec!["nope".into()]))], &all).unwrap_err();
        assert_eq!(e.value, "nope");
        let e = validate(&[], &[backend("v", None, None)]).unwrap_err();
        assert!(e.message.contains("needs `endpoint`"), "{e}");
        let mut orphan = backend("m", Some("http://h/s"), None);
        orphan.grpc_method = Some("pkg.S/M".into());
        let e = validate(&[], &[orphan]).unwrap_err();
        assert!(e.message.contains("no `grpc_endpoint`"), "{e}");
        let e = validate(&[], &[all[0].clone(), all[0].clone()]).unwrap_err();
        assert!(e.message.contains("backend name `a` is used twice"), "{e}");
    }

    #[test]
    fn debug_shows_no_header_value_and_no_url_secret() {
        let agent = AgentConfig {
            name: "x".into(),
            endpoint: "https://tok:pw%2Fx@h/v1?api_key=k3y".into(),
            protocol: AgentProtocol::Openai,
            model: None,
            zone: None,
            shadow_endpoint: Some("http://u:sh4dow@h/v1".into()),
            canary: Some("CANARY-c4n4ry".into()),
            session_header: None,
            metrics_url: None,
            retrieval: None,
            stm: None,
            headers: BTreeMap::from([("Authorization".into(), "Bearer s3cr3t".into())]),
        };
        let shown = format!("{agent:?} {agent:#?}");
        for secret in ["s3cr3t", "pw%2Fx", "k3y", "sh4dow", "tok", "c4n4ry"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("Authorization"), "{shown}");
        let b = backend("v", Some("http://h/s?api_key=k3y"), Some("grpc://u:pw@h:1"));
        let shown = format!("{b:?}");
        assert!(!shown.contains("k3y") && !shown.contains("pw@"), "{shown}");
    }
}
