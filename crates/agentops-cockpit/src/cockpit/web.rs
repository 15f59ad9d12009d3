//! `--serve ADDR`: Mission Control over HTTP, read from the monitor's
//! newest snapshot.
//!
//! - `/` the dashboard: one self-contained page (`page.html`, inline CSS
//!   and JS, no CDN, no external font) that polls `/api/v1/fleet` and
//!   builds the fleet table, the TTFT p95 charts and the alert history
//!   with `textContent` only: an agent's name never becomes markup. A
//!   Content-Security-Policy lets it reach nothing but its own origin.
//! - `/metrics` the Prometheus text exposition ([`super::metrics`]).
//! - `/api/v1/fleet` the snapshot's JSON; `/healthz` `ok`.
//!
//! Bounded: loopback unless `--serve-public`; HTTP/1.1 only, request
//! headers at most [`MAX_HEADER_BYTES`] read within [`HEADER_TIMEOUT`],
//! no request body, every answer within [`REQUEST_TIMEOUT`], at most
//! [`MAX_CONNECTIONS`] connections at once; served until cancelled, then
//! open connections get [`SHUTDOWN_GRACE`] to finish.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use cockpit_fleet::FleetSnapshot;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use super::metrics;
use crate::CliError;

/// The dashboard page, compiled in.
const PAGE: &str = include_str!("page.html");

/// Connections served at once; more wait in the kernel's backlog.
pub const MAX_CONNECTIONS: usize = 64;
/// A request's line and headers must arrive within this.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// A request's line and headers together (hyper's read buffer).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Every route answers GET without a body.
pub const MAX_BODY_BYTES: usize = 1024;
/// Longest time to produce an answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// After cancellation, how long open connections may finish.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// The page may load nothing and talk to nothing but its own origin.
const CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                   connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; \
                   frame-ancestors 'none'";

type Snapshots = watch::Receiver<Arc<FleetSnapshot>>;

/// Refuse an address other machines could reach unless `public`.
pub fn check_address(addr: SocketAddr, public: bool) -> Result<(), CliError> {
    if public || addr.ip().to_canonical().is_loopback() {
        return Ok(());
    }
    Err(CliError::Usage(format!(
        "--serve {addr}: not a loopback address: the dashboard and /metrics would be \
         reachable from other machines, without authentication; add --serve-public to allow it, \
         or serve on 127.0.0.1"
    )))
}

/// Serve the dashboard on `addr` until `cancel`. The bound address (a
/// port 0 becomes the one the system chose) is printed on stderr.
pub async fn serve(
    snapshots: Snapshots,
    addr: SocketAddr,
    public: bool,
    cancel: &CancellationToken,
) -> Result<(), CliError> {
    check_address(addr, public)?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| CliError::Listen { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| CliError::Listen { addr, source })?;
    eprintln!(
        "Mission Control dashboard on http://{local}/ (Prometheus exposition at /metrics, JSON at /api/v1/fleet)"
    );
    accept(listener, router(snapshots), cancel).await;
    Ok(())
}

/// The routes, each bounded in body size and time.
pub fn router(snapshots: Snapshots) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/metrics", get(prometheus))
        .route("/api/v1/fleet", get(fleet))
        .route("/healthz", get(|| async { "ok\n" }))
        .with_state(snapshots)
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            REQUEST_TIMEOUT,
        ))
}

/// Accept connections until `cancel`, each served on its own task under
/// the connection bound; then let them finish for [`SHUTDOWN_GRACE`].
async fn accept(listener: TcpListener, router: Router, cancel: &CancellationToken) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut conns = JoinSet::new();
    loop {
        let permit = tokio::select! {
            () = cancel.cancelled() => break,
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
        };
        let stream = tokio::select! {
            () = cancel.cancelled() => break,
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait, not spin.
                    tracing::warn!(error = %e, "dashboard: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let service = TowerToHyperService::new(router.clone());
        let cancel = cancel.clone();
        conns.spawn(async move {
            let _permit = permit;
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_buf_size(MAX_HEADER_BYTES)
                .serve_connection(TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                () = cancel.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(SHUTDOWN_GRACE, conn).await;
                }
            }
        });
        while conns.try_join_next().is_some() {}
    }
    let drained = async { while conns.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, drained).await;
}

fn newest(snapshots: &Snapshots) -> Arc<FleetSnapshot> {
    snapshots.borrow().clone()
}

async fn page() -> Response {
    let mut r = PAGE.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    r
}

async fn prometheus(State(snapshots): State<Snapshots>) -> Response {
    match metrics::exposition(newest(&snapshots)) {
        Ok(text) => ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response(),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot encode the metrics\n",
        )
            .into_response(),
    }
}

async fn fleet(State(snapshots): State<Snapshots>) -> Response {
    match serde_json::to_vec(&*newest(&snapshots)) {
        Ok(body) => (
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            body,
        )
            .into_response(),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot encode the snapshot\n",
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_without_serve_public() {
        for ok in [
            "127.0.0.1:9464",
            "[::1]:9464",
            "127.1.2.3:0",
            "[::ffff:127.0.0.1]:80",
        ] {
            check_address(ok.parse().unwrap(), false).unwrap();
        }
        for public in ["0.0.0.0:9464", "[::]:9464", "192.0.2.1:80"] {
            let e = check_address(public.parse().unwrap(), false).unwrap_err();
            assert_eq!(e.exit_code(), crate::error::code::USAGE);
            assert!(e.to_string().contains("--serve-public"), "{e}");
            check_address(public.parse().unwrap(), true).unwrap();
        }
    }
}
