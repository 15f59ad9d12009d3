//! Probe targets: URL parsing and normalisation.

use cockpit_core::redact_url;

use crate::{ProbeError, Protocol};

/// A parsed probe target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// TLS (`https`, `grpcs`) or cleartext.
    pub tls: bool,
    /// Host for DNS and TLS server name, without IPv6 brackets.
    pub host: String,
    pub port: u16,
    /// `host:port` as sent in `Host` / `:authority`.
    pub authority: String,
    /// Origin-form request target, `/path?query`.
    pub path_and_query: String,
    /// The URL, credentials redacted: safe for reports and messages.
    pub redacted: String,
}

impl Target {
    /// `https` or `http`, for the `:scheme` of HTTP/2 requests.
    pub fn http_scheme(&self) -> &'static str {
        if self.tls { "https" } else { "http" }
    }

    /// The absolute URI of the request (used as-is by HTTP/2).
    pub fn absolute_uri(&self) -> String {
        format!(
            "{}://{}{}",
            self.http_scheme(),
            self.authority,
            self.path_and_query
        )
    }
}

/// Parse `url` for `protocol`.
///
/// `http`/`openai` take `http://` and `https://`; `grpc` takes `grpc://`,
/// `grpcs://` (and `http://`/`https://` as their synonyms). For `openai`, a
/// path ending in `/v1` or `/v1/` gets `/chat/completions` appended, an empty
/// path becomes `/v1/chat/completions`, and any other path (such as one ending
/// in `/chat/completions`) is used as it is.
pub(crate) fn parse_target(url: &str, protocol: Protocol) -> Result<Target, ProbeError> {
    let redacted = redact_url(url.trim());
    let parsed = url::Url::parse(url.trim()).map_err(|e| ProbeError::InvalidUrl {
        url: redacted.clone(),
        reason: e.to_string(),
    })?;
    let scheme = parsed.scheme();
    let tls = match (protocol, scheme) {
        (Protocol::Http | Protocol::OpenAi, "http") => false,
        (Protocol::Http | Protocol::OpenAi, "https") => true,
        (Protocol::Grpc, "grpc" | "http") => false,
        (Protocol::Grpc, "grpcs" | "https") => true,
        _ => {
            return Err(ProbeError::UnsupportedScheme {
                url: redacted,
                scheme: scheme.to_string(),
                expected: match protocol {
                    Protocol::Grpc => "grpc:// or grpcs://",
                    _ => "http:// or https://",
                },
            });
        }
    };
    let host_str =
        parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| ProbeError::InvalidUrl {
                url: redacted.clone(),
                reason: "no host".to_string(),
            })?;
    let host = host_str
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = parsed.port().unwrap_or(if tls { 443 } else { 80 });
    let authority = match parsed.port() {
        Some(p) => format!("{host_str}:{p}"),
        None => host_str.to_string(),
    };
    let mut path = parsed.path().to_string();
    if protocol == Protocol::OpenAi {
        if path.is_empty() || path == "/" {
            path = "/v1/chat/completions".to_string();
        } else if path.ends_with("/v1") {
            path.push_str("/chat/completions");
        } else if path.ends_with("/v1/") {
            path.push_str("chat/completions");
        }
    }
    if path.is_empty() {
        path.push('/');
    }
    let path_and_query = match parsed.query() {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    let redacted = redact_url(&format!(
        "{}://{}{}",
        scheme,
        userinfo_prefix(&parsed) + &authority,
        path_and_query
    ));
    Ok(Target {
        tls,
        host,
        port,
        authority,
        path_and_query,
        redacted,
    })
}

fn userinfo_prefix(u: &url::Url) -> String {
    match (u.username(), u.password()) {
        ("", None) => String::new(),
        (user, Some(_)) => format!("{user}:***@"),
        (user, None) => format!("{user}@"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(url: &str) -> String {
        parse_target(url, Protocol::OpenAi).unwrap().path_and_query
    }

    #[test]
    fn openai_normalisation() {
        assert_eq!(path("http://h:8000/v1"), "/v1/chat/completions");
        assert_eq!(path("http://h:8000/v1/"), "/v1/chat/completions");
        assert_eq!(path("http://h:8000/api/v1"), "/api/v1/chat/completions");
        assert_eq!(
            path("http://h:8000/v1/chat/completions"),
            "/v1/chat/completions"
        );
        assert_eq!(
            path("http://h:8000/x/chat/completions?a=1"),
            "/x/chat/completions?a=1"
        );
        assert_eq!(path("http://h:8000"), "/v1/chat/completions");
        assert_eq!(path("http://h:8000/"), "/v1/chat/completions");
    }

    #[test]
    fn http_paths_are_kept() {
        let t = parse_target("http://h/v1", Protocol::Http).unwrap();
        assert_eq!(t.path_and_query, "/v1");
        let t = parse_target("http://h", Protocol::Http).unwrap();
        assert_eq!(t.path_and_query, "/");
        assert_eq!((t.port, t.tls, t.authority.as_str()), (80, false, "h"));
    }

    #[test]
    fn schemes() {
        let t = parse_target("https://example.com/healthz", Protocol::Http).unwrap();
        assert!(t.tls);
        assert_eq!(t.port, 443);
        assert_eq!(t.absolute_uri(), "https://example.com/healthz");
        let g = parse_target("grpc://127.0.0.1:50051", Protocol::Grpc).unwrap();
        assert!(!g.tls);
        assert_eq!((g.host.as_str(), g.port), ("127.0.0.1", 50051));
        let gs = parse_target("grpcs://agent.internal:443", Protocol::Grpc).unwrap();
        assert!(gs.tls);
        assert!(matches!(
            parse_target("grpc://h:1", Protocol::Http),
            Err(ProbeError::UnsupportedScheme { .. })
        ));
        assert!(matches!(
            parse_target("ftp://h/x", Protocol::OpenAi),
            Err(ProbeError::UnsupportedScheme { .. })
        ));
        assert!(matches!(
            parse_target("not a url", Protocol::Http),
            Err(ProbeError::InvalidUrl { .. })
        ));
    }

    #[test]
    fn ipv6_hosts() {
        let t = parse_target("http://[::1]:8080/x", Protocol::Http).unwrap();
        assert_eq!(t.host, "::1");
        assert_eq!(t.authority, "[::1]:8080");
    }

    #[test]
    fn credentials_are_redacted_in_errors_and_reports() {
        let t = parse_target("https://user:hunter2@h/v1?api_key=abc", Protocol::OpenAi).unwrap();
        assert!(!t.redacted.contains("hunter2"), "{}", t.redacted);
        assert!(!t.redacted.contains("abc"), "{}", t.redacted);
        let e = parse_target("ftp://user:hunter2@h/", Protocol::Http).unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
}
