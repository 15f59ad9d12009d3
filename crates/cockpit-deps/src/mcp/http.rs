//! The Streamable HTTP transport: the SDK's reqwest client, given a reqwest
//! client of ours (rustls on the ring provider, connect and request
//! timeouts, no redirects) and the SDK's read bounds.

use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

use crate::McpServerConfig;

/// The largest JSON answer or SSE event read from a server.
pub const MAX_MESSAGE_BYTES: usize = 4 << 20;

pub(crate) fn transport(
    cfg: &McpServerConfig,
) -> Result<StreamableHttpClientTransport<reqwest::Client>, String> {
    let url = cfg.url.clone().unwrap_or_default();
    let headers: Vec<(String, String)> = (cfg.headers.iter())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let client = crate::http::client(cfg.timeout(), &headers).map_err(|e| e.to_string())?;
    let mut config = StreamableHttpClientTransportConfig::with_uri(url);
    config.max_json_response_size = MAX_MESSAGE_BYTES;
    config.max_sse_event_size = MAX_MESSAGE_BYTES;
    config.max_error_response_size = 64 * 1024;
    Ok(StreamableHttpClientTransport::with_client(client, config))
}
