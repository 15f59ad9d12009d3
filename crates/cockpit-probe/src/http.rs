//! The plain HTTP probe: per-phase timings and time to first byte.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;

use crate::bounds::{Bounds, Progress, Stage};
use crate::conn::{Failure, HttpConn, ReqBody, TlsContext, classify_hyper_error};
use crate::options::HttpVersion;
use crate::report::{ErrorKind, Metric, SampleResult, Stats};
use crate::target::Target;

/// Methods of the HTTP probe's distributions.
pub(crate) fn method_text(name: &str) -> Option<&'static str> {
    Some(match name {
        "dns" => {
            "client-side, tokio lookup_host (getaddrinfo) of the target host, per new connection; near zero for an IP literal"
        }
        "connect" => "client-side, TCP connect (SYN to established), per new connection",
        "tls" => {
            "client-side, TLS handshake (rustls) until the session is established, per new connection"
        }
        "ttfb" => {
            "client-side, from the instant before the request is written to the response head received"
        }
        "ttfb_incl_connect" => {
            "client-side, from before DNS (or, on a reused connection, the request write) to the response head received"
        }
        "e2e" => {
            "client-side, from the instant before the request is written to the last body byte read"
        }
        _ => return None,
    })
}

/// Where and how to connect, shared by the workers of a run.
#[derive(Debug)]
pub(crate) struct Endpoint {
    pub target: Target,
    pub tls: Option<TlsContext>,
    pub version: HttpVersion,
    /// The whole-request bound ([`crate::bounds`]).
    pub timeout: Duration,
    /// The longest wait for a stream's next event.
    pub idle: Duration,
    /// Keep one connection per worker.
    pub reuse: bool,
}

/// Everything one HTTP sample needs, shared by the workers.
#[derive(Debug)]
pub(crate) struct HttpPlan {
    pub endpoint: Endpoint,
    pub method: Method,
    pub body: Bytes,
    pub content_type: Option<HeaderValue>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

/// Get a connection for a sample: the worker's kept one when reuse is on and
/// it is still open, else a new one (whose phases are recorded).
pub(crate) async fn acquire<'a>(
    slot: &'a mut Option<HttpConn>,
    ep: &Endpoint,
    stats: &mut Stats,
    measured: bool,
) -> Result<(&'a mut HttpConn, bool), Failure> {
    let (conn, fresh) = open_or_reuse(slot, ep).await?;
    if fresh {
        if measured {
            stats.record(Metric::Dns, conn.phases.dns);
            stats.record(Metric::Connect, conn.phases.connect);
            if let Some(t) = conn.phases.tls {
                stats.record(Metric::Tls, t);
            }
        }
        stats.negotiated = Some(conn.version_name());
    }
    Ok((conn, fresh))
}

/// The kept connection when reuse is on and it is still open, else a new
/// one; ready for a request. `true` when it is new.
pub(crate) async fn open_or_reuse<'a>(
    slot: &'a mut Option<HttpConn>,
    ep: &Endpoint,
) -> Result<(&'a mut HttpConn, bool), Failure> {
    let keep = ep.reuse && slot.as_ref().is_some_and(HttpConn::is_open);
    if !keep {
        *slot = None;
        let c = HttpConn::open(&ep.target, ep.tls.as_ref(), ep.version, ep.timeout).await?;
        *slot = Some(c);
    }
    let conn = slot.as_mut().expect("set above");
    conn.ready(ep.timeout, &ep.target.redacted).await?;
    Ok((conn, !keep))
}

/// Classify a non-success status; `None` for 2xx.
pub(crate) fn status_failure(
    status: StatusCode,
    headers: &http::HeaderMap,
    what: &str,
) -> Option<Failure> {
    let kind = match status.as_u16() {
        200..=299 => return None,
        300..=399 => {
            let loc = headers
                .get(http::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(cockpit_core::redact_url)
                .unwrap_or_default();
            return Some(Failure::new(
                ErrorKind::Protocol,
                format!("{what} answered {status} (Location: {loc}); redirects are not followed"),
            ));
        }
        400..=499 => ErrorKind::Http4xx,
        500..=599 => ErrorKind::Http5xx,
        _ => ErrorKind::Protocol,
    };
    Some(Failure::new(kind, format!("{what} answered {status}")))
}

/// Send `req` on `conn` and wait for the response head: the one place a
/// failure before the head is classified (a hyper timeout stays a
/// `timeout`, anything else is a `protocol` failure). Its time bound is the
/// request's ([`Bounds::within`]); `progress` is marked as waiting for the
/// head.
pub(crate) async fn response_head(
    conn: &mut HttpConn,
    req: http::Request<ReqBody>,
    progress: &Progress,
    what: &str,
) -> Result<http::Response<Incoming>, Failure> {
    progress.at(Stage::Head);
    conn.send(req).await.map_err(|e| {
        let kind = match classify_hyper_error(&e) {
            ErrorKind::Timeout => ErrorKind::Timeout,
            _ => ErrorKind::Protocol,
        };
        Failure::new(
            kind,
            format!("request to {what} failed before the response head: {e}"),
        )
    })
}

/// A request built for `conn`, or the `protocol` failure saying why not.
pub(crate) fn build(
    b: http::request::Builder,
    headers: &[(HeaderName, HeaderValue)],
    body: Bytes,
    what: &str,
) -> Result<http::Request<ReqBody>, Failure> {
    let mut b = b;
    for (k, v) in headers {
        b = b.header(k, v);
    }
    b.body(Full::new(body)).map_err(|e| {
        Failure::new(
            ErrorKind::Protocol,
            format!("cannot build a request for {what}: {e}"),
        )
    })
}

/// One HTTP sample, within its [`Bounds`].
pub(crate) async fn sample(
    plan: &HttpPlan,
    slot: &mut Option<HttpConn>,
    stats: &mut Stats,
    measured: bool,
) -> SampleResult {
    let ep = &plan.endpoint;
    let bounds = Bounds::starting_now(ep.timeout, ep.idle);
    let progress = Progress::default();
    let r = bounds
        .within(
            &progress,
            &ep.target.redacted,
            sample_inner(plan, slot, stats, measured, &progress),
        )
        .await;
    stats.attempted += 1;
    let r = match r {
        Ok(()) => {
            if measured {
                stats.samples += 1;
            } else {
                stats.warmup_excluded += 1;
            }
            Ok(None)
        }
        Err(f) => {
            *slot = None;
            let kind = f.kind;
            stats.error(kind, || f.message);
            Err(kind)
        }
    };
    if !ep.reuse {
        *slot = None;
    }
    r
}

async fn sample_inner(
    plan: &HttpPlan,
    slot: &mut Option<HttpConn>,
    stats: &mut Stats,
    measured: bool,
    progress: &Progress,
) -> Result<(), Failure> {
    let ep = &plan.endpoint;
    let what = &ep.target.redacted;
    let (conn, fresh) = acquire(slot, ep, stats, measured).await?;
    let conn_start = conn.phases.start;
    let mut b = conn.request(&ep.target, plan.method.clone());
    if let Some(ct) = &plan.content_type {
        b = b.header(http::header::CONTENT_TYPE, ct.clone());
    }
    let req = build(b, &plan.headers, plan.body.clone(), what)?;
    let send_start = Instant::now();
    let resp = response_head(conn, req, progress, what).await?;
    let head_at = Instant::now();
    stats.last_status = Some(crate::load::ResponseStatus::Http(resp.status().as_u16()));
    if let Some(f) = status_failure(resp.status(), resp.headers(), what) {
        return Err(f);
    }
    progress.at(Stage::Body);
    let mut body = resp.into_body();
    while let Some(frame) = body.frame().await {
        if let Err(e) = frame {
            return Err(Failure::new(
                classify_hyper_error(&e),
                format!("reading the body from {what} failed: {e}"),
            ));
        }
    }
    let end = Instant::now();
    if measured {
        stats.record(Metric::Ttfb, head_at - send_start);
        let incl_from = if fresh { conn_start } else { send_start };
        stats.record(Metric::TtfbInclConnect, head_at - incl_from);
        stats.record(Metric::E2e, end - send_start);
    }
    Ok(())
}
