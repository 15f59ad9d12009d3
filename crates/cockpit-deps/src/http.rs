//! The crate's one HTTP client setup (MCP over Streamable HTTP, Chroma,
//! Qdrant): reqwest on rustls with the ring provider and the platform's
//! roots, connect and whole-request timeouts, no redirects, no proxy from
//! the environment; and a body reader that stops at a size bound.

use std::time::Duration;

/// A client whose every request ends within `timeout` and carries
/// `headers` (marked sensitive: never in reqwest's debug output).
pub(crate) fn client(
    timeout: Duration,
    headers: &[(String, String)],
) -> Result<reqwest::Client, String> {
    let mut defaults = reqwest::header::HeaderMap::new();
    for (name, value) in headers {
        let n = reqwest::header::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("`{name}` is not a header name"))?;
        let mut v = reqwest::header::HeaderValue::from_str(value)
            .map_err(|_| format!("the value of header `{name}` is not valid (value not shown)"))?;
        v.set_sensitive(true);
        defaults.insert(n, v);
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(timeout)
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .pool_max_idle_per_host(1)
        .default_headers(defaults)
        .build()
        .map_err(|e| format!("HTTP client: {e}"))
}

/// The body, if it is at most `limit` bytes (announced or read); the rest
/// is never read.
pub(crate) async fn body_bounded(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, String> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(format!("answer over {limit} bytes"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > limit {
            return Err(format!("answer over {limit} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A reqwest error with its causes ("error sending request: … Connection
/// refused"), credentials never included (reqwest strips none: the URL is
/// left out on purpose).
pub(crate) fn error_text(e: &reqwest::Error) -> String {
    let mut out = if e.is_timeout() {
        "no answer within the timeout".to_string()
    } else if e.is_connect() {
        "cannot connect".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
