//! Reading a Prometheus text endpoint and finding its time-to-first-token
//! histogram (vLLM, TGI, and servers that follow their naming).

use std::time::Duration;

use http_body_util::{BodyExt, Full};

use crate::conn::HttpConn;
use crate::http::status_failure;
use crate::options::{HttpVersion, TlsOptions};
use crate::{ErrorKind, ProbeError, ProbeOptions, Protocol};

/// Largest metrics body read.
pub const MAX_METRICS_BYTES: usize = 32 << 20;

/// GET `url` (a Prometheus text exposition) and return its body. One
/// request, no retry; a non-2xx status, a body over [`MAX_METRICS_BYTES`] or
/// a body that is not UTF-8 is an error.
pub async fn fetch_metrics(
    url: &str,
    timeout: Duration,
    tls: &TlsOptions,
) -> Result<String, ProbeError> {
    let target = crate::target::parse_target(url, Protocol::Http)?;
    let opts = ProbeOptions {
        timeout,
        tls: tls.clone(),
        http_version: HttpVersion::Auto,
        ..ProbeOptions::default()
    };
    let ep = crate::endpoint(target, &opts)?;
    let what = ep.target.redacted.clone();
    let fail = |kind: ErrorKind, message: String| ProbeError::Request {
        url: what.clone(),
        kind,
        message,
    };
    let work = async {
        let mut conn = HttpConn::open(&ep.target, ep.tls.as_ref(), ep.version, timeout)
            .await
            .map_err(|f| fail(f.kind, f.message))?;
        conn.ready(timeout, &what)
            .await
            .map_err(|f| fail(f.kind, f.message))?;
        let req = conn
            .request(&ep.target, http::Method::GET)
            .header(http::header::ACCEPT, "text/plain; version=0.0.4")
            .body(Full::default())
            .map_err(|e| fail(ErrorKind::Protocol, e.to_string()))?;
        let resp = conn
            .send(req)
            .await
            .map_err(|e| fail(ErrorKind::Protocol, format!("GET {what} failed: {e}")))?;
        if let Some(f) = status_failure(resp.status(), resp.headers(), &what) {
            return Err(fail(f.kind, f.message));
        }
        let mut body = resp.into_body();
        let mut buf = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame
                .map_err(|e| fail(ErrorKind::StreamCut, format!("reading {what} failed: {e}")))?;
            if let Ok(d) = frame.into_data() {
                if buf.len() + d.len() > MAX_METRICS_BYTES {
                    return Err(fail(
                        ErrorKind::Protocol,
                        format!("{what} is larger than {MAX_METRICS_BYTES} bytes"),
                    ));
                }
                buf.extend_from_slice(&d);
            }
        }
        String::from_utf8(buf)
            .map_err(|_| fail(ErrorKind::Protocol, format!("{what} is not UTF-8 text")))
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(fail(
            ErrorKind::Timeout,
            format!("GET {what} took longer than {timeout:?}"),
        )),
    }
}

fn looks_like_ttft(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.contains("ttft") || n.contains("time_to_first_token") || n.contains("first_token_latency")
}

/// The name of a histogram family in `text` whose name looks like time to
/// first token (`ttft`, `time_to_first_token`, `first_token_latency`): from
/// a `# TYPE name histogram` line, else from `name_bucket` series.
///
/// ```
/// let text = "# HELP vllm:time_to_first_token_seconds TTFT\n\
///             # TYPE vllm:time_to_first_token_seconds histogram\n\
///             vllm:time_to_first_token_seconds_bucket{le=\"0.1\"} 3\n";
/// assert_eq!(
///     cockpit_probe::metrics::find_ttft_histogram(text).as_deref(),
///     Some("vllm:time_to_first_token_seconds")
/// );
/// ```
pub fn find_ttft_histogram(text: &str) -> Option<String> {
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let mut parts = rest.split_whitespace();
        if let (Some(name), Some("histogram")) = (parts.next(), parts.next())
            && looks_like_ttft(name)
        {
            return Some(name.to_string());
        }
    }
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        if let Some(base) = line[..name_end].strip_suffix("_bucket")
            && looks_like_ttft(base)
        {
            return Some(base.to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::find_ttft_histogram;

    #[test]
    fn finds_vllm_and_tgi_names() {
        let vllm = "# TYPE vllm:e2e_request_latency_seconds histogram\n\
                    # TYPE vllm:time_to_first_token_seconds histogram\n";
        assert_eq!(
            find_ttft_histogram(vllm).as_deref(),
            Some("vllm:time_to_first_token_seconds")
        );
        let tgi_untyped = "tgi_request_time_to_first_token_bucket{le=\"0.5\"} 2\n";
        assert_eq!(
            find_ttft_histogram(tgi_untyped).as_deref(),
            Some("tgi_request_time_to_first_token")
        );
        let ttft = "# TYPE agent_ttft_seconds histogram\nagent_ttft_seconds_bucket{le=\"1\"} 1\n";
        assert_eq!(
            find_ttft_histogram(ttft).as_deref(),
            Some("agent_ttft_seconds")
        );
    }

    #[test]
    fn ignores_non_histograms_and_other_names() {
        let text = "# TYPE ttft_seconds gauge\nttft_seconds 0.3\n\
                    # TYPE http_request_duration_seconds histogram\n\
                    http_request_duration_seconds_bucket{le=\"1\"} 4\n";
        assert_eq!(find_ttft_histogram(text), None);
    }
}
