//! A worker that waits for its start: a fanned-out run's coordinator that
//! cannot put the start on the worker's command line (a Kubernetes Job's
//! pods are created before every one of them is scheduled) hands it over
//! HTTP instead, through the API server's pod proxy.
//!
//! [`await_start`] answers, one request per connection:
//! - `GET /clock`: this machine's wall clock, nanoseconds since the Unix
//!   epoch (the coordinator's NTP-style exchange),
//! - `POST /start?at=UNIX_NS`: the common start; the wait ends with it.
//!
//! Requests are bounded (head at most 4 KiB, read within 5 s); the wait is
//! bounded by its timeout and the cancellation token.

use std::time::{Duration, SystemTime};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::ProbeError;

/// The largest request head read.
const MAX_HEAD: usize = 4096;
/// How long one request may take to arrive.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

fn fail(reason: String) -> ProbeError {
    ProbeError::InvalidOption {
        name: "await-start",
        reason,
    }
}

/// Serve `/clock` and wait for `POST /start?at=…` on `listener`, at most
/// `timeout`; the instant it names.
pub async fn await_start(
    listener: TcpListener,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<SystemTime, ProbeError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let conn = tokio::select! {
            c = listener.accept() => c,
            () = cancel.cancelled() => return Err(fail("cancelled before the start".into())),
            () = tokio::time::sleep_until(deadline) => {
                return Err(fail(format!("no start within {timeout:?}")));
            }
        };
        let Ok((stream, _)) = conn else { continue };
        if let Ok(Some(at)) = tokio::time::timeout(READ_TIMEOUT, answer(stream)).await {
            return Ok(at);
        }
    }
}

/// Answer one request; the start, when it was one.
async fn answer(mut stream: TcpStream) -> Option<SystemTime> {
    let mut buf = vec![0u8; MAX_HEAD];
    let mut len = 0;
    let (method, path) = loop {
        let n = stream.read(&mut buf[len..]).await.ok()?;
        if n == 0 {
            return None;
        }
        len += n;
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf[..len]) {
            Ok(httparse::Status::Complete(_)) => {
                break (req.method?.to_string(), req.path?.to_string());
            }
            Ok(httparse::Status::Partial) if len < MAX_HEAD => {}
            _ => {
                reply(&mut stream, "400 Bad Request", "").await;
                return None;
            }
        }
    };
    let now = SystemTime::now();
    let at = path
        .strip_prefix("/start?at=")
        .and_then(|v| v.parse::<u64>().ok());
    match (method.as_str(), path.as_str(), at) {
        ("GET", "/clock", _) => {
            let ns = now
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            reply(&mut stream, "200 OK", &ns.to_string()).await;
            None
        }
        ("POST", _, Some(ns)) => {
            reply(&mut stream, "200 OK", "starting").await;
            Some(SystemTime::UNIX_EPOCH + Duration::from_nanos(ns))
        }
        _ => {
            reply(&mut stream, "404 Not Found", "").await;
            None
        }
    }
}

async fn reply(stream: &mut TcpStream, status: &str, body: &str) {
    let text = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(text.as_bytes()).await;
    let _ = stream.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn send(addr: std::net::SocketAddr, line: &str) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(format!("{line} HTTP/1.1\r\nHost: w\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn answers_the_clock_then_takes_the_start() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let cancel = CancellationToken::new();
        let wait =
            tokio::spawn(async move { await_start(l, Duration::from_secs(30), &cancel).await });
        let clock = send(addr, "GET /clock").await;
        let ns: u128 = clock.rsplit("\r\n\r\n").next().unwrap().parse().unwrap();
        assert!(ns > 1_700_000_000_000_000_000, "{clock}");
        assert!(send(addr, "GET /nothing").await.starts_with("HTTP/1.1 404"));
        assert!(
            send(addr, "POST /start?at=1800000000000000000")
                .await
                .starts_with("HTTP/1.1 200")
        );
        let at = wait.await.unwrap().unwrap();
        assert_eq!(
            at,
            SystemTime::UNIX_EPOCH + Duration::from_nanos(1_800_000_000_000_000_000)
        );
    }

    #[tokio::test]
    async fn no_start_in_time_is_an_error() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let e = await_start(l, Duration::from_millis(50), &CancellationToken::new())
            .await
            .unwrap_err();
        assert!(e.to_string().contains("no start within"), "{e}");
    }
}
